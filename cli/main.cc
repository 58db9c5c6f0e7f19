// pathwatch: `check` runs a diagnosis in-process; the other subcommands talk
// to pathwatchd or run a helper. Dispatch is a plain table: one line per
// subcommand, its function declared in cli/commands.h.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.h"

#ifndef PATHWATCH_VERSION
#define PATHWATCH_VERSION "0.1.0"
#endif

namespace pathwatch {
namespace {

constexpr CommandEntry kCommands[] = {
    {"check", runCheckCommand, "run one full diagnosis now, in-process (no daemon needed)"},
    {"status", runStatusCommand, "pathwatchd's current diagnosis per provider and route"},
    {"history", runHistoryCommand, "past results, transitions and alerts from pathwatchd"},
    {"watch", runWatchCommand, "follow pathwatchd's results and alerts as they happen"},
    {"run", runRunCommand, "ask pathwatchd to check everything now and print the report"},
    {"reload", runReloadCommand, "make pathwatchd re-read its config"},
    {"metrics", runMetricsCommand, "pathwatchd's metrics in Prometheus text format"},
    {"echo-server", runEchoServerCommand, "the header-echo helper, to run on a host you trust"},
};

void printUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: pathwatch COMMAND [OPTIONS]\n"
               "       pathwatch --help | --version\n"
               "\n"
               "Says whether a failing AI API call is the key, the account, usage, region,\n"
               "a middlebox, the network or the provider.\n"
               "\n"
               "commands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-13s %s\n", c.name, c.summary);
  std::fprintf(out, "\n'pathwatch COMMAND --help' describes a command.\n");
}

int run(int argc, char** argv) {
  if (argc < 2) {
    printUsage(stderr);
    return 2;
  }
  const std::string first = argv[1];
  if (first == "-h" || first == "--help" || first == "help") {
    if (first == "help" && argc > 2) {
      // "pathwatch help check" == "pathwatch check --help"
      for (const auto& c : kCommands)
        if (std::strcmp(c.name, argv[2]) == 0) {
          char help_flag[] = "--help";
          char* sub_argv[] = {argv[2], help_flag, nullptr};
          return c.run(2, sub_argv);
        }
    }
    printUsage(stdout);
    return 0;
  }
  if (first == "-V" || first == "--version") {
    std::printf("pathwatch %s\n", PATHWATCH_VERSION);
    return 0;
  }
  for (const auto& c : kCommands)
    if (first == c.name) return c.run(argc - 1, argv + 1);
  if (!first.empty() && first[0] == '-')
    std::fprintf(stderr, "pathwatch: unknown option %s (see pathwatch --help)\n", first.c_str());
  else
    std::fprintf(stderr, "pathwatch: unknown command \"%s\" (see pathwatch --help)\n", first.c_str());
  return 2;
}

}  // namespace
}  // namespace pathwatch

int main(int argc, char** argv) {
  try {
    return pathwatch::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pathwatch: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "pathwatch: unexpected error\n");
  }
  return 2;
}
