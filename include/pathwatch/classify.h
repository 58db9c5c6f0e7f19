#pragma once
// Pure logic: who wrote an HTTP answer, what it means, which verdict a route
// gets, and what a provider's routes together say. No I/O.
#include <string>
#include <vector>

#include "pathwatch/config.h"
#include "pathwatch/result.h"

namespace pathwatch {

// Reads http.code/headers/body and fills http.authored_by, error_type,
// error_code, message, retry_after_s and rate. Signatures are data, one file
// per provider under probes/providers/.
void analyzeAnswer(const ProviderSpec& spec, HttpLayer& http);

// Sets r.verdict and r.evidence from the layers (the precedence of
// docs/verdicts.md: the lowest failing layer first; an answer produced by an
// altered request is headers_rewritten; tls_intercepted only when nothing
// worse happened). Calls analyzeAnswer when the HTTP layer has an answer.
// `route`: what the route's own probes saw (binding, public roots), when known.
// Callers go through report.h's finishPair, which also hands the pair its
// route's echo and egress.
void classifyRoute(const ProviderSpec& spec, RouteResult& r, const RouteObservation* route = nullptr);

// Compares routes as each other's control vantage point.
Diagnosis diagnoseProvider(const ProviderSpec& spec, const std::vector<RouteResult>& routes);
// The same, knowing what the whole check says about this machine (host.h):
// a clock more than 5 minutes off makes the cause `host` when the routes'
// certificates were refused on time, or when everything works; otherwise
// the summary names it too.
Diagnosis diagnoseProvider(const ProviderSpec& spec, const std::vector<RouteResult>& routes,
                           const HostReport& host);

}  // namespace pathwatch
