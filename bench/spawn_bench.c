/* spawn_bench: the cost of spawning and joining one actor, next to a bare
 * fork()/_exit()/waitpid() in the same run.
 *
 *   bazel run -c opt //bench:spawn_bench -- --n 2000 --rounds 5
 *   taskset -c 0 bazel-bin/bench/spawn_bench
 *
 * Each variant spawns n children in total, one at a time (spawn, then join,
 * then free), split into rounds. Within a round every variant runs its share
 * back to back, and the order of the variants rotates from round to round, so
 * that a burst of noise on a shared machine lands on all of them rather than
 * on one. The figure reported is the median over rounds of the time per
 * child, in microseconds.
 *
 * Variants:
 *   fork_exit_waitpid  fork(); the child calls _exit(0); waitpid()
 *   troupe             tr_actor_spawn (default options: a mailbox the child
 *                      binds on its first receive), tr_actor_join,
 *                      tr_actor_destroy
 *   troupe_no_mailbox  the same with TR_SPAWN_NO_MAILBOX
 *
 * Output: one JSON line per variant on stdout (the default, or --json), or a
 * table with --table. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include <troupe/troupe.h>

enum { V_FORK, V_TROUPE, V_TROUPE_NO_MAILBOX, V_COUNT };

static const char *const s_variant_names[V_COUNT] = {
    [V_FORK] = "fork_exit_waitpid",
    [V_TROUPE] = "troupe",
    [V_TROUPE_NO_MAILBOX] = "troupe_no_mailbox",
};

/* Spawns get distinct names: the bench measures spawning, not the reuse of a
 * name whose previous owner may still be releasing it. */
static unsigned long s_seq;

static double s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int s_entry(void *arg)
{
    (void)arg;
    return 0;
}

static int s_fork_one(void)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "spawn_bench: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0)
        _exit(0);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "spawn_bench: waitpid: %s\n", strerror(errno));
            return -1;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "spawn_bench: child %d ended with status %d\n", (int)pid, status);
        return -1;
    }
    return 0;
}

static int s_troupe_one(int flags)
{
    char name[32];
    snprintf(name, sizeof name, "bench-%lu", s_seq++);
    tr_spawn_opts opts = {.flags = flags};
    tr_actor *a = NULL;
    int rc = tr_actor_spawn(&a, name, s_entry, NULL, flags ? &opts : NULL);
    if (rc != TR_OK) {
        fprintf(stderr, "spawn_bench: tr_actor_spawn: %s (%s)\n", tr_strerror(rc),
                rc == TR_ESYSTEM ? strerror(errno) : tr_errname(rc));
        return -1;
    }
    rc = tr_actor_join(a, TR_FOREVER);
    int code = -1;
    if (rc == TR_OK)
        rc = tr_actor_exitcode(a, &code);
    tr_actor_destroy(&a);
    if (rc != TR_OK || code != 0) {
        fprintf(stderr, "spawn_bench: join: %s, exit code %d\n", tr_strerror(rc), code);
        return -1;
    }
    return 0;
}

static int s_run_one(int variant)
{
    switch (variant) {
    case V_FORK:
        return s_fork_one();
    case V_TROUPE:
        return s_troupe_one(0);
    default:
        return s_troupe_one(TR_SPAWN_NO_MAILBOX);
    }
}

/* Runs count children of one variant; stores microseconds per child. */
static int s_run_batch(int variant, long count, double *us_per)
{
    double t0 = s_now_us();
    for (long i = 0; i < count; i++)
        if (s_run_one(variant) != 0)
            return -1;
    *us_per = (s_now_us() - t0) / (double)count;
    return 0;
}

static void s_usage(FILE *f)
{
    fprintf(f, "usage: spawn_bench [--n N] [--rounds R] [--json | --table]\n"
               "  --n N       children per variant, in total (default 2000)\n"
               "  --rounds R  rounds the n children are split into (default 5)\n"
               "  --json      one JSON line per variant on stdout (default)\n"
               "  --table     a human-readable table instead\n");
}

int main(int argc, char **argv)
{
    long n = 2000;
    long rounds = 5;
    int table = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0) {
            n = trb_parse_long("spawn_bench", i + 1 < argc ? argv[++i] : NULL, "--n", 1, LONG_MAX);
        } else if (strcmp(argv[i], "--rounds") == 0) {
            rounds = trb_parse_long("spawn_bench", i + 1 < argc ? argv[++i] : NULL, "--rounds", 1, LONG_MAX);
        } else {
            trb_common_option(argv[i], &table, s_usage);
        }
    }
    if (rounds > n || rounds > 1000) {
        fprintf(stderr, "spawn_bench: --rounds must be at most --n and at most 1000\n");
        return 2;
    }

    /* The first troupe call creates the run directory: keep that, and the
     * first faults of each path, out of the figures. */
    for (int v = 0; v < V_COUNT; v++)
        for (int i = 0; i < 3; i++)
            if (s_run_one(v) != 0)
                return 1;

    double *us = calloc((size_t)(V_COUNT * rounds), sizeof *us);
    if (us == NULL)
        return 1;
    for (long r = 0; r < rounds; r++) {
        long count = n / rounds + (r < n % rounds ? 1 : 0);
        for (int k = 0; k < V_COUNT; k++) {
            int v = (int)((r + k) % V_COUNT);
            if (s_run_batch(v, count, &us[v * rounds + r]) != 0) {
                free(us);
                return 1;
            }
        }
    }

    double med[V_COUNT], lo[V_COUNT], hi[V_COUNT];
    for (int v = 0; v < V_COUNT; v++) {
        double *row = &us[v * rounds];
        med[v] = trb_median(row, (int)rounds);
        lo[v] = row[0];
        hi[v] = row[rounds - 1];
    }
    free(us);

    if (table) {
        printf("spawn + join, n=%ld per variant in %ld rounds, us per child\n", n, rounds);
        printf("%-20s %10s %10s %10s %8s\n", "variant", "median", "min", "max", "x fork");
        for (int v = 0; v < V_COUNT; v++)
            printf("%-20s %10.1f %10.1f %10.1f %8.2f\n", s_variant_names[v], med[v], lo[v],
                   hi[v], med[v] / med[V_FORK]);
    } else {
        for (int v = 0; v < V_COUNT; v++)
            printf("{\"bench\":\"spawn\",\"variant\":\"%s\",\"n\":%ld,\"rounds\":%ld,"
                   "\"us_per_actor\":%.1f,\"us_min\":%.1f,\"us_max\":%.1f}\n",
                   s_variant_names[v], n, rounds, med[v], lo[v], hi[v]);
    }
    return 0;
}
