#!/usr/bin/python3
"""The metamorphic test of incremental runs: for each seed, S1 and S2 = edit(S1) from
gen_edit.py, then

  fresh   S2 loaded into an empty database: the reference
  inc     S1 loaded, then S2 run into the same database: must equal fresh, table by
          table and row by row; a second S2 run must write nothing
  crash   S1 loaded, the S2 run killed with SIGKILL at a random point (or the S1 load
          killed, then S1 loaded; for a quarter of the seeds the next S2 run killed as
          well), then S2 run again: must equal fresh

and for every run: exit 0 or 1; for every collection read = the documents of the
source file = loaded + rejected = rows of the primary table + rejected; the rejected
_ids (with repetitions) equal fresh's; no references column holds an id that names no
row (fresh's own such rows aside: those are reported once, for fresh).
Every failure prints its seed, the edit script, the first differing lines and the
command that replays it.  A summary at the end counts the edit operations applied and
groups the failures by kind.

Environment (as tests/cli/lib.sh): MN_BIN, MN_SOURCE_DIR, MN_BUILD_DIR, MN_TEST_PG_DSN.
usage: metamorphic.py [--seeds N] [--seed FIRST] [--model generic|medichat|mixed]
                      [--work DIR] [--findings FILE] [--replay TEXT] [--db-prefix P]
                      [--run-args "OPTIONS"]   (added to every run but fresh: --jobs 3)
Exit status: 0 when every seed passed, 1 otherwise.
"""
import argparse
import collections
import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_edit  # noqa: E402

import yaml  # noqa: E402  (Debian's python3-yaml)

MN_BIN = os.environ["MN_BIN"]
SRC = os.environ["MN_SOURCE_DIR"]
BUILD = os.environ["MN_BUILD_DIR"]
DSN = os.environ["MN_TEST_PG_DSN"]
QUIET_PG = dict(os.environ, PGOPTIONS="--client-min-messages=warning")
DB_PREFIX = "mn_meta"  # databases: <prefix>_tpl_<model>, <prefix>_fresh, _inc, _crash
RUN_ARGS = []  # --run-args: added to every run but fresh(S2), the reference (e.g. --jobs 3)


def psql(dsn, *args):
    r = subprocess.run(["psql", dsn, "-qXAt", "-v", "ON_ERROR_STOP=1", *args],
                       capture_output=True, text=True, env=QUIET_PG)
    if r.returncode != 0:
        raise RuntimeError("psql %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def db_dsn(name):
    return "%s dbname=%s" % (DSN, name)


def wait_unlocked(name):
    """Until the killed run's server session has gone (at most 10 s): its advisory lock
    would make the next run exit 7."""
    for _ in range(100):
        n = psql(DSN, "-c", "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = "
                 "l.database WHERE l.locktype = 'advisory' AND d.datname = '%s'" % name)
        if n.strip() == "0":
            return
        time.sleep(0.1)


class Model:
    """A gen_edit model plus what the driver needs: mapping, tables, template database."""

    def __init__(self, name):
        self.gen = gen_edit.make_model(name, MN_BIN, SRC)
        self.name = name
        self.mapping = os.path.join(SRC, self.gen.mapping)
        with open(self.mapping, encoding="utf-8") as f:
            m = yaml.safe_load(f)
        self.schema = m.get("schema", "public")
        self.tables = []
        for c in m["collections"]:
            for t in c["tables"]:
                if t["table"] not in self.tables:
                    self.tables.append(t["table"])
        # references columns: (table, column, primary table of the target, its key)
        primary = {c["collection"]: (c["tables"][0]["table"], c["tables"][0].get("key", "id"))
                   for c in m["collections"]}
        self.refs = []
        for c in m["collections"]:
            for t in c["tables"]:
                cols = dict(t.get("columns") or {})
                for shape in (t.get("shapes") or {}).values():
                    cols.update(shape or {})
                for col, spec in cols.items():
                    if isinstance(spec, dict) and spec.get("references") in primary:
                        ref = (t["table"], col) + primary[spec["references"]]
                        if ref not in self.refs:
                            self.refs.append(ref)
        # collection -> its primary table, when no other entry feeds that table: then
        # every loaded document has exactly one row there
        feeds = collections.Counter(t["table"] for c in m["collections"] for t in c["tables"])
        self.primary = {c["collection"]: c["tables"][0]["table"] for c in m["collections"]
                        if feeds[c["tables"][0]["table"]] == 1}
        self.template = DB_PREFIX + "_tpl_" + name
        self.init_note = None

    def make_template(self):
        """The empty target schema, once; each database of a seed is a copy of it."""
        psql(DSN, "-c", "DROP DATABASE IF EXISTS %s" % self.template,
             "-c", "CREATE DATABASE %s" % self.template)
        sql_dir = os.path.join(SRC, self.gen.sql_dir)
        r = subprocess.run([MN_BIN, "init", "--pg", db_dsn(self.template), "--sql-dir", sql_dir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            # Until init accepts any schema (issue 7, point 7), apply the files directly.
            self.init_note = "init --sql-dir %s: exit %d: %s (schema applied with psql)" % (
                self.gen.sql_dir, r.returncode, r.stderr.strip().splitlines()[0])
            psql(DSN, "-c", "DROP DATABASE IF EXISTS %s" % self.template,
                 "-c", "CREATE DATABASE %s" % self.template)
            for f in sorted(os.listdir(sql_dir)):
                if re.match(r"^\d+_.*\.sql$", f):
                    psql(db_dsn(self.template), "-1", "-f", os.path.join(sql_dir, f))

    def clone(self, name):
        psql(DSN, "-c", "DROP DATABASE IF EXISTS %s" % name,
             "-c", "CREATE DATABASE %s TEMPLATE %s" % (name, self.template))
        return db_dsn(name)

    def dangling(self, dsn):
        """references columns holding an id no row of the referenced table has:
        [(table.column, count)]."""
        q = " UNION ALL ".join(
            "SELECT '%s.%s', count(*) FROM \"%s\".\"%s\" x WHERE x.\"%s\" IS NOT NULL AND NOT "
            "EXISTS (SELECT 1 FROM \"%s\".\"%s\" y WHERE y.\"%s\" = x.\"%s\")" % (
                t, c, self.schema, t, c, self.schema, pt, pk, c) for t, c, pt, pk in self.refs)
        if not q:
            return []
        out = []
        for line in psql(dsn, "-F", " ", "-c", q).split("\n"):
            if line.strip() and not line.endswith(" 0"):
                col, n = line.rsplit(" ", 1)
                out.append((col, int(n)))
        return out

    def primary_rows(self, dsn):
        """{collection: rows in its primary table}."""
        q = " UNION ALL ".join("SELECT '%s', count(*) FROM \"%s\".\"%s\"" % (c, self.schema, t)
                               for c, t in self.primary.items())
        out = {}
        for line in psql(dsn, "-F", " ", "-c", q).split("\n"):
            if line.strip():
                c, n = line.rsplit(" ", 1)
                out[c] = int(n)
        return out

    def state(self, dsn):
        """mongonorm's own tables (every run's record but the runs), as text."""
        out = []
        for t in ("documents", "collections", "deferred_refs", "bulk_objects", "streams"):
            out.append("== " + t)
            out.append(psql(dsn, "-c", "COPY (SELECT * FROM mongonorm.%s ORDER BY 1, 2) TO STDOUT" % t))
        out.append(psql(dsn, "-c", "SELECT count(*) FROM mongonorm.runs"))
        return "\n".join(out)

    def dump(self, dsn):
        """{table: [rows as COPY text lines]}, each table in id order."""
        args = []
        for t in self.tables:
            args += ["-c", "\\echo == %s" % t,
                     "-c", 'COPY (SELECT * FROM "%s"."%s" ORDER BY 1) TO STDOUT' % (self.schema, t)]
        out = {}
        cur = None
        for line in psql(dsn, *args).split("\n"):
            if line.startswith("== ") and line[3:] in self.tables:
                cur = line[3:]
                out[cur] = []
            elif line and cur:
                out[cur].append(line)
        return out


class Run:
    """One `mongonorm run` and what it left: exit code, stderr, report, rejected ids."""

    def __init__(self, label, work, dsn, source, model, batch, kill_after=None, extra=()):
        self.label = label
        base = os.path.join(work, re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-"))
        self.report_path = base + ".report.json"
        self.rejects_path = base + ".rejects.jsonl"
        cmd = [MN_BIN, "run", "--quiet", "--pg", dsn, "--source", source, "--mapping",
               model.mapping, "--rejects", self.rejects_path, "--report", self.report_path]
        if batch:
            cmd += ["--batch-size", str(batch)]
        if label != "fresh(S2)":
            cmd += RUN_ARGS
        cmd += list(extra)
        self.cmd = cmd
        self.kill_after = kill_after
        for p in (self.report_path, self.rejects_path):
            if os.path.exists(p):
                os.remove(p)
        t0 = time.monotonic()
        with open(base + ".stderr", "w+") as err:
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            self.killed = False
            if kill_after is not None:
                try:
                    p.wait(timeout=kill_after)
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGKILL)
                    self.killed = True
            self.rc = p.wait()
            err.seek(0)
            self.stderr = err.read()
        self.seconds = time.monotonic() - t0
        self.report = None
        if not self.killed and os.path.exists(self.report_path):
            try:
                with open(self.report_path, encoding="utf-8") as f:
                    self.report = json.load(f)
            except ValueError:
                self.report = None

    def rejected(self):
        """Sorted (collection, _id) of the reject file (repetitions kept)."""
        out = []
        if os.path.exists(self.rejects_path):
            with open(self.rejects_path, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        r = json.loads(line)
                        out.append((r.get("collection"), gen_edit.id_key(r.get("_id", r.get("location")))))
        return sorted(out)

    def written(self):
        if not self.report:
            return None
        return sum(t.get("inserted", 0) + t.get("updated", 0) + t.get("deleted", 0)
                   for t in self.report.get("tables", {}).values())


def normalize(msg):
    """A message as a failure kind: ids and numbers taken out."""
    msg = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", msg)
    msg = re.sub(r"\b[0-9a-f]{24}\b", "<oid>", msg)
    msg = re.sub(r"\(([a-z_]+(, )?)+\)=\([^)]*\)", "(<key>)=(<value>)", msg)
    msg = re.sub(r"\d+", "N", msg)
    return msg


def error_line(stderr):
    lines = [l for l in stderr.splitlines() if "error:" in l]
    return (lines[0] if lines else (stderr.strip().splitlines() or ["(no message)"])[-1]).strip()


class Seed:
    def __init__(self, seed, model, work):
        self.seed = seed
        self.model = model
        self.work = work
        self.failures = []   # (kind, detail)
        self.notes = []

    def fail(self, kind, detail=""):
        self.failures.append((kind, detail))

    def check_run(self, run, source_docs, ref=None, dsn=None):
        """Exit code, accounting, with ref (the fresh run) the rejected ids, with dsn
        the references stored."""
        if dsn and run.rc in (0, 1):
            # every run: a stored reference to no row; after fresh's only the new ones
            run.dangling = self.model.dangling(dsn)
            seen = dict(getattr(ref, "dangling", []) if ref is not None else [])
            for col, n in run.dangling:
                if n > seen.get(col, 0):
                    self.fail("%s: dangling reference stored in %s" % (run.label, col),
                              "%d row(s) name no row of the referenced table" % n)
        if run.rc not in (0, 1):
            self.fail("%s: exit %d: %s" % (run.label, run.rc, normalize(error_line(run.stderr))),
                      run.stderr.strip()[-1500:])
            return
        if run.report is None:
            self.fail("%s: no report" % run.label)
            return
        colls = run.report.get("collections", {})
        for c, docs in source_docs.items():
            s = colls.get(c)
            if s is None:
                self.fail("%s: collection %s missing from the report" % (run.label, c))
                continue
            if s["read"] != len(docs):
                self.fail("%s: read != documents in the source" % run.label,
                          "%s: read %d, the file holds %d" % (c, s["read"], len(docs)))
            if s["read"] != s["loaded"] + s["rejected"]:
                self.fail("%s: read != loaded + rejected" % run.label,
                          "%s: read %d, loaded %d, rejected %d" % (c, s["read"], s["loaded"], s["rejected"]))
        if dsn:
            for c, n in self.model.primary_rows(dsn).items():
                if c in colls and colls[c]["loaded"] != n:
                    self.fail("%s: loaded != rows of the primary table" % run.label,
                              "%s: loaded %d (unchanged %d), %d rows in %s" % (
                                  c, colls[c]["loaded"], colls[c].get("unchanged", 0), n,
                                  self.model.primary[c]))
        rej = run.rejected()
        total = sum(s.get("rejected", 0) for s in colls.values())
        if total != len(rej):
            self.fail("%s: rejected count != reject file lines" % run.label,
                      "report %d, reject file %d" % (total, len(rej)))
        if ref is not None and ref.rc in (0, 1) and rej != ref.rejected():
            a, b = collections.Counter(ref.rejected()), collections.Counter(rej)
            self.fail("%s: rejected _ids differ from fresh(S2)" % run.label,
                      "only in fresh: %s; only here: %s" % (
                          sorted((a - b).elements())[:4], sorted((b - a).elements())[:4]))

    def compare(self, label, ref_tables, tables):
        differ = [t for t in ref_tables if ref_tables[t] != tables.get(t)]
        if not differ:
            return True
        lines = []
        for t in differ[:2]:
            d = list(difflib.unified_diff(ref_tables[t], tables.get(t, []), "fresh(S2)", label,
                                          n=0, lineterm=""))
            lines.append("table %s (%d rows in fresh, %d here):" % (
                t, len(ref_tables[t]), len(tables.get(t, []))))
            lines += ["  " + l for l in d[2:8]]
        self.fail("%s: tables differ from fresh(S2)" % label,
                  "\n".join(["tables: " + ", ".join(differ)] + lines))
        return False


def dry_run(s, work, dsn, source, model, batch):
    """inc(S1->S2) as a dry run first: it must leave the target as it was."""
    before = (model.dump(dsn), model.state(dsn))
    dry = Run("dry inc(S1->S2)", work, dsn, source, model, batch, extra=["--dry-run"])
    after = (model.dump(dsn), model.state(dsn))
    if dry.rc not in (0, 1):
        s.fail("dry inc(S1->S2): exit %d: %s" % (dry.rc, normalize(error_line(dry.stderr))),
               dry.stderr[-800:])
    elif not (dry.report or {}).get("dry_run"):
        s.fail("dry inc(S1->S2): its report does not say dry_run")
    if before[0] != after[0]:
        s.fail("dry inc(S1->S2) changed the tables",
               ", ".join(t for t in before[0] if before[0][t] != after[0].get(t)))
    if before[1] != after[1]:
        s.fail("dry inc(S1->S2) changed mongonorm's state tables",
               "\n".join(difflib.unified_diff(before[1].split("\n"), after[1].split("\n"),
                                               lineterm="", n=1))[:1500])
    return dry


def without_timings(report):
    """A report without what differs from one run to the next of the same work."""
    if isinstance(report, dict):
        return {k: without_timings(v) for k, v in report.items()
                if k not in ("seconds", "dry_run", "batches_overlapped")}
    if isinstance(report, list):
        return [without_timings(v) for v in report]
    return report


def same_as_dry_run(s, dry, inc):
    """The dry run said what the real run then did: exit code, statistics, rejects."""
    if dry.rc != inc.rc:
        s.fail("dry inc(S1->S2): exit %d, the run %d" % (dry.rc, inc.rc))
    elif dry.report and inc.report and without_timings(dry.report) != without_timings(inc.report):
        a = json.dumps(without_timings(dry.report), indent=1, sort_keys=True).split("\n")
        b = json.dumps(without_timings(inc.report), indent=1, sort_keys=True).split("\n")
        s.fail("dry inc(S1->S2): statistics differ from the run's",
               "\n".join(difflib.unified_diff(a, b, "dry", "run", lineterm="", n=1))[:1500])
    elif dry.rejected() != inc.rejected():
        s.fail("dry inc(S1->S2): rejected other documents than the run")


def run_seed(seed, model, work, stats):
    """Everything for one seed; returns the Seed with its failures."""
    s = Seed(seed, model, work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    s1, s2, pre, script, rng = gen_edit.make_sources(model.gen, seed, work)
    s.pre, s.script = pre, script
    fmt1 = gen_edit.write_source(s1, os.path.join(work, "s1"), rng.choice(["json", "bson"]))
    fmt2 = gen_edit.write_source(s2, os.path.join(work, "s2"), rng.choice(["json", "bson"]))
    s.formats = "%s->%s" % (fmt1, fmt2)
    src1, src2 = os.path.join(work, "s1"), os.path.join(work, "s2")
    b_fresh = rng.choice([None, None, 1, 4])
    b_inc = rng.choice([None, None, 1, 2, 3, 5])
    b_kill = b_inc if b_inc else rng.choice([1, 2, 3])
    kill_s1 = rng.random() < 0.2
    kill_frac = rng.random()
    for op, _ in pre + script:
        stats["ops"][op] += 1
    stats["formats"][s.formats] += 1

    # fresh(S2): the reference
    fresh_dsn = model.clone(DB_PREFIX + "_fresh")
    fresh = Run("fresh(S2)", work, fresh_dsn, src2, model, b_fresh)
    s.check_run(fresh, s2, dsn=fresh_dsn)
    ref = model.dump(fresh_dsn)
    s.rows = sum(len(v) for v in ref.values())

    # inc: S1, then S2, then S2 again
    inc_dsn = model.clone(DB_PREFIX + "_inc")
    load = Run("load(S1)", work, inc_dsn, src1, model, None)
    s.check_run(load, s1)
    dry = None
    if not any(a in ("--jobs", "--join") for a in RUN_ARGS):
        dry = dry_run(s, work, inc_dsn, src2, model, b_inc)
    inc = Run("inc(S1->S2)", work, inc_dsn, src2, model, b_inc)
    s.check_run(inc, s2, fresh, inc_dsn)
    if dry:
        same_as_dry_run(s, dry, inc)
    trusted = fresh.rc in (0, 1)  # else there is nothing to compare with
    same = not trusted or s.compare("inc(S1->S2)", ref, model.dump(inc_dsn))
    again = Run("again(S2)", work, inc_dsn, src2, model, None)
    s.check_run(again, s2, fresh, inc_dsn)
    if again.rc in (0, 1):
        w = again.written()
        tables = model.dump(inc_dsn)
        if not trusted:
            pass
        elif same and tables != ref:
            s.compare("again(S2)", ref, tables)
        elif w:
            s.fail("again(S2): a run with no change wrote rows", "%d rows written" % w)

    # crash: a run killed with SIGKILL at a random point (a quarter of the seeds: its
    # re-run killed too), then run again.  The delay is a share of how long the same
    # work took in the inc database (twice that when the batches are smaller).
    double = rng.random() < 0.25
    kill_frac2 = rng.random()
    crash_dsn = model.clone(DB_PREFIX + "_crash")
    if kill_s1:
        est = load.seconds * 2.0
        k = Run("killed load(S1)", work, crash_dsn, src1, model, b_kill, kill_frac * est)
        wait_unlocked(DB_PREFIX + "_crash")
        r1 = Run("load(S1) after kill", work, crash_dsn, src1, model, None)
        s.check_run(r1, s1)
    else:
        r0 = Run("load(S1) for crash", work, crash_dsn, src1, model, None)
        est = inc.seconds * (0.9 if b_kill == b_inc else 2.0)
        k = Run("killed inc(S1->S2)", work, crash_dsn, src2, model, b_kill, kill_frac * est)
        if r0.rc not in (0, 1):
            s.notes.append("crash: load(S1) exit %d" % r0.rc)
    kills = [k]
    wait_unlocked(DB_PREFIX + "_crash")
    if double:
        k2 = Run("killed again: S2", work, crash_dsn, src2, model, b_kill,
                 kill_frac2 * inc.seconds * 2.0)
        kills.append(k2)
        wait_unlocked(DB_PREFIX + "_crash")
    for kr in kills:
        if not kr.killed and kr.rc not in (0, 1):
            s.fail("%s: exit %d: %s" % (kr.label, kr.rc, normalize(error_line(kr.stderr))),
                   kr.stderr[-800:])
    rr = Run("after kill: S2", work, crash_dsn, src2, model, None)
    s.check_run(rr, s2, fresh, crash_dsn)
    if trusted:
        s.compare("after kill: S2", ref, model.dump(crash_dsn))
    else:
        s.notes.append("fresh(S2) failed: no table comparison")
    s.kill = "; ".join("%s killed after %.0f ms%s" % (
        kr.label.replace("killed ", ""), kr.kill_after * 1000, "" if kr.killed else " (it had finished)")
        for kr in kills)
    for kr in kills:
        stats["kills"]["hit" if kr.killed else "late"] += 1
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", default="mixed", choices=["generic", "medichat", "mixed"])
    ap.add_argument("--work", default=os.path.join(BUILD, "test_metamorphic"))
    ap.add_argument("--findings", default=None)
    ap.add_argument("--replay", default=None,
                    help="the command that replays a seed, with {seed} in it")
    ap.add_argument("--keep", action="store_true", help="keep the folders of passed seeds")
    ap.add_argument("--db-prefix", default="mn_meta",
                    help="names of the databases used (so two drivers can share a server)")
    ap.add_argument("--run-args", default="",
                    help="options added to every run but the fresh load it is compared with "
                         "(e.g. \"--jobs 3\": several workers must give one pass's tables)")
    a = ap.parse_args()
    global DB_PREFIX, RUN_ARGS
    DB_PREFIX = a.db_prefix
    RUN_ARGS = a.run_args.split()
    os.makedirs(a.work, exist_ok=True)
    models = {}

    def model_of(seed):
        name = a.model if a.model != "mixed" else ("medichat" if seed % 4 == 3 else "generic")
        if name not in models:
            models[name] = Model(name)
            models[name].make_template()
            if models[name].init_note:
                print("# note: %s" % models[name].init_note)
        return models[name]

    stats = {"ops": collections.Counter(), "formats": collections.Counter(),
             "kills": collections.Counter()}
    kinds = collections.OrderedDict()  # kind -> [(n ops, seed)]
    results = []
    passed = failed = 0
    t0 = time.monotonic()
    for seed in range(a.seed, a.seed + a.seeds):
        model = model_of(seed)
        work = os.path.join(a.work, "seed-%d" % seed)
        try:
            s = run_seed(seed, model, work, stats)
        except Exception as e:  # a broken harness is a failure too, never a pass
            s = Seed(seed, model, work)
            s.pre, s.script, s.formats, s.kill, s.rows = [], [], "?", "?", 0
            s.fail("harness: %s" % type(e).__name__, str(e))
        nops = len(s.pre) + len(s.script)
        head = "seed %d (%s, %s, %d+%d ops, %d rows)" % (seed, model.name, s.formats,
                                                        len(s.pre), len(s.script), s.rows)
        if not s.failures:
            passed += 1
            print("ok - %s: incremental = fresh; %s, converged" % (head, s.kill))
            if not a.keep:
                shutil.rmtree(work, ignore_errors=True)
        else:
            failed += 1
            print("not ok - %s" % head)
            for op, desc in s.pre:
                print("#   S1 pre-edit: %-26s %s" % (op, desc))
            for op, desc in s.script:
                print("#   edit:        %-26s %s" % (op, desc))
            print("#   %s" % s.kill)
            for note in s.notes:
                print("#   note: %s" % note)
            for kind, detail in s.failures:
                print("#   FAIL %s" % kind)
                for line in detail.splitlines()[:10]:
                    if normalize(line) not in kind:
                        print("#     %s" % line)
                kinds.setdefault(kind, []).append((nops, seed))
            print("#   files: %s" % work)
            if a.replay:
                print("#   replay: %s" % a.replay.replace("{seed}", str(seed)))
        sys.stdout.flush()
        results.append({"seed": seed, "model": model.name, "formats": s.formats,
                        "pre_edit": s.pre, "edit": s.script, "kill": s.kill,
                        "failures": [k for k, _ in s.failures]})

    secs = time.monotonic() - t0
    print("# coverage over %d seeds (%.0f s): edit operations applied (S1 pre-edits included):"
          % (a.seeds, secs))
    for op in gen_edit.OPS:
        print("#   %-28s %d" % (op, stats["ops"][op]))
    print("#   formats S1->S2: %s" % ", ".join("%s %d" % kv for kv in sorted(stats["formats"].items())))
    print("#   kills: %d during the run, %d after it had finished" % (stats["kills"]["hit"],
                                                                      stats["kills"]["late"]))
    if kinds:
        print("# failures by kind (seeds; the first one has the shortest edit script):")
        for kind, seeds in kinds.items():
            seeds_sorted = sorted(seeds)
            print("#   %3d x %s" % (len(seeds), kind))
            print("#         seeds %s" % " ".join(str(sd) for _, sd in seeds_sorted[:8]))
    if a.findings:
        with open(a.findings, "w", encoding="utf-8") as f:
            json.dump({"seeds": results, "kinds": {k: sorted(sd for _, sd in v) for k, v in kinds.items()},
                       "ops": dict(stats["ops"])}, f, indent=1, ensure_ascii=False)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
