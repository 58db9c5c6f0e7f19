// The alert sinks on a real loop: webhooks against a tiny HTTP receiver on
// 127.0.0.1:0 (its own thread), the exec sink running a script written here,
// without a shell. Bounded everywhere: every wait is a loop run with a
// deadline.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <uv.h>

#include "alerts/alerter.h"
#include "alerts/exec_sink.h"
#include "alerts/webhook_sink.h"
#include "pathwatch/fetch.h"
#include "result_bus.h"
#include "support/process_state.h"

namespace pathwatch {
namespace {

using namespace std::chrono_literals;
using testing::processGone;

// ---- a tiny HTTP receiver -------------------------------------------------

struct Received {
  std::string method, path, body;
};

class Receiver {
 public:
  enum class Mode { Ok, Hang, Fail500 };

  explicit Receiver(Mode mode) : mode_(mode) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0)
      throw std::runtime_error("receiver: bind/listen failed");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Receiver() {
    stop_ = true;
    thread_.join();
    for (int c : hung_) ::close(c);
    ::close(fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook/s3cr3t"; }
  std::vector<Received> received() {
    std::lock_guard<std::mutex> l(mu_);
    return got_;
  }
  int connections() const { return connections_; }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++connections_;
      timeval tv{2, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      Received r;
      if (!readRequest(c, r)) {
        ::close(c);
        continue;
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        got_.push_back(r);
      }
      if (mode_ == Mode::Hang) {
        hung_.push_back(c);  // never answered; closed at the end
        continue;
      }
      const char* status = mode_ == Mode::Ok ? "200 OK" : "500 Internal Server Error";
      std::string resp = std::string("HTTP/1.1 ") + status +
                         "\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      (void)!::write(c, resp.data(), resp.size());
      ::close(c);
    }
  }
  static bool readRequest(int c, Received& r) {
    std::string buf;
    char tmp[4096];
    std::size_t header_end = std::string::npos;
    std::size_t want = 0;
    while (buf.size() < (1 << 20)) {
      ssize_t n = ::read(c, tmp, sizeof tmp);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
      if (header_end == std::string::npos) {
        header_end = buf.find("\r\n\r\n");
        if (header_end == std::string::npos) continue;
        std::string head = buf.substr(0, header_end);
        std::istringstream first(head);
        first >> r.method >> r.path;
        std::string lower = head;
        for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        auto cl = lower.find("content-length:");
        if (cl != std::string::npos) want = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
      }
      if (buf.size() >= header_end + 4 + want) {
        r.body = buf.substr(header_end + 4, want);
        return true;
      }
    }
    return false;
  }

  Mode mode_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<Received> got_;
  std::vector<int> hung_;
};

// ---- the loop -------------------------------------------------------------

class Loop {
 public:
  Loop() { uv_loop_init(&loop_); }
  ~Loop() {
    // Close whatever is left, then let the close callbacks run.
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    for (int i = 0; i < 100 && uv_run(&loop_, UV_RUN_NOWAIT) != 0; ++i) {
    }
    uv_loop_close(&loop_);
  }
  uv_loop_t* get() { return &loop_; }

  // Runs the loop until `done()` or the deadline; returns done().
  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline = 10s) {
    uv_timer_t tick;
    uv_timer_init(&loop_, &tick);
    struct Ctx {
      const std::function<bool()>* done;
      uint64_t end;
      bool finished = false;
    } ctx{&done, uv_now(&loop_) + static_cast<uint64_t>(deadline.count())};
    tick.data = &ctx;
    uv_timer_start(
        &tick,
        [](uv_timer_t* t) {
          auto* c = static_cast<Ctx*>(t->data);
          if ((*c->done)() || uv_now(t->loop) >= c->end) {
            c->finished = true;
            uv_stop(t->loop);
          }
        },
        5, 5);
    while (!ctx.finished && !done()) uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&tick);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);  // the close callback
    return done();
  }

 private:
  uv_loop_t loop_;
};

// ---- results ------------------------------------------------------------

RouteResult result(Verdict v, const std::string& route = "isp-a",
                   const std::string& provider = "openai") {
  RouteResult r;
  r.provider = provider;
  r.route = route;
  r.verdict = v;
  r.egress = Egress{"203.0.113.7", "HK", "HKG", "openai"};
  if (v != Verdict::Ok)
    r.evidence = {"http 403 unsupported_country_region_territory authored by provider"};
  return r;
}

Diagnosis diagnosisFor(Verdict v) {
  Diagnosis d;
  d.verdict = v;
  d.cause = causeOf(v);
  d.working_routes = {"vpn"};
  if (v == Verdict::RegionBlocked)
    d.summary = "OpenAI refuses route isp-a (egress 203.0.113.7, HK) by region; route vpn works.";
  return d;
}

// One scheduler cycle as the daemon publishes it: the route result, then the
// provider's diagnosis.
void cycle(ResultBus& bus, Verdict v, const std::string& route = "isp-a") {
  RouteResult r = result(v, route);
  bus.publishRouteResult(r);
  bus.publishDiagnosis("openai", diagnosisFor(v), {r});
}

struct BusEvents : EventSink {
  std::vector<nlohmann::json> events;
  void onEvent(const nlohmann::json& e) override { events.push_back(e); }
};

AlertsConfig alertsTo(const std::string& url, const std::string& format = "json") {
  AlertsConfig cfg;
  cfg.fail_threshold = 2;
  cfg.resolve_threshold = 2;
  cfg.webhooks.push_back(WebhookConfig{url, format, 2s});
  return cfg;
}

AlerterOptions quietOptions() {
  AlerterOptions o;
  o.log = false;
  o.webhook.backoff = {50ms, 100ms};
  return o;
}

// ---- webhooks -------------------------------------------------------------

TEST(AlertsWebhook, RegionBlockForSomeCyclesGivesOneProblemAndOneResolved) {
  Receiver rx(Receiver::Mode::Ok);
  Loop loop;
  ResultBus bus;
  BusEvents on_bus;
  bus.subscribeEvents(&on_bus);
  Alerter alerter(loop.get(), &bus, alertsTo(rx.url()), quietOptions());
  bus.subscribe(&alerter);

  for (Verdict v : {Verdict::Ok, Verdict::Ok, Verdict::RegionBlocked, Verdict::RegionBlocked,
                    Verdict::RegionBlocked, Verdict::RegionBlocked, Verdict::Ok, Verdict::Ok,
                    Verdict::Ok})
    cycle(bus, v);

  ASSERT_TRUE(loop.runUntil([&] { return alerter.stats().webhook_delivered >= 2; }));
  const auto got = rx.received();
  ASSERT_EQ(got.size(), 2u);
  auto problem = nlohmann::json::parse(got[0].body);
  auto resolved = nlohmann::json::parse(got[1].body);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].path, "/hook/s3cr3t");
  EXPECT_EQ(problem["event"], "problem");
  EXPECT_EQ(problem["provider"], "openai");
  EXPECT_EQ(problem["route"], "isp-a");
  EXPECT_EQ(problem["before"], "ok");
  EXPECT_EQ(problem["after"], "region_blocked");
  EXPECT_EQ(problem["cause"], "region");
  EXPECT_EQ(problem["summary"],
            "OpenAI refuses route isp-a (egress 203.0.113.7, HK) by region; route vpn works.");
  EXPECT_EQ(problem["evidence"][0],
            "http 403 unsupported_country_region_territory authored by provider");
  EXPECT_EQ(resolved["event"], "resolved");
  EXPECT_EQ(resolved["before"], "region_blocked");
  EXPECT_EQ(resolved["after"], "ok");
  // The same object on the bus (history, watch) as in the webhook body.
  ASSERT_EQ(on_bus.events.size(), 2u);
  EXPECT_EQ(on_bus.events[0], problem);
  EXPECT_EQ(on_bus.events[1], resolved);
  bus.unsubscribe(&alerter);
}

TEST(AlertsWebhook, FlapShorterThanThresholdSendsNothing) {
  Receiver rx(Receiver::Mode::Ok);
  Loop loop;
  ResultBus bus;
  Alerter alerter(loop.get(), &bus, alertsTo(rx.url()), quietOptions());
  bus.subscribe(&alerter);
  for (Verdict v : {Verdict::Ok, Verdict::RegionBlocked, Verdict::Ok, Verdict::Ok})
    cycle(bus, v);
  EXPECT_EQ(alerter.stats().events, 0u);
  // A real problem on another route afterwards is the only POST: had the
  // flap sent anything, it would have arrived first.
  for (Verdict v : {Verdict::Ok, Verdict::ConnectFailed, Verdict::ConnectFailed})
    cycle(bus, v, "vpn");
  ASSERT_TRUE(loop.runUntil([&] { return alerter.stats().webhook_delivered >= 1; }));
  const auto got = rx.received();
  ASSERT_EQ(got.size(), 1u);
  auto j = nlohmann::json::parse(got[0].body);
  EXPECT_EQ(j["route"], "vpn");
  EXPECT_EQ(j["after"], "connect_failed");
  bus.unsubscribe(&alerter);
}

TEST(AlertsWebhook, SlackFormatSendsTheSummaryAsText) {
  Receiver rx(Receiver::Mode::Ok);
  Loop loop;
  ResultBus bus;
  Alerter alerter(loop.get(), &bus, alertsTo(rx.url(), "slack"), quietOptions());
  bus.subscribe(&alerter);
  for (Verdict v : {Verdict::Ok, Verdict::RegionBlocked, Verdict::RegionBlocked}) cycle(bus, v);
  ASSERT_TRUE(loop.runUntil([&] { return alerter.stats().webhook_delivered >= 1; }));
  const auto got = rx.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(got[0].body),
            (nlohmann::json{{"text", "OpenAI refuses route isp-a (egress 203.0.113.7, HK) by "
                                     "region; route vpn works."}}));
  bus.unsubscribe(&alerter);
}

TEST(AlertsWebhook, HangingReceiverTimesOutAndRetriesWhileTheLoopKeepsRunning) {
  Receiver rx(Receiver::Mode::Hang);
  Loop loop;
  HttpClient http(loop.get());
  WebhookOptions opt;
  opt.tries = 3;
  opt.backoff = {100ms, 400ms};
  WebhookSink sink(loop.get(), http, WebhookConfig{rx.url(), "json", 300ms}, opt);

  // Other work on the same loop: a 10 ms timer, and how late it ever fires.
  struct Ticker {
    uint64_t last = 0, max_late = 0, ticks = 0;
  } ticker;
  uv_timer_t t;
  uv_timer_init(loop.get(), &t);
  t.data = &ticker;
  uv_update_time(loop.get());
  ticker.last = uv_now(loop.get());
  uv_timer_start(
      &t,
      [](uv_timer_t* h) {
        auto* k = static_cast<Ticker*>(h->data);
        uv_update_time(h->loop);
        const uint64_t now = uv_now(h->loop);
        const uint64_t gap = now - k->last;
        if (gap > 10) k->max_late = std::max(k->max_late, gap - 10);
        k->last = now;
        ++k->ticks;
      },
      10, 10);

  sink.send(nlohmann::json{{"event", "problem"}, {"summary", "s"}});
  ASSERT_TRUE(loop.runUntil([&] { return sink.failed() == 1; }, 20s));
  uv_timer_stop(&t);
  uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);

  EXPECT_EQ(sink.attempts(), 3u);
  EXPECT_EQ(sink.delivered(), 0u);
  EXPECT_EQ(rx.received().size(), 3u);  // each try reached the receiver
  // 3 x 300 ms timeouts + 500 ms backoff: the ticker ran all along.
  EXPECT_GT(ticker.ticks, 50u);
  EXPECT_LT(ticker.max_late, 500u) << "the loop stalled while a webhook hung";
}

TEST(AlertsWebhook, ServerErrorIsRetriedThenGivenUp) {
  Receiver rx(Receiver::Mode::Fail500);
  Loop loop;
  HttpClient http(loop.get());
  WebhookOptions opt;
  opt.backoff = {20ms, 40ms};
  WebhookSink sink(loop.get(), http, WebhookConfig{rx.url(), "json", 2s}, opt);
  sink.send(nlohmann::json{{"event", "problem"}, {"summary", "s"}});
  ASSERT_TRUE(loop.runUntil([&] { return sink.failed() == 1; }));
  EXPECT_EQ(rx.received().size(), 3u);
}

TEST(AlertsWebhook, FullQueueDropsTheOldest) {
  Receiver rx(Receiver::Mode::Hang);
  Loop loop;
  HttpClient http(loop.get());
  WebhookOptions opt;
  opt.max_queue = 3;
  opt.tries = 1;
  WebhookSink sink(loop.get(), http, WebhookConfig{rx.url(), "json", 500ms}, opt);
  for (int i = 0; i < 10; ++i) sink.send(nlohmann::json{{"event", "problem"}, {"summary", std::to_string(i)}});
  // One in flight (0), then the newest two (8, 9): 7 pushed out.
  EXPECT_EQ(sink.dropped(), 7u);
  EXPECT_EQ(sink.queued(), 3u);
  ASSERT_TRUE(loop.runUntil([&] { return rx.received().size() >= 2; }));
  EXPECT_EQ(nlohmann::json::parse(rx.received()[1].body)["summary"], "8");
  sink.stop();
}

TEST(AlertsWebhook, RedactsTheSecretPathInLogs) {
  EXPECT_EQ(redactUrl("https://hooks.slack.com/services/T0/B0/XYZ"), "https://hooks.slack.com/…");
  EXPECT_EQ(redactUrl("http://user:pw@127.0.0.1:8080/x"), "http://127.0.0.1:8080/…");
  EXPECT_EQ(webhookBody("slack", {{"summary", "hi"}, {"event", "problem"}}), R"({"text":"hi"})");
}

TEST(AlertsWebhook, SlackTextEscapesMentionsAndLinks) {
  // A captive portal's page title lands in the summary; it must not ping anyone.
  const std::string body =
      webhookBody("slack", {{"summary", "title <!channel> & <@U123|x> <https://evil.example|ok>"},
                            {"event", "problem"}});
  const auto text = nlohmann::json::parse(body)["text"].get<std::string>();
  EXPECT_EQ(text, "title &lt;!channel&gt; &amp; &lt;@U123|x&gt; &lt;https://evil.example|ok&gt;");
  EXPECT_EQ(text.find('<'), std::string::npos);
  EXPECT_EQ(text.find('>'), std::string::npos);
  EXPECT_EQ(slackEscape("a&b"), "a&amp;b");
  // The json format carries the event as it is.
  EXPECT_EQ(nlohmann::json::parse(webhookBody("json", {{"summary", "<!here>"}}))["summary"],
            "<!here>");
}

// ---- exec ---------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pathwatch-alerts-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string writeScript(const std::string& dir, const std::string& name, const std::string& text) {
  std::string p = dir + "/" + name;
  std::ofstream(p) << text;
  ::chmod(p.c_str(), 0755);
  return p;
}

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(AlertsExec, CommandGetsTheEventOnStdinAndInItsEnvironment) {
  TempDir dir;
  // Records stdin, argv and the environment as JSON, via a temp file and a
  // rename so the test never sees half a file.
  const std::string script = writeScript(dir.path(), "record.py", R"(#!/usr/bin/python3
import json, os, sys
out = sys.argv[1]
doc = {"stdin": sys.stdin.read(), "argv": sys.argv[1:], "env": dict(os.environ)}
with open(out + ".tmp", "w") as f:
    json.dump(doc, f)
os.rename(out + ".tmp", out)
)");
  const std::string out = dir.path() + "/got.json";
  ::setenv("OPENAI_API_KEY", "sk-proj-Zq4TnW8bLr2XcV7mKp3sYd9FhJ6uGa1eMxYA", 1);

  Loop loop;
  ResultBus bus;
  BusEvents on_bus;
  bus.subscribeEvents(&on_bus);
  AlertsConfig cfg;
  // A shell would split and run this; exec hands it over as one argument.
  cfg.exec.push_back({script, out, "x; touch " + dir.path() + "/pwned"});
  Alerter alerter(loop.get(), &bus, cfg, quietOptions());
  bus.subscribe(&alerter);
  for (Verdict v : {Verdict::Ok, Verdict::RegionBlocked, Verdict::RegionBlocked}) cycle(bus, v);
  // Until the command has exited, so it is reaped before the loop goes.
  ASSERT_TRUE(loop.runUntil([&] { return alerter.stats().exec_succeeded == 1; }));
  EXPECT_EQ(alerter.stats().exec_started, 1u);
  ::unsetenv("OPENAI_API_KEY");

  auto doc = nlohmann::json::parse(slurp(out));
  ASSERT_EQ(on_bus.events.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(doc["stdin"].get<std::string>()), on_bus.events[0]);
  EXPECT_EQ(doc["argv"], (nlohmann::json{out, "x; touch " + dir.path() + "/pwned"}));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/pwned"));
  const auto& env = doc["env"];
  EXPECT_EQ(env["PATHWATCH_EVENT"], "problem");
  EXPECT_EQ(env["PATHWATCH_PROVIDER"], "openai");
  EXPECT_EQ(env["PATHWATCH_ROUTE"], "isp-a");
  EXPECT_EQ(env["PATHWATCH_BEFORE"], "ok");
  EXPECT_EQ(env["PATHWATCH_AFTER"], "region_blocked");
  EXPECT_EQ(env["PATHWATCH_SUMMARY"], on_bus.events[0]["summary"]);
  // The daemon's keys stay in the daemon.
  EXPECT_FALSE(env.contains("OPENAI_API_KEY"));
  EXPECT_EQ(doc.dump().find("Zq4TnW8b"), std::string::npos);
  bus.unsubscribe(&alerter);
}

TEST(AlertsExec, EgressEventPassesObjectsAsJson) {
  auto env = execEnvironment({{"event", "egress_changed"},
                              {"provider", nullptr},
                              {"route", "isp-a"},
                              {"before", {{"ip", "203.0.113.7"}}},
                              {"after", {{"ip", "198.51.100.4"}}},
                              {"summary", "moved"}});
  EXPECT_NE(std::find(env.begin(), env.end(), "PATHWATCH_PROVIDER="), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), R"(PATHWATCH_BEFORE={"ip":"203.0.113.7"})"),
            env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), R"(PATHWATCH_AFTER={"ip":"198.51.100.4"})"),
            env.end());
}

TEST(AlertsExec, HungCommandIsKilledAndOthersStillRun) {
  TempDir dir;
  // Ignores SIGTERM, so only the SIGKILL after the grace ends it.
  const std::string hang = writeScript(dir.path(), "hang.py", R"(#!/usr/bin/python3
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.stdin.read()
time.sleep(60)
)");
  Loop loop;
  ExecOptions opt;
  opt.timeout = 200ms;
  opt.kill_grace = 200ms;
  opt.max_concurrent = 1;
  ExecSink sink(loop.get(), {hang}, opt);
  sink.send({{"event", "problem"}});
  sink.send({{"event", "reminder"}});
  EXPECT_EQ(sink.running(), 1u);  // at most max_concurrent
  EXPECT_EQ(sink.queued(), 1u);
  ASSERT_TRUE(loop.runUntil([&] { return sink.timed_out() == 2; }, 15s));
  EXPECT_EQ(sink.failed(), 2u);
  EXPECT_EQ(sink.running(), 0u);
}

bool waitUntilGone(Loop& loop, pid_t pid) {
  return loop.runUntil([&] { return processGone(pid); }, 5s);
}

// A hook that ignores SIGTERM and records its pid (and its child's).
std::string stubbornHook(const std::string& dir) {
  return writeScript(dir, "stubborn.sh", "#!/bin/sh\n"
                                         "trap '' TERM\n"
                                         "sleep 60 &\n"
                                         "echo $$ $! > " + dir + "/pids.tmp\n"
                                         "mv " + dir + "/pids.tmp " + dir + "/pids\n"
                                         "wait\n");
}

std::vector<pid_t> readPids(const std::string& path) {
  std::ifstream f(path);
  std::vector<pid_t> out;
  for (pid_t p; f >> p;) out.push_back(p);
  return out;
}

TEST(AlertsExec, StopGivesSigtermThenSigkillAfterTheGrace) {
  TempDir dir;
  Loop loop;
  ExecOptions opt;
  opt.kill_grace = 300ms;
  ExecSink sink(loop.get(), {stubbornHook(dir.path())}, opt);
  sink.send({{"event", "problem"}});
  ASSERT_TRUE(loop.runUntil([&] { return readPids(dir.path() + "/pids").size() == 2; }, 10s));
  const auto pids = readPids(dir.path() + "/pids");
  sink.stop();
  EXPECT_EQ(sink.running(), 1u) << "SIGTERM is ignored: it still runs within the grace";
  ASSERT_TRUE(loop.runUntil([&] { return sink.running() == 0; }, 10s))
      << "the SIGKILL after the grace ends it";
  for (pid_t p : pids) EXPECT_TRUE(waitUntilGone(loop, p)) << "pid " << p;
}

TEST(AlertsExec, DestroyingTheSinkKillsAHookThatIgnoresSigterm) {
  TempDir dir;
  Loop loop;
  std::vector<pid_t> pids;
  {
    ExecOptions opt;
    opt.kill_grace = 30s;  // the owner's end must not wait for it
    auto sink = std::make_unique<ExecSink>(loop.get(), std::vector<std::string>{stubbornHook(dir.path())}, opt);
    sink->send({{"event", "problem"}});
    ASSERT_TRUE(loop.runUntil([&] { return readPids(dir.path() + "/pids").size() == 2; }, 10s));
    pids = readPids(dir.path() + "/pids");
    sink->stop();  // SIGTERM, ignored
    loop.runUntil([] { return false; }, 100ms);
    ASSERT_FALSE(processGone(pids[0]));
  }
  // The hook and its own child (same process group) are killed, and the hook
  // is reaped: not even a zombie is left of it.
  for (pid_t p : pids) EXPECT_TRUE(waitUntilGone(loop, p)) << "pid " << p;
  EXPECT_TRUE(loop.runUntil([&] { return ::kill(pids[0], 0) != 0; }, 5s));
}

// The daemon ignores SIGPIPE and may hold descriptors without close-on-exec
// (a library's socket); a hook inherits neither, and starts in its own
// session.
TEST(AlertsExec, HookStartsCleanWithoutTheDaemonsDescriptorsOrSignalState) {
  TempDir dir;
  const std::string out = dir.path() + "/state";
  const std::string hook = writeScript(dir.path(), "state.sh", "#!/bin/sh\n"
                                       "cat >/dev/null\n"
                                       "{ grep '^SigIgn:' /proc/$$/status\n"
                                       "  for f in /proc/$$/fd/*; do echo fd \"$(readlink $f)\"; done\n"
                                       "  echo leads $(cut -d' ' -f6 /proc/$$/stat) $$\n"
                                       "} > " + out + ".tmp\n"
                                       "mv " + out + ".tmp " + out + "\n");
  // dash clears its signal mask as it starts; python leaves it as inherited.
  const std::string blocked_out = dir.path() + "/blocked";
  const std::string mask_hook = writeScript(dir.path(), "mask.py", R"(#!/usr/bin/python3
import os, sys
sys.stdin.read()
line = [l for l in open("/proc/self/status") if l.startswith("SigBlk:")][0]
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(line)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
)");
  const std::string marker = dir.path() + "/daemon-secret-fd";
  std::ofstream(marker) << "x";
  const int leaky = ::open(marker.c_str(), O_RDONLY);  // no O_CLOEXEC, on purpose
  ASSERT_GE(leaky, 0);
  sigset_t usr1, before;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &usr1, &before), 0);

  Loop loop;
  ExecSink sink(loop.get(), {hook});  // its constructor makes the daemon ignore SIGPIPE
  ExecSink mask_sink(loop.get(), {mask_hook, blocked_out});
  sink.send({{"event", "problem"}});
  mask_sink.send({{"event", "problem"}});
  ASSERT_TRUE(loop.runUntil([&] { return sink.succeeded() == 1 && mask_sink.succeeded() == 1; },
                            10s))
      << sink.failed() << " " << mask_sink.failed();
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  ::close(leaky);

  std::ifstream f(out), g(blocked_out);
  std::stringstream both;
  both << f.rdbuf() << g.rdbuf();
  std::string line;
  uint64_t ignored = ~0ull, blocked = ~0ull;
  std::vector<std::string> fds;
  std::string session, pid;
  while (std::getline(both, line)) {
    std::istringstream ls(line);
    std::string key, value;
    ls >> key >> value;
    if (key == "SigIgn:") ignored = std::stoull(value, nullptr, 16);
    if (key == "SigBlk:") blocked = std::stoull(value, nullptr, 16);
    if (key == "fd") fds.push_back(line.substr(3));
    if (key == "leads") {
      session = value;
      ls >> pid;
    }
  }
  EXPECT_EQ(ignored & (1ull << (SIGPIPE - 1)), 0u) << "SIGPIPE is at its default";
  EXPECT_EQ(blocked, 0u) << "no signal blocked";
  EXPECT_FALSE(fds.empty());
  for (const auto& target : fds) EXPECT_EQ(target.find("daemon-secret-fd"), std::string::npos);
  EXPECT_FALSE(pid.empty());
  EXPECT_EQ(session, pid) << "the hook leads its own session";
}

TEST(AlertsExec, MissingCommandIsCountedNotFatal) {
  Loop loop;
  ExecSink sink(loop.get(), {"/nonexistent/page-oncall"});
  sink.send({{"event", "problem"}});
  EXPECT_EQ(sink.failed(), 1u);
  EXPECT_EQ(sink.running(), 0u);
  loop.runUntil([] { return false; }, 20ms);  // close callbacks run
}

TEST(AlertsExec, ACommandThatCannotStartIsLoggedWithTheReason) {
  TempDir dir;
  const std::string hook = dir.path() + "/not-executable";
  std::ofstream(hook) << "#!/bin/sh\necho paged\n";  // mode 0644: no exec bit
  Loop loop;
  ExecSink sink(loop.get(), {hook});
  ::testing::internal::CaptureStderr();
  sink.send({{"event", "problem"}});
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(sink.failed(), 1u);
  EXPECT_EQ(sink.running(), 0u);
  EXPECT_NE(log.find("could not start: Permission denied"), std::string::npos) << log;
  loop.runUntil([] { return false; }, 20ms);  // close callbacks run
}

// ---- the bus and egress ---------------------------------------------------

TEST(AlertsBus, EgressChangeReachesTheBusAtOnce) {
  Loop loop;
  ResultBus bus;
  BusEvents on_bus;
  bus.subscribeEvents(&on_bus);
  Alerter alerter(loop.get(), &bus, AlertsConfig{}, quietOptions());
  bus.subscribe(&alerter);
  RouteResult r = result(Verdict::Ok);
  bus.publishRouteResult(r);
  r.egress->ip = "198.51.100.4";
  r.egress->country = "US";
  bus.publishRouteResult(r);
  ASSERT_EQ(on_bus.events.size(), 1u);
  EXPECT_EQ(on_bus.events[0]["event"], "egress_changed");
  EXPECT_TRUE(on_bus.events[0]["provider"].is_null());
  EXPECT_EQ(on_bus.events[0]["before"]["ip"], "203.0.113.7");
  EXPECT_EQ(on_bus.events[0]["after"]["country"], "US");
  bus.unsubscribe(&alerter);
}

TEST(AlertsBus, WithoutADiagnosisTheAlertStillGoesOutAfterTheWait) {
  Loop loop;
  ResultBus bus;
  BusEvents on_bus;
  bus.subscribeEvents(&on_bus);
  AlerterOptions o = quietOptions();
  o.diagnosis_wait = 30ms;
  Alerter alerter(loop.get(), &bus, AlertsConfig{}, o);
  bus.subscribe(&alerter);
  bus.publishRouteResult(result(Verdict::Ok));
  bus.publishRouteResult(result(Verdict::ConnectFailed));
  bus.publishRouteResult(result(Verdict::ConnectFailed));
  EXPECT_TRUE(on_bus.events.empty());  // waiting for the diagnosis
  ASSERT_TRUE(loop.runUntil([&] { return on_bus.events.size() == 1; }));
  EXPECT_EQ(on_bus.events[0]["after"], "connect_failed");
  bus.unsubscribe(&alerter);
}

TEST(AlertsBus, TwoDecisionsBeforeADiagnosisBothGoOutInOrder) {
  Loop loop;
  ResultBus bus;
  BusEvents on_bus;
  bus.subscribeEvents(&on_bus);
  Alerter alerter(loop.get(), &bus, AlertsConfig{}, quietOptions());
  bus.subscribe(&alerter);
  for (Verdict v : {Verdict::Ok, Verdict::ConnectFailed, Verdict::ConnectFailed, Verdict::Ok,
                    Verdict::Ok})
    bus.publishRouteResult(result(v));
  bus.publishDiagnosis("openai", diagnosisFor(Verdict::Ok), {});
  ASSERT_EQ(on_bus.events.size(), 2u);
  EXPECT_EQ(on_bus.events[0]["event"], "problem");
  EXPECT_EQ(on_bus.events[1]["event"], "resolved");
  bus.unsubscribe(&alerter);
}

TEST(AlertsBus, ShutdownFlushesDecidedAlertsToTheBus) {
  Loop loop;
  ResultBus bus;
  BusEvents on_bus;
  bus.subscribeEvents(&on_bus);
  Alerter alerter(loop.get(), &bus, AlertsConfig{}, quietOptions());
  bus.subscribe(&alerter);
  bus.publishRouteResult(result(Verdict::ConnectFailed));  // problem at start
  bus.publishShutdown();
  ASSERT_EQ(on_bus.events.size(), 1u);
  EXPECT_TRUE(on_bus.events[0]["before"].is_null());
  bus.publishRouteResult(result(Verdict::Ok));
  EXPECT_EQ(on_bus.events.size(), 1u);  // nothing after shutdown
  bus.unsubscribe(&alerter);
}

}  // namespace
}  // namespace pathwatch
