#!/usr/bin/env bash
# `mongonorm generate`: same seed, same bytes; a conversion of generated data through
# mapping/medichat.yaml matches the manifest exactly (scale 1000, and clean data);
# Extended JSON and live-MongoDB outputs; the fixture script's dump loads into an empty
# database and is identical for the same seed; model errors name file and line.
source "$(dirname "$0")/lib.sh"

setup_workdir
model="$MEDICHAT/generator.yaml"
map="$MEDICHAT_MAP"
check="$MN_SOURCE_DIR/tests/cli/check_manifest.py"
gen() { "$MN_BIN" generate --quiet --model "$model" "$@"; }

# --- determinism (no database needed)
gen --scale 300 --seed 11 --out "$work/a"
gen --scale 300 --seed 11 --out "$work/b"
gen --scale 300 --seed 12 --out "$work/c"
if diff -r "$work/a" "$work/b" >/dev/null; then pass "same seed, same bytes (dump)"; else fail "same seed gave different files"; fi
if ! cmp -s "$work/a/medichat/users.bson" "$work/c/medichat/users.bson"; then pass "another seed, other data"; else fail "seed has no effect"; fi
for fmt in json json-canonical; do
  gen --scale 100 --seed 5 --format "$fmt" --out "$work/$fmt.1"
  gen --scale 100 --seed 5 --format "$fmt" --out "$work/$fmt.2"
  if diff -r "$work/$fmt.1" "$work/$fmt.2" >/dev/null; then pass "same seed, same bytes ($fmt)"; else fail "$fmt output not deterministic"; fi
done
gen --scale 100 --seed 5 --gzip --out "$work/gz.1"
gen --scale 100 --seed 5 --gzip --out "$work/gz.2"
if diff -r "$work/gz.1" "$work/gz.2" >/dev/null && gzip -t "$work/gz.1/medichat/users.bson.gz"; then
  pass "same seed, same bytes (gzip)"; else fail "gzip output not deterministic or invalid"; fi
sha=$(cat "$work/a/medichat/"*.bson | sha256sum | cut -c1-16)
echo "# scale 300 seed 11 dump sha256 prefix: $sha"

# --- model errors: exit 3 and the exact line
printf 'version: 1\ncollections:\n  - collection: x\n    count: {per_scale: 1}\n    fields:\n      _id: {objectid: {from: "2020-01-01", to: "2021-01-01"}}\n      a: {pick: nowhere}\n' > "$work/bad.yaml"
try "$MN_BIN" generate --model "$work/bad.yaml" --scale 1 --out "$work/bad" 2>"$work/bad.err"
want="mongonorm: error: model file \"$work/bad.yaml\", line 7: pick names vocabulary \"nowhere\", which the model does not declare"
if [ "$rc" = 3 ] && [ "$(cat "$work/bad.err")" = "$want" ]; then pass "model error: exit 3, file and line"; else fail "model error: exit $rc: $(cat "$work/bad.err")"; fi

# --- libmongoc never prints: an unreachable server, an unknown URI option and a bad host
# give mongonorm's own error line, and no "mongoc:" log line reaches stderr
for uri in 'mongodb://127.0.0.1:1/x?foo=bar' 'mongodb://:1/x'; do
  try "$MN_BIN" generate --quiet --model "$model" --scale 20 --out "$uri" --manifest "$work/unreachable.json" 2>"$work/unreachable.err"
  if [ "$rc" = 4 ] && ! grep -q 'mongoc:' "$work/unreachable.err" && [ "$(wc -l <"$work/unreachable.err")" = 1 ]; then
    pass "generate --out $uri: exit 4, one error line, no libmongoc log"
  else fail "generate --out $uri: exit $rc: $(cat "$work/unreachable.err")"; fi
done

pg_or_finish

# --- conversion matches the manifest exactly
convert() { # name source -> report in $work/name.json (drift by name), manifest check
  local name=$1 src=$2 manifest=$3 dsn rc; shift 3
  dsn=$(init_db "mn_gen_$name" --sql-dir "$MN_SOURCE_DIR/sql")
  try "$MN_BIN" run --quiet --pg "$dsn" --source "$src" --mapping "$map" \
    --rejects "$work/$name.rejects" --report "$work/$name.json" --show-drift 2>"$work/$name.err"
  if [ "$rc" -gt 1 ]; then fail "$name: run failed (exit $rc): $(cat "$work/$name.err")"; return; fi
  if out=$(/usr/bin/python3 "$check" "$@" "$manifest" "$work/$name.json"); then
    pass "$name: conversion matches the manifest exactly"
  else
    fail "$name: conversion differs from the manifest: $(echo "$out" | head -5)"
  fi
}
gen --scale 1000 --seed 7 --out "$work/s1000"
convert s1000 "$work/s1000" "$work/s1000/manifest.json"
gen --scale 200 --seed 3 --mess 0 --out "$work/clean"
convert clean "$work/clean" "$work/clean/manifest.json"
rej=$(/usr/bin/python3 -c "import json;print(sum(c['rejected'] for c in json.load(open('$work/clean/manifest.json'))['collections'].values()))")
if [ "$rej" = 0 ]; then pass "--mess 0: nothing rejected"; else fail "--mess 0 manifest has $rej rejects"; fi
gen --scale 200 --seed 4 --mess 3 --format json --out "$work/messy"
convert messy "$work/messy" "$work/messy/manifest.json"

# --- live MongoDB (the wire test server): bulk inserts, then read back
if have_wire_server; then
  base=${MN_TEST_MONGODB_URI%/*}
  livedb=mn_gen_live_$$   # a fresh database per run: the server outlives the test
  try gen --scale 40 --seed 9 --db "$livedb" --out "$base/$livedb" --manifest "$work/live.manifest.json" 2>"$work/live.err"
  if [ "$rc" = 0 ]; then
    pass "generate into MongoDB"
    convert live "$base/$livedb" "$work/live.manifest.json"
  else
    fail "generate into MongoDB (exit $rc): $(cat "$work/live.err")"
  fi
fi

# --- the fixture command: a loadable SQL dump, identical for the same seed
host_dsn=$MN_TEST_PG_DSN
for i in 1 2; do
  MN_BIN="$MN_BIN" bash "$MN_SOURCE_DIR/scripts/fixture.sh" --pg "$host_dsn" --scale 150 --seed 21 \
    --out "$work/fixture$i.sql" >/dev/null 2>"$work/fixture$i.err" || fail "fixture.sh run $i: $(cat "$work/fixture$i.err")"
done
if cmp -s "$work/fixture1.sql" "$work/fixture2.sql"; then pass "fixture: same seed, identical SQL files"; else fail "fixture: two runs differ"; fi
dsn=$(fresh_db mn_gen_fixture_load)
if psql "$dsn" -qX -v ON_ERROR_STOP=1 -f "$work/fixture1.sql" >/dev/null 2>"$work/load.err"; then
  users=$(psql "$dsn" -qXAt -c "SELECT count(*) FROM users")
  if [ "$users" -gt 0 ]; then pass "fixture dump loads into an empty database ($users users)"; else fail "fixture dump loaded no users"; fi
else
  fail "fixture dump does not load: $(head -3 "$work/load.err")"
fi
finish
