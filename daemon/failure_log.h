#pragma once
// Which lines a run of failures of one kind (history writes, retention)
// logs, so a full disk is one line a minute and not one a batch: the first
// failure at once, then at most one summary per interval of what was
// suppressed, and one line when it works again. Pure: the caller passes the
// clock and writes the lines.
#include <cstdint>
#include <optional>
#include <string>

namespace pathwatch {

class FailureLog {
 public:
  // `what` starts every line ("history writes").
  explicit FailureLog(std::string what, int64_t interval_ms = 60000);

  // A failure at now_ms: the line to log now, or nullopt (then counted for
  // the next summary). `detail` (queue sizes, ...) ends the line.
  std::optional<std::string> failed(int64_t now_ms, const std::string& error,
                                    const std::string& detail = "");
  // A success: the recovery line after failures, else nullopt.
  std::optional<std::string> succeeded(int64_t now_ms, const std::string& detail = "");

  bool failing() const { return failing_; }
  uint64_t failures() const { return total_; }

 private:
  std::string what_;
  int64_t interval_ms_;
  bool failing_ = false;
  int64_t first_ms_ = 0, last_line_ms_ = 0;
  uint64_t run_ = 0;         // failures since it last worked
  uint64_t suppressed_ = 0;  // failures since the last line
  uint64_t total_ = 0;
};

}  // namespace pathwatch
