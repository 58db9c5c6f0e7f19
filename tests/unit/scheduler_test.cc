// ScheduleCore with a fake clock: jitter, skip-while-running, the concurrency
// cap and rate-limit holds. Pure logic, no loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "scheduler.h"

namespace pathwatch {
namespace {

std::vector<PairKey> pairs(int providers, int routes) {
  std::vector<PairKey> out;
  for (int p = 0; p < providers; ++p)
    for (int r = 0; r < routes; ++r)
      out.push_back({"p" + std::to_string(p), "r" + std::to_string(r)});
  return out;
}

ScheduleOptions opts(int64_t interval_ms, int concurrency = 100) {
  ScheduleOptions o;
  o.interval = Millis(interval_ms);
  o.concurrency = concurrency;
  o.first_spread = Millis(1000);
  o.rate_limit_backoff = Millis(60000);
  return o;
}

TEST(ScheduleCore, FirstProbesSpreadWithinFirstWindow) {
  ScheduleCore c(42);
  c.setPairs(pairs(4, 3), opts(60000), 0);
  std::set<PairKey> started;
  for (int64_t t = 0; t <= 1000; t += 10)
    for (auto& k : c.due(t)) started.insert(k);
  EXPECT_EQ(started.size(), 12u);
}

TEST(ScheduleCore, JitterKeepsIntervalsWithinTenPercentAndNotIdentical) {
  ScheduleCore c(7);
  c.setPairs(pairs(5, 2), opts(10000), 0);
  std::map<PairKey, std::vector<int64_t>> starts;
  for (int64_t t = 0; t <= 200000; t += 5) {
    for (auto& k : c.due(t)) {
      starts[k].push_back(t);
      c.completed(k, Verdict::Ok, std::nullopt, t + 1);
    }
  }
  std::set<int64_t> distinct;
  for (auto& [k, ts] : starts) {
    ASSERT_GE(ts.size(), 15u);
    for (std::size_t i = 1; i < ts.size(); ++i) {
      int64_t gap = ts[i] - ts[i - 1];
      EXPECT_GE(gap, 9000 - 5);
      EXPECT_LE(gap, 11000 + 5);
      distinct.insert(gap);
    }
  }
  EXPECT_GT(distinct.size(), 10u) << "jitter should vary the gaps";
}

TEST(ScheduleCore, TickWhileInFlightIsSkippedNotQueued) {
  ScheduleCore c(1);
  c.setPairs({{"openai", "default"}}, opts(1000), 0);
  auto first = c.due(1000);
  ASSERT_EQ(first.size(), 1u);
  // The probe hangs for 5 intervals: nothing new starts meanwhile.
  for (int64_t t = 1000; t < 6000; t += 10) EXPECT_TRUE(c.due(t).empty());
  EXPECT_GE(c.state(first[0])->skipped, 3u);
  EXPECT_FALSE(c.nextWakeMs().has_value() && c.state(first[0])->in_flight == false);
  c.completed(first[0], Verdict::Ok, std::nullopt, 6000);
  EXPECT_FALSE(c.state(first[0])->in_flight);
  // Next probe after completion comes at the next tick, not a burst.
  int started = 0;
  for (int64_t t = 6000; t < 7200; t += 10) started += static_cast<int>(c.due(t).size());
  EXPECT_LE(started, 1);
}

TEST(ScheduleCore, ConcurrencyCapHoldsAndWakesOnlyOnCompletion) {
  ScheduleCore c(3);
  c.setPairs(pairs(10, 1), opts(60000, 3), 0);
  auto a = c.due(2000);
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(c.inFlight(), 3u);
  EXPECT_TRUE(c.due(2001).empty());
  EXPECT_FALSE(c.nextWakeMs().has_value()) << "a full cap must not spin the timer";
  c.completed(a[0], Verdict::Ok, std::nullopt, 2002);
  EXPECT_EQ(c.due(2003).size(), 1u);
}

struct HoldCase {
  const char* name;
  Verdict verdict;
  std::optional<double> retry_after_s;
  int64_t min_hold_ms;
  int64_t max_hold_ms;
};

class RateLimitHold : public ::testing::TestWithParam<HoldCase> {};

TEST_P(RateLimitHold, PairWaitsAtLeastAsTold) {
  const auto& tc = GetParam();
  ScheduleCore c(9);
  c.setPairs({{"openai", "default"}}, opts(5000), 0);
  auto k = c.due(1000).at(0);
  // Completes at once, so the interval (from the start) and a hold (from
  // the completion) are measured from the same instant.
  c.completed(k, tc.verdict, tc.retry_after_s, 1000);
  int64_t next = -1;
  for (int64_t t = 1000; t < 1000 + 4 * 3600 * 1000; t += 100) {
    if (!c.due(t).empty()) {
      next = t;
      break;
    }
  }
  ASSERT_GE(next, 0);
  EXPECT_GE(next - 1000, tc.min_hold_ms);
  EXPECT_LE(next - 1000, tc.max_hold_ms);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RateLimitHold,
    ::testing::Values(HoldCase{"ok_normal_interval", Verdict::Ok, std::nullopt, 4400, 5600},
                      HoldCase{"rate_limited_hint_120s", Verdict::RateLimited, 120.0, 120000,
                               120100},
                      HoldCase{"rate_limited_no_hint_backs_off", Verdict::RateLimited,
                               std::nullopt, 60000, 60100},
                      HoldCase{"provider_error_retry_after_30s", Verdict::ProviderError, 30.0,
                               30000, 30100},
                      HoldCase{"short_hint_never_shortens_interval", Verdict::RateLimited, 0.5,
                               4400, 5600}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(ScheduleCore, RepeatedRateLimitsBackOffExponentiallyUpToCap) {
  ScheduleCore c(5);
  auto o = opts(1000);
  o.max_backoff = Millis(300000);
  c.setPairs({{"openai", "default"}}, o, 0);
  int64_t t = 0;
  std::vector<int64_t> holds;
  for (int i = 0; i < 6; ++i) {
    std::vector<PairKey> d;
    while ((d = c.due(t)).empty()) t += 100;
    c.completed(d[0], Verdict::RateLimited, std::nullopt, t);
    holds.push_back(c.state(d[0])->not_before_ms - t);
  }
  EXPECT_EQ(holds[0], 60000);
  EXPECT_EQ(holds[1], 120000);
  EXPECT_EQ(holds[2], 240000);
  EXPECT_EQ(holds[3], 300000);
  EXPECT_EQ(holds[5], 300000);
}

TEST(ScheduleCore, ReloadKeepsHoldsAndDropsRemovedPairs) {
  ScheduleCore c(11);
  c.setPairs(pairs(2, 1), opts(5000), 0);
  std::vector<PairKey> d;
  int64_t t = 0;
  while (d.size() < 2) {
    for (auto& k : c.due(t)) d.push_back(k);
    t += 10;
  }
  c.completed({"p0", "r0"}, Verdict::RateLimited, 600.0, t);
  c.completed({"p1", "r0"}, Verdict::Ok, std::nullopt, t);
  c.setPairs({{"p0", "r0"}, {"p2", "r0"}}, opts(5000), t);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.state({"p1", "r0"}), nullptr);
  EXPECT_TRUE(c.held({"p0", "r0"}, t + 599000));
  auto held = c.forceDue(t + 1000);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].provider, "p0");
}

TEST(ScheduleCore, ForceDueMakesIdlePairsDueNow) {
  ScheduleCore c(13);
  c.setPairs(pairs(3, 1), opts(60000), 0);
  int64_t t = 0;
  int n = 0;
  while (n < 3) {
    for (auto& k : c.due(t)) {
      c.completed(k, Verdict::Ok, std::nullopt, t);
      ++n;
    }
    t += 10;
  }
  EXPECT_TRUE(c.due(t + 10).empty());
  EXPECT_TRUE(c.forceDue(t + 10).empty());
  EXPECT_EQ(c.due(t + 10).size(), 3u);
}

// due() and nextWakeMs() answer from an index of the pairs; here they are
// checked against the rule itself, computed from every pair's state, through
// completions, rate-limit holds, retry hints, forced runs and reloads.
TEST(ScheduleCore, DueAndNextWakeFollowTheRuleOverEveryPair) {
  ScheduleCore c(9);
  std::mt19937 rng(21);
  const auto all = pairs(40, 5);
  std::vector<PairKey> current = all;
  c.setPairs(current, opts(10000, 7), 0);
  std::set<PairKey> flying;
  int started = 0, held_seen = 0;
  for (int64_t now = 0; now < 300000; now += 1 + static_cast<int64_t>(rng() % 400)) {
    // The rule: not in flight, due and not held; earliest due first; the cap.
    std::vector<std::pair<int64_t, PairKey>> ready;
    std::optional<int64_t> wake;
    for (const auto& k : current) {
      const auto* s = c.state(k);
      ASSERT_NE(s, nullptr);
      if (s->in_flight) continue;
      const int64_t at = std::max(s->next_due_ms, s->not_before_ms);
      if (!wake || at < *wake) wake = at;
      if (s->next_due_ms <= now && s->not_before_ms <= now) ready.emplace_back(s->next_due_ms, k);
      if (s->not_before_ms > now) ++held_seen;
    }
    if (c.inFlight() >= 7) wake.reset();
    ASSERT_EQ(c.nextWakeMs(), wake) << "at " << now;
    std::sort(ready.begin(), ready.end());
    if (ready.size() > 7 - c.inFlight()) ready.resize(7 - c.inFlight());
    const auto got = c.due(now);
    ASSERT_EQ(got.size(), ready.size()) << "at " << now;
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], ready[i].second) << "at " << now;
    for (const auto& k : got) flying.insert(k);
    started += static_cast<int>(got.size());
    for (const auto& k : flying) ASSERT_GT(c.state(k)->next_due_ms, now) << "a passed tick is skipped";
    // Some probes finish: ok, rate-limited, or with a retry hint.
    for (auto it = flying.begin(); it != flying.end();) {
      if (rng() % 3 == 0) {
        const int kind = static_cast<int>(rng() % 10);
        const Verdict v = kind == 0 ? Verdict::RateLimited : Verdict::Ok;
        std::optional<double> hint;
        if (kind == 1) hint = 0.5 + static_cast<double>(rng() % 30);
        c.completed(*it, v, hint, now);
        it = flying.erase(it);
      } else {
        ++it;
      }
    }
    if (rng() % 97 == 0) c.forceDue(now);
    if (rng() % 131 == 0) {
      // A reload that drops and brings back pairs, with another interval.
      current.clear();
      for (const auto& k : all)
        if (rng() % 4) current.push_back(k);
      for (auto it = flying.begin(); it != flying.end();)
        it = std::find(current.begin(), current.end(), *it) == current.end() ? flying.erase(it) : std::next(it);
      c.setPairs(current, opts(rng() % 2 ? 10000 : 4000, 7), now);
    }
    if (rng() % 53 == 0 && !flying.empty()) {
      c.cancelled(*flying.begin());
      flying.erase(flying.begin());
    }
  }
  EXPECT_GT(started, 500);
  EXPECT_GT(held_seen, 0) << "the run should have held some pairs";
}

}  // namespace
}  // namespace pathwatch
