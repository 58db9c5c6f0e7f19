#include "pathwatch/clock.h"

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace pathwatch {

int64_t wallClockMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string isoFromMs(int64_t ms) {
  time_t secs = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t);
  return buf;
}

std::optional<int64_t> msFromIso(std::string_view iso) {
  std::string s(iso);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
    return std::nullopt;
  int frac_ms = 0;
  std::size_t i = static_cast<std::size_t>(n);
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (digits < 3) frac_ms = frac_ms * 10 + (s[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return std::nullopt;
    for (int k = digits; k < 3; ++k) frac_ms *= 10;
  }
  if (i + 1 != s.size() || s[i] != 'Z') return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  t.tm_sec = sec;
  time_t secs = timegm(&t);
  return static_cast<int64_t>(secs) * 1000 + frac_ms;
}

namespace {

constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kDays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

std::optional<int> number(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);  // asctime pads the day
  int v = 0;
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<int> month(std::string_view s) {
  for (std::size_t i = 0; i < kMonths.size(); ++i)
    if (s == kMonths[i]) return static_cast<int>(i);
  return std::nullopt;
}

// "08:49:37"
bool clockTime(std::string_view s, int& h, int& m, int& sec) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return false;
  auto hh = number(s.substr(0, 2)), mm = number(s.substr(3, 2)), ss = number(s.substr(6, 2));
  if (!hh || !mm || !ss || *hh > 23 || *mm > 59 || *ss > 60) return false;
  h = *hh, m = *mm, sec = *ss;
  return true;
}

std::optional<int64_t> toMs(int year, int mon, int day, int h, int m, int s) {
  if (year < 1970 || year > 9999 || day < 1 || day > 31) return std::nullopt;
  tm t{};
  t.tm_year = year - 1900;
  t.tm_mon = mon;
  t.tm_mday = day;
  t.tm_hour = h;
  t.tm_min = m;
  t.tm_sec = s;
  const time_t secs = timegm(&t);
  if (secs == static_cast<time_t>(-1)) return std::nullopt;
  return static_cast<int64_t>(secs) * 1000;
}

}  // namespace

std::optional<int64_t> msFromHttpDate(std::string_view d) {
  while (!d.empty() && (d.front() == ' ' || d.front() == '\t')) d.remove_prefix(1);
  while (!d.empty() && (d.back() == ' ' || d.back() == '\t')) d.remove_suffix(1);
  int h = 0, m = 0, s = 0;
  const auto comma = d.find(", ");
  if (comma == 3 && d.size() == 29) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    std::string_view r = d.substr(5);
    auto day = number(r.substr(0, 2));
    auto mon = month(r.substr(3, 3));
    auto year = number(r.substr(7, 4));
    if (!day || !mon || !year || r[2] != ' ' || r[6] != ' ' || r[11] != ' ' ||
        !clockTime(r.substr(12, 8), h, m, s) || r.substr(20) != " GMT")
      return std::nullopt;
    return toMs(*year, *mon, *day, h, m, s);
  }
  if (comma != std::string_view::npos && comma >= 6) {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    std::string_view r = d.substr(comma + 2);
    if (r.size() != 22 || r[2] != '-' || r[6] != '-' || r[9] != ' ' || r.substr(18) != " GMT")
      return std::nullopt;
    auto day = number(r.substr(0, 2));
    auto mon = month(r.substr(3, 3));
    auto yy = number(r.substr(7, 2));
    if (!day || !mon || !yy || !clockTime(r.substr(10, 8), h, m, s)) return std::nullopt;
    return toMs(*yy < 70 ? 2000 + *yy : 1900 + *yy, *mon, *day, h, m, s);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (d.size() != 24 || d[3] != ' ' || d[7] != ' ' || d[10] != ' ' || d[19] != ' ') return std::nullopt;
  bool weekday = false;
  for (auto w : kDays) weekday = weekday || d.substr(0, 3) == w;
  auto mon = month(d.substr(4, 3));
  auto day = number(d.substr(8, 2));
  auto year = number(d.substr(20, 4));
  if (!weekday || !mon || !day || !year || !clockTime(d.substr(11, 8), h, m, s)) return std::nullopt;
  return toMs(*year, *mon, *day, h, m, s);
}

std::string httpDateFromMs(int64_t ms) {
  time_t secs = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[t.tm_wday % 7].data(),
                t.tm_mday, kMonths[t.tm_mon % 12].data(), t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
  return buf;
}

}  // namespace pathwatch
