#include "log.h"

#include <unistd.h>

#include <cstdio>

namespace pathwatch {

namespace {
LogLevel g_max = LogLevel::Info;
}

void setLogLevel(LogLevel max) { g_max = max; }

std::string formatLogLine(LogLevel level, std::string_view message) {
  std::string out;
  out.reserve(message.size() + 5);
  out += '<';
  out += static_cast<char>('0' + static_cast<int>(level));
  out += '>';
  for (char c : message) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  out += '\n';
  return out;
}

void logLine(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) > static_cast<int>(g_max)) return;
  std::string line = formatLogLine(level, message);
  // One write per line so concurrent writers never interleave within a line.
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) return;  // a closed or full stderr must not stop the daemon
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace pathwatch
