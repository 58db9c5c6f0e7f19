// "routes" (every egress to compare) and "resolvers" (the DNS servers asked).
#include <algorithm>
#include <map>
#include <set>

#include "config_sections.h"

namespace pathwatch {

using nlohmann::json;

namespace {

bool validInterfaceName(const std::string& s) {
  // Linux: IFNAMSIZ - 1 bytes, no '/', ':' or whitespace.
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || static_cast<unsigned char>(c) < 0x20 ||
           static_cast<unsigned char>(c) == 0x7f;
  });
}

bool validHostName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.';
  });
}

// "http://10.1.2.3:3128", "socks5h://[::1]:1080": scheme, host, explicit port,
// nothing else (no credentials, no path).
void parseProxy(const ConfigReader& r, const std::string& path, RouteConfig& route) {
  const std::string& url = route.proxy;
  const auto sep = url.find("://");
  if (sep == std::string::npos)
    r.fail(path, "is not a proxy URL (e.g. \"http://10.1.2.3:3128\", \"socks5h://127.0.0.1:1080\")");
  const std::string scheme = url.substr(0, sep);
  if (scheme == "http") route.proxy_scheme = ProxyScheme::Http;
  else if (scheme == "https") route.proxy_scheme = ProxyScheme::Https;
  else if (scheme == "socks5") route.proxy_scheme = ProxyScheme::Socks5;
  else if (scheme == "socks5h") route.proxy_scheme = ProxyScheme::Socks5h;
  else r.fail(path, "the proxy scheme is not one of http, https, socks5, socks5h");
  std::string rest = url.substr(sep + 3);
  if (rest.find('@') != std::string::npos)
    r.fail(path, "credentials in a proxy URL are not supported (they would sit in the config in clear)");
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find_first_of("/?#") != std::string::npos) r.fail(path, "a proxy URL has no path");
  std::string host, port_text;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) r.fail(path, "unclosed '[' in the proxy URL");
    host = rest.substr(1, close - 1);
    const std::string after = rest.substr(close + 1);
    if (after.empty() || after.front() != ':')
      r.fail(path, "a proxy URL needs an explicit port, e.g. \"socks5h://[::1]:1080\"");
    port_text = after.substr(1);
    auto ip = parseIp(host);
    if (!ip || !ip->v6) r.fail(path, "the host in brackets is not an IPv6 address");
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos)
      r.fail(path, "a proxy URL needs an explicit port, e.g. \"http://10.1.2.3:3128\"");
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
    if (!host.empty() && !parseIp(host) && !validHostName(host))
      r.fail(path, "the proxy host is not a host name or IP address");
  }
  if (host.empty()) r.fail(path, "the proxy URL has no host");
  auto port = parsePort(port_text);
  if (!port) r.fail(path, "the proxy port is not a port (1..65535)");
  route.proxy_host = host;
  route.proxy_port = *port;
}

}  // namespace

std::vector<RouteConfig> parseRoutes(const ConfigReader& r, const json& arr) {
  const std::string base = "routes";
  r.array(arr, base);
  if (arr.empty()) r.fail(base, "list at least one route (omit \"routes\" for the one route \"default\")");
  std::vector<RouteConfig> routes;
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string path = ConfigReader::index(base, i);
    const json& entry = r.object(arr[i], path);
    r.checkKeys(entry, path, {"name", "interface", "source_ip", "proxy"});
    if (!entry.contains("name")) r.fail(path, "missing \"name\"");
    RouteConfig route;
    const std::string name_path = ConfigReader::join(path, "name");
    route.name = r.name(entry["name"], name_path);
    if (auto [it, inserted] = seen.emplace(route.name, i); !inserted)
      r.fail(name_path, "duplicate route name (also " + ConfigReader::index(base, it->second) + ")");
    const int ways = int(entry.contains("interface")) + int(entry.contains("source_ip")) +
                     int(entry.contains("proxy"));
    if (ways > 1) r.fail(path, "a route names at most one of \"interface\", \"source_ip\", \"proxy\"");
    if (entry.contains("interface")) {
      const std::string kp = ConfigReader::join(path, "interface");
      route.kind = RouteKind::Interface;
      route.interface = r.nonEmptyString(entry["interface"], kp);
      if (!validInterfaceName(route.interface))
        r.fail(kp, "is not a network interface name (at most 15 bytes, no '/', ':' or spaces)");
    } else if (entry.contains("source_ip")) {
      const std::string kp = ConfigReader::join(path, "source_ip");
      route.kind = RouteKind::SourceIp;
      route.source_ip = r.nonEmptyString(entry["source_ip"], kp);
      if (!parseIp(route.source_ip)) r.fail(kp, "is not an IPv4 or IPv6 address");
    } else if (entry.contains("proxy")) {
      const std::string kp = ConfigReader::join(path, "proxy");
      route.kind = RouteKind::Proxy;
      route.proxy = r.nonEmptyString(entry["proxy"], kp);
      parseProxy(r, kp, route);
    }
    routes.push_back(std::move(route));
  }
  return routes;
}

std::optional<ResolverConfig> parseResolverSpec(const std::string& text, std::string& problem) {
  ResolverConfig out;
  out.spec = text;
  if (text == "system") {
    out.system = true;
    return out;
  }
  std::string host = text, port_text;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) {
      problem = "unclosed '['; expected \"[IPv6]\" or \"[IPv6]:PORT\"";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    const std::string after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        problem = "is not \"[IPv6]:PORT\"";
        return std::nullopt;
      }
      port_text = after.substr(1);
      has_port = true;
    }
    auto ip = parseIp(host);
    if (!ip || !ip->v6) {
      problem = "the address in brackets is not an IPv6 address";
      return std::nullopt;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    has_port = true;
  }
  if (has_port && port_text.empty()) {
    problem = "has an empty port";
    return std::nullopt;
  }
  // A bare IPv6 literal (two or more colons, no brackets) takes port 53.
  if (!parseIp(host)) {
    problem = "is not \"system\" or an IP address (optionally with :PORT); resolvers are given "
              "by address, since resolving a resolver's name would need a resolver";
    return std::nullopt;
  }
  out.address = host;
  if (has_port) {
    auto port = parsePort(port_text);
    if (!port) {
      problem = "the port is not a port (1..65535)";
      return std::nullopt;
    }
    out.port = *port;
  }
  return out;
}

std::vector<ResolverConfig> parseResolvers(const ConfigReader& r, const json& arr) {
  const std::string base = "resolvers";
  r.array(arr, base);
  if (arr.empty()) r.fail(base, "list at least one resolver (\"system\" is /etc/resolv.conf)");
  std::vector<ResolverConfig> out;
  std::map<std::string, std::size_t> seen;  // address#port -> index in the file
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string path = ConfigReader::index(base, i);
    std::string problem;
    auto resolver = parseResolverSpec(r.nonEmptyString(arr[i], path), problem);
    if (!resolver) r.fail(path, problem);
    const std::string id =
        resolver->system ? "system" : resolver->address + "#" + std::to_string(resolver->port);
    if (auto [it, inserted] = seen.emplace(id, i); !inserted)
      r.fail(path, "this resolver is listed twice (also " + ConfigReader::index(base, it->second) + ")");
    out.push_back(*resolver);
  }
  return out;
}

}  // namespace pathwatch
