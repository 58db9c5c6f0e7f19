// The config file's top level: defaults, the small sections (allowed_ranges,
// echo, tls, socket, history, metrics) and the cross-key checks. The larger
// sections live in config_providers.cc, config_routes.cc, config_alerts.cc; the
// strict JSON reader under them all in config_reader.cc.
#include "pathwatch/config.h"

#include <nlohmann/json.hpp>

#include "config_reader.h"
#include "config_sections.h"
#include "providers/provider_def.h"

namespace pathwatch {

using nlohmann::json;

namespace {

std::string joinWhat(const std::string& file, const std::string& key_path,
                     const std::string& problem) {
  std::string out = file;
  if (!key_path.empty()) out += ": " + key_path;
  return out + ": " + problem;
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

HistoryConfig parseHistory(const ConfigReader& r, const json& v) {
  const std::string base = "history";
  const json& obj = r.object(v, base);
  r.checkKeys(obj, base, {"path", "retention", "max_size"});
  HistoryConfig h;
  if (obj.contains("path")) h.path = r.absolutePath(obj["path"], "history.path");
  if (obj.contains("retention"))
    h.retention = r.duration(obj["retention"], "history.retention", std::chrono::hours(1),
                             std::chrono::hours(24 * 3650));
  if (obj.contains("max_size")) {
    const json& size = obj["max_size"];
    const std::string kp = "history.max_size";
    if (size.is_number_integer() || size.is_number_unsigned()) {
      h.max_bytes = static_cast<uint64_t>(r.integer(size, kp, 1, INT64_MAX));
    } else {
      auto bytes = parseSize(r.string(size, kp));
      if (!bytes) r.fail(kp, "is not a size (e.g. \"256MB\", \"1GB\", or bytes)");
      h.max_bytes = *bytes;
    }
    if (h.max_bytes < (1ull << 20)) r.fail(kp, "must be at least 1MB");
  }
  return h;
}

MetricsConfig parseMetrics(const ConfigReader& r, const json& v) {
  const std::string base = "metrics";
  const json& obj = r.object(v, base);
  r.checkKeys(obj, base, {"listen"});
  if (!obj.contains("listen")) r.fail(base, "missing \"listen\" (omit \"metrics\" to turn it off)");
  MetricsConfig m;
  m.listen = r.nonEmptyString(obj["listen"], "metrics.listen");
  auto hp = parseIpPort(m.listen);
  if (!hp)
    r.fail("metrics.listen", "must be IPv4:PORT or [IPv6]:PORT with a port 1..65535, e.g. "
                             "\"127.0.0.1:9848\" or \"[::1]:9848\"");
  m.host = hp->host;
  m.v6 = hp->v6;
  m.port = hp->port;
  return m;
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

Config defaultConfig() {
  Config c;
  c.source = "<defaults>";
  // Every built-in is known (`pathwatch check -p groq` finds it); the opt-in
  // ones (docs/configuration.md) are probed only when named.
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
  const ConfigReader r(file);
  const json root = r.parse(json_text);
  if (!root.is_object())
    r.fail("", std::string("the top level must be a JSON object, got ") + jsonTypeName(root));

  r.checkKeys(root, "", {"interval", "timeout", "concurrency", "providers", "routes", "resolvers",
                         "allowed_ranges", "echo", "tls", "socket", "history", "alerts", "metrics"});
  Config c = defaultConfig();
  c.source = file;
  if (root.contains("interval"))
    c.interval = r.duration(root["interval"], "interval", std::chrono::seconds(1), std::chrono::hours(24 * 7));
  if (root.contains("timeout"))
    c.timeout = r.duration(root["timeout"], "timeout", Millis(100), std::chrono::minutes(10));
  if (root.contains("concurrency"))
    c.concurrency = static_cast<int>(r.integer(root["concurrency"], "concurrency", 1, 1024));
  if (root.contains("providers")) c.providers = parseProviders(r, root["providers"]);
  if (root.contains("routes")) c.routes = parseRoutes(r, root["routes"]);
  if (root.contains("resolvers")) c.resolvers = parseResolvers(r, root["resolvers"]);
  if (root.contains("allowed_ranges")) {
    const json& arr = r.array(root["allowed_ranges"], "allowed_ranges");
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const std::string path = ConfigReader::index("allowed_ranges", i);
      std::string problem;
      auto range = parseCidr(r.nonEmptyString(arr[i], path), problem);
      if (!range) r.fail(path, problem);
      c.allowed_ranges.push_back(*range);
    }
  }
  if (root.contains("echo")) {
    const json& arr = r.array(root["echo"], "echo");
    for (std::size_t i = 0; i < arr.size(); ++i)
      c.echo.push_back(r.endpointUrl(arr[i], ConfigReader::index("echo", i)));
  }
  if (root.contains("tls")) {
    const json& tls = r.object(root["tls"], "tls");
    r.checkKeys(tls, "tls", {"ca_file", "public_roots"});
    if (tls.contains("ca_file")) c.tls.ca_file = r.absolutePath(tls["ca_file"], "tls.ca_file");
    if (tls.contains("public_roots"))
      c.tls.public_roots = r.absolutePath(tls["public_roots"], "tls.public_roots");
  }
  if (root.contains("socket")) {
    c.socket = r.absolutePath(root["socket"], "socket");
    if (c.socket.size() > 107) r.fail("socket", "a Unix socket path is at most 107 bytes");
  }
  if (root.contains("history")) c.history = parseHistory(r, root["history"]);
  if (root.contains("alerts")) c.alerts = parseAlerts(r, root["alerts"]);
  if (root.contains("metrics")) c.metrics = parseMetrics(r, root["metrics"]);
  if (c.timeout > c.interval) r.fail("timeout", "is longer than the interval");
  return c;
}

}  // namespace pathwatch
