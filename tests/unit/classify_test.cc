// classifyRoute's precedence (docs/verdicts.md): the lowest failing layer
// first, headers_rewritten over what an altered request produced,
// tls_intercepted only when nothing worse happened; and analyzeAnswer's
// robustness against garbage.
#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <set>
#include <string>

#include "providers/provider_def.h"
#include "answers/fixtures.h"
#include "pathwatch/classify.h"

namespace pathwatch {
namespace {

using namespace fixtures;

bool hasEvidence(const RouteResult& r, const std::string& text) {
  for (const auto& e : r.evidence)
    if (e.find(text) != std::string::npos) return true;
  return false;
}

std::string dump(const RouteResult& r) {
  std::string out = "verdict " + std::string(toString(r.verdict)) + "; evidence:";
  for (const auto& e : r.evidence) out += "\n  " + e;
  return out;
}

RouteResult openaiAnswer(int code, const std::string& body, bool key_sent = true) {
  RouteResult r = healthyRoute(spec("openai"), key_sent);
  r.http.code = code;
  r.http.headers = openaiHeaders();
  r.http.body = body;
  return r;
}

const char* kInvalidKey =
    R"({"error":{"message":"Incorrect API key provided: sk-proj-****MxYA.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})";
const char* kNoKey =
    R"({"error":{"message":"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth.","type":"invalid_request_error","param":null,"code":null}})";
const char* kModels = R"({"object":"list","data":[{"id":"gpt-4o","object":"model"}]})";

void failDns(RouteResult& r, const char* error) {
  r.dns.status = LayerStatus::Fail;
  r.dns.error = error;
  r.dns.addresses.clear();
  for (auto& a : r.dns.answers) {
    a.status = LayerStatus::Fail;
    a.error = error;
    a.addresses.clear();
  }
}

// ---------------------------------------------------------------- key

TEST(ClassifyPrecedence, KeyMissingBeatsEveryLaterLayer) {
  RouteResult r = openaiAnswer(401, kNoKey, false);
  r.key.status = LayerStatus::Fail;
  r.key.error = "key_missing";
  r.key.source = "env:OPENAI_API_KEY";
  r.key.problems = {"env_unset"};
  failDns(r, "nxdomain");
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::KeyMissing) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "no key was read from env:OPENAI_API_KEY")) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "nxdomain")) << "every finding stays in evidence\n" << dump(r);
}

TEST(ClassifyPrecedence, KeyMalformedNamesTheProblemsAndFingerprintOnly) {
  const std::string raw = "\"" + kOpenAIKey + "\"\r\n";
  auto k = inspectKey(providers::openai_provider, raw, "file:/run/credentials/pathwatchd.service/openai", true);
  RouteResult r = openaiAnswer(401, kNoKey, false);
  r.key = k.layer;
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::KeyMalformed) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "sk-proj…MxYA")) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "surrounding_quotes")) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "trailing_newline")) << dump(r);
  for (const auto& e : r.evidence) EXPECT_EQ(e.find(kOpenAIKey), std::string::npos) << e;
}

// ---------------------------------------------------------------- dns

TEST(ClassifyPrecedence, AllResolversFailedIsDnsFailed) {
  RouteResult r = healthyRoute(spec("openai"), true);
  DnsAnswer second;
  second.resolver = "1.1.1.1";
  r.dns.answers.push_back(second);
  failDns(r, "servfail");
  r.dns.answers[1].error = "timeout";
  r.tcp = {};
  r.tls = {};
  r.http = {};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::DnsFailed) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "resolver system failed: servfail")) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "resolver 1.1.1.1 failed: timeout")) << dump(r);
}

TEST(ClassifyPrecedence, BogonInTheAnswerUsedIsDnsTampered) {
  RouteResult r = healthyRoute(spec("openai"), true);
  r.dns.answers[0].resolver = "1.1.1.1";
  r.dns.answers[0].addresses = {"0.0.0.0"};
  r.dns.answers[0].bogons = {"0.0.0.0"};
  r.dns.addresses = {"0.0.0.0"};
  r.tcp.status = LayerStatus::Fail;
  r.tcp.error = "connection_refused";
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::DnsTampered) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "dns: resolver 1.1.1.1 answered 0.0.0.0 (bogon)")) << dump(r);
}

TEST(ClassifyPrecedence, BogonFromOneResolverWhileOthersDifferIsDnsTamperedEvenIfTheCallWorks) {
  RouteResult r = openaiAnswer(200, kModels);
  DnsAnswer liar;
  liar.resolver = "8.8.8.8";
  liar.addresses = {"198.18.0.1"};
  liar.bogons = {"198.18.0.1"};
  r.dns.answers.push_back(liar);
  r.dns.resolvers_disagree = true;
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::DnsTampered) << dump(r);
}

TEST(ClassifyPrecedence, DisagreeingAnswerThatFailsTlsIsDnsTampered) {
  RouteResult r = healthyRoute(spec("openai"), true);
  DnsAnswer odd;
  odd.resolver = "1.1.1.1";
  odd.addresses = {"203.0.113.50"};
  r.dns.answers.push_back(odd);
  r.dns.resolvers_disagree = true;
  r.tls.status = LayerStatus::Fail;
  r.tls.error = "tls_hostname_mismatch";
  r.tls.issuer = "CN=sinkhole.example";
  r.tls.ca_file_ok = false;
  r.tls.public_root = false;
  r.http = {};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::DnsTampered) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "resolvers disagree")) << dump(r);
}

TEST(ClassifyPrecedence, GeoDnsDisagreementWithGoodTlsIsNotTampering) {
  RouteResult r = openaiAnswer(200, kModels);
  DnsAnswer other;
  other.resolver = "1.1.1.1";
  other.addresses = {"198.18.0.99"};
  r.dns.answers.push_back(other);
  r.dns.resolvers_disagree = true;
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::Ok) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "resolvers disagree")) << dump(r);
}

// As the engine fills it: the probe went to the honest address and worked;
// the odd answer (disjoint set) got its own TLS check (DnsAnswer::tls_ok).
RouteResult oddAnswerRoute(std::optional<bool> tls_ok, const std::string& tls_error) {
  RouteResult r = openaiAnswer(200, kModels);
  r.tls.public_root = true;
  DnsAnswer odd;
  odd.resolver = "198.18.53.2";
  odd.addresses = {"198.18.66.6"};
  odd.tls_ok = tls_ok;
  odd.tls_error = tls_error;
  r.dns.answers.push_back(odd);
  r.dns.resolvers_disagree = true;
  return r;
}

struct OddCase {
  std::optional<bool> tls_ok;
  const char* tls_error;
  Verdict verdict;
};

TEST(ClassifyPrecedence, OddAnswerFailingItsOwnTlsCheckIsDnsTamperedEvenIfTheCallWorks) {
  for (const OddCase& c : {OddCase{false, "tls_expired", Verdict::DnsTampered},
                           OddCase{false, "tls_hostname_mismatch", Verdict::DnsTampered},
                           OddCase{false, "tls_unknown_authority", Verdict::DnsTampered},
                           OddCase{false, "tls_handshake_failed", Verdict::DnsTampered},
                           OddCase{false, "not_publicly_trusted", Verdict::DnsTampered},
                           OddCase{false, "self-signed certificate in certificate chain", Verdict::DnsTampered},
                           // Unreachable is not "fails TLS": no claim about the answer.
                           OddCase{false, "connection_refused", Verdict::Ok},
                           OddCase{false, "timeout", Verdict::Ok},
                           // Passes TLS: honest geo-DNS. Unchecked: nothing to say.
                           OddCase{true, "", Verdict::Ok},
                           OddCase{std::nullopt, "", Verdict::Ok}}) {
    RouteResult r = oddAnswerRoute(c.tls_ok, c.tls_error);
    classifyRoute(spec("openai"), r);
    EXPECT_EQ(r.verdict, c.verdict) << c.tls_error << "\n" << dump(r);
    if (c.verdict == Verdict::DnsTampered) {
      EXPECT_TRUE(hasEvidence(r, "resolver 198.18.53.2 answered 198.18.66.6, which fails TLS for api.openai.com"))
          << dump(r);
      EXPECT_TRUE(hasEvidence(r, c.tls_error)) << dump(r);
    }
  }
}

TEST(ClassifyPrecedence, OddAnswerNotPubliclyTrustedIsNoProofWhenTheUsedOneIsNotEither) {
  // A private CA or an inspecting network: every address fails the public roots alike.
  RouteResult r = oddAnswerRoute(false, "not_publicly_trusted");
  r.tls.public_root = false;
  r.tls.ca_file_ok = true;
  classifyRoute(spec("openai"), r);
  EXPECT_NE(r.verdict, Verdict::DnsTampered) << dump(r);
}

TEST(ClassifyPrecedence, OddAnswerVerdictSurvivesReclassification) {
  // check.cc classifies every route again after the engine did.
  RouteResult r = oddAnswerRoute(false, "tls_expired");
  classifyRoute(spec("openai"), r);
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::DnsTampered) << dump(r);
}

// ---------------------------------------------------------------- proxy, tcp

TEST(ClassifyPrecedence, ProxyConnectFailureIsProxyFailed) {
  RouteResult r = healthyRoute(spec("openai"), true);
  r.dns.status = LayerStatus::Skipped;
  r.dns.reason = "the proxy resolves names";
  r.dns.answers.clear();
  r.tcp.status = LayerStatus::Fail;
  r.tcp.error = "connection_refused";
  r.tcp.via_proxy = true;
  r.tcp.attempts = {TcpAttempt{"127.0.0.1:3128", LayerStatus::Fail, "connection_refused", 0.2}};
  r.tls = {};
  r.http = {};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::ProxyFailed) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "(the route's proxy)")) << dump(r);
}

struct ProxyCase {
  int proxy_code;
  const char* http_error;
  Verdict verdict;
};

TEST(ClassifyPrecedence, ProxyAnswersToConnect) {
  for (const ProxyCase& c : {ProxyCase{407, "proxy_auth_required", Verdict::ProxyFailed},
                             ProxyCase{502, "proxy_refused", Verdict::ProxyFailed},
                             ProxyCase{503, "", Verdict::ProxyFailed},
                             ProxyCase{403, "proxy_refused", Verdict::MiddleboxBlocked},
                             ProxyCase{0, "proxy_unreachable", Verdict::ProxyFailed}}) {
    RouteResult r = healthyRoute(spec("anthropic"), true);
    r.tcp.via_proxy = true;
    r.tls = {};
    r.http = {};
    r.http.proxy_code = c.proxy_code;
    if (*c.http_error) {
      r.http.status = LayerStatus::Fail;
      r.http.error = c.http_error;
    } else {
      r.http.status = LayerStatus::Skipped;
    }
    classifyRoute(spec("anthropic"), r);
    EXPECT_EQ(r.verdict, c.verdict) << c.proxy_code << " " << c.http_error << "\n" << dump(r);
  }
}

// As engine.cc fills a fetch that failed at the proxy: tcp failed via the
// proxy with fetch's error, http skipped, the CONNECT answer in proxy_code.
TEST(ClassifyPrecedence, ProxyAnswersToConnectAsTheEngineFillsThem) {
  for (const ProxyCase& c : {ProxyCase{403, "proxy_refused", Verdict::MiddleboxBlocked},
                             ProxyCase{0, "proxy_forbidden", Verdict::MiddleboxBlocked},
                             ProxyCase{407, "proxy_auth_required", Verdict::ProxyFailed},
                             ProxyCase{502, "proxy_refused", Verdict::ProxyFailed},
                             ProxyCase{503, "proxy_refused", Verdict::ProxyFailed},
                             ProxyCase{0, "proxy_unreachable", Verdict::ProxyFailed},
                             ProxyCase{0, "proxy_protocol_error", Verdict::ProxyFailed}}) {
    RouteResult r = healthyRoute(spec("openai"), true);
    r.dns.status = LayerStatus::Skipped;
    r.dns.reason = "resolved by the proxy (http://198.18.3.1:3128)";
    r.dns.answers.clear();
    r.dns.addresses.clear();
    r.tcp.status = LayerStatus::Fail;
    r.tcp.via_proxy = true;
    r.tcp.error = c.http_error;
    r.tcp.address = "198.18.3.1:3128";
    r.tcp.attempts = {TcpAttempt{"198.18.3.1:3128", LayerStatus::Ok, "", 0.3}};
    r.tls = {};
    r.tls.reason = "proxy failed";
    r.http = {};
    r.http.reason = "proxy failed";
    r.http.proxy_code = c.proxy_code;
    classifyRoute(spec("openai"), r);
    EXPECT_EQ(r.verdict, c.verdict) << c.proxy_code << " " << c.http_error << "\n" << dump(r);
    if (c.proxy_code != 0) {
      EXPECT_TRUE(hasEvidence(r, "answered CONNECT with " + std::to_string(c.proxy_code))) << dump(r);
    }
    if (c.verdict == Verdict::MiddleboxBlocked) {
      EXPECT_TRUE(hasEvidence(r, "the provider never saw the request") ||
                  hasEvidence(r, "the proxy blocks this destination"))
          << dump(r);
    }
  }
}

TEST(ClassifyPrecedence, TcpFailureOnEveryAddressIsConnectFailed) {
  RouteResult r = healthyRoute(spec("discord"), false);
  r.tcp.status = LayerStatus::Fail;
  r.tcp.error = "timeout";
  r.tcp.attempts = {TcpAttempt{"198.18.0.10:443", LayerStatus::Fail, "timeout", 5000},
                    TcpAttempt{"[2001:db8::10]:443", LayerStatus::Fail, "unreachable", 1}};
  r.tls = {};
  r.http = {};
  classifyRoute(spec("discord"), r);
  EXPECT_EQ(r.verdict, Verdict::ConnectFailed) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "tcp: 198.18.0.10:443 timeout")) << dump(r);
}

// ---------------------------------------------------------------- tls

TEST(ClassifyPrecedence, TlsHandshakeFailureIsTlsFailed) {
  RouteResult r = healthyRoute(spec("openai"), true);
  r.tls.status = LayerStatus::Fail;
  r.tls.error = "connection_reset";
  r.tls.public_root.reset();
  r.tls.ca_file_ok.reset();
  r.http = {};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::TlsFailed) << dump(r);
}

TEST(ClassifyPrecedence, TlsFailureWithAnInspectionProductsCertificateIsTlsIntercepted) {
  RouteResult r = healthyRoute(spec("openai"), true);
  r.tls.status = LayerStatus::Fail;
  r.tls.error = "tls_unknown_authority";
  r.tls.issuer = "CN=Zscaler Intermediate Root CA (zscaler.net),O=Zscaler Inc.";
  r.tls.ca_file_ok = false;
  r.tls.public_root = false;
  r.http = {};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::TlsIntercepted) << dump(r);
}

TEST(ClassifyPrecedence, WorkingCallThroughAnInterceptingBoxIsTlsIntercepted) {
  RouteResult r = openaiAnswer(200, kModels);
  r.tls.issuer = "CN=Corp Inspection CA";
  r.tls.ca_file_ok = true;
  r.tls.public_root = false;
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::TlsIntercepted) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "tls: chain verifies with ca_file but not with the public roots: issuer CN=Corp "
                             "Inspection CA"))
      << dump(r);
}

TEST(ClassifyPrecedence, TlsInterceptedOnlyWhenNothingWorseHappened) {
  RouteResult r = openaiAnswer(401, kInvalidKey);
  r.tls.issuer = "CN=Corp Inspection CA";
  r.tls.ca_file_ok = true;
  r.tls.public_root = false;
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::AuthFailed) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "ca_file but not with the public roots")) << dump(r);
}

TEST(ClassifyPrecedence, StalledHandshakeThatWorksWithASmallMssIsAnMtuBlackHole) {
  RouteResult r = healthyRoute(spec("openai"), true);
  r.tls.status = LayerStatus::Fail;
  r.tls.error = "timeout";
  r.tls.public_root.reset();
  r.tls.ca_file_ok.reset();
  r.tls.small_mss = "works";
  r.http = {};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::TlsFailed) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "tls: a handshake with a small MSS (536) works: a path MTU black hole (large packets "
                             "are dropped)"))
      << dump(r);
}

TEST(ClassifyPrecedence, StalledHandshakeThatStallsWithASmallMssTooMakesNoMtuClaim) {
  RouteResult r = healthyRoute(spec("openai"), true);
  r.tls.status = LayerStatus::Fail;
  r.tls.error = "timeout";
  r.tls.small_mss = "fails";
  r.http = {};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::TlsFailed) << dump(r);
  EXPECT_FALSE(hasEvidence(r, "black hole")) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "not a path MTU problem")) << dump(r);
}

// ---------------------------------------------------------------- address families

// The name has IPv4 and IPv6 addresses; the IPv4 attempt carried the request,
// the IPv6 ones (a handshake check) ended with `v6_errors` (empty: worked).
void dualStack(RouteResult& r, std::vector<std::string> v6_errors, std::string ipv6_route = "ok") {
  r.dns.answers[0].addresses = {"198.18.0.10", "fd00:18::10", "fd00:18::11"};
  r.dns.addresses = r.dns.answers[0].addresses;
  r.tcp.attempts = {TcpAttempt{"198.18.0.10:443", LayerStatus::Ok, "", 3.0, "ipv4"}};
  const char* addrs[] = {"[fd00:18::10]:443", "[fd00:18::11]:443"};
  for (std::size_t i = 0; i < v6_errors.size() && i < 2; ++i)
    r.tcp.attempts.push_back(TcpAttempt{addrs[i], v6_errors[i].empty() ? LayerStatus::Ok : LayerStatus::Fail,
                                        v6_errors[i], 1000.0, "ipv6"});
  r.tcp.ipv6_route = std::move(ipv6_route);
}

// ---------------------------------------------------------------- large answers

// The model list as the capture cap leaves it: 64 KB of a multi-MB body, cut
// in the middle of a string, so it parses as nothing.
std::string cappedModelList() {
  std::string body = R"({"object":"list","data":[)";
  while (body.size() < 64 * 1024) body += R"({"id":"gpt-4o-2024-08-06","object":"model","owned_by":"system"},)";
  body.resize(64 * 1024);
  return body;
}

TEST(ClassifyLargeAnswers, ACappedSuccessBodyWithTheMarkerIsOk) {
  RouteResult r = openaiAnswer(200, cappedModelList());
  r.http.body_truncated = true;
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::Ok) << dump(r);
  EXPECT_EQ(r.http.authored_by, "provider");
}

TEST(ClassifyLargeAnswers, ACappedSuccessBodyWithoutTheMarkerProvesNothing) {
  // Status alone is not the provider's word: a 200 from anyone else with a
  // JSON-looking prefix stays unexplained.
  RouteResult r = openaiAnswer(200, cappedModelList());
  r.http.headers = {{"Content-Type", "application/json"}};
  r.http.body_truncated = true;
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::Unexpected) << dump(r);
}

TEST(ClassifyLargeAnswers, ABodyBeyondTheParsedPrefixIsJudgedLikeACappedOne) {
  // A capture cap raised above what the answer parser reads (64 KB): the
  // same judgement, not `unexpected`.
  std::string body = R"({"object":"list","data":[)";
  while (body.size() < 200 * 1024) body += R"({"id":"gpt-4o","object":"model"},)";
  body.back() = ']';
  body += "}";
  RouteResult r = openaiAnswer(200, body);
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::Ok) << dump(r);
}

TEST(ClassifyLargeAnswers, ALargeCappedErrorPageFromABoxStaysTheBoxs) {
  std::string page = "<html><head><title>ERROR: The requested URL could not be retrieved</title></head><body>";
  page += "<p>Access control configuration prevents your request from being allowed at this time.</p>";
  while (page.size() < 64 * 1024) page += "<p>Generated by proxy.corp.example (squid/5.7)</p>\n";
  page.resize(64 * 1024);
  RouteResult r = openaiAnswer(403, page);
  r.http.headers = {{"Server", "squid/5.7"}, {"Content-Type", "text/html;charset=utf-8"},
                    {"X-Squid-Error", "ERR_ACCESS_DENIED 0"}};
  r.http.body_truncated = true;
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::MiddleboxBlocked) << dump(r);
}

TEST(ClassifyFamilies, IPv6DroppedWhileIPv4WorksIsIpv6Broken) {
  RouteResult r = openaiAnswer(200, kModels);
  dualStack(r, {"timeout", "timeout"});
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::Ipv6Broken) << dump(r);
  EXPECT_EQ(causeOf(r.verdict), Cause::Network);
  EXPECT_TRUE(hasEvidence(r, "tcp: [fd00:18::10]:443 timeout")) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "every IPv6 attempt fails (timeout) while IPv4 works")) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "clients that try IPv6 first stall")) << dump(r);
}

TEST(ClassifyFamilies, IPv6RefusedOrItsHandshakeFailingIsIpv6Broken) {
  RouteResult refused = openaiAnswer(200, kModels);
  dualStack(refused, {"connection_refused", "connection_reset"});
  classifyRoute(spec("openai"), refused);
  EXPECT_EQ(refused.verdict, Verdict::Ipv6Broken) << dump(refused);
  EXPECT_TRUE(hasEvidence(refused, "connection_refused, connection_reset")) << dump(refused);

  RouteResult stalled = openaiAnswer(401, kNoKey, false);
  dualStack(stalled, {"tls_timeout"});
  classifyRoute(spec("openai"), stalled);
  EXPECT_EQ(stalled.verdict, Verdict::Ipv6Broken) << dump(stalled);
  EXPECT_TRUE(hasEvidence(stalled, "tls: [fd00:18::10]:443 tls_timeout")) << dump(stalled);
}

TEST(ClassifyFamilies, BothFamiliesWorkingIsOk) {
  RouteResult r = openaiAnswer(200, kModels);
  dualStack(r, {""});
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::Ok) << dump(r);
  EXPECT_FALSE(hasEvidence(r, "IPv6")) << dump(r);
}

TEST(ClassifyFamilies, OneIPv6AddressWorkingIsNotBroken) {
  RouteResult r = openaiAnswer(200, kModels);
  dualStack(r, {"timeout", ""});
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::Ok) << dump(r);
}

TEST(ClassifyFamilies, AHostWithoutAnIPv6RouteIsNotBroken) {
  // The kernel has no IPv6 route (or no IPv6 source address) here: clients
  // get the error at once and use IPv4. Not the path's fault.
  RouteResult r = openaiAnswer(200, kModels);
  dualStack(r, {"network_unreachable", "network_unreachable"}, "network_unreachable");
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::Ok) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "this host has no IPv6 route to api.openai.com on route default "
                             "(network_unreachable): IPv6 is unused here, not broken"))
      << dump(r);

  // A route bound to an IPv4 source address has no IPv6 either.
  RouteResult bound = openaiAnswer(200, kModels);
  dualStack(bound, {"address_family_mismatch"}, "address_family_mismatch");
  classifyRoute(spec("openai"), bound);
  EXPECT_EQ(bound.verdict, Verdict::Ok) << dump(bound);

  // Without the kernel's word (an older result), the errors themselves tell.
  RouteResult old = openaiAnswer(200, kModels);
  dualStack(old, {"address_not_available"}, "");
  classifyRoute(spec("openai"), old);
  EXPECT_EQ(old.verdict, Verdict::Ok) << dump(old);
  RouteResult old_timeout = openaiAnswer(200, kModels);
  dualStack(old_timeout, {"timeout"}, "");
  classifyRoute(spec("openai"), old_timeout);
  EXPECT_EQ(old_timeout.verdict, Verdict::Ipv6Broken) << dump(old_timeout);
}

TEST(ClassifyFamilies, UnreachableFromAfarWithAnIPv6RouteHereIsBroken) {
  // A router on the path answers "no route" (ENETUNREACH from afar): this
  // host has IPv6, the path does not carry it.
  RouteResult r = openaiAnswer(200, kModels);
  dualStack(r, {"network_unreachable"}, "ok");
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::Ipv6Broken) << dump(r);
}

TEST(ClassifyFamilies, AProviderRefusalOverIPv4StillWins) {
  RouteResult r = openaiAnswer(401, kInvalidKey);
  dualStack(r, {"timeout", "timeout"});
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::AuthFailed) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "every IPv6 attempt fails")) << "the finding stays in evidence\n" << dump(r);
}

TEST(ClassifyFamilies, BrokenIPv6IsWorseThanInterception) {
  RouteResult r = openaiAnswer(200, kModels);
  r.tls.issuer = "CN=Corp Inspection CA";
  r.tls.public_root = false;
  dualStack(r, {"timeout"});
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::Ipv6Broken) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "ca_file but not with the public roots")) << dump(r);
}

TEST(ClassifyFamilies, OnlyIPv6AddressesAllFailingIsConnectFailed) {
  RouteResult r = healthyRoute(spec("openai"), true);
  r.dns.answers[0].addresses = {"fd00:18::10"};
  r.dns.addresses = {"fd00:18::10"};
  r.tcp = {};
  r.tcp.status = LayerStatus::Fail;
  r.tcp.error = "timeout";
  r.tcp.ipv6_route = "ok";
  r.tcp.attempts = {TcpAttempt{"[fd00:18::10]:443", LayerStatus::Fail, "timeout", 1500.0, "ipv6"}};
  r.tls = {};
  r.http = {};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::ConnectFailed) << dump(r);
}

TEST(ClassifyFamilies, OnlyIPv6AddressesWorkingIsOk) {
  RouteResult r = openaiAnswer(200, kModels);
  r.dns.answers[0].addresses = {"fd00:18::10"};
  r.dns.addresses = {"fd00:18::10"};
  r.tcp.address = "[fd00:18::10]:443";
  r.tcp.ipv6_route = "ok";
  r.tcp.attempts = {TcpAttempt{"[fd00:18::10]:443", LayerStatus::Ok, "", 2.0, "ipv6"}};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::Ok) << dump(r);
}

TEST(ClassifyFamilies, IPv4BrokenToo) {
  // Neither family reaches the provider: the lowest layer, not ipv6_broken.
  RouteResult r = healthyRoute(spec("openai"), true);
  dualStack(r, {"timeout"});
  r.tcp.attempts[0] = TcpAttempt{"198.18.0.10:443", LayerStatus::Fail, "timeout", 1500.0, "ipv4"};
  r.tcp.status = LayerStatus::Fail;
  r.tcp.error = "timeout";
  r.tls = {};
  r.http = {};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::ConnectFailed) << dump(r);
}

// ---------------------------------------------------------------- http

TEST(ClassifyPrecedence, BrokenExchangeIsHttpFailed) {
  for (const char* error : {"connection_reset", "timeout", "bad_response", "empty_reply"}) {
    RouteResult r = healthyRoute(spec("gemini"), true);
    r.http.status = LayerStatus::Fail;
    r.http.error = error;
    classifyRoute(spec("gemini"), r);
    EXPECT_EQ(r.verdict, Verdict::HttpFailed) << error << "\n" << dump(r);
  }
}

TEST(ClassifyPrecedence, LowerLayerWinsOverALeftoverAnswer) {
  RouteResult r = openaiAnswer(401, kInvalidKey);
  r.tcp.status = LayerStatus::Fail;
  r.tcp.error = "connection_reset";
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::ConnectFailed) << dump(r);
}

// ---------------------------------------------------------------- echo

TEST(ClassifyPrecedence, HeadersRewrittenBeatsAuthFailed) {
  RouteResult r = openaiAnswer(401, kInvalidKey);
  r.echo.status = LayerStatus::Altered;
  r.echo.changed = {"authorization"};
  r.echo.added = {"via"};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::HeadersRewritten) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "echo: the path changed authorization")) << dump(r);
}

TEST(ClassifyPrecedence, NoKeyAnswerOnAPathThatStripsTheAuthHeaderIsHeadersRewritten) {
  RouteResult r = healthyRoute(spec("anthropic"), false);
  r.http.code = 401;
  r.http.headers = anthropicHeaders();
  r.http.body = R"({"type":"error","error":{"type":"authentication_error","message":"x-api-key header is required"}})";
  r.echo.status = LayerStatus::Altered;
  r.echo.removed = {"x-api-key"};
  classifyRoute(spec("anthropic"), r);
  EXPECT_EQ(r.verdict, Verdict::HeadersRewritten) << dump(r);
}

TEST(ClassifyPrecedence, AddedHeadersAloneAreEvidenceNotTheVerdict) {
  RouteResult r = openaiAnswer(401, kInvalidKey);
  r.echo.status = LayerStatus::Altered;
  r.echo.added = {"via", "x-forwarded-for"};
  r.echo.case_changed = {"authorization"};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::AuthFailed) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "echo: the path added via, x-forwarded-for")) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "echo: the path changed the case of authorization")) << dump(r);
}

TEST(ClassifyPrecedence, RegionRefusalStaysRegionEvenOnAnAlteredPath) {
  RouteResult r = openaiAnswer(
      403,
      R"({"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}})");
  r.echo.status = LayerStatus::Altered;
  r.echo.removed = {"authorization"};
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::RegionBlocked) << dump(r);
}

// ---------------------------------------------------------------- evidence

TEST(ClassifyEvidence, EdgeRefusalReadsLikeASentence) {
  RouteResult r = healthyRoute(spec("anthropic"), true);
  r.http.code = 403;
  r.http.headers = {{"content-type", "application/json"}, {"server", "cloudflare"}, {"cf-ray", "8e9f1a2b3c4d5e73-HKG"}};
  r.http.body = R"({"error":{"type":"forbidden","message":"Request not allowed"}})";
  r.egress = Egress{"198.18.1.2", "HK", "HKG", "anthropic"};
  classifyRoute(spec("anthropic"), r);
  EXPECT_EQ(r.verdict, Verdict::RegionBlocked) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "http: 403 from the provider's edge (Cloudflare, no request-id): \"Request not allowed\""))
      << dump(r);
  EXPECT_TRUE(hasEvidence(r, "cf-ray site HKG")) << dump(r);
  EXPECT_TRUE(hasEvidence(r, "egress: 198.18.1.2 (HK)")) << dump(r);
}

TEST(ClassifyEvidence, TheKeyNeverAppearsEvenWhenTheAnswerEchoesIt) {
  // A hostile box echoing the key it received: the key must not leave classify.
  RouteResult r = openaiAnswer(401, std::string(R"({"error":{"message":"Incorrect API key provided: )") + kOpenAIKey +
                                        R"(","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})");
  r.http.headers.push_back({"X-Echo", kOpenAIKey});
  classifyRoute(spec("openai"), r);
  EXPECT_EQ(r.verdict, Verdict::AuthFailed);
  EXPECT_EQ(r.http.message.find(kOpenAIKey), std::string::npos) << r.http.message;
  for (const auto& e : r.evidence) {
    EXPECT_EQ(e.find(kOpenAIKey), std::string::npos) << e;
    EXPECT_EQ(e.find(kOpenAIKey.substr(10, 30)), std::string::npos) << e;
  }
}

// ---------------------------------------------------------------- robustness

TEST(AnalyzeAnswerRobustness, GarbageBodiesNeverThrowAndStayBounded) {
  std::mt19937 rng(20261127);
  std::vector<std::string> bodies = {
      "",
      "{",
      "{\"error\":",
      "{\"error\":{\"message\":123,\"type\":[],\"code\":{}}}",
      "{\"type\":\"error\",\"error\":\"string\"}",
      "{\"error\":{\"details\":\"nope\",\"status\":7}}",
      "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"message\":\"x\",\"details\":[1,null,{\"@type\":5},{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"-5s\"}]}}",
      "[1,2,3]",
      "null",
      std::string(100000, '['),
      std::string(50000, '{') + std::string(50000, '}'),
      "\xff\xfe\x00\x01{\"error\"",
      std::string("{\"message\":\"\xc3\x28\xa0\xa1\",\"code\":1e400}"),
  };
  for (int i = 0; i < 300; ++i) {
    std::string b(rng() % 4096, '\0');
    for (char& c : b) c = static_cast<char>(rng() % 256);
    if (i % 3 == 0 && !b.empty()) b[0] = '{';
    bodies.push_back(b);
  }
  for (const ProviderDef* k : {&providers::openai_provider, &providers::anthropic_provider, &providers::gemini_provider, &providers::discord_provider}) {
    const ProviderSpec& s = spec(std::string(k->id).c_str());
    for (const auto& body : bodies) {
      for (int code : {200, 302, 401, 403, 429, 503}) {
        RouteResult r = healthyRoute(s, true);
        r.http.code = code;
        r.http.body = body;
        r.http.headers = {{"Retry-After", std::string(body.substr(0, 8))}, {"Location", body.substr(0, 40)},
                          {"content-type", "application/json"}};
        ASSERT_NO_THROW(classifyRoute(s, r));
        EXPECT_FALSE(r.http.authored_by.empty());
        EXPECT_LE(r.http.message.size(), 310u);
        if (r.http.retry_after_s) {
          EXPECT_GE(*r.http.retry_after_s, 0.0);
        }
      }
    }
  }
}

// ---------------------------------------------------------------- coverage

// Each verdict of docs/verdicts.md is reachable from some layers (diagnose adds nothing new).
TEST(ClassifyCoverage, EverySpecVerdictCanBeProduced) {
  const std::vector<std::string> spec_names = {
      "ok", "key_missing", "key_malformed", "auth_failed", "permission_denied", "quota_exhausted",
      "rate_limited", "region_blocked", "middlebox_blocked", "headers_rewritten", "tls_intercepted",
      "dns_failed", "dns_tampered", "connect_failed", "tls_failed", "http_failed", "proxy_failed",
      "provider_error", "unexpected", "ipv6_broken"};
  std::set<Verdict> seen;
  auto run = [&](RouteResult r, const char* provider = "openai") {
    classifyRoute(spec(provider), r);
    seen.insert(r.verdict);
  };
  run(openaiAnswer(200, kModels));
  {
    RouteResult r = openaiAnswer(401, kNoKey, false);
    r.key.status = LayerStatus::Fail;
    r.key.error = "key_missing";
    run(r);
  }
  {
    RouteResult r = openaiAnswer(401, kNoKey, false);
    r.key = inspectKey(providers::openai_provider, " x ", "env:OPENAI_API_KEY", true).layer;
    run(r);
  }
  run(openaiAnswer(401, kInvalidKey));
  run(openaiAnswer(404, R"({"error":{"message":"no","type":"invalid_request_error","param":null,"code":"model_not_found"}})"));
  run(openaiAnswer(429, R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})"));
  run(openaiAnswer(429, R"({"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}})"));
  run(openaiAnswer(403, R"({"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","param":null,"code":"unsupported_country_region_territory"}})"));
  {
    RouteResult r = openaiAnswer(403, "<html><head><title>Web Site Blocked</title></head><body>SonicWall</body></html>");
    r.http.headers = {{"content-type", "text/html"}};
    run(r);
  }
  run(openaiAnswer(401, kNoKey, true));
  {
    RouteResult r = openaiAnswer(200, kModels);
    r.tls.public_root = false;
    run(r);
  }
  {
    RouteResult r = openaiAnswer(200, kModels);
    failDns(r, "nxdomain");
    run(r);
  }
  {
    RouteResult r = openaiAnswer(200, kModels);
    r.dns.answers[0].bogons = {"127.0.0.1"};
    run(r);
  }
  {
    RouteResult r = openaiAnswer(200, kModels);
    r.tcp.status = LayerStatus::Fail;
    run(r);
  }
  {
    RouteResult r = openaiAnswer(200, kModels);
    r.tls.status = LayerStatus::Fail;
    r.tls.error = "tls_expired";
    r.tls.public_root.reset();
    run(r);
  }
  {
    RouteResult r = openaiAnswer(200, kModels);
    r.http.status = LayerStatus::Fail;
    r.http.error = "timeout";
    run(r);
  }
  {
    RouteResult r = openaiAnswer(200, kModels);
    r.http.proxy_code = 407;
    run(r);
  }
  run(openaiAnswer(503, R"({"error":{"message":"overloaded","type":"server_error","param":null,"code":"server_is_overloaded"}})"));
  {
    RouteResult r = openaiAnswer(200, "<html>hello</html>");
    r.http.headers = {{"content-type", "text/html"}};
    run(r);
  }
  {
    RouteResult r = openaiAnswer(200, kModels);
    dualStack(r, {"timeout"});
    run(r);
  }
  for (const auto& name : spec_names) {
    auto v = verdictFromString(name);
    ASSERT_TRUE(v.has_value()) << name;
    EXPECT_TRUE(seen.count(*v)) << name << " was never produced";
  }
  EXPECT_EQ(seen.size(), spec_names.size());
}

}  // namespace
}  // namespace pathwatch
