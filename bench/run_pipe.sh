#!/usr/bin/env bash
# run_pipe.sh: pipe round trips, troupe vs plain libzmq PAIR (in one program)
# and Python's multiprocessing.Pipe, interleaved, unpinned and pinned to one
# CPU, with medians and ratios.
#
#   bench/run_pipe.sh [-r ROUNDS] [-n ROUND_TRIPS] [-k REPS]
#
# Builds //bench:pipe_bench with -c opt and copies it aside, then for each of
# ROUNDS rounds (default 5) runs, in an order that rotates per round:
#   pipe_bench and bench/pipe_bench.py, each unpinned and under taskset -c 0,
# with --rounds ROUND_TRIPS (default 10000) --reps REPS (default 3). Prints the
# median p50/p99 per variant and the per-round ratios' medians.
set -euo pipefail

rounds=5
n=10000
reps=3
while getopts "r:n:k:h" opt; do
    case $opt in
    r) rounds=$OPTARG ;;
    n) n=$OPTARG ;;
    k) reps=$OPTARG ;;
    *)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
    esac
done

cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup pipe_bench
c_args=(--rounds "$n" --reps "$reps")
py_args=(--rounds "$n" --reps "$reps")
bench_rounds "$rounds"

"$python" - "$tmp/raw.jsonl" <<'PY'
import collections, json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = collections.defaultdict(dict)  # (pin, variant) -> {round: (p50, p99)}
for r in rows:
    by[(r["pin"], r["variant"])][r["round"]] = (r["p50_us"], r["p99_us"])
variants = ["troupe_pipe", "zmq_pair", "python_pipe"]
print(f"pipe round trip, {rows[0]['rounds']} round trips of {rows[0]['size']} bytes; "
      f"medians over {len(set(r['round'] for r in rows))} rounds")
for pin, label in (("none", "unpinned"), ("cpu0", "pinned (taskset -c 0)")):
    print(f"\n{label}")
    print(f"  {'variant':<14} {'p50 us':>8} {'p99 us':>8}")
    for v in variants:
        vals = list(by[(pin, v)].values())
        print(f"  {v:<14} {statistics.median(x[0] for x in vals):8.2f} "
              f"{statistics.median(x[1] for x in vals):8.2f}")
    for a, b in (("troupe_pipe", "zmq_pair"), ("python_pipe", "troupe_pipe")):
        ra, rb = by[(pin, a)], by[(pin, b)]
        common = [k for k in ra if k in rb]
        p50 = statistics.median(ra[k][0] / rb[k][0] for k in common)
        p99 = statistics.median(ra[k][1] / rb[k][1] for k in common)
        print(f"  {a} / {b}: p50 {p50:.2f}, p99 {p99:.2f}")
PY
