#pragma once
// What one HTTP(S) transfer means for the layers, as a pure function of what
// libcurl and the transfer's callbacks reported: which layer failed and how
// (a fixed error string), the TLS evidence, the HTTP answer, every secret
// scrubbed. No curl handle and no I/O here, so every mapping is unit-tested
// from the facts alone.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pathwatch/result.h"

namespace pathwatch {

enum class FailedAt { None, Proxy, Tcp, Tls, Http };

struct FetchResult {
  FailedAt failed_at = FailedAt::None;
  std::string error;              // fixed lower_snake string
  std::string detail;             // libcurl's message, for evidence (scrubbed)
  std::string connect_error;      // set when no TCP connection was made (to the target or
                                  // the proxy): connection_refused, timeout, ...
  std::string connected_address;  // "198.18.0.10:443" (the proxy's, through a proxy)
  std::string local_address;      // our source address of that connection (no port)
  double connect_ms = 0;
  // The request went on a kept connection (FetchRequest::share_connection):
  // connect_ms and the TLS evidence are those of the handshake that made it,
  // connection_age_ms ago.
  bool reused = false;
  double connection_age_ms = 0;
  // A kept connection this request first rode on stopped carrying it (the
  // request went unacknowledged): this answer is from a new connection.
  bool replaced_stalled = false;
  TlsLayer tls;    // filled when TLS was attempted
  HttpLayer http;  // code, headers, body, timings; status ok when an answer came
  HeaderList proxy_headers;  // the proxy's answer to CONNECT (scrubbed), when tunnelled
};

// Everything known when a transfer ended.
struct TransferFacts {
  // The request.
  std::string method = "GET", url, host;  // host without brackets
  bool https = false;
  bool via_proxy = false, http_proxy = false, https_proxy = false, tunnel = false;
  bool connect_only = false;  // stopped after the TLS handshake on purpose
  std::string route;          // for messages
  std::size_t header_cap = 0;
  std::vector<std::string> scrub;  // secrets replaced by their fingerprint

  // What libcurl said.
  int curl_code = 0;        // CURLcode
  std::string curl_message;  // the error buffer, else curl_easy_strerror
  int64_t namelookup_us = 0, connect_us = 0, appconnect_us = 0, pretransfer_us = 0,
          starttransfer_us = 0, total_us = 0;
  long response_code = 0, connect_code = 0, os_errno = 0, ssl_verify_result = 0, proxy_error = 0;
  std::string primary_ip, local_ip;
  long primary_port = 0;

  // What the transfer's callbacks saw.
  bool headers_too_large = false, body_truncated = false;
  bool connect_done = false;  // the proxy said 2xx to CONNECT
  bool tls_started = false;   // a TLS handshake began (any SOCKS step was done)
  bool chain_captured = false;
  long verify_error = 0;      // X509_V_* from our verify callback
  std::string tls_version;
  std::vector<std::string> chain_subjects;  // leaf first
  std::string leaf_issuer, leaf_not_after;
  std::optional<bool> public_root;  // the chain against tls.public_roots (unset: not judged)
  std::string public_root_reason;
  std::string bind_error;  // the route's binding was refused on the socket
  // The request rode on a kept TLS connection: no handshake of its own; the
  // TLS evidence above and these timings are the handshake's that made it.
  bool reused_connection = false;
  bool replaced_stalled = false;  // see FetchResult
  int64_t reused_connect_us = 0, reused_tls_us = 0, connection_age_us = 0;
  HeaderList headers, proxy_headers;
  std::string body;
  std::size_t body_bytes = 0;
};

FetchResult transferOutcome(TransferFacts facts);

// `text` with every secret replaced by its fingerprint.
std::string scrubbed(std::string text, const std::vector<std::string>& secrets);

}  // namespace pathwatch
