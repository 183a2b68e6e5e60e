#!/usr/bin/env bash
# The randomized metamorphic test of incremental runs (issue 7): per seed, a source S1
# and S2 = a random edit script applied to it; an incremental run (S1 loaded, then S2
# run into the same database) must give exactly the tables of a fresh load of S2, and
# so must a run killed with SIGKILL at a random point and run again; every run ends with
# exit 0 or 1, read = loaded + rejected, the same rejected _ids as the fresh load.  The
# generic model (tests/metamorphic/) and MediChat's generated data (seeds = 3 mod 4).
#   MN_META_SEEDS  number of seeds (default 25, about a minute and a half here)
#   MN_META_SEED   the first seed (default 1); a failure prints the command replaying it
#   MN_META_MODEL  generic | medichat | mixed (default)
# A longer soak: bench/metamorphic.sh.  See tests/metamorphic/metamorphic.py.
source "$(dirname "$0")/lib.sh"
require_pg

seeds=${MN_META_SEEDS:-25}
first=${MN_META_SEED:-1}
model=${MN_META_MODEL:-mixed}
replay="MN_META_SEED={seed} MN_META_SEEDS=1 MN_META_MODEL=$model MN_BIN=$MN_BIN"
replay="$replay MN_SOURCE_DIR=$MN_SOURCE_DIR MN_BUILD_DIR=$MN_BUILD_DIR"
replay="$replay MN_TEST_PG_DSN='$MN_TEST_PG_DSN' bash $MN_SOURCE_DIR/tests/cli/test_metamorphic.sh"
# The driver prints one "ok"/"not ok" line per seed and "N passed, M failed" at the end.
exec /usr/bin/python3 "$MN_SOURCE_DIR/tests/metamorphic/metamorphic.py" \
  --seeds "$seeds" --seed "$first" --model "$model" \
  --work "$MN_BUILD_DIR/test_metamorphic" --findings "$MN_BUILD_DIR/test_metamorphic/findings.json" \
  --replay "$replay"
