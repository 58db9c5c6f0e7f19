#include "scheduler.h"

#include <algorithm>
#include <cmath>

#include "log.h"
#include "pathwatch/classify.h"
#include "pathwatch/clock.h"
#include "pathwatch/host.h"

namespace pathwatch {

// ---- ScheduleCore (pure) ----

int64_t ScheduleCore::jittered(int64_t from_ms) {
  auto interval = static_cast<double>(opt_.interval.count());
  double j = std::clamp(opt_.jitter, 0.0, 0.5);
  std::uniform_real_distribution<double> d(1.0 - j, 1.0 + j);
  return from_ms + std::max<int64_t>(1, static_cast<int64_t>(std::llround(interval * d(rng_))));
}

int64_t ScheduleCore::startAt(const PairState& s) const {
  return std::max(s.next_due_ms, s.not_before_ms);
}

void ScheduleCore::index(const PairKey& k, const PairState& s) {
  if (s.in_flight) {
    flying_.emplace(s.next_due_ms, k);
  } else {
    waiting_.emplace(s.next_due_ms, k);
    starts_.emplace(startAt(s), k);
  }
}

void ScheduleCore::unindex(const PairKey& k, const PairState& s) {
  if (s.in_flight) {
    flying_.erase({s.next_due_ms, k});
  } else {
    waiting_.erase({s.next_due_ms, k});
    starts_.erase({startAt(s), k});
  }
}

void ScheduleCore::reindex() {
  waiting_.clear();
  starts_.clear();
  flying_.clear();
  for (const auto& [k, s] : pairs_) index(k, s);
}

void ScheduleCore::setPairs(const std::vector<PairKey>& pairs, const ScheduleOptions& opt,
                            int64_t now_ms) {
  opt_ = opt;
  if (opt_.concurrency < 1) opt_.concurrency = 1;
  std::map<PairKey, PairState> next;
  int64_t spread = std::min(opt_.first_spread.count(), opt_.interval.count());
  std::uniform_int_distribution<int64_t> first(0, std::max<int64_t>(0, spread));
  for (const auto& k : pairs) {
    auto it = pairs_.find(k);
    if (it != pairs_.end()) {
      PairState s = it->second;
      // A shorter interval takes effect now rather than after the old one.
      if (!s.in_flight && s.next_due_ms > now_ms + opt_.interval.count())
        s.next_due_ms = now_ms + first(rng_);
      next.emplace(k, s);
    } else {
      PairState s;
      s.next_due_ms = now_ms + first(rng_);
      next.emplace(k, s);
    }
  }
  pairs_ = std::move(next);
  in_flight_ = static_cast<std::size_t>(
      std::count_if(pairs_.begin(), pairs_.end(), [](auto& p) { return p.second.in_flight; }));
  reindex();
}

std::vector<PairKey> ScheduleCore::due(int64_t now_ms) {
  // The previous probe still runs: this tick is skipped, not queued.
  while (!flying_.empty() && flying_.begin()->first <= now_ms) {
    auto node = flying_.extract(flying_.begin());
    auto& s = pairs_[node.value().second];
    while (s.next_due_ms <= now_ms) {
      s.next_due_ms = jittered(s.next_due_ms);
      ++s.skipped;
    }
    node.value().first = s.next_due_ms;
    flying_.insert(std::move(node));
  }
  // Due and not held, earliest due first, up to the cap: waiting_ is in that
  // order, so only the pairs started (and any held ones among the due) are
  // looked at, however long the queue behind the cap.
  std::vector<PairKey> ready;
  const auto cap = static_cast<std::size_t>(opt_.concurrency);
  for (auto it = waiting_.begin();
       it != waiting_.end() && it->first <= now_ms && in_flight_ + ready.size() < cap; ++it)
    if (pairs_[it->second].not_before_ms <= now_ms) ready.push_back(it->second);
  std::vector<PairKey> out;
  for (auto& k : ready) {
    auto& s = pairs_[k];
    unindex(k, s);
    s.in_flight = true;
    ++s.started;
    s.next_due_ms = jittered(now_ms);
    ++in_flight_;
    index(k, s);
    out.push_back(k);
  }
  return out;
}

void ScheduleCore::completed(const PairKey& k, Verdict v, std::optional<double> retry_after_s,
                             int64_t now_ms) {
  auto it = pairs_.find(k);
  if (it == pairs_.end() || !it->second.in_flight) return;
  auto& s = it->second;
  unindex(k, s);
  s.in_flight = false;
  --in_flight_;
  int64_t hold = 0;
  if (v == Verdict::RateLimited) {
    int shift = std::min(s.rate_limited_streak, 16);
    double backoff = static_cast<double>(opt_.rate_limit_backoff.count()) * std::ldexp(1.0, shift);
    hold = static_cast<int64_t>(std::min(backoff, static_cast<double>(opt_.max_backoff.count())));
    ++s.rate_limited_streak;
  } else {
    s.rate_limited_streak = 0;
  }
  if (retry_after_s && std::isfinite(*retry_after_s) && *retry_after_s > 0) {
    // Told exactly how long: at least that (capped at a day against nonsense).
    double told = std::min(*retry_after_s * 1000.0, 86400000.0);
    hold = std::max(hold, static_cast<int64_t>(std::ceil(told)));
    if (v == Verdict::RateLimited) hold = static_cast<int64_t>(std::ceil(told));
  }
  if (hold > 0) {
    s.not_before_ms = now_ms + hold;
    s.next_due_ms = std::max(s.next_due_ms, s.not_before_ms);
  }
  index(k, s);
}

void ScheduleCore::cancelled(const PairKey& k) {
  auto it = pairs_.find(k);
  if (it == pairs_.end() || !it->second.in_flight) return;
  unindex(k, it->second);
  it->second.in_flight = false;
  --in_flight_;
  index(k, it->second);
}

std::vector<PairKey> ScheduleCore::forceDue(int64_t now_ms) {
  std::vector<PairKey> held_pairs;
  for (auto& [k, s] : pairs_) {
    if (s.not_before_ms > now_ms) {
      held_pairs.push_back(k);
    } else if (!s.in_flight) {
      s.next_due_ms = now_ms;
    }
  }
  reindex();
  return held_pairs;
}

std::optional<int64_t> ScheduleCore::nextWakeMs() const {
  if (in_flight_ >= static_cast<std::size_t>(opt_.concurrency)) return std::nullopt;
  if (starts_.empty()) return std::nullopt;
  return starts_.begin()->first;
}

const ScheduleCore::PairState* ScheduleCore::state(const PairKey& k) const {
  auto it = pairs_.find(k);
  return it == pairs_.end() ? nullptr : &it->second;
}

bool ScheduleCore::held(const PairKey& k, int64_t now_ms) const {
  auto* s = state(k);
  return s && s->not_before_ms > now_ms;
}

// ---- Scheduler (on the loop) ----

Scheduler::Scheduler(uv_loop_t* loop, Hooks hooks, uint64_t seed)
    : loop_(loop), hooks_(std::move(hooks)), core_(seed) {
  if (!hooks_.read_key) hooks_.read_key = [](const ProviderConfig&) { return KeyInspection{}; };
  timer_.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, this);
}

Scheduler::~Scheduler() { stop(); }

int64_t Scheduler::now() const {
  if (hooks_.now_ms) return hooks_.now_ms();
  return static_cast<int64_t>(uv_now(loop_));
}

void Scheduler::onTimer(uv_timer_t* t) noexcept {
  auto* self = static_cast<Scheduler*>(t->data);
  if (!self) return;
  try {
    self->pump();
  } catch (const std::exception& e) {
    logError(std::string("scheduler: ") + e.what());
  } catch (...) {
    logError("scheduler: unknown error");
  }
}

void Scheduler::arm() {
  if (stopped_ || !timer_) return;
  uv_update_time(loop_);
  auto next = core_.nextWakeMs();
  if (!next) {
    uv_timer_stop(timer_.get());
    return;
  }
  int64_t delay = std::max<int64_t>(0, *next - now());
  uv_timer_start(timer_.get(), onTimer, static_cast<uint64_t>(delay), 0);
}

void Scheduler::pump() {
  if (stopped_) return;
  checkRuns();
  uv_update_time(loop_);
  for (const auto& k : core_.due(now())) startProbe(k);
  arm();
}

const ProviderConfig* Scheduler::findProvider(const std::string& name) const {
  auto it = providers_by_name_.find(name);
  return it == providers_by_name_.end() ? nullptr : it->second;
}

const RouteConfig* Scheduler::findRoute(const std::string& name) const {
  if (!config_) return nullptr;
  for (const auto& r : config_->routes)
    if (r.name == name) return &r;
  return nullptr;
}

void Scheduler::startProbe(const PairKey& k) {
  const ProviderConfig* prov = findProvider(k.provider);
  const RouteConfig* route = findRoute(k.route);
  auto key = keys_ ? keys_->find(k.provider) : decltype(keys_->find(k.provider)){};
  if (!prov || !route || !keys_ || key == keys_->end()) {
    core_.cancelled(k);
    return;
  }
  // The route's own probe, once per interval: the first pair due starts it.
  RouteState& rs = routes_[k.route];
  const int64_t fresh_after = now() - static_cast<int64_t>(static_cast<double>(config_->interval.count()) * 0.9);
  if (!rs.in_flight && (!rs.observed || rs.started_ms < fresh_after)) observeRoute(k.route);
  hooks_.probe(*prov, *route, key->second, [this, k](RouteResult r) {
    try {
      onProbeDone(k, std::move(r));
    } catch (const std::exception& e) {
      logError(std::string("scheduler: handling a result: ") + e.what());
    }
  });
}

void Scheduler::observeRoute(const std::string& name) {
  const RouteConfig* route = findRoute(name);
  if (!route || !hooks_.observe_route) {
    for (auto& w : runs_) w->pending_routes.erase(name);
    return;
  }
  RouteState& rs = routes_[name];
  rs.in_flight = true;
  rs.started_ms = now();
  hooks_.observe_route(*route, route_probe_, [this, name](RouteObservation o) {
    try {
      onRouteObserved(name, std::move(o));
    } catch (const std::exception& e) {
      logError(std::string("scheduler: handling a route observation: ") + e.what());
    }
  });
}

void Scheduler::onRouteObserved(const std::string& name, RouteObservation obs) {
  if (stopped_) return;
  auto it = routes_.find(name);
  if (it == routes_.end()) return;  // removed by a reload while it ran
  it->second.in_flight = false;
  it->second.observed = true;
  std::erase_if(observations_, [&](const RouteObservation& o) {
    if (o.route != name) return false;
    host_.remove(o.clock);
    return true;
  });
  host_.add(obs.clock);
  observations_.push_back(obs);
  views_ = routeViews(observations_);
  for (auto& w : runs_)
    if (w->pending_routes.erase(name)) w->in.observations.push_back(obs);
  auto parked = std::move(it->second.parked);
  it->second.parked.clear();
  for (auto& [k, raw] : parked) record(k, std::move(raw));
  checkRuns();
  arm();
}

void Scheduler::onProbeDone(const PairKey& k, RouteResult raw) {
  if (stopped_) return;
  raw.provider = k.provider;
  raw.route = k.route;
  for (auto& w : runs_)
    if (w->pending.erase(k)) w->in.raw[{k.provider, k.route}] = raw;
  auto rs = routes_.find(k.route);
  if (rs != routes_.end() && rs->second.in_flight) {
    rs->second.parked.emplace_back(k, std::move(raw));  // classified when the route reports
    checkRuns();
    return;
  }
  record(k, std::move(raw));
  checkRuns();
  arm();
}

// Classifies a pair's raw result against its route's view (once), then
// schedules its next probe and publishes it.
void Scheduler::record(const PairKey& k, RouteResult raw) {
  uv_update_time(loop_);
  const ProviderConfig* prov = findProvider(k.provider);
  if (!prov || !core_.state(k)) {  // removed by a reload while it ran
    core_.cancelled(k);
    return;
  }
  auto view = views_.find(k.route);
  RouteResult r = finishPair(prov->spec, raw, view == views_.end() ? nullptr : &view->second);
  core_.completed(k, r.verdict, r.http.retry_after_s, now());
  // runNow reports a held pair's latest raw result instead of probing it; a
  // pair is held only from its completion on, so only these need keeping.
  if (core_.held(k, now()))
    latest_raw_[k] = std::move(raw);
  else
    latest_raw_.erase(k);
  auto [slot, fresh] = latest_.try_emplace(k);
  if (!fresh) host_.remove(slot->second.clock);
  host_.add(r.clock);
  slot->second = std::move(r);
  if (hooks_.on_result) hooks_.on_result(slot->second);
  // The diagnosis reads the layers' outcomes, never the answer's body or
  // headers (on_result had them): kept for every pair, they would be most of
  // the daemon's memory.
  std::string().swap(slot->second.http.body);
  HeaderList().swap(slot->second.http.headers);
  auto& pending = cycle_pending_[k.provider];
  pending.erase(k.route);
  if (pending.empty()) {
    // Every route of this provider reported since the last diagnosis.
    std::vector<RouteResult> routes;
    for (const auto& rc : config_->routes) {
      auto it = latest_.find(PairKey{k.provider, rc.name});
      if (it != latest_.end()) routes.push_back(it->second);
      pending.insert(rc.name);
    }
    // This machine's clock from every latest answer (all providers, every
    // route's own probe), as `pathwatch check` judges it (report.h); the
    // tally keeps judgeHost's answer over them up to date.
    Diagnosis d = diagnoseProvider(prov->spec, routes, host_.report());
    if (hooks_.on_diagnosis) hooks_.on_diagnosis(k.provider, d, routes);
  }
}

void Scheduler::configure(std::shared_ptr<const Config> config, ScheduleOptions base) {
  base.interval = config->interval;
  base.concurrency = config->concurrency;
  auto keys = std::make_shared<std::map<std::string, KeyInspection>>();
  std::vector<PairKey> pairs;
  std::set<PairKey> pair_set;
  std::vector<ProviderConfig> enabled;
  cycle_pending_.clear();
  for (const auto& p : config->providers) {
    if (!p.enabled) continue;
    enabled.push_back(p);
    keys->emplace(p.spec.name, hooks_.read_key(p));
    for (const auto& r : config->routes) {
      pairs.push_back(PairKey{p.spec.name, r.name});
      pair_set.insert(pairs.back());
      cycle_pending_[p.spec.name].insert(r.name);
    }
  }
  std::set<std::string> route_names;
  for (const auto& r : config->routes) route_names.insert(r.name);
  config_ = std::move(config);
  providers_by_name_.clear();
  for (const auto& p : config_->providers) providers_by_name_.emplace(p.spec.name, &p);
  keys_ = std::move(keys);
  route_probe_ = RouteProbe::forProviders(enabled);
  // Routes keep their state across a reload; a route's next probe carries
  // the new providers' shapes. Gone routes go, with what waited for them.
  std::erase_if(routes_, [&](auto& e) { return !route_names.count(e.first); });
  for (auto& [name, rs] : routes_) rs.observed = false;  // probe it again with the new config
  std::erase_if(observations_, [&](const RouteObservation& o) {
    if (route_names.count(o.route)) return false;
    host_.remove(o.clock);
    return true;
  });
  views_ = routeViews(observations_);
  uv_update_time(loop_);
  core_.setPairs(pairs, base, now());
  std::erase_if(latest_, [&](auto& e) {
    if (pair_set.count(e.first)) return false;
    host_.remove(e.second.clock);
    return true;
  });
  std::erase_if(latest_raw_, [&](auto& e) { return !pair_set.count(e.first); });
  for (auto& w : runs_) {
    std::erase_if(w->pending, [&](const PairKey& k) { return !pair_set.count(k); });
    std::erase_if(w->pending_routes, [&](const std::string& r) { return !route_names.count(r); });
  }
  stopped_ = false;
  if (timer_) uv_timer_start(timer_.get(), onTimer, 0, 0);  // runs, then re-arms, on the next turn
}

void Scheduler::runNow(std::function<void(CheckReport)> done) {
  auto w = std::make_unique<RunWaiter>();
  w->done = std::move(done);
  uv_update_time(loop_);
  w->started_ms = now();
  w->in.started_at = isoFromMs(wallClockMs());
  if (config_ && !stopped_) {
    for (const auto& p : config_->providers) {
      if (!p.enabled) continue;
      w->in.providers.push_back(p);
      for (const auto& r : config_->routes) w->pending.insert(PairKey{p.spec.name, r.name});
    }
    for (const auto& r : config_->routes) {
      w->in.routes.push_back(r.name);
      w->pending_routes.insert(r.name);
    }
    for (const auto& k : core_.forceDue(now())) {
      // Held by a rate limit: report the latest result, do not probe again.
      auto it = latest_raw_.find(k);
      if (it != latest_raw_.end()) w->in.raw[{k.provider, k.route}] = it->second;
      auto* s = core_.state(k);
      if (!s || !s->in_flight) w->pending.erase(k);
    }
    // Every route is observed again for this run (or the probe under way is awaited).
    for (const auto& r : config_->routes)
      if (!routes_[r.name].in_flight) observeRoute(r.name);
  }
  runs_.push_back(std::move(w));
  // Answer on a later turn, never from inside the caller.
  if (timer_) uv_timer_start(timer_.get(), onTimer, 0, 0);
}

void Scheduler::checkRuns() {
  for (std::size_t i = 0; i < runs_.size();) {
    if (runs_[i]->pending.empty() && runs_[i]->pending_routes.empty()) {
      auto w = std::move(runs_[i]);
      runs_.erase(runs_.begin() + static_cast<std::ptrdiff_t>(i));
      finishRun(*w);
    } else {
      ++i;
    }
  }
}

void Scheduler::finishRun(RunWaiter& w) {
  w.in.duration_ms = std::max<int64_t>(0, now() - w.started_ms);
  CheckReport rep = buildReport(w.in);
  if (w.done) w.done(std::move(rep));
}

void Scheduler::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (timer_) uv_timer_stop(timer_.get());
  if (hooks_.cancel_all) hooks_.cancel_all();
  if (config_) {
    for (const auto& p : config_->providers)
      for (const auto& r : config_->routes) core_.cancelled(PairKey{p.spec.name, r.name});
  }
  for (auto& [name, rs] : routes_) {
    rs.in_flight = false;
    rs.parked.clear();
  }
  auto runs = std::move(runs_);
  runs_.clear();
  for (auto& w : runs) finishRun(*w);
}

}  // namespace pathwatch
