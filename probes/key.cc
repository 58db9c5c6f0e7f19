// API keys: read from where the config says, inspected for the paste
// mistakes seen in the wild (docs/providers.md "Keys: formats and paste
// mistakes"), shown only as a fingerprint. A damaged key is never sent: the
// provider's answer to it would blame the key for what is a storage problem.
#include "pathwatch/key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <utility>

#include <openssl/crypto.h>

#include "pathwatch/text.h"
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

constexpr std::size_t kMaxKeyFile = 64 * 1024;  // no key is this big; a bigger file is not a key
constexpr std::size_t kMaxKeyLength = 8192;     // long enough for JWT-style tokens of custom endpoints

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (a != prefix[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}


// "Authorization: Bearer ...", "x-api-key: ..." pasted whole: any provider's auth header name.
bool authHeaderPasted(std::string_view s) {
  for (const ProviderDef* d : providerDefs()) {
    const std::string_view name = d->auth_header;
    if (s.size() > name.size() && s[name.size()] == ':' && startsWithNoCase(s, toLower(name))) return true;
  }
  return false;
}

// Quotes people wrap keys in: ASCII, and the typographic ones word processors make.
std::size_t quoteAtStart(std::string_view s) {
  if (s.empty()) return 0;
  if (s[0] == '"' || s[0] == '\'' || s[0] == '`') return 1;
  if (s.size() >= 3 && s.substr(0, 2) == "\xE2\x80" &&
      (s[2] == '\x9C' || s[2] == '\x9D' || s[2] == '\x98' || s[2] == '\x99'))
    return 3;
  return 0;
}
std::size_t quoteAtEnd(std::string_view s) {
  if (s.empty()) return 0;
  const char c = s.back();
  if (c == '"' || c == '\'' || c == '`') return 1;
  if (s.size() >= 3 && s.substr(s.size() - 3, 2) == "\xE2\x80" &&
      (c == '\x9C' || c == '\x9D' || c == '\x98' || c == '\x99'))
    return 3;
  return 0;
}

}  // namespace

SecretKey::~SecretKey() { wipeSecret(value_); }

SecretKey& SecretKey::operator=(const SecretKey& other) {
  if (this != &other) {
    wipeSecret(value_);
    value_ = other.value_;
  }
  return *this;
}

void wipeSecret(std::string& s) {
  s.resize(s.capacity());
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

std::string fingerprint(std::string_view key) {
  if (key.size() <= 12) return {};
  auto shown = [](std::string_view part) {
    std::string out(part);
    for (char& c : out)
      if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) c = '?';
    return out;
  };
  return shown(key.substr(0, 7)) + "…" + shown(key.substr(key.size() - 4));
}


namespace {

bool keyChars(std::string_view s) {
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return !s.empty();
}

bool isUpperChar(char c) { return c >= 'A' && c <= 'Z'; }
bool isLowerChar(char c) { return c >= 'a' && c <= 'z'; }
bool isDigitChar(char c) { return c >= '0' && c <= '9'; }

// Shapes nobody listed: kRandomWindow letters and digits in a row that mix
// all three classes at random. Words joined by '-' or '_'
// ("Prod-Deployment-Eastus2") break into short runs; CamelCase has too few
// capitals and digits. A window, not the whole run, so a key glued to padding
// ("Ktttt...ttZx8vQ2...") is still found.
constexpr std::size_t kRandomWindow = 28;

// Shannon entropy in bits per character of the window whose counts are given:
// random tokens score ~4.4 over 28 characters, words far less.
double windowEntropy(const int (&counts)[128]) {
  double bits = 0;
  for (int c = '0'; c <= 'z'; ++c) {  // letters and digits only ever land here
    const int n = counts[c];
    if (n == 0) continue;
    const double p = static_cast<double>(n) / static_cast<double>(kRandomWindow);
    bits -= p * std::log2(p);
  }
  return bits;
}

// `run` holds letters and digits only.
bool hasRandomWindow(std::string_view run) {
  if (run.size() < kRandomWindow) return false;
  int counts[128] = {};
  int upper = 0, lower = 0, digits = 0;
  auto count = [&](char c, int delta) {
    counts[static_cast<unsigned char>(c) & 0x7f] += delta;
    upper += isUpperChar(c) ? delta : 0;
    lower += isLowerChar(c) ? delta : 0;
    digits += isDigitChar(c) ? delta : 0;
  };
  for (std::size_t j = 0; j < run.size(); ++j) {
    count(run[j], +1);
    if (j >= kRandomWindow) count(run[j - kRandomWindow], -1);
    if (j + 1 >= kRandomWindow && upper >= 2 && lower >= 2 && digits >= 2 &&
        windowEntropy(counts) >= 3.5)
      return true;
  }
  return false;
}

std::size_t longestAlnumRun(std::string_view s) {
  std::size_t best = 0, run = 0;
  for (char c : s) {
    run = (isUpperChar(c) || isLowerChar(c) || isDigitChar(c)) ? run + 1 : 0;
    best = std::max(best, run);
  }
  return best;
}

// A prefix issued by a provider, then enough key characters to be a key
// rather than a word that happens to start the same way.
bool prefixed(std::string_view k, std::string_view prefix, std::size_t min_total) {
  if (k.size() < min_total || k.rfind(prefix, 0) != 0) return false;
  return keyChars(k.substr(prefix.size()));
}

}  // namespace

bool looksLikeApiKey(std::string_view k) {
  if (k.size() < 20) return false;  // every issued shape is longer; shorter tokens are words
  if (keyShapeOwner(k)) return true;
  // A provider's prefix followed by enough key characters, even when the
  // rest of its shape (length, charset) does not hold; a random run among
  // them, not words ("xai-eu-gateway-production" names a route).
  for (const ProviderDef* d : providerDefs())
    for (const KeyShape& shape : d->key_shapes)
      if (shape.prefix.size() > 3 && prefixed(k, shape.prefix, 24) &&
          longestAlnumRun(k.substr(shape.prefix.size())) >= 16)
        return true;
  // OpenAI and the many services that copied its "sk-" shape; a digit or
  // capital after the prefix keeps "sk-learn-tutorials" a word.
  if (prefixed(k, "sk-", 20) &&
      std::any_of(k.begin() + 3, k.end(), [](char c) { return isUpperChar(c) || isDigitChar(c); }))
    return true;
  std::size_t i = 0;
  while (i < k.size()) {
    std::size_t j = i;
    while (j < k.size() && (isUpperChar(k[j]) || isLowerChar(k[j]) || isDigitChar(k[j]))) ++j;
    if (hasRandomWindow(k.substr(i, j - i))) return true;
    i = j + 1;
  }
  return false;
}

namespace {

// Every provider's key prefixes, and OpenAI's copied "sk-".
std::vector<std::string_view> issuedPrefixes() {
  std::vector<std::string_view> out = {"sk-"};
  for (const ProviderDef* d : providerDefs())
    for (const KeyShape& shape : d->key_shapes)
      if (shape.prefix.size() >= 3 && std::find(out.begin(), out.end(), shape.prefix) == out.end())
        out.push_back(shape.prefix);
  return out;
}

}  // namespace

bool containsApiKey(std::string_view text) {
  auto isTokenChar = [](char c, bool dots) {
    return isUpperChar(c) || isLowerChar(c) || isDigitChar(c) || c == '-' || c == '_' ||
           (dots && c == '.');
  };
  // Dotted runs keep Discord tokens and "AQ." keys whole; undotted runs find a
  // key glued to a host name or a file extension.
  for (bool dots : {true, false}) {
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && !isTokenChar(text[i], dots)) ++i;
      std::size_t j = i;
      while (j < text.size() && isTokenChar(text[j], dots)) ++j;
      const std::string_view token = text.substr(i, j - i);
      if (j > i && looksLikeApiKey(token)) return true;
      // A key glued to other key characters ("xsk-or-v1-..."): try from each
      // issued prefix inside the token too.
      for (std::string_view prefix : issuedPrefixes())
        for (auto p = token.find(prefix, 1); p != std::string_view::npos; p = token.find(prefix, p + 1))
          if (looksLikeApiKey(token.substr(p))) return true;
      i = j;
    }
  }
  return false;
}

std::string_view keyProblemAdvice(std::string_view problem) {
  static const std::pair<std::string_view, std::string_view> kAdvice[] = {
      {"file_world_readable",
       "the key file can be read by every user, so it was not read: chmod 600 it (or 640 with "
       "the daemon's group), then reload"},
      {"file_not_found", "no file at the configured key_file path"},
      {"file_permission_denied", "the daemon may not read the key file: check its owner and mode"},
      {"not_a_regular_file", "key_file must name a regular file"},
      {"file_empty", "the key file is empty"},
      {"env_unset", "the configured key_env variable is not set in the daemon's environment"},
      {"env_empty", "the configured key_env variable is set but empty"},
  };
  for (const auto& [name, advice] : kAdvice)
    if (name == problem) return advice;
  return {};
}

KeyInspection inspectKey(const ProviderDef& def, std::string_view raw, std::string source, bool configured,
                         bool builtin) {
  KeyInspection out;
  KeyLayer& l = out.layer;
  l.source = std::move(source);
  l.configured = configured;
  l.read = true;
  l.length = raw.size();
  auto problem = [&l](const char* p) {
    for (const auto& existing : l.problems)
      if (existing == p) return;
    l.problems.emplace_back(p);
  };

  // Whitespace around the key: CRLF .env files, `echo` without -n, editors.
  if (!raw.empty() && isSpace(raw.front())) problem("leading_whitespace");
  if (!raw.empty() && raw.back() == '\n') problem("trailing_newline");
  if (raw.find('\r') != std::string_view::npos) problem("carriage_return");
  {
    std::string_view t = raw;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
    if (!t.empty() && isSpace(t.back())) problem("trailing_whitespace");
  }
  std::string_view core = trim(raw);
  if (raw.size() > kMaxKeyLength) problem("too_long");

  // Wrappers around the key, peeled one after another so the shape check sees the key.
  for (int round = 0; round < 4; ++round) {
    const std::size_t q1 = quoteAtStart(core), q2 = quoteAtEnd(core);
    if ((q1 || q2) && core.size() >= q1 + q2) {
      problem("surrounding_quotes");
      core = trim(core.substr(q1, core.size() - q1 - q2));
      continue;
    }
    if (authHeaderPasted(core)) {
      problem("header_pasted");
      core = trim(core.substr(core.find(':') + 1));
      continue;
    }
    if (startsWithNoCase(core, "bearer ")) {
      problem("bearer_prefix");
      core = trim(core.substr(7));
      continue;
    }
    if (startsWithNoCase(core, "bot ")) {
      problem("bot_prefix");  // pathwatch adds "Bot " itself
      core = trim(core.substr(4));
      continue;
    }
    // NAME=value copied from an env file.
    const auto eq = core.find('=');
    if (eq != std::string_view::npos && eq > 0 && eq < 64) {
      bool name = true;
      for (char c : core.substr(0, eq))
        name &= (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      if (name) {
        problem("assignment");
        core = trim(core.substr(eq + 1));
        continue;
      }
    }
    break;
  }
  // "Bearer " anywhere else (doubled prefixes, "Bearer Bearer sk-...").
  {
    std::string lower(core);
    for (char& c : lower)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (lower.find("bearer ") != std::string::npos) problem("bearer_prefix");
    wipeSecret(lower);
  }
  if (core.empty()) problem("empty");
  if (startsWithNoCase(core, "http://") || startsWithNoCase(core, "https://")) problem("url");
  for (unsigned char c : core) {
    if (c == ' ' || c == '\t') problem("contains_space");
    else if (c < 0x20 || c == 0x7f) problem("nonprintable");
    else if (c >= 0x80) problem("non_ascii");
  }

  const ProviderDef* owner = keyShapeOwner(core);
  l.looks_like = owner ? std::string(owner->id) : std::string();
  if (builtin) {
    if (owner && owner != &def) problem("wrong_provider_shape");
    // Only what is clearly not a key: providers change formats, so an
    // unfamiliar long token is given the benefit of the doubt.
    if (!core.empty() && core.size() < 20) problem("unknown_shape");
  }
  l.fingerprint = fingerprint(core);

  if (l.problems.empty()) {
    l.status = LayerStatus::Ok;
    out.key = SecretKey(std::string(raw));
  } else {
    l.status = LayerStatus::Fail;
    l.error = "key_malformed";
  }
  return out;
}

namespace {

KeyInspection missing(std::string source, const char* why) {
  KeyInspection out;
  out.layer.source = std::move(source);
  out.layer.configured = true;
  out.layer.status = LayerStatus::Fail;
  out.layer.error = "key_missing";
  out.layer.problems.emplace_back(why);
  return out;
}

KeyInspection noKey(std::string reason) {
  KeyInspection out;
  out.layer.source = "none";
  out.layer.status = LayerStatus::Skipped;
  out.layer.reason = std::move(reason);
  return out;
}

}  // namespace

KeyInspection readKey(const ProviderConfig& provider) {
  const ProviderSpec& spec = provider.spec;
  if (provider.key_env) {
    std::string source = "env:" + *provider.key_env;
    const char* value = provider.key_env->empty() ? nullptr : std::getenv(provider.key_env->c_str());
    if (!value) return missing(std::move(source), "env_unset");
    if (!*value) return missing(std::move(source), "env_empty");
    return inspectKey(*spec.def, value, std::move(source), true, spec.builtin);
  }
  if (provider.key_file) {
    // systemd credentials (/run/credentials/...) are plain files read the same way.
    std::string source = "file:" + *provider.key_file;
    const int fd = ::open(provider.key_file->c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
      const int err = errno;
      return missing(std::move(source), err == ENOENT || err == ENOTDIR ? "file_not_found"
                                        : err == EACCES || err == EPERM ? "file_permission_denied"
                                                                        : "file_unreadable");
    }
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return missing(std::move(source), "not_a_regular_file");
    }
    // A key every local user can read is already leaked to them: refuse it
    // unread, so the operator fixes the mode rather than learns it later.
    if ((st.st_mode & S_IROTH) != 0) {
      ::close(fd);
      return missing(std::move(source), "file_world_readable");
    }
    std::string buf(kMaxKeyFile + 1, '\0');
    std::size_t got = 0;
    bool failed = false;
    while (got < buf.size()) {
      const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        failed = true;
        break;
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (failed) {
      wipeSecret(buf);
      return missing(std::move(source), "file_unreadable");
    }
    if (got == 0) {
      wipeSecret(buf);
      return missing(std::move(source), "file_empty");
    }
    KeyInspection out = inspectKey(*spec.def, std::string_view(buf.data(), std::min(got, kMaxKeyFile)),
                                   std::move(source), true, spec.builtin);
    if (got > kMaxKeyFile && out.layer.status == LayerStatus::Ok) {
      out.layer.status = LayerStatus::Fail;
      out.layer.error = "key_malformed";
      out.layer.problems.emplace_back("too_long");
      out.key = SecretKey();
    }
    wipeSecret(buf);
    return out;
  }
  if (!spec.default_key_env.empty()) {
    const char* value = std::getenv(spec.default_key_env.c_str());
    if (!value)
      return noKey(spec.default_key_env + " is not set: probing without a key (the path is still proven)");
    if (!*value)
      return noKey(spec.default_key_env + " is set but empty: probing without a key (the path is still proven)");
    return inspectKey(*spec.def, value, "env:" + spec.default_key_env, false, spec.builtin);
  }
  return noKey("no key configured: probing without a key (the path is still proven)");
}

}  // namespace pathwatch
