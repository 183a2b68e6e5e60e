#!/usr/bin/env bash
# The man page and the exit-code table: docs/mongonorm.1 is what `mongonorm help --man`
# writes from the option tables today (so it never goes stale), it renders without a
# warning (groff), it has every option of every command's --help, every environment
# variable the code reads, and the exit codes and names of docs/exit-codes.md, which are
# the CLI's table (error.c).  Each check is also shown failing on a broken copy.
source "$(dirname "$0")/lib.sh"

setup_workdir
man_page="$MN_SOURCE_DIR/docs/mongonorm.1"
exit_doc="$MN_SOURCE_DIR/docs/exit-codes.md"

# ---- the checks, each on files given to it ------------------------------------

# same_page GENERATED COMMITTED: silent when equal, else the first lines of the diff.
same_page() { diff "$2" "$1" | head -8 || true; }

# groff_warnings PAGE: what groff says rendering it with every warning on (nothing: fine).
groff_warnings() { groff -man -Tutf8 -ww -z "$1" 2>&1; }

# missing_options PAGE: each "<command> --<option>" of a command's --help that the
# page's section for the command (.SS "mongonorm <command>") does not list as a tag.
missing_options() {
  local c opt
  for c in $("$MN_BIN" --help | awk '/^commands:$/ {on = 1; next} on && !NF {exit} on {print $1}'); do
    for opt in $("$MN_BIN" "$c" --help | sed -n -E 's/^  (-[[:alnum:]], )?--([[:alnum:]-]+).*/\2/p'); do
      # the tag as the page writes it: \fB\-\-max\-rejects\fR
      TAG="\\fB\\-\\-$(sed 's/-/\\-/g' <<<"$opt")\\fR" H=".SS \"mongonorm $c\"" awk '
        $0 == ENVIRON["H"] {on = 1; next} on && /^\.S[SH] / {exit}
        on && prev == ".TP" && index($0, ENVIRON["TAG"]) {found = 1} {prev = $0}
        END {exit !found}' "$1" || echo "$c --$opt"
    done
  done
}

# missing_env PAGE: each variable the code reads by name (getenv("NAME") in src/) that
# the page's ENVIRONMENT section does not name.
missing_env() {
  local v section
  section=$(awk '/^\.SH ENVIRONMENT/ {on = 1; next} on && /^\.SH / {exit} on' "$1" | sed 's/\\-/-/g')
  for v in $(grep -rhoE 'getenv\("[A-Za-z_][A-Za-z0-9_]*"\)' "$MN_SOURCE_DIR/src" |
             sed -E 's/getenv\("(.*)"\)/\1/' | sort -u); do
    grep -qw -- "$v" <<<"$section" || echo "$v"
  done
}

# page_exit_codes PAGE: "code|name" per entry of EXIT STATUS (".B code", '.IR "name" :').
page_exit_codes() {
  awk '/^\.SH "EXIT STATUS"/ {on = 1; next} on && /^\.SH / {exit}
       on && /^\.B [0-9]+$/ {code = $2; next}
       on && code != "" && /^\.IR "/ {sub(/^\.IR "/, ""); sub(/" :$/, ""); print code "|" $0; code = ""}' "$1" |
    sed 's/\\-/-/g'
}

# doc_exit_codes DOC: "code|name" per row of exit-codes.md's table ("| 0 | done | ...").
doc_exit_codes() {
  sed -n -E 's/^\| ([0-9]+) \| ([^|]+) \|.*/\1|\2/p' "$1" | sed 's/ *$//'
}

# ---- on the real files ----------------------------------------------------------

try "$MN_BIN" help --man >"$work/generated.1" 2>"$err"
if [ "$rc" -eq 0 ] && [ ! -s "$err" ] && [ -s "$work/generated.1" ]; then
  pass "help --man writes the page, exit 0, nothing on stderr"
else
  fail "help --man: exit $rc, stderr: $(head -3 "$err")"
fi
d=$(same_page "$work/generated.1" "$man_page")
if [ -z "$d" ]; then
  pass "docs/mongonorm.1 is what \"mongonorm help --man\" writes"
else
  fail "docs/mongonorm.1 is stale; regenerate it: mongonorm help --man > docs/mongonorm.1"
  sed 's/^/#   /' <<<"$d"
fi

if command -v groff >/dev/null; then
  w=$(groff_warnings "$man_page")
  if [ -z "$w" ]; then pass "groff -man -ww renders the page without a warning"; else fail "groff: $w"; fi
  rendered=$(groff -man -Tutf8 -P-cbou "$man_page" 2>/dev/null || true)
  if grep -q '^EXIT STATUS$' <<<"$rendered"; then
    pass "the page renders (groff -man -Tutf8)"
  else
    fail "groff -man -Tutf8 renders no EXIT STATUS section"
  fi
elif [ "${CI:-}" = true ]; then
  fail "groff is missing under CI=true (scripts/setup.sh installs groff-base)"
else
  echo "# SKIP the rendering checks: no groff"
fi
if command -v mandoc >/dev/null; then
  w=$(mandoc -Tlint -W warning "$man_page" 2>&1 || true)
  if [ -z "$w" ]; then pass "mandoc -Tlint finds nothing"; else fail "mandoc: $w"; fi
fi

m=$(missing_options "$man_page")
if [ -z "$m" ]; then pass "the page lists every option of every command's --help"; else fail "options missing from the page: $(echo $m)"; fi
m=$(missing_env "$man_page")
if [ -z "$m" ]; then pass "ENVIRONMENT names every variable the code reads"; else fail "variables missing from ENVIRONMENT: $(echo $m)"; fi

page_exit_codes "$man_page" >"$work/page-codes"
doc_exit_codes "$exit_doc" >"$work/doc-codes"
if [ "$(wc -l <"$work/page-codes")" -ge 10 ] && cmp -s "$work/page-codes" "$work/doc-codes"; then
  pass "docs/exit-codes.md has the codes and names of the CLI's table ($(wc -l <"$work/doc-codes"))"
else
  fail "docs/exit-codes.md and the exit-code table (error.c) differ: $(diff "$work/doc-codes" "$work/page-codes" | head -6)"
fi
"$MN_BIN" --help | awk '/^exit codes/ {on = 1; next} on && NF {print $1 "|" substr($0, index($0, $2))}' |
  sed 's/^ *//' >"$work/help-codes"
expect_same_files "the overview's exit codes are the table's" "$work/page-codes" "$work/help-codes"

# ---- `mongonorm help [<command>]` ------------------------------------------------

"$MN_BIN" --help >"$work/overview"
try "$MN_BIN" help >"$out" 2>"$err"
expect_same_files "help is --help" "$work/overview" "$out"
for c in init run verify; do
  "$MN_BIN" "$c" --help >"$work/want"
  try "$MN_BIN" help "$c" >"$out" 2>"$err"
  expect_same "help $c: exit 0, nothing on stderr" "0 0" "$rc $(wc -c <"$err")"
  expect_same_files "help $c is $c --help" "$work/want" "$out"
done
try "$MN_BIN" help frob >"$out" 2>"$err"
expect_same "help frob: exit 2, nothing on stdout" "2 0" "$rc $(wc -c <"$out")"
{ echo 'mongonorm: error: unknown command "frob"'; cat "$work/overview"; } >"$work/want"
expect_same_files "help frob: the error, then the overview, on stderr" "$work/want" "$err"
try "$MN_BIN" help run extra >"$out" 2>"$err"
expect_same "help run extra: exit 2" 2 "$rc"
expect_same "help run extra: the error" 'mongonorm: error: unexpected argument "extra"' "$(head -1 "$err")"

# ---- each check fails on a broken copy --------------------------------------------

sed '0,/^\.SH OPTIONS/s//.SH OPTIONZ/' "$man_page" >"$work/stale.1"
[ -n "$(same_page "$work/stale.1" "$man_page")" ] && pass "a stale page is found" ||
  fail "a page with one line changed is taken as current"
if command -v groff >/dev/null; then
  { cat "$man_page"; echo ".XX not a macro"; } >"$work/warn.1"
  grep -q "macro 'XX' not defined" <<<"$(groff_warnings "$work/warn.1")" &&
    pass "a groff warning is found" || fail "groff says nothing of an undefined macro"
fi
awk '/^\.SS / {on = /"mongonorm run"/} on && /\\fB\\-\\-quiet\\fR/ {sub(/quiet/, "quite")} 1' \
  "$man_page" >"$work/noopt.1"
expect_same "a page without run's --quiet is found" "run --quiet" "$(missing_options "$work/noopt.1")"
sed '/^\.B MONGODB_URI$/d' "$man_page" >"$work/noenv.1"
expect_same "a page that does not name MONGODB_URI is found" "MONGODB_URI" "$(missing_env "$work/noenv.1")"
sed 's/^| 7 | locked |/| 7 | busy |/' "$exit_doc" >"$work/exit-codes.md"
cmp -s "$work/page-codes" <(doc_exit_codes "$work/exit-codes.md") &&
  fail "an exit-codes.md with a renamed code agrees with the table" ||
  pass "an exit-codes.md with a renamed code is found"
finish
