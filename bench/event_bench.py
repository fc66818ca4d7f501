#!/usr/bin/env python3
"""Python's multiprocessing.Event wake-up latency, the baseline event_bench
is compared with: W waiter processes block in e.wait(), the parent reads
the clock and calls e.set(); each waiter writes time.monotonic_ns()
(CLOCK_MONOTONIC, as the C program) into shared memory when it wakes; the
latency is the latest wake minus the time before the set. The parent then
clears the event and a Barrier re-arms the waiters; before each set the
parent waits until every waiter's main thread sleeps (/proc state S), as
the C program does. R timed repetitions after R/20 + 1 untimed ones, K
runs; one JSON line with the medians of the runs' p50 and p99, in us."""
import argparse
import json
import multiprocessing as mp
import statistics
import time


def waiter(i, ev, wake, barrier, total):
    for _ in range(total):
        barrier.wait()  # the parent has cleared: wait again
        ev.wait()
        wake[i] = time.monotonic_ns()
        barrier.wait()  # all woke


def sleeping(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "S"


def one_run(ctx, waiters, reps):
    total = reps + reps // 20 + 1
    ev = ctx.Event()
    wake = ctx.Array("q", waiters, lock=False)
    barrier = ctx.Barrier(waiters + 1)
    procs = [ctx.Process(target=waiter, args=(i, ev, wake, barrier, total))
             for i in range(waiters)]
    for p in procs:
        p.start()
    lat = []
    for r in range(total):
        barrier.wait()
        for p in procs:
            while not sleeping(p.pid):
                time.sleep(0.00002)
        t0 = time.monotonic_ns()
        ev.set()
        barrier.wait()
        if r >= total - reps:
            lat.append((max(wake) - t0) / 1000.0)
        ev.clear()
    for p in procs:
        p.join()
    lat.sort()
    return lat[reps // 2], lat[reps * 99 // 100]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--waiters", type=int, default=8)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    ctx = mp.get_context("fork")
    runs = [one_run(ctx, args.waiters, args.reps) for _ in range(args.runs)]
    print(json.dumps({"bench": "event", "variant": "python_event", "waiters": args.waiters,
                      "reps": args.reps, "runs": args.runs,
                      "p50_us": round(statistics.median(r[0] for r in runs), 2),
                      "p99_us": round(statistics.median(r[1] for r in runs), 2)}))


if __name__ == "__main__":
    main()
