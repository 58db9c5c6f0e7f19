#include "tcp_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "route_binding.h"

namespace pathwatch {

struct TcpProbe::ConnectReq {
  uv_connect_t req{};
  TcpProbe* owner = nullptr;  // nullptr once the attempt was abandoned
};

std::string formatEndpoint(const std::string& ip, uint16_t port) {
  if (ip.find(':') != std::string::npos) return "[" + ip + "]:" + std::to_string(port);
  return ip + ":" + std::to_string(port);
}

std::string tcpErrorString(int s) {
  switch (s) {
    case 0: return "";
    case UV_ECONNREFUSED: return "connection_refused";
    case UV_ECONNRESET: return "connection_reset";
    case UV_ETIMEDOUT: return "timeout";
    case UV_ENETUNREACH: return "network_unreachable";
    case UV_EHOSTUNREACH: return "host_unreachable";
    case UV_EADDRNOTAVAIL: return "address_not_available";
    case UV_EACCES:
    case UV_EPERM: return "connect_not_permitted";
    case UV_ECONNABORTED: return "connection_aborted";
    default: return "connect_error";
  }
}

TcpProbe::TcpProbe(uv_loop_t* loop, TcpProbeOptions opts, Done done)
    : loop_(loop), opts_(std::move(opts)), done_(std::move(done)) {
  layer_.via_proxy = opts_.via_proxy;
  if (timer_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this) == 0)
    uv_timer_start(timer_.get(), &TcpProbe::onTimer, 0, 0);
}

TcpProbe::~TcpProbe() {
  finished_ = true;
  if (req_) req_->owner = nullptr;  // its callback (UV_ECANCELED on close) just frees it
  req_ = nullptr;
  tcp_.reset();
  timer_.reset();
}

void TcpProbe::onTimer(uv_timer_t* t) noexcept {
  auto* self = static_cast<TcpProbe*>(t->data);
  if (!self) return;
  try {
    if (!self->started_) {
      self->started_ = true;
      self->started_ns_ = uv_hrtime();
      self->nextAttempt();
    } else {
      self->attemptDone(UV_ETIMEDOUT, "timeout");
    }
  } catch (...) {
  }
}

void TcpProbe::onConnect(uv_connect_t* req, int status) noexcept {
  auto* cr = static_cast<ConnectReq*>(req->data);
  TcpProbe* owner = cr->owner;
  delete cr;
  if (!owner) return;
  try {
    owner->req_ = nullptr;
    owner->attemptDone(status, tcpErrorString(status));
  } catch (...) {
  }
}

void TcpProbe::nextAttempt() {
  const std::size_t limit = std::min(opts_.addresses.size(), opts_.max_attempts);
  while (!finished_) {
    if (next_ >= limit) return finish();
    const uint64_t elapsed_ms = (uv_hrtime() - started_ns_) / 1000000;
    const uint64_t budget = static_cast<uint64_t>(std::max<int64_t>(0, opts_.budget.count()));
    if (elapsed_ms >= budget) return finish();
    const std::string ip = opts_.addresses[next_++];
    TcpAttempt attempt;
    attempt.address = formatEndpoint(ip, opts_.port);
    attempt_ns_ = uv_hrtime();

    sockaddr_storage ss{};
    int family = AF_INET;
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, ip.c_str(), &sin->sin_addr) == 1) {
      sin->sin_family = AF_INET;
      sin->sin_port = htons(opts_.port);
    } else if (inet_pton(AF_INET6, ip.c_str(), &sin6->sin6_addr) == 1) {
      family = AF_INET6;
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(opts_.port);
    } else {
      attempt.status = LayerStatus::Fail;
      attempt.error = "bad_address";
      layer_.attempts.push_back(std::move(attempt));
      continue;
    }

    const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    std::string err;
    if (fd < 0) err = "socket_failed";
    if (err.empty()) {
      err = applyRouteBinding(fd, family, opts_.route);
      if (!err.empty()) close(fd);
    }
    if (err.empty()) {
      uv_loop_t* loop = loop_;
      if (tcp_.init([loop](uv_tcp_t* t) { return uv_tcp_init(loop, t); }, this) != 0) {
        close(fd);
        err = "socket_failed";
      } else if (uv_tcp_open(tcp_.get(), fd) != 0) {
        close(fd);  // not owned by the handle when open failed
        tcp_.reset();
        err = "socket_failed";
      }
    }
    if (err.empty()) {
      auto* cr = new ConnectReq;
      cr->owner = this;
      cr->req.data = cr;
      const int rc = uv_tcp_connect(&cr->req, tcp_.get(), reinterpret_cast<sockaddr*>(&ss),
                                    &TcpProbe::onConnect);
      if (rc != 0) {
        delete cr;  // no callback for a request that never started
        tcp_.reset();
        err = tcpErrorString(rc);
      } else {
        req_ = cr;
        // This attempt's share of what is left, so a blackholed first address
        // leaves time for the others.
        const uint64_t left = budget - elapsed_ms;
        const uint64_t remaining_attempts = std::max<std::size_t>(1, limit - next_ + 1);
        const uint64_t per = std::max<uint64_t>(1, left / remaining_attempts);
        uv_timer_start(timer_.get(), &TcpProbe::onTimer, per, 0);
        return;
      }
    }
    attempt.status = LayerStatus::Fail;
    attempt.error = err;
    attempt.ms = static_cast<double>(uv_hrtime() - attempt_ns_) / 1e6;
    layer_.attempts.push_back(std::move(attempt));
  }
}

void TcpProbe::attemptDone(int uv_status, const std::string& error) {
  if (finished_) return;
  uv_timer_stop(timer_.get());
  if (uv_status == 0 && tcp_) {
    // Which source address the route really used (alerts notice when it moves).
    sockaddr_storage local{};
    int len = sizeof(local);
    char text[INET6_ADDRSTRLEN] = {};
    if (uv_tcp_getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      if (local.ss_family == AF_INET)
        uv_ip4_name(reinterpret_cast<sockaddr_in*>(&local), text, sizeof(text));
      else if (local.ss_family == AF_INET6)
        uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&local), text, sizeof(text));
      layer_.local_address = text;
    }
  }
  if (req_) {
    req_->owner = nullptr;
    req_ = nullptr;
  }
  tcp_.reset();  // success: the HTTP layer connects on its own, pinned here
  TcpAttempt attempt;
  attempt.address = formatEndpoint(opts_.addresses[next_ - 1], opts_.port);
  attempt.ms = static_cast<double>(uv_hrtime() - attempt_ns_) / 1e6;
  if (uv_status == 0) {
    attempt.status = LayerStatus::Ok;
    layer_.address = attempt.address;
    layer_.attempts.push_back(std::move(attempt));
    return finish();
  }
  attempt.status = LayerStatus::Fail;
  attempt.error = error;
  layer_.attempts.push_back(std::move(attempt));
  nextAttempt();
}

void TcpProbe::finish() {
  if (finished_) return;
  finished_ = true;
  timer_.reset();
  layer_.ms = static_cast<double>(uv_hrtime() - started_ns_) / 1e6;
  if (!layer_.address.empty()) {
    layer_.status = LayerStatus::Ok;
    // The layer's time is the successful connect, as curl's connect time is.
    layer_.ms = layer_.attempts.back().ms;
  } else {
    layer_.status = LayerStatus::Fail;
    if (layer_.attempts.empty())
      layer_.error = opts_.addresses.empty() ? "no_address" : "timeout";
    else
      layer_.error = layer_.attempts.front().error;
  }
  auto done = std::move(done_);
  if (done) done(std::move(layer_));  // may destroy this
}

}  // namespace pathwatch
