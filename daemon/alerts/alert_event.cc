#include "alerts/alert_event.h"

#include "pathwatch/provider.h"

#include <ctime>

namespace pathwatch {

std::string_view toString(AlertKind k) {
  switch (k) {
    case AlertKind::Problem: return "problem";
    case AlertKind::Resolved: return "resolved";
    case AlertKind::Changed: return "changed";
    case AlertKind::Reminder: return "reminder";
    case AlertKind::Flapping: return "flapping";
    case AlertKind::EgressChanged: return "egress_changed";
  }
  return "problem";
}

nlohmann::json toJson(const AlertEvent& e) {
  nlohmann::json j = nlohmann::json::object();
  j["event"] = std::string(toString(e.kind));
  j["at"] = isoUtc(e.at);
  j["provider"] = e.provider ? nlohmann::json(*e.provider) : nlohmann::json(nullptr);
  j["route"] = e.route;
  j["before"] = e.before;
  j["after"] = e.after;
  j["cause"] = std::string(toString(e.cause));
  j["summary"] = e.summary;
  j["evidence"] = e.evidence;
  return j;
}

std::string isoUtc(WallClock::time_point t) {
  std::time_t secs = WallClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string providerDisplayName(std::string_view provider) { return displayName(provider); }

std::vector<std::string> boundedEvidence(const std::vector<std::string>& in) {
  constexpr std::size_t kMaxItems = 20;
  constexpr std::size_t kMaxLen = 500;
  std::vector<std::string> out;
  for (const auto& s : in) {
    if (out.size() == kMaxItems) {
      out.push_back("(" + std::to_string(in.size() - kMaxItems) + " more)");
      break;
    }
    if (s.size() <= kMaxLen) {
      out.push_back(s);
    } else {
      // Cut on a UTF-8 boundary so the JSON stays valid.
      std::size_t n = kMaxLen;
      while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
      out.push_back(s.substr(0, n) + "…");
    }
  }
  return out;
}

std::string_view causeAdvice(Cause c) {
  switch (c) {
    case Cause::None: return "it works";
    case Cause::Key: return "check the API key";
    case Cause::Account: return "check the account's billing, quota or permissions";
    case Cause::Usage: return "requests are rate limited; slow down or raise the limit";
    case Cause::Region: return "the provider refuses this egress's country or region; use another route";
    case Cause::Middlebox: return "something on the path (proxy, firewall, TLS inspection) interferes";
    case Cause::Network: return "the network path fails";
    case Cause::Route: return "the route's proxy is unreachable or refuses";
    case Cause::Provider: return "the provider itself reports errors; check its status page";
    case Cause::Unknown: return "an answer that fits no known signature; see the evidence";
    case Cause::Host: return "this machine itself (its clock or CA store) is at fault";
  }
  return "see the evidence";
}

std::string egressPhrase(const RouteResult& r) {
  std::string ip, country;
  if (r.egress) {
    ip = r.egress->ip;
    country = r.egress->country;
  }
  if (ip.empty()) ip = r.echo.client_address;
  if (ip.empty() && country.empty()) return "";
  std::string s = "egress ";
  s += ip.empty() ? "unknown" : ip;
  if (!country.empty()) s += ", " + country;
  return s;
}

}  // namespace pathwatch
