#!/usr/bin/env bash
# The metamorphic test of incremental runs as a long soak (the same code as
# tests/cli/test_metamorphic.sh, many seeds): prints one line per seed, the edit
# operations covered, and the failures grouped by kind with the seeds that show them.
# usage: bench/metamorphic.sh [SEEDS] [FIRST_SEED] [generic|medichat|mixed]
#   SEEDS default 500; FIRST_SEED default: a random one (printed), so every soak explores
#   new scripts.  Replay one seed: bench/metamorphic.sh 1 SEED
# Uses BUILD_DIR (default build) and its throwaway PostgreSQL (scripts/pg.sh; MN_PG_PORT).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
seeds=${1:-500}
first=${2:-$(( (RANDOM << 15 | RANDOM) % 1000000 + 1 ))}
model=${3:-mixed}
build=${BUILD_DIR:-$top/build}
BUILD_DIR=$build bash "$top/scripts/build.sh" >/dev/null
dsn=$(bash "$top/scripts/pg.sh" start "$build")
work=$build/bench-metamorphic
mkdir -p "$work"
echo "metamorphic soak: $seeds seeds from $first, model $model (findings: $work/findings.json)"
set +e
MONGOC_DISABLE_SHM=1 MN_BIN=$build/mongonorm MN_SOURCE_DIR=$top MN_BUILD_DIR=$build \
  MN_TEST_PG_DSN=$dsn /usr/bin/python3 "$top/tests/metamorphic/metamorphic.py" \
  --seeds "$seeds" --seed "$first" --model "$model" --work "$work" \
  --findings "$work/findings.json" --db-prefix mn_soak \
  --replay "BUILD_DIR=$build MN_PG_PORT=${MN_PG_PORT:-54329} bash $top/bench/metamorphic.sh 1 {seed} $model"
rc=$?
set -e
exit $rc
