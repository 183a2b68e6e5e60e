#!/usr/bin/env bash
# Start the MongoDB-wire test server in the background.
#   tests/start_wire_server.sh DIR PORTFILE [extra mongo_wire_server.py args]
# Loads DIR/<collection>.json|.bson, writes the port to PORTFILE and the
# server's PID to PORTFILE.pid, its stderr to PORTFILE.log, and prints
#   mongodb://127.0.0.1:PORT/medichat
# Stop it with tests/stop_wire_server.sh PORTFILE.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 DIR PORTFILE [--db NAME] [--port N] [--verbose]" >&2
  exit 2
fi
dir=$1
portfile=$2
shift 2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${MN_WIRE_PYTHON:-/usr/bin/python3}
db=medichat
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[$i]}" = "--db" ] && [ $((i + 1)) -lt ${#args[@]} ]; then
    db=${args[$((i + 1))]}
  fi
done

rm -f "$portfile"
"$python" "$here/mongo_wire_server.py" --load "$dir" --port-file "$portfile" \
  "$@" >/dev/null 2>"$portfile.log" </dev/null &
pid=$!
echo "$pid" >"$portfile.pid"

# Wait (bounded: 15 s) for the port file.
for _ in $(seq 1 150); do
  if [ -s "$portfile" ]; then
    port=$(tr -d '[:space:]' <"$portfile")
    echo "mongodb://127.0.0.1:$port/$db"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "$0: wire server exited early:" >&2
    cat "$portfile.log" >&2 || true
    rm -f "$portfile.pid"
    exit 1
  fi
  sleep 0.1
done
echo "$0: wire server did not write $portfile within 15 s" >&2
cat "$portfile.log" >&2 || true
kill "$pid" 2>/dev/null || true
rm -f "$portfile.pid"
exit 1
