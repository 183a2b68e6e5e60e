#!/usr/bin/python3
"""Checks of the HTML reports (run --report-html, status --html), for test_report_html.sh.

  check_report_html.py run PAGE MAPPING REPORT_JSON REJECTS SOURCE_JSON_DIR
  check_report_html.py status PAGE RUNS
  check_report_html.py dom PAGE CHART_ID BARS      (a page as Chromium's --dump-dom gives it)
  check_report_html.py png PNG COLOUR...           (a screenshot: size, colours, the chart's)

Each prints one line per problem and exits 1 when there is one.  The page is read with
html.parser (not with regular expressions): elements, their ids and classes, and the text
of table cells and SVG <title>s.
"""
import glob
import html.parser
import json
import re
import struct
import sys
import zlib


class Page(html.parser.HTMLParser):
    """The parts of a page the checks look at."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []          # open elements: (tag, attrs)
        self.svgs = {}           # svg id -> number of <g class="bar"> in it
        self.bar_texts = {}      # svg id -> [text of each bar's first <text>]
        self.tables = {}         # table id -> [[cell text, ...] per body row]
        self.text = []           # every text node
        self.tags = []           # every start tag name
        self.scripts = 0
        self.external = []       # src/href attributes that load something
        self._cell = None
        self._bar_text = None

    def _inside(self, tag, **want):
        for t, a in reversed(self.stack):
            if t == tag and all(a.get(k) == v for k, v in want.items()):
                return a
        return None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "script":
            self.scripts += 1
        for k in ("src", "href"):
            if k in a and not a[k].startswith("#"):
                self.external.append(a[k])
        if tag == "link" or tag == "iframe" or tag == "img":
            self.external.append(tag)
        if tag == "g" and a.get("class") == "bar":
            svg = self._inside("svg")
            if svg is not None:
                sid = svg.get("id", "")
                self.svgs[sid] = self.svgs.get(sid, 0) + 1
                self.bar_texts.setdefault(sid, []).append("")
                self._bar_text = sid
        if tag == "svg":
            self.svgs.setdefault(a.get("id", ""), 0)
        if tag == "tr" and self._inside("tbody") is not None:
            table = self._inside("table")
            if table is not None:
                self.tables.setdefault(table.get("id", ""), []).append([])
        if tag == "td":
            self._cell = []
        self.stack.append((tag, a))

    def handle_endtag(self, tag):
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag:
                break
        if tag == "td" and self._cell is not None:
            table = self._inside("table")
            if table is not None and self.tables.get(table.get("id", "")):
                self.tables[table.get("id", "")][-1].append("".join(self._cell).strip())
            self._cell = None
        if tag == "text" and self._bar_text:
            self._bar_text = None  # the bar's label is its first <text>

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._bar_text and self.stack and self.stack[-1][0] == "text":
            texts = self.bar_texts[self._bar_text]
            if not texts[-1]:
                texts[-1] = data


def parse(path):
    page = Page()
    with open(path, encoding="utf-8") as f:
        page.feed(f.read())
    page.close()
    return page


problems = []


def problem(text):
    problems.append(text)
    print("problem: " + text)


def common(page):
    if page.scripts:
        problem("the page has %d <script> element(s)" % page.scripts)
    if page.external:
        problem("the page loads something: %s" % page.external[:3])
    if "style" not in page.tags:
        problem("no inline <style>")


def mapping_tables(mapping):
    """The tables a mapping writes, in order, each once."""
    names = []
    for line in open(mapping, encoding="utf-8"):
        m = re.match(r"\s*-\s*table:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", line)
        if m and m.group(1) not in names:
            names.append(m.group(1))
    return names


def strings_of(value, out):
    """Every string value inside an Extended JSON value (not keys, not $oid/$date)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("$oid", "$date", "$numberLong", "$numberInt", "$numberDouble",
                     "$numberDecimal"):
                continue
            strings_of(v, out)
    elif isinstance(value, list):
        for v in value:
            strings_of(v, out)
    elif isinstance(value, str):
        out.add(value)


def source_values(json_dir, mapping):
    """String values of the source (8 characters or more) that are no name: not in the
    mapping's text (enum lists, defaults) and no hex id."""
    mapping_text = open(mapping, encoding="utf-8").read()
    values = set()
    for path in glob.glob(json_dir + "/*.json"):
        for line in open(path, encoding="utf-8"):
            if line.strip():
                strings_of(json.loads(line), values)
    return {v for v in values
            if len(v) >= 8 and v not in mapping_text and not re.fullmatch(r"[0-9a-f]{24}", v)}


def check_run(page_path, mapping, report_json, rejects, json_dir):
    page = parse(page_path)
    common(page)
    tables = mapping_tables(mapping)
    # the chart of rows per table: one bar per table of the mapping, each labelled
    if page.svgs.get("rows-chart") != len(tables):
        problem("rows-chart has %s bars, the mapping writes %d tables"
                % (page.svgs.get("rows-chart"), len(tables)))
    labels = page.bar_texts.get("rows-chart", [])
    for t in tables:
        if t not in labels:
            problem("table %s has no bar in rows-chart" % t)
    shown = [row[0] for row in page.tables.get("tables", [])]
    if shown != tables:
        problem("the tables table names %s, the mapping %s" % (shown, tables))
    # the reject reasons: every kind of the statistics, with its count and examples
    stats = json.load(open(report_json))
    reasons = [(c, k, n) for c, v in stats["collections"].items()
               for k, n in v["rejects"].items()]
    rows = page.tables.get("rejects", [])
    if not reasons:
        problem("the sample rejects nothing: the test needs rejects")
    if page.svgs.get("rejects-chart") != len(reasons):
        problem("rejects-chart has %s bars, the statistics %d reasons"
                % (page.svgs.get("rejects-chart"), len(reasons)))
    for c, k, n in reasons:
        if not any(r[:3] == [c, k, str(n)] for r in rows):
            problem("reason not listed: %s / %s / %d" % (c, k, n))
    # examples: the _id of every rejected document (the sample rejects few), and its column
    text = "".join(page.text)
    for line in open(rejects, encoding="utf-8"):
        r = json.loads(line)
        oid = r.get("_id", {}).get("$oid") if isinstance(r.get("_id"), dict) else None
        if oid and 'ObjectId("%s")' % oid not in text:
            problem("the rejected document %s is not among the examples" % oid)
        m = re.search(r', column "([^"]+)": ', r.get("reason", ""))
        if m and m.group(1) not in text:
            problem("the column %s of a reject is not among the examples" % m.group(1))
    # no value of the source: the rejected documents' values above all, then every long one
    values = source_values(json_dir, mapping)
    print("# %d distinct string values of the source looked for" % len(values))
    leaked = sorted(v for v in values if v in text)
    for line in open(rejects, encoding="utf-8"):
        found = set()
        strings_of(json.loads(line).get("document", {}), found)
        leaked += sorted(v for v in found if len(v) >= 5 and v in text and v not in tables
                         and v not in open(mapping, encoding="utf-8").read())
    for v in sorted(set(leaked)):
        problem("a value of the source is in the page: %r" % v)


def check_status(page_path, runs):
    page = parse(page_path)
    common(page)
    rows = page.tables.get("runs", [])
    if len(rows) != runs:
        problem("the runs table has %d rows, not %d" % (len(rows), runs))
    if page.svgs.get("runs-chart") != runs:
        problem("runs-chart has %s bars, not %d" % (page.svgs.get("runs-chart"), runs))
    if rows:
        # newest first; the first full load changed every document it loaded, a re-run of
        # the same source none
        first, last = rows[-1], rows[0]
        if first[9] != first[5] or first[9] in ("0", "\u2013"):
            problem("the first run changed %s documents, it loaded %s" % (first[9], first[5]))
        if last[9] != "0":
            problem("the re-run changed %s documents, not 0" % last[9])


def check_dom(page_path, chart, bars):
    page = parse(page_path)
    if page.svgs.get(chart) != bars:
        problem("the rendered DOM has %s bars in %s, not %d" % (page.svgs.get(chart), chart, bars))


def png_pixels(path):
    """Width, height and the RGB(A) rows of an 8-bit PNG (Chromium's screenshots)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            if depth != 8 or colour not in (2, 6):
                raise ValueError("unexpected PNG format %d/%d" % (depth, colour))
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def check_png(path, colours):
    import os
    size = os.path.getsize(path)
    if size < 20000:
        problem("the screenshot is only %d bytes" % size)
    width, height, bpp, rows = png_pixels(path)
    seen = set()
    for row in rows[::2]:
        for x in range(0, len(row), bpp * 2):
            seen.add(row[x:x + 3])
    if len(seen) < 16:
        problem("the screenshot has %d colours: an empty page?" % len(seen))
    for c in colours:
        rgb = bytes.fromhex(c.lstrip("#"))
        if rgb not in seen:
            problem("no pixel of the chart colour %s in the screenshot" % c)
    print("# screenshot %dx%d, %d bytes, %d colours" % (width, height, size, len(seen)))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "run":
        check_run(*args)
    elif mode == "status":
        check_status(args[0], int(args[1]))
    elif mode == "dom":
        check_dom(args[0], args[1], int(args[2]))
    elif mode == "png":
        check_png(args[0], args[1:])
    sys.exit(1 if problems else 0)
