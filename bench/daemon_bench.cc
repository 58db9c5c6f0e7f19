// pathwatchd benchmarks.
//   daemon_bench history [ROWS]            insert rate, per-batch stall, 24 h query over ROWS rows
//   daemon_bench status [CLIENTS] [REQS]   status latency p50/p99 with CLIENTS concurrent clients
//   daemon_bench soak [SECONDS] [INTERVAL] daemon RSS and CPU over a window (loopback fakes)
//   daemon_bench lateness [ROWS] [SECONDS] [MODE]  a 1 ms timer's delay on the loop while the
//                                          recorder writes and retention prunes a ROWS-row history
// Every daemon here runs in a temp dir against a loopback port nothing
// listens on (connect_failed at once), so only pathwatchd's own cost shows.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <uv.h>

#include "control_client.h"
#include "daemon.h"
#include "history.h"
#include "history_command.h"
#include "history_recorder.h"
#include "history_retention.h"
#include "history_writer.h"
#include "pathwatch/clock.h"
#include "scheduler.h"

using namespace pathwatch;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::string tempDir() {
  char t[] = "/tmp/pwbench-XXXXXX";
  return mkdtemp(t);
}

int deadPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t l = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  ::close(fd);
  return ntohs(a.sin_port);
}

RouteResult sample(int i) {
  RouteResult r;
  r.provider = "p" + std::to_string(i % 4);
  r.route = "r" + std::to_string(i % 3);
  r.verdict = i % 11 ? Verdict::Ok : Verdict::RateLimited;
  r.evidence = {"HTTP 200 from the provider", "x-request-id req_" + std::to_string(i)};
  r.dns.status = r.tcp.status = r.tls.status = r.http.status = LayerStatus::Ok;
  r.dns.ms = 2;
  r.tcp.ms = 10;
  r.tls.ms = 25;
  r.http.ms = 90;
  r.http.code = 200;
  r.ms = 130;
  return r;
}

int benchHistory(long rows) {
  std::string dir = tempDir();
  History h(dir + "/h.db");
  int64_t now = wallClockMs();
  int64_t span = 30ll * 24 * 3600 * 1000;
  const int per_batch = 12;  // a cycle: 4 providers x 3 routes
  std::vector<double> batch_ms;
  auto t0 = Clock::now();
  for (long i = 0; i < rows; i += per_batch) {
    HistoryBatch b;
    for (int k = 0; k < per_batch; ++k) {
      long n = i + k;
      b.results.push_back(resultRow(sample(static_cast<int>(n)), now - span + span * n / rows));
    }
    auto s = Clock::now();
    h.write(b);
    batch_ms.push_back(ms(Clock::now() - s));
  }
  double total = ms(Clock::now() - t0);
  std::printf("history: %ld rows in %.0f ms = %.0f rows/s; per-cycle write (12 rows, one txn): "
              "p50 %.3f ms p99 %.3f ms max %.3f ms\n",
              rows, total, static_cast<double>(rows) / total * 1000, pct(batch_ms, 0.5),
              pct(batch_ms, 0.99), *std::max_element(batch_ms.begin(), batch_ms.end()));
  std::printf("history: db size %.1f MB\n", static_cast<double>(h.sizeBytes()) / 1e6);
  // What the history command costs: the reader thread builds the answer line
  // (historyAnswerLine); for comparison, the rows as JSON objects and their
  // dump, which is what the command did on the loop before.
  auto timed = [&](const HistoryQuery& q, std::size_t& rows_out, double& reader_ms,
                   double& dump_ms) {
    auto s0 = Clock::now();
    std::string line = historyAnswerLine(q, h);
    reader_ms = ms(Clock::now() - s0);
    s0 = Clock::now();
    auto answer = historyAnswerJson(q, h.query(q));
    std::string old_line = answer.dump();
    dump_ms = ms(Clock::now() - s0);
    rows_out = answer["results"].size();
    if (old_line != line) std::printf("history: the answer line differs from the JSON answer!\n");
  };
  for (int rep = 0; rep < 3; ++rep) {
    HistoryQuery pair;
    pair.provider = "p1";
    pair.route = "r1";
    pair.since_ms = now - 24ll * 3600 * 1000;
    pair.transitions = pair.alerts = true;
    pair.limit = 1000;
    HistoryQuery provider = pair;
    provider.route.reset();
    HistoryQuery all;
    all.since_ms = now - 24ll * 3600 * 1000;
    all.limit = 10000;
    HistoryQuery dflt = all;
    dflt.limit = 100;
    for (auto [name, q] : {std::pair<const char*, HistoryQuery*>{"one pair, limit 1000", &pair},
                           {"one provider, limit 1000", &provider},
                           {"all pairs, limit 10000", &all},
                           {"all pairs, limit 100 (default)", &dflt}}) {
      std::size_t rows_out = 0;
      double reader = 0, dump = 0;
      timed(*q, rows_out, reader, dump);
      std::printf("history: 24h query over %ld rows, %s -> %zu rows: answer line %.2f ms (reader "
                  "thread); as JSON objects + dump %.2f ms\n",
                  rows, name, rows_out, reader, dump);
    }
  }
  {
    auto s0 = Clock::now();
    auto last = h.lastVerdicts();
    std::printf("history: last verdict per pair at startup: %zu pairs in %.2f ms\n", last.size(),
                ms(Clock::now() - s0));
  }
  auto s = Clock::now();
  int64_t pruned = 0, n;
  std::vector<double> prune_ms;
  while (true) {
    auto ps = Clock::now();
    n = h.pruneOlderThan(now - 7ll * 24 * 3600 * 1000, 500);
    prune_ms.push_back(ms(Clock::now() - ps));
    if (n <= 0) break;
    pruned += n;
  }
  std::printf("history: retention pruned %ld rows in %.0f ms; per 500-row step p50 %.2f ms max %.2f ms\n",
              static_cast<long>(pruned), ms(Clock::now() - s), pct(prune_ms, 0.5),
              *std::max_element(prune_ms.begin(), prune_ms.end()));
  std::filesystem::remove_all(dir);
  return 0;
}

struct Daemon {
  pid_t pid = -1;
  std::string dir, socket;
};

Daemon startDaemon(const std::string& interval, int providers, int routes) {
  Daemon d;
  d.dir = tempDir();
  d.socket = d.dir + "/pw.sock";
  json provs = json::array();
  for (auto n : {"openai", "anthropic", "gemini", "discord"})
    provs.push_back({{"name", n}, {"enabled", false}});
  for (int i = 0; i < providers; ++i)
    provs.push_back({{"name", "fake" + std::to_string(i)},
                     {"kind", "openai"},
                     {"base_url", "http://127.0.0.1:" + std::to_string(deadPort()) + "/v1"}});
  json rts = json::array();
  for (int i = 0; i < routes; ++i) rts.push_back({{"name", "r" + std::to_string(i)}});
  json cfg = {{"interval", interval},
              {"timeout", "2s"},
              {"providers", provs},
              {"routes", rts},
              {"resolvers", {"127.0.0.1:" + std::to_string(deadPort())}},
              {"allowed_ranges", {"127.0.0.0/8"}},
              {"socket", d.socket},
              {"history", {{"path", d.dir + "/h.db"}}}};
  std::ofstream(d.dir + "/config.json") << cfg.dump();
  d.pid = fork();
  if (d.pid == 0) {
    int fd = ::open((d.dir + "/daemon.log").c_str(), O_WRONLY | O_CREAT, 0600);
    ::dup2(fd, 2);
    DaemonOptions o;
    o.config_path = d.dir + "/config.json";
    o.config_required = true;
    _exit(runDaemon(o));
  }
  for (int i = 0; i < 500 && !std::filesystem::exists(d.socket); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return d;
}

void stopDaemon(Daemon& d) {
  ::kill(d.pid, SIGTERM);
  int st;
  ::waitpid(d.pid, &st, 0);
  std::filesystem::remove_all(d.dir);
}

int benchStatus(int clients, int reqs) {
  auto d = startDaemon("5s", 4, 3);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // a cycle first
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(clients));
  std::atomic<int> failures{0};
  std::vector<std::thread> th;
  auto t0 = Clock::now();
  for (int c = 0; c < clients; ++c)
    th.emplace_back([&, c] {
      ControlClient client;
      if (!client.connect(d.socket)) {
        ++failures;
        return;
      }
      for (int i = 0; i < reqs; ++i) {
        auto s = Clock::now();
        auto answer = client.ask({{"cmd", "status"}}, std::chrono::seconds(10));
        if (!answer || !answer->value("ok", false)) {
          ++failures;
          break;
        }
        lat[static_cast<std::size_t>(c)].push_back(ms(Clock::now() - s));
      }
    });
  for (auto& t : th) t.join();
  double wall = ms(Clock::now() - t0);
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::printf("status: %d concurrent clients x %d requests (4 providers x 3 routes): p50 %.3f ms "
              "p99 %.3f ms max %.3f ms, %.0f req/s, %d failures\n",
              clients, reqs, pct(all, 0.5), pct(all, 0.99),
              all.empty() ? 0 : *std::max_element(all.begin(), all.end()),
              static_cast<double>(all.size()) / wall * 1000, failures.load());
  stopDaemon(d);
  return failures.load() ? 1 : 0;
}

struct ProcSample {
  double cpu_s = 0;
  long rss_kib = 0;
};

ProcSample sampleProc(pid_t pid) {
  ProcSample s;
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(st)), {});
  auto rp = all.rfind(')');
  if (rp != std::string::npos) {
    std::istringstream in(all.substr(rp + 2));
    std::string f;
    std::vector<std::string> fields;
    while (in >> f) fields.push_back(f);
    // fields[0] is state (field 3); utime is field 14, stime 15.
    if (fields.size() > 13)
      s.cpu_s = static_cast<double>(std::stol(fields[11]) + std::stol(fields[12])) /
                static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::atol(line.c_str() + 6);
  return s;
}

int benchSoak(int seconds, const std::string& interval) {
  auto d = startDaemon(interval, 4, 3);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto a = sampleProc(d.pid);
  long max_rss = a.rss_kib;
  for (int i = 0; i < seconds; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    max_rss = std::max(max_rss, sampleProc(d.pid).rss_kib);
  }
  auto b = sampleProc(d.pid);
  std::printf("soak: %d s at interval %s, 4 providers x 3 routes: CPU %.3f s (%.3f%% of one core), "
              "RSS start %ld KiB end %ld KiB max %ld KiB\n",
              seconds, interval.c_str(), b.cpu_s - a.cpu_s,
              (b.cpu_s - a.cpu_s) / seconds * 100, a.rss_kib, b.rss_kib, max_rss);
  stopDaemon(d);
  return 0;
}


// Fills a history with `rows` results spread over the last 30 days, in big
// transactions (setup, not measured).
void prefill(History& h, long rows, int64_t now) {
  int64_t span = 30ll * 24 * 3600 * 1000;
  for (long i = 0; i < rows;) {
    HistoryBatch b;
    for (int k = 0; k < 5000 && i < rows; ++k, ++i)
      b.results.push_back(resultRow(sample(static_cast<int>(i)), now - span + span * i / rows));
    h.write(b);
  }
}

// The loop as the daemon runs it: a 1 ms repeating timer measures how late
// each tick is while a producer makes one 12-result cycle every 20 ms (a
// diagnosis, so a flush) and retention prunes everything older than 7 days in
// the daemon's steps (500 rows, 200 ms apart while there is more). Modes:
//   worker  the daemon's way: HistoryRecorder -> HistoryWriter's thread,
//           HistoryRetention's steps on that thread too
//   loop    the old way, for comparison: History::write and the retention
//           step called on the loop thread (SQLite's own autocheckpoint)
//   none    no history at all: what the machine itself adds
struct LatenessBench {
  std::string mode;
  uv_loop_t loop{};
  uv_timer_t tick{}, produce{}, retention{}, end{};
  uint64_t last_ns = 0;
  std::vector<double> late_ms;
  std::unique_ptr<HistoryWriter> writer;
  std::unique_ptr<HistoryRecorder> recorder;
  std::unique_ptr<HistoryRetention> retention_worker;
  std::unique_ptr<History> history;  // mode loop
  int64_t cutoff = 0;
  long produced = 0, written = 0, pruned = 0;
  int cycle = 0;
};

int benchLateness(long rows, int seconds, const std::string& mode) {
  if (mode != "worker" && mode != "loop" && mode != "none") {
    std::fprintf(stderr, "lateness mode: worker, loop or none\n");
    return 2;
  }
  std::string dir = tempDir();
  int64_t now = wallClockMs();
  {
    History h(dir + "/h.db");
    prefill(h, rows, now);
  }
  LatenessBench b;
  b.mode = mode;
  b.cutoff = now - 7ll * 24 * 3600 * 1000;
  uv_loop_init(&b.loop);
  for (uv_timer_t* t : {&b.tick, &b.produce, &b.retention, &b.end}) {
    uv_timer_init(&b.loop, t);
    t->data = &b;
  }
  if (mode == "worker") {
    b.writer = std::make_unique<HistoryWriter>(&b.loop, dir + "/h.db");
    b.recorder = std::make_unique<HistoryRecorder>(b.writer.get());
    RetentionOptions ro;
    ro.first = std::chrono::milliseconds(200);
    b.retention_worker = std::make_unique<HistoryRetention>(
        &b.loop, b.writer.get(),
        [] {
          HistoryConfig c;
          c.retention = std::chrono::hours(7 * 24);
          return c;
        },
        ro);
  } else if (mode == "loop") {
    b.history = std::make_unique<History>(dir + "/h.db");
    uv_timer_start(
        &b.retention,
        [](uv_timer_t* t) {
          auto* s = static_cast<LatenessBench*>(t->data);
          int64_t n = s->history->pruneStep(s->cutoff, 256ull * 1024 * 1024, 500);
          s->pruned += n;
          uv_timer_start(t, t->timer_cb, n > 0 ? 200 : 60000, 0);
        },
        200, 0);
  }
  b.last_ns = uv_hrtime();
  uv_timer_start(
      &b.tick,
      [](uv_timer_t* t) {
        auto* s = static_cast<LatenessBench*>(t->data);
        uint64_t n = uv_hrtime();
        s->late_ms.push_back(std::max(0.0, static_cast<double>(n - s->last_ns) / 1e6 - 1.0));
        s->last_ns = n;
      },
      1, 1);
  uv_timer_start(
      &b.produce,
      [](uv_timer_t* t) {
        auto* s = static_cast<LatenessBench*>(t->data);
        std::string provider = "p" + std::to_string(s->cycle++ % 4);
        std::vector<RouteResult> routes;
        HistoryBatch batch;
        for (int k = 0; k < 12; ++k) {
          auto r = sample(static_cast<int>(s->produced++));
          r.provider = provider;
          if (s->recorder) s->recorder->onRouteResult(r);
          batch.results.push_back(resultRow(r, wallClockMs()));
          routes.push_back(r);
        }
        Diagnosis d;
        d.summary = "bench";
        if (s->recorder) s->recorder->onDiagnosis(provider, d, routes);
        if (s->history) {
          s->history->write(batch);
          s->written += 12;
        }
      },
      20, 20);
  uv_timer_start(
      &b.end, [](uv_timer_t* t) { uv_stop(t->loop); }, static_cast<uint64_t>(seconds) * 1000, 0);
  uv_run(&b.loop, UV_RUN_DEFAULT);
  std::string extra;
  if (b.writer) {
    b.recorder->flush();
    b.retention_worker->stop();
    b.writer->shutdown();
    auto st = b.writer->stats();
    b.written = static_cast<long>(st.committed_rows);
    b.pruned = static_cast<long>(st.pruned_rows);
    extra = ", " + std::to_string(st.checkpoints) + " checkpoints, " +
            std::to_string(st.write_failures) + " write failures";
  }
  std::printf("lateness [%s]: %ld-row history, %d s, 12 results every 20 ms + retention: 1 ms "
              "timer late p50 %.3f ms p99 %.3f ms max %.3f ms over %zu ticks; %ld rows "
              "written, %ld pruned%s\n",
              mode.c_str(), rows, seconds, pct(b.late_ms, 0.5), pct(b.late_ms, 0.99),
              *std::max_element(b.late_ms.begin(), b.late_ms.end()), b.late_ms.size(), b.written,
              b.pruned, extra.c_str());
  for (uv_timer_t* t : {&b.tick, &b.produce, &b.retention, &b.end})
    uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
  uv_run(&b.loop, UV_RUN_DEFAULT);
  uv_loop_close(&b.loop);
  b.retention_worker.reset();
  b.recorder.reset();
  b.writer.reset();
  b.history.reset();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "history") return benchHistory(argc > 2 ? std::atol(argv[2]) : 1000000);
  if (mode == "status")
    return benchStatus(argc > 2 ? std::atoi(argv[2]) : 100, argc > 3 ? std::atoi(argv[3]) : 200);
  if (mode == "soak") return benchSoak(argc > 2 ? std::atoi(argv[2]) : 60, argc > 3 ? argv[3] : "5s");
  if (mode == "lateness")
    return benchLateness(argc > 2 ? std::atol(argv[2]) : 1000000,
                         argc > 3 ? std::atoi(argv[3]) : 20, argc > 4 ? argv[4] : "worker");
  std::fprintf(stderr,
               "usage: daemon_bench history [ROWS] | status [CLIENTS] [REQS] | soak [SECONDS] "
               "[INTERVAL] | lateness [ROWS] [SECONDS] [worker|loop|none]\n");
  return 2;
}
