#pragma once
// `pathwatch check`: one full diagnosis now, in-process, no daemon.
// Argument parsing and config selection are pure and testable; running the
// check is runCheckOnce (probes/check.h).
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "pathwatch/config.h"
#include "pathwatch/duration.h"

namespace pathwatch {

inline constexpr const char* kDefaultConfigPath = "/etc/pathwatch/config.json";

struct CheckArgs {
  std::optional<std::string> config_file;  // -c; nullopt = default path or embedded defaults
  std::vector<std::string> providers;      // -p, repeatable (commas allowed)
  std::vector<std::string> routes;         // -r, repeatable (commas allowed)
  bool json = false;
  std::optional<Millis> timeout;
  bool help = false;
};

// Throws std::invalid_argument with a one-line message on a usage error.
CheckArgs parseCheckArgs(int argc, char** argv);

// The config file as check, config check and pathwatchd choose it: FILE
// (must exist), else the default path when it exists, else the embedded
// defaults. Throws ConfigError.
Config loadConfigOrDefaults(const std::optional<std::string>& file,
                            const std::string& default_path = kDefaultConfigPath);

// The config the check runs with (loadConfigOrDefaults). Applies --timeout and the
// -p/-r selection (unknown names throw ConfigError naming them; a provider
// named explicitly runs even when the config disables it).
Config resolveCheckConfig(const CheckArgs& args, const std::string& default_path = kDefaultConfigPath);

// How long check waits for pathwatchd's status (connect, then answer) to
// compare keys; it asks while its own probes run.
inline constexpr std::chrono::milliseconds kDaemonStatusTimeout{1500};

}  // namespace pathwatch
