/* event_test.c: the hub, publish/subscribe and events with real processes.
 * Children report on a pipe the test reads ("ready NAME", "woke NAME RC");
 * the test waits on those lines, on the hub's own answers (its counters
 * say when a waiter's request has been answered) and on subscribers'
 * messages, never on sleeps. Each test starts its own hub; event names
 * differ between tests, since the state file outlives a hub (that is the
 * point). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/event.pb-c.h"
#include "actors/event_internal.h"
#include "core/testutil.h"
#include "tools/troupe_events.h"
#include "troupe/event.h"
#include "troupe/supervisor.h"
#include "troupe/troupe.h"

#define LONG_MS 10000

static int g_rd = -1, g_wr = -1; /* the report pipe */
static int g_keep[1];

static void s_pipe_open(void)
{
    trt_report_open(&g_rd, &g_wr);
    g_keep[0] = g_wr;
}

static void s_pipe_close(void)
{
    trt_report_close(&g_rd, &g_wr);
}

/* Reads the next report line into line; fails the test if none comes. */
static void s_line(char *line, size_t len)
{
    assert_true(trt_read_line(g_rd, line, len, LONG_MS) >= 0);
}

static void s_expect(const char *want)
{
    char line[128];
    s_line(line, sizeof line);
    if (strcmp(line, want) != 0)
        fail_msg("expected \"%s\", got \"%s\"", want, line);
}

/* Reads n lines "<word> <prefix>-<i>...", in any order of i; "woke" lines
 * must also say TR_OK (end in " 0"). */
static void s_expect_lines(int n, const char *word, const char *prefix)
{
    char want[64];
    int len = snprintf(want, sizeof want, "%s %s-", word, prefix);
    for (int i = 0; i < n; i++) {
        char line[128];
        s_line(line, sizeof line);
        if (strncmp(line, want, (size_t)len) != 0)
            fail_msg("expected \"%s...\", got \"%s\"", want, line);
        if (strcmp(word, "woke") == 0)
            assert_string_equal(line + strlen(line) - 2, " 0");
    }
}

/* ---- the hub and its counters ------------------------------------------------- */

static tr_actor *s_hub_start(void)
{
    tr_actor *hub = NULL;
    assert_int_equal(tr_hub_start(&hub, NULL), TR_OK);
    return hub;
}

static void s_hub_stop(tr_actor **hub)
{
    assert_int_equal(tr_actor_terminate(*hub), TR_OK);
    assert_int_equal(tr_actor_join(*hub, LONG_MS), TR_OK);
    int code = 0;
    assert_int_equal(tr_actor_exitcode(*hub, &code), TR_OK);
    assert_int_equal(code, -SIGTERM);
    tr_actor_destroy(hub);
}

/* Requests the hub has answered for others than this process's counter
 * requests: a stats answer counts the requests before it, this process's
 * earlier stats requests included. Reset when a hub starts. */
static uint64_t g_stats_calls;

static uint64_t s_others(void)
{
    tr_hub_stats st;
    assert_int_equal(tr_hub_stats_get(NULL, &st, LONG_MS), TR_OK);
    return st.requests - g_stats_calls++;
}

static tr_hub_stats s_stats(void)
{
    tr_hub_stats st;
    assert_int_equal(tr_hub_stats_get(NULL, &st, LONG_MS), TR_OK);
    g_stats_calls++;
    return st;
}

/* Waits until the hub has answered n requests of others since base (a
 * value of s_others): the waiters' first questions, after which they wait
 * on their subscriptions. */
static void s_await_requests(uint64_t base, uint64_t n)
{
    long long deadline = trt_now_ms() + LONG_MS;
    while (s_others() < base + n)
        if (trt_now_ms() > deadline)
            fail_msg("the hub never answered %llu requests", (unsigned long long)n);
}

/* ---- children ---------------------------------------------------------------- */

typedef struct {
    const char *event; /* opened in the child; or ... */
    tr_event *ev;      /* ... a handle inherited from the test */
    int timeout_ms;
    int expect;        /* what wait must return */
} s_wait_arg;

/* Reports "ready", waits on the event, reports "woke RC"; exits 0 when
 * wait returned what was expected. */
static int s_waiter(void *arg)
{
    const s_wait_arg *w = arg;
    tr_event *ev = w->ev;
    if (ev == NULL && tr_event_open(&ev, w->event, NULL) != TR_OK)
        return 10;
    trt_write_line(g_wr, "ready %s", tr_self_name());
    int rc = tr_event_wait(ev, w->timeout_ms);
    trt_write_line(g_wr, "woke %s %d", tr_self_name(), rc);
    if (w->ev == NULL)
        tr_event_destroy(&ev);
    return rc == w->expect ? 0 : 1;
}

static tr_actor *s_spawn_waiter(const char *name, s_wait_arg *arg)
{
    tr_spawn_opts o = {.keep_fds = g_keep, .nkeep_fds = 1};
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn(&a, name, s_waiter, arg, &o), TR_OK);
    return a;
}

/* Spawns n waiters named "<prefix>-<i>", waiter i with args[i % nargs],
 * and reads their n "ready" lines. */
static void s_spawn_waiters(tr_actor **a, int n, const char *prefix, s_wait_arg **args,
                            int nargs)
{
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s-%d", prefix, i);
        a[i] = s_spawn_waiter(name, args[i % nargs]);
    }
    s_expect_lines(n, "ready", prefix);
}

/* Reads the n waiters' "woke" lines, each saying TR_OK, and joins them. */
static void s_all_woke(tr_actor **a, int n, const char *prefix)
{
    s_expect_lines(n, "woke", prefix);
    for (int i = 0; i < n; i++)
        trt_join_ok(&a[i], LONG_MS);
}

/* ---- subscribers ------------------------------------------------------------- */

/* Receives the next message on s, failing the test if none comes; returns
 * its topic as a string (an event's topic as "$event/NAME") and its body
 * in body. */
static void s_next(tr_sub *s, char *topic, size_t tlen, char *body, size_t blen)
{
    tr_msg t, b;
    int rc = tr_sub_recv(s, &t, &b, LONG_MS);
    if (rc != TR_OK)
        fail_msg("no message: %s", tr_errname(rc));
    snprintf(topic, tlen, "%.*s", (int)tr_msg_size(&t), (const char *)tr_msg_data(&t));
    snprintf(body, blen, "%.*s", (int)tr_msg_size(&b), (const char *)tr_msg_data(&b));
    tr_msg_close(&t);
    tr_msg_close(&b);
}

/* Receives the next event message on s: its name, state and version. */
static void s_next_event(tr_sub *s, char *name, bool *is_set, uint64_t *version)
{
    tr_msg t, b;
    assert_int_equal(tr_sub_recv(s, &t, &b, LONG_MS), TR_OK);
    int rc = tr_event_decode(&t, &b, name, 65, is_set, version);
    if (rc != TR_OK)
        fail_msg("not an event: %.*s (%s)", (int)tr_msg_size(&t), (const char *)tr_msg_data(&t),
                 tr_errname(rc));
    tr_msg_close(&t);
    tr_msg_close(&b);
}

/* Makes sure every subscription of s has reached the hub: subscribes to
 * event `marker` too, and reads until the state the hub then sends, which
 * comes after whatever the earlier subscriptions brought (dropped here). */
static void s_synced(tr_sub *s, const char *marker)
{
    assert_int_equal(tr_sub_subscribe_event(s, marker), TR_OK);
    for (;;) {
        tr_msg t, b;
        char name[65];
        assert_int_equal(tr_sub_recv(s, &t, &b, LONG_MS), TR_OK);
        int rc = tr_event_decode(&t, &b, name, sizeof name, NULL, NULL);
        tr_msg_close(&t);
        tr_msg_close(&b);
        if (rc == TR_OK && strcmp(name, marker) == 0)
            return;
    }
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_no_hub(void **state)
{
    (void)state;
    /* First in the suite: nothing has started a hub in this system yet. */
    tr_event *ev = NULL;
    tr_sub *s = NULL;
    tr_pub *p = NULL;
    tr_hub_stats st;
    assert_int_equal(tr_event_open(&ev, "nohub", NULL), TR_ECLOSED);
    assert_null(ev);
    assert_int_equal(tr_sub_open(&s, "", NULL), TR_ECLOSED);
    assert_int_equal(tr_pub_open(&p, NULL), TR_ECLOSED);
    assert_int_equal(tr_hub_stats_get(NULL, &st, 100), TR_ECLOSED);
    assert_int_equal(tr_event_open(&ev, "bad name", NULL), TR_EINVAL);
    assert_int_equal(tr_event_open(NULL, "x", NULL), TR_EINVAL);
    tr_hub_addr half = {.out = "tcp://127.0.0.1:1"};
    assert_int_equal(tr_event_open(&ev, "x", &half), TR_EINVAL);
    tr_event_destroy(&ev);
    tr_event_destroy(NULL);
    trt_assert_no_children();
}

static void test_set_before_subscribe_is_seen(void **state)
{
    (void)state;
    s_pipe_open();
    tr_actor *hub = s_hub_start();
    tr_event *ev = NULL;
    assert_int_equal(tr_event_open(&ev, "early", NULL), TR_OK);
    assert_string_equal(tr_event_name(ev), "early");
    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK);
    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK); /* idempotent */

    /* A process that opens the event after set returned: wait returns at
     * once, with the hub's answer. */
    s_wait_arg w = {.event = "early", .timeout_ms = LONG_MS, .expect = TR_OK};
    tr_actor *a = s_spawn_waiter("late", &w);
    s_expect("ready late");
    s_expect("woke late 0");
    trt_join_ok(&a, LONG_MS);

    /* A subscriber that comes after the set gets the state at once (the
     * last-value cache), by its exact topic and by a prefix. */
    tr_sub *s = NULL;
    assert_int_equal(tr_sub_open(&s, NULL, NULL), TR_OK);
    assert_int_equal(tr_sub_subscribe_event(s, "early"), TR_OK);
    char name[65];
    bool set = false;
    uint64_t v1 = 0, v2 = 0;
    s_next_event(s, name, &set, &v1);
    assert_string_equal(name, "early");
    assert_true(set);
    assert_true(v1 > 0);
    tr_sub_destroy(&s);
    assert_null(s);
    assert_int_equal(tr_sub_open(&s, "$event/", NULL), TR_OK);
    s_next_event(s, name, &set, &v2);
    assert_true(set);
    assert_true(v2 == v1); /* the set again, not a new change */
    tr_sub_destroy(&s);

    bool is = false;
    assert_int_equal(tr_event_is_set(ev, &is, LONG_MS), TR_OK);
    assert_true(is);
    assert_int_equal(s_stats().changes, 1);
    tr_event_destroy(&ev);
    s_hub_stop(&hub);
    s_pipe_close();
    trt_assert_no_children();
}

static void test_wait_timeout(void **state)
{
    (void)state;
    tr_actor *hub = s_hub_start();
    tr_event *ev = NULL;
    assert_int_equal(tr_event_open(&ev, "never", NULL), TR_OK);
    long long t0 = trt_now_ms();
    assert_int_equal(tr_event_wait(ev, 150), TR_ETIMEDOUT);
    assert_true(trt_now_ms() - t0 >= 150); /* a lower bound only */
    assert_int_equal(tr_event_wait(ev, TR_NOWAIT), TR_ETIMEDOUT);
    bool is = true;
    uint64_t v = 1;
    assert_int_equal(tr_event_seen(ev, &is, &v), TR_OK);
    assert_false(is);
    assert_int_equal(v, 0);
    assert_true(tr_event_fd(ev) >= 0);
    assert_int_equal(tr_event_is_set(ev, NULL, LONG_MS), TR_EINVAL);
    assert_int_equal(tr_event_wait(NULL, 10), TR_EINVAL);
    tr_event_destroy(&ev);
    s_hub_stop(&hub);
    trt_assert_no_children();
}

static void test_clear_then_wait_blocks(void **state)
{
    (void)state;
    s_pipe_open();
    tr_actor *hub = s_hub_start();
    g_stats_calls = 0;
    tr_event *ev = NULL;
    assert_int_equal(tr_event_open(&ev, "gate", NULL), TR_OK);
    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK);
    assert_int_equal(tr_event_wait(ev, LONG_MS), TR_OK);
    assert_int_equal(tr_event_clear(ev, LONG_MS), TR_OK);
    assert_int_equal(tr_event_clear(ev, LONG_MS), TR_OK);

    /* Here and in another process, a wait after the clear blocks, although
     * both have seen the set. */
    assert_int_equal(tr_event_wait(ev, 100), TR_ETIMEDOUT);
    s_wait_arg blocked = {.ev = ev, .timeout_ms = 200, .expect = TR_ETIMEDOUT};
    tr_actor *a = s_spawn_waiter("blocked", &blocked);
    s_expect("ready blocked");
    s_expect("woke blocked 3"); /* TR_ETIMEDOUT */
    trt_join_ok(&a, LONG_MS);

    /* A waiter blocked after the clear wakes on the next set. */
    uint64_t base = s_others();
    s_wait_arg waits = {.ev = ev, .timeout_ms = LONG_MS, .expect = TR_OK};
    a = s_spawn_waiter("waits", &waits);
    s_expect("ready waits");
    s_await_requests(base, 1);
    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK);
    s_expect("woke waits 0");
    trt_join_ok(&a, LONG_MS);
    tr_event_destroy(&ev);
    s_hub_stop(&hub);
    s_pipe_close();
    trt_assert_no_children();
}

static void test_many_waiters_all_wake(void **state)
{
    (void)state;
    s_pipe_open();
    tr_actor *hub = s_hub_start();
    g_stats_calls = 0;
    tr_event *ev = NULL;
    assert_int_equal(tr_event_open(&ev, "start", NULL), TR_OK);
    uint64_t base = s_others();
    enum { N = 8 };
    tr_actor *a[N];
    /* Half open their own handle, half use the one they inherited. */
    s_wait_arg own = {.event = "start", .timeout_ms = LONG_MS, .expect = TR_OK};
    s_wait_arg inherited = {.ev = ev, .timeout_ms = LONG_MS, .expect = TR_OK};
    s_wait_arg *args[] = {&inherited, &own};
    s_spawn_waiters(a, N, "waiter", args, 2);
    /* Every waiter has had its answer (clear): all wait now. */
    s_await_requests(base, N);
    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK);
    s_all_woke(a, N, "waiter");
    tr_event_destroy(&ev);
    s_hub_stop(&hub);
    s_pipe_close();
    trt_assert_no_children();
}

/* Waiters in the hub's system sleep on their event's wake word: none of
 * them subscribes (the hub sent no state again), and a set-then-clear
 * pulse wakes every one. */
static void test_waiters_sleep_on_the_wake_word(void **state)
{
    (void)state;
    s_pipe_open();
    tr_actor *hub = s_hub_start();
    g_stats_calls = 0;
    tr_event *ev = NULL;
    assert_int_equal(tr_event_open(&ev, "pulse", NULL), TR_OK);
    uint64_t base = s_others();
    uint64_t replays = s_stats().replays;
    enum { N = 3 };
    tr_actor *a[N];
    s_wait_arg w = {.event = "pulse", .timeout_ms = LONG_MS, .expect = TR_OK};
    s_wait_arg *args[] = {&w};
    s_spawn_waiters(a, N, "sleeper", args, 1);
    s_await_requests(base, N);
    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK);
    assert_int_equal(tr_event_clear(ev, LONG_MS), TR_OK);
    s_all_woke(a, N, "sleeper");
    assert_int_equal(s_stats().replays, replays);
    tr_event_destroy(&ev);
    s_hub_stop(&hub);
    s_pipe_close();
    trt_assert_no_children();
}

/* Stops the hub, and with remove, deletes its state file first, as if it
 * had been lost; then starts it again. */
static void s_hub_restart(tr_actor **hub, bool remove)
{
    s_hub_stop(hub);
    if (remove) {
        char path[4200];
        snprintf(path, sizeof path, "%s/.hub/events", tr_sys_run_dir());
        assert_int_equal(unlink(path), 0);
    }
    *hub = s_hub_start();
    g_stats_calls = 0;
}

/* A hub that lost its state file hands out slots from the start again:
 * the slot a waiter sleeps on for one event goes to another. Giving a slot
 * gives its word a new owner number, so the waiter wakes, sees that the
 * word is no longer its event's, and asks again, instead of taking the
 * other event's set for its own; it then wakes on its own event's set. */
static void test_a_slot_given_again_wakes_no_one_falsely(void **state)
{
    (void)state;
    s_pipe_open();
    tr_actor *hub = s_hub_start();
    s_hub_restart(&hub, true);
    uint64_t base = s_others();
    s_wait_arg w = {.event = "first", .timeout_ms = LONG_MS, .expect = TR_OK};
    tr_actor *waiter = s_spawn_waiter("old-word", &w);
    s_expect("ready old-word");
    s_await_requests(base, 1); /* asleep on slot 0's word */

    s_hub_restart(&hub, true);
    base = s_others();
    tr_event *other = NULL, *first = NULL;
    assert_int_equal(tr_event_open(&other, "other", NULL), TR_OK);
    assert_int_equal(tr_event_open(&first, "first", NULL), TR_OK);
    assert_int_equal(tr_event_set(other, LONG_MS), TR_OK); /* slot 0 now */
    s_await_requests(base, 2); /* that set, and the waiter asking again */
    char line[128];
    if (trt_read_line(g_rd, line, sizeof line, 0) >= 0)
        fail_msg("the waiter woke on another event's set: \"%s\"", line);
    assert_int_equal(tr_event_set(first, LONG_MS), TR_OK);
    s_expect("woke old-word 0");
    trt_join_ok(&waiter, LONG_MS);
    tr_event_destroy(&other);
    tr_event_destroy(&first);
    s_hub_stop(&hub);
    s_pipe_close();
    trt_assert_no_children();
}

/* A set then a clear at once, made while a waiter sleeps, after a restart
 * that lost the hub's state: the set gives the event a slot (perhaps the
 * one the waiter sleeps on, under a new owner number), and by the time the
 * waiter has asked again the event is clear; its version, newer than the
 * waiter's first answer, tells that a set came in between. */
static void test_a_pulse_across_a_lost_state_wakes(void **state)
{
    (void)state;
    s_pipe_open();
    tr_actor *hub = s_hub_start();
    s_hub_restart(&hub, true);
    uint64_t base = s_others();
    s_wait_arg w = {.event = "pulse-2", .timeout_ms = LONG_MS, .expect = TR_OK};
    tr_actor *waiter = s_spawn_waiter("pulsed", &w);
    s_expect("ready pulsed");
    s_await_requests(base, 1);
    s_hub_restart(&hub, true);
    tr_event *ev = NULL;
    assert_int_equal(tr_event_open(&ev, "pulse-2", NULL), TR_OK);
    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK);
    assert_int_equal(tr_event_clear(ev, LONG_MS), TR_OK);
    s_expect("woke pulsed 0");
    trt_join_ok(&waiter, LONG_MS);
    tr_event_destroy(&ev);
    s_hub_stop(&hub);
    s_pipe_close();
    trt_assert_no_children();
}

/* Subscribes to event "flip" in its own process, reports "ready", then
 * the changes it sees, newest versions only, until it has seen three. */
static int s_flip_watcher(void *arg)
{
    (void)arg;
    tr_sub *s = NULL;
    if (tr_sub_open(&s, NULL, NULL) != TR_OK || tr_sub_subscribe_event(s, "flip") != TR_OK)
        return 10;
    uint64_t last = 0;
    int changes = -1; /* the first state is the initial one */
    while (changes < 3) {
        tr_msg t, b;
        char name[65];
        bool set;
        uint64_t v;
        if (tr_sub_recv(s, &t, &b, LONG_MS) != TR_OK ||
            tr_event_decode(&t, &b, name, sizeof name, &set, &v) != TR_OK)
            return 11;
        tr_msg_close(&t);
        tr_msg_close(&b);
        if (changes >= 0 && v <= last)
            continue; /* a state sent again */
        if (changes < 0)
            trt_write_line(g_wr, "ready %s", set ? "set" : "clear");
        else
            trt_write_line(g_wr, "%s %s", set ? "set" : "clear", v > last ? "newer" : "older");
        last = v;
        changes++;
    }
    tr_sub_destroy(&s);
    return 0;
}

static void test_set_clear_set_in_order(void **state)
{
    (void)state;
    s_pipe_open();
    tr_actor *hub = s_hub_start();
    g_stats_calls = 0;
    tr_event *ev = NULL;
    assert_int_equal(tr_event_open(&ev, "flip", NULL), TR_OK);
    tr_spawn_opts o = {.keep_fds = g_keep, .nkeep_fds = 1};
    tr_actor *watcher = NULL;
    assert_int_equal(tr_actor_spawn(&watcher, "watcher", s_flip_watcher, NULL, &o), TR_OK);
    s_expect("ready clear"); /* never set: "clear, version 0" */
    /* A waiter blocked through the three changes wakes on the first set. */
    uint64_t base = s_others();
    s_wait_arg w = {.ev = ev, .timeout_ms = LONG_MS, .expect = TR_OK};
    tr_actor *waiter = s_spawn_waiter("flip-waiter", &w);
    s_expect("ready flip-waiter");
    s_await_requests(base, 1);

    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK);
    assert_int_equal(tr_event_clear(ev, LONG_MS), TR_OK);
    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK);
    /* The waiter's line and the watcher's interleave in any order. */
    const char *want[] = {"set newer", "clear newer", "set newer"};
    int next = 0;
    bool woke = false;
    for (int i = 0; i < 4; i++) {
        char line[128];
        s_line(line, sizeof line);
        if (strcmp(line, "woke flip-waiter 0") == 0 && !woke)
            woke = true;
        else if (next < 3 && strcmp(line, want[next]) == 0)
            next++;
        else
            fail_msg("unexpected \"%s\"", line);
    }
    trt_join_ok(&watcher, LONG_MS);
    trt_join_ok(&waiter, LONG_MS);
    tr_event_destroy(&ev);
    s_hub_stop(&hub);
    s_pipe_close();
    trt_assert_no_children();
}

static pid_t s_child_pid(const char *sup, const char *name, unsigned restarts)
{
    long long deadline = trt_now_ms() + LONG_MS;
    for (;;) {
        tr_sup_status *st = NULL;
        assert_int_equal(tr_supervisor_status(NULL, sup, &st, LONG_MS), TR_OK);
        pid_t pid = 0;
        for (size_t i = 0; i < st->nchildren; i++)
            if (strcmp(st->children[i].name, name) == 0 &&
                st->children[i].state == TR_CHILD_RUNNING &&
                st->children[i].restarts >= restarts)
                pid = st->children[i].pid;
        tr_sup_status_destroy(&st);
        if (pid != 0)
            return pid;
        if (trt_now_ms() > deadline)
            fail_msg("%s/%s never ran with %u restarts", sup, name, restarts);
    }
}

static void test_hub_restart_keeps_state(void **state)
{
    (void)state;
    s_pipe_open();
    tr_child_spec kids[1];
    tr_hub_child_spec(&kids[0], NULL);
    assert_string_equal(kids[0].name, "hub");
    tr_sup_spec spec = {.intensity = 5, .period_ms = 60000, .children = kids, .nchildren = 1};
    tr_supervisor *sup = NULL;
    assert_int_equal(tr_supervisor_start(&sup, "hubsup", &spec, 0), TR_OK);

    /* The hub may still be binding: calls wait for it. */
    tr_event *kept = NULL, *later = NULL;
    assert_int_equal(tr_event_open(&kept, "kept", NULL), TR_OK);
    assert_int_equal(tr_event_open(&later, "later", NULL), TR_OK);
    assert_int_equal(tr_event_set(kept, LONG_MS), TR_OK);
    uint64_t version = 0;
    assert_int_equal(tr_event_seen(kept, NULL, &version), TR_OK);
    assert_true(version > 0);
    g_stats_calls = 0;
    uint32_t events = s_stats().events; /* earlier tests' events too */
    uint64_t base = s_others();

    /* A subscriber and a publisher, to see them reconnect by themselves. */
    tr_sub *sub = NULL;
    tr_pub *pub = NULL;
    assert_int_equal(tr_sub_open(&sub, "news", NULL), TR_OK);
    s_synced(sub, "sync-1");
    assert_int_equal(tr_pub_open(&pub, NULL), TR_OK);
    assert_int_equal(tr_pub_send(pub, "news", "one", 3, LONG_MS), TR_OK);
    char topic[80], body[80];
    s_next(sub, topic, sizeof topic, body, sizeof body);
    assert_string_equal(body, "one");

    /* A waiter that waits across the restart. */
    s_wait_arg w = {.event = "later", .timeout_ms = LONG_MS, .expect = TR_OK};
    tr_actor *waiter = s_spawn_waiter("across", &w);
    s_expect("ready across");
    s_await_requests(base, 1);

    pid_t old = s_child_pid("hubsup", "hub", 0);
    assert_int_equal(kill(old, SIGKILL), 0);
    pid_t fresh = s_child_pid("hubsup", "hub", 1);
    assert_true(fresh != old);

    /* The state came back from the file, versions and all. */
    bool is = false;
    assert_int_equal(tr_event_is_set(kept, &is, LONG_MS), TR_OK);
    assert_true(is);
    uint64_t v2 = 0;
    assert_int_equal(tr_event_seen(kept, NULL, &v2), TR_OK);
    assert_int_equal(v2, version);
    g_stats_calls = 0; /* the counters restarted with the hub */
    /* Every event came back, and "later" too: the waiter's watch made its
     * record (clear, version 0), so that its slot and word stay its own. */
    assert_int_equal(s_stats().events, events + 1);

    /* The subscriber's subscriptions reached the new hub once it gets the
     * state of an event it had subscribed to after "news"; then what the
     * publisher sends reaches it again. */
    char name[65];
    bool set = true;
    uint64_t v = 1;
    s_next_event(sub, name, &set, &v);
    assert_string_equal(name, "sync-1");
    assert_int_equal(tr_pub_send(pub, "news", "two", 3, LONG_MS), TR_OK);
    s_next(sub, topic, sizeof topic, body, sizeof body);
    assert_string_equal(topic, "news");
    assert_string_equal(body, "two");

    /* The waiter never noticed; it wakes on a set made after. */
    assert_int_equal(tr_event_set(later, LONG_MS), TR_OK);
    s_expect("woke across 0");
    trt_join_ok(&waiter, LONG_MS);

    tr_pub_destroy(&pub);
    tr_sub_destroy(&sub);
    tr_event_destroy(&kept);
    tr_event_destroy(&later);
    assert_int_equal(tr_supervisor_stop(sup, LONG_MS), TR_OK);
    tr_supervisor_destroy(&sup);
    s_pipe_close();
    trt_assert_no_children();
}

static void test_topics_filter(void **state)
{
    (void)state;
    tr_actor *hub = s_hub_start();
    tr_sub *a = NULL, *all = NULL, *go = NULL;
    assert_int_equal(tr_sub_open(&go, NULL, NULL), TR_OK);
    assert_int_equal(tr_sub_subscribe_event(go, "go"), TR_OK);
    assert_int_equal(tr_sub_subscribe_event(go, "no/such"), TR_EINVAL);
    assert_int_equal(tr_sub_subscribe(NULL, "x"), TR_EINVAL);
    /* go's subscription brings go's state: never set. */
    char name[65], topic[80], body[80];
    bool set = true;
    uint64_t v = 1;
    s_next_event(go, name, &set, &v);
    assert_string_equal(name, "go");
    assert_false(set);
    assert_int_equal(v, 0);
    /* One at a time, so that no subscription brings states to another
     * subscriber after the test has looked: "all" gets the state of every
     * event the earlier tests left (the state file outlives their hubs). */
    assert_int_equal(tr_sub_open(&a, "a/", NULL), TR_OK);
    s_synced(a, "sync-a");
    assert_int_equal(tr_sub_open(&all, "", NULL), TR_OK);
    s_synced(all, "sync-all");

    tr_pub *p = NULL;
    assert_int_equal(tr_pub_open(&p, NULL), TR_OK);
    assert_int_equal(tr_pub_send(p, "$event/go", "x", 1, LONG_MS), TR_EINVAL);
    assert_int_equal(tr_pub_send(p, "$sys/x", "x", 1, LONG_MS), TR_EINVAL);
    assert_int_equal(tr_pub_send(p, "a/1", "1", 1, LONG_MS), TR_OK);
    assert_int_equal(tr_pub_send(p, "b/1", "2", 1, LONG_MS), TR_OK);
    assert_int_equal(tr_pub_send(p, "a", "3", 1, LONG_MS), TR_OK);
    assert_int_equal(tr_pub_send(p, "a/2", "4", 1, LONG_MS), TR_OK);
    /* Events "gone" and "go": the NUL ends go's topic, so "gone" is not
     * sent to go's subscriber. */
    tr_event *gone = NULL, *goev = NULL;
    assert_int_equal(tr_event_open(&gone, "gone", NULL), TR_OK);
    assert_int_equal(tr_event_open(&goev, "go", NULL), TR_OK);
    assert_int_equal(tr_event_set(gone, LONG_MS), TR_OK);
    assert_int_equal(tr_event_set(goev, LONG_MS), TR_OK);
    assert_int_equal(tr_pub_send(p, "a/end", "5", 1, LONG_MS), TR_OK);

    s_next(a, topic, sizeof topic, body, sizeof body);
    assert_string_equal(topic, "a/1");
    s_next(a, topic, sizeof topic, body, sizeof body);
    assert_string_equal(topic, "a/2");
    s_next(a, topic, sizeof topic, body, sizeof body);
    assert_string_equal(topic, "a/end");

    /* "all" gets everything: the publisher's messages in order, and the
     * events' in order (they come by another way, the control socket, so
     * the two interleave in any order); an event's state may come again. */
    const char *msgs[] = {"a/1", "b/1", "a", "a/2", "a/end"};
    const char *events[] = {"$event/gone", "$event/go"};
    int nm = 0, ne = 0;
    while (nm < 5 || ne < 2) {
        s_next(all, topic, sizeof topic, body, sizeof body); /* "%.*s" stops at a NUL */
        if (topic[0] != '$') {
            assert_true(nm < 5);
            assert_string_equal(topic, msgs[nm++]);
        } else if (ne == 0 || strcmp(topic, events[ne - 1]) != 0) { /* not again */
            assert_true(ne < 2);
            assert_string_equal(topic, events[ne++]);
        }
    }
    /* go gets go's states only: perhaps "clear, version 0" again, then the
     * set; never gone's. */
    do {
        s_next_event(go, name, &set, &v);
        assert_string_equal(name, "go");
    } while (!set);
    tr_msg t, b;
    while (tr_sub_recv(go, &t, &b, 50) == TR_OK) { /* the set again, perhaps */
        assert_int_equal(tr_event_decode(&t, &b, name, sizeof name, &set, NULL), TR_OK);
        assert_string_equal(name, "go");
        assert_true(set);
        tr_msg_close(&t);
        tr_msg_close(&b);
    }
    assert_int_equal(tr_event_decode(&t, &b, name, sizeof name, NULL, NULL), TR_EINVAL);
    assert_true(tr_sub_fd(go) >= 0);

    tr_event_destroy(&gone);
    tr_event_destroy(&goev);
    tr_pub_destroy(&p);
    tr_sub_destroy(&a);
    tr_sub_destroy(&all);
    tr_sub_destroy(&go);
    s_hub_stop(&hub);
    trt_assert_no_children();
}

/* Exits with 1 at once: a child its supervisor gives up on. */
static int s_crash(void *arg)
{
    (void)arg;
    return 1;
}

static int s_idle(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return 0; /* not reached */
}

static void s_expect_report(tr_sub *s, const char *topic, const char *start)
{
    char t[80], body[128];
    s_next(s, t, sizeof t, body, sizeof body);
    assert_string_equal(t, topic);
    if (strncmp(body, start, strlen(start)) != 0)
        fail_msg("%s: expected \"%s...\", got \"%s\"", topic, start, body);
}

static void test_supervisor_reports(void **state)
{
    (void)state;
    tr_child_spec kids[2];
    tr_hub_child_spec(&kids[0], NULL);
    kids[1] = (tr_child_spec){.name = "idle", .fn = s_idle, .flags = TR_SPAWN_DAEMON,
                              .shutdown_ms = TR_SHUTDOWN_BRUTAL};
    tr_sup_spec spec = {.intensity = 5, .period_ms = 60000, .children = kids, .nchildren = 2};
    tr_supervisor *sup = NULL;
    assert_int_equal(tr_supervisor_start(&sup, "top", &spec, 0), TR_OK);
    tr_sub *s = NULL;
    assert_int_equal(tr_sub_open(&s, "$sys/", NULL), TR_OK);
    /* The reports of the first two starts were queued before the hub was
     * bound, and may reach it before or after this subscription: once the
     * hub has published them, the marker's state comes after them. */
    long long deadline = trt_now_ms() + LONG_MS;
    g_stats_calls = 0;
    while (s_stats().published < 2)
        assert_true(trt_now_ms() < deadline);
    s_synced(s, "sync-sys");

    pid_t idle = s_child_pid("top", "idle", 0);
    kill(idle, SIGKILL);
    char want[64];
    snprintf(want, sizeof want, "exited pid=%d code=-9 ", (int)idle);
    s_expect_report(s, "$sys/top/idle", want);
    s_expect_report(s, "$sys/top/idle", "restarted pid=");

    /* A supervisor that gives up reports it. */
    tr_child_spec crash[] = {{.name = "crasher", .fn = s_crash}};
    tr_sup_spec fragile = {.intensity = 1, .period_ms = 60000, .children = crash,
                           .nchildren = 1};
    tr_supervisor *f = NULL;
    assert_int_equal(tr_supervisor_start(&f, "fragile", &fragile, 0), TR_OK);
    const char *seq[] = {"started pid=", "exited pid=", "restarted pid=", "exited pid=",
                         "gave_up restarts="};
    for (int i = 0; i < 5; i++)
        s_expect_report(s, "$sys/fragile/crasher", seq[i]);
    assert_int_equal(tr_actor_join(tr_supervisor_actor(f), LONG_MS), TR_OK);
    tr_supervisor_destroy(&f);

    tr_sub_destroy(&s);
    assert_int_equal(tr_supervisor_stop(sup, LONG_MS), TR_OK);
    tr_supervisor_destroy(&sup);
    trt_assert_no_children();
}

/* A connection to the hub's local socket (.hub/req). */
static int s_local_connect(void)
{
    char path[256];
    assert_int_equal(tr__hub_path(NULL, "req", path, sizeof path), TR_OK);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Sends frames on a raw DEALER to the hub's ctl and returns the rc of the
 * reply. */
static int s_raw_request(void *sock, const void *frames[], const size_t sizes[], int n)
{
    for (int i = 0; i < n; i++)
        assert_true(zmq_send(sock, frames[i], sizes[i], i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, sock, 0) >= 0);
    Troupe__HubReply *r = troupe__hub_reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    assert_non_null(r);
    int rc = r->rc;
    troupe__hub_reply__free_unpacked(r, NULL);
    return rc;
}

static void test_malformed_input_is_refused(void **state)
{
    (void)state;
    tr_actor *hub = s_hub_start();
    g_stats_calls = 0;
    char path[256], address[300];
    assert_int_equal(tr__hub_path(NULL, "ctl", path, sizeof path), TR_OK);
    snprintf(address, sizeof address, "ipc://%s", path);
    void *ctx = zmq_ctx_new();
    void *raw = zmq_socket(ctx, ZMQ_DEALER);
    int timeout = LONG_MS, zero = 0;
    zmq_setsockopt(raw, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(raw, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(raw, address), 0);

    const void *garbage[] = {"\xff\xff\xff"};
    size_t gsize[] = {3};
    assert_int_equal(s_raw_request(raw, garbage, gsize, 1), TR_EPROTO);
    const void *three[] = {"a", "b", "c"};
    size_t tsize[] = {1, 1, 1};
    assert_int_equal(s_raw_request(raw, three, tsize, 3), TR_EPROTO);
    Troupe__HubRequest req;
    troupe__hub_request__init(&req);
    req.id = 7;
    req.op_case = TROUPE__HUB_REQUEST__OP_SET;
    req.set = (char *)"bad/name";
    uint8_t buf[64];
    size_t n = troupe__hub_request__pack(&req, buf);
    const void *bad[] = {buf};
    assert_int_equal(s_raw_request(raw, bad, &n, 1), TR_EINVAL);
    troupe__hub_request__init(&req);
    req.id = 8; /* no operation */
    n = troupe__hub_request__pack(&req, buf);
    assert_int_equal(s_raw_request(raw, bad, &n, 1), TR_EPROTO);
    zmq_close(raw);

    /* The same on the local clients' socket: garbage, and a packet larger
     * than a request may be. */
    int fd = s_local_connect();
    static uint8_t big[4096];
    const void *packets[] = {"\xff\xff\xff", big};
    size_t psize[] = {3, sizeof big};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(send(fd, packets[i], psize[i], 0), (ssize_t)psize[i]);
        uint8_t reply[256];
        ssize_t k = recv(fd, reply, sizeof reply, 0);
        assert_true(k >= 0);
        Troupe__HubReply *r = troupe__hub_reply__unpack(NULL, (size_t)k, reply);
        assert_non_null(r);
        assert_int_equal(r->rc, TR_EPROTO);
        troupe__hub_reply__free_unpacked(r, NULL);
    }
    close(fd);

    /* A plain PUB connected to the hub: a one-frame message, and one on the
     * hub's own topic, are refused. */
    assert_int_equal(tr__hub_path(NULL, "in", path, sizeof path), TR_OK);
    snprintf(address, sizeof address, "ipc://%s", path);
    void *pub = zmq_socket(ctx, ZMQ_XPUB); /* XPUB: to see the hub subscribe */
    zmq_setsockopt(pub, ZMQ_LINGER, &timeout, sizeof timeout);
    zmq_setsockopt(pub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    assert_int_equal(zmq_connect(pub, address), 0);
    char sub[8];
    assert_int_equal(zmq_recv(pub, sub, sizeof sub, 0), 1);
    assert_int_equal(zmq_send(pub, "lonely", 6, 0), 6);
    assert_int_equal(zmq_send(pub, "$event/go", 10, ZMQ_SNDMORE), 10);
    assert_int_equal(zmq_send(pub, "\x08\x01", 2, 0), 2);
    zmq_close(pub);
    zmq_ctx_term(ctx);

    /* The next good request is served, and everything was counted. */
    tr_event *ev = NULL;
    assert_int_equal(tr_event_open(&ev, "fine", NULL), TR_OK);
    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK);
    long long deadline = trt_now_ms() + LONG_MS;
    while (s_stats().refused < 8)
        assert_true(trt_now_ms() < deadline);
    bool is = false;
    assert_int_equal(tr_event_is_set(ev, &is, LONG_MS), TR_OK);
    assert_true(is);
    tr_event_destroy(&ev);
    s_hub_stop(&hub);
    trt_assert_no_children();
}

/* Sends a get of name with watch set on the local socket fd and returns
 * whether the answer gave a wake word. */
static bool s_watch_local(int fd, char *name)
{
    Troupe__HubRequest req;
    troupe__hub_request__init(&req);
    req.id = 1;
    req.op_case = TROUPE__HUB_REQUEST__OP_GET;
    req.get = name;
    req.watch = true;
    uint8_t buf[128], reply[256];
    size_t n = troupe__hub_request__pack(&req, buf);
    assert_int_equal(send(fd, buf, n, 0), (ssize_t)n);
    ssize_t k = recv(fd, reply, sizeof reply, 0);
    assert_true(k > 0);
    Troupe__HubReply *r = troupe__hub_reply__unpack(NULL, (size_t)k, reply);
    assert_non_null(r);
    assert_int_equal(r->rc, TR_OK);
    bool watched = r->watched;
    troupe__hub_reply__free_unpacked(r, NULL);
    return watched;
}

/* Fills the hub's table with records made by watches, of events "w0" to
 * "w4095", on a local connection that it returns. */
static int s_fill_with_watches(void)
{
    int fd = s_local_connect();
    for (int i = 0; i < TR__HUB_MAX_EVENTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "w%d", i);
        assert_true(s_watch_local(fd, name));
    }
    return fd;
}

/* Waits on events never set fill the hub's table with their records, yet
 * a set of a new event still finds room: it takes the place of one of
 * them, whose waiter asks again and waits on its subscription. A watch
 * from the ROUTER (another host) makes no record. */
static void test_watches_never_crowd_out_a_set(void **state)
{
    (void)state;
    s_pipe_open();
    tr_actor *hub = s_hub_start();
    s_hub_restart(&hub, true);
    int fd = s_fill_with_watches();
    assert_int_equal(s_stats().events, TR__HUB_MAX_EVENTS);
    char one_more[] = "one-more";
    assert_false(s_watch_local(fd, one_more)); /* no room, and no eviction */

    /* A waiter asleep on w0's word, the first record a set would take. */
    uint64_t base = s_others();
    s_wait_arg w = {.event = "w0", .timeout_ms = LONG_MS, .expect = TR_OK};
    tr_actor *waiter = s_spawn_waiter("evicted", &w);
    s_expect("ready evicted");
    s_await_requests(base, 1);
    base = s_others();
    tr_event *go = NULL, *w0 = NULL;
    assert_int_equal(tr_event_open(&go, "go", NULL), TR_OK);
    assert_int_equal(tr_event_set(go, LONG_MS), TR_OK);
    /* The set, and the waiter asking twice: its word changed owner, and
     * with no word to be had it subscribed, then asked again. */
    s_await_requests(base, 3);
    char line[128];
    if (trt_read_line(g_rd, line, sizeof line, 0) >= 0)
        fail_msg("the waiter woke on another event's set: \"%s\"", line);
    assert_int_equal(tr_event_open(&w0, "w0", NULL), TR_OK);
    assert_int_equal(tr_event_set(w0, LONG_MS), TR_OK);
    s_expect("woke evicted 0");
    trt_join_ok(&waiter, LONG_MS);
    assert_int_equal(s_stats().events, TR__HUB_MAX_EVENTS);
    close(fd);
    tr_event_destroy(&go);
    tr_event_destroy(&w0);

    /* A watch from the ROUTER is a plain get. */
    char path[256];
    assert_int_equal(tr__hub_path(NULL, "ctl", path, sizeof path), TR_OK);
    char address[300];
    snprintf(address, sizeof address, "ipc://%s", path);
    void *ctx = zmq_ctx_new();
    void *raw = zmq_socket(ctx, ZMQ_DEALER);
    int timeout = LONG_MS, zero = 0;
    zmq_setsockopt(raw, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(raw, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(raw, address), 0);
    Troupe__HubRequest req;
    troupe__hub_request__init(&req);
    req.id = 9;
    req.op_case = TROUPE__HUB_REQUEST__OP_GET;
    req.get = (char *)"go";
    req.watch = true;
    uint8_t buf[64];
    size_t n = troupe__hub_request__pack(&req, buf);
    assert_int_equal(zmq_send(raw, buf, n, 0), (int)n);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, raw, 0) >= 0);
    Troupe__HubReply *r = troupe__hub_reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    assert_non_null(r);
    assert_true(r->is_set);
    assert_false(r->watched);
    troupe__hub_reply__free_unpacked(r, NULL);
    zmq_close(raw);
    zmq_ctx_term(ctx);

    /* Later tests start from an empty table. */
    s_hub_restart(&hub, true);
    s_hub_stop(&hub);
    s_pipe_close();
    trt_assert_no_children();
}

/* Writes a state-file record for name at slot, as the hub does (the
 * layout is in docs/events.md, "Protocol"). */
static void s_write_record(int slot, const char *name, bool is_set, uint64_t version)
{
    unsigned char r[128];
    memset(r, 0, sizeof r);
    memcpy(r, "TREV", 4);
    r[4] = is_set;
    for (int i = 0; i < 8; i++)
        r[8 + i] = (unsigned char)(version >> (8 * i));
    memcpy(r + 16, name, strlen(name));
    uint32_t h = 2166136261u; /* FNV-1a of bytes 0..123 */
    for (int i = 0; i < 124; i++)
        h = (h ^ r[i]) * 16777619u;
    for (int i = 0; i < 4; i++)
        r[124 + i] = (unsigned char)(h >> (8 * i));
    char path[4200];
    snprintf(path, sizeof path, "%s/.hub/events", tr_sys_run_dir());
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, r, sizeof r, (off_t)slot * 128), 128);
    close(fd);
}

/* A hub killed after writing a change that gave a slot to a new event,
 * before it gave the slot's word a new owner number: the next hub starts
 * every word under a new owner number, so the waiter of the event that
 * lost the slot asks again rather than take the new event's set for its
 * own. (The kill is simulated: SIGKILL, then the record the set would have
 * written, written here.) */
static void test_a_hub_killed_mid_change_wakes_no_one_falsely(void **state)
{
    (void)state;
    s_pipe_open();
    tr_actor *hub = s_hub_start();
    s_hub_restart(&hub, true);
    int fd = s_fill_with_watches();
    close(fd);
    uint64_t base = s_others();
    s_wait_arg w = {.event = "w0", .timeout_ms = LONG_MS, .expect = TR_OK};
    tr_actor *waiter = s_spawn_waiter("displaced", &w);
    s_expect("ready displaced");
    s_await_requests(base, 1); /* asleep on slot 0's word */

    assert_int_equal(tr_actor_kill(hub), TR_OK);
    assert_int_equal(tr_actor_join(hub, LONG_MS), TR_OK);
    tr_actor_destroy(&hub);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s_write_record(0, "go", true, (uint64_t)ts.tv_sec * 1000000u + 10000000u);
    hub = s_hub_start();
    g_stats_calls = 0;
    /* The waiter asks again (no room for w0 now: no word), subscribes and
     * asks once more; it must not have woken. */
    s_await_requests(0, 2);
    char line[128];
    if (trt_read_line(g_rd, line, sizeof line, 0) >= 0)
        fail_msg("the waiter woke on another event's change: \"%s\"", line);
    tr_event *w0 = NULL;
    assert_int_equal(tr_event_open(&w0, "w0", NULL), TR_OK);
    assert_int_equal(tr_event_set(w0, LONG_MS), TR_OK);
    s_expect("woke displaced 0");
    trt_join_ok(&waiter, LONG_MS);
    tr_event_destroy(&w0);
    s_hub_restart(&hub, true); /* later tests start from an empty table */
    s_hub_stop(&hub);
    s_pipe_close();
    trt_assert_no_children();
}

static void test_tcp_endpoints(void **state)
{
    (void)state;
    char in[64], out[64], ctl[64];
    snprintf(in, sizeof in, "tcp://127.0.0.1:%d", trt_free_port());
    snprintf(out, sizeof out, "tcp://127.0.0.1:%d", trt_free_port());
    snprintf(ctl, sizeof ctl, "tcp://127.0.0.1:%d", trt_free_port());
    tr_hub_opts o = {.name = "tcp-hub", .tcp_in = in, .tcp_out = out, .tcp_ctl = ctl};
    tr_actor *hub = NULL;
    assert_int_equal(tr_hub_start(&hub, &o), TR_OK);
    /* A second hub in the same system is refused, whatever its name. */
    tr_actor *second = NULL;
    assert_int_equal(tr_hub_start(&second, NULL), TR_ESPAWN);
    tr_hub_opts bad = {.name = "no/slash"};
    assert_int_equal(tr_hub_start(&second, &bad), TR_EINVAL);

    tr_hub_addr addr = {.in = in, .out = out, .ctl = ctl};
    tr_event *ev = NULL;
    tr_sub *s = NULL;
    tr_pub *p = NULL;
    assert_int_equal(tr_event_open(&ev, "remote", &addr), TR_OK);
    assert_int_equal(tr_sub_open(&s, "t", &addr), TR_OK);
    assert_int_equal(tr_pub_open(&p, &addr), TR_OK);
    s_synced(s, "sync-tcp");
    assert_int_equal(tr_pub_send(p, "t", "over tcp", 8, LONG_MS), TR_OK);
    char topic[80], body[80];
    s_next(s, topic, sizeof topic, body, sizeof body);
    assert_string_equal(body, "over tcp");
    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK);
    assert_int_equal(tr_event_wait(ev, LONG_MS), TR_OK);
    tr_hub_stats st;
    assert_int_equal(tr_hub_stats_get(&addr, &st, LONG_MS), TR_OK);
    assert_true(st.forwarded >= 1);
    tr_event_destroy(&ev);
    tr_sub_destroy(&s);
    tr_pub_destroy(&p);
    s_hub_stop(&hub);
    trt_assert_no_children();
}

/* Runs `troupe events` with the arguments in arg (a NULL-terminated
 * array), its output on the report pipe. */
static int s_cli(void *arg)
{
    char **argv = arg;
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    if (dup2(g_wr, STDOUT_FILENO) < 0)
        return 10;
    return troupe_events_main(argc, argv);
}

static void test_troupe_events_cli(void **state)
{
    (void)state;
    s_pipe_open();
    tr_actor *hub = s_hub_start();
    tr_event *ev = NULL;
    assert_int_equal(tr_event_open(&ev, "cli-ev", NULL), TR_OK);
    assert_int_equal(tr_event_set(ev, LONG_MS), TR_OK);
    char dir[128];
    snprintf(dir, sizeof dir, "%s", tr_sys_run_dir());
    tr_spawn_opts o = {.keep_fds = g_keep, .nkeep_fds = 1};

    /* The stream starts with the state of the events the prefix covers;
     * once that is printed the subscription is in place. */
    char *text[] = {"events", "--dir", dir, "--topic", "$event/cli", "--count", "2", NULL};
    tr_actor *cli = NULL;
    assert_int_equal(tr_actor_spawn(&cli, "cli", s_cli, text, &o), TR_OK);
    char line[256];
    s_line(line, sizeof line);
    assert_non_null(strstr(line, "Z $event/cli-ev set version="));
    assert_int_equal(tr_event_clear(ev, LONG_MS), TR_OK);
    s_line(line, sizeof line);
    if (strstr(line, "Z $event/cli-ev clear version=") == NULL)
        fail_msg("got %s", line);
    trt_join_ok(&cli, LONG_MS);

    /* Everything, in JSON. Once the state of a new event arrives, the
     * subscription is in place (it comes either way: published, or sent
     * again for the subscription). */
    char *json[] = {"events", "--dir", dir, "--json", NULL};
    assert_int_equal(tr_actor_spawn(&cli, "cli", s_cli, json, &o), TR_OK);
    tr_event *sync = NULL;
    assert_int_equal(tr_event_open(&sync, "cli-sync", NULL), TR_OK);
    assert_int_equal(tr_event_set(sync, LONG_MS), TR_OK);
    /* The set can reach the command before the states sent for its
     * subscription (the hub registers a subscription before it reads the
     * notice): wait for both. */
    bool cli_ev = false, cli_sync = false;
    while (!cli_ev || !cli_sync) {
        s_line(line, sizeof line);
        cli_ev = cli_ev || strstr(line, "\"topic\":\"$event/cli-ev\",\"event\":\"cli-ev\","
                                        "\"set\":false,\"version\":") != NULL;
        cli_sync = cli_sync || strstr(line, "\"event\":\"cli-sync\",\"set\":true") != NULL;
    }
    tr_pub *p = NULL;
    assert_int_equal(tr_pub_open(&p, NULL), TR_OK);
    assert_int_equal(tr_pub_send(p, "cli/text", "say \"hi\"", 8, LONG_MS), TR_OK);
    assert_int_equal(tr_pub_send(p, "cli/bin", "\x01\x02", 2, LONG_MS), TR_OK);
    do
        s_line(line, sizeof line);
    while (strstr(line, "\"topic\":\"$event/") != NULL); /* a state again */
    if (strstr(line, "\"topic\":\"cli/text\",\"body\":\"say \\\"hi\\\"\"}") == NULL)
        fail_msg("got %s", line);
    s_line(line, sizeof line);
    if (strstr(line, "\"topic\":\"cli/bin\",\"body\":\"0x0102\"}") == NULL)
        fail_msg("got %s", line);
    assert_int_equal(tr_actor_kill(cli), TR_OK);
    assert_int_equal(tr_actor_join(cli, LONG_MS), TR_OK);
    tr_actor_destroy(&cli);
    tr_pub_destroy(&p);
    tr_event_destroy(&sync);

    /* No hub there: said so, exit 1. Usage errors: exit 2. */
    char *none[] = {"events", "--dir", "/nonexistent", NULL};
    char *usage[] = {"events", "--count", "0", NULL};
    int code = 0;
    assert_int_equal(tr_actor_spawn(&cli, "cli", s_cli, none, &o), TR_OK);
    assert_int_equal(tr_actor_join(cli, LONG_MS), TR_OK);
    assert_int_equal(tr_actor_exitcode(cli, &code), TR_OK);
    assert_int_equal(code, 1);
    tr_actor_destroy(&cli);
    assert_int_equal(tr_actor_spawn(&cli, "cli", s_cli, usage, &o), TR_OK);
    assert_int_equal(tr_actor_join(cli, LONG_MS), TR_OK);
    assert_int_equal(tr_actor_exitcode(cli, &code), TR_OK);
    assert_int_equal(code, 2);
    tr_actor_destroy(&cli);

    tr_event_destroy(&ev);
    s_hub_stop(&hub);
    s_pipe_close();
    trt_assert_no_children();
}

#define TEST(f) cmocka_unit_test_teardown(f, trt_kill_children)

int main(void)
{
    trt_private_run_dir();
    if (getenv("TRT_FILTER") != NULL) /* e.g. TRT_FILTER='*restart*' */
        cmocka_set_test_filter(getenv("TRT_FILTER"));
    /* A test that fails half-way leaves its actors running: the teardown
     * kills them, so that the tests after it do not fail because of them. */
    const struct CMUnitTest tests[] = {
        TEST(test_no_hub),
        TEST(test_set_before_subscribe_is_seen),
        TEST(test_wait_timeout),
        TEST(test_clear_then_wait_blocks),
        TEST(test_many_waiters_all_wake),
        TEST(test_waiters_sleep_on_the_wake_word),
        TEST(test_set_clear_set_in_order),
        TEST(test_a_slot_given_again_wakes_no_one_falsely),
        TEST(test_a_pulse_across_a_lost_state_wakes),
        TEST(test_hub_restart_keeps_state),
        TEST(test_topics_filter),
        TEST(test_supervisor_reports),
        TEST(test_malformed_input_is_refused),
        TEST(test_watches_never_crowd_out_a_set),
        TEST(test_a_hub_killed_mid_change_wakes_no_one_falsely),
        TEST(test_tcp_endpoints),
        TEST(test_troupe_events_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
