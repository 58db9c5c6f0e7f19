// This machine's clock judged from a check's answers (host.h): HTTP dates,
// the offset's window and median, certificates of unrelated servers, and the
// words a person reads.
#include <gtest/gtest.h>

#include <list>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "pathwatch/clock.h"
#include "pathwatch/host.h"

namespace pathwatch {
namespace {

constexpr int64_t kNoon = 1795867200000;  // 2026-11-28T12:00:00Z

ClockSighting dated(int64_t date_ms, int64_t sent_ms, int64_t answered_ms, std::string server = "api.openai.com") {
  ClockSighting s;
  s.server = std::move(server);
  s.date_ms = date_ms;
  s.sent_ms = sent_ms;
  s.answered_ms = answered_ms;
  return s;
}

ClockSighting expired(std::string server, std::string certificate) {
  ClockSighting s;
  s.server = std::move(server);
  s.tls_time_error = "tls_expired";
  s.certificate = std::move(certificate);
  return s;
}

TEST(HttpDate, ThreeFormsOfRfc9110) {
  EXPECT_EQ(msFromHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777000);
  EXPECT_EQ(msFromHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777000);
  EXPECT_EQ(msFromHttpDate("Sun Nov  6 08:49:37 1994"), 784111777000);
  EXPECT_EQ(msFromHttpDate("  Sat, 28 Nov 2026 12:00:00 GMT "), kNoon);
}

TEST(HttpDate, RefusesWhatIsNotADate) {
  for (const char* bad : {"", "yesterday", "Sun, 06 Nov 1994 08:49:37 CET", "Sun, 06 Nov 1994 25:49:37 GMT",
                          "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "1994-11-06T08:49:37Z",
                          "Sun, 06 Nov 19x4 08:49:37 GMT", "Xyz Nov  6 08:49:37 1994"})
    EXPECT_FALSE(msFromHttpDate(bad).has_value()) << bad;
}

TEST(HttpDate, FormatsWhatItParses) {
  EXPECT_EQ(httpDateFromMs(784111777000), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(httpDateFromMs(kNoon + 999), "Sat, 28 Nov 2026 12:00:00 GMT");
  EXPECT_EQ(msFromHttpDate(httpDateFromMs(kNoon)), kNoon);
}

TEST(ClockSighting, TakesTheDateHeaderWhateverItsCase) {
  TlsLayer tls;
  auto s = clockSighting("api.openai.com", kNoon, kNoon + 40, {{"DATE", "Sat, 28 Nov 2026 10:00:00 GMT"}}, "", tls);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->date_ms, kNoon - 7200000);
  EXPECT_EQ(s->server, "api.openai.com");
  EXPECT_TRUE(s->tls_time_error.empty());
  EXPECT_FALSE(clockSighting("x", kNoon, kNoon, {{"server", "nginx"}}, "", tls).has_value())
      << "no Date and no certificate time error: nothing said about the clock";
  EXPECT_FALSE(clockSighting("x", kNoon, kNoon, {}, "tls_unknown_authority", tls).has_value());
}

TEST(ClockSighting, ACertificateRefusedOnTimeNamesTheLeaf) {
  TlsLayer tls;
  tls.subject = "CN=api.openai.com";
  tls.not_after = "2027-01-01T00:00:00Z";
  auto s = clockSighting("api.openai.com", kNoon, kNoon, {}, "tls_not_yet_valid", tls);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->tls_time_error, "tls_not_yet_valid");
  EXPECT_EQ(s->certificate, "CN=api.openai.com until 2027-01-01T00:00:00Z");
  EXPECT_FALSE(s->date_ms.has_value());
}

TEST(JudgeHost, OffsetIsTheMiddleOfTheWindowTheServerWroteItsDateIn) {
  // The server's Date says 12:00:00; we asked at 12:00:00.2 (our clock) and
  // had the answer at 12:00:00.6: we are between -0.8 s and +0.6 s off.
  const std::vector<ClockSighting> s = {dated(kNoon, kNoon + 200, kNoon + 600)};
  const HostReport h = judgeHost({&s});
  ASSERT_TRUE(h.clock_offset_s.has_value());
  EXPECT_NEAR(*h.clock_offset_s, -0.1, 1e-9);
  EXPECT_EQ(h.clock_samples, 1);
  EXPECT_FALSE(h.clockWrong());
}

TEST(JudgeHost, MedianIgnoresOneServerWithAWrongClock) {
  // This host is 2 h 3 min ahead; one server's own clock is a day behind.
  const int64_t ahead = (2 * 3600 + 3 * 60) * 1000;
  std::vector<ClockSighting> a = {dated(kNoon - ahead, kNoon, kNoon + 100), dated(kNoon - ahead, kNoon, kNoon + 80)};
  std::vector<ClockSighting> b = {dated(kNoon - ahead + 1000, kNoon + 900, kNoon + 1100, "echo"),
                                  dated(kNoon - 86400000, kNoon, kNoon + 50, "odd.example")};
  const HostReport h = judgeHost({&a, &b});
  ASSERT_TRUE(h.clock_offset_s.has_value());
  EXPECT_NEAR(*h.clock_offset_s, 7380, 1.0);
  EXPECT_EQ(h.clock_samples, 4);
  EXPECT_TRUE(h.clockWrong());
  EXPECT_EQ(clockSentence(h), "this machine's clock is 2 h 3 min ahead");
}

TEST(JudgeHost, FiveMinutesIsTheLine) {
  std::vector<ClockSighting> near = {dated(kNoon, kNoon + 299000, kNoon + 299000)};
  std::vector<ClockSighting> far = {dated(kNoon, kNoon - 302000, kNoon - 302000)};
  EXPECT_FALSE(judgeHost({&near}).clockWrong());
  EXPECT_TRUE(judgeHost({&far}).clockWrong());
  EXPECT_EQ(clockSentence(judgeHost({&far})), "this machine's clock is 5 min behind");
  EXPECT_EQ(clockSentence(judgeHost({&near})), "");
}

TEST(JudgeHost, CertificatesOfUnrelatedServersOutOfTheirTimeWithoutAnyDate) {
  std::vector<ClockSighting> one = {expired("api.openai.com", "CN=api.openai.com until 2027-01-01T00:00:00Z")};
  EXPECT_FALSE(judgeHost({&one}).clockWrong()) << "one server's expired certificate is that server's problem";
  // One server presenting the same expired certificate for many names is one server.
  std::vector<ClockSighting> same = {expired("api.openai.com", "CN=lab until 2025-01-01T00:00:00Z"),
                                     expired("api.anthropic.com", "CN=lab until 2025-01-01T00:00:00Z")};
  EXPECT_FALSE(judgeHost({&same}).clockWrong());
  std::vector<ClockSighting> two = {expired("api.openai.com", "CN=api.openai.com until 2027-01-01T00:00:00Z"),
                                    expired("discord.com", "CN=discord.com until 2027-02-01T00:00:00Z")};
  const HostReport h = judgeHost({&one, &two});
  EXPECT_EQ(h.tls_time_servers.size(), 2u);
  EXPECT_FALSE(h.clock_offset_s.has_value());
  EXPECT_TRUE(h.clockWrong());
  EXPECT_NE(clockSentence(h).find("looks wrong"), std::string::npos) << clockSentence(h);
}

TEST(JudgeHost, ARightDateOutweighsExpiredCertificates) {
  // Two servers really have expired certificates; the echo's Date says our
  // clock is right: the servers are at fault, not this machine.
  std::vector<ClockSighting> s = {expired("a.example", "CN=a until 2020-01-01T00:00:00Z"),
                                  expired("b.example", "CN=b until 2021-01-01T00:00:00Z"),
                                  dated(kNoon, kNoon + 100, kNoon + 300, "echo")};
  EXPECT_FALSE(judgeHost({&s}).clockWrong());
}

TEST(JudgeHost, OverAReportsParts) {
  RouteResult pair;
  pair.clock = {dated(kNoon - 7200000, kNoon, kNoon + 10)};
  RouteObservation route;
  route.clock = {dated(kNoon - 7200000, kNoon + 5, kNoon + 20, "198.18.80.1")};
  const HostReport h = judgeHost(std::vector<const RouteResult*>{&pair}, std::vector<const RouteObservation*>{&route});
  EXPECT_EQ(h.clock_samples, 2);
  ASSERT_TRUE(h.clock_offset_s.has_value());
  EXPECT_NEAR(*h.clock_offset_s, 7200, 1.0);
}

TEST(DescribeClockOffset, WordsAPersonReads) {
  EXPECT_EQ(describeClockOffset(7380), "2 h 3 min ahead");
  EXPECT_EQ(describeClockOffset(-7200.4), "2 h behind");
  EXPECT_EQ(describeClockOffset(45), "45 s ahead");
  EXPECT_EQ(describeClockOffset(-600), "10 min behind");
  EXPECT_EQ(describeClockOffset(3 * 86400 + 4 * 3600), "3 d 4 h ahead");
  EXPECT_EQ(describeClockOffset(-2 * 365 * 86400.0), "2 y behind");
  EXPECT_EQ(describeClockOffset(2 * 365 * 86400.0 + 3 * 86400), "2 y 3 d ahead");
}

// The daemon's running tally against judgeHost over the same answers, while
// sources come and go: ties, odd and even counts, duplicates, expired
// certificates counted once per server however many answers name them.
TEST(HostTally, AgreesWithJudgeHostAsSourcesAreReplaced) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> small(0, 4);
  const int64_t offsets_ms[] = {0, 500, -500, 2 * 3600 * 1000, -301 * 1000};
  auto source = [&] {
    std::vector<ClockSighting> out;
    const int n = small(rng);
    for (int i = 0; i < n; ++i) {
      if (small(rng) == 0) {
        out.push_back(expired("s" + std::to_string(small(rng)), "CN=c" + std::to_string(small(rng))));
      } else {
        const int64_t sent = kNoon + small(rng) * 1000;
        out.push_back(dated(sent - offsets_ms[small(rng)] - 200 * small(rng), sent, sent + 100 * small(rng)));
      }
    }
    return out;
  };
  HostTally tally;
  std::list<std::vector<ClockSighting>> live;
  EXPECT_EQ(tally.report().clock_samples, 0);
  EXPECT_FALSE(tally.report().clock_offset_s.has_value());
  for (int step = 0; step < 3000; ++step) {
    if (!live.empty() && (live.size() > 40 || small(rng) < 2)) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      tally.remove(*it);
      live.erase(it);
    } else {
      live.push_back(source());
      tally.add(live.back());
    }
    std::vector<const std::vector<ClockSighting>*> all;
    for (const auto& s : live) all.push_back(&s);
    const HostReport want = judgeHost(all);
    const HostReport got = tally.report();
    ASSERT_EQ(got.clock_samples, want.clock_samples) << "step " << step;
    ASSERT_EQ(got.clock_offset_s, want.clock_offset_s) << "step " << step;
    ASSERT_EQ(got.tls_time_servers, want.tls_time_servers) << "step " << step;
    ASSERT_EQ(got.clockWrong(), want.clockWrong()) << "step " << step;
  }
}

}  // namespace
}  // namespace pathwatch
