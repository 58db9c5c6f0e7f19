#include "pathwatch/provider.h"

#include <charconv>

#include "providers/provider_def.h"

namespace pathwatch {

std::string_view kindOf(const ProviderSpec& spec) { return spec.def ? spec.def->id : std::string_view{}; }

std::string displayName(const ProviderSpec& spec) {
  if (spec.def && spec.name == spec.def->id) return std::string(spec.def->display);
  if (spec.name.empty() && spec.def) return std::string(spec.def->display);
  return spec.name;
}

std::string displayName(std::string_view provider_name) {
  const ProviderDef* def = findProviderDef(provider_name);
  return def ? std::string(def->display) : std::string(provider_name);
}

std::optional<UrlParts> parseUrl(std::string_view url) {
  UrlParts parts;
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  parts.scheme = std::string(url.substr(0, sep));
  if (parts.scheme != "https" && parts.scheme != "http") return std::nullopt;
  std::string_view rest = url.substr(sep + 3);
  const auto slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  parts.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no userinfo
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    parts.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    parts.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (parts.host.empty()) return std::nullopt;
  parts.port = parts.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535)
      return std::nullopt;
    parts.port = static_cast<uint16_t>(value);
  }
  return parts;
}

std::optional<ProviderSpec> makeProviderSpec(std::string name, const ProviderDef& def,
                                             std::string_view base_url, bool builtin) {
  std::string base(base_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  auto parts = parseUrl(base);
  if (!parts) return std::nullopt;
  ProviderSpec spec;
  spec.name = std::move(name);
  spec.def = &def;
  spec.builtin = builtin;
  spec.base_url = base;
  spec.host = parts->host;
  spec.port = parts->port;
  std::string path = parts->path == "/" ? "" : parts->path;
  spec.probe_path = path + std::string(def.probe_path);
  return spec;
}

std::vector<ProviderSpec> builtinProviders() {
  std::vector<ProviderSpec> out;
  for (const ProviderDef* def : providerDefs()) {
    if (def->base_url.empty()) continue;  // every customer has their own endpoint
    auto spec = makeProviderSpec(std::string(def->id), *def, def->base_url, true);
    if (!spec) continue;
    spec->default_key_env = std::string(def->key_env);
    out.push_back(std::move(*spec));
  }
  return out;
}

std::optional<ProviderSpec> findBuiltin(std::string_view name) {
  for (auto& spec : builtinProviders())
    if (spec.name == name) return spec;
  return std::nullopt;
}

std::pair<std::string, std::string> authHeaderShape(const ProviderSpec& spec) {
  if (!spec.def) return {"Authorization", "Bearer "};
  return {std::string(spec.def->auth_header), std::string(spec.def->auth_prefix)};
}

ProbeRequest buildProbeRequest(const ProviderSpec& spec, std::string_view key) {
  ProbeRequest req;
  std::string path = spec.probe_path;
  const ProviderDef* def = spec.def;
  // Some providers prove a key with another call (Discord: who am I).
  if (def && !key.empty() && !def->probe_path_with_key.empty()) {
    const auto pos = path.rfind(def->probe_path);
    if (pos != std::string::npos && pos + def->probe_path.size() == path.size())
      path = path.substr(0, pos) + std::string(def->probe_path_with_key);
  }
  const auto parts = parseUrl(spec.base_url);
  std::string authority = spec.host.find(':') != std::string::npos ? "[" + spec.host + "]" : spec.host;
  const bool default_port = parts && ((parts->scheme == "https" && spec.port == 443) ||
                                      (parts->scheme == "http" && spec.port == 80));
  if (!default_port) authority += ":" + std::to_string(spec.port);
  req.url = (parts ? parts->scheme : std::string("https")) + "://" + authority + path;
  req.headers.emplace_back("User-Agent", def ? std::string(def->user_agent) : "pathwatch/0.1");
  req.headers.emplace_back("Accept", "application/json");
  if (def)
    for (const auto& [name, value] : def->headers) req.headers.emplace_back(name, value);
  if (!key.empty()) {
    auto [name, prefix] = authHeaderShape(spec);
    req.headers.emplace_back(name, prefix + std::string(key));
  }
  return req;
}

}  // namespace pathwatch
