#pragma once
// The history database's versioned schema. Version 1 (the first release) kept
// ISO text timestamps and only the verdict; version 2 keeps Unix-ms
// timestamps, cause, egress, per-layer timings, an alerts table and indexes;
// version 3 adds the indexes (provider, ts) on results and transitions, so a
// query for one provider over all its routes reads that provider's window in
// order instead of sorting all its rows.
// Migrations run in one transaction each, so a crash leaves the old version.
#include <sqlite3.h>

#include <stdexcept>
#include <string>

namespace pathwatch {

inline constexpr int kHistorySchemaVersion = 3;

struct HistoryError : std::runtime_error {
  explicit HistoryError(const std::string& what, int sqlite_code = 0)
      : std::runtime_error(what), code(sqlite_code) {}
  int code;  // the SQLite result code when SQLite said no (SQLITE_FULL, SQLITE_BUSY, ...)
};

// The v1 DDL as it shipped; kept so tests can build a v1 database and the
// migration has something definite to migrate from.
extern const char* const kHistorySchemaV1;
extern const char* const kHistorySchemaV2;
extern const char* const kHistorySchemaV3;

// 0 for an empty database (no schema_version table).
int historySchemaVersion(sqlite3* db);

// Creates the current schema in an empty database, or migrates an older one
// up to kHistorySchemaVersion. Throws HistoryError (a newer version than this
// build knows is an error: never downgrade someone's data).
void ensureHistorySchema(sqlite3* db);

// For tests: creates the v1 or v2 schema in an empty database.
void createHistorySchemaV1(sqlite3* db);
void createHistorySchemaV2(sqlite3* db);

// Runs SQL that returns no rows; throws HistoryError with `what` on failure.
void execSql(sqlite3* db, const char* sql, const char* what);

}  // namespace pathwatch
