// libFuzzer target for the config parser (probes/config*.cc).
//
// Build and run (clang++ from Debian's `clang` package):
//   CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DPATHWATCH_FUZZ=ON
//   ninja -C build-fuzz fuzz_config
//   mkdir -p build-fuzz/corpus-config && cp tests/fuzz/corpus/fuzz_config/* build-fuzz/corpus-config/
//   timeout 660 build-fuzz/tests/fuzz/fuzz_config -max_total_time=600 -rss_limit_mb=2048 \
//       -dict=tests/fuzz/fuzz_config.dict build-fuzz/corpus-config/
//
// Properties checked for every input (abort on violation):
// - parseConfig returns or throws ConfigError; no other exception escapes;
// - a ConfigError's text is "FILE: KEY_PATH: PROBLEM" (or "FILE: PROBLEM"),
//   one line;
// - the input is parsed a second time with every "KEY" in it replaced by a
//   made-up API key: the error text never gains a 12-character piece of
//   that key, and a config that parses holds the key nowhere but in a webhook
//   URL (the one field allowed to carry its own secret). The seeds carry "KEY"
//   in every field, so mutations move it around the whole schema.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "pathwatch/config.h"

namespace {

constexpr const char* kFile = "/etc/pathwatch/config.json";

// Made-up keys shaped like real ones (none was ever issued).
constexpr const char* kKeys[] = {
    "sk-proj-Q7vN2mX8kL4pR9tY3wB6cF1hJ5dG0sAzE8uI2oP4aS6dF7gH9jK1lZ3xC5vB7nMT3BlbkFJ",
    "sk-ant-api03-Xy7Kp2Lm9Qr4St6Uv8Wx0Yz1Ab3Cd5Ef7Gh9Ij2Kl4Mn6Op8Qr0St2Uv4Wx6Yz8Ab0Cd2Ef4Gh6AA",
    "AIzaSyB3x9Qk7Lm2Np5Rt8Vw1Yz4Ac6Ef9Hj0Kd",
    "AQ.Ab8RN6Kx2Lm9Qr4St6Uv8Wx0Yz1Ab3Cd5Ef7Gh9Ij",
    "xai-Zq8Wm3Np6Rt9Vx2Yb5Cd8Fg1Hj4Kl7Mn0Pq3St6Uv9Wx2Yz5Ab8Cd1Ef4Gh7Jk0Lm3Np",
    "gsk_Rt4Yu7Io0Pa3Sd6Fg9Hj2Kl5Zx8Cv1Bn4Mq7We0Rt3Yu6Io9Pa2Sd5Fg8",
    "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",
    "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GaBcDe.Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa",
    "Zx8vQ2mN7pL4kR9tY3wB6cF1hJ5dG0sAq",
};

void check(bool ok) {
  if (!ok) std::abort();
}

// Parses; on ConfigError returns its text, on success "". Anything else aborts.
std::string parse(const std::string& text) {
  try {
    pathwatch::parseConfig(text, kFile);
    return "";
  } catch (const pathwatch::ConfigError& e) {
    const std::string what = e.what();
    check(e.file == kFile);
    check(what == std::string(kFile) + ": " + (e.key_path.empty() ? "" : e.key_path + ": ") + e.problem);
    check(what.find('\n') == std::string::npos && what.find('\r') == std::string::npos);
    check(!e.problem.empty());
    return what;
  } catch (...) {
    std::abort();  // a std::exception or worse escaped the parser
  }
}

// A 12-character piece of `key` in `text` that the input did not hold before
// the key was planted (the fuzzer learns pieces of the keys from the
// comparisons below and may write them into the input itself).
bool hasPlantedPiece(std::string_view text, std::string_view key, std::string_view input) {
  for (std::size_t i = 0; i + 12 <= key.size(); ++i) {
    const std::string_view piece = key.substr(i, 12);
    if (text.find(piece) != std::string_view::npos && input.find(piece) == std::string_view::npos)
      return true;
  }
  return false;
}

// Every string of a parsed config except the webhook URLs.
bool configHolds(const pathwatch::Config& c, std::string_view key) {
  auto in = [key](const std::string& s) { return s.find(key) != std::string::npos; };
  for (const auto& p : c.providers) {
    if (in(p.spec.name) || in(p.spec.base_url) || in(p.spec.host) || in(p.spec.probe_path) ||
        in(p.key_env.value_or("")) || in(p.key_file.value_or("")))
      return true;
  }
  for (const auto& r : c.routes)
    if (in(r.name) || in(r.interface) || in(r.source_ip) || in(r.proxy) || in(r.proxy_host)) return true;
  for (const auto& r : c.resolvers)
    if (in(r.spec) || in(r.address)) return true;
  for (const auto& r : c.allowed_ranges)
    if (in(r.text)) return true;
  for (const auto& e : c.echo)
    if (in(e)) return true;
  for (const auto& argv : c.alerts.exec)
    for (const auto& a : argv)
      if (in(a)) return true;
  for (const auto& w : c.alerts.webhooks)
    if (in(w.format)) return true;
  if (c.metrics && (in(c.metrics->listen) || in(c.metrics->host))) return true;
  return in(c.tls.ca_file) || in(c.tls.public_roots) || in(c.socket) || in(c.history.path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > pathwatch::kMaxConfigBytes) return 0;  // loadConfigFile never passes more
  const std::string input(reinterpret_cast<const char*>(data), size);
  parse(input);

  if (input.find("KEY") == std::string::npos) return 0;
  const std::string_view key = kKeys[size % (sizeof kKeys / sizeof kKeys[0])];
  std::string planted = input;
  for (auto pos = planted.find("KEY"); pos != std::string::npos; pos = planted.find("KEY", pos + key.size()))
    planted.replace(pos, 3, key);
  if (planted.size() > pathwatch::kMaxConfigBytes) return 0;
  const std::string what = parse(planted);
  check(!hasPlantedPiece(what, key, input));
  if (what.empty() && input.find(key) == std::string::npos)
    check(!configHolds(pathwatch::parseConfig(planted, kFile), key));
  return 0;
}
