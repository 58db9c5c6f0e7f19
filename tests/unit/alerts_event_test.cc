// The alert event: docs/alerts.md's JSON shape and sentences a person can act on.
#include <gtest/gtest.h>

#include "alerts/verdict_alert.h"

namespace pathwatch {
namespace {

using std::chrono::hours;

// 2026-11-27T21:00:00Z
const WallClock::time_point kAt = WallClock::from_time_t(1795813200);

RouteResult regionBlocked() {
  RouteResult r;
  r.provider = "openai";
  r.route = "isp-a";
  r.verdict = Verdict::RegionBlocked;
  r.evidence = {"http 403 unsupported_country_region_territory authored by provider"};
  r.egress = Egress{"203.0.113.7", "HK", "HKG", "openai"};
  return r;
}

TEST(AlertEvent, JsonHasExactlyTheSpecKeys) {
  VerdictChange c{AlertKind::Problem, Verdict::Ok, Verdict::RegionBlocked, 2, 0, kAt};
  nlohmann::json j = toJson(makeVerdictAlert(c, regionBlocked(), nullptr, kAt));
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"after", "at", "before", "cause", "event", "evidence",
                                            "provider", "route", "summary"}));
  EXPECT_EQ(j["event"], "problem");
  EXPECT_EQ(j["at"], "2026-11-27T21:00:00Z");
  EXPECT_EQ(j["provider"], "openai");
  EXPECT_EQ(j["route"], "isp-a");
  EXPECT_EQ(j["before"], "ok");
  EXPECT_EQ(j["after"], "region_blocked");
  EXPECT_EQ(j["cause"], "region");
  EXPECT_EQ(j["evidence"],
            (nlohmann::json{"http 403 unsupported_country_region_territory authored by provider"}));
}

TEST(AlertEvent, UsesTheDiagnosisSentenceWhenItFits) {
  Diagnosis d;
  d.verdict = Verdict::RegionBlocked;
  d.cause = Cause::Region;
  d.working_routes = {"vpn"};
  d.summary = "OpenAI refuses route isp-a (egress 203.0.113.7, HK) by region; route vpn works.";
  VerdictChange c{AlertKind::Problem, Verdict::Ok, Verdict::RegionBlocked, 2, 0, kAt};
  auto e = makeVerdictAlert(c, regionBlocked(), &d, kAt);
  EXPECT_EQ(e.summary, d.summary);
}

TEST(AlertEvent, OwnSentenceNamesEgressAdviceAndWorkingRoute) {
  Diagnosis d;
  d.verdict = Verdict::KeyMissing;  // about something else: not used as is
  d.summary = "unrelated";
  d.working_routes = {"vpn", "isp-a"};
  VerdictChange c{AlertKind::Problem, Verdict::Ok, Verdict::RegionBlocked, 2, 0, kAt};
  auto e = makeVerdictAlert(c, regionBlocked(), &d, kAt);
  EXPECT_EQ(e.summary,
            "OpenAI on route isp-a (egress 203.0.113.7, HK) fails: region_blocked, the provider "
            "refuses this egress's country or region; use another route; route vpn works.");
}

TEST(AlertEvent, ProblemAtStartHasNullBefore) {
  VerdictChange c{AlertKind::Problem, std::nullopt, Verdict::RegionBlocked, 1, 0, kAt};
  auto j = toJson(makeVerdictAlert(c, regionBlocked(), nullptr, kAt));
  EXPECT_TRUE(j["before"].is_null());
  EXPECT_NE(j["summary"].get<std::string>().find("found at start"), std::string::npos);
}

TEST(AlertEvent, ResolvedKeepsTheCauseOfWhatWasResolved) {
  RouteResult r = regionBlocked();
  r.verdict = Verdict::Ok;
  VerdictChange c{AlertKind::Resolved, Verdict::RegionBlocked, Verdict::Ok, 2, 0, kAt};
  auto j = toJson(makeVerdictAlert(c, r, nullptr, kAt));
  EXPECT_EQ(j["event"], "resolved");
  EXPECT_EQ(j["before"], "region_blocked");
  EXPECT_EQ(j["after"], "ok");
  EXPECT_EQ(j["cause"], "region");
  EXPECT_EQ(j["summary"],
            "OpenAI on route isp-a (egress 203.0.113.7, HK) works again (was region_blocked) "
            "after 2 good results in a row.");
}

TEST(AlertEvent, ChangedReminderFlappingSentences) {
  RouteResult r = regionBlocked();
  r.verdict = Verdict::ConnectFailed;
  r.egress.reset();
  auto changed = makeVerdictAlert(
      {AlertKind::Changed, Verdict::RegionBlocked, Verdict::ConnectFailed, 2, 0, kAt}, r, nullptr,
      kAt);
  EXPECT_EQ(changed.summary,
            "OpenAI on route isp-a changed from region_blocked to connect_failed: the network "
            "path fails.");
  EXPECT_EQ(changed.cause, Cause::Network);

  auto reminder = makeVerdictAlert(
      {AlertKind::Reminder, Verdict::ConnectFailed, Verdict::ConnectFailed, 9, 0, kAt - hours(6)},
      r, nullptr, kAt);
  EXPECT_EQ(toJson(reminder)["event"], "reminder");
  EXPECT_EQ(reminder.summary.rfind("Still failing since 2026-11-27 15:00 UTC: ", 0), 0u)
      << reminder.summary;

  auto flap = makeVerdictAlert(
      {AlertKind::Flapping, Verdict::Ok, Verdict::ConnectFailed, 10, 4, kAt}, r, nullptr, kAt);
  EXPECT_EQ(toJson(flap)["event"], "flapping");
  EXPECT_EQ(flap.cause, Cause::Network);
  EXPECT_NE(flap.summary.find("flapping: 4 changes"), std::string::npos) << flap.summary;
}

TEST(AlertEvent, KeyProblemShowsOnlyTheFingerprint) {
  const std::string key = "sk-proj-Zq4TnW8bLr2XcV7mKp3sYd9FhJ6uGa1eMxYA";
  RouteResult r;
  r.provider = "openai";
  r.route = "default";
  r.verdict = Verdict::AuthFailed;
  r.key.status = LayerStatus::Ok;
  r.key.source = "env:OPENAI_API_KEY";
  r.key.fingerprint = "sk-proj…MxYA";
  r.evidence = {"http 401 invalid_api_key authored by provider"};
  auto e = makeVerdictAlert({AlertKind::Problem, Verdict::Ok, Verdict::AuthFailed, 2, 0, kAt}, r,
                            nullptr, kAt);
  std::string dumped = toJson(e).dump();
  EXPECT_NE(dumped.find("sk-proj…MxYA"), std::string::npos) << dumped;
  EXPECT_EQ(dumped.find(key), std::string::npos);
  EXPECT_EQ(dumped.find("Zq4TnW8b"), std::string::npos);
  EXPECT_EQ(toJson(e)["cause"], "key");
  EXPECT_NE(e.summary.find("check the API key (sk-proj…MxYA from env:OPENAI_API_KEY)"),
            std::string::npos)
      << e.summary;
}

TEST(AlertEvent, EvidenceIsBoundedAndStaysValidUtf8) {
  RouteResult r = regionBlocked();
  r.evidence.assign(50, std::string(499, 'x') + "é…é…");
  auto e = makeVerdictAlert({AlertKind::Problem, Verdict::Ok, Verdict::RegionBlocked, 2, 0, kAt},
                            r, nullptr, kAt);
  EXPECT_EQ(e.evidence.size(), 21u);
  EXPECT_EQ(e.evidence.back(), "(30 more)");
  EXPECT_NO_THROW((void)toJson(e).dump());  // throws on invalid UTF-8
}

TEST(AlertEvent, IsoTimeAndDisplayNames) {
  EXPECT_EQ(isoUtc(kAt), "2026-11-27T21:00:00Z");
  EXPECT_EQ(providerDisplayName("anthropic"), "Anthropic");
  EXPECT_EQ(providerDisplayName("local-llm"), "local-llm");
  EXPECT_EQ(toString(AlertKind::EgressChanged), "egress_changed");
}

}  // namespace
}  // namespace pathwatch
