#!/usr/bin/env bash
# run_codec.sh: the codec overhead benchmark, typed messages against raw
# frames on a 1->1 queue, unpinned and pinned to one CPU, with medians, the
# ratio typed/raw and the target (typed >= 0.75 x raw).
#
#   bench/run_codec.sh [-r ROUNDS] [-m MESSAGES] [-k INNER_ROUNDS]
#
# Builds //bench:codec_bench with -c opt, copies the binary aside (so that
# another build switching bazel-bin cannot change it under us), then for each
# of ROUNDS rounds (default 3) runs, in an order that rotates per round:
#   codec_bench  and  taskset -c 0 codec_bench
# each with --messages MESSAGES (default 1000000) --rounds INNER_ROUNDS
# (default 3); each run interleaves the variants raw, raw2 and typed and
# prints one JSON line per variant (its median over its inner rounds). This
# script prints the median of those over the ROUNDS runs, and the ratios
# typed/raw (the target), typed/raw2 and raw2/raw taken within each run,
# then their median. Raw lines go to stderr with the round and pinning.
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
bench_setup codec_bench
echo "# $messages messages per run, $inner inner rounds, $rounds rounds" >&2
c_args=(--json --messages "$messages" --rounds "$inner")
bench_rounds "$rounds"

"$python" - "$tmp/raw.jsonl" <<'EOF'
import collections, json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
by = collections.defaultdict(dict)  # (pin, variant) -> {round: msgs/s}
size = {}
floor = collections.defaultdict(list)  # pin -> protobuf_c_only rows
for row in rows:
    if row["variant"] == "protobuf_c_only":
        floor[row["pin"]].append(row)
        continue
    by[(row["pin"], row["variant"])][row["round"]] = row["msgs_per_s"]
    size[row["variant"]] = (row["envelope_bytes"], row["payload_bytes"])

variants = [v for v in ("raw", "raw2", "typed") if v in size]
# (numerator, denominator, target or None)
ratios = [("typed", "raw", 0.75), ("typed", "raw2", None), ("raw2", "raw", None)]
print(f"codec overhead, 1->1 queue, {rows[0]['messages']} messages per run; msgs/s, "
      f"medians over {len(set(r['round'] for r in rows))} runs")
for v in variants:
    print(f"  {v}: {size[v][0]} + {size[v][1]} bytes (first frame + payload)")
for pin, label in (("none", "unpinned"), ("cpu0", "pinned (taskset -c 0)")):
    print(f"\n{label}")
    print(f"  {'variant':<8} {'msgs/s':>10} {'min':>10} {'max':>10}")
    for v in variants:
        vals = list(by[(pin, v)].values())
        print(f"  {v:<8} {statistics.median(vals):10.0f} {min(vals):10.0f} {max(vals):10.0f}")
    for a, b, target in ratios:
        ra, rb = by[(pin, a)], by[(pin, b)]
        per = [ra[r] / rb[r] for r in ra if r in rb]  # within each run
        if not per:
            continue
        med = statistics.median(per)
        verdict = "" if target is None else \
            f"  target >= {target:g}: {'met' if med >= target else 'NOT met'}"
        print(f"  {a + ' / ' + b:<13} {med:5.2f} (runs {min(per):.2f} to {max(per):.2f}){verdict}")
    if floor[pin]:
        f = floor[pin]
        med = lambda k: statistics.median(r[k] for r in f if k in r)
        print(f"  protobuf-c alone: pack {med('pack_ns'):.0f} ns + unpack {med('unpack_ns'):.0f} ns"
              f" per message; best typed / raw on one CPU: "
              f"{med('best_ratio_to_raw_one_cpu'):.2f}")
EOF
