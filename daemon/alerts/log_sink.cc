#include "alerts/log_sink.h"

namespace pathwatch {

LogLevel alertLogLevel(const nlohmann::json& event) {
  const std::string kind = event.value("event", std::string());
  if (kind == "resolved") return LogLevel::Notice;
  if (kind == "egress_changed")
    return event.value("cause", std::string()) == "middlebox" ? LogLevel::Warning
                                                               : LogLevel::Notice;
  return LogLevel::Warning;
}

std::string alertLogMessage(const nlohmann::json& event) {
  auto str = [&](const char* k) {
    auto it = event.find(k);
    return it != event.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string who = str("provider");
  who += (who.empty() ? "" : "/") + str("route");
  return "alert " + str("event") + " " + who + ": " + str("summary");
}

}  // namespace pathwatch
