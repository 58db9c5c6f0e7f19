#pragma once
// The JSON document of docs/json.md (`pathwatch check --json`, socket answers,
// history evidence). Keys are part of the contract: add, never rename.
#include <optional>

#include <nlohmann/json_fwd.hpp>

#include "pathwatch/result.h"

namespace pathwatch {

// Every string is emitted as valid UTF-8 (bad bytes become U+FFFD), so
// dump() never throws. The HTTP body appears only as a 512-byte excerpt; the
// key layer carries source, fingerprint and problems, never the key.
nlohmann::json toJson(const RouteResult& r);
nlohmann::json toJson(const Diagnosis& d);
nlohmann::json toJson(const ProviderReport& p);
nlohmann::json toJson(const CheckReport& c);
nlohmann::json toJson(const Egress& e);  // {"ip","country","colo","seen_by"}, empty ones left out

// Reading the document back (socket clients, history). Never throw: nullopt
// when a required part is missing or a verdict/status name is unknown.
// Fields not in the document (full body, key.configured) come back empty.
std::optional<RouteResult> routeResultFromJson(const nlohmann::json& j);
std::optional<Diagnosis> diagnosisFromJson(const nlohmann::json& j);
std::optional<ProviderReport> providerReportFromJson(const nlohmann::json& j);
std::optional<CheckReport> checkReportFromJson(const nlohmann::json& j);

}  // namespace pathwatch
