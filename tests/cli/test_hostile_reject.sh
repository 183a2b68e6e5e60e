#!/usr/bin/env bash
# Hostile documents and paths around the reject file (issue 9): a document nested 10,000
# levels deep, invalid UTF-8 in a string value, a symbolic link and a world-readable file
# at the reject path, the report's mode.  Each is rejected or handled with its exact
# reason, the rest of the data loads, and nothing is written through a link.
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir src
here="$CUTOVER"
map="$here/mapping.yaml"
/usr/bin/python3 "$here/gen.py" "$work/src" 5
/usr/bin/python3 - "$work/src" <<'PY'
import json, os, struct, sys
import bson
import bson.json_util
out = sys.argv[1]
people = [json.loads(l) for l in open(os.path.join(out, "people.json"))]
os.remove(os.path.join(out, "people.json"))
docs = [bson.json_util.loads(json.dumps(p)) for p in people]
raw = [bson.encode(d) for d in docs]
# 10,000 levels of {"a": {...}} under field "deep", built as bytes (no recursion)
inner = b"\x05\x00\x00\x00\x00"
for _ in range(10000):
    body = b"\x03a\x00" + inner + b"\x00"
    inner = struct.pack("<i", 4 + len(body)) + body
# twice: two documents the converter stops on before deriving their row ids must still be
# recorded under their own _id (once both were recorded under the all-zero id: exit 5)
for oid, email in (("6400000000000000000000dd", "deep@example.test"),
                   ("6400000000000000000000de", "deeper@example.test")):
    head = bson.encode({"_id": bson.ObjectId(oid), "email": email})
    body = head[4:-1] + b"\x03deep\x00" + inner + b"\x00"
    raw.append(struct.pack("<i", 4 + len(body)) + body)
# invalid UTF-8 in a string value
good = bson.encode({"_id": bson.ObjectId("6400000000000000000000ee"), "email": "utf@example.test",
                    "name": "XXXX"})
raw.append(good.replace(b"XXXX", b"A\xff\xfeB"))
with open(os.path.join(out, "people.bson"), "wb") as f:
    f.write(b"".join(raw))
notes = [bson.json_util.loads(l) for l in open(os.path.join(out, "notes.json"))]
os.remove(os.path.join(out, "notes.json"))
with open(os.path.join(out, "notes.bson"), "wb") as f:
    f.write(b"".join(bson.encode(n) for n in notes))
PY
db=$(init_db mn_hostile_reject --mapping "$map")
ln -s "$work/victim" "$work/rejects.jsonl"
echo "not patient data" > "$work/victim"
try "$MN_BIN" run --quiet --pg "$db" --source "$work/src" --mapping "$map" \
  --rejects "$work/rejects.jsonl" --report "$work/report.json" 2>"$work/err"
[ "$rc" = 1 ] && pass "hostile documents: the run completes with exit 1" ||
  fail "hostile documents: exit $rc: $(cat "$work/err")"
loaded=$(psql "$db" -qXAt -c "SELECT count(*) FROM people")
[ "$loaded" = 5 ] && pass "hostile documents: the 5 others are loaded" || fail "loaded $loaded"
deep=$(grep -c '"reason" : "document { \\"\$oid\\" : \\"6400000000000000000000dd\\" }, field \\"\\": document nested deeper than 200 levels (MongoDB stores at most 100)"' "$work/rejects.jsonl" || true)
[ "$deep" = 1 ] && pass "10,000 levels deep: rejected with its reason and _id, no crash" ||
  fail "deep: $(grep -o '"reason" : "[^,]*' "$work/rejects.jsonl" | head -3)"
recorded=$(psql "$db" -qXAt -c "SELECT string_agg(doc_id::text, ' ' ORDER BY doc_id) FROM mongonorm.documents WHERE rejected AND doc_id::text LIKE '64000000-0000-0000-0000-00d_00000000'")
[ "$recorded" = "64000000-0000-0000-0000-00dd00000000 64000000-0000-0000-0000-00de00000000" ] &&
  pass "two documents too deep to convert: each recorded rejected under its own _id" ||
  fail "too-deep documents recorded as: [$recorded]"
utf=$(grep '6400000000000000000000ee' "$work/rejects.jsonl" || true)
if echo "$utf" | grep -q '"reason" : "document { \\"\$oid\\" : \\"6400000000000000000000ee\\" }, field \\"name\\", column \\"people.name\\": ' &&
   echo "$utf" | grep -q '"document_bytes"'; then
  pass "invalid UTF-8: rejected, its reason names the field, its bytes are kept"
else
  fail "invalid UTF-8: $(echo "$utf" | head -c 400)"
fi
[ "$(cat "$work/victim")" = "not patient data" ] && [ ! -L "$work/rejects.jsonl" ] &&
  pass "a symbolic link at the reject path is replaced, not written through" ||
  fail "the link was followed: $(ls -l "$work/rejects.jsonl")"
for f in rejects.jsonl report.json; do
  mode=$(stat -c %a "$work/$f")
  [ "$mode" = 600 ] && pass "$f is private (0600)" || fail "$f mode $mode"
done
# A world-readable file already at the path: a reader holding it open never sees the run.
printf 'old contents\n' > "$work/r2.jsonl"
chmod 0644 "$work/r2.jsonl"
exec 3<"$work/r2.jsonl"
set +e
"$MN_BIN" run --quiet --pg "$db" --source "$work/src" --mapping "$map" --rejects "$work/r2.jsonl" 2>/dev/null
set -e
old=$(cat <&3)
exec 3<&-
[ "$old" = "old contents" ] && [ "$(stat -c %a "$work/r2.jsonl")" = 600 ] && grep -q deep "$work/r2.jsonl" &&
  pass "an existing 0644 reject file: replaced by a new private one; its old readers see none of the run" ||
  fail "old reader saw: $old"

# Every reject names the document's _id whenever it can be read (issue 9): unusual BSON
# types, a sub-document _id, documents rejected before conversion (too deep, invalid
# UTF-8, invalid BSON further on, a duplicate _id), a string _id that is not UTF-8, and
# records that do not parse but start with a readable _id (a .bson span, JSON lines).
mkdir -p "$work/ids" "$work/jids"
: > "$work/ids/notes.bson"
: > "$work/jids/notes.json"
/usr/bin/python3 - "$work/ids/people.bson" "$work/jids/people.json" <<'PY'
import datetime, struct, sys, uuid
import bson
from bson import Binary, Decimal128, MaxKey, MinKey, ObjectId, Regex
raw = []
def no_email(i):  # rejected by conversion: email is required
    return bson.encode({"_id": i, "name": "n"})
for i in [Decimal128("12.5"), Binary(uuid.UUID(int=0x12345678123456781234567812345678).bytes, 4),
          Regex("^a", "i"), MinKey(), MaxKey(), {"a": 1, "b": "x"}, datetime.datetime(2020, 1, 1)]:
    raw.append(no_email(i))
inner = b"\x05\x00\x00\x00\x00"                      # 300 levels deep, a sub-document _id
for _ in range(300):
    body = b"\x03a\x00" + inner + b"\x00"
    inner = struct.pack("<i", 4 + len(body)) + body
head = bson.encode({"_id": {"k": 7}, "email": "deep@x"})
body = head[4:-1] + b"\x03deep\x00" + inner + b"\x00"
raw.append(struct.pack("<i", 4 + len(body)) + body)
raw.append(bson.encode({"_id": {"k": 8}, "email": "u@x", "name": "XXXX"}).replace(b"XXXX", b"A\xff\xfeB"))
raw.append(no_email("idXXXX").replace(b"XXXX", b"\xff\xfe\xfd\xfc"))     # _id not UTF-8
for e in ("q1@x", "q2@x"):                                                 # ... twice
    raw.append(bson.encode({"_id": "dupXXXX", "email": e}).replace(b"XXXX", b"\xff\xfe\xfd\xfc"))
for i in (ObjectId("6400000000000000000000ab"), {"k": 10}):           # invalid BSON further on
    g = bytearray(bson.encode({"_id": i, "email": "ib%s@x" % len(raw), "z": 1}))
    g[g.index(b"z\x00") - 1] = 0x77
    raw.append(bytes(g))
deep = b"\x05\x00\x00\x00\x00"                       # an _id itself 10,000 levels deep
for _ in range(10000):
    body = b"\x03a\x00" + deep + b"\x00"
    deep = struct.pack("<i", 4 + len(body)) + body
body = b"\x03_id\x00" + deep + b"\x00"
raw.append(struct.pack("<i", 4 + len(body)) + body)
raw.append(bson.encode({"_id": ObjectId("6400000000000000000000cc"), "email": "good0@x"}))
g = bytearray(bson.encode({"_id": ObjectId("6400000000000000000000dd"), "email": "dmg@x"}))
g[0:4] = struct.pack("<i", 3)                                              # a damaged length
raw.append(bytes(g))
raw.append(bson.encode({"_id": ObjectId("6400000000000000000000ee"), "email": "good@x"}))
open(sys.argv[1], "wb").write(b"".join(raw))
open(sys.argv[2], "w").write(
    '{"_id": {"$oid": "650000000000000000000001"}, "email": "a@x", "when": {"$date": "2023-02-29T00:00:00Z"}}\n'
    '{"_id": {"$numberDecimal": "7.5"}, "email": "b@x", "x": {"$numberDouble": "7abc"}}\n'
    '{"_id": "plain-id", "email": "c@x"} {"_id": "second", "email": "d@x"}\n'
    '{"_id": {"a": [1, {"b": "}"}]}, "email": broken\n'
    '{"_id": {"$oid": "zz"}, "email": "e@x"}\n'
    '{"email": "f@x", "_id": 5, "x": }\n'
    '{"_id": 12\n')
PY
idb=$(init_db mn_hostile_ids --mapping "$map")
check_ids() { # reject file, then the expected (_id, _id_bytes, reason start) lines
  /usr/bin/python3 - "$@" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
got = [(json.dumps(l.get("_id"), sort_keys=True), l.get("_id_bytes", {}).get("$binary", {}).get("base64", ""),
        l["reason"]) for l in lines]
want = [tuple(w.split("|", 2)) for w in sys.argv[2:]]
if len(got) != len(want):
    print("%d lines, %d expected: %s" % (len(got), len(want), [g[0] for g in got])); sys.exit()
for g, w in zip(got, want):
    if g[0] != w[0] or g[1] != w[1] or not g[2].startswith(w[2]):
        print("got %s, wanted %s" % (g, w)); sys.exit()
print("ok")
PY
}
bson_want=(
  '{"$numberDecimal": "12.5"}||document { "$numberDecimal" : "12.5" }, field "email", column "people.email": required value is missing'
  '{"$binary": {"base64": "EjRWeBI0VngSNFZ4EjRWeA==", "subType": "04"}}||document { "$binary" : { "base64" : "EjRWeBI0VngSNFZ4EjRWeA==", "subType" : "04" } }, field "email"'
  '{"$regularExpression": {"options": "i", "pattern": "^a"}}||document { "$regularExpression" : { "pattern" : "^a", "options" : "i" } }, field "email"'
  '{"$minKey": 1}||document { "$minKey" : 1 }, field "email"'
  '{"$maxKey": 1}||document { "$maxKey" : 1 }, field "email"'
  '{"a": {"$numberInt": "1"}, "b": "x"}||document { "a" : { "$numberInt" : "1" }, "b" : "x" }, field "email"'
  '{"$date": {"$numberLong": "1577836800000"}}||document { "$date" : { "$numberLong" : "1577836800000" } }, field "email"'
  '{"k": {"$numberInt": "7"}}||document { "k" : { "$numberInt" : "7" } }, field "": document nested deeper than 200 levels'
  '{"k": {"$numberInt": "8"}}||document { "k" : { "$numberInt" : "8" } }, field "name", column "people.name": string is not valid utf-8'
  'null|aWT//v38|document "id\\xff\\xfe\\xfd\\xfc", field "email"'
  'null|ZHVw//79/A==|duplicate _id: an earlier document of the collection has the same _id'
  '{"$oid": "6400000000000000000000ab"}||document { "$oid" : "6400000000000000000000ab" }, field "": invalid BSON'
  '{"k": {"$numberInt": "10"}}||document { "k" : { "$numberInt" : "10" } }, field "": invalid BSON'
  'null||document null, field "": document nested deeper than 200 levels'
  '{"$oid": "6400000000000000000000dd"}||invalid document length 3; 39 bytes skipped'
)
try "$MN_BIN" run --quiet --pg "$idb" --source "$work/ids" --mapping "$map" --rejects "$work/ids.jsonl" 2>"$work/ids.err"
v=$(check_ids "$work/ids.jsonl" "${bson_want[@]}")
[ "$rc" = 8 ] && [ "$v" = ok ] && pass "every reject of a .bson file names its readable _id (14 cases; not an _id 10,000 levels deep), the run goes on (exit 8)" ||
  fail "_ids in .bson rejects: exit $rc $(head -1 "$work/ids.err"); $v"
recorded=$(psql "$idb" -qXAt -c "SELECT count(*) FROM mongonorm.documents WHERE rejected AND doc_id <> '00000000-0000-0000-0000-000000000000'")
[ "$recorded" = 13 ] && pass "documents rejected before conversion are recorded under their own ids" ||
  fail "recorded rejects $recorded"
try "$MN_BIN" run --quiet --pg "$idb" --source "$work/ids" --mapping "$map" --rejects "$work/ids2.jsonl" 2>/dev/null
unchanged=$(grep -c '"unchanged" : true' "$work/ids2.jsonl" || true)
v=$(check_ids "$work/ids2.jsonl" "${bson_want[@]}")
[ "$rc" = 8 ] && [ "$v" = ok ] && [ "$unchanged" = 13 ] &&
  pass "a re-run lists the 13 unchanged rejects with their _id" || fail "re-run _ids: exit $rc, $unchanged unchanged; $v"
jdb=$(init_db mn_hostile_jids --mapping "$map")
try "$MN_BIN" run --quiet --pg "$jdb" --source "$work/jids" --mapping "$map" --rejects "$work/jids.jsonl" 2>"$work/jids.err"
v=$(check_ids "$work/jids.jsonl" \
  '{"$oid": "650000000000000000000001"}||invalid $date "2023-02-29T00:00:00Z" in field "when": no such day' \
  '{"$numberDecimal": "7.5"}||invalid $numberDouble "7abc" in field "x"' \
  '{"a": [{"$numberInt": "1"}, {"b": "}"}]}||invalid JSON:' \
  'null||invalid $oid "zz" in field "_id"' \
  'null||invalid JSON:' \
  'null||invalid JSON:')
[ "$rc" = 1 ] && [ "$v" = ok ] &&
  pass "JSON records that do not parse name the _id they start with; not an invalid, later or cut-off one" ||
  fail "_ids in JSON rejects: exit $rc $(head -1 "$work/jids.err"); $v"
finish
