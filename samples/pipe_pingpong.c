/* pipe_pingpong: round trips over a duplex pipe between two processes.
 *
 *   pipe_pingpong [--rounds R] [--size B] [--json]
 *
 * The parent sends a message of B bytes, an actor sends it back; each round
 * trip is timed, and the median (p50) and p99 are reported in microseconds.
 * This is Python's
 *     a, b = Pipe(); Process(target=echo, args=(b,)).start()
 *     for _ in range(R): a.send(x); a.recv() */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <troupe/troupe.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Sends back what it gets until the other end closes. */
static int echo(void *arg)
{
    tr_pipe *end = arg;
    for (;;) {
        tr_msg m;
        int rc = tr_pipe_recv(end, &m, TR_FOREVER);
        if (rc == TR_ECLOSED)
            return 0;
        if (rc != TR_OK)
            return 1;
        rc = tr_pipe_send(end, tr_msg_data(&m), tr_msg_size(&m), TR_FOREVER);
        tr_msg_close(&m);
        if (rc != TR_OK)
            return 2;
    }
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long rounds = 10000, size = 64;
    int json = 0;
    static const struct option opts[] = {
        {"rounds", required_argument, NULL, 'r'},
        {"size", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "r:s:j", opts, NULL)) != -1) {
        switch (o) {
        case 'r': rounds = strtol(optarg, NULL, 10); break;
        case 's': size = strtol(optarg, NULL, 10); break;
        case 'j': json = 1; break;
        default:
            fprintf(stderr, "usage: %s [--rounds R] [--size B] [--json]\n", argv[0]);
            return 2;
        }
    }
    if (rounds < 1 || size < 1 || size > 1 << 20) {
        fprintf(stderr, "rounds and size must be positive\n");
        return 2;
    }
    tr_pipe *a = NULL, *b = NULL;
    tr_actor *peer = NULL;
    int rc = tr_pipe_new(&a, &b, true);
    if (rc == TR_OK)
        rc = tr_actor_spawn(&peer, "echo", echo, b, NULL);
    if (rc != TR_OK) {
        fprintf(stderr, "start: %s\n", tr_strerror(rc));
        return 1;
    }
    char *payload = calloc(1, (size_t)size);
    long long *rtt = calloc((size_t)rounds, sizeof *rtt);
    /* One untimed round trip: the connection is made on first use. */
    long warmup = rounds / 10 + 1;
    for (long i = -warmup; i < rounds; i++) {
        long long t = now_ns();
        if ((rc = tr_pipe_send(a, payload, (size_t)size, TR_FOREVER)) != TR_OK)
            break;
        tr_msg m;
        if ((rc = tr_pipe_recv(a, &m, TR_FOREVER)) != TR_OK)
            break;
        tr_msg_close(&m);
        if (i >= 0)
            rtt[i] = now_ns() - t;
    }
    if (rc != TR_OK) {
        fprintf(stderr, "round trip: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_pipe_close(a, TR_FOREVER);
    tr_actor_join(peer, TR_FOREVER);
    int code = -1;
    tr_actor_exitcode(peer, &code);
    qsort(rtt, (size_t)rounds, sizeof *rtt, cmp_ll);
    double p50 = (double)rtt[rounds / 2] / 1000.0;
    double p99 = (double)rtt[rounds * 99 / 100] / 1000.0;
    if (json)
        printf("{\"rounds\":%ld,\"size\":%ld,\"p50_us\":%.2f,\"p99_us\":%.2f}\n", rounds, size,
               p50, p99);
    else
        printf("%ld round trips of %ld bytes: p50 %.2f us, p99 %.2f us\n", rounds, size, p50,
               p99);
    tr_actor_destroy(&peer);
    tr_pipe_destroy(&a);
    tr_pipe_destroy(&b);
    free(payload);
    free(rtt);
    return code == 0 ? 0 : 1;
}
