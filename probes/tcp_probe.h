#pragma once
// The TCP layer: connect to the DNS addresses in order (at most 4 attempts)
// over the route binding, each attempt bounded by its share of the remaining
// deadline. The socket is made here (socket(), applyRouteBinding, then
// uv_tcp_open) so a refused binding fails the attempt loudly. The connection
// is closed once it succeeds: the HTTP layer makes its own, pinned to it.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pathwatch/uv_handle.h"
#include "pathwatch/config.h"
#include "pathwatch/duration.h"
#include "pathwatch/result.h"

namespace pathwatch {

struct TcpProbeOptions {
  std::vector<std::string> addresses;  // IP literals, in the order to try
  uint16_t port = 443;
  RouteConfig route;                   // its binding is applied to every socket
  Millis budget = std::chrono::seconds(5);
  std::size_t max_attempts = 4;
  bool via_proxy = false;              // copied into the layer
};

// "198.18.0.10:443" / "[2001:db8::1]:443"
std::string formatEndpoint(const std::string& ip, uint16_t port);

// Fixed error string for a libuv connect status.
std::string tcpErrorString(int uv_status);

class TcpProbe {
 public:
  using Done = std::function<void(TcpLayer)>;
  // Starts on a later loop turn; `done` runs exactly once unless destroyed.
  TcpProbe(uv_loop_t* loop, TcpProbeOptions opts, Done done);
  ~TcpProbe();  // cancels: no callback afterwards
  TcpProbe(const TcpProbe&) = delete;
  TcpProbe& operator=(const TcpProbe&) = delete;

 private:
  struct ConnectReq;
  static void onTimer(uv_timer_t* t) noexcept;
  static void onConnect(uv_connect_t* req, int status) noexcept;
  void nextAttempt();
  void attemptDone(int uv_status, const std::string& error);
  void finish();

  uv_loop_t* loop_;
  TcpProbeOptions opts_;
  Done done_;
  TcpLayer layer_;
  UvTimer timer_;
  UvTcp tcp_;
  ConnectReq* req_ = nullptr;  // the pending connect; freed in its callback
  std::size_t next_ = 0;
  uint64_t started_ns_ = 0, attempt_ns_ = 0;
  bool started_ = false;
  bool finished_ = false;
};

}  // namespace pathwatch
