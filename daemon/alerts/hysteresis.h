#pragma once
// When a verdict change is worth telling someone: per provider x route,
// thresholds before a transition (like Envoy's healthy/unhealthy thresholds),
// reminders while a problem lasts, and flap suppression. Pure: time is passed
// in, no loop, no I/O.
//
// The rules (docs/alerts.md "Events"; where it is silent, what an operator expects):
// - The first result after start applies at once. An initial `ok` says
//   nothing; an initial problem is raised at once as `problem` with before =
//   null, because a daemon restarted in the middle of an outage must still
//   tell someone (a restart re-announces a problem already known; that is the
//   cheaper mistake).
// - `problem`: the announced state is ok and the last fail_threshold results
//   were all non-ok; `after` is the latest verdict.
// - `resolved`: the announced state is a problem and the last
//   resolve_threshold results were ok.
// - `changed`: the announced state is one problem and the last fail_threshold
//   results were all another, same, problem.
// - `reminder`: every `reminder` of wall time while the announced problem lasts
//   (counted from the last problem/changed/reminder), on a non-ok result.
// - `flapping`: flap_changes or more ok<->non-ok changes among the last
//   flap_window results. One `flapping` event (it opens an incident); then
//   problem, resolved, changed and reminder are held until the pair shows the
//   same verdict for flap_settle (default 2*resolve_threshold) results in a row; then the settled
//   state is announced as `resolved` (settled ok) or `problem` (settled on a
//   failure; before = what was announced before the flapping), so the
//   incident is always closed or confirmed.
// - A failure shorter than fail_threshold results gives no alert at all.
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "alerts/alert_event.h"
#include "pathwatch/verdict.h"

namespace pathwatch {

struct HysteresisConfig {
  int fail_threshold = 2;
  int resolve_threshold = 2;
  std::chrono::milliseconds reminder = std::chrono::hours(6);  // 0 = never
  int flap_changes = 4;   // this many ok<->non-ok changes or more ...
  int flap_window = 10;   // ... among this many results is flapping
  int flap_settle = 0;    // same verdict this many results in a row ends it; 0 = 2*resolve_threshold
};

struct VerdictChange {
  AlertKind kind = AlertKind::Problem;
  std::optional<Verdict> before;  // nullopt: a problem found by the first result
  Verdict after = Verdict::Ok;
  int results = 0;                // results that led here (the streak, or the window)
  int flap_changes = 0;           // for flapping: changes seen in the window
  WallClock::time_point problem_since{};  // when the announced problem began (reminders)
};

class Hysteresis {
 public:
  explicit Hysteresis(HysteresisConfig cfg = {});

  // Thresholds may change on reload; state is kept.
  void reconfigure(HysteresisConfig cfg);
  const HysteresisConfig& config() const { return cfg_; }

  // Feeds one result; returns the alert to raise, if any (at most one).
  std::optional<VerdictChange> observe(const std::string& provider, const std::string& route,
                                       Verdict v, WallClock::time_point now);

  // The state announced for a pair: nullopt before its first result.
  std::optional<Verdict> announced(const std::string& provider, const std::string& route) const;
  bool flapping(const std::string& provider, const std::string& route) const;

  // Drops pairs not in `keep` (providers or routes removed on reload).
  void retain(const std::set<std::pair<std::string, std::string>>& keep);
  std::size_t size() const { return pairs_.size(); }

 private:
  struct Pair {
    Verdict announced = Verdict::Ok;
    Verdict last = Verdict::Ok;
    Verdict last_bad = Verdict::Unexpected;  // the latest non-ok verdict seen
    Verdict pre_flap = Verdict::Ok;          // announced when flapping began
    int same_streak = 0;  // results equal to `last`
    int ok_streak = 0;
    int bad_streak = 0;
    uint64_t seq = 0;                   // results seen
    std::deque<uint64_t> change_seqs;   // seq of each ok<->non-ok change, within the window
    bool flapping = false;
    WallClock::time_point problem_since{};
    WallClock::time_point last_notice{};
  };
  std::optional<VerdictChange> step(Pair& p, Verdict v, WallClock::time_point now);

  HysteresisConfig cfg_;
  std::map<std::pair<std::string, std::string>, Pair> pairs_;
};

}  // namespace pathwatch
