// "providers": the file's entries merged with the built-ins. An entry with a
// built-in name overrides it in place; any other entry is a custom provider
// and needs "kind" and "base_url". Keys themselves never live here.
#include <algorithm>
#include <map>

#include "config_sections.h"
#include "providers/provider_def.h"

namespace pathwatch {

using nlohmann::json;

namespace {

bool validEnvName(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Key names people use when they paste the key itself into the config.
bool namesASecret(std::string_view k) {
  static const std::string_view kNames[] = {"key", "api_key", "apikey", "token", "secret",
                                            "password", "bot_token", "api-key"};
  return std::find(std::begin(kNames), std::end(kNames), k) != std::end(kNames);
}

// "openai, anthropic, ...": for messages.
std::string knownKinds() {
  std::string out;
  for (const ProviderDef* d : providerDefs()) out += (out.empty() ? "" : ", ") + std::string(d->id);
  return out;
}
std::string knownBuiltins() {
  std::string out;
  for (const auto& spec : builtinProviders()) out += (out.empty() ? "" : ", ") + spec.name;
  return out;
}

}  // namespace

std::vector<ProviderConfig> parseProviders(const ConfigReader& r, const json& arr) {
  const std::string base = "providers";
  r.array(arr, base);
  std::vector<ProviderConfig> builtins;
  for (const auto& spec : builtinProviders())
    builtins.push_back(ProviderConfig{spec, spec.def->default_enabled, {}, {}});
  std::vector<ProviderConfig> custom;
  std::map<std::string, std::size_t> seen;  // name -> index in the file

  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string path = ConfigReader::index(base, i);
    const json& entry = r.object(arr[i], path);
    for (const auto& [k, v] : entry.items())
      if (namesASecret(k))
        r.fail(ConfigReader::join(path, k),
               "a key never goes in the config file; name where to read it with \"key_env\" "
               "(an environment variable) or \"key_file\" (a file)");
    r.checkKeys(entry, path, {"name", "enabled", "key_env", "key_file", "kind", "base_url"});
    if (!entry.contains("name")) r.fail(path, "missing \"name\"");
    const std::string name_path = ConfigReader::join(path, "name");
    const std::string name = r.name(entry["name"], name_path);
    if (auto [it, inserted] = seen.emplace(name, i); !inserted)
      r.fail(name_path, "duplicate provider name (also " + ConfigReader::index(base, it->second) + ")");

    ProviderConfig pc;
    if (entry.contains("enabled"))
      pc.enabled = r.boolean(entry["enabled"], ConfigReader::join(path, "enabled"));
    if (entry.contains("key_env")) {
      const std::string kp = ConfigReader::join(path, "key_env");
      // The variable's name, not its value: shown as the key's source.
      std::string env = r.nonEmptyString(entry["key_env"], kp);
      if (!validEnvName(env))
        r.fail(kp, "is not an environment variable name (letters, digits, '_'; not starting "
                   "with a digit)");
      pc.key_env = env;
    }
    if (entry.contains("key_file"))
      pc.key_file = r.absolutePath(entry["key_file"], ConfigReader::join(path, "key_file"));
    if (pc.key_env && pc.key_file) r.fail(path, "set either \"key_env\" or \"key_file\", not both");

    const ProviderDef* kind = nullptr;
    const std::string kind_path = ConfigReader::join(path, "kind");
    if (entry.contains("kind")) {
      kind = findProviderDef(r.string(entry["kind"], kind_path));
      if (!kind) r.fail(kind_path, "is not one of the known kinds (" + knownKinds() + ")");
    }
    std::optional<std::string> base_url;
    const std::string url_path = ConfigReader::join(path, "base_url");
    if (entry.contains("base_url")) base_url = r.endpointUrl(entry["base_url"], url_path);

    const auto builtin = findBuiltin(name);
    // Before the opt-in built-ins existed, "groq" and the like could only be
    // custom entries ("kind": "openai" + "base_url"): such an entry stays the
    // custom provider it was.
    const bool custom_under_builtin_name = builtin && !builtin->def->default_enabled && kind &&
                                           kind != builtin->def && base_url;
    if (builtin && !custom_under_builtin_name) {
      // An entry with a built-in name overrides that built-in (and enables it
      // unless it says otherwise).
      if (kind && kind != builtin->def)
        r.fail(kind_path, "this built-in provider is of kind " + std::string(builtin->def->id) +
                              "; give a custom provider another name");
      pc.spec = *builtin;
      if (base_url) {
        auto spec = makeProviderSpec(name, *builtin->def, *base_url, true);
        if (!spec) r.fail(url_path, "is not a usable base URL");
        spec->default_key_env = builtin->default_key_env;
        // Pointed somewhere else (a gateway, a mirror): no longer the public
        // host, so a private answer is not a bogon.
        spec->builtin = spec->host == builtin->host;
        pc.spec = *spec;
      }
      for (auto& b : builtins)
        if (b.spec.name == name) b = pc;
      continue;
    }
    if (!kind || !base_url)
      r.fail(path, "not a built-in provider name (" + knownBuiltins() +
                       "); a custom one needs \"kind\" and \"base_url\"");
    auto spec = makeProviderSpec(name, *kind, *base_url, false);
    if (!spec) r.fail(url_path, "is not a usable base URL");
    pc.spec = *spec;
    custom.push_back(pc);
    // The custom entry takes the name: the opt-in built-in it shadows goes.
    if (custom_under_builtin_name)
      std::erase_if(builtins, [&](const ProviderConfig& b) { return b.spec.name == name; });
  }
  builtins.insert(builtins.end(), custom.begin(), custom.end());
  return builtins;
}

}  // namespace pathwatch
