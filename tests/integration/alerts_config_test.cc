// The alerts keys of the config reach the alerter: alerts.flapping (through
// the hysteresis), alerts.webhook_retry (through each webhook sink, on reload
// too) and alerts.exec_timeout (through each exec sink). On a real loop
// against a loopback HTTP fake; every wait has a deadline.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "alerts/alerter.h"
#include "integration/support/engine_fake_http.h"
#include "integration/support/engine_loop.h"
#include "pathwatch/config.h"
#include "result_bus.h"

namespace pathwatch {
namespace {

using namespace std::chrono_literals;
using testing::EngineFakeHttp;
using testing::TestLoop;

struct BusEvents : EventSink {
  std::vector<nlohmann::json> events;
  void onEvent(const nlohmann::json& e) override { events.push_back(e); }
  std::vector<std::string> kinds() const {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.value("event", ""));
    return out;
  }
};

// One scheduler cycle: the route result, then the provider's diagnosis.
void cycle(ResultBus& bus, Verdict v) {
  RouteResult r;
  r.provider = "openai";
  r.route = "isp-a";
  r.verdict = v;
  bus.publishRouteResult(r);
  Diagnosis d;
  d.verdict = v;
  d.cause = causeOf(v);
  bus.publishDiagnosis("openai", d, {r});
}

AlerterOptions quiet() {
  AlerterOptions o;
  o.log = false;
  return o;
}

std::vector<std::string> runSequence(const AlertsConfig& cfg, const std::vector<Verdict>& seq) {
  TestLoop loop;
  ResultBus bus;
  BusEvents on_bus;
  bus.subscribeEvents(&on_bus);
  {
    Alerter alerter(loop.get(), &bus, cfg, quiet());
    bus.subscribe(&alerter);
    for (Verdict v : seq) cycle(bus, v);
    bus.unsubscribe(&alerter);
  }
  loop.drain();
  return on_bus.kinds();
}

TEST(AlertsConfig, FlappingKeysReachTheHysteresis) {
  const auto O = Verdict::Ok, F = Verdict::ConnectFailed;
  // Two changes in a row: not flapping by default (4 in 10) ...
  EXPECT_TRUE(runSequence(AlertsConfig{}, {O, F, O}).empty());
  // ... flapping with alerts.flapping {changes: 2, window: 4}.
  const Config c = parseConfig(R"({"alerts": {"flapping": {"changes": 2, "window": 4}}})", "t.json");
  EXPECT_EQ(runSequence(c.alerts, {O, F, O}), (std::vector<std::string>{"flapping"}));
}

TEST(AlertsConfig, FlappingSettleIsConfigurable) {
  const auto O = Verdict::Ok, F = Verdict::ConnectFailed;
  const std::vector<Verdict> seq = {O, F, O, O, O};  // flapping at the 3rd, then 3 oks in a row
  const Config by_default =
      parseConfig(R"({"alerts": {"flapping": {"changes": 2, "window": 4}}})", "t.json");
  // Default settle = 2 x resolve_threshold = 4 oks in a row: still held.
  EXPECT_EQ(runSequence(by_default.alerts, seq), (std::vector<std::string>{"flapping"}));
  const Config settle3 =
      parseConfig(R"({"alerts": {"flapping": {"changes": 2, "window": 4, "settle": 3}}})", "t.json");
  EXPECT_EQ(runSequence(settle3.alerts, seq), (std::vector<std::string>{"flapping", "resolved"}));
}

TEST(AlertsConfig, WebhookAttemptsComeFromTheConfigAndFollowAReload) {
  TestLoop loop;
  EngineFakeHttp receiver(loop.get(), EngineFakeHttp::Response{500, {}, "down"});
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  AlertsConfig cfg;
  cfg.webhooks.push_back(WebhookConfig{url, "json", 2s});
  cfg.webhook_retry.attempts = 2;
  cfg.webhook_retry.backoff = {10ms};
  ResultBus bus;
  {
    Alerter alerter(loop.get(), &bus, cfg, quiet());
    bus.subscribe(&alerter);
    cycle(bus, Verdict::ConnectFailed);  // a problem from the first result: raised at once
    ASSERT_TRUE(loop.runUntil([&] { return alerter.stats().webhook_failed == 1; }, 10000));
    EXPECT_EQ(receiver.requests(), 2);  // 2 attempts, not the built-in 3

    cfg.webhook_retry.attempts = 4;
    alerter.reconfigure(cfg);
    cycle(bus, Verdict::Ok);
    cycle(bus, Verdict::Ok);  // resolved
    ASSERT_TRUE(loop.runUntil([&] { return alerter.stats().webhook_failed == 2; }, 10000));
    EXPECT_EQ(receiver.requests(), 2 + 4);
    bus.unsubscribe(&alerter);
  }
  loop.drain();
}

TEST(AlertsConfig, ExecTimeoutComesFromTheConfig) {
  char tmpl[] = "/tmp/pathwatch-alerts-config-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string script = dir + "/slow.sh";
  {
    std::ofstream f(script);
    f << "#!/bin/sh\nexec sleep 30\n";
  }
  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);

  TestLoop loop;
  ResultBus bus;
  AlertsConfig cfg;
  cfg.exec.push_back({script});
  cfg.exec_timeout = 200ms;  // the built-in 30s would outlast the deadline below
  {
    Alerter alerter(loop.get(), &bus, cfg, quiet());
    bus.subscribe(&alerter);
    const auto start = std::chrono::steady_clock::now();
    cycle(bus, Verdict::ConnectFailed);
    ASSERT_TRUE(loop.runUntil([&] { return alerter.stats().exec_failed == 1; }, 8000));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
    bus.unsubscribe(&alerter);
  }
  loop.drain();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pathwatch
