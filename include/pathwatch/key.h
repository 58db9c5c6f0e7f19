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
// Small synchronous reads: call at check start / config load, not per probe.
KeyInspection readKey(const ProviderConfig& provider);

}  // namespace pathwatch
