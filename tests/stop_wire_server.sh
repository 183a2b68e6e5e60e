#!/usr/bin/env bash
# Stop a wire test server started by tests/start_wire_server.sh.
#   tests/stop_wire_server.sh PORTFILE
# Sends SIGTERM to the PID in PORTFILE.pid, waits up to 15 s (then SIGKILL),
# and removes PORTFILE and PORTFILE.pid (PORTFILE.log is kept).
set -uo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 PORTFILE" >&2
  exit 2
fi
portfile=$1
pidfile=$portfile.pid

if [ ! -s "$pidfile" ]; then
  echo "$0: no PID file $pidfile" >&2
  rm -f "$portfile"
  exit 1
fi
pid=$(tr -d '[:space:]' <"$pidfile")
case $pid in
  '' | *[!0-9]*) echo "$0: bad PID in $pidfile" >&2; exit 1 ;;
esac

rc=0
if kill -TERM "$pid" 2>/dev/null; then
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$0: server $pid still running after 15 s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    rc=1
  fi
fi
rm -f "$portfile" "$pidfile"
exit $rc
