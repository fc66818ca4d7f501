/* make_corpus.c: writes codec_fuzz.c's seed corpus, valid typed messages
 * and nearly valid ones, one file each, into the directory it is given:
 *
 *   make_corpus DIR
 *
 * tools/fuzz/run.sh -c builds it and rewrites tools/fuzz/corpus/codec/.
 * Valid messages come from tr_codec_encode, so they are what troupe sends;
 * the others are written byte by byte, each a small step away from valid
 * (one field, one length, one wire type), so that the fuzzer starts next to
 * every branch of the envelope parser. The output is the same on every run:
 * message ids count from 1 in a fresh process and the sender is "main".
 * Each file is codec_fuzz.c's input: two bytes (big-endian; the envelope's
 * length, and in the top two bits how tr_registry_feed gets the frames),
 * the envelope, the payload.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/codec_test.pb-c.h"
#include "troupe/codec.h"
#include "troupe/troupe.h"

/* codec_fuzz.c's frame counts for tr_registry_feed, as the top two bits. */
enum { FEED_2 = 0, FEED_1 = 1, FEED_3 = 2, FEED_4 = 3 };

/* Wire types and field numbers of troupe.Envelope, for the raw ones. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_GROUP = 3, WT_I32 = 5 };
enum { F_VERSION = 1, F_TYPE = 2, F_ID = 3, F_SENDER = 4, F_FLAGS = 5 };

typedef struct s_buf {
    uint8_t b[4096];
    size_t n;
} s_buf;

static const char *s_dir;
static int s_files;

static void s_bytes(s_buf *b, const void *p, size_t n)
{
    if (b->n + n > sizeof b->b) {
        fprintf(stderr, "make_corpus: a seed outgrew its buffer\n");
        exit(1);
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void s_varint(s_buf *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            c |= 0x80;
        s_bytes(b, &c, 1);
    } while (v != 0);
}

static void s_key(s_buf *b, unsigned field, unsigned wt)
{
    s_varint(b, (uint64_t)field << 3 | wt);
}

static void s_string(s_buf *b, unsigned field, const char *s)
{
    s_key(b, field, WT_LEN);
    s_varint(b, strlen(s));
    s_bytes(b, s, strlen(s));
}

/* Writes DIR/name: the prefix, hdr, payload. */
static void s_write(const char *name, int feed, const s_buf *hdr, const uint8_t *payload,
                    size_t plen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "make_corpus: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    uint8_t w[2] = {(uint8_t)(feed << 6 | hdr->n >> 8), (uint8_t)(hdr->n & 0xff)};
    fwrite(w, 1, 2, f);
    fwrite(hdr->b, 1, hdr->n, f);
    fwrite(payload, 1, plen, f);
    if (fclose(f) != 0) {
        fprintf(stderr, "make_corpus: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    s_files++;
}

/* msg as troupe sends it: its envelope in *hdr, its payload in *payload. */
static void s_encode(const ProtobufCMessage *msg, uint32_t flags, s_buf *hdr, s_buf *payload)
{
    uint8_t buf[4096];
    size_t hlen, plen;
    if (tr_codec_encode(msg, flags, buf, sizeof buf, &hlen, &plen) != TR_OK) {
        fprintf(stderr, "make_corpus: tr_codec_encode failed\n");
        exit(1);
    }
    hdr->n = payload->n = 0;
    s_bytes(hdr, buf, hlen);
    s_bytes(payload, buf + hlen, plen);
}

/* An envelope field by field: version 1, type, id 7, then `sender` (NULL:
 * none). */
static void s_envelope(s_buf *b, const char *type, const char *sender)
{
    b->n = 0;
    s_key(b, F_VERSION, WT_VARINT);
    s_varint(b, 1);
    s_string(b, F_TYPE, type);
    s_key(b, F_ID, WT_VARINT);
    s_varint(b, 7);
    if (sender != NULL)
        s_string(b, F_SENDER, sender);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    s_dir = argv[1];

    static int32_t numbers[] = {-1, 0, 7, 300, INT32_MIN, INT32_MAX};
    Trtest__Ping ping;
    trtest__ping__init(&ping);
    ping.seq = 42;
    ping.text = (char *)"héllo, troupe";
    ping.blob.data = (uint8_t *)"\0\1\2\3\377";
    ping.blob.len = 5;
    ping.numbers = numbers;
    ping.n_numbers = sizeof numbers / sizeof numbers[0];
    Trtest__Ping empty_ping;
    trtest__ping__init(&empty_ping);
    Trtest__Pong pong;
    trtest__pong__init(&pong);
    pong.seq = UINT64_MAX;
    pong.value = -2.5e-300;
    Trtest__Stranger stranger;
    trtest__stranger__init(&stranger);
    stranger.who = (char *)"nobody";

    s_buf hdr, payload, b;

    /* ---- valid, as tr_codec_encode writes them ---- */
    s_encode(&ping.base, 0, &hdr, &payload);
    s_write("ping", FEED_2, &hdr, payload.b, payload.n);
    s_write("ping-feed-1-frame", FEED_1, &hdr, payload.b, payload.n);
    s_write("ping-feed-3-frames", FEED_3, &hdr, payload.b, payload.n);
    s_write("ping-feed-4-frames", FEED_4, &hdr, payload.b, payload.n);

    /* The payload one byte short: a field cut in the middle. */
    s_write("ping-payload-cut", FEED_2, &hdr, payload.b, payload.n - 1);

    /* An unknown field in the payload (20, varint), which protobuf-c keeps. */
    b = payload;
    s_key(&b, 20, WT_VARINT);
    s_varint(&b, 123456789);
    s_write("ping-payload-unknown-field", FEED_2, &hdr, b.b, b.n);

    /* Field number 0 with its key padded to two bytes, which protobuf-c
     * 1.4.1 keeps as an unknown field (codec_fuzz.c, s_has_field_0). */
    b = payload;
    s_bytes(&b, "\x80\x00\x00", 3);
    s_write("ping-payload-field-0", FEED_2, &hdr, b.b, b.n);

    /* numbers (4) not packed: each element with its own key. */
    b.n = 0;
    for (int i = 0; i < 3; i++) {
        s_key(&b, 4, WT_VARINT);
        s_varint(&b, (uint64_t)(int64_t)numbers[i]);
    }
    s_write("ping-numbers-unpacked", FEED_2, &hdr, b.b, b.n);

    /* text (2) with a varint: a known field with the wrong wire type. */
    b.n = 0;
    s_key(&b, 2, WT_VARINT);
    s_varint(&b, 1);
    s_write("ping-payload-wrong-wire-type", FEED_2, &hdr, b.b, b.n);

    s_encode(&empty_ping.base, 0, &hdr, &payload);
    s_write("ping-empty", FEED_2, &hdr, payload.b, payload.n);

    s_encode(&pong.base, 0xffffffffu, &hdr, &payload);
    s_write("pong-flags", FEED_2, &hdr, payload.b, payload.n);

    /* Registered nowhere: refused with TR_ETYPE. */
    s_encode(&stranger.base, 0, &hdr, &payload);
    s_write("stranger", FEED_2, &hdr, payload.b, payload.n);

    /* ---- envelopes written field by field, with Pong's payload ---- */
    s_encode(&pong.base, 0, &hdr, &payload);

    /* No sender: proto3 leaves an empty string out, so another language's
     * sender with no name writes exactly this. Valid. */
    s_envelope(&b, "trtest.Pong", NULL);
    s_write("env-no-sender", FEED_2, &b, payload.b, payload.n);

    /* The longest sender accepted, and one byte more. */
    char name[TR_CODEC_SENDER_MAX + 2];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    s_envelope(&b, "trtest.Pong", name);
    s_write("env-sender-64", FEED_2, &b, payload.b, payload.n);
    name[TR_CODEC_SENDER_MAX] = '\0';
    s_envelope(&b, "trtest.Pong", name);
    s_write("env-sender-63", FEED_2, &b, payload.b, payload.n);

    /* Unknown fields of every wire type, which a later version may add:
     * skipped. */
    s_envelope(&b, "trtest.Pong", "x");
    s_key(&b, 6, WT_VARINT);
    s_varint(&b, UINT64_MAX);
    s_key(&b, 7, WT_I64);
    s_bytes(&b, "12345678", 8);
    s_key(&b, 8, WT_I32);
    s_bytes(&b, "1234", 4);
    s_string(&b, 9, "later");
    s_write("env-unknown-fields", FEED_2, &b, payload.b, payload.n);

    /* A group, which no version has: refused. */
    s_envelope(&b, "trtest.Pong", NULL);
    s_key(&b, 6, WT_GROUP);
    s_write("env-group", FEED_2, &b, payload.b, payload.n);

    /* type twice: the last one counts, as in protobuf. */
    s_envelope(&b, "trtest.Stranger", NULL);
    s_string(&b, F_TYPE, "trtest.Pong");
    s_write("env-type-twice", FEED_2, &b, payload.b, payload.n);

    /* Version 2, no version, and version as a fixed32. */
    b.n = 0;
    s_key(&b, F_VERSION, WT_VARINT);
    s_varint(&b, 2);
    s_string(&b, F_TYPE, "trtest.Pong");
    s_write("env-version-2", FEED_2, &b, payload.b, payload.n);
    b.n = 0;
    s_string(&b, F_TYPE, "trtest.Pong");
    s_write("env-no-version", FEED_2, &b, payload.b, payload.n);
    b.n = 0;
    s_key(&b, F_VERSION, WT_I32);
    s_bytes(&b, "\1\0\0\0", 4);
    s_string(&b, F_TYPE, "trtest.Pong");
    s_write("env-version-fixed32", FEED_2, &b, payload.b, payload.n);

    /* type as a varint; an empty type. */
    b.n = 0;
    s_key(&b, F_VERSION, WT_VARINT);
    s_varint(&b, 1);
    s_key(&b, F_TYPE, WT_VARINT);
    s_varint(&b, 1);
    s_write("env-type-varint", FEED_2, &b, payload.b, payload.n);
    s_envelope(&b, "", NULL);
    s_write("env-type-empty", FEED_2, &b, payload.b, payload.n);

    /* The type's length runs past the frame's end. */
    s_envelope(&b, "trtest.Pong", NULL);
    b.n -= 3;
    s_write("env-type-cut", FEED_2, &b, payload.b, payload.n);

    /* A key made of 11 continuation bytes: over the 10 a varint may take. */
    b.n = 0;
    s_bytes(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    s_write("env-varint-too-long", FEED_2, &b, payload.b, payload.n);

    /* Field number 0. */
    b.n = 0;
    s_key(&b, 0, WT_VARINT);
    s_varint(&b, 1);
    s_write("env-field-0", FEED_2, &b, payload.b, payload.n);

    /* Both frames empty. */
    b.n = 0;
    s_write("empty", FEED_2, &b, payload.b, 0);

    printf("make_corpus: %d files in %s\n", s_files, s_dir);
    return 0;
}
