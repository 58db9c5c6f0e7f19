#include "alerts/exec_sink.h"

#include <csignal>
#include <cstdlib>

#include "log.h"

namespace pathwatch {

struct ExecSink::Child {
  ExecSink* owner = nullptr;  // nullptr once the sink is gone or stopped
  uv_process_t proc{};
  uv_pipe_t in{};
  uv_timer_t timer{};
  uv_write_t write_req{};
  std::string payload;
  int open_handles = 0;
  int pid = 0;
  bool exited = false;
  bool term_sent = false;
  bool timed_out = false;
  Millis kill_grace{0};

  static void onClose(uv_handle_t* h) noexcept {
    auto* c = static_cast<Child*>(h->data);
    if (--c->open_handles == 0) delete c;
  }
  void close(uv_handle_t* h) {
    if (!uv_is_closing(h)) uv_close(h, &Child::onClose);
  }
  // The whole process group: a script's own children (curl, ...) go too.
  void signal(int sig) {
    if (!exited && pid > 0) ::kill(-pid, sig);
  }
  void terminate() {
    if (exited) return;
    signal(SIGTERM);
    term_sent = true;
    uv_timer_stop(&timer);
    uv_timer_start(&timer, &Child::onTimer,
                   static_cast<uint64_t>(std::max<int64_t>(kill_grace.count(), 1)), 0);
  }
  static void onTimer(uv_timer_t* t) noexcept {
    auto* c = static_cast<Child*>(t->data);
    if (c->exited) return;
    if (!c->term_sent) {
      c->timed_out = true;
      c->terminate();
    } else {
      c->signal(SIGKILL);
    }
  }
  static void onWritten(uv_write_t* w, int /*status*/) noexcept {
    // EPIPE when the command did not read stdin: fine. Closing the pipe is
    // the child's EOF.
    auto* c = static_cast<Child*>(w->data);
    c->close(reinterpret_cast<uv_handle_t*>(&c->in));
  }
  static void onExit(uv_process_t* p, int64_t exit_status, int term_signal) noexcept {
    auto* c = static_cast<Child*>(p->data);
    c->exited = true;
    uv_timer_stop(&c->timer);
    ExecSink* owner = c->owner;
    c->owner = nullptr;
    c->close(reinterpret_cast<uv_handle_t*>(&c->proc));
    c->close(reinterpret_cast<uv_handle_t*>(&c->timer));
    c->close(reinterpret_cast<uv_handle_t*>(&c->in));
    if (owner != nullptr) {
      try {
        owner->childDone(c, exit_status, term_signal);
      } catch (...) {
      }
    }
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

ExecSink::~ExecSink() { stop(); }

void ExecSink::stop() {
  stopped_ = true;
  queue_.clear();
  for (Child* c : children_) {
    c->owner = nullptr;
    c->terminate();
  }
  children_.clear();
  running_ = 0;
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
  while (!stopped_ && running_ < opt_.max_concurrent && !queue_.empty()) {
    nlohmann::json ev = std::move(queue_.front());
    queue_.pop_front();
    spawn(ev);
  }
}

void ExecSink::spawn(const nlohmann::json& event) {
  auto* c = new Child;
  c->owner = this;
  c->kill_grace = opt_.kill_grace;
  c->payload = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  c->proc.data = c;
  c->in.data = c;
  c->timer.data = c;
  c->write_req.data = c;
  uv_pipe_init(loop_, &c->in, 0);
  uv_timer_init(loop_, &c->timer);
  c->open_handles = 3;  // in, timer, proc (a failed uv_spawn still needs uv_close)

  std::vector<std::string> env = execEnvironment(event);
  std::vector<char*> args, envp;
  for (auto& a : argv_) args.push_back(a.data());
  args.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  uv_stdio_container_t stdio[3];
  stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(&c->in);
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = 1;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;

  uv_process_options_t o{};
  o.exit_cb = &Child::onExit;
  o.file = args[0];
  o.args = args.data();
  o.env = envp.data();
  o.stdio_count = 3;
  o.stdio = stdio;
  // Its own session and process group, so a timeout reaches its children too.
  o.flags = UV_PROCESS_DETACHED;

  ++started_;
  const int rc = uv_spawn(loop_, &c->proc, &o);
  if (rc != 0) {
    ++failed_;
    logWarning("alerts: exec " + argv_[0] + " could not start: " + uv_strerror(rc));
    c->owner = nullptr;
    c->exited = true;
    c->close(reinterpret_cast<uv_handle_t*>(&c->proc));
    c->close(reinterpret_cast<uv_handle_t*>(&c->timer));
    c->close(reinterpret_cast<uv_handle_t*>(&c->in));
    return;
  }
  c->pid = c->proc.pid;
  children_.push_back(c);
  ++running_;
  uv_buf_t buf = uv_buf_init(c->payload.data(), static_cast<unsigned>(c->payload.size()));
  if (uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->in), &buf, 1,
               &Child::onWritten) != 0)
    c->close(reinterpret_cast<uv_handle_t*>(&c->in));
  uv_timer_start(&c->timer, &Child::onTimer,
                 static_cast<uint64_t>(std::max<int64_t>(opt_.timeout.count(), 1)), 0);
}

void ExecSink::childDone(Child* c, int64_t exit_status, int term_signal) {
  std::erase(children_, c);
  if (running_ > 0) --running_;
  if (c->timed_out) {
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
