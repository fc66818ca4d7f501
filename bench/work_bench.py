#!/usr/bin/python3
"""work_bench.py: Python's side of bench/work_bench.c's throughput figure.

    /usr/bin/python3 bench/work_bench.py --tasks 200000 --rounds 3

The same workload as work_bench's troupe_pool: a trivial task,
`def f(x): return 2*x`, over range(tasks) (200,000 by default), through 4
worker processes. Each run starts multiprocessing.get_context("fork").Pool(4),
runs a warm-up of min(tasks, 1000) tasks (so that the workers are up and
fed), then times imap_unordered(f, range(tasks)) with its default chunksize
of 1, from the call to the last result, taking the results into a list.
Afterwards it checks every result: the results must be exactly the even
numbers 2x for x in range(tasks), each once (imap_unordered gives no index,
so a result names its input by being 2x); anything else stops the program.
Starting and closing the pool are outside the time.

Variant:
  python_pool_imap_unordered  as above.

Output: one JSON line in the shape work_bench prints, with the median over
rounds.
"""

import argparse
import json
import multiprocessing
import statistics
import sys
import time

CTX = multiprocessing.get_context("fork")
WORKERS = 4


def f(x):
    return 2 * x


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def check(results, n):
    """Exits unless results are 2x for each x in range(n), each once."""
    seen = bytearray(n)
    bad = dups = 0
    for r in results:
        if not isinstance(r, int) or r & 1 or not 0 <= r >> 1 < n:
            bad += 1
            continue
        x = r >> 1
        if seen[x]:
            dups += 1
        seen[x] = 1
    missing = n - sum(seen)
    if len(results) != n or bad or dups or missing:
        sys.exit(f"work_bench.py: {len(results)} results for {n} tasks: {bad} wrong, "
                 f"{dups} duplicates, {missing} missing")


def run(n):
    """Runs once; returns the time in seconds."""
    with CTX.Pool(WORKERS) as pool:
        warm = min(n, 1000)
        check(list(pool.imap_unordered(f, range(warm))), warm)
        t0 = now_ns()
        results = list(pool.imap_unordered(f, range(n)))
        t1 = now_ns()
    check(results, n)
    return (t1 - t0) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=200000, help="tasks per run")
    ap.add_argument("--rounds", type=int, default=3, help="runs, each with a fresh pool")
    ap.add_argument("--variant", action="append", choices=["python_pool_imap_unordered"],
                    help="python_pool_imap_unordered, the only one (accepted for symmetry)")
    ap.add_argument("--json", action="store_true", help="JSON lines (the only format)")
    args = ap.parse_args()
    if args.tasks <= 0 or args.rounds <= 0:
        ap.error("--tasks and --rounds must be positive")

    secs = [run(args.tasks) for _ in range(args.rounds)]
    rates = sorted(args.tasks / s for s in secs)
    print(json.dumps({
        "bench": "work",
        "variant": "python_pool_imap_unordered",
        "workers": WORKERS,
        "tasks": args.tasks,
        "rounds": args.rounds,
        "seconds": round(statistics.median(secs), 4),
        "tasks_per_s": round(statistics.median(rates)),
        "tasks_per_s_min": round(rates[0]),
        "tasks_per_s_max": round(rates[-1]),
    }, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
