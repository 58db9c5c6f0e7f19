#include "history_recorder.h"

#include "log.h"
#include "pathwatch/verdict.h"
#include "time_util.h"

namespace pathwatch {

using nlohmann::json;

HistoryRecorder::HistoryRecorder(History* h) : history_(h) {
  if (!history_) return;
  try {
    HistoryQuery q;
    q.limit = 100000;
    q.since_ms = wallClockMs() - 90ll * 24 * 3600 * 1000;
    // Newest first: the first row seen per pair is its last verdict.
    for (const auto& r : history_->query(q).results)
      last_.try_emplace(PairKey{r.provider, r.route}, r.verdict);
  } catch (const std::exception& e) {
    logWarning(std::string("history: reading the last verdicts: ") + e.what());
  }
}

void HistoryRecorder::onRouteResult(const RouteResult& r) {
  batch_.results.push_back(resultRow(r, wallClockMs()));
  if (batch_.results.size() >= 256) flush();
}

void HistoryRecorder::onDiagnosis(const std::string& provider, const Diagnosis& d,
                                  const std::vector<RouteResult>& routes) {
  int64_t now = wallClockMs();
  for (const auto& r : routes) {
    std::string v(toString(r.verdict));
    auto [it, fresh] = last_.try_emplace(PairKey{provider, r.route}, v);
    if (!fresh && it->second != v) {
      batch_.transitions.push_back({now, provider, r.route, it->second, v,
                                    std::string(toString(causeOf(r.verdict))), d.summary});
      it->second = v;
    }
  }
  flush();
}

void HistoryRecorder::onEvent(const json& event) {
  int64_t ts = wallClockMs();
  if (event.is_object() && event.contains("at") && event["at"].is_string())
    ts = msFromIso(event["at"].get<std::string>()).value_or(ts);
  batch_.alerts.push_back({ts, event});
  flush();
}

void HistoryRecorder::flush() {
  if (!history_ || batch_.empty()) return;
  try {
    history_->write(batch_);
  } catch (const std::exception& e) {
    // Keep monitoring; the rows of this batch are lost and said so.
    logError(std::string("history: ") + e.what() + " (" +
             std::to_string(batch_.results.size()) + " results dropped)");
  }
  batch_ = HistoryBatch{};
}

}  // namespace pathwatch
