#include "pathwatch/process_hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdlib>

namespace pathwatch {

bool hardenProcess() {
  bool ok = true;
  const rlimit none{0, 0};
  ok &= ::setrlimit(RLIMIT_CORE, &none) == 0;
  ok &= ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
  ok &= ::unsetenv("SSLKEYLOGFILE") == 0;
  return ok;
}

}  // namespace pathwatch
