#!/usr/bin/env bash
# Install what is needed, build, start a throwaway PostgreSQL and the MongoDB-wire
# test server, and run every test: once in a normal build, once under ASan+UBSan.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/setup.sh

echo "== format (clang-format, .clang-format)"
clang-format --dry-run --Werror src/cli/*.[ch] src/gen/*.[ch] src/lib/*/*.[ch] src/include/mongonorm/*.h tests/*.[ch] bench/*.c

run_suite() {
  local build=$1; shift
  BUILD_DIR=$build bash scripts/build.sh "$@"
  (cd "$build" && ctest --output-on-failure --timeout 600)
}

dsn=$(bash scripts/pg.sh start "$top/build")
portfile="$top/build/wire-server.port"
cleanup() {
  bash tests/stop_wire_server.sh "$portfile" >/dev/null 2>&1 || true
  bash scripts/pg.sh stop "$top/build" || true
}
trap cleanup EXIT
uri=$(bash tests/start_wire_server.sh "$top/fixtures/medichat/dump/medichat" "$portfile")

export MN_TEST_PG_DSN="$dsn"
# libmongoc keeps performance counters in shared memory and, when /dev/shm cannot hold
# another segment (many short processes at once), warns on stderr from its own library
# constructor, before any code of ours runs; the CLI tests compare stderr exactly.
export MONGOC_DISABLE_SHM=1
export MN_TEST_MONGODB_URI="$uri"
# Every service is up now, so a test that finds one missing fails instead of skipping
# (tests/test_common.h, tests/cli/lib.sh).
export CI=true

echo "== tests (RelWithDebInfo)"
run_suite "$top/build"
echo "== tests (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_suite "$top/build-asan" -DCMAKE_BUILD_TYPE=Debug -DMN_SANITIZE=address,undefined
echo "== fuzz (libFuzzer, ${MN_FUZZ_SECONDS:-20} s per harness)"
bash tests/fuzz/run.sh "${MN_FUZZ_SECONDS:-20}"
