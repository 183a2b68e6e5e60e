#!/usr/bin/python3
"""MongoDB-wire test server for mongonorm's live MongoDB tests.

Loads mongoexport Extended JSON (one document per line, canonical or relaxed,
or a JSON array) and mongodump .bson files into a mongomock database and
serves it on 127.0.0.1 with mockupdb, answering the commands libmongoc 1.23
sends (handshake, ping, buildInfo, find/getMore/killCursors, count,
aggregate, listCollections, insert/update/delete/drop, ...).

Run with Debian's interpreter (python3-mockupdb, python3-mongomock,
python3-pymongo):

    /usr/bin/python3 tests/mongo_wire_server.py --load DIR [--db NAME] \
        [--port N] [--port-file F] [--verbose]

See tests/README-wire-server.md for the supported commands and limits.
"""

import argparse
import datetime
import decimal
import errno
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import OrderedDict

import bson
from bson import json_util
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from bson.decimal128 import Decimal128, create_decimal128_context
from bson.int64 import Int64
from bson.json_util import JSONOptions
from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp

import mockupdb

# mockupdb formats every reply with repr() for its log even when logging is off, and
# that decodes the documents: a valid Date past year 9999 cannot be decoded by
# pymongo 3.11, so the repr would break a reply that is otherwise sent byte for byte.
for _cls in (mockupdb.Reply, mockupdb.OpReply, mockupdb.OpMsgReply):
    _cls.__repr__ = lambda self: "<%s>" % type(self).__name__
import mongomock
import mongomock.filtering

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

MIN_WIRE_VERSION = 0
# 13 = MongoDB 5.0.  libmongoc 1.23 supports wire versions 6..17; anything
# >= 6 makes it use OP_MSG after the OP_QUERY handshake.
MAX_WIRE_VERSION = 13
SERVER_VERSION = "5.0.0"
MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48000000
MAX_WRITE_BATCH_SIZE = 100000
DEFAULT_FIRST_BATCH = 101
# Like mongod: stop filling a batch once it reaches 16 MiB (at least one doc).
MAX_BATCH_BYTES = 16 * 1024 * 1024

# Error codes (names as mongod reports them).
E_INTERNAL = (1, "InternalError")
E_BAD_VALUE = (2, "BadValue")
E_UNKNOWN = (8, "UnknownError")
E_FAILED_TO_PARSE = (9, "FailedToParse")
E_NS_NOT_FOUND = (26, "NamespaceNotFound")
E_CURSOR_NOT_FOUND = (43, "CursorNotFound")
E_NS_EXISTS = (48, "NamespaceExists")
E_COMMAND_NOT_FOUND = (59, "CommandNotFound")
E_NOT_IMPLEMENTED = (238, "NotImplemented")
E_DUPLICATE_KEY = 11000

# Keep Binary subtypes 3 and 4 as bson.Binary (no uuid.UUID conversion), so
# they are re-encoded exactly as they arrived; datetimes are naive UTC.
BSON_OPTS = CodecOptions(document_class=dict,
                         uuid_representation=UuidRepresentation.UNSPECIFIED)
JSON_OPTS = JSONOptions(document_class=dict, tz_aware=False,
                        uuid_representation=UuidRepresentation.UNSPECIFIED)
RAW_OPTS = CodecOptions(document_class=RawBSONDocument)

# mockupdb decodes every request with its module-level CODEC_OPTIONS; make it
# keep UUID binaries as Binary too, so inserted documents keep their subtype.
mockupdb.CODEC_OPTIONS = CodecOptions(
    document_class=OrderedDict,
    uuid_representation=UuidRepresentation.UNSPECIFIED)


class CommandError(Exception):
    """An error reply {ok: 0, errmsg, code, codeName}."""

    def __init__(self, err, errmsg):
        super().__init__(errmsg)
        self.code, self.code_name = err
        self.errmsg = errmsg


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

def load_json_file(path):
    """Return a list of documents from a mongoexport file."""
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    stripped = text.lstrip()
    if stripped.startswith("["):  # mongoexport --jsonArray
        docs = json_util.loads(stripped, json_options=JSON_OPTS)
        if not isinstance(docs, list):
            raise ValueError("%s: expected a JSON array" % path)
        return docs
    docs = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json_util.loads(line, json_options=JSON_OPTS)
        except Exception as exc:
            raise ValueError("%s:%d: %s" % (path, lineno, exc))
        if not isinstance(doc, dict):
            raise ValueError("%s:%d: not a JSON object" % (path, lineno))
        docs.append(doc)
    return docs


def load_bson_file(path):
    """Return a list of raw documents (bytes) from a mongodump .bson file."""
    with open(path, "rb") as f:
        data = f.read()
    return [d.raw for d in bson.decode_all(data, RAW_OPTS)]


_FIXED_SIZES = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4,
                0x11: 8, 0x12: 8, 0x13: 16, 0xFF: 0, 0x7F: 0}


def id_only(raw):
    """Decode just the _id of a raw document.

    pymongo 3.11 cannot decode some valid BSON (a Date past year 9999, say): such a
    document is still served byte for byte, and mongomock only sees {_id} for it.
    """
    pos = 4
    end = len(raw) - 1
    while pos < end:
        etype = raw[pos]
        name_end = raw.index(b"\x00", pos + 1)
        name = raw[pos + 1:name_end]
        vpos = name_end + 1
        if etype in _FIXED_SIZES:
            size = _FIXED_SIZES[etype]
        elif etype in (0x02, 0x0D, 0x0E):
            size = 4 + int.from_bytes(raw[vpos:vpos + 4], "little")
        elif etype in (0x03, 0x04, 0x0F):
            size = int.from_bytes(raw[vpos:vpos + 4], "little")
        elif etype == 0x05:
            size = 5 + int.from_bytes(raw[vpos:vpos + 4], "little")
        elif etype == 0x0B:
            size = raw.index(b"\x00", raw.index(b"\x00", vpos) + 1) + 1 - vpos
        elif etype == 0x0C:
            size = 4 + int.from_bytes(raw[vpos:vpos + 4], "little") + 12
        else:
            raise ValueError("unknown BSON type 0x%02x" % etype)
        if name == b"_id":
            element = raw[pos:vpos + size]
            mini = (len(element) + 5).to_bytes(4, "little") + element + b"\x00"
            return bson.decode(mini, BSON_OPTS)
        pos = vpos + size
    return {}


def id_key(value):
    """A hashable, type-exact key for an _id value."""
    return bson.BSON.encode({"_id": value}, codec_options=BSON_OPTS)


# --------------------------------------------------------------------------
# Data store: mongomock for matching, raw BSON for byte-faithful replies
# --------------------------------------------------------------------------

class Store(object):
    def __init__(self):
        self.client = mongomock.MongoClient()
        # (db, coll) -> {id_key: raw bytes} for documents as loaded.  Dropped
        # for a collection after any write to it: replies then come from
        # mongomock (whose copies were verified to keep BSON types).
        self.raw = {}

    def coll(self, db, name):
        return self.client[db][name]

    def load_collection(self, db, name, docs):
        """docs: list of dicts (from JSON) or bytes (from .bson)."""
        rawmap = OrderedDict()
        coll = self.coll(db, name)
        if name in self.client[db].list_collection_names():
            raise ValueError("collection %s loaded twice" % name)
        self.client[db].create_collection(name)
        for i, item in enumerate(docs):
            if isinstance(item, bytes):
                raw = item
                try:
                    doc = bson.decode(raw, BSON_OPTS)
                except (bson.errors.InvalidBSON, OverflowError, ValueError):
                    doc = id_only(raw)
                if "_id" not in doc:
                    doc = dict([("_id", ObjectId())] + list(doc.items()))
                    raw = bson.BSON.encode(doc, codec_options=BSON_OPTS)
            else:
                doc = item
                if "_id" not in doc:
                    # mongod puts a generated _id first.
                    doc = dict([("_id", ObjectId())] + list(doc.items()))
                raw = bson.BSON.encode(doc, codec_options=BSON_OPTS)
            key = id_key(doc["_id"])
            if key in rawmap:
                raise ValueError("collection %s: duplicate _id %r (document %d)"
                                 % (name, doc["_id"], i + 1))
            rawmap[key] = raw
            try:
                coll.insert_one(doc)
            except Exception as exc:
                raise ValueError("collection %s, document %d: mongomock "
                                 "rejected it: %s" % (name, i + 1, exc))
        self.raw[(db, name)] = rawmap
        return len(rawmap)

    def touched(self, db, name):
        self.raw.pop((db, name), None)

    def exists(self, db, name):
        return name in self.client[db].list_collection_names()

    def as_raw(self, db, name, docs, projected):
        """mongomock result dicts -> RawBSONDocument list."""
        rawmap = None if projected else self.raw.get((db, name))
        out = []
        for d in docs:
            raw = None
            if rawmap is not None and "_id" in d:
                raw = rawmap.get(id_key(d["_id"]))
            if raw is None:
                raw = bson.BSON.encode(d, codec_options=BSON_OPTS)
            out.append(RawBSONDocument(raw))
        return out


# --------------------------------------------------------------------------
# Cursors
# --------------------------------------------------------------------------

class Cursors(object):
    def __init__(self):
        self.cursors = {}
        self.next_id = random.randint(1 << 40, 1 << 50)

    def first_batch(self, ns, docs, batch_size, single_batch=False):
        """Return the cursor sub-document for a command reply."""
        if batch_size is None:
            batch_size = DEFAULT_FIRST_BATCH
        if batch_size == 0:  # find batchSize 0: empty first batch
            batch, rest = [], docs
        else:
            batch, rest = self._take(docs, batch_size)
        cid = 0
        if rest and not single_batch:
            cid = self.next_id
            self.next_id += 1
            self.cursors[cid] = {"ns": ns, "docs": rest}
        return OrderedDict([("firstBatch", batch), ("id", Int64(cid)),
                            ("ns", ns)])

    def get_more(self, cid, ns, batch_size):
        cur = self.cursors.get(cid)
        if cur is None:
            raise CommandError(E_CURSOR_NOT_FOUND,
                               "cursor id %d not found" % cid)
        if cur["ns"] != ns:
            raise CommandError((13, "Unauthorized"),
                               "Requested getMore on namespace '%s', but "
                               "cursor belongs to a different namespace %s"
                               % (ns, cur["ns"]))
        batch, rest = self._take(cur["docs"], batch_size)
        if rest:
            cur["docs"] = rest
        else:
            del self.cursors[cid]
            cid = 0
        return OrderedDict([("nextBatch", batch), ("id", Int64(cid)),
                            ("ns", ns)])

    def kill(self, ids):
        killed, not_found = [], []
        for cid in ids:
            if self.cursors.pop(int(cid), None) is not None:
                killed.append(Int64(cid))
            else:
                not_found.append(Int64(cid))
        return killed, not_found

    @staticmethod
    def _take(docs, batch_size):
        """Split docs into (batch, rest); batch_size None/0 in getMore = all
        that fit in MAX_BATCH_BYTES."""
        n = len(docs) if not batch_size else min(batch_size, len(docs))
        size = 0
        i = 0
        while i < n:
            size += len(docs[i].raw)
            if i > 0 and size > MAX_BATCH_BYTES:
                break
            i += 1
        return docs[:i], docs[i:]


# --------------------------------------------------------------------------
# Change streams
# --------------------------------------------------------------------------

# Default and maximum time a change-stream getMore waits for new events
# (its maxTimeMS, which libmongoc sets from maxAwaitTimeMS).
CS_DEFAULT_AWAIT_MS = 1000
CS_MAX_AWAIT_MS = 5000

E_CHANGE_STREAM_FATAL = (280, "ChangeStreamFatalError")
E_INVALID_RESUME_TOKEN = (260, "InvalidResumeToken")

_TOKEN_EVENT = 0
_TOKEN_INVALIDATE = 1


def make_token(ts, seq, kind=_TOKEN_EVENT):
    """Resume token {_data: hex}: clusterTime, per-database sequence number
    and kind, so tokens sort by time as MongoDB's do."""
    t, i = (ts.time, ts.inc) if ts is not None else (0, 0)
    return OrderedDict([("_data", "%08X%08X%016X%02X" % (t, i, seq, kind))])


def parse_token(tok, opt):
    """-> (Timestamp or None, seq, kind); CommandError when malformed."""
    data = tok.get("_data") if isinstance(tok, dict) else None
    if not isinstance(data, str) or len(data) != 34:
        raise CommandError(E_INVALID_RESUME_TOKEN,
                           "'%s' is not a resume token issued by this "
                           "server" % opt)
    try:
        t, i, seq, kind = (int(data[0:8], 16), int(data[8:16], 16),
                           int(data[16:32], 16), int(data[32:34], 16))
    except ValueError:
        raise CommandError(E_INVALID_RESUME_TOKEN,
                           "'%s' is not a resume token issued by this "
                           "server" % opt)
    if kind not in (_TOKEN_EVENT, _TOKEN_INVALIDATE):
        raise CommandError(E_INVALID_RESUME_TOKEN, "bad resume token kind")
    return (Timestamp(t, i) if (t or i) else None), seq, kind


def _same_bson(a, b):
    return (bson.BSON.encode({"v": a}, codec_options=BSON_OPTS)
            == bson.BSON.encode({"v": b}, codec_options=BSON_OPTS))


def update_description(before, after):
    """updateDescription for a before/after pair, by diffing the documents:
    changed or added leaves (dotted paths into sub-documents and array
    elements), removed fields, and arrays that got shorter."""
    updated, removed, truncated = OrderedDict(), [], []

    def walk(b, a, prefix):
        if isinstance(b, dict):
            for k, v in a.items():
                path = prefix + k
                if k not in b:
                    updated[path] = v
                else:
                    same(b[k], v, path)
            for k in b:
                if k not in a:
                    removed.append(prefix + k)
        else:  # two lists
            if len(a) < len(b):
                truncated.append(OrderedDict([("field", prefix[:-1]),
                                              ("newSize", len(a))]))
            for idx, v in enumerate(a):
                path = prefix + str(idx)
                if idx >= len(b):
                    updated[path] = v
                else:
                    same(b[idx], v, path)

    def same(b, a, path):
        if _same_bson(b, a):
            return
        if (isinstance(b, dict) and isinstance(a, dict)) or (
                isinstance(b, list) and isinstance(a, list)):
            walk(b, a, path + ".")
        else:
            updated[path] = a

    walk(before, after, "")
    return OrderedDict([("updatedFields", updated),
                        ("removedFields", removed),
                        ("truncatedArrays", truncated)])


class ChangeLog(object):
    """Per-database, in-memory log of the writes applied through the server.

    Event seq numbers start at 1 in each database (the event with seq N is
    events[db][N-1]); clusterTimes are strictly increasing across databases.
    Every method is called with mockupdb's server lock held (handlers run
    under it), and `cond` is a Condition on that same lock, so a waiting
    getMore releases it and other connections keep being served.
    """

    def __init__(self):
        self.events = {}
        self.cond = None
        self.last_ts = Timestamp(0, 0)
        self.stopping = False

    def next_ts(self):
        now = int(time.time())
        if now > self.last_ts.time:
            self.last_ts = Timestamp(now, 1)
        else:
            self.last_ts = Timestamp(self.last_ts.time, self.last_ts.inc + 1)
        return self.last_ts

    def operation_time(self):
        """A clusterTime no event has yet: startAtOperationTime with it
        returns exactly the events recorded after this call."""
        now = int(time.time())
        if now > self.last_ts.time:
            return Timestamp(now, 0)
        return Timestamp(self.last_ts.time, self.last_ts.inc + 1)

    def record(self, db, op, coll=None, doc_id=None, full=None, desc=None):
        log_ = self.events.setdefault(db, [])
        ev = {"seq": len(log_) + 1, "ts": self.next_ts(), "op": op,
              "coll": coll, "id": doc_id, "full": full, "desc": desc}
        log_.append(ev)
        if self.cond is not None:
            self.cond.notify_all()
        return ev

    def end(self, db):
        return len(self.events.get(db, ()))

    def get(self, db, seq):
        return self.events[db][seq - 1]

    def position_at(self, db, ts):
        """Number of events of db with clusterTime < ts."""
        n = 0
        for ev in self.events.get(db, ()):
            if ev["ts"] >= ts:
                break
            n += 1
        return n

    def token(self, db, seq, kind=_TOKEN_EVENT):
        ts = self.get(db, seq)["ts"] if seq > 0 else None
        return make_token(ts, seq, kind)

    # -- recording helpers for the write commands ----------------------------

    def insert(self, db, coll, doc):
        self.record(db, "insert", coll, doc["_id"],
                    full=bson.BSON.encode(doc, codec_options=BSON_OPTS))

    def changed(self, db, coll, before, after, replace):
        """One matched document: before/after dicts (after None = gone)."""
        if after is None or _same_bson(before, after):
            return
        if replace:
            self.record(db, "replace", coll, after["_id"],
                        full=bson.BSON.encode(after, codec_options=BSON_OPTS))
        else:
            self.record(db, "update", coll, after["_id"],
                        desc=update_description(before, after))


class ChangeStream(object):
    """State of one change-stream cursor."""

    def __init__(self, db, coll, pos, full_document, matches):
        self.db = db
        self.coll = coll            # None: whole database
        self.pos = pos              # seq of the last event consumed
        self.full_document = full_document
        self.matches = matches      # $match filters on the event documents
        self.invalidate_seq = None  # set when an invalidate is due
        self.closed = False
        self.pbrt = None            # token after the last batch


def _cs_options(spec):
    if not isinstance(spec, dict):
        raise CommandError(E_FAILED_TO_PARSE,
                           "the $changeStream stage must be a document")
    known = ("fullDocument", "resumeAfter", "startAfter",
             "startAtOperationTime", "allChangesForCluster",
             "fullDocumentBeforeChange", "showExpandedEvents")
    for k in spec:
        if k not in known:
            raise CommandError(E_FAILED_TO_PARSE,
                               "unrecognized option to $changeStream: %s" % k)
    fd = spec.get("fullDocument", "default")
    if fd not in ("default", "updateLookup"):
        raise CommandError(E_BAD_VALUE,
                           "fullDocument %r is not supported (default, "
                           "updateLookup)" % (fd,))
    fdbc = spec.get("fullDocumentBeforeChange", "off")
    if fdbc not in ("off",):
        raise CommandError(E_NOT_IMPLEMENTED,
                           "fullDocumentBeforeChange is not supported")
    if spec.get("allChangesForCluster"):
        raise CommandError(E_NOT_IMPLEMENTED,
                           "cluster-wide change streams are not supported")
    starts = [k for k in ("resumeAfter", "startAfter", "startAtOperationTime")
              if spec.get(k) is not None]
    if len(starts) > 1:
        raise CommandError((40674, "Location40674"),
                           "Only one type of resume option is allowed, but "
                           "multiple were found.")
    return fd, (starts[0] if starts else None)


# --------------------------------------------------------------------------
# Command handling
# --------------------------------------------------------------------------

def _int_arg(cmd, name, default=None):
    v = cmd.get(name, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise CommandError(E_BAD_VALUE, "'%s' must be a number" % name)
    return int(v)


def _coll_name(cmd, name):
    v = cmd.get(name)
    if not isinstance(v, str) or not v:
        raise CommandError(E_BAD_VALUE,
                           "collection name for '%s' must be a non-empty "
                           "string" % name)
    return v


def _write_error(index, code, errmsg):
    """One entry of a write command's writeErrors."""
    return OrderedDict([("index", index), ("code", code), ("errmsg", errmsg)])


def _write_reply(errors, *fields):
    """A write command's reply: `fields` in order, then writeErrors if any."""
    reply = OrderedDict(fields)
    if errors:
        reply["writeErrors"] = errors
    return reply


def _doc_arg(cmd, name):
    v = cmd.get(name)
    if v is None:
        return None
    if not isinstance(v, dict):
        raise CommandError(E_BAD_VALUE, "'%s' must be a document" % name)
    return v


class Handler(object):
    def __init__(self, store, verbose=False):
        self.store = store
        self.cursors = Cursors()
        self.changes = ChangeLog()
        self.verbose = verbose
        self.connection_ids = {}
        self.next_conn = 1
        # Exact (case-sensitive) names, as mongod matches them, plus the
        # historical lower-case isMaster/buildInfo spellings.
        self.commands = {
            "hello": self.cmd_hello,
            "isMaster": self.cmd_hello,
            "ismaster": self.cmd_hello,
            "ping": self.cmd_ping,
            "buildInfo": self.cmd_build_info,
            "buildinfo": self.cmd_build_info,
            "endSessions": self.cmd_ok,
            "find": self.cmd_find,
            "getMore": self.cmd_get_more,
            "killCursors": self.cmd_kill_cursors,
            "count": self.cmd_count,
            "aggregate": self.cmd_aggregate,
            "distinct": self.cmd_distinct,
            "listCollections": self.cmd_list_collections,
            "listIndexes": self.cmd_list_indexes,
            "listDatabases": self.cmd_list_databases,
            "insert": self.cmd_insert,
            "update": self.cmd_update,
            "delete": self.cmd_delete,
            "drop": self.cmd_drop,
            "create": self.cmd_create,
            "dropDatabase": self.cmd_drop_database,
        }

    # -- entry point from mockupdb ------------------------------------------

    def __call__(self, request):
        start = time.monotonic()
        if not request.is_command:
            return self._legacy(request)
        if (request.opcode == mockupdb.OP_MSG
                and request.flags & mockupdb.OP_MSG_FLAGS["moreToCome"]):
            reply_wanted = False
        else:
            reply_wanted = True
        name = "?"
        try:
            cmd = request.doc
            if cmd and next(iter(cmd)) == "$query":  # OP_QUERY wrapping
                cmd = cmd["$query"]
            name = next(iter(cmd)) if cmd else ""
            db = request.namespace or "admin"
            fn = self.commands.get(name)
            if fn is None:
                raise CommandError(E_COMMAND_NOT_FOUND,
                                   "no such command: '%s'" % name)
            reply = fn(cmd, db, request)
            reply["ok"] = 1.0
            summary = self._summary(reply)
        except CommandError as exc:
            reply = OrderedDict([("ok", 0.0), ("errmsg", exc.errmsg),
                                 ("code", exc.code),
                                 ("codeName", exc.code_name)])
            summary = "error %d %s" % (exc.code, exc.errmsg)
        except Exception as exc:  # never leave the client hanging
            if self.verbose:
                traceback.print_exc(file=sys.stderr)
            reply = OrderedDict([("ok", 0.0),
                                 ("errmsg", "%s: %s" % (type(exc).__name__,
                                                        exc)),
                                 ("code", E_UNKNOWN[0]),
                                 ("codeName", E_UNKNOWN[1])])
            summary = "error %d %s" % (E_UNKNOWN[0], reply["errmsg"])
        if self.verbose:
            log("[wire] conn %s %s %s.%s -> %s (%.1f ms)" % (
                self._conn_label(request), type(request).__name__,
                request.namespace, name, summary,
                (time.monotonic() - start) * 1000))
        if reply_wanted:
            self._send(request, reply)
        return True

    def _send(self, request, reply):
        try:
            request.reply(reply)
        except OSError as exc:
            # Let mockupdb's loop end this connection quietly.
            raise ConnectionResetError(errno.ECONNRESET, str(exc))

    def _legacy(self, request):
        """Legacy opcodes: libmongoc 1.23 does not use them with wire >= 6."""
        if self.verbose:
            log("[wire] conn %s legacy %r -> refused" % (
                self._conn_label(request), request))
        if isinstance(request, mockupdb.OpQuery):
            request.fail("legacy OP_QUERY find is not supported by the "
                         "mongonorm wire test server")
        elif isinstance(request, mockupdb.OpGetMore):
            request.replies(flags=mockupdb.REPLY_FLAGS["CursorNotFound"])
        # OP_INSERT/OP_UPDATE/OP_DELETE/OP_KILL_CURSORS expect no reply.
        return True

    def _conn_label(self, request):
        try:
            return str(request.client_port)
        except Exception:
            return "?"

    @staticmethod
    def _summary(reply):
        cur = reply.get("cursor")
        if isinstance(cur, dict):
            batch = cur.get("firstBatch", cur.get("nextBatch", []))
            return "ok %d docs, cursor %d" % (len(batch), cur.get("id", 0))
        if "n" in reply:
            return "ok n=%s" % reply["n"]
        return "ok"

    # -- handshake and admin --------------------------------------------------

    def cmd_hello(self, cmd, db, request):
        port = None
        try:
            port = request.client_port
        except Exception:
            pass
        if port not in self.connection_ids:
            self.connection_ids[port] = self.next_conn
            self.next_conn += 1
        reply = OrderedDict()
        if next(iter(cmd)) == "hello":
            reply["isWritablePrimary"] = True
        else:
            reply["ismaster"] = True
        reply.update([
            ("helloOk", True),
            ("maxBsonObjectSize", MAX_BSON_OBJECT_SIZE),
            ("maxMessageSizeBytes", MAX_MESSAGE_SIZE),
            ("maxWriteBatchSize", MAX_WRITE_BATCH_SIZE),
            ("localTime", datetime.datetime.utcnow()),
            ("logicalSessionTimeoutMinutes", 30),
            ("connectionId", self.connection_ids[port]),
            ("minWireVersion", MIN_WIRE_VERSION),
            ("maxWireVersion", MAX_WIRE_VERSION),
            ("readOnly", False),
        ])
        return reply

    def cmd_ping(self, cmd, db, request):
        return OrderedDict()

    cmd_ok = cmd_ping

    def cmd_build_info(self, cmd, db, request):
        return OrderedDict([
            ("version", SERVER_VERSION),
            ("gitVersion", "mongonorm-wire-test-server"),
            ("versionArray", [5, 0, 0, 0]),
            ("bits", 64),
            ("debug", False),
            ("maxBsonObjectSize", MAX_BSON_OBJECT_SIZE),
            ("storageEngines", ["mongomock"]),
        ])

    # -- reads ----------------------------------------------------------------

    def cmd_find(self, cmd, db, request):
        name = _coll_name(cmd, "find")
        for opt in ("tailable", "awaitData", "returnKey", "showRecordId",
                    "min", "max"):
            if cmd.get(opt):
                raise CommandError(E_NOT_IMPLEMENTED,
                                   "find option '%s' is not supported by "
                                   "the wire test server" % opt)
        flt = _doc_arg(cmd, "filter") or {}
        projection = _doc_arg(cmd, "projection") or None
        sort = _doc_arg(cmd, "sort")
        skip = _int_arg(cmd, "skip", 0)
        limit = _int_arg(cmd, "limit", 0)
        batch_size = _int_arg(cmd, "batchSize")
        single_batch = bool(cmd.get("singleBatch", False))
        if skip < 0:
            raise CommandError(E_BAD_VALUE, "skip value must be non-negative")
        if batch_size is not None and batch_size < 0:
            raise CommandError(E_BAD_VALUE,
                               "batchSize value must be non-negative")
        if limit < 0:  # legacy negative limit: one batch
            limit = -limit
            single_batch = True
        docs = self._query(db, name, flt, projection, sort, skip, limit)
        if limit:
            batch_size = min(DEFAULT_FIRST_BATCH if batch_size is None
                             else batch_size, limit)
        cursor = self.cursors.first_batch("%s.%s" % (db, name), docs,
                                          batch_size, single_batch)
        return OrderedDict([("cursor", cursor)])

    def _query(self, db, name, flt, projection, sort, skip, limit):
        coll = self.store.coll(db, name)
        sort_list = None
        reverse = False
        if sort:
            sort_list = []
            for k, v in sort.items():
                if k == "$natural":
                    reverse = (v == -1)
                    continue
                if isinstance(v, dict):
                    raise CommandError(E_NOT_IMPLEMENTED,
                                       "sort by %r is not supported" % (v,))
                if v not in (1, -1):
                    raise CommandError(E_BAD_VALUE,
                                       "bad sort specification %r" % (v,))
                sort_list.append((k, int(v)))
            if not sort_list:
                sort_list = None
        try:
            if reverse:
                # $natural: -1 -> reverse insertion order, then skip/limit.
                allowed = list(coll.find(flt, projection))
                allowed.reverse()
                allowed = allowed[skip:]
                if limit:
                    allowed = allowed[:limit]
                result = allowed
            else:
                result = list(coll.find(flt, projection, skip=skip,
                                        limit=limit, sort=sort_list))
        except (mongomock.OperationFailure, NotImplementedError,
                TypeError, ValueError) as exc:
            raise CommandError(E_BAD_VALUE, "query failed: %s" % exc)
        return self.store.as_raw(db, name, result, projection is not None)

    def cmd_get_more(self, cmd, db, request):
        cid = cmd.get("getMore")
        if isinstance(cid, bool) or not isinstance(cid, int):
            raise CommandError(E_BAD_VALUE,
                               "getMore cursor id must be a long")
        name = _coll_name(cmd, "collection")
        batch_size = _int_arg(cmd, "batchSize")
        if batch_size is not None and batch_size < 0:
            raise CommandError(E_BAD_VALUE,
                               "batchSize value must be non-negative")
        cur = self.cursors.cursors.get(int(cid))
        if cur is not None and "stream" in cur:
            return self._change_stream_get_more(
                int(cid), cur, "%s.%s" % (db, name), batch_size,
                _int_arg(cmd, "maxTimeMS"))
        cursor = self.cursors.get_more(int(cid), "%s.%s" % (db, name),
                                       batch_size)
        return OrderedDict([("cursor", cursor)])

    def cmd_kill_cursors(self, cmd, db, request):
        _coll_name(cmd, "killCursors")
        ids = cmd.get("cursors")
        if not isinstance(ids, list):
            raise CommandError(E_BAD_VALUE, "'cursors' must be an array")
        killed, not_found = self.cursors.kill(ids)
        return OrderedDict([("cursorsKilled", killed),
                            ("cursorsNotFound", not_found),
                            ("cursorsAlive", []),
                            ("cursorsUnknown", [])])

    def cmd_count(self, cmd, db, request):
        name = _coll_name(cmd, "count")
        flt = _doc_arg(cmd, "query") or {}
        skip = _int_arg(cmd, "skip", 0)
        limit = abs(_int_arg(cmd, "limit", 0))
        coll = self.store.coll(db, name)
        try:
            if not flt and not skip and not limit:
                n = coll.estimated_document_count()
            else:
                n = len(list(coll.find(flt, {"_id": 1}, skip=skip,
                                       limit=limit)))
        except (mongomock.OperationFailure, NotImplementedError,
                TypeError, ValueError) as exc:
            raise CommandError(E_BAD_VALUE, "count failed: %s" % exc)
        return OrderedDict([("n", n)])

    def cmd_aggregate(self, cmd, db, request):
        name = cmd.get("aggregate")
        pipeline = cmd.get("pipeline")
        if not isinstance(pipeline, list):
            raise CommandError(E_FAILED_TO_PARSE,
                               "'pipeline' option must be specified as an "
                               "array")
        cursor_opt = cmd.get("cursor")
        if cursor_opt is None and not cmd.get("explain"):
            raise CommandError(E_FAILED_TO_PARSE,
                               "The 'cursor' option is required, except for "
                               "aggregate with the explain argument")
        if cmd.get("explain"):
            raise CommandError(E_NOT_IMPLEMENTED, "explain is not supported")
        if cursor_opt is not None and not isinstance(cursor_opt, dict):
            raise CommandError(E_FAILED_TO_PARSE,
                               "'cursor' must be a document")
        batch_size = _int_arg(cursor_opt or {}, "batchSize")
        if batch_size is not None and batch_size < 0:
            raise CommandError(E_BAD_VALUE,
                               "batchSize value must be non-negative")
        if pipeline and isinstance(pipeline[0], dict) \
                and "$changeStream" in pipeline[0]:
            if name == 1:
                name = None
            else:
                name = _coll_name(cmd, "aggregate")
            return self._open_change_stream(db, name, pipeline, batch_size)
        for stage in pipeline[1:]:
            if isinstance(stage, dict) and "$changeStream" in stage:
                raise CommandError((40602, "Location40602"),
                                   "$changeStream is only valid as the "
                                   "first stage in a pipeline")
        if name == 1:
            raise CommandError(E_NOT_IMPLEMENTED,
                               "collection-less aggregate is only "
                               "supported for $changeStream")
        name = _coll_name(cmd, "aggregate")
        coll = self.store.coll(db, name)
        try:
            if pipeline and isinstance(pipeline[0], dict) \
                    and "$collStats" in pipeline[0]:
                results = self._coll_stats(db, name, pipeline[0]["$collStats"],
                                           pipeline[1:])
            else:
                for stage in pipeline:
                    if isinstance(stage, dict) and (
                            "$out" in stage or "$merge" in stage):
                        raise CommandError(E_NOT_IMPLEMENTED,
                                           "$out/$merge are not supported")
                results = list(coll.aggregate(pipeline))
        except CommandError:
            raise
        except (mongomock.OperationFailure, NotImplementedError,
                TypeError, ValueError, KeyError) as exc:
            raise CommandError(E_BAD_VALUE, "aggregate failed: %s" % exc)
        docs = [RawBSONDocument(bson.BSON.encode(d, codec_options=BSON_OPTS))
                for d in results]
        cursor = self.cursors.first_batch("%s.%s" % (db, name), docs,
                                          batch_size)
        return OrderedDict([("cursor", cursor)])

    def _coll_stats(self, db, name, spec, rest):
        if not self.store.exists(db, name):
            raise CommandError(E_NS_NOT_FOUND,
                               "Unable to retrieve count in $collStats "
                               "stage :: caused by :: Collection "
                               "[%s.%s] not found." % (db, name))
        coll = self.store.coll(db, name)
        stats = OrderedDict([("ns", "%s.%s" % (db, name)),
                             ("host", "127.0.0.1"),
                             ("localTime", datetime.datetime.utcnow())])
        if isinstance(spec, dict) and "count" in spec:
            stats["count"] = coll.estimated_document_count()
        if not rest:
            return [stats]
        # Run the remaining stages over the single stats document.
        tmp = mongomock.MongoClient()["tmp"]["collstats"]
        tmp.insert_one(dict(stats, _id=0))
        out = list(tmp.aggregate(
            [{"$project": {"_id": 0}}] + list(rest)))
        return out

    def cmd_distinct(self, cmd, db, request):
        name = _coll_name(cmd, "distinct")
        key = cmd.get("key")
        if not isinstance(key, str):
            raise CommandError(E_BAD_VALUE, "'key' must be a string")
        flt = _doc_arg(cmd, "query") or {}
        try:
            values = self.store.coll(db, name).distinct(key, flt)
        except (mongomock.OperationFailure, NotImplementedError,
                TypeError, ValueError) as exc:
            raise CommandError(E_BAD_VALUE, "distinct failed: %s" % exc)
        return OrderedDict([("values", values)])

    def cmd_list_collections(self, cmd, db, request):
        flt = _doc_arg(cmd, "filter") or {}
        name_only = bool(cmd.get("nameOnly", False))
        batch_size = _int_arg(_doc_arg(cmd, "cursor") or {}, "batchSize")
        infos = []
        for cname in sorted(self.store.client[db].list_collection_names()):
            if name_only:
                info = OrderedDict([("name", cname), ("type", "collection")])
            else:
                info = OrderedDict([
                    ("name", cname), ("type", "collection"),
                    ("options", {}),
                    ("info", OrderedDict([("readOnly", False)])),
                    ("idIndex", OrderedDict([("v", 2), ("key", {"_id": 1}),
                                             ("name", "_id_")])),
                ])
            infos.append(info)
        if flt:
            tmp = mongomock.MongoClient()["tmp"]["collections"]
            for i, info in enumerate(infos):
                tmp.insert_one(dict(info, _id=i))
            try:
                keep = {d["_id"] for d in tmp.find(flt, {"_id": 1})}
            except (mongomock.OperationFailure, NotImplementedError,
                    TypeError, ValueError) as exc:
                raise CommandError(E_BAD_VALUE,
                                   "listCollections filter failed: %s" % exc)
            infos = [info for i, info in enumerate(infos) if i in keep]
        docs = [RawBSONDocument(bson.BSON.encode(d)) for d in infos]
        cursor = self.cursors.first_batch("%s.$cmd.listCollections" % db,
                                          docs, batch_size)
        return OrderedDict([("cursor", cursor)])

    def cmd_list_indexes(self, cmd, db, request):
        name = _coll_name(cmd, "listIndexes")
        if not self.store.exists(db, name):
            raise CommandError(E_NS_NOT_FOUND,
                               "ns does not exist: %s.%s" % (db, name))
        batch_size = _int_arg(_doc_arg(cmd, "cursor") or {}, "batchSize")
        idx = OrderedDict([("v", 2), ("key", {"_id": 1}), ("name", "_id_")])
        docs = [RawBSONDocument(bson.BSON.encode(idx))]
        cursor = self.cursors.first_batch("%s.$cmd.listIndexes.%s"
                                          % (db, name), docs, batch_size)
        return OrderedDict([("cursor", cursor)])

    def cmd_list_databases(self, cmd, db, request):
        dbs = []
        for name in sorted(self.store.client.list_database_names()):
            if cmd.get("nameOnly"):
                dbs.append(OrderedDict([("name", name)]))
            else:
                dbs.append(OrderedDict([("name", name),
                                        ("sizeOnDisk", 0),
                                        ("empty", False)]))
        reply = OrderedDict([("databases", dbs)])
        if not cmd.get("nameOnly"):
            reply["totalSize"] = 0
        return reply

    # -- change streams ------------------------------------------------------

    def _open_change_stream(self, db, name, pipeline, batch_size):
        full_document, start = _cs_options(pipeline[0]["$changeStream"])
        spec = pipeline[0]["$changeStream"]
        matches = []
        for stage in pipeline[1:]:
            if not isinstance(stage, dict) or len(stage) != 1:
                raise CommandError(E_FAILED_TO_PARSE,
                                   "a pipeline stage specification object "
                                   "must contain exactly one field")
            if "$match" not in stage:
                raise CommandError(E_NOT_IMPLEMENTED,
                                   "stage %s after $changeStream is not "
                                   "supported by the wire test server "
                                   "(only $match)" % next(iter(stage)))
            if not isinstance(stage["$match"], dict):
                raise CommandError(E_FAILED_TO_PARSE,
                                   "the match filter must be an expression "
                                   "in an object")
            matches.append(stage["$match"])
        log_end = self.changes.end(db)
        cs = ChangeStream(db, name, log_end, full_document, matches)
        if start == "startAtOperationTime":
            ts = spec["startAtOperationTime"]
            if not isinstance(ts, Timestamp):
                raise CommandError(E_BAD_VALUE,
                                   "startAtOperationTime must be a "
                                   "timestamp")
            cs.pos = self.changes.position_at(db, ts)
        elif start is not None:
            ts, seq, kind = parse_token(spec[start], start)
            if seq > log_end or (seq > 0 and self.changes.get(db, seq)["ts"]
                                 != ts) or (seq == 0 and ts is not None):
                raise CommandError(E_CHANGE_STREAM_FATAL,
                                   "cannot resume stream; the resume token "
                                   "was not found. %s" % spec[start]["_data"])
            if kind == _TOKEN_INVALIDATE and start == "resumeAfter":
                raise CommandError(E_INVALID_RESUME_TOKEN,
                                   "Attempting to resume a change stream "
                                   "using 'resumeAfter' is not allowed from "
                                   "an invalidate notification.")
            cs.pos = seq
            if kind == _TOKEN_EVENT and seq > 0 \
                    and self._invalidates(cs, self.changes.get(db, seq)):
                cs.invalidate_seq = seq
        ns = "%s.%s" % (db, name if name is not None else "$cmd.aggregate")
        batch = self._change_batch(
            cs, DEFAULT_FIRST_BATCH if batch_size is None
            else (batch_size or -1))
        cid = 0
        if not cs.closed:
            cid = self.cursors.next_id
            self.cursors.next_id += 1
            self.cursors.cursors[cid] = {"ns": ns, "stream": cs}
        cursor = OrderedDict([("firstBatch", batch),
                              ("postBatchResumeToken", cs.pbrt),
                              ("id", Int64(cid)), ("ns", ns)])
        return OrderedDict([("cursor", cursor),
                            ("operationTime", self.changes.operation_time())])

    def _change_stream_get_more(self, cid, cur, ns, batch_size, max_time_ms):
        if cur["ns"] != ns:
            raise CommandError((13, "Unauthorized"),
                               "Requested getMore on namespace '%s', but "
                               "cursor belongs to a different namespace %s"
                               % (ns, cur["ns"]))
        cs = cur["stream"]
        wait_ms = CS_DEFAULT_AWAIT_MS if not max_time_ms else max_time_ms
        deadline = time.monotonic() + min(wait_ms, CS_MAX_AWAIT_MS) / 1000.0
        while True:
            batch = self._change_batch(cs, batch_size)
            if batch or cs.closed or self.changes.stopping \
                    or self.changes.cond is None:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # Releases mockupdb's server lock while waiting: other
            # connections (the writers) keep being served.
            self.changes.cond.wait(left)
            if self.cursors.cursors.get(cid) is not cur:
                raise CommandError((237, "CursorKilled"),
                                   "cursor %d was killed while waiting" % cid)
        if cs.closed:
            self.cursors.cursors.pop(cid, None)
            cid = 0
        return OrderedDict([("cursor", OrderedDict([
            ("nextBatch", batch), ("postBatchResumeToken", cs.pbrt),
            ("id", Int64(cid)), ("ns", ns)])),
            ("operationTime", self.changes.operation_time())])

    @staticmethod
    def _invalidates(cs, ev):
        if cs.coll is None:
            return ev["op"] == "dropDatabase"
        return ev["op"] == "drop" and ev["coll"] == cs.coll

    def _change_batch(self, cs, limit):
        """Next events for cs (limit None = as many as fit in 16 MiB,
        -1 = none); advances cs.pos and sets cs.pbrt."""
        batch = []
        size = 0
        end = self.changes.end(cs.db)
        while limit != -1 and not cs.closed \
                and (not limit or len(batch) < limit):
            if cs.invalidate_seq is not None:
                ev = self.changes.get(cs.db, cs.invalidate_seq)
                tok = make_token(ev["ts"], ev["seq"], _TOKEN_INVALIDATE)
                doc = OrderedDict([("_id", tok),
                                   ("operationType", "invalidate"),
                                   ("clusterTime", ev["ts"])])
                batch.append(RawBSONDocument(bson.BSON.encode(doc)))
                cs.closed = True
                cs.pbrt = tok
                return batch
            if cs.pos >= end:
                break
            ev = self.changes.get(cs.db, cs.pos + 1)
            doc = self._render_event(cs, ev)
            if doc is not None:
                raw = RawBSONDocument(bson.BSON.encode(
                    doc, codec_options=BSON_OPTS))
                if cs.matches:
                    plain = bson.decode(raw.raw, BSON_OPTS)
                    if not all(mongomock.filtering.filter_applies(m, plain)
                               for m in cs.matches):
                        raw = None
                if raw is not None:
                    if batch and size + len(raw.raw) > MAX_BATCH_BYTES:
                        break
                    batch.append(raw)
                    size += len(raw.raw)
            cs.pos += 1
            if self._invalidates(cs, ev):
                cs.invalidate_seq = ev["seq"]
        cs.pbrt = self.changes.token(cs.db, cs.pos)
        return batch

    def _render_event(self, cs, ev):
        op = ev["op"]
        if cs.coll is not None and ev["coll"] != cs.coll:
            return None
        doc = OrderedDict([("_id", make_token(ev["ts"], ev["seq"])),
                           ("operationType", op),
                           ("clusterTime", ev["ts"])])
        if op in ("insert", "replace"):
            doc["fullDocument"] = RawBSONDocument(ev["full"])
        elif op == "update" and cs.full_document == "updateLookup":
            doc["fullDocument"] = self._lookup(cs.db, ev["coll"], ev["id"])
        if ev["coll"] is None:
            doc["ns"] = OrderedDict([("db", cs.db)])
        else:
            doc["ns"] = OrderedDict([("db", cs.db), ("coll", ev["coll"])])
        if op in ("insert", "update", "replace", "delete"):
            doc["documentKey"] = OrderedDict([("_id", ev["id"])])
        if op == "update":
            doc["updateDescription"] = ev["desc"]
        return doc

    def _lookup(self, db, name, doc_id):
        """updateLookup: the document as it is now, or None."""
        if not self.store.exists(db, name):
            return None
        docs = list(self.store.coll(db, name).find({"_id": doc_id}, limit=1))
        if not docs:
            return None
        return self.store.as_raw(db, name, docs, False)[0]

    @staticmethod
    def _snapshot(coll, q):
        """The documents an update may change, before it runs."""
        return list(coll.find(q))

    def _record_update(self, db, name, coll, before, upserted_id, replace):
        if upserted_id is not None:
            docs = list(coll.find({"_id": upserted_id}, limit=1))
            if docs:
                self.changes.insert(db, name, docs[0])
            return
        if not before:
            return
        try:
            now = {id_key(d["_id"]): d for d in coll.find(
                {"_id": {"$in": [d["_id"] for d in before]}})}
        except Exception:
            now = {id_key(d["_id"]): d for d in coll.find()}
        for old in before:
            self.changes.changed(db, name, old, now.get(id_key(old["_id"])),
                                 replace)

    # -- writes -----------------------------------------------------------------

    def _write_target(self, cmd, db, verb, key):
        """A write command's collection name, its list under `key`, whether
        it is ordered, and the collection, whose raw copy is dropped."""
        name = _coll_name(cmd, verb)
        items = cmd.get(key)
        if not isinstance(items, list):
            raise CommandError(E_BAD_VALUE, "'%s' must be an array" % key)
        ordered = cmd.get("ordered", True)
        coll = self.store.coll(db, name)
        self.store.touched(db, name)
        return name, items, ordered, coll

    def cmd_insert(self, cmd, db, request):
        name, docs, ordered, coll = self._write_target(cmd, db, "insert",
                                                       "documents")
        n = 0
        errors = []
        for i, doc in enumerate(docs):
            doc = dict(doc)
            if "_id" not in doc:
                doc = dict([("_id", ObjectId())] + list(doc.items()))
            try:
                coll.insert_one(doc)
                n += 1
                self.changes.insert(db, name, doc)
            except mongomock.DuplicateKeyError as exc:
                errors.append(_write_error(
                    i, E_DUPLICATE_KEY,
                    "E11000 duplicate key error collection: "
                    "%s.%s index: _id_ dup key: { _id: %r }"
                    % (db, name, doc["_id"])))
                if ordered:
                    break
            except Exception as exc:
                errors.append(_write_error(i, E_BAD_VALUE[0], str(exc)))
                if ordered:
                    break
        return _write_reply(errors, ("n", n))

    def cmd_update(self, cmd, db, request):
        name, updates, ordered, coll = self._write_target(cmd, db, "update",
                                                          "updates")
        n = n_modified = 0
        upserted, errors = [], []
        for i, spec in enumerate(updates):
            q = spec.get("q") or {}
            u = spec.get("u")
            multi = bool(spec.get("multi", False))
            upsert = bool(spec.get("upsert", False))
            kwargs = {}
            if spec.get("arrayFilters") is not None:
                kwargs["array_filters"] = spec["arrayFilters"]
            before = None
            try:
                if isinstance(u, list):
                    raise CommandError(E_NOT_IMPLEMENTED,
                                       "pipeline updates are not supported")
                if not isinstance(u, dict):
                    raise CommandError(E_BAD_VALUE,
                                       "'u' must be a document")
                is_replace = not any(k.startswith("$") for k in u)
                before = self._snapshot(coll, q)
                if is_replace:
                    if multi:
                        raise CommandError(E_BAD_VALUE,
                                           "multi update is not supported "
                                           "for replacement-style update")
                    res = coll.replace_one(q, u, upsert=upsert)
                elif multi:
                    res = coll.update_many(q, u, upsert=upsert, **kwargs)
                else:
                    res = coll.update_one(q, u, upsert=upsert, **kwargs)
                self._record_update(db, name, coll, before, res.upserted_id,
                                    is_replace)
                before = None
                if res.upserted_id is not None:
                    n += 1
                    upserted.append(OrderedDict([("index", i),
                                                 ("_id", res.upserted_id)]))
                else:
                    n += res.matched_count
                    n_modified += res.modified_count
            except Exception as exc:
                if before:  # a multi update that failed part way
                    self._record_update(db, name, coll, before, None,
                                        is_replace)
                code = (exc.code if isinstance(exc, CommandError)
                        else getattr(exc, "code", None) or E_BAD_VALUE[0])
                errors.append(_write_error(i, code, str(exc)))
                if ordered:
                    break
        fields = [("n", n), ("nModified", n_modified)]
        if upserted:
            fields.append(("upserted", upserted))
        return _write_reply(errors, *fields)

    def cmd_delete(self, cmd, db, request):
        name, deletes, ordered, coll = self._write_target(cmd, db, "delete",
                                                          "deletes")
        n = 0
        errors = []
        for i, spec in enumerate(deletes):
            q = spec.get("q") or {}
            try:
                ids = [d["_id"] for d in coll.find(q, {"_id": 1})]
                if spec.get("limit", 0) == 1:
                    deleted = coll.delete_one(q).deleted_count
                else:
                    deleted = coll.delete_many(q).deleted_count
                n += deleted
                if deleted:
                    left = set(id_key(d["_id"])
                               for d in coll.find(q, {"_id": 1}))
                    for doc_id in ids:
                        if id_key(doc_id) not in left:
                            self.changes.record(db, "delete", name, doc_id)
            except Exception as exc:
                errors.append(_write_error(i, E_BAD_VALUE[0], str(exc)))
                if ordered:
                    break
        return _write_reply(errors, ("n", n))

    def cmd_drop(self, cmd, db, request):
        name = _coll_name(cmd, "drop")
        if not self.store.exists(db, name):
            raise CommandError(E_NS_NOT_FOUND, "ns not found")
        self.store.client[db].drop_collection(name)
        self.store.touched(db, name)
        self.changes.record(db, "drop", name)
        return OrderedDict([("nIndexesWas", 1), ("ns", "%s.%s" % (db, name))])

    def cmd_create(self, cmd, db, request):
        name = _coll_name(cmd, "create")
        if self.store.exists(db, name):
            raise CommandError(E_NS_EXISTS,
                               "Collection %s.%s already exists."
                               % (db, name))
        self.store.client[db].create_collection(name)
        return OrderedDict()

    def cmd_drop_database(self, cmd, db, request):
        names = self.store.client[db].list_collection_names()
        for name in names:
            self.store.touched(db, name)
        self.store.client.drop_database(db)
        if names:
            for name in sorted(names):
                self.changes.record(db, "drop", name)
            self.changes.record(db, "dropDatabase")
        return OrderedDict([("dropped", db)])


# --------------------------------------------------------------------------
# mockupdb hardening
# --------------------------------------------------------------------------

_orig_receive = mockupdb.mock_server_receive_request


def _receive_or_hang_up(client, server):
    """Unknown opcodes (e.g. OP_COMPRESSED) or malformed messages: close the
    connection instead of killing the thread with the socket left open."""
    try:
        return _orig_receive(client, server)
    except (NotImplementedError, ValueError, AssertionError,
            bson.errors.BSONError) as exc:
        log("[wire] dropping connection: %s" % exc)
        try:
            client.shutdown(2)
        except OSError:
            pass
        raise ConnectionResetError(errno.ECONNRESET, str(exc))


mockupdb.mock_server_receive_request = _receive_or_hang_up


# mongomock's $inc adds Python numbers, so Int64 + Int64 comes back as a
# plain int (re-encoded as Int32 when it fits).  Replace its $inc updater
# with one that follows mongod's numeric type rules.
def _bson_add(a, b):
    num = (int, float, Decimal128)
    if isinstance(a, bool) or isinstance(b, bool) \
            or not isinstance(a, num) or not isinstance(b, num):
        raise mongomock.WriteError("Cannot apply $inc to a value of "
                                   "non-numeric type")
    if isinstance(a, Decimal128) or isinstance(b, Decimal128):
        with decimal.localcontext(create_decimal128_context()) as ctx:
            da = a.to_decimal() if isinstance(a, Decimal128) else \
                ctx.create_decimal(repr(a) if isinstance(a, float) else a)
            db_ = b.to_decimal() if isinstance(b, Decimal128) else \
                ctx.create_decimal(repr(b) if isinstance(b, float) else b)
            return Decimal128(ctx.add(da, db_))
    if isinstance(a, float) or isinstance(b, float):
        return float(a) + float(b)
    r = int(a) + int(b)
    if isinstance(a, Int64) or isinstance(b, Int64) \
            or not -2 ** 31 <= r < 2 ** 31:
        if not -2 ** 63 <= r < 2 ** 63:
            raise mongomock.WriteError("$inc overflows a 64-bit integer")
        return Int64(r)
    return r


def _typed_inc_updater(doc, field_name, value):
    if isinstance(doc, dict):
        doc[field_name] = (_bson_add(doc[field_name], value)
                           if field_name in doc else value)
    elif isinstance(doc, list):
        i = int(field_name)
        if i < 0:
            raise mongomock.WriteError("Negative index provided")
        if i < len(doc):
            doc[i] = _bson_add(doc[i], value)
        else:
            doc += [None] * (i - len(doc))
            doc.append(value)


if "$inc" in getattr(mongomock.collection, "_updaters", {}):
    mongomock.collection._updaters["$inc"] = _typed_inc_updater


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def write_port_file(path, port):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".portfile.", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_dir(store, directory, db):
    if not os.path.isdir(directory):
        raise ValueError("--load: %s is not a directory" % directory)
    counts = OrderedDict()
    for fname in sorted(os.listdir(directory)):
        path = os.path.join(directory, fname)
        if fname.endswith(".metadata.json") or not os.path.isfile(path):
            continue
        if fname.endswith(".json"):
            name, docs = fname[:-len(".json")], load_json_file(path)
        elif fname.endswith(".bson"):
            name, docs = fname[:-len(".bson")], load_bson_file(path)
        else:
            continue
        counts[name] = store.load_collection(db, name, docs)
    return counts


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="MongoDB-wire test server (mockupdb + mongomock)")
    ap.add_argument("--load", metavar="DIR", required=True,
                    help="directory of <collection>.json / <collection>.bson")
    ap.add_argument("--db", default="medichat",
                    help="database to load into (default: medichat)")
    ap.add_argument("--port", type=int, default=0,
                    help="TCP port on 127.0.0.1 (0 = pick a free port)")
    ap.add_argument("--port-file", metavar="F",
                    help="write the chosen port here (atomically)")
    ap.add_argument("--verbose", action="store_true",
                    help="log one line per command to stderr")
    args = ap.parse_args(argv)

    store = Store()
    try:
        counts = load_dir(store, args.load, args.db)
    except (ValueError, OSError) as exc:
        log("mongo_wire_server: load failed: %s" % exc)
        return 2
    if args.verbose:
        for name, n in counts.items():
            log("[wire] loaded %s.%s: %d documents" % (args.db, name, n))

    handler = Handler(store, verbose=args.verbose)
    server = mockupdb.MockupDB(port=args.port or None, verbose=False,
                               request_timeout=int(1e6))
    # MockupDB binds 'localhost'; pin it to IPv4 loopback.
    server._address = ("127.0.0.1", args.port or None)
    server.autoresponds(handler.__call__)  # a bound method matches all
    # Handlers run with mockupdb's server lock held (one command at a time);
    # a change-stream getMore waits on a Condition of that lock, releasing it.
    handler.changes.cond = threading.Condition(server._lock)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        port = server.run()
    except OSError as exc:
        log("mongo_wire_server: cannot listen on 127.0.0.1:%d: %s"
            % (args.port, exc))
        return 2
    if args.port_file:
        write_port_file(args.port_file, port)
    print(port, flush=True)
    if args.verbose:
        log("[wire] serving %s on 127.0.0.1:%d" % (args.db, port))

    while not stop.is_set():
        stop.wait(0.5)
    with handler.changes.cond:  # wake waiting change-stream getMores
        handler.changes.stopping = True
        handler.changes.cond.notify_all()
    server.stop()
    if args.verbose:
        log("[wire] stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
