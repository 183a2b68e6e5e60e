# Shared helpers for the scripted tests (sourced).  Environment from ctest:
# MN_BIN (the mongonorm executable), MN_SOURCE_DIR, MN_BUILD_DIR; from scripts/test.sh:
# MN_TEST_PG_DSN (a throwaway server) and MN_TEST_MONGODB_URI (the wire test server).
set -euo pipefail

: "${MN_BIN:?}" "${MN_SOURCE_DIR:?}" "${MN_BUILD_DIR:?}"
failures=0
passes=0

skip_all() { # a service the test needs is missing: skipped (77), a failure under CI=true
  if [ "${CI:-}" = true ]; then
    echo "not ok - $* (a failure under CI=true: the test command starts every service)"
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}

# pg_or_finish: for a test whose first part needs no server, before the part that does:
# without MN_TEST_PG_DSN the test ends here, skipped (77) when what ran passed; failed when
# something did, or under CI=true.
pg_or_finish() {
  [ -n "${MN_TEST_PG_DSN:-}" ] && return 0
  part_missing MN_TEST_PG_DSN PostgreSQL "the PostgreSQL parts"
  finish || exit 1
  exit 77
}

# part_missing VAR SERVICE PART: VAR, naming SERVICE, is not set, so PART of the test does
# not run: a failure under CI=true (the test command starts every service), else said.
part_missing() {
  if [ "${CI:-}" = true ]; then
    fail "$1 is not set under CI=true (the test command starts $2)"
  else
    echo "# SKIP $3: $1 not set"
  fi
}

# The live MongoDB part of a test runs when the wire test server is up
# (MN_TEST_MONGODB_URI); without it that part is skipped, and under CI=true it fails.
have_wire_server() {
  [ -n "${MN_TEST_MONGODB_URI:-}" ] && return 0
  part_missing MN_TEST_MONGODB_URI "the wire test server" "the live MongoDB part"
  return 1
}

pass() { passes=$((passes + 1)); echo "ok - $*"; }
fail() { failures=$((failures + 1)); echo "not ok - $*"; }

# ---- setup ------------------------------------------------------------------

# The fixtures the tests load: MediChat (a mongodump, Extended JSON, its mapping) and the
# generic model of tests/cutover (gen.py, mapping.yaml).
MEDICHAT="$MN_SOURCE_DIR/fixtures/medichat"
MEDICHAT_MAP="$MN_SOURCE_DIR/mapping/medichat.yaml"
CUTOVER="$MN_SOURCE_DIR/tests/cutover"

# require_pg: skip the whole test (77; a failure under CI=true) without MN_TEST_PG_DSN.
require_pg() {
  [ -n "${MN_TEST_PG_DSN:-}" ] || skip_all "MN_TEST_PG_DSN not set"
}

# isolate_env: the tool reads these when no option says otherwise; keep them out of a test.
isolate_env() {
  unset MONGODB_URI PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGSERVICE
}

# setup_workdir [SUBDIR...]: an empty $work ($MN_BUILD_DIR/<script name>) with these
# subfolders; $out and $err name files in it for a command's stdout and stderr.
setup_workdir() {
  work="$MN_BUILD_DIR/$(basename "$0" .sh)"
  rm -rf "$work" && mkdir -p "$work"
  local d
  for d in "$@"; do mkdir -p "$work/$d"; done
  out="$work/stdout"
  err="$work/stderr"
}

# try COMMAND...: run it without stopping on failure; its exit code in $rc.
try() {
  set +e
  "$@"
  rc=$?
  set -e
}

# one_table_mapping COLLECTION [TABLE]: print a mapping of the collection into one table
# (default: of the same name) whose column lines ("name: {path: ..., type: ...}") are
# read from stdin, e.g.  one_table_mapping things > "$work/map.yaml" <<'YAML' ... YAML
one_table_mapping() {
  printf 'version: 1\ncollections:\n  - collection: %s\n    tables:\n' "$1"
  printf '      - table: %s\n        columns:\n' "${2:-$1}"
  sed 's/^/          /'
}

# phi_data: run the Python program on stdin, which writes patient-like test data under
# $work, with `json`, `work`, `conds` (five conditions) and `phi` (a set of the strings that
# must never leak) defined; then write phi to $work/phi.txt, one string a line.
phi_data() {
  /usr/bin/python3 -c '
import json, sys
work = sys.argv[1]
phi = set()
conds = ["HIV positive", "diabetic", "pregnant", "schizophrenia", "hepatitis C"]
exec(sys.stdin.read())
phi.discard("")
with open(f"{work}/phi.txt", "w") as f:
    f.write("\n".join(sorted(phi)) + "\n")' "$work"
}

# ---- checks -----------------------------------------------------------------

# expect_same DESC WANT GOT: pass when the two texts are equal, else fail with their diff.
expect_same() {
  if [ "$2" = "$3" ]; then
    pass "$1"
  else
    fail "$1"
    diff <(echo "$2") <(echo "$3") | sed 's/^/#   /' || true
  fi
}

# expect_same_files DESC WANT_FILE GOT_FILE [LINES]: pass when the files are byte-equal,
# else fail with the first LINES (default 6) lines of their diff.
expect_same_files() {
  if cmp -s "$2" "$3"; then
    pass "$1"
  else
    fail "$1: differs: $(diff "$2" "$3" | head -"${4:-6}")"
  fi
}

finish() {
  echo "$passes passed, $failures failed"
  [ "$failures" -eq 0 ]
}

# fresh_db NAME: drop and create a database, print its connection string.
fresh_db() {
  psql "$MN_TEST_PG_DSN" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$1\"" \
    -c "CREATE DATABASE \"$1\"" >/dev/null 2>&1
  echo "$MN_TEST_PG_DSN dbname=$1"
}

# init_db NAME INIT-ARGS...: a fresh database prepared by `mongonorm init INIT-ARGS`
# (e.g. --mapping FILE or --sql-dir DIR); print its connection string.
init_db() {
  local dsn
  dsn=$(fresh_db "$1")
  shift
  "$MN_BIN" init --pg "$dsn" "$@" >/dev/null
  echo "$dsn"
}

# dump_tables DSN [TABLE...]: the tables' rows (default: every table the MediChat mapping
# writes) in a stable order, as text.
dump_tables() {
  local dsn=$1 t
  shift
  [ $# -gt 0 ] || set -- users patient_medical_info allergies medications medical_history \
    emergency_contacts conversations messages symptoms attachments prescriptions activity_logs
  for t in "$@"; do
    echo "== $t"
    psql "$dsn" -qXAt -v ON_ERROR_STOP=1 -c "COPY (SELECT * FROM $t ORDER BY id) TO STDOUT"
  done
}

# cutover_tables DSN: every table of the tests/cutover mapping, as dump_tables prints them.
cutover_tables() { dump_tables "$1" people person_tags person_devices notes; }

# report_without FILE KEY...: the --report in FILE as sorted JSON without the keys named,
# at any depth (timings, say, to compare two runs).
report_without() {
  /usr/bin/python3 - "$@" <<'PY'
import json, sys
drop = set(sys.argv[2:])
def clean(v):
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items() if k not in drop}
    return v
print(json.dumps(clean(json.load(open(sys.argv[1]))), sort_keys=True))
PY
}

# q DSN SQL: the query's result, unaligned, no headers.
q() { psql "$1" -qXAt -v ON_ERROR_STOP=1 -c "$2"; }

# field FILE PYTHON-EXPRESSION: the expression's value over r, the JSON document in FILE
# (a --report), e.g.  field "$work/run.json" "r['collections']['people']['rejected']"
field() {
  /usr/bin/python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
print($2)" "$1"
}

# ---- comparing two runs (test_jobs.sh, test_spill.sh) ----

# state DSN: the tables, mongonorm.documents (no times) and the deferred references.
state() {
  dump_tables "$1"
  echo "== documents"
  q "$1" "COPY (SELECT collection, doc_id, encode(digest, 'hex'), counts, rejected,
          reject_path, reason, context FROM mongonorm.documents ORDER BY 1, 2) TO STDOUT"
  echo "== deferred_refs"
  q "$1" "COPY (SELECT * FROM mongonorm.deferred_refs ORDER BY 1, 2, 3, 4, 5, 6) TO STDOUT"
}

# schema_of DSN: the indexes, the constraints (validated or not) and what a bulk load still
# has to put back: a bulk load must end with the schema `init` made.
schema_of() {
  q "$1" "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
  q "$1" "SELECT conrelid::regclass, conname, convalidated FROM pg_constraint
          WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
  q "$1" "SELECT count(*) || ' objects a bulk load left' FROM mongonorm.bulk_objects"
}

# untimed FILE: the statistics table without its timings (seconds, docs/s, total time).
untimed() {
  /usr/bin/python3 -c '
import sys
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 8 and not line.startswith(" ") and f[1].isdigit():
        f = f[:6]  # a collection row: its seconds and docs/s go
    print("total time" if line.startswith("total time") else " ".join(f))' "$1"
}

# report_untimed FILE: the --report JSON without its "seconds".
report_untimed() {
  /usr/bin/python3 -c '
import json, sys
def strip(x):
    return {k: strip(v) for k, v in x.items() if k != "seconds"} if isinstance(x, dict) else x
print(json.dumps(strip(json.load(open(sys.argv[1]))), sort_keys=True))' "$1"
}

# same_runs DESC A B DSN_A DSN_B: two runs agree: exit codes, reject files, printed counts,
# stderr and reports ($work/A.{out,err,json,jsonl}: rc_A), and their targets (state, schema_of).
same_runs() {
  local a=$2 b=$3 rca rcb
  rca="rc_$a" rcb="rc_$b"
  expect_same "$1: exit code" "${!rca}" "${!rcb}"
  expect_same_files "$1: reject file" "$work/$a.jsonl" "$work/$b.jsonl"
  expect_same "$1: printed counts" "$(untimed "$work/$a.out")" "$(untimed "$work/$b.out")"
  expect_same "$1: stderr" "$(sed "s|$a.jsonl|R|" "$work/$a.err")" \
    "$(sed "s|$b.jsonl|R|" "$work/$b.err")"
  expect_same "$1: report" "$(report_untimed "$work/$a.json")" "$(report_untimed "$work/$b.json")"
  state "$4" >"$work/$a.state"
  state "$5" >"$work/$b.state"
  expect_same_files "$1: tables and mongonorm.documents" "$work/$a.state" "$work/$b.state"
  expect_same "$1: indexes and constraints" "$(schema_of "$4")" "$(schema_of "$5")"
}
