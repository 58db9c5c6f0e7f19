#pragma once
// The history: every route result, every verdict transition and every alert,
// in SQLite (WAL, synchronous=NORMAL). Writes happen in one short transaction
// per batch with prepared statements; retention runs in small batches.
// Keys never reach the database: rows carry verdicts, timings and scrubbed
// evidence only.
//
// A History is one connection and is used by one thread at a time. In the
// daemon the HistoryWriter's thread owns the read-write one (checkpoints on
// its own schedule) and the HistoryReader's thread a read-only one; nothing
// here runs on the loop thread after startup.
#include <sqlite3.h>

#include <cstdint>
#include <functional>
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

// `s` as a JSON string, exactly as nlohmann's dump (error_handler replace) writes it.
void appendJsonString(std::string& out, std::string_view s);

struct HistoryOptions {
  // Read-only connection (queries only): never creates, migrates or writes.
  bool read_only = false;
  // False: wal_autocheckpoint off; the owner checkpoints (checkpoint()).
  bool auto_checkpoint = true;
  int busy_timeout_ms = 2000;
  // SQLite's page cache for this connection. Its default (2 MB) fills slowly
  // as the file grows and shows up as RSS creeping for many minutes; the
  // writer appends at the ends of its indexes and a reader's cache is dropped
  // whenever the writer commits, so a small bound costs them little.
  int cache_kib = 512;
};

// The newest verdict of one (provider, route).
struct LastVerdict {
  std::string provider, route, verdict;
};

struct CheckpointResult {
  int rc = 0;  // SQLITE_OK, or SQLITE_BUSY when readers kept it from finishing
  int wal_frames = 0, checkpointed = 0;
};

class History {
 public:
  // Opens (creating parent-less files only; the directory must exist) and
  // migrates. Throws HistoryError.
  explicit History(const std::string& path, HistoryOptions options = {});
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  const std::string& path() const { return path_; }

  // One transaction; throws HistoryError (the batch is then rolled back).
  // `before_commit` (tests) runs inside the transaction, after the inserts.
  void write(const HistoryBatch& batch, const std::function<void()>& before_commit = {});

  HistoryAnswer query(const HistoryQuery& q);
  // The rows query(q) finds, as the JSON arrays the history command sends,
  // byte for byte what nlohmann's dump of toJson() of each row gives, but
  // without parsing the stored evidence: SQLite's `->` cuts it, the rest is
  // written directly. Appends "[...]" to `out`.
  void resultsJson(const HistoryQuery& q, std::string& out);
  void transitionsJson(const HistoryQuery& q, std::string& out);
  void alertsJson(const HistoryQuery& q, std::string& out);

  // EXPLAIN QUERY PLAN of the statements query(q) runs, one line per step
  // ("results: SEARCH results USING INDEX ..."), to check they use indexes.
  std::vector<std::string> queryPlan(const HistoryQuery& q);

  // The newest result's verdict of every pair that has results: one seek per
  // pair on the (provider, route, ts) index, however many rows there are.
  std::vector<LastVerdict> lastVerdicts();

  // Deletes rows older than `cutoff_ms`, at most `batch` per table per call;
  // returns how many rows went. Call again while it returns > 0.
  int64_t pruneOlderThan(int64_t cutoff_ms, int batch);
  // Deletes the oldest rows, at most `batch` per call, while the database
  // is larger than max_bytes. Returns rows deleted.
  int64_t pruneToSize(uint64_t max_bytes, int batch);
  // One retention step in one transaction: up to `batch` rows per table older
  // than cutoff_ms, then up to `batch` oldest results while larger than
  // max_bytes (0: no size limit). Returns rows deleted; throws HistoryError.
  int64_t pruneStep(int64_t cutoff_ms, uint64_t max_bytes, int batch);

  uint64_t sizeBytes();         // page_count * page_size (live pages)
  int64_t pageCacheKib();       // the bound on this connection's page cache
  int64_t countResults();
  std::string integrityCheck();  // "ok" when fine
  int schemaVersion();
  void checkpoint();             // PRAGMA wal_checkpoint(TRUNCATE), at shutdown
  // SQLITE_CHECKPOINT_PASSIVE (never waits) or _TRUNCATE (waits for readers
  // up to the busy timeout, then empties the WAL file).
  CheckpointResult checkpoint(int mode);
  // Frames in the WAL after the last commit on this connection.
  int walFrames() const { return wal_frames_; }

  sqlite3* raw() { return db_; }

 private:
  sqlite3_stmt* prepare(const char* sql);
  std::string querySql(const char* table, const HistoryQuery& q, bool as_json = false) const;
  void bindQuery(sqlite3_stmt* st, const HistoryQuery& q) const;
  int64_t deleteOlderThan(int64_t cutoff_ms, int batch);
  int64_t deleteOldestWhileLarger(uint64_t max_bytes, int batch);
  [[noreturn]] void fail(const std::string& what);
  std::string path_;
  sqlite3* db_ = nullptr;
  int wal_frames_ = 0;
  bool read_only_ = false;
  sqlite3_stmt* insert_result_ = nullptr;
  sqlite3_stmt* insert_transition_ = nullptr;
  sqlite3_stmt* insert_alert_ = nullptr;
};

}  // namespace pathwatch
