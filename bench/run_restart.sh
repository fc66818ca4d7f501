#!/usr/bin/env bash
# run_restart.sh: restart latency under a supervisor and the start and stop
# of a tree of workers, troupe next to a bare fork/waitpid loop, unpinned and
# pinned to one CPU, with medians, ratios and the issue's targets.
#
#   bench/run_restart.sh [-r ROUNDS] [-n CRASHES] [-t TREE] [-k REPS]
#
# Builds //bench:restart_bench with -c opt and copies it aside (so that
# another build switching bazel-bin cannot change it under us), then for each
# of ROUNDS rounds (default 3) runs it unpinned and under taskset -c 0, in an
# order that alternates per round, each run with --crashes CRASHES (default
# 1000 per variant) --tree TREE (default 1000 workers) --reps REPS (default
# 3 tree starts and stops). Prints, per variant and metric, the median over
# the ROUNDS runs of each run's percentiles (restarts) or median (trees), the
# per-round ratios' medians, and whether the targets are met. Raw lines go to
# stderr with the round and pinning added. A full run takes about 2 minutes.
set -euo pipefail

rounds=3
crashes=1000
tree=1000
reps=3
while getopts "r:n:t:k:h" opt; do
    case $opt in
    r) rounds=$OPTARG ;;
    n) crashes=$OPTARG ;;
    t) tree=$OPTARG ;;
    k) reps=$OPTARG ;;
    *)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
    esac
done

cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup restart_bench
echo "# crashes=$crashes per variant, tree=$tree workers x $reps reps, $rounds rounds" >&2
c_args=(--crashes "$crashes" --tree "$tree" --reps "$reps")
bench_rounds "$rounds"

"$python" - "$tmp/raw.jsonl" <<'EOF'
import collections, json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
runs = len(set(r["round"] for r in rows))
by = collections.defaultdict(dict)  # (pin, variant, metric) -> {round: row}
for r in rows:
    by[(r["pin"], r["variant"], r["metric"])][r["round"]] = r

def med(key, field):
    vals = [row[field] for row in by[key].values()]
    return statistics.median(vals) if vals else float("nan")

def ratio(pin, a, b, metric, field):
    ra, rb = by[(pin, a, metric)], by[(pin, b, metric)]
    per = [ra[k][field] / rb[k][field] for k in ra if k in rb and rb[k][field] > 0]
    return statistics.median(per) if per else float("nan")

variants = ["troupe", "troupe_fresh_sender", "raw_fork"]
dists = ["crash_to_ready_us", "crash_to_recv_us", "ready_to_recv_us"]
trees = ["tree_start_ms", "tree_stop_ms"]
print(f"restart latency and tree start/stop; medians over {runs} runs")
for pin, label in (("none", "unpinned"), ("cpu0", "pinned (taskset -c 0)")):
    print(f"\n{label}")
    if any(by[(pin, v, m)] for v in variants for m in dists):
        n = next(iter(by[(pin, "troupe", "crash_to_recv_us")].values()))["n"]
        print(f"  restarts, n={n} per variant per run, microseconds")
        print(f"  {'variant':<20} {'metric':<18} {'p50':>8} {'p90':>8} {'p99':>9} {'max':>9} {'lost':>5}")
        for v in variants:
            for m in dists:
                key = (pin, v, m)
                if not by[key]:
                    continue
                # lost: pings that never arrived, summed over the runs.
                lost = sum(row.get("lost", 0) for row in by[key].values())
                print(f"  {v:<20} {m:<18} {med(key, 'p50'):8.1f} {med(key, 'p90'):8.1f} "
                      f"{med(key, 'p99'):9.1f} {med(key, 'max'):9.1f} "
                      f"{lost if m == 'crash_to_recv_us' else '':>5}")
        for a in ("troupe", "troupe_fresh_sender"):
            for m in ("crash_to_ready_us", "crash_to_recv_us"):
                print(f"  {a} / raw_fork, {m}: p50 {ratio(pin, a, 'raw_fork', m, 'p50'):.2f}, "
                      f"p99 {ratio(pin, a, 'raw_fork', m, 'p99'):.2f}")
        for v in ("troupe", "troupe_fresh_sender"):
            key = (pin, v, "crash_to_recv_us")
            p50, p99 = med(key, "p50"), med(key, "p99")
            print(f"  target crash_to_recv p50 < 500 us and p99 < 2000 us, {v}: "
                  f"p50 {p50:.0f} {'met' if p50 < 500 else 'NOT met'}, "
                  f"p99 {p99:.0f} {'met' if p99 < 2000 else 'NOT met'}")
    if any(by[(pin, v, m)] for v in variants for m in trees):
        n = next(iter(by[(pin, "troupe", "tree_start_ms")].values()))["n"]
        print(f"  tree of {n} workers, milliseconds (median of each run's median)")
        print(f"  {'variant':<20} {'metric':<18} {'median':>8} {'min':>8} {'max':>8}")
        for v in ("troupe", "raw_fork"):
            for m in trees:
                key = (pin, v, m)
                vals = [row["median"] for row in by[key].values()]
                print(f"  {v:<20} {m:<18} {statistics.median(vals):8.1f} "
                      f"{min(vals):8.1f} {max(vals):8.1f}")
        for m in trees:
            print(f"  troupe / raw_fork, {m}: {ratio(pin, 'troupe', 'raw_fork', m, 'median'):.2f}")
    for (p, v, m), per in sorted(by.items()):
        if p != pin or not per:
            continue
        fields = ("p50", "p90", "p99", "max") if m in dists else ("median",)
        out = {"bench": "restart", "variant": v, "metric": m, "pin": pin,
               "n": next(iter(per.values()))["n"], "runs": len(per)}
        out.update({f: round(med((p, v, m), f), 1) for f in fields})
        print(json.dumps(out, separators=(",", ":")), file=sys.stderr)
EOF
