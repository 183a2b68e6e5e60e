#!/usr/bin/env bash
# Build the libFuzzer harnesses (tests/fuzz/fuzz_*.c) into build-fuzz and run each for
# SECONDS seconds, starting from seeds made from fixtures/ (tests/fuzz/make_corpus.py).
#
#   bash tests/fuzz/run.sh SECONDS [HARNESS...]
#
# Environment: FUZZ_BUILD_DIR (default <repo>/build-fuzz), FUZZ_JOBS (parallel fuzzing
# processes per harness, default 1), FUZZ_MAX_LEN (default 16384 bytes), FUZZ_FLAGS
# (extra libFuzzer flags).  The corpus a run grows stays in FUZZ_BUILD_DIR/corpus/ and is
# picked up by the next run.  Exits 1 when a harness crashed (or leaked, timed out, ran
# out of memory), printing the path of the input that did it; the input stays in
# FUZZ_BUILD_DIR/crashes/.  Replay one: FUZZ_BUILD_DIR/tests/fuzz/<harness> <input>
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:?usage: run.sh SECONDS [HARNESS...]}
shift
build=${FUZZ_BUILD_DIR:-$top/build-fuzz}
max_len=${FUZZ_MAX_LEN:-16384}

if [ $# -gt 0 ]; then
  harnesses=("$@")
else
  harnesses=()
  for f in "$top"/tests/fuzz/fuzz_*.c; do
    harnesses+=("$(basename "$f" .c)")
  done
fi

echo "== fuzz: building into $build"
cmake -S "$top" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMN_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${harnesses[@]}" >/dev/null
rm -rf "$build/fuzz-seeds"
python3 "$top/tests/fuzz/make_corpus.py" "$top" "$build/fuzz-seeds" >/dev/null
mkdir -p "$build/crashes"

# No leak reports from libmongoc's counters in shared memory; abort on UBSan findings.
export MONGOC_DISABLE_SHM=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for h in "${harnesses[@]}"; do
  corpus="$build/corpus/$h"
  log="$build/fuzz-$h.log"
  mkdir -p "$corpus"
  dict=()
  [ -f "$build/fuzz-seeds/$h.dict" ] && dict=(-dict="$build/fuzz-seeds/$h.dict")
  jobs=()
  [ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs=(-fork="$FUZZ_JOBS")
  rc=0
  # shellcheck disable=SC2086
  "$build/tests/fuzz/$h" "$corpus" "$build/fuzz-seeds/$h" "${dict[@]}" "${jobs[@]}" \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/crashes/$h-" ${FUZZ_FLAGS:-} \
    >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "fuzz: $h FAILED (exit $rc) after ${execs:-?} runs; log: $log"
    grep -E '^==[0-9]+==ERROR|runtime error|^SUMMARY' "$log" | head -5 | sed 's/^/  /' || true
    sed -n 's/.*Test unit written to \(.*\)$/  input: \1/p' "$log"
  else
    echo "fuzz: $h ok: ${execs:-?} runs in ${seconds}s, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs"
  fi
done
exit $status
