#pragma once
// IP addresses as text: literals, CIDR ranges and the special-use ranges that
// make a public name's answer suspicious. Pure: inet_pton only, never a resolver.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pathwatch {

struct IpAddr {
  bool v6 = false;
  uint8_t bytes[16] = {};  // network order; the first 4 for IPv4
};

// An IPv4 or IPv6 literal (no brackets, no port, no zone); nullopt for
// anything else, names included.
std::optional<IpAddr> parseIp(std::string_view text);

// True when `host` is an IPv4 or IPv6 address literal (no brackets), not a name.
bool isIpLiteral(std::string_view host);

struct CidrRange {
  std::string text;  // "10.20.0.0/16"
  bool v6 = false;
  uint8_t bytes[16] = {};
  int prefix = 0;
  bool contains(const uint8_t* addr, bool addr_v6) const;
};

// "10.20.0.0/16", "fd00::/8", or a bare address (a /32 or /128). On failure
// sets `problem` to a sentence that never repeats the text itself, except
// that host bits set suggest the network meant ("did you mean 10.20.0.0/16").
std::optional<CidrRange> parseCidr(std::string_view text, std::string& problem);

// True when `address` (an IP literal) is a special-use address: unspecified,
// loopback, private, link-local, CGNAT, 198.18.0.0/15, multicast, reserved,
// documentation, ULA... and not inside `allowed`. Not an address at all: true.
bool isBogon(const std::string& address, const std::vector<CidrRange>& allowed);

// "host:port" with an IPv4 literal or "[IPv6]:port"; the port 1..65535 and
// always explicit. Names are refused: a listen address is never resolved.
struct HostPort {
  std::string host;  // the literal, without brackets
  bool v6 = false;
  uint16_t port = 0;
};
std::optional<HostPort> parseIpPort(std::string_view text);

// "1".."65535" exactly (no sign, no spaces, no leading '+'); nullopt otherwise.
std::optional<uint16_t> parsePort(std::string_view text);

}  // namespace pathwatch
