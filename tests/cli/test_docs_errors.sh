#!/usr/bin/env bash
# The messages the operator's docs quote are the ones mongonorm prints: every "mongonorm:"
# and "hint:" line of a ```text block of docs/troubleshooting.md and docs/runbook.md
# matches a format string of src/ or a message a CLI test asserts (check_messages.py).
# The check fails on a doc with a made-up message, with a real one reworded, and with a
# made-up one behind the mapping file prefix.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
docs=("$MN_SOURCE_DIR/docs/troubleshooting.md" "$MN_SOURCE_DIR/docs/runbook.md")
check() { python3 "$here/check_messages.py" "$MN_SOURCE_DIR" "$@"; }

if out=$(check "${docs[@]}" 2>&1); then
  pass "every quoted message is printed by the code: ${out##*$'\n'}"
else
  fail "docs quote messages the code does not print:"$'\n'"$out"
fi
n=$(sed -n -E 's/^([0-9]+) quoted messages.*/\1/p' <<<"$out")
if [ "${n:-0}" -ge 60 ]; then pass "$n messages checked"; else fail "only ${n:-0} messages found in the docs"; fi

# expect_unknown DESC DOC LINE: the check fails on DOC and names LINE
expect_unknown() {
  if ! check "$2" >"$work/out" 2>&1 && grep -qF "no such message in the code or the CLI tests: $3" "$work/out"; then
    pass "$1 is found"
  else
    fail "$1 is not found: $(cat "$work/out")"
  fi
}

doc=${docs[0]}
{ cat "$doc"; printf '\n```text\nmongonorm: error: the frobnicator is out of flux\n```\n'; } >"$work/made-up.md"
expect_unknown "a made-up message" "$work/made-up.md" "mongonorm: error: the frobnicator is out of flux"

sed 's/^mongonorm: error: table "public.users" does not exist$/mongonorm: error: table "public.users" is missing/' \
  "$doc" >"$work/reworded.md"
if cmp -s "$doc" "$work/reworded.md"; then
  fail "troubleshooting.md no longer quotes 'table \"public.users\" does not exist' (the test edits it)"
else
  expect_unknown "a reworded message" "$work/reworded.md" 'mongonorm: error: table "public.users" is missing'
fi

{ cat "$doc"; printf '\n```text\nmongonorm: error: mapping file "m.yaml", line 3: unknown flux "x"\n```\n'; } >"$work/mapping.md"
expect_unknown "a made-up mapping error" "$work/mapping.md" 'mongonorm: error: mapping file "m.yaml", line 3: unknown flux "x"'
finish
