#pragma once
// RAII ownership of libuv handles, and the one cancellation rule that goes
// with it: destroying the owner cancels. No callback of the handle reaches the
// owner after that, and nothing else needs a "still alive?" flag.
//
// - UvHandle<T>: the handle's memory is freed only in its close callback
//   (libuv may still touch it until then), so destroying the owner calls
//   uv_close and the close callback deletes. reset() clears handle->data first:
//   every trampoline starts with `if (!self) return;` for callbacks already
//   queued in the same loop turn.
// - uvWrite / uvShutdown: a request may outlive the owner of its stream (the
//   close cancels it and libuv still calls back). The request owns its buffer,
//   and its callback gets the stream's data pointer, which is nullptr once the
//   owner is gone, so it can never touch a freed owner.
// (A child process follows the same rule: daemon/alerts/child_process.h.)
#include <uv.h>

#include <memory>
#include <string>
#include <utility>

namespace pathwatch {

template <typename T>
class UvHandle {
 public:
  UvHandle() = default;
  ~UvHandle() { reset(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  UvHandle(UvHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  UvHandle& operator=(UvHandle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }

  // Allocates and initialises with `init(T*)` (e.g. uv_timer_init(loop, h)).
  // Returns the libuv status; on failure nothing is owned (an uninitialised
  // handle needs no close).
  template <typename Init>
  int init(Init&& init, void* data) {
    reset();
    T* h = new T{};
    const int rc = std::forward<Init>(init)(h);
    if (rc != 0) {
      delete h;
      return rc;
    }
    h->data = data;
    h_ = h;
    return 0;
  }

  T* get() const { return h_; }
  uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(h_); }
  // For stream handles (pipe, tcp, tty).
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(h_); }
  explicit operator bool() const { return h_ != nullptr; }

  // Closes (callbacks stop at once); memory goes in the close callback.
  void reset() {
    T* h = std::exchange(h_, nullptr);
    if (!h) return;
    h->data = nullptr;
    uv_handle_t* base = reinterpret_cast<uv_handle_t*>(h);
    if (!uv_is_closing(base)) uv_close(base, &UvHandle::onClose);
  }

 private:
  static void onClose(uv_handle_t* h) noexcept { delete reinterpret_cast<T*>(h); }
  T* h_ = nullptr;
};

using UvTimer = UvHandle<uv_timer_t>;
using UvPoll = UvHandle<uv_poll_t>;
using UvTcp = UvHandle<uv_tcp_t>;
using UvPipe = UvHandle<uv_pipe_t>;
using UvSignal = UvHandle<uv_signal_t>;
using UvAsync = UvHandle<uv_async_t>;
using UvIdle = UvHandle<uv_idle_t>;

// `owner` is the stream's data (its owner), nullptr when the owner is gone
// (then status is UV_ECANCELED or an error, and nothing may be touched).
using UvRequestDone = void (*)(void* owner, int status);

namespace uv_detail {

struct WriteReq {
  uv_write_t req{};
  std::string data;
  std::shared_ptr<const std::string> shared;  // or this, when the buffer is shared
  UvRequestDone done = nullptr;
};

struct ShutdownReq {
  uv_shutdown_t req{};
  UvRequestDone done = nullptr;
};

template <typename Req>
void finish(Req* r, uv_stream_t* stream, int status) noexcept {
  UvRequestDone done = r->done;
  void* owner = stream ? stream->data : nullptr;
  delete r;
  if (!done) return;
  try {
    done(owner, status);
  } catch (...) {
  }
}

}  // namespace uv_detail

// Writes `data` (the request keeps it alive until libuv is done with it).
// Returns the libuv status of uv_write; on failure `done` is not called.
inline int uvWrite(uv_stream_t* stream, std::string data, UvRequestDone done = nullptr) {
  auto* w = new uv_detail::WriteReq;
  w->data = std::move(data);
  w->done = done;
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int rc = uv_write(&w->req, stream, &b, 1, [](uv_write_t* req, int status) noexcept {
    uv_detail::finish(static_cast<uv_detail::WriteReq*>(req->data), req->handle, status);
  });
  if (rc != 0) delete w;
  return rc;
}

// The same for a buffer shared with other writes (one answer to many
// clients): the request keeps a reference, nothing is copied.
inline int uvWrite(uv_stream_t* stream, std::shared_ptr<const std::string> data,
                   UvRequestDone done = nullptr) {
  auto* w = new uv_detail::WriteReq;
  w->shared = std::move(data);
  w->done = done;
  w->req.data = w;
  // libuv only reads the buffer.
  uv_buf_t b = uv_buf_init(const_cast<char*>(w->shared->data()), static_cast<unsigned>(w->shared->size()));
  const int rc = uv_write(&w->req, stream, &b, 1, [](uv_write_t* req, int status) noexcept {
    uv_detail::finish(static_cast<uv_detail::WriteReq*>(req->data), req->handle, status);
  });
  if (rc != 0) delete w;
  return rc;
}

// Half-closes the stream once queued writes are out. As uvWrite.
inline int uvShutdown(uv_stream_t* stream, UvRequestDone done = nullptr) {
  auto* s = new uv_detail::ShutdownReq;
  s->done = done;
  s->req.data = s;
  const int rc = uv_shutdown(&s->req, stream, [](uv_shutdown_t* req, int status) noexcept {
    uv_detail::finish(static_cast<uv_detail::ShutdownReq*>(req->data), req->handle, status);
  });
  if (rc != 0) delete s;
  return rc;
}

}  // namespace pathwatch
