// Outside text the answer reader keeps (rate entries: x-ratelimit-* values,
// quota ids; the X-Squid-Error code) is redacted before it is capped, so a key
// quoted there is fingerprinted, never kept whole or as a half (found by
// tests/fuzz/fuzz_classify).
#include <gtest/gtest.h>

#include <string>

#include "pathwatch/classify.h"
#include "pathwatch/provider.h"
#include "pathwatch/result.h"
#include "pathwatch/text.h"

namespace pathwatch {
namespace {

// Made-up, shaped like a real key; never issued.
const std::string kKey = "sk-ant-api03-Xy7Kp2Lm9Qr4St6Uv8Wx0Yz1Ab3Cd5Ef7Gh9Ij2Kl4Mn6Op8Qr0St2Uv4Wx6Yz8Ab0Cd2Ef4Gh6AA";

TEST(AnswerRate, AKeyQuotedInARateHeaderIsFingerprinted) {
  for (const char* provider : {"openai", "anthropic", "gemini", "discord"}) {
    const ProviderSpec spec = *findBuiltin(provider);
    HttpLayer http;
    http.status = LayerStatus::Ok;
    http.code = 401;
    http.headers = {{"Content-Type", "application/json"},
                    {"x-ratelimit-limit-requests", "invalid key " + kKey},
                    {"anthropic-ratelimit-requests-remaining", "4"}};
    http.body = R"({"error":{"message":"no","type":"authentication_error"}})";
    analyzeAnswer(spec, http);
    ASSERT_EQ(http.rate.count("x-ratelimit-limit-requests"), 1u) << provider;
    const std::string& v = http.rate["x-ratelimit-limit-requests"];
    EXPECT_EQ(v.find(kKey.substr(12, 12)), std::string::npos) << provider << ": " << v;
    EXPECT_NE(v.find("invalid key"), std::string::npos) << provider << ": " << v;
    EXPECT_EQ(http.rate["anthropic-ratelimit-requests-remaining"], "4") << provider;
  }
}

TEST(AnswerRate, AKeyInAGeminiQuotaIdIsFingerprinted) {
  const ProviderSpec spec = *findBuiltin("gemini");
  HttpLayer http;
  http.status = LayerStatus::Ok;
  http.code = 429;
  http.headers = {{"Content-Type", "application/json"}};
  http.body = R"({"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[)"
              R"({"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":")" +
              kKey + R"(","quotaValue":"0"}]}]}})";
  analyzeAnswer(spec, http);
  for (const auto& [name, value] : http.rate)
    EXPECT_EQ(value.find(kKey.substr(12, 12)), std::string::npos) << name << ": " << value;
}

TEST(AnswerRate, AKeyAcrossTheCutIsRedactedBeforeTheCut) {
  // Values are capped (64 bytes for a header, 400 for quota ids): a key that
  // straddles the cap must not survive as a recognisable half.
  const std::string gemini_key = "AIzaSyB3x9Qk7Lm2Np5Rt8Vw1Yz4Ac6Ef9Hj0Kd";
  {
    const ProviderSpec spec = *findBuiltin("openai");
    HttpLayer http;
    http.status = LayerStatus::Ok;
    http.code = 429;
    http.headers = {{"x-ratelimit-reset-requests", std::string(50, 'p') + " " + gemini_key}};
    analyzeAnswer(spec, http);
    const std::string& v = http.rate["x-ratelimit-reset-requests"];
    EXPECT_EQ(v.find(gemini_key.substr(0, 12)), std::string::npos) << v;
  }
  {
    const ProviderSpec spec = *findBuiltin("gemini");
    HttpLayer http;
    http.status = LayerStatus::Ok;
    http.code = 429;
    http.headers = {{"Content-Type", "application/json"}};
    http.body = R"({"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[)"
                R"({"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":")" +
                std::string(390, 'q') + " " + gemini_key + R"(","quotaValue":"0"}]}]}})";
    analyzeAnswer(spec, http);
    for (const auto& [name, value] : http.rate)
      EXPECT_EQ(value.find(gemini_key.substr(0, 12)), std::string::npos) << name << ": " << value;
  }
}

TEST(AnswerRate, AKeyAcrossTheSquidErrorCutIsRedacted) {
  // X-Squid-Error becomes the error code, capped at 64 bytes: redacted first.
  const std::string gemini_key = "AIzaSyB3x9Qk7Lm2Np5Rt8Vw1Yz4Ac6Ef9Hj0Kd";
  const ProviderSpec spec = *findBuiltin("openai");
  HttpLayer http;
  http.status = LayerStatus::Ok;
  http.code = 403;
  http.headers = {{"Content-Type", "text/html"},
                  {"Server", "squid/5.7"},
                  {"X-Squid-Error", "ERR_ACCESS_DENIED " + std::string(32, 'x') + " " + gemini_key}};
  http.body = "<html><head><title>ERROR: The requested URL could not be retrieved</title></head></html>";
  analyzeAnswer(spec, http);
  EXPECT_EQ(http.authored_by, "middlebox");
  EXPECT_EQ(http.error_code.find(gemini_key.substr(0, 12)), std::string::npos) << http.error_code;
  EXPECT_NE(http.error_code.find("ERR_ACCESS_DENIED"), std::string::npos) << http.error_code;
}

TEST(AnswerRedaction, CleanTextNeverKeepsTheHalfOfAKeyCutByItsReadLimit) {
  // cleanText reads at most 2 * cap + 8 bytes of its input: a key across that
  // limit is dropped whole, not kept as a half redaction cannot recognise.
  const std::string key = "sk-ant-api03-Xy7Kp2Lm9Qr4St6Uv8Wx0Yz1Ab3Cd5Ef7Gh9Ij2Kl4Mn6Op8Qr0St2Uv4Wx6Yz8Ab0Cd2Ef4Gh6AA";
  // The first key shrinks to its fingerprint, so the cut second one would fit.
  for (std::size_t pad = 1; pad < 40; ++pad) {
    const std::string raw = key + " " + std::string(pad, 'p') + " " + key + " tail";
    const std::string out = cleanText(raw, 64);
    EXPECT_EQ(out.find(key.substr(0, 12)), std::string::npos) << pad << ": " << out;
  }
  EXPECT_EQ(cleanText("short message " + key, 64).find(key.substr(12, 12)), std::string::npos);
  EXPECT_EQ(cleanText("a plain message", 64), "a plain message");
}

}  // namespace
}  // namespace pathwatch
