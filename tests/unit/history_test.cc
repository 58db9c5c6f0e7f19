// History on a real SQLite file in a temp dir: writes, queries, retention by
// age and size, the v1 -> v2 migration, and that keys never reach a row.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "history.h"
#include "time_util.h"

namespace pathwatch {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/pathwatch-history-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

RouteResult sampleResult(const std::string& provider, const std::string& route, Verdict v) {
  RouteResult r;
  r.provider = provider;
  r.route = route;
  r.verdict = v;
  r.evidence = {"HTTP 403 from the provider", "error.code unsupported_country_region_territory"};
  r.key.status = LayerStatus::Ok;
  r.key.source = "env:OPENAI_API_KEY";
  r.key.fingerprint = "sk-proj…MxYA";
  r.dns.status = LayerStatus::Ok;
  r.dns.ms = 3.5;
  r.tcp.status = LayerStatus::Ok;
  r.tcp.ms = 12;
  r.tls.status = LayerStatus::Ok;
  r.tls.ms = 30;
  r.http.status = LayerStatus::Ok;
  r.http.code = 403;
  r.http.ms = 80;
  r.egress = Egress{"203.0.113.7", "HK", "HKG", "openai"};
  r.ms = 130;
  return r;
}

TEST(History, WritesAndQueriesByProviderRouteAndTime) {
  TempDir d;
  History h((d.path / "h.db").string());
  EXPECT_EQ(h.schemaVersion(), kHistorySchemaVersion);
  HistoryBatch b;
  b.results.push_back(resultRow(sampleResult("openai", "default", Verdict::RegionBlocked), 1000));
  b.results.push_back(resultRow(sampleResult("openai", "vpn", Verdict::Ok), 2000));
  b.results.push_back(resultRow(sampleResult("anthropic", "default", Verdict::Ok), 3000));
  b.transitions.push_back({1000, "openai", "default", "ok", "region_blocked", "region", "s"});
  b.alerts.push_back({1500, {{"event", "problem"}, {"provider", "openai"}, {"route", "default"}}});
  b.alerts.push_back({1600, {{"event", "egress_changed"}, {"provider", nullptr}}});
  h.write(b);

  HistoryQuery q;
  q.provider = "openai";
  q.transitions = q.alerts = true;
  auto a = h.query(q);
  ASSERT_EQ(a.results.size(), 2u);
  EXPECT_EQ(a.results[0].route, "vpn");  // newest first
  EXPECT_EQ(a.results[1].verdict, "region_blocked");
  EXPECT_EQ(a.results[1].cause, "region");
  EXPECT_EQ(a.results[1].egress_country, "HK");
  ASSERT_TRUE(a.results[1].tcp_ms);
  EXPECT_DOUBLE_EQ(*a.results[1].tcp_ms, 12);
  ASSERT_EQ(a.transitions.size(), 1u);
  EXPECT_EQ(a.transitions[0].after, "region_blocked");
  EXPECT_EQ(a.alerts.size(), 2u) << "provider-less alerts match every provider";

  q.route = "default";
  q.since_ms = 500;
  EXPECT_EQ(h.query(q).results.size(), 1u);
  q.since_ms = 1001;
  EXPECT_EQ(h.query(q).results.size(), 0u);
  HistoryQuery lim;
  lim.limit = 1;
  EXPECT_EQ(h.query(lim).results.size(), 1u);
}

TEST(History, RowsNeverCarryTheKeyOrItsFingerprint) {
  const std::string key = "sk-proj-Zx81hQ2mPq7LkV3nB5tRc9WdE4yUaF6gHj0sMxYA";
  auto r = sampleResult("openai", "default", Verdict::AuthFailed);
  r.key.fingerprint = "sk-proj…MxYA";
  auto row = resultRow(r, 1);
  std::string dumped = row.evidence.dump() + toJson(row).dump();
  EXPECT_EQ(dumped.find(key), std::string::npos);
  EXPECT_EQ(dumped.find("MxYA"), std::string::npos);
  EXPECT_EQ(dumped.find("sk-proj"), std::string::npos);
}

TEST(History, RetentionByAgeRunsInBatches) {
  TempDir d;
  History h((d.path / "h.db").string());
  HistoryBatch b;
  for (int i = 0; i < 250; ++i)
    b.results.push_back(resultRow(sampleResult("openai", "default", Verdict::Ok), i));
  for (int i = 0; i < 10; ++i) b.transitions.push_back({i, "openai", "default", "ok", "x", "y", ""});
  h.write(b);
  int calls = 0;
  int64_t gone = 0, n;
  while ((n = h.pruneOlderThan(200, 50)) > 0) {
    gone += n;
    ++calls;
  }
  EXPECT_EQ(gone, 200 + 10);
  EXPECT_GE(calls, 4) << "small batches, never one huge delete";
  EXPECT_EQ(h.countResults(), 50);
  EXPECT_EQ(h.integrityCheck(), "ok");
}

TEST(History, RetentionBySizeDropsOldestFirst) {
  TempDir d;
  History h((d.path / "h.db").string());
  for (int batch = 0; batch < 20; ++batch) {
    HistoryBatch b;
    for (int i = 0; i < 200; ++i) {
      auto r = sampleResult("openai", "default", Verdict::Ok);
      r.evidence.assign(4, std::string(200, 'e'));
      b.results.push_back(resultRow(r, batch * 1000 + i));
    }
    h.write(b);
  }
  uint64_t before = h.sizeBytes();
  uint64_t cap = before / 4;
  int64_t n;
  while ((n = h.pruneToSize(cap, 100)) > 0) {
  }
  EXPECT_LE(h.sizeBytes(), cap);
  HistoryQuery q;
  q.limit = 100000;
  auto rows = h.query(q).results;
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front().ts_ms, 19 * 1000 + 199) << "the newest row survives";
  EXPECT_GT(rows.back().ts_ms, 0) << "the oldest went first";
}

TEST(History, MigratesVersionOneWithRowsIntact) {
  TempDir d;
  auto path = (d.path / "v1.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    createHistorySchemaV1(db);
    execSql(db,
            "INSERT INTO results (ts, provider, route, verdict, evidence) VALUES "
            "('2026-11-01T10:00:00Z','openai','default','rate_limited','[\"429 from provider\"]'),"
            "('2026-11-02T10:00:00Z','anthropic','vpn','ok','[]'),"
            "('2026-11-03T10:00:00Z','gemini','default','region_blocked','not json');"
            "INSERT INTO transitions (ts, provider, route, before, after) VALUES "
            "('2026-11-01T10:00:00Z','openai','default','ok','rate_limited');",
            "seeding v1");
    EXPECT_EQ(historySchemaVersion(db), 1);
    sqlite3_close(db);
  }
  History h(path);
  EXPECT_EQ(h.schemaVersion(), kHistorySchemaVersion) << "v1 migrates through v2 to the current";
  EXPECT_EQ(h.countResults(), 3);
  HistoryQuery q;
  q.transitions = true;
  auto a = h.query(q);
  ASSERT_EQ(a.results.size(), 3u);
  EXPECT_EQ(a.results[2].provider, "openai");
  EXPECT_EQ(a.results[2].ts_ms, *msFromIso("2026-11-01T10:00:00Z"));
  EXPECT_EQ(a.results[2].cause, "usage");
  EXPECT_EQ(a.results[2].evidence["evidence"][0], "429 from provider");
  EXPECT_EQ(a.results[0].cause, "region");
  ASSERT_EQ(a.transitions.size(), 1u);
  EXPECT_EQ(a.transitions[0].cause, "usage");
  EXPECT_EQ(h.integrityCheck(), "ok");
  // The new columns and tables work after the migration.
  HistoryBatch b;
  b.results.push_back(resultRow(sampleResult("openai", "default", Verdict::Ok), 5));
  b.alerts.push_back({5, {{"event", "resolved"}}});
  EXPECT_NO_THROW(h.write(b));
}

TEST(History, RefusesANewerSchema) {
  TempDir d;
  auto path = (d.path / "v9.db").string();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  execSql(db, "CREATE TABLE schema_version (version INTEGER); INSERT INTO schema_version VALUES (9);",
          "seed");
  sqlite3_close(db);
  EXPECT_THROW(History h(path), HistoryError);
}

TEST(History, UnopenablePathIsAClearError) {
  try {
    History h("/nonexistent-dir-pathwatch/x/h.db");
    FAIL() << "expected HistoryError";
  } catch (const HistoryError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-pathwatch/x/h.db"), std::string::npos);
  }
}

TEST(TimeUtil, IsoRoundTrip) {
  auto ms = msFromIso("2026-11-27T21:00:00Z");
  ASSERT_TRUE(ms);
  EXPECT_EQ(isoFromMs(*ms), "2026-11-27T21:00:00Z");
  EXPECT_EQ(*msFromIso("2026-11-27T21:00:00.250Z") - *ms, 250);
  EXPECT_FALSE(msFromIso("2026-11-27 21:00:00"));
  EXPECT_FALSE(msFromIso("garbage"));
}

}  // namespace
}  // namespace pathwatch
