#include "failure_log.h"

namespace pathwatch {

FailureLog::FailureLog(std::string what, int64_t interval_ms)
    : what_(std::move(what)), interval_ms_(interval_ms) {}

std::optional<std::string> FailureLog::failed(int64_t now_ms, const std::string& error,
                                              const std::string& detail) {
  ++total_;
  ++run_;
  std::string tail = detail.empty() ? "" : "; " + detail;
  if (!failing_) {
    failing_ = true;
    first_ms_ = last_line_ms_ = now_ms;
    suppressed_ = 0;
    return what_ + " failing: " + error + tail;
  }
  ++suppressed_;
  if (now_ms - last_line_ms_ < interval_ms_) return std::nullopt;
  std::string line = what_ + " still failing: " + std::to_string(suppressed_) +
                     " more failures in the last " +
                     std::to_string((now_ms - last_line_ms_ + 500) / 1000) + " s (last: " + error +
                     ")" + tail;
  last_line_ms_ = now_ms;
  suppressed_ = 0;
  return line;
}

std::optional<std::string> FailureLog::succeeded(int64_t now_ms, const std::string& detail) {
  if (!failing_) return std::nullopt;
  failing_ = false;
  std::string line = what_ + " working again after " + std::to_string(run_) + " failure" +
                     (run_ == 1 ? "" : "s") + " over " +
                     std::to_string((now_ms - first_ms_ + 500) / 1000) + " s" +
                     (detail.empty() ? "" : "; " + detail);
  run_ = 0;
  suppressed_ = 0;
  return line;
}

}  // namespace pathwatch
