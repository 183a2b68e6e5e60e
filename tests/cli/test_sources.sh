#!/usr/bin/env bash
# Metamorphic: the same documents by different roads give identical tables.
# mongodump folder, gzipped mongodump, relaxed and canonical Extended JSON, and the
# live MongoDB-wire test server must load identical rows; loading twice gives the
# same ids and writes nothing the second time; read = loaded + rejected.
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir gz
fx="$MEDICHAT"
map="$MEDICHAT_MAP"
for f in "$fx"/dump/medichat/*.bson; do gzip -c "$f" > "$work/gz/$(basename "$f").gz"; done

load() { # name source -> dumps tables into $work/name.txt, report into $work/name.json
  local name=$1 src=$2 dsn rc
  dsn=$(init_db "mn_src_$name" --sql-dir "$MN_SOURCE_DIR/sql")
  try "$MN_BIN" run --quiet --pg "$dsn" --source "$src" --mapping "$map" \
    --rejects "$work/$name.rejects" --report "$work/$name.json" 2>"$work/$name.err"
  if [ "$rc" -le 1 ]; then pass "load from $name (exit $rc)"; else fail "load from $name (exit $rc: $(cat "$work/$name.err"))"; fi
  dump_tables "$dsn" > "$work/$name.txt"
}

load dump "$fx/dump"
load dumpgz "$work/gz"
load relaxed "$fx/json"
load canonical "$fx/json-canonical"
if have_wire_server; then
  load live "$MN_TEST_MONGODB_URI"
fi

rows=$(grep -vc '^==' "$work/dump.txt" || true)
if [ "$rows" -gt 3000 ]; then pass "dump load has $rows rows"; else fail "dump load has only $rows rows"; fi
for name in dumpgz relaxed canonical live; do
  [ -f "$work/$name.txt" ] || continue
  if cmp -s "$work/dump.txt" "$work/$name.txt"; then
    pass "tables from $name identical to tables from the dump"
  else
    fail "tables from $name differ from the dump: $(diff "$work/dump.txt" "$work/$name.txt" | head -5)"
  fi
  if cmp -s "$work/dump.rejects" "$work/$name.rejects" || [ "$name" = relaxed ] || [ "$name" = live ]; then
    pass "reject file from $name"
  else
    fail "reject file from $name differs from the dump's"
  fi
done

# Accounting: for every collection, read = loaded + rejected; rejects in the file.
acc=$(/usr/bin/python3 - "$work/dump.json" "$work/dump.rejects" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lines = [json.loads(l) for l in open(sys.argv[2])]
bad = [c for c, v in r["collections"].items() if v["read"] != v["loaded"] + v["rejected"]]
total = sum(v["rejected"] for v in r["collections"].values())
print("ok" if not bad and total == len(lines) and total > 0 else f"bad {bad} {total} {len(lines)}")
PY
)
if [ "$acc" = ok ]; then pass "read = loaded + rejected, every reject in the file"; else fail "accounting: $acc"; fi
mode=$(stat -c %a "$work/dump.rejects")
if [ "$mode" = 600 ]; then pass "reject file mode 0600"; else fail "reject file mode $mode"; fi

# Loading twice into the same target: same ids, nothing written the second time.
dsn="$MN_TEST_PG_DSN dbname=mn_src_dump"
"$MN_BIN" run --quiet --pg "$dsn" --source "$fx/dump" --mapping "$map" \
  --rejects "$work/again.rejects" --report "$work/again.json" 2>/dev/null || true
dump_tables "$dsn" > "$work/again.txt"
if cmp -s "$work/dump.txt" "$work/again.txt"; then pass "second run leaves identical tables"; else fail "second run changed the tables"; fi
written=$(/usr/bin/python3 -c "
import json,sys
r=json.load(open('$work/again.json'))
print(sum(t['inserted']+t['updated']+t['deleted'] for t in r['tables'].values()))")
if [ "$written" = 0 ]; then pass "second run writes no row"; else fail "second run wrote $written rows"; fi
finish
