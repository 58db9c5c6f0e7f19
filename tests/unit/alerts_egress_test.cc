// The egress tracker: baseline, address / country / colo / local changes, a
// new DNS address outside the known set, TLS interception appearing and
// going away.
#include <gtest/gtest.h>

#include "alerts/egress_tracker.h"

namespace pathwatch {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

const WallClock::time_point kT0 = WallClock::time_point{} + hours(480000);

DnsAnswer answer(const std::string& resolver, LayerStatus status, const std::string& error,
                 std::vector<std::string> addresses) {
  DnsAnswer a;
  a.resolver = resolver;
  a.status = status;
  a.error = error;
  a.addresses = std::move(addresses);
  return a;
}

RouteResult result(const std::string& provider, const std::string& route, const std::string& ip,
                   const std::string& country, const std::string& colo = "") {
  RouteResult r;
  r.provider = provider;
  r.route = route;
  r.verdict = Verdict::Ok;
  if (!ip.empty() || !country.empty()) r.egress = Egress{ip, country, colo, "provider"};
  return r;
}

TEST(EgressTracker, FirstObservationIsTheBaseline) {
  EgressTracker t;
  RouteResult r = result("openai", "isp-a", "203.0.113.7", "DE", "FRA");
  r.tcp.local_address = "192.0.2.10";
  r.dns.answers = {answer("system", LayerStatus::Ok, "", {"198.18.0.10"})};
  r.tls.issuer = "WE1";
  r.tls.public_root = true;
  EXPECT_TRUE(t.observe(r, kT0).empty());
  EXPECT_TRUE(t.observe(r, kT0 + minutes(1)).empty());
}

TEST(EgressTracker, PublicAddressChangeIsOneRouteEvent) {
  EgressTracker t;
  EXPECT_TRUE(t.observe(result("openai", "isp-a", "203.0.113.7", "DE", "FRA"), kT0).empty());
  EXPECT_TRUE(t.observe(result("anthropic", "isp-a", "203.0.113.7", "DE", "FRA"), kT0).empty());
  auto ev = t.observe(result("openai", "isp-a", "198.51.100.4", "HK", "HKG"), kT0 + minutes(1));
  ASSERT_EQ(ev.size(), 1u);
  const auto& e = ev[0];
  EXPECT_EQ(e.kind, AlertKind::EgressChanged);
  EXPECT_FALSE(e.provider.has_value());  // the address is the route's
  EXPECT_EQ(e.route, "isp-a");
  EXPECT_EQ(e.before["ip"], "203.0.113.7");
  EXPECT_EQ(e.before["country"], "DE");
  EXPECT_EQ(e.after["ip"], "198.51.100.4");
  EXPECT_EQ(e.after["country"], "HK");
  EXPECT_EQ(e.after["colo"], "HKG");
  EXPECT_NE(e.summary.find("203.0.113.7 to 198.51.100.4"), std::string::npos) << e.summary;
  EXPECT_NE(e.summary.find("DE to HK"), std::string::npos) << e.summary;
  // Anthropic sees the same move next: already told, no second event.
  EXPECT_TRUE(t.observe(result("anthropic", "isp-a", "198.51.100.4", "HK", "HKG"),
                        kT0 + minutes(1)).empty());
  // Stable afterwards.
  EXPECT_TRUE(t.observe(result("openai", "isp-a", "198.51.100.4", "HK", "HKG"),
                        kT0 + minutes(2)).empty());
}

TEST(EgressTracker, CountryChangeUnderSameAddressNamesTheProvider) {
  EgressTracker t;
  t.observe(result("openai", "vpn", "203.0.113.7", "DE", "FRA"), kT0);
  auto ev = t.observe(result("openai", "vpn", "203.0.113.7", "HK", "FRA"), kT0 + minutes(1));
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_TRUE(ev[0].provider.has_value());
  EXPECT_EQ(*ev[0].provider, "openai");
  EXPECT_EQ(ev[0].before["country"], "DE");
  EXPECT_EQ(ev[0].after["country"], "HK");
  EXPECT_EQ(ev[0].after["ip"], "203.0.113.7");
  EXPECT_NE(ev[0].summary.find("country changed from DE to HK as OpenAI sees it"),
            std::string::npos)
      << ev[0].summary;
}

TEST(EgressTracker, ColoChangeIsReported) {
  EgressTracker t;
  t.observe(result("openai", "vpn", "203.0.113.7", "DE", "FRA"), kT0);
  auto ev = t.observe(result("openai", "vpn", "203.0.113.7", "DE", "AMS"), kT0 + minutes(1));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].before["colo"], "FRA");
  EXPECT_EQ(ev[0].after["colo"], "AMS");
}

TEST(EgressTracker, AddressFamiliesAreTrackedApart) {
  EgressTracker t;
  t.observe(result("openai", "default", "203.0.113.7", "DE"), kT0);
  EXPECT_TRUE(t.observe(result("gemini", "default", "2001:db8::7", "DE"), kT0).empty());
  EXPECT_TRUE(t.observe(result("openai", "default", "203.0.113.7", "DE"), kT0).empty());
}

TEST(EgressTracker, EchoClientAddressCountsWhenTheEdgeSaysNothing) {
  EgressTracker t;
  RouteResult r = result("openai", "office", "", "");
  r.echo.client_address = "203.0.113.7";
  t.observe(r, kT0);
  r.echo.client_address = "203.0.113.8";
  auto ev = t.observe(r, kT0 + minutes(1));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].after["ip"], "203.0.113.8");
  EXPECT_EQ(ev[0].after["seen_by"], "echo");
}

TEST(EgressTracker, LocalSourceAddressChange) {
  EgressTracker t;
  RouteResult r = result("openai", "second-ip", "", "");
  r.tcp.local_address = "192.0.2.9";
  t.observe(r, kT0);
  r.tcp.local_address = "192.0.2.10";
  auto ev = t.observe(r, kT0 + minutes(1));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].before["local"], "192.0.2.9");
  EXPECT_EQ(ev[0].after["local"], "192.0.2.10");
}

TEST(EgressTracker, NewDnsAddressOutsideKnownSet) {
  EgressTracker t;
  RouteResult r = result("openai", "default", "", "");
  r.dns.answers = {answer("system", LayerStatus::Ok, "", {"198.18.0.10", "198.18.0.11"}),
                   answer("1.1.1.1", LayerStatus::Ok, "", {"198.18.0.11"})};
  EXPECT_TRUE(t.observe(r, kT0).empty());
  // A subset of what is known: nothing.
  r.dns.answers = {answer("system", LayerStatus::Ok, "", {"198.18.0.11"})};
  EXPECT_TRUE(t.observe(r, kT0 + minutes(1)).empty());
  // A failed resolver's (empty) answer is no observation.
  r.dns.answers = {answer("system", LayerStatus::Fail, "timeout", {})};
  EXPECT_TRUE(t.observe(r, kT0 + minutes(2)).empty());
  // Something new: an event naming it, with the known set before.
  r.dns.answers = {answer("system", LayerStatus::Ok, "", {"198.18.0.10", "10.0.0.1"})};
  auto ev = t.observe(r, kT0 + minutes(3));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(*ev[0].provider, "openai");
  EXPECT_EQ(ev[0].before["addresses"], (nlohmann::json{"198.18.0.10", "198.18.0.11"}));
  EXPECT_EQ(ev[0].after["new"], (nlohmann::json{"10.0.0.1"}));
  EXPECT_NE(ev[0].summary.find("10.0.0.1"), std::string::npos);
  // Now known: seen again, no event.
  EXPECT_TRUE(t.observe(r, kT0 + minutes(4)).empty());
}

TEST(EgressTracker, DnsKnownSetIsBounded) {
  EgressTracker t(4);
  RouteResult r = result("openai", "default", "", "");
  for (int i = 0; i < 10; ++i) {
    r.dns.answers = {answer("system", LayerStatus::Ok, "", {"198.18.0." + std::to_string(i)})};
    auto ev = t.observe(r, kT0 + minutes(i));
    EXPECT_EQ(ev.size(), i == 0 ? 0u : 1u);
    if (i > 0) {
      EXPECT_LE(ev[0].before["addresses"].size(), 4u);
    }
  }
}

TEST(EgressTracker, TlsInterceptionAppearsAndGoesAway) {
  EgressTracker t;
  RouteResult r = result("anthropic", "office", "", "");
  r.tls.issuer = "WE1";
  r.tls.public_root = true;
  EXPECT_TRUE(t.observe(r, kT0).empty());
  r.tls.issuer = "Corp Inspection CA";
  r.tls.public_root = false;
  auto ev = t.observe(r, kT0 + minutes(1));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].cause, Cause::Middlebox);
  EXPECT_EQ(ev[0].before, (nlohmann::json{{"issuer", "WE1"}, {"public_root", true}}));
  EXPECT_EQ(ev[0].after,
            (nlohmann::json{{"issuer", "Corp Inspection CA"}, {"public_root", false}}));
  EXPECT_NE(ev[0].summary.find("now intercepted"), std::string::npos) << ev[0].summary;
  EXPECT_TRUE(t.observe(r, kT0 + minutes(2)).empty());

  r.tls.issuer = "WE1";
  r.tls.public_root = true;
  ev = t.observe(r, kT0 + minutes(3));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].cause, Cause::None);
  EXPECT_NE(ev[0].summary.find("no longer intercepted"), std::string::npos) << ev[0].summary;
}

TEST(EgressTracker, IssuerRotationUnderPublicRootIsQuiet) {
  EgressTracker t;
  RouteResult r = result("openai", "default", "", "");
  r.tls.issuer = "R10";
  r.tls.public_root = true;
  t.observe(r, kT0);
  r.tls.issuer = "R11";
  EXPECT_TRUE(t.observe(r, kT0 + minutes(1)).empty());
}

TEST(EgressTracker, IssuerChangeWithoutPublicRootKnowledge) {
  EgressTracker t;
  RouteResult r = result("openai", "default", "", "");
  r.tls.issuer = "R10";
  t.observe(r, kT0);
  r.tls.issuer = "Corp CA";
  auto ev = t.observe(r, kT0 + minutes(1));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].after["issuer"], "Corp CA");
  EXPECT_TRUE(ev[0].after["public_root"].is_null());
}

TEST(EgressTracker, FailedHandshakeIsNoObservation) {
  EgressTracker t;
  RouteResult r = result("openai", "default", "", "");
  r.tls.issuer = "WE1";
  r.tls.public_root = true;
  t.observe(r, kT0);
  r.tls = TlsLayer{};  // connect failed this time
  EXPECT_TRUE(t.observe(r, kT0 + minutes(1)).empty());
  r.tls.issuer = "WE1";
  r.tls.public_root = true;
  EXPECT_TRUE(t.observe(r, kT0 + minutes(2)).empty());
}

TEST(EgressTracker, RoutesAreIndependentAndRetainForgets) {
  EgressTracker t;
  t.observe(result("openai", "a", "203.0.113.7", "DE"), kT0);
  EXPECT_TRUE(t.observe(result("openai", "b", "203.0.113.8", "US"), kT0).empty());
  t.retain({"b"}, {{"b", "openai"}});
  // Route a forgotten: its next observation is a fresh baseline.
  EXPECT_TRUE(t.observe(result("openai", "a", "203.0.113.99", "FR"), kT0 + minutes(1)).empty());
}

}  // namespace
}  // namespace pathwatch
