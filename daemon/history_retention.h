#pragma once
// History retention on the loop's timer, the deleting on the writer's
// thread: every step removes at most `rows` rows per table older than the
// configured retention, then the oldest results while the database is over
// its size cap, in one transaction. Steps follow each other `step` apart
// while there is more to delete, then every `idle`.
//
// The timer is always re-armed: each tick first arms the next tick at `idle`
// before it does anything, and a failed step (disk full, database locked)
// re-arms it at `after_error`, so one error never ends retention.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "failure_log.h"
#include "history_writer.h"
#include "pathwatch/uv_handle.h"
#include "pathwatch/config.h"

namespace pathwatch {

struct RetentionOptions {
  Millis first = std::chrono::seconds(5);
  Millis step = std::chrono::milliseconds(200);
  Millis idle = std::chrono::seconds(60);
  Millis after_error = std::chrono::seconds(10);
  int rows = 500;
};

class HistoryRetention {
 public:
  // `config` is read at every step, so a reload's new retention applies.
  HistoryRetention(uv_loop_t* loop, HistoryWriter* writer, std::function<HistoryConfig()> config,
                   RetentionOptions options = {});
  ~HistoryRetention();
  HistoryRetention(const HistoryRetention&) = delete;
  HistoryRetention& operator=(const HistoryRetention&) = delete;

  void stop();

  uint64_t steps() const { return steps_; }  // finished, successful or not
  uint64_t failures() const { return log_.failures(); }
  int64_t pruned() const { return pruned_; }

 private:
  static void onTimer(uv_timer_t* t) noexcept;
  void tick();
  void finished(int64_t deleted, const std::string& error);
  void arm(Millis in);

  HistoryWriter* writer_;
  std::function<HistoryConfig()> config_;
  RetentionOptions opt_;
  UvTimer timer_;
  bool in_flight_ = false;
  uint64_t steps_ = 0;
  int64_t pruned_ = 0;
  FailureLog log_{"retention"};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pathwatch
