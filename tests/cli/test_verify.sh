#!/usr/bin/env bash
# mongonorm verify (issue 9): after a clean run source and target agree (exit 0) for a
# dump, relaxed and canonical Extended JSON, the live wire server when it runs, MediChat
# generated data with rejects, and a generic model's cutover edits (a CHECK the mapping
# does not know, a duplicate _id, a sub-document _id two documents carry) and random edit
# scripts, fresh and incremental.  Each difference is pinpointed (collection, _id, table,
# row id, columns) with exit 9: a column edited by hand, a child row deleted, an extra
# child row, a document deleted from the source, a document changed in the source
# without a run, a mongonorm.documents record removed; after a run following each source
# edit, verify exits 0 again.  No value of an edited row appears in the output or the
# report; verify writes nothing (its transaction is READ ONLY; tables byte-identical
# before and after); it works when transactions are read-only by default.  Exit codes:
# usage 2, no mongonorm schema 5, missing collection 4, a run holding the target 7.
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir
fx="$MEDICHAT"
map="$MEDICHAT_MAP"
marker="MN-PHI-MARKER-7f3a9c"

# verify DSN SOURCE [args] -> $rc; stdout in $work/out, stderr in $work/err
verify() {
  local dsn=$1 src=$2; shift 2
  try "$MN_BIN" verify --pg "$dsn" --source "$src" --mapping "${vmap:-$map}" "$@" \
    >"$work/out" 2>"$work/err"
}
run() { # dsn source [args] -> $run_rc
  local dsn=$1 src=$2; shift 2
  set +e
  "$MN_BIN" run --quiet --pg "$dsn" --source "$src" --mapping "${vmap:-$map}" \
    --rejects "$work/rejects.jsonl" "$@" 2>>"$work/run.err"
  run_rc=$?
  set -e
}
newdb() { init_db "$1" --sql-dir "${2:-$MN_SOURCE_DIR/sql}"; } # name [sql dir] -> dsn
expect() { # description code: the last verify's exit code
  if [ "$rc" = "$2" ]; then pass "$1 (exit $rc)"; else fail "$1: exit $rc, expected $2: $(head -c 600 "$work/err"; tail -5 "$work/out")"; fi
}
has_line() { # description fixed-text: a line of the last verify's stdout contains it
  if grep -qF -- "$2" "$work/out"; then pass "$1"; else fail "$1: no line with '$2' in: $(grep -A8 differences "$work/out" | head -12)"; fi
}
no_marker() { # description: the marker value appears in no output of the last verify
  if grep -qF "$marker" "$work/out" "$work/err" ${1:+"$1"}; then
    fail "a value of the edited row appears in verify's output or report"
  else
    pass "no value of the edited row in the output$([ -n "${1:-}" ] && echo " nor the report")"
  fi
}
oid_of() { # uuid -> the ObjectId's 24 hex digits
  echo "$1" | tr -d - | cut -c1-24
}
report_has() { # report python-condition-over-d (each difference) -> pass/fail
  if /usr/bin/python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if any($2 for d in r['differences']) else 1)" "$3"; then pass "$1"; else fail "$1: not in the report"; fi
}

# ---- 1. a clean run agrees, whatever the kind of source ----
for kind in dump json json-canonical; do
  db=$(newdb "mn_ver_$kind")
  run "$db" "$fx/$kind"
  verify "$db" "$fx/$kind" --report "$work/$kind.json"
  expect "after a clean run from $kind, verify agrees" 0
  has_line "$kind: the summary says so" "source and target agree"
done
if [ -n "${MN_TEST_MONGODB_URI:-}" ]; then
  db=$(newdb mn_ver_live)
  run "$db" "$MN_TEST_MONGODB_URI"
  verify "$db" "$MN_TEST_MONGODB_URI"
  expect "after a clean run from the live wire server, verify agrees" 0
else
  echo "# live source not tested: MN_TEST_MONGODB_URI not set"
fi
# The accounting adds up, and matches the run's own counts.
/usr/bin/python3 - "$work/dump.json" > "$work/acct" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
bad = [n for n, c in r["collections"].items()
       if c["read"] != c["loaded"] + c["rejected"] + c["rejected_by_target"] + c["duplicate_ids"] + c["unreadable"]
       or c["recorded"] != c["loaded"] + c["rejected"] + c["rejected_by_target"]]
print("ok" if not bad and r["agrees"] and r["differences"] == [] else "bad %s" % bad)
EOF
[ "$(cat "$work/acct")" = ok ] && pass "report: read = loaded + rejected + by target + duplicates + unreadable" ||
  fail "report accounting: $(cat "$work/acct")"

# ---- 2. generated data with rejects (and a run's counts to compare with) ----
"$MN_BIN" generate --quiet --model "$fx/generator.yaml" --scale 300 --seed 11 --out "$work/gen"
gen=$(newdb mn_ver_gen)
run "$gen" "$work/gen" --report "$work/gen-run.json"
verify "$gen" "$work/gen" --report "$work/gen.json"
expect "generated data (run exit $run_rc): verify agrees" 0
/usr/bin/python3 - "$work/gen-run.json" "$work/gen.json" > "$work/acct" <<'EOF'
import json, sys
run, ver = (json.load(open(p)) for p in sys.argv[1:3])
out = []
for n, c in run["collections"].items():
    v = ver["collections"][n]
    if (c["loaded"], c["rejected"]) != (v["loaded"], v["rejected"] + v["rejected_by_target"] + v["duplicate_ids"] + v["unreadable"]):
        out.append("%s run %s/%s verify %s" % (n, c["loaded"], c["rejected"], v))
rej = sum(c["rejected"] for c in run["collections"].values())
print("ok %d" % rej if not out and rej > 0 else "bad %s (rejected %d)" % (out, rej))
EOF
case $(cat "$work/acct") in
  ok*) pass "generated data: verify's loaded/rejected are the run's ($(cut -d' ' -f2 "$work/acct") rejected)" ;;
  *) fail "generated data: $(cat "$work/acct")" ;;
esac

# ---- 3. differences in the target, pinpointed ----
src="$work/src"
cp -r "$fx/json-canonical" "$src"
tgt=$(newdb mn_ver_tgt)
run "$tgt" "$src"

# a column edited by hand
row=$(q "$tgt" "SELECT id FROM users WHERE phone IS NOT NULL ORDER BY id LIMIT 1")
q "$tgt" "UPDATE users SET phone = '$marker' WHERE id = '$row'"
verify "$tgt" "$src" --report "$work/edit.json"
expect "a column edited in the target: differ" 9
has_line "the edit is pinpointed: _id, table, row, column" \
  "users _id { \"\$oid\" : \"$(oid_of "$row")\" } table users row $row: columns differ: phone"
report_has "the report names it" \
  "d['kind'] == 'different_row' and d['_id'] == {'\$oid': '$(oid_of "$row")'} and d['table'] == 'users' and d['row_id'] == '$row' and 'phone' in d['columns']" \
  "$work/edit.json"
no_marker "$work/edit.json"
if grep -q "1 difference" "$work/err" || grep -q "source and target differ" "$work/err"; then pass "stderr says they differ"; else fail "stderr: $(cat "$work/err")"; fi
verify "$tgt" "$src" --quiet --max-differences 0
if [ "$rc" = 9 ] && [ ! -s "$work/out" ]; then pass "--quiet prints nothing on stdout, still exit 9"; else fail "--quiet: exit $rc, $(head -3 "$work/out")"; fi
# a run does not repair it (the document is unchanged); forgetting its record does
run "$tgt" "$src"
verify "$tgt" "$src"
expect "a run leaves a hand edit of an unchanged document in place" 9
q "$tgt" "DELETE FROM mongonorm.documents WHERE doc_id = '$row'"
verify "$tgt" "$src"
expect "a removed mongonorm.documents record: differ" 9
has_line "the removed record is pinpointed" \
  "users _id { \"\$oid\" : \"$(oid_of "$row")\" }: not recorded in mongonorm.documents"
run "$tgt" "$src"
verify "$tgt" "$src"
expect "after a run, the document is recorded and its row repaired: agree" 0

# a child row deleted
read -r arow apat < <(q "$tgt" "SELECT id, patient_id FROM allergies ORDER BY id LIMIT 1" | tr '|' ' ')
q "$tgt" "DELETE FROM allergies WHERE id = '$arow'"
verify "$tgt" "$src" --report "$work/del.json"
expect "a child row deleted in the target: differ" 9
has_line "the deleted row is pinpointed" \
  "users _id { \"\$oid\" : \"$(oid_of "$apat")\" } table allergies row $arow: row missing from the target"
q "$tgt" "DELETE FROM mongonorm.documents WHERE doc_id = '$apat'"
run "$tgt" "$src"
verify "$tgt" "$src"
expect "repaired by a run once its record is gone: agree" 0

# an extra child row
conv=$(q "$tgt" "SELECT id FROM conversations ORDER BY id LIMIT 1")
extra=$(q "$tgt" "INSERT INTO symptoms (id, conversation_id, ordinal, symptom) VALUES (gen_random_uuid(), '$conv', 99, '$marker') RETURNING id" | head -1)
verify "$tgt" "$src" --report "$work/extra.json"
expect "an extra child row in the target: differ" 9
has_line "the extra row is pinpointed" \
  "conversations _id { \"\$oid\" : \"$(oid_of "$conv")\" } table symptoms row $extra: row in the target that the source does not give"
no_marker "$work/extra.json"
q "$tgt" "DELETE FROM symptoms WHERE id = '$extra'"
verify "$tgt" "$src"
expect "extra row removed: agree" 0

# read-only: a verification that finds differences changes nothing of the target's
# tables nor of mongonorm.*
snapshot() {
  { dump_tables "$tgt"
    q "$tgt" "SELECT md5(string_agg(d::text, '' ORDER BY collection, doc_id)) FROM mongonorm.documents d"
    q "$tgt" "SELECT md5(string_agg(r::text, '' ORDER BY id)) FROM mongonorm.runs r"
    q "$tgt" "SELECT md5(string_agg(c::text, '' ORDER BY collection)) FROM mongonorm.collections c"
    q "$tgt" "SELECT count(*) FROM mongonorm.deferred_refs"; } | md5sum
}
q "$tgt" "UPDATE users SET first_name = '$marker' WHERE id = '$row'"
before=$(snapshot)
verify "$tgt" "$src"
expect "another hand edit: differ" 9
[ "$before" = "$(snapshot)" ] && pass "verify leaves every table and mongonorm.* as they were" ||
  fail "verify changed the target"
q "$tgt" "DELETE FROM mongonorm.documents WHERE doc_id = '$row'"
run "$tgt" "$src"
PGOPTIONS="-c default_transaction_read_only=on" verify "$tgt" "$src"
expect "with read-only transactions by default, verify still works" 0

# ---- 4. differences in the source, pinpointed; a run brings agreement back ----
edit() { # python statements over `docs` (the documents of collection $1)
  /usr/bin/python3 - "$src/$1.json" "$2" <<'EOF'
import json, sys
path, code = sys.argv[1], sys.argv[2]
docs = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
exec(code)
with open(path, "w", encoding="utf-8") as f:
    f.write("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
EOF
}
# a document deleted from the source
gone=$(/usr/bin/python3 -c "
import json
docs = [json.loads(l) for l in open('$src/conversations.json')]
print(next(d['_id']['\$oid'] for d in docs if len(d.get('messages', [])) > 2))")
edit conversations "docs[:] = [d for d in docs if d['_id'] != {'\$oid': '$gone'}]"
verify "$tgt" "$src" --max-differences 1000 --report "$work/gone.json"
expect "a document deleted from the source: differ" 9
has_line "the deleted document is pinpointed" \
  "conversations _id { \"\$oid\" : \"$gone\" }: deleted from the source, still in the target"
has_line "its rows are extra, with its _id" "conversations _id { \"\$oid\" : \"$gone\" } table messages row"
run "$tgt" "$src"
verify "$tgt" "$src"
expect "after a run with the deletion: agree" 0

# a document changed in the source without a run
changed=$(/usr/bin/python3 -c "
import json
docs = [json.loads(l) for l in open('$src/conversations.json')]
print(next(d['_id']['\$oid'] for d in docs if d.get('messages') and isinstance(d['messages'][0], dict) and 'content' in d['messages'][0]))")
edit conversations "
for d in docs:
    if d['_id'] == {'\$oid': '$changed'}:
        d['messages'][0]['content'] = '$marker'"
verify "$tgt" "$src" --report "$work/changed.json"
expect "a document changed in the source: differ" 9
has_line "the change is pinpointed" \
  "conversations _id { \"\$oid\" : \"$changed\" }: changed in the source since the last run"
has_line "and the column it changes" "table messages row"
has_line "by name" "columns differ: content"
no_marker "$work/changed.json"
run "$tgt" "$src"
verify "$tgt" "$src"
expect "after a run with the change: agree" 0

# the cutover day's edits (edit_source.py): many kinds at once, then a run
/usr/bin/python3 "$MN_SOURCE_DIR/tests/cli/edit_source.py" "$src" "$work/src2"
for f in "$src"/*.json; do [ -f "$work/src2/$(basename "$f")" ] || cp "$f" "$work/src2/"; done
verify "$tgt" "$work/src2" --report "$work/day.json"
expect "a cutover day's edits before the run: differ" 9
/usr/bin/python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
kinds = {d['kind'] for d in r['differences']} | {k for c in r['collections'].values() for k in ('not_recorded', 'deleted_from_source', 'changed_in_source') if c[k]}
need = {'not_recorded', 'deleted_from_source', 'changed_in_source'}
print('ok' if need <= kinds else 'missing %s' % (need - kinds))" "$work/day.json" > "$work/kinds"
[ "$(cat "$work/kinds")" = ok ] && pass "new, deleted and changed documents all reported" || fail "kinds: $(cat "$work/kinds")"
run "$tgt" "$work/src2"
verify "$tgt" "$work/src2"
expect "after the cutover day's run: agree" 0

# ---- 5. a generic model: target refusals, duplicate _id, shared sub-document _id ----
here="$MN_SOURCE_DIR/tests/cutover"
vmap="$here/mapping.yaml"
/usr/bin/python3 "$here/gen.py" "$work/c1" 30
for e in bad_score dup_id move_device swap_emails share_device; do
  if [ "$e" = share_device ]; then
    /usr/bin/python3 "$here/gen.py" "$work/c_$e" 30
    /usr/bin/python3 - "$work/c_$e/people.json" <<'EOF'
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
docs[20]["devices"].append(dict(docs[4]["devices"][0]))  # a later document carries an earlier one's sub-document
open(sys.argv[1], "w").write("".join(json.dumps(d) + "\n" for d in docs))
EOF
  else
    /usr/bin/python3 "$here/gen.py" "$work/c_$e" 30 "$e"
  fi
  fresh=$(newdb mn_ver_cf "$here/sql")
  run "$fresh" "$work/c_$e"
  verify "$fresh" "$work/c_$e" --report "$work/c_$e.json"
  expect "cutover $e, fresh load (run exit $run_rc): agree" 0
  inc=$(newdb mn_ver_ci "$here/sql")
  run "$inc" "$work/c1"
  run "$inc" "$work/c_$e" --batch-size 2
  verify "$inc" "$work/c_$e"
  expect "cutover $e, incremental run (exit $run_rc): agree" 0
done
n=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['collections']['people']['rejected_by_target'])" "$work/c_bad_score.json")
[ "$n" = 1 ] && pass "a CHECK the mapping does not know: 1 document rejected by the target" || fail "bad_score: rejected_by_target $n"
n=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['collections']['people']['duplicate_ids'])" "$work/c_dup_id.json")
[ "$n" = 1 ] && pass "a duplicate _id counted" || fail "dup_id: duplicate_ids $n"
n=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['collections']['people']['rejected_by_target'])" "$work/c_share_device.json")
[ "$n" = 1 ] && pass "a shared sub-document _id: the later document rejected by the target" || fail "share_device: rejected_by_target $n"
# a target that loaded both documents of a shared row id: the later one is pinpointed
q "$fresh" "UPDATE mongonorm.documents SET rejected = false, reason = NULL, reject_path = NULL WHERE rejected"
verify "$fresh" "$work/c_share_device"
expect "a refused document recorded as loaded: differ" 9
has_line "the row id two loaded documents share is pinpointed" \
  "row id also produced by an earlier document, yet both are recorded as loaded"

# random edit scripts (tests/metamorphic), generic model
vmap="$MN_SOURCE_DIR/tests/metamorphic/mapping.yaml"
for seed in 3 8 21; do
  /usr/bin/python3 "$MN_SOURCE_DIR/tests/metamorphic/gen_edit.py" generic "$seed" "$work/m$seed" \
    --mn-bin "$MN_BIN" --source-dir "$MN_SOURCE_DIR" >/dev/null
  mdb=$(newdb mn_ver_meta "$MN_SOURCE_DIR/tests/metamorphic/sql")
  run "$mdb" "$work/m$seed/s1"
  verify "$mdb" "$work/m$seed/s1"
  expect "random source $seed (S1, run exit $run_rc): agree" 0
  verify "$mdb" "$work/m$seed/s2"
  expect "random source $seed: S2 against S1's target: differ" 9
  run "$mdb" "$work/m$seed/s2"
  verify "$mdb" "$work/m$seed/s2"
  expect "random source $seed: after the S2 run (exit $run_rc): agree" 0
done
unset vmap

# ---- 6. exit codes ----
set +e
"$MN_BIN" verify --source "$fx/dump" >/dev/null 2>"$work/err"; rc=$?
set -e
expect "no --mapping: usage" 2
verify "$tgt" "$work/src2" --max-differences -1
expect "--max-differences -1: usage" 2
grep -q 'mongonorm: error: --max-differences takes a number from 0 to 1000000, not "-1"' "$work/err" &&
  pass "the usage message names the value" || fail "usage message: $(head -1 "$work/err")"
"$MN_BIN" verify --help >"$work/out"; grep -q "^usage: mongonorm verify" "$work/out" && pass "--help" || fail "--help"
empty=$(fresh_db mn_ver_empty)
verify "$empty" "$fx/dump"
expect "a target never initialised: PostgreSQL" 5
blank=$(newdb mn_ver_blank)
q "$blank" "DROP SCHEMA mongonorm CASCADE"
verify "$blank" "$fx/dump"
expect "a target without mongonorm's schema: PostgreSQL" 5
grep -q "mongonorm.documents" "$work/err" && pass "the message names mongonorm.documents" || fail "message: $(cat "$work/err")"
mkdir -p "$work/partial" && cp "$fx/json-canonical/users.json" "$work/partial/"
verify "$tgt" "$work/partial"
expect "a mapped collection missing from the source" 4
psql "$tgt" -qXAt -c "SELECT pg_advisory_lock(7236481590123), pg_sleep(20)" >/dev/null 2>&1 &
holder=$!
for i in $(seq 1 100); do
  [ "$(q "$tgt" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" != 0 ] && break
  sleep 0.1
done
verify "$tgt" "$work/src2"
expect "a run holding the target" 7
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

finish
