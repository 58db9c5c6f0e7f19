#include "alerts/verdict_alert.h"

#include <algorithm>

namespace pathwatch {
namespace {

std::string where(const std::string& name, const RouteResult& r) {
  std::string s = name + " on route " + r.route;
  std::string eg = egressPhrase(r);
  if (!eg.empty()) s += " (" + eg + ")";
  return s;
}

// "; route vpn works" / "; routes a, b work" / "" -- the second vantage point.
std::string workingRoutes(const Diagnosis* d, const std::string& self) {
  if (d == nullptr) return "";
  std::vector<std::string> others;
  for (const auto& w : d->working_routes)
    if (w != self) others.push_back(w);
  if (others.empty()) return "";
  std::string s = others.size() == 1 ? "; route " : "; routes ";
  for (std::size_t i = 0; i < others.size(); ++i) s += (i ? ", " : "") + others[i];
  return s + (others.size() == 1 ? " works" : " work");
}

std::string advice(Verdict v, const RouteResult& r) {
  std::string s(causeAdvice(causeOf(v)));
  if (causeOf(v) == Cause::Key && !r.key.fingerprint.empty()) {
    s += " (" + r.key.fingerprint;
    if (!r.key.source.empty()) s += " from " + r.key.source;
    s += ")";
  }
  if (v == Verdict::RateLimited && r.http.retry_after_s) {
    s += "; retry after " + std::to_string(static_cast<long long>(*r.http.retry_after_s)) + "s";
  }
  return s;
}

std::string problemSentence(const std::string& name, Verdict v, const RouteResult& r,
                            const Diagnosis* d) {
  // The diagnosis already compares routes; when it explains this very
  // verdict its sentence is the best one there is.
  if (d != nullptr && d->verdict == v && !d->summary.empty()) return d->summary;
  std::string s = where(name, r) + " fails: " + std::string(toString(v)) + ", " + advice(v, r);
  return s + workingRoutes(d, r.route) + ".";
}

std::string hhmm(WallClock::time_point t) {
  std::string iso = isoUtc(t);  // 2026-11-27T21:00:00Z
  return iso.substr(0, 10) + " " + iso.substr(11, 5) + " UTC";
}

}  // namespace

AlertEvent makeVerdictAlert(const VerdictChange& c, const RouteResult& r,
                            const Diagnosis* d, WallClock::time_point at) {
  AlertEvent e;
  e.kind = c.kind;
  e.at = at;
  e.provider = r.provider;
  e.route = r.route;
  e.before = c.before ? nlohmann::json(std::string(toString(*c.before))) : nlohmann::json(nullptr);
  e.after = std::string(toString(c.after));
  const std::string name = providerDisplayName(r.provider);

  switch (c.kind) {
    case AlertKind::Problem:
      e.cause = causeOf(c.after);
      e.summary = problemSentence(name, c.after, r, d);
      if (!c.before) e.summary += " (found at start)";
      break;
    case AlertKind::Changed:
      e.cause = causeOf(c.after);
      e.summary = where(name, r) + " changed from " + std::string(toString(*c.before)) +
                  " to " + std::string(toString(c.after)) + ": ";
      if (d != nullptr && d->verdict == c.after && !d->summary.empty())
        e.summary += d->summary;
      else
        e.summary += advice(c.after, r) + workingRoutes(d, r.route) + ".";
      break;
    case AlertKind::Reminder:
      e.cause = causeOf(c.after);
      e.summary = "Still failing since " + hhmm(c.problem_since) + ": " +
                  problemSentence(name, c.after, r, d);
      break;
    case AlertKind::Resolved: {
      // The cause of what was resolved, so an alert rule keyed on the cause
      // sees both ends of its incident.
      e.cause = c.before ? causeOf(*c.before) : Cause::None;
      e.summary = where(name, r) + " works again";
      if (c.before) e.summary += " (was " + std::string(toString(*c.before)) + ")";
      e.summary += " after " + std::to_string(c.results) + " good results in a row.";
      break;
    }
    case AlertKind::Flapping: {
      Verdict bad = c.after != Verdict::Ok ? c.after
                    : (c.before && *c.before != Verdict::Ok) ? *c.before
                                                             : Verdict::Unexpected;
      e.cause = causeOf(bad);
      e.summary = where(name, r) + " is flapping: " + std::to_string(c.flap_changes) +
                  " changes between ok and failing in the last " + std::to_string(c.results) +
                  " results (now " + std::string(toString(c.after)) +
                  "); further alerts for it are held until it is stable" +
                  workingRoutes(d, r.route) + ".";
      break;
    }
    case AlertKind::EgressChanged:
      break;  // not a verdict change
  }

  e.evidence = boundedEvidence(r.evidence);
  if (causeOf(c.after) == Cause::Key && !r.key.fingerprint.empty())
    e.evidence.push_back("key " + r.key.fingerprint + " from " + r.key.source);
  return e;
}

}  // namespace pathwatch
