// The Prometheus text of docs/metrics.md: escaping, rate-limit kinds, what the
// collector keeps across results and reloads, cardinality, no secret in any
// label, and `promtool check metrics` on a realistic daemon state.
#include "metrics.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "pathwatch/config.h"
#include "pathwatch/key.h"

namespace pathwatch {
namespace {

using nlohmann::json;

Config configWith(const std::vector<std::string>& providers,
                  const std::vector<std::string>& routes) {
  Config c = defaultConfig();
  for (auto& p : c.providers)
    p.enabled = std::find(providers.begin(), providers.end(), p.spec.name) != providers.end();
  c.routes.clear();
  for (const auto& name : routes) {
    RouteConfig r;
    r.name = name;
    c.routes.push_back(r);
  }
  return c;
}

// A result as the scheduler hands it over: every layer ran.
RouteResult result(const std::string& provider, const std::string& route, Verdict v) {
  RouteResult r;
  r.provider = provider;
  r.route = route;
  r.verdict = v;
  r.started_at = "2026-11-27T21:00:00Z";
  r.key.status = LayerStatus::Ok;
  r.dns.status = LayerStatus::Ok;
  r.dns.ms = 2.125;
  r.tcp.status = LayerStatus::Ok;
  r.tcp.ms = 0.4;
  r.tls.status = LayerStatus::Ok;
  r.tls.ms = 3.0;
  r.http.status = LayerStatus::Ok;
  r.http.ms = 80.5;
  r.http.code = v == Verdict::Ok ? 200 : 403;
  r.echo.status = LayerStatus::Skipped;
  return r;
}

// The sample lines of `text` whose name and labels contain every piece.
std::vector<std::string> lines(const std::string& text, std::initializer_list<std::string> pieces) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    bool all = true;
    for (const auto& p : pieces) all = all && line.find(p) != std::string::npos;
    if (all) out.push_back(line);
  }
  return out;
}

// The value of the one sample named `series` exactly (name{labels}); NaN when absent.
double value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return std::nan("");
}

bool has(const std::string& text, const std::string& series) {
  return !std::isnan(value(text, series));
}

// The format's own rules, checked line by line: HELP then TYPE before a
// family's samples, each family once, every sample of a known family, sample
// lines well formed, no series twice.
void expectWellFormed(const std::string& text) {
  static const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? (NaN|[+-]Inf|-?[0-9.eE+-]+)$)");
  std::set<std::string> families, series;
  std::string current;
  bool typed = false;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    SCOPED_TRACE("line " + std::to_string(n) + ": " + line);
    if (line.rfind("# HELP ", 0) == 0) {
      current = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(families.insert(current).second) << "family twice";
      typed = false;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      EXPECT_EQ(line.substr(7, line.find(' ', 7) - 7), current);
      typed = true;
      continue;
    }
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, sample));
    EXPECT_EQ(m[1].str(), current);
    EXPECT_TRUE(typed);
    EXPECT_TRUE(series.insert(line.substr(0, line.rfind(' '))).second) << "series twice";
  }
  EXPECT_TRUE(text.empty() || text.back() == '\n');
}

// ---------------------------------------------------------------- escaping

TEST(MetricsEscape, LabelValuesPerTheFormat) {
  struct Row {
    std::string in, out;
  } rows[] = {
      {"plain", "plain"},
      {R"(back\slash)", R"(back\\slash)"},
      {R"(say "hi")", R"(say \"hi\")"},
      {"two\nlines", R"(two\nlines)"},
      {"tab\tstays", "tab\tstays"},
      {"caf\xC3\xA9", "caf\xC3\xA9"},                            // valid UTF-8 kept
      {"bad\xFFmid", "bad\xEF\xBF\xBDmid"},                      // an invalid byte replaced
      {"cut\xE2\x82", "cut\xEF\xBF\xBD\xEF\xBF\xBD"},            // a truncated sequence
      {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                  // an overlong '/'
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // a surrogate
  };
  for (const auto& r : rows) EXPECT_EQ(escapeLabelValue(r.in), r.out) << r.in;
}

TEST(MetricsEscape, RouteNamesThatNeedEscapingRenderWellFormed) {
  MetricsCollector c("0.1.0");
  c.onConfig(configWith({"openai"}, {"a\"b", "c\\d", "e\nf"}));
  for (const char* route : {"a\"b", "c\\d", "e\nf"})
    c.onRouteResult(result("openai", route, Verdict::Ok));
  const std::string text = c.render({});
  expectWellFormed(text);
  EXPECT_TRUE(has(text, R"(pathwatch_up{provider="openai",route="a\"b"})"));
  EXPECT_TRUE(has(text, R"(pathwatch_up{provider="openai",route="c\\d"})"));
  EXPECT_TRUE(has(text, R"(pathwatch_up{provider="openai",route="e\nf"})"));
}

// ---------------------------------------------------------------- rate limits

TEST(MetricsRateLimits, KindsFromTheProvidersHeaders) {
  struct Row {
    const char* header;
    std::optional<std::string> kind;
  } rows[] = {
      {"x-ratelimit-remaining-requests", "requests"},  // OpenAI, Groq
      {"x-ratelimit-remaining-tokens", "tokens"},
      {"anthropic-ratelimit-requests-remaining", "requests"},  // Anthropic
      {"anthropic-ratelimit-input-tokens-remaining", "input_tokens"},
      {"anthropic-ratelimit-output-tokens-remaining", "output_tokens"},
      {"x-ratelimit-remaining", "requests"},               // Discord's bucket
      {"x-ratelimit-remaining-req-minute", "req_minute"},  // Mistral
      {"x-ratelimit-remaining-tokens-minute", "tokens_minute"},
      {"x-ratelimit-limit-requests", std::nullopt},  // a limit, not what remains
      {"x-ratelimit-reset-requests", std::nullopt},
      {"anthropic-ratelimit-tokens-reset", std::nullopt},
      {"x-ratelimit-bucket", std::nullopt},
      {"retry-after", std::nullopt},
      {"x-ratelimit-remaining-requests-", std::nullopt},  // an empty word
      {"x-ratelimit-remaining-sk-proj-abcdefghijklmnop",
       std::nullopt},  // words outside the vocabulary
      {"x-ratelimit-remaining-requests-tokens-minute-day", std::nullopt},  // too many words
  };
  for (const auto& r : rows) EXPECT_EQ(rateLimitKind(r.header), r.kind) << r.header;
}

TEST(MetricsRateLimits, OnlyPlainNonNegativeNumbersAndAtMostEightKinds) {
  std::map<std::string, std::string> rate = {
      {"x-ratelimit-remaining-requests", "499"},
      {"x-ratelimit-remaining-tokens", "29000.5"},
      {"anthropic-ratelimit-input-tokens-remaining", "12ms"},  // not a number
      {"anthropic-ratelimit-output-tokens-remaining", "-1"},
      {"x-ratelimit-remaining", "nan"},
      {"x-ratelimit-limit-requests", "500"},
  };
  auto got = rateRemaining(rate);
  EXPECT_EQ(got, (std::map<std::string, double>{{"requests", 499}, {"tokens", 29000.5}}));

  std::map<std::string, std::string> many;
  const char* words[] = {"requests", "tokens", "input", "output", "minute",
                         "hour",     "day",    "month", "week",   "second"};
  for (const char* w : words) many[std::string("x-ratelimit-remaining-") + w] = "1";
  EXPECT_EQ(rateRemaining(many).size(), 8u);
}

// ---------------------------------------------------------------- collector

TEST(MetricsCollector, UpVerdictAndCountersFollowTheResults) {
  MetricsCollector c("1.2.3");
  c.onConfig(configWith({"openai"}, {"default", "vpn"}));
  std::string text = c.render({});
  // Before any result: counters at 0, no verdict yet.
  EXPECT_EQ(value(text, R"(pathwatch_checks_total{provider="openai",route="default"})"), 0);
  EXPECT_FALSE(has(text, R"(pathwatch_up{provider="openai",route="default"})"));
  EXPECT_EQ(value(text, R"(pathwatch_build_info{version="1.2.3"})"), 1);

  c.onRouteResult(result("openai", "default", Verdict::Ok));
  c.onRouteResult(result("openai", "vpn", Verdict::Ok));
  c.onRouteResult(result("openai", "default", Verdict::RegionBlocked));
  c.onRouteResult(result("openai", "default", Verdict::RegionBlocked));
  text = c.render({});
  expectWellFormed(text);
  EXPECT_EQ(value(text, R"(pathwatch_up{provider="openai",route="default"})"), 0);
  EXPECT_EQ(value(text, R"(pathwatch_up{provider="openai",route="vpn"})"), 1);
  EXPECT_EQ(
      value(
          text,
          R"(pathwatch_verdict{provider="openai",route="default",verdict="region_blocked",cause="region"})"),
      1);
  EXPECT_EQ(
      value(text,
            R"(pathwatch_verdict{provider="openai",route="default",verdict="ok",cause="none"})"),
      0);
  // vpn only ever saw ok: one series.
  EXPECT_EQ(lines(text, {"pathwatch_verdict{", "route=\"vpn\""}).size(), 1u);
  EXPECT_EQ(value(text, R"(pathwatch_checks_total{provider="openai",route="default"})"), 3);
  EXPECT_EQ(
      value(
          text,
          R"(pathwatch_check_failures_total{provider="openai",route="default",verdict="region_blocked"})"),
      2);
  EXPECT_TRUE(lines(text, {"pathwatch_check_failures_total{", "route=\"vpn\""}).empty());

  // Back to ok: the failure counter stays, the verdict series flip.
  c.onRouteResult(result("openai", "default", Verdict::Ok));
  text = c.render({});
  EXPECT_EQ(value(text, R"(pathwatch_up{provider="openai",route="default"})"), 1);
  EXPECT_EQ(
      value(
          text,
          R"(pathwatch_verdict{provider="openai",route="default",verdict="region_blocked",cause="region"})"),
      0);
  EXPECT_EQ(
      value(text,
            R"(pathwatch_verdict{provider="openai",route="default",verdict="ok",cause="none"})"),
      1);
  EXPECT_EQ(
      value(
          text,
          R"(pathwatch_check_failures_total{provider="openai",route="default",verdict="region_blocked"})"),
      2);
}

TEST(MetricsCollector, VerdictSeriesAreBoundedByTheVerdictsSeen) {
  MetricsCollector c("0.1.0");
  c.onConfig(configWith({"openai"}, {"default"}));
  // Many results cycling through every verdict the enum has.
  std::set<std::string> names;
  for (int round = 0; round < 50; ++round)
    for (int v = 0; v <= static_cast<int>(Verdict::Unexpected); ++v) {
      c.onRouteResult(result("openai", "default", static_cast<Verdict>(v)));
      names.insert(std::string(toString(static_cast<Verdict>(v))));
    }
  const std::string text = c.render({});
  const auto series = lines(text, {"pathwatch_verdict{"});
  EXPECT_EQ(series.size(), names.size());
  EXPECT_EQ(lines(text, {"pathwatch_verdict{", "} 1"}).size(), 1u);
  EXPECT_EQ(lines(text, {"pathwatch_check_failures_total{"}).size(), names.size() - 1);
  // Names and causes come from the enums' own strings.
  for (const auto& n : names) {
    auto v = verdictFromString(n);
    ASSERT_TRUE(v);
    EXPECT_EQ(
        lines(text, {"verdict=\"" + n + "\",cause=\"" + std::string(toString(causeOf(*v))) + "\""})
            .size(),
        1u)
        << n;
  }
}

TEST(MetricsCollector, LayersThatRanAndTheirSeconds) {
  MetricsCollector c("0.1.0");
  c.onConfig(configWith({"openai"}, {"default"}));
  RouteResult r = result("openai", "default", Verdict::DnsFailed);
  r.dns.status = LayerStatus::Fail;
  r.dns.ms = 1500.25;
  r.tcp.status = r.tls.status = r.http.status = LayerStatus::Skipped;
  c.onRouteResult(result("openai", "default", Verdict::Ok));  // every layer first
  c.onRouteResult(r);
  const std::string text = c.render({});
  EXPECT_EQ(
      value(text,
            R"(pathwatch_layer_duration_seconds{provider="openai",route="default",layer="dns"})"),
      1.50025);
  // The layers that did not run this time have no sample (not the old one).
  EXPECT_EQ(lines(text, {"pathwatch_layer_duration_seconds{"}).size(), 1u);
  // Whole microseconds, printed as such.
  EXPECT_NE(text.find("layer=\"dns\"} 1.50025\n"), std::string::npos) << text;
}

TEST(MetricsCollector, EgressIsTheCurrentIdentityOnly) {
  MetricsCollector c("0.1.0");
  c.onConfig(configWith({"openai", "anthropic"}, {"default", "vpn"}));
  RouteResult r = result("openai", "default", Verdict::Ok);
  r.egress = Egress{"198.51.100.7", "DE", "FRA", "openai"};
  c.onRouteResult(r);
  RouteResult v = result("openai", "vpn", Verdict::Ok);
  v.egress = Egress{"2001:db8::7", "NL", "AMS", "openai"};
  c.onRouteResult(v);
  std::string text = c.render({});
  EXPECT_EQ(
      value(text,
            R"(pathwatch_egress_info{route="default",ip="198.51.100.7",country="DE",colo="FRA"})"),
      1);
  EXPECT_EQ(
      value(text, R"(pathwatch_egress_info{route="vpn",ip="2001:db8::7",country="NL",colo="AMS"})"),
      1);
  // The route moves: the old identity goes away.
  r.egress = Egress{"203.0.113.9", "HK", "HKG", "anthropic"};
  r.provider = "anthropic";
  c.onRouteResult(r);
  // A result with no egress (the trace failed) keeps the last one known.
  RouteResult none = result("openai", "default", Verdict::ConnectFailed);
  c.onRouteResult(none);
  text = c.render({});
  EXPECT_EQ(
      lines(text, {"pathwatch_egress_info{", "route=\"default\""}),
      std::vector<std::string>{
          R"(pathwatch_egress_info{route="default",ip="203.0.113.9",country="HK",colo="HKG"} 1)"});
  EXPECT_EQ(lines(text, {"pathwatch_egress_info{"}).size(), 2u);
  // Config order, whatever order the results came in.
  EXPECT_LT(text.find("route=\"default\",ip="), text.find("route=\"vpn\",ip="));
}

TEST(MetricsCollector, ReloadKeepsWhatStaysAndDropsWhatWent) {
  MetricsCollector c("0.1.0");
  c.onConfig(configWith({"openai", "anthropic"}, {"default", "vpn"}));
  for (const char* p : {"openai", "anthropic"})
    for (const char* rt : {"default", "vpn"}) {
      RouteResult r = result(p, rt, Verdict::RegionBlocked);
      r.egress = Egress{"198.51.100.7", "DE", "FRA", p};
      c.onRouteResult(r);
    }
  c.onConfig(configWith({"openai"}, {"default", "office"}));
  // A late result of a removed pair changes nothing.
  c.onRouteResult(result("anthropic", "vpn", Verdict::Ok));
  const std::string text = c.render({});
  expectWellFormed(text);
  EXPECT_EQ(value(text, R"(pathwatch_checks_total{provider="openai",route="default"})"), 1);
  EXPECT_EQ(value(text, R"(pathwatch_checks_total{provider="openai",route="office"})"), 0);
  EXPECT_TRUE(lines(text, {"anthropic"}).empty());
  EXPECT_TRUE(lines(text, {"route=\"vpn\""}).empty());
  EXPECT_EQ(lines(text, {"pathwatch_egress_info{"}).size(), 1u);
}

TEST(MetricsCollector, AlertsByEventFromZeroAndSinksAsTheAlerterSays) {
  MetricsCollector c("0.1.0");
  c.onConfig(configWith({"openai"}, {"default"}));
  std::string text = c.render({{"webhook[0]", 0}, {"exec[0]", 0}});
  for (auto ev : kAlertEvents)
    EXPECT_EQ(value(text, "pathwatch_alerts_total{event=\"" + std::string(ev) + "\"}"), 0) << ev;
  c.onEvent({{"event", "problem"}, {"provider", "openai"}});
  c.onEvent({{"event", "problem"}});
  c.onEvent({{"event", "egress_changed"}, {"provider", nullptr}});
  // Not an event name of ours: never a label.
  c.onEvent({{"event", "sk-proj-Zx9"}});
  c.onEvent({{"event", std::string(40, 'a')}});
  c.onEvent({{"event", 3}});
  c.onEvent(json::object());
  text = c.render({{"webhook[0]", 2}, {"exec[0]", 1}});
  expectWellFormed(text);
  EXPECT_EQ(value(text, R"(pathwatch_alerts_total{event="problem"})"), 2);
  EXPECT_EQ(value(text, R"(pathwatch_alerts_total{event="egress_changed"})"), 1);
  EXPECT_EQ(lines(text, {"pathwatch_alerts_total{"}).size(), std::size(kAlertEvents));
  EXPECT_EQ(value(text, R"(pathwatch_alert_sink_failures_total{sink="webhook[0]"})"), 2);
  EXPECT_EQ(value(text, R"(pathwatch_alert_sink_failures_total{sink="exec[0]"})"), 1);
}

TEST(MetricsRender, ExactTextOfASmallState) {
  MetricsState s;
  s.version = "0.1.0";
  PairMetrics p;
  p.provider = "openai";
  p.route = "default";
  p.last = Verdict::RegionBlocked;
  p.seen = {Verdict::Ok, Verdict::RegionBlocked};
  p.checks = 7;
  p.failures = {{Verdict::RegionBlocked, 2}};
  p.layer_seconds = {{"tls", 0.003}, {"dns", 0.0021}};
  p.rate_remaining = {{"requests", 499}};
  p.last_check_unix = 1795971600;
  s.pairs.push_back(p);
  s.egress.push_back({"default", Egress{"203.0.113.7", "HK", "HKG", "openai"}});
  s.alerts = {{"problem", 1}};
  s.sink_failures = {{"webhook[0]", 0}};
  EXPECT_EQ(
      renderMetrics(s),
      "# HELP pathwatch_build_info Always 1; the version of pathwatchd.\n"
      "# TYPE pathwatch_build_info gauge\n"
      "pathwatch_build_info{version=\"0.1.0\"} 1\n"
      "# HELP pathwatch_up 1 when the pair's last verdict is ok, else 0.\n"
      "# TYPE pathwatch_up gauge\n"
      "pathwatch_up{provider=\"openai\",route=\"default\"} 0\n"
      "# HELP pathwatch_verdict 1 for the pair's last verdict, 0 for the other verdicts "
      "the pair has had.\n"
      "# TYPE pathwatch_verdict gauge\n"
      "pathwatch_verdict{provider=\"openai\",route=\"default\",verdict=\"ok\",cause=\"none\"} 0\n"
      "pathwatch_verdict{provider=\"openai\",route=\"default\",verdict=\"region_blocked\","
      "cause=\"region\"} 1\n"
      "# HELP pathwatch_layer_duration_seconds How long each layer of the pair's last check "
      "took (layers that ran).\n"
      "# TYPE pathwatch_layer_duration_seconds gauge\n"
      "pathwatch_layer_duration_seconds{provider=\"openai\",route=\"default\",layer=\"dns\"} "
      "0.0021\n"
      "pathwatch_layer_duration_seconds{provider=\"openai\",route=\"default\",layer=\"tls\"} "
      "0.003\n"
      "# HELP pathwatch_last_check_timestamp_seconds When the pair's last check started, in "
      "seconds since the epoch.\n"
      "# TYPE pathwatch_last_check_timestamp_seconds gauge\n"
      "pathwatch_last_check_timestamp_seconds{provider=\"openai\",route=\"default\"} "
      "1795971600\n"
      "# HELP pathwatch_checks_total Results recorded for the pair.\n"
      "# TYPE pathwatch_checks_total counter\n"
      "pathwatch_checks_total{provider=\"openai\",route=\"default\"} 7\n"
      "# HELP pathwatch_check_failures_total Results whose verdict was not ok, by verdict.\n"
      "# TYPE pathwatch_check_failures_total counter\n"
      "pathwatch_check_failures_total{provider=\"openai\",route=\"default\",verdict="
      "\"region_blocked\"} 2\n"
      "# HELP pathwatch_egress_info 1 for the route's current egress identity (address, "
      "country, colo).\n"
      "# TYPE pathwatch_egress_info gauge\n"
      "pathwatch_egress_info{route=\"default\",ip=\"203.0.113.7\",country=\"HK\",colo=\"HKG\"} 1\n"
      "# HELP pathwatch_rate_limit_remaining What the provider's rate-limit headers said "
      "remains, by kind, at the last check.\n"
      "# TYPE pathwatch_rate_limit_remaining gauge\n"
      "pathwatch_rate_limit_remaining{provider=\"openai\",route=\"default\",kind=\"requests\"} "
      "499\n"
      "# HELP pathwatch_alerts_total Alerts raised, by event.\n"
      "# TYPE pathwatch_alerts_total counter\n"
      "pathwatch_alerts_total{event=\"problem\"} 1\n"
      "# HELP pathwatch_alert_sink_failures_total Alerts a sink did not deliver (gave up "
      "after its tries, dropped from a full queue, or removed by a reload).\n"
      "# TYPE pathwatch_alert_sink_failures_total counter\n"
      "pathwatch_alert_sink_failures_total{sink=\"webhook[0]\"} 0\n");
}

TEST(MetricsRender, NumbersNaNAndInfinities) {
  MetricsState s;
  PairMetrics p;
  p.provider = "openai";
  p.route = "default";
  p.rate_remaining = {{"requests", std::nan("")}, {"tokens", HUGE_VAL}, {"input_tokens", 1e21}};
  s.pairs.push_back(p);
  const std::string text = renderMetrics(s);
  EXPECT_NE(text.find("kind=\"requests\"} NaN\n"), std::string::npos);
  EXPECT_NE(text.find("kind=\"tokens\"} +Inf\n"), std::string::npos);
  EXPECT_NE(text.find("kind=\"input_tokens\"} 1e+21\n"), std::string::npos);
}

// ---------------------------------------------------------------- secrets

TEST(MetricsSecrets, AKeyInEveryFieldThatCouldCarryOneNeverShows) {
  const std::string key = "sk-proj-Q7xkR2mZt9LwVb4NpHs8DcYf3GjTa6UeKo1XiWn5ErM0qPlA";
  const std::string fp = fingerprint(key);
  const std::string middle = key.substr(10, 20);
  ASSERT_FALSE(fp.empty());
  MetricsCollector c("0.1.0");
  Config cfg = configWith({"openai"}, {"default"});
  WebhookConfig hook;
  hook.url = "https://hooks.example.net/services/" + key;
  cfg.alerts.webhooks.push_back(hook);
  cfg.alerts.exec.push_back({"/usr/local/bin/page", key});
  c.onConfig(cfg);
  RouteResult r = result("openai", "default", Verdict::AuthFailed);
  r.key.fingerprint = fp;
  r.key.source = "env:" + key;
  r.key.looks_like = key;
  r.key.problems = {key};
  r.evidence = {"key " + fp + " rejected", key};
  r.http.headers = {{"authorization", "Bearer " + key}, {"x-echo", key}};
  r.http.body = R"({"error":{"message":"Incorrect API key provided: )" + key + R"("}})";
  r.http.message = key;
  r.http.error_code = key;
  r.http.error_type = key;
  r.http.url = "https://api.openai.com/v1/models?key=" + key;
  r.http.rate = {{"x-ratelimit-remaining-" + key, "5"},
                 {"x-ratelimit-remaining-requests", key},
                 {"x-ratelimit-remaining-tokens", "100"}};
  r.http.authored_by = key;
  r.dns.error = key;
  r.dns.detail = key;
  r.tcp.address = key;
  r.tls.issuer = key;
  r.tls.subject = key;
  r.tls.verify_error = key;
  r.echo.status = LayerStatus::Altered;
  r.echo.endpoint = "https://echo.example.net/" + key;
  r.echo.removed = {key};
  r.echo.client_address = key;
  r.egress = Egress{"198.51.100.7", key.substr(0, 2), key.substr(3, 4), key};
  c.onRouteResult(r);
  // An egress whose address is not an address: no series at all.
  RouteResult bad = result("openai", "default", Verdict::AuthFailed);
  bad.egress = Egress{key, "DE", "FRA", "openai"};
  c.onEvent({{"event", "problem"}, {"summary", key}, {"provider", key}});
  const std::string text = c.render({{"webhook[0]", 1}, {"exec[0]", 0}});
  expectWellFormed(text);
  for (const std::string& secret : {key, fp, middle, std::string("Q7xkR2mZ")})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << "\n" << text;
  EXPECT_EQ(text.find("hooks.example.net"), std::string::npos);
  // What could be told is still told: the kind that parses, a well-shaped egress.
  EXPECT_EQ(
      value(text,
            R"(pathwatch_rate_limit_remaining{provider="openai",route="default",kind="tokens"})"),
      100);
  EXPECT_EQ(lines(text, {"pathwatch_rate_limit_remaining{"}).size(), 1u);
  EXPECT_EQ(
      value(text, R"(pathwatch_egress_info{route="default",ip="198.51.100.7",country="",colo=""})"),
      1);
  c.onRouteResult(bad);
  EXPECT_EQ(lines(c.render({}), {"pathwatch_egress_info{", key}).size(), 0u);
}

// ---------------------------------------------------------------- promtool

// `promtool check metrics` on `text`: its exit code and output; -1 when
// promtool is not installed.
int promtool(const std::string& text, std::string* output) {
  if (::access("/usr/bin/promtool", X_OK) != 0) return -1;
  char path[] = "/tmp/pw-metrics-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return -2;
  ::close(fd);
  std::ofstream(path) << text;
  const std::string cmd = "/usr/bin/promtool check metrics < " + std::string(path) + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  std::size_t n;
  while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  const int st = p ? ::pclose(p) : -1;
  ::unlink(path);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -3;
}

// 4 providers x 4 routes as a daemon holds them after a while: verdicts
// that changed, rate headers, egress per route, alerts, failing sinks.
std::string realisticText() {
  MetricsCollector c("0.1.0");
  Config cfg = configWith({"openai", "anthropic", "gemini", "discord"},
                          {"default", "vpn", "office", "ssh-tunnel"});
  c.onConfig(cfg);
  const std::map<std::string, Egress> egress = {
      {"default", {"203.0.113.7", "HK", "HKG", "openai"}},
      {"vpn", {"198.51.100.20", "DE", "FRA", "openai"}},
      {"office", {"192.0.2.44", "NL", "AMS", "anthropic"}},
      {"ssh-tunnel", {"2001:db8::44", "US", "SJC", "openai"}}};
  const Verdict cycle[] = {Verdict::Ok, Verdict::RegionBlocked, Verdict::RateLimited,
                           Verdict::TlsIntercepted, Verdict::Ok};
  int i = 0;
  for (int round = 0; round < 5; ++round)
    for (const char* p : {"openai", "anthropic", "gemini", "discord"})
      for (const auto& [route, e] : egress) {
        RouteResult r = result(p, route, cycle[(round + i++) % 5]);
        r.echo.status = LayerStatus::Ok;
        r.echo.ms = 40.75;
        r.egress = e;
        r.http.rate = {{"x-ratelimit-remaining-requests", std::to_string(499 - round)},
                       {"x-ratelimit-remaining-tokens", "29000"},
                       {"anthropic-ratelimit-input-tokens-remaining", "80000"},
                       {"x-ratelimit-reset-requests", "12ms"}};
        c.onRouteResult(r);
      }
  c.onEvent({{"event", "problem"}});
  c.onEvent({{"event", "resolved"}});
  return c.render({{"webhook[0]", 3}, {"webhook[1]", 0}, {"exec[0]", 1}});
}

TEST(MetricsPromtool, ARealisticDaemonStatePassesCheckMetrics) {
  const std::string text = realisticText();
  expectWellFormed(text);
  EXPECT_EQ(lines(text, {"pathwatch_up{"}).size(), 16u);
  std::string out;
  const int rc = promtool(text, &out);
  if (rc == -1) GTEST_SKIP() << "promtool not installed (apt-get install prometheus)";
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "");  // no lint finding either
}

TEST(MetricsPromtool, PromtoolCatchesWhatThisTestWouldMiss) {
  // The check above can fail: promtool refuses a counter without _total and
  // an unescaped label value.
  std::string out;
  int rc = promtool("# HELP x_bad a\n# TYPE x_bad counter\nx_bad 1\n", &out);
  if (rc == -1) GTEST_SKIP() << "promtool not installed";
  EXPECT_NE(rc, 0) << out;
  out.clear();
  EXPECT_NE(promtool("# HELP x a\n# TYPE x gauge\nx{a=\"b\nc\"} 1\n", &out), 0) << out;
}

}  // namespace
}  // namespace pathwatch
