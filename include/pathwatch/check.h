#pragma once
// A whole check: the selected providers over the selected routes, then the
// per-provider diagnosis.
#include <functional>
#include <string>
#include <vector>

#include <uv.h>

#include "pathwatch/config.h"
#include "pathwatch/result.h"

namespace pathwatch {

class Engine;

struct CheckSelection {
  std::vector<std::string> providers;  // empty = every enabled provider
  std::vector<std::string> routes;     // empty = every route
};

// Runs on `engine`'s loop; `done` runs once with the full report.
void runCheck(Engine& engine, const Config& config, const CheckSelection& sel,
              std::function<void(CheckReport)> done);

// Creates a loop and an engine, runs one check, tears everything down.
// What `pathwatch check` calls.
CheckReport runCheckOnce(const Config& config, const CheckSelection& sel);

}  // namespace pathwatch
