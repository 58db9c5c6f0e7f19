#pragma once
// The control socket's `history` command: the request's arguments as a
// HistoryQuery (on the loop) and the rows as the answer (on the reader
// thread). Pure but for historyAnswerLine, which reads the database it is given.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "history.h"

namespace pathwatch {

// provider, route (strings), since ("24h" or an ISO time; default 24 h),
// results/transitions/alerts (booleans), limit (1..10000, default 100).
// Throws std::invalid_argument with the message the client gets.
HistoryQuery parseHistoryRequest(const nlohmann::json& req, int64_t now_ms);

// {"ok": true, "since": ISO, "truncated": false, "results": [...], "transitions": [...],
// "alerts": [...]}, each list only when the query asked for it.
nlohmann::json historyAnswerJson(const HistoryQuery& q, const HistoryAnswer& a);

// The same answer as one line of JSON text, read from `h` (on the reader
// thread): historyAnswerJson(q, h.query(q)).dump(), without building the
// rows as JSON objects first (History::resultsJson). A line longer than
// `max_bytes` has its arrays cut to fit (capAnswerArrays).
std::string historyAnswerLine(const HistoryQuery& q, History& h, std::size_t max_bytes = SIZE_MAX);

}  // namespace pathwatch
