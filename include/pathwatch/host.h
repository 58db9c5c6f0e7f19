#pragma once
// This machine judged from one check's answers (docs/verdicts.md, cause
// `host`): its clock against the Date headers servers sent and against the
// validity of their certificates. Pure: the engine records the sightings,
// report.h and the daemon judge them the same way.
#include <optional>
#include <string>
#include <vector>

#include "pathwatch/result.h"

namespace pathwatch {

// What one exchange says about the clock; nullopt when it says nothing (no
// Date header, no certificate time error). `headers` are the answer's, or a
// proxy's answer to CONNECT when no answer came.
std::optional<ClockSighting> clockSighting(std::string server, int64_t sent_ms, int64_t answered_ms,
                                           const HeaderList& headers, const std::string& tls_error,
                                           const TlsLayer& tls);

// Every sighting of a check, from the pairs and the routes' own probes.
// The offset is the median over the answers of the middle of the window in
// which each server wrote its Date (its clock, to the second, at some moment
// between our request and its answer).
HostReport judgeHost(const std::vector<const std::vector<ClockSighting>*>& sightings);

// The same over a report's raw parts.
HostReport judgeHost(const std::vector<const RouteResult*>& pairs,
                     const std::vector<const RouteObservation*>& routes);

// "2 h 3 min ahead", "45 s behind", "2 y 3 d ahead": a person's words.
std::string describeClockOffset(double seconds);

// The sentence the diagnosis uses: "this machine's clock is 2 h ahead" or,
// without a Date, "this machine's clock looks wrong (...)". "" when the
// clock looks right.
std::string clockSentence(const HostReport& host);

}  // namespace pathwatch
