#include "engine.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <deque>
#include <list>
#include <map>
#include <set>

#include "dns_probe.h"
#include "echo.h"
#include "engine_evidence.h"
#include "egress.h"
#include "fetch.h"
#include "loop/uv_ares.h"
#include "loop/uv_handle.h"
#include "pathwatch/classify.h"
#include "route_binding.h"
#include "tcp_probe.h"
#include "tls_verify.h"

namespace pathwatch {

namespace {

std::string isoNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double msSince(uint64_t start_ns) { return static_cast<double>(uv_hrtime() - start_ns) / 1e6; }

std::string headerValue(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < k.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(k[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    if (same) return v;
  }
  return "";
}

// The IP of "198.18.0.10:443" / "[2001:db8::1]:443".
std::string ipOfEndpoint(const std::string& ep) {
  if (!ep.empty() && ep.front() == '[') {
    const auto close = ep.find(']');
    return close == std::string::npos ? ep : ep.substr(1, close - 1);
  }
  const auto colon = ep.rfind(':');
  return colon == std::string::npos ? ep : ep.substr(0, colon);
}

// Built-in providers fronted by Cloudflare answer /cdn-cgi/trace with the
// address and country they see us from.
bool hasCdnTrace(const ProviderSpec& spec) {
  return spec.builtin && (spec.name == "openai" || spec.name == "anthropic" || spec.name == "discord");
}

}  // namespace

namespace {
// A failure of the TLS exchange itself, as opposed to not reaching the address.
bool isTlsFailure(const std::string& error) {
  return error.rfind("tls_", 0) == 0 || error == "not_publicly_trusted";
}
}  // namespace

// Observations of the engine itself, derivable from the layers, so they can be
// added again after every (re)classification without duplicates.
std::vector<std::string> engineEvidence(const RouteResult& r, const std::string& binding_error) {
  std::vector<std::string> out;
  if (!binding_error.empty()) out.push_back(binding_error);
  for (const auto& n : r.engine_notes) out.push_back(n);
  for (const auto& a : r.dns.answers) {
    if (!a.tls_ok.has_value()) continue;
    if (*a.tls_ok)
      out.push_back("resolver " + a.resolver + " answered differently (" +
                    (a.addresses.empty() ? std::string() : a.addresses.front()) +
                    ") and that address passes TLS for the name: honest geo-DNS");
    else if (isTlsFailure(a.tls_error))
      out.push_back("resolver " + a.resolver + " answered differently (" +
                    (a.addresses.empty() ? std::string() : a.addresses.front()) +
                    ") and that address fails TLS for the name (" + a.tls_error + ")");
    else  // refused or silent: it proves nothing about the name either way
      out.push_back("resolver " + a.resolver + " answered differently (" +
                    (a.addresses.empty() ? std::string() : a.addresses.front()) +
                    ") and that address could not be reached to check TLS" +
                    (a.tls_error.empty() ? std::string() : " (" + a.tls_error + ")"));
  }
  return out;
}

void addEngineEvidence(RouteResult& r, const std::string& binding_error) {
  for (auto& e : engineEvidence(r, binding_error)) r.evidence.push_back(std::move(e));
  // classifyRoute may run more than once on a result: keep each line once.
  std::vector<std::string> unique;
  std::set<std::string> seen;
  for (auto& e : r.evidence)
    if (seen.insert(e).second) unique.push_back(std::move(e));
  r.evidence = std::move(unique);
}

struct Engine::Impl {
  struct Session;

  Impl(uv_loop_t* l, std::shared_ptr<const Config> c);
  ~Impl();

  AresChannel* channel(const RouteConfig& route, std::size_t idx, std::string* err);
  std::vector<DnsTarget> targets(const RouteConfig& route, bool first_only);
  Millis dnsBudget() const {
    return std::max<Millis>(std::chrono::milliseconds(200), config->timeout * 2 / 5);
  }
  void startOrQueue(std::unique_ptr<Session> s);
  void pump();
  void sessionFinished(Session* s);
  void cancelAll();

  uv_loop_t* loop;
  std::shared_ptr<const Config> config;
  std::unique_ptr<HttpClient> http;
  std::shared_ptr<const PublicRoots> public_roots;
  std::string public_roots_error;
  std::map<std::string, std::string> binding_errors;
  std::map<std::pair<std::string, std::size_t>, std::unique_ptr<AresChannel>> channels;
  std::map<std::pair<std::string, std::size_t>, std::string> channel_errors;
  std::list<std::unique_ptr<Session>> running;
  std::deque<std::unique_ptr<Session>> queued;
  uint64_t seed = 0x9e3779b97f4a7c15ull;
};

struct Engine::Impl::Session {
  enum class Stage { Idle, Dns, Proxy, Tcp, Fetch, Done };

  Session(Impl* e, const ProviderConfig& p, const RouteConfig& rt, const KeyInspection& k,
          ProbeDone d)
      : engine(e), provider(p), route(rt), key(k), done(std::move(d)) {}
  ~Session() { cancelWork(); }

  void start();
  void cancelWork();
  Millis remaining() const {
    const double left = static_cast<double>(engine->config->timeout.count()) - msSince(start_ns);
    return Millis(static_cast<int64_t>(std::max(0.0, left)));
  }
  uint64_t fetch(FetchRequest req, std::function<void(FetchResult)> cb);
  FetchRequest baseRequest(const std::string& url, std::optional<std::string> pin);

  void runDns();
  void dnsDone(DnsLayer layer);
  void startOddChecks();
  void runProxyResolve();
  void runTcp(std::vector<std::string> addresses, uint16_t port, bool via_proxy);
  void tcpDone(TcpLayer layer);
  void runFetch();
  void fetchDone(FetchResult f);
  void startEgress();
  void startEcho();
  void echoDone(std::size_t idx, EchoLayer layer);
  void chainDone();
  void taskDone();
  void onDeadline();
  void finish();

  static void onTimer(uv_timer_t* t) noexcept;

  Impl* engine;
  ProviderConfig provider;
  RouteConfig route;
  KeyInspection key;
  ProbeDone done;
  RouteResult r;
  uint64_t start_ns = 0;
  Stage stage = Stage::Idle;
  bool started = false, finished = false, delivering = false;
  int pending = 0;  // main chain + echo endpoints + egress + odd-answer checks
  UvTimer timer;    // kick-off, then the deadline, then delivery
  std::unique_ptr<DnsProbe> dns, proxy_dns;
  std::vector<std::unique_ptr<DnsProbe>> echo_dns;
  std::unique_ptr<TcpProbe> tcp;
  std::set<uint64_t> fetches;
  std::string proxy_ip;  // the proxy's address when its host is a name
  std::vector<std::optional<EchoLayer>> echo_results;
  std::vector<EchoRequest> echo_sent;
};

Engine::Impl::Impl(uv_loop_t* l, std::shared_ptr<const Config> c)
    : loop(l), config(std::move(c)), http(std::make_unique<HttpClient>(l)) {
  // Once per engine: the public root set (sync file I/O at start, never per
  // probe) and whether each route's binding is accepted by the kernel.
  if (!config->tls.public_roots.empty()) {
    try {
      public_roots = PublicRoots::load(config->tls.public_roots);
    } catch (const std::exception& e) {
      public_roots_error = std::string("public roots not loaded, interception cannot be judged: ") + e.what();
    }
  }
  for (const auto& route : config->routes) binding_errors[route.name] = checkRouteBinding(route);
}

Engine::Impl::~Impl() {
  cancelAll();
  channels.clear();  // ares_destroy: pending callbacks swallowed
  http.reset();      // curl_multi_cleanup; its handles close on the loop
}

void Engine::Impl::cancelAll() {
  // Sessions cancel their own work; nothing calls back afterwards.
  queued.clear();
  running.clear();
}

AresChannel* Engine::Impl::channel(const RouteConfig& route, std::size_t idx, std::string* err) {
  const auto key = std::make_pair(route.name, idx);
  if (auto it = channels.find(key); it != channels.end()) return it->second.get();
  if (auto it = channel_errors.find(key); it != channel_errors.end()) {
    *err = it->second;
    return nullptr;
  }
  // Lazily, once per engine: a "system" channel reads /etc/resolv.conf.
  std::string e;
  auto ch = AresChannel::create(loop, config->resolvers[idx], route, dnsBudget(), &e);
  if (!ch) {
    channel_errors[key] = e;
    *err = e;
    return nullptr;
  }
  AresChannel* raw = ch.get();
  channels[key] = std::move(ch);
  return raw;
}

std::vector<DnsTarget> Engine::Impl::targets(const RouteConfig& route, bool first_only) {
  std::vector<DnsTarget> out;
  const std::size_t n = first_only ? std::min<std::size_t>(1, config->resolvers.size())
                                   : config->resolvers.size();
  for (std::size_t i = 0; i < n; ++i) {
    DnsTarget t;
    t.resolver = config->resolvers[i].spec.empty() ? (config->resolvers[i].system ? "system" : config->resolvers[i].address)
                                                   : config->resolvers[i].spec;
    t.channel = channel(route, i, &t.setup_error);
    out.push_back(std::move(t));
  }
  return out;
}

void Engine::Impl::startOrQueue(std::unique_ptr<Session> s) {
  queued.push_back(std::move(s));
  pump();
}

void Engine::Impl::pump() {
  const std::size_t cap = static_cast<std::size_t>(std::max(1, config->concurrency));
  while (!queued.empty() && running.size() < cap) {
    running.push_back(std::move(queued.front()));
    queued.pop_front();
    running.back()->start();
  }
}

// --- Session -------------------------------------------------------------

void Engine::Impl::Session::onTimer(uv_timer_t* t) noexcept {
  auto* s = static_cast<Session*>(t->data);
  if (!s) return;
  try {
    if (s->delivering) {
      s->engine->sessionFinished(s);  // destroys s, then calls back
    } else if (!s->started) {
      s->started = true;
      s->start_ns = uv_hrtime();
      // The deadline: sub-steps bound themselves by what is left; this is the
      // backstop that keeps the whole probe within one timeout.
      uv_timer_start(s->timer.get(), &Session::onTimer,
                     static_cast<uint64_t>(s->engine->config->timeout.count()) + 250, 0);
      s->runDns();
      s->startEcho();
    } else {
      s->onDeadline();
    }
  } catch (...) {
  }
}

void Engine::Impl::Session::start() {
  r.provider = provider.spec.name;
  r.route = route.name;
  r.started_at = isoNow();
  r.key = key.layer;
  r.echo.status = LayerStatus::Skipped;
  r.echo.reason =
      "no echo endpoint configured; add \"echo\": [\"https://your-host/echo\"] (see pathwatch "
      "echo-server)";
  uv_loop_t* l = engine->loop;
  if (timer.init([l](uv_timer_t* t) { return uv_timer_init(l, t); }, this) != 0) return;
  uv_timer_start(timer.get(), &Session::onTimer, 0, 0);  // never complete from probe()
}

void Engine::Impl::Session::cancelWork() {
  dns.reset();
  proxy_dns.reset();
  echo_dns.clear();
  tcp.reset();
  for (uint64_t id : fetches) engine->http->cancel(id);
  fetches.clear();
}

uint64_t Engine::Impl::Session::fetch(FetchRequest req, std::function<void(FetchResult)> cb) {
  auto holder = std::make_shared<uint64_t>(0);
  const uint64_t id = engine->http->fetch(std::move(req), [this, holder, cb = std::move(cb)](FetchResult f) {
    fetches.erase(*holder);
    cb(std::move(f));
  });
  *holder = id;
  fetches.insert(id);
  return id;
}

FetchRequest Engine::Impl::Session::baseRequest(const std::string& url, std::optional<std::string> pin) {
  FetchRequest req;
  req.url = url;
  req.pin_address = std::move(pin);
  req.route = &route;
  req.ca_file = engine->config->tls.ca_file;
  req.public_roots = engine->public_roots;
  req.timeout = std::max<Millis>(remaining(), std::chrono::milliseconds(1));
  if (route.kind == RouteKind::Proxy && !proxy_ip.empty()) req.proxy_pin_address = proxy_ip;
  return req;
}

void Engine::Impl::Session::runDns() {
  stage = Stage::Dns;
  ++pending;  // the main chain: dns -> tcp -> tls+http
  const std::string& host = provider.spec.host;
  if (isIpLiteral(host)) {
    r.dns.status = LayerStatus::Skipped;
    r.dns.reason = "address literal";
    r.dns.addresses = {host};
    return runProxyResolve();
  }
  if (route.kind == RouteKind::Proxy && route.proxyResolvesRemotely()) {
    r.dns.status = LayerStatus::Skipped;
    r.dns.reason = "resolved by the proxy (" + route.proxy + ")";
    return runProxyResolve();
  }
  DnsProbeOptions opts;
  opts.host = host;
  opts.flag_bogons = provider.spec.builtin;
  opts.allowed = engine->config->allowed_ranges;
  opts.budget = std::min(engine->dnsBudget(), remaining());
  dns = std::make_unique<DnsProbe>(engine->loop, engine->targets(route, false), opts,
                                   [this](DnsLayer l) { dnsDone(std::move(l)); });
}

void Engine::Impl::Session::dnsDone(DnsLayer layer) {
  r.dns = std::move(layer);
  if (r.dns.status != LayerStatus::Ok) {
    r.tcp.reason = r.tls.reason = r.http.reason = "dns failed";
    return chainDone();
  }
  startOddChecks();
  runProxyResolve();
}

// Resolvers disagree: an answer disjoint from the one used is checked for TLS
// under the provider's name (no key is sent), so geo-DNS (passes) can be told
// from a sinkhole (fails): SPEC's dns_tampered rule.
void Engine::Impl::Session::startOddChecks() {
  if (!r.dns.resolvers_disagree) return;
  const std::set<std::string> used(r.dns.addresses.begin(), r.dns.addresses.end());
  std::set<std::set<std::string>> checked;
  const ProbeRequest probe = buildProbeRequest(provider.spec, "");
  for (std::size_t i = 0; i < r.dns.answers.size() && checked.size() < 3; ++i) {
    const auto& a = r.dns.answers[i];
    if (a.status != LayerStatus::Ok || a.addresses.empty()) continue;
    std::set<std::string> set(a.addresses.begin(), a.addresses.end());
    bool disjoint = true;
    for (const auto& x : set) disjoint = disjoint && !used.count(x);
    if (!disjoint || !checked.insert(set).second) continue;
    FetchRequest req = baseRequest(probe.url, a.addresses.front());
    req.headers = probe.headers;
    req.body_cap = 4096;
    ++pending;
    fetch(std::move(req), [this, i](FetchResult f) {
      auto& ans = r.dns.answers[i];
      const bool reached = f.failed_at == FailedAt::None || f.failed_at == FailedAt::Http;
      ans.tls_ok = reached && f.tls.public_root != std::optional<bool>(false);
      if (!*ans.tls_ok)
        ans.tls_error = !f.error.empty() ? f.error
                                         : (!f.tls.verify_error.empty() ? f.tls.verify_error
                                                                        : "not_publicly_trusted");
      // Every answer with the same set shares the verdict.
      for (auto& other : r.dns.answers)
        if (&other != &ans && other.status == LayerStatus::Ok &&
            std::set<std::string>(other.addresses.begin(), other.addresses.end()) ==
                std::set<std::string>(ans.addresses.begin(), ans.addresses.end())) {
          other.tls_ok = ans.tls_ok;
          other.tls_error = ans.tls_error;
        }
      taskDone();
    });
  }
}

void Engine::Impl::Session::runProxyResolve() {
  if (route.kind != RouteKind::Proxy) return runTcp(r.dns.addresses, provider.spec.port, false);
  if (isIpLiteral(route.proxy_host)) return runTcp({route.proxy_host}, route.proxy_port, true);
  // The proxy's own name goes through c-ares with the route's first resolver.
  stage = Stage::Proxy;
  DnsProbeOptions opts;
  opts.host = route.proxy_host;
  opts.budget = std::min(engine->dnsBudget(), remaining());
  proxy_dns = std::make_unique<DnsProbe>(
      engine->loop, engine->targets(route, true), opts, [this](DnsLayer l) {
        if (l.status != LayerStatus::Ok || l.addresses.empty()) {
          r.tcp.status = LayerStatus::Fail;
          r.tcp.via_proxy = true;
          r.tcp.error = "proxy_dns_failed";
          r.engine_notes.push_back("the proxy's name " + route.proxy_host +
                               " did not resolve (" + l.error + ")");
          r.tls.reason = r.http.reason = "proxy unreachable";
          return chainDone();
        }
        proxy_ip = l.addresses.front();
        runTcp(l.addresses, route.proxy_port, true);
      });
}

void Engine::Impl::Session::runTcp(std::vector<std::string> addresses, uint16_t port, bool via_proxy) {
  stage = Stage::Tcp;
  TcpProbeOptions opts;
  opts.addresses = std::move(addresses);
  opts.port = port;
  opts.route = route;
  opts.budget = remaining();
  opts.via_proxy = via_proxy;
  tcp = std::make_unique<TcpProbe>(engine->loop, std::move(opts),
                                   [this](TcpLayer l) { tcpDone(std::move(l)); });
}

void Engine::Impl::Session::tcpDone(TcpLayer layer) {
  r.tcp = std::move(layer);
  if (r.tcp.status != LayerStatus::Ok) {
    r.tls.reason = r.http.reason = r.tcp.via_proxy ? "proxy unreachable" : "tcp failed";
    return chainDone();
  }
  startEgress();
  runFetch();
}

void Engine::Impl::Session::runFetch() {
  stage = Stage::Fetch;
  // A damaged key is never sent; the path is still proven without it.
  const std::string send_key = key.layer.status == LayerStatus::Fail ? "" : key.key.reveal();
  const ProbeRequest probe = buildProbeRequest(provider.spec, send_key);
  std::optional<std::string> pin;
  if (route.kind != RouteKind::Proxy) {
    pin = ipOfEndpoint(r.tcp.address);
  } else if (!route.proxyResolvesRemotely() && !r.dns.addresses.empty()) {
    pin = r.dns.addresses.front();  // socks5: the name was resolved here
  }
  FetchRequest req = baseRequest(probe.url, pin);
  req.headers = probe.headers;
  if (!send_key.empty()) req.scrub.push_back(send_key);
  fetch(std::move(req), [this](FetchResult f) { fetchDone(std::move(f)); });
}

void Engine::Impl::Session::fetchDone(FetchResult f) {
  r.tls = std::move(f.tls);
  r.http = std::move(f.http);
  if (r.tls.status == LayerStatus::Skipped && r.tls.reason.empty() &&
      provider.spec.base_url.rfind("http://", 0) == 0)
    r.tls.reason = "plain http";
  switch (f.failed_at) {
    case FailedAt::None:
      break;
    case FailedAt::Proxy:
      // We reached the proxy; it failed us (refused, 407, its own error).
      r.tcp.status = LayerStatus::Fail;
      r.tcp.via_proxy = true;
      r.tcp.error = f.error;
      if (!f.detail.empty()) r.engine_notes.push_back("proxy: " + f.detail);
      if (r.http.status == LayerStatus::Skipped && r.http.reason.empty()) r.http.reason = "proxy failed";
      break;
    case FailedAt::Tcp:
      r.tcp.status = LayerStatus::Fail;
      r.tcp.error = f.error;
      if (!f.detail.empty()) r.engine_notes.push_back("the HTTP client's connection failed: " + f.detail);
      if (r.tls.reason.empty()) r.tls.reason = "tcp failed";
      if (r.http.reason.empty()) r.http.reason = "tcp failed";
      break;
    case FailedAt::Tls:
      r.tls.status = LayerStatus::Fail;
      if (r.tls.error.empty()) r.tls.error = f.error;
      if (r.http.status != LayerStatus::Fail) {
        r.http.status = LayerStatus::Skipped;
        if (r.http.reason.empty()) r.http.reason = "tls failed";
      }
      break;
    case FailedAt::Http:
      r.http.status = LayerStatus::Fail;
      if (r.http.error.empty()) r.http.error = f.error;
      break;
  }
  // The edge site in CF-Ray, when the provider is behind Cloudflare.
  const std::string site = cfRaySite(headerValue(r.http.headers, "cf-ray"));
  if (!site.empty()) {
    if (!r.egress) r.egress = Egress{};
    if (r.egress->colo.empty()) r.egress->colo = site;
    if (r.egress->seen_by.empty()) r.egress->seen_by = provider.spec.name;
  }
  chainDone();
}

void Engine::Impl::Session::startEgress() {
  if (!hasCdnTrace(provider.spec)) return;
  const auto parts = parseUrl(provider.spec.base_url);
  std::string authority = provider.spec.host.find(':') != std::string::npos
                              ? "[" + provider.spec.host + "]"
                              : provider.spec.host;
  if (provider.spec.port != 443) authority += ":" + std::to_string(provider.spec.port);
  std::optional<std::string> pin;
  if (route.kind != RouteKind::Proxy)
    pin = ipOfEndpoint(r.tcp.address);
  else if (!route.proxyResolvesRemotely() && !r.dns.addresses.empty())
    pin = r.dns.addresses.front();
  FetchRequest req = baseRequest((parts ? parts->scheme : "https") + "://" + authority + "/cdn-cgi/trace", pin);
  req.headers = {{"User-Agent", "pathwatch/0.1"}, {"Accept", "text/plain"}};
  req.body_cap = 4096;
  ++pending;
  fetch(std::move(req), [this](FetchResult f) {
    if (f.failed_at == FailedAt::None && f.http.code == 200) {
      if (auto e = parseCdnTrace(f.http.body)) {
        const std::string colo = r.egress ? r.egress->colo : "";
        r.egress = *e;
        r.egress->seen_by = provider.spec.name;
        if (r.egress->colo.empty()) r.egress->colo = colo;
      }
    }
    taskDone();
  });
}

void Engine::Impl::Session::startEcho() {
  const auto& endpoints = engine->config->echo;
  if (endpoints.empty()) return;
  echo_results.assign(endpoints.size(), std::nullopt);
  echo_sent.resize(endpoints.size());
  echo_dns.resize(endpoints.size());
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    ++pending;
    echo_sent[i] = buildEchoRequest(endpoints[i], provider.spec.kind, engine->seed++);
    // libcurl rewrites a custom Host header's name to "Host" itself; record
    // what really goes out so the comparison does not blame the route.
    for (auto& [name, value] : echo_sent[i].headers)
      if (name.size() == 4 && std::tolower(static_cast<unsigned char>(name[0])) == 'h' &&
          std::tolower(static_cast<unsigned char>(name[1])) == 'o' &&
          std::tolower(static_cast<unsigned char>(name[2])) == 's' &&
          std::tolower(static_cast<unsigned char>(name[3])) == 't')
        name = "Host";
    auto parts = parseUrl(endpoints[i]);
    if (!parts) {
      EchoLayer l;
      l.endpoint = endpoints[i];
      l.status = LayerStatus::Fail;
      l.error = "echo_bad_url";
      echoDone(i, std::move(l));
      continue;
    }
    auto send = [this, i](std::optional<std::string> pin) {
      FetchRequest req = baseRequest(echo_sent[i].url, std::move(pin));
      req.headers = echo_sent[i].headers;
      req.body_cap = 64 * 1024;
      fetch(std::move(req), [this, i](FetchResult f) {
        EchoLayer l;
        l.endpoint = engine->config->echo[i];
        if (f.failed_at != FailedAt::None && f.http.code == 0) {
          l.status = LayerStatus::Fail;
          l.error = "echo_" + f.error;
        } else {
          compareEcho(echo_sent[i], f.http.code, f.http.headers, f.http.body, l);
        }
        l.ms = f.http.timings.total > 0 ? f.http.timings.total : l.ms;
        echoDone(i, std::move(l));
      });
    };
    if (isIpLiteral(parts->host) || (route.kind == RouteKind::Proxy && route.proxyResolvesRemotely())) {
      send(isIpLiteral(parts->host) ? std::optional<std::string>(parts->host) : std::nullopt);
      continue;
    }
    DnsProbeOptions opts;
    opts.host = parts->host;
    opts.budget = std::min(engine->dnsBudget(), remaining());
    echo_dns[i] = std::make_unique<DnsProbe>(
        engine->loop, engine->targets(route, true), opts, [this, i, send](DnsLayer l) {
          if (l.status != LayerStatus::Ok || l.addresses.empty()) {
            EchoLayer e;
            e.endpoint = engine->config->echo[i];
            e.status = LayerStatus::Fail;
            e.error = "echo_dns_" + (l.error.empty() ? std::string("failed") : l.error);
            return echoDone(i, std::move(e));
          }
          send(l.addresses.front());
        });
  }
}

void Engine::Impl::Session::echoDone(std::size_t idx, EchoLayer layer) {
  echo_results[idx] = std::move(layer);
  // The first endpoint in configured order that answered speaks for the route.
  bool chosen = false;
  for (auto& res : echo_results) {
    if (!res) break;  // an earlier endpoint is still pending
    if (res->status != LayerStatus::Fail) {
      r.echo = *res;
      chosen = true;
      break;
    }
  }
  if (!chosen && std::all_of(echo_results.begin(), echo_results.end(),
                             [](const auto& x) { return x.has_value(); }))
    r.echo = *echo_results.front();
  taskDone();
}

void Engine::Impl::Session::chainDone() {
  stage = Stage::Done;
  taskDone();
}

void Engine::Impl::Session::taskDone() {
  if (--pending <= 0 && started && stage == Stage::Done) finish();
}

void Engine::Impl::Session::onDeadline() {
  if (finished) return;
  // What is still running ran out of time; later layers never started.
  cancelWork();
  switch (stage) {
    case Stage::Dns:
      r.dns.status = LayerStatus::Fail;
      r.dns.error = "timeout";
      r.tcp.reason = r.tls.reason = r.http.reason = "dns failed";
      break;
    case Stage::Proxy:
    case Stage::Tcp:
      r.tcp.status = LayerStatus::Fail;
      r.tcp.error = "timeout";
      r.tcp.via_proxy = route.kind == RouteKind::Proxy;
      r.tls.reason = r.http.reason = "tcp failed";
      break;
    case Stage::Fetch:
      r.http.status = LayerStatus::Fail;
      r.http.error = "timeout";
      break;
    default:
      break;
  }
  for (std::size_t i = 0; i < echo_results.size(); ++i)
    if (!echo_results[i]) {
      EchoLayer l;
      l.endpoint = engine->config->echo[i];
      l.status = LayerStatus::Fail;
      l.error = "echo_timeout";
      echo_results[i] = l;
      if (r.echo.status == LayerStatus::Skipped) r.echo = l;
    }
  r.engine_notes.push_back("the probe hit its deadline of " + std::to_string(engine->config->timeout.count()) + " ms");
  stage = Stage::Done;
  pending = 0;
  finish();
}

void Engine::Impl::Session::finish() {
  if (finished) return;
  finished = true;
  r.ms = msSince(start_ns);
  if (!engine->public_roots_error.empty()) r.engine_notes.push_back(engine->public_roots_error);
  classifyRoute(provider.spec, r);
  addEngineEvidence(r, engine->binding_errors[route.name]);
  // Deliver from a clean loop turn, never from inside c-ares or curl.
  delivering = true;
  uv_timer_stop(timer.get());
  uv_timer_start(timer.get(), &Session::onTimer, 0, 0);
}

void Engine::Impl::sessionFinished(Session* s) {
  RouteResult result = std::move(s->r);
  ProbeDone cb = std::move(s->done);
  running.remove_if([s](const std::unique_ptr<Session>& p) { return p.get() == s; });
  pump();
  if (cb) cb(std::move(result));  // may destroy the engine: nothing touched after
}

// --- Engine --------------------------------------------------------------

Engine::Engine(uv_loop_t* loop, std::shared_ptr<const Config> config)
    : impl_(std::make_unique<Impl>(loop, std::move(config))) {}

Engine::~Engine() = default;

void Engine::probe(const ProviderConfig& provider, const RouteConfig& route,
                   const KeyInspection& key, ProbeDone done) {
  impl_->startOrQueue(std::make_unique<Impl::Session>(impl_.get(), provider, route, key, std::move(done)));
}

void Engine::cancelAll() { impl_->cancelAll(); }

std::size_t Engine::inFlight() const { return impl_->running.size(); }
uv_loop_t* Engine::loop() const { return impl_->loop; }

std::size_t Engine::queued() const { return impl_->queued.size(); }

std::string Engine::routeBindingError(const std::string& route) const {
  auto it = impl_->binding_errors.find(route);
  return it == impl_->binding_errors.end() ? "" : it->second;
}

}  // namespace pathwatch
