// pathwatchd benchmarks.
//   daemon_bench history [ROWS]            insert rate, per-batch stall, 24 h query over ROWS rows
//   daemon_bench status [CLIENTS] [REQS] [ROUNDS] [PERIOD_MS]  status latency p50/p99 with CLIENTS concurrent
//                                          clients while checks run, next to a floor server
//   daemon_bench soak [SECONDS] [INTERVAL] daemon RSS and CPU over a window (loopback fakes)
//   daemon_bench lateness [ROWS] [SECONDS] [MODE]  a 1 ms timer's delay on the loop while the
//                                          recorder writes and retention prunes a ROWS-row history
//   daemon_bench lateness [ROWS] [SECONDS] checks|alerts|webhook [ROUNDS] [PROVIDERS] [ROUTES]
//                                          the same timer on pathwatchd's own loop while it
//                                          probes loopback fakes (DNS, TLS, HTTP) and, with
//                                          `alerts`, delivers alerts; next to the bare loop
// The other daemons here run in a temp dir against a loopback port nothing
// listens on (connect_failed at once), so only pathwatchd's own cost shows.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
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
#include "integration/support/engine_fake_http.h"
#include "integration/support/fake_dns.h"
#include "integration/support/fake_tls_server.h"
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

struct Daemon {
  pid_t pid = -1;
  std::string dir, socket;
};

// A loopback port that accepts TCP (the kernel's backlog) and never answers:
// a probe there stays in flight until its timeout.
struct SilentPort {
  int fd = -1;
  int port = 0;
  SilentPort() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 1024);
    socklen_t l = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
    port = ntohs(a.sin_port);
  }
  ~SilentPort() { ::close(fd); }
};

// providers x routes against dead ports (done at once); `silent` more
// providers against `silent_port` (in flight until the timeout).
Daemon startDaemon(const std::string& interval, int providers, int routes, int silent = 0,
                   int silent_port = 0, const std::string& timeout = "2s") {
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
  for (int i = 0; i < silent; ++i)
    provs.push_back({{"name", "silent" + std::to_string(i)},
                     {"kind", "openai"},
                     {"base_url", "http://127.0.0.1:" + std::to_string(silent_port) + "/v1"}});
  json rts = json::array();
  for (int i = 0; i < routes; ++i) rts.push_back({{"name", "r" + std::to_string(i)}});
  json cfg = {{"interval", interval},
              {"timeout", timeout},
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

int connectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

struct LatencyRun {
  std::vector<double> ms;
  int failures = 0;
  double wall_ms = 0;
  std::size_t answer_bytes = 0;
};

// `clients` connections driven from ONE thread (epoll), each asking `reqs`
// times, so the client side costs little next to the server. period_ms 0:
// each asks again as soon as answered (saturation: latency is the queue of
// 100 requests in flight); otherwise each asks every period_ms, starting at
// spread-out offsets (an offered load of clients / period).
LatencyRun drive(const std::string& socket, int clients, int reqs, int period_ms = 0) {
  static const std::string kAsk = "{\"cmd\":\"status\"}\n";
  struct Conn {
    int fd = -1;
    int left = 0;
    std::string buf;
    Clock::time_point sent;
    std::optional<Clock::time_point> next;  // paced: when to ask again
  };
  LatencyRun out;
  const auto period = std::chrono::milliseconds(period_ms);
  std::vector<Conn> conns(static_cast<std::size_t>(clients));
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  int open = 0;
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < conns.size(); ++i) {
    Conn& c = conns[i];
    c.fd = connectUnix(socket);
    if (c.fd < 0) {
      ++out.failures;
      continue;
    }
    c.left = reqs;
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &e);
    ++open;
    if (period_ms > 0) {
      c.next = t0 + period * static_cast<int>(i) / clients;
      continue;
    }
    c.sent = Clock::now();
    if (::send(c.fd, kAsk.data(), kAsk.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(kAsk.size()))
      ++out.failures;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  std::vector<epoll_event> evs(256);
  char buf[65536];
  while (open > 0 && Clock::now() < deadline) {
    int wait_ms = 1000;
    if (period_ms > 0) {
      const auto now = Clock::now();
      for (auto& c : conns) {
        if (c.fd < 0 || !c.next) continue;
        if (*c.next <= now) {
          c.next.reset();
          c.sent = now;
          if (::send(c.fd, kAsk.data(), kAsk.size(), MSG_NOSIGNAL) !=
              static_cast<ssize_t>(kAsk.size()))
            ++out.failures;
        } else {
          wait_ms = std::min<int>(
              wait_ms, static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(*c.next - now).count()));
        }
      }
    }
    int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), wait_ms);
    for (int k = 0; k < n; ++k) {
      Conn& c = conns[evs[static_cast<std::size_t>(k)].data.u64];
      bool closed = false;
      for (;;) {
        ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
        if (got > 0) {
          c.buf.append(buf, static_cast<std::size_t>(got));
          continue;
        }
        closed = got == 0 || (errno != EAGAIN && errno != EINTR);
        break;
      }
      for (std::size_t nl; c.left > 0 && (nl = c.buf.find('\n')) != std::string::npos;) {
        out.ms.push_back(ms(Clock::now() - c.sent));
        if (auto ok = c.buf.find("\"ok\":true"); ok == std::string::npos || ok > nl) ++out.failures;
        out.answer_bytes = nl + 1;
        c.buf.erase(0, nl + 1);
        if (--c.left > 0 && period_ms > 0) {
          c.next = c.sent + period;
        } else if (c.left > 0) {
          c.sent = Clock::now();
          if (::send(c.fd, kAsk.data(), kAsk.size(), MSG_NOSIGNAL) !=
              static_cast<ssize_t>(kAsk.size()))
            closed = true;
        }
      }
      if (c.left == 0 || closed) {
        if (c.left > 0) ++out.failures;
        ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.fd = -1;
        c.left = 0;
        --open;
      }
    }
  }
  for (auto& c : conns)
    if (c.fd >= 0) {
      ++out.failures;
      ::close(c.fd);
    }
  ::close(ep);
  out.wall_ms = ms(Clock::now() - t0);
  return out;
}

// The floor to compare with, in the same run: a one-thread epoll server that
// answers every line with a fixed line of the daemon's answer size.
class FloorServer {
 public:
  FloorServer(std::string dir, std::size_t answer_bytes)
      : path_(dir + "/floor.sock"), answer_(std::string(answer_bytes - 1, ' ') + "\n") {
    answer_.replace(0, 11, "{\"ok\":true}");
    lfd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    ::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(lfd_, 512);
    ::pipe2(wake_, O_CLOEXEC);
    thread_ = std::thread([this] { run(); });
  }
  ~FloorServer() {
    char x = 1;
    (void)!::write(wake_[1], &x, 1);
    thread_.join();
    ::close(lfd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  void run() {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = lfd_;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd_, &e);
    e.data.fd = wake_[0];
    ::epoll_ctl(ep, EPOLL_CTL_ADD, wake_[0], &e);
    std::map<int, std::string> in;
    epoll_event evs[256];
    char buf[4096];
    for (;;) {
      int n = ::epoll_wait(ep, evs, 256, -1);
      for (int k = 0; k < n; ++k) {
        int fd = evs[k].data.fd;
        if (fd == wake_[0]) {
          for (auto& [cfd, _] : in) ::close(cfd);
          ::close(ep);
          return;
        }
        if (fd == lfd_) {
          for (int c; (c = ::accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
            epoll_event ce{};
            ce.events = EPOLLIN;
            ce.data.fd = c;
            ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
            in[c];
          }
          continue;
        }
        ssize_t got = ::recv(fd, buf, sizeof buf, 0);
        if (got <= 0) {
          ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
          ::close(fd);
          in.erase(fd);
          continue;
        }
        auto& b = in[fd];
        b.append(buf, static_cast<std::size_t>(got));
        for (std::size_t nl; (nl = b.find('\n')) != std::string::npos;) {
          b.erase(0, nl + 1);
          // Blocking send: the answer is small and the client reads at once.
          for (std::size_t off = 0; off < answer_.size();) {
            ssize_t w = ::send(fd, answer_.data() + off, answer_.size() - off, MSG_NOSIGNAL);
            if (w > 0) off += static_cast<std::size_t>(w);
            else if (errno != EAGAIN && errno != EINTR) break;
          }
        }
      }
    }
  }
  std::string path_, answer_;
  int lfd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
};

uint64_t daemonCycles(const std::string& socket) {
  ControlClient c;
  if (!c.connect(socket)) return 0;
  auto a = c.ask({{"cmd", "status"}}, std::chrono::seconds(10));
  return a ? (*a)["daemon"].value("cycles", uint64_t{0}) : 0;
}

// status latency with CLIENTS concurrent clients while checks run: 4 providers
// x 3 routes done at once and 2 x 3 in flight until their timeout, every
// second (results, history writes, status changes), against the floor server
// in the same run; ROUNDS alternating rounds, medians. PERIOD_MS: each client
// asks every PERIOD_MS (0: again at once, saturating the server).
int benchStatus(int clients, int reqs, int rounds, int period_ms) {
  SilentPort silent;
  auto d = startDaemon("1s", 4, 3, 2, silent.port, "800ms");
  std::this_thread::sleep_for(std::chrono::seconds(3));  // a cycle first
  std::vector<double> d50, d99, dmax, f50, f99, fmax, drate, frate, cpu_per_req;
  int failures = 0;
  uint64_t c0 = daemonCycles(d.socket);
  auto t0 = Clock::now();
  std::size_t bytes = 0;
  for (int r = 0; r < rounds; ++r) {
    const double cpu0 = sampleProc(d.pid).cpu_s;
    LatencyRun dr = drive(d.socket, clients, reqs, period_ms);
    const double cpu_us = (sampleProc(d.pid).cpu_s - cpu0) * 1e6 / std::max<double>(1, dr.ms.size());
    cpu_per_req.push_back(cpu_us);
    failures += dr.failures;
    bytes = dr.answer_bytes;
    FloorServer floor(d.dir, std::max<std::size_t>(dr.answer_bytes, 16));
    LatencyRun fr = drive(floor.path(), clients, reqs, period_ms);
    failures += fr.failures;
    for (auto [run, p50, p99, mx, rate] :
         {std::tuple{&dr, &d50, &d99, &dmax, &drate}, std::tuple{&fr, &f50, &f99, &fmax, &frate}}) {
      p50->push_back(pct(run->ms, 0.5));
      p99->push_back(pct(run->ms, 0.99));
      mx->push_back(run->ms.empty() ? 0 : *std::max_element(run->ms.begin(), run->ms.end()));
      rate->push_back(static_cast<double>(run->ms.size()) / run->wall_ms * 1000);
    }
    std::printf("round %d: pathwatchd p50 %.3f p99 %.3f max %.2f ms (%.0f req/s; daemon CPU %.0f us "
                "per request, checks included) | floor p50 %.3f p99 %.3f max %.2f ms (%.0f req/s)\n",
                r + 1, d50.back(), d99.back(), dmax.back(), drate.back(), cpu_per_req.back(),
                f50.back(), f99.back(), fmax.back(), frate.back());
  }
  uint64_t c1 = daemonCycles(d.socket);
  double secs = ms(Clock::now() - t0) / 1000;
  auto med = [](std::vector<double> v) { return pct(std::move(v), 0.5); };
  std::printf("status: %d concurrent clients (one epoll thread) x %d requests, %s, %d rounds, "
              "answer %zu bytes; checks ran: %lu provider cycles in %.1f s (6 providers x 3 "
              "routes, 2 of them in flight until their 800 ms timeout)\n",
              clients, reqs,
              period_ms > 0 ? ("each every " + std::to_string(period_ms) + " ms").c_str()
                            : "each again at once (saturation)",
              rounds, bytes, static_cast<unsigned long>(c1 - c0), secs);
  std::printf("median of rounds: pathwatchd p50 %.3f ms p99 %.3f ms max %.2f ms | floor (one-thread "
              "epoll server, fixed line) p50 %.3f ms p99 %.3f ms max %.2f ms | p99 ratio %.2f; "
              "daemon CPU %.0f us per request; %d failures\n",
              med(d50), med(d99), med(dmax), med(f50), med(f99), med(fmax), med(d99) / med(f99),
              med(cpu_per_req), failures);
  stopDaemon(d);
  return failures ? 1 : 0;
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


// ---- lateness on pathwatchd's own loop: real checks and alert delivery ----

namespace fetchtest = pathwatch::fetchtest;  // the TLS server and the test PKI
namespace loopfakes = pathwatch::testing;    // fake DNS and HTTP on a uv loop

std::string loadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// A 1 ms repeating timer: from `warmup_ms` on, for `seconds`, it records how
// late each tick is (the gap since the previous tick minus 1 ms) and how much
// CPU the loop thread used in that gap (work on the loop, as opposed to
// waiting for a core); then it writes one line to `out_fd` ("P50 P99 MAX
// TICKS CPU_P99 CPU_MAX" in ms, then the 5 worst ticks as
// HRTIME_NS:LATE_MS:CPU_MS) and closes its handle. Lives until the process
// exits (the daemon's loop may outlive the window).
class TickProbe {
 public:
  TickProbe(uv_loop_t* loop, uint64_t warmup_ms, int seconds, int out_fd)
      : out_fd_(out_fd), window_ns_(static_cast<uint64_t>(seconds) * 1000000000ull) {
    uv_timer_init(loop, &tick_);
    tick_.data = this;
    uv_timer_start(
        &tick_, [](uv_timer_t* t) noexcept { static_cast<TickProbe*>(t->data)->onTick(); },
        warmup_ms, 1);
  }

 private:
  static uint64_t threadCpuNs() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  }
  void onTick() {
    const uint64_t now = uv_hrtime(), cpu = threadCpuNs();
    if (last_ns_ == 0) {
      last_ns_ = now;
      last_cpu_ns_ = cpu;
      end_ns_ = now + window_ns_;
      ticks_.reserve(window_ns_ / 1000000 + 16);
      return;
    }
    ticks_.push_back({std::max(0.0, static_cast<double>(now - last_ns_) / 1e6 - 1.0), now,
                      static_cast<double>(cpu - last_cpu_ns_) / 1e6});
    last_ns_ = now;
    last_cpu_ns_ = cpu;
    if (now >= end_ns_) finish();
  }
  void finish() {
    uv_timer_stop(&tick_);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    std::vector<double> late, cpu;
    for (auto& t : ticks_) {
      late.push_back(t.late_ms);
      cpu.push_back(t.cpu_ms);
    }
    std::sort(ticks_.begin(), ticks_.end(),
              [](const Tick& a, const Tick& b) { return a.late_ms > b.late_ms; });
    std::string line = std::to_string(pct(late, 0.5)) + " " + std::to_string(pct(late, 0.99)) +
                       " " + std::to_string(ticks_.empty() ? 0 : ticks_[0].late_ms) + " " +
                       std::to_string(late.size()) + " " + std::to_string(pct(cpu, 0.99)) + " " +
                       std::to_string(cpu.empty() ? 0 : *std::max_element(cpu.begin(), cpu.end()));
    for (std::size_t i = 0; i < std::min<std::size_t>(5, ticks_.size()); ++i)
      line += " " + std::to_string(ticks_[i].when_ns) + ":" + std::to_string(ticks_[i].late_ms) +
              ":" + std::to_string(ticks_[i].cpu_ms);
    line += "\n";
    (void)!::write(out_fd_, line.data(), line.size());
    ::close(out_fd_);
  }
  uv_timer_t tick_{};
  int out_fd_;
  uint64_t window_ns_, last_ns_ = 0, last_cpu_ns_ = 0, end_ns_ = 0;
  struct Tick {
    double late_ms;
    uint64_t when_ns;  // uv_hrtime
    double cpu_ms;     // the loop thread's CPU since the previous tick
  };
  std::vector<Tick> ticks_;
};

struct Lateness {
  double p50 = 0, p99 = 0, max = 0, cpu_p99 = 0, cpu_max = 0;
  long ticks = 0;
  struct Worst {
    uint64_t when_ns;
    double late_ms, cpu_ms;
  };
  std::vector<Worst> worst;
  bool ok = false;
};

// Reads the probe's line (bounded wait).
Lateness readLateness(int fd, int timeout_s) {
  Lateness l;
  std::string line;
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  char buf[512];
  while (line.find('\n') == std::string::npos && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::istringstream in(line);
  if (!(in >> l.p50 >> l.p99 >> l.max >> l.ticks >> l.cpu_p99 >> l.cpu_max)) return l;
  std::string w;
  while (in >> w) {
    auto a = w.find(':'), b = w.rfind(':');
    l.worst.push_back({std::stoull(w.substr(0, a)), std::stod(w.substr(a + 1, b - a - 1)),
                       std::stod(w.substr(b + 1))});
  }
  l.ok = true;
  return l;
}

// The floor: a process with a bare loop and the probe alone.
Lateness floorLateness(int seconds) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    ::close(fds[0]);
    uv_loop_t loop;
    uv_loop_init(&loop);
    new TickProbe(&loop, 100, seconds, fds[1]);  // lives until _exit
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(0);
  }
  ::close(fds[1]);
  Lateness l = readLateness(fds[0], seconds + 30);
  int st;
  ::waitpid(pid, &st, 0);
  return l;
}

// What the daemon probes, all on loopback: a TLS server with the test PKI's
// good chain (thread per connection, the tests' FakeHttpServer), and on a
// thread's own loop the fake DNS (api.pathwatch.test -> 127.0.0.1, or
// NXDOMAIN every other `flip_ms` when flipping) and a webhook receiver.
class LoopbackFakes {
 public:
  LoopbackFakes(bool flip, int flip_ms) : flip_ms_(static_cast<uint64_t>(flip_ms)) {
    fetchtest::FakeServerOptions o;
    o.tls = true;
    o.leaf = fetchtest::TestPki::get().good;
    tls_ = std::make_unique<fetchtest::FakeHttpServer>(o);
    uv_loop_init(&loop_);
    dns_ = std::make_unique<loopfakes::FakeDns>(&loop_);
    setAnswer(true);
    webhook_ = std::make_unique<loopfakes::EngineFakeHttp>(
        &loop_, loopfakes::EngineFakeHttp::Response{200, {}, "{}"});
    dns_spec_ = dns_->spec();
    webhook_port_ = webhook_->port();
    uv_async_init(&loop_, &stop_, [](uv_async_t* a) noexcept {
      static_cast<LoopbackFakes*>(a->data)->closeAll();
    });
    stop_.data = this;
    uv_timer_init(&loop_, &flip_);
    flip_.data = this;
    if (flip)
      uv_timer_start(
          &flip_,
          [](uv_timer_t* t) noexcept {
            auto* self = static_cast<LoopbackFakes*>(t->data);
            self->flips_.push_back(uv_hrtime());
            self->setAnswer(self->flips_.size() % 2 == 0);
          },
          flip_ms_, flip_ms_);
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~LoopbackFakes() {
    uv_async_send(&stop_);
    thread_.join();
    uv_loop_close(&loop_);
  }
  uint16_t tlsPort() const { return tls_->port(); }
  uint16_t webhookPort() const { return webhook_port_; }
  std::string dnsSpec() const { return dns_spec_; }
  int tlsRequests() const { return tls_->requests(); }
  // As of the latest flip (the receiver lives on the fakes' loop thread).
  int webhookRequests() const { return webhook_requests_.load(); }
  // When the DNS answer changed (uv_hrtime), for the worst ticks' context.
  std::vector<uint64_t> flips() {
    std::lock_guard<std::mutex> l(mu_);
    return flips_copy_;
  }

 private:
  void setAnswer(bool good) {
    loopfakes::FakeDns::Record r;
    if (good)
      r.a = {"127.0.0.1"};
    else
      r.rcode = 3;
    dns_->set(fetchtest::kTestHost, r);
    std::lock_guard<std::mutex> l(mu_);
    flips_copy_ = flips_;
    if (webhook_) webhook_requests_ = webhook_->requests();
  }
  void closeAll() {
    webhook_requests_ = webhook_->requests();
    uv_close(reinterpret_cast<uv_handle_t*>(&flip_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_), nullptr);
    dns_.reset();
    webhook_.reset();
  }
  uint64_t flip_ms_;
  std::unique_ptr<fetchtest::FakeHttpServer> tls_;
  uv_loop_t loop_{};
  uv_async_t stop_{};
  uv_timer_t flip_{};
  std::unique_ptr<loopfakes::FakeDns> dns_;
  std::unique_ptr<loopfakes::EngineFakeHttp> webhook_;
  uint16_t webhook_port_ = 0;
  std::string dns_spec_;
  std::vector<uint64_t> flips_, flips_copy_;
  std::mutex mu_;
  std::atomic<int> webhook_requests_{0};
  std::thread thread_;
};

// Counts every "verdict" string in a JSON document.
void countVerdicts(const json& j, std::map<std::string, int>& out) {
  if (j.is_object()) {
    for (auto& [k, v] : j.items()) {
      if (k == "verdict" && v.is_string()) ++out[v.get<std::string>()];
      else countVerdicts(v, out);
    }
  } else if (j.is_array()) {
    for (auto& v : j) countVerdicts(v, out);
  }
}

// The 1 ms timer on pathwatchd's own loop (runDaemon in this binary re-executed, the
// probe put on its loop by DaemonOptions::on_started) while it checks
// PROVIDERS x ROUTES pairs every second against LoopbackFakes: DNS through
// c-ares to the fake resolver, TCP, TLS verified against the test CA and the
// public-root check, HTTP through libcurl multi_socket, classification,
// diagnosis, status snapshot, metrics, watch feed and history (ROWS prefilled
// over 30 days, retention 7 d, so retention prunes during the window).
// `alerts` also flips the DNS answer every 6 s (every pair's verdict changes,
// fail/resolve threshold 1) and delivers each alert to a loopback webhook and
// an exec hook; `webhook` the same without the exec hook. Each round: the daemon (3 s warm-up, then SECONDS measured),
// then the bare-loop floor for SECONDS; medians over rounds.
int benchLatenessDaemon(long rows, int seconds, const std::string& mode, int rounds,
                        int providers, int routes) {
  const bool alerts = mode == "alerts" || mode == "webhook";
  const int flip_ms = 6000;
  const std::string load0 = loadAverage();
  std::string top = tempDir();
  std::string tmpl;
  if (rows > 0) {
    tmpl = top + "/template.db";
    History h(tmpl);
    prefill(h, rows, wallClockMs());
  }
  LoopbackFakes fakes(alerts, flip_ms);
  const auto& pki = fetchtest::TestPki::get();
  std::vector<double> d50, d99, dmax, f50, f99, fmax;
  int failures = 0;
  for (int round = 1; round <= rounds; ++round) {
    std::string dir = top + "/r" + std::to_string(round);
    std::filesystem::create_directories(dir);
    if (!tmpl.empty()) std::filesystem::copy_file(tmpl, dir + "/h.db");
    const std::string base = "https://" + std::string(fetchtest::kTestHost) + ":" +
                             std::to_string(fakes.tlsPort());
    json provs = json::array();
    for (auto n : {"openai", "anthropic", "gemini", "discord"})
      provs.push_back({{"name", n}, {"enabled", false}});
    for (int i = 0; i < providers; ++i)
      provs.push_back({{"name", "fake" + std::to_string(i)},
                       {"kind", "openai"},
                       {"base_url", base + "/status/200"},
                       {"key_env", "PATHWATCH_BENCH_KEY"}});
    json rts = json::array();
    for (int i = 0; i < routes; ++i) rts.push_back({{"name", "r" + std::to_string(i)}});
    json cfg = {{"interval", "1s"},
                {"timeout", "1s"},
                {"providers", provs},
                {"routes", rts},
                {"resolvers", {fakes.dnsSpec()}},
                {"allowed_ranges", {"127.0.0.0/8"}},
                {"tls", {{"ca_file", pki.ca_file}, {"public_roots", pki.public_roots_file}}},
                {"echo", {base + "/echo"}},
                {"socket", dir + "/pw.sock"},
                {"history", {{"path", dir + "/h.db"}, {"retention", "7d"}}}};
    if (alerts)
      cfg["alerts"] = {
          {"fail_threshold", 1},
          {"resolve_threshold", 1},
          {"webhooks", {{{"url", "http://127.0.0.1:" + std::to_string(fakes.webhookPort()) + "/hook"}}}}};
    if (mode == "alerts")
      cfg["alerts"]["exec"] = {{"/bin/sh", "-c", "cat >/dev/null; echo x >>" + dir + "/exec.count"}};
    std::ofstream(dir + "/config.json") << cfg.dump(2);

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return 1;
    const int tls0 = fakes.tlsRequests(), hooks0 = fakes.webhookRequests();
    // A fresh process image (this binary again), so the daemon's process is
    // pathwatchd's memory and thread, not the bench's threads and heap.
    pid_t pid = fork();
    if (pid == 0) {
      if (fds[1] == 3)
        ::fcntl(3, F_SETFD, 0);  // keep it across the exec
      else
        ::dup2(fds[1], 3);  // the copy has no FD_CLOEXEC
      int log = ::open((dir + "/daemon.log").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      ::dup2(log, 2);
      ::unsetenv("NOTIFY_SOCKET");
      ::unsetenv("WATCHDOG_USEC");
      // Made up, shaped like a key; only ever sent to the loopback fake.
      ::setenv("PATHWATCH_BENCH_KEY", "sk-bench0000aaaabbbbccccddddeeeeffff0000111122223333", 1);
      const std::string secs = std::to_string(seconds), config = dir + "/config.json";
      ::execl("/proc/self/exe", "daemon_bench", "lateness-daemon", config.c_str(), secs.c_str(),
              static_cast<char*>(nullptr));
      _exit(127);
    }
    ::close(fds[1]);
    const std::string socket = dir + "/pw.sock";
    uint64_t c0 = 0;
    for (int i = 0; i < 300 && !(c0 = daemonCycles(socket)); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    Lateness d = readLateness(fds[0], seconds + 60);
    std::map<std::string, int> verdicts;
    uint64_t c1 = 0;
    {
      ControlClient c;
      if (c.connect(socket))
        if (auto a = c.ask({{"cmd", "status"}}, std::chrono::seconds(10))) {
          countVerdicts((*a)["providers"], verdicts);
          c1 = (*a)["daemon"].value("cycles", uint64_t{0});
        }
    }
    ::kill(pid, SIGTERM);
    int st;
    ::waitpid(pid, &st, 0);
    const int tls = fakes.tlsRequests() - tls0;
    long execs = 0;
    {
      std::ifstream ec(dir + "/exec.count");
      std::string l;
      while (std::getline(ec, l)) ++execs;
    }
    Lateness f = floorLateness(seconds);
    // The receiver's count is taken at each flip (every 6 s): complete by now.
    const int hooks = fakes.webhookRequests() - hooks0;
    if (!d.ok || !f.ok) {
      std::printf("round %d: no measurement (daemon %s, floor %s; see %s/daemon.log)\n", round,
                  d.ok ? "ok" : "failed", f.ok ? "ok" : "failed", dir.c_str());
      ++failures;
      continue;
    }
    d50.push_back(d.p50), d99.push_back(d.p99), dmax.push_back(d.max);
    f50.push_back(f.p50), f99.push_back(f.p99), fmax.push_back(f.max);
    std::string vs;
    for (auto& [v, n] : verdicts) vs += (vs.empty() ? "" : ", ") + v + " " + std::to_string(n);
    std::printf("round %d [%s]: pathwatchd p50 %.3f p99 %.3f max %.2f ms (%ld ticks; loop CPU "
                "between ticks p99 %.2f max %.2f ms) | floor p50 %.3f p99 %.3f max %.2f ms (%ld "
                "ticks)\n",
                round, mode.c_str(), d.p50, d.p99, d.max, d.ticks, d.cpu_p99, d.cpu_max, f.p50,
                f.p99, f.max, f.ticks);
    std::printf("  in the round: %lu provider cycles, %d HTTPS requests at the fake, %d webhook "
                "posts, %ld exec runs; verdicts now: %s\n",
                static_cast<unsigned long>(c1 - c0), tls, hooks, execs, vs.c_str());
    const auto flips = fakes.flips();
    std::string worst;
    for (auto& w : d.worst) {
      char b[96];
      uint64_t since = UINT64_MAX;
      for (uint64_t fl : flips)
        if (fl <= w.when_ns) since = w.when_ns - fl;
      if (alerts && since != UINT64_MAX)
        std::snprintf(b, sizeof b, " %.1f/%.1f (%.0f ms after a flip)", w.late_ms, w.cpu_ms,
                      static_cast<double>(since) / 1e6);
      else
        std::snprintf(b, sizeof b, " %.1f/%.1f", w.late_ms, w.cpu_ms);
      worst += b;
    }
    std::printf("  worst ticks (ms late / ms of loop CPU in the gap):%s\n", worst.c_str());
  }
  auto med = [](std::vector<double> v) { return pct(std::move(v), 0.5); };
  std::printf("lateness [%s]: %d providers x %d routes every 1 s (HTTPS via fake DNS, test CA), "
              "%s, history %ld rows prefilled (retention 7d), %d rounds x %d s; load average %s "
              "-> %s\n",
              mode.c_str(), providers, routes,
              mode == "alerts"    ? "DNS answer flipping every 6 s, alerts to a webhook and an exec hook"
              : mode == "webhook" ? "DNS answer flipping every 6 s, alerts to a webhook"
                                  : "no alerts",
              rows, rounds, seconds, load0.c_str(), loadAverage().c_str());
  std::printf("median of rounds: pathwatchd p50 %.3f ms p99 %.3f ms max %.2f ms | floor (bare "
              "loop) p50 %.3f ms p99 %.3f ms max %.2f ms; %d failed rounds\n",
              med(d50), med(d99), med(dmax), med(f50), med(f99), med(fmax), failures);
  if (failures == 0) std::filesystem::remove_all(top);  // else kept for its daemon.log
  return failures ? 1 : 0;
}
// The daemon side of benchLatenessDaemon: pathwatchd with the probe on its
// loop (3 s warm-up), the probe's line to fd 3.
int latenessDaemonChild(const std::string& config, int seconds) {
  DaemonOptions o;
  o.config_path = config;
  o.config_required = true;
  o.on_started = [seconds](uv_loop_t* loop) {
    new TickProbe(loop, 3000, seconds, 3);  // lives until the process exits
  };
  return runDaemon(o);
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "history") return benchHistory(argc > 2 ? std::atol(argv[2]) : 1000000);
  if (mode == "status")
    return benchStatus(argc > 2 ? std::atoi(argv[2]) : 100, argc > 3 ? std::atoi(argv[3]) : 50,
                       argc > 4 ? std::atoi(argv[4]) : 3, argc > 5 ? std::atoi(argv[5]) : 100);
  if (mode == "soak") return benchSoak(argc > 2 ? std::atoi(argv[2]) : 60, argc > 3 ? argv[3] : "5s");
  if (mode == "lateness-daemon" && argc > 3) return latenessDaemonChild(argv[2], std::atoi(argv[3]));
  if (mode == "lateness") {
    const long rows = argc > 2 ? std::atol(argv[2]) : 1000000;
    const int seconds = argc > 3 ? std::atoi(argv[3]) : 20;
    const std::string how = argc > 4 ? argv[4] : "worker";
    if (how == "checks" || how == "alerts" || how == "webhook")
      return benchLatenessDaemon(rows, seconds, how, argc > 5 ? std::atoi(argv[5]) : 3,
                                 argc > 6 ? std::atoi(argv[6]) : 50,
                                 argc > 7 ? std::atoi(argv[7]) : 2);
    return benchLateness(rows, seconds, how);
  }
  std::fprintf(stderr,
               "usage: daemon_bench history [ROWS] | status [CLIENTS] [REQS] [ROUNDS] [PERIOD_MS] | soak [SECONDS] "
               "[INTERVAL] | lateness [ROWS] [SECONDS] [worker|loop|none] | lateness [ROWS] [SECONDS] "
               "checks|alerts|webhook [ROUNDS] [PROVIDERS] [ROUTES]\n");
  return 2;
}
