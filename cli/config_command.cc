// pathwatch config check [-c FILE]: validate, print the effective config
// (stdout, a valid config file) and what each key source gives (stderr).
// pathwatch config example: the example config.
#include "cli/config_command.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <stdexcept>

#include "cli/check_command.h"
#include "cli/commands.h"
#include "cli/effective_config.h"
#include "cli/example_config.h"  // generated from examples/config.json
#include "pathwatch/process_hardening.h"

namespace pathwatch {

std::string_view exampleConfigText() { return kExampleConfigText; }

namespace {

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s + " ";
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

int usageError(const std::string& command, const std::string& problem) {
  std::fprintf(stderr, "pathwatch %s: %s (see pathwatch %s --help)\n", command.c_str(),
               problem.c_str(), command.c_str());
  return 2;
}

}  // namespace

std::string keyReportLine(const ProviderConfig& provider, const KeyLayer& key,
                          std::size_t source_width) {
  std::string state;
  if (key.status == LayerStatus::Ok) {
    state = "ok";
    if (!key.fingerprint.empty()) state += " " + key.fingerprint;
  } else if (key.status == LayerStatus::Fail && key.error == "key_missing") {
    state = "missing (" + joined(key.problems) + ")";
    for (const auto& problem : key.problems)
      if (const auto advice = keyProblemAdvice(problem); !advice.empty())
        state += ": " + std::string(advice);
  } else if (key.status == LayerStatus::Fail) {
    state = "malformed (" + joined(key.problems) + ")";
    if (!key.fingerprint.empty()) state += " " + key.fingerprint;
  } else {
    state = "none";
    if (!key.reason.empty()) state += ": " + key.reason;
  }
  std::string line = "  " + pad(provider.spec.name, 12) + pad(key.source, source_width) + state;
  if (!provider.enabled) line += "  [disabled]";
  return line + "\n";
}

int runConfigCheckCommand(int argc, char** argv) {
  hardenProcess();  // before any key is read
  std::optional<std::string> file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::optional<std::string> value;
    if (arg.rfind("--config=", 0) == 0) {
      value = arg.substr(9);
      arg = "--config";
    } else if (arg.size() > 2 && arg.rfind("-c", 0) == 0) {
      value = arg.substr(2);
      arg = "-c";
    }
    if (arg == "-c" || arg == "--config") {
      if (!value && i + 1 < argc) value = argv[++i];
      if (!value || value->empty()) return usageError("config check", arg + " needs a file name");
      if (file) return usageError("config check", arg + " given twice");
      file = *value;
    } else if (!arg.empty() && arg[0] == '-') {
      return usageError("config check", "unknown option " + arg);
    } else {
      return usageError("config check", "unexpected argument \"" + arg + "\"");
    }
  }

  Config config;
  try {
    config = loadConfigOrDefaults(file);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "pathwatch config check: %s\n", e.what());
    return 2;
  }
  std::cout << effectiveConfigJson(config).dump(2) << "\n";
  std::cout.flush();
  if (!std::cout) return 2;

  std::string report = "pathwatch config check: " + config.source +
                       (config.source == "<defaults>" ? " (no config file): valid\n" : ": valid\n");
  report +=
      "Keys as this user reads them now (pathwatch status compares them with pathwatchd's):\n";
  std::vector<KeyLayer> keys;
  std::size_t width = 0;
  for (const auto& p : config.providers) {
    keys.push_back(readKey(p).layer);  // the key itself is wiped here: only the layer is kept
    width = std::max(width, keys.back().source.size());
  }
  for (std::size_t i = 0; i < keys.size(); ++i)
    report += keyReportLine(config.providers[i], keys[i], width);
  std::cerr << report;
  return 0;
}

int runConfigExampleCommand(int argc, char** argv) {
  if (argc > 1) {
    const std::string arg = argv[1];
    return usageError("config example", !arg.empty() && arg[0] == '-'
                                            ? "unknown option " + arg
                                            : "unexpected argument \"" + arg + "\"");
  }
  std::cout << exampleConfigText();
  std::cout.flush();
  return std::cout ? 0 : 2;
}

}  // namespace pathwatch
