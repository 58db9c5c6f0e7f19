// The built `pathwatch` binary, run as an operator would: exit codes, what
// goes to stdout and stderr. Config errors exit before any probe runs; the
// one test that runs a real check does it inside `unshare -rn` (a network
// namespace with no interfaces), so nothing can leave the machine.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/cli_run.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

const std::string kBinary = PATHWATCH_BINARY_DIR "/pathwatch";

using pathwatch::test::RunResult;

RunResult run(std::vector<std::string> argv, std::chrono::seconds limit = std::chrono::seconds(10)) {
  return pathwatch::test::runProgram(std::move(argv), limit);
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pathwatch-cli-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& f : files_) unlink(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string writeConfig(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }
  std::string dir_;
  std::vector<std::string> files_;
};

// A config error: exit 2, nothing on stdout, one line on stderr naming the
// file, the key path and the problem.
void expectConfigError(const RunResult& r, const std::string& file, const std::string& key_path,
                       const std::string& problem) {
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
  if (!key_path.empty()) {
    EXPECT_NE(r.err.find(": " + key_path + ": "), std::string::npos) << r.err;
  }
  EXPECT_NE(r.err.find(problem), std::string::npos) << r.err;
}

TEST_F(Cli, MissingConfigFile) {
  const std::string path = dir_ + "/nope.json";
  expectConfigError(run({kBinary, "check", "-c", path}), path, "", "no such file");
}

TEST_F(Cli, InvalidJsonNamesLineAndColumn) {
  const auto path = writeConfig("bad.json", "{\n  \"interval\": \"60s\"\n  \"timeout\": \"5s\"\n}\n");
  expectConfigError(run({kBinary, "check", "-c", path}), path, "", "line 3, column");
}

TEST_F(Cli, UnknownKeyNamesThePath) {
  const auto path = writeConfig("c.json", R"({"routes": [{"name": "a"}, {"name": "b", "interfase": "eth0"}]})");
  expectConfigError(run({kBinary, "check", "-c", path}), path, "routes[1].interfase", "unknown key");
}

TEST_F(Cli, WrongType) {
  const auto path = writeConfig("c.json", R"({"providers": [{"name": "openai", "enabled": "yes"}]})");
  expectConfigError(run({kBinary, "check", "-c", path}), path, "providers[0].enabled", "true or false");
}

TEST_F(Cli, BadDuration) {
  const auto path = writeConfig("c.json", R"({"timeout": "10 seconds"})");
  expectConfigError(run({kBinary, "check", "--json", "-c", path}), path, "timeout", "not a duration");
}

TEST_F(Cli, RouteWithInterfaceAndProxy) {
  const auto path = writeConfig(
      "c.json", R"({"routes": [{"name": "default"}, {"name": "vpn", "interface": "wg0", "proxy": "http://127.0.0.1:3128"}]})");
  expectConfigError(run({kBinary, "check", "-c", path}), path, "routes[1]", "at most one");
}

TEST_F(Cli, ResolverByName) {
  const auto path = writeConfig("c.json", R"({"resolvers": ["system", "dns.example.net"]})");
  expectConfigError(run({kBinary, "check", "-c", path}), path, "resolvers[1]", "resolver");
}

TEST_F(Cli, KeyInConfigRefused) {
  const auto path = writeConfig(
      "c.json", R"({"providers": [{"name": "openai", "api_key": "sk-proj-Zt8wQ2mXv9Lr4Kp7Nc1Hd6Fy3Bj0Gs5MxYA"}]})");
  const RunResult r = run({kBinary, "check", "-c", path});
  expectConfigError(r, path, "providers[0].api_key", "key_env");
  EXPECT_EQ(r.err.find("Zt8wQ2mX"), std::string::npos) << "the key itself is never echoed";
}

TEST_F(Cli, UnknownProviderAndRouteNamed) {
  const auto path = writeConfig("c.json", R"({"routes": [{"name": "default"}]})");
  RunResult r = run({kBinary, "check", "-c", path, "-p", "openai", "-p", "cohere"});
  expectConfigError(r, path, "providers", "cohere");
  EXPECT_NE(r.err.find("no provider named cohere (known: openai, anthropic"), std::string::npos) << r.err;
  r = run({kBinary, "check", "-c", path, "-r", "vpn"});
  expectConfigError(r, path, "routes", "vpn");
}

TEST_F(Cli, ConfigGivenTwiceIsUsageError) {
  const auto path = writeConfig("c.json", "{}");
  const RunResult r = run({kBinary, "check", "-c", path, "-c", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
}

struct UsageCase {
  std::vector<std::string> args;
  int code;
  bool stdout_has_text;
  const char* err_has;
};

TEST(CliUsage, HelpVersionAndBadOptions) {
  const std::vector<UsageCase> cases = {
      {{"--help"}, 0, true, ""},
      {{"help"}, 0, true, ""},
      {{"check", "--help"}, 0, true, ""},
      {{"help", "check"}, 0, true, ""},
      {{"--version"}, 0, true, ""},
      {{}, 2, false, "usage"},
      {{"--bogus"}, 2, false, "unknown option --bogus"},
      {{"frobnicate"}, 2, false, "unknown command"},
      {{"check", "--bogus"}, 2, false, "unknown option --bogus"},
      {{"check", "-x"}, 2, false, "unknown option -x"},
      {{"check", "-c"}, 2, false, "-c needs a value"},
      {{"check", "--timeout", "soon"}, 2, false, "--timeout"},
      {{"check", "--timeout", "0s"}, 2, false, "too short"},
      {{"check", "--json=yes"}, 2, false, "takes no value"},
      {{"check", "stray"}, 2, false, "unexpected argument"},
      {{"check", "-p", ""}, 2, false, "empty name"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {kBinary};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::string shown;
    for (const auto& a : c.args) shown += a + " ";
    const RunResult r = run(argv);
    EXPECT_EQ(r.exit_code, c.code) << shown << "\n" << r.err;
    EXPECT_EQ(!r.out.empty(), c.stdout_has_text) << shown << "\n" << r.out;
    EXPECT_NE(r.err.find(c.err_has), std::string::npos) << shown << "\n" << r.err;
    if (c.code == 0) {
      EXPECT_EQ(r.err, "") << shown;
    }
  }
}

TEST(CliUsage, HelpNamesTheCheckOptions) {
  const RunResult r = run({kBinary, "check", "--help"});
  for (const char* opt : {"-c", "-p", "-r", "--json", "--timeout", "/etc/pathwatch/config.json"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
}

// The embedded defaults, inside a network namespace with no interfaces:
// every provider must fail at DNS or TCP, the document must be valid JSON,
// and the whole thing must end (the test kills it after 10 s).
bool canUnshareNet() {
  const RunResult r = run({"unshare", "-rn", "true"}, std::chrono::seconds(5));
  return r.exit_code == 0;
}

TEST(CliCheck, EmbeddedDefaultsWithoutNetworkFailEveryProvider) {
  struct stat st {};
  if (stat("/etc/pathwatch/config.json", &st) == 0)
    GTEST_SKIP() << "/etc/pathwatch/config.json exists; this test needs the embedded defaults";
  if (!canUnshareNet()) GTEST_SKIP() << "unshare -rn is not permitted here";

  const RunResult r = run({"unshare", "-rn", kBinary, "check", "--json", "--timeout", "2s"});
  ASSERT_FALSE(r.timed_out) << "check did not finish within 10 s";
  EXPECT_EQ(r.exit_code, 1) << r.err;
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(r.out)) << r.out;
  EXPECT_EQ(doc["version"], 1);
  ASSERT_TRUE(doc["providers"].is_array());
  std::vector<std::string> names;
  for (const auto& p : doc["providers"]) {
    names.push_back(p["name"].get<std::string>());
    ASSERT_FALSE(p["routes"].empty()) << p.dump();
    for (const auto& route : p["routes"]) {
      const std::string verdict = route["verdict"];
      EXPECT_TRUE(verdict == "dns_failed" || verdict == "connect_failed")
          << p["name"] << " on " << route["route"] << ": " << verdict;
      EXPECT_EQ(route["route"], "default");
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"openai", "anthropic", "gemini", "discord"}));
}

TEST(CliCheck, HumanTableWithoutNetwork) {
  struct stat st {};
  if (stat("/etc/pathwatch/config.json", &st) == 0)
    GTEST_SKIP() << "/etc/pathwatch/config.json exists; this test needs the embedded defaults";
  if (!canUnshareNet()) GTEST_SKIP() << "unshare -rn is not permitted here";

  const RunResult r = run({"unshare", "-rn", kBinary, "check", "-p", "openai", "--timeout", "2s"});
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("config <defaults>"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("openai"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("anthropic"), std::string::npos) << "-p selects: " << r.out;
  EXPECT_EQ(r.out.find('\033'), std::string::npos) << "no colour when stdout is not a terminal";
}

}  // namespace
