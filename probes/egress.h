#pragma once
// Egress identity: where a route appears to come from, as a provider's CDN sees it.
#include <optional>
#include <string>
#include <string_view>

#include "pathwatch/result.h"

namespace pathwatch {

// Parses a Cloudflare /cdn-cgi/trace body ("key=value" lines: ip=, loc=, colo=).
// Returns nullopt unless it looks like a trace (an ip= line with an address).
// seen_by is left empty for the caller to fill (the provider's name).
std::optional<Egress> parseCdnTrace(std::string_view body);

// The site code at the end of a CF-Ray header: "8c1f2a3b4c5d6e7f-HKG" -> "HKG";
// "" when there is none or it is malformed.
std::string cfRaySite(std::string_view cf_ray);

}  // namespace pathwatch
