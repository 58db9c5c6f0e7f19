// The control socket against a running pathwatchd: every command, garbage,
// a 10 MB line, a client that never reads, 200 concurrent clients while
// another gets answers, bounded memory, and no key in any answer.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>

#include "history.h"
#include "support/daemon_harness.h"
#include "pathwatch/clock.h"

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

// ---- who may run and reload -------------------------------------------------

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr gid_t kOperators = 4242;  // the socket's group in these tests

struct Credentials {
  gid_t gid = kNogroup;
  std::vector<gid_t> groups;
};

// Runs `requests` on the socket from a forked child that dropped to uid
// nobody with `cred`; returns one answer per request (null when none came).
std::vector<json> askAs(const std::string& socket, const Credentials& cred,
                        const std::vector<json>& requests) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    if (::setgroups(cred.groups.size(), cred.groups.data()) != 0) _exit(90);
    if (::setresgid(cred.gid, cred.gid, cred.gid) != 0) _exit(91);
    if (::setresuid(kNobody, kNobody, kNobody) != 0) _exit(92);
    if (::geteuid() != kNobody) _exit(93);
    json out = json::array();
    for (const auto& req : requests) {
      SocketClient c;
      if (!c.connect(socket)) {
        out.push_back(nullptr);
        continue;
      }
      auto a = c.ask(req, 20s);
      out.push_back(a ? *a : json(nullptr));
    }
    std::string text = out.dump();
    if (::write(fds[1], text.data(), text.size()) != static_cast<ssize_t>(text.size())) _exit(94);
    _exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[65536];
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 60000) <= 0) break;
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  json out = json::parse(text, nullptr, false);
  if (!out.is_array() || out.size() != requests.size()) return std::vector<json>(requests.size());
  return std::vector<json>(out.begin(), out.end());
}

class ControlAccess : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = writeConfig(dir_.path, {{"timeout", "1s"}});
    daemon_.reset(new DaemonProcess(
        DaemonProcess::start(config, dir_.path + "/pw.sock", dir_.path + "/daemon.log")));
    SocketClient c;
    ASSERT_TRUE(waitUntil([&] { return c.connect(daemon_->socket); }, 15s));
    // nobody may traverse to the socket; the socket's group is the operators'.
    ASSERT_EQ(::chmod(dir_.path.c_str(), 0711), 0);
    ASSERT_EQ(::chown(daemon_->socket.c_str(), 0, kOperators), 0);
  }
  void TearDown() override {
    daemon_->kill(SIGTERM);
    daemon_->wait(10s);
  }
  TempDir dir_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(ControlAccess, OthersMayReadButNotRunOrReload) {
  // An admin loosened the mode: anyone can connect now, yet only reading is open.
  ASSERT_EQ(::chmod(daemon_->socket.c_str(), 0666), 0);
  auto answers = askAs(daemon_->socket, {kNogroup, {}},
                       {{{"cmd", "status"}}, {{"cmd", "history"}, {"limit", 1}},
                        {{"cmd", "watch"}}, {{"cmd", "run"}}, {{"cmd", "reload"}}});
  ASSERT_EQ(answers.size(), 5u);
  EXPECT_EQ(answers[0]["ok"], true) << answers[0].dump();
  EXPECT_EQ(answers[1]["ok"], true) << answers[1].dump();
  EXPECT_EQ(answers[2]["ok"], true) << answers[2].dump();
  for (int i : {3, 4}) {
    EXPECT_EQ(answers[i]["ok"], false) << answers[i].dump();
    EXPECT_NE(answers[i].value("error", "").find("needs root, the daemon's user or the socket's group"),
              std::string::npos)
        << answers[i].dump();
    EXPECT_FALSE(answers[i].contains("report"));
  }
  EXPECT_EQ(readFile(daemon_->log_path).find("reloading config"), std::string::npos)
      << "a refused reload must not reload";
}

TEST_F(ControlAccess, TheSocketsGroupMayRunAndReload) {
  // Supplementary group: what `usermod -aG` gives an operator.
  auto supp = askAs(daemon_->socket, {kNogroup, {kOperators}},
                    {{{"cmd", "reload"}}, {{"cmd", "run"}}});
  ASSERT_EQ(supp.size(), 2u);
  EXPECT_EQ(supp[0]["ok"], true) << supp[0].dump();
  EXPECT_EQ(supp[0]["reloaded"], true);
  EXPECT_EQ(supp[1]["ok"], true) << supp[1].dump();
  EXPECT_TRUE(supp[1]["report"].is_object());
  // Primary group.
  auto primary = askAs(daemon_->socket, {kOperators, {}}, {{{"cmd", "reload"}}});
  EXPECT_EQ(primary[0]["ok"], true) << primary[0].dump();
  // Root too.
  SocketClient root;
  ASSERT_TRUE(root.connect(daemon_->socket));
  auto r = root.ask({{"cmd", "reload"}});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["ok"], true);
}

TEST_F(ControlAccess, WithoutTheGroupNobodyCannotEvenConnect) {
  // Mode 0660 as the daemon made it: the kernel refuses the connect.
  ASSERT_EQ(::chmod(daemon_->socket.c_str(), 0660), 0);
  auto a = askAs(daemon_->socket, {kNogroup, {}}, {{{"cmd", "status"}}});
  EXPECT_TRUE(a[0].is_null()) << a[0].dump();
}

// ---- bursts, queues and caps -------------------------------------------------

int countOf(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(ControlBursts, ManyReloadsInOneReadAreOneReload) {
  TempDir dir;
  auto config = writeConfig(dir.path);
  auto d = DaemonProcess::start(config, dir.path + "/pw.sock", dir.path + "/daemon.log");
  SocketClient c;
  ASSERT_TRUE(waitUntil([&] { return c.connect(d.socket); }, 15s));
  ASSERT_TRUE(c.sendRaw("{\"cmd\":\"reload\"}\n{\"cmd\":\"reload\"}\n{\"cmd\":\"reload\"}\n"
                        "{\"cmd\":\"reload\"}\n"));
  std::vector<json> answers;
  for (int i = 0; i < 4; ++i) {
    auto a = c.readJson(10s);
    ASSERT_TRUE(a) << "answer " << i;
    answers.push_back(*a);
  }
  for (const auto& a : answers) {
    EXPECT_EQ(a, answers[0]) << "every requester gets the same answer";
    EXPECT_EQ(a["ok"], true) << a.dump();
  }
  d.kill(SIGTERM);
  ASSERT_TRUE(d.wait(10s));
  EXPECT_EQ(countOf(readFile(d.log_path), "reloading config"), 1) << readFile(d.log_path);
}

// A loopback port that completes TCP handshakes but never answers: a probe
// against it lasts until the config's timeout.
class Blackhole {
 public:
  Blackhole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 64);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Blackhole() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(ControlBursts, RunDuringARunJoinsItAndOneRightAfterIsCoalesced) {
  TempDir dir;
  Blackhole hole;
  json base = baseConfig(dir.path);
  base["interval"] = "1h";
  base["timeout"] = "2s";
  base["providers"][4]["base_url"] = "http://127.0.0.1:" + std::to_string(hole.port()) + "/v1";
  std::string config = dir.path + "/config.json";
  std::ofstream(config) << base.dump();
  auto d = DaemonProcess::start(config, dir.path + "/pw.sock", dir.path + "/daemon.log");
  SocketClient a, b, c;
  ASSERT_TRUE(waitUntil([&] { return a.connect(d.socket); }, 15s));
  ASSERT_TRUE(b.connect(d.socket));
  ASSERT_TRUE(c.connect(d.socket));

  ASSERT_TRUE(a.send({{"cmd", "run"}}));
  std::this_thread::sleep_for(300ms);  // a's run is waiting on the blackhole
  auto joined = b.ask({{"cmd", "run"}}, 20s);
  auto first = a.readJson(20s);
  ASSERT_TRUE(first && joined);
  EXPECT_EQ((*first)["ok"], true) << first->dump();
  EXPECT_FALSE(first->contains("coalesced")) << first->dump();
  EXPECT_EQ((*joined)["ok"], true);
  EXPECT_EQ((*joined)["coalesced"], true) << joined->dump();
  EXPECT_EQ((*joined)["report"], (*first)["report"]) << "the run it joined";

  // Within `timeout` after it finished: the same report, marked, at once.
  auto t0 = std::chrono::steady_clock::now();
  auto soon = c.ask({{"cmd", "run"}}, 20s);
  ASSERT_TRUE(soon);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ((*soon)["coalesced"], true) << soon->dump();
  EXPECT_EQ((*soon)["report"], (*first)["report"]);
  EXPECT_TRUE((*soon)["age_ms"].is_number());

  // After `timeout`, a new run.
  std::this_thread::sleep_for(2200ms);
  auto later = c.ask({{"cmd", "run"}}, 20s);
  ASSERT_TRUE(later);
  EXPECT_FALSE(later->contains("coalesced")) << later->dump();
  EXPECT_NE((*later)["report"], (*first)["report"]);
  d.kill(SIGTERM);
  d.wait(10s);
}

TEST_F(ControlSocket, RequestsWaitTheirTurnUpToACapThenTheClientIsClosed) {
  const std::string status = "{\"cmd\": \"status\"}\n";
  {
    // A reload (answered on a later loop turn) and four behind it: all
    // answered, in order.
    auto c = client();
    std::string burst = "{\"cmd\": \"reload\"}\n";
    for (int i = 0; i < 4; ++i) burst += status;
    ASSERT_TRUE(c.sendRaw(burst));
    auto first = c.readJson(10s);
    ASSERT_TRUE(first);
    EXPECT_EQ((*first)["reloaded"], true) << "answers come in request order: " << first->dump();
    for (int i = 0; i < 4; ++i) {
      auto a = c.readJson(10s);
      ASSERT_TRUE(a) << i;
      EXPECT_EQ((*a)["ok"], true);
      EXPECT_TRUE(a->contains("providers"));
    }
  }
  {
    // Five behind it: the fifth gets an error and the connection closes.
    auto c = client();
    std::string burst = "{\"cmd\": \"reload\"}\n";
    for (int i = 0; i < 5; ++i) burst += status;
    ASSERT_TRUE(c.sendRaw(burst));
    auto err = c.readJson(10s);
    ASSERT_TRUE(err);
    EXPECT_EQ((*err)["ok"], false);
    EXPECT_NE((*err)["error"].get<std::string>().find("too many requests waiting"), std::string::npos)
        << err->dump();
    EXPECT_FALSE(c.readLine(10s)) << "closed after the error";
    EXPECT_EQ(c.lastError(), ControlErrorKind::Closed);
  }
}

TEST_F(ControlSocket, WatchersAreCappedAtThirtyTwo) {
  std::vector<SocketClient> watchers;
  for (int i = 0; i < 32; ++i) {
    auto c = client();
    auto a = c.ask({{"cmd", "watch"}});
    ASSERT_TRUE(a);
    ASSERT_EQ((*a)["ok"], true) << i;
    watchers.push_back(std::move(c));
  }
  auto extra = client();
  auto refused = extra.ask({{"cmd", "watch"}});
  ASSERT_TRUE(refused);
  EXPECT_EQ((*refused)["ok"], false);
  EXPECT_NE((*refused)["error"].get<std::string>().find("too many watchers"), std::string::npos);
  auto s = extra.ask({{"cmd", "status"}});
  ASSERT_TRUE(s) << "the refused watcher's connection stays usable";
  EXPECT_EQ((*s)["ok"], true);
  watchers.pop_back();
  // A place is free again once the daemon saw the close.
  EXPECT_TRUE(waitUntil(
      [&] {
        auto again = extra.ask({{"cmd", "watch"}});
        return again && (*again)["ok"] == true;
      },
      5s, 50ms));
}

TEST(ControlHistory, AHugeHistoryAnswerStaysWithinTheOutputCap) {
  TempDir dir;
  auto config = writeConfig(dir.path);
  {
    // 12000 results with long evidence in the last hour: several MB as JSON.
    History h(dir.path + "/history.db");
    const int64_t now = wallClockMs();
    for (int batch = 0; batch < 120; ++batch) {
      HistoryBatch b;
      for (int i = 0; i < 100; ++i) {
        RouteResult r;
        r.provider = "fake";
        r.route = "default";
        r.verdict = Verdict::ConnectFailed;
        r.evidence = {std::string(300, 'e'), "row " + std::to_string(batch * 100 + i)};
        b.results.push_back(resultRow(r, now - 3600000 + batch * 100 + i));
      }
      h.write(b);
    }
  }
  auto d = DaemonProcess::start(config, dir.path + "/pw.sock", dir.path + "/daemon.log");
  SocketClient c;
  ASSERT_TRUE(waitUntil([&] { return c.connect(d.socket); }, 15s));
  ASSERT_TRUE(c.send({{"cmd", "history"}, {"limit", 10000}, {"since", "2h"}}));
  auto line = c.readLine(30s);
  ASSERT_TRUE(line) << toString(c.lastError());
  EXPECT_LE(line->size(), 1024u * 1024u) << "the answer is " << line->size() << " bytes";
  json a = json::parse(*line);
  EXPECT_EQ(a["ok"], true) << line->substr(0, 200);
  EXPECT_EQ(a["truncated"], true);
  EXPECT_GT(a["results"].size(), 100u) << "as many rows as fit";
  EXPECT_EQ(a["results"].size() + a["omitted"]["results"].get<std::size_t>(), 10000u);
  // Newest first, contiguous: the first row is the newest.
  EXPECT_EQ(a["results"][0]["evidence"].dump().find("row 11999") != std::string::npos, true)
      << a["results"][0].dump();
  // Small answers say they are whole.
  auto small = c.ask({{"cmd", "history"}, {"limit", 3}});
  ASSERT_TRUE(small);
  EXPECT_EQ((*small)["truncated"], false);
  EXPECT_EQ((*small)["results"].size(), 3u);
  d.kill(SIGTERM);
  d.wait(10s);
}

}  // namespace
}  // namespace pathwatch::daemon_test
