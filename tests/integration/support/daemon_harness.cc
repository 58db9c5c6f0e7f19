#include "daemon_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "daemon.h"

namespace pathwatch::daemon_test {

using nlohmann::json;

TempDir::TempDir() {
  char tmpl[] = "/tmp/pwd-XXXXXX";  // short: socket paths must fit 108 bytes
  path = mkdtemp(tmpl);
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

int unusedLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

json baseConfig(const std::string& dir) {
  int port = unusedLoopbackPort();
  return {{"interval", "1s"},
          {"timeout", "1s"},
          {"providers",
           {{{"name", "openai"}, {"enabled", false}},
            {{"name", "anthropic"}, {"enabled", false}},
            {{"name", "gemini"}, {"enabled", false}},
            {{"name", "discord"}, {"enabled", false}},
            {{"name", "fake"},
             {"kind", "openai"},
             {"base_url", "http://127.0.0.1:" + std::to_string(port) + "/v1"},
             {"key_env", "PATHWATCH_TEST_FAKE_KEY"}}}},
          {"routes", {{{"name", "default"}}}},
          {"resolvers", {"127.0.0.1:" + std::to_string(unusedLoopbackPort())}},
          {"allowed_ranges", {"127.0.0.0/8"}},
          {"socket", dir + "/pw.sock"},
          {"history", {{"path", dir + "/history.db"}, {"retention", "1d"}}}};
}

std::string writeConfig(const std::string& dir, const json& extra) {
  json c = baseConfig(dir);
  if (extra.is_object()) c.merge_patch(extra);
  std::string path = dir + "/config.json";
  std::ofstream(path) << c.dump(2);
  return path;
}

DaemonProcess DaemonProcess::start(const std::string& config, const std::string& socket,
                                   const std::string& log_path,
                                   const std::map<std::string, std::string>& env) {
  DaemonProcess d;
  d.socket = socket;
  d.log_path = log_path;
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) ::dup2(fd, STDERR_FILENO);
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    // The parent (gtest) may have blocked signals; the daemon wants them.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    DaemonOptions opt;
    opt.config_path = config;
    opt.config_required = true;
    int rc = 1;
    try {
      rc = runDaemon(opt);
    } catch (...) {
      rc = 99;
    }
    _exit(rc);
  }
  d.pid = pid;
  return d;
}

std::optional<int> DaemonProcess::wait(std::chrono::milliseconds timeout) {
  if (pid <= 0) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      pid = -1;
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
      return -1;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void DaemonProcess::kill(int sig) {
  if (pid > 0) ::kill(pid, sig);
}

DaemonProcess::~DaemonProcess() {
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    int st;
    ::waitpid(pid, &st, 0);
  }
}

bool waitUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
               std::chrono::milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(step);
  }
  return cond();
}

long vmRssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

std::string readFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace pathwatch::daemon_test
