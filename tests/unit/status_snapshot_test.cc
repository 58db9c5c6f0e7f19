// StatusSnapshot::version(): the daemon reuses its status answer while the
// version stands, so every change the answer shows must move it.
#include <gtest/gtest.h>

#include "status_snapshot.h"

namespace pathwatch {
namespace {

TEST(StatusSnapshot, VersionMovesWithEveryChangeAndOnlyThen) {
  int64_t now = 1'800'000'000'000;
  StatusSnapshot s([&] { return now; });
  Config c;
  c.providers = {ProviderConfig{}};
  c.providers[0].spec.name = "openai";
  c.routes = {RouteConfig{}};
  c.routes[0].name = "default";

  uint64_t v = s.version();
  s.onConfig(c);
  EXPECT_NE(s.version(), v);
  v = s.version();

  const nlohmann::json before = s.toJson();
  (void)s.summaryLine();
  EXPECT_EQ(s.version(), v) << "reading changes nothing";
  now += 1000;
  EXPECT_EQ(s.toJson(), before) << "the clock alone changes nothing shown";

  RouteResult r;
  r.provider = "openai";
  r.route = "default";
  r.verdict = Verdict::Ok;
  s.onRouteResult(r);
  EXPECT_NE(s.version(), v);
  EXPECT_NE(s.toJson(), before);
  v = s.version();

  Diagnosis d;
  d.verdict = Verdict::Ok;
  s.onDiagnosis("openai", d, {r});
  EXPECT_NE(s.version(), v);
  EXPECT_EQ(s.cycles(), 1u);
  v = s.version();

  const nlohmann::json before_key = s.toJson();
  KeyLayer k;
  k.source = "env:OPENAI_API_KEY";
  k.read = true;
  k.fingerprint = "sk-proj\u2026x9Qa";
  s.onKey("openai", k);
  EXPECT_NE(s.version(), v) << "a key read shows in the answer";
  EXPECT_NE(s.toJson(), before_key);
}

// summaryLine() is kept between calls: it must still follow every first
// diagnosis, every verdict change and every config.
TEST(StatusSnapshot, SummaryLineFollowsDiagnosesAndConfig) {
  StatusSnapshot s([] { return int64_t{1'800'000'000'000}; });
  Config c;
  c.providers = {ProviderConfig{}, ProviderConfig{}};
  c.providers[0].spec.name = "openai";
  c.providers[1].spec.name = "anthropic";
  c.routes = {RouteConfig{}};
  c.routes[0].name = "default";
  s.onConfig(c);
  EXPECT_EQ(s.summaryLine(), "2 providers: 0 ok, 2 not checked yet");
  Diagnosis ok;
  ok.verdict = Verdict::Ok;
  Diagnosis blocked;
  blocked.verdict = Verdict::RegionBlocked;
  s.onDiagnosis("openai", ok, {});
  EXPECT_EQ(s.summaryLine(), "2 providers: 1 ok, 1 not checked yet");
  s.onDiagnosis("anthropic", blocked, {});
  EXPECT_EQ(s.summaryLine(), "2 providers: 1 ok, 1 problem (anthropic region_blocked)");
  s.onDiagnosis("anthropic", blocked, {});
  EXPECT_EQ(s.summaryLine(), "2 providers: 1 ok, 1 problem (anthropic region_blocked)");
  s.onDiagnosis("openai", blocked, {});
  EXPECT_EQ(s.summaryLine(),
            "2 providers: 0 ok, 2 problems (openai region_blocked, anthropic region_blocked)");
  s.onDiagnosis("anthropic", ok, {});
  EXPECT_EQ(s.summaryLine(), "2 providers: 1 ok, 1 problem (openai region_blocked)");
  c.providers.pop_back();
  s.onConfig(c);
  EXPECT_EQ(s.summaryLine(), "1 providers: 0 ok, 1 problem (openai region_blocked)");
}

}  // namespace
}  // namespace pathwatch
