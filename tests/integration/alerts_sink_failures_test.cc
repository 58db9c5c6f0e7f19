// The alerter's count of undelivered alerts per sink, as
// pathwatch_alert_sink_failures_total shows it (docs/metrics.md): labelled by
// the sink's place in the config, never its URL or command; every label's
// count only grows, across reloads that move, remove or add sinks. On a real
// loop against a loopback receiver that always answers 500.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

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

const char* kToken = "xoxb-2748-Zq8Lm4Tn7Vb1Kc9Rd3Wf6Yh0";  // a made-up secret path part

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

std::map<std::string, uint64_t> counts(const Alerter& a) {
  std::map<std::string, uint64_t> out;
  for (const auto& f : a.sinkFailures()) out[f.label] = f.count;
  return out;
}

uint64_t total(const Alerter& a) {
  uint64_t n = 0;
  for (const auto& f : a.sinkFailures()) n += f.count;
  return n;
}

TEST(AlertSinkFailures, PerSinkByPlaceMonotonicAcrossReloads) {
  TestLoop loop;
  EngineFakeHttp receiver(loop.get(), EngineFakeHttp::Response{500, {}, "down"});
  const std::string base = "http://127.0.0.1:" + std::to_string(receiver.port());
  const std::string url_a = base + "/a/" + kToken, url_b = base + "/b/" + kToken;
  AlertsConfig cfg;
  cfg.fail_threshold = 1;
  cfg.resolve_threshold = 1;
  cfg.webhooks = {WebhookConfig{url_a, "json", 2s}, WebhookConfig{url_b, "slack", 2s}};
  cfg.exec = {{"/bin/false"}};
  cfg.webhook_retry.attempts = 1;
  AlerterOptions quiet;
  quiet.log = false;
  ResultBus bus;
  {
    Alerter alerter(loop.get(), &bus, cfg, quiet);
    bus.subscribe(&alerter);
    // Every configured sink is there from the start, at 0.
    EXPECT_EQ(counts(alerter), (std::map<std::string, uint64_t>{
                                   {"webhook[0]", 0}, {"webhook[1]", 0}, {"exec[0]", 0}}));
    for (const auto& f : alerter.sinkFailures()) {
      EXPECT_EQ(f.label.find(kToken), std::string::npos);
      EXPECT_EQ(f.label.find("127.0.0.1"), std::string::npos);
      EXPECT_EQ(f.label.find("/bin/false"), std::string::npos);
    }

    cycle(bus, Verdict::ConnectFailed);  // problem: every sink fails it once
    ASSERT_TRUE(loop.runUntil([&] { return total(alerter) == 3; }, 10000)) << total(alerter);
    EXPECT_EQ(counts(alerter), (std::map<std::string, uint64_t>{
                                   {"webhook[0]", 1}, {"webhook[1]", 1}, {"exec[0]", 1}}));

    // webhook[0] goes; the old webhook[1] moves up to webhook[0] with its
    // queue. Neither label's count may go down.
    cfg.webhooks = {WebhookConfig{url_b, "slack", 2s}};
    alerter.reconfigure(cfg);
    EXPECT_EQ(counts(alerter),
              (std::map<std::string, uint64_t>{{"webhook[0]", 1}, {"exec[0]", 1}}));

    cycle(bus, Verdict::Ok);  // resolved
    ASSERT_TRUE(loop.runUntil([&] { return total(alerter) == 4; }, 10000)) << total(alerter);
    EXPECT_EQ(counts(alerter),
              (std::map<std::string, uint64_t>{{"webhook[0]", 2}, {"exec[0]", 2}}));

    // A new webhook[1] continues where that label's count stood.
    cfg.webhooks = {WebhookConfig{url_b, "slack", 2s}, WebhookConfig{url_a, "json", 2s}};
    alerter.reconfigure(cfg);
    EXPECT_EQ(counts(alerter), (std::map<std::string, uint64_t>{
                                   {"webhook[0]", 2}, {"webhook[1]", 1}, {"exec[0]", 2}}));
    cycle(bus, Verdict::ConnectFailed);
    ASSERT_TRUE(loop.runUntil([&] { return total(alerter) == 8; }, 10000)) << total(alerter);
    EXPECT_EQ(counts(alerter), (std::map<std::string, uint64_t>{
                                   {"webhook[0]", 3}, {"webhook[1]", 2}, {"exec[0]", 3}}));
    bus.unsubscribe(&alerter);
  }
  loop.drain();
}

}  // namespace
}  // namespace pathwatch
