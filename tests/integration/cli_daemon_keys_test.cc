// The key the service cannot see: a real pathwatchd started without the
// key's variable, while the person running `pathwatch check` / `status` has
// it (a made-up key shaped like a real one). Both commands must say which
// keys pathwatchd lacks or holds differently, with the systemd fix, and no
// key may appear in any output, the status answer or the daemon's log. A
// daemon that is absent or silent must not hold the check up.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "support/cli_run.h"
#include "support/daemon_harness.h"

namespace pathwatch::daemon_test {
namespace {

using nlohmann::json;
using test::runProgram;
using test::RunResult;

const std::string kBinary = PATHWATCH_BINARY_DIR "/pathwatch";
const char* kVar = "PATHWATCH_TEST_FAKE_KEY";  // the harness config's key_env
// Made up, shaped like real project keys.
const std::string kKeyA = "sk-proj-Vb4Nm7Qa0Ws3Ed6Rf9Tg2Yh5Uj8Ik1Ol4Pz7Mx0Nc3Bv6C";
const std::string kKeyB = "sk-proj-Lp2Ko9Ji8Hu7Gy6Ft5Dr4Se3Wa1Qz0Xc9Vb8Nm7Kl6Jh5G";

// Neither key, nor a telling piece of one, in `text`.
void expectNoKey(const std::string& text, const std::string& where) {
  for (const std::string& key : {kKeyA, kKeyB}) {
    EXPECT_EQ(text.find(key), std::string::npos) << where;
    EXPECT_EQ(text.find(key.substr(8, 16)), std::string::npos) << where;
  }
}

class DaemonKeys : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv(kVar);  // the forked daemon inherits this process's environment
    config_ = writeConfig(dir_.path);
    socket_ = dir_.path + "/pw.sock";
    log_ = dir_.path + "/daemon.log";
  }

  // Starts pathwatchd (with the key when `key` is not empty) and waits until
  // its status answer shows the provider's key entry.
  void startDaemon(const std::string& key) {
    std::map<std::string, std::string> env;
    if (!key.empty()) env[kVar] = key;
    DaemonProcess started = DaemonProcess::start(config_, socket_, log_, env);
    daemon_ = std::make_unique<DaemonProcess>(started);  // a copy: the original must not kill it
    started.pid = -1;
    ASSERT_TRUE(waitUntil(
        [&] {
          SocketClient c;
          if (!c.connect(socket_, std::chrono::milliseconds(200))) return false;
          auto a = c.ask({{"cmd", "status"}}, std::chrono::seconds(2));
          if (!a || !(*a)["providers"].is_array() || (*a)["providers"].empty()) return false;
          status_ = *a;
          return (*a)["providers"][0]["key"].is_object();
        },
        std::chrono::seconds(10)))
        << readFile(log_);
  }

  RunResult pathwatch(std::vector<std::string> args, const std::string& key) {
    std::vector<std::string> argv = {kBinary};
    argv.insert(argv.end(), args.begin(), args.end());
    std::map<std::string, std::string> env = {{"PATHWATCH_SOCKET", ""}};
    if (!key.empty()) env[kVar] = key;
    RunResult r = runProgram(argv, std::chrono::seconds(20), env);
    EXPECT_FALSE(r.timed_out);
    expectNoKey(r.out + r.err, args[0]);
    return r;
  }

  void TearDown() override {
    if (daemon_) {
      daemon_->kill(SIGTERM);
      daemon_->wait(std::chrono::seconds(5));
      expectNoKey(readFile(log_), "the daemon's log");
    }
  }

  TempDir dir_;
  std::string config_, socket_, log_;
  std::unique_ptr<DaemonProcess> daemon_;
  json status_;
};

TEST_F(DaemonKeys, StatusAnswerCarriesTheKeySourceNeverTheKey) {
  startDaemon(kKeyA);
  const json& key = status_["providers"][0]["key"];
  EXPECT_EQ(status_["providers"][0]["name"], "fake");
  EXPECT_EQ(status_["providers"][0]["kind"], "openai");
  EXPECT_EQ(key["source"], std::string("env:") + kVar);
  EXPECT_EQ(key["status"], "ok");
  EXPECT_EQ(key["read"], true);
  EXPECT_EQ(key["fingerprint"], kKeyA.substr(0, 7) + "…" + kKeyA.substr(kKeyA.size() - 4));
  expectNoKey(status_.dump(), "the status answer");
}

TEST_F(DaemonKeys, TheVariableTheServiceCannotSee) {
  startDaemon("");
  EXPECT_EQ(status_["providers"][0]["key"]["error"], "key_missing");
  const std::string fp = kKeyA.substr(0, 7) + "…" + kKeyA.substr(kKeyA.size() - 4);

  RunResult r = pathwatch({"check", "-c", config_}, kKeyA);
  EXPECT_EQ(r.exit_code, 1) << r.err;  // nothing listens at the provider's port
  const auto keys = r.out.find("Keys: this check and pathwatchd (pid ");
  ASSERT_NE(keys, std::string::npos) << r.out;
  const std::string text = r.out.substr(keys);
  EXPECT_NE(text.find("! fake: this check read a key from env:PATHWATCH_TEST_FAKE_KEY (" + fp +
                      "), but pathwatchd has none (env:PATHWATCH_TEST_FAKE_KEY: env_unset)."),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("A variable set in your shell is not in the service's environment."),
            std::string::npos);
  EXPECT_NE(text.find("        LoadCredential=fake:/etc/pathwatch/keys/fake\n"), std::string::npos);
  EXPECT_NE(text.find("\"key_file\": \"/run/credentials/pathwatchd.service/fake\""),
            std::string::npos);
  EXPECT_NE(text.find("        EnvironmentFile=-/etc/pathwatch/keys.env\n"), std::string::npos);
  EXPECT_NE(text.find("PATHWATCH_TEST_FAKE_KEY=<the key>"), std::string::npos);

  r = pathwatch({"check", "-c", config_, "--json"}, kKeyA);
  json doc = json::parse(r.out);
  const json& dk = doc["daemon_keys"];
  ASSERT_TRUE(dk.is_object()) << r.out;
  EXPECT_EQ(dk["socket"], socket_);
  EXPECT_EQ(dk["pid"], daemon_->pid);
  EXPECT_EQ(dk["config"], config_);
  ASSERT_EQ(dk["providers"].size(), 1u);
  EXPECT_EQ(dk["providers"][0]["name"], "fake");
  EXPECT_EQ(dk["providers"][0]["finding"], "daemon_lacks_key");
  EXPECT_EQ(dk["providers"][0]["local"]["fingerprint"], fp);
  EXPECT_EQ(dk["providers"][0]["daemon"]["problems"], json::array({"env_unset"}));
  EXPECT_EQ(dk["providers"][0]["fix"]["load_credential"],
            "LoadCredential=fake:/etc/pathwatch/keys/fake");
  EXPECT_EQ(dk["providers"][0]["fix"]["environment_variable"], kVar);

  // status, the other way round: it reads the key here, from the daemon's source.
  r = pathwatch({"status", "--socket", socket_}, kKeyA);
  EXPECT_NE(r.out.find("Keys: you and pathwatchd (pid "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("! fake: you have a key in env:PATHWATCH_TEST_FAKE_KEY (" + fp +
                       "), but pathwatchd has none"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("LoadCredential=fake:/etc/pathwatch/keys/fake"), std::string::npos);
  r = pathwatch({"status", "--socket", socket_, "--json"}, kKeyA);
  doc = json::parse(r.out);
  EXPECT_EQ(doc["local_keys"]["providers"][0]["finding"], "daemon_lacks_key") << r.out;

  // Without the key here, neither has one: nothing to say.
  r = pathwatch({"status", "--socket", socket_}, "");
  EXPECT_EQ(r.out.find("Keys:"), std::string::npos) << r.out;
  r = pathwatch({"check", "-c", config_}, "");
  EXPECT_EQ(r.out.find("Keys:"), std::string::npos) << r.out;
}

TEST_F(DaemonKeys, TheDaemonUsesADifferentKey) {
  startDaemon(kKeyA);
  const std::string fp_a = kKeyA.substr(0, 7) + "…" + kKeyA.substr(kKeyA.size() - 4);
  const std::string fp_b = kKeyB.substr(0, 7) + "…" + kKeyB.substr(kKeyB.size() - 4);
  RunResult r = pathwatch({"check", "-c", config_}, kKeyB);
  EXPECT_NE(r.out.find("! fake: pathwatchd uses a different key: env:PATHWATCH_TEST_FAKE_KEY (" +
                       fp_a + "); this check read env:PATHWATCH_TEST_FAKE_KEY (" + fp_b + ")."),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("systemctl restart pathwatchd"), std::string::npos);
  r = pathwatch({"status", "--socket", socket_}, kKeyB);
  EXPECT_NE(r.out.find("! fake: pathwatchd uses a different key: env:PATHWATCH_TEST_FAKE_KEY (" +
                       fp_a + "); yours is env:PATHWATCH_TEST_FAKE_KEY (" + fp_b + ")."),
            std::string::npos)
      << r.out;
  r = pathwatch({"check", "-c", config_, "--json"}, kKeyB);
  EXPECT_EQ(json::parse(r.out)["daemon_keys"]["providers"][0]["finding"], "different_key");

  // The same key on both sides: no section, and the finding says so.
  r = pathwatch({"check", "-c", config_}, kKeyA);
  EXPECT_EQ(r.out.find("Keys:"), std::string::npos) << r.out;
  r = pathwatch({"check", "-c", config_, "--json"}, kKeyA);
  EXPECT_EQ(json::parse(r.out)["daemon_keys"]["providers"][0]["finding"], "same_key");
  // This check without a key while the daemon has one: a note.
  r = pathwatch({"check", "-c", config_}, "");
  EXPECT_NE(r.out.find("- fake: this check read no key (env:PATHWATCH_TEST_FAKE_KEY: env_unset); "
                       "pathwatchd has one: env:PATHWATCH_TEST_FAKE_KEY (" +
                       fp_a + ")."),
            std::string::npos)
      << r.out;
}

TEST_F(DaemonKeys, NoDaemonOrASilentOneNeverHoldsTheCheckUp) {
  // Nobody at the socket: nothing said, "daemon_keys" null.
  RunResult r = pathwatch({"check", "-c", config_, "--json"}, kKeyA);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(json::parse(r.out)["daemon_keys"].is_null()) << r.out;
  r = pathwatch({"check", "-c", config_}, kKeyA);
  EXPECT_EQ(r.out.find("Keys:"), std::string::npos);
  EXPECT_EQ(r.out.find("pathwatchd"), std::string::npos) << r.out;

  // Something listens and never answers: the check waits its bounded time, no more.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  const auto start = std::chrono::steady_clock::now();
  r = pathwatch({"check", "-c", config_, "--json"}, kKeyA);
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(json::parse(r.out)["daemon_keys"].is_null());
  // 1.5 s to connect plus 1.5 s for an answer at most, and the probes run meanwhile.
  EXPECT_LT(took, std::chrono::seconds(6));
}

}  // namespace
}  // namespace pathwatch::daemon_test
