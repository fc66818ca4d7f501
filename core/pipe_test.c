/* pipe_test.c: pipes between real processes. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/testutil.h"
#include "troupe/troupe.h"

#define LONG_MS 20000

static void s_join_code(tr_actor **a, int want)
{
    if (tr_actor_join(*a, LONG_MS) != TR_OK)
        fail_msg("%s did not exit", tr_actor_name(*a));
    int code = -1;
    assert_int_equal(tr_actor_exitcode(*a, &code), TR_OK);
    if (code != want)
        fail_msg("%s exited with %d, not %d", tr_actor_name(*a), code, want);
    tr_actor_destroy(a);
}

/* Echoes each message back in upper case until the other end closes. */
static int s_upper_echo(void *arg)
{
    tr_pipe *end = arg;
    for (;;) {
        tr_msg m;
        int rc = tr_pipe_recv(end, &m, LONG_MS);
        if (rc == TR_ECLOSED)
            return 0;
        if (rc != TR_OK)
            return 10 + rc;
        char buf[64];
        size_t n = tr_msg_size(&m) < sizeof buf ? tr_msg_size(&m) : sizeof buf;
        for (size_t i = 0; i < n; i++) {
            char c = ((char *)tr_msg_data(&m))[i];
            buf[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
        }
        tr_msg_close(&m);
        if ((rc = tr_pipe_send(end, buf, n, LONG_MS)) != TR_OK)
            return 30 + rc;
    }
}

static void s_expect(tr_pipe *end, const char *want)
{
    tr_msg m;
    assert_int_equal(tr_pipe_recv(end, &m, LONG_MS), TR_OK);
    assert_int_equal(tr_msg_size(&m), strlen(want));
    assert_memory_equal(tr_msg_data(&m), want, strlen(want));
    tr_msg_close(&m);
}

static void test_duplex_both_directions_and_close(void **state)
{
    (void)state;
    tr_pipe *a = NULL, *b = NULL;
    assert_int_equal(tr_pipe_new(&a, &b, true), TR_OK);
    tr_actor *child = NULL;
    assert_int_equal(tr_actor_spawn(&child, "echo", s_upper_echo, b, NULL), TR_OK);
    assert_int_equal(tr_pipe_send(a, "ping", 4, LONG_MS), TR_OK);
    s_expect(a, "PING");
    assert_int_equal(tr_pipe_send(a, "second", 6, LONG_MS), TR_OK);
    s_expect(a, "SECOND");
    /* Closing our end ends the child's loop with TR_ECLOSED. */
    assert_int_equal(tr_pipe_close(a, LONG_MS), TR_OK);
    assert_int_equal(tr_pipe_send(a, "late", 4, 0), TR_ECLOSED);
    s_join_code(&child, 0);
    tr_pipe_stats st;
    tr_pipe_stats_get(a, &st);
    assert_int_equal(st.sent, 2);
    assert_int_equal(st.received, 2);
    tr_pipe_destroy(&a);
    tr_pipe_destroy(&b);
    assert_null(a);
    trt_assert_no_children();
}

typedef struct {
    tr_pipe *w;
    int n;
} s_writer_args;

static int s_writer(void *arg)
{
    s_writer_args *wa = arg;
    for (int i = 0; i < wa->n; i++) {
        int rc = tr_pipe_send(wa->w, &i, sizeof i, LONG_MS);
        if (rc != TR_OK)
            return 10 + rc;
    }
    /* No explicit close: the orderly exit closes the end after the data. */
    return 0;
}

static void test_one_way_pipe_delivers_everything_then_closed(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        tr_pipe *r = NULL, *w = NULL;
        assert_int_equal(tr_pipe_new(&r, &w, false), TR_OK);
        assert_int_equal(tr_pipe_send(r, "x", 1, 0), TR_ESTATE);
        tr_msg m;
        assert_int_equal(tr_pipe_recv(w, &m, 0), TR_ESTATE);
        s_writer_args wa = {.w = w, .n = 1000};
        tr_actor *child = NULL;
        assert_int_equal(tr_actor_spawn(&child, "writer", s_writer, &wa, NULL), TR_OK);
        int expect = 0, rc;
        while ((rc = tr_pipe_recv(r, &m, LONG_MS)) == TR_OK) {
            int v;
            assert_int_equal(tr_msg_size(&m), sizeof v);
            memcpy(&v, tr_msg_data(&m), sizeof v);
            tr_msg_close(&m);
            assert_int_equal(v, expect);
            expect++;
        }
        assert_int_equal(rc, TR_ECLOSED);
        assert_int_equal(expect, 1000);
        assert_int_equal(tr_pipe_recv(r, &m, 0), TR_ECLOSED); /* it stays so */
        s_join_code(&child, 0);
        tr_pipe_destroy(&r);
        tr_pipe_destroy(&w);
    }
    trt_assert_no_children();
}

static int s_block_forever(void *arg)
{
    tr_pipe *end = arg;
    /* Announce, then wait for a message that never comes. */
    if (tr_pipe_send(end, "up", 2, LONG_MS) != TR_OK)
        return 1;
    tr_msg m;
    tr_pipe_recv(end, &m, TR_FOREVER);
    return 2;
}

static void test_death_of_the_other_end_is_seen(void **state)
{
    (void)state;
    tr_pipe *a = NULL, *b = NULL;
    assert_int_equal(tr_pipe_new(&a, &b, true), TR_OK);
    tr_actor *child = NULL;
    assert_int_equal(tr_actor_spawn(&child, "doomed", s_block_forever, b, NULL), TR_OK);
    s_expect(a, "up");
    assert_int_equal(tr_actor_kill(child), TR_OK);
    tr_msg m;
    assert_int_equal(tr_pipe_recv(a, &m, LONG_MS), TR_ECLOSED);
    assert_int_equal(tr_pipe_send(a, "x", 1, 0), TR_ECLOSED);
    s_join_code(&child, -SIGKILL);
    tr_pipe_destroy(&a);
    tr_pipe_destroy(&b);
    trt_assert_no_children();
}

static int s_use_end(void *arg)
{
    return tr_pipe_send(arg, "x", 1, 0);
}

static void test_result_codes(void **state)
{
    (void)state;
    tr_pipe *a = NULL, *b = NULL;
    assert_int_equal(tr_pipe_new(NULL, &b, true), TR_EINVAL);
    assert_int_equal(tr_pipe_open(&a, "bogus://x", TR_PIPE_BIND), TR_EINVAL);
    assert_int_equal(tr_pipe_open(&a, "tcp://127.0.0.1:1", 7), TR_EINVAL);
    assert_int_equal(tr_pipe_new(&a, &b, true), TR_OK);
    tr_msg m;
    /* Nothing arrives; nobody takes what the binding end sends. */
    assert_int_equal(tr_pipe_recv(a, &m, 0), TR_EEMPTY);
    assert_int_equal(tr_pipe_recv(a, &m, 30), TR_EEMPTY);
    assert_int_equal(tr_pipe_send(a, "x", 1, 30), TR_EFULL);
    /* Too big is refused before anything is sent. */
    static char big[2048];
    assert_int_equal(tr_sys_set_max_msg_size(1024), TR_OK);
    assert_int_equal(tr_pipe_send(a, big, sizeof big, 0), TR_ETOOBIG);
    assert_int_equal(tr_sys_set_max_msg_size(16 << 20), TR_OK);
    /* Exactly the limit passes: the receiver's limit allows for the header. */
    tr_pipe *x = NULL, *y = NULL;
    assert_int_equal(tr_sys_set_max_msg_size(1024), TR_OK);
    assert_int_equal(tr_pipe_new(&x, &y, true), TR_OK);
    assert_int_equal(tr_pipe_send(y, big, 1024, LONG_MS), TR_OK);
    assert_int_equal(tr_pipe_recv(x, &m, LONG_MS), TR_OK);
    assert_int_equal(tr_msg_size(&m), 1024);
    tr_msg_close(&m);
    assert_int_equal(tr_sys_set_max_msg_size(16 << 20), TR_OK);
    tr_pipe_destroy(&x);
    tr_pipe_destroy(&y);
    assert_int_equal(tr_pipe_send(a, NULL, 3, 0), TR_EINVAL);
    /* End a is ours (bound here): another process cannot use it too. */
    tr_actor *thief = NULL;
    assert_int_equal(tr_actor_spawn(&thief, "thief", s_use_end, a, NULL), TR_OK);
    s_join_code(&thief, TR_ESTATE);
    /* The connecting end's messages wait for us; multi-part arrives whole. */
    struct iovec v[3] = {{"one", 3}, {"", 0}, {"three", 5}};
    assert_int_equal(tr_pipe_sendv(b, v, 3, LONG_MS), TR_OK);
    const char *want[] = {"one", "", "three"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tr_pipe_recv(a, &m, LONG_MS), TR_OK);
        assert_int_equal(tr_msg_size(&m), strlen(want[i]));
        assert_memory_equal(tr_msg_data(&m), want[i], strlen(want[i]));
        assert_int_equal(tr_msg_more(&m), i < 2);
        tr_msg_close(&m);
    }
    /* We read b's close in this same thread: it cannot be confirmed. */
    assert_int_equal(tr_pipe_close(b, 30), TR_ETIMEDOUT);
    assert_int_equal(tr_pipe_close(b, 30), TR_OK); /* twice is fine */
    assert_int_equal(tr_pipe_recv(a, &m, LONG_MS), TR_ECLOSED);
    tr_pipe_destroy(&a);
    tr_pipe_destroy(&b);
    trt_assert_no_children();
}

/* The reader closes first: it does not wait, and the writer learns it. */
static int s_write_until_closed(void *arg)
{
    tr_pipe *w = arg;
    for (int i = 0; i < 100000; i++) {
        int rc = tr_pipe_send(w, &i, sizeof i, 100);
        if (rc == TR_ECLOSED)
            return 0;
        if (rc != TR_OK && rc != TR_EFULL)
            return 10 + rc;
    }
    return 1;
}

static void test_reader_closes_first(void **state)
{
    (void)state;
    tr_pipe *r = NULL, *w = NULL;
    assert_int_equal(tr_pipe_new(&r, &w, false), TR_OK);
    tr_actor *writer = NULL;
    assert_int_equal(tr_actor_spawn(&writer, "eager-writer", s_write_until_closed, w, NULL),
                     TR_OK);
    tr_msg m;
    assert_int_equal(tr_pipe_recv(r, &m, LONG_MS), TR_OK);
    tr_msg_close(&m);
    assert_int_equal(tr_pipe_close(r, LONG_MS), TR_OK);
    assert_int_equal(tr_pipe_recv(r, &m, 0), TR_ECLOSED);
    s_join_code(&writer, 0);
    tr_pipe_destroy(&r);
    tr_pipe_destroy(&w);
    trt_assert_no_children();
}

typedef struct {
    tr_pipe *r;
    int sync; /* write end: a line once the first message is in */
} s_reader_args;

static int s_read_one_then_hang(void *arg)
{
    s_reader_args *ra = arg;
    tr_msg m;
    if (tr_pipe_recv(ra->r, &m, LONG_MS) != TR_OK)
        return 1;
    tr_msg_close(&m);
    trt_write_line(ra->sync, "got");
    for (;;)
        pause();
}

static void test_writer_learns_reader_died(void **state)
{
    (void)state;
    tr_pipe *r = NULL, *w = NULL;
    assert_int_equal(tr_pipe_new(&r, &w, false), TR_OK);
    int sync[2];
    assert_int_equal(pipe(sync), 0);
    s_reader_args ra = {.r = r, .sync = sync[1]};
    tr_spawn_opts o = {.keep_fds = &sync[1], .nkeep_fds = 1};
    tr_actor *reader = NULL;
    assert_int_equal(tr_actor_spawn(&reader, "short-reader", s_read_one_then_hang, &ra, &o),
                     TR_OK);
    assert_int_equal(tr_pipe_send(w, "one", 3, LONG_MS), TR_OK);
    /* Connected for sure: the reader has the message. (A reader that dies
     * before it ever connected cannot be told from one not started yet.) */
    char line[16];
    assert_true(trt_read_line(sync[0], line, sizeof line, LONG_MS) > 0);
    assert_int_equal(tr_actor_kill(reader), TR_OK);
    assert_int_equal(tr_actor_join(reader, LONG_MS), TR_OK);
    /* Sends go on until the death is seen; never TR_EFULL for ever. */
    int rc = TR_OK;
    for (int i = 0; i < 100000 && rc != TR_ECLOSED; i++)
        rc = tr_pipe_send(w, &i, sizeof i, 100);
    assert_int_equal(rc, TR_ECLOSED);
    close(sync[0]);
    close(sync[1]);
    tr_actor_destroy(&reader);
    tr_pipe_destroy(&r);
    tr_pipe_destroy(&w);
    trt_assert_no_children();
}

static void test_closing_an_unused_end_sticks(void **state)
{
    (void)state;
    tr_pipe *a = NULL, *b = NULL;
    assert_int_equal(tr_pipe_new(&a, &b, true), TR_OK);
    assert_int_equal(tr_pipe_close(b, 0), TR_OK);
    assert_int_equal(tr_pipe_send(b, "x", 1, 0), TR_ECLOSED);
    tr_msg m;
    assert_int_equal(tr_pipe_recv(b, &m, 0), TR_ECLOSED);
    assert_int_equal(tr_pipe_recv(NULL, &m, 0), TR_EINVAL);
    assert_int_equal(tr_msg_size(&m), 0); /* initialised even then */
    tr_pipe_destroy(&a);
    tr_pipe_destroy(&b);
}

int main(void)
{
    trt_private_run_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplex_both_directions_and_close),
        cmocka_unit_test(test_one_way_pipe_delivers_everything_then_closed),
        cmocka_unit_test(test_death_of_the_other_end_is_seen),
        cmocka_unit_test(test_result_codes),
        cmocka_unit_test(test_reader_closes_first),
        cmocka_unit_test(test_writer_learns_reader_died),
        cmocka_unit_test(test_closing_an_unused_end_sticks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
