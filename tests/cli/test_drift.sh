#!/usr/bin/env bash
# Schema drift without PHI (issue 9, point 8): field names of partly mapped sub-documents
# can be patient data ("notes.Jane Doe - HIV positive").  By default `run` says per
# collection how many distinct unmapped paths it saw and in how many documents, and no
# name, on stdout, in --report and in mongonorm.runs; --show-drift lists them with keys
# that look like data collapsed into <key> and at most 100 per collection; 10,000
# distinct junk keys give bounded output and memory.
source "$(dirname "$0")/lib.sh"
require_pg
isolate_env
setup_workdir sql src junk ids

cat > "$work/sql/001_charts.sql" <<'SQL'
CREATE TABLE public.charts (
    id      uuid PRIMARY KEY,
    name    text,
    summary text,
    panel   text,
    contact text
);
SQL
one_table_mapping charts > "$work/map.yaml" <<'YAML'
name:    {path: name, type: text}
summary: {path: notes.summary, type: text}
panel:   {path: labs.panel, type: text}
contact: {path: contacts.primary, type: text}
YAML

# 200 charts whose sub-documents are keyed by patient-like free text, ObjectIds, UUIDs,
# numbers, dates and e-mail addresses; plus one new field with a plain name.
# The strings that must never be printed unless asked go to $work/phi.txt.
phi_data <<'PY'
import uuid
with open(f"{work}/src/charts.json", "w") as f:
    for i in range(200):
        oid = f"65{i:022x}"
        who = f"Patient{i:03d} Jane Doe - {conds[i % len(conds)]}"
        lab = f"{0x507f1f77bcf86cd799439011 + i:024x}"
        u = str(uuid.UUID(int=(0xf47ac10b58cc4372a5670e02b2c3d479 + i)))
        mail = f"jane.doe{i}@example.com"
        doc = {"_id": {"$oid": oid}, "name": f"n{i}",
               "notes": {"summary": "s", who: "see chart"},
               "labs": {"panel": "cbc", lab: {"wbc": 5}, u: 1, str(1000 + i): 2,
                        f"2023-03-{1 + i % 28:02d}": 3},
               "contacts": {"primary": "p", mail: {"phone": "555"}}}
        if i % 2 == 0:
            doc["nickname"] = "x"
        f.write(json.dumps(doc) + "\n")
        phi.update([who, lab, u, mail])  # (the number keys: too common to grep for)
phi.update(["Jane Doe", "HIV", "diabetic", "@example.com", "507f1f77bcf86cd7994390"])
PY

# run NAME DB [OPTIONS...]: a run into a fresh database; exit in $rc, stdout in $out,
# report in $work/NAME.json, the report recorded in mongonorm.runs in $work/NAME.runs.
run() {
  local name=$1 src=$2 dsn
  shift 2
  dsn=$(init_db "mn_drift_$name" --sql-dir "$work/sql")
  try "$MN_BIN" run --source "$src" --mapping "$work/map.yaml" --pg "$dsn" \
    --rejects "$work/$name.rejects" --report "$work/$name.json" "$@" >"$out" 2>"$err"
  psql "$dsn" -qXAt -v ON_ERROR_STOP=1 -c "SELECT report FROM mongonorm.runs" >"$work/$name.runs"
  cp "$out" "$work/$name.out"
}

# no_phi DESC FILE...: none of the strings of phi.txt is in the files
no_phi() {
  local desc=$1 hits
  shift
  hits=$(grep -F -o -h -f "$work/phi.txt" "$@" | sort -u | head -3 || true)
  if [ -z "$hits" ]; then pass "$desc: no patient data"; else fail "$desc: prints $(echo "$hits" | tr '\n' '|')"; fi
}

# contains DESC FILE TEXT: FILE holds TEXT (exactly, several lines allowed)
contains() {
  if /usr/bin/python3 -c 'import sys; sys.exit(0 if sys.argv[2] in open(sys.argv[1]).read() else 1)' "$2" "$3"; then
    pass "$1"
  else
    fail "$1"
    printf '#   wanted:\n%s\n#   got:\n' "$3" | sed 's/^/#   /'
    sed 's/^/#     |/' "$2" | head -20
  fi
}

# json_get FILE EXPR: evaluate a Python expression over the JSON as `r`
json_get() {
  /usr/bin/python3 -c 'import json, sys; r = json.loads(open(sys.argv[1]).read()); print(eval(sys.argv[2]))' "$1" "$2"
}

# the phi list itself must work: the source has every string
if [ "$(grep -F -c -f "$work/phi.txt" "$work/src/charts.json")" = 200 ]; then
  pass "the source holds the patient-like strings"
else
  fail "phi.txt does not match the source"
fi

# --- default: counts only
run default "$work/src"
if [ "$rc" = 0 ]; then pass "default: exit 0"; else fail "default: exit $rc: $(cat "$err")"; fi
contains "default: how many paths and documents, and how to see them" "$out" \
  '    unmapped source paths: 4 in 200 documents (names not shown: "run --show-drift" lists them)'
no_phi "default: stdout, stderr, report, mongonorm.runs" "$out" "$err" "$work/default.json" "$work/default.runs"
for name in notes labs contacts nickname '<key>'; do
  if grep -q -F -- "$name" "$out" "$work/default.json" "$work/default.runs"; then
    fail "default: the field name \"$name\" is printed"
  else
    pass "default: no field name \"$name\""
  fi
done
got=$(json_get "$work/default.json" '[r["collections"]["charts"][k] for k in ("unmapped_paths", "unmapped_documents")]')
want="[4, 200]"
[ "$got" = "$want" ] && pass "default report: unmapped_paths, unmapped_documents" || fail "default report: $got"
got=$(json_get "$work/default.json" '"unmapped" in r["collections"]["charts"]')
[ "$got" = False ] && pass "default report: no unmapped names" || fail "default report: has unmapped names"
got=$(json_get "$work/default.runs" 'r["collections"]["charts"]["unmapped_paths"]')
[ "$got" = 4 ] && pass "mongonorm.runs: the count" || fail "mongonorm.runs: unmapped_paths $got"

# --- --show-drift: the collapsed patterns, in walk order, with documents per path
run show "$work/src" --show-drift
if [ "$rc" = 0 ]; then pass "--show-drift: exit 0"; else fail "--show-drift: exit $rc: $(cat "$err")"; fi
contains "--show-drift: the collapsed paths" "$out" \
'    unmapped source paths: 4 in 200 documents, documents per path:
             200  notes.<key>
             200  labs.<key>
             200  contacts.<key>
             100  nickname
'
no_phi "--show-drift: stdout, report, mongonorm.runs" "$out" "$err" "$work/show.json" "$work/show.runs"
want="{'notes.<key>': 200, 'labs.<key>': 200, 'contacts.<key>': 200, 'nickname': 100}"
got=$(json_get "$work/show.json" 'r["collections"]["charts"]["unmapped"]')
[ "$got" = "$want" ] && pass "--show-drift: report names" || fail "--show-drift report: $got"
got=$(json_get "$work/show.runs" 'dict(sorted(r["collections"]["charts"]["unmapped"].items()))')
want="{'contacts.<key>': 200, 'labs.<key>': 200, 'nickname': 100, 'notes.<key>': 200}"  # jsonb reorders
[ "$got" = "$want" ] && pass "--show-drift: mongonorm.runs names" || fail "--show-drift runs: $got"

# --- 10,000 distinct junk keys in one sub-document that look like data: one path
/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
with open(f"{work}/junk/charts.json", "w") as f:
    for d in range(20):
        notes = {"summary": "s"}
        for k in range(500):
            n = d * 500 + k
            notes[f"Jane Doe {n} - HIV positive"] = 1
        f.write(json.dumps({"_id": {"$oid": f"66{d:022x}"}, "notes": notes}) + "\n")
PY
run junk "$work/junk" --show-drift
contains "10,000 free-text keys: one collapsed path" "$out" \
'    unmapped source paths: 1 in 20 documents, documents per path:
              20  notes.<key>
'
bytes=$(cat "$out" "$work/junk.json" "$work/junk.runs" | wc -c)
if [ "$bytes" -lt 4000 ]; then pass "10,000 free-text keys: $bytes bytes of output"; else fail "10,000 free-text keys: $bytes bytes"; fi

# --- 10,000 distinct keys that look like field names: capped at 100 names
/usr/bin/python3 - "$work" <<'PY'
import json, string, sys
work = sys.argv[1]
letters = string.ascii_lowercase
def name(n):
    s = ""
    for _ in range(4):
        s = letters[n % 26] + s
        n //= 26
    return "fld" + s
with open(f"{work}/ids/charts.json", "w") as f:
    for d in range(100):
        extra = {name(d * 100 + k): 1 for k in range(100)}
        f.write(json.dumps({"_id": {"$oid": f"67{d:022x}"}, "name": "n", **extra}) + "\n")
PY
run ids "$work/ids" --show-drift
contains "10,000 name-like keys: the count" "$out" \
  '    unmapped source paths: 10000 in 100 documents, documents per path:'
contains "10,000 name-like keys: the rest counted, not named" "$out" \
  '              99  9900 more paths (names kept for the first 100)'
n=$(grep -c '^               1  fld' "$out" || true)
[ "$n" = 100 ] && pass "10,000 name-like keys: 100 names listed" || fail "10,000 name-like keys: $n names listed"
got=$(json_get "$work/ids.json" '(len(r["collections"]["charts"]["unmapped"]), r["collections"]["charts"]["unmapped_more"])')
[ "$got" = "(100, {'paths': 9900, 'documents': 99})" ] && pass "10,000 name-like keys: report capped" || fail "report: $got"
for f in "$work/ids.out" "$work/ids.json" "$work/ids.runs"; do
  bytes=$(wc -c < "$f")
  if [ "$bytes" -lt 8000 ]; then pass "10,000 name-like keys: $(basename "$f") is $bytes bytes"; else fail "$(basename "$f") is $bytes bytes"; fi
done
run ids_default "$work/ids"
bytes=$(cat "$out" "$work/ids_default.json" "$work/ids_default.runs" | wc -c)
contains "10,000 name-like keys, default: the count" "$out" \
  '    unmapped source paths: 10000 in 100 documents (names not shown: "run --show-drift" lists them)'
if grep -q fld "$out" "$work/ids_default.json" "$work/ids_default.runs"; then fail "default lists names"; else pass "10,000 name-like keys, default: no names ($bytes bytes)"; fi

# --- the option belongs to run only
try "$MN_BIN" check --mapping "$work/map.yaml" --show-drift >"$out" 2>"$err"
if [ "$rc" = 2 ] && [ "$(head -n 1 "$err")" = 'mongonorm: error: option "--show-drift" does not apply to this command' ]; then
  pass "check --show-drift: usage error"
else
  fail "check --show-drift: exit $rc: $(head -n 1 "$err")"
fi
# the help whole first: grep -q leaves at its first match, and a writer still writing then
# dies of SIGPIPE, which pipefail would count
run_help=$("$MN_BIN" run --help)
if grep -q -- '^  --show-drift ' <<<"$run_help"; then pass "run --help lists --show-drift"; else fail "run --help: no --show-drift"; fi
finish
