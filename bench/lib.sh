# shellcheck shell=bash disable=SC2034  # (variables used by the scripts that source it)
# Shared by bench/load.sh and bench/profile.sh (sourced, not run). Expects `top` (the
# repository) to be set. Settings, from the environment:
#   BUILD_DIR            the build folder (default: build); the bench builds into it
#   MN_BENCH_PG_PORT     port of the bench's own PostgreSQL cluster (default 54341), which
#                        runs with PostgreSQL's default durability (fsync on) from
#                        BUILD_DIR/bench-pg, apart from the fsync-off test server
#   MN_BENCH_MODEL, MN_BENCH_MAPPING, MN_BENCH_SQL   the generator model, mapping and
#                        schema folder (default: MediChat's)
#   MN_BENCH_KEEP=1      keep the bench's databases at the end (default: dropped)
build=$(mkdir -p "${BUILD_DIR:-$top/build}" && cd "${BUILD_DIR:-$top/build}" && pwd)
bin=$build/mongonorm
model=${MN_BENCH_MODEL:-$top/fixtures/medichat/generator.yaml}
mapping=${MN_BENCH_MAPPING:-$top/mapping/medichat.yaml}
sqldir=${MN_BENCH_SQL:-$top/sql}
port=${MN_BENCH_PG_PORT:-54341}
bench_dbs=()

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# Install what is missing (scripts/setup.sh --bench), build mongonorm and start the
# bench's server; sets dsn, pgdata and server (a line describing it).
bench_start() {
  bash "$top/scripts/setup.sh" --bench || die "scripts/setup.sh --bench failed"
  say "building into $build"
  BUILD_DIR=$build bash "$top/scripts/build.sh" || die "the build failed"
  dsn=$(MN_PG_DURABLE=1 MN_PG_PORT=$port bash "$top/scripts/pg.sh" start "$build/bench-pg") ||
    die "could not start the bench's PostgreSQL server"
  pgdata=$(cat "$build/bench-pg/pg.path")/data
  trap 'drop_all_dbs 2>/dev/null || true' EXIT  # also when a step fails
  server=$(pg_sql postgres "SELECT format('PostgreSQL %s, fsync %s, synchronous_commit %s, shared_buffers %s',
    current_setting('server_version'), current_setting('fsync'),
    current_setting('synchronous_commit'), current_setting('shared_buffers'))")", $(nproc) CPU(s)"
  [ "$(pg_sql postgres "SHOW fsync")" = on ] ||
    die "the server at $build/bench-pg runs with fsync off: stop it (MN_PG_PORT=$port bash scripts/pg.sh stop $build/bench-pg) and rerun"
}

# pg_sql DB SQL...: run statements in database DB, print unaligned rows.
pg_sql() {
  local db=$1
  shift
  local args=()
  for s in "$@"; do args+=(-c "$s"); done
  PGOPTIONS=--client-min-messages=warning psql "$dsn dbname=$db" -XAtq -v ON_ERROR_STOP=1 "${args[@]}"
}

# The generated data at scale S, made once and kept in BUILD_DIR/bench-data/scale-S.
bench_data() {
  local scale=$1 dir=$build/bench-data/scale-$1
  if [ ! -f "$dir/manifest.json" ]; then
    say "generating scale $scale into $dir"
    rm -rf "$dir" "$dir.tmp"
    "$bin" generate --model "$model" --scale "$scale" --out "$dir.tmp" --quiet ||
      die "could not generate scale $scale"
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

# documents in a generated folder, from its manifest
bench_documents() {
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))
print(sum(c["documents"] for c in m["collections"].values()))' "$1/manifest.json"
}

# fresh_db NAME: an empty database with the schema `init` creates, written to disk
# (CHECKPOINT) so the measurement that follows does not pay for earlier steps.
fresh_db() {
  pg_sql postgres "DROP DATABASE IF EXISTS $1" "CREATE DATABASE $1" || die "could not create database $1"
  bench_dbs+=("$1")
  "$bin" init --pg "$dsn dbname=$1" --sql-dir "$sqldir" >/dev/null || die "init of $1 failed"
  pg_sql postgres "CHECKPOINT"
}

drop_db() {
  [ "${MN_BENCH_KEEP:-0}" = 1 ] || pg_sql postgres "DROP DATABASE IF EXISTS $1"
}

drop_all_dbs() {
  local db
  for db in "${bench_dbs[@]}"; do drop_db "$db"; done
  bench_dbs=()
}

# measure OUT DB COMMAND...: bench/measure.py (wall, CPU, peak RSS, the server's CPU
# for database DB); returns the command's status.
measure() {
  local out=$1 db=$2
  shift 2
  python3 "$top/bench/measure.py" --out "$out" --db "$db" --pgdata "$pgdata" -- "$@"
}

# load_mongonorm DB DATA OUT REPORT [WRAPPER...]: mongonorm's full load of DATA into a
# fresh DB, measured into OUT; exit 0 or 1 (some documents rejected) is success.
load_mongonorm() {
  local db=$1 data=$2 out=$3 report=$4
  shift 4
  fresh_db "$db"
  local rc=0
  # MN_BENCH_RUN_ARGS: more options of the run (e.g. "--jobs 2"), split on blanks
  # shellcheck disable=SC2086
  measure "$out" "$db" "$@" "$bin" run --quiet ${MN_BENCH_RUN_ARGS:-} --pg "$dsn dbname=$db" --source "$data" \
    --mapping "$mapping" --rejects "${report%.json}.rejects.jsonl" --report "$report" \
    2>"${report%.json}.stderr" || rc=$?
  [ "$rc" -le 1 ] || { cat "${report%.json}.stderr" >&2; die "mongonorm run into $db exited $rc"; }
}
