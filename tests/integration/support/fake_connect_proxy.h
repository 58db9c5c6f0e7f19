#pragma once
// A tiny forward proxy for the fetch tests: HTTP CONNECT (answers 200 and
// relays to 127.0.0.1:<target_port> whatever host was asked for, or refuses
// with a fixed status) or SOCKS5 (no auth; relays, or replies a failure code).
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "fake_tls_server.h"

namespace pathwatch::fetchtest {

struct FakeProxyOptions {
  enum class Kind { HttpConnect, Socks5 };
  Kind kind = Kind::HttpConnect;
  int connect_status = 200;  // HttpConnect: 200 relays; anything else is the refusal
  int socks_reply = 0;       // Socks5: 0 relays; 5 = connection refused, 4 = host unreachable...
  uint16_t target_port = 0;  // where a granted tunnel goes on 127.0.0.1
  bool hang = false;         // read the request, never answer
};

class FakeConnectProxy {
 public:
  explicit FakeConnectProxy(FakeProxyOptions options);
  ~FakeConnectProxy();
  uint16_t port() const { return listener_->port(); }
  int connections() const { return listener_->accepted(); }
  std::string lastConnectHead() const;  // the CONNECT request as received

 private:
  void serve(int fd);
  void serveConnect(int fd);
  void serveSocks(int fd);
  void relay(int client_fd);
  FakeProxyOptions options_;
  mutable std::mutex mu_;
  std::string last_head_;
  std::unique_ptr<LoopbackListener> listener_;
};

}  // namespace pathwatch::fetchtest
