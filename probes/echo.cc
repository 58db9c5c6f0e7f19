#include "echo.h"

#include "pathwatch/text.h"
#include "providers/provider_def.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

namespace pathwatch {
namespace {

// splitmix64: small, deterministic, good enough to vary case and canaries.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

std::string hex(Rng& rng, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  while (out.size() < n) {
    uint64_t v = rng.next();
    for (int i = 0; i < 16 && out.size() < n; ++i, v >>= 4) out.push_back(kDigits[v & 0xf]);
  }
  return out;
}

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
char upperAscii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }


// "x-api-key" -> "X-Api-Key": what canonicalising stacks (Go, httpbin) produce.
std::string titleCase(std::string_view s) {
  std::string out(s);
  bool start = true;
  for (char& c : out) {
    c = start ? upperAscii(c) : lowerAscii(c);
    start = (c == '-');
  }
  return out;
}

// Mixed capitalisation that differs from all-lower, all-upper and Title-Case,
// so both lower-casing (HTTP/2, some proxies) and canonicalising stacks show.
std::string mixCase(std::string_view name, Rng& rng) {
  const std::string lo = toLower(name);
  const std::string title = titleCase(name);
  std::string up(name);
  for (char& c : up) c = upperAscii(c);
  for (int attempt = 0; attempt < 8; ++attempt) {
    uint64_t bits = rng.next();
    std::string out(lo);
    for (char& c : out) {
      if (isAlpha(c)) {
        if (bits & 1) c = upperAscii(c);
        bits >>= 1;
      }
    }
    if (out != lo && out != title && out != up) return out;
  }
  // Fallback: lower case with the last letter upper ("hosT").
  std::string out(lo);
  for (auto it = out.rbegin(); it != out.rend(); ++it) {
    if (isAlpha(*it)) {
      *it = upperAscii(*it);
      break;
    }
  }
  return out;
}

// A canary in a provider's key shape (prefix and rough length, so a proxy
// that matches keys by shape treats it like one) that says plainly what it is.
std::string canaryToken(const ProviderDef& def, Rng& rng) {
  std::string out(def.canary);
  for (char& c : out)
    if (c == '#') c = hex(rng, 1)[0];
  return out;
}

// Hop-by-hop headers (RFC 9110 7.6.1: a conforming proxy must drop or replace
// them, so they say nothing about the path touching end-to-end headers) and
// framing headers a client stack adds on its own depending on the body
// (Content-Length: 0, Expect: 100-continue). Proxy-Connection is curl's own
// (sent to HTTP proxies), not the path's.
constexpr std::array<std::string_view, 9> kNoise = {
    "connection", "keep-alive",        "proxy-connection", "te",     "trailer",
    "upgrade",    "transfer-encoding", "content-length",   "expect"};

// An httpbin-style echo's own front end adds this to every request (AWS ALB).
constexpr std::string_view kHttpbinNoise = "x-amzn-trace-id";

void addUnique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

std::string joinNames(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

void failEcho(EchoLayer& out, std::string error, std::string evidence) {
  out.status = LayerStatus::Fail;
  out.error = std::move(error);
  out.evidence.push_back(std::move(evidence));
}

void setStatusFromLists(EchoLayer& e) {
  const bool altered =
      !e.added.empty() || !e.removed.empty() || !e.changed.empty() || !e.case_changed.empty();
  e.status = altered ? LayerStatus::Altered : LayerStatus::Ok;
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

bool isEchoNoiseHeader(std::string_view name) {
  const std::string lo = toLower(name);
  return std::find(kNoise.begin(), kNoise.end(), lo) != kNoise.end();
}

EchoRequest buildEchoRequest(const std::string& endpoint, const std::vector<const ProviderDef*>& shapes,
                             uint64_t seed) {
  Rng rng{seed};
  EchoRequest req;
  req.url = endpoint;
  const std::string probe_id = hex(rng, 16);

  HeaderList plain;
  // Host, User-Agent and Accept are sent explicitly so the client stack adds
  // none of its own and their case is checked like the rest.
  if (const auto url = parseUrl(endpoint)) {
    std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
    const uint16_t default_port = url->scheme == "https" ? 443 : 80;
    if (url->port != default_port) host += ":" + std::to_string(url->port);
    plain.emplace_back("Host", host);
  }
  plain.emplace_back("User-Agent", "pathwatch-echo/1");
  plain.emplace_back("Accept", "application/json");
  auto has = [&plain](std::string_view name) {
    for (const auto& [n, v] : plain)
      if (iequals(n, name)) return true;
    return false;
  };
  // Each provider's auth header once, in the shape of the first provider
  // that uses it, and the fixed headers providers need (anthropic-version).
  for (const ProviderDef* def : shapes) {
    if (!def) continue;
    if (!has(def->auth_header)) {
      std::string canary = std::string(def->auth_prefix) + canaryToken(*def, rng);
      plain.emplace_back(std::string(def->auth_header), canary);
      req.canaries.push_back(std::move(canary));
    }
    for (const auto& [name, value] : def->headers)
      if (!has(name)) plain.emplace_back(std::string(name), std::string(value));
  }
  plain.emplace_back("X-Pathwatch-Probe", probe_id);
  // The value's case is checked too (through `changed`).
  plain.emplace_back("X-Pathwatch-Case-Check", "MiXeD-CaSe-" + probe_id.substr(0, 8));
  for (auto& [name, value] : plain) req.headers.emplace_back(mixCase(name, rng), value);
  return req;
}

void compareEcho(const EchoRequest& sent, int status, const HeaderList& /*response_headers*/,
                 const std::string& body, EchoLayer& out) {
  out.endpoint = sent.url;
  out.added.clear();
  out.removed.clear();
  out.changed.clear();
  out.case_changed.clear();
  out.client_address.clear();
  out.error.clear();
  if (status < 200 || status > 299) {
    failEcho(out, "echo_http_" + std::to_string(status),
             "echo endpoint answered HTTP " + std::to_string(status) + ", not an echo");
    return;
  }
  if (!jsonNestingWithin(body, 32)) {
    failEcho(out, "echo_bad_response", "echo answer is not an echo (JSON nested too deep)");
    return;
  }
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("headers")) {
    failEcho(out, "echo_bad_response", "echo answer is not echo JSON (no \"headers\")");
    return;
  }
  const auto& jh = j["headers"];
  HeaderList received;
  bool case_judgeable = false;
  bool httpbin = false;
  if (jh.is_array() && j.contains("request_line")) {  // pathwatch echo-server
    for (const auto& pair : jh) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
        failEcho(out, "echo_bad_response", "echo answer has a malformed header entry");
        return;
      }
      received.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
    }
    case_judgeable = true;
    if (j.contains("client") && j["client"].is_object() && j["client"].contains("address") &&
        j["client"]["address"].is_string()) {
      out.client_address = j["client"]["address"].get<std::string>();
    }
  } else if (jh.is_object()) {  // httpbin-style /anything
    httpbin = true;
    for (const auto& [name, value] : jh.items()) {
      if (!value.is_string()) {
        failEcho(out, "echo_bad_response", "echo answer has a non-string header value");
        return;
      }
      received.emplace_back(name, value.get<std::string>());
    }
    if (j.contains("origin") && j["origin"].is_string()) {
      // "client, proxy": the last hop is the address that reached the echo's front end.
      const std::string origin = j["origin"].get<std::string>();
      const std::size_t comma = origin.rfind(',');
      out.client_address = trimmed(comma == std::string::npos ? origin : origin.substr(comma + 1));
    }
    out.evidence.push_back(
        "httpbin-style echo: it rewrites header name case itself, so case changes on the path "
        "cannot be judged (run `pathwatch echo-server` for that)");
  } else {
    failEcho(out, "echo_bad_response", "echo answer is neither pathwatch nor httpbin format");
    return;
  }

  std::vector<bool> used(received.size(), false);
  for (const auto& [name, value] : sent.headers) {
    const std::string lo = toLower(name);
    std::size_t match = received.size();
    for (std::size_t i = 0; i < received.size(); ++i) {
      if (!used[i] && toLower(received[i].first) == lo) {
        match = i;
        break;
      }
    }
    if (match == received.size()) {
      if (!isEchoNoiseHeader(lo)) addUnique(out.removed, lo);
      continue;
    }
    used[match] = true;
    if (trimmed(received[match].second) != trimmed(value)) addUnique(out.changed, lo);
    if (case_judgeable && received[match].first != name) addUnique(out.case_changed, lo);
  }
  for (std::size_t i = 0; i < received.size(); ++i) {
    if (used[i]) continue;
    const std::string lo = toLower(received[i].first);
    if (isEchoNoiseHeader(lo) || (httpbin && lo == kHttpbinNoise)) continue;
    addUnique(out.added, lo);
  }
  setStatusFromLists(out);

  // Evidence names headers, never values: a path that swaps the canary for a
  // real key must not get that key into a report.
  for (const auto& [name, value] : sent.headers) {
    if (std::find(sent.canaries.begin(), sent.canaries.end(), value) == sent.canaries.end()) continue;
    const std::string lo = toLower(name);
    if (std::find(out.removed.begin(), out.removed.end(), lo) != out.removed.end()) {
      out.evidence.push_back("the auth header (" + lo +
                             ") did not reach the echo: something on the path strips it");
    } else if (std::find(out.changed.begin(), out.changed.end(), lo) != out.changed.end()) {
      out.evidence.push_back("the auth header (" + lo +
                             ") reached the echo with a different value: something on the path "
                             "replaces it");
    }
  }
  if (!out.added.empty()) out.evidence.push_back("echo saw headers added: " + joinNames(out.added));
  if (!out.removed.empty()) {
    out.evidence.push_back("echo saw headers removed: " + joinNames(out.removed));
  }
  if (!out.changed.empty()) {
    out.evidence.push_back("echo saw header values changed: " + joinNames(out.changed));
  }
  if (!out.case_changed.empty()) {
    out.evidence.push_back("echo saw header name case changed: " + joinNames(out.case_changed));
  }
}

void discountCommonEchoAdditions(const std::vector<EchoLayer*>& echoes) {
  std::vector<EchoLayer*> answered;
  for (EchoLayer* e : echoes)
    if (e && (e->status == LayerStatus::Ok || e->status == LayerStatus::Altered)) answered.push_back(e);
  if (answered.size() < 2) return;
  std::set<std::string> common(answered.front()->added.begin(), answered.front()->added.end());
  for (const EchoLayer* e : answered) {
    std::set<std::string> mine(e->added.begin(), e->added.end());
    std::set<std::string> keep;
    std::set_intersection(common.begin(), common.end(), mine.begin(), mine.end(),
                          std::inserter(keep, keep.begin()));
    common.swap(keep);
  }
  if (common.empty()) return;
  std::vector<std::string> names(common.begin(), common.end());
  for (EchoLayer* e : answered) {
    auto& added = e->added;
    added.erase(std::remove_if(added.begin(), added.end(),
                               [&](const std::string& n) { return common.count(n) > 0; }),
                added.end());
    // The summary line compareEcho wrote is stale now.
    auto& ev = e->evidence;
    ev.erase(std::remove_if(ev.begin(), ev.end(),
                            [](const std::string& s) { return s.rfind("echo saw headers added: ", 0) == 0; }),
             ev.end());
    if (!added.empty()) ev.push_back("echo saw headers added: " + joinNames(added));
    ev.push_back("not blamed on this route: " + joinNames(names) +
                 " (added on every route: the echo's own front end)");
    setStatusFromLists(*e);
  }
}

}  // namespace pathwatch
