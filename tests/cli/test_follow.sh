#!/usr/bin/env bash
# Follow mode against the MongoDB-wire test server's change stream: changes written
# while `run --follow` runs reach the target; after SIGTERM the target equals a fresh
# full load of the server's data; an ordinary run then finds nothing left to do; a new
# session resumes from the stored token.
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir
map="$MEDICHAT_MAP"
port="$work/wire.port"
uri=$(bash "$MN_SOURCE_DIR/tests/start_wire_server.sh" "$MN_SOURCE_DIR/fixtures/medichat/dump/medichat" "$port")
trap 'bash "$MN_SOURCE_DIR/tests/stop_wire_server.sh" "$port" >/dev/null 2>&1 || true' EXIT

target=$(init_db mn_follow --sql-dir "$MN_SOURCE_DIR/sql")

wait_for() { # sql expected: poll the target until the query gives the value (20 s)
  local i
  for i in $(seq 1 200); do
    [ "$(psql "$target" -qXAt -c "$1" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

"$MN_BIN" run --quiet --follow --pg "$target" --source "$uri" --mapping "$map" \
  --rejects "$work/rejects.jsonl" --report "$work/follow.json" 2>"$work/follow.err" &
pid=$!
if wait_for "SELECT count(*) FROM mongonorm.streams" 1; then
  pass "follow: first pass done, resume token stored"
else
  fail "follow: no resume token after 20 s: $(cat "$work/follow.err")"
fi

# A loaded conversation, by its ObjectId (the first 24 hex digits of its row id).
conv=$(psql "$target" -qXAt -c "SELECT left(replace(id::text, '-', ''), 24) FROM conversations ORDER BY id LIMIT 1")
# Writes through the wire protocol, as the old application would make them.
/usr/bin/python3 - "$uri" "$conv" <<'PY'
import sys, datetime
from pymongo import MongoClient
from bson import ObjectId
db = MongoClient(sys.argv[1]).get_database()
now = datetime.datetime(2026, 11, 21, 12, 0, 0)
log = db.activity_logs.find_one({"action": "user.login"})
log["_id"] = ObjectId("6b0000000000000000000001")
log["description"] = "written while following"
db.activity_logs.insert_one(log)
r = db.conversations.update_one({"_id": ObjectId(sys.argv[2])},
                                {"$set": {"aiSummary": "edited while following", "updatedAt": now}})
assert r.modified_count == 1, r.raw_result
assert db.activity_logs.delete_one({"_id": ObjectId("659bbdb56c6f670000000001")}).deleted_count == 1
PY
if wait_for "SELECT count(*) FROM activity_logs WHERE description = 'written while following'" 1 &&
   wait_for "SELECT count(*) FROM conversations WHERE ai_summary = 'edited while following'" 1 &&
   wait_for "SELECT count(*) FROM activity_logs WHERE id = '659bbdb5-6c6f-6700-0000-000100000000'" 0; then
  pass "follow: an insert, an update and a delete reached the target while following"
else
  fail "follow: changes did not reach the target"
fi
sleep 2
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
if [ "$rc" -le 1 ]; then pass "follow: SIGTERM ends the session cleanly (exit $rc)"; else fail "follow: exit $rc: $(cat "$work/follow.err")"; fi

# The target equals a fresh full load of what the server holds now.
fresh=$(init_db mn_follow_fresh --sql-dir "$MN_SOURCE_DIR/sql")
"$MN_BIN" run --quiet --pg "$fresh" --source "$uri" --mapping "$map" \
  --rejects "$work/fresh.rejects" 2>/dev/null || true
dump_tables "$target" > "$work/target.txt"
dump_tables "$fresh" > "$work/fresh.txt"
if cmp -s "$work/target.txt" "$work/fresh.txt"; then
  pass "after following, the target equals a full load of the source"
else
  fail "after following, the target differs: $(diff "$work/fresh.txt" "$work/target.txt" | head -4)"
fi

# An ordinary run finds nothing left to do.
"$MN_BIN" run --quiet --pg "$target" --source "$uri" --mapping "$map" \
  --rejects "$work/after.rejects" --report "$work/after.json" 2>/dev/null || true
written=$(/usr/bin/python3 -c "
import json
r = json.load(open('$work/after.json'))
print(sum(t['inserted'] + t['updated'] + t['deleted'] for t in r['tables'].values()))")
if [ "$written" = 0 ]; then pass "an ordinary run after following writes nothing"; else fail "an ordinary run after following wrote $written rows"; fi

# A new session resumes from the stored token: a change made while no session ran.
token_before=$(psql "$target" -qXAt -c "SELECT resume_token FROM mongonorm.streams")
/usr/bin/python3 - "$uri" "$conv" <<'PY'
import sys
from pymongo import MongoClient
from bson import ObjectId
db = MongoClient(sys.argv[1]).get_database()
r = db.conversations.update_one({"_id": ObjectId(sys.argv[2])},
                                {"$set": {"aiSummary": "edited between sessions"}})
assert r.modified_count == 1, r.raw_result
PY
"$MN_BIN" run --quiet --follow --pg "$target" --source "$uri" --mapping "$map" \
  --rejects "$work/rejects2.jsonl" 2>"$work/follow2.err" &
pid=$!
if wait_for "SELECT count(*) FROM conversations WHERE ai_summary = 'edited between sessions'" 1; then
  pass "a new session applies what changed while none ran"
else
  fail "a new session did not apply the change made between sessions"
fi
# The first pass applies the change; the stream's event for it moves the token just
# after (slower under sanitizers): give it up to 20 s before stopping the session.
for _ in $(seq 1 200); do
  [ "$(psql "$target" -qXAt -c "SELECT resume_token FROM mongonorm.streams")" != "$token_before" ] && break
  sleep 0.1
done
kill -TERM "$pid"
wait "$pid" || true
token_after=$(psql "$target" -qXAt -c "SELECT resume_token FROM mongonorm.streams")
if [ -n "$token_before" ] && [ "$token_before" != "$token_after" ]; then pass "the resume token moves on"; else fail "resume token did not move: $token_before"; fi

# Follow mode needs a live source.
try "$MN_BIN" run --quiet --follow --pg "$target" --source "$MN_SOURCE_DIR/fixtures/medichat/dump" \
  --mapping "$map" --rejects "$work/x.rejects" 2>"$work/nolive.err"
if [ "$rc" = 4 ] && grep -q "following changes needs a live MongoDB source" "$work/nolive.err"; then
  pass "--follow with a dump folder: exit 4 and a clear message"
else
  fail "--follow with a dump folder: exit $rc, $(cat "$work/nolive.err")"
fi
finish
