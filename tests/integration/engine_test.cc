// The engine end to end on a real loop: fake DNS and a fake provider on
// loopback, every layer in order, verdicts from classifyRoute, the
// concurrency cap, cancellation, and a whole check.
#include "providers/provider_def.h"
#include "pathwatch/engine.h"
#include "pathwatch/report.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <regex>

#include "pathwatch/check.h"
#include "echo/echo_server.h"
#include "integration/support/engine_fake_http.h"
#include "integration/support/engine_loop.h"
#include "integration/support/fake_dns.h"
#include "pathwatch/config.h"
#include "pathwatch/key.h"

namespace pathwatch {
namespace {

using testing::EngineFakeHttp;
using testing::FakeDns;
using testing::TestLoop;

const char* kHost = "api.pathwatch.test";

// OpenAI's own "no key" answer (docs/providers.md): envelope and x-request-id.
EngineFakeHttp::Response openAiNoKey() {
  return {401,
          {{"Content-Type", "application/json"}, {"x-request-id", "req_3f1c9a7d2b"}},
          R"({"error":{"message":"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).","type":"invalid_request_error","param":null,"code":null}})"};
}

std::string providerJson(const std::string& name, const std::string& base_url) {
  return R"({"name": ")" + name + R"(", "kind": "openai", "base_url": ")" + base_url + R"("})";
}

std::shared_ptr<const Config> makeConfig(const std::string& providers, const std::string& resolvers,
                                         const std::string& timeout = "3s",
                                         const std::string& extra = "") {
  const std::string json = R"({"timeout": ")" + timeout + R"(", "providers": [)" + providers +
                           R"(], "routes": [{"name": "default"}], "resolvers": [)" + resolvers +
                           R"(], "allowed_ranges": ["127.0.0.0/8"])" + extra + "}";
  return std::make_shared<const Config>(parseConfig(json, "engine_test.json"));
}

const ProviderConfig& providerNamed(const Config& c, const std::string& name) {
  for (const auto& p : c.providers)
    if (p.spec.name == name) return p;
  throw std::runtime_error("no provider " + name);
}

KeyInspection noKey() {
  KeyInspection k;
  k.layer.status = LayerStatus::Skipped;
  k.layer.source = "none";
  k.layer.reason = "no key configured";
  return k;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : dns(loop.get()) { dns.set(kHost, {{"127.0.0.1"}, {}, 0, false}); }

  std::string resolvers() const { return "\"" + dns.spec() + "\""; }

  // One pair and its route's own probe, classified as report.h does.
  std::optional<RouteResult> probeOnce(std::shared_ptr<const Config> config, const std::string& name,
                                       const KeyInspection& key = noKey()) {
    Engine engine(loop.get(), config);
    const ProviderConfig& provider = providerNamed(*config, name);
    std::optional<RouteResult> out;
    std::optional<RouteObservation> obs;
    engine.observeRoute(config->routes.front(), RouteProbe::forProviders({provider}),
                        [&](RouteObservation o) { obs = std::move(o); });
    engine.probe(provider, config->routes.front(), key, [&](RouteResult r) { out = std::move(r); });
    EXPECT_FALSE(out) << "completed synchronously";
    loop.runUntil([&] { return out.has_value() && obs.has_value(); }, 15000);
    if (!out || !obs) return std::nullopt;
    const auto views = routeViews({*obs});
    return finishPair(provider.spec, std::move(*out), &views.at(obs->route));
  }

  TestLoop loop;
  FakeDns dns;
};

TEST_F(EngineTest, ProviderShapedNoKeyAnswerIsOk) {
  EngineFakeHttp provider(loop.get(), openAiNoKey());
  auto config = makeConfig(
      providerJson("local", "http://" + std::string(kHost) + ":" + std::to_string(provider.port()) + "/v1"),
      resolvers());
  auto r = probeOnce(config, "local");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, Verdict::Ok) << ::testing::PrintToString(r->evidence);
  EXPECT_EQ(r->provider, "local");
  EXPECT_EQ(r->route, "default");
  EXPECT_EQ(r->dns.status, LayerStatus::Ok);
  ASSERT_EQ(r->dns.answers.size(), 1u);
  EXPECT_TRUE(r->dns.answers[0].bogons.empty()) << "a custom provider on loopback is not a bogon";
  EXPECT_EQ(r->tcp.status, LayerStatus::Ok);
  EXPECT_EQ(r->tcp.address, "127.0.0.1:" + std::to_string(provider.port()));
  EXPECT_EQ(r->http.code, 401);
  EXPECT_EQ(r->http.authored_by, "provider");
  EXPECT_EQ(r->echo.status, LayerStatus::Skipped);
  EXPECT_NE(r->echo.reason.find("pathwatch echo-server"), std::string::npos);
  EXPECT_EQ(provider.requests(), 1);
  EXPECT_EQ(provider.lastHead().rfind("GET /v1/models HTTP/1.1", 0), 0u) << provider.lastHead();
  EXPECT_EQ(provider.lastHead().find("Authorization"), std::string::npos) << "no key, no auth header";
  EXPECT_FALSE(r->started_at.empty());
}

// The route's cdn-cgi/trace goes on the connection its provider's probe made
// (one handshake fewer per route and cycle) and still gives the egress; a
// provider that closes its connections gets the trace on a connection of its own.
class TraceConnectionTest : public EngineTest, public ::testing::WithParamInterface<bool> {};

TEST_P(TraceConnectionTest, TraceRidesOnTheProvidersConnectionWhenItStaysOpen) {
  const bool keep_alive = GetParam();
  EngineFakeHttp server(loop.get(), openAiNoKey());
  const EngineFakeHttp::Response trace{
      200, {{"Content-Type", "text/plain"}},
      "fl=1f1\nh=api.openai.com\nip=198.18.7.9\nts=1764450000.1\nvisit_scheme=http\ncolo=FRA\nloc=DE\n"};
  server.keepAlive({{"/cdn-cgi/trace", trace}});
  if (!keep_alive) server.closeAfterEachAnswer();
  dns.set("api.openai.com", {{"127.0.0.1"}, {}, 0, false});
  auto config = makeConfig(R"({"name": "openai", "base_url": "http://api.openai.com:)" +
                               std::to_string(server.port()) + R"(/v1"})",
                           resolvers());
  ASSERT_TRUE(providerNamed(*config, "openai").spec.builtin);
  auto r = probeOnce(config, "openai");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->http.code, 401);
  EXPECT_EQ(server.requestLines(),
            (std::vector<std::string>{"GET /v1/models HTTP/1.1", "GET /cdn-cgi/trace HTTP/1.1"}));
  EXPECT_EQ(server.connections(), keep_alive ? 1 : 2);
  ASSERT_TRUE(r->egress);
  EXPECT_EQ(r->egress->ip, "198.18.7.9");
  EXPECT_EQ(r->egress->country, "DE");
  EXPECT_EQ(r->egress->seen_by, "openai");
}

INSTANTIATE_TEST_SUITE_P(KeepAliveOrClose, TraceConnectionTest, ::testing::Bool());

// Two routes to the same provider whose answers arrive together: each route's
// trace rides on its own route's connection, never on the other's (an idle
// connection to the same host is a match for libcurl whatever socket option
// bound it). The fake answers the trace with the address it sees, which is
// the route's source address. Rounds, because which answer is handled first
// is up to the kernel.
TEST_F(EngineTest, EachRoutesTraceRidesOnItsOwnRoutesConnection) {
  EngineFakeHttp server(loop.get(), openAiNoKey());
  server.keepAlive({{"/cdn-cgi/trace",
                     {200, {{"Content-Type", "text/plain"}},
                      "fl=1f1\nh=api.openai.com\nip={peer}\nts=1764450000.1\nvisit_scheme=http\ncolo=FRA\nloc=DE\n"}}});
  server.answerInGroupsOf(2);
  dns.set("api.openai.com", {{"127.0.0.1"}, {}, 0, false});
  const std::string json =
      R"({"timeout": "3s", "providers": [{"name": "openai", "base_url": "http://api.openai.com:)" +
      std::to_string(server.port()) +
      R"(/v1"}], "routes": [{"name": "a", "source_ip": "127.0.0.1"}, {"name": "b", "source_ip": "127.0.0.2"}],
         "resolvers": [)" + resolvers() + R"(], "allowed_ranges": ["127.0.0.0/8"]})";
  auto config = std::make_shared<const Config>(parseConfig(json, "engine_test.json"));
  const ProviderConfig& provider = providerNamed(*config, "openai");
  ASSERT_TRUE(provider.spec.builtin);
  Engine engine(loop.get(), config);
  for (const auto& route : config->routes) ASSERT_EQ(engine.routeBindingError(route.name), "") << route.name;
  for (int round = 0; round < 8; ++round) {
    const int connections_before = server.connections();
    std::map<std::string, RouteObservation> seen;
    int answers = 0;
    for (const auto& route : config->routes) {
      engine.observeRoute(route, RouteProbe::forProviders({provider}),
                          [&](RouteObservation o) { seen[o.route] = std::move(o); });
      engine.probe(provider, route, noKey(), [&](RouteResult r) {
        EXPECT_EQ(r.http.code, 401) << r.route;
        ++answers;
      });
    }
    loop.runUntil([&] { return answers == 2 && seen.size() == 2; }, 15000);
    ASSERT_EQ(answers, 2) << "round " << round;
    ASSERT_EQ(seen.size(), 2u) << "round " << round;
    for (const auto& [name, source] : {std::pair{"a", "127.0.0.1"}, std::pair{"b", "127.0.0.2"}}) {
      ASSERT_TRUE(seen[name].egress) << "round " << round << ", route " << name;
      EXPECT_EQ(seen[name].egress->ip, source) << "round " << round << ": route " << name
                                               << "'s trace went out on another route's connection";
    }
    EXPECT_EQ(server.connections() - connections_before, 2) << "round " << round << ": each trace rides";
  }
}

TEST_F(EngineTest, AddressLiteralSkipsDns) {
  EngineFakeHttp provider(loop.get(), openAiNoKey());
  auto config = makeConfig(providerJson("lit", "http://127.0.0.1:" + std::to_string(provider.port()) + "/v1"),
                           resolvers());
  auto r = probeOnce(config, "lit");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dns.status, LayerStatus::Skipped);
  EXPECT_EQ(r->dns.reason, "address literal");
  EXPECT_EQ(r->verdict, Verdict::Ok);
  EXPECT_EQ(dns.queries(), 0);
}

TEST_F(EngineTest, NxdomainIsDnsFailedAndNothingConnects) {
  EngineFakeHttp provider(loop.get(), openAiNoKey());
  auto config = makeConfig(
      providerJson("gone", "http://missing.pathwatch.test:" + std::to_string(provider.port()) + "/v1"),
      resolvers());
  auto r = probeOnce(config, "gone");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, Verdict::DnsFailed);
  EXPECT_EQ(r->dns.error, "nxdomain");
  EXPECT_EQ(r->tcp.status, LayerStatus::Skipped);
  EXPECT_EQ(provider.requests(), 0);
}

TEST_F(EngineTest, RefusedPortIsConnectFailed) {
  uint16_t closed = 0;
  {
    EngineFakeHttp gone(loop.get(), openAiNoKey());
    closed = gone.port();
  }
  loop.drain();
  auto config = makeConfig(
      providerJson("down", "http://" + std::string(kHost) + ":" + std::to_string(closed) + "/v1"), resolvers());
  auto r = probeOnce(config, "down");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, Verdict::ConnectFailed);
  EXPECT_EQ(r->tcp.error, "connection_refused");
  EXPECT_EQ(r->http.status, LayerStatus::Skipped);
}

TEST_F(EngineTest, ProxyThatResolvesRemotelySkipsDns) {
  // The fake answers the proxied GET itself, as a forward proxy passing the
  // provider's answer through would.
  EngineFakeHttp proxy(loop.get(), openAiNoKey());
  const std::string proxy_url = "http://127.0.0.1:" + std::to_string(proxy.port());
  const std::string json =
      R"({"timeout": "3s", "providers": [)" + providerJson("viaproxy", "http://api.pathwatch.test/v1") +
      R"(], "routes": [{"name": "office", "proxy": ")" + proxy_url + R"("}], "resolvers": [)" + resolvers() +
      R"(], "allowed_ranges": ["127.0.0.0/8"]})";
  auto config = std::make_shared<const Config>(parseConfig(json, "engine_test.json"));
  auto r = probeOnce(config, "viaproxy");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dns.status, LayerStatus::Skipped);
  EXPECT_EQ(r->dns.reason, "resolved by the proxy (" + proxy_url + ")");
  EXPECT_TRUE(r->tcp.via_proxy);
  EXPECT_EQ(r->tcp.address, "127.0.0.1:" + std::to_string(proxy.port()));
  EXPECT_EQ(dns.queries(), 0);
  EXPECT_EQ(proxy.requests(), 1);
  EXPECT_NE(proxy.lastHead().find("GET http://api.pathwatch.test/v1/models"), std::string::npos)
      << proxy.lastHead();
}

TEST_F(EngineTest, SixteenProbesSomeSilentFinishWithinAboutOneTimeout) {
  EngineFakeHttp good(loop.get(), openAiNoKey());
  EngineFakeHttp silent(loop.get(), openAiNoKey(), /*hang=*/true);
  FakeDns dead(loop.get());
  dead.setDefault({{}, {}, 0, true});
  dns.set("silent.pathwatch.test", {{"127.0.0.1"}, {}, 0, false});
  const std::string good_url = "http://" + std::string(kHost) + ":" + std::to_string(good.port()) + "/v1";
  const std::string silent_url = "http://silent.pathwatch.test:" + std::to_string(silent.port()) + "/v1";
  auto config = makeConfig(providerJson("good", good_url) + "," + providerJson("silent", silent_url), resolvers(),
                           "1s");
  Engine engine(loop.get(), config);
  std::vector<RouteResult> results;
  const uint64_t start = uv_hrtime();
  for (int i = 0; i < 16; ++i) {
    const ProviderConfig& p = providerNamed(*config, i % 2 ? "silent" : "good");
    engine.probe(p, config->routes.front(), noKey(),
                 [&](RouteResult r) { results.push_back(finishPair(p.spec, std::move(r), nullptr)); });
  }
  EXPECT_EQ(engine.inFlight() + engine.queued(), 16u);
  loop.runUntil([&] { return results.size() == 16; }, 20000);
  const double elapsed_ms = static_cast<double>(uv_hrtime() - start) / 1e6;
  ASSERT_EQ(results.size(), 16u);
  EXPECT_LT(elapsed_ms, 3000.0) << "16 probes with a 1s timeout";
  int ok = 0, http_failed = 0;
  for (const auto& r : results) {
    if (r.provider == "good" && r.verdict == Verdict::Ok) ++ok;
    if (r.provider == "silent" && r.verdict == Verdict::HttpFailed) ++http_failed;
  }
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(http_failed, 8);
  EXPECT_EQ(engine.inFlight(), 0u);
}

TEST_F(EngineTest, ConcurrencyCapQueuesFifo) {
  EngineFakeHttp provider(loop.get(), openAiNoKey());
  const std::string url = "http://" + std::string(kHost) + ":" + std::to_string(provider.port()) + "/v1";
  auto config = makeConfig(providerJson("local", url), resolvers(), "3s", R"(, "concurrency": 2)");
  if (config->concurrency != 2) GTEST_SKIP() << "config has no concurrency key";
  Engine engine(loop.get(), config);
  std::vector<int> order;
  for (int i = 0; i < 5; ++i)
    engine.probe(providerNamed(*config, "local"), config->routes.front(), noKey(),
                 [&order, &engine, i](RouteResult) {
                   EXPECT_LE(engine.inFlight(), 2u);
                   order.push_back(i);
                 });
  EXPECT_EQ(engine.inFlight(), 2u);
  EXPECT_EQ(engine.queued(), 3u);
  loop.runUntil([&] { return order.size() == 5; }, 15000);
  ASSERT_EQ(order.size(), 5u);
  // FIFO start order: the last two queued cannot finish before the first two started.
  EXPECT_TRUE(order[4] >= 2 || order[3] >= 2);
}

TEST_F(EngineTest, CancelledProbesNeverCallBack) {
  EngineFakeHttp silent(loop.get(), openAiNoKey(), true);
  const std::string url = "http://" + std::string(kHost) + ":" + std::to_string(silent.port()) + "/v1";
  auto config = makeConfig(providerJson("local", url), resolvers());
  int calls = 0;
  {
    Engine engine(loop.get(), config);
    for (int i = 0; i < 3; ++i)
      engine.probe(providerNamed(*config, "local"), config->routes.front(), noKey(),
                   [&](RouteResult) { ++calls; });
    loop.runUntil([&] { return silent.requests() >= 1; }, 10000);
    engine.cancelAll();
    EXPECT_EQ(engine.inFlight(), 0u);
  }
  loop.drain();
  EXPECT_EQ(calls, 0);
}

TEST_F(EngineTest, RunCheckFillsTheReport) {
  EngineFakeHttp provider(loop.get(), openAiNoKey());
  const std::string url = "http://" + std::string(kHost) + ":" + std::to_string(provider.port()) + "/v1";
  auto config = makeConfig(providerJson("local", url), resolvers());
  Engine engine(loop.get(), config);
  std::optional<CheckReport> report;
  CheckSelection sel;
  sel.providers = {"local"};
  runCheck(engine, *config, sel, [&](CheckReport r) { report = std::move(r); });
  EXPECT_FALSE(report);
  loop.runUntil([&] { return report.has_value(); }, 15000);
  ASSERT_TRUE(report);
  EXPECT_TRUE(std::regex_match(report->started_at, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << report->started_at;
  ASSERT_EQ(report->providers.size(), 1u);
  EXPECT_EQ(report->providers[0].name, "local");
  ASSERT_EQ(report->providers[0].routes.size(), 1u);
  EXPECT_EQ(report->providers[0].routes[0].verdict, Verdict::Ok);
  EXPECT_EQ(report->providers[0].diagnosis.verdict, Verdict::Ok);
  ASSERT_EQ(report->routes.size(), 1u);
  EXPECT_EQ(report->routes[0].name, "default");
  EXPECT_EQ(report->routes[0].binding_error, "");
  EXPECT_TRUE(report->allOk());
}

TEST_F(EngineTest, RunCheckWithNothingSelectedStillAnswersLater) {
  auto config = makeConfig(providerJson("local", "http://127.0.0.1:9/v1"), resolvers());
  Engine engine(loop.get(), config);
  std::optional<CheckReport> report;
  CheckSelection sel;
  sel.providers = {"nonexistent"};
  runCheck(engine, *config, sel, [&](CheckReport r) { report = std::move(r); });
  EXPECT_FALSE(report) << "answered synchronously";
  loop.runUntil([&] { return report.has_value(); }, 5000);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->providers.empty());
}

TEST_F(EngineTest, KeyGoesToTheProviderOnlyAndEchoSeesACanary) {
  EngineFakeHttp provider(loop.get(), openAiNoKey());
  EchoServerOptions eo;
  eo.log = [](std::string_view) {};
  EchoServer echo(loop.get(), eo);
  std::string err;
  ASSERT_TRUE(echo.start(&err)) << err;
  const std::string url = "http://" + std::string(kHost) + ":" + std::to_string(provider.port()) + "/v1";
  const std::string echo_url = "http://" + echo.boundAddress() + "/echo";
  auto config = makeConfig(providerJson("local", url), resolvers(), "3s",
                           R"(, "echo": [")" + echo_url + R"("])");
  const std::string secret = "sk-proj-Zq4Lm8Rt2Vx6Bn1Kc9Jd3Hf7Gs5Pw0YeMxYA";
  KeyInspection key = inspectKey(providers::openai_provider, secret, "env:LOCAL_KEY", true);
  ASSERT_EQ(key.layer.status, LayerStatus::Ok);
  std::optional<RouteResult> out = probeOnce(config, "local", key);
  echo.stop();
  loop.drain();
  ASSERT_TRUE(out);
  EXPECT_NE(provider.lastHead().find("Authorization: Bearer " + secret), std::string::npos);
  EXPECT_EQ(out->echo.endpoint, echo_url);
  EXPECT_EQ(out->echo.status, LayerStatus::Ok) << out->echo.error << ::testing::PrintToString(out->echo.added) << ::testing::PrintToString(out->echo.removed) << ::testing::PrintToString(out->echo.changed) << ::testing::PrintToString(out->echo.case_changed) << ::testing::PrintToString(out->echo.evidence);
  EXPECT_EQ(out->echo.client_address, "127.0.0.1");
  // The real key appears nowhere in what is kept.
  EXPECT_EQ(out->http.body.find(secret), std::string::npos);
  for (const auto& e : out->evidence) EXPECT_EQ(e.find(secret), std::string::npos) << e;
}

TEST_F(EngineTest, DisjointOddAnswerIsCheckedUnderTheName) {
  EngineFakeHttp provider(loop.get(), openAiNoKey());
  FakeDns odd(loop.get());
  odd.set(kHost, {{"127.0.0.2"}, {}, 0, false});  // nothing listens there on that port
  const std::string url = "http://" + std::string(kHost) + ":" + std::to_string(provider.port()) + "/v1";
  auto config = makeConfig(providerJson("local", url), resolvers() + ",\"" + odd.spec() + "\"");
  auto r = probeOnce(config, "local");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->dns.resolvers_disagree);
  EXPECT_EQ(r->dns.addresses, std::vector<std::string>{"127.0.0.1"});
  ASSERT_EQ(r->dns.answers.size(), 2u);
  EXPECT_FALSE(r->dns.answers[0].tls_ok.has_value()) << "the answer used is not re-checked";
  ASSERT_TRUE(r->dns.answers[1].tls_ok.has_value());
  EXPECT_FALSE(*r->dns.answers[1].tls_ok);
  EXPECT_EQ(r->dns.answers[1].tls_error, "connection_refused");
  bool said = false;
  for (const auto& e : r->evidence)
    said = said || e.find("could not be reached to check TLS (connection_refused)") != std::string::npos;
  EXPECT_TRUE(said) << ::testing::PrintToString(r->evidence);
}

TEST(RunCheckOnce, OwnLoopAndCleanTeardown) {
  uint16_t closed = 0;
  {
    TestLoop l;
    EngineFakeHttp gone(l.get(), openAiNoKey());
    closed = gone.port();
  }
  auto config = makeConfig(providerJson("down", "http://127.0.0.1:" + std::to_string(closed) + "/v1"),
                           "\"127.0.0.1:9\"");
  CheckSelection sel;
  sel.providers = {"down"};
  const CheckReport report = runCheckOnce(*config, sel);
  ASSERT_EQ(report.providers.size(), 1u);
  EXPECT_EQ(report.providers[0].routes[0].verdict, Verdict::ConnectFailed);
  EXPECT_FALSE(report.allOk());
}

}  // namespace
}  // namespace pathwatch
