#!/usr/bin/env bash
# Several workers (issue 10, points 2 and 6): `run --jobs N` and `run --join NAME` give what
# one run gives.
#   1. --jobs equals one worker on the MediChat sample and on generated data with mess:
#      tables, mongonorm.documents (times aside), the reject file byte for byte, the exit
#      code, the printed counts and the report (timings aside); the units and their waits
#      in mongonorm.work; the generic model of tests/metamorphic (a collection referencing
#      itself loads beside an independent one), incremental and killed runs included;
#   2. three processes `run --join L` started together against one target, one killed
#      with SIGKILL while it holds a unit with batches committed: the others finish, and
#      tables and records equal a single-process load;
#   3. an incremental re-run with --jobs after edits equals one without, and a fresh load;
#   4. errors: --follow with --jobs or --join, --jobs out of range, --join "", two loads
#      of different names at once, a process with another mapping, a shared load and an
#      ordinary run excluding each other.
# MN_JOBS_PARTS="1 3" runs only those parts; MN_JOBS_SEEDS the generic model's seeds (3).
source "$(dirname "$0")/lib.sh"
require_pg
isolate_env
setup_workdir
export MONGOC_DISABLE_SHM=1
SQL="$MN_SOURCE_DIR/sql"
MUTATE="$MN_BUILD_DIR/bench/mn_bench_mutate"

# load NAME DSN SOURCE ARGS...: a run into DSN; its exit code in rc_NAME, its stdout,
# stderr, report and reject file in $work/NAME.{out,err,json,jsonl}.
load() {
  local name=$1 dsn=$2 src=$3
  shift 3
  try "$MN_BIN" run --mapping "$MEDICHAT_MAP" --pg "$dsn" --source "$src" \
    --rejects "$work/$name.jsonl" --report "$work/$name.json" "$@" \
    >"$work/$name.out" 2>"$work/$name.err"
  printf -v "rc_$name" '%s' "$rc"
}


# generated MediChat data with mess (dump folders)
"$MN_BIN" generate --model "$MEDICHAT/generator.yaml" --scale 300 --seed 11 --mess 2 \
  --out "$work/gen" >/dev/null
"$MN_BIN" generate --model "$MEDICHAT/generator.yaml" --scale 600 --seed 12 --mess 1 \
  --out "$work/big" >/dev/null

parts=" ${MN_JOBS_PARTS:-1 2 3 4} "
part() { [[ $parts == *" $1 "* ]]; }

# ---- 1. --jobs gives one worker's load ----------------------------------------------
if part 1; then

for src in "$MEDICHAT/dump" "$work/gen"; do
  what=$(basename "$src")
  one=$(init_db mn_jobs_one --sql-dir "$SQL")
  many=$(init_db mn_jobs_many --sql-dir "$SQL")
  load one "$one" "$src"
  load many "$many" "$src" --jobs 3
  same_runs "--jobs 3 = one worker ($what)" one many "$one" "$many"
done
# the units: users first, then conversations and activity_logs (independent) side by side
expect_same "--jobs: the units and what they wait for" \
  "0|{users}|{}|done
1|{conversations}|{0}|done
2|{activity_logs}|{0}|done" \
  "$(q "$many" "SELECT unit, collections, depends_on, state FROM mongonorm.work
               WHERE load = '' ORDER BY unit")"
expect_same "--jobs: no part file left" "" "$(ls "$work" | grep '\.part-' || true)"
# Part files a killed run left (its process gone) are removed by the next --jobs run of
# that reject file; a live process's, and other names, are not.
sleep 0 & dead=$!
wait "$dead"
for f in "many.jsonl.part-$dead-1" "many.jsonl.part-$$-1" "many.jsonl.part-$dead-1.keep"; do
  echo '{"stale": 1}' >"$work/$f"
done
many=$(init_db mn_jobs_many --sql-dir "$SQL")
load many "$many" "$MEDICHAT/dump" --jobs 3
expect_same "--jobs: a gone process's part files removed, others kept" \
  "$(printf '%s\n' "many.jsonl.part-$$-1" "many.jsonl.part-$dead-1.keep" | sort | tr '\n' ' ' | sed 's/ $//')" \
  "$(cd "$work" && ls many.jsonl.part-* | sort | tr '\n' ' ' | sed 's/ $//')"
rm -f "$work"/many.jsonl.part-*

# the generic model: accounts (referencing itself) and items load side by side, orders
# after both; incremental runs and runs killed at random points, each against one worker
/usr/bin/python3 "$MN_SOURCE_DIR/tests/metamorphic/metamorphic.py" --seeds "${MN_JOBS_SEEDS:-3}" \
  --seed 1 --model generic --work "$work/meta" --db-prefix mn_jobs_meta \
  --run-args "--jobs 3" >"$work/meta.out" 2>&1 && meta=0 || meta=$?
if [ "$meta" = 0 ]; then
  pass "--jobs 3, generic model: incremental and killed runs equal one worker's fresh load ($(tail -1 "$work/meta.out"))"
else
  fail "--jobs 3, generic model: $(grep -E '^not ok|FAIL' "$work/meta.out" | head -3)"
fi
# accounts whose referrers come later in the stream (deferred references, set when
# accounts ends) beside items, which end first: items' end must leave them alone.  Three
# times (when items ends depends on timing: without the rule, 4 loads in 5 lose some)
mkdir -p "$work/ahead"
/usr/bin/python3 - "$work/ahead" <<'PY'
import json, os, sys
n = 6000
oid = lambda i, t: {"$oid": "%08x%016x" % (t, i)}
def write(name, docs):
    with open(os.path.join(sys.argv[1], name + ".json"), "w") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
write("accounts", ({"_id": oid(i, 1), "email": "a%d@example.com" % i,
                    "referrer": oid((i + n // 2) % n, 1)} for i in range(n)))
write("items", ({"_id": oid(i, 2), "name": "item %d" % i, "aliases": "a,b,c"}
                for i in range(n // 4)))
write("orders", [{"_id": oid(0, 3), "number": "1", "buyer": oid(0, 1)}])
PY
generic() { "$MN_BIN" run --quiet --mapping "$MN_SOURCE_DIR/tests/metamorphic/mapping.yaml" \
  --source "$work/ahead" --batch-size 100 --rejects "$work/ahead.jsonl" "$@"; }
gen_one=$(init_db mn_jobs_one --sql-dir "$MN_SOURCE_DIR/tests/metamorphic/sql")
generic --pg "$gen_one"
want="0 NULL referrers, $(dump_tables "$gen_one" accounts items orders | md5sum)"
for i in 1 2 3; do
  gen_many=$(init_db mn_jobs_many --sql-dir "$MN_SOURCE_DIR/tests/metamorphic/sql")
  generic --pg "$gen_many" --jobs 2
  expect_same "--jobs 2 ($i): references deferred within accounts all set though items ended first" \
    "$want" "$(q "$gen_many" "SELECT count(*) FROM accounts WHERE referrer_id IS NULL") NULL referrers, $(dump_tables "$gen_many" accounts items orders | md5sum)"
done
meta_dsn="$MN_TEST_PG_DSN dbname=mn_jobs_meta_inc"
expect_same "--jobs, generic model: accounts and items side by side, then orders" \
  "0|{accounts}|{}
1|{items}|{}
2|{orders}|{0,1}" \
  "$(q "$meta_dsn" "SELECT unit, collections, depends_on FROM mongonorm.work WHERE load = ''
                    ORDER BY unit")"

fi

# ---- 2. three processes share a load; one is killed holding a unit --------------------
if part 2; then

single=$(init_db mn_jobs_single --sql-dir "$SQL")
load single "$single" "$work/big"
shared=$(init_db mn_jobs_shared --sql-dir "$SQL")
pids=()
for i in 1 2 3; do
  "$MN_BIN" run --join L --batch-size 50 --mapping "$MEDICHAT_MAP" --pg "$shared" \
    --source "$work/big" --rejects "$work/p$i.jsonl" --report "$work/p$i.json" \
    >"$work/p$i.out" 2>"$work/p$i.err" &
  pids+=($!)
done
# a process left waiting for ever fails the test instead of hanging it (short sleeps, and
# no output held open, so that killing the watchdog ends it at once)
(for _ in $(seq 1 3000); do sleep 0.1; done && kill -9 "${pids[@]}") >/dev/null 2>&1 &
watchdog=$!
# the victim: a process whose claim is open while a unit has committed batches (users,
# which the others wait for; or, when users was done before the first look, one of the two
# that load conversations and activity_logs side by side: on a busy machine users can end
# before this loop's first query)
victim="" committed=""
for _ in $(seq 1 600); do
  holders=$(q "$shared" "SELECT a.application_name FROM pg_stat_activity a
      WHERE a.application_name LIKE 'mongonorm claim %' AND a.state = 'idle in transaction'
      AND EXISTS (SELECT 1 FROM mongonorm.work w WHERE w.load = 'L' AND w.state = 'pending'
        AND EXISTS (SELECT 1 FROM mongonorm.documents d WHERE d.collection = ANY (w.collections)))" \
    2>/dev/null || true)
  if [ "$(grep -c . <<<"$holders")" -ge 1 ]; then
    victim=$(head -1 <<<"$holders" | sed -E 's/^mongonorm claim ([0-9]+)\/.*/\1/')
    committed=$(q "$shared" "SELECT count(*) FROM mongonorm.documents")
    # it may have ended since: then look for the next holder
    if kill -9 "$victim" 2>/dev/null; then
      break
    fi
    victim=""
  fi
  sleep 0.05
done
rcs=""
for pid in "${pids[@]}"; do
  try wait "$pid" 2>/dev/null
  [ "$pid" = "$victim" ] || rcs="$rcs $rc"
done
kill "$watchdog" 2>/dev/null || true
if [ -n "$victim" ]; then
  pass "--join: a process killed holding a unit with $committed documents committed"
else
  fail "--join: no process was seen holding a unit with batches committed"
fi
expect_same "--join: the other two exit 0 or 1" "ok" \
  "$(for r in $rcs; do [ "$r" = 0 ] || [ "$r" = 1 ] || echo "exit $r"; done; echo ok)"
state "$single" >"$work/single.state"
state "$shared" >"$work/shared.state"
expect_same_files "--join: tables and mongonorm.documents equal a single-process load" \
  "$work/single.state" "$work/shared.state"
expect_same "--join: the bulk load put everything back once (whoever ended it)" \
  "$(schema_of "$single")" "$(schema_of "$shared")"
# The victim may have finished a unit before the one it died in (the three race for the
# units): then that unit's reject lines are in its part files, not in a survivor's file.
victim_done=$(q "$shared" "SELECT count(*) FROM mongonorm.work WHERE load = 'L' AND state = 'done'
                           AND worker LIKE '%:$victim/%'")
expect_same "--join: every unit done" "3" \
  "$(q "$shared" "SELECT count(*) FROM mongonorm.work WHERE load = 'L' AND state = 'done'")"
rejected_ids() { # the (collection, _id) of reject files, sorted
  cat "$@" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(r.get("collection"), json.dumps(r.get("_id"), sort_keys=True))' | sort
}
survivors=()
for i in 1 2 3; do [ "${pids[$((i - 1))]}" = "$victim" ] || survivors+=("$work/p$i.jsonl"); done
if [ "$victim_done" = 0 ]; then
  expect_same "--join: the survivors' reject files list the single load's rejects" \
    "$(rejected_ids "$work/single.jsonl")" "$(rejected_ids "${survivors[@]}")"
else
  echo "# the victim had finished $victim_done unit(s) before it died: reject files not compared"
fi

fi

# ---- 3. incremental runs with --jobs after edits ------------------------------------
if part 3; then

s2="$work/medichat-s2"
/usr/bin/python3 "$MN_SOURCE_DIR/tests/cli/edit_source.py" "$MEDICHAT/json-canonical" "$s2"
g2="$work/gen-s2/medichat"
mkdir -p "$g2"
for f in "$work/gen/medichat/"*; do
  case "$f" in
  *.bson) "$MUTATE" "$f" "$g2/$(basename "$f")" 7 >/dev/null ;;
  *) cp "$f" "$g2/" ;;
  esac
done
for pair in "$MEDICHAT/json-canonical $s2" "$work/gen $work/gen-s2"; do
  set -- $pair
  what=$(basename "$2")
  one=$(init_db mn_jobs_one --sql-dir "$SQL")
  many=$(init_db mn_jobs_many --sql-dir "$SQL")
  load one1 "$one" "$1"
  load many1 "$many" "$1"
  load one "$one" "$2"
  load many "$many" "$2" --jobs 3
  same_runs "incremental --jobs 3 = one worker ($what)" one many "$one" "$many"
  fresh=$(init_db mn_jobs_fresh --sql-dir "$SQL")
  load fresh "$fresh" "$2"
  expect_same "incremental --jobs 3 ($what): the tables of a fresh load" \
    "$(dump_tables "$fresh")" "$(dump_tables "$many")"
  load again "$many" "$2" --jobs 3
  expect_same "incremental --jobs 3 ($what): a second run writes nothing" "0" \
    "$(field "$work/again.json" "sum(t['inserted'] + t['updated'] + t['deleted'] for t in r['tables'].values())")"
done

fi

# ---- 4. errors ----------------------------------------------------------------------
if part 4; then

usage() { # DESC WANT ARGS...: exit 2 and WANT as the first stderr line
  local desc=$1 want=$2
  shift 2
  try "$MN_BIN" run --source "$MEDICHAT/dump" --mapping "$MEDICHAT_MAP" "$@" 2>"$err" >/dev/null
  expect_same "$desc" "2: $want" "$rc: $(head -1 "$err")"
}
usage "--follow --jobs 2" "mongonorm: error: --follow cannot be used with --jobs above 1" \
  --follow --jobs 2
usage "--follow --join" "mongonorm: error: --follow cannot be used with --join" --follow --join L
usage "--jobs 0" 'mongonorm: error: --jobs takes a number from 1 to 64, not "0"' --jobs 0
usage "--jobs 65" 'mongonorm: error: --jobs takes a number from 1 to 64, not "65"' --jobs 65
usage '--join ""' 'mongonorm: error: --join takes the name of the shared load, not ""' --join ""

# wait_lock DSN SQL-CONDITION-ON-pg_locks: until a session holds such a lock (at most 30 s)
wait_lock() {
  local i
  for i in $(seq 1 600); do
    [ "$(q "$1" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND $2")" != 0 ] && return 0
    sleep 0.05
  done
  return 1
}
locked() { # DESC WANT NAME ARGS...: exit 7, WANT on stderr, its report and rejects untouched
  local desc=$1 want=$2 name=$3
  shift 3
  echo "old" >"$work/$name.jsonl"
  echo "old" >"$work/$name.json"
  load "$name" "$target" "$work/big" "$@"
  local rcv="rc_$name"
  expect_same "$desc" "7: $want" "${!rcv}: $(head -1 "$work/$name.err")"
  expect_same "$desc: its reject file and report untouched" "old old" \
    "$(cat "$work/$name.jsonl") $(cat "$work/$name.json")"
}
target=$(init_db mn_jobs_locks --sql-dir "$SQL")
"$MN_BIN" run --join first --batch-size 20 --mapping "$MEDICHAT_MAP" --pg "$target" \
  --source "$work/big" --rejects "$work/first.jsonl" >/dev/null 2>&1 &
first=$!
wait_lock "$target" "classid = 7236481 AND objsubid = 2" || fail "--join first never took its lock"
locked "--join second while first runs" \
  'mongonorm: error: another shared load ("first") is running on this target database: start this process with --join first to share it, or when it has finished' \
  second --join second
cp "$MEDICHAT_MAP" "$work/other.yaml"
echo "# another mapping" >>"$work/other.yaml"
echo "old" >"$work/othermap.jsonl"
try "$MN_BIN" run --join first --mapping "$work/other.yaml" --pg "$target" --source "$work/big" \
  --rejects "$work/othermap.jsonl" >/dev/null 2>"$err"
expect_same "--join first with another mapping" \
  '7: mongonorm: error: a process of shared load "first" runs another mapping: every process of a load needs the same mapping file' \
  "$rc: $(head -1 "$err")"
# A second process of the load on this host with the same reject file: the last to end
# would rename its own lines over the other's, so it is refused (exit 2) before any work.
try "$MN_BIN" run --join first --batch-size 20 --mapping "$MEDICHAT_MAP" --pg "$target" \
  --source "$work/big" --rejects "$work/./first.jsonl" >/dev/null 2>"$err"
expect_same "--join first with the first process's reject file" \
  "2: mongonorm: error: another process of shared load \"first\" on this host writes reject file \"$work/first.jsonl\": give each process on one host its own --rejects (and --report)" \
  "$rc: $(head -1 "$err")"
locked "an ordinary run while a shared load runs" \
  "mongonorm: error: another mongonorm run is using this target database" plain
kill -9 "$first" 2>/dev/null || true # (gone already: the checks above said so)
try wait "$first" 2>/dev/null
wait_lock_gone() { # DSN: until no session holds an advisory lock (the killed one's gone)
  local i
  for i in $(seq 1 200); do
    [ "$(q "$1" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" = 0 ] && return 0
    sleep 0.05
  done
  return 1
}
wait_lock_gone "$target" || fail "the killed --join first still holds its locks after 10 s"
"$MN_BIN" run --batch-size 20 --mapping "$MEDICHAT_MAP" --pg "$target" --source "$work/big" \
  --full --rejects "$work/ordinary.jsonl" >/dev/null 2>&1 &
ordinary=$!
wait_lock "$target" "objsubid = 1 AND mode = 'ExclusiveLock'" || fail "the ordinary run never took the lock"
locked "--join while an ordinary run holds the lock" \
  "mongonorm: error: another mongonorm run is using this target database" joiner --join first
kill -9 "$ordinary" 2>/dev/null || true
try wait "$ordinary" 2>/dev/null
fi

finish
