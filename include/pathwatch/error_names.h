#pragma once
// The fixed lower_snake strings a layer's `error` takes (docs/json.md). They
// are part of the JSON contract: add, never rename. Code that sets or tests
// one names it here, so a typo is a compile error, not a silent mismatch.
#include <string_view>

namespace pathwatch::err {

// Any layer.
inline constexpr std::string_view kTimeout = "timeout";

// key
inline constexpr std::string_view kKeyMissing = "key_missing";
inline constexpr std::string_view kKeyMalformed = "key_malformed";

// dns
inline constexpr std::string_view kNxdomain = "nxdomain";
inline constexpr std::string_view kServfail = "servfail";
inline constexpr std::string_view kRefused = "refused";
inline constexpr std::string_view kNodata = "nodata";
inline constexpr std::string_view kBogon = "bogon";

// tcp (and the transport under tls/http)
inline constexpr std::string_view kConnectionRefused = "connection_refused";
inline constexpr std::string_view kConnectionReset = "connection_reset";
inline constexpr std::string_view kNetworkUnreachable = "network_unreachable";
inline constexpr std::string_view kHostUnreachable = "host_unreachable";
inline constexpr std::string_view kAddressNotAvailable = "address_not_available";
inline constexpr std::string_view kProxyDnsFailed = "proxy_dns_failed";
inline constexpr std::string_view kProxyUnreachable = "proxy_unreachable";

// tls
inline constexpr std::string_view kTlsUnknownAuthority = "tls_unknown_authority";
inline constexpr std::string_view kTlsExpired = "tls_expired";
inline constexpr std::string_view kTlsNotYetValid = "tls_not_yet_valid";
inline constexpr std::string_view kTlsHostnameMismatch = "tls_hostname_mismatch";
inline constexpr std::string_view kTlsBadCertificate = "tls_bad_certificate";
inline constexpr std::string_view kTlsProtocolError = "tls_protocol_error";
inline constexpr std::string_view kTlsHandshakeFailed = "tls_handshake_failed";
inline constexpr std::string_view kNotPubliclyTrusted = "not_publicly_trusted";

// A failure of the TLS exchange itself, as opposed to not reaching the address.
constexpr bool isTlsError(std::string_view e) {
  return e.substr(0, 4) == "tls_" || e == kNotPubliclyTrusted;
}

}  // namespace pathwatch::err
