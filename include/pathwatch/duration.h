#pragma once
// Durations as written in the config: "500ms", "10s", "5m", "2h", "30d".
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace pathwatch {

using Millis = std::chrono::milliseconds;

// Accepts an integer (or decimal) followed by one of ms, s, m, h, d. No sign, no
// spaces, no bare numbers. Returns nullopt on anything else or on overflow.
std::optional<Millis> parseDuration(std::string_view text);

// The shortest exact spelling: 1500ms -> "1500ms", 60000 -> "1m".
std::string formatDuration(Millis d);

}  // namespace pathwatch
