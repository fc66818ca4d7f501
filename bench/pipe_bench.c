/* pipe_bench: round-trip latency of a troupe pipe against a plain libzmq
 * PAIR over ipc://, in the same run.
 *
 *   pipe_bench [--rounds R] [--size B] [--reps K]
 *
 * Each variant runs K repetitions of R timed round trips (after R/10 untimed
 * ones), alternating variants between repetitions; each repetition gives a
 * p50 and a p99, and the median of those over the repetitions is printed as
 * one JSON line per variant. The echoing peer is a forked process in both
 * cases; the plain variant makes its context after the fork, as libzmq
 * requires. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench/benchutil.h"
#include <troupe/troupe.h>

static void percentiles(long long *rtt, long n, double *p50, double *p99)
{
    double *us = malloc((size_t)n * sizeof *us);
    for (long i = 0; i < n; i++)
        us[i] = (double)rtt[i] / 1000.0;
    qsort(us, (size_t)n, sizeof *us, trb_cmp_double);
    *p50 = us[n / 2];
    *p99 = us[n * 99 / 100];
    free(us);
}

/* ---- troupe ------------------------------------------------------------- */

static int troupe_echo(void *arg)
{
    tr_pipe *end = arg;
    tr_msg m;
    while (tr_pipe_recv(end, &m, TR_FOREVER) == TR_OK) {
        tr_pipe_send(end, tr_msg_data(&m), tr_msg_size(&m), TR_FOREVER);
        tr_msg_close(&m);
    }
    return 0;
}

static int run_troupe(long rounds, long size, long long *rtt)
{
    tr_pipe *a = NULL, *b = NULL;
    tr_actor *peer = NULL;
    if (tr_pipe_new(&a, &b, true) != TR_OK ||
        tr_actor_spawn(&peer, "pipe-bench-echo", troupe_echo, b, NULL) != TR_OK)
        return -1;
    char *buf = calloc(1, (size_t)size);
    int rc = 0;
    for (long i = -(rounds / 10 + 1); i < rounds && rc == 0; i++) {
        long long t = trb_now_ns();
        tr_msg m;
        if (tr_pipe_send(a, buf, (size_t)size, TR_FOREVER) != TR_OK ||
            tr_pipe_recv(a, &m, TR_FOREVER) != TR_OK)
            rc = -1;
        tr_msg_close(&m);
        if (i >= 0)
            rtt[i] = trb_now_ns() - t;
    }
    tr_pipe_close(a, TR_FOREVER);
    tr_actor_join(peer, TR_FOREVER);
    tr_actor_destroy(&peer);
    tr_pipe_destroy(&a);
    tr_pipe_destroy(&b);
    free(buf);
    return rc;
}

/* ---- plain libzmq PAIR ---------------------------------------------------- */

static int run_zmq(long rounds, long size, long long *rtt)
{
    char ep[128];
    snprintf(ep, sizeof ep, "ipc:///tmp/pipe-bench-%d", (int)getpid());
    long total = rounds + rounds / 10 + 1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        void *ctx = zmq_ctx_new();
        void *s = zmq_socket(ctx, ZMQ_PAIR);
        zmq_connect(s, ep);
        char *buf = malloc((size_t)size + 1);
        for (long i = 0; i < total; i++) {
            int n = zmq_recv(s, buf, (size_t)size + 1, 0);
            if (n < 0)
                break;
            zmq_send(s, buf, (size_t)n, 0);
        }
        free(buf);
        zmq_close(s);
        zmq_ctx_term(ctx);
        _exit(0);
    }
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_PAIR);
    zmq_bind(s, ep);
    char *buf = calloc(1, (size_t)size + 1);
    int rc = 0;
    for (long i = -(rounds / 10 + 1); i < rounds; i++) {
        long long t = trb_now_ns();
        if (zmq_send(s, buf, (size_t)size, 0) < 0 || zmq_recv(s, buf, (size_t)size + 1, 0) < 0) {
            rc = -1;
            break;
        }
        if (i >= 0)
            rtt[i] = trb_now_ns() - t;
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    waitpid(pid, NULL, 0);
    unlink(ep + 6);
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    long rounds = 10000, size = 64, reps = 5;
    static const struct option opts[] = {
        {"rounds", required_argument, NULL, 'r'},
        {"size", required_argument, NULL, 's'},
        {"reps", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "r:s:k:", opts, NULL)) != -1) {
        switch (o) {
        case 'r': rounds = strtol(optarg, NULL, 10); break;
        case 's': size = strtol(optarg, NULL, 10); break;
        case 'k': reps = strtol(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: %s [--rounds R] [--size B] [--reps K]\n", argv[0]);
            return 2;
        }
    }
    if (rounds < 100 || size < 1 || reps < 1)
        return 2;
    long long *rtt = malloc((size_t)rounds * sizeof *rtt);
    double *p50[2], *p99[2], *ratio50 = malloc((size_t)reps * sizeof(double));
    for (int v = 0; v < 2; v++) {
        p50[v] = malloc((size_t)reps * sizeof(double));
        p99[v] = malloc((size_t)reps * sizeof(double));
    }
    const char *names[2] = {"troupe_pipe", "zmq_pair"};
    for (long k = 0; k < reps; k++) {
        for (int j = 0; j < 2; j++) {
            int v = (int)((k + j) % 2); /* alternate which goes first */
            int rc = v == 0 ? run_troupe(rounds, size, rtt) : run_zmq(rounds, size, rtt);
            if (rc != 0) {
                fprintf(stderr, "%s failed\n", names[v]);
                return 1;
            }
            percentiles(rtt, rounds, &p50[v][k], &p99[v][k]);
        }
        ratio50[k] = p50[0][k] / p50[1][k];
    }
    double med50[2], med99[2];
    for (int v = 0; v < 2; v++) {
        qsort(p50[v], (size_t)reps, sizeof(double), trb_cmp_double);
        qsort(p99[v], (size_t)reps, sizeof(double), trb_cmp_double);
        med50[v] = p50[v][reps / 2];
        med99[v] = p99[v][reps / 2];
        printf("{\"bench\":\"pipe\",\"variant\":\"%s\",\"rounds\":%ld,\"size\":%ld,\"reps\":%ld,"
               "\"p50_us\":%.2f,\"p99_us\":%.2f}\n",
               names[v], rounds, size, reps, med50[v], med99[v]);
    }
    qsort(ratio50, (size_t)reps, sizeof(double), trb_cmp_double);
    printf("{\"bench\":\"pipe\",\"ratio\":\"troupe_pipe/zmq_pair\",\"p50\":%.3f,\"p99\":%.3f,"
           "\"p50_median_of_ratios\":%.3f}\n",
           med50[0] / med50[1], med99[0] / med99[1], ratio50[reps / 2]);
    return 0;
}
