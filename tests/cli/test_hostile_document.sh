#!/usr/bin/env bash
# Hostile documents (issue 9 point 9): a field name twice in one document and arrays whose
# keys are not "0", "1", ... in order, in a .bson file (and duplicates in a .json file,
# which libbson parses as written).  Each such document is rejected whole with a reason
# naming its _id and the field path, the others load, and stderr holds only mongonorm's
# own line: no libbson warning ("bson_append_array(): invalid array detected") on the
# first run, on the re-run that lists the unchanged rejects, or in the pre-pass.  Two
# documents rejected before their _id is read (nested too deep) do not collide in
# mongonorm.documents.  A document over its collection's max_rows_per_document is rejected
# whole at the limit, without rows.
source "$(dirname "$0")/lib.sh"
require_pg
isolate_env
setup_workdir src js
here="$CUTOVER"
map="$here/mapping.yaml"
rej="$work/rejects.jsonl"
/usr/bin/python3 "$here/gen.py" "$work/js" 5
/usr/bin/python3 - "$work/js" "$work/src" <<'PY'
import json, os, struct, sys
import bson
import bson.json_util
js, out = sys.argv[1], sys.argv[2]

# BSON built element by element: pymongo cannot write a name twice or an array's keys.
def doc(elems):
    body = b"".join(elems)
    return struct.pack("<i", 4 + len(body) + 1) + body + b"\x00"
def e_str(k, v):
    b = v.encode()
    return b"\x02" + k.encode() + b"\x00" + struct.pack("<i", len(b) + 1) + b + b"\x00"
def e_int(k, v): return b"\x10" + k.encode() + b"\x00" + struct.pack("<i", v)
def e_oid(k, n): return b"\x07" + k.encode() + b"\x00" + bytes.fromhex("65%022x" % n)
def e_arr(k, elems): return b"\x04" + k.encode() + b"\x00" + doc(elems)
def e_doc(k, elems): return b"\x03" + k.encode() + b"\x00" + doc(elems)
def person(n, *rest):
    return doc([e_oid("_id", n), e_str("email", "h%d@example.test" % n)] + list(rest))
def nested(n, levels):
    inner = doc([])
    for _ in range(levels):
        inner = doc([b"\x03a\x00" + inner])
    return doc([e_oid("_id", n), e_str("email", "h%d@example.test" % n), b"\x03deep\x00" + inner])

people = [bson.encode(bson.json_util.loads(l)) for l in open(os.path.join(js, "people.json"))]
people += [
    person(1, e_arr("tags", [e_str("a", "red"), e_str("b", "blue")])),
    person(2, e_arr("devices", [e_doc("0", [e_str("label", "x")]), e_doc("2", [e_str("label", "y")])])),
    doc([e_arr("_id", [e_str("x", "1")]), e_str("email", "h3@example.test")]),
    person(4, e_str("name", "first"), e_str("name", "second")),
    person(5, e_arr("devices", [e_doc("0", [e_str("label", "x"), e_str("label", "y")])])),
    person(6, e_doc("extra", [e_int("q", 1), e_doc("r", [e_arr("s", [e_int("1", 1), e_int("0", 0)])])])),
    person(7, e_doc("extra", [e_int("q", 1), e_int("q", 1)])),
    nested(8, 300),
    nested(9, 300),
]
with open(os.path.join(out, "people.bson"), "wb") as f:
    f.write(b"".join(people))
notes = [bson.json_util.loads(l) for l in open(os.path.join(js, "notes.json"))]
with open(os.path.join(out, "notes.bson"), "wb") as f:
    f.write(b"".join(bson.encode(n) for n in notes))
# The same duplicates in Extended JSON: one line each, beside the good ones.
with open(os.path.join(js, "people.json"), "a") as f:
    f.write('{"_id": {"$oid": "65000000000000000000000a"}, "email": "j1@example.test", "name": "a", "name": "b"}\n')
    f.write('{"_id": {"$oid": "65000000000000000000000b"}, "email": "j2@example.test", "devices": [{"label": "x", "label": "x"}]}\n')
PY

# run NAME SOURCE WANT_REJECTED: one run; exit 1, stderr exactly our summary line
run() {
  local name=$1 src=$2 n=$3 rc got want
  try "$MN_BIN" run --quiet --pg "$db" --source "$src" --mapping "$map" --rejects "$rej" \
    >"$work/out" 2>"$work/err"
  [ "$rc" = 1 ] && pass "$name: exit 1" || fail "$name: exit $rc: $(cat "$work/err")"
  got=$(cat "$work/err")
  want="mongonorm: $n document(s) rejected; see \"$rej\""
  if [ "$got" = "$want" ]; then
    pass "$name: stderr holds only mongonorm's line (no libbson warning)"
  else
    fail "$name: stderr"
    sed 's/^/#   /' "$work/err"
  fi
}
reasons() {
  /usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(json.dumps(r["_id"]) + " | " + r["path"] + " | " + r["reason"] +
          (" (unchanged)" if r.get("unchanged") else ""))' "$rej"
}

db=$(init_db mn_hostile_document --mapping "$map")
run "BSON" "$work/src" 9
oid() { printf '{"$oid": "65%022x"}' "$1"; }
keys='not its index (BSON array keys are 0, 1, 2, ... in order)'
twice='(the name appears twice: which value is meant cannot be told)'
want=$(cat <<EOT
$(oid 1) | tags | document { "\$oid" : "650000000000000000000001" }, field "tags": array element 0 has key "a", $keys
$(oid 2) | devices | document { "\$oid" : "650000000000000000000002" }, field "devices": array element 1 has key "2", $keys
["1"] | _id | document [ "1" ], field "_id": array element 0 has key "x", $keys
$(oid 4) | name | document { "\$oid" : "650000000000000000000004" }, field "name": duplicate field "name" $twice
$(oid 5) | devices.0.label | document { "\$oid" : "650000000000000000000005" }, field "devices.0.label": duplicate field "devices.0.label" $twice
$(oid 6) | extra.r.s | document { "\$oid" : "650000000000000000000006" }, field "extra.r.s": array element 0 has key "1", $keys
$(oid 7) | extra.q | document { "\$oid" : "650000000000000000000007" }, field "extra.q": duplicate field "extra.q" $twice
{"\$oid": "650000000000000000000008"} |  | document { "\$oid" : "650000000000000000000008" }, field "": document nested deeper than 200 levels (MongoDB stores at most 100)
{"\$oid": "650000000000000000000009"} |  | document { "\$oid" : "650000000000000000000009" }, field "": document nested deeper than 200 levels (MongoDB stores at most 100)
EOT
)
expect_same "BSON: each document rejected with its _id, field path and reason" "$want" "$(reasons)"
got=$(psql "$db" -qXAt -c "SELECT count(*) FROM people")
[ "$got" = 5 ] && pass "BSON: the 5 good documents load" || fail "BSON: loaded $got"
got=$(psql "$db" -qXAt -c "SELECT count(*) FILTER (WHERE rejected), count(*) FROM mongonorm.documents WHERE collection = 'people'")
[ "$got" = "9|14" ] && pass "BSON: 9 rejected documents recorded, none sharing an id" ||
  fail "BSON: recorded (rejected|all) $got"

# Again: the rejected documents are unchanged, listed again from their records.
run "BSON, unchanged" "$work/src" 9
got=$(reasons | grep -c '(unchanged)$' || true)
[ "$got" = 9 ] && pass "BSON, unchanged: 9 rejects listed again" || fail "BSON, unchanged: $got"

db=$(init_db mn_hostile_document_json --mapping "$map")
run "JSON" "$work/js" 2
want=$(cat <<EOT
$(oid 10) | name | document { "\$oid" : "65000000000000000000000a" }, field "name": duplicate field "name" $twice
$(oid 11) | devices.0.label | document { "\$oid" : "65000000000000000000000b" }, field "devices.0.label": duplicate field "devices.0.label" $twice
EOT
)
expect_same "JSON: duplicates reach the converter and are rejected" "$want" "$(reasons)"

# max_rows_per_document: a document that would produce more rows than its collection
# allows is rejected whole as it reaches the limit, its reject line without rows.
sed 's/^  - collection: people$/  - collection: people\n    max_rows_per_document: 6/' "$map" > "$work/limit.yaml"
grep -q 'max_rows_per_document: 6' "$work/limit.yaml" || fail "limit.yaml not written"
mkdir -p "$work/limit"
/usr/bin/python3 "$here/gen.py" "$work/limit" 5
/usr/bin/python3 - "$work/limit/people.json" <<'PY'
import json, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"_id": {"$oid": "65000000000000000000000c"}, "email": "many@example.test",
                        "tags": ["t%d" % i for i in range(3000)]}) + "\n")
PY
db=$(init_db mn_hostile_document_limit --sql-dir "$here/sql")
map="$work/limit.yaml"
run "row limit" "$work/limit" 1
want="$(oid 12) | tags.5 | document { \"\$oid\" : \"65000000000000000000000c\" }, field \"tags.5\": more than 6 rows for one document (table \"person_tags\" would get the next one; the limit is max_rows_per_document of collection \"people\")"
got=$(reasons)
[ "$got" = "$want" ] && pass "row limit: rejected at the limit, with the table named" ||
  fail "row limit: $got"
got=$(/usr/bin/python3 -c '
import json, sys
print(*[len(json.loads(l)["rows"]) for l in open(sys.argv[1])])' "$rej")
[ "$got" = 0 ] && pass "row limit: the reject line holds the document, no rows" || fail "row limit: rows $got"
got=$(psql "$db" -qXAt -c "SELECT count(*) FROM people" -c "SELECT count(*) FROM person_tags")
[ "$got" = "5
11" ] && pass "row limit: the others load" || fail "row limit: loaded $got"

finish
