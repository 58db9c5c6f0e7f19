#include "cli/check_command.h"

#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <iostream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "pathwatch/check.h"
#include "cli/commands.h"
#include "cli/daemon_keys.h"
#include "cli/help.h"
#include "cli/render_table.h"
#include "pathwatch/process_hardening.h"
#include "pathwatch/report_json.h"

namespace pathwatch {

namespace {

void splitInto(const std::string& value, std::vector<std::string>& out, const std::string& opt) {
  std::size_t start = 0;
  while (start <= value.size()) {
    const std::size_t comma = std::min(value.find(',', start), value.size());
    std::string item = value.substr(start, comma - start);
    if (item.empty()) throw std::invalid_argument(opt + ": empty name in \"" + value + "\"");
    out.push_back(std::move(item));
    start = comma + 1;
  }
}

}  // namespace

CheckArgs parseCheckArgs(int argc, char** argv) {
  CheckArgs args;
  // argv[0] is "check".
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::optional<std::string> inline_value;
    if (arg.rfind("--", 0) == 0) {
      if (const auto eq = arg.find('='); eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
    } else if (arg.size() > 2 && arg[0] == '-' && (arg[1] == 'c' || arg[1] == 'p' || arg[1] == 'r')) {
      inline_value = arg.substr(2);  // -copenai style
      arg = arg.substr(0, 2);
    }
    auto value = [&](const std::string& opt) -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) throw std::invalid_argument(opt + " needs a value");
      return argv[++i];
    };
    auto noValue = [&](const std::string& opt) {
      if (inline_value) throw std::invalid_argument(opt + " takes no value");
    };
    if (arg == "-h" || arg == "--help") {
      noValue(arg);
      args.help = true;
    } else if (arg == "--json") {
      noValue(arg);
      args.json = true;
    } else if (arg == "-c" || arg == "--config") {
      const std::string v = value(arg);
      if (v.empty()) throw std::invalid_argument(arg + " needs a file name");
      if (args.config_file) throw std::invalid_argument(arg + " given twice");
      args.config_file = v;
    } else if (arg == "-p" || arg == "--provider") {
      splitInto(value(arg), args.providers, arg);
    } else if (arg == "-r" || arg == "--route") {
      splitInto(value(arg), args.routes, arg);
    } else if (arg == "--timeout") {
      const std::string v = value(arg);
      auto d = parseDuration(v);
      if (!d) throw std::invalid_argument("--timeout: \"" + v + "\" is not a duration (e.g. 5s, 500ms)");
      if (d->count() < 100) throw std::invalid_argument("--timeout: \"" + v + "\" is too short (at least 100ms)");
      if (*d > std::chrono::minutes(10)) throw std::invalid_argument("--timeout: \"" + v + "\" is too long (at most 10m)");
      args.timeout = *d;
    } else if (!arg.empty() && arg[0] == '-') {
      throw std::invalid_argument("unknown option " + arg);
    } else {
      throw std::invalid_argument("unexpected argument \"" + arg + "\"");
    }
  }
  return args;
}

Config loadConfigOrDefaults(const std::optional<std::string>& file, const std::string& default_path) {
  if (file) return loadConfigFile(*file);
  struct stat st {};
  if (::stat(default_path.c_str(), &st) == 0) return loadConfigFile(default_path);
  if (errno == ENOENT || errno == ENOTDIR) return defaultConfig();
  throw ConfigError(default_path, "", std::string("cannot read: ") + std::strerror(errno));
}

Config resolveCheckConfig(const CheckArgs& args, const std::string& default_path) {
  Config config = loadConfigOrDefaults(args.config_file, default_path);
  if (args.timeout) config.timeout = *args.timeout;

  std::string unknown;
  for (const auto& name : args.providers) {
    bool found = false;
    for (auto& p : config.providers)
      if (p.spec.name == name) {
        found = true;
        p.enabled = true;  // named on the command line: the operator wants it checked
      }
    if (!found) unknown += (unknown.empty() ? "" : ", ") + name;
  }
  if (!unknown.empty()) {
    std::string known;
    for (const auto& p : config.providers) known += (known.empty() ? "" : ", ") + p.spec.name;
    throw ConfigError(config.source, "providers", "no provider named " + unknown + " (known: " + known + ")");
  }
  for (const auto& name : args.routes) {
    bool found = false;
    for (const auto& r : config.routes) found = found || r.name == name;
    if (!found) unknown += (unknown.empty() ? "" : ", ") + name;
  }
  if (!unknown.empty()) {
    std::string known;
    for (const auto& r : config.routes) known += (known.empty() ? "" : ", ") + r.name;
    throw ConfigError(config.source, "routes", "no route named " + unknown + " (known: " + known + ")");
  }
  if (args.providers.empty()) {
    bool any = false;
    for (const auto& p : config.providers) any = any || p.enabled;
    if (!any) throw ConfigError(config.source, "providers", "every provider is disabled: nothing to check");
  }
  return config;
}

namespace {

int terminalWidth() {
  struct winsize ws {};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* cols = std::getenv("COLUMNS")) {
    const int n = std::atoi(cols);
    if (n > 0) return n;
  }
  return 100;
}

}  // namespace

int runCheckCommand(int argc, char** argv) {
  hardenProcess();  // before any key is read or TLS initialised
  CheckArgs args;
  try {
    args = parseCheckArgs(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "pathwatch check: %s (see pathwatch check --help)\n", e.what());
    return 2;
  }
  if (args.help) {
    std::fputs(kCheckHelp, stdout);
    return 0;
  }

  Config config;
  try {
    config = resolveCheckConfig(args);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "pathwatch check: %s\n", e.what());
    return 2;
  }

  CheckSelection selection;
  selection.providers = args.providers;
  selection.routes = args.routes;
  // pathwatchd's view of the keys, asked while the probes run: a daemon that
  // is absent, slow or refusing costs nothing but its bounded wait.
  const std::string socket = clientSocketPath(config.socket);
  auto daemon_status = std::async(std::launch::async, [socket] {
    return askDaemonStatus(socket, kDaemonStatusTimeout);
  });
  CheckReport report;
  try {
    report = runCheckOnce(config, selection);
  } catch (const std::exception& e) {
    // Not a verdict: the check itself could not run (no loop, no memory...).
    std::fprintf(stderr, "pathwatch check: the check could not run: %s\n", e.what());
    return 2;
  }
  const std::optional<nlohmann::json> status = daemon_status.get();
  std::vector<KeyComparison> keys;
  if (status) keys = compareReportKeys(report, *status);

  if (args.json) {
    nlohmann::json doc = toJson(report);
    doc["daemon_keys"] = status ? daemonKeysJson(socket, *status, keys) : nlohmann::json(nullptr);
    std::cout << doc.dump(2) << "\n";
  } else {
    RenderOptions options;
    const char* no_color = std::getenv("NO_COLOR");
    options.color = ::isatty(STDOUT_FILENO) == 1 && (no_color == nullptr || no_color[0] == '\0');
    options.width = terminalWidth();
    options.config_source = config.source;
    std::cout << renderCheckReport(report, options);
    if (status) {
      const std::string text = renderKeyComparisons(keys, keyTextContext(KeyPerspective::Check, *status));
      if (!text.empty()) std::cout << "\n" << text;
    }
  }
  std::cout.flush();
  if (!std::cout) return 2;  // stdout closed or full: the result was not delivered
  return report.allOk() ? 0 : 1;
}

}  // namespace pathwatch
