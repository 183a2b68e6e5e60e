#!/usr/bin/env bash
# COPY's binary format (issue 10): a table whose column types and mapping allow it gets its
# rows in the binary format (the report's copy_format), and a load in binary gives exactly
# what the same load gives in the text format (MN_COPY_FORMAT=text): tables, records (but
# their rows digests, which are of the bytes sent), reject file, counts, exit code.  On
# generated MediChat data with mess (a random seed, printed; MN_TEST_SEED replays one): a
# full load, then a re-run over the same documents generated with other mess (merge mode:
# staging tables, updates, deletions); on the sample dump; and a table with a column of a
# type the binary format is not written for stays in the text format, its rows the same.
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir
model="$MEDICHAT/generator.yaml"
seed=${MN_TEST_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "# seed $seed (MN_TEST_SEED=$seed replays it)"

"$MN_BIN" generate --quiet --model "$model" --scale 120 --seed "$seed" --mess 3 --out "$work/a"
"$MN_BIN" generate --quiet --model "$model" --scale 120 --seed "$seed" --mess 1 --out "$work/b"

# load FORMAT NAME SRC [MAPPING]: run into database mn_cf_NAME_FORMAT (made fresh unless
# KEEP=1) with MN_COPY_FORMAT=FORMAT; leaves $work/NAME-FORMAT.{rc,tables,docs,rej,report}
load() {
  local fmt=$1 name=$2 src=$3 map=${4:-$MEDICHAT_MAP} db tag=$2-$1
  if [ "${KEEP:-}" = 1 ]; then db="$MN_TEST_PG_DSN dbname=mn_cf_${name%%-*}_$fmt"
  else db=$(init_db "mn_cf_${name}_$fmt" --sql-dir "$MN_SOURCE_DIR/sql"); fi
  try env MN_COPY_FORMAT="$fmt" "$MN_BIN" run --quiet --pg "$db" --source "$src" \
    --mapping "$map" --rejects "$work/$tag.rej" --report "$work/$tag.report" 2>"$work/$tag.err"
  echo "$rc" > "$work/$tag.rc"
  dump_tables "$db" > "$work/$tag.tables"
  q "$db" "SELECT collection, doc_id, encode(digest, 'hex'), counts, rejected, reject_path,
             reason FROM mongonorm.documents ORDER BY 1, 2" > "$work/$tag.docs"
  sort "$work/$tag.rej" > "$work/$tag.rej.sorted"
}
# counts TAG: the report without timings and formats
counts() { report_without "$work/$1.report" seconds copy_format; }
# formats TAG: "table=format" of every table of the report
formats() {
  field "$work/$1.report" "' '.join(f'{t}={v[\"copy_format\"]}' for t, v in sorted(r['tables'].items()))"
}
# same NAME: the binary and the text load of NAME agree
same() {
  local what
  for what in rc tables docs rej.sorted; do
    expect_same_files "$1: binary and text loads give the same $what" \
      "$work/$1-text.$what" "$work/$1-binary.$what"
  done
  expect_same "$1: the same counts" "$(counts "$1-text")" "$(counts "$1-binary")"
}

# --- generated data with mess: full load, then the other mess over it
load binary gen "$work/a"
load text gen "$work/a"
same gen
bin=$(formats gen-binary)
if [ -n "$bin" ] && ! grep -q "=text" <<<"$bin"; then
  pass "every MediChat table went binary ($bin)"
else
  fail "MediChat tables not binary: $bin"
fi
if ! grep -q "=binary" <<<"$(formats gen-text)"; then
  pass "MN_COPY_FORMAT=text: every table in the text format"
else
  fail "MN_COPY_FORMAT=text still sent binary: $(formats gen-text)"
fi
rej=$(wc -l < "$work/gen-binary.rej")
if [ "$rej" -gt 0 ]; then pass "the messy data has rejects to compare ($rej)"; else fail "no rejects"; fi
KEEP=1 load binary gen-again "$work/b"
KEEP=1 load text gen-again "$work/b"
same gen-again
upd=$(field "$work/gen-again-binary.report" "sum(t['updated'] + t['deleted'] for t in r['tables'].values())")
if [ "$upd" -gt 0 ]; then
  pass "the re-run updated or deleted rows ($upd)"
else
  fail "the re-run changed nothing: a merge the comparison does not cover"
fi

# --- the sample dump
load binary sample "$MEDICHAT/dump"
load text sample "$MEDICHAT/dump"
same sample

# --- a column type the binary format is not written for: that table in text, the others not
db=$(init_db mn_cf_fallback --sql-dir "$MN_SOURCE_DIR/sql")
q "$db" "ALTER TABLE users ALTER COLUMN first_name TYPE name" >/dev/null
try "$MN_BIN" run --quiet --pg "$db" --source "$MEDICHAT/dump" --mapping "$MEDICHAT_MAP" \
  --rejects "$work/fallback.rej" --report "$work/fallback.report" 2>"$work/fallback.err"
expect_same "a users column of type name: the run exits as before" "$(cat "$work/sample-text.rc")" "$rc"
fmt=$(formats fallback)
if grep -q "users=text" <<<"$fmt" && grep -q "messages=binary" <<<"$fmt"; then
  pass "users in text, the other tables binary"
else
  fail "formats with a name column: $fmt"
fi
expect_same "the rows are the text load's" "$(cat "$work/sample-text.tables")" "$(dump_tables "$db")"

finish
