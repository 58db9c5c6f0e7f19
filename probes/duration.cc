#include "pathwatch/duration.h"

#include <cstdint>
#include <limits>

namespace pathwatch {
namespace {

struct Unit {
  std::string_view suffix;
  int64_t ms;
};

// Longest suffix first so "ms" is not read as "m" followed by garbage.
constexpr Unit kUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000},
};

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<Millis> parseDuration(std::string_view text) {
  // Split into number and unit: digits [ '.' digits ] unit.
  std::size_t i = 0;
  while (i < text.size() && isDigit(text[i])) ++i;
  const std::string_view whole = text.substr(0, i);
  std::string_view frac;
  if (i < text.size() && text[i] == '.') {
    const std::size_t start = ++i;
    while (i < text.size() && isDigit(text[i])) ++i;
    frac = text.substr(start, i - start);
    if (frac.empty()) return std::nullopt;  // "1.s"
  }
  if (whole.empty()) return std::nullopt;  // ".5s", "-1s", "s"
  const std::string_view suffix = text.substr(i);
  const Unit* unit = nullptr;
  for (const auto& u : kUnits)
    if (u.suffix == suffix) unit = &u;
  if (unit == nullptr) return std::nullopt;  // bare number, unknown unit, trailing junk

  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t value = 0;
  for (char c : whole) {
    const int64_t d = c - '0';
    if (value > (kMax - d) / 10) return std::nullopt;
    value = value * 10 + d;
  }
  if (value > kMax / unit->ms) return std::nullopt;
  value *= unit->ms;

  // The fraction must come out as whole milliseconds ("1.5s" yes, "0.0001s" no).
  if (!frac.empty()) {
    if (frac.size() > 12) return std::nullopt;
    int64_t num = 0, den = 1;
    for (char c : frac) {
      num = num * 10 + (c - '0');
      den *= 10;
    }
    // num/den * unit->ms; unit->ms <= 86'400'000 and num < 10^12, so check before multiplying.
    if (num > kMax / unit->ms) return std::nullopt;
    const int64_t scaled = num * unit->ms;
    if (scaled % den != 0) return std::nullopt;
    const int64_t add = scaled / den;
    if (value > kMax - add) return std::nullopt;
    value += add;
  }
  return Millis(value);
}

std::string formatDuration(Millis d) {
  int64_t v = d.count();
  std::string sign;
  if (v < 0) {
    sign = "-";
    if (v == std::numeric_limits<int64_t>::min()) return "-" + std::to_string(v).substr(1) + "ms";
    v = -v;
  }
  if (v == 0) return "0s";
  // Largest unit that divides exactly.
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it)
    if (v % it->ms == 0) return sign + std::to_string(v / it->ms) + std::string(it->suffix);
  return sign + std::to_string(v) + "ms";
}

}  // namespace pathwatch
