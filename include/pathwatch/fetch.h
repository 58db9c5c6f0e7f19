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
#include "pathwatch/fetch_outcome.h"
#include "pathwatch/result.h"

namespace pathwatch {

class CaStore;      // tls_verify.h
class PublicRoots;  // tls_verify.h

struct FetchRequest {
  std::string method = "GET";
  std::string url;
  HeaderList headers;
  std::string body;
  std::optional<std::string> pin_address;  // CURLOPT_CONNECT_TO host:port:address:port
  const RouteConfig* route = nullptr;      // binding and proxy; nullptr = default path
  std::string ca_file;                     // what the route trusts; "" = libcurl default
  // ca_file already parsed (shared by every route); nullptr: libcurl reads ca_file.
  std::shared_ptr<const CaStore> ca_store;
  std::shared_ptr<const PublicRoots> public_roots;  // nullptr: public_root left unset
  Millis timeout = std::chrono::seconds(10);
  std::size_t body_cap = 64 * 1024;
  std::vector<std::string> scrub;  // secrets replaced by their fingerprint in what is kept
  // Added by the HttpClient implementation:
  std::optional<std::string> proxy_pin_address;  // the route's proxy host, resolved by the engine
  Millis connect_timeout{0};  // TCP (+ proxy) connect; 0 = same as timeout
  std::size_t header_cap = 64 * 1024;  // total header bytes; beyond -> http "headers_too_large"
  bool allow_http2 = false;  // HTTP/1.1 only by default (predictable through proxies)
  bool connect_only = false;  // stop after TCP + TLS: a handshake check, nothing sent
  int tcp_maxseg = 0;         // TCP_MAXSEG on the socket (a small MSS tells an MTU black hole)
  // Every fetch makes its own connection and closes it (real timings, real
  // handshakes), except:
  // - a route's cdn-cgi/trace may ride on the connection its provider's probe
  //   just made: that probe keeps it open (`keep_connection`) and the trace
  //   takes it (`reuse_connection`, and keeps it in turn); without an open one to the
  //   same place the trace connects itself;
  // - `share_connection` (https only): the request takes a kept connection to
  //   the same host, port and pinned address when one is younger than
  //   `connection_lifetime`, and keeps its own for the next. Its TLS evidence
  //   (chain, verification, version) and handshake timings are then the ones
  //   of the request that made the connection (FetchResult::reused).
  // A client's idle connections are matched by host, port, pinned address,
  // proxy and TLS settings, not by route binding: the engine keeps one client
  // per route.
  bool keep_connection = false;
  bool reuse_connection = false;
  bool share_connection = false;
  std::chrono::seconds connection_lifetime{60};
};

using FetchDone = std::function<void(FetchResult)>;

struct HttpClientCore;

// A fetch in flight. Destroying it (or reset()) cancels: its callback never
// runs afterwards. Safe to outlive the client.
class [[nodiscard]] FetchHandle {
 public:
  FetchHandle() = default;
  ~FetchHandle();
  FetchHandle(FetchHandle&& o) noexcept;
  FetchHandle& operator=(FetchHandle&& o) noexcept;
  FetchHandle(const FetchHandle&) = delete;
  FetchHandle& operator=(const FetchHandle&) = delete;
  void reset();

 private:
  friend class HttpClient;
  FetchHandle(std::weak_ptr<HttpClientCore> client, uint64_t id);
  std::weak_ptr<HttpClientCore> client_;
  uint64_t id_ = 0;
};

// Runs on the loop thread only. The public roots (FetchRequest::public_roots)
// are loaded once by the caller (PublicRoots::load at start or reload, sync
// file I/O), never per probe, and so is the CA file (FetchRequest::ca_store,
// CaStore::load). Without a ca_store the only file read here is libcurl
// loading req.ca_file for the client's first handshake (libcurl 7.87+ keeps
// the parsed store per HttpClient, for its lifetime): recreate the
// HttpClient on config reload.
// The process should ignore SIGPIPE (CURLOPT_NOSIGNAL leaves it alone).
class HttpClient {
 public:
  explicit HttpClient(uv_loop_t* loop);
  ~HttpClient();  // cancels everything; no callback runs after
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `done` runs exactly once, on a later loop turn, unless the handle is
  // destroyed (or the client is) first.
  FetchHandle fetch(FetchRequest req, FetchDone done);
  void cancelAll();
  std::size_t inFlight() const;

 private:
  std::shared_ptr<HttpClientCore> core_;
};

}  // namespace pathwatch
