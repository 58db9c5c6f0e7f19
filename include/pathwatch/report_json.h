#pragma once
// The JSON document of SPEC.md (`pathwatch check --json`, socket answers,
// history evidence). Keys are part of the contract: add, never rename.
#include <nlohmann/json_fwd.hpp>

#include "pathwatch/result.h"

namespace pathwatch {

nlohmann::json toJson(const RouteResult& r);
nlohmann::json toJson(const Diagnosis& d);
nlohmann::json toJson(const ProviderReport& p);
nlohmann::json toJson(const CheckReport& c);

}  // namespace pathwatch
