#pragma once
// Work handed back to the loop thread from another thread: post() queues a
// function and wakes the loop through a uv_async_t; the loop runs them in
// order. The handle is unref'd: it never keeps a loop alive by itself.
// Destroying the mailbox closes the handle; a wake-up already queued finds
// the handle's data cleared and does nothing (pathwatch/uv_handle.h).
#include <uv.h>

#include <functional>
#include <mutex>
#include <vector>

#include "pathwatch/uv_handle.h"

namespace pathwatch {

class LoopMailbox {
 public:
  explicit LoopMailbox(uv_loop_t* loop);
  ~LoopMailbox();
  LoopMailbox(const LoopMailbox&) = delete;
  LoopMailbox& operator=(const LoopMailbox&) = delete;

  // Any thread. `fn` runs on the loop thread (its exceptions are caught and
  // logged); dropped once the mailbox is closed.
  void post(std::function<void()> fn);
  // Loop thread. Undelivered functions are dropped, the handle closed.
  void close();

 private:
  static void onWake(uv_async_t* h) noexcept;

  std::mutex mu_;  // post() runs on other threads
  std::vector<std::function<void()>> queue_;
  bool closed_ = false;
  UvAsync async_;
};

// Called first thing on a worker thread: a nice of +10 for this thread
// only (Linux nice is per thread), so on a busy machine the loop thread gets
// the CPU before SQLite work that can wait.
void lowerThreadPriority();

}  // namespace pathwatch
