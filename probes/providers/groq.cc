// Groq's answers (docs/providers.md "Groq"): OpenAI's envelope
// {"error":{"message","type","code"}} from behind Cloudflare, with
// x-request-id: req_… and x-groq-region on its answers. An IP or country
// block is Cloudflare's HTML page (cloudflare.cc), not Groq's JSON.
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using namespace sig;

constexpr AnswerRule kRules[] = {
    // Groq's answer to a request without a key is unconfirmed (it may well be
    // its invalid-key answer, as Together's is): any 401 of Groq's proves the path.
    {.name = "no key",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "Groq's own refusal of a request without a key: the path reaches Groq"},
    {.name = "invalid key",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "Groq rejected the key"},
    {.name = "org banned",
     .status_lo = 400, .status_hi = 403,
     .codes = "organization_restricted",
     .verdict = Verdict::PermissionDenied,
     .meaning = "Groq has restricted the key's organization: only Groq's support can lift it"},
    {.name = "org banned (message)",
     .status_lo = 400, .status_hi = 403,
     .message = "organization has been restricted",
     .verdict = Verdict::PermissionDenied,
     .meaning = "Groq has restricted the key's organization: only Groq's support can lift it"},
    {.name = "model access",
     .status_lo = 404, .status_hi = 404,
     .codes = "model_not_found",
     .verdict = Verdict::PermissionDenied,
     .meaning = "the model does not exist or is not available to this key"},
    // Per minute or per day (TPD), Groq names the limit and the time to wait;
    // its free tier hits the daily one instead of running out of credits.
    {.name = "rate / quota",
     .status_lo = 429, .status_hi = 429,
     .verdict = Verdict::RateLimited,
     .meaning = "Groq says too many requests or tokens for this organization: retry after the time it "
                "gives"},
    {.name = "flex capacity",
     .status_lo = 498, .status_hi = 498,
     .verdict = Verdict::ProviderError,
     .meaning = "Groq's flex tier has no capacity right now: nothing to fix on this side"},
    {.name = "5xx",
     .status_lo = 500, .status_hi = 599,
     .verdict = Verdict::ProviderError,
     .meaning = "Groq itself is failing: nothing to fix on this side"},
};

bool extractText(std::string_view body, HttpLayer& http) { return extractTextOpenAiStyle(body, http); }

constexpr KeyShape kKeys[] = {
    {.prefix = "gsk_", .min_len = 56, .max_len = 56, .chars = KeyShape::Chars::Token},
};

}  // namespace

constinit const ProviderDef providers::groq_provider{
    .id = "groq",
    .display = "Groq",
    .base_url = "https://api.groq.com/openai/v1",
    .key_env = "GROQ_API_KEY",
    .cloudflare_fronted = true,
    .probe_path = "/models",
    .key_shapes = kKeys,
    .canary = "gsk_pwcanary############################################",
    .marker_headers = "x-groq-region|x-request-id|x-ratelimit-*",
    .marker_required = true,
    .envelope = envelopeOpenAiStyle,
    .success = successModelList,
    .extract = extractOpenAiStyle,
    .extract_text = extractText,
    .rules = kRules,
};

}  // namespace pathwatch
