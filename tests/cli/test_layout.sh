#!/usr/bin/env bash
# The code's map matches the tree, and no function outgrows the rule (check_layout.py):
# docs/design.md's module tables name every source file and only files that exist; no
# function in src/ is over 100 lines.  Each check is also shown failing on a copy.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if out=$(python3 "$here/check_layout.py" "$MN_SOURCE_DIR" 2>&1); then
  pass "design.md's module tables match src/, no function over 100 lines"
else
  fail "layout: $out"
fi

# The checks can fail: a copy of the tree with a file design.md does not name, a row
# naming a file that is gone, and a function of 101 lines.
mkdir -p "$work/t/docs" "$work/t/src"
cp "$MN_SOURCE_DIR/docs/design.md" "$work/t/docs/"
cp -r "$MN_SOURCE_DIR/src/lib" "$MN_SOURCE_DIR/src/gen" "$MN_SOURCE_DIR/src/cli" "$work/t/src/"
touch "$work/t/src/lib/run/unnamed.c"
rm "$work/t/src/lib/util/files.c"
{
  printf 'static void\nlong_one(void)\n{\n'
  for i in $(seq 99); do printf '   (void)%d;\n' "$i"; done
  printf '}\n'
} > "$work/t/src/gen/too_long.c"
out=$(python3 "$here/check_layout.py" "$work/t" 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 1 ] && grep -q 'no module row names run/unnamed.c' <<<"$out" &&
   grep -q 'names util/files.c, which is not in the tree' <<<"$out" &&
   grep -q 'too_long.c:3: a function of 101 lines' <<<"$out"; then
  pass "the layout check finds an unnamed file, a missing one and a 101-line function"
else
  fail "the layout check on a broken copy: rc $rc: $out"
fi
finish
