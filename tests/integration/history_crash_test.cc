// SIGKILL during history writes loses nothing committed: a child writes
// batches in a loop and acknowledges each commit through a pipe; the parent
// kills it with -9 mid-stream, reopens, and counts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "history.h"
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

}  // namespace
}  // namespace pathwatch::daemon_test
