// `pathwatch config check` and `config example`, the pure parts: the
// effective config is a valid config that parses back to the same Config
// (webhook URLs excepted: they are shown redacted), and the embedded example
// is examples/config.json byte for byte.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/config_command.h"
#include "cli/effective_config.h"
#include "pathwatch/config.h"
#include "pathwatch/key.h"
#include "pathwatch/redact.h"

namespace pathwatch {
namespace {

// Every field of a Config but `source`. Webhook URLs are compared through
// redactUrl: the effective config shows them redacted.
void expectSameConfig(const Config& a, const Config& b) {
  EXPECT_EQ(a.interval, b.interval);
  EXPECT_EQ(a.timeout, b.timeout);
  EXPECT_EQ(a.concurrency, b.concurrency);
  ASSERT_EQ(a.providers.size(), b.providers.size());
  for (std::size_t i = 0; i < a.providers.size(); ++i) {
    const auto &p = a.providers[i], &q = b.providers[i];
    SCOPED_TRACE(p.spec.name);
    EXPECT_EQ(p.spec.name, q.spec.name);
    EXPECT_EQ(p.spec.def, q.spec.def);
    EXPECT_EQ(p.spec.builtin, q.spec.builtin);
    EXPECT_EQ(p.spec.base_url, q.spec.base_url);
    EXPECT_EQ(p.spec.host, q.spec.host);
    EXPECT_EQ(p.spec.port, q.spec.port);
    EXPECT_EQ(p.spec.probe_path, q.spec.probe_path);
    EXPECT_EQ(p.spec.default_key_env, q.spec.default_key_env);
    EXPECT_EQ(p.enabled, q.enabled);
    EXPECT_EQ(p.key_env, q.key_env);
    EXPECT_EQ(p.key_file, q.key_file);
  }
  ASSERT_EQ(a.routes.size(), b.routes.size());
  for (std::size_t i = 0; i < a.routes.size(); ++i) {
    const auto &r = a.routes[i], &s = b.routes[i];
    SCOPED_TRACE(r.name);
    EXPECT_EQ(r.name, s.name);
    EXPECT_EQ(r.kind, s.kind);
    EXPECT_EQ(r.interface, s.interface);
    EXPECT_EQ(r.source_ip, s.source_ip);
    EXPECT_EQ(r.proxy, s.proxy);
    EXPECT_EQ(r.proxy_scheme, s.proxy_scheme);
    EXPECT_EQ(r.proxy_host, s.proxy_host);
    EXPECT_EQ(r.proxy_port, s.proxy_port);
  }
  ASSERT_EQ(a.resolvers.size(), b.resolvers.size());
  for (std::size_t i = 0; i < a.resolvers.size(); ++i) {
    EXPECT_EQ(a.resolvers[i].spec, b.resolvers[i].spec);
    EXPECT_EQ(a.resolvers[i].system, b.resolvers[i].system);
    EXPECT_EQ(a.resolvers[i].address, b.resolvers[i].address);
    EXPECT_EQ(a.resolvers[i].port, b.resolvers[i].port);
  }
  ASSERT_EQ(a.allowed_ranges.size(), b.allowed_ranges.size());
  for (std::size_t i = 0; i < a.allowed_ranges.size(); ++i) {
    EXPECT_EQ(a.allowed_ranges[i].text, b.allowed_ranges[i].text);
    EXPECT_EQ(a.allowed_ranges[i].v6, b.allowed_ranges[i].v6);
    EXPECT_EQ(a.allowed_ranges[i].prefix, b.allowed_ranges[i].prefix);
    EXPECT_EQ(0, std::memcmp(a.allowed_ranges[i].bytes, b.allowed_ranges[i].bytes, 16));
  }
  EXPECT_EQ(a.echo, b.echo);
  EXPECT_EQ(a.tls.ca_file, b.tls.ca_file);
  EXPECT_EQ(a.tls.public_roots, b.tls.public_roots);
  EXPECT_EQ(a.socket, b.socket);
  EXPECT_EQ(a.history.path, b.history.path);
  EXPECT_EQ(a.history.retention, b.history.retention);
  EXPECT_EQ(a.history.max_bytes, b.history.max_bytes);
  EXPECT_EQ(a.alerts.fail_threshold, b.alerts.fail_threshold);
  EXPECT_EQ(a.alerts.resolve_threshold, b.alerts.resolve_threshold);
  EXPECT_EQ(a.alerts.reminder, b.alerts.reminder);
  ASSERT_EQ(a.alerts.webhooks.size(), b.alerts.webhooks.size());
  for (std::size_t i = 0; i < a.alerts.webhooks.size(); ++i) {
    EXPECT_EQ(redactUrl(a.alerts.webhooks[i].url), b.alerts.webhooks[i].url);
    EXPECT_EQ(a.alerts.webhooks[i].format, b.alerts.webhooks[i].format);
    EXPECT_EQ(a.alerts.webhooks[i].timeout, b.alerts.webhooks[i].timeout);
  }
  EXPECT_EQ(a.alerts.exec, b.alerts.exec);
  EXPECT_EQ(a.alerts.flapping.changes, b.alerts.flapping.changes);
  EXPECT_EQ(a.alerts.flapping.window, b.alerts.flapping.window);
  EXPECT_EQ(a.alerts.flapping.settle, b.alerts.flapping.settle);
  EXPECT_EQ(a.alerts.webhook_retry.attempts, b.alerts.webhook_retry.attempts);
  EXPECT_EQ(a.alerts.webhook_retry.backoff, b.alerts.webhook_retry.backoff);
  EXPECT_EQ(a.alerts.exec_timeout, b.alerts.exec_timeout);
  ASSERT_EQ(a.metrics.has_value(), b.metrics.has_value());
  if (a.metrics) {
    EXPECT_EQ(a.metrics->listen, b.metrics->listen);
    EXPECT_EQ(a.metrics->host, b.metrics->host);
    EXPECT_EQ(a.metrics->v6, b.metrics->v6);
    EXPECT_EQ(a.metrics->port, b.metrics->port);
  }
}

Config roundTrip(const Config& c) {
  return parseConfig(effectiveConfigJson(c).dump(2), "<effective>");
}

// Every key set, most away from their defaults, in spellings that are not
// the shortest (1500ms, 120s, 3GB, a size in bytes).
const char* kEverything = R"({
  "interval": "120s", "timeout": "1500ms", "concurrency": 7,
  "providers": [
    {"name": "openai", "key_env": "MY_OPENAI"},
    {"name": "anthropic", "key_file": "/run/credentials/pathwatchd.service/anthropic"},
    {"name": "gemini", "enabled": false},
    {"name": "discord", "base_url": "https://gateway.example.net/discord/api/v10"},
    {"name": "local-llm", "kind": "openai", "base_url": "http://127.0.0.1:8080/v1/"},
    {"name": "claude-proxy", "kind": "anthropic", "base_url": "https://llm.example.net:8443",
     "enabled": false, "key_env": "CLAUDE_PROXY_KEY"}
  ],
  "routes": [
    {"name": "default"},
    {"name": "vpn", "interface": "wg0"},
    {"name": "second-ip", "source_ip": "2001:db8::9"},
    {"name": "office", "proxy": "http://10.1.2.3:3128"},
    {"name": "tunnel", "proxy": "socks5h://[::1]:1080"},
    {"name": "local-socks", "proxy": "socks5://proxy.example.net:1080/"}
  ],
  "resolvers": ["system", "1.1.1.1", "8.8.8.8:53", "[2001:db8::1]:5353", "2001:db8::2"],
  "allowed_ranges": ["10.20.0.0/16", "fd00::/8", "192.0.2.7"],
  "echo": ["https://echo.example.net:8443/echo", "http://127.0.0.1:9000/anything"],
  "tls": {"ca_file": "/etc/pathwatch/ca.pem", "public_roots": "/etc/pathwatch/roots"},
  "socket": "/run/pw/other.sock",
  "history": {"path": "/var/lib/pw/h.db", "retention": "72h", "max_size": "3GB"},
  "alerts": {
    "fail_threshold": 3, "resolve_threshold": 4, "reminder": "0s",
    "webhooks": [{"url": "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
                  "format": "slack", "timeout": "2500ms"},
                 {"url": "https://alerts.example.net", "timeout": "1m"}],
    "exec": ["/usr/local/bin/page", ["/usr/bin/logger", "-t", "pathwatch"]],
    "flapping": {"changes": 3, "window": 8, "settle": 5},
    "webhook_retry": {"attempts": 5, "backoff": ["500ms", "2s", "90s"]},
    "exec_timeout": "45s"
  },
  "metrics": {"listen": "[::1]:9848"}
})";

TEST(EffectiveConfig, EverythingRoundTrips) {
  const Config c = parseConfig(kEverything, "/etc/pathwatch/config.json");
  expectSameConfig(c, roundTrip(c));
}

TEST(EffectiveConfig, DefaultsRoundTripAndAreAllShown) {
  const Config c = defaultConfig();
  const auto j = effectiveConfigJson(c);
  expectSameConfig(c, roundTrip(c));
  // Every built-in, the disabled ones too, with its enabled flag.
  ASSERT_EQ(j["providers"].size(), builtinProviders().size());
  for (const auto& p : j["providers"]) {
    EXPECT_TRUE(p.contains("enabled")) << p.dump();
    EXPECT_TRUE(p.contains("kind")) << p.dump();
    EXPECT_TRUE(p.contains("base_url")) << p.dump();
    // The usual variable is the default source, not a configured one.
    EXPECT_FALSE(p.contains("key_env")) << p.dump();
  }
  for (const char* key : {"interval", "timeout", "concurrency", "providers", "routes", "resolvers",
                          "allowed_ranges", "echo", "tls", "socket", "history", "alerts"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_FALSE(j.contains("metrics"));  // off: absent is how a config says so
  for (const char* key : {"fail_threshold", "resolve_threshold", "reminder", "webhooks", "exec",
                          "flapping", "webhook_retry", "exec_timeout"})
    EXPECT_TRUE(j["alerts"].contains(key)) << key;
}

TEST(EffectiveConfig, DurationsInTheConfigsOwnSpelling) {
  const Config c = parseConfig(kEverything, "/etc/pathwatch/config.json");
  const auto j = effectiveConfigJson(c);
  EXPECT_EQ(j["interval"], "2m");
  EXPECT_EQ(j["timeout"], "1500ms");
  EXPECT_EQ(j["history"]["retention"], "3d");
  EXPECT_EQ(j["history"]["max_size"], "3GB");
  EXPECT_EQ(j["alerts"]["reminder"], "0s");
  EXPECT_EQ(j["alerts"]["webhooks"][0]["timeout"], "2500ms");
  EXPECT_EQ(j["alerts"]["webhook_retry"]["backoff"],
            (nlohmann::ordered_json{"500ms", "2s", "90s"}));
  EXPECT_EQ(j["alerts"]["exec_timeout"], "45s");
  EXPECT_EQ(j["alerts"]["flapping"]["settle"], 5);
  EXPECT_EQ(formatSize(256ull << 20), "256MB");
  EXPECT_EQ(formatSize((1ull << 20) + 1), (1ull << 20) + 1);  // not exact: bytes
  EXPECT_EQ(formatSize(1536ull << 10), "1536KB");
}

TEST(EffectiveConfig, SecretsOnlyAsTheirSource) {
  const Config c = parseConfig(kEverything, "/etc/pathwatch/config.json");
  const std::string text = effectiveConfigJson(c).dump(2);
  // The webhook's secret path is not shown; where it goes is.
  EXPECT_EQ(text.find("XXXXXXXXXXXXXXXX"), std::string::npos) << text;
  EXPECT_EQ(text.find("T000"), std::string::npos) << text;
  EXPECT_NE(text.find("\"https://hooks.slack.com/…\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"key_env\": \"MY_OPENAI\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"key_file\": \"/run/credentials/pathwatchd.service/anthropic\""),
            std::string::npos);
  // A redacted URL is still a URL: the output stays a valid config, but not
  // a verbatim one (docs/configuration.md says so).
  const Config back = roundTrip(c);
  EXPECT_EQ(back.alerts.webhooks[0].url, "https://hooks.slack.com/…");
  EXPECT_EQ(back.alerts.webhooks[1].url, "https://alerts.example.net");
}

std::string readSourceFile(const std::string& rel) {
  std::ifstream f(std::string(PATHWATCH_SOURCE_DIR) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(ConfigExample, IsExamplesConfigJsonAndParses) {
  const std::string file = readSourceFile("examples/config.json");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(std::string(exampleConfigText()), file);
  const Config c = parseConfig(std::string(exampleConfigText()), "<example>");
  EXPECT_GE(c.providers.size(), 4u);
  // And its effective form round-trips like any other.
  expectSameConfig(c, roundTrip(c));
}

KeyLayer layerFor(const ProviderConfig& p, const std::string& raw, const std::string& source) {
  return inspectKey(*p.spec.def, raw, source, true, p.spec.builtin).layer;
}

TEST(ConfigCheckKeys, OneLinePerProviderNeverTheKey) {
  const Config c = defaultConfig();
  const ProviderConfig& openai = c.providers[0];
  const std::string key = "sk-proj-Qm7Vx2Lr9Tz4Kb8Nw1Hc6Fy3Dj0Gs5PaXeRt2Yu7Io";
  std::string line = keyReportLine(openai, layerFor(openai, key, "env:OPENAI_API_KEY"), 20);
  EXPECT_NE(line.find("openai"), std::string::npos) << line;
  EXPECT_NE(line.find("env:OPENAI_API_KEY"), std::string::npos) << line;
  EXPECT_NE(line.find(" ok sk-proj…u7Io"), std::string::npos) << line;
  EXPECT_EQ(line.find(key), std::string::npos);
  EXPECT_EQ(line.find("Qm7Vx2Lr"), std::string::npos);

  line = keyReportLine(openai, layerFor(openai, "'" + key + "'", "env:OPENAI_API_KEY"), 20);
  EXPECT_NE(line.find("malformed (surrounding_quotes)"), std::string::npos) << line;
  EXPECT_EQ(line.find("Qm7Vx2Lr"), std::string::npos);

  KeyLayer missing;
  missing.source = "file:/run/credentials/pathwatchd.service/openai";
  missing.status = LayerStatus::Fail;
  missing.error = "key_missing";
  missing.problems = {"file_not_found"};
  line = keyReportLine(openai, missing, 20);
  EXPECT_NE(line.find("missing (file_not_found)"), std::string::npos) << line;

  KeyLayer none;
  none.source = "none";
  none.reason = "OPENAI_API_KEY is not set: probing without a key";
  ProviderConfig disabled = openai;
  disabled.enabled = false;
  line = keyReportLine(disabled, none, 20);
  EXPECT_NE(line.find("none: OPENAI_API_KEY is not set"), std::string::npos) << line;
  EXPECT_NE(line.find("[disabled]"), std::string::npos) << line;
}

}  // namespace
}  // namespace pathwatch
