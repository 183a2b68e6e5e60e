#!/usr/bin/env bash
# The command line: every command's exit code and its exact stderr line(s), in the
# manner of PostgreSQL's TAP tests (src/bin/pg_dump/t/001_basic.pl).  Exit codes and
# messages are documented in docs/cli.md, docs/exit-codes.md and docs/errors.md; a
# change to either side shows up here.
#
# The first part needs no server.  The second needs MN_TEST_PG_DSN (a throwaway
# PostgreSQL, see scripts/pg.sh) and is skipped without it.
source "$(dirname "$0")/lib.sh"

setup_workdir
map="$MEDICHAT_MAP"
dump="$MEDICHAT/dump"
isolate_env

# ---- helpers ---------------------------------------------------------------

# mn ARGS...: run the tool; exit code in $rc, output in $out and $err.
mn() { run_env "$MN_BIN" "$@"; }
# run_env [env arguments] COMMAND...: the same through env(1), e.g. run_env -u X "$MN_BIN" ...
run_env() { try env "$@" >"$out" 2>"$err"; }

# diag LABEL WANT GOT: show what differed, TAP style.
diag() {
  printf '#   %s wanted:\n' "$1"
  printf '%s\n' "$2" | sed 's/^/#     |/'
  printf '#   got:\n'
  printf '%s\n' "$3" | sed 's/^/#     |/'
}

expect_exit() { # DESC CODE
  if [ "$rc" -eq "$2" ]; then
    pass "$1: exit $2"
  else
    fail "$1: exit $rc, wanted $2"
    sed 's/^/#   stderr: /' "$err" | head -5
  fi
}

expect_err() { # DESC LINE...: stderr is exactly these lines
  local desc=$1 want got
  shift
  want=$(printf '%s\n' "$@")
  got=$(cat "$err")
  if [ "$got" = "$want" ]; then pass "$desc: stderr"; else fail "$desc: stderr"; diag stderr "$want" "$got"; fi
}

expect_err_head() { # DESC LINE...: stderr starts with these lines
  local desc=$1 want got
  shift
  want=$(printf '%s\n' "$@")
  got=$(head -n $# "$err")
  if [ "$got" = "$want" ]; then pass "$desc: stderr"; else fail "$desc: stderr"; diag "stderr head" "$want" "$got"; fi
}

expect_err_file() { # DESC FILE: stderr is exactly the content of FILE
  if cmp -s "$2" "$err"; then pass "$1: stderr"; else fail "$1: stderr"; diag stderr "$(cat "$2")" "$(cat "$err")"; fi
}

expect_out() { # DESC LINE...: stdout is exactly these lines (none: empty)
  local desc=$1 want got
  shift
  want=$([ $# -eq 0 ] || printf '%s\n' "$@")
  got=$(cat "$out")
  if [ "$got" = "$want" ]; then pass "$desc: stdout"; else fail "$desc: stdout"; diag stdout "$want" "$got"; fi
}

expect_out_file() { # DESC FILE
  if cmp -s "$2" "$out"; then pass "$1: stdout"; else fail "$1: stdout"; diag stdout "$(cat "$2")" "$(cat "$out")"; fi
}

expect_secret_hidden() { # DESC SECRET: neither stream holds SECRET
  if grep -qF -- "$2" "$out" "$err"; then
    fail "$1: the password appears in the output"
    grep -hF -- "$2" "$out" "$err" | sed 's/^/#   /'
  else
    pass "$1: no password in the output"
  fi
}

# ---- help, version, usage errors (no server needed) --------------------------

mn --help
cp "$out" "$work/usage.txt"
expect_exit "--help" 0
expect_err "--help" # nothing
if [ "$(head -n 1 "$work/usage.txt")" = "usage: mongonorm <command> [options]" ]; then
  pass "--help prints the usage on stdout"
else
  fail "--help: stdout starts with \"$(head -n 1 "$work/usage.txt")\""
fi
for c in init run check; do
  if grep -q "^  $c " "$work/usage.txt"; then pass "--help lists \"$c\""; else fail "--help does not list \"$c\""; fi
done

for alias in -h help; do
  mn "$alias"
  expect_exit "$alias" 0
  expect_out_file "$alias is --help" "$work/usage.txt"
done

mn
expect_exit "no arguments" 2
expect_out "no arguments"
expect_err_file "no arguments: the usage on stderr" "$work/usage.txt"

version=$(sed -n 's/^project(mongonorm VERSION \([0-9.]*\).*/\1/p' "$MN_SOURCE_DIR/CMakeLists.txt")
mn --version
expect_exit "--version" 0
libs=$(sed 1d "$out" | sed -E 's/ [0-9][0-9a-z.+~-]*$//')
expect_same "--version: mongonorm X.Y.Z, then the libraries it runs with" \
  "mongonorm $version|libmongoc libbson libpq libyaml GLib OpenSSL zlib" \
  "$(head -1 "$out")|$(echo $libs)"
expect_err "--version"

declare -A cmd_usage=(
  [init]="usage: mongonorm init [--pg CONNINFO] (--sql-dir DIR | --mapping FILE)"
  [run]="usage: mongonorm run --source LOCATION --mapping FILE [options]"
  [check]="usage: mongonorm check --mapping FILE [--pg CONNINFO]"
  [status]="usage: mongonorm status [--pg CONNINFO] [--runs N] [--source LOCATION --mapping FILE]"
  [generate]="usage: mongonorm generate --model FILE --scale N --out DIR|URI [options]"
  [verify]="usage: mongonorm verify --source LOCATION --mapping FILE [options]"
)
for c in init run check status generate verify; do
  mn "$c" --help
  cp "$out" "$work/usage-$c.txt"
  expect_exit "$c --help" 0
  expect_err "$c --help"
  if [ "$(head -n 1 "$out")" = "${cmd_usage[$c]}" ]; then pass "$c --help: usage line"; else fail "$c --help: usage line \"$(head -n 1 "$out")\""; fi
  # "mongonorm -h" works, so "mongonorm <command> -h" should as well.
  mn "$c" -h
  expect_exit "$c -h" 0
  expect_out_file "$c -h is $c --help" "$work/usage-$c.txt"
done
for opt in --source --db --mapping --pg --rejects --report --batch-size --quiet; do
  if grep -q -- "^  $opt" "$work/usage-run.txt"; then pass "run --help lists $opt"; else fail "run --help does not list $opt"; fi
done

# Every command's help comes from its option table (src/cli/options.c), also on stderr
# after a usage error of that command (run's is above).
for c in status generate verify; do
  mn "$c" --frob
  expect_exit "$c --frob" 2
  expect_out "$c --frob"
  printf 'mongonorm: error: unrecognized option "--frob"\n' | cat - "$work/usage-$c.txt" > "$work/want"
  expect_err_file "$c --frob: the error, then the command's help" "$work/want"
done
mn check --help
for opt in "--mapping FILE" "--pg CONNINFO"; do
  if grep -q -- "^  $opt " "$out"; then pass "check --help lists $opt"; else fail "check --help does not list $opt"; fi
done
mn status --runs 0
expect_exit "status --runs 0" 2
expect_err_head "status --runs 0" 'mongonorm: error: --runs takes a number from 1 to 100000, not "0"' "${cmd_usage[status]}"
mn verify --help --frob
expect_exit "verify --help with an unknown option" 2
expect_err_head "verify --help with an unknown option" 'mongonorm: error: unrecognized option "--frob"'

# docs/cli.md has a row for every option of every command's table, in the command's
# section (tests/cli/doc_options.sh reads the options from each command's --help).
if bash "$MN_SOURCE_DIR/tests/cli/doc_options.sh" "$MN_BIN" "$MN_SOURCE_DIR/docs/cli.md" >"$work/doc-options.txt" 2>&1; then
  pass "docs/cli.md names every option of every command"
else
  fail "docs/cli.md lacks options:"
  sed 's/^/#   /' "$work/doc-options.txt"
fi
# ... and the check fails when a row is missing, or a command's whole section.
grep -v '^| `--max-delete PCT` ' "$MN_SOURCE_DIR/docs/cli.md" > "$work/cli-less.md"
sed -i 's/^## mongonorm generate$/## generate/' "$work/cli-less.md"
set +e
bash "$MN_SOURCE_DIR/tests/cli/doc_options.sh" "$MN_BIN" "$work/cli-less.md" > "$out" 2>"$err"
rc=$?
set -e
expect_exit "doc_options.sh on a doc without --max-delete and generate" 1
expect_out "doc_options.sh on a doc without --max-delete and generate" \
  "run: --max-delete has no row in $work/cli-less.md" \
  "generate: $work/cli-less.md has no section \"## mongonorm generate\""

mn frob
expect_exit "unknown command" 2
expect_out "unknown command"
printf 'mongonorm: error: unknown command "frob"\n' | cat - "$work/usage.txt" > "$work/want"
expect_err_file "unknown command: the error, then the usage" "$work/want"

mn run --frob
expect_exit "unknown option" 2
printf 'mongonorm: error: unrecognized option "--frob"\n' | cat - "$work/usage-run.txt" > "$work/want"
expect_err_file "unknown option: the error, then the command's usage" "$work/want"

mn run --help --frob
expect_exit "--help with an unknown option" 2
expect_err_head "--help with an unknown option" 'mongonorm: error: unrecognized option "--frob"'

mn run --batch-size
expect_exit "option without its value" 2
expect_err_head "option without its value" \
  'mongonorm: error: option "--batch-size" needs a value' "${cmd_usage[run]}"

# An option of another command is named as the user typed it, not by its value.
# (init takes --mapping since the mapping may name the SQL folder: --source it does not.)
mn init --source "$dump"
expect_exit "init --source (an option of another command)" 2
expect_err_head "init --source (an option of another command)" \
  'mongonorm: error: option "--source" does not apply to this command' "${cmd_usage[init]}"

# init never guesses where the SQL comes from: no default folder.
mn init --pg "host=/nonexistent"
expect_exit "init without a SQL source" 2
expect_out "init without a SQL source"
printf 'mongonorm: error: no SQL folder: give --sql-dir DIR, or --mapping FILE with a "sql_dir" key\n' |
  cat - "$work/usage-init.txt" > "$work/want"
expect_err_file "init without a SQL source: the error, then the usage" "$work/want"
mn init --mapping "$map"
expect_exit "init --mapping, the mapping names no sql_dir" 2
expect_err_head "init --mapping, the mapping names no sql_dir" \
  "mongonorm: error: mapping file \"$map\" declares no \"sql_dir\": give --sql-dir DIR" \
  "${cmd_usage[init]}"
mn check --mapping "$map" --source "$dump"
expect_exit "check --source (an option of another command)" 2
expect_err_head "check --source (an option of another command)" \
  'mongonorm: error: option "--source" does not apply to this command'

mn run --source "$dump" --mapping "$map" extra
expect_exit "stray argument" 2
expect_err_head "stray argument" 'mongonorm: error: unexpected argument "extra"' "${cmd_usage[run]}"

for n in 0 -5 abc 1000001 12x ""; do
  mn run --source "$dump" --mapping "$map" --batch-size "$n"
  expect_exit "--batch-size \"$n\"" 2
  expect_out "--batch-size \"$n\""
  expect_err_head "--batch-size \"$n\"" \
    "mongonorm: error: --batch-size takes a number from 1 to 1000000, not \"$n\"" "${cmd_usage[run]}"
done

run_env -u MONGODB_URI "$MN_BIN" run --mapping "$map"
expect_exit "run without --source" 2
expect_err_head "run without --source" \
  'mongonorm: error: no source: give --source (or set MONGODB_URI)' "${cmd_usage[run]}"
run_env MONGODB_URI= "$MN_BIN" run --mapping "$map"
expect_exit "run with an empty MONGODB_URI" 2
expect_err_head "run with an empty MONGODB_URI" 'mongonorm: error: no source: give --source (or set MONGODB_URI)'

mn run --source "$dump"
expect_exit "run without --mapping" 2
expect_err_head "run without --mapping" 'mongonorm: error: no mapping: give --mapping FILE' "${cmd_usage[run]}"

mn check
expect_exit "check without --mapping" 2
printf 'mongonorm: error: no mapping: give --mapping FILE\n' | cat - "$work/usage-check.txt" > "$work/want"
expect_err_file "check without --mapping" "$work/want"

# ---- mapping files -----------------------------------------------------------

mn check --mapping "$map"
expect_exit "check on the MediChat mapping" 0
expect_out "check on the MediChat mapping" "mapping \"$map\" is valid: 3 collection(s), 12 table(s)"
expect_err "check on the MediChat mapping"

one_table_mapping things > "$work/small.yaml" <<'EOF'
name: {path: name, type: text}
EOF
mn check --mapping "$work/small.yaml"
expect_exit "check on a one-table mapping" 0
expect_out "check on a one-table mapping" "mapping \"$work/small.yaml\" is valid: 1 collection(s), 1 table(s)"

# broken NAME SED-SCRIPT EXPECTED-MESSAGE (after 'mapping file "...", ')
broken() {
  local f="$work/$1.yaml"
  sed "$2" "$work/small.yaml" > "$f"
  mn check --mapping "$f"
  expect_exit "check, $1" 3
  expect_out "check, $1"
  expect_err "check, $1" "mongonorm: error: mapping file \"$f\", $3"
  # run loads the mapping first: same error, before any connection
  mn run --source "$work/nowhere" --mapping "$f" --pg "host=127.0.0.1 port=1"
  expect_exit "run, $1" 3
  expect_err "run, $1" "mongonorm: error: mapping file \"$f\", $3"
}
broken misspelt-key 's/columns:/colums:/' 'line 6: unknown key "colums" in table "things"'
broken bad-type 's/type: text/type: decimal256/' 'line 7: unrecognized column type "decimal256"'
broken yaml-syntax 's/type: text}/type: text/' \
  "line 8: did not find expected ',' or '}' while parsing a flow mapping"
broken no-version '/^version/d' 'line 1: missing key "version" (this tool reads version 1)'
broken version-2 's/^version: 1/version: 2/' 'line 1: unsupported mapping version "2" (this tool reads version 1)'

: > "$work/empty.yaml"
mn check --mapping "$work/empty.yaml"
expect_exit "check, empty mapping file" 3
expect_err "check, empty mapping file" "mongonorm: error: mapping file \"$work/empty.yaml\": the file is empty"

# A mapping file that cannot be opened is a file error (6), not a mapping error (3).
mn check --mapping "$work/nope.yaml"
expect_exit "check, missing mapping file" 6
expect_out "check, missing mapping file"
expect_err "check, missing mapping file" \
  "mongonorm: error: could not open mapping file \"$work/nope.yaml\": No such file or directory"
mn run --source "$dump" --mapping "$work/nope.yaml" --pg "host=127.0.0.1 port=1"
expect_exit "run, missing mapping file" 6
expect_err "run, missing mapping file" \
  "mongonorm: error: could not open mapping file \"$work/nope.yaml\": No such file or directory"
mkdir -p "$work/adir"
mn check --mapping "$work/adir"
expect_exit "check, mapping path is a folder" 6
expect_err "check, mapping path is a folder" \
  "mongonorm: error: could not read mapping file \"$work/adir\": Is a directory"

# ---- sources (opened before PostgreSQL: no server needed) ------------------------

# A folder that cannot be opened is a file error (6), like a mapping file.
mn run --source "$work/nowhere" --mapping "$map" --pg "host=127.0.0.1 port=1"
expect_exit "run, source folder does not exist" 6
expect_err "run, source folder does not exist" \
  "mongonorm: error: could not open folder \"$work/nowhere\": No such file or directory"

# A folder that opens but holds no data is a source error (4), like an unreachable server.
mkdir -p "$work/nodata"
mn run --source "$work/nodata" --mapping "$map" --pg "host=127.0.0.1 port=1"
expect_exit "run, source folder without data" 4
expect_err "run, source folder without data" \
  "mongonorm: error: folder \"$work/nodata\" holds no .bson or .json file"

mkdir -p "$work/twodb/one" "$work/twodb/two"
cp "$dump/medichat/activity_logs.bson" "$work/twodb/one/"
cp "$dump/medichat/activity_logs.bson" "$work/twodb/two/"
mn run --source "$work/twodb" --mapping "$map" --pg "host=127.0.0.1 port=1"
expect_exit "run, source folder with two databases" 4
if head -n 1 "$err" | grep -qxF "mongonorm: error: folder \"$work/twodb\" holds several databases (\"one\", \"two\"): name the one to read" ||
   head -n 1 "$err" | grep -qxF "mongonorm: error: folder \"$work/twodb\" holds several databases (\"two\", \"one\"): name the one to read"; then
  pass "run, source folder with two databases: stderr"
else
  fail "run, source folder with two databases: stderr"; sed 's/^/#   /' "$err"
fi

# MongoDB, closed port: exit 4, and the password never shows.
secret=s3cretPW
uri="mongodb://user:$secret@127.0.0.1:1/db"
mn run --source "$uri" --mapping "$map" --pg "host=127.0.0.1 port=1"
expect_exit "run, MongoDB on a closed port" 4
prefix='mongonorm: error: could not connect to MongoDB at "mongodb://127.0.0.1:1/db": '
if [ "$(wc -l < "$err")" -eq 1 ] && [[ "$(cat "$err")" == "$prefix"*"connection refused"* ]]; then
  pass "run, MongoDB on a closed port: stderr"
else
  fail "run, MongoDB on a closed port: stderr"; diag stderr "$prefix...connection refused..." "$(cat "$err")"
fi
expect_secret_hidden "run, MongoDB on a closed port" "$secret"

run_env MONGODB_URI="$uri" "$MN_BIN" run --mapping "$map" --pg "host=127.0.0.1 port=1"
expect_exit "run, MONGODB_URI on a closed port" 4
expect_secret_hidden "run, MONGODB_URI on a closed port" "$secret"

mn run --source "mongodb://user:$secret@127.0.0.1:1/db?appname=%zz" --mapping "$map"
expect_exit "run, MongoDB URI that does not parse" 4
expect_secret_hidden "run, MongoDB URI that does not parse" "$secret"
mn run --source "mongodb://user:$secret@" --mapping "$map"
expect_exit "run, MongoDB URI without a host" 4
expect_err "run, MongoDB URI without a host" "mongonorm: error: could not parse MongoDB URI: Invalid host string in URI"
mn run --source "mongodb://user:$secret@127.0.0.1:1" --mapping "$map"
expect_exit "run, MongoDB URI without a database" 4
expect_err_head "run, MongoDB URI without a database" \
  "mongonorm: error: no database to read: the MongoDB URI names none and none was given"

# PostgreSQL that cannot be reached: exit 5, and the password never shows.
pgsecret=s3cretPG
for pg in "postgresql://bob:$pgsecret@127.0.0.1:1/x" \
          "host=127.0.0.1 port=1 user=bob password=$pgsecret dbname=x"; do
  mn check --mapping "$map" --pg "$pg"
  expect_exit "check --pg, closed port ($pg)" 5
  expect_err "check --pg, closed port ($pg)" \
    'mongonorm: error: could not connect to PostgreSQL: connection to server at "127.0.0.1", port 1 failed: Connection refused' \
    $'\tIs the server running on that host and accepting TCP/IP connections?'
  expect_secret_hidden "check --pg, closed port ($pg)" "$pgsecret"
done
# libpq quotes a URI it cannot parse in full, password included.
for pg in "postgresql://bob:$pgsecret@[::1/x" "postgresql://bob:$pgsecret@host/x?bogus=1"; do
  mn check --mapping "$map" --pg "$pg"
  expect_exit "check --pg, URI that does not parse ($pg)" 5
  expect_secret_hidden "check --pg, URI that does not parse ($pg)" "$pgsecret"
  mn run --source "$dump" --mapping "$map" --pg "$pg"
  expect_exit "run --pg, URI that does not parse ($pg)" 5
  expect_secret_hidden "run --pg, URI that does not parse ($pg)" "$pgsecret"
done

# ---- against PostgreSQL --------------------------------------------------------

pg_or_finish

hint_init='hint: run "mongonorm init" against this database first'

# A database where init was not run.
fresh=$(fresh_db mn_cli_fresh)
mn check --mapping "$map" --pg "$fresh"
expect_exit "check --pg, no schema" 5
expect_out "check --pg, no schema"
expect_err "check --pg, no schema" \
  'mongonorm: error: table "public.users" does not exist' "$hint_init"
mn run --quiet --source "$dump" --mapping "$map" --pg "$fresh" --rejects "$work/fresh.rejects"
expect_exit "run, init not run" 5
expect_err "run, init not run" \
  'mongonorm: error: table "public.users" does not exist' "$hint_init"
if [ -e "$work/fresh.rejects" ]; then fail "run, init not run: reject file created"; else pass "run, init not run: no reject file"; fi

# Tables made by hand (psql), mongonorm's own schema missing.
byhand=$(fresh_db mn_cli_byhand)
for f in "$MN_SOURCE_DIR"/sql/[0-9]*_*.sql; do
  psql "$byhand" -qX -v ON_ERROR_STOP=1 -1 -f "$f" >/dev/null 2>&1
done
mn run --quiet --source "$dump" --mapping "$map" --pg "$byhand" --rejects "$work/byhand.rejects"
# The tables a user made are enough: run creates its own bookkeeping schema itself.
expect_exit "run, tables present but init not run (mongonorm schema created)" 1
n=$(psql "$byhand" -qXAt -c "SELECT count(*) FROM mongonorm.runs WHERE outcome = 'success'")
if [ "$n" = 1 ]; then pass "run, tables by hand: the run is recorded"; else fail "run, tables by hand: $n runs recorded"; fi

# init: once applies, twice is up to date, and neither prints server notices.
target=$(fresh_db mn_cli_target)
nsql=$(ls "$MN_SOURCE_DIR"/sql/[0-9]*_*.sql | wc -l)
mn init --pg "$target" --sql-dir "$MN_SOURCE_DIR/sql"
expect_exit "init" 0
if [ "$nsql" -eq 1 ]; then expect_out "init" "applied 1 schema file"; else expect_out "init" "applied $nsql schema files"; fi
expect_err "init"
mn init --pg "$target" --sql-dir "$MN_SOURCE_DIR/sql"
expect_exit "init again" 0
expect_out "init again" "schema is up to date"
expect_err "init again"

# MediChat's mapping fits sql/001_schema.sql: no column type, NOT NULL, foreign-key or
# ON DELETE finding (its CASCADE keys are doc_id columns or references to users, loaded
# first; its SET NULL keys are references).
mn check --mapping "$map" --pg "$target"
expect_exit "check --pg after init" 0
expect_out "check --pg after init" \
  "mapping \"$map\" is valid: 3 collection(s), 12 table(s), all present in the target"
expect_err "check --pg after init"
# MediChat's own version table is written by its SQL file, mongonorm's record is apart.
got=$(psql "$target" -qXAt -c "SELECT version || ' ' || description FROM public.schema_migrations")
if [ "$got" = "1 MediChat target schema (15 tables)" ]; then pass "init: schema_migrations row from the file"; else fail "init: schema_migrations holds \"$got\""; fi
got=$(psql "$target" -qXAt -c "SELECT version || ' ' || name || ' ' || length(checksum) FROM mongonorm.schema_files")
if [ "$got" = "1 001_schema.sql 64" ]; then pass "init: mongonorm.schema_files"; else fail "init: mongonorm.schema_files holds \"$got\""; fi

other=$(fresh_db mn_cli_nosql)
mn init --pg "$other" --sql-dir "$work/nosql"
expect_exit "init, SQL folder missing" 6
expect_err "init, SQL folder missing" \
  "mongonorm: error: could not open SQL folder \"$work/nosql\": No such file or directory"

# ---- a schema that is not MediChat's: init, check against the column types, a run ----

mkdir -p "$work/own/sql" "$work/own/maps" "$work/own/src"
cat > "$work/own/sql/001_things.sql" <<'SQL'
CREATE TABLE public.things (
    id    uuid PRIMARY KEY,
    code  varchar(8),
    kind  char(3),
    price numeric(12,1),
    n     integer,
    ref   uuid,
    day   date,
    at    timestamp,
    r     real,
    doc   text
);
SQL
own=$(fresh_db mn_cli_own)
mn init --pg "$own" --sql-dir "$work/own/sql"
expect_exit "init --sql-dir, a user's own file into an empty database" 0
expect_out "init --sql-dir, a user's own file" "applied 1 schema file"
expect_err "init --sql-dir, a user's own file"
got=$(psql "$own" -qXAt -c "SELECT name FROM mongonorm.schema_files" \
  -c "SELECT to_regclass('public.schema_migrations') IS NULL")
if [ "$got" = "$(printf '001_things.sql\nt')" ]; then
  pass "init --sql-dir: recorded in mongonorm.schema_files, nothing of ours in public"
else
  fail "init --sql-dir: \"$got\""
fi
mn init --pg "$own" --sql-dir "$work/own/sql"
expect_exit "init --sql-dir twice" 0
expect_out "init --sql-dir twice" "schema is up to date"
expect_err "init --sql-dir twice"
# A file changed after it was applied: said, not applied again.
cp "$work/own/sql/001_things.sql" "$work/own/001.orig"
printf -- '-- an edit\n' >> "$work/own/sql/001_things.sql"
mn init --pg "$own" --sql-dir "$work/own/sql"
expect_exit "init, an applied file changed" 0
expect_out "init, an applied file changed" "schema is up to date"
expect_err "init, an applied file changed" \
  'mongonorm: warning: "001_things.sql" changed since it was applied; it is not applied again' \
  'hint: put a change to an applied schema into a new NNN_name.sql file'
cp "$work/own/001.orig" "$work/own/sql/001_things.sql"

# The mapping names the SQL folder, relative to itself.
cat > "$work/own/maps/lossy.yaml" <<'YAML'
version: 1
sql_dir: ../sql
collections:
  - collection: things
    tables:
      - table: things
        columns:
          code:  {path: code, type: text}
          kind:  {path: kind, type: text, enum: [a, bb, ccc]}
          price: {path: price, type: numeric}
          n:     {path: n, type: bigint}
          ref:   {path: ref, type: text}
          day:   {path: at, type: timestamptz}
          at:    {path: at, type: timestamptz}
          r:     {path: r, type: double precision}
          doc:   {path: doc, type: jsonb}
YAML
own2=$(fresh_db mn_cli_own2)
mn check --mapping "$work/own/maps/lossy.yaml" --pg "$own2"
expect_exit "check --pg, a missing table" 5
expect_err "check --pg, a missing table" \
  'mongonorm: error: table "public.things" does not exist' "$hint_init"
mn init --pg "$own2" --mapping "$work/own/maps/lossy.yaml"
expect_exit "init --mapping with sql_dir" 0
expect_out "init --mapping with sql_dir" "applied 1 schema file"

# check --pg: every column that can lose data, one line each, exit 3.
mn check --mapping "$work/own/maps/lossy.yaml" --pg "$own2"
expect_exit "check --pg, lossy column types" 3
expect_out "check --pg, lossy column types"
expect_err "check --pg, lossy column types" \
  'mongonorm: error: public.things.code: mapping type text, column type varchar(8): values longer than 8 characters do not fit' \
  'mongonorm: error: public.things.price: mapping type numeric, column type numeric(12,1): values with more than 1 decimal place would be rounded' \
  'mongonorm: error: public.things.n: mapping type bigint, column type integer: values outside the range of integer do not fit' \
  'mongonorm: error: public.things.ref: mapping type text, column type uuid: text that is not a uuid does not fit' \
  'mongonorm: error: public.things.day: mapping type timestamptz, column type date: the time of day would be dropped' \
  'mongonorm: error: public.things.at: mapping type timestamptz, column type timestamp: the time zone would be dropped (stored as the UTC wall-clock time)' \
  'mongonorm: error: public.things.r: mapping type double precision, column type real: values of more than 6 significant digits would be rounded' \
  "mongonorm: error: mapping \"$work/own/maps/lossy.yaml\" does not fit the target: 7 findings" \
  "hint: give the mapping the column's own type, or widen the column; at run time a value that would not fit follows the column's on_invalid policy"

# The same columns declared as the target has them: nothing to report.
cat > "$work/own/maps/fit.yaml" <<'YAML'
version: 1
collections:
  - collection: things
    tables:
      - table: things
        columns:
          code:  {path: code, type: text}
          price: {path: price, type: numeric, precision: 12, scale: 1, on_invalid: null}
          n:     {path: n, type: integer}
          ref:   {path: ref, type: uuid}
          day:   {path: day, type: date}
          r:     {path: r, type: real}
          doc:   {path: doc, type: jsonb}
YAML
mn check --mapping "$work/own/maps/fit.yaml" --pg "$own2"
expect_exit "check --pg, only code can be too long" 3
expect_err_head "check --pg, only code can be too long" \
  'mongonorm: error: public.things.code: mapping type text, column type varchar(8): values longer than 8 characters do not fit' \
  "mongonorm: error: mapping \"$work/own/maps/fit.yaml\" does not fit the target: 1 finding"

# At run time a value too long for varchar(8) is refused by its document, the reason
# names table.column, and the run carries on (exit 1); 8 two-byte characters fit.
cat > "$work/own/src/things.json" <<'JSON'
{"_id": {"$oid": "64b000000000000000000001"}, "code": "ÅÅÅÅÅÅÅÅ", "price": 21.9}
{"_id": {"$oid": "64b000000000000000000002"}, "code": "ÅÅÅÅÅÅÅÅÅ", "price": 1.5}
{"_id": {"$oid": "64b000000000000000000003"}, "code": "ok", "price": 21.95}
JSON
cat > "$work/own/maps/run.yaml" <<'YAML'
version: 1
collections:
  - collection: things
    tables:
      - table: things
        columns:
          code:  {path: code, type: text}
          price: {path: price, type: numeric, on_invalid: null}
YAML
mn run --quiet --source "$work/own/src" --mapping "$work/own/maps/run.yaml" --pg "$own2" \
  --rejects "$work/own/rejects.jsonl"
expect_exit "run, a value too long for varchar(8)" 1
expect_err "run, a value too long for varchar(8)" \
  "mongonorm: 1 document(s) rejected; see \"$work/own/rejects.jsonl\""
got=$(/usr/bin/python3 -c 'import json,sys; [print(json.loads(l)["reason"]) for l in open(sys.argv[1])]' \
  "$work/own/rejects.jsonl")
want='document { "$oid" : "64b000000000000000000002" }, field "code", column "things.code": text longer than column things.code varchar(8): 9 characters'
if [ "$got" = "$want" ]; then pass "run, varchar(8): the reject names table.column"; else fail "run, varchar(8): reason"; diag reason "$want" "$got"; fi
# numeric(12,1) would round 21.95: NULL and counted (on_invalid: null), never 22.0
# (a mapping that declares scale: 1 rounds it itself, and counts it).
got=$(psql "$own2" -qXAt -c "SELECT code || ' ' || coalesce(price::text, 'NULL') FROM things ORDER BY id")
want=$(printf 'ÅÅÅÅÅÅÅÅ 21.9\nok NULL')
if [ "$got" = "$want" ]; then pass "run, numeric(12,1): 21.95 not rounded"; else fail "run, numeric(12,1)"; diag rows "$want" "$got"; fi

# ---- check --pg: NOT NULL columns, foreign keys, ON DELETE (a generic schema) ----
#
# One schema per kind of finding (nn, fk, od), each with columns that must be reported
# and columns that must not (nullable, required, a default, a when that implies the value,
# row ids and parent keys, a declared reference, an INITIALLY DEFERRED key, a lookup table
# the user filled): stderr is compared whole, so a line too many fails as well.
tgt="$work/tgt"
mkdir -p "$tgt/sql" "$tgt/maps" "$tgt/src"
cat > "$tgt/sql/001_target.sql" <<'SQL'
CREATE SCHEMA nn;
CREATE TABLE nn.parents (
    id        uuid PRIMARY KEY,
    code      text NOT NULL,                         -- never written, no default
    created   timestamptz NOT NULL DEFAULT now(),    -- never written: its default
    serial_no bigint GENERATED ALWAYS AS IDENTITY,   -- never written: an identity
    name      text NOT NULL,                         -- missing gives NULL
    n         integer NOT NULL,                      -- missing, empty, invalid
    flag      boolean NOT NULL,                      -- a default that does not convert
    active    boolean NOT NULL,                      -- a default; "" is still NULL
    email     text NOT NULL,                         -- required: fine
    boss      uuid NOT NULL,                         -- a reference into its own collection
    buddy     uuid NOT NULL,                         -- dangling -> NULL; a later collection
    note      text                                   -- nullable
);
CREATE TABLE nn.tags (
    id        uuid PRIMARY KEY,
    parent_id uuid NOT NULL,
    ord       integer NOT NULL,
    tag       text NOT NULL,
    label     text NOT NULL
);
CREATE TABLE nn.others (id uuid PRIMARY KEY, k text NOT NULL, v integer, raw text NOT NULL);
CREATE TABLE nn.attrs (
    id uuid PRIMARY KEY, other_id uuid NOT NULL, k text NOT NULL, val text NOT NULL
);

CREATE SCHEMA fk;
CREATE TABLE fk.lookup_empty (code text PRIMARY KEY);
CREATE TABLE fk.lookup_full (code text PRIMARY KEY);
INSERT INTO fk.lookup_full VALUES ('FR');
CREATE TABLE fk.customers (id uuid PRIMARY KEY, name text);
CREATE TABLE fk.orders (
    id           uuid PRIMARY KEY,
    status       text REFERENCES fk.lookup_empty (code),  -- not mapped, empty
    country      text REFERENCES fk.lookup_full (code),   -- not mapped, filled by the user
    unused       text REFERENCES fk.lookup_empty (code),  -- not written
    customer_id  uuid REFERENCES fk.customers (id),       -- a path into a later collection
    customer_ref uuid REFERENCES fk.customers (id)        -- a declared reference: deferred
);
CREATE TABLE fk.lines (
    id uuid PRIMARY KEY, order_id uuid NOT NULL REFERENCES fk.orders (id), sku text
);
ALTER TABLE fk.orders ADD COLUMN first_line uuid REFERENCES fk.lines (id);
ALTER TABLE fk.orders ADD COLUMN last_line uuid
    REFERENCES fk.lines (id) DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE fk.audit (id uuid PRIMARY KEY, owner_id uuid REFERENCES fk.customers (id));
CREATE TABLE fk.profiles (id uuid PRIMARY KEY REFERENCES fk.customers (id), bio text);  -- 1:1

CREATE SCHEMA od;
CREATE TABLE od.teams (id uuid PRIMARY KEY, name text);
CREATE TABLE od.people (
    id        uuid PRIMARY KEY,
    team_id   uuid REFERENCES od.teams (id) ON DELETE CASCADE,      -- a path
    team2_id  uuid REFERENCES od.teams (id) ON DELETE SET NULL,     -- a path
    team3_id  uuid REFERENCES od.teams (id) ON DELETE CASCADE,      -- a reference to an earlier collection
    mentor_id uuid REFERENCES od.people (id) ON DELETE CASCADE,     -- a reference into its own
    buddy_id  uuid REFERENCES od.people (id) ON DELETE SET NULL,    -- the same, SET NULL
    coach_id  uuid REFERENCES od.people (id) ON DELETE SET DEFAULT  -- a path into its own
);
CREATE TABLE od.skills (
    id uuid PRIMARY KEY,
    person_id uuid NOT NULL REFERENCES od.people (id) ON DELETE CASCADE,  -- doc_id
    name text
);
SQL
cat > "$tgt/maps/notnull.yaml" <<'YAML'
version: 1
schema: nn
collections:
  - collection: parents
    tables:
      - table: parents
        columns:
          name:   {path: name}
          n:      {path: n, type: integer, on_invalid: null}
          flag:   {path: flag, type: boolean, default: "maybe"}
          active: {path: active, type: boolean, default: "true"}
          email:  {path: email, type: text, required: true}
          boss:   {path: boss, type: uuid, references: parents, required: true}
          buddy:  {path: buddy, type: uuid, references: others, required: true,
                   on_missing_reference: null}
          note:   {path: note, on_invalid: null}
      - table: tags
        each: tags
        columns:
          parent_id: {value: doc_id}
          ord:       {value: index}
        shapes:
          string:   {tag: {path: $, required: true, on_missing: skip_row}}
          document: {tag: {path: name, required: true}, label: {path: label, required: true}}
      - table: tags
        name: legacy_tag
        when: {nonempty: legacyTag}     # so tag is neither missing nor empty
        columns:
          parent_id: {value: doc_id}
          ord:       {const: "0"}
          tag:       {path: legacyTag, empty: null}
  - collection: others
    tables:
      - table: others
        columns:
          k: {value: key}
          v: {path: v, type: integer, on_invalid: null, raw_to: raw}
      - table: attrs
        each: attrs
        each_as: map
        columns:
          other_id: {value: doc_id}
          k:        {value: key}
          val:      {path: $, required: true, on_missing: skip_row}
YAML
cat > "$tgt/maps/fk.yaml" <<'YAML'
version: 1
schema: fk
collections:
  - collection: orders
    tables:
      - table: orders
        columns:
          status:       {path: status}
          country:      {path: country}
          customer_id:  {path: customer, type: uuid}
          customer_ref: {path: customerRef, type: uuid, references: customers,
                         on_missing_reference: null}
          first_line:   {path: firstLine, type: uuid}
          last_line:    {path: lastLine, type: uuid}
      - table: audit  # not in fk_run.yaml
        name: order_audit  # not in fk_run.yaml
        columns:  # not in fk_run.yaml
          owner_id: {value: doc_id}  # not in fk_run.yaml
      - table: lines
        each: lines
        columns:
          order_id: {value: doc_id}
          sku:      {path: sku}
  - collection: profiles  # not in fk_run.yaml
    tables:  # not in fk_run.yaml
      - table: profiles  # not in fk_run.yaml
        columns:  # not in fk_run.yaml
          bio: {path: bio}  # not in fk_run.yaml
  - collection: customers
    tables:
      - table: customers
        columns:
          name: {path: name}
      - table: audit  # not in fk_run.yaml
        name: customer_audit  # not in fk_run.yaml
        columns:  # not in fk_run.yaml
          owner_id: {value: doc_id}  # not in fk_run.yaml
YAML
cat > "$tgt/maps/ondelete.yaml" <<'YAML'
version: 1
schema: od
collections:
  - collection: teams
    tables:
      - table: teams
        columns:
          name: {path: name}
  - collection: people
    tables:
      - table: people
        columns:
          team_id:   {path: team, type: uuid}
          team2_id:  {path: team, type: uuid}
          team3_id:  {path: team, type: uuid, references: teams, on_missing_reference: null}
          mentor_id: {path: mentor, type: uuid, references: people, on_missing_reference: null}
          buddy_id:  {path: buddy, type: uuid, references: people, on_missing_reference: null}
          coach_id:  {path: coach, type: uuid}
      - table: skills
        each: skills
        columns:
          person_id: {value: doc_id}
          name:      {path: $}
YAML
tdb=$(fresh_db mn_cli_target_check)
mn init --pg "$tdb" --sql-dir "$tgt/sql"
expect_exit "init, the check schema" 0

hint_nn='hint: a NOT NULL column needs a value in every row: map it with "required: true" (a document without one is rejected, or the row skipped) or a "default", load a referenced collection before the one referencing it, or drop NOT NULL'
mn check --mapping "$tgt/maps/notnull.yaml" --pg "$tdb"
expect_exit "check --pg, NOT NULL columns" 3
expect_out "check --pg, NOT NULL columns"
expect_err "check --pg, NOT NULL columns" \
  'mongonorm: error: nn.parents.code: NOT NULL column without a default that the mapping never writes: every row would be refused (its document rejected)' \
  'mongonorm: error: nn.parents.name: NOT NULL column, but the mapping stores NULL when the value is missing: such documents would be rejected' \
  'mongonorm: error: nn.parents.n: NOT NULL column, but the mapping stores NULL when the value is missing: such documents would be rejected' \
  'mongonorm: error: nn.parents.n: NOT NULL column, but the mapping stores NULL when the value is an empty string: such documents would be rejected' \
  'mongonorm: error: nn.parents.n: NOT NULL column, but the mapping stores NULL when the value is invalid (on_invalid: null): such documents would be rejected' \
  'mongonorm: error: nn.parents.flag: NOT NULL column, but the mapping stores NULL when the value is missing (its default does not convert to the column): such documents would be rejected' \
  'mongonorm: error: nn.parents.flag: NOT NULL column, but the mapping stores NULL when the value is an empty string: such documents would be rejected' \
  'mongonorm: error: nn.parents.active: NOT NULL column, but the mapping stores NULL when the value is an empty string: such documents would be rejected' \
  'mongonorm: error: nn.parents.boss: NOT NULL column, but references into collection "parents" itself are written NULL first and set at the end of the collection (deferred): documents with a reference would be rejected' \
  'mongonorm: error: nn.parents.buddy: NOT NULL column, but the mapping stores NULL when the reference is dangling (on_missing_reference: null): such documents would be rejected' \
  'mongonorm: error: nn.parents.buddy: NOT NULL column, but references to collection "others", which loads after "parents", are written NULL first (deferred): documents with a reference would be rejected' \
  'mongonorm: error: nn.tags.label: NOT NULL column, but elements of entry "tags" of shape string do not write it: such documents would be rejected' \
  'mongonorm: error: nn.tags.label: NOT NULL column, but rows of entry "legacy_tag" do not write it: every row of that entry would be refused (its document rejected)' \
  'mongonorm: error: nn.others.k: NOT NULL column, but "value: key" of entry "others" is NULL, as it iterates no map: every row would be refused (its document rejected)' \
  'mongonorm: error: nn.others.raw: NOT NULL column, but only "raw_to" of column "v" writes it, when that value is invalid: every other row would be refused (its document rejected)' \
  'mongonorm: error: nn.attrs.k: NOT NULL column, but "value: key" is NULL when the value at "attrs" is an array or a single value, not a sub-document: such documents would be rejected' \
  "mongonorm: error: mapping \"$tgt/maps/notnull.yaml\" does not fit the target: 16 findings" \
  "$hint_nn"

hint_fk='hint: a referenced table must be loaded first: map it in an earlier collection (or entry), declare the column "references:" so that it is set once its target is loaded, or fill the table before the run'
mn check --mapping "$tgt/maps/fk.yaml" --pg "$tdb"
expect_exit "check --pg, foreign keys" 3
expect_out "check --pg, foreign keys"
expect_err "check --pg, foreign keys" \
  'mongonorm: error: fk.orders.customer_id: foreign key "orders_customer_id_fkey": fk.orders is loaded before the table it references, fk.customers (collection "orders" comes before "customers"): rows would be refused (their documents rejected)' \
  'mongonorm: error: fk.orders.first_line: foreign key "orders_first_line_fkey": fk.orders is loaded before the table it references, fk.lines (collection "orders" writes fk.orders before it in each batch): rows would be refused (their documents rejected)' \
  'mongonorm: error: fk.orders.status: foreign key "orders_status_fkey" references fk.lookup_empty, which the mapping does not load and which is empty: every row with a value would be refused (its document rejected)' \
  'mongonorm: error: fk.audit.owner_id: foreign key "audit_owner_id_fkey": fk.audit is loaded before the table it references, fk.customers (collection "orders" comes before "customers"): rows would be refused (their documents rejected)' \
  'mongonorm: error: fk.audit.owner_id: foreign key "audit_owner_id_fkey": fk.audit is loaded before the table it references, fk.customers (collection "customers" writes fk.audit before it in each batch): rows would be refused (their documents rejected)' \
  'mongonorm: error: fk.profiles.id: foreign key "profiles_id_fkey": fk.profiles is loaded before the table it references, fk.customers (collection "profiles" comes before "customers"): rows would be refused (their documents rejected)' \
  "mongonorm: error: mapping \"$tgt/maps/fk.yaml\" does not fit the target: 6 findings" \
  "$hint_fk"

mn check --mapping "$tgt/maps/ondelete.yaml" --pg "$tdb"
expect_exit "check --pg, ON DELETE actions" 3
expect_out "check --pg, ON DELETE actions"
expect_err "check --pg, ON DELETE actions" \
  'mongonorm: error: od.people.coach_id: foreign key "people_coach_id_fkey" is ON DELETE SET DEFAULT: when mongonorm deletes a row of od.people (its document gone from the source, or rejected now), PostgreSQL sets this column to its default in the rows of other documents that reference it, which stay recorded as loaded' \
  'mongonorm: error: od.people.mentor_id: foreign key "people_mentor_id_fkey" is ON DELETE CASCADE: when mongonorm deletes a row of od.people (its document gone from the source, or rejected now), PostgreSQL deletes the rows of other documents that reference it, which stay recorded as loaded' \
  'mongonorm: error: od.people.team2_id: foreign key "people_team2_id_fkey" is ON DELETE SET NULL: when mongonorm deletes a row of od.teams (its document gone from the source, or rejected now), PostgreSQL sets this column to NULL in the rows of other documents that reference it, which stay recorded as loaded' \
  'mongonorm: error: od.people.team_id: foreign key "people_team_id_fkey" is ON DELETE CASCADE: when mongonorm deletes a row of od.teams (its document gone from the source, or rejected now), PostgreSQL deletes the rows of other documents that reference it, which stay recorded as loaded' \
  "mongonorm: error: mapping \"$tgt/maps/ondelete.yaml\" does not fit the target: 4 findings" \
  'hint: declare the column "references:" to an earlier collection (a change there converts the referencing documents again), or use ON DELETE NO ACTION (such a deletion then fails instead)'

# Kinds together: every line, then the summary, then one hint per kind in a fixed order.
cat > "$tgt/maps/mixed.yaml" <<'YAML'
version: 1
schema: od
collections:
  - collection: people
    tables:
      - table: people
        columns:
          team_id: {path: team, type: text}
          coach_id: {path: coach, type: uuid}
      - table: skills
        each: skills
        columns:
          person_id: {value: doc_id}
          name: {path: $}
  - collection: teams
    tables:
      - table: teams
        columns:
          name: {path: name}
YAML
mn check --mapping "$tgt/maps/mixed.yaml" --pg "$tdb"
expect_exit "check --pg, findings of two kinds" 3
expect_err "check --pg, findings of two kinds" \
  'mongonorm: error: od.people.team_id: mapping type text, column type uuid: text that is not a uuid does not fit' \
  'mongonorm: error: od.people.coach_id: foreign key "people_coach_id_fkey" is ON DELETE SET DEFAULT: when mongonorm deletes a row of od.people (its document gone from the source, or rejected now), PostgreSQL sets this column to its default in the rows of other documents that reference it, which stay recorded as loaded' \
  'mongonorm: error: od.people.team_id: foreign key "people_team_id_fkey": od.people is loaded before the table it references, od.teams (collection "people" comes before "teams"): rows would be refused (their documents rejected)' \
  'mongonorm: error: od.people.team_id: foreign key "people_team_id_fkey" is ON DELETE CASCADE: when mongonorm deletes a row of od.teams (its document gone from the source, or rejected now), PostgreSQL deletes the rows of other documents that reference it, which stay recorded as loaded' \
  "mongonorm: error: mapping \"$tgt/maps/mixed.yaml\" does not fit the target: 4 findings" \
  "hint: give the mapping the column's own type, or widen the column; at run time a value that would not fit follows the column's on_invalid policy" \
  "$hint_fk" \
  'hint: declare the column "references:" to an earlier collection (a change there converts the referencing documents again), or use ON DELETE NO ACTION (such a deletion then fails instead)'

# The foreign-key findings are real: a run refuses exactly the documents they predict,
# and loads the ones whose keys check found fine (a lookup table the user filled, an
# INITIALLY DEFERRED key to a row of the same batch, a deferred declared reference).
# fk.yaml without its audit tables and the profiles collection
grep -v '# not in fk_run.yaml$' "$tgt/maps/fk.yaml" > "$tgt/maps/fk_run.yaml"
cat > "$tgt/src/orders.json" <<'JSON'
{"_id": {"$oid": "64c0000000000000000000a1"}, "country": "FR", "customerRef": {"$oid": "64c0000000000000000000c1"}, "lastLine": {"$oid": "64c0000000000000000000e1"}, "lines": [{"_id": {"$oid": "64c0000000000000000000e1"}, "sku": "x"}]}
{"_id": {"$oid": "64c0000000000000000000a2"}, "status": "new"}
{"_id": {"$oid": "64c0000000000000000000a3"}, "customer": {"$oid": "64c0000000000000000000c1"}}
{"_id": {"$oid": "64c0000000000000000000a4"}, "firstLine": {"$oid": "64c0000000000000000000e4"}, "lines": [{"_id": {"$oid": "64c0000000000000000000e4"}, "sku": "y"}]}
JSON
printf '%s\n' '{"_id": {"$oid": "64c0000000000000000000c1"}, "name": "c"}' > "$tgt/src/customers.json"
mn check --mapping "$tgt/maps/fk_run.yaml" --pg "$tdb"
expect_exit "check --pg, the foreign keys of the run" 3
expect_err_head "check --pg, the foreign keys of the run" \
  'mongonorm: error: fk.orders.customer_id: foreign key "orders_customer_id_fkey": fk.orders is loaded before the table it references, fk.customers (collection "orders" comes before "customers"): rows would be refused (their documents rejected)' \
  'mongonorm: error: fk.orders.first_line: foreign key "orders_first_line_fkey": fk.orders is loaded before the table it references, fk.lines (collection "orders" writes fk.orders before it in each batch): rows would be refused (their documents rejected)' \
  'mongonorm: error: fk.orders.status: foreign key "orders_status_fkey" references fk.lookup_empty, which the mapping does not load and which is empty: every row with a value would be refused (its document rejected)' \
  "mongonorm: error: mapping \"$tgt/maps/fk_run.yaml\" does not fit the target: 3 findings"
mn run --quiet --source "$tgt/src" --mapping "$tgt/maps/fk_run.yaml" --pg "$tdb" \
  --rejects "$tgt/rejects.jsonl"
expect_exit "run, the foreign keys check found" 1
got=$(/usr/bin/python3 -c 'import json,sys; [print(json.loads(l)["_id"]["$oid"], json.loads(l)["reason"].split("constraint ")[-1]) for l in open(sys.argv[1])]' \
  "$tgt/rejects.jsonl" | sort)
want=$(printf '%s\n' \
  '64c0000000000000000000a2 "orders_status_fkey")' \
  '64c0000000000000000000a3 "orders_customer_id_fkey")' \
  '64c0000000000000000000a4 "orders_first_line_fkey")')
if [ "$got" = "$want" ]; then pass "run: the documents refused are those check predicted"; else fail "run: refused documents"; diag rejects "$want" "$got"; fi
got=$(psql "$tdb" -qXAt -c "SELECT count(*) FROM fk.orders" -c "SELECT count(*) FROM fk.customers")
if [ "$got" = "$(printf '1\n1')" ]; then pass "run: the keys check found fine load"; else fail "run: orders, customers: $got"; fi

mn check --mapping "$map" --pg "$MN_TEST_PG_DSN user=nosuchuser password=$pgsecret"
expect_exit "check --pg, unknown role with a password" 5
line=$(head -n 1 "$err")
if [[ "$line" == "mongonorm: error: could not connect to PostgreSQL: connection to server "*' failed: FATAL:  role "nosuchuser" does not exist' ]]; then
  pass "check --pg, unknown role with a password: stderr"
else
  fail "check --pg, unknown role with a password: stderr"; sed 's/^/#   /' "$err"
fi
expect_secret_hidden "check --pg, unknown role with a password" "$pgsecret"

# A run with rejects: exit 1, how many and where; the report's fields.
rej="$work/run1.rejects"
mn run --source "$dump" --mapping "$map" --pg "$target" --rejects "$rej" --report "$work/run1.json"
expect_exit "run with rejects" 1
nrej=$(wc -l < "$rej")
expect_err "run with rejects" "mongonorm: $nrej document(s) rejected; see \"$rej\""
if [ "$nrej" -gt 0 ]; then pass "run with rejects: $nrej line(s) in the reject file"; else fail "run with rejects: reject file empty"; fi
if head -n 1 "$out" | grep -q '^collection  *read  *loaded  *unchanged  *rejected  *deleted'; then
  pass "run with rejects: statistics table on stdout"
else
  fail "run with rejects: no statistics table on stdout"; head -3 "$out" | sed 's/^/#   /'
fi
mode=$(stat -c %a "$rej")
if [ "$mode" = 600 ]; then pass "run with rejects: reject file mode 0600"; else fail "run with rejects: reject file mode $mode"; fi

# report FILE REJECTS FIRST|AGAIN: check the JSON report's shape and sums.
report_check() {
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import json, sys
path, rejects, phase = sys.argv[1:4]
bad = []
try:
    r = json.load(open(path))
except Exception as e:
    print(f"not JSON: {e}")
    sys.exit()
colls = r.get("collections", {})
tables = r.get("tables", {})
want_c = {"users", "conversations", "activity_logs"}
want_t = {"users", "patient_medical_info", "allergies", "medications", "medical_history",
          "emergency_contacts", "conversations", "messages", "symptoms", "attachments",
          "prescriptions", "activity_logs"}
if set(colls) != want_c:
    bad.append(f"collections {sorted(colls)}")
if set(tables) != want_t:
    bad.append(f"tables {sorted(tables)}")
for name, c in colls.items():
    for k in ("read", "loaded", "rejected"):
        if not isinstance(c.get(k), int):
            bad.append(f"collections.{name}.{k} = {c.get(k)!r}")
    if all(isinstance(c.get(k), int) for k in ("read", "loaded", "rejected")) \
            and c["read"] != c["loaded"] + c["rejected"]:
        bad.append(f"collections.{name}: read != loaded + rejected")
for name, t in tables.items():
    for k in ("inserted", "updated", "deleted", "unchanged", "rejected"):
        if not isinstance(t.get(k), int):
            bad.append(f"tables.{name}.{k} = {t.get(k)!r}")
if not bad:
    nrej = sum(1 for _ in open(rejects))
    if sum(c["rejected"] for c in colls.values()) != nrej:
        bad.append("rejected documents != lines in the reject file")
    if sum(c["read"] for c in colls.values()) == 0:
        bad.append("nothing read")
    written = sum(t["inserted"] + t["updated"] + t["deleted"] for t in tables.values())
    if phase == "first" and sum(t["inserted"] for t in tables.values()) == 0:
        bad.append("first run inserted nothing")
    if phase == "again" and written != 0:
        bad.append(f"second run wrote {written} rows")
    if phase == "again" and sum(t["unchanged"] for t in tables.values()) == 0:
        bad.append("second run: nothing unchanged")
print("ok" if not bad else "; ".join(bad))
PY
}
res=$(report_check "$work/run1.json" "$rej" first)
if [ "$res" = ok ]; then pass "--report: collections.*.{read,loaded,rejected}, tables.*.{inserted,...}"; else fail "--report: $res"; fi

# Again, quietly: same rejects, nothing written, nothing on stdout.
mn run --quiet --source "$dump" --mapping "$map" --pg "$target" --rejects "$rej" --report "$work/run2.json"
expect_exit "run again --quiet" 1
expect_out "run again --quiet"
expect_err "run again --quiet" "mongonorm: $(wc -l < "$rej") document(s) rejected; see \"$rej\""
res=$(report_check "$work/run2.json" "$rej" again)
if [ "$res" = ok ]; then pass "--report on a second run: nothing written"; else fail "--report on a second run: $res"; fi

# Output files that cannot be written.
mn run --quiet --source "$dump" --mapping "$map" --pg "$target" --rejects "$work/nodir/r.jsonl"
expect_exit "run, reject file cannot be created" 6
expect_err "run, reject file cannot be created" \
  "mongonorm: error: could not create reject file \"$work/nodir/r.jsonl\": No such file or directory"
mn run --quiet --source "$dump" --mapping "$map" --pg "$target" --rejects "$rej" --report "$work/nodir/r.json"
expect_exit "run, report cannot be written" 6
expect_err_head "run, report cannot be written" \
  "mongonorm: error: could not write report \"$work/nodir/r.json\": No such file or directory"

# A clean run: exit 0, nothing on stderr.
clean=$(fresh_db mn_cli_clean)
mkdir -p "$work/clean"
cp "$dump/medichat/activity_logs.bson" "$work/clean/"
: >"$work/clean/users.bson" # present and empty: a mapped collection must be in the source
: >"$work/clean/conversations.bson"
"$MN_BIN" init --pg "$clean" --sql-dir "$MN_SOURCE_DIR/sql" >/dev/null 2>&1
mn run --quiet --source "$work/clean" --mapping "$map" --pg "$clean" --rejects "$work/clean.rejects"
expect_exit "run without rejects" 0
expect_out "run without rejects"
expect_err "run without rejects"

# The run lock: another session holds it, the second run stops at once with 7.
holder_app=mn_cli_lock_holder
release_lock() {
  psql "$MN_TEST_PG_DSN" -qXAt -c \
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$holder_app'" \
    >/dev/null 2>&1 || true
  if [ -n "${holder:-}" ]; then kill "$holder" 2>/dev/null || true; wait "$holder" 2>/dev/null || true; fi
  holder=
}
trap release_lock EXIT
PGAPPNAME=$holder_app psql "$target" -qXAt -c "SELECT pg_advisory_lock(7236481590123)" \
  -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
held=0
for _ in $(seq 1 100); do
  held=$(psql "$target" -qXAt -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
                                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
  [ "$held" -gt 0 ] && break
  sleep 0.1
done
if [ "$held" -gt 0 ]; then pass "lock: held by a background session"; else fail "lock: background session did not get it"; fi

start=$(date +%s%N)
mn run --quiet --source "$dump" --mapping "$map" --pg "$target" --rejects "$work/locked.rejects"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_exit "run while another holds the lock" 7
expect_err "run while another holds the lock" \
  "mongonorm: error: another mongonorm run is using this target database"
if [ "$ms" -lt 10000 ]; then pass "run while locked stops at once (${ms} ms)"; else fail "run while locked took ${ms} ms"; fi
mn init --pg "$target" --sql-dir "$MN_SOURCE_DIR/sql"
expect_exit "init while another holds the lock" 7
expect_err "init while another holds the lock" \
  "mongonorm: error: another mongonorm run is using this target database"
mn check --mapping "$map" --pg "$target"
expect_exit "check (read-only) while another holds the lock" 0

release_lock
mn run --quiet --source "$dump" --mapping "$map" --pg "$target" --rejects "$work/after.rejects"
expect_exit "run after the lock is released" 1

# ---- the summary as people read it ----------------------------------------------

# stdout and stderr into one file: the note on the rejects comes after the whole table
# (stdout is flushed before anything goes to stderr).
both_db=$(init_db mn_cli_both --sql-dir "$MN_SOURCE_DIR/sql")
try "$MN_BIN" run --source "$dump" --mapping "$map" --pg "$both_db" --rejects "$work/both.rejects" \
  >"$work/both.txt" 2>&1
total_at=$(grep -n '^total time' "$work/both.txt" | cut -d: -f1)
note_at=$(grep -n 'document(s) rejected; see' "$work/both.txt" | cut -d: -f1)
if [ -n "$total_at" ] && [ -n "$note_at" ] && [ "$note_at" -gt "$total_at" ]; then
  pass "stdout and stderr in one file: the rejects note after the table"
else
  fail "stdout and stderr in one file: the rejects note at line ${note_at:-none}, the table ends at ${total_at:-none}"
fi
# The reasons name collections and tables (names are not PHI), never values.
if grep -q 'reference to a document of collection "users" that' "$work/both.txt" &&
  ! grep -q 'collection "\.\.\."' "$work/both.txt"; then
  pass "reject reasons keep collection names"
else
  fail "reject reasons keep collection names: $(grep -m2 'reference to' "$work/both.txt")"
fi

# A long table name keeps the columns aligned: every row of the tables section has its
# numbers ending where the header's "coerced" ends.
long=a_table_whose_name_is_much_longer_than_twenty_four
long_db=$(fresh_db mn_cli_long)
psql "$long_db" -qX -c "CREATE TABLE $long (id uuid PRIMARY KEY, name text)"
one_table_mapping things "$long" > "$work/long.yaml" <<'YAML'
name: {path: name, type: text}
YAML
mkdir -p "$work/long-src"
printf '{"_id": 1, "name": "x"}\n{"_id": 2, "name": "y"}\n' > "$work/long-src/things.json"
mn run --source "$work/long-src" --mapping "$work/long.yaml" --pg "$long_db" --rejects "$work/long.rejects"
expect_exit "run into a table with a long name" 0
widths=$(sed -n '/^table /,/^$/p' "$out" | grep -v '^$' | grep -v '^ ' | awk '{ print length($0) }' | sort -u)
if [ "$(echo "$widths" | wc -l)" -eq 1 ] && grep -q "^$long " "$out"; then
  pass "long table name: the table rows are aligned"
else
  fail "long table name: row widths $(echo "$widths" | tr '\n' ' ')"
  sed 's/^/#   /' "$out"
fi

# ---- progress ------------------------------------------------------------------------

# Not a terminal: a plain line per collection now and then (here every 0 s, so at its first
# count), with the documents and the share of the source read; --quiet writes none.
prog_db=$(init_db mn_cli_progress --sql-dir "$MN_SOURCE_DIR/sql")
MN_PROGRESS_EVERY=0 try "$MN_BIN" run --source "$dump" --mapping "$map" --pg "$prog_db" \
  --rejects "$work/prog.rejects" >/dev/null 2>"$work/prog.err"
if grep -qx 'mongonorm: users: 30 documents, 100.0%' "$work/prog.err" &&
  grep -qx 'mongonorm: activity_logs: 80 documents, 100.0%' "$work/prog.err" &&
  ! grep -q $'\r' "$work/prog.err"; then
  pass "progress, not a terminal: plain lines per collection"
else
  fail "progress, not a terminal: $(head -3 "$work/prog.err")"
fi
prog_db=$(init_db mn_cli_progress --sql-dir "$MN_SOURCE_DIR/sql")
MN_PROGRESS_EVERY=0 try "$MN_BIN" run --quiet --source "$dump" --mapping "$map" --pg "$prog_db" \
  --rejects "$work/prog.rejects" >/dev/null 2>"$work/prog.err"
if ! grep -q 'documents' "$work/prog.err"; then
  pass "progress: --quiet writes none"
else
  fail "progress: --quiet wrote $(head -1 "$work/prog.err")"
fi
# On a terminal (script(1) gives the run one): one line redrawn in place.
if command -v script >/dev/null; then
  prog_db=$(init_db mn_cli_progress --sql-dir "$MN_SOURCE_DIR/sql")
  script -qec "$MN_BIN run --source $dump --mapping $map --pg '$prog_db' --rejects $work/prog.rejects" \
    /dev/null >"$work/prog.tty" 2>&1 || true
  if grep -q $'\r\033\[Kusers  *30 documents 100.0%' "$work/prog.tty"; then
    pass "progress, on a terminal: the line redrawn in place"
  else
    fail "progress, on a terminal: $(tr '\r' '\n' < "$work/prog.tty" | head -3)"
  fi
else
  fail "progress, on a terminal: script(1) is missing"
fi
finish
