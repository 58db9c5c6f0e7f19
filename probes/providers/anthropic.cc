// Anthropic's answers (docs/providers.md "Anthropic"): envelope
// {"type":"error","error":{"type","message"},"request_id"?} plus request-id.
// Its Cloudflare edge answers a regional refusal in a different shape.
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using namespace sig;

bool envelope(const Json& j) {
  const Json* type = jget(j, "type");
  const Json* err = jget(j, "error");
  return type && type->is_string() && *type == "error" && err && err->is_object() &&
         jget(*err, "type") && jget(*err, "type")->is_string();
}

// GET /v1/models: {"data":[...],"has_more":false,"first_id":...}
bool success(const Json& j) {
  const Json* data = jget(j, "data");
  return data && data->is_array() && jget(j, "has_more");
}

void extract(const Json& j, HttpLayer& http) {
  const Json* err = jget(j, "error");
  if (!err || !err->is_object()) return;
  http.error_type = jtext(jget(*err, "type"));
  http.message = jtext(jget(*err, "message"));
  if (const Json* details = jget(*err, "details"); details && details->is_object())
    http.error_code = jtext(jget(*details, "error_code"));
}

// Not an Anthropic API answer: Cloudflare serves it, without request-id and
// without the top-level "type":"error". It clears on another egress.
constexpr BlockRule kEdge[] = {
    {.name = "anthropic_edge_forbidden",
     .product = "Cloudflare",
     .author = Author::Edge,
     .verdict = Verdict::RegionBlocked,
     .status_lo = 403, .status_hi = 403,
     .json_error_type = "forbidden",
     .marker = Need::No,
     .envelope = Need::No,
     .meaning = "Anthropic's edge refuses this egress (a regional block that clears on another "
                "egress), not the key"},
    {.name = "anthropic_edge_forbidden",
     .product = "Cloudflare",
     .author = Author::Edge,
     .verdict = Verdict::RegionBlocked,
     .status_lo = 403, .status_hi = 403,
     .body_has = "request not allowed",
     .marker = Need::No,
     .envelope = Need::No,
     .meaning = "Anthropic's edge refuses this egress (a regional block that clears on another "
                "egress), not the key"},
};

constexpr AnswerRule kRules[] = {
    {.name = "no key",
     .status_lo = 401, .status_hi = 401,
     .message = "x-api-key header is required",
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "Anthropic's own \"no key\" answer: the path reaches Anthropic"},
    {.name = "no key although one was sent",
     .status_lo = 401, .status_hi = 401,
     .message = "x-api-key header is required",
     .key_sent = Need::Yes,
     .verdict = Verdict::HeadersRewritten,
     .meaning = "a key was sent but Anthropic saw none: the path strips the x-api-key header"},
    {.name = "no version header",
     .status_lo = 400, .status_hi = 400,
     .message = "anthropic-version: header is required|anthropic-version header is required",
     .verdict = Verdict::HeadersRewritten,
     .meaning = "the probe sends anthropic-version but Anthropic saw none: the path strips headers"},
    {.name = "invalid key",
     .status_lo = 401, .status_hi = 401,
     .types = "authentication_error",
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "Anthropic rejected the key"},
    {.name = "key seen although none was sent",
     .status_lo = 401, .status_hi = 401,
     .types = "authentication_error",
     .key_sent = Need::No,
     // A custom endpoint of this kind (a gateway, vLLM, a compatible provider) may
     // answer a request without a key with its invalid-key answer: only the
     // provider itself is known to answer "no key" differently.
     .builtin = Need::Yes,
     .verdict = Verdict::HeadersRewritten,
     .meaning = "no key was sent but Anthropic saw one: the path adds an x-api-key header"},
    {.name = "permission",
     .status_lo = 403, .status_hi = 403,
     .types = "permission_error",
     .verdict = Verdict::PermissionDenied,
     .meaning = "Anthropic refuses this key's permissions for the call"},
    {.name = "org disabled",
     .status_lo = 400, .status_hi = 403,
     .message = "organization has been disabled",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the organization behind the key is disabled"},
    {.name = "credits too low",
     .status_lo = 400, .status_hi = 400,
     .message = "credit balance is too low",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "Anthropic says the credit balance is too low: add credits; retrying will not help"},
    {.name = "own spend limit",
     .status_lo = 400, .status_hi = 400,
     .message = "reached your specified api usage limits",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "the account reached the usage limit it set itself: raise it; retrying will not help"},
    {.name = "billing",
     .status_lo = 402, .status_hi = 402,
     .verdict = Verdict::QuotaExhausted,
     .meaning = "Anthropic reports a billing problem: fix billing; retrying will not help"},
    {.name = "spend cap",
     .status_lo = 429, .status_hi = 429,
     .codes = "enforced_spend_limit_reached",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "the spend cap is reached: raise it; retrying will not help"},
    {.name = "spend cap (message, no retry-after)",
     .status_lo = 429, .status_hi = 429,
     .message = "spend limit|usage limit",
     .retry_hint = Need::No,
     .verdict = Verdict::QuotaExhausted,
     .meaning = "the spend cap is reached: raise it; retrying will not help"},
    {.name = "rate limit",
     .status_lo = 429, .status_hi = 429,
     .types = "rate_limit_error",
     .verdict = Verdict::RateLimited,
     .meaning = "Anthropic says too many requests: retry after the time it gives"},
    {.name = "unknown model",
     .status_lo = 404, .status_hi = 404,
     .types = "not_found_error",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the model or resource is not available to this key"},
    {.name = "overloaded (everyone)",
     .status_lo = 500, .status_hi = 599,
     .verdict = Verdict::ProviderError,
     .meaning = "Anthropic itself is failing or overloaded: nothing to fix on this side"},
};

// The outer "type" is "error"; the inner one is what matters.
bool extractText(std::string_view body, HttpLayer& http) {
  const auto err = body.find("\"error\"");
  if (err == std::string_view::npos) return false;
  const std::string_view inner = body.substr(err + 7);
  http.message = scanJsonString(body, "message");
  http.error_type = scanJsonString(inner, "type");
  http.error_code = scanJsonString(inner, "error_code");
  return body.find("\"message\"") != std::string_view::npos;
}

constexpr HeaderPair kHeaders[] = {{"anthropic-version", "2023-06-01"}};
constexpr KeyShape kKeys[] = {{.prefix = "sk-ant-"}};

}  // namespace

constinit const ProviderDef providers::anthropic_provider{
    .id = "anthropic",
    .display = "Anthropic",
    .base_url = "https://api.anthropic.com/v1",
    .key_env = "ANTHROPIC_API_KEY",
    .default_enabled = true,
    .cloudflare_fronted = true,
    .probe_path = "/models",
    .auth_header = "x-api-key",
    .auth_prefix = "",
    .headers = kHeaders,
    .key_shapes = kKeys,
    .canary = "sk-ant-api03-pw-canary-########################################",
    .marker_headers = "request-id|x-should-retry|anthropic-organization-id|anthropic-ratelimit-*",
    .marker_required = true,
    .envelope = envelope,
    .success = success,
    .extract = extract,
    .extract_text = extractText,
    .edge = kEdge,
    .rules = kRules,
};

}  // namespace pathwatch
