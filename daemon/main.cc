// pathwatchd [-c FILE] [--socket PATH]
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "daemon.h"
#include "pathwatch/process_hardening.h"

namespace {

void usage(std::ostream& o) {
  o << "usage: pathwatchd [-c FILE] [--socket PATH]\n"
       "\n"
       "Probes every enabled provider over every route of its config on a schedule,\n"
       "keeps the results in a history, serves the control socket pathwatch talks to,\n"
       "and raises alerts.\n"
       "\n"
       "  -c, --config FILE  config file (default /etc/pathwatch/config.json; without\n"
       "                     it the embedded defaults serve)\n"
       "      --socket PATH  control socket, overriding the config's \"socket\"\n"
       "  -h, --help         this text\n"
       "\n"
       "Signals: SIGHUP reloads the config and keys, SIGTERM/SIGINT stop.\n"
       "Exit status: 0 stopped by a signal, 1 could not start, 2 usage or config error.\n"
       "\n"
       "Example:\n"
       "  pathwatchd -c examples/config.json --socket /tmp/pw.sock\n";
}

int usageError(const std::string& problem) {
  std::cerr << "pathwatchd: " << problem << " (see pathwatchd --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  pathwatch::hardenProcess();  // before any key is read or TLS initialised
  pathwatch::DaemonOptions opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::optional<std::string> inline_value;
    if (const auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = a.substr(eq + 1);
      a.resize(eq);
    }
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    if (a == "-c" || a == "--config") {
      auto v = value();
      if (!v || v->empty()) return usageError(a + " needs a file name");
      opt.config_path = *v;
      opt.config_required = true;
    } else if (a == "--socket") {
      auto v = value();
      if (!v || v->empty()) return usageError("--socket needs a path");
      opt.socket_override = *v;
    } else if (a == "-h" || a == "--help") {
      usage(std::cout);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      return usageError("unknown option " + a);
    } else {
      return usageError("unexpected argument \"" + a + "\"");
    }
  }
  try {
    return pathwatch::runDaemon(opt);
  } catch (const std::exception& e) {
    std::cerr << "<2>pathwatchd: fatal: " << e.what() << "\n";
    return 1;
  }
}
