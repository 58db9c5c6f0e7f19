// Help for everything, and the config commands, run as an operator would:
// every command `pathwatch --help` lists answers --help on stdout with exit 0,
// naming every option it accepts (and the parser accepts what the help
// names); a usage error is one line on stderr, exit 2, pointing at --help;
// the man pages name the same commands and options. `config check` prints a
// valid config and what each key source gives, never a key.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "pathwatch/config.h"
#include "support/cli_run.h"

namespace {

using pathwatch::test::runProgram;
using pathwatch::test::RunResult;

const std::string kBinary = PATHWATCH_BINARY_DIR "/pathwatch";
const std::string kDaemon = PATHWATCH_BINARY_DIR "/pathwatchd";

// What each command accepts. A command listed by `pathwatch --help` but not
// here fails the test: say what it accepts.
const std::map<std::string, std::vector<std::string>> kOptions = {
    {"check", {"-c", "--config", "-p", "--provider", "-r", "--route", "--json", "--timeout"}},
    {"status", {"--socket", "--json"}},
    {"history",
     {"--socket", "--json", "-p", "--provider", "-r", "--route", "--since", "--transitions",
      "--alerts", "--limit"}},
    {"watch", {"--socket", "--json"}},
    {"run", {"--socket", "--json"}},
    {"reload", {"--socket", "--json"}},
    {"metrics", {"--socket"}},
    {"config check", {"-c", "--config"}},
    {"config example", {}},
    {"echo-server",
     {"--listen", "--tls-cert", "--tls-key", "--max-clients", "--max-per-address",
      "--read-timeout"}},
};
// Its client command comes with the daemon's metrics answer; until it is in
// the table its help text is checked in the unit tests.
const std::set<std::string> kMayBeAbsent = {"metrics"};

std::vector<std::string> words(const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(name);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<std::string> argvFor(const std::string& name, std::vector<std::string> rest) {
  std::vector<std::string> argv = {kBinary};
  for (auto& w : words(name)) argv.push_back(w);
  argv.insert(argv.end(), rest.begin(), rest.end());
  return argv;
}

// The commands `pathwatch --help` lists: "  NAME   summary" under "commands:".
std::vector<std::string> listedCommands() {
  const RunResult r = runProgram({kBinary, "--help"});
  EXPECT_EQ(r.exit_code, 0);
  std::vector<std::string> out;
  std::istringstream in(r.out);
  bool in_list = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "commands:") {
      in_list = true;
      continue;
    }
    if (!in_list) continue;
    if (line.rfind("  ", 0) != 0) break;
    const auto end = line.find("  ", 2);
    out.push_back(line.substr(2, end - 2));
  }
  return out;
}

std::string readSourceFile(const std::string& rel) {
  std::ifstream f(std::string(PATHWATCH_SOURCE_DIR) + "/" + rel);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(CliHelp, TheListIsTheTable) {
  const auto listed = listedCommands();
  ASSERT_FALSE(listed.empty());
  for (const auto& name : listed)
    EXPECT_TRUE(kOptions.count(name)) << name << ": say what it accepts";
  for (const auto& [name, options] : kOptions) {
    if (kMayBeAbsent.count(name)) continue;
    EXPECT_NE(std::find(listed.begin(), listed.end(), name), listed.end()) << name << " not listed";
  }
}

TEST(CliHelp, EveryCommandsHelpNamesItAndEveryOption) {
  for (const auto& name : listedCommands()) {
    SCOPED_TRACE(name);
    const auto it = kOptions.find(name);
    ASSERT_NE(it, kOptions.end());
    for (const char* flag : {"--help", "-h"}) {
      const RunResult r = runProgram(argvFor(name, {flag}));
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.err, "");
      EXPECT_EQ(r.out.rfind("usage: pathwatch " + name, 0), 0u) << r.out;
      for (const auto& opt : it->second) EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
      EXPECT_NE(r.out.find("--help"), std::string::npos);
      const auto example = r.out.find("\nExample:\n  ");
      ASSERT_NE(example, std::string::npos) << r.out;
      EXPECT_NE(r.out.find("pathwatch " + name, example), std::string::npos) << r.out;
    }
    // `pathwatch help NAME` is the same text, and --help wins over other options.
    std::vector<std::string> help = {kBinary, "help"};
    for (auto& w : words(name)) help.push_back(w);
    const RunResult h = runProgram(help);
    EXPECT_EQ(h.exit_code, 0);
    EXPECT_EQ(h.out, runProgram(argvFor(name, {"--help"})).out);
    const RunResult mixed = runProgram(argvFor(name, {"--bogus", "--help"}));
    EXPECT_EQ(mixed.exit_code, 0);
    EXPECT_EQ(mixed.out, h.out);
  }
}

TEST(CliHelp, UnknownOptionIsAUsageErrorPointingAtHelp) {
  for (const auto& name : listedCommands()) {
    SCOPED_TRACE(name);
    const RunResult r = runProgram(argvFor(name, {"--no-such-option"}));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("pathwatch " + name + " --help"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  }
}

TEST(CliHelp, ThePartsAcceptWhatTheHelpNames) {
  // Against a socket nobody listens on, every option parses: exit 3, not 2.
  const std::string nowhere = "/nonexistent-pathwatch-dir/pw.sock";
  const std::vector<std::vector<std::string>> daemon_cases = {
      {"status", "--socket", nowhere, "--json"},
      {"status", "--socket=" + nowhere},
      {"run", "--json", "--socket", nowhere},
      {"reload", "--socket", nowhere, "--json"},
      {"watch", "--socket", nowhere, "--json"},
      {"history", "--socket", nowhere, "--json", "-p", "openai", "--provider", "openai", "-r",
       "vpn", "--route=vpn", "--since", "1h", "--transitions", "--alerts", "--limit", "5"},
  };
  for (const auto& c : daemon_cases) {
    std::vector<std::string> argv = {kBinary};
    argv.insert(argv.end(), c.begin(), c.end());
    const RunResult r = runProgram(argv);
    EXPECT_EQ(r.exit_code, 3) << c[0] << ": " << r.err;
    EXPECT_NE(r.err.find("pathwatchd is not running"), std::string::npos) << r.err;
  }
  // check: every option parses, then the missing file is the (config) error.
  const RunResult c = runProgram({kBinary, "check", "-c", "/nonexistent.json", "-p", "openai",
                                  "--provider=anthropic", "-r", "default", "--route", "default",
                                  "--json", "--timeout", "5s"});
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_NE(c.err.find("/nonexistent.json"), std::string::npos) << c.err;
  EXPECT_EQ(c.err.find("--help"), std::string::npos) << "not a usage error: " << c.err;
  for (const auto& form : std::vector<std::vector<std::string>>{{"-c", "/nonexistent.json"},
                                                                {"--config", "/nonexistent.json"},
                                                                {"--config=/nonexistent.json"},
                                                                {"-c/nonexistent.json"}}) {
    const RunResult r = runProgram(argvFor("config check", form));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("/nonexistent.json"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("--help"), std::string::npos) << r.err;
  }
  // Values that are missing or wrong are usage errors too.
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {kBinary, "status", "--socket"},
           {kBinary, "status", "--json=yes"},
           {kBinary, "history", "--limit", "0"},
           {kBinary, "status", "stray"},
           {kBinary, "config", "check", "-c"},
           {kBinary, "config", "example", "extra"},
       }) {
    const RunResult r = runProgram(argv);
    EXPECT_EQ(r.exit_code, 2) << argv[1];
    EXPECT_NE(r.err.find("--help)"), std::string::npos) << r.err;
  }
}

TEST(CliHelp, GroupsAndUnknownNames) {
  RunResult r = runProgram({kBinary, "config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config check, config example"), std::string::npos) << r.err;
  r = runProgram({kBinary, "config", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("usage: pathwatch config check"), std::string::npos);
  EXPECT_NE(r.out.find("usage: pathwatch config example"), std::string::npos);
  EXPECT_EQ(runProgram({kBinary, "help", "config"}).out, r.out);
  r = runProgram({kBinary, "config", "frob"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command \"config frob\""), std::string::npos) << r.err;
  r = runProgram({kBinary, "help", "frob"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("see pathwatch --help"), std::string::npos);
}

TEST(CliHelp, Pathwatchd) {
  RunResult r = runProgram({kDaemon, "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.rfind("usage: pathwatchd", 0), 0u);
  for (const char* opt : {"-c", "--config", "--socket", "--help", "Example:\n  pathwatchd "})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  r = runProgram({kDaemon, "--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("--bogus (see pathwatchd --help)"), std::string::npos) << r.err;
  r = runProgram({kDaemon, "-c"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("needs a file name"), std::string::npos) << r.err;
}

// docs/man says the same: every command has its section, every option is named.
TEST(CliHelp, ManPagesNameEveryCommandAndOption) {
  const std::string man = readSourceFile("docs/man/pathwatch.1");
  ASSERT_FALSE(man.empty());
  auto roff = [](std::string s) {
    std::string out;
    for (char c : s) out += c == '-' ? std::string("\\-") : std::string(1, c);
    return out;
  };
  for (const auto& [name, options] : kOptions) {
    SCOPED_TRACE(name);
    const std::string section =
        name.find(' ') != std::string::npos ? ".SS \"" + name + "\"" : ".SS " + roff(name);
    EXPECT_NE(man.find(section + "\n"), std::string::npos) << section;
    for (const auto& opt : options) EXPECT_NE(man.find(roff(opt)), std::string::npos) << opt;
  }
  const std::string man8 = readSourceFile("docs/man/pathwatchd.8");
  for (const char* opt : {"\\-c", "\\-\\-config", "\\-\\-socket", "\\-\\-help"})
    EXPECT_NE(man8.find(opt), std::string::npos) << opt;
}

class ConfigCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pathwatch-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& f : files_) unlink(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    files_.push_back(path);
    return path;
  }
  std::string dir_;
  std::vector<std::string> files_;
};

// Made up, shaped like a real project key.
const std::string kKey = "sk-proj-Hq3Zt8wQ2mXv9Lr4Kp7Nc1Hd6Fy3Bj0Gs5MxYAe4Wq";

TEST_F(ConfigCommand, ErrorIsCheckOwnAndNeverTheValue) {
  const auto path =
      write("c.json", R"({"providers": [{"name": "openai", "key_env": ")" + kKey +
                          R"("}], "routes": [{"name": "a"}, {"name": "b", "interfase": "x"}]})");
  const RunResult config = runProgram({kBinary, "config", "check", "-c", path});
  const RunResult check = runProgram({kBinary, "check", "-c", path});
  EXPECT_EQ(config.exit_code, 2);
  EXPECT_EQ(config.out, "");
  const std::string prefix = "pathwatch config check: ";
  ASSERT_EQ(config.err.rfind(prefix, 0), 0u) << config.err;
  EXPECT_EQ(config.err.substr(prefix.size()),
            check.err.substr(std::string("pathwatch check: ").size()));
  EXPECT_NE(config.err.find(path + ": providers[0].key_env: "), std::string::npos) << config.err;
  EXPECT_EQ(config.err.find("Hq3Zt8wQ"), std::string::npos) << "the value is never quoted";
}

TEST_F(ConfigCommand, PrintsAValidConfigAndWhatEachKeyGives) {
  const auto quoted = write("quoted-key", "\"" + kKey + "\"\n");
  const auto path = write("c.json", R"({
    "interval": "90s",
    "providers": [
      {"name": "openai", "key_env": "PW_TEST_OPENAI"},
      {"name": "anthropic", "key_file": ")" +
                                        dir_ + R"(/no-such-key"},
      {"name": "gemini", "key_file": ")" +
                                        quoted + R"("},
      {"name": "discord", "enabled": false}],
    "alerts": {"webhooks": [{"url": "https://hooks.slack.com/services/T0/B0/SECRETPATHPART"}]}})");
  const RunResult r = runProgram({kBinary, "config", "check", "-c", path}, std::chrono::seconds(10),
                                 {{"PW_TEST_OPENAI", kKey}, {"DISCORD_BOT_TOKEN", ""}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // stdout is a config: parse it back.
  pathwatch::Config c;
  ASSERT_NO_THROW(c = pathwatch::parseConfig(r.out, "<stdout>")) << r.out;
  EXPECT_EQ(c.interval, std::chrono::seconds(90));
  // The four, then the opt-in built-ins the file does not name: known, off.
  ASSERT_EQ(c.providers.size(), 10u);
  EXPECT_EQ(c.providers[0].key_env, "PW_TEST_OPENAI");
  EXPECT_FALSE(c.providers[3].enabled);
  for (std::size_t i = 4; i < c.providers.size(); ++i) {
    EXPECT_FALSE(c.providers[i].enabled) << c.providers[i].spec.name;
    EXPECT_TRUE(c.providers[i].spec.builtin) << c.providers[i].spec.name;
  }
  EXPECT_EQ(c.alerts.webhooks.at(0).url, "https://hooks.slack.com/…");
  EXPECT_EQ(c.alerts.flapping.window, 10);
  // stderr: valid, then one line per provider.
  EXPECT_NE(r.err.find(path + ": valid"), std::string::npos) << r.err;
  auto lineOf = [&](const std::string& name) {
    const auto at = r.err.find("\n  " + name + " ");
    return at == std::string::npos ? std::string()
                                   : r.err.substr(at + 1, r.err.find('\n', at + 1) - at - 1);
  };
  EXPECT_NE(lineOf("openai").find("env:PW_TEST_OPENAI"), std::string::npos) << r.err;
  EXPECT_NE(lineOf("openai").find(" ok sk-proj…e4Wq"), std::string::npos) << r.err;
  EXPECT_NE(lineOf("anthropic").find("missing (file_not_found)"), std::string::npos) << r.err;
  EXPECT_NE(lineOf("gemini").find("malformed ("), std::string::npos) << r.err;
  EXPECT_NE(lineOf("discord").find("[disabled]"), std::string::npos) << r.err;
  // Never a key, never the webhook's secret path.
  for (const std::string& text : {r.out, r.err}) {
    EXPECT_EQ(text.find("Hq3Zt8wQ2mXv9Lr4"), std::string::npos);
    EXPECT_EQ(text.find("SECRETPATHPART"), std::string::npos);
  }
}

TEST_F(ConfigCommand, ExampleIsTheShippedFileAndParses) {
  const RunResult r = runProgram({kBinary, "config", "example"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, readSourceFile("examples/config.json"));
  EXPECT_NO_THROW(pathwatch::parseConfig(r.out, "<example>"));
  // And config check takes it as it is.
  const auto path = write("example.json", r.out);
  EXPECT_EQ(runProgram({kBinary, "config", "check", "-c", path}).exit_code, 0);
}

}  // namespace
