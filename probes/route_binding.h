#pragma once
// Route binding on a socket before connect: SO_BINDTODEVICE for interface
// routes, bind() to the source address for source_ip routes. Used by the tcp
// probe, by libcurl's sockopt callback and by c-ares' socket callback, so
// every layer of a route leaves the same way.
#include <string>

#include "pathwatch/config.h"

namespace pathwatch {

// Returns "" on success, else a fixed error string ("bind_device_refused",
// "no_such_device", "bind_source_failed", "address_family_mismatch").
std::string applyRouteBinding(int fd, int family, const RouteConfig& route);

// Probes once whether the kernel accepts this route's binding (SO_BINDTODEVICE
// needs CAP_NET_RAW): "" or an explanation a person can act on.
std::string checkRouteBinding(const RouteConfig& route);

// Does this host have a route and a usable source address to `ip` on this
// route's binding? A routing lookup only (a UDP socket connected, nothing
// sent), so it never blocks. "" when it does, else a fixed error string:
// "network_unreachable", "host_unreachable", "address_not_available" (no
// source address of that family, or only a link-local one), a binding error.
std::string localRouteError(const RouteConfig& route, const std::string& ip);

}  // namespace pathwatch
