#pragma once
// pathwatchd: everything on one uv loop. Config -> scheduler -> engine ->
// result bus -> (status snapshot, history, alerts, watch clients); the
// control socket; signals (SIGHUP reload, SIGTERM/SIGINT stop); sd_notify.
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

namespace pathwatch {

struct DaemonOptions {
  std::string config_path = "/etc/pathwatch/config.json";
  bool config_required = false;  // -c given: a missing file is an error
  std::string socket_override;   // --socket
  // Benchmarks only: called on the loop once the daemon has started, so a
  // probe timer can share the daemon's loop (bench/daemon_bench lateness).
  std::function<void(uv_loop_t*)> on_started;
};

// Runs until SIGTERM/SIGINT; returns the process exit code (0 after a clean
// stop, 1 when startup failed, 2 on a config error at startup).
int runDaemon(const DaemonOptions& options);

}  // namespace pathwatch
