/* codec_test.c: typed messages between real processes over queues, pipes
 * and actor mailboxes; the envelope against protobuf-c's generated code;
 * every kind of bad input refused, counted, kept, and followed by a good
 * message; dispatch in a behaviour; the allocator hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codecs/codec_test.pb-c.h"
#include "codecs/envelope.pb-c.h"
#include "core/testutil.h"
#include "troupe/codec.h"
#include "troupe/troupe.h"

#define LONG_MS 20000

static void s_join_ok(tr_actor **a)
{
    trt_join_ok(a, LONG_MS);
}

static tr_registry *s_registry(void)
{
    tr_registry *r = NULL;
    assert_int_equal(tr_registry_new(&r), TR_OK);
    assert_int_equal(tr_registry_add(r, &trtest__ping__descriptor, NULL), TR_OK);
    assert_int_equal(tr_registry_add(r, &trtest__pong__descriptor, NULL), TR_OK);
    return r;
}

static int32_t s_numbers[] = {-1, 0, 7, 1 << 30};

static void s_ping_fill(Trtest__Ping *p, uint64_t seq)
{
    trtest__ping__init(p);
    p->seq = seq;
    p->text = (char *)"héllo, troupe";
    p->blob.data = (uint8_t *)"\0\1\2\3";
    p->blob.len = 4;
    p->numbers = s_numbers;
    p->n_numbers = 4;
}

static bool s_ping_ok(const ProtobufCMessage *m, uint64_t seq)
{
    const Trtest__Ping *p = (const Trtest__Ping *)m;
    return m->descriptor == &trtest__ping__descriptor && p->seq == seq &&
           strcmp(p->text, "héllo, troupe") == 0 && p->blob.len == 4 &&
           memcmp(p->blob.data, "\0\1\2\3", 4) == 0 && p->n_numbers == 4 &&
           memcmp(p->numbers, s_numbers, sizeof s_numbers) == 0;
}

/* ---- over a queue, between processes ------------------------------------------ */

static int s_ping_producer(void *arg)
{
    tr_queue *q = arg;
    for (uint64_t seq = 1; seq <= 100; seq++) {
        Trtest__Ping p;
        s_ping_fill(&p, seq);
        if (tr_codec_put(q, &p.base, LONG_MS) != TR_OK)
            return 1;
    }
    return tr_queue_close(q, LONG_MS) == TR_OK ? 0 : 2;
}

static void test_queue_round_trip(void **state)
{
    (void)state;
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "typed", NULL), TR_OK);
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn(&a, "pinger", s_ping_producer, q, NULL), TR_OK);
    tr_registry *r = s_registry();
    uint64_t last_id = 0;
    for (uint64_t seq = 1; seq <= 100; seq++) {
        tr_typed t;
        assert_int_equal(tr_codec_get(q, r, &t, LONG_MS), TR_OK);
        assert_true(s_ping_ok(t.msg, seq));
        assert_ptr_equal(t.env.type, &trtest__ping__descriptor);
        assert_int_equal(t.env.version, TR_CODEC_VERSION);
        assert_string_equal(t.env.sender, "pinger");
        assert_true(t.env.id > last_id);
        last_id = t.env.id;
        tr_typed_release(&t);
        assert_null(t.msg);
    }
    tr_typed t;
    assert_int_equal(tr_codec_get(q, r, &t, LONG_MS), TR_ECLOSED);
    tr_registry_stats st;
    tr_registry_stats_get(r, &st);
    assert_int_equal(st.decoded, 100);
    s_join_ok(&a);
    tr_registry_destroy(&r);
    assert_null(r);
    tr_queue_destroy(&q);
    trt_assert_no_children();
}

/* ---- the envelope against protobuf-c's own code --------------------------------- */

static void test_envelope_matches_protobuf(void **state)
{
    (void)state;
    Trtest__Pong pong;
    trtest__pong__init(&pong);
    pong.seq = 300;
    pong.value = 2.5;
    unsigned char buf[256];
    size_t hlen, plen;
    assert_int_equal(tr_codec_encode(&pong.base, 0x80000001u, buf, sizeof buf, &hlen, &plen),
                     TR_OK);
    /* Our envelope, read by protobuf-c's generated code. */
    Troupe__Envelope *e = troupe__envelope__unpack(NULL, hlen, buf);
    assert_non_null(e);
    assert_int_equal(e->version, 1);
    assert_string_equal(e->type, "trtest.Pong");
    assert_string_equal(e->sender, "main");
    assert_int_equal(e->flags, 0x80000001u);
    assert_true(e->id > 0);
    troupe__envelope__free_unpacked(e, NULL);
    Trtest__Pong *back = trtest__pong__unpack(NULL, plen, buf + hlen);
    assert_non_null(back);
    assert_int_equal(back->seq, 300);
    trtest__pong__free_unpacked(back, NULL);

    /* protobuf-c's envelope, read by ours. */
    Troupe__Envelope env;
    troupe__envelope__init(&env);
    env.version = 1;
    env.type = (char *)"trtest.Pong";
    env.id = 1ull << 40;
    env.sender = (char *)"elsewhere";
    unsigned char hdr[128];
    size_t n = troupe__envelope__pack(&env, hdr);
    tr_registry *r = s_registry();
    tr_typed t;
    assert_int_equal(tr_codec_decode(r, hdr, n, buf + hlen, plen, &t), TR_OK);
    assert_int_equal(t.env.id, 1ull << 40);
    assert_string_equal(t.env.sender, "elsewhere");
    assert_int_equal(((Trtest__Pong *)t.msg)->seq, 300);
    tr_typed_release(&t);

    /* A later version may add fields: unknown ones are skipped. */
    unsigned char longer[160];
    memcpy(longer, hdr, n);
    size_t m = n;
    longer[m++] = 9 << 3 | 0; /* field 9, varint */
    longer[m++] = 0x96;
    longer[m++] = 0x01;
    longer[m++] = 10 << 3 | 2; /* field 10, 3 bytes */
    longer[m++] = 3;
    memcpy(longer + m, "xyz", 3);
    m += 3;
    longer[m++] = 11 << 3 | 5; /* field 11, fixed32 */
    memset(longer + m, 0xab, 4);
    m += 4;
    assert_int_equal(tr_codec_decode(r, longer, m, buf + hlen, plen, &t), TR_OK);
    tr_typed_release(&t);

    /* Version 2, and no version at all, are refused. */
    env.version = 2;
    n = troupe__envelope__pack(&env, hdr);
    assert_int_equal(tr_codec_decode(r, hdr, n, buf + hlen, plen, &t), TR_EVERSION);
    assert_null(t.msg);
    env.version = 0;
    n = troupe__envelope__pack(&env, hdr);
    assert_int_equal(tr_codec_decode(r, hdr, n, buf + hlen, plen, &t), TR_EVERSION);
    /* Too small a buffer: sizes are reported, nothing written. */
    assert_int_equal(tr_codec_encode(&pong.base, 0, buf, 3, &hlen, &plen), TR_ETOOBIG);
    assert_true(hlen > 3);
    assert_int_equal(tr_codec_encode(NULL, 0, buf, sizeof buf, &hlen, &plen), TR_EINVAL);
    tr_registry_destroy(&r);
}

/* Regressions found by the fuzzer. An envelope without a sender is valid
 * proto3 (an empty string is left out). */
static void test_envelope_without_sender(void **state)
{
    (void)state;
    Troupe__Envelope env;
    troupe__envelope__init(&env);
    env.version = 1;
    env.type = (char *)"trtest.Pong";
    env.id = 5;
    unsigned char hdr[64];
    size_t n = troupe__envelope__pack(&env, hdr);
    tr_registry *r = s_registry();
    tr_typed t;
    assert_int_equal(tr_codec_decode(r, hdr, n, "", 0, &t), TR_OK);
    assert_string_equal(t.env.sender, "");
    tr_typed_release(&t);
    tr_registry_destroy(&r);
}

/* A buffer sized by a failed call fits every later call, whatever id it
 * draws (ids cross varint boundaries at 128 and 16384). */
static void test_encode_sized_buffer_fits(void **state)
{
    (void)state;
    Trtest__Pong pong;
    trtest__pong__init(&pong);
    pong.seq = 1;
    size_t hlen, plen;
    assert_int_equal(tr_codec_encode(&pong.base, 0, NULL, 0, &hlen, &plen), TR_ETOOBIG);
    size_t cap = hlen + plen;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(tr_codec_encode(&pong.base, 0, buf, cap, &hlen, &plen), TR_OK);
    free(buf);
}

/* ---- bad input ---------------------------------------------------------------------- */

/* One bad message of each kind, each followed by a good Ping whose seq is
 * the number of bad ones so far, sent raw by a producer actor. */
static int s_bad_producer(void *arg)
{
    tr_queue *q = arg;
    unsigned char good[512];
    size_t ghl, gpl;
    Trtest__Ping ping;
    s_ping_fill(&ping, 0);
    /* A valid envelope and payload to damage. */
    if (tr_codec_encode(&ping.base, 0, good, sizeof good, &ghl, &gpl) != TR_OK)
        return 1;
    unsigned char v2[512];
    memcpy(v2, good, ghl);
    v2[1] = 2; /* version 2 */
    Trtest__Stranger who;
    trtest__stranger__init(&who);
    who.who = (char *)"nobody";
    unsigned char strange[256];
    size_t shl, spl;
    if (tr_codec_encode(&who.base, 0, strange, sizeof strange, &shl, &spl) != TR_OK)
        return 2;
    struct iovec bad[][3] = {
        {{good, ghl}},                                     /* one frame */
        {{good, ghl}, {good + ghl, gpl}, {"x", 1}},        /* three frames */
        {{v2, ghl}, {good + ghl, gpl}},                    /* version 2 */
        {{"\xff\xff\xff", 3}, {good + ghl, gpl}},          /* not an envelope */
        {{strange, shl}, {strange + shl, spl}},            /* unknown type */
        {{good, ghl}, {good + ghl, gpl - 3}},              /* truncated payload */
        {{good, ghl}, {"\x0a\xff\xff\xff\xff\x0f", 6}},    /* corrupt payload */
    };
    int nframes[] = {1, 3, 2, 2, 2, 2, 2};
    for (int i = 0; i < 7; i++) {
        if (tr_queue_putv(q, bad[i], nframes[i], LONG_MS) != TR_OK)
            return 3;
        s_ping_fill(&ping, (uint64_t)i + 1);
        if (tr_codec_put(q, &ping.base, LONG_MS) != TR_OK)
            return 4;
    }
    return tr_queue_close(q, LONG_MS) == TR_OK ? 0 : 5;
}

static void test_bad_input_is_refused_counted_and_kept(void **state)
{
    (void)state;
    tr_queue *q = NULL;
    assert_int_equal(tr_queue_new(&q, "bad-typed", NULL), TR_OK);
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn(&a, "bad-producer", s_bad_producer, q, NULL), TR_OK);
    tr_registry *r = s_registry();
    assert_int_equal(tr_registry_keep_dead_letters(r, 5), TR_OK);
    int want[] = {TR_EFRAMES, TR_EFRAMES, TR_EVERSION, TR_EVERSION,
                  TR_ETYPE,   TR_EDECODE, TR_EDECODE};
    for (int i = 0; i < 7; i++) {
        tr_typed t;
        int rc = tr_codec_get(q, r, &t, LONG_MS);
        if (rc != want[i])
            fail_msg("bad message %d: got %s, wanted %s", i, tr_errname(rc), tr_errname(want[i]));
        assert_null(t.msg);
        /* The next good message is intact. */
        assert_int_equal(tr_codec_get(q, r, &t, LONG_MS), TR_OK);
        assert_true(s_ping_ok(t.msg, (uint64_t)i + 1));
        tr_typed_release(&t);
    }
    tr_typed t;
    assert_int_equal(tr_codec_get(q, r, &t, LONG_MS), TR_ECLOSED);
    tr_registry_stats st;
    tr_registry_stats_get(r, &st);
    assert_int_equal(st.decoded, 7);
    assert_int_equal(st.frames, 2);
    assert_int_equal(st.version, 2);
    assert_int_equal(st.type, 1);
    assert_int_equal(st.decode, 2);
    tr_queue_stats qs;
    tr_queue_stats_get(q, &qs);
    assert_int_equal(qs.rejected, 7); /* counted per mailbox too */
    /* The last five refused, oldest first, as they arrived. */
    assert_int_equal(tr_registry_dead_letters(r), 5);
    for (int i = 0; i < 5; i++) {
        const tr_dead_letter *d = tr_registry_dead_letter(r, i);
        assert_non_null(d);
        assert_int_equal(d->reason, want[i + 2]);
        assert_int_equal(d->nframes, 2);
    }
    assert_memory_equal(tr_registry_dead_letter(r, 1)->frame[0], "\xff\xff\xff", 3);
    assert_null(tr_registry_dead_letter(r, 5));
    tr_registry_clear_dead_letters(r);
    assert_int_equal(tr_registry_dead_letters(r), 0);
    s_join_ok(&a);
    tr_registry_destroy(&r);
    tr_queue_destroy(&q);
    trt_assert_no_children();
}

static void test_oversize_frames_are_refused(void **state)
{
    (void)state;
    tr_registry *r = s_registry();
    Trtest__Ping p;
    s_ping_fill(&p, 5);
    unsigned char buf[512];
    size_t hl, pl;
    assert_int_equal(tr_codec_encode(&p.base, 0, buf, sizeof buf, &hl, &pl), TR_OK);
    size_t was = tr_sys_max_msg_size();
    assert_int_equal(tr_sys_set_max_msg_size(16), TR_OK);
    tr_typed t;
    assert_int_equal(tr_codec_decode(r, buf, hl, buf + hl, pl, &t), TR_ETOOBIG);
    assert_int_equal(tr_codec_encode(&p.base, 0, buf, sizeof buf, &hl, &pl), TR_ETOOBIG);
    assert_int_equal(tr_sys_set_max_msg_size(was), TR_OK);
    tr_registry_destroy(&r);
}

/* ---- pipes, both ways ------------------------------------------------------------------- */

static int s_pipe_echo(void *arg)
{
    tr_pipe *end = arg;
    tr_registry *r = s_registry();
    for (;;) {
        tr_typed t;
        int rc = tr_codec_pipe_recv(end, r, &t, LONG_MS);
        if (rc == TR_ECLOSED)
            break;
        if (rc != TR_OK)
            return 1;
        /* Answer each Ping with a Pong of the same seq. */
        Trtest__Pong pong;
    trtest__pong__init(&pong);
        pong.seq = ((Trtest__Ping *)t.msg)->seq;
        pong.value = (double)pong.seq / 2;
        tr_typed_release(&t);
        if (tr_codec_pipe_send(end, &pong.base, LONG_MS) != TR_OK)
            return 2;
    }
    tr_registry_destroy(&r);
    return tr_pipe_close(end, LONG_MS) == TR_OK ? 0 : 3;
}

static void test_pipe_both_ways(void **state)
{
    (void)state;
    tr_pipe *a = NULL, *b = NULL;
    assert_int_equal(tr_pipe_new(&a, &b, true), TR_OK);
    tr_actor *echo = NULL;
    assert_int_equal(tr_actor_spawn(&echo, "echo", s_pipe_echo, b, NULL), TR_OK);
    tr_registry *r = s_registry();
    for (uint64_t seq = 1; seq <= 20; seq++) {
        Trtest__Ping p;
        s_ping_fill(&p, seq);
        assert_int_equal(tr_codec_pipe_send(a, &p.base, LONG_MS), TR_OK);
        tr_typed t;
        assert_int_equal(tr_codec_pipe_recv(a, r, &t, LONG_MS), TR_OK);
        assert_ptr_equal(t.env.type, &trtest__pong__descriptor);
        assert_int_equal(((Trtest__Pong *)t.msg)->seq, seq);
        assert_string_equal(t.env.sender, "echo");
        tr_typed_release(&t);
    }
    assert_int_equal(tr_pipe_close(a, LONG_MS), TR_OK);
    s_join_ok(&echo);
    tr_registry_destroy(&r);
    tr_pipe_destroy(&a);
    tr_pipe_destroy(&b);
    trt_assert_no_children();
}

/* ---- a behaviour dispatching on two types ---------------------------------------------- */

typedef struct s_disp_state {
    tr_registry *r;
    tr_queue *replies;
    int pings, pongs;
} s_disp_state;

static int s_on_ping(void *state, const tr_envelope *env, const ProtobufCMessage *msg)
{
    (void)env;
    s_disp_state *st = state;
    st->pings++;
    Trtest__Pong pong;
    trtest__pong__init(&pong);
    pong.seq = ((const Trtest__Ping *)msg)->seq;
    return tr_codec_put(st->replies, &pong.base, LONG_MS) == TR_OK ? TR_CONTINUE : TR_STOP;
}

static int s_on_pong(void *state, const tr_envelope *env, const ProtobufCMessage *msg)
{
    (void)env;
    s_disp_state *st = state;
    st->pongs++;
    /* A Pong with a negative value says: stop. */
    return ((const Trtest__Pong *)msg)->value < 0 ? TR_STOP : TR_CONTINUE;
}

static int s_disp_init(void *arg, void **state)
{
    s_disp_state *st = calloc(1, sizeof *st);
    if (st == NULL || tr_registry_new(&st->r) != TR_OK)
        return 1;
    st->replies = arg;
    tr_registry_add(st->r, &trtest__ping__descriptor, s_on_ping);
    tr_registry_add(st->r, &trtest__pong__descriptor, s_on_pong);
    *state = st;
    return 0;
}

static int s_disp_handle(void *state, tr_msg *msg)
{
    s_disp_state *st = state;
    return tr_registry_feed(st->r, st, msg);
}

static int s_disp_terminate(void *state, int reason)
{
    s_disp_state *st = state;
    tr_registry_stats rs;
    tr_registry_stats_get(st->r, &rs);
    tr_queue_close(st->replies, LONG_MS);
    /* 3 pings, 2 pongs, 2 refused (one frame; unknown type), stopped by
     * its handler: exit 0. Anything else: a code that says what. */
    bool ok = reason == TR_REASON_NORMAL && st->pings == 3 && st->pongs == 2 &&
              rs.frames == 1 && rs.type == 1 && rs.decoded == 5;
    return ok ? 0 : 10 + st->pings * 3 + st->pongs;
}

static void test_behaviour_dispatches_by_type(void **state)
{
    (void)state;
    tr_queue *replies = NULL;
    assert_int_equal(tr_queue_new(&replies, "replies", NULL), TR_OK);
    static const tr_behaviour b = {
        .init = s_disp_init, .handle = s_disp_handle, .terminate = s_disp_terminate};
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn_behaviour(&a, "dispatcher", &b, replies, NULL), TR_OK);
    Trtest__Ping p;
    Trtest__Pong pong;
    trtest__pong__init(&pong);
    s_ping_fill(&p, 1);
    assert_int_equal(tr_codec_actor_send(a, &p.base, LONG_MS), TR_OK);
    assert_int_equal(tr_actor_send(a, "lonely frame", 12, LONG_MS), TR_OK);
    assert_int_equal(tr_codec_actor_send(a, &pong.base, LONG_MS), TR_OK);
    Trtest__Stranger who;
    trtest__stranger__init(&who);
    assert_int_equal(tr_codec_actor_send(a, &who.base, LONG_MS), TR_OK);
    s_ping_fill(&p, 2);
    assert_int_equal(tr_codec_actor_send(a, &p.base, LONG_MS), TR_OK);
    s_ping_fill(&p, 3);
    assert_int_equal(tr_codec_actor_send(a, &p.base, LONG_MS), TR_OK);
    pong.value = -1;
    assert_int_equal(tr_codec_actor_send(a, &pong.base, LONG_MS), TR_OK);
    tr_registry *r = s_registry();
    for (uint64_t seq = 1; seq <= 3; seq++) {
        tr_typed t;
        assert_int_equal(tr_codec_get(replies, r, &t, LONG_MS), TR_OK);
        assert_int_equal(((Trtest__Pong *)t.msg)->seq, seq);
        tr_typed_release(&t);
    }
    tr_typed t;
    assert_int_equal(tr_codec_get(replies, r, &t, LONG_MS), TR_ECLOSED);
    s_join_ok(&a);
    tr_registry_destroy(&r);
    tr_queue_destroy(&replies);
    trt_assert_no_children();
}

/* ---- an actor's own mailbox -------------------------------------------------------------- */

static int s_self_reader(void *arg)
{
    (void)arg;
    tr_registry *r = s_registry();
    tr_typed t;
    int rc = tr_codec_self_recv(r, &t, LONG_MS);
    bool ok = rc == TR_OK && s_ping_ok(t.msg, 77) && strcmp(t.env.sender, "main") == 0;
    tr_typed_release(&t);
    tr_registry_destroy(&r);
    return ok ? 0 : 1;
}

static void test_actor_mailbox(void **state)
{
    (void)state;
    tr_actor *a = NULL;
    assert_int_equal(tr_actor_spawn(&a, "self-reader", s_self_reader, NULL, NULL), TR_OK);
    Trtest__Ping p;
    s_ping_fill(&p, 77);
    assert_int_equal(tr_codec_actor_send(a, &p.base, LONG_MS), TR_OK);
    s_join_ok(&a);
    trt_assert_no_children();
}

/* ---- the allocator hook ------------------------------------------------------------------- */

static int s_allocs, s_frees;

static void *s_alloc(void *data, size_t size)
{
    (void)data;
    s_allocs++;
    return malloc(size);
}

static void s_free(void *data, void *p)
{
    (void)data;
    if (p != NULL)
        s_frees++;
    free(p);
}

static void test_allocator_hook(void **state)
{
    (void)state;
    static ProtobufCAllocator counting = {.alloc = s_alloc, .free = s_free};
    tr_registry *r = s_registry();
    assert_int_equal(tr_registry_set_allocator(r, &counting), TR_OK);
    Trtest__Ping p;
    s_ping_fill(&p, 9);
    unsigned char buf[512];
    size_t hl, pl;
    assert_int_equal(tr_codec_encode(&p.base, 0, buf, sizeof buf, &hl, &pl), TR_OK);
    tr_typed t;
    assert_int_equal(tr_codec_decode(r, buf, hl, buf + hl, pl, &t), TR_OK);
    assert_true(s_ping_ok(t.msg, 9));
    assert_true(s_allocs > 0);
    tr_typed_release(&t);
    assert_int_equal(s_allocs, s_frees);
    tr_typed_release(&t); /* harmless twice */
    tr_registry_destroy(&r);
}

static void test_registry_arguments(void **state)
{
    (void)state;
    assert_int_equal(tr_registry_new(NULL), TR_EINVAL);
    tr_registry *r = s_registry();
    assert_int_equal(tr_registry_add(r, NULL, NULL), TR_EINVAL);
    assert_int_equal(tr_registry_add(NULL, &trtest__ping__descriptor, NULL), TR_EINVAL);
    /* Not a message descriptor. */
    assert_int_equal(tr_registry_add(r, (const void *)&trtest__ping__descriptor.fields[0], NULL),
                     TR_EINVAL);
    assert_ptr_equal(tr_registry_find(r, "trtest.Ping", 11), &trtest__ping__descriptor);
    assert_null(tr_registry_find(r, "trtest.Pin", 10));
    assert_int_equal(tr_registry_keep_dead_letters(r, -1), TR_EINVAL);
    tr_typed t;
    assert_int_equal(tr_codec_get(NULL, r, &t, 0), TR_EINVAL);
    assert_int_equal(tr_codec_decode(NULL, "", 0, "", 0, &t), TR_EINVAL);
    /* Dispatch without a handler. */
    Trtest__Ping p;
    s_ping_fill(&p, 1);
    unsigned char buf[512];
    size_t hl, pl;
    assert_int_equal(tr_codec_encode(&p.base, 0, buf, sizeof buf, &hl, &pl), TR_OK);
    assert_int_equal(tr_codec_decode(r, buf, hl, buf + hl, pl, &t), TR_OK);
    assert_int_equal(tr_registry_dispatch(r, NULL, &t), TR_ESTATE);
    tr_typed_release(&t);
    tr_registry_stats st;
    tr_registry_stats_get(r, &st);
    assert_int_equal(st.unhandled, 1);
    tr_registry_destroy(&r);
    tr_registry_destroy(&r); /* NULL is fine */
}

int main(void)
{
    trt_private_run_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_round_trip),
        cmocka_unit_test(test_envelope_matches_protobuf),
        cmocka_unit_test(test_envelope_without_sender),
        cmocka_unit_test(test_encode_sized_buffer_fits),
        cmocka_unit_test(test_bad_input_is_refused_counted_and_kept),
        cmocka_unit_test(test_oversize_frames_are_refused),
        cmocka_unit_test(test_pipe_both_ways),
        cmocka_unit_test(test_behaviour_dispatches_by_type),
        cmocka_unit_test(test_actor_mailbox),
        cmocka_unit_test(test_allocator_hook),
        cmocka_unit_test(test_registry_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
