#!/usr/bin/env bash
# The HTML reports people read: `run --report-html` and `status --html`.  The MediChat
# sample (its dump, its mapping, and the four documents it rejects) is loaded with
# --report-html, then loaded again, then `status --html` covers the two runs.  Each page
# is checked at the parser level (tests/cli/check_report_html.py: one bar per table of the
# mapping, every table and reject reason listed, the rejected documents' _ids and
# columns among the examples, no script, nothing loaded, and no value of the source: the
# rejected documents' e-mails, names, hashes, and every string of 8 characters or more of
# the sample), then rendered in headless Chromium: the screenshots are kept under
# $MN_BUILD_DIR/artifacts/ and must show the charts' colours, and the rendered DOM
# (--dump-dom) must hold the charts.  Each check is also shown failing on a broken copy.
# Also: the page of a failed run, the file modes, and the exact errors for a report that
# cannot be written.
source "$(dirname "$0")/lib.sh"

require_pg
isolate_env
chromium_bin=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium_bin" ] || skip_all "chromium not installed (scripts/setup.sh installs Debian's chromium)"
setup_workdir
artifacts="$MN_BUILD_DIR/artifacts"
mkdir -p "$artifacts"
check="$MN_SOURCE_DIR/tests/cli/check_report_html.py"
dump="$MEDICHAT/dump/medichat"
n_tables=$(sed -nE 's/^[[:space:]]*-[[:space:]]*table:[[:space:]]*([A-Za-z_0-9]+)[[:space:]]*$/\1/p' \
  "$MEDICHAT_MAP" | sort -u | wc -l)
GREEN='#2e7d32' BLUE='#1565c0' ORANGE='#e65100' # the charts' fills (src/lib/report)

# chromium ARGS...: headless Chromium, as root too (--no-sandbox), touching no network and
# no profile of the user; its own chatter goes to $work/chromium.log.
chromium() {
  local profile
  profile=$(mktemp -d "$work/profile.XXXXXX")
  timeout 120 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" "$@" 2>>"$work/chromium.log"
}

# screenshot PAGE PNG: the page rendered at 1200x1600.
screenshot() { chromium --screenshot="$2" --window-size=1200,1600 "file://$1" >/dev/null; }

# expect_check DESC ARGS...: the checker passes on ARGS; expect_check_fails DESC WANT
# ARGS...: it fails, saying WANT (a broken copy).
expect_check() {
  local desc=$1
  shift
  try /usr/bin/python3 "$check" "$@" >"$work/check.out" 2>&1
  if [ "$rc" -eq 0 ]; then pass "$desc"; else fail "$desc: $(grep -v '^#' "$work/check.out" | head -5)"; fi
}
expect_check_fails() {
  local desc=$1 want=$2
  shift 2
  try /usr/bin/python3 "$check" "$@" >"$work/check.out" 2>&1
  if [ "$rc" -eq 1 ] && grep -qF -- "$want" "$work/check.out"; then
    pass "$desc"
  else
    fail "$desc: exit $rc, $(head -3 "$work/check.out")"
  fi
}

# ---- run --report-html ---------------------------------------------------------

dsn=$(init_db mn_report_html --sql-dir "$MN_SOURCE_DIR/sql")
try "$MN_BIN" run --pg "$dsn" --source "$dump" --mapping "$MEDICHAT_MAP" --rejects "$work/run1.rejects" \
  --report "$work/run1.json" --report-html "$work/run1.html" >"$out" 2>"$err"
expect_same "run: exit 1 (the sample's rejects)" 1 "$rc"
expect_same "run: the page is a private file" 600 "$(stat -c %a "$work/run1.html" 2>/dev/null)"
run_args=("$work/run1.html" "$MEDICHAT_MAP" "$work/run1.json" "$work/run1.rejects" "$MEDICHAT/json")
expect_check "run page: one bar per table, every table and reason, examples, no value" run "${run_args[@]}"
grep -v '^#' "$work/check.out" || true
grep '^#' "$work/check.out" || true
for phi in robert.johnson@example.com root@medichat.example superuser Operator; do
  # these are in the sample's rejected documents, so the check above looked for them
  grep -qF -- "$phi" "$work/run1.rejects" || fail "\"$phi\" is not in the sample's rejects any more"
done

# the same checks fail on broken copies of the page
sed 's|</main>|<p>robert.johnson@example.com</p></main>|' "$work/run1.html" >"$work/broken.html"
expect_check_fails "run page check fails on a page with a patient's e-mail" \
  "a value of the source is in the page: 'robert.johnson@example.com'" \
  run "$work/broken.html" "${run_args[@]:1}"
awk '/<svg id="rows-chart"/ {on = 1} on && /^<g class="bar">/ && !done {done = 1; next} {print}' \
  "$work/run1.html" >"$work/broken.html"
expect_check_fails "run page check fails with a bar missing" "rows-chart has $((n_tables - 1)) bars" \
  run "$work/broken.html" "${run_args[@]:1}"
sed 's|role: string &quot;...&quot; is not in the enum|role: is not in the enum|' "$work/run1.html" \
  >"$work/broken.html"
expect_check_fails "run page check fails with a reason missing" "reason not listed: users" \
  run "$work/broken.html" "${run_args[@]:1}"
sed 's|</main>|<script>1</script></main>|' "$work/run1.html" >"$work/broken.html"
expect_check_fails "run page check fails on a script" "<script> element" run "$work/broken.html" \
  "${run_args[@]:1}"

# rendered: the screenshot shows the charts (their fills), the DOM holds them
screenshot "$work/run1.html" "$artifacts/report.png"
expect_check "run page rendered: $artifacts/report.png shows the charts" png "$artifacts/report.png" \
  "$GREEN" "$ORANGE"
grep '^#' "$work/check.out" || true
chromium --dump-dom "file://$work/run1.html" >"$work/run1.dom.html"
expect_check "run page rendered: the DOM has $n_tables bars in rows-chart" dom "$work/run1.dom.html" \
  rows-chart "$n_tables"
expect_check "run page rendered: the DOM has 4 bars in rejects-chart" dom "$work/run1.dom.html" \
  rejects-chart 4
printf '<!DOCTYPE html><html><body></body></html>\n' >"$work/blank.html"
screenshot "$work/blank.html" "$work/blank.png"
expect_check_fails "screenshot check fails on a blank page" "no pixel of the chart colour" \
  png "$work/blank.png" "$GREEN"
expect_check_fails "DOM check fails on a page without the chart" "bars in rows-chart" \
  dom "$work/blank.html" rows-chart "$n_tables"

# ---- status --html after two runs ----------------------------------------------

try "$MN_BIN" run --quiet --pg "$dsn" --source "$dump" --mapping "$MEDICHAT_MAP" \
  --rejects "$work/run2.rejects" >"$out" 2>"$err"
expect_same "second run: exit 1" 1 "$rc"
try "$MN_BIN" status --pg "$dsn" --source "$dump" --mapping "$MEDICHAT_MAP" \
  --html "$work/status.html" >"$out" 2>"$err"
expect_same "status --html: exit 0, nothing on stderr" "0 " "$rc $(cat "$err")"
grep -q '^run ' "$out" && pass "status --html: the text still on stdout" || fail "status: no text"
expect_same "status: the page is a private file" 600 "$(stat -c %a "$work/status.html" 2>/dev/null)"
expect_check "status page: two runs, the first changed all it loaded, the re-run nothing" \
  status "$work/status.html" 2
grep -qF 'id="pending"' "$work/status.html" && pass "status page: the changes waiting now" ||
  fail "status page: no pending table"
"$MN_BIN" status --pg "$dsn" --runs 1 --html "$work/broken.html" >/dev/null
expect_check_fails "status page check fails on a page of one run" "the runs table has 1 rows" \
  status "$work/broken.html" 2
screenshot "$work/status.html" "$artifacts/status.png"
expect_check "status page rendered: $artifacts/status.png shows the chart" png "$artifacts/status.png" \
  "$BLUE" "$ORANGE"
chromium --dump-dom "file://$work/status.html" >"$work/status.dom.html"
expect_check "status page rendered: the DOM has 2 bars in runs-chart" dom "$work/status.dom.html" \
  runs-chart 2

# ---- a failed run, and reports that cannot be written --------------------------

mkdir -p "$work/partial"
cp "$dump/users.bson" "$dump/users.metadata.json" "$work/partial/"
try "$MN_BIN" run --quiet --pg "$dsn" --source "$work/partial" --mapping "$MEDICHAT_MAP" \
  --rejects "$work/run3.rejects" --report-html "$work/run3.html" >"$out" 2>"$err"
expect_same "failed run: exit 4" 4 "$rc"
if grep -qF '<div class="outcome bad">Failed' "$work/run3.html" &&
  grep -qF "$(sed -n 's/^mongonorm: error: //p' "$err" | head -1 | sed 's/"/\&quot;/g')" "$work/run3.html"; then
  pass "failed run: the page says it failed, and why"
else
  fail "failed run: $(grep -o '<div class="outcome[^<]*' "$work/run3.html" 2>/dev/null)"
fi

try "$MN_BIN" run --pg "$dsn" --source "$dump" --mapping "$MEDICHAT_MAP" --rejects "$work/run4.rejects" \
  --report-html "$work/missing/run4.html" >"$out" 2>"$err"
expect_same "run --report-html in a missing folder: exit 6, the exact error, nothing run" \
  "6 mongonorm: error: could not write report \"$work/missing/run4.html\": No such file or directory" \
  "$rc $(cat "$err")$(cat "$out")"
try "$MN_BIN" status --pg "$dsn" --html "$work/missing/status.html" >"$out" 2>"$err"
expect_same "status --html in a missing folder: exit 6, the exact error" \
  "6 mongonorm: error: could not write report \"$work/missing/status.html\": No such file or directory" \
  "$rc $(cat "$err")"

finish
