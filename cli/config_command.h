#pragma once
// `pathwatch config check [-c FILE]` and `pathwatch config example`.
#include <string>
#include <string_view>

#include "pathwatch/config.h"
#include "pathwatch/key.h"

namespace pathwatch {

// examples/config.json as it was at build time (embedded by CMake).
std::string_view exampleConfigText();

// One line of config check's key report: what the provider's key source
// gives this user now (ok, missing, malformed, none) with the fingerprint,
// never the key. Pure; `source_width` aligns the sources.
std::string keyReportLine(const ProviderConfig& provider, const KeyLayer& key,
                          std::size_t source_width);

}  // namespace pathwatch
