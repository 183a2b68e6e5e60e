#!/usr/bin/env bash
# Where the full load's time goes (issue 10), client and server. Not a test.
#
# usage: bench/profile.sh [SCALE]   (default 10000, about 140,000 documents)
#
# 1. The split: one full load (`mongonorm run --quiet` of the generated dump into a fresh
#    `init`ed database of the bench's server, as bench/load.sh does), with the CPU time of
#    mongonorm (wait4) and of the server: the backends of the target database and the
#    server's other processes (WAL writer, checkpointer, ...), read from /proc
#    (bench/measure.py). (mongonorm CPU + backend CPU) / wall says how much the two
#    overlap: 1.0 is one at a time, 2.0 both busy all along.
# 2. The profile: a second load under `perf record -a -e cpu-clock -g` (the whole
#    machine while the load runs: mongonorm and the PostgreSQL backend), then the top
#    functions of each (self time, `perf report --comms`). PostgreSQL's functions are
#    named from its exported symbols (no debug package): a static function shows as a
#    nearby exported one. When perf cannot record here, mongonorm alone runs under
#    valgrind --tool=callgrind at a small scale (at most 1000) instead.
# Output in BUILD_DIR/bench-profile/scale-SCALE (perf.data or callgrind.out, the run
# reports). Settings: MN_BENCH_TOP (functions listed, default 25) and bench/lib.sh's.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
scale=${1:-10000}
ntop=${MN_BENCH_TOP:-25}
[[ $scale =~ ^[0-9]+$ ]] || die "SCALE must be a number, not \"$scale\""

bench_start
data=$(bench_data "$scale")
out=$build/bench-profile/scale-$scale
rm -rf "$out" && mkdir -p "$out"

say "the split: a full load of scale $scale ($(bench_documents "$data") documents)"
load_mongonorm mnb_prof "$data" "$out/split.json" "$out/split-report.json"
drop_db mnb_prof
python3 - "$out/split.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
wall, client = m["wall"], m["user"] + m["sys"]
backend, other = m["backend_cpu"], m["server_cpu"]
pct = lambda s: f"{100 * s / wall:.0f}% of the wall time"
print(f"wall {wall:.2f} s; peak RSS {m['maxrss_kib'] / 1024:.1f} MiB")
print(f"  mongonorm CPU        {client:7.2f} s (user {m['user']:.2f}, sys {m['sys']:.2f}), {pct(client)}")
print(f"  server backend CPU   {backend:7.2f} s ({m['backends']} backend(s)), {pct(backend)}")
print(f"  other server CPU     {other:7.2f} s (WAL writer, checkpointer, autovacuum, ...)")
print(f"  overlap: (mongonorm + backend CPU) / wall = {(client + backend) / wall:.2f} "
      "(1.0: one at a time; 2.0: both busy all along)")
EOF

# top_of PIDS: perf report of those processes' samples, self time, by shared object and
# function, in % of their samples
top_of() {
  perf report -i "$out/perf.data" --stdio --no-children -g none --pid "$1" \
    --percentage relative --sort dso,symbol --percent-limit 0.3 2>/dev/null |
    grep -v '^#' | grep -v '^$' | sed 's/ *- *- *$//' | sed -n "1,${ntop}p"  # (all read: no SIGPIPE)
}

if perf record -a -e cpu-clock -o "$out/probe.data" -- true >/dev/null 2>&1; then
  rm -f "$out/probe.data"
  say "the profile: a second full load under perf record -a -e cpu-clock -g"
  # the workload writes its process id, then becomes mongonorm (exec keeps the id)
  # shellcheck disable=SC2016
  load_mongonorm mnb_prof "$data" "$out/profile.json" "$out/profile-report.json" \
    perf record -q -a -e cpu-clock -F 999 -g -o "$out/perf.data" -- \
    sh -c 'echo $$ >"$0"; exec "$@"' "$out/mongonorm.pid"
  drop_db mnb_prof
  mnpid=$(cat "$out/mongonorm.pid")
  backends=$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["backend_pids"])))' \
    "$out/profile.json")
  echo
  echo "samples of the whole machine during the profiled load (it runs slower under perf):"
  perf report -i "$out/perf.data" --stdio --no-children -g none --sort pid 2>/dev/null |
    python3 -c 'import sys
mn, backends = sys.argv[1], set(sys.argv[2].split(","))
share = {"mongonorm": 0.0, "its PostgreSQL backend": 0.0, "idle": 0.0, "other processes": 0.0}
for line in sys.stdin:
    parts = line.split()
    if len(parts) < 2 or not parts[0].endswith("%") or line.startswith("#"):
        continue
    pid = parts[1].split(":")[0]
    key = ("mongonorm" if pid == mn else "its PostgreSQL backend" if pid in backends
           else "idle" if pid == "0" else "other processes")
    share[key] += float(parts[0].rstrip("%"))
for k, v in share.items():
    print(f"  {k:24} {v:5.1f}%")' "$mnpid" "$backends"
  echo
  echo "mongonorm (pid $mnpid), top functions (self, % of its samples):"
  top_of "$mnpid"
  echo
  echo "its PostgreSQL backend (pid $backends), top functions (self, % of its samples):"
  top_of "$backends"
else
  small=$((scale < 1000 ? scale : 1000))
  say "perf cannot record here: mongonorm under valgrind --tool=callgrind at scale $small"
  command -v valgrind >/dev/null || die "neither perf nor valgrind works: bash scripts/setup.sh --bench"
  load_mongonorm mnb_prof "$(bench_data "$small")" "$out/profile.json" "$out/profile-report.json" \
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out"
  drop_db mnb_prof
  echo
  echo "mongonorm at scale $small, top functions (instructions, self):"
  callgrind_annotate --inclusive=no "$out/callgrind.out" 2>/dev/null | sed -n '/^Ir/,$p' |
    sed 1,2d | sed -n "1,${ntop}p"  # (all read: no SIGPIPE)
fi
drop_all_dbs
echo
echo "written: $out"
