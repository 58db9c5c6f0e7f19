#include "metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "pathwatch/address.h"
#include "pathwatch/clock.h"
#include "pathwatch/config.h"

namespace pathwatch {
namespace {

constexpr std::size_t kMaxRateKinds = 8;
constexpr std::size_t kMaxEventName = 32;

// Words a rate-limit header name may be made of (docs/providers.md): what is
// counted and over which window. Anything else is not turned into a label.
const std::set<std::string_view> kRateWords = {
    "requests", "request", "req",   "tokens", "token",  "input", "output", "minute",
    "hour",     "day",     "month", "week",   "second", "daily", "monthly"};

void appendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? end : buf);
}

void appendCount(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? end : buf);
}

// Length of the valid UTF-8 sequence at s[i], 0 when it is not one.
std::size_t utf8Length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned min = 0;  // the smallest code point of that length (no overlong forms)
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  unsigned cp = c & (0x7F >> n);
  for (std::size_t k = 1; k < n; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// A label value per the format: backslash, quote and newline escaped, invalid
// UTF-8 replaced.
void appendEscaped(std::string& out, std::string_view v) {
  for (std::size_t i = 0; i < v.size();) {
    const char c = v[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      const std::size_t n = utf8Length(v, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD for a byte that is not UTF-8
        ++i;
        continue;
      }
      out.append(v.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
}

// One family at a time: HELP and TYPE, then samples with their labels.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;  // fixed text: nothing to escape
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  void sample(Labels labels, double v) {
    head(labels);
    appendNumber(out_, v);
    out_ += '\n';
  }
  void count(Labels labels, uint64_t v) {
    head(labels);
    appendCount(out_, v);
    out_ += '\n';
  }

 private:
  void head(Labels labels) {
    out_ += name_;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        appendEscaped(out_, v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
  }

  std::string& out_;
  std::string_view name_;
};

bool allOf(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}
bool isUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool isUpperAlnum(char c) { return isUpper(c) || (c >= '0' && c <= '9'); }
bool isEventChar(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }

// The identity as a label set, or nullopt when the address is not an IP
// literal; a country or colo not of Cloudflare's shapes is left empty.
std::optional<Egress> labelableEgress(const Egress& e) {
  if (!isIpLiteral(e.ip)) return std::nullopt;
  Egress out;
  out.ip = e.ip;
  if (e.country.size() == 2 && allOf(e.country, isUpperAlnum)) out.country = e.country;
  if (e.colo.size() >= 3 && e.colo.size() <= 4 && allOf(e.colo, isUpper)) out.colo = e.colo;
  return out;
}

const char* kLayers[] = {"dns", "tcp", "tls", "http", "echo"};

const LayerBase& layerOf(const RouteResult& r, std::string_view name) {
  if (name == "dns") return r.dns;
  if (name == "tcp") return r.tcp;
  if (name == "tls") return r.tls;
  if (name == "http") return r.http;
  return r.echo;
}

}  // namespace

std::string escapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  appendEscaped(out, v);
  return out;
}

std::optional<std::string> rateLimitKind(std::string_view name) {
  for (std::string_view prefix : {"x-ratelimit-", "anthropic-ratelimit-"}) {
    if (name.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = name.substr(prefix.size());
    std::string kind;
    bool remaining = false;
    int words = 0;
    for (bool more = true; more;) {
      const std::size_t dash = rest.find('-');
      const std::string_view word = rest.substr(0, dash);
      more = dash != std::string_view::npos;
      if (more) rest.remove_prefix(dash + 1);
      if (word == "remaining" && !remaining) {
        remaining = true;
        continue;
      }
      if (!kRateWords.count(word) || ++words > 3) return std::nullopt;  // "" included
      if (!kind.empty()) kind += '_';
      kind += word;
    }
    if (!remaining) return std::nullopt;
    if (kind.empty()) kind = "requests";  // a bare x-ratelimit-remaining counts requests
    return kind;
  }
  return std::nullopt;
}

std::map<std::string, double> rateRemaining(const std::map<std::string, std::string>& rate) {
  std::map<std::string, double> out;
  for (const auto& [name, value] : rate) {
    auto kind = rateLimitKind(name);
    if (!kind || out.count(*kind)) continue;
    double v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(v) || v < 0)
      continue;
    if (out.size() >= kMaxRateKinds) break;
    out.emplace(std::move(*kind), v);
  }
  return out;
}

std::string renderMetrics(const MetricsState& s) {
  std::string out;
  out.reserve(512 + s.pairs.size() * 1400);
  Writer w(out);

  w.family("pathwatch_build_info", "gauge", "Always 1; the version of pathwatchd.");
  w.sample({{"version", s.version}}, 1);

  w.family("pathwatch_up", "gauge", "1 when the pair's last verdict is ok, else 0.");
  for (const auto& p : s.pairs)
    if (p.last)
      w.sample({{"provider", p.provider}, {"route", p.route}}, *p.last == Verdict::Ok ? 1 : 0);

  w.family("pathwatch_verdict", "gauge",
           "1 for the pair's last verdict, 0 for the other verdicts the pair has had.");
  for (const auto& p : s.pairs) {
    if (!p.last) continue;
    for (Verdict v : p.seen)
      w.sample({{"provider", p.provider},
                {"route", p.route},
                {"verdict", toString(v)},
                {"cause", toString(causeOf(v))}},
               v == *p.last ? 1 : 0);
  }

  w.family("pathwatch_layer_duration_seconds", "gauge",
           "How long each layer of the pair's last check took (layers that ran).");
  for (const auto& p : s.pairs)
    for (const char* layer : kLayers)
      if (auto it = p.layer_seconds.find(layer); it != p.layer_seconds.end())
        w.sample({{"provider", p.provider}, {"route", p.route}, {"layer", layer}}, it->second);

  w.family("pathwatch_last_check_timestamp_seconds", "gauge",
           "When the pair's last check started, in seconds since the epoch.");
  for (const auto& p : s.pairs)
    if (p.last && p.last_check_unix > 0)
      w.sample({{"provider", p.provider}, {"route", p.route}}, p.last_check_unix);

  w.family("pathwatch_checks_total", "counter", "Results recorded for the pair.");
  for (const auto& p : s.pairs) w.count({{"provider", p.provider}, {"route", p.route}}, p.checks);

  w.family("pathwatch_check_failures_total", "counter",
           "Results whose verdict was not ok, by verdict.");
  for (const auto& p : s.pairs)
    for (const auto& [v, n] : p.failures)
      w.count({{"provider", p.provider}, {"route", p.route}, {"verdict", toString(v)}}, n);

  w.family("pathwatch_egress_info", "gauge",
           "1 for the route's current egress identity (address, country, colo).");
  for (const auto& [route, e] : s.egress)
    if (auto l = labelableEgress(e))
      w.sample({{"route", route}, {"ip", l->ip}, {"country", l->country}, {"colo", l->colo}}, 1);

  w.family("pathwatch_rate_limit_remaining", "gauge",
           "What the provider's rate-limit headers said remains, by kind, at the last check.");
  for (const auto& p : s.pairs)
    for (const auto& [kind, v] : p.rate_remaining)
      w.sample({{"provider", p.provider}, {"route", p.route}, {"kind", kind}}, v);

  w.family("pathwatch_alerts_total", "counter", "Alerts raised, by event.");
  for (const auto& [event, n] : s.alerts) w.count({{"event", event}}, n);

  w.family("pathwatch_alert_sink_failures_total", "counter",
           "Alerts a sink did not deliver (gave up after its tries, dropped from a full queue, "
           "or removed by a reload).");
  for (const auto& f : s.sink_failures) w.count({{"sink", f.label}}, f.count);
  return out;
}

// ---- MetricsCollector ----

PairMetrics* MetricsCollector::find(const std::string& provider, const std::string& route) {
  auto it = index_.find({provider, route});
  return it == index_.end() ? nullptr : &state_.pairs[it->second];
}

void MetricsCollector::onConfig(const Config& config) {
  std::vector<PairMetrics> pairs;
  for (const auto& prov : config.providers) {
    if (!prov.enabled) continue;
    for (const auto& route : config.routes) {
      if (PairMetrics* old = find(prov.spec.name, route.name)) {
        pairs.push_back(std::move(*old));
      } else {
        PairMetrics p;
        p.provider = prov.spec.name;
        p.route = route.name;
        pairs.push_back(std::move(p));
      }
    }
  }
  state_.pairs = std::move(pairs);
  index_.clear();
  for (std::size_t i = 0; i < state_.pairs.size(); ++i)
    index_.emplace(std::make_pair(state_.pairs[i].provider, state_.pairs[i].route), i);
  std::vector<std::pair<std::string, Egress>> egress;
  for (const auto& route : config.routes)
    for (auto& e : state_.egress)
      if (e.first == route.name) egress.push_back(std::move(e));
  state_.egress = std::move(egress);
  routes_.clear();
  for (const auto& route : config.routes) routes_.push_back(route.name);
  for (std::string_view ev : kAlertEvents) state_.alerts.try_emplace(std::string(ev), 0);
}

void MetricsCollector::onRouteResult(const RouteResult& r) {
  PairMetrics* p = find(r.provider, r.route);
  if (!p) return;  // a result of a pair the config no longer has
  p->last = r.verdict;
  p->seen.insert(r.verdict);
  ++p->checks;
  if (r.verdict != Verdict::Ok) ++p->failures[r.verdict];
  p->layer_seconds.clear();
  for (const char* layer : kLayers) {
    const LayerBase& l = layerOf(r, layer);
    if (l.status != LayerStatus::Skipped && std::isfinite(l.ms) && l.ms >= 0)
      p->layer_seconds[layer] = std::round(l.ms * 1000.0) / 1e6;  // whole microseconds
  }
  p->rate_remaining = rateRemaining(r.http.rate);
  auto at = msFromIso(r.started_at);
  p->last_check_unix = at ? static_cast<double>(*at) / 1000.0 : 0;
  if (r.egress && !r.egress->ip.empty()) {
    auto it = std::find_if(state_.egress.begin(), state_.egress.end(),
                           [&](const auto& e) { return e.first == r.route; });
    if (it != state_.egress.end()) {
      it->second = *r.egress;
    } else {
      state_.egress.emplace_back(r.route, *r.egress);
      sortEgress();
    }
  }
}

void MetricsCollector::sortEgress() {
  auto rank = [&](const std::string& route) {
    return std::find(routes_.begin(), routes_.end(), route) - routes_.begin();
  };
  std::stable_sort(state_.egress.begin(), state_.egress.end(),
                   [&](const auto& a, const auto& b) { return rank(a.first) < rank(b.first); });
}

void MetricsCollector::onEvent(const nlohmann::json& event) {
  auto it = event.find("event");
  if (it == event.end() || !it->is_string()) return;
  const auto& name = it->get_ref<const std::string&>();
  // Our own event names; anything else would be a new label value from nowhere.
  if (name.size() > kMaxEventName || !allOf(name, isEventChar)) return;
  if (!state_.alerts.count(name) && state_.alerts.size() >= 2 * std::size(kAlertEvents)) return;
  ++state_.alerts[name];
}

std::string MetricsCollector::render(std::vector<LabeledCount> sink_failures) {
  state_.sink_failures = std::move(sink_failures);
  return renderMetrics(state_);
}

}  // namespace pathwatch
