#!/usr/bin/env bash
# One command for a fixture database: generate synthetic MediChat data, convert it
# into a fresh PostgreSQL database through mapping/medichat.yaml, and write a plain
# SQL dump of the target schema (loadable with psql into an empty database).
#
# usage: scripts/fixture.sh --out FILE.sql [--scale N] [--seed S] [--mess X]
#                           [--pg CONNINFO] [--model FILE] [--mapping FILE] [--keep]
# --pg is the server to work in (default: the PG* environment); a scratch database
# mongonorm_fixture_<pid> is created there and dropped at the end (--keep keeps it).
# Same scale, seed and mess: the same file, byte for byte (on one PostgreSQL version).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${MN_BIN:-$top/build/mongonorm}
scale=1000 seed=1 mess=1 out= pg= keep=0
model=$top/fixtures/medichat/generator.yaml
mapping=$top/mapping/medichat.yaml
while [ $# -gt 0 ]; do
  case $1 in
  --out) out=$2; shift 2 ;;
  --scale) scale=$2; shift 2 ;;
  --seed) seed=$2; shift 2 ;;
  --mess) mess=$2; shift 2 ;;
  --pg) pg=$2; shift 2 ;;
  --model) model=$2; shift 2 ;;
  --mapping) mapping=$2; shift 2 ;;
  --keep) keep=1; shift ;;
  *) echo "fixture.sh: unknown option \"$1\"" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "fixture.sh: give --out FILE.sql" >&2; exit 2; }
[ -x "$bin" ] || { echo "fixture.sh: build first (bash scripts/build.sh) or set MN_BIN" >&2; exit 2; }
db=mongonorm_fixture_$$
work=$(mktemp -d /tmp/mongonorm-fixture.XXXXXX)
cleanup() {
  rm -rf "$work"
  [ "$keep" = 1 ] || psql "$pg dbname=postgres" -qX -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$bin" generate --quiet --model "$model" --scale "$scale" --seed "$seed" --mess "$mess" --out "$work/data"
psql "$pg dbname=postgres" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
target="$pg dbname=$db"
"$bin" init --pg "$target" --sql-dir "$top/sql" >/dev/null
rc=0
"$bin" run --quiet --pg "$target" --source "$work/data" --mapping "$mapping" \
  --rejects "$work/rejects.jsonl" --report "$work/report.json" 2>/dev/null || rc=$?
[ "$rc" -le 1 ] || { echo "fixture.sh: mongonorm run failed (exit $rc)" >&2; exit "$rc"; }
# schema_migrations.applied_at is the time of `init`: pin it, so that two runs with the
# same seed give the same file.
psql "$target" -qX -v ON_ERROR_STOP=1 \
  -c "UPDATE public.schema_migrations SET applied_at = '2000-01-01 00:00:00+00'" >/dev/null
# A fixed \restrict key (pg_dump 15.14+ otherwise picks a random one each run).
restrict=()
help=$(pg_dump --help)
case $help in *--restrict-key*) restrict=(--restrict-key=mongonormfixture) ;; esac
pg_dump --no-owner --no-privileges --exclude-schema=mongonorm "${restrict[@]}" \
  --file="$out" "$target"
echo "fixture.sh: wrote $out (scale $scale, seed $seed, mess $mess;" \
  "$(grep -c '' "$work/rejects.jsonl" 2>/dev/null || echo 0) rejected documents)"
