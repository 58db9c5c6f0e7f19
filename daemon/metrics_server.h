#pragma once
// GET /metrics on metrics.listen (docs/metrics.md): a plain HTTP/1.1 listener
// on the daemon's loop, one request per connection.
//
// GET /metrics (a query string is ignored) -> 200 with the text of `render`,
// Content-Type text/plain; version=0.0.4; any other path -> 404; any other
// method -> 405 with Allow: GET; a malformed or oversized request -> the
// parser's status (400, 413, 414, 431, 505). Then the connection closes.
//
// Bounds, so no client can make the daemon hold much or wait long: the
// request parser's limits (4 KiB request line, 16 KiB of headers, 50
// headers, 4 KiB body); max_clients connections and max_per_address from
// one client address (one more gets a 503 and is closed, so one host cannot
// lock the scraper out); the whole request must arrive within read_timeout (else the
// connection is closed); the answer must be taken within write_timeout (a
// client that never reads is dropped); one answer per connection, so a
// client holds at most one rendering of the text; after the answer, at most
// 64 KiB and 2 s of further input are read and dropped before closing.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "echo/http_request_parser.h"
#include "pathwatch/duration.h"
#include "pathwatch/tcp_server.h"
#include "pathwatch/uv_handle.h"

namespace pathwatch {

struct MetricsServerOptions {
  std::string host = "127.0.0.1";  // an IP literal, no brackets
  uint16_t port = 0;               // 0: any free port (boundPort says which)
  std::size_t max_clients = 256;
  std::size_t max_per_address = 16;
  Millis read_timeout = std::chrono::seconds(5);
  Millis write_timeout = std::chrono::seconds(10);
  HttpRequestLimits limits = {.max_request_line = 4 * 1024,
                              .max_header_block = 16 * 1024,
                              .max_headers = 50,
                              .max_body = 4 * 1024,
                              .max_leading_empty_lines = 8};
};

// The answer to one parsed request (pure): status line, headers and body.
// `render` is called only for GET /metrics.
std::string metricsHttpAnswer(const HttpRequestHead& head,
                              const std::function<std::string()>& render);
// The answer to a request the parser refused.
std::string metricsHttpError(int status);

class MetricsServer {
 public:
  MetricsServer(uv_loop_t* loop, MetricsServerOptions options, std::function<std::string()> render);
  ~MetricsServer();  // closes everything; handles finish closing on the loop
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and listens. False with *error ("127.0.0.1:9848: address already in
  // use") on failure; then nothing is open.
  bool start(std::string* error);
  void stop();

  // "127.0.0.1:9848" / "[::1]:9848" once started.
  const std::string& boundAddress() const { return bound_address_; }
  uint16_t boundPort() const { return bound_port_; }
  std::size_t activeClients() const { return connections_.size(); }
  uint64_t served() const { return served_; }    // answers sent, any status
  uint64_t refused() const { return refused_; }  // clients turned away beyond max_clients

  struct Connection;  // one client (metrics_server.cc)

 private:
  static void onConnection(uv_stream_t* server, int status) noexcept;
  void accept();
  void refuse(uv_stream_t* client, const std::string& why);
  std::size_t clientsFrom(const std::string& ip) const;

  uv_loop_t* loop_;
  MetricsServerOptions opt_;
  std::function<std::string()> render_;
  UvTcp listener_;
  ConnectionSet<Connection> connections_;
  std::string bound_address_;
  uint16_t bound_port_ = 0;
  uint64_t served_ = 0;
  uint64_t refused_ = 0, refused_logged_ = 0, last_refusal_log_ms_ = 0;  // beyond max_clients

  friend struct Connection;
};

}  // namespace pathwatch
