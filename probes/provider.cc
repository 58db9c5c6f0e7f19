#include "pathwatch/provider.h"

#include <charconv>

namespace pathwatch {

std::string_view toString(ProviderKind k) {
  switch (k) {
    case ProviderKind::OpenAI: return "openai";
    case ProviderKind::Anthropic: return "anthropic";
    case ProviderKind::Gemini: return "gemini";
    case ProviderKind::Discord: return "discord";
  }
  return "openai";
}

std::optional<ProviderKind> providerKindFromString(std::string_view s) {
  if (s == "openai") return ProviderKind::OpenAI;
  if (s == "anthropic") return ProviderKind::Anthropic;
  if (s == "gemini") return ProviderKind::Gemini;
  if (s == "discord") return ProviderKind::Discord;
  return std::nullopt;
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

namespace {

// The cheap probe of each kind, relative to its base URL (PROVIDERS.md).
std::string_view probeSuffix(ProviderKind k) {
  switch (k) {
    case ProviderKind::OpenAI: return "/models";
    case ProviderKind::Anthropic: return "/models";
    case ProviderKind::Gemini: return "/models";
    case ProviderKind::Discord: return "/gateway";
  }
  return "/models";
}

}  // namespace

std::optional<ProviderSpec> makeProviderSpec(std::string name, ProviderKind kind,
                                             std::string_view base_url, bool builtin) {
  std::string base(base_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  auto parts = parseUrl(base);
  if (!parts) return std::nullopt;
  ProviderSpec spec;
  spec.name = std::move(name);
  spec.kind = kind;
  spec.builtin = builtin;
  spec.base_url = base;
  spec.host = parts->host;
  spec.port = parts->port;
  std::string path = parts->path == "/" ? "" : parts->path;
  spec.probe_path = path + std::string(probeSuffix(kind));
  return spec;
}

const std::vector<ProviderSpec>& builtinProviders() {
  static const std::vector<ProviderSpec> specs = [] {
    std::vector<ProviderSpec> v;
    auto add = [&v](const char* name, ProviderKind kind, const char* base, const char* env) {
      auto spec = makeProviderSpec(name, kind, base, true);
      spec->default_key_env = env;
      v.push_back(*spec);
    };
    add("openai", ProviderKind::OpenAI, "https://api.openai.com/v1", "OPENAI_API_KEY");
    add("anthropic", ProviderKind::Anthropic, "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY");
    add("gemini", ProviderKind::Gemini, "https://generativelanguage.googleapis.com/v1beta",
        "GEMINI_API_KEY");
    add("discord", ProviderKind::Discord, "https://discord.com/api/v10", "DISCORD_BOT_TOKEN");
    return v;
  }();
  return specs;
}

const ProviderSpec* findBuiltin(std::string_view name) {
  for (const auto& spec : builtinProviders())
    if (spec.name == name) return &spec;
  return nullptr;
}

std::pair<std::string, std::string> authHeaderShape(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::OpenAI: return {"Authorization", "Bearer "};
    case ProviderKind::Anthropic: return {"x-api-key", ""};
    case ProviderKind::Gemini: return {"x-goog-api-key", ""};
    case ProviderKind::Discord: return {"Authorization", "Bot "};
  }
  return {"Authorization", "Bearer "};
}

ProbeRequest buildProbeRequest(const ProviderSpec& spec, std::string_view key) {
  ProbeRequest req;
  std::string path = spec.probe_path;
  // Discord: the unauthenticated gateway proves the path; with a token, ask who we are.
  if (spec.kind == ProviderKind::Discord && !key.empty()) {
    const auto pos = path.rfind("/gateway");
    if (pos != std::string::npos) path = path.substr(0, pos) + "/users/@me";
  }
  const auto parts = parseUrl(spec.base_url);
  std::string authority = spec.host.find(':') != std::string::npos ? "[" + spec.host + "]" : spec.host;
  const bool default_port = parts && ((parts->scheme == "https" && spec.port == 443) ||
                                      (parts->scheme == "http" && spec.port == 80));
  if (!default_port) authority += ":" + std::to_string(spec.port);
  req.url = (parts ? parts->scheme : std::string("https")) + "://" + authority + path;
  // Discord's edge may refuse a bot call without its User-Agent shape.
  req.headers.emplace_back("User-Agent", spec.kind == ProviderKind::Discord
                                             ? "DiscordBot (https://pathwatch.invalid, 0.1)"
                                             : "pathwatch/0.1");
  req.headers.emplace_back("Accept", "application/json");
  if (spec.kind == ProviderKind::Anthropic) req.headers.emplace_back("anthropic-version", "2023-06-01");
  if (!key.empty()) {
    auto [name, prefix] = authHeaderShape(spec.kind);
    req.headers.emplace_back(name, prefix + std::string(key));
  }
  return req;
}

}  // namespace pathwatch
