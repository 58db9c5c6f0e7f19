#pragma once
// What the engine itself observed about a route result (a refused route
// binding, an odd DNS answer's TLS check), derivable from the result so it can
// be re-added after every classifyRoute without duplicates.
#include <string>
#include <vector>

#include "pathwatch/result.h"

namespace pathwatch {

std::vector<std::string> engineEvidence(const RouteResult& r, const std::string& binding_error);

// Appends engineEvidence and drops duplicate evidence lines (order kept).
void addEngineEvidence(RouteResult& r, const std::string& binding_error);

}  // namespace pathwatch
