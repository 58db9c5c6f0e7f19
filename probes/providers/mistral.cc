// Mistral's answers (docs/providers.md "Mistral"): the documented flat shape
// {"object":"error","message","type","param","code"}, and what its gateway
// answers before the API does: {"detail":"Unauthorized"} (2025-26) or the
// older {"message":"Unauthorized","request_id"} and {"message":"Requests rate
// limit exceeded"}. No marker header is known on errors, so the shape decides.
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using namespace sig;

bool isString(const Json* j) { return j && j->is_string(); }

bool envelope(const Json& j) {
  if (!j.is_object()) return false;
  const Json* object = jget(j, "object");
  if (isString(object) && *object == "error") return isString(jget(j, "message"));
  // The gateway's shapes: one string field, or a message with its request id.
  if (isString(jget(j, "detail"))) return j.size() == 1;
  if (isString(jget(j, "message")))
    return j.size() == 1 || (j.size() == 2 && isString(jget(j, "request_id")));
  return false;
}

void extract(const Json& j, HttpLayer& http) {
  if (!j.is_object()) return;
  http.error_type = jtext(jget(j, "type"));
  http.error_code = jtext(jget(j, "code"));
  http.message = jtext(jget(j, "message"));
  if (http.message.empty()) http.message = jtext(jget(j, "detail"));
}

constexpr AnswerRule kRules[] = {
    {.name = "no key",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "Mistral's own \"Unauthorized\" to a request without a key: the path reaches Mistral"},
    {.name = "invalid key",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "Mistral rejected the key (it answers a wrong and a missing key alike)"},
    {.name = "billing",
     .status_lo = 402, .status_hi = 402,
     .verdict = Verdict::QuotaExhausted,
     .meaning = "Mistral reports billing: credits at zero, the spending limit hit or an invoice "
                "unpaid; retrying will not help"},
    // Capacity of the service tier, not the caller's quota.
    {.name = "capacity",
     .status_lo = 429, .status_hi = 599,
     .message = "capacity exceeded",
     .verdict = Verdict::ProviderError,
     .meaning = "Mistral has no capacity for this model in the service tier right now: not the key, "
                "not the account's limits"},
    {.name = "rate limit",
     .status_lo = 429, .status_hi = 429,
     .verdict = Verdict::RateLimited,
     .meaning = "Mistral says too many requests: retry after the time it gives"},
    {.name = "model / tier access",
     .status_lo = 403, .status_hi = 403,
     .verdict = Verdict::PermissionDenied,
     .meaning = "Mistral refuses this key the model or the tier"},
    {.name = "5xx",
     .status_lo = 500, .status_hi = 599,
     .verdict = Verdict::ProviderError,
     .meaning = "Mistral itself is failing: nothing to fix on this side"},
};

bool extractText(std::string_view body, HttpLayer& http) {
  http.message = scanJsonString(body, "message");
  if (http.message.empty()) http.message = scanJsonString(body, "detail");
  http.error_type = scanJsonString(body, "type");
  http.error_code = scanJsonString(body, "code");
  return !http.message.empty();
}

}  // namespace

// Keys: 32 letters and digits, no prefix, by scanners' heuristics only
// (unconfirmed). Nothing distinguishes that from any other token, so no
// shape is claimed: a Mistral key is never "another provider's shape".
constinit const ProviderDef providers::mistral_provider{
    .id = "mistral",
    .display = "Mistral",
    .base_url = "https://api.mistral.ai/v1",
    .key_env = "MISTRAL_API_KEY",
    .probe_path = "/models",
    .canary = "pwcanary########################",
    .marker_headers = "x-ratelimit-*",
    .envelope = envelope,
    .success = successModelList,
    .extract = extract,
    .extract_text = extractText,
    .rules = kRules,
};

}  // namespace pathwatch
