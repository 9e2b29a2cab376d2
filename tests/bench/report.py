#!/usr/bin/env python3
"""Writes docs/performance.md and the gnuplot script of its plot from the raw results of
tests/bench/run. Input: the environment (RESULTS, OUT_DIR, machine facts; see the end
of tests/bench/run); RESULTS/tmpfs holds the second pass when there was one."""

import glob
import json
import math
import os
import re
import statistics
import sys
from datetime import datetime, timezone

ENV = os.environ
RES = ENV["RESULTS"]
RES2 = os.path.join(RES, "tmpfs")
OUT = ENV["OUT_DIR"]
CONCURRENCY = [1, 8, 64]
NPROC = int(ENV["MACHINE_NPROC"])
ROUNDS = int(ENV["ROUNDS"])


def load(name, res=RES):
    with open(os.path.join(res, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q * len(sorted_values))))
    return sorted_values[rank - 1]


def pgbench(name, res=RES):
    """tps and latency percentiles (ms) of one pgbench run, from its per-transaction logs."""
    with open(os.path.join(res, name + ".txt"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", text, re.M)
    if not m:
        sys.exit(f"report.py: no tps in {res}/{name}.txt")
    latencies = []
    for path in glob.glob(os.path.join(res, name + ".log*")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 3:
                    latencies.append(int(fields[2]) / 1000.0)  # us -> ms
    latencies.sort()
    return {
        "tps": float(m.group(1)),
        "p50": percentile(latencies, 0.50),
        "p90": percentile(latencies, 0.90),
        "p99": percentile(latencies, 0.99),
        "max": latencies[-1] if latencies else float("nan"),
    }


def median_run(runs):
    """One run's shape, each number the median of `runs` (of the runs that have it)."""
    first = runs[0]
    if isinstance(first, dict):
        keys = list(dict.fromkeys(k for r in runs for k in r))
        return {k: median_run([r[k] for r in runs if k in r]) for k in keys}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return statistics.median(runs)
    return first


BENCH_NAMES = {1: "lockstep", 8: "send-c8", 64: "send-c64"}


def rounds(res, c):
    """The rounds at concurrency c: (tchatator-bench medians, pgbench INSERT medians), the
    former with the median and the list of the per-round ratios of the two."""
    sends = [load(f"{BENCH_NAMES[c]}.r{r}", res) for r in range(1, ROUNDS + 1)]
    pgs = [pgbench(f"pgbench-insert-c{c}.r{r}", res) for r in range(1, ROUNDS + 1)]
    send = median_run(sends)
    send["rounds"] = sends
    send["ratios"] = [s["ok_rps"] / p["tps"] for s, p in zip(sends, pgs)]
    send["ratio"] = statistics.median(send["ratios"])
    return send, median_run(pgs)


def ms(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.2f}" if v >= 10 else f"{v:.3f}"


def num(v):
    return f"{v:,.0f}".replace(",", " ")


def verdict(ok):
    return "**met**" if ok else "**missed**"


def sql_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def bench_command(name, res=RES):
    with open(os.path.join(res, name + ".cmd"), encoding="utf-8") as f:
        cmd = f.read().strip()
    cmd = re.sub(r"^\S*/tchatator-bench", "tchatator-bench", cmd)
    cmd = re.sub(r"/tmp/tchatator-bench\.\w+/", "", cmd)
    cmd = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", cmd)
    cmd = re.sub(r"--gateway-pid \d+", "--gateway-pid PID", cmd)
    return re.sub(r" --cpu(-tree)? \S+", "", cmd)


# ---- data ----------------------------------------------------------------------------
def pass_results(res):
    both = {c: rounds(res, c) for c in CONCURRENCY}
    return ({c: both[c][0] for c in CONCURRENCY}, {c: both[c][1] for c in CONCURRENCY},
            {c: pgbench(f"pgbench-sendtxn-c{c}", res) for c in CONCURRENCY})


send, pg, txn = pass_results(RES)
mix = load("mix-c64")
limited = load("send-limited")
idle = load("idle")
with open(os.path.join(RES, "limit-check.txt"), encoding="utf-8") as f:
    limit_senders, limit_min, limit_max, limit_window_max = (int(x) for x in f.read().split())

tmpfs = os.path.exists(os.path.join(RES2, "pgbench-sendtxn-c64.txt"))
if tmpfs:
    send2, pg2, txn2 = pass_results(RES2)

# ---- targets -------------------------------------------------------------------------
def targets(s, p):
    return {
        "ratio64": s[64]["ratio"],
        "throughput": s[64]["ratio"] >= 1.0,
        "p99": s[64]["latency_ms"]["p99"] < 10.0,
        "lockstep": s[1]["latency_ms"]["p50"] < 0.5,
    }


t_main = targets(send, pg)
t_tmpfs = targets(send2, pg2) if tmpfs else None
i = idle["idle"]
growth = i["growth_bytes_per_connection"]
held_all = i["alive_after_hold"] == i["target"] and i["failed"] == 0
t_idle = held_all and 0 <= growth < 4096
acc = limited["accepted_per_sender"]
t_limit = (limit_window_max <= 12 and acc["max"] <= 12 and limit_max <= 12
           and acc["limited_without_retry_after"] == 0 and limited["connection_errors"] == 0)
limit_exact = limit_min == 12 and limit_max == 12 and limit_senders == int(ENV["PAIRS_LIMIT"])

# ---- markdown ------------------------------------------------------------------------
now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
mem_gib = int(ENV["MACHINE_MEM_KIB"]) / 1024 / 1024
fsync_ms = int(ENV["FSYNC_US"]) / 1000 if ENV.get("FSYNC_US") else None
L = []
w = L.append


def send_table(s, p, tx):
    w("| scenario | conc. | tchatator SEND_MSG/s | p50 | p90 | p99 | max | pgbench INSERT tx/s | ratio | ratio of each round | pgbench send txn tx/s |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in CONCURRENCY:
        r, b = s[c], p[c]
        lat = r["latency_ms"]
        label = "lock-step" if c == 1 else "closed loop"
        w(f"| {label} | {c} | {num(r['ok_rps'])} | {ms(lat['p50'])} | {ms(lat['p90'])} | "
          f"{ms(lat['p99'])} | {ms(lat['max'])} | {num(b['tps'])} | **{r['ratio']:.2f}x** | "
          f"{' '.join(f'{x:.2f}' for x in r['ratios'])} | {num(tx[c]['tps'])} |")


def pgbench_table(p, tx):
    w("| pgbench script | clients | tx/s | p50 | p90 | p99 | max |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for label, runs in (("single-row INSERT", p), ("product's send transaction", tx)):
        for c in CONCURRENCY:
            b = runs[c]
            w(f"| {label} | {c} | {num(b['tps'])} | {ms(b['p50'])} | {ms(b['p90'])} | "
              f"{ms(b['p99'])} | {ms(b['max'])} |")


def cpu_table(rows):
    w("| scenario | req/s | gateway | core | postgres | bench | total (of "
      f"{NPROC}) |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for label, r in rows:
        cpu = r.get("cpu", {})
        cells, total = [], 0.0
        for name in ("gateway", "core", "postgres", "bench"):
            v = cpu.get(name)
            if not v or v["seconds"] < 0:
                cells.append("n/a")
                continue
            total += v["cores"]
            kernel = 100 * v["system_seconds"] / v["seconds"] if v["seconds"] > 0 else 0
            cells.append(f"{v['cores']:.2f} / {v['us_per_request']:.0f} us / {kernel:.0f}% sys")
        w(f"| {label} | {num(r['throughput_rps'])} | " + " | ".join(cells) + f" | {total:.2f} |")


def statements_table(path, per, label):
    if not os.path.exists(path):
        return
    w(f"{label}: pg_stat_statements over the whole run (`PG_STATEMENTS=1`; log-ins and warm-up")
    w("included). Mean wall time of each execution inside PostgreSQL (waits for locks and for")
    w("the CPU included), without the round trips and the WAL flush at COMMIT.")
    w("")
    w("| calls per request | mean ms | share of time | statement |")
    w("|---:|---:|---:|---|")
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 5 and "pg_stat_statements" not in parts[4]:
                rows.append(parts)
    total_ms = sum(float(r[1]) for r in rows) or 1.0
    for calls, tot, mean, _rows, query in rows:
        q = query.replace("|", "\\|")
        w(f"| {int(calls) / max(per, 1):.2f} | {float(mean):.3f} | "
          f"{100 * float(tot) / total_ms:.0f}% | `{q}` |")
    w("")


w("# Performance")
w("")
w("Written by `tests/bench/run` (issue 8): do not edit by hand, run it again. Every")
w("tchatator figure is set against pgbench on the same PostgreSQL, measured minutes")
w("earlier in the same run.")
w("")
w("## Machine and run")
w("")
w(f"- date: {now}; whole run {ENV['RUN_SECONDS']} s")
w(f"- CPU: {ENV['MACHINE_CPU']}, {NPROC} logical CPUs; RAM {mem_gib:.1f} GiB")
w(f"- OS: {ENV['MACHINE_OS']}, kernel {ENV['MACHINE_KERNEL']}")
w(f"- PostgreSQL {ENV['PG_VERSION_TEXT']}: private cluster, default settings except "
  "`max_connections = 200` (fsync and synchronous_commit on), reached over TCP on loopback")
if fsync_ms is not None:
    w(f"- PostgreSQL data on {ENV['PG_STORAGE']}: one 8 kB synchronous write there takes "
      f"{fsync_ms:.2f} ms (`dd bs=8k oflag=dsync`, mean of 200), the floor of a commit")
w(f"- tchatator: commit {ENV['GIT_REV']}, build type {ENV['BUILD_TYPE'] or 'RelWithDebInfo (the default)'};"
  f" gateway threads {ENV['GATEWAY_THREADS']}, core database pool {ENV['POOL_SIZE']}")
w(f"- PostgreSQL, core, gateway and the load generators share the {NPROC} CPUs; "
  f"open-file limit {ENV['ULIMIT_N']}")
niceness = os.nice(0)
if niceness != 0:
    w(f"- run at scheduling priority nice {niceness}, so that other work on the machine disturbs it less")
# Set-up and measuring raise the load average themselves: only the load at the start
# says whether other work was running.
busy = float(ENV["LOAD_START"].split()[0]) > NPROC / 2
w(f"- load average (1, 5, 15 min) at the start: {ENV['LOAD_START']}; before measuring (after"
  f" the set-up): {ENV['LOAD_BEFORE']}; after (this run's own load included):"
  f" {ENV['LOAD_AFTER']}"
  + (" — **the machine was busy with other work at the start, which distorts the figures"
     " below** (`WAIT_FOR_QUIET=600 tests/bench/run` waits for a quiet machine)"
     if busy else ""))
w("")
w("## Targets (issue 8)")
w("")
w("| target | " + ("PostgreSQL on disk | | on tmpfs (no flush) | |" if tmpfs else "reached | |"))
w("|---|---|---|" + ("---|---|" if tmpfs else ""))


def target_row(label, main_value, main_ok, tmpfs_value=None, tmpfs_ok=None):
    row = f"| {label} | {main_value} | {verdict(main_ok)} |"
    if tmpfs:
        row += f" {tmpfs_value} | {verdict(tmpfs_ok)} |" if tmpfs_value is not None else " | |"
    w(row)


target_row("64 connections: SEND_MSG/s at least 1.0x pgbench INSERT tx/s at 64 clients",
           f"{t_main['ratio64']:.2f}x ({num(send[64]['ok_rps'])} vs {num(pg[64]['tps'])})",
           t_main["throughput"],
           f"{t_tmpfs['ratio64']:.2f}x ({num(send2[64]['ok_rps'])} vs {num(pg2[64]['tps'])})" if tmpfs else None,
           t_tmpfs["throughput"] if tmpfs else None)
target_row("64 connections: p99 under 10 ms", f"{ms(send[64]['latency_ms']['p99'])} ms", t_main["p99"],
           f"{ms(send2[64]['latency_ms']['p99'])} ms" if tmpfs else None,
           t_tmpfs["p99"] if tmpfs else None)
target_row("lock-step, one connection: p50 under 0.5 ms", f"{ms(send[1]['latency_ms']['p50'])} ms",
           t_main["lockstep"], f"{ms(send2[1]['latency_ms']['p50'])} ms" if tmpfs else None,
           t_tmpfs["lockstep"] if tmpfs else None)
target_row(f"{i['target']} idle connections held, gateway growth under 4 KiB each",
           f"{growth:.0f} B per connection, {i['alive_after_hold']} held", t_idle)
target_row("rate limit on: never more than 12 accepted per sender per minute",
           f"at most {max(limit_window_max, acc['max'])}", t_limit)
w("")
if fsync_ms is not None:
    w(f"On this storage one synchronous 8 kB write takes {fsync_ms:.2f} ms and pgbench's own")
    w(f"lock-step INSERT has a p50 of {ms(pg[1]['p50'])} ms: an answer given only after its commit")
    w("cannot be faster, whatever the software does. The tmpfs pass shows what the software")
    w("costs when a commit costs no flush (as on a disk with a fast write cache).")
    w("")
# Little's law: 64 clients that each wait for their answer before sending again have a
# mean latency of 64 / throughput, and a p99 is never below the mean.
need64 = 64 / 0.010
w("With 64 connections that each wait for their answer before sending again, the mean")
w("latency is 64 divided by the throughput, and a p99 is never below the mean: a p99 under")
w(f"10 ms needs more than {num(need64)} SEND_MSG/s, that is at least"
  f" {need64 / pg[64]['tps']:.2f}x pgbench's {num(pg[64]['tps'])} tx/s"
  + (" on disk" if tmpfs else "."))
if tmpfs:
    w(f"({need64 / pg2[64]['tps']:.2f}x its {num(pg2[64]['tps'])} on tmpfs).")
w(f"pgbench's own p99 at 64 clients was {ms(pg[64]['p99'])} ms"
  + (f" on disk and {ms(pg2[64]['p99'])} ms on tmpfs." if tmpfs else "."))
w("")
w("Before the work on issue 8 (group commit, one statement per batch of sends, NOTIFY after")
w("the commit, batched session look-ups, a gateway connection without coroutines while idle),")
w("the same benchmark gave (run of 2026-11-26 06:34 UTC, machine busy, figures in ms):")
w("")
w("| SEND_MSG | disk: req/s | p50 | p90 | p99 | ratio | tmpfs: req/s | p50 | p90 | p99 | ratio |")
w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
w("| lock-step | 154 | 5.195 | 11.18 | 19.34 | 0.82x | 175 | 2.452 | 14.83 | 21.40 | 0.07x |")
w("| 8 connections | 327 | 22.10 | 42.78 | 63.97 | 0.32x | 949 | 5.915 | 15.86 | 42.75 | 0.17x |")
w("| 64 connections | 237 | 264.34 | 353.69 | 414.22 | 0.06x | 1 030 | 60.91 | 83.44 | 109.79 | 0.21x |")
w("")
w("and 6606 bytes of gateway memory per idle connection.")
w("")
w("The same benchmark at the end of each working session since (run time in UTC and")
w("commit; ratio: against pgbench's INSERT in the same run, from 2026-11-27 13:26 on the")
w("median of 3 rounds; latencies in ms; the mix on disk; \"then\": what the next")
w("session changed):")
w("")
w("| session end | disk: lock-step p50 | 64 conn. req/s | ratio | p99 | tmpfs: lock-step p50 | 64 conn. req/s | ratio | p99 | mix req/s | then |")
w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
w("| 2026-11-26 12:46, 34ccc40 | 1.686 | 2 167 | 0.41x | 61.32 | 1.659 | 2 556 | 0.42x | 49.07 | 1 288 | migration 0008 and the core's asynchronous send path |")
w("| 2026-11-26 14:19, 56c4c92 | 1.491 | 3 219 | 0.55x | 34.6 | 1.279 | 4 112 | 0.51x | 31.1 | 1 541 | migration 0010 and the core's session cache |")
w("| 2026-11-26 16:59, 1002758 | 1.347 | 3 514 | 0.45x | 36.7 | 0.765 | 4 278 | 0.45x | 28.9 | 1 586 | simultaneous SEND_MSGs in one `SendMessages` call |")
w("| 2026-11-26 20:51, 2bf9fc2 | 1.290 | 4 904 | 0.42x | 22.7 | 0.961 | 6 158 | 0.61x | 21.3 | 1 809 | migration 0011 (index scans only); `SendMessages` answered before its deadline |")
w("| 2026-11-27 05:12, 0e5cc40, busy | 1.758 | 4 552 | 0.80x | 24.7 | 0.998 | 5 264 | 0.63x | 21.0 | 1 446 | migration 0012, cheaper SHA-256 and time formatting, a coroutine per command |")
w("| 2026-11-27 08:44, c00bea8, busy | 1.394 | 5 019 | 0.93x | 24.0 | 1.148 | 5 745 | 0.58x | 19.8 | 1 748 | the product unchanged |")
w("| 2026-11-27 10:39, a1575e2, quiet, no rounds | 1.296 | 6 875 | 0.84x | 16.8 | 0.800 | 6 696 | 0.62x | 19.1 | 2 111 | one batch of sends at a time, cheaper escaping of the batch's arrays; rounds in the benchmark |")
w("| 2026-11-27 13:26, 66e9e46 | 1.387 | 4 564 | 0.88x | 24.18 | 1.034 | 5 908 | 0.76x | 18.72 | 1 445 | NOTIFY hints only for live recipients (0013) |")
w("| 2026-11-27 15:50, a78362f | 1.269 | 7 538 | 1.01x | 15.73 | 0.896 | 6 294 | 0.68x | 17.74 | 1 927 | the product unchanged |")
w("| 2026-11-27 17:56, f722d82 | 1.184 | 5 229 | 0.90x | 21.67 | 0.922 | 5 851 | 0.67x | 18.81 | 1 611 | the product unchanged |")
w("| 2026-11-27 19:55, 4473785 | 1.380 | 4 961 | 0.84x | 21.56 | 1.927 | 5 941 | 0.72x | 17.81 | 1 562 | the send path unchanged (the gateway's token and id checks, GET_HISTORY's 404) |")
w("| 2026-11-27 22:32, d354c5b | 1.292 | 4 998 | 0.84x | 20.67 | 0.941 | 6 392 | 0.78x | 16.50 | 1 645 | a send whose caller's deadline has passed when its statement is about to run is dropped (one clock read per batch); the send path otherwise unchanged (the run of ac8fe7d below has the first part of it) |")
w("| 2026-11-28 03:44, ac8fe7d | 2.766 | 4 739 | 0.93x | 23.76 | 0.967 | 5 178 | 0.75x | 20.16 | 1 571 | the send path unchanged; `tests/bench/hops`. Another machine of the same kind from here: 9d3c663 there (2026-11-28 12:31) gave 1.056 / 6 988 / 0.91x / 17.31, tmpfs 0.845 / 5 601 / 0.74x / 18.65, mix 1 712 |")
w("| 2026-11-28 13:18, d5546bd | 1.341 | 5 223 | 0.92x | 20.29 | 0.928 | 5 966 | 0.70x | 18.33 | 1 701 | the send path unchanged; the gateway's channel watches the cores' health (gRPC health checking: nothing per call) |")
w("| 2026-11-28 16:22, 334f979 | 1.138 | 5 393 | 0.93x | 19.33 | 0.878 | 6 100 | 0.72x | 19.16 | 1 783 | request lines written by a thread of each daemon, many per write, instead of one write on each request's path |")
w("| 2026-11-29 02:47, 68fb95b | 1.552 | 4 660 | 1.00x | 24.19 | 0.948 | 5 532 | 0.82x | 19.17 | 1 515 | the product unchanged (a slow hour: pgbench's INSERT 4 985 tx/s at 64 clients, 6 018 at 16:22 and 5 975 at 03:22) |")
w("| 2026-11-29 03:22, 4224939 | 1.180 | 5 773 | 1.00x | 18.67 | 0.910 | 6 448 | 0.78x | 16.85 | 1 654 | the send path unchanged but for one search of each content for a CR before a LF; JIT off on every connection, the change feed's too (the pool's was already) |")
w("| 2026-11-29 10:22, c37fb37 | 1.277 | 5 307 | 0.85x | 19.97 | 0.899 | 6 313 | 0.83x | 18.16 | 1 723 | in the gateway: a subscriber's next event read only while under 64 KiB wait, client sockets with TCP_NOTSENT_LOWAT, the channel to the core without BDP probing, input paused past max-output-bytes instead of a close, one clock read per write |")
w("| 2026-11-29 14:12, 18bb13a | 1.491 | 5 481 | 1.01x | 21.12 | 0.977 | 5 735 | 0.75x | 18.84 | 1 688 | the send path unchanged: the failed-login limit judged under a lock per address, NEW_CHG_AVAILABLE pages of at most 1 MiB of contents, takes committed earlier by their answer's size, max-output-bytes read once per connection, an index of the administrators (0015) |")
w("| 2026-11-29 16:00, d87853a | 1.512 | 8 069 | 2.55x | 16.38 | 1.008 | 11 215 | 2.36x | 12.39 | 2 236 | pgbench's INSERT at 64 clients far slower on this VM (3 143 tx/s on disk, 5 731 the session before); then on the send path: Prometheus counts and times of each request (a mutex each in the gateway, one in the core per call); the gateway's channel without the 100 ms limit on connection attempts |")
w("")
w("The send path has not changed since the 15:50 run: at 64 connections on disk, that run")
w("gave 1.01x, and runs of the same code since then 0.88x, 0.89x and 0.90x (17:28 to")
w("17:56), then, in 5 rounds, 0.92x (19:43) and 0.84x (19:55). The first run in rounds")
w("(3f48b40, 2026-11-27 11:19) gave rounds of 0.74, 1.02 and 0.77 there. On this shared")
w("machine, runs of the same code differ that much.")
w("The run of 2026-11-28 03:44 (ac8fe7d) met a slower disk: one")
w("synchronous 8 kB write took 0.50 ms (0.27 ms the evening before) and pgbench's lock-step")
w("INSERT 0.656 ms (0.339): its lock-step p50 on disk, 2.766 ms, is 0.24x of pgbench as")
w("before (0.25x). Minutes later, on the same disk, pgbench's INSERT took 0.35 ms again")
w("and a lock-step SEND_MSG 1.12 to 1.28 ms (p50 of 3 000, `deploy/local/up`).")
w("Three short runs of the same build an hour after the 13:18 run (`AB_DISK=1 tests/bench/ab`,")
w("2026-11-28 15:35 to 15:45 UTC, 6 s per scenario) gave, at 64 connections on disk, 12 743,")
w("5 225 and 7 386 SEND_MSG/s, 1.29x, 0.77x and 0.87x of the pgbench run beside each")
w("(9 859, 6 808 and 8 476 tx/s), with a p99 of 9.53, 19.31 and 15.40 ms: the first met")
w("both 64-connection targets, the second neither, minutes apart.")
w("")
w("![latency and throughput against concurrency](performance-latency.png)")
w("")
w("## SEND_MSG against the bare database")
w("")
w("SEND_MSG through gateway, gRPC, core and commit, in a closed loop (each connection")
w("sends its next request when the previous answer arrives), against pgbench's single-row")
w("`INSERT INTO messages` at the same concurrency. Rate limit disabled through configuration")
w("(`TCHATATOR_MAX_MESSAGES_PER_MINUTE=0`, `..._PER_HOUR=0`). Latencies in milliseconds. The")
w("last column is pgbench running the product's whole send transaction (below).")
w("")
w(f"At each concurrency the run made {ROUNDS} rounds of pgbench then tchatator, back to back,")
w("as this machine's speed drifts within minutes: each figure is the median of the rounds,")
w("each round's ratio compares two runs made seconds apart, and the ratio is their median.")
w("")
w(f"PostgreSQL on {ENV['PG_STORAGE']}:")
w("")
send_table(send, pg, txn)
w("")
if tmpfs:
    w(f"PostgreSQL on tmpfs (second pass, {ENV['TMPFS_DURATION']} s per run):")
    w("")
    send_table(send2, pg2, txn2)
    w("")
w("Ratio: tchatator's SEND_MSG answered 200 per second divided by pgbench's transactions per")
all_runs = [(f"{BENCH_NAMES[c]} round {k + 1}", r) for c in CONCURRENCY
            for k, r in enumerate(send[c]["rounds"])] + [("mix-c64", mix)]
if tmpfs:
    all_runs += [(f"tmpfs {BENCH_NAMES[c]} round {k + 1}", r) for c in CONCURRENCY
                 for k, r in enumerate(send2[c]["rounds"])]
bad = {n: r for n, r in all_runs if set(r["status"]) - {"200"} or r["connection_errors"]}
if bad:
    w("second. **Not every request was answered 200:** " + "; ".join(
        f"{n}: statuses {r['status']}, lost connections {r['connection_errors']}"
        for n, r in bad.items()))
else:
    w("second. Every request of these scenarios was answered 200, no connection was lost.")
w("")
w("### The mix")
w("")
lat = mix["latency_ms"]
w(f"64 connections (32 member/pro pairs logged in on both sides), each sending SEND_MSG to its")
w(f"peer, then GET_UNREAD, then GET_HISTORY, in turn: {num(mix['ok_rps'])} requests/s in all.")
w("")
w("| request | per second | p50 | p90 | p99 | max |")
w("|---|---:|---:|---:|---:|---:|")
w(f"| all | {num(mix['ok_rps'])} | {ms(lat['p50'])} | {ms(lat['p90'])} | {ms(lat['p99'])} | {ms(lat['max'])} |")
for cmd, v in mix["commands"].items():
    w(f"| {cmd} | {num(v['count'] / mix['elapsed_s'])} | {ms(v['p50'])} | {ms(v['p90'])} | "
      f"{ms(v['p99'])} | {ms(v['max'])} |")
w("")
w("### The bare database")
w("")
w("pgbench: a single-row INSERT of the product's shape (the baseline of the ratios) and, for")
w("the analysis, what the core sends for a SEND_MSG alone in its batch (`storage/pg_store.cc`):")
w("`tch_send_batch` (migrations 0006, 0008, 0010 and 0012: an advisory lock on sender and")
w("recipient, check the sender's session and the rules, INSERT the message and the change,")
w("one statement, so one round trip and one commit). A NOTIFY hint, a statement of its own")
w("that writes nothing, follows only for recipients with a live stream (migration 0013),")
w("which the bench's are not. Under load the core puts many concurrent sends in one")
w("`tch_send_batch` call (group commit). Every pgbench transaction of this run stored its")
w("message: `tests/bench/run` counts the rows of `messages` before and after each pgbench")
w("run and stops if they differ from the transactions processed (a refused send would")
w("otherwise count as a transaction like any other).")
w("")
w(f"PostgreSQL on {ENV['PG_STORAGE']}:")
w("")
pgbench_table(pg, txn)
w("")
if tmpfs:
    w("PostgreSQL on tmpfs:")
    w("")
    pgbench_table(pg2, txn2)
    w("")
w("Where a one-row `tch_send_batch` spends its time (measured apart from this run, on")
w("2026-11-27, with callgrind on a tmpfs copy of the cluster, 300 000 messages, counting")
w("user-space instructions per call, which do not vary from run to run): about 1 050 000,")
w("against 160 000 for the single-row INSERT. 31 % is executor start-up of its plan of")
w("about 45 nodes (4 materialized CTEs, 2 hash joins on `users` because the generic plan")
w("guesses 10 rows for `unnest`, 2 lateral aggregates, a window, 3 sorts, 2 inserts), 17 %")
w("the two INSERTs and their 9 index entries, 9 % the rate-limit lateral even with the")
w("limits off; the `SET plan_cache_mode` clause costs under 1 % (without it the statement")
w("is planned on every call: 3 900 000). A procedural version for a lone send measured")
w("31 % fewer instructions (+30 % statement throughput at 1 client, +12 % for the whole")
w("send transaction, nothing for batches, where it was 2.5 times worse per row); it is not")
w("in the product, since it would be a second implementation of the send rules for a tenth")
w("of a millisecond of lock-step latency. In time (2026-11-27 21:00 UTC, pgbench at one")
w("client on tmpfs, 5 alternating runs of 3 s, a slower hour, when the single-row INSERT")
w("took 0.14 to 0.17 ms): `tch_send_batch` with one send 0.36 to 0.44 ms, a procedural")
w("version with scalar arguments (still without the ban, rate-limit and live checks) 0.24")
w("to 0.32 ms. The NOTIFY statement, when recipients have a live stream, adds 0.10 to")
w("0.15 ms of database time per batch, after the answers.")
w("")
w("Migration 0011 gives that statement index scans only (`enable_seqscan = off`): 17 %")
w("fewer instructions for one send, 42 to 46 % for batches of 16 and 64. Through the whole")
w("stack (`tests/bench/ab 3 base:BIN_DIR=<core before 0011> new`, PostgreSQL on tmpfs,")
w("2026-11-27 04:50 UTC), 64 connections gave 5 360 / 6 258 / 5 834 SEND_MSG/s before and")
w("5 771 / 6 608 / 6 062 after (+4 to +8 % in each round), PostgreSQL CPU per SEND_MSG 138 /")
w("114 / 128 us before and 123 / 108 / 120 after; lock-step unchanged within the noise. In")
w("the same way, a database pool of 4 (one batch of sends at a time) against the then default")
w("8 (two) gave 5 741 / 5 598 against 5 435 / 6 043 SEND_MSG/s: no clear winner; a pool of 16")
w("(four at a time) was slower (5 030 / 5 275). Since 2026-11-27 13:10 UTC the default pool")
w("of 8 runs one batch of sends at a time (a pool of 16, two): see the last point below.")
w("")
w("### Where the CPU goes")
w("")
w("CPU time of each process while the bench measured (/proc/PID/stat): cores busy (CPU")
w("seconds per second), CPU microseconds per request, and the kernel's share. postgres")
w("counts the postmaster and all its backends.")
w("")
rows = [("lock-step", send[1]), ("SEND_MSG c=8", send[8]), ("SEND_MSG c=64", send[64]),
        ("mix c=64", mix)]
if tmpfs:
    rows += [("tmpfs: lock-step", send2[1]), ("tmpfs: SEND_MSG c=8", send2[8]),
             ("tmpfs: SEND_MSG c=64", send2[64])]
cpu_table(rows)
w("")
w("### Where a SEND_MSG's time goes")
w("")
w("Measured apart from this run (2026-11-27 09:30-10:15 UTC, PostgreSQL on tmpfs, with a")
w("build that timed each batch of sends in the core and each `SendMessages` call in the")
w("gateway; that timing is not in the product):")
w("")
w("- 64 connections (5 360 to 6 773 SEND_MSG/s, client p50 9.3 to 11.9 ms): 15 to 18")
w("  sends per batch; in the core a send waits 0.3 to 0.4 ms for its batch, the")
w("  `tch_send_batch` round trip takes 2.5 to 3.5 ms and answering the batch 0.5 to 0.7 ms;")
w("  the gateway's `SendMessages` call (16 to 17 sends) takes 5.2 to 5.7 ms. The database")
w("  statement is about a third of what a client waits. Threads wait for a CPU about as")
w("  long as they run (`/proc/PID/task/*/schedstat`, per SEND_MSG at 5 939/s: the core runs")
w("  55 us and waits 123 us in the run queue, PostgreSQL 118 and 87 us, gateway and bench")
w("  client together 102 and 127 us). More throughput needs less CPU per request, not")
w("  more concurrency: a database pool of 16 (four batches at once) was slower above, and")
w("  letting the next batch start while the previous one is still being answered gave")
w("  5 969 / 5 242 / 5 269 SEND_MSG/s against 4 996 / 6 043 / 5 738 (tmpfs) and 5 821 /")
w("  5 077 against 5 918 / 6 148 (disk), with a lock-step p50 3 to 9 % worse in each of")
w("  the five rounds: smaller batches cost more per send. Not kept.")
w("- Lock-step: the `tch_send_batch` round trip of a lone send takes 0.47 to 0.50 ms in the")
w("  core, for a client p50 of 0.95 to 1.0 ms. Even a database that answered at once would")
w("  leave about 0.5 ms in the gateway, gRPC and the core. A lone SEND_MSG is 24 time")
w("  slices (schedstat: 12 in the core, across gRPC's threads, its workers and the LISTEN")
w("  thread; 8 in gateway and bench client; 4 in PostgreSQL), and each wake-up on this VM")
w("  waits 30 to 45 us for its CPU (per request: core 415 us, gateway and bench 349 us,")
w("  PostgreSQL 144 us in the run queue, summed over threads). The 0.5 ms target needs")
w("  both a much cheaper lone send and far fewer thread hand-offs.")
w("  `tests/bench/hops` (2026-11-28 12:30-12:57 UTC, 5 runs, PostgreSQL on tmpfs) times")
w("  the stretches between the wake-ups that carry a lone SEND_MSG from process to process")
w("  (`perf sched`), medians in us: gateway, request to gRPC call 79 to 111; core, call")
w("  to statement 125 to 172; PostgreSQL, statement and commit 279 to 443; core, result")
w("  to gRPC answer 75 to 107; gateway, gRPC answer to the client's answer 120 to 161;")
w("  the bench client 47 to 60; in all 725 to 1 054, for a client p50 of 0.75 to 0.95 ms.")
w("  Inside the processes the request changes threads 5 or 6 times in the core (gRPC's")
w("  pollers, a worker) and twice in the gateway. Gateway and core alone take 400 to")
w("  550 us: with a database that answered at once, the p50 would still be above 0.5 ms.")
w("- The NOTIFY hints of a batch of 17 sends (pgbench of that one statement against the")
w("  running stack): 35 to 44 us in the LISTEN backend and 13 to 19 us in the core per")
w("  statement, about 3 us per send, plus the statement itself.")
w("- WAL of a lone send (`pg_stat_wal` before and after 2 000 lock-step SEND_MSGs, read once")
w("  the backends had reported, 2026-11-28 03:55 UTC, PostgreSQL on disk): one WAL flush per")
w("  SEND_MSG, as for pgbench's INSERT, with 11 WAL records (2 rows, 8 index entries, the")
w("  commit) and 903 bytes. Nothing else the stack does waits for the disk: the daemons'")
w("  log lines are written without a flush (`strace -T`: 21 to 31 us a write at p50).")
w("- glibc malloc is 18 % of the core's CPU at 64 connections (perf), but jemalloc and")
w("  tcmalloc (`LD_PRELOAD`, Debian packages) gave 5 888 / 5 928 and 6 145 / 5 586 SEND_MSG/s")
w("  against 6 681 / 5 680 for glibc: no gain worth a dependency.")
w("- Instructions per SEND_MSG at 64 connections (`tests/bench/instructions`, callgrind,")
w("  2026-11-27 11:20-12:00 UTC): the core 50 700, the gateway 50 300. Allocation is 28 %")
w("  of the core's and 35 % of the gateway's (about 40 allocations per SEND_MSG in the")
w("  gateway, 8 of them coroutine frames of 128 to 1 472 bytes, which Asio's per-thread")
w("  cache of two blocks cannot keep for 64 connections). In the core, 9 % went to")
w("  escaping the batch's array literals, where `find_first_of` called `memchr` once per")
w("  byte; a plain loop and the SHA-256 hex built in place brought the core to 45 700 to")
w("  47 000 (966d296). Fewer instructions are not less time here, though: with")
w("  `glibc.malloc.tcache_count=256` the gateway needs 15 % fewer instructions and the")
w("  core 11 % fewer (tcmalloc linked in: the gateway 28 % fewer), yet both spent more CPU")
w("  per SEND_MSG in every round of `tests/bench/ab 3` (tcache: gateway 72 / 69 / 75 us")
w("  against 64 / 52 / 78, core 59 / 58 / 61 against 50 / 41 / 61, as a share of")
w("  PostgreSQL's CPU 8 to 20 % more; tcmalloc: 65 / 60 / 71 against 55 / 54 / 61 for the")
w("  gateway). Neither is in the product.")
w("- Two gateway event loops (`TCHATATOR_GATEWAY_THREADS=2`, `tests/bench/ab 3`, 12:08 to")
w("  12:25 UTC) split the 64 connections, so each `SendMessages` call carries fewer sends:")
w("  gateway CPU per SEND_MSG 84 / 100 / 84 us against 62 / 80 / 87 with one loop (as a")
w("  share of PostgreSQL's CPU, 15 % more), SEND_MSG at 64 connections 0.53 / 0.54 / 0.64x")
w("  of pgbench against 0.64 / 0.71 / 0.67x, p99 23 to 28 ms against 18 to 26. The default")
w("  stays one loop.")
w("- One batch of sends at a time for the default pool of 8, instead of two")
w("  (`tests/bench/ab 3` of both builds, each run's ratio against its own pgbench,")
w("  12:48 to 13:05 UTC). PostgreSQL CPU per SEND_MSG at 64 connections: on tmpfs 103 /")
w("  98 / 117 us against 140 / 109 / 134, on disk 119 / 99 / 126 against 142 / 145 / 132.")
w("  On tmpfs: 64 connections 0.79 / 0.70 / 0.65x against 0.68 / 0.80 / 0.57x, p99 18.1 /")
w("  16.9 / 19.5 ms against 23.5 / 18.3 / 21.1, 8 connections 2 933 / 3 250 / 3 135 against")
w("  2 526 / 2 670 / 2 913 SEND_MSG/s, the mix 2 568 / 3 029 / 3 064 against 2 386 / 2 854 /")
w("  2 567 requests/s. On disk: 64 connections 0.89 / 0.92 / 0.97x against 0.83 / 0.96 /")
w("  0.94x, even. Concurrent sends wait for the batch in flight and share the next, larger")
w("  one. Kept (`storage/pg_store.cc`, `BatchesAtOnce`).")
w("- NOTIFY hints only for recipients with a live stream (migration 0013, since")
w("  2026-11-27 14:50 UTC): the bench's connections never SUBSCRIBE, so its sends now cause")
w("  no NOTIFY at all, where each batch used to end with one more statement on its")
w("  connection, before the next batch could start, and woke the LISTEN backend and the")
w("  core's feed. `tests/bench/ab 3` against the build before (each run's ratio against its")
w("  own pgbench, 14:31 to 14:55 UTC): on disk, 64 connections 1.00 / 1.00 / 0.99x")
w("  against 0.83 / 0.89 / 0.84x, 8 connections 2 627 / 2 915 / 2 566 against 2 182 /")
w("  2 135 / 2 536 SEND_MSG/s, lock-step p50 1.311 / 1.284 / 1.234 ms against 1.334 /")
w("  1.317 / 1.397; on tmpfs, lock-step p50 0.906 / 0.851 / 0.851 ms against 1.002 / 0.974")
w("  / 1.031, 8 connections 3 123 / 3 384 / 3 013 against 2 706 / 3 006 / 3 003, 64")
w("  connections 0.67 / 0.63 / 0.70x against 0.74 / 0.69 / 0.72x (on tmpfs, where the run")
w("  is CPU-bound, the batches are smaller without the pause and cost more per send). With")
w("  every recipient subscribed, each batch still sends its hints as before.")
w("- The lock-step floor of the architecture (2026-11-27 16:20 to 16:34 UTC, PostgreSQL on")
w("  tmpfs, medians of 3 000 round trips, one client at a time): a gRPC call that does")
w("  nothing (the core's health check, from a synchronous C++ client) takes 0.17 ms on this")
w("  VM, the same for a server on gRPC's synchronous or callback API; a request the gateway")
w("  answers itself 0.05 ms; pgbench's `send-txn.sql` (the statement alone, without the")
w("  NOTIFY that the script ran until then) 0.34 to 0.37 ms, against 0.10 to 0.12 for the")
w("  single-row INSERT. A SendMessage straight to the core took 0.57 to 0.74 ms, a")
w("  SEND_MSG through the gateway 0.82 to 0.86 ms. So even with no thread hand-off of our")
w("  own, a SEND_MSG costs about 0.05 + 0.17 + 0.35 ms: over 0.5 ms before the gateway or")
w("  the core do anything.")
w("- Where PostgreSQL's time goes in `tch_send_batch` (perf of the backend, pgbench at one")
w("  client on tmpfs, 2026-11-27 17:50 UTC): for a batch of 32 sends (1.26 to 1.78 ms a call,")
w("  40 to 56 us a send), the B-tree inserts take 48 % (8 index entries per send: 6 on")
w("  `messages`, 2 on `changes`; `_bt_compare` alone 19 %), the look-ups of the checks 20 %,")
w("  executor start-up 9 %, the commit 4 %. For a lone send, executor start-up is 24 %, the")
w("  two INSERTs 23 % (index entries 14 %), the commit 6 %. The cheapest index to drop,")
w("  `messages_received_idx` (the union of the unread and read indexes, used only by the")
w("  conversations query), would save about one eighth of the index work, a few percent of")
w("  the whole, below what this machine can show.")
w("- The writes alone, against the whole statement (2026-11-27 19:47 UTC, pgbench at one")
w("  client, tmpfs, 1.1 million messages, 5 alternating runs of 4 s): a batch of 27 sends")
w("  from 27 senders took 2.10 to 2.74 ms (78 to 102 us a send); the same 27 rows inserted")
w("  into `messages` and `changes` by one plain statement, with no lock, check or function,")
w("  1.15 to 1.86 ms (43 to 69 us a send); into `messages` alone, 1.00 to 1.24 ms. So about")
w("  two thirds of the database's time per send is the rows and their index entries, which")
w("  any send must write, and the locks and checks at most a third.")
w("- Batch size, checked again with the two builds (or settings) side by side on one")
w("  cluster, 8 alternating 3-second runs at 64 connections (2026-11-27 19:15 to 19:35")
w("  UTC): starting the next batch while the last one is answered, 4 477 against 5 006")
w("  SEND_MSG/s on tmpfs (slower in 7 rounds of 8); a database pool of 16 on disk, 4 340")
w("  against 4 630; waiting 0.7 ms before a batch when fewer sends wait than half the last")
w("  batch, 4 761 against 4 761. The batches the closed loop forms by itself are as good")
w("  as this machine can tell.")
w("- SendMessage on gRPC's synchronous API, the call's thread leading its own batch (no")
w("  hand-off to a worker): the core's context switches per lock-step request fell from")
w("  8.1 to 3.5 and its CPU from 278-356 to 245-286 us, but the latency did not move, and")
w("  the core spent more CPU per SEND_MSG at 8 and 64 connections (131-163 against 112-133")
w("  us, 45-52 against 36-49). Measured with the two builds side by side on one tmpfs")
w("  cluster, alternating 3-second runs (6 lock-step rounds: p50 0.84-0.90 against 0.77-0.94")
w("  ms; 4 rounds at 8 connections: 3 013-3 786 against 3 007-4 091 SEND_MSG/s; 4 at 64:")
w("  6 074-6 510 against 6 117-7 569). Probably (not verified) because in a core that also")
w("  serves callback methods, gRPC's callback threads still read the request and hand it")
w("  over. Not kept.")
w("- Two batches of sends at a time again, now that no NOTIFY follows a batch (database")
w("  pool 16 against the default 8, `AB_DISK=1 tests/bench/ab 3`, 16:35 to 16:55 UTC): on")
w("  disk, 64 connections 0.85 / 1.08 / 0.89x of pgbench against 1.08 / 0.74 / 1.09x, and")
w("  PostgreSQL CPU per SEND_MSG 114 / 106 / 138 us against 93 / 121 / 86. The default stays")
w("  one batch at a time.")
w("- The log (2026-11-29 02:05 to 02:20 UTC, `tests/bench/ab 3`, PostgreSQL on tmpfs): each")
w("  daemon wrote each line with a write(2) of its own, the gateway's just before the")
w("  answer and the core's just before it finished the call, so one system call per")
w("  request on each side of the request's path. A thread of each daemon now writes the")
w("  lines, many per write (`common/log.cc`). Against the build before: lock-step p50")
w("  0.727 / 0.911 / 0.843 ms against 0.883 / 0.879 / 0.931, 8 connections 3 336 / 3 287 /")
w("  3 496 SEND_MSG/s against 3 005 / 3 058 / 3 176, 64 connections 6 583 / 7 215 / 6 806")
w("  against 6 293 / 6 952 / 6 758, gateway CPU per SEND_MSG at 64 connections 68 / 60 / 65")
w("  us against 72 / 64 / 66. Kept. What is left per SEND_MSG at 64 connections (`strace")
w("  -c`): in the gateway one recvfrom, one sendmsg, one epoll_ctl (Asio re-arms the socket")
w("  for each wait for input) and half a futex; in the core, per batch of about 15 sends,")
w("  one sendto and a few poll and recvfrom to PostgreSQL, and 17 to 25 futex calls across")
w("  gRPC's threads and the database workers.")
w("")
if os.path.exists(os.path.join(RES, "statements-send-c64.tsv")):
    w("### What the database executes")
    w("")
    statements_table(os.path.join(RES, "statements-send-c64.tsv"),
                     send[64]["accepted_per_sender"]["total"], "SEND_MSG, 64 connections")
    mix_requests = mix["accepted_per_sender"]["total"] * 3
    statements_table(os.path.join(RES, "statements-mix-c64.tsv"), mix_requests,
                     "The mix (SEND_MSG, GET_UNREAD and GET_HISTORY each count as a request)")
w("## Rate limit enabled (product defaults: 12 per minute, 90 per hour)")
w("")
lat = limited["latency_ms"]
w(f"{limited['connections']} connections share {ENV['PAIRS_LIMIT']} fresh senders (4 connections per"
  f" sender) and send in a closed loop for {limited['elapsed_s']:.0f} s. Answers:"
  f" {', '.join(f'{k}: {v}' for k, v in sorted(limited['status'].items()))}"
  f" ({num(limited['throughput_rps'])} answers/s; p50 {ms(lat['p50'])} ms, p99 {ms(lat['p99'])} ms).")
w("")
w(f"- accepted per sender, counted by the bench: min {acc['min']}, max {acc['max']}")
w(f"- in the database: {limit_senders} senders with {limit_min} to {limit_max} messages each, at most"
  f" {limit_window_max} in any 60 seconds")
w(f"- every 426 carried `retry-after`: {'yes' if acc['limited_without_retry_after'] == 0 else 'no'}")
w(f"- never more than 12 per sender per minute: {verdict(t_limit)}; each sender got exactly 12"
  f" (the limit is not stricter than configured): {'yes' if limit_exact else 'no'}")
w("")
w(f"## {i['target']} idle connections")
w("")
w(f"A freshly started gateway. The bench opens one connection and logs it in first (the gateway")
w("then has its gRPC channel to the core), reads the gateway's VmRSS, opens the others")
w(f"({i['action'].upper()} on each; {ENV['PAIRS_SEND']} users with many sessions each), holds them"
  f" {i['held_s']:.0f} s, and sends PING on each.")
w("")
w("| gateway | VmRSS (KiB) |")
w("|---|---:|")
w(f"| baseline (1 connection) | {i['before']['rss_kib']} |")
w(f"| all open ({i['opened']} in {idle['open_s']:.1f} s, {i['failed']} failed) | {i['after_open']['rss_kib']} |")
w(f"| after holding {i['held_s']:.0f} s | {i['after_hold']['rss_kib']} |")
w(f"| after the bench closed them | {i['after_close']['rss_kib']} |")
w("")
w(f"Growth: {growth:.0f} bytes per connection; {i['alive_after_hold']} of {i['target']}"
  " answered PING after the hold.")
w("")
w("## How it was measured")
w("")
w("`tests/bench/run` did, in this order (`ROUNDS`, `ROUND_DURATION`, `DURATION`,")
w("`PGBENCH_DURATION`, `IDLE_CONNECTIONS`, `IDLE_HOLD`, `TMPFS_DURATION`, `PG_STATEMENTS`,")
w("`RESULTS_DIR`: see its header):")
w("")
w("1. started a private PostgreSQL cluster, `tchatator-core` (rate limit off) and")
w("   `tchatator-gateway` (`TCHATATOR_MAX_CONNECTIONS=20000`, `..._PER_IP=20000`), and")
w(f"   created {ENV['PAIRS_SEND']}+{ENV['PAIRS_MIX']}+{ENV['PAIRS_LIMIT']} member/pro pairs with"
  " `tchatator-admin user add`;")
w(f"2. at 1, then 8, then 64 concurrent clients, {ROUNDS} rounds of: a CHECKPOINT, pgbench's")
w(f"   INSERT on the migrated `tchatator` database for {ENV['ROUND_DURATION']} s (`-j` 2 at most),")
w(f"   a CHECKPOINT, tchatator-bench's SEND_MSG for {ENV['ROUND_DURATION']} s (commands below);")
w(f"   then pgbench's send transaction at 1, 8 and 64 clients for {ENV['PGBENCH_DURATION']} s:")
w("")
w("   ```")
w(f"   PGOPTIONS='-c jit=off' pgbench -n -h 127.0.0.1 -M prepared -c CLIENTS -j THREADS \\")
w(f"     -T {ENV['ROUND_DURATION']} -f insert.sql --log tchatator")
w("   ```")
w("")
w("   (JIT off, as on the core's own connections: see `storage::OpenConnection`);")
w("")
w("   `insert.sql`, a single-row INSERT INTO messages, a random member of the send group")
w("   writing to a pro, 64 characters of content, one row per transaction:")
w("")
w("   ```")
for line in sql_lines(os.path.join(RES, "insert.sql")):
    w("   " + line)
w("   ```")
w("")
w("   `send-txn.sql`, what the core sends for one SEND_MSG alone in its batch, from a")
w("   session it has seen (each member got a session `pgbench-<id>` for it):")
w("")
w("   ```")
for line in sql_lines(os.path.join(RES, "send-txn.sql")):
    w("   " + line)
w("   ```")
w("")
w("3. ran `tchatator-bench` (`tests/bench/bench_main.cc`: Asio, one client thread, one request")
w("   at a time per connection, latency from writing the request to having read the whole")
w("   answer, 1 s of warm-up not counted; each also given `--cpu gateway=PID --cpu core=PID")
w("   --cpu-tree postgres=PID` for the CPU table):")
w("")
for name in ["lockstep.r1", "send-c8.r1", "send-c64.r1", "mix-c64", "send-limited", "idle"]:
    w(f"   - `{bench_command(name)}`")
w("")
w("   the rate-limited run after restarting core and gateway with the default limits (and")
w("   checking the limit in the database afterwards), the idle run on a restarted gateway;")
if tmpfs:
    w("4. stopped everything, started a second cluster on tmpfs with its own core, gateway and")
    w(f"   {ENV['PAIRS_SEND']} pairs, and ran the same rounds of pgbench and SEND_MSG, then the"
      f" send transaction, for {ENV['TMPFS_DURATION']} s each.")
else:
    w("4. stopped everything.")
w("")

with open(os.path.join(OUT, "performance.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(L))

# ---- plot ------------------------------------------------------------------------------
dat = os.path.join(RES, "latency.dat")
with open(dat, "w", encoding="utf-8") as f:
    f.write("# conc tch_p50 tch_p99 pg_p50 pg_p99 tch_rps pg_tps t_tch_p50 t_pg_p50 t_tch_rps t_pg_tps\n")
    for c in CONCURRENCY:
        r, b = send[c], pg[c]
        extra = (f"{send2[c]['latency_ms']['p50']} {pg2[c]['p50']} {send2[c]['ok_rps']} {pg2[c]['tps']}"
                 if tmpfs else "NaN NaN NaN NaN")
        f.write(f"{c} {r['latency_ms']['p50']} {r['latency_ms']['p99']} {b['p50']} {b['p99']} "
                f"{r['ok_rps']} {b['tps']} {extra}\n")
png = os.path.join(OUT, "performance-latency.png")
tmpfs_latency = (f''', \\
     "{dat}" using 1:8 with linespoints lw 1 pt 6 lc rgb "#1f77b4" dt 3 title "tmpfs: tchatator p50", \\
     "{dat}" using 1:9 with linespoints lw 1 pt 6 lc rgb "#d62728" dt 3 title "tmpfs: pgbench p50"'''
                 if tmpfs else "")
tmpfs_throughput = (f''', \\
     "{dat}" using 1:10 with linespoints lw 1 pt 6 lc rgb "#1f77b4" dt 3 title "tmpfs: tchatator SEND_MSG/s", \\
     "{dat}" using 1:11 with linespoints lw 1 pt 6 lc rgb "#d62728" dt 3 title "tmpfs: pgbench INSERT tx/s"'''
                    if tmpfs else "")
floor = f'''{fsync_ms} with lines lc rgb "#2ca02c" dt 4 title "one 8 kB O_DSYNC write", \\
     ''' if fsync_ms else ""
with open(os.path.join(RES, "latency.gp"), "w", encoding="utf-8") as f:
    f.write(f"""set terminal png size 1200,620 font ",11" noenhanced
set output "{png}"
set multiplot layout 1,2 title "tchatator SEND_MSG vs pgbench single-row INSERT ({NPROC} CPUs, {now}; PostgreSQL on {ENV['PG_STORAGE'].split(' (')[0]}; thin lines, open circles: on tmpfs)"
set logscale x 2
set xtics ("1" 1, "8" 8, "64" 64)
set xrange [0.7:90]
unset xlabel
set grid
set key below horizontal maxrows 5 samplen 2 font ",9"
set logscale y 10
set ylabel "latency (ms, log scale)"
set title "Latency against concurrent connections (pgbench: clients)"
plot "{dat}" using 1:2 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "tchatator p50", \\
     "{dat}" using 1:3 with linespoints lw 2 pt 5 lc rgb "#1f77b4" dt 2 title "tchatator p99", \\
     "{dat}" using 1:4 with linespoints lw 2 pt 7 lc rgb "#d62728" title "pgbench INSERT p50", \\
     "{dat}" using 1:5 with linespoints lw 2 pt 5 lc rgb "#d62728" dt 2 title "pgbench INSERT p99", \\
     {floor}0.5 with lines lc rgb "#888888" dt 3 title "target: lock-step p50 0.5 ms", \\
     10 with lines lc rgb "#444444" dt 3 title "target: p99 at 64 10 ms"{tmpfs_latency}
unset logscale y
set yrange [0:*]
set ylabel "requests or transactions per second"
set title "Throughput against concurrent connections (pgbench: clients)"
plot "{dat}" using 1:6 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "tchatator SEND_MSG/s", \\
     "{dat}" using 1:7 with linespoints lw 2 pt 7 lc rgb "#d62728" title "pgbench INSERT tx/s"{tmpfs_throughput}
unset multiplot
""")

# ---- summary for the terminal ------------------------------------------------------------
with open(os.path.join(RES, "summary.txt"), "w", encoding="utf-8") as f:
    passes = [("disk ", send, pg)] + ([("tmpfs", send2, pg2)] if tmpfs else [])
    for label, s, p in passes:
        for c in CONCURRENCY:
            r, b = s[c], p[c]
            f.write(f"{label} send c={c:<3} {r['ok_rps']:8.0f}/s p50 {r['latency_ms']['p50']:8.3f} p99 "
                    f"{r['latency_ms']['p99']:8.3f} ms | pgbench {b['tps']:8.0f}/s p50 {b['p50']:7.3f} "
                    f"p99 {b['p99']:8.3f} ms | ratio {r['ratio']:.2f}\n")
    f.write(f"mix c=64 {mix['ok_rps']:.0f}/s p50 {mix['latency_ms']['p50']:.3f} p99 "
            f"{mix['latency_ms']['p99']:.3f} ms\n")
    f.write(f"rate limit: {limited['status']}, accepted per sender {acc['min']}-{acc['max']}, "
            f"max in any 60 s {limit_window_max}: {'ok' if t_limit else 'VIOLATED'}\n")
    f.write(f"idle: {i['alive_after_hold']}/{i['target']} held, {growth:.0f} B per connection\n")
    f.write(f"targets (disk): throughput {verdict(t_main['throughput'])}, p99 {verdict(t_main['p99'])}, "
            f"lock-step {verdict(t_main['lockstep'])}; idle {verdict(t_idle)}, rate limit "
            f"{verdict(t_limit)}\n".replace("**", ""))
    if tmpfs:
        f.write(f"targets (tmpfs): throughput {verdict(t_tmpfs['throughput'])}, p99 "
                f"{verdict(t_tmpfs['p99'])}, lock-step {verdict(t_tmpfs['lockstep'])}\n".replace("**", ""))
