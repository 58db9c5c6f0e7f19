// ChildProcess (daemon/alerts/child_process.h) on a real loop, with the exit
// seen through a pidfd and through the waitpid fallback: exit codes and
// signals reported, a failed start is an error and no child, the owner's end
// kills and reaps the whole group, and the loop is left empty.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "alerts/child_process.h"
#include "support/engine_loop.h"
#include "support/process_state.h"

namespace pathwatch {
namespace {

using testing::processGone;
using testing::TestLoop;
using Watch = ChildProcess::ExitWatch;

struct Exit {
  bool done = false;
  int64_t code = -2;
  int signal = -1;
};

void onExit(void* data, int64_t code, int sig) {
  auto* e = static_cast<Exit*>(data);
  e->done = true;
  e->code = code;
  e->signal = sig;
}

std::vector<std::string> env() { return {"PATH=/usr/bin:/bin"}; }

class ChildProcessTest : public ::testing::TestWithParam<Watch> {};

TEST_P(ChildProcessTest, ReportsTheExitCodeAndTheSignal) {
  TestLoop loop;
  Exit a, b;
  ChildProcess code(GetParam()), killed(GetParam());
  ASSERT_EQ(code.spawn(loop.get(), {"/bin/sh", "-c", "exit 3"}, env(), -1, &a, &onExit), 0);
  ASSERT_EQ(killed.spawn(loop.get(), {"/bin/sh", "-c", "kill -TERM $$"}, env(), -1, &b, &onExit), 0);
  EXPECT_GT(code.pid(), 0);
  EXPECT_EQ(code.watchesByPidfd(), GetParam() == Watch::Pidfd);
  ASSERT_TRUE(loop.runUntil([&] { return a.done && b.done; }, 10000));
  EXPECT_EQ(a.code, 3);
  EXPECT_EQ(a.signal, 0);
  EXPECT_EQ(b.signal, SIGTERM);
  EXPECT_FALSE(code.running());
  EXPECT_FALSE(killed.running());
}

TEST_P(ChildProcessTest, AFailedStartIsAnErrorAndNoChild) {
  TestLoop loop;
  Exit e;
  ChildProcess p(GetParam());
  EXPECT_EQ(p.spawn(loop.get(), {"/nonexistent/page-oncall"}, env(), -1, &e, &onExit), -ENOENT);
  EXPECT_FALSE(p.running());
  EXPECT_EQ(p.pid(), 0);
  EXPECT_EQ(p.spawn(loop.get(), {}, env(), -1, &e, &onExit), -EINVAL);
  loop.drain();
  EXPECT_FALSE(e.done);
}

TEST_P(ChildProcessTest, ABareNameIsFoundInPathAndStdinIsTheGivenDescriptor) {
  TestLoop loop;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "hello\n", 6), 6);
  ::close(fds[1]);
  Exit piped, empty;
  ChildProcess a(GetParam()), b(GetParam());
  ASSERT_EQ(a.spawn(loop.get(), {"sh", "-c", "read x; test \"$x\" = hello"}, env(), fds[0], &piped,
                    &onExit),
            0);
  ::close(fds[0]);
  // Without one, stdin is /dev/null: reading ends at once.
  ASSERT_EQ(b.spawn(loop.get(), {"sh", "-c", "test -z \"$(cat)\""}, env(), -1, &empty, &onExit), 0);
  ASSERT_TRUE(loop.runUntil([&] { return piped.done && empty.done; }, 10000));
  EXPECT_EQ(piped.code, 0);
  EXPECT_EQ(empty.code, 0);
}

TEST_P(ChildProcessTest, AnExecutableWithoutItsShebangRunsUnderBinShWithItsArguments) {
  const std::string dir = ::testing::TempDir() + "child-noshebang-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string script = dir + "/hook";
  std::ofstream(script) << "echo \"$1\" > \"$2\"\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  TestLoop loop;
  Exit e;
  ChildProcess p(GetParam());
  // The argument holds a shell's special characters: they reach the script as
  // one word, nothing parses them.
  ASSERT_EQ(p.spawn(loop.get(), {script, "x; touch " + dir + "/pwned", dir + "/out"}, env(), -1, &e,
                    &onExit),
            0);
  ASSERT_TRUE(loop.runUntil([&] { return e.done; }, 10000));
  EXPECT_EQ(e.code, 0);
  std::ifstream out(dir + "/out");
  std::string line;
  std::getline(out, line);
  EXPECT_EQ(line, "x; touch " + dir + "/pwned");
  EXPECT_FALSE(std::filesystem::exists(dir + "/pwned"));
  std::filesystem::remove_all(dir);
}

// Whoever started the daemon may have left SIGCHLD ignored (it survives
// exec): the kernel would then reap the child and its status would be lost.
TEST_P(ChildProcessTest, AnIgnoredSigchldDoesNotLoseTheExitStatus) {
  struct sigaction before {};
  ASSERT_EQ(::sigaction(SIGCHLD, nullptr, &before), 0);
  std::signal(SIGCHLD, SIG_IGN);
  TestLoop loop;
  Exit e;
  ChildProcess p(GetParam());
  ASSERT_EQ(p.spawn(loop.get(), {"/bin/sh", "-c", "exit 7"}, env(), -1, &e, &onExit), 0);
  ASSERT_TRUE(loop.runUntil([&] { return e.done; }, 10000));
  EXPECT_EQ(e.code, 7);
  ::sigaction(SIGCHLD, &before, nullptr);
}

TEST_P(ChildProcessTest, TheOwnersEndKillsTheGroupAndTheExitIsStillReaped) {
  const std::string dir = ::testing::TempDir() + "child-process-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string pids = dir + "/pids";
  std::filesystem::remove(pids);
  std::vector<pid_t> running;
  {
    TestLoop loop;  // its end checks that no handle is left: the watch closed after the reap
    Exit e;
    {
      ChildProcess p(GetParam());
      ASSERT_EQ(p.spawn(loop.get(),
                        {"/bin/sh", "-c",
                         "trap '' TERM; sleep 60 & echo $$ $! > " + pids + ".tmp; mv " + pids +
                             ".tmp " + pids + "; wait"},
                        env(), -1, &e, &onExit),
                0);
      ASSERT_TRUE(loop.runUntil([&] { return std::filesystem::exists(pids); }, 10000));
      std::ifstream f(pids);
      for (pid_t x; f >> x;) running.push_back(x);
      ASSERT_EQ(running.size(), 2u);
      EXPECT_EQ(running[0], p.pid());
      p.signal(SIGTERM);  // ignored by the script; its sleep ends
    }  // SIGKILL to the group, no callback
    // The script is reaped by the watch (not even a zombie is left of it);
    // its sleep, reparented, is gone or a zombie of another parent.
    EXPECT_TRUE(loop.runUntil(
        [&] { return ::kill(running[0], 0) != 0 && processGone(running[1]); }, 10000));
    loop.drain();
    EXPECT_FALSE(e.done) << "no callback after the owner is gone";
  }
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Watches, ChildProcessTest, ::testing::Values(Watch::Pidfd, Watch::Waitpid),
                         [](const ::testing::TestParamInfo<Watch>& p) {
                           return p.param == Watch::Pidfd ? std::string("Pidfd")
                                                          : std::string("Waitpid");
                         });

}  // namespace
}  // namespace pathwatch
