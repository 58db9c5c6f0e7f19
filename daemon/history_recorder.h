#pragma once
// The bus's results, diagnoses and alert events as history rows.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "history.h"
#include "result_bus.h"
#include "scheduler.h"

namespace pathwatch {

// Results of a cycle batch go to history in one transaction; transitions are
// computed against the last verdict stored per pair (so restarts keep them).
class HistoryRecorder : public ResultObserver, public EventSink {
 public:
  explicit HistoryRecorder(History* h);
  void onRouteResult(const RouteResult& r) override;
  void onDiagnosis(const std::string& provider, const Diagnosis& d,
                   const std::vector<RouteResult>& routes) override;
  void onEvent(const nlohmann::json& event) override;
  void onShutdown() override { flush(); }

  void flush();

 private:
  History* history_;
  HistoryBatch batch_;
  std::map<PairKey, std::string> last_;
};

}  // namespace pathwatch
