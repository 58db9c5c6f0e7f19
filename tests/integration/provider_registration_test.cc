// A provider is one table entry: this file alone defines "acme", registers
// it, and pathwatch probes, classifies and reports it like a built-in, with
// no change anywhere else (its auth header shape, key shape, canary, marker,
// error envelope and answer rows all come from the entry below).
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

#include "echo/echo_server.h"
#include "integration/support/engine_fake_http.h"
#include "integration/support/engine_loop.h"
#include "pathwatch/check.h"
#include "pathwatch/config.h"
#include "pathwatch/engine.h"
#include "pathwatch/key.h"
#include "pathwatch/report_json.h"
#include "pathwatch/text.h"
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using sig::Json;
using testing::EngineFakeHttp;
using testing::TestLoop;

// {"fault": {"reason": "...", "detail": "..."}} with X-Acme-Trace on every answer.
bool acmeEnvelope(const Json& j) {
  const Json* f = sig::jget(j, "fault");
  return f && f->is_object() && sig::jget(*f, "reason");
}
bool acmeSuccess(const Json& j) { return sig::jget(j, "engines") != nullptr; }
void acmeExtract(const Json& j, HttpLayer& http) {
  const Json* f = sig::jget(j, "fault");
  if (!f || !f->is_object()) return;
  http.error_code = sig::jtext(sig::jget(*f, "reason"));
  http.message = sig::jtext(sig::jget(*f, "detail"));
}

constexpr KeyShape kAcmeKeys[] = {{.prefix = "acme_live_", .min_len = 40, .chars = KeyShape::Chars::Token}};
constexpr HeaderPair kAcmeHeaders[] = {{"Acme-Api", "2025-01"}};
constexpr sig::AnswerRule kAcmeRules[] = {
    {.name = "no credit", .status_lo = 402, .status_hi = 402, .codes = "no_credit",
     .verdict = Verdict::QuotaExhausted, .meaning = "Acme says the account has no credit left"},
    {.name = "bad token", .status_lo = 401, .status_hi = 401, .codes = "bad_token",
     .key_sent = sig::Need::Yes, .verdict = Verdict::AuthFailed, .meaning = "Acme rejected the token"},
};

constinit const ProviderDef acme_provider{
    .id = "acme",
    .display = "Acme Cloud",
    .key_env = "ACME_TOKEN",
    .probe_path = "/engines",
    .auth_header = "X-Acme-Token",
    .auth_prefix = "",
    .headers = kAcmeHeaders,
    .key_shapes = kAcmeKeys,
    .canary = "acme_live_pwcanary################",
    .marker_headers = "x-acme-trace",
    .marker_required = true,
    .envelope = acmeEnvelope,
    .success = acmeSuccess,
    .extract = acmeExtract,
    .rules = kAcmeRules,
};

const bool kRegistered = registerProviderDef(acme_provider);

const char* kToken = "acme_live_Q7vX2mN9pL4rT8kW3zB6yH1cJ5dF0gS";

class ProviderRegistration : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kRegistered);
    ::setenv("ACME_TOKEN", kToken, 1);
  }
  void TearDown() override { ::unsetenv("ACME_TOKEN"); }

  std::shared_ptr<const Config> config(uint16_t port, const std::string& echo_url) {
    const std::string text = R"({"timeout": "3s", "providers": [
        {"name": "openai", "enabled": false}, {"name": "anthropic", "enabled": false},
        {"name": "gemini", "enabled": false}, {"name": "discord", "enabled": false},
        {"name": "acme-lab", "kind": "acme", "base_url": "http://127.0.0.1:)" +
                             std::to_string(port) + R"(/v2", "key_env": "ACME_TOKEN"}],
      "routes": [{"name": "default"}], "resolvers": ["127.0.0.1:9"],
      "allowed_ranges": ["127.0.0.0/8"], "echo": [")" + echo_url + R"("]})";
    return std::make_shared<const Config>(parseConfig(text, "acme.json"));
  }

  CheckReport check(std::shared_ptr<const Config> cfg) {
    std::optional<CheckReport> out;
    {
      Engine engine(loop.get(), cfg);
      runCheck(engine, *cfg, {}, [&](CheckReport r) { out = std::move(r); });
      loop.runUntil([&] { return out.has_value(); }, 15000);
    }
    loop.drain();
    return out.value_or(CheckReport{});
  }

  TestLoop loop;
};

TEST_F(ProviderRegistration, KnownByTheRegistryConfigAndKeyHygiene) {
  EXPECT_EQ(findProviderDef("acme"), &acme_provider);
  EXPECT_EQ(keyShapeOwner(kToken), &acme_provider);
  EXPECT_TRUE(looksLikeApiKey(kToken)) << "config fields refuse it like any other key";
  const KeyInspection ok = inspectKey(acme_provider, kToken, "env:ACME_TOKEN", true);
  EXPECT_EQ(ok.layer.status, LayerStatus::Ok);
  EXPECT_EQ(ok.layer.looks_like, "acme");
  // An OpenAI key configured for Acme has another provider's shape.
  const KeyInspection wrong =
      inspectKey(acme_provider, "sk-proj-Zq4Lm8Rt2Vx6Bn1Kc9Jd3Hf7Gs5Pw0YeMxYA", "env:ACME_TOKEN", true);
  EXPECT_EQ(wrong.layer.error, "key_malformed");
}

TEST_F(ProviderRegistration, ProbedClassifiedAndReportedFromItsTableAlone) {
  EngineFakeHttp acme(loop.get(), {402,
                                   {{"Content-Type", "application/json"}, {"X-Acme-Trace", "t-81f2"}},
                                   R"({"fault":{"reason":"no_credit","detail":"Top up at acme.example"}})"});
  EchoServerOptions eo;
  std::string echo_log;
  eo.log = [&](std::string_view line) { echo_log += std::string(line) + "\n"; };
  EchoServer echo(loop.get(), eo);
  std::string err;
  ASSERT_TRUE(echo.start(&err)) << err;
  const CheckReport report = check(config(acme.port(), "http://" + echo.boundAddress() + "/echo"));
  echo.stop();
  loop.drain();

  ASSERT_EQ(report.providers.size(), 1u);
  const ProviderReport& p = report.providers[0];
  EXPECT_EQ(p.name, "acme-lab");
  ASSERT_EQ(p.routes.size(), 1u);
  const RouteResult& r = p.routes[0];
  EXPECT_EQ(r.verdict, Verdict::QuotaExhausted) << ::testing::PrintToString(r.evidence);
  EXPECT_EQ(r.http.authored_by, "provider");
  EXPECT_EQ(r.http.error_code, "no_credit");
  EXPECT_EQ(p.diagnosis.verdict, Verdict::QuotaExhausted);
  EXPECT_EQ(p.diagnosis.cause, Cause::Account);

  // The request had Acme's shape: its auth header (the key as is), its fixed
  // header, its probe path under the base URL.
  const std::string head = acme.lastHead();
  EXPECT_EQ(head.rfind("GET /v2/engines HTTP/1.1", 0), 0u) << head;
  EXPECT_NE(head.find(std::string("X-Acme-Token: ") + kToken), std::string::npos) << head;
  EXPECT_NE(head.find("Acme-Api: 2025-01"), std::string::npos) << head;

  // The echo got Acme's auth header (a canary in it, never the key) and its
  // fixed header, and nothing on the path changed them.
  EXPECT_EQ(r.echo.status, LayerStatus::Ok) << r.echo.error;
  EXPECT_NE(toLower(echo_log).find("x-acme-token"), std::string::npos) << echo_log;
  EXPECT_NE(toLower(echo_log).find("acme-api"), std::string::npos) << echo_log;
  EXPECT_EQ(echo_log.find(kToken), std::string::npos);

  // The report as JSON names it and never carries the token.
  const std::string text = toJson(report).dump();
  EXPECT_NE(text.find("acme-lab"), std::string::npos);
  EXPECT_EQ(text.find(kToken), std::string::npos);
  EXPECT_NE(text.find("acme_li…"), std::string::npos) << "the fingerprint shows";
}

TEST_F(ProviderRegistration, ACustomEntryOfTheKindNeedsNoMarker) {
  EngineFakeHttp impostor(loop.get(), {401, {{"Content-Type", "application/json"}},
                                       R"({"fault":{"reason":"bad_token","detail":"no"}})"});
  EchoServerOptions eo;
  eo.log = [](std::string_view) {};
  EchoServer echo(loop.get(), eo);
  std::string err;
  ASSERT_TRUE(echo.start(&err)) << err;
  const CheckReport report = check(config(impostor.port(), "http://" + echo.boundAddress() + "/echo"));
  echo.stop();
  loop.drain();
  ASSERT_EQ(report.providers.size(), 1u);
  const RouteResult& r = report.providers[0].routes.at(0);
  // acme-lab is a custom entry (not the public host), so a missing marker is
  // tolerated there: the row still decides. The same answer to the built-in
  // shape would need X-Acme-Trace (marker_required).
  EXPECT_EQ(r.verdict, Verdict::AuthFailed) << ::testing::PrintToString(r.evidence);
}

}  // namespace
}  // namespace pathwatch
