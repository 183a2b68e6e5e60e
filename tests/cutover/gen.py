#!/usr/bin/python3
"""gen.py OUT_DIR N [EDIT...]: write people.json and notes.json (canonical Extended JSON,
one document per line) for N people, then apply the named edits (see EDITS)."""
import json, os, sys

out, n, edits = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
os.makedirs(out, exist_ok=True)
oid = lambda i: {"$oid": "64%022x" % i}
people = [{"_id": oid(i), "email": "p%d@example.test" % i, "name": "person %d" % i,
           "score": {"$numberInt": str(i)}, "tags": ["red", "green", "blue"][: 1 + i % 3],
           "devices": [{"_id": {"$oid": "6d%022x" % (10 * i + k)}, "label": "device %d.%d" % (i, k)}
                       for k in range(i % 3)]}
          for i in range(1, n + 1)]
notes = [{"_id": {"$numberInt": str(i)}, "person": oid(1 + i % n), "body": "note %d" % i}
         for i in range(1, 2 * n + 1)]
for e in edits:
    if e == "swap_emails":          # two documents swap a unique value in one run
        people[0]["email"], people[1]["email"] = people[1]["email"], people[0]["email"]
    elif e == "rotate_emails":      # three documents rotate theirs
        a, b, c = people[2]["email"], people[3]["email"], people[4]["email"]
        people[2]["email"], people[3]["email"], people[4]["email"] = b, c, a
    elif e == "drop_first_tag":     # [A, B, C] -> [B, C] under a unique (person, tag)
        for p in people:
            p["tags"] = p["tags"][1:]
    elif e == "reverse_tags":       # [A, B] -> [B, A]
        for p in people:
            p["tags"] = list(reversed(p["tags"]))
    elif e == "dup_id":             # the same _id twice: the first occurrence wins
        d = json.loads(json.dumps(people[5])); d["name"] = "second copy"
        people.insert(7, d)
    elif e == "bad_score":          # a CHECK constraint the mapping does not know
        people[8]["score"] = {"$numberInt": "-5"}
    elif e == "move_device":        # a sub-document moves, with its _id, to an earlier document
        dev = people[10]["devices"].pop(0)  # in a later batch than people[0]
        people[0]["devices"].append(dev)
    elif e == "truncate":           # a partial export: most people gone
        people = people[:5]
        notes = [x for x in notes if x["person"] in [p["_id"] for p in people]]
    else:
        sys.exit("unknown edit " + e)
for name, docs in (("people", people), ("notes", notes)):
    with open(os.path.join(out, name + ".json"), "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
