#!/usr/bin/env bash
# flatten: and unmapped_to: against PostgreSQL (issue 12, point 3): a mapping using both
# loads, the catch-all jsonb columns hold the unmapped fields (still counted as drift),
# a second run with no change writes nothing, a changed unknown field updates the jsonb
# (and only that document), verify agrees; a catch-all whose column is not jsonb stops
# `check --pg` and `run` with exit 3, and a NOT NULL one is a finding of `check --pg`.
source "$(dirname "$0")/lib.sh"
require_pg
isolate_env
setup_workdir sql s1 s2 sqltext

cat > "$work/sql/001_people.sql" <<'SQL'
CREATE TABLE public.people (
    id                   uuid PRIMARY KEY,
    name                 text,
    profile_first_name   text,
    profile_birth_date   date,
    profile_address_city text,
    extra                jsonb
);
CREATE TABLE public.visits (
    id        uuid PRIMARY KEY,
    person_id uuid NOT NULL REFERENCES public.people (id) ON DELETE CASCADE,
    ordinal   integer NOT NULL,
    reason    text,
    vitals_bp text,
    extra     jsonb
);
SQL
cat > "$work/map.yaml" <<'YAML'
version: 1
collections:
  - collection: people
    ignore: [__v]
    tables:
      - table: people
        columns:
          name: {path: name, type: text}
        flatten:
          - path: profile
            columns:
              firstName: text
              birthDate: {type: date, on_invalid: null}
              address.city: text
        unmapped_to: extra
      - table: visits
        each: visits
        columns:
          person_id: {value: doc_id}
          ordinal:   {value: index}
          reason:    {path: reason, type: text}
        flatten:
          - path: vitals
            columns: {bp: text}
        unmapped_to: extra
YAML

/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
s1 = [
    {"_id": {"$oid": "650000000000000000000a01"}, "name": "Ada", "__v": 1,
     "profile": {"firstName": "Ada", "birthDate": {"$date": "1990-05-01T00:00:00Z"},
                 "address": {"city": "Oslo", "zip": "0150"}, "nickname": "ace"},
     "hobbies": ["chess", {"name": "go", "level": 3}],
     "visits": [{"reason": "checkup", "vitals": {"bp": "120/80", "pulse": 61}, "room": 4},
                {"reason": "flu"}]},
    {"_id": {"$oid": "650000000000000000000a02"}, "name": "Bob",
     "profile": {"firstName": "Bob", "address": {"city": "Bergen"}},
     "visits": [{"reason": "x"}]},
    {"_id": {"$oid": "650000000000000000000a03"}, "name": "Cy",
     "profile": {"firstName": "Cy"}, "loyalty": {"tier": "gold", "since": 2019}},
]
with open(f"{work}/s1/people.json", "w") as f:
    for d in s1:
        f.write(json.dumps(d) + "\n")
# S2: an unknown field changed (Ada's nickname), one added inside a visit of Bob's; Cy as is
s1[0]["profile"]["nickname"] = "queen"
s1[1]["visits"][0]["temperature"] = 38.5
with open(f"{work}/s2/people.json", "w") as f:
    for d in s1:
        f.write(json.dumps(d) + "\n")
PY

dsn=$(init_db mn_flatten_unmapped --sql-dir "$work/sql")

# run NAME SOURCE: a run into $dsn; exit in $rc, report in $work/NAME.json
run() {
  try "$MN_BIN" run --source "$2" --mapping "$work/map.yaml" --pg "$dsn" \
    --rejects "$work/$1.rejects" --report "$work/$1.json" >"$out" 2>"$err"
  if [ "$rc" = 0 ]; then pass "$1: exit 0"; else fail "$1: exit $rc: $(cat "$err")"; fi
}
written() { # report -> rows inserted + updated + deleted over all tables
  field "$1" "sum(t['inserted'] + t['updated'] + t['deleted'] for t in r['tables'].values())"
}
# expect_jsonb DESC SQL JSON: the query gives the same jsonb as JSON (or both NULL: "null")
expect_jsonb() {
  local got
  got=$(q "$dsn" "SELECT coalesce(($2) = '$3'::jsonb, ($2) IS NULL AND '$3' = 'null')")
  if [ "$got" = t ]; then pass "$1"; else fail "$1: got $(q "$dsn" "SELECT ($2)::text")"; fi
}

try "$MN_BIN" check --mapping "$work/map.yaml" --pg "$dsn" >"$out" 2>"$err"
if [ "$rc" = 0 ]; then pass "check --pg: exit 0"; else fail "check --pg: exit $rc: $(cat "$out" "$err")"; fi

# --- 1. the first load
run s1 "$work/s1"
got=$(q "$dsn" "SELECT name, profile_first_name, coalesce(profile_birth_date::text, '-'), coalesce(profile_address_city, '-') FROM people ORDER BY name" | tr '\n' ' ')
want="Ada|Ada|1990-05-01|Oslo Bob|Bob|-|Bergen Cy|Cy|-|- "
[ "$got" = "$want" ] && pass "flattened columns loaded" || fail "flattened columns: $got"
expect_jsonb "Ada: the unmapped fields, nested and in arrays" \
  "SELECT extra FROM people WHERE name = 'Ada'" \
  '{"profile": {"address": {"zip": "0150"}, "nickname": "ace"}, "hobbies": ["chess", {"name": "go", "level": 3}]}'
expect_jsonb "Bob: nothing unmapped is NULL" "SELECT extra FROM people WHERE name = 'Bob'" null
expect_jsonb "Cy: a whole unknown sub-document" "SELECT extra FROM people WHERE name = 'Cy'" \
  '{"loyalty": {"tier": "gold", "since": 2019}}'
expect_jsonb "a visit's own catch-all (and its flattened vitals.bp not in it)" \
  "SELECT extra FROM visits WHERE reason = 'checkup'" '{"vitals": {"pulse": 61}, "room": 4}'
got=$(q "$dsn" "SELECT vitals_bp FROM visits WHERE reason = 'checkup'")
[ "$got" = "120/80" ] && pass "a child entry's flattened column" || fail "visits.vitals_bp: $got"
got=$(q "$dsn" "SELECT count(*) FILTER (WHERE extra ? 'visits') FROM people")
[ "$got" = 0 ] && pass "visits are not in the person's catch-all" || fail "$got catch-alls of people hold visits"
got=$(field "$work/s1.json" "r['collections']['people'].get('unmapped_paths')")
[ "$got" = 6 ] && pass "the kept fields are still counted as drift (6 paths)" || fail "unmapped_paths: $got"

# --- 2. no change: nothing written
run again "$work/s1"
w=$(written "$work/again.json")
u=$(field "$work/again.json" "r['collections']['people']['unchanged']")
if [ "$w" = 0 ] && [ "$u" = 3 ]; then pass "a run with no change writes nothing (3 unchanged)"; else fail "no-change run: $w rows written, $u unchanged"; fi

# --- 3. a changed unknown field: the catch-alls follow, the other documents are left alone
run s2 "$work/s2"
u=$(field "$work/s2.json" "r['collections']['people']['unchanged']")
[ "$u" = 1 ] && pass "changed documents converted again, the other unchanged" || fail "S2: $u unchanged"
expect_jsonb "the changed unknown field updates the jsonb" \
  "SELECT extra #> '{profile,nickname}' FROM people WHERE name = 'Ada'" '"queen"'
expect_jsonb "an unknown field added in a visit" \
  "SELECT v.extra FROM visits v JOIN people p ON p.id = v.person_id WHERE p.name = 'Bob'" \
  '{"temperature": 38.5}'
try "$MN_BIN" verify --source "$work/s2" --mapping "$work/map.yaml" --pg "$dsn" >"$out" 2>"$err"
if [ "$rc" = 0 ]; then pass "verify agrees"; else fail "verify: exit $rc: $(cat "$out" "$err" | head -20)"; fi

# --- 4. the catch-all's target column must be jsonb
sed 's/^    extra                jsonb$/    extra                text/' "$work/sql/001_people.sql" > "$work/sqltext/001_people.sql"
tdsn=$(init_db mn_flatten_unmapped_text --sql-dir "$work/sqltext")
want="mongonorm: error: mapping file \"$work/map.yaml\", line 15: column \"public.people.extra\" is an \"unmapped_to\" catch-all, which stores a JSON object, but its type is text: make it jsonb"
try "$MN_BIN" check --mapping "$work/map.yaml" --pg "$tdsn" >"$out" 2>"$err"
if [ "$rc" = 3 ] && [ "$(cat "$err")" = "$want" ]; then pass "check --pg: a text catch-all is refused (exit 3)"; else fail "check --pg, text catch-all: exit $rc: $(cat "$err")"; fi
try "$MN_BIN" run --source "$work/s1" --mapping "$work/map.yaml" --pg "$tdsn" \
  --rejects "$work/text.rejects" >"$out" 2>"$err"
if [ "$rc" = 3 ] && [ "$(cat "$err")" = "$want" ]; then pass "run: a text catch-all is refused (exit 3)"; else fail "run, text catch-all: exit $rc: $(cat "$err")"; fi
got=$(q "$tdsn" "SELECT count(*) FROM people")
[ "$got" = 0 ] && pass "run: nothing written" || fail "run with a text catch-all wrote $got rows"

# --- 5. a NOT NULL catch-all is a finding of check --pg (NULL when nothing is unmapped)
q "$dsn" "DELETE FROM people; ALTER TABLE people ALTER COLUMN extra SET NOT NULL" >/dev/null
try "$MN_BIN" check --mapping "$work/map.yaml" --pg "$dsn" >"$out" 2>"$err"
note='public.people.extra: NOT NULL column, but "unmapped_to" of entry "people" is NULL when nothing is unmapped: such documents would be rejected'
if [ "$rc" = 3 ] && grep -q -F -- "mongonorm: error: $note" "$err"; then pass "check --pg lists a NOT NULL catch-all (exit 3)"; else fail "check --pg: exit $rc, no finding for the NOT NULL catch-all: $(cat "$out" "$err")"; fi

finish
