#pragma once
// An incremental HTTP/1.1 request-head parser for the echo server. Pure: no
// I/O, no allocation beyond its bounds. Feed it bytes as they arrive; it keeps
// every header exactly as received (name case and order), reads and discards a
// small Content-Length body, and rejects anything malformed or oversized with a
// status code and a specific lower_snake reason. It must never crash or grow
// without bound on any input: tests/fuzz/fuzz_http_request_parser.cc hammers it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pathwatch/provider.h"  // HeaderList

namespace pathwatch {

struct HttpRequestHead {
  std::string request_line;  // as received, without the line ending
  std::string method, target, version;
  HeaderList headers;        // as received: name case and order kept, value OWS-trimmed
  std::size_t content_length = 0;
};

struct HttpRequestLimits {
  std::size_t max_request_line = 8 * 1024;    // longer: 414
  std::size_t max_header_block = 32 * 1024;   // all header lines with endings; more: 431
  std::size_t max_headers = 100;              // more: 431
  std::size_t max_body = 64 * 1024;           // Content-Length above this: 413
  std::size_t max_leading_empty_lines = 8;    // RFC 9112 2.2 lets us skip a few
};

class HttpRequestParser {
 public:
  enum class State { NeedMore, Done, Error };

  explicit HttpRequestParser(HttpRequestLimits limits = {});

  // Consumes bytes from `data`. Returns Done once the head and any body have
  // been read (bytes after that are not consumed: `consumed` says how many
  // were), Error on the first violation (then errorStatus/errorReason say why),
  // NeedMore otherwise. Once Done or Error, further calls change nothing.
  State feed(std::string_view data, std::size_t* consumed = nullptr);

  State state() const { return state_; }
  const HttpRequestHead& head() const { return head_; }
  int errorStatus() const { return error_status_; }          // 400, 413, 414, 431, 505
  const std::string& errorReason() const { return error_reason_; }  // "missing_colon", ...

 private:
  enum class Phase { RequestLine, Headers, Body, Finished };

  State fail(int status, const char* reason);
  State lineDone(std::string_view line);
  State onRequestLine(std::string_view line);
  State onHeaderLine(std::string_view line);
  State onHeadersEnd();
  std::size_t currentLineLimit() const;

  HttpRequestLimits limits_;
  Phase phase_ = Phase::RequestLine;
  State state_ = State::NeedMore;
  std::string line_;               // the partial line being read
  std::size_t header_bytes_ = 0;   // of completed header lines, endings included
  std::size_t empty_lines_ = 0;    // skipped before the request line
  std::size_t body_left_ = 0;
  HttpRequestHead head_;
  int error_status_ = 0;
  std::string error_reason_;
};

std::string_view toString(HttpRequestParser::State s);

}  // namespace pathwatch
