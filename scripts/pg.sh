#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and the demo, listening only on a
# Unix socket. Usage: scripts/pg.sh start|stop|dsn [BUILD_DIR]
# The cluster lives in BUILD_DIR/pg (or, when the postgres user cannot reach
# the build folder, in a private folder under /tmp named in BUILD_DIR/pg.path).
# MN_PG_PORT picks the port (default 54329). The test server runs with fsync and
# full_page_writes off; MN_PG_DURABLE=1 keeps PostgreSQL's default durability instead, as
# users run it (the benchmarks' server, in its own BUILD_DIR).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-start}
build=${2:-${BUILD_DIR:-$top/build}}
mkdir -p "$build"
build=$(cd "$build" && pwd)
bin=/usr/lib/postgresql/15/bin
port=${MN_PG_PORT:-54329}

as_owner() {
  # from / : the postgres user may not be allowed into the caller's folder
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

locate() {
  if [ -f "$build/pg.path" ]; then cat "$build/pg.path"; else echo "$build/pg"; fi
}

case "$cmd" in
start)
  dir=$(locate)
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    dir="$build/pg"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
      chown postgres: "$dir"
      if ! runuser -u postgres -- test -w "$dir"; then
        rmdir "$dir"
        dir=$(mktemp -d /tmp/mongonorm-pg.XXXXXX)
        chown postgres: "$dir"
      fi
    fi
    echo "$dir" > "$build/pg.path"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    durability="-c fsync=off -c full_page_writes=off"
    [ "${MN_PG_DURABLE:-0}" = 1 ] && durability=""
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -p $port $durability" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  fi
  echo "host=$dir port=$port user=postgres dbname=postgres"
  ;;
stop)
  dir=$(locate)
  [ -f "$dir/data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  ;;
dsn)
  echo "host=$(locate) port=$port user=postgres dbname=postgres"
  ;;
*)
  echo "usage: scripts/pg.sh start|stop|dsn [BUILD_DIR]" >&2; exit 2 ;;
esac
