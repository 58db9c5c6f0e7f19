// A provider's routes compared, each the other's control (docs/verdicts.md "The
// diagnosis compares routes"): a failure on some routes while another reaches
// the provider is the path; the same provider-authored refusal on every route
// is the key or the account. Pure: no I/O.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "pathwatch/classify.h"
#include "pathwatch/error_names.h"
#include "pathwatch/host.h"
#include "providers/signature.h"

namespace pathwatch {
namespace {

// Most actionable first: a key or account problem blocks every route; a path
// problem has a fix on that path; transient provider states and unexplained
// answers come last; interception (the call works) after every failure.
// A broken IPv6 (the call works over IPv4) comes after the path failures
// that stop every call and before the provider's transient states.
constexpr std::array kPriority{
    Verdict::KeyMissing,     Verdict::KeyMalformed,     Verdict::AuthFailed,
    Verdict::PermissionDenied, Verdict::QuotaExhausted, Verdict::RegionBlocked,
    Verdict::HeadersRewritten, Verdict::MiddleboxBlocked, Verdict::DnsTampered,
    Verdict::ProxyFailed,    Verdict::DnsFailed,        Verdict::ConnectFailed,
    Verdict::TlsFailed,      Verdict::HttpFailed,       Verdict::Ipv6Broken,
    Verdict::RateLimited,    Verdict::ProviderError,    Verdict::Unexpected,
    Verdict::TlsIntercepted, Verdict::Ok,
};

int rank(Verdict v) {
  for (std::size_t i = 0; i < kPriority.size(); ++i)
    if (kPriority[i] == v) return static_cast<int>(i);
  return static_cast<int>(kPriority.size());
}

// Verdicts where the provider itself answered: the route reaches it.
bool reachesProvider(Verdict v) {
  return v == Verdict::Ok || v == Verdict::AuthFailed || v == Verdict::PermissionDenied ||
         v == Verdict::QuotaExhausted || v == Verdict::RateLimited || v == Verdict::ProviderError ||
         v == Verdict::Ipv6Broken;  // over IPv4
}

std::string listRoutes(const std::vector<std::string>& names) {
  std::string out = names.size() == 1 ? "route " : "routes ";
  for (std::size_t i = 0; i < names.size() && i < 6; ++i) {
    if (i) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  if (names.size() > 6) out += " and " + std::to_string(names.size() - 6) + " more";
  return out;
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s < 10 && std::floor(s) != s ? "%.1f s" : "%.0f s", s);
  return buf;
}

// A short detail of what a route saw: the provider's code or message.
std::string detailOf(const RouteResult& r) {
  const HttpLayer& h = r.http;
  if (!h.error_code.empty() && h.error_code.size() <= 48 && h.error_code.find(' ') == std::string::npos)
    return sig::redactKeyLike(h.error_code);
  if (!h.message.empty()) {
    std::string m = sig::redactKeyLike(h.message.substr(0, h.message.find(". ")));
    const std::size_t full = m.size();
    if (m.size() > 80) m.resize(80);
    while (!m.empty() && (static_cast<unsigned char>(m.back()) & 0xC0) == 0x80) m.pop_back();
    while (!m.empty() && (m.back() == '.' || m.back() == ' ')) m.pop_back();
    if (full > 80) m += "…";
    return m;
  }
  if (!h.error_type.empty()) return h.error_type;
  if (h.code) return "HTTP " + std::to_string(h.code);
  return {};
}

std::string egressOf(const RouteResult& r) {
  if (!r.egress || r.egress->empty()) return {};
  std::string out = "egress ";
  out += r.egress->ip.empty() ? "?" : r.egress->ip;
  if (!r.egress->country.empty()) out += ", " + r.egress->country;
  return out;
}

std::string firstLayerError(const RouteResult& r, Verdict v) {
  switch (v) {
    case Verdict::DnsFailed: {
      if (!r.dns.error.empty()) return r.dns.error;
      for (const auto& a : r.dns.answers)
        if (!a.error.empty()) return a.error;
      return {};
    }
    case Verdict::DnsTampered:
      for (const auto& a : r.dns.answers)
        if (!a.bogons.empty()) return "resolver " + a.resolver + " answered " + a.bogons.front();
      return "resolvers disagree and the odd answer fails TLS";
    case Verdict::ConnectFailed:
      if (!r.tcp.error.empty()) return r.tcp.error;
      for (const auto& a : r.tcp.attempts)
        if (!a.error.empty()) return a.error;
      return {};
    case Verdict::TlsFailed: return r.tls.error;
    case Verdict::TlsIntercepted: return r.tls.issuer.empty() ? std::string() : "issuer " + r.tls.issuer;
    case Verdict::HttpFailed: return r.http.error;
    case Verdict::ProxyFailed:
      if (r.http.proxy_code) return "proxy answered " + std::to_string(r.http.proxy_code);
      if (!r.http.error.empty()) return r.http.error;
      return r.tcp.error;
    case Verdict::HeadersRewritten:
      if (!r.echo.removed.empty()) return "removed " + r.echo.removed.front();
      if (!r.echo.changed.empty()) return "changed " + r.echo.changed.front();
      return detailOf(r);
    case Verdict::Ipv6Broken:
      for (const auto& a : r.tcp.attempts)
        if (a.family == "ipv6" && a.status == LayerStatus::Fail) return a.error;
      return {};
    default: return detailOf(r);
  }
}

bool tlsTimeError(std::string_view e) { return e == err::kTlsExpired || e == err::kTlsNotYetValid; }

// The certificate was refused on time (expired / not yet valid) on this route.
std::string tlsTimeErrorOf(const RouteResult& r) {
  if (tlsTimeError(r.tls.error)) return r.tls.error;
  for (const auto& a : r.tcp.attempts)
    if (tlsTimeError(a.error)) return a.error;
  return {};
}

std::string paren(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts)
    if (!p.empty()) out += (out.empty() ? "" : ", ") + p;
  return out.empty() ? out : " (" + out + ")";
}

}  // namespace

Diagnosis diagnoseProvider(const ProviderSpec& spec, const std::vector<RouteResult>& routes) {
  return diagnoseProvider(spec, routes, HostReport{});
}

Diagnosis diagnoseProvider(const ProviderSpec& spec, const std::vector<RouteResult>& routes,
                           const HostReport& host_report) {
  Diagnosis d;
  const std::string P = displayName(spec);
  if (routes.empty()) {
    d.verdict = Verdict::Unexpected;
    d.cause = causeOf(d.verdict);
    d.summary = "No route was probed for " + P + ": check the route selection and the configuration.";
    return d;
  }
  std::vector<std::string> ok_routes, all_names;
  const RouteResult* worst = nullptr;
  for (const auto& r : routes) {
    all_names.push_back(r.route);
    if (r.verdict == Verdict::Ok) ok_routes.push_back(r.route);
    else if (!worst || rank(r.verdict) < rank(worst->verdict)) worst = &r;
  }
  d.working_routes = ok_routes;
  const std::string clock = clockSentence(host_report);
  if (!worst) {
    d.verdict = Verdict::Ok;
    d.cause = Cause::None;
    const std::string everywhere_ok =
        routes.size() == 1 ? listRoutes(all_names) : "every route (" + listRoutes(all_names) + ")";
    d.summary = P + " answers as expected on " + everywhere_ok + ": nothing to do.";
    if (!clock.empty()) {
      // Nothing fails, but this machine is wrong: certificates and signed
      // requests are the next thing a clock this far off breaks.
      d.cause = Cause::Host;
      d.summary = P + " answers as expected on " + everywhere_ok + ", but " + clock +
                  ": fix time sync (timedatectl, NTP).";
    }
    return d;
  }
  const Verdict v = worst->verdict;
  d.verdict = v;
  d.cause = causeOf(v);

  std::vector<std::string> same;  // routes with the chosen verdict
  std::vector<std::string> reaching_other;  // routes reaching the provider with another verdict
  for (const auto& r : routes) {
    if (r.verdict == v) same.push_back(r.route);
    else if (r.verdict != Verdict::Ok && reachesProvider(r.verdict))
      reaching_other.push_back(r.route);
  }
  const bool everywhere = same.size() == routes.size();
  const std::string where = everywhere ? (routes.size() == 1 ? listRoutes(same) : "every route")
                                       : listRoutes(same);
  const std::string fp = worst->key.fingerprint.empty() ? std::string() : "key " + worst->key.fingerprint;
  const std::string detail = firstLayerError(*worst, v);
  const std::string egress = egressOf(*worst);
  std::string works;
  if (!ok_routes.empty()) {
    works = "; " + listRoutes(ok_routes) + (ok_routes.size() == 1 ? " works" : " work") + ": send " + P +
            " traffic through " + ok_routes.front();
  }
  const std::string host = spec.host.empty() ? P : spec.host;

  switch (v) {
    case Verdict::KeyMissing:
      d.summary = "No " + P + " key was read from " + worst->key.source +
                  ": set it or remove the key source from the config; nothing was sent.";
      break;
    case Verdict::KeyMalformed: {
      std::string problems;
      for (const auto& p : worst->key.problems) problems += (problems.empty() ? "" : ", ") + p;
      d.summary = "The " + P + " key" + (fp.empty() ? "" : " " + worst->key.fingerprint) + " from " +
                  worst->key.source + " is damaged (" + problems +
                  "): fix the stored value; nothing was sent.";
      break;
    }
    case Verdict::AuthFailed:
      d.summary = "The " + P + " key was rejected on " + where + paren({detail, fp}) +
                  ": replace the key" + (everywhere ? "; the path is fine." : "." );
      break;
    case Verdict::PermissionDenied:
      d.summary = P + " refuses this key's account on " + where + paren({detail, fp}) +
                  ": enable the model, API or scope for the key's project or organization; the path is fine.";
      break;
    case Verdict::QuotaExhausted:
      d.summary = P + "'s quota is spent" + paren({detail}) + " on " + where +
                  ": add credits or raise the spend limit; retrying will not help.";
      break;
    case Verdict::RateLimited:
      d.summary = P + " rate-limits this key on " + where + paren({detail}) + ": " +
                  (worst->http.retry_after_s ? "retry after " + seconds(*worst->http.retry_after_s)
                                             : std::string("retry later")) +
                  " or lower the request rate.";
      break;
    case Verdict::ProviderError:
      d.summary = P + " itself is failing on " + where + paren({detail}) +
                  ": nothing to fix on your side; retry later.";
      break;
    case Verdict::RegionBlocked:
      d.summary = P + " refuses " + where + paren({egress}) + " by region" + works +
                  (ok_routes.empty() ? ": use an egress in a supported country (a VPN or proxy route)." : ".");
      break;
    case Verdict::MiddleboxBlocked:
      d.summary = "Something between this host and " + P + " answers instead of it on " + where +
                  paren({detail, egress}) + works +
                  (ok_routes.empty() ? ": have the proxy or firewall allow " + host + ", or use another egress."
                                     : ".");
      break;
    case Verdict::HeadersRewritten:
      d.summary = "The path alters requests to " + P + " on " + where + paren({detail}) +
                  ", so its answer says nothing about the key" + works +
                  (ok_routes.empty() ? ": bypass or fix the proxy that rewrites headers." : ".");
      break;
    case Verdict::TlsIntercepted:
      d.summary = "TLS to " + P + " is intercepted on " + where + paren({detail}) +
                  " by a locally trusted CA" + works +
                  (ok_routes.empty() ? ": exempt " + host + " from inspection if the calls must stay private."
                                     : ".");
      break;
    case Verdict::DnsFailed:
      d.summary = "No resolver resolves " + host + " on " + where + paren({detail}) + works +
                  (ok_routes.empty() ? ": fix the resolvers of this host." : ".");
      break;
    case Verdict::DnsTampered:
      d.summary = "DNS for " + host + " is tampered with on " + where + paren({detail}) + works +
                  (ok_routes.empty() ? ": use an honest resolver (or DNS over HTTPS) for " + host + "."
                                     : ".");
      break;
    case Verdict::ConnectFailed:
      d.summary = "TCP connections to " + host + " fail on " + where + paren({detail, egress}) + works +
                  (ok_routes.empty() ? ": check the firewall and routing of this host." : ".");
      break;
    case Verdict::TlsFailed:
      if (worst->tls.small_mss == "works") {
        d.summary = "The TLS handshake with " + host + " stalls on " + where +
                    " (a path MTU black hole: large packets are dropped, a handshake with a small MSS "
                    "works): clamp the TCP MSS on that route's router (iptables -t mangle -A FORWARD -p tcp "
                    "--tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu) or lower the MTU of its interface" +
                    works + ".";
        break;
      }
      d.summary = "The TLS handshake with " + host + " fails on " + where + paren({detail}) + works +
                  (ok_routes.empty() ? ": check for a filtering box, the clock and the CA store." : ".");
      break;
    case Verdict::Ipv6Broken:
      d.summary = "IPv6 to " + host + " fails on " + where + paren({detail}) +
                  " while IPv4 works: clients that try IPv6 first stall for their connect timeout or fail; "
                  "fix IPv6 on " + (same.size() == 1 ? "that route" : "those routes") +
                  ", or make this host prefer IPv4 (/etc/gai.conf: precedence ::ffff:0:0/96 100)" + works + ".";
      break;
    case Verdict::HttpFailed:
      d.summary = "The HTTP exchange with " + P + " breaks on " + where + paren({detail}) + works +
                  (ok_routes.empty() ? ": look for a box that resets or stalls connections on this path." : ".");
      break;
    case Verdict::ProxyFailed:
      d.summary = "The proxy of " + where + " fails" + paren({detail}) + works +
                  (ok_routes.empty() ? ": fix the proxy, its address or its credentials." : ".");
      break;
    case Verdict::Unexpected:
    case Verdict::Ok:
      d.summary = P + " gave an answer that fits no known signature on " + where + paren({detail}) + works +
                  (ok_routes.empty() ? ": read the evidence of that route." : ".");
      break;
  }
  // The certificate refused on time while this machine's clock is off: the
  // machine, not the path (the route's verdict stays what TLS saw).
  if (!clock.empty()) {
    std::string time_error = tlsTimeErrorOf(*worst);
    for (const auto& r : routes)
      if (time_error.empty() && r.verdict == v) time_error = tlsTimeErrorOf(r);
    if (!time_error.empty()) {
      d.cause = Cause::Host;
      d.summary = "TLS to " + host + " fails on " + where + " (" + time_error + ") because " + clock +
                  ": fix time sync (timedatectl, NTP), then check again.";
      return d;
    }
  }
  // Other routes that reached the provider with a different refusal: say so,
  // still in the same sentence.
  if (!reaching_other.empty() && d.summary.size() > 1 && d.summary.back() == '.') {
    const RouteResult* other = nullptr;
    for (const auto& r : routes)
      if (r.route == reaching_other.front()) other = &r;
    d.summary.pop_back();
    d.summary += "; " + listRoutes(reaching_other) + " reaches " + P + " but gets " +
                 std::string(toString(other->verdict)) + ".";
  }
  if (!clock.empty() && d.summary.size() > 1 && d.summary.back() == '.') {
    d.summary.pop_back();
    d.summary += "; also, " + clock + ": fix time sync.";
  }
  return d;
}

}  // namespace pathwatch
