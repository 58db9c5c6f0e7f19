#include "pathwatch/engine.h"

#include <algorithm>
#include <deque>
#include <list>
#include <map>
#include <set>

#include "dns_probe.h"
#include "echo.h"
#include "egress.h"
#include "pathwatch/fetch.h"
#include "loop/uv_ares.h"
#include "pathwatch/uv_handle.h"
#include "pathwatch/clock.h"
#include "pathwatch/error_names.h"
#include "pathwatch/host.h"
#include "pathwatch/text.h"
#include "providers/provider_def.h"
#include "route_binding.h"
#include "tls_verify.h"

namespace pathwatch {

namespace {

constexpr int kSmallMss = 536;  // RFC 879's default: fits every path

double msSince(uint64_t start_ns) { return static_cast<double>(uv_hrtime() - start_ns) / 1e6; }

std::string headerValue(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return "";
}

std::string endpointOf(const std::string& ip, uint16_t port) {
  return (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

bool isV6(const std::string& ip) { return ip.find(':') != std::string::npos; }

std::string urlOf(const ProviderSpec& spec, std::string_view path) {
  const auto parts = parseUrl(spec.base_url);
  std::string authority = isV6(spec.host) ? "[" + spec.host + "]" : spec.host;
  const uint16_t default_port = parts && parts->scheme == "http" ? 80 : 443;
  if (spec.port != default_port) authority += ":" + std::to_string(spec.port);
  return (parts ? parts->scheme : std::string("https")) + "://" + authority + std::string(path);
}

}  // namespace

RouteProbe RouteProbe::forProviders(const std::vector<ProviderConfig>& providers) {
  RouteProbe out;
  for (const auto& p : providers) {
    if (!p.spec.def) continue;
    if (std::find(out.echo_shapes.begin(), out.echo_shapes.end(), p.spec.def) == out.echo_shapes.end())
      out.echo_shapes.push_back(p.spec.def);
    // Only the public provider itself answers its CDN's trace.
    if (!out.trace_via && p.spec.builtin && p.spec.def->cloudflare_fronted) out.trace_via = p.spec;
  }
  return out;
}

// ---------------------------------------------------------------- the engine

struct Engine::Impl {
  // A probe waiting for, or holding, one of the `concurrency` places.
  struct Task {
    virtual ~Task() = default;
    virtual void start() = 0;
    // A provider probe on this route that has not finished yet.
    virtual bool probesPair(const std::string& /*provider*/, const std::string& /*route*/) const { return false; }
  };
  using PairName = std::pair<std::string, std::string>;  // provider, route
  // What a route session's trace does once its provider's probe on the same
  // route has its answer: `pin` is the address that answered, nullopt when
  // the probe made no connection (the trace then connects itself).
  using TraceRider = std::function<void(std::optional<std::string> pin)>;
  struct Session;       // what both kinds of probe share: deadline, DNS targets, fetches
  struct PairSession;   // provider x route
  struct RouteSession;  // the route's own probes

  Impl(uv_loop_t* l, std::shared_ptr<const Config> c);
  ~Impl();

  AresChannel* channel(const RouteConfig& route, std::size_t idx, std::string* err);
  std::vector<DnsTarget> targets(const RouteConfig& route, bool first_only);
  // How old a shared connection may be: half an interval (at most a
  // minute), so a pair never takes the connection of its own previous check
  // (at least 0.9 interval ago with the jitter) and every pair's TCP and TLS
  // are those of a handshake made on its route within the interval it is
  // checked in. Entries on one host share; a lone entry connects each time.
  // 0 below 3 s (intervals under 6 s): libcurl counts a connection's age in
  // whole seconds, too coarse to keep that promise there, so nothing is shared.
  std::chrono::seconds connectionLifetime() const {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(config->interval / 2);
    if (s < std::chrono::seconds(3)) return std::chrono::seconds(0);
    return std::min<std::chrono::seconds>(s, std::chrono::seconds(60));
  }
  Millis dnsBudget() const {
    return std::max<Millis>(std::chrono::milliseconds(200), config->timeout * 2 / 5);
  }
  void startOrQueue(std::unique_ptr<Task> t);
  void pump();
  // Removes the finished task (destroying it) and frees its place.
  void release(Task* t);
  void cancelAll();

  uv_loop_t* loop;
  std::shared_ptr<const Config> config;
  // One HTTP client (curl multi handle, hence connection cache) per route: a
  // connection kept for a route's trace can only be taken on that route.
  // libcurl matches an idle connection by host, port, proxy and TLS settings;
  // the route's binding is a socket option it knows nothing of, so with one
  // cache a trace on one route could ride on another route's connection and
  // report that route's egress. The CA file they verify against is parsed
  // once for all of them (caStore below).
  std::map<std::string, std::unique_ptr<HttpClient>> http;
  HttpClient& httpFor(const RouteConfig& route) {
    auto& client = http[route.name];
    if (!client) client = std::make_unique<HttpClient>(loop);
    return *client;
  }
  std::shared_ptr<const PublicRoots> public_roots;
  std::string public_roots_error;
  // tls.ca_file parsed at the first TLS fetch (a check that never gets that
  // far never reads it), then shared by every route's connections. When it
  // cannot be loaded, fetches hand libcurl the path and it reports the
  // failure as it always has (a TLS error naming the file).
  std::shared_ptr<const CaStore> ca_store;
  bool ca_store_tried = false;
  std::shared_ptr<const CaStore> caStore() {
    if (!ca_store_tried && !config->tls.ca_file.empty()) {
      ca_store_tried = true;
      try {
        ca_store = CaStore::load(config->tls.ca_file);
      } catch (const std::exception&) {
        ca_store.reset();
      }
    }
    return ca_store;
  }
  std::map<std::string, std::string> binding_errors;
  std::map<std::pair<std::string, std::size_t>, std::unique_ptr<AresChannel>> channels;
  std::map<std::pair<std::string, std::size_t>, std::string> channel_errors;
  bool pairRunning(const PairName& pair) const {
    return std::any_of(running.begin(), running.end(),
                       [&](const std::unique_ptr<Task>& t) { return t->probesPair(pair.first, pair.second); });
  }

  // Route sessions whose trace waits for a running provider probe (by pair).
  std::map<PairName, TraceRider> trace_riders;
  std::list<std::unique_ptr<Task>> running;
  std::deque<std::unique_ptr<Task>> queued;
  uint64_t seed = 0x9e3779b97f4a7c15ull;
};

Engine::Impl::Impl(uv_loop_t* l, std::shared_ptr<const Config> c)
    : loop(l), config(std::move(c)) {
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
  http.clear();      // curl_multi_cleanup; its handles close on the loop
}

void Engine::Impl::cancelAll() {
  // Tasks cancel their own work when destroyed; nothing calls back afterwards.
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
    const ResolverConfig& rc = config->resolvers[i];
    t.resolver = rc.spec.empty() ? (rc.system ? "system" : rc.address) : rc.spec;
    t.channel = channel(route, i, &t.setup_error);
    out.push_back(std::move(t));
  }
  return out;
}

void Engine::Impl::startOrQueue(std::unique_ptr<Task> t) {
  queued.push_back(std::move(t));
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

void Engine::Impl::release(Task* t) {
  running.remove_if([t](const std::unique_ptr<Task>& p) { return p.get() == t; });
  pump();
}

// ---------------------------------------------------------------- Session

// One deadline for everything a probe does; a start on a later loop turn
// (never from inside probe()); fetches and DNS lookups it owns (destroying
// the session cancels them); delivery from a clean loop turn.
struct Engine::Impl::Session : Task {
  Session(Impl* e, RouteConfig rt) : engine(e), route(std::move(rt)) {}

  void start() override {
    uv_loop_t* l = engine->loop;
    if (timer.init([l](uv_timer_t* t) { return uv_timer_init(l, t); }, this) != 0) return;
    uv_timer_start(timer.get(), &Session::onTimer, 0, 0);
  }

  Millis remaining() const {
    const double left = static_cast<double>(engine->config->timeout.count()) - msSince(start_ns);
    return Millis(static_cast<int64_t>(std::max(0.0, left)));
  }

  FetchRequest baseRequest(const std::string& url, std::optional<std::string> pin) {
    FetchRequest req;
    req.url = url;
    req.pin_address = std::move(pin);
    req.route = &route;
    req.ca_file = engine->config->tls.ca_file;
    if (url.rfind("https://", 0) == 0 || route.proxy_scheme == ProxyScheme::Https)
      req.ca_store = engine->caStore();
    req.public_roots = engine->public_roots;
    req.timeout = std::max<Millis>(remaining(), std::chrono::milliseconds(1));
    if (route.kind == RouteKind::Proxy && !proxy_ip.empty()) req.proxy_pin_address = proxy_ip;
    return req;
  }

  // A fetch owned by this session; `cb` runs unless the session goes first.
  // Every answer's Date (and a certificate refused on time) is noted for the
  // host's clock (host.h), whoever sent it: provider, proxy, echo, edge.
  void fetch(FetchRequest req, std::function<void(FetchResult)> cb) {
    ++pending;
    const int64_t sent_ms = wallClockMs();
    const auto url = parseUrl(req.url);
    std::string server = url ? url->host : std::string();
    fetches.push_back(engine->httpFor(route).fetch(
        std::move(req), [this, sent_ms, server = std::move(server), cb = std::move(cb)](FetchResult f) {
          noteClock(server, sent_ms, f);
          cb(std::move(f));
          taskDone();
        }));
  }

  void noteClock(const std::string& server, int64_t sent_ms, const FetchResult& f) {
    const HeaderList& headers = f.http.headers.empty() ? f.proxy_headers : f.http.headers;
    const std::string& tls_error = f.tls.status == LayerStatus::Fail ? f.tls.error : std::string();
    if (auto s = clockSighting(server, sent_ms, wallClockMs(), headers, tls_error, f.tls))
      clock.push_back(std::move(*s));
  }

  // A lookup owned by this session on the route's resolvers.
  void lookup(const std::string& host, bool first_resolver_only, DnsProbeOptions opts,
              std::function<void(DnsLayer)> cb) {
    ++pending;
    opts.host = host;
    opts.budget = std::min(engine->dnsBudget(), remaining());
    lookups.push_back(std::make_unique<DnsProbe>(engine->loop, engine->targets(route, first_resolver_only),
                                                 std::move(opts), [this, cb = std::move(cb)](DnsLayer l) {
                                                   cb(std::move(l));
                                                   taskDone();
                                                 }));
  }

  void taskDone() {
    if (--pending <= 0 && !finished) finish();
  }

  void cancelWork() {
    lookups.clear();
    fetches.clear();
  }

  static void onTimer(uv_timer_t* t) noexcept {
    auto* s = static_cast<Session*>(t->data);
    if (!s) return;
    try {
      if (s->delivering) {
        s->deliver();  // destroys s, then calls back
      } else if (!s->started) {
        s->started = true;
        s->start_ns = uv_hrtime();
        // The deadline: sub-steps bound themselves by what is left; this is
        // the backstop that keeps the whole probe within one timeout.
        uv_timer_start(s->timer.get(), &Session::onTimer,
                       static_cast<uint64_t>(s->engine->config->timeout.count()) + 250, 0);
        ++s->pending;  // held until run() has started everything
        s->run();
        s->taskDone();
      } else if (!s->finished) {
        s->cancelWork();
        s->onDeadline();
        s->finish();
      }
    } catch (...) {
    }
  }

  void finish() {
    if (finished) return;
    finished = true;
    pending = 0;
    complete();
    // Deliver from a clean loop turn, never from inside c-ares or curl.
    delivering = true;
    uv_timer_stop(timer.get());
    uv_timer_start(timer.get(), &Session::onTimer, 0, 0);
  }

  virtual void run() = 0;         // starts the work
  virtual void onDeadline() = 0;  // what ran out of time
  virtual void complete() = 0;    // everything is in: fill the result
  virtual void deliver() = 0;     // hand the result over (the last thing done)

  Impl* engine;
  RouteConfig route;
  UvTimer timer;  // kick-off, then the deadline, then delivery
  uint64_t start_ns = 0;
  bool started = false, finished = false, delivering = false;
  int pending = 0;
  std::string proxy_ip;  // the route's proxy address when its host is a name
  std::vector<std::unique_ptr<DnsProbe>> lookups;
  std::vector<FetchHandle> fetches;
  std::vector<ClockSighting> clock;  // what the answers said about this host's clock
};

// ---------------------------------------------------------------- PairSession

struct Engine::Impl::PairSession : Session {
  PairSession(Impl* e, const ProviderConfig& p, const RouteConfig& rt, const KeyInspection& k, ProbeDone d)
      : Session(e, rt), provider(p), key(k), done(std::move(d)) {
    r.provider = provider.spec.name;
    r.route = route.name;
    r.key = key.layer;
  }

  // One chain of connection attempts, one address after another, for one
  // address family (or for the route's proxy).
  struct Chain {
    std::vector<std::string> addresses;
    std::size_t next = 0, max_attempts = 4;
    bool full = true;      // the real request; otherwise a handshake check (no key sent)
    bool running = false;  // an attempt is in flight
    std::optional<FetchResult> answer;  // the attempt that got past TCP (full chains)
    std::string good;      // an address whose TCP (+ TLS) worked
  };

  enum class Stage { Dns, Proxy, Connect, Done };

  bool probesPair(const std::string& p, const std::string& rt) const override {
    return !finished && provider.spec.name == p && route.name == rt;
  }
  PairName pairName() const { return {provider.spec.name, route.name}; }

  // The route's trace waiting for this probe goes now, on this probe's
  // connection when it is still open (curl keeps it; fetch.h). Called when
  // the answer is in, and at the end whatever happened.
  void releaseTraceRider() {
    auto it = engine->trace_riders.find(pairName());
    if (it == engine->trace_riders.end()) return;
    TraceRider rider = std::move(it->second);
    engine->trace_riders.erase(it);
    rider(answered_pin);
  }

  void run() override {
    r.started_at = isoFromMs(wallClockMs());
    stage = Stage::Dns;
    const std::string& host = provider.spec.host;
    if (isIpLiteral(host)) {
      r.dns.status = LayerStatus::Skipped;
      r.dns.reason = "address literal";
      r.dns.addresses = {host};
      return resolveProxy();
    }
    if (route.kind == RouteKind::Proxy && route.proxyResolvesRemotely()) {
      r.dns.status = LayerStatus::Skipped;
      r.dns.reason = "resolved by the proxy (" + route.proxy + ")";
      return resolveProxy();
    }
    DnsProbeOptions opts;
    opts.flag_bogons = provider.spec.builtin;
    opts.allowed = engine->config->allowed_ranges;
    lookup(host, false, std::move(opts), [this](DnsLayer l) {
      r.dns = std::move(l);
      if (r.dns.status != LayerStatus::Ok) {
        r.tcp.reason = r.tls.reason = r.http.reason = "dns failed";
        stage = Stage::Done;
        return;
      }
      checkOddAnswers();
      resolveProxy();
    });
  }

  // Resolvers disagree: an answer disjoint from the one used is checked for
  // TLS under the provider's name (no key is sent), so geo-DNS (passes) can
  // be told from a sinkhole (fails): the dns_tampered rule.
  void checkOddAnswers() {
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
      fetch(std::move(req), [this, i](FetchResult f) {
        auto& ans = r.dns.answers[i];
        const bool reached = f.failed_at == FailedAt::None || f.failed_at == FailedAt::Http;
        ans.tls_ok = reached && f.tls.public_root != std::optional<bool>(false);
        if (!*ans.tls_ok)
          ans.tls_error = !f.error.empty() ? f.error
                                           : (!f.tls.verify_error.empty() ? f.tls.verify_error
                                                                          : std::string(err::kNotPubliclyTrusted));
        // Every answer with the same set shares the verdict.
        for (auto& other : r.dns.answers)
          if (&other != &ans && other.status == LayerStatus::Ok &&
              std::set<std::string>(other.addresses.begin(), other.addresses.end()) ==
                  std::set<std::string>(ans.addresses.begin(), ans.addresses.end())) {
            other.tls_ok = ans.tls_ok;
            other.tls_error = ans.tls_error;
          }
      });
    }
  }

  void resolveProxy() {
    if (route.kind != RouteKind::Proxy) return connect();
    if (isIpLiteral(route.proxy_host)) {
      proxy_ip = route.proxy_host;
      return connect();
    }
    // The proxy's own name goes through c-ares with the route's first resolver.
    stage = Stage::Proxy;
    lookup(route.proxy_host, true, {}, [this](DnsLayer l) {
      if (l.status != LayerStatus::Ok || l.addresses.empty()) {
        r.tcp.status = LayerStatus::Fail;
        r.tcp.via_proxy = true;
        r.tcp.error = std::string(err::kProxyDnsFailed);
        r.tcp.detail = "the proxy's name " + route.proxy_host + " did not resolve (" + l.error + ")";
        r.tls.reason = r.http.reason = "proxy unreachable";
        stage = Stage::Done;
        return;
      }
      proxy_ip = l.addresses.front();
      connect();
    });
  }

  // The connection attempts (docs/json.md layers.tcp). Direct: IPv4 carries
  // the real request when the name has IPv4 addresses, IPv6 when it has only
  // IPv6 ones, one address after another until one connects; the other
  // family gets a TLS handshake check (no key sent) on its own addresses at
  // the same time. So the provider's answer never depends on whether IPv6
  // happens to work here, and a broken IPv6 (ipv6_broken) still shows, which
  // matters because clients on a host with IPv6 try it first. Through a
  // proxy: the proxy's address.
  void connect() {
    stage = Stage::Connect;
    if (route.kind == RouteKind::Proxy) {
      r.tcp.via_proxy = true;
      main_chain.addresses = {proxy_ip};
      main_chain.max_attempts = 1;
      return attempt(main_chain);
    }
    std::vector<std::string> v4, v6;
    for (const auto& a : r.dns.addresses) (isV6(a) ? v6 : v4).push_back(a);
    // Whether this host can send IPv6 there at all: without a route or a
    // source address, IPv6 is unused here, not broken.
    if (!v6.empty()) {
      const std::string why = localRouteError(route, v6.front());
      r.tcp.ipv6_route = why.empty() ? std::string("ok") : why;
    }
    const bool v4_first = !v4.empty();
    std::vector<std::string> first = v4_first ? std::move(v4) : std::move(v6);
    std::vector<std::string> second = v4_first ? std::move(v6) : std::vector<std::string>{};
    main_chain.addresses = std::move(first);
    if (!second.empty()) {
      main_chain.max_attempts = 2;
      other_chain.addresses = std::move(second);
      other_chain.max_attempts = 2;
      other_chain.full = false;
      attempt(other_chain);
    }
    attempt(main_chain);
  }

  uint16_t targetPort() const { return route.kind == RouteKind::Proxy ? route.proxy_port : provider.spec.port; }

  void attempt(Chain& chain) {
    if (chain.next >= chain.addresses.size() || chain.next >= chain.max_attempts) {
      chain.running = false;
      return chainsSettled();
    }
    const std::string address = chain.addresses[chain.next++];
    chain.running = true;
    // A damaged key is never sent; the path is still proven without it.
    const std::string send_key =
        chain.full && key.layer.status != LayerStatus::Fail ? key.key.reveal() : std::string();
    const ProbeRequest probe = buildProbeRequest(provider.spec, send_key);
    std::optional<std::string> pin;
    if (route.kind != RouteKind::Proxy)
      pin = address;
    else if (!route.proxyResolvesRemotely() && !r.dns.addresses.empty())
      pin = r.dns.addresses.front();  // socks5: the name was resolved here
    FetchRequest req = baseRequest(probe.url, pin);
    req.headers = probe.headers;
    req.connect_only = !chain.full;
    req.keep_connection = chain.full && engine->trace_riders.count(pairName()) > 0;
    // The request takes this route's kept connection to the same host and
    // address when one was made within the last half interval, and leaves its own:
    // one handshake per route, host and address per interval however many
    // entries name that host (docs/json.md layers.tcp.reused).
    req.connection_lifetime = engine->connectionLifetime();
    req.share_connection = chain.full && req.connection_lifetime.count() > 0;
    if (!send_key.empty()) req.scrub.push_back(send_key);
    // Half of what is left for TCP + TLS, so another address or a retry with
    // a small MSS still fits in the deadline.
    req.connect_timeout = std::max<Millis>(remaining() / 2, std::chrono::milliseconds(1));
    fetch(std::move(req), [this, &chain, address, pin](FetchResult f) {
      if (chain.full && f.http.code != 0) answered_pin = pin;
      attemptDone(chain, address, std::move(f));
    });
  }

  void attemptDone(Chain& chain, const std::string& address, FetchResult f) {
    // Whatever the new connection met, the kept one it replaced stalled.
    if (f.replaced_stalled) r.tcp.stalled_connection_replaced = true;
    TcpAttempt a;
    a.address = endpointOf(address, targetPort());
    a.family = isV6(address) ? "ipv6" : "ipv4";
    a.ms = f.connect_ms;
    if (!f.connect_error.empty()) {  // no TCP connection to this address
      a.status = LayerStatus::Fail;
      a.error = f.connect_error;
      r.tcp.attempts.push_back(std::move(a));
      if (chain.full) last_connect_failure = std::move(f);
      return attempt(chain);  // the next address, or settle
    }
    // TCP connected; a handshake that failed makes the attempt fail too.
    a.status = f.failed_at == FailedAt::Tls ? LayerStatus::Fail : LayerStatus::Ok;
    if (f.failed_at == FailedAt::Tls) a.error = f.error == err::kTimeout ? "tls_timeout" : f.error;
    r.tcp.attempts.push_back(std::move(a));
    chain.running = false;
    if (f.failed_at != FailedAt::Tls) chain.good = address;
    if (chain.full) {
      // A handshake that stalled after TCP connected: the certificate may be
      // lost to a path MTU black hole. Try once more with a small MSS.
      const bool stalled = f.failed_at == FailedAt::Tls && f.error == err::kTimeout;
      chain.answer = std::move(f);
      if (stalled && route.kind != RouteKind::Proxy && !mss_retried) {
        mss_retried = true;
        return retrySmallMss(chain, address);
      }
      releaseTraceRider();  // now, not after the other family's check
    }
    chainsSettled();
  }

  void retrySmallMss(Chain& chain, const std::string& address) {
    FetchRequest req = baseRequest(buildProbeRequest(provider.spec, "").url, address);
    req.headers = buildProbeRequest(provider.spec, "").headers;
    req.connect_only = true;
    req.tcp_maxseg = kSmallMss;
    chain.running = true;
    fetch(std::move(req), [this, &chain](FetchResult f) {
      chain.running = false;
      small_mss = f.failed_at == FailedAt::None ? "works" : "fails";
      chainsSettled();
    });
  }

  // Both chains have an outcome: pick the answer, or fall back to the other
  // family when the first could not connect at all.
  void chainsSettled() {
    if (main_chain.running || other_chain.running || stage == Stage::Done) return;
    if (!main_chain.answer && !other_chain.good.empty() && !fallback_started) {
      fallback_started = true;
      main_chain.addresses = {other_chain.good};
      main_chain.next = 0;
      main_chain.max_attempts = 1;
      return attempt(main_chain);
    }
    stage = Stage::Done;
    fillLayers();
  }

  void fillLayers() {
    if (!main_chain.answer) {
      r.tcp.status = LayerStatus::Fail;
      r.tcp.error = r.tcp.attempts.empty() ? std::string(err::kTimeout) : r.tcp.attempts.front().error;
      if (last_connect_failure) r.tcp.detail = last_connect_failure->detail;
      r.tls.reason = r.http.reason = r.tcp.via_proxy ? "proxy unreachable" : "tcp failed";
      return;
    }
    FetchResult& f = *main_chain.answer;
    r.tcp.status = LayerStatus::Ok;
    r.tcp.address = f.connected_address;
    r.tcp.local_address = f.local_address;
    r.tcp.ms = f.connect_ms;
    r.tcp.reused = f.reused;
    r.tcp.connection_age_ms = f.connection_age_ms;
    if (f.replaced_stalled) r.tcp.stalled_connection_replaced = true;
    r.tls = std::move(f.tls);
    r.http = std::move(f.http);
    if (r.tls.status == LayerStatus::Skipped && r.tls.reason.empty() &&
        provider.spec.base_url.rfind("http://", 0) == 0)
      r.tls.reason = "plain http";
    if (!small_mss.empty()) r.tls.small_mss = small_mss;
    switch (f.failed_at) {
      case FailedAt::None:
        break;
      case FailedAt::Proxy:
        // We reached the proxy; it failed us (refused, 407, its own error).
        r.tcp.status = LayerStatus::Fail;
        r.tcp.error = f.error;
        r.tcp.detail = f.detail;
        if (r.http.status == LayerStatus::Skipped && r.http.reason.empty()) r.http.reason = "proxy failed";
        break;
      case FailedAt::Tcp:
        r.tcp.status = LayerStatus::Fail;
        r.tcp.error = f.error;
        r.tcp.detail = f.detail;
        if (r.tls.reason.empty()) r.tls.reason = "tcp failed";
        if (r.http.reason.empty()) r.http.reason = "tcp failed";
        break;
      case FailedAt::Tls:
        r.tls.status = LayerStatus::Fail;
        if (r.tls.error.empty()) r.tls.error = f.error;
        r.tls.detail = f.detail;
        if (r.http.status != LayerStatus::Fail) {
          r.http.status = LayerStatus::Skipped;
          if (r.http.reason.empty()) r.http.reason = "tls failed";
        }
        break;
      case FailedAt::Http:
        r.http.status = LayerStatus::Fail;
        if (r.http.error.empty()) r.http.error = f.error;
        r.http.detail = f.detail;
        break;
    }
    // The edge site in CF-Ray, when the provider is behind Cloudflare.
    const std::string site = cfRaySite(headerValue(r.http.headers, "cf-ray"));
    if (!site.empty()) r.egress = Egress{"", "", site, provider.spec.name};
  }

  void onDeadline() override {
    // What is still running ran out of time; later layers never started.
    switch (stage) {
      case Stage::Dns:
        r.dns.status = LayerStatus::Fail;
        r.dns.error = std::string(err::kTimeout);
        r.tcp.reason = r.tls.reason = r.http.reason = "dns failed";
        break;
      case Stage::Proxy:
        r.tcp.status = LayerStatus::Fail;
        r.tcp.error = std::string(err::kTimeout);
        r.tcp.via_proxy = true;
        r.tls.reason = r.http.reason = "tcp failed";
        break;
      case Stage::Connect:
        if (main_chain.answer) {
          fillLayers();
          if (r.http.status == LayerStatus::Ok) break;
        }
        if (r.tcp.attempts.empty() || !main_chain.answer) {
          r.tcp.status = LayerStatus::Fail;
          r.tcp.error = std::string(err::kTimeout);
          r.tcp.via_proxy = route.kind == RouteKind::Proxy;
          r.tls.reason = r.http.reason = "tcp failed";
        } else {
          r.http.status = LayerStatus::Fail;
          r.http.error = std::string(err::kTimeout);
        }
        break;
      case Stage::Done:
        break;
    }
    stage = Stage::Done;
    r.deadline_ms = engine->config->timeout.count();
  }

  void complete() override {
    r.ms = msSince(start_ns);
    r.clock = std::move(clock);
    releaseTraceRider();
  }

  void deliver() override {
    RouteResult result = std::move(r);
    ProbeDone cb = std::move(done);
    Impl* e = engine;
    e->release(this);                 // destroys this session
    if (cb) cb(std::move(result));    // may destroy the engine: nothing touched after
  }

  ProviderConfig provider;
  KeyInspection key;
  ProbeDone done;
  RouteResult r;
  Stage stage = Stage::Dns;
  Chain main_chain, other_chain;
  std::optional<FetchResult> last_connect_failure;
  bool fallback_started = false, mss_retried = false;
  std::string small_mss;
  std::optional<std::string> answered_pin;  // what the answered request was pinned to
};

// ---------------------------------------------------------------- RouteSession

struct Engine::Impl::RouteSession : Session {
  RouteSession(Impl* e, const RouteConfig& rt, RouteProbe w, RouteDone d)
      : Session(e, rt), what(std::move(w)), done(std::move(d)) {
    obs.route = route.name;
    obs.binding_error = engine->binding_errors[route.name];
    obs.public_roots_error = engine->public_roots_error;
    obs.echo.status = LayerStatus::Skipped;
    obs.echo.reason =
        "no echo endpoint configured; add \"echo\": [\"https://your-host/echo\"] (see pathwatch "
        "echo-server)";
  }

  void run() override {
    if (route.kind == RouteKind::Proxy && !isIpLiteral(route.proxy_host)) {
      lookup(route.proxy_host, true, {}, [this](DnsLayer l) {
        if (l.status == LayerStatus::Ok && !l.addresses.empty()) proxy_ip = l.addresses.front();
        startEcho();
        startTrace();
      });
      return;
    }
    if (route.kind == RouteKind::Proxy) proxy_ip = route.proxy_host;
    startEcho();
    startTrace();
  }

  bool proxyResolves() const { return route.kind == RouteKind::Proxy && route.proxyResolvesRemotely(); }

  // Resolves `host` on the route unless it is a literal or the proxy resolves it.
  void whereIs(const std::string& host, std::function<void(std::optional<std::string> pin, std::string error)> then) {
    if (isIpLiteral(host)) return then(host, "");
    if (proxyResolves()) return then(std::nullopt, "");
    lookup(host, true, {}, [then = std::move(then)](DnsLayer l) {
      if (l.status != LayerStatus::Ok || l.addresses.empty())
        return then(std::nullopt, l.error.empty() ? std::string("failed") : l.error);
      then(l.addresses.front(), "");
    });
  }

  void startEcho() {
    const auto& endpoints = engine->config->echo;
    if (endpoints.empty()) return;
    echo_results.assign(endpoints.size(), std::nullopt);
    echo_sent.resize(endpoints.size());
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      echo_sent[i] = buildEchoRequest(endpoints[i], what.echo_shapes, engine->seed++);
      // libcurl rewrites a custom Host header's name to "Host" itself; record
      // what really goes out so the comparison does not blame the route.
      for (auto& [name, value] : echo_sent[i].headers)
        if (iequals(name, "host")) name = "Host";
      const auto parts = parseUrl(endpoints[i]);
      if (!parts) {
        EchoLayer l;
        l.endpoint = endpoints[i];
        l.status = LayerStatus::Fail;
        l.error = "echo_bad_url";
        echoDone(i, std::move(l));
        continue;
      }
      whereIs(parts->host, [this, i](std::optional<std::string> pin, std::string error) {
        if (!error.empty()) {
          EchoLayer e;
          e.endpoint = engine->config->echo[i];
          e.status = LayerStatus::Fail;
          e.error = "echo_dns_" + error;
          return echoDone(i, std::move(e));
        }
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
      });
    }
  }

  void echoDone(std::size_t idx, EchoLayer layer) {
    echo_results[idx] = std::move(layer);
    chooseEcho();
  }

  // The first endpoint in configured order that answered speaks for the
  // route; when every one failed, the first failure does.
  void chooseEcho() {
    for (auto& res : echo_results) {
      if (!res) return;  // an earlier endpoint is still pending
      if (res->status != LayerStatus::Fail) {
        obs.echo = *res;
        return;
      }
    }
    if (!echo_results.empty()) obs.echo = *echo_results.front();
  }

  // The egress as the provider's CDN sees it: /cdn-cgi/trace (no key sent).
  // When that provider's probe on this route is running, the trace waits for
  // its answer and goes on the same connection: one handshake fewer per
  // route and cycle, and the egress of the very connection that was judged.
  void startTrace() {
    if (!what.trace_via) return;
    const PairName pair{what.trace_via->name, route.name};
    if (!engine->pairRunning(pair) || engine->trace_riders.count(pair)) return traceOnOwnConnection();
    ++pending;  // held until the provider's probe has its answer
    riding = pair;
    engine->trace_riders[pair] = [this](std::optional<std::string> pin) {
      riding.reset();
      if (pin || proxyResolves())
        fetchTrace(std::move(pin), true);
      else
        traceOnOwnConnection();
      taskDone();
    };
  }

  void traceOnOwnConnection() {
    whereIs(what.trace_via->host, [this](std::optional<std::string> pin, std::string error) {
      if (error.empty()) fetchTrace(std::move(pin), false);
    });
  }

  void fetchTrace(std::optional<std::string> pin, bool reuse) {
    const ProviderSpec& spec = *what.trace_via;
    FetchRequest req = baseRequest(urlOf(spec, "/cdn-cgi/trace"), std::move(pin));
    req.headers = {{"User-Agent", "pathwatch/0.1"}, {"Accept", "text/plain"}};
    req.body_cap = 4096;
    // Riding: the connection stays for the route's next probe of that host.
    req.reuse_connection = req.keep_connection = reuse;
    fetch(std::move(req), [this, name = spec.name](FetchResult f) {
      if (f.failed_at != FailedAt::None || f.http.code != 200) return;
      if (auto e = parseCdnTrace(f.http.body)) {
        obs.egress = *e;
        obs.egress->seen_by = name;
      }
    });
  }

  // A session that ends (deadline, cancel) before the probe answered is no
  // longer waited for.
  void stopRiding() {
    if (!riding) return;
    engine->trace_riders.erase(*riding);
    riding.reset();
  }
  ~RouteSession() override { stopRiding(); }

  void onDeadline() override {
    for (std::size_t i = 0; i < echo_results.size(); ++i)
      if (!echo_results[i]) {
        EchoLayer l;
        l.endpoint = engine->config->echo[i];
        l.status = LayerStatus::Fail;
        l.error = "echo_timeout";
        echo_results[i] = l;
      }
    chooseEcho();
  }

  void complete() override {
    stopRiding();
    obs.observed_ms = static_cast<int64_t>(uv_now(engine->loop));
    obs.clock = std::move(clock);
  }

  void deliver() override {
    RouteObservation result = std::move(obs);
    RouteDone cb = std::move(done);
    engine->release(this);           // destroys this session
    if (cb) cb(std::move(result));   // may destroy the engine: nothing touched after
  }

  RouteProbe what;
  RouteDone done;
  RouteObservation obs;
  std::vector<std::optional<EchoLayer>> echo_results;
  std::vector<EchoRequest> echo_sent;
  std::optional<PairName> riding;  // the provider probe the trace waits for
};

// ---------------------------------------------------------------- Engine

Engine::Engine(uv_loop_t* loop, std::shared_ptr<const Config> config)
    : impl_(std::make_unique<Impl>(loop, std::move(config))) {}

Engine::~Engine() = default;

void Engine::probe(const ProviderConfig& provider, const RouteConfig& route, const KeyInspection& key,
                   ProbeDone done) {
  impl_->startOrQueue(std::make_unique<Impl::PairSession>(impl_.get(), provider, route, key, std::move(done)));
}

void Engine::observeRoute(const RouteConfig& route, RouteProbe what, RouteDone done) {
  impl_->startOrQueue(std::make_unique<Impl::RouteSession>(impl_.get(), route, std::move(what), std::move(done)));
}

void Engine::cancelAll() { impl_->cancelAll(); }

std::size_t Engine::inFlight() const { return impl_->running.size(); }
std::size_t Engine::queued() const { return impl_->queued.size(); }
uv_loop_t* Engine::loop() const { return impl_->loop; }

std::string Engine::routeBindingError(const std::string& route) const {
  auto it = impl_->binding_errors.find(route);
  return it == impl_->binding_errors.end() ? "" : it->second;
}

}  // namespace pathwatch
