#pragma once
// The history: every route result, every verdict transition and every alert,
// in SQLite (WAL, synchronous=NORMAL). Writes happen in one short transaction
// per batch with prepared statements; retention runs in small batches.
// Keys never reach the database: rows carry verdicts, timings and scrubbed
// evidence only.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "history_schema.h"
#include "pathwatch/result.h"

namespace pathwatch {

struct ResultRow {
  int64_t ts_ms = 0;
  std::string provider, route, verdict, cause;
  std::string egress_ip, egress_country, egress_colo;
  std::optional<double> dns_ms, tcp_ms, tls_ms, http_ms, total_ms;
  nlohmann::json evidence = nlohmann::json::object();  // compact; never keys
};

struct TransitionRow {
  int64_t ts_ms = 0;
  std::string provider, route, before, after, cause, summary;
};

struct AlertRow {
  int64_t ts_ms = 0;
  nlohmann::json event;
};

struct HistoryBatch {
  std::vector<ResultRow> results;
  std::vector<TransitionRow> transitions;
  std::vector<AlertRow> alerts;
  bool empty() const { return results.empty() && transitions.empty() && alerts.empty(); }
};

struct HistoryQuery {
  std::optional<std::string> provider, route;
  int64_t since_ms = 0;
  bool results = true, transitions = false, alerts = false;
  int limit = 1000;  // per table, newest first
};

struct HistoryAnswer {
  std::vector<ResultRow> results;
  std::vector<TransitionRow> transitions;
  std::vector<AlertRow> alerts;
};

// Pure: the row a route result becomes (evidence, layer statuses and errors,
// HTTP code and who wrote it; the key layer only as status and problems).
ResultRow resultRow(const RouteResult& r, int64_t ts_ms);

nlohmann::json toJson(const ResultRow& r);
nlohmann::json toJson(const TransitionRow& t);
nlohmann::json toJson(const AlertRow& a);

class History {
 public:
  // Opens (creating parent-less files only; the directory must exist) and
  // migrates. Throws HistoryError.
  explicit History(const std::string& path);
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  const std::string& path() const { return path_; }

  // One transaction; throws HistoryError (the batch is then rolled back).
  void write(const HistoryBatch& batch);

  HistoryAnswer query(const HistoryQuery& q);

  // Deletes rows older than `cutoff_ms`, at most `batch` per table per call;
  // returns how many rows went. Call again while it returns > 0.
  int64_t pruneOlderThan(int64_t cutoff_ms, int batch);
  // Deletes the oldest rows, at most `batch` per call, while the database
  // is larger than max_bytes. Returns rows deleted.
  int64_t pruneToSize(uint64_t max_bytes, int batch);

  uint64_t sizeBytes();         // page_count * page_size (live pages)
  int64_t countResults();
  std::string integrityCheck();  // "ok" when fine
  int schemaVersion();
  void checkpoint();             // PRAGMA wal_checkpoint(TRUNCATE), at shutdown

  sqlite3* raw() { return db_; }

 private:
  sqlite3_stmt* prepare(const char* sql);
  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_result_ = nullptr;
  sqlite3_stmt* insert_transition_ = nullptr;
  sqlite3_stmt* insert_alert_ = nullptr;
};

}  // namespace pathwatch
