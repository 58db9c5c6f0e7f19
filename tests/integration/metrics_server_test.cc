// GET /metrics against real sockets: the MetricsServer runs on its own libuv
// loop in a thread, clients are plain blocking sockets with receive and send
// timeouts, so nothing can hang. Port 0 everywhere.
#include "metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "support/loopback_client.h"

namespace pathwatch {
namespace {

using namespace std::chrono_literals;

// A MetricsServer on its own loop in a thread. The render function runs on
// that thread; stop() crosses over with uv_async.
class ServerThread {
 public:
  ServerThread(MetricsServerOptions options, std::function<std::string()> render) {
    uv_loop_init(&loop_);
    server_ = std::make_unique<MetricsServer>(&loop_, std::move(options), std::move(render));
    started_ = server_->start(&error_);
    port_ = server_->boundPort();
    address_ = server_->boundAddress();
    uv_async_init(&loop_, &stop_async_, [](uv_async_t* a) noexcept {
      auto* self = static_cast<ServerThread*>(a->data);
      self->served_ = self->server_->served();
      self->refused_ = self->server_->refused();
      self->server_->stop();
      uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
    });
    stop_async_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~ServerThread() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    uv_async_send(&stop_async_);
    thread_.join();
    server_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  bool started() const { return started_; }
  const std::string& error() const { return error_; }
  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  // After stop().
  uint64_t served() const { return served_; }
  uint64_t refused() const { return refused_; }

 private:
  uv_loop_t loop_{};
  uv_async_t stop_async_{};
  std::unique_ptr<MetricsServer> server_;
  bool started_ = false;
  std::string error_, address_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> served_{0}, refused_{0};
  std::thread thread_;
};

using Client = testclient::LoopbackClient;
using Response = testclient::HttpResponse;
Response parseResponse(const std::string& raw) { return testclient::parseHttpResponse(raw); }

Response get(uint16_t port, const std::string& request, const char* from = nullptr) {
  Client c(port, from);
  if (!c.connected() || !c.send(request)) return {};
  return parseResponse(c.readAll().data);
}

const std::string kText =
    "# HELP pathwatch_up 1 when ok.\n# TYPE pathwatch_up gauge\n"
    "pathwatch_up{provider=\"openai\",route=\"default\"} 1\n";

MetricsServerOptions options() {
  MetricsServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  return o;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }
};

TEST_F(MetricsServerTest, GetMetricsIs200WithTheTextAndItsContentType) {
  std::atomic<int> renders{0};
  ServerThread server(options(), [&] {
    ++renders;
    return kText;
  });
  ASSERT_TRUE(server.started()) << server.error();
  EXPECT_EQ(server.address(), "127.0.0.1:" + std::to_string(server.port()));
  Client c(server.port());
  ASSERT_TRUE(c.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n"));
  const auto read = c.readAll();
  EXPECT_TRUE(read.eof) << "one request per connection: closed after the answer";
  const Response r = parseResponse(read.data);
  ASSERT_EQ(r.status, 200) << read.data;
  EXPECT_TRUE(r.hasHeader("Content-Type: text/plain; version=0.0.4; charset=utf-8")) << r.head;
  EXPECT_TRUE(r.hasHeader("Content-Length: " + std::to_string(kText.size()))) << r.head;
  EXPECT_TRUE(r.hasHeader("Connection: close")) << r.head;
  EXPECT_EQ(r.body, kText);
  // A query string (Prometheus params) and HTTP/1.0 without Host are fine too.
  EXPECT_EQ(get(server.port(), "GET /metrics?name[]=x HTTP/1.1\r\nHost: h\r\n\r\n").status, 200);
  EXPECT_EQ(get(server.port(), "GET /metrics HTTP/1.0\r\n\r\n").body, kText);
  server.stop();
  EXPECT_EQ(renders.load(), 3);
  EXPECT_EQ(server.served(), 3u);
}

TEST_F(MetricsServerTest, OtherPathsAre404AndNeverRender) {
  std::atomic<int> renders{0};
  ServerThread server(options(), [&] {
    ++renders;
    return kText;
  });
  ASSERT_TRUE(server.started()) << server.error();
  for (const char* path : {"/", "/metric", "/metrics/", "/metricsx", "/Metrics", "*",
                           "http://h/metrics", "/favicon.ico"}) {
    const Response r =
        get(server.port(), std::string("GET ") + path + " HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body.find("pathwatch_up"), std::string::npos) << path;
  }
  server.stop();
  EXPECT_EQ(renders.load(), 0);
}

TEST_F(MetricsServerTest, OtherMethodsAre405WithAllowGet) {
  ServerThread server(options(), [] { return kText; });
  ASSERT_TRUE(server.started()) << server.error();
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "get"}) {
    const Response r =
        get(server.port(), std::string(method) + " /metrics HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_TRUE(r.hasHeader("Allow: GET")) << method << "\n" << r.head;
  }
  // A small body is read and the method still answered.
  const Response post =
      get(server.port(), "POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(post.status, 405);
}

TEST_F(MetricsServerTest, MalformedRequestsGetTheParsersStatus) {
  ServerThread server(options(), [] { return kText; });
  ASSERT_TRUE(server.started()) << server.error();
  struct Row {
    const char* name;
    std::string request;
    int status;
  } rows[] = {
      {"no version", "GET /metrics\r\n\r\n", 400},
      {"http/1.1 without host", "GET /metrics HTTP/1.1\r\n\r\n", 400},
      {"http2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
      {"chunked body", "POST /metrics HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
       413},
      {"large body", "POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n", 413},
      {"tls hello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", 12), 400},
  };
  for (const auto& row : rows)
    EXPECT_EQ(get(server.port(), row.request).status, row.status) << row.name;
  // Still serving.
  EXPECT_EQ(get(server.port(), "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n").status, 200);
}

TEST_F(MetricsServerTest, ATenMegabyteRequestLineIsRefusedAndTheServerGoesOn) {
  ServerThread server(options(), [] { return kText; });
  ASSERT_TRUE(server.started()) << server.error();
  {
    Client flood(server.port());
    ASSERT_TRUE(flood.connected());
    ASSERT_TRUE(flood.send("GET /"));
    const std::string chunk(64 * 1024, 'a');
    std::size_t sent = 0;
    // 10 MB; the server stops taking bytes long before (4 KiB line, then at
    // most 64 KiB more are read and dropped).
    while (sent < 10 * 1024 * 1024 && flood.send(chunk)) sent += chunk.size();
    EXPECT_LT(sent, 10u * 1024 * 1024) << "the server read the whole line";
    const auto read = flood.readAll();
    EXPECT_FALSE(read.timed_out) << "the server must close the connection";
    // The 414 arrives unless the reset overtook it.
    if (!read.data.empty()) {
      EXPECT_EQ(parseResponse(read.data).status, 414) << read.data.substr(0, 100);
    }
  }
  // Sent slowly enough to be read whole before the cut: the 414 itself.
  {
    Client c(server.port());
    ASSERT_TRUE(c.send("GET /" + std::string(5000, 'a') + " HTTP/1.1\r\n"));
    EXPECT_EQ(parseResponse(c.readAll().data).status, 414);
  }
  {
    Client c(server.port());
    std::string headers = "GET /metrics HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 60; ++i) headers += "X-H" + std::to_string(i) + ": v\r\n";
    ASSERT_TRUE(c.send(headers + "\r\n"));
    EXPECT_EQ(parseResponse(c.readAll().data).status, 431);
  }
  EXPECT_EQ(get(server.port(), "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n").status, 200);
}

TEST_F(MetricsServerTest, TwoHundredSlowClientsDoNotStopAScrapeAndAreClosedAtTheDeadline) {
  MetricsServerOptions o = options();
  o.read_timeout = 1500ms;
  ServerThread server(o, [] { return kText; });
  ASSERT_TRUE(server.started()) << server.error();
  // 200 clients from 200 addresses, each a few bytes into its request and
  // then silent (one byte every few seconds would do the same).
  std::vector<std::unique_ptr<Client>> slow;
  for (int i = 0; i < 200; ++i) {
    const std::string from = "127.0.1." + std::to_string(i + 1);
    slow.push_back(std::make_unique<Client>(server.port(), from.c_str()));
    ASSERT_TRUE(slow.back()->connected()) << i;
    ASSERT_TRUE(slow.back()->send("GET /met"));
  }
  // A scrape meanwhile is answered at once.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(get(server.port(), "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  // Each slow one is closed once the deadline passes, without an answer.
  for (auto& c : slow) {
    const auto r = c->readAll();
    EXPECT_TRUE(r.eof || r.reset);
    EXPECT_FALSE(r.timed_out);
    EXPECT_TRUE(r.data.empty());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
  EXPECT_EQ(get(server.port(), "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n").status, 200);
}

TEST_F(MetricsServerTest, BeyondTheCapsA503AndTheScraperStillGetsIn) {
  MetricsServerOptions o = options();
  o.max_clients = 8;
  o.max_per_address = 4;
  o.read_timeout = 60s;  // a close below is the refusal, not the deadline
  ServerThread server(o, [] { return kText; });
  ASSERT_TRUE(server.started()) << server.error();
  // One address takes its 4 places; the 5th from it is refused.
  std::vector<std::unique_ptr<Client>> hogs;
  for (int i = 0; i < 4; ++i) {
    hogs.push_back(std::make_unique<Client>(server.port(), "127.0.0.2"));
    ASSERT_TRUE(hogs.back()->send("G"));
  }
  std::this_thread::sleep_for(100ms);  // accepted before the next arrives
  {
    Client fifth(server.port(), "127.0.0.2");
    const auto r = fifth.readAll();
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(parseResponse(r.data).status, 503) << r.data;
  }
  // Another address (the scraper) is served meanwhile.
  EXPECT_EQ(get(server.port(), "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.3").status,
            200);
  // 4 more from other addresses fill the server; the 9th is refused.
  for (int i = 0; i < 4; ++i) {
    const std::string from = "127.0.0." + std::to_string(10 + i);
    hogs.push_back(std::make_unique<Client>(server.port(), from.c_str()));
    ASSERT_TRUE(hogs.back()->send("G"));
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(get(server.port(), "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.3").status,
            503);
  // Places free up when clients go (the server sees the closes on its next turns).
  hogs.clear();
  std::this_thread::sleep_for(100ms);
  int status = 0;
  for (int attempt = 0; attempt < 200 && status != 200; ++attempt)
    status = get(server.port(), "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.3").status;
  EXPECT_EQ(status, 200);
  server.stop();
  EXPECT_GE(server.refused(), 2u);
}

TEST_F(MetricsServerTest, AClientThatNeverReadsIsDroppedAndOthersAreServed) {
  // The first answer is too large to sit in the socket buffers (32 MiB; the
  // kernel holds a few), so it stays unsent while its client does not read.
  const std::string big = "# HELP x a\n# TYPE x gauge\n" + std::string(32 << 20, '#') + "\n";
  std::atomic<int> calls{0};
  MetricsServerOptions o = options();
  // Long enough that a loaded machine still serves the other client first.
  o.write_timeout = 3s;
  ServerThread server(o, [&] { return calls++ == 0 ? big : kText; });
  ASSERT_TRUE(server.started()) << server.error();
  Client stuck(server.port());
  ASSERT_TRUE(stuck.send("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n"));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE([&] {
    for (int i = 0; i < 500 && calls.load() == 0; ++i) std::this_thread::sleep_for(10ms);
    return calls.load() == 1;
  }()) << "the stuck client's request was never answered";
  // Others are served meanwhile: the stuck one blocks nobody.
  const Response r = get(server.port(), "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kText);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, o.write_timeout)
      << "the other client waited for the stuck one to be dropped";
  // Past the write deadline the stuck client is dropped: reading now gets
  // what the kernel had buffered, then the end, never the whole answer.
  std::this_thread::sleep_until(t0 + o.write_timeout + 1500ms);
  const auto left = stuck.readAll();
  EXPECT_FALSE(left.timed_out);
  EXPECT_TRUE(left.eof || left.reset);
  EXPECT_GT(left.data.size(), 0u);
  EXPECT_LT(left.data.size(), big.size());
}

TEST_F(MetricsServerTest, ListensOnIpv6) {
  MetricsServerOptions o = options();
  o.host = "::1";
  ServerThread server(o, [] { return kText; });
  if (!server.started() && server.error().find("not available") != std::string::npos)
    GTEST_SKIP() << "no IPv6 loopback here: " << server.error();
  ASSERT_TRUE(server.started()) << server.error();
  EXPECT_EQ(server.address(), "[::1]:" + std::to_string(server.port()));
  Client c(server.port(), nullptr, true);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("GET /metrics HTTP/1.1\r\nHost: [::1]\r\n\r\n"));
  const Response r = parseResponse(c.readAll().data);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kText);
}

TEST_F(MetricsServerTest, StartFailsClearlyWhenThePortIsTaken) {
  ServerThread first(options(), [] { return kText; });
  ASSERT_TRUE(first.started()) << first.error();
  MetricsServerOptions o = options();
  o.port = first.port();
  ServerThread second(o, [] { return kText; });
  EXPECT_FALSE(second.started());
  EXPECT_EQ(second.error(),
            "127.0.0.1:" + std::to_string(first.port()) + ": address already in use");
  MetricsServerOptions bad = options();
  bad.host = "localhost";
  ServerThread third(bad, [] { return kText; });
  EXPECT_FALSE(third.started());
  EXPECT_EQ(third.error(), "localhost:0: not an IP address");
}

TEST(MetricsHttpAnswer, PureTable) {
  int renders = 0;
  auto render = [&] {
    ++renders;
    return std::string("x 1\n");
  };
  HttpRequestHead h;
  h.method = "GET";
  h.target = "/metrics";
  EXPECT_EQ(metricsHttpAnswer(h, render),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 4\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nx 1\n");
  h.target = "/other";
  EXPECT_EQ(metricsHttpAnswer(h, render).substr(0, 22), "HTTP/1.1 404 Not Found");
  h.target = "/metrics";
  h.method = "POST";
  const std::string a405 = metricsHttpAnswer(h, render);
  EXPECT_EQ(a405.substr(0, 31), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(a405.find("\r\nAllow: GET\r\n"), std::string::npos);
  EXPECT_EQ(renders, 1);
  EXPECT_EQ(metricsHttpError(414).substr(0, 25), "HTTP/1.1 414 URI Too Long");
}

}  // namespace
}  // namespace pathwatch
