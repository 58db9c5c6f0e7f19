#pragma once
// The history's write side, off the loop: one worker thread owns the
// read-write connection and does every write, retention step and checkpoint;
// the loop only queues batches (a mutex held for a push, never across SQLite)
// and gets answers back through a LoopMailbox.
//
// Why a thread of its own rather than uv_queue_work: a SQLite connection
// wants one owner (prepared statements live with it), writes must stay in
// order, and a checkpoint or a busy wait of seconds would otherwise hold one
// of libuv's four shared pool threads that name resolution and file work use.
//
// Failures (a full disk, a database locked by someone else) never stop the
// daemon: the failed batch stays queued, in order, and is retried with
// backoff until it commits; the queue is bounded (rows and batches), the
// oldest batches are dropped beyond it, and everything is counted for the
// status answer. Lines go to the log at most once a minute (FailureLog).
//
// A batch is acknowledged (stats.committed_*, onCommitted) only after its
// transaction committed: with WAL and synchronous=NORMAL that survives the
// daemon being killed at any point.
#include <uv.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "failure_log.h"
#include "history.h"
#include "loop_mailbox.h"
#include "pathwatch/duration.h"

namespace pathwatch {

struct HistoryWriterOptions {
  // Rows and batches waiting (new and failed); the one being written comes on top.
  std::size_t max_queued_rows = 20000;
  std::size_t max_queued_batches = 1000;
  Millis retry_first = std::chrono::seconds(1);  // after a failed write; doubles
  Millis retry_max = std::chrono::seconds(30);
  int busy_timeout_ms = 2000;
  int checkpoint_frames = 1000;                     // PASSIVE once this many new WAL frames
  Millis idle_truncate = std::chrono::seconds(30);  // TRUNCATE after this long without writes
  // How long a batch waits for later ones to share its transaction (0: every
  // batch is its own). A commit costs about as much as its rows, so the
  // daemon, whose providers' diagnoses come one by one, lets them gather.
  Millis linger{0};
  std::size_t max_transaction_rows = 5000;  // what one gathered transaction holds
  // Tests: runs on the worker inside each write transaction, before COMMIT.
  std::function<void()> before_commit;
};

struct HistoryWriterStats {
  uint64_t committed_batches = 0, committed_rows = 0;
  uint64_t write_failures = 0;  // failed attempts (one batch may fail several times)
  uint64_t dropped_batches = 0, dropped_rows = 0;
  std::size_t queued_batches = 0, queued_rows = 0;  // waiting, the one being written included
  uint64_t pruned_rows = 0, retention_failures = 0;
  uint64_t checkpoints = 0;
  std::string last_error;  // the last write or retention error, "" when none yet
  int64_t last_error_ms = 0;
  bool failing = false;  // the last write attempt failed
  bool operator==(const HistoryWriterStats&) const = default;
};

nlohmann::json toJson(const HistoryWriterStats& s);

class HistoryWriter {
 public:
  // Opens and migrates the database and reads the last verdicts on the
  // calling thread (startup), then starts the worker. Throws HistoryError.
  HistoryWriter(uv_loop_t* loop, const std::string& path, HistoryWriterOptions options = {});
  ~HistoryWriter();
  HistoryWriter(const HistoryWriter&) = delete;
  HistoryWriter& operator=(const HistoryWriter&) = delete;

  const std::string& path() const { return path_; }
  // The newest verdict per pair when the database was opened.
  const std::vector<LastVerdict>& lastVerdicts() const { return last_verdicts_; }

  // Loop thread. Queues the batch for the worker; the oldest queued batches
  // go (counted) while the queue is over its bounds. Returns the batch's
  // sequence number (1, 2, ...; 0 for an empty batch, which is not queued).
  uint64_t submit(HistoryBatch batch);

  // Loop thread. `ready` runs on the loop once every batch submitted so far
  // is committed (or dropped), or at once while writes are failing, so a
  // query after it sees what the daemon recorded before it.
  void whenWritten(std::function<void()> ready);

  // Loop thread. One retention step on the worker (History::pruneStep);
  // `done(rows_deleted, error)` on the loop, error "" on success.
  void pruneStep(int64_t cutoff_ms, uint64_t max_bytes, int rows,
                 std::function<void(int64_t, std::string)> done);

  // Loop thread: called after each batch committed, with its sequence number.
  void onCommitted(std::function<void(uint64_t)> fn) { on_committed_ = std::move(fn); }

  // Any thread.
  HistoryWriterStats stats() const;

  // Loop thread. Lets the worker write what is queued for up to `drain`,
  // checkpoints (TRUNCATE), joins it. Returns the rows left unwritten.
  std::size_t shutdown(Millis drain = std::chrono::seconds(3));

 private:
  using Clock = std::chrono::steady_clock;
  struct Queued {
    uint64_t first_seq = 0, seq = 0;  // of the oldest and the newest batch in it
    std::size_t rows = 0;
    HistoryBatch batch;
    Clock::time_point at{};  // when it was submitted
  };

  void run();  // the worker
  void writeOne(std::unique_lock<std::mutex>& lk);
  Queued takeTransactionLocked();  // the oldest batch, with those that gather with it
  void maybeCheckpoint(int mode);
  void enforceBoundsLocked();
  uint64_t settledThroughLocked() const;
  void wakeWaiters();  // loop thread

  // Loop thread, from the mailbox.
  void committed(uint64_t seq);
  void writeFailed(std::string error);

  uv_loop_t* loop_;
  std::string path_;
  HistoryWriterOptions opt_;
  std::unique_ptr<History> db_;  // the worker's after start
  std::vector<LastVerdict> last_verdicts_;
  LoopMailbox mailbox_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;                               // oldest first
  std::deque<std::function<void(History&)>> jobs_;         // retention steps, before batches
  uint64_t in_flight_seq_ = 0;                             // 0: none
  std::size_t in_flight_rows_ = 0;
  std::size_t queued_rows_ = 0;                            // in queue_ only
  HistoryWriterStats stats_;
  Clock::time_point retry_at_{};
  Millis retry_delay_;
  Clock::time_point last_write_{};
  bool wal_dirty_ = false;   // frames written since the last TRUNCATE
  bool hurry_ = false;       // a reader waits (whenWritten): write what is queued now
  int checkpoint_base_ = 0;  // WAL frames at the last checkpoint
  bool stopping_ = false;
  Clock::time_point drain_until_{};
  std::thread thread_;

  // Loop thread only.
  uint64_t next_seq_ = 1;
  std::vector<std::pair<uint64_t, std::function<void()>>> waiters_;
  std::function<void(uint64_t)> on_committed_;
  FailureLog write_log_{"writes"};
  bool shut_down_ = false;
};

}  // namespace pathwatch
