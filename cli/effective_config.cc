#include "cli/effective_config.h"

#include "pathwatch/redact.h"

namespace pathwatch {

using nlohmann::ordered_json;

ordered_json formatSize(uint64_t bytes) {
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"TB", 1ull << 40}, {"GB", 1ull << 30}, {"MB", 1ull << 20}, {"KB", 1ull << 10}};
  for (const auto& [unit, mult] : kUnits)
    if (bytes >= mult && bytes % mult == 0) return std::to_string(bytes / mult) + unit;
  return bytes;
}

namespace {

ordered_json providerJson(const ProviderConfig& p) {
  ordered_json j = {{"name", p.spec.name},
                    {"enabled", p.enabled},
                    {"kind", std::string(kindOf(p.spec))},
                    {"base_url", p.spec.base_url}};
  // Only a source the file named: the usual variable of a built-in is the
  // default, and naming it would make an unset variable key_missing.
  if (p.key_env) j["key_env"] = *p.key_env;
  if (p.key_file) j["key_file"] = *p.key_file;
  return j;
}

ordered_json routeJson(const RouteConfig& r) {
  ordered_json j = {{"name", r.name}};
  switch (r.kind) {
    case RouteKind::Interface: j["interface"] = r.interface; break;
    case RouteKind::SourceIp: j["source_ip"] = r.source_ip; break;
    case RouteKind::Proxy: j["proxy"] = r.proxy; break;
    case RouteKind::Default: break;
  }
  return j;
}

ordered_json alertsJson(const AlertsConfig& a) {
  ordered_json webhooks = ordered_json::array();
  for (const auto& w : a.webhooks)
    webhooks.push_back(
        {{"url", redactUrl(w.url)}, {"format", w.format}, {"timeout", formatDuration(w.timeout)}});
  ordered_json exec = ordered_json::array();
  for (const auto& argv : a.exec) exec.push_back(argv);
  ordered_json flapping = {{"changes", a.flapping.changes}, {"window", a.flapping.window}};
  // 0 means "twice resolve_threshold", which no written value says.
  if (a.flapping.settle > 0) flapping["settle"] = a.flapping.settle;
  ordered_json backoff = ordered_json::array();
  for (const auto& d : a.webhook_retry.backoff) backoff.push_back(formatDuration(d));
  return {
      {"fail_threshold", a.fail_threshold},
      {"resolve_threshold", a.resolve_threshold},
      {"reminder", formatDuration(a.reminder)},
      {"webhooks", std::move(webhooks)},
      {"exec", std::move(exec)},
      {"flapping", std::move(flapping)},
      {"webhook_retry", {{"attempts", a.webhook_retry.attempts}, {"backoff", std::move(backoff)}}},
      {"exec_timeout", formatDuration(a.exec_timeout)}};
}

}  // namespace

ordered_json effectiveConfigJson(const Config& c) {
  ordered_json providers = ordered_json::array();
  for (const auto& p : c.providers) providers.push_back(providerJson(p));
  ordered_json routes = ordered_json::array();
  for (const auto& r : c.routes) routes.push_back(routeJson(r));
  ordered_json resolvers = ordered_json::array();
  for (const auto& r : c.resolvers) resolvers.push_back(r.spec);
  ordered_json ranges = ordered_json::array();
  for (const auto& r : c.allowed_ranges) ranges.push_back(r.text);
  ordered_json out = {{"interval", formatDuration(c.interval)},
                      {"timeout", formatDuration(c.timeout)},
                      {"concurrency", c.concurrency},
                      {"providers", std::move(providers)},
                      {"routes", std::move(routes)},
                      {"resolvers", std::move(resolvers)},
                      {"allowed_ranges", std::move(ranges)},
                      {"echo", c.echo},
                      {"tls", {{"ca_file", c.tls.ca_file}, {"public_roots", c.tls.public_roots}}},
                      {"socket", c.socket},
                      {"history",
                       {{"path", c.history.path},
                        {"retention", formatDuration(c.history.retention)},
                        {"max_size", formatSize(c.history.max_bytes)}}},
                      {"alerts", alertsJson(c.alerts)}};
  // Absent means off: there is no value that says so.
  if (c.metrics) out["metrics"] = {{"listen", c.metrics->listen}};
  return out;
}

}  // namespace pathwatch
