// GET /metrics latency.
//   metrics_bench [SCRAPES] [PROVIDERS] [ROUTES]   in-process: the daemon's collector and
//                                                  metrics server on a loop thread, state of
//                                                  PROVIDERS x ROUTES pairs (default 2000 4 4)
//   metrics_bench --target HOST:PORT [SCRAPES]     scrape a running pathwatchd instead
// Each scrape is what Prometheus does with a server that closes after the
// answer: connect, send GET /metrics, read to the close. Timed from connect()
// to the close, sequentially, after 100 scrapes of warm-up. Also times the
// text rendering alone (no socket) for the in-process state.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "metrics.h"
#include "metrics_server.h"
#include "pathwatch/config.h"

using namespace pathwatch;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// One scrape; the bytes read (0 on failure).
std::size_t scrape(const sockaddr_in& to) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::size_t got = 0;
  static const char req[] = "GET /metrics HTTP/1.1\r\nHost: bench\r\nAccept: text/plain\r\nConnection: close\r\n\r\n";
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0 &&
      ::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof req - 1)) {
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) got += static_cast<std::size_t>(n);
    if (n < 0) got = 0;
  }
  ::close(fd);
  return got;
}

void report(const char* what, const std::vector<double>& v, std::size_t bytes, int failures) {
  std::printf(
      "%s: %zu scrapes of %zu bytes: p50 %.3f ms p90 %.3f ms p99 %.3f ms max %.3f ms, "
      "%d failures\n",
      what, v.size(), bytes, pct(v, 0.5), pct(v, 0.9), pct(v, 0.99),
      v.empty() ? 0 : *std::max_element(v.begin(), v.end()), failures);
}

int runScrapes(const sockaddr_in& to, int scrapes, const char* what) {
  for (int i = 0; i < 100; ++i) scrape(to);
  std::vector<double> lat;
  std::size_t bytes = 0;
  int failures = 0;
  for (int i = 0; i < scrapes; ++i) {
    const auto t0 = Clock::now();
    const std::size_t n = scrape(to);
    lat.push_back(ms(Clock::now() - t0));
    if (n == 0) ++failures;
    bytes = std::max(bytes, n);
  }
  report(what, lat, bytes, failures);
  return failures ? 1 : 0;
}

// A day of results on PROVIDERS x ROUTES pairs: verdicts that came and went,
// every layer timed, rate-limit headers, an egress per route, alerts.
void fill(MetricsCollector& c, int providers, int routes) {
  Config cfg = defaultConfig();
  const std::size_t builtins = cfg.providers.size();
  for (int i = static_cast<int>(builtins); i < providers; ++i) {
    ProviderConfig extra = cfg.providers[0];
    extra.spec.name = "custom-" + std::to_string(i);
    cfg.providers.push_back(extra);
  }
  cfg.providers.resize(static_cast<std::size_t>(providers));
  for (auto& p : cfg.providers) p.enabled = true;
  cfg.routes.clear();
  const char* names[] = {"default", "vpn", "office", "ssh-tunnel"};
  for (int i = 0; i < routes; ++i) {
    RouteConfig r;
    r.name = i < 4 ? names[i] : "route-" + std::to_string(i);
    cfg.routes.push_back(r);
  }
  c.onConfig(cfg);
  const Verdict cycle[] = {
      Verdict::Ok, Verdict::RegionBlocked,  Verdict::Ok, Verdict::RateLimited,
      Verdict::Ok, Verdict::TlsIntercepted, Verdict::Ok, Verdict::ConnectFailed};
  int k = 0;
  for (int round = 0; round < 1440; ++round)
    for (const auto& p : cfg.providers)
      for (std::size_t ri = 0; ri < cfg.routes.size(); ++ri) {
        RouteResult r;
        r.provider = p.spec.name;
        r.route = cfg.routes[ri].name;
        r.verdict = cycle[(round / 60 + k++) % 8];
        r.started_at = "2026-11-27T21:00:00Z";
        for (LayerBase* l : {static_cast<LayerBase*>(&r.dns), static_cast<LayerBase*>(&r.tcp),
                             static_cast<LayerBase*>(&r.tls), static_cast<LayerBase*>(&r.http),
                             static_cast<LayerBase*>(&r.echo)}) {
          l->status = LayerStatus::Ok;
          l->ms = 1.0 + (k % 97) * 0.731;
        }
        r.http.rate = {{"x-ratelimit-remaining-requests", std::to_string(5000 - round % 5000)},
                       {"x-ratelimit-remaining-tokens", "149000"},
                       {"anthropic-ratelimit-input-tokens-remaining", "80000"},
                       {"anthropic-ratelimit-output-tokens-remaining", "16000"},
                       {"x-ratelimit-reset-requests", "12ms"}};
        r.egress = Egress{"198.51.100." + std::to_string(10 + ri), "DE", "FRA", p.spec.name};
        c.onRouteResult(r);
      }
  for (int i = 0; i < 40; ++i) c.onEvent({{"event", i % 2 ? "problem" : "resolved"}});
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  if (argc >= 3 && std::string(argv[1]) == "--target") {
    const std::string target = argv[2];
    const int scrapes = argc > 3 ? std::atoi(argv[3]) : 2000;
    const auto colon = target.rfind(':');
    sockaddr_in to{};
    if (colon == std::string::npos ||
        uv_ip4_addr(target.substr(0, colon).c_str(), std::atoi(target.c_str() + colon + 1), &to) !=
            0) {
      std::fprintf(stderr, "metrics_bench: --target wants IPv4:PORT\n");
      return 2;
    }
    return runScrapes(to, scrapes, target.c_str());
  }
  const int scrapes = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int providers = argc > 2 ? std::atoi(argv[2]) : 4;
  const int routes = argc > 3 ? std::atoi(argv[3]) : 4;
  if (scrapes < 1 || providers < 1 || routes < 1) {
    std::fprintf(stderr, "usage: metrics_bench [SCRAPES] [PROVIDERS] [ROUTES]\n");
    return 2;
  }
  MetricsCollector collector("0.1.0");
  fill(collector, providers, routes);
  const std::vector<LabeledCount> sinks = {{"webhook[0]", 3}, {"exec[0]", 0}};

  // Rendering alone: wall time, and this thread's CPU time (which a loaded
  // machine's preemption does not inflate).
  std::vector<double> render, render_cpu;
  std::size_t text_bytes = 0;
  for (int i = 0; i < scrapes; ++i) {
    timespec c0{}, c1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    const auto t0 = Clock::now();
    text_bytes = collector.render(sinks).size();
    render.push_back(ms(Clock::now() - t0));
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    render_cpu.push_back(static_cast<double>(c1.tv_sec - c0.tv_sec) * 1e3 +
                         static_cast<double>(c1.tv_nsec - c0.tv_nsec) / 1e6);
  }
  std::printf("render only, %d x %d pairs: %zu bytes: wall p50 %.3f ms p99 %.3f ms; "
              "cpu p50 %.3f ms p99 %.3f ms\n",
              providers, routes, text_bytes, pct(render, 0.5), pct(render, 0.99),
              pct(render_cpu, 0.5), pct(render_cpu, 0.99));

  // The server on its own loop thread, as in the daemon.
  uv_loop_t loop;
  uv_loop_init(&loop);
  MetricsServerOptions o;
  o.host = "127.0.0.1";
  auto server = std::make_unique<MetricsServer>(&loop, o, [&] { return collector.render(sinks); });
  std::string error;
  if (!server->start(&error)) {
    std::fprintf(stderr, "metrics_bench: %s\n", error.c_str());
    return 1;
  }
  uv_async_t stop;
  uv_async_init(&loop, &stop, [](uv_async_t* a) noexcept {
    static_cast<MetricsServer*>(a->data)->stop();
    uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
  });
  stop.data = server.get();
  std::thread t([&] { uv_run(&loop, UV_RUN_DEFAULT); });
  sockaddr_in to{};
  uv_ip4_addr("127.0.0.1", server->boundPort(), &to);
  const std::string what =
      "GET /metrics, " + std::to_string(providers) + " x " + std::to_string(routes) + " pairs";
  const int rc = runScrapes(to, scrapes, what.c_str());
  uv_async_send(&stop);
  t.join();
  server.reset();
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_loop_close(&loop);
  return rc;
}
