#include "route_binding.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "pathwatch/error_names.h"

namespace pathwatch {

namespace {

std::string bindDevice(int fd, const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return "no_such_device";
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                 static_cast<socklen_t>(ifname.size() + 1)) == 0)
    return "";
  // Never fall back silently: a route that cannot be pinned to its interface
  // would measure the default path under the route's name.
  if (errno == ENODEV) return "no_such_device";
  if (errno == EPERM || errno == EACCES) return "bind_device_refused";
  return "bind_device_refused";
}

std::string bindSource(int fd, int family, const std::string& source) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, source.c_str(), &a4) == 1) {
    if (family != AF_INET) return "address_family_mismatch";
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_addr = a4;
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, source.c_str(), &a6) == 1) {
    if (family != AF_INET6) return "address_family_mismatch";
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = a6;
    len = sizeof(sockaddr_in6);
  } else {
    return "bind_source_failed";
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return "bind_source_failed";
  return "";
}

}  // namespace

std::string applyRouteBinding(int fd, int family, const RouteConfig& route) {
  switch (route.kind) {
    case RouteKind::Default:
    case RouteKind::Proxy:  // the proxy is reached over the default path
      return "";
    case RouteKind::Interface:
      return bindDevice(fd, route.interface);
    case RouteKind::SourceIp:
      return bindSource(fd, family, route.source_ip);
  }
  return "";
}

std::string checkRouteBinding(const RouteConfig& route) {
  if (route.kind == RouteKind::Default || route.kind == RouteKind::Proxy) return "";
  int family = AF_INET;
  if (route.kind == RouteKind::SourceIp) {
    in6_addr a6{};
    if (inet_pton(AF_INET6, route.source_ip.c_str(), &a6) == 1) family = AF_INET6;
  }
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("cannot open a test socket: ") + std::strerror(errno);
  const std::string err = applyRouteBinding(fd, family, route);
  close(fd);
  if (err.empty()) return "";
  if (err == "bind_device_refused")
    return "route " + route.name + ": the kernel refused SO_BINDTODEVICE on interface " +
           route.interface +
           " (bind_device_refused; needs CAP_NET_RAW, e.g. AmbientCapabilities=CAP_NET_RAW): "
           "probes on this route fail instead of silently using the default path";
  if (err == "no_such_device")
    return "route " + route.name + ": interface " + route.interface +
           " does not exist (no_such_device)";
  if (err == "bind_source_failed")
    return "route " + route.name + ": cannot bind to source address " + route.source_ip +
           " (bind_source_failed; is the address configured on this host?)";
  return "route " + route.name + ": " + err;
}

std::string localRouteError(const RouteConfig& route, const std::string& ip) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(443);
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, ip.c_str(), &sin6->sin6_addr) == 1) {
    family = AF_INET6;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(443);
    len = sizeof(sockaddr_in6);
  } else {
    return "bad_address";
  }
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string(err::kAddressNotAvailable);  // the family is off on this host
  std::string out = route.kind == RouteKind::Proxy ? std::string() : applyRouteBinding(fd, family, route);
  if (out.empty() && connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    switch (errno) {
      case ENETUNREACH: out = err::kNetworkUnreachable; break;
      case EHOSTUNREACH: out = err::kHostUnreachable; break;
      case EADDRNOTAVAIL:
      case EAFNOSUPPORT: out = err::kAddressNotAvailable; break;
      default: out = "no_route"; break;  // a prohibit / blackhole route, ...
    }
  }
  if (out.empty() && family == AF_INET6) {
    // A link-local source cannot reach a global address: no IPv6 here.
    sockaddr_in6 local{};
    socklen_t local_len = sizeof local;
    const bool dst_link_local = IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        (IN6_IS_ADDR_LINKLOCAL(&local.sin6_addr) && !dst_link_local) || IN6_IS_ADDR_UNSPECIFIED(&local.sin6_addr))
      out = err::kAddressNotAvailable;
  }
  close(fd);
  return out;
}

}  // namespace pathwatch
