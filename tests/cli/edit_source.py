#!/usr/bin/python3
"""Write a changed copy of the MediChat sample (canonical Extended JSON, one document per
line): the edits of a cutover day, for the incremental-run tests.

usage: edit_source.py IN_DIR OUT_DIR [--light]

--light leaves users alone (no referenced collection gains or loses documents), so an
incremental run may read only what changed since the watermark.

Canonical Extended JSON is plain JSON, so documents are edited as JSON objects and
written back as they are; no value changes type by accident.
"""
import copy
import json
import os
import sys

src, dst = sys.argv[1], sys.argv[2]
light = "--light" in sys.argv[3:]
os.makedirs(dst, exist_ok=True)


def load(name):
    with open(os.path.join(src, name + ".json"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def save(name, docs):
    with open(os.path.join(dst, name + ".json"), "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n")


def touch(d):
    """What the application does on every write (Mongoose timestamps: true)."""
    d["updatedAt"] = {"$date": {"$numberLong": "1795219200000"}}


def oid(d):
    return d["_id"].get("$oid") if isinstance(d["_id"], dict) else d["_id"]


users = load("users")
convs = load("conversations")
logs = load("activity_logs")
by_id = {oid(u): u for u in users}

# A login date past year 9999 brought back to this century: also lets the wire test
# server (pymongo 3.11, which cannot hold such dates in Python) load the changed copy.
for u in users:
    d = u.get("lastLoginAt")
    if isinstance(d, dict) and isinstance(d.get("$date"), dict) and \
            int(d["$date"]["$numberLong"]) > 253402300799999:
        u["lastLoginAt"] = {"$date": {"$numberLong": "1767225600000"}}
        touch(u)

# users (not with --light): an edited name, an allergy added, medical history reordered, a rejected user
# made valid, a user removed (its conversations lose their patient), a new user.
if not light:
    users[0]["firstName"] = "Sára"
    touch(users[0])
    for u in users:
        if isinstance(u.get("medicalHistory"), list) and len(u["medicalHistory"]) > 1:
            u["medicalHistory"].reverse()
            touch(u)
            break
    by_id["63dbeefe7573720000000008"]["role"] = "admin"          # was 'superuser': now valid
    touch(by_id["63dbeefe7573720000000008"])
    patients = {c["patient"]["$oid"] for c in convs if isinstance(c.get("patient"), dict)}
    removed = next(u for u in users if oid(u) in patients and u.get("role") == "patient")
    users.remove(removed)
    for u in users:
        if u.get("role") == "patient" and isinstance(u.get("allergies"), list) and u["allergies"]:
            u["allergies"].append("Latex")
            touch(u)
            break
    new_user = copy.deepcopy(users[1])
    new_user["_id"] = {"$oid": "6a0000000000000000000001"}
    new_user["email"] = "new.user@medichat.example"
    users.append(new_user)

# conversations: a message edited, one removed, one conversation deleted, one added.
convs[1]["messages"][0]["content"] = "Edited:\ttab, newline\n, backslash \\ and emoji 🩺"
touch(convs[1])
for c in convs:
    if len(c.get("messages", [])) > 3:
        del c["messages"][1]
        touch(c)
        break
del convs[2]
new_conv = copy.deepcopy(convs[3])
new_conv["_id"] = {"$oid": "6a0000000000000000000002"}
for m in new_conv.get("messages", []):
    if "_id" in m:
        m["_id"] = {"$oid": "6a00000000000000000" + m["_id"]["$oid"][-5:]}
convs.append(new_conv)

# activity_logs: two removed, one edited deep in its metadata, one added.
del logs[5]
del logs[10]
for entry in logs:
    if isinstance(entry.get("metadata"), dict):
        entry["metadata"]["editedBy"] = "cutover-test"
        touch(entry)
        break
new_log = copy.deepcopy(logs[0])
new_log["_id"] = {"$oid": "6a0000000000000000000003"}
logs.append(new_log)

save("users", users)
save("conversations", convs)
save("activity_logs", logs)
