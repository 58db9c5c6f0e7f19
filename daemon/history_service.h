#pragma once
// The daemon's history in one place: the writer thread, the reader thread,
// the recorder on the result bus, retention on a timer, the `history`
// command and the counters the status answer shows. Everything on the loop
// only queues work and gets answers back; no SQLite call runs on it after
// startup.
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "history_reader.h"
#include "history_recorder.h"
#include "history_retention.h"
#include "history_writer.h"

namespace pathwatch {

struct HistoryServiceOptions {
  HistoryWriterOptions writer;
  RetentionOptions retention;
  std::size_t max_queued_queries = 16;
};

class HistoryService {
 public:
  // Opens (creating and migrating) the database. Throws HistoryError.
  HistoryService(uv_loop_t* loop, const std::string& path, std::function<HistoryConfig()> config,
                 HistoryServiceOptions options = {});
  ~HistoryService();
  HistoryService(const HistoryService&) = delete;
  HistoryService& operator=(const HistoryService&) = delete;

  HistoryRecorder* recorder() { return recorder_.get(); }
  HistoryWriter* writer() { return writer_.get(); }

  // The `history` command. `reply` runs exactly once on the loop with the
  // answer as one line of JSON text of at most `max_bytes` (newest rows
  // kept, the cut counted: answer_cap.h): at once for a bad request ({"ok":
  // false, "error": ...}), else after what was recorded before the request
  // is written and the reader built the answer.
  void answer(const nlohmann::json& request, std::size_t max_bytes, std::function<void(std::string)> reply);
  void answer(const nlohmann::json& request, std::function<void(std::string)> reply) {
    answer(request, SIZE_MAX, std::move(reply));
  }

  // What the status answer shows of the history: write/retention counters,
  // last error. Comparable, so an unchanged status answer can be reused.
  struct StatusState {
    HistoryWriterStats writer;
    uint64_t retention_steps = 0;
    bool operator==(const StatusState&) const = default;
  };
  StatusState statusState() const;
  // For the status answer: path and statusState() as JSON.
  nlohmann::json statusJson(const StatusState& state) const;
  nlohmann::json statusJson() const { return statusJson(statusState()); }

  // Stops retention, writes what is queued (bounded), closes both threads.
  void shutdown();

 private:
  std::string path_;
  std::unique_ptr<HistoryWriter> writer_;
  std::unique_ptr<HistoryReader> reader_;
  std::unique_ptr<HistoryRecorder> recorder_;
  std::unique_ptr<HistoryRetention> retention_;
};

}  // namespace pathwatch
