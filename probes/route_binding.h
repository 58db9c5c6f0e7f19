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

}  // namespace pathwatch
