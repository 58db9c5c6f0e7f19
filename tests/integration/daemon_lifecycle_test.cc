// pathwatchd as systemd runs it: sd_notify over a datagram socket of the
// test's own (READY, WATCHDOG pings, RELOADING on SIGHUP, STOPPING on
// SIGTERM), a refused reload keeping the old config, exit 0 and the socket
// removed; stale sockets; a second daemon refusing a live socket.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/daemon_harness.h"

namespace pathwatch::daemon_test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ~NotifySocket() { ::close(fd_); }
  std::optional<std::string> next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    std::string m(buf, static_cast<std::size_t>(n));
    all.push_back(m);
    return m;
  }
  // Reads datagrams until one contains `needle` (bounded).
  std::optional<std::string> waitFor(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto m = next(left);
      if (m && m->find(needle) != std::string::npos) return m;
    }
    return std::nullopt;
  }
  std::vector<std::string> all;

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(DaemonLifecycle, NotifiesReadyWatchdogReloadStopAndCleansUp) {
  TempDir dir;
  auto config = writeConfig(dir.path);
  NotifySocket notify(dir.path + "/notify");
  auto d = DaemonProcess::start(config, dir.path + "/pw.sock", dir.path + "/daemon.log",
                                {{"NOTIFY_SOCKET", dir.path + "/notify"},
                                 {"WATCHDOG_USEC", "200000"}});
  ASSERT_TRUE(notify.waitFor("READY=1", 15s)) << readFile(d.log_path);
  struct stat st {};
  ASSERT_EQ(::stat(d.socket.c_str(), &st), 0) << "READY only once the socket listens";
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  // WATCHDOG_USEC=200ms -> a ping every ~100ms; count what arrives in a
  // bounded window of 25 datagrams, without asserting on exact timing.
  int pings = 0;
  auto start = std::chrono::steady_clock::now();
  while (pings < 5 && std::chrono::steady_clock::now() - start < 10s) {
    auto m = notify.next(2s);
    if (m && *m == "WATCHDOG=1") ++pings;
  }
  EXPECT_GE(pings, 5);

  // A status line arrives after a cycle.
  EXPECT_TRUE(notify.waitFor("STATUS=", 15s));

  d.kill(SIGHUP);
  auto reloading = notify.waitFor("RELOADING=1", 10s);
  ASSERT_TRUE(reloading);
  EXPECT_NE(reloading->find("MONOTONIC_USEC="), std::string::npos);
  EXPECT_TRUE(notify.waitFor("READY=1", 10s));

  // A broken config is refused, the old one kept, STATUS says so.
  std::ofstream(config) << "{\"interval\": \"soon\"}";
  d.kill(SIGHUP);
  ASSERT_TRUE(notify.waitFor("RELOADING=1", 10s));
  auto refused = notify.waitFor("reload failed", 10s);
  ASSERT_TRUE(refused) << readFile(d.log_path);
  EXPECT_NE(refused->find("interval"), std::string::npos) << *refused;
  SocketClient c;
  ASSERT_TRUE(c.connect(d.socket));
  auto status = c.ask({{"cmd", "status"}});
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["ok"], true);
  EXPECT_TRUE((*status)["daemon"]["reload_error"].is_string());
  EXPECT_EQ((*status)["providers"][0]["name"], "fake") << "old config still serves";
  c.close();

  d.kill(SIGTERM);
  EXPECT_TRUE(notify.waitFor("STOPPING=1", 5s));
  auto rc = d.wait(5s);
  ASSERT_TRUE(rc) << "pathwatchd did not stop";
  EXPECT_EQ(*rc, 0) << readFile(d.log_path);
  EXPECT_FALSE(std::filesystem::exists(d.socket)) << "socket removed on stop";
  auto log = readFile(d.log_path);
  EXPECT_NE(log.find("<5>"), std::string::npos) << "journald priority prefixes";
  EXPECT_NE(log.find("interval"), std::string::npos) << "the refused reload is logged with its key";
}

// sd_notify fields are lines: a reload error quoting a key with a newline in
// it must not add a field of its own (WATCHDOG=trigger would make systemd
// kill the daemon, MAINPID= would redirect it).
TEST(DaemonLifecycle, ReloadErrorCannotInjectNotifyFields) {
  TempDir dir;
  auto config = writeConfig(dir.path);
  NotifySocket notify(dir.path + "/notify");
  auto d = DaemonProcess::start(config, dir.path + "/pw.sock", dir.path + "/daemon.log",
                                {{"NOTIFY_SOCKET", dir.path + "/notify"}});
  ASSERT_TRUE(notify.waitFor("READY=1", 15s)) << readFile(d.log_path);
  std::ofstream(config) << "{\"interval\": \"1s\", \"x\\nWATCHDOG=trigger\\nMAINPID=1\\u001b[2J\": 1}";
  d.kill(SIGHUP);
  auto refused = notify.waitFor("reload failed", 10s);
  ASSERT_TRUE(refused) << readFile(d.log_path);
  std::vector<std::string> lines;
  std::stringstream in(*refused);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 2u) << *refused;
  EXPECT_EQ(lines[0], "READY=1");
  EXPECT_EQ(lines[1].rfind("STATUS=reload failed", 0), 0u) << lines[1];
  EXPECT_NE(lines[1].find("WATCHDOG=trigger"), std::string::npos) << "the text stays, on one line";
  for (char ch : lines[1]) EXPECT_GE(static_cast<unsigned char>(ch), 0x20) << "a control character";
  d.kill(SIGTERM);
  ASSERT_TRUE(d.wait(10s));
}

// An alert command that ignores SIGTERM: the daemon's stop neither hangs on
// it nor leaves it running (SIGTERM, a bounded wait, then SIGKILL to its
// process group).
TEST(DaemonLifecycle, StopKillsAnAlertCommandThatIgnoresSigterm) {
  TempDir dir;
  const std::string hook = dir.path + "/stubborn.sh";
  std::ofstream(hook) << "#!/bin/sh\n"
                         "trap '' TERM\n"
                         "sleep 60 &\n"
                         "echo $$ $! > " + dir.path + "/pids.tmp\n"
                         "mv " + dir.path + "/pids.tmp " + dir.path + "/pids\n"
                         "wait\n";
  ::chmod(hook.c_str(), 0755);
  auto config = writeConfig(dir.path, {{"alerts", {{"fail_threshold", 1}, {"exec", {{hook}}}}}});
  auto d = DaemonProcess::start(config, dir.path + "/pw.sock", dir.path + "/daemon.log");
  std::vector<pid_t> pids;
  ASSERT_TRUE(waitUntil(
      [&] {
        std::ifstream f(dir.path + "/pids");
        pids.clear();
        for (pid_t p; f >> p;) pids.push_back(p);
        return pids.size() == 2;
      },
      30s, 50ms))
      << readFile(d.log_path);
  auto t0 = std::chrono::steady_clock::now();
  d.kill(SIGTERM);
  auto rc = d.wait(10s);
  ASSERT_TRUE(rc) << "stop hung on the alert command";
  EXPECT_EQ(*rc, 0) << readFile(d.log_path);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
  for (pid_t p : pids) {
    EXPECT_TRUE(waitUntil(
        [&] {
          if (::kill(p, 0) != 0) return true;  // gone
          std::ifstream st("/proc/" + std::to_string(p) + "/stat");
          std::string all((std::istreambuf_iterator<char>(st)), {});
          auto rp = all.rfind(')');
          return rp != std::string::npos && rp + 2 < all.size() && all[rp + 2] == 'Z';
        },
        5s))
        << "alert command pid " << p << " outlived the daemon";
    ::kill(p, SIGKILL);  // never leave one behind, whatever the result
  }
  EXPECT_NE(readFile(d.log_path).find("alert command"), std::string::npos);
}

// The start line counts what is probed: the base config disables the four and
// adds one custom provider; the opt-in built-ins (off until named) are not counted.
TEST(DaemonLifecycle, StartLogCountsTheProvidersProbed) {
  TempDir dir;
  auto config = writeConfig(dir.path);
  auto d = DaemonProcess::start(config, dir.path + "/pw.sock", dir.path + "/daemon.log");
  ASSERT_TRUE(waitUntil([&] { return std::filesystem::exists(d.socket); }, 15s));
  d.kill(SIGTERM);
  ASSERT_TRUE(d.wait(5s));
  const auto log = readFile(d.log_path);
  EXPECT_NE(log.find("pathwatchd starting: config " + config + ", 1 providers, 1 routes"), std::string::npos)
      << log;
}

TEST(DaemonLifecycle, SigintStopsToo) {
  TempDir dir;
  auto config = writeConfig(dir.path);
  auto d = DaemonProcess::start(config, dir.path + "/pw.sock", dir.path + "/daemon.log");
  ASSERT_TRUE(waitUntil([&] { return std::filesystem::exists(d.socket); }, 15s));
  d.kill(SIGINT);
  auto rc = d.wait(5s);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 0);
}

TEST(DaemonLifecycle, RemovesAStaleSocketButNeverALiveOne) {
  TempDir dir;
  auto config = writeConfig(dir.path);
  std::string sock = dir.path + "/pw.sock";
  {
    // A socket file nobody listens on (a crashed daemon's leftover).
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(fd);
  }
  auto d = DaemonProcess::start(config, sock, dir.path + "/daemon.log");
  SocketClient c;
  ASSERT_TRUE(waitUntil([&] { return c.connect(sock); }, 15s)) << readFile(d.log_path);
  auto st = c.ask({{"cmd", "status"}});
  ASSERT_TRUE(st);
  EXPECT_EQ((*st)["ok"], true);

  // A second daemon on the same socket refuses to start and leaves it alone.
  auto second = DaemonProcess::start(config, sock, dir.path + "/second.log");
  auto rc2 = second.wait(10s);
  ASSERT_TRUE(rc2);
  EXPECT_EQ(*rc2, 1);
  EXPECT_NE(readFile(dir.path + "/second.log").find("another process listens"), std::string::npos);
  SocketClient c2;
  EXPECT_TRUE(c2.connect(sock)) << "the live socket survived";

  d.kill(SIGTERM);
  auto rc = d.wait(5s);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 0);
}

TEST(DaemonLifecycle, ConfigErrorAtStartExitsTwoNamingTheKey) {
  TempDir dir;
  std::string config = dir.path + "/config.json";
  std::ofstream(config) << R"({"interval": "60s", "routes": [{"name": "x", "bogus": 1}]})";
  auto d = DaemonProcess::start(config, dir.path + "/pw.sock", dir.path + "/daemon.log");
  auto rc = d.wait(10s);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 2);
  auto log = readFile(d.log_path);
  EXPECT_NE(log.find("<3>"), std::string::npos);
  EXPECT_NE(log.find("routes[0]"), std::string::npos) << log;
}

TEST(DaemonLifecycle, MissingConfigGivenWithDashCIsAnError) {
  TempDir dir;
  auto d = DaemonProcess::start(dir.path + "/nope.json", dir.path + "/pw.sock",
                                dir.path + "/daemon.log");
  auto rc = d.wait(10s);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 2);
}

}  // namespace
}  // namespace pathwatch::daemon_test
