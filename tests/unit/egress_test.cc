// Egress identity parsing: Cloudflare trace bodies and CF-Ray site codes.
#include "egress.h"

#include <gtest/gtest.h>

namespace pathwatch {
namespace {

TEST(ParseCdnTraceTest, RealTrace) {
  const std::string body =
      "fl=466f51\nh=api.openai.com\nip=203.0.113.7\nts=1732741200.123\nvisit_scheme=https\n"
      "uag=pathwatch\ncolo=HKG\nsliver=none\nhttp=http/2\nloc=HK\ntls=TLSv1.3\nsni=plaintext\n"
      "warp=off\ngateway=off\nrbi=off\nkex=X25519\n";
  const auto e = parseCdnTrace(body);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->ip, "203.0.113.7");
  EXPECT_EQ(e->country, "HK");
  EXPECT_EQ(e->colo, "HKG");
  EXPECT_TRUE(e->seen_by.empty());
}

TEST(ParseCdnTraceTest, CrlfAndIpv6) {
  const auto e = parseCdnTrace("ip=2001:db8::7\r\nloc=DE\r\ncolo=FRA\r\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->ip, "2001:db8::7");
  EXPECT_EQ(e->country, "DE");
  EXPECT_EQ(e->colo, "FRA");
}

TEST(ParseCdnTraceTest, OnlyIpStillCounts) {
  const auto e = parseCdnTrace("ip=198.51.100.9\nloc=\ncolo=lowercase\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->ip, "198.51.100.9");
  EXPECT_EQ(e->country, "");  // empty and malformed values are dropped, not trusted
  EXPECT_EQ(e->colo, "");
}

struct NotTrace {
  const char* name;
  std::string body;
};

class ParseCdnTraceRejects : public ::testing::TestWithParam<NotTrace> {};

TEST_P(ParseCdnTraceRejects, Nullopt) { EXPECT_FALSE(parseCdnTrace(GetParam().body).has_value()); }

INSTANTIATE_TEST_SUITE_P(
    Table, ParseCdnTraceRejects,
    ::testing::Values(NotTrace{"empty", ""}, NotTrace{"html", "<html><body>blocked</body></html>"},
                      NotTrace{"json", "{\"ip\": \"203.0.113.7\"}"},
                      NotTrace{"no_ip", "loc=HK\ncolo=HKG\n"},
                      NotTrace{"bad_ip", "ip=not-an-ip\nloc=HK\n"},
                      NotTrace{"ip_with_space_inside", "ip=203.0.113.7 x\n"},
                      // inet_pton stops at the NUL: the bytes after it must not ride along.
                      NotTrace{"ip_with_nul_inside", std::string("ip=203.0.113.7\0garbage\n", 23)},
                      NotTrace{"html_after_trace", "ip=203.0.113.7\n<p>hi</p>\n"},
                      NotTrace{"huge", "ip=203.0.113.7\n" + std::string(20000, '\n')}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

struct RayCase {
  const char* ray;
  const char* site;
};

class CfRaySiteTest : public ::testing::TestWithParam<RayCase> {};

TEST_P(CfRaySiteTest, Site) { EXPECT_EQ(cfRaySite(GetParam().ray), GetParam().site); }

INSTANTIATE_TEST_SUITE_P(Table, CfRaySiteTest,
                         ::testing::Values(RayCase{"8c1f2a3b4c5d6e7f-HKG", "HKG"},
                                           RayCase{" 8c1f2a3b4c5d6e7f-FRA ", "FRA"},
                                           RayCase{"8c1f2a3b4c5d6e7f", ""},
                                           RayCase{"8c1f2a3b4c5d6e7f-", ""},
                                           RayCase{"-HKG", ""},
                                           RayCase{"8c1f2a3b4c5d6e7f-hkg", ""},
                                           RayCase{"8c1f2a3b4c5d6e7f-HKGX", ""},
                                           RayCase{"not-hex-HKG", ""},
                                           RayCase{"", ""}));

}  // namespace
}  // namespace pathwatch
