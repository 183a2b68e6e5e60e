#!/usr/bin/python3
"""Random documents for the randomized `infer` test: a JSON folder from a seed.

usage: gen_infer_docs.py SEED OUT_DIR
Writes 2 to 4 collections of canonical Extended JSON (one document per line).  Each
collection has a random model (field names camelCase, snake, reserved words, long,
unicode; types int32, int64, double, Decimal128, strings, booleans, dates, ObjectIds
naming another collection's documents, nulls; sub-documents to depth 4; arrays of
scalars, of sub-documents and of arrays; maps keyed by ids, numbers and dates) and each
document follows it loosely: fields go missing, turn null, change type now and then,
arrays are empty or a single value.  Same seed, same files.
"""
import datetime
import os
import random
import sys

from bson import ObjectId, json_util
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.json_util import CANONICAL_JSON_OPTIONS

seed = int(sys.argv[1])
out = sys.argv[2]
rnd = random.Random(seed)
WORDS = ["name", "order", "select", "user", "createdAt", "total_amount", "isActive", "type",
         "group", "x" * 70, "größe", "HTTPStatus", "value", "id", "ordinal", "key", "from",
         "note", "limit", "table", "items", "tags", "metaData", "shippingAddress", "score"]
SCALARS = ["int", "long", "double", "decimal", "string", "bool", "date", "oid", "ref"]


def model(depth=0, n=None):
    fields = {}
    for _ in range(n or rnd.randint(2, 7)):
        name = rnd.choice(WORDS) + (str(rnd.randint(1, 9)) if rnd.random() < 0.3 else "")
        r = rnd.random()
        if depth < 3 and r < 0.15:
            fields[name] = ("doc", model(depth + 1))
        elif depth < 3 and r < 0.25:
            fields[name] = ("array_doc", model(depth + 1))
        elif r < 0.35:
            fields[name] = ("array", rnd.choice(SCALARS))
        elif r < 0.4:
            fields[name] = ("matrix", rnd.choice(["int", "double"]))
        elif depth < 3 and r < 0.47:
            fields[name] = ("map", model(depth + 1, 2) if rnd.random() < 0.5 else rnd.choice(SCALARS))
        else:
            fields[name] = ("scalar", rnd.choice(SCALARS))
    return fields


def scalar(kind, refs):
    if kind == "int":
        return rnd.randint(-1000, 1000)
    if kind == "long":
        return Int64(rnd.randint(-2**40, 2**40))
    if kind == "double":
        return rnd.uniform(-1e6, 1e6)
    if kind == "decimal":
        return Decimal128(f"{rnd.randint(0, 99999)}.{rnd.randint(0, 99):02d}")
    if kind == "string":
        return rnd.choice(["a", "b", "c", "hello world", "ümlaut", "", "x" * rnd.randint(1, 50)])
    if kind == "bool":
        return rnd.random() < 0.5
    if kind == "date":
        return datetime.datetime(2000, 1, 1) + datetime.timedelta(seconds=rnd.randint(0, 10**9))
    if kind == "ref" and refs:
        return rnd.choice(refs)
    return ObjectId()


def map_key():
    r = rnd.random()
    if r < 0.4:
        return str(ObjectId())
    if r < 0.7:
        return str(rnd.randint(1, 10**6))
    return (datetime.date(2020, 1, 1) + datetime.timedelta(days=rnd.randint(0, 999))).isoformat()


def value(spec, refs):
    kind, inner = spec
    if rnd.random() < 0.05:
        return None
    if rnd.random() < 0.03:  # a stray type
        return scalar(rnd.choice(SCALARS), refs)
    if kind == "scalar":
        return scalar(inner, refs)
    if kind == "doc":
        return doc(inner, refs)
    if kind == "array_doc":
        return [doc(inner, refs) for _ in range(rnd.randint(0, 3))]
    if kind == "array":
        if rnd.random() < 0.05:
            return scalar(inner, refs)
        return [scalar(inner, refs) for _ in range(rnd.randint(0, 4))]
    if kind == "matrix":
        return [[scalar(inner, refs) for _ in range(rnd.randint(0, 3))]
                for _ in range(rnd.randint(0, 3))]
    if isinstance(inner, dict):
        return {map_key(): doc(inner, refs) for _ in range(rnd.randint(0, 3))}
    return {map_key(): scalar(inner, refs) for _ in range(rnd.randint(0, 3))}


def doc(fields, refs):
    d = {}
    for name, spec in fields.items():
        if rnd.random() < 0.1:
            continue
        d[name] = value(spec, refs)
    return d


os.makedirs(out, exist_ok=True)
ids = []
for c in range(rnd.randint(2, 4)):
    fields = model(0, rnd.randint(3, 10))
    name = rnd.choice(["users", "orders", "select", "events", "Line Items", "logs"]) + str(c)
    mine = []
    with open(os.path.join(out, name + ".json"), "w") as f:
        for i in range(rnd.randint(5, 40)):
            d = {"_id": ObjectId()}
            d.update(doc(fields, ids))
            mine.append(d["_id"])
            f.write(json_util.dumps(d, json_options=CANONICAL_JSON_OPTIONS) + "\n")
    ids = mine
