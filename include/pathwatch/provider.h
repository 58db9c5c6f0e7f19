#pragma once
// A configured provider: which definition it speaks (probes/providers/, one
// file each: the probe, key shapes, answer signatures) and where it is.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pathwatch/address.h"  // isIpLiteral, used with URLs' hosts

namespace pathwatch {

struct ProviderDef;  // probes/providers/provider_def.h

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ProviderSpec {
  std::string name;                  // "openai", or a custom entry's name
  const ProviderDef* def = nullptr;  // what it speaks; never null once configured
  bool builtin = false;    // the public provider itself: special-use answers are bogons
  std::string base_url;    // "https://api.openai.com/v1" (no trailing slash)
  std::string host;        // parsed from base_url
  uint16_t port = 443;     // parsed from base_url
  std::string probe_path;  // full path of the cheap probe, e.g. "/v1/models"
  std::string default_key_env;  // "OPENAI_API_KEY"; empty for custom entries
};

// The definition's id ("openai"): what a custom entry names as its "kind".
std::string_view kindOf(const ProviderSpec& spec);
// "OpenAI" for a built-in under its own name (also when its base_url is
// overridden), the entry's name otherwise.
std::string displayName(const ProviderSpec& spec);
// The same from a provider's configured name alone (alerts, history rows).
std::string displayName(std::string_view provider_name);

// Every provider with a public endpoint, as configured by default (in
// providers/list.h order). Not all are enabled by default (ProviderDef).
std::vector<ProviderSpec> builtinProviders();
std::optional<ProviderSpec> findBuiltin(std::string_view name);

// Splits "https://host[:port]/path" into host, port and path; nullopt if it is
// not an absolute http(s) URL with a host.
struct UrlParts {
  std::string scheme, host, path;
  uint16_t port = 0;
};
std::optional<UrlParts> parseUrl(std::string_view url);

// Builds a spec for a definition + base_url (custom entries and overridden built-ins).
std::optional<ProviderSpec> makeProviderSpec(std::string name, const ProviderDef& def,
                                             std::string_view base_url, bool builtin);

// The probe request: URL and the headers to send. `key` empty means "no key":
// the probe still runs and proves the path. The auth header has the
// definition's shape (Bearer / x-api-key / x-goog-api-key / Bot ...).
struct ProbeRequest {
  std::string url;
  HeaderList headers;
};
ProbeRequest buildProbeRequest(const ProviderSpec& spec, std::string_view key);

// The auth header name and value prefix of a provider, e.g. {"Authorization", "Bearer "}.
std::pair<std::string, std::string> authHeaderShape(const ProviderSpec& spec);

}  // namespace pathwatch
