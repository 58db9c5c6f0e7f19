// IP literals, listen addresses and ports (the one isIpLiteral every part of
// the tree uses).
#include <gtest/gtest.h>

#include <string>

#include "pathwatch/address.h"

namespace pathwatch {
namespace {

TEST(Address, IpLiterals) {
  for (const char* ok : {"1.2.3.4", "0.0.0.0", "255.255.255.255", "::", "::1", "2001:db8::1",
                         "::ffff:198.18.0.1", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"})
    EXPECT_TRUE(isIpLiteral(ok)) << ok;
  for (const char* bad : {"", "api.openai.com", "1.2.3", "1.2.3.4.5", "01.2.3.4x", "[::1]", "::1%eth0",
                          " 1.2.3.4", "1.2.3.4 ", "1.2.3.4:80", "256.1.1.1"})
    EXPECT_FALSE(isIpLiteral(bad)) << bad;
  // inet_pton reads a C string: what follows a NUL must not be ignored.
  EXPECT_FALSE(isIpLiteral(std::string("1.2.3.4\0evil.example", 20)));
  EXPECT_FALSE(isIpLiteral(std::string(1000, '1')));
  auto v6 = parseIp("2001:db8::1");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->v6);
  EXPECT_EQ(v6->bytes[0], 0x20);
  EXPECT_EQ(v6->bytes[15], 1);
  auto v4 = parseIp("198.18.0.7");
  ASSERT_TRUE(v4);
  EXPECT_FALSE(v4->v6);
  EXPECT_EQ(v4->bytes[3], 7);
}

TEST(Address, Ports) {
  EXPECT_EQ(parsePort("1"), 1);
  EXPECT_EQ(parsePort("65535"), 65535);
  for (const char* bad : {"", "0", "65536", "-1", "+80", " 80", "80 ", "8o", "99999999999"})
    EXPECT_FALSE(parsePort(bad).has_value()) << bad;
}

TEST(Address, IpPort) {
  auto a = parseIpPort("127.0.0.1:9848");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_FALSE(a->v6);
  EXPECT_EQ(a->port, 9848);
  auto b = parseIpPort("[2001:db8::5]:443");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "2001:db8::5");
  EXPECT_TRUE(b->v6);
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":9848", "localhost:9848", "::1:9848",
                          "[::1]", "[::1]9848", "[127.0.0.1]:80", "[::1:80", "1.2.3.4:0", "1.2.3.4:70000",
                          "1.2.3.4:80:80"})
    EXPECT_FALSE(parseIpPort(bad).has_value()) << bad;
}

TEST(Address, CidrProblemsNeverRepeatTheText) {
  std::string problem;
  EXPECT_FALSE(parseCidr("office-lan", problem));
  EXPECT_EQ(problem.find("office-lan"), std::string::npos);
  EXPECT_NE(problem.find("CIDR"), std::string::npos);
  EXPECT_FALSE(parseCidr("10.0.0.0/99", problem));
  EXPECT_EQ(problem.find("99"), std::string::npos);
  auto r = parseCidr("fd00::/8", problem);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->v6);
  EXPECT_EQ(r->prefix, 8);
}

}  // namespace
}  // namespace pathwatch
