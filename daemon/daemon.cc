#include "daemon.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <vector>

#include "alerts/alerter.h"
#include "control_socket.h"
#include "engine.h"
#include "history_service.h"
#include "log.h"
#include "pathwatch/classify.h"
#include "pathwatch/config.h"
#include "pathwatch/key.h"
#include "pathwatch/report_json.h"
#include "result_bus.h"
#include "scheduler.h"
#include "sd_notify.h"
#include "status_snapshot.h"
#include "time_util.h"

namespace pathwatch {

using nlohmann::json;

namespace {

// The watch stream: result summaries and alert events, one a line.
class WatchFeed : public ResultObserver, public EventSink {
 public:
  explicit WatchFeed(ControlServer*& server) : server_(server) {}
  void onRouteResult(const RouteResult& r) override {
    if (!server_ || server_->watcherCount() == 0) return;
    server_->broadcast({{"event", "result"},
                        {"at", r.started_at.empty() ? isoFromMs(wallClockMs()) : r.started_at},
                        {"provider", r.provider},
                        {"route", r.route},
                        {"verdict", toString(r.verdict)},
                        {"cause", toString(causeOf(r.verdict))},
                        {"ms", r.ms}});
  }
  void onDiagnosis(const std::string&, const Diagnosis&, const std::vector<RouteResult>&) override {
  }
  void onEvent(const json& event) override {
    if (server_) server_->broadcast(event);
  }

 private:
  ControlServer*& server_;
};

template <typename T>
void closeHandle(T*& h) {
  if (!h) return;
  h->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<T*>(x); });
  h = nullptr;
}

class Daemon {
 public:
  Daemon(uv_loop_t* loop, DaemonOptions opt) : loop_(loop), opt_(std::move(opt)) {}

  int start();
  void stop();

 private:
  std::shared_ptr<const Config> loadConfig();
  void applyConfig(std::shared_ptr<const Config> cfg, bool initial);
  void reload(std::function<void(bool, std::string)> done);
  void handleRequest(ControlServer::ClientId id, const json& req);
  void gcEngines();

  uv_loop_t* loop_;
  DaemonOptions opt_;
  std::shared_ptr<const Config> config_;
  std::string reload_error_;
  int64_t started_ms_ = wallClockMs();
  SdNotifier notifier_ = SdNotifier::fromEnvironment();
  ResultBus bus_;
  std::unique_ptr<Engine> engine_;
  std::vector<std::unique_ptr<Engine>> retired_;
  std::unique_ptr<HistoryService> history_;  // writer and reader threads, recorder, retention
  std::unique_ptr<StatusSnapshot> snapshot_;
  std::unique_ptr<Alerter> alerter_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ControlServer> control_;
  ControlServer* control_raw_ = nullptr;
  std::unique_ptr<WatchFeed> watch_;
  uv_signal_t* sighup_ = nullptr;
  uv_signal_t* sigterm_ = nullptr;
  uv_signal_t* sigint_ = nullptr;
  uv_timer_t* watchdog_ = nullptr;
  uv_timer_t* gc_ = nullptr;
  bool stopping_ = false;

 public:
  int exit_code = 0;
};

std::shared_ptr<const Config> Daemon::loadConfig() {
  std::error_code ec;
  if (!opt_.config_required && !std::filesystem::exists(opt_.config_path, ec)) {
    auto c = std::make_shared<Config>(defaultConfig());
    if (!opt_.socket_override.empty()) c->socket = opt_.socket_override;
    return c;
  }
  auto c = std::make_shared<Config>(loadConfigFile(opt_.config_path));
  if (!opt_.socket_override.empty()) c->socket = opt_.socket_override;
  return c;
}

void Daemon::applyConfig(std::shared_ptr<const Config> cfg, bool initial) {
  if (!initial && cfg->socket != config_->socket)
    logWarning("reload: socket path changes take effect at restart (still " + config_->socket +
               ")");
  if (!initial && cfg->history.path != config_->history.path)
    logWarning("reload: history.path changes take effect at restart (still " +
               config_->history.path + ")");
  if (engine_) retired_.push_back(std::move(engine_));  // finishes its in-flight probes
  engine_ = std::make_unique<Engine>(loop_, cfg);
  for (const auto& r : cfg->routes) {
    auto err = engine_->routeBindingError(r.name);
    if (!err.empty()) logError("route " + r.name + ": " + err);
  }
  config_ = cfg;
  bus_.publishConfig(*cfg);
  scheduler_->configure(cfg);
}

int Daemon::start() {
  try {
    config_ = loadConfig();
  } catch (const ConfigError& e) {
    logError("config error: " + e.file + ": " + e.key_path + ": " + e.problem);
    return 2;
  } catch (const std::exception& e) {
    logError(std::string("config error: ") + e.what());
    return 2;
  }
  logInfo("pathwatchd starting: config " + config_->source + ", " +
          std::to_string(config_->providers.size()) + " providers, " +
          std::to_string(config_->routes.size()) + " routes, interval " +
          formatDuration(config_->interval));

  try {
    namespace fs = std::filesystem;
    auto parent = fs::path(config_->history.path).parent_path();
    std::error_code ec;
    if (!parent.empty() && !fs::exists(parent, ec)) fs::create_directories(parent, ec);
    history_ = std::make_unique<HistoryService>(loop_, config_->history.path,
                                                [this] { return config_->history; });
  } catch (const std::exception& e) {
    logError(std::string("history: ") + e.what());
    return 1;
  }

  snapshot_ = std::make_unique<StatusSnapshot>(wallClockMs);
  watch_ = std::make_unique<WatchFeed>(control_raw_);
  bus_.subscribe(snapshot_.get());
  bus_.subscribe(history_->recorder());
  bus_.subscribe(watch_.get());
  bus_.subscribeEvents(history_->recorder());
  bus_.subscribeEvents(watch_.get());
  alerter_ = std::make_unique<Alerter>(loop_, &bus_, config_->alerts);
  bus_.subscribe(alerter_.get());

  Scheduler::Hooks hooks;
  hooks.probe = [this](const ProviderConfig& p, const RouteConfig& r, const KeyInspection& k,
                       std::function<void(RouteResult)> done) {
    engine_->probe(p, r, k, std::move(done));
  };
  hooks.read_key = [](const ProviderConfig& p) { return readKey(p); };
  hooks.diagnose = [](const ProviderConfig& p, const std::vector<RouteResult>& routes) {
    return diagnoseProvider(p.spec, routes);
  };
  hooks.cancel_all = [this] {
    if (engine_) engine_->cancelAll();
    for (auto& e : retired_) e->cancelAll();
  };
  hooks.on_result = [this](const RouteResult& r) { bus_.publishRouteResult(r); };
  hooks.on_diagnosis = [this](const std::string& p, const Diagnosis& d,
                              const std::vector<RouteResult>& routes) {
    bus_.publishDiagnosis(p, d, routes);
    notifier_.status(reload_error_.empty() ? snapshot_->summaryLine()
                                           : snapshot_->summaryLine() + "; " + reload_error_);
  };
  scheduler_ = std::make_unique<Scheduler>(loop_, std::move(hooks));

  ControlOptions copt;
  copt.path = config_->socket;
  control_ = std::make_unique<ControlServer>(
      loop_, copt, [this](ControlServer::ClientId id, const json& req) { handleRequest(id, req); });
  try {
    control_->listen();
  } catch (const std::exception& e) {
    logError(e.what());
    control_.reset();
    return 1;
  }
  control_raw_ = control_.get();

  auto signal = [this](uv_signal_t*& h, int signum, uv_signal_cb cb) {
    h = new uv_signal_t;
    uv_signal_init(loop_, h);
    h->data = this;
    uv_signal_start(h, cb, signum);
  };
  signal(sighup_, SIGHUP, [](uv_signal_t* h, int) noexcept {
    auto* self = static_cast<Daemon*>(h->data);
    if (!self) return;
    try {
      self->reload([](bool, std::string) {});
    } catch (...) {
      logError("reload: unexpected error");
    }
  });
  auto stopCb = [](uv_signal_t* h, int signum) noexcept {
    auto* self = static_cast<Daemon*>(h->data);
    if (!self) return;
    logNotice(std::string("received ") + (signum == SIGTERM ? "SIGTERM" : "SIGINT") +
              ", stopping");
    try {
      self->stop();
    } catch (...) {
      uv_stop(h->loop);
    }
  };
  signal(sigterm_, SIGTERM, stopCb);
  signal(sigint_, SIGINT, stopCb);

  if (auto wd = notifier_.watchdogInterval()) {
    watchdog_ = new uv_timer_t;
    uv_timer_init(loop_, watchdog_);
    watchdog_->data = this;
    auto every = static_cast<uint64_t>(std::max<int64_t>(1, wd->count() / 1000));
    uv_timer_start(
        watchdog_,
        [](uv_timer_t* t) noexcept {
          auto* self = static_cast<Daemon*>(t->data);
          if (self) self->notifier_.watchdog();
        },
        every, every);
    logInfo("watchdog: pinging every " + std::to_string(every) + "ms");
  }

  gc_ = new uv_timer_t;
  uv_timer_init(loop_, gc_);
  gc_->data = this;
  uv_timer_start(
      gc_,
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<Daemon*>(t->data);
        if (self) self->gcEngines();
      },
      1000, 1000);

  applyConfig(config_, true);
  notifier_.ready();
  notifier_.status("started; " + snapshot_->summaryLine());
  logNotice("pathwatchd ready: socket " + config_->socket + ", history " + config_->history.path);
  return 0;
}

void Daemon::gcEngines() {
  std::erase_if(retired_, [](auto& e) { return e->inFlight() == 0 && e->queued() == 0; });
}

void Daemon::reload(std::function<void(bool, std::string)> done) {
  if (stopping_) return done(false, "stopping");
  notifier_.reloading();
  logNotice("reloading config " + opt_.config_path);
  std::shared_ptr<const Config> cfg;
  try {
    cfg = loadConfig();
  } catch (const ConfigError& e) {
    reload_error_ = "reload failed: " + e.file + ": " + e.key_path + ": " + e.problem +
                    " (keeping the previous config)";
  } catch (const std::exception& e) {
    reload_error_ = std::string("reload failed: ") + e.what() + " (keeping the previous config)";
  }
  if (!cfg) {
    logError(reload_error_);
    notifier_.notify("READY=1\nSTATUS=" + reload_error_);
    return done(false, reload_error_);
  }
  reload_error_.clear();
  applyConfig(cfg, false);
  notifier_.notify("READY=1\nSTATUS=config reloaded; " + snapshot_->summaryLine());
  logNotice("config reloaded: " + std::to_string(cfg->providers.size()) + " providers, " +
            std::to_string(cfg->routes.size()) + " routes");
  done(true, "");
}

void Daemon::handleRequest(ControlServer::ClientId id, const json& req) {
  const std::string cmd = req["cmd"].get<std::string>();
  auto err = [&](const std::string& m) { control_->reply(id, {{"ok", false}, {"error", m}}); };
  if (cmd == "status") {
    json out = snapshot_->toJson();
    out["ok"] = true;
    out["daemon"] = {{"pid", static_cast<int64_t>(getpid())},
                     {"started_at", isoFromMs(started_ms_)},
                     {"config", config_->source},
                     {"interval", formatDuration(config_->interval)},
                     {"socket", config_->socket},
                     {"history", config_->history.path},
                     {"cycles", snapshot_->cycles()},
                     {"reload_error", reload_error_.empty() ? json(nullptr) : json(reload_error_)}};
    out["history"] = history_->statusJson();
    control_->reply(id, out);
  } else if (cmd == "history") {
    // Answered off the loop (HistoryService); history_ stops before control_.
    history_->answer(req, [this, id](std::string answer) {
      if (control_) control_->replyLine(id, std::move(answer));
    });
  } else if (cmd == "run") {
    ControlServer* server = control_.get();
    scheduler_->runNow([server, id](CheckReport rep) {
      server->reply(id, {{"ok", true}, {"report", toJson(rep)}});
    });
  } else if (cmd == "reload") {
    reload([this, id](bool ok, std::string msg) {
      if (ok)
        control_->reply(id, {{"ok", true}, {"reloaded", true}, {"config", config_->source}});
      else
        control_->reply(id, {{"ok", false}, {"error", msg}});
    });
  } else if (cmd == "watch") {
    control_->setWatching(id, true);
    control_->reply(id, {{"ok", true}, {"watching", true}});
  } else {
    err("unknown cmd \"" + cmd.substr(0, 64) + "\" (status, history, run, reload, watch)");
  }
}

void Daemon::stop() {
  if (stopping_) return;
  stopping_ = true;
  const bool started = control_raw_ != nullptr;
  notifier_.stopping();
  if (scheduler_) scheduler_->stop();
  bus_.publishShutdown();
  if (history_) {
    bus_.unsubscribe(history_->recorder());
    bus_.unsubscribeEvents(history_->recorder());
    history_->shutdown();  // writes what is queued (bounded), checkpoints, joins its threads
  }
  if (control_) control_->close();
  control_raw_ = nullptr;
  closeHandle(sighup_);
  closeHandle(sigterm_);
  closeHandle(sigint_);
  closeHandle(watchdog_);
  closeHandle(gc_);
  bus_.unsubscribe(alerter_.get());
  alerter_.reset();
  scheduler_.reset();
  control_.reset();
  engine_.reset();
  retired_.clear();
  history_.reset();
  // Whatever still holds the loop open gets 1.5 s, then the loop is stopped.
  auto* guard = new uv_timer_t;
  uv_timer_init(loop_, guard);
  uv_timer_start(
      guard,
      [](uv_timer_t* t) noexcept {
        uv_stop(t->loop);
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      },
      1500, 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(guard));
  if (started) logNotice("pathwatchd stopped");
}

}  // namespace

int runDaemon(const DaemonOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  if (const char* d = std::getenv("PATHWATCH_DEBUG"); d && *d == '1') setLogLevel(LogLevel::Debug);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc;
  {
    Daemon d(&loop, options);
    rc = d.start();
    if (rc == 0) {
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    d.stop();
  }
  // Let every close callback run; a handle still open after a bounded drain
  // (an alert sink that outlived its owner) is closed here.
  for (int i = 0; i < 100 && uv_run(&loop, UV_RUN_NOWAIT) != 0; ++i) {
  }
  uv_walk(
      &loop,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop, UV_RUN_NOWAIT);
  if (uv_loop_close(&loop) != 0) logWarning("loop closed with handles still open");
  return rc;
}

}  // namespace pathwatch
