#pragma once
// The control socket's `history` command: the request's arguments as a
// HistoryQuery (on the loop) and the rows as the answer (on the reader
// thread). Pure: no I/O, the clock is passed in.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "history.h"

namespace pathwatch {

// provider, route (strings), since ("24h" or an ISO time; default 24 h),
// results/transitions/alerts (booleans), limit (1..10000, default 100).
// Throws std::invalid_argument with the message the client gets.
HistoryQuery parseHistoryRequest(const nlohmann::json& req, int64_t now_ms);

// {"ok": true, "since": ISO, "results": [...], "transitions": [...], "alerts": [...]},
// each list only when the query asked for it.
nlohmann::json historyAnswerJson(const HistoryQuery& q, const HistoryAnswer& a);

}  // namespace pathwatch
