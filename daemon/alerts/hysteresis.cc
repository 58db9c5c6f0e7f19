#include "alerts/hysteresis.h"

#include <algorithm>

namespace pathwatch {

Hysteresis::Hysteresis(HysteresisConfig cfg) { reconfigure(cfg); }

void Hysteresis::reconfigure(HysteresisConfig cfg) {
  // Nonsense thresholds would either page on every result or never: clamp.
  cfg.fail_threshold = std::clamp(cfg.fail_threshold, 1, 1000);
  cfg.resolve_threshold = std::clamp(cfg.resolve_threshold, 1, 1000);
  cfg.flap_window = std::clamp(cfg.flap_window, 2, 10000);
  cfg.flap_changes = std::clamp(cfg.flap_changes, 2, cfg.flap_window);
  cfg.flap_settle = cfg.flap_settle <= 0 ? 2 * cfg.resolve_threshold : std::min(cfg.flap_settle, 1000);
  if (cfg.reminder.count() < 0) cfg.reminder = std::chrono::milliseconds(0);
  cfg_ = cfg;
}

std::optional<Verdict> Hysteresis::announced(const std::string& provider,
                                             const std::string& route) const {
  auto it = pairs_.find({provider, route});
  if (it == pairs_.end()) return std::nullopt;
  return it->second.announced;
}

bool Hysteresis::flapping(const std::string& provider, const std::string& route) const {
  auto it = pairs_.find({provider, route});
  return it != pairs_.end() && it->second.flapping;
}

void Hysteresis::retain(const std::set<std::pair<std::string, std::string>>& keep) {
  std::erase_if(pairs_, [&](const auto& kv) { return !keep.contains(kv.first); });
}

std::optional<VerdictChange> Hysteresis::observe(const std::string& provider,
                                                 const std::string& route, Verdict v,
                                                 WallClock::time_point now) {
  auto [it, inserted] = pairs_.try_emplace({provider, route});
  Pair& p = it->second;
  if (inserted) {
    // The first result applies at once.
    p.announced = v;
    p.last = v;
    p.same_streak = 1;
    p.ok_streak = v == Verdict::Ok ? 1 : 0;
    p.bad_streak = v == Verdict::Ok ? 0 : 1;
    p.seq = 1;
    p.last_bad = v;
    if (v == Verdict::Ok) return std::nullopt;
    p.problem_since = now;
    p.last_notice = now;
    return VerdictChange{AlertKind::Problem, std::nullopt, v, 1, 0, now};
  }
  return step(p, v, now);
}

std::optional<VerdictChange> Hysteresis::step(Pair& p, Verdict v, WallClock::time_point now) {
  const bool ok = v == Verdict::Ok;
  const bool class_changed = ok != (p.last == Verdict::Ok);
  ++p.seq;
  p.same_streak = v == p.last ? p.same_streak + 1 : 1;
  p.ok_streak = ok ? p.ok_streak + 1 : 0;
  p.bad_streak = ok ? 0 : p.bad_streak + 1;
  p.last = v;
  if (!ok) p.last_bad = v;
  if (class_changed) p.change_seqs.push_back(p.seq);
  // Keep only changes inside the window (the last flap_window results).
  while (!p.change_seqs.empty() &&
         p.change_seqs.front() + static_cast<uint64_t>(cfg_.flap_window) <= p.seq)
    p.change_seqs.pop_front();

  if (p.flapping) {
    if (!ok) p.announced = v;  // the incident stays open on the latest failure
    if (p.same_streak < cfg_.flap_settle) return std::nullopt;
    // Settled: announce where it settled, and start counting changes afresh.
    p.flapping = false;
    p.change_seqs.clear();
    if (ok) {
      Verdict before = p.announced;
      p.announced = Verdict::Ok;
      return VerdictChange{AlertKind::Resolved, before, v, p.same_streak, 0, p.problem_since};
    }
    p.problem_since = now;
    p.last_notice = now;
    return VerdictChange{AlertKind::Problem, p.pre_flap, v, p.same_streak, 0, now};
  }

  if (class_changed && static_cast<int>(p.change_seqs.size()) >= cfg_.flap_changes) {
    p.flapping = true;
    const int changes = static_cast<int>(p.change_seqs.size());
    p.pre_flap = p.announced;
    // While flapping the pair counts as a problem: the incident is open.
    if (p.announced == Verdict::Ok) p.problem_since = now;
    p.announced = p.last_bad;
    p.last_notice = now;
    return VerdictChange{AlertKind::Flapping, p.pre_flap, v, cfg_.flap_window, changes,
                         p.problem_since};
  }

  if (p.announced == Verdict::Ok) {
    if (p.bad_streak >= cfg_.fail_threshold) {
      p.announced = v;
      p.problem_since = now;
      p.last_notice = now;
      return VerdictChange{AlertKind::Problem, Verdict::Ok, v, p.bad_streak, 0, now};
    }
    return std::nullopt;
  }

  // The announced state is a problem.
  if (ok) {
    if (p.ok_streak >= cfg_.resolve_threshold) {
      Verdict before = p.announced;
      p.announced = Verdict::Ok;
      return VerdictChange{AlertKind::Resolved, before, v, p.ok_streak, 0, p.problem_since};
    }
    return std::nullopt;
  }
  if (v != p.announced && p.same_streak >= cfg_.fail_threshold) {
    Verdict before = p.announced;
    p.announced = v;
    p.last_notice = now;
    return VerdictChange{AlertKind::Changed, before, v, p.same_streak, 0, p.problem_since};
  }
  if (cfg_.reminder.count() > 0 && now - p.last_notice >= cfg_.reminder) {
    p.last_notice = now;
    return VerdictChange{AlertKind::Reminder, p.announced, v, p.bad_streak, 0, p.problem_since};
  }
  return std::nullopt;
}

}  // namespace pathwatch
