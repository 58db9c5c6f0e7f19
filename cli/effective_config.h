#pragma once
// `pathwatch config check`: the effective config as JSON that is itself a
// valid config file (docs/configuration.md), every default filled in:
// feeding it back to parseConfig gives the same Config. Secrets never
// appear: keys are not in a Config at all (only key_env / key_file names),
// and webhook URLs, which carry their secret in the path, are shown as
// redactUrl gives them (scheme://host/…), so a config with webhooks does not
// round-trip verbatim. Pure.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "pathwatch/config.h"

namespace pathwatch {

// Keys in the order docs/configuration.md lists them.
nlohmann::ordered_json effectiveConfigJson(const Config& config);

// "256MB" (binary units, as history.max_size reads them) when exact, else bytes.
nlohmann::ordered_json formatSize(uint64_t bytes);

}  // namespace pathwatch
