#!/usr/bin/env bash
# Run guards and honest run records (issue 9): --max-rejects and --max-reject-ratio stop a
# run before it commits the batch that crosses the line (conversion rejects, documents
# PostgreSQL refuses, documents rejected before not counted unless asked), each with its
# exact message and exit 10; a batch refused by a deferrable constraint is split in one
# transaction; runs killed with SIGKILL or cut off by a PostgreSQL restart show as
# `interrupted`; a run refused by the lock touches neither the running run's report nor
# its reject file; a document recorded twice (the records lost their primary key) stops a
# run before it writes.  Generic data (tests/cutover), not MediChat.
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir
here="$CUTOVER"
map="$here/mapping.yaml"

# gen OUT N [bad=K] [check=K] [checkn=C]: the cutover model's people and notes; every K-th
# person (from the first) has a score that does not convert ("abc"), every K-th (from the
# 11th) a score the target's CHECK refuses (-1), at most C of those
gen() {
  local out=$1 n=$2; shift 2
  /usr/bin/python3 "$here/gen.py" "$out" "$n"
  /usr/bin/python3 - "$out" "$@" <<'PY'
import json, os, sys
out, opts = sys.argv[1], dict(a.split("=") for a in sys.argv[2:])
path = os.path.join(out, "people.json")
people = [json.loads(l) for l in open(path)]
bad, check = int(opts.get("bad", 0)), int(opts.get("check", 0))
checkn = int(opts.get("checkn", 10**9))
if bad:
    for i in range(0, len(people), bad):
        people[i]["score"] = "abc"
if check:
    for k, i in enumerate(range(10, len(people), check)):
        if k < checkn and people[i]["score"] != "abc":
            people[i]["score"] = {"$numberInt": "-1"}
with open(path, "w") as f:
    f.writelines(json.dumps(p) + "\n" for p in people)
PY
}
newdb() { init_db "$1" --mapping "$map"; } # name -> dsn of a fresh, initialised database
run() { # dsn source rejects [args] -> $rc, stderr in $work/err
  local dsn=$1 src=$2 rej=$3; shift 3
  try "$MN_BIN" run --quiet --pg "$dsn" --source "$src" --mapping "$map" --rejects "$rej" "$@" \
    2>"$work/err"
}
first_err() { head -1 "$work/err"; }
# hold_lock APP DSN: a psql session named APP holds the run lock (the advisory lock a run
# takes) for 60 s, in the background; returns once it is granted, its pid in $lock_holder.
hold_lock() {
  PGAPPNAME=$1 psql "$2" -qXAt -c "SELECT pg_advisory_lock(7236481590123)" \
    -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
  lock_holder=$!
  for _ in $(seq 1 100); do
    [ "$(q "$2" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" -gt 0 ] && break
    sleep 0.1
  done
}
# release_lock APP PID: end hold_lock's session APP and wait for its psql PID.
release_lock() {
  q "$MN_TEST_PG_DSN" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$1'" >/dev/null
  wait "$2" 2>/dev/null || true
}

# ---- 1. the options' values ----
usage() { # expected-message args...
  local want=$1; shift
  try "$MN_BIN" run --source "$work" --mapping "$map" "$@" >/dev/null 2>"$work/err"
  if [ "$rc" = 2 ] && [ "$(first_err)" = "mongonorm: error: $want" ]; then
    pass "usage: $* -> exit 2, \"$want\""
  else
    fail "usage: $*: exit $rc: $(first_err)"
  fi
}
usage '--max-rejects takes a number of documents (0 or more), not "-1"' --max-rejects -1
usage '--max-rejects takes a number of documents (0 or more), not "ten"' --max-rejects ten
usage '--max-reject-ratio takes a fraction between 0 and 1 (0.05) or a percentage (5%), not "0"' --max-reject-ratio 0
usage '--max-reject-ratio takes a fraction between 0 and 1 (0.05) or a percentage (5%), not "1"' --max-reject-ratio 1
usage '--max-reject-ratio takes a fraction between 0 and 1 (0.05) or a percentage (5%), not "150%"' --max-reject-ratio 150%
usage '--max-reject-ratio takes a fraction between 0 and 1 (0.05) or a percentage (5%), not "5x"' --max-reject-ratio 5x
usage '--count-known-rejects needs --max-rejects or --max-reject-ratio' --count-known-rejects
run_help=$("$MN_BIN" run --help) # whole first: grep -q would leave the writer to SIGPIPE
grep -q -- '--max-reject-ratio R' <<<"$run_help" && grep -q -- '--count-known-rejects' <<<"$run_help" &&
  pass "run --help lists the limits" || fail "run --help lacks the limits"

# ---- 2. conversion rejects cross --max-rejects in a fresh load ----
# 400 people, every 25th does not convert (16), batches of 50 loaded documents
gen "$work/conv" 400 bad=25
ref=$(newdb mn_guard_ref)
run "$ref" "$work/conv" "$work/ref.jsonl"
[ "$rc" = 1 ] && pass "without a limit: 16 rejected, exit 1" || fail "reference run: exit $rc $(cat "$work/err")"
cutover_tables "$ref" > "$work/ref.txt"

db=$(newdb mn_guard_conv)
echo "an earlier run's report" > "$work/conv-report.json"
run "$db" "$work/conv" "$work/conv.jsonl" --batch-size 50 --max-rejects 10 --report "$work/conv-report.json"
msg=$(first_err)
want='mongonorm: error: too many rejected documents: 11 rejected in this run (of 261 read), more than the 10 --max-rejects allows; stopped in collection "people" before committing the batch that crossed the limit'
[ "$rc" = 10 ] && pass "--max-rejects 10 crossed: exit 10" || fail "--max-rejects 10: exit $rc"
[ "$msg" = "$want" ] && pass "--max-rejects: the message names the limit and the counts" || fail "message: $msg"
sed -n 2p "$work/err" | grep -qx 'hint: the reject file lists them; fix the source or the mapping, or run again without the limit to load the rest' &&
  pass "--max-rejects: a hint follows" || fail "hint: $(sed -n 2p "$work/err")"
# What is committed is whole batches before the crossing one: a prefix of the source,
# with at most 10 rejected documents, and none of the crossing batch (the 10th and 11th
# rejects, people 226 and 251, are in it: batches end at 50 loaded documents).
verdict=$(/usr/bin/python3 - "$work/conv/people.json" "$work/conv.jsonl" \
  "$(q "$db" "SELECT string_agg(doc_id::text || ':' || rejected, ',') FROM mongonorm.documents WHERE collection = 'people'")" \
  "$(q "$db" "SELECT count(*) FROM people")" <<'PY'
import json, sys
people = [json.loads(l) for l in open(sys.argv[1])]
def uuid(oid):
    h = oid + "00000000"
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])
order = [uuid(p["_id"]["$oid"]) for p in people]
rec = dict(x.split(":") for x in sys.argv[3].split(",")) if sys.argv[3] else {}
n = len(rec)
lines = [json.loads(l) for l in open(sys.argv[2])]
if set(rec) != set(order[:n]):
    print("recorded documents are not a prefix of the source"); sys.exit()
rejected = sum(v in ("t", "true") for v in rec.values())
if rejected > 10:
    print("%d rejected documents committed" % rejected); sys.exit()
if int(sys.argv[4]) != n - rejected:
    print("rows %s, recorded loaded %d" % (sys.argv[4], n - rejected)); sys.exit()
if len(lines) != 11:
    print("%d reject lines" % len(lines)); sys.exit()
ids = [uuid(l["_id"]["$oid"]) for l in lines]
missing = [i for i, v in rec.items() if v in ("t", "true") and i not in ids]
if missing:
    print("recorded rejects without their line: %s" % missing); sys.exit()
print("ok %d %d" % (n, rejected))
PY
)
case "$verdict" in
  "ok 209 9") pass "--max-rejects: only the 4 batches before the crossing one are committed (209 documents, 9 rejected); the reject file holds all 11 rejects read" ;;
  *) fail "--max-rejects: $verdict" ;;
esac
[ "$(q "$db" "SELECT outcome FROM mongonorm.runs ORDER BY id DESC LIMIT 1")" = failed ] &&
  pass "--max-rejects: the run is recorded as failed" || fail "outcome $(q "$db" "SELECT outcome FROM mongonorm.runs")"
rep=$(/usr/bin/python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['collections']['people']; print(c['read'], c['rejected'])" "$work/conv-report.json" 2>&1)
[ "$rep" = "261 11" ] && pass "--max-rejects: the report says how far the run got" || fail "report: $rep"
run "$db" "$work/conv" "$work/conv.jsonl"
cutover_tables "$db" > "$work/conv.txt"
[ "$rc" = 1 ] && cmp -s "$work/ref.txt" "$work/conv.txt" &&
  pass "a run without the limit converges to the reference tables" ||
  fail "re-run: exit $rc, $(diff "$work/ref.txt" "$work/conv.txt" | head -3)"

# ---- 3. rejects the target already knows ----
run "$db" "$work/conv" "$work/conv.jsonl" --max-rejects 0
[ "$rc" = 1 ] && pass "--max-rejects 0 on a re-run: the 16 known rejects do not count (exit 1)" ||
  fail "known rejects: exit $rc $(first_err)"
run "$db" "$work/conv" "$work/conv.jsonl" --max-rejects 0 --count-known-rejects
want='mongonorm: error: too many rejected documents: 16 rejected in this run (of 400 read), more than the 0 --max-rejects allows; stopped in collection "people" before committing the batch that crossed the limit'
[ "$rc" = 10 ] && [ "$(first_err)" = "$want" ] &&
  pass "--count-known-rejects: the known rejects count" || fail "--count-known-rejects: exit $rc $(first_err)"
# one more document does not convert: it alone is new
/usr/bin/python3 - "$work/conv/people.json" <<'PY'
import json, sys
people = [json.loads(l) for l in open(sys.argv[1])]
people[301]["score"] = "xyz"
people[302]["score"] = "xyz"
with open(sys.argv[1], "w") as f:
    f.writelines(json.dumps(p) + "\n" for p in people)
PY
run "$db" "$work/conv" "$work/conv.jsonl" --max-rejects 1
want='mongonorm: error: too many rejected documents: 2 rejected in this run (of 400 read), more than the 1 --max-rejects allows (not counted: 16 rejected by an earlier run and still rejected); stopped in collection "people" before committing the batch that crossed the limit'
[ "$rc" = 10 ] && [ "$(first_err)" = "$want" ] &&
  pass "two new rejects cross --max-rejects 1; the 16 known ones are named, not counted" ||
  fail "new among known: exit $rc $(first_err)"
[ "$(q "$db" "SELECT count(*) FROM people")" = 384 ] &&
  pass "... and the batch with the two new rejects is not committed" || fail "people $(q "$db" "SELECT count(*) FROM people")"
run "$db" "$work/conv" "$work/conv.jsonl" --max-rejects 2
[ "$rc" = 1 ] && [ "$(q "$db" "SELECT count(*) FROM people")" = 382 ] &&
  pass "--max-rejects 2 lets them through" || fail "--max-rejects 2: exit $rc $(first_err)"

# ---- 4. documents PostgreSQL refuses, all in one batch at the end of the collection ----
# 70 refused by the CHECK (more than are settled one by one): they are retried when the
# collection ends and rejected there in one batch, which crosses --max-rejects 60
gen "$work/check" 400 check=5 checkn=70
db=$(newdb mn_guard_check)
run "$db" "$work/check" "$work/check.jsonl" --max-rejects 60
want='mongonorm: error: too many rejected documents: 70 rejected in this run (of 400 read), more than the 60 --max-rejects allows; stopped in collection "people" before committing the batch that crossed the limit'
[ "$rc" = 10 ] && [ "$(first_err)" = "$want" ] &&
  pass "70 documents refused by PostgreSQL cross --max-rejects 60: exit 10" || fail "refused: exit $rc $(first_err)"
[ "$(q "$db" "SELECT count(*) FROM mongonorm.documents WHERE rejected")" = 0 ] &&
  [ "$(q "$db" "SELECT count(*) FROM people")" = 330 ] &&
  pass "... the batch that rejects them is rolled back whole (none recorded), the 330 others stay" ||
  fail "refused: recorded $(q "$db" "SELECT count(*) FROM mongonorm.documents WHERE rejected"), people $(q "$db" "SELECT count(*) FROM people")"
[ "$(grep -c '"stage" : "load"' "$work/check.jsonl")" = 70 ] &&
  pass "... and the reject file lists the 70 refused documents" || fail "refused lines $(grep -c . "$work/check.jsonl")"
run "$db" "$work/check" "$work/check.jsonl" --max-rejects 70
[ "$rc" = 1 ] && [ "$(q "$db" "SELECT count(*) FROM mongonorm.documents WHERE rejected")" = 70 ] &&
  pass "--max-rejects 70: the 70 are rejected, exit 1" || fail "--max-rejects 70: exit $rc $(first_err)"
run "$db" "$work/check" "$work/check.jsonl" --max-rejects 0
[ "$rc" = 1 ] && pass "re-run: the 70 refused before are known rejects" || fail "refused known: exit $rc $(first_err)"

# ---- 5. the ratio ----
# 1000 people, every 10th does not convert: 10% > 5%, first checked at the first batch
# boundary with 100 documents read
gen "$work/ratio" 1000 bad=10
db=$(newdb mn_guard_ratio)
run "$db" "$work/ratio" "$work/ratio.jsonl" --batch-size 50 --max-reject-ratio 5%
want='mongonorm: error: too many rejected documents: 12 of the 112 read in this run (10.7%), more than the 5% --max-reject-ratio allows; stopped in collection "people" before committing the batch that crossed the limit'
[ "$rc" = 10 ] && [ "$(first_err)" = "$want" ] &&
  pass "--max-reject-ratio 5%: 10% rejected, stopped at 112 read (exit 10)" || fail "ratio: exit $rc $(first_err)"
[ "$(q "$db" "SELECT count(*) FROM people")" = 50 ] &&
  pass "... only the first batch (read before 100 documents) is committed" || fail "ratio people $(q "$db" "SELECT count(*) FROM people")"
run "$db" "$work/ratio" "$work/ratio.jsonl" --batch-size 50 --max-reject-ratio 0.11
[ "$rc" = 1 ] && pass "--max-reject-ratio 0.11: 10% passes" || fail "ratio 0.11: exit $rc $(first_err)"
# 30 people and 60 notes: 90 documents read in all, under the 100 the ratio needs
gen "$work/small" 30 bad=2
db=$(newdb mn_guard_small)
run "$db" "$work/small" "$work/small.jsonl" --max-reject-ratio 0.05
[ "$rc" = 1 ] && pass "fewer than 100 documents read in the run: the ratio does not apply (15 of 90 rejected, exit 1)" ||
  fail "small ratio: exit $rc $(first_err)"
# 50 people and 100 notes: the ratio is over the run, all collections together
gen "$work/small" 50 bad=2
db=$(newdb mn_guard_small)
run "$db" "$work/small" "$work/small.jsonl" --max-reject-ratio 0.05
want='mongonorm: error: too many rejected documents: 25 of the 150 read in this run (16.7%), more than the 5% --max-reject-ratio allows; stopped in collection "notes" before committing the batch that crossed the limit'
[ "$rc" = 10 ] && [ "$(first_err)" = "$want" ] && [ "$(q "$db" "SELECT count(*) FROM people")" = 25 ] &&
  [ "$(q "$db" "SELECT count(*) FROM notes")" = 0 ] &&
  pass "the ratio counts the whole run: 25 of 150 read, stopped in the second collection, before its batch" ||
  fail "run-wide ratio: exit $rc $(first_err)"

# ---- 6. a deferrable constraint refuses documents: found inside the batch transaction ----
gen "$work/defer" 60
db=$(newdb mn_guard_defer)
psql "$db" -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE FUNCTION no13() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.score IN (13, 27) THEN RAISE EXCEPTION 'unlucky score'; END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER no13 AFTER INSERT OR UPDATE ON people
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION no13();
SQL
run "$db" "$work/defer" "$work/defer.jsonl" --batch-size 20
[ "$rc" = 1 ] && [ "$(q "$db" "SELECT count(*) FROM people")" = 58 ] &&
  [ "$(grep -c 'unlucky score' "$work/defer.jsonl")" = 2 ] &&
  pass "a deferred constraint trigger: its 2 documents rejected, the 58 others loaded" ||
  fail "deferred: exit $rc, people $(q "$db" "SELECT count(*) FROM people") $(cat "$work/err")"
sed -i 's/"score": {"$numberInt": "5"}/"score": {"$numberInt": "13"}/' "$work/defer/people.json"
run "$db" "$work/defer" "$work/defer.jsonl" --batch-size 20 --max-rejects 0
[ "$rc" = 10 ] && [ "$(q "$db" "SELECT count(*) FROM people WHERE score = 5")" = 1 ] &&
  pass "merge mode: a document the deferred trigger now refuses crosses --max-rejects 0; its old row stays" ||
  fail "deferred merge: exit $rc $(first_err)"
run "$db" "$work/defer" "$work/defer.jsonl" --batch-size 20
[ "$rc" = 1 ] && [ "$(q "$db" "SELECT count(*) FROM people")" = 57 ] &&
  pass "merge mode without the limit: it is rejected and its row removed" || fail "deferred merge: exit $rc $(cat "$work/err")"

# ---- 7. a run killed with SIGKILL is shown as interrupted ----
wait_unlocked() { # until no session holds the run lock (at most 10 s)
  local i
  for i in $(seq 1 100); do
    [ "$(q "$MN_TEST_PG_DSN" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
wait_running() { # dsn: until a run is recorded as running (at most 10 s)
  local i
  for i in $(seq 1 200); do
    [ "$(q "$1" "SELECT count(*) FROM mongonorm.runs WHERE outcome = 'running'" 2>/dev/null)" = 1 ] && return 0
    sleep 0.05
  done
  return 1
}
newest() { # dsn -> the newest run's outcome and seconds as status --json shows them
  "$MN_BIN" status --pg "$1" --runs 1 --json |
    /usr/bin/python3 -c "import json,sys; r=json.load(sys.stdin)['runs'][0]; print(r['outcome'], 'seconds' in r, 'finished_at' in r)"
}
# 20,000 people, every 1000th rejected: a few seconds of batches of 100
gen "$work/big" 20000 bad=1000
ref=$(newdb mn_guard_bigref)
run "$ref" "$work/big" "$work/bigref.jsonl"
cutover_tables "$ref" > "$work/bigref.txt"
db=$(newdb mn_guard_kill)
"$MN_BIN" run --quiet --pg "$db" --source "$work/big" --mapping "$map" --rejects "$work/kill.jsonl" \
  --batch-size 100 >/dev/null 2>&1 &
pid=$!
if wait_running "$db"; then
  st=$(newest "$db")
  [ "$st" = "running True False" ] && pass "status while the run works: running" || fail "status while running: $st"
  sleep 0.3
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  wait_unlocked || true
  st=$(newest "$db")
  [ "$st" = "interrupted False False" ] &&
    [ "$(q "$db" "SELECT outcome FROM mongonorm.runs ORDER BY id DESC LIMIT 1")" = running ] &&
    pass "killed with SIGKILL: status shows interrupted (no duration), though the record still says running" ||
    fail "killed: status $st"
  "$MN_BIN" status --pg "$db" --runs 1 | grep -Eq '^[0-9]+ +.{22} +- interrupted +JSON folder ' &&
    pass "killed: the text of status says interrupted, duration -" ||
    fail "killed: status text $("$MN_BIN" status --pg "$db" --runs 1 | head -2)"
  # another session holding the run lock (an `init`, say) does not bring it back to life
  hold_lock mn_guard_other "$db"
  other=$lock_holder
  st=$(newest "$db")
  [ "$st" = "interrupted False False" ] &&
    pass "killed: still interrupted while another session holds the run lock" ||
    fail "killed, lock held by another session: status $st"
  release_lock mn_guard_other "$other"
  wait_unlocked || true
  run "$db" "$work/big" "$work/kill.jsonl"
  cutover_tables "$db" > "$work/kill.txt"
  [ "$rc" = 1 ] && cmp -s "$work/bigref.txt" "$work/kill.txt" &&
    [ "$(q "$db" "SELECT string_agg(outcome, ',' ORDER BY id) FROM mongonorm.runs")" = "interrupted,success" ] &&
    pass "the next run records the killed one as interrupted, and converges" ||
    fail "after the kill: exit $rc, runs $(q "$db" "SELECT string_agg(outcome, ',' ORDER BY id) FROM mongonorm.runs")"
else
  fail "the run to kill was never recorded as running"
  kill -9 "$pid" 2>/dev/null || true
fi

# status reads a schema no run of this version extended yet (no backend_pid column)
old=$(fresh_db mn_guard_oldschema)
psql "$old" -qX -v ON_ERROR_STOP=1 -c "CREATE SCHEMA mongonorm" -c "CREATE TABLE mongonorm.runs (
  id bigserial PRIMARY KEY, started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz,
  source text NOT NULL, mapping text NOT NULL, outcome text NOT NULL DEFAULT 'running', report jsonb)" \
  -c "INSERT INTO mongonorm.runs (source, mapping) VALUES ('dump folder d', 'm.yaml')" >/dev/null
st=$(newest "$old" 2>&1)
[ "$st" = "interrupted False False" ] &&
  pass "status on a schema of an earlier version: a run left running is interrupted" ||
  fail "old schema: status $st"

# ---- 8. a run cut off by a PostgreSQL restart is shown as interrupted ----
# Only a server scripts/pg.sh made can be restarted here: its cluster is in the socket
# folder the DSN names (pg.sh finds it through a pg.path file).
pghost=$(sed -n 's/.*host=\([^ ]*\).*/\1/p' <<<"$MN_TEST_PG_DSN")
pgport=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$MN_TEST_PG_DSN")
if [ -n "$pghost" ] && [ -f "$pghost/data/PG_VERSION" ]; then
  mkdir -p "$work/pgsh" && echo "$pghost" > "$work/pgsh/pg.path"
  pgsh() { MN_PG_PORT=${pgport:-54329} bash "$MN_SOURCE_DIR/scripts/pg.sh" "$1" "$work/pgsh" >/dev/null; }
  db=$(newdb mn_guard_restart)
  "$MN_BIN" run --quiet --pg "$db" --source "$work/big" --mapping "$map" \
    --rejects "$work/restart.jsonl" --batch-size 100 >/dev/null 2>"$work/restart.err" &
  pid=$!
  if wait_running "$db"; then
    sleep 0.3
    pgsh stop
    set +e
    wait "$pid"
    rrc=$?
    set -e
    pgsh start
    st=$(newest "$db")
    [ "$rrc" = 5 ] && [ "$st" = "interrupted False False" ] &&
      pass "PostgreSQL restarted under a run: it exits 5, status shows it interrupted" ||
      fail "restart: exit $rrc ($(head -1 "$work/restart.err")), status $st"
    run "$db" "$work/big" "$work/restart.jsonl"
    cutover_tables "$db" > "$work/restart.txt"
    [ "$rc" = 1 ] && cmp -s "$work/bigref.txt" "$work/restart.txt" &&
      [ "$(q "$db" "SELECT string_agg(outcome, ',' ORDER BY id) FROM mongonorm.runs")" = "interrupted,success" ] &&
      pass "after the restart the next run records it as interrupted, and converges" ||
      fail "after the restart: exit $rc"
  else
    fail "the run to cut off was never recorded as running"
    kill -9 "$pid" 2>/dev/null || true
  fi
elif [ "${CI:-}" = true ]; then
  fail "the PostgreSQL restart case needs a server scripts/pg.sh made (MN_TEST_PG_DSN host=$pghost)"
else
  echo "skip - the PostgreSQL restart case: the server at MN_TEST_PG_DSN is not one scripts/pg.sh made"
fi

# ---- 9. a run refused by the lock touches neither the report nor the reject file ----
rsum() { echo "$(stat -c '%i %s' "$1") $(md5sum < "$1" | cut -c1-32)"; }
db=$(newdb mn_guard_lock)
printf '{"an earlier run": true}\n' > "$work/lock-report.json"
printf '{"an earlier run": "reject"}\n' > "$work/lock.jsonl"
chmod 600 "$work/lock-report.json" "$work/lock.jsonl"
# (a) a session holds the lock
holder_app=mn_guard_lock_holder
hold_lock "$holder_app" "$db"
holder=$lock_holder
before="$(rsum "$work/lock-report.json") $(rsum "$work/lock.jsonl")"
run "$db" "$work/conv" "$work/lock.jsonl" --report "$work/lock-report.json"
after="$(rsum "$work/lock-report.json") $(rsum "$work/lock.jsonl")"
[ "$rc" = 7 ] && [ "$(first_err)" = "mongonorm: error: another mongonorm run is using this target database" ] &&
  [ "$before" = "$after" ] && [ -z "$(ls "$work" | grep partial || true)" ] &&
  pass "refused by a session holding the lock (exit 7): report and reject file untouched, nothing left behind" ||
  fail "locked: exit $rc $(first_err); before [$before] after [$after]; $(ls "$work" | grep partial || true)"
release_lock "$holder_app" "$holder"
wait_unlocked || true
# (b) two runs on the same paths: the second is refused while the first works
"$MN_BIN" run --quiet --pg "$db" --source "$work/big" --mapping "$map" --rejects "$work/lock.jsonl" \
  --report "$work/lock-report.json" --batch-size 100 >/dev/null 2>"$work/first.err" &
pid=$!
if wait_running "$db"; then
  sleep 0.3
  # the first run's reject file (its inode, and how much it holds so far)
  ino=$(stat -c %i "$work/lock.jsonl")
  size=$(stat -c %s "$work/lock.jsonl")
  run "$db" "$work/big" "$work/lock.jsonl" --report "$work/lock-report.json"
  running=$(q "$db" "SELECT count(*) FROM mongonorm.runs WHERE outcome = 'running'")
  report_now=$(cat "$work/lock-report.json")
  ino2=$(stat -c %i "$work/lock.jsonl")
  size2=$(stat -c %s "$work/lock.jsonl")
  set +e
  wait "$pid"
  frc=$?
  set -e
  [ "$rc" = 7 ] && [ "$running" = 1 ] && [ "$report_now" = '{"an earlier run": true}' ] &&
    [ "$ino" = "$ino2" ] && [ "$size2" -ge "$size" ] &&
    pass "a second run on the same paths while the first works: exit 7; the report path still holds the earlier report, the first run's reject file is neither replaced nor truncated" ||
    fail "concurrent: exit $rc, running $running, report [$report_now], rejects inode $ino/$ino2 size $size/$size2"
  verdict=$(/usr/bin/python3 - "$work/lock-report.json" "$work/lock.jsonl" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["collections"]["people"]
lines = [json.loads(l) for l in open(sys.argv[2])]
print(r["read"], r["rejected"], len(lines))
PY
)
  [ "$frc" = 1 ] && [ "$verdict" = "20000 20 20" ] &&
    [ -z "$(ls "$work" | grep partial || true)" ] &&
    pass "the first run then puts its whole report and reject file in place" ||
    fail "first run: exit $frc $(head -1 "$work/first.err"), report/rejects $verdict"
else
  fail "the first run was never recorded as running"
  kill -9 "$pid" 2>/dev/null || true
fi

# ---- a records table that lost its primary key and holds a document twice ----
# (a restore without constraints, a hand edit): the run stops with exit 5 and says so,
# before it writes anything, rather than keep one of the two records at random
gen "$work/dup" 60
db=$(newdb mn_guard_dup)
run "$db" "$work/dup" "$work/dup1.jsonl"
before=$(q "$db" "SELECT count(*) FROM people")
q "$db" "ALTER TABLE mongonorm.documents DROP CONSTRAINT documents_pkey" >/dev/null
q "$db" "INSERT INTO mongonorm.documents SELECT * FROM mongonorm.documents WHERE collection = 'people' LIMIT 1" >/dev/null
run "$db" "$work/dup" "$work/dup2.jsonl"
after=$(q "$db" "SELECT count(*) FROM people")
[ "$rc" = 5 ] && grep -q 'a document of collection "people" is recorded twice' "$work/err" &&
  [ "$before" -gt 0 ] && [ "$after" = "$before" ] &&
  pass "a document recorded twice in mongonorm.documents: exit 5, named, nothing written" ||
  fail "duplicate record: exit $rc, $(first_err), people $before -> $after"

finish
