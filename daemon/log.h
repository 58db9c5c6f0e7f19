#pragma once
// The daemon's log: one line per event on stderr with a journald priority
// prefix ("<3>" err ... "<7>" debug), which journald turns into the priority
// field. Never pass secrets: keys are shown only as fingerprints.
#include <string>
#include <string_view>

namespace pathwatch {

enum class LogLevel { Err = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

// Lines above `max` are dropped (default Info; PATHWATCH_DEBUG=1 -> Debug).
void setLogLevel(LogLevel max);

// Formats "<N>message\n" with control characters (newlines included) escaped,
// so one event stays one line. Pure; logLine writes its result to stderr.
std::string formatLogLine(LogLevel level, std::string_view message);
void logLine(LogLevel level, std::string_view message);

inline void logError(std::string_view m) { logLine(LogLevel::Err, m); }
inline void logWarning(std::string_view m) { logLine(LogLevel::Warning, m); }
inline void logNotice(std::string_view m) { logLine(LogLevel::Notice, m); }
inline void logInfo(std::string_view m) { logLine(LogLevel::Info, m); }
inline void logDebug(std::string_view m) { logLine(LogLevel::Debug, m); }

}  // namespace pathwatch
