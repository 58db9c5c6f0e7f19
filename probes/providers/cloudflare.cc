// Cloudflare answering instead of the origin (docs/providers.md "Answers that did
// not come from the provider"). OpenAI, Anthropic and Discord all sit behind
// Cloudflare, so server: cloudflare / cf-ray alone prove nothing; these rows
// need Cloudflare's own page and the absence of the provider's marker header.
#include "providers/signature.h"

namespace pathwatch::sig {
namespace {

constexpr BlockRule kRules[] = {
    // 1009: the site owner banned the country or region of the client IP.
    {.name = "cloudflare_1009",
     .product = "Cloudflare 1009",
     .author = Author::Edge,
     .verdict = Verdict::RegionBlocked,
     .body_has = "error code: 1009|error 1009|cf-error-code\">1009<|country or region banned|"
                 "banned the country or region",
     .meaning = "the provider's edge bans this egress's country or region"},
    // Decision: 1020 is middlebox_blocked, not region_blocked. A 1020 is a
    // firewall (WAF) rule of the site owner: it may match an IP, an ASN, a user
    // agent or a country, and the page never says which. SPEC's
    // middlebox_blocked names "WAF" explicitly, while region_blocked needs
    // evidence of a country refusal; the route comparison still names a route
    // that works.
    {.name = "cloudflare_1020",
     .product = "Cloudflare 1020",
     .author = Author::Edge,
     .verdict = Verdict::MiddleboxBlocked,
     .body_has = "error code: 1020|error 1020|cf-error-code\">1020<",
     .meaning = "the provider's edge firewall (WAF) refuses this egress (an IP, network or "
                "country rule; the page does not say which)"},
    // 1015: Cloudflare's own rate limiting of the client IP, not the API's.
    {.name = "cloudflare_1015",
     .product = "Cloudflare 1015",
     .author = Author::Edge,
     .verdict = Verdict::MiddleboxBlocked,
     .body_has = "error code: 1015|error 1015|cf-error-code\">1015<",
     .meaning = "the provider's edge rate-limits or bans this egress IP (not the API's own rate "
                "limit); it lifts after a while or on another egress"},
    {.name = "cloudflare_challenge",
     .product = "Cloudflare challenge",
     .author = Author::Edge,
     .verdict = Verdict::MiddleboxBlocked,
     .header = "cf-mitigated",
     .header_has = "challenge",
     .meaning = "the provider's edge demands a browser challenge from this egress (bot "
                "suspicion): an API client cannot pass it"},
    {.name = "cloudflare_challenge",
     .product = "Cloudflare challenge",
     .author = Author::Edge,
     .verdict = Verdict::MiddleboxBlocked,
     .body_has = "<title>just a moment...</title>|/cdn-cgi/challenge-platform/|window._cf_chl_opt",
     .meaning = "the provider's edge demands a browser challenge from this egress (bot "
                "suspicion): an API client cannot pass it"},
    // 5xx pages (502, 520-527...): the edge could not reach the provider's origin.
    {.name = "cloudflare_5xx",
     .product = "Cloudflare",
     .author = Author::Edge,
     .verdict = Verdict::ProviderError,
     .status_lo = 500, .status_hi = 599,
     .header = "server",
     .header_has = "cloudflare",
     .envelope = Need::No,
     .meaning = "the provider's edge could not reach the provider's servers"},
    {.name = "cloudflare_block",
     .product = "Cloudflare",
     .author = Author::Edge,
     .verdict = Verdict::MiddleboxBlocked,
     .body_has = "attention required! | cloudflare|sorry, you have been blocked|"
                 "/cdn-cgi/styles/cf.errors.css|id=\"cf-error-details\"",
     .meaning = "the provider's edge security blocks this egress"},
};

}  // namespace

std::span<const BlockRule> cloudflareRules() { return kRules; }

}  // namespace pathwatch::sig
