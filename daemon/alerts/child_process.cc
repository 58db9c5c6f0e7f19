#include "alerts/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <utility>

namespace pathwatch {

namespace {

constexpr uint64_t kWaitpidEveryMs = 50;  // only without pidfd_open

int openPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));  // always close-on-exec
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// Everything the child needs is set up in the child by glibc between its
// clone and its exec; nothing here runs in the child.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  int rc = 0;

  explicit SpawnSetup(int stdin_fd) {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    if (stdin_fd >= 0)
      keep(posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0));
    else
      keep(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    // The daemon's sockets, history database and control socket stay its own.
    keep(posix_spawn_file_actions_addclosefrom_np(&actions, 3));
#endif
    keep(posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    keep(posix_spawnattr_setsigmask(&attr, &none));
    keep(posix_spawnattr_setsigdefault(&attr, &all));
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  void keep(int r) {
    if (rc == 0) rc = r;
  }
};

}  // namespace

struct ChildProcess::Watch {
  // One of the two is in use: the pidfd's poll, or the waitpid timer.
  union {
    uv_poll_t poll;
    uv_timer_t timer;
  } h;
  bool by_pidfd = false;
  int pidfd = -1;
  pid_t pid = 0;
  bool reaped = false;
  void* data = nullptr;  // the owner; nullptr once it is gone
  ExitFn on_exit = nullptr;

  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&h); }

  void close() {
    if (!uv_is_closing(handle())) uv_close(handle(), &Watch::onClose);
  }
  static void onClose(uv_handle_t* hd) noexcept {
    auto* w = static_cast<Watch*>(hd->data);
    if (w->pidfd >= 0) ::close(w->pidfd);  // after the poll is closed, as libuv asks
    delete w;
  }

  // waitpid never blocks here: the pidfd said it exited, or WNOHANG asks.
  void tryReap() {
    int st = 0;
    pid_t r;
    do {
      r = ::waitpid(pid, &st, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return;  // still running
    int64_t exit_status = -1;
    int term_signal = 0;
    if (r == pid) {
      if (WIFEXITED(st)) exit_status = WEXITSTATUS(st);
      if (WIFSIGNALED(st)) {
        exit_status = 0;
        term_signal = WTERMSIG(st);
      }
    }  // else ECHILD: someone set SIGCHLD to SIG_IGN and the kernel reaped it
    reaped = true;
    if (by_pidfd)
      uv_poll_stop(&h.poll);
    else
      uv_timer_stop(&h.timer);
    if (data == nullptr) {  // the owner is gone: nobody else will close it
      close();
      return;
    }
    try {
      on_exit(data, exit_status, term_signal);  // may destroy the owner, which closes
    } catch (...) {
    }
  }
  static void onPoll(uv_poll_t* p, int /*status*/, int /*events*/) noexcept {
    static_cast<Watch*>(p->data)->tryReap();
  }
  static void onTimer(uv_timer_t* t) noexcept { static_cast<Watch*>(t->data)->tryReap(); }
};

int ChildProcess::spawn(uv_loop_t* loop, const std::vector<std::string>& argv,
                        const std::vector<std::string>& env, int stdin_fd, void* data,
                        ExitFn on_exit) {
  reset();
  if (argv.empty()) return -EINVAL;
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  // A SIGCHLD ignored by whoever started the daemon (inherited across exec)
  // would let the kernel reap the child: its exit status lost, its pid free
  // for reuse while we still signal it.
  struct sigaction chld {};
  if (::sigaction(SIGCHLD, nullptr, &chld) == 0 && chld.sa_handler == SIG_IGN)
    std::signal(SIGCHLD, SIG_DFL);

  SpawnSetup setup(stdin_fd);
  if (setup.rc != 0) return -setup.rc;
  pid_t pid = 0;
  // Like execvp: a bare name is looked up in PATH (the daemon's; the child
  // gets the same PATH in env).
  const bool has_slash = argv[0].find('/') != std::string::npos;
  int rc = has_slash ? ::posix_spawn(&pid, args[0], &setup.actions, &setup.attr, args.data(),
                                     envp.data())
                     : ::posix_spawnp(&pid, args[0], &setup.actions, &setup.attr, args.data(),
                                      envp.data());
  if (rc == ENOEXEC) {
    // Also like execvp: an executable without a #! line is a shell script,
    // run by /bin/sh with the same arguments (still no shell parses them).
    std::vector<char*> sh_args{const_cast<char*>("/bin/sh")};
    sh_args.insert(sh_args.end(), args.begin(), args.end());
    rc = ::posix_spawn(&pid, "/bin/sh", &setup.actions, &setup.attr, sh_args.data(), envp.data());
  }
  if (rc != 0) return -rc;  // glibc reports a failed exec here, the child is gone

  auto* w = new Watch;
  w->pid = pid;
  w->data = data;
  w->on_exit = on_exit;
  w->pidfd = watch_ == ExitWatch::Pidfd ? openPidfd(pid) : -1;
  if (w->pidfd >= 0 && uv_poll_init(loop, &w->h.poll, w->pidfd) == 0) {
    w->by_pidfd = true;
    w->h.poll.data = w;
    uv_poll_start(&w->h.poll, UV_READABLE, &Watch::onPoll);
  } else {
    if (w->pidfd >= 0) ::close(w->pidfd);
    w->pidfd = -1;
    uv_timer_init(loop, &w->h.timer);
    w->h.timer.data = w;
    uv_timer_start(&w->h.timer, &Watch::onTimer, kWaitpidEveryMs, kWaitpidEveryMs);
  }
  w_ = w;
  return 0;
}

pid_t ChildProcess::pid() const { return w_ ? w_->pid : 0; }

bool ChildProcess::watchesByPidfd() const { return w_ && w_->by_pidfd; }

bool ChildProcess::running() const { return w_ && !w_->reaped; }

void ChildProcess::signal(int sig) const {
  if (running()) ::kill(-w_->pid, sig);
}

void ChildProcess::reset() {
  Watch* w = std::exchange(w_, nullptr);
  if (!w) return;
  w->data = nullptr;
  if (!w->reaped) {
    ::kill(-w->pid, SIGKILL);
    return;  // closed once reaped
  }
  w->close();
}

}  // namespace pathwatch
