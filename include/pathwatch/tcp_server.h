#pragma once
// What the small TCP servers on the loop share (the echo server, the metrics
// endpoint): listening on a literal address, naming addresses for logs and
// limits, and owning connections so that one closed inside its own callback
// is freed on the next loop turn, never under the caller's feet.
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "pathwatch/uv_handle.h"

namespace pathwatch {

// "1.2.3.4:80" / "[2001:db8::1]:80".
std::string joinHostPort(const std::string& ip, uint16_t port);

// "1.2.3.4" / "2001:db8::1" and the port; v4-mapped v6 addresses as v4.
// "unknown" (port 0) for anything but an IP socket address.
std::string socketAddressText(const sockaddr_storage& ss, uint16_t* port);

// The peer of an accepted connection, as socketAddressText; "unknown" when gone.
std::string peerAddressText(const uv_tcp_t* tcp, uint16_t* port = nullptr);

// Initialises `listener` on `loop` with `data`, binds host:port (an IP literal,
// no brackets; port 0 picks one) and listens. On success fills the bound
// address ("127.0.0.1:41234") and port and returns ""; otherwise closes the
// listener and returns the problem ("not an IP address", uv_strerror's text).
std::string listenTcp(uv_loop_t* loop, UvTcp& listener, const std::string& host, uint16_t port,
                      uv_connection_cb on_connection, void* data, std::string* bound_address,
                      uint16_t* bound_port);

// The live connections of a server, and those closing until the next loop turn.
template <typename Conn>
class ConnectionSet {
 public:
  ConnectionSet() = default;
  ConnectionSet(const ConnectionSet&) = delete;
  ConnectionSet& operator=(const ConnectionSet&) = delete;

  int init(uv_loop_t* loop) {
    return reaper_.init([&](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
  }

  Conn* add(std::unique_ptr<Conn> c) {
    Conn* raw = c.get();
    live_.emplace(raw, std::move(c));
    return raw;
  }

  // `c` is closing: it leaves the live set now and is freed on the next loop
  // turn, once the callback that closed it has returned.
  void retire(Conn* c) {
    auto it = live_.find(c);
    if (it == live_.end()) return;
    closing_.push_back(std::move(it->second));
    live_.erase(it);
    if (reaper_ && !uv_is_active(reaper_.handle()))
      uv_timer_start(
          reaper_.get(),
          [](uv_timer_t* t) noexcept {
            if (auto* self = static_cast<ConnectionSet*>(t->data)) self->closing_.clear();
          },
          0, 0);
  }

  std::size_t size() const { return live_.size(); }

  template <typename Pred>
  std::size_t countIf(Pred pred) const {
    std::size_t n = 0;
    for (const auto& [c, owned] : live_) n += pred(*c) ? 1 : 0;
    return n;
  }

  // A copy: closing a connection changes the set.
  std::vector<Conn*> live() const {
    std::vector<Conn*> out;
    out.reserve(live_.size());
    for (const auto& [c, owned] : live_) out.push_back(c);
    return out;
  }

  // No more deferred frees; what is closing is freed now (from outside any of
  // its callbacks: the server's stop or destructor).
  void stop() {
    reaper_.reset();
    closing_.clear();
  }

 private:
  UvTimer reaper_;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> live_;
  std::vector<std::unique_ptr<Conn>> closing_;
};

}  // namespace pathwatch
