#!/usr/bin/env bash
# run_work.sh: the work-distribution benchmark, C and Python interleaved,
# unpinned and pinned to one CPU, with medians, ratios and the targets.
#
#   bench/run_work.sh [-r ROUNDS] [-n TASKS] [-k INNER_ROUNDS] [-K KILLS] [-s STOPS]
#
# Builds //bench:work_bench with -c opt, copies the binary aside (so that
# another build switching bazel-bin cannot change it under us), then for each
# of ROUNDS rounds (default 3) runs, in an order that rotates per round:
#   work_bench              and  /usr/bin/python3 bench/work_bench.py
#   taskset -c 0 work_bench and  taskset -c 0 /usr/bin/python3 bench/work_bench.py
# Throughput: --tasks TASKS (default 200000) trivial tasks through 4 workers,
# --rounds INNER_ROUNDS (default 3) each: troupe_pool (tr_pool_map),
# troupe_client (producer API, broker, 4 worker actors) and
# python_pool_imap_unordered. Redelivery (C only): --kills KILLS (default 20)
# workers SIGKILLed while running a task, --stops STOPS (default 5) SIGSTOPped,
# and the time until the task starts in the other worker. Prints the median
# over the ROUNDS runs, the ratios troupe / Python taken per round then their
# median against the 10x target, and the medians of the runs' p50 and p99.
# Raw lines go to stderr with the round and pinning added. With the defaults
# it takes about 3 minutes.
set -euo pipefail

rounds=3
tasks=200000
inner=3
kills=20
stops=5
while getopts "r:n:k:K:s:h" opt; do
    case $opt in
    r) rounds=$OPTARG ;;
    n) tasks=$OPTARG ;;
    k) inner=$OPTARG ;;
    K) kills=$OPTARG ;;
    s) stops=$OPTARG ;;
    *)
        sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
    esac
done

cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup work_bench
echo "# $tasks tasks per run, $inner inner rounds, $kills kills, $stops stops, $rounds rounds" >&2
c_args=(--json --tasks "$tasks" --rounds "$inner" --kills "$kills" --stops "$stops")
py_args=(--tasks "$tasks" --rounds "$inner")
bench_rounds "$rounds"

"$python" - "$tmp/raw.jsonl" <<'EOF'
import collections, json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
rate = collections.defaultdict(dict)  # (pin, variant) -> {round: tasks/s}
lat = collections.defaultdict(dict)   # (pin, variant) -> {round: row}
for row in rows:
    if "tasks_per_s" in row:
        rate[(row["pin"], row["variant"])][row["round"]] = row["tasks_per_s"]
    elif "p50" in row:
        lat[(row["pin"], row["variant"])][row["round"]] = row

python = "python_pool_imap_unordered"
troupes = ["troupe_pool", "troupe_client"]
target = 10.0
runs = len(set(r["round"] for r in rows))
tasks = next((r["tasks"] for r in rows if "tasks" in r), 0)
print(f"work throughput, {tasks} trivial tasks, 4 workers; tasks/s, medians over {runs} rounds")
for pin, label in (("none", "unpinned"), ("cpu0", "pinned (taskset -c 0)")):
    print(f"\n{label}")
    print(f"  {'variant':<28} {'tasks/s':>10} {'min':>10} {'max':>10}")
    for v in troupes + [python]:
        vals = list(rate[(pin, v)].values())
        if vals:
            print(f"  {v:<28} {statistics.median(vals):10.0f} {min(vals):10.0f} {max(vals):10.0f}")
    for v in troupes:
        ra, rb = rate[(pin, v)], rate[(pin, python)]
        per = [ra[r] / rb[r] for r in ra if r in rb]
        if per:
            med = statistics.median(per)
            print(f"  {v + ' / python':<28} {med:10.2f}  (per round {min(per):.2f} to "
                  f"{max(per):.2f})  target >= {target:g}: {'met' if med >= target else 'NOT met'}")
    for v, what in (("troupe_sigkill", "SIGKILL"), ("troupe_sigstop", "SIGSTOP")):
        per = list(lat[(pin, v)].values())
        if per:
            p50 = statistics.median(r["p50"] for r in per)
            p99 = statistics.median(r["p99"] for r in per)
            worst = max(r["max"] for r in per)
            print(f"  {what} -> running elsewhere, ms: p50 {p50:.2f}, p99 {p99:.2f} "
                  f"(worst of all {worst:.2f}; n={per[0]['n']} per run)")
    for v in troupes + [python]:
        vals = list(rate[(pin, v)].values())
        if vals:
            print(json.dumps({"bench": "work", "variant": v, "pin": pin, "tasks": tasks,
                              "tasks_per_s": round(statistics.median(vals))},
                             separators=(",", ":")), file=sys.stderr)
    for v in ("troupe_sigkill", "troupe_sigstop"):
        per = list(lat[(pin, v)].values())
        if per:
            print(json.dumps({"bench": "work", "variant": v, "pin": pin,
                              "metric": "signal_to_elsewhere_ms", "n": per[0]["n"],
                              "p50": round(statistics.median(r["p50"] for r in per), 3),
                              "p99": round(statistics.median(r["p99"] for r in per), 3)},
                             separators=(",", ":")), file=sys.stderr)
EOF
