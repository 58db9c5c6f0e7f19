#include "history_command.h"

#include <optional>
#include <stdexcept>
#include <string>

#include "pathwatch/duration.h"
#include "answer_cap.h"
#include "pathwatch/clock.h"

namespace pathwatch {

using nlohmann::json;

HistoryQuery parseHistoryRequest(const json& req, int64_t now_ms) {
  HistoryQuery q;
  q.limit = 100;
  q.since_ms = now_ms - 24ll * 3600 * 1000;
  auto str = [&](const char* k) -> std::optional<std::string> {
    auto it = req.find(k);
    if (it == req.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) throw std::invalid_argument(std::string("\"") + k + "\" must be a string");
    return it->get<std::string>();
  };
  auto flag = [&](const char* k, bool def) {
    auto it = req.find(k);
    if (it == req.end() || it->is_null()) return def;
    if (!it->is_boolean())
      throw std::invalid_argument(std::string("\"") + k + "\" must be true or false");
    return it->get<bool>();
  };
  q.provider = str("provider");
  q.route = str("route");
  if (auto since = str("since")) {
    if (auto d = parseDuration(*since))
      q.since_ms = now_ms - d->count();
    else if (auto t = msFromIso(*since))
      q.since_ms = *t;
    else
      throw std::invalid_argument("\"since\" must be a duration like \"24h\" or an ISO time");
  }
  q.results = flag("results", true);
  q.transitions = flag("transitions", false);
  q.alerts = flag("alerts", false);
  if (auto it = req.find("limit"); it != req.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 10000)
      throw std::invalid_argument("\"limit\" must be an integer from 1 to 10000");
    q.limit = it->get<int>();
  }
  return q;
}

json historyAnswerJson(const HistoryQuery& q, const HistoryAnswer& a) {
  json out = {{"ok", true}, {"since", isoFromMs(q.since_ms)}, {"truncated", false}};
  if (q.results) {
    out["results"] = json::array();
    for (const auto& r : a.results) out["results"].push_back(toJson(r));
  }
  if (q.transitions) {
    out["transitions"] = json::array();
    for (const auto& t : a.transitions) out["transitions"].push_back(toJson(t));
  }
  if (q.alerts) {
    out["alerts"] = json::array();
    for (const auto& al : a.alerts) out["alerts"].push_back(toJson(al));
  }
  return out;
}

std::string historyAnswerLine(const HistoryQuery& q, History& h, std::size_t max_bytes) {
  // Keys in nlohmann's (sorted) order: alerts ok results since transitions truncated.
  std::string out = "{";
  if (q.alerts) {
    out += "\"alerts\":";
    h.alertsJson(q, out);
    out += ',';
  }
  out += "\"ok\":true";
  if (q.results) {
    out += ",\"results\":";
    h.resultsJson(q, out);
  }
  out += ",\"since\":";
  appendJsonString(out, isoFromMs(q.since_ms));
  if (q.transitions) {
    out += ",\"transitions\":";
    h.transitionsJson(q, out);
  }
  out += ",\"truncated\":false}";
  if (out.size() <= max_bytes) return out;
  // Too long for the socket: newest rows first, the rest cut and counted.
  json j = json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return out;
  capAnswerArrays(j, {"transitions", "alerts", "results"}, max_bytes);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace pathwatch
