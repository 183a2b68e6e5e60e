#!/usr/bin/env bash
# Benchmark (not a test): time `mongonorm generate` for about one million MediChat
# documents (scale 71500: users + 3 x conversations + 10 x activity_logs = 14 x scale)
# in each output format, and print documents/s.  Never fails on a time.
# usage: bench/generate.sh [SCALE] [BUILD_DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
scale=${1:-71500}
build=${2:-${BUILD_DIR:-$top/build}}
bin=$build/mongonorm
out=$(mktemp -d /tmp/mongonorm-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
[ -x "$bin" ] || { echo "build first: BUILD_DIR=$build bash scripts/build.sh" >&2; exit 2; }
echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for fmt in dump dump-gzip json json-canonical; do
  args=(--format "${fmt%-gzip}")
  [ "$fmt" = dump-gzip ] && args+=(--gzip)
  rm -rf "$out/$fmt"
  start=$(date +%s.%N)
  "$bin" generate --quiet --model "$top/fixtures/medichat/generator.yaml" --scale "$scale" \
    --seed 1 --out "$out/$fmt" "${args[@]}"
  end=$(date +%s.%N)
  docs=$(python3 -c "import json;m=json.load(open('$out/$fmt/manifest.json'));print(sum(c['documents'] for c in m['collections'].values()))")
  bytes=$(du -sb "$out/$fmt" | cut -f1)
  python3 -c "s=$end-$start;print(f'$fmt: {$docs} documents, {$bytes/1e6:.0f} MB in {s:.2f} s: {$docs/s:,.0f} documents/s')"
done
