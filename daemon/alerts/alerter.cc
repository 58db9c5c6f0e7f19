#include "alerts/alerter.h"

#include <set>

#include "alerts/log_sink.h"
#include "alerts/verdict_alert.h"
#include "pathwatch/fetch.h"
#include "log.h"

namespace pathwatch {
namespace {

HysteresisConfig hysteresisConfig(const AlertsConfig& cfg) {
  HysteresisConfig h;
  h.fail_threshold = cfg.fail_threshold;
  h.resolve_threshold = cfg.resolve_threshold;
  h.reminder = cfg.reminder;
  h.flap_changes = cfg.flapping.changes;
  h.flap_window = cfg.flapping.window;
  h.flap_settle = cfg.flapping.settle;
  return h;
}

uint64_t undelivered(const WebhookSink& s) { return s.failed() + s.dropped(); }
uint64_t undelivered(const ExecSink& s) { return s.failed() + s.dropped(); }

bool sameWebhook(const WebhookConfig& a, const WebhookConfig& b) {
  return a.url == b.url && a.format == b.format && a.timeout == b.timeout;
}

}  // namespace

Alerter::Alerter(uv_loop_t* loop, ResultBus* bus, const AlertsConfig& cfg, AlerterOptions opt,
                 HttpClient* http)
    : loop_(loop), bus_(bus), opt_(std::move(opt)), http_(http),
      hysteresis_(hysteresisConfig(cfg)) {
  if (http_ == nullptr) {
    own_http_ = std::make_unique<HttpClient>(loop_);
    http_ = own_http_.get();
  }
  flush_timer_.init([&](uv_timer_t* t) { return uv_timer_init(loop_, t); }, this);
  reconfigure(cfg);
}

Alerter::~Alerter() {
  // Sinks first: they cancel their fetches on the client, which may be ours.
  // Commands still running are killed.
  webhooks_.clear();
  execs_.clear();
  retiring_execs_.clear();
}

void Alerter::reconfigure(const AlertsConfig& cfg) {
  hysteresis_.reconfigure(hysteresisConfig(cfg));

  // The retry policy and the exec timeout come from the config (alerts.webhook_retry,
  // alerts.exec_timeout); a sink whose policy changed on reload is made anew.
  WebhookOptions webhook_opt = opt_.webhook;
  webhook_opt.tries = cfg.webhook_retry.attempts;
  webhook_opt.backoff = cfg.webhook_retry.backoff;
  ExecOptions exec_opt = opt_.exec;
  exec_opt.timeout = cfg.exec_timeout;

  // What each label counted so far stays with the label (sinkFailures()).
  for (std::size_t i = 0; i < webhooks_.size() && i < webhook_slots_.size(); ++i)
    sink_carried_[webhook_slots_[i].label] += undelivered(*webhooks_[i]) - webhook_slots_[i].base;
  for (std::size_t i = 0; i < execs_.size() && i < exec_slots_.size(); ++i)
    sink_carried_[exec_slots_[i].label] += undelivered(*execs_[i]) - exec_slots_[i].base;

  std::vector<std::unique_ptr<WebhookSink>> hooks;
  std::vector<SinkSlot> hook_slots;
  for (std::size_t i = 0; i < cfg.webhooks.size(); ++i) {
    const auto& w = cfg.webhooks[i];
    auto it = std::find_if(webhooks_.begin(), webhooks_.end(), [&](const auto& s) {
      return s && sameWebhook(s->config(), w) && s->options().tries == webhook_opt.tries &&
             s->options().backoff == webhook_opt.backoff;
    });
    if (it != webhooks_.end()) {
      hooks.push_back(std::move(*it));
    } else {
      hooks.push_back(std::make_unique<WebhookSink>(loop_, *http_, w, webhook_opt));
    }
    hook_slots.push_back({"webhook[" + std::to_string(i) + "]", undelivered(*hooks.back())});
  }
  for (std::size_t i = 0; i < webhooks_.size(); ++i) {
    auto& s = webhooks_[i];
    if (!s) continue;
    // Removed: what it still held is never delivered.
    if (i < webhook_slots_.size()) sink_carried_[webhook_slots_[i].label] += s->queued();
    retired_.webhook_delivered += s->delivered();
    retired_.webhook_failed += s->failed();
    retired_.webhook_dropped += s->dropped() + s->queued();
  }
  webhooks_ = std::move(hooks);
  webhook_slots_ = std::move(hook_slots);

  std::vector<std::unique_ptr<ExecSink>> execs;
  std::vector<SinkSlot> exec_slots;
  for (std::size_t i = 0; i < cfg.exec.size(); ++i) {
    const auto& argv = cfg.exec[i];
    if (argv.empty() || argv[0].empty()) continue;
    auto it = std::find_if(execs_.begin(), execs_.end(),
                           [&](const auto& s) {
                             return s && s->argv() == argv && s->options().timeout == exec_opt.timeout;
                           });
    if (it != execs_.end()) {
      execs.push_back(std::move(*it));
    } else {
      execs.push_back(std::make_unique<ExecSink>(loop_, argv, exec_opt));
    }
    exec_slots.push_back({"exec[" + std::to_string(i) + "]", undelivered(*execs.back())});
  }
  for (std::size_t i = 0; i < execs_.size(); ++i) {
    auto& s = execs_[i];
    if (!s) continue;
    if (i < exec_slots_.size()) sink_carried_[exec_slots_[i].label] += s->queued();
    retired_.exec_started += s->started();
    retired_.exec_succeeded += s->succeeded();
    retired_.exec_failed += s->failed();
    retired_.exec_dropped += s->dropped() + s->queued();
    // A removed command still running gets its SIGTERM and grace.
    s->stop();
    if (s->running() > 0) retiring_execs_.push_back(std::move(s));
  }
  execs_ = std::move(execs);
  exec_slots_ = std::move(exec_slots);
  pruneRetiring();
  cfg_ = cfg;
}

void Alerter::onConfig(const Config& config) {
  reconfigure(config.alerts);
  // Forget what was removed, so a route added back later starts afresh.
  std::set<std::string> routes;
  std::set<std::pair<std::string, std::string>> provider_route, route_provider;
  for (const auto& r : config.routes) routes.insert(r.name);
  for (const auto& p : config.providers) {
    if (!p.enabled) continue;
    for (const auto& r : config.routes) {
      provider_route.insert({p.spec.name, r.name});
      route_provider.insert({r.name, p.spec.name});
    }
  }
  hysteresis_.retain(provider_route);
  egress_.retain(routes, route_provider);
}

void Alerter::pruneRetiring() {
  std::erase_if(retiring_execs_, [](const auto& s) { return s->running() == 0; });
}

std::size_t Alerter::execRunning() const {
  std::size_t n = 0;
  for (const auto& x : execs_) n += x->running();
  for (const auto& x : retiring_execs_) n += x->running();
  return n;
}

void Alerter::onRouteResult(const RouteResult& r) {
  pruneRetiring();
  if (shut_down_) return;
  const auto now = opt_.clock();
  for (const auto& e : egress_.observe(r, now)) emit(e);
  auto change = hysteresis_.observe(r.provider, r.route, r.verdict, now);
  if (!change) return;
  Pending p{*change, r, now};
  // Keep what a sentence needs, not the body.
  p.result.http.body.clear();
  p.result.http.headers.clear();
  p.result.dns.answers.clear();
  auto& list = pending_[r.provider];
  // A second decision for the same pair before the diagnosis came (a manual
  // run in between): the first goes out now, so none is lost or reordered.
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (it->result.route != r.route) continue;
    Pending old = std::move(*it);
    list.erase(it);
    emit(makeVerdictAlert(old.change, old.result, nullptr, old.at));
    break;
  }
  pending_[r.provider].push_back(std::move(p));
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(flush_timer_.get())))
    uv_timer_start(flush_timer_.get(), &Alerter::onFlushTimer,
                   static_cast<uint64_t>(std::max<int64_t>(opt_.diagnosis_wait.count(), 1)), 0);
}

void Alerter::onDiagnosis(const std::string& provider, const Diagnosis& diagnosis,
                          const std::vector<RouteResult>& /*routes*/) {
  if (shut_down_) return;
  flush(provider, &diagnosis);
}

void Alerter::flush(const std::string& provider, const Diagnosis* d) {
  auto it = pending_.find(provider);
  if (it == pending_.end()) return;
  std::vector<Pending> list = std::move(it->second);
  pending_.erase(it);
  for (const auto& p : list) emit(makeVerdictAlert(p.change, p.result, d, p.at));
  if (pending_.empty()) uv_timer_stop(flush_timer_.get());
}

void Alerter::flushAll() {
  while (!pending_.empty()) flush(pending_.begin()->first, nullptr);
}

void Alerter::onFlushTimer(uv_timer_t* t) noexcept {
  auto* self = static_cast<Alerter*>(t->data);
  if (self == nullptr) return;
  try {
    self->flushAll();
  } catch (const std::exception& e) {
    logError(std::string("alerts: flush failed: ") + e.what());
  } catch (...) {
  }
}

void Alerter::emit(const AlertEvent& e) {
  const nlohmann::json j = toJson(e);
  ++events_;
  // Each sink on its own: one that throws must not starve the others.
  if (bus_ != nullptr) bus_->publishEvent(j);
  if (opt_.log) logAlert(j);
  if (listener_) {
    try {
      listener_(j);
    } catch (...) {
    }
  }
  for (auto& w : webhooks_) {
    try {
      w->send(j);
    } catch (const std::exception& ex) {
      logError(std::string("alerts: webhook send failed: ") + ex.what());
    }
  }
  for (auto& x : execs_) {
    try {
      x->send(j);
    } catch (const std::exception& ex) {
      logError(std::string("alerts: exec send failed: ") + ex.what());
    }
  }
}

void Alerter::onShutdown() {
  if (shut_down_) return;
  // What was decided still reaches history and the log; nothing new starts.
  for (auto& w : webhooks_) w->stop();
  for (auto& x : execs_) x->stop();
  flushAll();
  shut_down_ = true;
  uv_timer_stop(flush_timer_.get());
}

std::vector<Alerter::SinkFailures> Alerter::sinkFailures() const {
  std::vector<SinkFailures> out;
  auto add = [&](const SinkSlot& slot, uint64_t now) {
    auto carried = sink_carried_.find(slot.label);
    out.push_back({slot.label,
                   (carried == sink_carried_.end() ? 0 : carried->second) + now - slot.base});
  };
  for (std::size_t i = 0; i < webhooks_.size() && i < webhook_slots_.size(); ++i)
    add(webhook_slots_[i], undelivered(*webhooks_[i]));
  for (std::size_t i = 0; i < execs_.size() && i < exec_slots_.size(); ++i)
    add(exec_slots_[i], undelivered(*execs_[i]));
  return out;
}

AlerterStats Alerter::stats() const {
  AlerterStats s = retired_;
  s.events = events_;
  for (const auto& w : webhooks_) {
    s.webhook_delivered += w->delivered();
    s.webhook_failed += w->failed();
    s.webhook_dropped += w->dropped();
  }
  for (const auto& x : execs_) {
    s.exec_started += x->started();
    s.exec_succeeded += x->succeeded();
    s.exec_failed += x->failed();
    s.exec_dropped += x->dropped();
  }
  return s;
}

}  // namespace pathwatch
