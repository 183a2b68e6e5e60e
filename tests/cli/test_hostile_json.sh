#!/usr/bin/env bash
# Hostile Extended JSON (issue 9, point 5): a malformed type wrapper never changes a
# value silently.  Each case is one mongoexport line next to a good document; the run
# rejects that document with its file, line and a reason naming the wrapper and the
# field, exits 1 (a run with rejects), and loads the good one.  libbson alone would
# store 2023-02-29 as March 1st, "abc" as NaN and "7abc" as 7.
source "$(dirname "$0")/lib.sh"
require_pg
isolate_env
setup_workdir sql src
rej="$work/rejects.jsonl"

cat > "$work/sql/001_things.sql" <<'SQL'
CREATE TABLE public.things (
    id    uuid PRIMARY KEY,
    at    timestamptz,
    price numeric,
    x     double precision,
    n     bigint
);
SQL
one_table_mapping things > "$work/map.yaml" <<'YAML'
at:    {path: createdAt, type: timestamptz}
price: {path: price, type: numeric}
x:     {path: x, type: double precision}
n:     {path: n, type: bigint}
YAML
dsn=$(init_db mn_hostile_json --sql-dir "$work/sql")
# run_things: a run of $work/src into it; exit in $rc, stdout in $out, stderr in $err.
run_things() {
  try "$MN_BIN" run --quiet --source "$work/src" --mapping "$work/map.yaml" --pg "$dsn" \
    --rejects "$rej" >"$out" 2>"$err"
}

good='{"_id": {"$oid": "64b000000000000000000001"}, "createdAt": {"$date": "2024-02-29T12:00:00.125Z"}, "price": {"$numberDecimal": "21.95"}, "x": {"$numberDouble": "-1.5e3"}, "n": {"$numberLong": "9223372036854775807"}}'

# case NAME FIELD-AND-VALUE REASON: run with the good document and {"_id": ..., FIELD-AND-VALUE}.
k=1
case_() {
  local name=$1 member=$2 reason=$3 got want rc
  k=$((k + 1))
  printf '%s\n{"_id": {"$oid": "64b0000000000000000000%02d"}, %s}\n' "$good" "$k" "$member" \
    > "$work/src/things.json"
  run_things
  if [ "$rc" -eq 1 ]; then pass "$name: exit 1"; else fail "$name: exit $rc, wanted 1"; sed 's/^/#   /' "$err"; fi
  want="mongonorm: 1 document(s) rejected; see \"$rej\""
  got=$(cat "$err")
  if [ "$got" = "$want" ]; then pass "$name: stderr"; else fail "$name: stderr: $got"; fi
  got=$(/usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r["location"] + ": " + r["reason"])' "$rej")
  want="things.json line 2: $reason"
  if [ "$got" = "$want" ]; then
    pass "$name: reject reason"
  else
    fail "$name: reject reason"
    printf '#   wanted: %s\n#   got:    %s\n' "$want" "$got"
  fi
}

nodec='not a decimal number, "Infinity", "-Infinity" or "NaN"'
case_ '$date 2023-02-29' '"createdAt": {"$date": "2023-02-29T00:00:00Z"}' \
  'invalid $date "2023-02-29T00:00:00Z" in field "createdAt": no such day'
case_ '$date 2024-04-31' '"createdAt": {"$date": "2024-04-31T00:00:00Z"}' \
  'invalid $date "2024-04-31T00:00:00Z" in field "createdAt": no such day'
case_ '$date 25:00' '"createdAt": {"$date": "2024-01-01T25:00:00Z"}' \
  'invalid $date "2024-01-01T25:00:00Z" in field "createdAt": no such hour'
case_ '$date $numberLong' '"createdAt": {"$date": {"$numberLong": "1e3"}}' \
  'invalid $date {"$numberLong":"1e3"} in field "createdAt": "$numberLong" is not a 64-bit integer'
case_ '$numberDecimal "abc"' '"price": {"$numberDecimal": "abc"}' \
  "invalid \$numberDecimal \"abc\" in field \"price\": $nodec"
case_ '$numberDecimal ""' '"price": {"$numberDecimal": ""}' \
  "invalid \$numberDecimal \"\" in field \"price\": $nodec"
case_ '$numberDecimal 1e99999' '"price": {"$numberDecimal": "1e99999"}' \
  'invalid $numberDecimal "1e99999" in field "price": out of range for a decimal128'
case_ '$numberDouble "7abc"' '"x": {"$numberDouble": "7abc"}' \
  "invalid \$numberDouble \"7abc\" in field \"x\": $nodec"
case_ '$numberDouble "0x1p3"' '"x": {"$numberDouble": "0x1p3"}' \
  "invalid \$numberDouble \"0x1p3\" in field \"x\": $nodec"
case_ '$numberInt out of range' '"n": {"$numberInt": "2147483648"}' \
  'invalid $numberInt "2147483648" in field "n": out of range for a 32-bit integer'
case_ '$numberLong out of range' '"n": {"$numberLong": "9223372036854775808"}' \
  'invalid $numberLong "9223372036854775808" in field "n": out of range for a 64-bit integer'
case_ '$oid of 23 digits' '"ref": {"$oid": "64b00000000000000000000"}' \
  'invalid $oid "64b00000000000000000000" in field "ref": not 24 hexadecimal digits'
case_ '$binary not base64' '"b": [{"$binary": {"base64": "AQ", "subType": "00"}}]' \
  'invalid $binary {"base64":"AQ","subType":"00"} in field "b.0": "base64" is not base64'
case_ '$uuid without hyphens' '"u": {"$uuid": "c8edabc3f7384ca3b68dab92a91478a3"}' \
  'invalid $uuid "c8edabc3f7384ca3b68dab92a91478a3" in field "u": not a UUID (8-4-4-4-12 hexadecimal digits)'
case_ '$timestamp negative' '"ts": {"$timestamp": {"t": -1, "i": 1}}' \
  'invalid $timestamp {"t":-1,"i":1} in field "ts": "t" is not a 32-bit unsigned integer'
case_ '$regularExpression option' '"re": {"$regularExpression": {"pattern": "a", "options": "q"}}' \
  'invalid $regularExpression {"pattern":"a","options":"q"} in field "re": unknown option "q" (options are "ilmsux")'
# A plain integer beyond 64 bits: libbson would wrap it around to 7766279631452241919.
case_ 'integer beyond 64 bits' '"n": 99999999999999999999' \
  'invalid number 99999999999999999999 in field "n": out of range for a 64-bit integer'
case_ 'wrapper with an extra key' '"createdAt": {"$date": "2024-01-01T00:00:00Z", "tz": "UTC"}' \
  'invalid $date "2024-01-01T00:00:00Z" in field "createdAt": unexpected key "tz" next to "$date"'

# The good document loaded with its exact values; no malformed one did.
got=$(psql "$dsn" -qXAt -v ON_ERROR_STOP=1 -c "SET TIME ZONE 'UTC'" \
  -c "SELECT at, price, x, n FROM things ORDER BY id")
want='2024-02-29 12:00:00.125+00|21.95|-1500|9223372036854775807'
if [ "$got" = "$want" ]; then pass "good document: exact values"; else fail "good document: $got"; fi

# Two documents on one line (concatenated or hand-edited files, issue 9 point 9): each
# is read, as mongoimport reads concatenated JSON; a document of such a line that does
# not convert is rejected alone, with its own location and text; a line that is not
# only whole documents is one rejected record holding the whole line.
oid() { printf '{"$oid": "64c0000000000000000000%02d"}' "$1"; }
bad_piece="{\"_id\": $(oid 4), \"price\": {\"\$numberDecimal\": \"abc\"}}"
broken_line="{\"_id\": $(oid 5)}{\"_id\": $(oid 6), \"n\": 1"
{
  printf '{"_id": %s, "n": 1}{"_id": %s, "n": 2}\n' "$(oid 1)" "$(oid 2)"
  printf '{"_id": %s, "n": 3} %s\n' "$(oid 3)" "$bad_piece"
  printf '%s\n' "$broken_line"
} > "$work/src/things.json"
psql "$dsn" -qX -c "TRUNCATE things" -c "TRUNCATE mongonorm.documents" >/dev/null
run_things
[ "$rc" -eq 1 ] && pass "one line, two documents: exit 1" || fail "one line, two documents: exit $rc"
got=$(cat "$err")
want="mongonorm: 2 document(s) rejected; see \"$rej\""
[ "$got" = "$want" ] && pass "one line, two documents: stderr" || fail "one line, two documents: stderr: $got"
got=$(psql "$dsn" -qXAt -c "SELECT string_agg(n::text, ',' ORDER BY n) FROM things")
[ "$got" = "1,2,3" ] && pass "one line, two documents: both read and loaded" ||
  fail "one line, two documents: loaded $got"
got=$(/usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r["location"] + ": " + r["reason"])
    print(r["raw"])' "$rej")
want="things.json line 2, document 2: invalid \$numberDecimal \"abc\" in field \"price\": $nodec
$bad_piece
things.json line 3: invalid JSON: text after the end of the document
$broken_line"
if [ "$got" = "$want" ]; then
  pass "one line, two documents: each reject located, its text whole"
else
  fail "one line, two documents: rejects"
  printf '#   wanted: %s\n#   got:    %s\n' "$want" "$got"
fi

finish
