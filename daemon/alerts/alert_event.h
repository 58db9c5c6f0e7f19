#pragma once
// One alert, exactly as docs/alerts.md describes it: the same JSON object on
// every sink (webhook body, exec stdin, a `watch` line, a history row).
// Pure: building the event and its sentence does no I/O.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pathwatch/result.h"
#include "pathwatch/verdict.h"

namespace pathwatch {

using WallClock = std::chrono::system_clock;

enum class AlertKind { Problem, Resolved, Changed, Reminder, Flapping, EgressChanged };
std::string_view toString(AlertKind k);

struct AlertEvent {
  AlertKind kind = AlertKind::Problem;
  WallClock::time_point at;
  std::optional<std::string> provider;  // null for route-wide egress changes
  std::string route;
  // A verdict name ("ok", "region_blocked") for verdict events, null for a
  // problem found at start; an object ({"ip", "country", "colo", ...}) for
  // egress_changed.
  nlohmann::json before;
  nlohmann::json after;
  Cause cause = Cause::None;
  std::string summary;
  std::vector<std::string> evidence;
};

// The JSON object of docs/alerts.md: {"event","at","provider","route","before",
// "after","cause","summary","evidence"}.
nlohmann::json toJson(const AlertEvent& e);

// "2026-11-27T21:00:00Z"
std::string isoUtc(WallClock::time_point t);

// "OpenAI" for openai, the configured name for anything else.
std::string providerDisplayName(std::string_view provider);

// Evidence kept in an alert: bounded in count and length so a hostile answer
// cannot blow up a webhook body.
std::vector<std::string> boundedEvidence(const std::vector<std::string>& in);

// A short phrase that tells the operator what to look at for a cause,
// e.g. region -> "the provider refuses this egress's country or region".
std::string_view causeAdvice(Cause c);

// The facts of one route result worth a sentence: "egress 203.0.113.7, HK".
std::string egressPhrase(const RouteResult& r);

}  // namespace pathwatch
