// DeepSeek's answers (docs/providers.md "DeepSeek"): OpenAI's envelope with
// its own twist ({"error":{"message","type":"authentication_error",
// "code":"invalid_request_error"}}), so the message and the status decide.
// The probe is GET /user/balance: with a key it says whether the account can
// still pay ({"is_available", "balance_infos":[...]}).
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using namespace sig;

// GET /user/balance, or a models listing when base_url points elsewhere.
bool success(const Json& j) {
  const Json* available = jget(j, "is_available");
  if (available && available->is_boolean()) return true;
  return successModelList(j);
}

void extract(const Json& j, HttpLayer& http) {
  extractOpenAiStyle(j, http);
  // The balance call answers 200 either way; is_available false means no
  // balance left to spend.
  const Json* available = jget(j, "is_available");
  if (available && available->is_boolean() && !available->get<bool>())
    http.error_code = "is_available=false";
}

constexpr AnswerRule kRules[] = {
    {.name = "no key / bad header",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "DeepSeek's own answer to a request without a key: the path reaches DeepSeek"},
    // Sent as "Bearer KEY": DeepSeek saw no key of its sk-… format there.
    {.name = "bad header, key sent",
     .status_lo = 401, .status_hi = 401,
     .message = "auth header format",
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "DeepSeek found no sk-… key in the Authorization header: the key is not in DeepSeek's "
                "format (or the path altered the header; the echo layer tells)"},
    {.name = "invalid key",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "DeepSeek rejected the key"},
    {.name = "no balance (/user/balance)",
     .status_lo = 200, .status_hi = 299,
     .codes = "is_available=false",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "DeepSeek says the account's balance is not available for calls: top it up; retrying "
                "will not help"},
    {.name = "no balance",
     .status_lo = 402, .status_hi = 402,
     .verdict = Verdict::QuotaExhausted,
     .meaning = "DeepSeek says the balance is insufficient: top it up; retrying will not help"},
    {.name = "rate limit",
     .status_lo = 429, .status_hi = 429,
     .verdict = Verdict::RateLimited,
     .meaning = "DeepSeek says the account's concurrency limit is reached: retry later"},
    {.name = "overloaded",
     .status_lo = 500, .status_hi = 599,
     .verdict = Verdict::ProviderError,
     .meaning = "DeepSeek itself is failing or overloaded: nothing to fix on this side"},
};

bool extractText(std::string_view body, HttpLayer& http) { return extractTextOpenAiStyle(body, http); }

// sk- + 32 hex: OpenAI's legacy keys are sk- + 48, so neither claims the other's.
constexpr KeyShape kKeys[] = {
    {.prefix = "sk-", .min_len = 35, .max_len = 35, .chars = KeyShape::Chars::Hex},
};

}  // namespace

constinit const ProviderDef providers::deepseek_provider{
    .id = "deepseek",
    .display = "DeepSeek",
    .base_url = "https://api.deepseek.com",
    .key_env = "DEEPSEEK_API_KEY",
    .probe_path = "/user/balance",
    .key_shapes = kKeys,
    .canary = "sk-################################",
    .envelope = envelopeOpenAiStyle,
    .success = success,
    .extract = extract,
    .extract_text = extractText,
    .rules = kRules,
};

}  // namespace pathwatch
