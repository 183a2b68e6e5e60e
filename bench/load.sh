#!/usr/bin/env bash
# The full-load benchmark (issue 10): mongonorm's full load side by side with the
# single-stream ceiling and a row-by-row peer, on fresh databases of one PostgreSQL
# server with default durability (fsync on). Not a test: it never fails on a time; it
# exits 0 unless a step fails.
#
# usage: bench/load.sh [SCALE]              side by side at SCALE (default 10000: about
#                                           140,000 documents and 820,000 rows; 72000:
#                                           about 1M documents)
#        bench/load.sh --memory [S1,S2,...] peak RSS of the full load at each scale
#                                           (default 1000,10000,72000: about 14k, 140k
#                                           and 1M documents)
#        bench/load.sh --incremental [SCALE] [PERCENT]   an incremental run into a
#                                           non-empty target against the ceiling (below)
#
# Side by side, each into a fresh database of the bench's server (CREATE DATABASE, then
# `mongonorm init`):
#   mongonorm   `mongonorm run --quiet` of the generated mongodump folder;
#   ceiling     psql, one connection, one transaction, a \copy of exactly the rows
#               mongonorm produced (each of its tables exported with COPY TO, text
#               format, parents first as the foreign keys need), every index, key and FK
#               in place;
#   ceiling, indexes + FKs after   the same, with the secondary indexes and FKs dropped
#               first and recreated after the data in the same transaction (what a fast
#               initial load can reach; the target ends as `init` made it, checked);
#   peer        Node.js with the `pg` package (bench/peer/), one awaited parameterised
#               INSERT per row, on a sample of the same rows closed under the FKs.
# Prints documents, rows, COPY MB, wall s, documents/s, rows/s, MB/s, peak RSS, the
# client's CPU and the server's CPU (its backend and its other processes), and the ratios
# mongonorm / ceiling (goal <= 0.5) and mongonorm vs peer (goal >= 20x); the same as JSON
# in BUILD_DIR/bench-load/scale-SCALE/result.json (memory: BUILD_DIR/bench-load/memory/
# memory.json). Peak RSS and CPU come from wait4() (bench/measure.py), the server's CPU
# from /proc of its processes.
#
# --incremental: the first PERCENT % (default 90) of each collection loaded by mongonorm
# into a base database (not measured; bench/dumpcut.py cuts the dump), then per round two
# copies of it (CREATE DATABASE ... TEMPLATE, then CHECKPOINT): into one, `mongonorm run`
# of the whole dump (the other documents are new: merge mode, every index and FK in
# place); into the other, the ceiling: psql, one transaction, a \copy of exactly the
# rows that run inserted (bench/pgtables.py export-new: its rows whose primary key the
# base lacks). Prints both and mongonorm / ceiling (issue 10's goal: <= 1.0); JSON in
# BUILD_DIR/bench-load/incremental-SCALE/result.json.
#
# Environment: MN_BENCH_REPEAT=N (median of N runs, default 1); MN_BENCH_PEER_ROWS
# (sample size, default 50000; 0: no peer); MN_BENCH_PEER_SECONDS (the peer's time cap,
# default 120); MN_BENCH_FAST=0 (no indexes-after column); MN_BENCH_RUN_ARGS (more options
# of mongonorm's full load, e.g. "--jobs 2"); and bench/lib.sh's BUILD_DIR,
# MN_BENCH_PG_PORT (default 54341), MN_BENCH_KEEP, MN_BENCH_MODEL/MAPPING/SQL.
# Generated data is made once per scale and kept in BUILD_DIR/bench-data. The peer's npm
# packages are installed from the registry (`npm ci`) into bench/peer/node_modules.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
repeat=${MN_BENCH_REPEAT:-1}
peer_rows=${MN_BENCH_PEER_ROWS:-50000}
peer_seconds=${MN_BENCH_PEER_SECONDS:-120}
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "MN_BENCH_REPEAT must be a positive number"
[[ $peer_rows =~ ^[0-9]+$ ]] || die "MN_BENCH_PEER_ROWS must be a number"

peer_install() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    die "the peer needs node and npm: bash scripts/setup.sh --bench"
  fi
  local installed=$top/bench/peer/node_modules/.package-lock.json
  if [ ! -f "$installed" ] || [ "$top/bench/peer/package-lock.json" -nt "$installed" ]; then
    say "installing the peer's npm packages (npm ci)"
    (cd "$top/bench/peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
      die "npm ci in bench/peer failed"
  fi
}

# run_peer R DB: the peer's inserts of the sample into a fresh DB.
run_peer() {
  local r=$1 db=$2 host port_
  fresh_db "$db"
  host=$(sed -n 's/.*host=\([^ ]*\).*/\1/p' <<<"$dsn")
  port_=$(sed -n 's/.*port=\([^ ]*\).*/\1/p' <<<"$dsn")
  PGHOST=$host PGPORT=$port_ PGUSER=postgres PGDATABASE=$db \
    measure "$out/peer-$r.json" "$db" node "$top/bench/peer/peer.js" "$out/sample/manifest.json" \
    "$peer_seconds" >"$out/peer-$r.out" || die "the peer failed"
  drop_db "$db"
}

# one_round R: every method once, each into its own fresh database.
one_round() {
  local r=$1
  say "round $r/$repeat: mongonorm's full load"
  load_mongonorm "mnb_load_$r" "$data" "$out/mongonorm-$r.json" "$out/report-$r.json"
  if [ "$r" = 1 ]; then
    say "exporting the loaded tables for the ceiling"
    python3 "$top/bench/pgtables.py" export "$dsn dbname=mnb_load_1" "$out/report-1.json" "$out/copy"
    python3 "$top/bench/pgtables.py" ceiling "$out/copy/manifest.json" "$out/ceiling.sql"
    if [ "$peer_rows" -gt 0 ]; then
      python3 "$top/bench/pgtables.py" sample "$dsn dbname=mnb_load_1" "$out/copy/manifest.json" \
        "$peer_rows" "$out/sample"
    fi
  fi
  drop_db "mnb_load_$r"
  say "round $r/$repeat: the ceiling"
  fresh_db "mnb_ceil_$r"
  measure "$out/ceiling-$r.json" "mnb_ceil_$r" psql -Xq -d "$dsn dbname=mnb_ceil_$r" \
    -f "$out/ceiling.sql" || die "the ceiling's psql failed"
  drop_db "mnb_ceil_$r"
  if [ "${MN_BENCH_FAST:-1}" != 0 ]; then
    say "round $r/$repeat: the ceiling, indexes and FKs after the data"
    fresh_db "mnb_fast_$r"
    [ "$r" != 1 ] || python3 "$top/bench/pgtables.py" schema "$dsn dbname=mnb_fast_1" >"$out/schema.init"
    python3 "$top/bench/pgtables.py" fast "$dsn dbname=mnb_fast_$r" "$out/copy/manifest.json" \
      "$out/fast.sql"
    measure "$out/fast-$r.json" "mnb_fast_$r" psql -Xq -d "$dsn dbname=mnb_fast_$r" \
      -f "$out/fast.sql" || die "the indexes-after ceiling's psql failed"
    if [ "$r" = 1 ]; then
      cmp -s "$out/schema.init" <(python3 "$top/bench/pgtables.py" schema "$dsn dbname=mnb_fast_1") ||
        die "the indexes-after ceiling did not end with the schema init creates"
    fi
    drop_db "mnb_fast_$r"
  fi
  if [ "$peer_rows" -gt 0 ]; then
    say "round $r/$repeat: the row-by-row peer"
    run_peer "$r" "mnb_peer_$r"
  fi
}

side_by_side() {
  local scale=${1:-10000}
  [[ $scale =~ ^[0-9]+$ ]] || die "SCALE must be a number, not \"$scale\""
  bench_start
  [ "$peer_rows" -eq 0 ] || peer_install
  data=$(bench_data "$scale")
  out=$build/bench-load/scale-$scale
  rm -rf "$out" && mkdir -p "$out"
  python3 -c 'import json,sys
json.dump({"scale": int(sys.argv[1]), "documents": int(sys.argv[2]), "repeat": int(sys.argv[3]),
           "server": sys.argv[4], "mongonorm": sys.argv[5],
           "load_average": open("/proc/loadavg").read().split()[0]}, open(sys.argv[6], "w"))' \
    "$scale" "$(bench_documents "$data")" "$repeat" "$server" "$("$bin" --version)" "$out/info.json"
  local r
  for r in $(seq "$repeat"); do one_round "$r"; done
  drop_all_dbs
  python3 "$top/bench/report.py" load "$out"
}

memory_curve() {
  local scales=${1:-1000,10000,72000} scale r pairs=()
  [[ $scales =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--memory takes scales like 1000,10000,72000"
  bench_start
  out=$build/bench-load/memory
  rm -rf "$out" && mkdir -p "$out"
  for scale in ${scales//,/ }; do
    data=$(bench_data "$scale")
    pairs+=("[$scale, $(bench_documents "$data")]")
    for r in $(seq "$repeat"); do
      say "scale $scale, run $r/$repeat: mongonorm's full load"
      load_mongonorm "mnb_mem_$r" "$data" "$out/mongonorm-$scale-$r.json" "$out/report-$scale-$r.json"
      drop_db "mnb_mem_$r"
    done
  done
  python3 -c 'import json,sys
json.dump({"scales": json.loads(sys.argv[1]), "repeat": int(sys.argv[2]), "server": sys.argv[3],
           "mongonorm": sys.argv[4], "load_average": open("/proc/loadavg").read().split()[0]},
          open(sys.argv[5], "w"))' \
    "[$(IFS=,; echo "${pairs[*]}")]" "$repeat" "$server" "$("$bin" --version)" "$out/info.json"
  drop_all_dbs
  python3 "$top/bench/report.py" memory "$out"
}

incremental_load() {
  local scale=${1:-10000} percent=${2:-90} r
  [[ $scale =~ ^[0-9]+$ ]] || die "SCALE must be a number, not \"$scale\""
  [[ $percent =~ ^[0-9]+$ && $percent -lt 100 ]] || die "PERCENT must be a number below 100"
  bench_start
  data=$(bench_data "$scale")
  out=$build/bench-load/incremental-$scale
  rm -rf "$out" && mkdir -p "$out"
  say "the first $percent% of each collection: the base database"
  read -r kept total < <(python3 "$top/bench/dumpcut.py" "$data" "$out/part" "$percent")
  load_mongonorm mnb_inc_base "$out/part" "$out/base.json" "$out/base-report.json"
  python3 -c 'import json,sys
json.dump({"scale": int(sys.argv[1]), "documents": int(sys.argv[2]), "base_documents": int(sys.argv[3]),
           "repeat": int(sys.argv[4]), "server": sys.argv[5], "mongonorm": sys.argv[6],
           "load_average": open("/proc/loadavg").read().split()[0]}, open(sys.argv[7], "w"))' \
    "$scale" "$total" "$kept" "$repeat" "$server" "$("$bin" --version)" "$out/info.json"
  for r in $(seq "$repeat"); do
    say "round $r/$repeat: mongonorm's run into a copy of the base"
    pg_sql postgres "DROP DATABASE IF EXISTS mnb_inc_$r" "CREATE DATABASE mnb_inc_$r TEMPLATE mnb_inc_base" "CHECKPOINT"
    bench_dbs+=("mnb_inc_$r")
    local rc=0
    measure "$out/mongonorm-$r.json" "mnb_inc_$r" "$bin" run --quiet --pg "$dsn dbname=mnb_inc_$r" \
      --source "$data" --mapping "$mapping" --rejects "$out/report-$r.rejects.jsonl" \
      --report "$out/report-$r.json" 2>"$out/report-$r.stderr" || rc=$?
    [ "$rc" -le 1 ] || { cat "$out/report-$r.stderr" >&2; die "mongonorm run into mnb_inc_$r exited $rc"; }
    if [ "$r" = 1 ]; then
      say "exporting the rows the run inserted, for the ceiling"
      python3 "$top/bench/pgtables.py" export-new "$dsn dbname=mnb_inc_base" "$dsn dbname=mnb_inc_1" \
        "$out/report-1.json" "$out/copy"
      python3 "$top/bench/pgtables.py" ceiling "$out/copy/manifest.json" "$out/ceiling.sql"
    fi
    drop_db "mnb_inc_$r"
    say "round $r/$repeat: the ceiling into a copy of the base"
    pg_sql postgres "DROP DATABASE IF EXISTS mnb_incceil_$r" "CREATE DATABASE mnb_incceil_$r TEMPLATE mnb_inc_base" "CHECKPOINT"
    bench_dbs+=("mnb_incceil_$r")
    measure "$out/ceiling-$r.json" "mnb_incceil_$r" psql -Xq -d "$dsn dbname=mnb_incceil_$r" \
      -f "$out/ceiling.sql" || die "the ceiling's psql failed"
    drop_db "mnb_incceil_$r"
  done
  drop_all_dbs
  python3 "$top/bench/report.py" incremental "$out"
}

case "${1:-}" in
--memory) memory_curve "${2:-}" ;;
--incremental) incremental_load "${2:-}" "${3:-}" ;;
-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
*) side_by_side "${1:-}" ;;
esac
