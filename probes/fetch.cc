// HttpClient: one curl easy handle per fetch on the shared multi (uv_curl),
// with the evidence a diagnosis needs: which layer failed and how, the TLS
// chain as presented, the final answer's headers in order, a capped body.
#include "pathwatch/fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "loop/uv_curl.h"
#include "pathwatch/uv_handle.h"
#include "pathwatch/key.h"
#include "route_binding.h"
#include "tls_verify.h"

namespace pathwatch {

namespace {

// ---- OpenSSL glue ------------------------------------------------------------

int sslCtxIndex() {
  static int idx = -1;
  static std::once_flag once;
  std::call_once(once, [] { idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr); });
  return idx;
}

// What a TLS connection's handshake showed, kept with the connection (in its
// SSL object's ex_data, freed with it) for the requests that later ride on it
// (FetchRequest::share_connection): they make no handshake of their own.
struct ConnectionTls {
  std::vector<CertSummary> chain;
  long verify_error = 0;
  std::string tls_version;
  std::optional<bool> public_root;
  std::string public_root_reason;
  long connect_code = 0;      // a tunnel's answer to CONNECT
  HeaderList proxy_headers;   // and its headers (scrubbed when read)
  int64_t connect_us = 0, tls_us = 0;  // the handshake's timings
  uint64_t made_ns = 0;       // uv_hrtime() when it was made
};

void freeConnectionTls(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                       void* /*argp*/) noexcept {
  delete static_cast<std::shared_ptr<const ConnectionTls>*>(ptr);
}

int connectionTlsIndex() {
  static int idx = -1;
  static std::once_flag once;
  std::call_once(once, [] { idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &freeConnectionTls); });
  return idx;
}

bool validHeaderPart(std::string_view s, bool name) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
    if (name && (c == ':' || c == ' ' || c == '\t')) return false;
  }
  return !name || !s.empty();
}

}  // namespace

// ---- one transfer ---------------------------------------------------------------

struct Transfer {
  uint64_t id = 0;
  FetchRequest req;
  FetchDone done;
  uint64_t started_ns = 0;  // uv_hrtime() when handed to the client
  // Told when this transfer starts riding on a kept connection (the client
  // then watches whether the path still carries it).
  std::function<void(Transfer*)> on_ride;
  uint64_t stall_check_ns = 0;  // when to look; 0: not riding or looked already
  int conn_local_port = 0, conn_primary_port = 0;  // the connection the request went on
  bool replaced_stalled = false;  // a stalled kept connection was dropped for this one
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  curl_slist* resolve_list = nullptr;
  curl_slist* connect_to_list = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};

  std::string scheme, host;  // host without brackets
  long port = 0;
  bool https = false;
  bool via_proxy = false, http_proxy = false, tunnel = false;

  // Response headers: blocks start at a status line and end at an empty line.
  enum class Block { None, Connect, Response };
  Block block = Block::None;
  bool connect_done = false;  // the proxy said 2xx to CONNECT
  std::size_t header_bytes = 0;
  bool headers_too_large = false;
  HeaderList headers, proxy_headers;

  std::string body;
  std::size_t body_bytes = 0;
  bool body_truncated = false;

  // TLS evidence, reset for every TLS connection set up (proxy, then target).
  bool tls_started = false;  // a TLS handshake began (so any SOCKS step was done)
  bool chain_captured = false;
  PeerChain peer_chain;  // as presented; the handshake's own objects, kept
  std::vector<CertSummary> chain;
  long verify_error = 0;
  std::string tls_version;

  std::string bind_error;
  // The chain against the public roots, judged once (at the request, or at
  // the end when the handshake failed).
  std::optional<ChainCheck> public_check;
  // Riding on a kept connection: what its handshake showed (noteConnection).
  bool reused = false;
  long reused_connect_code = 0;
  int64_t reused_connect_us = 0, reused_tls_us = 0, connection_age_us = 0;

  ~Transfer() {
    if (easy) curl_easy_cleanup(easy);
    // The request's header lines and scrub list hold the key: no copy of it
    // outlives the probe in freed memory (docs/configuration.md, keys).
    for (curl_slist* h = header_list; h; h = h->next)
      if (h->data) OPENSSL_cleanse(h->data, std::strlen(h->data));
    curl_slist_free_all(header_list);
    curl_slist_free_all(resolve_list);
    curl_slist_free_all(connect_to_list);
    for (auto& [name, value] : req.headers) wipeSecret(value);
    for (auto& s : req.scrub) wipeSecret(s);
    if (!req.url.empty() && !req.scrub.empty()) wipeSecret(req.url);  // Gemini's ?key=
  }

  // ---- curl callbacks (all noexcept) ----

  static size_t onHeader(char* buf, size_t size, size_t nitems, void* userp) noexcept {
    auto* t = static_cast<Transfer*>(userp);
    const size_t n = size * nitems;
    try {
      t->header_bytes += n;
      if (t->header_bytes > t->req.header_cap) {
        t->headers_too_large = true;
        return 0;  // aborts the transfer
      }
      std::string_view line(buf, n);
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
      if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") {
        t->block = (t->tunnel && !t->connect_done) ? Block::Connect : Block::Response;
        (t->block == Block::Connect ? t->proxy_headers : t->headers).clear();
        if (t->block == Block::Connect) {
          // "HTTP/1.1 200 Connection established"
          std::size_t sp = line.find(' ');
          int code = sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
          if (code >= 200 && code < 300) t->connect_done = true;
        } else if (t->https && t->tls_version.empty()) {
          curl_tlssessioninfo* info = nullptr;
          if (curl_easy_getinfo(t->easy, CURLINFO_TLS_SSL_PTR, &info) == CURLE_OK && info &&
              info->backend == CURLSSLBACKEND_OPENSSL && info->internals) {
            t->tls_version = SSL_get_version(static_cast<SSL*>(info->internals));
          }
        }
        return n;
      }
      if (line.empty()) {
        t->block = Block::None;
        return n;
      }
      HeaderList& list = (t->block == Block::Connect) ? t->proxy_headers : t->headers;
      if ((line[0] == ' ' || line[0] == '\t') && !list.empty()) {
        list.back().second += ' ';
        list.back().second += std::string(line.substr(line.find_first_not_of(" \t")));
        return n;
      }
      std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        list.emplace_back(std::string(line), std::string());
      } else {
        std::string_view value = line.substr(colon + 1);
        std::size_t start = value.find_first_not_of(" \t");
        value = start == std::string_view::npos ? std::string_view() : value.substr(start);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        list.emplace_back(std::string(line.substr(0, colon)), std::string(value));
      }
      return n;
    } catch (...) {
      return 0;
    }
  }

  static size_t onBody(char* buf, size_t size, size_t nmemb, void* userp) noexcept {
    auto* t = static_cast<Transfer*>(userp);
    const size_t n = size * nmemb;
    try {
      t->body_bytes += n;
      const size_t room = t->req.body_cap > t->body.size() ? t->req.body_cap - t->body.size() : 0;
      if (n <= room) {
        t->body.append(buf, n);
        return n;
      }
      t->body.append(buf, room);
      t->body_truncated = true;
      return 0;  // enough: stop reading (reported as an answer, not a failure)
    } catch (...) {
      return 0;
    }
  }

  static int onSockopt(void* userp, curl_socket_t fd, curlsocktype purpose) noexcept {
    auto* t = static_cast<Transfer*>(userp);
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKOPT_OK;
    // A new connection (the first, or libcurl's retry after a kept one died):
    // nothing learnt from an earlier connection speaks for it.
    t->forgetConnection();
    if (t->req.tcp_maxseg > 0) {
      // Before connect, so the SYN announces it: the server's certificate
      // then arrives in segments small enough for a path with a lower MTU.
      const int mss = t->req.tcp_maxseg;
      if (setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss) != 0) {
        t->bind_error = "tcp_maxseg_refused";
        return CURL_SOCKOPT_ERROR;
      }
    }
    if (!t->req.route) return CURL_SOCKOPT_OK;
    const RouteConfig& route = *t->req.route;
    if (route.kind != RouteKind::Interface && route.kind != RouteKind::SourceIp) return CURL_SOCKOPT_OK;
    try {
      int family = AF_UNSPEC;
      socklen_t len = sizeof family;
      if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0) family = AF_UNSPEC;
      std::string err = applyRouteBinding(fd, family, route);
      if (err.empty()) return CURL_SOCKOPT_OK;
      t->bind_error = std::move(err);
    } catch (...) {
      t->bind_error = "bind_failed";
    }
    return CURL_SOCKOPT_ERROR;  // never fall back to the default path
  }

  void forgetConnection() {
    tls_started = false;
    reused = false;
    reused_connect_code = 0;
    reused_connect_us = reused_tls_us = connection_age_us = 0;
    stall_check_ns = 0;
    conn_local_port = conn_primary_port = 0;
    connect_done = false;
    proxy_headers.clear();
    forgetTls();
  }

  void forgetTls() {
    chain_captured = false;
    peer_chain = PeerChain{};
    chain.clear();
    verify_error = 0;
    tls_version.clear();
    public_check.reset();
  }

  static CURLcode onSslCtx(CURL* /*easy*/, void* ssl_ctx, void* userp) noexcept {
    auto* t = static_cast<Transfer*>(userp);
    t->tls_started = true;
    // A new TLS connection (the proxy's, then the target's): the last one wins.
    t->forgetTls();
    auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
    // The proxy's TLS and the target's verify against the same CA file.
    if (t->req.ca_store) SSL_CTX_set1_cert_store(ctx, t->req.ca_store->store());
    SSL_CTX_set_ex_data(ctx, sslCtxIndex(), t);
    // A probe never renegotiates: the verify callback below (which finds this
    // transfer through the context) runs during this transfer's handshake only,
    // never on a kept connection after the transfer is gone.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    // Keep curl's mode (peer verification on): only watch what happens.
    SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), &Transfer::onVerify);
    return CURLE_OK;
  }

  static int onVerify(int preverify_ok, X509_STORE_CTX* store) noexcept {
    auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    if (!ssl) return preverify_ok;
    auto* t = static_cast<Transfer*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sslCtxIndex()));
    if (!t) return preverify_ok;
    try {
      if (!t->chain_captured) {
        t->chain_captured = true;
        t->tls_version = SSL_get_version(ssl);
        // The chain as the peer sent it, leaf first.
        STACK_OF(X509)* sent = X509_STORE_CTX_get0_untrusted(store);
        if (sent && sk_X509_num(sent) > 0) {
          for (int i = 0; i < sk_X509_num(sent) && i < 16; ++i) t->keepCert(sk_X509_value(sent, i));
        } else if (X509* leaf = X509_STORE_CTX_get0_cert(store)) {
          t->keepCert(leaf);
        }
      }
      if (!preverify_ok && t->verify_error == 0) t->verify_error = X509_STORE_CTX_get_error(store);
    } catch (...) {
    }
    return preverify_ok;  // curl decides; we only record
  }

  // The connection is ready and the request about to go (new or kept).
  static int onPrereq(void* userp, char* /*primary_ip*/, char* /*local_ip*/, int primary_port,
                      int local_port) noexcept {
    auto* t = static_cast<Transfer*>(userp);
    try {
      t->conn_local_port = local_port;
      t->conn_primary_port = primary_port;
      if (t->https) {
        curl_tlssessioninfo* info = nullptr;
        if (curl_easy_getinfo(t->easy, CURLINFO_TLS_SSL_PTR, &info) == CURLE_OK && info &&
            info->backend == CURLSSLBACKEND_OPENSSL && info->internals)
          t->noteConnection(static_cast<SSL*>(info->internals));
      }
    } catch (...) {
    }
    return CURL_PREREQFUNC_OK;
  }

  // A handshake of this transfer's: its evidence goes with the connection for
  // whoever rides on it later. No handshake (a kept connection): the evidence
  // is the one that came with it.
  void noteConnection(SSL* ssl) {
    SSL_CTX_set_ex_data(SSL_get_SSL_CTX(ssl), sslCtxIndex(), nullptr);  // the handshake is over
    if (tls_started) {
      reused = false;  // libcurl may retry on a new connection when a kept one died
      if (!chain_captured || (!req.share_connection && !req.keep_connection)) return;
      judgePublicRoots();
      auto c = std::make_shared<ConnectionTls>();
      c->chain = chain;
      c->verify_error = verify_error;
      c->tls_version = tls_version.empty() ? SSL_get_version(ssl) : tls_version;
      if (public_check) {
        c->public_root = public_check->ok;
        c->public_root_reason = public_check->reason;
      }
      if (tunnel) {
        curl_easy_getinfo(easy, CURLINFO_HTTP_CONNECTCODE, &c->connect_code);
        c->proxy_headers = proxy_headers;
      }
      curl_off_t lookup = 0, connect = 0, appconnect = 0;
      curl_easy_getinfo(easy, CURLINFO_NAMELOOKUP_TIME_T, &lookup);
      curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect);
      curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &appconnect);
      c->connect_us = connect > lookup ? connect - lookup : 0;
      c->tls_us = appconnect > connect ? appconnect - connect : 0;
      c->made_ns = uv_hrtime();
      auto* held = new std::shared_ptr<const ConnectionTls>(std::move(c));
      delete static_cast<std::shared_ptr<const ConnectionTls>*>(SSL_get_ex_data(ssl, connectionTlsIndex()));
      if (SSL_set_ex_data(ssl, connectionTlsIndex(), held) != 1) delete held;
      return;
    }
    const auto* held = static_cast<std::shared_ptr<const ConnectionTls>*>(SSL_get_ex_data(ssl, connectionTlsIndex()));
    if (!held || !*held) return;
    const ConnectionTls& c = **held;
    reused = true;
    chain_captured = true;
    chain = c.chain;
    verify_error = c.verify_error;
    tls_version = c.tls_version;
    if (c.public_root) public_check = ChainCheck{*c.public_root, 0, c.public_root_reason};
    if (tunnel) {
      connect_done = true;
      reused_connect_code = c.connect_code;
      proxy_headers = c.proxy_headers;
    }
    reused_connect_us = c.connect_us;
    reused_tls_us = c.tls_us;
    connection_age_us = static_cast<int64_t>((uv_hrtime() - c.made_ns) / 1000);
    // A path that started dropping packets since the connection was made
    // would leave this request unacknowledged until the deadline, an HTTP
    // timeout where a new connection would show the TCP one. Look after a few
    // round trips (the connect time is one): 0.5-2 s, at most a third of the budget.
    const int64_t patience_ms = std::min<int64_t>(
        std::clamp<int64_t>(4 * c.connect_us / 1000, 500, 2000),
        std::max<int64_t>(1, static_cast<int64_t>(req.timeout.count()) / 3));
    stall_check_ns = uv_hrtime() + static_cast<uint64_t>(patience_ms) * 1000000u;
    if (on_ride) on_ride(this);
  }

  // Riding on a kept connection, nothing answered yet, and the request still
  // not acknowledged by the peer: the path has dropped this connection.
  // `sockets`: those libcurl watches; the connection's is found by its ports
  // (libcurl names no socket of a transfer in flight).
  bool stalled(const std::vector<int>& sockets) const {
    if (header_bytes > 0 || conn_local_port <= 0) return false;
    for (int fd : sockets) {
      if (portOf(fd, false) != conn_local_port || portOf(fd, true) != conn_primary_port) continue;
      int unacked = 0;
      return ioctl(fd, SIOCOUTQ, &unacked) == 0 && unacked > 0;
    }
    return false;
  }

  static int portOf(int fd, bool peer) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    auto* sa = reinterpret_cast<sockaddr*>(&ss);
    if ((peer ? getpeername(fd, sa, &len) : getsockname(fd, sa, &len)) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return -1;
  }

  void judgePublicRoots() {
    if (!public_check && chain_captured && req.public_roots && !peer_chain.der.empty())
      public_check = req.public_roots->verifyPeer(peer_chain, host);
  }

  void keepCert(X509* c) {
    peer_chain.der.push_back(derOf(c));
    peer_chain.certs.emplace_back(X509_up_ref(c) == 1 ? c : nullptr);
    chain.push_back(summarizeCert(c));
  }

  // Returns "" or the reason the request cannot be sent.
  std::string setup();
  FetchResult finish(CURLcode rc);
};

std::string Transfer::setup() {
  // The URL: only http and https, and we need host and port for the pin.
  CURLU* u = curl_url();
  if (!u) return "out_of_memory";
  std::string bad;
  if (curl_url_set(u, CURLUPART_URL, req.url.c_str(), 0) != CURLUE_OK) {
    bad = "invalid_url";
  } else {
    char *s = nullptr, *h = nullptr, *p = nullptr;
    curl_url_get(u, CURLUPART_SCHEME, &s, 0);
    curl_url_get(u, CURLUPART_HOST, &h, 0);
    curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT);
    scheme = s ? s : "";
    host = h ? h : "";
    port = p ? std::atol(p) : 0;
    curl_free(s);
    curl_free(h);
    curl_free(p);
    if (scheme != "http" && scheme != "https") bad = "unsupported_scheme";
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  }
  curl_url_cleanup(u);
  if (!bad.empty()) return bad;
  https = scheme == "https";

  for (const auto& [name, value] : req.headers) {
    if (!validHeaderPart(name, true) || !validHeaderPart(value, false)) return "invalid_header";
  }
  if (req.method.empty() || !validHeaderPart(req.method, true)) return "invalid_method";

  easy = curl_easy_init();
  if (!easy) return "out_of_memory";
  auto set = [this](CURLoption opt, auto value) { return curl_easy_setopt(easy, opt, value); };

  set(CURLOPT_URL, req.url.c_str());
  set(CURLOPT_PRIVATE, this);
  set(CURLOPT_ERRORBUFFER, errbuf);
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_FOLLOWLOCATION, 0L);  // a 3xx is an answer
  // Real timings, real handshakes: a new connection per fetch, closed after,
  // but for the trace riding on its provider's connection and the requests
  // that share one (fetch.h).
  const bool share = req.share_connection && https && !req.connect_only;
  set(CURLOPT_FRESH_CONNECT, share || req.reuse_connection ? 0L : 1L);
  set(CURLOPT_FORBID_REUSE, share || req.keep_connection ? 0L : 1L);
  if (share) {
    // Never a connection older than the lifetime: each one is a handshake
    // proven within it (the engine's probe interval). libcurl compares whole
    // seconds of age with '>', so N - 1 keeps every taken one under N.
    const long lifetime = std::max<long>(1, static_cast<long>(req.connection_lifetime.count()) - 1);
    set(CURLOPT_MAXLIFETIME_CONN, lifetime);
    // Idle at most 10 s: NATs and firewalls forget idle connections silently
    // (tens of seconds on some), and a request on a forgotten one only times out.
    set(CURLOPT_MAXAGE_CONN, std::min(lifetime, 10L));
  } else {
    // libcurl prunes its idle connections by the idle limit of whichever
    // request looks (every request, at most once a second): the same limit
    // here as on the shared ones, or a handshake check would close them.
    set(CURLOPT_MAXAGE_CONN, 10L);
  }
  set(CURLOPT_SSL_SESSIONID_CACHE, 0L);  // a resumed session skips verification callbacks
  set(CURLOPT_HTTP_VERSION, req.allow_http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
  if (req.connect_only) set(CURLOPT_CONNECT_ONLY, 1L);
  const long timeout_ms = std::max<long>(1, static_cast<long>(req.timeout.count()));
  long connect_ms = req.connect_timeout.count() > 0 ? static_cast<long>(req.connect_timeout.count()) : timeout_ms;
  set(CURLOPT_TIMEOUT_MS, timeout_ms);
  set(CURLOPT_CONNECTTIMEOUT_MS, std::min(connect_ms, timeout_ms));

  set(CURLOPT_HEADERFUNCTION, &Transfer::onHeader);
  set(CURLOPT_HEADERDATA, this);
  set(CURLOPT_WRITEFUNCTION, &Transfer::onBody);
  set(CURLOPT_WRITEDATA, this);
  set(CURLOPT_SOCKOPTFUNCTION, &Transfer::onSockopt);
  set(CURLOPT_SOCKOPTDATA, this);
  set(CURLOPT_PREREQFUNCTION, &Transfer::onPrereq);
  set(CURLOPT_PREREQDATA, this);

  // TLS: curl verifies against the route's CA file (and nothing else); we watch.
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  set(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
  set(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
  if (req.ca_store) {
    // The engine's parsed CA file, put in each TLS context (onSslCtx); libcurl
    // loads nothing itself (an empty store it caches, then replaced).
    set(CURLOPT_CAINFO, static_cast<const char*>(nullptr));
    set(CURLOPT_CAPATH, static_cast<const char*>(nullptr));
    set(CURLOPT_PROXY_CAINFO, static_cast<const char*>(nullptr));
    set(CURLOPT_PROXY_CAPATH, static_cast<const char*>(nullptr));
  } else if (!req.ca_file.empty()) {
    set(CURLOPT_CAINFO, req.ca_file.c_str());
    set(CURLOPT_CAPATH, static_cast<const char*>(nullptr));  // no silent extra trust
    set(CURLOPT_PROXY_CAINFO, req.ca_file.c_str());
    set(CURLOPT_PROXY_CAPATH, static_cast<const char*>(nullptr));
    // Without the engine's parsed store: parsed once per HttpClient (libcurl
    // keeps the store per multi handle), and the client lives as long as its
    // config: read at start and on reload only (docs/configuration.md).
    set(CURLOPT_CA_CACHE_TIMEOUT, -1L);
  }
  set(CURLOPT_SSL_CTX_FUNCTION, &Transfer::onSslCtx);
  set(CURLOPT_SSL_CTX_DATA, this);

  // The pinned address: curl never resolves the target itself.
  auto pinEntry = [](const std::string& name, long p, const std::string& addr) -> std::string {
    unsigned char buf[16];
    if (inet_pton(AF_INET, addr.c_str(), buf) == 1) return name + ":" + std::to_string(p) + ":" + addr;
    if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) return name + ":" + std::to_string(p) + ":[" + addr + "]";
    return {};
  };
  // The route's proxy, or explicitly none (never the environment's).
  const RouteConfig* route = req.route;
  const bool proxied = route && route->kind == RouteKind::Proxy && !route->proxy.empty();
  if (req.pin_address && !isIpLiteral(host)) {
    std::string e = pinEntry(host, port, *req.pin_address);
    if (e.empty()) return "invalid_pin_address";
    if (!proxied || !route->proxyResolvesRemotely()) {
      // Connect to the address, still speaking to the name (SNI, Host,
      // certificate). libcurl matches a kept connection by this address too,
      // so a request never rides on a connection to another address of the
      // name (it would ignore a CURLOPT_RESOLVE entry there).
      e += ":" + std::to_string(port);
      connect_to_list = curl_slist_append(connect_to_list, e.c_str());
    } else {
      // A proxy that resolves the name itself is handed the name.
      resolve_list = curl_slist_append(resolve_list, e.c_str());
    }
  }

  if (proxied) {
    via_proxy = true;
    http_proxy = route->proxy_scheme == ProxyScheme::Http || route->proxy_scheme == ProxyScheme::Https;
    tunnel = http_proxy && https;
    set(CURLOPT_PROXY, route->proxy.c_str());
    set(CURLOPT_NOPROXY, "");  // NO_PROXY in the environment must not bypass the route
    if (tunnel) set(CURLOPT_HTTPPROXYTUNNEL, 1L);
    if (req.proxy_pin_address && !route->proxy_host.empty() && !isIpLiteral(route->proxy_host)) {
      std::string e = pinEntry(route->proxy_host, route->proxy_port, *req.proxy_pin_address);
      if (e.empty()) return "invalid_pin_address";
      resolve_list = curl_slist_append(resolve_list, e.c_str());
    }
  } else {
    set(CURLOPT_PROXY, "");
  }
  if (resolve_list) set(CURLOPT_RESOLVE, resolve_list);
  if (connect_to_list) set(CURLOPT_CONNECT_TO, connect_to_list);

  // Method and body.
  if (req.method == "HEAD") {
    set(CURLOPT_NOBODY, 1L);
  } else if (req.method == "GET" && req.body.empty()) {
    set(CURLOPT_HTTPGET, 1L);
  } else {
    if (!req.body.empty() || req.method == "POST") {
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      set(CURLOPT_COPYPOSTFIELDS, req.body.c_str());
    }
    if (req.method != "POST") set(CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  // Headers exactly as given; no "Expect: 100-continue" unless asked for.
  bool has_expect = false;
  for (const auto& [name, value] : req.headers) {
    if (strcasecmp(name.c_str(), "expect") == 0) has_expect = true;
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    header_list = curl_slist_append(header_list, line.c_str());
  }
  if (!has_expect) header_list = curl_slist_append(header_list, "Expect:");
  set(CURLOPT_HTTPHEADER, header_list);
  return {};
}

FetchResult Transfer::finish(CURLcode rc) {
  TransferFacts f;
  f.method = req.method;
  f.url = req.url;
  f.host = host;
  f.https = https;
  f.via_proxy = via_proxy;
  f.http_proxy = http_proxy;
  f.https_proxy = via_proxy && req.route && req.route->proxy_scheme == ProxyScheme::Https;
  f.tunnel = tunnel;
  f.connect_only = req.connect_only;
  f.route = req.route ? req.route->name : std::string();
  f.header_cap = req.header_cap;
  f.scrub = req.scrub;

  f.curl_code = static_cast<int>(rc);
  f.curl_message = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
  auto info_long = [this](CURLINFO what) {
    long v = 0;
    curl_easy_getinfo(easy, what, &v);
    return v;
  };
  auto info_off = [this](CURLINFO what) {
    curl_off_t v = 0;
    curl_easy_getinfo(easy, what, &v);
    return static_cast<int64_t>(v);
  };
  auto info_str = [this](CURLINFO what) {
    char* v = nullptr;
    curl_easy_getinfo(easy, what, &v);
    return std::string(v ? v : "");
  };
  f.namelookup_us = info_off(CURLINFO_NAMELOOKUP_TIME_T);
  f.connect_us = info_off(CURLINFO_CONNECT_TIME_T);
  f.appconnect_us = info_off(CURLINFO_APPCONNECT_TIME_T);
  f.pretransfer_us = info_off(CURLINFO_PRETRANSFER_TIME_T);
  f.starttransfer_us = info_off(CURLINFO_STARTTRANSFER_TIME_T);
  f.total_us = info_off(CURLINFO_TOTAL_TIME_T);
  f.response_code = info_long(CURLINFO_RESPONSE_CODE);
  f.connect_code = info_long(CURLINFO_HTTP_CONNECTCODE);
  f.os_errno = info_long(CURLINFO_OS_ERRNO);
  f.ssl_verify_result = info_long(CURLINFO_SSL_VERIFYRESULT);
  f.proxy_error = rc == CURLE_PROXY ? info_long(CURLINFO_PROXY_ERROR) : 0;
  f.primary_ip = info_str(CURLINFO_PRIMARY_IP);
  f.primary_port = info_long(CURLINFO_PRIMARY_PORT);
  f.local_ip = info_str(CURLINFO_LOCAL_IP);

  f.headers_too_large = headers_too_large;
  f.body_truncated = body_truncated;
  f.connect_done = connect_done;
  f.tls_started = tls_started;
  f.chain_captured = chain_captured;
  f.verify_error = verify_error;
  f.tls_version = tls_version;
  for (const CertSummary& c : chain) f.chain_subjects.push_back(c.subject);
  if (!chain.empty()) {
    f.leaf_issuer = chain.front().issuer;
    f.leaf_not_after = chain.front().not_after;
  }
  // In-memory verification against the public roots parsed once per config.
  judgePublicRoots();
  if (chain_captured && public_check) {
    f.public_root = public_check->ok;
    f.public_root_reason = public_check->reason;
  }
  f.replaced_stalled = replaced_stalled;
  if (reused) {
    f.reused_connection = true;
    f.reused_connect_us = reused_connect_us;
    f.reused_tls_us = reused_tls_us;
    f.connection_age_us = connection_age_us;
    if (tunnel && f.connect_code == 0) f.connect_code = reused_connect_code;
  }
  f.bind_error = bind_error;
  f.headers = std::move(headers);
  f.proxy_headers = std::move(proxy_headers);
  f.body = std::move(body);
  f.body_bytes = body_bytes;
  return transferOutcome(std::move(f));
}

// ---- HttpClient -----------------------------------------------------------------

// A request that could not be handed to libcurl.
static FetchResult notSent(const FetchRequest& req, const std::string& why) {
  FetchResult r;
  r.failed_at = FailedAt::Http;
  r.error = why;
  r.detail = "request not sent: " + why;
  r.http.status = LayerStatus::Fail;
  r.http.error = why;
  r.http.method = req.method;
  r.http.url = scrubbed(req.url, req.scrub);
  return r;
}

struct HttpClientCore {
  struct Ready {
    uint64_t id = 0;
    FetchDone done;
    FetchResult result;
  };

  uv_loop_t* loop;
  std::unique_ptr<UvCurlMulti> multi;
  std::unordered_map<uint64_t, std::unique_ptr<Transfer>> active;
  std::list<Ready> ready;
  UvHandle<uv_idle_t> idle;  // delivers results on a later loop turn
  UvTimer stall_timer;       // looks at transfers riding on kept connections
  uint64_t next_id = 1;

  explicit HttpClientCore(uv_loop_t* l) : loop(l) {
    multi = std::make_unique<UvCurlMulti>(loop, [this](CURL* easy, CURLcode rc) { completed(easy, rc); });
    // Room for the kept connections of every host a route probes (libcurl's
    // default is 4 per transfer in flight: with one or two in flight, most
    // hosts' connections were closed before their next probe came). Idle ones
    // go after 10 s anyway (fetch.h share_connection).
    curl_multi_setopt(multi->multi(), CURLMOPT_MAXCONNECTS, 16L);
    idle.init([l](uv_idle_t* h) { return uv_idle_init(l, h); }, this);
    stall_timer.init([l](uv_timer_t* h) { return uv_timer_init(l, h); }, this);
  }

  // Called from inside libcurl (the transfer's prerequest callback): only
  // the timer is touched here; the look itself runs on a later loop turn.
  void watch(Transfer* t) { armStallTimer(t->stall_check_ns); }

  void armStallTimer(uint64_t due_ns) {
    if (!stall_timer || due_ns == 0) return;
    const uint64_t now = uv_hrtime();
    const uint64_t wait_ms = due_ns > now ? (due_ns - now + 999999) / 1000000 : 0;
    // The earliest due check wins: restart only when this one is sooner.
    const uint64_t left = uv_is_active(reinterpret_cast<uv_handle_t*>(stall_timer.get()))
                              ? uv_timer_get_due_in(stall_timer.get())
                              : UINT64_MAX;
    if (wait_ms < left) uv_timer_start(stall_timer.get(), &HttpClientCore::onStallTimer, wait_ms, 0);
  }

  static void onStallTimer(uv_timer_t* h) noexcept {
    auto* self = static_cast<HttpClientCore*>(h->data);
    if (!self) return;
    try {
      self->lookForStalls();
    } catch (...) {
    }
  }

  void lookForStalls() {
    const uint64_t now = uv_hrtime();
    const std::vector<int> sockets = multi->sockets();
    std::vector<uint64_t> stalled;
    uint64_t next_due = 0;
    for (auto& [id, t] : active) {
      if (t->stall_check_ns == 0) continue;
      if (t->stall_check_ns > now) {
        next_due = next_due == 0 ? t->stall_check_ns : std::min(next_due, t->stall_check_ns);
        continue;
      }
      t->stall_check_ns = 0;
      if (t->stalled(sockets)) stalled.push_back(id);
    }
    for (uint64_t id : stalled) replaceStalled(id);
    armStallTimer(next_due);
  }

  // The same request again on a new connection, in what is left of its
  // timeout; the stalled one is dropped (libcurl closes an unfinished
  // transfer's connection) and never answers.
  void replaceStalled(uint64_t id) {
    auto it = active.find(id);
    if (it == active.end()) return;
    Transfer& old = *it->second;
    auto t = std::make_unique<Transfer>();
    t->id = id;
    t->req = old.req;
    t->req.share_connection = t->req.reuse_connection = t->req.keep_connection = false;
    const auto spent = std::chrono::milliseconds(static_cast<int64_t>((uv_hrtime() - old.started_ns) / 1000000));
    t->req.timeout = std::max<Millis>(t->req.timeout - spent, std::chrono::milliseconds(1));
    if (t->req.connect_timeout.count() > 0) t->req.connect_timeout = std::min(t->req.connect_timeout, t->req.timeout);
    t->started_ns = old.started_ns;
    t->done = std::move(old.done);
    t->replaced_stalled = true;
    multi->remove(old.easy);
    std::string bad;
    try {
      bad = t->setup();
    } catch (...) {
      bad = "internal_error";
    }
    if (bad.empty() && !multi->add(t->easy)) bad = "internal_error";
    if (!bad.empty()) {
      FetchDone done = std::move(t->done);
      active.erase(it);
      enqueue(id, std::move(done), notSent(t->req, bad));
      return;
    }
    it->second = std::move(t);  // the stalled transfer goes: its curl handle is cleaned up
  }

  ~HttpClientCore() {
    for (auto& [id, t] : active) multi->remove(t->easy);
    active.clear();  // curl_easy_cleanup after removal
    multi.reset();   // curl_multi_cleanup, then the uv handles close
    ready.clear();
  }

  void enqueue(uint64_t id, FetchDone done, FetchResult result) {
    ready.push_back(Ready{id, std::move(done), std::move(result)});
    if (idle) uv_idle_start(idle.get(), &HttpClientCore::onIdle);
  }

  void completed(CURL* easy, CURLcode rc) {
    Transfer* t = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    if (!t) return;
    auto it = active.find(t->id);
    if (it == active.end()) return;
    FetchResult result;
    try {
      result = t->finish(rc);
    } catch (...) {
      result = FetchResult{};
      result.failed_at = FailedAt::Http;
      result.error = "internal_error";
    }
    FetchDone done = std::move(t->done);
    uint64_t id = t->id;
    active.erase(it);
    enqueue(id, std::move(done), std::move(result));
  }

  void cancel(uint64_t id) {
    if (auto it = active.find(id); it != active.end()) {
      multi->remove(it->second->easy);
      active.erase(it);
      return;
    }
    ready.remove_if([id](const Ready& r) { return r.id == id; });
  }

  // One completion per loop turn, handed over as the very last step: the
  // handler may destroy this client, so nothing is touched afterwards.
  static void onIdle(uv_idle_t* h) noexcept {
    auto* self = static_cast<HttpClientCore*>(h->data);
    if (!self) return;
    if (self->ready.empty()) {
      uv_idle_stop(h);
      return;
    }
    Ready r = std::move(self->ready.front());
    self->ready.pop_front();
    if (self->ready.empty()) uv_idle_stop(h);
    try {
      if (r.done) r.done(std::move(r.result));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "<3>fetch: a completion handler threw: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "<3>fetch: a completion handler threw\n");
    }
  }
};

FetchHandle::FetchHandle(std::weak_ptr<HttpClientCore> client, uint64_t id)
    : client_(std::move(client)), id_(id) {}

FetchHandle::FetchHandle(FetchHandle&& o) noexcept
    : client_(std::move(o.client_)), id_(std::exchange(o.id_, 0)) {}

FetchHandle& FetchHandle::operator=(FetchHandle&& o) noexcept {
  if (this != &o) {
    reset();
    client_ = std::move(o.client_);
    id_ = std::exchange(o.id_, 0);
  }
  return *this;
}

FetchHandle::~FetchHandle() { reset(); }

void FetchHandle::reset() {
  const uint64_t id = std::exchange(id_, 0);
  if (id == 0) return;
  if (auto c = client_.lock()) c->cancel(id);
  client_.reset();
}

HttpClient::HttpClient(uv_loop_t* loop) : core_(std::make_shared<HttpClientCore>(loop)) {}

HttpClient::~HttpClient() = default;

FetchHandle HttpClient::fetch(FetchRequest req, FetchDone done) {
  HttpClientCore& im = *core_;
  const uint64_t id = im.next_id++;
  auto t = std::make_unique<Transfer>();
  t->id = id;
  t->req = std::move(req);
  t->done = std::move(done);
  t->started_ns = uv_hrtime();
  t->on_ride = [&im](Transfer* x) { im.watch(x); };
  std::string bad;
  try {
    bad = t->setup();
  } catch (...) {
    bad = "internal_error";
  }
  if (bad.empty() && !im.multi->add(t->easy)) bad = "internal_error";
  if (!bad.empty()) {
    im.enqueue(id, std::move(t->done), notSent(t->req, bad));
    return FetchHandle(core_, id);
  }
  im.active.emplace(id, std::move(t));
  return FetchHandle(core_, id);
}

void HttpClient::cancelAll() {
  HttpClientCore& im = *core_;
  for (auto& [id, t] : im.active) im.multi->remove(t->easy);
  im.active.clear();
  im.ready.clear();
}

std::size_t HttpClient::inFlight() const { return core_->active.size() + core_->ready.size(); }

}  // namespace pathwatch
