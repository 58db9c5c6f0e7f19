#pragma once
// Whether a process a test started (or its child) still runs.
#include <sys/types.h>

namespace pathwatch::testing {

// Gone, or a zombie nobody here reaps (reparented): either way not running.
bool processGone(pid_t pid);

}  // namespace pathwatch::testing
