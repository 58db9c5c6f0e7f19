// IP literals, CIDR ranges and the special-use ranges (inet_pton only: pure,
// never a resolver).
#include "pathwatch/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace pathwatch {

std::optional<IpAddr> parseIp(std::string_view text) {
  // The longest literal is an IPv4-mapped IPv6 one, 45 characters. inet_pton
  // reads a C string: an embedded NUL would hide whatever follows it.
  if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos)
    return std::nullopt;
  const std::string s(text);
  IpAddr ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes) == 1) return ip;
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes) == 1) {
    ip.v6 = true;
    return ip;
  }
  return std::nullopt;
}

bool isIpLiteral(std::string_view host) { return parseIp(host).has_value(); }

bool CidrRange::contains(const uint8_t* addr, bool addr_v6) const {
  if (addr_v6 != v6) return false;
  const int full = prefix / 8;
  if (std::memcmp(addr, bytes, static_cast<std::size_t>(full)) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (addr[full] & mask) == (bytes[full] & mask);
}

std::optional<CidrRange> parseCidr(std::string_view text, std::string& problem) {
  const auto slash = text.find('/');
  auto ip = parseIp(text.substr(0, slash));
  if (!ip) {
    problem = "is not a CIDR range (expected e.g. \"10.20.0.0/16\" or \"fd00::/8\")";
    return std::nullopt;
  }
  CidrRange range;
  range.text = std::string(text);
  range.v6 = ip->v6;
  std::memcpy(range.bytes, ip->bytes, sizeof range.bytes);
  const int max_prefix = ip->v6 ? 128 : 32;
  range.prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    int value = -1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || value < 0 ||
        value > max_prefix) {
      problem = "has a bad prefix length (0.." + std::to_string(max_prefix) + ")";
      return std::nullopt;
    }
    range.prefix = value;
  }
  // Host bits set is almost always a typo ("10.20.1.0/16"): say what was meant.
  // The suggestion is rebuilt from parsed bytes, so it is an address, never
  // arbitrary text from the file.
  CidrRange masked = range;
  const int len = ip->v6 ? 16 : 4;
  for (int i = 0; i < len; ++i) {
    const int bits = std::clamp(range.prefix - i * 8, 0, 8);
    masked.bytes[i] =
        static_cast<uint8_t>(masked.bytes[i] & (bits == 0 ? 0 : (0xFF << (8 - bits))));
  }
  if (std::memcmp(masked.bytes, range.bytes, sizeof range.bytes) != 0) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(ip->v6 ? AF_INET6 : AF_INET, masked.bytes, buf, sizeof buf);
    problem = "has host bits set; did you mean \"" + std::string(buf) + "/" +
              std::to_string(range.prefix) + "\"?";
    return std::nullopt;
  }
  return range;
}

namespace {

struct Special {
  uint8_t bytes[16];
  int prefix;
};

bool inRange(const uint8_t* addr, const uint8_t* net, int prefix) {
  CidrRange r;
  std::memcpy(r.bytes, net, 16);
  r.prefix = prefix;
  r.v6 = false;  // only used for the bit comparison
  return r.contains(addr, false);
}

bool isSpecialV4(const uint8_t* a) {
  static const Special kV4[] = {
      {{0, 0, 0, 0}, 8},        // "this network"
      {{10, 0, 0, 0}, 8},       // private
      {{100, 64, 0, 0}, 10},    // CGNAT
      {{127, 0, 0, 0}, 8},      // loopback
      {{169, 254, 0, 0}, 16},   // link-local
      {{172, 16, 0, 0}, 12},    // private
      {{192, 0, 0, 0}, 24},     // IETF protocol assignments
      {{192, 0, 2, 0}, 24},     // TEST-NET-1
      {{192, 88, 99, 0}, 24},   // 6to4 relay anycast (deprecated)
      {{192, 168, 0, 0}, 16},   // private
      {{198, 18, 0, 0}, 15},    // benchmarking; proxy clients' "fake-ip" answers
      {{198, 51, 100, 0}, 24},  // TEST-NET-2
      {{203, 0, 113, 0}, 24},   // TEST-NET-3
      {{224, 0, 0, 0}, 4},      // multicast
      {{240, 0, 0, 0}, 4},      // reserved, includes 255.255.255.255
  };
  for (const auto& s : kV4)
    if (inRange(a, s.bytes, s.prefix)) return true;
  return false;
}

bool isSpecialV6(const uint8_t* a) {
  static const Special kV6[] = {
      {{0x01, 0x00}, 64},                // discard-only
      {{0x20, 0x01, 0x00, 0x00}, 23},    // IETF protocol assignments (Teredo, ORCHID, ...)
      {{0x20, 0x01, 0x0d, 0xb8}, 32},    // documentation
      {{0x3f, 0xff}, 20},                // documentation (RFC 9637)
      {{0x5f, 0x00}, 16},                // SRv6 SIDs
  };
  // Only 2000::/3 is global unicast; everything else (::, ::1, fc00::/7,
  // fe80::/10, ff00::/8, ...) is special-use.
  if ((a[0] & 0xE0) != 0x20) return true;
  for (const auto& s : kV6)
    if (inRange(a, s.bytes, s.prefix)) return true;
  return false;
}

bool allowedBy(const std::vector<CidrRange>& allowed, const uint8_t* addr, bool v6) {
  for (const auto& r : allowed)
    if (r.contains(addr, v6)) return true;
  return false;
}

}  // namespace

bool isBogon(const std::string& address, const std::vector<CidrRange>& allowed) {
  auto ip = parseIp(address);
  if (!ip) return true;  // not an address at all: never a genuine answer
  if (allowedBy(allowed, ip->bytes, ip->v6)) return false;
  if (!ip->v6) return isSpecialV4(ip->bytes);
  const uint8_t* a = ip->bytes;
  // Addresses that carry an IPv4 address: judge the IPv4 one.
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  static const uint8_t kNat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(a, kMapped, 12) == 0 || std::memcmp(a, kNat64, 12) == 0) {
    const uint8_t* v4 = a + 12;
    if (allowedBy(allowed, v4, false)) return false;
    return isSpecialV4(v4);
  }
  return isSpecialV6(a);
}

std::optional<uint16_t> parsePort(std::string_view text) {
  unsigned port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || port == 0 ||
      port > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(port);
}

std::optional<HostPort> parseIpPort(std::string_view text) {
  HostPort out;
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    auto ip = parseIp(host);
    if (!ip || !ip->v6) return std::nullopt;
    out.v6 = true;
  } else {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos)
      return std::nullopt;  // no port, or an IPv6 literal without brackets
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    auto ip = parseIp(host);
    if (!ip || ip->v6) return std::nullopt;
  }
  auto p = parsePort(port);
  if (!p) return std::nullopt;
  out.host = std::string(host);
  out.port = *p;
  return out;
}

}  // namespace pathwatch
