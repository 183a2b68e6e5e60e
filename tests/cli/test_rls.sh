#!/usr/bin/env bash
# Row-level security on the target (issue 10, point 5).  PostgreSQL refuses COPY FROM into
# a table whose policies apply to the role ("COPY FROM not supported with row-level
# security"), so a first load as such a role goes through merge mode (staging tables, then
# INSERT ... SELECT), with one warning per table.  As a role without BYPASSRLS that owns
# none of the tables of the generic model tests/cutover (policies on all four): the rows
# equal a load as the superuser, an incremental run equals a fresh load of the new source,
# a restrictive policy's WITH CHECK rejects only the documents it refuses (with the
# policy's name), a missing privilege (the same SQLSTATE 42501) stops the run instead of
# rejecting documents, FORCE ROW LEVEL SECURITY makes the owner subject too, and `check
# --pg` says it as warnings (the mapping fits all the same).
source "$(dirname "$0")/lib.sh"
require_pg
isolate_env
setup_workdir
here="$CUTOVER"
gen() { /usr/bin/python3 "$here/gen.py" "$@"; }
role=mn_rls_loader
# The cutover mapping with its one `check` finding (a tag is NOT NULL) answered, so that
# `check --pg` passes but for row-level security.
sed -e 's/tag:       {path: \$, type: text}/tag:       {path: $, type: text, required: true}/' \
  -e "s|^sql_dir: sql|sql_dir: $here/sql|" "$here/mapping.yaml" > "$work/map.yaml"
map="$work/map.yaml"
tables="people person_tags person_devices notes"

# A login role subject to row-level security: no superuser, no BYPASSRLS.
q "$MN_TEST_PG_DSN" "DO \$\$ BEGIN CREATE ROLE $role; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
  ALTER ROLE $role LOGIN NOSUPERUSER NOBYPASSRLS" >/dev/null

# rls_db NAME [PRIVILEGES]: a fresh database initialised by the superuser, whose four tables
# have row-level security with a permissive policy for everyone; the role may PRIVILEGES
# (default SELECT, INSERT, UPDATE, DELETE) on them and owns mongonorm's own schema (more
# than a run needs: test_incremental.sh runs with DML privileges alone), and may create
# temporary tables (the staging tables).  Prints the DSN of the role.
rls_db() {
  local dsn t
  dsn=$(init_db "$1" --mapping "$map")
  q "$dsn" "GRANT ${2:-SELECT, INSERT, UPDATE, DELETE} ON $(echo $tables | sed 's/ /, /g') TO $role;
    GRANT CREATE, TEMP ON DATABASE \"$1\" TO $role;
    ALTER SCHEMA mongonorm OWNER TO $role" >/dev/null
  for t in $(q "$dsn" "SELECT tablename FROM pg_tables WHERE schemaname = 'mongonorm'"); do
    q "$dsn" "ALTER TABLE mongonorm.$t OWNER TO $role" >/dev/null
  done
  for t in $tables; do
    q "$dsn" "ALTER TABLE $t ENABLE ROW LEVEL SECURITY;
      CREATE POLICY everyone ON $t USING (true) WITH CHECK (true)" >/dev/null
  done
  echo "$dsn user=$role"
}
run() { # dsn source report [args] -> $rc, stderr in $err
  local dsn=$1 src=$2 report=$3
  shift 3
  try "$MN_BIN" run --quiet --pg "$dsn" --source "$src" --mapping "$map" \
    --rejects "$work/rejects.jsonl" --report "$report" "$@" 2>"$err"
}
warning() { # table role: the warning a first load prints for it
  echo "mongonorm: warning: table \"public.$1\" has row-level security for role \"$2\": loading it with INSERT instead of COPY; the owner or a role with BYPASSRLS loads it faster"
}
rejected() { field "$1" "r['collections']['people']['rejected']"; }

gen "$work/s1" 30
gen "$work/s2" 30 swap_emails drop_first_tag move_device

# The reference: the superuser, to whom no policy applies, loads with COPY, says nothing.
owner=$(init_db mn_rls_owner --mapping "$map")
run "$owner" "$work/s1" "$work/owner.json"
[ "$rc" = 0 ] && [ ! -s "$err" ] && pass "superuser: first load, exit 0, no warning" ||
  fail "superuser: exit $rc: $(cat "$err")"
owner2=$(init_db mn_rls_owner2 --mapping "$map")
run "$owner2" "$work/s2" "$work/owner2.json"

# The role: every document loads, the rows equal the superuser's, one warning per table.
db=$(rls_db mn_rls)
run "$db" "$work/s1" "$work/rls.json"
want=$(for t in $tables; do warning "$t" "$role"; done)
if [ "$rc" = 0 ] && [ "$(cat "$err")" = "$want" ] &&
   [ "$(field "$work/rls.json" "r['collections']['people']['loaded'], r['collections']['notes']['loaded']")" = "30 60" ] &&
   cmp -s <(cutover_tables "$db") <(cutover_tables "$owner"); then
  pass "role under row-level security: first load exit 0, rows equal the superuser's, one warning per table"
else
  fail "role under row-level security: exit $rc: $(head -c 600 "$err"; diff <(cutover_tables "$owner") <(cutover_tables "$db") | head -4)"
fi
[ "$(field "$work/rls.json" "[r['tables'].get(t, {}).get('inserted') for t in '$tables'.split()]")" = \
  "$(field "$work/owner.json" "[r['tables'].get(t, {}).get('inserted') for t in '$tables'.split()]")" ] &&
  pass "role under row-level security: the same rows counted inserted" ||
  fail "role under row-level security: inserted $(field "$work/rls.json" "r['tables']")"

# Incremental runs as the role: nothing written again, no warning; then an edited source
# (emails swapped, tags dropped, a device moved) equals a fresh load of it.
run "$db" "$work/s1" "$work/rls-again.json"
[ "$rc" = 0 ] && [ ! -s "$err" ] &&
  [ "$(field "$work/rls-again.json" "r['collections']['people']['unchanged']")" = 30 ] &&
  pass "role: second run exit 0, every document unchanged, no warning" ||
  fail "role: second run exit $rc: $(cat "$err")"
run "$db" "$work/s2" "$work/rls-s2.json" --batch-size 7
if [ "$rc" = 0 ] && [ ! -s "$err" ] && cmp -s <(cutover_tables "$db") <(cutover_tables "$owner2"); then
  pass "role: incremental run of an edited source equals a fresh load of it"
else
  fail "role: incremental exit $rc: $(head -c 400 "$err"; diff <(cutover_tables "$owner2") <(cutover_tables "$db") | head -4)"
fi

# A restrictive policy's WITH CHECK: the documents whose rows it refuses are rejected with
# the policy's name (people scoring 25 or more; a person with a "blue" tag, a child row),
# the others load; the next run tries them again (exit 1 again) and changes nothing else.
strict=$(rls_db mn_rls_strict)
q "${strict% user=*}" "CREATE POLICY low_score ON people AS RESTRICTIVE FOR INSERT WITH CHECK (score < 25);
  CREATE POLICY no_blue ON person_tags AS RESTRICTIVE FOR INSERT WITH CHECK (tag <> 'blue')" >/dev/null
run "$strict" "$work/s1" "$work/strict.json"
reasons=$(grep -o '"reason" : "PostgreSQL refused[^,]*' "$work/rejects.jsonl" | sort | uniq -c | sed 's/^ *//' || true)
want_reasons='6 "reason" : "PostgreSQL refused the rows of table \"people\": new row violates row-level security policy \"low_score\" for table \"people\""
8 "reason" : "PostgreSQL refused the rows of table \"person_tags\": new row violates row-level security policy \"no_blue\" for table \"person_tags\""'
if [ "$rc" = 1 ] && [ "$(rejected "$work/strict.json")" = 14 ] && [ "$reasons" = "$want_reasons" ] &&
   [ "$(q "$strict" "SELECT count(*) FROM people")" = 16 ] &&
   [ "$(q "$strict" "SELECT count(*) FROM people WHERE score >= 25 OR score % 3 = 2")" = 0 ]; then
  pass "restrictive policy: the 14 documents it refuses are rejected with the policy's name, 16 load, exit 1"
else
  fail "restrictive policy: exit $rc, rejected $(rejected "$work/strict.json"), reasons [$reasons]: $(head -c 400 "$err")"
fi
before=$(cutover_tables "$strict")
run "$strict" "$work/s1" "$work/strict2.json"
[ "$rc" = 1 ] && [ "$(rejected "$work/strict2.json")" = 14 ] && [ "$(cutover_tables "$strict")" = "$before" ] &&
  pass "restrictive policy: the next run rejects them again, nothing else changes" ||
  fail "restrictive policy, second run: exit $rc, rejected $(rejected "$work/strict2.json"): $(head -c 300 "$err")"

# A missing privilege is SQLSTATE 42501 too, but no document's fault: the run stops (exit
# 5), rejecting nothing.  (INSERT ... ON CONFLICT DO UPDATE needs UPDATE.)
: > "$work/rejects.jsonl"
noupd=$(rls_db mn_rls_noupdate "SELECT, INSERT, DELETE")
run "$noupd" "$work/s1" "$work/noupd.json"
if [ "$rc" = 5 ] && grep -q '^mongonorm: error: could not merge rows into "public"."people": permission denied for table people$' "$err" &&
   [ ! -s "$work/rejects.jsonl" ] && [ "$(q "${noupd% user=*}" "SELECT count(*) FROM mongonorm.documents")" = 0 ]; then
  pass "missing UPDATE privilege: exit 5, no document rejected, nothing recorded"
else
  fail "missing UPDATE privilege: exit $rc, $(grep -c '' "$work/rejects.jsonl") reject(s): $(head -c 400 "$err")"
fi

# FORCE ROW LEVEL SECURITY: the owner of a table is subject to its policies too.
force=$(rls_db mn_rls_force)
q "${force% user=*}" "ALTER TABLE notes OWNER TO $role; ALTER TABLE notes FORCE ROW LEVEL SECURITY" >/dev/null
q "${force% user=*}" "ALTER TABLE people DISABLE ROW LEVEL SECURITY" >/dev/null
run "$force" "$work/s1" "$work/force.json"
want=$(for t in person_tags person_devices notes; do warning "$t" "$role"; done)
[ "$rc" = 0 ] && [ "$(cat "$err")" = "$want" ] && cmp -s <(cutover_tables "$force") <(cutover_tables "$owner") &&
  pass "FORCE ROW LEVEL SECURITY: the owner is warned too; RLS disabled: no warning; rows equal" ||
  fail "FORCE ROW LEVEL SECURITY: exit $rc: $(cat "$err")"

# check --pg: one warning per table, the mapping valid (exit 0); none for the superuser.
try "$MN_BIN" check --mapping "$map" --pg "$db" >"$out" 2>"$err"
want=$(for t in $tables; do echo "mongonorm: warning: public.$t: row-level security applies to role \"$role\": a first load inserts its rows with INSERT instead of COPY (slower; the owner or a role with BYPASSRLS loads it with COPY), and a row its policies refuse rejects its document"; done)
[ "$rc" = 0 ] && [ "$(cat "$err")" = "$want" ] &&
  [ "$(cat "$out")" = "mapping \"$map\" is valid: 2 collection(s), 4 table(s), all present in the target" ] &&
  pass "check --pg as the role: a warning per table, the mapping valid, exit 0" ||
  fail "check --pg as the role: exit $rc: $(cat "$err" "$out")"
try "$MN_BIN" check --mapping "$map" --pg "${db% user=*}" >"$out" 2>"$err"
[ "$rc" = 0 ] && [ ! -s "$err" ] && pass "check --pg as the superuser: no warning" ||
  fail "check --pg as the superuser: exit $rc: $(cat "$err")"
finish
