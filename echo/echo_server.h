#pragma once
// `pathwatch echo-server`: answers any HTTP/1.x request with JSON saying what it
// received -- the request line, every header exactly as received (name case and
// order kept) and the client address as seen -- so probes can tell what the
// path between a route and the echo added, removed or rewrote.
//
// Runs on a libuv loop; optional TLS through OpenSSL memory BIOs over the uv
// stream (no blocking SSL I/O on sockets). Bounded: one request per connection,
// a read deadline, a client cap and a per-address cap (beyond them: accept and
// close at once), the parser's size limits, no TLS renegotiation; malformed requests get a short JSON error and a close.
// Logs one line per request, header NAMES only (a real client pointed at it may
// carry real keys), path without its query (?key= is a Gemini key).
#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "echo/http_request_parser.h"
#include "pathwatch/uv_handle.h"
#include "pathwatch/ssl_ptr.h"
#include "pathwatch/tcp_server.h"

namespace pathwatch {

struct EchoServerOptions {
  std::string host = "127.0.0.1";  // an IP literal (v4 or v6): no name lookups
  uint16_t port = 0;               // 0: any free port (boundAddress says which)
  std::string tls_cert_file, tls_key_file;  // both or neither
  std::size_t max_clients = 256;
  std::size_t max_per_address = 16;  // connections from one client address
  uint64_t read_timeout_ms = 10'000;  // for the whole request to arrive, and again for the answer
  HttpRequestLimits limits;
  std::function<void(std::string_view)> log;  // one line per request; default: stderr
};

// "127.0.0.1:8080", "[::1]:0", "0.0.0.0:443" -> host, port; nullopt if malformed
// or the host is not an IP literal.
std::optional<std::pair<std::string, uint16_t>> parseListenAddress(std::string_view text);

// The answer body for a request (pure; invalid UTF-8 is replaced, never thrown on).
std::string buildEchoJson(const HttpRequestHead& head, const std::string& client_address,
                          uint16_t client_port, bool tls);

// The answer body for a rejected request: {"error": reason, "status": code}.
std::string buildEchoErrorJson(int status, const std::string& reason);

class EchoServer {
 public:
  EchoServer(uv_loop_t* loop, EchoServerOptions options);
  // Closes everything; run the loop afterwards so the close callbacks free
  // the handles.
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  // Loads the TLS material, binds and listens. False with *error set on failure.
  bool start(std::string* error);
  // "127.0.0.1:43123" / "[::1]:43123" once started.
  const std::string& boundAddress() const { return bound_address_; }
  uint16_t boundPort() const { return bound_port_; }
  // Closes the listener and every connection; handles finish closing on the loop.
  void stop();
  std::size_t activeClients() const { return connections_.size(); }
  bool tls() const { return ssl_ctx_ != nullptr; }
  // SSL_OP_NO_RENEGOTIATION is set on the TLS context.
  bool renegotiationDisabled() const;

  struct Connection;  // internal, per client

 private:
  static void onConnection(uv_stream_t* server, int status) noexcept;
  void accept();
  std::size_t clientsFrom(const std::string& ip) const;
  void log(std::string_view line);

  uv_loop_t* loop_;
  EchoServerOptions options_;
  UvTcp listener_;
  SslCtxPtr ssl_ctx_;
  ConnectionSet<Connection> connections_;
  std::string bound_address_;
  uint16_t bound_port_ = 0;

  friend struct Connection;
};

}  // namespace pathwatch
