// OpenAI's answers (docs/providers.md "OpenAI"): envelope
// {"error":{"message","type","param","code"}} plus x-request-id: req_...
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using namespace sig;

bool envelope(const Json& j) {
  const Json* err = jget(j, "error");
  if (err && err->is_object()) {
    const Json* msg = jget(*err, "message");
    return msg && msg->is_string();
  }
  // OpenAI-compatible servers (vLLM, llama.cpp): {"object":"error","message",...}
  const Json* object = jget(j, "object");
  const Json* msg = jget(j, "message");
  return object && object->is_string() && *object == "error" && msg && msg->is_string();
}

// GET /v1/models: {"object":"list","data":[...]}
bool success(const Json& j) {
  const Json* data = jget(j, "data");
  const Json* object = jget(j, "object");
  return data && data->is_array() && object && object->is_string() && *object == "list";
}

void extract(const Json& j, HttpLayer& http) {
  const Json* err = jget(j, "error");
  if (err && err->is_object()) {
    http.error_type = jtext(jget(*err, "type"));
    http.error_code = jtext(jget(*err, "code"));
    http.message = jtext(jget(*err, "message"));
    return;
  }
  // OpenAI-compatible servers (vLLM, llama.cpp) use a flat shape.
  const Json* object = jget(j, "object");
  if (object && object->is_string() && *object == "error") {
    http.error_type = jtext(jget(j, "type"));
    http.error_code = jtext(jget(j, "code"));
    http.message = jtext(jget(j, "message"));
  }
}

constexpr AnswerRule kRules[] = {
    {.name = "no key",
     .status_lo = 401, .status_hi = 401,
     .message = "didn't provide an api key|you must provide an api key|missing bearer",
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "OpenAI's own \"no key\" answer: the path reaches OpenAI"},
    {.name = "no key although one was sent",
     .status_lo = 401, .status_hi = 401,
     .message = "didn't provide an api key|you must provide an api key|missing bearer",
     .key_sent = Need::Yes,
     .verdict = Verdict::HeadersRewritten,
     .meaning = "a key was sent but OpenAI saw none: the path strips the Authorization header"},
    {.name = "invalid key",
     .status_lo = 401, .status_hi = 401,
     .codes = "invalid_api_key",
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "OpenAI rejected the key"},
    {.name = "key seen although none was sent",
     .status_lo = 401, .status_hi = 401,
     .codes = "invalid_api_key",
     .key_sent = Need::No,
     // A custom endpoint of this kind (a gateway, vLLM, a compatible provider) may
     // answer a request without a key with its invalid-key answer: only the
     // provider itself is known to answer "no key" differently.
     .builtin = Need::Yes,
     .verdict = Verdict::HeadersRewritten,
     .meaning = "no key was sent but OpenAI saw one: the path adds an Authorization header"},
    {.name = "restricted key lacks scope",
     .status_lo = 401, .status_hi = 403,
     .message = "insufficient permissions|missing scopes",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the key lacks the scope for this call (restricted key)"},
    {.name = "not in an org / org header mismatch",
     .status_lo = 401, .status_hi = 401,
     .codes = "no_organization|mismatched_organization",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the key's account has no matching organization"},
    {.name = "region",
     .status_lo = 403, .status_hi = 403,
     .codes = "unsupported_country_region_territory",
     .verdict = Verdict::RegionBlocked,
     .meaning = "OpenAI refuses this egress's country, region or territory"},
    {.name = "region (message only)",
     .status_lo = 403, .status_hi = 403,
     .message = "country, region, or territory not supported",
     .verdict = Verdict::RegionBlocked,
     .meaning = "OpenAI refuses this egress's country, region or territory"},
    {.name = "model not accessible",
     .status_lo = 404, .status_hi = 404,
     .codes = "model_not_found",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the model is not available to this key's project"},
    {.name = "quota / billing",
     .status_lo = 429, .status_hi = 429,
     .codes = "insufficient_quota|credit_balance_exhausted|organization_spend_limit_exceeded|"
              "project_spend_limit_exceeded|organization_usage_limit_exceeded|billing_hard_limit_reached",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "OpenAI says the quota, credits or spend limit are used up: retrying will not help"},
    {.name = "quota (type or message only)",
     .status_lo = 429, .status_hi = 429,
     .types = "insufficient_quota",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "OpenAI says the quota, credits or spend limit are used up: retrying will not help"},
    {.name = "quota (message only)",
     .status_lo = 429, .status_hi = 429,
     .message = "exceeded your current quota|spend limit|billing details",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "OpenAI says the quota, credits or spend limit are used up: retrying will not help"},
    {.name = "rate limit",
     .status_lo = 429, .status_hi = 429,
     .codes = "rate_limit_exceeded",
     .verdict = Verdict::RateLimited,
     .meaning = "OpenAI says too many requests: retry after the time it gives"},
    {.name = "overloaded",
     .status_lo = 500, .status_hi = 599,
     .verdict = Verdict::ProviderError,
     .meaning = "OpenAI itself is failing or overloaded: nothing to fix on this side"},
};

bool extractText(std::string_view body, HttpLayer& http) { return extractTextOpenAiStyle(body, http); }

constexpr KeyShape kKeys[] = {
    {.prefix = "sk-proj-"},
    {.prefix = "sk-svcacct-"},
    {.prefix = "sk-admin-"},
    {.prefix = "sk-None-"},
    {.prefix = "sk-", .contains = "T3BlbkFJ"},
    {.prefix = "sk-", .min_len = 51, .max_len = 51, .chars = KeyShape::Chars::Token},  // legacy
};

}  // namespace

constinit const ProviderDef providers::openai_provider{
    .id = "openai",
    .display = "OpenAI",
    .base_url = "https://api.openai.com/v1",
    .key_env = "OPENAI_API_KEY",
    .default_enabled = true,
    .cloudflare_fronted = true,
    .probe_path = "/models",
    .key_shapes = kKeys,
    .canary = "sk-proj-pw-canary-################################",
    .marker_headers = "x-request-id|openai-processing-ms|openai-organization|openai-version",
    .marker_required = true,
    .envelope = envelope,
    .success = success,
    .extract = extract,
    .extract_text = extractText,
    .rules = kRules,
};

}  // namespace pathwatch
