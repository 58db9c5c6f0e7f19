// The control socket against a running pathwatchd: every command, garbage,
// a 10 MB line, a client that never reads, 200 concurrent clients while
// another gets answers, bounded memory, and no key in any answer.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "support/daemon_harness.h"

namespace pathwatch::daemon_test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const char* kFakeKey = "sk-proj-Qm3vT8xLw2Rk9ZpB4nYc7HdJ5sFg1AeUo6iKtNbVq0WyXr";

class ControlSocket : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    auto config = writeConfig(dir_->path);
    daemon_ = new DaemonProcess(DaemonProcess::start(config, dir_->path + "/pw.sock",
                                                     dir_->path + "/daemon.log",
                                                     {{"PATHWATCH_TEST_FAKE_KEY", kFakeKey}}));
    SocketClient c;
    ASSERT_TRUE(waitUntil([&] { return c.connect(daemon_->socket); }, 15s));
    // Wait for one full cycle so status and history have something.
    ASSERT_TRUE(waitUntil(
        [&] {
          auto s = c.ask({{"cmd", "status"}});
          return s && (*s)["providers"].size() == 1 && (*s)["providers"][0]["diagnosis"].is_object();
        },
        20s, 100ms));
  }
  static void TearDownTestSuite() {
    daemon_->kill(SIGTERM);
    auto rc = daemon_->wait(5s);
    EXPECT_TRUE(rc && *rc == 0);
    std::string log = readFile(daemon_->log_path);
    EXPECT_EQ(log.find(kFakeKey), std::string::npos) << "the key reached the log";
    delete daemon_;
    delete dir_;
  }
  SocketClient client() {
    SocketClient c;
    EXPECT_TRUE(c.connect(daemon_->socket));
    return c;
  }
  static void expectNoKey(const json& j) {
    EXPECT_EQ(j.dump().find(kFakeKey), std::string::npos) << "key leaked into an answer";
  }
  static TempDir* dir_;
  static DaemonProcess* daemon_;
};
TempDir* ControlSocket::dir_ = nullptr;
DaemonProcess* ControlSocket::daemon_ = nullptr;

TEST_F(ControlSocket, StatusShowsDiagnosisSinceAndRoutes) {
  auto c = client();
  auto s = c.ask({{"cmd", "status"}});
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)["ok"], true);
  const auto& p = (*s)["providers"][0];
  EXPECT_EQ(p["name"], "fake");
  EXPECT_TRUE(p["diagnosis"]["verdict"].is_string());
  EXPECT_TRUE(p["since"].is_string());
  EXPECT_TRUE(p.contains("last_change"));
  ASSERT_EQ(p["routes"].size(), 1u);
  EXPECT_EQ(p["routes"][0]["route"], "default");
  // Nothing listens on the fake provider's port.
  EXPECT_EQ(p["routes"][0]["verdict"], "connect_failed") << s->dump();
  EXPECT_EQ((*s)["daemon"]["pid"], daemon_->pid);
  expectNoKey(*s);
}

TEST_F(ControlSocket, HistoryFiltersAndRejectsBadArguments) {
  auto c = client();
  auto h = c.ask({{"cmd", "history"},
                  {"provider", "fake"},
                  {"route", "default"},
                  {"since", "24h"},
                  {"transitions", true},
                  {"alerts", true},
                  {"limit", 5}});
  ASSERT_TRUE(h);
  EXPECT_EQ((*h)["ok"], true) << h->dump();
  ASSERT_TRUE((*h)["results"].is_array());
  EXPECT_GE((*h)["results"].size(), 1u);
  EXPECT_LE((*h)["results"].size(), 5u);
  EXPECT_EQ((*h)["results"][0]["provider"], "fake");
  EXPECT_TRUE((*h)["transitions"].is_array());
  EXPECT_TRUE((*h)["alerts"].is_array());
  expectNoKey(*h);

  auto none = c.ask({{"cmd", "history"}, {"provider", "nobody"}});
  ASSERT_TRUE(none);
  EXPECT_EQ((*none)["results"].size(), 0u);

  for (json bad : {json{{"cmd", "history"}, {"since", "yesterday"}},
                   json{{"cmd", "history"}, {"limit", -1}},
                   json{{"cmd", "history"}, {"limit", "ten"}},
                   json{{"cmd", "history"}, {"provider", 7}},
                   json{{"cmd", "history"}, {"transitions", "yes"}}}) {
    auto r = c.ask(bad);
    ASSERT_TRUE(r) << bad.dump();
    EXPECT_EQ((*r)["ok"], false) << bad.dump();
    EXPECT_TRUE((*r)["error"].is_string());
  }
}

TEST_F(ControlSocket, RunAnswersWithTheReportWhenDone) {
  auto c = client();
  auto r = c.ask({{"cmd", "run"}}, 30s);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["ok"], true) << r->dump();
  const auto& rep = (*r)["report"];
  ASSERT_EQ(rep["providers"].size(), 1u);
  EXPECT_EQ(rep["providers"][0]["name"], "fake");
  EXPECT_EQ(rep["providers"][0]["routes"][0]["verdict"], "connect_failed");
  expectNoKey(*r);
}

TEST_F(ControlSocket, ReloadAnswers) {
  auto c = client();
  auto r = c.ask({{"cmd", "reload"}});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["ok"], true) << r->dump();
  auto s = c.ask({{"cmd", "status"}});
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)["ok"], true);
}

TEST_F(ControlSocket, WatchStreamsResultsUntilClosed) {
  auto c = client();
  auto ack = c.ask({{"cmd", "watch"}});
  ASSERT_TRUE(ack);
  EXPECT_EQ((*ack)["ok"], true);
  auto ev = c.readJson(15s);
  ASSERT_TRUE(ev);
  EXPECT_EQ((*ev)["event"], "result");
  EXPECT_EQ((*ev)["provider"], "fake");
  EXPECT_TRUE((*ev)["verdict"].is_string());
  expectNoKey(*ev);
}

TEST_F(ControlSocket, GarbageGetsAnErrorAndTheConnectionStaysUsable) {
  auto c = client();
  for (std::string bad : {"not json at all", "[1,2,3]", "{\"nocmd\": 1}", "{\"cmd\": 5}",
                          "{\"cmd\": \"selfdestruct\"}", "{\"cmd\": \"status\"", "\x01\x02\xff"}) {
    ASSERT_TRUE(c.sendRaw(bad + "\n"));
    auto r = c.readJson(5s);
    ASSERT_TRUE(r) << "no answer to " << bad;
    EXPECT_EQ((*r)["ok"], false) << bad;
    EXPECT_TRUE((*r)["error"].is_string());
  }
  auto s = c.ask({{"cmd", "status"}});
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)["ok"], true);
}

TEST_F(ControlSocket, TenMegabyteLineIsRefusedAndMemoryStaysBounded) {
  long before = vmRssKiB(daemon_->pid);
  ASSERT_GT(before, 0);
  auto c = client();
  std::string chunk(1 << 20, 'x');
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.sendRaw(chunk));
  ASSERT_TRUE(c.sendRaw("\n{\"cmd\": \"status\"}\n"));
  auto r = c.readJson(10s);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["ok"], false);
  EXPECT_NE((*r)["error"].get<std::string>().find("too large"), std::string::npos);
  auto s = c.readJson(10s);
  ASSERT_TRUE(s) << "the connection stays usable after the long line";
  EXPECT_EQ((*s)["ok"], true);
  long after = vmRssKiB(daemon_->pid);
  EXPECT_LT(after - before, 8 * 1024) << "RSS grew by " << (after - before) << " KiB";
}

TEST_F(ControlSocket, ClientThatNeverReadsIsDroppedWithoutBlockingOthers) {
  long before = vmRssKiB(daemon_->pid);
  auto slow = client();
  int small = 4096;
  ::setsockopt(slow.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  // Thousands of requests whose answers it never reads.
  std::string req;
  for (int i = 0; i < 200; ++i) req += "{\"cmd\": \"status\"}\n";
  bool dropped = false;
  for (int round = 0; round < 100 && !dropped; ++round) {
    if (!slow.sendRaw(req)) dropped = true;
    auto other = client();
    auto s = other.ask({{"cmd", "status"}}, 5s);
    ASSERT_TRUE(s) << "another client got no answer while one did not read";
    EXPECT_EQ((*s)["ok"], true);
  }
  // Draining now ends in EOF: the daemon dropped it at its output cap.
  std::size_t got = 0;
  bool eof = false;
  for (int i = 0; i < 200000; ++i) {
    auto l = slow.readLine(2s);
    if (!l) {
      eof = true;
      break;
    }
    got += l->size();
  }
  EXPECT_TRUE(eof);
  EXPECT_TRUE(dropped || got < 100u * 200 * 300) << "it was dropped before all answers went out";
  long after = vmRssKiB(daemon_->pid);
  EXPECT_LT(after - before, 16 * 1024) << "RSS grew by " << (after - before) << " KiB";
}

TEST_F(ControlSocket, TwoHundredClientsWhileAnotherGetsAnswers) {
  auto steady = client();
  std::vector<SocketClient> crowd;
  int refused = 0;
  for (int i = 0; i < 200; ++i) {
    SocketClient c;
    if (!c.connect(daemon_->socket)) {
      ++refused;
      continue;
    }
    crowd.push_back(std::move(c));
    if (i % 20 == 0) {
      auto s = steady.ask({{"cmd", "status"}}, 5s);
      ASSERT_TRUE(s);
      EXPECT_EQ((*s)["ok"], true);
    }
  }
  // Past the cap, connections get an error line and are closed.
  int too_many = 0, served = 0;
  for (auto& c : crowd) {
    if (!c.send({{"cmd", "status"}})) {
      ++too_many;
      continue;
    }
    auto r = c.readJson(5s);
    if (!r) {
      ++too_many;
    } else if ((*r)["ok"] == false) {
      EXPECT_NE((*r)["error"].get<std::string>().find("too many clients"), std::string::npos);
      ++too_many;
    } else {
      ++served;
    }
  }
  EXPECT_GE(served, 50);
  EXPECT_LE(served, 128) << "the client cap (128) holds";
  EXPECT_GE(too_many + refused, 200 - 128);
  crowd.clear();
  ASSERT_TRUE(waitUntil(
      [&] {
        SocketClient c;
        if (!c.connect(daemon_->socket)) return false;
        auto s = c.ask({{"cmd", "status"}}, 2s);
        return s && (*s)["ok"] == true;
      },
      10s));
  auto s = steady.ask({{"cmd", "status"}});
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)["ok"], true);
}

TEST_F(ControlSocket, ManyRequestsOnOneConnectionAnswerInOrder) {
  auto c = client();
  std::string req;
  for (int i = 0; i < 50; ++i) req += "{\"cmd\": \"status\"}\n{\"cmd\": \"bogus\"}\n";
  ASSERT_TRUE(c.sendRaw(req));
  for (int i = 0; i < 50; ++i) {
    auto a = c.readJson(5s);
    auto b = c.readJson(5s);
    ASSERT_TRUE(a && b);
    EXPECT_EQ((*a)["ok"], true);
    EXPECT_EQ((*b)["ok"], false);
  }
}

}  // namespace
}  // namespace pathwatch::daemon_test
