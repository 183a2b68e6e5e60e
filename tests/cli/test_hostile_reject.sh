#!/usr/bin/env bash
# Hostile documents and paths around the reject file (issue 9): a document nested 10,000
# levels deep, invalid UTF-8 in a string value, a symbolic link and a world-readable file
# at the reject path, the report's mode.  Each is rejected or handled with its exact
# reason, the rest of the data loads, and nothing is written through a link.
source "$(dirname "$0")/lib.sh"
[ -n "${MN_TEST_PG_DSN:-}" ] || skip_all "MN_TEST_PG_DSN not set"

work="$MN_BUILD_DIR/test_hostile_reject"
rm -rf "$work" && mkdir -p "$work/src"
here="$MN_SOURCE_DIR/tests/cutover"
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
db=$(fresh_db mn_hostile_reject)
"$MN_BIN" init --pg "$db" --mapping "$map" >/dev/null
ln -s "$work/victim" "$work/rejects.jsonl"
echo "not patient data" > "$work/victim"
set +e
"$MN_BIN" run --quiet --pg "$db" --source "$work/src" --mapping "$map" \
  --rejects "$work/rejects.jsonl" --report "$work/report.json" 2>"$work/err"
rc=$?
set -e
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
finish
