#pragma once
// How results leave the scheduler: every completed RouteResult, and each
// provider's Diagnosis after each cycle, go to a list of observers (alerts,
// the status snapshot, history). Alert events (docs/alerts.md: one JSON
// object, the same on every sink) go the other way through publishEvent() to
// the event sinks: the history's alerts table and every `watch` client.
//
// Everything here runs on the daemon's one uv loop thread; nothing is locked.
// Observers must not throw (exceptions are caught and logged by the bus) and
// must not block: defer slow work (webhooks, exec) to the loop.
//
// Wiring (daemon.cc): the alerter is a ResultObserver subscribed to the bus,
// built on the daemon's loop with a reference to the bus to publish events;
// it gets config.alerts through onConfig() (at start and after each reload)
// and stops its timers and child processes in onShutdown().
#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pathwatch/config.h"
#include "pathwatch/result.h"

namespace pathwatch {

class ResultObserver {
 public:
  virtual ~ResultObserver() = default;
  // One probe of one provider over one route completed (classified).
  virtual void onRouteResult(const RouteResult& result) = 0;
  // After a cycle of `provider` over all its routes: the diagnosis and the
  // latest result of each route it was computed from.
  virtual void onDiagnosis(const std::string& provider, const Diagnosis& diagnosis,
                           const std::vector<RouteResult>& routes) = 0;
  // The config was (re)loaded successfully; called once at start too.
  virtual void onConfig(const Config& /*config*/) {}
  // The daemon is stopping: stop timers, flush; the loop still runs briefly.
  virtual void onShutdown() {}
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // An alert event as docs/alerts.md shows it ({"event": "problem", "at": ..., ...}).
  virtual void onEvent(const nlohmann::json& event) = 0;
};

class ResultBus {
 public:
  void subscribe(ResultObserver* o) { observers_.push_back(o); }
  void unsubscribe(ResultObserver* o) { erase(observers_, o); }
  void subscribeEvents(EventSink* s) { sinks_.push_back(s); }
  void unsubscribeEvents(EventSink* s) { erase(sinks_, s); }

  void publishRouteResult(const RouteResult& r) {
    for (auto* o : snapshot(observers_)) guarded([&] { o->onRouteResult(r); });
  }
  void publishDiagnosis(const std::string& provider, const Diagnosis& d,
                        const std::vector<RouteResult>& routes) {
    for (auto* o : snapshot(observers_)) guarded([&] { o->onDiagnosis(provider, d, routes); });
  }
  void publishConfig(const Config& c) {
    for (auto* o : snapshot(observers_)) guarded([&] { o->onConfig(c); });
  }
  void publishShutdown() {
    for (auto* o : snapshot(observers_)) guarded([&] { o->onShutdown(); });
  }
  // Alerters call this for each alert event they raise.
  void publishEvent(const nlohmann::json& event) {
    for (auto* s : snapshot(sinks_)) guarded([&] { s->onEvent(event); });
  }

 private:
  template <typename T>
  static void erase(std::vector<T*>& v, T* x) {
    v.erase(std::remove(v.begin(), v.end(), x), v.end());
  }
  // Iterate over a copy: a callee may subscribe or unsubscribe.
  template <typename T>
  static std::vector<T*> snapshot(const std::vector<T*>& v) {
    return v;
  }
  template <typename F>
  static void guarded(F&& f) noexcept {
    try {
      f();
    } catch (...) {
      // An observer's bug must not take down the scheduler; nothing to log
      // here without a dependency on the daemon log (kept header-only).
    }
  }

  std::vector<ResultObserver*> observers_;
  std::vector<EventSink*> sinks_;
};

}  // namespace pathwatch
