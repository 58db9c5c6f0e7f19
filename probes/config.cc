#include "pathwatch/config.h"

#include "providers/provider_def.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace pathwatch {

using nlohmann::json;

namespace {

std::string joinWhat(const std::string& file, const std::string& key_path,
                     const std::string& problem) {
  std::string out = file;
  if (!key_path.empty()) out += ": " + key_path;
  return out + ": " + problem;
}

}  // namespace

ConfigError::ConfigError(std::string file_in, std::string key_path_in, std::string problem_in)
    : std::runtime_error(joinWhat(file_in, key_path_in, problem_in)),
      file(std::move(file_in)),
      key_path(std::move(key_path_in)),
      problem(std::move(problem_in)) {}

bool RouteConfig::proxyResolvesRemotely() const {
  // socks5 resolves locally (our dns layer runs); http(s) CONNECT and socks5h
  // hand the name to the proxy.
  return kind == RouteKind::Proxy && proxy_scheme != ProxyScheme::Socks5;
}

bool CidrRange::contains(const uint8_t* addr, bool addr_v6) const {
  if (addr_v6 != v6) return false;
  const int full = prefix / 8;
  if (std::memcmp(addr, bytes, static_cast<std::size_t>(full)) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (addr[full] & mask) == (bytes[full] & mask);
}

namespace {

// ---------------------------------------------------------------------------
// Addresses (inet_pton only: pure, never a resolver).

struct IpAddr {
  bool v6 = false;
  uint8_t bytes[16] = {};
};

std::optional<IpAddr> parseIp(const std::string& text) {
  IpAddr ip;
  if (inet_pton(AF_INET, text.c_str(), ip.bytes) == 1) return ip;
  if (inet_pton(AF_INET6, text.c_str(), ip.bytes) == 1) {
    ip.v6 = true;
    return ip;
  }
  return std::nullopt;
}

std::optional<CidrRange> parseCidr(const std::string& text, std::string& problem) {
  const auto slash = text.find('/');
  const std::string addr_text = text.substr(0, slash);
  auto ip = parseIp(addr_text);
  if (!ip) {
    problem = "\"" + text + "\" is not a CIDR range (expected e.g. \"10.20.0.0/16\" or \"fd00::/8\")";
    return std::nullopt;
  }
  CidrRange range;
  range.text = text;
  range.v6 = ip->v6;
  std::memcpy(range.bytes, ip->bytes, sizeof range.bytes);
  const int max_prefix = ip->v6 ? 128 : 32;
  range.prefix = max_prefix;
  if (slash != std::string::npos) {
    const std::string_view p = std::string_view(text).substr(slash + 1);
    int value = -1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || value < 0 ||
        value > max_prefix) {
      problem = "\"" + text + "\" has a bad prefix length (0.." + std::to_string(max_prefix) + ")";
      return std::nullopt;
    }
    range.prefix = value;
  }
  // Host bits set is almost always a typo ("10.20.1.0/16"): say what was meant.
  CidrRange masked = range;
  const int len = ip->v6 ? 16 : 4;
  for (int i = 0; i < len; ++i) {
    const int bits = std::clamp(range.prefix - i * 8, 0, 8);
    masked.bytes[i] = static_cast<uint8_t>(masked.bytes[i] & (bits == 0 ? 0 : (0xFF << (8 - bits))));
  }
  if (std::memcmp(masked.bytes, range.bytes, sizeof range.bytes) != 0) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(ip->v6 ? AF_INET6 : AF_INET, masked.bytes, buf, sizeof buf);
    problem = "\"" + text + "\" has host bits set; did you mean \"" + buf + "/" +
              std::to_string(range.prefix) + "\"?";
    return std::nullopt;
  }
  return range;
}

struct Special {
  uint8_t bytes[16];
  int prefix;
};

bool inRange(const uint8_t* addr, const uint8_t* net, int prefix) {
  CidrRange r;
  std::memcpy(r.bytes, net, 16);
  r.prefix = prefix;
  r.v6 = false;  // only used for the bit comparison
  return r.contains(addr, false);
}

bool isSpecialV4(const uint8_t* a) {
  static const Special kV4[] = {
      {{0, 0, 0, 0}, 8},          // "this network"
      {{10, 0, 0, 0}, 8},         // private
      {{100, 64, 0, 0}, 10},      // CGNAT
      {{127, 0, 0, 0}, 8},        // loopback
      {{169, 254, 0, 0}, 16},     // link-local
      {{172, 16, 0, 0}, 12},      // private
      {{192, 0, 0, 0}, 24},       // IETF protocol assignments
      {{192, 0, 2, 0}, 24},       // TEST-NET-1
      {{192, 88, 99, 0}, 24},     // 6to4 relay anycast (deprecated)
      {{192, 168, 0, 0}, 16},     // private
      {{198, 18, 0, 0}, 15},      // benchmarking; proxy clients' "fake-ip" answers
      {{198, 51, 100, 0}, 24},    // TEST-NET-2
      {{203, 0, 113, 0}, 24},     // TEST-NET-3
      {{224, 0, 0, 0}, 4},        // multicast
      {{240, 0, 0, 0}, 4},        // reserved, includes 255.255.255.255
  };
  for (const auto& s : kV4)
    if (inRange(a, s.bytes, s.prefix)) return true;
  return false;
}

bool isSpecialV6(const uint8_t* a) {
  static const Special kV6[] = {
      {{0x01, 0x00}, 64},                      // discard-only
      {{0x20, 0x01, 0x00, 0x00}, 23},          // IETF protocol assignments (Teredo, ORCHID, ...)
      {{0x20, 0x01, 0x0d, 0xb8}, 32},          // documentation
      {{0x3f, 0xff}, 20},                      // documentation (RFC 9637)
      {{0x5f, 0x00}, 16},                      // SRv6 SIDs
  };
  // Only 2000::/3 is global unicast; everything else (::, ::1, fc00::/7,
  // fe80::/10, ff00::/8, ...) is special-use.
  if ((a[0] & 0xE0) != 0x20) return true;
  for (const auto& s : kV6)
    if (inRange(a, s.bytes, s.prefix)) return true;
  return false;
}

bool allowedBy(const std::vector<CidrRange>& allowed, const uint8_t* addr, bool v6) {
  for (const auto& r : allowed)
    if (r.contains(addr, v6)) return true;
  return false;
}

// ---------------------------------------------------------------------------
// The parser: a thin layer over nlohmann that knows where it is.

const char* typeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "something else";
  }
}

// Classic edit distance, for "did you mean" on unknown keys.
std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& problem) const {
    throw ConfigError(file_, path, problem);
  }

  void requireType(const json& v, const std::string& path, json::value_t want,
                   const char* want_name) const {
    const bool ok = want == json::value_t::number_integer
                        ? (v.is_number_integer() || v.is_number_unsigned())
                        : v.type() == want;
    if (!ok) fail(path, std::string("expected ") + want_name + ", got " + typeName(v));
  }

  // Rejects keys not in `known`; the message suggests the closest one.
  void checkKeys(const json& obj, const std::string& path,
                 std::initializer_list<std::string_view> known) const {
    for (const auto& [key, value] : obj.items()) {
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string problem = "unknown key";
      std::size_t best = 3;
      std::string_view suggestion;
      for (auto k : known) {
        const std::size_t d = editDistance(key, k);
        if (d < best) best = d, suggestion = k;
      }
      if (!suggestion.empty()) problem += " (did you mean \"" + std::string(suggestion) + "\"?)";
      fail(join(path, key), problem);
    }
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  static std::string index(const std::string& path, std::size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  const json& object(const json& v, const std::string& path) const {
    requireType(v, path, json::value_t::object, "an object");
    return v;
  }
  const json& array(const json& v, const std::string& path) const {
    requireType(v, path, json::value_t::array, "an array");
    return v;
  }
  std::string string(const json& v, const std::string& path) const {
    requireType(v, path, json::value_t::string, "a string");
    return v.get<std::string>();
  }
  std::string nonEmptyString(const json& v, const std::string& path) const {
    std::string s = string(v, path);
    if (s.empty()) fail(path, "must not be empty");
    return s;
  }
  bool boolean(const json& v, const std::string& path) const {
    requireType(v, path, json::value_t::boolean, "true or false");
    return v.get<bool>();
  }
  int64_t integer(const json& v, const std::string& path, int64_t lo, int64_t hi) const {
    requireType(v, path, json::value_t::number_integer, "an integer");
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
      fail(path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    const int64_t n = v.get<int64_t>();
    if (n < lo || n > hi)
      fail(path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return n;
  }
  Millis duration(const json& v, const std::string& path, Millis min, Millis max) const {
    if (v.is_number())
      fail(path, "a duration is a string with a unit, e.g. \"10s\", \"500ms\", \"5m\"");
    const std::string text = string(v, path);
    auto d = parseDuration(text);
    if (!d)
      fail(path, "\"" + text +
                     "\" is not a duration (a number and one of ms, s, m, h, d, e.g. \"10s\")");
    if (*d < min)
      fail(path, "\"" + text + "\" is too short (at least " + formatDuration(min) + ")");
    if (*d > max)
      fail(path, "\"" + text + "\" is too long (at most " + formatDuration(max) + ")");
    return *d;
  }
  std::string absolutePath(const json& v, const std::string& path) const {
    std::string s = nonEmptyString(v, path);
    if (s.front() != '/') fail(path, "\"" + s + "\" must be an absolute path");
    if (s.find('\0') != std::string::npos) fail(path, "contains a NUL byte");
    return s;
  }
  std::string httpUrl(const json& v, const std::string& path) const {
    std::string s = nonEmptyString(v, path);
    if (!parseUrl(s))
      fail(path, "\"" + s + "\" is not an absolute http:// or https:// URL with a host");
    if (s.find_first_of(" \t\r\n") != std::string::npos)
      fail(path, "\"" + s + "\" contains whitespace");
    return s;
  }
  // Provider and route names appear on the command line, in alerts and in
  // history: keep them plain.
  std::string name(const json& v, const std::string& path) const {
    std::string s = nonEmptyString(v, path);
    if (s.size() > 64) fail(path, "names are at most 64 characters");
    for (char c : s) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
      if (!ok)
        fail(path, "\"" + s + "\": names use only letters, digits, '-', '_' and '.'");
    }
    return s;
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

// ---------------------------------------------------------------------------
// Sections.

bool validEnvName(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// "openai, anthropic, ...": for messages.
std::string knownKinds() {
  std::string out;
  for (const ProviderDef* d : providerDefs()) out += (out.empty() ? "" : ", ") + std::string(d->id);
  return out;
}
std::string knownBuiltins() {
  std::string out;
  for (const auto& spec : builtinProviders()) out += (out.empty() ? "" : ", ") + spec.name;
  return out;
}

bool looksLikeSecretKey(std::string_view k) {
  static const std::string_view kNames[] = {"key", "api_key", "apikey", "token", "secret",
                                            "password", "bot_token", "api-key"};
  for (auto n : kNames)
    if (k == n) return true;
  return false;
}

std::vector<ProviderConfig> parseProviders(const Parser& p, const json& arr) {
  const std::string base = "providers";
  p.array(arr, base);
  std::vector<ProviderConfig> builtins;
  for (const auto& spec : builtinProviders())
    builtins.push_back(ProviderConfig{spec, spec.def->default_enabled, {}, {}});
  std::vector<ProviderConfig> custom;
  std::map<std::string, std::size_t> seen;  // name -> index in the file

  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string path = Parser::index(base, i);
    const json& entry = p.object(arr[i], path);
    for (const auto& [k, v] : entry.items())
      if (looksLikeSecretKey(k))
        p.fail(Parser::join(path, k),
               "a key never goes in the config file; name where to read it with \"key_env\" "
               "(an environment variable) or \"key_file\" (a file)");
    p.checkKeys(entry, path, {"name", "enabled", "key_env", "key_file", "kind", "base_url"});
    if (!entry.contains("name")) p.fail(path, "missing \"name\"");
    const std::string name = p.name(entry["name"], Parser::join(path, "name"));
    if (auto [it, inserted] = seen.emplace(name, i); !inserted)
      p.fail(Parser::join(path, "name"), "duplicate provider \"" + name + "\" (also " +
                                             Parser::index(base, it->second) + ")");

    ProviderConfig pc;
    if (entry.contains("enabled")) pc.enabled = p.boolean(entry["enabled"], Parser::join(path, "enabled"));
    if (entry.contains("key_env")) {
      const std::string kp = Parser::join(path, "key_env");
      std::string env = p.nonEmptyString(entry["key_env"], kp);
      if (!validEnvName(env))
        p.fail(kp, "\"" + env + "\" is not an environment variable name (letters, digits, '_')");
      pc.key_env = env;
    }
    if (entry.contains("key_file")) pc.key_file = p.absolutePath(entry["key_file"], Parser::join(path, "key_file"));
    if (pc.key_env && pc.key_file)
      p.fail(path, "set either \"key_env\" or \"key_file\", not both");

    const ProviderDef* kind = nullptr;
    if (entry.contains("kind")) {
      const std::string kp = Parser::join(path, "kind");
      const std::string text = p.string(entry["kind"], kp);
      kind = findProviderDef(text);
      if (!kind) p.fail(kp, "is not one of the known kinds (" + knownKinds() + ")");
    }
    std::optional<std::string> base_url;
    if (entry.contains("base_url")) base_url = p.httpUrl(entry["base_url"], Parser::join(path, "base_url"));

    if (const auto builtin = findBuiltin(name)) {
      // An entry with a built-in name overrides that built-in (and enables it
      // unless it says otherwise).
      if (kind && kind != builtin->def)
        p.fail(Parser::join(path, "kind"),
               "the built-in \"" + name + "\" is of kind " + std::string(builtin->def->id) +
                   "; give a custom provider another name");
      pc.spec = *builtin;
      if (base_url) {
        auto spec = makeProviderSpec(name, *builtin->def, *base_url, true);
        if (!spec) p.fail(Parser::join(path, "base_url"), "\"" + *base_url + "\" is not a usable base URL");
        spec->default_key_env = builtin->default_key_env;
        // Pointed somewhere else (a gateway, a mirror): no longer the public
        // host, so a private answer is not a bogon.
        spec->builtin = spec->host == builtin->host;
        pc.spec = *spec;
      }
      for (auto& b : builtins)
        if (b.spec.name == name) b = pc;
      continue;
    }
    if (!kind || !base_url)
      p.fail(path, "\"" + name + "\" is not a built-in provider (" + knownBuiltins() +
                       "); a custom one needs \"kind\" and \"base_url\"");
    auto spec = makeProviderSpec(name, *kind, *base_url, false);
    if (!spec) p.fail(Parser::join(path, "base_url"), "\"" + *base_url + "\" is not a usable base URL");
    pc.spec = *spec;
    custom.push_back(pc);
  }
  builtins.insert(builtins.end(), custom.begin(), custom.end());
  return builtins;
}

bool validInterfaceName(const std::string& s) {
  // Linux: IFNAMSIZ - 1 bytes, no '/', ':' or whitespace.
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0' ||
           static_cast<unsigned char>(c) < 0x20;
  });
}

bool validHostName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.';
  });
}

void parseProxy(const Parser& p, const std::string& path, RouteConfig& route) {
  const std::string url = route.proxy;
  const auto sep = url.find("://");
  if (sep == std::string::npos)
    p.fail(path, "\"" + url + "\" is not a proxy URL (e.g. \"http://10.1.2.3:3128\", \"socks5h://127.0.0.1:1080\")");
  const std::string scheme = url.substr(0, sep);
  if (scheme == "http") route.proxy_scheme = ProxyScheme::Http;
  else if (scheme == "https") route.proxy_scheme = ProxyScheme::Https;
  else if (scheme == "socks5") route.proxy_scheme = ProxyScheme::Socks5;
  else if (scheme == "socks5h") route.proxy_scheme = ProxyScheme::Socks5h;
  else p.fail(path, "proxy scheme \"" + scheme + "\" is not one of http, https, socks5, socks5h");
  std::string rest = url.substr(sep + 3);
  if (rest.find('@') != std::string::npos)
    p.fail(path, "credentials in a proxy URL are not supported (they would sit in the config in clear)");
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find_first_of("/?#") != std::string::npos)
    p.fail(path, "a proxy URL has no path: \"" + url + "\"");
  std::string host, port_text;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) p.fail(path, "unclosed '[' in \"" + url + "\"");
    host = rest.substr(1, close - 1);
    const std::string after = rest.substr(close + 1);
    if (after.empty() || after.front() != ':')
      p.fail(path, "a proxy URL needs an explicit port, e.g. \"" + scheme + "://[" + host + "]:1080\"");
    port_text = after.substr(1);
    auto ip = parseIp(host);
    if (!ip || !ip->v6) p.fail(path, "\"" + host + "\" in brackets is not an IPv6 address");
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos)
      p.fail(path, "a proxy URL needs an explicit port, e.g. \"" + scheme + "://" +
                       (rest.empty() ? std::string("10.1.2.3") : rest) + ":3128\"");
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
    if (!parseIp(host) && !validHostName(host))
      p.fail(path, "\"" + host + "\" is not a host name or IP address");
  }
  if (host.empty()) p.fail(path, "the proxy URL has no host");
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() ||
      port == 0 || port > 65535)
    p.fail(path, "\"" + port_text + "\" is not a port (1..65535)");
  route.proxy_host = host;
  route.proxy_port = static_cast<uint16_t>(port);
}

std::vector<RouteConfig> parseRoutes(const Parser& p, const json& arr) {
  const std::string base = "routes";
  p.array(arr, base);
  if (arr.empty()) p.fail(base, "list at least one route (omit \"routes\" for the one route \"default\")");
  std::vector<RouteConfig> routes;
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string path = Parser::index(base, i);
    const json& entry = p.object(arr[i], path);
    p.checkKeys(entry, path, {"name", "interface", "source_ip", "proxy"});
    if (!entry.contains("name")) p.fail(path, "missing \"name\"");
    RouteConfig route;
    route.name = p.name(entry["name"], Parser::join(path, "name"));
    if (auto [it, inserted] = seen.emplace(route.name, i); !inserted)
      p.fail(Parser::join(path, "name"), "duplicate route \"" + route.name + "\" (also " +
                                             Parser::index(base, it->second) + ")");
    const int ways = int(entry.contains("interface")) + int(entry.contains("source_ip")) +
                     int(entry.contains("proxy"));
    if (ways > 1)
      p.fail(path, "a route names at most one of \"interface\", \"source_ip\", \"proxy\"");
    if (entry.contains("interface")) {
      const std::string kp = Parser::join(path, "interface");
      route.kind = RouteKind::Interface;
      route.interface = p.nonEmptyString(entry["interface"], kp);
      if (!validInterfaceName(route.interface))
        p.fail(kp, "\"" + route.interface + "\" is not a network interface name");
    } else if (entry.contains("source_ip")) {
      const std::string kp = Parser::join(path, "source_ip");
      route.kind = RouteKind::SourceIp;
      route.source_ip = p.nonEmptyString(entry["source_ip"], kp);
      if (!parseIp(route.source_ip))
        p.fail(kp, "\"" + route.source_ip + "\" is not an IPv4 or IPv6 address");
    } else if (entry.contains("proxy")) {
      const std::string kp = Parser::join(path, "proxy");
      route.kind = RouteKind::Proxy;
      route.proxy = p.nonEmptyString(entry["proxy"], kp);
      parseProxy(p, kp, route);
    }
    routes.push_back(std::move(route));
  }
  return routes;
}

std::optional<ResolverConfig> parseResolverSpec(const std::string& text, std::string& problem) {
  ResolverConfig r;
  r.spec = text;
  if (text == "system") {
    r.system = true;
    return r;
  }
  std::string host = text, port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) {
      problem = "unclosed '[' in \"" + text + "\"";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    const std::string after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        problem = "\"" + text + "\" is not \"[IPv6]:PORT\"";
        return std::nullopt;
      }
      port_text = after.substr(1);
      if (port_text.empty()) {
        problem = "\"" + text + "\" has an empty port";
        return std::nullopt;
      }
    }
    auto ip = parseIp(host);
    if (!ip || !ip->v6) {
      problem = "\"" + host + "\" in brackets is not an IPv6 address";
      return std::nullopt;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (port_text.empty()) {
      problem = "\"" + text + "\" has an empty port";
      return std::nullopt;
    }
  }
  // A bare IPv6 literal (two or more colons, no brackets) takes port 53.
  if (!parseIp(host)) {
    problem = "\"" + text +
              "\" is not \"system\" or an IP address (optionally with :PORT); resolvers are given "
              "by address, since resolving a resolver's name would need a resolver";
    return std::nullopt;
  }
  r.address = host;
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      problem = "\"" + port_text + "\" is not a port (1..65535)";
      return std::nullopt;
    }
    r.port = static_cast<uint16_t>(port);
  }
  return r;
}

std::vector<ResolverConfig> parseResolvers(const Parser& p, const json& arr) {
  const std::string base = "resolvers";
  p.array(arr, base);
  if (arr.empty()) p.fail(base, "list at least one resolver (\"system\" is /etc/resolv.conf)");
  std::vector<ResolverConfig> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string path = Parser::index(base, i);
    const std::string text = p.nonEmptyString(arr[i], path);
    std::string problem;
    auto r = parseResolverSpec(text, problem);
    if (!r) p.fail(path, problem);
    const std::string id = r->system ? "system" : r->address + "#" + std::to_string(r->port);
    if (!seen.insert(id).second) p.fail(path, "\"" + text + "\" is listed twice");
    out.push_back(*r);
  }
  return out;
}

std::optional<uint64_t> parseSize(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 15) return std::nullopt;
  const uint64_t n = std::stoull(text.substr(0, i));
  const std::string unit = text.substr(i);
  // Binary multiples, as the default "256MB" means 256 MiB.
  static const std::pair<std::string_view, uint64_t> kUnits[] = {
      {"B", 1}, {"KB", 1ull << 10}, {"KiB", 1ull << 10}, {"MB", 1ull << 20}, {"MiB", 1ull << 20},
      {"GB", 1ull << 30}, {"GiB", 1ull << 30}, {"TB", 1ull << 40}, {"TiB", 1ull << 40}};
  for (const auto& [name, mult] : kUnits)
    if (unit == name) {
      if (n > (UINT64_MAX >> 1) / mult) return std::nullopt;
      return n * mult;
    }
  return std::nullopt;
}

HistoryConfig parseHistory(const Parser& p, const json& obj) {
  const std::string base = "history";
  p.object(obj, base);
  p.checkKeys(obj, base, {"path", "retention", "max_size"});
  HistoryConfig h;
  if (obj.contains("path")) h.path = p.absolutePath(obj["path"], "history.path");
  if (obj.contains("retention"))
    h.retention = p.duration(obj["retention"], "history.retention", std::chrono::hours(1),
                             std::chrono::hours(24 * 3650));
  if (obj.contains("max_size")) {
    const json& v = obj["max_size"];
    const std::string kp = "history.max_size";
    if (v.is_number_integer() || v.is_number_unsigned()) {
      h.max_bytes = static_cast<uint64_t>(p.integer(v, kp, 1, INT64_MAX));
    } else {
      const std::string text = p.string(v, kp);
      auto size = parseSize(text);
      if (!size) p.fail(kp, "\"" + text + "\" is not a size (e.g. \"256MB\", \"1GB\", or bytes)");
      h.max_bytes = *size;
    }
    if (h.max_bytes < (1ull << 20)) p.fail(kp, "must be at least 1MB");
  }
  return h;
}

AlertsConfig parseAlerts(const Parser& p, const json& obj) {
  const std::string base = "alerts";
  p.object(obj, base);
  p.checkKeys(obj, base, {"fail_threshold", "resolve_threshold", "reminder", "webhooks", "exec"});
  AlertsConfig a;
  if (obj.contains("fail_threshold"))
    a.fail_threshold = static_cast<int>(p.integer(obj["fail_threshold"], "alerts.fail_threshold", 1, 1000));
  if (obj.contains("resolve_threshold"))
    a.resolve_threshold =
        static_cast<int>(p.integer(obj["resolve_threshold"], "alerts.resolve_threshold", 1, 1000));
  // "0s" turns reminders off.
  if (obj.contains("reminder"))
    a.reminder = p.duration(obj["reminder"], "alerts.reminder", Millis(0), std::chrono::hours(24 * 365));
  if (obj.contains("webhooks")) {
    const json& arr = p.array(obj["webhooks"], "alerts.webhooks");
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const std::string path = Parser::index("alerts.webhooks", i);
      const json& w = p.object(arr[i], path);
      p.checkKeys(w, path, {"url", "format", "timeout"});
      if (!w.contains("url")) p.fail(path, "missing \"url\"");
      WebhookConfig hook;
      hook.url = p.httpUrl(w["url"], Parser::join(path, "url"));
      if (w.contains("format")) {
        hook.format = p.string(w["format"], Parser::join(path, "format"));
        if (hook.format != "json" && hook.format != "slack")
          p.fail(Parser::join(path, "format"), "\"" + hook.format + "\" is not one of json, slack");
      }
      if (w.contains("timeout"))
        hook.timeout = p.duration(w["timeout"], Parser::join(path, "timeout"), Millis(1),
                                  std::chrono::minutes(5));
      a.webhooks.push_back(std::move(hook));
    }
  }
  if (obj.contains("exec")) {
    const json& arr = p.array(obj["exec"], "alerts.exec");
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const std::string path = Parser::index("alerts.exec", i);
      std::vector<std::string> argv;
      if (arr[i].is_string()) {
        argv.push_back(p.absolutePath(arr[i], path));
      } else if (arr[i].is_array()) {
        if (arr[i].empty()) p.fail(path, "an empty command");
        for (std::size_t j = 0; j < arr[i].size(); ++j) {
          const std::string ap = Parser::index(path, j);
          argv.push_back(j == 0 ? p.absolutePath(arr[i][j], ap) : p.string(arr[i][j], ap));
        }
      } else {
        p.fail(path, std::string("expected a command path or an array [path, args...], got ") +
                         typeName(arr[i]));
      }
      a.exec.push_back(std::move(argv));
    }
  }
  return a;
}

// nlohmann keeps the last of duplicate keys silently; an operator who wrote a
// key twice meant one of them, so say which. Tracks the path as it parses.
struct DuplicateKeyCheck {
  struct Frame {
    bool is_array = false;
    std::size_t index = 0;
    std::set<std::string> keys;
    std::string path;
    std::string last_key;
  };
  std::vector<Frame> stack;
  const Parser* parser = nullptr;

  std::string childPath() const {
    if (stack.empty()) return "";
    const Frame& f = stack.back();
    return f.is_array ? Parser::index(f.path, f.index) : Parser::join(f.path, f.last_key);
  }
  void valueDone() {
    if (!stack.empty() && stack.back().is_array) ++stack.back().index;
  }
  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    (void)depth;
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: {
        if (stack.size() >= 64) parser->fail(childPath(), "nested too deeply");
        Frame f;
        f.is_array = event == json::parse_event_t::array_start;
        f.path = childPath();
        stack.push_back(std::move(f));
        break;
      }
      case json::parse_event_t::key: {
        const std::string key = parsed.get<std::string>();
        Frame& f = stack.back();
        f.last_key = key;
        if (!f.keys.insert(key).second) parser->fail(childPath(), "key given twice");
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        stack.pop_back();
        valueDone();
        break;
      case json::parse_event_t::value:
        valueDone();
        break;
    }
    return true;
  }
};

std::pair<std::size_t, std::size_t> lineColumn(const std::string& text, std::size_t byte) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < text.size() && i + 1 < byte; ++i) {
    if (text[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return {line, col};
}

}  // namespace

bool isBogon(const std::string& address, const std::vector<CidrRange>& allowed) {
  auto ip = parseIp(address);
  if (!ip) return true;  // not an address at all: never a genuine answer
  if (allowedBy(allowed, ip->bytes, ip->v6)) return false;
  if (!ip->v6) return isSpecialV4(ip->bytes);
  const uint8_t* a = ip->bytes;
  // Addresses that carry an IPv4 address: judge the IPv4 one.
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  static const uint8_t kNat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(a, kMapped, 12) == 0 || std::memcmp(a, kNat64, 12) == 0) {
    const uint8_t* v4 = a + 12;
    if (allowedBy(allowed, v4, false)) return false;
    return isSpecialV4(v4);
  }
  return isSpecialV6(a);
}

Config defaultConfig() {
  Config c;
  c.source = "<defaults>";
  for (const auto& spec : builtinProviders())
    c.providers.push_back(ProviderConfig{spec, spec.def->default_enabled, {}, {}});
  RouteConfig route;
  route.name = "default";
  c.routes.push_back(route);
  for (const char* spec : {"system", "1.1.1.1", "8.8.8.8"}) {
    std::string problem;
    c.resolvers.push_back(*parseResolverSpec(spec, problem));
  }
  return c;
}

Config parseConfig(const std::string& json_text, const std::string& file) {
  Parser p(file);
  json root;
  DuplicateKeyCheck dup;
  dup.parser = &p;
  try {
    root = json::parse(json_text, std::ref(dup), /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const json::parse_error& e) {
    auto [line, col] = lineColumn(json_text, e.byte);
    // nlohmann's text: "[json.exception.parse_error.101] parse error at line L, column C: WHY"
    std::string why = e.what();
    const auto colpos = why.find("column ");
    if (colpos != std::string::npos) {
      const auto colon = why.find(": ", colpos);
      if (colon != std::string::npos) why = why.substr(colon + 2);
    }
    throw ConfigError(file, "", "invalid JSON at line " + std::to_string(line) + ", column " +
                                    std::to_string(col) + ": " + why);
  } catch (const json::exception& e) {
    throw ConfigError(file, "", std::string("invalid JSON: ") + e.what());
  }
  if (!root.is_object())
    p.fail("", std::string("the top level must be a JSON object, got ") + typeName(root));

  p.checkKeys(root, "", {"interval", "timeout", "concurrency", "providers", "routes", "resolvers",
                         "allowed_ranges", "echo", "tls", "socket", "history", "alerts"});
  Config c = defaultConfig();
  c.source = file;
  if (root.contains("interval"))
    c.interval = p.duration(root["interval"], "interval", std::chrono::seconds(1), std::chrono::hours(24 * 7));
  if (root.contains("timeout"))
    c.timeout = p.duration(root["timeout"], "timeout", Millis(100), std::chrono::minutes(10));
  if (root.contains("concurrency"))
    c.concurrency = static_cast<int>(p.integer(root["concurrency"], "concurrency", 1, 1024));
  if (root.contains("providers")) c.providers = parseProviders(p, root["providers"]);
  if (root.contains("routes")) c.routes = parseRoutes(p, root["routes"]);
  if (root.contains("resolvers")) c.resolvers = parseResolvers(p, root["resolvers"]);
  if (root.contains("allowed_ranges")) {
    const json& arr = p.array(root["allowed_ranges"], "allowed_ranges");
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const std::string path = Parser::index("allowed_ranges", i);
      std::string problem;
      auto range = parseCidr(p.nonEmptyString(arr[i], path), problem);
      if (!range) p.fail(path, problem);
      c.allowed_ranges.push_back(*range);
    }
  }
  if (root.contains("echo")) {
    const json& arr = p.array(root["echo"], "echo");
    for (std::size_t i = 0; i < arr.size(); ++i)
      c.echo.push_back(p.httpUrl(arr[i], Parser::index("echo", i)));
  }
  if (root.contains("tls")) {
    const json& tls = p.object(root["tls"], "tls");
    p.checkKeys(tls, "tls", {"ca_file", "public_roots"});
    if (tls.contains("ca_file")) c.tls.ca_file = p.absolutePath(tls["ca_file"], "tls.ca_file");
    if (tls.contains("public_roots"))
      c.tls.public_roots = p.absolutePath(tls["public_roots"], "tls.public_roots");
  }
  if (root.contains("socket")) {
    c.socket = p.absolutePath(root["socket"], "socket");
    if (c.socket.size() > 107) p.fail("socket", "a Unix socket path is at most 107 bytes");
  }
  if (root.contains("history")) c.history = parseHistory(p, root["history"]);
  if (root.contains("alerts")) c.alerts = parseAlerts(p, root["alerts"]);
  if (c.timeout > c.interval)
    p.fail("timeout", "\"" + formatDuration(c.timeout) + "\" is longer than the interval (" +
                          formatDuration(c.interval) + ")");
  return c;
}

Config loadConfigFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw ConfigError(path, "", err == ENOENT ? std::string("no such file")
                                              : std::string("cannot open: ") + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
    throw ConfigError(path, "", "is a directory, not a config file");
  // A config is a few KiB; refuse anything absurd rather than read it all.
  constexpr std::size_t kMax = 1 << 20;
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ConfigError(path, "", std::string("cannot read: ") + std::strerror(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMax) throw ConfigError(path, "", "larger than 1 MiB; not a config file");
  }
  return parseConfig(text, path);
}

}  // namespace pathwatch
