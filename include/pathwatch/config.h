#pragma once
// The configuration of docs/configuration.md, parsed and validated. Pure: no I/O except
// loadConfigFile reading the one file (probes/config_file.cc). The parser is
// split by concern: config_reader (strict JSON, typed values, key paths),
// config_providers, config_routes, config_alerts, and config.cc (top level).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pathwatch/address.h"  // CidrRange, isBogon
#include "pathwatch/duration.h"
#include "pathwatch/provider.h"

namespace pathwatch {

// The file's providers merge with the built-ins: built-ins first (an entry with
// a built-in name overrides enabled/key_env/key_file/base_url in place; a
// base_url on another host makes spec.builtin false), then custom entries in
// file order.
struct ProviderConfig {
  ProviderSpec spec;
  bool enabled = true;
  std::optional<std::string> key_env;   // configured explicitly
  std::optional<std::string> key_file;  // configured explicitly
};

enum class RouteKind { Default, Interface, SourceIp, Proxy };

enum class ProxyScheme { Http, Https, Socks5, Socks5h };

struct RouteConfig {
  std::string name;
  RouteKind kind = RouteKind::Default;
  std::string interface;  // RouteKind::Interface
  std::string source_ip;  // RouteKind::SourceIp (IPv4 or IPv6 literal)
  std::string proxy;      // RouteKind::Proxy, the URL as written: scheme://host:port,
                          // the port always explicit (no guessed default), no credentials
  ProxyScheme proxy_scheme = ProxyScheme::Http;
  std::string proxy_host;  // literal IP or a name (resolved off-loop by c-ares)
  uint16_t proxy_port = 0;
  // DNS is resolved by the proxy (http, https, socks5h): the dns layer is skipped.
  bool proxyResolvesRemotely() const;
};

struct ResolverConfig {
  std::string spec;     // as written: "system", "1.1.1.1", "8.8.8.8:53", "[2001:db8::1]:53"
  bool system = false;  // /etc/resolv.conf
  std::string address;  // IP literal when !system
  uint16_t port = 53;
};

struct TlsConfig {
  std::string ca_file = "/etc/ssl/certs/ca-certificates.crt";
  std::string public_roots = "/usr/share/ca-certificates/mozilla";
};

struct HistoryConfig {
  std::string path = "/var/lib/pathwatch/history.db";
  Millis retention = std::chrono::hours(24 * 30);
  uint64_t max_bytes = 256ull * 1024 * 1024;  // "max_size": "256MB"
};

struct WebhookConfig {
  std::string url;
  std::string format = "json";  // "json" | "slack"
  Millis timeout = std::chrono::seconds(5);
};

// "alerts.flapping": a pair whose verdict keeps changing raises one
// `flapping` event instead of a stream of problem/resolved ones.
struct FlappingConfig {
  int changes = 4;  // this many ok<->non-ok changes or more ...
  int window = 10;  // ... among this many results is flapping
  int settle = 0;   // results in a row with one verdict that end it; 0 = 2 x resolve_threshold
};

// "alerts.webhook_retry": every webhook's delivery tries.
struct WebhookRetryConfig {
  int attempts = 3;  // the first try included
  // The wait before retry n is backoff[n - 1], the last entry repeating.
  std::vector<Millis> backoff = {std::chrono::seconds(1), std::chrono::seconds(4)};
};

struct AlertsConfig {
  int fail_threshold = 2;
  int resolve_threshold = 2;
  Millis reminder = std::chrono::hours(6);
  std::vector<WebhookConfig> webhooks;
  std::vector<std::vector<std::string>> exec;  // argv each; a plain string is argv[0]
  FlappingConfig flapping;
  WebhookRetryConfig webhook_retry;
  Millis exec_timeout = std::chrono::seconds(30);  // then SIGTERM to its process group
};

// "metrics": {"listen": "127.0.0.1:9848"}; absent = no metrics endpoint.
struct MetricsConfig {
  std::string listen;  // as written: "127.0.0.1:9848", "[::1]:9848"
  std::string host;    // the IP literal, without brackets
  bool v6 = false;
  uint16_t port = 0;
};

struct Config {
  std::string source;  // the file it came from, or "<defaults>"
  Millis interval = std::chrono::seconds(60);
  Millis timeout = std::chrono::seconds(10);
  int concurrency = 16;  // probes in flight at once
  std::vector<ProviderConfig> providers;
  std::vector<RouteConfig> routes;
  std::vector<ResolverConfig> resolvers;
  std::vector<CidrRange> allowed_ranges;
  std::vector<std::string> echo;
  TlsConfig tls;
  std::string socket = "/run/pathwatch/pathwatch.sock";
  HistoryConfig history;
  AlertsConfig alerts;
  std::optional<MetricsConfig> metrics;
};

// A config error names the file, the key path ("providers[2].base_url") and the
// problem, never the value: a key pasted in the wrong field would otherwise
// reach stderr, the journal and `status` answers.
struct ConfigError : std::runtime_error {
  ConfigError(std::string file, std::string key_path, std::string problem);
  std::string file, key_path, problem;
};

// The embedded defaults: four built-in providers, route "default",
// resolvers system, 1.1.1.1, 8.8.8.8.
Config defaultConfig();

// Parses and validates; throws ConfigError. `file` is used in messages.
Config parseConfig(const std::string& json_text, const std::string& file);

// Reads and parses `path`; throws ConfigError (missing/unreadable file included).
// Only a regular file of at most kMaxConfigBytes is read: a FIFO, a device or
// a directory is refused at once, never waited on.
Config loadConfigFile(const std::string& path);
inline constexpr std::size_t kMaxConfigBytes = 1 << 20;

}  // namespace pathwatch
