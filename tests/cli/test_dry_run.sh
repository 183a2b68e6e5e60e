#!/usr/bin/env bash
# `run --dry-run` (issue 11): the whole run in one transaction, rolled back.  On a fresh
# target and after a first load: the target (tables, mongonorm's own schema, or its
# absence) is as it was, the statistics and exit code are the real run's, the reject file
# only with --rejects (then the real run's, byte for byte), the report says dry_run; the
# options it cannot be used with are refused.  The randomized check over edit scripts is
# in tests/metamorphic (a dry run before every incremental run).
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir
isolate_env
passes=0 failures=0
src="$MEDICHAT/dump"

# strip FILE: the report without what differs between two runs of the same work
strip() {
  /usr/bin/python3 -c '
import json, sys
def s(x):
    if isinstance(x, dict):
        return {k: s(v) for k, v in x.items() if k not in ("seconds", "dry_run", "batches_overlapped")}
    return [s(v) for v in x] if isinstance(x, list) else x
print(json.dumps(s(json.load(open(sys.argv[1]))), sort_keys=True, indent=1))' "$1"
}

# snapshot DSN: every table of the target and of mongonorm's schema (or that it is absent)
snapshot() {
  dump_tables "$1"
  local t
  for t in $(q "$1" "SELECT tablename FROM pg_tables WHERE schemaname = 'mongonorm' ORDER BY 1"); do
    echo "== mongonorm.$t"
    [ "$t" = runs ] && { q "$1" "SELECT count(*) FROM mongonorm.runs"; continue; }
    q "$1" "COPY (SELECT * FROM mongonorm.$t ORDER BY 1) TO STDOUT"
  done
}

db=$(fresh_db mn_dry)
"$MN_BIN" init --pg "$db" --sql-dir "$MN_SOURCE_DIR/sql" >/dev/null
q "$db" "DROP SCHEMA IF EXISTS mongonorm CASCADE" >/dev/null 2>&1 || true
before=$(snapshot "$db")
cd "$work"
try "$MN_BIN" run --dry-run --pg "$db" --source "$src" --mapping "$MEDICHAT_MAP" \
  --report "$work/dry1.json" --report-html "$work/dry1.html" >"$out" 2>"$err"
dry_rc=$rc
expect_same "a dry run of a first load leaves the target as it was (no mongonorm schema)" \
  "$before" "$(snapshot "$db")"
[ ! -e "$work/mongonorm-rejects.jsonl" ] && pass "no reject file without --rejects" ||
  fail "a dry run wrote the default reject file"
expect_same "its note on the rejects" \
  'mongonorm: 4 document(s) would be rejected; give --rejects FILE to see them' "$(cat "$err")"
grep -q '^dry run: nothing was written, the target is as it was$' "$out" &&
  pass "the statistics say it was a dry run" || fail "no dry-run line in the statistics"
[ "$(field "$work/dry1.json" "r.get('dry_run')")" = True ] && pass "the report says dry_run" ||
  fail "the report lacks dry_run"
grep -q 'Dry run: nothing was written' "$work/dry1.html" && pass "the HTML page says so" ||
  fail "the HTML page does not say it was a dry run"

try "$MN_BIN" run --pg "$db" --source "$src" --mapping "$MEDICHAT_MAP" --quiet \
  --rejects "$work/real1.rej" --report "$work/real1.json" 2>/dev/null
expect_same "exit code of the dry run = the run's" "$rc" "$dry_rc"
expect_same "statistics of the dry run = the run's (first load)" "$(strip "$work/real1.json")" \
  "$(strip "$work/dry1.json")"

# after the first load: the edits of a cutover day
/usr/bin/python3 "$MN_SOURCE_DIR/tests/cli/edit_source.py" "$MEDICHAT/json" "$work/edited"
before=$(snapshot "$db")
try "$MN_BIN" run --dry-run --pg "$db" --source "$work/edited" --mapping "$MEDICHAT_MAP" \
  --quiet --rejects "$work/dry2.rej" --report "$work/dry2.json" 2>"$err"
dry_rc=$rc
expect_same "a dry run of an incremental run leaves the target (and its records) as it was" \
  "$before" "$(snapshot "$db")"
try "$MN_BIN" run --pg "$db" --source "$work/edited" --mapping "$MEDICHAT_MAP" --quiet \
  --rejects "$work/real2.rej" --report "$work/real2.json" 2>/dev/null
expect_same "exit code of the dry run = the run's (incremental)" "$rc" "$dry_rc"
expect_same "statistics of the dry run = the run's (incremental)" "$(strip "$work/real2.json")" \
  "$(strip "$work/dry2.json")"
expect_same_files "with --rejects, the reject file of the dry run = the run's" \
  "$work/real2.rej" "$work/dry2.rej"
[ "$(field "$work/real2.json" "sum(t['inserted'] + t['updated'] + t['deleted'] for t in r['tables'].values())")" -gt 0 ] &&
  pass "the incremental run wrote rows (the comparison means something)" ||
  fail "the edited source changed nothing"

for opt in "--follow" "--jobs 2" "--join x"; do
  # shellcheck disable=SC2086
  try "$MN_BIN" run --dry-run $opt --pg "$db" --source "$src" --mapping "$MEDICHAT_MAP" 2>"$err"
  expect_same "--dry-run $opt: exit 2" 2 "$rc"
  want=${opt% *}
  [ "$opt" = "--jobs 2" ] && want="--jobs above 1"
  expect_same "--dry-run $opt: the message" \
    "mongonorm: error: --dry-run cannot be used with $want" "$(head -1 "$err")"
done
finish
