#pragma once
// Turns a hysteresis decision into the alert a person reads: the event of
// docs/alerts.md with a sentence that says what broke, where, and what to do.
// Pure.
#include "alerts/alert_event.h"
#include "alerts/hysteresis.h"
#include "pathwatch/result.h"

namespace pathwatch {

// `latest` is the result that triggered the change; `diagnosis` the
// provider's diagnosis over all routes from the same check, when known: its
// summary is used when it speaks about this verdict.
AlertEvent makeVerdictAlert(const VerdictChange& change, const RouteResult& latest,
                            const Diagnosis* diagnosis, WallClock::time_point at);

}  // namespace pathwatch
