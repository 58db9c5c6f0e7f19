// libFuzzer target for the egress identity parsers (probes/egress.cc): the
// cdn-cgi/trace body (parseCdnTrace) and the CF-Ray site code (cfRaySite).
// Both read bytes a middlebox or a fake CDN controls.
//
// Besides "never crashes" (ASan + UBSan) it checks for every input:
// - the parse is deterministic;
// - every field kept is bounded, printable ASCII and copied from the input
//   (ip an address inet_pton accepts, loc two of A-Z0-9, colo 3-4 of A-Z,
//   seen_by left to the caller);
// - CRLF line ends read like LF ones;
// - a body over 16 KiB is never taken for a trace;
// - a CF-Ray site is "" or three of A-Z found at the end of the header.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "egress.h"
#include "fuzz_check.h"

using pathwatch::Egress;

namespace {

bool allIn(std::string_view s, std::string_view allowed) {
  return s.find_first_not_of(allowed) == std::string_view::npos;
}

constexpr std::string_view kUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr std::string_view kUpperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

bool printable(std::string_view s) {
  for (const char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

bool sameEgress(const std::optional<Egress>& a, const std::optional<Egress>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->ip == b->ip && a->country == b->country && a->colo == b->colo &&
         a->seen_by == b->seen_by;
}

void checkTrace(std::string_view body) {
  const auto e = pathwatch::parseCdnTrace(body);
  FUZZ_CHECK(sameEgress(e, pathwatch::parseCdnTrace(body)));
  if (body.size() > 16 * 1024) FUZZ_CHECK(!e.has_value());
  if (e) {
    FUZZ_CHECK(!e->ip.empty() && e->ip.size() <= 45 && printable(e->ip));
    unsigned char buf[16];
    FUZZ_CHECK(inet_pton(AF_INET, e->ip.c_str(), buf) == 1 ||
          inet_pton(AF_INET6, e->ip.c_str(), buf) == 1);
    FUZZ_CHECK(body.find("ip=" + e->ip) != std::string_view::npos);
    FUZZ_CHECK(e->country.empty() || (e->country.size() == 2 && allIn(e->country, kUpperAlnum)));
    FUZZ_CHECK(e->country.empty() || body.find("loc=" + e->country) != std::string_view::npos);
    FUZZ_CHECK(e->colo.empty() ||
          (e->colo.size() >= 3 && e->colo.size() <= 4 && allIn(e->colo, kUpper)));
    FUZZ_CHECK(e->colo.empty() || body.find("colo=" + e->colo) != std::string_view::npos);
    FUZZ_CHECK(e->seen_by.empty());
    FUZZ_CHECK(!e->empty());
  }

  // The same lines with CRLF ends (while still within the size limit).
  if (body.size() * 2 <= 16 * 1024) {
    std::string crlf;
    crlf.reserve(body.size() * 2);
    for (const char c : body) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    FUZZ_CHECK(sameEgress(e, pathwatch::parseCdnTrace(crlf)));
  }
}

void checkRay(std::string_view header) {
  const std::string site = pathwatch::cfRaySite(header);
  FUZZ_CHECK(site == pathwatch::cfRaySite(header));
  if (site.empty()) return;
  FUZZ_CHECK(site.size() == 3 && allIn(site, kUpper));
  FUZZ_CHECK(header.find("-" + site) != std::string_view::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  checkTrace(input);
  if (size <= 256) checkRay(input);  // a header value: short inputs are the interesting ones
  return 0;
}
