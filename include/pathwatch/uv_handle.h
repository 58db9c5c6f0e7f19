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
// - UvProcess: a child process whose close needs a custom step. Destroying
//   the owner of a running child kills it (SIGKILL, its whole process group
//   when it leads one) and the handle closes once the exit is reaped, so no
//   child outlives its owner and none is left a zombie.
#include <signal.h>
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

class UvProcess {
 public:
  // data is the owner; the callback runs once, unless the owner is gone first.
  using ExitFn = void (*)(void* data, int64_t exit_status, int term_signal);

  UvProcess() = default;
  ~UvProcess() { reset(); }
  UvProcess(const UvProcess&) = delete;
  UvProcess& operator=(const UvProcess&) = delete;
  UvProcess(UvProcess&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  UvProcess& operator=(UvProcess&& o) noexcept {
    if (this != &o) {
      reset();
      b_ = std::exchange(o.b_, nullptr);
    }
    return *this;
  }

  // uv_spawn with `options` (its exit_cb is replaced). On failure nothing is
  // owned and the libuv status is returned.
  int spawn(uv_loop_t* loop, uv_process_options_t options, void* data, ExitFn on_exit) {
    reset();
    auto* b = new Box;
    b->on_exit = on_exit;
    b->group = (options.flags & UV_PROCESS_DETACHED) != 0;
    options.exit_cb = &UvProcess::onExit;
    const int rc = uv_spawn(loop, &b->proc, &options);
    if (rc != 0) {
      // libuv wants even a failed spawn's handle closed.
      uv_close(reinterpret_cast<uv_handle_t*>(&b->proc), &UvProcess::onClose);
      return rc;
    }
    b->proc.data = data;
    b->pid = b->proc.pid;
    b_ = b;
    return 0;
  }

  int pid() const { return b_ ? b_->pid : 0; }
  // Until its exit has been reaped.
  bool running() const {
    return b_ && uv_is_active(reinterpret_cast<const uv_handle_t*>(&b_->proc)) != 0;
  }
  // To its process group when it leads one (spawned detached): a script's own
  // children go too.
  void signal(int sig) const {
    if (running()) ::kill(b_->group ? -b_->pid : b_->pid, sig);
  }

  void reset() {
    Box* b = std::exchange(b_, nullptr);
    if (!b) return;
    b->proc.data = nullptr;
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&b->proc))) {
      ::kill(b->group ? -b->pid : b->pid, SIGKILL);
      return;  // closed by onExit once reaped
    }
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&b->proc)))
      uv_close(reinterpret_cast<uv_handle_t*>(&b->proc), &UvProcess::onClose);
  }

 private:
  struct Box {
    uv_process_t proc{};  // first: the handle pointer is the box pointer
    ExitFn on_exit = nullptr;
    bool group = false;
    int pid = 0;
  };
  static void onClose(uv_handle_t* h) noexcept { delete reinterpret_cast<Box*>(h); }
  static void onExit(uv_process_t* p, int64_t exit_status, int term_signal) noexcept {
    auto* b = reinterpret_cast<Box*>(p);
    if (p->data == nullptr) {  // the owner is gone: nobody else will close it
      uv_close(reinterpret_cast<uv_handle_t*>(p), &UvProcess::onClose);
      return;
    }
    try {
      b->on_exit(p->data, exit_status, term_signal);
    } catch (...) {
    }
  }

  Box* b_ = nullptr;
};

}  // namespace pathwatch
