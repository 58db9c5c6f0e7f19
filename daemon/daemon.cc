#include "daemon.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <vector>

#include "alerts/alerter.h"
#include "control_socket.h"
#include "pathwatch/engine.h"
#include "history_service.h"
#include "pathwatch/uv_handle.h"
#include "log.h"
#include "metrics.h"
#include "metrics_server.h"
#include "pathwatch/classify.h"
#include "pathwatch/config.h"
#include "pathwatch/key.h"
#include "pathwatch/report_json.h"
#include "result_bus.h"
#include "scheduler.h"
#include "sd_notify.h"
#include "status_snapshot.h"
#include "pathwatch/clock.h"

#ifndef PATHWATCH_VERSION
#define PATHWATCH_VERSION "0.1.0"
#endif

namespace pathwatch {

using nlohmann::json;

namespace {

// The providers probed: the opt-in built-ins are in every config, off until named.
std::size_t probedProviders(const Config& c) {
  return static_cast<std::size_t>(
      std::count_if(c.providers.begin(), c.providers.end(), [](const auto& p) { return p.enabled; }));
}

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

// Alert commands still running at shutdown get their SIGTERM and this long
// to exit; then they are killed, so a hook that ignores SIGTERM can neither
// outlive the daemon nor hang its stop.
constexpr uint64_t kHookStopWaitMs = 3000;

class Daemon {
 public:
  Daemon(uv_loop_t* loop, DaemonOptions opt) : loop_(loop), opt_(std::move(opt)) {}

  int start();
  // Stops everything; alert commands still running get a bounded wait
  // (kHookStopWaitMs) on the loop before they are killed.
  void stop();

 private:
  using ClientId = ControlServer::ClientId;
  std::shared_ptr<const Config> loadConfig();
  void applyConfig(std::shared_ptr<const Config> cfg, bool initial);
  json reload();
  void requestReload(std::optional<ClientId> id);
  void runPendingReload();
  void requestRun(ClientId id);
  void finishRun(const CheckReport& rep);
  void handleRequest(ClientId id, const json& req);
  std::shared_ptr<const std::string> statusLine();
  void waitForHooks();
  void finishStop();
  void gcEngines();
  std::string metricsText();
  std::string listenMetrics(const Config& cfg);
  bool startMetricsServer(const MetricsConfig& m, std::string* error);

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
  std::unique_ptr<MetricsCollector> metrics_;
  // GET /metrics on metrics.listen; null when the key is absent.
  std::unique_ptr<MetricsServer> metrics_server_;
  std::optional<MetricsConfig> metrics_listen_;  // what metrics_server_ listens on
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ControlServer> control_;
  ControlServer* control_raw_ = nullptr;
  std::unique_ptr<WatchFeed> watch_;
  UvSignal sighup_, sigterm_, sigint_;
  UvTimer watchdog_, gc_;
  // Bursts of reloads become one: requests before it runs (next loop turn)
  // wait for it, requests while its answer goes out get that answer.
  UvTimer reload_timer_;
  std::vector<ClientId> reload_waiters_;
  std::optional<json> reload_answer_;
  // At most one run per config timeout: a run during a run joins it; one
  // within `timeout` after it gets its report marked "coalesced".
  struct RunWaiter {
    ClientId id;
    bool joined;
  };
  std::vector<RunWaiter> run_waiters_;
  bool run_in_progress_ = false;
  std::optional<json> last_run_;  // the report of the latest run
  // The status answer as sent ('\n' included), rebuilt only when something it
  // shows changed: a busy socket then costs a write per request, not a JSON
  // build or a copy (every client's write shares the line).
  struct StatusCache {
    uint64_t snapshot_version = 0;
    HistoryService::StatusState history;
    std::string reload_error;
    std::shared_ptr<const std::string> line;
  };
  std::optional<StatusCache> status_cache_;
  uint64_t last_run_done_ms_ = 0;  // loop time
  UvTimer stop_timer_, guard_;
  uint64_t stop_deadline_ms_ = 0;
  bool stopping_ = false;
  bool stopped_ = false;
  bool log_stopped_ = false;

 public:
  bool stopped() const { return stopped_; }

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
  if (!initial) {
    const std::string err = listenMetrics(*cfg);
    if (!err.empty()) logError("reload: " + err);
  }
  if (engine_) {
    retired_.push_back(std::move(engine_));  // finishes its in-flight probes
    // Collected once a second while there are retired engines, and only then:
    // an idle daemon wakes only for timers with work to do.
    if (gc_ && !uv_is_active(gc_.handle()))
      uv_timer_start(
          gc_.get(),
          [](uv_timer_t* t) noexcept {
            auto* self = static_cast<Daemon*>(t->data);
            if (self) self->gcEngines();
          },
          1000, 1000);
  }
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
          std::to_string(probedProviders(*config_)) + " providers, " +
          std::to_string(config_->routes.size()) + " routes, interval " +
          formatDuration(config_->interval));

  try {
    namespace fs = std::filesystem;
    auto parent = fs::path(config_->history.path).parent_path();
    std::error_code ec;
    if (!parent.empty() && !fs::exists(parent, ec)) fs::create_directories(parent, ec);
    HistoryServiceOptions history_options;
    // A cycle's diagnoses come one provider at a time: gathered for a second,
    // they go in one transaction rather than one each.
    history_options.writer.linger = std::chrono::seconds(1);
    history_ = std::make_unique<HistoryService>(loop_, config_->history.path,
                                                [this] { return config_->history; }, history_options);
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
  metrics_ = std::make_unique<MetricsCollector>(PATHWATCH_VERSION);
  bus_.subscribe(metrics_.get());
  bus_.subscribeEvents(metrics_.get());

  Scheduler::Hooks hooks;
  hooks.probe = [this](const ProviderConfig& p, const RouteConfig& r, const KeyInspection& k,
                       std::function<void(RouteResult)> done) {
    engine_->probe(p, r, k, std::move(done));
  };
  hooks.observe_route = [this](const RouteConfig& r, RouteProbe what,
                               std::function<void(RouteObservation)> done) {
    engine_->observeRoute(r, std::move(what), std::move(done));
  };
  // The status answer shows what each key source gave (never the key).
  hooks.read_key = [this](const ProviderConfig& p) {
    KeyInspection k = readKey(p);
    snapshot_->onKey(p.spec.name, k.layer);
    return k;
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
  if (std::string err = listenMetrics(*config_); !err.empty()) {
    logError(err);
    control_->close();
    control_.reset();
    control_raw_ = nullptr;
    return 1;
  }

  auto signal = [this](UvSignal& h, int signum, uv_signal_cb cb) {
    h.init([&](uv_signal_t* x) { return uv_signal_init(loop_, x); }, this);
    uv_signal_start(h.get(), cb, signum);
  };
  signal(sighup_, SIGHUP, [](uv_signal_t* h, int) noexcept {
    auto* self = static_cast<Daemon*>(h->data);
    if (!self) return;
    try {
      self->requestReload(std::nullopt);
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

  auto timer = [this](UvTimer& t) {
    t.init([&](uv_timer_t* x) { return uv_timer_init(loop_, x); }, this);
  };
  if (auto wd = notifier_.watchdogInterval()) {
    timer(watchdog_);
    auto every = static_cast<uint64_t>(std::max<int64_t>(1, wd->count() / 1000));
    uv_timer_start(
        watchdog_.get(),
        [](uv_timer_t* t) noexcept {
          auto* self = static_cast<Daemon*>(t->data);
          if (self) self->notifier_.watchdog();
        },
        every, every);
    logInfo("watchdog: pinging every " + std::to_string(every) + "ms");
  }


  timer(gc_);  // started when a reload retires an engine

  timer(reload_timer_);

  applyConfig(config_, true);
  notifier_.ready();
  notifier_.status("started; " + snapshot_->summaryLine());
  logNotice("pathwatchd ready: socket " + config_->socket + ", history " + config_->history.path);
  return 0;
}

std::string Daemon::metricsText() {
  std::vector<LabeledCount> sinks;
  if (alerter_)
    for (auto& f : alerter_->sinkFailures()) sinks.push_back({std::move(f.label), f.count});
  return metrics_ ? metrics_->render(std::move(sinks)) : std::string();
}

bool Daemon::startMetricsServer(const MetricsConfig& m, std::string* error) {
  MetricsServerOptions o;
  o.host = m.host;
  o.port = m.port;
  auto server = std::make_unique<MetricsServer>(loop_, o, [this] { return metricsText(); });
  if (!server->start(error)) return false;
  metrics_server_ = std::move(server);
  metrics_listen_ = m;
  logNotice("metrics: serving GET /metrics on " + metrics_server_->boundAddress());
  return true;
}

// metrics.listen at start and on reload: starts, moves or stops the endpoint.
// Returns "" or why it cannot listen; a reload that cannot move it keeps the
// old address when it can.
std::string Daemon::listenMetrics(const Config& cfg) {
  if (!cfg.metrics) {
    if (metrics_server_) logNotice("metrics: no longer serving " + metrics_listen_->listen);
    metrics_server_.reset();
    metrics_listen_.reset();
    return "";
  }
  if (metrics_server_ && metrics_listen_->listen == cfg.metrics->listen) return "";
  std::string err;
  if (startMetricsServer(*cfg.metrics, &err)) return "";
  if (!metrics_server_) return "metrics.listen: cannot listen on " + err;
  // The old listener may hold that very port (127.0.0.1:9848 -> 0.0.0.0:9848):
  // free it, and take it back when the new address still fails.
  const MetricsConfig old = *metrics_listen_;
  metrics_server_.reset();
  metrics_listen_.reset();
  if (startMetricsServer(*cfg.metrics, &err)) return "";
  std::string again;
  if (startMetricsServer(old, &again))
    return "metrics.listen: cannot listen on " + err + "; still serving " + old.listen;
  return "metrics.listen: cannot listen on " + err + "; no metrics endpoint now";
}

void Daemon::gcEngines() {
  std::erase_if(retired_, [](auto& e) { return e->inFlight() == 0 && e->queued() == 0; });
  if (retired_.empty() && gc_) uv_timer_stop(gc_.get());
}

// Loads and applies the config now; the answer every requester gets.
json Daemon::reload() {
  if (stopping_) return {{"ok", false}, {"error", "stopping"}};
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
    notifier_.readyWithStatus(reload_error_);
    return {{"ok", false}, {"error", reload_error_}};
  }
  reload_error_.clear();
  applyConfig(cfg, false);
  notifier_.readyWithStatus("config reloaded; " + snapshot_->summaryLine());
  logNotice("config reloaded: " + std::to_string(probedProviders(*cfg)) + " providers, " +
            std::to_string(cfg->routes.size()) + " routes");
  return {{"ok", true}, {"reloaded", true}, {"config", config_->source}};
}

void Daemon::requestReload(std::optional<ClientId> id) {
  if (reload_answer_) {  // its answer is going out right now: take it too
    if (id) control_->reply(*id, *reload_answer_);
    return;
  }
  if (id) reload_waiters_.push_back(*id);
  if (!reload_timer_ || uv_is_active(reload_timer_.handle())) return;
  // On the next loop turn: every reload read in this one joins.
  uv_timer_start(
      reload_timer_.get(),
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<Daemon*>(t->data);
        if (!self) return;
        try {
          self->runPendingReload();
        } catch (const std::exception& e) {
          logError(std::string("reload: ") + e.what());
        }
      },
      0, 0);
}

void Daemon::runPendingReload() {
  reload_answer_ = reload();
  const std::size_t n = reload_waiters_.size();
  // Answering may hand a client's next queued request (another reload) to
  // handleRequest: it joins through reload_answer_, not the list.
  std::vector<ClientId> waiters = std::move(reload_waiters_);
  reload_waiters_.clear();
  for (ClientId id : waiters)
    if (control_) control_->reply(id, *reload_answer_);
  reload_answer_.reset();
  if (n > 1) logInfo("reload: one reload answered " + std::to_string(n) + " requests");
}

void Daemon::requestRun(ClientId id) {
  if (run_in_progress_) {
    run_waiters_.push_back({id, true});
    return;
  }
  const uint64_t now = uv_now(loop_);
  const auto window = static_cast<uint64_t>(std::max<int64_t>(config_->timeout.count(), 0));
  if (last_run_ && now - last_run_done_ms_ < window) {
    control_->reply(id, {{"ok", true},
                         {"coalesced", true},
                         {"age_ms", now - last_run_done_ms_},
                         {"report", *last_run_}});
    return;
  }
  run_in_progress_ = true;
  run_waiters_.push_back({id, false});
  scheduler_->runNow([this](CheckReport rep) { finishRun(rep); });
}

void Daemon::finishRun(const CheckReport& rep) {
  run_in_progress_ = false;
  last_run_ = toJson(rep);
  last_run_done_ms_ = uv_now(loop_);
  std::vector<RunWaiter> waiters = std::move(run_waiters_);
  run_waiters_.clear();
  for (const auto& w : waiters) {
    if (!control_) break;
    json answer = {{"ok", true}, {"report", *last_run_}};
    if (w.joined) answer["coalesced"] = true;
    control_->reply(w.id, answer);
  }
}

std::shared_ptr<const std::string> Daemon::statusLine() {
  HistoryService::StatusState hs = history_->statusState();
  // config_ changes only with a config, and every config reaches the snapshot.
  if (status_cache_ && status_cache_->snapshot_version == snapshot_->version() &&
      status_cache_->history == hs && status_cache_->reload_error == reload_error_)
    return status_cache_->line;
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
  out["history"] = history_->statusJson(hs);
  StatusCache c;
  c.snapshot_version = snapshot_->version();
  c.history = std::move(hs);
  c.reload_error = reload_error_;
  // As ControlServer::reply.
  c.line = std::make_shared<const std::string>(
      out.dump(-1, ' ', false, json::error_handler_t::replace) + '\n');
  status_cache_ = std::move(c);
  return status_cache_->line;
}

void Daemon::handleRequest(ClientId id, const json& req) {
  const std::string cmd = req["cmd"].get<std::string>();
  auto err = [&](const std::string& m) { control_->reply(id, {{"ok", false}, {"error", m}}); };
  if ((cmd == "run" || cmd == "reload") && !control_->mayControl(id)) {
    const PeerCred* p = control_->peer(id);
    logWarning("control: refused " + cmd + " from uid " +
               (p && p->known ? std::to_string(p->uid) : std::string("?")));
    return err(cmd + " needs root, the daemon's user or the socket's group");
  }
  if (cmd == "status") {
    control_->replyLine(id, statusLine());
  } else if (cmd == "history") {
    // Answered off the loop (HistoryService), one line within the socket's
    // output cap (with room to spare); history_ stops before control_.
    const std::size_t cap = control_->options().max_output;
    history_->answer(req, cap - std::min<std::size_t>(cap / 8, 4096), [this, id](std::string answer) {
      if (control_) control_->replyLine(id, std::move(answer));
    });
  } else if (cmd == "run") {
    requestRun(id);
  } else if (cmd == "reload") {
    requestReload(id);
  } else if (cmd == "metrics") {
    control_->reply(id, {{"ok", true}, {"metrics", metricsText()}});
  } else if (cmd == "watch") {
    if (!control_->setWatching(id, true))
      return err("too many watchers (limit " + std::to_string(control_->options().max_watchers) +
                 "); try again later");
    control_->reply(id, {{"ok", true}, {"watching", true}});
  } else {
    err("unknown cmd \"" + cmd.substr(0, 64) +
        "\" (status, history, run, reload, watch, metrics)");
  }
}

void Daemon::stop() {
  if (stopping_) return;
  stopping_ = true;
  notifier_.stopping();
  if (scheduler_) scheduler_->stop();  // answers pending runs with what they have
  bus_.publishShutdown();              // alert commands get SIGTERM
  if (history_) {
    bus_.unsubscribe(history_->recorder());
    bus_.unsubscribeEvents(history_->recorder());
    history_->shutdown();  // writes what is queued (bounded), checkpoints, joins its threads
  }
  log_stopped_ = control_raw_ != nullptr;  // it had started
  if (control_) control_->close();
  control_raw_ = nullptr;
  metrics_server_.reset();
  sighup_.reset();
  sigterm_.reset();
  sigint_.reset();
  watchdog_.reset();
  gc_.reset();
  reload_timer_.reset();
  if (alerter_ && alerter_->execRunning() > 0 && loop_) return waitForHooks();
  finishStop();
}

void Daemon::waitForHooks() {
  logNotice("waiting up to " + std::to_string(kHookStopWaitMs) + "ms for " +
            std::to_string(alerter_->execRunning()) + " alert command(s) to exit");
  stop_deadline_ms_ = uv_now(loop_) + kHookStopWaitMs;
  stop_timer_.init([&](uv_timer_t* t) { return uv_timer_init(loop_, t); }, this);
  uv_timer_start(
      stop_timer_.get(),
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<Daemon*>(t->data);
        if (!self) return;
        if (self->alerter_ && self->alerter_->execRunning() > 0 &&
            uv_now(t->loop) < self->stop_deadline_ms_)
          return;
        try {
          self->finishStop();
        } catch (...) {
          uv_stop(t->loop);
        }
      },
      20, 20);
}

void Daemon::finishStop() {
  if (stopped_) return;
  stopped_ = true;
  stop_timer_.reset();
  if (alerter_) {
    if (alerter_->execRunning() > 0)
      logWarning("killing " + std::to_string(alerter_->execRunning()) +
                 " alert command(s) still running");
    bus_.unsubscribe(alerter_.get());
    alerter_.reset();  // SIGKILLs what still runs
  }
  scheduler_.reset();
  control_.reset();
  engine_.reset();
  retired_.clear();
  history_.reset();
  // Whatever still holds the loop open gets 1.5 s, then the loop is stopped.
  guard_.init([&](uv_timer_t* t) { return uv_timer_init(loop_, t); }, this);
  uv_timer_start(
      guard_.get(), [](uv_timer_t* t) noexcept { uv_stop(t->loop); }, 1500, 0);
  uv_unref(guard_.handle());
  if (log_stopped_) logNotice("pathwatchd stopped");
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
      if (options.on_started) options.on_started(&loop);
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    d.stop();
    // The bounded wait for alert commands, if stop() started one.
    if (!d.stopped()) uv_run(&loop, UV_RUN_DEFAULT);
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
