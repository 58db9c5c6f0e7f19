#pragma once
// When each provider x route is probed. ScheduleCore is the pure part (times
// in, decisions out; tested with a fake clock); Scheduler drives it with one
// uv timer and an injectable probe function, so tests need no network.
//
// Rules: every `interval` with +-10% jitter per pair (targets never fire
// together); at most one probe in flight per pair (a tick that finds the
// previous probe still running is skipped); at most `concurrency` in flight
// overall; after a rate_limited result or a retry-after hint the pair waits at
// least as long as told (the monitor must never cause the 429s it reports).
#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "pathwatch/config.h"
#include "pathwatch/duration.h"
#include "pathwatch/key.h"
#include "pathwatch/engine.h"
#include "pathwatch/host.h"
#include "pathwatch/uv_handle.h"
#include "pathwatch/report.h"
#include "pathwatch/result.h"

namespace pathwatch {

struct PairKey {
  std::string provider, route;
  auto operator<=>(const PairKey&) const = default;
};

struct ScheduleOptions {
  Millis interval = std::chrono::seconds(60);
  double jitter = 0.1;                            // +- fraction of interval
  int concurrency = 16;                           // probes in flight at once
  Millis first_spread = std::chrono::seconds(2);  // first probes within this window
  Millis rate_limit_backoff = std::chrono::seconds(60);  // rate_limited without a hint
  Millis max_backoff = std::chrono::hours(1);
};

class ScheduleCore {
 public:
  struct PairState {
    int64_t next_due_ms = 0;
    int64_t not_before_ms = 0;  // rate-limit hold
    bool in_flight = false;
    int rate_limited_streak = 0;
    uint64_t started = 0, skipped = 0;
  };

  explicit ScheduleCore(uint64_t seed = 1) : rng_(seed) {}

  // Sets the pairs to probe; pairs already known keep their state (a reload
  // does not reset a rate-limit hold), new ones are spread over first_spread.
  void setPairs(const std::vector<PairKey>& pairs, const ScheduleOptions& opt, int64_t now_ms);

  // The pairs to start now (marked in flight), earliest due first, under the
  // concurrency cap. Pairs whose tick passed while in flight are skipped to
  // their next tick.
  std::vector<PairKey> due(int64_t now_ms);

  // A probe finished: schedules the pair's next probe (and any hold).
  void completed(const PairKey& k, Verdict v, std::optional<double> retry_after_s,
                 int64_t now_ms);
  // A probe was cancelled without a result.
  void cancelled(const PairKey& k);

  // Makes every pair due now, except those held by a rate limit. Returns the
  // pairs that will NOT be probed because of a hold.
  std::vector<PairKey> forceDue(int64_t now_ms);

  // When due() next has something to return; nullopt when nothing is waiting
  // (everything in flight, or no pairs).
  std::optional<int64_t> nextWakeMs() const;

  const PairState* state(const PairKey& k) const;
  bool held(const PairKey& k, int64_t now_ms) const;
  std::size_t inFlight() const { return in_flight_; }
  std::size_t size() const { return pairs_.size(); }
  const ScheduleOptions& options() const { return opt_; }

 private:
  int64_t jittered(int64_t from_ms);
  int64_t startAt(const PairState& s) const;
  // Files a pair in the index that fits its state (waiting_ or flying_).
  void index(const PairKey& k, const PairState& s);
  void unindex(const PairKey& k, const PairState& s);
  void reindex();

  std::mt19937_64 rng_;
  ScheduleOptions opt_;
  std::map<PairKey, PairState> pairs_;
  // The pairs by when they next matter, so that due() and nextWakeMs() look
  // at the pairs that are due rather than walking all of them (each runs
  // after every result: pairs x pairs per cycle otherwise).
  std::set<std::pair<int64_t, PairKey>> waiting_;  // not in flight, by next_due_ms
  std::set<std::pair<int64_t, PairKey>> starts_;   // the same, by startAt
  std::set<std::pair<int64_t, PairKey>> flying_;   // in flight, by next_due_ms
  std::size_t in_flight_ = 0;
};

// Probes one provider over one route; `done` runs once on a later loop turn
// (never synchronously) with the raw layers, unless cancelled. The references
// stay valid until then.
using ProbeFn = std::function<void(const ProviderConfig&, const RouteConfig&,
                                   const KeyInspection&, std::function<void(RouteResult)> done)>;
// The route's own probes (echo, egress); same rules.
using ObserveRouteFn =
    std::function<void(const RouteConfig&, RouteProbe, std::function<void(RouteObservation)> done)>;

// Drives ScheduleCore with one uv timer. A route's own probe runs at most
// once per interval, started by the first pair due on that route; results of
// that route wait for it, so every pair is classified (report.h, once)
// against a current view of its route.
class Scheduler {
 public:
  struct Hooks {
    ProbeFn probe;
    ObserveRouteFn observe_route;
    std::function<KeyInspection(const ProviderConfig&)> read_key;  // the daemon passes readKey
    std::function<void()> cancel_all;  // cancel every in-flight probe (stop)
    std::function<void(const RouteResult&)> on_result;  // classified
    // The latest result of each route, without the answer's body and headers.
    std::function<void(const std::string& provider, const Diagnosis&,
                       const std::vector<RouteResult>&)>
        on_diagnosis;
    std::function<int64_t()> now_ms;  // default: the loop's clock
  };

  Scheduler(uv_loop_t* loop, Hooks hooks, uint64_t seed = std::random_device{}());
  ~Scheduler();  // stops: no hook runs afterwards
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Takes a new config: reads the keys once, sets the pairs, re-arms.
  void configure(std::shared_ptr<const Config> config, ScheduleOptions base = {});

  // Probes every pair and every route now (pairs in flight are awaited;
  // pairs held by a rate limit report their latest result instead of being
  // probed again), then calls `done` with the full report, built from the raw
  // results exactly as `pathwatch check` builds its own.
  void runNow(std::function<void(CheckReport)> done);

  // No more probes: cancels the in-flight ones and answers pending runs with
  // what they have.
  void stop();

  // The latest classified result per pair, without the answer's body and
  // headers.
  const std::map<PairKey, RouteResult>& latest() const { return latest_; }
  const ScheduleCore& core() const { return core_; }
  std::shared_ptr<const Config> config() const { return config_; }

 private:
  struct RunWaiter {
    std::set<PairKey> pending;
    std::set<std::string> pending_routes;
    ReportInput in;
    std::function<void(CheckReport)> done;
    int64_t started_ms = 0;
  };
  struct RouteState {
    bool in_flight = false;
    int64_t started_ms = 0;
    bool observed = false;
    std::vector<std::pair<PairKey, RouteResult>> parked;  // raw, waiting for this route
  };

  static void onTimer(uv_timer_t* t) noexcept;
  void pump();
  void arm();
  void startProbe(const PairKey& k);
  void observeRoute(const std::string& route);
  void onRouteObserved(const std::string& route, RouteObservation obs);
  void onProbeDone(const PairKey& k, RouteResult raw);
  void record(const PairKey& k, RouteResult raw);
  void finishRun(RunWaiter& w);
  void checkRuns();
  int64_t now() const;
  const ProviderConfig* findProvider(const std::string& name) const;
  const RouteConfig* findRoute(const std::string& name) const;

  uv_loop_t* loop_;
  Hooks hooks_;
  UvTimer timer_;
  ScheduleCore core_;
  std::shared_ptr<const Config> config_;
  std::shared_ptr<std::map<std::string, KeyInspection>> keys_;
  RouteProbe route_probe_;  // what each route's own probe carries
  std::map<std::string, RouteState> routes_;
  std::vector<RouteObservation> observations_;          // latest per route
  std::map<std::string, RouteObservation> views_;       // routeViews(observations_)
  std::map<std::string, const ProviderConfig*> providers_by_name_;  // into config_
  std::map<PairKey, RouteResult> latest_;               // classified
  // Raw, only of pairs held by a rate limit (what runNow reports for them).
  std::map<PairKey, RouteResult> latest_raw_;
  // The clock sightings of latest_ and observations_, judged at every diagnosis.
  HostTally host_;
  std::map<std::string, std::set<std::string>> cycle_pending_;  // provider -> routes
  std::vector<std::unique_ptr<RunWaiter>> runs_;
  bool stopped_ = false;
};

}  // namespace pathwatch
