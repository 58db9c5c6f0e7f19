#pragma once
// `pathwatch COMMAND --help`: one text per command, each usage, what it does,
// every option it accepts and one example. The table in cli/main.cc pairs
// them with their commands; docs/man/pathwatch.1 says the same at length.
// (echo-server's text lives with its parser: echo/echo_command.h.)

namespace pathwatch {

extern const char kCheckHelp[];
extern const char kStatusHelp[];
extern const char kHistoryHelp[];
extern const char kWatchHelp[];
extern const char kRunHelp[];
extern const char kReloadHelp[];
extern const char kMetricsHelp[];
extern const char kConfigCheckHelp[];
extern const char kConfigExampleHelp[];

}  // namespace pathwatch
