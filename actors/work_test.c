/* work_test.c: the broker, producers, workers and pools end to end, with
 * real processes and real sockets. Workers are actors that run
 * tr_worker_run and report on a pipe ("started PID" when a task that
 * blocks begins, "stats NAME ..." when tr_worker_run returns); hand-made
 * peers are DEALERs speaking work_internal.h's wire format. The test waits
 * on results, on those lines, on process exits and on the broker's
 * counters polled with a deadline, never on sleeps. Each test has brokers
 * of its own names, since a journal outlives its broker (that is the
 * point). TRT_FILTER='*restart*' runs one case. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/work_internal.h"
#include "core/internal.h"
#include "core/testutil.h"
#include "troupe/supervisor.h"
#include "troupe/troupe.h"
#include "troupe/work.h"

#define LONG_MS 10000

/* Opened before each test, closed after it (s_setup, s_teardown). */
static int g_rd = -1, g_wr = -1;           /* the report pipe */
static int g_gate_rd = -1, g_gate_wr = -1; /* a blocked task waits for a byte here */
static int g_log_rd = -1, g_log_wr = -1;   /* a worker's stderr, when asked */

/* ---- the task function and worker actors -------------------------------------- */

enum { RUN = 0, GATE, FOREVER };

/* A worker actor's set-up, and its task function's argument. */
typedef struct {
    const char *broker;
    tr_worker_opts o;
    int block; /* "block": RUN at once; GATE: report "started", wait on the
                  gate; FOREVER: pause, silently (pool workers have no pipe) */
    bool log;  /* stderr goes to the log pipe */
} s_wcfg;

static bool s_is(const void *data, size_t size, const char *word)
{
    return size == strlen(word) && memcmp(data, word, size) == 0;
}

/* "crash" aborts the process, "fail3" fails with status 3, "block" blocks
 * as w->block says; anything else gives "r:" and its bytes. */
static int s_task(void *arg, const void *data, size_t size, void **result, size_t *rsize)
{
    const s_wcfg *w = arg;
    if (s_is(data, size, "crash")) {
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none); /* a poison task, not a core file per death */
        prctl(PR_SET_DUMPABLE, 0);
        abort();
    }
    if (s_is(data, size, "fail3")) {
        *result = strdup("failed");
        *rsize = 6;
        return 3;
    }
    if (w != NULL && w->block == GATE && s_is(data, size, "block")) {
        trt_write_line(g_wr, "started %d", (int)getpid());
        char c;
        while (read(g_gate_rd, &c, 1) < 0 && errno == EINTR)
            ;
    }
    while (w != NULL && w->block == FOREVER && s_is(data, size, "block"))
        pause();
    char *r = malloc(size + 2);
    if (r == NULL)
        return 1;
    memcpy(r, "r:", 2);
    memcpy(r + 2, data, size);
    *result = r;
    *rsize = size + 2;
    return 0;
}

static char g_kept[4][128]; /* reports read before they were asked for */

/* Finds the report that starts with prefix, among those read earlier or
 * those to come, and returns it in line; fails the test if none comes in
 * time. Children report in whatever order they run. */
static void s_line_with(const char *prefix, char *line, size_t len)
{
    for (size_t k = 0; k < 4; k++)
        if (g_kept[k][0] != '\0' && strncmp(g_kept[k], prefix, strlen(prefix)) == 0) {
            snprintf(line, len, "%s", g_kept[k]);
            g_kept[k][0] = '\0';
            return;
        }
    long long deadline = trt_now_ms() + LONG_MS;
    for (;;) {
        int left = (int)(deadline - trt_now_ms());
        if (left <= 0 || trt_read_line(g_rd, line, len, left) < 0)
            fail_msg("no report \"%s...\"", prefix);
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            return;
        size_t k = 0;
        while (k < 3 && g_kept[k][0] != '\0')
            k++;
        snprintf(g_kept[k], sizeof g_kept[k], "%s", line);
    }
}

/* Runs a worker; reports what tr_worker_run returned and its stats. */
static int s_worker_main(void *arg)
{
    s_wcfg *w = arg;
    if (w->log)
        dup2(g_log_wr, STDERR_FILENO);
    tr_worker_stats st;
    int rc = tr_worker_run(w->broker, s_task, w, &w->o, &st);
    trt_write_line(g_wr, "stats %s %d %llu %llu %d", tr_self_name(), rc,
                   (unsigned long long)st.tasks, (unsigned long long)st.reconnects,
                   (int)st.welcomed);
    return rc == TR_OK ? 0 : 1;
}

static tr_actor *s_worker(const char *name, s_wcfg *w)
{
    int keep[3] = {g_wr, g_gate_rd, g_log_wr};
    tr_spawn_opts so = {.flags = TR_SPAWN_DAEMON | TR_SPAWN_NO_MAILBOX, .keep_fds = keep,
                        .nkeep_fds = 3};
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn(&a, name, s_worker_main, w, &so), TR_OK);
    return a;
}

typedef struct {
    int rc;
    unsigned long long tasks, reconnects;
    int welcomed;
} s_wstats;

/* Waits for worker name's "stats" report. */
static s_wstats s_worker_stats(const char *name)
{
    char line[128], want[80];
    snprintf(want, sizeof want, "stats %s ", name);
    s_line_with(want, line, sizeof line);
    s_wstats s;
    assert_int_equal(sscanf(line + strlen(want), "%d %llu %llu %d", &s.rc, &s.tasks,
                            &s.reconnects, &s.welcomed),
                     4);
    return s;
}

/* Joins an actor that is expected to end with code (0, or minus a signal). */
static void s_join(tr_actor **a, int code)
{
    assert_int_equal(tr_actor_join(*a, LONG_MS), TR_OK);
    int got = 1000;
    assert_int_equal(tr_actor_exitcode(*a, &got), TR_OK);
    if (got != code)
        fail_msg("%s exited with %d, expected %d", tr_actor_name(*a), got, code);
    tr_actor_destroy(a);
}

/* Stops an actor that runs on (SIGTERM: a worker hands its tasks back). */
static void s_stop(tr_actor **a)
{
    assert_int_equal(tr_actor_terminate(*a), TR_OK);
    s_join(a, -SIGTERM);
}

/* ---- brokers and producers --------------------------------------------------------- */

static tr_actor *s_broker(const char *name, const tr_broker_opts *o)
{
    tr_actor *b = NULL;
    int rc = tr_broker_start(&b, name, o);
    if (rc != TR_OK)
        fail_msg("tr_broker_start(%s): %s", name, tr_errname(rc));
    return b;
}

/* A producer, connected now (by a tr_work_next that finds nothing). */
static tr_work_client *s_producer(const char *broker)
{
    tr_work_client *c = NULL;
    assert_int_equal(tr_work_client_new(&c, broker, NULL), TR_OK);
    tr_work_result r;
    tr_work_result_init(&r);
    assert_int_equal(tr_work_next(c, &r, 0), TR_EEMPTY);
    tr_work_result_close(&r);
    return c;
}

/* The end of a test with a producer and a broker: both go, and nothing
 * is left running. */
static void s_end(tr_work_client **c, tr_actor **b)
{
    tr_work_client_destroy(c);
    s_stop(b);
    trt_assert_no_children();
}

/* Submits tasks "t<k>" for k in [from, from + n) and returns base, such
 * that task k's id is base + k: a producer's ids count up by one. */
static uint64_t s_submit(tr_work_client *c, size_t from, size_t n)
{
    uint64_t base = 0;
    for (size_t k = from; k < from + n; k++) {
        char t[32];
        int len = snprintf(t, sizeof t, "t%zu", k);
        uint64_t id = 0;
        assert_int_equal(tr_work_submit(c, t, (size_t)len, &id, LONG_MS), TR_OK);
        if (k == from)
            base = id - k;
        assert_int_equal(id, base + k);
    }
    return base;
}

static void s_check_bytes(tr_msg *m, const char *want)
{
    if (tr_msg_size(m) != strlen(want) || memcmp(tr_msg_data(m), want, strlen(want)) != 0)
        fail_msg("got \"%.*s\", expected \"%s\"", (int)tr_msg_size(m),
                 (const char *)tr_msg_data(m), want);
}

/* Takes results until tasks from .. from + n - 1 (task k's id is base +
 * k) have had one each: status 0, bytes "r:t<k>". A second result for a
 * task fails the test unless dups (at least once allows it). */
static void s_collect(tr_work_client *c, uint64_t base, size_t from, size_t n, bool dups)
{
    uint8_t seen[512] = {0}; /* on the stack: a failed check leaks nothing */
    assert_true(n <= sizeof seen);
    size_t left = n;
    tr_work_result r;
    tr_work_result_init(&r);
    long long deadline = trt_now_ms() + LONG_MS;
    while (left > 0) {
        int wait = (int)(deadline - trt_now_ms());
        int rc = tr_work_next(c, &r, wait > 0 ? wait : 0);
        if (rc != TR_OK)
            fail_msg("%zu of %zu result(s) missing: %s", left, n, tr_errname(rc));
        if (r.id < base + from || r.id - base - from >= n)
            fail_msg("a result for id %llu, not expected", (unsigned long long)r.id);
        size_t k = (size_t)(r.id - base);
        char want[32];
        snprintf(want, sizeof want, "r:t%zu", k);
        s_check_bytes(&r.data, want);
        assert_int_equal(r.status, 0);
        if (seen[k - from] && !dups)
            fail_msg("task %zu (id %llu) came twice", k, (unsigned long long)r.id);
        left -= !seen[k - from];
        seen[k - from] = 1;
    }
    tr_work_result_close(&r);
}

/* The counters of the broker behind c. */
static tr_broker_stats s_stats(tr_work_client *c)
{
    tr_broker_stats st;
    int rc = tr_work_broker_stats(c, &st, LONG_MS);
    if (rc != TR_OK)
        fail_msg("no counters from the broker: %s", tr_errname(rc));
    return st;
}

/* Asks the broker behind c for its counters until cond (an expression over
 * st) holds, and fails the test if it never does. The short poll between
 * questions only paces the loop; the condition is what is waited on. */
#define STATS_UNTIL(c, st, cond)                                                   \
    do {                                                                           \
        long long dl_ = trt_now_ms() + LONG_MS;                                    \
        for (;;) {                                                                 \
            (st) = s_stats(c);                                                     \
            if (cond)                                                              \
                break;                                                             \
            if (trt_now_ms() > dl_)                                                \
                fail_msg("the broker's counters never had %s", #cond);             \
            poll(NULL, 0, 5);                                                      \
        }                                                                          \
    } while (0)

/* ---- hand-made peers ------------------------------------------------------------- */

/* A DEALER connected to broker; rid, when not NULL, is its routing id. */
static void *s_raw(const char *broker, const char *rid)
{
    char ep[256];
    assert_int_equal(tr_sys_address(broker, ep, sizeof ep), TR_OK);
    void *s = tr__sys_socket(ZMQ_DEALER);
    assert_non_null(s);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (rid != NULL)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, rid, strlen(rid));
    assert_int_equal(zmq_connect(s, ep), 0);
    return s;
}

/* Sends a frame of command cmd whose body fmt spells: 'b' a u8, 'w' a
 * u32, 'q' a u64, 's' a string's bytes; flags as zmq_send's. */
static void s_raw_send(void *s, int flags, int cmd, const char *fmt, ...)
{
    tr__wbuf w = {0};
    tr__wbuf_reset(&w, cmd);
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f != '\0'; f++) {
        if (*f == 'b') {
            tr__wbuf_u8(&w, (uint8_t)va_arg(ap, int));
        } else if (*f == 'w') {
            tr__wbuf_u32(&w, va_arg(ap, uint32_t));
        } else if (*f == 'q') {
            tr__wbuf_u64(&w, va_arg(ap, uint64_t));
        } else {
            const char *str = va_arg(ap, const char *);
            tr__wbuf_bytes(&w, str, strlen(str));
        }
    }
    va_end(ap);
    assert_false(w.oom);
    assert_int_equal(zmq_send(s, w.p, w.len, flags), (int)w.len);
    tr__wbuf_free(&w);
}

static void s_raw_hello(void *s, int role, uint32_t credit, const char *name)
{
    s_raw_send(s, 0, TR__W_HELLO, "bbbbwwws", role, 0, 0, 0, credit, 1000u, 20000u, name);
}

/* What a hand-made worker has been given: how many tasks, and the keys
 * of the first four. */
typedef struct {
    uint64_t epoch, id[4];
    uint32_t ntasks, pno[4];
} s_given;

/* Receives frames until one of command want; HEARTBEATs and WELCOMEs are
 * skipped, TASKS recorded in g (when not NULL), anything else fails. */
static void s_raw_until(void *s, int want, s_given *g)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    long long deadline = trt_now_ms() + LONG_MS;
    for (;;) {
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        long long left = deadline - trt_now_ms();
        if (left <= 0 || zmq_poll(&it, 1, left) != 1)
            fail_msg("no %s from the broker", tr__work_command_name(want));
        assert_true(zmq_msg_recv(&m, s, 0) >= 0);
        tr__rbuf r;
        int cmd = tr__rbuf_open(&r, zmq_msg_data(&m), zmq_msg_size(&m));
        if (cmd == TR__W_TASKS && g != NULL) {
            g->epoch = tr__rbuf_u64(&r);
            uint32_t n = tr__rbuf_u32(&r);
            for (uint32_t k = 0; k < n && !r.bad; k++, g->ntasks++) {
                uint32_t pno = tr__rbuf_u32(&r);
                uint64_t id = tr__rbuf_u64(&r);
                tr__rbuf_bytes(&r, tr__rbuf_u32(&r));
                if (g->ntasks < 4) {
                    g->pno[g->ntasks] = pno;
                    g->id[g->ntasks] = id;
                }
            }
            assert_true(tr__rbuf_done(&r));
        }
        if (cmd == want)
            break;
        if (cmd != TR__W_HEARTBEAT && cmd != TR__W_TASKS && cmd != TR__W_WELCOME)
            fail_msg("got %s waiting for %s", tr__work_command_name(cmd),
                     tr__work_command_name(want));
    }
    zmq_msg_close(&m);
}

/* A round trip on the hand-made peer's own connection (a STATS_REQ and
 * its answer): what the broker sent it before comes before the answer
 * (TASKS go into g), and what it sent the broker has been handled. */
static void s_raw_barrier(void *s, s_given *g)
{
    s_raw_send(s, 0, TR__W_STATS_REQ, "q", (uint64_t)77);
    s_raw_until(s, TR__W_STATS, g);
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_acknowledged_submit(void **state)
{
    (void)state;
    enum { N = 100 };
    tr_actor *b = s_broker("b1", NULL);
    tr_work_client *c = s_producer("b1");
    uint64_t base = s_submit(c, 0, N);
    assert_int_equal(tr_work_flush(c, LONG_MS), TR_OK);
    tr_work_client_stats cs;
    tr_work_client_stats_get(c, &cs);
    assert_int_equal(cs.acked, N);
    assert_int_equal(cs.unacked, 0);
    /* Stats travel on the producer's connection, after its tasks. */
    tr_broker_stats st = s_stats(c);
    assert_int_equal(st.submitted, N);
    assert_int_equal(st.queued, N);
    assert_int_equal(st.running + st.workers, 0);

    s_wcfg w = {.broker = "b1", .o = {.max_tasks = N}};
    tr_actor *a = s_worker("w1", &w);
    s_collect(c, base, 0, N, false);
    s_wstats ws = s_worker_stats("w1");
    assert_int_equal(ws.rc, TR_OK);
    assert_int_equal(ws.tasks, N);
    assert_true(ws.welcomed);
    s_join(&a, 0);
    STATS_UNTIL(c, st, st.delivered == N);
    assert_int_equal(st.completed, N);
    assert_int_equal(st.queued + st.running, 0);
    s_end(&c, &b);
}

static void test_credit_is_respected(void **state)
{
    (void)state;
    tr_broker_opts bo = {.heartbeat_ms = 1000, .timeout_ms = 20000};
    tr_actor *b = s_broker("b2", &bo);
    tr_work_client *c = s_producer("b2");
    s_submit(c, 0, 10);
    assert_int_equal(tr_work_flush(c, LONG_MS), TR_OK);

    void *s = s_raw("b2", NULL);
    s_raw_hello(s, TR__ROLE_WORKER, 2, "hand");
    s_given g = {0};
    while (g.ntasks < 2)
        s_raw_until(s, TR__W_TASKS, &g);
    s_raw_barrier(s, &g);
    assert_int_equal(g.ntasks, 2);
    tr_broker_stats st = s_stats(c);
    assert_int_equal(st.dispatched, 2);
    assert_int_equal(st.running, 2);
    assert_int_equal(st.queued, 8);

    /* One result back: room for one more task, and no other. */
    s_raw_send(s, 0, TR__W_DONE, "qwwqwws", g.epoch, 1u, g.pno[0], g.id[0], 0u, 4u, "hand");
    while (g.ntasks < 3)
        s_raw_until(s, TR__W_TASKS, &g);
    s_raw_barrier(s, &g);
    assert_int_equal(g.ntasks, 3);
    st = s_stats(c);
    assert_int_equal(st.dispatched, 3);
    assert_int_equal(st.completed, 1);
    assert_int_equal(st.running, 2);
    assert_int_equal(st.queued, 7);
    tr_work_result r;
    tr_work_result_init(&r);
    assert_int_equal(tr_work_next(c, &r, LONG_MS), TR_OK);
    assert_int_equal(r.id, g.id[0]);
    assert_int_equal(r.status, 0);
    s_check_bytes(&r.data, "hand");
    tr_work_result_close(&r);

    /* BYE hands the two back at once. */
    s_raw_send(s, 0, TR__W_BYE, "");
    s_raw_until(s, TR__W_RESET, &g);
    STATS_UNTIL(c, st, st.queued == 9 && st.running == 0 && st.workers == 0);
    tr__sys_close(&s);
    s_end(&c, &b);
}

/* Submits "block" (its id in *id), waits until a GATE worker has started
 * it, and returns that worker. */
static tr_actor *s_blocked_worker(tr_work_client *c, const char *name, s_wcfg *w, uint64_t *id)
{
    assert_int_equal(tr_work_submit(c, "block", 5, id, LONG_MS), TR_OK);
    assert_int_equal(tr_work_flush(c, LONG_MS), TR_OK);
    tr_actor *a = s_worker(name, w);
    char line[64], want[32];
    snprintf(want, sizeof want, "started %d", (int)tr_actor_pid(a));
    s_line_with("started", line, sizeof line);
    assert_string_equal(line, want);
    return a;
}

/* Runs a worker that must complete the blocked task (id), and takes that
 * task's one result. */
static void s_rescued(tr_work_client *c, const char *broker, const char *name, uint64_t id)
{
    s_wcfg w = {.broker = broker, .o = {.max_tasks = 1}};
    tr_actor *a = s_worker(name, &w);
    tr_work_result r;
    tr_work_result_init(&r);
    assert_int_equal(tr_work_next(c, &r, LONG_MS), TR_OK);
    assert_int_equal(r.id, id);
    assert_int_equal(r.status, 0);
    s_check_bytes(&r.data, "r:block");
    tr_work_result_close(&r);
    assert_int_equal(s_worker_stats(name).tasks, 1);
    s_join(&a, 0);
}

static void test_sigkill_mid_task_redelivers(void **state)
{
    (void)state;
    tr_actor *b = s_broker("b3", NULL);
    tr_work_client *c = s_producer("b3");
    s_wcfg wa = {.broker = "b3", .o = {.prefetch = 1}, .block = GATE};
    uint64_t x = 0;
    tr_actor *a = s_blocked_worker(c, "w3a", &wa, &x);
    assert_int_equal(tr_actor_kill(a), TR_OK);
    s_join(&a, -SIGKILL);
    s_rescued(c, "b3", "w3b", x);
    tr_broker_stats st;
    STATS_UNTIL(c, st, st.delivered == 1);
    assert_true(st.redelivered >= 1);
    assert_true(st.workers_lost >= 1);
    assert_int_equal(st.completed, 1);
    s_end(&c, &b);
}

/* Waits until supervisor sup's child name runs, restarted at least
 * restarts times; returns its pid. */
static pid_t s_running(const char *sup, const char *name, unsigned restarts)
{
    long long deadline = trt_now_ms() + LONG_MS;
    for (;;) {
        tr_sup_status *st = NULL;
        assert_int_equal(tr_supervisor_status(NULL, sup, &st, LONG_MS), TR_OK);
        pid_t pid = 0;
        for (size_t i = 0; i < st->nchildren; i++) {
            const tr_child_status *k = &st->children[i];
            if (strcmp(k->name, name) == 0 && k->state == TR_CHILD_RUNNING &&
                k->restarts >= restarts)
                pid = k->pid;
        }
        tr_sup_status_destroy(&st);
        if (pid > 0)
            return pid;
        if (trt_now_ms() > deadline)
            fail_msg("%s/%s never ran after %u restart(s)", sup, name, restarts);
        poll(NULL, 0, 5);
    }
}

static void test_broker_restart_loses_nothing(void **state)
{
    (void)state;
    enum { N = 300, K = 100 };
    tr_child_spec kid;
    tr_broker_child_spec(&kid, "b4", NULL); /* its journal in the run directory */
    tr_sup_spec spec = {.children = &kid, .nchildren = 1};
    tr_supervisor *sup = NULL;
    assert_int_equal(tr_supervisor_start(&sup, "s4", &spec, TR_SPAWN_DAEMON), TR_OK);
    tr_work_client *c = s_producer("b4");
    uint64_t base = s_submit(c, 0, N);
    assert_int_equal(tr_work_flush(c, LONG_MS), TR_OK); /* N acknowledged */
    assert_int_equal(s_submit(c, N, K), base);          /* K perhaps not */
    pid_t old = s_running("s4", "b4", 0);
    assert_int_equal(kill(old, SIGKILL), 0);
    assert_true(s_running("s4", "b4", 1) != old);
    /* The producer resends what the dead broker had not acknowledged. */
    assert_int_equal(tr_work_flush(c, LONG_MS), TR_OK);

    s_wcfg w = {.broker = "b4"};
    tr_actor *w1 = s_worker("w4a", &w), *w2 = s_worker("w4b", &w);
    s_collect(c, base, 0, N + K, true);
    s_stop(&w1);
    s_stop(&w2);
    tr_work_client_destroy(&c);
    assert_int_equal(tr_supervisor_stop(sup, LONG_MS), TR_OK);
    tr_supervisor_destroy(&sup);
    trt_assert_no_children();
}

static void test_poison_task_is_dead_lettered(void **state)
{
    (void)state;
    enum { N = 20, POISON = 7 };
    tr_pool *p = NULL;
    tr_pool_opts po = {.workers = 2};
    assert_int_equal(tr_pool_start(&p, "pz", s_task, NULL, &po), TR_OK);
    char buf[N][16];
    struct iovec in[N];
    for (int i = 0; i < N; i++) {
        int len = snprintf(buf[i], sizeof buf[i], i == POISON ? "crash" : "t%d", i);
        in[i] = (struct iovec){.iov_base = buf[i], .iov_len = (size_t)len};
    }
    tr_msg out[N];
    int status[N];
    int rc = tr_pool_map(p, in, N, out, status, LONG_MS);
    for (int i = 0; i < N; i++) {
        if (i == POISON && status[i] != TR_WORK_DEAD_LETTER)
            fail_msg("the poison task's status is %d (map: %s)", status[i], tr_errname(rc));
        if (i != POISON) {
            char want[32];
            snprintf(want, sizeof want, "r:t%d", i);
            assert_int_equal(status[i], 0);
            s_check_bytes(&out[i], want);
        }
        tr_msg_close(&out[i]);
    }
    assert_int_equal(rc, TR_OK);

    tr_dead_letter dl[4];
    size_t n = 0;
    assert_int_equal(tr_work_dead_letters(tr_pool_client(p), dl, 4, &n, LONG_MS), TR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(dl[0].deaths, 3);
    assert_true(dl[0].producer[0] != '\0');
    s_check_bytes(&dl[0].data, "crash");
    tr_msg_close(&dl[0].data);
    tr_broker_stats st = s_stats(tr_pool_client(p));
    assert_int_equal(st.dead_letters, 1);
    assert_true(st.workers_lost >= 3);
    assert_int_equal(st.queued + st.running, 0);

    /* A poison task alone: no other result follows its dead letter. */
    tr_async *a = NULL;
    tr_msg m;
    tr_msg_init(&m);
    assert_int_equal(tr_pool_apply(p, "crash", 5, &a, LONG_MS), TR_OK);
    rc = tr_async_get(a, &m, &status[0], LONG_MS);
    if (rc != TR_OK)
        fail_msg("no result for a poison task alone: %s", tr_errname(rc));
    assert_int_equal(status[0], TR_WORK_DEAD_LETTER);
    tr_async_destroy(&a);
    tr_msg_close(&m);
    tr_pool_destroy(&p);
    trt_assert_no_children();
}

static void test_heartbeat_finds_a_stopped_worker(void **state)
{
    (void)state;
    tr_broker_opts bo = {.heartbeat_ms = 100, .timeout_ms = 400};
    tr_actor *b = s_broker("b6", &bo);
    tr_work_client *c = s_producer("b6");
    s_wcfg wa = {.broker = "b6", .o = {.prefetch = 1}, .block = GATE};
    uint64_t x = 0;
    tr_actor *a = s_blocked_worker(c, "w6a", &wa, &x);
    /* Stopped, its heartbeat thread is silent too: only the timeout tells. */
    assert_int_equal(tr_actor_signal(a, SIGSTOP), TR_OK);
    s_rescued(c, "b6", "w6b", x);
    tr_broker_stats st;
    STATS_UNTIL(c, st, st.delivered == 1);
    assert_true(st.workers_lost >= 1);
    assert_true(st.redelivered >= 1);
    /* Woken, it comes back (its HELLO makes it a worker again; the other
     * has left), then finishes the task too: a duplicate, dropped. */
    assert_int_equal(tr_actor_signal(a, SIGCONT), TR_OK);
    STATS_UNTIL(c, st, st.workers == 1);
    assert_int_equal(write(g_gate_wr, "go", 1), 1);
    STATS_UNTIL(c, st, st.duplicates >= 1);
    assert_int_equal(st.completed, 1);
    tr_work_result r;
    tr_work_result_init(&r);
    assert_int_equal(tr_work_next(c, &r, 0), TR_EEMPTY);
    tr_work_result_close(&r);
    s_stop(&a);
    s_end(&c, &b);
}

static void test_worker_outlives_a_stopped_broker(void **state)
{
    (void)state;
    enum { N = 20 };
    tr_broker_opts bo = {.heartbeat_ms = 100, .timeout_ms = 400};
    tr_actor *b = s_broker("b6s", &bo);
    tr_work_client *c = s_producer("b6s");
    s_wcfg w = {.broker = "b6s", .log = true};
    tr_actor *a = s_worker("w6s", &w);
    tr_broker_stats st;
    STATS_UNTIL(c, st, st.workers == 1);
    assert_int_equal(tr_actor_signal(b, SIGSTOP), TR_OK);
    /* The worker says, in its log, that it gave up on the silent broker
     * and reconnected (the line goes with tr_worker_stats.reconnects). */
    char line[512];
    long long deadline = trt_now_ms() + LONG_MS;
    do {
        int left = (int)(deadline - trt_now_ms());
        if (left <= 0 || trt_read_line(g_log_rd, line, sizeof line, left) < 0)
            fail_msg("the worker never noticed its broker was silent");
        fprintf(stderr, "%s\n", line);
    } while (strstr(line, "TR-WORK-SILENT") == NULL);
    /* Woken, the broker may find the worker silent too and give its tasks
     * again: at least once. */
    assert_int_equal(tr_actor_signal(b, SIGCONT), TR_OK);
    s_collect(c, s_submit(c, 0, N), 0, N, true);
    s_stop(&a);
    s_end(&c, &b);
}

static void test_curve_refuses_unknown_keys(void **state)
{
    (void)state;
    enum { N = 20 };
    /* dir[1] the broker's pair, dir[2] the allowed keys, dir[3] others. */
    char dir[4][128], path[4][160], ep[64];
    const char *sub[4] = {"", "/srv", "/allow", "/other"};
    for (int i = 0; i < 4; i++) {
        snprintf(dir[i], sizeof dir[i], "%s/k7%s", tr_sys_run_dir(), sub[i]);
        assert_int_equal(mkdir(dir[i], 0700), 0);
    }
    assert_int_equal(tr_keygen(dir[1], "broker"), TR_OK);
    assert_int_equal(tr_keygen(dir[2], "good"), TR_OK);
    assert_int_equal(tr_keygen(dir[3], "bad"), TR_OK);
    snprintf(path[0], sizeof path[0], "%s/broker.key", dir[1]);
    snprintf(path[1], sizeof path[1], "%s/broker.pub", dir[1]);
    snprintf(path[2], sizeof path[2], "%s/good.key", dir[2]);
    snprintf(path[3], sizeof path[3], "%s/bad.key", dir[3]);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", trt_free_port());

    tr_broker_opts bo = {.bind = ep, .security = {.key_file = path[0], .allowed_dir = dir[2]}};
    tr_actor *b = s_broker("b7", &bo);
    tr_work_client *c = s_producer("b7"); /* over ipc: the run directory guards it */
    s_wcfg good = {.broker = ep, .o = {.max_tasks = 2 * N,
                                       .security = {.key_file = path[2], .broker_key = path[1]}}};
    s_wcfg bad = {.broker = ep, .o = {.idle_exit_ms = 1500,
                                      .security = {.key_file = path[3], .broker_key = path[1]}}};
    tr_actor *wg = s_worker("w7good", &good);
    uint64_t base = s_submit(c, 0, N);
    s_collect(c, base, 0, N, false);

    tr_actor *wb = s_worker("w7bad", &bad);
    tr_broker_stats st;
    STATS_UNTIL(c, st, st.denied >= 1);
    /* While the refused one is there: all go to the good one. */
    assert_int_equal(s_submit(c, N, N), base);
    s_collect(c, base, N, N, false);
    s_wstats ws = s_worker_stats("w7bad");
    assert_int_equal(ws.rc, TR_OK);
    assert_false(ws.welcomed);
    assert_int_equal(ws.tasks, 0);
    s_join(&wb, 0);
    /* A worker with no key at all fails the handshake: denied too. */
    uint64_t denied = st.denied;
    s_wcfg plain = {.broker = ep, .o = {.idle_exit_ms = 1500}};
    tr_actor *wp = s_worker("w7plain", &plain);
    STATS_UNTIL(c, st, st.denied > denied);
    ws = s_worker_stats("w7plain");
    assert_int_equal(ws.rc, TR_OK);
    assert_false(ws.welcomed);
    assert_int_equal(ws.tasks, 0);
    s_join(&wp, 0);
    ws = s_worker_stats("w7good");
    assert_int_equal(ws.tasks, 2 * N);
    assert_true(ws.welcomed);
    s_join(&wg, 0);
    st = s_stats(c);
    assert_int_equal(st.completed, 2 * N);
    assert_int_equal(st.duplicates, 0);
    s_end(&c, &b);
}

static void test_pool_apply_map_status_timeout(void **state)
{
    (void)state;
    enum { N = 1000 };
    s_wcfg w = {.block = FOREVER};
    tr_pool *p = NULL;
    tr_pool_opts po = {.workers = 2};
    assert_int_equal(tr_pool_start(&p, "pl", s_task, &w, &po), TR_OK);
    tr_async *a = NULL;
    tr_msg m;
    tr_msg_init(&m);
    int status = -100;
    assert_int_equal(tr_pool_apply(p, "hello", 5, &a, LONG_MS), TR_OK);
    assert_int_equal(tr_async_get(a, &m, &status, LONG_MS), TR_OK);
    assert_int_equal(status, 0);
    s_check_bytes(&m, "r:hello");
    assert_true(tr_async_ready(a));
    tr_async_destroy(&a);

    static char buf[N][16];
    static struct iovec in[N];
    static tr_msg out[N];
    static int st[N];
    for (int i = 0; i < N; i++) {
        int len = snprintf(buf[i], sizeof buf[i], "m%d", i);
        in[i] = (struct iovec){.iov_base = buf[i], .iov_len = (size_t)len};
    }
    assert_int_equal(tr_pool_map(p, in, N, out, st, LONG_MS), TR_OK);
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "r:m%d", i);
        assert_int_equal(st[i], 0);
        s_check_bytes(&out[i], want);
        tr_msg_close(&out[i]);
    }

    assert_int_equal(tr_pool_apply(p, "fail3", 5, &a, LONG_MS), TR_OK);
    assert_int_equal(tr_async_get(a, &m, &status, LONG_MS), TR_OK);
    assert_int_equal(status, 3);
    s_check_bytes(&m, "failed");
    tr_async_destroy(&a);

    assert_int_equal(tr_pool_apply(p, "block", 5, &a, LONG_MS), TR_OK);
    long long t0 = trt_now_ms();
    assert_int_equal(tr_async_get(a, &m, &status, 200), TR_ETIMEDOUT);
    assert_true(trt_now_ms() - t0 >= 150); /* a lower bound only */
    assert_false(tr_async_ready(a));
    tr_async_destroy(&a);
    tr_msg_close(&m);
    tr_pool_destroy(&p);
    trt_assert_no_children();
}

static void test_malformed_input_is_refused(void **state)
{
    (void)state;
    enum { N = 20, REFUSED = 12 };
    tr_broker_opts bo = {.heartbeat_ms = 1000, .timeout_ms = 20000};
    tr_actor *b = s_broker("b9", &bo);
    tr_work_client *c = s_producer("b9");
    s_wcfg w = {.broker = "b9", .o = {.max_tasks = 2 * N}};
    tr_actor *a = s_worker("w9", &w);
    uint64_t base = s_submit(c, 0, N);
    assert_int_equal(tr_work_flush(c, LONG_MS), TR_OK);

    /* REFUSED frames, each refused and counted, with no other effect. */
    void *s = s_raw("b9", NULL);
    assert_int_equal(zmq_send(s, "garbage!", 8, 0), 8);     /* not a troupe frame */
    assert_int_equal(zmq_send(s, "", 0, 0), 0);             /* empty */
    assert_int_equal(zmq_send(s, "TW\x02\x04", 4, 0), 4);   /* another version */
    s_raw_send(s, 0, TR__W_COMMANDS_, "");                  /* no such command */
    s_raw_send(s, ZMQ_SNDMORE, TR__W_HEARTBEAT, "");        /* two frames */
    s_raw_send(s, 0, TR__W_HEARTBEAT, "");
    s_raw_hello(s, 9, 1, "who");                            /* an unknown role */
    s_raw_hello(s, TR__ROLE_WORKER, 0, "nocredit");         /* a worker without credit */
    s_raw_send(s, 0, TR__W_HELLO, "b", TR__ROLE_WORKER);    /* cut short */
    s_raw_hello(s, TR__ROLE_PRODUCER, 0, "raw");            /* well-formed */
    s_raw_until(s, TR__W_WELCOME, NULL);
    s_raw_send(s, 0, TR__W_SUBMIT, "wqws", 1u, (uint64_t)1, 100u, "0123456789"); /* cut */
    s_raw_send(s, 0, TR__W_SUBMIT, "wqws", 1000000u, (uint64_t)1, 1u, "x"); /* count > frame */
    s_raw_send(s, 0, TR__W_HEARTBEAT, "w", 5u);             /* with a tail */
    s_raw_send(s, 0, TR__W_DONE, "qw", (uint64_t)1, 0u);    /* a worker's command */
    s_raw_barrier(s, NULL);
    tr_broker_stats st = s_stats(c);
    assert_int_equal(st.refused, REFUSED);
    assert_int_equal(st.submitted, N); /* nothing of the broken SUBMITs */

    assert_int_equal(s_submit(c, N, N), base);
    s_collect(c, base, 0, 2 * N, false);
    assert_int_equal(s_worker_stats("w9").tasks, 2 * N);
    s_join(&a, 0);
    st = s_stats(c);
    assert_int_equal(st.refused, REFUSED);
    assert_int_equal(st.submitted, 2 * N);
    assert_int_equal(st.completed, 2 * N);
    tr__sys_close(&s);
    s_end(&c, &b);
}

/* A new producer: its first call may be a question to the broker, and a
 * task it submits reaches the broker with no further call ("it returns
 * once the task is sent"). */
static void test_fresh_producer(void **state)
{
    (void)state;
    tr_actor *b = s_broker("b11", NULL);
    tr_work_client *watch = NULL, *c = NULL;
    assert_int_equal(tr_work_client_new(&watch, "b11", NULL), TR_OK);
    tr_broker_stats st;
    int rc = tr_work_broker_stats(watch, &st, 3000);
    if (rc != TR_OK)
        fail_msg("tr_work_broker_stats as a producer's first call: %s", tr_errname(rc));
    assert_int_equal(tr_work_client_new(&c, "b11", NULL), TR_OK);
    assert_int_equal(tr_work_submit(c, "t0", 2, NULL, LONG_MS), TR_OK);
    long long deadline = trt_now_ms() + 3000;
    do {
        st = s_stats(watch);
        if (trt_now_ms() > deadline)
            fail_msg("a task submitted before the broker's WELCOME stays in the producer");
        poll(NULL, 0, 5);
    } while (st.submitted < 1);
    tr_work_client_destroy(&c);
    tr_work_client_destroy(&watch);
    s_stop(&b);
    trt_assert_no_children();
}

/* A producer not called for longer than its timeout reconnects at its
 * next call; a question it asks then is still answered. */
static void test_idle_producer_asks_stats(void **state)
{
    (void)state;
    tr_broker_opts bo = {.heartbeat_ms = 100, .timeout_ms = 400};
    tr_actor *b = s_broker("b12", &bo);
    tr_work_client *c = s_producer("b12");
    tr_broker_stats st;
    assert_int_equal(tr_work_broker_stats(c, &st, LONG_MS), TR_OK);
    /* Idle time is the condition under test here, not a synchronisation. */
    poll(NULL, 0, 600);
    int rc = tr_work_broker_stats(c, &st, 3000);
    if (rc != TR_OK)
        fail_msg("tr_work_broker_stats after 600 ms idle: %s", tr_errname(rc));
    s_end(&c, &b);
}

/* A worker that reconnects (a new connection with the same routing id and
 * a new HELLO, as worker.c does when its broker went silent) may have lost
 * what was sent on the old one: what the broker held for it comes again.
 * The old connection closes last, so the broker sees the new one first
 * (which it may, whatever the order of the worker's calls). */
static void test_reconnected_worker_gets_its_tasks(void **state)
{
    (void)state;
    tr_broker_opts bo = {.heartbeat_ms = 1000, .timeout_ms = 20000};
    tr_actor *b = s_broker("b13", &bo);
    tr_work_client *c = s_producer("b13");
    uint64_t base = s_submit(c, 0, 2);
    assert_int_equal(tr_work_flush(c, LONG_MS), TR_OK);
    void *old = s_raw("b13", "w/hand"), *s = NULL;
    s_raw_hello(old, TR__ROLE_WORKER, 2, "hand");
    s_given g = {0};
    while (g.ntasks < 2)
        s_raw_until(old, TR__W_TASKS, &g);
    s = s_raw("b13", "w/hand");
    s_raw_hello(s, TR__ROLE_WORKER, 2, "hand");
    g = (s_given){0};
    for (uint32_t k = 0; k < 2;) {
        s_raw_until(s, TR__W_TASKS, &g);
        for (; k < g.ntasks && k < 4; k++)
            s_raw_send(s, 0, TR__W_DONE, "qwwqwws", g.epoch, 1u, g.pno[k], g.id[k], 0u, 4u,
                       "hand");
    }
    tr_work_result r;
    tr_work_result_init(&r);
    uint64_t sum = 0;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(tr_work_next(c, &r, LONG_MS), TR_OK);
        sum += r.id - base + 1;
    }
    assert_int_equal(sum, 3); /* base and base + 1 */
    tr_work_result_close(&r);
    tr__sys_close(&old);
    tr__sys_close(&s);
    s_end(&c, &b);
}

/* A broker that stops reading fills the producer's pipe (its high-water
 * mark): the tasks that did not fit wait in the producer and go when the
 * broker is back, and every one is acknowledged. */
static void test_submits_outlast_a_full_pipe(void **state)
{
    (void)state;
    enum { N = 3000, SIZE = 4096 };
    tr_actor *b = s_broker("b14", NULL);
    tr_work_client *c = s_producer("b14");
    static char big[SIZE];
    memset(big, 'x', sizeof big);
    assert_int_equal(tr_actor_signal(b, SIGSTOP), TR_OK);
    for (int k = 0; k < N; k++)
        assert_int_equal(tr_work_submit(c, big, sizeof big, NULL, LONG_MS), TR_OK);
    assert_int_equal(tr_actor_signal(b, SIGCONT), TR_OK);
    assert_int_equal(tr_work_flush(c, LONG_MS), TR_OK);
    tr_broker_stats st = s_stats(c);
    assert_int_equal(st.submitted, N);
    assert_int_equal(st.queued, N);
    s_end(&c, &b);
}

/* A producer that does not read while its results pile up (more than the
 * pipes hold) still gets every one when it reads: what the broker could
 * not send then, it sends later. */
static void test_slow_reader_gets_every_result(void **state)
{
    (void)state;
    enum { N = 3000, SIZE = 1024 };
    tr_broker_opts bo = {.timeout_ms = 60000}; /* the silent producer stays */
    tr_actor *b = s_broker("b15", &bo);
    tr_work_client *c = s_producer("b15");
    tr_work_client *q = s_producer("b15"); /* asks for the counters meanwhile */
    static char task[SIZE];
    memset(task, 'y', sizeof task);
    uint64_t base = 0;
    for (int k = 0; k < N; k++) {
        uint64_t id;
        assert_int_equal(tr_work_submit(c, task, sizeof task, &id, LONG_MS), TR_OK);
        if (k == 0)
            base = id;
    }
    assert_int_equal(tr_work_flush(c, LONG_MS), TR_OK);
    s_wcfg w = {.broker = "b15", .o = {.prefetch = 1, .max_tasks = N}};
    tr_actor *wk = s_worker("w15", &w);
    tr_broker_stats st;
    STATS_UNTIL(q, st, st.completed == N);
    static uint8_t seen[N];
    memset(seen, 0, sizeof seen);
    size_t got = 0;
    tr_work_result r;
    tr_work_result_init(&r);
    while (got < N) {
        int rc = tr_work_next(c, &r, LONG_MS);
        if (rc != TR_OK)
            fail_msg("%zu of %d results came: %s", got, N, tr_errname(rc));
        assert_true(r.id >= base && r.id - base < N);
        got += !seen[r.id - base];
        seen[r.id - base] = 1;
        assert_int_equal(tr_msg_size(&r.data), SIZE + 2);
    }
    tr_work_result_close(&r);
    s_worker_stats("w15");
    s_join(&wk, 0);
    tr_work_client_destroy(&q);
    s_end(&c, &b);
}

/* A producer that sends and does not read fills its pipe with the broker's
 * acknowledgements. Those that did not fit go later, merged, when the pipe
 * has room: this hand-made producer never sends a task twice, so each one
 * it sent must be acknowledged, once, from what the broker kept. */
static void test_acks_outlast_a_full_pipe(void **state)
{
    (void)state;
    enum { N = 30000 };
    tr_broker_opts bo = {.timeout_ms = 60000}; /* no help from a resend */
    tr_actor *b = s_broker("b16", &bo);
    void *s = s_raw("b16", "p/raw16");
    s_raw_hello(s, TR__ROLE_PRODUCER, 0, "raw16");
    for (uint64_t id = 1; id <= N; id++)
        s_raw_send(s, 0, TR__W_SUBMIT, "wqws", 1u, id, 1u, "t");
    static uint8_t acked[N + 1];
    memset(acked, 0, sizeof acked);
    uint64_t got = 0, merged = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    long long deadline = trt_now_ms() + LONG_MS;
    while (got < N) {
        zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
        long long left = deadline - trt_now_ms();
        if (left <= 0 || zmq_poll(&it, 1, left) != 1)
            fail_msg("%llu of %d tasks acknowledged", (unsigned long long)got, N);
        assert_true(zmq_msg_recv(&m, s, 0) >= 0);
        tr__rbuf r;
        if (tr__rbuf_open(&r, zmq_msg_data(&m), zmq_msg_size(&m)) != TR__W_ACK)
            continue;
        uint32_t n = tr__rbuf_u32(&r);
        for (uint32_t k = 0; k < n; k++) {
            uint64_t first = tr__rbuf_u64(&r), count = tr__rbuf_u32(&r);
            assert_false(r.bad);
            assert_true(first >= 1 && count <= N && first + count <= N + 1);
            merged += count > 1;
            for (uint64_t id = first; id < first + count; id++) {
                assert_int_equal(acked[id], 0);
                acked[id] = 1;
                got++;
            }
        }
        assert_true(tr__rbuf_done(&r));
    }
    zmq_msg_close(&m);
    /* One task per SUBMIT: a longer range is acknowledgements that waited
     * and were merged, so the pipe was full at least once. */
    assert_true(merged > 0);
    tr__sys_close(&s);
    s_stop(&b);
    trt_assert_no_children();
}

static void test_bad_arguments(void **state)
{
    (void)state;
    tr_work_client *c = NULL;
    char longid[66];
    memset(longid, 'x', 65);
    longid[65] = '\0';
    const char *ids[] = {"no spaces", "a/b", "", longid};
    for (size_t i = 0; i < 4; i++) {
        tr_work_opts wo = {.id = ids[i]};
        assert_int_equal(tr_work_client_new(&c, "b10", &wo), TR_EINVAL);
        assert_null(c);
    }
    assert_int_equal(tr_work_client_new(&c, NULL, NULL), TR_EINVAL);

    tr_worker_stats ws;
    tr_worker_opts o = {.heartbeat_ms = 500, .timeout_ms = 100};
    assert_int_equal(tr_worker_run("b10", NULL, NULL, NULL, &ws), TR_EINVAL);
    assert_int_equal(tr_worker_run(NULL, s_task, NULL, NULL, &ws), TR_EINVAL);
    assert_int_equal(tr_worker_run("b10", s_task, NULL, &o, &ws), TR_EINVAL);

    tr_actor *b = NULL;
    tr_broker_opts bo = {.heartbeat_ms = 500, .timeout_ms = 100};
    assert_int_equal(tr_broker_start(&b, "b10", &bo), TR_EINVAL);
    assert_null(b);
    assert_int_equal(tr_broker_start(&b, "bad name", NULL), TR_EINVAL);
    tr_pool *p = NULL;
    assert_int_equal(tr_pool_start(&p, "p10", NULL, NULL, NULL), TR_EINVAL);
    trt_assert_no_children();

    /* A heartbeat above the default timeout: either refused, or a broker
     * that its peers can use (they refuse a WELCOME whose timeout is below
     * its heartbeat). */
    tr_broker_opts slow = {.heartbeat_ms = 3000};
    int rc = tr_broker_start(&b, "b10", &slow);
    if (rc != TR_OK) {
        assert_int_equal(rc, TR_EINVAL);
        trt_assert_no_children();
        return;
    }
    c = s_producer("b10");
    s_submit(c, 0, 1);
    rc = tr_work_flush(c, 4000);
    if (rc != TR_OK)
        fail_msg("a broker started with heartbeat_ms 3000 (timeout 2000 by default) "
                 "never acknowledged a task: %s", tr_errname(rc));
    s_end(&c, &b);
}

/* ---- the suite ----------------------------------------------------------------- */

static int s_setup(void **state)
{
    (void)state;
    trt_report_open(&g_rd, &g_wr);
    trt_report_open(&g_gate_rd, &g_gate_wr);
    trt_report_open(&g_log_rd, &g_log_wr);
    return 0;
}

/* Closes the pipes. After a test that failed half-way, also kills and
 * reaps what it left running (its handles went with its stack), so that a
 * bug fails one test, not all that follow; a test that passed has checked
 * that it left nothing. */
static int s_teardown(void **state)
{
    (void)state;
    memset(g_kept, 0, sizeof g_kept);
    trt_report_close(&g_rd, &g_wr);
    trt_report_close(&g_gate_rd, &g_gate_wr);
    trt_report_close(&g_log_rd, &g_log_wr);
    return trt_kill_children(NULL);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)

int main(void)
{
    trt_private_run_dir();
    if (getenv("TRT_FILTER") != NULL) /* e.g. TRT_FILTER='*restart*' */
        cmocka_set_test_filter(getenv("TRT_FILTER"));
    const struct CMUnitTest tests[] = {
        TEST(test_acknowledged_submit),
        TEST(test_credit_is_respected),
        TEST(test_sigkill_mid_task_redelivers),
        TEST(test_broker_restart_loses_nothing),
        TEST(test_poison_task_is_dead_lettered),
        TEST(test_heartbeat_finds_a_stopped_worker),
        TEST(test_worker_outlives_a_stopped_broker),
        TEST(test_curve_refuses_unknown_keys),
        TEST(test_pool_apply_map_status_timeout),
        TEST(test_malformed_input_is_refused),
        TEST(test_fresh_producer),
        TEST(test_idle_producer_asks_stats),
        TEST(test_reconnected_worker_gets_its_tasks),
        TEST(test_submits_outlast_a_full_pipe),
        TEST(test_slow_reader_gets_every_result),
        TEST(test_acks_outlast_a_full_pipe),
        TEST(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
