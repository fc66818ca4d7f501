#!/usr/bin/python3
"""queue_bench.py: Python's side of bench/queue_bench.c.

    /usr/bin/python3 bench/queue_bench.py --messages 1000000 --rounds 3

The same workload as queue_bench: one producer process puts `messages`
messages of `size` bytes (64 by default), each a bytes object starting with
its sequence number (8 bytes, little-endian) followed by filler; each
consumer process counts what it gets, sums the sequence numbers and marks
them in a private bytearray, and stops at the end of the stream. The parent
starts the processes, releases the producer and waits; then it checks that
`messages` messages arrived in all, each sequence number exactly once
(consumers copy their marks into shared memory after stopping, and the
parent looks for overlaps), and reports the time from the producer's first
put to the moment the last consumer saw the end of the stream
(CLOCK_MONOTONIC, which all processes share).

Variant:
  python_queue  multiprocessing.get_context("fork").Queue(); the producer
                puts every message, then one None per consumer (the usual
                sentinel); consumers get() until None.

Each round runs each topology once, in an order that rotates per round.
Output: one JSON line per topology, in the shape queue_bench prints, with the
median over rounds.
"""

import argparse
import json
import multiprocessing
import statistics
import struct
import sys
import time

CTX = multiprocessing.get_context("fork")
SEQ = struct.Struct("<Q")


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def producer(q, go, t0, messages, size, consumers):
    buf = bytearray(b"\xa5" * size)
    go.wait()
    t0.value = now_ns()
    pack = SEQ.pack_into
    put = q.put
    for i in range(messages):
        pack(buf, 0, i)
        put(bytes(buf))
    for _ in range(consumers):
        put(None)
    # The process's exit joins the queue's feeder thread, which flushes.


def consumer(q, index, messages, size, tally, marks):
    seen = bytearray(messages)
    count = total = dups = bad = 0
    unpack = SEQ.unpack_from
    get = q.get
    while True:
        m = get()
        if m is None:
            break
        if len(m) != size:
            bad += 1
            continue
        seq = unpack(m)[0]
        if seq >= messages:
            bad += 1
            continue
        count += 1
        total += seq
        if seen[seq]:
            dups += 1
        seen[seq] = 1
    done = now_ns()
    tally[index * 5:index * 5 + 5] = [done, count, total, dups, bad]
    memoryview(marks).cast("B")[index * messages:(index + 1) * messages] = seen


def run(messages, size, consumers):
    """Runs once; returns the time in seconds."""
    q = CTX.Queue()
    go = CTX.Event()
    t0 = CTX.RawValue("q", 0)
    tally = CTX.RawArray("Q", 5 * consumers)
    marks = CTX.RawArray("B", messages * consumers)
    cons = [CTX.Process(target=consumer, args=(q, i, messages, size, tally, marks))
            for i in range(consumers)]
    prod = CTX.Process(target=producer, args=(q, go, t0, messages, size, consumers))
    for p in cons + [prod]:
        p.start()
    go.set()
    for p in [prod] + cons:
        p.join()
        if p.exitcode != 0:
            sys.exit(f"queue_bench.py: a child exited with {p.exitcode}")

    view = memoryview(marks).cast("B")
    union = count = total = dups = bad = end = 0
    for i in range(consumers):
        done, c, s, d, b = tally[i * 5:i * 5 + 5]
        end = max(end, done)
        count, total, dups, bad = count + c, total + s, dups + d, bad + b
        # One bit per byte position: a 0/1 bytearray read as an integer.
        bits = int.from_bytes(view[i * messages:(i + 1) * messages], "little")
        dups += (union & bits).bit_count()
        union |= bits
    if (count != messages or union.bit_count() != messages or dups or bad
            or total != messages * (messages - 1) // 2):
        sys.exit(f"queue_bench.py: got {count} of {messages} messages "
                 f"({union.bit_count()} distinct, {dups} duplicates, {bad} malformed)")
    return (end - t0.value) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1000000, help="messages per run")
    ap.add_argument("--consumers", type=int, choices=range(1, 65), metavar="N",
                    help="consumers, 1 to 64 (default: 1, then 4)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each topology, interleaved")
    ap.add_argument("--size", type=int, default=64, help="bytes per message, at least 8")
    ap.add_argument("--variant", action="append", choices=["python_queue"],
                    help="python_queue, the only one (accepted for symmetry)")
    ap.add_argument("--json", action="store_true", help="JSON lines (the only format)")
    args = ap.parse_args()
    if args.messages <= 0 or args.rounds <= 0 or args.size < 8:
        ap.error("--messages and --rounds must be positive, --size at least 8")
    topos = [args.consumers] if args.consumers else [1, 4]

    run(min(args.messages, 10000), args.size, topos[-1])  # warm-up

    secs = {n: [] for n in topos}
    for r in range(args.rounds):
        for k in range(len(topos)):
            n = topos[(r + k) % len(topos)]
            secs[n].append(run(args.messages, args.size, n))

    for n in topos:
        rates = sorted(args.messages / s for s in secs[n])
        print(json.dumps({
            "bench": "queue",
            "variant": "python_queue",
            "consumers": n,
            "messages": args.messages,
            "size": args.size,
            "rounds": args.rounds,
            "seconds": round(statistics.median(secs[n]), 4),
            "msgs_per_s": round(statistics.median(rates)),
            "msgs_per_s_min": round(rates[0]),
            "msgs_per_s_max": round(rates[-1]),
        }, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
