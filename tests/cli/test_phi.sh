#!/usr/bin/env bash
# Column PHI controls (issue 9, point 8; docs/mapping.md "Columns a test copy must not
# hold"): a load with hashed (`transform: [..., sha256]`, keyed with `salt_env`) and
# redacted (`redact`) columns puts none of their values in the target database (tables,
# mongonorm.documents reasons, mongonorm.runs), on stdout or stderr, in the report, or in
# the rows and reasons of the reject file, and never the salt; it rejects and counts
# exactly what a clear load of the same source does; a hashed column still joins; a new
# salt converts everything again; a target column that cannot hold a digest, a redacted
# NULL or a replacement stops the run before anything is written (exit 3).
source "$(dirname "$0")/lib.sh"
require_pg
isolate_env
setup_workdir sql src
salt="phi-test-salt-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export MN_PHI_TEST_SALT="$salt"

cat > "$work/sql/001_schema.sql" <<'SQL'
CREATE TABLE public.clinics (id uuid PRIMARY KEY, name text);
CREATE TABLE public.patients (
    id     uuid PRIMARY KEY,
    email  text UNIQUE,
    born   varchar(64),
    weight text,
    clinic text,
    ssn    text,
    name   text NOT NULL,
    token  uuid,
    city   text
);
CREATE TABLE public.visits (
    id         uuid PRIMARY KEY,
    patient_id uuid NOT NULL REFERENCES public.patients (id),
    ordinal    integer NOT NULL,
    reason     text NOT NULL,
    day        date
);
SQL
# The clear mapping, and the same with PHI controls (the columns' policies are the same).
cat > "$work/clear.yaml" <<'YAML'
version: 1
collections:
  - collection: clinics
    tables:
      - table: clinics
        columns: {name: {path: name, type: text}}
  - collection: patients
    tables:
      - table: patients
        unique: [email]
        columns:
          email:  {path: email, type: text, transform: [trim, lower], required: true}
          born:   {path: born, type: date}
          weight: {path: weight, type: numeric, scale: 1, on_invalid: "null"}
          clinic: {path: clinic, type: uuid, references: clinics}
          ssn:    {path: ssn, type: text}
          name:   {path: name, type: text}
          token:  {path: token, type: uuid, on_invalid: "null"}
          city:   {path: city, type: text}
      - table: visits
        each: visits
        columns:
          patient_id: {value: doc_id}
          ordinal:    {value: index}
          reason:     {path: reason, type: text}
          day:        {path: day, type: date}
YAML
/usr/bin/python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
clear = open(f"{work}/clear.yaml").read()
phi = (clear
  .replace("transform: [trim, lower], required: true}",
           "transform: [trim, lower, sha256], salt_env: MN_PHI_TEST_SALT, required: true}")
  .replace("born:   {path: born, type: date}", "born:   {path: born, type: date, transform: [sha256]}")
  .replace('scale: 1, on_invalid: "null"}', 'scale: 1, on_invalid: "null", transform: [sha256]}')
  .replace("references: clinics}", "references: clinics, transform: [sha256]}")
  .replace("ssn:    {path: ssn, type: text}", "ssn:    {path: ssn, type: text, redact: true}")
  .replace("name:   {path: name, type: text}", 'name:   {path: name, type: text, redact: "REDACTED"}')
  .replace('token:  {path: token, type: uuid, on_invalid: "null"}',
           'token:  {path: token, type: uuid, on_invalid: "null", redact: true}')
  .replace("reason:     {path: reason, type: text}", 'reason:     {path: reason, type: text, redact: "(redacted)"}'))
assert phi.count("sha256") == 4 and phi.count("redact:") == 4, phi
open(f"{work}/phi.yaml", "w").write(phi)
PY

# 300 patients: names, ssns, e-mails, birth dates and visit reasons that look like patient
# data; some invalid (a birth date that is no date, a token that is no uuid, a weight that
# is no number), dangling clinics, duplicate e-mails, missing e-mails.  The strings that
# must never reach the target or the output go to $work/phi.txt.  Weights carry seven
# fraction digits: a short one ("45.55") also turns up inside a run's timestamps.
phi_data <<'PY'
with open(f"{work}/src/clinics.json", "w") as f:
    for c in range(5):
        f.write(json.dumps({"_id": {"$oid": f"65{c:022x}"}, "name": f"clinic {c}"}) + "\n")
with open(f"{work}/src/patients.json", "w") as f:
    for i in range(300):
        name = f"Patient{i:03d} Jane Doe"
        mail = f"Jane.Doe{i:03d}@Example.com" if i % 37 else "jane.doe001@example.com"
        doc = {"_id": {"$oid": f"66{i:022x}"}, "name": name, "ssn": f"{100 + i}-45-{6789 + i}",
               "email": f" {mail} ", "born": f"19{50 + i % 50:02d}-0{1 + i % 9}-1{i % 9}",
               "weight": f"{40 + i % 60}.{i % 10}{i % 7}31415", "city": "Oslo",
               "clinic": {"$oid": f"65{i % 6:022x}"},  # clinic 5 does not exist
               "token": f"c8edcd1e-6a4e-4c4e-9b3f-{i:012x}",
               "visits": [{"reason": f"{conds[i % 5]} follow-up {i}", "day": "2024-01-05"}]}
        if i % 11 == 3:
            doc["born"] = f"born in Bergen, patient {i}"   # invalid date: rejected
        if i % 13 == 4:
            doc["token"] = f"token of {name}"               # invalid uuid: NULL, counted
        if i % 17 == 5:
            doc["weight"] = f"about {i} kilos"               # invalid number: NULL, counted
        if i % 41 == 6:
            del doc["email"]                                 # required: rejected
        f.write(json.dumps(doc) + "\n")
        phi.update([name, doc["ssn"], mail.lower(), doc.get("token", ""), doc["born"],
                    doc["weight"], f"{conds[i % 5]} follow-up {i}"])
phi.update(["Jane Doe", "@example.com", "Example.com", "follow-up", "kilos", "born in"])
PY

# run NAME MAPPING [OPTIONS...]: a run into database mn_phi_NAME (created by the caller or
# fresh when FRESH=1); exit in $rc; stdout, stderr, report, HTML report, rejects, mongonorm.runs and a
# data dump of the whole database (every schema) in $work/NAME.*
run() {
  local name=$1 map=$2 dsn
  shift 2
  dsn="$MN_TEST_PG_DSN dbname=mn_phi_$name"
  try "$MN_BIN" run --source "$work/src" --mapping "$map" --pg "$dsn" \
    --rejects "$work/$name.rejects" --report "$work/$name.json" --report-html "$work/$name.html" \
    "$@" >"$out" 2>"$err"
  cp "$out" "$work/$name.out"
  cp "$err" "$work/$name.err"
  psql "$dsn" -qXAt -v ON_ERROR_STOP=1 -c "SELECT report FROM mongonorm.runs ORDER BY id" \
    >"$work/$name.runs" 2>/dev/null || true
  pg_dump --data-only "$dsn" >"$work/$name.dump"
}
new_db() { init_db "mn_phi_$1" --sql-dir "${2:-$work/sql}" >/dev/null; }

# no_phi DESC FILE...: none of the strings of phi.txt (nor the salt) is in the files
no_phi() {
  local desc=$1 hits
  shift
  hits=$( (grep -F -o -h -f "$work/phi.txt" "$@" || true; grep -F -o -h -- "$salt" "$@" || true) |
    sort -u | head -3)
  if [ -z "$hits" ]; then pass "$desc: no patient data"; else fail "$desc: holds $(echo "$hits" | tr '\n' '|')"; fi
}
json_get() {
  /usr/bin/python3 -c 'import json, sys; r = json.loads(open(sys.argv[1]).read()); print(eval(sys.argv[2]))' "$1" "$2"
}
q() { psql "$MN_TEST_PG_DSN dbname=mn_phi_$1" -qXAt -v ON_ERROR_STOP=1 -c "$2"; }

# the lists must work: the clear load holds the strings
new_db clear
run clear "$work/clear.yaml"
[ "$rc" = 1 ] && pass "clear: exit 1 (rejects)" || fail "clear: exit $rc: $(cat "$err")"
no_phi "clear: the HTML report (counts, names and _ids only, whatever the mapping)" "$work/clear.html"
n=$(grep -F -c -f "$work/phi.txt" "$work/clear.dump" || true)
[ "$n" -gt 300 ] && pass "clear: the target holds the patient-like strings ($n lines)" || fail "clear: phi.txt matches $n lines"

# --- the PHI load
new_db phi
run phi "$work/phi.yaml"
[ "$rc" = 1 ] && pass "phi: exit 1 (rejects)" || fail "phi: exit $rc: $(cat "$err")"
no_phi "phi: the target database (every table, mongonorm.documents, mongonorm.runs)" "$work/phi.dump"
no_phi "phi: stdout, stderr, report, HTML report" "$work/phi.out" "$work/phi.err" "$work/phi.json" \
  "$work/phi.html"
# the reject file: rows and reasons hold no value; the document is the source's, whole
/usr/bin/python3 - "$work" >"$work/phi.rejects.converted" <<'PY'
import json, sys
for line in open(f"{sys.argv[1]}/phi.rejects"):
    r = json.loads(line)
    print(json.dumps({k: r[k] for k in r if k not in ("document", "document_bytes")}))
PY
no_phi "phi: the reject file's reasons and rows" "$work/phi.rejects.converted"
if grep -q -F "Patient003 Jane Doe" "$work/phi.rejects"; then
  pass "phi: the reject file keeps the source document whole (to repair it)"
else
  fail "phi: the reject file lost the source document"
fi
got=$(/usr/bin/python3 - "$work" <<'PY'
import json, sys
for line in open(f"{sys.argv[1]}/phi.rejects"):
    r = json.loads(line)
    for row in r.get("rows", []):
        if row["table"] == "patients":
            v = row["values"]
            print(v["name"], v["ssn"], v["token"], len(v["email"] or ""), len(v["born"] or ""))
            sys.exit(0)
PY
)
[ "$got" = "REDACTED None None 64 64" ] && pass "phi: reject rows hold values as stored (hashed, redacted)" || fail "phi: reject row $got"

# --- the same outcome as the clear load: counts, rejected documents and their reasons' paths
for part in collections tables; do
  expr="{t: {k: v for k, v in s.items() if k != 'seconds'} for t, s in r['$part'].items()}"
  a=$(json_get "$work/clear.json" "$expr")
  b=$(json_get "$work/phi.json" "$expr")
  [ "$a" = "$b" ] && pass "phi: the same counts and reasons per $part as clear" || fail "phi: $b != clear $a"
done
ids() {
  /usr/bin/python3 -c 'import json, sys; print(sorted((json.dumps(r["_id"]), r["path"]) for r in map(json.loads, open(sys.argv[1]))))' "$1"
}
[ "$(ids "$work/clear.rejects")" = "$(ids "$work/phi.rejects")" ] && pass "phi: the same rejected documents, at the same paths" || fail "phi: rejected documents differ"
n=$(wc -l <"$work/phi.rejects")
[ "$n" -gt 20 ] && pass "phi: $n rejected documents" || fail "phi: only $n rejects"
for t in patients visits clinics; do
  a=$(q clear "SELECT count(*) FROM $t")
  b=$(q phi "SELECT count(*) FROM $t")
  [ "$a" = "$b" ] && pass "phi: $t has the rows of the clear load ($a)" || fail "phi: $t $b rows, clear $a"
done

# --- hashed values: HMAC-SHA-256 under the salt of the stored text; plain SHA-256; joins
want=$(/usr/bin/python3 -c 'import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), b"jane.doe010@example.com", hashlib.sha256).hexdigest())' "$salt")
got=$(q phi "SELECT email FROM patients WHERE id = '66000000-0000-0000-0000-000a00000000'")
[ "$got" = "$want" ] && pass "phi: email is HMAC-SHA-256(salt, trimmed lower-cased text)" || fail "phi: email $got, want $want"
# the clear load's text, digested by PostgreSQL, against the PHI load's (NULL stays NULL)
q clear "SELECT id, encode(sha256(convert_to(born::text, 'UTF8')), 'hex'), encode(sha256(convert_to(weight::text, 'UTF8')), 'hex'), encode(sha256(convert_to(clinic::text, 'UTF8')), 'hex') FROM patients ORDER BY id" >"$work/clear.digests"
q phi "SELECT id, born, weight, clinic FROM patients ORDER BY id" >"$work/phi.digests"
if cmp -s "$work/clear.digests" "$work/phi.digests"; then
  pass "phi: born, weight, clinic are SHA-256 of the clear load's text"
else
  fail "phi: digests differ: $(diff "$work/clear.digests" "$work/phi.digests" | head -3)"
fi
got=$(q phi "SELECT count(*) FROM patients p JOIN clinics c ON p.clinic = encode(sha256(convert_to(c.id::text, 'UTF8')), 'hex')")
want=$(q clear "SELECT count(*) FROM patients WHERE clinic IS NOT NULL")
[ "$got" = "$want" ] && [ "$got" -gt 100 ] && pass "phi: the hashed reference joins ($got rows)" || fail "phi: join $got, clear $want"
got=$(q phi "SELECT count(DISTINCT name) || ' ' || count(ssn) || ' ' || count(token) FROM patients")
[ "$got" = "1 0 0" ] && pass "phi: redacted columns hold only the replacement" || fail "phi: redacted $got"
got=$(q phi "SELECT string_agg(DISTINCT reason, ',') FROM visits")
[ "$got" = "(redacted)" ] && pass "phi: redacted child column" || fail "phi: visits.reason $got"

# --- incremental: the same salt writes nothing; a new salt converts everything again
run phi "$work/phi.yaml"
got=$(json_get "$work/phi.json" 'sum(s["inserted"] + s["updated"] + s["deleted"] for s in r["tables"].values())')
[ "$got" = 0 ] && pass "phi, same salt: nothing written" || fail "phi, same salt: $got rows written"
before=$(q phi "SELECT email FROM patients WHERE id = '66000000-0000-0000-0000-000a00000000'")
export MN_PHI_TEST_SALT="$salt-rotated"
run phi "$work/phi.yaml"
after=$(q phi "SELECT email FROM patients WHERE id = '66000000-0000-0000-0000-000a00000000'")
want=$(/usr/bin/python3 -c 'import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), b"jane.doe010@example.com", hashlib.sha256).hexdigest())' "$salt-rotated")
[ "$after" = "$want" ] && [ "$after" != "$before" ] && pass "phi, new salt: every e-mail digest rewritten" || fail "phi, new salt: $before -> $after"
no_phi "phi, new salt: target, output" "$work/phi.dump" "$work/phi.out" "$work/phi.err" "$work/phi.json"
if grep -q -F -- "$salt" "$work/phi.dump" "$work/phi.out" "$work/phi.err" "$work/phi.json" "$work/phi.rejects"; then
  fail "phi, new salt: the salt is printed"
else
  pass "phi, new salt: the salt is nowhere"
fi
export MN_PHI_TEST_SALT="$salt"

# --- targets that cannot hold what the mapping stores: exit 3 before anything is written
bad() {
  local name=$1 sql=$2 want=$3 dsn
  mkdir -p "$work/sql_$name"
  sed -e "$sql" "$work/sql/001_schema.sql" >"$work/sql_$name/001_schema.sql"
  new_db "$name" "$work/sql_$name"
  run "$name" "$work/phi.yaml"
  if [ "$rc" = 3 ] && [ "$(head -n 1 "$err")" = "mongonorm: error: $want" ]; then
    pass "$name: exit 3, $want"
  else
    fail "$name: exit $rc: $(head -n 1 "$err")"
  fi
  dsn="$MN_TEST_PG_DSN dbname=mn_phi_$name"
  n=$(psql "$dsn" -qXAt -c "SELECT (SELECT count(*) FROM patients) + (SELECT count(*) FROM clinics)")
  [ "$n" = 0 ] && pass "$name: nothing written" || fail "$name: $n rows written"
}
bad born_date 's/born   varchar(64)/born   date/' \
  "mapping file \"$work/phi.yaml\", line 13: column \"public.patients.born\" is hashed (\"transform: [sha256]\") and stores 64 hexadecimal digits, which its type date cannot hold: make it text (or varchar(64))"
bad born_short 's/born   varchar(64)/born   varchar(32)/' \
  "mapping file \"$work/phi.yaml\", line 13: column \"public.patients.born\" is hashed (\"transform: [sha256]\") and stores 64 hexadecimal digits, which its type varchar(32) cannot hold: make it text (or varchar(64))"
bad ssn_not_null 's/ssn    text,/ssn    text NOT NULL,/' \
  "mapping file \"$work/phi.yaml\", line 16: column \"public.patients.ssn\" is NOT NULL, so NULL (\"redact: true\") cannot be stored in it: give a replacement value (\"redact: <value>\")"
bad name_short 's/name   text NOT NULL,/name   varchar(4) NOT NULL,/' \
  "mapping file \"$work/phi.yaml\", line 17: column \"public.patients.name\": its \"redact\" value cannot be stored in it: text longer than column patients.name varchar(4): 8 characters"

# --- a hashed reference into its own collection: no row id is stored, so the sweep of
# references to documents gone leaves it (a document rejected now that was loaded before
# makes the run sweep its collection)
mkdir -p "$work/sql_self" "$work/self1" "$work/self2"
cat >"$work/sql_self/001_people.sql" <<'SQL'
CREATE TABLE public.people (id uuid PRIMARY KEY, boss text, name text NOT NULL);
SQL
cat >"$work/self.yaml" <<'YAML'
version: 1
collections:
  - collection: people
    tables:
      - table: people
        columns:
          boss: {path: boss, type: uuid, references: people, transform: [sha256]}
          name: {path: name, type: text, required: true}
YAML
printf '%s\n' '{"_id":{"$oid":"670000000000000000000001"},"name":"Ann","boss":{"$oid":"670000000000000000000002"}}' \
  '{"_id":{"$oid":"670000000000000000000002"},"name":"Bob"}' >"$work/self1/people.json"
printf '%s\n' '{"_id":{"$oid":"670000000000000000000001"},"name":"Ann","boss":{"$oid":"670000000000000000000002"}}' \
  '{"_id":{"$oid":"670000000000000000000002"}}' >"$work/self2/people.json"
dsn=$(init_db mn_phi_self --sql-dir "$work/sql_self")
for step in 1 2; do
  try "$MN_BIN" run --source "$work/self$step" --mapping "$work/self.yaml" --pg "$dsn" \
    --rejects "$work/self.rejects" >"$out" 2>"$err"
  want=$([ "$step" = 1 ] && echo 0 || echo 1)
  [ "$rc" = "$want" ] && pass "hashed self-reference, run $step: exit $rc" || fail "hashed self-reference, run $step: exit $rc: $(cat "$err")"
done
got=$(psql "$dsn" -qXAt -c "SELECT boss FROM people WHERE name = 'Ann'")
want=$(/usr/bin/python3 -c 'import hashlib; print(hashlib.sha256(b"67000000-0000-0000-0000-000200000000").hexdigest())')
[ "$got" = "$want" ] && pass "hashed self-reference: the digest stays" || fail "hashed self-reference: boss $got"

# --- check --pg: the same errors; a good target has no finding for hashed columns
try "$MN_BIN" check --mapping "$work/phi.yaml" --pg "$MN_TEST_PG_DSN dbname=mn_phi_born_date" >"$out" 2>"$err"
[ "$rc" = 3 ] && grep -q -F 'which its type date cannot hold' "$err" && pass "check --pg: a hashed date column" || fail "check --pg: exit $rc: $(cat "$err")"
try "$MN_BIN" check --mapping "$work/phi.yaml" --pg "$MN_TEST_PG_DSN dbname=mn_phi_phi" >"$out" 2>"$err"
[ "$rc" = 0 ] && pass "check --pg: the PHI mapping fits its target" || fail "check --pg: exit $rc: $(cat "$err")"

# --- no salt: a mapping error naming the variable, never a value
try env -u MN_PHI_TEST_SALT "$MN_BIN" check --mapping "$work/phi.yaml" >"$out" 2>"$err"
want="mongonorm: error: mapping file \"$work/phi.yaml\", line 12: environment variable \"MN_PHI_TEST_SALT\" named by \"salt_env\" of column \"email\" is not set"
[ "$rc" = 3 ] && [ "$(head -n 1 "$err")" = "$want" ] && pass "no salt: exit 3, named" || fail "no salt: exit $rc: $(head -n 1 "$err")"
finish
