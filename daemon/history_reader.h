#pragma once
// The history's read side, off the loop: one thread with a read-only
// connection answers queries while the writer writes (WAL readers never wait
// for the writer). A query's whole answer, one line of JSON text, is built
// on that thread; the loop only sends it.
#include <uv.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "history.h"
#include "loop_mailbox.h"

namespace pathwatch {

class HistoryReader {
 public:
  using Work = std::function<std::string(History&)>;  // one line of JSON
  using Done = std::function<void(std::string)>;

  // Opens the database read-only (the writer must have created it). Throws HistoryError.
  HistoryReader(uv_loop_t* loop, const std::string& path, std::size_t max_queued = 16);
  ~HistoryReader();
  HistoryReader(const HistoryReader&) = delete;
  HistoryReader& operator=(const HistoryReader&) = delete;

  // Loop thread. Runs `work` on the reader thread and `done` with its result
  // on the loop; a HistoryError (or any exception) from `work` becomes
  // {"ok": false, "error": "history unavailable: ..."}. False, and nothing
  // runs, when max_queued queries already wait.
  bool run(Work work, Done done);

  // Loop thread. Drops what waits, lets the running query finish, joins.
  void shutdown();

 private:
  struct Job {
    Work work;
    Done done;
  };
  void work();  // the reader thread

  std::unique_ptr<History> db_;
  std::size_t max_queued_;
  LoopMailbox mailbox_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace pathwatch
