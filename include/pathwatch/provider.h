#pragma once
// What pathwatch knows about a provider: where and how to probe it.
// The answer signatures (who wrote an answer, what it means) live in
// probes/providers/<kind>.cc behind classify.h.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pathwatch/address.h"  // isIpLiteral, used with URLs' hosts

namespace pathwatch {

enum class ProviderKind { OpenAI, Anthropic, Gemini, Discord };

std::string_view toString(ProviderKind k);
std::optional<ProviderKind> providerKindFromString(std::string_view s);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ProviderSpec {
  std::string name;        // "openai", or a custom entry's name
  ProviderKind kind = ProviderKind::OpenAI;
  bool builtin = false;    // a public provider: special-use answers are bogons
  std::string base_url;    // "https://api.openai.com/v1" (no trailing slash)
  std::string host;        // parsed from base_url
  uint16_t port = 443;     // parsed from base_url
  std::string probe_path;  // full path of the cheap probe, e.g. "/v1/models"
  std::string default_key_env;  // "OPENAI_API_KEY"; empty for custom entries
};

// The four built-in providers, as PROVIDERS.md describes them.
const std::vector<ProviderSpec>& builtinProviders();
const ProviderSpec* findBuiltin(std::string_view name);

// Splits "https://host[:port]/path" into host, port and path; nullopt if it is
// not an absolute http(s) URL with a host.
struct UrlParts {
  std::string scheme, host, path;
  uint16_t port = 0;
};
std::optional<UrlParts> parseUrl(std::string_view url);

// Builds a spec for kind + base_url (custom entries and overridden built-ins).
std::optional<ProviderSpec> makeProviderSpec(std::string name, ProviderKind kind,
                                             std::string_view base_url, bool builtin);

// The probe request: URL and the headers to send. `key` empty means "no key":
// the probe still runs and proves the path. The auth header shape is the
// provider's own (Bearer / x-api-key / x-goog-api-key / Bot).
struct ProbeRequest {
  std::string url;
  HeaderList headers;
};
ProbeRequest buildProbeRequest(const ProviderSpec& spec, std::string_view key);

// The auth header name and value prefix of a provider, e.g. {"Authorization", "Bearer "}.
std::pair<std::string, std::string> authHeaderShape(ProviderKind kind);

}  // namespace pathwatch
