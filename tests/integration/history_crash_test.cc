// SIGKILL during history writes loses nothing committed: a child writes
// batches in a loop and acknowledges each commit through a pipe; the parent
// kills it with -9 mid-stream, reopens, and counts. The second test does the
// same to the daemon's HistoryWriter (loop + worker thread), killed while its
// worker is inside a transaction, and checks every acknowledged batch row by
// row and that the interrupted batch left nothing behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <cstring>
#include <set>

#include "history.h"
#include "history_writer.h"
#include "support/daemon_harness.h"

namespace pathwatch::daemon_test {
namespace {

using namespace std::chrono_literals;

RouteResult row(int i) {
  RouteResult r;
  r.provider = i % 2 ? "openai" : "anthropic";
  r.route = "default";
  r.verdict = i % 7 ? Verdict::Ok : Verdict::RateLimited;
  r.evidence = {"result " + std::to_string(i), std::string(300, 'e')};
  r.ms = i;
  return r;
}

TEST(HistoryCrash, SigkillMidWriteKeepsEveryAcknowledgedRow) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  { History h(path); }
  int64_t acknowledged = 0;
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
      ::close(fds[0]);
      try {
        History h(path);
        int64_t total = h.countResults();
        for (int b = 0; b < 100000; ++b) {
          HistoryBatch batch;
          for (int i = 0; i < 20; ++i) batch.results.push_back(resultRow(row(i), b * 100 + i));
          batch.transitions.push_back({b, "openai", "default", "ok", "rate_limited", "usage", "x"});
          h.write(batch);
          total += 20;
          if (::write(fds[1], &total, sizeof total) != sizeof total) _exit(3);
        }
      } catch (...) {
        _exit(2);
      }
      _exit(0);
    }
    ::close(fds[1]);
    // Kill after a varying number of acknowledged commits.
    int want = 30 + round * 57;
    int64_t last = -1, v;
    for (int i = 0; i < want; ++i) {
      ssize_t n = ::read(fds[0], &v, sizeof v);
      if (n != sizeof v) break;
      last = v;
    }
    ::kill(pid, SIGKILL);
    // Acks already in the pipe were committed before the kill too.
    while (::read(fds[0], &v, sizeof v) == sizeof v) last = v;
    ::close(fds[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFSIGNALED(st)) << "child ended on its own (status " << st << ")";
    ASSERT_GT(last, acknowledged);
    acknowledged = last;

    History h(path);  // opens cleanly: WAL recovery
    EXPECT_EQ(h.integrityCheck(), "ok");
    EXPECT_GE(h.countResults(), acknowledged);
    EXPECT_EQ(h.schemaVersion(), kHistorySchemaVersion);
    acknowledged = h.countResults();
  }
}

// One record on the pipe up: 'C' + seq after batch seq committed (sent from
// the loop), 'T' + seq when the worker is inside batch seq's transaction,
// all rows inserted, before COMMIT. There the worker waits for the parent's
// go-ahead on the pipe down, so the parent kills it exactly there.
struct Record {
  char kind;
  int64_t seq;
};

int64_t countTs(History& h, int64_t from, int64_t to) {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(h.raw(), "SELECT count(*) FROM results WHERE ts >= ?1 AND ts < ?2", -1, &st,
                     nullptr);
  sqlite3_bind_int64(st, 1, from);
  sqlite3_bind_int64(st, 2, to);
  int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return n;
}

constexpr int kRowsPerBatch = 50;

HistoryBatch numbered(int64_t seq) {
  HistoryBatch b;
  for (int i = 0; i < kRowsPerBatch; ++i) b.results.push_back(resultRow(row(i), seq * 1000 + i));
  return b;
}

TEST(HistoryCrash, SigkillWhileTheWriterThreadIsMidTransactionKeepsEveryAcknowledgedBatch) {
  TempDir dir;
  std::string path = dir.path + "/h.db";
  { History h(path); }
  int64_t base = 0;  // each round numbers its batches after the last round's
  for (int round = 0; round < 3; ++round) {
    int up[2], down[2];
    ASSERT_EQ(::pipe(up), 0);
    ASSERT_EQ(::pipe(down), 0);
    pid_t pid = fork();
    if (pid == 0) {
      ::close(up[0]);
      ::close(down[1]);
      try {
        uv_loop_t loop;
        uv_loop_init(&loop);
        HistoryWriterOptions o;
        int64_t transactions = 0;  // worker thread only: writes go in order, none fails here
        o.before_commit = [&] {
          Record r{'T', base + ++transactions};
          char go;
          if (::write(up[1], &r, sizeof r) != sizeof r || ::read(down[0], &go, 1) != 1) _exit(3);
        };
        HistoryWriter w(&loop, path, o);
        int64_t submitted = 0;
        auto submitUpTo = [&](int64_t n) {
          while (submitted < n) w.submit(numbered(base + ++submitted));
        };
        w.onCommitted([&](uint64_t seq) {
          Record r{'C', base + static_cast<int64_t>(seq)};
          if (::write(up[1], &r, sizeof r) != sizeof r) _exit(3);
          submitUpTo(static_cast<int64_t>(seq) + 2);  // one queued behind the one being written
        });
        submitUpTo(2);
        uv_timer_t keep;
        uv_timer_init(&loop, &keep);
        uv_timer_start(&keep, [](uv_timer_t*) {}, 1000, 1000);
        uv_run(&loop, UV_RUN_DEFAULT);
      } catch (...) {
        _exit(2);
      }
      _exit(0);
    }
    ::close(up[1]);
    ::close(down[0]);
    // After a varying number of acknowledgements, kill while the worker is
    // inside the next transaction.
    int want = 10 + round * 17;
    std::set<int64_t> acked;
    int64_t inside = -1;
    Record r{};
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline &&
           ::read(up[0], &r, sizeof r) == sizeof r) {
      if (r.kind == 'C') acked.insert(r.seq);
      if (r.kind != 'T') continue;
      if (static_cast<int>(acked.size()) >= want) {
        inside = r.seq;
        ::kill(pid, SIGKILL);
        break;
      }
      if (::write(down[1], "g", 1) != 1) break;
    }
    // Acknowledgements already in the pipe were committed before the kill too.
    while (::read(up[0], &r, sizeof r) == sizeof r)
      if (r.kind == 'C') acked.insert(r.seq);
    ::close(up[0]);
    ::close(down[1]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFSIGNALED(st)) << "child ended on its own (status " << st << ")";
    ASSERT_GE(static_cast<int>(acked.size()), want);
    ASSERT_GT(inside, 0);
    ASSERT_FALSE(acked.count(inside)) << "killed before COMMIT, yet acknowledged";

    History h(path);  // opens cleanly: WAL recovery
    EXPECT_EQ(h.integrityCheck(), "ok");
    for (int64_t seq : acked)
      ASSERT_EQ(countTs(h, seq * 1000, seq * 1000 + 1000), kRowsPerBatch) << "batch " << seq;
    EXPECT_EQ(countTs(h, inside * 1000, inside * 1000 + 1000), 0)
        << "the interrupted transaction left part of its batch";
    base = inside + 10;
  }
}

}  // namespace
}  // namespace pathwatch::daemon_test
