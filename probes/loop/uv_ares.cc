#include "loop/uv_ares.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "route_binding.h"

namespace pathwatch {

struct AresChannel::Token {
  AresChannel* channel;
  uint64_t id;
  QueryDone done;
  bool cancelled = false;
};

namespace {

// c-ares needs ares_library_init once per process before any channel.
bool libraryReady() {
  static const bool ok = ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS;
  return ok;
}

}  // namespace

std::string aresErrorString(int status) {
  switch (status) {
    case ARES_SUCCESS: return "";
    case ARES_ENODATA: return "nodata";
    case ARES_ENOTFOUND: return "nxdomain";
    case ARES_ESERVFAIL: return "servfail";
    case ARES_EREFUSED: return "refused";
    case ARES_ETIMEOUT: return "timeout";
    case ARES_ECONNREFUSED: return "connection_refused";
    case ARES_EFORMERR: return "formerr";
    case ARES_ENOTIMP: return "notimp";
    case ARES_EBADRESP: return "bad_response";
    case ARES_EBADNAME: return "bad_name";
    case ARES_ENOMEM: return "out_of_memory";
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return "cancelled";
    default: return "dns_error";
  }
}

AresChannel::AresChannel(uv_loop_t* loop, const RouteConfig& route) : loop_(loop), route_(route) {}

std::unique_ptr<AresChannel> AresChannel::create(uv_loop_t* loop, const ResolverConfig& resolver,
                                                 const RouteConfig& route, Millis budget,
                                                 std::string* error) {
  if (!libraryReady()) {
    if (error) *error = "c-ares library init failed";
    return nullptr;
  }
  std::unique_ptr<AresChannel> ch(new AresChannel(loop, route));
  ch->resolver_name_ = resolver.spec.empty() ? (resolver.system ? "system" : resolver.address)
                                             : resolver.spec;
  if (ch->timer_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, ch.get()) != 0) {
    if (error) *error = "uv_timer_init failed";
    return nullptr;
  }

  ares_options opts{};
  int mask = ARES_OPT_FLAGS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  // NOCHECKRESP: SERVFAIL and REFUSED reach us instead of being retried away.
  opts.flags = ARES_FLAG_NOCHECKRESP;
  opts.sock_state_cb = &AresChannel::onSockState;
  opts.sock_state_cb_data = ch.get();
  // Tries and per-try timeout from the budget: c-ares doubles the timeout on
  // the second round, so one server costs about T + 2T. A "system" resolver
  // with several servers may take longer; the DNS probe's backstop timer
  // bounds it to the budget anyway.
  opts.tries = 2;
  opts.timeout = static_cast<int>(std::max<long>(50, static_cast<long>(budget.count()) / 3));
  const int rc = ares_init_options(&ch->channel_, &opts, mask);
  if (rc != ARES_SUCCESS) {
    ch->channel_ = nullptr;
    if (error) *error = std::string("c-ares init failed: ") + ares_strerror(rc);
    return nullptr;
  }
  if (!resolver.system) {
    std::string csv = resolver.address.find(':') != std::string::npos
                          ? "[" + resolver.address + "]:" + std::to_string(resolver.port)
                          : resolver.address + ":" + std::to_string(resolver.port);
    const int src = ares_set_servers_ports_csv(ch->channel_, csv.c_str());
    if (src != ARES_SUCCESS) {
      if (error) *error = "bad resolver address " + resolver.spec + ": " + ares_strerror(src);
      return nullptr;
    }
  }
  ares_set_socket_configure_callback(ch->channel_, &AresChannel::onSockConfig, ch.get());
  if (route.kind == RouteKind::SourceIp) {
    in_addr a4{};
    in6_addr a6{};
    if (inet_pton(AF_INET, route.source_ip.c_str(), &a4) == 1)
      ares_set_local_ip4(ch->channel_, ntohl(a4.s_addr));  // host byte order
    else if (inet_pton(AF_INET6, route.source_ip.c_str(), &a6) == 1)
      ares_set_local_ip6(ch->channel_, a6.s6_addr);
  }
  return ch;
}

AresChannel::~AresChannel() {
  destroying_ = true;
  for (auto& [id, token] : pending_) token->cancelled = true;
  pending_.clear();
  if (channel_) ares_destroy(channel_);  // callbacks see ARES_EDESTRUCTION; sockets close
  polls_.clear();                        // uv_close each; memory goes in the close callbacks
  timer_.reset();
}

uint64_t AresChannel::query(const std::string& name, int type, QueryDone done) {
  const uint64_t id = next_id_++;
  auto* token = new Token{this, id, std::move(done)};
  pending_[id] = token;
  bind_error_.clear();
  ares_query(channel_, name.c_str(), 1 /* C_IN */, type, &AresChannel::onAnswer, token);
  rearm();
  return id;
}

void AresChannel::cancel(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  it->second->cancelled = true;
  pending_.erase(it);
}

void AresChannel::onAnswer(void* arg, int status, int, unsigned char* abuf, int alen) noexcept {
  auto* token = static_cast<Token*>(arg);
  try {
    if (!token->cancelled) {
      token->channel->pending_.erase(token->id);
      if (status != ARES_EDESTRUCTION && status != ARES_ECANCELLED && token->done) {
        auto done = std::move(token->done);
        done(status, abuf, alen);
      }
    }
  } catch (...) {
  }
  delete token;
}

void AresChannel::onSockState(void* data, ares_socket_t fd, int readable, int writable) noexcept {
  auto* self = static_cast<AresChannel*>(data);
  try {
    if (self->destroying_) {
      // ares_destroy closes its sockets: drop the polls, nothing else.
      self->polls_.erase(fd);
      return;
    }
    if (!readable && !writable) {
      // Often called from inside our own poll callback: uv_close now, the
      // memory goes in the close callback.
      self->polls_.erase(fd);
      return;
    }
    auto& poll = self->polls_[fd];
    if (!poll) {
      uv_loop_t* loop = self->loop_;
      if (poll.init([loop, fd](uv_poll_t* p) { return uv_poll_init_socket(loop, p, fd); }, self) !=
          0) {
        self->polls_.erase(fd);
        return;  // c-ares times the query out
      }
    }
    uv_poll_start(poll.get(), (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
                  &AresChannel::onPoll);
  } catch (...) {
  }
}

int AresChannel::onSockConfig(ares_socket_t fd, int, void* data) noexcept {
  auto* self = static_cast<AresChannel*>(data);
  try {
    int family = AF_INET;
    socklen_t len = sizeof(family);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0) family = AF_INET;
    if (self->route_.kind == RouteKind::SourceIp) {
      // c-ares already bound the socket from ares_set_local_ip4/6 when the
      // family matches; a second bind would fail.
      sockaddr_storage ss{};
      socklen_t sl = sizeof(ss);
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) == 0) {
        bool bound = false;
        if (ss.ss_family == AF_INET)
          bound = reinterpret_cast<sockaddr_in*>(&ss)->sin_port != 0;
        else if (ss.ss_family == AF_INET6)
          bound = reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port != 0;
        if (bound) return 0;
      }
    }
    const std::string err = applyRouteBinding(fd, family, self->route_);
    if (!err.empty()) {
      self->bind_error_ = err;
      return -1;  // fail loudly: the query fails, the error is reported
    }
    return 0;
  } catch (...) {
    return -1;
  }
}

void AresChannel::onPoll(uv_poll_t* h, int status, int events) noexcept {
  auto* self = static_cast<AresChannel*>(h->data);
  if (!self) return;
  try {
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(h), &fd) != 0) return;
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
    if (status < 0) {
      rfd = wfd = fd;  // let c-ares read the error off the socket
    } else {
      if (events & UV_READABLE) rfd = fd;
      if (events & UV_WRITABLE) wfd = fd;
    }
    // May close this very poll through onSockState; `h` is not touched after.
    ares_process_fd(self->channel_, rfd, wfd);
    self->rearm();
  } catch (...) {
  }
}

void AresChannel::onTimer(uv_timer_t* h) noexcept {
  auto* self = static_cast<AresChannel*>(h->data);
  if (!self) return;
  try {
    ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    self->rearm();
  } catch (...) {
  }
}

void AresChannel::rearm() {
  if (!timer_ || destroying_) return;
  timeval tv{};
  timeval* t = ares_timeout(channel_, nullptr, &tv);
  if (!t) {
    uv_timer_stop(timer_.get());
    return;
  }
  uint64_t ms = static_cast<uint64_t>(t->tv_sec) * 1000 + static_cast<uint64_t>(t->tv_usec + 999) / 1000;
  if (ms == 0) ms = 1;
  uv_timer_start(timer_.get(), &AresChannel::onTimer, ms, 0);
}

}  // namespace pathwatch
