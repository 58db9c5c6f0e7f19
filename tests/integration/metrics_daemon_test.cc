// pathwatchd's metrics end to end: GET /metrics on metrics.listen and
// {"cmd": "metrics"} on the socket carry the same text about the daemon's own
// results; `pathwatch metrics` prints it; a reload moves, stops and restarts
// the endpoint; a port already taken at start is an error. The daemon probes
// a loopback port nothing listens on (connect_failed), with a made-up key.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include "support/daemon_harness.h"

namespace pathwatch::daemon_test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const char* kFakeKey = "sk-proj-Mv3cX8qLr5Tz1WbN7kYp2HdF9sGj4AeUo6iKtBnVq0WyQe";

// The raw answer to GET `path` on 127.0.0.1:port; "" when nothing answers.
std::string httpGet(int port, const std::string& path = "/metrics") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[16384];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

std::string body(const std::string& raw) {
  const auto end = raw.find("\r\n\r\n");
  return end == std::string::npos ? "" : raw.substr(end + 4);
}

double sample(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

// The family names (# TYPE lines) of a text.
std::vector<std::string> families(const std::string& text) {
  std::vector<std::string> out;
  static const std::regex type(R"(# TYPE (\S+) )");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), type); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1]);
  return out;
}

std::string runCli(const std::string& args, int* rc) {
  const std::string cmd = std::string(PATHWATCH_BINARY_DIR) + "/pathwatch " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  std::size_t n;
  while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = p ? ::pclose(p) : -1;
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

class MetricsDaemon : public ::testing::Test {
 protected:
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }
  TempDir dir;
  std::string socket() const { return dir.path + "/pw.sock"; }
  std::string log() const { return dir.path + "/pathwatchd.log"; }
  DaemonProcess start(const json& extra) {
    const std::string cfg = writeConfig(dir.path, extra);
    auto d = DaemonProcess::start(cfg, socket(), log(), {{"PATHWATCH_TEST_FAKE_KEY", kFakeKey}});
    EXPECT_TRUE(waitUntil([&] { return std::filesystem::exists(socket()); }, 10s))
        << readFile(log());
    return d;
  }
  json reloadWith(const json& extra) {
    writeConfig(dir.path, extra);
    SocketClient c;
    if (!c.connect(socket())) return json();
    return c.ask({{"cmd", "reload"}}, 10s).value_or(json());
  }
};

TEST_F(MetricsDaemon, HttpAndSocketServeTheDaemonsOwnResults) {
  const int port = unusedLoopbackPort();
  auto d = start({{"metrics", {{"listen", "127.0.0.1:" + std::to_string(port)}}}});
  const std::string pair = R"({provider="fake",route="default"})";
  std::string text;
  ASSERT_TRUE(waitUntil(
      [&] {
        text = body(httpGet(port));
        return sample(text, "pathwatch_checks_total" + pair) >= 2;
      },
      15s))
      << text << readFile(log());
  const std::string raw = httpGet(port);
  EXPECT_EQ(raw.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << raw.substr(0, 200);
  EXPECT_NE(raw.find("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  EXPECT_EQ(sample(text, "pathwatch_up" + pair), 0);
  EXPECT_EQ(
      sample(
          text,
          R"(pathwatch_verdict{provider="fake",route="default",verdict="connect_failed",cause="network"})"),
      1);
  EXPECT_GE(
      sample(
          text,
          R"(pathwatch_check_failures_total{provider="fake",route="default",verdict="connect_failed"})"),
      2);
  EXPECT_EQ(sample(text, R"(pathwatch_build_info{version="0.1.0"})"), 1);
  EXPECT_GE(sample(text, R"(pathwatch_alerts_total{event="problem"})"), 1);
  // Other paths and methods.
  EXPECT_EQ(httpGet(port, "/").rfind("HTTP/1.1 404 ", 0), 0u);

  // The socket: the same families, in one JSON string.
  SocketClient c;
  ASSERT_TRUE(c.connect(socket()));
  auto answer = c.ask({{"cmd", "metrics"}});
  ASSERT_TRUE(answer) << c.lastErrorText();
  ASSERT_TRUE((*answer)["ok"].get<bool>()) << answer->dump();
  const std::string over_socket = (*answer)["metrics"].get<std::string>();
  EXPECT_EQ(families(over_socket), families(text));
  EXPECT_GE(families(text).size(), 11u);
  // `pathwatch metrics` prints it as is.
  int rc = -1;
  const std::string printed = runCli("metrics --socket " + socket(), &rc);
  EXPECT_EQ(rc, 0) << printed;
  EXPECT_EQ(printed.rfind("# HELP pathwatch_build_info ", 0), 0u) << printed.substr(0, 200);
  EXPECT_EQ(families(printed), families(text));
  // The made-up key is in the daemon's environment and nowhere in the text.
  for (const std::string& t : {text, over_socket, printed}) {
    EXPECT_EQ(t.find(kFakeKey), std::string::npos);
    EXPECT_EQ(t.find(std::string(kFakeKey).substr(8, 16)), std::string::npos);
  }
  // promtool accepts a live scrape.
  if (::access("/usr/bin/promtool", X_OK) == 0) {
    const std::string file = dir.path + "/scrape.txt";
    std::ofstream(file) << body(httpGet(port));
    int prc = -1;
    FILE* p = ::popen(("/usr/bin/promtool check metrics < " + file + " 2>&1").c_str(), "r");
    std::string out;
    char buf[1024];
    std::size_t n;
    while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    if (p) prc = ::pclose(p);
    EXPECT_EQ(prc, 0) << out;
  }
}

TEST_F(MetricsDaemon, ReloadMovesStopsAndRestartsTheEndpoint) {
  const int first = unusedLoopbackPort();
  auto d = start({{"metrics", {{"listen", "127.0.0.1:" + std::to_string(first)}}}});
  ASSERT_TRUE(waitUntil([&] { return !httpGet(first).empty(); }, 5s)) << readFile(log());

  // Moved: the new port answers, the old one no longer.
  const int second = unusedLoopbackPort();
  json a = reloadWith({{"metrics", {{"listen", "127.0.0.1:" + std::to_string(second)}}}});
  ASSERT_TRUE(a.value("ok", false)) << a.dump() << readFile(log());
  EXPECT_EQ(httpGet(second).rfind("HTTP/1.1 200 OK", 0), 0u);
  EXPECT_EQ(httpGet(first), "");
  // The same port on another address (the old listener holds it until moved).
  a = reloadWith({{"metrics", {{"listen", "0.0.0.0:" + std::to_string(second)}}}});
  ASSERT_TRUE(a.value("ok", false)) << a.dump();
  EXPECT_EQ(httpGet(second).rfind("HTTP/1.1 200 OK", 0), 0u) << readFile(log());

  // Removed: no endpoint; the socket still answers.
  json off = baseConfig(dir.path);
  off.erase("metrics");
  {
    std::ofstream(dir.path + "/config.json") << off.dump();
    SocketClient c;
    ASSERT_TRUE(c.connect(socket()));
    ASSERT_TRUE(c.ask({{"cmd", "reload"}}, 10s).value_or(json()).value("ok", false));
    auto m = c.ask({{"cmd", "metrics"}});
    ASSERT_TRUE(m);
    EXPECT_TRUE((*m)["ok"].get<bool>());
  }
  EXPECT_EQ(httpGet(second), "");

  // A port someone else holds: the reload is applied, the endpoint is not,
  // and the log says why.
  int blocker = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in b{};
  b.sin_family = AF_INET;
  b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&b), sizeof b), 0);
  ASSERT_EQ(::listen(blocker, 1), 0);
  socklen_t len = sizeof b;
  ::getsockname(blocker, reinterpret_cast<sockaddr*>(&b), &len);
  const int taken = ntohs(b.sin_port);
  a = reloadWith({{"metrics", {{"listen", "127.0.0.1:" + std::to_string(taken)}}}});
  EXPECT_TRUE(a.value("ok", false)) << a.dump();
  EXPECT_TRUE(waitUntil(
      [&] {
        return readFile(log()).find(
                   "metrics.listen: cannot listen on 127.0.0.1:" + std::to_string(taken) +
                   ": address already in use") != std::string::npos;
      },
      5s))
      << readFile(log());
  ::close(blocker);

  // Back on: served again.
  a = reloadWith({{"metrics", {{"listen", "127.0.0.1:" + std::to_string(first)}}}});
  ASSERT_TRUE(a.value("ok", false)) << a.dump();
  EXPECT_EQ(httpGet(first).rfind("HTTP/1.1 200 OK", 0), 0u) << readFile(log());
  d.kill(SIGTERM);
  EXPECT_EQ(d.wait(5s), std::optional<int>(0));
}

TEST_F(MetricsDaemon, APortTakenAtStartIsAnErrorThatNamesIt) {
  int blocker = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in b{};
  b.sin_family = AF_INET;
  b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&b), sizeof b), 0);
  ASSERT_EQ(::listen(blocker, 1), 0);
  socklen_t len = sizeof b;
  ::getsockname(blocker, reinterpret_cast<sockaddr*>(&b), &len);
  const int taken = ntohs(b.sin_port);
  const std::string cfg =
      writeConfig(dir.path, {{"metrics", {{"listen", "127.0.0.1:" + std::to_string(taken)}}}});
  auto d = DaemonProcess::start(cfg, socket(), log());
  EXPECT_EQ(d.wait(10s), std::optional<int>(1));
  EXPECT_NE(readFile(log()).find("metrics.listen: cannot listen on 127.0.0.1:" +
                                 std::to_string(taken) + ": address already in use"),
            std::string::npos)
      << readFile(log());
  EXPECT_FALSE(std::filesystem::exists(socket())) << "the socket is removed on the way out";
  ::close(blocker);
}

}  // namespace
}  // namespace pathwatch::daemon_test
