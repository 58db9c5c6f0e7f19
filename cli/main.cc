// pathwatch: `check` runs a diagnosis in-process; the other subcommands talk
// to pathwatchd, read the config, or run a helper. One table drives dispatch
// and help: a command is one line here (its function in cli/commands.h, its
// help text in cli/help.h), so `pathwatch --help` and `COMMAND --help` can
// never miss it.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "cli/help.h"
#include "echo/echo_command.h"

#ifndef PATHWATCH_VERSION
#define PATHWATCH_VERSION "0.1.0"
#endif

namespace pathwatch {
namespace {

constexpr CommandEntry kCommands[] = {
    {"check", runCheckCommand, "run one full diagnosis now, in-process (no daemon needed)",
     kCheckHelp},
    {"status", runStatusCommand, "pathwatchd's current diagnosis, and keys it lacks that you have",
     kStatusHelp},
    {"history", runHistoryCommand, "past results, transitions and alerts from pathwatchd",
     kHistoryHelp},
    {"watch", runWatchCommand, "follow pathwatchd's results and alerts as they happen", kWatchHelp},
    {"run", runRunCommand, "ask pathwatchd to check everything now and print the report", kRunHelp},
    {"reload", runReloadCommand, "make pathwatchd re-read its config and keys", kReloadHelp},
    {"metrics", runMetricsCommand, "pathwatchd's metrics in Prometheus text format", kMetricsHelp},
    {"config check", runConfigCheckCommand,
     "validate a config and print it with every default filled in", kConfigCheckHelp},
    {"config example", runConfigExampleCommand, "print a complete example config",
     kConfigExampleHelp},
    {"echo-server", runEchoServerCommand, "the header-echo helper, to run on a host you trust",
     kEchoServerHelp},
};

// The words of a name: "config check" -> 2.
int wordCount(std::string_view name) {
  int n = 1;
  for (char c : name) n += c == ' ';
  return n;
}

// Does argv[first..] start with the words of `name`?
bool matches(std::string_view name, int argc, char** argv, int first) {
  int i = first;
  while (!name.empty()) {
    const auto space = name.find(' ');
    const std::string_view word = name.substr(0, space);
    if (i >= argc || word != argv[i]) return false;
    ++i;
    name = space == std::string_view::npos ? std::string_view() : name.substr(space + 1);
  }
  return true;
}

// "config" for "config check": the first word of a two-word name.
bool inGroup(std::string_view name, std::string_view group) {
  return name.size() > group.size() && name.substr(0, group.size()) == group &&
         name[group.size()] == ' ';
}

const CommandEntry* find(int argc, char** argv, int first) {
  for (const auto& c : kCommands)
    if (matches(c.name, argc, argv, first)) return &c;
  return nullptr;
}

bool isGroup(const char* word) {
  for (const auto& c : kCommands)
    if (inGroup(c.name, word)) return true;
  return false;
}

std::string groupCommands(std::string_view group) {
  std::string out;
  for (const auto& c : kCommands)
    if (inGroup(c.name, group)) out += (out.empty() ? "" : ", ") + std::string(c.name);
  return out;
}

void printGroupHelp(std::string_view group) {
  bool first = true;
  for (const auto& c : kCommands)
    if (inGroup(c.name, group)) {
      if (!first) std::fputs("\n", stdout);
      std::fputs(c.help, stdout);
      first = false;
    }
}

bool isHelpFlag(const char* arg) {
  return std::strcmp(arg, "-h") == 0 || std::strcmp(arg, "--help") == 0;
}

void printUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: pathwatch COMMAND [OPTIONS]\n"
               "       pathwatch help [COMMAND] | --help | --version\n"
               "\n"
               "Says whether a failing AI API call is the key, the account, usage, region,\n"
               "a middlebox, the network or the provider.\n"
               "\n"
               "commands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-15s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\n'pathwatch COMMAND --help' describes a command.\n"
               "\n"
               "Example:\n"
               "  pathwatch check -p openai\n");
}

int unknownCommand(const std::string& what) {
  std::fprintf(stderr, "pathwatch: unknown command \"%s\" (see pathwatch --help)\n", what.c_str());
  return 2;
}

// pathwatch help [COMMAND [SUBCOMMAND]]
int runHelp(int argc, char** argv) {
  if (argc <= 2) {
    printUsage(stdout);
    return 0;
  }
  if (const CommandEntry* c = find(argc, argv, 2); c && argc == 2 + wordCount(c->name)) {
    std::fputs(c->help, stdout);
    return 0;
  }
  if (argc == 3 && isGroup(argv[2])) {
    printGroupHelp(argv[2]);
    return 0;
  }
  std::string what;
  for (int i = 2; i < argc; ++i) what += (i > 2 ? " " : "") + std::string(argv[i]);
  return unknownCommand(what);
}

int run(int argc, char** argv) {
  if (argc < 2) {
    printUsage(stderr);
    return 2;
  }
  const std::string first = argv[1];
  if (first == "-h" || first == "--help") {
    printUsage(stdout);
    return 0;
  }
  if (first == "help") return runHelp(argc, argv);
  if (first == "-V" || first == "--version") {
    std::printf("pathwatch %s\n", PATHWATCH_VERSION);
    return 0;
  }
  if (const CommandEntry* c = find(argc, argv, 1)) {
    const int words = wordCount(c->name);
    // --help anywhere after the command: its help, whatever else was given.
    for (int i = 1 + words; i < argc; ++i)
      if (isHelpFlag(argv[i])) {
        std::fputs(c->help, stdout);
        return 0;
      }
    return c->run(argc - words, argv + words);
  }
  if (isGroup(first.c_str())) {
    if (argc == 2) {
      std::fprintf(stderr, "pathwatch %s: name one of %s (see pathwatch %s --help)\n",
                   first.c_str(), groupCommands(first).c_str(), first.c_str());
      return 2;
    }
    if (argc == 3 && isHelpFlag(argv[2])) {
      printGroupHelp(first);
      return 0;
    }
    return unknownCommand(first + " " + argv[2]);
  }
  if (!first.empty() && first[0] == '-') {
    std::fprintf(stderr, "pathwatch: unknown option %s (see pathwatch --help)\n", first.c_str());
    return 2;
  }
  return unknownCommand(first);
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
