#pragma once
// libcurl's multi_socket interface driven by a libuv loop: curl tells us which
// sockets to watch and when to wake it; uv_poll_t / uv_timer_t do the waiting.
// One UvCurlMulti per loop user (HttpClient); all of it runs on the loop thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <curl/curl.h>

#include "pathwatch/uv_handle.h"
#include <uv.h>

namespace pathwatch {

class UvCurlMulti {
 public:
  // Runs when a transfer finished; the easy handle is already removed from the
  // multi and belongs to the caller again. Never runs inside a curl callback,
  // so it may add, remove or clean up easy handles.
  using OnDone = std::function<void(CURL* easy, CURLcode result)>;

  UvCurlMulti(uv_loop_t* loop, OnDone on_done);
  // curl_multi_cleanup first (it may still call the socket callback), then
  // uv_close every handle; their memory is freed in the close callbacks, so
  // the caller must let the loop run once more before uv_loop_close.
  // Easy handles still added are removed, not cleaned up (they are the caller's).
  ~UvCurlMulti();
  UvCurlMulti(const UvCurlMulti&) = delete;
  UvCurlMulti& operator=(const UvCurlMulti&) = delete;

  // False when curl refused the handle (then it is still the caller's).
  bool add(CURL* easy);
  // Stops a transfer without reporting it. Safe for a handle already done.
  void remove(CURL* easy);
  CURLM* multi() const { return multi_; }
  // The sockets curl has asked to be watched now.
  std::vector<int> sockets() const;

 private:
  struct SocketContext;
  static int onSocket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp) noexcept;
  static int onTimer(CURLM* multi, long timeout_ms, void* userp) noexcept;
  static void onPoll(uv_poll_t* handle, int status, int events) noexcept;
  static void onTimeout(uv_timer_t* handle) noexcept;

  void socketAction(curl_socket_t fd, int ev_bitmask);
  void drainMessages();

  uv_loop_t* loop_;
  OnDone on_done_;
  CURLM* multi_ = nullptr;
  UvTimer timer_;
  std::unordered_map<SocketContext*, std::unique_ptr<SocketContext>> sockets_;
  std::unordered_set<CURL*> easies_;
};

}  // namespace pathwatch
