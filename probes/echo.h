#pragma once
// Header echo, client side (pure: no I/O). The engine sends buildEchoRequest()'s
// headers to a configured echo endpoint over a route and hands the answer to
// compareEcho(), which says what the path added, removed, changed or re-cased.
#include <cstdint>
#include <string>
#include <vector>

#include "pathwatch/provider.h"
#include "pathwatch/result.h"

namespace pathwatch {

struct ProviderDef;

struct EchoRequest {
  std::string url;
  HeaderList headers;                 // what was sent, in order, name case as sent
  std::vector<std::string> canaries;  // the auth headers' full values (canaries, never real keys)
};

// A request for an echo endpoint carrying, once per auth header name among
// `shapes` (the providers probed over the route), a canary in that provider's
// shape (same header name and prefix, so a proxy that matches on shape treats
// it like a real key), the fixed headers those providers need, a few custom
// headers (X-Pathwatch-Probe, X-Pathwatch-Case-Check) and header NAMES in
// mixed capitalisation (deterministic from seed) so case rewriting is visible.
EchoRequest buildEchoRequest(const std::string& endpoint, const std::vector<const ProviderDef*>& shapes,
                             uint64_t seed);

// Compares what the echo saw with what was sent. Understands the pathwatch
// echo-server format ({"request_line", "headers": [[name, value], ...],
// "client": {"address", "port"}}) and httpbin-style /anything ({"headers":
// {...}, "origin": "..."}, where name case cannot be judged: said in
// out.evidence, case_changed left empty). Fills out.status (ok | altered |
// fail with error echo_bad_response / echo_http_<code>), added, removed,
// changed, case_changed (lower-case names), client_address, endpoint, evidence.
// Headers an HTTP client stack or the echo's own server add predictably (see
// isEchoNoiseHeader) are not counted as added.
void compareEcho(const EchoRequest& sent, int status, const HeaderList& response_headers,
                 const std::string& body, EchoLayer& out);

// True for a header name (any case) that compareEcho never reports as added:
// framing and transport headers the client's or echo's own stack may add.
bool isEchoNoiseHeader(std::string_view name);

// Headers that every route's echo shows added (the echo's own front end, e.g. a
// reverse proxy in front of the echo server) are not blamed on a route: they are
// removed from every echo's `added` (and the status recomputed) when >= 2
// routes' echoes answered (status ok or altered); with one nothing is discounted.
void discountCommonEchoAdditions(const std::vector<EchoLayer*>& one_echo_per_route);

}  // namespace pathwatch
