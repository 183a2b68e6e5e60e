#!/usr/bin/python3
"""Check that a run with an `infer` draft loaded everything: every document, every element.

usage: check_infer_load.py SOURCE MAPPING REPORT [COLLECTION=UNMAPPED ...]
SOURCE: the folder the run read (mongodump .bson files or Extended JSON .json files, one
document per line); MAPPING: the draft; REPORT: `run --report` JSON.  Checks, per
collection, read = loaded, nothing rejected, UNMAPPED (default 0) distinct unmapped paths;
(the collection names given)
and per child table of the draft, that its rows (inserted + skipped) are the elements the
source holds at its `each` (arrays, maps, `each: $`, `on_scalar: single`), so every array
is in its own table with one row per element.  Prints each difference; exit 1 if any.
"""
import glob
import json
import os
import sys

import struct

import yaml
from bson import json_util

source, mapping, report = sys.argv[1:4]
unmapped_want = {a.split("=")[0]: int(a.split("=")[1]) for a in sys.argv[4:]}
m = yaml.safe_load(open(mapping))
rep = json.load(open(report))
bad = []


# Fixed sizes of the BSON types that are neither documents nor strings (a Date out of
# Python's range is fine here: only documents and arrays are looked into).
FIXED = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8,
         0x13: 16, 0xFF: 0, 0x7F: 0}


def parse(b, pos, array):
    """The document (or array) at b[pos]: dicts and lists, other values as their type."""
    end = pos + struct.unpack_from("<i", b, pos)[0] - 1
    pos += 4
    out = [] if array else {}
    while pos < end:
        t = b[pos]
        k = b.index(0, pos + 1)
        key = b[pos + 1:k].decode("utf-8", "replace")
        pos = k + 1
        if t in (0x03, 0x04):
            v = parse(b, pos, t == 0x04)
            pos += struct.unpack_from("<i", b, pos)[0]
        elif t in (0x02, 0x0D, 0x0E):
            n = struct.unpack_from("<i", b, pos)[0]
            v = ("string", b[pos + 4:pos + 3 + n])
            pos += 4 + n
        elif t == 0x05:
            pos += 5 + struct.unpack_from("<i", b, pos)[0]
            v = ("binary",)
        elif t == 0x0B:
            pos = b.index(0, b.index(0, pos) + 1) + 1
            v = ("regex",)
        elif t == 0x0C:
            pos += 4 + struct.unpack_from("<i", b, pos)[0] + 12
            v = ("dbpointer",)
        elif t == 0x0F:
            pos += struct.unpack_from("<i", b, pos)[0]
            v = ("code_w_scope",)
        else:
            pos += FIXED[t]
            v = None if t == 0x0A else ("scalar", t)
        if array:
            out.append(v)
        else:
            out[key] = v
    return out


def documents(coll):
    for path in glob.glob(os.path.join(source, "**", coll + ".bson"), recursive=True):
        data = open(path, "rb").read()
        pos = 0
        while pos < len(data):
            yield parse(data, pos, False)
            pos += struct.unpack_from("<i", data, pos)[0]
        return
    for path in glob.glob(os.path.join(source, "**", coll + ".json"), recursive=True):
        with open(path) as f:
            for line in f:
                if line.strip():
                    yield json_util.loads(line)
        return


def get(value, path):
    if path == "$":
        return value
    for seg in path.split("."):
        if not isinstance(value, dict) or seg not in value:
            return None
        value = value[seg]
    return value


def elements(container, entry):
    v = get(container, entry["each"])
    if v is None:
        return []
    if entry.get("each_as") == "map":
        return list(v.values()) if isinstance(v, dict) else []
    if isinstance(v, list):
        return v
    return [v] if entry.get("on_scalar") == "single" else []


for c in m["collections"]:
    name = c["collection"]
    got = rep["collections"].get(name, {})
    if got.get("read") != got.get("loaded") or got.get("rejected"):
        bad.append(f"{name}: read {got.get('read')}, loaded {got.get('loaded')}, "
                   f"rejected {got.get('rejected')}")
    if got.get("unmapped_paths", 0) != unmapped_want.get(name, 0):
        bad.append(f"{name}: {got.get('unmapped_paths')} unmapped paths, want {unmapped_want.get(name, 0)}: "
                   f"{got.get('unmapped')}")
    entries = {t.get("name", t["table"]): t for t in c["tables"]}
    counts = {t.get("name", t["table"]): 0 for t in c["tables"]}
    for doc in documents(name):
        rows = {c["tables"][0].get("name", c["tables"][0]["table"]): [doc]}
        for t in c["tables"][1:]:
            key = t.get("name", t["table"])
            parents = rows[t["parent"]] if "parent" in t else [doc]
            rows[key] = [e for p in parents for e in elements(p, t)]
            counts[key] += len(rows[key])
    for key, t in entries.items():
        if "each" not in t:
            continue
        stats = rep["tables"].get(t["table"], {})
        have = stats.get("inserted", 0) + stats.get("skipped", 0)
        if have != counts[key]:
            bad.append(f"{name}: table {t['table']}: {have} rows, the source has {counts[key]} "
                       f"elements at \"{t['each']}\"")
for line in bad:
    print(line)
sys.exit(1 if bad else 0)
