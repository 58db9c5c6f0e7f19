// The DNS layer against loopback fake resolvers on port 0: one c-ares channel
// per resolver on a real libuv loop.
#include "dns_probe.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "integration/support/engine_loop.h"
#include "integration/support/fake_dns.h"
#include "loop/uv_ares.h"

namespace pathwatch {
namespace {

using testing::FakeDns;
using testing::TestLoop;

ResolverConfig resolverFor(const FakeDns& dns) {
  ResolverConfig r;
  r.spec = dns.spec();
  r.address = "127.0.0.1";
  r.port = dns.port();
  return r;
}

RouteConfig namedRoute(const std::string& name, RouteKind kind = RouteKind::Default,
                       const std::string& value = "") {
  RouteConfig r;
  r.name = name;
  r.kind = kind;
  if (kind == RouteKind::Interface) r.interface = value;
  if (kind == RouteKind::SourceIp) r.source_ip = value;
  return r;
}

class DnsProbeTest : public ::testing::Test {
 protected:
  // Runs a probe of `host` against the given servers and returns the layer.
  std::optional<DnsLayer> run(const std::vector<FakeDns*>& servers, const std::string& host,
                              bool builtin, Millis budget = std::chrono::milliseconds(1500),
                              std::vector<CidrRange> allowed = {}) {
    std::vector<std::unique_ptr<AresChannel>> channels;
    std::vector<DnsTarget> targets;
    for (auto* s : servers) {
      std::string err;
      auto ch = AresChannel::create(loop.get(), resolverFor(*s), route, budget, &err);
      EXPECT_TRUE(ch) << err;
      if (!ch) return std::nullopt;
      targets.push_back(DnsTarget{s->spec(), ch.get(), ""});
      channels.push_back(std::move(ch));
    }
    DnsProbeOptions opts;
    opts.host = host;
    opts.flag_bogons = builtin;
    opts.allowed = std::move(allowed);
    opts.budget = budget;
    std::optional<DnsLayer> out;
    auto probe = std::make_unique<DnsProbe>(loop.get(), targets, opts,
                                            [&out](DnsLayer l) { out = std::move(l); });
    EXPECT_FALSE(out) << "completed synchronously";
    loop.runUntil([&] { return out.has_value(); }, 10000);
    probe.reset();
    channels.clear();
    loop.drain();
    return out;
  }

  TestLoop loop;
  RouteConfig route = namedRoute("default");
};

TEST_F(DnsProbeTest, AnswersAAndAaaaFromOneResolver) {
  FakeDns dns(loop.get());
  dns.set("api.example.test", {{"198.51.100.7", "198.51.100.8"}, {"2001:db8::7"}, 0, false});
  auto layer = run({&dns}, "api.example.test", true);
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Ok);
  ASSERT_EQ(layer->answers.size(), 1u);
  EXPECT_EQ(layer->answers[0].resolver, dns.spec());
  EXPECT_EQ(layer->addresses,
            (std::vector<std::string>{"198.51.100.7", "198.51.100.8", "2001:db8::7"}));
  EXPECT_FALSE(layer->resolvers_disagree);
  EXPECT_GE(dns.queries(), 2);
}

struct ErrorCase {
  const char* name;
  FakeDns::Record record;
  const char* error;
};

// gtest would print the raw bytes (padding included) otherwise.
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class DnsErrorTest : public DnsProbeTest, public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(DnsErrorTest, RcodeBecomesFixedError) {
  FakeDns dns(loop.get());
  dns.set("api.example.test", GetParam().record);
  auto layer = run({&dns}, "api.example.test", true, std::chrono::milliseconds(600));
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Fail);
  EXPECT_EQ(layer->error, GetParam().error);
  ASSERT_EQ(layer->answers.size(), 1u);
  EXPECT_EQ(layer->answers[0].status, LayerStatus::Fail);
  EXPECT_EQ(layer->answers[0].error, GetParam().error);
  EXPECT_TRUE(layer->addresses.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Rcodes, DnsErrorTest,
    ::testing::Values(ErrorCase{"nxdomain", {{}, {}, 3, false}, "nxdomain"},
                      ErrorCase{"servfail", {{}, {}, 2, false}, "servfail"},
                      ErrorCase{"refused", {{}, {}, 5, false}, "refused"},
                      ErrorCase{"nodata", {{}, {}, 0, false}, "nodata"},
                      ErrorCase{"timeout", {{}, {}, 0, true}, "timeout"}),
    [](const ::testing::TestParamInfo<ErrorCase>& p) { return std::string(p.param.name); });

TEST_F(DnsProbeTest, SilentResolverTimesOutWithinTheBudget) {
  FakeDns dead(loop.get());
  dead.setDefault({{}, {}, 0, true});
  const uint64_t start = uv_hrtime();
  auto layer = run({&dead}, "api.example.test", true, std::chrono::milliseconds(500));
  const double elapsed_ms = static_cast<double>(uv_hrtime() - start) / 1e6;
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->error, "timeout");
  // Bounded by the budget plus the backstop margin, generously (not a benchmark).
  EXPECT_LT(elapsed_ms, 3000.0);
  EXPECT_GE(dead.queries(), 2);
}

TEST_F(DnsProbeTest, ResolversComparedAndFirstSuccessfulWins) {
  FakeDns broken(loop.get()), honest(loop.get()), geo(loop.get());
  broken.set("api.example.test", {{}, {}, 2, false});
  honest.set("api.example.test", {{"198.51.100.7"}, {}, 0, false});
  geo.set("api.example.test", {{"203.0.113.9"}, {}, 0, false});
  auto layer = run({&broken, &honest, &geo}, "api.example.test", true);
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Ok);
  ASSERT_EQ(layer->answers.size(), 3u);
  EXPECT_EQ(layer->answers[0].error, "servfail");
  EXPECT_EQ(layer->answers[1].addresses, std::vector<std::string>{"198.51.100.7"});
  EXPECT_EQ(layer->addresses, std::vector<std::string>{"198.51.100.7"});
  EXPECT_TRUE(layer->resolvers_disagree);
}

TEST_F(DnsProbeTest, SameSetInAnotherOrderIsAgreement) {
  FakeDns a(loop.get()), b(loop.get());
  a.set("h.test", {{"198.51.100.1", "198.51.100.2"}, {}, 0, false});
  b.set("h.test", {{"198.51.100.2", "198.51.100.1"}, {}, 0, false});
  auto layer = run({&a, &b}, "h.test", true);
  ASSERT_TRUE(layer);
  EXPECT_FALSE(layer->resolvers_disagree);
}

TEST_F(DnsProbeTest, BogonsFlaggedForBuiltinOnly) {
  FakeDns dns(loop.get());
  dns.set("api.openai.com", {{"198.18.0.5", "104.18.7.192"}, {"::1"}, 0, false});
  auto builtin = run({&dns}, "api.openai.com", true);
  ASSERT_TRUE(builtin);
  EXPECT_EQ(builtin->answers[0].bogons, (std::vector<std::string>{"198.18.0.5", "::1"}));
  auto custom = run({&dns}, "api.openai.com", false);
  ASSERT_TRUE(custom);
  EXPECT_TRUE(custom->answers[0].bogons.empty());
  EXPECT_EQ(custom->status, LayerStatus::Ok);
}

TEST_F(DnsProbeTest, AllowedRangesAreNotBogons) {
  FakeDns dns(loop.get());
  dns.set("api.openai.com", {{"198.18.0.5"}, {}, 0, false});
  CidrRange lab;
  lab.text = "198.18.0.0/15";
  lab.bytes[0] = 198;
  lab.bytes[1] = 18;
  lab.prefix = 15;
  auto layer = run({&dns}, "api.openai.com", true, std::chrono::milliseconds(1500), {lab});
  ASSERT_TRUE(layer);
  EXPECT_TRUE(layer->answers[0].bogons.empty());
}

TEST_F(DnsProbeTest, RefusedDeviceBindingFailsLoudly) {
  FakeDns dns(loop.get());
  dns.set("h.test", {{"198.51.100.1"}, {}, 0, false});
  route = namedRoute("vpn", RouteKind::Interface, "pw-nonexist0");
  auto layer = run({&dns}, "h.test", true, std::chrono::milliseconds(600));
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Fail);
  EXPECT_EQ(layer->answers[0].error, "no_such_device");
  EXPECT_EQ(dns.queries(), 0) << "a query left without its route binding";
}

TEST_F(DnsProbeTest, SourceRouteUsesItsAddress) {
  FakeDns dns(loop.get());
  dns.set("h.test", {{"198.51.100.1"}, {}, 0, false});
  route = namedRoute("second-ip", RouteKind::SourceIp, "127.0.0.1");
  auto layer = run({&dns}, "h.test", true);
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->status, LayerStatus::Ok);
}

TEST_F(DnsProbeTest, DestroyedProbeNeverCallsBack) {
  FakeDns dead(loop.get());
  dead.setDefault({{}, {}, 0, true});
  std::string err;
  auto ch = AresChannel::create(loop.get(), resolverFor(dead), route, std::chrono::seconds(2), &err);
  ASSERT_TRUE(ch);
  bool called = false;
  DnsProbeOptions opts;
  opts.host = "h.test";
  auto probe = std::make_unique<DnsProbe>(loop.get(), std::vector<DnsTarget>{{"x", ch.get(), ""}},
                                          opts, [&](DnsLayer) { called = true; });
  loop.runUntil([&] { return dead.queries() >= 2; }, 5000);
  probe.reset();
  ch.reset();  // ares_destroy with queries pending: ARES_EDESTRUCTION is swallowed
  loop.drain();
  EXPECT_FALSE(called);
}

TEST(SummarizeDns, FailureTakesTheFirstResolversError) {
  DnsAnswer a, b;
  a.resolver = "system";
  a.status = LayerStatus::Fail;
  a.error = "nxdomain";
  b.resolver = "192.0.2.53";
  b.status = LayerStatus::Fail;
  b.error = "timeout";
  auto layer = summarizeDns({a, b});
  EXPECT_EQ(layer.status, LayerStatus::Fail);
  EXPECT_EQ(layer.error, "nxdomain");
}

}  // namespace
}  // namespace pathwatch
