#pragma once
// This machine judged from one check's answers (docs/verdicts.md, cause
// `host`): its clock against the Date headers servers sent and against the
// validity of their certificates. Pure: the engine records the sightings,
// report.h and the daemon judge them the same way.
#include <map>
#include <optional>
#include <set>
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

// judgeHost over a set of answers that changes one source at a time (the
// daemon's latest result per pair and per route): add() what a source saw,
// remove() exactly that when it is replaced. report() is judgeHost over
// everything added and not removed, without walking it all: the daemon
// judges the clock at every diagnosis, and walking every pair's latest
// result each time costs providers x pairs per cycle.
class HostTally {
 public:
  void add(const std::vector<ClockSighting>& sightings);
  void remove(const std::vector<ClockSighting>& sightings);
  HostReport report() const;

 private:
  void rebalance();
  // The offsets split at the median: low_ holds the smaller half (one more
  // when the count is odd), high_ the rest.
  std::multiset<double> low_, high_;
  std::map<std::string, int> certificates_;  // refused on time -> how many sightings
};

// "2 h 3 min ahead", "45 s behind", "2 y 3 d ahead": a person's words.
std::string describeClockOffset(double seconds);

// The sentence the diagnosis uses: "this machine's clock is 2 h ahead" or,
// without a Date, "this machine's clock looks wrong (...)". "" when the
// clock looks right.
std::string clockSentence(const HostReport& host);

}  // namespace pathwatch
