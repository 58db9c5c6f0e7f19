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
// An HTTP Date (RFC 9110 section 5.6.7: IMF-fixdate, or the obsolete RFC 850 and
// asctime forms) -> Unix milliseconds; nullopt on anything else.
std::optional<int64_t> msFromHttpDate(std::string_view date);
// IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (what a server sends in Date).
std::string httpDateFromMs(int64_t ms);

}  // namespace pathwatch
