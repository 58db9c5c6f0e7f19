// "alerts": thresholds, flapping, reminders, and where events go (webhooks,
// exec commands) with their delivery limits.
#include "config_sections.h"

namespace pathwatch {

using nlohmann::json;

namespace {

std::vector<WebhookConfig> parseWebhooks(const ConfigReader& r, const json& v) {
  const std::string base = "alerts.webhooks";
  const json& arr = r.array(v, base);
  std::vector<WebhookConfig> out;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string path = ConfigReader::index(base, i);
    const json& w = r.object(arr[i], path);
    r.checkKeys(w, path, {"url", "format", "timeout"});
    if (!w.contains("url")) r.fail(path, "missing \"url\"");
    WebhookConfig hook;
    hook.url = r.webhookUrl(w["url"], ConfigReader::join(path, "url"));
    if (w.contains("format")) {
      const std::string kp = ConfigReader::join(path, "format");
      hook.format = r.string(w["format"], kp);
      if (hook.format != "json" && hook.format != "slack") r.fail(kp, "is not one of json, slack");
    }
    if (w.contains("timeout"))
      hook.timeout = r.duration(w["timeout"], ConfigReader::join(path, "timeout"), Millis(1),
                                std::chrono::minutes(5));
    out.push_back(std::move(hook));
  }
  return out;
}

std::vector<std::vector<std::string>> parseExec(const ConfigReader& r, const json& v) {
  const std::string base = "alerts.exec";
  const json& arr = r.array(v, base);
  std::vector<std::vector<std::string>> out;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string path = ConfigReader::index(base, i);
    std::vector<std::string> argv;
    if (arr[i].is_string()) {
      argv.push_back(r.absolutePath(arr[i], path));
    } else if (arr[i].is_array()) {
      if (arr[i].empty()) r.fail(path, "an empty command");
      for (std::size_t j = 0; j < arr[i].size(); ++j) {
        const std::string ap = ConfigReader::index(path, j);
        argv.push_back(j == 0 ? r.absolutePath(arr[i][j], ap) : r.string(arr[i][j], ap));
      }
    } else {
      r.fail(path, std::string("expected a command path or an array [path, args...], got ") +
                       jsonTypeName(arr[i]));
    }
    out.push_back(std::move(argv));
  }
  return out;
}

FlappingConfig parseFlapping(const ConfigReader& r, const json& v) {
  const std::string base = "alerts.flapping";
  const json& obj = r.object(v, base);
  r.checkKeys(obj, base, {"changes", "window", "settle"});
  FlappingConfig f;
  if (obj.contains("window"))
    f.window = static_cast<int>(r.integer(obj["window"], base + ".window", 2, 1000));
  if (obj.contains("changes")) {
    f.changes = static_cast<int>(r.integer(obj["changes"], base + ".changes", 2, 1000));
    if (f.changes > f.window)
      r.fail(base + ".changes", "must not be more than alerts.flapping.window");
  } else if (f.changes > f.window) {
    r.fail(base + ".window", "must be at least alerts.flapping.changes (4 unless given)");
  }
  if (obj.contains("settle"))
    f.settle = static_cast<int>(r.integer(obj["settle"], base + ".settle", 1, 1000));
  return f;
}

WebhookRetryConfig parseWebhookRetry(const ConfigReader& r, const json& v) {
  const std::string base = "alerts.webhook_retry";
  const json& obj = r.object(v, base);
  r.checkKeys(obj, base, {"attempts", "backoff"});
  WebhookRetryConfig w;
  if (obj.contains("attempts"))
    w.attempts = static_cast<int>(r.integer(obj["attempts"], base + ".attempts", 1, 10));
  if (obj.contains("backoff")) {
    const std::string kp = base + ".backoff";
    const json& arr = r.array(obj["backoff"], kp);
    if (arr.empty() || arr.size() > 10) r.fail(kp, "list 1 to 10 durations, e.g. [\"1s\", \"4s\"]");
    w.backoff.clear();
    for (std::size_t i = 0; i < arr.size(); ++i)
      w.backoff.push_back(r.duration(arr[i], ConfigReader::index(kp, i), Millis(10), std::chrono::hours(1)));
  }
  return w;
}

}  // namespace

AlertsConfig parseAlerts(const ConfigReader& r, const json& v) {
  const std::string base = "alerts";
  const json& obj = r.object(v, base);
  r.checkKeys(obj, base, {"fail_threshold", "resolve_threshold", "reminder", "webhooks", "exec",
                          "flapping", "webhook_retry", "exec_timeout"});
  AlertsConfig a;
  if (obj.contains("fail_threshold"))
    a.fail_threshold = static_cast<int>(r.integer(obj["fail_threshold"], "alerts.fail_threshold", 1, 1000));
  if (obj.contains("resolve_threshold"))
    a.resolve_threshold =
        static_cast<int>(r.integer(obj["resolve_threshold"], "alerts.resolve_threshold", 1, 1000));
  // "0s" turns reminders off.
  if (obj.contains("reminder"))
    a.reminder = r.duration(obj["reminder"], "alerts.reminder", Millis(0), std::chrono::hours(24 * 365));
  if (obj.contains("webhooks")) a.webhooks = parseWebhooks(r, obj["webhooks"]);
  if (obj.contains("exec")) a.exec = parseExec(r, obj["exec"]);
  if (obj.contains("flapping")) a.flapping = parseFlapping(r, obj["flapping"]);
  if (obj.contains("webhook_retry")) a.webhook_retry = parseWebhookRetry(r, obj["webhook_retry"]);
  if (obj.contains("exec_timeout"))
    a.exec_timeout = r.duration(obj["exec_timeout"], "alerts.exec_timeout", Millis(100), std::chrono::hours(1));
  return a;
}

}  // namespace pathwatch
