#!/usr/bin/env bash
# Builds pathwatch with AddressSanitizer (+ LeakSanitizer) and UndefinedBehaviorSanitizer
# into ./build-asan and runs the unit and integration tests there. Any finding aborts the
# test that hit it, so a green run means zero findings. Extra arguments go to ctest.
#
# The pathwatch binary the CLI and echo-server tests run is built the same way and
# inherits the options below. The daemon tests run runDaemon() in a forked child that
# leaves with _exit: ASan and UBSan watch it, LeakSanitizer does not (it checks at exit()).
# Not run here: the lab (label lab: real servers in network namespaces, scripts/test.sh).
#
# -O1 with assertions on: quicker to build than -O2, still fast enough to run.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${PATHWATCH_ASAN_BUILD_DIR:-build-asan}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

cmake -S . -B "$build_dir" -G Ninja "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DPATHWATCH_WERROR=ON \
  -DPATHWATCH_SANITIZE=address,undefined >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

# detect_leaks: LeakSanitizer at exit of every test binary and of every pathwatch run.
# abort_on_error / halt_on_error: the first finding fails the test (no log to read later).
# strict_string_checks, detect_stack_use_after_return: cheap here, catch more.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Left out: the tests that bound the daemon's RSS. ASan keeps freed memory in quarantine
# (256 MB) and adds redzones and shadow memory, so RSS growth says nothing about the
# code there; they run in the normal suite. (gtest-discovered tests carry only their
# directory's label, hence by name.)
rss_tests='^ControlSocket\.(TenMegabyteLineIsRefusedAndMemoryStaysBounded|ClientThatNeverReadsIsDroppedWithoutBlockingOthers)$'

ctest --test-dir "$build_dir" -L "unit|integration" -E "$rss_tests" --output-on-failure -j 2 "$@"
