// This machine's clock through the whole check (docs/verdicts.md, cause
// `host`): the Date header of the provider's answer, compared with the local
// clock by the engine, judged by the report, written to JSON and read back.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "integration/support/engine_fake_http.h"
#include "integration/support/engine_loop.h"
#include "pathwatch/check.h"
#include "pathwatch/clock.h"
#include "pathwatch/config.h"
#include "pathwatch/engine.h"
#include "pathwatch/report_json.h"

namespace pathwatch {
namespace {

using testing::EngineFakeHttp;
using testing::TestLoop;

class HostClock : public ::testing::Test {
 protected:
  CheckReport check(uint16_t port) {
    const std::string text = R"({"timeout": "3s", "providers": [
        {"name": "openai", "enabled": false}, {"name": "anthropic", "enabled": false},
        {"name": "gemini", "enabled": false}, {"name": "discord", "enabled": false},
        {"name": "lab", "kind": "openai", "base_url": "http://127.0.0.1:)" +
                             std::to_string(port) + R"(/v1"}],
      "routes": [{"name": "default"}], "resolvers": ["127.0.0.1:9"],
      "allowed_ranges": ["127.0.0.0/8"]})";
    auto cfg = std::make_shared<const Config>(parseConfig(text, "clock.json"));
    std::optional<CheckReport> out;
    {
      Engine engine(loop.get(), cfg);
      runCheck(engine, *cfg, {}, [&](CheckReport r) { out = std::move(r); });
      loop.runUntil([&] { return out.has_value(); }, 15000);
    }
    loop.drain();
    return out.value_or(CheckReport{});
  }

  static EngineFakeHttp::Response answerDated(int64_t server_ms) {
    return {200,
            {{"Content-Type", "application/json"}, {"x-request-id", "req_1"}, {"Date", httpDateFromMs(server_ms)}},
            R"({"object":"list","data":[]})"};
  }

  TestLoop loop;
};

TEST_F(HostClock, AServerTwoHoursBehindUsMakesTheCauseTheHost) {
  // The server's clock says two hours ago: this machine is 2 h ahead.
  EngineFakeHttp server(loop.get(), answerDated(wallClockMs() - 2 * 3600 * 1000));
  const CheckReport report = check(server.port());
  ASSERT_TRUE(report.host.has_value());
  ASSERT_TRUE(report.host->clock_offset_s.has_value());
  EXPECT_NEAR(*report.host->clock_offset_s, 7200, 5);
  ASSERT_EQ(report.providers.size(), 1u);
  const Diagnosis& d = report.providers[0].diagnosis;
  EXPECT_EQ(d.verdict, Verdict::Ok) << "the call itself works";
  EXPECT_EQ(d.cause, Cause::Host) << d.summary;
  EXPECT_NE(d.summary.find("this machine's clock is 2 h ahead"), std::string::npos) << d.summary;
  EXPECT_NE(d.summary.find("fix time sync"), std::string::npos) << d.summary;

  // host.clock_offset_s in the JSON, read back.
  const auto j = toJson(report);
  ASSERT_TRUE(j.contains("host")) << j.dump();
  EXPECT_NEAR(j["host"]["clock_offset_s"].get<double>(), 7200, 5);
  const auto back = checkReportFromJson(j);
  ASSERT_TRUE(back.has_value());
  ASSERT_TRUE(back->host && back->host->clock_offset_s);
  EXPECT_NEAR(*back->host->clock_offset_s, 7200, 5);
  EXPECT_EQ(back->providers.at(0).diagnosis.cause, Cause::Host);
}

TEST_F(HostClock, ARightClockIsNoFinding) {
  EngineFakeHttp server(loop.get(), answerDated(wallClockMs()));
  const CheckReport report = check(server.port());
  ASSERT_TRUE(report.host.has_value()) << "the Date was seen";
  ASSERT_TRUE(report.host->clock_offset_s.has_value());
  EXPECT_LT(std::abs(*report.host->clock_offset_s), 5);
  ASSERT_EQ(report.providers.size(), 1u);
  EXPECT_EQ(report.providers[0].diagnosis.cause, Cause::None) << report.providers[0].diagnosis.summary;
  EXPECT_EQ(report.providers[0].diagnosis.summary.find("clock"), std::string::npos);
}

}  // namespace
}  // namespace pathwatch
