#pragma once
// The probe engine: one provider over one route, layer by layer
// (key, dns, tcp, tls+http, echo, egress), on the caller's libuv loop, all
// pairs concurrently under the configured cap.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "pathwatch/config.h"
#include "pathwatch/key.h"
#include "pathwatch/result.h"

namespace pathwatch {

using ProbeDone = std::function<void(RouteResult)>;

class Engine {
 public:
  Engine(uv_loop_t* loop, std::shared_ptr<const Config> config);
  ~Engine();  // cancels in-flight probes; no callback runs after
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Probes `provider` over `route`. The key was inspected beforehand (readKey).
  // `done` runs exactly once on a later loop turn with the layers filled and the
  // route classified (classifyRoute). Queued when the concurrency cap is reached.
  void probe(const ProviderConfig& provider, const RouteConfig& route, const KeyInspection& key,
             ProbeDone done);

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
