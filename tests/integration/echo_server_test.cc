// pathwatch echo-server against real sockets: the server runs on its own libuv
// loop (in a thread, or as the `pathwatch` binary), clients are plain blocking
// sockets with receive/send timeouts so nothing can hang.
#include "providers/provider_def.h"
#include "echo/echo_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "support/loopback_client.h"

#include "echo.h"
#include "pathwatch/ssl_ptr.h"
#include "support/test_pki.h"

namespace pathwatch {
namespace {

// Runs an EchoServer on its own loop in a thread. Everything on the loop is
// touched only by that thread once it runs; stop() crosses over with uv_async.
class ServerThread {
 public:
  explicit ServerThread(EchoServerOptions options) {
    options.log = [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(log_mutex_);
      log_.emplace_back(line);
    };
    uv_loop_init(&loop_);
    server_ = std::make_unique<EchoServer>(&loop_, std::move(options));
    started_ = server_->start(&error_);
    port_ = server_->boundPort();
    renegotiation_disabled_ = server_->renegotiationDisabled();
    uv_async_init(&loop_, &stop_async_, [](uv_async_t* a) noexcept {
      auto* self = static_cast<ServerThread*>(a->data);
      self->server_->stop();
      uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
    });
    stop_async_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~ServerThread() {
    uv_async_send(&stop_async_);
    thread_.join();
    server_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  bool started() const { return started_; }
  const std::string& error() const { return error_; }
  uint16_t port() const { return port_; }
  bool renegotiationDisabled() const { return renegotiation_disabled_; }
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return log_;
  }

 private:
  uv_loop_t loop_{};
  uv_async_t stop_async_{};
  std::unique_ptr<EchoServer> server_;
  bool started_ = false;
  bool renegotiation_disabled_ = false;
  std::string error_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

using Client = testclient::LoopbackClient;
using Response = testclient::HttpResponse;
Response parseResponse(const std::string& raw) { return testclient::parseHttpResponse(raw); }

class EchoServerTest : public ::testing::Test {
 protected:
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }
  static EchoServerOptions options() {
    EchoServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    return o;
  }
};

TEST_F(EchoServerTest, EchoesEveryHeaderWithCaseAndOrder) {
  ServerThread server(options());
  ASSERT_TRUE(server.started()) << server.error();
  // What the engine would send, over a path that changes nothing.
  const EchoRequest sent = buildEchoRequest(
      "http://127.0.0.1:" + std::to_string(server.port()) + "/echo", {&providers::anthropic_provider}, 99);
  std::string request = "GET /echo?probe=1 HTTP/1.1\r\n";
  for (const auto& [name, value] : sent.headers) request += name + ": " + value + "\r\n";
  request += "x-dup: 1\r\nX-DUP: 2\r\n\r\n";

  Client c(server.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(request));
  const auto read = c.readAll();
  EXPECT_TRUE(read.eof);
  const Response resp = parseResponse(read.data);
  ASSERT_EQ(resp.status, 200) << read.data;
  EXPECT_NE(resp.head.find("Content-Type: application/json"), std::string::npos);

  const auto j = nlohmann::json::parse(resp.body);
  EXPECT_EQ(j["request_line"], "GET /echo?probe=1 HTTP/1.1");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["path"], "/echo?probe=1");
  EXPECT_EQ(j["client"]["address"], "127.0.0.1");
  EXPECT_GT(j["client"]["port"].get<int>(), 0);
  EXPECT_EQ(j["tls"], false);
  HeaderList want = sent.headers;
  want.emplace_back("x-dup", "1");
  want.emplace_back("X-DUP", "2");
  HeaderList got;
  for (const auto& pair : j["headers"]) got.emplace_back(pair[0], pair[1]);
  EXPECT_EQ(got, want);

  // The client side reads it back as "nothing changed" (x-dup aside: not sent by it).
  EchoLayer layer;
  compareEcho(sent, resp.status, {}, resp.body, layer);
  EXPECT_EQ(layer.added, std::vector<std::string>{"x-dup"});
  EXPECT_TRUE(layer.removed.empty());
  EXPECT_TRUE(layer.changed.empty());
  EXPECT_TRUE(layer.case_changed.empty());
  EXPECT_EQ(layer.client_address, "127.0.0.1");

  // The log has one line for it, names but no values and no query.
  const auto log = server.log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find(" 200 "), std::string::npos) << log[0];
  EXPECT_EQ(log[0].find(sent.canaries.front()), std::string::npos) << log[0];
  EXPECT_EQ(log[0].find("probe=1"), std::string::npos) << log[0];
}

TEST_F(EchoServerTest, EchoesARequestSentByteByByteWithBody) {
  ServerThread server(options());
  ASSERT_TRUE(server.started()) << server.error();
  Client c(server.port());
  const std::string req =
      "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-Api-Key: sk-ant-api03-made-up\r\n\r\nhello";
  for (char ch : req) ASSERT_TRUE(c.send(std::string_view(&ch, 1)));
  const Response resp = parseResponse(c.readAll().data);
  ASSERT_EQ(resp.status, 200);
  const auto j = nlohmann::json::parse(resp.body);
  EXPECT_EQ(j["headers"].size(), 3u);
  EXPECT_EQ(j["headers"][2][0], "X-Api-Key");
}

struct GarbageCase {
  const char* name;
  std::string bytes;
  int status;
  const char* reason;
};

class EchoServerGarbageTest : public EchoServerTest,
                              public ::testing::WithParamInterface<GarbageCase> {};

TEST_P(EchoServerGarbageTest, AnswersErrorAndCloses) {
  ServerThread server(options());
  ASSERT_TRUE(server.started()) << server.error();
  {
    Client c(server.port());
    ASSERT_TRUE(c.send(GetParam().bytes));
    const auto read = c.readAll();
    EXPECT_TRUE(read.eof) << "the server must close after an error";
    const Response resp = parseResponse(read.data);
    ASSERT_EQ(resp.status, GetParam().status) << read.data;
    const auto j = nlohmann::json::parse(resp.body);
    EXPECT_EQ(j["error"], GetParam().reason);
  }
  // And it goes on serving.
  Client next(server.port());
  ASSERT_TRUE(next.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(parseResponse(next.readAll().data).status, 200);
}

INSTANTIATE_TEST_SUITE_P(
    Table, EchoServerGarbageTest,
    ::testing::Values(
        GarbageCase{"no_version", "HELLO\r\n\r\n", 400, "bad_request_line"},
        GarbageCase{"missing_colon", "GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n", 400,
                    "missing_colon"},
        GarbageCase{"tls_hello_on_plain", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", 12),
                    400, "control_character"},
        GarbageCase{"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "unsupported_version"},
        GarbageCase{"obs_fold", "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n  c\r\n\r\n", 400, "obs_fold"},
        GarbageCase{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
                    413, "chunked_body_not_supported"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST_F(EchoServerTest, HeaderFloodIsCutShortAndTheServerGoesOn) {
  ServerThread server(options());
  ASSERT_TRUE(server.started()) << server.error();
  {
    Client flood(server.port());
    ASSERT_TRUE(flood.connected());
    ASSERT_TRUE(flood.send("GET / HTTP/1.1\r\nHost: h\r\nX-Flood: "));
    const std::string chunk(64 * 1024, 'a');
    std::size_t sent = 0;
    // 10 MB at most; the server stops taking bytes long before.
    while (sent < 10 * 1024 * 1024 && flood.send(chunk)) sent += chunk.size();
    EXPECT_LT(sent, 10u * 1024 * 1024) << "the server read the whole flood";
    const auto read = flood.readAll();
    EXPECT_FALSE(read.timed_out);
    const Response resp = parseResponse(read.data);
    EXPECT_EQ(resp.status, 431) << read.data.substr(0, 200);
  }
  Client next(server.port());
  ASSERT_TRUE(next.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(parseResponse(next.readAll().data).status, 200);
}

TEST_F(EchoServerTest, SilentAndSlowClientsAreClosedAfterTheReadTimeout) {
  EchoServerOptions o = options();
  o.read_timeout_ms = 200;
  ServerThread server(o);
  ASSERT_TRUE(server.started()) << server.error();
  Client silent(server.port());
  Client slow(server.port());
  ASSERT_TRUE(slow.send("GET / HTTP/1.1\r\nHo"));
  const auto a = silent.readAll();
  const auto b = slow.readAll();
  EXPECT_TRUE(a.eof);
  EXPECT_TRUE(a.data.empty());
  EXPECT_TRUE(b.eof);
  EXPECT_TRUE(b.data.empty());
  bool logged = false;
  for (const auto& line : server.log()) logged |= line.find("no complete request") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST_F(EchoServerTest, ManyConcurrentClients) {
  constexpr int kClients = 64;
  EchoServerOptions o = options();
  o.max_per_address = kClients;  // all from 127.0.0.1 here
  ServerThread server(o);
  ASSERT_TRUE(server.started()) << server.error();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(server.port()));
    ASSERT_TRUE(clients.back()->connected());
  }
  // Every request is half-sent first, so all are open on the server at once.
  for (int i = 0; i < kClients; ++i) ASSERT_TRUE(clients[i]->send("GET /c HTTP/1.1\r\n"));
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(clients[i]->send("Host: h\r\nX-Client: " + std::to_string(i) + "\r\n\r\n"));
  }
  for (int i = 0; i < kClients; ++i) {
    const Response resp = parseResponse(clients[i]->readAll().data);
    ASSERT_EQ(resp.status, 200) << "client " << i;
    const auto j = nlohmann::json::parse(resp.body);
    EXPECT_EQ(j["headers"][1][1], std::to_string(i));
  }
}

TEST_F(EchoServerTest, BeyondMaxClientsAcceptAndClose) {
  EchoServerOptions o = options();
  o.max_clients = 2;
  o.read_timeout_ms = 60'000;  // an EOF below is the refusal, not the deadline
  ServerThread server(o);
  ASSERT_TRUE(server.started()) << server.error();
  auto first = std::make_unique<Client>(server.port());
  Client second(server.port());
  Client third(server.port());
  const auto refused = third.readAll();
  EXPECT_TRUE(refused.eof);
  EXPECT_FALSE(refused.timed_out);
  // Once a slot frees up, clients are served again (bounded retries: the
  // server learns of the close on its next loop turn).
  first.reset();
  int status = 0;
  for (int attempt = 0; attempt < 200 && status != 200; ++attempt) {
    Client c(server.port());
    if (c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")) status = parseResponse(c.readAll().data).status;
  }
  EXPECT_EQ(status, 200);
  bool logged = false;
  for (const auto& line : server.log()) logged |= line.find("refused a client") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST_F(EchoServerTest, OneAddressCannotTakeEveryPlace) {
  EchoServerOptions o = options();
  o.read_timeout_ms = 60'000;  // an EOF below is the refusal, not the deadline
  ASSERT_EQ(o.max_per_address, 16u) << "the default";
  ServerThread server(o);
  ASSERT_TRUE(server.started()) << server.error();
  std::vector<std::unique_ptr<Client>> hogs;
  for (int i = 0; i < 16; ++i) {
    hogs.push_back(std::make_unique<Client>(server.port(), "127.0.0.1"));
    ASSERT_TRUE(hogs.back()->connected());
  }
  // Let the server accept them all before the 17th arrives.
  ASSERT_TRUE(hogs[0]->send("GET /first HTTP/1.1\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Client seventeenth(server.port(), "127.0.0.1");
  const auto refused = seventeenth.readAll();
  EXPECT_TRUE(refused.eof);
  EXPECT_FALSE(refused.timed_out) << "closed at once, not at the deadline";
  EXPECT_TRUE(refused.data.empty());
  // Another address is served meanwhile.
  Client other(server.port(), "127.0.0.2");
  ASSERT_TRUE(other.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  const Response resp = parseResponse(other.readAll().data);
  EXPECT_EQ(resp.status, 200);
  bool logged = false;
  for (const auto& line : server.log())
    logged |= line.find("refused 127.0.0.1") != std::string::npos &&
              line.find("16 connections from that address") != std::string::npos;
  EXPECT_TRUE(logged);
  // A hog that goes frees its place for the same address.
  hogs.pop_back();
  int status = 0;
  for (int attempt = 0; attempt < 200 && status != 200; ++attempt) {
    Client c(server.port(), "127.0.0.1");
    if (c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")) status = parseResponse(c.readAll().data).status;
  }
  EXPECT_EQ(status, 200);
}

std::string writeTemp(const std::string& dir, const std::string& name, const std::string& data) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << data;
  return path;
}

TEST_F(EchoServerTest, ServesHttpsThroughMemoryBios) {
  const auto& pki = fetchtest::TestPki::get();
  char tmpl[] = "/tmp/pathwatch-echo-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  EchoServerOptions o = options();
  o.tls_cert_file = writeTemp(dir, "cert.pem", pki.good.cert_chain_pem);
  o.tls_key_file = writeTemp(dir, "key.pem", pki.good.key_pem);
  {
    ServerThread server(o);
    ASSERT_TRUE(server.started()) << server.error();

    Client c(server.port());
    SslCtxPtr ctx_owner(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* ctx = ctx_owner.get();
    ASSERT_NE(ctx, nullptr);
    ASSERT_EQ(SSL_CTX_load_verify_locations(ctx, pki.ca_file.c_str(), nullptr), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SslPtr ssl_owner(SSL_new(ctx));
    SSL* ssl = ssl_owner.get();
    SSL_set_fd(ssl, c.fd());
    SSL_set_tlsext_host_name(ssl, fetchtest::kTestHost);
    SSL_set1_host(ssl, fetchtest::kTestHost);
    ASSERT_EQ(SSL_connect(ssl), 1) << ERR_error_string(ERR_get_error(), nullptr);
    const std::string req = "GET /tls HTTP/1.1\r\nHost: h\r\nx-goog-api-key: AIza-made-up\r\n\r\n";
    ASSERT_EQ(SSL_write(ssl, req.data(), static_cast<int>(req.size())), static_cast<int>(req.size()));
    std::string raw;
    char buf[4096];
    int n = 0;
    for (int i = 0; i < 1000; ++i) {
      n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) break;
      raw.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(SSL_get_error(ssl, n), SSL_ERROR_ZERO_RETURN) << "the server ends with close_notify";
    const Response resp = parseResponse(raw);
    ASSERT_EQ(resp.status, 200) << raw;
    const auto j = nlohmann::json::parse(resp.body);
    EXPECT_EQ(j["tls"], true);
    EXPECT_EQ(j["headers"][1][0], "x-goog-api-key");

    // Plain HTTP on the TLS port: closed, and the server goes on.
    Client plain(server.port());
    ASSERT_TRUE(plain.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    const auto read = plain.readAll();
    EXPECT_FALSE(read.timed_out);
    EXPECT_EQ(read.data.find("HTTP/1.1 200"), std::string::npos);
  }
  std::remove(o.tls_cert_file.c_str());
  std::remove(o.tls_key_file.c_str());
  rmdir(dir.c_str());
}

TEST_F(EchoServerTest, RefusesTlsRenegotiation) {
  const auto& pki = fetchtest::TestPki::get();
  char tmpl[] = "/tmp/pathwatch-echo-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  EchoServerOptions o = options();
  o.tls_cert_file = writeTemp(dir, "cert.pem", pki.good.cert_chain_pem);
  o.tls_key_file = writeTemp(dir, "key.pem", pki.good.key_pem);
  {
    ServerThread server(o);
    ASSERT_TRUE(server.started()) << server.error();
    EXPECT_TRUE(server.renegotiationDisabled()) << "SSL_OP_NO_RENEGOTIATION on the context";
    Client c(server.port());
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    ASSERT_TRUE(ctx);
    SSL_CTX_set_max_proto_version(ctx.get(), TLS1_2_VERSION);  // 1.3 has no renegotiation
    SslPtr ssl(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), c.fd());
    ASSERT_EQ(SSL_connect(ssl.get()), 1) << ERR_error_string(ERR_get_error(), nullptr);
    ASSERT_EQ(SSL_renegotiate(ssl.get()), 1);
    EXPECT_NE(SSL_do_handshake(ssl.get()), 1) << "the server took part in a renegotiation";
    ERR_clear_error();
  }
  std::remove(o.tls_cert_file.c_str());
  std::remove(o.tls_key_file.c_str());
  rmdir(dir.c_str());
}

TEST_F(EchoServerTest, StartFailsClearly) {
  EchoServerOptions o = options();
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = "/nonexistent/key.pem";
  ServerThread bad_tls(o);
  EXPECT_FALSE(bad_tls.started());
  EXPECT_NE(bad_tls.error().find("/nonexistent/cert.pem"), std::string::npos) << bad_tls.error();

  ServerThread first(options());
  ASSERT_TRUE(first.started());
  EchoServerOptions same = options();
  same.port = first.port();
  ServerThread second(same);
  EXPECT_FALSE(second.started());
  EXPECT_NE(second.error().find("cannot listen on 127.0.0.1:"), std::string::npos)
      << second.error();
}

TEST(ParseListenAddressTest, Table) {
  EXPECT_EQ(parseListenAddress("127.0.0.1:0"), std::make_pair(std::string("127.0.0.1"), uint16_t{0}));
  EXPECT_EQ(parseListenAddress("[::1]:8443"), std::make_pair(std::string("::1"), uint16_t{8443}));
  EXPECT_EQ(parseListenAddress("0.0.0.0:65535"), std::make_pair(std::string("0.0.0.0"), uint16_t{65535}));
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "localhost:80",
                          "::1:80", "[::1]", "[::1]80", "1.2.3.4:-1", "1.2.3.4:8x"}) {
    EXPECT_FALSE(parseListenAddress(bad).has_value()) << bad;
  }
}

// The `pathwatch echo-server` binary: first stdout line, an answer, SIGTERM -> exit 0.
TEST(EchoServerBinaryTest, ListensAnswersAndStopsOnSigterm) {
  std::signal(SIGPIPE, SIG_IGN);
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::close(out[1]);
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDERR_FILENO);
    execl(PATHWATCH_BINARY_DIR "/pathwatch", "pathwatch", "echo-server", "--listen",
          "127.0.0.1:0", "--read-timeout", "2s", static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(out[1]);
  std::string first_line;
  for (int i = 0; i < 1000 && first_line.find('\n') == std::string::npos; ++i) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 10'000) <= 0) break;
    char ch[64];
    const ssize_t n = read(out[0], ch, sizeof ch);
    if (n <= 0) break;
    first_line.append(ch, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  const std::string prefix = "listening on 127.0.0.1:";
  ASSERT_EQ(first_line.rfind(prefix, 0), 0u) << first_line;
  const int port = std::atoi(first_line.c_str() + prefix.size());
  ASSERT_GT(port, 0);
  {
    Client c(static_cast<uint16_t>(port));
    ASSERT_TRUE(c.send("GET /bin HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_EQ(parseResponse(c.readAll().data).status, 200);
  }
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(EchoServerBinaryTest, UsageErrorsExitTwo) {
  for (const std::string args : {"--listen nope", "", "--listen 127.0.0.1:0 --tls-cert x",
                                 "--listen 127.0.0.1:0 --max-clients 0", "--bogus"}) {
    const std::string cmd =
        std::string(PATHWATCH_BINARY_DIR "/pathwatch echo-server ") + args + " >/dev/null 2>&1";
    const int rc = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(rc)) << args;
    EXPECT_EQ(WEXITSTATUS(rc), 2) << args;
  }
}

}  // namespace
}  // namespace pathwatch
