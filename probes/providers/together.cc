// Together's answers (docs/providers.md "Together"): OpenAI's envelope
// {"id"?, "error":{"message","type","param","code"}}. It answers a missing
// key and a wrong one alike (401 invalid_api_key), so that answer without a
// key is its "no key" answer, not a sign that the path added one. Its
// rate-limit 429 carries type credit_limit too: only the 402 is money.
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using namespace sig;

constexpr AnswerRule kRules[] = {
    {.name = "invalid/missing key, none sent",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "Together's own answer to a request without a key (the same as to a wrong key): the "
                "path reaches Together"},
    {.name = "invalid/missing key",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "Together rejected the key"},
    {.name = "no credits / spend cap",
     .status_lo = 402, .status_hi = 402,
     .verdict = Verdict::QuotaExhausted,
     .meaning = "Together says the credit limit is reached: add credit or upgrade; retrying will not "
                "help"},
    {.name = "model tier",
     .status_lo = 400, .status_hi = 499,
     .message = "allowed for build tier",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the model needs a higher build tier than the key's account has"},
    {.name = "rate limit",
     .status_lo = 429, .status_hi = 429,
     .verdict = Verdict::RateLimited,
     .meaning = "Together says too many requests: retry after the time it gives"},
    {.name = "overloaded",
     .status_lo = 500, .status_hi = 599,
     .verdict = Verdict::ProviderError,
     .meaning = "Together itself is failing or overloaded: nothing to fix on this side"},
};

// GET /v1/models: a bare array of models, [{"id","object":"model",...}]; the
// OpenAI-shaped {"data":[...]} is accepted too.
bool success(const Json& j) {
  if (successModelList(j)) return true;
  if (!j.is_array()) return false;
  return j.empty() || (j.front().is_object() && jget(j.front(), "id"));
}

bool extractText(std::string_view body, HttpLayer& http) { return extractTextOpenAiStyle(body, http); }

// tgp_v1_ + 43 base64url. A legacy 64-hex format is unconfirmed: not claimed.
constexpr KeyShape kKeys[] = {
    {.prefix = "tgp_v1_", .min_len = 50, .max_len = 50, .chars = KeyShape::Chars::Token},
};

}  // namespace

constinit const ProviderDef providers::together_provider{
    .id = "together",
    .display = "Together",
    .base_url = "https://api.together.xyz/v1",
    .key_env = "TOGETHER_API_KEY",
    // That /models needs a key is unconfirmed: without one it proves the path
    // either way; with one, a 200 proves the key only if it does.
    .probe_path = "/models",
    .key_shapes = kKeys,
    .canary = "tgp_v1_pwcanary###################################",
    .envelope = envelopeOpenAiStyle,
    .success = success,
    .extract = extractOpenAiStyle,
    .extract_text = extractText,
    .rules = kRules,
};

}  // namespace pathwatch
