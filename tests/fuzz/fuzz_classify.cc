// libFuzzer target for provider-answer classification (probes/classify.cc
// analyzeAnswer and classifyRoute, probes/providers/: every registered
// definition's envelope, extract, edge and answer rules).
//
// Input: byte 0-1 the HTTP status (100..599), byte 2 flags (bit 0: a key was
// sent; bit 1: the body was cut at 64 KiB), then header lines "Name: value"
// up to an empty line, then the body. Each input is classified for every
// registered provider, as the public provider itself and as a custom
// endpoint of the same kind, on a route whose lower layers are healthy.
//
// Properties checked for every input and provider (abort on violation):
// - no exception leaves analyzeAnswer or classifyRoute;
// - the same input gives the same classification twice (no hidden state; a
//   Retry-After date is read against the clock, so a tick between runs is allowed);
// - authored_by is one of provider, edge, middlebox, unknown; message,
//   error_type and error_code are single lines within their caps (300, 80, 80
//   bytes, plus the "…" of a cut); retry_after_s, when set, is finite and not negative;
// - with every "KEY" in the input replaced by a made-up key of the provider's
//   own shape, no 12-character piece of the key shows in the message, the
//   error fields, the rate values or the evidence (cleanText fingerprints
//   credential-like runs).
#include <cmath>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pathwatch/classify.h"
#include "pathwatch/provider.h"
#include "providers/provider_def.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace pathwatch;

// Made-up keys shaped like real ones (none was ever issued), tried in turn.
constexpr const char* kKeys[] = {
    "sk-proj-Q7vN2mX8kL4pR9tY3wB6cF1hJ5dG0sAzE8uI2oP4aS6dF7gH9jK1lZ3xC5vB7nMT3BlbkFJ",
    "sk-ant-api03-Xy7Kp2Lm9Qr4St6Uv8Wx0Yz1Ab3Cd5Ef7Gh9Ij2Kl4Mn6Op8Qr0St2Uv4Wx6Yz8Ab0Cd2Ef4Gh6AA",
    "AIzaSyB3x9Qk7Lm2Np5Rt8Vw1Yz4Ac6Ef9Hj0Kd",
    "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GaBcDe.Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa",
};

struct Answer {
  int code = 0;
  bool key_sent = false;
  bool truncated = false;
  HeaderList headers;
  std::string body;
};

Answer decode(std::string_view in) {
  Answer a;
  a.code = 100 + ((static_cast<unsigned char>(in[0]) << 8) | static_cast<unsigned char>(in[1])) % 500;
  a.key_sent = in[2] & 1;
  a.truncated = in[2] & 2;
  in.remove_prefix(3);
  while (!in.empty()) {
    const auto nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    a.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  a.body = std::string(in.substr(0, 64 * 1024));
  return a;
}

RouteResult healthyRoute(const ProviderSpec& s, const Answer& a) {
  RouteResult r;
  r.provider = s.name;
  r.route = "default";
  if (a.key_sent) {
    r.key.status = LayerStatus::Ok;
    r.key.source = "env:FUZZ_KEY";
    r.key.configured = true;
    r.key.read = true;
    r.key.length = 40;
  } else {
    r.key.status = LayerStatus::Skipped;
    r.key.source = "none";
  }
  r.dns.status = LayerStatus::Ok;
  r.dns.addresses = {"198.18.0.10"};
  r.tcp.status = LayerStatus::Ok;
  r.tcp.address = "198.18.0.10:443";
  r.tls.status = LayerStatus::Ok;
  r.tls.sni = s.host;
  r.tls.ca_file_ok = true;
  r.tls.public_root = true;
  r.http.status = LayerStatus::Ok;
  r.http.code = a.code;
  r.http.headers = a.headers;
  r.http.body = a.body;
  r.http.body_bytes = a.body.size() + (a.truncated ? 1 : 0);
  r.http.body_truncated = a.truncated;
  r.echo.status = LayerStatus::Skipped;
  return r;
}

std::string summary(const RouteResult& r) {
  std::string s = std::string(toString(r.verdict)) + "|" + r.http.authored_by + "|" + r.http.error_type +
                  "|" + r.http.error_code + "|" + r.http.message + "|";
  if (r.http.retry_after_s) s += std::to_string(*r.http.retry_after_s);
  for (const auto& [k, v] : r.http.rate) s += "|" + k + "=" + v;
  for (const auto& e : r.evidence) s += "|" + e;
  return s;
}

// cleanText's cap, plus the "…" that marks a cut.
bool oneLine(const std::string& s, std::size_t cap) {
  return s.size() <= cap + std::string_view("…").size() && s.find('\n') == std::string::npos && s.find('\r') == std::string::npos;
}

RouteResult classify(const ProviderSpec& spec, const Answer& a) {
  RouteResult r = healthyRoute(spec, a);
  try {
    classifyRoute(spec, r);
  } catch (...) {
    FUZZ_CHECK(!"an exception left classifyRoute");
  }
  const HttpLayer& h = r.http;
  FUZZ_CHECK(h.authored_by == "provider" || h.authored_by == "edge" || h.authored_by == "middlebox" ||
             h.authored_by == "unknown");
  if (!oneLine(h.message, 300)) std::fprintf(stderr, "%s: message: [%s]\n", spec.name.c_str(), h.message.c_str());
  FUZZ_CHECK(oneLine(h.message, 300));
  FUZZ_CHECK(oneLine(h.error_type, 80));
  FUZZ_CHECK(oneLine(h.error_code, 80));
  if (h.retry_after_s) FUZZ_CHECK(std::isfinite(*h.retry_after_s) && *h.retry_after_s >= 0);
  return r;
}

bool hasPlantedPiece(std::string_view text, std::string_view key, std::string_view input) {
  for (std::size_t i = 0; i + 12 <= key.size(); ++i) {
    const std::string_view piece = key.substr(i, 12);
    if (text.find(piece) != std::string_view::npos && input.find(piece) == std::string_view::npos)
      return true;
  }
  return false;
}

const std::vector<ProviderSpec>& specs() {
  static const std::vector<ProviderSpec> all = [] {
    std::vector<ProviderSpec> v = builtinProviders();
    for (const ProviderDef* def : providerDefs())
      if (auto s = makeProviderSpec("custom", *def, "https://llm.example.test/v1", false)) v.push_back(*s);
    return v;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3 || size > 70 * 1024) return 0;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const Answer a = decode(input);
  for (std::size_t i = 0; i < specs().size(); ++i) {
    const ProviderSpec& spec = specs()[i];
    // A Retry-After date is read against the wall clock, which may tick
    // between two runs: then a third run must agree with the second.
    const std::string first = summary(classify(spec, a));
    const std::string second = summary(classify(spec, a));
    FUZZ_CHECK(first == second || second == summary(classify(spec, a)));

    if (input.find("KEY") == std::string::npos) continue;
    const std::string_view key = kKeys[(size + i) % (sizeof kKeys / sizeof kKeys[0])];
    std::string planted = input;
    for (auto pos = planted.find("KEY"); pos != std::string::npos; pos = planted.find("KEY", pos + key.size()))
      planted.replace(pos, 3, key);
    const std::string leaked = summary(classify(spec, decode(planted)));
    if (hasPlantedPiece(leaked, key, input)) std::fprintf(stderr, "%s: %s\n", spec.name.c_str(), leaked.c_str());
    FUZZ_CHECK(!hasPlantedPiece(leaked, key, input));
  }
  return 0;
}
