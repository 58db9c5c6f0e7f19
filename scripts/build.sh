#!/usr/bin/env bash
# Configures and builds pathwatch into ./build (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja $( command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPATHWATCH_WERROR=ON >/dev/null
cmake --build build -j "$(nproc)"
