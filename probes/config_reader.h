#pragma once
// The strict JSON reader under the config parser: JSON that nlohmann would
// accept silently but an operator did not mean (duplicate keys, deep nesting)
// is an error; every value is read through a typed accessor that knows its key
// path and throws ConfigError naming file, key path and problem.
//
// No message quotes a value from the file: a key pasted into the wrong field
// would otherwise travel to stderr, the journal and `status` answers. Messages
// name the expected form instead ("must be a duration like \"10s\"").
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pathwatch/config.h"
#include "pathwatch/duration.h"

namespace pathwatch {

// The problem for a value (or a key name) that has the shape of an API key.
inline constexpr const char* kLooksLikeApiKey =
    "looks like an API key; put the key in an environment variable or file and name it with "
    "key_env/key_file";

// "a string", "an integer", ... for "expected X, got Y".
const char* jsonTypeName(const nlohmann::json& v);

// Classic edit distance, for "did you mean" on unknown keys.
std::size_t editDistance(std::string_view a, std::string_view b);

// A key name as it may appear in a key path: plain names as they are; a name
// that looks like an API key is replaced, odd bytes are escaped, long names cut.
std::string displayKey(std::string_view key);

class ConfigReader {
 public:
  explicit ConfigReader(std::string file) : file_(std::move(file)) {}

  // Parses `text` as one JSON document: no comments, no duplicate keys, at
  // most 64 levels deep; a syntax error names line and column.
  nlohmann::json parse(const std::string& text) const;

  [[noreturn]] void fail(const std::string& path, const std::string& problem) const;

  void requireType(const nlohmann::json& v, const std::string& path, nlohmann::json::value_t want,
                   const char* want_name) const;
  // Rejects keys not in `known`; the message suggests the closest one.
  void checkKeys(const nlohmann::json& obj, const std::string& path,
                 std::initializer_list<std::string_view> known) const;

  static std::string join(const std::string& path, std::string_view key);
  static std::string index(const std::string& path, std::size_t i);

  const nlohmann::json& object(const nlohmann::json& v, const std::string& path) const;
  const nlohmann::json& array(const nlohmann::json& v, const std::string& path) const;
  // Every string read through here is refused when it holds an API key shape.
  std::string string(const nlohmann::json& v, const std::string& path) const;
  std::string nonEmptyString(const nlohmann::json& v, const std::string& path) const;
  bool boolean(const nlohmann::json& v, const std::string& path) const;
  int64_t integer(const nlohmann::json& v, const std::string& path, int64_t lo, int64_t hi) const;
  Millis duration(const nlohmann::json& v, const std::string& path, Millis min, Millis max) const;
  std::string absolutePath(const nlohmann::json& v, const std::string& path) const;
  // base_url, echo: an http(s) URL with a host; no user-info, query or
  // fragment (they are where credentials hide).
  std::string endpointUrl(const nlohmann::json& v, const std::string& path) const;
  // A webhook URL: its path and query may carry the hook's own secret (Slack,
  // Discord), so they are not judged; no user-info. Shown only via redactUrl.
  std::string webhookUrl(const nlohmann::json& v, const std::string& path) const;
  // Provider and route names appear on the command line, in alerts and in
  // history: keep them plain.
  std::string name(const nlohmann::json& v, const std::string& path) const;

  const std::string& file() const { return file_; }

 private:
  std::string rawString(const nlohmann::json& v, const std::string& path) const;
  void httpUrlShape(const std::string& s, const std::string& path) const;

  std::string file_;
};

}  // namespace pathwatch
