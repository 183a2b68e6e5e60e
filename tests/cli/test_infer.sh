#!/usr/bin/env bash
# mongonorm infer (docs/infer.md):
# - golden cases fixtures/infer/<case>/: input/ (a JSON folder), args (infer options, if
#   any), the expected mapping.yaml and 001_schema.sql (MN_GOLDEN_UPDATE=1 rewrites them:
#   review the diff), unmapped (COLLECTION=N paths drift must report, if any); every draft
#   loads with `check`;
# - the survey holds no value without --show-values; the command's usage errors;
# - with PostgreSQL: each case, generated MediChat data (with its mess) and random
#   documents from seeds (MN_INFER_SEEDS, default 10; MN_INFER_SEED replays one) go
#   through infer, init --sql-dir, check --pg and run with no hand edit: every document
#   loaded, none rejected, no drift, one row per element of every array and map
#   (tests/cli/check_infer_load.py).
source "$(dirname "$0")/lib.sh"
isolate_env
setup_workdir
CASES="$MN_SOURCE_DIR/fixtures/infer"
CHECK="/usr/bin/python3 $MN_SOURCE_DIR/tests/cli/check_infer_load.py"
GEN="/usr/bin/python3 $MN_SOURCE_DIR/tests/cli/gen_infer_docs.py"

# draft CASE_DIR OUT: infer the case's input into OUT with the case's args.
draft() {
  local args=()
  [ -f "$1/args" ] && read -r -a args < "$1/args"
  try "$MN_BIN" infer --source "$1/input" --out "$2" --quiet "${args[@]}"
}

for dir in "$CASES"/*/; do
  dir=${dir%/}
  name=$(basename "$dir")
  draft "$dir" "$work/$name"
  if [ "$rc" -ne 0 ]; then
    fail "$name: infer exited $rc"
    continue
  fi
  if [ "${MN_GOLDEN_UPDATE:-}" = 1 ]; then
    cp "$work/$name/mapping.yaml" "$dir/mapping.yaml"
    cp "$work/$name/sql/001_schema.sql" "$dir/001_schema.sql"
  fi
  expect_same_files "$name: mapping.yaml as expected" "$dir/mapping.yaml" "$work/$name/mapping.yaml" 20
  expect_same_files "$name: 001_schema.sql as expected" "$dir/001_schema.sql" \
    "$work/$name/sql/001_schema.sql" 20
  try "$MN_BIN" check --mapping "$work/$name/mapping.yaml" > /dev/null
  [ "$rc" -eq 0 ] && pass "$name: the draft loads (check)" || fail "$name: check exited $rc"
done

# ---- values only when asked; usage ------------------------------------------
basic="$CASES/basic/input"
"$MN_BIN" infer --source "$basic" --out "$work/values" --quiet
if grep -q -e London -e Wilmslow -e engines "$work/values/survey.md" "$work/values/survey.json" \
  "$work/values/mapping.yaml"; then
  fail "a value of the source is in the survey without --show-values"
else
  pass "no value of the source in the survey without --show-values"
fi
"$MN_BIN" infer --source "$basic" --out "$work/shown" --quiet --show-values --collections posts
shown=$(cat "$work/shown/survey.md")
case $shown in *'"engines"'*) pass "--show-values lists enum candidates" ;;
  *) fail "--show-values: no enum candidate in survey.md" ;; esac
case $shown in *'## authors'*) fail "--collections posts surveyed authors" ;;
  *) pass "--collections surveys only the collections named" ;; esac
[ "$(stat -c %a "$work/shown/survey.md")" = 600 ] && pass "survey.md is mode 0600" ||
  fail "survey.md mode $(stat -c %a "$work/shown/survey.md")"

try "$MN_BIN" infer --source "$basic" --out "$work/values" 2> "$err"
expect_same "a draft is not overwritten without --force (exit 6)" \
  "6 mongonorm: error: folder \"$work/values\" holds a draft already (mapping.yaml): give --force to overwrite it" \
  "$rc $(head -1 "$err")"
try "$MN_BIN" infer --source "$basic" --out "$work/values" --force --quiet
[ "$rc" -eq 0 ] && pass "--force overwrites a draft" || fail "--force: exit $rc"
try "$MN_BIN" infer --source "$basic" 2> "$err"
expect_same "no --out: usage (exit 2)" "2 mongonorm: error: no output folder: give --out DIR" \
  "$rc $(head -1 "$err")"
try "$MN_BIN" infer --source "$basic" --out "$work/x" --sample 0 2> "$err"
expect_same "--sample 0: usage (exit 2)" \
  "2 mongonorm: error: --sample takes a whole number from 1 to 1000000000, not \"0\"" \
  "$rc $(head -1 "$err")"
try "$MN_BIN" infer --source "$basic" --out "$work/x" --collections nothere 2> "$err"
[ "$rc" -eq 4 ] && pass "a named collection the source lacks: exit 4" || fail "missing collection: exit $rc"
"$MN_BIN" infer --source "$basic" --out "$work/sample" --sample 1 --collections posts > "$out"
case $(cat "$out") in "surveyed 1 documents of 1 collections"*) pass "--sample 1 reads one document of a file" ;;
  *) fail "--sample 1: $(cat "$out")" ;; esac

# a live server (the wire test server serves the MediChat sample): the same draft as its
# dump, and --sample reads a $sample
if have_wire_server; then
  "$MN_BIN" infer --source "$MEDICHAT/dump/medichat" --out "$work/from_dump" --quiet
  "$MN_BIN" infer --source "$MN_TEST_MONGODB_URI" --out "$work/from_live" --quiet
  expect_same_files "a live server gives the draft of its dump" "$work/from_dump/mapping.yaml" \
    "$work/from_live/mapping.yaml"
  "$MN_BIN" infer --source "$MN_TEST_MONGODB_URI" --out "$work/live_sample" --sample 5 > "$out"
  case $(cat "$out") in "surveyed 15 documents of 3 collections"*) pass "--sample 5 on a live server" ;;
    *) fail "--sample 5 live: $(cat "$out")" ;; esac
fi

pg_or_finish

# load DESC SOURCE DRAFT_DIR [COLLECTION=N...]: init, check --pg, run; check the load.
load() {
  local desc=$1 src=$2 d=$3 dsn
  shift 3
  dsn=$(fresh_db mn_infer_load)
  last_dsn=$dsn
  try "$MN_BIN" init --pg "$dsn" --sql-dir "$d/sql" > /dev/null
  [ "$rc" -eq 0 ] || { fail "$desc: init exited $rc"; return; }
  try "$MN_BIN" check --mapping "$d/mapping.yaml" --pg "$dsn" > /dev/null
  [ "$rc" -eq 0 ] || { fail "$desc: check --pg exited $rc"; return; }
  try "$MN_BIN" run --source "$src" --mapping "$d/mapping.yaml" --pg "$dsn" \
    --rejects "$d/rejects.jsonl" --report "$d/report.json" --show-drift > "$d/run.out" 2>&1
  [ "$rc" -eq 0 ] || { fail "$desc: run exited $rc: $(tail -3 "$d/run.out")"; return; }
  if $CHECK "$src" "$d/mapping.yaml" "$d/report.json" "$@" > "$d/check.out"; then
    pass "$desc: every document and element loaded, nothing rejected, drift as expected"
  else
    fail "$desc: $(head -5 "$d/check.out")"
  fi
}

for dir in "$CASES"/*/; do
  dir=${dir%/}
  name=$(basename "$dir")
  unmapped=()
  [ -f "$dir/unmapped" ] && read -r -a unmapped < "$dir/unmapped"
  [ -f "$work/$name/mapping.yaml" ] && load "$name" "$dir/input" "$work/$name" "${unmapped[@]}"
  case $name in
    caps) # the fields --max-columns left without a column are in the catch-all
      expect_same "caps: the fields beyond --max-columns are in extra" "3 3 3" \
        "$(q "$last_dsn" "SELECT count(extra->'f17'), count(extra->'f29'), count(extra->'sub'->'s7') FROM wide" | tr '|' ' ')" ;;
    names) # names no path can read too, the empty one included
      expect_same "names: a.b, \$weird and the empty name are in extra" "2" \
        "$(q "$last_dsn" "SELECT count(*) FROM \"order\" WHERE extra ?& array['a.b', '\$weird', ''] AND extra->>'' = '3'")" ;;
  esac
done

# a field the source grows after the draft: kept in the catch-all (of the document's
# table, of a child table's element) and reported as drift
grown="$work/grown"
mkdir -p "$grown/src"
/usr/bin/python3 - "$CASES/basic/input" "$grown/src" <<'PY'
import json, os, sys
for name in os.listdir(sys.argv[1]):
    docs = [json.loads(l) for l in open(os.path.join(sys.argv[1], name)) if l.strip()]
    if name == "authors.json":
        docs[0]["hobby"] = "chess"
    else:
        docs[0]["comments"][0]["mood"] = {"x": 1}
    with open(os.path.join(sys.argv[2], name), "w") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
PY
cp -r "$work/basic" "$grown/d"
load "basic, a field grown after the draft" "$grown/src" "$grown/d" authors=1 posts=1
expect_same "a field grown after the draft is in extra (document and element)" "chess 1" \
  "$(q "$last_dsn" "SELECT (SELECT string_agg(extra->>'hobby', ',') FROM authors),
       (SELECT string_agg(extra->'mood'->>'x', ',') FROM posts_comments)" | tr '|' ' ')"

# generated MediChat data, with the model's mess: no hand edit
gen="$work/gen"
"$MN_BIN" generate --model "$MEDICHAT/generator.yaml" --scale 300 --seed 11 --out "$gen/src" --quiet
"$MN_BIN" infer --source "$gen/src" --out "$gen/d" --quiet
load "generated MediChat data" "$gen/src" "$gen/d"
docs=$(/usr/bin/python3 -c "
import json, sys
m = json.load(open(sys.argv[1])); r = json.load(open(sys.argv[2]))
print(' '.join(f'{n}={c[\"documents\"]}/{r[\"collections\"][n][\"loaded\"]}' for n, c in sorted(m['collections'].items())))
" "$gen/src/manifest.json" "$gen/d/report.json")
if /usr/bin/python3 -c "
import sys
sys.exit(any(a != b for a, b in (p.split('=')[1].split('/') for p in sys.argv[1].split())))" "$docs"; then
  pass "generated MediChat data: the manifest's documents all loaded ($docs)"
else
  fail "generated MediChat data: manifest documents / loaded: $docs"
fi
"$MN_BIN" infer --source "$MEDICHAT/dump/medichat" --out "$work/medichat" --quiet
load "the MediChat sample dump" "$MEDICHAT/dump/medichat" "$work/medichat"

# random documents
# 223 239 242 260: a shape-polymorphic array whose sub-documents had no column of their own
# (no `document` shape: rejected), or were keyed by data (a map table over `$`, which a
# scalar element is not: rejected); found by a soak of seeds 200-260
seeds=${MN_INFER_SEED:-$(seq 1 "${MN_INFER_SEEDS:-10}") 223 239 242 260}
for seed in $seeds; do
  r="$work/random$seed"
  $GEN "$seed" "$r/src"
  "$MN_BIN" infer --source "$r/src" --out "$r/d" --quiet
  load "random documents, seed $seed (replay: MN_INFER_SEED=$seed ctest -R cli_test_infer)" \
    "$r/src" "$r/d"
done
finish
