#pragma once
// A c-ares channel driven by the libuv loop: one channel per resolver compared
// (so failover cannot hide who answered), bound to one route. Sockets are
// watched with uv_poll_t handles created from c-ares' socket-state callback;
// one timer is re-armed from ares_timeout() after every ares_process_fd.
#include <ares.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "pathwatch/uv_handle.h"
#include "pathwatch/config.h"
#include "pathwatch/duration.h"

namespace pathwatch {

class AresChannel {
 public:
  // status is an ARES_* code; abuf/alen the raw answer (may be null).
  using QueryDone = std::function<void(int status, const unsigned char* abuf, int alen)>;

  // `budget` bounds one query, all tries included. Returns nullptr and sets
  // *error when c-ares cannot be set up (bad server address, init failure).
  // Binding errors of the route surface per query (bindError()).
  static std::unique_ptr<AresChannel> create(uv_loop_t* loop, const ResolverConfig& resolver,
                                             const RouteConfig& route, Millis budget,
                                             std::string* error);
  // ares_destroy: pending queries end with ARES_EDESTRUCTION, which is treated
  // as cancelled: no QueryDone runs during or after destruction.
  ~AresChannel();
  AresChannel(const AresChannel&) = delete;
  AresChannel& operator=(const AresChannel&) = delete;

  // Starts a class-IN query for `name` of `type` (1 = A, 28 = AAAA). `done`
  // may run synchronously when c-ares fails at once (e.g. the socket cannot
  // be bound); callers start queries from a loop callback. Returns an id.
  uint64_t query(const std::string& name, int type, QueryDone done);
  // No callback for this query afterwards (c-ares finishes it on its own).
  void cancel(uint64_t id);

  // The route-binding error of the last socket c-ares tried to open, "" if none.
  const std::string& bindError() const { return bind_error_; }
  const std::string& resolverName() const { return resolver_name_; }
  std::size_t pending() const { return pending_.size(); }

 private:
  struct Token;
  AresChannel(uv_loop_t* loop, const RouteConfig& route);
  static void onSockState(void* data, ares_socket_t fd, int readable, int writable) noexcept;
  static int onSockConfig(ares_socket_t fd, int type, void* data) noexcept;
  static void onPoll(uv_poll_t* h, int status, int events) noexcept;
  static void onTimer(uv_timer_t* h) noexcept;
  static void onAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen) noexcept;
  void rearm();

  uv_loop_t* loop_;
  RouteConfig route_;
  std::string resolver_name_;
  ares_channel channel_ = nullptr;
  UvTimer timer_;
  std::map<ares_socket_t, UvPoll> polls_;
  std::map<uint64_t, Token*> pending_;
  uint64_t next_id_ = 1;
  std::string bind_error_;
  bool destroying_ = false;
};

// Maps an ARES_* status to the fixed error strings of docs/json.md ("nxdomain",
// "servfail", "refused", "nodata", "timeout", "connection_refused", ...).
std::string aresErrorString(int status);

}  // namespace pathwatch
