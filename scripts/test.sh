#!/usr/bin/env bash
# Builds and runs the whole test suite: unit, integration (loopback fakes) and
# the lab (network namespaces with real servers; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
ctest --test-dir build --output-on-failure -j 2 "$@"
