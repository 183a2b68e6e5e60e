#!/usr/bin/python3
"""check_messages.py SOURCE_DIR DOC...: every message a doc quotes is one the code prints.

A quoted message is a line of a ```text block of DOC that starts with "mongonorm: error: ",
"mongonorm: warning: ", "mongonorm: " (a note), "hint: " or "detail: ".  After that
prefix, the line must match

- a format string of the C code under SOURCE_DIR/src (adjacent literals joined, "%" PRIu64
  as one conversion; each conversion is a wildcard, "%%" a percent sign), or
- a message a CLI test asserts (SOURCE_DIR/tests/cli/*.sh: the shell string that holds
  "mongonorm: ...", each $variable or $(command) in it a wildcard; not a script that runs
  this check, whose made-up messages are there to fail it).

Messages are put together from pieces (what mongonorm was doing, then libpq's, libmongoc's
or the system's text), so a line also matches when it is A + ": " + B and A matches as
above: B is then taken as the dependency's text, and not judged.  The mapping loader's
prefix, 'mapping file "F", line N: ' (or 'model file'), is stripped first, and the rest
must match on its own, or be libyaml's text (a YAML syntax error).  A line that is A +
"; " + B matches when A does and "; " + B is a piece of the code too.  A format of fewer
letters whose first %s is filled by another piece matches too ("could not %s" filled by
'apply "%s"'), unless it ends in a wildcard of its own.  A format counts only
with 12 letters or more outside its conversions (4 for such a piece): "%s: %s" matches
anything, so it matches nothing here.  String macros (#define NAME "...") are expanded.

Prints each line that matches nothing, with its file and line number, and exits 1 if there
is any; also when no message was found at all.  -v prints what each line matched.
"""
import glob
import os
import re
import sys

PREFIXES = ("mongonorm: error: ", "mongonorm: warning: ", "hint: ", "detail: ", "mongonorm: ")
HEAD = re.compile(r'(mapping|model) file "[^"]*"(, line \d+)?: ')
CONVERSION = re.compile(r"%[-+ #0]*(\*|\d+)?(\.(\*|\d+))?(hh|h|ll|l|L|z|j|t)?[diouxXeEfFgGcsp]")
MIN_LETTERS = 12
MIN_PIECE_LETTERS = 4  # a continuation piece: "; kept in \"%s\""
# libyaml's own messages, which follow the mapping file prefix of a YAML syntax error
LIBYAML = re.compile(r"(did not find expected|found character|found unexpected|could not find "
                     r"expected|mapping values are not allowed|block sequence entries are not "
                     r"allowed|found undefined tag|control characters are not allowed)")
ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'", "0": "\0", "r": "\r"}


def c_literals(text):
    """The string literals of a C file, adjacent ones (also across a PRI* macro) joined."""
    out, i, n = [], 0, len(text)
    current, joinable = None, False
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            i = text.find("*/", i + 2) + 2 if text.find("*/", i + 2) >= 0 else n
            continue
        if text.startswith("//", i):
            i = text.find("\n", i) if text.find("\n", i) >= 0 else n
            continue
        if c == "'":
            m = re.compile(r"'(\\.|[^'\\\n])*'").match(text, i)
            i = m.end() if m else i + 1
            joinable = False
            continue
        if c == '"':
            j, buf = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    buf.append(ESCAPES.get(text[j + 1], text[j + 1]))
                    j += 2
                else:
                    buf.append(text[j])
                    j += 1
            s = "".join(buf)
            if current is not None and joinable:
                current += s
            else:
                if current is not None:
                    out.append(current)
                current = s
            joinable = True
            i = j + 1
            continue
        if c.isspace():
            i += 1
            continue
        m = re.compile(r"PRI[diouxX](8|16|32|64|MAX|PTR)\b").match(text, i)
        if m and current is not None and joinable:
            current += "llu"  # the conversion letters the macro stands for
            i = m.end()
            continue
        joinable = False
        i += 1
    if current is not None:
        out.append(current)
    return out


def format_regex(fmt):
    """A C format string as a regular expression: conversions are wildcards."""
    parts, pos = [], 0
    for m in CONVERSION.finditer(fmt):
        parts.append(re.escape(fmt[pos:m.start()].replace("%%", "%")))
        parts.append(".*?")
        pos = m.end()
    parts.append(re.escape(fmt[pos:].replace("%%", "%")))
    return "".join(parts)


def frame_regex(fmt):
    """A format whose first %s is a capture group: a frame another piece fills."""
    parts, pos, captured = [], 0, False
    for m in CONVERSION.finditer(fmt):
        parts.append(re.escape(fmt[pos:m.start()].replace("%%", "%")))
        if m.group(0) == "%s" and not captured:
            parts.append("(.+)")
            captured = True
        else:
            parts.append(".*?")
        pos = m.end()
    parts.append(re.escape(fmt[pos:].replace("%%", "%")))
    convs = list(CONVERSION.finditer(fmt))
    if not captured or (convs[-1].end() == len(fmt) and len(convs) > 1):
        return None  # a frame ending in a wildcard of its own would take any text
    return "".join(parts)


def letters(fmt):
    return sum(ch.isalpha() for ch in CONVERSION.sub("", fmt))


def shell_messages(text):
    """The messages a test script asserts: the shell string around each 'mongonorm: '."""
    out = []
    for m in re.finditer(r"""(['"])((?:mongonorm: (?:error: |warning: )?|hint: ))""", text):
        quote, start = m.group(1), m.end()
        j, buf = start, []
        while j < len(text) and text[j] != quote and text[j] != "\n":
            if quote == '"' and text[j] == "\\" and j + 1 < len(text):
                buf.append(text[j + 1])
                j += 2
            else:
                buf.append(text[j])
                j += 1
        s = "".join(buf)
        if s.endswith("\\n"):
            s = s[:-2]
        if quote == '"':
            # variables and command substitutions are wildcards (marked, then escaped)
            s = re.sub(r"\$\([^)]*\)|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z_0-9]*", "\x00", s)
        out.append(".*?".join(re.escape(p) for p in s.split("\x00")))
    return out


STRING_MACRO = re.compile(r'^#\s*define\s+([A-Z_][A-Z0-9_]*)[ \t]+((?:"(?:[^"\\\n]|\\.)*"[ \t]*(?:\\\n[ \t]*)?)+)$',
                          re.M)


def expand_macros(text, macros):
    """Each use of a macro that stands for string literals replaced by them."""
    text = STRING_MACRO.sub("", text)
    for name, body in macros.items():
        if name in text:
            text = re.sub(r"\b%s\b" % name, lambda _m, b=body: b, text)
    return text


class Matcher:
    def __init__(self, source_dir):
        self.patterns = []  # (compiled, literal text before the first conversion, origin, text, letters)
        self.frames = []  # formats of fewer letters with a %s another piece fills: "could not %s"
        paths = sorted(glob.glob(os.path.join(source_dir, "src", "**", "*.[ch]"), recursive=True))
        texts = {}
        macros = {}
        for path in paths:
            with open(path, encoding="utf-8") as f:
                texts[path] = f.read()
            for m in STRING_MACRO.finditer(texts[path]):
                macros[m.group(1)] = m.group(2).replace("\\\n", " ")
        for path in paths:
            for lit in c_literals(expand_macros(texts[path], macros)):
                lit = lit.rstrip("\n")
                if letters(lit) >= MIN_PIECE_LETTERS and "\n" not in lit:
                    self.add(format_regex(lit), CONVERSION.split(lit)[0],
                             os.path.relpath(path, source_dir), lit)
                    frame = frame_regex(lit)
                    if frame and letters(lit) < MIN_LETTERS:
                        self.frames.append((re.compile(frame, re.S), CONVERSION.split(lit)[0],
                                            os.path.relpath(path, source_dir), lit, letters(lit)))
        for path in sorted(glob.glob(os.path.join(source_dir, "tests", "cli", "*.sh"))):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if "check_messages.py" in text:
                continue  # the test of this check quotes made-up messages on purpose
            for rx in shell_messages(text):
                plain = re.sub(r"\\(.)", r"\1", rx.split(".*?")[0])
                if sum(ch.isalpha() for ch in re.sub(r"\\(.)", r"\1", rx)) >= MIN_LETTERS:
                    self.add(rx, plain, os.path.relpath(path, source_dir), rx)

    def add(self, rx, lead, origin, text):
        plain = CONVERSION.sub("", text) if origin.startswith("src") else re.sub(r"\\(.)", r"\1", rx)
        self.patterns.append((re.compile(rx, re.S), lead, origin, text, sum(c.isalpha() for c in plain)))

    def whole(self, msg, min_letters=MIN_LETTERS, anchored=False):
        for rx, lead, origin, text, n in self.patterns:
            if n >= min_letters and lead in msg and rx.fullmatch(msg) and (
                    not anchored or (lead and not re.search(r"%[a-z]+$", text))):
                return f"{origin}: {text!r}"
        if anchored:
            return None
        for rx, lead, origin, text, n in self.frames:
            m = lead in msg and rx.fullmatch(msg)
            if m:
                # the filling piece starts and ends with text of its own, not a wildcard
                inner = self.whole(m.group(1), max(MIN_PIECE_LETTERS, min_letters - n), True)
                if inner:
                    return f"{origin}: {text!r} filled by {inner}"
        return None

    def match(self, msg):
        """What msg matches (a description), or None."""
        m = HEAD.match(msg)
        if m and not self.whole(msg):
            if LIBYAML.match(msg[m.end():]):
                return f"[{m.group(1)} file prefix] libyaml's text"
            rest = self.match(msg[m.end():])
            return f"[{m.group(1)} file prefix] {rest}" if rest else None
        found = self.whole(msg)
        if found:
            return found
        for k in [k.start() for k in re.finditer(": ", msg)]:
            found = self.whole(msg[:k])
            if found:
                return f"{found} + dependency text"
        for k in [k.start() for k in re.finditer("; ", msg)]:
            head, tail = self.whole(msg[:k]), self.whole(msg[k:], MIN_PIECE_LETTERS)
            if head and tail:
                return f"{head} + {tail}"
        return None


def quoted(doc):
    """(line number, message) of each quoted message of a doc."""
    out, fence = [], None
    with open(doc, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            s = line.strip()
            if s.startswith("```"):
                fence = None if fence is not None else s[3:].strip()
                continue
            if fence != "text":
                continue
            for p in PREFIXES:
                if s.startswith(p):
                    out.append((no, s[len(p):], s))
                    break
    return out


def main():
    args = sys.argv[1:]
    verbose = "-v" in args
    args = [a for a in args if a != "-v"]
    if len(args) < 2:
        print(__doc__.split("\n")[0], file=sys.stderr)
        return 2
    matcher = Matcher(args[0])
    bad = total = 0
    for doc in args[1:]:
        for no, msg, line in quoted(doc):
            total += 1
            found = matcher.match(msg)
            if not found:
                bad += 1
                print(f"{doc}:{no}: no such message in the code or the CLI tests: {line}")
            elif verbose:
                print(f"{doc}:{no}: {line}\n    = {found}")
    if total == 0:
        print("no quoted message found in " + " ".join(args[1:]))
        return 1
    print(f"{total} quoted messages, {bad} unknown")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
