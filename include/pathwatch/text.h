#pragma once
// Small text helpers every part shares: one lower-case, one prefix test, and
// the hygiene every piece of outside text gets before it is shown.
#include <cstddef>
#include <string>
#include <string_view>

namespace pathwatch {

std::string toLower(std::string_view s);
bool startsWith(std::string_view s, std::string_view prefix);
bool iequals(std::string_view a, std::string_view b);

// Outside text (a server's message, a header value) made fit to show:
// printable, one line, credential-like runs replaced by their fingerprint,
// capped at `cap` bytes on a UTF-8 boundary, invalid UTF-8 replaced by '?'.
std::string cleanText(std::string_view raw, std::size_t cap = 300);

// Whether JSON text nests no deeper than `limit` (checked before parsing a
// hostile body, so neither the parser nor a destructor can exhaust the stack).
bool jsonNestingWithin(std::string_view body, int limit);

}  // namespace pathwatch
