#include "history.h"

#include <algorithm>
#include <string>

#include "pathwatch/verdict.h"
#include "pathwatch/clock.h"

namespace pathwatch {

using nlohmann::json;

namespace {

struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() {
    if (s) sqlite3_finalize(s);
  }
};

std::string_view layerStatus(LayerStatus s) { return toString(s); }

json layerBrief(const LayerBase& l) {
  json j = {{"status", layerStatus(l.status)}};
  if (!l.error.empty()) j["error"] = l.error;
  if (!l.reason.empty() && l.status == LayerStatus::Skipped) j["reason"] = l.reason;
  return j;
}

void bindText(sqlite3_stmt* st, int i, const std::string& s) {
  if (s.empty())
    sqlite3_bind_null(st, i);
  else
    sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

void bindOpt(sqlite3_stmt* st, int i, const std::optional<double>& v) {
  if (v)
    sqlite3_bind_double(st, i, *v);
  else
    sqlite3_bind_null(st, i);
}

std::string colText(sqlite3_stmt* st, int i) {
  const auto* t = sqlite3_column_text(st, i);
  return t ? reinterpret_cast<const char*>(t) : "";
}

std::optional<double> colOpt(sqlite3_stmt* st, int i) {
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_double(st, i);
}

json parseOr(const std::string& text, json fallback) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

}  // namespace

ResultRow resultRow(const RouteResult& r, int64_t ts_ms) {
  ResultRow row;
  row.ts_ms = ts_ms;
  row.provider = r.provider;
  row.route = r.route;
  row.verdict = std::string(toString(r.verdict));
  row.cause = std::string(toString(causeOf(r.verdict)));
  if (r.egress) {
    row.egress_ip = r.egress->ip;
    row.egress_country = r.egress->country;
    row.egress_colo = r.egress->colo;
  }
  auto ran = [](const LayerBase& l) -> std::optional<double> {
    if (l.status == LayerStatus::Skipped) return std::nullopt;
    return l.ms;
  };
  row.dns_ms = ran(r.dns);
  row.tcp_ms = ran(r.tcp);
  row.tls_ms = ran(r.tls);
  row.http_ms = ran(r.http);
  row.total_ms = r.ms;
  // The key layer contributes its status and problems only: no source
  // contents, no fingerprint either (history outlives key rotations).
  json key = layerBrief(r.key);
  if (!r.key.problems.empty()) key["problems"] = r.key.problems;
  json http = layerBrief(r.http);
  if (r.http.code) http["code"] = r.http.code;
  if (r.http.proxy_code) http["proxy_code"] = r.http.proxy_code;
  if (!r.http.authored_by.empty()) http["authored_by"] = r.http.authored_by;
  if (!r.http.error_type.empty()) http["error_type"] = r.http.error_type;
  if (!r.http.error_code.empty()) http["error_code"] = r.http.error_code;
  if (r.http.retry_after_s) http["retry_after_s"] = *r.http.retry_after_s;
  json tls = layerBrief(r.tls);
  if (r.tls.public_root) tls["public_root"] = *r.tls.public_root;
  json tcp = layerBrief(r.tcp);
  if (!r.tcp.address.empty()) tcp["address"] = r.tcp.address;
  row.evidence = {{"evidence", r.evidence},
                  {"layers",
                   {{"key", key},
                    {"dns", layerBrief(r.dns)},
                    {"tcp", tcp},
                    {"tls", tls},
                    {"http", http},
                    {"echo", layerBrief(r.echo)}}}};
  return row;
}

json toJson(const ResultRow& r) {
  json j = {{"at", isoFromMs(r.ts_ms)}, {"provider", r.provider}, {"route", r.route},
            {"verdict", r.verdict},     {"cause", r.cause}};
  if (!r.egress_ip.empty() || !r.egress_country.empty() || !r.egress_colo.empty())
    j["egress"] = {{"ip", r.egress_ip}, {"country", r.egress_country}, {"colo", r.egress_colo}};
  json ms = json::object();
  if (r.dns_ms) ms["dns"] = *r.dns_ms;
  if (r.tcp_ms) ms["tcp"] = *r.tcp_ms;
  if (r.tls_ms) ms["tls"] = *r.tls_ms;
  if (r.http_ms) ms["http"] = *r.http_ms;
  if (r.total_ms) ms["total"] = *r.total_ms;
  j["ms"] = ms;
  if (r.evidence.contains("evidence")) j["evidence"] = r.evidence["evidence"];
  if (r.evidence.contains("layers")) j["layers"] = r.evidence["layers"];
  return j;
}

json toJson(const TransitionRow& t) {
  return {{"at", isoFromMs(t.ts_ms)}, {"provider", t.provider}, {"route", t.route},
          {"before", t.before},       {"after", t.after},       {"cause", t.cause},
          {"summary", t.summary}};
}

json toJson(const AlertRow& a) { return a.event; }

History::History(const std::string& path, HistoryOptions options) : path_(path) {
  int flags = options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open history " + path + ": " +
                      (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close(db_);
    db_ = nullptr;
    throw HistoryError(msg, rc);
  }
  try {
    sqlite3_busy_timeout(db_, options.busy_timeout_ms);
    execSql(db_, ("PRAGMA cache_size=-" + std::to_string(std::max(64, options.cache_kib))).c_str(),
            "bounding the page cache");
    if (options.read_only) {
      read_only_ = true;
      // The writer created and migrated it; a reader only checks it can read it.
      int v = historySchemaVersion(db_);
      if (v != kHistorySchemaVersion)
        throw HistoryError("history " + path + " has schema version " + std::to_string(v) +
                           ", expected " + std::to_string(kHistorySchemaVersion));
      return;
    }
    // auto_vacuum only takes effect on a database without tables yet, and
    // setting it needs the write lock: only then, so another process holding
    // that lock does not keep the daemon from starting.
    if (historySchemaVersion(db_) == 0)
      execSql(db_, "PRAGMA auto_vacuum=INCREMENTAL", "setting auto_vacuum");
    execSql(db_, "PRAGMA journal_mode=WAL", "enabling WAL");
    execSql(db_, "PRAGMA synchronous=NORMAL", "setting synchronous");
    execSql(db_, "PRAGMA foreign_keys=ON", "setting foreign_keys");
    if (!options.auto_checkpoint) {
      // The pragma replaces the WAL hook, so it goes first; the hook then only
      // counts frames for the owner's own checkpoint schedule.
      execSql(db_, "PRAGMA wal_autocheckpoint=0", "turning wal_autocheckpoint off");
      sqlite3_wal_hook(
          db_,
          [](void* self, sqlite3*, const char*, int frames) {
            static_cast<History*>(self)->wal_frames_ = frames;
            return SQLITE_OK;
          },
          this);
    }
    ensureHistorySchema(db_);
    insert_result_ = prepare(
        "INSERT INTO results (ts, provider, route, verdict, cause, egress_ip, egress_country, "
        "egress_colo, dns_ms, tcp_ms, tls_ms, http_ms, total_ms, evidence) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    insert_transition_ = prepare(
        "INSERT INTO transitions (ts, provider, route, before, after, cause, summary) "
        "VALUES (?,?,?,?,?,?,?)");
    insert_alert_ =
        prepare("INSERT INTO alerts (ts, provider, route, event) VALUES (?,?,?,?)");
  } catch (...) {
    sqlite3_finalize(insert_result_);
    sqlite3_finalize(insert_transition_);
    sqlite3_finalize(insert_alert_);
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

History::~History() {
  sqlite3_finalize(insert_result_);
  sqlite3_finalize(insert_transition_);
  sqlite3_finalize(insert_alert_);
  if (db_) sqlite3_close(db_);
}

sqlite3_stmt* History::prepare(const char* sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK)
    fail("preparing a history statement");
  return st;
}

void History::fail(const std::string& what) {
  throw HistoryError(what + ": " + sqlite3_errmsg(db_), sqlite3_extended_errcode(db_));
}

void History::write(const HistoryBatch& b, const std::function<void()>& before_commit) {
  if (b.empty()) return;
  if (read_only_) throw HistoryError("history " + path_ + " is open read-only", SQLITE_READONLY);
  execSql(db_, "BEGIN IMMEDIATE", "starting a history write");
  auto step = [this](sqlite3_stmt* st) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
      std::string msg = std::string("writing history: ") + sqlite3_errmsg(db_);
      int code = sqlite3_extended_errcode(db_);
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      throw HistoryError(msg, code);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  };
  try {
    for (const auto& r : b.results) {
      auto* st = insert_result_;
      sqlite3_bind_int64(st, 1, r.ts_ms);
      sqlite3_bind_text(st, 2, r.provider.data(), static_cast<int>(r.provider.size()),
                        SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 3, r.route.data(), static_cast<int>(r.route.size()), SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 4, r.verdict.data(), static_cast<int>(r.verdict.size()),
                        SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 5, r.cause.data(), static_cast<int>(r.cause.size()), SQLITE_TRANSIENT);
      bindText(st, 6, r.egress_ip);
      bindText(st, 7, r.egress_country);
      bindText(st, 8, r.egress_colo);
      bindOpt(st, 9, r.dns_ms);
      bindOpt(st, 10, r.tcp_ms);
      bindOpt(st, 11, r.tls_ms);
      bindOpt(st, 12, r.http_ms);
      bindOpt(st, 13, r.total_ms);
      std::string ev = r.evidence.dump(-1, ' ', false, json::error_handler_t::replace);
      sqlite3_bind_text(st, 14, ev.data(), static_cast<int>(ev.size()), SQLITE_TRANSIENT);
      step(st);
    }
    for (const auto& t : b.transitions) {
      auto* st = insert_transition_;
      sqlite3_bind_int64(st, 1, t.ts_ms);
      sqlite3_bind_text(st, 2, t.provider.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 3, t.route.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 4, t.before.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 5, t.after.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 6, t.cause.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 7, t.summary.c_str(), -1, SQLITE_TRANSIENT);
      step(st);
    }
    for (const auto& a : b.alerts) {
      auto* st = insert_alert_;
      sqlite3_bind_int64(st, 1, a.ts_ms);
      auto field = [&](const char* k) -> std::string {
        if (a.event.is_object() && a.event.contains(k) && a.event[k].is_string())
          return a.event[k].get<std::string>();
        return "";
      };
      bindText(st, 2, field("provider"));
      bindText(st, 3, field("route"));
      std::string ev = a.event.dump(-1, ' ', false, json::error_handler_t::replace);
      sqlite3_bind_text(st, 4, ev.data(), static_cast<int>(ev.size()), SQLITE_TRANSIENT);
      step(st);
    }
    if (before_commit) before_commit();
    execSql(db_, "COMMIT", "committing a history write");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::string History::querySql(const char* table, const HistoryQuery& q, bool as_json) const {
  std::string t = table;
  std::string sql;
  if (t == "results" && as_json)
    // The stored evidence's two parts as SQLite's JSON text (NULL when absent
    // or unreadable, as toJson() leaves them out then).
    sql = "SELECT ts, provider, route, verdict, cause, egress_ip, egress_country, egress_colo, "
          "dns_ms, tcp_ms, tls_ms, http_ms, total_ms, "
          "CASE WHEN json_valid(evidence) THEN evidence -> '$.evidence' END, "
          "CASE WHEN json_valid(evidence) THEN evidence -> '$.layers' END "
          "FROM results WHERE ts >= ?1";
  else if (t == "results")
    sql = "SELECT ts, provider, route, verdict, cause, egress_ip, egress_country, egress_colo, "
          "dns_ms, tcp_ms, tls_ms, http_ms, total_ms, evidence FROM results WHERE ts >= ?1";
  else if (t == "transitions")
    sql = "SELECT ts, provider, route, before, after, cause, summary FROM transitions "
          "WHERE ts >= ?1";
  else
    sql = "SELECT ts, event FROM alerts WHERE ts >= ?1";
  if (t == "alerts") {
    // Alerts without a provider (egress_changed) match every provider filter.
    if (q.provider) sql += " AND (provider = ?2 OR provider IS NULL)";
    if (q.route) sql += " AND (route = ?3 OR route IS NULL)";
  } else {
    if (q.provider) sql += " AND provider = ?2";
    if (q.route) sql += " AND route = ?3";
  }
  return sql + " ORDER BY ts DESC, id DESC LIMIT ?4";
}

void History::bindQuery(sqlite3_stmt* st, const HistoryQuery& q) const {
  sqlite3_bind_int64(st, 1, q.since_ms);
  if (q.provider) sqlite3_bind_text(st, 2, q.provider->c_str(), -1, SQLITE_TRANSIENT);
  if (q.route) sqlite3_bind_text(st, 3, q.route->c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 4, q.limit <= 0 ? 1000 : q.limit);
}

HistoryAnswer History::query(const HistoryQuery& q) {
  HistoryAnswer out;
  auto finish = [this](int rc) {
    if (rc != SQLITE_DONE) fail("reading history");
  };
  if (q.results) {
    Stmt st{prepare(querySql("results", q).c_str())};
    bindQuery(st.s, q);
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
      ResultRow r;
      r.ts_ms = sqlite3_column_int64(st.s, 0);
      r.provider = colText(st.s, 1);
      r.route = colText(st.s, 2);
      r.verdict = colText(st.s, 3);
      r.cause = colText(st.s, 4);
      r.egress_ip = colText(st.s, 5);
      r.egress_country = colText(st.s, 6);
      r.egress_colo = colText(st.s, 7);
      r.dns_ms = colOpt(st.s, 8);
      r.tcp_ms = colOpt(st.s, 9);
      r.tls_ms = colOpt(st.s, 10);
      r.http_ms = colOpt(st.s, 11);
      r.total_ms = colOpt(st.s, 12);
      r.evidence = parseOr(colText(st.s, 13), json::object());
      out.results.push_back(std::move(r));
    }
    finish(rc);
  }
  if (q.transitions) {
    Stmt st{prepare(querySql("transitions", q).c_str())};
    bindQuery(st.s, q);
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
      TransitionRow t;
      t.ts_ms = sqlite3_column_int64(st.s, 0);
      t.provider = colText(st.s, 1);
      t.route = colText(st.s, 2);
      t.before = colText(st.s, 3);
      t.after = colText(st.s, 4);
      t.cause = colText(st.s, 5);
      t.summary = colText(st.s, 6);
      out.transitions.push_back(std::move(t));
    }
    finish(rc);
  }
  if (q.alerts) {
    Stmt st{prepare(querySql("alerts", q).c_str())};
    bindQuery(st.s, q);
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
      AlertRow a;
      a.ts_ms = sqlite3_column_int64(st.s, 0);
      a.event = parseOr(colText(st.s, 1), json::object());
      out.alerts.push_back(std::move(a));
    }
    finish(rc);
  }
  return out;
}

void History::resultsJson(const HistoryQuery& q, std::string& out) {
  Stmt st{prepare(querySql("results", q, true).c_str())};
  bindQuery(st.s, q);
  auto str = [&](const char* key, int col, bool first = false) {
    if (!first) out += ',';
    out += '"';
    out += key;
    out += "\":";
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st.s, col));
    auto n = static_cast<std::size_t>(sqlite3_column_bytes(st.s, col));
    appendJsonString(out, t ? std::string_view(t, n) : std::string_view());
  };
  auto raw = [&](const char* key, int col) {
    if (sqlite3_column_type(st.s, col) == SQLITE_NULL) return;
    out += ",\"";
    out += key;
    out += "\":";
    out.append(reinterpret_cast<const char*>(sqlite3_column_text(st.s, col)),
               static_cast<std::size_t>(sqlite3_column_bytes(st.s, col)));
  };
  out += '[';
  bool first_row = true;
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    if (!first_row) out += ',';
    first_row = false;
    // Keys in nlohmann's (sorted) order: at cause egress evidence layers ms provider route verdict.
    out += "{\"at\":";
    appendJsonString(out, isoFromMs(sqlite3_column_int64(st.s, 0)));
    str("cause", 4);
    bool egress = false;
    for (int c = 5; c <= 7; ++c) {
      const auto* t = sqlite3_column_text(st.s, c);
      egress = egress || (t && *t);
    }
    if (egress) {
      out += ",\"egress\":{";
      str("colo", 7, true);
      str("country", 6);
      str("ip", 5);
      out += '}';
    }
    raw("evidence", 13);
    raw("layers", 14);
    out += ",\"ms\":{";
    bool first_ms = true;
    for (auto [key, col] : {std::pair<const char*, int>{"dns", 8}, {"http", 11}, {"tcp", 9},
                            {"tls", 10}, {"total", 12}}) {
      if (sqlite3_column_type(st.s, col) == SQLITE_NULL) continue;
      if (!first_ms) out += ',';
      first_ms = false;
      out += '"';
      out += key;
      out += "\":";
      out += json(sqlite3_column_double(st.s, col)).dump();
    }
    out += '}';
    str("provider", 1);
    str("route", 2);
    str("verdict", 3);
    out += '}';
  }
  if (rc != SQLITE_DONE) fail("reading history");
  out += ']';
}

void History::transitionsJson(const HistoryQuery& q, std::string& out) {
  // Few rows (verdict changes only): the ordinary way.
  HistoryQuery only = q;
  only.results = only.alerts = false;
  only.transitions = true;
  json arr = json::array();
  for (const auto& t : query(only).transitions) arr.push_back(toJson(t));
  out += arr.dump(-1, ' ', false, json::error_handler_t::replace);
}

void History::alertsJson(const HistoryQuery& q, std::string& out) {
  // Few rows (alert events only): the ordinary way.
  HistoryQuery only = q;
  only.results = only.transitions = false;
  only.alerts = true;
  json arr = json::array();
  for (const auto& a : query(only).alerts) arr.push_back(toJson(a));
  out += arr.dump(-1, ' ', false, json::error_handler_t::replace);
}

void appendJsonString(std::string& out, std::string_view s) {
  // Plain printable ASCII is written as is; anything else goes through
  // nlohmann so escapes and invalid UTF-8 come out exactly as its dump().
  bool plain = true;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (plain) {
    out += '"';
    out += s;
    out += '"';
  } else {
    out += json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

std::vector<std::string> History::queryPlan(const HistoryQuery& q) {
  std::vector<std::string> out;
  for (const char* table : {"results", "transitions", "alerts"}) {
    if ((table[0] == 'r' && !q.results) || (table[0] == 't' && !q.transitions) ||
        (table[0] == 'a' && !q.alerts))
      continue;
    Stmt st{prepare(("EXPLAIN QUERY PLAN " + querySql(table, q)).c_str())};
    bindQuery(st.s, q);
    while (sqlite3_step(st.s) == SQLITE_ROW)
      out.push_back(std::string(table) + ": " + colText(st.s, 3));
  }
  return out;
}

std::vector<LastVerdict> History::lastVerdicts() {
  // A skip-scan: the distinct providers, then each one's distinct routes, then
  // each pair's newest row, all as seeks on results_provider_route_ts.
  Stmt st{prepare(R"sql(
WITH RECURSIVE
  p(provider) AS (
    SELECT min(provider) FROM results
    UNION ALL
    SELECT (SELECT min(provider) FROM results WHERE provider > p.provider)
      FROM p WHERE p.provider IS NOT NULL),
  pr(provider, route) AS (
    SELECT provider, (SELECT min(route) FROM results r WHERE r.provider = p.provider)
      FROM p WHERE p.provider IS NOT NULL
    UNION ALL
    SELECT provider,
           (SELECT min(route) FROM results r WHERE r.provider = pr.provider AND r.route > pr.route)
      FROM pr WHERE pr.route IS NOT NULL)
SELECT provider, route,
       (SELECT verdict FROM results r WHERE r.provider = pr.provider AND r.route = pr.route
         ORDER BY ts DESC, id DESC LIMIT 1)
  FROM pr WHERE route IS NOT NULL)sql")};
  std::vector<LastVerdict> out;
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW)
    out.push_back({colText(st.s, 0), colText(st.s, 1), colText(st.s, 2)});
  if (rc != SQLITE_DONE) fail("reading the last verdicts");
  return out;
}

int64_t History::deleteOlderThan(int64_t cutoff_ms, int batch) {
  int64_t total = 0;
  for (const char* table : {"results", "transitions", "alerts"}) {
    std::string sql = std::string("DELETE FROM ") + table + " WHERE id IN (SELECT id FROM " +
                      table + " WHERE ts < ?1 ORDER BY ts LIMIT ?2)";
    Stmt st{prepare(sql.c_str())};
    sqlite3_bind_int64(st.s, 1, cutoff_ms);
    sqlite3_bind_int(st.s, 2, batch);
    if (sqlite3_step(st.s) != SQLITE_DONE) fail("pruning history");
    total += sqlite3_changes(db_);
  }
  return total;
}

int64_t History::deleteOldestWhileLarger(uint64_t max_bytes, int batch) {
  if (max_bytes == 0 || sizeBytes() <= max_bytes) return 0;
  // The oldest results go first; transitions and alerts are small and kept
  // until age retention takes them.
  Stmt st{prepare("DELETE FROM results WHERE id IN (SELECT id FROM results ORDER BY ts LIMIT ?1)")};
  sqlite3_bind_int(st.s, 1, batch);
  if (sqlite3_step(st.s) != SQLITE_DONE) fail("pruning history by size");
  return sqlite3_changes(db_);
}

int64_t History::pruneOlderThan(int64_t cutoff_ms, int batch) {
  int64_t total = deleteOlderThan(cutoff_ms, batch);
  if (total > 0) sqlite3_exec(db_, "PRAGMA incremental_vacuum(256)", nullptr, nullptr, nullptr);
  return total;
}

int64_t History::pruneToSize(uint64_t max_bytes, int batch) {
  int64_t n = deleteOldestWhileLarger(max_bytes, batch);
  if (n > 0) sqlite3_exec(db_, "PRAGMA incremental_vacuum(256)", nullptr, nullptr, nullptr);
  return n;
}

int64_t History::pruneStep(int64_t cutoff_ms, uint64_t max_bytes, int batch) {
  execSql(db_, "BEGIN IMMEDIATE", "starting a retention step");
  try {
    int64_t n = deleteOlderThan(cutoff_ms, batch);
    n += deleteOldestWhileLarger(max_bytes, batch);
    // Freed pages go back to the file system a few at a time.
    if (n > 0) execSql(db_, "PRAGMA incremental_vacuum(256)", "returning free pages");
    execSql(db_, "COMMIT", "committing a retention step");
    return n;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

uint64_t History::sizeBytes() {
  auto pragma = [this](const char* sql) -> int64_t {
    Stmt st{prepare(sql)};
    return sqlite3_step(st.s) == SQLITE_ROW ? sqlite3_column_int64(st.s, 0) : 0;
  };
  int64_t pages = pragma("PRAGMA page_count") - pragma("PRAGMA freelist_count");
  return static_cast<uint64_t>(pages < 0 ? 0 : pages) *
         static_cast<uint64_t>(pragma("PRAGMA page_size"));
}

int64_t History::pageCacheKib() {
  auto pragma = [this](const char* sql) -> int64_t {
    Stmt st{prepare(sql)};
    return sqlite3_step(st.s) == SQLITE_ROW ? sqlite3_column_int64(st.s, 0) : 0;
  };
  const int64_t v = pragma("PRAGMA cache_size");  // negative: KiB; positive: pages
  return v < 0 ? -v : v * pragma("PRAGMA page_size") / 1024;
}

int64_t History::countResults() {
  Stmt st{prepare("SELECT count(*) FROM results")};
  return sqlite3_step(st.s) == SQLITE_ROW ? sqlite3_column_int64(st.s, 0) : -1;
}

std::string History::integrityCheck() {
  Stmt st{prepare("PRAGMA integrity_check")};
  std::string out;
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    if (!out.empty()) out += "; ";
    out += colText(st.s, 0);
  }
  return out;
}

int History::schemaVersion() { return historySchemaVersion(db_); }

void History::checkpoint() {
  sqlite3_exec(db_, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  wal_frames_ = 0;
}

CheckpointResult History::checkpoint(int mode) {
  CheckpointResult r;
  r.rc = sqlite3_wal_checkpoint_v2(db_, nullptr, mode, &r.wal_frames, &r.checkpointed);
  if (r.rc == SQLITE_OK && mode == SQLITE_CHECKPOINT_TRUNCATE) wal_frames_ = 0;
  return r;
}

}  // namespace pathwatch
