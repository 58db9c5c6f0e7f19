#pragma once
// The alerts of pathwatchd: watches every RouteResult and Diagnosis on the
// ResultBus, decides what is worth telling (Hysteresis, EgressTracker), and
// tells it the same way everywhere: back to the bus (history's alerts table,
// `watch` clients), the log, each webhook, each exec command.
//
// Verdict alerts wait for the provider's diagnosis of the same cycle (its
// summary compares routes: "...; route vpn works"), at most
// `diagnosis_wait`; egress changes go out at once. All sinks are async on the
// loop: a dead webhook or a hung command never delays probing.
//
// Wiring: construct on the daemon's loop with the bus, subscribe it
// (bus.subscribe(&alerter)); the bus's publishConfig() reconfigures it,
// publishShutdown() stops it (alert commands get SIGTERM). Destroy it before
// the loop is closed (commands still running are killed), then run the loop
// until its handles have closed.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <uv.h>

#include "alerts/alert_event.h"
#include "alerts/egress_tracker.h"
#include "alerts/exec_sink.h"
#include "alerts/hysteresis.h"
#include "alerts/webhook_sink.h"
#include "pathwatch/uv_handle.h"
#include "pathwatch/config.h"
#include "result_bus.h"

namespace pathwatch {

class HttpClient;

struct AlerterOptions {
  WebhookOptions webhook;
  ExecOptions exec;
  Millis diagnosis_wait = std::chrono::seconds(60);
  bool log = true;  // one journald line per alert
  std::function<WallClock::time_point()> clock = [] { return WallClock::now(); };
};

struct AlerterStats {
  uint64_t events = 0;  // raised (each reached every sink)
  uint64_t webhook_delivered = 0, webhook_failed = 0, webhook_dropped = 0;
  uint64_t exec_started = 0, exec_succeeded = 0, exec_failed = 0, exec_dropped = 0;
};

class Alerter : public ResultObserver {
 public:
  // `bus` may be null (tests); `http` null makes the alerter own a client.
  Alerter(uv_loop_t* loop, ResultBus* bus, const AlertsConfig& cfg, AlerterOptions opt = {},
          HttpClient* http = nullptr);
  ~Alerter() override;
  Alerter(const Alerter&) = delete;
  Alerter& operator=(const Alerter&) = delete;

  void onRouteResult(const RouteResult& result) override;
  void onDiagnosis(const std::string& provider, const Diagnosis& diagnosis,
                   const std::vector<RouteResult>& routes) override;
  void onConfig(const Config& config) override;
  void onShutdown() override;

  // Thresholds and sinks from config.alerts; pair state is kept. Sinks whose
  // settings did not change keep their queues.
  void reconfigure(const AlertsConfig& cfg);

  // Extra consumer of every event (tests, embedding); called after the bus.
  void setListener(std::function<void(const nlohmann::json&)> f) { listener_ = std::move(f); }

  AlerterStats stats() const;

  // Per configured sink, alerts it did not deliver (gave up after its tries,
  // dropped from a full queue, or still queued when a reload removed it), by
  // a label made from its place in the config: "webhook[0]", "exec[1]" --
  // never the URL or the command. Each label's count only grows, even when a
  // reload moves a sink to another place.
  struct SinkFailures {
    std::string label;
    uint64_t count = 0;
  };
  std::vector<SinkFailures> sinkFailures() const;

  // Alert commands that have not exited yet. After onShutdown() they have had
  // their SIGTERM; the owner waits (bounded) for this to reach 0, then
  // destroys the alerter, which SIGKILLs whatever still runs.
  std::size_t execRunning() const;

 private:
  struct Pending {
    VerdictChange change;
    RouteResult result;
    WallClock::time_point at;
  };
  void emit(const AlertEvent& e);
  void flush(const std::string& provider, const Diagnosis* d);
  void flushAll();
  void pruneRetiring();
  static void onFlushTimer(uv_timer_t* t) noexcept;

  uv_loop_t* loop_;
  ResultBus* bus_;
  AlerterOptions opt_;
  std::unique_ptr<HttpClient> own_http_;
  HttpClient* http_;
  AlertsConfig cfg_;
  Hysteresis hysteresis_;
  EgressTracker egress_;
  std::vector<std::unique_ptr<WebhookSink>> webhooks_;
  std::vector<std::unique_ptr<ExecSink>> execs_;
  std::vector<std::unique_ptr<ExecSink>> retiring_execs_;  // removed by a reload, still running
  // sinkFailures(): each current sink's label and its own count when it took
  // that label; what earlier holders of a label counted is carried.
  struct SinkSlot {
    std::string label;
    uint64_t base = 0;
  };
  std::vector<SinkSlot> webhook_slots_, exec_slots_;  // parallel to webhooks_, execs_
  std::map<std::string, uint64_t> sink_carried_;
  std::map<std::string, std::vector<Pending>> pending_;  // by provider
  UvTimer flush_timer_;
  bool shut_down_ = false;
  uint64_t events_ = 0;
  AlerterStats retired_;  // counts of sinks replaced on reload
  std::function<void(const nlohmann::json&)> listener_;
};

}  // namespace pathwatch
