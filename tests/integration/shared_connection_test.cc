// Shared connections (docs/json.md layers.tcp.reused): an HTTPS probe leaves
// its connection for the next probe on its route to the same host and
// address, which then reports that connection's handshake (chain,
// verification, timings) as reused; never another address's, never another
// route's, never one older than its lifetime.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "integration/support/engine_loop.h"
#include "integration/support/fake_dns.h"
#include "integration/support/fake_tls_server.h"
#include "integration/support/test_pki.h"
#include "pathwatch/config.h"
#include "pathwatch/engine.h"
#include "pathwatch/fetch.h"
#include "pathwatch/report.h"
#include "pathwatch/report_json.h"
#include "tls_verify.h"

namespace pathwatch {
namespace {

using fetchtest::FakeHttpServer;
using fetchtest::FakeServerOptions;
using fetchtest::kTestHost;
using fetchtest::TestPki;
using testing::FakeDns;
using testing::TestLoop;

std::unique_ptr<FakeHttpServer> keepAliveTlsServer(const fetchtest::TestLeaf& leaf = TestPki::get().good) {
  FakeServerOptions o;
  o.tls = true;
  o.leaf = leaf;
  o.keep_alive = true;
  return std::make_unique<FakeHttpServer>(o);
}

// A request to the fake on `port`, pinned to 127.0.0.1, that shares connections.
FetchRequest sharedRequest(uint16_t port, const std::string& path, Millis timeout) {
  static auto roots = PublicRoots::load(TestPki::get().public_roots_dir);
  FetchRequest req;
  req.url = std::string("https://") + kTestHost + ":" + std::to_string(port) + path;
  req.pin_address = "127.0.0.1";
  req.ca_file = TestPki::get().ca_file;
  req.public_roots = roots;
  req.timeout = timeout;
  req.share_connection = true;
  return req;
}

class SharedFetchTest : public ::testing::Test {
 protected:
  FetchRequest shared(const std::string& path) {
    return sharedRequest(server->port(), path, std::chrono::seconds(10));
  }

  FetchResult run(FetchRequest req) {
    std::optional<FetchResult> out;
    FetchHandle handle = client->fetch(std::move(req), [&](FetchResult r) { out = std::move(r); });
    EXPECT_TRUE(loop.runUntil([&] { return out.has_value(); }, 30000));
    return out.value_or(FetchResult{});
  }

  TestLoop loop;  // declared first: destroyed last
  std::unique_ptr<FakeHttpServer> server = keepAliveTlsServer();
  std::unique_ptr<HttpClient> client = std::make_unique<HttpClient>(loop.get());
};

TEST_F(SharedFetchTest, TheNextRequestRidesOnTheConnectionWithItsHandshakesEvidence) {
  const FetchResult first = run(shared("/ok"));
  ASSERT_EQ(first.failed_at, FailedAt::None) << first.error << " " << first.detail;
  EXPECT_FALSE(first.reused);
  EXPECT_FALSE(first.tls.reused);
  ASSERT_EQ(first.tls.chain.size(), 2u);
  EXPECT_EQ(first.tls.public_root, std::optional<bool>(true));

  const FetchResult second = run(shared("/status/401"));
  ASSERT_EQ(second.failed_at, FailedAt::None) << second.error << " " << second.detail;
  EXPECT_EQ(second.http.code, 401);
  EXPECT_EQ(server->connections(), 1) << "the second request made a connection of its own";
  EXPECT_EQ(server->requests(), 2);
  EXPECT_TRUE(second.reused);
  EXPECT_TRUE(second.tls.reused);
  EXPECT_EQ(second.tls.status, LayerStatus::Ok);
  EXPECT_EQ(second.tls.chain, first.tls.chain);
  EXPECT_EQ(second.tls.subject, first.tls.subject);
  EXPECT_EQ(second.tls.issuer, first.tls.issuer);
  EXPECT_EQ(second.tls.not_after, first.tls.not_after);
  EXPECT_EQ(second.tls.version, first.tls.version);
  EXPECT_EQ(second.tls.sni, kTestHost);
  EXPECT_EQ(second.tls.ca_file_ok, std::optional<bool>(true));
  EXPECT_EQ(second.tls.public_root, std::optional<bool>(true));
  EXPECT_EQ(second.connected_address, first.connected_address);
  EXPECT_DOUBLE_EQ(second.connect_ms, first.connect_ms) << "the handshake's own timings";
  EXPECT_DOUBLE_EQ(second.tls.ms, first.tls.ms);
  EXPECT_GT(second.connection_age_ms, 0.0);

  // A request that does not share makes its own connection, and closes it.
  FetchRequest own = shared("/ok");
  own.share_connection = false;
  const FetchResult third = run(std::move(own));
  ASSERT_EQ(third.failed_at, FailedAt::None) << third.error;
  EXPECT_FALSE(third.reused);
  EXPECT_EQ(server->connections(), 2);
  EXPECT_EQ(third.tls.chain, first.tls.chain);
}

// An intercepting box's certificate (trusted by the route's CA file, not a
// public root) is what every request riding on that connection reports.
TEST_F(SharedFetchTest, ARiderReportsTheInterceptedChainOfItsConnection) {
  server = keepAliveTlsServer(TestPki::get().corporate);
  const FetchResult first = run(shared("/ok"));
  ASSERT_EQ(first.failed_at, FailedAt::None) << first.error << " " << first.detail;
  ASSERT_EQ(first.tls.public_root, std::optional<bool>(false));
  const FetchResult second = run(shared("/ok"));
  ASSERT_EQ(second.failed_at, FailedAt::None) << second.error;
  EXPECT_TRUE(second.reused);
  EXPECT_EQ(server->connections(), 1);
  EXPECT_EQ(second.tls.ca_file_ok, std::optional<bool>(true));
  EXPECT_EQ(second.tls.public_root, std::optional<bool>(false));
  EXPECT_NE(second.tls.issuer.find("Corporate Inspection CA"), std::string::npos) << second.tls.issuer;
  EXPECT_EQ(second.tls.verify_error, first.tls.verify_error);
  EXPECT_NE(second.tls.verify_error.find("public roots"), std::string::npos) << second.tls.verify_error;
}

// A kept connection the server closes as the next request arrives: the
// request goes again on a new connection and reports that one.
TEST_F(SharedFetchTest, AKeptConnectionThatDiesUnansweredIsReplacedByANewOne) {
  FakeServerOptions o;
  o.tls = true;
  o.leaf = TestPki::get().good;
  o.keep_alive = true;
  o.close_kept_connections = true;
  server = std::make_unique<FakeHttpServer>(o);
  const FetchResult first = run(shared("/ok"));
  ASSERT_EQ(first.failed_at, FailedAt::None) << first.error;
  const FetchResult second = run(shared("/status/401"));
  ASSERT_EQ(second.failed_at, FailedAt::None) << second.error << " " << second.detail;
  EXPECT_EQ(second.http.code, 401);
  EXPECT_FALSE(second.reused) << "the answer came on a new connection";
  EXPECT_FALSE(second.tls.reused);
  EXPECT_EQ(server->connections(), 2);
  EXPECT_EQ(second.tls.chain, first.tls.chain);
  EXPECT_EQ(second.tls.public_root, std::optional<bool>(true));
}

// libcurl would take a kept connection for another address of the same name
// (it matches by name); the pin makes the address part of the match. Nothing
// listens on 127.0.0.2, so riding on the kept 127.0.0.1 connection is the
// only way this request could get an answer.
TEST_F(SharedFetchTest, AConnectionIsNeverTakenForAnotherAddressOfTheName) {
  const FetchResult first = run(shared("/ok"));
  ASSERT_EQ(first.failed_at, FailedAt::None) << first.error;
  FetchRequest elsewhere = shared("/ok");
  elsewhere.pin_address = "127.0.0.2";
  const FetchResult second = run(std::move(elsewhere));
  EXPECT_FALSE(second.reused);
  EXPECT_EQ(second.failed_at, FailedAt::Tcp) << second.error << " " << second.detail;
  EXPECT_EQ(second.connect_error, "connection_refused");
  EXPECT_EQ(server->requests(), 1);
}

// A connection in use every 0.6 s (never idle long) still ages out: taken
// while younger than its 3 s lifetime, never after.
TEST_F(SharedFetchTest, AConnectionOlderThanItsLifetimeIsNotTakenHoweverBusy) {
  auto request = [&] {
    FetchRequest req = shared("/ok");
    req.connection_lifetime = std::chrono::seconds(3);
    return req;
  };
  const uint64_t start = uv_hrtime();
  const FetchResult first = run(request());
  ASSERT_EQ(first.failed_at, FailedAt::None) << first.error;
  int young_rides = 0, old_takes = 0, old_checked = 0;
  for (int i = 0; i < 8; ++i) {
    loop.runUntil([] { return false; }, 600);
    const double at_s = static_cast<double>(uv_hrtime() - start) / 1e9;
    const FetchResult r = run(request());
    ASSERT_EQ(r.failed_at, FailedAt::None) << r.error;
    if (at_s < 2.7) young_rides += r.reused ? 1 : 0;
    if (at_s > 3.2 && r.reused && r.connection_age_ms > 3000) ++old_takes;
    if (at_s > 3.2) ++old_checked;
  }
  EXPECT_GE(young_rides, 3) << "a young connection was not taken";
  EXPECT_GT(old_checked, 0);
  EXPECT_EQ(old_takes, 0) << "a connection older than its lifetime was taken";
  EXPECT_GE(server->connections(), 2);
}

// A request on a kept connection that gets no answer in time fails at HTTP
// (libcurl reports no connect or TLS time for it): the path's TCP and TLS
// were fine, the server was slow.
TEST_F(SharedFetchTest, ATimeoutOnAKeptConnectionIsAnHttpTimeout) {
  const FetchResult first = run(shared("/ok"));
  ASSERT_EQ(first.failed_at, FailedAt::None) << first.error;
  FetchRequest hang = shared("/hang");
  hang.timeout = std::chrono::seconds(2);
  const FetchResult r = run(std::move(hang));
  EXPECT_TRUE(r.reused);
  EXPECT_FALSE(r.replaced_stalled) << "the request was acknowledged";
  EXPECT_EQ(r.failed_at, FailedAt::Http) << r.error << " " << r.detail;
  EXPECT_EQ(r.error, "timeout");
  EXPECT_EQ(r.tls.status, LayerStatus::Ok);
  EXPECT_EQ(r.tls.chain, first.tls.chain);
  EXPECT_GT(r.http.ms, 1000.0);
}

// libcurl's retry after a kept connection died makes a new one, and that
// connection's handshake is what the request reports, not the old one's: here
// the new one meets an intercepting certificate.
TEST_F(SharedFetchTest, ARetryOnANewConnectionReportsThatConnectionsCertificate) {
  FakeServerOptions o;
  o.tls = true;
  o.leaf = TestPki::get().good;
  o.later_leaf = TestPki::get().corporate;
  o.keep_alive = true;
  o.close_kept_connections = true;
  server = std::make_unique<FakeHttpServer>(o);
  const FetchResult first = run(shared("/ok"));
  ASSERT_EQ(first.failed_at, FailedAt::None) << first.error;
  ASSERT_EQ(first.tls.public_root, std::optional<bool>(true));
  const FetchResult second = run(shared("/ok"));
  ASSERT_EQ(second.failed_at, FailedAt::None) << second.error << " " << second.detail;
  EXPECT_EQ(server->connections(), 2);
  EXPECT_FALSE(second.reused);
  EXPECT_FALSE(second.tls.reused);
  EXPECT_EQ(second.tls.public_root, std::optional<bool>(false));
  EXPECT_NE(second.tls.issuer.find("Corporate Inspection CA"), std::string::npos) << second.tls.issuer;
}

// Every request on a client prunes its idle connections by its own idle
// limit; a handshake check (no sharing) must not close a kept connection
// that is younger than the shared ones' limit.
TEST_F(SharedFetchTest, AHandshakeCheckDoesNotCloseTheKeptConnections) {
  const FetchResult first = run(shared("/ok"));
  ASSERT_EQ(first.failed_at, FailedAt::None) << first.error;
  loop.runUntil([] { return false; }, 3500);
  FetchRequest check = shared("/ok");
  check.share_connection = false;
  check.connect_only = true;
  const FetchResult handshake = run(std::move(check));
  ASSERT_EQ(handshake.failed_at, FailedAt::None) << handshake.error;
  const FetchResult rider = run(shared("/ok"));
  ASSERT_EQ(rider.failed_at, FailedAt::None) << rider.error;
  EXPECT_TRUE(rider.reused) << "the kept connection was closed by the handshake check";
  EXPECT_EQ(server->connections(), 2) << "first, and the handshake check's own";
}

// A slow provider on a kept connection: the request was acknowledged, so
// the path carries it; the probe waits for the answer on that connection.
TEST_F(SharedFetchTest, ASlowAnswerOnAKeptConnectionIsAwaitedNotReplaced) {
  const FetchResult first = run(shared("/ok"));
  ASSERT_EQ(first.failed_at, FailedAt::None) << first.error;
  FetchRequest slow = shared("/slow");
  slow.timeout = std::chrono::seconds(6);  // the look comes after 0.5 s, the answer after 1.5 s
  const FetchResult second = run(std::move(slow));
  ASSERT_EQ(second.failed_at, FailedAt::None) << second.error << " " << second.detail;
  EXPECT_EQ(second.http.code, 200);
  EXPECT_TRUE(second.reused);
  EXPECT_FALSE(second.replaced_stalled);
  EXPECT_EQ(server->connections(), 1);
  EXPECT_EQ(server->requests(), 2);
}

// Runs `body` in a forked child inside a network namespace of its own (only
// loopback, nothing else): its exit code, or 77 when no namespace can be made
// here. As root a plain network namespace; otherwise a user namespace too,
// mapping this user to root in it (what `unshare -rn` does).
int inOwnNetworkNamespace(const std::function<int()>& body) {
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  const pid_t pid = ::fork();
  if (pid < 0) return 77;
  if (pid == 0) {
    if (::unshare(CLONE_NEWNET) != 0) {
      if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) ::_exit(77);
      auto put = [](const char* path, const std::string& text) {
        std::ofstream f(path);
        f << text;
        return static_cast<bool>(f.flush());
      };
      if (!put("/proc/self/setgroups", "deny") ||
          !put("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1\n") ||
          !put("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1\n"))
        ::_exit(77);
    }
    if (std::system("ip link set lo up") != 0 || std::system("nft list tables >/dev/null") != 0) ::_exit(77);
    const int rc = body();
    std::fflush(stderr);
    ::_exit(rc);  // the server's threads and the loop go with the process
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// A firewall starts dropping the server's traffic while a connection is
// kept: the request on it is never acknowledged. The probe must see what a
// new connection meets (its connect times out, a TCP failure), within its
// own timeout, not wait out the deadline for an HTTP timeout on the old one.
TEST(SharedConnectionStall, APathThatDropsAKeptConnectionShowsAsWhatANewOneMeets) {
  const int rc = inOwnNetworkNamespace([]() -> int {
    TestLoop loop;
    auto server = keepAliveTlsServer();
    HttpClient client(loop.get());
    auto request = [&] { return sharedRequest(server->port(), "/ok", std::chrono::seconds(4)); };
    auto fetchOnce = [&](FetchRequest req) {
      std::optional<FetchResult> out;
      FetchHandle h = client.fetch(std::move(req), [&](FetchResult r) { out = std::move(r); });
      loop.runUntil([&] { return out.has_value(); }, 15000);
      return out;
    };
    const auto first = fetchOnce(request());
    if (!first || first->failed_at != FailedAt::None) {
      std::fprintf(stderr, "first fetch failed: %s\n", first ? first->detail.c_str() : "no result");
      return 1;
    }
    const std::string rule = "nft add table inet pwstall && nft add chain inet pwstall in "
                             "'{ type filter hook input priority 0; }' && nft add rule inet pwstall in tcp dport " +
                             std::to_string(server->port()) + " drop";
    if (std::system(rule.c_str()) != 0) return 77;
    const uint64_t start = uv_hrtime();
    const auto second = fetchOnce(request());
    const double took_ms = static_cast<double>(uv_hrtime() - start) / 1e6;
    int failures = 0;
    auto check = [&](bool ok, const std::string& what) {
      if (!ok) {
        std::fprintf(stderr, "FAILED: %s\n", what.c_str());
        ++failures;
      }
    };
    check(second.has_value(), "the second fetch never completed");
    if (!second) return 1;
    check(second->replaced_stalled, "the stalled kept connection was not replaced");
    check(second->tls.status != LayerStatus::Ok, "TLS reported ok for a connection that never connected");
    check(!second->reused, "the answer is reported from the kept connection");
    check(second->failed_at == FailedAt::Tcp,
          "failed at layer " + std::to_string(static_cast<int>(second->failed_at)) + " (" + second->error +
              "), not TCP: " + second->detail);
    check(second->connect_error == "timeout", "connect error '" + second->connect_error + "', not timeout");
    check(took_ms < 4500, "took " + std::to_string(took_ms) + " ms for a 4 s timeout");
    check(server->requests() == 1, "the dropped request reached the server");
    return failures == 0 ? 0 : 1;
  });
  if (rc == 77) GTEST_SKIP() << "no network namespace with nftables can be made here";
  EXPECT_EQ(rc, 0) << "see the child's messages above";
}

// ---- through the engine --------------------------------------------------------

std::string providersJson(uint16_t port, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += std::string(i ? ", " : "") + R"({"name": "gw)" + std::to_string(i) +
           R"(", "kind": "openai", "base_url": "https://)" + kTestHost + ":" + std::to_string(port) +
           R"(/status/401"})";
  return out;
}

std::shared_ptr<const Config> engineConfig(const std::string& providers, const std::string& routes,
                                           const std::string& resolver, const std::string& interval = "60s") {
  const std::string json = R"({"timeout": "5s", "interval": ")" + interval + R"(", "providers": [)" + providers +
                           R"(], "routes": [)" + routes + R"(], "resolvers": [")" + resolver +
                           R"("], "allowed_ranges": ["127.0.0.0/8"], "tls": {"ca_file": ")" +
                           TestPki::get().ca_file + R"(", "public_roots": ")" +
                           TestPki::get().public_roots_dir + R"("}})";
  return std::make_shared<const Config>(parseConfig(json, "shared_connection_test.json"));
}

KeyInspection noKey() {
  KeyInspection k;
  k.layer.status = LayerStatus::Skipped;
  k.layer.source = "none";
  return k;
}

class SharedEngineTest : public ::testing::Test {
 protected:
  SharedEngineTest() : dns(loop.get()) { dns.set(kTestHost, {{"127.0.0.1"}, {}, 0, false}); }

  // Probes every (entry gw<p>, route r) in `pairs` one after the other.
  std::vector<RouteResult> probeInTurn(Engine& engine, const Config& config,
                                       const std::vector<std::pair<std::size_t, std::size_t>>& pairs) {
    std::vector<RouteResult> out;
    for (const auto& [p, r] : pairs) {
      const ProviderConfig* provider = nullptr;
      for (const auto& c : config.providers)
        if (c.spec.name == "gw" + std::to_string(p)) provider = &c;
      if (!provider) {
        ADD_FAILURE() << "no entry gw" << p;
        return out;
      }
      std::optional<RouteResult> got;
      engine.probe(*provider, config.routes[r], noKey(), [&](RouteResult res) { got = std::move(res); });
      EXPECT_TRUE(loop.runUntil([&] { return got.has_value(); }, 15000));
      if (got) out.push_back(finishPair(provider->spec, std::move(*got), nullptr));
    }
    return out;
  }

  TestLoop loop;
  FakeDns dns;
  std::unique_ptr<FakeHttpServer> server = keepAliveTlsServer();
};

// Three entries on one API host: one handshake, and the entries after the
// first report it (reused) with the same verdict and TLS evidence.
TEST_F(SharedEngineTest, EntriesOnOneHostShareTheRoutesHandshake) {
  auto config = engineConfig(providersJson(server->port(), 3), R"({"name": "default"})", dns.spec());
  Engine engine(loop.get(), config);
  const auto results = probeInTurn(engine, *config, {{0, 0}, {1, 0}, {2, 0}, {0, 0}});
  ASSERT_EQ(results.size(), 4u);
  ASSERT_EQ(results.front().http.code, 401) << toJson(results.front()).dump(1);
  EXPECT_EQ(server->connections(), 1);
  EXPECT_EQ(server->requests(), 4);
  const RouteResult& first = results.front();
  EXPECT_EQ(first.http.code, 401);
  EXPECT_FALSE(first.tcp.reused);
  ASSERT_EQ(first.tls.chain.size(), 2u);
  for (std::size_t i = 1; i < results.size(); ++i) {
    const RouteResult& r = results[i];
    SCOPED_TRACE(r.provider + " #" + std::to_string(i));
    EXPECT_EQ(r.dns.status, LayerStatus::Ok) << "each probe still resolves the name itself";
    EXPECT_EQ(r.tcp.status, LayerStatus::Ok);
    EXPECT_TRUE(r.tcp.reused);
    EXPECT_TRUE(r.tls.reused);
    EXPECT_GT(r.tcp.connection_age_ms, 0.0);
    EXPECT_EQ(r.tcp.address, first.tcp.address);
    EXPECT_EQ(r.tls.chain, first.tls.chain);
    EXPECT_EQ(r.tls.public_root, std::optional<bool>(true));
    EXPECT_EQ(r.http.code, 401);
    EXPECT_EQ(r.verdict, first.verdict);
    const auto layers = toJson(r).at("layers");
    EXPECT_EQ(layers.at("tcp").value("reused", false), true);
    EXPECT_EQ(layers.at("tls").value("reused", false), true);
  }
}

// Under a 6 s interval a connection's age cannot be told finely enough
// (libcurl counts whole seconds) to keep a pair off its own previous check's
// connection: every probe connects.
TEST_F(SharedEngineTest, ShortIntervalsShareNothing) {
  auto config = engineConfig(providersJson(server->port(), 2), R"({"name": "default"})", dns.spec(), "5s");
  Engine engine(loop.get(), config);
  const auto results = probeInTurn(engine, *config, {{0, 0}, {1, 0}, {0, 0}});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(server->connections(), 3);
  for (const auto& r : results) {
    EXPECT_EQ(r.http.code, 401) << r.provider;
    EXPECT_FALSE(r.tcp.reused) << r.provider;
  }
}

// Two source-address routes to the same host: each route keeps and takes its
// own connections, so every request leaves from its own route's address.
TEST_F(SharedEngineTest, ARouteNeverTakesAnotherRoutesConnection) {
  auto config = engineConfig(providersJson(server->port(), 2),
                             R"({"name": "a", "source_ip": "127.0.0.1"}, {"name": "b", "source_ip": "127.0.0.2"})",
                             dns.spec());
  Engine engine(loop.get(), config);
  for (const auto& route : config->routes) ASSERT_EQ(engine.routeBindingError(route.name), "") << route.name;
  const auto results = probeInTurn(engine, *config, {{0, 0}, {0, 1}, {1, 1}, {1, 0}, {0, 0}, {0, 1}});
  ASSERT_EQ(results.size(), 6u);
  EXPECT_EQ(server->connections(), 2) << "one connection per route";
  const auto peers = server->requestPeers();
  ASSERT_EQ(peers.size(), 6u);
  const std::map<std::string, std::string> source{{"a", "127.0.0.1"}, {"b", "127.0.0.2"}};
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(peers[i], source.at(results[i].route)) << "request " << i << " on route " << results[i].route;
    EXPECT_EQ(results[i].tcp.local_address, source.at(results[i].route)) << i;
    EXPECT_EQ(results[i].tcp.reused, i >= 2) << i;
  }
}

}  // namespace
}  // namespace pathwatch
