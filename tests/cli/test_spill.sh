#!/usr/bin/env bash
# Sets that outgrow memory (issue 10, flat memory): the run's sets of 16-byte ids and
# run-wide unique keys (util/spillmap.c) keep MN_SET_MEMORY bytes each in memory and spill
# the rest to sorted files under TMPDIR.  A run with a budget of 1 byte (every set
# spills every few dozen keys, and merges its runs) gives exactly what a run whose sets
# stay in memory gives: exit code, reject file, printed counts, stderr, report, tables,
# mongonorm.documents and deferred references; on the MediChat sample, on generated data
# with mess (unique-key collisions, dangling references) plus documents repeating an
# earlier `_id`, and on a re-run over a changed source (merge mode, the claims pass).
# Under an unwritable TMPDIR a run that must spill stops with an error naming the
# directory, before anything is committed; a run that need not spill does not notice.
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir
export MONGOC_DISABLE_SHM=1
SQL="$MN_SOURCE_DIR/sql"
MUTATE="$MN_BUILD_DIR/bench/mn_bench_mutate"
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"

# load NAME BUDGET DSN SOURCE ARGS...: a run with MN_SET_MEMORY=BUDGET (empty: the
# default); rc_NAME and $work/NAME.{out,err,json,jsonl}
load() {
  local name=$1 budget=$2 dsn=$3 src=$4
  shift 4
  try env MN_SET_MEMORY="$budget" "$MN_BIN" run --mapping "$MEDICHAT_MAP" --pg "$dsn" \
    --source "$src" --rejects "$work/$name.jsonl" --report "$work/$name.json" "$@" \
    >"$work/$name.out" 2>"$work/$name.err"
  printf -v "rc_$name" '%s' "$rc"
}

# generated data with mess, as JSON, plus documents that repeat an earlier _id (every
# 40th of each collection again, changed: the later one is rejected as a duplicate _id)
"$MN_BIN" generate --model "$MEDICHAT/generator.yaml" --scale 300 --seed 21 --mess 2 \
  --format json --out "$work/gen" >/dev/null
/usr/bin/python3 - "$work/gen" <<'PY'
import glob, json, sys
for path in glob.glob(sys.argv[1] + "/*.json"):
    if path.endswith("manifest.json"):
        continue
    lines = open(path).read().splitlines()
    extra = []
    for i in range(0, len(lines), 40):
        d = json.loads(lines[i])
        d["spill_test_copy"] = i
        extra.append(json.dumps(d))
    with open(path, "a") as f:
        f.writelines(l + "\n" for l in extra)
PY
expect_same "the generated data repeats _ids" "yes" \
  "$(grep -q spill_test_copy "$work/gen/users.json" && echo yes)"

for src in "$MEDICHAT/dump" "$work/gen"; do
  what=$(basename "$src")
  mem=$(init_db mn_spill_mem --sql-dir "$SQL")
  disk=$(init_db mn_spill_disk --sql-dir "$SQL")
  load mem "" "$mem" "$src"
  load disk 1 "$disk" "$src"
  same_runs "a 1-byte budget = sets in memory ($what)" mem disk "$mem" "$disk"
  [ "$what" != dump ] || rc_sample=$rc_mem
done
expect_same "the generated load rejected documents (duplicate _ids, unique keys)" "yes" \
  "$(grep -q 'duplicate _id' "$work/disk.jsonl" && grep -q 'unique key' "$work/disk.jsonl" && echo yes)"
expect_same "no temporary directory left" "" "$(ls -A "$TMPDIR")"

# a re-run over a changed source: merge mode, recorded documents, the claims pass
"$MN_BIN" generate --model "$MEDICHAT/generator.yaml" --scale 300 --seed 22 --mess 1 \
  --out "$work/dump1" >/dev/null
cp -r "$work/dump1" "$work/dump2"
for f in "$work"/dump1/medichat/*.bson; do
  "$MUTATE" "$f" "$work/dump2/medichat/$(basename "$f")" 7 >/dev/null
done
mem=$(init_db mn_spill_mem --sql-dir "$SQL")
disk=$(init_db mn_spill_disk --sql-dir "$SQL")
load mem1 "" "$mem" "$work/dump1"
load disk1 1 "$disk" "$work/dump1"
load mem "" "$mem" "$work/dump2"
load disk 1 "$disk" "$work/dump2"
same_runs "a 1-byte budget = sets in memory (re-run, 1 document in 7 changed)" mem disk "$mem" "$disk"

# TMPDIR unwritable: a run that must spill stops before it commits, naming the directory
disk=$(init_db mn_spill_disk --sql-dir "$SQL")
TMPDIR=/nonexistent/mn-spill load bad 1 "$disk" "$work/gen"
expect_same "unwritable TMPDIR: exit code 6 (I/O)" 6 "$rc_bad"
expect_same "unwritable TMPDIR: the message names it" "yes" \
  "$(grep -q '"/nonexistent/mn-spill" (TMPDIR)' "$work/bad.err" && echo yes)"
expect_same "unwritable TMPDIR: nothing loaded" "0" "$(q "$disk" "SELECT count(*) FROM users")"
mem=$(init_db mn_spill_mem --sql-dir "$SQL")
TMPDIR=/nonexistent/mn-spill load small "" "$mem" "$MEDICHAT/dump"
expect_same "unwritable TMPDIR, nothing to spill: the run ends as usual" "$rc_sample" "$rc_small"

finish
