// ScheduleCore with a fake clock: jitter, skip-while-running, the concurrency
// cap and rate-limit holds. Pure logic, no loop.
#include <gtest/gtest.h>

#include <map>
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

}  // namespace
}  // namespace pathwatch
