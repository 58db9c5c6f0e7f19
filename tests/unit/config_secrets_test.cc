// A key pasted into the wrong place of the config must never be repeated:
// ConfigError text reaches stderr, the journal, systemd STATUS and `status`
// answers. Every field gets a made-up key of every known shape; the error must
// name the file and the key path and contain no 8-character piece of the key.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pathwatch/config.h"
#include "pathwatch/key.h"
#include "pathwatch/redact.h"

namespace pathwatch {
namespace {

const char* kFile = "/etc/pathwatch/config.json";
const char* kSecretName = "<a name that looks like an API key>";

// Made-up keys shaped like real ones (none was ever issued).
const std::vector<std::string>& madeUpKeys() {
  static const std::vector<std::string> keys = {
      "sk-proj-Q7vN2mX8kL4pR9tY3wB6cF1hJ5dG0sAzE8uI2oP4aS6dF7gH9jK1lZ3xC5vB7nMT3BlbkFJ",
      "sk-ant-api03-Xy7Kp2Lm9Qr4St6Uv8Wx0Yz1Ab3Cd5Ef7Gh9Ij2Kl4Mn6Op8Qr0St2Uv4Wx6Yz8Ab0Cd2Ef4Gh6AA",
      "AIzaSyB3x9Qk7Lm2Np5Rt8Vw1Yz4Ac6Ef9Hj0Kd",  // no '-': a valid env var name
      "AQ.Ab8RN6Kx2Lm9Qr4St6Uv8Wx0Yz1Ab3Cd5Ef7Gh9Ij",
      "xai-Zq8Wm3Np6Rt9Vx2Yb5Cd8Fg1Hj4Kl7Mn0Pq3St6Uv9Wx2Yz5Ab8Cd1Ef4Gh7Jk0Lm3Np",
      "gsk_Rt4Yu7Io0Pa3Sd6Fg9Hj2Kl5Zx8Cv1Bn4Mq7We0Rt3Yu6Io9Pa2Sd5Fg8",
      "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",
      "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GaBcDe.Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa",
      "Zx8vQ2mN7pL4kR9tY3wB6cF1hJ5dG0sAq",  // no known prefix: high entropy only
      // The OpenAI-compatible built-ins' shapes (docs/providers.md).
      "sk-25ec84d8dbc74254770f58904dba41ec",  // DeepSeek: sk- + 32 hex
      "tgp_v1_HUvTCQCyEZDz_TddJ8HyS5SUkCnD8zRA9a9SkpXz9w3",  // Together
      "jJJibaZUPgHV7iB3m03nbqnsGpWLuqIA1id6Vw5DQL05HA064GiIJQQJ99jHGb3CXlMaXZjljENUhJduRHHJ",  // Azure
  };
  return keys;
}

struct Field {
  const char* name;
  const char* json;  // KEY is replaced by the made-up key
  const char* key_path;
};

// Every string-valued field, key names, URLs with the key in each part, and
// JSON broken around the key.
const Field kFields[] = {
    {"interval", R"({"interval": "KEY"})", "interval"},
    {"timeout", R"({"timeout": "KEY"})", "timeout"},
    {"concurrency", R"({"concurrency": "KEY"})", "concurrency"},
    {"provider_name", R"({"providers": [{"name": "KEY"}]})", "providers[0].name"},
    {"key_env", R"({"providers": [{"name": "openai", "key_env": "KEY"}]})", "providers[0].key_env"},
    {"key_file", R"({"providers": [{"name": "openai", "key_file": "KEY"}]})", "providers[0].key_file"},
    {"key_file_abs", R"({"providers": [{"name": "openai", "key_file": "/etc/pathwatch/KEY"}]})",
     "providers[0].key_file"},
    {"kind", R"({"providers": [{"name": "x", "kind": "KEY", "base_url": "https://x.example/v1"}]})",
     "providers[0].kind"},
    {"base_url", R"({"providers": [{"name": "openai", "base_url": "KEY"}]})", "providers[0].base_url"},
    {"base_url_path", R"({"providers": [{"name": "openai", "base_url": "https://gw.example/v1/KEY"}]})",
     "providers[0].base_url"},
    {"base_url_query", R"({"providers": [{"name": "openai", "base_url": "https://gw.example/v1?key=KEY"}]})",
     "providers[0].base_url"},
    {"base_url_userinfo", R"({"providers": [{"name": "openai", "base_url": "https://u:KEY@gw.example/v1"}]})",
     "providers[0].base_url"},
    {"api_key_field", R"({"providers": [{"name": "openai", "api_key": "KEY"}]})", "providers[0].api_key"},
    {"provider_key_as_name", R"({"providers": [{"name": "openai", "KEY": "x"}]})",
     "providers[0].<a name that looks like an API key>"},
    {"top_key_as_name", R"({"KEY": 1})", "<a name that looks like an API key>"},
    {"glued_key_as_name", R"({"xKEY_2": 1})", "<a name that looks like an API key>"},
    {"nested_key_as_name", R"({"tls": {"KEY": "/x"}})", "tls.<a name that looks like an API key>"},
    {"route_name", R"({"routes": [{"name": "KEY"}]})", "routes[0].name"},
    {"interface", R"({"routes": [{"name": "a", "interface": "KEY"}]})", "routes[0].interface"},
    {"source_ip", R"({"routes": [{"name": "a", "source_ip": "KEY"}]})", "routes[0].source_ip"},
    {"proxy", R"({"routes": [{"name": "a", "proxy": "KEY"}]})", "routes[0].proxy"},
    {"proxy_userinfo", R"({"routes": [{"name": "a", "proxy": "http://u:KEY@10.0.0.1:3128"}]})",
     "routes[0].proxy"},
    {"proxy_host", R"({"routes": [{"name": "a", "proxy": "http://KEY:3128"}]})", "routes[0].proxy"},
    {"resolver", R"({"resolvers": ["KEY"]})", "resolvers[0]"},
    {"resolver_port", R"({"resolvers": ["1.1.1.1:KEY"]})", "resolvers[0]"},
    {"allowed_range", R"({"allowed_ranges": ["KEY"]})", "allowed_ranges[0]"},
    {"allowed_range_prefix", R"({"allowed_ranges": ["10.0.0.0/KEY"]})", "allowed_ranges[0]"},
    {"echo", R"({"echo": ["KEY"]})", "echo[0]"},
    {"echo_path", R"({"echo": ["https://echo.example/KEY"]})", "echo[0]"},
    {"echo_query", R"({"echo": ["https://echo.example/e?token=KEY"]})", "echo[0]"},
    {"ca_file", R"({"tls": {"ca_file": "KEY"}})", "tls.ca_file"},
    {"public_roots", R"({"tls": {"public_roots": "/usr/share/KEY"}})", "tls.public_roots"},
    {"socket", R"({"socket": "KEY"})", "socket"},
    {"history_path", R"({"history": {"path": "KEY"}})", "history.path"},
    {"retention", R"({"history": {"retention": "KEY"}})", "history.retention"},
    {"max_size", R"({"history": {"max_size": "KEY"}})", "history.max_size"},
    {"reminder", R"({"alerts": {"reminder": "KEY"}})", "alerts.reminder"},
    {"webhook_url", R"({"alerts": {"webhooks": [{"url": "KEY"}]}})", "alerts.webhooks[0].url"},
    {"webhook_userinfo", R"({"alerts": {"webhooks": [{"url": "https://u:KEY@hooks.example/x"}]}})",
     "alerts.webhooks[0].url"},
    {"webhook_other_error",
     R"({"alerts": {"webhooks": [{"url": "https://hooks.example/services/KEY", "format": "xml"}]}})",
     "alerts.webhooks[0].format"},
    {"webhook_format", R"({"alerts": {"webhooks": [{"url": "https://hooks.example/x", "format": "KEY"}]}})",
     "alerts.webhooks[0].format"},
    {"webhook_timeout", R"({"alerts": {"webhooks": [{"url": "https://hooks.example/x", "timeout": "KEY"}]}})",
     "alerts.webhooks[0].timeout"},
    {"exec_path", R"({"alerts": {"exec": ["KEY"]}})", "alerts.exec[0]"},
    {"exec_arg", R"({"alerts": {"exec": [["/usr/local/bin/notify", "--token", "KEY"]]}})",
     "alerts.exec[0][2]"},
    {"exec_timeout", R"({"alerts": {"exec_timeout": "KEY"}})", "alerts.exec_timeout"},
    {"webhook_backoff", R"({"alerts": {"webhook_retry": {"backoff": ["KEY"]}}})",
     "alerts.webhook_retry.backoff[0]"},
    {"flapping_window", R"({"alerts": {"flapping": {"window": "KEY"}}})", "alerts.flapping.window"},
    {"metrics_listen", R"({"metrics": {"listen": "KEY"}})", "metrics.listen"},
    {"metrics_port", R"({"metrics": {"listen": "127.0.0.1:KEY"}})", "metrics.listen"},
    {"duplicate_value", R"({"timeout": "1s", "timeout": "KEY"})", "timeout"},
    {"duplicate_key_name", R"({"routes": [{"KEY": 1, "KEY": 2}]})",
     "routes[0].<a name that looks like an API key>"},
    {"json_unterminated", R"({"interval": "KEY)", ""},
    {"json_bare_literal", R"({"interval": KEY})", ""},
    {"json_after_string", R"({"interval": "KEY" "x"})", ""},
    {"json_control_char", "{\"interval\": \"KEY\n\"}", ""},
};

void PrintTo(const Field& f, std::ostream* os) { *os << f.name; }

std::string plant(const std::string& templ, const std::string& key) {
  std::string out = templ;
  for (auto pos = out.find("KEY"); pos != std::string::npos; pos = out.find("KEY", pos + key.size()))
    out.replace(pos, 3, key);
  return out;
}

// The first 8-character piece of `key` found in `text`, or "".
std::string leakedPiece(const std::string& text, const std::string& key) {
  for (std::size_t i = 0; i + 8 <= key.size(); ++i)
    if (text.find(key.substr(i, 8)) != std::string::npos) return key.substr(i, 8);
  return "";
}

class PlantedKey : public ::testing::TestWithParam<Field> {};

TEST_P(PlantedKey, ErrorNamesFileAndKeyPathButNeverTheKey) {
  const Field& f = GetParam();
  for (const auto& key : madeUpKeys()) {
    const std::string text = plant(f.json, key);
    try {
      parseConfig(text, kFile);
      ADD_FAILURE() << "accepted: " << f.name << " with key shape " << key.substr(0, 4);
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.file, kFile);
      EXPECT_EQ(e.key_path, f.key_path) << f.name << " / " << key.substr(0, 4);
      const std::string prefix =
          std::string(kFile) + ": " + (e.key_path.empty() ? "" : e.key_path + ": ");
      EXPECT_EQ(what.rfind(prefix, 0), 0u) << f.name;
      // Printed on failure only as the offending piece's position, never the key.
      EXPECT_EQ(leakedPiece(what, key), "")
          << f.name << ": the error repeats part of a " << key.substr(0, 4) << "... key";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryField, PlantedKey, ::testing::ValuesIn(kFields),
                         [](const auto& row) { return std::string(row.param.name); });

TEST(PlantedKey, ValueShapedLikeAKeySaysWhereKeysBelong) {
  for (const char* json : {R"({"providers": [{"name": "openai", "key_env": "KEY"}]})",
                           R"({"providers": [{"name": "KEY"}]})",
                           R"({"alerts": {"exec": [["/bin/notify", "KEY"]]}})"}) {
    for (const auto& key : madeUpKeys()) {
      try {
        parseConfig(plant(json, key), kFile);
        ADD_FAILURE() << "accepted " << key.substr(0, 4);
      } catch (const ConfigError& e) {
        EXPECT_NE(e.problem.find("looks like an API key; put the key in an environment variable "
                                 "or file and name it with key_env/key_file"),
                  std::string::npos)
            << e.problem;
      }
    }
  }
}

// The reported case: a Gemini key has no '-' and passes for a variable name.
TEST(PlantedKey, GeminiKeyInKeyEnvIsRefused) {
  try {
    parseConfig(R"({"providers": [{"name": "gemini", "key_env": "AIzaSyB3x9Qk7Lm2Np5Rt8Vw1Yz4Ac6Ef9Hj0Kd"}]})",
                kFile);
    FAIL() << "a Gemini key was taken for a variable name";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path, "providers[0].key_env");
    EXPECT_EQ(std::string(e.what()).find("AIzaSyB3"), std::string::npos);
  }
}

TEST(PlantedKey, UnknownKeyLookingLikeAKeyIsNotEchoedButTyposStillGetASuggestion) {
  try {
    parseConfig(R"({"providers": [{"name": "openai", "sk-proj-Q7vN2mX8kL4pR9tY3wB6cF1hJ5dG0sAz": 1}]})",
                kFile);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path, std::string("providers[0].") + kSecretName);
    EXPECT_NE(e.problem.find("unknown key"), std::string::npos);
  }
  try {
    parseConfig(R"({"providers": [{"name": "openai", "key_evn": "X"}]})", kFile);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path, "providers[0].key_evn");
    EXPECT_NE(e.problem.find("did you mean \"key_env\""), std::string::npos);
  }
}

TEST(PlantedKey, OddKeyNamesAreEscapedOnOneLine) {
  try {
    parseConfig("{\"interval \": \"1s\"}", kFile);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path, "interval\\x20");
    EXPECT_NE(e.problem.find("did you mean \"interval\""), std::string::npos);
  }
  try {
    parseConfig("{\"a\\nb\": 1}", kFile);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    EXPECT_EQ(e.key_path, "a\\x0ab");
  }
}

// A webhook URL carries its own secret in the path (Slack, Discord): accepted,
// and only ever shown through redactUrl.
TEST(WebhookUrl, SecretInThePathIsAcceptedAndRedactedForDisplay) {
  const std::string url =
      "https://discord.com/api/webhooks/123456789012345678/Zx8vQ2mN7pL4kR9tY3wB6cF1hJ5dG0sAqW";
  Config c = parseConfig(R"({"alerts": {"webhooks": [{"url": ")" + url + R"("}]}})", kFile);
  ASSERT_EQ(c.alerts.webhooks.size(), 1u);
  EXPECT_EQ(c.alerts.webhooks[0].url, url);
  EXPECT_EQ(redactUrl(url), "https://discord.com/…");
}

TEST(EndpointUrl, UserInfoAndQueryAreRefused) {
  struct Case {
    const char* json;
    const char* key_path;
    const char* problem_has;
  };
  for (const Case& c : {
           Case{R"({"providers": [{"name": "openai", "base_url": "https://u:p@gw.example/v1"}]})",
                "providers[0].base_url", "user name or password"},
           Case{R"({"providers": [{"name": "openai", "base_url": "https://gw.example/v1?x=1"}]})",
                "providers[0].base_url", "query string"},
           Case{R"({"providers": [{"name": "openai", "base_url": "https://gw.example/v1#f"}]})",
                "providers[0].base_url", "fragment"},
           Case{R"({"echo": ["https://user@echo.example/echo"]})", "echo[0]", "user name or password"},
           Case{R"({"echo": ["https://echo.example/echo?t=1"]})", "echo[0]", "query string"},
       }) {
    try {
      parseConfig(c.json, kFile);
      ADD_FAILURE() << "accepted " << c.json;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key_path, c.key_path);
      EXPECT_NE(e.problem.find(c.problem_has), std::string::npos) << e.problem;
    }
  }
}

// No value comes back, even when nothing about it looks secret.
TEST(ConfigErrors, NeverQuoteTheValue) {
  struct Case {
    const char* json;
    const char* value;
  };
  for (const Case& c : {
           Case{R"({"interval": "sixty-seconds"})", "sixty-seconds"},
           Case{R"({"providers": [{"name": "openai", "key_env": "$MY_VARIABLE"}]})", "MY_VARIABLE"},
           Case{R"({"providers": [{"name": "openai", "key_file": "relative/keyfile"}]})", "relative/keyfile"},
           Case{R"({"providers": [{"name": "openai", "base_url": "ftp://mirror.example/v1"}]})", "mirror.example"},
           Case{R"({"providers": [{"name": "mirror", "kind": "llamacpp", "base_url": "https://m.example"}]})", "llamacpp"},
           Case{R"({"providers": [{"name": "mylocal"}]})", "mylocal"},
           Case{R"({"providers": [{"name": "mylocal", "kind": "openai", "base_url": "https://m.example"}, {"name": "mylocal"}]})", "mylocal"},
           Case{R"({"routes": [{"name": "office", "proxy": "gopher://proxyhost:70"}]})", "gopher"},
           Case{R"({"routes": [{"name": "office", "proxy": "http://proxyhost"}]})", "proxyhost"},
           Case{R"({"routes": [{"name": "office", "proxy": "http://proxyhost:99999"}]})", "99999"},
           Case{R"({"routes": [{"name": "office", "proxy": "http://proxy_host:3128"}]})", "proxy_host"},
           Case{R"({"routes": [{"name": "office", "interface": "wlan-office-floor3"}]})", "wlan-office"},
           Case{R"({"routes": [{"name": "office", "source_ip": "office-gw"}]})", "office-gw"},
           Case{R"({"resolvers": ["dns.internal"]})", "dns.internal"},
           Case{R"({"resolvers": ["9.9.9.9", "9.9.9.9:53"]})", "9.9.9.9"},
           Case{R"({"allowed_ranges": ["labnet"]})", "labnet"},
           Case{R"({"history": {"max_size": "plenty"}})", "plenty"},
           Case{R"({"alerts": {"webhooks": [{"url": "hooks.internal/x"}]}})", "hooks.internal"},
           Case{R"({"alerts": {"webhooks": [{"url": "https://h.example/x", "format": "teams"}]}})", "teams"},
           Case{R"({"metrics": {"listen": "localhost:9848"}})", "localhost"},
           Case{R"({"interval": "5s", "timeout": "7s"})", "7s"},
       }) {
    try {
      parseConfig(c.json, kFile);
      ADD_FAILURE() << "accepted " << c.json;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).find(c.value), std::string::npos) << e.what();
    }
  }
}

// ---- the key shapes themselves ----------------------------------------------

TEST(KeyShape, EveryMadeUpKeyLooksLikeAKey) {
  for (const auto& key : madeUpKeys()) {
    EXPECT_TRUE(looksLikeApiKey(key)) << key.substr(0, 4);
    EXPECT_TRUE(containsApiKey("/run/keys/" + key + ".txt")) << key.substr(0, 4);
    EXPECT_TRUE(containsApiKey("https://gw.example/v1?key=" + key)) << key.substr(0, 4);
    EXPECT_TRUE(containsApiKey("Bearer " + key)) << key.substr(0, 4);
    EXPECT_TRUE(containsApiKey("x" + key + "_2")) << key.substr(0, 4);  // glued to other key characters
  }
}

// Found by fuzz_config: a random key glued to low-entropy padding in one
// letters-and-digits run was judged on the whole run's entropy and passed as
// a variable name.
TEST(KeyShape, KeyGluedToPaddingIsStillFound) {
  const std::string key = "Zx8vQ2mN7pL4kR9tY3wB6cF1hJ5dG0sAq";
  const std::string padded = "K" + std::string(100, 't') + "6MBinternaln9" + key;
  EXPECT_TRUE(containsApiKey(padded));
  EXPECT_TRUE(containsApiKey(key + std::string(200, 'a')));
  try {
    parseConfig(R"({"providers": [{"name": "openai", "key_env": ")" + padded + R"("}]})", kFile);
    FAIL() << "a padded key was taken for a variable name";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path, "providers[0].key_env");
    EXPECT_EQ(leakedPiece(e.what(), key), "");
  }
}

TEST(KeyShape, OrdinaryConfigValuesDoNot) {
  for (const char* v :
       {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DISCORD_BOT_TOKEN",
        "MY_COMPANY_OPENAI_API_KEY_FOR_PRODUCTION", "/run/credentials/pathwatchd.service/anthropic",
        "https://generativelanguage.googleapis.com/v1beta", "https://api.anthropic.com/v1",
        "/usr/share/ca-certificates/mozilla", "/etc/ssl/certs/ca-certificates.crt",
        "https://gateway.ai.cloudflare.com/v1/0123456789abcdef0123456789abcdef/gw/openai",
        "https://res.openai.azure.com/openai/deployments/123e4567-e89b-12d3-a456-426614174000",
        "https://x.example/Prod-Deployment-Eastus2-GPT4o-Mini-2024-07-18",
        "/opt/sk-learn-tutorials-and-notebooks", "GenerativeLanguageServiceClient2",
        "socks5h://127.0.0.1:1080", "2001:db8:85a3::8a2e:370:7334", "local-llm", "wg0",
        "/var/lib/pathwatch/history.db", "256MB", "30d", "[::1]:9848"}) {
    EXPECT_FALSE(containsApiKey(v)) << v;
  }
}

TEST(KeyShape, TheExampleConfigParses) {
  std::ifstream in(std::string(PATHWATCH_SOURCE_DIR) + "/examples/config.json");
  std::stringstream text;
  text << in.rdbuf();
  ASSERT_FALSE(text.str().empty());
  EXPECT_NO_THROW(parseConfig(text.str(), "examples/config.json"));
}

// ---- redactUrl: the one way a webhook URL is shown -------------------------

TEST(RedactUrl, KeepsWhereItGoesNeverWhatItCarries) {
  EXPECT_EQ(redactUrl("https://hooks.slack.com/services/T0AB/B0CD/XyZ123secretpart"),
            "https://hooks.slack.com/…");
  EXPECT_EQ(redactUrl("https://discord.com/api/webhooks/1234/abcdEFGH"), "https://discord.com/…");
  EXPECT_EQ(redactUrl("https://user:pw@hooks.example:8443/x?token=abc"), "https://hooks.example:8443/…");
  EXPECT_EQ(redactUrl("http://[::1]:8080/hook"), "http://[::1]:8080/…");
  EXPECT_EQ(redactUrl("https://hooks.example?token=abc"), "https://hooks.example/…");
  EXPECT_EQ(redactUrl("https://hooks.example"), "https://hooks.example");
  EXPECT_EQ(redactUrl("hooks.example/x"), "(invalid url)");
  EXPECT_EQ(redactUrl("https://"), "(invalid url)");
  EXPECT_EQ(redactUrl("https://ho st/x"), "(invalid url)");
  EXPECT_EQ(redactUrl("https://h\nx/y"), "(invalid url)");
  const std::string key = madeUpKeys()[0];
  EXPECT_EQ(leakedPiece(redactUrl("https://" + key + ".example/x"), key), "");
}

}  // namespace
}  // namespace pathwatch
