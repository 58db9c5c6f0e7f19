#include "status_snapshot.h"

#include <algorithm>

#include "pathwatch/report_json.h"
#include "pathwatch/clock.h"

namespace pathwatch {

using nlohmann::json;

StatusSnapshot::StatusSnapshot(std::function<int64_t()> wall_ms) : wall_ms_(std::move(wall_ms)) {}

void StatusSnapshot::onConfig(const Config& config) {
  ++version_;
  summary_.reset();
  order_.clear();
  route_order_.clear();
  std::map<std::string, ProviderState> kept;
  for (const auto& p : config.providers) {
    if (!p.enabled) continue;
    order_.push_back(p.spec.name);
    auto it = providers_.find(p.spec.name);
    auto& st = kept[p.spec.name];
    if (it != providers_.end()) st = std::move(it->second);
    st.kind = std::string(kindOf(p.spec));
    st.builtin = p.spec.builtin;
    st.key.reset();  // read again with this config (onKey)
  }
  for (const auto& r : config.routes) route_order_.push_back(r.name);
  for (auto& [name, st] : kept)
    std::erase_if(st.routes, [&](auto& e) {
      return std::find(route_order_.begin(), route_order_.end(), e.first) == route_order_.end();
    });
  providers_ = std::move(kept);
}

void StatusSnapshot::onKey(const std::string& provider, const KeyLayer& key) {
  ++version_;
  auto it = providers_.find(provider);
  if (it != providers_.end()) it->second.key = key;
}

void StatusSnapshot::onRouteResult(const RouteResult& r) {
  ++version_;
  auto& p = providers_[r.provider];
  auto& s = p.routes[r.route];
  s.verdict = std::string(toString(r.verdict));
  s.cause = std::string(toString(causeOf(r.verdict)));
  s.at = r.started_at.empty() ? isoFromMs(wall_ms_()) : r.started_at;
  s.ms = r.ms;
  s.egress = r.egress;
  s.evidence.assign(r.evidence.begin(),
                    r.evidence.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(
                                             r.evidence.size(), 5)));
  p.last_checked_ms = wall_ms_();
}

void StatusSnapshot::onDiagnosis(const std::string& provider, const Diagnosis& d,
                                 const std::vector<RouteResult>&) {
  ++version_;
  auto& p = providers_[provider];
  int64_t now = wall_ms_();
  if (!p.diagnosis) {
    p.since_ms = now;
    summary_.reset();
  } else if (p.diagnosis->verdict != d.verdict) {
    p.since_ms = now;
    p.last_change_ms = now;
    summary_.reset();
  }
  p.diagnosis = d;
  p.last_checked_ms = now;
  ++cycles_;
}

namespace {

// docs/socket.md, providers[].key: where the key came from and what it was,
// by fingerprint only (pathwatch check and status compare it with theirs).
json keyJson(const KeyLayer& k) {
  json j = {{"source", k.source},
            {"configured", k.configured},
            {"status", toString(k.status)},
            {"read", k.read},
            {"problems", k.problems}};
  if (!k.error.empty()) j["error"] = k.error;
  if (!k.fingerprint.empty()) j["fingerprint"] = k.fingerprint;
  return j;
}

}  // namespace

json StatusSnapshot::toJson() const {
  json providers = json::array();
  for (const auto& name : order_) {
    auto it = providers_.find(name);
    json pj = {{"name", name}};
    if (it == providers_.end() || !it->second.diagnosis) {
      pj["diagnosis"] = nullptr;
      pj["since"] = nullptr;
      pj["last_change"] = nullptr;
    } else {
      const auto& p = it->second;
      pj["diagnosis"] = pathwatch::toJson(*p.diagnosis);
      pj["since"] = isoFromMs(p.since_ms);
      pj["last_change"] = p.last_change_ms ? json(isoFromMs(p.last_change_ms)) : json(nullptr);
    }
    json routes = json::array();
    if (it != providers_.end()) {
      const auto& p = it->second;
      pj["kind"] = p.kind;
      pj["builtin"] = p.builtin;
      pj["key"] = p.key ? keyJson(*p.key) : json(nullptr);
      pj["last_checked"] = p.last_checked_ms ? json(isoFromMs(p.last_checked_ms)) : json(nullptr);
      for (const auto& rn : route_order_) {
        auto r = p.routes.find(rn);
        if (r == p.routes.end()) continue;
        json rj = {{"route", rn},          {"verdict", r->second.verdict},
                   {"cause", r->second.cause}, {"at", r->second.at},
                   {"ms", r->second.ms},      {"evidence", r->second.evidence}};
        if (r->second.egress && !r->second.egress->empty())
          rj["egress"] = {{"ip", r->second.egress->ip},
                          {"country", r->second.egress->country},
                          {"colo", r->second.egress->colo}};
        routes.push_back(std::move(rj));
      }
    } else {
      pj["last_checked"] = nullptr;
      pj["key"] = nullptr;
    }
    pj["routes"] = std::move(routes);
    providers.push_back(std::move(pj));
  }
  return {{"providers", std::move(providers)}};
}

std::string StatusSnapshot::summaryLine() const {
  if (summary_) return *summary_;
  int ok = 0, bad = 0, waiting = 0;
  std::string problems;
  for (const auto& name : order_) {
    auto it = providers_.find(name);
    if (it == providers_.end() || !it->second.diagnosis) {
      ++waiting;
      continue;
    }
    if (it->second.diagnosis->verdict == Verdict::Ok) {
      ++ok;
    } else {
      ++bad;
      if (!problems.empty()) problems += ", ";
      problems += name + " " + std::string(toString(it->second.diagnosis->verdict));
    }
  }
  std::string s = std::to_string(order_.size()) + " providers: " + std::to_string(ok) + " ok";
  if (bad) s += ", " + std::to_string(bad) + " problem" + (bad > 1 ? "s" : "") + " (" + problems + ")";
  if (waiting) s += ", " + std::to_string(waiting) + " not checked yet";
  summary_ = s;
  return s;
}

}  // namespace pathwatch
