#pragma once
// One HTTP(S) exchange on the shared loop through libcurl's multi_socket
// interface, over a route, pinned to an address, with its TLS chain verified
// against both the route's CA file and the public roots.
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <uv.h>

#include "pathwatch/config.h"
#include "pathwatch/duration.h"
#include "pathwatch/result.h"

namespace pathwatch {

class PublicRoots;  // tls_verify.h

struct FetchRequest {
  std::string method = "GET";
  std::string url;
  HeaderList headers;
  std::string body;
  std::optional<std::string> pin_address;  // CURLOPT_RESOLVE host:port:address
  const RouteConfig* route = nullptr;      // binding and proxy; nullptr = default path
  std::string ca_file;                     // what the route trusts; "" = libcurl default
  std::shared_ptr<const PublicRoots> public_roots;  // nullptr: public_root left unset
  Millis timeout = std::chrono::seconds(10);
  std::size_t body_cap = 64 * 1024;
  std::vector<std::string> scrub;  // secrets replaced by their fingerprint in what is kept
  // Added by the HttpClient implementation:
  std::optional<std::string> proxy_pin_address;  // the route's proxy host, resolved by the engine
  Millis connect_timeout{0};  // TCP (+ proxy) connect; 0 = same as timeout
  std::size_t header_cap = 64 * 1024;  // total header bytes; beyond -> http "headers_too_large"
  bool allow_http2 = false;  // HTTP/1.1 only by default (predictable through proxies)
};

enum class FailedAt { None, Proxy, Tcp, Tls, Http };

struct FetchResult {
  FailedAt failed_at = FailedAt::None;
  std::string error;             // fixed lower_snake string
  std::string detail;            // libcurl's message, for evidence (scrubbed)
  std::string connected_address; // "198.18.0.10:443" (the proxy's, through a proxy)
  double connect_ms = 0;
  TlsLayer tls;    // filled when TLS was attempted
  HttpLayer http;  // code, headers, body, timings; status ok when an answer came
  HeaderList proxy_headers;  // the proxy's answer to CONNECT (scrubbed), when tunnelled
};

using FetchDone = std::function<void(FetchResult)>;

// Runs on the loop thread only. The public roots (FetchRequest::public_roots)
// are loaded once by the caller (PublicRoots::load at start or reload, sync
// file I/O), never per probe. The only file read here is libcurl loading
// req.ca_file for a handshake (libcurl 7.87+ keeps the parsed store per
// HttpClient for a while): recreate the HttpClient on config reload.
// The process should ignore SIGPIPE (CURLOPT_NOSIGNAL leaves it alone).
class HttpClient {
 public:
  explicit HttpClient(uv_loop_t* loop);
  ~HttpClient();  // cancels everything; no callback runs after
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `done` runs exactly once, on a later loop turn, unless cancelled.
  // Returns an id usable with cancel().
  uint64_t fetch(FetchRequest req, FetchDone done);
  void cancel(uint64_t id);
  void cancelAll();
  std::size_t inFlight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pathwatch
