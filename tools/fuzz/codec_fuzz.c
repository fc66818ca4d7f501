/* codec_fuzz.c: a libFuzzer target for the receiving side of typed messages,
 * tr_codec_decode and tr_registry_feed, against a registry that knows
 * trtest.Ping and trtest.Pong (codecs/codec_test.proto). Built and run by
 * tools/fuzz/run.sh, outside Bazel.
 *
 * An input is two frames and how to deliver them:
 *
 *   bytes 0-1   big-endian w: the envelope's length is w & 0x3fff (cut to
 *               what follows), and w >> 14 picks how many frames
 *               tr_registry_feed is given: 0 -> 2 (envelope, payload),
 *               1 -> 1 (envelope and payload as one frame), 2 -> 3 and
 *               3 -> 4 (envelope, payload, then empty frames).
 *   then        the envelope frame, then the payload frame (the rest).
 *
 * So the fuzzer varies where the frames split as freely as their bytes,
 * and the seeds (tools/fuzz/corpus/codec/, from make_corpus.c) start it on
 * real messages. tr_codec_decode always gets the two frames; feed gets them
 * as w says, with dead letters kept, so that refusals copy their frames.
 *
 * A message that decodes must make sense (a registered type, a sender that
 * fits) and survive a round trip: encoded again with tr_codec_encode it
 * decodes to the same type and flags, and its payload packs to the same
 * bytes both times (but see s_has_field_0). Anything else aborts, which
 * libFuzzer reports as a crash. Every run frees what it made; the registry
 * is made once and stays reachable, so LeakSanitizer checks each run on its
 * own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/codec_test.pb-c.h"
#include "core/internal.h"
#include "troupe/codec.h"
#include "troupe/troupe.h"

#define S_HLEN_MASK 0x3fff
#define S_KEEP 4

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tr_registry *s_registry;

/* A check that failed: say which, then abort so that libFuzzer keeps the
 * input. */
#define S_CHECK(cond)                                                                   \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "codec_fuzz: %s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                             \
            abort();                                                                    \
        }                                                                               \
    } while (0)

/* Ping's handler continues and Pong's stops, so feed's two outcomes both
 * run; neither keeps msg, which is valid during the call only. */
static int s_on_ping(void *state, const tr_envelope *env, const ProtobufCMessage *msg)
{
    S_CHECK(state == &s_registry && env->type == &trtest__ping__descriptor &&
            msg->descriptor == env->type);
    return TR_CONTINUE;
}

static int s_on_pong(void *state, const tr_envelope *env, const ProtobufCMessage *msg)
{
    S_CHECK(state == &s_registry && env->type == &trtest__pong__descriptor &&
            msg->descriptor == env->type);
    return TR_STOP;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Refusals are logged at warn (the first 20 of a registry): quiet, so
     * that libFuzzer's own lines stay readable. */
    tr_sys_set_log_level(TR_LOG_ERROR);
    if (tr_registry_new(&s_registry) != TR_OK ||
        tr_registry_add(s_registry, &trtest__ping__descriptor, s_on_ping) != TR_OK ||
        tr_registry_add(s_registry, &trtest__pong__descriptor, s_on_pong) != TR_OK ||
        tr_registry_keep_dead_letters(s_registry, S_KEEP) != TR_OK) {
        fprintf(stderr, "codec_fuzz: cannot make the registry\n");
        abort();
    }
    return 0;
}

/* Packs m into a fresh buffer (the caller frees it) and sets *len. */
static uint8_t *s_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len + 1); /* + 1: an empty message still gets a buffer */
    S_CHECK(b != NULL);
    S_CHECK(protobuf_c_message_pack(m, b) == *len);
    return b;
}

/* protobuf-c 1.4.1 refuses field number 0 when its key takes one byte, but
 * keeps it as an unknown field when the key is padded to two bytes or more
 * ("80 00" for "00"), and packs it back in one byte, which it then refuses:
 * such a message decodes once and not after a round trip (seeds
 * ping-payload-field-0 and repack-refused). That is the library's, not
 * troupe's; those messages skip the round trip. Ping and Pong have no
 * submessages, so the top level is enough. */
static bool s_has_field_0(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return true;
    return false;
}

/* A decoded message: sane, and the same after encoding and decoding again. */
static void s_check_decoded(const tr_typed *t)
{
    S_CHECK(t->msg != NULL && t->msg->descriptor == t->env.type);
    S_CHECK(t->env.type == &trtest__ping__descriptor || t->env.type == &trtest__pong__descriptor);
    S_CHECK(t->env.version == TR_CODEC_VERSION);
    S_CHECK(memchr(t->env.sender, '\0', sizeof t->env.sender) != NULL);

    /* Sized first, as codecs/codec.c sends a message over its stack
     * buffer. Each call draws a message id from a counter that runs for the
     * whole process, so a failure here may take the run's history (the id
     * crossing 128, 16384, ...) rather than its input alone. */
    size_t hlen, plen;
    S_CHECK(tr_codec_encode(t->msg, t->env.flags, NULL, 0, &hlen, &plen) == TR_ETOOBIG);
    uint8_t *buf = malloc(hlen + plen + 1);
    S_CHECK(buf != NULL);
    S_CHECK(tr_codec_encode(t->msg, t->env.flags, buf, hlen + plen, &hlen, &plen) == TR_OK);
    if (s_has_field_0(t->msg)) {
        free(buf);
        return;
    }

    tr_typed again;
    S_CHECK(tr_codec_decode(s_registry, buf, hlen, buf + hlen, plen, &again) == TR_OK);
    S_CHECK(again.env.type == t->env.type && again.env.flags == t->env.flags);
    S_CHECK(strcmp(again.env.sender, tr_self_name()) == 0);

    /* protobuf-c keeps unknown fields and packs them back, so packing is a
     * fixed point after one decode. */
    size_t n1, n2;
    uint8_t *p1 = s_pack(t->msg, &n1);
    uint8_t *p2 = s_pack(again.msg, &n2);
    S_CHECK(n1 == plen && n2 == plen && memcmp(p1, buf + hlen, plen) == 0 &&
            memcmp(p2, p1, plen) == 0);
    free(p1);
    free(p2);
    tr_typed_release(&again);
    free(buf);
}

/* A frame as a receive would hand it out: a ZeroMQ message of its own (no
 * context needed), with `more` set on all but the last. */
static void s_frame(tr_msg *f, const void *data, size_t size, bool more)
{
    tr__msg *m = (tr__msg *)f;
    S_CHECK(zmq_msg_init_size(&m->zmsg, size) == 0);
    if (size > 0)
        memcpy(zmq_msg_data(&m->zmsg), data, size);
    m->skip = 0;
    m->cut = 0;
    m->more = more;
}

static void s_feed(const uint8_t *hdr, size_t hlen, const uint8_t *payload, size_t plen,
                   int nframes)
{
    int last = nframes - 1;
    for (int k = 0; k < nframes; k++) {
        tr_msg f;
        if (nframes == 1)
            s_frame(&f, hdr, hlen + plen, false); /* payload follows hdr in the input */
        else if (k == 0)
            s_frame(&f, hdr, hlen, true);
        else if (k == 1)
            s_frame(&f, payload, plen, k < last);
        else
            s_frame(&f, NULL, 0, k < last);
        int rc = tr_registry_feed(s_registry, &s_registry, &f);
        S_CHECK(rc == TR_CONTINUE || (rc == TR_STOP && k == last));
        tr_msg_close(&f);
    }
    /* Each run on its own: what this one refused is not the next one's. */
    tr_registry_clear_dead_letters(s_registry);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const int nframes[4] = {2, 1, 3, 4};
    unsigned w = (unsigned)data[0] << 8 | data[1];
    size_t hlen = w & S_HLEN_MASK;
    if (hlen > size - 2)
        hlen = size - 2;
    const uint8_t *hdr = data + 2, *payload = hdr + hlen;
    size_t plen = size - 2 - hlen;

    tr_typed t;
    int rc = tr_codec_decode(s_registry, hdr, hlen, payload, plen, &t);
    if (rc == TR_OK) {
        s_check_decoded(&t);
    } else {
        S_CHECK(rc == TR_EVERSION || rc == TR_ETYPE || rc == TR_EDECODE);
        S_CHECK(t.msg == NULL); /* a refused message hands out nothing */
    }
    tr_typed_release(&t);
    tr_typed_release(&t); /* harmless on a released one, as documented */

    s_feed(hdr, hlen, payload, plen, nframes[w >> 14]);
    return 0;
}
