// The keys added to the original contract: metrics.listen, alerts.flapping,
// alerts.webhook_retry, alerts.exec_timeout. Absent, each keeps the behaviour
// the daemon had before it existed; present, each is validated strictly.
#include <gtest/gtest.h>

#include <string>

#include "pathwatch/config.h"

namespace pathwatch {
namespace {

using namespace std::chrono_literals;

const char* kFile = "/etc/pathwatch/config.json";

TEST(NewKeys, AbsentMeansTodaysBehaviour) {
  const Config c = parseConfig("{}", kFile);
  EXPECT_FALSE(c.metrics.has_value());  // no metrics endpoint unless asked
  EXPECT_EQ(c.alerts.flapping.changes, 4);
  EXPECT_EQ(c.alerts.flapping.window, 10);
  EXPECT_EQ(c.alerts.flapping.settle, 0);  // 2 x resolve_threshold
  EXPECT_EQ(c.alerts.webhook_retry.attempts, 3);
  EXPECT_EQ(c.alerts.webhook_retry.backoff, (std::vector<Millis>{1s, 4s}));
  EXPECT_EQ(c.alerts.exec_timeout, 30s);
  // An "alerts" object without them keeps them too.
  const Config d = parseConfig(R"({"alerts": {"fail_threshold": 3}})", kFile);
  EXPECT_EQ(d.alerts.flapping.window, 10);
  EXPECT_EQ(d.alerts.webhook_retry.attempts, 3);
  EXPECT_EQ(d.alerts.exec_timeout, 30s);
}

TEST(NewKeys, MetricsListen) {
  Config c = parseConfig(R"({"metrics": {"listen": "127.0.0.1:9848"}})", kFile);
  ASSERT_TRUE(c.metrics.has_value());
  EXPECT_EQ(c.metrics->listen, "127.0.0.1:9848");
  EXPECT_EQ(c.metrics->host, "127.0.0.1");
  EXPECT_FALSE(c.metrics->v6);
  EXPECT_EQ(c.metrics->port, 9848);
  c = parseConfig(R"({"metrics": {"listen": "[::1]:65535"}})", kFile);
  ASSERT_TRUE(c.metrics.has_value());
  EXPECT_EQ(c.metrics->host, "::1");
  EXPECT_TRUE(c.metrics->v6);
  EXPECT_EQ(c.metrics->port, 65535);
  c = parseConfig(R"({"metrics": {"listen": "0.0.0.0:1"}})", kFile);
  EXPECT_EQ(c.metrics->port, 1);
}

TEST(NewKeys, AlertsTuning) {
  const Config c = parseConfig(R"({"alerts": {
      "flapping": {"changes": 3, "window": 6, "settle": 5},
      "webhook_retry": {"attempts": 5, "backoff": ["500ms", "2s", "10s"]},
      "exec_timeout": "2m"}})",
                               kFile);
  EXPECT_EQ(c.alerts.flapping.changes, 3);
  EXPECT_EQ(c.alerts.flapping.window, 6);
  EXPECT_EQ(c.alerts.flapping.settle, 5);
  EXPECT_EQ(c.alerts.webhook_retry.attempts, 5);
  EXPECT_EQ(c.alerts.webhook_retry.backoff, (std::vector<Millis>{500ms, 2s, 10s}));
  EXPECT_EQ(c.alerts.exec_timeout, 2min);
  // A window alone keeps the default changes when they fit.
  EXPECT_EQ(parseConfig(R"({"alerts": {"flapping": {"window": 20}}})", kFile).alerts.flapping.changes, 4);
  // One attempt: no retries at all.
  EXPECT_EQ(parseConfig(R"({"alerts": {"webhook_retry": {"attempts": 1}}})", kFile)
                .alerts.webhook_retry.attempts,
            1);
}

struct Bad {
  const char* name;
  const char* json;
  const char* key_path;
  const char* problem_has;
};

void PrintTo(const Bad& b, std::ostream* os) { *os << b.name; }

class NewKeysBad : public ::testing::TestWithParam<Bad> {};

TEST_P(NewKeysBad, NamesKeyPathAndProblem) {
  const Bad& b = GetParam();
  try {
    parseConfig(b.json, kFile);
    FAIL() << "accepted: " << b.json;
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file, kFile);
    EXPECT_EQ(e.key_path, b.key_path) << e.what();
    EXPECT_NE(e.problem.find(b.problem_has), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Config, NewKeysBad,
    ::testing::Values(
        Bad{"MetricsNotObject", R"({"metrics": "127.0.0.1:9848"})", "metrics", "expected an object"},
        Bad{"MetricsNoListen", R"({"metrics": {}})", "metrics", "missing \"listen\""},
        Bad{"MetricsUnknown", R"({"metrics": {"listne": "127.0.0.1:9848"}})", "metrics.listne",
            "did you mean \"listen\""},
        Bad{"MetricsNoPort", R"({"metrics": {"listen": "127.0.0.1"}})", "metrics.listen", "IPv4:PORT"},
        Bad{"MetricsPortZero", R"({"metrics": {"listen": "127.0.0.1:0"}})", "metrics.listen", "1..65535"},
        Bad{"MetricsPortBig", R"({"metrics": {"listen": "127.0.0.1:65536"}})", "metrics.listen", "1..65535"},
        Bad{"MetricsName", R"({"metrics": {"listen": "localhost:9848"}})", "metrics.listen", "IPv4:PORT"},
        Bad{"MetricsV6NoBrackets", R"({"metrics": {"listen": "::1:9848"}})", "metrics.listen", "[IPv6]:PORT"},
        Bad{"MetricsV4InBrackets", R"({"metrics": {"listen": "[127.0.0.1]:9848"}})", "metrics.listen",
            "[IPv6]:PORT"},
        Bad{"MetricsEmpty", R"({"metrics": {"listen": ""}})", "metrics.listen", "must not be empty"},
        Bad{"MetricsNumber", R"({"metrics": {"listen": 9848}})", "metrics.listen", "expected a string"},
        Bad{"FlappingNotObject", R"({"alerts": {"flapping": true}})", "alerts.flapping", "expected an object"},
        Bad{"FlappingUnknown", R"({"alerts": {"flapping": {"change": 3}}})", "alerts.flapping.change",
            "did you mean \"changes\""},
        Bad{"FlappingChangesOne", R"({"alerts": {"flapping": {"changes": 1}}})", "alerts.flapping.changes",
            "between 2 and"},
        Bad{"FlappingChangesOverWindow", R"({"alerts": {"flapping": {"changes": 8, "window": 6}}})",
            "alerts.flapping.changes", "not be more than alerts.flapping.window"},
        Bad{"FlappingWindowUnderDefaultChanges", R"({"alerts": {"flapping": {"window": 3}}})",
            "alerts.flapping.window", "at least alerts.flapping.changes"},
        Bad{"FlappingWindowHuge", R"({"alerts": {"flapping": {"window": 100000}}})", "alerts.flapping.window",
            "between 2 and 1000"},
        Bad{"FlappingSettleZero", R"({"alerts": {"flapping": {"settle": 0}}})", "alerts.flapping.settle",
            "between 1 and"},
        Bad{"FlappingSettleString", R"({"alerts": {"flapping": {"settle": "4"}}})", "alerts.flapping.settle",
            "expected an integer"},
        Bad{"RetryUnknown", R"({"alerts": {"webhook_retry": {"tries": 3}}})", "alerts.webhook_retry.tries",
            "unknown key"},
        Bad{"RetryZero", R"({"alerts": {"webhook_retry": {"attempts": 0}}})", "alerts.webhook_retry.attempts",
            "between 1 and 10"},
        Bad{"RetryMany", R"({"alerts": {"webhook_retry": {"attempts": 11}}})", "alerts.webhook_retry.attempts",
            "between 1 and 10"},
        Bad{"BackoffEmpty", R"({"alerts": {"webhook_retry": {"backoff": []}}})", "alerts.webhook_retry.backoff",
            "1 to 10 durations"},
        Bad{"BackoffNotArray", R"({"alerts": {"webhook_retry": {"backoff": "1s"}}})",
            "alerts.webhook_retry.backoff", "expected an array"},
        Bad{"BackoffNumber", R"({"alerts": {"webhook_retry": {"backoff": ["1s", 4]}}})",
            "alerts.webhook_retry.backoff[1]", "unit"},
        Bad{"BackoffTooLong", R"({"alerts": {"webhook_retry": {"backoff": ["2h"]}}})",
            "alerts.webhook_retry.backoff[0]", "too long"},
        Bad{"BackoffZero", R"({"alerts": {"webhook_retry": {"backoff": ["0s"]}}})",
            "alerts.webhook_retry.backoff[0]", "too short"},
        Bad{"ExecTimeoutNumber", R"({"alerts": {"exec_timeout": 30}})", "alerts.exec_timeout", "unit"},
        Bad{"ExecTimeoutZero", R"({"alerts": {"exec_timeout": "0s"}})", "alerts.exec_timeout", "too short"},
        Bad{"ExecTimeoutLong", R"({"alerts": {"exec_timeout": "2h"}})", "alerts.exec_timeout", "too long"},
        Bad{"ExecTimeoutTypo", R"({"alerts": {"exec_timout": "5s"}})", "alerts.exec_timout",
            "did you mean \"exec_timeout\""}),
    [](const auto& row) { return std::string(row.param.name); });

}  // namespace
}  // namespace pathwatch
