#!/usr/bin/env bash
# Hostile source files (issue 9): a damaged length prefix in a .bson file costs only the
# damaged document, never the rest of the file; the unreadable bytes are counted, reported
# with their offsets and kept whole in a 0600 side file; such a run ends with exit 8.
# And a collection with two files, or whose file is a directory or a FIFO, is an error.
# Built from generated data (mongonorm generate), corrupted with python3.
source "$(dirname "$0")/lib.sh"
require_pg
py=/usr/bin/python3
setup_workdir
map="$MEDICHAT_MAP"
"$MN_BIN" generate --model "$MN_SOURCE_DIR/fixtures/medichat/generator.yaml" --scale 1000 \
  --out "$work/gen" >/dev/null
gen="$work/gen/medichat"

# corrupt SRC DST MODE [N]: change the length prefix of document N (0-based, default 9)
# of a .bson file; prints "offset original_length" of that document.
corrupt() {
  "$py" - "$@" <<'PY'
import struct, sys
src, dst, mode = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 9
b = bytearray(open(src, 'rb').read())
off = 0
for i in range(n):
    off += struct.unpack_from('<i', b, off)[0]
l = struct.unpack_from('<i', b, off)[0]
new = {'plus1': l + 1, 'minus1': l - 1, 'big': l + 100000, 'small': 7, 'zero': 0,
       'neg': -5, 'twogb': 0x7fffffff}[mode]
struct.pack_into('<i', b, off, new)
open(dst, 'wb').write(b)
print(off, l)
PY
}

# copy_source NAME: a copy of the generated dump folder in $work/NAME, printed.
copy_source() {
  rm -rf "${work:?}/$1" && mkdir -p "$work/$1/medichat"
  cp "$gen"/*.bson "$gen"/*.metadata.json "$work/$1/medichat/"
  echo "$work/$1"
}

# load NAME SOURCE: run into a fresh database; exit status in $rc, stderr in $work/NAME.err,
# report in $work/NAME.json, rejects in $work/NAME.rejects.
load() {
  local name=$1 src=$2 dsn
  dsn=$(init_db "mn_hostile_$name" --sql-dir "$MN_SOURCE_DIR/sql")
  try timeout 300 "$MN_BIN" run --quiet --pg "$dsn" --source "$src" --mapping "$map" \
    --rejects "$work/$name.rejects" --report "$work/$name.json" 2>"$work/$name.err"
}

expect_rc() { # what expected
  if [ "$rc" -eq "$2" ]; then pass "$1: exit $2"; else fail "$1: exit $rc, not $2: $(head -3 "$work/$3.err")"; fi
}

expect_line() { # what name line: the exact line is on stderr
  if grep -qFx -- "$3" "$work/$2.err"; then pass "$1: says \"$3\""; else fail "$1: stderr lacks \"$3\": $(cat "$work/$2.err")"; fi
}

# count NAME COLLECTION KEY: a counter of the report
count() {
  "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["collections"][sys.argv[2]][sys.argv[3]])' \
    "$work/$1.json" "$2" "$3"
}

# check_span WHAT NAME FILE SRCFILE OFFSET LENGTH: the reject line of the span, and the
# side file holding exactly the span's bytes of SRCFILE (uncompressed), mode 0600.
check_span() {
  local what=$1 name=$2 file=$3 srcfile=$4 offset=$5 length=$6 out
  out=$("$py" - "$work/$name.rejects" "$file" "$srcfile" "$offset" "$length" <<'PY'
import gzip, json, os, stat, sys
rejects, file, srcfile, offset, length = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def num(v):  # int64 values are written as {"$numberLong": "..."}
    return int(v["$numberLong"]) if isinstance(v, dict) else v
spans = [r for r in map(json.loads, open(rejects)) if "length" in r and num(r.get("offset")) == offset]
if len(spans) != 1:
    sys.exit(f"{len(spans)} reject lines for offset {offset}")
r = spans[0]
want_kept = f"{rejects}.skipped/users-{offset}.bin"
data = (gzip.open if srcfile.endswith(".gz") else open)(srcfile, "rb").read()
# the span names the _id its first bytes still show: the ObjectId _id that is the first
# element of the damaged document, when it is whole within them
head = data[offset:offset + min(length, 256)]
want_id = {"$oid": head[9:21].hex()} if len(head) >= 21 and head[4] == 7 and head[5:9] == b"_id\0" else None
if (r["file"], num(r["length"]), r["kept"], r["_id"]) != (file, length, want_kept, want_id):
    sys.exit(f"reject line {r['file']} {r['length']} {r['kept']} {r['_id']} (wanted {want_id})")
if r["location"] != f"{file} offset {offset}":
    sys.exit(f"location {r['location']}")
st = os.lstat(want_kept)
if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o600:
    sys.exit(f"side file mode {oct(st.st_mode)}")
if open(want_kept, "rb").read() != data[offset:offset + length]:
    sys.exit("side file differs from the span's bytes")
print("ok")
PY
  ) || true
  if [ "$out" = ok ]; then pass "$what: span at $offset ($length bytes) in the reject file and kept whole, 0600"; else fail "$what: $out"; fi
}

# -- the clean run: what the damaged ones are compared with ---------------------------
load clean "$(copy_source clean)"
if [ "$rc" -le 1 ]; then pass "clean run (exit $rc)"; else fail "clean run: exit $rc: $(cat "$work/clean.err")"; fi
users_loaded=$(count clean users loaded)
convs_read=$(count clean conversations read)
logs_read=$(count clean activity_logs read)
# is document 9 (the one damaged below) loaded by the clean run?
doc9_loaded=$("$py" - "$gen/users.bson" "$work/clean.rejects" <<'PY'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
off = 0
for i in range(9):
    off += struct.unpack_from('<i', b, off)[0]
oid = b[off + 4 + 5:off + 4 + 5 + 12].hex()  # first element: _id, an ObjectId
ids = {json.dumps(r.get("_id")) for r in map(json.loads, open(sys.argv[2]))}
print(0 if json.dumps({"$oid": oid}) in ids else 1)
PY
)

# -- one damaged length prefix, every kind of wrong ------------------------------------
for mode in plus1 minus1 big small zero neg twogb; do
  src=$(copy_source "$mode")
  read -r offset length < <(corrupt "$gen/users.bson" "$src/medichat/users.bson" "$mode")
  load "$mode" "$src"
  expect_rc "length $mode" 8 "$mode"
  expect_line "length $mode" "$mode" \
    "mongonorm: $length bytes of \"users.bson\" could not be read (1 span); kept in \"$work/$mode.rejects.skipped\""
  check_span "length $mode" "$mode" users.bson "$src/medichat/users.bson" "$offset" "$length"
  # only the damaged document is lost: the rest of the file and what references it load
  r=$(count "$mode" users read)
  l=$(count "$mode" users loaded)
  if [ "$r" -eq 1000 ] && [ "$l" -eq $((users_loaded - doc9_loaded)) ]; then
    pass "length $mode: users read $r (999 documents and the span), loaded $l"
  else
    fail "length $mode: users read $r, loaded $l (clean run loaded $users_loaded)"
  fi
  if [ "$(count "$mode" conversations read)" -eq "$convs_read" ] &&
     [ "$(count "$mode" activity_logs read)" -eq "$logs_read" ] &&
     [ "$(count "$mode" conversations loaded)" -ge $(($(count clean conversations loaded) - 20)) ]; then
    pass "length $mode: conversations are not rejected as dangling en masse"
  else
    fail "length $mode: conversations loaded $(count "$mode" conversations loaded) of $convs_read"
  fi
  if grep -qF '"(record): unreadable bytes skipped" : 1' "$work/$mode.json"; then
    pass "length $mode: the report counts the unreadable span"
  else
    fail "length $mode: the report does not count the unreadable span"
  fi
done
if [ "$(count plus1 users skipped_bytes)" = "$length" ] && [ "$(count plus1 users skipped_spans)" = 1 ]; then
  pass "report: skipped_bytes and skipped_spans"
else
  fail "report: skipped_bytes $(count plus1 users skipped_bytes)"
fi

# -- the same in a gzipped dump: resync inside the decompressed stream -----------------
src=$(copy_source gz)
read -r offset length < <(corrupt "$gen/users.bson" "$src/medichat/users.bson" plus1)
gzip "$src/medichat/users.bson"
load gz "$src"
expect_rc "gzip, length plus1" 8 gz
expect_line "gzip, length plus1" gz \
  "mongonorm: $length bytes of \"users.bson.gz\" could not be read (1 span); kept in \"$work/gz.rejects.skipped\""
check_span "gzip, length plus1" gz users.bson.gz "$src/medichat/users.bson.gz" "$offset" "$length"

# -- two spans; a damaged length after a complete document over 16 MiB -----------------
src=$(copy_source two)
"$py" - "$gen/users.bson" "$src/medichat/big.bson" <<'PY'
import struct, sys
# a valid 17 MiB document (an _id and a long string) inserted after document 5
b = open(sys.argv[1], 'rb').read()
off = 0
for i in range(5):
    off += struct.unpack_from('<i', b, off)[0]
s = b'x' * (17 * 1024 * 1024)
body = b'\x07_id\x00' + bytes(range(12)) + b'\x02notes\x00' + struct.pack('<i', len(s) + 1) + s + b'\x00'
doc = struct.pack('<i', 4 + len(body) + 1) + body + b'\x00'
open(sys.argv[2], 'wb').write(b[:off] + doc + b[off:])
PY
# the later one first: corrupt() walks the length prefixes up to its document
read -r off2 len2 < <(corrupt "$src/medichat/big.bson" "$src/medichat/one.bson" zero 20)
read -r off1 len1 < <(corrupt "$src/medichat/one.bson" "$src/medichat/users.bson" plus1 9)
rm "$src/medichat/big.bson" "$src/medichat/one.bson"
load two "$src"
expect_rc "two spans after a 17 MiB document" 8 two
expect_line "two spans after a 17 MiB document" two \
  "mongonorm: $((len1 + len2)) bytes of \"users.bson\" could not be read (2 spans); kept in \"$work/two.rejects.skipped\""
check_span "two spans, first" two users.bson "$src/medichat/users.bson" "$off1" "$len1"
check_span "two spans, second" two users.bson "$src/medichat/users.bson" "$off2" "$len2"
r=$(count two users read)
if [ "$r" -eq 1001 ]; then pass "two spans: users read 1001 (999 documents, the big one, 2 spans)"; else fail "two spans: users read $r"; fi

# -- a file cut inside its last document: the tail is the span -------------------------
src=$(copy_source cut)
size=$(stat -c %s "$gen/users.bson")
head -c $((size - 100)) "$gen/users.bson" > "$src/medichat/users.bson"
tail_off=$("$py" - "$src/medichat/users.bson" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
off = 0
while off + 4 <= len(b) and off + struct.unpack_from('<i', b, off)[0] <= len(b):
    off += struct.unpack_from('<i', b, off)[0]
print(off)
PY
)
load cut "$src"
expect_rc "file cut short" 8 cut
expect_line "file cut short" cut \
  "mongonorm: $((size - 100 - tail_off)) bytes of \"users.bson\" could not be read (1 span); kept in \"$work/cut.rejects.skipped\""
check_span "file cut short" cut users.bson "$src/medichat/users.bson" "$tail_off" $((size - 100 - tail_off))

# -- the side file is created new: a link at its path is replaced, not followed --------
src="$work/plus1"
read -r offset length < <(corrupt "$gen/users.bson" "$src/medichat/users.bson" plus1)
echo "precious" > "$work/victim"
mkdir -p "$work/relink.rejects.skipped"
ln -s "$work/victim" "$work/relink.rejects.skipped/users-$offset.bin"
load relink "$src"
expect_rc "symlink at the side file's path" 8 relink
if [ "$(cat "$work/victim")" = precious ] && [ ! -L "$work/relink.rejects.skipped/users-$offset.bin" ]; then
  pass "symlink at the side file's path: replaced, its target untouched"
else
  fail "symlink at the side file's path was followed"
fi
check_span "symlink at the side file's path" relink users.bson "$src/medichat/users.bson" "$offset" "$length"

# -- a collection with two files, or whose file is no file -----------------------------
src=$(copy_source twofiles)
gzip -c "$gen/users.bson" > "$src/medichat/users.bson.gz"
load twofiles "$src"
expect_rc ".bson next to .bson.gz" 4 twofiles
expect_line ".bson next to .bson.gz" twofiles \
  "mongonorm: error: collection \"users\" has two files in dump folder \"$src/medichat\": \"users.bson\" and \"users.bson.gz\" (remove or rename one)"

src=$(copy_source json)
echo '{"_id": 1}' > "$src/medichat/users.json"
load json "$src"
expect_rc ".json next to .bson" 4 json
expect_line ".json next to .bson" json \
  "mongonorm: error: collection \"users\" has two files in dump folder \"$src/medichat\": \"users.bson\" and \"users.json\" (remove or rename one)"

src=$(copy_source dir)
rm "$src/medichat/users.bson" && mkdir "$src/medichat/users.bson"
load dir "$src"
expect_rc "collection file is a directory" 6 dir
expect_line "collection file is a directory" dir \
  "mongonorm: error: cannot read collection \"users\" from \"$src/medichat/users.bson\": it is a directory"

src=$(copy_source fifo)
rm "$src/medichat/users.bson" && mkfifo "$src/medichat/users.bson"
load fifo "$src"
expect_rc "collection file is a FIFO (and the run does not block)" 6 fifo
expect_line "collection file is a FIFO" fifo \
  "mongonorm: error: cannot read collection \"users\" from \"$src/medichat/users.bson\": it is a FIFO"

finish
