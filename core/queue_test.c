/* queue_test.c: queues between real processes. Consumers record what they
 * got in shared memory (one counter per sequence number), so exactly-once is
 * checked message by message, not inferred from totals. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "core/testutil.h"
#include "troupe/troupe.h"

#define LONG_MS 20000
#define MAXSEQ 40000
#define MAXCONS 8

typedef struct {
    _Atomic unsigned seen[MAXSEQ];
    _Atomic unsigned per_consumer[MAXCONS];
    _Atomic unsigned bad;
} s_shared;

static s_shared *s_sh;

static void s_shared_reset(void)
{
    if (s_sh == NULL) {
        s_sh = mmap(NULL, sizeof *s_sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                    0);
        assert_true(s_sh != MAP_FAILED);
    }
    memset(s_sh, 0, sizeof *s_sh);
}

static void s_check_exactly_once(int n)
{
    for (int i = 0; i < n; i++)
        if (atomic_load(&s_sh->seen[i]) != 1)
            fail_msg("message %d was got %u times", i, atomic_load(&s_sh->seen[i]));
    for (int i = n; i < MAXSEQ; i++)
        assert_int_equal(atomic_load(&s_sh->seen[i]), 0);
    assert_int_equal(atomic_load(&s_sh->bad), 0);
}

static int s_put_seq(tr_queue *q, int seq, int timeout)
{
    unsigned char buf[64];
    memset(buf, 0xab, sizeof buf);
    memcpy(buf, &seq, sizeof seq);
    return tr_queue_put(q, buf, sizeof buf, timeout);
}

typedef struct {
    tr_queue *q;
    int id;
    long delay_us; /* simulated work per message */
    int got_fd;    /* if >= 0: write a line after the first message, then block */
} s_consumer_args;

static int s_consumer(void *arg)
{
    s_consumer_args *a = arg;
    for (;;) {
        tr_msg m;
        int rc = tr_queue_get(a->q, &m, LONG_MS);
        if (rc == TR_ECLOSED)
            return 0;
        if (rc != TR_OK)
            return 10 + rc;
        int seq;
        if (tr_msg_size(&m) != 64) {
            atomic_fetch_add(&s_sh->bad, 1);
        } else {
            memcpy(&seq, tr_msg_data(&m), sizeof seq);
            if (seq < 0 || seq >= MAXSEQ)
                atomic_fetch_add(&s_sh->bad, 1);
            else
                atomic_fetch_add(&s_sh->seen[seq], 1);
        }
        tr_msg_close(&m);
        atomic_fetch_add(&s_sh->per_consumer[a->id], 1);
        if (a->got_fd >= 0) {
            trt_write_line(a->got_fd, "got");
            for (;;)
                pause(); /* until killed */
        }
        if (a->delay_us > 0) {
            struct timespec ts = {0, a->delay_us * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

typedef struct {
    tr_queue *q;
    int first, count;
    bool close; /* close explicitly; otherwise the exit does it */
} s_producer_args;

static int s_producer(void *arg)
{
    s_producer_args *a = arg;
    for (int i = 0; i < a->count; i++) {
        int rc = s_put_seq(a->q, a->first + i, LONG_MS);
        if (rc != TR_OK)
            return 10 + rc;
    }
    if (a->close) {
        int rc = tr_queue_close(a->q, LONG_MS);
        if (rc != TR_OK)
            return 40 + rc;
    }
    return 0;
}

static void s_join_ok(tr_actor **a)
{
    trt_join_ok(a, LONG_MS);
}

/* Spawns n consumers of q named "<prefix><i>", with args in ca. */
static void s_spawn_consumers(tr_queue *q, const char *prefix, tr_actor **cons,
                              s_consumer_args *ca, int n)
{
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%d", prefix, i);
        ca[i] = (s_consumer_args){.q = q, .id = i, .got_fd = -1};
        assert_int_equal(tr_actor_spawn(&cons[i], name, s_consumer, &ca[i], NULL), TR_OK);
    }
}

/* ---- result codes ------------------------------------------------------------ */

static int s_try_put(void *arg)
{
    return s_put_seq(arg, 0, 0);
}

static void test_result_codes(void **state)
{
    (void)state;
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(NULL, "x", NULL), TR_EINVAL);
    assert_int_equal(tr_queue_new(&q, "bad/name", NULL), TR_EINVAL);
    assert_null(q);
    assert_int_equal(tr_queue_new(&q, "x", &(tr_queue_opts){.capacity = -1}), TR_EINVAL);
    assert_int_equal(tr_queue_new(&q, "x", &(tr_queue_opts){.capacity = 4, .window = 8}),
                     TR_EINVAL);
    assert_int_equal(tr_queue_new(&q, "tcp://nohost", NULL), TR_EINVAL);
    assert_int_equal(tr_queue_open(&q, "ipc:///nonexistent/dir", NULL), TR_ESYSTEM);

    tr_queue *dup = NULL;
    assert_int_equal(tr_queue_new(&q, "codes", &(tr_queue_opts){.capacity = 3}), TR_OK);
    assert_int_equal(tr_queue_new(&dup, "codes", NULL), TR_EEXIST);

    /* Nothing to get. */
    tr_msg m;
    assert_int_equal(tr_queue_get(q, &m, 0), TR_EEMPTY);
    assert_int_equal(tr_queue_get(q, &m, 30), TR_EEMPTY);
    tr_queue_close(q, 0); /* this process stops consuming */

    /* Capacity 3 and no consumer: three are buffered, the fourth is full. */
    size_t n = 99;
    assert_int_equal(tr_queue_size(q, &n), TR_ESTATE); /* not a producer yet */
    for (int i = 0; i < 3; i++)
        assert_int_equal(s_put_seq(q, i, 0), TR_OK);
    assert_int_equal(s_put_seq(q, 3, 0), TR_EFULL);
    assert_int_equal(s_put_seq(q, 3, 30), TR_EFULL);
    assert_int_equal(tr_queue_size(q, &n), TR_OK);
    assert_int_equal(n, 3);
    assert_true(tr_queue_full(q));
    assert_false(tr_queue_empty(q));

    /* Too big is refused at the sender, before anything is buffered. */
    static char big[2048];
    assert_int_equal(tr_sys_set_max_msg_size(1024), TR_OK);
    assert_int_equal(tr_queue_put(q, big, sizeof big, 0), TR_ETOOBIG);
    assert_int_equal(tr_sys_set_max_msg_size(16 << 20), TR_OK);
    assert_int_equal(tr_queue_put(q, NULL, 5, 0), TR_EINVAL);

    /* The single producer slot is ours: another process cannot produce. */
    tr_actor *other = NULL;
    assert_int_equal(tr_actor_spawn(&other, "second-producer", s_try_put, q, NULL), TR_OK);
    assert_int_equal(tr_actor_join(other, LONG_MS), TR_OK);
    int code;
    assert_int_equal(tr_actor_exitcode(other, &code), TR_OK);
    assert_int_equal(code, TR_ESTATE);
    tr_actor_destroy(&other);

    /* Nobody takes the three: close cannot be confirmed. */
    assert_int_equal(tr_queue_close(q, 30), TR_ETIMEDOUT);
    assert_int_equal(s_put_seq(q, 9, 0), TR_ECLOSED);
    tr_queue_stats st;
    tr_queue_stats_get(q, &st);
    assert_int_equal(st.put, 3);
    tr_queue_destroy(&q);
    assert_null(q);
    trt_assert_no_children();
}

static void test_late_consumer_sees_closed_stream(void **state)
{
    (void)state;
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "ended", NULL), TR_OK);
    /* A producer with nothing to say ends its stream; nobody listens. */
    assert_int_equal(tr_queue_close(q, LONG_MS), TR_OK);
    assert_int_equal(tr_queue_close(q, LONG_MS), TR_OK); /* twice is fine */
    /* A consumer that comes afterwards learns it from the slot's marker. */
    tr_queue *late = NULL;
    assert_int_equal(tr_queue_open(&late, tr_queue_address(q), NULL), TR_OK);
    tr_msg m;
    assert_int_equal(tr_queue_get(late, &m, LONG_MS), TR_ECLOSED);
    assert_int_equal(tr_queue_get(late, &m, 0), TR_ECLOSED);
    tr_queue_destroy(&late);
    tr_queue_destroy(&q);
}

/* ---- many processes -------------------------------------------------------------- */

static void test_competing_consumers_get_each_message_once(void **state)
{
    (void)state;
    s_shared_reset();
    enum { M = 20000, C = 4 };
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "compete", NULL), TR_OK);
    tr_actor *cons[C];
    s_consumer_args ca[C];
    s_spawn_consumers(q, "consumer-", cons, ca, C);
    for (int i = 0; i < M; i++)
        assert_int_equal(s_put_seq(q, i, LONG_MS), TR_OK);
    /* close returns once every consumer confirmed it got everything. */
    assert_int_equal(tr_queue_close(q, LONG_MS), TR_OK);
    for (int i = 0; i < C; i++)
        s_join_ok(&cons[i]);
    s_check_exactly_once(M);
    /* (How much each got depends on when it connected: a burst this short
     * may be over before the last one is up. Shares are tested below.) */
    unsigned total = 0;
    for (int i = 0; i < C; i++)
        total += atomic_load(&s_sh->per_consumer[i]);
    assert_int_equal(total, M);
    tr_queue_destroy(&q);
    trt_assert_no_children();
}

static void test_end_of_stream_three_producers_four_consumers(void **state)
{
    (void)state;
    s_shared_reset();
    enum { M = 30000, P = 3, C = 4 };
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "three-four", &(tr_queue_opts){.producers = P}), TR_OK);
    tr_actor *cons[C], *prods[P];
    s_consumer_args ca[C];
    s_producer_args pa[P];
    s_spawn_consumers(q, "c", cons, ca, C);
    for (int i = 0; i < P; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        pa[i] = (s_producer_args){.q = q, .first = i * (M / P), .count = M / P, .close = i != 1};
        assert_int_equal(tr_actor_spawn(&prods[i], name, s_producer, &pa[i], NULL), TR_OK);
    }
    for (int i = 0; i < P; i++)
        s_join_ok(&prods[i]);
    /* Each consumer ends by itself, on TR_ECLOSED, after all three closed. */
    for (int i = 0; i < C; i++)
        s_join_ok(&cons[i]);
    s_check_exactly_once(M);
    tr_queue_destroy(&q);
    trt_assert_no_children();
}

static void test_late_consumers_get_their_share(void **state)
{
    (void)state;
    s_shared_reset();
    enum { M = 2000, C = 4, EARLY = 100 };
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "fair", &(tr_queue_opts){.capacity = 16, .window = 4}),
                     TR_OK);
    tr_actor *cons[C];
    s_consumer_args ca[C];
    for (int i = 0; i < C; i++)
        ca[i] = (s_consumer_args){.q = q, .id = i, .delay_us = 300, .got_fd = -1};
    assert_int_equal(tr_actor_spawn(&cons[0], "early-0", s_consumer, &ca[0], NULL), TR_OK);
    assert_int_equal(tr_actor_spawn(&cons[1], "early-1", s_consumer, &ca[1], NULL), TR_OK);
    for (int i = 0; i < EARLY; i++)
        assert_int_equal(s_put_seq(q, i, LONG_MS), TR_OK);
    /* Two more join after the producer has been going for a while. */
    assert_int_equal(tr_actor_spawn(&cons[2], "late-2", s_consumer, &ca[2], NULL), TR_OK);
    assert_int_equal(tr_actor_spawn(&cons[3], "late-3", s_consumer, &ca[3], NULL), TR_OK);
    for (int i = EARLY; i < M; i++)
        assert_int_equal(s_put_seq(q, i, LONG_MS), TR_OK);
    assert_int_equal(tr_queue_close(q, LONG_MS), TR_OK);
    for (int i = 0; i < C; i++)
        s_join_ok(&cons[i]);
    s_check_exactly_once(M);
    for (int i = 0; i < C; i++) {
        unsigned got = atomic_load(&s_sh->per_consumer[i]);
        print_message("consumer %d got %u of %d\n", i, got, M);
        /* A quarter each, give or take: plain PUSH would have dealt the
         * early two nearly everything. */
        assert_true(got >= M * 15 / 100 && got <= M * 35 / 100);
    }
    tr_queue_destroy(&q);
    trt_assert_no_children();
}

static void test_producer_exiting_right_after_last_put_loses_nothing(void **state)
{
    (void)state;
    enum { M = 500, ROUNDS = 100 };
    for (int round = 0; round < ROUNDS; round++) {
        char name[32];
        snprintf(name, sizeof name, "tail-%d", round);
        tr_queue *q = NULL;
        assert_int_equal(tr_queue_new(&q, name, &(tr_queue_opts){.capacity = 8, .window = 4}),
                         TR_OK);
        /* Half the producers close explicitly, half just return: the exit
         * closes for them. Either way they exit as soon as close returns. */
        s_producer_args pa = {.q = q, .first = 0, .count = M, .close = round % 2 == 0};
        tr_actor *p = NULL;
        assert_int_equal(tr_actor_spawn(&p, "tail-producer", s_producer, &pa, NULL), TR_OK);
        int expect = 0, rc;
        tr_msg m;
        while ((rc = tr_queue_get(q, &m, LONG_MS)) == TR_OK) {
            int seq;
            memcpy(&seq, tr_msg_data(&m), sizeof seq);
            tr_msg_close(&m);
            assert_int_equal(seq, expect);
            expect++;
        }
        assert_int_equal(rc, TR_ECLOSED);
        assert_int_equal(expect, M);
        s_join_ok(&p);
        tr_queue_destroy(&q);
    }
    trt_assert_no_children();
}

static void test_consumer_death_loses_at_most_its_window(void **state)
{
    (void)state;
    s_shared_reset();
    enum { M = 100, W = 4 };
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "death", &(tr_queue_opts){.capacity = 100, .window = W}),
                     TR_OK);
    int sync[2];
    assert_int_equal(pipe(sync), 0);
    s_consumer_args victim = {.q = q, .id = 0, .got_fd = sync[1]};
    tr_spawn_opts o = {.keep_fds = &sync[1], .nkeep_fds = 1};
    tr_actor *a = NULL, *b = NULL;
    assert_int_equal(tr_actor_spawn(&a, "victim", s_consumer, &victim, &o), TR_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(s_put_seq(q, i, LONG_MS), TR_OK);
    char line[16];
    assert_true(trt_read_line(sync[0], line, sizeof line, LONG_MS) > 0);
    /* The victim has got one and holds up to W - 1 more in its buffers. */
    assert_int_equal(tr_actor_kill(a), TR_OK);
    assert_int_equal(tr_actor_join(a, LONG_MS), TR_OK);
    s_consumer_args survivor = {.q = q, .id = 1, .got_fd = -1};
    assert_int_equal(tr_actor_spawn(&b, "survivor", s_consumer, &survivor, NULL), TR_OK);
    for (int i = 10; i < M; i++)
        assert_int_equal(s_put_seq(q, i, LONG_MS), TR_OK);
    /* close does not wait for the dead consumer. */
    assert_int_equal(tr_queue_close(q, LONG_MS), TR_OK);
    s_join_ok(&b);
    unsigned got_a = atomic_load(&s_sh->per_consumer[0]);
    unsigned got_b = atomic_load(&s_sh->per_consumer[1]);
    assert_int_equal(got_a, 1);
    print_message("victim got %u, survivor %u, lost %u\n", got_a, got_b, M - got_a - got_b);
    assert_true(got_b >= M - W && got_b <= M - 1);
    for (int i = 0; i < M; i++)
        assert_true(atomic_load(&s_sh->seen[i]) <= 1);
    tr_queue_stats st;
    tr_queue_stats_get(q, &st);
    assert_int_equal(st.lost_consumers, 1);
    tr_actor_destroy(&a);
    tr_queue_destroy(&q);
    close(sync[0]);
    close(sync[1]);
    trt_assert_no_children();
}

/* A close that waits for a consumer's confirmation sleeps: the waiting
 * thread and the feeder must not keep each other busy. Measured as CPU time
 * over a wait of fixed length, not as a duration. */
static int s_take_one_then_hold(void *arg)
{
    s_consumer_args *a = arg;
    tr_msg m;
    if (tr_queue_get(a->q, &m, LONG_MS) != TR_OK)
        return 1;
    tr_msg_close(&m);
    trt_write_line(a->got_fd, "got");
    for (;;)
        pause(); /* never reads the end of stream; killed by the test */
}

static double s_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void test_waiting_close_does_not_spin(void **state)
{
    (void)state;
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "idle-close", NULL), TR_OK);
    int sync[2];
    assert_int_equal(pipe(sync), 0);
    s_consumer_args ca = {.q = q, .got_fd = sync[1]};
    tr_spawn_opts o = {.keep_fds = &sync[1], .nkeep_fds = 1};
    tr_actor *c = NULL;
    assert_int_equal(tr_actor_spawn(&c, "holder", s_take_one_then_hold, &ca, &o), TR_OK);
    assert_int_equal(s_put_seq(q, 0, LONG_MS), TR_OK);
    char line[16];
    assert_true(trt_read_line(sync[0], line, sizeof line, LONG_MS) > 0);
    double cpu = s_cpu_seconds();
    assert_int_equal(tr_queue_close(q, 500), TR_ETIMEDOUT);
    cpu = s_cpu_seconds() - cpu;
    print_message("CPU during a 500 ms wait: %.3f s\n", cpu);
    assert_true(cpu < 0.25);
    assert_int_equal(tr_actor_kill(c), TR_OK);
    assert_int_equal(tr_actor_join(c, LONG_MS), TR_OK);
    tr_actor_destroy(&c);
    tr_queue_destroy(&q);
    close(sync[0]);
    close(sync[1]);
    trt_assert_no_children();
}

/* More consumers than capacity / (window/2) could hold unconfirmed: the
 * consumers confirm what they took whenever they run dry, so the producer
 * never waits on confirmations that nobody will send. */
static void test_many_consumers_small_capacity(void **state)
{
    (void)state;
    s_shared_reset();
    enum { M = 3000, C = 6 };
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "crowded", &(tr_queue_opts){.capacity = 8, .window = 8}),
                     TR_OK);
    tr_actor *cons[C];
    s_consumer_args ca[C];
    s_spawn_consumers(q, "crowd-", cons, ca, C);
    for (int i = 0; i < M; i++)
        assert_int_equal(s_put_seq(q, i, LONG_MS), TR_OK);
    assert_int_equal(tr_queue_close(q, LONG_MS), TR_OK);
    for (int i = 0; i < C; i++)
        s_join_ok(&cons[i]);
    s_check_exactly_once(M);
    tr_queue_destroy(&q);
    trt_assert_no_children();
}

/* A consumer that never waits (TR_NOWAIT only) still joins and gets all. */
static int s_polling_consumer(void *arg)
{
    tr_queue *q = arg;
    int got = 0;
    for (;;) {
        tr_msg m;
        int rc = tr_queue_get(q, &m, TR_NOWAIT);
        if (rc == TR_ECLOSED)
            return got == 200 ? 0 : 1;
        if (rc == TR_OK) {
            got++;
            tr_msg_close(&m);
        } else if (rc != TR_EEMPTY) {
            return 2;
        } else {
            sched_yield();
        }
    }
}

static void test_nowait_consumer(void **state)
{
    (void)state;
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "nowait", NULL), TR_OK);
    tr_actor *c = NULL;
    assert_int_equal(tr_actor_spawn(&c, "poller", s_polling_consumer, q, NULL), TR_OK);
    for (int i = 0; i < 200; i++)
        assert_int_equal(s_put_seq(q, i, LONG_MS), TR_OK);
    assert_int_equal(tr_queue_close(q, LONG_MS), TR_OK);
    s_join_ok(&c);
    tr_queue_destroy(&q);
    trt_assert_no_children();
}

/* ---- frames ---------------------------------------------------------------------- */

static int s_multipart_consumer(void *arg)
{
    tr_queue *q = arg;
    const char *want[] = {"head", "", "tail"};
    for (int i = 0; i < 3; i++) {
        tr_msg m;
        if (tr_queue_get(q, &m, LONG_MS) != TR_OK)
            return 1;
        bool ok = tr_msg_size(&m) == strlen(want[i]) &&
                  memcmp(tr_msg_data(&m), want[i], strlen(want[i])) == 0 &&
                  tr_msg_more(&m) == (i < 2);
        tr_msg_close(&m);
        if (!ok)
            return 2 + i;
    }
    tr_msg m;
    return tr_queue_get(q, &m, LONG_MS) == TR_ECLOSED ? 0 : 9;
}

static void test_multipart_messages_arrive_whole(void **state)
{
    (void)state;
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "frames", NULL), TR_OK);
    tr_actor *c = NULL;
    assert_int_equal(tr_actor_spawn(&c, "frames-consumer", s_multipart_consumer, q, NULL), TR_OK);
    struct iovec v[3] = {{"head", 4}, {NULL, 0}, {"tail", 4}};
    assert_int_equal(tr_queue_putv(q, v, 3, LONG_MS), TR_OK);
    assert_int_equal(tr_queue_putv(q, v, 0, LONG_MS), TR_EINVAL);
    assert_int_equal(tr_queue_close(q, LONG_MS), TR_OK);
    s_join_ok(&c);
    tr_queue_destroy(&q);
    trt_assert_no_children();
}

/* Batches: messages put while no consumer is there wait in the producer
 * and leave in BATCH frames; each arrives whole, in order, with its own
 * size (0 to 299 bytes here), multi-part ones (a few in between) with
 * their frames and flags. */
#define BATCH_N 3000

static void s_batch_payload(int seq, unsigned char *buf, size_t *len)
{
    *len = (size_t)(seq % 300);
    for (size_t i = 0; i < *len; i++)
        buf[i] = (unsigned char)(seq * 7 + (int)i);
}

static int s_batch_consumer(void *arg)
{
    tr_queue *q = arg;
    unsigned char want[300];
    for (int seq = 0; seq < BATCH_N; seq++) {
        size_t len;
        s_batch_payload(seq, want, &len);
        int parts = seq % 500 == 250 ? 2 : 1;
        for (int k = 0; k < parts; k++) {
            tr_msg m;
            if (tr_queue_get(q, &m, LONG_MS) != TR_OK)
                return 1;
            bool ok = tr_msg_size(&m) == len && memcmp(tr_msg_data(&m), want, len) == 0 &&
                      tr_msg_more(&m) == (k + 1 < parts);
            tr_msg_close(&m);
            if (!ok)
                return 2;
        }
    }
    tr_msg m;
    if (tr_queue_get(q, &m, LONG_MS) != TR_ECLOSED)
        return 3;
    tr_queue_stats st;
    tr_queue_stats_get(q, &st);
    /* Most came in batches: the producer had them all before we said HELLO. */
    return st.got == BATCH_N && st.batched > BATCH_N / 2 ? 0 : 4;
}

static void test_batches_arrive_whole_and_in_order(void **state)
{
    (void)state;
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "batches", &(tr_queue_opts){.capacity = BATCH_N + 10}),
                     TR_OK);
    unsigned char buf[300];
    for (int seq = 0; seq < BATCH_N; seq++) {
        size_t len;
        s_batch_payload(seq, buf, &len);
        if (seq % 500 == 250) {
            struct iovec v[2] = {{buf, len}, {buf, len}};
            assert_int_equal(tr_queue_putv(q, v, 2, LONG_MS), TR_OK);
        } else {
            assert_int_equal(tr_queue_put(q, buf, len, LONG_MS), TR_OK);
        }
    }
    tr_actor *c = NULL;
    assert_int_equal(tr_actor_spawn(&c, "batch-consumer", s_batch_consumer, q, NULL), TR_OK);
    assert_int_equal(tr_queue_close(q, LONG_MS), TR_OK);
    s_join_ok(&c);
    tr_queue_stats st;
    tr_queue_stats_get(q, &st);
    assert_int_equal(st.put, BATCH_N);
    assert_true(st.batched > BATCH_N / 2);
    tr_queue_destroy(&q);
    trt_assert_no_children();
}

/* A message put while its consumer is idle goes to it on its own, not in a
 * batch; it waits meanwhile in the producer's ring entry itself when it is
 * small (TR__ENTRY_INLINE), in a ZeroMQ message otherwise. Put in lockstep
 * with the consumer, sizes 0 to 299 span that limit, and each arrives whole
 * and in order. */
#define LOCKSTEP_N 300

typedef struct {
    tr_queue *q;
    int ack_fd; /* a line after each message checked */
} s_lockstep_args;

static int s_lockstep_consumer(void *arg)
{
    s_lockstep_args *a = arg;
    unsigned char want[300];
    for (int seq = 0; seq < LOCKSTEP_N; seq++) {
        size_t len;
        s_batch_payload(seq, want, &len);
        tr_msg m;
        if (tr_queue_get(a->q, &m, LONG_MS) != TR_OK)
            return 1;
        bool ok = tr_msg_size(&m) == len && memcmp(tr_msg_data(&m), want, len) == 0 &&
                  !tr_msg_more(&m);
        tr_msg_close(&m);
        if (!ok)
            return 2;
        trt_write_line(a->ack_fd, "ok");
    }
    tr_msg m;
    return tr_queue_get(a->q, &m, LONG_MS) == TR_ECLOSED ? 0 : 3;
}

static void test_messages_put_one_at_a_time_arrive_whole(void **state)
{
    (void)state;
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "lockstep", NULL), TR_OK);
    int sync[2];
    assert_int_equal(pipe(sync), 0);
    s_lockstep_args a = {.q = q, .ack_fd = sync[1]};
    tr_spawn_opts o = {.keep_fds = &sync[1], .nkeep_fds = 1};
    tr_actor *c = NULL;
    assert_int_equal(tr_actor_spawn(&c, "lockstep-consumer", s_lockstep_consumer, &a, &o),
                     TR_OK);
    unsigned char buf[300];
    char line[16];
    for (int seq = 0; seq < LOCKSTEP_N; seq++) {
        size_t len;
        s_batch_payload(seq, buf, &len);
        assert_int_equal(tr_queue_put(q, buf, len, LONG_MS), TR_OK);
        assert_true(trt_read_line(sync[0], line, sizeof line, LONG_MS) > 0);
    }
    assert_int_equal(tr_queue_close(q, LONG_MS), TR_OK);
    s_join_ok(&c);
    tr_queue_destroy(&q);
    close(sync[0]);
    close(sync[1]);
    trt_assert_no_children();
}

/* A foreign peer plays producer with raw ZeroMQ: malformed and oversize
 * frames are refused, counted, and the next good message still arrives. */

/* Reads a consumer's HELLO from the raw ROUTER if one is waiting. */
static bool s_raw_hello(void *router, char *id, size_t *idlen)
{
    int n = zmq_recv(router, id, 255, ZMQ_DONTWAIT);
    if (n <= 0)
        return false;
    *idlen = (size_t)n;
    unsigned char ctl[16];
    int k = zmq_recv(router, ctl, sizeof ctl, ZMQ_DONTWAIT); /* same message */
    return k == 9 && ctl[0] == 0x13;
}

/* Lets the consumer run (its HELLO goes out from inside get) until the raw
 * peer has heard it. Bounded: 400 rounds of 50 ms. */
static void s_await_hello(tr_queue *q, void *raw, char *id, size_t *idlen)
{
    tr_msg m;
    for (int tries = 0; tries < 400; tries++) {
        assert_int_equal(tr_queue_get(q, &m, 50), TR_EEMPTY);
        if (s_raw_hello(raw, id, idlen))
            return;
    }
    fail_msg("no HELLO from the consumer");
}

static void s_raw_send(void *raw, const char *id, size_t idlen, const void *data, size_t n)
{
    assert_int_equal(zmq_send(raw, id, idlen, ZMQ_SNDMORE), (int)idlen);
    assert_int_equal(zmq_send(raw, data, n, 0), (int)n);
}

static void test_foreign_producer_cannot_harm_consumer(void **state)
{
    (void)state;
    /* A two-producer tcp queue: slot 0 is a raw ZeroMQ ROUTER playing a
     * hostile producer, slot 1 a real troupe producer in this process. */
    void *ctx = zmq_ctx_new();
    void *raw = zmq_socket(ctx, ZMQ_ROUTER);
    assert_int_equal(zmq_bind(raw, "tcp://127.0.0.1:*"), 0);
    char ep[64];
    size_t len = sizeof ep;
    assert_int_equal(zmq_getsockopt(raw, ZMQ_LAST_ENDPOINT, ep, &len), 0);
    /* The consumer's limit is fixed when it connects. */
    assert_int_equal(tr_sys_set_max_msg_size(1024), TR_OK);
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, ep, &(tr_queue_opts){.producers = 2}), TR_OK);
    char id[256];
    size_t idlen = 0;
    s_await_hello(q, raw, id, &idlen);
    assert_int_equal(tr_sys_set_max_msg_size(16 << 20), TR_OK);

    /* A frame of unknown kind is dropped and counted; the next one is got. */
    s_raw_send(raw, id, idlen, "\x99junk", 5);
    s_raw_send(raw, id, idlen, "\x11good", 5);
    tr_msg m;
    assert_int_equal(tr_queue_get(q, &m, LONG_MS), TR_OK);
    assert_int_equal(tr_msg_size(&m), 4);
    assert_memory_equal(tr_msg_data(&m), "good", 4);
    tr_msg_close(&m);
    tr_queue_stats st;
    tr_queue_stats_get(q, &st);
    assert_int_equal(st.rejected, 1);

    /* Malformed BATCH frames: an item running past the end, a truncated
     * size, no items at all, an item size near 2^32. Each is dropped whole
     * and counted; a good batch after them hands out its three items. */
    static const struct {
        const char *bytes;
        size_t n;
    } bad[] = {
        {"\x17\x05\x00\x00\x00" "abc", 8},
        {"\x17\x01\x00\x00\x00" "a\x02\x00", 8},
        {"\x17", 1},
        {"\x17\xff\xff\xff\xff", 5},
        {"\x17\x01\x00\x00\x80" "a", 6}, /* a message left unfinished */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        s_raw_send(raw, id, idlen, bad[i].bytes, bad[i].n);
    /* Three messages: "abc", "" and the two frames "de" + "f". */
    s_raw_send(raw, id, idlen,
               "\x17\x03\x00\x00\x00" "abc\x00\x00\x00\x00\x02\x00\x00\x80" "de"
               "\x01\x00\x00\x00" "f", 23);
    const char *items[] = {"abc", "", "de", "f"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(tr_queue_get(q, &m, LONG_MS), TR_OK);
        assert_int_equal(tr_msg_size(&m), strlen(items[i]));
        assert_memory_equal(tr_msg_data(&m), items[i], strlen(items[i]));
        assert_int_equal(tr_msg_more(&m), i == 2);
        tr_msg_close(&m);
    }
    tr_queue_stats_get(q, &st);
    assert_int_equal(st.rejected, 6);
    assert_int_equal(st.batched, 3);
    assert_int_equal(st.got, 4); /* "good" before, and these three */

    /* An oversize frame: ZeroMQ drops that peer for the protocol violation
     * before allocating it. The consumer carries on with the other slot. */
    static char big[4096];
    big[0] = 0x11;
    s_raw_send(raw, id, idlen, big, sizeof big);
    assert_int_equal(s_put_seq(q, 42, LONG_MS), TR_OK); /* we produce in slot 1 */
    assert_int_equal(tr_queue_get(q, &m, LONG_MS), TR_OK);
    assert_int_equal(tr_msg_size(&m), 64);
    int seq;
    memcpy(&seq, tr_msg_data(&m), sizeof seq);
    assert_int_equal(seq, 42);
    tr_msg_close(&m);
    tr_queue_destroy(&q);
    zmq_close(raw);
    zmq_ctx_term(ctx);
}

/* A foreign consumer sends junk to a troupe producer, which carries on. */
static void test_foreign_consumer_cannot_harm_producer(void **state)
{
    (void)state;
    /* A port unlikely to be in use by a parallel run of the suite. */
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", 20000 + getpid() % 20000);
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, ep, NULL), TR_OK);
    assert_int_equal(s_put_seq(q, 7, 0), TR_OK); /* binds, buffers */
    void *ctx = zmq_ctx_new();
    void *raw = zmq_socket(ctx, ZMQ_DEALER);
    int t = LONG_MS;
    zmq_setsockopt(raw, ZMQ_RCVTIMEO, &t, sizeof t);
    assert_int_equal(zmq_connect(raw, ep), 0);
    assert_int_equal(zmq_send(raw, "\x77", 1, 0), 1);
    assert_int_equal(zmq_send(raw, "\x13\x01\x00\x00\x00", 5, 0), 5); /* HELLO(1) */
    /* The producer reads control while it works: size pumps it. */
    char buf[128];
    int n = -1;
    for (int tries = 0; tries < 400 && n < 0; tries++) {
        size_t sz;
        assert_int_equal(tr_queue_size(q, &sz), TR_OK);
        n = zmq_recv(raw, buf, sizeof buf, ZMQ_DONTWAIT);
        if (n < 0) {
            zmq_pollitem_t it = {.socket = raw, .events = ZMQ_POLLIN};
            zmq_poll(&it, 1, 50);
        }
    }
    assert_int_equal(n, 65);
    assert_int_equal((unsigned char)buf[0], 0x11);
    tr_queue_stats st;
    tr_queue_stats_get(q, &st);
    assert_int_equal(st.rejected, 1);
    zmq_close(raw);
    zmq_ctx_term(ctx);
    tr_queue_destroy(&q);
}

/* ---- a producer that connects while the consumer is always busy ---------- */

static tr_queue *g_busy_q;
static int g_busy_pipe[2];

static int s_flood(void *arg)
{
    (void)arg;
    while (tr_queue_put(g_busy_q, "w", 1, TR_FOREVER) == TR_OK)
        ;
    return 1;
}

static int s_late(void *arg)
{
    (void)arg;
    if (tr_queue_put(g_busy_q, "l", 1, LONG_MS) != TR_OK)
        return 1;
    for (;;)
        pause(); /* killed by the test: its close would wait for the consumer */
    return 0;
}

/* Takes flood's messages one by one, slowly (the work of a real consumer),
 * so that one is always waiting; says "busy" after 20, and returns 0 when
 * the late producer's message arrives, 2 if 1500 came without it (before
 * the fix, a consumer that always found a message never greeted it). */
static int s_slow_consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1500; i++) {
        tr_msg m;
        if (tr_queue_get(g_busy_q, &m, LONG_MS) != TR_OK)
            return 1;
        char c = tr_msg_size(&m) == 1 ? *(const char *)tr_msg_data(&m) : '?';
        tr_msg_close(&m);
        if (c == 'l')
            return 0;
        if (i == 20 && write(g_busy_pipe[1], "b", 1) != 1)
            return 1;
        struct timespec work = {0, 2000000};
        nanosleep(&work, NULL);
    }
    return 2;
}

static void test_late_producer_reaches_busy_consumer(void **state)
{
    (void)state;
    /* The default window: the consumer holds hundreds of flood's messages,
     * so it never finds its sockets empty. */
    assert_int_equal(tr_queue_new(&g_busy_q, "busyq", &(tr_queue_opts){.producers = 2}), TR_OK);
    assert_int_equal(pipe2(g_busy_pipe, O_CLOEXEC), 0);
    tr_spawn_opts daemon = {.flags = TR_SPAWN_DAEMON};
    tr_spawn_opts keep = {.keep_fds = &g_busy_pipe[1], .nkeep_fds = 1};
    tr_actor *flood = NULL, *consumer = NULL, *late = NULL;
    assert_int_equal(tr_actor_spawn(&flood, "flood", s_flood, NULL, &daemon), TR_OK);
    assert_int_equal(tr_actor_spawn(&consumer, "slow", s_slow_consumer, NULL, &keep), TR_OK);
    char b;
    assert_int_equal(read(g_busy_pipe[0], &b, 1), 1); /* the consumer is busy */
    assert_int_equal(tr_actor_spawn(&late, "late", s_late, NULL, &daemon), TR_OK);
    trt_join_ok(&consumer, LONG_MS); /* 0: the late message arrived */
    tr_actor_destroy(&late);
    tr_actor_destroy(&flood);
    close(g_busy_pipe[0]);
    close(g_busy_pipe[1]);
    tr_queue_destroy(&g_busy_q);
    trt_assert_no_children();
}

#define TEST(f) cmocka_unit_test_teardown(f, trt_kill_children)

int main(void)
{
    trt_private_run_dir();
    /* A test that fails half-way leaves its actors running: the teardown
     * kills them, so that the tests after it do not fail because of them. */
    const struct CMUnitTest tests[] = {
        TEST(test_result_codes),
        TEST(test_late_consumer_sees_closed_stream),
        TEST(test_competing_consumers_get_each_message_once),
        TEST(test_end_of_stream_three_producers_four_consumers),
        TEST(test_late_consumers_get_their_share),
        TEST(test_producer_exiting_right_after_last_put_loses_nothing),
        TEST(test_consumer_death_loses_at_most_its_window),
        TEST(test_waiting_close_does_not_spin),
        TEST(test_many_consumers_small_capacity),
        TEST(test_nowait_consumer),
        TEST(test_multipart_messages_arrive_whole),
        TEST(test_batches_arrive_whole_and_in_order),
        TEST(test_messages_put_one_at_a_time_arrive_whole),
        TEST(test_late_producer_reaches_busy_consumer),
        TEST(test_foreign_producer_cannot_harm_consumer),
        TEST(test_foreign_consumer_cannot_harm_producer),
    };
    /* TRT_ONLY="name,name": run just those, in that order (for debugging). */
    const char *only = getenv("TRT_ONLY");
    if (only != NULL) {
        struct CMUnitTest picked[sizeof tests / sizeof tests[0]];
        size_t n = 0;
        char buf[512];
        snprintf(buf, sizeof buf, "%s", only);
        for (char *tok = strtok(buf, ","); tok != NULL; tok = strtok(NULL, ","))
            for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
                if (strcmp(tests[i].name, tok) == 0)
                    picked[n++] = tests[i];
        return _cmocka_run_group_tests("picked", picked, n, NULL, NULL);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
