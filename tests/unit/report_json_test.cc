#include "pathwatch/report_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <set>
#include <string>

namespace pathwatch {
namespace {

using nlohmann::json;

// A made-up key shaped like a real one; it must never appear in the document.
const std::string kFakeKey = "sk-proj-Q3vLr8TnWm2XbK9dYp4ZcJ7hFs1GtA6eNu0MxYA";

// The docs/json.md example, as result structs.
CheckReport specExample() {
  CheckReport c;
  c.started_at = "2026-11-27T21:00:00Z";
  c.duration_ms = 812;
  RouteReport route;
  route.name = "default";
  route.egress = Egress{"203.0.113.7", "DE", "", "openai"};
  c.routes.push_back(route);
  RouteReport vpn;
  vpn.name = "vpn";
  c.routes.push_back(vpn);

  RouteResult r;
  r.provider = "openai";
  r.route = "default";
  r.verdict = Verdict::RegionBlocked;
  r.evidence = {"OpenAI answered 403 unsupported_country_region_territory", "egress 203.0.113.7 DE"};
  r.key.status = LayerStatus::Ok;
  r.key.source = "env:OPENAI_API_KEY";
  r.key.configured = true;
  r.key.read = true;
  r.key.length = kFakeKey.size();
  r.key.fingerprint = "sk-proj…MxYA";
  r.dns.status = LayerStatus::Ok;
  r.dns.ms = 3.1;
  DnsAnswer a;
  a.resolver = "system";
  a.addresses = {"162.159.140.245"};
  a.ms = 3.1;
  r.dns.answers.push_back(a);
  DnsAnswer dead;
  dead.resolver = "1.1.1.1";
  dead.status = LayerStatus::Fail;
  dead.error = "timeout";
  r.dns.answers.push_back(dead);
  r.dns.addresses = {"162.159.140.245"};
  r.tcp.status = LayerStatus::Ok;
  r.tcp.address = "162.159.140.245:443";
  r.tcp.ms = 12.0;
  r.tcp.attempts.push_back(TcpAttempt{"162.159.140.245:443", LayerStatus::Ok, "", 12.0});
  r.tls.status = LayerStatus::Ok;
  r.tls.ms = 30.2;
  r.tls.issuer = "CN=WE1,O=Google Trust Services,C=US";
  r.tls.public_root = true;
  r.tls.not_after = "2027-01-01T00:00:00Z";
  r.http.status = LayerStatus::Ok;
  r.http.code = 403;
  r.http.ms = 80.5;
  r.http.url = "https://api.openai.com/v1/models";
  r.http.authored_by = "provider";
  r.http.error_type = "request_forbidden";
  r.http.error_code = "unsupported_country_region_territory";
  r.http.headers = {{"content-type", "application/json"}, {"x-request-id", "req_123"}};
  r.http.body = R"({"error":{"code":"unsupported_country_region_territory"}})";
  r.http.body_bytes = r.http.body.size();
  r.echo.status = LayerStatus::Altered;
  r.echo.ms = 40;
  r.echo.added = {"via"};
  r.echo.removed = {"authorization"};

  RouteResult ok = r;
  ok.route = "vpn";
  ok.verdict = Verdict::Ok;
  ok.evidence.clear();
  ok.echo = EchoLayer{};
  ok.echo.reason = "no echo endpoint configured";

  ProviderReport p;
  p.name = "openai";
  p.diagnosis.verdict = Verdict::RegionBlocked;
  p.diagnosis.cause = Cause::Region;
  p.diagnosis.working_routes = {"vpn"};
  p.diagnosis.summary = "OpenAI refuses route default by region; route vpn works.";
  p.routes = {r, ok};
  c.providers.push_back(p);
  return c;
}

std::set<std::string> keysOf(const json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

void expectHasKeys(const json& j, std::initializer_list<const char*> keys, const std::string& where) {
  ASSERT_TRUE(j.is_object()) << where;
  for (const char* k : keys) EXPECT_TRUE(j.contains(k)) << where << " lacks \"" << k << "\"";
}

TEST(ReportJson, ShapeMatchesSpec) {
  const json j = toJson(specExample());
  expectHasKeys(j, {"version", "started_at", "duration_ms", "routes", "providers"}, "top");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["started_at"], "2026-11-27T21:00:00Z");
  EXPECT_EQ(j["duration_ms"], 812);
  ASSERT_EQ(j["routes"].size(), 2u);
  EXPECT_EQ(j["routes"][0]["name"], "default");
  EXPECT_EQ(j["routes"][0]["egress"],
            json({{"ip", "203.0.113.7"}, {"country", "DE"}, {"seen_by", "openai"}}));
  EXPECT_TRUE(j["routes"][1]["egress"].is_null());

  const json& p = j["providers"][0];
  expectHasKeys(p, {"name", "diagnosis", "routes"}, "provider");
  EXPECT_EQ(p["diagnosis"], json({{"verdict", "region_blocked"},
                                  {"cause", "region"},
                                  {"working_routes", {"vpn"}},
                                  {"summary", "OpenAI refuses route default by region; route vpn works."}}));
  const json& r = p["routes"][0];
  expectHasKeys(r, {"route", "verdict", "evidence", "layers"}, "route");
  EXPECT_EQ(r["route"], "default");
  EXPECT_EQ(r["verdict"], "region_blocked");
  EXPECT_EQ(r["evidence"].size(), 2u);
  EXPECT_EQ(keysOf(r["layers"]), (std::set<std::string>{"key", "dns", "tcp", "tls", "http", "echo"}));

  const json& L = r["layers"];
  EXPECT_EQ(L["key"]["status"], "ok");
  EXPECT_EQ(L["key"]["source"], "env:OPENAI_API_KEY");
  EXPECT_EQ(L["key"]["fingerprint"], "sk-proj…MxYA");
  EXPECT_EQ(L["dns"]["status"], "ok");
  EXPECT_EQ(L["dns"]["answers"][0]["resolver"], "system");
  EXPECT_EQ(L["dns"]["answers"][0]["addresses"][0], "162.159.140.245");
  EXPECT_DOUBLE_EQ(L["dns"]["answers"][0]["ms"].get<double>(), 3.1);
  EXPECT_EQ(L["dns"]["answers"][1]["status"], "fail");
  EXPECT_EQ(L["dns"]["answers"][1]["error"], "timeout");
  EXPECT_EQ(L["tcp"]["address"], "162.159.140.245:443");
  EXPECT_DOUBLE_EQ(L["tcp"]["ms"].get<double>(), 12.0);
  EXPECT_EQ(L["tls"]["public_root"], true);
  EXPECT_EQ(L["tls"]["issuer"], "CN=WE1,O=Google Trust Services,C=US");
  EXPECT_EQ(L["tls"]["not_after"], "2027-01-01T00:00:00Z");
  EXPECT_EQ(L["http"]["code"], 403);
  EXPECT_EQ(L["http"]["authored_by"], "provider");
  EXPECT_EQ(L["http"]["error_type"], "request_forbidden");
  EXPECT_EQ(L["http"]["error_code"], "unsupported_country_region_territory");
  EXPECT_EQ(L["echo"]["status"], "altered");
  EXPECT_EQ(L["echo"]["added"], json({"via"}));
  EXPECT_EQ(L["echo"]["removed"], json({"authorization"}));
  EXPECT_EQ(L["echo"]["case_changed"], json::array());
}

TEST(ReportJson, ErrorOnlyWhenFailReasonOnlyWhenSkipped) {
  RouteResult r;
  r.route = "default";
  r.verdict = Verdict::DnsFailed;
  r.key.status = LayerStatus::Skipped;
  r.key.reason = "no key configured";
  r.key.error = "stale";  // must not show: not a failure
  r.dns.status = LayerStatus::Fail;
  r.dns.error = "nxdomain";
  r.dns.reason = "stale";  // must not show: not skipped
  r.tcp.status = LayerStatus::Skipped;
  r.tcp.reason = "dns failed";
  r.tls.status = LayerStatus::Ok;
  r.tls.error = "leftover";
  const json L = toJson(r)["layers"];
  EXPECT_EQ(L["key"]["status"], "skipped");
  EXPECT_EQ(L["key"]["reason"], "no key configured");
  EXPECT_FALSE(L["key"].contains("error"));
  EXPECT_EQ(L["dns"]["status"], "fail");
  EXPECT_EQ(L["dns"]["error"], "nxdomain");
  EXPECT_FALSE(L["dns"].contains("reason"));
  EXPECT_EQ(L["tcp"]["reason"], "dns failed");
  EXPECT_FALSE(L["tcp"].contains("ms"));  // skipped layers spent no time
  EXPECT_FALSE(L["tls"].contains("error"));
  EXPECT_FALSE(L["tls"].contains("reason"));
  // A failure without an error string still says something.
  r.http.status = LayerStatus::Fail;
  EXPECT_EQ(toJson(r)["layers"]["http"]["error"], "unknown");
}

TEST(ReportJson, KeyLayerCarriesNoKey) {
  CheckReport c = specExample();
  auto& r = c.providers[0].routes[0];
  // Even if a key slipped into places it should not be (scrubbing is the
  // engine's job), the key layer itself has no field that could carry it.
  r.key.problems = {"trailing_newline"};
  r.key.looks_like = "anthropic";
  const json key = toJson(r)["layers"]["key"];
  EXPECT_EQ(keysOf(key), (std::set<std::string>{"status", "source", "read", "length", "fingerprint",
                                                "problems", "looks_like"}));
  EXPECT_EQ(toJson(c).dump().find(kFakeKey), std::string::npos);
  EXPECT_EQ(toJson(c).dump().find("Q3vLr8Tn"), std::string::npos);
}

TEST(ReportJson, BodyIsAShortExcerpt) {
  RouteResult r;
  r.route = "default";
  r.http.status = LayerStatus::Ok;
  r.http.code = 200;
  r.http.body = std::string(600, 'a') + "SECRET-TAIL";
  r.http.body_bytes = 70000;
  r.http.body_truncated = true;
  const json h = toJson(r)["layers"]["http"];
  ASSERT_TRUE(h.contains("body_excerpt"));
  EXPECT_EQ(h["body_excerpt"].get<std::string>().size(), 512u);
  EXPECT_EQ(h.dump().find("SECRET-TAIL"), std::string::npos);
  EXPECT_EQ(h["body_bytes"], 70000);
  EXPECT_EQ(h["body_truncated"], true);
  EXPECT_FALSE(h.contains("body"));
}

TEST(ReportJson, ExcerptNeverSplitsAUtf8Character) {
  RouteResult r;
  r.route = "default";
  r.http.status = LayerStatus::Ok;
  r.http.body = std::string(511, 'a') + "\xC3\xA9" + std::string(10, 'b');  // é straddles 512
  const std::string ex = toJson(r)["layers"]["http"]["body_excerpt"];
  EXPECT_EQ(ex, std::string(511, 'a'));
}

TEST(ReportJson, InvalidUtf8FromTheNetworkNeverBreaksDump) {
  RouteResult r;
  r.route = "default";
  r.http.status = LayerStatus::Ok;
  r.http.headers = {{"x-\xff", "v\xc3\x28"}};
  r.http.body = "\xff\xfe\x00garbage";
  r.http.message = "\xed\xa0\x80";  // a UTF-16 surrogate encoded as UTF-8: invalid
  r.tls.status = LayerStatus::Ok;
  r.tls.issuer = "CN=\xe9vil";
  r.evidence = {"\xc0\xaf overlong"};
  json j;
  ASSERT_NO_THROW(j = toJson(r));
  std::string text;
  ASSERT_NO_THROW(text = j.dump());
  EXPECT_NE(text.find("\xEF\xBF\xBD"), std::string::npos) << text;
  json reparsed;
  EXPECT_NO_THROW(reparsed = json::parse(text));
  EXPECT_TRUE(reparsed.is_object());
}

TEST(ReportJson, RoundTrips) {
  const CheckReport c = specExample();
  const json j = toJson(c);
  auto back = checkReportFromJson(json::parse(j.dump()));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(toJson(*back), j);
  EXPECT_EQ(back->providers[0].routes[0].verdict, Verdict::RegionBlocked);
  EXPECT_EQ(back->providers[0].routes[0].dns.answers[1].error, "timeout");
  EXPECT_EQ(back->providers[0].diagnosis.working_routes, std::vector<std::string>{"vpn"});
  EXPECT_FALSE(back->allOk());
}

TEST(ReportJson, HostClockAndAddressFamiliesRoundTrip) {
  CheckReport c = specExample();
  EXPECT_FALSE(toJson(c).contains("host")) << "no answer said anything about the clock";
  HostReport h;
  h.clock_offset_s = 7380.5;
  h.clock_samples = 6;
  h.tls_time_servers = {"CN=api.openai.com until 2027-01-01T00:00:00Z"};
  c.host = h;
  RouteResult& r = c.providers[0].routes[0];
  r.verdict = Verdict::Ipv6Broken;
  r.tcp.ipv6_route = "ok";
  r.tcp.attempts.push_back(TcpAttempt{"[fd00:18:100::1]:443", LayerStatus::Fail, "timeout", 1500.0, "ipv6"});
  r.tcp.attempts.front().family = "ipv4";
  const json j = toJson(c);
  EXPECT_EQ(j["host"]["clock_offset_s"], 7380.5);
  EXPECT_EQ(j["host"]["clock_samples"], 6);
  EXPECT_EQ(j["host"]["tls_time_servers"][0], "CN=api.openai.com until 2027-01-01T00:00:00Z");
  const json& route = j["providers"][0]["routes"][0];
  EXPECT_EQ(route["verdict"], "ipv6_broken");
  EXPECT_EQ(route["cause"], "network");
  EXPECT_EQ(route["layers"]["tcp"]["ipv6_route"], "ok");
  EXPECT_EQ(route["layers"]["tcp"]["attempts"][1]["family"], "ipv6");
  EXPECT_EQ(route["layers"]["tcp"]["attempts"][1]["error"], "timeout");

  auto back = checkReportFromJson(json::parse(j.dump()));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(toJson(*back), j);
  ASSERT_TRUE(back->host.has_value());
  ASSERT_TRUE(back->host->clock_offset_s.has_value());
  EXPECT_DOUBLE_EQ(*back->host->clock_offset_s, 7380.5);
  EXPECT_EQ(back->host->clock_samples, 6);
  EXPECT_TRUE(back->host->clockWrong());
  EXPECT_EQ(back->providers[0].routes[0].verdict, Verdict::Ipv6Broken);
  EXPECT_EQ(back->providers[0].routes[0].tcp.ipv6_route, "ok");
  EXPECT_EQ(back->providers[0].routes[0].tcp.attempts[1].family, "ipv6");

  // Certificates only, no Date: the host object without an offset.
  c.host = HostReport{};
  c.host->tls_time_servers = {"a", "b"};
  const json k = toJson(c);
  EXPECT_FALSE(k["host"].contains("clock_offset_s"));
  auto back2 = checkReportFromJson(json::parse(k.dump()));
  ASSERT_TRUE(back2 && back2->host);
  EXPECT_FALSE(back2->host->clock_offset_s.has_value());
  EXPECT_TRUE(back2->host->clockWrong()) << "two unrelated certificates out of their time";
}

// A probe that rode on a kept connection says so on both layers; one that
// did not carries no such field (the JSON of the common case is unchanged).
TEST(ReportJson, ReusedConnectionFieldsRoundTripAndAreAbsentOtherwise) {
  CheckReport c = specExample();
  const json plain = toJson(c)["providers"][0]["routes"][0]["layers"];
  EXPECT_FALSE(plain["tcp"].contains("reused"));
  EXPECT_FALSE(plain["tcp"].contains("connection_age_ms"));
  EXPECT_FALSE(plain["tcp"].contains("stalled_connection_replaced"));
  EXPECT_FALSE(plain["tls"].contains("reused"));

  ASSERT_GE(c.providers[0].routes.size(), 2u);
  RouteResult& r = c.providers[0].routes[0];
  r.tcp.reused = true;
  r.tcp.connection_age_ms = 12345.5;
  r.tls.reused = true;
  c.providers[0].routes[1].tcp.stalled_connection_replaced = true;
  const json j = toJson(c);
  const json layers = j.at("providers").at(0).at("routes").at(0).at("layers");
  EXPECT_EQ(layers.at("tcp").value("reused", false), true);
  EXPECT_EQ(layers.at("tcp").value("connection_age_ms", 0.0), 12345.5);
  EXPECT_EQ(layers.at("tls").value("reused", false), true);
  const json other = j.at("providers").at(0).at("routes").at(1).at("layers").at("tcp");
  EXPECT_EQ(other.value("stalled_connection_replaced", false), true);
  EXPECT_FALSE(other.contains("reused"));

  auto back = checkReportFromJson(json::parse(j.dump()));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(toJson(*back), j);
  EXPECT_TRUE(back->providers[0].routes[0].tcp.reused);
  EXPECT_TRUE(back->providers[0].routes[0].tls.reused);
  EXPECT_DOUBLE_EQ(back->providers[0].routes[0].tcp.connection_age_ms, 12345.5);
  EXPECT_TRUE(back->providers[0].routes[1].tcp.stalled_connection_replaced);
}

TEST(ReportJson, NewVerdictAndCauseNamesReadBack) {
  EXPECT_EQ(toString(Verdict::Ipv6Broken), "ipv6_broken");
  EXPECT_EQ(verdictFromString("ipv6_broken"), Verdict::Ipv6Broken);
  EXPECT_EQ(causeOf(Verdict::Ipv6Broken), Cause::Network);
  EXPECT_EQ(toString(Cause::Host), "host");
  EXPECT_EQ(causeFromString("host"), Cause::Host);
  Diagnosis d;
  d.verdict = Verdict::TlsFailed;
  d.cause = Cause::Host;
  d.summary = "TLS to api.openai.com fails on every route (tls_not_yet_valid) because this machine's clock is 2 h behind";
  auto back = diagnosisFromJson(toJson(d));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->cause, Cause::Host);
  EXPECT_EQ(back->verdict, Verdict::TlsFailed);
}

TEST(ReportJson, OddDnsAnswersCarryTheirTlsCheck) {
  CheckReport c = specExample();
  auto& answers = c.providers[0].routes[0].dns.answers;
  DnsAnswer odd;
  odd.resolver = "198.18.53.2";
  odd.addresses = {"198.18.66.6"};
  odd.tls_ok = false;
  odd.tls_error = "tls_expired";
  answers.push_back(odd);
  DnsAnswer geo;
  geo.resolver = "198.18.53.3";
  geo.addresses = {"198.18.66.7"};
  geo.tls_ok = true;
  answers.push_back(geo);
  const json j = toJson(c);
  const json& A = j["providers"][0]["routes"][0]["layers"]["dns"]["answers"];
  ASSERT_EQ(A.size(), 4u);
  EXPECT_FALSE(A[0].contains("tls_ok")) << "unchecked answers say nothing";
  EXPECT_FALSE(A[0].contains("tls_error"));
  EXPECT_EQ(A[2]["tls_ok"], false);
  EXPECT_EQ(A[2]["tls_error"], "tls_expired");
  EXPECT_EQ(A[3]["tls_ok"], true);
  EXPECT_FALSE(A[3].contains("tls_error"));
  auto back = checkReportFromJson(json::parse(j.dump()));
  ASSERT_TRUE(back.has_value());
  const auto& b = back->providers[0].routes[0].dns.answers;
  ASSERT_EQ(b.size(), 4u);
  EXPECT_FALSE(b[0].tls_ok.has_value());
  EXPECT_EQ(b[2].tls_ok, std::optional<bool>(false));
  EXPECT_EQ(b[2].tls_error, "tls_expired");
  EXPECT_EQ(b[3].tls_ok, std::optional<bool>(true));
  EXPECT_EQ(toJson(*back), j);
}

TEST(ReportJson, FromJsonRejectsWhatItCannotRead) {
  const json good = toJson(specExample());
  EXPECT_FALSE(checkReportFromJson(json::array()).has_value());
  EXPECT_FALSE(checkReportFromJson(json::object()).has_value());
  json bad = good;
  bad["providers"][0]["routes"][0]["verdict"] = "no_such_verdict";
  EXPECT_FALSE(checkReportFromJson(bad).has_value());
  bad = good;
  bad["providers"][0]["routes"][0]["layers"]["tcp"]["status"] = "maybe";
  EXPECT_FALSE(checkReportFromJson(bad).has_value());
  bad = good;
  bad["providers"][0]["diagnosis"] = 5;
  EXPECT_FALSE(checkReportFromJson(bad).has_value());
  bad = good;
  bad["providers"][0]["routes"][0]["layers"]["http"]["code"] = "403";  // wrong type: tolerated as 0
  auto r = checkReportFromJson(bad);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->providers[0].routes[0].http.code, 0);
}

TEST(CheckReport, AllOk) {
  CheckReport c = specExample();
  EXPECT_FALSE(c.allOk());
  c.providers[0].routes[0].verdict = Verdict::Ok;
  EXPECT_TRUE(c.allOk());
  c.routes[1].binding_error = "SO_BINDTODEVICE: Operation not permitted";
  EXPECT_FALSE(c.allOk());
  EXPECT_TRUE(CheckReport{}.allOk());
}

TEST(LayerStatus, Names) {
  EXPECT_EQ(toString(LayerStatus::Ok), "ok");
  EXPECT_EQ(toString(LayerStatus::Fail), "fail");
  EXPECT_EQ(toString(LayerStatus::Altered), "altered");
  EXPECT_EQ(toString(LayerStatus::Skipped), "skipped");
}

}  // namespace
}  // namespace pathwatch
