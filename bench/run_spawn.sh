#!/usr/bin/env bash
# run_spawn.sh: the spawn benchmark, C and Python interleaved, unpinned and
# pinned to one CPU, with medians and ratios.
#
#   bench/run_spawn.sh [-r ROUNDS] [-n N] [-k INNER_ROUNDS]
#
# Builds //bench:spawn_bench with -c opt, copies the binary aside (so that
# another build switching bazel-bin cannot change it under us), then for each
# of ROUNDS rounds (default 5) runs, in an order that rotates per round:
#   spawn_bench              and  /usr/bin/python3 bench/spawn_bench.py
#   taskset -c 0 spawn_bench and  taskset -c 0 /usr/bin/python3 bench/spawn_bench.py
# each with --n N (default 2000) --rounds INNER_ROUNDS (default 5). Every run
# prints one JSON line per variant (its median over its inner rounds); this
# script prints the median of those over the ROUNDS runs, and ratios taken
# per round (C and Python of the same round side by side) then the median.
# Raw lines go to stderr with the round and pinning added.
set -euo pipefail

rounds=5
n=2000
inner=5
while getopts "r:n:k:h" opt; do
    case $opt in
    r) rounds=$OPTARG ;;
    n) n=$OPTARG ;;
    k) inner=$OPTARG ;;
    *)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
    esac
done

cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup spawn_bench
echo "# n=$n per variant, $inner inner rounds, $rounds rounds" >&2
c_args=(--json --n "$n" --rounds "$inner")
py_args=(--n "$n" --rounds "$inner")
bench_rounds "$rounds"

"$python" - "$tmp/raw.jsonl" <<'EOF'
import collections, json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
by = collections.defaultdict(dict)  # (pin, variant) -> {round: us}
for row in rows:
    by[(row["pin"], row["variant"])][row["round"]] = row["us_per_actor"]

variants = ["fork_exit_waitpid", "troupe", "troupe_no_mailbox",
            "python_os_fork", "python_multiprocessing"]
ratios = [("troupe", "fork_exit_waitpid"),
          ("troupe_no_mailbox", "fork_exit_waitpid"),
          ("python_multiprocessing", "troupe"),
          ("python_multiprocessing", "troupe_no_mailbox"),
          ("python_os_fork", "fork_exit_waitpid")]

n = rows[0]["n"]
print(f"spawn + join, n={n} per variant; medians over {len(set(r['round'] for r in rows))} rounds")
for pin, label in (("none", "unpinned"), ("cpu0", "pinned (taskset -c 0)")):
    print(f"\n{label}")
    print(f"  {'variant':<24} {'us/actor':>9} {'min':>9} {'max':>9}")
    for v in variants:
        vals = list(by[(pin, v)].values())
        print(f"  {v:<24} {statistics.median(vals):9.1f} {min(vals):9.1f} {max(vals):9.1f}")
    for a, b in ratios:
        ra, rb = by[(pin, a)], by[(pin, b)]
        per = [ra[r] / rb[r] for r in ra if r in rb]
        print(f"  {a + ' / ' + b:<45} {statistics.median(per):6.2f}")
    for v in variants:
        print(json.dumps({"bench": "spawn", "variant": v, "pin": pin, "n": n,
                          "us_per_actor": round(statistics.median(by[(pin, v)].values()), 1)},
                         separators=(",", ":")), file=sys.stderr)
EOF
