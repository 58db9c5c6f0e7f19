#include "pathwatch/redact.h"

#include "pathwatch/key.h"

namespace pathwatch {

std::string redactUrl(std::string_view url) {
  constexpr std::string_view kInvalid = "(invalid url)";
  const auto sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0 || sep > 16) return std::string(kInvalid);
  const std::string_view scheme = url.substr(0, sep);
  for (char c : scheme)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '+' || c == '-' || c == '.'))
      return std::string(kInvalid);
  const std::size_t host_start = sep + 3;
  const auto host_end = url.find_first_of("/?#", host_start);
  std::string_view authority = url.substr(host_start, host_end == std::string_view::npos
                                                          ? std::string_view::npos
                                                          : host_end - host_start);
  // user:password@host: drop the credentials.
  if (const auto at = authority.rfind('@'); at != std::string_view::npos)
    authority = authority.substr(at + 1);
  if (authority.empty() || authority.size() > 262) return std::string(kInvalid);
  // A host, a port, brackets around IPv6: anything else is not shown.
  for (char c : authority)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.' || c == ':' || c == '[' || c == ']'))
      return std::string(kInvalid);
  std::string out = std::string(scheme) + "://";
  out += containsApiKey(authority) ? std::string_view("…") : authority;
  if (host_end != std::string_view::npos) out += "/…";
  return out;
}

}  // namespace pathwatch
