#!/usr/bin/python3
"""check_medichat_page.py MAPPING DOC: DOC explains every field MAPPING reads.

For each column of MAPPING that reads a source path (`path:`, in `columns` or a shape),
the section "## <collection>" of DOC has a table row whose first cell names the field
(`a.b`, as an absolute path: `messages.role` for `role` of the entry iterating
`messages`, `patient` for `$doc.patient`, the array itself for `$`) and whose second
cell names the column (`table.column`).  The other way round, every field named in a
first cell is one MAPPING reads (a column's path, an `each`, an `ignore`), and every
column named in a second cell is one of its columns.  Prints each problem; exit 1 if any.
"""
import re
import sys

import yaml  # Debian's python3-yaml


def mapped(mapping):
    """{collection: ([(field, "table.column")], {fields read}, {"table.column"})}."""
    out = {}
    for coll in mapping["collections"]:
        pairs, fields, columns = [], set(coll.get("ignore") or []), set()
        base_of = {}
        for e in coll["tables"]:
            name = e.get("name", e["table"])
            base = ""
            if "each" in e:
                parent = base_of.get(e.get("parent"), "")
                base = parent if e["each"] == "$" else ".".join(p for p in (parent, e["each"]) if p)
                fields.add(base)
            base_of[name] = base
            specs = list((e.get("columns") or {}).items())
            for shape in (e.get("shapes") or {}).values():
                specs += list(shape.items())
            for col, spec in specs:
                columns.add(f"{e['table']}.{col}")
                if "raw_to" in spec:
                    columns.add(f"{e['table']}.{spec['raw_to']}")
                if "path" not in spec:
                    continue
                paths = spec["path"] if isinstance(spec["path"], list) else [spec["path"]]
                for p in paths:
                    if p == "$":
                        field = base
                    elif p.startswith("$doc."):
                        field = p[5:]
                    else:
                        field = ".".join(x for x in (base, p) if x)
                    pairs.append((field, f"{e['table']}.{col}"))
                    fields.add(field)
        out[coll["collection"]] = (pairs, fields, columns)
    return out


def rows(doc):
    """{section: [(names in cell 1, names in cell 2)]} of DOC's "## " sections."""
    out, section = {}, None
    for line in open(doc, encoding="utf-8"):
        if line.startswith("## "):
            section = line[3:].strip()
            out[section] = []
        elif section and line.startswith("| `"):
            cells = line.split("|")
            out[section].append((set(re.findall(r"`([^`]+)`", cells[1])),
                                 set(re.findall(r"`([^`]+)`", cells[2]))))
    return out


def main():
    mapping = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
    doc = sys.argv[2]
    table = rows(doc)
    problems, n = [], 0
    for coll, (pairs, fields, columns) in mapped(mapping).items():
        got = table.get(coll)
        if got is None:
            problems.append(f'{doc}: no section "## {coll}"')
            continue
        for field, column in pairs:
            n += 1
            if not any(field in f and column in c for f, c in got):
                problems.append(f'{doc}, "## {coll}": no row with field `{field}` and column `{column}`')
        for f, c in got:
            for name in sorted(f - fields):
                problems.append(f'{doc}, "## {coll}": field `{name}` is not one the mapping reads')
            for name in sorted(c - columns):
                problems.append(f'{doc}, "## {coll}": column `{name}` is not one the mapping writes')
    for p in problems:
        print(p)
    print(f"{n} mapped fields, {len(problems)} problems")
    return 1 if problems or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
