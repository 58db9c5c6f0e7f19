#pragma once
// The alert as one journald line on stderr (daemon/log.h): "<4>alert problem
// openai/isp-a: OpenAI refuses route isp-a ...". Problems warn; a resolution
// or a plain egress move is a notice.
#include <string>

#include <nlohmann/json.hpp>

#include "log.h"

namespace pathwatch {

LogLevel alertLogLevel(const nlohmann::json& event);
std::string alertLogMessage(const nlohmann::json& event);

inline void logAlert(const nlohmann::json& event) {
  logLine(alertLogLevel(event), alertLogMessage(event));
}

}  // namespace pathwatch
