#include "pathwatch/verdict.h"

#include <array>
#include <utility>

namespace pathwatch {
namespace {

struct VerdictRow {
  Verdict verdict;
  std::string_view name;
  Cause cause;
};

// docs/verdicts.md's verdict table, in its order.
constexpr std::array kVerdicts{
    VerdictRow{Verdict::Ok, "ok", Cause::None},
    VerdictRow{Verdict::KeyMissing, "key_missing", Cause::Key},
    VerdictRow{Verdict::KeyMalformed, "key_malformed", Cause::Key},
    VerdictRow{Verdict::AuthFailed, "auth_failed", Cause::Key},
    VerdictRow{Verdict::PermissionDenied, "permission_denied", Cause::Account},
    VerdictRow{Verdict::QuotaExhausted, "quota_exhausted", Cause::Account},
    VerdictRow{Verdict::RateLimited, "rate_limited", Cause::Usage},
    VerdictRow{Verdict::RegionBlocked, "region_blocked", Cause::Region},
    VerdictRow{Verdict::MiddleboxBlocked, "middlebox_blocked", Cause::Middlebox},
    VerdictRow{Verdict::HeadersRewritten, "headers_rewritten", Cause::Middlebox},
    VerdictRow{Verdict::TlsIntercepted, "tls_intercepted", Cause::Middlebox},
    VerdictRow{Verdict::DnsFailed, "dns_failed", Cause::Network},
    VerdictRow{Verdict::DnsTampered, "dns_tampered", Cause::Network},
    VerdictRow{Verdict::ConnectFailed, "connect_failed", Cause::Network},
    VerdictRow{Verdict::TlsFailed, "tls_failed", Cause::Network},
    VerdictRow{Verdict::HttpFailed, "http_failed", Cause::Network},
    VerdictRow{Verdict::ProxyFailed, "proxy_failed", Cause::Route},
    VerdictRow{Verdict::ProviderError, "provider_error", Cause::Provider},
    VerdictRow{Verdict::Unexpected, "unexpected", Cause::Unknown},
    VerdictRow{Verdict::Ipv6Broken, "ipv6_broken", Cause::Network},
};

constexpr std::array<std::pair<Cause, std::string_view>, 11> kCauses{{
    {Cause::None, "none"},
    {Cause::Key, "key"},
    {Cause::Account, "account"},
    {Cause::Usage, "usage"},
    {Cause::Region, "region"},
    {Cause::Middlebox, "middlebox"},
    {Cause::Network, "network"},
    {Cause::Route, "route"},
    {Cause::Provider, "provider"},
    {Cause::Unknown, "unknown"},
    {Cause::Host, "host"},
}};

}  // namespace

std::string_view toString(Verdict v) {
  for (const auto& row : kVerdicts)
    if (row.verdict == v) return row.name;
  return "unexpected";
}

std::string_view toString(Cause c) {
  for (const auto& [cause, name] : kCauses)
    if (cause == c) return name;
  return "unknown";
}

std::optional<Verdict> verdictFromString(std::string_view s) {
  for (const auto& row : kVerdicts)
    if (row.name == s) return row.verdict;
  return std::nullopt;
}

std::optional<Cause> causeFromString(std::string_view s) {
  for (const auto& [cause, name] : kCauses)
    if (name == s) return cause;
  return std::nullopt;
}

Cause causeOf(Verdict v) {
  for (const auto& row : kVerdicts)
    if (row.verdict == v) return row.cause;
  return Cause::Unknown;
}

}  // namespace pathwatch
