// Address text shared by the echo server and the metrics endpoint: what their
// logs and per-address limits key on.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "pathwatch/tcp_server.h"

namespace pathwatch {
namespace {

sockaddr_storage v4(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET, ip, &a->sin_addr), 1);
  return ss;
}

sockaddr_storage v6(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
  return ss;
}

TEST(TcpServerAddress, JoinBracketsIpv6Only) {
  EXPECT_EQ(joinHostPort("127.0.0.1", 9848), "127.0.0.1:9848");
  EXPECT_EQ(joinHostPort("::1", 9848), "[::1]:9848");
  EXPECT_EQ(joinHostPort("fd00:18::1", 80), "[fd00:18::1]:80");
}

TEST(TcpServerAddress, SocketAddressTextGivesIpAndPort) {
  uint16_t port = 0;
  EXPECT_EQ(socketAddressText(v4("198.18.0.7", 443), &port), "198.18.0.7");
  EXPECT_EQ(port, 443);
  EXPECT_EQ(socketAddressText(v6("2001:db8::1", 8081), &port), "2001:db8::1");
  EXPECT_EQ(port, 8081);
}

TEST(TcpServerAddress, V4MappedIsShownAsV4SoOneClientIsOneAddress) {
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; the per-address
  // cap must count them with the same client seen on an IPv4 listener.
  uint16_t port = 0;
  EXPECT_EQ(socketAddressText(v6("::ffff:198.18.0.9", 1234), &port), "198.18.0.9");
  EXPECT_EQ(port, 1234);
  EXPECT_EQ(socketAddressText(v6("64:ff9b::c612:9", 1), &port), "64:ff9b::c612:9");  // NAT64 stays
}

TEST(TcpServerAddress, NonIpFamilyIsUnknownWithPortZero) {
  sockaddr_storage ss{};
  ss.ss_family = AF_UNIX;
  uint16_t port = 7;
  EXPECT_EQ(socketAddressText(ss, &port), "unknown");
  EXPECT_EQ(port, 0);
}

}  // namespace
}  // namespace pathwatch
