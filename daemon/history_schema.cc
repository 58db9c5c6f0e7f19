#include "history_schema.h"

#include <string>

#include "pathwatch/verdict.h"

namespace pathwatch {

const char* const kHistorySchemaV1 = R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
CREATE TABLE results (
  id INTEGER PRIMARY KEY,
  ts TEXT NOT NULL,
  provider TEXT NOT NULL,
  route TEXT NOT NULL,
  verdict TEXT NOT NULL,
  evidence TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE transitions (
  id INTEGER PRIMARY KEY,
  ts TEXT NOT NULL,
  provider TEXT NOT NULL,
  route TEXT NOT NULL,
  before TEXT NOT NULL,
  after TEXT NOT NULL
);
)sql";

const char* const kHistorySchemaV2 = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE results (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  provider TEXT NOT NULL,
  route TEXT NOT NULL,
  verdict TEXT NOT NULL,
  cause TEXT NOT NULL,
  egress_ip TEXT,
  egress_country TEXT,
  egress_colo TEXT,
  dns_ms REAL,
  tcp_ms REAL,
  tls_ms REAL,
  http_ms REAL,
  total_ms REAL,
  evidence TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX results_provider_route_ts ON results (provider, route, ts);
CREATE INDEX results_ts ON results (ts);
CREATE TABLE transitions (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  provider TEXT NOT NULL,
  route TEXT NOT NULL,
  before TEXT NOT NULL,
  after TEXT NOT NULL,
  cause TEXT NOT NULL DEFAULT 'unknown',
  summary TEXT NOT NULL DEFAULT ''
);
CREATE INDEX transitions_provider_route_ts ON transitions (provider, route, ts);
CREATE INDEX transitions_ts ON transitions (ts);
CREATE TABLE alerts (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  provider TEXT,
  route TEXT,
  event TEXT NOT NULL
);
CREATE INDEX alerts_provider_ts ON alerts (provider, ts);
CREATE INDEX alerts_ts ON alerts (ts);
)sql";

// Added in v3 on top of v2.
const char* const kHistorySchemaV3 = R"sql(
CREATE INDEX results_provider_ts ON results (provider, ts);
CREATE INDEX transitions_provider_ts ON transitions (provider, ts);
DELETE FROM schema_version;
INSERT INTO schema_version (version) VALUES (3);
)sql";

void execSql(sqlite3* db, const char* sql, const char* what) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = std::string(what) + ": " + (err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    throw HistoryError(msg, sqlite3_extended_errcode(db));
  }
}

int historySchemaVersion(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'",
                         -1, &st, nullptr) != SQLITE_OK)
    throw HistoryError(std::string("reading the schema: ") + sqlite3_errmsg(db));
  bool has = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  if (!has) return 0;
  if (sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &st, nullptr) !=
      SQLITE_OK)
    throw HistoryError(std::string("reading the schema version: ") + sqlite3_errmsg(db));
  int v = 0;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return v;
}

namespace {

// cause_of(verdict) for the v1 -> v2 migration: v1 kept no cause.
void sqlCauseOf(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const auto* text = sqlite3_value_text(argv[0]);
  std::string_view v = text ? reinterpret_cast<const char*>(text) : "";
  auto verdict = verdictFromString(v);
  auto cause = toString(verdict ? causeOf(*verdict) : Cause::Unknown);
  sqlite3_result_text(ctx, cause.data(), static_cast<int>(cause.size()), SQLITE_TRANSIENT);
}

// ISO text (v1) -> Unix ms (v2); rows with unreadable times keep 0 and are
// pruned by retention rather than lost silently during the migration.
const char* const kMigrateV1ToV2 = R"sql(
ALTER TABLE results RENAME TO results_v1;
ALTER TABLE transitions RENAME TO transitions_v1;
)sql";

const char* const kCopyV1ToV2 = R"sql(
INSERT INTO results (id, ts, provider, route, verdict, cause, evidence)
  SELECT id,
         COALESCE(CAST(round((julianday(ts) - 2440587.5) * 86400000.0) AS INTEGER), 0),
         provider, route, verdict, pathwatch_cause_of(verdict),
         json_object('evidence', json(CASE WHEN json_valid(evidence) THEN evidence ELSE '[]' END))
  FROM results_v1;
INSERT INTO transitions (id, ts, provider, route, before, after, cause)
  SELECT id,
         COALESCE(CAST(round((julianday(ts) - 2440587.5) * 86400000.0) AS INTEGER), 0),
         provider, route, before, after, pathwatch_cause_of(after)
  FROM transitions_v1;
DROP TABLE results_v1;
DROP TABLE transitions_v1;
DELETE FROM schema_version;
INSERT INTO schema_version (version) VALUES (2);
)sql";

void createCurrent(sqlite3* db) {
  execSql(db, "BEGIN IMMEDIATE", "starting the schema transaction");
  try {
    execSql(db, kHistorySchemaV2, "creating the schema");
    execSql(db, kHistorySchemaV3, "creating the schema (v3)");
    execSql(db, "COMMIT", "committing the schema");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void migrateV1ToV2(sqlite3* db) {
  sqlite3_create_function(db, "pathwatch_cause_of", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                          nullptr, sqlCauseOf, nullptr, nullptr);
  execSql(db, "BEGIN IMMEDIATE", "starting the v1->v2 migration");
  try {
    execSql(db, kMigrateV1ToV2, "migrating v1->v2 (rename)");
    execSql(db, kHistorySchemaV2, "migrating v1->v2 (create)");
    execSql(db, kCopyV1ToV2, "migrating v1->v2 (copy)");
    execSql(db, "COMMIT", "committing the v1->v2 migration");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void migrateV2ToV3(sqlite3* db) {
  execSql(db, "BEGIN IMMEDIATE", "starting the v2->v3 migration");
  try {
    execSql(db, kHistorySchemaV3, "migrating v2->v3 (index)");
    execSql(db, "COMMIT", "committing the v2->v3 migration");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace

void createHistorySchemaV2(sqlite3* db) {
  execSql(db, "BEGIN IMMEDIATE", "starting the v2 schema");
  execSql(db, kHistorySchemaV2, "creating the v2 schema");
  execSql(db, "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (2);",
          "recording the v2 schema version");
  execSql(db, "COMMIT", "committing the v2 schema");
}

void createHistorySchemaV1(sqlite3* db) {
  execSql(db, "BEGIN IMMEDIATE", "starting the v1 schema");
  execSql(db, kHistorySchemaV1, "creating the v1 schema");
  execSql(db, "COMMIT", "committing the v1 schema");
}

void ensureHistorySchema(sqlite3* db) {
  int v = historySchemaVersion(db);
  if (v > kHistorySchemaVersion)
    throw HistoryError("history database has schema version " + std::to_string(v) +
                       ", newer than this pathwatchd understands (" +
                       std::to_string(kHistorySchemaVersion) + "); refusing to touch it");
  if (v == 0) {
    createCurrent(db);
    return;
  }
  if (v == 1) {
    migrateV1ToV2(db);
    v = 2;
  }
  if (v == 2) migrateV2ToV3(db);
}

}  // namespace pathwatch
