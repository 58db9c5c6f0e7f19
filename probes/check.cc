#include "pathwatch/check.h"

#include <cassert>
#include <memory>
#include <optional>

#include "pathwatch/engine.h"
#include "pathwatch/uv_handle.h"
#include "pathwatch/clock.h"
#include "pathwatch/key.h"
#include "pathwatch/report.h"

namespace pathwatch {

namespace {

bool selected(const std::vector<std::string>& names, const std::string& name) {
  if (names.empty()) return true;
  for (const auto& n : names)
    if (n == name) return true;
  return false;
}

// One check: every selected pair and every selected route's own probe, then
// the report (report.h) from what came back.
struct CheckRun {
  ReportInput in;
  std::size_t remaining = 0;
  uint64_t started_ns = 0;
  std::function<void(CheckReport)> done;
  UvTimer timer;  // only for a check with nothing to probe
  std::shared_ptr<CheckRun> self;

  void oneDone() {
    if (--remaining == 0) complete();
  }

  void complete() {
    in.duration_ms = static_cast<int64_t>((uv_hrtime() - started_ns) / 1000000);
    auto cb = std::move(done);
    if (cb) cb(buildReport(in));
  }
};

}  // namespace

void runCheck(Engine& engine, const Config& config, const CheckSelection& sel,
              std::function<void(CheckReport)> done) {
  auto run = std::make_shared<CheckRun>();
  run->done = std::move(done);
  run->in.started_at = isoFromMs(wallClockMs());
  run->started_ns = uv_hrtime();
  for (const auto& p : config.providers) {
    // Named explicitly, a disabled provider runs too; otherwise only enabled ones.
    if (sel.providers.empty() ? p.enabled : selected(sel.providers, p.spec.name)) run->in.providers.push_back(p);
  }
  std::vector<const RouteConfig*> routes;
  for (const auto& r : config.routes)
    if (selected(sel.routes, r.name)) {
      routes.push_back(&r);
      run->in.routes.push_back(r.name);
    }
  const std::size_t pairs = run->in.providers.size() * routes.size();
  if (pairs == 0) {
    // Nothing to probe: still answer on a later loop turn, never from here.
    uv_loop_t* loop = engine.loop();
    if (run->timer.init([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }, run.get()) != 0)
      return run->complete();
    run->self = run;  // kept alive until the timer fires
    uv_timer_start(run->timer.get(), [](uv_timer_t* t) noexcept {
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
  run->remaining = pairs + routes.size();
  const RouteProbe what = RouteProbe::forProviders(run->in.providers);
  for (const RouteConfig* route : routes)
    engine.observeRoute(*route, what, [run](RouteObservation o) {
      run->in.observations.push_back(std::move(o));
      run->oneDone();
    });
  for (const auto& p : run->in.providers) {
    // Keys are read once per check, at its start (small synchronous reads).
    const KeyInspection key = readKey(p);
    for (const RouteConfig* route : routes) {
      engine.probe(p, *route, key, [run, name = p.spec.name, rn = route->name](RouteResult r) {
        run->in.raw[{name, rn}] = std::move(r);
        run->oneDone();
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
