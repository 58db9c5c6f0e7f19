// pathwatchd's history under trouble, end to end: a database locked by
// another process makes writes and a retention step fail, and retention
// resumes once the lock goes (it used to stop for good after one failed
// prune); a full disk (a small tmpfs) stops neither probing nor the socket,
// the rows wait in memory and reach the disk when space returns; SIGKILL then
// loses no acknowledged row. The status answer shows the counters throughout.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "history.h"
#include "support/daemon_harness.h"

namespace pathwatch::daemon_test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const char* kFakeKey = "sk-proj-Hq4vT8xLw2Rk9ZpB4nYc7HdJ5sFg1AeUo6iKtNbVq0WyXr";

json historyStatus(SocketClient& c) {
  auto s = c.ask({{"cmd", "status"}});
  if (!s || !s->contains("history")) return json::object();
  return (*s)["history"];
}

int64_t rowsIn(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
  int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

// Another process holding the database's write lock until release(). A
// process of its own: SQLite's lock state must not be copied into the
// daemon's child by fork.
struct LockHolder {
  pid_t pid = -1;
  int release_fd = -1;
  explicit LockHolder(const std::string& path) {
    int ready[2], release[2];
    if (::pipe(ready) != 0 || ::pipe(release) != 0) return;
    pid = fork();
    if (pid == 0) {
      ::close(ready[0]);
      ::close(release[1]);
      sqlite3* db = nullptr;
      if (sqlite3_open(path.c_str(), &db) != SQLITE_OK ||
          sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
        _exit(1);
      char b = 'r';
      if (::write(ready[1], &b, 1) != 1) _exit(1);
      (void)::read(release[0], &b, 1);  // or EOF when the test dies
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(db);
      _exit(0);
    }
    ::close(ready[1]);
    ::close(release[0]);
    release_fd = release[1];
    char b = 0;
    if (::read(ready[0], &b, 1) != 1) pid = -1;
    ::close(ready[0]);
  }
  bool holding() const { return pid > 0; }
  void release() {
    if (release_fd >= 0) {
      (void)::write(release_fd, "x", 1);
      ::close(release_fd);
      release_fd = -1;
    }
    if (pid > 0) {
      int st;
      ::waitpid(pid, &st, 0);
      pid = -1;
    }
  }
  ~LockHolder() { release(); }
};

TEST(HistoryDaemon, RetentionResumesAfterAFailedPruneAndWritesAfterALock) {
  TempDir dir;
  std::string db = dir.path + "/history.db";
  {
    History h(db);  // 200 results far older than the config's 1 d retention
    HistoryBatch old;
    for (int i = 0; i < 200; ++i) {
      ResultRow r;
      r.ts_ms = 1000 + i;
      r.provider = "fake";
      r.route = "default";
      r.verdict = "ok";
      r.cause = "none";
      old.results.push_back(r);
    }
    h.write(old);
  }
  // Another process holds the write lock from before the daemon starts.
  LockHolder lock(db);
  ASSERT_TRUE(lock.holding());

  auto config = writeConfig(dir.path);
  auto d = DaemonProcess::start(config, dir.path + "/pw.sock", dir.path + "/daemon.log",
                                {{"PATHWATCH_TEST_FAKE_KEY", kFakeKey}});
  SocketClient c;
  ASSERT_TRUE(waitUntil([&] { return c.connect(d.socket); }, 15s)) << readFile(d.log_path);
  // The first retention step (5 s after start) waits out the busy timeout and fails.
  json hs;
  ASSERT_TRUE(waitUntil(
      [&] {
        hs = historyStatus(c);
        return hs.value("retention_failures", 0) >= 1;
      },
      30s, 200ms))
      << hs.dump();
  EXPECT_GE(hs["write_failures"].get<int>(), 1) << "results were written meanwhile";
  EXPECT_TRUE(hs["failing"].get<bool>());
  EXPECT_NE(hs["last_error"].get<std::string>().find("locked"), std::string::npos) << hs.dump();
  EXPECT_EQ(hs["dropped_rows"], 0);
  // Probing and the socket went on.
  auto s = c.ask({{"cmd", "status"}});
  ASSERT_TRUE(s);
  EXPECT_GE((*s)["daemon"]["cycles"].get<int>(), 2);
  EXPECT_EQ(rowsIn(db, "SELECT count(*) FROM results WHERE ts < 100000"), 200);

  lock.release();
  // Retention comes back by itself (10 s after the failure) and prunes the old rows.
  EXPECT_TRUE(waitUntil(
      [&] { return rowsIn(db, "SELECT count(*) FROM results WHERE ts < 100000") == 0; }, 40s,
      250ms));
  ASSERT_TRUE(waitUntil(
      [&] {
        hs = historyStatus(c);
        return !hs.value("failing", true) && hs.value("queued_rows", 1) == 0;
      },
      20s, 200ms))
      << hs.dump();
  EXPECT_GE(hs["pruned_rows"].get<int>(), 200);
  EXPECT_GE(rowsIn(db, "SELECT count(*) FROM results"), 1) << "the queued results reached the disk";
  d.kill(SIGTERM);
  auto rc = d.wait(10s);
  EXPECT_TRUE(rc && *rc == 0);
  std::string log = readFile(d.log_path);
  EXPECT_NE(log.find("history: writes failing"), std::string::npos) << log;
  EXPECT_NE(log.find("history: retention failing"), std::string::npos) << log;
  EXPECT_NE(log.find("history: retention working again"), std::string::npos) << log;
  EXPECT_EQ(log.find(kFakeKey), std::string::npos);
}

TEST(HistoryDaemon, FullDiskStopsNeitherProbingNorAnswersAndLosesNoRow) {
  char tmpl[] = "/tmp/pwdfull-XXXXXX";
  std::string mnt = mkdtemp(tmpl);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=8m,mode=0700") != 0) {
    ::rmdir(mnt.c_str());
    GTEST_SKIP() << "mounting a tmpfs needs root";
  }
  struct Unmount {
    std::string dir;
    ~Unmount() {
      ::umount2(dir.c_str(), MNT_DETACH);
      ::rmdir(dir.c_str());
    }
  } unmount{mnt};
  TempDir dir;
  std::string db = mnt + "/history.db";
  auto config = writeConfig(dir.path, {{"history", {{"path", db}}}, {"interval", "1s"}});
  auto d = DaemonProcess::start(config, dir.path + "/pw.sock", dir.path + "/daemon.log",
                                {{"PATHWATCH_TEST_FAKE_KEY", kFakeKey}});
  SocketClient c;
  ASSERT_TRUE(waitUntil([&] { return c.connect(d.socket); }, 15s));
  json hs;
  ASSERT_TRUE(waitUntil(
      [&] {
        hs = historyStatus(c);
        return hs.value("committed_rows", 0) >= 2;
      },
      20s, 100ms))
      << hs.dump();
  // Fill the file system.
  {
    FILE* f = std::fopen((mnt + "/filler").c_str(), "w");
    std::string chunk(4096, 'x');
    for (int i = 0; i < 4096; ++i)
      if (std::fwrite(chunk.data(), 1, chunk.size(), f) != chunk.size()) break;
    std::fclose(f);
  }
  ASSERT_TRUE(waitUntil(
      [&] {
        hs = historyStatus(c);
        return hs.value("write_failures", 0) >= 2;
      },
      30s, 200ms))
      << hs.dump();
  EXPECT_NE(hs["last_error"].get<std::string>().find("full"), std::string::npos) << hs.dump();
  auto cycles = [&] {
    auto s = c.ask({{"cmd", "status"}});
    return s ? (*s)["daemon"]["cycles"].get<int>() : -1;
  };
  int before = cycles();
  ASSERT_TRUE(waitUntil([&] { return cycles() >= before + 2; }, 15s)) << "probing stopped";
  auto h = c.ask({{"cmd", "history"}, {"limit", 5}});
  ASSERT_TRUE(h);
  EXPECT_EQ((*h)["ok"], true) << "the history command still answers from disk: " << h->dump();
  hs = historyStatus(c);
  EXPECT_GT(hs["queued_rows"].get<int>(), 0);
  EXPECT_EQ(hs["dropped_rows"], 0);

  std::filesystem::remove(mnt + "/filler");
  ASSERT_TRUE(waitUntil(
      [&] {
        hs = historyStatus(c);
        return !hs.value("failing", true) && hs.value("queued_rows", 1) == 0;
      },
      40s, 200ms))
      << hs.dump();
  // What the daemon acknowledged is on disk, even after SIGKILL.
  int64_t acknowledged = historyStatus(c)["committed_rows"].get<int64_t>();
  d.kill(SIGKILL);
  d.wait(5s);
  {
    History check(db);
    EXPECT_EQ(check.integrityCheck(), "ok");
  }
  int64_t on_disk = rowsIn(db,
                           "SELECT (SELECT count(*) FROM results) + "
                           "(SELECT count(*) FROM transitions) + (SELECT count(*) FROM alerts)");
  EXPECT_GE(on_disk, acknowledged);
  std::string log = readFile(d.log_path);
  EXPECT_NE(log.find("history: writes failing"), std::string::npos) << log;
  EXPECT_NE(log.find("history: writes working again"), std::string::npos) << log;
}

}  // namespace
}  // namespace pathwatch::daemon_test
