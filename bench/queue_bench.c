/* queue_bench: throughput of one producer feeding 1 or 4 consumers through
 * a troupe queue, next to plain libzmq PUSH/PULL in the same run.
 *
 *   ./bazelw run -c opt //bench:queue_bench -- --messages 1000000 --rounds 3
 *   taskset -c 0 bazel-bin/bench/queue_bench --consumers 4 --variant troupe
 *
 * Every variant does the same work. One producer process sends `messages`
 * messages of `size` bytes (64 by default), each starting with its sequence
 * number (8 bytes, host order); the other bytes are filler. Each consumer
 * process counts what it gets, sums the sequence numbers and marks them in a
 * private bitmap, and stops at the end of the stream. The parent only sets
 * things up, releases the producer and waits. Afterwards it checks that the
 * consumers got `messages` messages in all, each sequence number exactly once
 * (the bitmaps are merged into one in MAP_SHARED memory, and overlaps are
 * counted as duplicates), and reports the time from the producer's first
 * send to the moment the last consumer saw the end of the stream
 * (CLOCK_MONOTONIC, which all processes share). Spawning, connecting before
 * the first send, verifying and reaping are outside that time.
 *
 * Variants:
 *   troupe         tr_queue_new in the parent with default options (capacity
 *                  4000, window 1000); the producer and the consumers are
 *                  actors (tr_actor_spawn). The producer does tr_queue_put
 *                  per message, then tr_queue_close; consumers do
 *                  tr_queue_get until TR_ECLOSED.
 *   troupe_w256    the same with capacity 1000 and window 256 (smaller
 *                  windows make smaller batches).
 *   zmq_pushpull   plain libzmq, each process forked with its own context:
 *                  the producer binds a PUSH on ipc://, consumers connect a
 *                  PULL; default high-water marks; an empty message is the
 *                  end-of-stream sentinel, one per consumer (see s_zmq_eos).
 *
 * A queue cannot be bound before its first put, so troupe's consumers wait
 * until the producer's first put has returned before their first get (else
 * their connect would fail and be retried 20 ms later); troupe's time thus
 * includes binding and the consumers' connect and HELLO, while zmq_pushpull's
 * producer starts its clock only once every consumer's handshake is done.
 * That favours the baseline by well under a millisecond.
 *
 * Rounds: each round runs every (variant, consumers) pair once, in an order
 * that rotates from round to round. Output: one JSON line per pair, with the
 * median over rounds, or a table with --table. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "bench/benchutil.h"
#include <troupe/troupe.h>

enum { V_TROUPE, V_TROUPE_W256, V_ZMQ, V_COUNT };

static const char *const s_variant_names[V_COUNT] = {
    [V_TROUPE] = "troupe",
    [V_TROUPE_W256] = "troupe_w256",
    [V_ZMQ] = "zmq_pushpull",
};

#define MAX_CONSUMERS 64

/* What one consumer reports, written once at its end. Padded to a cache line
 * so that consumers finishing together do not share one. */
typedef struct bench_tally {
    int64_t done_ns;  /* when it saw the end of the stream */
    uint64_t count;   /* messages got */
    uint64_t sum;     /* of their sequence numbers */
    uint64_t dups;    /* sequence numbers it got twice */
    uint64_t bad;     /* messages of the wrong size or out of range */
    char pad[24];
} bench_tally;

/* The memory producer, consumers and parent share (MAP_SHARED). */
typedef struct bench_shared {
    int64_t t0_ns;       /* the producer's clock, just before its first send */
    uint64_t cross_dups; /* sequence numbers that two consumers both got */
    bench_tally tally[MAX_CONSUMERS];
    uint64_t seen[];     /* one bit per sequence number, merged at the end */
} bench_shared;

/* One run: what the children see (at the fork) and the parent uses. */
typedef struct bench_run {
    int variant;
    int consumers;
    long messages;
    size_t size;
    bench_shared *sh;
    size_t words; /* of the bitmap */
    int go[2];    /* the producer starts at EOF on go[0] */
    int bound[2]; /* consumers start at EOF on bound[0] */
    int done[2];  /* zmq: each consumer writes one byte there when done */
    tr_queue *q;
    char endpoint[128];
} bench_run;

typedef struct bench_arg {
    bench_run *run;
    int index;
} bench_arg;

/* Blocks until every writer of fd has closed it. */
static void s_wait_eof(int fd)
{
    char c;
    for (;;) {
        ssize_t n = read(fd, &c, 1);
        if (n == 0 || (n < 0 && errno != EINTR))
            return;
    }
}

static void s_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- the work every consumer does ------------------------------------------ */

typedef struct bench_local {
    uint64_t count, sum, dups, bad;
    uint64_t *seen; /* private: no cache line is shared while counting */
} bench_local;

static void s_take(const bench_run *r, bench_local *l, const void *data, size_t size)
{
    uint64_t seq;
    if (size != r->size) {
        l->bad++;
        return;
    }
    memcpy(&seq, data, sizeof seq);
    if (seq >= (uint64_t)r->messages) {
        l->bad++;
        return;
    }
    l->count++;
    l->sum += seq;
    uint64_t bit = (uint64_t)1 << (seq & 63);
    if (l->seen[seq >> 6] & bit)
        l->dups++;
    l->seen[seq >> 6] |= bit;
}

/* Records the end time, then publishes the tally and merges the bitmap. */
static void s_finish(const bench_run *r, int index, const bench_local *l)
{
    bench_tally *t = &r->sh->tally[index];
    t->done_ns = trb_now_ns();
    t->count = l->count;
    t->sum = l->sum;
    t->dups = l->dups;
    t->bad = l->bad;
    uint64_t cross = 0;
    for (size_t w = 0; w < r->words; w++) {
        if (l->seen[w] == 0)
            continue;
        uint64_t old = __atomic_fetch_or(&r->sh->seen[w], l->seen[w], __ATOMIC_RELAXED);
        cross += (uint64_t)__builtin_popcountll(old & l->seen[w]);
    }
    __atomic_fetch_add(&r->sh->cross_dups, cross, __ATOMIC_RELAXED);
}

/* The producer's message: sequence number first, filler after. */
static unsigned char *s_payload(size_t size)
{
    unsigned char *buf = malloc(size);
    if (buf != NULL)
        memset(buf, 0xa5, size);
    return buf;
}

/* ---- troupe ---------------------------------------------------------------- */

static int s_troupe_consumer(void *arg)
{
    bench_arg *a = arg;
    bench_run *r = a->run;
    bench_local l = {.seen = calloc(r->words, sizeof(uint64_t))};
    if (l.seen == NULL)
        return 1;
    s_wait_eof(r->bound[0]);
    tr_msg m;
    int rc;
    while ((rc = tr_queue_get(r->q, &m, TR_FOREVER)) == TR_OK) {
        s_take(r, &l, tr_msg_data(&m), tr_msg_size(&m));
        tr_msg_close(&m);
    }
    tr_msg_close(&m);
    if (rc != TR_ECLOSED) {
        fprintf(stderr, "queue_bench: tr_queue_get: %s\n", tr_strerror(rc));
        return 1;
    }
    s_finish(r, a->index, &l);
    tr_queue_destroy(&r->q);
    free(l.seen);
    return 0;
}

static int s_troupe_producer(void *arg)
{
    bench_run *r = arg;
    unsigned char *buf = s_payload(r->size);
    if (buf == NULL)
        return 1;
    s_wait_eof(r->go[0]);
    r->sh->t0_ns = trb_now_ns();
    for (long i = 0; i < r->messages; i++) {
        uint64_t seq = (uint64_t)i;
        memcpy(buf, &seq, sizeof seq);
        int rc = tr_queue_put(r->q, buf, r->size, TR_FOREVER);
        if (rc != TR_OK) {
            fprintf(stderr, "queue_bench: tr_queue_put: %s\n", tr_strerror(rc));
            return 1;
        }
        if (i == 0)
            s_close(&r->bound[1]); /* bound now: consumers may connect */
    }
    int rc = tr_queue_close(r->q, TR_FOREVER);
    if (rc != TR_OK) {
        fprintf(stderr, "queue_bench: tr_queue_close: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_queue_destroy(&r->q);
    free(buf);
    return 0;
}

static unsigned long s_seq; /* distinct names for actors and queues */

/* Joins a, returning its exit code (-1 on failure to join). */
static int s_join(tr_actor **a)
{
    int code = -1;
    if (tr_actor_join(*a, TR_FOREVER) != TR_OK || tr_actor_exitcode(*a, &code) != TR_OK)
        code = -1;
    tr_actor_destroy(a);
    return code;
}

static int s_spawn(tr_actor **a, const char *role, tr_actor_fn fn, void *arg, const int *keep,
                   size_t nkeep)
{
    char name[48];
    snprintf(name, sizeof name, "qbench-%s-%lu", role, s_seq++);
    /* Daemons, so that nothing outlives a benchmark that was killed. */
    tr_spawn_opts o = {.flags = TR_SPAWN_DAEMON, .keep_fds = keep, .nkeep_fds = nkeep};
    int rc = tr_actor_spawn(a, name, fn, arg, &o);
    if (rc != TR_OK)
        fprintf(stderr, "queue_bench: tr_actor_spawn: %s (%s)\n", tr_strerror(rc),
                rc == TR_ESYSTEM ? strerror(errno) : tr_errname(rc));
    return rc;
}

static int s_run_troupe(bench_run *r)
{
    char name[48];
    snprintf(name, sizeof name, "qbench-%d-%lu", (int)getpid(), s_seq++);
    tr_queue_opts small = {.capacity = 1000, .window = 256};
    int rc = tr_queue_new(&r->q, name, r->variant == V_TROUPE_W256 ? &small : NULL);
    if (rc != TR_OK) {
        fprintf(stderr, "queue_bench: tr_queue_new: %s\n", tr_strerror(rc));
        return -1;
    }
    bench_arg args[MAX_CONSUMERS];
    tr_actor *cons[MAX_CONSUMERS] = {0};
    tr_actor *prod = NULL;
    int ok = 0, failed = 0;
    for (; ok < r->consumers; ok++) {
        args[ok] = (bench_arg){.run = r, .index = ok};
        if (s_spawn(&cons[ok], "c", s_troupe_consumer, &args[ok], &r->bound[0], 1) != TR_OK)
            break;
    }
    int pkeep[2] = {r->go[0], r->bound[1]};
    if (ok < r->consumers || s_spawn(&prod, "p", s_troupe_producer, r, pkeep, 2) != TR_OK)
        failed = 1;
    s_close(&r->bound[0]);
    s_close(&r->bound[1]);
    s_close(&r->go[1]); /* go */
    if (prod != NULL && s_join(&prod) != 0)
        failed = 1;
    for (int i = 0; i < ok; i++) {
        if (failed)
            tr_actor_kill(cons[i]);
        if (s_join(&cons[i]) != 0)
            failed = 1;
    }
    tr_queue_destroy(&r->q);
    return failed ? -1 : 0;
}

/* ---- plain libzmq ------------------------------------------------------------ */

/* In a forked child: die with the parent, keep only the descriptors named. */
static void s_child_setup(const int *keep, int n)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(1);
    for (int fd = 3; fd < 1024; fd++) {
        int k = 0;
        while (k < n && keep[k] != fd)
            k++;
        if (k == n)
            close(fd);
    }
}

/* End of stream the way a PUSH user does it: one empty message per consumer
 * after the data. PUSH skips peers whose pipe is full, though, so two
 * sentinels sent back to back can land on the same consumer and leave
 * another one waiting forever. Each consumer therefore writes a byte to
 * done[] when it stops, and the producer tops up the sentinels (one per
 * consumer still running) each time one stops, or every 10 ms without news.
 * Extra sentinels are harmless: a consumer stops at its first. */
static int s_zmq_eos(bench_run *r, void *push)
{
    int tmo = 10;
    zmq_setsockopt(push, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    int done = 0, owed = r->consumers;
    while (done < r->consumers) {
        while (owed > 0 && zmq_send(push, "", 0, 0) == 0)
            owed--;
        struct pollfd p = {.fd = r->done[0], .events = POLLIN};
        int n = poll(&p, 1, 10);
        if (n < 0 && errno != EINTR)
            return -1;
        char buf[MAX_CONSUMERS];
        ssize_t got = n > 0 ? read(r->done[0], buf, sizeof buf) : 0;
        if (got > 0)
            done += (int)got;
        owed = r->consumers - done;
    }
    return 0;
}

static int s_zmq_producer(bench_run *r)
{
    unsigned char *buf = s_payload(r->size);
    void *ctx = zmq_ctx_new();
    void *push = ctx ? zmq_socket(ctx, ZMQ_PUSH) : NULL;
    void *mon = ctx ? zmq_socket(ctx, ZMQ_PAIR) : NULL;
    /* Linger 0 from the start: the producer closes only once every consumer
     * has said it is done, so nothing of value is left to deliver. Set just
     * before the close instead, with the connections already made, it let
     * zmq_ctx_term hang about once in a few hundred runs (libzmq 4.3.4);
     * set here, no hang in 1,400 runs. */
    int zero = 0;
    if (buf == NULL || push == NULL || mon == NULL ||
        zmq_setsockopt(push, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_socket_monitor(push, "inproc://qbench-mon", ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0 ||
        zmq_connect(mon, "inproc://qbench-mon") != 0 || zmq_bind(push, r->endpoint) != 0) {
        fprintf(stderr, "queue_bench: zmq producer: %s\n", zmq_strerror(errno));
        return 1;
    }
    s_close(&r->bound[1]);
    /* Start once every consumer is connected, as a PUSH user must: PUSH
     * deals only to the peers it has. */
    for (int n = 0; n < r->consumers;) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, mon, 0) < 0 && errno != EINTR)
            return 1;
        if (!zmq_msg_more(&ev))
            n++; /* the event's last frame */
        zmq_msg_close(&ev);
    }
    zmq_socket_monitor(push, NULL, 0);
    zmq_close(mon);
    s_wait_eof(r->go[0]);
    r->sh->t0_ns = trb_now_ns();
    for (long i = 0; i < r->messages; i++) {
        uint64_t seq = (uint64_t)i;
        memcpy(buf, &seq, sizeof seq);
        while (zmq_send(push, buf, r->size, 0) < 0) {
            if (errno != EINTR) {
                fprintf(stderr, "queue_bench: zmq_send: %s\n", zmq_strerror(errno));
                return 1;
            }
        }
    }
    if (s_zmq_eos(r, push) != 0)
        return 1;
    zmq_close(push);
    zmq_ctx_term(ctx);
    free(buf);
    return 0;
}

static int s_zmq_consumer(bench_run *r, int index)
{
    bench_local l = {.seen = calloc(r->words, sizeof(uint64_t))};
    unsigned char *buf = malloc(r->size);
    void *ctx = zmq_ctx_new();
    void *pull = ctx ? zmq_socket(ctx, ZMQ_PULL) : NULL;
    int zero = 0;
    if (l.seen == NULL || buf == NULL || pull == NULL ||
        zmq_setsockopt(pull, ZMQ_LINGER, &zero, sizeof zero) != 0)
        return 1;
    s_wait_eof(r->bound[0]);
    if (zmq_connect(pull, r->endpoint) != 0)
        return 1;
    for (;;) {
        int n = zmq_recv(pull, buf, r->size, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "queue_bench: zmq_recv: %s\n", zmq_strerror(errno));
            return 1;
        }
        if (n == 0)
            break;
        s_take(r, &l, buf, (size_t)n);
    }
    s_finish(r, index, &l);
    ssize_t w = write(r->done[1], "x", 1);
    (void)w;
    zmq_close(pull);
    zmq_ctx_term(ctx);
    free(buf);
    free(l.seen);
    return 0;
}

static int s_run_zmq(bench_run *r)
{
    char dir[] = "/tmp/qbench.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(r->endpoint, sizeof r->endpoint, "ipc://%s/push", dir);
    pid_t pids[MAX_CONSUMERS + 1];
    int n = 0, failed = 0;
    for (; n <= r->consumers; n++) {
        pid_t pid = fork();
        if (pid < 0) {
            failed = 1;
            break;
        }
        if (pid == 0) {
            if (n < r->consumers) {
                int keep[2] = {r->bound[0], r->done[1]};
                s_child_setup(keep, 2);
                _exit(s_zmq_consumer(r, n));
            }
            int keep[3] = {r->go[0], r->bound[1], r->done[0]};
            s_child_setup(keep, 3);
            _exit(s_zmq_producer(r));
        }
        pids[n] = pid;
    }
    s_close(&r->bound[0]);
    s_close(&r->bound[1]);
    s_close(&r->done[0]);
    s_close(&r->done[1]);
    s_close(&r->go[1]); /* go */
    /* The producer is the last one forked: reap it first. */
    for (int i = n - 1; i >= 0; i--) {
        if (failed)
            kill(pids[i], SIGKILL);
        int status = -1;
        pid_t w;
        while ((w = waitpid(pids[i], &status, 0)) < 0 && errno == EINTR)
            ;
        if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed = 1;
    }
    char path[160];
    snprintf(path, sizeof path, "%s/push", dir);
    unlink(path);
    rmdir(dir);
    return failed ? -1 : 0;
}

/* ---- one run -------------------------------------------------------------------- */

/* A run that hangs ends the program with a message rather than silently:
 * the children die with it (daemon actors, PR_SET_PDEATHSIG). */
static void s_watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "queue_bench: a run did not finish in time\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

/* Runs one variant once; stores its time in seconds. */
static int s_run(bench_shared *sh, size_t words, int variant, int consumers, long messages,
                 size_t size, double *seconds)
{
    memset(sh, 0, sizeof *sh + words * sizeof(uint64_t));
    bench_run r = {.variant = variant, .consumers = consumers, .messages = messages,
                   .size = size, .sh = sh, .words = words};
    if (pipe2(r.go, O_CLOEXEC) != 0 || pipe2(r.bound, O_CLOEXEC) != 0 ||
        pipe2(r.done, O_CLOEXEC) != 0) {
        perror("queue_bench: pipe2");
        return -1;
    }
    /* A minute, plus a minute per 200,000 messages: ten times the slowest
     * run seen here. */
    alarm((unsigned)(60 + messages / 200000 * 60));
    int rc = variant == V_ZMQ ? s_run_zmq(&r) : s_run_troupe(&r);
    alarm(0);
    for (int k = 0; k < 2; k++) {
        s_close(&r.go[k]);
        s_close(&r.bound[k]);
        s_close(&r.done[k]);
    }
    if (rc != 0) {
        fprintf(stderr, "queue_bench: %s with %d consumers failed\n", s_variant_names[variant],
                consumers);
        return -1;
    }
    uint64_t count = 0, sum = 0, dups = sh->cross_dups, bad = 0, set = 0;
    int64_t end = 0;
    for (int i = 0; i < consumers; i++) {
        bench_tally *t = &sh->tally[i];
        count += t->count;
        sum += t->sum;
        dups += t->dups;
        bad += t->bad;
        if (t->done_ns > end)
            end = t->done_ns;
    }
    for (size_t w = 0; w < words; w++)
        set += (uint64_t)__builtin_popcountll(sh->seen[w]);
    uint64_t m = (uint64_t)messages;
    if (count != m || set != m || dups != 0 || bad != 0 || sum != m * (m - 1) / 2) {
        fprintf(stderr,
                "queue_bench: %s with %d consumers: got %llu of %llu messages (%llu distinct, "
                "%llu duplicates, %llu malformed)\n",
                s_variant_names[variant], consumers, (unsigned long long)count,
                (unsigned long long)m, (unsigned long long)set, (unsigned long long)dups,
                (unsigned long long)bad);
        return -1;
    }
    *seconds = (double)(end - sh->t0_ns) / 1e9;
    return 0;
}

/* ---- main ------------------------------------------------------------------------- */

static void s_usage(FILE *f)
{
    fprintf(f, "usage: queue_bench [--messages M] [--consumers N] [--rounds R] [--size S]\n"
               "                   [--variant NAME]... [--json | --table]\n"
               "  --messages M    messages per run (default 1000000)\n"
               "  --consumers N   consumers, 1 to %d (default: 1, then 4)\n"
               "  --rounds R      runs of each variant, interleaved (default 3)\n"
               "  --size S        bytes per message, at least 8 (default 64)\n"
               "  --variant NAME  troupe, troupe_w256 or zmq_pushpull; repeatable\n"
               "                  (default: all)\n"
               "  --json          one JSON line per variant and topology (default)\n"
               "  --table         a human-readable table instead\n",
            MAX_CONSUMERS);
}

int main(int argc, char **argv)
{
    long messages = 1000000, rounds = 3, size = 64;
    int topo[2] = {1, 4}, ntopo = 2, table = 0;
    int variants[V_COUNT], nvariants = 0;
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--messages") == 0) {
            messages = trb_parse_long("queue_bench", next, argv[i], 1, 1L << 40), i++;
        } else if (strcmp(argv[i], "--consumers") == 0) {
            topo[0] = (int)trb_parse_long("queue_bench", next, argv[i], 1, MAX_CONSUMERS), ntopo = 1, i++;
        } else if (strcmp(argv[i], "--rounds") == 0) {
            rounds = trb_parse_long("queue_bench", next, argv[i], 1, 1000), i++;
        } else if (strcmp(argv[i], "--size") == 0) {
            size = trb_parse_long("queue_bench", next, argv[i], 1, 1L << 20), i++;
        } else if (strcmp(argv[i], "--variant") == 0 && next != NULL) {
            int v = 0;
            while (v < V_COUNT && strcmp(next, s_variant_names[v]) != 0)
                v++;
            if (v == V_COUNT) {
                fprintf(stderr, "queue_bench: unknown variant %s\n", next);
                return 2;
            }
            int k = 0;
            while (k < nvariants && variants[k] != v)
                k++;
            if (k == nvariants)
                variants[nvariants++] = v;
            i++;
        } else {
            trb_common_option(argv[i], &table, s_usage);
        }
    }
    if (size < 8) {
        fprintf(stderr, "queue_bench: --size must be at least 8 (the sequence number)\n");
        return 2;
    }
    if (nvariants == 0)
        for (int v = 0; v < V_COUNT; v++)
            variants[nvariants++] = v;

    size_t words = (size_t)(messages + 63) / 64;
    size_t bytes = sizeof(bench_shared) + words * sizeof(uint64_t);
    signal(SIGALRM, s_watchdog);
    bench_shared *sh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
    if (sh == MAP_FAILED) {
        perror("queue_bench: mmap");
        return 1;
    }

    /* The first run of each path creates the run directory and faults in
     * libraries: keep that out of the figures. */
    double warm;
    for (int k = 0; k < nvariants; k++)
        if (s_run(sh, words, variants[k], topo[ntopo - 1], messages < 10000 ? messages : 10000,
                  (size_t)size, &warm) != 0)
            return 1;

    int npairs = nvariants * ntopo;
    double *secs = calloc((size_t)(npairs * rounds), sizeof *secs);
    double *rate = calloc((size_t)(npairs * rounds), sizeof *rate);
    if (secs == NULL || rate == NULL)
        return 1;
    for (long r = 0; r < rounds; r++) {
        for (int k = 0; k < npairs; k++) {
            int p = (int)((r + k) % npairs);
            double s;
            if (s_run(sh, words, variants[p % nvariants], topo[p / nvariants], messages,
                      (size_t)size, &s) != 0)
                return 1;
            secs[p * rounds + r] = s;
            rate[p * rounds + r] = (double)messages / s;
        }
    }

    if (table)
        printf("queue throughput, %ld messages of %ld bytes, median of %ld rounds\n"
               "%-14s %9s %12s %12s %12s\n",
               messages, size, rounds, "variant", "consumers", "msgs/s", "min", "max");
    for (int p = 0; p < npairs; p++) {
        const char *name = s_variant_names[variants[p % nvariants]];
        int consumers = topo[p / nvariants];
        double s = trb_median(&secs[p * rounds], (int)rounds);
        double *row = &rate[p * rounds];
        double med = trb_median(row, (int)rounds);
        if (table)
            printf("%-14s %9d %12.0f %12.0f %12.0f\n", name, consumers, med, row[0],
                   row[rounds - 1]);
        else
            printf("{\"bench\":\"queue\",\"variant\":\"%s\",\"consumers\":%d,\"messages\":%ld,"
                   "\"size\":%ld,\"rounds\":%ld,\"seconds\":%.4f,\"msgs_per_s\":%.0f,"
                   "\"msgs_per_s_min\":%.0f,\"msgs_per_s_max\":%.0f}\n",
                   name, consumers, messages, size, rounds, s, med, row[0], row[rounds - 1]);
    }
    free(secs);
    free(rate);
    munmap(sh, bytes);
    return 0;
}
