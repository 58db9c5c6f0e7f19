// pathwatchd [-c FILE] [--socket PATH]
#include <cstring>
#include <iostream>
#include <string>

#include "daemon.h"
#include "pathwatch/process_hardening.h"

namespace {

void usage(std::ostream& o) {
  o << "usage: pathwatchd [-c FILE] [--socket PATH]\n"
       "  -c, --config FILE  config file (default /etc/pathwatch/config.json;\n"
       "                     without it the embedded defaults serve)\n"
       "  --socket PATH      control socket, overriding the config's \"socket\"\n"
       "Signals: SIGHUP reloads the config, SIGTERM/SIGINT stop.\n";
}

}  // namespace

int main(int argc, char** argv) {
  pathwatch::hardenProcess();  // before any key is read or TLS initialised
  pathwatch::DaemonOptions opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "pathwatchd: " << name << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-c" || a == "--config") {
      opt.config_path = value("-c");
      opt.config_required = true;
    } else if (a == "--socket") {
      opt.socket_override = value("--socket");
    } else if (a == "-h" || a == "--help") {
      usage(std::cout);
      return 0;
    } else {
      std::cerr << "pathwatchd: unknown argument " << a << "\n";
      usage(std::cerr);
      return 2;
    }
  }
  try {
    return pathwatch::runDaemon(opt);
  } catch (const std::exception& e) {
    std::cerr << "<2>pathwatchd: fatal: " << e.what() << "\n";
    return 1;
  }
}
