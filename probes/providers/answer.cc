// Who wrote an HTTP answer and what it means: the tables of
// probes/providers/ matched against one parsed view of the answer.
#include "providers/answer.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>

#include "pathwatch/text.h"
#include "providers/provider_def.h"

namespace pathwatch::sig {
namespace {

constexpr std::size_t kMaxRateEntries = 32;

bool needOk(Need need, bool value) {
  return need == Need::Any || (need == Need::Yes) == value;
}

// ---------------------------------------------------------------- parsing

std::string hostOfUrl(std::string_view url) {
  auto parts = parseUrl(url);
  return parts ? toLower(parts->host) : std::string{};
}

// "api.openai.com" -> "openai.com": good enough to tell a redirect within the
// provider from one to a portal.
std::string siteOf(std::string_view host) {
  const auto last = host.rfind('.');
  if (last == std::string_view::npos || last == 0) return std::string(host);
  const auto prev = host.rfind('.', last - 1);
  return std::string(prev == std::string_view::npos ? host : host.substr(prev + 1));
}

bool hasMarker(const AnswerView& v, std::string_view markers) {
  bool found = false;
  std::string_view rest = markers;
  while (!rest.empty() && !found) {
    const auto bar = rest.find('|');
    std::string_view name = rest.substr(0, bar);
    rest = bar == std::string_view::npos ? std::string_view{} : rest.substr(bar + 1);
    if (name.empty()) continue;
    if (name.back() == '*') {
      name.remove_suffix(1);
      for (const auto& [h, _] : v.headers)
        if (startsWith(h, name)) found = true;
    } else {
      found = v.header(name) != nullptr;
    }
  }
  return found;
}

AnswerView makeView(const ProviderSpec& spec, const ProviderDef& s, const HttpLayer& http) {
  AnswerView v;
  v.code = http.code;
  for (const auto& [name, value] : http.headers) {
    if (v.headers.size() >= 200) break;
    std::string key = toLower(name);
    std::string val = value.substr(0, 2048);
    auto [it, inserted] = v.headers.emplace(key, val);
    if (!inserted && it->second.size() < 4096) it->second += ", " + val;
  }
  v.body = std::string_view(http.body).substr(0, 64 * 1024);
  v.body_lower = toLower(v.body);
  v.json = Json(Json::value_t::discarded);
  const auto first = v.body.find_first_not_of(" \t\r\n");
  const char lead = first == std::string_view::npos ? '\0' : v.body[first];
  if ((lead == '{' || lead == '[') && jsonNestingWithin(v.body, 64)) {
    v.json = Json::parse(v.body.begin(), v.body.end(), nullptr, /*allow_exceptions=*/false);
  }
  const std::string* ctype = v.header("content-type");
  const std::string_view lower_start =
      std::string_view(v.body_lower).substr(first == std::string_view::npos ? 0 : first, 16);
  v.html = (ctype && containsAny(*ctype, "html")) || startsWith(lower_start, "<!doctype") ||
           startsWith(lower_start, "<html") || startsWith(lower_start, "<head") ||
           startsWith(lower_start, "<title");
  v.marker = hasMarker(v, s.marker_headers);
  if (v.hasJson()) {
    v.envelope = s.envelope && s.envelope(v.json);
    v.success_shape = s.success && s.success(v.json);
  }
  for (const auto& [h, _] : v.headers)
    if (startsWith(h, "x-ratelimit-") || startsWith(h, "anthropic-ratelimit-")) v.rate_headers = true;
  if (http.code >= 300 && http.code < 400) {
    if (const std::string* loc = v.header("location")) {
      v.location = *loc;
      const std::string host = hostOfUrl(*loc);
      v.foreign_redirect = !host.empty() && siteOf(host) != siteOf(toLower(spec.host));
    }
  }
  return v;
}

bool bodyHas(const AnswerView& v, std::string_view alternatives) {
  std::string_view rest = alternatives;
  while (true) {
    const auto bar = rest.find('|');
    const std::string alt = toLower(rest.substr(0, bar));
    if (!alt.empty() && v.body_lower.find(alt) != std::string::npos) return true;
    if (bar == std::string_view::npos) return false;
    rest.remove_prefix(bar + 1);
  }
}

bool matches(const BlockRule& r, const AnswerView& v) {
  if (v.code < r.status_lo || v.code > r.status_hi) return false;
  if (!needOk(r.marker, v.marker) || !needOk(r.envelope, v.envelope) ||
      !needOk(r.rate_headers, v.rate_headers) || !needOk(r.foreign_redirect, v.foreign_redirect) ||
      !needOk(r.html, v.html))
    return false;
  if (!r.header.empty()) {
    const std::string* value = v.header(r.header);
    if (!value) return false;
    if (!r.header_has.empty() && !containsAny(*value, r.header_has)) return false;
    if (!r.header_not.empty() && containsAny(*value, r.header_not)) return false;
  }
  if (!r.body_has.empty() && !bodyHas(v, r.body_has)) return false;
  if (!r.json_error_type.empty()) {
    const Json* err = v.hasJson() ? jget(v.json, "error") : nullptr;
    if (!err || jtext(jget(*err, "type")) != r.json_error_type) return false;
  }
  return true;
}

// ---------------------------------------------------------------- retry hints

std::optional<double> parseNumber(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty() || s.size() > 24) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" -> seconds since the epoch.
std::optional<std::time_t> parseHttpDate(std::string_view s) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto comma = s.find(", ");
  if (comma == std::string_view::npos) return std::nullopt;
  s.remove_prefix(comma + 2);
  if (s.size() < 24) return std::nullopt;
  auto num = [](std::string_view t) -> std::optional<int> {
    int v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc{} || end != t.data() + t.size()) return std::nullopt;
    return v;
  };
  auto day = num(s.substr(0, 2)), year = num(s.substr(7, 4)), hh = num(s.substr(12, 2)),
       mm = num(s.substr(15, 2)), ss = num(s.substr(18, 2));
  int month = -1;
  for (int i = 0; i < 12; ++i)
    if (s.substr(3, 3) == kMonths[i]) month = i;
  if (!day || !year || !hh || !mm || !ss || month < 0 || s.substr(21, 3) != "GMT") return std::nullopt;
  std::tm tm{};
  tm.tm_mday = *day;
  tm.tm_mon = month;
  tm.tm_year = *year - 1900;
  tm.tm_hour = *hh;
  tm.tm_min = *mm;
  tm.tm_sec = *ss;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return t;
}

void readRetryHints(const AnswerView& v, HttpLayer& http) {
  if (const std::string* ms = v.header("retry-after-ms")) {
    if (auto n = parseNumber(*ms); n && *n < 1e10) http.retry_after_s = *n / 1000.0;
  }
  if (!http.retry_after_s) {
    if (const std::string* ra = v.header("retry-after")) {
      if (auto n = parseNumber(*ra); n && *n < 1e8) {
        http.retry_after_s = *n;
      } else if (auto when = parseHttpDate(*ra)) {
        std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
        if (const std::string* date = v.header("date"))
          if (auto d = parseHttpDate(*date)) now = *d;  // the server's clock, not ours
        http.retry_after_s = std::max(0.0, std::difftime(*when, now));
      }
    }
  }
  for (const auto& [name, value] : v.headers) {
    if (http.rate.size() >= kMaxRateEntries) break;
    if (startsWith(name, "x-ratelimit-") || startsWith(name, "anthropic-ratelimit-"))
      http.rate[name] = cleanText(value, 64);  // redacted before the cut: no half key
  }
}

// ---------------------------------------------------------------- authorship

}  // namespace

Analysis analyze(const ProviderSpec& spec, HttpLayer& http) {
  const ProviderDef& s = *spec.def;
  http.authored_by.clear();
  http.error_type.clear();
  http.error_code.clear();
  http.message.clear();
  http.retry_after_s.reset();
  http.rate.clear();

  AnswerView v = makeView(spec, s, http);
  readRetryHints(v, http);
  if (v.hasJson()) {
    if (s.extract) s.extract(v.json, http);
  } else if (const auto first = v.body.find_first_not_of(" \t\r\n");
             first != std::string_view::npos && v.body[first] == '{' && s.extract_text) {
    // A truncated or damaged JSON body: the envelope and fields by their keys.
    v.envelope = s.extract_text(v.body, http);
  }

  Analysis a;
  auto tryRules = [&](std::span<const BlockRule> rules) {
    for (const auto& r : rules)
      if (matches(r, v)) {
        a.author = r.author;
        a.block = &r;
        return true;
      }
    return false;
  };
  const bool marker_required = spec.builtin && s.marker_required;
  const bool is_2xx = v.code >= 200 && v.code < 300;
  // A body cut at the capture cap no longer parses: a 2xx that starts as
  // JSON is then judged by its status and the marker (docs/verdicts.md).
  const auto lead = v.body.find_first_not_of(" \t\r\n");
  const bool capped_json = (http.body_truncated || http.body.size() > v.body.size()) && !v.html &&
                           lead != std::string_view::npos && (v.body[lead] == '{' || v.body[lead] == '[');
  const bool json_body = v.hasJson() || capped_json;
  if (tryRules(s.edge) || tryRules(cloudflareRules()) || tryRules(middleboxRules())) {
    // an edge or a box answered
  } else if (v.envelope && (v.marker || !marker_required)) {
    a.author = Author::Provider;
  } else if (is_2xx && (v.success_shape || (v.marker && json_body) ||
                        (!spec.builtin && json_body && !v.html))) {
    a.author = Author::Provider;
  } else if (tryRules(proxyMarkRules())) {
    // a proxy answered
  } else {
    a.author = Author::Unknown;
    a.provider_shape_without_marker = v.envelope;
  }

  if (a.block) {
    if (http.error_code.empty()) {
      const std::string* squid = v.header("x-squid-error");
      http.error_code = squid ? cleanText(*squid, 64) : std::string(a.block->name);  // redacted, then cut
    }
    if (http.message.empty()) {
      // An HTML page: its <title>; plain text: its first line.
      const auto t = v.body_lower.find("<title");
      if (t != std::string::npos) {
        const auto open_end = v.body_lower.find('>', t);
        const auto close = v.body_lower.find("</title", t);
        if (open_end != std::string::npos && close != std::string::npos && close > open_end)
          http.message = std::string(v.body.substr(open_end + 1, close - open_end - 1));
      } else if (!v.html || v.body.find('<') == std::string_view::npos) {
        http.message = std::string(v.body.substr(0, v.body.find('\n')));
      }
    }
  }
  if (a.author == Author::Unknown && http.message.empty() && !v.html)
    http.message = std::string(v.body.substr(0, v.body.find('\n')));
  http.message = cleanText(http.message);
  http.error_type = cleanText(http.error_type, 80);
  http.error_code = cleanText(http.error_code, 80);
  // Rate entries are outside text too (header values, quota ids): a box may
  // quote a key in any of them.
  std::map<std::string, std::string> rate;
  for (const auto& [name, value] : http.rate) rate[cleanText(name, 80)] = cleanText(value, 400);
  http.rate = std::move(rate);
  http.authored_by = std::string(toString(a.author));
  return a;
}

// ---------------------------------------------------------------- meaning

namespace {

bool matches(const AnswerRule& r, const HttpLayer& http, bool key_sent, bool rate_headers, bool builtin) {
  if (http.code < r.status_lo || http.code > r.status_hi) return false;
  if (!r.types.empty() && !equalsAny(http.error_type, r.types)) return false;
  if (!r.codes.empty() && !equalsAny(http.error_code, r.codes)) return false;
  if (!r.message.empty() && !containsAny(http.message, r.message)) return false;
  if (!r.quota.empty()) {
    std::string quota;
    if (auto it = http.rate.find("quota_id"); it != http.rate.end()) quota = it->second;
    if (auto it = http.rate.find("quota_limit"); it != http.rate.end() && it->second == "0")
      quota += " limit:0";
    if (!containsAny(quota, r.quota)) return false;
  }
  if (r.retry_at_least_s > 0 && (!http.retry_after_s || *http.retry_after_s < r.retry_at_least_s)) return false;
  return needOk(r.retry_hint, http.retry_after_s.has_value()) && needOk(r.rate_headers, rate_headers) &&
         needOk(r.key_sent, key_sent) && needOk(r.builtin, builtin);
}

}  // namespace

Meaning meaningOf(const ProviderSpec& spec, const HttpLayer& http, bool key_sent) {
  bool rate_headers = false;
  for (const auto& [name, _] : http.headers) {
    const std::string lower = toLower(name);
    rate_headers |= startsWith(lower, "x-ratelimit-") || startsWith(lower, "anthropic-ratelimit-");
  }
  for (const auto& r : spec.def->rules)
    if (matches(r, http, key_sent, rate_headers, spec.builtin)) return {r.verdict, &r};
  for (const auto& r : genericProviderRules())
    if (matches(r, http, key_sent, rate_headers, spec.builtin)) return {r.verdict, &r};
  return {};
}

Verdict blockVerdict(const BlockRule& r, int code) {
  if (r.verdict) return *r.verdict;
  if (r.author == Author::Middlebox && (code == 407 || code >= 500)) return Verdict::ProxyFailed;
  if (r.author == Author::Edge && code >= 500) return Verdict::ProviderError;
  return Verdict::MiddleboxBlocked;
}

}  // namespace pathwatch::sig
