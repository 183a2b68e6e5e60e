#!/usr/bin/env python3
"""A copy of a mongodump folder with the first PERCENT % of each collection's documents.

usage: dumpcut.py SRC DST PERCENT
SRC is a generated dump (SRC/<database>/<collection>.bson, .metadata.json beside them,
manifest.json at the top); DST gets the same layout, each .bson cut to its first
ceil(n * PERCENT / 100) documents (framed by their int32 length), the metadata files
copied. Prints the documents kept and the documents in all. For bench/load.sh
--incremental: the part already loaded before the measured run.
"""
import glob
import math
import os
import shutil
import struct
import sys


def documents(path):
    with open(path, "rb") as f:
        data = f.read()
    at, docs = 0, []
    while at < len(data):
        (n,) = struct.unpack_from("<i", data, at)
        docs.append(data[at:at + n])
        at += n
    return docs


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, dst, percent = sys.argv[1], sys.argv[2], float(sys.argv[3])
    kept = total = 0
    for path in sorted(glob.glob(os.path.join(src, "*", "*"))):
        out = os.path.join(dst, os.path.relpath(path, src))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if not path.endswith(".bson"):
            shutil.copyfile(path, out)
            continue
        docs = documents(path)
        n = math.ceil(len(docs) * percent / 100)
        with open(out, "wb") as f:
            f.write(b"".join(docs[:n]))
        kept += n
        total += len(docs)
    print(kept, total)


if __name__ == "__main__":
    main()
