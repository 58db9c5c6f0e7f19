// xAI's answers (docs/providers.md "xAI"): NOT OpenAI's envelope but
// {"code":"<gRPC status text>","error":"<message>"}, and a wrong key is a
// 400, not a 401. With a key the probe is GET /v1/api-key, which reports the
// key's and the team's state (api_key_blocked, api_key_disabled, team_blocked).
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using namespace sig;

bool envelope(const Json& j) {
  const Json* err = jget(j, "error");
  const Json* code = jget(j, "code");
  return err && err->is_string() && code && code->is_string();
}

// GET /v1/api-key: {"redacted_api_key","api_key_id","team_id","acls",...};
// GET /v1/models: {"object":"list","data":[...]}.
bool success(const Json& j) {
  return jget(j, "api_key_id") || jget(j, "redacted_api_key") || successModelList(j);
}

bool flag(const Json& j, std::string_view name) {
  const Json* v = jget(j, name);
  return v && v->is_boolean() && v->get<bool>();
}

void extract(const Json& j, HttpLayer& http) {
  if (envelope(j)) {
    http.message = jtext(jget(j, "error"));
    http.error_type = jtext(jget(j, "code"));
    return;
  }
  // The api-key call answers 200 for a blocked key too; its flags say so.
  for (const char* name : {"api_key_blocked", "api_key_disabled", "team_blocked"})
    if (flag(j, name)) {
      http.error_code = std::string(name) + "=true";
      return;
    }
}

constexpr AnswerRule kRules[] = {
    {.name = "key blocked or disabled (/api-key)",
     .status_lo = 200, .status_hi = 299,
     .codes = "api_key_blocked=true|api_key_disabled=true",
     .verdict = Verdict::AuthFailed,
     .meaning = "xAI reports the key blocked or disabled: enable it or use another key"},
    {.name = "team blocked (/api-key)",
     .status_lo = 200, .status_hi = 299,
     .codes = "team_blocked=true",
     .verdict = Verdict::PermissionDenied,
     .meaning = "xAI reports the key's team blocked"},
    {.name = "invalid key",
     .status_lo = 400, .status_hi = 400,
     .message = "incorrect api key|invalid api key",
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "xAI rejected the key (xAI answers a wrong key with 400)"},
    // xAI's answer to a request without a key is unconfirmed (the docs say
    // 401): a refusal of the key when none was sent proves the path only.
    {.name = "key refused, none sent",
     .status_lo = 400, .status_hi = 400,
     .message = "incorrect api key|invalid api key",
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "xAI refused a request without a key: the path reaches xAI"},
    {.name = "no key",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "xAI's own answer to a request without a key: the path reaches xAI"},
    {.name = "no credits / spend cap",
     .status_lo = 403, .status_hi = 403,
     .message = "any credits|available credits|spending limit",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "xAI says the team has no credits left or reached its spending limit: add credits or "
                "raise the limit; retrying will not help"},
    {.name = "credits used / spend cap",
     .status_lo = 429, .status_hi = 429,
     .message = "any credits|available credits|spending limit",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "xAI says the team has no credits left or reached its spending limit: add credits or "
                "raise the limit; retrying will not help"},
    // Seen on grok.com, not confirmed for the API: the words alone decide.
    {.name = "region",
     .status_lo = 400, .status_hi = 499,
     .message = "not available in your region",
     .verdict = Verdict::RegionBlocked,
     .meaning = "xAI refuses this egress's region"},
    {.name = "rate limit",
     .status_lo = 429, .status_hi = 429,
     .verdict = Verdict::RateLimited,
     .meaning = "xAI says too many requests or tokens for the team: retry later"},
    {.name = "key/team blocked, ACL",
     .status_lo = 403, .status_hi = 403,
     .verdict = Verdict::PermissionDenied,
     .meaning = "xAI refuses this key the call (the key or team blocked, or its ACL)"},
    {.name = "5xx",
     .status_lo = 500, .status_hi = 599,
     .verdict = Verdict::ProviderError,
     .meaning = "xAI itself is failing: nothing to fix on this side"},
};

bool extractText(std::string_view body, HttpLayer& http) {
  http.message = scanJsonString(body, "error");
  http.error_type = scanJsonString(body, "code");
  return !http.message.empty() && body.find("\"code\"") != std::string_view::npos;
}

constexpr KeyShape kKeys[] = {
    {.prefix = "xai-", .min_len = 84, .max_len = 84, .chars = KeyShape::Chars::Token},
};

}  // namespace

constinit const ProviderDef providers::xai_provider{
    .id = "xai",
    .display = "xAI",
    .base_url = "https://api.x.ai/v1",
    .key_env = "XAI_API_KEY",
    // Without a key, the listing every OpenAI-style client calls; with one,
    // the call that reports the key's state without spending tokens.
    .probe_path = "/models",
    .probe_path_with_key = "/api-key",
    .key_shapes = kKeys,
    .canary = "xai-pwcanary########################################################################",
    .envelope = envelope,
    .success = success,
    .extract = extract,
    .extract_text = extractText,
    .rules = kRules,
};

}  // namespace pathwatch
