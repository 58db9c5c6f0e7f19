#pragma once
// Runs a command for each alert event, WITHOUT a shell (posix_spawn, argv as
// configured; see child_process.h): the event JSON on stdin, and PATHWATCH_EVENT, _PROVIDER,
// _ROUTE, _BEFORE, _AFTER, _SUMMARY in its environment. Each run has a
// timeout (SIGTERM to its process group, then SIGKILL after a grace), at most
// max_concurrent run at once, the rest wait in a bounded queue that drops the
// oldest when full.
//
// The child's environment is minimal on purpose (PATH, LANG, TZ plus the
// PATHWATCH_* variables): the daemon's own environment holds the API keys
// (OPENAI_API_KEY, ...) and those never reach an alert.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <uv.h>

#include "alerts/child_process.h"
#include "pathwatch/duration.h"

namespace pathwatch {

struct ExecOptions {
  Millis timeout = std::chrono::seconds(30);
  Millis kill_grace = std::chrono::seconds(5);
  std::size_t max_concurrent = 4;
  std::size_t max_queue = 100;
  Millis drop_warning_every = std::chrono::seconds(60);
};

// The PATHWATCH_* variables for an event (strings as they are, objects as
// compact JSON, null as ""), plus PATH/LANG/TZ from the daemon when set.
std::vector<std::string> execEnvironment(const nlohmann::json& event);

class ExecSink {
 public:
  ExecSink(uv_loop_t* loop, std::vector<std::string> argv, ExecOptions opt = {});
  // No callback after; a child still running is killed (SIGKILL to its group).
  ~ExecSink();
  ExecSink(const ExecSink&) = delete;
  ExecSink& operator=(const ExecSink&) = delete;

  void send(const nlohmann::json& event);
  // Drops the queue and sends SIGTERM to every running child; SIGKILL follows
  // after kill_grace, or at once when the sink is destroyed first. running()
  // says how many have not exited yet (shutdown waits for them, bounded).
  void stop();

  const std::vector<std::string>& argv() const { return argv_; }
  const ExecOptions& options() const { return opt_; }
  std::size_t running() const { return children_.size(); }
  std::size_t queued() const { return queue_.size(); }
  uint64_t started() const { return started_; }
  uint64_t succeeded() const { return succeeded_; }
  uint64_t failed() const { return failed_; }  // nonzero exit, signal, spawn error
  uint64_t timed_out() const { return timed_out_; }
  uint64_t dropped() const { return dropped_; }

  struct Child;  // one run: process, stdin pipe, timer (exec_sink.cc)

 private:
  void pump();
  void spawn(const nlohmann::json& event);
  void childDone(Child* c, int64_t exit_status, int term_signal);

  uv_loop_t* loop_;
  std::vector<std::string> argv_;
  ExecOptions opt_;
  std::deque<nlohmann::json> queue_;
  std::vector<std::unique_ptr<Child>> children_;  // running
  bool stopped_ = false;
  uint64_t started_ = 0, succeeded_ = 0, failed_ = 0, timed_out_ = 0, dropped_ = 0;
  uint64_t dropped_logged_ = 0, last_drop_log_ms_ = 0;
};

}  // namespace pathwatch
