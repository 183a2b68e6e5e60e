#!/usr/bin/env python3
"""The tables of bench/load.sh: print them and write them as JSON.

usage:
  report.py load DIR      DIR holds what load.sh measured at one scale: info.json,
                          copy/manifest.json, sample/manifest.json and, per repeat R,
                          mongonorm-R.json, ceiling-R.json, fast-R.json, peer-R.json (from
                          measure.py) and peer-R.out (the peer's own line). Prints the
                          side-by-side table, writes DIR/result.json.
  report.py memory DIR    DIR holds info.json and, per scale S and repeat R,
                          mongonorm-S-R.json and report-S-R.json. Prints the memory
                          curve, writes DIR/memory.json.
  report.py incremental DIR   DIR holds what load.sh --incremental measured: info.json,
                          copy/manifest.json (the rows the run inserted) and, per repeat R,
                          mongonorm-R.json, report-R.json and ceiling-R.json. Prints the
                          run against the ceiling, writes DIR/result.json.
Figures are medians over the repeats, each figure on its own.
"""
import glob
import json
import os
import statistics
import sys

MIB = 1024 * 1024


def load_json(path):
    with open(path) as f:
        return json.load(f)


def runs(pattern):
    return [load_json(p) for p in sorted(glob.glob(pattern))]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(measures, documents, rows, nbytes, seconds=None):
    """One method's figures from its measure.py runs (seconds: its own timings)."""
    wall = med(seconds if seconds else [m["wall"] for m in measures])
    out = {
        "documents": documents, "rows": rows, "copy_bytes": nbytes, "wall_s": wall,
        "peak_rss_kib": med([m["maxrss_kib"] for m in measures]),
        "cpu_s": med([m["user"] + m["sys"] for m in measures]),
        "server_backend_cpu_s": med([m.get("backend_cpu") for m in measures]),
        "server_other_cpu_s": med([m.get("server_cpu") for m in measures]),
        "runs": measures,
    }
    out["documents_per_s"] = documents / wall if documents and wall else None
    out["rows_per_s"] = rows / wall if wall else None
    out["mb_per_s"] = nbytes / 1e6 / wall if wall else None
    return out


def cell(value, fmt):
    return "-" if value is None else format(value, fmt)


def print_table(methods):
    head = (f"{'':34} {'documents':>10} {'rows':>10} {'COPY MB':>8} {'wall s':>8} "
            f"{'docs/s':>8} {'rows/s':>9} {'MB/s':>7} {'peak RSS':>9} {'CPU s':>7} "
            f"{'server CPU s':>12}")
    print(head)
    for label, m in methods:
        server = None
        if m["server_backend_cpu_s"] is not None:
            server = m["server_backend_cpu_s"] + (m["server_other_cpu_s"] or 0)
        print(f"{label:34} {cell(m['documents'], ',d'):>10} {cell(m['rows'], ',d'):>10} "
              f"{m['copy_bytes'] / 1e6:>8.1f} {cell(m['wall_s'], '.2f'):>8} "
              f"{cell(m['documents_per_s'], ',.0f'):>8} {cell(m['rows_per_s'], ',.0f'):>9} "
              f"{cell(m['mb_per_s'], '.2f'):>7} "
              f"{cell(m['peak_rss_kib'] / 1024 if m['peak_rss_kib'] else None, '.1f'):>5} MiB "
              f"{cell(m['cpu_s'], '.2f'):>7} {cell(server, '.2f'):>12}")


def ratio(a, b):
    return a / b if a is not None and b else None


def load(outdir):
    info = load_json(os.path.join(outdir, "info.json"))
    copy = load_json(os.path.join(outdir, "copy", "manifest.json"))
    rows = sum(t["rows"] for t in copy)
    nbytes = sum(t["bytes"] for t in copy)
    docs = info["documents"]
    p = lambda name: os.path.join(outdir, name)
    methods = [
        ("mongonorm", "mongonorm run (full load)",
         summarize(runs(p("mongonorm-*.json")), docs, rows, nbytes)),
        ("ceiling", "ceiling: psql \\copy, 1 transaction", summarize(runs(p("ceiling-*.json")),
                                                                   docs, rows, nbytes)),
    ]
    fast = runs(p("fast-*.json"))
    if fast:
        methods.append(("ceiling_indexes_after", "ceiling, indexes + FKs after",
                        summarize(fast, docs, rows, nbytes)))
    peer_out = runs(p("peer-*.out"))
    if peer_out:
        sample = load_json(p(os.path.join("sample", "manifest.json")))
        srows = sum(t["rows"] for t in sample)
        sbytes = sum(t["bytes"] for t in sample)
        done = int(med([o["rows"] for o in peer_out]))
        peer = summarize(runs(p("peer-*.json")), None, done, sbytes * done // max(srows, 1),
                         [o["seconds"] for o in peer_out])
        # a capped run inserts fewer rows: the rate is each run's own, then its median
        rate = med([o["rows"] / o["seconds"] for o in peer_out if o["seconds"]])
        peer.update(rows_per_s=rate, mb_per_s=rate * sbytes / max(srows, 1) / 1e6, wall_s=done / rate)
        peer["sample_rows"] = srows
        peer["capped_runs"] = sum(1 for o in peer_out if o["capped"])
        methods.append(("peer", "row-by-row peer (Node pg, sample)", peer))
    byname = {k: m for k, _, m in methods}
    mn = byname["mongonorm"]
    ratios = {
        "mongonorm_over_ceiling": ratio(mn["wall_s"], byname["ceiling"]["wall_s"]),
        "mongonorm_over_ceiling_indexes_after":
            ratio(mn["wall_s"], byname.get("ceiling_indexes_after", {}).get("wall_s")),
        "ceiling_indexes_after_over_ceiling":
            ratio(byname.get("ceiling_indexes_after", {}).get("wall_s"),
                  byname["ceiling"]["wall_s"]),
        "mongonorm_speedup_over_peer":
            ratio(mn["rows_per_s"], byname.get("peer", {}).get("rows_per_s")),
    }
    print(f"scale {info['scale']}: {docs:,} documents -> {rows:,} rows, {nbytes / 1e6:.1f} MB of "
          f"COPY text; median of {info['repeat']}")
    print(f"{info['server']}; load average {info['load_average']} at the start")
    print_table([(label, m) for _, label, m in methods])
    if "peer" in byname:
        pr = byname["peer"]
        capped = f", {pr['capped_runs']} of {len(peer_out)} run(s) stopped at the time cap"
        print(f"peer: {pr['rows']:,} of a {pr['sample_rows']:,}-row sample closed under the "
              f"foreign keys{capped if pr['capped_runs'] else ''}; rows/s over its inserting "
              "time (median of the runs' rates; wall s = rows / that rate)")
    fmt = lambda v, f: "-" if v is None else format(v, f)
    print(f"mongonorm / ceiling: {fmt(ratios['mongonorm_over_ceiling'], '.2f')}x "
          f"(goal <= 0.5); / ceiling with indexes + FKs after: "
          f"{fmt(ratios['mongonorm_over_ceiling_indexes_after'], '.2f')}x "
          f"(that ceiling / the ceiling: {fmt(ratios['ceiling_indexes_after_over_ceiling'], '.2f')}x)")
    if len(mn["runs"]) > 1:
        per_round = [m["wall"] / c["wall"] for m, c in zip(mn["runs"], byname["ceiling"]["runs"])]
        ratios["mongonorm_over_ceiling_per_round"] = per_round
        print("  per round (same conditions, interleaved): "
              + ", ".join(f"{r:.2f}x" for r in per_round))
    print(f"mongonorm vs the row-by-row peer: {fmt(ratios['mongonorm_speedup_over_peer'], '.1f')}x "
          "faster in rows/s (goal >= 20x)")
    result = dict(info, rows=rows, copy_bytes=nbytes,
                  methods={k: m for k, _, m in methods}, ratios=ratios,
                  goals={"mongonorm_over_ceiling": "<= 0.5",
                         "mongonorm_speedup_over_peer": ">= 20"})
    with open(p("result.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"written: {p('result.json')}")


def incremental(outdir):
    info = load_json(os.path.join(outdir, "info.json"))
    copy = load_json(os.path.join(outdir, "copy", "manifest.json"))
    rows = sum(t["rows"] for t in copy)
    nbytes = sum(t["bytes"] for t in copy)
    p = lambda name: os.path.join(outdir, name)
    report = load_json(p("report-1.json"))
    new_docs = info["documents"] - info["base_documents"]
    written = {k: sum(t[k] for t in report["tables"].values())
               for k in ("inserted", "updated", "deleted", "unchanged")}
    mn = summarize(runs(p("mongonorm-*.json")), new_docs, rows, nbytes)
    ceil = summarize(runs(p("ceiling-*.json")), new_docs, rows, nbytes)
    print(f"scale {info['scale']}: {info['base_documents']:,} of {info['documents']:,} documents "
          f"loaded before; the run reads all, {new_docs:,} new -> {rows:,} new rows, "
          f"{nbytes / 1e6:.1f} MB of COPY text; median of {info['repeat']}")
    print(f"the run's rows: {written['inserted']:,} inserted, {written['updated']:,} updated, "
          f"{written['deleted']:,} deleted, {written['unchanged']:,} unchanged")
    print(f"{info['server']}; load average {info['load_average']} at the start")
    print_table([("mongonorm run (incremental)", mn),
                 ("ceiling: psql \\copy of its new rows", ceil)])
    ratios = {"mongonorm_over_ceiling": ratio(mn["wall_s"], ceil["wall_s"])}
    fmt = lambda v, f: "-" if v is None else format(v, f)
    print(f"mongonorm / ceiling: {fmt(ratios['mongonorm_over_ceiling'], '.2f')}x (goal <= 1.0)")
    if len(mn["runs"]) > 1:
        ratios["per_round"] = [m["wall"] / c["wall"] for m, c in zip(mn["runs"], ceil["runs"])]
        print("  per round (same conditions, interleaved): "
              + ", ".join(f"{r:.2f}x" for r in ratios["per_round"]))
    result = dict(info, rows=rows, copy_bytes=nbytes, run_rows=written,
                  methods={"mongonorm": mn, "ceiling": ceil}, ratios=ratios,
                  goals={"mongonorm_over_ceiling": "<= 1.0"})
    with open(p("result.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"written: {p('result.json')}")


def memory(outdir):
    info = load_json(os.path.join(outdir, "info.json"))
    curve = []
    print(f"memory curve of the full load, median of {info['repeat']}; {info['server']}; "
          f"load average {info['load_average']} at the start")
    print(f"{'scale':>8} {'documents':>11} {'rows':>11} {'wall s':>8} {'peak RSS':>12}")
    for scale, docs in info["scales"]:
        measures = runs(os.path.join(outdir, f"mongonorm-{scale}-*.json"))
        reports = runs(os.path.join(outdir, f"report-{scale}-*.json"))
        rows = sum(t["inserted"] for t in reports[0]["tables"].values()) if reports else None
        rss = med([m["maxrss_kib"] for m in measures])
        wall = med([m["wall"] for m in measures])
        curve.append({"scale": scale, "documents": docs, "rows": rows, "wall_s": wall,
                      "peak_rss_kib": rss, "runs": measures})
        print(f"{scale:>8} {docs:>11,} {cell(rows, ',d'):>11} {wall:>8.2f} "
              f"{rss / 1024:>8.1f} MiB")
    peak = max(c["peak_rss_kib"] for c in curve) / 1024
    print(f"largest peak RSS: {peak:.1f} MiB (goal: flat, <= 64 MiB)")
    with open(os.path.join(outdir, "memory.json"), "w") as f:
        json.dump(dict(info, curve=curve, goal_peak_rss_mib=64), f, indent=1)
        f.write("\n")
    print(f"written: {os.path.join(outdir, 'memory.json')}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("load", "memory", "incremental"):
        sys.exit(__doc__)
    {"load": load, "memory": memory, "incremental": incremental}[sys.argv[1]](sys.argv[2])
