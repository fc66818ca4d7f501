#!/usr/bin/python3
"""spawn_bench.py: Python's side of bench/spawn_bench.c.

    /usr/bin/python3 bench/spawn_bench.py --n 2000 --rounds 5

Each variant starts and joins n children in total, one at a time, split into
rounds; within a round the variants run back to back and their order rotates
from round to round. The figure is the median over rounds of the time per
child, in microseconds, printed as one JSON line per variant, in the shape
spawn_bench prints.

Variants:
  python_multiprocessing  multiprocessing.get_context("fork"):
                          Process(target=f).start(); join()
  python_os_fork          os.fork(); the child calls os._exit(0); os.waitpid()
"""

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time

CTX = multiprocessing.get_context("fork")


def entry():
    pass


def mp_one():
    p = CTX.Process(target=entry)
    p.start()
    p.join()
    if p.exitcode != 0:
        sys.exit(f"spawn_bench.py: child exited with {p.exitcode}")


def fork_one():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        sys.exit(f"spawn_bench.py: child ended with status {status}")


VARIANTS = [
    ("python_os_fork", fork_one),
    ("python_multiprocessing", mp_one),
]


def run_batch(fn, count):
    t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    for _ in range(count):
        fn()
    return (time.clock_gettime_ns(time.CLOCK_MONOTONIC) - t0) / 1e3 / count


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="children per variant, in total")
    ap.add_argument("--rounds", type=int, default=5, help="rounds the n children are split into")
    ap.add_argument("--json", action="store_true", help="JSON lines (the only format; accepted for symmetry)")
    args = ap.parse_args()
    if args.n <= 0 or args.rounds <= 0 or args.rounds > args.n:
        ap.error("--n and --rounds must be positive, with --rounds at most --n")

    for _, fn in VARIANTS:
        for _ in range(3):
            fn()

    us = {name: [] for name, _ in VARIANTS}
    for r in range(args.rounds):
        count = args.n // args.rounds + (1 if r < args.n % args.rounds else 0)
        for k in range(len(VARIANTS)):
            name, fn = VARIANTS[(r + k) % len(VARIANTS)]
            us[name].append(run_batch(fn, count))

    for name, _ in VARIANTS:
        row = us[name]
        print(json.dumps({
            "bench": "spawn",
            "variant": name,
            "n": args.n,
            "rounds": args.rounds,
            "us_per_actor": round(statistics.median(row), 1),
            "us_min": round(min(row), 1),
            "us_max": round(max(row), 1),
        }, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
