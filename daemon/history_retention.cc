#include "history_retention.h"

#include "log.h"
#include "pathwatch/clock.h"

namespace pathwatch {

HistoryRetention::HistoryRetention(uv_loop_t* loop, HistoryWriter* writer,
                                   std::function<HistoryConfig()> config, RetentionOptions options)
    : writer_(writer), config_(std::move(config)), opt_(options) {
  timer_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
  arm(opt_.first);
}

HistoryRetention::~HistoryRetention() {
  stop();
  *alive_ = false;
}

void HistoryRetention::stop() { timer_.reset(); }

void HistoryRetention::arm(Millis in) {
  if (timer_) uv_timer_start(timer_.get(), onTimer, static_cast<uint64_t>(in.count()), 0);
}

void HistoryRetention::onTimer(uv_timer_t* t) noexcept {
  auto* self = static_cast<HistoryRetention*>(t->data);
  if (!self) return;
  // The next tick is armed before anything that could fail.
  self->arm(self->opt_.idle);
  try {
    self->tick();
  } catch (const std::exception& e) {
    self->in_flight_ = false;
    self->finished(0, e.what());
  } catch (...) {
    self->in_flight_ = false;
    self->finished(0, "unexpected error");
  }
}

void HistoryRetention::tick() {
  if (in_flight_) return;  // the last step has not answered yet; the idle tick retries
  HistoryConfig cfg = config_();
  int64_t cutoff = wallClockMs() - cfg.retention.count();
  in_flight_ = true;
  std::weak_ptr<bool> alive = alive_;
  writer_->pruneStep(cutoff, cfg.max_bytes, opt_.rows,
                     [this, alive](int64_t n, const std::string& error) {
                       if (alive.expired()) return;
                       in_flight_ = false;
                       finished(n, error);
                     });
}

void HistoryRetention::finished(int64_t deleted, const std::string& error) {
  ++steps_;
  if (!error.empty()) {
    if (auto line = log_.failed(wallClockMs(), error,
                                "retrying in " + formatDuration(opt_.after_error)))
      logError("history: " + *line);
    arm(opt_.after_error);
    return;
  }
  if (auto line = log_.succeeded(wallClockMs())) logNotice("history: " + *line);
  pruned_ += deleted;
  if (deleted > 0) logDebug("history retention: removed " + std::to_string(deleted) + " rows");
  // More to do: continue soon, in small steps.
  arm(deleted > 0 ? opt_.step : opt_.idle);
}

}  // namespace pathwatch
