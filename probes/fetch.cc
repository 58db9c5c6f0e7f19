// HttpClient: one curl easy handle per fetch on the shared multi (uv_curl),
// with the evidence a diagnosis needs: which layer failed and how, the TLS
// chain as presented, the final answer's headers in order, a capped body.
#include "fetch.h"

#include <arpa/inet.h>
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
#include "pathwatch/key.h"
#include "route_binding.h"
#include "tls_verify.h"

namespace pathwatch {

namespace {

// ---- scrubbing ------------------------------------------------------------

// A secret's fingerprint (key.h); short secrets are not shown at all.
std::string scrubMark(std::string_view secret) {
  std::string mark = fingerprint(secret);
  return mark.empty() ? "[redacted]" : mark;
}

void scrubText(std::string& text, const std::vector<std::string>& secrets, bool cut_tail) {
  for (const std::string& s : secrets) {
    if (s.empty()) continue;
    const std::string mark = scrubMark(s);
    std::size_t pos = 0;
    while ((pos = text.find(s, pos)) != std::string::npos) {
      text.replace(pos, s.size(), mark);
      pos += mark.size();
    }
    // A capped body may end inside a secret: more than a fingerprint's
    // worth of its beginning is cut off.
    if (cut_tail && s.size() > 8) {
      for (std::size_t n = std::min(s.size() - 1, text.size()); n > 7; --n) {
        if (text.compare(text.size() - n, n, s, 0, n) == 0) {
          text.replace(text.size() - n, n, mark);
          break;
        }
      }
    }
  }
}

// ---- OpenSSL glue ------------------------------------------------------------

int sslCtxIndex() {
  static int idx = -1;
  static std::once_flag once;
  std::call_once(once, [] { idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr); });
  return idx;
}

bool validHeaderPart(std::string_view s, bool name) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
    if (name && (c == ':' || c == ' ' || c == '\t')) return false;
  }
  return !name || !s.empty();
}

std::string errnoName(long e) {
  switch (e) {
    case ECONNREFUSED: return "connection_refused";
    case ECONNRESET: return "connection_reset";
    case ETIMEDOUT: return "timeout";
    case EHOSTUNREACH: return "host_unreachable";
    case ENETUNREACH: return "network_unreachable";
    case EACCES:
    case EPERM: return "connect_forbidden";
    case EADDRNOTAVAIL: return "address_not_available";
    default: return "connect_failed";
  }
}

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

bool isSslError(CURLcode rc) {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return true;
    default:
      return false;
  }
}

// The chain's own verification error: what our verify callback saw, else
// curl's verify result unless it is curl's "1" for a name mismatch.
long chainError(long from_callback, long curl_verify_result) {
  if (from_callback != X509_V_OK) return from_callback;
  return curl_verify_result > X509_V_ERR_UNSPECIFIED ? curl_verify_result : X509_V_OK;
}

double usToMs(curl_off_t us) { return static_cast<double>(us) / 1000.0; }

}  // namespace

// ---- one transfer ---------------------------------------------------------------

struct Transfer {
  uint64_t id = 0;
  FetchRequest req;
  FetchDone done;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  curl_slist* resolve_list = nullptr;
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
  DerChain chain_der;
  std::vector<CertSummary> chain;
  long verify_error = 0;
  std::string tls_version;

  std::string bind_error;

  ~Transfer() {
    if (easy) curl_easy_cleanup(easy);
    curl_slist_free_all(header_list);
    curl_slist_free_all(resolve_list);
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
    if (purpose != CURLSOCKTYPE_IPCXN || !t->req.route) return CURL_SOCKOPT_OK;
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

  static CURLcode onSslCtx(CURL* /*easy*/, void* ssl_ctx, void* userp) noexcept {
    auto* t = static_cast<Transfer*>(userp);
    t->tls_started = true;
    // A new TLS connection (the proxy's, then the target's): the last one wins.
    t->chain_captured = false;
    t->chain_der.clear();
    t->chain.clear();
    t->verify_error = 0;
    t->tls_version.clear();
    auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
    SSL_CTX_set_ex_data(ctx, sslCtxIndex(), t);
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
          for (int i = 0; i < sk_X509_num(sent) && i < 16; ++i) {
            X509* c = sk_X509_value(sent, i);
            t->chain_der.push_back(derOf(c));
            t->chain.push_back(summarizeCert(c));
          }
        } else if (X509* leaf = X509_STORE_CTX_get0_cert(store)) {
          t->chain_der.push_back(derOf(leaf));
          t->chain.push_back(summarizeCert(leaf));
        }
      }
      if (!preverify_ok && t->verify_error == 0) t->verify_error = X509_STORE_CTX_get_error(store);
    } catch (...) {
    }
    return preverify_ok;  // curl decides; we only record
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
  set(CURLOPT_FRESH_CONNECT, 1L);   // real timings, real handshakes
  set(CURLOPT_FORBID_REUSE, 1L);
  set(CURLOPT_SSL_SESSIONID_CACHE, 0L);  // a resumed session skips verification callbacks
  set(CURLOPT_HTTP_VERSION, req.allow_http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
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

  // TLS: curl verifies against the route's CA file (and nothing else); we watch.
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  set(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
  set(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
  if (!req.ca_file.empty()) {
    set(CURLOPT_CAINFO, req.ca_file.c_str());
    set(CURLOPT_CAPATH, static_cast<const char*>(nullptr));  // no silent extra trust
    set(CURLOPT_PROXY_CAINFO, req.ca_file.c_str());
    set(CURLOPT_PROXY_CAPATH, static_cast<const char*>(nullptr));
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
  if (req.pin_address && !isIpLiteral(host)) {
    std::string e = pinEntry(host, port, *req.pin_address);
    if (e.empty()) return "invalid_pin_address";
    resolve_list = curl_slist_append(resolve_list, e.c_str());
  }

  // The route's proxy, or explicitly none (never the environment's).
  const RouteConfig* route = req.route;
  if (route && route->kind == RouteKind::Proxy && !route->proxy.empty()) {
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
  FetchResult r;
  auto info_long = [this](CURLINFO what) {
    long v = 0;
    curl_easy_getinfo(easy, what, &v);
    return v;
  };
  auto info_off = [this](CURLINFO what) {
    curl_off_t v = 0;
    curl_easy_getinfo(easy, what, &v);
    return v;
  };
  const curl_off_t namelookup = info_off(CURLINFO_NAMELOOKUP_TIME_T);
  const curl_off_t connect = info_off(CURLINFO_CONNECT_TIME_T);
  const curl_off_t appconnect = info_off(CURLINFO_APPCONNECT_TIME_T);
  const curl_off_t pretransfer = info_off(CURLINFO_PRETRANSFER_TIME_T);
  const curl_off_t starttransfer = info_off(CURLINFO_STARTTRANSFER_TIME_T);
  const curl_off_t total = info_off(CURLINFO_TOTAL_TIME_T);
  const long code = info_long(CURLINFO_RESPONSE_CODE);
  const long proxy_code = info_long(CURLINFO_HTTP_CONNECTCODE);
  const long os_errno = info_long(CURLINFO_OS_ERRNO);
  const long verify_result = info_long(CURLINFO_SSL_VERIFYRESULT);
  char* ip = nullptr;
  curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip);
  const long primary_port = info_long(CURLINFO_PRIMARY_PORT);
  if (ip && *ip) {
    std::string a(ip);
    r.connected_address = (a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" + std::to_string(primary_port);
  }
  if (connect > 0) r.connect_ms = usToMs(connect - namelookup);
  // curl sets the primary address once the TCP connect (to the target or the
  // proxy) succeeded; its connect time only when the proxy step finished too.
  const bool tcp_connected = connect > 0 || !r.connected_address.empty();

  std::string detail = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();

  auto fail = [&](FailedAt at, std::string error, std::string why = {}) {
    r.failed_at = at;
    r.error = std::move(error);
    r.detail = why.empty() ? detail : why + ": " + detail;
  };

  const bool answered = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && body_truncated && !headers_too_large);
  if (answered) {
    // ok
  } else if (headers_too_large) {
    fail(FailedAt::Http, "headers_too_large", "response headers exceed " + std::to_string(req.header_cap) + " bytes");
  } else if (!bind_error.empty()) {
    fail(FailedAt::Tcp, bind_error, "route " + (req.route ? req.route->name : std::string()) + " binding refused");
  } else if (http_proxy && proxy_code != 0 && (proxy_code < 200 || proxy_code >= 300)) {
    fail(FailedAt::Proxy, proxy_code == 407 ? "proxy_auth_required" : "proxy_refused",
         "the proxy answered CONNECT with " + std::to_string(proxy_code));
  } else if (rc == CURLE_PROXY) {
    long px = info_long(CURLINFO_PROXY_ERROR);
    switch (px) {
      case CURLPX_REPLY_CONNECTION_REFUSED:
        fail(FailedAt::Tcp, "connection_refused", "the proxy reported the target refused the connection");
        break;
      case CURLPX_REPLY_HOST_UNREACHABLE:
        fail(FailedAt::Tcp, "host_unreachable", "the proxy reported the target host unreachable");
        break;
      case CURLPX_REPLY_NETWORK_UNREACHABLE:
        fail(FailedAt::Tcp, "network_unreachable", "the proxy reported the target network unreachable");
        break;
      case CURLPX_REPLY_TTL_EXPIRED:
        fail(FailedAt::Tcp, "timeout", "the proxy reported a timeout reaching the target");
        break;
      case CURLPX_RESOLVE_HOST:
        fail(FailedAt::Tcp, "resolve_failed", "the target name could not be resolved for the proxy");
        break;
      case CURLPX_REPLY_NOT_ALLOWED:
      case CURLPX_REPLY_GENERAL_SERVER_FAILURE:
      case CURLPX_USER_REJECTED:
      case CURLPX_NO_AUTH:
      case CURLPX_REQUEST_FAILED:
      case CURLPX_REPLY_COMMAND_NOT_SUPPORTED:
      case CURLPX_REPLY_ADDRESS_TYPE_NOT_SUPPORTED:
        fail(FailedAt::Proxy, "proxy_refused", "the proxy refused the request");
        break;
      default:
        fail(FailedAt::Proxy, "proxy_protocol_error", "the proxy handshake failed");
        break;
    }
  } else if (rc == CURLE_COULDNT_RESOLVE_PROXY) {
    fail(FailedAt::Proxy, "proxy_unreachable", "resolve_failed");
  } else if (rc == CURLE_COULDNT_RESOLVE_HOST) {
    fail(FailedAt::Tcp, "resolve_failed");
  } else if (rc == CURLE_COULDNT_CONNECT || (rc == CURLE_OPERATION_TIMEDOUT && !tcp_connected)) {
    std::string why = rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : errnoName(os_errno);
    if (via_proxy) {
      fail(FailedAt::Proxy, "proxy_unreachable", why);
    } else {
      fail(FailedAt::Tcp, why);
    }
  } else if (isSslError(rc)) {
    // Through an https proxy, TLS before the tunnel (or without one) is the proxy's.
    if (via_proxy && req.route->proxy_scheme == ProxyScheme::Https && !connect_done) {
      fail(FailedAt::Proxy, "proxy_tls_failed");
    } else if (rc == CURLE_PEER_FAILED_VERIFICATION) {
      // curl checks the name itself after a chain OpenSSL accepted (and then
      // reports verify result 1, "unspecified").
      const long v = chainError(verify_error, verify_result);
      fail(FailedAt::Tls, v != X509_V_OK ? std::string(tlsErrorForVerifyCode(v)) : "tls_hostname_mismatch");
    } else if (os_errno == ECONNRESET || contains(detail, "reset by peer")) {
      fail(FailedAt::Tls, "connection_reset");
    } else if (contains(detail, "wrong version number") || contains(detail, "packet length too long") ||
               contains(detail, "record layer failure") || contains(detail, "unexpected message") ||
               contains(detail, "unknown protocol") || contains(detail, "http request")) {
      fail(FailedAt::Tls, "tls_protocol_error");
    } else {
      fail(FailedAt::Tls, "tls_handshake_failed");
    }
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    if (tunnel && !connect_done) {
      fail(FailedAt::Proxy, "timeout", "no answer to CONNECT");
    } else if (via_proxy && !http_proxy && !tls_started && pretransfer == 0) {
      fail(FailedAt::Proxy, "timeout", "no answer to the SOCKS handshake");
    } else if (https && appconnect == 0) {
      fail(FailedAt::Tls, "timeout");
    } else {
      fail(FailedAt::Http, "timeout");
    }
  } else if (https && appconnect == 0 && !(tunnel && !connect_done) &&
             (rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING)) {
    fail(FailedAt::Tls, rc == CURLE_GOT_NOTHING ? "tls_handshake_failed" : "connection_reset");
  } else if (tunnel && !connect_done && (rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
                                         rc == CURLE_GOT_NOTHING || rc == CURLE_WEIRD_SERVER_REPLY)) {
    fail(FailedAt::Proxy, "proxy_protocol_error", "the proxy broke off the CONNECT exchange");
  } else {
    switch (rc) {
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
      case CURLE_PARTIAL_FILE:
        fail(FailedAt::Http, "connection_reset");
        break;
      case CURLE_GOT_NOTHING:
        fail(FailedAt::Http, "empty_reply");
        break;
      case CURLE_WEIRD_SERVER_REPLY:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
      case CURLE_BAD_CONTENT_ENCODING:
      case CURLE_UNSUPPORTED_PROTOCOL:
        fail(FailedAt::Http, "bad_response");
        break;
      case CURLE_URL_MALFORMAT:
        fail(FailedAt::Http, "invalid_url");
        break;
      default:
        fail(FailedAt::Http, "transfer_failed", std::string("curl error ") + std::to_string(rc));
        break;
    }
  }

  // ---- TLS layer ----
  TlsLayer& tls = r.tls;
  if (!https) {
    tls.status = LayerStatus::Skipped;
    tls.reason = "plain http";
  } else {
    if (!isIpLiteral(host)) tls.sni = host;
    if (appconnect > 0 && connect > 0) tls.ms = usToMs(appconnect - connect);
    // Through an https proxy a captured chain may be the proxy's: only the
    // target's is evidence about the target.
    const bool target_tls_reached = r.failed_at == FailedAt::None || r.failed_at == FailedAt::Tls ||
                                    r.failed_at == FailedAt::Http;
    if (target_tls_reached) {
      tls.version = tls_version;
      for (const CertSummary& c : chain) tls.chain.push_back(c.subject);
      if (!chain.empty()) {
        tls.subject = chain.front().subject;
        tls.issuer = chain.front().issuer;
        tls.not_after = chain.front().not_after;
      }
    }
    if (chain_captured && target_tls_reached) {
      const bool ca_ok = rc != CURLE_PEER_FAILED_VERIFICATION && verify_error == 0 && verify_result == X509_V_OK;
      tls.ca_file_ok = ca_ok;
      if (!ca_ok) {
        const long v = chainError(verify_error, verify_result);
        tls.verify_error = v != X509_V_OK ? X509_verify_cert_error_string(v) : detail;
      }
      if (req.public_roots) {
        ChainCheck pc = req.public_roots->verify(chain_der, host);
        tls.public_root = pc.ok;
        if (!pc.ok && tls.verify_error.empty()) tls.verify_error = "public roots: " + pc.reason;
      }
    }
    if (r.failed_at == FailedAt::Tls) {
      tls.status = LayerStatus::Fail;
      tls.error = r.error;
    } else if (r.failed_at == FailedAt::None || r.failed_at == FailedAt::Http) {
      tls.status = LayerStatus::Ok;
    } else {
      tls.status = LayerStatus::Skipped;
      tls.reason = r.failed_at == FailedAt::Proxy ? "proxy failed" : "tcp failed";
    }
  }

  // ---- HTTP layer ----
  HttpLayer& http = r.http;
  http.method = req.method;
  http.url = req.url;
  http.code = static_cast<int>(code);
  http.proxy_code = static_cast<int>(proxy_code);
  http.headers = std::move(headers);
  http.body = std::move(body);
  http.body_bytes = body_bytes;
  http.body_truncated = body_truncated;
  http.timings.dns = usToMs(namelookup);
  http.timings.connect = usToMs(connect);
  http.timings.tls = usToMs(appconnect);
  http.timings.ttfb = usToMs(starttransfer);
  http.timings.total = usToMs(total);
  const curl_off_t http_start = std::max(connect, appconnect);
  if (total > http_start && http_start > 0) http.ms = usToMs(total - http_start);
  if (r.failed_at == FailedAt::None) {
    http.status = LayerStatus::Ok;
  } else if (r.failed_at == FailedAt::Http) {
    http.status = LayerStatus::Fail;
    http.error = r.error;
  } else {
    http.status = LayerStatus::Skipped;
    http.reason = "not reached";
  }
  r.proxy_headers = std::move(proxy_headers);

  // Nothing kept may carry a secret.
  const auto& secrets = req.scrub;
  if (!secrets.empty()) {
    scrubText(http.url, secrets, false);
    scrubText(http.body, secrets, http.body_truncated);
    scrubText(r.detail, secrets, false);
    for (auto* list : {&http.headers, &r.proxy_headers}) {
      for (auto& [name, value] : *list) {
        scrubText(name, secrets, false);
        scrubText(value, secrets, false);
      }
    }
  }
  return r;
}

// ---- HttpClient -----------------------------------------------------------------

struct HttpClient::Impl {
  struct Ready {
    uint64_t id = 0, seq = 0;
    FetchDone done;
    FetchResult result;
  };

  uv_loop_t* loop;
  std::unique_ptr<UvCurlMulti> multi;
  std::unordered_map<uint64_t, std::unique_ptr<Transfer>> active;
  std::list<Ready> ready;
  uv_idle_t* idle = nullptr;  // delivers results on a later loop turn
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  uint64_t next_id = 1, next_seq = 1;

  explicit Impl(uv_loop_t* l) : loop(l) {
    multi = std::make_unique<UvCurlMulti>(loop, [this](CURL* easy, CURLcode rc) { completed(easy, rc); });
    idle = new uv_idle_t;
    uv_idle_init(loop, idle);
    idle->data = this;
  }

  ~Impl() {
    *alive = false;
    for (auto& [id, t] : active) multi->remove(t->easy);
    active.clear();  // curl_easy_cleanup after removal
    multi.reset();   // curl_multi_cleanup, then the uv handles close
    ready.clear();
    uv_idle_stop(idle);
    idle->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(idle), [](uv_handle_t* h) noexcept {
      delete reinterpret_cast<uv_idle_t*>(h);
    });
  }

  void enqueue(uint64_t id, FetchDone done, FetchResult result) {
    ready.push_back(Ready{id, next_seq++, std::move(done), std::move(result)});
    uv_idle_start(idle, &Impl::onIdle);
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

  static void onIdle(uv_idle_t* h) noexcept {
    auto* self = static_cast<Impl*>(h->data);
    if (!self) return;
    std::shared_ptr<bool> alive = self->alive;
    const uint64_t limit = self->next_seq;  // only what was ready before this turn
    while (*alive && !self->ready.empty() && self->ready.front().seq < limit) {
      Ready r = std::move(self->ready.front());
      self->ready.pop_front();
      try {
        if (r.done) r.done(std::move(r.result));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "<3>fetch: a completion handler threw: %s\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "<3>fetch: a completion handler threw\n");
      }
    }
    if (*alive && self->ready.empty()) uv_idle_stop(h);
  }
};

HttpClient::HttpClient(uv_loop_t* loop) : impl_(std::make_unique<Impl>(loop)) {}

HttpClient::~HttpClient() = default;

uint64_t HttpClient::fetch(FetchRequest req, FetchDone done) {
  Impl& im = *impl_;
  const uint64_t id = im.next_id++;
  auto t = std::make_unique<Transfer>();
  t->id = id;
  t->req = std::move(req);
  t->done = std::move(done);
  std::string bad;
  try {
    bad = t->setup();
  } catch (...) {
    bad = "internal_error";
  }
  if (bad.empty() && !im.multi->add(t->easy)) bad = "internal_error";
  if (!bad.empty()) {
    FetchResult r;
    r.failed_at = FailedAt::Http;
    r.error = bad;
    r.detail = "request not sent: " + bad;
    r.http.status = LayerStatus::Fail;
    r.http.error = bad;
    r.http.method = t->req.method;
    r.http.url = t->req.url;
    scrubText(r.http.url, t->req.scrub, false);
    im.enqueue(id, std::move(t->done), std::move(r));
    return id;
  }
  im.active.emplace(id, std::move(t));
  return id;
}

void HttpClient::cancel(uint64_t id) {
  Impl& im = *impl_;
  if (auto it = im.active.find(id); it != im.active.end()) {
    im.multi->remove(it->second->easy);
    im.active.erase(it);
    return;
  }
  im.ready.remove_if([id](const Impl::Ready& r) { return r.id == id; });
}

void HttpClient::cancelAll() {
  Impl& im = *impl_;
  for (auto& [id, t] : im.active) im.multi->remove(t->easy);
  im.active.clear();
  im.ready.clear();
}

std::size_t HttpClient::inFlight() const { return impl_->active.size() + impl_->ready.size(); }

}  // namespace pathwatch
