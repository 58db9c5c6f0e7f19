// The control socket's transport on its own loop (in a thread), with small
// limits so the rules show within a test: a watcher that never reads is
// dropped once its unsent output stays above the backlog threshold, while a
// watcher that reads keeps its stream; a closed client's pending writes never
// touch it.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "control_socket.h"
#include "support/daemon_harness.h"

namespace pathwatch {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using daemon_test::TempDir;
using daemon_test::waitUntil;

// A ControlServer whose handler answers "watch" (and "ping"), broadcasting a
// 16 KiB event every 5 ms while `flood` is set. Only the loop thread touches
// the server; counts cross over as atomics, stop() with uv_async.
class ServerThread {
 public:
  explicit ServerThread(ControlOptions opt) {
    std::signal(SIGPIPE, SIG_IGN);  // as pathwatchd does: a write to a gone client is EPIPE
    uv_loop_init(&loop_);
    server_ = std::make_unique<ControlServer>(&loop_, std::move(opt), [this](auto id, const json& req) {
      if (req["cmd"] == "watch") {
        server_->reply(id, {{"ok", server_->setWatching(id, true)}});
      } else if (req["cmd"] == "shared") {
        server_->replyLine(id, sharedLine());
      } else if (req["cmd"] == "later") {
        later_.push_back(id);  // answered by the next tick, like history's reader
      } else {
        server_->reply(id, {{"ok", true}, {"pong", true}});
      }
    });
    server_->listen();
    tick_.init([&](uv_timer_t* t) { return uv_timer_init(&loop_, t); }, this);
    uv_timer_start(
        tick_.get(),
        [](uv_timer_t* t) noexcept {
          auto* self = static_cast<ServerThread*>(t->data);
          if (!self) return;
          if (self->flood.load()) self->server_->broadcast({{"event", "x"}, {"pad", std::string(16384, 'p')}});
          auto later = std::move(self->later_);
          self->later_.clear();
          for (auto id : later) self->server_->reply(id, {{"ok", true}, {"later", true}});
          self->watchers.store(self->server_->watcherCount());
          self->clients.store(self->server_->clientCount());
        },
        5, 5);
    stop_.init([&](uv_async_t* a) {
      return uv_async_init(&loop_, a, [](uv_async_t* h) noexcept {
        auto* self = static_cast<ServerThread*>(h->data);
        if (!self) return;
        self->tick_.reset();
        self->server_.reset();
        self->stop_.reset();
      });
    }, this);
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~ServerThread() {
    uv_async_send(stop_.get());
    thread_.join();
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  std::atomic<bool> flood{false};
  std::atomic<std::size_t> watchers{0}, clients{0};
  // One answer line shared by every "shared" request (as the daemon's status).
  static std::shared_ptr<const std::string> sharedLine() {
    static const auto line = std::make_shared<const std::string>(
        json{{"ok", true}, {"pad", std::string(256 * 1024, 's')}}.dump() + "\n");
    return line;
  }

 private:
  uv_loop_t loop_{};
  std::unique_ptr<ControlServer> server_;
  std::vector<ControlServer::ClientId> later_;
  UvTimer tick_;
  UvAsync stop_;
  std::thread thread_;
};

ControlOptions smallLimits(const std::string& dir) {
  ControlOptions o;
  o.path = dir + "/ctl.sock";
  o.max_output = 64u << 20;  // only the stall rule can drop a watcher here
  o.watch_backlog = 32 * 1024;
  o.watch_stall = 300ms;
  o.max_watchers = 4;
  return o;
}

TEST(ControlServerWatchers, OneThatNeverReadsIsDroppedOneThatReadsStays) {
  TempDir dir;
  ServerThread server(smallLimits(dir.path));
  ControlClient reader, stuck;
  ASSERT_TRUE(reader.connect(dir.path + "/ctl.sock"));
  ASSERT_TRUE(stuck.connect(dir.path + "/ctl.sock"));
  int small = 4096;
  ::setsockopt(stuck.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ASSERT_EQ(reader.ask({{"cmd", "watch"}}).value_or(json())["ok"], true);
  ASSERT_EQ(stuck.ask({{"cmd", "watch"}}).value_or(json())["ok"], true);
  ASSERT_TRUE(waitUntil([&] { return server.watchers.load() == 2; }, 2s));

  server.flood = true;
  std::size_t lines = 0;
  const auto t0 = std::chrono::steady_clock::now();
  // Read the reader's stream while waiting for the stuck one to go.
  while (server.watchers.load() != 1 && std::chrono::steady_clock::now() - t0 < 5s) {
    if (reader.readLine(1s)) ++lines;
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(server.watchers.load(), 1u) << "the watcher that never reads is still there";
  EXPECT_LT(took, 3s);
  EXPECT_GT(lines, 10u);
  // The reader goes on receiving.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(reader.readLine(2s)) << i;
  server.flood = false;
  // The stuck one finds its connection closed after what was already sent.
  bool eof = false;
  for (int i = 0; i < 100000 && !eof; ++i) eof = !stuck.readLine(2s);
  EXPECT_TRUE(eof);
  EXPECT_EQ(stuck.lastError(), ControlErrorKind::Closed);
}

TEST(ControlServerWatchers, TheCapCountsOnlyLiveWatchers) {
  TempDir dir;
  ServerThread server(smallLimits(dir.path));
  std::vector<ControlClient> w(5);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(w[i].connect(dir.path + "/ctl.sock"));
    ASSERT_EQ(w[i].ask({{"cmd", "watch"}}).value_or(json())["ok"], true) << i;
  }
  ASSERT_TRUE(w[4].connect(dir.path + "/ctl.sock"));
  EXPECT_EQ(w[4].ask({{"cmd", "watch"}}).value_or(json())["ok"], false) << "a fifth past 4";
  w[0].close();
  EXPECT_TRUE(waitUntil([&] { return w[4].ask({{"cmd", "watch"}}).value_or(json())["ok"] == true; },
                        2s, 20ms));
}

TEST(ControlServerClients, ClosingWithAnswersInFlightTouchesNothing) {
  // Many clients ask and hang up at once, with answers still queued: the
  // writes complete (cancelled) after their client is gone.
  TempDir dir;
  ControlOptions o = smallLimits(dir.path);
  ServerThread server(o);
  for (int round = 0; round < 50; ++round) {
    ControlClient c;
    ASSERT_TRUE(c.connect(o.path));
    std::string burst;
    for (int i = 0; i < 4; ++i) burst += "{\"cmd\":\"ping\"}\n";
    ASSERT_TRUE(c.sendRaw(burst));
  }
  EXPECT_TRUE(waitUntil([&] { return server.clients.load() == 0; }, 3s));
  ControlClient last;
  ASSERT_TRUE(last.connect(o.path));
  auto a = last.ask({{"cmd", "ping"}});
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)["pong"], true);
}


TEST(ControlServerClients, ASharedAnswerReachesEveryClientWholeAndAStuckOneIsDropped) {
  TempDir dir;
  ControlOptions o = smallLimits(dir.path);
  o.max_output = 1u << 20;  // four shared answers
  ServerThread server(o);
  ControlClient a, b, stuck;
  for (auto* c : {&a, &b, &stuck}) ASSERT_TRUE(c->connect(o.path));
  int small = 4096;
  ::setsockopt(stuck.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  for (int i = 0; i < 3; ++i)
    for (auto* c : {&a, &b}) {
      auto r = c->ask({{"cmd", "shared"}}, 5s);
      ASSERT_TRUE(r) << i;
      EXPECT_EQ((*r)["ok"], true);
      EXPECT_EQ((*r)["pad"].get<std::string>().size(), 256u * 1024) << i;
    }
  // Asks again and again without reading: past the output cap it is closed,
  // with shared writes still queued; the others go on.
  std::string burst;
  for (int i = 0; i < 40; ++i) burst += "{\"cmd\":\"shared\"}\n";
  ASSERT_TRUE(stuck.sendRaw(burst));
  EXPECT_TRUE(waitUntil([&] { return server.clients.load() == 2; }, 5s));
  auto r = a.ask({{"cmd", "shared"}}, 5s);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["pad"].get<std::string>().size(), 256u * 1024);
  bool eof = false;
  for (int i = 0; i < 100 && !eof; ++i) eof = !stuck.readLine(2s);
  EXPECT_TRUE(eof);
}

TEST(ControlServerClients, AHalfClosedClientStillGetsTheAnswersDue) {
  // `echo REQUEST | socat - UNIX-CONNECT:...` shuts its sending side down
  // before an answer that comes on a later loop turn: it still gets every
  // answer, in order, and then the end of the connection.
  TempDir dir;
  ControlOptions o = smallLimits(dir.path);
  ServerThread server(o);
  for (int round = 0; round < 20; ++round) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", o.path.c_str());
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string burst = "{\"cmd\":\"later\"}\n{\"cmd\":\"ping\"}\n{\"cmd\":\"later\"}\n";
    ASSERT_EQ(::write(fd, burst.data(), burst.size()), static_cast<ssize_t>(burst.size()));
    ASSERT_EQ(::shutdown(fd, SHUT_WR), 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    EXPECT_EQ(got, "{\"later\":true,\"ok\":true}\n{\"ok\":true,\"pong\":true}\n{\"later\":true,\"ok\":true}\n")
        << "round " << round;
  }
  EXPECT_TRUE(waitUntil([&] { return server.clients.load() == 0; }, 3s));
}

}  // namespace
}  // namespace pathwatch
