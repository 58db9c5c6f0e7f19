// Who wrote an answer, what it means, and the one verdict of a route
// (docs/verdicts.md). Pure: no I/O. The signatures are tables under
// probes/providers/; this file only matches them and applies the precedence.
#include "pathwatch/classify.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "pathwatch/error_names.h"
#include "pathwatch/key.h"
#include "pathwatch/text.h"
#include "providers/answer.h"
#include "providers/provider_def.h"

namespace pathwatch {
namespace {

using sig::Analysis;
using sig::Author;
using sig::Meaning;

// ---------------------------------------------------------------- evidence

std::string join(const std::vector<std::string>& v, std::string_view sep = ", ", std::size_t max = 8) {
  std::string out;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) {
    if (i) out += sep;
    out += cleanText(v[i], 120);
  }
  if (v.size() > max) out += std::string(sep) + "…";
  return out;
}

std::string fmtSeconds(double s) {
  char buf[32];
  if (s < 10 && std::floor(s) != s) std::snprintf(buf, sizeof buf, "%.2f s", s);
  else std::snprintf(buf, sizeof buf, "%.0f s", s);
  return buf;
}

std::string inQuotes(const std::string& s) { return "\"" + s + "\""; }

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool interceptionIssuer(const TlsLayer& tls, std::string* which) {
  auto check = [&](const std::string& name) {
    for (std::string_view product : sig::interceptionIssuers())
      if (sig::containsAny(name, product)) {
        if (which) *which = name;
        return true;
      }
    return false;
  };
  if (check(tls.issuer)) return true;
  for (const auto& c : tls.chain)
    if (check(c)) return true;
  return false;
}

bool tlsIdentityError(std::string_view e) {
  return e == "tls_unknown_authority" || e == "tls_hostname_mismatch" || e == "tls_self_signed" ||
         e == "tls_expired" || e == "tls_untrusted" || e == "tls_bad_certificate" ||
         e.find("cert") != std::string_view::npos;
}

// An odd DNS answer's TLS check (DnsAnswer::tls_error) failed at TLS, not
// before it: a name/expiry/trust failure or a broken handshake. An address
// that cannot be reached says nothing about the answer's honesty. "Not
// publicly trusted" only counts when the address used is publicly trusted
// (otherwise everything here is inspected or on a private CA alike).
bool oddAnswerFailedTls(std::string_view e, const TlsLayer& used) {
  if (e == "not_publicly_trusted" || e.find(' ') != std::string_view::npos)
    return used.status == LayerStatus::Ok && used.public_root.value_or(false);
  return tlsIdentityError(e) || startsWith(e, "tls_");
}

// The TCP (+ TLS) attempts per address family (docs/verdicts.md ipv6_broken).
struct Families {
  int v4_ok = 0, v6_ok = 0, v6_failed = 0;
  std::vector<std::string> v6_errors;  // distinct, in order
  bool v6_unused_here = false;  // every IPv6 failure says this host has no IPv6 route
};

bool isV6Attempt(const TcpAttempt& a) {
  if (!a.family.empty()) return a.family == "ipv6";
  return !a.address.empty() && a.address.front() == '[';
}

// Errors a connect gets at once from this host's own stack when it has no
// IPv6 (no route, no source address, an IPv4-bound route): not the path.
bool localNoRouteError(std::string_view e) {
  return e == err::kNetworkUnreachable || e == err::kAddressNotAvailable || e == "address_family_mismatch";
}

Families familiesOf(const TcpLayer& tcp) {
  Families f;
  bool all_local = true;
  for (const auto& a : tcp.attempts) {
    const bool v6 = isV6Attempt(a);
    if (a.status == LayerStatus::Ok) {
      ++(v6 ? f.v6_ok : f.v4_ok);
    } else if (v6) {
      ++f.v6_failed;
      all_local = all_local && localNoRouteError(a.error);
      if (!contains(f.v6_errors, a.error)) f.v6_errors.push_back(a.error);
    }
  }
  // The engine asked the kernel for a route; older results are judged by
  // the errors themselves.
  f.v6_unused_here = tcp.ipv6_route.empty() ? (f.v6_failed > 0 && all_local) : tcp.ipv6_route != "ok";
  return f;
}

std::string keyWho(const KeyLayer& k) {
  std::string s = k.fingerprint.empty() ? std::string("the key") : "key " + k.fingerprint;
  if (!k.source.empty() && k.source != "none") s += " from " + cleanText(k.source, 120);
  return s;
}

}  // namespace

void analyzeAnswer(const ProviderSpec& spec, HttpLayer& http) {
  try {
    sig::analyze(spec, http);
  } catch (...) {
    // Never reached by design (no throwing parse); a last guard keeps the probe alive.
    http.authored_by = "unknown";
  }
}

void classifyRoute(const ProviderSpec& spec, RouteResult& r, const RouteObservation* route) {
  std::vector<std::string>& ev = r.evidence;
  ev.clear();
  std::optional<Verdict> verdict;
  auto decide = [&](Verdict v) {
    if (!verdict) verdict = v;
  };
  const std::string who = displayName(spec);

  // ---- key
  const KeyLayer& key = r.key;
  const bool key_sent = key.status == LayerStatus::Ok;
  if (key.status == LayerStatus::Fail) {
    if (key.error == "key_missing") {
      ev.push_back("key: no key was read from " + cleanText(key.source, 160) +
                   (key.problems.empty() ? std::string() : " (" + join(key.problems) + ")") +
                   "; nothing was sent");
      for (const auto& p : key.problems)
        if (const std::string_view advice = keyProblemAdvice(p); !advice.empty())
          ev.push_back("key: " + std::string(advice));
      decide(Verdict::KeyMissing);
    } else {
      std::string line = "key: " + keyWho(key) + " is damaged: " + join(key.problems);
      if (!key.looks_like.empty() && contains(key.problems, "wrong_provider_shape"))
        line += " (it looks like a " + cleanText(key.looks_like, 20) + " key)";
      ev.push_back(line + "; nothing was sent");
      decide(Verdict::KeyMalformed);
    }
  }

  // ---- dns
  const DnsLayer& dns = r.dns;
  bool any_bogon = dns.error == "bogon";
  for (const auto& a : dns.answers) {
    if (!a.bogons.empty()) {
      any_bogon = true;
      ev.push_back("dns: resolver " + cleanText(a.resolver, 60) + " answered " + join(a.bogons) +
                   " (bogon)");
    } else if (a.status == LayerStatus::Fail) {
      ev.push_back("dns: resolver " + cleanText(a.resolver, 60) + " failed: " + cleanText(a.error, 40));
    }
  }
  if (dns.resolvers_disagree) {
    std::vector<std::string> sets;
    for (const auto& a : dns.answers)
      if (a.status == LayerStatus::Ok) sets.push_back(cleanText(a.resolver, 60) + " " + join(a.addresses, " ", 4));
    ev.push_back("dns: resolvers disagree: " + join(sets, "; "));
  }
  const TlsLayer& tls = r.tls;
  std::string intercept_name;
  const bool intercept_product = interceptionIssuer(tls, &intercept_name);
  const bool local_ca = tls.ca_file_ok.value_or(false) && tls.public_root.has_value() && !*tls.public_root;
  if (any_bogon) {
    decide(Verdict::DnsTampered);
  } else if (dns.status == LayerStatus::Fail) {
    if (dns.answers.empty()) ev.push_back("dns: resolution failed: " + cleanText(dns.error, 40));
    else ev.push_back("dns: no resolver answered usefully");
    decide(Verdict::DnsFailed);
  } else if (dns.resolvers_disagree && tls.status == LayerStatus::Fail && tlsIdentityError(tls.error) &&
             !intercept_product && !local_ca) {
    ev.push_back("dns: the address used fails TLS for " + cleanText(spec.host, 120) +
                 " while resolvers disagree: an odd answer, not geo-DNS");
    decide(Verdict::DnsTampered);
  } else if (dns.resolvers_disagree) {
    // The engine checked each odd answer (disjoint from the one used) for TLS
    // under the name: geo-DNS fronts pass, a sinkhole or hijack does not.
    for (const auto& a : dns.answers) {
      if (a.status != LayerStatus::Ok || !a.tls_ok.has_value() || *a.tls_ok) continue;
      if (!oddAnswerFailedTls(a.tls_error, tls)) continue;
      ev.push_back("dns: resolver " + cleanText(a.resolver, 60) + " answered " + join(a.addresses, " ", 4) +
                   ", which fails TLS for " + cleanText(spec.host, 120) +
                   (a.tls_error.empty() ? std::string() : " (" + cleanText(a.tls_error, 80) + ")") +
                   ": an odd answer, not geo-DNS");
      decide(Verdict::DnsTampered);
    }
  }

  // ---- proxy and tcp
  const TcpLayer& tcp = r.tcp;
  HttpLayer& http = r.http;
  for (const auto& a : tcp.attempts)
    if (a.status == LayerStatus::Fail)
      ev.push_back((err::isTlsError(a.error) ? "tls: " : "tcp: ") + cleanText(a.address, 80) + " " +
                   cleanText(a.error, 40) + (tcp.via_proxy ? " (the route's proxy)" : ""));
  if (tcp.status == LayerStatus::Fail && tcp.attempts.empty())
    ev.push_back(std::string("tcp: ") + (tcp.via_proxy ? "the route's proxy: " : "") + cleanText(tcp.error, 40));
  // The proxy's answer to CONNECT decides before the generic "proxy failed":
  // the engine marks tcp failed via the proxy for any non-2xx, but a 403 is
  // the proxy's own policy page (a middlebox), while 407 or its own 5xx mean
  // the proxy itself failed us.
  if (http.proxy_code != 0 && (http.proxy_code < 200 || http.proxy_code >= 300)) {
    ev.push_back("proxy: the route's proxy answered CONNECT with " + std::to_string(http.proxy_code));
    if (http.proxy_code == 403) {
      ev.push_back("proxy: the proxy refuses this destination by policy, the provider never saw the request");
      decide(Verdict::MiddleboxBlocked);
    } else {
      decide(Verdict::ProxyFailed);
    }
  }
  for (const std::string* e : {&tcp.error, static_cast<const std::string*>(&http.error)}) {
    if (*e != "proxy_forbidden" && *e != "proxy_blocked") continue;
    ev.push_back("proxy: " + cleanText(*e, 40) + ": the proxy blocks this destination");
    decide(Verdict::MiddleboxBlocked);
  }
  if (tcp.status == LayerStatus::Fail && tcp.via_proxy) decide(Verdict::ProxyFailed);
  if (http.status == LayerStatus::Fail && startsWith(http.error, "proxy_")) {
    ev.push_back("proxy: " + cleanText(http.error, 40));
    decide(Verdict::ProxyFailed);
  }
  if (tcp.status == LayerStatus::Fail) decide(Verdict::ConnectFailed);

  // ---- tls
  if (intercept_product)
    ev.push_back("tls: certificate issued by a TLS-inspection product: " + cleanText(intercept_name, 160));
  if (local_ca)
    ev.push_back("tls: chain verifies with ca_file but not with the public roots: issuer " +
                 cleanText(tls.issuer, 160));
  if (tls.status == LayerStatus::Fail) {
    std::string line = "tls: " + cleanText(tls.error, 40);
    if (!tls.issuer.empty()) line += " (issuer " + cleanText(tls.issuer, 160) + ")";
    if (!tls.verify_error.empty()) line += ": " + cleanText(tls.verify_error, 120);
    ev.push_back(line);
    decide(intercept_product || local_ca ? Verdict::TlsIntercepted : Verdict::TlsFailed);
  }
  // A stalled handshake was retried with a small MSS (engine.cc): the
  // certificate's large packets are what the path loses.
  if (tls.small_mss == "works")
    ev.push_back("tls: a handshake with a small MSS (536) works: a path MTU black hole (large packets are dropped)");
  else if (tls.small_mss == "fails")
    ev.push_back("tls: a handshake with a small MSS (536) stalls too: not a path MTU problem");
  const bool intercepted = tls.status == LayerStatus::Ok &&
                           (local_ca || intercept_product ||
                            (tls.public_root.has_value() && !*tls.public_root));
  if (intercepted && !local_ca && !intercept_product)
    ev.push_back("tls: chain does not verify with the public roots: issuer " + cleanText(tls.issuer, 160));

  // ---- http
  Analysis a;
  std::optional<Meaning> meaning;
  if (http.status == LayerStatus::Fail && !startsWith(http.error, "proxy_")) {
    ev.push_back("http: " + cleanText(http.error, 40) +
                 (http.code ? " after status " + std::to_string(http.code) : std::string()));
    decide(Verdict::HttpFailed);
  }
  if (http.status == LayerStatus::Ok && http.code > 0) {
    a = sig::analyze(spec, http);
    const std::string code = std::to_string(http.code);
    const std::string msg = http.message.empty() ? std::string() : ": " + inQuotes(http.message);
    std::string fields;
    if (!http.error_type.empty()) fields += http.error_type;
    if (!http.error_code.empty()) fields += (fields.empty() ? "" : "/") + http.error_code;
    if (a.author == Author::Provider) {
      std::string marker;
      for (const auto& [n, val] : http.headers) {
        const std::string lower = toLower(n);
        if (lower == "x-request-id" || lower == "request-id") marker = lower + " " + cleanText(val, 60);
      }
      ev.push_back("http: " + code + " from " + who + (marker.empty() ? "" : " (" + marker + ")") +
                   (fields.empty() ? "" : ": " + fields) + (http.message.empty() ? "" : " " + inQuotes(http.message)));
      meaning = sig::meaningOf(spec, http, key_sent);
      if (meaning->rule) ev.push_back("http: " + std::string(meaning->rule->meaning));
      decide(meaning->verdict);
    } else if (a.block) {
      const char* whose = a.author == Author::Edge ? "the provider's edge" : "a middlebox";
      bool has_request_id = false;
      for (const auto& [n, _] : http.headers) {
        const std::string lower = toLower(n);
        has_request_id |= lower == "x-request-id" || lower == "request-id";
      }
      ev.push_back("http: " + code + " from " + whose + " (" + std::string(a.block->product) +
                   (has_request_id ? "" : ", no request-id") + ")" + msg);
      ev.push_back("http: " + std::string(a.block->meaning));
      decide(sig::blockVerdict(*a.block, http.code));
    } else {
      if (a.provider_shape_without_marker) {
        // The shape is the provider's but its marker header is missing: a
        // region refusal is one either way (SPEC: the provider or its edge);
        // anything else is not trusted enough to blame the key or the account.
        const Meaning m = sig::meaningOf(spec, http, key_sent);
        ev.push_back("http: " + code + " in " + who + "'s error shape but without its marker header" +
                     (fields.empty() ? "" : ": " + fields) + (http.message.empty() ? "" : " " + inQuotes(http.message)));
        if (m.verdict == Verdict::RegionBlocked || m.verdict == Verdict::ProviderError) {
          if (m.rule) ev.push_back("http: " + std::string(m.rule->meaning));
          decide(m.verdict);
        } else {
          ev.push_back("http: not provably " + who + "'s answer, so it says nothing certain about the key");
        }
      } else {
        ev.push_back("http: " + code + " from an unknown server" +
                     (http.message.empty() ? "" : ": " + inQuotes(http.message)));
      }
      decide(Verdict::Unexpected);
    }
    if (http.retry_after_s) ev.push_back("http: retry after " + fmtSeconds(*http.retry_after_s));
    for (const char* name : {"x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens",
                             "anthropic-ratelimit-requests-remaining", "quota_id", "quota_limit"})
      if (auto it = http.rate.find(name); it != http.rate.end())
        ev.push_back("http: " + std::string(name) + "=" + cleanText(it->second, 120));
    for (const auto& [n, val] : http.headers) {
      const std::string lower = toLower(n);
      if (lower == "cf-ray") {
        const auto dash = val.rfind('-');
        if (dash != std::string::npos && dash + 1 < val.size())
          ev.push_back("http: cf-ray site " + cleanText(val.substr(dash + 1), 8));
      } else if (lower == "via" && a.author == Author::Provider && !sig::containsAny(val, "google")) {
        ev.push_back("http: relayed by a proxy (via " + cleanText(val, 80) + ")");
      } else if (lower == "location" && http.code >= 300 && http.code < 400) {
        ev.push_back("http: redirected to " + cleanText(val, 160));
      }
    }
  } else if (http.status != LayerStatus::Fail && !verdict) {
    ev.push_back("http: no answer" +
                 (http.reason.empty() ? std::string() : " (" + cleanText(http.reason, 120) + ")"));
    decide(Verdict::Unexpected);
  }

  // ---- echo: the request as it arrived elsewhere on the same path
  const EchoLayer& echo = r.echo;
  const std::string auth = toLower(authHeaderShape(spec).first);
  bool auth_altered = false, sent_altered = false;
  if (echo.status == LayerStatus::Altered) {
    if (!echo.removed.empty()) ev.push_back("echo: the path removed " + join(echo.removed));
    if (!echo.changed.empty()) ev.push_back("echo: the path changed " + join(echo.changed));
    if (!echo.added.empty()) ev.push_back("echo: the path added " + join(echo.added));
    if (!echo.case_changed.empty()) ev.push_back("echo: the path changed the case of " + join(echo.case_changed));
    for (const auto* list : {&echo.removed, &echo.changed})
      for (const auto& h : *list) {
        const std::string lower = toLower(h);
        if (lower == auth) auth_altered = true;
        if (lower == auth || lower == "anthropic-version" || lower == "user-agent" || lower == "accept")
          sent_altered = true;
      }
  } else if (echo.status == LayerStatus::Fail) {
    ev.push_back("echo: failed: " + cleanText(echo.error, 40));
  }
  if (a.author == Author::Provider && verdict && meaning && *verdict == meaning->verdict) {
    const Verdict v = *verdict;
    const bool key_related = v == Verdict::Ok || v == Verdict::AuthFailed || v == Verdict::PermissionDenied ||
                             v == Verdict::QuotaExhausted || v == Verdict::RateLimited ||
                             v == Verdict::Unexpected;
    const bool client_error = http.code >= 400 && http.code < 500 && v != Verdict::RegionBlocked;
    const bool refusal = v == Verdict::AuthFailed || v == Verdict::PermissionDenied || v == Verdict::Unexpected;
    if ((auth_altered && key_related) || (sent_altered && client_error && refusal)) {
      ev.push_back("echo: the provider's answer was produced by an altered request: it says nothing about " +
                   keyWho(key));
      verdict = Verdict::HeadersRewritten;
    }
  }
  if (verdict == Verdict::HeadersRewritten || verdict == Verdict::AuthFailed) {
    if (key_sent) ev.push_back("key: " + keyWho(key) + " was sent");
  }
  if (key.status == LayerStatus::Skipped && verdict == Verdict::Ok)
    ev.push_back("key: none configured" +
                 (key.reason.empty() ? std::string() : " (" + cleanText(key.reason, 160) + ")") +
                 "; probed without a key");

  // ---- IPv4 and IPv6 apart: the call works over IPv4, so a broken IPv6
  // only replaces `ok` (a provider's refusal over IPv4 is the operator's
  // first problem); it is worse than interception, since clients that try
  // IPv6 first stall or fail.
  const Families fam = familiesOf(tcp);
  bool ipv6_broken = false;
  if (!tcp.via_proxy && fam.v6_failed > 0 && fam.v6_ok == 0) {
    if (fam.v6_unused_here) {
      ev.push_back("tcp: this host has no IPv6 route to " + cleanText(spec.host, 120) + " on route " +
                   cleanText(r.route, 60) +
                   (tcp.ipv6_route.empty() || tcp.ipv6_route == "ok" ? std::string()
                                                                       : " (" + cleanText(tcp.ipv6_route, 40) + ")") +
                   ": IPv6 is unused here, not broken (clients fall back to IPv4 at once)");
    } else if (fam.v4_ok > 0) {
      ev.push_back("tcp: every IPv6 attempt fails (" + join(fam.v6_errors) +
                   ") while IPv4 works: clients that try IPv6 first stall for their connect timeout or fail");
      ipv6_broken = true;
    }
  }
  if (ipv6_broken && verdict == Verdict::Ok) verdict = Verdict::Ipv6Broken;

  // ---- tls_intercepted: reported when nothing worse happened
  if (intercepted && verdict == Verdict::Ok) verdict = Verdict::TlsIntercepted;

  if (r.egress && !r.egress->empty()) {
    std::string line = "egress: " + (r.egress->ip.empty() ? std::string("?") : cleanText(r.egress->ip, 60));
    if (!r.egress->country.empty()) line += " (" + cleanText(r.egress->country, 8) + ")";
    if (!r.egress->colo.empty()) line += " colo " + cleanText(r.egress->colo, 8);
    if (!r.egress->seen_by.empty()) line += " as seen by " + cleanText(r.egress->seen_by, 40);
    ev.push_back(line);
  }
  // ---- what the probe itself ran into
  if (route && !route->binding_error.empty()) ev.push_back(cleanText(route->binding_error, 300));
  if (!tcp.detail.empty() && tcp.status == LayerStatus::Fail)
    ev.push_back((tcp.via_proxy ? "proxy: " : "tcp: the connection failed: ") + cleanText(tcp.detail, 200));
  if (route && !route->public_roots_error.empty()) ev.push_back(cleanText(route->public_roots_error, 300));
  if (r.deadline_ms > 0) ev.push_back("the probe hit its deadline of " + std::to_string(r.deadline_ms) + " ms");
  for (const auto& ans : dns.answers) {
    if (!ans.tls_ok.has_value()) continue;
    const std::string head = "resolver " + cleanText(ans.resolver, 60) + " answered differently (" +
                             (ans.addresses.empty() ? std::string() : cleanText(ans.addresses.front(), 60)) + ")";
    if (*ans.tls_ok)
      ev.push_back(head + " and that address passes TLS for the name: honest geo-DNS");
    else if (err::isTlsError(ans.tls_error))
      ev.push_back(head + " and that address fails TLS for the name (" + cleanText(ans.tls_error, 80) + ")");
    else  // refused or silent: it proves nothing about the name either way
      ev.push_back(head + " and that address could not be reached to check TLS" +
                   (ans.tls_error.empty() ? std::string() : " (" + cleanText(ans.tls_error, 80) + ")"));
  }
  r.verdict = verdict.value_or(Verdict::Unexpected);
  if (!verdict) ev.push_back("no layer explains the result: every layer passed without a verdict");
}

}  // namespace pathwatch
