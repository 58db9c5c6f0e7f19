#include "loop_mailbox.h"

#include <sys/resource.h>
#include <unistd.h>

#include <mutex>
#include <vector>

#include "log.h"

namespace pathwatch {

struct LoopMailbox::Shared {
  std::mutex mu;
  std::vector<std::function<void()>> queue;
  bool closed = false;
  uv_async_t* async = nullptr;
};

namespace {

struct AsyncData {
  std::shared_ptr<void> keep;  // the Shared, alive until the close callback
};

}  // namespace

LoopMailbox::LoopMailbox(uv_loop_t* loop) : shared_(std::make_shared<Shared>()) {
  auto* a = new uv_async_t;
  uv_async_init(loop, a, [](uv_async_t* h) noexcept {
    auto* shared = static_cast<Shared*>(static_cast<AsyncData*>(h->data)->keep.get());
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lk(shared->mu);
      if (shared->closed) return;
      run.swap(shared->queue);
    }
    for (auto& fn : run) {
      try {
        fn();
      } catch (const std::exception& e) {
        logError(std::string("loop mailbox: ") + e.what());
      } catch (...) {
        logError("loop mailbox: unexpected error");
      }
    }
  });
  a->data = new AsyncData{shared_};
  uv_unref(reinterpret_cast<uv_handle_t*>(a));
  shared_->async = a;
}

LoopMailbox::~LoopMailbox() { close(); }

void LoopMailbox::post(std::function<void()> fn) {
  std::lock_guard lk(shared_->mu);
  if (shared_->closed) return;
  shared_->queue.push_back(std::move(fn));
  uv_async_send(shared_->async);
}

void LoopMailbox::close() {
  uv_async_t* a = nullptr;
  {
    std::lock_guard lk(shared_->mu);
    if (shared_->closed) return;
    shared_->closed = true;
    shared_->queue.clear();
    a = shared_->async;
    shared_->async = nullptr;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(a), [](uv_handle_t* h) {
    delete static_cast<AsyncData*>(h->data);
    delete reinterpret_cast<uv_async_t*>(h);
  });
}

void lowerThreadPriority() {
  // Best effort: a failure leaves the thread at the daemon's own priority.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
}

}  // namespace pathwatch
