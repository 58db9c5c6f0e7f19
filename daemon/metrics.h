#pragma once
// The Prometheus text of docs/metrics.md (exposition format 0.0.4).
//
// MetricsCollector is a ResultObserver and an EventSink on the result bus: it
// keeps, per provider x route of the current config, the latest result's
// verdict, layer durations and rate-limit headroom, the verdicts the pair has
// had, and the counters; per route the latest egress identity; alerts raised
// by event. renderMetrics() turns that into text. Pure bookkeeping and
// formatting: no I/O, no clock.
//
// What may become a label value is chosen, never copied from outside text:
// provider and route names (the config), verdict and cause names (the enums),
// layer names, a rate-limit kind from a fixed vocabulary, an egress address
// that parses as an IP with a country and colo of the shapes Cloudflare uses,
// sink labels made from the config position ("webhook[0]", "exec[1]"), the
// version. A key, a fingerprint, a header value or a webhook URL never is.
//
// Cardinality: per pair, one pathwatch_verdict series per verdict the pair
// has had (at most one per Verdict value) and one failure counter per failing
// verdict it has had; layer durations and rate-limit kinds of the latest
// result only (at most 5 layers, at most 8 kinds); per route one egress
// series (the current identity; the previous one goes away); alert events
// and sinks bounded by the event names and the config. Pairs and routes
// removed from the config go away on reload.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pathwatch/result.h"
#include "result_bus.h"

namespace pathwatch {

// One provider x route.
struct PairMetrics {
  std::string provider, route;
  std::optional<Verdict> last;                   // nullopt until the first result
  std::set<Verdict> seen;                        // every verdict this pair has had
  uint64_t checks = 0;                           // results recorded
  std::map<Verdict, uint64_t> failures;          // results by non-ok verdict
  std::map<std::string, double> layer_seconds;   // layers of the latest result that ran
  std::map<std::string, double> rate_remaining;  // kind -> remaining, latest result
  double last_check_unix = 0;                    // when the latest result started; 0 unknown
};

// A counter with a label made by the daemon ("webhook[0]").
struct LabeledCount {
  std::string label;
  uint64_t count = 0;
};

struct MetricsState {
  std::vector<PairMetrics> pairs;                      // config order: providers, then routes
  std::vector<std::pair<std::string, Egress>> egress;  // route -> latest identity, config order
  std::map<std::string, uint64_t> alerts;              // event -> raised
  std::vector<LabeledCount> sink_failures;             // per configured sink
  std::string version;
};

// The text: HELP and TYPE for every family, then its samples.
std::string renderMetrics(const MetricsState& state);

// A label value escaped for the text format: \ " and newline as \\ \" \n;
// invalid UTF-8 bytes become U+FFFD.
std::string escapeLabelValue(std::string_view value);

// The kind of a rate-limit header that says what remains, from a fixed
// vocabulary: "x-ratelimit-remaining-requests" -> "requests",
// "anthropic-ratelimit-input-tokens-remaining" -> "input_tokens",
// "x-ratelimit-remaining" (Discord's bucket) -> "requests". nullopt for
// headers that do not say what remains or hold words outside the vocabulary.
std::optional<std::string> rateLimitKind(std::string_view header_name);

// The series of one result's rate map: kind -> remaining, for values that are
// plain non-negative numbers; at most 8 kinds.
std::map<std::string, double> rateRemaining(const std::map<std::string, std::string>& rate);

// The events docs/alerts.md names, each shown (at 0) before it first happens.
inline constexpr std::string_view kAlertEvents[] = {"problem",  "resolved", "changed",
                                                    "reminder", "flapping", "egress_changed"};

class MetricsCollector : public ResultObserver, public EventSink {
 public:
  explicit MetricsCollector(std::string version) { state_.version = std::move(version); }

  void onRouteResult(const RouteResult& r) override;
  void onDiagnosis(const std::string&, const Diagnosis&, const std::vector<RouteResult>&) override {
  }
  // Keeps what the pairs and routes still in the config had, in config order.
  void onConfig(const Config& config) override;
  void onEvent(const nlohmann::json& event) override;

  // The text, with the sinks' failure counts as the alerter has them now.
  std::string render(std::vector<LabeledCount> sink_failures);
  const MetricsState& state() const { return state_; }

 private:
  PairMetrics* find(const std::string& provider, const std::string& route);
  void sortEgress();

  MetricsState state_;
  // (provider, route) -> its place in state_.pairs: a result finds its pair
  // without walking them all (4,000 at a time at scale).
  std::map<std::pair<std::string, std::string>, std::size_t> index_;
  std::vector<std::string> routes_;  // config order
};

}  // namespace pathwatch
