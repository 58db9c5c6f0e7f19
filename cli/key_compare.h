#pragma once
// The keys a person has against the keys pathwatchd has. The most common
// "bad key" is a variable set in the user's shell but not in the service:
// `pathwatch check` and `pathwatch status` say so and show the systemd fix
// (docs/json.md "daemon_keys", docs/socket.md). Pure: views in, findings and
// text out; only sources, statuses and fingerprints ever enter, never a key.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pathwatch/result.h"

namespace pathwatch {

// What one side's key source gave.
struct KeyView {
  std::string source;                 // "env:OPENAI_API_KEY", "file:/run/...", "none"
  bool configured = false;            // the config named the source
  bool read = false;                  // a key came out of it (ok or malformed)
  std::string status;                 // "ok", "fail", "skipped"
  std::string error;                  // "key_missing", "key_malformed", ""
  std::vector<std::string> problems;  // "env_unset", "file_not_found", ...
  std::string fingerprint;            // "sk-proj…MxYA"; "" when none was read or it is short
};

KeyView keyViewOf(const KeyLayer& layer);
// The status answer's providers[].key; a view with source "" when absent or null.
KeyView keyViewFromJson(const nlohmann::json& j);
nlohmann::json toJson(const KeyView& v);

enum class KeyFinding {
  SameKey,           // both have a key with one fingerprint
  DaemonLacksKey,    // the person has a key, pathwatchd none (missing, or no source)
  DifferentKey,      // both have one, the fingerprints differ
  OnlyDaemonHasKey,  // pathwatchd has a key, the person none
  NeitherHasKey,
};
std::string_view toString(KeyFinding f);  // "same_key", "daemon_lacks_key", ...

KeyFinding compareKeys(const KeyView& local, const KeyView& daemon);

// How to hand a key to the service: the unit's lines (as systemd/pathwatchd.service
// shows them, commented) and the config key that names the credential.
struct ServiceKeyFix {
  std::string load_credential;       // "LoadCredential=openai:/etc/pathwatch/keys/openai"
  std::string key_file;              // "/run/credentials/pathwatchd.service/openai"
  std::string environment_file;      // "EnvironmentFile=-/etc/pathwatch/keys.env"
  std::string environment_variable;  // "OPENAI_API_KEY"; "" when no variable is involved
};
inline constexpr const char* kServiceKeysEnvFile = "/etc/pathwatch/keys.env";
ServiceKeyFix serviceKeyFix(const std::string& provider, const KeyView& local,
                            const KeyView& daemon);

struct KeyComparison {
  std::string provider;
  KeyView local, daemon;
  KeyFinding finding = KeyFinding::NeitherHasKey;
};

// {"name", "finding", "local", "daemon", "fix" (daemon_lacks_key only)} per provider.
nlohmann::json toJson(const std::vector<KeyComparison>& comparisons);

// Who "local" is in the text: this check's own reading, or the person at
// `pathwatch status` (their environment and files).
enum class KeyPerspective { Check, Status };

struct KeyTextContext {
  KeyPerspective perspective = KeyPerspective::Check;
  std::string daemon_config;  // the config pathwatchd runs with ("<defaults>" or a path)
  long daemon_pid = 0;
};

// The lines to print after the table / status; "" when there is nothing to
// say (every key the same, or the person has none pathwatchd lacks).
std::string renderKeyComparisons(const std::vector<KeyComparison>& comparisons,
                                 const KeyTextContext& context);

}  // namespace pathwatch
