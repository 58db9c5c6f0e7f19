// Azure OpenAI's answers (docs/providers.md "Azure OpenAI"). Every customer
// has their own endpoint (https://NAME.openai.azure.com), so this is only a
// kind for custom entries with a base_url. The key goes in `api-key`; the
// answers are {"error":{"code","message"}}, or APIM's
// {"statusCode","message"} for a missing key. One 429 serves throttling and
// quota alike: the wait tells them apart (a day means the quota is spent).
#include <cctype>
#include <charconv>
#include <optional>

#include "pathwatch/text.h"
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using namespace sig;

bool envelope(const Json& j) {
  if (envelopeOpenAiStyle(j)) return true;
  const Json* status = jget(j, "statusCode");
  const Json* msg = jget(j, "message");
  return status && status->is_number_integer() && msg && msg->is_string();
}

// "… Please retry after 86400 seconds." / "Try again in 60 seconds."
std::optional<double> retryInMessage(std::string_view message) {
  const std::string lower = toLower(message);
  for (std::string_view lead : {"retry after ", "try again in "}) {
    const auto at = lower.find(lead);
    if (at == std::string::npos) continue;
    std::string_view rest = std::string_view(lower).substr(at + lead.size());
    unsigned long long n = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (ec != std::errc{} || n > 10'000'000) continue;
    rest.remove_prefix(static_cast<std::size_t>(end - rest.data()));
    if (startsWith(rest, " second")) return static_cast<double>(n);
  }
  return std::nullopt;
}

void extract(const Json& j, HttpLayer& http) {
  if (envelopeOpenAiStyle(j)) {
    extractOpenAiStyle(j, http);
  } else if (j.is_object()) {
    http.error_code = jtext(jget(j, "statusCode"));
    http.message = jtext(jget(j, "message"));
  }
  // The headers' retry-after(-ms) comes first; the message says it otherwise.
  if (!http.retry_after_s)
    if (auto s = retryInMessage(http.message)) http.retry_after_s = *s;
}

// GET /openai/models: {"data":[...],"object":"list"}
bool success(const Json& j) { return successModelList(j); }

constexpr AnswerRule kRules[] = {
    {.name = "no key",
     .status_lo = 401, .status_hi = 401,
     .message = "missing subscription key",
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "Azure's own \"missing subscription key\" answer: the path reaches the resource"},
    {.name = "no key although one was sent",
     .status_lo = 401, .status_hi = 401,
     .message = "missing subscription key",
     .key_sent = Need::Yes,
     .verdict = Verdict::HeadersRewritten,
     .meaning = "a key was sent in api-key but Azure saw none: the path strips the api-key header"},
    {.name = "RBAC / permission",
     .status_lo = 401, .status_hi = 403,
     .codes = "PermissionDenied",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the caller's identity has no role for this operation on the resource"},
    {.name = "RBAC / permission (message)",
     .status_lo = 401, .status_hi = 403,
     .message = "principal does not have access",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the caller's identity has no role for this operation on the resource"},
    {.name = "invalid key / wrong endpoint",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "Azure rejected the key for this resource (a wrong key, or base_url is not the key's "
                "resource)"},
    // The direct endpoint's answer to a request without a key is unconfirmed:
    // any 401 proves the path.
    {.name = "no key (other answer)",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "Azure's own refusal of a request without a key: the path reaches the resource"},
    {.name = "network ACL",
     .status_lo = 403, .status_hi = 403,
     .message = "virtual network/firewall rules|virtual network is configured",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the resource's network ACL (Virtual Network/Firewall rules) refuses this egress "
                "address: allow it in the resource's Networking settings, or call from an allowed "
                "network"},
    {.name = "unknown deployment",
     .status_lo = 404, .status_hi = 404,
     .codes = "DeploymentNotFound",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the deployment does not exist in this resource"},
    {.name = "quota / trial",
     .status_lo = 429, .status_hi = 429,
     .retry_at_least_s = 86400,
     .verdict = Verdict::QuotaExhausted,
     .meaning = "Azure says wait a day or more: the quota is spent (a trial's daily quota); raise "
                "it or upgrade, retrying soon will not help"},
    {.name = "quota / trial (message)",
     .status_lo = 429, .status_hi = 429,
     .message = "upgrade to pay as you go",
     .verdict = Verdict::QuotaExhausted,
     .meaning = "Azure says the free account's quota is spent: upgrade to pay as you go; retrying "
                "soon will not help"},
    {.name = "rate limit",
     .status_lo = 429, .status_hi = 429,
     .verdict = Verdict::RateLimited,
     .meaning = "Azure says the deployment's rate limit is exceeded: retry after the time it gives"},
    {.name = "5xx",
     .status_lo = 500, .status_hi = 599,
     .verdict = Verdict::ProviderError,
     .meaning = "Azure OpenAI itself is failing: nothing to fix on this side"},
};

bool extractText(std::string_view body, HttpLayer& http) {
  const bool found = extractTextOpenAiStyle(body, http);
  if (!http.retry_after_s)
    if (auto s = retryInMessage(http.message)) http.retry_after_s = *s;
  return found;
}

// The 84-character keys of Azure AI services carry Microsoft's "JQQJ"
// signature at a fixed place. The legacy 32-hex keys are not claimed: any
// 32-hex token (an account id, a hash) would look like one.
bool annotatedKey(std::string_view k) {
  if (k.size() != 84 || k.substr(52, 4) != "JQQJ") return false;
  for (char c : k)
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  return true;
}

constexpr KeyShape kKeys[] = {{.match = annotatedKey}};

}  // namespace

constinit const ProviderDef providers::azure_provider{
    .id = "azure",
    .display = "Azure OpenAI",
    .base_url = "",  // every customer has their own: a kind for custom entries only
    .key_env = "AZURE_OPENAI_API_KEY",
    .probe_path = "/openai/models?api-version=2024-10-21",
    .auth_header = "api-key",
    .auth_prefix = "",
    .key_shapes = kKeys,
    .canary = "################################",
    .marker_headers = "apim-request-id|x-ms-region|x-ms-client-request-id|azureml-model-session",
    .envelope = envelope,
    .success = success,
    .extract = extract,
    .extract_text = extractText,
    .rules = kRules,
};

}  // namespace pathwatch
