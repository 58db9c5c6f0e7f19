#pragma once

// The `pathwatch` subcommands. Each one receives argv starting at its last
// name word (argv[0] == "check", or "check" for "config check") and returns
// the process exit code.
// To add a subcommand: declare its function here, write its help text
// (cli/help.h), and add one line to the table in cli/main.cc. That table
// drives dispatch, `pathwatch --help` and every `COMMAND --help`.

namespace pathwatch {

using CommandFn = int (*)(int argc, char** argv);

struct CommandEntry {
  const char* name;     // "check", or two words: "config check"
  CommandFn run;
  const char* summary;  // one line for `pathwatch --help`
  const char* help;     // `pathwatch COMMAND --help`: usage, options, an example
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

// pathwatch config check [-c FILE] | config example (cli/config_command.cc)
int runConfigCheckCommand(int argc, char** argv);
int runConfigExampleCommand(int argc, char** argv);

// pathwatch echo-server --listen ADDR:PORT [--tls-cert F --tls-key F] [--max-clients N]
// (echo/echo_command.cc)
int runEchoServerCommand(int argc, char** argv);

}  // namespace pathwatch
