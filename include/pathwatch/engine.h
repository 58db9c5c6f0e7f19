#pragma once
// The probe engine, on the caller's libuv loop: one provider over one route
// (key, dns, tcp, tls+http, per address family), and a route's own probes
// (the header echo and the egress identity, once per route rather than once
// per provider), all concurrently under the configured cap. It hands back
// raw layers; report.h classifies them, exactly once.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <uv.h>

#include "pathwatch/config.h"
#include "pathwatch/key.h"
#include "pathwatch/result.h"

namespace pathwatch {

// Raw: layers filled, no verdict, no evidence.
using ProbeDone = std::function<void(RouteResult)>;
using RouteDone = std::function<void(RouteObservation)>;

// What a route's own probe needs to know of the providers probed over it.
struct RouteProbe {
  std::vector<const ProviderDef*> echo_shapes;  // the auth header shapes the echo request carries
  std::optional<ProviderSpec> trace_via;        // a Cloudflare-fronted provider: its /cdn-cgi/trace
                                                // names the egress address and country
  // From the providers about to be probed (only those: nothing is called unasked).
  static RouteProbe forProviders(const std::vector<ProviderConfig>& providers);
};

class Engine {
 public:
  Engine(uv_loop_t* loop, std::shared_ptr<const Config> config);
  ~Engine();  // cancels in-flight probes; no callback runs after
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Probes `provider` over `route`. The key was inspected beforehand (readKey).
  // `done` runs exactly once on a later loop turn. Queued when the
  // concurrency cap is reached.
  void probe(const ProviderConfig& provider, const RouteConfig& route, const KeyInspection& key,
             ProbeDone done);

  // The route's own probes: echo and egress. Same rules as probe().
  void observeRoute(const RouteConfig& route, RouteProbe what, RouteDone done);

  void cancelAll();
  std::size_t inFlight() const;
  std::size_t queued() const;

  // Binding problems found when the engine started ("" when fine), per route.
  std::string routeBindingError(const std::string& route) const;

  uv_loop_t* loop() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pathwatch
