#pragma once
// Wall-clock helpers every part shares (the one ISO 8601 formatter):
// timestamps are Unix milliseconds inside, ISO 8601 UTC outside.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pathwatch {

int64_t wallClockMs();
// "2026-11-27T21:00:00Z" (milliseconds dropped; they are kept in the database).
std::string isoFromMs(int64_t ms);
// Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z"; nullopt on anything else.
std::optional<int64_t> msFromIso(std::string_view iso);

}  // namespace pathwatch
