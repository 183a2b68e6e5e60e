#!/usr/bin/env bash
# Incremental runs during a cutover: after the source changes (inserts, edits, array
# edits, deletes, a referenced user removed, a rejected document made valid), a re-run
# gives tables identical to a full load of the changed source into an empty database;
# a run killed with SIGKILL at random points and run again converges to the same; a
# second run writes nothing.  For the dump/JSON source and the live wire server.
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir
fx="$MEDICHAT"
map="$MEDICHAT_MAP"
s1="$fx/json-canonical"
s2="$work/s2"
/usr/bin/python3 "$MN_SOURCE_DIR/tests/cli/edit_source.py" "$s1" "$s2"

run() { # dsn source report [extra args] -> exit code in $rc
  local dsn=$1 src=$2 report=$3; shift 3
  try "$MN_BIN" run --quiet --pg "$dsn" --source "$src" --mapping "$map" \
    --rejects "$work/rejects.jsonl" --report "$report" "$@" 2>>"$work/stderr.txt"
}

wait_unlocked() { # dsn: until the killed run's server session has gone (at most 10 s)
  local i
  for i in $(seq 1 100); do
    [ "$(psql "$1" -qXAt -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" = 0 ] && return 0
    sleep 0.1
  done
  echo "# the killed run's session still holds its lock after 10 s" >&2
  return 1
}

killed_run() { # dsn source batch-size seconds [rejects]: a run killed with SIGKILL that late
  "$MN_BIN" run --quiet --pg "$1" --source "$2" --mapping "$map" --batch-size "$3" \
    --rejects "${5:-$work/crash.rejects}" >/dev/null 2>&1 &
  local pid=$!
  sleep "$4"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  wait_unlocked "$1" || true
}

rerun_ok() { # what: the run after a kill must itself succeed (exit 0 or 1), or say why not
  [ "$rc" -le 1 ] || fail "$1: the run after the kill exited $rc: $(tail -n 2 "$work/stderr.txt" | tr '\n' ' ')"
}

written() { # report -> rows inserted + updated + deleted over all tables
  /usr/bin/python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
print(sum(t['inserted'] + t['updated'] + t['deleted'] for t in r['tables'].values()))" "$1"
}


# The reference: a full load of the changed source into an empty database.
ref=$(init_db mn_inc_ref --sql-dir "$MN_SOURCE_DIR/sql")
run "$ref" "$s2" "$work/ref.json"
dump_tables "$ref" > "$work/ref.txt"
if [ "$rc" -le 1 ]; then pass "full load of the changed source"; else fail "full load of the changed source: exit $rc"; fi

# 1. Load S1, then an incremental run with S2.
inc=$(init_db mn_inc --sql-dir "$MN_SOURCE_DIR/sql")
run "$inc" "$s1" "$work/s1.json"
pending() { # dsn source -> "new changed deleted" summed over the collections
  "$MN_BIN" status --pg "$1" --source "$2" --mapping "$map" --json --runs 1 |
    /usr/bin/python3 -c "
import json, sys
r = json.load(sys.stdin)['collections'].values()
print(sum(c['new'] for c in r), sum(c['changed'] for c in r), sum(c['deleted'] for c in r))"
}
before=$(pending "$inc" "$s2")
# status writes nothing: a role that may only read the target gets the same counts.
psql "$inc" -qXAt -v ON_ERROR_STOP=1 >/dev/null -c "DO \$\$ BEGIN CREATE ROLE mn_status_reader LOGIN;
  EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
  GRANT USAGE ON SCHEMA mongonorm, public TO mn_status_reader;
  GRANT SELECT ON ALL TABLES IN SCHEMA mongonorm, public TO mn_status_reader"
reader=$(pending "$inc user=mn_status_reader" "$s2" 2>"$work/reader.err")
if [ "$reader" = "$before" ] && [ -n "$before" ]; then
  pass "status --source as a role that may only SELECT: the same counts ($reader)"
else
  fail "status --source as a read-only role: [$reader] against [$before]: $(cat "$work/reader.err")"
fi
run "$inc" "$s2" "$work/s2.json"
after=$(pending "$inc" "$s2")
set -- $before
if [ "$1" = 3 ] && [ "$2" -ge 6 ] && [ "$3" = 4 ] && [ "$after" = "0 0 0" ]; then
  pass "status shows the pending changes ($before), none after the run"
else
  fail "status: new/changed/deleted before the run $before, after $after"
fi
dump_tables "$inc" > "$work/inc.txt"
expect_same_files "incremental run equals a full load of the changed source" "$work/ref.txt" "$work/inc.txt"
counts=$(field "$work/s2.json" "' '.join(str(r['tables'][t][k]) for t, k in [('users','inserted'), ('users','deleted'), ('messages','updated'), ('messages','deleted'), ('allergies','inserted'), ('activity_logs','deleted'), ('activity_logs','inserted'), ('activity_logs','updated')])")
# new user + superuser made valid; one user removed; message edited; one message removed
# (and the deleted conversation's); Latex; two logs removed; one added; one edited (and
# the one whose user, rejected before, is valid now).
set -- $counts
if [ "$1" -ge 2 ] && [ "$2" -ge 1 ] && [ "$3" -ge 1 ] && [ "$4" -ge 2 ] && [ "$5" -ge 1 ] &&
   [ "$6" = 2 ] && [ "$7" = 1 ] && [ "$8" -ge 1 ]; then
  pass "the report counts the changes ($counts)"
else
  fail "the report's counts are off: users ins/del, messages upd/del, allergies ins, logs del/ins/upd = $counts"
fi
# 2. Again with no change: nothing written, everything unchanged.
run "$inc" "$s2" "$work/again.json"
w=$(written "$work/again.json")
u=$(field "$work/again.json" "sum(c['unchanged'] for c in r['collections'].values())")
l=$(field "$work/again.json" "sum(c['loaded'] for c in r['collections'].values())")
if [ "$w" = 0 ] && [ "$u" = "$l" ]; then pass "a run with no change writes nothing ($u documents unchanged)"; else fail "no-change run wrote $w rows, $u of $l documents unchanged"; fi
rej=$(/usr/bin/python3 -c "
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
report = json.load(open(sys.argv[2]))
total = sum(c['rejected'] for c in report['collections'].values())
ok = total == len(lines) and total > 0 and all(l.get('unchanged') is True and l['reason'] and '_id' in l for l in lines)
print('ok' if ok else 'bad %d %d' % (total, len(lines)))" "$work/rejects.jsonl" "$work/again.json")
if [ "$rej" = ok ]; then pass "unchanged rejected documents listed with their recorded reason"; else fail "reject file of the no-change run: $rej"; fi

# 2b. Records as an older mongonorm wrote them: row counts as an int[], no packed counts.
# They are read: a re-run writes nothing and counts the same unchanged rows; verify passes.
q "$inc" "COPY (SELECT collection, doc_id, encode(counts, 'hex') FROM mongonorm.documents) TO STDOUT" |
  /usr/bin/python3 -c "
import sys
for line in sys.stdin:
    c, d, h = line.rstrip('\n').split('\t')
    b, out, v, shift = bytes.fromhex(h), [], 0, 0
    for x in b:
        v |= (x & 127) << shift; shift += 7
        if not x & 128: out.append(v); v, shift = 0, 0
    print('%s\t%s\t{%s}' % (c, d, ','.join(map(str, out))))" > "$work/old-counts.txt"
psql "$inc" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TEMP TABLE old_counts (collection text, doc_id uuid, row_counts int[]);
\copy old_counts FROM '$work/old-counts.txt'
UPDATE mongonorm.documents d SET row_counts = o.row_counts, counts = NULL
  FROM old_counts o WHERE d.collection = o.collection AND d.doc_id = o.doc_id;
SQL
olds=$(q "$inc" "SELECT count(*) FILTER (WHERE counts IS NULL AND row_counts IS NOT NULL), count(*) FROM mongonorm.documents")
run "$inc" "$s2" "$work/old.json"
w=$(written "$work/old.json")
unchanged_rows() { field "$1" "' '.join(str(t['unchanged']) for t in r['tables'].values())"; }
try "$MN_BIN" verify --pg "$inc" --source "$s2" --mapping "$map" >"$work/old-verify.txt" 2>&1
if [ "$w" = 0 ] && [ "$(unchanged_rows "$work/old.json")" = "$(unchanged_rows "$work/again.json")" ] &&
   [ "$rc" = 0 ] && [ "${olds%%|*}" = "${olds##*|}" ] && [ "${olds%%|*}" -gt 0 ]; then
  pass "records with int[] row counts (an older mongonorm's, $olds) are read: nothing written, the same unchanged rows, verify passes"
else
  fail "records with int[] row counts ($olds): $w rows written, unchanged rows [$(unchanged_rows "$work/old.json")] against [$(unchanged_rows "$work/again.json")], verify exit $rc: $(tail -n 3 "$work/old-verify.txt")"
fi

# 3. Back to S1 from S2 (the reverse changes) equals a full load of S1.
full1=$(init_db mn_inc_full1 --sql-dir "$MN_SOURCE_DIR/sql")
run "$full1" "$s1" "$work/full1.json"
dump_tables "$full1" > "$work/full1.txt"
# ... run by a role that owns nothing: only DML on the tables (mongonorm's too) and their
# sequences, as a least-privilege loader after `init` by the owner.
psql "$inc" -qXAt -v ON_ERROR_STOP=1 >/dev/null -c "DO \$\$ BEGIN CREATE ROLE mn_dml_loader LOGIN;
  EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
  GRANT USAGE ON SCHEMA mongonorm, public TO mn_dml_loader;
  GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA mongonorm, public TO mn_dml_loader;
  GRANT USAGE ON ALL SEQUENCES IN SCHEMA mongonorm, public TO mn_dml_loader"
run "$inc user=mn_dml_loader" "$s1" "$work/back.json"
[ "$rc" -le 1 ] && pass "a re-run by a role with DML privileges only (exit $rc)" ||
  fail "a re-run by a role with DML privileges only: exit $rc: $(tail -3 "$work/stderr.txt")"
dump_tables "$inc" > "$work/back.txt"
expect_same_files "changing back converges too" "$work/full1.txt" "$work/back.txt" 4

# 4. Crash safety: kill the incremental run at random points, run again, compare.
for point in 1 2 3 4 5; do
  crash=$(init_db mn_inc_crash --sql-dir "$MN_SOURCE_DIR/sql")
  run "$crash" "$s1" "$work/c1.json"
  delay=$(( (RANDOM % 200) + 10 ))
  killed_run "$crash" "$s2" 3 "0.$(printf %03d "$delay")"
  run "$crash" "$s2" "$work/c2.json"
  rerun_ok "killed after ${delay} ms"
  dump_tables "$crash" > "$work/crash.txt"
  expect_same_files "killed after ${delay} ms, run again: identical to a clean run" "$work/ref.txt" "$work/crash.txt" 4
done
# a full load killed midway (from empty tables) converges as well
crash=$(init_db mn_inc_crash --sql-dir "$MN_SOURCE_DIR/sql")
killed_run "$crash" "$s2" 2 0.05
run "$crash" "$s2" "$work/c3.json"
rerun_ok "full load killed midway"
dump_tables "$crash" > "$work/crash.txt"
expect_same_files "full load killed midway, run again: identical" "$work/ref.txt" "$work/crash.txt"

# 5. The live source: the wire server serving S1 then S2.
if have_wire_server; then
  live=$(init_db mn_inc_live --sql-dir "$MN_SOURCE_DIR/sql")
  stop_server() { bash "$MN_SOURCE_DIR/tests/stop_wire_server.sh" "$work/wire.port" >/dev/null 2>&1 || true; }
  start_server() { # dir -> uri
    stop_server
    bash "$MN_SOURCE_DIR/tests/start_wire_server.sh" "$1" "$work/wire.port"
  }
  # live_runs DSN SOURCE1 REPORT1 SOURCE2 REPORT2 TABLES: a run while the wire server serves
  # SOURCE1, another while it serves SOURCE2; the tables then in TABLES
  live_runs() {
    uri=$(start_server "$2")
    run "$1" "$uri" "$3"
    uri=$(start_server "$4")
    run "$1" "$uri" "$5"
    stop_server
    dump_tables "$1" > "$6"
  }
  live_runs "$live" "$fx/dump/medichat" "$work/l1.json" "$s2" "$work/l2.json" "$work/live.txt"
  expect_same_files "live source: incremental run equals a full load of the changed source" "$work/ref.txt" "$work/live.txt" 4

  # A run from the live server killed midway converges as well.
  crash=$(init_db mn_inc_live_crash --sql-dir "$MN_SOURCE_DIR/sql")
  uri=$(start_server "$fx/dump/medichat")
  run "$crash" "$uri" "$work/lc1.json"
  uri=$(start_server "$s2")
  killed_run "$crash" "$uri" 3 "0.$(printf %03d $(( (RANDOM % 200) + 20 )))"
  run "$crash" "$uri" "$work/lc2.json"
  dump_tables "$crash" > "$work/live-crash.txt"
  expect_same_files "live source: killed midway, run again: identical to a clean run" "$work/ref.txt" "$work/live-crash.txt" 4
  stop_server

  # Watermark mode: no referenced collection changed membership, so only what changed
  # since updatedAt's watermark is read (plus the _id listing for deletions and new ids).
  s3="$work/s3"
  /usr/bin/python3 "$MN_SOURCE_DIR/tests/cli/edit_source.py" "$s1" "$s3" --light
  ref3=$(init_db mn_inc_ref3 --sql-dir "$MN_SOURCE_DIR/sql")
  run "$ref3" "$s3" "$work/ref3.json"
  dump_tables "$ref3" > "$work/ref3.txt"
  wm=$(init_db mn_inc_wm --sql-dir "$MN_SOURCE_DIR/sql")
  live_runs "$wm" "$fx/dump/medichat" "$work/w1.json" "$s3" "$work/w3.json" "$work/wm.txt"
  expect_same_files "watermark mode: equals a full load of the changed source" "$work/ref3.txt" "$work/wm.txt" 4
  # documents actually read: not those only listed by _id, nor the rejected ones read by
  # _id to be listed again
  reads=$(field "$work/w3.json" "' '.join(str(r['collections'][c]['read'] - r['collections'][c].get('not_read', 0) - r['collections'][c]['rejected']) for c in ('users', 'conversations', 'activity_logs'))")
  set -- $reads
  # users: one edited (the far login date); conversations: one edited, one added, one
  # with an array edit; logs: one edited, one added; plus, per collection, the document
  # at the watermark itself ($gte).  Removed documents are found by the _id listing.
  if [ "$1" -le 2 ] && [ "$2" -le 5 ] && [ "$3" -le 4 ]; then
    pass "watermark mode reads only what changed (users/conversations/logs read: $reads)"
  else
    fail "watermark mode read too much: users/conversations/logs read $reads"
  fi
  # Every document is accounted for in watermark mode too: the ones not read count as
  # unchanged, and the rejected ones are read by _id and listed with their reason, as a
  # full read lists them (issue 9 point 6).
  acct=$(/usr/bin/python3 -c "
import json, sys
w, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
lines = [l for l in open(sys.argv[3]) if l.strip()]
out = []
for c in ('users', 'conversations', 'activity_logs'):
    a, b = w['collections'][c], ref['collections'][c]
    out.append('%s %s/%s %s/%s %s' % (c, a['loaded'], b['loaded'], a['rejected'], b['rejected'],
                                     a.get('read_by', 'full')))
out.append('lines %d/%d' % (len(lines), sum(c['rejected'] for c in w['collections'].values())))
print(' | '.join(out))" "$work/w3.json" "$work/ref3.json" "$work/rejects.jsonl")
  expect=$(/usr/bin/python3 -c "
import json, sys
ref = json.load(open(sys.argv[1]))
out = ['%s %s/%s %s/%s watermark' % (c, ref['collections'][c]['loaded'], ref['collections'][c]['loaded'],
        ref['collections'][c]['rejected'], ref['collections'][c]['rejected'])
       for c in ('users', 'conversations', 'activity_logs')]
n = sum(c['rejected'] for c in ref['collections'].values())
out.append('lines %d/%d' % (n, n))
print(' | '.join(out))" "$work/ref3.json")
  if [ "$acct" = "$expect" ]; then
    pass "watermark mode accounts for every document and lists every reject ($acct)"
  else
    fail "watermark mode accounting: got [$acct], a full read gives [$expect]"
  fi

  # An edit that leaves updatedAt alone (a $set of firstName) is invisible to a watermark
  # read: status says so, the watermark run leaves it, `run --full` applies it, and then
  # the target equals a fresh load.
  s4="$work/s4"
  mkdir -p "$s4"
  cp "$s3"/*.json "$s4"/
  /usr/bin/python3 - "$s3/users.json" "$s4/users.json" <<'PY'
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for d in docs:
    if isinstance(d.get("firstName"), str) and d["firstName"] and "updatedAt" in d:
        d["firstName"] = d["firstName"] + " Quietly-Edited"
        break
with open(sys.argv[2], "w") as f:
    for d in docs:
        f.write(json.dumps(d, separators=(",", ":")) + "\n")
PY
  ref4=$(init_db mn_inc_ref4 --sql-dir "$MN_SOURCE_DIR/sql")
  run "$ref4" "$s4" "$work/ref4.json"
  dump_tables "$ref4" > "$work/ref4.txt"
  uri=$(start_server "$s4")
  behind=$("$MN_BIN" status --pg "$wm" --source "$uri" --mapping "$map" --json --runs 1 |
    /usr/bin/python3 -c "import json, sys; print(json.load(sys.stdin)['collections']['users']['changed_behind_watermark'])")
  status_text=$("$MN_BIN" status --pg "$wm" --source "$uri" --mapping "$map" --runs 1)
  run "$wm" "$uri" "$work/w4.json"
  dump_tables "$wm" > "$work/wm4.txt"
  if [ "$behind" = 1 ] && grep -q 'users: 1 changed document with updatedAt not past the watermark' <<<"$status_text" &&
     ! cmp -s "$work/ref4.txt" "$work/wm4.txt"; then
    pass "status names the edit a watermark read misses, and the watermark run leaves it (as documented)"
  else
    fail "edit behind the watermark: status count $behind, text [$(grep users: <<<"$status_text")]"
  fi
  run "$wm" "$uri" "$work/w5.json" --full
  dump_tables "$wm" > "$work/wm5.txt"
  mode=$(field "$work/w5.json" "r['collections']['users'].get('read_by', 'full')")
  if [ "$rc" -le 1 ] && [ "$mode" = full ] && cmp -s "$work/ref4.txt" "$work/wm5.txt"; then
    pass "run --full applies it: equals a fresh load"
  else
    fail "run --full (exit $rc, read by $mode): $(diff "$work/ref4.txt" "$work/wm5.txt" | head -4)"
  fi
  # After that whole read the next runs read by watermark again, until --full-every.
  run "$wm" "$uri" "$work/w6.json"
  m6=$(field "$work/w6.json" "r['collections']['users'].get('read_by', 'full')")
  run "$wm" "$uri" "$work/w7.json" --full-every 0
  m7=$(field "$work/w7.json" "r['collections']['users'].get('read_by', 'full')")
  psql "$wm" -qXAt -c "UPDATE mongonorm.collections SET full_read_at = now() - interval '2 hours'" >/dev/null
  run "$wm" "$uri" "$work/w8.json" --full-every 90m
  m8=$(field "$work/w8.json" "r['collections']['users'].get('read_by', 'full')")
  run "$wm" "$uri" "$work/w9.json" --full-every 3h
  m9=$(field "$work/w9.json" "r['collections']['users'].get('read_by', 'full')")
  if [ "$m6 $m7 $m8 $m9" = "watermark full full watermark" ]; then
    pass "--full-every: a whole read when the last one is older (runs read by: $m6 $m7 $m8 $m9)"
  else
    fail "--full-every: runs read by $m6 $m7 $m8 $m9, expected watermark full full watermark"
  fi
  stop_server
fi

# A run killed with SIGKILL never leaves a rejected document recorded in the target
# without its whole line in the reject file (issue 9 point 4: the file is flushed and
# synced before each batch commits).  Generated data with many rejects, small batches.
gen="$work/gen"
"$MN_BIN" generate --model "$fx/generator.yaml" --scale 300 --mess 20 --out "$gen" --quiet
for k in 1 2 3 4; do
  kdb=$(init_db "mn_inc_killrej$k" --sql-dir "$MN_SOURCE_DIR/sql")
  rm -f "$work/killrej.jsonl"
  ms=$(( (RANDOM % 1500) + 150 ))
  killed_run "$kdb" "$gen" 20 "$((ms / 1000)).$(printf %03d $((ms % 1000)))" "$work/killrej.jsonl"
  psql "$kdb" -qXAt -F ' ' -c "SELECT collection, doc_id FROM mongonorm.documents WHERE rejected" \
    > "$work/killrej-db.txt" 2>/dev/null || true
  verdict=$(/usr/bin/python3 - "$work/killrej.jsonl" "$work/killrej-db.txt" <<'PY'
import collections, json, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n") if __import__("os").path.exists(sys.argv[1]) else []
whole, torn = collections.Counter(), 0
for i, l in enumerate(lines):
    if not l.strip():
        continue
    try:
        d = json.loads(l)
    except ValueError:
        torn += 1 if i == len(lines) - 1 else 100  # only the very last line may be torn
        continue
    whole[d["collection"]] += 1
db = collections.Counter(l.split()[0] for l in open(sys.argv[2]) if l.strip())
short = [c for c in db if db[c] > whole[c]]
print("ok %d %d" % (sum(db.values()), sum(whole.values())) if not short and torn < 100 else
      "bad: recorded %s, whole lines %s, torn %d" % (dict(db), dict(whole), torn))
PY
)
  case "$verdict" in
  ok*) pass "killed after ${ms} ms: every rejected document the target records has its whole line (recorded/lines: ${verdict#ok })" ;;
  *) fail "killed after ${ms} ms: $verdict" ;;
  esac
done
finish
