#!/usr/bin/env python3
"""Python's multiprocessing.Pipe round trip, the baseline pipe_bench is
compared with: the same rounds, size and repetitions, p50/p99 in us."""
import argparse
import json
import multiprocessing as mp
import statistics
import time


def echo(conn, parent_end):
    parent_end.close()  # or our copy keeps it open and EOF never comes
    while True:
        try:
            conn.send_bytes(conn.recv_bytes())
        except EOFError:
            return


def one_rep(rounds, size):
    a, b = mp.Pipe(duplex=True)
    p = mp.get_context("fork").Process(target=echo, args=(b, a))
    p.start()
    payload = bytes(size)
    rtt = []
    for i in range(-(rounds // 10 + 1), rounds):
        t = time.perf_counter_ns()
        a.send_bytes(payload)
        a.recv_bytes()
        if i >= 0:
            rtt.append((time.perf_counter_ns() - t) / 1000.0)
    b.close()
    a.close()
    p.join()
    rtt.sort()
    return rtt[rounds // 2], rtt[rounds * 99 // 100]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    reps = [one_rep(args.rounds, args.size) for _ in range(args.reps)]
    print(json.dumps({"bench": "pipe", "variant": "python_pipe", "rounds": args.rounds,
                      "size": args.size, "reps": args.reps,
                      "p50_us": round(statistics.median(r[0] for r in reps), 2),
                      "p99_us": round(statistics.median(r[1] for r in reps), 2)}))


if __name__ == "__main__":
    main()
