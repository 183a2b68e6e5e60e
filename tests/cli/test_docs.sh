#!/usr/bin/env bash
# The docs say what the code does: docs/conversions.md's table is the golden case
# fixtures/cases/bson_types as stored (check_conversions.py), and the check fails on a doc
# with one cell changed.
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
finish
