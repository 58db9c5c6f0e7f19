// Header echo, client side: the request built for an echo endpoint, the
// comparison with what the echo saw, and the discount of the echo's own front end.
#include "providers/provider_def.h"
#include "echo.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace pathwatch {
namespace {

using ::testing::TestWithParam;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// What `pathwatch echo-server` answers for a request carrying `headers`.
std::string pathwatchEcho(const HeaderList& headers, const std::string& client = "203.0.113.7") {
  nlohmann::json j;
  j["request_line"] = "GET /echo HTTP/1.1";
  j["method"] = "GET";
  j["path"] = "/echo";
  j["headers"] = nlohmann::json::array();
  for (const auto& [n, v] : headers) j["headers"].push_back({n, v});
  j["client"] = {{"address", client}, {"port", 50000}};
  return j.dump();
}

// What httpbin's /anything answers: names canonicalised, an object.
std::string httpbinEcho(const HeaderList& headers, const std::string& origin) {
  nlohmann::json j;
  j["args"] = nlohmann::json::object();
  j["headers"] = nlohmann::json::object();
  for (const auto& [n, v] : headers) {
    std::string name = lower(n);
    bool start = true;
    for (char& c : name) {
      if (start) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      start = c == '-';
    }
    j["headers"][name] = v;
  }
  j["origin"] = origin;
  j["url"] = "https://httpbin.test/anything";
  return j.dump();
}

const EchoRequest& openaiRequest() {
  static const EchoRequest r =
      buildEchoRequest("https://echo.test:8443/echo", {&providers::openai_provider}, 42);
  return r;
}

HeaderList::iterator findHeader(HeaderList& h, const std::string& lower_name) {
  return std::find_if(h.begin(), h.end(),
                      [&](const auto& p) { return lower(p.first) == lower_name; });
}

TEST(BuildEchoRequestTest, CanaryInProviderShapeAndDeterministic) {
  struct Case {
    const ProviderDef* kind;
    std::string header, prefix;
  };
  for (const Case& c : {Case{&providers::openai_provider, "authorization", "Bearer sk-proj-pw-canary-"},
                        Case{&providers::anthropic_provider, "x-api-key", "sk-ant-api03-pw-canary-"},
                        Case{&providers::gemini_provider, "x-goog-api-key", "AIza-pw-canary-"},
                        Case{&providers::discord_provider, "authorization", "Bot pw-canary-"}}) {
    const EchoRequest a = buildEchoRequest("https://echo.test/echo", {c.kind}, 7);
    const EchoRequest b = buildEchoRequest("https://echo.test/echo", {c.kind}, 7);
    const EchoRequest other = buildEchoRequest("https://echo.test/echo", {c.kind}, 8);
    EXPECT_EQ(a.headers, b.headers);
    EXPECT_NE(a.canaries.front(), other.canaries.front());
    EXPECT_EQ(a.canaries.front().rfind(c.prefix, 0), 0u) << a.canaries.front();
    HeaderList h = a.headers;
    auto it = findHeader(h, c.header);
    ASSERT_NE(it, h.end()) << c.header;
    EXPECT_EQ(it->second, a.canaries.front());
  }
  EXPECT_EQ(buildEchoRequest("https://e.test/", {&providers::gemini_provider}, 1).canaries.front().size(), 39u);
}

TEST(BuildEchoRequestTest, NamesInMixedCaseAndHostAsCurlWouldSendIt) {
  const EchoRequest& r = openaiRequest();
  EXPECT_EQ(r.url, "https://echo.test:8443/echo");
  HeaderList h = r.headers;
  auto host = findHeader(h, "host");
  ASSERT_NE(host, h.end());
  EXPECT_EQ(host->second, "echo.test:8443");
  ASSERT_NE(findHeader(h, "x-pathwatch-probe"), h.end());
  ASSERT_NE(findHeader(h, "x-pathwatch-case-check"), h.end());
  for (const auto& [name, value] : r.headers) {
    std::string upper = name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_NE(name, lower(name));  // lower-casing on the path would be visible
    EXPECT_NE(name, upper);
  }
  EXPECT_NE(findHeader(h, "user-agent")->first, "User-Agent");  // canonicalising, too
  HeaderList v6 = buildEchoRequest("http://[::1]:9000/e", {&providers::openai_provider}, 3).headers;
  EXPECT_EQ(findHeader(v6, "host")->second, "[::1]:9000");
  HeaderList plain = buildEchoRequest("https://echo.test/e", {&providers::openai_provider}, 3).headers;
  EXPECT_EQ(findHeader(plain, "host")->second, "echo.test");
}

struct CompareCase {
  const char* name;
  // Turns what was sent into what the echo saw.
  std::function<void(HeaderList&)> path;
  LayerStatus status;
  std::vector<std::string> added, removed, changed, case_changed;
};

class CompareEchoTest : public TestWithParam<CompareCase> {};

TEST_P(CompareEchoTest, PathwatchFormat) {
  const CompareCase& c = GetParam();
  HeaderList seen = openaiRequest().headers;
  c.path(seen);
  EchoLayer out;
  compareEcho(openaiRequest(), 200, {}, pathwatchEcho(seen), out);
  EXPECT_EQ(out.status, c.status) << toString(out.status);
  EXPECT_EQ(out.added, c.added);
  EXPECT_EQ(out.removed, c.removed);
  EXPECT_EQ(out.changed, c.changed);
  EXPECT_EQ(out.case_changed, c.case_changed);
  EXPECT_EQ(out.client_address, "203.0.113.7");
  EXPECT_EQ(out.endpoint, "https://echo.test:8443/echo");
  for (const auto& e : out.evidence) {
    EXPECT_EQ(e.find("sk-proj"), std::string::npos) << "evidence carries a header value: " << e;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, CompareEchoTest,
    ::testing::Values(
        CompareCase{"untouched", [](HeaderList&) {}, LayerStatus::Ok, {}, {}, {}, {}},
        CompareCase{"reordered_only",
                    [](HeaderList& h) { std::reverse(h.begin(), h.end()); },
                    LayerStatus::Ok, {}, {}, {}, {}},
        CompareCase{"auth_removed",
                    [](HeaderList& h) { h.erase(findHeader(h, "authorization")); },
                    LayerStatus::Altered, {}, {"authorization"}, {}, {}},
        CompareCase{"via_added",
                    [](HeaderList& h) { h.emplace_back("Via", "1.1 squid"); },
                    LayerStatus::Altered, {"via"}, {}, {}, {}},
        CompareCase{"names_lower_cased",
                    [](HeaderList& h) {
                      for (auto& p : h) p.first = lower(p.first);
                    },
                    LayerStatus::Altered, {}, {}, {},
                    {"host", "user-agent", "accept", "authorization", "x-pathwatch-probe",
                     "x-pathwatch-case-check"}},
        CompareCase{"auth_value_changed",
                    [](HeaderList& h) { findHeader(h, "authorization")->second = "Bearer sk-x"; },
                    LayerStatus::Altered, {}, {}, {"authorization"}, {}},
        CompareCase{"value_case_changed",
                    [](HeaderList& h) {
                      auto& v = findHeader(h, "x-pathwatch-case-check")->second;
                      v = lower(v);
                    },
                    LayerStatus::Altered, {}, {}, {"x-pathwatch-case-check"}, {}},
        CompareCase{"hop_by_hop_noise_ignored",
                    [](HeaderList& h) {
                      h.emplace_back("Connection", "close");
                      h.emplace_back("Content-Length", "0");
                      h.emplace_back("Proxy-Connection", "Keep-Alive");
                    },
                    LayerStatus::Ok, {}, {}, {}, {}},
        CompareCase{"duplicate_of_sent_header",
                    [](HeaderList& h) { h.emplace_back("x-pathwatch-probe", "again"); },
                    LayerStatus::Altered, {"x-pathwatch-probe"}, {}, {}, {}}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(CompareEchoTest, AuthRemovalSaidInEvidenceWithoutValues) {
  HeaderList seen = openaiRequest().headers;
  seen.erase(findHeader(seen, "authorization"));
  EchoLayer out;
  compareEcho(openaiRequest(), 200, {}, pathwatchEcho(seen), out);
  bool said = false;
  for (const auto& e : out.evidence) {
    said |= e.find("auth header (authorization) did not reach the echo") != std::string::npos;
  }
  EXPECT_TRUE(said);
}

TEST(CompareEchoTest, ReplacedKeyNeverReachesEvidence) {
  HeaderList seen = openaiRequest().headers;
  findHeader(seen, "authorization")->second = "Bearer sk-proj-REALKEYINJECTEDBYPROXY";
  EchoLayer out;
  compareEcho(openaiRequest(), 200, {}, pathwatchEcho(seen), out);
  EXPECT_EQ(out.status, LayerStatus::Altered);
  for (const auto& e : out.evidence) EXPECT_EQ(e.find("REALKEY"), std::string::npos) << e;
}

TEST(CompareEchoTest, HttpbinFormatCannotJudgeCase) {
  HeaderList seen = openaiRequest().headers;
  EchoLayer out;
  compareEcho(openaiRequest(), 200, {},
              httpbinEcho(seen, "10.0.0.5, 203.0.113.9"), out);
  EXPECT_EQ(out.status, LayerStatus::Ok);
  EXPECT_TRUE(out.case_changed.empty());
  EXPECT_EQ(out.client_address, "203.0.113.9");
  ASSERT_FALSE(out.evidence.empty());
  EXPECT_NE(out.evidence.front().find("case"), std::string::npos);

  seen.emplace_back("X-Amzn-Trace-Id", "Root=1-abc");  // httpbin.org's own front end
  seen.emplace_back("X-Forwarded-For", "10.0.0.5");
  seen.erase(findHeader(seen, "authorization"));
  EchoLayer altered;
  compareEcho(openaiRequest(), 200, {}, httpbinEcho(seen, "203.0.113.9"), altered);
  EXPECT_EQ(altered.status, LayerStatus::Altered);
  EXPECT_EQ(altered.added, std::vector<std::string>{"x-forwarded-for"});
  EXPECT_EQ(altered.removed, std::vector<std::string>{"authorization"});
  EXPECT_TRUE(altered.case_changed.empty());
}

struct BadAnswer {
  const char* name;
  int status;
  std::string body;
  const char* error;
};

class CompareEchoFails : public TestWithParam<BadAnswer> {};

TEST_P(CompareEchoFails, Error) {
  EchoLayer out;
  compareEcho(openaiRequest(), GetParam().status, {}, GetParam().body, out);
  EXPECT_EQ(out.status, LayerStatus::Fail);
  EXPECT_EQ(out.error, GetParam().error);
  EXPECT_FALSE(out.evidence.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Table, CompareEchoFails,
    ::testing::Values(
        BadAnswer{"http_403", 403, "<html>blocked</html>", "echo_http_403"},
        BadAnswer{"http_502", 502, "{\"headers\": {}}", "echo_http_502"},
        BadAnswer{"html", 200, "<html>captive portal</html>", "echo_bad_response"},
        BadAnswer{"empty", 200, "", "echo_bad_response"},
        BadAnswer{"json_array", 200, "[1,2]", "echo_bad_response"},
        BadAnswer{"no_headers", 200, "{\"origin\": \"1.2.3.4\"}", "echo_bad_response"},
        BadAnswer{"headers_string", 200, "{\"headers\": \"x\"}", "echo_bad_response"},
        BadAnswer{"bad_pair", 200, "{\"request_line\": \"GET /\", \"headers\": [[\"a\"]]}",
                  "echo_bad_response"},
        BadAnswer{"number_value", 200, "{\"headers\": {\"A\": 1}}", "echo_bad_response"},
        BadAnswer{"deep", 200, std::string(5000, '[') + std::string(5000, ']'),
                  "echo_bad_response"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

RouteResult routeWithEcho(const std::string& name, std::vector<std::string> added,
                          std::vector<std::string> removed = {}) {
  RouteResult r;
  r.route = name;
  r.echo.added = std::move(added);
  r.echo.removed = std::move(removed);
  r.echo.status = (r.echo.added.empty() && r.echo.removed.empty()) ? LayerStatus::Ok
                                                                   : LayerStatus::Altered;
  return r;
}

// One echo per route, as the report builder hands them over.
void discount(std::vector<RouteResult>& routes) {
  std::vector<EchoLayer*> echoes;
  for (auto& r : routes) echoes.push_back(&r.echo);
  discountCommonEchoAdditions(echoes);
}

TEST(DiscountCommonEchoAdditionsTest, CommonAdditionsAreTheEchosOwn) {
  std::vector<RouteResult> routes = {routeWithEcho("a", {"x-real-ip", "via"}),
                                     routeWithEcho("b", {"x-real-ip"}),
                                     routeWithEcho("c", {"x-real-ip"}, {"authorization"})};
  RouteResult skipped;
  skipped.route = "d";
  skipped.echo.status = LayerStatus::Skipped;
  routes.push_back(skipped);
  discount(routes);
  EXPECT_EQ(routes[0].echo.added, std::vector<std::string>{"via"});
  EXPECT_EQ(routes[0].echo.status, LayerStatus::Altered);
  EXPECT_TRUE(routes[1].echo.added.empty());
  EXPECT_EQ(routes[1].echo.status, LayerStatus::Ok);
  EXPECT_TRUE(routes[2].echo.added.empty());
  EXPECT_EQ(routes[2].echo.status, LayerStatus::Altered);  // the removal still counts
  EXPECT_EQ(routes[3].echo.status, LayerStatus::Skipped);
  bool noted = false;
  for (const auto& e : routes[1].echo.evidence) noted |= e.find("x-real-ip") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(DiscountCommonEchoAdditionsTest, SingleRouteIsNotDiscounted) {
  std::vector<RouteResult> routes = {routeWithEcho("a", {"x-real-ip"})};
  RouteResult failed;
  failed.echo.status = LayerStatus::Fail;  // a failed echo is not a result to compare
  routes.push_back(failed);
  discount(routes);
  EXPECT_EQ(routes[0].echo.added, std::vector<std::string>{"x-real-ip"});
  EXPECT_EQ(routes[0].echo.status, LayerStatus::Altered);
}

TEST(DiscountCommonEchoAdditionsTest, NothingCommonChangesNothing) {
  std::vector<RouteResult> routes = {routeWithEcho("a", {"via"}), routeWithEcho("b", {})};
  discount(routes);
  EXPECT_EQ(routes[0].echo.added, std::vector<std::string>{"via"});
  EXPECT_EQ(routes[0].echo.status, LayerStatus::Altered);
  EXPECT_TRUE(routes[0].echo.evidence.empty());
}

TEST(IsEchoNoiseHeaderTest, OnlyHopByHopAndFraming) {
  EXPECT_TRUE(isEchoNoiseHeader("Content-Length"));
  EXPECT_TRUE(isEchoNoiseHeader("connection"));
  EXPECT_FALSE(isEchoNoiseHeader("via"));
  EXPECT_FALSE(isEchoNoiseHeader("x-forwarded-for"));
  EXPECT_FALSE(isEchoNoiseHeader("authorization"));
}

}  // namespace
}  // namespace pathwatch
