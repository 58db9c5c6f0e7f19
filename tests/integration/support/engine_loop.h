#pragma once
// A libuv loop for one integration test, run until a condition holds or a
// guard timer fires (so a broken test fails instead of hanging), and closed
// cleanly at the end: every handle must have been closed by then.
#include <uv.h>

#include <functional>

#include <gtest/gtest.h>

namespace pathwatch::testing {

class TestLoop {
 public:
  TestLoop() { uv_loop_init(&loop_); }
  ~TestLoop() {
    // Let close callbacks run, then the loop must be empty.
    for (int i = 0; i < 1000 && uv_loop_alive(&loop_); ++i) uv_run(&loop_, UV_RUN_NOWAIT);
    const int rc = uv_loop_close(&loop_);
    EXPECT_EQ(rc, 0) << "handles left open on the loop";
  }
  uv_loop_t* get() { return &loop_; }

  // Runs until `cond` is true or `guard_ms` passed (returns cond()).
  bool runUntil(const std::function<bool()>& cond, uint64_t guard_ms = 20000) {
    uv_timer_t guard;
    bool expired = false;
    uv_timer_init(&loop_, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, guard_ms, 0);
    while (!cond() && !expired) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);  // the guard's close
    return cond();
  }

  // Lets pending close callbacks run.
  void drain() {
    for (int i = 0; i < 10; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  }

 private:
  uv_loop_t loop_;
};

}  // namespace pathwatch::testing
