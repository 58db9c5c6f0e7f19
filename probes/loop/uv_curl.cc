#include "loop/uv_curl.h"

#include <cstdio>
#include <mutex>
#include <vector>

namespace pathwatch {

namespace {

void globalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

// One per socket curl asked us to watch. Destroying it closes the poll (its
// memory goes in the close callback; no poll callback runs afterwards).
struct UvCurlMulti::SocketContext {
  UvPoll poll;
  curl_socket_t fd;
  UvCurlMulti* owner;
};

UvCurlMulti::UvCurlMulti(uv_loop_t* loop, OnDone on_done)
    : loop_(loop), on_done_(std::move(on_done)) {
  globalInitOnce();
  multi_ = curl_multi_init();
  timer_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &UvCurlMulti::onSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &UvCurlMulti::onTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

UvCurlMulti::~UvCurlMulti() {
  // Detach the easy handles first so cleanup does not touch them later.
  for (CURL* e : easies_) curl_multi_remove_handle(multi_, e);
  easies_.clear();
  // curl_multi_cleanup may still call onSocket(REMOVE): the contexts it names
  // are closed there; whatever it leaves is closed below.
  curl_multi_cleanup(multi_);
  multi_ = nullptr;
  sockets_.clear();
  timer_.reset();
}

bool UvCurlMulti::add(CURL* easy) {
  if (curl_multi_add_handle(multi_, easy) != CURLM_OK) return false;
  easies_.insert(easy);
  return true;
}

std::vector<int> UvCurlMulti::sockets() const {
  std::vector<int> out;
  out.reserve(sockets_.size());
  for (const auto& [ctx, owned] : sockets_) out.push_back(static_cast<int>(ctx->fd));
  return out;
}

void UvCurlMulti::remove(CURL* easy) {
  if (easies_.erase(easy) == 0) return;
  curl_multi_remove_handle(multi_, easy);
}


int UvCurlMulti::onSocket(CURL* /*easy*/, curl_socket_t fd, int what, void* userp,
                          void* socketp) noexcept {
  auto* self = static_cast<UvCurlMulti*>(userp);
  auto* ctx = static_cast<SocketContext*>(socketp);
  try {
    if (what == CURL_POLL_REMOVE) {
      if (ctx) {
        self->sockets_.erase(ctx);  // closes its poll
        curl_multi_assign(self->multi_, fd, nullptr);
      }
      return 0;
    }
    if (!ctx) {
      // A closed fd number may be reused at once: the old poll was closed
      // (which takes it out of epoll) when curl said REMOVE, so this is safe.
      auto owned = std::make_unique<SocketContext>();
      owned->fd = fd;
      owned->owner = self;
      uv_loop_t* l = self->loop_;
      const int rc = owned->poll.init([l, fd](uv_poll_t* p) { return uv_poll_init_socket(l, p, fd); },
                                      owned.get());
      if (rc != 0) {
        std::fprintf(stderr, "<3>uv_curl: uv_poll_init_socket(%d) failed: %s\n", fd, uv_strerror(rc));
        return -1;  // curl fails this transfer
      }
      ctx = owned.get();
      self->sockets_.emplace(ctx, std::move(owned));
      curl_multi_assign(self->multi_, fd, ctx);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
    uv_poll_start(ctx->poll.get(), events, &UvCurlMulti::onPoll);
    return 0;
  } catch (...) {
    return -1;
  }
}

int UvCurlMulti::onTimer(CURLM* /*multi*/, long timeout_ms, void* userp) noexcept {
  auto* self = static_cast<UvCurlMulti*>(userp);
  if (!self->timer_) return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(self->timer_.get());
    return 0;
  }
  // 0 means "as soon as possible": never act from inside curl's callback, let
  // the loop come round (libuv 1.44 may run a 0 ms timer in the same turn).
  uint64_t ms = timeout_ms == 0 ? 1 : static_cast<uint64_t>(timeout_ms);
  uv_timer_start(self->timer_.get(), &UvCurlMulti::onTimeout, ms, 0);
  return 0;
}

void UvCurlMulti::onTimeout(uv_timer_t* handle) noexcept {
  auto* self = static_cast<UvCurlMulti*>(handle->data);
  if (!self) return;
  try {
    self->socketAction(CURL_SOCKET_TIMEOUT, 0);
  } catch (...) {
  }
}

void UvCurlMulti::onPoll(uv_poll_t* handle, int status, int events) noexcept {
  auto* ctx = static_cast<SocketContext*>(handle->data);
  if (!ctx) return;
  UvCurlMulti* self = ctx->owner;
  int flags = 0;
  if (status < 0) {
    // UV_EBADF included: curl learns of the error and drops the socket.
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  try {
    self->socketAction(ctx->fd, flags);
  } catch (...) {
  }
}

void UvCurlMulti::socketAction(curl_socket_t fd, int ev_bitmask) {
  int running = 0;
  curl_multi_socket_action(multi_, fd, ev_bitmask, &running);
  // Whatever `running` says: a transfer that timed out in this very call is
  // only visible here.
  drainMessages();
}

void UvCurlMulti::drainMessages() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    // Copy before removal: msg is invalid once the handle is removed.
    CURL* easy = msg->easy_handle;
    CURLcode result = msg->data.result;
    easies_.erase(easy);
    curl_multi_remove_handle(multi_, easy);
    if (on_done_) on_done_(easy, result);
  }
}

}  // namespace pathwatch
