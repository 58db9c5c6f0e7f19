#include "process_state.h"

#include <signal.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <string>

namespace pathwatch::testing {

bool processGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(st)), {});
  auto rp = all.rfind(')');
  return rp != std::string::npos && rp + 2 < all.size() && all[rp + 2] == 'Z';
}

}  // namespace pathwatch::testing
