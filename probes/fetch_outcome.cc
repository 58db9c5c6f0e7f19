#include "pathwatch/fetch_outcome.h"

#include <algorithm>
#include <cerrno>

#include <curl/curl.h>
#include <openssl/x509_vfy.h>

#include "pathwatch/error_names.h"
#include "pathwatch/key.h"
#include "pathwatch/provider.h"
#include "tls_verify.h"

namespace pathwatch {
namespace {

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

std::string errnoName(long e) {
  switch (e) {
    case ECONNREFUSED: return std::string(err::kConnectionRefused);
    case ECONNRESET: return std::string(err::kConnectionReset);
    case ETIMEDOUT: return std::string(err::kTimeout);
    case EHOSTUNREACH: return "host_unreachable";
    case ENETUNREACH: return std::string(err::kNetworkUnreachable);
    case EACCES:
    case EPERM: return "connect_forbidden";
    case EADDRNOTAVAIL: return std::string(err::kAddressNotAvailable);
    case EAFNOSUPPORT: return std::string(err::kAddressNotAvailable);
    default: return "connect_failed";
  }
}

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

bool isSslError(long rc) {
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

double usToMs(int64_t us) { return static_cast<double>(us) / 1000.0; }

}  // namespace

FetchResult transferOutcome(TransferFacts f) {
  FetchResult r;
  const long rc = f.curl_code;
  if (!f.primary_ip.empty()) {
    r.connected_address = (f.primary_ip.find(':') != std::string::npos ? "[" + f.primary_ip + "]" : f.primary_ip) +
                          ":" + std::to_string(f.primary_port);
  }
  r.local_address = f.local_ip;
  if (f.connect_us > 0) r.connect_ms = usToMs(f.connect_us - f.namelookup_us);
  r.replaced_stalled = f.replaced_stalled;
  if (f.reused_connection) {
    // No connect of its own: the one that made the connection speaks for it.
    r.reused = true;
    r.connect_ms = usToMs(f.reused_connect_us);
    r.connection_age_ms = usToMs(f.connection_age_us);
  }
  // curl sets the primary address once the TCP connect (to the target or the
  // proxy) succeeded; its connect time only when the proxy step finished too.
  const bool tcp_connected = f.connect_us > 0 || !r.connected_address.empty();
  // libcurl leaves the connect and TLS times at 0 for a request on a kept
  // connection: its TCP and TLS were done before it, and whatever fails now
  // fails at HTTP.
  const bool tls_done = f.appconnect_us > 0 || f.reused_connection;

  std::string detail = f.curl_message;
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();

  auto fail = [&](FailedAt at, std::string_view error, std::string why = {}) {
    r.failed_at = at;
    r.error = std::string(error);
    r.detail = why.empty() ? detail : why + ": " + detail;
  };

  const bool answered = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && f.body_truncated && !f.headers_too_large);
  if (answered) {
    // ok
  } else if (f.headers_too_large) {
    fail(FailedAt::Http, "headers_too_large",
         "response headers exceed " + std::to_string(f.header_cap) + " bytes");
  } else if (!f.bind_error.empty()) {
    fail(FailedAt::Tcp, f.bind_error, "route " + f.route + " binding refused");
    r.connect_error = f.bind_error;
  } else if (f.http_proxy && f.connect_code != 0 && (f.connect_code < 200 || f.connect_code >= 300)) {
    fail(FailedAt::Proxy, f.connect_code == 407 ? "proxy_auth_required" : "proxy_refused",
         "the proxy answered CONNECT with " + std::to_string(f.connect_code));
  } else if (rc == CURLE_PROXY) {
    switch (f.proxy_error) {
      case CURLPX_REPLY_CONNECTION_REFUSED:
        fail(FailedAt::Tcp, err::kConnectionRefused, "the proxy reported the target refused the connection");
        break;
      case CURLPX_REPLY_HOST_UNREACHABLE:
        fail(FailedAt::Tcp, "host_unreachable", "the proxy reported the target host unreachable");
        break;
      case CURLPX_REPLY_NETWORK_UNREACHABLE:
        fail(FailedAt::Tcp, err::kNetworkUnreachable, "the proxy reported the target network unreachable");
        break;
      case CURLPX_REPLY_TTL_EXPIRED:
        fail(FailedAt::Tcp, err::kTimeout, "the proxy reported a timeout reaching the target");
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
    const std::string why = rc == CURLE_OPERATION_TIMEDOUT ? std::string(err::kTimeout) : errnoName(f.os_errno);
    r.connect_error = why;
    if (f.via_proxy) {
      fail(FailedAt::Proxy, "proxy_unreachable", why);
    } else {
      fail(FailedAt::Tcp, why);
    }
  } else if (isSslError(rc)) {
    // Through an https proxy, TLS before the tunnel (or without one) is the proxy's.
    if (f.via_proxy && f.https_proxy && !f.connect_done) {
      fail(FailedAt::Proxy, "proxy_tls_failed");
    } else if (rc == CURLE_PEER_FAILED_VERIFICATION) {
      // curl checks the name itself after a chain OpenSSL accepted (and then
      // reports verify result 1, "unspecified").
      const long v = chainError(f.verify_error, f.ssl_verify_result);
      fail(FailedAt::Tls, v != X509_V_OK ? tlsErrorForVerifyCode(v) : err::kTlsHostnameMismatch);
    } else if (f.os_errno == ECONNRESET || contains(detail, "reset by peer")) {
      fail(FailedAt::Tls, err::kConnectionReset);
    } else if (contains(detail, "wrong version number") || contains(detail, "packet length too long") ||
               contains(detail, "record layer failure") || contains(detail, "unexpected message") ||
               contains(detail, "unknown protocol") || contains(detail, "http request")) {
      fail(FailedAt::Tls, err::kTlsProtocolError);
    } else {
      fail(FailedAt::Tls, err::kTlsHandshakeFailed);
    }
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    if (f.tunnel && !f.connect_done) {
      fail(FailedAt::Proxy, err::kTimeout, "no answer to CONNECT");
    } else if (f.via_proxy && !f.http_proxy && !f.tls_started && f.pretransfer_us == 0) {
      fail(FailedAt::Proxy, err::kTimeout, "no answer to the SOCKS handshake");
    } else if (f.https && !tls_done) {
      fail(FailedAt::Tls, err::kTimeout);
    } else {
      fail(FailedAt::Http, err::kTimeout);
    }
  } else if (f.https && !tls_done && !(f.tunnel && !f.connect_done) &&
             (rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING)) {
    fail(FailedAt::Tls, rc == CURLE_GOT_NOTHING ? err::kTlsHandshakeFailed : err::kConnectionReset);
  } else if (f.tunnel && !f.connect_done &&
             (rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING ||
              rc == CURLE_WEIRD_SERVER_REPLY)) {
    fail(FailedAt::Proxy, "proxy_protocol_error", "the proxy broke off the CONNECT exchange");
  } else {
    switch (rc) {
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
      case CURLE_PARTIAL_FILE:
        fail(FailedAt::Http, err::kConnectionReset);
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
        fail(FailedAt::Http, "transfer_failed", "curl error " + std::to_string(rc));
        break;
    }
  }

  // ---- TLS layer ----
  TlsLayer& tls = r.tls;
  if (!f.https) {
    tls.status = LayerStatus::Skipped;
    tls.reason = "plain http";
  } else {
    if (!isIpLiteral(f.host)) tls.sni = f.host;
    if (f.appconnect_us > 0 && f.connect_us > 0) tls.ms = usToMs(f.appconnect_us - f.connect_us);
    if (f.reused_connection) {
      tls.reused = true;
      tls.ms = usToMs(f.reused_tls_us);
    }
    // Through an https proxy a captured chain may be the proxy's: only the
    // target's is evidence about the target.
    const bool target_tls_reached =
        r.failed_at == FailedAt::None || r.failed_at == FailedAt::Tls || r.failed_at == FailedAt::Http;
    if (target_tls_reached) {
      tls.version = f.tls_version;
      tls.chain = f.chain_subjects;
      if (!f.chain_subjects.empty()) {
        tls.subject = f.chain_subjects.front();
        tls.issuer = f.leaf_issuer;
        tls.not_after = f.leaf_not_after;
      }
    }
    if (f.chain_captured && target_tls_reached) {
      const bool ca_ok =
          rc != CURLE_PEER_FAILED_VERIFICATION && f.verify_error == 0 && f.ssl_verify_result == X509_V_OK;
      tls.ca_file_ok = ca_ok;
      if (!ca_ok) {
        const long v = chainError(f.verify_error, f.ssl_verify_result);
        tls.verify_error = v != X509_V_OK ? X509_verify_cert_error_string(v) : detail;
      }
      if (f.public_root) {
        tls.public_root = f.public_root;
        if (!*f.public_root && tls.verify_error.empty()) tls.verify_error = "public roots: " + f.public_root_reason;
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
  http.method = f.method;
  http.url = f.url;
  http.code = static_cast<int>(f.response_code);
  http.proxy_code = static_cast<int>(f.connect_code);
  http.headers = std::move(f.headers);
  http.body = std::move(f.body);
  http.body_bytes = f.body_bytes;
  http.body_truncated = f.body_truncated;
  http.timings.dns = usToMs(f.namelookup_us);
  http.timings.connect = usToMs(f.connect_us);
  http.timings.tls = usToMs(f.appconnect_us);
  http.timings.ttfb = usToMs(f.starttransfer_us);
  http.timings.total = usToMs(f.total_us);
  if (f.reused_connection) {
    // On a kept connection the whole request is HTTP.
    if (f.total_us > f.pretransfer_us) http.ms = usToMs(f.total_us - f.pretransfer_us);
  } else {
    const int64_t http_start = std::max(f.connect_us, f.appconnect_us);
    if (f.total_us > http_start && http_start > 0) http.ms = usToMs(f.total_us - http_start);
  }
  if (f.connect_only) {
    http.status = LayerStatus::Skipped;
    http.reason = r.failed_at == FailedAt::None ? "handshake only" : "not reached";
  } else if (r.failed_at == FailedAt::None) {
    http.status = LayerStatus::Ok;
  } else if (r.failed_at == FailedAt::Http) {
    http.status = LayerStatus::Fail;
    http.error = r.error;
  } else {
    http.status = LayerStatus::Skipped;
    http.reason = "not reached";
  }
  r.proxy_headers = std::move(f.proxy_headers);

  // Nothing kept may carry a secret.
  const auto& secrets = f.scrub;
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

std::string scrubbed(std::string text, const std::vector<std::string>& secrets) {
  scrubText(text, secrets, false);
  return text;
}

}  // namespace pathwatch
