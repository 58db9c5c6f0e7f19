// libFuzzer target for the echo server's request parser (echo/http_request_parser).
//
// Build and run: see tests/fuzz/CMakeLists.txt and scripts/fuzz-smoke.sh; seeds in
// tests/fuzz/corpus/fuzz_http_request_parser/.
//
// Besides "never crashes" it checks properties that must hold for every input:
// - feeding the bytes in arbitrary chunks gives the same result as feeding
//   them at once (state, error, request line, every header);
// - nothing grows past the limits (line, headers, header count);
// - after Done or Error further bytes change nothing;
// - every header kept is a token name and a value without CR, LF or NUL.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "echo/http_request_parser.h"
#include "fuzz_check.h"

using pathwatch::HttpRequestLimits;
using pathwatch::HttpRequestParser;

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
  FUZZ_CHECK(whole_consumed <= input.size());

  HttpRequestParser pieces(limits);
  std::size_t total = 0;
  auto state = HttpRequestParser::State::NeedMore;
  for (std::size_t off = 0; off < input.size() && state == HttpRequestParser::State::NeedMore;
       off += chunk) {
    std::size_t used = 0;
    const auto part = input.substr(off, chunk);
    state = pieces.feed(part, &used);
    FUZZ_CHECK(used <= part.size());
    total += used;
  }
  FUZZ_CHECK(state == whole_state);
  FUZZ_CHECK(pieces.errorStatus() == whole.errorStatus());
  FUZZ_CHECK(pieces.errorReason() == whole.errorReason());
  if (state == HttpRequestParser::State::Done) FUZZ_CHECK(total == whole_consumed);

  const auto& head = whole.head();
  FUZZ_CHECK(head.request_line.size() <= limits.max_request_line);
  FUZZ_CHECK(head.headers.size() <= limits.max_headers);
  FUZZ_CHECK(head.request_line == pieces.head().request_line);
  FUZZ_CHECK(head.headers == pieces.head().headers);
  std::size_t bytes = 0;
  for (const auto& [name, value] : head.headers) {
    FUZZ_CHECK(!name.empty());
    FUZZ_CHECK(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos);
    bytes += name.size() + value.size();
  }
  FUZZ_CHECK(bytes <= limits.max_header_block);
  if (whole_state == HttpRequestParser::State::Error) {
    FUZZ_CHECK(whole.errorStatus() >= 400 && whole.errorStatus() < 600);
    FUZZ_CHECK(!whole.errorReason().empty());
  }
  if (whole_state != HttpRequestParser::State::NeedMore) {
    std::size_t used = 99;
    FUZZ_CHECK(whole.feed("GET / HTTP/1.1\r\n\r\n", &used) == whole_state);
    FUZZ_CHECK(used == 0);
  }
  return 0;
}
