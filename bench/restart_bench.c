/* restart_bench: how fast a supervisor replaces a crashed worker, and how
 * long a tree of N workers takes to start and to stop, next to a bare
 * fork/waitpid loop doing the same in the same run.
 *
 *   restart_bench [--crashes N] [--warmup W] [--tree N] [--reps R]
 *   bazel run -c opt //bench:restart_bench -- --crashes 1000 --tree 1000
 *   taskset -c 0 bazel-bin/bench/restart_bench
 *
 * ---- Restarts (--crashes N, default 1000 per variant) ----------------------
 *
 * Each variant keeps one worker under a supervisor and crashes it N times,
 * one crash at a time. The variants take turns crash by crash, the order
 * rotating, so that a burst of load on a shared machine lands on all of
 * them. W crashes per variant (--warmup, default 5) come first, untimed.
 *
 * Variants:
 *   troupe               a tr_supervisor (one_for_one, permanent child) of
 *                        one worker "rb-lived", a behaviour (so its mailbox
 *                        is bound before its init runs), TR_SPAWN_DAEMON. The
 *                        bench sends through ONE tr_actor_lookup handle made
 *                        at the start and kept: a long-lived sender.
 *   troupe_fresh_sender  the same with its own supervisor and worker
 *                        "rb-fresh", but the ping goes through a NEW lookup
 *                        handle made once the replacement said it is ready:
 *                        a sender that connects afresh.
 *   raw_fork             the floor: a hand-written supervisor process
 *                        (fork; waitpid; fork again) and a child that reads
 *                        its commands from a pipe inherited through the
 *                        supervisor, so the pipe outlives every child (unlike
 *                        a troupe mailbox, which is bound by each process).
 *
 * One crash, step by step (troupe; raw_fork does the same with pipes):
 *   1. The bench opens a pidfd on the worker's pid (which the worker wrote
 *      into shared memory at init; it is alive, so the pid is its own).
 *   2. The bench sends "crash". The worker's handle() stores t_crash
 *      (CLOCK_MONOTONIC) and calls _exit(1). _exit, not abort(): for the
 *      supervisor both are an abnormal exit, restarted alike, but abort()
 *      would add the kernel's core dump handling (core_pattern, RLIMIT_CORE)
 *      and is intercepted by sanitizers; neither is the supervisor's work.
 *   3. The bench waits for the pidfd to become readable: the old process is
 *      gone, its descriptors (its mailbox socket) closed.
 *   4. Only then does it send "ping". Sent earlier, the ping could be
 *      consumed by the old process or die in its socket buffer, since a
 *      mailbox delivers at most once. troupe: through the long-lived handle
 *      at once (ZeroMQ holds it in the sender until it reconnects to the new
 *      incarnation); troupe_fresh_sender: the bench first waits for the
 *      replacement's ready byte, then makes a new lookup handle and sends.
 *   5. The replacement's init stores t_ready and writes 'R' to a reply
 *      pipe (kept by every incarnation through keep_fds); its handle()
 *      stores t_recv when "ping" arrives and writes a byte naming that
 *      ping (pings are numbered). The bench waits for both bytes and checks
 *      that the ping was taken by the new incarnation.
 *
 * Intervals reported, per crash, in microseconds:
 *   crash_to_ready_us  t_ready - t_crash: the old process exiting, the
 *                      supervisor waking on its pidfd, reaping it and
 *                      forking the replacement, which closes inherited
 *                      descriptors, claims its name, makes a ZeroMQ context
 *                      and binds its mailbox before init runs. From then on
 *                      the replacement can receive. The supervisor's own
 *                      wake-up on the ready handshake is not included.
 *                      raw_fork: up to the first instruction of the new
 *                      child after fork (nothing to bind).
 *   crash_to_recv_us   t_recv - t_crash: what the issue asks for, the time
 *                      from the crash to the replacement's handle() holding
 *                      a message sent to the crashed worker's name. It adds
 *                      to crash_to_ready how the sender reaches the new
 *                      process: troupe: its socket noticing the old
 *                      connection died and reconnecting by ZeroMQ's timer
 *                      (ZMQ_RECONNECT_IVL: first after 1 ms, then 2, 4, 8,
 *                      10 ms apart; each attempt fails until the replacement
 *                      has bound), so a long-lived sender reaches the
 *                      replacement at the first attempt after it bound;
 *                      troupe_fresh_sender: the bench waking on 'R', a new
 *                      handle, an immediate connect and the delivery;
 *                      raw_fork: the child's first read of the pipe.
 *   ready_to_recv_us   t_recv - t_ready, per crash (its percentiles are not
 *                      the difference of the two above): that second part
 *                      alone, how long the message took to reach a
 *                      replacement that was already able to receive.
 * The bench's own wait for the death (step 3) runs while the supervisor
 * restarts, so it is hidden unless it is slower than the restart.
 *
 * Lost pings. Even sent after the old process is gone, a ping through the
 * long-lived handle is sometimes lost (1 to 5 in 100 in short runs, more
 * when pinned to one CPU): libzmq's I/O thread can write it into the dead
 * connection (EPIPE) before it has processed that connection's end, and
 * drops it; a plain libzmq PUSH does the same, and a few hundred
 * microseconds between the death and the send avoid it. The bench tells lost from late exactly: when a ping's answer
 * has not come 100 ms after the replacement was ready, it sends a second
 * ping through the same handle. One connection delivers in order, so if the
 * second is answered first, the first was lost: the crash is counted in
 * "lost" and done over (so n stays N and the percentiles are of delivered
 * pings only). If the first is answered, it was late, and its time counts.
 *
 * ---- Trees (--tree N, default 1000; --reps R, default 3) -------------------
 *
 * troupe: tr_supervisor_start of a one_for_one supervisor with N behaviour
 * workers (daemon, shutdown 1000 ms; each binds its mailbox before it is
 * ready and then waits on it); it returns once all N have started, one after
 * another. Then tr_supervisor_stop, which returns once the supervisor has
 * stopped them all in reverse order (SIGTERM, wait for the exit) and exited.
 * raw_fork: the bench forks N children one at a time, each closing its
 * inherited descriptors and writing a byte that the bench waits for, then
 * SIGTERMs and reaps them one at a time in reverse order. Median over R reps
 * (after one small untimed tree), in milliseconds.
 *
 * Output: one JSON line per variant and metric on stdout, e.g.
 *   {"bench":"restart","variant":"troupe","metric":"crash_to_recv_us","n":1000,
 *    "p50":...,"p90":...,"p99":...,"max":...,"lost":0}
 *   {"bench":"restart","variant":"troupe","metric":"tree_start_ms","n":1000,
 *    "reps":3,"median":...,"min":...,"max":...}
 * Percentiles are nearest-rank. The supervisor's per-crash log line
 * (TR-CHILD-EXIT, a warning) is off unless TROUPE_LOG_LEVEL is set, so
 * that 1,000 crashes do not flood stderr; set TROUPE_LOG_LEVEL=warn to
 * include its cost. The run directory is troupe's default (TROUPE_RUN_DIR
 * overrides it); the bench leaves no process behind, also on failure
 * (daemon supervisors, PR_SET_PDEATHSIG for the raw ones). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include <troupe/supervisor.h>
#include <troupe/troupe.h>

enum { V_TROUPE, V_FRESH, V_RAW, V_COUNT };

static const char *const s_variant_names[V_COUNT] = {
    [V_TROUPE] = "troupe",
    [V_FRESH] = "troupe_fresh_sender",
    [V_RAW] = "raw_fork",
};

/* How long any single wait of the bench may take before it calls the run
 * failed: far above any restart, short enough not to hang a driver. */
#define S_WAIT_MS 5000
/* How long after the replacement is ready the bench waits for a ping's
 * answer before it sends a second ping to tell lost from late: well above
 * ZeroMQ's longest reconnect interval for actor handles (10 ms). */
#define S_LATE_MS 100
/* Answers to numbered pings, by number modulo S_RING. */
#define S_RING 256

/* One worker's view, in memory shared by the bench and every incarnation
 * (mmap'd before anything is forked, so each new process inherits it). Only
 * the current incarnation writes; the bench reads after the pipe byte that
 * follows the write, so the write is visible by then. */
typedef struct {
    _Atomic int pid;          /* the current incarnation */
    _Atomic unsigned gen;     /* incarnations so far */
    _Atomic long long t_crash, t_ready; /* CLOCK_MONOTONIC ns */
    _Atomic long long t_recv;  /* raw_fork: when the ping arrived */
    _Atomic unsigned recv_gen; /* raw_fork: the incarnation that took it */
    _Atomic long long t_ping[S_RING];   /* troupe: when ping k arrived, at k % S_RING */
    _Atomic unsigned ping_gen[S_RING];  /* troupe: the incarnation that took it */
    int reply_fd;             /* write end of the reply pipe */
    int cmd_fd;               /* raw_fork: read end of the command pipe */
} s_slot;

/* One variant's set-up in the bench process. */
typedef struct {
    s_slot *slot;
    int reply_r;              /* read end of the reply pipe */
    int reply_w;
    tr_supervisor *sup;       /* troupe variants */
    tr_actor *to;             /* the handle "crash" (and, for troupe, "ping") go through */
    const char *name;         /* the worker's actor name */
    pid_t raw_sup;            /* raw_fork: the hand-written supervisor */
    int cmd_w;                /* raw_fork: write end of the command pipe */
    double *ready_us, *recv_us, *gap_us;
    long n;
    uint32_t seq;             /* troupe: the last ping's number */
    unsigned lost;
} s_var;

static s_var s_vars[V_COUNT];

/* Kills what the bench forked by hand; troupe's orderly exit stops the
 * daemon supervisors. */
static _Noreturn void s_die(const char *what)
{
    fprintf(stderr, "restart_bench: %s\n", what);
    for (int v = 0; v < V_COUNT; v++)
        if (s_vars[v].raw_sup > 0) {
            kill(s_vars[v].raw_sup, SIGKILL);
            waitpid(s_vars[v].raw_sup, NULL, 0);
        }
    exit(1);
}

static void s_put(int fd, char c)
{
    while (write(fd, &c, 1) < 0 && errno == EINTR)
        ;
}

/* Reads one byte from fd, waiting up to timeout_ms: the byte, or -1. */
static int s_get(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (r <= 0)
        return -1;
    unsigned char c;
    return read(fd, &c, 1) == 1 ? c : -1;
}

static void s_expect(int fd, char want, const char *who)
{
    int c = s_get(fd, S_WAIT_MS);
    if (c != want) {
        char why[128];
        snprintf(why, sizeof why, "%s: expected '%c' from the worker, got %d", who, want, c);
        s_die(why);
    }
}

static int s_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Waits until the process behind pidfd has exited, then closes pidfd. */
static void s_wait_gone(int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, S_WAIT_MS)) < 0 && errno == EINTR)
        ;
    close(pidfd);
    if (r <= 0)
        s_die("the worker did not die after \"crash\"");
}

/* ---- the troupe worker ----------------------------------------------------- */

/* The byte that answers ping seq: never 'R', which has the top bit clear. */
static char s_ping_byte(uint32_t seq)
{
    return (char)(0x80 | (seq & 0x7f));
}

static int s_worker_init(void *arg, void **state)
{
    s_slot *sl = arg;
    long long t = trb_now_ns();
    sl->pid = (int)getpid();
    sl->gen++;
    sl->t_ready = t;
    *state = sl;
    s_put(sl->reply_fd, 'R');
    return 0;
}

static int s_worker_handle(void *state, tr_msg *msg)
{
    s_slot *sl = state;
    long long t = trb_now_ns();
    const char *d = tr_msg_data(msg);
    size_t n = tr_msg_size(msg);
    if (n == 5 && memcmp(d, "crash", 5) == 0) {
        sl->t_crash = trb_now_ns();
        _exit(1);
    }
    uint32_t seq;
    if (n == 4 + sizeof seq && memcmp(d, "ping", 4) == 0) {
        memcpy(&seq, d + 4, sizeof seq);
        sl->t_ping[seq % S_RING] = t;
        sl->ping_gen[seq % S_RING] = sl->gen;
        s_put(sl->reply_fd, s_ping_byte(seq));
    }
    return TR_CONTINUE;
}

static const tr_behaviour s_worker = {.init = s_worker_init, .handle = s_worker_handle};

static void s_send(tr_actor *a, const char *what)
{
    int rc = tr_actor_send(a, what, strlen(what), S_WAIT_MS);
    if (rc != TR_OK) {
        char why[128];
        snprintf(why, sizeof why, "send \"%s\": %s", what, tr_strerror(rc));
        s_die(why);
    }
}

static void s_ping(tr_actor *a, uint32_t seq)
{
    char m[4 + sizeof seq];
    memcpy(m, "ping", 4);
    memcpy(m + 4, &seq, sizeof seq);
    int rc = tr_actor_send(a, m, sizeof m, S_WAIT_MS);
    if (rc != TR_OK) {
        fprintf(stderr, "restart_bench: send ping: %s\n", tr_strerror(rc));
        s_die("cannot send");
    }
}

static tr_actor *s_lookup(const char *name)
{
    tr_actor *a = NULL;
    if (tr_actor_lookup(&a, name) != TR_OK)
        s_die("tr_actor_lookup failed");
    return a;
}

static void s_troupe_setup(s_var *v, const char *name)
{
    v->name = name;
    /* More than 100 restarts within 10 ms would give up: a rate of 10,000
     * restarts a second, far above what one fork per restart allows, so
     * the supervisor never gives up here, and needs no big history ring. */
    static tr_child_spec kids[V_COUNT];
    static tr_sup_spec specs[V_COUNT];
    size_t i = (size_t)(v - s_vars);
    kids[i] = (tr_child_spec){.name = name,
                              .behaviour = &s_worker,
                              .arg = v->slot,
                              .restart = TR_PERMANENT,
                              .shutdown_ms = 1000,
                              .flags = TR_SPAWN_DAEMON,
                              .keep_fds = &v->slot->reply_fd,
                              .nkeep_fds = 1};
    specs[i] = (tr_sup_spec){.strategy = TR_ONE_FOR_ONE,
                             .intensity = 100,
                             .period_ms = 10,
                             .children = &kids[i],
                             .nchildren = 1};
    char sup_name[64];
    snprintf(sup_name, sizeof sup_name, "%s-sup", name);
    int rc = tr_supervisor_start(&v->sup, sup_name, &specs[i], TR_SPAWN_DAEMON);
    if (rc != TR_OK) {
        fprintf(stderr, "restart_bench: tr_supervisor_start: %s\n", tr_strerror(rc));
        s_die("cannot start the supervisor");
    }
    s_expect(v->reply_r, 'R', name);
    v->to = s_lookup(name);
}

/* One crash of a troupe worker; stores both intervals in ns. Returns false
 * when the ping was lost (then the crash is to be done over). */
static bool s_troupe_crash(s_var *v, bool fresh, long long *ready, long long *recv)
{
    s_slot *sl = v->slot;
    unsigned gen = sl->gen;
    int pidfd = s_pidfd_open(sl->pid);
    if (pidfd < 0)
        s_die("pidfd_open on the worker failed");
    s_send(v->to, "crash");
    s_wait_gone(pidfd);
    if (fresh) {
        /* The old handle's connection died with the old process. */
        tr_actor_destroy(&v->to);
        s_expect(v->reply_r, 'R', v->name);
        v->to = s_lookup(v->name);
    }
    uint32_t seq = ++v->seq;
    s_ping(v->to, seq);
    if (!fresh)
        s_expect(v->reply_r, 'R', v->name);
    int c = s_get(v->reply_r, S_LATE_MS);
    if (c != (unsigned char)s_ping_byte(seq)) {
        if (c != -1)
            s_die("unexpected byte from the worker");
        /* Lost or late: a second ping on the same connection is answered
         * after the first if the first arrives at all. */
        uint32_t again = ++v->seq;
        s_ping(v->to, again);
        c = s_get(v->reply_r, S_WAIT_MS);
        bool late = c == (unsigned char)s_ping_byte(seq);
        if (late)
            c = s_get(v->reply_r, S_WAIT_MS);
        if (c != (unsigned char)s_ping_byte(again))
            s_die("no answer to a second ping");
        if (!late) {
            v->lost++;
            return false;
        }
    }
    if (sl->gen != gen + 1 || sl->ping_gen[seq % S_RING] != gen + 1)
        s_die("the ping was not taken by the new incarnation");
    *ready = sl->t_ready - sl->t_crash;
    *recv = sl->t_ping[seq % S_RING] - sl->t_crash;
    return true;
}

static void s_troupe_teardown(s_var *v)
{
    tr_actor_destroy(&v->to);
    int rc = tr_supervisor_stop(v->sup, 10000);
    if (rc != TR_OK)
        fprintf(stderr, "restart_bench: tr_supervisor_stop: %s\n", tr_strerror(rc));
    tr_supervisor_destroy(&v->sup);
}

/* ---- the raw fork/waitpid supervisor --------------------------------------- */

static _Noreturn void s_raw_child(s_slot *sl, pid_t sup)
{
    long long t = trb_now_ns();
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != sup)
        _exit(1);
    sl->pid = (int)getpid();
    sl->gen++;
    sl->t_ready = t;
    s_put(sl->reply_fd, 'R');
    for (;;) {
        char c;
        ssize_t r = read(sl->cmd_fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != 1 || c == 'q')
            _exit(0);
        if (c == 'c') {
            sl->t_crash = trb_now_ns();
            _exit(1);
        }
        if (c == 'p') {
            sl->t_recv = trb_now_ns();
            sl->recv_gen = sl->gen;
            s_put(sl->reply_fd, 'P');
        }
    }
}

/* The minimal supervisor: start a child, wait for it, start another unless
 * it exited with 0 (asked to quit). */
static _Noreturn void s_raw_supervisor(s_slot *sl, pid_t bench)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != bench)
        _exit(1);
    pid_t me = getpid();
    for (;;) {
        pid_t c = fork();
        if (c < 0)
            _exit(2);
        if (c == 0)
            s_raw_child(sl, me);
        int st;
        while (waitpid(c, &st, 0) < 0)
            if (errno != EINTR)
                _exit(2);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            _exit(0);
    }
}

/* Forked before the first troupe call, so that the raw processes hold
 * nothing of troupe's (no ZeroMQ context, no run-directory lock). */
static void s_raw_setup(s_var *v)
{
    int cmd[2];
    if (pipe(cmd) != 0)
        s_die("pipe failed");
    v->slot->cmd_fd = cmd[0];
    v->cmd_w = cmd[1];
    pid_t bench = getpid();
    v->raw_sup = fork();
    if (v->raw_sup < 0)
        s_die("fork failed");
    if (v->raw_sup == 0) {
        close(v->cmd_w);
        close(v->reply_r);
        for (int k = 0; k < V_COUNT; k++)
            if (&s_vars[k] != v && s_vars[k].reply_r > 0) {
                close(s_vars[k].reply_r);
                close(s_vars[k].reply_w);
            }
        s_raw_supervisor(v->slot, bench);
    }
    close(cmd[0]);
    s_expect(v->reply_r, 'R', "raw child");
}

static bool s_raw_crash(s_var *v, long long *ready, long long *recv)
{
    s_slot *sl = v->slot;
    unsigned gen = sl->gen;
    int pidfd = s_pidfd_open(sl->pid);
    if (pidfd < 0)
        s_die("pidfd_open on the raw child failed");
    s_put(v->cmd_w, 'c');
    s_wait_gone(pidfd);
    s_put(v->cmd_w, 'p');
    s_expect(v->reply_r, 'R', "raw child");
    s_expect(v->reply_r, 'P', "raw child");
    if (sl->gen != gen + 1 || sl->recv_gen != gen + 1)
        s_die("the raw ping was not taken by the new child");
    *ready = sl->t_ready - sl->t_crash;
    *recv = sl->t_recv - sl->t_crash;
    return true;
}

static void s_raw_teardown(s_var *v)
{
    s_put(v->cmd_w, 'q');
    int st;
    while (waitpid(v->raw_sup, &st, 0) < 0 && errno == EINTR)
        ;
    v->raw_sup = 0;
    close(v->cmd_w);
}

/* ---- statistics and output ------------------------------------------------- */

/* Nearest rank: the smallest value with at least q of the samples at or
 * below it. v must be sorted. */
static double s_rank(const double *v, long n, double q)
{
    long k = (long)(q * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    return v[(k > n ? n : k) - 1];
}

static void s_print_dist(const char *variant, const char *metric, double *v, long n,
                         long long lost)
{
    qsort(v, (size_t)n, sizeof *v, trb_cmp_double);
    printf("{\"bench\":\"restart\",\"variant\":\"%s\",\"metric\":\"%s\",\"n\":%ld,"
           "\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f",
           variant, metric, n, s_rank(v, n, 0.50), s_rank(v, n, 0.90), s_rank(v, n, 0.99),
           v[n - 1]);
    if (lost >= 0)
        printf(",\"lost\":%lld", lost);
    printf("}\n");
}

static void s_print_reps(const char *variant, const char *metric, long n, double *v, int reps)
{
    qsort(v, (size_t)reps, sizeof *v, trb_cmp_double);
    double med = reps % 2 ? v[reps / 2] : (v[reps / 2 - 1] + v[reps / 2]) / 2.0;
    printf("{\"bench\":\"restart\",\"variant\":\"%s\",\"metric\":\"%s\",\"n\":%ld,"
           "\"reps\":%d,\"median\":%.1f,\"min\":%.1f,\"max\":%.1f}\n",
           variant, metric, n, reps, med, v[0], v[reps - 1]);
}

/* ---- restarts -------------------------------------------------------------- */

static bool s_crash_one(int v, long long *ready, long long *recv)
{
    if (v == V_RAW)
        return s_raw_crash(&s_vars[v], ready, recv);
    return s_troupe_crash(&s_vars[v], v == V_FRESH, ready, recv);
}

static void s_restarts(long crashes, long warmup)
{
    s_slot *slots = mmap(NULL, V_COUNT * sizeof *slots, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED)
        s_die("mmap failed");
    for (int v = 0; v < V_COUNT; v++) {
        s_var *sv = &s_vars[v];
        int p[2];
        if (pipe(p) != 0)
            s_die("pipe failed");
        sv->slot = &slots[v];
        sv->slot->reply_fd = p[1];
        sv->reply_r = p[0];
        sv->reply_w = p[1];
        sv->ready_us = calloc((size_t)crashes, sizeof *sv->ready_us);
        sv->recv_us = calloc((size_t)crashes, sizeof *sv->recv_us);
        sv->gap_us = calloc((size_t)crashes, sizeof *sv->gap_us);
        if (sv->ready_us == NULL || sv->recv_us == NULL || sv->gap_us == NULL)
            s_die("out of memory");
    }
    s_raw_setup(&s_vars[V_RAW]);
    s_troupe_setup(&s_vars[V_TROUPE], "rb-lived");
    s_troupe_setup(&s_vars[V_FRESH], "rb-fresh");

    for (long i = 0; i < warmup + crashes; i++) {
        for (int k = 0; k < V_COUNT; k++) {
            int v = (int)((i + k) % V_COUNT);
            s_var *sv = &s_vars[v];
            long long ready, recv;
            while (!s_crash_one(v, &ready, &recv))
                ; /* a lost ping: counted, and the crash done over */
            if (i >= warmup) {
                sv->ready_us[sv->n] = (double)ready / 1000.0;
                sv->recv_us[sv->n] = (double)recv / 1000.0;
                sv->gap_us[sv->n] = (double)(recv - ready) / 1000.0;
                sv->n++;
            }
        }
    }

    s_troupe_teardown(&s_vars[V_TROUPE]);
    s_troupe_teardown(&s_vars[V_FRESH]);
    s_raw_teardown(&s_vars[V_RAW]);
    for (int v = 0; v < V_COUNT; v++) {
        s_var *sv = &s_vars[v];
        s_print_dist(s_variant_names[v], "crash_to_ready_us", sv->ready_us, sv->n, -1);
        s_print_dist(s_variant_names[v], "crash_to_recv_us", sv->recv_us, sv->n, sv->lost);
        s_print_dist(s_variant_names[v], "ready_to_recv_us", sv->gap_us, sv->n, -1);
        fflush(stdout);
        free(sv->ready_us);
        free(sv->recv_us);
        free(sv->gap_us);
        close(sv->reply_r);
        close(sv->reply_w);
    }
    munmap(slots, V_COUNT * sizeof *slots);
}

/* ---- trees ----------------------------------------------------------------- */

static int s_idle_handle(void *state, tr_msg *msg)
{
    (void)state;
    (void)msg;
    return TR_CONTINUE;
}

static const tr_behaviour s_idle = {.handle = s_idle_handle};

/* Starts and stops one troupe tree of n workers; stores both times in ms. */
static void s_tree_troupe(long n, double *start_ms, double *stop_ms)
{
    static char (*names)[32]; /* "rb-t" and any long */
    static tr_child_spec *kids;
    static long cap;
    if (n > cap) {
        free(names);
        free(kids);
        names = calloc((size_t)n, sizeof *names);
        kids = calloc((size_t)n, sizeof *kids);
        if (names == NULL || kids == NULL)
            s_die("out of memory");
        cap = n;
    }
    for (long i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "rb-t%ld", i);
        kids[i] = (tr_child_spec){.name = names[i],
                                  .behaviour = &s_idle,
                                  .shutdown_ms = 1000,
                                  .flags = TR_SPAWN_DAEMON};
    }
    tr_sup_spec spec = {.strategy = TR_ONE_FOR_ONE, .children = kids, .nchildren = (size_t)n};
    tr_supervisor *s = NULL;
    long long t0 = trb_now_ns();
    int rc = tr_supervisor_start(&s, "rb-tree", &spec, TR_SPAWN_DAEMON);
    long long t1 = trb_now_ns();
    if (rc != TR_OK) {
        fprintf(stderr, "restart_bench: tree start: %s\n", tr_strerror(rc));
        s_die("cannot start the tree");
    }
    rc = tr_supervisor_stop(s, 60000);
    long long t2 = trb_now_ns();
    tr_supervisor_destroy(&s);
    if (rc != TR_OK) {
        fprintf(stderr, "restart_bench: tree stop: %s\n", tr_strerror(rc));
        s_die("the tree did not stop in time");
    }
    *start_ms = (double)(t1 - t0) / 1e6;
    *stop_ms = (double)(t2 - t1) / 1e6;
}

/* The same with bare processes: fork n children one at a time, each
 * announcing itself once it has closed its inherited descriptors, then
 * SIGTERM and reap them one at a time in reverse order. */
static void s_tree_raw(long n, double *start_ms, double *stop_ms)
{
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    int p[2];
    if (pids == NULL || pipe(p) != 0)
        s_die("out of memory or pipe failed");
    pid_t bench = getpid();
    long long t0 = trb_now_ns();
    for (long i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            s_die("fork failed");
        if (pids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
            if (getppid() != bench)
                _exit(1);
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGTERM);
            sigprocmask(SIG_UNBLOCK, &set, NULL);
            signal(SIGTERM, SIG_DFL);
            int w = p[1];
            if (w > 3)
                close_range(3, (unsigned)w - 1, 0);
            close_range((unsigned)w + 1, ~0U, 0);
            s_put(w, 'R');
            close(w);
            for (;;)
                pause();
        }
        s_expect(p[0], 'R', "raw tree child");
    }
    long long t1 = trb_now_ns();
    for (long i = n; i-- > 0;) {
        kill(pids[i], SIGTERM);
        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    }
    long long t2 = trb_now_ns();
    close(p[0]);
    close(p[1]);
    free(pids);
    *start_ms = (double)(t1 - t0) / 1e6;
    *stop_ms = (double)(t2 - t1) / 1e6;
}

static void s_trees(long n, int reps)
{
    double start[2][64], stop[2][64];
    double s0, s1;
    s_tree_troupe(n < 10 ? n : 10, &s0, &s1); /* untimed: first faults, run directory */
    for (int r = 0; r < reps; r++) {
        /* Alternate which variant goes first. */
        if (r % 2 == 0) {
            s_tree_troupe(n, &start[0][r], &stop[0][r]);
            s_tree_raw(n, &start[1][r], &stop[1][r]);
        } else {
            s_tree_raw(n, &start[1][r], &stop[1][r]);
            s_tree_troupe(n, &start[0][r], &stop[0][r]);
        }
    }
    s_print_reps("troupe", "tree_start_ms", n, start[0], reps);
    s_print_reps("troupe", "tree_stop_ms", n, stop[0], reps);
    s_print_reps("raw_fork", "tree_start_ms", n, start[1], reps);
    s_print_reps("raw_fork", "tree_stop_ms", n, stop[1], reps);
    fflush(stdout);
}

/* ---- main ------------------------------------------------------------------ */

static void s_usage(FILE *f)
{
    fprintf(f, "usage: restart_bench [--crashes N] [--warmup W] [--tree N] [--reps R]\n"
               "  --crashes N  timed crashes per variant (default 1000; 0: none)\n"
               "  --warmup W   untimed crashes per variant first (default 5)\n"
               "  --tree N     workers in the start/stop tree (default 1000; 0: none)\n"
               "  --reps R     tree start/stop repetitions (default 3, at most 64)\n");
}

int main(int argc, char **argv)
{
    long crashes = 1000, warmup = 5, tree = 1000, reps = 3;
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--crashes") == 0)
            crashes = trb_parse_long("restart_bench", next, "--crashes", 0, 10000000), i++;
        else if (strcmp(argv[i], "--warmup") == 0)
            warmup = trb_parse_long("restart_bench", next, "--warmup", 0, 1000), i++;
        else if (strcmp(argv[i], "--tree") == 0)
            tree = trb_parse_long("restart_bench", next, "--tree", 0, 4096), i++;
        else if (strcmp(argv[i], "--reps") == 0)
            reps = trb_parse_long("restart_bench", next, "--reps", 0, 64), i++;
        else /* --json is the only output format, accepted as the others do */
            trb_common_option(argv[i], NULL, s_usage);
    }
    if (reps < 1)
        reps = 1;
    if (getenv("TROUPE_LOG_LEVEL") == NULL)
        tr_sys_set_log_level(TR_LOG_ERROR);
    if (crashes > 0)
        s_restarts(crashes, warmup);
    if (tree > 0)
        s_trees(tree, (int)reps);
    return 0;
}
