// Boxes between pathwatch and the provider: forward proxies, secure web
// gateways, firewalls' block pages, captive portals (docs/providers.md "Answers
// that did not come from the provider"), and the names TLS-inspecting
// products put in their certificates.
#include "providers/signature.h"

namespace pathwatch::sig {
namespace {

// Named products first: checked before the provider's own signature, so they
// all require the provider's marker and envelope to be absent. verdict unset:
// a box's 407 or own 5xx -> proxy_failed, anything else -> middlebox_blocked.
constexpr BlockRule kNamed[] = {
    {.name = "squid", .product = "Squid", .header = "x-squid-error", .envelope = Need::No,
     .meaning = "the Squid proxy answered instead of the provider"},
    {.name = "squid", .product = "Squid", .header = "server", .header_has = "squid",
     .envelope = Need::No, .meaning = "the Squid proxy answered instead of the provider"},
    {.name = "squid", .product = "Squid",
     .body_has = "access control configuration prevents your request|(squid/",
     .envelope = Need::No, .meaning = "the Squid proxy answered instead of the provider"},
    {.name = "zscaler", .product = "Zscaler", .header = "server", .header_has = "zscaler",
     .envelope = Need::No, .meaning = "the Zscaler gateway answered instead of the provider"},
    {.name = "zscaler", .product = "Zscaler", .body_has = "internet security by zscaler|zscaler",
     .envelope = Need::No, .meaning = "the Zscaler gateway answered instead of the provider"},
    {.name = "bluecoat", .product = "Blue Coat ProxySG", .header = "x-bluecoat-via",
     .envelope = Need::No, .meaning = "a Blue Coat proxy answered instead of the provider"},
    {.name = "bluecoat", .product = "Blue Coat ProxySG", .header = "location", .header_has = "cfru=",
     .envelope = Need::No, .meaning = "a Blue Coat proxy redirected the request"},
    {.name = "bluecoat", .product = "Blue Coat ProxySG",
     .body_has = "blue coat|proxysg|access denied (policy_denied)",
     .envelope = Need::No, .meaning = "a Blue Coat proxy answered instead of the provider"},
    {.name = "fortinet", .product = "Fortinet FortiGuard", .body_has = "fortiguard|fortigate|fortinet",
     .envelope = Need::No, .meaning = "a Fortinet firewall blocked the request"},
    {.name = "paloalto", .product = "Palo Alto Networks",
     .body_has = "blocked in accordance with company policy|palo alto networks",
     .envelope = Need::No, .meaning = "a Palo Alto firewall blocked the request"},
    {.name = "sophos", .product = "Sophos", .body_has = "sophos",
     .envelope = Need::No, .meaning = "a Sophos firewall blocked the request"},
    {.name = "sonicwall", .product = "SonicWall", .body_has = "sonicwall",
     .envelope = Need::No, .meaning = "a SonicWall firewall blocked the request"},
    {.name = "cisco_umbrella", .product = "Cisco Umbrella",
     .body_has = "cisco umbrella|umbrella policy|opendns",
     .envelope = Need::No, .meaning = "Cisco Umbrella blocked the request"},
    {.name = "block_page", .product = "a web filter",
     .body_has = "web site blocked|website blocked|web page blocked|this site is blocked|"
                 "access to this site is blocked|blocked by your administrator|"
                 "blocked by your organization|url filtering|content filter",
     .envelope = Need::No, .html = Need::Yes,
     .meaning = "a web filter's block page answered instead of the provider"},
    // Captive portals: a redirect to another host, or a login page where JSON was expected.
    {.name = "captive_portal", .product = "a captive portal or redirecting proxy",
     .verdict = Verdict::MiddleboxBlocked, .status_lo = 300, .status_hi = 399,
     .envelope = Need::No, .foreign_redirect = Need::Yes,
     .meaning = "the request was redirected to another host (a captive portal or a proxy's "
                "login), not answered by the provider"},
    {.name = "captive_portal", .product = "a captive portal",
     .verdict = Verdict::MiddleboxBlocked,
     .body_has = "type=\"password\"|type='password'|captive portal|hotspot|wi-fi login|wifi login|"
                 "accept the terms|terms of use</|sign in to the network",
     .envelope = Need::No, .html = Need::Yes,
     .meaning = "a login page answered where the provider's JSON was expected (a captive portal)"},
};

// Generic proxy marks: checked only after the provider's own signature did
// not match, so a genuine answer relayed through a proxy stays the provider's.
constexpr BlockRule kProxyMarks[] = {
    {.name = "proxy", .product = "a proxy (Via)", .header = "via",
     .header_not = "google", .envelope = Need::No,
     .meaning = "a proxy on the path answered instead of the provider"},
    {.name = "proxy", .product = "a caching proxy (X-Cache)", .header = "x-cache", .envelope = Need::No,
     .meaning = "a proxy on the path answered instead of the provider"},
    {.name = "proxy", .product = "a caching proxy (X-Cache-Lookup)", .header = "x-cache-lookup",
     .envelope = Need::No, .meaning = "a proxy on the path answered instead of the provider"},
    {.name = "proxy", .product = "a proxy (Proxy-Agent)", .header = "proxy-agent", .envelope = Need::No,
     .meaning = "a proxy on the path answered instead of the provider"},
};

constexpr std::string_view kInterception[] = {
    "zscaler", "fortinet", "fortigate", "palo alto", "pan-fw", "blue coat", "bluecoat", "proxysg",
    "symantec web", "sophos", "sonicwall", "cisco umbrella", "umbrella", "netskope", "forcepoint",
    "websense", "check point", "checkpoint", "barracuda", "mcafee web gateway", "skyhigh",
    "kaspersky", "eset ssl filter", "avast", "avg web", "bitdefender", "mitmproxy", "charles proxy",
    "do_not_trust", "fiddler", "portswigger", "burp", "squid", "inspection", "intercept",
    "ssl decrypt", "tls decrypt",
};

}  // namespace

std::span<const BlockRule> middleboxRules() { return kNamed; }
std::span<const BlockRule> proxyMarkRules() { return kProxyMarks; }
std::span<const std::string_view> interceptionIssuers() { return kInterception; }

}  // namespace pathwatch::sig
