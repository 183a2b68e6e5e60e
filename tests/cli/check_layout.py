"""check_layout.py SOURCE_DIR: the code's map and size rules hold (called by test_layout.sh).

1. docs/design.md's module tables ("## Modules" up to the next "## ") name every source
   file of src/lib/<folder>/, src/gen/ and src/cli/ as `folder/file` (src/lib's folders
   by their own name, src/gen as gen/, src/cli as cli/); a header counts as named when its
   .c is (`cli/options.c/.h` names both), and every file the tables name exists.
2. No function in src/ is over 100 lines, from the line holding its opening brace at
   column 0 to its closing brace at column 0 (the project's clang-format style).
Prints one line per problem; exits 1 if there is any.
"""
import os
import re
import sys

top = sys.argv[1]
problems = []

design = open(os.path.join(top, "docs", "design.md"), encoding="utf-8").read()
start = design.index("\n## Modules")
end = design.index("\n## ", start + 1)
section = design[start:end]
named = set()
folders = sorted(f for f in os.listdir(os.path.join(top, "src", "lib"))
                 if os.path.isdir(os.path.join(top, "src", "lib", f))) + ["gen", "cli"]
for m in re.finditer(r"`((?:%s)/[A-Za-z0-9_]+)\.(c|h)(/\.h)?`" % "|".join(folders), section):
    named.add(m.group(1) + "." + m.group(2))
    if m.group(3):
        named.add(m.group(1) + ".h")

files = {}
for folder in sorted(os.listdir(os.path.join(top, "src", "lib"))):
    d = os.path.join(top, "src", "lib", folder)
    if os.path.isdir(d):
        for f in os.listdir(d):
            files[folder + "/" + f] = os.path.join(d, f)
for sub, key in (("gen", "gen"), ("cli", "cli")):
    d = os.path.join(top, "src", sub)
    for f in os.listdir(d):
        files[key + "/" + f] = os.path.join(d, f)

for name in sorted(files):
    if not name.endswith((".c", ".h")):
        continue
    if name in named or (name.endswith(".h") and name[:-2] + ".c" in named):
        continue
    problems.append("docs/design.md: no module row names %s" % name)
for name in sorted(named):
    if name not in files:
        problems.append("docs/design.md names %s, which is not in the tree" % name)

for root, _, names in os.walk(os.path.join(top, "src")):
    for f in sorted(names):
        if not f.endswith(".c"):
            continue
        path = os.path.join(root, f)
        lines = open(path, encoding="utf-8").read().split("\n")
        opened = None
        for i, line in enumerate(lines):
            if line == "{" and opened is None:
                opened = i
            elif line == "}" and opened is not None:
                n = i - opened + 1
                if n > 100:
                    head = lines[opened - 1] if opened > 0 else ""
                    problems.append("%s:%d: a function of %d lines (over 100): %s"
                                    % (os.path.relpath(path, top), opened + 1, n, head.strip()))
                opened = None

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
