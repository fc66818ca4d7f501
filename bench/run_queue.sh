#!/usr/bin/env bash
# run_queue.sh: the queue throughput benchmark, C and Python interleaved,
# unpinned and pinned to one CPU, with medians, ratios and the targets.
#
#   bench/run_queue.sh [-r ROUNDS] [-m MESSAGES] [-k INNER_ROUNDS]
#
# Builds //bench:queue_bench with -c opt, copies the binary aside (so that
# another build switching bazel-bin cannot change it under us), then for each
# of ROUNDS rounds (default 3) runs, in an order that rotates per round:
#   queue_bench              and  /usr/bin/python3 bench/queue_bench.py
#   taskset -c 0 queue_bench and  taskset -c 0 /usr/bin/python3 bench/queue_bench.py
# each with --messages MESSAGES (default 1000000) --rounds INNER_ROUNDS
# (default 3), both topologies (1 and 4 consumers). Every run prints one JSON
# line per variant and topology (its median over its inner rounds); this
# script prints the median of those over the ROUNDS runs, and ratios taken
# per round (C and Python of the same round side by side) then the median.
# Raw lines go to stderr with the round and pinning added.
set -euo pipefail

rounds=3
messages=1000000
inner=3
while getopts "r:m:k:h" opt; do
    case $opt in
    r) rounds=$OPTARG ;;
    m) messages=$OPTARG ;;
    k) inner=$OPTARG ;;
    *)
        sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
    esac
done

cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup queue_bench
echo "# $messages messages per run, $inner inner rounds, $rounds rounds" >&2
c_args=(--json --messages "$messages" --rounds "$inner")
py_args=(--messages "$messages" --rounds "$inner")
bench_rounds "$rounds"

"$python" - "$tmp/raw.jsonl" <<'EOF'
import collections, json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
by = collections.defaultdict(dict)  # (pin, variant, consumers) -> {round: msgs/s}
for row in rows:
    by[(row["pin"], row["variant"], row["consumers"])][row["round"]] = row["msgs_per_s"]

variants = ["troupe", "troupe_w256", "zmq_pushpull", "python_queue"]
topos = sorted({row["consumers"] for row in rows})
# (numerator, denominator, target or None)
ratios = [("troupe", "zmq_pushpull", 0.9),
          ("troupe_w256", "zmq_pushpull", 0.9),
          ("troupe", "python_queue", 10.0),
          ("troupe_w256", "python_queue", 10.0),
          ("zmq_pushpull", "python_queue", None)]

m = rows[0]["messages"]
print(f"queue throughput, {m} messages of {rows[0]['size']} bytes; msgs/s, "
      f"medians over {len(set(r['round'] for r in rows))} rounds")
for pin, label in (("none", "unpinned"), ("cpu0", "pinned (taskset -c 0)")):
    print(f"\n{label}")
    print(f"  {'variant':<14} {'consumers':>9} {'msgs/s':>10} {'min':>10} {'max':>10}")
    for n in topos:
        for v in variants:
            vals = list(by[(pin, v, n)].values())
            if vals:
                print(f"  {v:<14} {n:>9} {statistics.median(vals):10.0f} "
                      f"{min(vals):10.0f} {max(vals):10.0f}")
    for n in topos:
        for a, b, target in ratios:
            ra, rb = by[(pin, a, n)], by[(pin, b, n)]
            per = [ra[r] / rb[r] for r in ra if r in rb]
            if not per:
                continue
            med = statistics.median(per)
            verdict = "" if target is None else \
                f"  target >= {target:g}: {'met' if med >= target else 'NOT met'}"
            print(f"  1->{n} {a + ' / ' + b:<32} {med:6.2f}{verdict}")
    for n in topos:
        for v in variants:
            vals = list(by[(pin, v, n)].values())
            if vals:
                print(json.dumps({"bench": "queue", "variant": v, "pin": pin, "consumers": n,
                                  "messages": m, "msgs_per_s": round(statistics.median(vals))},
                                 separators=(",", ":")), file=sys.stderr)
EOF
