#pragma once
// Loopback fakes for the fetch tests: an HTTP/HTTPS server whose behaviour is
// chosen by the request path, on 127.0.0.1 port 0, served from threads with
// blocking I/O (the code under test runs on the test's uv loop).
//
// Paths: /ok, /status/<code> (3xx carry a Location), /echo (answers with the
// request's Authorization in a header and in the body), /slow (1.5 s, then 200), /big/<MiB>,
// /headers/<KiB>, /garbage (non-HTTP bytes), /close (no answer), /reset
// (RST, SO_LINGER 0), /hang (never answers until the server stops).
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pathwatch/ssl_ptr.h"
#include "test_pki.h"

namespace pathwatch::fetchtest {

// Accepts on 127.0.0.1:0 and runs `serve(fd)` on a thread per connection.
// stop() shuts every connection down and joins every thread.
class LoopbackListener {
 public:
  using Serve = std::function<void(int fd)>;
  explicit LoopbackListener(Serve serve);
  ~LoopbackListener();
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  bool stopping() const { return stopping_.load(); }
  // Blocks until stop() (for "hang").
  void waitForStop();
  void stop();

 private:
  void acceptLoop();
  Serve serve_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<int> conn_fds_;
};

struct Stream;

// How a connection starts, before any HTTP.
enum class OnAccept { Serve, RawGarbage, Reset, Close };

struct FakeServerOptions {
  bool tls = false;
  TestLeaf leaf;  // when tls
  OnAccept on_accept = OnAccept::Serve;
  // Answers /ok, /status/<code>, /echo and unknown paths with keep-alive and
  // serves the connection's next request (HTTP/1.1 persistent connections).
  bool keep_alive = false;
  // With keep_alive: the next request on a connection is read, then the
  // connection closed unanswered (a server's keep-alive timeout racing it).
  bool close_kept_connections = false;
  // When set: the certificate every connection after the first presents.
  std::optional<TestLeaf> later_leaf;
};

class FakeHttpServer {
 public:
  explicit FakeHttpServer(FakeServerOptions options);
  ~FakeHttpServer();
  uint16_t port() const { return listener_->port(); }
  int connections() const { return listener_->accepted(); }
  int requests() const { return requests_.load(); }
  std::string lastRequestHead() const;  // request line + headers as received
  // The client's address (no port) of every request, in order.
  std::vector<std::string> requestPeers() const;

 private:
  void serve(int fd);
  // One request on the connection; false when the connection is done.
  bool serveRequest(Stream& s, SslPtr& ssl, int fd, const std::string& peer);
  FakeServerOptions options_;
  SslCtxPtr ssl_ctx_, later_ssl_ctx_;
  std::atomic<int> served_connections_{0};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::string last_head_;
  std::vector<std::string> request_peers_;
  std::unique_ptr<LoopbackListener> listener_;
};

// A port nothing listens on (bound, then closed).
uint16_t closedPort();

}  // namespace pathwatch::fetchtest
