#include "fake_connect_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace pathwatch::fetchtest {

namespace {

bool sendAll(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool recvExact(int fd, unsigned char* buf, std::size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, buf, n, 0);
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

int connectLoopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return fd;
  if (fd >= 0) close(fd);
  return -1;
}

}  // namespace

FakeConnectProxy::FakeConnectProxy(FakeProxyOptions options) : options_(options) {
  listener_ = std::make_unique<LoopbackListener>([this](int fd) { serve(fd); });
}

FakeConnectProxy::~FakeConnectProxy() {
  listener_->stop();
  listener_.reset();
}

std::string FakeConnectProxy::lastConnectHead() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_head_;
}

namespace {
// Until the client goes away or the proxy stops.
void hangOn(int fd, const LoopbackListener& l) {
  pollfd p{fd, POLLIN, 0};
  char sink[512];
  while (!l.stopping()) {
    if (poll(&p, 1, 50) > 0 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0) return;
  }
}
}  // namespace

void FakeConnectProxy::serve(int fd) {
  if (options_.hang) {
    hangOn(fd, *listener_);
    return;
  }
  if (options_.kind == FakeProxyOptions::Kind::HttpConnect) {
    serveConnect(fd);
  } else {
    serveSocks(fd);
  }
}

void FakeConnectProxy::serveConnect(int fd) {
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 64 * 1024) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) return;
    head.append(buf, static_cast<std::size_t>(r));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_head_ = head.substr(0, head.find("\r\n\r\n") + 2);
  }
  if (options_.connect_status != 200) {
    std::string body = "proxy says no";
    std::string extra = options_.connect_status == 407 ? "Proxy-Authenticate: Basic realm=\"fake\"\r\n" : "";
    std::string resp = "HTTP/1.1 " + std::to_string(options_.connect_status) + " Refused\r\n" + extra +
                       "Via: 1.1 fakeproxy\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\nConnection: close\r\n\r\n" + body;
    sendAll(fd, resp.data(), resp.size());
    return;
  }
  const std::string ok = "HTTP/1.1 200 Connection established\r\nVia: 1.1 fakeproxy\r\n\r\n";
  if (!sendAll(fd, ok.data(), ok.size())) return;
  relay(fd);
}

void FakeConnectProxy::serveSocks(int fd) {
  unsigned char b[262];
  // Greeting: VER NMETHODS METHODS...
  if (!recvExact(fd, b, 2) || b[0] != 5 || !recvExact(fd, b + 2, b[1])) return;
  const unsigned char method[2] = {5, 0};
  if (!sendAll(fd, method, 2)) return;
  // Request: VER CMD RSV ATYP DST.ADDR DST.PORT
  if (!recvExact(fd, b, 4)) return;
  std::size_t addr_len = b[3] == 1 ? 4 : b[3] == 4 ? 16 : 0;
  if (b[3] == 3) {
    if (!recvExact(fd, b + 4, 1)) return;
    addr_len = b[4];
    if (!recvExact(fd, b + 5, addr_len + 2)) return;
  } else if (!recvExact(fd, b + 4, addr_len + 2)) {
    return;
  }
  unsigned char reply[10] = {5, static_cast<unsigned char>(options_.socks_reply), 0, 1, 127, 0, 0, 1, 0, 0};
  if (!sendAll(fd, reply, sizeof reply)) return;
  if (options_.socks_reply == 0) relay(fd);
}

void FakeConnectProxy::relay(int client_fd) {
  int up = connectLoopback(options_.target_port);
  if (up < 0) return;
  pollfd p[2] = {{client_fd, POLLIN, 0}, {up, POLLIN, 0}};
  char buf[65536];
  // Ends when either side closes, or when the listener shuts the client down.
  for (int idle_ticks = 0; idle_ticks < 600 && !listener_->stopping();) {
    int r = poll(p, 2, 100);
    if (r < 0) break;
    if (r == 0) {
      ++idle_ticks;
      continue;
    }
    idle_ticks = 0;
    bool done = false;
    for (int i = 0; i < 2 && !done; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = recv(p[i].fd, buf, sizeof buf, 0);
      if (n <= 0 || !sendAll(p[1 - i].fd, buf, static_cast<std::size_t>(n))) done = true;
    }
    if (done) break;
  }
  close(up);
}

}  // namespace pathwatch::fetchtest
