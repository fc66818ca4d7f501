/* codec_bench: what the codec costs on a queue. One producer actor feeds one
 * consumer actor through a troupe queue (default options), with typed
 * messages or with raw frames of the same size, in the same run.
 *
 *   ./bazelw run -c opt //bench:codec_bench -- --messages 1000000 --rounds 3
 *   taskset -c 0 bazel-bin/bench/codec_bench --variant typed --rounds 1
 *
 * Variants:
 *   raw    the producer does tr_queue_put of a 64-byte frame (its sequence
 *          number in the first 8 bytes, host order; filler after); the
 *          consumer does tr_queue_get, checks the size and reads the number.
 *   raw2   what typed hands the queue, without the codec: tr_queue_putv of
 *          two frames, 32 bytes of filler (an envelope's size) and the
 *          64-byte frame; the consumer gets both and checks their sizes.
 *          typed / raw2 is the cost of encoding and decoding alone.
 *   typed  the producer fills a bench.Tick (codec_bench.proto, about 64
 *          bytes encoded) and does tr_codec_put: envelope + payload, two
 *          frames; the consumer does tr_codec_get (envelope check, type
 *          lookup, protobuf-c unpack, which allocates), reads seq and
 *          compares source, then tr_typed_release.
 *
 * The producer sends sequence numbers 0..M. Number 0 is a primer: the
 * consumer answers it with a byte on a pipe, and only then does the producer
 * start the clock (CLOCK_MONOTONIC, shared by all processes), so binding,
 * connecting and the first credit are outside the figure. The clock stops
 * when the consumer sees the end of the stream (TR_ECLOSED); the figure is M
 * divided by that time. The consumer marks every number in a bitmap in
 * shared memory; the parent checks that each of 0..M arrived exactly once
 * and nothing malformed did, and stops the program otherwise.
 *
 * The floor: in each round the parent also times protobuf-c alone on the
 * same Tick, in one process with warm caches and no sockets: get_packed_size
 * + pack, and unpack + free_unpacked, per message. It bounds what any
 * protobuf-c-based codec can reach: typed costs at least raw's time plus
 * these, so typed / raw <= raw_ns / (raw_ns + floor_ns) pinned.
 *
 * Rounds: each round runs every variant once, in an order that rotates from
 * round to round. Output: one JSON line per variant with the median over the
 * rounds (and min and max); typed's line also has ratio_to_raw and
 * ratio_to_raw2, the medians of the ratios taken within each round. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include <troupe/codec.h>
#include <troupe/troupe.h>

#include "bench/codec_bench.pb-c.h"

enum { V_RAW, V_RAW2, V_TYPED, V_COUNT };
static const char *const s_names[V_COUNT] = {"raw", "raw2", "typed"};

#define RAW_SIZE 64
#define HDR_SIZE 32 /* raw2's first frame */
#define SOURCE "bench.codec/producer-0001"
#define MAX_ROUNDS 1000

/* The memory producer, consumer and parent share (MAP_SHARED). Only the
 * consumer writes the bitmap, only the producer t0 and the sizes. */
typedef struct bench_shared {
    int64_t t0_ns;             /* producer: just before sending number 1 */
    int64_t done_ns;           /* consumer: at TR_ECLOSED */
    uint64_t count, dups, bad; /* consumer: numbers got, got twice, malformed */
    uint64_t hlen, plen;       /* producer: envelope and payload of number M */
    uint64_t seen[];           /* one bit per number 0..M */
} bench_shared;

typedef struct bench_run {
    int variant;
    uint64_t m; /* timed messages; M + 1 are sent */
    bench_shared *sh;
    int ready[2]; /* the consumer writes one byte there on the primer */
    tr_queue *q;
} bench_run;

/* ---- the actors ------------------------------------------------------------ */

static void s_take(bench_run *r, uint64_t seq)
{
    bench_shared *sh = r->sh;
    if (seq > r->m) {
        sh->bad++;
        return;
    }
    uint64_t bit = (uint64_t)1 << (seq & 63);
    sh->dups += (sh->seen[seq >> 6] & bit) != 0;
    sh->seen[seq >> 6] |= bit;
    sh->count++;
    if (seq == 0) { /* the primer: the producer may start the clock */
        ssize_t w = write(r->ready[1], "r", 1);
        (void)w;
        close(r->ready[1]);
    }
}

/* Gets the next number into *seq (UINT64_MAX for a malformed message). */
static int s_get(const bench_run *r, tr_registry *reg, uint64_t *seq)
{
    *seq = UINT64_MAX;
    if (r->variant != V_TYPED) {
        tr_msg f[2];
        int n = 0, rc = tr_queue_get(r->q, &f[n++], TR_FOREVER);
        /* The frames of a message arrive together: the second is there. */
        if (rc == TR_OK && r->variant == V_RAW2 && tr_msg_more(&f[0]))
            rc = tr_queue_get(r->q, &f[n++], 0);
        tr_msg *last = &f[n - 1];
        if (rc == TR_OK && n == (r->variant == V_RAW2 ? 2 : 1) && !tr_msg_more(last) &&
            tr_msg_size(last) == RAW_SIZE && (n == 1 || tr_msg_size(&f[0]) == HDR_SIZE))
            memcpy(seq, tr_msg_data(last), sizeof *seq);
        for (int k = 0; k < n; k++)
            tr_msg_close(&f[k]);
        return rc;
    }
    tr_typed t;
    int rc = tr_codec_get(r->q, reg, &t, TR_FOREVER);
    if (rc == TR_OK) {
        const Bench__Tick *tick = (const Bench__Tick *)t.msg;
        if (strcmp(tick->source, SOURCE) == 0)
            *seq = tick->seq;
        tr_typed_release(&t);
    }
    /* A refused message was taken off whole: it is counted, and we go on. */
    bool refused = rc >= TR_EFRAMES || rc == TR_ETOOBIG;
    return refused ? TR_OK : rc;
}

static int s_consumer(void *arg)
{
    bench_run *r = arg;
    tr_registry *reg = NULL;
    if (tr_registry_new(&reg) != TR_OK ||
        tr_registry_add(reg, &bench__tick__descriptor, NULL) != TR_OK)
        return 1;
    uint64_t seq;
    int rc;
    while ((rc = s_get(r, reg, &seq)) == TR_OK)
        s_take(r, seq);
    r->sh->done_ns = trb_now_ns();
    tr_registry_destroy(&reg);
    tr_queue_destroy(&r->q);
    if (rc != TR_ECLOSED) {
        fprintf(stderr, "codec_bench: get: %s\n", tr_strerror(rc));
        return 1;
    }
    return 0;
}

static int s_producer(void *arg)
{
    bench_run *r = arg;
    unsigned char hdr[HDR_SIZE], frame[RAW_SIZE];
    memset(hdr, 0x5a, sizeof hdr);
    memset(frame, 0xa5, sizeof frame);
    struct iovec two[2] = {{hdr, sizeof hdr}, {frame, sizeof frame}};
    Bench__Tick tick;
    bench__tick__init(&tick); /* not BENCH__TICK__INIT: it casts away a const */
    tick = (Bench__Tick){.base = tick.base, .source = SOURCE, .kind = 7, .count = 100000,
                         .price = 101.25, .volume = 3.5e6};
    for (uint64_t i = 0; i <= r->m; i++) {
        if (i == 1) { /* the consumer got the primer: connected */
            char c;
            ssize_t n;
            while ((n = read(r->ready[0], &c, 1)) < 0 && errno == EINTR)
                ;
            if (n != 1)
                return 1; /* the consumer died */
            r->sh->t0_ns = trb_now_ns();
        }
        int rc;
        if (r->variant == V_RAW) {
            memcpy(frame, &i, sizeof i);
            rc = tr_queue_put(r->q, frame, sizeof frame, TR_FOREVER);
        } else if (r->variant == V_RAW2) {
            memcpy(frame, &i, sizeof i);
            rc = tr_queue_putv(r->q, two, 2, TR_FOREVER);
        } else {
            tick.seq = i;
            tick.stamp_us = 1700000000000000 + (int64_t)i;
            rc = tr_codec_put(r->q, &tick.base, TR_FOREVER);
        }
        if (rc != TR_OK) {
            fprintf(stderr, "codec_bench: put: %s\n", tr_strerror(rc));
            return 1;
        }
    }
    int rc = tr_queue_close(r->q, TR_FOREVER);
    /* The sizes of the last message, as sent (the envelope names this actor). */
    unsigned char buf[512];
    size_t hlen = 0, plen = 0;
    tr_codec_encode(&tick.base, 0, buf, sizeof buf, &hlen, &plen);
    r->sh->hlen = r->variant == V_TYPED ? hlen : r->variant == V_RAW2 ? HDR_SIZE : 0;
    r->sh->plen = r->variant == V_TYPED ? plen : RAW_SIZE;
    tr_queue_destroy(&r->q);
    return rc == TR_OK ? 0 : 1;
}

/* ---- one run ------------------------------------------------------------------ */

static unsigned long s_seq; /* distinct names for actors and queues */

static tr_actor *s_spawn(const char *role, tr_actor_fn fn, bench_run *r, int keep)
{
    char name[48];
    snprintf(name, sizeof name, "cbench-%s-%lu", role, s_seq++);
    /* Daemons, so that nothing outlives a benchmark that was killed. */
    tr_spawn_opts o = {.flags = TR_SPAWN_DAEMON, .keep_fds = &keep, .nkeep_fds = 1};
    tr_actor *a = NULL;
    int rc = tr_actor_spawn(&a, name, fn, r, &o);
    if (rc != TR_OK)
        fprintf(stderr, "codec_bench: tr_actor_spawn: %s\n", tr_strerror(rc));
    return a;
}

/* Joins *a (killing it first if `kill`); false unless it exited with 0. */
static int s_join(tr_actor **a, int kill)
{
    int code = -1;
    if (*a == NULL)
        return 0;
    if (kill)
        tr_actor_kill(*a);
    if (tr_actor_join(*a, TR_FOREVER) != TR_OK || tr_actor_exitcode(*a, &code) != TR_OK)
        code = -1;
    tr_actor_destroy(a);
    return code == 0;
}

/* protobuf-c alone: ns per message for size + pack and for unpack + free. */
static void s_floor(uint64_t m, double *pack_ns, double *unpack_ns)
{
    Bench__Tick tick;
    bench__tick__init(&tick);
    tick = (Bench__Tick){.base = tick.base, .source = SOURCE, .kind = 7, .count = 100000,
                         .price = 101.25, .volume = 3.5e6};
    uint8_t buf[256];
    size_t len = 0;
    uint64_t sum = 0;
    long long t0 = trb_now_ns();
    for (uint64_t i = 0; i < m; i++) {
        tick.seq = i;
        tick.stamp_us = 1700000000000000 + (int64_t)i;
        if (bench__tick__get_packed_size(&tick) > sizeof buf)
            abort();
        len = bench__tick__pack(&tick, buf);
    }
    long long t1 = trb_now_ns();
    for (uint64_t i = 0; i < m; i++) {
        Bench__Tick *t = bench__tick__unpack(NULL, len, buf);
        if (t == NULL)
            abort();
        sum += t->seq;
        bench__tick__free_unpacked(t, NULL);
    }
    long long t2 = trb_now_ns();
    if (sum != (m - 1) * m) /* every unpack read the last seq: m - 1 */
        abort();
    *pack_ns = (double)(t1 - t0) / (double)m;
    *unpack_ns = (double)(t2 - t1) / (double)m;
}

/* Runs one variant once: 0 and its messages per second in *rate, or -1. */
static int s_run(bench_shared *sh, int variant, uint64_t m, double *rate)
{
    size_t words = (size_t)(m + 64) / 64;
    memset(sh, 0, sizeof *sh + words * sizeof(uint64_t));
    bench_run r = {.variant = variant, .m = m, .sh = sh};
    char name[48];
    snprintf(name, sizeof name, "cbench-%d-%lu", (int)getpid(), s_seq++);
    if (pipe2(r.ready, O_CLOEXEC) != 0 || tr_queue_new(&r.q, name, NULL) != TR_OK) {
        fprintf(stderr, "codec_bench: set-up failed\n");
        return -1;
    }
    /* A run that hangs ends the program (SIGALRM's default action), and the
     * daemon actors with it: after a minute plus a minute per 200,000
     * messages, far above any run seen. */
    alarm((unsigned)(60 + m / 200000 * 60));
    tr_actor *cons = s_spawn("c", s_consumer, &r, r.ready[1]);
    tr_actor *prod = cons ? s_spawn("p", s_producer, &r, r.ready[0]) : NULL;
    close(r.ready[0]); /* the actors have their own */
    close(r.ready[1]);
    int ok = s_join(&prod, 0);
    ok = s_join(&cons, !ok) && ok;
    alarm(0);
    tr_queue_destroy(&r.q);
    uint64_t set = 0;
    for (size_t w = 0; w < words; w++)
        set += (uint64_t)__builtin_popcountll(sh->seen[w]);
    if (!ok || sh->count != m + 1 || set != m + 1 || sh->dups || sh->bad) {
        fprintf(stderr, "codec_bench: %s: %llu of %llu (%llu distinct, %llu dups, %llu bad%s)\n",
                s_names[variant], (unsigned long long)sh->count, (unsigned long long)m + 1,
                (unsigned long long)set, (unsigned long long)sh->dups, (unsigned long long)sh->bad,
                ok ? "" : "; an actor failed");
        return -1;
    }
    *rate = (double)m * 1e9 / (double)(sh->done_ns - sh->t0_ns);
    return 0;
}

/* ---- main ----------------------------------------------------------------------- */

static long s_arg(const char *s, const char *flag, long max)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (s == NULL || errno != 0 || *end != '\0' || v <= 0 || v > max) {
        fprintf(stderr, "codec_bench: %s needs an integer from 1 to %ld\n", flag, max);
        exit(2);
    }
    return v;
}

static const char s_usage[] =
    "usage: codec_bench [--messages M] [--rounds R] [--variant NAME]... [--json]\n"
    "  --messages M    timed messages per run (default 1000000)\n"
    "  --rounds R      runs of each variant, interleaved (default 3)\n"
    "  --variant NAME  raw, raw2 or typed; repeatable (default: all)\n"
    "  --json          one JSON line per variant (the default, and the only format)\n";

int main(int argc, char **argv)
{
    long m = 1000000, rounds = 3;
    int vs[V_COUNT], nv = 0, ran[V_COUNT] = {0};
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        int v = 0;
        if (strcmp(argv[i], "--messages") == 0) {
            m = s_arg(next, argv[i], 1L << 36), i++;
        } else if (strcmp(argv[i], "--rounds") == 0) {
            rounds = s_arg(next, argv[i], MAX_ROUNDS), i++;
        } else if (strcmp(argv[i], "--variant") == 0 && next != NULL) {
            while (v < V_COUNT && strcmp(next, s_names[v]) != 0)
                v++;
            if (v == V_COUNT || ran[v]) {
                fputs(s_usage, stderr);
                return 2;
            }
            vs[nv++] = v, ran[v] = 1, i++;
        } else if (strcmp(argv[i], "--json") != 0) {
            int help = strcmp(argv[i], "--help") == 0;
            fputs(s_usage, help ? stdout : stderr);
            return help ? 0 : 2;
        }
    }
    if (nv == 0) /* no --variant: all of them */
        for (int v = 0; v < V_COUNT; v++)
            vs[nv++] = v, ran[v] = 1;
    size_t bytes = sizeof(bench_shared) + (size_t)(m + 64) / 64 * sizeof(uint64_t);
    bench_shared *sh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
    if (sh == MAP_FAILED) {
        perror("codec_bench: mmap");
        return 1;
    }

    /* The first run of each path makes the run directory and faults in the
     * libraries: keep that out of the figures. */
    static double rate[V_COUNT][MAX_ROUNDS], ratio[V_COUNT][MAX_ROUNDS];
    static double floor_pack[MAX_ROUNDS], floor_unpack[MAX_ROUNDS], floor_ratio[MAX_ROUNDS];
    unsigned long long hlen[V_COUNT], plen[V_COUNT];
    for (int k = 0; k < nv; k++)
        if (s_run(sh, vs[k], m < 10000 ? (uint64_t)m : 10000, &rate[vs[k]][0]) != 0)
            return 1;
    for (long r = 0; r < rounds; r++) {
        for (int k = 0; k < nv; k++) {
            int v = vs[(r + k) % nv];
            if (s_run(sh, v, (uint64_t)m, &rate[v][r]) != 0)
                return 1;
            hlen[v] = sh->hlen, plen[v] = sh->plen;
        }
        for (int v = 0; v < V_COUNT; v++) /* typed over each, within the round */
            ratio[v][r] = rate[V_TYPED][r] / rate[v][r];
        s_floor((uint64_t)m, &floor_pack[r], &floor_unpack[r]);
        /* The best typed / raw a protobuf-c codec could give in this round,
         * were all its cost added to raw's on one CPU. */
        if (ran[V_RAW]) {
            double raw_ns = 1e9 / rate[V_RAW][r];
            floor_ratio[r] = raw_ns / (raw_ns + floor_pack[r] + floor_unpack[r]);
        }
    }
    for (int v = 0; v < V_COUNT; v++) {
        if (!ran[v])
            continue;
        printf("{\"bench\":\"codec\",\"variant\":\"%s\",\"consumers\":1,\"messages\":%ld,"
               "\"envelope_bytes\":%llu,\"payload_bytes\":%llu,\"rounds\":%ld,",
               s_names[v], m, hlen[v], plen[v], rounds);
        for (int d = 0; d < V_TYPED && v == V_TYPED; d++)
            if (ran[d])
                printf("\"ratio_to_%s\":%.3f,", s_names[d], trb_median(ratio[d], (int)rounds));
        double med = trb_median(rate[v], (int)rounds);
        printf("\"msgs_per_s\":%.0f,\"msgs_per_s_min\":%.0f,\"msgs_per_s_max\":%.0f}\n", med,
               rate[v][0], rate[v][rounds - 1]);
    }
    printf("{\"bench\":\"codec\",\"variant\":\"protobuf_c_only\",\"messages\":%ld,"
           "\"rounds\":%ld,\"pack_ns\":%.1f,\"unpack_ns\":%.1f",
           m, rounds, trb_median(floor_pack, (int)rounds), trb_median(floor_unpack, (int)rounds));
    if (ran[V_RAW])
        printf(",\"best_ratio_to_raw_one_cpu\":%.3f", trb_median(floor_ratio, (int)rounds));
    printf("}\n");
    munmap(sh, bytes);
    return 0;
}
