#pragma once
// The verdict vocabulary of docs/verdicts.md. Names are part of the public contract:
// add, never rename.
#include <optional>
#include <string_view>

namespace pathwatch {

enum class Verdict {
  Ok,
  KeyMissing,
  KeyMalformed,
  AuthFailed,
  PermissionDenied,
  QuotaExhausted,
  RateLimited,
  RegionBlocked,
  MiddleboxBlocked,
  HeadersRewritten,
  TlsIntercepted,
  DnsFailed,
  DnsTampered,
  ConnectFailed,
  TlsFailed,
  HttpFailed,
  ProxyFailed,
  ProviderError,
  Unexpected,
  Ipv6Broken,  // added: IPv6 fails on a route whose IPv4 works
};

enum class Cause {
  None,
  Key,
  Account,
  Usage,
  Region,
  Middlebox,
  Network,
  Route,
  Provider,
  Unknown,
  Host,  // added: this machine itself (its clock, its CA store)
};

std::string_view toString(Verdict v);
std::string_view toString(Cause c);
std::optional<Verdict> verdictFromString(std::string_view s);
std::optional<Cause> causeFromString(std::string_view s);

// The cause column of docs/verdicts.md's table.
Cause causeOf(Verdict v);

}  // namespace pathwatch
