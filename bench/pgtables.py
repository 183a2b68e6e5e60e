#!/usr/bin/env python3
"""The user's tables of a loaded target, for bench/load.sh: export them, sample them,
and write the psql scripts of the ceiling. Talks to PostgreSQL through psql only.

usage:
  pgtables.py export DSN REPORT DIR
      The tables mongonorm's run report (--report) names, minus the `mongonorm` schema,
      in the order their foreign keys need (parents first; ties in the report's order,
      which is the mapping's). Each is written with COPY TO in text format, every
      column but generated ones, to DIR/NNN.copy; DIR/manifest.json lists
      [{table, columns, overriding, file, rows, bytes}] in that order.
  pgtables.py sample DSN MANIFEST ROWS DIR
      A sample of about ROWS rows in all of MANIFEST's tables, closed under their
      foreign keys: the first rows of each table in proportion to its size, plus every
      row a sampled row references (built in the schema mnb_sample of DSN's database,
      which is dropped again). Written as `export` writes, DIR/manifest.json.
  pgtables.py ceiling MANIFEST SCRIPT
      A psql script: one transaction, a \\copy of each file in MANIFEST's order.
  pgtables.py fast DSN MANIFEST SCRIPT
      The same, but the secondary indexes (not backing a constraint) and the foreign
      keys of MANIFEST's tables in DSN's database (a fresh `init`) are dropped first and
      recreated after the data from their saved definitions, in the same transaction.
  pgtables.py export-new BASE DSN REPORT DIR
      As export, but only the rows of DSN's tables whose primary key is not in the
      same table of BASE (a database DSN's was copied from before a run): the rows that
      run inserted. For bench/load.sh --incremental.
  pgtables.py schema DSN
      Prints every index and constraint definition of the database's tables outside
      the system schemas, sorted: two targets with the same output have the same keys.
A self-referencing table is exported and sampled like the others; its sample is not put
in reference order (MediChat has none).
"""
import json
import math
import os
import subprocess
import sys

SYSTEM = "('pg_catalog', 'information_schema', 'pg_toast', 'mongonorm')"
# names in definitions schema-qualified, whatever the search_path of the script's session
QUALIFIED = "-c search_path=pg_catalog"


def psql(dsn, sql, out=None, options=""):
    """Run sql (ON_ERROR_STOP) and return its unaligned, tab-separated rows."""
    cmd = ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    env = dict(os.environ, PGOPTIONS="--client-min-messages=warning " + options)
    if out is not None:
        with open(out, "wb") as f:
            subprocess.run(cmd + ["-c", sql], stdout=f, check=True, env=env)
        return []
    text = subprocess.run(cmd + ["-c", sql], stdout=subprocess.PIPE, check=True, env=env,
                          text=True).stdout
    return [line.split("\t") for line in text.splitlines()]


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def ident(s):
    return '"' + s.replace('"', '""') + '"'


def tables_of_report(dsn, report):
    """[(oid, "schema.table" quoted, schema, name)] for the report's tables, in its order."""
    with open(report) as f:
        names = list(json.load(f)["tables"])
    out = []
    for name in names:
        rows = psql(dsn, f"SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
                         f" ON n.oid = c.relnamespace WHERE c.oid = to_regclass({lit(name)})"
                         f" AND n.nspname NOT IN {SYSTEM}")
        if not rows:
            sys.exit(f"pgtables: table {name!r} of the report is not in the target")
        oid, nsp, rel = rows[0]
        if all(o != oid for o, *_ in out):
            out.append((oid, f"{ident(nsp)}.{ident(rel)}", nsp, rel))
    return out


def fk_order(dsn, tables):
    """tables, parents before the tables referencing them (self-references ignored)."""
    oids = {t[0] for t in tables}
    edges = psql(dsn, "SELECT conrelid, confrelid FROM pg_constraint WHERE contype = 'f'"
                      " AND conrelid <> confrelid")
    parents = {oid: {p for c, p in edges if c == oid and p in oids} for oid in oids}
    done, order = set(), []
    while len(order) < len(tables):
        ready = [t for t in tables if t[0] not in done and parents[t[0]] <= done]
        if not ready:
            sys.exit("pgtables: the foreign keys of the tables form a cycle")
        order.append(ready[0])
        done.add(ready[0][0])
    return order


def columns(dsn, oid):
    rows = psql(dsn, f"SELECT attname, attidentity FROM pg_attribute WHERE attrelid = {oid}"
                     " AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
                     " ORDER BY attnum")
    return [r[0] for r in rows], any(r[1] == "a" for r in rows)


def write_copy(dsn, source, cols, path):
    """COPY (SELECT cols FROM source) TO STDOUT into path; (rows, bytes)."""
    collist = ", ".join(ident(c) for c in cols)
    psql(dsn, f"COPY (SELECT {collist} FROM {source}) TO STDOUT", out=path)
    with open(path, "rb") as f:
        rows = sum(1 for _ in f)
    return rows, os.path.getsize(path)


def export(dsn, report, outdir):
    os.makedirs(outdir, exist_ok=True)
    manifest = []
    for i, (oid, table, _, _) in enumerate(fk_order(dsn, tables_of_report(dsn, report))):
        cols, overriding = columns(dsn, oid)
        path = os.path.join(outdir, f"{i:03d}.copy")
        rows, size = write_copy(dsn, table, cols, path)
        manifest.append({"table": table, "oid": oid, "columns": cols, "overriding": overriding,
                         "file": path, "rows": rows, "bytes": size})
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def primary_key(dsn, oid):
    rows = psql(dsn, "SELECT a.attname FROM pg_constraint c, unnest(c.conkey) WITH ORDINALITY"
                     " k(n, o) JOIN pg_attribute a ON a.attnum = k.n WHERE a.attrelid ="
                     f" c.conrelid AND c.contype = 'p' AND c.conrelid = {oid} ORDER BY k.o")
    if not rows:
        sys.exit(f"pgtables: table {oid} has no primary key")
    return [r[0] for r in rows]


def export_new(base, dsn, report, outdir):
    os.makedirs(outdir, exist_ok=True)
    manifest = []
    for i, (oid, table, _, _) in enumerate(fk_order(dsn, tables_of_report(dsn, report))):
        cols, overriding = columns(dsn, oid)
        pk = primary_key(dsn, oid)
        key = ", ".join(ident(c) for c in pk)
        keys = os.path.join(outdir, f"{i:03d}.keys")
        psql(base, f"COPY (SELECT {key} FROM {table}) TO STDOUT", out=keys)
        path = os.path.join(outdir, f"{i:03d}.copy")
        collist = ", ".join(ident(c) for c in cols)
        match = " AND ".join(f"k.{ident(c)} = t.{ident(c)}" for c in pk)
        script = (f"CREATE TEMP TABLE mnb_keys AS SELECT {key} FROM {table} WITH NO DATA;\n"
                  f"\\copy mnb_keys FROM {lit(keys)}\n"
                  f"\\copy (SELECT {collist} FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM"
                  f" mnb_keys k WHERE {match})) TO {lit(path)}\n")
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn], input=script,
                       text=True, check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, PGOPTIONS="--client-min-messages=warning"))
        os.remove(keys)
        with open(path, "rb") as f:
            rows = sum(1 for _ in f)
        manifest.append({"table": table, "oid": oid, "columns": cols, "overriding": overriding,
                         "file": path, "rows": rows, "bytes": os.path.getsize(path)})
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def foreign_keys(dsn, oid):
    """[(referenced oid, [child columns], [referenced columns])] of table oid."""
    rows = psql(dsn, "SELECT c.confrelid, (SELECT string_agg(quote_ident(attname), ','"
                     " ORDER BY k.n) FROM unnest(c.conkey) WITH ORDINALITY k(a, n) JOIN"
                     " pg_attribute ON attrelid = c.conrelid AND attnum = k.a),"
                     " (SELECT string_agg(quote_ident(attname), ',' ORDER BY k.n) FROM"
                     " unnest(c.confkey) WITH ORDINALITY k(a, n) JOIN pg_attribute ON"
                     f" attrelid = c.confrelid AND attnum = k.a) FROM pg_constraint c WHERE"
                     f" c.contype = 'f' AND c.conrelid = {oid}")
    return [(r[0], r[1].split(","), r[2].split(",")) for r in rows]


def sample(dsn, manifest_file, want, outdir):
    with open(manifest_file) as f:
        manifest = json.load(f)
    total = sum(t["rows"] for t in manifest) or 1
    by_oid = {t["oid"]: i for i, t in enumerate(manifest)}
    stmts = ["DROP SCHEMA IF EXISTS mnb_sample CASCADE", "CREATE SCHEMA mnb_sample"]
    for i, t in enumerate(manifest):
        n = math.ceil(t["rows"] * want / total)
        stmts.append(f"CREATE TABLE mnb_sample.t{i} AS SELECT * FROM {t['table']} LIMIT {n}")
    # Children before parents: what a table's sample references is added to the
    # referenced table's sample before that one adds what it references in turn.
    for i in reversed(range(len(manifest))):
        for parent, ccols, pcols in foreign_keys(dsn, manifest[i]["oid"]):
            if parent not in by_oid:
                continue
            j = by_oid[parent]
            match = " AND ".join(f"p.{p} = s.{c}" for p, c in zip(pcols, ccols))
            added = " AND ".join(f"a.{p} = p.{p}" for p in pcols)
            insert = (f"INSERT INTO mnb_sample.t{j} SELECT p.* FROM {manifest[j]['table']} p"
                      f" WHERE EXISTS (SELECT 1 FROM mnb_sample.t{i} s WHERE {match}) AND NOT"
                      f" EXISTS (SELECT 1 FROM mnb_sample.t{j} a WHERE {added})")
            stmts.append(insert)
            if j == i:  # a self-reference: the rows it adds may reference more
                stmts.extend([insert] * 20)
    psql(dsn, ";\n".join(stmts))
    os.makedirs(outdir, exist_ok=True)
    out = []
    for i, t in enumerate(manifest):
        path = os.path.join(outdir, f"{i:03d}.copy")
        rows, size = write_copy(dsn, f"mnb_sample.t{i}", t["columns"], path)
        out.append(dict(t, file=path, rows=rows, bytes=size))
    psql(dsn, "DROP SCHEMA mnb_sample CASCADE")
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(out, f, indent=1)


def copy_lines(manifest):
    return [f"\\copy {t['table']} ({', '.join(ident(c) for c in t['columns'])}) FROM"
            f" {lit(t['file'])}" for t in manifest]


def ceiling(manifest_file, script, before=(), after=()):
    with open(manifest_file) as f:
        manifest = json.load(f)
    lines = ["\\set ON_ERROR_STOP on", "BEGIN;"]
    lines += [s + ";" for s in before] + copy_lines(manifest) + [s + ";" for s in after]
    lines.append("COMMIT;")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")


def fast(dsn, manifest_file, script):
    with open(manifest_file) as f:
        manifest = json.load(f)
    oids = ", ".join(f"{lit(t['table'])}::regclass" for t in manifest)
    indexes = psql(dsn, "SELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index i"
                        f" WHERE indrelid IN ({oids}) AND NOT indisunique AND NOT indisprimary"
                        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE"
                        " c.conindid = i.indexrelid) ORDER BY indexrelid::regclass::text",
                   options=QUALIFIED)
    fks = psql(dsn, "SELECT conrelid::regclass, quote_ident(conname), pg_get_constraintdef(oid)"
                    f" FROM pg_constraint WHERE contype = 'f' AND conrelid IN ({oids})"
                    " ORDER BY conrelid::regclass::text, conname", options=QUALIFIED)
    before = [f"ALTER TABLE {t} DROP CONSTRAINT {c}" for t, c, _ in fks]
    before += [f"DROP INDEX {i}" for i, _ in indexes]
    after = [d for _, d in indexes] + [f"ALTER TABLE {t} ADD CONSTRAINT {c} {d}" for t, c, d in fks]
    ceiling(manifest_file, script, before, after)


def schema(dsn):
    rows = psql(dsn, "SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class"
                     " c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                     f" WHERE n.nspname NOT IN {SYSTEM} UNION ALL SELECT 'constraint ' ||"
                     " conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(p.oid)"
                     " || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END FROM pg_constraint"
                     " p JOIN pg_namespace n ON n.oid = p.connamespace WHERE n.nspname NOT IN"
                     f" {SYSTEM} AND conrelid <> 0 UNION ALL SELECT 'trigger ' ||"
                     " pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid ="
                     " t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT"
                     f" t.tgisinternal AND n.nspname NOT IN {SYSTEM} ORDER BY 1")
    for r in rows:
        print(r[0])


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "export" and len(args) == 3:
        export(*args)
    elif cmd == "sample" and len(args) == 4:
        sample(args[0], args[1], int(args[2]), args[3])
    elif cmd == "ceiling" and len(args) == 2:
        ceiling(*args)
    elif cmd == "fast" and len(args) == 3:
        fast(*args)
    elif cmd == "export-new" and len(args) == 4:
        export_new(*args)
    elif cmd == "schema" and len(args) == 1:
        schema(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
