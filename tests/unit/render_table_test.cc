#include "cli/render_table.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace pathwatch {
namespace {

RouteResult okRoute(const std::string& provider, const std::string& route) {
  RouteResult r;
  r.provider = provider;
  r.route = route;
  r.verdict = Verdict::Ok;
  r.key.status = LayerStatus::Ok;
  r.dns.status = LayerStatus::Ok;
  r.dns.ms = 3.14;
  r.tcp.status = LayerStatus::Ok;
  r.tcp.ms = 12.2;
  r.tls.status = LayerStatus::Ok;
  r.tls.ms = 30;
  r.tls.public_root = true;
  r.http.status = LayerStatus::Ok;
  r.http.code = 401;
  r.http.authored_by = "provider";
  r.http.ms = 80.6;
  r.echo.status = LayerStatus::Skipped;
  r.echo.reason = "no echo endpoint configured";
  return r;
}

CheckReport sample() {
  CheckReport c;
  c.started_at = "2026-11-27T21:00:00Z";
  c.duration_ms = 812;
  c.routes.push_back(RouteReport{"default", Egress{"203.0.113.7", "DE", "", "openai"}, ""});
  c.routes.push_back(RouteReport{"vpn", std::nullopt, ""});

  ProviderReport openai;
  openai.name = "openai";
  openai.diagnosis = {Verdict::RegionBlocked, Cause::Region, {"vpn"},
                      "OpenAI refuses route default by region; route vpn works."};
  RouteResult blocked = okRoute("openai", "default");
  blocked.verdict = Verdict::RegionBlocked;
  blocked.http.code = 403;
  blocked.evidence = {"OpenAI answered 403 unsupported_country_region_territory",
                      "egress 203.0.113.7 (DE) as seen by openai"};
  blocked.echo.status = LayerStatus::Altered;
  blocked.echo.added = {"via"};
  blocked.echo.removed = {"authorization"};
  openai.routes = {blocked, okRoute("openai", "vpn")};

  ProviderReport anthropic;
  anthropic.name = "anthropic";
  anthropic.diagnosis = {Verdict::Ok, Cause::None, {"default", "vpn"}, "Anthropic answers on every route."};
  RouteResult dnsfail = okRoute("anthropic", "default");
  dnsfail.verdict = Verdict::Ok;
  anthropic.routes = {dnsfail};

  c.providers = {openai, anthropic};
  return c;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::size_t columns(const std::string& line) {
  std::size_t w = 0;
  for (unsigned char c : line) w += (c & 0xC0) != 0x80;
  return w;
}

TEST(RenderTable, DiagnosisFirstThenRoutesWithMarksAndEvidence) {
  RenderOptions o;
  o.width = 200;
  o.config_source = "<defaults>";
  const std::string text = renderCheckReport(sample(), o);
  const auto L = lines(text);
  ASSERT_GE(L.size(), 8u) << text;
  EXPECT_NE(L[0].find("config <defaults>"), std::string::npos) << L[0];
  EXPECT_NE(L[0].find("812 ms"), std::string::npos);
  EXPECT_NE(text.find("route default: egress 203.0.113.7 DE (seen by openai)"), std::string::npos) << text;
  EXPECT_NE(text.find("route vpn: egress unknown"), std::string::npos) << text;

  // The provider's diagnosis comes before its routes.
  const auto title = text.find("openai  region_blocked (cause: region)");
  const auto summary = text.find("OpenAI refuses route default by region; route vpn works.");
  const auto works = text.find("works on: vpn");
  const auto route = text.find("✗ default  region_blocked");
  ASSERT_NE(title, std::string::npos) << text;
  ASSERT_NE(summary, std::string::npos) << text;
  ASSERT_NE(works, std::string::npos) << text;
  ASSERT_NE(route, std::string::npos) << text;
  EXPECT_LT(title, summary);
  EXPECT_LT(summary, works);
  EXPECT_LT(works, route);

  EXPECT_NE(text.find("key ok · dns ok 3.1ms · tcp ok 12ms · tls ok 30ms (public root) · "
                      "http 403 provider 81ms · echo ALTERED +via -authorization"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("      - OpenAI answered 403 unsupported_country_region_territory\n"), std::string::npos);
  EXPECT_NE(text.find("✓ vpn      ok"), std::string::npos) << text;  // columns line up
  EXPECT_NE(text.find("anthropic  ok\n"), std::string::npos) << text;
  EXPECT_NE(text.find("1 of 2 providers ok"), std::string::npos) << text;
  EXPECT_EQ(text.find('\033'), std::string::npos) << "no colour unless asked";
}

TEST(RenderTable, ColourOnlyWhenAsked) {
  RenderOptions o;
  o.color = true;
  const std::string text = renderCheckReport(sample(), o);
  EXPECT_NE(text.find("\033[31m"), std::string::npos);
  EXPECT_NE(text.find("\033[32m"), std::string::npos);
}

TEST(RenderTable, FailuresShowTheirErrorString) {
  RouteResult r = okRoute("openai", "default");
  r.dns.status = LayerStatus::Fail;
  r.dns.error = "nxdomain";
  r.tcp = TcpLayer{};
  r.tcp.reason = "no address";
  r.http = HttpLayer{};
  r.http.status = LayerStatus::Fail;
  r.http.error = "proxy_refused";
  r.http.proxy_code = 407;
  r.key.status = LayerStatus::Skipped;
  const std::string marks = renderLayerMarks(r, false);
  EXPECT_NE(marks.find("key none"), std::string::npos) << marks;
  EXPECT_NE(marks.find("dns FAIL nxdomain"), std::string::npos) << marks;
  EXPECT_NE(marks.find("tcp skipped"), std::string::npos) << marks;
  EXPECT_NE(marks.find("http FAIL proxy_refused (proxy 407)"), std::string::npos) << marks;
  r.tls.public_root = false;
  EXPECT_NE(renderLayerMarks(r, false).find("(NOT a public root)"), std::string::npos);
}

TEST(RenderTable, NarrowTerminalWrapsButNeverCuts) {
  CheckReport c = sample();
  const std::string long_word(150, 'x');
  c.providers[0].routes[0].evidence.push_back("a very long piece of evidence " + long_word + " end");
  RenderOptions o;
  o.width = 60;
  const std::string text = renderCheckReport(c, o);
  for (const auto& line : lines(text)) {
    if (line.find(long_word) != std::string::npos) continue;  // one unbreakable word
    EXPECT_LE(columns(line), 60u) << "[" << line << "]";
  }
  EXPECT_NE(text.find(long_word), std::string::npos);
  EXPECT_NE(text.find("end"), std::string::npos);
  // Every mark is still there, just on more lines.
  for (const char* mark : {"key ok", "dns ok 3.1ms", "tcp ok 12ms", "tls ok 30ms (public root)",
                           "http 403 provider 81ms", "echo ALTERED +via -authorization"})
    EXPECT_NE(text.find(mark), std::string::npos) << mark << "\n" << text;
}

TEST(RenderTable, NetworkTextCannotDriveTheTerminal) {
  CheckReport c = sample();
  c.providers[0].routes[0].evidence = {"provider said \033[2J\033]0;pwned\007 hello"};
  c.providers[0].routes[0].echo.added = {"x-\033[31mevil"};
  const std::string text = renderCheckReport(c, RenderOptions{});
  EXPECT_EQ(text.find('\033'), std::string::npos);
  EXPECT_EQ(text.find('\007'), std::string::npos);
  EXPECT_NE(text.find("\\x1b[2J"), std::string::npos) << text;
}

TEST(RenderTable, BindingErrorIsLoudAndAllOkSaysSo) {
  CheckReport c = sample();
  c.providers.erase(c.providers.begin());
  c.routes[1].binding_error = "SO_BINDTODEVICE wg0: Operation not permitted";
  std::string text = renderCheckReport(c, RenderOptions{});
  EXPECT_NE(text.find("route vpn: egress unknown BINDING FAILED: SO_BINDTODEVICE wg0"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("all 1 provider ok"), std::string::npos) << text;
  c.routes[1].binding_error.clear();
  text = renderCheckReport(c, RenderOptions{});
  EXPECT_NE(text.find("all 1 provider ok"), std::string::npos) << text;
}

}  // namespace
}  // namespace pathwatch
