// diagnoseProvider: routes as each other's control vantage point.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "answers/fixtures.h"
#include "pathwatch/classify.h"
#include "pathwatch/host.h"

namespace pathwatch {
namespace {

using namespace fixtures;

RouteResult classified(const char* provider, const std::string& route, int code, HeaderList headers,
                       std::string body, bool key_sent = true) {
  const ProviderSpec& s = spec(provider);
  RouteResult r = healthyRoute(s, key_sent, route);
  r.http.code = code;
  r.http.headers = std::move(headers);
  r.http.body = std::move(body);
  classifyRoute(s, r);
  return r;
}

const char* kRegion =
    R"({"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}})";
const char* kModels = R"({"object":"list","data":[{"id":"gpt-4o","object":"model"}]})";
const char* kAnthropicInvalid =
    R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011CVa"})";
const char* kQuota =
    R"({"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})";

std::string why(const Diagnosis& d) {
  return std::string(toString(d.verdict)) + ": " + d.summary;
}

TEST(Diagnose, RegionOnOneRouteWhileAnotherWorksIsRegionBlockedNamingTheWorkingRoute) {
  RouteResult blocked = classified("openai", "default", 403, openaiHeaders(), kRegion);
  blocked.egress = Egress{"198.18.1.2", "HK", "HKG", "openai"};
  RouteResult vpn = classified("openai", "vpn", 200, openaiHeaders(), kModels);
  ASSERT_EQ(blocked.verdict, Verdict::RegionBlocked);
  ASSERT_EQ(vpn.verdict, Verdict::Ok);
  const Diagnosis d = diagnoseProvider(spec("openai"), {blocked, vpn});
  EXPECT_EQ(d.verdict, Verdict::RegionBlocked) << why(d);
  EXPECT_EQ(d.cause, Cause::Region);
  EXPECT_EQ(d.working_routes, std::vector<std::string>{"vpn"});
  EXPECT_EQ(d.summary,
            "OpenAI refuses route default (egress 198.18.1.2, HK) by region; route vpn works: send OpenAI traffic "
            "through vpn.");
}

TEST(Diagnose, SameRejectionOnEveryRouteIsTheKey) {
  RouteResult a = classified("anthropic", "default", 401, anthropicHeaders(), kAnthropicInvalid);
  RouteResult b = classified("anthropic", "vpn", 401, anthropicHeaders(), kAnthropicInvalid);
  const Diagnosis d = diagnoseProvider(spec("anthropic"), {a, b});
  EXPECT_EQ(d.verdict, Verdict::AuthFailed) << why(d);
  EXPECT_EQ(d.cause, Cause::Key);
  EXPECT_TRUE(d.working_routes.empty());
  EXPECT_NE(d.summary.find("every route"), std::string::npos) << d.summary;
  EXPECT_NE(d.summary.find("invalid x-api-key"), std::string::npos) << d.summary;
  EXPECT_NE(d.summary.find(a.key.fingerprint), std::string::npos) << d.summary;
  EXPECT_NE(d.summary.find("replace the key; the path is fine"), std::string::npos) << d.summary;
}

TEST(Diagnose, QuotaSaysRetryingWillNotHelp) {
  RouteResult a = classified("openai", "default", 429, openaiHeaders(), kQuota);
  const Diagnosis d = diagnoseProvider(spec("openai"), {a});
  EXPECT_EQ(d.verdict, Verdict::QuotaExhausted) << why(d);
  EXPECT_EQ(d.cause, Cause::Account);
  EXPECT_EQ(d.summary,
            "OpenAI's quota is spent (insufficient_quota) on route default: add credits or raise the spend limit; "
            "retrying will not help.");
}

TEST(Diagnose, AllOkIsOk) {
  RouteResult a = classified("openai", "default", 200, openaiHeaders(), kModels);
  RouteResult b = classified("openai", "vpn", 200, openaiHeaders(), kModels);
  const Diagnosis d = diagnoseProvider(spec("openai"), {a, b});
  EXPECT_EQ(d.verdict, Verdict::Ok) << why(d);
  EXPECT_EQ(d.cause, Cause::None);
  EXPECT_EQ(d.working_routes, (std::vector<std::string>{"default", "vpn"}));
}

TEST(Diagnose, NetworkFailureOnOneRouteNamesTheWorkingOne) {
  RouteResult down = healthyRoute(spec("gemini"), true, "isp-b");
  down.tcp.status = LayerStatus::Fail;
  down.tcp.error = "timeout";
  down.tls = {};
  down.http = {};
  classifyRoute(spec("gemini"), down);
  RouteResult fine = classified("gemini", "isp-a", 200, geminiHeaders(), R"({"models":[]})");
  const Diagnosis d = diagnoseProvider(spec("gemini"), {down, fine});
  EXPECT_EQ(d.verdict, Verdict::ConnectFailed) << why(d);
  EXPECT_EQ(d.cause, Cause::Network);
  EXPECT_EQ(d.working_routes, std::vector<std::string>{"isp-a"});
  EXPECT_NE(d.summary.find("route isp-b"), std::string::npos) << d.summary;
  EXPECT_NE(d.summary.find("through isp-a"), std::string::npos) << d.summary;
}

TEST(Diagnose, MixedPicksTheMostActionable) {
  // A key rejected on one route beats a region refusal elsewhere: no route can work until the key is fixed.
  RouteResult region = classified("openai", "default", 403, openaiHeaders(), kRegion);
  RouteResult rejected = classified(
      "openai", "vpn", 401, openaiHeaders(),
      R"({"error":{"message":"Incorrect API key provided: sk-proj-****MxYA.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})");
  const Diagnosis d = diagnoseProvider(spec("openai"), {region, rejected});
  EXPECT_EQ(d.verdict, Verdict::AuthFailed) << why(d);
  EXPECT_NE(d.summary.find("route vpn"), std::string::npos) << d.summary;

  // A transient rate limit loses to a standing path problem.
  RouteResult limited = classified(
      "openai", "vpn", 429, with(openaiHeaders(), {{"retry-after", "3"}}),
      R"({"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}})");
  const Diagnosis d2 = diagnoseProvider(spec("openai"), {region, limited});
  EXPECT_EQ(d2.verdict, Verdict::RegionBlocked) << why(d2);
  EXPECT_NE(d2.summary.find("route vpn reaches OpenAI but gets rate_limited"), std::string::npos) << d2.summary;
}

TEST(Diagnose, KeyMissingIsReportedOnce) {
  RouteResult r = healthyRoute(spec("openai"), false);
  r.key.status = LayerStatus::Fail;
  r.key.error = "key_missing";
  r.key.source = "env:OPENAI_API_KEY";
  classifyRoute(spec("openai"), r);
  const Diagnosis d = diagnoseProvider(spec("openai"), {r});
  EXPECT_EQ(d.verdict, Verdict::KeyMissing) << why(d);
  EXPECT_EQ(d.cause, Cause::Key);
  EXPECT_NE(d.summary.find("env:OPENAI_API_KEY"), std::string::npos) << d.summary;
}

TEST(Diagnose, NoRoutesIsUnexpected) {
  const Diagnosis d = diagnoseProvider(spec("openai"), {});
  EXPECT_EQ(d.verdict, Verdict::Unexpected);
  EXPECT_FALSE(d.summary.empty());
}

// ---------------------------------------------------------------- IPv6, MTU, the host's clock

// The name has both families; IPv4 carried the request; IPv6 failed with `v6_error`.
RouteResult brokenIpv6(const std::string& route, const std::string& v6_error = "timeout") {
  RouteResult r = healthyRoute(spec("openai"), true, route);
  r.http.code = 200;
  r.http.headers = openaiHeaders();
  r.http.body = kModels;
  r.dns.answers[0].addresses = {"198.18.0.10", "fd00:18::10"};
  r.dns.addresses = r.dns.answers[0].addresses;
  r.tcp.ipv6_route = "ok";
  r.tcp.attempts = {TcpAttempt{"198.18.0.10:443", LayerStatus::Ok, "", 3.0, "ipv4"},
                    TcpAttempt{"[fd00:18::10]:443", LayerStatus::Fail, v6_error, 1500.0, "ipv6"}};
  classifyRoute(spec("openai"), r);
  return r;
}

TEST(Diagnose, BrokenIpv6SaysWhatClientsSeeAndWhatToDo) {
  RouteResult broken = brokenIpv6("default");
  ASSERT_EQ(broken.verdict, Verdict::Ipv6Broken);
  RouteResult vpn = classified("openai", "vpn", 200, openaiHeaders(), kModels);
  const Diagnosis d = diagnoseProvider(spec("openai"), {broken, vpn});
  EXPECT_EQ(d.verdict, Verdict::Ipv6Broken) << why(d);
  EXPECT_EQ(d.cause, Cause::Network);
  EXPECT_EQ(d.working_routes, std::vector<std::string>{"vpn"});
  EXPECT_EQ(d.summary,
            "IPv6 to api.openai.com fails on route default (timeout) while IPv4 works: clients that try IPv6 first "
            "stall for their connect timeout or fail; fix IPv6 on that route, or make this host prefer IPv4 "
            "(/etc/gai.conf: precedence ::ffff:0:0/96 100); route vpn works: send OpenAI traffic through vpn.");
}

TEST(Diagnose, BrokenIpv6RanksAfterPathFailuresAndBeforeTransientStates) {
  RouteResult broken = brokenIpv6("a", "connection_refused");
  RouteResult down = healthyRoute(spec("openai"), true, "b");
  down.tcp.status = LayerStatus::Fail;
  down.tcp.error = "timeout";
  down.tls = {};
  down.http = {};
  classifyRoute(spec("openai"), down);
  EXPECT_EQ(diagnoseProvider(spec("openai"), {broken, down}).verdict, Verdict::ConnectFailed);
  RouteResult limited = classified(
      "openai", "c", 429, with(openaiHeaders(), {{"retry-after", "3"}}),
      R"({"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}})");
  const Diagnosis d = diagnoseProvider(spec("openai"), {broken, limited});
  EXPECT_EQ(d.verdict, Verdict::Ipv6Broken) << why(d);
  EXPECT_NE(d.summary.find("(connection_refused)"), std::string::npos) << d.summary;
  EXPECT_NE(d.summary.find("route c reaches OpenAI but gets rate_limited"), std::string::npos) << d.summary;
}

TEST(Diagnose, StalledHandshakeWithAWorkingSmallMssNamesTheMtuCure) {
  RouteResult mtu = healthyRoute(spec("discord"), true, "iface-b");
  mtu.tls.status = LayerStatus::Fail;
  mtu.tls.error = "timeout";
  mtu.tls.small_mss = "works";
  mtu.http = {};
  classifyRoute(spec("discord"), mtu);
  ASSERT_EQ(mtu.verdict, Verdict::TlsFailed);
  RouteResult fine = classified("discord", "default", 200, discordHeaders(), R"({"url":"wss://gateway.discord.gg"})");
  const Diagnosis d = diagnoseProvider(spec("discord"), {mtu, fine});
  EXPECT_EQ(d.verdict, Verdict::TlsFailed) << why(d);
  EXPECT_EQ(d.cause, Cause::Network);
  EXPECT_NE(d.summary.find("route iface-b"), std::string::npos) << d.summary;
  EXPECT_NE(d.summary.find("path MTU black hole"), std::string::npos) << d.summary;
  EXPECT_NE(d.summary.find("TCPMSS --clamp-mss-to-pmtu"), std::string::npos) << d.summary;
  EXPECT_NE(d.summary.find("lower the MTU"), std::string::npos) << d.summary;
  EXPECT_NE(d.summary.find("route default works"), std::string::npos) << d.summary;

  RouteResult silent = mtu;
  silent.tls.small_mss = "fails";
  classifyRoute(spec("discord"), silent);
  const Diagnosis d2 = diagnoseProvider(spec("discord"), {silent, fine});
  EXPECT_EQ(d2.verdict, Verdict::TlsFailed) << why(d2);
  EXPECT_EQ(d2.summary.find("MTU"), std::string::npos) << d2.summary;
}

HostReport clockOff(double offset_s) {
  HostReport h;
  h.clock_offset_s = offset_s;
  h.clock_samples = 3;
  return h;
}

RouteResult refusedOnTime(const std::string& route, const char* error) {
  RouteResult r = healthyRoute(spec("openai"), true, route);
  r.tls.status = LayerStatus::Fail;
  r.tls.error = error;
  r.tls.public_root.reset();
  r.tls.ca_file_ok = false;
  r.http = {};
  classifyRoute(spec("openai"), r);
  return r;
}

TEST(Diagnose, CertificatesRefusedOnTimeWithTheClockOffAreTheHost) {
  RouteResult a = refusedOnTime("default", "tls_not_yet_valid");
  RouteResult b = refusedOnTime("vpn", "tls_not_yet_valid");
  ASSERT_EQ(a.verdict, Verdict::TlsFailed);
  const Diagnosis d = diagnoseProvider(spec("openai"), {a, b}, clockOff(-7380));
  EXPECT_EQ(d.verdict, Verdict::TlsFailed) << "the verdict stays what TLS saw";
  EXPECT_EQ(d.cause, Cause::Host);
  EXPECT_EQ(d.summary,
            "TLS to api.openai.com fails on every route (tls_not_yet_valid) because this machine's clock is 2 h 3 min "
            "behind: fix time sync (timedatectl, NTP), then check again.");

  // Without a Date, certificates of two unrelated servers out of their time.
  HostReport certs;
  certs.tls_time_servers = {"CN=api.openai.com until 2027-01-01T00:00:00Z", "CN=discord.com until 2027-03-01T00:00:00Z"};
  const Diagnosis d2 = diagnoseProvider(spec("openai"), {a}, certs);
  EXPECT_EQ(d2.cause, Cause::Host) << d2.summary;
  EXPECT_NE(d2.summary.find("this machine's clock looks wrong"), std::string::npos) << d2.summary;
}

TEST(Diagnose, AnExpiredCertificateWithARightClockIsTheServers) {
  RouteResult a = refusedOnTime("default", "tls_expired");
  const Diagnosis d = diagnoseProvider(spec("openai"), {a}, clockOff(0.4));
  EXPECT_EQ(d.cause, Cause::Network) << d.summary;
  EXPECT_EQ(d.summary.find("clock is"), std::string::npos) << d.summary;
  EXPECT_EQ(diagnoseProvider(spec("openai"), {a}).cause, Cause::Network);
}

TEST(Diagnose, AClockOffWhileEverythingWorksIsStillTheHosts) {
  RouteResult ok = classified("openai", "default", 200, openaiHeaders(), kModels);
  const Diagnosis d = diagnoseProvider(spec("openai"), {ok}, clockOff(7200));
  EXPECT_EQ(d.verdict, Verdict::Ok) << why(d);
  EXPECT_EQ(d.cause, Cause::Host);
  EXPECT_EQ(d.working_routes, std::vector<std::string>{"default"});
  EXPECT_EQ(d.summary,
            "OpenAI answers as expected on route default, but this machine's clock is 2 h ahead: fix time sync "
            "(timedatectl, NTP).");
  EXPECT_EQ(diagnoseProvider(spec("openai"), {ok}, clockOff(12)).cause, Cause::None);
}

TEST(Diagnose, AClockOffBesideAnotherProblemIsNamedToo) {
  RouteResult region = classified("openai", "default", 403, openaiHeaders(), kRegion);
  const Diagnosis d = diagnoseProvider(spec("openai"), {region}, clockOff(-900));
  EXPECT_EQ(d.verdict, Verdict::RegionBlocked);
  EXPECT_EQ(d.cause, Cause::Region) << "the refusal is the region's, whatever the clock";
  EXPECT_NE(d.summary.find("; also, this machine's clock is 15 min behind: fix time sync."), std::string::npos)
      << d.summary;
  EXPECT_EQ(d.summary.find(". "), std::string::npos) << "one sentence: " << d.summary;
}

// Every verdict gets one sentence that never carries the key.
TEST(Diagnose, EverySummaryIsOneSentenceWithoutTheKey) {
  for (std::string_view name :
       {"ok", "key_missing", "key_malformed", "auth_failed", "permission_denied", "quota_exhausted", "rate_limited",
        "region_blocked", "middlebox_blocked", "headers_rewritten", "tls_intercepted", "dns_failed", "dns_tampered",
        "connect_failed", "tls_failed", "http_failed", "proxy_failed", "provider_error", "unexpected",
        "ipv6_broken"}) {
    for (bool with_working_route : {false, true}) {
      RouteResult r = healthyRoute(spec("openai"), true, "default");
      r.verdict = *verdictFromString(name);
      r.http.code = 403;
      r.http.message = "Incorrect API key provided: " + kOpenAIKey;  // hostile: must not reach the summary
      std::vector<RouteResult> routes{r};
      if (with_working_route) {
        RouteResult ok = healthyRoute(spec("openai"), true, "vpn");
        ok.verdict = Verdict::Ok;
        routes.push_back(ok);
      }
      const Diagnosis d = diagnoseProvider(spec("openai"), routes);
      SCOPED_TRACE(std::string(name) + ": " + d.summary);
      EXPECT_FALSE(d.summary.empty());
      EXPECT_EQ(d.summary.back(), '.');
      EXPECT_EQ(d.summary.find(". "), std::string::npos) << "one sentence";
      EXPECT_EQ(d.summary.find(kOpenAIKey), std::string::npos);
      EXPECT_EQ(d.summary.find(kOpenAIKey.substr(8, 20)), std::string::npos);
      EXPECT_EQ(d.cause, causeOf(d.verdict));
      if (with_working_route && name != "ok") {
        EXPECT_EQ(d.working_routes, std::vector<std::string>{"vpn"});
      }
    }
  }
}

}  // namespace
}  // namespace pathwatch
