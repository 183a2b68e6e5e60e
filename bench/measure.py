#!/usr/bin/env python3
"""Run one command and measure it, for bench/load.sh and bench/profile.sh.

usage: measure.py --out FILE [--db NAME --pgdata DIR] -- COMMAND [ARGS...]

Writes FILE (JSON):
  wall        seconds from start to exit
  user, sys   CPU seconds of the command (and its waited-for children), from wait4()
  maxrss_kib  the command's peak resident set (wait4's ru_maxrss, KiB)
  exit        its exit status (negative: killed by that signal)
With --db and --pgdata (the server's data folder, for postmaster.pid), also the server's
side, read from /proc without a connection of our own:
  backend_cpu  CPU seconds of the server backends connected to database NAME during the
               run (found by their process title "postgres: USER NAME ..."; sampled every
               0.1 s, so up to 0.1 s of a backend's last work can be missed)
  backends     how many such backends were seen; backend_pids their process ids
  server_cpu   CPU seconds of the server's other processes (WAL writer, checkpointer,
               background writer, ...) during the run
Exits with the command's status (128 + signal when killed), so callers decide what a
failure is. Needs only Python 3's standard library: GNU time is not required.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime of a process in seconds, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_ppid(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def proc_title(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def server_children(postmaster):
    """pid -> title of every child of the postmaster."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and proc_ppid(int(name)) == postmaster:
            out[int(name)] = proc_title(int(name))
    return out


def is_backend_of(title, db):
    # "postgres: postgres mnb_load_1 [local] COPY": user, database, client, activity
    words = title.split()
    return len(words) >= 3 and words[0] == "postgres:" and words[2] == db


class ServerWatch:
    """The CPU the server spends for one database's sessions, and the rest of it."""

    def __init__(self, db, pgdata):
        with open(os.path.join(pgdata, "postmaster.pid")) as f:
            self.postmaster = int(f.readline())
        self.db = db
        # pid -> [is a backend of db, CPU at first sight (0 for those born during the
        # run), CPU last seen]
        self.procs = {self.postmaster: [False] + [proc_cpu(self.postmaster) or 0.0] * 2}
        self.last_scan = None
        self.start = time.monotonic()
        self.scan(first=True)

    def scan(self, first=False):
        for pid, title in server_children(self.postmaster).items():
            if pid not in self.procs:
                cpu = proc_cpu(pid) or 0.0
                self.procs[pid] = [is_backend_of(title, self.db), cpu if first else 0.0, cpu]

    def poll(self, now):
        # often at first, to see short sessions; then every 0.25 s (a scan of /proc
        # costs about 2 ms)
        every = 0.1 if now - self.start < 3 else 0.25
        if self.last_scan is None or now - self.last_scan >= every:
            self.last_scan = now
            self.scan()
        for entry in self.procs.items():
            cpu = proc_cpu(entry[0])
            if cpu is not None:
                entry[1][2] = cpu

    def result(self):
        self.poll(time.monotonic())
        backend = sum(last - base for is_b, base, last in self.procs.values() if is_b)
        others = sum(last - base for is_b, base, last in self.procs.values() if not is_b)
        return {
            "backend_cpu": round(backend, 3),
            "backends": sum(1 for p in self.procs.values() if p[0]),
            "backend_pids": sorted(pid for pid, p in self.procs.items() if p[0]),
            "server_cpu": round(others, 3),
        }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--db")
    parser.add_argument("--pgdata")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")
    watch = ServerWatch(args.db, args.pgdata) if args.db and args.pgdata else None
    start = time.monotonic()
    child = subprocess.Popen(command)
    stop = threading.Event()
    poller = None
    if watch:
        def poll():
            while not stop.wait(0.1):
                watch.poll(time.monotonic())
        watch.poll(time.monotonic())
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    now = time.monotonic()
    stop.set()
    if poller:
        poller.join()
    result = {
        "wall": round(now - start, 3),
        "user": round(usage.ru_utime, 3),
        "sys": round(usage.ru_stime, 3),
        "maxrss_kib": usage.ru_maxrss,
        "exit": os.waitstatus_to_exitcode(status),
    }
    if watch:
        result.update(watch.result())
    with open(args.out, "w") as f:
        json.dump(result, f)
        f.write("\n")
    code = result["exit"]
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
