#include "history_writer.h"

#include <algorithm>
#include <iterator>

#include "log.h"
#include "pathwatch/clock.h"

namespace pathwatch {

using nlohmann::json;

namespace {

std::size_t rowsOf(const HistoryBatch& b) {
  return b.results.size() + b.transitions.size() + b.alerts.size();
}

}  // namespace

json toJson(const HistoryWriterStats& s) {
  return {{"committed_rows", s.committed_rows},
          {"committed_batches", s.committed_batches},
          {"write_failures", s.write_failures},
          {"failing", s.failing},
          {"last_error", s.last_error.empty() ? json(nullptr) : json(s.last_error)},
          {"last_error_at", s.last_error_ms ? json(isoFromMs(s.last_error_ms)) : json(nullptr)},
          {"queued_rows", s.queued_rows},
          {"queued_batches", s.queued_batches},
          {"dropped_rows", s.dropped_rows},
          {"dropped_batches", s.dropped_batches},
          {"pruned_rows", s.pruned_rows},
          {"retention_failures", s.retention_failures},
          {"checkpoints", s.checkpoints}};
}

HistoryWriter::HistoryWriter(uv_loop_t* loop, const std::string& path, HistoryWriterOptions options)
    : loop_(loop), path_(path), opt_(std::move(options)), mailbox_(loop) {
  HistoryOptions ho;
  ho.auto_checkpoint = false;
  ho.busy_timeout_ms = opt_.busy_timeout_ms;
  db_ = std::make_unique<History>(path, ho);
  try {
    last_verdicts_ = db_->lastVerdicts();
  } catch (const std::exception& e) {
    logWarning(std::string("history: reading the last verdicts: ") + e.what());
  }
  retry_delay_ = opt_.retry_first;
  last_write_ = Clock::now();
  wal_dirty_ = true;  // whatever an earlier run left in the WAL goes at the first idle TRUNCATE
  thread_ = std::thread([this] { run(); });
}

HistoryWriter::~HistoryWriter() { shutdown(); }

uint64_t HistoryWriter::submit(HistoryBatch batch) {
  std::size_t rows = rowsOf(batch);
  if (rows == 0 || shut_down_) return 0;
  uint64_t seq = next_seq_++;
  uint64_t dropped_before;
  bool dropped;
  {
    std::lock_guard lk(mu_);
    dropped_before = stats_.dropped_batches;
    queue_.push_back({seq, seq, rows, std::move(batch), Clock::now()});
    queued_rows_ += rows;
    enforceBoundsLocked();
    dropped = stats_.dropped_batches != dropped_before;
  }
  cv_.notify_one();
  if (dropped) wakeWaiters();
  return seq;
}

// The batch being written is not counted: it cannot be dropped while the
// worker writes it, and if that fails it comes back to the front, where it is
// the oldest and goes first. So the writer holds at most the bounds plus that
// one batch.
void HistoryWriter::enforceBoundsLocked() {
  auto over = [&] {
    return queued_rows_ > opt_.max_queued_rows || queue_.size() > opt_.max_queued_batches;
  };
  while (!queue_.empty() && over()) {
    ++stats_.dropped_batches;
    stats_.dropped_rows += queue_.front().rows;
    queued_rows_ -= queue_.front().rows;
    queue_.pop_front();
  }
}

uint64_t HistoryWriter::settledThroughLocked() const {
  uint64_t oldest = next_seq_;
  if (in_flight_seq_) oldest = std::min(oldest, in_flight_seq_);
  if (!queue_.empty()) oldest = std::min(oldest, queue_.front().seq);
  return oldest - 1;
}

void HistoryWriter::whenWritten(std::function<void()> ready) {
  uint64_t target = next_seq_ - 1;
  bool now;
  {
    std::lock_guard lk(mu_);
    now = shut_down_ || stats_.failing || settledThroughLocked() >= target;
    if (!now) hurry_ = true;  // someone waits to read: no more gathering
  }
  if (now) return ready();
  waiters_.emplace_back(target, std::move(ready));
  cv_.notify_one();
}

void HistoryWriter::wakeWaiters() {
  if (waiters_.empty()) return;
  uint64_t settled;
  bool failing;
  {
    std::lock_guard lk(mu_);
    settled = settledThroughLocked();
    failing = stats_.failing;
  }
  std::vector<std::function<void()>> ready;
  std::erase_if(waiters_, [&](auto& w) {
    if (!failing && w.first > settled) return false;
    ready.push_back(std::move(w.second));
    return true;
  });
  for (auto& r : ready) r();
}

void HistoryWriter::pruneStep(int64_t cutoff_ms, uint64_t max_bytes, int rows,
                              std::function<void(int64_t, std::string)> done) {
  {
    std::lock_guard lk(mu_);
    if (shut_down_ || jobs_.size() >= 8) {
      done(0, "history writer busy or stopped");
      return;
    }
    jobs_.push_back([this, cutoff_ms, max_bytes, rows,
                     done = std::move(done)](History& db) mutable {
      int64_t n = 0;
      std::string error;
      try {
        n = db.pruneStep(cutoff_ms, max_bytes, rows);
      } catch (const std::exception& e) {
        error = e.what();
      }
      {
        std::lock_guard g(mu_);
        if (error.empty()) {
          stats_.pruned_rows += static_cast<uint64_t>(n);
        } else {
          ++stats_.retention_failures;
          stats_.last_error = "retention: " + error;
          stats_.last_error_ms = wallClockMs();
        }
      }
      mailbox_.post([done = std::move(done), n, error] { done(n, error); });
      if (n > 0) {
        wal_dirty_ = true;
        maybeCheckpoint(SQLITE_CHECKPOINT_PASSIVE);
      }
    });
  }
  cv_.notify_one();
}

HistoryWriterStats HistoryWriter::stats() const {
  std::lock_guard lk(mu_);
  HistoryWriterStats s = stats_;
  s.queued_batches = queue_.size() + (in_flight_seq_ ? 1 : 0);
  s.queued_rows = queued_rows_ + in_flight_rows_;
  return s;
}

void HistoryWriter::run() {
  lowerThreadPriority();
  std::unique_lock lk(mu_);
  for (;;) {
    try {
      if (!jobs_.empty()) {
        auto job = std::move(jobs_.front());
        jobs_.pop_front();
        lk.unlock();
        job(*db_);
        lk.lock();
        continue;
      }
      auto now = Clock::now();
      if (stopping_ && (queue_.empty() || now >= drain_until_)) break;
      const bool gathering = !queue_.empty() && !stopping_ && opt_.linger.count() > 0 &&
                             !hurry_ && queued_rows_ < opt_.max_transaction_rows &&
                             now < queue_.front().at + opt_.linger;
      if (!queue_.empty() && now >= retry_at_ && !gathering) {
        writeOne(lk);
        continue;
      }
      if (queue_.empty() && wal_dirty_ && now - last_write_ >= opt_.idle_truncate && !stopping_) {
        lk.unlock();
        maybeCheckpoint(SQLITE_CHECKPOINT_TRUNCATE);
        lk.lock();
        continue;
      }
      auto wake = Clock::time_point::max();
      if (!queue_.empty())
        wake = gathering ? std::max(retry_at_, queue_.front().at + opt_.linger) : retry_at_;
      else if (wal_dirty_)
        wake = last_write_ + opt_.idle_truncate;
      if (stopping_) wake = std::min(wake, drain_until_);
      if (wake == Clock::time_point::max())
        cv_.wait(lk);
      else
        cv_.wait_until(lk, wake);
    } catch (...) {
      // Nothing here should throw (SQLite errors are caught where they
      // happen); if something does, the worker keeps going.
      if (!lk.owns_lock()) lk.lock();
    }
  }
  lk.unlock();
  db_->checkpoint(SQLITE_CHECKPOINT_TRUNCATE);
}

HistoryWriter::Queued HistoryWriter::takeTransactionLocked() {
  Queued q = std::move(queue_.front());
  queue_.pop_front();
  queued_rows_ -= q.rows;
  if (opt_.linger.count() == 0) return q;
  hurry_ = false;  // everything queued goes now (up to the bound)
  auto append = [](auto& to, auto& from) { std::move(from.begin(), from.end(), std::back_inserter(to)); };
  while (!queue_.empty() && q.rows + queue_.front().rows <= opt_.max_transaction_rows) {
    Queued& next = queue_.front();
    append(q.batch.results, next.batch.results);
    append(q.batch.transitions, next.batch.transitions);
    append(q.batch.alerts, next.batch.alerts);
    q.rows += next.rows;
    q.seq = next.seq;
    queued_rows_ -= next.rows;
    queue_.pop_front();
  }
  return q;
}

void HistoryWriter::writeOne(std::unique_lock<std::mutex>& lk) {
  Queued q = takeTransactionLocked();
  in_flight_seq_ = q.first_seq;  // nothing from there on is settled until it commits
  in_flight_rows_ = q.rows;
  lk.unlock();
  std::string error;
  try {
    db_->write(q.batch, opt_.before_commit);
  } catch (const std::exception& e) {
    error = e.what();
  }
  auto now = Clock::now();
  lk.lock();
  in_flight_seq_ = 0;
  in_flight_rows_ = 0;
  uint64_t seq = q.seq;
  if (error.empty()) {
    ++stats_.committed_batches;
    stats_.committed_rows += q.rows;
    stats_.failing = false;
    retry_delay_ = opt_.retry_first;
    last_write_ = now;
    wal_dirty_ = true;
    lk.unlock();  // never a syscall under mu_: the loop may be waiting for it
    mailbox_.post([this, seq] { committed(seq); });
    maybeCheckpoint(SQLITE_CHECKPOINT_PASSIVE);
    lk.lock();
    return;
  }
  ++stats_.write_failures;
  stats_.failing = true;
  stats_.last_error = error;
  stats_.last_error_ms = wallClockMs();  // vDSO, no syscall
  // Back at the front: batches stay in order, and the bounds still hold.
  queued_rows_ += q.rows;
  queue_.push_front(std::move(q));
  enforceBoundsLocked();
  retry_at_ = now + retry_delay_;
  retry_delay_ = std::min(retry_delay_ * 2, opt_.retry_max);
  lk.unlock();
  mailbox_.post([this, error] { writeFailed(error); });
  lk.lock();
}

void HistoryWriter::maybeCheckpoint(int mode) {
  int frames = db_->walFrames();
  if (frames < checkpoint_base_) checkpoint_base_ = 0;  // the WAL started over
  if (mode == SQLITE_CHECKPOINT_PASSIVE && frames - checkpoint_base_ < opt_.checkpoint_frames)
    return;
  auto r = db_->checkpoint(mode);
  if (r.rc != SQLITE_OK) {
    last_write_ = Clock::now();  // readers in the way: try again after another idle period
    return;
  }
  checkpoint_base_ = mode == SQLITE_CHECKPOINT_TRUNCATE ? 0 : r.wal_frames;
  if (mode == SQLITE_CHECKPOINT_TRUNCATE) wal_dirty_ = false;
  std::lock_guard lk(mu_);
  ++stats_.checkpoints;
}

void HistoryWriter::committed(uint64_t seq) {
  if (write_log_.failing()) {
    auto s = stats();
    if (auto line = write_log_.succeeded(wallClockMs(),
                                         std::to_string(s.queued_rows) + " rows still queued, " +
                                             std::to_string(s.dropped_rows) + " dropped"))
      logNotice("history: " + *line);
  }
  if (on_committed_) on_committed_(seq);
  wakeWaiters();
}

void HistoryWriter::writeFailed(std::string error) {
  auto s = stats();
  if (auto line = write_log_.failed(
          wallClockMs(), error,
          std::to_string(s.queued_rows) + " rows kept in memory and retried (limit " +
              std::to_string(opt_.max_queued_rows) + "), " + std::to_string(s.dropped_rows) +
              " dropped"))
    logError("history: " + *line);
  wakeWaiters();
}

std::size_t HistoryWriter::shutdown(Millis drain) {
  if (shut_down_) return 0;
  shut_down_ = true;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    drain_until_ = Clock::now() + drain;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  mailbox_.close();
  waiters_.clear();
  std::size_t left;
  {
    std::lock_guard lk(mu_);
    left = queued_rows_ + in_flight_rows_;
  }
  if (left > 0)
    logError("history: " + std::to_string(left) + " rows could not be written before stopping");
  db_.reset();
  return left;
}

}  // namespace pathwatch
