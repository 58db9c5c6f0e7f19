#include "providers/provider_def.h"
#include "pathwatch/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace pathwatch {
namespace {

const char* kFile = "/etc/pathwatch/config.json";

// docs/configuration.md's example configuration, verbatim.
const char* kSpecExample = R"({
  "interval": "60s",
  "timeout": "10s",
  "providers": [
    {"name": "openai", "key_env": "OPENAI_API_KEY"},
    {"name": "anthropic", "key_file": "/run/credentials/pathwatchd.service/anthropic"},
    {"name": "gemini", "enabled": false},
    {"name": "local-llm", "kind": "openai", "base_url": "https://llm.example.net/v1"}
  ],
  "routes": [
    {"name": "default"},
    {"name": "vpn", "interface": "wg0"},
    {"name": "second-ip", "source_ip": "203.0.113.9"},
    {"name": "office", "proxy": "http://10.1.2.3:3128"},
    {"name": "ssh-tunnel", "proxy": "socks5h://127.0.0.1:1080"}
  ],
  "resolvers": ["system", "1.1.1.1", "8.8.8.8:53"],
  "allowed_ranges": ["10.20.0.0/16"],
  "echo": ["https://echo.example.net/echo"],
  "tls": {"ca_file": "/etc/ssl/certs/ca-certificates.crt",
          "public_roots": "/usr/share/ca-certificates/mozilla"},
  "socket": "/run/pathwatch/pathwatch.sock",
  "history": {"path": "/var/lib/pathwatch/history.db", "retention": "30d"},
  "alerts": {"fail_threshold": 2, "resolve_threshold": 2,
             "webhooks": [{"url": "https://hooks.example.net/x", "format": "json"}],
             "exec": ["/usr/local/bin/page-oncall"]}
})";

const ProviderConfig* findProvider(const Config& c, const std::string& name) {
  for (const auto& p : c.providers)
    if (p.spec.name == name) return &p;
  return nullptr;
}

// The OpenAI-compatible built-ins, known but off until named (docs/configuration.md).
const std::vector<std::string> kOptIn = {"openrouter", "deepseek", "mistral", "groq", "xai", "together"};

// The built-ins after the four, in list order: each is there and not probed.
void expectOptInsKnownButOff(const Config& c) {
  ASSERT_GE(c.providers.size(), 4 + kOptIn.size());
  for (std::size_t i = 0; i < kOptIn.size(); ++i) {
    EXPECT_EQ(c.providers[4 + i].spec.name, kOptIn[i]);
    EXPECT_FALSE(c.providers[4 + i].enabled) << kOptIn[i] << ": pathwatch calls no third party unasked";
    EXPECT_TRUE(c.providers[4 + i].spec.builtin);
  }
}

TEST(Config, DefaultsAreSpecs) {
  Config c = defaultConfig();
  EXPECT_EQ(c.source, "<defaults>");
  // The four are probed; the opt-in built-ins follow, known but off.
  ASSERT_EQ(c.providers.size(), 4u + kOptIn.size());
  EXPECT_EQ(c.providers[0].spec.name, "openai");
  EXPECT_EQ(c.providers[1].spec.name, "anthropic");
  EXPECT_EQ(c.providers[2].spec.name, "gemini");
  EXPECT_EQ(c.providers[3].spec.name, "discord");
  for (std::size_t i = 0; i < 4; ++i) EXPECT_TRUE(c.providers[i].enabled);
  expectOptInsKnownButOff(c);
  for (const auto& p : c.providers) {
    EXPECT_TRUE(p.spec.builtin);
    EXPECT_FALSE(p.key_env.has_value());
  }
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].name, "default");
  EXPECT_EQ(c.routes[0].kind, RouteKind::Default);
  ASSERT_EQ(c.resolvers.size(), 3u);
  EXPECT_TRUE(c.resolvers[0].system);
  EXPECT_EQ(c.resolvers[1].address, "1.1.1.1");
  EXPECT_EQ(c.resolvers[2].address, "8.8.8.8");
  EXPECT_EQ(c.resolvers[2].port, 53);
  EXPECT_EQ(c.interval, std::chrono::seconds(60));
  EXPECT_EQ(c.timeout, std::chrono::seconds(10));
  EXPECT_TRUE(c.echo.empty());  // no third party unasked
}

TEST(Config, EmptyObjectIsTheDefaults) {
  Config c = parseConfig("{}", kFile);
  EXPECT_EQ(c.source, kFile);
  EXPECT_EQ(c.providers.size(), 4u + kOptIn.size());
  for (std::size_t i = 0; i < 4; ++i) EXPECT_TRUE(c.providers[i].enabled);
  expectOptInsKnownButOff(c);
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].name, "default");
  EXPECT_EQ(c.resolvers.size(), 3u);
}

TEST(Config, SpecExampleParses) {
  Config c = parseConfig(kSpecExample, kFile);
  // Built-ins first (in their order, overridden in place), then custom ones.
  ASSERT_EQ(c.providers.size(), 5u + kOptIn.size());
  EXPECT_EQ(c.providers[0].spec.name, "openai");
  EXPECT_EQ(c.providers[0].key_env, "OPENAI_API_KEY");
  EXPECT_EQ(c.providers[1].key_file, "/run/credentials/pathwatchd.service/anthropic");
  EXPECT_FALSE(c.providers[2].enabled);
  EXPECT_TRUE(c.providers[3].enabled);  // discord, not listed, still there
  EXPECT_EQ(c.providers[3].spec.name, "discord");
  expectOptInsKnownButOff(c);
  const auto& custom = c.providers.back();
  EXPECT_EQ(custom.spec.name, "local-llm");
  EXPECT_FALSE(custom.spec.builtin);
  EXPECT_EQ(custom.spec.def, &providers::openai_provider);
  EXPECT_EQ(custom.spec.host, "llm.example.net");
  EXPECT_EQ(custom.spec.probe_path, "/v1/models");
  EXPECT_TRUE(custom.spec.default_key_env.empty());

  ASSERT_EQ(c.routes.size(), 5u);
  EXPECT_EQ(c.routes[1].kind, RouteKind::Interface);
  EXPECT_EQ(c.routes[1].interface, "wg0");
  EXPECT_EQ(c.routes[2].kind, RouteKind::SourceIp);
  EXPECT_EQ(c.routes[2].source_ip, "203.0.113.9");
  EXPECT_EQ(c.routes[3].kind, RouteKind::Proxy);
  EXPECT_EQ(c.routes[3].proxy_scheme, ProxyScheme::Http);
  EXPECT_EQ(c.routes[3].proxy_host, "10.1.2.3");
  EXPECT_EQ(c.routes[3].proxy_port, 3128);
  EXPECT_TRUE(c.routes[3].proxyResolvesRemotely());
  EXPECT_EQ(c.routes[4].proxy_scheme, ProxyScheme::Socks5h);
  EXPECT_EQ(c.routes[4].proxy_port, 1080);
  EXPECT_TRUE(c.routes[4].proxyResolvesRemotely());
  EXPECT_FALSE(c.routes[0].proxyResolvesRemotely());

  ASSERT_EQ(c.resolvers.size(), 3u);
  EXPECT_EQ(c.resolvers[2].address, "8.8.8.8");
  EXPECT_EQ(c.resolvers[2].port, 53);
  ASSERT_EQ(c.allowed_ranges.size(), 1u);
  EXPECT_EQ(c.allowed_ranges[0].prefix, 16);
  ASSERT_EQ(c.echo.size(), 1u);
  EXPECT_EQ(c.history.retention, std::chrono::hours(24 * 30));
  ASSERT_EQ(c.alerts.webhooks.size(), 1u);
  EXPECT_EQ(c.alerts.webhooks[0].format, "json");
  ASSERT_EQ(c.alerts.exec.size(), 1u);
  EXPECT_EQ(c.alerts.exec[0], std::vector<std::string>{"/usr/local/bin/page-oncall"});
}

TEST(Config, FileListingOnlyOneBuiltinKeepsTheOthers) {
  Config c = parseConfig(R"({"providers": [{"name": "openai", "enabled": false}]})", kFile);
  ASSERT_EQ(c.providers.size(), 4u + kOptIn.size());
  expectOptInsKnownButOff(c);
  EXPECT_FALSE(findProvider(c, "openai")->enabled);
  EXPECT_TRUE(findProvider(c, "anthropic")->enabled);
  EXPECT_TRUE(findProvider(c, "gemini")->enabled);
  EXPECT_TRUE(findProvider(c, "discord")->enabled);
}

TEST(Config, BuiltinBaseUrlOverride) {
  Config c = parseConfig(
      R"({"providers": [{"name": "openai", "base_url": "https://gw.internal:8443/openai/v1/"},
                        {"name": "anthropic", "base_url": "https://api.anthropic.com/v1"}]})",
      kFile);
  const auto* openai = findProvider(c, "openai");
  ASSERT_NE(openai, nullptr);
  EXPECT_EQ(openai->spec.host, "gw.internal");
  EXPECT_EQ(openai->spec.port, 8443);
  EXPECT_EQ(openai->spec.probe_path, "/openai/v1/models");
  EXPECT_EQ(openai->spec.default_key_env, "OPENAI_API_KEY");
  EXPECT_FALSE(openai->spec.builtin);  // another host: private answers are not bogons
  EXPECT_TRUE(findProvider(c, "anthropic")->spec.builtin);  // same host
}

TEST(Config, ExecAcceptsArgvArrays) {
  Config c = parseConfig(
      R"({"alerts": {"exec": ["/bin/a", ["/bin/b", "--flag", "x"]], "reminder": "0s"}})", kFile);
  ASSERT_EQ(c.alerts.exec.size(), 2u);
  EXPECT_EQ(c.alerts.exec[1], (std::vector<std::string>{"/bin/b", "--flag", "x"}));
  EXPECT_EQ(c.alerts.reminder, Millis(0));
}

TEST(Config, ResolverForms) {
  Config c = parseConfig(
      R"({"resolvers": ["198.18.0.53", "198.18.0.54:5353", "[2001:db8::1]:53", "2001:db8::2"]})",
      kFile);
  ASSERT_EQ(c.resolvers.size(), 4u);
  EXPECT_EQ(c.resolvers[0].port, 53);
  EXPECT_EQ(c.resolvers[1].port, 5353);
  EXPECT_EQ(c.resolvers[2].address, "2001:db8::1");
  EXPECT_EQ(c.resolvers[3].address, "2001:db8::2");
  EXPECT_EQ(c.resolvers[3].port, 53);
  EXPECT_FALSE(c.resolvers[3].system);
}

TEST(Config, HistorySizes) {
  EXPECT_EQ(parseConfig(R"({"history": {"max_size": "1GB"}})", kFile).history.max_bytes, 1ull << 30);
  EXPECT_EQ(parseConfig(R"({"history": {"max_size": 2097152}})", kFile).history.max_bytes, 2097152u);
}

// Every bad input names the key path and says what is wrong.
struct Bad {
  const char* name;
  const char* json;
  const char* key_path;
  const char* problem_has;
};

class ConfigBad : public ::testing::TestWithParam<Bad> {};

TEST_P(ConfigBad, NamesFileKeyAndProblem) {
  const Bad& b = GetParam();
  try {
    parseConfig(b.json, kFile);
    FAIL() << "accepted: " << b.json;
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file, kFile);
    EXPECT_EQ(e.key_path, b.key_path) << e.what();
    EXPECT_NE(e.problem.find(b.problem_has), std::string::npos) << e.what();
    const std::string what = e.what();
    const std::string prefix =
        std::string(kFile) + ": " + (e.key_path.empty() ? "" : e.key_path + ": ");
    EXPECT_EQ(what.rfind(prefix, 0), 0u) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Config, ConfigBad,
    ::testing::Values(
        Bad{"NotJson", "{\n  \"interval\": \"60s\",\n  oops\n}", "", "line 3, column 3"},
        Bad{"TrailingComma", "{\"interval\": \"60s\",}", "", "invalid JSON"},
        Bad{"TopLevelArray", "[]", "", "JSON object"},
        Bad{"UnknownTopKey", R"({"intervall": "60s"})", "intervall", "did you mean \"interval\""},
        Bad{"DuplicateKey", R"({"timeout": "5s", "timeout": "6s"})", "timeout", "twice"},
        Bad{"DuplicateNestedKey", R"({"routes": [{"name": "a"}, {"name": "b", "name": "c"}]})",
            "routes[1].name", "twice"},
        Bad{"IntervalNumber", R"({"interval": 60})", "interval", "unit"},
        Bad{"IntervalBad", R"({"interval": "60 seconds"})", "interval", "not a duration"},
        Bad{"IntervalZero", R"({"interval": "0s"})", "interval", "too short"},
        Bad{"TimeoutNegative", R"({"timeout": "-1s"})", "timeout", "not a duration"},
        Bad{"TimeoutZero", R"({"timeout": "0ms"})", "timeout", "too short"},
        Bad{"TimeoutOverInterval", R"({"interval": "5s", "timeout": "10s"})", "timeout",
            "longer than the interval"},
        Bad{"ConcurrencyString", R"({"concurrency": "8"})", "concurrency", "expected an integer"},
        Bad{"ConcurrencyZero", R"({"concurrency": 0})", "concurrency", "between 1 and"},
        Bad{"ConcurrencyFloat", R"({"concurrency": 2.5})", "concurrency", "expected an integer"},
        Bad{"ProvidersObject", R"({"providers": {}})", "providers", "expected an array"},
        Bad{"ProviderNoName", R"({"providers": [{"enabled": true}]})", "providers[0]",
            "missing \"name\""},
        Bad{"ProviderUnknownKey", R"({"providers": [{"name": "openai", "kye_env": "X"}]})",
            "providers[0].kye_env", "unknown key"},
        Bad{"ProviderKeyInConfig", R"({"providers": [{"name": "openai", "api_key": "sk-x"}]})",
            "providers[0].api_key", "key_env"},
        Bad{"ProviderKeyInConfig2", R"({"providers": [{"name": "openai", "key": "sk-x"}]})",
            "providers[0].key", "key_file"},
        Bad{"ProviderBothSources",
            R"({"providers": [{"name": "openai", "key_env": "A", "key_file": "/k"}]})",
            "providers[0]", "not both"},
        Bad{"ProviderDuplicate", R"({"providers": [{"name": "openai"}, {"name": "openai"}]})",
            "providers[1].name", "duplicate"},
        Bad{"ProviderCustomNoKind",
            R"({"providers": [{"name": "openai"}, {"name": "gemini"}, {"name": "mine", "base_url": "https://x.example/v1"}]})",
            "providers[2]", "needs \"kind\""},
        Bad{"ProviderBadBaseUrl",
            R"({"providers": [{"name": "a", "kind": "openai", "base_url": "https://a.example"}, {"name": "b", "kind": "openai", "base_url": "https://b.example"}, {"name": "c", "kind": "openai", "base_url": "ftp://x"}]})",
            "providers[2].base_url", "http"},
        Bad{"ProviderBadKind", R"({"providers": [{"name": "x", "kind": "llama", "base_url": "https://x.example"}]})",
            "providers[0].kind", "not one of"},
        Bad{"ProviderBuiltinWrongKind", R"({"providers": [{"name": "openai", "kind": "gemini"}]})",
            "providers[0].kind", "another name"},
        Bad{"ProviderEnabledString", R"({"providers": [{"name": "openai", "enabled": "no"}]})",
            "providers[0].enabled", "true or false"},
        Bad{"ProviderKeyFileRelative", R"({"providers": [{"name": "openai", "key_file": "keys/openai"}]})",
            "providers[0].key_file", "absolute"},
        Bad{"ProviderKeyEnvBad", R"({"providers": [{"name": "openai", "key_env": "$OPENAI"}]})",
            "providers[0].key_env", "environment variable"},
        Bad{"ProviderNameSpaces", R"({"providers": [{"name": "my llm", "kind": "openai", "base_url": "https://x.example"}]})",
            "providers[0].name", "letters"},
        Bad{"RoutesEmpty", R"({"routes": []})", "routes", "at least one"},
        Bad{"RouteNoName", R"({"routes": [{"name": "a"}, {"interface": "eth0"}]})", "routes[1]",
            "missing \"name\""},
        Bad{"RouteTwoWays", R"({"routes": [{"name": "a"}, {"name": "b", "interface": "eth0", "proxy": "http://10.0.0.1:3128"}]})",
            "routes[1]", "at most one"},
        Bad{"RouteDuplicate", R"({"routes": [{"name": "a"}, {"name": "a"}]})", "routes[1].name",
            "duplicate"},
        Bad{"RouteSourceIpName", R"({"routes": [{"name": "a", "source_ip": "eth0.example"}]})",
            "routes[0].source_ip", "not an IPv4 or IPv6"},
        Bad{"RouteInterfaceLong", R"({"routes": [{"name": "a", "interface": "averyveryverylongifname"}]})",
            "routes[0].interface", "interface name"},
        Bad{"RouteProxyScheme", R"({"routes": [{"name": "a", "proxy": "ftp://10.0.0.1:21"}]})",
            "routes[0].proxy", "scheme"},
        Bad{"RouteProxyNoPort", R"({"routes": [{"name": "a", "proxy": "http://10.0.0.1"}]})",
            "routes[0].proxy", "explicit port"},
        Bad{"RouteProxyBadPort", R"({"routes": [{"name": "a", "proxy": "socks5://10.0.0.1:99999"}]})",
            "routes[0].proxy", "not a port"},
        Bad{"RouteProxyCreds", R"({"routes": [{"name": "a", "proxy": "http://u:p@10.0.0.1:3128"}]})",
            "routes[0].proxy", "credentials"},
        Bad{"RouteProxyNotUrl", R"({"routes": [{"name": "a", "proxy": "10.0.0.1:3128"}]})",
            "routes[0].proxy", "not a proxy URL"},
        Bad{"ResolverHostName", R"({"resolvers": ["system", "dns.google"]})", "resolvers[1]",
            "resolving a resolver"},
        Bad{"ResolverBadPort", R"({"resolvers": ["1.1.1.1:0"]})", "resolvers[0]", "not a port"},
        Bad{"ResolverTwice", R"({"resolvers": ["1.1.1.1", "1.1.1.1:53"]})", "resolvers[1]", "twice"},
        Bad{"ResolverEmptyList", R"({"resolvers": []})", "resolvers", "at least one"},
        Bad{"ResolverNumber", R"({"resolvers": [53]})", "resolvers[0]", "expected a string"},
        Bad{"RangeBad", R"({"allowed_ranges": ["10.0.0.0/33"]})", "allowed_ranges[0]", "prefix"},
        Bad{"RangeHostBits", R"({"allowed_ranges": ["10.20.1.0/16"]})", "allowed_ranges[0]",
            "10.20.0.0/16"},
        Bad{"RangeNotIp", R"({"allowed_ranges": ["lab"]})", "allowed_ranges[0]", "CIDR"},
        Bad{"EchoNotUrl", R"({"echo": ["echo.example.net"]})", "echo[0]", "URL"},
        Bad{"TlsUnknown", R"({"tls": {"cafile": "/x"}})", "tls.cafile", "did you mean \"ca_file\""},
        Bad{"TlsRelative", R"({"tls": {"ca_file": "certs.pem"}})", "tls.ca_file", "absolute"},
        Bad{"SocketRelative", R"({"socket": "pw.sock"})", "socket", "absolute"},
        Bad{"HistoryRetention", R"({"history": {"retention": "30 days"}})", "history.retention",
            "not a duration"},
        Bad{"HistorySize", R"({"history": {"max_size": "lots"}})", "history.max_size", "size"},
        Bad{"AlertsThreshold", R"({"alerts": {"fail_threshold": 0}})", "alerts.fail_threshold",
            "between"},
        Bad{"WebhookFormat", R"({"alerts": {"webhooks": [{"url": "https://h.example/x", "format": "xml"}]}})",
            "alerts.webhooks[0].format", "json, slack"},
        Bad{"WebhookNoUrl", R"({"alerts": {"webhooks": [{"format": "json"}]}})",
            "alerts.webhooks[0]", "missing \"url\""},
        Bad{"ExecRelative", R"({"alerts": {"exec": [["page-oncall", "x"]]}})",
            "alerts.exec[0][0]", "absolute"},
        Bad{"ExecNumber", R"({"alerts": {"exec": [5]}})", "alerts.exec[0]", "expected a command"}),
    [](const auto& row) { return std::string(row.param.name); });

TEST(Config, ErrorWhatIsFileKeyProblem) {
  try {
    parseConfig(R"({"routes": [{"name": "a"}, {"name": "b", "interface": "eth0", "source_ip": "198.18.0.1"}]})",
                "/tmp/x.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "/tmp/x.json: routes[1]: a route names at most one of \"interface\", "
                 "\"source_ip\", \"proxy\"");
  }
}

TEST(Config, HostileInputIsAnErrorNotACrash) {
  std::string deep(100000, '[');
  EXPECT_THROW(parseConfig(deep, kFile), ConfigError);
  EXPECT_THROW(parseConfig(std::string("{\"a\":\"\xff\xfe\"}"), kFile), ConfigError);
  EXPECT_THROW(parseConfig("", kFile), ConfigError);
  EXPECT_THROW(parseConfig(std::string("{\0}", 3), kFile), ConfigError);
}

TEST(Config, LoadMissingFileNamesIt) {
  try {
    loadConfigFile("/nonexistent/pathwatch.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file, "/nonexistent/pathwatch.json");
    EXPECT_NE(e.problem.find("no such file"), std::string::npos);
  }
  EXPECT_THROW(loadConfigFile("/"), ConfigError);  // a directory
}

TEST(Config, LoadReadsTheFile) {
  char path[] = "/tmp/pathwatch-config-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = R"({"interval": "2m", "routes": [{"name": "vpn", "interface": "wg0"}]})";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  Config c = loadConfigFile(path);
  unlink(path);
  EXPECT_EQ(c.source, path);
  EXPECT_EQ(c.interval, std::chrono::minutes(2));
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].interface, "wg0");
}

// isBogon ------------------------------------------------------------------

struct BogonCase {
  const char* address;
  bool bogon;
};

class Bogon : public ::testing::TestWithParam<BogonCase> {};

TEST_P(Bogon, Judged) {
  EXPECT_EQ(isBogon(GetParam().address, {}), GetParam().bogon) << GetParam().address;
}

INSTANTIATE_TEST_SUITE_P(
    Addresses, Bogon,
    ::testing::Values(
        BogonCase{"0.0.0.0", true}, BogonCase{"10.1.2.3", true}, BogonCase{"100.64.0.1", true},
        BogonCase{"100.128.0.1", false}, BogonCase{"127.0.0.1", true},
        BogonCase{"169.254.169.254", true}, BogonCase{"172.16.0.1", true},
        BogonCase{"172.32.0.1", false}, BogonCase{"192.0.0.8", true}, BogonCase{"192.0.2.1", true},
        BogonCase{"192.168.1.1", true}, BogonCase{"198.18.0.10", true},
        BogonCase{"198.19.255.255", true}, BogonCase{"198.20.0.1", false},
        BogonCase{"198.51.100.7", true}, BogonCase{"203.0.113.7", true},
        BogonCase{"224.0.0.1", true}, BogonCase{"240.0.0.1", true},
        BogonCase{"255.255.255.255", true}, BogonCase{"104.18.6.192", false},
        BogonCase{"162.159.140.245", false}, BogonCase{"8.8.8.8", false},
        BogonCase{"::", true}, BogonCase{"::1", true}, BogonCase{"fc00::1", true},
        BogonCase{"fd12:3456::1", true}, BogonCase{"fe80::1", true}, BogonCase{"ff02::1", true},
        BogonCase{"2001:db8::1", true}, BogonCase{"::ffff:127.0.0.1", true},
        BogonCase{"::ffff:104.18.6.192", false}, BogonCase{"64:ff9b::10.0.0.1", true},
        BogonCase{"64:ff9b::104.18.6.192", false}, BogonCase{"2606:4700::6812:6c0", false},
        BogonCase{"2a00:1450:4001:80b::200a", false}, BogonCase{"not-an-ip", true},
        BogonCase{"", true}));

TEST(Bogon, AllowedRangesWin) {
  Config c = parseConfig(R"({"allowed_ranges": ["198.18.0.0/15", "fd00::/8", "10.20.0.0/16"]})",
                         kFile);
  EXPECT_FALSE(isBogon("198.18.0.10", c.allowed_ranges));
  EXPECT_FALSE(isBogon("198.19.1.1", c.allowed_ranges));
  EXPECT_FALSE(isBogon("fd12::1", c.allowed_ranges));
  EXPECT_FALSE(isBogon("10.20.3.4", c.allowed_ranges));
  EXPECT_FALSE(isBogon("::ffff:198.18.0.10", c.allowed_ranges));
  EXPECT_TRUE(isBogon("10.21.0.1", c.allowed_ranges));
  EXPECT_TRUE(isBogon("127.0.0.1", c.allowed_ranges));
  EXPECT_TRUE(isBogon("fc00::1", c.allowed_ranges));
}

TEST(Cidr, ContainsRespectsPrefixAndFamily) {
  Config c = parseConfig(R"({"allowed_ranges": ["10.16.0.0/12", "0.0.0.0/0", "2001:db8::/33"]})",
                         kFile);
  ASSERT_EQ(c.allowed_ranges.size(), 3u);
  const uint8_t a[4] = {10, 31, 255, 255}, b[4] = {10, 32, 0, 0};
  EXPECT_TRUE(c.allowed_ranges[0].contains(a, false));
  EXPECT_FALSE(c.allowed_ranges[0].contains(b, false));
  EXPECT_TRUE(c.allowed_ranges[1].contains(b, false));
  uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x7f};
  EXPECT_TRUE(c.allowed_ranges[2].contains(v6, true));
  v6[4] = 0x80;
  EXPECT_FALSE(c.allowed_ranges[2].contains(v6, true));
  EXPECT_FALSE(c.allowed_ranges[2].contains(a, false));
}

}  // namespace
}  // namespace pathwatch

namespace pathwatch {
namespace {

// Mutations of a valid file: each one either parses or is a ConfigError,
// never another exception or a crash.
TEST(Config, MutatedFilesParseOrFailCleanly) {
  const std::string base = kSpecExample;
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const std::string alphabet = "{}[]\",:0123456789abcdefsmhd-./\\ \n\xff";
  int parsed = 0, rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = next() % text.size();
      switch (next() % 3) {
        case 0: text[pos] = alphabet[next() % alphabet.size()]; break;
        case 1: text.erase(pos, 1 + next() % 8); break;
        default: text.insert(pos, 1, alphabet[next() % alphabet.size()]);
      }
      if (text.empty()) text = "{";
    }
    try {
      parseConfig(text, kFile);
      ++parsed;
    } catch (const ConfigError& err) {
      ++rejected;
      EXPECT_EQ(std::string(err.what()).rfind(std::string(kFile) + ": ", 0), 0u);
    } catch (const std::exception& other) {
      ADD_FAILURE() << "not a ConfigError: " << other.what() << "\n" << text;
      return;
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_EQ(parsed + rejected, 3000);
}

}  // namespace
}  // namespace pathwatch
