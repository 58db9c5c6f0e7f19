#include "check.h"

#include <cassert>
#include <chrono>
#include <ctime>
#include <memory>
#include <optional>

#include "echo.h"
#include "engine.h"
#include "engine_evidence.h"
#include "loop/uv_handle.h"
#include "pathwatch/classify.h"
#include "pathwatch/key.h"

namespace pathwatch {

namespace {

std::string isoUtc(std::chrono::system_clock::time_point tp) {
  const std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool selected(const std::vector<std::string>& names, const std::string& name) {
  if (names.empty()) return true;
  for (const auto& n : names)
    if (n == name) return true;
  return false;
}

struct CheckRun {
  Engine* engine = nullptr;
  std::vector<ProviderConfig> providers;
  std::vector<RouteConfig> routes;
  std::vector<std::vector<RouteResult>> results;  // [provider][route]
  std::size_t remaining = 0;
  std::chrono::system_clock::time_point started_wall;
  uint64_t started_ns = 0;
  std::function<void(CheckReport)> done;
  UvTimer timer;  // only for a check with nothing to probe
  std::shared_ptr<CheckRun> self;

  void complete() {
    CheckReport report;
    report.started_at = isoUtc(started_wall);
    report.duration_ms = static_cast<int64_t>((uv_hrtime() - started_ns) / 1000000);
    for (std::size_t pi = 0; pi < providers.size(); ++pi) {
      auto& routes_of = results[pi];
      // Headers every route's echo shows added belong to the echo's own front
      // end, not to a route; then classify again with that knowledge.
      discountCommonEchoAdditions(routes_of);
      for (std::size_t ri = 0; ri < routes_of.size(); ++ri) {
        classifyRoute(providers[pi].spec, routes_of[ri]);
        addEngineEvidence(routes_of[ri], engine->routeBindingError(routes[ri].name));
      }
      ProviderReport pr;
      pr.name = providers[pi].spec.name;
      pr.diagnosis = diagnoseProvider(providers[pi].spec, routes_of);
      pr.routes = routes_of;
      report.providers.push_back(std::move(pr));
    }
    for (std::size_t ri = 0; ri < routes.size(); ++ri) {
      RouteReport rr;
      rr.name = routes[ri].name;
      rr.binding_error = engine->routeBindingError(routes[ri].name);
      // The first egress a provider saw on this route; the echo's view otherwise.
      for (std::size_t pi = 0; pi < providers.size() && !rr.egress; ++pi) {
        const auto& eg = results[pi][ri].egress;
        if (eg && !eg->empty()) rr.egress = eg;
      }
      for (std::size_t pi = 0; pi < providers.size() && !rr.egress; ++pi) {
        const auto& echo = results[pi][ri].echo;
        if (!echo.client_address.empty()) rr.egress = Egress{echo.client_address, "", "", "echo"};
      }
      report.routes.push_back(std::move(rr));
    }
    auto cb = std::move(done);
    if (cb) cb(std::move(report));
  }
};

}  // namespace

void runCheck(Engine& engine, const Config& config, const CheckSelection& sel,
              std::function<void(CheckReport)> done) {
  auto run = std::make_shared<CheckRun>();
  run->engine = &engine;
  run->done = std::move(done);
  run->started_wall = std::chrono::system_clock::now();
  run->started_ns = uv_hrtime();
  for (const auto& p : config.providers) {
    // Named explicitly, a disabled provider runs too; otherwise only enabled ones.
    if (sel.providers.empty() ? p.enabled : selected(sel.providers, p.spec.name))
      run->providers.push_back(p);
  }
  for (const auto& r : config.routes)
    if (selected(sel.routes, r.name)) run->routes.push_back(r);
  run->results.assign(run->providers.size(), std::vector<RouteResult>(run->routes.size()));
  run->remaining = run->providers.size() * run->routes.size();

  if (run->remaining == 0) {
    // Nothing to probe: still answer on a later loop turn, never from here.
    uv_loop_t* loop = engine.loop();
    if (run->timer.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, run.get()) != 0)
      return run->complete();
    run->self = run;  // kept alive until the timer fires
    uv_timer_start(run->timer.get(), [](uv_timer_t* t) {
      auto* r = static_cast<CheckRun*>(t->data);
      if (!r) return;
      auto keep = std::move(r->self);
      r->timer.reset();
      try {
        r->complete();
      } catch (...) {
      }
    }, 0, 0);
    return;
  }
  for (std::size_t pi = 0; pi < run->providers.size(); ++pi) {
    // Keys are read once per check, at its start (small synchronous reads).
    const KeyInspection key = readKey(run->providers[pi]);
    for (std::size_t ri = 0; ri < run->routes.size(); ++ri) {
      engine.probe(run->providers[pi], run->routes[ri], key, [run, pi, ri](RouteResult r) {
        run->results[pi][ri] = std::move(r);
        if (--run->remaining == 0) run->complete();
      });
    }
  }
}

CheckReport runCheckOnce(const Config& config, const CheckSelection& sel) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::optional<CheckReport> out;
  {
    auto shared = std::make_shared<const Config>(config);
    Engine engine(&loop, shared);
    runCheck(engine, *shared, sel, [&out](CheckReport r) { out = std::move(r); });
    while (!out) {
      if (uv_run(&loop, UV_RUN_ONCE) == 0 && !out) break;  // nothing left to wait for
    }
  }  // the engine goes: curl_multi_cleanup first, channels destroyed, handles closing
  uv_run(&loop, UV_RUN_DEFAULT);  // until every close callback fired
  const int rc = uv_loop_close(&loop);
  assert(rc == 0 && "a handle outlived the check");
  (void)rc;
  return out ? std::move(*out) : CheckReport{};
}

}  // namespace pathwatch
