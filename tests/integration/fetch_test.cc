// HttpClient against loopback fakes on a real uv loop: answers, caps, every
// failure layer (proxy, tcp, tls, http) with its fixed error string, TLS
// evidence against the route's CA file and the public roots, scrubbing,
// cancellation and shutdown.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "pathwatch/fetch.h"
#include "integration/support/engine_loop.h"
#include "integration/support/fake_connect_proxy.h"
#include "integration/support/fake_tls_server.h"
#include "integration/support/test_pki.h"
#include "tls_verify.h"

namespace pathwatch {
namespace {

using fetchtest::FakeConnectProxy;
using fetchtest::FakeHttpServer;
using fetchtest::FakeProxyOptions;
using fetchtest::FakeServerOptions;
using fetchtest::kTestHost;
using fetchtest::OnAccept;
using fetchtest::TestLeaf;
using fetchtest::TestPki;

const std::string kKey = "sk-proj-Q7vXk2LmN9pR4tY8wZ1aB3cD5eF6gH0jMxYA";

std::string fp(const std::string& k) { return k.substr(0, 7) + "\u2026" + k.substr(k.size() - 4); }

const std::string* header(const HeaderList& h, const std::string& name) {
  for (const auto& [n, v] : h) {
    if (n == name) return &v;
  }
  return nullptr;
}

RouteConfig proxyRoute(const std::string& scheme, uint16_t port) {
  RouteConfig route;
  route.name = "via-proxy";
  route.kind = RouteKind::Proxy;
  route.proxy = scheme + "://127.0.0.1:" + std::to_string(port);
  route.proxy_scheme = scheme == "socks5" ? ProxyScheme::Socks5 : ProxyScheme::Http;
  route.proxy_host = "127.0.0.1";
  route.proxy_port = port;
  return route;
}

class FetchTest : public ::testing::Test {
 protected:
  static std::shared_ptr<const PublicRoots> roots() {
    static auto r = PublicRoots::load(TestPki::get().public_roots_dir);
    return r;
  }

  FetchRequest request(bool tls, uint16_t port, const std::string& path) {
    FetchRequest req;
    req.url = std::string(tls ? "https://" : "http://") + kTestHost + ":" + std::to_string(port) + path;
    req.pin_address = "127.0.0.1";
    req.ca_file = TestPki::get().ca_file;
    req.public_roots = roots();
    req.timeout = std::chrono::seconds(10);
    return req;
  }

  FetchResult run(FetchRequest req) {
    std::optional<FetchResult> out;
    int calls = 0;
    FetchHandle handle = client_->fetch(std::move(req), [&](FetchResult r) {
      ++calls;
      out = std::move(r);
    });
    EXPECT_FALSE(out.has_value()) << "done ran synchronously";
    EXPECT_TRUE(loop_.runUntil([&] { return out.has_value(); }, 30000));
    loop_.drain();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(client_->inFlight(), 0u);
    return out.value_or(FetchResult{});
  }

  static std::unique_ptr<FakeHttpServer> tlsServer(const TestLeaf& leaf, OnAccept on = OnAccept::Serve) {
    FakeServerOptions o;
    o.tls = true;
    o.leaf = leaf;
    o.on_accept = on;
    return std::make_unique<FakeHttpServer>(o);
  }
  static std::unique_ptr<FakeHttpServer> plainServer(OnAccept on = OnAccept::Serve) {
    FakeServerOptions o;
    o.on_accept = on;
    return std::make_unique<FakeHttpServer>(o);
  }

  testing::TestLoop loop_;  // declared first: destroyed last
  std::unique_ptr<HttpClient> client_ = std::make_unique<HttpClient>(loop_.get());
};

TEST_F(FetchTest, PlainHttpAnswerKeepsHeadersInOrderWithTheirCase) {
  auto srv = plainServer();
  FetchResult r = run(request(false, srv->port(), "/ok"));
  EXPECT_EQ(r.failed_at, FailedAt::None) << r.error << " " << r.detail;
  EXPECT_EQ(r.http.status, LayerStatus::Ok);
  EXPECT_EQ(r.http.code, 200);
  EXPECT_EQ(r.http.body, "{\"ok\":true}");
  EXPECT_FALSE(r.http.body_truncated);
  EXPECT_EQ(r.http.body_bytes, r.http.body.size());
  ASSERT_GE(r.http.headers.size(), 5u);
  EXPECT_EQ(r.http.headers[0].first, "Content-Type");
  EXPECT_EQ(r.http.headers[1], (std::pair<std::string, std::string>{"X-Pathwatch-Test", "ok"}));
  EXPECT_EQ(r.http.headers[2], (std::pair<std::string, std::string>{"x-lower-case", "kept"}));
  EXPECT_EQ(r.tls.status, LayerStatus::Skipped);
  EXPECT_EQ(r.connected_address, "127.0.0.1:" + std::to_string(srv->port()));
  EXPECT_GT(r.http.timings.total, 0.0);
  // The pin was used: the server saw the name, not the address.
  EXPECT_NE(srv->lastRequestHead().find(std::string("Host: ") + kTestHost), std::string::npos);
}

TEST_F(FetchTest, HttpsPublicChainIsRecordedAndVerifiedBothWays) {
  auto srv = tlsServer(TestPki::get().good);
  FetchResult r = run(request(true, srv->port(), "/ok"));
  ASSERT_EQ(r.failed_at, FailedAt::None) << r.error << " " << r.detail;
  EXPECT_EQ(r.http.code, 200);
  EXPECT_EQ(r.tls.status, LayerStatus::Ok);
  EXPECT_EQ(r.tls.sni, kTestHost);
  EXPECT_EQ(r.tls.version.rfind("TLSv1.", 0), 0u) << r.tls.version;
  ASSERT_EQ(r.tls.chain.size(), 2u);  // leaf first, then the intermediate, as sent
  EXPECT_NE(r.tls.chain[0].find(std::string("CN=") + kTestHost), std::string::npos);
  EXPECT_NE(r.tls.chain[1].find("CN=Pathwatch Test Public Issuing CA"), std::string::npos);
  EXPECT_EQ(r.tls.subject, r.tls.chain[0]);
  EXPECT_NE(r.tls.issuer.find("Issuing CA"), std::string::npos);
  EXPECT_TRUE(std::regex_match(r.tls.not_after, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << r.tls.not_after;
  EXPECT_EQ(r.tls.ca_file_ok, std::optional<bool>(true));
  EXPECT_EQ(r.tls.public_root, std::optional<bool>(true));
  EXPECT_EQ(r.tls.verify_error, "");
}

// The route's CA file is parsed once per client (libcurl's CA cache, per
// multi handle, 24 h): probes never re-read it; a new client (a config
// reload) reads it again.
TEST_F(FetchTest, CaFileIsReadOncePerClientNotPerFetch) {
  const std::string dir = ::testing::TempDir() + "pw-ca-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string ca = dir + "/ca.pem";
  std::filesystem::copy_file(TestPki::get().ca_file, ca,
                             std::filesystem::copy_options::overwrite_existing);
  int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(in, 0);
  ASSERT_GE(::inotify_add_watch(in, ca.c_str(), IN_OPEN), 0);
  auto opens = [&] {
    int n = 0;
    alignas(inotify_event) char buf[4096];
    for (ssize_t got; (got = ::read(in, buf, sizeof buf)) > 0;)
      for (char* p = buf; p < buf + got; p += sizeof(inotify_event) + reinterpret_cast<inotify_event*>(p)->len)
        if (reinterpret_cast<inotify_event*>(p)->mask & IN_OPEN) ++n;
    return n;
  };
  // Read after every fetch: inotify merges identical events left unread.
  auto srv = tlsServer(TestPki::get().good);
  std::vector<int> per_fetch;
  for (int i = 0; i < 4; ++i) {
    FetchRequest req = request(true, srv->port(), "/ok");
    req.ca_file = ca;
    FetchResult r = run(std::move(req));
    ASSERT_EQ(r.failed_at, FailedAt::None) << r.error << " " << r.detail;
    EXPECT_EQ(r.tls.ca_file_ok, std::optional<bool>(true));
    per_fetch.push_back(opens());
  }
  EXPECT_EQ(srv->connections(), 4) << "every fetch is its own connection and handshake";
  EXPECT_EQ(per_fetch, (std::vector<int>{1, 0, 0, 0})) << "the CA file was re-read for a fetch";
  client_ = std::make_unique<HttpClient>(loop_.get());
  FetchRequest req = request(true, srv->port(), "/ok");
  req.ca_file = ca;
  EXPECT_EQ(run(std::move(req)).failed_at, FailedAt::None);
  EXPECT_EQ(opens(), 1) << "a new client reads the CA file once";
  ::close(in);
  std::filesystem::remove_all(dir);
}

// The engine parses the CA file once and hands the store to every route's
// client (CaStore): no client reads the file again, and the store is what
// the handshake trusts (the private CA's leaf verifies through it).
TEST_F(FetchTest, AParsedCaStoreIsTrustedAndNoClientReadsTheFile) {
  const std::string dir = ::testing::TempDir() + "pw-castore-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string ca = dir + "/ca.pem";
  // The system's bundle first, then the test CAs: what a host with a private
  // CA added trusts; only the chain's own issuers get parsed.
  {
    std::ofstream out(ca, std::ios::trunc);
    for (const std::string& src : {std::string("/etc/ssl/certs/ca-certificates.crt"), TestPki::get().ca_file}) {
      std::ifstream in(src);
      out << in.rdbuf() << "\n";
    }
  }
  const auto store = CaStore::load(ca);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->path(), ca);
  EXPECT_GT(store->size(), 100u) << "the system bundle was not read";
  EXPECT_EQ(store->parsed(), 0u);
  int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(in, 0);
  ASSERT_GE(::inotify_add_watch(in, ca.c_str(), IN_OPEN), 0);
  auto srv = tlsServer(TestPki::get().corporate);
  for (int client = 0; client < 2; ++client) {
    client_ = std::make_unique<HttpClient>(loop_.get());
    for (int i = 0; i < 2; ++i) {
      FetchRequest req = request(true, srv->port(), "/ok");
      req.ca_file = ca;
      req.ca_store = store;
      FetchResult r = run(std::move(req));
      ASSERT_EQ(r.failed_at, FailedAt::None) << r.error << " " << r.detail;
      EXPECT_EQ(r.tls.ca_file_ok, std::optional<bool>(true));
      EXPECT_EQ(r.tls.public_root, std::optional<bool>(false));
    }
  }
  alignas(inotify_event) char buf[4096];
  EXPECT_LT(::read(in, buf, sizeof buf), 0) << "a client opened the CA file";
  EXPECT_EQ(srv->connections(), 4);
  EXPECT_GE(store->parsed(), 1u);
  EXPECT_LE(store->parsed(), 3u) << "certificates parsed that no chain named";
  ::close(in);
  std::filesystem::remove_all(dir);
}

TEST(CaStoreTest, AFileWithoutCertificatesOrNoFileIsAnErrorNamingIt) {
  const std::string dir = ::testing::TempDir() + "pw-castore-bad-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string empty = dir + "/empty.pem";
  { std::ofstream(empty) << "not a certificate\n"; }
  const std::string fifo = dir + "/fifo.pem";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {empty, dir + "/missing.pem", fifo}) {
    try {
      CaStore::load(path);
      ADD_FAILURE() << path << " loaded";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  std::filesystem::remove_all(dir);
}

TEST_F(FetchTest, CorporateCaWorksButIsNotAPublicRoot) {
  auto srv = tlsServer(TestPki::get().corporate);
  FetchResult r = run(request(true, srv->port(), "/ok"));
  ASSERT_EQ(r.failed_at, FailedAt::None) << r.error << " " << r.detail;
  EXPECT_EQ(r.http.code, 200);
  EXPECT_EQ(r.tls.status, LayerStatus::Ok);
  EXPECT_EQ(r.tls.ca_file_ok, std::optional<bool>(true));
  EXPECT_EQ(r.tls.public_root, std::optional<bool>(false));
  EXPECT_NE(r.tls.issuer.find("Corporate Inspection CA"), std::string::npos);
  EXPECT_NE(r.tls.verify_error.find("public roots"), std::string::npos) << r.tls.verify_error;
}

TEST_F(FetchTest, WithoutPublicRootsThePublicRootIsLeftUnset) {
  auto srv = tlsServer(TestPki::get().good);
  FetchRequest req = request(true, srv->port(), "/ok");
  req.public_roots = nullptr;
  FetchResult r = run(std::move(req));
  EXPECT_EQ(r.failed_at, FailedAt::None);
  EXPECT_FALSE(r.tls.public_root.has_value());
}

struct CertCase {
  const char* name;
  TestLeaf TestPki::*leaf;
  const char* error;
};
void PrintTo(const CertCase& c, std::ostream* os) { *os << c.name; }

class FetchCertTest : public FetchTest, public ::testing::WithParamInterface<CertCase> {};

TEST_P(FetchCertTest, BadCertificateFailsTlsAndNothingIsSent) {
  const CertCase& c = GetParam();
  auto srv = tlsServer(TestPki::get().*(c.leaf));
  // Against the CA file as libcurl reads it, and against the engine's parsed
  // store (CaStore) with the file out of reach: the same refusal.
  for (const bool parsed : {false, true}) {
    SCOPED_TRACE(parsed ? "parsed store" : "ca_file");
    FetchRequest req = request(true, srv->port(), "/echo");
    req.headers = {{"Authorization", "Bearer " + kKey}};
    req.scrub = {kKey};
    if (parsed) {
      req.ca_store = CaStore::load(TestPki::get().ca_file);
      req.ca_file = "/nonexistent/pathwatch-ca.pem";
    }
    FetchResult r = run(std::move(req));
    EXPECT_EQ(r.failed_at, FailedAt::Tls);
    EXPECT_EQ(r.error, c.error) << r.detail;
    EXPECT_EQ(r.tls.status, LayerStatus::Fail);
    EXPECT_EQ(r.tls.error, c.error);
    EXPECT_EQ(r.tls.ca_file_ok, std::optional<bool>(false));
    EXPECT_EQ(r.tls.public_root, std::optional<bool>(false));
    EXPECT_FALSE(r.tls.verify_error.empty());
    EXPECT_FALSE(r.tls.chain.empty()) << "the chain is evidence even when it fails";
    EXPECT_EQ(r.http.status, LayerStatus::Skipped);
    EXPECT_EQ(r.http.code, 0);
  }
  EXPECT_EQ(srv->requests(), 0) << "a request went out over an unverified connection";
}

INSTANTIATE_TEST_SUITE_P(
    Certificates, FetchCertTest,
    ::testing::Values(CertCase{"unknown_ca", &TestPki::unknown_ca, "tls_unknown_authority"},
                      CertCase{"expired", &TestPki::expired, "tls_expired"},
                      CertCase{"not_yet_valid", &TestPki::not_yet, "tls_not_yet_valid"},
                      CertCase{"wrong_name", &TestPki::wrong_name, "tls_hostname_mismatch"}),
    [](const auto& tp) { return std::string(tp.param.name); });

struct HandshakeCase {
  const char* name;
  OnAccept on_accept;
  const char* error;
};
void PrintTo(const HandshakeCase& c, std::ostream* os) { *os << c.name; }

class FetchHandshakeTest : public FetchTest, public ::testing::WithParamInterface<HandshakeCase> {};

TEST_P(FetchHandshakeTest, BrokenHandshakeFailsTls) {
  const HandshakeCase& c = GetParam();
  auto srv = tlsServer(TestPki::get().good, c.on_accept);
  FetchResult r = run(request(true, srv->port(), "/ok"));
  EXPECT_EQ(r.failed_at, FailedAt::Tls);
  EXPECT_EQ(r.error, c.error) << r.detail;
  EXPECT_EQ(r.tls.status, LayerStatus::Fail);
  EXPECT_FALSE(r.detail.empty());
}

INSTANTIATE_TEST_SUITE_P(Handshakes, FetchHandshakeTest,
                         ::testing::Values(HandshakeCase{"garbage", OnAccept::RawGarbage, "tls_protocol_error"},
                                           HandshakeCase{"reset", OnAccept::Reset, "connection_reset"},
                                           HandshakeCase{"close", OnAccept::Close, "tls_handshake_failed"}),
                         [](const auto& tp) { return std::string(tp.param.name); });

struct HttpFailCase {
  const char* name;
  bool tls;
  const char* path;
  const char* error;
};
void PrintTo(const HttpFailCase& c, std::ostream* os) { *os << c.name; }

class FetchHttpFailTest : public FetchTest, public ::testing::WithParamInterface<HttpFailCase> {};

TEST_P(FetchHttpFailTest, BrokenExchangeFailsHttp) {
  const HttpFailCase& c = GetParam();
  auto srv = c.tls ? tlsServer(TestPki::get().good) : plainServer();
  FetchRequest req = request(c.tls, srv->port(), c.path);
  req.timeout = std::chrono::milliseconds(1500);
  FetchResult r = run(std::move(req));
  EXPECT_EQ(r.failed_at, FailedAt::Http);
  EXPECT_EQ(r.error, c.error) << r.detail;
  EXPECT_EQ(r.http.status, LayerStatus::Fail);
  EXPECT_EQ(r.http.error, c.error);
  if (c.tls) {
    EXPECT_EQ(r.tls.status, LayerStatus::Ok);
    EXPECT_EQ(r.tls.ca_file_ok, std::optional<bool>(true));
  }
  EXPECT_EQ(srv->requests(), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Exchanges, FetchHttpFailTest,
    ::testing::Values(HttpFailCase{"plain_garbage", false, "/garbage", "bad_response"},
                      HttpFailCase{"plain_close", false, "/close", "empty_reply"},
                      HttpFailCase{"plain_reset", false, "/reset", "connection_reset"},
                      HttpFailCase{"plain_hang", false, "/hang", "timeout"},
                      HttpFailCase{"plain_huge_headers", false, "/headers/100", "headers_too_large"},
                      HttpFailCase{"tls_garbage", true, "/garbage", "bad_response"},
                      HttpFailCase{"tls_close", true, "/close", "empty_reply"},
                      HttpFailCase{"tls_reset", true, "/reset", "connection_reset"},
                      HttpFailCase{"tls_hang", true, "/hang", "timeout"}),
    [](const auto& tp) { return std::string(tp.param.name); });

TEST_F(FetchTest, HugeBodyIsCappedAndTheAnswerKept) {
  auto srv = tlsServer(TestPki::get().good);
  FetchResult r = run(request(true, srv->port(), "/big/100"));
  EXPECT_EQ(r.failed_at, FailedAt::None) << r.error << " " << r.detail;
  EXPECT_EQ(r.http.status, LayerStatus::Ok);
  EXPECT_EQ(r.http.code, 200);
  EXPECT_TRUE(r.http.body_truncated);
  EXPECT_EQ(r.http.body.size(), 64u * 1024);
  EXPECT_GT(r.http.body_bytes, r.http.body.size());
  EXPECT_LT(r.http.body_bytes, 100u << 20) << "the transfer should have stopped early";
}

TEST_F(FetchTest, BodyCapIsTheRequests) {
  auto srv = plainServer();
  FetchRequest req = request(false, srv->port(), "/big/1");
  req.body_cap = 1000;
  FetchResult r = run(std::move(req));
  EXPECT_EQ(r.failed_at, FailedAt::None);
  EXPECT_EQ(r.http.body, std::string(1000, 'x'));
  EXPECT_TRUE(r.http.body_truncated);
}

TEST_F(FetchTest, RedirectIsAnAnswerNotFollowed) {
  auto srv = tlsServer(TestPki::get().good);
  FetchResult r = run(request(true, srv->port(), "/status/302"));
  EXPECT_EQ(r.failed_at, FailedAt::None);
  EXPECT_EQ(r.http.code, 302);
  const std::string* loc = header(r.http.headers, "Location");
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(*loc, "https://elsewhere.pathwatch.test/next");
  EXPECT_EQ(srv->requests(), 1);
}

TEST_F(FetchTest, ErrorStatusIsAnAnswer) {
  auto srv = plainServer();
  FetchResult r = run(request(false, srv->port(), "/status/503"));
  EXPECT_EQ(r.failed_at, FailedAt::None);
  EXPECT_EQ(r.http.status, LayerStatus::Ok);
  EXPECT_EQ(r.http.code, 503);
  EXPECT_EQ(r.http.body, "{\"code\":503}");
}

TEST_F(FetchTest, SecretsAreScrubbedFromEverythingKept) {
  auto srv = tlsServer(TestPki::get().good);
  FetchRequest req = request(true, srv->port(), "/echo?key=" + kKey);
  req.method = "POST";
  req.body = "{}";
  req.headers = {{"Authorization", "Bearer " + kKey}, {"Content-Type", "application/json"}};
  req.scrub = {kKey, ""};
  FetchResult r = run(std::move(req));
  ASSERT_EQ(r.failed_at, FailedAt::None) << r.error;
  // The key went out (the server saw it) ...
  EXPECT_NE(srv->lastRequestHead().find(kKey), std::string::npos);
  // ... and nothing kept carries it.
  EXPECT_EQ(r.http.body.find(kKey), std::string::npos);
  EXPECT_NE(r.http.body.find(fp(kKey)), std::string::npos) << r.http.body;
  const std::string* echoed = header(r.http.headers, "X-Echo-Authorization");
  ASSERT_NE(echoed, nullptr);
  EXPECT_EQ(*echoed, "Bearer " + fp(kKey));
  EXPECT_EQ(r.http.url.find(kKey), std::string::npos);
  EXPECT_EQ(r.http.method, "POST");
}

TEST_F(FetchTest, SecretCutByTheBodyCapIsScrubbedToo) {
  auto srv = plainServer();
  FetchRequest req = request(false, srv->port(), "/echo");
  req.headers = {{"Authorization", kKey}};
  req.scrub = {kKey};
  req.body_cap = 30;  // {"authorization":" is 18 bytes: the cap cuts the key after 12
  FetchResult r = run(std::move(req));
  ASSERT_EQ(r.failed_at, FailedAt::None) << r.error;
  EXPECT_TRUE(r.http.body_truncated);
  EXPECT_EQ(r.http.body.find(kKey.substr(0, 12)), std::string::npos) << r.http.body;
}

TEST_F(FetchTest, RefusedConnectFailsTcp) {
  FetchResult r = run(request(true, fetchtest::closedPort(), "/ok"));
  EXPECT_EQ(r.failed_at, FailedAt::Tcp);
  EXPECT_EQ(r.error, "connection_refused") << r.detail;
  EXPECT_EQ(r.tls.status, LayerStatus::Skipped);
  EXPECT_EQ(r.http.status, LayerStatus::Skipped);
}

// A listener whose accept queue is full: the kernel drops further SYNs, so a
// connect to it neither succeeds nor is refused (a blackhole on loopback).
class FullBacklog {
 public:
  FullBacklog() {
    listen_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    listen(listen_, 0);
    socklen_t len = sizeof sa;
    getsockname(listen_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    for (int& fd : fillers_) {  // fill the queue (backlog 0 holds one)
      fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    }
  }
  ~FullBacklog() {
    for (int fd : fillers_) close(fd);
    close(listen_);
  }
  uint16_t port() const { return port_; }

 private:
  int listen_ = -1;
  int fillers_[2] = {-1, -1};
  uint16_t port_ = 0;
};

TEST_F(FetchTest, ConnectTimeoutFailsTcpOrProxy) {
  FullBacklog hole;
  FetchRequest req = request(true, hole.port(), "/ok");
  req.connect_timeout = std::chrono::milliseconds(500);
  FetchResult r = run(std::move(req));
  EXPECT_EQ(r.failed_at, FailedAt::Tcp) << r.error << " " << r.detail;
  EXPECT_EQ(r.error, "timeout") << r.detail;

  RouteConfig route = proxyRoute("http", hole.port());
  FetchRequest via = request(true, 443, "/ok");
  via.route = &route;
  via.connect_timeout = std::chrono::milliseconds(500);
  FetchResult p = run(std::move(via));
  EXPECT_EQ(p.failed_at, FailedAt::Proxy) << p.error << " " << p.detail;
  EXPECT_EQ(p.error, "proxy_unreachable");
  EXPECT_NE(p.detail.find("timeout"), std::string::npos) << p.detail;
}

TEST_F(FetchTest, BogusInterfaceFailsLoudlyWithoutFallback) {
  auto srv = plainServer();
  RouteConfig route;
  route.name = "broken";
  route.kind = RouteKind::Interface;
  route.interface = "pwnosuchif0";
  FetchRequest req = request(false, srv->port(), "/ok");
  req.route = &route;
  FetchResult r = run(std::move(req));
  EXPECT_EQ(r.failed_at, FailedAt::Tcp);
  EXPECT_TRUE(r.error == "no_such_device" || r.error == "bind_device_refused") << r.error;
  EXPECT_EQ(srv->connections(), 0) << "the request left by the default path";
}

TEST_F(FetchTest, SourceAddressRouteLeavesFromThatAddress) {
  auto srv = plainServer();
  RouteConfig route;
  route.name = "second-source";
  route.kind = RouteKind::SourceIp;
  route.source_ip = "127.0.0.2";
  FetchRequest req = request(false, srv->port(), "/ok");
  req.route = &route;
  FetchResult r = run(std::move(req));
  EXPECT_EQ(r.failed_at, FailedAt::None) << r.error << " " << r.detail;
  EXPECT_EQ(r.http.code, 200);
}

TEST_F(FetchTest, SourceAddressNotOnThisHostFailsLoudly) {
  auto srv = plainServer();
  RouteConfig route;
  route.name = "gone";
  route.kind = RouteKind::SourceIp;
  route.source_ip = "198.18.0.99";  // bind() fails locally: nothing is sent
  FetchRequest req = request(false, srv->port(), "/ok");
  req.route = &route;
  FetchResult r = run(std::move(req));
  EXPECT_EQ(r.failed_at, FailedAt::Tcp);
  EXPECT_EQ(r.error, "bind_source_failed") << r.detail;
  EXPECT_EQ(srv->connections(), 0);
}

// ---- proxies ----


TEST_F(FetchTest, TunnelThroughConnectProxy) {
  auto srv = tlsServer(TestPki::get().good);
  FakeProxyOptions po;
  po.target_port = srv->port();
  FakeConnectProxy proxy(po);
  RouteConfig route = proxyRoute("http", proxy.port());
  FetchRequest req = request(true, srv->port(), "/ok");
  req.route = &route;
  FetchResult r = run(std::move(req));
  ASSERT_EQ(r.failed_at, FailedAt::None) << r.error << " " << r.detail;
  EXPECT_EQ(r.http.code, 200);
  EXPECT_EQ(r.http.proxy_code, 200);
  EXPECT_EQ(r.tls.public_root, std::optional<bool>(true));
  EXPECT_EQ(header(r.http.headers, "Via"), nullptr) << "the CONNECT answer's headers leaked in";
  const std::string* via = header(r.proxy_headers, "Via");
  ASSERT_NE(via, nullptr);
  EXPECT_EQ(*via, "1.1 fakeproxy");
  EXPECT_EQ(r.connected_address, "127.0.0.1:" + std::to_string(proxy.port()));
  EXPECT_EQ(proxy.lastConnectHead().rfind(std::string("CONNECT ") + kTestHost + ":", 0), 0u)
      << proxy.lastConnectHead();
}

struct ProxyRefusal {
  const char* name;
  int status;
  const char* error;
};
void PrintTo(const ProxyRefusal& c, std::ostream* os) { *os << c.name; }

class FetchProxyRefusalTest : public FetchTest, public ::testing::WithParamInterface<ProxyRefusal> {};

TEST_P(FetchProxyRefusalTest, ProxyRefusesConnect) {
  const ProxyRefusal& c = GetParam();
  auto srv = tlsServer(TestPki::get().good);
  FakeProxyOptions po;
  po.connect_status = c.status;
  po.target_port = srv->port();
  FakeConnectProxy proxy(po);
  RouteConfig route = proxyRoute("http", proxy.port());
  FetchRequest req = request(true, srv->port(), "/ok");
  req.route = &route;
  FetchResult r = run(std::move(req));
  EXPECT_EQ(r.failed_at, FailedAt::Proxy);
  EXPECT_EQ(r.error, c.error) << r.detail;
  EXPECT_EQ(r.http.proxy_code, c.status);
  EXPECT_EQ(r.http.code, 0);
  EXPECT_EQ(r.tls.status, LayerStatus::Skipped);
  EXPECT_EQ(srv->connections(), 0);
}

INSTANTIATE_TEST_SUITE_P(Refusals, FetchProxyRefusalTest,
                         ::testing::Values(ProxyRefusal{"auth_required", 407, "proxy_auth_required"},
                                           ProxyRefusal{"bad_gateway", 502, "proxy_refused"},
                                           ProxyRefusal{"forbidden", 403, "proxy_refused"}),
                         [](const auto& tp) { return std::string(tp.param.name); });

TEST_F(FetchTest, UnreachableProxyFailsProxy) {
  RouteConfig route = proxyRoute("http", fetchtest::closedPort());
  FetchRequest req = request(true, 443, "/ok");
  req.route = &route;
  FetchResult r = run(std::move(req));
  EXPECT_EQ(r.failed_at, FailedAt::Proxy);
  EXPECT_EQ(r.error, "proxy_unreachable");
  EXPECT_NE(r.detail.find("connection_refused"), std::string::npos) << r.detail;
}

TEST_F(FetchTest, ProxyNamedByHostIsPinnedByTheEngine) {
  auto srv = tlsServer(TestPki::get().good);
  FakeProxyOptions po;
  po.target_port = srv->port();
  FakeConnectProxy proxy(po);
  RouteConfig route = proxyRoute("http", proxy.port());
  route.proxy_host = "proxy.pathwatch.test";
  route.proxy = "http://proxy.pathwatch.test:" + std::to_string(proxy.port());
  FetchRequest req = request(true, srv->port(), "/ok");
  req.route = &route;
  req.proxy_pin_address = "127.0.0.1";
  FetchResult r = run(std::move(req));
  ASSERT_EQ(r.failed_at, FailedAt::None) << r.error << " " << r.detail;
  EXPECT_EQ(r.http.code, 200);
  EXPECT_EQ(proxy.connections(), 1);
}

TEST_F(FetchTest, ProxyThatNeverAnswersTimesOutAtTheProxy) {
  for (auto kind : {FakeProxyOptions::Kind::HttpConnect, FakeProxyOptions::Kind::Socks5}) {
    FakeProxyOptions po;
    po.kind = kind;
    po.hang = true;
    FakeConnectProxy proxy(po);
    RouteConfig route = proxyRoute(kind == FakeProxyOptions::Kind::Socks5 ? "socks5" : "http", proxy.port());
    FetchRequest req = request(true, 443, "/ok");
    req.route = &route;
    req.timeout = std::chrono::milliseconds(1000);
    FetchResult r = run(std::move(req));
    EXPECT_EQ(r.failed_at, FailedAt::Proxy) << route.proxy << " " << r.error << " " << r.detail;
    EXPECT_EQ(r.error, "timeout") << route.proxy << " " << r.detail;
  }
}

TEST_F(FetchTest, EnvironmentProxySettingsNeverChangeTheRoute) {
  auto srv = tlsServer(TestPki::get().good);
  const std::string dead = "http://127.0.0.1:" + std::to_string(fetchtest::closedPort());
  for (const char* v : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    setenv(v, dead.c_str(), 1);
  }
  setenv("no_proxy", "*", 1);
  setenv("NO_PROXY", "*", 1);
  // The default route goes direct despite *_proxy ...
  FetchResult direct = run(request(true, srv->port(), "/ok"));
  // ... and a proxy route uses its proxy despite NO_PROXY.
  FakeProxyOptions po;
  po.target_port = srv->port();
  FakeConnectProxy proxy(po);
  RouteConfig route = proxyRoute("http", proxy.port());
  FetchRequest req = request(true, srv->port(), "/ok");
  req.route = &route;
  FetchResult via = run(std::move(req));
  for (const char* v : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"}) {
    unsetenv(v);
  }
  EXPECT_EQ(direct.failed_at, FailedAt::None) << direct.error << " " << direct.detail;
  EXPECT_EQ(via.failed_at, FailedAt::None) << via.error << " " << via.detail;
  EXPECT_EQ(via.http.proxy_code, 200);
  EXPECT_EQ(proxy.connections(), 1);
}

TEST_F(FetchTest, PlainHttpThroughProxyIsForwardedNotTunnelled) {
  auto srv = plainServer();
  FakeProxyOptions po;
  po.connect_status = 502;  // would refuse a CONNECT; a plain GET gets the same answer
  FakeConnectProxy proxy(po);
  RouteConfig route = proxyRoute("http", proxy.port());
  FetchRequest req = request(false, srv->port(), "/ok");
  req.route = &route;
  FetchResult r = run(std::move(req));
  // The proxy's own answer is the HTTP answer here (classify judges who wrote it).
  EXPECT_EQ(r.failed_at, FailedAt::None) << r.error;
  EXPECT_EQ(r.http.code, 502);
  EXPECT_EQ(r.http.proxy_code, 0);
  EXPECT_EQ(proxy.lastConnectHead().rfind("GET http://", 0), 0u) << proxy.lastConnectHead();
}

TEST_F(FetchTest, Socks5RelayWorks) {
  auto srv = tlsServer(TestPki::get().good);
  FakeProxyOptions po;
  po.kind = FakeProxyOptions::Kind::Socks5;
  po.target_port = srv->port();
  FakeConnectProxy proxy(po);
  RouteConfig route = proxyRoute("socks5", proxy.port());
  FetchRequest req = request(true, srv->port(), "/ok");
  req.route = &route;
  FetchResult r = run(std::move(req));
  ASSERT_EQ(r.failed_at, FailedAt::None) << r.error << " " << r.detail;
  EXPECT_EQ(r.http.code, 200);
  EXPECT_EQ(r.tls.ca_file_ok, std::optional<bool>(true));
}

TEST_F(FetchTest, Socks5TargetRefusedIsTcpAsReportedByTheProxy) {
  FakeProxyOptions po;
  po.kind = FakeProxyOptions::Kind::Socks5;
  po.socks_reply = 5;  // connection refused
  FakeConnectProxy proxy(po);
  RouteConfig route = proxyRoute("socks5", proxy.port());
  FetchRequest req = request(true, 443, "/ok");
  req.route = &route;
  FetchResult r = run(std::move(req));
  EXPECT_EQ(r.failed_at, FailedAt::Tcp);
  EXPECT_EQ(r.error, "connection_refused");
  EXPECT_NE(r.detail.find("proxy"), std::string::npos) << r.detail;
}

TEST_F(FetchTest, Socks5NotAllowedIsProxyRefused) {
  FakeProxyOptions po;
  po.kind = FakeProxyOptions::Kind::Socks5;
  po.socks_reply = 2;  // not allowed by ruleset
  FakeConnectProxy proxy(po);
  RouteConfig route = proxyRoute("socks5", proxy.port());
  FetchRequest req = request(true, 443, "/ok");
  req.route = &route;
  FetchResult r = run(std::move(req));
  EXPECT_EQ(r.failed_at, FailedAt::Proxy);
  EXPECT_EQ(r.error, "proxy_refused") << r.detail;
}

// ---- request validation, lifecycle ----

TEST_F(FetchTest, BadRequestsFailWithoutSendingAndStillLater) {
  auto srv = plainServer();
  struct Case {
    std::string url;
    HeaderList headers;
    std::string error;
  } cases[] = {
      {"ftp://" + std::string(kTestHost) + "/x", {}, "unsupported_scheme"},
      {"not a url", {}, "invalid_url"},
      {"http://" + std::string(kTestHost) + ":" + std::to_string(srv->port()) + "/ok",
       {{"X-Bad", "a\r\nInjected: 1"}},
       "invalid_header"},
  };
  for (const Case& c : cases) {
    FetchRequest req = request(false, srv->port(), "/ok");
    req.url = c.url;
    req.headers = c.headers;
    FetchResult r = run(std::move(req));
    EXPECT_EQ(r.failed_at, FailedAt::Http) << c.url;
    EXPECT_EQ(r.error, c.error) << c.url;
  }
  EXPECT_EQ(srv->connections(), 0);
}

TEST_F(FetchTest, ManyConcurrentFetchesEachCompleteOnce) {
  auto srv = tlsServer(TestPki::get().good);
  auto plain = plainServer();
  constexpr int kN = 24;
  std::vector<int> calls(kN, 0);
  int ok = 0;
  std::vector<FetchHandle> handles;
  for (int i = 0; i < kN; ++i) {
    bool tls = i % 2 == 0;
    handles.push_back(client_->fetch(request(tls, tls ? srv->port() : plain->port(), "/ok"), [&, i](FetchResult r) {
      ++calls[i];
      if (r.failed_at == FailedAt::None && r.http.code == 200) ++ok;
    }));
  }
  EXPECT_EQ(client_->inFlight(), static_cast<std::size_t>(kN));
  EXPECT_TRUE(loop_.runUntil([&] { return client_->inFlight() == 0; }, 30000));
  EXPECT_EQ(ok, kN);
  for (int i = 0; i < kN; ++i) EXPECT_EQ(calls[i], 1) << i;
}

TEST_F(FetchTest, CancelRunsNoCallback) {
  auto srv = plainServer();
  bool called = false;
  FetchHandle handle = client_->fetch(request(false, srv->port(), "/hang"), [&](FetchResult) { called = true; });
  ASSERT_TRUE(loop_.runUntil([&] { return srv->requests() == 1; }, 10000));
  handle.reset();
  EXPECT_EQ(client_->inFlight(), 0u);
  // A later fetch completes; the cancelled one never does.
  FetchResult r = run(request(false, srv->port(), "/ok"));
  EXPECT_EQ(r.http.code, 200);
  EXPECT_FALSE(called);
}

TEST_F(FetchTest, CancelOfAFinishedButUndeliveredResult) {
  bool called = false;
  FetchRequest req = request(false, 80, "/ok");
  req.url = "ftp://nowhere/";
  FetchHandle handle = client_->fetch(std::move(req), [&](FetchResult) { called = true; });
  handle.reset();
  loop_.drain();
  EXPECT_FALSE(called);
  EXPECT_EQ(client_->inFlight(), 0u);
}

TEST_F(FetchTest, DestroyingTheClientMidTransferRunsNoCallbackAndClosesEverything) {
  auto srv = tlsServer(TestPki::get().good);
  bool called = false;
  std::vector<FetchHandle> handles;
  for (int i = 0; i < 3; ++i) {
    handles.push_back(client_->fetch(request(true, srv->port(), "/hang"), [&](FetchResult) { called = true; }));
  }
  ASSERT_TRUE(loop_.runUntil([&] { return srv->requests() == 3; }, 10000));
  client_.reset();
  loop_.drain();
  EXPECT_FALSE(called);
  // TestLoop's destructor checks that no handle was left open.
}

TEST_F(FetchTest, ACallbackMayStartTheNextFetch) {
  auto srv = plainServer();
  int done = 0;
  FetchHandle second;
  FetchHandle first = client_->fetch(request(false, srv->port(), "/ok"), [&](FetchResult) {
    ++done;
    second = client_->fetch(request(false, srv->port(), "/status/204"), [&](FetchResult r) {
      EXPECT_EQ(r.http.code, 204);
      ++done;
    });
  });
  EXPECT_TRUE(loop_.runUntil([&] { return done == 2; }, 20000));
}

}  // namespace
}  // namespace pathwatch
