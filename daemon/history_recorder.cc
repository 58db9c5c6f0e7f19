#include "history_recorder.h"

#include "pathwatch/verdict.h"
#include "pathwatch/clock.h"

namespace pathwatch {

using nlohmann::json;

HistoryRecorder::HistoryRecorder(HistoryWriter* writer) : writer_(writer) {
  if (!writer_) return;
  for (const auto& v : writer_->lastVerdicts())
    last_.try_emplace(PairKey{v.provider, v.route}, v.verdict);
}

void HistoryRecorder::onRouteResult(const RouteResult& r) {
  // The result's time is when its probe started, as the watch feed, status
  // and metrics give it: a probe that ends in the next second must not be
  // another second in history than in `watch`.
  const int64_t ts = msFromIso(r.started_at).value_or(wallClockMs());
  batch_.results.push_back(resultRow(r, ts));
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
  if (!writer_ || batch_.empty()) return;
  writer_->submit(std::move(batch_));
  batch_ = HistoryBatch{};
}

}  // namespace pathwatch
