// Gemini's answers (docs/providers.md "Gemini"): the google.rpc error shape
// {"error":{"code","message","status","details":[{"@type":"...google.rpc.ErrorInfo",
// "reason","domain":"googleapis.com"}]}}. No marker header is known, so the
// envelope alone (canonical status + numeric code) identifies it.
#include <cctype>

#include "pathwatch/text.h"
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using namespace sig;

bool canonicalStatus(const Json* s) {
  if (!s || !s->is_string()) return false;
  const auto& v = s->get_ref<const std::string&>();
  if (v.empty() || v.size() > 40) return false;
  for (char c : v)
    if (!(std::isupper(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const Json* detailOfType(const Json& err, std::string_view type_suffix) {
  const Json* details = jget(err, "details");
  if (!details || !details->is_array()) return nullptr;
  for (const auto& d : *details) {
    const Json* t = jget(d, "@type");
    if (t && t->is_string() && endsWith(t->get_ref<const std::string&>(), type_suffix)) return &d;
  }
  return nullptr;
}

bool envelope(const Json& j) {
  const Json* err = jget(j, "error");
  if (!err || !err->is_object()) return false;
  if (const Json* info = detailOfType(*err, "google.rpc.ErrorInfo")) {
    const Json* domain = jget(*info, "domain");
    if (domain && domain->is_string() && endsWith(domain->get_ref<const std::string&>(), "googleapis.com"))
      return true;
  }
  const Json* code = jget(*err, "code");
  const Json* msg = jget(*err, "message");
  return code && code->is_number_integer() && msg && msg->is_string() &&
         canonicalStatus(jget(*err, "status"));
}

// GET /v1beta/models: {"models":[{"name":"models/...", ...}], "nextPageToken"?}
bool success(const Json& j) {
  const Json* models = jget(j, "models");
  return models && models->is_array();
}

void extract(const Json& j, HttpLayer& http) {
  const Json* err = jget(j, "error");
  if (!err || !err->is_object()) return;
  http.error_type = jtext(jget(*err, "status"));
  http.message = jtext(jget(*err, "message"));
  if (const Json* info = detailOfType(*err, "google.rpc.ErrorInfo")) {
    http.error_code = jtext(jget(*info, "reason"));
    if (const Json* meta = jget(*info, "metadata"); meta && meta->is_object()) {
      if (auto v = jtext(jget(*meta, "quota_limit")); !v.empty()) http.rate["quota_id"] = v;
      if (auto v = jtext(jget(*meta, "quota_limit_value")); !v.empty()) http.rate["quota_limit"] = v;
    }
  }
  if (const Json* retry = detailOfType(*err, "google.rpc.RetryInfo")) {
    if (auto s = parseProtoDuration(jtext(jget(*retry, "retryDelay")))) http.retry_after_s = *s;
  }
  if (const Json* qf = detailOfType(*err, "google.rpc.QuotaFailure")) {
    const Json* violations = jget(*qf, "violations");
    if (violations && violations->is_array()) {
      std::string ids;
      int n = 0;
      for (const auto& v : *violations) {
        if (++n > 8) break;
        std::string id = jtext(jget(v, "quotaId"));
        if (!id.empty()) ids += (ids.empty() ? "" : ",") + id;
        std::string value = jtext(jget(v, "quotaValue"));
        if (!value.empty()) http.rate["quota_limit"] = value;
        std::string metric = jtext(jget(v, "quotaMetric"));
        if (!metric.empty()) http.rate["quota_metric"] = cleanText(metric, 200);
      }
      if (!ids.empty()) http.rate["quota_id"] = cleanText(ids, 400);  // redacted before the cut
    }
  }
  // The message spells the limit too: "... limit: 0, model: ...".
  const auto pos = http.message.find("limit: ");
  if (pos != std::string::npos && !http.rate.count("quota_limit")) {
    std::string digits;
    for (std::size_t i = pos + 7; i < http.message.size() && std::isdigit(static_cast<unsigned char>(http.message[i])); ++i)
      digits += http.message[i];
    if (!digits.empty()) http.rate["quota_limit"] = digits.substr(0, 20);
  }
}

// Google's front end answers in HTML when it refuses before the API does.
constexpr BlockRule kEdge[] = {
    {.name = "google_front_end",
     .product = "Google front end",
     .author = Author::Edge,
     .status_lo = 400, .status_hi = 599,
     .body_has = "that\xE2\x80\x99s an error|that's an error|!!1</title>",
     .marker = Need::Any,
     .envelope = Need::No,
     .meaning = "Google's front end refused before the Gemini API saw the request"},
};

constexpr AnswerRule kRules[] = {
    {.name = "invalid key",
     .status_lo = 400, .status_hi = 400,
     .codes = "API_KEY_INVALID",
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "Gemini rejected the key (invalid or expired)"},
    {.name = "invalid key (message)",
     .status_lo = 400, .status_hi = 400,
     .message = "api key not valid|api key expired",
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "Gemini rejected the key (invalid or expired)"},
    {.name = "key seen although none was sent",
     .status_lo = 400, .status_hi = 400,
     .codes = "API_KEY_INVALID",
     .key_sent = Need::No,
     // A custom endpoint of this kind (a gateway, vLLM, a compatible provider) may
     // answer a request without a key with its invalid-key answer: only the
     // provider itself is known to answer "no key" differently.
     .builtin = Need::Yes,
     .verdict = Verdict::HeadersRewritten,
     .meaning = "no key was sent but Gemini saw one: the path adds a key"},
    {.name = "invalid-key answer without a key (custom endpoint)",
     .status_lo = 400, .status_hi = 400,
     .codes = "API_KEY_INVALID",
     .key_sent = Need::No,
     .builtin = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "the endpoint's own answer to a request without a key: the path reaches it"},
    // "Unregistered callers" means the request carried no key at all.
    {.name = "no key",
     .status_lo = 403, .status_hi = 403,
     .message = "unregistered callers",
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "Gemini's own \"no key\" answer: the path reaches Gemini"},
    {.name = "no key although one was sent",
     .status_lo = 403, .status_hi = 403,
     .message = "unregistered callers",
     .key_sent = Need::Yes,
     .verdict = Verdict::HeadersRewritten,
     .meaning = "a key was sent but Gemini saw none: the path strips the x-goog-api-key header"},
    {.name = "leaked key",
     .status_lo = 403, .status_hi = 403,
     .message = "reported as leaked",
     .verdict = Verdict::AuthFailed,
     .meaning = "Google disabled the key as leaked: replace it"},
    {.name = "key suspended",
     .status_lo = 403, .status_hi = 403,
     .codes = "CONSUMER_SUSPENDED",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the key's project (consumer) is suspended"},
    {.name = "key suspended (status)",
     .status_lo = 403, .status_hi = 403,
     .types = "CONSUMER_SUSPENDED",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the key's project (consumer) is suspended"},
    {.name = "key restricted to another API",
     .status_lo = 403, .status_hi = 403,
     .codes = "API_KEY_SERVICE_BLOCKED",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the key is restricted to other APIs"},
    {.name = "key restricted to other callers",
     .status_lo = 403, .status_hi = 403,
     .codes = "API_KEY_IP_ADDRESS_BLOCKED|API_KEY_HTTP_REFERRER_BLOCKED|API_KEY_ANDROID_APP_BLOCKED|"
              "API_KEY_IOS_APP_BLOCKED",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the key's restrictions exclude this caller (e.g. its IP allow-list)"},
    {.name = "API not enabled",
     .status_lo = 403, .status_hi = 403,
     .codes = "SERVICE_DISABLED",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the Generative Language API is not enabled in the key's project"},
    {.name = "API not enabled (message)",
     .status_lo = 403, .status_hi = 403,
     .message = "has not been used in project|it is disabled",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the Generative Language API is not enabled in the key's project"},
    {.name = "region",
     .status_lo = 400, .status_hi = 400,
     .message = "user location is not supported",
     .verdict = Verdict::RegionBlocked,
     .meaning = "Gemini refuses this egress's location"},
    {.name = "free tier not in country",
     .status_lo = 400, .status_hi = 400,
     .message = "free tier is not available in your country",
     .verdict = Verdict::RegionBlocked,
     .meaning = "Gemini's free tier is not offered in this egress's country (billing would lift it)"},
    {.name = "daily quota / no quota",
     .status_lo = 429, .status_hi = 429,
     .quota = "PerDay|limit:0",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "Gemini says the daily quota is spent (or the limit is 0): retrying soon will not help"},
    {.name = "rate (per minute)",
     .status_lo = 429, .status_hi = 429,
     .quota = "PerMinute|PerSecond",
     .verdict = Verdict::RateLimited,
     .meaning = "Gemini says too many requests per minute: retry after the time it gives"},
    {.name = "resource exhausted, no quota detail",
     .status_lo = 429, .status_hi = 429,
     .types = "RESOURCE_EXHAUSTED",
     .verdict = Verdict::RateLimited,
     .meaning = "Gemini says a quota is exhausted without naming it: treated as a rate limit"},
    {.name = "prepay depleted",
     .status_lo = 402, .status_hi = 402,
     .verdict = Verdict::QuotaExhausted,
     .meaning = "Gemini's prepaid credits are depleted: add credits; retrying will not help"},
    {.name = "permission denied, other",
     .status_lo = 403, .status_hi = 403,
     .types = "PERMISSION_DENIED",
     .verdict = Verdict::PermissionDenied,
     .meaning = "Gemini refuses this key's permissions for the call"},
    {.name = "server error",
     .status_lo = 500, .status_hi = 599,
     .verdict = Verdict::ProviderError,
     .meaning = "Gemini itself is failing or unavailable: nothing to fix on this side"},
};

bool extractText(std::string_view body, HttpLayer& http) {
  http.message = scanJsonString(body, "message");
  http.error_type = scanJsonString(body, "status");
  http.error_code = scanJsonString(body, "reason");
  return body.find("\"error\"") != std::string_view::npos &&
         body.find("\"message\"") != std::string_view::npos;
}

constexpr KeyShape kKeys[] = {
    {.prefix = "AIza", .min_len = 39, .max_len = 39, .chars = KeyShape::Chars::Token},
    {.prefix = "AQ."},
};

}  // namespace

constinit const ProviderDef providers::gemini_provider{
    .id = "gemini",
    .display = "Gemini",
    .base_url = "https://generativelanguage.googleapis.com/v1beta",
    .key_env = "GEMINI_API_KEY",
    .default_enabled = true,
    .probe_path = "/models",
    .auth_header = "x-goog-api-key",
    .auth_prefix = "",
    .key_shapes = kKeys,
    .canary = "AIza-pw-canary-########################",  // 39 characters, like AIza keys
    .envelope = envelope,
    .success = success,
    .extract = extract,
    .extract_text = extractText,
    .edge = kEdge,
    .rules = kRules,
};

}  // namespace pathwatch
