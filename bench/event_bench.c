/* event_bench: wake-up latency of an event with W waiting processes, troupe
 * against plain libzmq PUB/SUB, in the same run.
 *
 *   event_bench [--waiters W] [--reps R] [--runs K]
 *
 * One repetition: every waiter is blocked (below), the parent reads the
 * clock and sets the event (troupe: tr_event_set; plain: zmq_send of "go"
 * on a PUB it binds, to W SUBs blocked in zmq_recv); each waiter writes
 * CLOCK_MONOTONIC into shared memory when it wakes; the latency is the
 * latest wake minus the time before the set. R timed repetitions follow
 * R/20 + 1 untimed ones; p50 and p99 over them. Each variant runs K times,
 * alternating which goes first; the medians of the K p50s and p99s are
 * printed as one JSON line per variant (the shape bench/lib.sh expects).
 *
 * Re-arming, so that every repetition starts with all W blocked:
 *  1. each waiter writes a byte to the "armed" pipe just before it waits;
 *  2. the parent reads W of them, then (troupe) asks the hub until it has
 *     answered all W waiters' requests (a waiter asks the hub once, then
 *     blocks on its subscription), then reads /proc until every waiter's
 *     main thread sleeps (state S);
 *  3. clock, set; waiters record their wake and write to the "woke" pipe;
 *  4. the parent reads W of them, clears the event (troupe), and writes W
 *     bytes to the "release" pipe; each waiter takes one and goes to 1.
 * The pipes are outside the timed span. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench/benchutil.h"
#include <troupe/event.h>
#include <troupe/troupe.h>

#define MAX_WAITERS 64

/* What the parent and the waiters share. */
static struct {
    long long *wake;         /* shared memory: each waiter's wake time */
    int armed[2], woke[2], release[2];
    int waiters;
    long reps;               /* timed repetitions */
    long total;              /* repetitions, untimed ones included */
    tr_event *ev;
} B;

static void put_byte(int fd)
{
    char c = 1;
    if (write(fd, &c, 1) != 1)
        _exit(3);
}

static void get_bytes(int fd, int n)
{
    char buf[MAX_WAITERS];
    for (int got = 0; got < n;) {
        ssize_t k = read(fd, buf, (size_t)(n - got));
        if (k <= 0)
            exit(3);
        got += (int)k;
    }
}

/* Waits until the main thread of each pid sleeps in the kernel. */
static void await_sleeping(const pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        for (;;) {
            char path[64], buf[512];
            snprintf(path, sizeof path, "/proc/%d/stat", (int)pids[i]);
            FILE *f = fopen(path, "re");
            size_t k = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
            if (f)
                fclose(f);
            buf[k] = '\0';
            char *p = strrchr(buf, ')');
            if (p == NULL || p[1] == '\0' || p[2] == 'S')
                break;
            usleep(20);
        }
    }
}

/* ---- troupe ---------------------------------------------------------------- */

static int troupe_waiter(void *arg)
{
    int i = (int)(intptr_t)arg;
    for (long r = 0; r < B.total; r++) {
        if (r > 0)
            get_bytes(B.release[0], 1);
        put_byte(B.armed[1]);
        if (tr_event_wait(B.ev, TR_FOREVER) != TR_OK)
            return 1;
        B.wake[i] = trb_now_ns();
        put_byte(B.woke[1]);
    }
    return 0;
}

static uint64_t g_my_requests; /* this process's requests to the hub */

/* Waits until the hub has answered `want` requests of others. */
static void await_requests(uint64_t want)
{
    for (;;) {
        tr_hub_stats st;
        if (tr_hub_stats_get(NULL, &st, 10000) != TR_OK)
            exit(3);
        uint64_t others = st.requests - g_my_requests++;
        if (others >= want)
            return;
        usleep(20);
    }
}

static int run_troupe(long long *lat)
{
    tr_actor *hub = NULL, *w[MAX_WAITERS];
    pid_t pids[MAX_WAITERS];
    if (tr_hub_start(&hub, NULL) != TR_OK || tr_event_open(&B.ev, "go", NULL) != TR_OK ||
        tr_event_clear(B.ev, 10000) != TR_OK)
        return -1;
    g_my_requests = 1;
    int keep[3] = {B.armed[1], B.woke[1], B.release[0]};
    tr_spawn_opts o = {.keep_fds = keep, .nkeep_fds = 3};
    for (int i = 0; i < B.waiters; i++) {
        char name[32];
        snprintf(name, sizeof name, "event-bench-%d", i);
        if (tr_actor_spawn(&w[i], name, troupe_waiter, (void *)(intptr_t)i, &o) != TR_OK)
            return -1;
        pids[i] = tr_actor_pid(w[i]);
    }
    long warm = B.total - B.reps;
    uint64_t gets = 0;
    for (long r = 0; r < B.total; r++) {
        get_bytes(B.armed[0], B.waiters);
        gets += (uint64_t)B.waiters;
        await_requests(gets);
        await_sleeping(pids, B.waiters);
        long long t0 = trb_now_ns();
        if (tr_event_set(B.ev, 10000) != TR_OK)
            return -1;
        get_bytes(B.woke[0], B.waiters);
        long long last = 0;
        for (int i = 0; i < B.waiters; i++)
            last = B.wake[i] > last ? B.wake[i] : last;
        if (r >= warm)
            lat[r - warm] = last - t0;
        if (tr_event_clear(B.ev, 10000) != TR_OK)
            return -1;
        g_my_requests += 2;
        for (int i = 0; i < B.waiters && r + 1 < B.total; i++)
            put_byte(B.release[1]);
    }
    int rc = 0;
    for (int i = 0; i < B.waiters; i++) {
        int code = -1;
        if (tr_actor_join(w[i], 10000) != TR_OK || tr_actor_exitcode(w[i], &code) != TR_OK ||
            code != 0)
            rc = -1;
        tr_actor_destroy(&w[i]);
    }
    tr_event_destroy(&B.ev);
    tr_actor_terminate(hub);
    tr_actor_join(hub, 10000);
    tr_actor_destroy(&hub);
    return rc;
}

/* ---- plain libzmq PUB/SUB ------------------------------------------------- */

static void zmq_waiter(int i, const char *ep)
{
    /* Die with the parent, as troupe's daemon actors do. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(1);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_SUB);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(s, ep);
    char buf[16];
    /* The slow-joiner handshake: the parent says hello until all hear it. */
    while (zmq_recv(s, buf, sizeof buf, 0) < 0)
        ;
    put_byte(B.woke[1]);
    for (long r = 0; r < B.total; r++) {
        if (r > 0)
            get_bytes(B.release[0], 1);
        put_byte(B.armed[1]);
        int n;
        do /* skip the hellos still queued */
            n = zmq_recv(s, buf, sizeof buf, 0);
        while (n != 2);
        B.wake[i] = trb_now_ns();
        put_byte(B.woke[1]);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    _exit(0);
}

static int run_zmq(long long *lat)
{
    char ep[128];
    snprintf(ep, sizeof ep, "ipc:///tmp/event-bench-%d", (int)getpid());
    pid_t pids[MAX_WAITERS];
    fflush(NULL);
    for (int i = 0; i < B.waiters; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            return -1;
        if (pids[i] == 0)
            zmq_waiter(i, ep);
    }
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    if (zmq_bind(pub, ep) != 0)
        return -1;
    int ready = 0;
    fcntl(B.woke[0], F_SETFL, O_NONBLOCK);
    while (ready < B.waiters) {
        zmq_send(pub, "hello", 5, 0);
        usleep(1000);
        char buf[MAX_WAITERS];
        ssize_t k;
        while (ready < B.waiters && (k = read(B.woke[0], buf, 1)) == 1)
            ready++;
        (void)k;
    }
    fcntl(B.woke[0], F_SETFL, 0);
    long warm = B.total - B.reps;
    for (long r = 0; r < B.total; r++) {
        get_bytes(B.armed[0], B.waiters);
        await_sleeping(pids, B.waiters);
        long long t0 = trb_now_ns();
        if (zmq_send(pub, "go", 2, 0) != 2)
            return -1;
        get_bytes(B.woke[0], B.waiters);
        long long last = 0;
        for (int i = 0; i < B.waiters; i++)
            last = B.wake[i] > last ? B.wake[i] : last;
        if (r >= warm)
            lat[r - warm] = last - t0;
        for (int i = 0; i < B.waiters && r + 1 < B.total; i++)
            put_byte(B.release[1]);
    }
    int rc = 0;
    for (int i = 0; i < B.waiters; i++) {
        int st = 0;
        if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = -1;
    }
    zmq_close(pub);
    zmq_ctx_term(ctx);
    unlink(ep + 6);
    return rc;
}

static void percentiles(const long long *lat, long n, double *p50, double *p99)
{
    double *us = malloc((size_t)n * sizeof *us);
    for (long i = 0; i < n; i++)
        us[i] = (double)lat[i] / 1000.0;
    qsort(us, (size_t)n, sizeof *us, trb_cmp_double);
    *p50 = us[n / 2];
    *p99 = us[n * 99 / 100];
    free(us);
}

int main(int argc, char **argv)
{
    long reps = 200, runs = 3;
    int waiters = 8;
    static const struct option opts[] = {
        {"waiters", required_argument, NULL, 'w'},
        {"reps", required_argument, NULL, 'r'},
        {"runs", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "w:r:k:", opts, NULL)) != -1) {
        switch (o) {
        case 'w': waiters = (int)strtol(optarg, NULL, 10); break;
        case 'r': reps = strtol(optarg, NULL, 10); break;
        case 'k': runs = strtol(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: %s [--waiters W] [--reps R] [--runs K]\n", argv[0]);
            return 2;
        }
    }
    if (waiters < 1 || waiters > MAX_WAITERS || reps < 20 || runs < 1)
        return 2;
    B.waiters = waiters;
    B.reps = reps;
    B.total = reps + reps / 20 + 1;
    B.wake = mmap(NULL, MAX_WAITERS * sizeof *B.wake, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (B.wake == MAP_FAILED || pipe2(B.armed, O_CLOEXEC) || pipe2(B.woke, O_CLOEXEC) ||
        pipe2(B.release, O_CLOEXEC))
        return 1;
    long long *lat = malloc((size_t)reps * sizeof *lat);
    double *p50[2], *p99[2];
    for (int v = 0; v < 2; v++) {
        p50[v] = malloc((size_t)runs * sizeof(double));
        p99[v] = malloc((size_t)runs * sizeof(double));
    }
    const char *names[2] = {"troupe_event", "zmq_pubsub"};
    for (long k = 0; k < runs; k++) {
        for (int j = 0; j < 2; j++) {
            int v = (int)((k + j) % 2); /* alternate which goes first */
            int rc = v == 0 ? run_troupe(lat) : run_zmq(lat);
            if (rc != 0) {
                fprintf(stderr, "%s failed\n", names[v]);
                return 1;
            }
            percentiles(lat, reps, &p50[v][k], &p99[v][k]);
        }
    }
    double med50[2], med99[2];
    for (int v = 0; v < 2; v++) {
        qsort(p50[v], (size_t)runs, sizeof(double), trb_cmp_double);
        qsort(p99[v], (size_t)runs, sizeof(double), trb_cmp_double);
        med50[v] = p50[v][runs / 2];
        med99[v] = p99[v][runs / 2];
        printf("{\"bench\":\"event\",\"variant\":\"%s\",\"waiters\":%d,\"reps\":%ld,"
               "\"runs\":%ld,\"p50_us\":%.2f,\"p99_us\":%.2f}\n",
               names[v], waiters, reps, runs, med50[v], med99[v]);
    }
    printf("{\"bench\":\"event\",\"ratio\":\"troupe_event/zmq_pubsub\",\"p50\":%.3f,"
           "\"p99\":%.3f}\n",
           med50[0] / med50[1], med99[0] / med99[1]);
    return 0;
}
