#include "integration/support/engine_fake_http.h"

#include <arpa/inet.h>

#include <algorithm>

namespace pathwatch::testing {

struct EngineFakeHttp::Conn {
  uv_tcp_t tcp;
  EngineFakeHttp* server;
  std::string in;
  std::string out;
  uv_write_t write;
  bool answered = false;
};

EngineFakeHttp::EngineFakeHttp(uv_loop_t* loop, Response response, bool hang)
    : loop_(loop), listener_(new uv_tcp_t), response_(std::move(response)), hang_(hang) {
  uv_tcp_init(loop, listener_);
  listener_->data = this;
  sockaddr_in sin{};
  uv_ip4_addr("127.0.0.1", 0, &sin);
  uv_tcp_bind(listener_, reinterpret_cast<sockaddr*>(&sin), 0);
  uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 64, &EngineFakeHttp::onConn);
  int len = sizeof(sin);
  uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&sin), &len);
  port_ = ntohs(sin.sin_port);
}

EngineFakeHttp::~EngineFakeHttp() {
  for (Conn* c : std::set<Conn*>(conns_)) closeConn(c);
  uv_close(reinterpret_cast<uv_handle_t*>(listener_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
}

void EngineFakeHttp::closeConn(Conn* c) {
  if (!conns_.erase(c)) return;
  held_.erase(std::remove(held_.begin(), held_.end(), c), held_.end());
  c->server = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
           [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
}

void EngineFakeHttp::onConn(uv_stream_t* s, int status) noexcept {
  auto* self = static_cast<EngineFakeHttp*>(s->data);
  if (status != 0 || !self) return;
  auto* c = new Conn;
  c->server = self;
  uv_tcp_init(self->loop_, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
             [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
    return;
  }
  self->conns_.insert(c);
  ++self->connections_;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char scratch[16384];
        *buf = uv_buf_init(scratch, sizeof(scratch));
      },
      [](uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
        auto* conn = static_cast<Conn*>(st->data);
        EngineFakeHttp* srv = conn->server;
        if (!srv) return;
        if (n < 0) return srv->closeConn(conn);
        conn->in.append(buf->base, static_cast<size_t>(n));
        if (conn->in.size() > 65536) return srv->closeConn(conn);
        const auto end = conn->in.find("\r\n\r\n");
        if (end == std::string::npos || conn->answered) return;
        conn->answered = true;
        ++srv->requests_;
        srv->last_head_ = conn->in.substr(0, end);
        const std::string line = srv->last_head_.substr(0, srv->last_head_.find("\r\n"));
        srv->request_lines_.push_back(line);
        conn->in.erase(0, end + 4);  // GETs only: no body follows
        if (srv->hang_) return;  // never answers; closed when the server goes
        const auto sp = line.find(' ');
        const std::string path = line.substr(sp + 1, line.find(' ', sp + 1) - sp - 1);
        const auto by_path = srv->by_path_.find(path);
        if (by_path == srv->by_path_.end() && srv->group_of_ > 0) {
          srv->held_.push_back(conn);
          if (srv->held_.size() < srv->group_of_) return;
          const std::vector<Conn*> group = std::move(srv->held_);
          srv->held_.clear();
          for (auto it = group.rbegin(); it != group.rend(); ++it) srv->answer(*it, srv->response_);
          return;
        }
        srv->answer(conn, by_path != srv->by_path_.end() ? by_path->second : srv->response_);
      });
}

void EngineFakeHttp::answer(Conn* conn, const Response& r) {
  std::string body = r.body;
  if (const auto at = body.find("{peer}"); at != std::string::npos) {
    sockaddr_storage ss{};
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "";
    if (uv_tcp_getpeername(&conn->tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
      uv_ip_name(reinterpret_cast<sockaddr*>(&ss), ip, sizeof ip);
    body.replace(at, 6, ip);
  }
  conn->out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\n";
  for (const auto& [k, v] : r.headers) conn->out += k + ": " + v + "\r\n";
  conn->out += "Content-Length: " + std::to_string(body.size()) +
               (keep_alive_ ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n") + body;
  uv_buf_t out = uv_buf_init(conn->out.data(), static_cast<unsigned>(conn->out.size()));
  conn->write.data = conn;
  uv_write(&conn->write, reinterpret_cast<uv_stream_t*>(&conn->tcp), &out, 1, [](uv_write_t* w, int) {
    auto* cc = static_cast<Conn*>(w->data);
    if (!cc->server) return;
    if (!cc->server->keep_alive_) return cc->server->closeConn(cc);
    cc->answered = false;  // ready for the next request on this connection
  });
}

}  // namespace pathwatch::testing
