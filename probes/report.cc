#include "pathwatch/report.h"

#include "echo.h"
#include "pathwatch/classify.h"
#include "pathwatch/host.h"

namespace pathwatch {

std::map<std::string, RouteObservation> routeViews(std::vector<RouteObservation> observations) {
  std::vector<EchoLayer*> echoes;
  for (auto& o : observations) echoes.push_back(&o.echo);
  discountCommonEchoAdditions(echoes);
  std::map<std::string, RouteObservation> out;
  for (auto& o : observations) {
    if (!o.egress && !o.echo.client_address.empty()) o.egress = Egress{o.echo.client_address, "", "", "echo"};
    std::string name = o.route;
    out[name] = std::move(o);
  }
  return out;
}

RouteResult finishPair(const ProviderSpec& spec, RouteResult r, const RouteObservation* view) {
  if (view) {
    r.echo = view->echo;
    if (view->egress && !view->egress->empty()) {
      // The route's egress, with the edge site this provider's answer named
      // when the route's own view has none.
      Egress e = *view->egress;
      if (e.colo.empty() && r.egress) e.colo = r.egress->colo;
      r.egress = e;
    }
  } else {
    r.echo.status = LayerStatus::Skipped;
    r.echo.reason = "the route's own probe has not reported yet";
  }
  classifyRoute(spec, r, view);
  return r;
}

HostReport hostOf(const std::map<std::pair<std::string, std::string>, RouteResult>& pairs,
                  const std::vector<RouteObservation>& observations) {
  std::vector<const RouteResult*> results;
  for (const auto& [key, r] : pairs) results.push_back(&r);
  std::vector<const RouteObservation*> routes;
  for (const auto& o : observations) routes.push_back(&o);
  return judgeHost(results, routes);
}

CheckReport buildReport(const ReportInput& in) {
  CheckReport report;
  report.started_at = in.started_at;
  report.duration_ms = in.duration_ms;
  const auto views = routeViews(in.observations);
  auto viewOf = [&views](const std::string& route) -> const RouteObservation* {
    auto it = views.find(route);
    return it == views.end() ? nullptr : &it->second;
  };
  // This machine's clock, from every answer of the check (every provider,
  // every route's own probes): a judgement no single pair can make.
  const HostReport host = hostOf(in.raw, in.observations);
  if (host.clock_samples > 0 || !host.tls_time_servers.empty()) report.host = host;
  for (const auto& p : in.providers) {
    ProviderReport pr;
    pr.name = p.spec.name;
    for (const auto& route : in.routes) {
      auto it = in.raw.find({p.spec.name, route});
      if (it == in.raw.end()) continue;
      pr.routes.push_back(finishPair(p.spec, it->second, viewOf(route)));
    }
    pr.diagnosis = diagnoseProvider(p.spec, pr.routes, host);
    report.providers.push_back(std::move(pr));
  }
  for (const auto& route : in.routes) {
    RouteReport rr;
    rr.name = route;
    if (const RouteObservation* v = viewOf(route)) {
      rr.binding_error = v->binding_error;
      if (v->egress && !v->egress->empty()) rr.egress = v->egress;
    }
    // Each pair's egress is the route's view plus the edge site its
    // provider's answer named: the first one (in provider order) says most.
    for (const auto& pr : report.providers) {
      for (const auto& r : pr.routes)
        if (r.route == route && r.egress && !r.egress->empty()) {
          rr.egress = r.egress;
          break;
        }
      if (rr.egress && !rr.egress->ip.empty()) break;
    }
    report.routes.push_back(std::move(rr));
  }
  return report;
}

}  // namespace pathwatch
