// OpenRouter's answers (docs/providers.md "OpenRouter"):
// {"error":{"code":<int>,"message","metadata":{...}}} from behind Cloudflare.
// Its model list is public, so the probe is GET /api/v1/key: without a key
// it answers the "no credentials" 401 (the path), with one it validates the
// key and reports its credit limit ({"data":{"limit","limit_remaining",...}}).
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using namespace sig;

// The numeric code sets it apart from OpenAI's string codes.
bool envelope(const Json& j) {
  const Json* err = jget(j, "error");
  if (!err || !err->is_object()) return false;
  const Json* msg = jget(*err, "message");
  const Json* code = jget(*err, "code");
  return msg && msg->is_string() && code && code->is_number_integer();
}

// GET /key: {"data":{"label","limit","usage","limit_remaining","is_free_tier",...}};
// a models listing when base_url points elsewhere.
bool success(const Json& j) {
  const Json* data = jget(j, "data");
  if (data && data->is_object()) return jget(*data, "usage") || jget(*data, "limit");
  return successModelList(j);
}

// The upstream's own error, relayed: "Provider returned error" with
// metadata.raw holding it (a string or an object).
bool rawSays(const Json& meta, std::string_view what) {
  const Json* raw = jget(meta, "raw");
  if (!raw) return false;
  const std::string text = raw->is_string() ? raw->get<std::string>() : raw->dump();
  return text.find(what) != std::string::npos;
}

void extract(const Json& j, HttpLayer& http) {
  if (const Json* err = jget(j, "error"); err && err->is_object()) {
    http.message = jtext(jget(*err, "message"));
    http.error_code = jtext(jget(*err, "code"));
    if (const Json* meta = jget(*err, "metadata"); meta && meta->is_object()) {
      // What kind of limit (limit_source, error_type) and which case (reason).
      http.error_type = jtext(jget(*meta, "error_type"));
      if (http.error_type.empty()) http.error_type = jtext(jget(*meta, "limit_source"));
      if (auto reason = jtext(jget(*meta, "reason")); !reason.empty()) http.error_code = reason;
      if (rawSays(*meta, "unsupported_country_region_territory"))
        http.error_code = "unsupported_country_region_territory";
    }
    return;
  }
  // GET /key: a credit limit with nothing left (limit null means no limit).
  const Json* data = jget(j, "data");
  if (!data || !data->is_object()) return;
  const Json* limit = jget(*data, "limit");
  const Json* remaining = jget(*data, "limit_remaining");
  if (limit && limit->is_number() && remaining && remaining->is_number() && remaining->get<double>() <= 0)
    http.error_code = "limit_remaining=0";
}

constexpr AnswerRule kRules[] = {
    {.name = "no key",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "OpenRouter's own answer to a request without a key: the path reaches OpenRouter"},
    {.name = "no key although one was sent",
     .status_lo = 401, .status_hi = 401,
     .message = "no auth credentials found|no cookie auth credentials found|missing authentication header",
     .key_sent = Need::Yes,
     .verdict = Verdict::HeadersRewritten,
     .meaning = "a key was sent but OpenRouter saw no credentials: the path strips the Authorization "
                "header"},
    {.name = "invalid/deleted key",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "OpenRouter rejected the key (unknown or deleted)"},
    {.name = "key credit limit spent (/key)",
     .status_lo = 200, .status_hi = 299,
     .codes = "limit_remaining=0",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "OpenRouter says the key's credit limit is used up: paid models answer 402 until it is "
                "raised"},
    // Credits held by requests still running: it clears when they finish.
    {.name = "in-flight budget",
     .status_lo = 402, .status_hi = 402,
     .codes = "in_flight_budget_exhausted",
     .retry_hint = Need::Yes,
     .verdict = Verdict::RateLimited,
     .meaning = "OpenRouter says requests in flight hold the remaining credits: retry after the time it "
                "gives (more credits raise the budget)"},
    {.name = "in-flight budget (limit source)",
     .status_lo = 402, .status_hi = 402,
     .types = "openrouter_in_flight_budget",
     .retry_hint = Need::Yes,
     .verdict = Verdict::RateLimited,
     .meaning = "OpenRouter says requests in flight hold the remaining credits: retry after the time it "
                "gives (more credits raise the budget)"},
    {.name = "no credits",
     .status_lo = 402, .status_hi = 402,
     .verdict = Verdict::QuotaExhausted,
     .meaning = "OpenRouter says the credits (or the key's credit limit) are used up: add credits; "
                "retrying will not help"},
    {.name = "region",
     .status_lo = 403, .status_hi = 403,
     .message = "not available in your region",
     .verdict = Verdict::RegionBlocked,
     .meaning = "OpenRouter refuses this egress's region for the model"},
    {.name = "upstream geoblock",
     .status_lo = 400, .status_hi = 499,
     .codes = "unsupported_country_region_territory",
     .verdict = Verdict::RegionBlocked,
     .meaning = "the model's provider behind OpenRouter refuses this region (OpenAI's "
                "unsupported_country_region_territory, relayed)"},
    {.name = "free-model daily limit",
     .status_lo = 429, .status_hi = 429,
     .message = "free-models-per-day",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "the day's free-model requests are used up: it resets daily, or credits raise it; "
                "retrying soon will not help"},
    {.name = "rate limit",
     .status_lo = 429, .status_hi = 429,
     .verdict = Verdict::RateLimited,
     .meaning = "OpenRouter says too many requests: retry after the time it gives"},
    {.name = "guardrail / moderation",
     .status_lo = 403, .status_hi = 403,
     .verdict = Verdict::PermissionDenied,
     .meaning = "OpenRouter refuses the request for this key (a guardrail or moderation)"},
    {.name = "5xx",
     .status_lo = 500, .status_hi = 599,
     .verdict = Verdict::ProviderError,
     .meaning = "OpenRouter or the model's provider behind it is failing: nothing to fix on this side"},
};

bool extractText(std::string_view body, HttpLayer& http) {
  http.message = scanJsonString(body, "message");
  http.error_type = scanJsonString(body, "error_type");
  if (http.error_type.empty()) http.error_type = scanJsonString(body, "limit_source");
  http.error_code = scanJsonString(body, "reason");
  return body.find("\"error\"") != std::string_view::npos &&
         body.find("\"message\"") != std::string_view::npos;
}

constexpr KeyShape kKeys[] = {
    {.prefix = "sk-or-v1-", .min_len = 73, .max_len = 73, .chars = KeyShape::Chars::Hex},
};

}  // namespace

constinit const ProviderDef providers::openrouter_provider{
    .id = "openrouter",
    .display = "OpenRouter",
    .base_url = "https://openrouter.ai/api/v1",
    .key_env = "OPENROUTER_API_KEY",
    .cloudflare_fronted = true,
    .probe_path = "/key",
    .key_shapes = kKeys,
    .canary = "sk-or-v1-################################################################",
    .envelope = envelope,
    .success = success,
    .extract = extract,
    .extract_text = extractText,
    .rules = kRules,
};

}  // namespace pathwatch
