// This machine's clock as the answers of a check saw it (docs/verdicts.md,
// cause host). Pure: no I/O, no clock read here.
#include "pathwatch/host.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>

#include "pathwatch/clock.h"
#include "pathwatch/error_names.h"
#include "pathwatch/text.h"

namespace pathwatch {
namespace {

constexpr double kClockToleranceS = 300;  // docs/verdicts.md: more than 5 minutes off
constexpr std::size_t kUnrelatedServers = 2;

bool timeError(std::string_view e) { return e == err::kTlsExpired || e == err::kTlsNotYetValid; }

const std::string* dateHeader(const HeaderList& headers) {
  for (const auto& [name, value] : headers)
    if (iequals(name, "date")) return &value;
  return nullptr;
}

// The server wrote its Date (whole seconds) at some moment t between our
// request and its answer: our clock minus its clock lies in
// [sent - date - 1 s, answered - date]. The middle of that window.
double offsetMs(const ClockSighting& s) {
  const double lo = static_cast<double>(s.sent_ms - *s.date_ms) - 1000.0;
  const double hi = static_cast<double>(s.answered_ms - *s.date_ms);
  return (lo + hi) / 2;
}

double roundedOffsetS(double median_ms) {
  return std::round(median_ms / 100.0) / 10.0;  // a tenth of a second is plenty
}

}  // namespace

bool HostReport::clockWrong() const {
  // A Date header is a direct reading of the servers' clocks: when there is
  // one, it decides (two servers' expired certificates with a right clock
  // are the servers' fault). Without one, certificates of unrelated servers
  // that are all out of their time speak for the clock.
  if (clock_samples > 0 && clock_offset_s) return std::fabs(*clock_offset_s) > kClockToleranceS;
  return tls_time_servers.size() >= kUnrelatedServers;
}

std::optional<ClockSighting> clockSighting(std::string server, int64_t sent_ms, int64_t answered_ms,
                                           const HeaderList& headers, const std::string& tls_error,
                                           const TlsLayer& tls) {
  ClockSighting s;
  if (const std::string* date = dateHeader(headers)) s.date_ms = msFromHttpDate(*date);
  if (timeError(tls_error)) {
    s.tls_time_error = tls_error;
    // The leaf tells servers apart: one server with an expired certificate
    // for many names is one server, not many.
    s.certificate = tls.subject + " until " + tls.not_after;
    if (tls.subject.empty() && tls.not_after.empty()) s.certificate = server;
  }
  if (!s.date_ms && s.tls_time_error.empty()) return std::nullopt;
  s.server = std::move(server);
  s.sent_ms = std::min(sent_ms, answered_ms);
  s.answered_ms = std::max(sent_ms, answered_ms);
  return s;
}

HostReport judgeHost(const std::vector<const std::vector<ClockSighting>*>& sightings) {
  HostReport h;
  std::vector<double> offsets_ms;
  std::set<std::string> certificates;
  for (const auto* list : sightings) {
    if (!list) continue;
    for (const ClockSighting& s : *list) {
      if (!s.tls_time_error.empty()) certificates.insert(s.certificate);
      if (s.date_ms) offsets_ms.push_back(offsetMs(s));
    }
  }
  h.tls_time_servers.assign(certificates.begin(), certificates.end());
  h.clock_samples = static_cast<int>(offsets_ms.size());
  if (!offsets_ms.empty()) {
    // The median: one server with a wrong clock (or a slow answer) does not
    // move it.
    std::sort(offsets_ms.begin(), offsets_ms.end());
    const std::size_t n = offsets_ms.size();
    const double median = n % 2 ? offsets_ms[n / 2] : (offsets_ms[n / 2 - 1] + offsets_ms[n / 2]) / 2;
    h.clock_offset_s = roundedOffsetS(median);
  }
  return h;
}

void HostTally::add(const std::vector<ClockSighting>& sightings) {
  for (const ClockSighting& s : sightings) {
    if (!s.tls_time_error.empty()) ++certificates_[s.certificate];
    if (!s.date_ms) continue;
    const double x = offsetMs(s);
    if (low_.empty() || x <= *low_.rbegin())
      low_.insert(x);
    else
      high_.insert(x);
    rebalance();
  }
}

void HostTally::remove(const std::vector<ClockSighting>& sightings) {
  for (const ClockSighting& s : sightings) {
    if (!s.tls_time_error.empty()) {
      auto it = certificates_.find(s.certificate);
      if (it != certificates_.end() && --it->second <= 0) certificates_.erase(it);
    }
    if (!s.date_ms) continue;
    const double x = offsetMs(s);
    // Every value in high_ is >= the largest in low_: a value up to that
    // largest one is in low_ (an equal one may be in both; either will do).
    if (!low_.empty() && x <= *low_.rbegin()) {
      if (auto it = low_.find(x); it != low_.end()) low_.erase(it);
    } else if (auto it = high_.find(x); it != high_.end()) {
      high_.erase(it);
    }
    rebalance();
  }
}

void HostTally::rebalance() {
  while (low_.size() > high_.size() + 1) {
    auto last = std::prev(low_.end());
    high_.insert(*last);
    low_.erase(last);
  }
  while (high_.size() > low_.size()) {
    low_.insert(*high_.begin());
    high_.erase(high_.begin());
  }
}

HostReport HostTally::report() const {
  HostReport h;
  for (const auto& [certificate, n] : certificates_) h.tls_time_servers.push_back(certificate);
  const std::size_t n = low_.size() + high_.size();
  h.clock_samples = static_cast<int>(n);
  if (n > 0) {
    // judgeHost's median of the sorted offsets: [n/2] when n is odd, else
    // the mean of [n/2 - 1] and [n/2].
    const double median = n % 2 ? *low_.rbegin() : (*low_.rbegin() + *high_.begin()) / 2;
    h.clock_offset_s = roundedOffsetS(median);
  }
  return h;
}

HostReport judgeHost(const std::vector<const RouteResult*>& pairs,
                     const std::vector<const RouteObservation*>& routes) {
  std::vector<const std::vector<ClockSighting>*> all;
  for (const auto* r : pairs)
    if (r) all.push_back(&r->clock);
  for (const auto* o : routes)
    if (o) all.push_back(&o->clock);
  return judgeHost(all);
}

std::string describeClockOffset(double seconds) {
  const char* way = seconds >= 0 ? " ahead" : " behind";
  const auto total = static_cast<int64_t>(std::llround(std::fabs(seconds)));
  auto part = [](int64_t n, const char* unit) { return std::to_string(n) + " " + unit; };
  std::string out;
  if (total < 90) {
    out = part(total, "s");
  } else if (total < 90 * 60) {
    out = part((total + 30) / 60, "min");
  } else if (total < 48 * 3600) {
    const int64_t minutes = (total + 30) / 60;
    out = part(minutes / 60, "h");
    if (minutes % 60) out += " " + part(minutes % 60, "min");
  } else if (total < 365 * 86400) {
    const int64_t hours = (total + 1800) / 3600;
    out = part(hours / 24, "d");
    if (hours % 24) out += " " + part(hours % 24, "h");
  } else {
    const int64_t days = (total + 43200) / 86400;
    out = part(days / 365, "y");
    if (days % 365) out += " " + part(days % 365, "d");
  }
  return out + way;
}

std::string clockSentence(const HostReport& host) {
  if (!host.clockWrong()) return {};
  if (host.clock_samples > 0 && host.clock_offset_s)
    return "this machine's clock is " + describeClockOffset(*host.clock_offset_s);
  return "this machine's clock looks wrong (the certificates of " + std::to_string(host.tls_time_servers.size()) +
         " unrelated servers are expired or not yet valid)";
}

}  // namespace pathwatch
