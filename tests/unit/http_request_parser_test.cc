// The echo server's request parser: table of good and bad requests, chunking,
// limits. Pure logic, no sockets.
#include "echo/http_request_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace pathwatch {
namespace {

using State = HttpRequestParser::State;

struct BadCase {
  const char* name;
  std::string input;
  int status;
  const char* reason;
};

class BadRequestTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadRequestTest, RejectedWithSpecificReason) {
  const BadCase& c = GetParam();
  HttpRequestParser p;
  EXPECT_EQ(p.feed(c.input), State::Error) << c.name;
  EXPECT_EQ(p.errorStatus(), c.status) << c.name;
  EXPECT_EQ(p.errorReason(), c.reason) << c.name;
}

const std::string kHost = "Host: echo.test\r\n";

INSTANTIATE_TEST_SUITE_P(
    Table, BadRequestTest,
    ::testing::Values(
        BadCase{"method_with_slash", "GE/T / HTTP/1.1\r\n" + kHost + "\r\n", 400, "bad_method"},
        BadCase{"method_with_at", "G@T / HTTP/1.1\r\n\r\n", 400, "bad_method"},
        BadCase{"no_target", "GET HTTP/1.1\r\n\r\n", 400, "bad_request_line"},
        BadCase{"double_space", "GET  / HTTP/1.1\r\n\r\n", 400, "bad_request_line"},
        BadCase{"four_parts", "GET / x HTTP/1.1\r\n\r\n", 400, "bad_request_line"},
        BadCase{"target_high_byte", "GET /\xff HTTP/1.1\r\n\r\n", 400, "bad_request_target"},
        BadCase{"bad_version", "GET / HTTP/1.x\r\n\r\n", 400, "bad_version"},
        BadCase{"lower_version", "GET / http/1.1\r\n\r\n", 400, "bad_version"},
        BadCase{"version_two", "GET / HTTP/2.0\r\n\r\n", 505, "unsupported_version"},
        BadCase{"nul_in_line", std::string("GET /\0 HTTP/1.1\r\n\r\n", 19), 400, "control_character"},
        BadCase{"tab_in_line", "GET\t/ HTTP/1.1\r\n\r\n", 400, "control_character"},
        BadCase{"cr_in_line", "GET /\r HTTP/1.1\r\n\r\n", 400, "bare_cr"},
        BadCase{"cr_in_header", "GET / HTTP/1.1\r\n" + kHost + "A: b\rc\r\n\r\n", 400, "bare_cr"},
        BadCase{"missing_colon", "GET / HTTP/1.1\r\n" + kHost + "Nocolon\r\n\r\n", 400,
                "missing_colon"},
        BadCase{"space_before_colon", "GET / HTTP/1.1\r\n" + kHost + "A : b\r\n\r\n", 400,
                "whitespace_before_colon"},
        BadCase{"empty_name", "GET / HTTP/1.1\r\n" + kHost + ": b\r\n\r\n", 400,
                "empty_header_name"},
        BadCase{"bad_name", "GET / HTTP/1.1\r\n" + kHost + "A(b): c\r\n\r\n", 400,
                "bad_header_name"},
        BadCase{"obs_fold", "GET / HTTP/1.1\r\n" + kHost + "A: b\r\n c\r\n\r\n", 400, "obs_fold"},
        BadCase{"ctl_in_value", "GET / HTTP/1.1\r\n" + kHost + "A: b\x01\r\n\r\n", 400,
                "control_character"},
        BadCase{"missing_host", "GET / HTTP/1.1\r\nA: b\r\n\r\n", 400, "missing_host"},
        BadCase{"duplicate_host", "GET / HTTP/1.1\r\n" + kHost + kHost + "\r\n", 400,
                "duplicate_host"},
        BadCase{"chunked", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: chunked\r\n\r\n",
                413, "chunked_body_not_supported"},
        BadCase{"body_too_large", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 65537\r\n\r\n",
                413, "body_too_large"},
        BadCase{"length_not_number", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1x\r\n\r\n",
                400, "bad_content_length"},
        BadCase{"length_negative", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: -1\r\n\r\n",
                400, "bad_content_length"},
        BadCase{"length_conflict",
                "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400, "bad_content_length"},
        BadCase{"length_huge",
                "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 99999999999999999999999\r\n\r\n",
                400, "bad_content_length"},
        BadCase{"request_line_too_long", "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n", 414,
                "request_line_too_long"},
        BadCase{"header_block_too_large",
                "GET / HTTP/1.1\r\n" + kHost + "A: " + std::string(40000, 'b') + "\r\n\r\n", 431,
                "header_block_too_large"},
        BadCase{"too_many_empty_lines", std::string(20, '\n'), 400, "empty_request_line"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(HttpRequestParserTest, KeepsCaseOrderAndValues) {
  HttpRequestParser p;
  const std::string req =
      "GET /echo?x=1 HTTP/1.1\r\n"
      "hOsT: echo.test\r\n"
      "X-API-key:   sk-ant-api03-made-up  \r\n"
      "x-pathwatch-probe:abc\r\n"
      "Empty:\r\n"
      "x-dup: 1\r\n"
      "X-Dup: 2\r\n"
      "\r\n";
  std::size_t used = 0;
  ASSERT_EQ(p.feed(req, &used), State::Done);
  EXPECT_EQ(used, req.size());
  const auto& h = p.head();
  EXPECT_EQ(h.request_line, "GET /echo?x=1 HTTP/1.1");
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/echo?x=1");
  EXPECT_EQ(h.version, "HTTP/1.1");
  const HeaderList want = {{"hOsT", "echo.test"},     {"X-API-key", "sk-ant-api03-made-up"},
                           {"x-pathwatch-probe", "abc"}, {"Empty", ""},
                           {"x-dup", "1"},            {"X-Dup", "2"}};
  EXPECT_EQ(h.headers, want);
}

TEST(HttpRequestParserTest, ByteByByteEqualsWhole) {
  const std::string req =
      "\r\nPOST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-Y: z\r\n\r\nhelloEXTRA";
  HttpRequestParser whole;
  std::size_t used = 0;
  ASSERT_EQ(whole.feed(req, &used), State::Done);
  EXPECT_EQ(used, req.size() - 5);  // EXTRA is not part of the request
  HttpRequestParser bytes;
  State s = State::NeedMore;
  std::size_t total = 0;
  for (std::size_t i = 0; i < req.size() && s == State::NeedMore; ++i) {
    std::size_t u = 0;
    s = bytes.feed(std::string_view(req).substr(i, 1), &u);
    total += u;
  }
  EXPECT_EQ(s, State::Done);
  EXPECT_EQ(total, used);
  EXPECT_EQ(bytes.head().headers, whole.head().headers);
  EXPECT_EQ(bytes.head().content_length, 5u);
}

TEST(HttpRequestParserTest, NeedsMoreUntilBodyComplete) {
  HttpRequestParser p;
  EXPECT_EQ(p.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab"), State::NeedMore);
  EXPECT_EQ(p.feed("cd"), State::Done);
}

TEST(HttpRequestParserTest, AcceptsBareLfAndHttp10WithoutHost) {
  HttpRequestParser p;
  ASSERT_EQ(p.feed("GET / HTTP/1.0\nA: b\n\n"), State::Done);
  EXPECT_EQ(p.head().headers.size(), 1u);
}

TEST(HttpRequestParserTest, HeaderCountLimit) {
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 99; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
  {
    HttpRequestParser p;
    EXPECT_EQ(p.feed(req + "\r\n"), State::Done);  // exactly 100
    EXPECT_EQ(p.head().headers.size(), 100u);
  }
  HttpRequestParser p;
  EXPECT_EQ(p.feed(req + "X-last: v\r\n\r\n"), State::Error);
  EXPECT_EQ(p.errorStatus(), 431);
  EXPECT_EQ(p.errorReason(), "too_many_headers");
}

TEST(HttpRequestParserTest, FloodIsRejectedBeforeItIsBuffered) {
  // A header that never ends: the parser must give up at its limit, not hold 10 MB.
  HttpRequestParser p;
  ASSERT_EQ(p.feed("GET / HTTP/1.1\r\nHost: h\r\nX-Flood: "), State::NeedMore);
  const std::string chunk(64 * 1024, 'a');
  State s = State::NeedMore;
  int fed = 0;
  for (; fed < 160 && s == State::NeedMore; ++fed) s = p.feed(chunk);
  EXPECT_EQ(s, State::Error);
  EXPECT_EQ(fed, 1);
  EXPECT_EQ(p.errorStatus(), 431);
}

TEST(HttpRequestParserTest, NothingChangesAfterDoneOrError) {
  HttpRequestParser ok;
  ASSERT_EQ(ok.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), State::Done);
  std::size_t used = 7;
  EXPECT_EQ(ok.feed("garbage", &used), State::Done);
  EXPECT_EQ(used, 0u);
  HttpRequestParser bad;
  ASSERT_EQ(bad.feed("\x01\r\n"), State::Error);
  EXPECT_EQ(bad.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), State::Error);
  EXPECT_EQ(bad.errorReason(), "control_character");
}

}  // namespace
}  // namespace pathwatch
