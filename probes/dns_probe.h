#pragma once
// The DNS layer: one host asked of every configured resolver of a route at
// once (A and AAAA each), one c-ares channel per resolver so each answer is
// attributable. Produces a DnsLayer; failures are data.
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pathwatch/uv_handle.h"
#include "pathwatch/config.h"
#include "pathwatch/duration.h"
#include "pathwatch/result.h"

namespace pathwatch {

class AresChannel;

struct DnsTarget {
  std::string resolver;           // as configured: "system", "127.0.0.1:5353", ...
  AresChannel* channel = nullptr; // not owned; nullptr when it could not be set up
  std::string setup_error;        // why channel is nullptr
};

struct DnsProbeOptions {
  std::string host;
  bool flag_bogons = false;            // a built-in (public) provider
  std::vector<CidrRange> allowed;      // allowed_ranges: genuine answers anyway
  Millis budget = std::chrono::seconds(4);  // per resolver, both queries included
};

// The layer from per-resolver answers (pure; also used by tests): status ok if
// any resolver gave addresses, `addresses` from the first successful resolver
// in configured order, resolvers_disagree when successful answer sets differ.
DnsLayer summarizeDns(std::vector<DnsAnswer> answers);

class DnsProbe {
 public:
  using Done = std::function<void(DnsLayer)>;
  // Starts on a later loop turn; `done` runs exactly once unless destroyed.
  DnsProbe(uv_loop_t* loop, std::vector<DnsTarget> targets, DnsProbeOptions opts, Done done);
  ~DnsProbe();  // cancels: no callback afterwards
  DnsProbe(const DnsProbe&) = delete;
  DnsProbe& operator=(const DnsProbe&) = delete;

 private:
  struct Query;
  struct PerResolver;
  static void onStart(uv_timer_t* t) noexcept;
  static void onBackstop(uv_timer_t* t) noexcept;
  void start();
  void queryDone(std::size_t idx, bool aaaa, int status, const unsigned char* abuf, int alen);
  void resolverDone(std::size_t idx);
  void finishIfComplete();

  uv_loop_t* loop_;
  std::vector<DnsTarget> targets_;
  DnsProbeOptions opts_;
  Done done_;
  std::vector<std::unique_ptr<PerResolver>> state_;
  UvTimer timer_;
  uint64_t started_ns_ = 0;
  bool finished_ = false;
  bool starting_ = false;  // completion waits until every query is started
};

}  // namespace pathwatch
