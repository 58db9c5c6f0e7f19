#include "pathwatch/report_json.h"

#include <nlohmann/json.hpp>

namespace pathwatch {

using nlohmann::json;

namespace {

// Strings that came off the network (headers, bodies, certificate names) may
// be anything; nlohmann refuses to dump invalid UTF-8, so every string is made
// valid here (bad bytes become U+FFFD) and a dump can never throw.
std::string utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) len = 1, cp = c;
    else if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
    bool ok = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // No overlong forms, no surrogates, nothing past U+10FFFF.
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF))
      ok = false;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

json strings(const std::vector<std::string>& v) {
  json a = json::array();
  for (const auto& s : v) a.push_back(utf8(s));
  return a;
}

// The first `max` bytes, never cutting a UTF-8 sequence in half.
std::string excerpt(const std::string& body, std::size_t max) {
  if (body.size() <= max) return utf8(body);
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(body[cut]) & 0xC0) == 0x80) --cut;
  return utf8(std::string_view(body).substr(0, cut));
}

constexpr std::size_t kBodyExcerpt = 512;

// status, then error only when fail, reason only when skipped.
void putStatus(json& j, LayerStatus status, const std::string& error, const std::string& reason) {
  j["status"] = std::string(toString(status));
  if (status == LayerStatus::Fail) j["error"] = utf8(error.empty() ? "unknown" : error);
  if (status == LayerStatus::Skipped && !reason.empty()) j["reason"] = utf8(reason);
}

void putBase(json& j, const LayerBase& l, bool with_ms = true) {
  putStatus(j, l.status, l.error, l.reason);
  if (with_ms && l.status != LayerStatus::Skipped) j["ms"] = l.ms;
  if (!l.detail.empty()) j["detail"] = utf8(l.detail);
}

void putIf(json& j, const char* key, const std::string& v) {
  if (!v.empty()) j[key] = utf8(v);
}

// The key layer says where the key came from and what is wrong with it,
// never the key: no value field exists to leak.
json keyJson(const KeyLayer& k) {
  json j = json::object();
  putBase(j, k, false);
  j["source"] = utf8(k.source);
  j["read"] = k.read;
  j["length"] = k.length;
  putIf(j, "fingerprint", k.fingerprint);
  j["problems"] = strings(k.problems);
  putIf(j, "looks_like", k.looks_like);
  return j;
}

json dnsJson(const DnsLayer& d) {
  json j = json::object();
  putBase(j, d);
  json answers = json::array();
  for (const auto& a : d.answers) {
    json aj = json::object();
    aj["resolver"] = utf8(a.resolver);
    putStatus(aj, a.status, a.error, "");
    aj["addresses"] = strings(a.addresses);
    if (!a.bogons.empty()) aj["bogons"] = strings(a.bogons);
    aj["ms"] = a.ms;
    // Only an odd answer (resolvers disagree) is checked for TLS under the name.
    if (a.tls_ok) aj["tls_ok"] = *a.tls_ok;
    putIf(aj, "tls_error", a.tls_error);
    answers.push_back(std::move(aj));
  }
  j["answers"] = std::move(answers);
  j["addresses"] = strings(d.addresses);
  j["resolvers_disagree"] = d.resolvers_disagree;
  return j;
}

json tcpJson(const TcpLayer& t) {
  json j = json::object();
  putBase(j, t);
  putIf(j, "address", t.address);
  putIf(j, "local_address", t.local_address);
  putIf(j, "ipv6_route", t.ipv6_route);
  j["via_proxy"] = t.via_proxy;
  if (t.reused) {
    j["reused"] = true;
    j["connection_age_ms"] = t.connection_age_ms;
  }
  if (t.stalled_connection_replaced) j["stalled_connection_replaced"] = true;
  json attempts = json::array();
  for (const auto& a : t.attempts) {
    json aj = json::object();
    aj["address"] = utf8(a.address);
    putIf(aj, "family", a.family);
    putStatus(aj, a.status, a.error, "");
    aj["ms"] = a.ms;
    attempts.push_back(std::move(aj));
  }
  j["attempts"] = std::move(attempts);
  return j;
}

json tlsJson(const TlsLayer& t) {
  json j = json::object();
  putBase(j, t);
  putIf(j, "sni", t.sni);
  putIf(j, "version", t.version);
  putIf(j, "issuer", t.issuer);
  putIf(j, "subject", t.subject);
  putIf(j, "not_after", t.not_after);
  if (!t.chain.empty()) j["chain"] = strings(t.chain);
  if (t.ca_file_ok) j["ca_file_ok"] = *t.ca_file_ok;
  if (t.public_root) j["public_root"] = *t.public_root;
  putIf(j, "verify_error", t.verify_error);
  putIf(j, "small_mss", t.small_mss);
  if (t.reused) j["reused"] = true;
  return j;
}

json httpJson(const HttpLayer& h) {
  json j = json::object();
  putBase(j, h);
  j["method"] = utf8(h.method);
  putIf(j, "url", h.url);
  if (h.code != 0) j["code"] = h.code;
  if (h.proxy_code != 0) j["proxy_code"] = h.proxy_code;
  putIf(j, "authored_by", h.authored_by);
  putIf(j, "error_type", h.error_type);
  putIf(j, "error_code", h.error_code);
  putIf(j, "message", h.message);
  if (h.retry_after_s) j["retry_after_s"] = *h.retry_after_s;
  if (!h.rate.empty()) {
    json rate = json::object();
    for (const auto& [k, v] : h.rate) rate[utf8(k)] = utf8(v);
    j["rate"] = std::move(rate);
  }
  if (h.status != LayerStatus::Skipped) {
    j["timings"] = {{"dns", h.timings.dns},
                    {"connect", h.timings.connect},
                    {"tls", h.timings.tls},
                    {"ttfb", h.timings.ttfb},
                    {"total", h.timings.total}};
  }
  if (!h.headers.empty()) {
    // Order and duplicates matter (who added what), so pairs, not an object.
    json headers = json::array();
    for (const auto& [name, value] : h.headers) headers.push_back(json::array({utf8(name), utf8(value)}));
    j["headers"] = std::move(headers);
  }
  // Evidence, not an archive: a short excerpt of the body only.
  if (!h.body.empty()) j["body_excerpt"] = excerpt(h.body, kBodyExcerpt);
  if (h.body_bytes != 0) j["body_bytes"] = h.body_bytes;
  if (h.body_truncated || h.body.size() > kBodyExcerpt) j["body_truncated"] = true;
  return j;
}

json echoJson(const EchoLayer& e) {
  json j = json::object();
  putBase(j, e);
  putIf(j, "endpoint", e.endpoint);
  j["added"] = strings(e.added);
  j["removed"] = strings(e.removed);
  j["changed"] = strings(e.changed);
  j["case_changed"] = strings(e.case_changed);
  putIf(j, "client_address", e.client_address);
  if (!e.evidence.empty()) j["evidence"] = strings(e.evidence);
  return j;
}

// ---------------------------------------------------------------------------
// Reading back. Tolerant of missing fields (documents from older versions),
// strict about the ones that carry meaning (status, verdict names).

std::string getStr(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
double getNum(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}
int64_t getInt(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}
bool getBool(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
std::optional<bool> getOptBool(const json& j, const char* key) {
  auto it = j.find(key);
  if (it != j.end() && it->is_boolean()) return it->get<bool>();
  return std::nullopt;
}
std::vector<std::string> getStrings(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}
const json& getObj(const json& j, const char* key) {
  static const json empty = json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : empty;
}

std::optional<LayerStatus> statusFrom(const json& j) {
  const std::string s = getStr(j, "status");
  if (s == "ok") return LayerStatus::Ok;
  if (s == "fail") return LayerStatus::Fail;
  if (s == "altered") return LayerStatus::Altered;
  if (s == "skipped") return LayerStatus::Skipped;
  return std::nullopt;
}

bool readBase(const json& j, LayerBase& l) {
  if (!j.is_object()) return false;
  auto status = statusFrom(j);
  if (!status) return false;
  l.status = *status;
  l.detail = getStr(j, "detail");
  l.error = getStr(j, "error");
  l.reason = getStr(j, "reason");
  l.ms = getNum(j, "ms");
  return true;
}

std::optional<Egress> egressFrom(const json& j) {
  if (!j.is_object()) return std::nullopt;
  Egress e;
  e.ip = getStr(j, "ip");
  e.country = getStr(j, "country");
  e.colo = getStr(j, "colo");
  e.seen_by = getStr(j, "seen_by");
  return e;
}

bool readLayers(const json& layers, RouteResult& r) {
  if (!layers.is_object()) return false;
  const json& k = getObj(layers, "key");
  if (!readBase(k, r.key)) return false;
  r.key.source = getStr(k, "source");
  r.key.read = getBool(k, "read");
  r.key.length = static_cast<std::size_t>(getInt(k, "length"));
  r.key.fingerprint = getStr(k, "fingerprint");
  r.key.problems = getStrings(k, "problems");
  r.key.looks_like = getStr(k, "looks_like");

  const json& d = getObj(layers, "dns");
  if (!readBase(d, r.dns)) return false;
  if (auto it = d.find("answers"); it != d.end() && it->is_array()) {
    for (const auto& aj : *it) {
      if (!aj.is_object()) continue;
      DnsAnswer a;
      a.resolver = getStr(aj, "resolver");
      a.status = statusFrom(aj).value_or(LayerStatus::Fail);
      a.error = getStr(aj, "error");
      a.addresses = getStrings(aj, "addresses");
      a.bogons = getStrings(aj, "bogons");
      a.ms = getNum(aj, "ms");
      a.tls_ok = getOptBool(aj, "tls_ok");
      a.tls_error = getStr(aj, "tls_error");
      r.dns.answers.push_back(std::move(a));
    }
  }
  r.dns.addresses = getStrings(d, "addresses");
  r.dns.resolvers_disagree = getBool(d, "resolvers_disagree");

  const json& t = getObj(layers, "tcp");
  if (!readBase(t, r.tcp)) return false;
  r.tcp.address = getStr(t, "address");
  r.tcp.local_address = getStr(t, "local_address");
  r.tcp.via_proxy = getBool(t, "via_proxy");
  r.tcp.ipv6_route = getStr(t, "ipv6_route");
  r.tcp.reused = getBool(t, "reused");
  r.tcp.connection_age_ms = getNum(t, "connection_age_ms");
  r.tcp.stalled_connection_replaced = getBool(t, "stalled_connection_replaced");
  if (auto it = t.find("attempts"); it != t.end() && it->is_array()) {
    for (const auto& aj : *it) {
      if (!aj.is_object()) continue;
      TcpAttempt a;
      a.address = getStr(aj, "address");
      a.family = getStr(aj, "family");
      a.status = statusFrom(aj).value_or(LayerStatus::Fail);
      a.error = getStr(aj, "error");
      a.ms = getNum(aj, "ms");
      r.tcp.attempts.push_back(std::move(a));
    }
  }

  const json& s = getObj(layers, "tls");
  if (!readBase(s, r.tls)) return false;
  r.tls.sni = getStr(s, "sni");
  r.tls.version = getStr(s, "version");
  r.tls.issuer = getStr(s, "issuer");
  r.tls.subject = getStr(s, "subject");
  r.tls.not_after = getStr(s, "not_after");
  r.tls.chain = getStrings(s, "chain");
  r.tls.ca_file_ok = getOptBool(s, "ca_file_ok");
  r.tls.public_root = getOptBool(s, "public_root");
  r.tls.verify_error = getStr(s, "verify_error");
  r.tls.small_mss = getStr(s, "small_mss");
  r.tls.reused = getBool(s, "reused");

  const json& h = getObj(layers, "http");
  if (!readBase(h, r.http)) return false;
  if (auto m = getStr(h, "method"); !m.empty()) r.http.method = m;
  r.http.url = getStr(h, "url");
  r.http.code = static_cast<int>(getInt(h, "code"));
  r.http.proxy_code = static_cast<int>(getInt(h, "proxy_code"));
  r.http.authored_by = getStr(h, "authored_by");
  r.http.error_type = getStr(h, "error_type");
  r.http.error_code = getStr(h, "error_code");
  r.http.message = getStr(h, "message");
  if (auto it = h.find("retry_after_s"); it != h.end() && it->is_number())
    r.http.retry_after_s = it->get<double>();
  for (const auto& [k2, v] : getObj(h, "rate").items())
    if (v.is_string()) r.http.rate[k2] = v.get<std::string>();
  const json& tm = getObj(h, "timings");
  r.http.timings = {getNum(tm, "dns"), getNum(tm, "connect"), getNum(tm, "tls"),
                    getNum(tm, "ttfb"), getNum(tm, "total")};
  if (auto it = h.find("headers"); it != h.end() && it->is_array())
    for (const auto& pair : *it)
      if (pair.is_array() && pair.size() == 2 && pair[0].is_string() && pair[1].is_string())
        r.http.headers.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
  r.http.body = getStr(h, "body_excerpt");
  r.http.body_bytes = static_cast<std::size_t>(getInt(h, "body_bytes"));
  r.http.body_truncated = getBool(h, "body_truncated");

  const json& e = getObj(layers, "echo");
  if (!readBase(e, r.echo)) return false;
  r.echo.endpoint = getStr(e, "endpoint");
  r.echo.added = getStrings(e, "added");
  r.echo.removed = getStrings(e, "removed");
  r.echo.changed = getStrings(e, "changed");
  r.echo.case_changed = getStrings(e, "case_changed");
  r.echo.client_address = getStr(e, "client_address");
  r.echo.evidence = getStrings(e, "evidence");
  return true;
}

}  // namespace

json toJson(const Egress& e) {
  json j = json::object();
  putIf(j, "ip", e.ip);
  putIf(j, "country", e.country);
  putIf(j, "colo", e.colo);
  putIf(j, "seen_by", e.seen_by);
  return j;
}

json toJson(const RouteResult& r) {
  json j = json::object();
  j["route"] = utf8(r.route);
  j["provider"] = utf8(r.provider);
  j["verdict"] = std::string(toString(r.verdict));
  j["cause"] = std::string(toString(causeOf(r.verdict)));
  j["evidence"] = strings(r.evidence);
  putIf(j, "started_at", r.started_at);
  j["ms"] = r.ms;
  if (r.egress) j["egress"] = toJson(*r.egress);
  j["layers"] = {{"key", keyJson(r.key)},   {"dns", dnsJson(r.dns)},    {"tcp", tcpJson(r.tcp)},
                 {"tls", tlsJson(r.tls)},   {"http", httpJson(r.http)}, {"echo", echoJson(r.echo)}};
  return j;
}

json toJson(const Diagnosis& d) {
  return {{"verdict", std::string(toString(d.verdict))},
          {"cause", std::string(toString(d.cause))},
          {"working_routes", strings(d.working_routes)},
          {"summary", utf8(d.summary)}};
}

json toJson(const ProviderReport& p) {
  json routes = json::array();
  for (const auto& r : p.routes) routes.push_back(toJson(r));
  return {{"name", utf8(p.name)}, {"diagnosis", toJson(p.diagnosis)}, {"routes", std::move(routes)}};
}

json toJson(const CheckReport& c) {
  json j = json::object();
  j["version"] = c.version;
  j["started_at"] = utf8(c.started_at);
  j["duration_ms"] = c.duration_ms;
  j["ok"] = c.allOk();
  json routes = json::array();
  for (const auto& r : c.routes) {
    json rj = {{"name", utf8(r.name)}};
    // Always present, null when no vantage point reported it, so scripts can
    // index it without checking.
    rj["egress"] = r.egress ? toJson(*r.egress) : json(nullptr);
    if (!r.binding_error.empty()) rj["binding_error"] = utf8(r.binding_error);
    routes.push_back(std::move(rj));
  }
  j["routes"] = std::move(routes);
  json providers = json::array();
  for (const auto& p : c.providers) providers.push_back(toJson(p));
  j["providers"] = std::move(providers);
  if (c.host) {
    json h = json::object();
    if (c.host->clock_offset_s) h["clock_offset_s"] = *c.host->clock_offset_s;
    h["clock_samples"] = c.host->clock_samples;
    if (!c.host->tls_time_servers.empty()) h["tls_time_servers"] = strings(c.host->tls_time_servers);
    j["host"] = std::move(h);
  }
  return j;
}

std::optional<RouteResult> routeResultFromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  RouteResult r;
  r.route = getStr(j, "route");
  r.provider = getStr(j, "provider");
  auto v = verdictFromString(getStr(j, "verdict"));
  if (!v || r.route.empty()) return std::nullopt;
  r.verdict = *v;
  r.evidence = getStrings(j, "evidence");
  r.started_at = getStr(j, "started_at");
  r.ms = getNum(j, "ms");
  if (auto it = j.find("egress"); it != j.end()) r.egress = egressFrom(*it);
  if (!readLayers(getObj(j, "layers"), r)) return std::nullopt;
  return r;
}

std::optional<Diagnosis> diagnosisFromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  Diagnosis d;
  auto v = verdictFromString(getStr(j, "verdict"));
  auto c = causeFromString(getStr(j, "cause"));
  if (!v || !c) return std::nullopt;
  d.verdict = *v;
  d.cause = *c;
  d.working_routes = getStrings(j, "working_routes");
  d.summary = getStr(j, "summary");
  return d;
}

std::optional<ProviderReport> providerReportFromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  ProviderReport p;
  p.name = getStr(j, "name");
  auto d = diagnosisFromJson(getObj(j, "diagnosis"));
  if (p.name.empty() || !d) return std::nullopt;
  p.diagnosis = *d;
  auto it = j.find("routes");
  if (it == j.end() || !it->is_array()) return std::nullopt;
  for (const auto& rj : *it) {
    auto r = routeResultFromJson(rj);
    if (!r) return std::nullopt;
    if (r->provider.empty()) r->provider = p.name;
    p.routes.push_back(std::move(*r));
  }
  return p;
}

std::optional<CheckReport> checkReportFromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  CheckReport c;
  c.version = static_cast<int>(getInt(j, "version"));
  if (c.version != 1) return std::nullopt;
  c.started_at = getStr(j, "started_at");
  c.duration_ms = getInt(j, "duration_ms");
  auto routes = j.find("routes");
  auto providers = j.find("providers");
  if (routes == j.end() || !routes->is_array() || providers == j.end() || !providers->is_array())
    return std::nullopt;
  for (const auto& rj : *routes) {
    if (!rj.is_object()) return std::nullopt;
    RouteReport r;
    r.name = getStr(rj, "name");
    if (auto it = rj.find("egress"); it != rj.end()) r.egress = egressFrom(*it);
    r.binding_error = getStr(rj, "binding_error");
    c.routes.push_back(std::move(r));
  }
  for (const auto& pj : *providers) {
    auto p = providerReportFromJson(pj);
    if (!p) return std::nullopt;
    c.providers.push_back(std::move(*p));
  }
  if (auto it = j.find("host"); it != j.end() && it->is_object()) {
    HostReport h;
    if (auto o = it->find("clock_offset_s"); o != it->end() && o->is_number()) h.clock_offset_s = o->get<double>();
    h.clock_samples = static_cast<int>(getInt(*it, "clock_samples"));
    h.tls_time_servers = getStrings(*it, "tls_time_servers");
    c.host = std::move(h);
  }
  return c;
}

}  // namespace pathwatch
