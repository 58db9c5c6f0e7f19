#pragma once
// Runs pathwatchd (runDaemon in a forked child) against a config with no
// network: one custom openai-kind provider on a loopback port nothing listens
// on (literal IP: no DNS), its socket and history in a temp dir.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control_client.h"

namespace pathwatch::daemon_test {

struct TempDir {
  std::string path;
  TempDir();
  ~TempDir();
};

// A loopback TCP port with nothing listening (bound, then closed).
int unusedLoopbackPort();

// The test config; `extra` is merged over it (e.g. {"interval": "1s"}).
std::string writeConfig(const std::string& dir, const nlohmann::json& extra = {});
nlohmann::json baseConfig(const std::string& dir);

struct DaemonProcess {
  pid_t pid = -1;
  std::string socket, log_path;
  // Starts pathwatchd -c config with `env` set in the child; stderr goes to log_path.
  static DaemonProcess start(const std::string& config, const std::string& socket,
                             const std::string& log_path,
                             const std::map<std::string, std::string>& env = {});
  // Waits (bounded) for exit; nullopt on timeout. Returns the exit status code
  // (or 128+signal).
  std::optional<int> wait(std::chrono::milliseconds timeout);
  void kill(int sig);
  ~DaemonProcess();
};

// Bounded polling of a condition.
bool waitUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
               std::chrono::milliseconds step = std::chrono::milliseconds(20));

// The control-socket client the CLI uses (daemon/control_client.h).
using SocketClient = ControlClient;

// VmRSS of a process in KiB (-1 when unreadable).
long vmRssKiB(pid_t pid);

std::string readFile(const std::string& path);

}  // namespace pathwatch::daemon_test
