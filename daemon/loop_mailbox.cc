#include "loop_mailbox.h"

#include <sys/resource.h>
#include <unistd.h>

#include <mutex>
#include <vector>

#include "log.h"

namespace pathwatch {

LoopMailbox::LoopMailbox(uv_loop_t* loop) {
  async_.init([&](uv_async_t* h) { return uv_async_init(loop, h, &LoopMailbox::onWake); }, this);
  if (async_) uv_unref(async_.handle());
}

LoopMailbox::~LoopMailbox() { close(); }

void LoopMailbox::onWake(uv_async_t* h) noexcept {
  auto* self = static_cast<LoopMailbox*>(h->data);
  if (!self) return;
  std::vector<std::function<void()>> run;
  {
    std::lock_guard lk(self->mu_);
    if (self->closed_) return;
    run.swap(self->queue_);
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
}

void LoopMailbox::post(std::function<void()> fn) {
  std::lock_guard lk(mu_);
  // Checked under the lock: close() sets closed_ before the handle goes.
  if (closed_ || !async_) return;
  queue_.push_back(std::move(fn));
  uv_async_send(async_.get());
}

void LoopMailbox::close() {
  {
    std::lock_guard lk(mu_);
    if (closed_) return;
    closed_ = true;
    queue_.clear();
  }
  async_.reset();
}

void lowerThreadPriority() {
  // Best effort: a failure leaves the thread at the daemon's own priority.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
}

}  // namespace pathwatch
