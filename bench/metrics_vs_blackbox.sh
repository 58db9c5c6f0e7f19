#!/bin/sh
# GET /metrics of pathwatchd (in-process collector and server, 4 x 4 pairs) and of
# Debian's prometheus-blackbox-exporter, interleaved in one run on loopback.
#   bench/metrics_vs_blackbox.sh BUILD_DIR [ROUNDS] [SCRAPES]
# Prints each round's line and the medians of the p50 and p99 and their ratio.
set -eu
build=${1:?usage: metrics_vs_blackbox.sh BUILD_DIR [ROUNDS] [SCRAPES]}
rounds=${2:-5}
scrapes=${3:-2000}
port=19115
dir=$(mktemp -d)
printf 'modules:\n  http_2xx:\n    prober: http\n' >"$dir/bb.yml"
prometheus-blackbox-exporter --config.file="$dir/bb.yml" \
  --web.listen-address=127.0.0.1:$port >"$dir/bb.log" 2>&1 &
bb=$!
trap 'kill $bb 2>/dev/null; wait $bb 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
i=0
while [ $i -lt 50 ] && ! grep -q "Listening on" "$dir/bb.log"; do sleep 0.1; i=$((i + 1)); done
i=0
while [ $i -lt "$rounds" ]; do
  timeout 120 "$build/bench/metrics_bench" "$scrapes" 4 4 | grep '^GET' | tee -a "$dir/pw"
  timeout 120 "$build/bench/metrics_bench" --target 127.0.0.1:$port "$scrapes" | tee -a "$dir/bb"
  i=$((i + 1))
done
med() { sed -n "s/.* $1 \([0-9.]*\) ms.*/\1/p" "$2" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
pw50=$(med p50 "$dir/pw"); pw99=$(med p99 "$dir/pw")
bb50=$(med p50 "$dir/bb"); bb99=$(med p99 "$dir/bb")
echo "median of $rounds rounds: pathwatchd p50 $pw50 ms p99 $pw99 ms;" \
  "blackbox_exporter p50 $bb50 ms p99 $bb99 ms;" \
  "ratio p50 $(echo "$pw50 $bb50" | awk '{printf "%.2f", $1/$2}')" \
  "p99 $(echo "$pw99 $bb99" | awk '{printf "%.2f", $1/$2}')"
