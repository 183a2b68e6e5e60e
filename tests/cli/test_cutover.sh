#!/usr/bin/env bash
# Cutover edits that once blocked every later run or lost data (issue 7), each checked
# with its exact exit code and message: unique values swapped and rotated between
# documents, elements dropped and reordered under a per-document unique key, the same _id
# twice, a CHECK the mapping does not know, a missing collection, a truncated source, and
# a killed run resumed without converting again what it had committed.
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir
here="$CUTOVER"
map="$here/mapping.yaml"
gen() { /usr/bin/python3 "$here/gen.py" "$@"; }

run() { # dsn source report [args] -> $rc, stderr in $work/err
  local dsn=$1 src=$2 report=$3; shift 3
  try "$MN_BIN" run --quiet --pg "$dsn" --source "$src" --mapping "$map" \
    --rejects "$work/rejects.jsonl" --report "$report" "$@" 2>"$work/err"
}
newdb() { init_db "$1" --mapping "$map"; } # name -> dsn of a fresh, initialised database
accounted() { # report -> "ok" when read = loaded + rejected for every collection
  field "$1" "'ok' if all(c['read'] == c['loaded'] + c['rejected'] for c in r['collections'].values()) else r['collections']"
}

gen "$work/s1" 30
# Each edit: a full load of S1, then S2 incrementally, against a fresh load of S2.
for edit in swap_emails rotate_emails drop_first_tag reverse_tags dup_id bad_score move_device; do
  gen "$work/$edit" 30 "$edit"
  fresh=$(newdb mn_cut_fresh)
  run "$fresh" "$work/$edit" "$work/fresh.json"
  frc=$rc
  inc=$(newdb mn_cut_inc)
  run "$inc" "$work/s1" "$work/s1.json"
  run "$inc" "$work/$edit" "$work/inc.json" --batch-size 2
  irc=$rc
  if [ "$irc" = "$frc" ] && [ "$irc" -le 1 ] && cmp -s <(cutover_tables "$fresh") <(cutover_tables "$inc"); then
    pass "$edit: incremental run (exit $irc) equals a fresh load"
  else
    fail "$edit: incremental exit $irc, fresh exit $frc: $(head -c 300 "$work/err"; diff <(cutover_tables "$fresh") <(cutover_tables "$inc") | head -4)"
  fi
  [ "$(accounted "$work/inc.json")" = ok ] && pass "$edit: read = loaded + rejected" ||
    fail "$edit: accounting $(accounted "$work/inc.json")"
done

# The same _id twice: the first occurrence is kept, the second rejected, on every run.
dup=$(newdb mn_cut_dup)
for i in 1 2 3; do
  run "$dup" "$work/dup_id" "$work/dup.json" --batch-size 1
  name=$(psql "$dup" -qXAt -c "SELECT name FROM people WHERE email = 'p6@example.test'")
  [ "$name" = "person 6" ] && [ "$(field "$work/dup.json" "r['collections']['people']['rejected']")" = 1 ] ||
    { fail "dup_id: run $i keeps \"$name\""; break; }
done
[ "$i" = 3 ] && pass "dup_id: every run keeps the first occurrence and rejects the second"
reason=$(grep -o '"reason" : "duplicate _id[^"]*"' "$work/rejects.jsonl" | head -1 || true)
[ "$reason" = '"reason" : "duplicate _id: an earlier document of the collection has the same _id (the first is kept)"' ] &&
  pass "dup_id: the second occurrence is rejected as a duplicate _id" || fail "dup_id: reason $reason"

# A CHECK the mapping does not know: only that document is rejected, naming the constraint.
bad=$(newdb mn_cut_bad)
run "$bad" "$work/bad_score" "$work/bad.json"
line=$(grep -c '' "$work/rejects.jsonl" || true)
if [ "$rc" = 1 ] && [ "$line" = 1 ] && grep -q '"reason" : "PostgreSQL refused the rows of table \\"people\\": new row for relation \\"people\\" violates check constraint \\"people_score_check\\" (constraint \\"people_score_check\\")"' "$work/rejects.jsonl" &&
   [ "$(psql "$bad" -qXAt -c 'SELECT count(*) FROM people')" = 29 ]; then
  pass "unknown CHECK: one document rejected with the constraint's name, 29 loaded, exit 1"
else
  fail "unknown CHECK: exit $rc, $line reject line(s): $(head -c 400 "$work/rejects.jsonl")"
fi

# A collection the source lacks: exit 4, nothing deleted; `optional: true` reads it as empty.
miss=$(newdb mn_cut_missing)
run "$miss" "$work/s1" "$work/m1.json"
mkdir -p "$work/nonotes" && cp "$work/s1/people.json" "$work/nonotes/"
run "$miss" "$work/nonotes" "$work/m2.json"
want='mongonorm: error: collection "notes" is not in the source (JSON folder '"$work"'/nonotes): nothing was written (declare it `optional: true` in the mapping if the source may lack it)'
if [ "$rc" = 4 ] && [ "$(cat "$work/err")" = "$want" ] &&
   [ "$(psql "$miss" -qXAt -c 'SELECT count(*) FROM notes')" = 60 ]; then
  pass "missing collection: exit 4, the message names it, nothing deleted"
else
  fail "missing collection: exit $rc: $(cat "$work/err")"
fi
# status --source says the same, rather than counting the collection's documents as gone.
try "$MN_BIN" status --pg "$miss" --source "$work/nonotes" --mapping "$map" >"$work/out" 2>"$work/err"
want='mongonorm: error: collection "notes" is not in the source (JSON folder '"$work"'/nonotes): a run would stop there, writing nothing (declare it `optional: true` in the mapping if the source may lack it)'
if [ "$rc" = 4 ] && [ "$(cat "$work/err")" = "$want" ] && [ ! -s "$work/out" ]; then
  pass "status --source, missing collection: exit 4, the message names it, no counts"
else
  fail "status --source, missing collection: exit $rc: $(cat "$work/err") $(head -c 300 "$work/out")"
fi
sed 's/^  - collection: notes$/  - collection: notes\n    optional: true/' "$map" > "$here/optional.yaml.tmp"
mv "$here/optional.yaml.tmp" "$work/optional.yaml"
sed -i "s|^sql_dir: sql|sql_dir: $here/sql|" "$work/optional.yaml"
try "$MN_BIN" run --quiet --pg "$miss" --source "$work/nonotes" --mapping "$work/optional.yaml" \
  --rejects "$work/rejects.jsonl" --max-delete 100 2>"$work/err"
[ "$rc" = 0 ] && [ "$(psql "$miss" -qXAt -c 'SELECT count(*) FROM notes')" = 0 ] &&
  pass "optional collection: absent reads as empty (exit 0)" || fail "optional: exit $rc $(cat "$work/err")"

# A truncated source: more than half of 150 loaded people gone stops before deleting.
big=$(newdb mn_cut_big)
gen "$work/b1" 150
gen "$work/b2" 150 truncate
run "$big" "$work/b1" "$work/b1.json"
run "$big" "$work/b2" "$work/b2.json"
want='mongonorm: error: collection "people": the source lacks 145 of the 150 documents loaded from it (96.7%), more than the 50% a run may delete; nothing was deleted (if the source is complete, rerun with --max-delete 100)'
if [ "$rc" = 4 ] && [ "$(cat "$work/err")" = "$want" ] &&
   [ "$(psql "$big" -qXAt -c 'SELECT count(*) FROM people')" = 150 ]; then
  pass "truncated source: exit 4 before anything is deleted"
else
  fail "truncated source: exit $rc: $(cat "$work/err")"
fi
run "$big" "$work/b2" "$work/b3.json" --max-delete 100
[ "$rc" = 0 ] && [ "$(psql "$big" -qXAt -c 'SELECT count(*) FROM people')" = 5 ] &&
  pass "--max-delete 100: the deletions go through" || fail "--max-delete 100: exit $rc $(cat "$work/err")"

# A file cut off mid-record (a copy that stopped): its last record is unreadable, so the
# documents not read may be behind it, and none is deleted, whatever --max-delete allows.
cut=$(newdb mn_cut_cut)
run "$cut" "$work/b1" "$work/c1.json"
mkdir -p "$work/cut" && cp "$work/b1"/*.json "$work/cut/"
head -c $(( $(stat -c %s "$work/b1/people.json") * 6 / 10 )) "$work/b1/people.json" >"$work/cut/people.json"
run "$cut" "$work/cut" "$work/c2.json" --max-delete 100
if [ "$rc" = 1 ] && [ "$(psql "$cut" -qXAt -c 'SELECT count(*) FROM people')" = 150 ] &&
   grep -q '^mongonorm: warning: collection "people": [0-9]* document(s) loaded before and not read now were not deleted: the source has 1 unreadable record(s), which may hold them (a run that reads it whole deletes them)$' "$work/err" &&
   [ "$(field "$work/c2.json" "r['collections']['people']['deleted']")" = 0 ]; then
  pass "a file cut off mid-record: exit 1, nothing deleted, a warning says why"
else
  fail "a file cut off mid-record: exit $rc, $(psql "$cut" -qXAt -c 'SELECT count(*) FROM people') people: $(cat "$work/err")"
fi

# A run killed midway and started again skips what it had committed.
kill_db=$(newdb mn_cut_kill)
gen "$work/k1" 3000
set +e
"$MN_BIN" run --quiet --pg "$kill_db" --source "$work/k1" --mapping "$map" --batch-size 50 \
  --rejects "$work/rejects.jsonl" >/dev/null 2>&1 &
pid=$!
set -e
for _ in $(seq 1 200); do
  [ "$(psql "$kill_db" -qXAt -c 'SELECT count(*) FROM people' 2>/dev/null || echo 0)" -gt 0 ] && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
for _ in $(seq 1 100); do
  [ "$(psql "$kill_db" -qXAt -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" = 0 ] && break
  sleep 0.1
done
committed=$(psql "$kill_db" -qXAt -c "SELECT count(*) FROM mongonorm.documents WHERE collection = 'people'")
run "$kill_db" "$work/k1" "$work/k.json"
unchanged=$(field "$work/k.json" "r['collections']['people']['unchanged']")
if [ "$rc" = 0 ] && [ "$committed" -gt 0 ] && [ "$unchanged" = "$committed" ]; then
  pass "killed run started again: the $committed committed documents are skipped as unchanged"
else
  fail "killed run started again: exit $rc, committed $committed, unchanged $unchanged"
fi

# A reference into a collection the mapping loads later (a forward reference) is set once
# that collection is loaded, in the same run; one to a document the source lacks stays
# NULL, counted; a run killed between the two collections sets it in the next run.
fwd="$work/fwd"
mkdir -p "$fwd/sql" "$fwd/src"
cat > "$fwd/sql/001_fwd.sql" <<'SQL'
CREATE TABLE public.fa (id uuid PRIMARY KEY, b_id uuid);
CREATE TABLE public.fb (id uuid PRIMARY KEY, name text);
SQL
cat > "$fwd/map.yaml" <<'YAML'
version: 1
collections:
  - collection: fa
    tables:
      - table: fa
        columns:
          b_id: {path: b, type: uuid, references: fb, on_missing_reference: "null"}
  - collection: fb
    tables:
      - table: fb
        columns:
          name: {path: name, type: text}
YAML
{
  printf '{"_id":{"$oid":"650000000000000000000001"},"b":{"$oid":"660000000000000000000001"}}\n'
  printf '{"_id":{"$oid":"650000000000000000000002"},"b":{"$oid":"6600000000000000000000ff"}}\n'
} > "$fwd/src/fa.json"
printf '{"_id":{"$oid":"660000000000000000000001"},"name":"x"}\n' > "$fwd/src/fb.json"
fdb=$(init_db mn_cut_fwd --sql-dir "$fwd/sql")
try "$MN_BIN" run --quiet --pg "$fdb" --source "$fwd/src" --mapping "$fwd/map.yaml" \
  --rejects "$work/rejects.jsonl" --report "$work/fwd.json" 2>"$work/err"
got=$(psql "$fdb" -qXAt -c "SELECT string_agg(coalesce(b_id::text, 'NULL'), ' ' ORDER BY id) FROM fa")
left=$(psql "$fdb" -qXAt -c "SELECT count(*) FROM mongonorm.deferred_refs")
coerced=$(field "$work/fwd.json" "r['tables']['fa']['coerced']")
if [ "$rc" = 0 ] && [ "$got" = "66000000-0000-0000-0000-000100000000 NULL" ] && [ "$left" = 0 ] && [ "$coerced" = 1 ]; then
  pass "a forward reference is set once the later collection is loaded; a dangling one is NULL, counted"
else
  fail "forward reference: exit $rc, fa.b_id [$got], deferred left $left, coerced $coerced"
fi
finish
