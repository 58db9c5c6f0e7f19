#pragma once
// API keys: where they come from, whether they look damaged, and how they may
// be shown (a fingerprint, never the key).
#include <string>
#include <string_view>

#include "pathwatch/config.h"
#include "pathwatch/result.h"

namespace pathwatch {

// Holds a key in memory. Never printed: there is no stream operator on purpose.
class SecretKey {
 public:
  SecretKey() = default;
  explicit SecretKey(std::string v) : value_(std::move(v)) {}
  ~SecretKey();  // wipes the buffer
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey& other);  // wipes the old value first
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  std::string value_;
};

// "sk-proj…MxYA": first 7 and last 4 characters; "" for keys of 12 or fewer.
std::string fingerprint(std::string_view key);

// Overwrites the whole buffer (capacity included) in a way the compiler keeps,
// then empties it: a copy of a key that is done with leaves no bytes behind.
void wipeSecret(std::string& s);

struct KeyInspection {
  KeyLayer layer;  // status ok / fail (key_missing, key_malformed) / skipped (no key)
  SecretKey key;   // what to send; empty when nothing may be sent
};

// Pure: inspect a raw key as read from `source` for a provider speaking `def`.
// `builtin`: the public provider itself (its key shapes are known); custom
// OpenAI-compatible endpoints accept any token, so shape checks are skipped.
KeyInspection inspectKey(const ProviderDef& def, std::string_view raw, std::string source,
                         bool configured, bool builtin = true);

// Reads the key for a provider: key_env, else key_file, else the built-in's
// usual variable; a configured source that yields nothing is key_missing.
// A key file readable by every user is refused unread (file_world_readable).
// Small synchronous reads: call at check start / config load, not per probe.
KeyInspection readKey(const ProviderConfig& provider);

// What an operator does about a key layer problem ("file_world_readable" ->
// "chmod 600 ..."); "" for problems that need no more than their name.
std::string_view keyProblemAdvice(std::string_view problem);

// The shape of a secret, wherever it turns up (config values, names, URLs):
// the issued shapes of the built-in providers and of common AI APIs (sk-,
// sk-ant-, sk-or-v1-, AIza, AQ., xai-, gsk_, a Discord bot token) and any
// long high-entropy token. `token` is one run of key characters.
bool looksLikeApiKey(std::string_view token);

// True when any token inside `text` (split at characters no key contains, and
// again at dots) looks like an API key.
bool containsApiKey(std::string_view text);

}  // namespace pathwatch
