#include "history_reader.h"

namespace pathwatch {

using nlohmann::json;

HistoryReader::HistoryReader(uv_loop_t* loop, const std::string& path, std::size_t max_queued)
    : max_queued_(max_queued), mailbox_(loop) {
  HistoryOptions o;
  o.read_only = true;
  db_ = std::make_unique<History>(path, o);
  thread_ = std::thread([this] { work(); });
}

HistoryReader::~HistoryReader() { shutdown(); }

bool HistoryReader::run(Work work, Done done) {
  {
    std::lock_guard lk(mu_);
    if (stopping_ || jobs_.size() >= max_queued_) return false;
    jobs_.push_back({std::move(work), std::move(done)});
  }
  cv_.notify_one();
  return true;
}

void HistoryReader::work() {
  lowerThreadPriority();
  for (;;) {
    Job job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    std::string answer;
    try {
      answer = job.work(*db_);
    } catch (const std::exception& e) {
      answer = json{{"ok", false}, {"error", std::string("history unavailable: ") + e.what()}}
                   .dump(-1, ' ', false, json::error_handler_t::replace);
    } catch (...) {
      answer = json{{"ok", false}, {"error", "history unavailable"}}.dump();
    }
    mailbox_.post([done = std::move(job.done), answer = std::move(answer)]() mutable {
      done(std::move(answer));
    });
  }
}

void HistoryReader::shutdown() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
    jobs_.clear();
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  mailbox_.close();
  db_.reset();
}

}  // namespace pathwatch
