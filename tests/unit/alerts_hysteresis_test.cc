// The hysteresis table: sequences of verdicts -> the exact alerts raised.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "alerts/hysteresis.h"

namespace pathwatch {
namespace {

using std::chrono::minutes;
using std::chrono::hours;

constexpr Verdict O = Verdict::Ok;
constexpr Verdict R = Verdict::RegionBlocked;
constexpr Verdict C = Verdict::ConnectFailed;
constexpr Verdict A = Verdict::AuthFailed;

// One alert as a compact string: "problem ok->region_blocked".
std::string show(const VerdictChange& c) {
  std::string s(toString(c.kind));
  s += " ";
  s += c.before ? std::string(toString(*c.before)) : "null";
  s += "->";
  s += toString(c.after);
  return s;
}

struct Row {
  const char* name;
  std::vector<Verdict> seq;
  // alerts expected, as "index:show"
  std::vector<std::string> expect;
  int fail = 2, resolve = 2;
};

class HysteresisTable : public ::testing::TestWithParam<Row> {};

TEST_P(HysteresisTable, RaisesExactlyTheseAlerts) {
  const Row& row = GetParam();
  HysteresisConfig cfg;
  cfg.fail_threshold = row.fail;
  cfg.resolve_threshold = row.resolve;
  cfg.reminder = std::chrono::milliseconds(0);  // reminders have their own test
  Hysteresis h(cfg);
  auto t = WallClock::time_point{} + hours(1000);
  std::vector<std::string> got;
  for (std::size_t i = 0; i < row.seq.size(); ++i) {
    t += minutes(1);
    if (auto c = h.observe("openai", "isp-a", row.seq[i], t))
      got.push_back(std::to_string(i) + ":" + show(*c));
  }
  EXPECT_EQ(got, row.expect);
}

INSTANTIATE_TEST_SUITE_P(
    Sequences, HysteresisTable,
    ::testing::Values(
        Row{"initial_ok_is_silent", {O, O, O}, {}},
        Row{"initial_problem_raised_at_once", {R, R}, {"0:problem null->region_blocked"}},
        Row{"initial_problem_then_resolved", {R, O, O}, {"0:problem null->region_blocked",
                                                         "2:resolved region_blocked->ok"}},
        Row{"problem_after_fail_threshold", {O, R, R, R}, {"2:problem ok->region_blocked"}},
        Row{"problem_and_resolved_once", {O, R, R, R, R, O, O, O},
            {"2:problem ok->region_blocked", "6:resolved region_blocked->ok"}},
        Row{"flap_shorter_than_threshold_gives_nothing", {O, R, O, O, O}, {}},
        Row{"mixed_failures_count_toward_problem", {O, R, C}, {"2:problem ok->connect_failed"}},
        Row{"threshold_three", {O, R, R, O, R, R, R}, {"6:problem ok->region_blocked"}, 3, 2},
        Row{"one_ok_does_not_resolve", {R, R, O, R, O, O},
            {"0:problem null->region_blocked", "5:resolved region_blocked->ok"}},
        // The same sequence after an ok start has 4 changes in 10 results.
        Row{"quick_changes_are_flapping", {O, R, R, O, R, O, O},
            {"2:problem ok->region_blocked", "5:flapping region_blocked->ok"}},
        Row{"changed_after_held_for_fail_threshold", {O, R, R, C, C, C},
            {"2:problem ok->region_blocked", "4:changed region_blocked->connect_failed"}},
        Row{"one_different_failure_is_not_changed", {O, R, R, C, R, R}, {"2:problem ok->region_blocked"}},
        Row{"changed_twice", {O, R, R, C, C, A, A},
            {"2:problem ok->region_blocked", "4:changed region_blocked->connect_failed",
             "6:changed connect_failed->auth_failed"}},
        // 4 ok<->non-ok changes within 10 results: one flapping event, then
        // silence until 2*resolve_threshold equal results, then resolved.
        Row{"flapping_then_settles_ok", {O, R, O, R, O, R, O, R, O, O, O, O, O},
            {"4:flapping ok->ok", "11:resolved region_blocked->ok"}},
        Row{"flapping_then_settles_on_failure", {O, R, O, R, O, C, C, C, C, C},
            {"4:flapping ok->ok", "8:problem ok->connect_failed"}},
        Row{"flapping_after_real_problems", {O, R, R, O, O, R, R, O, O, O, O, O, O},
            {"2:problem ok->region_blocked", "4:resolved region_blocked->ok",
             "6:problem ok->region_blocked", "7:flapping region_blocked->ok",
             "10:resolved region_blocked->ok"}},
        Row{"slow_changes_are_not_flapping",
            {O, R, R, R, R, R, O, O, O, O, O, R, R, R, R, R, O, O, O, O, O},
            {"2:problem ok->region_blocked", "7:resolved region_blocked->ok",
             "12:problem ok->region_blocked", "17:resolved region_blocked->ok"}}),
    [](const auto& row_info) { return std::string(row_info.param.name); });

TEST(Hysteresis, ReminderEveryIntervalWhileProblemLasts) {
  HysteresisConfig cfg;
  cfg.reminder = hours(6);
  Hysteresis h(cfg);
  auto t0 = WallClock::time_point{} + hours(1000);
  EXPECT_FALSE(h.observe("openai", "a", O, t0));
  EXPECT_FALSE(h.observe("openai", "a", R, t0 + minutes(1)));
  auto p = h.observe("openai", "a", R, t0 + minutes(2));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, AlertKind::Problem);
  std::vector<int> reminder_minutes;
  for (int m = 3; m <= 13 * 60; ++m) {
    if (auto c = h.observe("openai", "a", R, t0 + minutes(m))) {
      EXPECT_EQ(c->kind, AlertKind::Reminder);
      EXPECT_EQ(c->problem_since, t0 + minutes(2));
      reminder_minutes.push_back(m);
    }
  }
  EXPECT_EQ(reminder_minutes, (std::vector<int>{2 + 360, 2 + 720}));
}

TEST(Hysteresis, NoReminderWhileFlappingOrAfterResolve) {
  HysteresisConfig cfg;
  cfg.reminder = minutes(2);
  Hysteresis h(cfg);
  auto t = WallClock::time_point{} + hours(1000);
  std::vector<Verdict> seq{O, R, O, R, O, R, O, R, O, R};
  std::vector<AlertKind> kinds;
  for (Verdict v : seq) {
    t += minutes(1);
    if (auto c = h.observe("p", "r", v, t)) kinds.push_back(c->kind);
  }
  EXPECT_EQ(kinds, (std::vector<AlertKind>{AlertKind::Flapping}));
  EXPECT_TRUE(h.flapping("p", "r"));
}

TEST(Hysteresis, PairsAreIndependent) {
  Hysteresis h;
  auto t = WallClock::time_point{} + hours(1000);
  h.observe("openai", "a", O, t);
  h.observe("openai", "b", O, t);
  h.observe("openai", "a", R, t + minutes(1));
  EXPECT_FALSE(h.observe("openai", "b", R, t + minutes(1)));
  auto c = h.observe("openai", "a", R, t + minutes(2));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, AlertKind::Problem);
  EXPECT_EQ(h.announced("openai", "b"), O);
  EXPECT_EQ(h.announced("openai", "a"), R);
}

TEST(Hysteresis, RetainForgetsRemovedPairs) {
  Hysteresis h;
  auto t = WallClock::time_point{} + hours(1000);
  h.observe("openai", "a", O, t);
  h.observe("gemini", "a", R, t);
  h.retain({{"openai", "a"}});
  EXPECT_EQ(h.size(), 1u);
  EXPECT_FALSE(h.announced("gemini", "a"));
}

TEST(Hysteresis, ReconfigureClampsNonsense) {
  HysteresisConfig cfg;
  cfg.fail_threshold = 0;
  cfg.resolve_threshold = -5;
  Hysteresis h(cfg);
  EXPECT_EQ(h.config().fail_threshold, 1);
  EXPECT_EQ(h.config().resolve_threshold, 1);
  auto t = WallClock::time_point{} + hours(1000);
  h.observe("p", "r", O, t);
  auto c = h.observe("p", "r", R, t + minutes(1));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, AlertKind::Problem);
}

}  // namespace
}  // namespace pathwatch
