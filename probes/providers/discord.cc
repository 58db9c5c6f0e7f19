// Discord's answers (docs/providers.md "Discord"): {"message","code"} with
// x-ratelimit-* on most answers; its Cloudflare edge bans an IP after too many
// invalid requests ("error code: 1015" HTML or a static JSON "You are being
// blocked", both without rate-limit headers).
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using namespace sig;

// {"message","code"}; the 429 has {"message","retry_after","global"} instead.
bool envelope(const Json& j) {
  const Json* msg = jget(j, "message");
  const Json* code = jget(j, "code");
  const Json* retry = jget(j, "retry_after");
  return msg && msg->is_string() && ((code && code->is_number_integer()) || (retry && retry->is_number()));
}

// GET /gateway: {"url":"wss://gateway.discord.gg"}; GET /users/@me: {"id","username",...}
bool success(const Json& j) {
  const Json* url = jget(j, "url");
  if (url && url->is_string() && url->get_ref<const std::string&>().rfind("wss://", 0) == 0) return true;
  const Json* id = jget(j, "id");
  return id && id->is_string() && jget(j, "username");
}

void extract(const Json& j, HttpLayer& http) {
  if (!j.is_object()) return;
  http.message = jtext(jget(j, "message"));
  http.error_code = jtext(jget(j, "code"));
  if (const Json* ra = jget(j, "retry_after"); ra && ra->is_number()) {
    const double s = ra->get<double>();
    if (s >= 0 && s < 1e7) http.retry_after_s = s;
  }
  if (const Json* global = jget(j, "global"); global && global->is_boolean())
    http.rate["global"] = global->get<bool>() ? "true" : "false";
}

// Decision: a Cloudflare ban at Discord's edge is middlebox_blocked, not
// rate_limited. rate_limited means "the provider itself says too many
// requests, retry after the time it gives"; the ban comes from the edge, gives
// no time, and lifts for another egress, so the operator's move is the path
// (another route, or stop the invalid requests that caused it).
constexpr BlockRule kEdge[] = {
    {.name = "discord_cloudflare_ban",
     .product = "Cloudflare",
     .author = Author::Edge,
     .verdict = Verdict::MiddleboxBlocked,
     .body_has = "you are being blocked",
     .rate_headers = Need::No,
     .meaning = "Discord's edge bans this egress IP (too many invalid requests); it lifts after a "
                "while or on another egress"},
    {.name = "discord_cloudflare_ban",
     .product = "Cloudflare",
     .author = Author::Edge,
     .verdict = Verdict::MiddleboxBlocked,
     .status_lo = 429, .status_hi = 429,
     .body_has = "error code: 1015",
     .rate_headers = Need::No,
     .meaning = "Discord's edge bans this egress IP (too many invalid requests); it lifts after a "
                "while or on another egress"},
};

constexpr AnswerRule kRules[] = {
    {.name = "no token",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::No,
     .verdict = Verdict::Ok,
     .meaning = "Discord's own \"unauthorized\" answer to a call without a token: the path reaches Discord"},
    {.name = "invalid token",
     .status_lo = 401, .status_hi = 401,
     .key_sent = Need::Yes,
     .verdict = Verdict::AuthFailed,
     .meaning = "Discord rejected the bot token"},
    {.name = "missing access / permissions",
     .status_lo = 403, .status_hi = 403,
     .codes = "50001|50013",
     .verdict = Verdict::PermissionDenied,
     .meaning = "Discord refuses the bot access or permissions for this call"},
    {.name = "forbidden, other",
     .status_lo = 403, .status_hi = 403,
     .verdict = Verdict::PermissionDenied,
     .meaning = "Discord refuses this call for the bot"},
    {.name = "rate limit",
     .status_lo = 429, .status_hi = 429,
     .rate_headers = Need::Yes,
     .verdict = Verdict::RateLimited,
     .meaning = "Discord says too many requests: retry after the time it gives"},
    {.name = "rate limit (body)",
     .status_lo = 429, .status_hi = 429,
     .message = "you are being rate limited",
     .verdict = Verdict::RateLimited,
     .meaning = "Discord says too many requests: retry after the time it gives"},
    {.name = "server error",
     .status_lo = 500, .status_hi = 599,
     .verdict = Verdict::ProviderError,
     .meaning = "Discord itself is failing: nothing to fix on this side"},
};

bool extractText(std::string_view body, HttpLayer& http) {
  http.message = scanJsonString(body, "message");
  return body.find("\"message\"") != std::string_view::npos &&
         body.find("\"code\"") != std::string_view::npos;
}

bool tokenChars(std::string_view s) {
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return !s.empty();
}

// A bot token: base64url(user id) . timestamp . hmac
bool botToken(std::string_view k) {
  const auto d1 = k.find('.');
  if (d1 == std::string_view::npos) return false;
  const auto d2 = k.find('.', d1 + 1);
  if (d2 == std::string_view::npos || k.find('.', d2 + 1) != std::string_view::npos) return false;
  const auto a = k.substr(0, d1), b = k.substr(d1 + 1, d2 - d1 - 1), c = k.substr(d2 + 1);
  return a.size() >= 18 && b.size() >= 4 && b.size() <= 10 && c.size() >= 20 && tokenChars(a) &&
         tokenChars(b) && tokenChars(c);
}

constexpr KeyShape kKeys[] = {{.match = botToken}};

}  // namespace

constinit const ProviderDef providers::discord_provider{
    .id = "discord",
    .display = "Discord",
    .base_url = "https://discord.com/api/v10",
    .key_env = "DISCORD_BOT_TOKEN",
    .default_enabled = true,
    .cloudflare_fronted = true,
    // The unauthenticated gateway proves the path; with a token, ask who we are.
    .probe_path = "/gateway",
    .probe_path_with_key = "/users/@me",
    .auth_prefix = "Bot ",
    // Discord's edge may refuse a bot call without its User-Agent shape.
    .user_agent = "DiscordBot (https://pathwatch.invalid, 0.1)",
    .key_shapes = kKeys,
    .canary = "pw-canary-##############.pwcnry.###########################",
    .marker_headers = "x-ratelimit-*",
    .envelope = envelope,
    .success = success,
    .extract = extract,
    .extract_text = extractText,
    .edge = kEdge,
    .rules = kRules,
};

}  // namespace pathwatch
