#pragma once
// One path from probe to report, for `pathwatch check` and pathwatchd alike:
// the engine hands back raw layers (RouteResult without a verdict) and raw
// route observations; this classifies each pair exactly once, against its
// route's view, diagnoses each provider over its routes and assembles the
// report. Pure: no I/O.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "pathwatch/config.h"
#include "pathwatch/result.h"

namespace pathwatch {

// The routes' observations as every pair on them sees them: headers that
// every route's echo shows added belong to the echo's own front end and are
// not blamed on a route; a route without a CDN trace takes its egress from
// the echo. Keyed by route name.
std::map<std::string, RouteObservation> routeViews(std::vector<RouteObservation> observations);

// Classifies one pair's raw layers against its route's view (echo, egress,
// binding; nullptr when the route has none yet): the one place a
// RouteResult gets its verdict and evidence.
RouteResult finishPair(const ProviderSpec& spec, RouteResult raw, const RouteObservation* view);

struct ReportInput {
  std::string started_at;
  int64_t duration_ms = 0;
  std::vector<ProviderConfig> providers;  // in report order
  std::vector<std::string> routes;        // in report order
  std::map<std::pair<std::string, std::string>, RouteResult> raw;  // (provider, route) -> raw layers
  std::vector<RouteObservation> observations;                      // one per route
};

// This machine's clock as every pair and every route's own probe saw it
// (host.h); the daemon judges its latest results the same way.
HostReport hostOf(const std::map<std::pair<std::string, std::string>, RouteResult>& pairs,
                  const std::vector<RouteObservation>& observations);

// Classifies every pair, judges the host, diagnoses every provider (with the
// host's judgement) and lists the routes.
CheckReport buildReport(const ReportInput& in);

}  // namespace pathwatch
