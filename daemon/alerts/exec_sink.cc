#include "alerts/exec_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

#include "log.h"
#include "pathwatch/uv_handle.h"

namespace pathwatch {

// One run: the process, its stdin pipe and its deadline timer, each owned;
// the sink owns the Child, so destroying either cancels everything.
struct ExecSink::Child {
  ExecSink* sink = nullptr;
  ChildProcess proc;
  UvPipe in;
  UvTimer timer;
  bool term_sent = false;
  bool timed_out = false;

  void terminate(Millis grace) {
    if (term_sent) return;
    term_sent = true;
    proc.signal(SIGTERM);
    uv_timer_start(timer.get(), &Child::onTimer,
                   static_cast<uint64_t>(std::max<int64_t>(grace.count(), 1)), 0);
  }
  static void onTimer(uv_timer_t* t) noexcept {
    auto* c = static_cast<Child*>(t->data);
    if (c == nullptr) return;
    if (!c->term_sent) {
      c->timed_out = true;
      c->terminate(c->sink->opt_.kill_grace);
    } else {
      c->proc.signal(SIGKILL);
    }
  }
  // EPIPE when the command did not read stdin: fine. Closing the pipe is the
  // child's EOF.
  static void onWritten(void* owner, int /*status*/) {
    if (auto* c = static_cast<Child*>(owner)) c->in.reset();
  }
  static void onExit(void* data, int64_t exit_status, int term_signal) {
    auto* c = static_cast<Child*>(data);
    c->sink->childDone(c, exit_status, term_signal);  // destroys c
  }
};

namespace {

std::string envValue(const nlohmann::json& j) {
  if (j.is_null()) return "";
  if (j.is_string()) return j.get<std::string>();
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::vector<std::string> execEnvironment(const nlohmann::json& event) {
  std::vector<std::string> env;
  auto field = [&](const char* key) {
    auto it = event.find(key);
    return it == event.end() ? std::string() : envValue(*it);
  };
  env.push_back("PATHWATCH_EVENT=" + field("event"));
  env.push_back("PATHWATCH_PROVIDER=" + field("provider"));
  env.push_back("PATHWATCH_ROUTE=" + field("route"));
  env.push_back("PATHWATCH_BEFORE=" + field("before"));
  env.push_back("PATHWATCH_AFTER=" + field("after"));
  env.push_back("PATHWATCH_SUMMARY=" + field("summary"));
  const char* path = std::getenv("PATH");
  env.push_back(std::string("PATH=") +
                (path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  for (const char* name : {"LANG", "TZ"})
    if (const char* v = std::getenv(name)) env.push_back(std::string(name) + "=" + v);
  return env;
}

ExecSink::ExecSink(uv_loop_t* loop, std::vector<std::string> argv, ExecOptions opt)
    : loop_(loop), argv_(std::move(argv)), opt_(opt) {
  if (opt_.max_concurrent == 0) opt_.max_concurrent = 1;
  if (opt_.max_queue == 0) opt_.max_queue = 1;
  // A command that exits without reading stdin must not kill the daemon with
  // SIGPIPE on our write.
  std::signal(SIGPIPE, SIG_IGN);
}

// Children still running are killed by their owners' destruction.
ExecSink::~ExecSink() = default;

void ExecSink::stop() {
  stopped_ = true;
  queue_.clear();
  for (auto& c : children_) c->terminate(opt_.kill_grace);
}

void ExecSink::send(const nlohmann::json& event) {
  if (stopped_ || argv_.empty()) return;
  if (queue_.size() >= opt_.max_queue) {
    queue_.pop_front();
    ++dropped_;
    const uint64_t now = uv_now(loop_);
    if (dropped_logged_ == 0 ||
        now - last_drop_log_ms_ >= static_cast<uint64_t>(opt_.drop_warning_every.count())) {
      logWarning("alerts: exec " + argv_[0] + " queue full (" + std::to_string(opt_.max_queue) +
                 "): dropped the oldest alert, " + std::to_string(dropped_) + " dropped so far");
      dropped_logged_ = dropped_;
      last_drop_log_ms_ = now;
    }
  }
  queue_.push_back(event);
  pump();
}

void ExecSink::pump() {
  while (!stopped_ && children_.size() < opt_.max_concurrent && !queue_.empty()) {
    nlohmann::json ev = std::move(queue_.front());
    queue_.pop_front();
    spawn(ev);
  }
}

void ExecSink::spawn(const nlohmann::json& event) {
  auto c = std::make_unique<Child>();
  c->sink = this;
  Child* raw = c.get();
  ++started_;
  auto fail = [&](int rc) {
    ++failed_;
    // rc is a negative errno (libuv's codes are too); strerror knows them
    // all, uv_strerror not ENOEXEC (a script without its #! line).
    logWarning("alerts: exec " + argv_[0] + " could not start: " + std::strerror(-rc));
  };
  if (int rc = c->in.init([&](uv_pipe_t* p) { return uv_pipe_init(loop_, p, 0); }, raw); rc != 0)
    return fail(rc);
  if (int rc = c->timer.init([&](uv_timer_t* t) { return uv_timer_init(loop_, t); }, raw); rc != 0)
    return fail(rc);
  // The event goes down a pipe: the child reads one end as its stdin, the
  // loop writes the other.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail(-errno);
  const int rc = c->proc.spawn(loop_, argv_, execEnvironment(event), fds[0], raw, &Child::onExit);
  ::close(fds[0]);
  if (rc != 0) {
    ::close(fds[1]);
    return fail(rc);
  }
  if (uv_pipe_open(c->in.get(), fds[1]) != 0) {
    ::close(fds[1]);
    c->in.reset();  // the child sees EOF at once
  }

  children_.push_back(std::move(c));
  std::string payload = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (!raw->in || uvWrite(raw->in.stream(), std::move(payload), &Child::onWritten) != 0)
    raw->in.reset();
  uv_timer_start(raw->timer.get(), &Child::onTimer,
                 static_cast<uint64_t>(std::max<int64_t>(opt_.timeout.count(), 1)), 0);
}

void ExecSink::childDone(Child* c, int64_t exit_status, int term_signal) {
  const bool timed_out = c->timed_out;
  std::erase_if(children_, [c](const auto& p) { return p.get() == c; });  // c is gone now
  if (timed_out) {
    ++timed_out_;
    ++failed_;
    logWarning("alerts: exec " + argv_[0] + " timed out after " + formatDuration(opt_.timeout) +
               " and was killed");
  } else if (term_signal != 0 || exit_status != 0) {
    ++failed_;
    logWarning("alerts: exec " + argv_[0] + " failed: " +
               (term_signal != 0 ? "signal " + std::to_string(term_signal)
                                 : "exit status " + std::to_string(exit_status)));
  } else {
    ++succeeded_;
  }
  pump();
}

}  // namespace pathwatch
