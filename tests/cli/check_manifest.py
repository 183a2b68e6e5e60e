#!/usr/bin/python3
"""Compare a `mongonorm run --show-drift --report` JSON with a `mongonorm generate` manifest.

usage: check_manifest.py [--no-rejected-rows] MANIFEST REPORT
Prints one line per difference and exits 1 if there is any.  Reject reasons in the
report ("role: string ... is not in the enum") are grouped by their field path (the
text before the first ": "), which is how the manifest names them.
"""
import json
import sys

args = sys.argv[1:]
# --no-rejected-rows: at high mess rates a rejected document may carry two kinds of
# mess whose rows the model cannot predict (e.g. a duplicate of an invalid element);
# accepted documents are still checked exactly.
rejected_rows = "--no-rejected-rows" not in args
args = [a for a in args if a != "--no-rejected-rows"]
man = json.load(open(args[0]))
rep = json.load(open(args[1]))
bad = []


def same(what, want, got):
    if want != got:
        bad.append(f"{what}: manifest {want}, conversion {got}")


for name, c in man["collections"].items():
    r = rep["collections"].get(name, {"read": 0, "loaded": 0, "rejected": 0, "rejects": {}, "unmapped": {}})
    same(f"{name}: documents read", c["documents"], r["read"])
    same(f"{name}: documents loaded", c["loaded"], r["loaded"])
    same(f"{name}: documents rejected", c["rejected"], r["rejected"])
    reasons = {}
    for reason, n in r["rejects"].items():
        key = reason.split(": ", 1)[0]
        reasons[key] = reasons.get(key, 0) + n
    same(f"{name}: rejects by field", dict(sorted(c["rejects"].items())), dict(sorted(reasons.items())))
    # the report names unmapped paths with `run --show-drift` only
    same(f"{name}: unmapped paths", dict(sorted(c["unmapped"].items())), dict(sorted(r["unmapped"].items())))
    same(f"{name}: distinct unmapped paths", len(c["unmapped"]), r.get("unmapped_paths", 0))

for name, t in man["tables"].items():
    r = rep["tables"].get(name, {"inserted": 0, "merged": 0, "skipped": 0, "rejected": 0})
    same(f"{name}: rows", t["rows"], r["inserted"])
    same(f"{name}: merged rows", t["merged"], r["merged"])
    same(f"{name}: skipped rows", t["skipped"], r["skipped"])
    if rejected_rows:
        same(f"{name}: rows of rejected documents", t["rejected_rows"], r["rejected"])

for line in bad:
    print(line)
sys.exit(1 if bad else 0)
