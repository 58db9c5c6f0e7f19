#include "pathwatch/result.h"

namespace pathwatch {

std::string_view toString(LayerStatus s) {
  switch (s) {
    case LayerStatus::Ok: return "ok";
    case LayerStatus::Fail: return "fail";
    case LayerStatus::Altered: return "altered";
    case LayerStatus::Skipped: return "skipped";
  }
  return "skipped";
}

// SPEC: `check` exits 0 only when every selected provider is ok on every
// selected route. A route whose binding failed is never ok, even if a result
// slipped through on another path.
bool CheckReport::allOk() const {
  for (const auto& route : routes)
    if (!route.binding_error.empty()) return false;
  for (const auto& provider : providers)
    for (const auto& r : provider.routes)
      if (r.verdict != Verdict::Ok) return false;
  return true;
}

}  // namespace pathwatch
