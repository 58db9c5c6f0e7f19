#pragma once

// The `pathwatch` subcommands. Each one receives argv starting at the
// subcommand name (argv[0] == "check", ...) and returns the process exit code.
// To add a subcommand: declare its function here and add one line to the
// table in cli/main.cc.

namespace pathwatch {

using CommandFn = int (*)(int argc, char** argv);

struct CommandEntry {
  const char* name;
  CommandFn run;
  const char* summary;  // one line for `pathwatch --help`
};

// pathwatch check [-c FILE] [-p PROVIDER]... [-r ROUTE]... [--json] [--timeout D]
int runCheckCommand(int argc, char** argv);

// Talk to pathwatchd over its control socket (cli/client_commands.cc):
// [--socket PATH] [--json]; exit 3 when pathwatchd is not running.
int runStatusCommand(int argc, char** argv);
int runHistoryCommand(int argc, char** argv);
int runWatchCommand(int argc, char** argv);
int runRunCommand(int argc, char** argv);
int runReloadCommand(int argc, char** argv);
int runMetricsCommand(int argc, char** argv);  // the Prometheus text

// pathwatch echo-server --listen ADDR:PORT [--tls-cert F --tls-key F] [--max-clients N]
// (echo/echo_command.cc)
int runEchoServerCommand(int argc, char** argv);

}  // namespace pathwatch
