/* actor_test.c: actors are real processes; these tests fork real children
 * and synchronise with them through pipes and pidfds, never through sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/testutil.h"
#include "troupe/troupe.h"

#define LONG_MS 10000 /* generous bound for things that should take ms */

static int s_return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

/* Blocks until the pipe it is given is written to or closed. */
static int s_block_on_fd(void *arg)
{
    char c;
    ssize_t n = read((int)(intptr_t)arg, &c, 1);
    return n == 1 ? c : 42;
}

static int s_abort(void *arg)
{
    (void)arg;
    abort();
}

static int s_segfault(void *arg)
{
    (void)arg;
    /* A real fault: a write to a read-only page. The default disposition is
     * restored first, since sanitizers install their own SIGSEGV handler. */
    signal(SIGSEGV, SIG_DFL);
    volatile char *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    page[0] = 1;
    return 0;
}

static void test_exit_code_is_return_value(void **state)
{
    (void)state;
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn(&a, "ret7", s_return_arg, (void *)7, NULL), TR_OK);
    assert_non_null(a);
    assert_string_equal(tr_actor_name(a), "ret7");
    assert_true(tr_actor_pid(a) > 0);
    assert_false(tr_actor_is_daemon(a));
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    int code = -1;
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, 7);
    assert_false(tr_actor_is_alive(a));
    assert_int_equal(tr_actor_fd(a), -1);
    /* Joining again is fine and says the same. */
    assert_int_equal(tr_actor_join(a, 0), TR_OK);
    tr_actor_destroy(&a);
    assert_null(a);
    trt_assert_no_children();
}

static void test_exit_code_of_signals(void **state)
{
    (void)state;
    tr_actor *ab = NULL, *sv = NULL;
    assert_int_equal(tr_actor_spawn(&ab, "aborts", s_abort, NULL, NULL), TR_OK);
    assert_int_equal(tr_actor_spawn(&sv, "segfaults", s_segfault, NULL, NULL), TR_OK);
    int code;
    assert_int_equal(tr_actor_join(ab, LONG_MS), TR_OK);
    assert_int_equal(tr_actor_exitcode(ab, &code), TR_OK);
    assert_int_equal(code, -SIGABRT);
    assert_int_equal(tr_actor_join(sv, LONG_MS), TR_OK);
    assert_int_equal(tr_actor_exitcode(sv, &code), TR_OK);
    assert_int_equal(code, -SIGSEGV);
    tr_actor_destroy(&ab);
    tr_actor_destroy(&sv);
    trt_assert_no_children();
}

static void test_kill_terminate_and_join_timeout(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    tr_spawn_opts o = {.keep_fds = &p[0], .nkeep_fds = 1};
    tr_actor *k = NULL, *t = NULL;
    assert_int_equal(tr_actor_spawn(&k, "to-kill", s_block_on_fd, (void *)(intptr_t)p[0], &o),
                     TR_OK);
    assert_int_equal(tr_actor_spawn(&t, "to-term", s_block_on_fd, (void *)(intptr_t)p[0], &o),
                     TR_OK);
    /* A timed-out join is its own result and leaves the child alone. */
    assert_int_equal(tr_actor_join(k, 50), TR_ETIMEDOUT);
    assert_true(tr_actor_is_alive(k));
    int code;
    assert_int_equal(tr_actor_exitcode(k, &code), TR_ESTATE);

    assert_int_equal(tr_actor_kill(k), TR_OK);
    assert_int_equal(tr_actor_terminate(t), TR_OK);
    assert_int_equal(tr_actor_join(k, LONG_MS), TR_OK);
    assert_int_equal(tr_actor_join(t, LONG_MS), TR_OK);
    assert_int_equal(tr_actor_exitcode(k, &code), TR_OK);
    assert_int_equal(code, -SIGKILL);
    assert_int_equal(tr_actor_exitcode(t, &code), TR_OK);
    assert_int_equal(code, -SIGTERM);
    /* Signalling a reaped actor is harmless. */
    assert_int_equal(tr_actor_kill(k), TR_OK);
    tr_actor_destroy(&k);
    tr_actor_destroy(&t);
    close(p[0]);
    close(p[1]);
    trt_assert_no_children();
}

static void test_pidfd_in_poll_loop(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    tr_spawn_opts o = {.keep_fds = &p[0], .nkeep_fds = 1};
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn(&a, "polled", s_block_on_fd, (void *)(intptr_t)p[0], &o),
                     TR_OK);
    struct pollfd pf = {.fd = tr_actor_fd(a), .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 0), 0); /* alive: not readable */
    assert_int_equal(write(p[1], "\x05", 1), 1);
    assert_int_equal(poll(&pf, 1, LONG_MS), 1); /* death wakes the loop */
    assert_int_equal(tr_actor_join(a, TR_NOWAIT), TR_OK);
    int code;
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, 5);
    tr_actor_destroy(&a);
    close(p[0]);
    close(p[1]);
    trt_assert_no_children();
}

/* ---- daemons and orphans ----------------------------------------------------- */

typedef struct {
    int report;   /* write end: the middle actor reports its leaf's pid */
    int hold;     /* read end the leaf blocks on */
    int flags;    /* the leaf's spawn flags */
} s_mid_args;

static int s_mid(void *arg)
{
    s_mid_args *m = arg;
    tr_spawn_opts o = {.flags = m->flags, .keep_fds = &m->hold, .nkeep_fds = 1};
    tr_actor *leaf = NULL;
    int rc = tr_actor_spawn(&leaf, "leaf", s_block_on_fd, (void *)(intptr_t)m->hold, &o);
    trt_write_line(m->report, "%d %d", rc, rc == TR_OK ? (int)tr_actor_pid(leaf) : -1);
    char c;
    ssize_t n = read(m->hold, &c, 1); /* until the test kills us */
    return (int)n;
}

static pid_t s_spawn_mid(tr_actor **mid, int flags, int hold_fd, int report[2])
{
    assert_int_equal(pipe(report), 0);
    s_mid_args m = {.report = report[1], .hold = hold_fd, .flags = flags};
    int keep[2] = {report[1], hold_fd};
    tr_spawn_opts o = {.keep_fds = keep, .nkeep_fds = 2};
    assert_int_equal(tr_actor_spawn(mid, "mid", s_mid, &m, &o), TR_OK);
    char line[64];
    assert_true(trt_read_line(report[0], line, sizeof line, LONG_MS) > 0);
    int rc, leaf;
    assert_int_equal(sscanf(line, "%d %d", &rc, &leaf), 2);
    assert_int_equal(rc, TR_OK);
    return (pid_t)leaf;
}

static void test_daemon_dies_with_sigkilled_parent(void **state)
{
    (void)state;
    trt_subreaper();
    int hold[2], report[2];
    assert_int_equal(pipe(hold), 0);
    tr_actor *mid = NULL;
    pid_t leaf = s_spawn_mid(&mid, TR_SPAWN_DAEMON, hold[0], report);
    assert_true(trt_proc_exists(leaf));
    int leaf_fd = (int)syscall(SYS_pidfd_open, leaf, 0);
    assert_true(leaf_fd >= 0);

    assert_int_equal(tr_actor_kill(mid), TR_OK);
    assert_int_equal(tr_actor_join(mid, LONG_MS), TR_OK);
    /* The leaf was re-parented to us (subreaper) and must die on its own. */
    struct pollfd pf = {.fd = leaf_fd, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, LONG_MS), 1);
    int status = 0;
    assert_int_equal(waitpid(leaf, &status, 0), leaf);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_false(trt_proc_exists(leaf));
    close(leaf_fd);
    tr_actor_destroy(&mid);
    close(hold[0]);
    close(hold[1]);
    close(report[0]);
    close(report[1]);
    trt_assert_no_children();
}

static void test_non_daemon_survives_sigkilled_parent(void **state)
{
    (void)state;
    trt_subreaper();
    int hold[2], report[2];
    assert_int_equal(pipe(hold), 0);
    tr_actor *mid = NULL;
    pid_t leaf = s_spawn_mid(&mid, 0, hold[0], report);
    assert_int_equal(tr_actor_kill(mid), TR_OK);
    assert_int_equal(tr_actor_join(mid, LONG_MS), TR_OK);
    /* Python's semantics: a non-daemon child outlives a killed parent. Wait
     * until it has been re-parented to us, then release and reap it. */
    int leaf_fd = (int)syscall(SYS_pidfd_open, leaf, 0);
    assert_true(leaf_fd >= 0);
    struct pollfd pf = {.fd = leaf_fd, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 0), 0); /* still running */
    assert_int_equal(write(hold[1], "\x09", 1), 1);
    assert_int_equal(poll(&pf, 1, LONG_MS), 1);
    int status = 0;
    assert_int_equal(waitpid(leaf, &status, 0), leaf);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 9);
    close(leaf_fd);
    tr_actor_destroy(&mid);
    close(hold[0]);
    close(hold[1]);
    close(report[0]);
    close(report[1]);
    trt_assert_no_children();
}

/* The middle actor returns: its orderly exit terminates its daemon child and
 * waits for its non-daemon child. */
typedef struct {
    int report, hold;
} s_exit_args;

static int s_parent_that_returns(void *arg)
{
    s_exit_args *e = arg;
    tr_spawn_opts d = {.flags = TR_SPAWN_DAEMON, .keep_fds = &e->hold, .nkeep_fds = 1};
    tr_spawn_opts n = {.keep_fds = &e->hold, .nkeep_fds = 1};
    tr_actor *da = NULL, *nd = NULL;
    if (tr_actor_spawn(&da, "exit-daemon", s_block_on_fd, (void *)(intptr_t)e->hold, &d) ||
        tr_actor_spawn(&nd, "exit-nondaemon", s_block_on_fd, (void *)(intptr_t)e->hold, &n))
        return 1;
    trt_write_line(e->report, "%d %d", (int)tr_actor_pid(da), (int)tr_actor_pid(nd));
    /* Handles deliberately not destroyed: the exit must cope. */
    return 0;
}

static void test_orderly_exit_terminates_daemons_and_waits_for_others(void **state)
{
    (void)state;
    trt_subreaper();
    int hold[2], report[2];
    assert_int_equal(pipe(hold), 0);
    assert_int_equal(pipe(report), 0);
    s_exit_args e = {.report = report[1], .hold = hold[0]};
    int keep[2] = {report[1], hold[0]};
    tr_spawn_opts o = {.keep_fds = keep, .nkeep_fds = 2};
    tr_actor *p = NULL;
    assert_int_equal(tr_actor_spawn(&p, "returns", s_parent_that_returns, &e, &o), TR_OK);
    char line[64];
    assert_true(trt_read_line(report[0], line, sizeof line, LONG_MS) > 0);
    int dpid, npid;
    assert_int_equal(sscanf(line, "%d %d", &dpid, &npid), 2);
    /* The parent waits for its non-daemon child, so it cannot be joined yet. */
    assert_int_equal(tr_actor_join(p, 100), TR_ETIMEDOUT);
    assert_int_equal(write(hold[1], "\x01", 1), 1);
    assert_int_equal(tr_actor_join(p, LONG_MS), TR_OK);
    int code;
    assert_int_equal(tr_actor_exitcode(p, &code), TR_OK);
    assert_int_equal(code, 0);
    assert_false(trt_proc_exists(dpid));
    assert_false(trt_proc_exists(npid));
    tr_actor_destroy(&p);
    close(hold[0]);
    close(hold[1]);
    close(report[0]);
    close(report[1]);
    trt_assert_no_children();
}

/* ---- many spawns, names, identity, descriptors ------------------------------ */

static void test_thousand_spawns_leave_no_zombie(void **state)
{
    (void)state;
    static int dropped[400];
    int ndropped = 0;
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "many-%d", i);
        tr_spawn_opts nomb = {.flags = TR_SPAWN_NO_MAILBOX};
        tr_actor *a = NULL;
        assert_int_equal(tr_actor_spawn(&a, name, s_return_arg, (void *)(intptr_t)(i & 0x7f),
                                        i % 2 ? NULL : &nomb),
                         TR_OK);
        if (i % 3 == 0) {
            /* Dropped while (maybe) running: troupe must reap it by itself.
             * We keep our own pidfd only to know when it has exited. */
            dropped[ndropped++] = (int)syscall(SYS_pidfd_open, tr_actor_pid(a), 0);
            assert_true(dropped[ndropped - 1] >= 0);
            tr_actor_destroy(&a);
            continue;
        }
        assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
        int code;
        assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
        assert_int_equal(code, i & 0x7f);
        tr_actor_destroy(&a);
    }
    for (int i = 0; i < ndropped; i++) {
        struct pollfd pf = {.fd = dropped[i], .events = POLLIN};
        assert_int_equal(poll(&pf, 1, LONG_MS), 1);
        close(dropped[i]);
    }
    /* Every dropped child has exited; the next spawn reaps them all. */
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn(&a, "reaper", s_return_arg, NULL, NULL), TR_OK);
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    tr_actor_destroy(&a);
    trt_assert_no_children();
}

typedef struct {
    int report;
    int closed_fd;
    int kept_fd;
} s_identity_args;

static int s_identity(void *arg)
{
    s_identity_args *ia = arg;
    char comm[64] = "", cmdline[256] = "";
    FILE *f = fopen("/proc/self/comm", "r");
    if (f != NULL) {
        if (fgets(comm, sizeof comm, f) != NULL)
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
    }
    f = fopen("/proc/self/cmdline", "r");
    if (f != NULL) {
        size_t n = fread(cmdline, 1, sizeof cmdline - 1, f);
        cmdline[n] = '\0';
        fclose(f);
    }
    int closed = fcntl(ia->closed_fd, F_GETFD) == -1 && errno == EBADF;
    int kept = fcntl(ia->kept_fd, F_GETFD) != -1;
    int devnull_stdin = 0;
    char target[64] = "";
    ssize_t n = readlink("/proc/self/fd/0", target, sizeof target - 1);
    if (n > 0) {
        target[n] = '\0';
        devnull_stdin = strcmp(target, "/dev/null") == 0;
    }
    trt_write_line(ia->report, "%s|%s|%s|%d|%d|%d|%d|%d", tr_self_name(), comm, cmdline,
                   (int)tr_self_ppid(), (int)tr_self_pid(), closed, kept, devnull_stdin);
    return tr_self_is_actor() ? 0 : 1;
}

static void test_identity_title_and_descriptors(void **state)
{
    (void)state;
    int report[2];
    assert_int_equal(pipe(report), 0);
    /* Descriptors at numbers the child's own start-up will not reuse. */
    int closed_fd = dup2(report[1], 900);
    int kept_fd = dup2(report[1], 901);
    assert_int_equal(closed_fd, 900);
    assert_int_equal(kept_fd, 901);
    s_identity_args ia = {.report = kept_fd, .closed_fd = closed_fd, .kept_fd = kept_fd};
    tr_spawn_opts o = {.keep_fds = &kept_fd, .nkeep_fds = 1};
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn(&a, "ident-actor", s_identity, &ia, &o), TR_OK);
    char line[512];
    assert_true(trt_read_line(report[0], line, sizeof line, LONG_MS) > 0);
    char name[80], comm[80], cmd[256];
    int ppid, pid, closed, kept, devnull;
    assert_int_equal(sscanf(line, "%79[^|]|%79[^|]|%255[^|]|%d|%d|%d|%d|%d", name, comm, cmd,
                            &ppid, &pid, &closed, &kept, &devnull),
                     8);
    assert_string_equal(name, "ident-actor");
    assert_string_equal(comm, "ident-actor");
    /* cmdline shows the name only where the process may set it
     * (CAP_SYS_RESOURCE); argv's own memory is never overwritten. */
    (void)cmd;
    assert_int_equal(ppid, getpid());
    assert_int_equal(pid, tr_actor_pid(a));
    assert_int_equal(closed, 1);
    assert_int_equal(kept, 1);
    assert_int_equal(devnull, 1);
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    int code;
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, 0);
    tr_actor_destroy(&a);
    assert_string_equal(tr_self_name(), "main");
    assert_false(tr_self_is_actor());
    close(closed_fd);
    close(kept_fd);
    close(report[0]);
    close(report[1]);
    trt_assert_no_children();
}

/* ---- failures are reported ----------------------------------------------------- */

static int s_init_fails(void *arg, void **st)
{
    (void)arg;
    (void)st;
    return 3;
}

static int s_init_crashes(void *arg, void **st)
{
    (void)arg;
    (void)st;
    signal(SIGABRT, SIG_DFL);
    abort();
}

static int s_handle_nothing(void *st, tr_msg *m)
{
    (void)st;
    (void)m;
    return TR_CONTINUE;
}

static void test_failed_spawns_are_reported(void **state)
{
    (void)state;
    tr_actor *a = (tr_actor *)&a; /* must be reset to NULL on failure */
    assert_int_equal(tr_actor_spawn(&a, "bad/name", s_return_arg, NULL, NULL), TR_EINVAL);
    assert_null(a);
    assert_int_equal(tr_actor_spawn(&a, "", s_return_arg, NULL, NULL), TR_EINVAL);
    assert_int_equal(tr_actor_spawn(&a, ".hidden", s_return_arg, NULL, NULL), TR_EINVAL);
    assert_int_equal(tr_actor_spawn(&a, "ok", NULL, NULL, NULL), TR_EINVAL);
    assert_int_equal(tr_actor_spawn(NULL, "ok", s_return_arg, NULL, NULL), TR_EINVAL);

    tr_behaviour fails = {.init = s_init_fails, .handle = s_handle_nothing};
    assert_int_equal(tr_actor_spawn_behaviour(&a, "init-fails", &fails, NULL, NULL), TR_ESPAWN);
    assert_null(a);
    tr_behaviour crashes = {.init = s_init_crashes, .handle = s_handle_nothing};
    assert_int_equal(tr_actor_spawn_behaviour(&a, "init-crashes", &crashes, NULL, NULL),
                     TR_ESPAWN);
    tr_behaviour nohandle = {.init = s_init_fails};
    assert_int_equal(tr_actor_spawn_behaviour(&a, "no-handle", &nohandle, NULL, NULL),
                     TR_EINVAL);

    /* A name held by a live actor cannot be taken twice... */
    int p[2];
    assert_int_equal(pipe(p), 0);
    tr_spawn_opts o = {.keep_fds = &p[0], .nkeep_fds = 1};
    tr_actor *first = NULL, *dup = NULL;
    assert_int_equal(tr_actor_spawn(&first, "unique", s_block_on_fd, (void *)(intptr_t)p[0], &o),
                     TR_OK);
    assert_int_equal(tr_actor_spawn(&dup, "unique", s_return_arg, NULL, NULL), TR_EEXIST);
    assert_null(dup);
    /* ...but is free again once it died: a restart keeps its name. */
    assert_int_equal(tr_actor_kill(first), TR_OK);
    assert_int_equal(tr_actor_join(first, LONG_MS), TR_OK);
    assert_int_equal(tr_actor_spawn(&dup, "unique", s_return_arg, NULL, NULL), TR_OK);
    assert_string_equal(tr_actor_address(dup), tr_actor_address(first));
    assert_int_equal(tr_actor_join(dup, LONG_MS), TR_OK);
    tr_actor_destroy(&first);
    tr_actor_destroy(&dup);
    close(p[0]);
    close(p[1]);
    trt_assert_no_children();
}

/* A child may not join its parent's handles: only the parent can reap. */
static int s_try_join_inherited(void *arg)
{
    tr_actor *sibling = arg;
    if (tr_actor_join(sibling, 0) != TR_ESTATE)
        return 1;
    /* The copied pidfd number is stale here: signalling must be refused. */
    if (tr_actor_kill(sibling) != TR_ESTATE || tr_actor_fd(sibling) != -1)
        return 2;
    return 0;
}

static void test_join_from_other_process_refused(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    tr_spawn_opts o = {.keep_fds = &p[0], .nkeep_fds = 1};
    tr_actor *sib = NULL, *j = NULL;
    assert_int_equal(tr_actor_spawn(&sib, "sibling", s_block_on_fd, (void *)(intptr_t)p[0], &o),
                     TR_OK);
    assert_int_equal(tr_actor_spawn(&j, "joiner", s_try_join_inherited, sib, NULL), TR_OK);
    assert_int_equal(tr_actor_join(j, LONG_MS), TR_OK);
    int code;
    assert_int_equal(tr_actor_exitcode(j, &code), TR_OK);
    assert_int_equal(code, 0);
    close(p[1]); /* EOF releases the sibling */
    assert_int_equal(tr_actor_join(sib, LONG_MS), TR_OK);
    tr_actor_destroy(&sib);
    tr_actor_destroy(&j);
    close(p[0]);
    trt_assert_no_children();
}

/* ---- mailbox ----------------------------------------------------------------- */

typedef struct {
    int report;
} s_echo_args;

static int s_echo_n(void *arg)
{
    s_echo_args *e = arg;
    for (int i = 0; i < 3; i++) {
        tr_msg m;
        int rc = tr_self_recv(&m, LONG_MS);
        if (rc != TR_OK)
            return 10 + rc;
        trt_write_line(e->report, "%.*s", (int)tr_msg_size(&m), (char *)tr_msg_data(&m));
        tr_msg_close(&m);
    }
    return 0;
}

static void test_message_sent_right_after_spawn_arrives(void **state)
{
    (void)state;
    int report[2];
    assert_int_equal(pipe(report), 0);
    s_echo_args e = {.report = report[1]};
    tr_spawn_opts o = {.keep_fds = &report[1], .nkeep_fds = 1};
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn(&a, "echo", s_echo_n, &e, &o), TR_OK);
    assert_int_equal(tr_actor_send(a, "one", 3, TR_FOREVER), TR_OK);
    assert_int_equal(tr_actor_send(a, "two", 3, TR_FOREVER), TR_OK);
    assert_int_equal(tr_actor_send(a, "three", 5, TR_FOREVER), TR_OK);
    char line[64];
    const char *want[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        assert_true(trt_read_line(report[0], line, sizeof line, LONG_MS) >= 0);
        assert_string_equal(line, want[i]);
    }
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    int code;
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, 0);
    tr_actor_destroy(&a);

    /* An actor without a mailbox says so. */
    assert_int_equal(tr_actor_spawn(&a, "mute", s_return_arg, NULL,
                                    &(tr_spawn_opts){.flags = TR_SPAWN_NO_MAILBOX}),
                     TR_OK);
    assert_int_equal(tr_actor_send(a, "x", 1, 0), TR_ESTATE);
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    tr_actor_destroy(&a);
    tr_msg m;
    assert_int_equal(tr_self_recv(&m, 0), TR_ESTATE); /* main has no mailbox */
    close(report[0]);
    close(report[1]);
    trt_assert_no_children();
}

static char **s_argv;

static int s_check_argv(void *arg)
{
    /* The actor's argument points into the program's argv: it must read
     * back unchanged in the child, whatever the process title is. */
    const char *want = "argv-probe";
    return strcmp((const char *)arg, want) == 0 && strcmp(s_argv[1], want) == 0 ? 0 : 1;
}

static int s_return_minus_one(void *arg)
{
    (void)arg;
    return -1;
}

static void test_argv_intact_and_exit_codes_modulo_256(void **state)
{
    (void)state;
    tr_actor *a = NULL;
    assert_string_equal(s_argv[1], "argv-probe");
    assert_int_equal(tr_actor_spawn(&a, "argv-check", s_check_argv, s_argv[1], NULL), TR_OK);
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    int code;
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, 0);
    tr_actor_destroy(&a);
    /* -1 is an exit status of 255, as exit(-1) gives, not a signal. */
    assert_int_equal(tr_actor_spawn(&a, "minus-one", s_return_minus_one, NULL, NULL), TR_OK);
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, 255);
    tr_actor_destroy(&a);
    trt_assert_no_children();
}

int main(int argc, char **argv)
{
    /* Re-run ourselves with a known argument, so that argv[1] is ours. */
    if (argc < 2 || strcmp(argv[1], "argv-probe") != 0) {
        execl("/proc/self/exe", argv[0], "argv-probe", (char *)NULL);
        return 2;
    }
    s_argv = argv;
    trt_private_run_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_code_is_return_value),
        cmocka_unit_test(test_exit_code_of_signals),
        cmocka_unit_test(test_kill_terminate_and_join_timeout),
        cmocka_unit_test(test_pidfd_in_poll_loop),
        cmocka_unit_test(test_daemon_dies_with_sigkilled_parent),
        cmocka_unit_test(test_non_daemon_survives_sigkilled_parent),
        cmocka_unit_test(test_orderly_exit_terminates_daemons_and_waits_for_others),
        cmocka_unit_test(test_thousand_spawns_leave_no_zombie),
        cmocka_unit_test(test_identity_title_and_descriptors),
        cmocka_unit_test(test_failed_spawns_are_reported),
        cmocka_unit_test(test_join_from_other_process_refused),
        cmocka_unit_test(test_message_sent_right_after_spawn_arrives),
        cmocka_unit_test(test_argv_intact_and_exit_codes_modulo_256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
