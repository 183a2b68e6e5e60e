#!/usr/bin/env bash
# Bulk load: a first full load into empty tables drops the secondary indexes and the
# vouched-for foreign keys before the data and puts them back after it.  The target ends
# exactly as `init` made it (pg_dump --schema-only: indexes, constraints, comments,
# CLUSTER, deferrable flags, triggers) with the rows of a --no-bulk-load load (MediChat
# sample, generated data, --jobs 1 and 3); a run killed with SIGKILL during the begin, the
# load and the rebuild (both steps) leaves a target that the next run converges; a
# target that is not empty, and --no-bulk-load, keep every index; a row violating a
# foreign key stops the rebuild (exit 5) with the constraint and table named, kept
# recorded, and the next run finishes once it is gone; status, init and check say so.
source "$(dirname "$0")/lib.sh"
require_pg
isolate_env
setup_workdir sql
map="$MEDICHAT_MAP"
sample="$MEDICHAT/dump/medichat"
gen="$work/gen"
"$MN_BIN" generate --model "$MEDICHAT/generator.yaml" --scale 400 --out "$gen" --quiet

# The MediChat schema and a file that gives the rebuild something to get exactly right:
# comments (quotes, a backslash), CLUSTER ON, an INCLUDE index with a storage parameter, a
# hash index with a name to quote, a deferrable foreign key, and what must stay in place
# (an expression index, a partial one, a foreign key the mapping does not vouch for).
cp "$MN_SOURCE_DIR/sql/001_schema.sql" "$work/sql/"
cat > "$work/sql/002_bulk_extras.sql" <<'SQL'
COMMENT ON INDEX public.medications_patient_id_idx IS 'a patient''s "medications" \ by patient';
ALTER TABLE public.messages CLUSTER ON messages_conversation_id_ordinal_idx;
COMMENT ON CONSTRAINT messages_conversation_id_fkey ON public.messages IS 'message -> conversation';
ALTER TABLE public.symptoms ALTER CONSTRAINT symptoms_conversation_id_fkey
  DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "Symptoms ""odd"" name" ON public.symptoms USING hash (conversation_id);
CREATE INDEX messages_covering_idx ON public.messages (conversation_id) INCLUDE (ordinal)
  WITH (fillfactor = 70);
CREATE INDEX symptoms_lower_symptom_idx ON public.symptoms (lower(symptom));
CREATE INDEX conversations_open_idx ON public.conversations (patient_id) WHERE status <> 'closed';
-- resource_id is no declared reference: this key refuses documents, in a bulk load as in
-- any other, so it stays
ALTER TABLE public.activity_logs ADD CONSTRAINT activity_logs_resource_fkey
  FOREIGN KEY (resource_id) REFERENCES public.conversations (id);
SQL

# the user's schema as pg_dump gives it; mongonorm's own state is left out (a --jobs run
# adds mongonorm.work, which `init` does not make)
schema() { pg_dump --schema-only --exclude-schema=mongonorm "$1" | grep -v '^\\\(un\)\?restrict'; }
# name -> oid of every index and constraint of the public schema: rebuilt ones change
oids() {
  q "$1" "SELECT c.relname || ' ' || c.oid FROM pg_class c WHERE c.relkind = 'i'
            AND c.relnamespace = 'public'::regnamespace
          UNION ALL SELECT conname || ' ' || oid FROM pg_constraint
            WHERE connamespace = 'public'::regnamespace ORDER BY 1"
}
oid_of() { awk -v n="$2" '{ o = $NF; $NF = ""; sub(/ $/, ""); if ($0 == n) print o }' "$1" | paste -sd,; }
recorded() { q "$1" "SELECT count(*) FROM mongonorm.bulk_objects"; }
load() { # dsn source name [args]: a run, stdout and stderr in $work/NAME.out/.err, exit in $rc
  local dsn=$1 src=$2
  last=$3
  shift 3
  try "$MN_BIN" run --quiet --pg "$dsn" --source "$src" --mapping "$map" \
    --rejects "$work/$last.rejects" "$@" >"$work/$last.out" 2>"$work/$last.err"
}
expect_rc() { # what allowed...
  local what=$1 ok=no c
  shift
  for c in "$@"; do [ "$rc" = "$c" ] && ok=yes; done
  if [ $ok = yes ]; then pass "$what: exit $rc"; else
    fail "$what: exit $rc: $(tail -n 3 "$work/$last.err" 2>/dev/null | tr '\n' ' ')"; fi
}
wait_unlocked() { # dsn: until killed sessions are gone (at most 60 s)
  local i
  for i in $(seq 1 600); do
    [ "$(q "$1" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" = 0 ] &&
      [ "$(q "$1" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mn_holder'")" = 0 ] &&
      return 0
    sleep 0.1
  done
  echo "# a killed session still holds its locks after 60 s" >&2
}
until_sql() { # dsn sql: until the query returns t (at most 60 s); false when it never does
  local i
  for i in $(seq 1 1200); do
    [ "$(q "$1" "$2" 2>/dev/null)" = t ] && return 0
    sleep 0.05
  done
  return 1
}
hold() { # dsn sql: a session (application mn_holder) runs sql in a transaction and keeps it
  PGAPPNAME=mn_holder psql "$1" -qXAt -c "BEGIN" -c "$2" -c "SELECT pg_sleep(120)" \
    >/dev/null 2>&1 &
  until_sql "$1" "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name =
    'mn_holder' AND query LIKE 'SELECT pg_sleep%')"
}
release() { # dsn: end the holding session
  q "$1" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE application_name = 'mn_holder'" >/dev/null
}
bg_run() { # dsn source: a run in the background, its pid in $pid
  "$MN_BIN" run --quiet --pg "$1" --source "$2" --mapping "$map" --batch-size 100 \
    --rejects "$work/bg.rejects" >/dev/null 2>&1 &
  pid=$!
}
kill_run() { # dsn: the run killed with SIGKILL, and its server sessions with it (what a
  # crash of the machine does: a statement in flight does not complete)
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  q "$1" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()
            AND backend_type = 'client backend'" >/dev/null 2>&1
  wait_unlocked "$1"
}
waiting_run() { # dsn: the run's session waits for a lock
  until_sql "$1" "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                  WHERE NOT l.granted AND a.application_name <> 'mn_holder')"
}

ref_init=$(init_db mn_bulk_init --sql-dir "$work/sql")
schema "$ref_init" > "$work/init.sql"
grep -q 'CLUSTER ON messages_conversation_id_ordinal_idx' "$work/init.sql" &&
  grep -q 'DEFERRABLE INITIALLY DEFERRED' "$work/init.sql" &&
  pass "the reference schema has the extras" || fail "the reference schema lacks the extras"

# 1. The MediChat sample: bulk (default) and --no-bulk-load.
bulk=$(init_db mn_bulk_sample --sql-dir "$work/sql")
plain=$(init_db mn_bulk_sample_plain --sql-dir "$work/sql")
oids "$bulk" > "$work/bulk-before.oids"
oids "$plain" > "$work/plain-before.oids"
load "$bulk" "$sample" sample; expect_rc "sample, bulk load" 0 1
load "$plain" "$sample" sample_plain --no-bulk-load
expect_rc "sample, --no-bulk-load" 0 1
schema "$bulk" > "$work/sample.sql"
expect_same_files "sample, bulk load: the schema is init's (pg_dump --schema-only)" \
  "$work/init.sql" "$work/sample.sql" 20
dump_tables "$plain" > "$work/sample-plain.txt"
dump_tables "$bulk" > "$work/sample-bulk.txt"
expect_same_files "sample, bulk load: the rows of a --no-bulk-load load" \
  "$work/sample-plain.txt" "$work/sample-bulk.txt"
expect_same_files "sample, bulk load: the reject file of a --no-bulk-load load" \
  "$work/sample_plain.rejects" "$work/sample.rejects"
oids "$bulk" > "$work/bulk-after.oids"
oids "$plain" > "$work/plain-after.oids"
expect_same_files "--no-bulk-load: no index or constraint was dropped" \
  "$work/plain-before.oids" "$work/plain-after.oids"
changed=""
for o in medications_patient_id_idx messages_conversation_id_ordinal_idx messages_covering_idx \
  'Symptoms "odd" name' messages_conversation_id_fkey \
  symptoms_conversation_id_fkey activity_logs_user_id_fkey medications_prescribing_doctor_id_fkey; do
  [ "$(oid_of "$work/bulk-before.oids" "$o")" != "$(oid_of "$work/bulk-after.oids" "$o")" ] ||
    changed="$changed $o"
done
expect_same "bulk load: the secondary indexes and vouched-for foreign keys were rebuilt" "" "$changed"
kept=""
for o in users_pkey users_email_key allergies_patient_id_allergen_key users_role_check \
  symptoms_lower_symptom_idx conversations_open_idx activity_logs_action_created_at_idx \
  conversations_doctor_id_status_idx sessions_user_id_idx sessions_user_id_fkey \
  activity_logs_resource_fkey activity_logs_metadata_gin_idx; do
  [ "$(oid_of "$work/bulk-before.oids" "$o")" = "$(oid_of "$work/bulk-after.oids" "$o")" ] ||
    kept="$kept $o"
done
expect_same "bulk load: keys, CHECKs, expression, partial, text, GIN indexes, unvouched keys kept" \
  "" "$kept"
expect_same "bulk load: nothing left recorded" 0 "$(recorded "$bulk")"

# 2. A target that is not empty is loaded with its indexes in place.
load "$bulk" "$sample" again; expect_rc "sample, second run" 0 1
oids "$bulk" > "$work/bulk-again.oids"
expect_same_files "a second run (the target is not empty): nothing dropped" \
  "$work/bulk-after.oids" "$work/bulk-again.oids"

# 3. Generated data, --jobs 1 and 3, against --no-bulk-load.
gplain=$(init_db mn_bulk_gen_plain --sql-dir "$work/sql")
load "$gplain" "$gen" gen_plain --no-bulk-load; expect_rc "generated, --no-bulk-load" 1
dump_tables "$gplain" > "$work/gen-plain.txt"
for jobs in 1 3; do
  g=$(init_db mn_bulk_gen_$jobs --sql-dir "$work/sql")
  load "$g" "$gen" "gen_$jobs" --jobs "$jobs"; expect_rc "generated, --jobs $jobs" 1
  schema "$g" > "$work/gen-$jobs.sql"
  expect_same_files "generated, --jobs $jobs: the schema is init's" "$work/init.sql" "$work/gen-$jobs.sql" 20
  dump_tables "$g" > "$work/gen-$jobs.txt"
  expect_same_files "generated, --jobs $jobs: the rows of a --no-bulk-load load" \
    "$work/gen-plain.txt" "$work/gen-$jobs.txt"
done

# converged DSN WHAT: after a kill, a normal run gives init's schema and the clean rows
converged() {
  load "$1" "$gen" rerun; expect_rc "$2, run again" 1
  schema "$1" > "$work/rerun.sql"
  expect_same_files "$2, run again: the schema is init's" "$work/init.sql" "$work/rerun.sql" 20
  dump_tables "$1" > "$work/rerun.txt"
  expect_same_files "$2, run again: the rows of a clean load" "$work/gen-plain.txt" "$work/rerun.txt"
  expect_same "$2, run again: nothing left recorded" 0 "$(recorded "$1")"
}

# 4. Killed during the begin (blocked on a lock after some of the drops): rolled back whole.
k=$(init_db mn_bulk_kill_begin --sql-dir "$work/sql")
hold "$k" "SELECT count(*) FROM public.messages"
bg_run "$k" "$gen"
if waiting_run "$k"; then pass "killed during the begin: the run waits in it"; else
  fail "killed during the begin: the run never waited"; fi
kill_run "$k"
expect_same "killed during the begin: nothing recorded" 0 "$(recorded "$k")"
schema "$k" > "$work/kill-begin.sql"
expect_same_files "killed during the begin: the schema is init's" "$work/init.sql" "$work/kill-begin.sql"
converged "$k" "killed during the begin"

# 5. Killed during the load, at random points after the begin.
for i in 1 2 3; do
  k=$(init_db mn_bulk_kill_load_$i --sql-dir "$work/sql")
  bg_run "$k" "$gen"
  until_sql "$k" "SELECT EXISTS (SELECT 1 FROM mongonorm.bulk_objects)" || true
  ms=$(( (RANDOM % 1500) + 50 ))
  sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
  kill_run "$k"
  n=$(recorded "$k")
  [ "$n" -gt 0 ] && pass "killed ${ms} ms into the load: $n objects recorded" ||
    echo "# killed ${ms} ms into the load: the run had finished (nothing recorded)"
  converged "$k" "killed ${ms} ms into the load"
done

# 6. Killed while putting back: adding a foreign key back (step 1), and rebuilding an
# index (step 2), each held up by a lock on its row of the record.
for what in "fk:prescriptions_patient_id_fkey" "index:symptoms_conversation_id_idx"; do
  k=$(init_db "mn_bulk_kill_${what%%:*}" --sql-dir "$work/sql")
  bg_run "$k" "$gen"
  until_sql "$k" "SELECT EXISTS (SELECT 1 FROM mongonorm.bulk_objects)" || true
  hold "$k" "SELECT id FROM mongonorm.bulk_objects WHERE name = '${what#*:}' FOR UPDATE"
  if waiting_run "$k"; then pass "killed putting back ${what#*:}: the run waits there"; else
    fail "killed putting back ${what#*:}: the run never waited"; fi
  kill_run "$k"
  expect_same "killed putting back ${what#*:}: still recorded" 1 \
    "$(q "$k" "SELECT count(*) FROM mongonorm.bulk_objects WHERE name = '${what#*:}'")"
  converged "$k" "killed putting back ${what#*:}"
done

# 7. A row that violates a foreign key dropped for the load (written by hand while the
# load was interrupted): the rebuild stops, names the constraint and table, keeps it.
k=$(init_db mn_bulk_violation --sql-dir "$work/sql")
bg_run "$k" "$gen"
until_sql "$k" "SELECT EXISTS (SELECT 1 FROM mongonorm.bulk_objects)" || true
kill_run "$k"
bad=0badbad0-0000-4000-8000-00000000bad1
q "$k" "INSERT INTO public.symptoms (id, conversation_id, ordinal)
        VALUES ('$bad', '0badbad0-0000-4000-8000-00000000bad2', 0)"
load "$k" "$gen" violation
expect_same "a violated foreign key: exit 5 (PostgreSQL)" 5 "$rc"
line='mongonorm: error: could not validate foreign key "symptoms_conversation_id_fkey" of table "public.symptoms" after the bulk load: insert or update on table "symptoms" violates foreign key constraint "symptoms_conversation_id_fkey"; '
if grep -qF "$line" "$work/violation.err" &&
  grep -qF 'hint: correct or delete the rows that violate it' "$work/violation.err"; then
  pass "a violated foreign key: the constraint and table named, and a hint"
else
  fail "a violated foreign key: $(cat "$work/violation.err")"
fi
if grep -q "badbad" "$work/violation.err"; then fail "a violated foreign key: a value was printed"; else
  pass "a violated foreign key: no value printed"; fi
expect_same "a violated foreign key: it stays recorded, NOT VALID" "1 false" \
  "$(q "$k" "SELECT count(*) || ' ' || bool_and(c.convalidated) FROM mongonorm.bulk_objects b
             JOIN pg_constraint c ON c.conname = b.name WHERE b.name = 'symptoms_conversation_id_fkey'")"
"$MN_BIN" status --pg "$k" > "$work/status.out"
if grep -q '^a bulk load is in progress since .*: [0-9]* indexes and [1-9][0-9]* foreign keys are dropped until a run puts them back$' "$work/status.out"; then
  pass "status: a bulk load in progress"; else fail "status: $(head -n 2 "$work/status.out")"; fi
try "$MN_BIN" check --mapping "$map" --pg "$k" >/dev/null 2>"$work/check.err"
grep -q '^mongonorm: warning: a bulk load is in progress: [0-9]* indexes and [0-9]* foreign keys of the target are dropped until a run puts them back' "$work/check.err" &&
  pass "check: says a bulk load is in progress" || fail "check: $(cat "$work/check.err")"
try "$MN_BIN" init --pg "$k" --sql-dir "$work/sql" >/dev/null 2>"$work/init.err"
expect_same "init, nothing new to apply: exit 0" 0 "$rc"
echo "SELECT 1;" > "$work/sql/003_more.sql"
try "$MN_BIN" init --pg "$k" --sql-dir "$work/sql" >/dev/null 2>"$work/init.err"
expect_same "init with a new file: refused, exit 5" 5 "$rc"
grep -q '^mongonorm: error: cannot apply "003_more.sql": a bulk load is in progress' "$work/init.err" &&
  grep -qF 'hint: run "mongonorm run" against this database first: it finishes the bulk load' "$work/init.err" &&
  pass "init with a new file: says why, and what to do" || fail "init: $(cat "$work/init.err")"
rm "$work/sql/003_more.sql"
q "$k" "DELETE FROM public.symptoms WHERE id = '$bad'"
converged "$k" "the violating row deleted"
"$MN_BIN" status --pg "$k" > "$work/status.out"
if grep -q 'bulk load' "$work/status.out"; then fail "status after it: still a bulk load"; else
  pass "status after it: no bulk load"; fi

finish
