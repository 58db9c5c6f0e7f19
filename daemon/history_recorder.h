#pragma once
// The bus's results, diagnoses and alert events as history batches for the
// HistoryWriter. Runs on the loop and never touches SQLite: a flush hands
// the batch to the writer's queue.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "history.h"
#include "history_writer.h"
#include "result_bus.h"
#include "scheduler.h"

namespace pathwatch {

// Results of a cycle go to history in one batch (one transaction); transitions
// are computed against the last verdict stored per pair (so restarts keep them).
class HistoryRecorder : public ResultObserver, public EventSink {
 public:
  explicit HistoryRecorder(HistoryWriter* writer);
  void onRouteResult(const RouteResult& r) override;
  void onDiagnosis(const std::string& provider, const Diagnosis& d,
                   const std::vector<RouteResult>& routes) override;
  void onEvent(const nlohmann::json& event) override;
  void onShutdown() override { flush(); }

  void flush();

 private:
  HistoryWriter* writer_;
  HistoryBatch batch_;
  std::map<PairKey, std::string> last_;
};

}  // namespace pathwatch
