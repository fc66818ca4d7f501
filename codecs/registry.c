/* registry.c: the message types a receiver knows, their handlers, what it
 * refused (counters, log lines, dead letters).
 *
 * Types are looked up by full protobuf name on every message. A registry
 * holds a handful of types, so a linear scan comparing lengths first beats
 * hashing; a program with hundreds of types would want a hash table here.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/codec_internal.h"
#include "troupe/codec.h"

/* Log lines for refused messages: the first TR_LOG_FIRST of a registry,
 * then one in TR_LOG_EVERY, so that a peer sending garbage cannot flood the
 * log. Every one is counted. */
#define TR_LOG_FIRST 20
#define TR_LOG_EVERY 1000
#define TR_DEAD_FRAMES 4

typedef struct s_type {
    const ProtobufCMessageDescriptor *desc;
    size_t name_len;
    tr_handler fn;
} s_type;

typedef struct s_letter {
    tr_dead_letter pub;
    unsigned char *data[TR_DEAD_FRAMES];
} s_letter;

struct tr_registry {
    s_type *types;
    int ntypes, captypes;
    const ProtobufCAllocator *alloc;
    tr_registry_stats stats;
    uint64_t refused;
    s_letter *letters; /* a ring of keep entries */
    int keep, nletters, first;
    /* tr_registry_feed: the message being received frame by frame. */
    int feed_frames;
    unsigned char *feed_hdr;
    size_t feed_hlen, feed_hcap;
};

static _Atomic uint64_t s_next_id = 1;

uint64_t tr__codec_next_id(void)
{
    return atomic_fetch_add_explicit(&s_next_id, 1, memory_order_relaxed);
}

int tr_registry_new(tr_registry **out)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = calloc(1, sizeof **out);
    return *out == NULL ? TR_ENOMEM : TR_OK;
}

static void s_letter_free(s_letter *l)
{
    for (int k = 0; k < TR_DEAD_FRAMES; k++)
        free(l->data[k]);
    memset(l, 0, sizeof *l);
}

void tr_registry_clear_dead_letters(tr_registry *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < r->keep; i++)
        s_letter_free(&r->letters[i]);
    r->nletters = 0;
    r->first = 0;
}

void tr_registry_destroy(tr_registry **rp)
{
    if (rp == NULL || *rp == NULL)
        return;
    tr_registry *r = *rp;
    *rp = NULL;
    tr_registry_clear_dead_letters(r);
    free(r->letters);
    free(r->types);
    free(r->feed_hdr);
    free(r);
}

int tr_registry_add(tr_registry *r, const ProtobufCMessageDescriptor *type, tr_handler fn)
{
    if (r == NULL || type == NULL || type->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC ||
        type->name == NULL)
        return TR_EINVAL;
    size_t len = strlen(type->name);
    for (int i = 0; i < r->ntypes; i++) {
        if (r->types[i].desc == type ||
            (r->types[i].name_len == len && memcmp(r->types[i].desc->name, type->name, len) == 0)) {
            r->types[i].desc = type;
            r->types[i].fn = fn;
            return TR_OK;
        }
    }
    if (r->ntypes == r->captypes) {
        int cap = r->captypes ? r->captypes * 2 : 8;
        s_type *grown = realloc(r->types, (size_t)cap * sizeof *grown);
        if (grown == NULL)
            return TR_ENOMEM;
        r->types = grown;
        r->captypes = cap;
    }
    r->types[r->ntypes++] = (s_type){.desc = type, .name_len = len, .fn = fn};
    return TR_OK;
}

static const s_type *s_find(const tr_registry *r, const char *name, size_t len)
{
    for (int i = 0; i < r->ntypes; i++)
        if (r->types[i].name_len == len && memcmp(r->types[i].desc->name, name, len) == 0)
            return &r->types[i];
    return NULL;
}

const ProtobufCMessageDescriptor *tr_registry_find(const tr_registry *r, const char *name,
                                                   size_t len)
{
    if (r == NULL || name == NULL)
        return NULL;
    const s_type *t = s_find(r, name, len);
    return t ? t->desc : NULL;
}

int tr_registry_set_allocator(tr_registry *r, const ProtobufCAllocator *alloc)
{
    if (r == NULL)
        return TR_EINVAL;
    r->alloc = alloc;
    return TR_OK;
}

const ProtobufCAllocator *tr__registry_allocator(const tr_registry *r)
{
    return r->alloc;
}

int tr_registry_keep_dead_letters(tr_registry *r, int n)
{
    if (r == NULL || n < 0)
        return TR_EINVAL;
    s_letter *letters = n > 0 ? calloc((size_t)n, sizeof *letters) : NULL;
    if (n > 0 && letters == NULL)
        return TR_ENOMEM;
    tr_registry_clear_dead_letters(r);
    free(r->letters);
    r->letters = letters;
    r->keep = n;
    return TR_OK;
}

int tr_registry_dead_letters(const tr_registry *r)
{
    return r ? r->nletters : 0;
}

const tr_dead_letter *tr_registry_dead_letter(const tr_registry *r, int i)
{
    if (r == NULL || i < 0 || i >= r->nletters)
        return NULL;
    return &r->letters[(r->first + i) % r->keep].pub;
}

void tr_registry_stats_get(const tr_registry *r, tr_registry_stats *out)
{
    if (out == NULL)
        return;
    if (r == NULL)
        memset(out, 0, sizeof *out);
    else
        *out = r->stats;
}

void tr__registry_decoded(tr_registry *r)
{
    r->stats.decoded++;
}

static void s_keep(tr_registry *r, int reason, int nframes, int nkept,
                   const void *const *frames, const size_t *sizes)
{
    if (r->keep == 0)
        return;
    int slot;
    if (r->nletters < r->keep) {
        slot = (r->first + r->nletters++) % r->keep;
    } else {
        slot = r->first; /* the oldest goes */
        r->first = (r->first + 1) % r->keep;
    }
    s_letter *l = &r->letters[slot];
    s_letter_free(l);
    l->pub.reason = reason;
    l->pub.nframes = nframes;
    for (int k = 0; k < nkept && k < TR_DEAD_FRAMES; k++) {
        /* One byte more, so that an empty frame still has a buffer. */
        l->data[k] = malloc(sizes[k] + 1);
        if (l->data[k] == NULL)
            break; /* keep what fitted: dead letters are best effort */
        if (sizes[k] > 0)
            memcpy(l->data[k], frames[k], sizes[k]);
        l->pub.size[k] = sizes[k];
        l->pub.frame[k] = l->data[k];
    }
}

void tr__registry_refused(tr_registry *r, int reason, const char *where, int nframes, int nkept,
                          const void *const *frames, const size_t *sizes)
{
    switch (reason) {
    case TR_EFRAMES: r->stats.frames++; break;
    case TR_EVERSION: r->stats.version++; break;
    case TR_ETYPE: r->stats.type++; break;
    case TR_EDECODE: r->stats.decode++; break;
    case TR_ETOOBIG: r->stats.toobig++; break;
    default: break;
    }
    r->refused++;
    if (r->refused <= TR_LOG_FIRST || r->refused % TR_LOG_EVERY == 0) {
        /* Name the type when the envelope said one: it is what a reader
         * needs to find the sender. */
        tr__envelope_view v = {0};
        if (nkept >= 1)
            tr__envelope_parse(frames[0], sizes[0], &v);
        tr_log(TR_LOG_WARN, "TR-CODEC-REJECT",
               "%s: refused a message: %s (%d frames, %zu bytes first, type \"%.*s\")%s", where,
               tr_strerror(reason), nframes, nkept >= 1 ? sizes[0] : 0,
               (int)(v.type_len > 80 ? 80 : v.type_len), v.type ? v.type : "",
               r->refused == TR_LOG_FIRST ? "; further refusals logged one in 1000" : "");
    }
    s_keep(r, reason, nframes, nkept, frames, sizes);
}

int tr_registry_dispatch(tr_registry *r, void *state, const tr_typed *t)
{
    if (r == NULL || t == NULL || t->msg == NULL || t->env.type == NULL)
        return TR_EINVAL;
    const s_type *ty = s_find(r, t->env.type->name, strlen(t->env.type->name));
    if (ty == NULL || ty->fn == NULL) {
        r->stats.unhandled++;
        return TR_ESTATE;
    }
    return ty->fn(state, &t->env, t->msg);
}

/* ---- tr_registry_feed ---------------------------------------------------------- */

int tr_registry_feed(tr_registry *r, void *state, tr_msg *frame)
{
    if (r == NULL || frame == NULL)
        return TR_CONTINUE;
    const void *data = tr_msg_data(frame);
    size_t size = tr_msg_size(frame);
    bool more = tr_msg_more(frame);
    int n = ++r->feed_frames;
    if (n == 1 && more) {
        /* The envelope: kept until the payload comes. */
        if (size > r->feed_hcap) {
            unsigned char *grown = realloc(r->feed_hdr, size);
            if (grown == NULL) {
                r->feed_hlen = 0; /* refused below, as too big to hold */
            } else {
                r->feed_hdr = grown;
                r->feed_hcap = size;
            }
        }
        if (size <= r->feed_hcap) {
            if (size > 0)
                memcpy(r->feed_hdr, data, size);
            r->feed_hlen = size;
        }
        return TR_CONTINUE;
    }
    if (more)
        return TR_CONTINUE; /* a third frame or later: refused at the end */
    r->feed_frames = 0;
    const void *frames[2] = {r->feed_hdr, data};
    size_t sizes[2] = {r->feed_hlen, size};
    if (n != 2) {
        if (n == 1) {
            frames[0] = data;
            sizes[0] = size;
        }
        tr__registry_refused(r, TR_EFRAMES, tr_self_name(), n, n == 1 ? 1 : 2, frames, sizes);
        return TR_CONTINUE;
    }
    tr_typed t;
    int rc = tr_codec_decode(r, r->feed_hdr, r->feed_hlen, data, size, &t);
    if (rc != TR_OK) {
        tr__registry_refused(r, rc, tr_self_name(), 2, 2, frames, sizes);
        return TR_CONTINUE;
    }
    r->stats.decoded++;
    rc = tr_registry_dispatch(r, state, &t);
    tr_typed_release(&t);
    return rc == TR_STOP ? TR_STOP : TR_CONTINUE;
}
