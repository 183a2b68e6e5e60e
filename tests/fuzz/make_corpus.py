#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses, from fixtures/, into a build folder.

    python3 tests/fuzz/make_corpus.py SOURCE_DIR OUT_DIR

writes OUT_DIR/<harness>/<seed> for every harness in tests/fuzz/ and the dictionaries
OUT_DIR/<harness>.dict.  Seeds stay small (at most MAX_SEED bytes, the -max_len run.sh
gives libFuzzer), so nothing here is worth committing: it is regenerated on every run.
"""
import glob
import hashlib
import json
import os
import re
import struct
import sys

MAX_SEED = 16384


def bson_docs(path):
    """The raw documents of a .bson file, as stored."""
    data = open(path, "rb").read()
    pos = 0
    while pos + 5 <= len(data):
        (n,) = struct.unpack_from("<i", data, pos)
        if n < 5 or pos + n > len(data):
            break
        yield data[pos:pos + n]
        pos += n


def write(out, harness, data):
    if len(data) > MAX_SEED:
        return
    d = os.path.join(out, harness)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    src, out = sys.argv[1], sys.argv[2]
    dumps = sorted(glob.glob(os.path.join(src, "fixtures", "**", "*.bson"), recursive=True))

    # document-to-rows conversion: single documents of the MediChat dump (the fixed
    # mapping's collections), a spread of sizes
    for path in dumps:
        docs = sorted(bson_docs(path), key=len)
        for doc in docs[:: max(1, len(docs) // 40)]:
            write(out, "fuzz_convert", doc)

    # the .bson reader: short runs of documents, a cut-short tail, a bad length
    for path in dumps:
        docs = list(bson_docs(path))
        for i in range(0, min(len(docs), 60), 6):
            run = b"".join(docs[i:i + 3])
            write(out, "fuzz_bson_file", run)
            write(out, "fuzz_bson_file", run[:-7])
            bad = bytearray(run)
            bad[0] = (bad[0] + 1) & 0xFF
            write(out, "fuzz_bson_file", bytes(bad))
    write(out, "fuzz_bson_file", b"")

    # the Extended JSON reader: the case sources as they are, and lines of the MediChat
    # exports (relaxed and canonical) as lines, --pretty objects and a --jsonArray
    for path in sorted(glob.glob(os.path.join(src, "fixtures", "cases", "*", "*.json"))):
        write(out, "fuzz_extjson", open(path, "rb").read())
    for path in sorted(glob.glob(os.path.join(src, "fixtures", "medichat", "json*", "*.json"))):
        lines = [l for l in open(path, "rb").read().split(b"\n") if l.strip()]
        for i in range(0, min(len(lines), 40), 4):
            chunk = lines[i:i + 2]
            write(out, "fuzz_extjson", b"\n".join(chunk) + b"\n")
            try:
                objs = [json.loads(l) for l in chunk]
            except ValueError:
                continue
            write(out, "fuzz_extjson", json.dumps(objs, indent=1).encode())
            write(out, "fuzz_extjson",
                  b"".join(json.dumps(o, indent=2).encode() + b"\n" for o in objs))

    # the mapping loader: every mapping in the repository
    keys = set()
    mappings = sorted(glob.glob(os.path.join(src, "fixtures", "cases", "*", "mapping.yaml")))
    mappings += sorted(glob.glob(os.path.join(src, "mapping", "*.yaml")))
    mappings += sorted(glob.glob(os.path.join(src, "tests", "*", "mapping.yaml")))
    for path in mappings:
        text = open(path, "rb").read()
        keys.update(re.findall(rb"^[ -]*([A-Za-z_]+):", text, re.M))
        if len(text) <= MAX_SEED:
            write(out, "fuzz_mapping", text)
        else:
            # a large mapping: without its comment lines, its collections one at a time,
            # each a mapping of its own
            text = re.sub(rb"(?m)^[ \t]*#.*\n", b"", text)
            write(out, "fuzz_mapping", text)
            head, _, body = text.partition(b"\ncollections:\n")
            parts = re.split(rb"\n(?=  - collection:)", body)
            for part in parts:
                write(out, "fuzz_mapping", head + b"\ncollections:\n" + part + b"\n")
    # flatten and unmapped_to over the fields of fuzz_mapping.c's fixed document (_id, name,
    # items: [{a: 1}, "y"], when): a flattened array element, catch-alls of the document
    # (items iterated: not in it) and of the elements (a sub-document, a string)
    for extra in (b"", b"        each_as: map\n"):
        text = (b"version: 1\ncollections:\n  - collection: c\n    tables:\n"
                b"      - table: c\n        columns: {n: name}\n        flatten:\n"
                b"          - path: items.0\n            prefix: first_\n"
                b"            columns: {a: integer, b: {type: text, column: bee}}\n"
                b"        unmapped_to: extra\n"
                b"      - table: items\n        each: items\n" + extra +
                b"        columns: {c_id: {value: doc_id}}\n        unmapped_to: extra\n")
        keys.update(re.findall(rb"^[ -]*([A-Za-z_]+):", text, re.M))
        write(out, "fuzz_mapping", text)
    # COPY's binary encoder: a kind byte (mn_pg__bin_kind_t), then texts of the forms the
    # converter writes for it
    samples = {
        4: [b"01234567-89ab-cdef-0123-456789abcdef", b"{0123456789ABCDEF0123456789abcdef}"],
        5: [b"-32768", b"12"], 6: [b"2147483647", b"-1"], 7: [b"-9223372036854775808"],
        8: [b"0.00", b"-123456789012345678901234567890.123456789", b"1E+6144", b"1e-20",
            b"NaN", b"-Infinity", b".5"],
        9: [b"3.4028235e38", b"1e-45"], 10: [b"4.9e-324", b"-Infinity", b"0.1"],
        11: [b"t", b"f"], 12: [b"2000-02-29", b"4714-11-24 BC", b"5874897-12-31"],
        13: [b"1969-12-31 23:59:59.999", b"294276-12-31 23:59:59.999999"],
        14: [b"2021-03-04 05:06:07.891+00", b"0044-03-15 12:00:00.5+00 BC", b"infinity"],
        15: [b"10.0.0.5", b"::ffff:10.0.0.5", b"fe80::1"],
        16: [b"{}", b"{NULL}", b'{"a\\"b","c\\\\d",NULL,"NULL",""}'],
    }
    for kind, texts in samples.items():
        for t in texts:
            write(out, "fuzz_binary", bytes([kind]) + t)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "fuzz_mapping.dict"), "w") as f:
        for k in sorted(keys):
            f.write('"%s:"\n' % k.decode())
    with open(os.path.join(out, "fuzz_extjson.dict"), "w") as f:
        for k in ["$oid", "$date", "$numberLong", "$numberInt", "$numberDouble",
                  "$numberDecimal", "$binary", "$base64", "$subType", "$timestamp",
                  "$regularExpression", "$symbol", "$code", "$scope", "$minKey", "$maxKey",
                  "$undefined", "$dbPointer", "$ref", "$id", "Infinity", "NaN", "-Infinity"]:
            f.write('"\\"%s\\""\n' % k.replace("$", "$"))
    for h in sorted(os.listdir(out)):
        if os.path.isdir(os.path.join(out, h)):
            print("%s: %d seeds" % (h, len(os.listdir(os.path.join(out, h)))))


if __name__ == "__main__":
    main()
