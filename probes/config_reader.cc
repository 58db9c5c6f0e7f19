#include "config_reader.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>
#include <vector>

#include "pathwatch/key.h"

namespace pathwatch {

using nlohmann::json;

const char* jsonTypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "something else";
  }
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string displayKey(std::string_view key) {
  if (containsApiKey(key)) return "<a name that looks like an API key>";
  if (key.empty()) return "\"\"";
  constexpr std::size_t kMaxShown = 64;
  std::string out;
  for (unsigned char c : key) {
    if (out.size() >= kMaxShown) {
      out += "…";
      break;
    }
    if (c > 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

namespace {

// nlohmann keeps the last of duplicate keys silently; an operator who wrote a
// key twice meant one of them, so say which. Tracks the path as it parses.
struct DuplicateKeyCheck {
  struct Frame {
    bool is_array = false;
    std::size_t index = 0;
    std::set<std::string> keys;
    std::string path;
    std::string last_key;
  };
  std::vector<Frame> stack;
  const ConfigReader* reader = nullptr;

  std::string childPath() const {
    if (stack.empty()) return "";
    const Frame& f = stack.back();
    return f.is_array ? ConfigReader::index(f.path, f.index) : ConfigReader::join(f.path, f.last_key);
  }
  void valueDone() {
    if (!stack.empty() && stack.back().is_array) ++stack.back().index;
  }
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: {
        if (stack.size() >= 64) reader->fail(childPath(), "nested too deeply");
        Frame f;
        f.is_array = event == json::parse_event_t::array_start;
        f.path = childPath();
        stack.push_back(std::move(f));
        break;
      }
      case json::parse_event_t::key: {
        Frame& f = stack.back();
        f.last_key = parsed.get<std::string>();
        if (!f.keys.insert(f.last_key).second) reader->fail(childPath(), "key given twice");
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        stack.pop_back();
        valueDone();
        break;
      case json::parse_event_t::value:
        valueDone();
        break;
    }
    return true;
  }
};

std::pair<std::size_t, std::size_t> lineColumn(const std::string& text, std::size_t byte) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < text.size() && i + 1 < byte; ++i) {
    if (text[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return {line, col};
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// nlohmann's text: "[json.exception.parse_error.101] parse error at line L,
// column C: syntax error while parsing CONTEXT - WHAT[; last read: 'BYTES']
// [; expected TOKEN]". CONTEXT, WHAT and TOKEN are nlohmann's own words; the
// BYTES after "last read" are the file's and may be a key: never shown.
std::string syntaxProblem(const std::string& what) {
  std::string why;
  const auto colpos = what.find("column ");
  if (colpos != std::string::npos) {
    const auto colon = what.find(": ", colpos);
    if (colon != std::string::npos) why = what.substr(colon + 2);
  }
  const auto last = why.find("; last read:");
  if (last != std::string::npos) {
    // Only ever re-append nlohmann's token names, never text after "last read".
    static const char* const kTokens[] = {
        "string literal", "number literal", "true literal", "false literal", "null literal",
        "'['", "'{'", "']'", "'}'", "':'", "','", "end of input", "'[', '{', or a literal",
        "value"};
    std::string expected;
    for (const char* t : kTokens)
      if (endsWith(why, std::string("; expected ") + t)) expected = std::string("; expected ") + t;
    why = why.substr(0, last) + expected;
  }
  for (char& c : why)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return why;
}

}  // namespace

json ConfigReader::parse(const std::string& text) const {
  DuplicateKeyCheck dup;
  dup.reader = this;
  try {
    return json::parse(text, std::ref(dup), /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::parse_error& e) {
    auto [line, col] = lineColumn(text, e.byte);
    const std::string why = syntaxProblem(e.what());
    throw ConfigError(file_, "", "invalid JSON at line " + std::to_string(line) + ", column " +
                                     std::to_string(col) + (why.empty() ? "" : ": " + why));
  } catch (const json::out_of_range&) {
    throw ConfigError(file_, "", "invalid JSON: a number too large to represent");
  } catch (const json::exception&) {
    throw ConfigError(file_, "", "invalid JSON");
  }
}

void ConfigReader::fail(const std::string& path, const std::string& problem) const {
  throw ConfigError(file_, path, problem);
}

void ConfigReader::requireType(const json& v, const std::string& path, json::value_t want,
                               const char* want_name) const {
  const bool ok = want == json::value_t::number_integer
                      ? (v.is_number_integer() || v.is_number_unsigned())
                      : v.type() == want;
  if (!ok) fail(path, std::string("expected ") + want_name + ", got " + jsonTypeName(v));
}

void ConfigReader::checkKeys(const json& obj, const std::string& path,
                             std::initializer_list<std::string_view> known) const {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    if (containsApiKey(key)) fail(join(path, key), std::string("an unknown key that ") + kLooksLikeApiKey);
    std::string problem = "unknown key";
    std::size_t best = 3;
    std::string_view suggestion;
    for (auto k : known) {
      const std::size_t d = editDistance(key, k);
      if (d < best) best = d, suggestion = k;
    }
    if (!suggestion.empty()) problem += " (did you mean \"" + std::string(suggestion) + "\"?)";
    fail(join(path, key), problem);
  }
}

std::string ConfigReader::join(const std::string& path, std::string_view key) {
  const std::string shown = displayKey(key);
  return path.empty() ? shown : path + "." + shown;
}

std::string ConfigReader::index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

const json& ConfigReader::object(const json& v, const std::string& path) const {
  requireType(v, path, json::value_t::object, "an object");
  return v;
}

const json& ConfigReader::array(const json& v, const std::string& path) const {
  requireType(v, path, json::value_t::array, "an array");
  return v;
}

std::string ConfigReader::rawString(const json& v, const std::string& path) const {
  requireType(v, path, json::value_t::string, "a string");
  return v.get<std::string>();
}

std::string ConfigReader::string(const json& v, const std::string& path) const {
  std::string s = rawString(v, path);
  if (containsApiKey(s)) fail(path, kLooksLikeApiKey);
  return s;
}

std::string ConfigReader::nonEmptyString(const json& v, const std::string& path) const {
  std::string s = string(v, path);
  if (s.empty()) fail(path, "must not be empty");
  return s;
}

bool ConfigReader::boolean(const json& v, const std::string& path) const {
  requireType(v, path, json::value_t::boolean, "true or false");
  return v.get<bool>();
}

int64_t ConfigReader::integer(const json& v, const std::string& path, int64_t lo, int64_t hi) const {
  requireType(v, path, json::value_t::number_integer, "an integer");
  const std::string range = "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) fail(path, range);
  const int64_t n = v.get<int64_t>();
  if (n < lo || n > hi) fail(path, range);
  return n;
}

Millis ConfigReader::duration(const json& v, const std::string& path, Millis min, Millis max) const {
  if (v.is_number())
    fail(path, "a duration is a string with a unit, e.g. \"10s\", \"500ms\", \"5m\"");
  auto d = parseDuration(string(v, path));
  if (!d) fail(path, "is not a duration (a number and one of ms, s, m, h, d, e.g. \"10s\")");
  if (*d < min) fail(path, "is too short (at least " + formatDuration(min) + ")");
  if (*d > max) fail(path, "is too long (at most " + formatDuration(max) + ")");
  return *d;
}

std::string ConfigReader::absolutePath(const json& v, const std::string& path) const {
  std::string s = nonEmptyString(v, path);
  if (s.front() != '/') fail(path, "must be an absolute path");
  if (s.find('\0') != std::string::npos) fail(path, "contains a NUL byte");
  return s;
}

void ConfigReader::httpUrlShape(const std::string& s, const std::string& path) const {
  if (s.empty()) fail(path, "must not be empty");
  if (s.find_first_of(" \t\r\n") != std::string::npos) fail(path, "contains whitespace");
  if (!parseUrl(s)) {
    const auto sep = s.find("://");
    const auto authority_end = s.find_first_of("/?#", sep == std::string::npos ? 0 : sep + 3);
    if (sep != std::string::npos && s.substr(0, authority_end).find('@') != std::string::npos)
      fail(path, "must not carry a user name or password (user-info before '@')");
    fail(path, "is not an absolute http:// or https:// URL with a host");
  }
}

std::string ConfigReader::endpointUrl(const json& v, const std::string& path) const {
  std::string s = string(v, path);
  httpUrlShape(s, path);
  if (s.find('?') != std::string::npos)
    fail(path, "must not have a query string ('?'): credentials do not belong in the config");
  if (s.find('#') != std::string::npos) fail(path, "must not have a fragment ('#')");
  return s;
}

std::string ConfigReader::webhookUrl(const json& v, const std::string& path) const {
  std::string s = rawString(v, path);
  httpUrlShape(s, path);
  return s;
}

std::string ConfigReader::name(const json& v, const std::string& path) const {
  std::string s = nonEmptyString(v, path);
  if (s.size() > 64) fail(path, "names are at most 64 characters");
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) fail(path, "names use only letters, digits, '-', '_' and '.'");
  }
  return s;
}

}  // namespace pathwatch
