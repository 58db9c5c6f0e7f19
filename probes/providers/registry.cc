// The provider registry: the built-ins of list.h, plus definitions registered
// at run time (tests, embedders), and what is read across all of them (key
// shapes).
#include <algorithm>

#include "providers/provider_def.h"

namespace pathwatch {

namespace {

std::vector<const ProviderDef*>& registry() {
  static std::vector<const ProviderDef*> defs = {
#define PATHWATCH_PROVIDER(name) &providers::name##_provider,
#include "providers/list.h"
#undef PATHWATCH_PROVIDER
  };
  return defs;
}

bool isHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool isToken(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

const std::vector<const ProviderDef*>& providerDefs() { return registry(); }

const ProviderDef* findProviderDef(std::string_view id) {
  for (const ProviderDef* d : registry())
    if (d->id == id) return d;
  return nullptr;
}

bool registerProviderDef(const ProviderDef& def) {
  if (def.id.empty() || findProviderDef(def.id)) return false;
  registry().push_back(&def);
  return true;
}

std::size_t keyShapeMatch(const ProviderDef& def, std::string_view key) {
  std::size_t best = 0;
  for (const KeyShape& s : def.key_shapes) {
    if (s.match) {
      if (s.match(key)) best = std::max<std::size_t>(best, 1);
      continue;
    }
    if (key.substr(0, s.prefix.size()) != s.prefix) continue;
    if (s.min_len && key.size() < s.min_len) continue;
    if (s.max_len && key.size() > s.max_len) continue;
    const std::string_view rest = key.substr(s.prefix.size());
    if (!s.contains.empty() && rest.find(s.contains) == std::string_view::npos) continue;
    if (s.chars == KeyShape::Chars::Hex && !std::all_of(rest.begin(), rest.end(), isHex)) continue;
    if (s.chars == KeyShape::Chars::Token && !std::all_of(rest.begin(), rest.end(), isToken)) continue;
    // A key shape of its own needs some substance beyond the prefix.
    if (rest.size() < 8) continue;
    best = std::max(best, s.prefix.size() + 1);
  }
  return best;
}

const ProviderDef* keyShapeOwner(std::string_view key) {
  const ProviderDef* owner = nullptr;
  std::size_t best = 0;
  for (const ProviderDef* d : registry()) {
    const std::size_t m = keyShapeMatch(*d, key);
    if (m > best) {
      best = m;
      owner = d;
    }
  }
  return owner;
}

}  // namespace pathwatch
