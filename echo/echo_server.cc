#include "echo/echo_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace pathwatch {
namespace {

constexpr std::size_t kReadBuffer = 16 * 1024;
// After answering, the client may still be sending (a flood we cut short).
// Reading and dropping a little more before closing lets it read our answer
// instead of a reset; beyond these bounds it gets the reset.
constexpr std::size_t kMaxLingerBytes = 1024 * 1024;
constexpr uint64_t kMaxLingerMs = 2000;

const char* reasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
  }
  return "Error";
}

std::string opensslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// The path for the log: no query (Gemini takes ?key=), bounded length.
std::string loggablePath(std::string_view target) {
  std::string out(target.substr(0, target.find('?')));
  if (target.find('?') != std::string_view::npos) out += "?…";
  if (out.size() > 200) out = out.substr(0, 200) + "…";
  return out;
}

}  // namespace

std::optional<std::pair<std::string, uint16_t>> parseListenAddress(std::string_view text) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host.assign(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    sockaddr_in6 a6{};
    if (uv_ip6_addr(host.c_str(), 0, &a6) != 0) return std::nullopt;
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host.assign(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    sockaddr_in a4{};
    if (host.find(':') != std::string::npos || uv_ip4_addr(host.c_str(), 0, &a4) != 0) {
      return std::nullopt;
    }
  }
  if (port_text.empty() || port_text.size() > 5) return std::nullopt;
  unsigned port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) return std::nullopt;
  return std::make_pair(host, static_cast<uint16_t>(port));
}

std::string buildEchoJson(const HttpRequestHead& head, const std::string& client_address,
                          uint16_t client_port, bool tls) {
  nlohmann::ordered_json j;
  j["request_line"] = head.request_line;
  j["method"] = head.method;
  j["path"] = head.target;
  j["version"] = head.version;
  auto headers = nlohmann::ordered_json::array();
  for (const auto& [name, value] : head.headers) headers.push_back({name, value});
  j["headers"] = std::move(headers);
  j["client"] = {{"address", client_address}, {"port", client_port}};
  j["tls"] = tls;
  // Header values may hold any byte >= 0x80: replace invalid UTF-8, never throw.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

std::string buildEchoErrorJson(int status, const std::string& reason) {
  nlohmann::ordered_json j;
  j["error"] = reason;
  j["status"] = status;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

// One client. Owns its stream and its deadline timer (UvHandle) and its SSL;
// the server owns it. close() closes both handles at once (no callback
// reaches it after) and hands it to the server, which frees it on the next
// loop turn, after the callback that closed it has returned.
struct EchoServer::Connection {
  Connection(EchoServer* s, const HttpRequestLimits& limits) : server(s), parser(limits) {}

  EchoServer* server;
  UvTcp tcp;
  UvTimer timer;
  HttpRequestParser parser;
  SslPtr ssl;
  BIO* rbio = nullptr;  // network -> OpenSSL (owned by ssl)
  BIO* wbio = nullptr;  // OpenSSL -> network (owned by ssl)
  std::array<char, kReadBuffer> buf{};
  std::string peer_ip;
  uint16_t peer_port = 0;
  bool answered = false;  // the answer is queued; input is now discarded
  bool shutdown_started = false;
  bool peer_eof = false;
  bool closing = false;
  std::size_t pending_writes = 0;
  std::size_t discarded = 0;

  uv_stream_t* stream() { return tcp.stream(); }

  void close() {
    if (closing) return;
    closing = true;
    tcp.reset();
    timer.reset();
    server->connections_.retire(this);
  }

  void armTimer(uint64_t ms) { uv_timer_start(timer.get(), &Connection::onTimeout, ms, 0); }

  static void onTimeout(uv_timer_t* t) noexcept {
    auto* c = static_cast<Connection*>(t->data);
    if (!c) return;
    if (!c->answered) {
      c->server->log(joinHostPort(c->peer_ip, c->peer_port) + " closed: no complete request within " +
                     std::to_string(c->server->options_.read_timeout_ms) + "ms");
    }
    c->close();
  }

  static void onAlloc(uv_handle_t* h, size_t, uv_buf_t* out) noexcept {
    auto* c = static_cast<Connection*>(h->data);
    if (!c) {
      *out = uv_buf_init(nullptr, 0);
      return;
    }
    *out = uv_buf_init(c->buf.data(), static_cast<unsigned>(c->buf.size()));
  }

  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t*) noexcept {
    auto* c = static_cast<Connection*>(s->data);
    if (!c || c->closing || n == 0) return;
    try {
      if (n < 0) {
        c->onPeerDone();
        return;
      }
      c->onBytes(std::string_view(c->buf.data(), static_cast<std::size_t>(n)));
    } catch (...) {
      c->close();
    }
  }

  void onPeerDone() {
    peer_eof = true;
    uv_read_stop(stream());
    if (!answered) {
      server->log(joinHostPort(peer_ip, peer_port) + " closed by client before a complete request");
      close();
      return;
    }
    // Clients may half-close after sending: an answer still being written
    // finishes first (maybeShutdown closes once it is out).
    if (shutdown_started) close();
  }

  void onBytes(std::string_view data) {
    if (answered) {
      discarded += data.size();
      if (discarded > kMaxLingerBytes) close();
      return;
    }
    if (ssl) {
      tlsIn(data);
    } else {
      plainIn(data);
    }
  }

  void plainIn(std::string_view data) {
    switch (parser.feed(data)) {
      case HttpRequestParser::State::NeedMore: return;
      case HttpRequestParser::State::Done: return answerEcho();
      case HttpRequestParser::State::Error: return answerError();
    }
  }

  void tlsIn(std::string_view data) {
    if (BIO_write(rbio, data.data(), static_cast<int>(data.size())) != static_cast<int>(data.size())) {
      close();
      return;
    }
    if (!SSL_is_init_finished(ssl.get())) {
      const int r = SSL_do_handshake(ssl.get());
      if (r != 1) {
        const int err = SSL_get_error(ssl.get(), r);
        flushTls();
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
        server->log(joinHostPort(peer_ip, peer_port) + " tls handshake failed: " + opensslError());
        // Send the alert OpenSSL queued, then close.
        answered = true;
        armTimer(server->options_.read_timeout_ms);
        maybeShutdown();
        return;
      }
    }
    std::array<char, kReadBuffer> plain;
    while (!answered && !closing) {
      const int r = SSL_read(ssl.get(), plain.data(), static_cast<int>(plain.size()));
      if (r > 0) {
        plainIn(std::string_view(plain.data(), static_cast<std::size_t>(r)));
        continue;
      }
      const int err = SSL_get_error(ssl.get(), r);
      if (err == SSL_ERROR_WANT_READ) break;
      ERR_clear_error();
      close();  // close_notify before a full request, or a protocol error
      return;
    }
    flushTls();
  }

  void flushTls() {
    while (!closing && BIO_ctrl_pending(wbio) > 0) {
      std::string out(BIO_ctrl_pending(wbio), '\0');
      const int n = BIO_read(wbio, out.data(), static_cast<int>(out.size()));
      if (n <= 0) break;
      out.resize(static_cast<std::size_t>(n));
      writeRaw(std::move(out));
    }
  }

  void writeRaw(std::string data) {
    if (closing || data.empty()) return;
    if (uvWrite(stream(), std::move(data), &Connection::onWritten) != 0) {
      close();
      return;
    }
    ++pending_writes;
  }

  static void onWritten(void* owner, int status) {
    auto* c = static_cast<Connection*>(owner);
    if (!c) return;  // closed meanwhile
    --c->pending_writes;
    if (status < 0) {
      c->close();
      return;
    }
    c->maybeShutdown();
  }

  // Once the whole answer is written: FIN, then drop what the client still sends
  // (bounded) until it closes, so it reads the answer rather than a reset.
  void maybeShutdown() {
    if (!answered || closing || pending_writes > 0 || shutdown_started) return;
    shutdown_started = true;
    if (peer_eof) {
      close();
      return;
    }
    if (uvShutdown(stream(), &Connection::onShutdown) != 0) close();
  }

  static void onShutdown(void* owner, int status) {
    auto* c = static_cast<Connection*>(owner);
    if (!c || c->closing) return;
    if (status < 0 || c->peer_eof) {
      c->close();
      return;
    }
    c->armTimer(std::min(kMaxLingerMs, c->server->options_.read_timeout_ms));
  }

  void respond(int status, const std::string& body) {
    answered = true;
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reasonPhrase(status) +
                      "\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(body.size()) +
                      "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n" + body;
    armTimer(server->options_.read_timeout_ms);  // the answer gets as long as the request had
    if (ssl) {
      if (SSL_write(ssl.get(), out.data(), static_cast<int>(out.size())) <= 0) {
        ERR_clear_error();
        close();
        return;
      }
      SSL_shutdown(ssl.get());  // queue close_notify after the answer
      ERR_clear_error();
      flushTls();
    } else {
      writeRaw(std::move(out));
    }
    maybeShutdown();
  }

  void answerEcho() {
    const HttpRequestHead& head = parser.head();
    std::string names;
    for (const auto& [name, value] : head.headers) {
      if (!names.empty()) names += ",";
      names += name;  // names only: values may be real keys
    }
    server->log(joinHostPort(peer_ip, peer_port) + " \"" + head.method + " " +
                loggablePath(head.target) + "\" 200 headers=" + names);
    respond(200, buildEchoJson(head, peer_ip, peer_port, ssl != nullptr));
  }

  void answerError() {
    server->log(joinHostPort(peer_ip, peer_port) + " " + std::to_string(parser.errorStatus()) + " " +
                parser.errorReason());
    respond(parser.errorStatus(), buildEchoErrorJson(parser.errorStatus(), parser.errorReason()));
  }
};

EchoServer::EchoServer(uv_loop_t* loop, EchoServerOptions options)
    : loop_(loop), options_(std::move(options)) {}

// Connections' and the listener's handles close here; run the loop after so
// their close callbacks free them.
EchoServer::~EchoServer() { stop(); }

void EchoServer::log(std::string_view line) {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "echo-server: %.*s\n", static_cast<int>(line.size()), line.data());
  }
}

bool EchoServer::start(std::string* error) {
  auto setError = [&](std::string e) {
    if (error) *error = std::move(e);
    return false;
  };
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty()) {
    return setError("--tls-cert and --tls-key go together");
  }
  if (!options_.tls_cert_file.empty()) {
    ssl_ctx_.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX* ctx = ssl_ctx_.get();
    if (!ctx) return setError("cannot create a TLS context: " + opensslError());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // One request per connection: a renegotiation has nothing to offer and
    // costs a full handshake of CPU per client message.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, options_.tls_cert_file.c_str()) != 1) {
      return setError("cannot load TLS certificate " + options_.tls_cert_file + ": " +
                      opensslError());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, options_.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return setError("cannot load TLS key " + options_.tls_key_file + ": " + opensslError());
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return setError("TLS key " + options_.tls_key_file + " does not match the certificate");
    }
  }
  if (const int rc = connections_.init(loop_); rc != 0)
    return setError(std::string("cannot create a timer: ") + uv_strerror(rc));
  const std::string problem = listenTcp(loop_, listener_, options_.host, options_.port,
                                        &onConnection, this, &bound_address_, &bound_port_);
  if (!problem.empty()) {
    stop();
    return setError("cannot listen on " + joinHostPort(options_.host, options_.port) + ": " +
                    problem);
  }
  return true;
}

void EchoServer::stop() {
  listener_.reset();
  for (Connection* c : connections_.live()) c->close();
  connections_.stop();
}

bool EchoServer::renegotiationDisabled() const {
  return ssl_ctx_ && (SSL_CTX_get_options(ssl_ctx_.get()) & SSL_OP_NO_RENEGOTIATION) != 0;
}

std::size_t EchoServer::clientsFrom(const std::string& ip) const {
  return connections_.countIf([&](const Connection& c) { return !c.closing && c.peer_ip == ip; });
}

void EchoServer::onConnection(uv_stream_t* listener, int status) noexcept {
  auto* self = static_cast<EchoServer*>(listener->data);
  if (!self || status < 0) return;
  try {
    self->accept();
  } catch (...) {
    // Out of memory at worst: the client is dropped, the server goes on.
  }
}

void EchoServer::accept() {
  uv_stream_t* listener = listener_.stream();
  if (connections_.size() >= options_.max_clients) {
    // Accept and close at once: the client learns now instead of after a timeout.
    UvTcp t;
    if (t.init([&](uv_tcp_t* h) { return uv_tcp_init(loop_, h); }, nullptr) == 0)
      uv_accept(listener, t.stream());
    log("refused a client: " + std::to_string(options_.max_clients) + " already connected");
    return;
  }
  auto owned = std::make_unique<Connection>(this, options_.limits);
  Connection* c = owned.get();
  if (c->tcp.init([&](uv_tcp_t* h) { return uv_tcp_init(loop_, h); }, c) != 0 ||
      c->timer.init([&](uv_timer_t* h) { return uv_timer_init(loop_, h); }, c) != 0)
    return;
  if (uv_accept(listener, c->stream()) != 0) return;
  c->peer_ip = peerAddressText(c->tcp.get(), &c->peer_port);
  // One address may not take every place: the others keep theirs.
  if (clientsFrom(c->peer_ip) >= options_.max_per_address) {
    log("refused " + joinHostPort(c->peer_ip, c->peer_port) + ": " +
        std::to_string(options_.max_per_address) + " connections from that address already");
    return;
  }
  connections_.add(std::move(owned));
  if (ssl_ctx_) {
    c->ssl.reset(SSL_new(ssl_ctx_.get()));
    BioPtr rbio(BIO_new(BIO_s_mem()));
    BioPtr wbio(BIO_new(BIO_s_mem()));
    if (!c->ssl || !rbio || !wbio) {
      c->close();
      return;
    }
    c->rbio = rbio.get();
    c->wbio = wbio.get();
    SSL_set_bio(c->ssl.get(), rbio.release(), wbio.release());  // the SSL owns both now
    SSL_set_accept_state(c->ssl.get());
  }
  c->armTimer(options_.read_timeout_ms);
  if (uv_read_start(c->stream(), &Connection::onAlloc, &Connection::onRead) != 0) c->close();
}

}  // namespace pathwatch
