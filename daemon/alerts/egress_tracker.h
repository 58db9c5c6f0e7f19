#pragma once
// Notices when the way out changes: per route, the public address the
// provider's edge (or the echo endpoint) sees, the country and colo as each
// provider's edge sees them, the local source address in use; per route x
// provider, the DNS answer set (a new address outside every address seen so
// far) and TLS interception appearing or going away. Pure: no I/O, time
// passed in.
//
// - The first observation of anything sets the baseline silently.
// - Public and local addresses are tracked per address family, so a
//   dual-stack provider next to a v4-only one is not a change.
// - Country and colo are tracked per provider (their geo databases and edges
//   differ). When the public address changed, that event already carries the
//   new country; the other providers' geo moving with it is folded in
//   silently.
// - TLS: an event when `public_root` flips (interception appears or goes
//   away). When no public root set is known, a change of leaf issuer is
//   reported instead. Plain issuer rotation under a public root (Let's
//   Encrypt R10 <-> R11) is not an event.
// - Results from a failed layer carry no observation for that layer.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "alerts/alert_event.h"
#include "pathwatch/result.h"

namespace pathwatch {

class EgressTracker {
 public:
  explicit EgressTracker(std::size_t max_known_addresses = 256)
      : max_known_(max_known_addresses) {}

  // Every egress_changed event this result reveals (usually none).
  std::vector<AlertEvent> observe(const RouteResult& r, WallClock::time_point now);

  // Forgets routes and route x provider pairs that were removed on reload.
  void retain(const std::set<std::string>& routes,
              const std::set<std::pair<std::string, std::string>>& pairs);

 private:
  struct Addr {
    std::string value;
    uint64_t changed_seq = 0;  // observation number of the last change
  };
  struct RouteState {
    std::map<bool, Addr> public_ip;  // keyed by "is v6"
    std::map<bool, Addr> local_ip;
  };
  struct Geo {
    std::string country, colo;
    uint64_t seen_seq = 0;
  };
  struct Dns {
    std::deque<std::string> known;  // oldest first, bounded
  };
  struct Tls {
    std::string issuer;
    std::optional<bool> public_root;
  };
  using PairKey = std::pair<std::string, std::string>;  // route, provider

  void addressChanges(const RouteResult& r, WallClock::time_point now,
                      std::vector<AlertEvent>& out);
  void dnsChanges(const RouteResult& r, WallClock::time_point now, std::vector<AlertEvent>& out);
  void tlsChanges(const RouteResult& r, WallClock::time_point now, std::vector<AlertEvent>& out);

  std::size_t max_known_;
  uint64_t seq_ = 0;
  std::map<std::string, RouteState> routes_;
  std::map<PairKey, Geo> geo_;
  std::map<PairKey, Dns> dns_;
  std::map<PairKey, Tls> tls_;
};

}  // namespace pathwatch
