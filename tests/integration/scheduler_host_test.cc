// The Scheduler on a real loop with fake probes: what the daemon keeps of
// each pair's latest result must judge exactly as the full results would.
// Every diagnosis judges this machine's clock from every pair's latest
// answer (judgeHost) and reads the layers' outcomes, not the answer's body
// or headers; runNow reports a pair held by a rate limit with its latest raw
// result.
#include <gtest/gtest.h>
#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "pathwatch/classify.h"
#include "pathwatch/config.h"
#include "pathwatch/host.h"
#include "pathwatch/report.h"
#include "scheduler.h"

namespace pathwatch {
namespace {

constexpr int64_t kNoon = 1795867200000;  // 2026-11-28T12:00:00Z

std::shared_ptr<const Config> config(int providers, int routes) {
  std::string json = R"({"interval": "1h", "providers": [)";
  for (const char* b : {"openai", "anthropic", "gemini", "discord"})
    json += std::string(R"({"name": ")") + b + R"(", "enabled": false},)";
  for (int i = 0; i < providers; ++i)
    json += (i ? "," : "") + std::string(R"({"name": "p)") + std::to_string(i) +
            R"(", "kind": "openai", "base_url": "https://llm.example.net/v1"})";
  json += R"(], "routes": [)";
  for (int r = 0; r < routes; ++r)
    json += (r ? "," : "") + std::string(R"({"name": "r)") + std::to_string(r) + "\"}";
  json += "]}";
  return std::make_shared<const Config>(parseConfig(json, "test.json"));
}

// Probes answer one per loop turn, in the order they were started.
struct FakeProbes {
  uv_loop_t loop{};
  uv_idle_t idle{};
  std::deque<std::function<void()>> pending;
  std::function<RouteResult(const std::string&, const std::string&)> answer;

  FakeProbes() {
    uv_loop_init(&loop);
    uv_idle_init(&loop, &idle);
    idle.data = this;
  }
  ~FakeProbes() {
    uv_close(reinterpret_cast<uv_handle_t*>(&idle), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  void start() {
    uv_idle_start(&idle, [](uv_idle_t* h) {
      auto* self = static_cast<FakeProbes*>(h->data);
      if (self->pending.empty()) return;
      auto next = std::move(self->pending.front());
      self->pending.pop_front();
      next();
    });
  }
  ProbeFn probe() {
    return [this](const ProviderConfig& p, const RouteConfig& r, const KeyInspection&,
                  std::function<void(RouteResult)> done) {
      pending.push_back([this, p = p.spec.name, r = r.name, done] { done(answer(p, r)); });
    };
  }
  // Runs the loop until `until` holds (bounded: 20000 turns).
  bool runUntil(const std::function<bool()>& until) {
    for (int i = 0; i < 20000 && !until(); ++i) uv_run(&loop, UV_RUN_NOWAIT);
    return until();
  }
};

ClockSighting dated(int64_t ahead_ms, int64_t sent_ms) {
  ClockSighting s;
  s.server = "llm.example.net";
  s.sent_ms = sent_ms;
  s.answered_ms = sent_ms + 40;
  s.date_ms = sent_ms - ahead_ms - (sent_ms - ahead_ms) % 1000;  // whole seconds
  return s;
}

TEST(SchedulerHost, EveryDiagnosisJudgesTheClockFromEveryPairsLatestAnswer) {
  FakeProbes fake;
  std::mt19937 rng(11);
  // Offsets from right to hours off, so the median moves across rounds and
  // replaced answers must stop counting; some answers carry no Date, some an
  // expired certificate.
  std::uniform_int_distribution<int> pick(0, 5);
  const int64_t offsets[] = {0, 0, 2 * 3600 * 1000, -3 * 3600 * 1000, 400 * 1000, -1};
  std::map<PairKey, std::vector<ClockSighting>> latest;  // what the oracle counts
  fake.answer = [&](const std::string& p, const std::string& r) {
    RouteResult raw;
    int n = pick(rng) % 3;
    for (int i = 0; i < n; ++i) {
      const int64_t off = offsets[pick(rng)];
      if (off == -1) {
        ClockSighting s;
        s.server = "llm.example.net";
        s.tls_time_error = "tls_expired";
        s.certificate = "CN=" + p + " until 2020";
        raw.clock.push_back(s);
      } else {
        raw.clock.push_back(dated(off, kNoon + pick(rng) * 1000));
      }
    }
    latest[PairKey{p, r}] = raw.clock;
    // Answers of several kinds, with the body and headers a provider sends.
    const int code[] = {200, 401, 403, 404, 500, 0};  // no 429: a held pair stops its cycles
    raw.http.code = code[pick(rng)];
    if (raw.http.code) {
      raw.http.status = LayerStatus::Ok;
      raw.http.headers = {{"content-type", "application/json"}, {"x-request-id", "req_" + p + r}};
      raw.http.body = R"({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}})";
      raw.http.message = "Incorrect API key provided";
      raw.http.error_code = raw.http.code == 200 ? "" : "invalid_api_key";
    }
    return raw;
  };
  std::map<PairKey, RouteResult> full;  // as on_result saw them
  std::vector<std::string> mismatches;
  int diagnoses = 0, clock_findings = 0;
  std::shared_ptr<const Config> cfg = config(12, 3);
  Scheduler::Hooks hooks;
  hooks.probe = fake.probe();
  hooks.on_result = [&](const RouteResult& r) { full[PairKey{r.provider, r.route}] = r; };
  hooks.on_diagnosis = [&](const std::string& provider, const Diagnosis& d,
                           const std::vector<RouteResult>& routes) {
    ++diagnoses;
    std::vector<const std::vector<ClockSighting>*> all;
    for (const auto& [k, clock] : latest) all.push_back(&clock);
    const ProviderConfig* prov = nullptr;
    for (const auto& p : cfg->providers)
      if (p.spec.name == provider) prov = &p;
    ASSERT_NE(prov, nullptr);
    std::vector<RouteResult> whole;
    for (const auto& rc : cfg->routes) whole.push_back(full.at(PairKey{provider, rc.name}));
    ASSERT_EQ(routes.size(), whole.size());
    for (std::size_t i = 0; i < routes.size(); ++i) {
      EXPECT_EQ(routes[i].route, whole[i].route);
      EXPECT_EQ(routes[i].verdict, whole[i].verdict);
      EXPECT_EQ(routes[i].evidence, whole[i].evidence);
    }
    const Diagnosis want = diagnoseProvider(prov->spec, whole, judgeHost(all));
    if (d.summary.find("clock") != std::string::npos) ++clock_findings;
    if (want.summary != d.summary || want.cause != d.cause)
      mismatches.push_back(provider + ": " + d.summary + " | want: " + want.summary);
  };
  Scheduler sched(&fake.loop, hooks, 5);
  ScheduleOptions base;
  base.first_spread = Millis(0);
  sched.configure(cfg, base);
  fake.start();
  for (int round = 0; round < 6; ++round) {
    bool answered = false;
    sched.runNow([&](CheckReport) { answered = true; });
    ASSERT_TRUE(fake.runUntil([&] { return answered; })) << "round " << round;
  }
  EXPECT_GE(diagnoses, 12 * 6);
  EXPECT_GT(clock_findings, 0) << "the offsets should make the clock wrong in some rounds";
  EXPECT_LT(clock_findings, diagnoses) << "and right in others";
  std::set<Verdict> verdicts;
  for (const auto& [k, r] : full) verdicts.insert(r.verdict);
  EXPECT_GE(verdicts.size(), 3u) << "the answers should classify several ways";
  EXPECT_TRUE(mismatches.empty()) << mismatches.size() << " mismatches, first: "
                                  << (mismatches.empty() ? "" : mismatches.front());
  sched.stop();
}

TEST(SchedulerHost, RunNowReportsAHeldPairWithItsLatestRawResult) {
  FakeProbes fake;
  int probes = 0;
  fake.answer = [&](const std::string& p, const std::string&) {
    ++probes;
    RouteResult raw;
    raw.http.message = "answer " + std::to_string(probes) + " for " + p;
    // p0 is told to wait an hour: it must not be probed again by runNow.
    if (p == "p0") raw.http.retry_after_s = 3600;
    return raw;
  };
  auto cfg = config(2, 1);
  Scheduler::Hooks hooks;
  hooks.probe = fake.probe();
  Scheduler sched(&fake.loop, hooks, 5);
  ScheduleOptions base;
  base.first_spread = Millis(0);
  sched.configure(cfg, base);
  fake.start();
  ASSERT_TRUE(fake.runUntil([&] { return probes == 2 && fake.pending.empty(); }));
  std::optional<CheckReport> rep;
  sched.runNow([&](CheckReport r) { rep = std::move(r); });
  ASSERT_TRUE(fake.runUntil([&] { return rep.has_value(); }));
  EXPECT_EQ(probes, 3) << "only p1 is probed again";
  ASSERT_EQ(rep->providers.size(), 2u);
  for (const auto& p : rep->providers) {
    ASSERT_EQ(p.routes.size(), 1u) << p.name;
    if (p.name == "p0")
      EXPECT_EQ(p.routes[0].http.message, "answer 1 for p0") << "the held pair's latest raw result";
    else
      EXPECT_EQ(p.routes[0].http.message, "answer 3 for p1");
  }
  sched.stop();
}

}  // namespace
}  // namespace pathwatch
