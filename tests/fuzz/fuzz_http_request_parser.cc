// libFuzzer target for the echo server's request parser (echo/http_request_parser).
//
// Build and run (clang++ from Debian's `clang` package):
//   CXX=clang++ cmake -S /work/main -B build-fuzz -G Ninja -DPATHWATCH_FUZZ=ON
//   ninja -C build-fuzz fuzz_http_request_parser
//   mkdir -p corpus && cp tests/fuzz/seeds/* corpus/
//   timeout 660 build-fuzz/tests/fuzz/fuzz_http_request_parser \
//       -max_total_time=600 -rss_limit_mb=2048 corpus/
//
// Besides "never crashes" it checks properties that must hold for every input:
// - feeding the bytes in arbitrary chunks gives the same result as feeding
//   them at once (state, error, request line, every header);
// - nothing grows past the limits (line, headers, header count);
// - after Done or Error further bytes change nothing;
// - every header kept is a token name and a value without CR, LF or NUL.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "echo/http_request_parser.h"

using pathwatch::HttpRequestLimits;
using pathwatch::HttpRequestParser;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // Small limits on odd first bytes so the fuzzer reaches the limit paths cheaply.
  HttpRequestLimits limits;
  if (data[0] & 1) {
    limits.max_request_line = 64;
    limits.max_header_block = 256;
    limits.max_headers = 4;
    limits.max_body = 16;
  }
  const std::size_t chunk = 1 + (data[0] >> 1) % 17;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  HttpRequestParser whole(limits);
  std::size_t whole_consumed = 0;
  const auto whole_state = whole.feed(input, &whole_consumed);
  check(whole_consumed <= input.size());

  HttpRequestParser pieces(limits);
  std::size_t total = 0;
  auto state = HttpRequestParser::State::NeedMore;
  for (std::size_t off = 0; off < input.size() && state == HttpRequestParser::State::NeedMore;
       off += chunk) {
    std::size_t used = 0;
    const auto part = input.substr(off, chunk);
    state = pieces.feed(part, &used);
    check(used <= part.size());
    total += used;
  }
  check(state == whole_state);
  check(pieces.errorStatus() == whole.errorStatus());
  check(pieces.errorReason() == whole.errorReason());
  if (state == HttpRequestParser::State::Done) check(total == whole_consumed);

  const auto& head = whole.head();
  check(head.request_line.size() <= limits.max_request_line);
  check(head.headers.size() <= limits.max_headers);
  check(head.request_line == pieces.head().request_line);
  check(head.headers == pieces.head().headers);
  std::size_t bytes = 0;
  for (const auto& [name, value] : head.headers) {
    check(!name.empty());
    check(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos);
    bytes += name.size() + value.size();
  }
  check(bytes <= limits.max_header_block);
  if (whole_state == HttpRequestParser::State::Error) {
    check(whole.errorStatus() >= 400 && whole.errorStatus() < 600);
    check(!whole.errorReason().empty());
  }
  if (whole_state != HttpRequestParser::State::NeedMore) {
    std::size_t used = 99;
    check(whole.feed("GET / HTTP/1.1\r\n\r\n", &used) == whole_state);
    check(used == 0);
  }
  return 0;
}
