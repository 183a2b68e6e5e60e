#!/usr/bin/env bash
# New documents into a non-empty target (docs/cli.md, "New documents into a non-empty
# target"): a batch of documents mongonorm.documents has no record of is copied straight
# into the tables (the report's batches_copied), and when PostgreSQL refuses that (a row id
# or a unique key another document holds), the batch is merged instead; recorded
# documents converted again in a new context to the rows they had are left unchanged.  Either way the
# target equals a full load of the same source into an empty database.
source "$(dirname "$0")/lib.sh"
require_pg
setup_workdir
map="$MEDICHAT_MAP"

run() { # dsn source report [extra args] -> exit code in $rc
  local dsn=$1 src=$2 report=$3
  shift 3
  try "$MN_BIN" run --quiet --pg "$dsn" --source "$src" --mapping "$map" \
    --rejects "$work/$(basename "$report" .json).jsonl" --report "$report" "$@" \
    2>>"$work/stderr.txt"
}

# records DSN: what mongonorm.documents says of each document, but for digests (a document
# converted again for a key or row another one took is recorded without one) and the
# conversion context (a number per target).  Its lookups of other documents (refs) are
# those a fresh load makes, also for a document skipped because they still hold.
records() {
  q "$1" "COPY (SELECT collection, doc_id, counts, rejected, reject_path, reason, refs
          FROM mongonorm.documents ORDER BY 1, 2) TO STDOUT"
}

# rejected FILE: the collection, _id and reason of each line of a reject file, sorted.
# (The rows a line shows can differ from a full load's: a reference to a document loaded
# since is set there.)
rejected() {
  /usr/bin/python3 -c '
import json, sys
print("\n".join(sorted(json.dumps([d["collection"], d.get("_id"), d.get("reason")], sort_keys=True)
                       for d in map(json.loads, open(sys.argv[1])))))' "$1"
}

# fresh_and_appended TAG FULL BASE: FULL loaded into an empty database, and BASE loaded
# first, then FULL, into another (batches of 40); compares the two targets.
fresh_and_appended() {
  local tag=$1 full=$2 base=$3 ref inc
  ref=$(init_db "mn_app_${tag}_ref" --sql-dir "$MN_SOURCE_DIR/sql")
  run "$ref" "$full" "$work/$tag-ref.json" --batch-size 40
  [ "$rc" -le 1 ] || fail "$tag: the full load exited $rc"
  inc=$(init_db "mn_app_${tag}_inc" --sql-dir "$MN_SOURCE_DIR/sql")
  run "$inc" "$base" "$work/$tag-base.json" --batch-size 40
  [ "$rc" -le 1 ] || fail "$tag: the load of the base exited $rc"
  run "$inc" "$full" "$work/$tag-inc.json" --batch-size 40
  [ "$rc" -le 1 ] || fail "$tag: the run with the new documents exited $rc"
  dump_tables "$ref" >"$work/$tag-ref.txt"
  dump_tables "$inc" >"$work/$tag-inc.txt"
  expect_same_files "$tag: the tables equal a full load of the same source" \
    "$work/$tag-ref.txt" "$work/$tag-inc.txt"
  records "$ref" >"$work/$tag-ref.rec"
  records "$inc" >"$work/$tag-inc.rec"
  expect_same_files "$tag: the documents' records equal a full load's" \
    "$work/$tag-ref.rec" "$work/$tag-inc.rec"
  expect_same "$tag: the same documents rejected as by a full load" \
    "$(rejected "$work/$tag-ref.jsonl")" "$(rejected "$work/$tag-inc.jsonl")"
}

copied() { # report collection -> batches_copied (0 when the report has none)
  field "$1" "r['collections']['$2'].get('batches_copied', 0)"
}

# 1. Generated data with its mess (rejects, references to documents not loaded yet): the
#    first 70% of each collection, then all of it.
"$MN_BIN" generate --model "$MEDICHAT/generator.yaml" --scale 150 --seed 11 --format json \
  --out "$work/gen" --quiet
mkdir -p "$work/gen70"
for f in "$work"/gen/*.json; do
  [ "$(basename "$f")" = manifest.json ] && continue
  n=$(wc -l <"$f")
  head -n $((n * 7 / 10)) "$f" >"$work/gen70/$(basename "$f")"
done
fresh_and_appended gen "$work/gen" "$work/gen70"
for c in users conversations activity_logs; do
  n=$(copied "$work/gen-inc.json" "$c")
  if [ "$n" -ge 1 ]; then
    pass "generated: $c: $n batches of new documents copied straight into the tables"
  else
    fail "generated: $c: no batch of new documents was copied straight (batches_copied $n)"
  fi
done
expect_same "generated: a first load copies nothing in merge mode" "0" \
  "$(copied "$work/gen-base.json" users)"
# The new users change what conversations' references can name (their conversion
# context), but a recorded conversation whose references give the answers they gave
# (the users it names are in the source, none rejected) is skipped without being
# converted: its record keeps the older context number.  The others are converted again.
n=$(field "$work/gen-inc.json" "r['collections']['conversations']['unchanged']")
if [ "$n" -ge 1 ]; then
  pass "generated: $n recorded conversations left unchanged"
else
  fail "generated: no recorded conversation was left unchanged"
fi
# A conversation converted again because a user it names is now in the source changes its
# conversation row (the reference is set now), not its messages: those stay as the target
# holds them (its rows digest, table by table), and only the changed table is merged.
n=$(field "$work/gen-inc.json" "r['collections']['conversations'].get('partly_unchanged', 0)")
if [ "$n" -ge 1 ]; then
  pass "generated: $n conversations converted again merged only the tables that changed"
else
  fail "generated: no conversation converted again kept its unchanged tables (partly_unchanged 0)"
fi
inc="$MN_TEST_PG_DSN dbname=mn_app_gen_inc"
for c in conversations activity_logs users; do
  kept=$(q "$inc" "SELECT count(*) FROM mongonorm.documents d JOIN mongonorm.collections c
    USING (collection) WHERE collection = '$c' AND d.context < c.context")
  newer=$(q "$inc" "SELECT count(*) FROM mongonorm.collections WHERE collection = '$c'
    AND context > 1")
  if [ "$newer" = 1 ] && [ "$kept" -ge 1 ]; then
    pass "generated: $c: a new context, and $kept records of an older one skipped by their lookups"
  else
    fail "generated: $c: new context $newer, records of an older context kept: $kept"
  fi
done

# 1b. A recorded conversation converted again whose messages it keeps (its doctor is in the
#     source now), early in the source, and a new conversation before it, in the same batch,
#     carrying one of those messages' `_id`: the new one is first, so it takes the row and
#     the recorded one is refused, as in a full load (a kept table's row taken by another
#     document must not leave its document loaded without it).
/usr/bin/python3 - "$work/gen" "$work/gen70" "$work/keptrow" >"$work/keptrow.id" <<'EOF' ||
import copy, json, os, shutil, sys
full, part, dst = sys.argv[1:4]
def lines(folder, name):
    return [json.loads(l) for l in open(os.path.join(folder, name)) if l.strip()]
def oid(v):
    return v.get("$oid") if isinstance(v, dict) else None
users70 = {oid(u["_id"]) for u in lines(part, "users.json")}
users = {oid(u["_id"]) for u in lines(full, "users.json")}
convs = lines(full, "conversations.json")
d = next(c for c in convs[:30]
         if oid(c.get("doctor")) in users - users70 and oid(c.get("patient")) in users70
         and c.get("messages") and all(isinstance(m, dict) and "_id" in m for m in c["messages"]))
e = copy.deepcopy(convs[0])
e["_id"] = {"$oid": "6b0000000000000000000001"}
e["messages"] = [copy.deepcopy(d["messages"][0])]
os.makedirs(dst, exist_ok=True)
for name in ("users.json", "activity_logs.json"):
    shutil.copy(os.path.join(full, name), os.path.join(dst, name))
with open(os.path.join(dst, "conversations.json"), "w") as f:
    for c in [e] + convs:
        f.write(json.dumps(c, ensure_ascii=False) + "\n")
print(oid(d["_id"]))
EOF
  fail "keptrow: no conversation to set up the case"
fresh_and_appended keptrow "$work/keptrow" "$work/gen70"
if grep -q "$(cat "$work/keptrow.id")" "$work/keptrow-inc.jsonl"; then
  pass "keptrow: the conversation whose kept message was taken is rejected, as by a full load"
else
  fail "keptrow: the conversation whose kept message was taken is not in the reject file"
fi

# 2. New documents PostgreSQL refuses to copy: first in the source, a new user with the
#    email of a loaded user who changes theirs later in the same source (a declared
#    run-wide key), and a new conversation carrying a message `_id` a loaded conversation
#    later in the source has (a sub-document _id two documents carry: the first wins).
/usr/bin/python3 - "$MEDICHAT/json-canonical" "$work/taken" <<'EOF'
import copy, json, os, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
def lines(name):
    return [json.loads(l) for l in open(os.path.join(src, name)) if l.strip()]
def write(name, docs):
    with open(os.path.join(dst, name), "w") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
users = lines("users.json")
holder = next(u for u in users[5:] if isinstance(u.get("email"), str))
newcomer = copy.deepcopy(holder)
newcomer["_id"] = {"$oid": "6a0000000000000000000001"}
holder["email"] = "moved." + holder["email"]
write("users.json", [newcomer] + users)
convs = lines("conversations.json")
owner = next(c for c in convs[5:] if c.get("messages"))
first = copy.deepcopy(convs[0])
first["_id"] = {"$oid": "6a0000000000000000000002"}
first["messages"] = [copy.deepcopy(owner["messages"][0])] + first.get("messages", [])[1:]
write("conversations.json", [first] + convs)
write("activity_logs.json", lines("activity_logs.json"))
EOF
fresh_and_appended taken "$work/taken" "$MEDICHAT/json-canonical"
for c in users conversations; do
  expect_same "taken: $c: the batch PostgreSQL refused to copy was merged" "0" \
    "$(copied "$work/taken-inc.json" "$c")"
done
finish
