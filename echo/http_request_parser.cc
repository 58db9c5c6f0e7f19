#include "echo/http_request_parser.h"

#include <algorithm>
#include <cstring>

namespace pathwatch {
namespace {

// RFC 9110 5.6.2 tchar.
bool isTchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return isTchar(c); });
}

bool isCtl(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x += 32;
    if (y >= 'A' && y <= 'Z') y += 32;
    if (x != y) return false;
  }
  return true;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "HTTP/1.1" -> major 1, minor 1; false if not of the form HTTP/DIGIT.DIGIT.
bool parseVersion(std::string_view v, int& major, int& minor) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.') return false;
  if (v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9') return false;
  major = v[5] - '0';
  minor = v[7] - '0';
  return true;
}

}  // namespace

std::string_view toString(HttpRequestParser::State s) {
  switch (s) {
    case HttpRequestParser::State::NeedMore: return "need_more";
    case HttpRequestParser::State::Done: return "done";
    case HttpRequestParser::State::Error: return "error";
  }
  return "error";
}

HttpRequestParser::HttpRequestParser(HttpRequestLimits limits) : limits_(limits) {}

HttpRequestParser::State HttpRequestParser::fail(int status, const char* reason) {
  state_ = State::Error;
  phase_ = Phase::Finished;
  error_status_ = status;
  error_reason_ = reason;
  line_.clear();
  line_.shrink_to_fit();
  return state_;
}

std::size_t HttpRequestParser::currentLineLimit() const {
  // +1 leaves room for the CR that precedes LF; it is stripped before checks.
  if (phase_ == Phase::RequestLine) return limits_.max_request_line + 1;
  return limits_.max_header_block > header_bytes_ ? limits_.max_header_block - header_bytes_ : 0;
}

HttpRequestParser::State HttpRequestParser::feed(std::string_view data, std::size_t* consumed) {
  std::size_t pos = 0;
  if (consumed) *consumed = 0;
  while (pos < data.size() && state_ == State::NeedMore) {
    if (phase_ == Phase::Body) {
      const std::size_t take = std::min(body_left_, data.size() - pos);
      body_left_ -= take;
      pos += take;
      if (body_left_ == 0) {
        phase_ = Phase::Finished;
        state_ = State::Done;
      }
      break;
    }
    const char* start = data.data() + pos;
    const std::size_t avail = data.size() - pos;
    const void* lf = std::memchr(start, '\n', avail);
    const std::size_t seg = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - start) : avail;
    // Checked before buffering, so a flood never grows line_ past the limit.
    if (line_.size() + seg > currentLineLimit()) {
      if (consumed) *consumed = pos;
      if (phase_ == Phase::RequestLine) return fail(414, "request_line_too_long");
      return fail(431, "header_block_too_large");
    }
    line_.append(start, seg);
    pos += seg;
    if (!lf) break;
    ++pos;  // the LF
    std::string line;
    line.swap(line_);
    const std::size_t raw = line.size() + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (phase_ == Phase::Headers) header_bytes_ += raw;
    if (line.find('\r') != std::string::npos) {
      fail(400, "bare_cr");
      break;
    }
    lineDone(line);
  }
  if (consumed) *consumed = pos;
  return state_;
}

HttpRequestParser::State HttpRequestParser::lineDone(std::string_view line) {
  if (phase_ == Phase::RequestLine) return onRequestLine(line);
  if (line.empty()) return onHeadersEnd();
  return onHeaderLine(line);
}

HttpRequestParser::State HttpRequestParser::onRequestLine(std::string_view line) {
  if (line.empty()) {
    // Some clients send a stray CRLF after a previous body; tolerate a few.
    if (++empty_lines_ > limits_.max_leading_empty_lines) return fail(400, "empty_request_line");
    return state_;
  }
  if (line.size() > limits_.max_request_line) return fail(414, "request_line_too_long");
  for (unsigned char c : line) {
    if (isCtl(c)) return fail(400, "control_character");
  }
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return fail(400, "bad_request_line");
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail(400, "bad_request_line");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!isToken(method)) return fail(400, "bad_method");
  if (target.empty()) return fail(400, "bad_request_target");
  for (unsigned char c : target) {
    if (c < 0x21 || c > 0x7e) return fail(400, "bad_request_target");
  }
  int major = 0, minor = 0;
  if (!parseVersion(version, major, minor)) return fail(400, "bad_version");
  if (major != 1) return fail(505, "unsupported_version");
  head_.request_line.assign(line);
  head_.method.assign(method);
  head_.target.assign(target);
  head_.version.assign(version);
  phase_ = Phase::Headers;
  return state_;
}

HttpRequestParser::State HttpRequestParser::onHeaderLine(std::string_view line) {
  // Folding (obs-fold) is deprecated and a smuggling vector: RFC 9112 5.2.
  if (line.front() == ' ' || line.front() == '\t') return fail(400, "obs_fold");
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return fail(400, "missing_colon");
  const std::string_view name = line.substr(0, colon);
  if (name.empty()) return fail(400, "empty_header_name");
  if (name.back() == ' ' || name.back() == '\t') return fail(400, "whitespace_before_colon");
  for (unsigned char c : name) {
    if (isCtl(c)) return fail(400, "control_character");
  }
  if (!isToken(name)) return fail(400, "bad_header_name");
  const std::string_view value = trimOws(line.substr(colon + 1));
  for (unsigned char c : value) {
    if (isCtl(c) && c != '\t') return fail(400, "control_character");
  }
  if (head_.headers.size() >= limits_.max_headers) return fail(431, "too_many_headers");
  head_.headers.emplace_back(std::string(name), std::string(value));
  return state_;
}

HttpRequestParser::State HttpRequestParser::onHeadersEnd() {
  int major = 1, minor = 1;
  parseVersion(head_.version, major, minor);
  std::size_t hosts = 0;
  bool have_length = false;
  std::string length_value;
  for (const auto& [name, value] : head_.headers) {
    if (iequals(name, "host")) {
      ++hosts;
    } else if (iequals(name, "transfer-encoding")) {
      // Only tiny bodies are read, and only with a declared length.
      return fail(413, "chunked_body_not_supported");
    } else if (iequals(name, "content-length")) {
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return fail(400, "bad_content_length");
      }
      if (have_length && value != length_value) return fail(400, "bad_content_length");
      have_length = true;
      length_value = value;
    }
  }
  if (hosts > 1) return fail(400, "duplicate_host");
  if (hosts == 0 && minor >= 1) return fail(400, "missing_host");  // RFC 9112 3.2
  std::size_t length = 0;
  for (char c : length_value) length = length * 10 + static_cast<std::size_t>(c - '0');
  if (length > limits_.max_body) return fail(413, "body_too_large");
  head_.content_length = length;
  body_left_ = length;
  if (length == 0) {
    phase_ = Phase::Finished;
    state_ = State::Done;
  } else {
    phase_ = Phase::Body;
  }
  return state_;
}

}  // namespace pathwatch
