#include "pathwatch/duration.h"

#include <gtest/gtest.h>

#include <string>

namespace pathwatch {
namespace {

struct Good {
  const char* text;
  int64_t ms;
};

class DurationGood : public ::testing::TestWithParam<Good> {};

TEST_P(DurationGood, Parses) {
  auto d = parseDuration(GetParam().text);
  ASSERT_TRUE(d.has_value()) << GetParam().text;
  EXPECT_EQ(d->count(), GetParam().ms) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(Config, DurationGood,
                         ::testing::Values(Good{"500ms", 500}, Good{"10s", 10'000},
                                           Good{"5m", 300'000}, Good{"2h", 7'200'000},
                                           Good{"30d", 2'592'000'000LL}, Good{"0s", 0},
                                           Good{"1.5s", 1500}, Good{"0.5m", 30'000},
                                           Good{"0.001s", 1}, Good{"007s", 7000},
                                           Good{"1.25h", 4'500'000}));

class DurationBad : public ::testing::TestWithParam<const char*> {};

TEST_P(DurationBad, Rejected) { EXPECT_FALSE(parseDuration(GetParam()).has_value()) << GetParam(); }

INSTANTIATE_TEST_SUITE_P(
    Config, DurationBad,
    ::testing::Values("", "10", "s", "-1s", "+1s", " 1s", "1s ", "1 s", "1S", "1sec", "1y", "1.s",
                      ".5s", "1.5.5s", "0.0001s", "1e3ms", "10ms5", "9223372036854775808ms",
                      "99999999999999999999d", "106751991167301d", "1,5s", "0x10s"));

TEST(Duration, LargestThatFitsStillParses) {
  auto d = parseDuration("9223372036854775807ms");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->count(), INT64_MAX);
}

TEST(Duration, FormatIsShortestExact) {
  EXPECT_EQ(formatDuration(Millis(1500)), "1500ms");
  EXPECT_EQ(formatDuration(Millis(60'000)), "1m");
  EXPECT_EQ(formatDuration(Millis(10'000)), "10s");
  EXPECT_EQ(formatDuration(Millis(86'400'000)), "1d");
  EXPECT_EQ(formatDuration(Millis(90'000)), "90s");
  EXPECT_EQ(formatDuration(Millis(0)), "0s");
}

TEST(Duration, FormatRoundTrips) {
  for (int64_t ms : {1LL, 999LL, 1000LL, 61'000LL, 3'600'000LL, 2'592'000'000LL, 123'456'789LL}) {
    const std::string text = formatDuration(Millis(ms));
    auto back = parseDuration(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(back->count(), ms) << text;
  }
}

}  // namespace
}  // namespace pathwatch
