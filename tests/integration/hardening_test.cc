// The built binaries, as an unprivileged user: pathwatchd and `pathwatch
// check` must not be dumpable (no core file, no ptrace or /proc/PID/mem by the
// same user: either would expose the keys), must run with RLIMIT_CORE 0 and
// must ignore SSLKEYLOGFILE (libcurl would write TLS secrets to it).
//
// How it is seen from outside: the kernel makes /proc/PID/* of a non-dumpable
// process owned by root, whatever the process's own uid; /proc/PID/limits
// shows the core limit; the key-log file is created by libcurl at its start
// when the variable reaches it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "support/daemon_harness.h"

namespace pathwatch::daemon_test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// Forks, drops to nobody, sets SSLKEYLOGFILE, execs argv; stderr to `log`.
pid_t spawnAsNobody(const std::vector<std::string>& argv, const std::string& keylog,
                    const std::string& log) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd >= 0) {
    ::dup2(fd, STDERR_FILENO);
    ::dup2(fd, STDOUT_FILENO);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::setgroups(0, nullptr) != 0 || ::setresgid(kNogroup, kNogroup, kNogroup) != 0 ||
      ::setresuid(kNobody, kNobody, kNobody) != 0)
    _exit(90);
  ::setenv("SSLKEYLOGFILE", keylog.c_str(), 1);
  ::unsetenv("NOTIFY_SOCKET");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  _exit(91);
}

// The uid a /proc/PID file belongs to (-1 when the process is gone).
long procOwner(pid_t pid) {
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid) + "/status").c_str(), &st) != 0) return -1;
  return static_cast<long>(st.st_uid);
}

// /proc/PID/comm: the program it runs now (the test's name until the exec).
std::string comm(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(f, name);
  return name;
}

// "Uid:" line of /proc/PID/status: the real uid.
long realUid(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("Uid:", 0) == 0) return std::atol(line.c_str() + 4);
  return -1;
}

// The soft and hard core limits as /proc/PID/limits shows them.
std::string coreLimits(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("Max core file size", 0) != 0) continue;
    std::istringstream in(line.substr(18));
    std::string soft, hard;
    in >> soft >> hard;
    return soft + " " + hard;
  }
  return "?";
}

bool exitedWithin(pid_t pid, std::chrono::milliseconds limit, int* status) {
  return waitUntil([&] { return ::waitpid(pid, status, WNOHANG) == pid; }, limit);
}

// A loopback port that completes TCP handshakes and never answers.
class Blackhole {
 public:
  Blackhole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Blackhole() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class Hardening : public ::testing::Test {
 protected:
  void SetUp() override {
    // nobody writes its socket, history and log here.
    ASSERT_EQ(::chown(dir_.path.c_str(), kNobody, kNogroup), 0);
    ASSERT_EQ(::chmod(dir_.path.c_str(), 0755), 0);
    keylog_ = dir_.path + "/keylog";
  }
  TempDir dir_;
  std::string keylog_;
};

TEST_F(Hardening, PathwatchdIsNotDumpableHasNoCoreLimitAndNoKeyLog) {
  auto config = writeConfig(dir_.path);
  const std::string log = dir_.path + "/daemon.log";
  pid_t pid = spawnAsNobody({PATHWATCH_BINARY_DIR "/pathwatchd", "-c", config}, keylog_, log);
  ASSERT_GT(pid, 0);
  SocketClient c;
  const bool up = waitUntil([&] { return c.connect(dir_.path + "/pw.sock"); }, 15s);
  // One cycle, so the probes (and libcurl) have surely started.
  const bool cycled = up && waitUntil(
                                [&] {
                                  auto s = c.ask({{"cmd", "status"}});
                                  return s && (*s)["providers"].size() == 1 &&
                                         (*s)["providers"][0]["diagnosis"].is_object();
                                },
                                20s, 100ms);
  const long uid = realUid(pid);
  const long owner = procOwner(pid);
  const std::string core = coreLimits(pid);
  ::kill(pid, SIGTERM);
  int status = 0;
  if (!exitedWithin(pid, 10s, &status)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  ASSERT_TRUE(up) << readFile(log);
  ASSERT_TRUE(cycled) << readFile(log);
  EXPECT_EQ(uid, static_cast<long>(kNobody)) << "it runs as nobody";
  EXPECT_EQ(owner, 0) << "/proc/PID belongs to its own user: the process is dumpable";
  EXPECT_EQ(core, "0 0");
  EXPECT_FALSE(std::filesystem::exists(keylog_)) << "SSLKEYLOGFILE reached libcurl";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << readFile(log);
}

TEST_F(Hardening, CheckIsNotDumpableHasNoCoreLimitAndNoKeyLog) {
  // Only the loopback blackhole is probed: the check waits there until its
  // timeout, time enough to look at it from outside.
  Blackhole hole;
  json cfg = baseConfig(dir_.path);
  cfg["timeout"] = "4s";
  cfg["interval"] = "60s";
  cfg["providers"][4]["base_url"] = "http://127.0.0.1:" + std::to_string(hole.port()) + "/v1";
  const std::string config = dir_.path + "/check.json";
  std::ofstream(config) << cfg.dump();
  const std::string log = dir_.path + "/check.log";
  pid_t pid = spawnAsNobody({PATHWATCH_BINARY_DIR "/pathwatch", "check", "-c", config, "--json"},
                            keylog_, log);
  ASSERT_GT(pid, 0);
  // After exec and its first steps the process stays running on the blackhole.
  // (Between fork and exec the child is not dumpable either: setresuid makes
  // it so; hence the wait for the exec.)
  const bool hardened = waitUntil(
      [&] { return comm(pid) == "pathwatch" && procOwner(pid) == 0 && realUid(pid) == kNobody; },
      3s, 5ms);
  const bool running = ::waitpid(pid, nullptr, WNOHANG) == 0;
  const std::string core = coreLimits(pid);
  int status = 0;
  if (!exitedWithin(pid, 20s, &status)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  EXPECT_TRUE(hardened) << "/proc/PID stayed owned by nobody: `pathwatch check` is dumpable\n"
                        << readFile(log);
  EXPECT_TRUE(running);
  EXPECT_EQ(core, "0 0");
  EXPECT_FALSE(std::filesystem::exists(keylog_)) << "SSLKEYLOGFILE reached libcurl";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "the blackhole is not ok\n"
                                                             << readFile(log);
}

}  // namespace
}  // namespace pathwatch::daemon_test
