#pragma once
// Runs a built program as an operator would: stdout and stderr apart, the
// exit code, and a hard time bound (the process is killed after `limit`).
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace pathwatch::test {

struct RunResult {
  int exit_code = -1;  // -1: killed or did not finish in time
  bool timed_out = false;
  std::string out, err;
};

// The environment is this process's, less the built-in providers' key
// variables and NO_COLOR (a real key must never reach a test), plus `env`.
RunResult runProgram(std::vector<std::string> argv,
                     std::chrono::seconds limit = std::chrono::seconds(10),
                     const std::map<std::string, std::string>& env = {});

}  // namespace pathwatch::test
