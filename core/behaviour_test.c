/* behaviour_test.c: the init / handle / terminate loop in a real child. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/testutil.h"
#include "troupe/troupe.h"

#define LONG_MS 10000

typedef struct {
    int report; /* the behaviour writes what happens to it here */
    int count;
} s_state;

static int s_init(void *arg, void **state)
{
    s_state *st = arg;
    st->count = 0;
    trt_write_line(st->report, "init");
    *state = st;
    return 0;
}

static int s_handle(void *state, tr_msg *msg)
{
    s_state *st = state;
    st->count++;
    const char *data = tr_msg_data(msg);
    size_t n = tr_msg_size(msg);
    if (n == 4 && memcmp(data, "stop", 4) == 0)
        return TR_STOP;
    if (n == 5 && memcmp(data, "ready", 5) == 0)
        trt_write_line(st->report, "ready");
    else if (n == 5 && memcmp(data, "flood", 5) == 0)
        ; /* counted, not reported */
    else
        trt_write_line(st->report, "msg %.*s more=%d", (int)n, data, tr_msg_more(msg));
    return TR_CONTINUE;
}

static int s_terminate(void *state, int reason)
{
    s_state *st = state;
    trt_write_line(st->report, "terminate %d after %d", reason, st->count);
    return 5;
}

static const tr_behaviour s_recorder = {
    .init = s_init,
    .handle = s_handle,
    .terminate = s_terminate,
};

static void s_expect(int fd, const char *want)
{
    char line[128];
    assert_true(trt_read_line(fd, line, sizeof line, LONG_MS) >= 0);
    assert_string_equal(line, want);
}

static void test_init_handle_terminate_in_order(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    s_state st = {.report = p[1]};
    tr_spawn_opts o = {.keep_fds = &p[1], .nkeep_fds = 1};
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn_behaviour(&a, "recorder", &s_recorder, &st, &o), TR_OK);
    /* init ran before the spawn returned. */
    s_expect(p[0], "init");
    assert_int_equal(tr_actor_send(a, "hello", 5, TR_FOREVER), TR_OK);
    assert_int_equal(tr_actor_send(a, "", 0, TR_FOREVER), TR_OK);
    assert_int_equal(tr_actor_send(a, "stop", 4, TR_FOREVER), TR_OK);
    s_expect(p[0], "msg hello more=0");
    s_expect(p[0], "msg  more=0");
    s_expect(p[0], "terminate 0 after 3");
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    int code;
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, 5);
    tr_actor_destroy(&a);
    close(p[0]);
    close(p[1]);
    trt_assert_no_children();
}

static void test_sigterm_runs_terminate_and_exits_minus_15(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    s_state st = {.report = p[1]};
    tr_spawn_opts o = {.keep_fds = &p[1], .nkeep_fds = 1};
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn_behaviour(&a, "terminated", &s_recorder, &st, &o), TR_OK);
    s_expect(p[0], "init");
    assert_int_equal(tr_actor_send(a, "ready", 5, TR_FOREVER), TR_OK);
    s_expect(p[0], "ready"); /* the loop is now idle in its poll */
    assert_int_equal(tr_actor_terminate(a), TR_OK);
    s_expect(p[0], "terminate 1 after 1");
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    int code;
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, -SIGTERM);
    tr_actor_destroy(&a);
    close(p[0]);
    close(p[1]);
    trt_assert_no_children();
}

static void test_sigterm_gets_through_a_flood(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    s_state st = {.report = p[1]};
    tr_spawn_opts o = {.keep_fds = &p[1], .nkeep_fds = 1};
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn_behaviour(&a, "flooded", &s_recorder, &st, &o), TR_OK);
    s_expect(p[0], "init");
    /* Keep the mailbox busy while the terminate arrives. */
    for (int i = 0; i < 20000; i++) {
        if (i == 10000)
            assert_int_equal(tr_actor_terminate(a), TR_OK);
        int rc = tr_actor_send(a, "flood", 5, 0);
        if (rc != TR_OK && rc != TR_EFULL)
            fail_msg("send: %s", tr_strerror(rc));
    }
    char line[128];
    assert_true(trt_read_line(p[0], line, sizeof line, LONG_MS) > 0);
    assert_memory_equal(line, "terminate 1 after", 17);
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    int code;
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, -SIGTERM);
    tr_actor_destroy(&a);
    close(p[0]);
    close(p[1]);
    trt_assert_no_children();
}

/* Without init and terminate: state is the argument, exit code 0. */
static int s_count_then_stop(void *state, tr_msg *msg)
{
    int *n = state;
    (void)msg;
    return ++*n == 3 ? TR_STOP : TR_CONTINUE;
}

static void test_minimal_behaviour(void **state)
{
    (void)state;
    int counter = 0;
    tr_behaviour b = {.handle = s_count_then_stop};
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn_behaviour(&a, "minimal", &b, &counter, NULL), TR_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tr_actor_send(a, "x", 1, TR_FOREVER), TR_OK);
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    int code;
    assert_int_equal(tr_actor_exitcode(a, &code), TR_OK);
    assert_int_equal(code, 0);
    assert_int_equal(counter, 0); /* the child's copy counted, not ours */
    tr_actor_destroy(&a);
    trt_assert_no_children();
}

/* A behaviour spawns a function actor and terminates it: SIGTERM, which the
 * behaviour itself blocks for its signalfd, must reach the child. */
static int s_block(void *arg)
{
    char c;
    return (int)read((int)(intptr_t)arg, &c, 1);
}

static int s_spawner(void *state, tr_msg *msg)
{
    int *fds = state; /* [0] the pipe the grandchild blocks on, [1] report */
    (void)msg;
    tr_spawn_opts o = {.keep_fds = &fds[0], .nkeep_fds = 1};
    tr_actor *g = NULL;
    int code = 999;
    if (tr_actor_spawn(&g, "grandchild", s_block, (void *)(intptr_t)fds[0], &o) == TR_OK &&
        tr_actor_terminate(g) == TR_OK && tr_actor_join(g, LONG_MS) == TR_OK)
        tr_actor_exitcode(g, &code);
    tr_actor_destroy(&g);
    trt_write_line(fds[1], "%d", code);
    return TR_STOP;
}

static void test_child_of_behaviour_can_be_terminated(void **state)
{
    (void)state;
    int hold[2], rep[2];
    assert_int_equal(pipe(hold), 0);
    assert_int_equal(pipe(rep), 0);
    int fds[2] = {hold[0], rep[1]};
    tr_spawn_opts o = {.keep_fds = fds, .nkeep_fds = 2};
    tr_behaviour b = {.handle = s_spawner};
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn_behaviour(&a, "spawner", &b, fds, &o), TR_OK);
    assert_int_equal(tr_actor_send(a, "go", 2, TR_FOREVER), TR_OK);
    s_expect(rep[0], "-15");
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    tr_actor_destroy(&a);
    close(hold[0]);
    close(hold[1]);
    close(rep[0]);
    close(rep[1]);
    trt_assert_no_children();
}

int main(void)
{
    trt_private_run_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_handle_terminate_in_order),
        cmocka_unit_test(test_sigterm_runs_terminate_and_exits_minus_15),
        cmocka_unit_test(test_sigterm_gets_through_a_flood),
        cmocka_unit_test(test_minimal_behaviour),
        cmocka_unit_test(test_child_of_behaviour_can_be_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
