#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into ./build-fuzz and runs each one
# over its committed corpus (tests/fuzz/corpus/<target>/) plus a short fuzzing run
# (FUZZ_SECONDS, default 30). A crash, a sanitizer finding or a broken property fails
# the run; the input that did it is left in build-fuzz/artifacts/. Debug build type, so
# assertions (nlohmann's too) stay on.
#
# Reproduce a finding:  build-fuzz/tests/fuzz/<target> build-fuzz/artifacts/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${PATHWATCH_FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-30}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

cmake -S . -B "$build_dir" -G Ninja "${launcher[@]}" \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DPATHWATCH_FUZZ=ON >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target fuzz

mapfile -t targets < "$build_dir/tests/fuzz/targets.txt"
artifacts="$build_dir/artifacts"
mkdir -p "$artifacts"
passed=0
failed=0
for t in "${targets[@]}"; do
  [ -n "$t" ] || continue
  corpus="tests/fuzz/corpus/$t"
  if [ ! -d "$corpus" ]; then
    echo "fuzz-smoke: $t has no seed corpus ($corpus)"
    failed=$((failed + 1))
    continue
  fi
  # New inputs go to a scratch directory; the committed corpus is only read.
  scratch="$build_dir/corpus-scratch/$t"
  rm -rf "$scratch" && mkdir -p "$scratch"
  log="$build_dir/fuzz-$t.log"
  dict=()
  if [ -f "tests/fuzz/$t.dict" ]; then dict=(-dict="tests/fuzz/$t.dict"); fi
  echo "fuzz-smoke: $t: $(find "$corpus" -type f | wc -l) seeds, ${seconds}s"
  if timeout $((seconds + 120)) "$build_dir/tests/fuzz/$t" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
      -artifact_prefix="$artifacts/$t-" "$scratch" "$corpus" >"$log" 2>&1; then
    grep -E '^Done ' "$log" | sed "s/^/fuzz-smoke: $t: /"
    passed=$((passed + 1))
  else
    echo "fuzz-smoke: $t FAILED (log: $log)"
    tail -n 60 "$log"
    failed=$((failed + 1))
  fi
done
echo "fuzz-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
