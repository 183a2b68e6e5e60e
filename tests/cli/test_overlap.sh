#!/usr/bin/env bash
# Converting a batch while the one before is loaded (issue 10, overlap): a first full load
# (direct mode) hands its batches to a second session (the report's batches_overlapped)
# and gives exactly what loading every batch on the run's own session gives
# (MN_SYNC_LOAD=1): tables, records, reject file, counts, exit code and message.  Merge
# mode never overlaps.  Batches that fail in the background: documents PostgreSQL refuses
# in an overlapped batch, the reject limits crossed while the batch before is in flight, a
# batch the server refuses whole (a trigger raising a non-data error) stop or go on
# exactly as without overlap.  A run started while a killed run's loader still holds its
# batch waits for it (the loader lock).  Generic data (tests/cutover), not MediChat.
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir
here="$CUTOVER"
map="$here/mapping.yaml"

# gen OUT N [bad=K] [check=K] [shared=I:J] [renamed=1]: the cutover model's people and
# notes; every K-th person (from the first) has a score that does not convert, every K-th
# (from the 11th) one the target's CHECK refuses; shared=I:J gives person J (1-based) a
# copy of a device of person I (a sub-document _id two documents carry: the later one is
# refused); renamed=1 changes every person's name
gen() {
  local out=$1 n=$2; shift 2
  /usr/bin/python3 "$here/gen.py" "$out" "$n"
  /usr/bin/python3 - "$out" "$@" <<'PY'
import json, os, sys
out, opts = sys.argv[1], dict(a.split("=") for a in sys.argv[2:])
path = os.path.join(out, "people.json")
people = [json.loads(l) for l in open(path)]
bad, check = int(opts.get("bad", 0)), int(opts.get("check", 0))
if bad:
    for i in range(0, len(people), bad):
        people[i]["score"] = "abc"
if check:
    for i in range(10, len(people), check):
        if people[i]["score"] != "abc":
            people[i]["score"] = {"$numberInt": "-1"}
if "shared" in opts:
    i, j = (int(x) - 1 for x in opts["shared"].split(":"))
    people[j]["devices"].append(dict(people[i]["devices"][0]))
if opts.get("renamed"):
    for p in people:
        p["name"] += " (renamed)"
with open(path, "w") as f:
    f.writelines(json.dumps(p) + "\n" for p in people)
PY
}

# load MODE NAME SRC [args]: run into database mn_ov_NAME_MODE (made fresh unless
# KEEP=1), every batch on the run's own session when MODE is sync (MN_SYNC_LOAD=1);
# leaves $work/NAME-MODE.{rc,err,tables,docs,rej,report}.
load() {
  local mode=$1 name=$2 src=$3 db tag=$2-$1 sync=
  shift 3
  [ "$mode" = sync ] && sync=1
  if [ "${KEEP:-}" = 1 ]; then db="$MN_TEST_PG_DSN dbname=mn_ov_${name}_$mode"
  else db=$(init_db "mn_ov_${name}_$mode" --mapping "$map"); fi
  try env MN_SYNC_LOAD=$sync "$MN_BIN" run --quiet --pg "$db" --source "$src" --mapping "$map" \
    --rejects "$work/$tag.rej" --report "$work/$tag.report" "$@" 2>"$work/$tag.err"
  echo "$rc" > "$work/$tag.rc"
  cutover_tables "$db" > "$work/$tag.tables"
  q "$db" "SELECT collection, doc_id, encode(digest, 'hex'), counts, rejected, reject_path,
             reason FROM mongonorm.documents ORDER BY 1, 2" > "$work/$tag.docs"
}
# counts TAG: the report without timings and without batches_overlapped
counts() { report_without "$work/$1.report" seconds batches_overlapped; }
overlapped() { field "$work/$1.report" "r['collections']['$2'].get('batches_overlapped', 0)"; }
batches() { field "$work/$1.report" "r['collections']['$2'].get('batches', 0)"; }

# same NAME WHAT...: the overlapped and the synchronous load of NAME agree on each WHAT
# (rc, err: the first line of stderr, tables, docs, rej, counts)
same() {
  local name=$1 w a b
  shift
  for w in "$@"; do
    case $w in
      err) # the reject file's name aside
        a=$(head -1 "$work/$name-ov.err" | sed "s/$name-ov\./X./")
        b=$(head -1 "$work/$name-sync.err" | sed "s/$name-sync\./X./") ;;
      counts) a=$(counts "$name-ov"); b=$(counts "$name-sync") ;;
      *) a=$(cat "$work/$name-ov.$w"); b=$(cat "$work/$name-sync.$w") ;;
    esac
    expect_same "$name: overlapped and synchronous loads give the same $w" "$b" "$a"
  done
}

# ---- 1. a first full load overlaps, and gives what a synchronous one gives ----
# 600 people, batches of 50: every 50th does not convert, every 70th the CHECK refuses,
# and person 420 carries a device of person 8 (refused by the primary key)
gen "$work/s1" 600 bad=50 check=70 shared=8:420
load ov full "$work/s1" --batch-size 50
load sync full "$work/s1" --batch-size 50
same full rc err tables docs rej counts
[ "$(cat "$work/full-ov.rc")" = 1 ] && [ "$(grep -c '"collection" : "people"' "$work/full-ov.rej")" = 20 ] &&
  grep -q 'PostgreSQL refused the rows of table \\"people\\".*constraint \\"people_score_check\\"' "$work/full-ov.rej" &&
  grep -q 'PostgreSQL refused the rows of table \\"person_devices\\": a row id is already the id of a row of another document' "$work/full-ov.rej" &&
  pass "the refused documents of overlapped batches are rejected at the end (12 + 7 CHECK + 1 key), exit 1" ||
  fail "refused in the background: exit $(cat "$work/full-ov.rc"), $(grep -c . "$work/full-ov.rej") reject lines"
for c in people notes; do
  ov=$(overlapped full-ov $c) all=$(batches full-ov $c) sync=$(overlapped full-sync $c)
  [ "$ov" -ge 10 ] && [ "$ov" -le "$all" ] && [ "$sync" = 0 ] &&
    pass "$c: $ov of its $all batches were loaded while the next was converted (0 with MN_SYNC_LOAD=1)" ||
    fail "$c: overlapped $ov of $all batches, $sync with MN_SYNC_LOAD=1"
done

# ---- 2. merge mode (a second run, the same data edited) never overlaps ----
gen "$work/s2" 600 bad=50 check=90 renamed=1
KEEP=1 load ov full "$work/s2" --batch-size 50
KEEP=1 load sync full "$work/s2" --batch-size 50
same full rc err tables docs rej counts
[ "$(overlapped full-ov people)" = 0 ] && [ "$(overlapped full-ov notes)" = 0 ] &&
  [ "$(batches full-ov people)" -ge 10 ] &&
  pass "merge mode: no batch overlapped ($(batches full-ov people) batches of people)" ||
  fail "merge mode overlapped: $(overlapped full-ov people) $(overlapped full-ov notes)"

# ---- 3. --max-rejects crossed by conversion rejects while the batch before is in flight ----
gen "$work/s3" 400 bad=25
load ov conv "$work/s3" --batch-size 50 --max-rejects 10
load sync conv "$work/s3" --batch-size 50 --max-rejects 10
same conv rc err tables docs rej counts
[ "$(cat "$work/conv-ov.rc")" = 10 ] && [ "$(grep -c . "$work/conv-ov.tables")" -gt 4 ] &&
  pass "--max-rejects 10 crossed in an overlapped load: exit 10, the batches before it committed" ||
  fail "--max-rejects in the background: exit $(cat "$work/conv-ov.rc"): $(head -1 "$work/conv-ov.err")"

# ---- 4. --max-rejects crossed by documents refused in overlapped batches ----
gen "$work/s4" 400 check=30
load ov refused "$work/s4" --batch-size 50 --max-rejects 5
load sync refused "$work/s4" --batch-size 50 --max-rejects 5
same refused rc err tables docs rej counts
[ "$(cat "$work/refused-ov.rc")" = 10 ] && [ "$(overlapped refused-ov people)" -ge 5 ] &&
  pass "--max-rejects 5 crossed by refused documents of overlapped batches: exit 10 at their last try" ||
  fail "refused past --max-rejects: exit $(cat "$work/refused-ov.rc"): $(head -1 "$work/refused-ov.err")"

# ---- 5. a batch the server refuses whole (not the data's fault), in the background ----
gen "$work/s5" 400
for mode in ov sync; do
  db=$(init_db "mn_ov_whole_$mode" --mapping "$map")
  q "$db" "CREATE FUNCTION no_loading() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
             RAISE EXCEPTION 'no loading today' USING ERRCODE = 'insufficient_privilege'; END \$\$;
           CREATE TRIGGER no_loading BEFORE INSERT ON people FOR EACH ROW
             WHEN (NEW.name = 'person 175') EXECUTE FUNCTION no_loading()" >/dev/null
done
KEEP=1 load ov whole "$work/s5" --batch-size 50
KEEP=1 load sync whole "$work/s5" --batch-size 50
same whole rc err tables docs rej
want='mongonorm: error: could not load rows into "public"."people": no loading today'
[ "$(cat "$work/whole-ov.rc")" = 5 ] && [ "$(head -1 "$work/whole-ov.err")" = "$want" ] &&
  [ "$(q "$MN_TEST_PG_DSN dbname=mn_ov_whole_ov" "SELECT count(*) FROM people")" = 150 ] &&
  [ "$(q "$MN_TEST_PG_DSN dbname=mn_ov_whole_ov" "SELECT outcome FROM mongonorm.runs")" = failed ] &&
  pass "a batch refused whole in the background: exit 5 with its message, the 3 batches before it committed, none after" ||
  fail "refused whole: exit $(cat "$work/whole-ov.rc"): $(head -1 "$work/whole-ov.err")"

# ---- 6. the source fails while a batch is in flight ----
# notes.json.gz damaged halfway (nothing references notes: no pre-pass reads it first);
# the batch in flight when the read fails still commits and counts, as it had without
# overlap before the read went on
gen "$work/s7" 2000
/usr/bin/python3 - "$work/s7" <<'PY'
import gzip, os, sys
d = sys.argv[1]
b = bytearray(gzip.compress(open(os.path.join(d, "notes.json"), "rb").read(), mtime=0))
for i in range(len(b) // 2, len(b) // 2 + 64):
    b[i] ^= 0x5A
open(os.path.join(d, "notes.json.gz"), "wb").write(b)
os.remove(os.path.join(d, "notes.json"))
PY
load ov broken "$work/s7" --batch-size 50
load sync broken "$work/s7" --batch-size 50
same broken rc err tables docs rej counts
[ "$(cat "$work/broken-ov.rc")" = 6 ] && [ "$(overlapped broken-ov notes)" -ge 10 ] &&
  [ "$(field "$work/broken-ov.report" "r['collections']['notes']['loaded']")" -gt 0 ] &&
  pass "a source failing during an overlapped load: exit 6, the batch in flight committed and counted" ||
  fail "source failure: exit $(cat "$work/broken-ov.rc"): $(head -1 "$work/broken-ov.err")"

# ---- 7. a killed run's loader still holding its batch: the next run waits for it ----
# The loader of a run killed after it sent COMMIT may commit after the run's own session
# (and the run lock) is gone.  A session plays it: it holds the loader lock, with a batch
# of 20 people (their rows and records, as the reference load made them) inserted and not
# committed yet, and commits 3 s later.
gen "$work/s6" 200
ref=$(init_db mn_ov_lockref --mapping "$map")
try "$MN_BIN" run --quiet --pg "$ref" --source "$work/s6" --mapping "$map" --rejects "$work/lockref.rej"
cutover_tables "$ref" > "$work/lockref.tables"
first20="SELECT id FROM people ORDER BY id LIMIT 20"
q "$ref" "COPY (SELECT * FROM people WHERE id IN ($first20)) TO STDOUT" > "$work/batch-people"
q "$ref" "COPY (SELECT * FROM person_tags WHERE person_id IN ($first20)) TO STDOUT" > "$work/batch-tags"
q "$ref" "COPY (SELECT * FROM person_devices WHERE person_id IN ($first20)) TO STDOUT" > "$work/batch-devices"
q "$ref" "COPY (SELECT d.collection, d.doc_id, d.digest, d.counts, d.rejected, d.reject_path,
                      d.reason, d.context FROM mongonorm.documents d
               WHERE d.collection = 'people' AND d.doc_id IN ($first20)) TO STDOUT" > "$work/batch-docs"
db=$(init_db mn_ov_lock --mapping "$map")
psql "$db" -qX -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL &
SELECT pg_advisory_lock(7236481590124);
BEGIN;
\copy people FROM '$work/batch-people'
\copy person_tags FROM '$work/batch-tags'
\copy person_devices FROM '$work/batch-devices'
\copy mongonorm.documents (collection, doc_id, digest, counts, rejected, reject_path, reason, context) FROM '$work/batch-docs'
SELECT pg_sleep(3);
COMMIT;
SQL
player=$!
for _ in $(seq 1 100); do
  [ "$(q "$db" "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3)%'")" = 1 ] && break
  sleep 0.1
done
start=$(date +%s%N)
try "$MN_BIN" run --quiet --pg "$db" --source "$work/s6" --mapping "$map" --rejects "$work/lock.rej" 2>"$work/lock.err"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait "$player" || true
cutover_tables "$db" > "$work/lock.tables"
[ "$rc" = 0 ] && [ "$ms" -ge 1500 ] && cmp -s "$work/lockref.tables" "$work/lock.tables" &&
  pass "a run waits for the loader lock of a killed run (${ms} ms), then finds its batch and converges" ||
  fail "loader lock: exit $rc after ${ms} ms: $(head -1 "$work/lock.err"); tables $(diff "$work/lockref.tables" "$work/lock.tables" | head -3)"
# The wait itself (above, the ALTER TABLE of mongonorm's own schema at the run's start
# would also wait for a batch that wrote records): a session holding only the loader
# lock for 2 s holds the next run back as long.
psql "$db" -qX -v ON_ERROR_STOP=1 -c "SELECT pg_advisory_lock(7236481590124)" \
  -c "SELECT pg_sleep(2)" >/dev/null 2>&1 &
player=$!
for _ in $(seq 1 100); do
  [ "$(q "$db" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" -gt 0 ] && break
  sleep 0.1
done
start=$(date +%s%N)
try "$MN_BIN" run --quiet --pg "$db" --source "$work/s6" --mapping "$map" --rejects "$work/lock.rej" 2>"$work/lock.err"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait "$player" || true
[ "$rc" = 0 ] && [ "$ms" -ge 1000 ] &&
  pass "a session holding the loader lock holds the next run back (${ms} ms)" ||
  fail "loader lock alone: exit $rc after ${ms} ms: $(head -1 "$work/lock.err")"

finish
