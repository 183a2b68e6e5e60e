#!/usr/bin/python3
"""check_links.py FILE.md...: every relative link of the files leads somewhere.

A link [text](target) whose target is not a URL must name an existing file (relative to
the linking file), and its #anchor, if any, a heading of that file (GitHub's anchors:
lower case, punctuation dropped except "-" and "_", spaces as "-", "-1" ... for
repeats).  Links inside code blocks and code spans are ignored.  Prints each broken link
with its file and line; exit 1 if any.
"""
import os
import re
import sys

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path):
    out, seen, fence = set(), {}, False
    for line in open(path, encoding="utf-8"):
        if line.lstrip().startswith("```"):
            fence = not fence
        if fence or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip()
        slug = re.sub(r"[^\w\- ]", "", title.lower().replace("`", "")).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def main():
    bad, cache = 0, {}
    for path in sys.argv[1:]:
        fence = False
        for no, line in enumerate(open(path, encoding="utf-8"), 1):
            if line.lstrip().startswith("```"):
                fence = not fence
                continue
            if fence:
                continue
            for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
                if re.match(r"[a-z]+:", target):
                    continue
                file, _, anchor = target.partition("#")
                dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
                if not os.path.exists(dest):
                    print(f"{path}:{no}: {target}: no such file")
                    bad += 1
                    continue
                if anchor and dest.endswith(".md"):
                    cache.setdefault(dest, anchors(dest))
                    if anchor not in cache[dest]:
                        print(f"{path}:{no}: {target}: no heading with that anchor")
                        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
