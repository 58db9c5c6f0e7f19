#include "alerts/egress_tracker.h"

#include <algorithm>

namespace pathwatch {
namespace {

bool isV6(const std::string& ip) { return ip.find(':') != std::string::npos; }

// "[2001:db8::1]:443" / "198.18.0.1:443" / "198.18.0.1" -> the address alone.
std::string stripPort(std::string a) {
  if (!a.empty() && a.front() == '[') {
    auto end = a.find(']');
    return end == std::string::npos ? a.substr(1) : a.substr(1, end - 1);
  }
  if (std::count(a.begin(), a.end(), ':') == 1) a.erase(a.find(':'));
  return a;
}

nlohmann::json strOrNull(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

std::string orUnknown(const std::string& s) { return s.empty() ? "unknown" : s; }

}  // namespace

std::vector<AlertEvent> EgressTracker::observe(const RouteResult& r, WallClock::time_point now) {
  std::vector<AlertEvent> out;
  ++seq_;
  addressChanges(r, now, out);
  dnsChanges(r, now, out);
  tlsChanges(r, now, out);
  return out;
}

void EgressTracker::addressChanges(const RouteResult& r, WallClock::time_point now,
                                   std::vector<AlertEvent>& out) {
  RouteState& rs = routes_[r.route];
  std::string ip = r.egress ? r.egress->ip : "";
  std::string seen_by = r.egress ? r.egress->seen_by : "";
  if (ip.empty() && !r.echo.client_address.empty()) {
    ip = stripPort(r.echo.client_address);
    seen_by = "echo";
  }
  const std::string country = r.egress ? r.egress->country : "";
  const std::string colo = r.egress ? r.egress->colo : "";
  const std::string local = stripPort(r.tcp.local_address);

  nlohmann::json before = nlohmann::json::object(), after = nlohmann::json::object();
  bool ip_changed = false, local_changed = false, geo_changed = false;

  if (!ip.empty()) {
    auto [it, fresh] = rs.public_ip.try_emplace(isV6(ip), Addr{ip, 0});
    if (!fresh && it->second.value != ip) {
      before["ip"] = it->second.value;
      it->second = Addr{ip, seq_};
      ip_changed = true;
    }
  }
  if (!local.empty()) {
    auto [it, fresh] = rs.local_ip.try_emplace(isV6(local), Addr{local, 0});
    if (!fresh && it->second.value != local) {
      before["local"] = it->second.value;
      it->second = Addr{local, seq_};
      local_changed = true;
    }
  }
  if (!country.empty() || !colo.empty()) {
    auto [it, fresh] = geo_.try_emplace({r.route, r.provider}, Geo{country, colo, seq_});
    Geo& g = it->second;
    if (!fresh && (g.country != country || g.colo != colo)) {
      // A public address change since this provider last looked already told
      // the story; only a move under an unchanged address is news here.
      bool explained = false;
      if (!ip.empty()) {
        const Addr& a = rs.public_ip[isV6(ip)];
        explained = a.changed_seq > g.seen_seq && !ip_changed;
      }
      if (!explained) {
        before["country"] = strOrNull(g.country);
        before["colo"] = strOrNull(g.colo);
        geo_changed = true;
      }
      g.country = country;
      g.colo = colo;
    }
    g.seen_seq = seq_;
  }
  if (!ip_changed && !local_changed && !geo_changed) return;

  // Both sides carry the same keys, so a rule can compare them.
  if (ip_changed || geo_changed) {
    if (!before.contains("ip")) before["ip"] = strOrNull(ip);
    if (!before.contains("country")) before["country"] = strOrNull(country);
    if (!before.contains("colo")) before["colo"] = strOrNull(colo);
    after["ip"] = strOrNull(ip);
    after["country"] = strOrNull(country);
    after["colo"] = strOrNull(colo);
    if (!seen_by.empty()) after["seen_by"] = seen_by;
  }
  if (local_changed) after["local"] = local;

  AlertEvent e;
  e.kind = AlertKind::EgressChanged;
  e.at = now;
  // An address is the route's; a country or colo is what one provider's edge
  // sees, so that event names the provider.
  if (geo_changed && !ip_changed && !local_changed) e.provider = r.provider;
  e.route = r.route;
  e.cause = Cause::None;
  std::string s = "Route " + r.route;
  std::vector<std::string> parts;
  if (ip_changed)
    parts.push_back("public address changed from " + before["ip"].get<std::string>() + " to " + ip);
  if (geo_changed || (ip_changed && before["country"] != after["country"])) {
    std::string by = geo_changed ? " as " + providerDisplayName(r.provider) + " sees it" : "";
    std::string bc = before["country"].is_string() ? before["country"].get<std::string>() : "";
    std::string bl = before["colo"].is_string() ? before["colo"].get<std::string>() : "";
    if (bc != country)
      parts.push_back("country changed from " + orUnknown(bc) + " to " + orUnknown(country) + by);
    else if (bl != colo)
      parts.push_back("edge location changed from " + orUnknown(bl) + " to " + orUnknown(colo) +
                      by);
  }
  if (local_changed)
    parts.push_back("local source address changed from " + before["local"].get<std::string>() +
                    " to " + local);
  for (std::size_t i = 0; i < parts.size(); ++i) s += (i ? "; " : ": ") + parts[i];
  s += ". Providers that allow by region or address may answer differently now.";
  e.summary = s;
  e.before = std::move(before);
  e.after = std::move(after);
  if (!seen_by.empty()) e.evidence.push_back("seen by " + seen_by);
  out.push_back(std::move(e));
}

void EgressTracker::dnsChanges(const RouteResult& r, WallClock::time_point now,
                               std::vector<AlertEvent>& out) {
  std::vector<std::string> current;
  auto add = [&](const std::string& a) {
    if (!a.empty() && std::find(current.begin(), current.end(), a) == current.end())
      current.push_back(a);
  };
  for (const auto& ans : r.dns.answers)
    if (ans.status == LayerStatus::Ok)
      for (const auto& a : ans.addresses) add(a);
  for (const auto& a : r.dns.addresses) add(a);
  if (current.empty()) return;

  auto [it, fresh] = dns_.try_emplace({r.route, r.provider});
  Dns& d = it->second;
  std::vector<std::string> fresh_addrs;
  for (const auto& a : current)
    if (std::find(d.known.begin(), d.known.end(), a) == d.known.end()) fresh_addrs.push_back(a);
  if (fresh_addrs.empty()) return;

  nlohmann::json before = {{"addresses", d.known}};
  for (const auto& a : fresh_addrs) {
    d.known.push_back(a);
    if (d.known.size() > max_known_) d.known.pop_front();
  }
  if (fresh) return;  // the baseline

  AlertEvent e;
  e.kind = AlertKind::EgressChanged;
  e.at = now;
  e.provider = r.provider;
  e.route = r.route;
  e.cause = Cause::None;
  e.before = std::move(before);
  e.after = {{"addresses", current}, {"new", fresh_addrs}};
  std::string list;
  for (std::size_t i = 0; i < fresh_addrs.size(); ++i) list += (i ? ", " : "") + fresh_addrs[i];
  e.summary = "DNS for " + providerDisplayName(r.provider) + " on route " + r.route +
              " answers an address never seen before: " + list +
              ". Expected when the provider moves; if it is not the provider's, the "
              "resolver may be lying.";
  for (const auto& ans : r.dns.answers) {
    std::string line = "resolver " + ans.resolver + ":";
    if (ans.status != LayerStatus::Ok) line += " " + ans.error;
    for (const auto& a : ans.addresses) line += " " + a;
    e.evidence.push_back(line);
  }
  e.evidence = boundedEvidence(e.evidence);
  out.push_back(std::move(e));
}

void EgressTracker::tlsChanges(const RouteResult& r, WallClock::time_point now,
                               std::vector<AlertEvent>& out) {
  // A handshake that did not complete says nothing about who terminates TLS.
  if (r.tls.issuer.empty()) return;
  auto [it, fresh] = tls_.try_emplace({r.route, r.provider}, Tls{r.tls.issuer, r.tls.public_root});
  Tls& t = it->second;
  if (fresh) return;
  bool event = false;
  std::string what;
  if (t.public_root && r.tls.public_root) {
    if (*t.public_root != *r.tls.public_root) {
      event = true;
      what = *r.tls.public_root ? "no longer intercepted: the chain is public again"
                                : "now intercepted: the certificate does not chain to a public root";
    }
  } else if (t.issuer != r.tls.issuer) {
    event = true;
    what = "presented by a different issuer";
  }
  if (event) {
    AlertEvent e;
    e.kind = AlertKind::EgressChanged;
    e.at = now;
    e.provider = r.provider;
    e.route = r.route;
    e.cause = (r.tls.public_root && !*r.tls.public_root) ? Cause::Middlebox : Cause::None;
    auto obj = [](const std::string& issuer, std::optional<bool> pub) {
      nlohmann::json j = {{"issuer", issuer}};
      j["public_root"] = pub ? nlohmann::json(*pub) : nlohmann::json(nullptr);
      return j;
    };
    e.before = obj(t.issuer, t.public_root);
    e.after = obj(r.tls.issuer, r.tls.public_root);
    e.summary = "TLS to " + providerDisplayName(r.provider) + " on route " + r.route + " is " +
                what + " (issuer was \"" + t.issuer + "\", now \"" + r.tls.issuer + "\").";
    if (!r.tls.verify_error.empty()) e.evidence.push_back("verify: " + r.tls.verify_error);
    for (const auto& c : r.tls.chain) e.evidence.push_back("chain: " + c);
    e.evidence = boundedEvidence(e.evidence);
    out.push_back(std::move(e));
  }
  t.issuer = r.tls.issuer;
  t.public_root = r.tls.public_root;
}

void EgressTracker::retain(const std::set<std::string>& routes,
                           const std::set<std::pair<std::string, std::string>>& pairs) {
  std::erase_if(routes_, [&](const auto& kv) { return !routes.contains(kv.first); });
  auto keep = [&](const auto& kv) { return !pairs.contains(kv.first); };
  std::erase_if(geo_, keep);
  std::erase_if(dns_, keep);
  std::erase_if(tls_, keep);
}

}  // namespace pathwatch
