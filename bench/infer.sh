#!/usr/bin/env bash
# The survey's speed and memory (issue 12: at least 100,000 documents/s from a dump):
# `mongonorm infer` on generated MediChat data at SCALE (default 10000: about 140,000
# documents, as a mongodump folder), MN_BENCH_REPEAT times (default 3), printing each
# run's documents/s as infer reports it (the whole survey: every document read, then the
# `_id`-only pass of the reference check), the median, and the peak RSS.  Then the same
# at 10 x SCALE for the memory: bounded by the distinct paths, it should barely grow.
# Not a test: it never fails on a time.
# usage: bench/infer.sh [SCALE]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
scale=${1:-10000}
repeat=${MN_BENCH_REPEAT:-3}
build=${BUILD_DIR:-$top/build}
work=$build/bench-infer
BUILD_DIR=$build bash "$top/scripts/build.sh"
bin=$build/mongonorm
mkdir -p "$work"

# measure SCALE: generate once, infer `repeat` times; prints the figures.
measure() {
  local s=$1 data=$work/scale-$1 rates=() rss=0 line kb
  [ -f "$data/manifest.json" ] ||
    "$bin" generate --model "$top/fixtures/medichat/generator.yaml" --scale "$s" --seed 1 \
      --out "$data" --quiet
  for _ in $(seq "$repeat"); do
    rm -rf "$work/out"
    /usr/bin/time -f "%M" -o "$work/rss" "$bin" infer --source "$data" --out "$work/out" \
      > "$work/infer.out"
    line=$(head -1 "$work/infer.out")
    kb=$(cat "$work/rss")
    rss=$((kb > rss ? kb : rss))
    rates+=("$(echo "$line" | sed -E 's/.*\(([0-9]+) documents\/s\).*/\1/')")
    echo "  scale $s: $line"
  done
  /usr/bin/python3 -c "
import statistics, sys
r = sorted(int(x) for x in sys.argv[2:])
print(f'scale {sys.argv[1]}: median {statistics.median(r):,.0f} documents/s '
      f'(goal 100,000: {statistics.median(r) / 100000:.2f}x), ', end='')
" "$s" "${rates[@]}"
  echo "peak RSS $((rss / 1024)) MB"
}

echo "mongonorm infer on generated MediChat data ($(nproc) cores), $repeat runs per scale"
measure "$scale"
repeat=1
measure "$((scale * 10))"
