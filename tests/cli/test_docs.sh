#!/usr/bin/env bash
# The docs say what the code does: docs/conversions.md's table is the golden case
# fixtures/cases/bson_types as stored (check_conversions.py), and the check fails on a doc
# with one cell changed. docs/mapping.md's key reference lists every key and value the
# mapping loader accepts (check_mapping_keys.py), and its column example loads;
# docs/medichat-mapping.md has a row for every field mapping/medichat.yaml reads
# (check_medichat_page.py); every relative link of README.md and docs/*.md leads to a file
# and heading (check_links.py). Each check is also shown failing on a doc or mapping with
# one thing changed.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
expected=$MN_SOURCE_DIR/fixtures/cases/bson_types/expected.txt
doc=$MN_SOURCE_DIR/docs/conversions.md

if out=$(python3 "$here/check_conversions.py" "$expected" "$doc" 2>&1); then
  pass "docs/conversions.md's table is the bson_types golden case"
else
  fail "docs/conversions.md: $out"
fi
rows=$(grep -c '^| ' "$doc")
if [ "$rows" -ge 35 ]; then pass "docs/conversions.md: $rows table rows"; else fail "docs/conversions.md: only $rows table rows"; fi

sed 's/`{ "$oid" : "6500000000000000000000c1" }`/`"6500000000000000000000c1"`/' "$doc" > "$work/changed.md"
if ! cmp -s "$doc" "$work/changed.md" &&
  ! python3 "$here/check_conversions.py" "$expected" "$work/changed.md" >"$work/out" 2>&1 &&
  grep -q 'the conversions table differs' "$work/out"; then
  pass "a changed cell is found"
else
  fail "a changed cell is not found: $(cat "$work/out")"
fi

# expect_problem DESC WANT COMMAND...: the command fails and prints WANT
expect_problem() {
  local desc=$1 want=$2
  shift 2
  if ! "$@" >"$work/out" 2>&1 && grep -qF -- "$want" "$work/out"; then
    pass "$desc"
  else
    fail "$desc: $(cat "$work/out")"
  fi
}

keys=$MN_SOURCE_DIR/docs/mapping.md
if out=$(python3 "$here/check_mapping_keys.py" "$MN_SOURCE_DIR" "$keys" 2>&1); then
  pass "docs/mapping.md's key reference is the loader's: $out"
else
  fail "docs/mapping.md's key reference: $out"
fi
grep -v '^| `on_other_shape` ' "$keys" >"$work/keys.md"
expect_problem "a key without a row is found" 'no row for key "on_other_shape"' \
  python3 "$here/check_mapping_keys.py" "$MN_SOURCE_DIR" "$work/keys.md"
sed 's/^| `each_as` | `array`, `map`/| `each_as` | `array`/' "$keys" >"$work/keys.md"
expect_problem "a value not listed is found" 'value "map" is not listed' \
  python3 "$here/check_mapping_keys.py" "$MN_SOURCE_DIR" "$work/keys.md"

# the example of docs/mapping.md that uses the column keys together is a mapping that loads
awk '/^The keys together/ {on = 1; next} on && /^```yaml/ {inside = 1; next}
     inside && /^```/ {exit} inside' "$keys" >"$work/example.yaml"
try "$MN_BIN" check --mapping "$work/example.yaml"
if [ "$rc" -eq 0 ] && [ -s "$work/example.yaml" ]; then
  pass "docs/mapping.md's column example loads"
else
  fail "docs/mapping.md's column example does not load (exit $rc)"
fi

page=$MN_SOURCE_DIR/docs/medichat-mapping.md
map=$MN_SOURCE_DIR/mapping/medichat.yaml
if out=$(python3 "$here/check_medichat_page.py" "$map" "$page" 2>&1); then
  pass "docs/medichat-mapping.md explains every mapped field: $out"
else
  fail "docs/medichat-mapping.md: $out"
fi
sed 's/ai_summary: {path: aiSummary,/ai_summary: {path: summaryText,/' "$map" >"$work/map.yaml"
expect_problem "a field the page does not explain is found" 'no row with field `summaryText`' \
  python3 "$here/check_medichat_page.py" "$work/map.yaml" "$page"

if out=$(python3 "$here/check_links.py" "$MN_SOURCE_DIR"/README.md "$MN_SOURCE_DIR"/docs/*.md 2>&1); then
  pass "every relative link of README.md and docs/ leads somewhere"
else
  fail "broken links: $out"
fi
# (a link into the page itself, so that the copy in $work resolves it)
sed 's/(#the-target-is-locked-exit-7)/(#locked)/' "$MN_SOURCE_DIR/docs/troubleshooting.md" >"$work/links.md"
expect_problem "a link to a missing heading is found" '#locked: no heading' \
  python3 "$here/check_links.py" "$work/links.md"
finish
