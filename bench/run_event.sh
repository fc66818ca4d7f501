#!/usr/bin/env bash
# run_event.sh: event wake-up latency with 8 waiting processes, troupe vs
# plain libzmq PUB/SUB (in one program) and Python's multiprocessing.Event,
# interleaved, unpinned and pinned to one CPU, with medians and the
# troupe/zmq ratio against the 1.3x target.
#
#   bench/run_event.sh [-r ROUNDS] [-n REPS] [-k RUNS] [-w WAITERS]
#
# Builds //bench:event_bench with -c opt and copies it aside, then for each
# of ROUNDS rounds (default 3) runs, in an order that rotates per round:
#   event_bench and bench/event_bench.py, each unpinned and under taskset -c 0,
# with --reps REPS (default 200) --runs RUNS (default 3) --waiters WAITERS
# (default 8). Prints the median p50/p99 per variant and the per-round
# ratios' medians.
set -euo pipefail

rounds=3
n=200
runs=3
waiters=8
while getopts "r:n:k:w:h" opt; do
    case $opt in
    r) rounds=$OPTARG ;;
    n) n=$OPTARG ;;
    k) runs=$OPTARG ;;
    w) waiters=$OPTARG ;;
    *)
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
    esac
done

cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup event_bench
c_args=(--reps "$n" --runs "$runs" --waiters "$waiters")
py_args=(--reps "$n" --runs "$runs" --waiters "$waiters")
bench_rounds "$rounds"

"$python" - "$tmp/raw.jsonl" <<'PY'
import collections, json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = collections.defaultdict(dict)  # (pin, variant) -> {round: (p50, p99)}
for r in rows:
    by[(r["pin"], r["variant"])][r["round"]] = (r["p50_us"], r["p99_us"])
variants = ["troupe_event", "zmq_pubsub", "python_event"]
print(f"event wake-up latency, {rows[0]['waiters']} waiters, {rows[0]['reps']} repetitions "
      f"x {rows[0]['runs']} runs; medians over {len(set(r['round'] for r in rows))} rounds")
for pin, label in (("none", "unpinned"), ("cpu0", "pinned (taskset -c 0)")):
    print(f"\n{label}")
    print(f"  {'variant':<14} {'p50 us':>8} {'p99 us':>8}")
    for v in variants:
        vals = list(by[(pin, v)].values())
        if vals:
            print(f"  {v:<14} {statistics.median(x[0] for x in vals):8.1f} "
                  f"{statistics.median(x[1] for x in vals):8.1f}")
    for a, b in (("troupe_event", "zmq_pubsub"), ("python_event", "troupe_event")):
        ra, rb = by[(pin, a)], by[(pin, b)]
        common = [k for k in ra if k in rb]
        if not common:
            continue
        p50 = statistics.median(ra[k][0] / rb[k][0] for k in common)
        p99 = statistics.median(ra[k][1] / rb[k][1] for k in common)
        verdict = ""
        if a == "troupe_event":
            verdict = "  (target 1.3: " + ("met" if p50 <= 1.3 else "not met") + " at p50)"
        print(f"  {a} / {b}: p50 {p50:.2f}, p99 {p99:.2f}{verdict}")
PY
