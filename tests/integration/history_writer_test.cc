// The history's threads on a real loop and real SQLite files: the writer
// acknowledges only committed batches, in order; a database locked by another
// connection or a full disk (a small tmpfs) makes writes fail without
// blocking the loop, the rows wait in a bounded queue and are all written
// when the lock goes or space returns; retention that fails once resumes; the
// history command answers through the reader with what was recorded before.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <vector>

#include "history_service.h"
#include "history_writer.h"
#include "support/daemon_harness.h"
#include "pathwatch/clock.h"

namespace pathwatch::daemon_test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Runs the loop until `done` (bounded); a 1 ms timer keeps it turning and
// records the longest gap between its ticks (how long the loop was held).
struct LoopRunner {
  uv_loop_t loop{};
  double max_gap_ms = 0;
  LoopRunner() { uv_loop_init(&loop); }
  ~LoopRunner() {
    uv_walk(
        &loop,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    struct Tick {
      uv_timer_t t;
      uint64_t last;
      double* max_gap;
    } tick{};
    uv_timer_init(&loop, &tick.t);
    tick.t.data = &tick;
    tick.last = uv_hrtime();
    tick.max_gap = &max_gap_ms;
    uv_timer_start(
        &tick.t,
        [](uv_timer_t* t) {
          auto* k = static_cast<Tick*>(t->data);
          uint64_t now = uv_hrtime();
          *k->max_gap = std::max(*k->max_gap, static_cast<double>(now - k->last) / 1e6);
          k->last = now;
        },
        1, 1);
    auto end = Clock::now() + timeout;
    while (!done() && Clock::now() < end) uv_run(&loop, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick.t), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
    return done();
  }
};

RouteResult result(int i, std::size_t evidence_bytes = 100) {
  RouteResult r;
  r.provider = i % 2 ? "openai" : "anthropic";
  r.route = "default";
  r.verdict = Verdict::Ok;
  r.evidence = {"result " + std::to_string(i), std::string(evidence_bytes, 'e')};
  r.ms = i;
  return r;
}

// Batch k holds results with ts k*1000 .. k*1000+n-1.
HistoryBatch batch(int k, int n, std::size_t evidence_bytes = 100) {
  HistoryBatch b;
  for (int i = 0; i < n; ++i)
    b.results.push_back(resultRow(result(i, evidence_bytes), k * 1000 + i));
  return b;
}

int64_t countRows(const std::string& path, const std::string& where = "1") {
  HistoryOptions o;
  o.read_only = true;
  History h(path, o);
  sqlite3_stmt* st = nullptr;
  std::string sql = "SELECT count(*) FROM results WHERE " + where;
  sqlite3_prepare_v2(h.raw(), sql.c_str(), -1, &st, nullptr);
  int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return n;
}

// Another process's connection holding the write lock.
struct WriteLock {
  sqlite3* db = nullptr;
  explicit WriteLock(const std::string& path) {
    sqlite3_open(path.c_str(), &db);
    EXPECT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  void release() {
    if (!db) return;
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    db = nullptr;
  }
  ~WriteLock() { release(); }
};

TEST(HistoryWriter, AcknowledgesEveryBatchInOrderAfterItCommitted) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  LoopRunner lr;
  HistoryWriter w(&lr.loop, path);
  std::vector<uint64_t> acked;
  w.onCommitted([&](uint64_t seq) {
    acked.push_back(seq);
    // Acknowledged means on disk: a fresh connection sees the whole batch.
    int k = static_cast<int>(seq);
    EXPECT_EQ(countRows(path, "ts >= " + std::to_string(k * 1000) + " AND ts < " +
                                  std::to_string(k * 1000 + 1000)),
              10)
        << "batch " << seq;
  });
  for (int k = 1; k <= 40; ++k) EXPECT_EQ(w.submit(batch(k, 10)), static_cast<uint64_t>(k));
  EXPECT_EQ(w.submit(HistoryBatch{}), 0u) << "an empty batch is not queued";
  ASSERT_TRUE(lr.runUntil([&] { return acked.size() == 40; }, 20s));
  for (std::size_t i = 0; i < acked.size(); ++i) EXPECT_EQ(acked[i], i + 1);
  auto s = w.stats();
  EXPECT_EQ(s.committed_rows, 400u);
  EXPECT_EQ(s.committed_batches, 40u);
  EXPECT_EQ(s.write_failures, 0u);
  EXPECT_EQ(s.queued_rows, 0u);
  EXPECT_FALSE(s.failing);
  EXPECT_EQ(w.shutdown(), 0u);
  EXPECT_EQ(countRows(path), 400);
  EXPECT_EQ(std::filesystem::file_size(path + "-wal"), 0u) << "shutdown truncates the WAL";
}

// The daemon lets a cycle's batches gather (linger): the ones submitted within
// it share one transaction; a batch alone still goes when the linger ends; a
// reader waiting (the history command) makes what is queued go at once.
TEST(HistoryWriter, BatchesWithinTheLingerShareOneTransaction) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  LoopRunner lr;
  HistoryWriterOptions o;
  o.linger = 2s;
  HistoryWriter w(&lr.loop, path, o);
  std::vector<uint64_t> acked;
  w.onCommitted([&](uint64_t seq) { acked.push_back(seq); });
  for (int k = 1; k <= 5; ++k) w.submit(batch(k, 10));
  ASSERT_TRUE(lr.runUntil([&] { return w.stats().committed_rows == 50; }, 10s));
  EXPECT_EQ(acked, std::vector<uint64_t>{5});
  EXPECT_EQ(w.stats().committed_batches, 1u);
  EXPECT_EQ(countRows(path), 50);

  auto t0 = Clock::now();
  w.submit(batch(6, 10));
  ASSERT_TRUE(lr.runUntil([&] { return w.stats().committed_batches == 2; }, 10s));
  EXPECT_GE(Clock::now() - t0, 1800ms) << "a lone batch waits out the linger";
  EXPECT_EQ(countRows(path), 60);

  t0 = Clock::now();
  w.submit(batch(7, 10));
  bool written = false;
  w.whenWritten([&] {
    written = true;
    EXPECT_EQ(countRows(path), 70) << "heard before its rows were committed";
  });
  ASSERT_TRUE(lr.runUntil([&] { return written; }, 10s));
  EXPECT_LT(Clock::now() - t0, 1500ms) << "a waiting reader does not wait for the linger";
  EXPECT_EQ(w.shutdown(), 0u);
}

TEST(HistoryWriter, LockedDatabaseNeverHoldsTheLoopAndEveryRowIsWrittenAfter) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  LoopRunner lr;
  HistoryWriterOptions o;
  o.busy_timeout_ms = 400;  // each attempt waits this long for the lock, off the loop
  o.retry_first = 50ms;
  o.retry_max = 200ms;
  HistoryWriter w(&lr.loop, path, o);
  WriteLock lock(path);
  for (int k = 1; k <= 10; ++k) w.submit(batch(k, 10));
  ASSERT_TRUE(lr.runUntil([&] { return w.stats().write_failures >= 3; }, 20s));
  auto s = w.stats();
  EXPECT_TRUE(s.failing);
  EXPECT_EQ(s.committed_rows, 0u);
  EXPECT_EQ(s.queued_rows, 100u);
  EXPECT_NE(s.last_error.find("locked"), std::string::npos) << s.last_error;
  EXPECT_LT(lr.max_gap_ms, 200) << "the loop waited for SQLite's busy timeout";
  // More results while it fails are queued behind, in order.
  for (int k = 11; k <= 15; ++k) w.submit(batch(k, 10));
  lock.release();
  ASSERT_TRUE(lr.runUntil([&] { return w.stats().committed_rows == 150; }, 20s));
  s = w.stats();
  EXPECT_FALSE(s.failing);
  EXPECT_EQ(s.dropped_rows, 0u);
  EXPECT_EQ(s.queued_rows, 0u);
  w.shutdown();
  EXPECT_EQ(countRows(path), 150);
  // In submission order: ids grow with the batches' ts.
  EXPECT_EQ(countRows(path, "id = (SELECT max(id) FROM results) AND ts = 15009"), 1);
}

TEST(HistoryWriter, QueueIsBoundedAndDropsTheOldestCounted) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  LoopRunner lr;
  HistoryWriterOptions o;
  o.busy_timeout_ms = 20;
  o.retry_first = 20ms;
  o.retry_max = 50ms;
  o.max_queued_rows = 30;
  HistoryWriter w(&lr.loop, path, o);
  {
    WriteLock lock(path);
    for (int k = 1; k <= 10; ++k) {
      w.submit(batch(k, 10));
      EXPECT_LE(w.stats().queued_rows, 40u) << "the bound, and the batch being written";
    }
    ASSERT_TRUE(lr.runUntil([&] { return w.stats().write_failures >= 2; }, 10s));
    EXPECT_LE(w.stats().queued_rows, 30u);
  }
  ASSERT_TRUE(lr.runUntil([&] { return w.stats().queued_rows == 0; }, 10s));
  auto s = w.stats();
  EXPECT_EQ(s.committed_rows, 30u);
  EXPECT_EQ(s.dropped_rows, 70u);
  EXPECT_EQ(s.dropped_batches, 7u);
  w.shutdown();
  EXPECT_EQ(countRows(path), 30);
  EXPECT_EQ(countRows(path, "ts < 8000"), 0) << "the oldest went, the newest stayed";
}

TEST(HistoryWriter, QueueIsBoundedInBatchesToo) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  LoopRunner lr;
  HistoryWriterOptions o;
  o.busy_timeout_ms = 20;
  o.retry_first = 20ms;
  o.retry_max = 50ms;
  o.max_queued_batches = 3;
  HistoryWriter w(&lr.loop, path, o);
  {
    WriteLock lock(path);
    for (int k = 1; k <= 10; ++k) {
      w.submit(batch(k, 1));
      EXPECT_LE(w.stats().queued_batches, 4u) << "the bound, and the batch being written";
    }
    ASSERT_TRUE(lr.runUntil([&] { return w.stats().write_failures >= 2; }, 10s));
    EXPECT_LE(w.stats().queued_batches, 3u);
  }
  ASSERT_TRUE(lr.runUntil([&] { return w.stats().queued_rows == 0; }, 10s));
  EXPECT_EQ(w.stats().dropped_batches, 7u);
  w.shutdown();
  EXPECT_EQ(countRows(path), 3);
  EXPECT_EQ(countRows(path, "ts < 8000"), 0);
}

// A tmpfs of 8 MiB filled by another file: SQLite gets ENOSPC (SQLITE_FULL).
struct SmallTmpfs {
  std::string dir;
  bool mounted = false;
  SmallTmpfs() {
    char t[] = "/tmp/pwfull-XXXXXX";
    dir = mkdtemp(t);
    mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=8m,mode=0700") == 0;
  }
  // Writes a filler file until the file system is full; returns its bytes.
  std::size_t fill() {
    FILE* f = std::fopen((dir + "/filler").c_str(), "w");
    std::string chunk(4096, 'x');
    std::size_t n = 0;
    while (std::fwrite(chunk.data(), 1, chunk.size(), f) == chunk.size() && n < (64u << 20))
      n += chunk.size();
    std::fclose(f);
    return n;
  }
  void freeSpace() { std::filesystem::remove(dir + "/filler"); }
  ~SmallTmpfs() {
    if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
    ::rmdir(dir.c_str());
  }
};

TEST(HistoryWriter, FullDiskKeepsTheRowsAndWritesThemWhenSpaceReturns) {
  SmallTmpfs fs;
  if (!fs.mounted) GTEST_SKIP() << "mounting a tmpfs needs root";
  std::string path = fs.dir + "/h.db";
  {
    LoopRunner lr;
    HistoryWriterOptions o;
    o.retry_first = 50ms;
    o.retry_max = 200ms;
    HistoryWriter w(&lr.loop, path, o);
    w.submit(batch(1, 10));
    ASSERT_TRUE(lr.runUntil([&] { return w.stats().committed_rows == 10; }, 10s));
    ASSERT_GT(fs.fill(), 0u);
    int64_t rows = 10;
    for (int k = 2; k <= 21; ++k) {  // 20 batches of 20 rows of ~2 KB: more than any slack
      w.submit(batch(k, 20, 2000));
      rows += 20;
    }
    ASSERT_TRUE(lr.runUntil([&] { return w.stats().write_failures >= 3; }, 20s))
        << w.stats().last_error;
    auto s = w.stats();
    EXPECT_TRUE(s.failing);
    EXPECT_NE(s.last_error.find("full"), std::string::npos) << s.last_error;
    EXPECT_GT(s.queued_rows, 0u);
    EXPECT_EQ(s.dropped_rows, 0u);
    EXPECT_LT(lr.max_gap_ms, 200);
    fs.freeSpace();
    ASSERT_TRUE(lr.runUntil([&] { return w.stats().committed_rows == static_cast<uint64_t>(rows); },
                            30s))
        << w.stats().committed_rows << " of " << rows << ": " << w.stats().last_error;
    EXPECT_FALSE(w.stats().failing);
    EXPECT_EQ(w.shutdown(), 0u);
    EXPECT_EQ(countRows(path), rows) << "no acknowledged or queued row lost";
  }
  History h(path);
  EXPECT_EQ(h.integrityCheck(), "ok");
}

TEST(HistoryRetention, AFailedStepIsRetriedAndRetentionGoesOn) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  {
    History h(path);
    HistoryBatch old;
    for (int i = 0; i < 300; ++i) old.results.push_back(resultRow(result(i), 1000 + i));
    h.write(old);
    h.write(batch(0, 10));  // ts 0..9: older still
    HistoryBatch fresh;
    for (int i = 0; i < 10; ++i) fresh.results.push_back(resultRow(result(i), wallClockMs()));
    h.write(fresh);
  }
  LoopRunner lr;
  HistoryWriterOptions o;
  o.busy_timeout_ms = 50;
  HistoryWriter w(&lr.loop, path, o);
  RetentionOptions ro;
  ro.first = 10ms;
  ro.step = 10ms;
  ro.idle = 60s;  // after an error only the error delay brings it back
  ro.after_error = 100ms;
  ro.rows = 100;
  auto lock = std::make_unique<WriteLock>(path);
  HistoryRetention r(&lr.loop, &w, [] {
    HistoryConfig c;
    c.retention = std::chrono::hours(24);
    return c;
  }, ro);
  ASSERT_TRUE(lr.runUntil([&] { return r.failures() >= 1; }, 10s));
  EXPECT_EQ(countRows(path), 320) << "nothing pruned while locked";
  EXPECT_GE(w.stats().retention_failures, 1u);
  lock.reset();
  // The rows go when the step commits; the count reaches the loop through the
  // writer's mailbox a little later.
  ASSERT_TRUE(lr.runUntil([&] { return countRows(path) == 10 && r.pruned() == 310; }, 10s))
      << countRows(path) << " rows, " << r.pruned() << " counted as pruned";
  EXPECT_GT(r.steps(), r.failures());
  r.stop();
  w.shutdown();
}

TEST(HistoryReader, QueueIsBoundedAndAFullQueueSaysNo) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  { History h(path); }
  LoopRunner lr;
  HistoryReader reader(&lr.loop, path, 2);
  std::promise<void> unblock;
  auto blocked = unblock.get_future().share();
  std::vector<std::string> answers;
  auto done = [&](std::string a) { answers.push_back(std::move(a)); };
  std::atomic<bool> started{false};
  // The first query holds the reader thread; two more wait; a fourth is refused.
  ASSERT_TRUE(reader.run(
      [&, blocked](History&) {
        started = true;
        blocked.wait();
        return std::string("{\"n\":1}");
      },
      done));
  ASSERT_TRUE(lr.runUntil([&] { return started.load(); }, 5s));
  ASSERT_TRUE(reader.run([](History&) { return std::string("{\"n\":2}"); }, done));
  ASSERT_TRUE(reader.run([](History&) -> std::string { throw HistoryError("boom"); }, done));
  EXPECT_FALSE(reader.run([](History&) { return std::string("{\"n\":4}"); }, done));
  unblock.set_value();
  ASSERT_TRUE(lr.runUntil([&] { return answers.size() == 3; }, 5s));
  EXPECT_EQ(answers[0], "{\"n\":1}");
  EXPECT_EQ(answers[1], "{\"n\":2}");
  EXPECT_EQ(answers[2], "{\"error\":\"history unavailable: boom\",\"ok\":false}");
  reader.shutdown();
}

TEST(HistoryService, HistoryCommandSeesWhatWasRecordedBeforeIt) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  LoopRunner lr;
  HistoryService svc(&lr.loop, path, [] { return HistoryConfig{}; });
  auto* rec = svc.recorder();
  std::vector<RouteResult> routes;
  for (int i = 0; i < 3; ++i) {
    auto r = result(i);
    r.provider = "openai";
    r.route = "route" + std::to_string(i);
    rec->onRouteResult(r);
    routes.push_back(r);
  }
  rec->onDiagnosis("openai", Diagnosis{}, routes);
  std::optional<json> answer;
  // Asked at once: the answer must still hold the three results.
  svc.answer({{"cmd", "history"}, {"provider", "openai"}, {"transitions", true}},
             [&](std::string a) { answer = json::parse(a); });
  EXPECT_FALSE(answer) << "answered off the loop, not inline";
  ASSERT_TRUE(lr.runUntil([&] { return answer.has_value(); }, 10s));
  EXPECT_EQ((*answer)["ok"], true) << answer->dump();
  EXPECT_EQ((*answer)["results"].size(), 3u);
  EXPECT_TRUE((*answer)["transitions"].is_array());
  EXPECT_FALSE(answer->contains("alerts"));

  std::optional<json> bad;
  svc.answer({{"cmd", "history"}, {"limit", 0}}, [&](std::string a) { bad = json::parse(a); });
  ASSERT_TRUE(bad) << "a bad request is answered at once";
  EXPECT_EQ((*bad)["ok"], false);
  EXPECT_EQ((*bad)["error"], "\"limit\" must be an integer from 1 to 10000");

  auto st = svc.statusJson();
  EXPECT_EQ(st["path"], path);
  EXPECT_EQ(st["write_failures"], 0);
  EXPECT_TRUE(st["last_error"].is_null());
  EXPECT_EQ(st["committed_rows"], 3);
  svc.shutdown();
}

// `watch`, status and metrics give a result the time its probe started; a
// probe that ends in the next second must carry the same time in history.
TEST(HistoryService, AResultIsRecordedAtItsProbesStartAsWatchShowsIt) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  LoopRunner lr;
  HistoryService svc(&lr.loop, path, [] { return HistoryConfig{}; });
  auto r = result(1);
  r.started_at = isoFromMs(wallClockMs() - 3000);  // a slow probe, ended now
  svc.recorder()->onRouteResult(r);
  svc.recorder()->onDiagnosis(r.provider, Diagnosis{}, {r});
  std::optional<json> answer;
  svc.answer({{"cmd", "history"}, {"provider", r.provider}},
             [&](std::string a) { answer = json::parse(a); });
  ASSERT_TRUE(lr.runUntil([&] { return answer.has_value(); }, 10s));
  ASSERT_EQ((*answer)["results"].size(), 1u) << answer->dump();
  EXPECT_EQ((*answer)["results"][0]["at"], r.started_at);
  svc.shutdown();
}

TEST(HistoryService, RestartKeepsTheLastVerdictSoTransitionsSurviveIt) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  auto cycle = [&](HistoryService& svc, Verdict v) {
    auto r = result(1);
    r.provider = "openai";
    r.route = "default";
    r.verdict = v;
    svc.recorder()->onRouteResult(r);
    svc.recorder()->onDiagnosis("openai", Diagnosis{}, {r});
  };
  {
    LoopRunner lr;
    HistoryService svc(&lr.loop, path, [] { return HistoryConfig{}; });
    cycle(svc, Verdict::Ok);
    svc.shutdown();
  }
  LoopRunner lr;
  HistoryService svc(&lr.loop, path, [] { return HistoryConfig{}; });
  cycle(svc, Verdict::RegionBlocked);
  std::optional<json> answer;
  svc.answer({{"cmd", "history"}, {"results", false}, {"transitions", true}},
             [&](std::string a) { answer = json::parse(a); });
  ASSERT_TRUE(lr.runUntil([&] { return answer.has_value(); }, 10s));
  ASSERT_EQ((*answer)["transitions"].size(), 1u) << answer->dump();
  EXPECT_EQ((*answer)["transitions"][0]["before"], "ok");
  EXPECT_EQ((*answer)["transitions"][0]["after"], "region_blocked");
}

}  // namespace
}  // namespace pathwatch::daemon_test
