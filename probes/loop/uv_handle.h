#pragma once
// RAII ownership of a libuv handle. The handle's memory is freed only in its
// close callback (libuv may still touch it until then), so destroying the owner
// calls uv_close and the close callback deletes. After reset() no callback of
// the handle runs again: libuv guarantees that for closed handles.
#include <uv.h>

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

}  // namespace pathwatch
