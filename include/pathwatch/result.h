#pragma once
// What one probe of one provider over one route found, layer by layer, and the
// report of a whole check. Plain data: the engine fills the layers, classify()
// sets the verdict and evidence, diagnose() the per-provider diagnosis.
// JSON shape (docs/json.md) lives in report_json.h.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pathwatch/provider.h"
#include "pathwatch/verdict.h"

namespace pathwatch {

// ok | fail (with error) | altered (echo only) | skipped (with reason)
enum class LayerStatus { Ok, Fail, Altered, Skipped };
std::string_view toString(LayerStatus s);

struct LayerBase {
  LayerStatus status = LayerStatus::Skipped;
  std::string error;   // fixed lower_snake string when status == Fail (error_names.h)
  std::string reason;  // why, when status == Skipped
  std::string detail;  // what the underlying library said about a failure (scrubbed)
  double ms = 0;       // time spent in this layer
};

struct KeyLayer : LayerBase {
  std::string source;           // "env:OPENAI_API_KEY", "file:/run/...", "none"
  bool configured = false;      // the config named a key source explicitly
  bool read = false;            // a key was read from the source
  std::size_t length = 0;       // of the key as read (before any trimming)
  std::string fingerprint;      // first 7 + "…" + last 4; empty when the key is short
  std::vector<std::string> problems;  // "trailing_newline", "surrounding_quotes", ...
  std::string looks_like;       // provider kind whose shape the key has, "" when unknown
};

struct DnsAnswer {
  std::string resolver;  // "system", "1.1.1.1", ...
  LayerStatus status = LayerStatus::Ok;
  std::string error;     // nxdomain, servfail, refused, timeout, nodata, ...
  std::vector<std::string> addresses;  // A then AAAA, as answered
  std::vector<std::string> bogons;     // the subset that are special-use addresses
  double ms = 0;
  // Only for an answer disjoint from the one used (resolvers disagree): did
  // its first address pass TLS for the name (same checks as the probe)?
  // Unset when not checked. tls_error says why not.
  std::optional<bool> tls_ok;
  std::string tls_error;
};

struct DnsLayer : LayerBase {
  std::vector<DnsAnswer> answers;
  std::vector<std::string> addresses;  // the addresses later layers use, in order
  bool resolvers_disagree = false;     // answer sets differ (geo-DNS does this honestly)
};

struct TcpAttempt {
  std::string address;  // "198.18.0.10:443" or "[2001:db8::1]:443"
  LayerStatus status = LayerStatus::Ok;
  std::string error;    // connection_refused, connection_reset, timeout, unreachable, tls_*...
  double ms = 0;
  std::string family = {};  // "ipv4" | "ipv6"
};

struct TcpLayer : LayerBase {
  std::string address;  // the one that connected
  std::vector<TcpAttempt> attempts;
  bool via_proxy = false;  // the connect went to the route's proxy
  std::string local_address;  // our source address of that connection (no port); "" unknown
  // Whether this host itself can send IPv6 to the provider on this route (a
  // routing lookup, nothing sent), asked when the name has IPv6 addresses:
  // "ok", or why not ("network_unreachable", "address_not_available", ...).
  // "" when not asked. A route without IPv6 is not a broken IPv6.
  std::string ipv6_route;
  // The answer came on a connection an earlier probe on this route made to
  // the same host and address (docs/json.md): `ms` and the TLS layer are that
  // handshake's, made connection_age_ms before this request.
  bool reused = false;
  double connection_age_ms = 0;
  // A kept connection this probe first went on stopped being acknowledged:
  // the path dropped it; the layers are those of the new connection after.
  bool stalled_connection_replaced = false;
};

struct TlsLayer : LayerBase {
  std::string sni;
  std::string version;  // "TLSv1.3"
  std::string issuer, subject, not_after;  // of the leaf, not_after as ISO 8601
  std::vector<std::string> chain;          // subjects, leaf first, as presented
  std::optional<bool> ca_file_ok;   // verified against tls.ca_file
  std::optional<bool> public_root;  // verified against tls.public_roots
  std::string verify_error;         // OpenSSL's reason when a verification failed
  std::string small_mss;  // "works" | "fails": a stalled handshake retried with a small TCP MSS
  bool reused = false;    // the handshake of a reused connection (TcpLayer::reused)
};

struct HttpTimings {
  double dns = 0, connect = 0, tls = 0, ttfb = 0, total = 0;  // ms, cumulative like curl's
};

struct HttpLayer : LayerBase {
  std::string method = "GET";
  std::string url;
  int code = 0;            // the provider's (or whoever's) status; 0 when none
  int proxy_code = 0;      // the proxy's answer to CONNECT, when there is a proxy
  HeaderList headers;      // as received (final response only), key values scrubbed
  std::string body;        // first 64 KiB at most, key values scrubbed
  std::size_t body_bytes = 0;  // how much the server sent (may exceed body.size())
  bool body_truncated = false;
  HttpTimings timings;
  // Filled by classify (who wrote the answer and what it says):
  std::string authored_by;  // provider | edge | middlebox | unknown ("" before classify)
  std::string error_type, error_code, message;
  std::optional<double> retry_after_s;    // from retry-after(-ms), RetryInfo, body
  std::map<std::string, std::string> rate;  // x-ratelimit-*, anthropic-ratelimit-*, quota ids
};

struct EchoLayer : LayerBase {
  std::string endpoint;
  std::vector<std::string> added, removed, changed, case_changed;  // header names, lower case
  std::string client_address;  // the public address the echo saw
  std::vector<std::string> evidence;  // what compareEcho could not judge or found odd
};

// What one answer says about this host's clock (docs/json.md `host`): the
// server's Date and the wall-clock window in which the server wrote it, or
// the server's certificate refused as expired / not yet valid. Kept in
// memory only; the report carries the judgement (HostReport).
struct ClockSighting {
  std::string server;              // the name (or address) asked
  int64_t sent_ms = 0;             // wall clock when the request started
  int64_t answered_ms = 0;         // wall clock when the answer was in
  std::optional<int64_t> date_ms;  // the answer's Date header
  std::string tls_time_error;      // tls_expired | tls_not_yet_valid
  std::string certificate;         // that leaf's subject and expiry: tells servers apart
};

struct Egress {
  std::string ip, country, colo, seen_by;  // seen_by: provider (cdn-cgi/trace) or "echo"
  bool empty() const { return ip.empty() && country.empty() && colo.empty(); }
};

struct RouteResult {
  std::string provider;
  std::string route;
  Verdict verdict = Verdict::Unexpected;
  std::vector<std::string> evidence;
  KeyLayer key;
  DnsLayer dns;
  TcpLayer tcp;
  TlsLayer tls;
  HttpLayer http;
  EchoLayer echo;
  std::optional<Egress> egress;
  std::string started_at;  // ISO 8601 UTC
  double ms = 0;           // whole probe
  int64_t deadline_ms = 0;  // the probe hit its deadline of this many ms (0: it did not)
  std::vector<ClockSighting> clock;  // every answer's Date and TLS time errors (not in JSON)
};

// What a route's own probes saw in one cycle, shared by every provider on
// it: the header echo, the egress identity, and whether the kernel took the
// route's binding. Raw: report.h turns observations into the view every
// pair of the route is classified against.
struct RouteObservation {
  std::string route;
  std::string binding_error;       // e.g. SO_BINDTODEVICE refused; "" when fine
  std::string public_roots_error;  // interception cannot be judged: why
  EchoLayer echo;                  // skipped when no echo endpoint is configured
  std::optional<Egress> egress;    // cdn-cgi/trace, else the echo's view of our address
  int64_t observed_ms = 0;         // loop clock when it finished (freshness)
  std::vector<ClockSighting> clock;  // the echo's and the trace's answers
};

struct Diagnosis {
  Verdict verdict = Verdict::Unexpected;
  Cause cause = Cause::Unknown;
  std::vector<std::string> working_routes;
  std::string summary;
};

struct ProviderReport {
  std::string name;
  Diagnosis diagnosis;
  std::vector<RouteResult> routes;
};

struct RouteReport {
  std::string name;
  std::optional<Egress> egress;
  std::string binding_error;  // e.g. SO_BINDTODEVICE refused: said loudly, never ignored
};

// This machine as the answers of a check saw it (docs/verdicts.md, cause host).
struct HostReport {
  // This host's clock minus the servers' (positive: this host is ahead), in
  // seconds: the median over every answer that carried a Date header.
  std::optional<double> clock_offset_s;
  int clock_samples = 0;  // answers with a Date header
  // Distinct server certificates refused as expired or not yet valid.
  std::vector<std::string> tls_time_servers;
  // More than 5 minutes off by the Date headers; without any Date, the
  // certificates of two or more unrelated servers out of their time.
  bool clockWrong() const;
};

struct CheckReport {
  int version = 1;
  std::string started_at;
  int64_t duration_ms = 0;
  std::vector<RouteReport> routes;
  std::vector<ProviderReport> providers;
  std::optional<HostReport> host;  // when any answer said something about the clock
  bool allOk() const;
};

}  // namespace pathwatch
