/* work_bench: tasks per second through a troupe work broker with
 * acknowledgements, and how soon a lost worker's task runs elsewhere.
 *
 *   ./bazelw run -c opt //bench:work_bench -- --tasks 200000 --rounds 3
 *   taskset -c 0 bazel-bin/bench/work_bench --variant troupe_pool
 *
 * bench/work_bench.py is the Python side of the throughput figure
 * (multiprocessing.Pool(4).imap_unordered of the same task); bench/run_work.sh
 * runs both, interleaved, unpinned and pinned to one CPU.
 *
 * Throughput. The task is trivial on purpose, so that the figure is the
 * cost of moving tasks and results: its bytes are an 8-byte integer x (host
 * order) and its function returns 2x as 8 bytes (Python: `def f(x): return
 * 2*x`). Each run starts 4 local workers, runs a warm-up of min(tasks, 1000)
 * tasks (so that the workers' connections and first credits are made), then
 * times `tasks` tasks (200,000 by default) from the first submit to the last
 * result. Every result is checked: each task's result must be 2x of its own
 * input, each exactly once; any mismatch, missing or malformed result stops
 * the program. Starting and stopping the workers are outside the time.
 *   troupe_pool    tr_pool_start with 4 workers and default options (its own
 *                  broker, default broker options: journal on), then one
 *                  tr_pool_map over all the tasks; the time ends when it
 *                  returns (results matched to inputs, duplicates dropped).
 *   troupe_client  what remote producers use: tr_broker_start (default
 *                  options), 4 worker actors running tr_worker_run (default
 *                  options) and a producer (tr_work_client_new, default
 *                  options) in this process: one tr_work_submitv of all the
 *                  tasks, then tr_work_next until every id came back. A
 *                  result that comes twice is counted (at least once) and
 *                  not an error.
 * Each round runs both, in an order that rotates per round; the figure is
 * the median over rounds.
 *
 * Redelivery: the time from a worker's death to its task running in
 * another worker. A broker (tr_broker_start, default options: heartbeat
 * 500 ms, timeout 2000 ms) and, for each repetition, two fresh worker actors
 * that run tr_worker_run with one task function. A producer in this process
 * submits one task once both workers are known to the broker (its stats say
 * 2 workers). Whichever worker starts the task first (A) writes a record to
 * a pipe and blocks forever; the bench reads it, takes CLOCK_MONOTONIC (t0)
 * and signals A. The broker gives the task to the other worker (B), whose
 * task function takes CLOCK_MONOTONIC (t1) as it starts it and writes that
 * to a second pipe, then returns 2x. The figure is t1 - t0; the bench also
 * checks that B, not A, ran it again and that the producer got its result.
 *   troupe_sigkill  A gets SIGKILL. Its connection closes, and the broker
 *                   finds the death through its socket monitor and probes
 *                   (a local worker's fast path).
 *   troupe_sigstop  A gets SIGSTOP: its connection stays up and silent, as
 *                   a hung host's would, and only the heartbeat timeout
 *                   finds it (timeout_ms after A was last heard, which is
 *                   up to heartbeat_ms before the stop). A is SIGKILLed
 *                   afterwards.
 * The percentiles are nearest-rank: with 20 repetitions p99 is the maximum.
 * These runs set troupe's log level to error (unless TROUPE_LOG_LEVEL is
 * set): every repetition loses a worker on purpose, which is a warning.
 *
 * Output: one JSON line per variant (the default, --json), or a table with
 * --table. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include <troupe/troupe.h>
#include <troupe/work.h>

enum { V_POOL, V_CLIENT, V_SIGKILL, V_SIGSTOP, V_COUNT };

static const char *const s_variant_names[V_COUNT] = {
    [V_POOL] = "troupe_pool",
    [V_CLIENT] = "troupe_client",
    [V_SIGKILL] = "troupe_sigkill",
    [V_SIGSTOP] = "troupe_sigstop",
};

#define WORKERS 4
#define WAIT_MS 120000 /* for any one batch of results: far beyond the slowest run */

static unsigned long s_seq; /* distinct names for actors, brokers and pools */

static _Noreturn void s_die(const char *what)
{
    fprintf(stderr, "work_bench: %s\n", what);
    exit(1);
}

static void s_check(int rc, const char *call)
{
    if (rc == TR_OK)
        return;
    fprintf(stderr, "work_bench: %s: %s (%s)\n", call, tr_strerror(rc),
            rc == TR_ESYSTEM ? strerror(errno) : tr_errname(rc));
    exit(1);
}

/* A run that hangs ends the program with a message rather than silently:
 * every actor it started is a daemon and dies with it. */
static void s_watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "work_bench: a run did not finish in time\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

/* ---- the task ------------------------------------------------------------------ */

/* x -> 2x, 8 bytes in, 8 bytes out: Python's `def f(x): return 2*x`. */
static int s_double(void *arg, const void *data, size_t size, void **result,
                    size_t *result_size)
{
    (void)arg;
    uint64_t x;
    if (size != sizeof x)
        return 1;
    memcpy(&x, data, sizeof x);
    uint64_t *out = malloc(sizeof *out);
    if (out == NULL)
        return 2;
    *out = 2 * x;
    *result = out;
    *result_size = sizeof *out;
    return 0;
}

/* The inputs 0..n-1, as tasks. */
typedef struct bench_input {
    uint64_t *x;
    struct iovec *v;
    size_t n;
} bench_input;

static void s_input_make(bench_input *in, size_t n)
{
    in->x = malloc(n * sizeof *in->x);
    in->v = malloc(n * sizeof *in->v);
    if (in->x == NULL || in->v == NULL)
        s_die("out of memory");
    for (size_t i = 0; i < n; i++) {
        in->x[i] = i;
        in->v[i] = (struct iovec){.iov_base = &in->x[i], .iov_len = sizeof in->x[i]};
    }
    in->n = n;
}

static void s_input_free(bench_input *in)
{
    free(in->x);
    free(in->v);
}

/* ---- troupe_pool -------------------------------------------------------------- */

/* Runs the first n inputs through tr_pool_map and checks every result;
 * returns the time in seconds. */
static double s_pool_map(tr_pool *p, const bench_input *in, size_t n, tr_msg *results,
                         int *statuses)
{
    long long t0 = trb_now_ns();
    int rc = tr_pool_map(p, in->v, n, results, statuses, WAIT_MS);
    long long t1 = trb_now_ns();
    s_check(rc, "tr_pool_map");
    size_t bad = 0, missing = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t y;
        if (statuses[i] == TR_WORK_MISSING) {
            missing++;
        } else if (statuses[i] != 0 || tr_msg_size(&results[i]) != sizeof y) {
            bad++;
        } else {
            memcpy(&y, tr_msg_data(&results[i]), sizeof y);
            bad += y != 2 * in->x[i];
        }
        tr_msg_close(&results[i]);
    }
    if (bad != 0 || missing != 0) {
        fprintf(stderr, "work_bench: troupe_pool: %zu of %zu results wrong, %zu missing\n", bad,
                n, missing);
        exit(1);
    }
    return (double)(t1 - t0) / 1e9;
}

static double s_run_pool(const bench_input *in)
{
    char name[48];
    snprintf(name, sizeof name, "wbench-pool-%lu", s_seq++);
    tr_pool *p = NULL;
    tr_pool_opts o = {.workers = WORKERS};
    s_check(tr_pool_start(&p, name, s_double, NULL, &o), "tr_pool_start");
    tr_msg *results = malloc(in->n * sizeof *results);
    int *statuses = malloc(in->n * sizeof *statuses);
    if (results == NULL || statuses == NULL)
        s_die("out of memory");
    s_pool_map(p, in, in->n < 1000 ? in->n : 1000, results, statuses); /* warm-up */
    double s = s_pool_map(p, in, in->n, results, statuses);
    free(results);
    free(statuses);
    tr_pool_destroy(&p);
    return s;
}

/* ---- troupe_client -------------------------------------------------------------- */

static const char *s_broker_name; /* what worker actors connect to */

static int s_worker_main(void *arg)
{
    (void)arg;
    int rc = tr_worker_run(s_broker_name, s_double, NULL, NULL, NULL);
    if (rc != TR_OK)
        fprintf(stderr, "work_bench: tr_worker_run: %s\n", tr_strerror(rc));
    return rc == TR_OK ? 0 : 1;
}

static tr_actor *s_spawn(const char *role, tr_actor_fn fn, void *arg, const int *keep,
                         size_t nkeep)
{
    char name[48];
    snprintf(name, sizeof name, "wbench-%s-%lu", role, s_seq++);
    /* Daemons, so that nothing outlives a benchmark that was killed. */
    tr_spawn_opts o = {.flags = TR_SPAWN_DAEMON | TR_SPAWN_NO_MAILBOX, .keep_fds = keep,
                       .nkeep_fds = nkeep};
    tr_actor *a = NULL;
    s_check(tr_actor_spawn(&a, name, fn, arg, &o), "tr_actor_spawn");
    return a;
}

/* Stops an actor by SIGTERM (a worker hands back what it holds) and reaps
 * it; SIGKILL if it has not gone within 5 s. */
static void s_stop(tr_actor **a)
{
    if (*a == NULL)
        return;
    tr_actor_terminate(*a);
    if (tr_actor_join(*a, 5000) != TR_OK) {
        fprintf(stderr, "work_bench: %s did not stop on SIGTERM\n", tr_actor_name(*a));
        tr_actor_kill(*a);
        tr_actor_join(*a, TR_FOREVER);
    }
    tr_actor_destroy(a);
}

/* Collects results until every one of ids [first, first + n) came; checks
 * each against its input. Returns the duplicates seen. */
static uint64_t s_collect(tr_work_client *c, uint64_t first, size_t n, const bench_input *in)
{
    uint64_t *seen = calloc((n + 63) / 64, sizeof *seen);
    if (seen == NULL)
        s_die("out of memory");
    tr_work_result r;
    tr_work_result_init(&r);
    size_t got = 0, bad = 0;
    uint64_t dups = 0;
    while (got < n) {
        int rc = tr_work_next(c, &r, WAIT_MS);
        if (rc == TR_EEMPTY) {
            fprintf(stderr, "work_bench: troupe_client: %zu of %zu results after %d ms\n", got,
                    n, WAIT_MS);
            exit(1);
        }
        s_check(rc, "tr_work_next");
        uint64_t k = r.id - first, y;
        if (r.id < first || k >= n) {
            bad++;
            continue;
        }
        uint64_t bit = (uint64_t)1 << (k & 63);
        if (seen[k >> 6] & bit) {
            dups++;
            continue;
        }
        seen[k >> 6] |= bit;
        got++;
        if (r.status != 0 || tr_msg_size(&r.data) != sizeof y) {
            bad++;
            continue;
        }
        memcpy(&y, tr_msg_data(&r.data), sizeof y);
        bad += y != 2 * in->x[k];
    }
    tr_work_result_close(&r);
    free(seen);
    if (bad != 0) {
        fprintf(stderr, "work_bench: troupe_client: %zu of %zu results wrong\n", bad, n);
        exit(1);
    }
    return dups;
}

static double s_client_batch(tr_work_client *c, const bench_input *in, size_t n)
{
    long long t0 = trb_now_ns();
    uint64_t first = 0;
    size_t done = 0;
    int rc = tr_work_submitv(c, in->v, n, &first, &done, WAIT_MS);
    if (rc != TR_OK || done != n) {
        fprintf(stderr, "work_bench: tr_work_submitv: %s after %zu of %zu tasks\n",
                tr_strerror(rc), done, n);
        exit(1);
    }
    uint64_t dups = s_collect(c, first, n, in);
    long long t1 = trb_now_ns();
    if (dups != 0)
        fprintf(stderr, "work_bench: troupe_client: %llu duplicate results (at least once)\n",
                (unsigned long long)dups);
    return (double)(t1 - t0) / 1e9;
}

static double s_run_client(const bench_input *in)
{
    char name[48];
    snprintf(name, sizeof name, "wbench-broker-%lu", s_seq++);
    tr_actor *broker = NULL, *w[WORKERS] = {0};
    s_check(tr_broker_start(&broker, name, NULL), "tr_broker_start");
    s_broker_name = name;
    for (int i = 0; i < WORKERS; i++)
        w[i] = s_spawn("w", s_worker_main, NULL, NULL, 0);
    tr_work_client *c = NULL;
    s_check(tr_work_client_new(&c, name, NULL), "tr_work_client_new");
    s_client_batch(c, in, in->n < 1000 ? in->n : 1000); /* warm-up */
    double s = s_client_batch(c, in, in->n);
    tr_work_client_destroy(&c);
    for (int i = 0; i < WORKERS; i++)
        s_stop(&w[i]);
    s_stop(&broker);
    return s;
}

/* ---- redelivery ----------------------------------------------------------------- */

/* What a worker reports about a victim task: its repetition, who ran it,
 * when it started (CLOCK_MONOTONIC). 16 bytes: one atomic pipe write. */
typedef struct bench_rec {
    uint32_t rep;
    int32_t pid;
    int64_t ns;
} bench_rec;

typedef struct bench_victim {
    atomic_uint *starts; /* MAP_SHARED: per repetition, starts of its task */
    unsigned nreps;
    int started[2];      /* A: "I started it", then blocks */
    int again[2];        /* B: "I started it too" */
} bench_victim;

static bench_victim s_v;

/* The task of a redelivery repetition: its bytes are the repetition. The
 * first start blocks for good (the bench signals that worker); any later
 * one is the redelivery. */
static int s_victim(void *arg, const void *data, size_t size, void **result,
                    size_t *result_size)
{
    bench_victim *v = arg;
    long long now = trb_now_ns();
    uint64_t rep;
    if (size != sizeof rep)
        return 1;
    memcpy(&rep, data, sizeof rep);
    if (rep >= v->nreps)
        return 1;
    bench_rec rec = {.rep = (uint32_t)rep, .pid = (int32_t)getpid(), .ns = now};
    if (atomic_fetch_add(&v->starts[rep], 1) == 0) {
        ssize_t n = write(v->started[1], &rec, sizeof rec);
        (void)n;
        for (;;)
            pause();
    }
    if (write(v->again[1], &rec, sizeof rec) != (ssize_t)sizeof rec)
        return 3;
    return s_double(NULL, data, size, result, result_size);
}

static int s_victim_worker(void *arg)
{
    (void)arg;
    int rc = tr_worker_run(s_broker_name, s_victim, &s_v, NULL, NULL);
    return rc == TR_OK ? 0 : 1;
}

/* Reads one record of repetition rep from fd, waiting up to timeout_ms. */
static void s_read_rec(int fd, unsigned rep, bench_rec *rec, int timeout_ms, const char *what)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, timeout_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "work_bench: repetition %u: no word of %s in %d ms\n", rep, what,
                    timeout_ms);
            exit(1);
        }
        if (read(fd, rec, sizeof *rec) != (ssize_t)sizeof *rec)
            s_die("short read on a pipe");
        if (rec->rep == rep)
            return;
        fprintf(stderr, "work_bench: a stale record of repetition %u (task ran again)\n",
                (unsigned)rec->rep);
    }
}

/* Waits until the broker knows exactly `workers` workers. Polls its stats
 * every millisecond: there is no event for this in the API. */
static void s_await_workers(tr_work_client *c, uint32_t workers)
{
    long long deadline = trb_now_ns() + 10000000000LL;
    tr_broker_stats st;
    for (;;) {
        s_check(tr_work_broker_stats(c, &st, 5000), "tr_work_broker_stats");
        if (st.workers == workers)
            return;
        if (trb_now_ns() > deadline) {
            fprintf(stderr, "work_bench: the broker knows %u workers, not %u, after 10 s\n",
                    st.workers, workers);
            exit(1);
        }
        usleep(1000);
    }
}

/* One repetition: returns t1 - t0 in ms. */
static double s_redeliver_one(tr_work_client *c, unsigned rep, int sig)
{
    int keep[2] = {s_v.started[1], s_v.again[1]};
    tr_actor *w[2];
    for (int i = 0; i < 2; i++)
        w[i] = s_spawn("v", s_victim_worker, NULL, keep, 2);
    s_await_workers(c, 2);
    uint64_t x = rep, id = 0;
    s_check(tr_work_submit(c, &x, sizeof x, &id, 5000), "tr_work_submit");
    bench_rec a, b;
    s_read_rec(s_v.started[0], rep, &a, 10000, "a first start");
    int ia = tr_actor_pid(w[0]) == a.pid ? 0 : 1;
    if (tr_actor_pid(w[ia]) != a.pid)
        s_die("the task started in a process that is not one of the workers");
    long long t0 = trb_now_ns();
    s_check(tr_actor_signal(w[ia], sig), "tr_actor_signal");
    /* The producer waits for the result, which keeps its heartbeats going
     * while the broker takes its time (the SIGSTOP case). */
    tr_work_result r;
    tr_work_result_init(&r);
    for (;;) {
        s_check(tr_work_next(c, &r, 30000), "tr_work_next (the redelivered task)");
        if (r.id == id)
            break;
    }
    uint64_t y = 0;
    if (r.status != 0 || tr_msg_size(&r.data) != sizeof y)
        s_die("the redelivered task failed");
    memcpy(&y, tr_msg_data(&r.data), sizeof y);
    tr_work_result_close(&r);
    if (y != 2 * x)
        s_die("the redelivered task's result is wrong");
    s_read_rec(s_v.again[0], rep, &b, 1000, "a second start");
    if (b.pid != tr_actor_pid(w[1 - ia]))
        s_die("the task ran again, but not in the other worker");
    if (sig != SIGKILL)
        tr_actor_kill(w[ia]);
    tr_actor_join(w[ia], TR_FOREVER);
    tr_actor_destroy(&w[ia]);
    s_stop(&w[1 - ia]);
    return (double)(b.ns - t0) / 1e6;
}

static void s_run_redeliver(int sig, unsigned reps, double *ms)
{
    char name[48];
    snprintf(name, sizeof name, "wbench-rbroker-%lu", s_seq++);
    tr_actor *broker = NULL;
    s_check(tr_broker_start(&broker, name, NULL), "tr_broker_start");
    s_broker_name = name;
    tr_work_client *c = NULL;
    s_check(tr_work_client_new(&c, name, NULL), "tr_work_client_new");
    for (unsigned k = 0; k < reps; k++) {
        atomic_store(&s_v.starts[k], 0);
        ms[k] = s_redeliver_one(c, k, sig);
        /* Both workers are gone; the next repetition starts from none. */
        s_await_workers(c, 0);
    }
    tr_work_client_destroy(&c);
    s_stop(&broker);
}

/* ---- output ----------------------------------------------------------------------- */

/* Nearest rank: the smallest value with at least q of the samples at or
 * below it. v must be sorted. */
static double s_rank(const double *v, long n, double q)
{
    long k = (long)(q * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    return v[(k > n ? n : k) - 1];
}

static void s_print_rate(int v, long tasks, long rounds, double *secs, double *rate, int table)
{
    double s = trb_median(secs, (int)rounds);
    double med = trb_median(rate, (int)rounds); /* sorts: rate[0] is the min */
    if (table)
        printf("%-16s %9ld tasks  %10.0f tasks/s  (min %.0f, max %.0f)\n", s_variant_names[v],
               tasks, med, rate[0], rate[rounds - 1]);
    else
        printf("{\"bench\":\"work\",\"variant\":\"%s\",\"workers\":%d,\"tasks\":%ld,"
               "\"rounds\":%ld,\"seconds\":%.4f,\"tasks_per_s\":%.0f,\"tasks_per_s_min\":%.0f,"
               "\"tasks_per_s_max\":%.0f}\n",
               s_variant_names[v], WORKERS, tasks, rounds, s, med, rate[0], rate[rounds - 1]);
}

static void s_print_latency(int v, double *ms, unsigned n, int table)
{
    qsort(ms, n, sizeof *ms, trb_cmp_double);
    if (table)
        printf("%-16s %9u reps   signal -> running elsewhere: p50 %.2f ms, p99 %.2f ms "
               "(min %.2f, max %.2f)\n",
               s_variant_names[v], n, s_rank(ms, n, 0.50), s_rank(ms, n, 0.99), ms[0],
               ms[n - 1]);
    else
        printf("{\"bench\":\"work\",\"variant\":\"%s\",\"metric\":\"signal_to_elsewhere_ms\","
               "\"n\":%u,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"min\":%.3f,\"max\":%.3f}\n",
               s_variant_names[v], n, s_rank(ms, n, 0.50), s_rank(ms, n, 0.90),
               s_rank(ms, n, 0.99), ms[0], ms[n - 1]);
}

/* ---- main ------------------------------------------------------------------------- */

static void s_usage(FILE *f)
{
    fprintf(f, "usage: work_bench [--tasks N] [--rounds R] [--kills K] [--stops S]\n"
               "                  [--variant NAME]... [--json | --table]\n"
               "  --tasks N       tasks per throughput run (default 200000)\n"
               "  --rounds R      runs of each throughput variant, interleaved (default 3)\n"
               "  --kills K       SIGKILL repetitions (default 20)\n"
               "  --stops S       SIGSTOP repetitions, about 2 s each (default 5)\n"
               "  --variant NAME  troupe_pool, troupe_client, troupe_sigkill or\n"
               "                  troupe_sigstop; repeatable (default: all)\n"
               "  --json          one JSON line per variant (default)\n"
               "  --table         a human-readable table instead\n");
}

int main(int argc, char **argv)
{
    long tasks = 200000, rounds = 3, kills = 20, stops = 5;
    int table = 0;
    bool want[V_COUNT] = {0}, any = false;
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--tasks") == 0) {
            tasks = trb_parse_long("work_bench", next, argv[i], 1, 100000000), i++;
        } else if (strcmp(argv[i], "--rounds") == 0) {
            rounds = trb_parse_long("work_bench", next, argv[i], 1, 1000), i++;
        } else if (strcmp(argv[i], "--kills") == 0) {
            kills = trb_parse_long("work_bench", next, argv[i], 1, 100000), i++;
        } else if (strcmp(argv[i], "--stops") == 0) {
            stops = trb_parse_long("work_bench", next, argv[i], 1, 100000), i++;
        } else if (strcmp(argv[i], "--variant") == 0 && next != NULL) {
            int v = 0;
            while (v < V_COUNT && strcmp(next, s_variant_names[v]) != 0)
                v++;
            if (v == V_COUNT) {
                fprintf(stderr, "work_bench: unknown variant %s\n", next);
                return 2;
            }
            want[v] = any = true;
            i++;
        } else {
            trb_common_option(argv[i], &table, s_usage);
        }
    }
    if (!any)
        for (int v = 0; v < V_COUNT; v++)
            want[v] = true;
    signal(SIGALRM, s_watchdog);

    /* Throughput: the variants asked for, rotating per round. */
    int tv[2], ntv = 0;
    for (int v = V_POOL; v <= V_CLIENT; v++)
        if (want[v])
            tv[ntv++] = v;
    if (ntv > 0) {
        bench_input in;
        s_input_make(&in, (size_t)tasks);
        double secs[2][1000], rate[2][1000];
        for (long r = 0; r < rounds; r++) {
            for (int k = 0; k < ntv; k++) {
                int p = (int)((r + k) % ntv);
                /* Two minutes, plus a minute per 100,000 tasks: ten times
                 * the slowest run seen here. */
                alarm((unsigned)(120 + tasks / 100000 * 60));
                double s = tv[p] == V_POOL ? s_run_pool(&in) : s_run_client(&in);
                alarm(0);
                secs[p][r] = s;
                rate[p][r] = (double)tasks / s;
            }
        }
        if (table)
            printf("work throughput, %d workers, trivial tasks, median of %ld rounds\n", WORKERS,
                   rounds);
        for (int p = 0; p < ntv; p++)
            s_print_rate(tv[p], tasks, rounds, secs[p], rate[p], table);
        fflush(stdout);
        s_input_free(&in);
    }

    /* Redelivery. */
    if (want[V_SIGKILL] || want[V_SIGSTOP]) {
        if (getenv("TROUPE_LOG_LEVEL") == NULL)
            tr_sys_set_log_level(TR_LOG_ERROR);
        unsigned most = (unsigned)(kills > stops ? kills : stops);
        s_v.nreps = most;
        s_v.starts = mmap(NULL, most * sizeof *s_v.starts, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (s_v.starts == MAP_FAILED)
            s_die("mmap failed");
        if (pipe2(s_v.started, O_CLOEXEC) != 0 || pipe2(s_v.again, O_CLOEXEC) != 0)
            s_die("pipe2 failed");
        double *ms = calloc(most, sizeof *ms);
        if (ms == NULL)
            s_die("out of memory");
        if (table)
            printf("redelivery: a worker signalled while it runs a task -> the task starts in "
                   "another worker\n");
        for (int v = V_SIGKILL; v <= V_SIGSTOP; v++) {
            if (!want[v])
                continue;
            unsigned n = (unsigned)(v == V_SIGKILL ? kills : stops);
            alarm(60 + n * 10);
            s_run_redeliver(v == V_SIGKILL ? SIGKILL : SIGSTOP, n, ms);
            alarm(0);
            s_print_latency(v, ms, n, table);
            fflush(stdout);
        }
        free(ms);
        munmap(s_v.starts, most * sizeof *s_v.starts);
    }
    return 0;
}
