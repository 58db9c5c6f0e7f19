#include "pathwatch/tcp_server.h"

#include <netinet/in.h>

namespace pathwatch {

std::string joinHostPort(const std::string& ip, uint16_t port) {
  const bool v6 = ip.find(':') != std::string::npos;
  return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

std::string socketAddressText(const sockaddr_storage& ss, uint16_t* port) {
  char name[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    uv_ip4_name(a, name, sizeof name);
    if (port) *port = ntohs(a->sin_port);
    return name;
  }
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, name, sizeof name);
    if (port) *port = ntohs(a->sin6_port);
    std::string text = name;
    if (text.rfind("::ffff:", 0) == 0 && text.find('.') != std::string::npos) text = text.substr(7);
    return text;
  }
  if (port) *port = 0;
  return "unknown";
}

std::string peerAddressText(const uv_tcp_t* tcp, uint16_t* port) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    if (port) *port = 0;
    return "unknown";
  }
  return socketAddressText(ss, port);
}

std::string listenTcp(uv_loop_t* loop, UvTcp& listener, const std::string& host, uint16_t port,
                      uv_connection_cb on_connection, void* data, std::string* bound_address,
                      uint16_t* bound_port) {
  sockaddr_storage addr{};
  const bool v6 = host.find(':') != std::string::npos;
  const int parsed = v6 ? uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr))
                        : uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  if (parsed != 0) return "not an IP address";
  if (int rc = listener.init([&](uv_tcp_t* t) { return uv_tcp_init(loop, t); }, data); rc != 0)
    return uv_strerror(rc);
  int rc = uv_tcp_bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(listener.stream(), 128, on_connection);
  if (rc != 0) {
    listener.reset();
    return uv_strerror(rc);
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  uint16_t p = 0;
  const std::string ip = socketAddressText(bound, &p);
  if (bound_port) *bound_port = p;
  if (bound_address) *bound_address = joinHostPort(ip, p);
  return "";
}

}  // namespace pathwatch
