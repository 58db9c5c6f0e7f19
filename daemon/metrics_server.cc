#include "metrics_server.h"

#include <netinet/in.h>

#include <algorithm>
#include <array>

#include "log.h"

namespace pathwatch {
namespace {

constexpr std::size_t kReadBuffer = 8 * 1024;
// After the answer the client may still be sending (a flood cut short):
// reading and dropping a little more lets it read the answer instead of a
// reset; beyond these it gets the reset.
constexpr std::size_t kMaxLingerBytes = 64 * 1024;
constexpr uint64_t kMaxLingerMs = 2000;
constexpr uint64_t kRefusalLogEveryMs = 60'000;

const char* reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
  }
  return "Error";
}

std::string answer(int status, std::string_view content_type, const std::string& body,
                   std::string_view extra_headers = {}) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reasonPhrase(status) + "\r\n";
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  out += extra_headers;
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  out += body;
  return out;
}

std::string plain(int status, const std::string& text) {
  return answer(status, "text/plain; charset=utf-8", text + "\n");
}

}  // namespace

std::string metricsHttpAnswer(const HttpRequestHead& head,
                              const std::function<std::string()>& render) {
  const std::string_view target = head.target;
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics") return plain(404, "not found: pathwatchd serves /metrics");
  if (head.method != "GET")
    return answer(405, "text/plain; charset=utf-8", "method not allowed: use GET\n",
                  "Allow: GET\r\n");
  return answer(200, "text/plain; version=0.0.4; charset=utf-8", render());
}

std::string metricsHttpError(int status) { return plain(status, reasonPhrase(status)); }

// One client. Owns its stream and deadline timer; the server owns it.
// close() closes both handles at once (no callback reaches it after) and
// hands it to the server, which frees it on the next loop turn.
struct MetricsServer::Connection {
  explicit Connection(MetricsServer* s) : server(s), parser(s->opt_.limits) {}

  MetricsServer* server;
  UvTcp tcp;
  UvTimer timer;
  HttpRequestParser parser;
  std::array<char, kReadBuffer> buf{};
  std::string peer_ip;
  bool answered = false;
  bool written = false;
  bool peer_eof = false;
  bool closing = false;
  std::size_t discarded = 0;

  uv_stream_t* stream() { return tcp.stream(); }

  void close() {
    if (closing) return;
    closing = true;
    tcp.reset();
    timer.reset();
    server->connections_.retire(this);
  }

  void arm(uint64_t ms) { uv_timer_start(timer.get(), &Connection::onTimeout, ms, 0); }

  static void onTimeout(uv_timer_t* t) noexcept {
    auto* c = static_cast<Connection*>(t->data);
    if (!c) return;
    if (!c->answered)
      logDebug("metrics: a client sent no complete request in time; closed");
    else if (!c->written)
      logDebug("metrics: a client did not take its answer in time; dropped");
    c->close();
  }

  static void onAlloc(uv_handle_t* h, size_t, uv_buf_t* out) noexcept {
    auto* c = static_cast<Connection*>(h->data);
    *out = c ? uv_buf_init(c->buf.data(), static_cast<unsigned>(c->buf.size()))
             : uv_buf_init(nullptr, 0);
  }

  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t*) noexcept {
    auto* c = static_cast<Connection*>(s->data);
    if (!c || c->closing || n == 0) return;
    try {
      if (n < 0) return c->onPeerDone();
      c->onBytes(std::string_view(c->buf.data(), static_cast<std::size_t>(n)));
    } catch (...) {
      c->close();
    }
  }

  void onPeerDone() {
    peer_eof = true;
    uv_read_stop(stream());
    // Before a whole request: nothing to answer. After: close once the answer
    // is out (onWritten), or now if it is.
    if (!answered || written) close();
  }

  void onBytes(std::string_view data) {
    if (answered) {
      discarded += data.size();
      if (discarded > kMaxLingerBytes) close();
      return;
    }
    switch (parser.feed(data)) {
      case HttpRequestParser::State::NeedMore:
        return;
      case HttpRequestParser::State::Done:
        return respond(metricsHttpAnswer(parser.head(), server->render_));
      case HttpRequestParser::State::Error:
        logDebug("metrics: refused a request: " + std::to_string(parser.errorStatus()) + " " +
                 parser.errorReason());
        return respond(metricsHttpError(parser.errorStatus()));
    }
  }

  void respond(std::string out) {
    answered = true;
    ++server->served_;
    arm(static_cast<uint64_t>(server->opt_.write_timeout.count()));
    if (uvWrite(stream(), std::move(out), &Connection::onWritten) != 0) close();
  }

  static void onWritten(void* owner, int status) {
    auto* c = static_cast<Connection*>(owner);
    if (!c || c->closing) return;
    if (status < 0 || c->peer_eof) return c->close();
    c->written = true;
    // FIN, then drop what the client still sends (bounded) until it closes,
    // so it reads the answer rather than a reset.
    if (uvShutdown(c->stream(), &Connection::onShutdown) != 0) return c->close();
    c->arm(std::min<uint64_t>(kMaxLingerMs,
                              static_cast<uint64_t>(c->server->opt_.write_timeout.count())));
  }

  static void onShutdown(void* owner, int status) {
    auto* c = static_cast<Connection*>(owner);
    if (!c || c->closing) return;
    if (status < 0 || c->peer_eof) c->close();
  }
};

MetricsServer::MetricsServer(uv_loop_t* loop, MetricsServerOptions options,
                             std::function<std::string()> render)
    : loop_(loop), opt_(std::move(options)), render_(std::move(render)) {}

MetricsServer::~MetricsServer() { stop(); }

bool MetricsServer::start(std::string* error) {
  const std::string where = joinHostPort(opt_.host, opt_.port);
  auto fail = [&](const std::string& why) {
    stop();
    if (error) *error = where + ": " + why;
    return false;
  };
  if (int rc = connections_.init(loop_); rc != 0) return fail(uv_strerror(rc));
  const std::string problem = listenTcp(loop_, listener_, opt_.host, opt_.port,
                                        &MetricsServer::onConnection, this, &bound_address_,
                                        &bound_port_);
  if (!problem.empty()) return fail(problem);
  return true;
}

void MetricsServer::stop() {
  listener_.reset();
  for (Connection* c : connections_.live()) c->close();
  connections_.stop();
}

void MetricsServer::onConnection(uv_stream_t* listener, int status) noexcept {
  auto* self = static_cast<MetricsServer*>(listener->data);
  if (!self || status < 0) return;
  try {
    self->accept();
  } catch (...) {
    // Out of memory at worst: this client is dropped, the server goes on.
  }
}

std::size_t MetricsServer::clientsFrom(const std::string& ip) const {
  return connections_.countIf([&](const Connection& c) { return c.peer_ip == ip; });
}

// Tells a client it is turned away (best effort, never queued), counts it, and
// says so in the log at most once a minute.
void MetricsServer::refuse(uv_stream_t* client, const std::string& why) {
  std::string busy = plain(503, "too many clients; try again later");
  uv_buf_t b = uv_buf_init(busy.data(), static_cast<unsigned>(busy.size()));
  uv_try_write(client, &b, 1);
  ++refused_;
  const uint64_t now = uv_now(loop_);
  if (last_refusal_log_ms_ == 0 || now - last_refusal_log_ms_ >= kRefusalLogEveryMs) {
    logWarning("metrics: refused " + std::to_string(refused_ - refused_logged_) +
               " client(s) in the last minute, the latest because " + why);
    refused_logged_ = refused_;
    last_refusal_log_ms_ = now;
  }
}

void MetricsServer::accept() {
  auto owned = std::make_unique<Connection>(this);
  Connection* c = owned.get();
  if (c->tcp.init([&](uv_tcp_t* h) { return uv_tcp_init(loop_, h); }, c) != 0 ||
      c->timer.init([&](uv_timer_t* h) { return uv_timer_init(loop_, h); }, c) != 0)
    return;
  if (uv_accept(listener_.stream(), c->stream()) != 0) return;
  if (connections_.size() >= opt_.max_clients)
    return refuse(c->stream(), std::to_string(opt_.max_clients) + " clients were connected");
  c->peer_ip = peerAddressText(c->tcp.get());
  if (clientsFrom(c->peer_ip) >= opt_.max_per_address)
    return refuse(c->stream(), std::to_string(opt_.max_per_address) +
                                   " clients from its address were connected");
  connections_.add(std::move(owned));
  uv_tcp_nodelay(c->tcp.get(), 1);
  c->arm(static_cast<uint64_t>(opt_.read_timeout.count()));
  if (uv_read_start(c->stream(), &Connection::onAlloc, &Connection::onRead) != 0) c->close();
}

}  // namespace pathwatch
