#include "egress.h"

#include <arpa/inet.h>

#include <algorithm>

namespace pathwatch {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool isIpAddress(std::string_view s) {
  // inet_pton reads up to a NUL: an address followed by NUL and more is not one.
  if (s.empty() || s.size() > 45 || s.find('\0') != std::string_view::npos) return false;
  const std::string text(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

bool allOf(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}

bool isUpperAlnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool isUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool isKeyChar(char c) { return (c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9'); }

}  // namespace

std::optional<Egress> parseCdnTrace(std::string_view body) {
  // A real trace is ~300 bytes; anything far larger is some other page.
  if (body.empty() || body.size() > 16 * 1024) return std::nullopt;
  Egress e;
  bool have_ip = false;
  while (!body.empty()) {
    const std::size_t nl = body.find('\n');
    const std::string_view line = trim(body.substr(0, nl));
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    if (line.empty()) continue;
    const std::size_t eq = line.find('=');
    // Every line of a trace is key=value with a lower-case key; an HTML page is not.
    if (eq == std::string_view::npos || !allOf(line.substr(0, eq), isKeyChar)) return std::nullopt;
    const std::string_view key = line.substr(0, eq);
    const std::string_view value = line.substr(eq + 1);
    if (key == "ip" && !have_ip) {
      if (!isIpAddress(value)) return std::nullopt;
      e.ip.assign(value);
      have_ip = true;
    } else if (key == "loc" && e.country.empty() && value.size() == 2 && allOf(value, isUpperAlnum)) {
      e.country.assign(value);  // XX (unknown) and T1 (Tor) are kept as Cloudflare says them
    } else if (key == "colo" && e.colo.empty() && value.size() >= 3 && value.size() <= 4 &&
               allOf(value, isUpper)) {
      e.colo.assign(value);
    }
  }
  if (!have_ip) return std::nullopt;
  return e;
}

std::string cfRaySite(std::string_view cf_ray) {
  cf_ray = trim(cf_ray);
  const std::size_t dash = cf_ray.rfind('-');
  if (dash == std::string_view::npos) return "";
  const std::string_view id = cf_ray.substr(0, dash);
  const std::string_view site = cf_ray.substr(dash + 1);
  if (id.empty() || id.size() > 32 || !allOf(id, isHex)) return "";
  if (site.size() != 3 || !allOf(site, isUpper)) return "";
  return std::string(site);
}

}  // namespace pathwatch
