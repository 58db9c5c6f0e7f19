// Who wrote an answer, what it means, and the one verdict of a route
// (SPEC.md "Verdicts"). Pure: no I/O. The signatures are tables under
// probes/providers/; this file only matches them and applies the precedence.
#include "pathwatch/classify.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "pathwatch/key.h"
#include "providers/signature.h"

namespace pathwatch {
namespace {

using sig::AnswerRule;
using sig::AnswerView;
using sig::Author;
using sig::BlockRule;
using sig::Json;
using sig::Need;
using sig::ProviderSignature;

constexpr std::size_t kMessageCap = 300;
constexpr std::size_t kMaxRateEntries = 32;

bool needOk(Need need, bool value) {
  return need == Need::Any || (need == Need::Yes) == value;
}

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

// ---------------------------------------------------------------- text hygiene

// Printable, single-line, capped at `cap` bytes on a UTF-8 boundary, redacted.
std::string cleanText(std::string_view raw, std::size_t cap = kMessageCap) {
  std::string flat;
  flat.reserve(std::min(raw.size(), cap * 2));
  bool space = false;
  for (std::size_t i = 0; i < raw.size() && flat.size() < cap * 2 + 8; ++i) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c < 0x20 || c == 0x7f) {
      if (!space && !flat.empty()) flat += ' ';
      space = true;
      continue;
    }
    if (c == ' ') {
      if (space || flat.empty()) continue;
      space = true;
    } else {
      space = false;
    }
    flat += static_cast<char>(c);
  }
  while (!flat.empty() && flat.back() == ' ') flat.pop_back();
  std::string out = sig::redactKeyLike(flat);
  if (out.size() > cap) {
    std::size_t cut = cap;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out += "…";
  }
  // Invalid UTF-8 (binary garbage) becomes '?', so JSON output never breaks.
  std::string valid;
  valid.reserve(out.size());
  for (std::size_t i = 0; i < out.size();) {
    const unsigned char c = static_cast<unsigned char>(out[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= out.size();
    for (std::size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(out[i + k]) & 0xC0) == 0x80;
    if (ok) {
      valid.append(out, i, len);
      i += len;
    } else {
      valid += '?';
      ++i;
    }
  }
  return valid;
}

// ---------------------------------------------------------------- parsing

// Refuses absurd nesting before the parser sees it (memory and recursion stay bounded).
bool nestingOk(std::string_view body, int max_depth = 64) {
  int depth = 0;
  bool in_string = false, escape = false;
  for (char c : body) {
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

// "key": "value" found by text, for truncated bodies the parser refuses.
std::string scanJsonString(std::string_view body, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\"";
  std::size_t pos = 0;
  while ((pos = body.find(needle, pos)) != std::string_view::npos) {
    std::size_t i = pos + needle.size();
    while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
    if (i >= body.size() || body[i] != ':') {
      pos = i;
      continue;
    }
    ++i;
    while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
    if (i >= body.size() || body[i] != '"') {
      pos = i;
      continue;
    }
    std::string out;
    for (++i; i < body.size() && body[i] != '"' && out.size() < 1024; ++i) {
      if (body[i] == '\\' && i + 1 < body.size()) ++i;
      out += body[i];
    }
    return out;
  }
  return {};
}

std::string hostOfUrl(std::string_view url) {
  auto parts = parseUrl(url);
  return parts ? sig::toLower(parts->host) : std::string{};
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

AnswerView makeView(const ProviderSpec& spec, const ProviderSignature& s, const HttpLayer& http) {
  AnswerView v;
  v.code = http.code;
  for (const auto& [name, value] : http.headers) {
    if (v.headers.size() >= 200) break;
    std::string key = sig::toLower(name);
    std::string val = value.substr(0, 2048);
    auto [it, inserted] = v.headers.emplace(key, val);
    if (!inserted && it->second.size() < 4096) it->second += ", " + val;
  }
  v.body = std::string_view(http.body).substr(0, 64 * 1024);
  v.body_lower = sig::toLower(v.body);
  v.json = Json(Json::value_t::discarded);
  const auto first = v.body.find_first_not_of(" \t\r\n");
  const char lead = first == std::string_view::npos ? '\0' : v.body[first];
  if ((lead == '{' || lead == '[') && nestingOk(v.body)) {
    v.json = Json::parse(v.body.begin(), v.body.end(), nullptr, /*allow_exceptions=*/false);
  }
  const std::string* ctype = v.header("content-type");
  const std::string_view lower_start =
      std::string_view(v.body_lower).substr(first == std::string_view::npos ? 0 : first, 16);
  v.html = (ctype && sig::containsAny(*ctype, "html")) || startsWith(lower_start, "<!doctype") ||
           startsWith(lower_start, "<html") || startsWith(lower_start, "<head") ||
           startsWith(lower_start, "<title");
  v.marker = hasMarker(v, s.marker_headers);
  if (v.hasJson()) {
    v.envelope = s.envelope(v.json);
    v.success_shape = s.success(v.json);
  } else if (lead == '{') {
    // A truncated or damaged JSON body: recognise the envelope by its keys.
    const bool discord = s.kind == ProviderKind::Discord;
    v.envelope = discord ? (v.body.find("\"message\"") != std::string_view::npos &&
                            v.body.find("\"code\"") != std::string_view::npos)
                         : (v.body.find("\"error\"") != std::string_view::npos &&
                            v.body.find("\"message\"") != std::string_view::npos);
  }
  for (const auto& [h, _] : v.headers)
    if (startsWith(h, "x-ratelimit-") || startsWith(h, "anthropic-ratelimit-")) v.rate_headers = true;
  if (http.code >= 300 && http.code < 400) {
    if (const std::string* loc = v.header("location")) {
      v.location = *loc;
      const std::string host = hostOfUrl(*loc);
      v.foreign_redirect = !host.empty() && siteOf(host) != siteOf(sig::toLower(spec.host));
    }
  }
  return v;
}

bool bodyHas(const AnswerView& v, std::string_view alternatives) {
  std::string_view rest = alternatives;
  while (true) {
    const auto bar = rest.find('|');
    const std::string alt = sig::toLower(rest.substr(0, bar));
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
    if (!r.header_has.empty() && !sig::containsAny(*value, r.header_has)) return false;
    if (!r.header_not.empty() && sig::containsAny(*value, r.header_not)) return false;
  }
  if (!r.body_has.empty() && !bodyHas(v, r.body_has)) return false;
  if (!r.json_error_type.empty()) {
    const Json* err = v.hasJson() ? sig::jget(v.json, "error") : nullptr;
    if (!err || sig::jtext(sig::jget(*err, "type")) != r.json_error_type) return false;
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
      http.rate[name] = value.substr(0, 64);
  }
}

// ---------------------------------------------------------------- authorship

struct Analysis {
  Author author = Author::Unknown;
  const BlockRule* block = nullptr;  // when an edge or a middlebox answered
  bool provider_shape_without_marker = false;
};

Analysis analyze(const ProviderSpec& spec, HttpLayer& http) {
  const ProviderSignature& s = sig::signatureFor(spec.kind);
  http.authored_by.clear();
  http.error_type.clear();
  http.error_code.clear();
  http.message.clear();
  http.retry_after_s.reset();
  http.rate.clear();

  const AnswerView v = makeView(spec, s, http);
  readRetryHints(v, http);
  if (v.hasJson()) {
    s.extract(v.json, http);
  } else if (!v.body.empty() && v.body[v.body.find_first_not_of(" \t\r\n") == std::string_view::npos
                                           ? 0
                                           : v.body.find_first_not_of(" \t\r\n")] == '{') {
    http.message = scanJsonString(v.body, "message");
    http.error_type = s.kind == ProviderKind::Gemini ? scanJsonString(v.body, "status")
                                                     : scanJsonString(v.body, "type");
    if (s.kind == ProviderKind::OpenAI) http.error_code = scanJsonString(v.body, "code");
    if (s.kind == ProviderKind::Gemini) http.error_code = scanJsonString(v.body, "reason");
    if (s.kind == ProviderKind::Anthropic) {
      // The outer "type" is "error"; the inner one is what matters.
      const auto err = v.body.find("\"error\"");
      const auto inner = err == std::string_view::npos ? std::string_view{} : v.body.substr(err + 7);
      http.error_type = scanJsonString(inner, "type");
      http.error_code = scanJsonString(inner, "error_code");
    }
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
  if (tryRules(s.edge) || tryRules(sig::cloudflareRules()) || tryRules(sig::middleboxRules())) {
    // an edge or a box answered
  } else if (v.envelope && (v.marker || !marker_required)) {
    a.author = Author::Provider;
  } else if (is_2xx && (v.success_shape || (v.marker && v.hasJson()) ||
                        (!spec.builtin && v.hasJson() && !v.html))) {
    a.author = Author::Provider;
  } else if (tryRules(sig::proxyMarkRules())) {
    // a proxy answered
  } else {
    a.author = Author::Unknown;
    a.provider_shape_without_marker = v.envelope;
  }

  if (a.block) {
    if (http.error_code.empty()) {
      const std::string* squid = v.header("x-squid-error");
      http.error_code = squid ? squid->substr(0, 64) : std::string(a.block->name);
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
  http.authored_by = std::string(sig::toString(a.author));
  return a;
}

// ---------------------------------------------------------------- meaning

struct Meaning {
  Verdict verdict = Verdict::Unexpected;
  const AnswerRule* rule = nullptr;
};

bool matches(const AnswerRule& r, const HttpLayer& http, bool key_sent, bool rate_headers) {
  if (http.code < r.status_lo || http.code > r.status_hi) return false;
  if (!r.types.empty() && !sig::equalsAny(http.error_type, r.types)) return false;
  if (!r.codes.empty() && !sig::equalsAny(http.error_code, r.codes)) return false;
  if (!r.message.empty() && !sig::containsAny(http.message, r.message)) return false;
  if (!r.quota.empty()) {
    std::string quota;
    if (auto it = http.rate.find("quota_id"); it != http.rate.end()) quota = it->second;
    if (auto it = http.rate.find("quota_limit"); it != http.rate.end() && it->second == "0")
      quota += " limit:0";
    if (!sig::containsAny(quota, r.quota)) return false;
  }
  return needOk(r.retry_hint, http.retry_after_s.has_value()) && needOk(r.rate_headers, rate_headers) &&
         needOk(r.key_sent, key_sent);
}

Meaning meaningOf(const ProviderSpec& spec, const HttpLayer& http, bool key_sent) {
  bool rate_headers = false;
  for (const auto& [name, _] : http.headers) {
    const std::string lower = sig::toLower(name);
    rate_headers |= startsWith(lower, "x-ratelimit-") || startsWith(lower, "anthropic-ratelimit-");
  }
  for (const auto& r : sig::signatureFor(spec.kind).rules)
    if (matches(r, http, key_sent, rate_headers)) return {r.verdict, &r};
  for (const auto& r : sig::genericProviderRules())
    if (matches(r, http, key_sent, rate_headers)) return {r.verdict, &r};
  return {};
}

Verdict blockVerdict(const BlockRule& r, int code) {
  if (r.verdict) return *r.verdict;
  if (r.author == Author::Middlebox && (code == 407 || code >= 500)) return Verdict::ProxyFailed;
  if (r.author == Author::Edge && code >= 500) return Verdict::ProviderError;
  return Verdict::MiddleboxBlocked;
}

// ---------------------------------------------------------------- evidence

std::string join(const std::vector<std::string>& v, std::string_view sep = ", ", std::size_t max = 8) {
  std::string out;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) {
    if (i) out += sep;
    out += cleanText(v[i], 120);
  }
  if (v.size() > max) out += std::string(sep) + "…";
  return out;
}

std::string fmtSeconds(double s) {
  char buf[32];
  if (s < 10 && std::floor(s) != s) std::snprintf(buf, sizeof buf, "%.2f s", s);
  else std::snprintf(buf, sizeof buf, "%.0f s", s);
  return buf;
}

std::string inQuotes(const std::string& s) { return "\"" + s + "\""; }

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool interceptionIssuer(const TlsLayer& tls, std::string* which) {
  auto check = [&](const std::string& name) {
    for (std::string_view product : sig::interceptionIssuers())
      if (sig::containsAny(name, product)) {
        if (which) *which = name;
        return true;
      }
    return false;
  };
  if (check(tls.issuer)) return true;
  for (const auto& c : tls.chain)
    if (check(c)) return true;
  return false;
}

bool tlsIdentityError(std::string_view e) {
  return e == "tls_unknown_authority" || e == "tls_hostname_mismatch" || e == "tls_self_signed" ||
         e == "tls_expired" || e == "tls_untrusted" || e == "tls_bad_certificate" ||
         e.find("cert") != std::string_view::npos;
}

// An odd DNS answer's TLS check (DnsAnswer::tls_error) failed at TLS, not
// before it: a name/expiry/trust failure or a broken handshake. An address
// that cannot be reached says nothing about the answer's honesty. "Not
// publicly trusted" only counts when the address used is publicly trusted
// (otherwise everything here is inspected or on a private CA alike).
bool oddAnswerFailedTls(std::string_view e, const TlsLayer& used) {
  if (e == "not_publicly_trusted" || e.find(' ') != std::string_view::npos)
    return used.status == LayerStatus::Ok && used.public_root.value_or(false);
  return tlsIdentityError(e) || startsWith(e, "tls_");
}

std::string keyWho(const KeyLayer& k) {
  std::string s = k.fingerprint.empty() ? std::string("the key") : "key " + k.fingerprint;
  if (!k.source.empty() && k.source != "none") s += " from " + cleanText(k.source, 120);
  return s;
}

}  // namespace

void analyzeAnswer(const ProviderSpec& spec, HttpLayer& http) {
  try {
    analyze(spec, http);
  } catch (...) {
    // Never reached by design (no throwing parse); a last guard keeps the probe alive.
    http.authored_by = "unknown";
  }
}

void classifyRoute(const ProviderSpec& spec, RouteResult& r) {
  std::vector<std::string>& ev = r.evidence;
  ev.clear();
  std::optional<Verdict> verdict;
  auto decide = [&](Verdict v) {
    if (!verdict) verdict = v;
  };
  const std::string who = sig::displayName(spec);

  // ---- key
  const KeyLayer& key = r.key;
  const bool key_sent = key.status == LayerStatus::Ok;
  if (key.status == LayerStatus::Fail) {
    if (key.error == "key_missing") {
      ev.push_back("key: no key was read from " + cleanText(key.source, 160) +
                   (key.problems.empty() ? std::string() : " (" + join(key.problems) + ")") +
                   "; nothing was sent");
      decide(Verdict::KeyMissing);
    } else {
      std::string line = "key: " + keyWho(key) + " is damaged: " + join(key.problems);
      if (!key.looks_like.empty() && contains(key.problems, "wrong_provider_shape"))
        line += " (it looks like a " + cleanText(key.looks_like, 20) + " key)";
      ev.push_back(line + "; nothing was sent");
      decide(Verdict::KeyMalformed);
    }
  }

  // ---- dns
  const DnsLayer& dns = r.dns;
  bool any_bogon = dns.error == "bogon";
  for (const auto& a : dns.answers) {
    if (!a.bogons.empty()) {
      any_bogon = true;
      ev.push_back("dns: resolver " + cleanText(a.resolver, 60) + " answered " + join(a.bogons) +
                   " (bogon)");
    } else if (a.status == LayerStatus::Fail) {
      ev.push_back("dns: resolver " + cleanText(a.resolver, 60) + " failed: " + cleanText(a.error, 40));
    }
  }
  if (dns.resolvers_disagree) {
    std::vector<std::string> sets;
    for (const auto& a : dns.answers)
      if (a.status == LayerStatus::Ok) sets.push_back(cleanText(a.resolver, 60) + " " + join(a.addresses, " ", 4));
    ev.push_back("dns: resolvers disagree: " + join(sets, "; "));
  }
  const TlsLayer& tls = r.tls;
  std::string intercept_name;
  const bool intercept_product = interceptionIssuer(tls, &intercept_name);
  const bool local_ca = tls.ca_file_ok.value_or(false) && tls.public_root.has_value() && !*tls.public_root;
  if (any_bogon) {
    decide(Verdict::DnsTampered);
  } else if (dns.status == LayerStatus::Fail) {
    if (dns.answers.empty()) ev.push_back("dns: resolution failed: " + cleanText(dns.error, 40));
    else ev.push_back("dns: no resolver answered usefully");
    decide(Verdict::DnsFailed);
  } else if (dns.resolvers_disagree && tls.status == LayerStatus::Fail && tlsIdentityError(tls.error) &&
             !intercept_product && !local_ca) {
    ev.push_back("dns: the address used fails TLS for " + cleanText(spec.host, 120) +
                 " while resolvers disagree: an odd answer, not geo-DNS");
    decide(Verdict::DnsTampered);
  } else if (dns.resolvers_disagree) {
    // The engine checked each odd answer (disjoint from the one used) for TLS
    // under the name: geo-DNS fronts pass, a sinkhole or hijack does not.
    for (const auto& a : dns.answers) {
      if (a.status != LayerStatus::Ok || !a.tls_ok.has_value() || *a.tls_ok) continue;
      if (!oddAnswerFailedTls(a.tls_error, tls)) continue;
      ev.push_back("dns: resolver " + cleanText(a.resolver, 60) + " answered " + join(a.addresses, " ", 4) +
                   ", which fails TLS for " + cleanText(spec.host, 120) +
                   (a.tls_error.empty() ? std::string() : " (" + cleanText(a.tls_error, 80) + ")") +
                   ": an odd answer, not geo-DNS");
      decide(Verdict::DnsTampered);
    }
  }

  // ---- proxy and tcp
  const TcpLayer& tcp = r.tcp;
  HttpLayer& http = r.http;
  for (const auto& a : tcp.attempts)
    if (a.status == LayerStatus::Fail)
      ev.push_back("tcp: " + cleanText(a.address, 80) + " " + cleanText(a.error, 40) +
                   (tcp.via_proxy ? " (the route's proxy)" : ""));
  if (tcp.status == LayerStatus::Fail && tcp.attempts.empty())
    ev.push_back(std::string("tcp: ") + (tcp.via_proxy ? "the route's proxy: " : "") + cleanText(tcp.error, 40));
  // The proxy's answer to CONNECT decides before the generic "proxy failed":
  // the engine marks tcp failed via the proxy for any non-2xx, but a 403 is
  // the proxy's own policy page (a middlebox), while 407 or its own 5xx mean
  // the proxy itself failed us.
  if (http.proxy_code != 0 && (http.proxy_code < 200 || http.proxy_code >= 300)) {
    ev.push_back("proxy: the route's proxy answered CONNECT with " + std::to_string(http.proxy_code));
    if (http.proxy_code == 403) {
      ev.push_back("proxy: the proxy refuses this destination by policy, the provider never saw the request");
      decide(Verdict::MiddleboxBlocked);
    } else {
      decide(Verdict::ProxyFailed);
    }
  }
  for (const std::string* e : {&tcp.error, static_cast<const std::string*>(&http.error)}) {
    if (*e != "proxy_forbidden" && *e != "proxy_blocked") continue;
    ev.push_back("proxy: " + cleanText(*e, 40) + ": the proxy blocks this destination");
    decide(Verdict::MiddleboxBlocked);
  }
  if (tcp.status == LayerStatus::Fail && tcp.via_proxy) decide(Verdict::ProxyFailed);
  if (http.status == LayerStatus::Fail && startsWith(http.error, "proxy_")) {
    ev.push_back("proxy: " + cleanText(http.error, 40));
    decide(Verdict::ProxyFailed);
  }
  if (tcp.status == LayerStatus::Fail) decide(Verdict::ConnectFailed);

  // ---- tls
  if (intercept_product)
    ev.push_back("tls: certificate issued by a TLS-inspection product: " + cleanText(intercept_name, 160));
  if (local_ca)
    ev.push_back("tls: chain verifies with ca_file but not with the public roots: issuer " +
                 cleanText(tls.issuer, 160));
  if (tls.status == LayerStatus::Fail) {
    std::string line = "tls: " + cleanText(tls.error, 40);
    if (!tls.issuer.empty()) line += " (issuer " + cleanText(tls.issuer, 160) + ")";
    if (!tls.verify_error.empty()) line += ": " + cleanText(tls.verify_error, 120);
    ev.push_back(line);
    decide(intercept_product || local_ca ? Verdict::TlsIntercepted : Verdict::TlsFailed);
  }
  const bool intercepted = tls.status == LayerStatus::Ok &&
                           (local_ca || intercept_product ||
                            (tls.public_root.has_value() && !*tls.public_root));
  if (intercepted && !local_ca && !intercept_product)
    ev.push_back("tls: chain does not verify with the public roots: issuer " + cleanText(tls.issuer, 160));

  // ---- http
  Analysis a;
  std::optional<Meaning> meaning;
  if (http.status == LayerStatus::Fail && !startsWith(http.error, "proxy_")) {
    ev.push_back("http: " + cleanText(http.error, 40) +
                 (http.code ? " after status " + std::to_string(http.code) : std::string()));
    decide(Verdict::HttpFailed);
  }
  if (http.status == LayerStatus::Ok && http.code > 0) {
    a = analyze(spec, http);
    const std::string code = std::to_string(http.code);
    const std::string msg = http.message.empty() ? std::string() : ": " + inQuotes(http.message);
    std::string fields;
    if (!http.error_type.empty()) fields += http.error_type;
    if (!http.error_code.empty()) fields += (fields.empty() ? "" : "/") + http.error_code;
    if (a.author == Author::Provider) {
      std::string marker;
      for (const auto& [n, val] : http.headers) {
        const std::string lower = sig::toLower(n);
        if (lower == "x-request-id" || lower == "request-id") marker = lower + " " + cleanText(val, 60);
      }
      ev.push_back("http: " + code + " from " + who + (marker.empty() ? "" : " (" + marker + ")") +
                   (fields.empty() ? "" : ": " + fields) + (http.message.empty() ? "" : " " + inQuotes(http.message)));
      meaning = meaningOf(spec, http, key_sent);
      if (meaning->rule) ev.push_back("http: " + std::string(meaning->rule->meaning));
      decide(meaning->verdict);
    } else if (a.block) {
      const char* whose = a.author == Author::Edge ? "the provider's edge" : "a middlebox";
      bool has_request_id = false;
      for (const auto& [n, _] : http.headers) {
        const std::string lower = sig::toLower(n);
        has_request_id |= lower == "x-request-id" || lower == "request-id";
      }
      ev.push_back("http: " + code + " from " + whose + " (" + std::string(a.block->product) +
                   (has_request_id ? "" : ", no request-id") + ")" + msg);
      ev.push_back("http: " + std::string(a.block->meaning));
      decide(blockVerdict(*a.block, http.code));
    } else {
      if (a.provider_shape_without_marker) {
        // The shape is the provider's but its marker header is missing: a
        // region refusal is one either way (SPEC: the provider or its edge);
        // anything else is not trusted enough to blame the key or the account.
        const Meaning m = meaningOf(spec, http, key_sent);
        ev.push_back("http: " + code + " in " + who + "'s error shape but without its marker header" +
                     (fields.empty() ? "" : ": " + fields) + (http.message.empty() ? "" : " " + inQuotes(http.message)));
        if (m.verdict == Verdict::RegionBlocked || m.verdict == Verdict::ProviderError) {
          if (m.rule) ev.push_back("http: " + std::string(m.rule->meaning));
          decide(m.verdict);
        } else {
          ev.push_back("http: not provably " + who + "'s answer, so it says nothing certain about the key");
        }
      } else {
        ev.push_back("http: " + code + " from an unknown server" +
                     (http.message.empty() ? "" : ": " + inQuotes(http.message)));
      }
      decide(Verdict::Unexpected);
    }
    if (http.retry_after_s) ev.push_back("http: retry after " + fmtSeconds(*http.retry_after_s));
    for (const char* name : {"x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens",
                             "anthropic-ratelimit-requests-remaining", "quota_id", "quota_limit"})
      if (auto it = http.rate.find(name); it != http.rate.end())
        ev.push_back("http: " + std::string(name) + "=" + cleanText(it->second, 120));
    for (const auto& [n, val] : http.headers) {
      const std::string lower = sig::toLower(n);
      if (lower == "cf-ray") {
        const auto dash = val.rfind('-');
        if (dash != std::string::npos && dash + 1 < val.size())
          ev.push_back("http: cf-ray site " + cleanText(val.substr(dash + 1), 8));
      } else if (lower == "via" && a.author == Author::Provider && !sig::containsAny(val, "google")) {
        ev.push_back("http: relayed by a proxy (via " + cleanText(val, 80) + ")");
      } else if (lower == "location" && http.code >= 300 && http.code < 400) {
        ev.push_back("http: redirected to " + cleanText(val, 160));
      }
    }
  } else if (http.status != LayerStatus::Fail && !verdict) {
    ev.push_back("http: no answer" +
                 (http.reason.empty() ? std::string() : " (" + cleanText(http.reason, 120) + ")"));
    decide(Verdict::Unexpected);
  }

  // ---- echo: the request as it arrived elsewhere on the same path
  const EchoLayer& echo = r.echo;
  const std::string auth = sig::toLower(authHeaderShape(spec.kind).first);
  bool auth_altered = false, sent_altered = false;
  if (echo.status == LayerStatus::Altered) {
    if (!echo.removed.empty()) ev.push_back("echo: the path removed " + join(echo.removed));
    if (!echo.changed.empty()) ev.push_back("echo: the path changed " + join(echo.changed));
    if (!echo.added.empty()) ev.push_back("echo: the path added " + join(echo.added));
    if (!echo.case_changed.empty()) ev.push_back("echo: the path changed the case of " + join(echo.case_changed));
    for (const auto* list : {&echo.removed, &echo.changed})
      for (const auto& h : *list) {
        const std::string lower = sig::toLower(h);
        if (lower == auth) auth_altered = true;
        if (lower == auth || lower == "anthropic-version" || lower == "user-agent" || lower == "accept")
          sent_altered = true;
      }
  } else if (echo.status == LayerStatus::Fail) {
    ev.push_back("echo: failed: " + cleanText(echo.error, 40));
  }
  if (a.author == Author::Provider && verdict && meaning && *verdict == meaning->verdict) {
    const Verdict v = *verdict;
    const bool key_related = v == Verdict::Ok || v == Verdict::AuthFailed || v == Verdict::PermissionDenied ||
                             v == Verdict::QuotaExhausted || v == Verdict::RateLimited ||
                             v == Verdict::Unexpected;
    const bool client_error = http.code >= 400 && http.code < 500 && v != Verdict::RegionBlocked;
    const bool refusal = v == Verdict::AuthFailed || v == Verdict::PermissionDenied || v == Verdict::Unexpected;
    if ((auth_altered && key_related) || (sent_altered && client_error && refusal)) {
      ev.push_back("echo: the provider's answer was produced by an altered request: it says nothing about " +
                   keyWho(key));
      verdict = Verdict::HeadersRewritten;
    }
  }
  if (verdict == Verdict::HeadersRewritten || verdict == Verdict::AuthFailed) {
    if (key_sent) ev.push_back("key: " + keyWho(key) + " was sent");
  }
  if (key.status == LayerStatus::Skipped && verdict == Verdict::Ok)
    ev.push_back("key: none configured" +
                 (key.reason.empty() ? std::string() : " (" + cleanText(key.reason, 160) + ")") +
                 "; probed without a key");

  // ---- tls_intercepted: reported when nothing worse happened
  if (intercepted && verdict == Verdict::Ok) verdict = Verdict::TlsIntercepted;

  if (r.egress && !r.egress->empty()) {
    std::string line = "egress: " + (r.egress->ip.empty() ? std::string("?") : cleanText(r.egress->ip, 60));
    if (!r.egress->country.empty()) line += " (" + cleanText(r.egress->country, 8) + ")";
    if (!r.egress->colo.empty()) line += " colo " + cleanText(r.egress->colo, 8);
    if (!r.egress->seen_by.empty()) line += " as seen by " + cleanText(r.egress->seen_by, 40);
    ev.push_back(line);
  }
  r.verdict = verdict.value_or(Verdict::Unexpected);
  if (!verdict) ev.push_back("no layer explains the result: every layer passed without a verdict");
}

}  // namespace pathwatch
