/* supervised_workers: workers under a supervisor that keep the work going
 * while some of them crash on purpose.
 *
 *   supervised_workers [--workers N] [--crash-every MS] [--seconds S] [--hold] [--json]
 *
 * The tree (try `troupe status` on it while it runs with --hold):
 *
 *   top            one_for_one
 *   ├─ worker-1    take a job from the "jobs" queue, count the primes in
 *   ├─ ...         its range, put the count into the "results" queue;
 *   ├─ worker-N    between two jobs, look for an order in "orders"
 *   └─ aux         rest_for_one
 *      ├─ feeder   puts range jobs into "jobs", as fast as they are taken
 *      └─ chaos    every MS ms or so, puts a crash order into "orders"
 *
 * The main process reads "results" and counts the jobs done. A crash order
 * goes to one worker, the queue's choice, and that worker abort()s: its
 * supervisor restarts it under the same name, and the work goes on. Orders
 * have a queue of their own, read without waiting, so that they do not
 * queue up behind the jobs a worker has already been sent.
 * chaos comes after feeder under rest_for_one because injecting faults into
 * a stream nobody feeds is pointless: if feeder restarts, so does chaos.
 *
 * Crashes are counted for real, and that takes memory shared with the tree:
 * a message sent just before abort() can die in the sender's buffers, so a
 * worker records the crash it is about to make in an anonymous shared
 * mapping (the role of Python's multiprocessing.Value) and only then
 * aborts. Restarts are read from both supervisors' status. At the end the
 * crash count is closed (a crash order that comes later is treated as a
 * plain job), the main process waits until every crashed worker has been
 * replaced, then reads the restarts: each crash was followed by a restart,
 * so restarts >= crashes holds, with equality unless something else failed.
 *
 * Supervisor and queue warnings (one per crash) are off unless
 * TROUPE_LOG_LEVEL asks for them, so that the progress line stays readable. */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <troupe/supervisor.h>
#include <troupe/troupe.h>

#define MAX_WORKERS 32
#define CLOSED (1u << 31) /* in ledger.crashes: no more crashes */
#define SPAN 20000        /* numbers per job: about a millisecond of work */
#define SETTLE_MS 5000    /* longest wait for the crashed to be replaced */

enum { JOB_COUNT = 1, JOB_CRASH = 2 };

typedef struct {
    uint64_t seq;
    uint32_t kind;
    uint32_t pad;
} job;

typedef struct {
    uint64_t seq;
    uint64_t primes;
} result;

/* Shared by the main process and every process of the tree. */
typedef struct {
    _Atomic unsigned crashes;          /* count, and CLOSED once closed */
    _Atomic int dying[MAX_WORKERS];    /* pid of a worker about to abort */
} ledger;

typedef struct {
    tr_queue *jobs, *orders, *results;
    ledger *led;
    int crash_every;
} env;

typedef struct {
    const env *e;
    int index;
} worker_arg;

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t s_count_primes(uint64_t lo, uint64_t n)
{
    uint64_t count = 0;
    for (uint64_t x = lo; x < lo + n; x++) {
        bool prime = x >= 2 && (x == 2 || x % 2 != 0);
        for (uint64_t d = 3; prime && d * d <= x; d += 2)
            prime = x % d != 0;
        count += prime;
    }
    return count;
}

/* Records the crash, then aborts; returns only when crashes are closed. The
 * pid goes into dying[] before the count, so that once main has closed the
 * count it can tell a crash that is still on its way (our pid is the one
 * the supervisor shows) from one already replaced. */
static void s_crash(ledger *led, int index)
{
    atomic_store(&led->dying[index], (int)getpid());
    unsigned c = atomic_load(&led->crashes);
    do {
        if (c & CLOSED) {
            atomic_store(&led->dying[index], 0);
            return;
        }
    } while (!atomic_compare_exchange_weak(&led->crashes, &c, c + 1));
    abort();
}

/* Takes the next message of q into j; TR_OK, or the error of the get. A
 * message that is not a job leaves j->kind 0. */
static int s_take(tr_queue *q, job *j, int timeout_ms)
{
    tr_msg m;
    int rc = tr_queue_get(q, &m, timeout_ms);
    if (rc != TR_OK)
        return rc;
    memset(j, 0, sizeof *j);
    if (tr_msg_size(&m) == sizeof *j)
        memcpy(j, tr_msg_data(&m), sizeof *j);
    tr_msg_close(&m);
    return TR_OK;
}

static int s_worker(void *arg)
{
    const worker_arg *w = arg;
    for (;;) {
        job j;
        int rc;
        if (w->e->crash_every > 0 && s_take(w->e->orders, &j, TR_NOWAIT) == TR_OK &&
            j.kind == JOB_CRASH)
            s_crash(w->e->led, w->index);
        if ((rc = s_take(w->e->jobs, &j, TR_FOREVER)) != TR_OK) {
            fprintf(stderr, "%s: jobs: %s\n", tr_self_name(), tr_strerror(rc));
            return 1;
        }
        if (j.kind != JOB_COUNT)
            continue;
        /* Ranges cycle over a fixed window so that every job costs the same. */
        result r = {j.seq, s_count_primes(1000000 + (j.seq % 500) * SPAN, SPAN)};
        if ((rc = tr_queue_put(w->e->results, &r, sizeof r, TR_FOREVER)) != TR_OK) {
            fprintf(stderr, "%s: results: %s\n", tr_self_name(), tr_strerror(rc));
            return 1;
        }
    }
}

/* Blocks in put while the queue is at capacity: the workers set the pace.
 * A restarted feeder starts again from 0; the numbers are only work. */
static int s_feeder(void *arg)
{
    const env *e = arg;
    for (uint64_t seq = 0;; seq++) {
        job j = {.seq = seq, .kind = JOB_COUNT};
        int rc = tr_queue_put(e->jobs, &j, sizeof j, TR_FOREVER);
        if (rc != TR_OK) {
            fprintf(stderr, "feeder: %s\n", tr_strerror(rc));
            return 1;
        }
    }
}

/* Sleeping is its job: it paces the faults. An order that cannot be put
 * within a period is skipped, so that orders never pile up. */
static int s_chaos(void *arg)
{
    const env *e = arg;
    srandom((unsigned)getpid());
    while (e->crash_every <= 0)
        pause(); /* no faults asked for: it waits for its SIGTERM */
    for (;;) {
        /* Half to one and a half periods: "about every MS". */
        long ms = e->crash_every / 2 + random() % (e->crash_every + 1);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        job j = {.kind = JOB_CRASH};
        int rc = tr_queue_put(e->orders, &j, sizeof j, e->crash_every);
        if (rc != TR_OK && rc != TR_EFULL) {
            fprintf(stderr, "chaos: %s\n", tr_strerror(rc));
            return 1;
        }
    }
}

/* Sums the restarts of the children of both supervisors, as they report
 * them, and says whether the tree has settled: every child running, no
 * worker still the one that crashed. Both are left alone on an error. */
static int s_restarts(const ledger *led, int workers, unsigned *restarts, bool *settled)
{
    static const char *const names[] = {"top", "aux"};
    unsigned sum = 0;
    bool calm = true;
    for (int s = 0; s < 2; s++) {
        tr_sup_status *st;
        int rc = tr_supervisor_status(NULL, names[s], &st, 2000);
        if (rc != TR_OK)
            return rc;
        for (size_t i = 0; i < st->nchildren; i++) {
            const tr_child_status *c = &st->children[i];
            sum += c->restarts;
            if (c->state != TR_CHILD_RUNNING ||
                (s == 0 && (int)i < workers && c->pid == atomic_load(&led->dying[i])))
                calm = false;
        }
        tr_sup_status_destroy(&st);
    }
    *restarts = sum;
    *settled = calm;
    return TR_OK;
}

static void s_usage(const char *argv0, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s [--workers N] [--crash-every MS] [--seconds S] [--hold] [--json]\n"
            "  --workers N       workers under top (1..%d, default 3)\n"
            "  --crash-every MS  a worker aborts about every MS ms (default 0: never)\n"
            "  --seconds S       run time (default 3)\n"
            "  --hold            run until SIGTERM or SIGINT instead\n"
            "  --json            end with one line of JSON\n",
            argv0, MAX_WORKERS);
    exit(code);
}

int main(int argc, char **argv)
{
    long workers = 3, crash_every = 0, seconds = 3;
    bool hold = false, json = false;
    static const struct option opts[] = {
        {"workers", required_argument, NULL, 'w'},
        {"crash-every", required_argument, NULL, 'c'},
        {"seconds", required_argument, NULL, 's'},
        {"hold", no_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "w:c:s:Hjh", opts, NULL)) != -1) {
        switch (o) {
        case 'w': workers = strtol(optarg, NULL, 10); break;
        case 'c': crash_every = strtol(optarg, NULL, 10); break;
        case 's': seconds = strtol(optarg, NULL, 10); break;
        case 'H': hold = true; break;
        case 'j': json = true; break;
        case 'h': s_usage(argv[0], 0); break;
        default: s_usage(argv[0], 2);
        }
    }
    if (optind < argc || workers < 1 || workers > MAX_WORKERS || crash_every < 0 ||
        crash_every > 3600000 || seconds < 1 || seconds > 86400)
        s_usage(argv[0], 2);

    if (getenv("TROUPE_LOG_LEVEL") == NULL)
        tr_sys_set_log_level(TR_LOG_ERROR);
    /* Every crash is an abort(): a core file each would cost time and disk. */
    setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
    ledger *led = mmap(NULL, sizeof *led, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                       -1, 0);
    if (led == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memset(led, 0, sizeof *led);

    /* A small capacity and window keep few jobs in a worker's hands when it
     * crashes (they are lost with it: at most once, as in Python); a window
     * of one order means a worker holds at most the one it obeys. */
    env e = {.led = led, .crash_every = (int)crash_every};
    int rc = tr_queue_new(&e.jobs, "jobs",
                          &(tr_queue_opts){.capacity = 4 * (int)workers, .window = 2});
    if (rc == TR_OK)
        rc = tr_queue_new(&e.orders, "orders", &(tr_queue_opts){.capacity = 4, .window = 1});
    /* One producer slot per worker: a restarted worker takes over the slot
     * its dead predecessor held (the kernel released its lock). */
    if (rc == TR_OK)
        rc = tr_queue_new(&e.results, "results", &(tr_queue_opts){.producers = (int)workers});
    if (rc != TR_OK) {
        fprintf(stderr, "queue: %s\n", tr_strerror(rc));
        return 1;
    }

    /* Daemon children get SIGTERM as soon as their supervisor stops; plain
     * ones would first be waited for, and these serve until told to stop. */
    worker_arg wargs[MAX_WORKERS];
    char names[MAX_WORKERS][16];
    tr_child_spec top_kids[MAX_WORKERS + 1];
    tr_child_spec aux_kids[] = {
        {.name = "feeder", .fn = s_feeder, .arg = &e, .flags = TR_SPAWN_DAEMON},
        {.name = "chaos", .fn = s_chaos, .arg = &e, .flags = TR_SPAWN_DAEMON},
    };
    tr_sup_spec aux = {.strategy = TR_REST_FOR_ONE, .intensity = 5, .period_ms = 1000,
                       .children = aux_kids, .nchildren = 2};
    for (int i = 0; i < workers; i++) {
        snprintf(names[i], sizeof names[i], "worker-%d", i + 1);
        wargs[i] = (worker_arg){&e, i};
        top_kids[i] = (tr_child_spec){.name = names[i], .fn = s_worker, .arg = &wargs[i],
                                      .flags = TR_SPAWN_DAEMON};
    }
    top_kids[workers] = (tr_child_spec){.name = "aux", .supervisor = &aux};
    /* Restarts allowed per second: over five times the crash rate asked
     * for, so that top gives up only on crashes nobody ordered. */
    int intensity = 20 + (crash_every > 0 ? (int)(5000 / crash_every) : 0);
    tr_sup_spec top_spec = {.strategy = TR_ONE_FOR_ONE, .intensity = intensity,
                            .period_ms = 1000, .children = top_kids,
                            .nchildren = (size_t)workers + 1};

    /* The tree ignores SIGINT (a Ctrl-C reaches the whole process group):
     * the main process alone reacts, by stopping the tree in order. Its
     * handler is installed only after the start, as forked children would
     * inherit it and then survive a SIGTERM. */
    signal(SIGINT, SIG_IGN);
    tr_supervisor *top = NULL;
    if ((rc = tr_supervisor_start(&top, "top", &top_spec, TR_SPAWN_DAEMON)) != TR_OK) {
        fprintf(stderr, "supervisor: %s\n", tr_strerror(rc));
        return 1;
    }
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("top[%d] started: %ld workers, aux; run directory %s\n",
           (int)tr_actor_pid(tr_supervisor_actor(top)), workers, tr_sys_run_dir());
    fflush(stdout);

    bool tty = isatty(STDOUT_FILENO);
    double t0 = s_now(), last = t0;
    long jobs = 0;
    unsigned restarts = 0;
    bool settled = false;
    int failed = 0;
    while (!s_stop && (hold || s_now() - t0 < (double)seconds)) {
        tr_msg m;
        rc = tr_queue_get(e.results, &m, 100);
        if (rc == TR_OK) {
            jobs += tr_msg_size(&m) == sizeof(result);
            tr_msg_close(&m);
        } else if (rc != TR_EEMPTY) {
            fprintf(stderr, "results: %s\n", tr_strerror(rc));
            failed = 1;
            break;
        }
        if (!tr_actor_is_alive(tr_supervisor_actor(top))) {
            fprintf(stderr, "top exited: it gave up, or was killed\n");
            failed = 1;
            break;
        }
        if (tty && s_now() - last >= 1.0) {
            last = s_now();
            s_restarts(led, (int)workers, &restarts, &settled);
            printf("\r%6.1fs  jobs %ld  crashes %u  restarts %u   ", last - t0, jobs,
                   atomic_load(&led->crashes) & ~CLOSED, restarts);
            fflush(stdout);
        }
    }
    double elapsed = s_now() - t0;
    if (tty)
        printf("\n");

    /* Close the count, then wait (still taking results, so that workers
     * blocked on a full queue carry on) until every crash has been
     * answered by a restart. */
    unsigned crashes = atomic_fetch_or(&led->crashes, CLOSED) & ~CLOSED;
    double deadline = s_now() + SETTLE_MS / 1000.0;
    settled = false;
    while (!failed && s_now() < deadline) {
        if ((rc = s_restarts(led, (int)workers, &restarts, &settled)) != TR_OK) {
            fprintf(stderr, "status: %s\n", tr_strerror(rc));
            failed = 1;
        }
        if (settled || failed)
            break;
        tr_msg m;
        if (tr_queue_get(e.results, &m, 20) == TR_OK) {
            jobs += tr_msg_size(&m) == sizeof(result);
            tr_msg_close(&m);
        }
    }
    if (!failed && !settled) {
        fprintf(stderr, "the tree did not settle within %d ms\n", SETTLE_MS);
        failed = 1;
    }

    if ((rc = tr_supervisor_stop(top, 5000)) != TR_OK) {
        fprintf(stderr, "stop: %s\n", tr_strerror(rc));
        failed = 1;
    }
    tr_supervisor_destroy(&top);
    tr_queue_destroy(&e.jobs);
    tr_queue_destroy(&e.orders);
    tr_queue_destroy(&e.results);
    munmap(led, sizeof *led);

    if (json)
        printf("{\"seconds\":%.3f,\"jobs\":%ld,\"crashes\":%u,\"restarts\":%u,\"workers\":%ld}\n",
               elapsed, jobs, crashes, restarts, workers);
    else
        printf("%.1f s: %ld jobs done by %ld workers, %u crashes, %u restarts\n", elapsed, jobs,
               workers, crashes, restarts);
    return failed;
}
