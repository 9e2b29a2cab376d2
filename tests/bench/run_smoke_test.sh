#!/usr/bin/env bash
# bench_run_smoke: tests/bench/run in miniature, with the binaries under test, against
# its own private PostgreSQL: two seconds per round (pgbench's 64 clients committed
# nothing in one second on a busy machine, twice: their connections count in its time,
# 0.7 s on a quiet one), a second for the mix, three for pgbench's send transaction, the
# rate-limit run's fixed 15 s, 100 idle connections, no tmpfs pass. Checks that the
# harness still measures what docs/performance.md reports: every scenario ran with no
# failed request, the rate limit held exactly, pgbench ran, and the report and its plot
# were written. Figures this short mean nothing: none is checked against a target.
#
#   run_smoke_test.sh --bin-dir DIR --bench PATH --build-dir DIR
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
while (($#)); do
  case $1 in
    --bin-dir) BIN_DIR=$2 ;;
    --bench) BENCH_BIN=$2 ;;
    --build-dir) BUILD_DIR=$2 ;;
    *) echo "usage: $0 --bin-dir DIR --bench PATH --build-dir DIR" >&2; exit 2 ;;
  esac
  shift 2
done
OUT=$(mktemp -d /tmp/tchatator-bench-smoke.XXXXXXXX)
# The raw results stay for a look when the test fails.
trap 'status=$?; if ((status == 0)); then rm -rf "$OUT"; else echo "results kept in $OUT" >&2; fi' EXIT
IDLE=100
SKIP_BUILD=1 BIN_DIR=$BIN_DIR BENCH_BIN=$BENCH_BIN BUILD_DIR=$BUILD_DIR \
  ROUNDS=1 ROUND_DURATION=2 DURATION=1 PGBENCH_DURATION=3 TMPFS_PASS=0 \
  IDLE_CONNECTIONS=$IDLE IDLE_HOLD=1 OUT_DIR="$OUT/report" RESULTS_DIR="$OUT" \
  bash "$ROOT/tests/bench/run"
python3 - "$OUT" "$IDLE" <<'PY'
import json, os, re, sys
out, idle = sys.argv[1], int(sys.argv[2])
res = os.path.join(out, "results")
failures = []
def check(ok, what):
    if not ok:
        failures.append(what)
def load(name):
    with open(os.path.join(res, name + ".json")) as f:
        return json.load(f)
# Closed-loop scenarios: requests measured, only 200s, no connection lost.
for name in ("lockstep.r1", "send-c8.r1", "send-c64.r1", "mix-c64"):
    r = load(name)
    check(r["requests"] > 0, f"{name}: no request measured")
    check(set(r["status"]) == {"200"}, f"{name}: statuses {r['status']}")
    check(r["connection_errors"] == 0, f"{name}: connection errors: {r['first_error']}")
mix = load("mix-c64")
check(set(mix["commands"]) == {"SEND_MSG", "GET_UNREAD", "GET_HISTORY"},
      f"mix: commands {sorted(mix['commands'])}")
# Rate limit on: each of the 16 senders (tests/bench/run: PAIRS_LIMIT) got exactly 12
# per minute through, never more; the others were refused, each with a retry-after.
with open(os.path.join(res, "limit-check.txt")) as f:
    senders, least, most, window = map(int, f.read().split())
check(senders == 16 and least == most == window == 12,
      f"rate limit: {senders} senders, accepted {least}..{most}, {window} in a window")
limited = load("send-limited")
check("426" in limited["status"], f"rate limit: nothing refused: {limited['status']}")
check(limited["accepted_per_sender"]["limited_without_retry_after"] == 0,
      "rate limit: refusals without retry-after")
# Idle connections: all opened and still alive after the hold, memory read.
i = load("idle")["idle"]
check(i["opened"] == idle and i["alive_after_hold"] == idle and i["failed"] == 0,
      f"idle: {i['opened']} opened, {i['alive_after_hold']} alive of {idle}")
check(i["before"]["rss_kib"] > 0 and i["after_hold"]["rss_kib"] > 0, "idle: no RSS read")
# pgbench ran both scripts without a failed transaction.
for name in ("pgbench-insert-c64.r1", "pgbench-sendtxn-c64"):
    with open(os.path.join(res, name + ".txt")) as f:
        text = f.read()
    m = re.search(r"tps = ([0-9.]+)", text)
    check(m is not None and float(m.group(1)) > 0, f"{name}: no tps")
    check("number of failed transactions: 0 " in text, f"{name}: failed transactions")
# The report and the plot.
with open(os.path.join(out, "report", "performance.md")) as f:
    md = f.read()
check("## Targets (issue 8)" in md, "performance.md: no targets section")
check(re.search(r"\| 64 connections: SEND_MSG/s [^|]*\| [0-9]+\.[0-9]{2}x \(", md) is not None,
      "performance.md: no ratio at 64 connections")
with open(os.path.join(out, "report", "performance-latency.png"), "rb") as f:
    check(f.read(8) == b"\x89PNG\r\n\x1a\n", "performance-latency.png is not a PNG")
for failure in failures:
    print("FAIL:", failure)
print(f"bench smoke: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
PY
