#!/usr/bin/python3
"""check_mapping_keys.py SOURCE_DIR DOC: DOC's "## Key reference" is the mapping loader's.

The loader (SOURCE_DIR/src/lib/mapping/*.c) lists the keys it accepts in a `keys[]` array
per function, and the values of a key in a named array (POLICY_MISSING, EACH_AS, ...);
the column types are in src/lib/convert/value.c (type_names, type_aliases). DOC has one
table per function under "### <title>", whose first cells name the keys (`key`, or
`a`, `b`). Checked:

- every key of a function's array has a row in its table, and every row names a key of it;
- every value of a value array appears (`value`) in the row of its key;
- every type name and alias appears (`name`) under "### Column types".

A keys[] array in a function, or a value array, that this script does not know is an
error too: say here which table or key it belongs to.  Prints each problem; exit 1 if any.
"""
import re
import sys

# function holding a keys[] array -> the "###" title of its table in DOC
TABLES = {
    "load": "Top level",
    "mn_mapping__parse_collection": "A collection",
    "mn_mapping__parse_defaults": "`defaults:`",
    "parse_entry": "A table entry",
    "mn_mapping__parse_column": "A column",
    "mn_mapping__parse_pred": "`when:`",
    "flat_item": "`flatten:`",
    "mn_mapping__parse_flat_column": "A flattened column",
}
# value array -> (title, key whose row lists them); None: not a key's values
VALUES = {
    "POLICY_NAMES": None,  # every policy word, used to check the three lists below
    "POLICY_INVALID": ("A column", "on_invalid"),
    "POLICY_MISSING": ("A column", "on_missing"),
    "POLICY_REF": ("A column", "on_missing_reference"),
    "VALUES": ("A column", "value"),
    "TRANSFORMS": ("A column", "transform"),
    "EMPTY": ("A column", "empty"),
    "NULLS": ("A column", "redact"),
    "OFF": ("A column", "redact"),
    "EACH_AS": ("A table entry", "each_as"),
    "ON_SCALAR": ("A table entry", "on_scalar"),
    "ON_DUP": ("A table entry", "on_duplicate"),
    "ON_OTHER": ("A table entry", "on_other_shape"),
    "SHAPE_TYPES": ("A table entry", "shapes"),
}
ARRAY = re.compile(r"static const char \*const (\w+)\[\] = \{([^}]*)\}")
STRUCT_ARRAY = re.compile(r"\}\s*(SHAPE_TYPES)\[\] = \{(.*?)\};", re.S)
FUNCTION = re.compile(r"^(\w+)\(", re.M)


def loader_arrays(source_dir):
    """{("keys", function) or (NAME, function): [strings]} of the mapping loader."""
    import glob
    out = {}
    for path in sorted(glob.glob(source_dir + "/src/lib/mapping/*.c")):
        text = open(path, encoding="utf-8").read()
        starts = [(m.start(), m.group(1)) for m in FUNCTION.finditer(text)]
        for rx in (ARRAY, STRUCT_ARRAY):
            for m in rx.finditer(text):
                fn = max([s for s in starts if s[0] < m.start()], default=(0, None))[1]
                out[(m.group(1), fn)] = re.findall(r'"([^"]*)"', m.group(2))
    return out


def doc_tables(doc):
    """{title: [(keys of the row, the row's text)]} under "## Key reference"."""
    tables, title, on = {}, None, False
    for line in open(doc, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("## "):
            on = line == "## Key reference"
            continue
        if not on:
            continue
        if line.startswith("### "):
            title = line[4:].strip()
            tables[title] = []
        elif title and line.startswith("| `"):
            first = line.split("|")[1]
            tables[title].append((re.findall(r"`([^`]+)`", first), line))
    return tables, tables.get("Column types")


def main():
    source_dir, doc = sys.argv[1], sys.argv[2]
    arrays = loader_arrays(source_dir)
    tables, _ = doc_tables(doc)
    problems = []
    if not tables:
        problems.append(f'{doc} has no "## Key reference" with "###" tables')
    for (name, fn), items in sorted(arrays.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        if name == "keys":
            title = TABLES.get(fn)
            if title is None:
                problems.append(f"keys[] of {fn}() belongs to no table of {doc}: add it to TABLES in {sys.argv[0]}")
                continue
            rows = tables.get(title)
            if rows is None:
                problems.append(f'{doc}: no table "### {title}" (the keys of {fn}())')
                continue
            documented = {k for keys, _ in rows for k in keys}
            for k in items:
                if k not in documented:
                    problems.append(f'{doc}, "{title}": no row for key "{k}" ({fn}() accepts it)')
            for k in sorted(documented - set(items)):
                problems.append(f'{doc}, "{title}": key "{k}" is not one {fn}() accepts')
        elif name in VALUES:
            if VALUES[name] is None:
                continue
            title, key = VALUES[name]
            row = [text for keys, text in tables.get(title, []) if key in keys]
            if not row:
                problems.append(f'{doc}, "{title}": no row for key "{key}" (values {name})')
                continue
            for v in items:
                if f"`{v}`" not in row[0]:
                    problems.append(f'{doc}, "{title}", key "{key}": value "{v}" is not listed ({name})')
        else:
            problems.append(f"value array {name} of {fn}() is no key's: add it to VALUES in {sys.argv[0]}")
    value_c = open(source_dir + "/src/lib/convert/value.c", encoding="utf-8").read()
    types = re.findall(r'\[MN_TYPE_\w+\] = "([^"]+)"', value_c)
    types += re.findall(r'\{"([^"]+)", MN_TYPE_\w+\}', value_c.split("type_aliases[]", 1)[-1])
    text = open(doc, encoding="utf-8").read()
    section = text.split("### Column types", 1)[-1].split("\n## ", 1)[0] if "### Column types" in text else ""
    names = set(re.findall(r"`([^`]+)`", section))
    if len(types) < 15:
        problems.append(f"found only {len(types)} type names in src/lib/convert/value.c")
    for t in types:
        if t not in names:
            problems.append(f'{doc}, "Column types": type "{t}" is not listed')
    for p in problems:
        print(p)
    print(f"{sum(len(v) for k, v in arrays.items())} loader words, {len(types)} type names, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
