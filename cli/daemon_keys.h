#pragma once
// What pathwatchd's key sources gave, against this process's: `pathwatch
// check` compares its own key layers, `pathwatch status` reads the keys here
// for the daemon's providers. The daemon's side comes from its status answer
// (providers[].key: source, status, fingerprint; docs/socket.md).
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/key_compare.h"
#include "pathwatch/result.h"

namespace pathwatch {

// The socket the client commands talk to: $PATHWATCH_SOCKET when set and not
// empty, else `fallback`.
std::string clientSocketPath(const std::string& fallback);

// pathwatchd's status answer within about `timeout` (connect and answer), or
// nullopt when none comes: not running, refused, slow, not JSON. Never throws.
std::optional<nlohmann::json> askDaemonStatus(const std::string& socket,
                                              std::chrono::milliseconds timeout);

// check: each provider of `report` that the daemon also runs, this check's key
// layer against the daemon's. Providers whose daemon key is unknown are left out.
std::vector<KeyComparison> compareReportKeys(const CheckReport& report,
                                             const nlohmann::json& status);

// status: for each provider of the answer, reads its key here (readKey, from
// the source the daemon uses: the same variable or file) and compares.
std::vector<KeyComparison> compareLocalKeys(const nlohmann::json& status);

// {"socket", "pid", "config", "providers": [...]}: check's "daemon_keys".
nlohmann::json daemonKeysJson(const std::string& socket, const nlohmann::json& status,
                              const std::vector<KeyComparison>& comparisons);

// The text context from a status answer (the daemon's pid and config).
KeyTextContext keyTextContext(KeyPerspective perspective, const nlohmann::json& status);

}  // namespace pathwatch
