#pragma once
// What `pathwatch status` shows: per provider the current diagnosis, since
// when it holds, when it last changed, each route's latest result, and what
// its key source gave the daemon (source, status, fingerprint: never the key).
// A ResultObserver; pure bookkeeping, the clock is passed in.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "result_bus.h"

namespace pathwatch {

class StatusSnapshot : public ResultObserver {
 public:
  explicit StatusSnapshot(std::function<int64_t()> wall_ms);

  void onRouteResult(const RouteResult& r) override;
  void onDiagnosis(const std::string& provider, const Diagnosis& d,
                   const std::vector<RouteResult>& routes) override;
  void onConfig(const Config& config) override;
  // The daemon read `provider`'s key (at start and on every reload).
  void onKey(const std::string& provider, const KeyLayer& key);

  // {"providers": [...]} in config order; providers not yet diagnosed have
  // "diagnosis": null.
  nlohmann::json toJson() const;
  // One line for systemd's STATUS=: "3 providers: 2 ok, 1 problem (openai region_blocked)".
  std::string summaryLine() const;
  uint64_t cycles() const { return cycles_; }
  // Changes whenever toJson() or cycles() could (a result, a diagnosis, a
  // config, a key read).
  uint64_t version() const { return version_; }

 private:
  struct RouteState {
    std::string verdict, cause, at;
    double ms = 0;
    std::optional<Egress> egress;
    std::vector<std::string> evidence;
  };
  struct ProviderState {
    std::string kind;
    bool builtin = false;
    std::optional<KeyLayer> key;
    std::optional<Diagnosis> diagnosis;
    int64_t since_ms = 0, last_change_ms = 0, last_checked_ms = 0;
    std::map<std::string, RouteState> routes;
  };
  std::function<int64_t()> wall_ms_;
  std::vector<std::string> order_;
  std::vector<std::string> route_order_;
  std::map<std::string, ProviderState> providers_;
  uint64_t cycles_ = 0;
  uint64_t version_ = 0;
  // summaryLine() as last built: it changes only with the config or a
  // provider's first or changed diagnosis verdict, and the daemon asks for
  // it after every diagnosis (rebuilding it walks every provider).
  mutable std::optional<std::string> summary_;
};

}  // namespace pathwatch
