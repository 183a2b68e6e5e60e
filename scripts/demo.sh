#!/usr/bin/env bash
# Install what is needed, build, start a throwaway PostgreSQL, create the MediChat
# target schema in a fresh database and load the bundled sample data into it,
# printing the statistics.  Leaves the server running; scripts/pg.sh stop ends it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/setup.sh
bash scripts/build.sh
dsn=$(bash scripts/pg.sh start "$top/build")
PGOPTIONS=--client-min-messages=warning \
  psql "$dsn" -qc "DROP DATABASE IF EXISTS medichat" -c "CREATE DATABASE medichat"
target="${dsn% dbname=*} dbname=medichat"

./build/mongonorm init --pg "$target" --sql-dir sql
set +e
./build/mongonorm run --pg "$target" --source fixtures/medichat/dump \
  --mapping mapping/medichat.yaml --rejects build/medichat-rejects.jsonl \
  --report build/medichat-report.json
rc=$?
set -e
# Exit code 1 means "done, with rejected documents": the sample data has some on purpose.
[ "$rc" -le 1 ] || exit "$rc"
echo
echo "Target: psql \"$target\"   Rejects: build/medichat-rejects.jsonl   Report: build/medichat-report.json"
