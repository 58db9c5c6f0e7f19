#pragma once
// A child process started without copying the daemon, watched on the loop.
//
// uv_spawn (libuv 1.44) forks: the kernel copies the daemon's page tables and
// the loop stalls for that (15-40 ms per hook on a small VM). posix_spawn uses
// clone(CLONE_VM|CLONE_VFORK): the child borrows the daemon's memory until
// its exec, and the loop waits only for that exec. The exit is watched through
// a pidfd polled on the loop (kernel 5.3+), or, where pidfd_open is missing,
// a 50 ms timer that asks waitpid; either way the child is reaped here, never
// through a SIGCHLD handler.
//
// The child gets: its own session and process group (so a signal reaches its
// own children too), every signal at its default and none blocked (the daemon
// ignores SIGPIPE; a hook must not inherit that), the given stdin, the
// daemon's stdout and stderr, and no other descriptor of the daemon.
//
// Ownership follows uv_handle.h: destroying the owner of a running child
// kills its process group (SIGKILL) and the watch stays until the exit is
// reaped, so no child outlives its owner and none is left a zombie. No
// callback reaches the owner after its destruction. (Once the child itself
// has exited, what it left running in its group is its own: a hook may start
// something on purpose.)
#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pathwatch {

class ChildProcess {
 public:
  // data is the owner; the callback runs once, unless the owner is gone first.
  // exit_status is the exit code, or -1 when the status was lost (SIGCHLD
  // ignored by someone); term_signal the signal that ended it, else 0.
  using ExitFn = void (*)(void* data, int64_t exit_status, int term_signal);

  // How the exit is seen: a pidfd when the kernel has one (falling back to
  // waitpid on a timer when not), or always waitpid (tests of the fallback).
  enum class ExitWatch { Pidfd, Waitpid };

  explicit ChildProcess(ExitWatch watch = ExitWatch::Pidfd) : watch_(watch) {}
  ~ChildProcess() { reset(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] (searched in PATH when it has no slash; an executable
  // without a #! line runs under /bin/sh, as execvp does) with exactly `env`,
  // reading `stdin_fd` (kept by the caller; -1: /dev/null). Returns 0, or a
  // negative errno (-ENOENT for a missing command) with nothing owned. A
  // child still running from an earlier spawn is killed first (no callback).
  int spawn(uv_loop_t* loop, const std::vector<std::string>& argv,
            const std::vector<std::string>& env, int stdin_fd, void* data, ExitFn on_exit);

  pid_t pid() const;
  // The exit is watched through a pidfd (false: the waitpid timer).
  bool watchesByPidfd() const;
  bool running() const;  // until its exit has been reaped
  // To its process group: a script's own children go too.
  void signal(int sig) const;
  // Kills a running child; the exit is reaped later without a callback.
  void reset();

  struct Watch;  // the pidfd poll or the waitpid timer (child_process.cc)

 private:
  ExitWatch watch_;
  Watch* w_ = nullptr;
};

}  // namespace pathwatch
