// History on a real SQLite file in a temp dir: writes, queries, retention by
// age and size, the v1 -> v2 -> v3 migrations, query plans, the last verdict
// per pair, the history command's request and answer, the failure log's
// rate limit, and that keys never reach a row.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "failure_log.h"
#include "history.h"
#include "history_command.h"
#include "pathwatch/clock.h"

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

// SQLite's default cache (2 MB per connection) made the daemon's RSS creep for
// many minutes as the file grew; every connection, writer and reader, is bounded.
TEST(History, EveryConnectionBoundsItsPageCache) {
  TempDir d;
  const std::string path = (d.path / "h.db").string();
  History writer(path);
  EXPECT_EQ(writer.pageCacheKib(), 512);
  HistoryOptions ro;
  ro.read_only = true;
  ro.cache_kib = 256;
  History reader(path, ro);
  EXPECT_EQ(reader.pageCacheKib(), 256);
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


TEST(History, MigratesVersionTwoKeepingRowsAndAddingTheProviderIndex) {
  TempDir d;
  auto path = (d.path / "v2.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    createHistorySchemaV2(db);
    execSql(db,
            "INSERT INTO results (ts, provider, route, verdict, cause, evidence) VALUES "
            "(10, 'openai', 'default', 'ok', 'none', '{}'),"
            "(20, 'openai', 'vpn', 'region_blocked', 'region', '{}');",
            "seeding v2");
    EXPECT_EQ(historySchemaVersion(db), 2);
    sqlite3_close(db);
  }
  History h(path);
  EXPECT_EQ(h.schemaVersion(), 3);
  EXPECT_EQ(h.countResults(), 2);
  HistoryQuery q;
  q.provider = "openai";
  q.since_ms = 0;
  auto plan = h.queryPlan(q);
  ASSERT_FALSE(plan.empty());
  EXPECT_NE(plan[0].find("results_provider_ts"), std::string::npos) << plan[0];
  EXPECT_EQ(h.query(q).results.size(), 2u);
  EXPECT_EQ(h.integrityCheck(), "ok");
}

// Every shape the history command sends reads an index in order: no full
// scan of results and no sort of a provider's whole history.
TEST(History, QueriesUseAnIndexAndNeverSortResults) {
  TempDir d;
  History h((d.path / "h.db").string());
  HistoryBatch b;
  for (int i = 0; i < 200; ++i)
    b.results.push_back(resultRow(
        sampleResult("p" + std::to_string(i % 4), "r" + std::to_string(i % 3), Verdict::Ok), i));
  h.write(b);
  execSql(h.raw(), "ANALYZE", "analyze");
  for (int shape = 0; shape < 4; ++shape) {
    HistoryQuery q;
    q.since_ms = 50;
    q.transitions = q.alerts = true;
    if (shape & 1) q.provider = "p1";
    if (shape & 2) q.route = "r1";
    std::string all;
    for (const auto& line : h.queryPlan(q)) all += line + "\n";
    SCOPED_TRACE(all);
    for (const auto& line : h.queryPlan(q)) {
      if (line.rfind("results:", 0) != 0 && line.rfind("transitions:", 0) != 0) continue;
      EXPECT_NE(line.find("USING"), std::string::npos) << line;
      EXPECT_EQ(line.find("TEMP B-TREE"), std::string::npos) << line;
      EXPECT_EQ(line.find("SCAN results"), std::string::npos) << line;
    }
  }
}

TEST(History, LastVerdictsAreTheNewestRowOfEachPair) {
  TempDir d;
  History h((d.path / "h.db").string());
  EXPECT_TRUE(h.lastVerdicts().empty());
  HistoryBatch b;
  // Out of order on purpose: the newest ts wins, not the last inserted.
  b.results.push_back(resultRow(sampleResult("openai", "default", Verdict::Ok), 300));
  b.results.push_back(resultRow(sampleResult("openai", "default", Verdict::RegionBlocked), 100));
  b.results.push_back(resultRow(sampleResult("openai", "vpn", Verdict::RateLimited), 50));
  b.results.push_back(resultRow(sampleResult("anthropic", "default", Verdict::Ok), 10));
  // Same ts: the later row (higher id) wins.
  b.results.push_back(resultRow(sampleResult("anthropic", "default", Verdict::AuthFailed), 10));
  h.write(b);
  std::map<std::pair<std::string, std::string>, std::string> got;
  for (const auto& v : h.lastVerdicts()) got[{v.provider, v.route}] = v.verdict;
  std::map<std::pair<std::string, std::string>, std::string> want = {
      {{"openai", "default"}, "ok"},
      {{"openai", "vpn"}, "rate_limited"},
      {{"anthropic", "default"}, "auth_failed"}};
  EXPECT_EQ(got, want);
}

TEST(History, PruneStepDeletesByAgeAndSizeInOneTransaction) {
  TempDir d;
  History h((d.path / "h.db").string());
  HistoryBatch b;
  for (int i = 0; i < 120; ++i)
    b.results.push_back(resultRow(sampleResult("openai", "default", Verdict::Ok), i));
  b.transitions.push_back({5, "openai", "default", "ok", "x", "y", ""});
  h.write(b);
  EXPECT_EQ(h.pruneStep(100, 0, 40), 41) << "40 results and the transition";
  EXPECT_EQ(h.pruneStep(100, 0, 40), 40);
  EXPECT_EQ(h.pruneStep(100, 0, 40), 20);
  EXPECT_EQ(h.pruneStep(100, 0, 40), 0);
  EXPECT_EQ(h.countResults(), 20);
  EXPECT_EQ(h.pruneStep(0, 1, 5), 5) << "over the size cap: the oldest go";
  EXPECT_EQ(h.countResults(), 15);
}

TEST(History, ReadOnlyConnectionReadsButNeverWrites) {
  TempDir d;
  auto path = (d.path / "h.db").string();
  History w(path);
  HistoryBatch b;
  b.results.push_back(resultRow(sampleResult("openai", "default", Verdict::Ok), 1));
  w.write(b);
  HistoryOptions o;
  o.read_only = true;
  History r(path, o);
  EXPECT_EQ(r.countResults(), 1);
  try {
    r.write(b);
    FAIL() << "a read-only connection wrote";
  } catch (const HistoryError& e) {
    EXPECT_EQ(e.code & 0xff, SQLITE_READONLY) << e.what();
  }
  w.write(b);  // the writer goes on while the reader is open
  EXPECT_EQ(r.countResults(), 2);
}

TEST(History, OwnCheckpointsLeaveTheWalAlone) {
  TempDir d;
  HistoryOptions o;
  o.auto_checkpoint = false;
  History h((d.path / "h.db").string(), o);
  for (int k = 0; k < 60; ++k) {
    HistoryBatch b;
    for (int i = 0; i < 50; ++i) {
      auto r = sampleResult("openai", "default", Verdict::Ok);
      r.evidence.assign(4, std::string(200, 'e'));
      b.results.push_back(resultRow(r, k * 100 + i));
    }
    h.write(b);
  }
  // SQLite's own checkpoint would have run at 1000 frames and started over.
  EXPECT_GT(h.walFrames(), 1000);
  auto c = h.checkpoint(SQLITE_CHECKPOINT_TRUNCATE);
  EXPECT_EQ(c.rc, SQLITE_OK);
  EXPECT_EQ(h.walFrames(), 0);
  EXPECT_EQ(std::filesystem::file_size(d.path / "h.db-wal"), 0u);
}

TEST(HistoryCommand, ParsesArgumentsAndRejectsBadOnes) {
  const int64_t now = 1'000'000'000'000;
  auto q = parseHistoryRequest(nlohmann::json{{"cmd", "history"}}, now);
  EXPECT_EQ(q.since_ms, now - 24ll * 3600 * 1000);
  EXPECT_EQ(q.limit, 100);
  EXPECT_TRUE(q.results);
  EXPECT_FALSE(q.transitions);
  EXPECT_FALSE(q.provider);
  q = parseHistoryRequest({{"provider", "openai"},
                           {"route", "vpn"},
                           {"since", "2h"},
                           {"transitions", true},
                           {"results", false},
                           {"limit", 7}},
                          now);
  EXPECT_EQ(*q.provider, "openai");
  EXPECT_EQ(*q.route, "vpn");
  EXPECT_EQ(q.since_ms, now - 2ll * 3600 * 1000);
  EXPECT_TRUE(q.transitions);
  EXPECT_FALSE(q.results);
  EXPECT_EQ(q.limit, 7);
  EXPECT_EQ(parseHistoryRequest({{"since", "2026-11-27T21:00:00Z"}}, now).since_ms,
            *msFromIso("2026-11-27T21:00:00Z"));
  for (nlohmann::json bad : {nlohmann::json{{"since", "yesterday"}}, {{"limit", -1}},
                             {{"limit", 10001}}, {{"limit", "ten"}}, {{"provider", 7}},
                             {{"transitions", "yes"}}})
    EXPECT_THROW(parseHistoryRequest(bad, now), std::invalid_argument) << bad.dump();
}

TEST(HistoryCommand, AnswerHasOnlyTheListsAskedFor) {
  HistoryQuery q;
  q.since_ms = *msFromIso("2026-11-27T21:00:00Z");
  q.transitions = true;
  HistoryAnswer a;
  a.results.push_back(resultRow(sampleResult("openai", "default", Verdict::RegionBlocked),
                                *msFromIso("2026-11-27T22:00:00Z")));
  a.transitions.push_back({q.since_ms, "openai", "default", "ok", "region_blocked", "region", "s"});
  auto j = historyAnswerJson(q, a);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["since"], "2026-11-27T21:00:00Z");
  ASSERT_EQ(j["results"].size(), 1u);
  EXPECT_EQ(j["results"][0]["verdict"], "region_blocked");
  EXPECT_EQ(j["results"][0]["at"], "2026-11-27T22:00:00Z");
  EXPECT_EQ(j["results"][0]["layers"]["http"]["code"], 403);
  EXPECT_EQ(j["transitions"][0]["after"], "region_blocked");
  EXPECT_FALSE(j.contains("alerts"));
}

// The reader sends historyAnswerLine(); it must be byte for byte the dump of
// the JSON answer the command always sent, for every kind of row.
TEST(HistoryCommand, AnswerLineIsExactlyTheDumpOfTheJsonAnswer) {
  TempDir d;
  auto path = (d.path / "v1.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    createHistorySchemaV1(db);
    execSql(db,
            "INSERT INTO results (ts, provider, route, verdict, evidence) VALUES "
            "('2026-11-01T10:00:00Z','openai','default','rate_limited','[\"429 \u00e9\"]'),"
            "('2026-11-02T10:00:00Z','gemini','default','region_blocked','not json');",
            "seeding v1");
    sqlite3_close(db);
  }
  History h(path);
  int64_t t0 = *msFromIso("2026-11-03T10:00:00Z");
  HistoryBatch b;
  b.results.push_back(resultRow(sampleResult("openai", "default", Verdict::RegionBlocked), t0));
  auto odd = sampleResult("anthr\"opic", "r\tq\x01", Verdict::Ok);
  odd.evidence = {"quote \" backslash \\ newline \n tab \t", "ünïcödé ✓", "bad \xff utf8",
                  "ctl \x1f"};
  odd.egress.reset();
  odd.dns.status = LayerStatus::Skipped;
  odd.tls.ms = 0.1 + 0.2;
  odd.ms = 1e-7;
  b.results.push_back(resultRow(odd, t0 + 1));
  auto partial = sampleResult("openai", "vpn", Verdict::Ok);
  partial.egress = Egress{"", "HK", "", ""};
  b.results.push_back(resultRow(partial, t0 + 2));
  b.transitions.push_back({t0, "openai", "default", "ok", "region_blocked", "region", "s \"q\""});
  b.alerts.push_back({t0, {{"event", "problem"}, {"provider", "openai"}, {"evidence", {"x"}}}});
  b.alerts.push_back({t0 + 5, {{"event", "egress_changed"}, {"provider", nullptr}}});
  h.write(b);
  execSql(h.raw(), "INSERT INTO alerts (ts, event) VALUES (5, 'not json')", "bad alert");
  for (int shape = 0; shape < 16; ++shape) {
    HistoryQuery q;
    q.since_ms = 0;
    q.results = shape & 1;
    q.transitions = shape & 2;
    q.alerts = shape & 4;
    if (shape & 8) q.provider = "openai";
    std::string want = historyAnswerJson(q, h.query(q))
                           .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    EXPECT_EQ(historyAnswerLine(q, h), want) << "shape " << shape;
  }
  HistoryQuery all;
  all.since_ms = 0;
  EXPECT_EQ(nlohmann::json::parse(historyAnswerLine(all, h))["results"].size(), 5u);
}

TEST(FailureLog, FirstFailureAtOnceThenOneSummaryPerIntervalThenRecovery) {
  FailureLog log("history writes", 60000);
  EXPECT_FALSE(log.succeeded(0)) << "nothing to recover from";
  auto first = log.failed(1000, "database or disk is full", "3 rows queued");
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "history writes failing: database or disk is full; 3 rows queued");
  for (int64_t t = 2000; t < 61000; t += 1000) EXPECT_FALSE(log.failed(t, "disk full")) << t;
  auto summary = log.failed(61000, "disk full");
  ASSERT_TRUE(summary);
  EXPECT_NE(summary->find("60 more failures in the last 60 s (last: disk full)"),
            std::string::npos)
      << *summary;
  EXPECT_FALSE(log.failed(62000, "disk full"));
  auto back = log.succeeded(90000);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, "history writes working again after 62 failures over 89 s");
  EXPECT_FALSE(log.failing());
  EXPECT_EQ(log.failures(), 62u);
  EXPECT_TRUE(log.failed(91000, "locked")) << "a new run of failures is said at once";
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
