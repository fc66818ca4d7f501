/* supervisor_test.c: supervisor trees with real processes. Children report
 * what happens to them as lines on a pipe the test reads ("start NAME PID",
 * "stop NAME", "exit NAME CODE"); the test waits on those lines, on pidfds
 * and on the supervisor's own status answers, never on sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "core/testutil.h"
#include "troupe/supervisor.h"
#include "troupe/troupe.h"

#define LONG_MS 10000

static int g_rd = -1, g_wr = -1; /* the report pipe */
static int g_keep[1];
static char g_dir[64]; /* a scratch directory for marker files */

static void s_pipe_open(void)
{
    trt_report_open(&g_rd, &g_wr);
    g_keep[0] = g_wr;
}

static void s_pipe_close(void)
{
    trt_report_close(&g_rd, &g_wr);
}

/* Reads the next report line; fails the test if none comes in time. */
static void s_expect(const char *want)
{
    char line[128];
    assert_true(trt_read_line(g_rd, line, sizeof line, LONG_MS) >= 0);
    /* "start NAME" matches "start NAME PID ..." */
    if (strncmp(line, want, strlen(want)) != 0 ||
        (line[strlen(want)] != '\0' && line[strlen(want)] != ' '))
        fail_msg("expected \"%s\", got \"%s\"", want, line);
}

/* Reads the next line and returns its third field as a number (the pid of
 * a start line, the code of an exit line). */
static long s_expect_num(const char *want)
{
    char line[128];
    assert_true(trt_read_line(g_rd, line, sizeof line, LONG_MS) >= 0);
    if (strncmp(line, want, strlen(want)) != 0 || line[strlen(want)] != ' ')
        fail_msg("expected \"%s ...\", got \"%s\"", want, line);
    return strtol(line + strlen(want) + 1, NULL, 10);
}

static void s_expect_nothing_more(void)
{
    char line[128];
    /* Everything has exited: the writers are gone, so EOF would come at
     * once if the test closed its own end; with it open, no data is the
     * check, bounded by a short read. */
    struct pollfd p = {.fd = g_rd, .events = POLLIN};
    if (poll(&p, 1, 0) == 1 && trt_read_line(g_rd, line, sizeof line, 0) >= 0)
        fail_msg("unexpected report \"%s\"", line);
}

/* ---- children -------------------------------------------------------------- */

/* A behaviour that reports its start and its stop. */
static int s_rep_init(void *arg, void **state)
{
    *state = arg;
    trt_write_line(g_wr, "start %s %d", tr_self_name(), (int)getpid());
    return 0;
}

static int s_rep_handle(void *state, tr_msg *msg)
{
    (void)state;
    (void)msg;
    return TR_CONTINUE;
}

static int s_rep_terminate(void *state, int reason)
{
    (void)state;
    trt_write_line(g_wr, "stop %s %d", tr_self_name(), reason);
    return 0;
}

static const tr_behaviour s_reporter = {s_rep_init, s_rep_handle, s_rep_terminate};

/* Reports each message it gets. */
static int s_echo_handle(void *state, tr_msg *msg)
{
    (void)state;
    trt_write_line(g_wr, "got %s %.*s", tr_self_name(), (int)tr_msg_size(msg),
                   (const char *)tr_msg_data(msg));
    return TR_CONTINUE;
}

static const tr_behaviour s_echo = {s_rep_init, s_echo_handle, s_rep_terminate};

/* Exits with the code in arg, after reporting. */
static int s_exit_with(void *arg)
{
    int code = (int)(intptr_t)arg;
    trt_write_line(g_wr, "start %s %d", tr_self_name(), (int)getpid());
    trt_write_line(g_wr, "exit %s %d", tr_self_name(), code);
    return code;
}

/* Exits with 3 the first time (creating a marker file), 0 afterwards. */
static int s_fail_once(void *arg)
{
    (void)arg;
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, tr_self_name());
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    int code = fd >= 0 ? 3 : 0;
    if (fd >= 0)
        close(fd);
    trt_write_line(g_wr, "start %s %d", tr_self_name(), (int)getpid());
    trt_write_line(g_wr, "exit %s %d", tr_self_name(), code);
    return code;
}

/* Exits with the code in arg the first time (creating a marker file), then
 * stays up. */
static int s_exit_once_then_stay(void *arg)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, tr_self_name());
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    trt_write_line(g_wr, "start %s %d", tr_self_name(), (int)getpid());
    if (fd >= 0) {
        close(fd);
        return (int)(intptr_t)arg;
    }
    for (;;)
        pause();
    return 0; /* not reached */
}

/* Reports its start with the monotonic time, then crashes. */
static int s_crash_timed(void *arg)
{
    (void)arg;
    trt_write_line(g_wr, "start %s %lld", tr_self_name(), trt_now_ms());
    return 1;
}

/* Ignores SIGTERM and waits forever. */
static int s_ignores_sigterm(void *arg)
{
    (void)arg;
    signal(SIGTERM, SIG_IGN);
    trt_write_line(g_wr, "start %s %d", tr_self_name(), (int)getpid());
    for (;;)
        pause();
    return 0; /* not reached */
}

/* Waits for a byte on the fd in arg, reports and exits 0: a non-daemon
 * worker finishing its work. */
static int s_finisher(void *arg)
{
    int fd = (int)(intptr_t)arg;
    trt_write_line(g_wr, "start %s %d", tr_self_name(), (int)getpid());
    char c;
    ssize_t n = read(fd, &c, 1);
    trt_write_line(g_wr, "done %s %d", tr_self_name(), (int)n);
    return 0;
}

/* A dynamic child: reports the bytes it was started with. */
static int s_dyn_init(void *arg, void **state)
{
    *state = arg;
    trt_write_line(g_wr, "start %s %s", tr_self_name(), arg ? (const char *)arg : "-");
    return 0;
}

static const tr_behaviour s_dynamic = {s_dyn_init, s_rep_handle, s_rep_terminate};

static int s_init_fails(void *arg, void **state)
{
    (void)arg;
    (void)state;
    return 7;
}

static const tr_behaviour s_bad_init = {s_init_fails, s_rep_handle, NULL};

/* Starts once (creating a marker file in g_dir), fails every later init. */
static int s_init_once(void *arg, void **state)
{
    *state = arg;
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, tr_self_name());
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        return 1;
    close(fd);
    trt_write_line(g_wr, "start %s %d", tr_self_name(), (int)getpid());
    return 0;
}

static const tr_behaviour s_starts_once = {s_init_once, s_rep_handle, NULL};

/* ---- helpers --------------------------------------------------------------- */

#define REPORTER(n) \
    {.name = n, .behaviour = &s_reporter, .shutdown_ms = 2000, .flags = TR_SPAWN_DAEMON, \
     .keep_fds = g_keep, .nkeep_fds = 1}

static const tr_child_status *s_child(const tr_sup_status *st, const char *name)
{
    for (size_t i = 0; i < st->nchildren; i++)
        if (strcmp(st->children[i].name, name) == 0)
            return &st->children[i];
    return NULL;
}

/* Asks sup for its status until child `name` is in `state` with at least
 * `restarts` restarts (and, for a state after an exit, the exit recorded);
 * the supervisor's answers are the events waited on. */
static void s_wait_state(const char *sup, const char *name, int state, unsigned restarts)
{
    long long deadline = trt_now_ms() + LONG_MS;
    for (;;) {
        tr_sup_status *st = NULL;
        assert_int_equal(tr_supervisor_status(NULL, sup, &st, LONG_MS), TR_OK);
        const tr_child_status *c = s_child(st, name);
        bool ok = c != NULL && c->state == state && c->restarts >= restarts &&
                  (state == TR_CHILD_RUNNING || state == TR_CHILD_STOPPING || c->has_exited);
        tr_sup_status_destroy(&st);
        if (ok)
            return;
        if (trt_now_ms() > deadline)
            fail_msg("%s/%s never reached %s", sup, name, tr_child_state_name(state));
    }
}

static pid_t s_pid_of(const char *sup, const char *name)
{
    tr_sup_status *st = NULL;
    assert_int_equal(tr_supervisor_status(NULL, sup, &st, LONG_MS), TR_OK);
    const tr_child_status *c = s_child(st, name);
    assert_non_null(c);
    pid_t pid = c->pid;
    tr_sup_status_destroy(&st);
    return pid;
}

static void s_stop(tr_supervisor **s)
{
    assert_int_equal(tr_supervisor_stop(*s, LONG_MS), TR_OK);
    int code = 0;
    assert_int_equal(tr_actor_exitcode(tr_supervisor_actor(*s), &code), TR_OK);
    assert_int_equal(code, -SIGTERM);
    tr_supervisor_destroy(s);
}

/* ---- strategies ------------------------------------------------------------ */

static void s_kill_b_and_expect(int strategy, const char **after)
{
    s_pipe_open();
    tr_child_spec kids[] = {REPORTER("a"), REPORTER("b"), REPORTER("c")};
    tr_sup_spec spec = {.strategy = strategy, .intensity = 5, .period_ms = 5000,
                        .children = kids, .nchildren = 3};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "sup", &spec, 0), TR_OK);
    s_expect("start a");
    long b = s_expect_num("start b");
    s_expect("start c");
    kill((pid_t)b, SIGKILL);
    for (int i = 0; after[i] != NULL; i++)
        s_expect(after[i]);
    s_wait_state("sup", "b", TR_CHILD_RUNNING, 1);
    s_expect_nothing_more();
    s_stop(&s);
    s_expect("stop c");
    s_expect("stop b");
    s_expect("stop a");
    s_pipe_close();
    trt_assert_no_children();
}

static void test_one_for_one_restarts_only_the_dead(void **state)
{
    (void)state;
    const char *after[] = {"start b", NULL};
    s_kill_b_and_expect(TR_ONE_FOR_ONE, after);
}

static void test_one_for_all_restarts_all_in_order(void **state)
{
    (void)state;
    /* The others stop in reverse order, then all start in order. */
    const char *after[] = {"stop c", "stop a", "start a", "start b", "start c", NULL};
    s_kill_b_and_expect(TR_ONE_FOR_ALL, after);
}

static void test_rest_for_one_restarts_the_rest(void **state)
{
    (void)state;
    const char *after[] = {"stop c", "start b", "start c", NULL};
    s_kill_b_and_expect(TR_REST_FOR_ONE, after);
}

/* ---- restart types --------------------------------------------------------- */

static void test_restart_types(void **state)
{
    (void)state;
    s_pipe_open();
    snprintf(g_dir, sizeof g_dir, "/tmp/trt-sup-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    tr_child_spec kids[] = {
        /* transient, normal exit: not restarted */
        {.name = "t0", .fn = s_exit_with, .arg = (void *)0, .restart = TR_TRANSIENT,
         .keep_fds = g_keep, .nkeep_fds = 1},
        /* transient, exits 3 then 0: restarted once */
        {.name = "t3", .fn = s_fail_once, .restart = TR_TRANSIENT, .keep_fds = g_keep,
         .nkeep_fds = 1},
        /* temporary, exits 5: never restarted */
        {.name = "tmp", .fn = s_exit_with, .arg = (void *)5, .restart = TR_TEMPORARY,
         .keep_fds = g_keep, .nkeep_fds = 1},
        /* permanent, exits 3 then stays: restarted once */
        {.name = "p", .fn = s_exit_once_then_stay, .arg = (void *)3, .restart = TR_PERMANENT,
         .flags = TR_SPAWN_DAEMON, .keep_fds = g_keep, .nkeep_fds = 1},
        /* permanent, exits 0 (a normal exit) then stays: restarted all the same */
        {.name = "p0", .fn = s_exit_once_then_stay, .arg = (void *)0,
         .restart = TR_PERMANENT, .flags = TR_SPAWN_DAEMON, .keep_fds = g_keep,
         .nkeep_fds = 1},
    };
    tr_sup_spec spec = {.intensity = 10, .period_ms = 60000, .children = kids,
                        .nchildren = 5};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "types", &spec, 0), TR_OK);
    s_wait_state("types", "t0", TR_CHILD_STOPPED, 0);
    s_wait_state("types", "t3", TR_CHILD_STOPPED, 1);
    s_wait_state("types", "tmp", TR_CHILD_STOPPED, 0);
    s_wait_state("types", "p", TR_CHILD_RUNNING, 1);
    s_wait_state("types", "p0", TR_CHILD_RUNNING, 1);

    tr_sup_status *st = NULL;
    assert_int_equal(tr_supervisor_status(NULL, "types", &st, LONG_MS), TR_OK);
    assert_int_equal(s_child(st, "t0")->restarts, 0);
    assert_int_equal(s_child(st, "t0")->last_exit, 0);
    assert_int_equal(s_child(st, "t3")->restarts, 1);
    assert_int_equal(s_child(st, "t3")->last_exit, 0);
    assert_int_equal(s_child(st, "tmp")->restarts, 0);
    assert_int_equal(s_child(st, "tmp")->last_exit, 5);
    assert_int_equal(s_child(st, "tmp")->restart, TR_TEMPORARY);
    assert_int_equal(s_child(st, "p")->restarts, 1);
    assert_int_equal(s_child(st, "p")->last_exit, 3);
    assert_int_equal(s_child(st, "p0")->restarts, 1);
    assert_int_equal(s_child(st, "p0")->last_exit, 0);
    tr_sup_status_destroy(&st);
    s_stop(&s);
    s_pipe_close();
    char path[128];
    const char *names[] = {"t3", "p", "p0"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        unlink(path);
    }
    rmdir(g_dir);
    trt_assert_no_children();
}

/* ---- intensity and escalation ---------------------------------------------- */

static void test_intensity_escalates_to_parent(void **state)
{
    (void)state;
    s_pipe_open();
    tr_child_spec crasher[] = {{.name = "crasher", .fn = s_exit_with, .arg = (void *)1,
                                .keep_fds = g_keep, .nkeep_fds = 1}};
    tr_sup_spec inner = {.intensity = 2, .period_ms = 60000, .children = crasher,
                         .nchildren = 1};
    tr_child_spec mid[] = {{.name = "inner", .supervisor = &inner}};
    tr_sup_spec outer = {.intensity = 1, .period_ms = 60000, .children = mid, .nchildren = 1};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "outer", &outer, 0), TR_OK);
    /* inner allows 2 restarts of crasher (3 runs), then gives up; outer
     * restarts inner once (3 more runs), then gives up itself. */
    for (int i = 0; i < 6; i++) {
        s_expect("start crasher");
        s_expect("exit crasher");
    }
    tr_actor *a = tr_supervisor_actor(s);
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    int code = 0;
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, TR_SUP_EXIT_GAVE_UP);
    s_expect_nothing_more();
    tr_supervisor_destroy(&s);
    s_pipe_close();
    trt_reap_orphans();
    trt_assert_no_children();
}

static void test_backoff_delays_restarts(void **state)
{
    (void)state;
    s_pipe_open();
    tr_child_spec kids[] = {{.name = "flaky", .fn = s_crash_timed, .keep_fds = g_keep,
                             .nkeep_fds = 1}};
    tr_sup_spec spec = {.intensity = 10, .period_ms = 60000, .backoff_ms = 40,
                        .backoff_max_ms = 160, .children = kids, .nchildren = 1};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "backoff", &spec, 0), TR_OK);
    long long t[5];
    for (int i = 0; i < 5; i++)
        t[i] = s_expect_num("start flaky");
    /* Delays 40, 80, 160, 160 ms, each at least half fixed (jitter adds up
     * to the other half): lower bounds only, which no scheduler breaks. */
    long long want[] = {20, 40, 80, 80};
    for (int i = 0; i < 4; i++)
        if (t[i + 1] - t[i] < want[i])
            fail_msg("restart %d came after %lld ms, before its %lld ms delay", i + 1,
                     t[i + 1] - t[i], want[i]);
    s_stop(&s);
    s_pipe_close();
    trt_assert_no_children();
}

/* ---- shutdown -------------------------------------------------------------- */

static void test_shutdown_timeout_then_kill(void **state)
{
    (void)state;
    s_pipe_open();
    tr_child_spec kids[] = {
        {.name = "brutal", .behaviour = &s_reporter, .shutdown_ms = TR_SHUTDOWN_BRUTAL,
         .flags = TR_SPAWN_DAEMON, .keep_fds = g_keep, .nkeep_fds = 1},
        {.name = "deaf", .fn = s_ignores_sigterm, .shutdown_ms = 200, .flags = TR_SPAWN_DAEMON,
         .keep_fds = g_keep, .nkeep_fds = 1},
        REPORTER("polite"),
    };
    tr_sup_spec spec = {.children = kids, .nchildren = 3};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "shut", &spec, 0), TR_OK);
    /* deaf is a function actor: it reports after its spawn returned,
     * so its line may come after polite's, which polite's init writes. */
    long deaf = -1;
    bool brutal = false, polite = false;
    for (int i = 0; i < 3; i++) {
        char line[128];
        assert_true(trt_read_line(g_rd, line, sizeof line, LONG_MS) >= 0);
        if (strncmp(line, "start deaf ", 11) == 0)
            deaf = strtol(line + 11, NULL, 10);
        else if (strncmp(line, "start brutal ", 13) == 0)
            brutal = true;
        else if (strncmp(line, "start polite ", 13) == 0)
            polite = true;
        else
            fail_msg("unexpected report \"%s\"", line);
    }
    assert_true(deaf > 0 && brutal && polite);
    long long t0 = trt_now_ms();
    s_stop(&s);
    long long took = trt_now_ms() - t0;
    /* polite ran its terminate; deaf ignored SIGTERM and was killed
     * after its 200 ms; brutal was killed at once, with no terminate. */
    s_expect("stop polite");
    s_expect_nothing_more();
    assert_true(took >= 200);
    assert_false(trt_proc_exists((pid_t)deaf));
    s_pipe_close();
    trt_assert_no_children();
}

static void test_shutdown_waits_for_non_daemon(void **state)
{
    (void)state;
    s_pipe_open();
    int work[2];
    assert_int_equal(pipe2(work, O_CLOEXEC), 0);
    int keep[2] = {g_wr, work[0]};
    tr_child_spec kids[] = {{.name = "finisher", .fn = s_finisher,
                             .arg = (void *)(intptr_t)work[0], .shutdown_ms = LONG_MS,
                             .keep_fds = keep, .nkeep_fds = 2}};
    tr_sup_spec spec = {.children = kids, .nchildren = 1};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "joiner", &spec, 0), TR_OK);
    s_expect("start finisher");
    /* Asked to stop, the supervisor waits for the non-daemon child, which
     * is not signalled: it finishes its work when the work arrives. */
    assert_int_equal(tr_actor_terminate(tr_supervisor_actor(s)), TR_OK);
    assert_int_equal(tr_actor_join(tr_supervisor_actor(s), 0), TR_ETIMEDOUT);
    s_wait_state("joiner", "finisher", TR_CHILD_STOPPING, 0);
    assert_int_equal(write(work[1], "x", 1), 1);
    s_expect("done finisher 1");
    assert_int_equal(tr_actor_join(tr_supervisor_actor(s), LONG_MS), TR_OK);
    tr_supervisor_destroy(&s);
    close(work[0]);
    close(work[1]);
    s_pipe_close();
    trt_assert_no_children();
}

/* ---- the whole tree dies with its root --------------------------------------- */

static int s_pidfd_wait_gone(pid_t pid, int timeout_ms)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return errno == ESRCH ? 0 : -1; /* already gone */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    close(fd);
    return n == 1 ? 0 : -1;
}

static void test_sigkill_of_root_leaves_nothing(void **state)
{
    (void)state;
    s_pipe_open();
    trt_subreaper();
    tr_child_spec leaves[] = {REPORTER("leaf-1"), REPORTER("leaf-2")};
    tr_sup_spec inner = {.children = leaves, .nchildren = 2};
    tr_child_spec kids[] = {REPORTER("w-1"), {.name = "branch", .supervisor = &inner},
                            {.name = "nd", .fn = s_ignores_sigterm, .keep_fds = g_keep,
                             .nkeep_fds = 1}};
    tr_sup_spec spec = {.children = kids, .nchildren = 3};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "root", &spec, 0), TR_OK);
    pid_t pids[6];
    int n = 0;
    pids[n++] = tr_actor_pid(tr_supervisor_actor(s));
    pids[n++] = s_pid_of("root", "w-1");
    pids[n++] = s_pid_of("root", "branch");
    pids[n++] = s_pid_of("root", "nd");
    pids[n++] = s_pid_of("branch", "leaf-1");
    pids[n++] = s_pid_of("branch", "leaf-2");
    for (int i = 0; i < n; i++)
        assert_true(trt_proc_exists(pids[i]));
    assert_int_equal(tr_actor_kill(tr_supervisor_actor(s)), TR_OK);
    /* Every process of the tree exits; the orphans' zombies come to this
     * subreaper, which reaps them. */
    for (int i = 0; i < n; i++)
        assert_int_equal(s_pidfd_wait_gone(pids[i], LONG_MS), 0);
    assert_int_equal(tr_actor_join(tr_supervisor_actor(s), LONG_MS), TR_OK);
    tr_supervisor_destroy(&s);
    trt_reap_orphans();
    for (int i = 0; i < n; i++)
        assert_false(trt_proc_exists(pids[i]));
    s_pipe_close();
    trt_assert_no_children();
}

/* ---- a restarted child keeps its address ------------------------------------ */

static void test_restarted_child_keeps_its_address(void **state)
{
    (void)state;
    s_pipe_open();
    tr_child_spec kids[] = {{.name = "echo", .behaviour = &s_echo, .flags = TR_SPAWN_DAEMON,
                             .keep_fds = g_keep, .nkeep_fds = 1}};
    tr_sup_spec spec = {.intensity = 5, .children = kids, .nchildren = 1};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "keeper", &spec, 0), TR_OK);
    long pid = s_expect_num("start echo");
    /* A sender that never saw a handle of echo: it knows the name. */
    tr_actor *echo = NULL;
    assert_int_equal(tr_actor_lookup(&echo, "echo"), TR_OK);
    assert_int_equal(tr_actor_pid(echo), 0);
    assert_int_equal(tr_actor_join(echo, 0), TR_ESTATE);
    assert_int_equal(tr_actor_send(echo, "one", 3, LONG_MS), TR_OK);
    s_expect("got echo one");
    kill((pid_t)pid, SIGKILL);
    /* The same handle reaches the new echo, at the same address. (What is
     * sent while the old process is dying can die with it: at most once.) */
    long pid2 = s_expect_num("start echo");
    assert_true(pid2 != pid);
    assert_int_equal(tr_actor_send(echo, "two", 3, LONG_MS), TR_OK);
    s_expect("got echo two");
    tr_actor_destroy(&echo);
    assert_null(echo);
    assert_int_equal(tr_actor_lookup(&echo, "no/such"), TR_EINVAL);
    s_stop(&s);
    s_expect("stop echo");
    s_pipe_close();
    trt_assert_no_children();
}

/* ---- dynamic children and status ---------------------------------------------- */

static void test_dynamic_children(void **state)
{
    (void)state;
    s_pipe_open();
    tr_child_spec tmpl[] = {{.behaviour = &s_dynamic, .flags = TR_SPAWN_DAEMON,
                             .shutdown_ms = 2000, .keep_fds = g_keep, .nkeep_fds = 1}};
    tr_sup_spec spec = {.strategy = TR_SIMPLE_ONE_FOR_ONE, .children = tmpl, .nchildren = 1};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "pool", &spec, 0), TR_OK);
    assert_int_equal(tr_supervisor_start_child(s, "job-1", "alpha", 6, LONG_MS), TR_OK);
    s_expect("start job-1 alpha");
    assert_int_equal(tr_supervisor_start_child(s, "job-2", "beta", 5, LONG_MS), TR_OK);
    s_expect("start job-2 beta");
    assert_int_equal(tr_supervisor_start_child(s, "job-3", NULL, 0, LONG_MS), TR_OK);
    s_expect("start job-3 -");
    assert_int_equal(tr_supervisor_start_child(s, "job-1", "x", 2, LONG_MS), TR_EEXIST);
    assert_int_equal(tr_supervisor_start_child(s, "bad name", "x", 2, LONG_MS), TR_EINVAL);

    /* A dynamic child is restarted with the same argument. */
    kill(s_pid_of("pool", "job-2"), SIGKILL);
    s_expect("start job-2 beta");

    assert_int_equal(tr_supervisor_stop_child(s, "job-1", LONG_MS), TR_OK);
    s_expect("stop job-1");
    assert_int_equal(tr_supervisor_stop_child(s, "job-1", LONG_MS), TR_EINVAL);
    tr_sup_status *st = NULL;
    assert_int_equal(tr_supervisor_status(NULL, "pool", &st, LONG_MS), TR_OK);
    assert_int_equal(st->strategy, TR_SIMPLE_ONE_FOR_ONE);
    assert_int_equal(st->nchildren, 2);
    assert_string_equal(st->children[0].name, "job-2");
    assert_int_equal(st->children[0].restarts, 1);
    assert_string_equal(st->children[1].name, "job-3");
    tr_sup_status_destroy(&st);
    s_stop(&s);
    s_expect("stop job-3");
    s_expect("stop job-2");
    s_pipe_close();
    trt_assert_no_children();
}

static void test_status_shows_the_true_tree(void **state)
{
    (void)state;
    s_pipe_open();
    tr_child_spec leaves[] = {REPORTER("leaf")};
    tr_sup_spec inner = {.strategy = TR_ONE_FOR_ALL, .children = leaves, .nchildren = 1};
    tr_child_spec kids[] = {REPORTER("w"), {.name = "mid", .supervisor = &inner}};
    tr_sup_spec spec = {.strategy = TR_REST_FOR_ONE, .intensity = 3, .period_ms = 1000,
                        .children = kids, .nchildren = 2};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "top", &spec, 0), TR_OK);
    long w = s_expect_num("start w");
    long leaf = s_expect_num("start leaf");
    tr_sup_status *st = NULL;
    assert_int_equal(tr_supervisor_status(NULL, "top", &st, LONG_MS), TR_OK);
    assert_string_equal(st->name, "top");
    assert_int_equal(st->pid, tr_actor_pid(tr_supervisor_actor(s)));
    assert_int_equal(st->strategy, TR_REST_FOR_ONE);
    assert_int_equal(st->nchildren, 2);
    assert_string_equal(st->children[0].name, "w");
    assert_int_equal(st->children[0].pid, w);
    assert_false(st->children[0].is_supervisor);
    assert_int_equal(st->children[0].state, TR_CHILD_RUNNING);
    assert_false(st->children[0].has_exited);
    assert_string_equal(st->children[1].name, "mid");
    assert_true(st->children[1].is_supervisor);
    pid_t mid = st->children[1].pid;
    tr_sup_status_destroy(&st);
    assert_int_equal(tr_supervisor_status(NULL, "mid", &st, LONG_MS), TR_OK);
    assert_int_equal(st->pid, mid);
    assert_int_equal(st->nchildren, 1);
    assert_int_equal(st->children[0].pid, leaf);
    tr_sup_status_destroy(&st);

    /* After a crash the status has the new pid, one restart, the signal. */
    kill((pid_t)leaf, SIGKILL);
    long leaf2 = s_expect_num("start leaf");
    s_wait_state("mid", "leaf", TR_CHILD_RUNNING, 1);
    assert_int_equal(tr_supervisor_status(NULL, "mid", &st, LONG_MS), TR_OK);
    assert_int_equal(st->children[0].pid, leaf2);
    assert_true(st->children[0].has_exited);
    assert_int_equal(st->children[0].last_exit, -SIGKILL);
    assert_int_equal(st->restarts, 1);
    tr_sup_status_destroy(&st);

    /* Garbage on the control socket is refused, counted, and the next
     * good request is answered. */
    void *ctx = zmq_ctx_new();
    void *req = zmq_socket(ctx, ZMQ_REQ);
    char address[256];
    snprintf(address, sizeof address, "ipc://%s/.c/top", tr_sys_run_dir());
    assert_int_equal(zmq_connect(req, address), 0);
    char reply[64];
    assert_int_equal(zmq_send(req, "\xff\xff\xff", 3, 0), 3);
    assert_true(zmq_recv(req, reply, sizeof reply, 0) > 0); /* rc = TR_EPROTO */
    assert_int_equal(zmq_send(req, "\x08\x01", 2, ZMQ_SNDMORE), 2); /* two frames */
    assert_int_equal(zmq_send(req, "\x08\x01", 2, 0), 2);
    assert_true(zmq_recv(req, reply, sizeof reply, 0) > 0);
    zmq_close(req);
    zmq_ctx_term(ctx);
    assert_int_equal(tr_supervisor_status(NULL, "top", &st, LONG_MS), TR_OK);
    assert_int_equal(st->bad_requests, 2);
    tr_sup_status_destroy(&st);

    assert_int_equal(tr_supervisor_status(NULL, "nobody", &st, LONG_MS), TR_ECLOSED);
    assert_null(st);
    assert_int_equal(tr_supervisor_status(NULL, "bad name", &st, LONG_MS), TR_EINVAL);
    s_stop(&s);
    s_expect("stop leaf");
    s_expect("stop w");
    s_pipe_close();
    trt_assert_no_children();
}

/* ---- bad specs, failed starts -------------------------------------------------- */

static void test_invalid_specs_and_failed_start(void **state)
{
    (void)state;
    tr_supervisor *s = NULL;
    tr_child_spec two_kinds[] = {{.name = "x", .fn = s_exit_with, .behaviour = &s_reporter}};
    tr_child_spec dup[] = {{.name = "x", .fn = s_exit_with}, {.name = "x", .fn = s_exit_with}};
    tr_child_spec bad_restart[] = {{.name = "x", .fn = s_exit_with, .restart = 9}};
    tr_sup_spec specs[] = {
        {.children = two_kinds, .nchildren = 1},
        {.children = dup, .nchildren = 2},
        {.children = bad_restart, .nchildren = 1},
        {.strategy = 7},
        {.strategy = TR_SIMPLE_ONE_FOR_ONE, .children = dup, .nchildren = 2},
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        assert_int_equal(tr_supervisor_start(&s, "bad", &specs[i], 0), TR_EINVAL);
        assert_null(s);
    }
    assert_int_equal(tr_supervisor_start(&s, "bad", NULL, 0), TR_EINVAL);
    assert_int_equal(tr_supervisor_start(&s, "no/slash", &specs[3], 0), TR_EINVAL);

    /* A child whose init fails: those started before it are stopped, the
     * start fails, nothing is left. */
    s_pipe_open();
    tr_child_spec kids[] = {REPORTER("first"), {.name = "broken", .behaviour = &s_bad_init}};
    tr_sup_spec spec = {.children = kids, .nchildren = 2};
    assert_int_equal(tr_supervisor_start(&s, "failing", &spec, 0), TR_ESPAWN);
    assert_null(s);
    s_expect("start first");
    s_expect("stop first");
    s_pipe_close();
    trt_assert_no_children();

    /* start_child on a supervisor that is not simple_one_for_one. */
    tr_child_spec one[] = {{.name = "idle", .fn = s_ignores_sigterm, .shutdown_ms = TR_SHUTDOWN_BRUTAL,
                            .flags = TR_SPAWN_DAEMON}};
    tr_sup_spec plain = {.children = one, .nchildren = 1};
    g_wr = open("/dev/null", O_WRONLY | O_CLOEXEC); /* s_ignores_sigterm reports */
    assert_int_equal(tr_supervisor_start(&s, "plain", &plain, 0), TR_OK);
    assert_int_equal(tr_supervisor_start_child(s, "more", NULL, 0, LONG_MS), TR_ESTATE);
    assert_int_equal(tr_supervisor_stop_child(s, "idle", LONG_MS), TR_ESTATE);
    s_stop(&s);
    close(g_wr);
    g_wr = -1;
    trt_assert_no_children();
}

/* ---- failures around starts ----------------------------------------------------- */

static void test_failed_restart_counts_as_crash(void **state)
{
    (void)state;
    s_pipe_open();
    snprintf(g_dir, sizeof g_dir, "/tmp/trt-sup-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    /* A transient child whose restarts fail: each failed start is a crash
     * (not a normal exit), so the supervisor retries and gives up. */
    tr_child_spec kids[] = {{.name = "once", .behaviour = &s_starts_once,
                             .restart = TR_TRANSIENT, .flags = TR_SPAWN_DAEMON,
                             .keep_fds = g_keep, .nkeep_fds = 1}};
    tr_sup_spec spec = {.intensity = 2, .period_ms = 60000, .children = kids, .nchildren = 1};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "retry", &spec, 0), TR_OK);
    long pid = s_expect_num("start once");
    kill((pid_t)pid, SIGKILL);
    tr_actor *a = tr_supervisor_actor(s);
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    int code = 0;
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, TR_SUP_EXIT_GAVE_UP);
    tr_supervisor_destroy(&s);
    char path[128];
    snprintf(path, sizeof path, "%s/once", g_dir);
    unlink(path);
    rmdir(g_dir);
    s_pipe_close();
    trt_assert_no_children();
}

static void test_group_restart_leaves_temporary_stopped(void **state)
{
    (void)state;
    s_pipe_open();
    tr_child_spec kids[] = {REPORTER("a"), REPORTER("tmp")};
    kids[1].restart = TR_TEMPORARY;
    tr_sup_spec spec = {.strategy = TR_ONE_FOR_ALL, .intensity = 5, .children = kids,
                        .nchildren = 2};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "grp", &spec, 0), TR_OK);
    long a = s_expect_num("start a");
    s_expect("start tmp");
    kill((pid_t)a, SIGKILL);
    s_expect("stop tmp"); /* stopped with the group... */
    s_expect("start a");  /* ...and never started again */
    s_wait_state("grp", "a", TR_CHILD_RUNNING, 1);
    s_wait_state("grp", "tmp", TR_CHILD_STOPPED, 0);
    s_expect_nothing_more();
    s_stop(&s);
    s_expect("stop a");
    s_pipe_close();
    trt_assert_no_children();
}

static void test_failed_start_stops_non_daemons_at_once(void **state)
{
    (void)state;
    s_pipe_open();
    /* A non-daemon that would be waited for forever at a shutdown: when a
     * later child fails to start, it is stopped (SIGTERM), not joined. */
    tr_child_spec kids[] = {{.name = "nd", .behaviour = &s_reporter, .shutdown_ms = TR_FOREVER,
                             .keep_fds = g_keep, .nkeep_fds = 1},
                            {.name = "broken", .behaviour = &s_bad_init}};
    tr_sup_spec spec = {.children = kids, .nchildren = 2};
    tr_supervisor *s = NULL;
    assert_int_equal(tr_supervisor_start(&s, "abort", &spec, 0), TR_ESPAWN);
    s_expect("start nd");
    s_expect("stop nd");
    s_pipe_close();
    trt_assert_no_children();
}

int main(void)
{
    trt_private_run_dir();
    if (getenv("TRT_FILTER") != NULL) /* e.g. TRT_FILTER='*dynamic*' */
        cmocka_set_test_filter(getenv("TRT_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_for_one_restarts_only_the_dead),
        cmocka_unit_test(test_one_for_all_restarts_all_in_order),
        cmocka_unit_test(test_rest_for_one_restarts_the_rest),
        cmocka_unit_test(test_restart_types),
        cmocka_unit_test(test_intensity_escalates_to_parent),
        cmocka_unit_test(test_backoff_delays_restarts),
        cmocka_unit_test(test_shutdown_timeout_then_kill),
        cmocka_unit_test(test_shutdown_waits_for_non_daemon),
        cmocka_unit_test(test_sigkill_of_root_leaves_nothing),
        cmocka_unit_test(test_restarted_child_keeps_its_address),
        cmocka_unit_test(test_dynamic_children),
        cmocka_unit_test(test_status_shows_the_true_tree),
        cmocka_unit_test(test_invalid_specs_and_failed_start),
        cmocka_unit_test(test_failed_restart_counts_as_crash),
        cmocka_unit_test(test_group_restart_leaves_temporary_stopped),
        cmocka_unit_test(test_failed_start_stops_non_daemons_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
