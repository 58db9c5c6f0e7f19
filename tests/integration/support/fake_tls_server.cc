#include "fake_tls_server.h"

#include <chrono>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "pathwatch/ssl_ptr.h"

namespace pathwatch::fetchtest {

// ---- LoopbackListener --------------------------------------------------------

LoopbackListener::LoopbackListener(Serve serve) : serve_(std::move(serve)) {
  signal(SIGPIPE, SIG_IGN);  // a client that goes away must not kill the test
  if (pipe(wake_) != 0) throw std::runtime_error("pipe");
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("listen on 127.0.0.1:0");
  }
  socklen_t len = sizeof sa;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
  port_ = ntohs(sa.sin_port);
  acceptor_ = std::thread([this] { acceptLoop(); });
}

LoopbackListener::~LoopbackListener() {
  stop();
  close(listen_fd_);
  close(wake_[0]);
  close(wake_[1]);
}

void LoopbackListener::acceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++accepted_;
    std::lock_guard<std::mutex> lock(mu_);
    conn_fds_.push_back(fd);
    workers_.emplace_back([this, fd] {
      try {
        serve_(fd);
      } catch (...) {
      }
      // Forget the fd before closing it, so stop() never shuts down a reused number.
      {
        std::lock_guard<std::mutex> l(mu_);
        conn_fds_.erase(std::remove(conn_fds_.begin(), conn_fds_.end(), fd), conn_fds_.end());
      }
      close(fd);
    });
  }
}

void LoopbackListener::waitForStop() {
  pollfd p{wake_[0], POLLIN, 0};
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
}

void LoopbackListener::stop() {
  if (stopping_.exchange(true)) return;
  char b = 1;
  [[maybe_unused]] ssize_t w = write(wake_[1], &b, 1);  // stays readable: wakes every waiter
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : conn_fds_) shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
}

// ---- FakeHttpServer ------------------------------------------------------------

// The connection as the server reads and writes it (TLS or plain).
struct Stream {
  int fd;
  SSL* ssl = nullptr;

  long readSome(char* buf, std::size_t n) {
    if (ssl) {
      int r = SSL_read(ssl, buf, static_cast<int>(n));
      return r > 0 ? r : -1;
    }
    ssize_t r = recv(fd, buf, n, 0);
    return r > 0 ? r : -1;
  }
  bool writeAll(std::string_view data) {
    while (!data.empty()) {
      long w;
      if (ssl) {
        int r = SSL_write(ssl, data.data(), static_cast<int>(std::min<std::size_t>(data.size(), 1 << 20)));
        w = r > 0 ? r : -1;
      } else {
        w = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      }
      if (w <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(w));
    }
    return true;
  }
};

namespace {

// Plain or TLS byte stream over one accepted socket.

void setLingerZero(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

std::string headerValue(const std::string& head, const char* name) {
  std::size_t pos = 0;
  const std::size_t nlen = std::strlen(name);
  while ((pos = head.find("\r\n", pos)) != std::string::npos) {
    pos += 2;
    if (head.size() >= pos + nlen + 1 && strncasecmp(head.c_str() + pos, name, nlen) == 0 &&
        head[pos + nlen] == ':') {
      std::size_t start = head.find_first_not_of(' ', pos + nlen + 1);
      std::size_t end = head.find("\r\n", start);
      return head.substr(start, end - start);
    }
  }
  return {};
}

std::string response(int code, const std::string& reason, const std::string& extra_headers,
                     const std::string& body, bool keep_alive = false) {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: " +
         (keep_alive ? "keep-alive" : "close") + "\r\n\r\n" + body;
}

std::string peerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  char text[INET6_ADDRSTRLEN] = {};
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, text, sizeof text);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, text, sizeof text);
  return text;
}

}  // namespace

namespace {

SslCtxPtr serverContext(const TestLeaf& leaf) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  BioPtr bio(BIO_new_mem_buf(leaf.cert_chain_pem.data(), static_cast<int>(leaf.cert_chain_pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  SSL_CTX_use_certificate(ctx.get(), cert.get());
  while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    SSL_CTX_add_extra_chain_cert(ctx.get(), extra);  // takes ownership
  }
  ERR_clear_error();
  BioPtr kb(BIO_new_mem_buf(leaf.key_pem.data(), static_cast<int>(leaf.key_pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  SSL_CTX_use_PrivateKey(ctx.get(), key.get());
  if (SSL_CTX_check_private_key(ctx.get()) != 1) throw std::runtime_error("fake server key does not match");
  return ctx;
}

}  // namespace

FakeHttpServer::FakeHttpServer(FakeServerOptions options) : options_(std::move(options)) {
  if (options_.tls) {
    ssl_ctx_ = serverContext(options_.leaf);
    if (options_.later_leaf) later_ssl_ctx_ = serverContext(*options_.later_leaf);
  }
  listener_ = std::make_unique<LoopbackListener>([this](int fd) { serve(fd); });
}

FakeHttpServer::~FakeHttpServer() {
  listener_->stop();
  listener_.reset();
}

std::string FakeHttpServer::lastRequestHead() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_head_;
}

std::vector<std::string> FakeHttpServer::requestPeers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return request_peers_;
}

void FakeHttpServer::serve(int fd) {
  switch (options_.on_accept) {
    case OnAccept::Serve:
      break;
    case OnAccept::RawGarbage: {
      const char junk[] = "SSH-2.0-definitely-not-tls\r\n\x01\x02\x03 garbage garbage garbage\r\n";
      send(fd, junk, sizeof junk - 1, MSG_NOSIGNAL);
      char sink[4096];
      recv(fd, sink, sizeof sink, 0);  // let the client speak before we close
      return;
    }
    case OnAccept::Reset: {
      char sink[4096];
      recv(fd, sink, sizeof sink, 0);  // the ClientHello / request
      setLingerZero(fd);
      return;
    }
    case OnAccept::Close: {
      // Read what the client sent first: closing with unread data would be a reset.
      char sink[4096];
      recv(fd, sink, sizeof sink, 0);
      return;
    }
  }

  Stream s{fd};
  SslPtr ssl;
  if (ssl_ctx_) {
    const bool later = served_connections_++ > 0 && later_ssl_ctx_;
    ssl.reset(SSL_new((later ? later_ssl_ctx_ : ssl_ctx_).get()));
    SSL_set_fd(ssl.get(), fd);
    if (SSL_accept(ssl.get()) != 1) {
      ERR_clear_error();
      return;  // the client refused our certificate
    }
    s.ssl = ssl.get();
  }

  const std::string peer = peerAddress(fd);
  // One request after another on a kept connection (the client sends the
  // next only after its answer), until it closes or a path ends it.
  for (int served = 0; served < 1000 && !listener_->stopping(); ++served) {
    if (served > 0 && options_.close_kept_connections) {
      char sink[4096];
      s.readSome(sink, sizeof sink);  // the request, never answered
      return;
    }
    if (!serveRequest(s, ssl, fd, peer)) return;
  }
}

bool FakeHttpServer::serveRequest(Stream& s, SslPtr& ssl, int fd, const std::string& peer) {
  std::string head;
  char buf[16384];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 256 * 1024) {
    long r = s.readSome(buf, sizeof buf);
    if (r <= 0) return false;
    head.append(buf, static_cast<std::size_t>(r));
  }
  head = head.substr(0, head.find("\r\n\r\n") + 2);
  ++requests_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_head_ = head;
    request_peers_.push_back(peer);
  }
  const bool keep = options_.keep_alive;
  std::string path;
  {
    std::size_t a = head.find(' ');
    std::size_t b = a == std::string::npos ? a : head.find(' ', a + 1);
    if (b != std::string::npos) path = head.substr(a + 1, b - a - 1);
    path = path.substr(0, path.find('?'));
  }
  auto arg = [&](const char* prefix) -> long {
    return std::atol(path.c_str() + std::strlen(prefix));
  };

  if (path == "/ok") {
    return s.writeAll(response(200, "OK", "Content-Type: application/json\r\nX-Pathwatch-Test: ok\r\nx-lower-case: kept\r\n",
                               "{\"ok\":true}", keep)) && keep;
  } else if (path.rfind("/status/", 0) == 0) {
    long code = arg("/status/");
    std::string extra = (code >= 300 && code < 400) ? "Location: https://elsewhere.pathwatch.test/next\r\n" : "";
    return s.writeAll(response(static_cast<int>(code), "Status", extra, "{\"code\":" + std::to_string(code) + "}", keep)) &&
           keep;
  } else if (path == "/slow") {
    // A provider that takes its time: 1.5 s, then the answer.
    for (int i = 0; i < 30 && !listener_->stopping(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return s.writeAll(response(200, "OK", "", "{\"slow\":true}", keep)) && keep;
  } else if (path == "/echo") {
    std::string auth = headerValue(head, "Authorization");
    return s.writeAll(response(200, "OK", "X-Echo-Authorization: " + auth + "\r\n",
                               "{\"authorization\":\"" + auth + "\"}", keep)) &&
           keep;
  } else if (path.rfind("/big/", 0) == 0) {
    const std::size_t total = static_cast<std::size_t>(arg("/big/")) << 20;
    std::string hdr = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                      std::to_string(total) + "\r\nConnection: close\r\n\r\n";
    if (!s.writeAll(hdr)) return false;
    const std::string chunk(64 * 1024, 'x');
    for (std::size_t sent = 0; sent < total && !listener_->stopping(); sent += chunk.size()) {
      if (!s.writeAll(std::string_view(chunk).substr(0, std::min(chunk.size(), total - sent)))) break;
    }
  } else if (path.rfind("/headers/", 0) == 0) {
    std::string extra;
    const long kib = arg("/headers/");
    for (long i = 0; i < kib; ++i) extra += "X-Filler-" + std::to_string(i) + ": " + std::string(1000, 'h') + "\r\n";
    s.writeAll(response(200, "OK", extra, "{}"));
  } else if (path == "/garbage") {
    s.writeAll(std::string("\x01\x02\x03 this is not http at all \xff\xfe\r\n\r\n", 34));
  } else if (path == "/close") {
    // nothing: the connection closes without an answer
  } else if (path == "/reset") {
    setLingerZero(fd);
    ssl.reset();  // no close_notify: just the RST
  } else if (path == "/hang") {
    pollfd p[1] = {{fd, POLLIN, 0}};
    // Until the client gives up or the server stops.
    while (!listener_->stopping()) {
      int r = poll(p, 1, 50);
      if (r > 0) {
        char sink[512];
        if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) == 0) break;
      }
    }
  } else {
    return s.writeAll(response(404, "Not Found", "", "no such behaviour", keep)) && keep;
  }
  return false;
}

uint16_t closedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  close(fd);
  return ntohs(sa.sin_port);
}

}  // namespace pathwatch::fetchtest
