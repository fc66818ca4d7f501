/* troupe/codec.h: typed protobuf-c messages over queues, pipes and actor
 * mailboxes, validated on receipt.
 *
 * A typed message travels as two frames: an envelope (format version, the
 * message's protobuf type name, a message id, the sender's name, flags;
 * itself a protobuf message, troupe.Envelope in codecs/envelope.proto) and
 * the payload, the message's standard protobuf encoding. Any protobuf
 * implementation can therefore read and write them; docs/wire-format.md has
 * the details and docs/codecs.md the guide.
 *
 * The receiving side knows message types through a registry: the types it
 * accepts, optionally a handler per type (dispatch), counters of what it
 * refused, and a bounded store of refused messages (dead letters). Anything
 * that is not a valid message of a registered type is refused with its own
 * result code, logged, counted, and leaves the mailbox ready for the next
 * message.
 *
 * Ownership: a received message (tr_typed) owns its decoded protobuf-c
 * message until tr_typed_release. Sending never takes ownership of the
 * message passed in. A registry is used by one thread at a time.
 */
#ifndef TROUPE_CODEC_H
#define TROUPE_CODEC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/troupe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The envelope format version this library writes and reads. */
#define TR_CODEC_VERSION 1

/* The longest sender name an envelope carries (longer ones are refused). */
#define TR_CODEC_SENDER_MAX 63

typedef struct tr_registry tr_registry;

/* What the envelope of a received message said. */
typedef struct tr_envelope {
    uint32_t version;                     /* TR_CODEC_VERSION */
    const ProtobufCMessageDescriptor *type; /* the registered type */
    uint64_t id;                          /* the sender's id for the message */
    char sender[TR_CODEC_SENDER_MAX + 1]; /* the sender's name, or "" */
    uint32_t flags;                       /* the sender's flags (opaque here) */
} tr_envelope;

/* A received, decoded message. Public fields, read-only. */
typedef struct tr_typed {
    tr_envelope env;
    ProtobufCMessage *msg; /* cast to the type env.type names */
    const ProtobufCAllocator *alloc; /* private: what msg was made with */
} tr_typed;

/* tr_typed_release frees t->msg (with the allocator it was decoded with)
 * and clears t. Harmless on a cleared or zeroed tr_typed. */
void tr_typed_release(tr_typed *t);

/* ---- registry ------------------------------------------------------------ */

/* tr_registry_new makes an empty registry; *out is the caller's, freed with
 * tr_registry_destroy. Errors: TR_EINVAL (NULL out), TR_ENOMEM. */
int tr_registry_new(tr_registry **out);

/* tr_registry_destroy frees the registry, its dead letters included, and
 * sets *r to NULL; NULL is fine. */
void tr_registry_destroy(tr_registry **r);

/* A handler for one message type: state is what tr_registry_dispatch or
 * tr_registry_feed was given; msg is valid during the call only. Returns
 * TR_CONTINUE or TR_STOP, as a behaviour's handle does. */
typedef int (*tr_handler)(void *state, const tr_envelope *env, const ProtobufCMessage *msg);

/* tr_registry_add makes type known to the registry, with handler fn (NULL:
 * none; typed gets still receive it). Adding a type again replaces its
 * handler. Errors: TR_EINVAL (NULL r or type, or not a message
 * descriptor), TR_ENOMEM. */
int tr_registry_add(tr_registry *r, const ProtobufCMessageDescriptor *type, tr_handler fn);

/* tr_registry_find returns the registered descriptor of the type whose full
 * protobuf name ("package.Message") is name[0..len), or NULL. */
const ProtobufCMessageDescriptor *tr_registry_find(const tr_registry *r, const char *name,
                                                   size_t len);

/* tr_registry_set_allocator makes decoding use alloc (NULL: protobuf-c's
 * default, malloc). The allocator must outlive every message decoded with
 * it. Errors: TR_EINVAL (NULL r). */
int tr_registry_set_allocator(tr_registry *r, const ProtobufCAllocator *alloc);

/* tr_registry_keep_dead_letters keeps a copy of the last n refused messages
 * (0, the default, keeps none; older ones are dropped first). Errors:
 * TR_EINVAL (NULL r, n < 0), TR_ENOMEM. */
int tr_registry_keep_dead_letters(tr_registry *r, int n);

/* A refused message as kept. Its frames are copied as they arrived (the
 * transport's own header byte removed). */
typedef struct tr_dead_letter {
    int reason;      /* the TR_E... code it was refused with */
    int nframes;     /* frames received (only the first 4 are kept) */
    size_t size[4];  /* of each kept frame */
    const unsigned char *frame[4]; /* owned by the registry */
} tr_dead_letter;

/* tr_registry_dead_letters returns how many refused messages are kept. */
int tr_registry_dead_letters(const tr_registry *r);

/* tr_registry_dead_letter returns the i-th kept message, oldest first, or
 * NULL when i is out of range. Valid until the registry next refuses a
 * message, is cleared or is destroyed. */
const tr_dead_letter *tr_registry_dead_letter(const tr_registry *r, int i);

/* tr_registry_clear_dead_letters forgets every kept message. */
void tr_registry_clear_dead_letters(tr_registry *r);

/* Counters of one registry: everything received through it. */
typedef struct tr_registry_stats {
    uint64_t decoded;   /* valid messages handed out or dispatched */
    uint64_t frames;    /* refused: wrong number of frames (TR_EFRAMES) */
    uint64_t version;   /* refused: bad envelope or version (TR_EVERSION) */
    uint64_t type;      /* refused: unregistered type (TR_ETYPE) */
    uint64_t decode;    /* refused: payload not a valid message (TR_EDECODE) */
    uint64_t toobig;    /* refused: over the size limit (TR_ETOOBIG) */
    uint64_t unhandled; /* valid, but no handler to dispatch to */
} tr_registry_stats;

/* tr_registry_stats_get copies r's counters to *out (zeros for NULL r). */
void tr_registry_stats_get(const tr_registry *r, tr_registry_stats *out);

/* ---- encoding and decoding, for any transport ------------------------------ */

/* tr_codec_encode writes msg's envelope and payload into buf (capacity
 * cap): the envelope at buf, *hlen bytes, then the payload right after it,
 * *plen bytes. With cap too small, nothing is written and the sizes are
 * still set, *hlen to the most the envelope can take, so that a buffer of
 * *hlen + *plen bytes always fits the next call. flags go into
 * the envelope as they are. Errors: TR_EINVAL (NULL argument), TR_ETOOBIG
 * (cap too small, or the payload over tr_sys_max_msg_size). */
int tr_codec_encode(const ProtobufCMessage *msg, uint32_t flags, void *buf, size_t cap,
                    size_t *hlen, size_t *plen);

/* tr_codec_decode checks an envelope and decodes the payload against r into
 * *out (cleared first; release with tr_typed_release). It counts and logs
 * nothing (the receive functions below do). Errors: TR_EVERSION (the
 * envelope is not a valid troupe.Envelope of version 1), TR_ETYPE (its type
 * is not registered), TR_EDECODE (the payload is not a valid message of
 * that type), TR_ETOOBIG (a frame over tr_sys_max_msg_size), TR_EINVAL. */
int tr_codec_decode(tr_registry *r, const void *hdr, size_t hlen, const void *payload,
                    size_t plen, tr_typed *out);

/* ---- queues, pipes, actor mailboxes ---------------------------------------- */

/* tr_codec_put puts msg on queue q as a typed message (see tr_queue_put for
 * blocking and timeouts). Errors: those of tr_codec_encode and
 * tr_queue_putv, TR_ENOMEM. */
int tr_codec_put(tr_queue *q, const ProtobufCMessage *msg, int timeout_ms);

/* tr_codec_get gets the next message from q and decodes it against r into
 * *out (release with tr_typed_release). A message that is not valid is
 * taken off the queue whole, counted (in r's stats and in q's `rejected`),
 * logged (TR-CODEC-REJECT), kept if r keeps dead letters, and reported by
 * its code; the next get returns the next message. Errors: those of
 * tr_queue_get (TR_EEMPTY, TR_ECLOSED, ...), and for a refused message
 * TR_EFRAMES, TR_EVERSION, TR_ETYPE, TR_EDECODE, TR_ETOOBIG. */
int tr_codec_get(tr_queue *q, tr_registry *r, tr_typed *out, int timeout_ms);

/* tr_codec_pipe_send and tr_codec_pipe_recv do the same on a pipe end (see
 * tr_pipe_send and tr_pipe_recv). Errors: as tr_codec_put / tr_codec_get
 * with the pipe's codes. */
int tr_codec_pipe_send(tr_pipe *end, const ProtobufCMessage *msg, int timeout_ms);
int tr_codec_pipe_recv(tr_pipe *end, tr_registry *r, tr_typed *out, int timeout_ms);

/* tr_codec_actor_send sends msg to actor a's mailbox, and tr_codec_self_recv
 * receives one from this actor's own mailbox (see tr_actor_send and
 * tr_self_recv). Errors: as above with the actor's codes. */
int tr_codec_actor_send(tr_actor *a, const ProtobufCMessage *msg, int timeout_ms);
int tr_codec_self_recv(tr_registry *r, tr_typed *out, int timeout_ms);

/* ---- dispatch ------------------------------------------------------------------ */

/* tr_registry_dispatch calls the handler registered for t's type with state
 * and returns what it returns. Errors: TR_EINVAL, TR_ESTATE (no handler for
 * that type; counted as unhandled). */
int tr_registry_dispatch(tr_registry *r, void *state, const tr_typed *t);

/* tr_registry_feed is for a behaviour's handle callback, which receives a
 * message frame by frame: pass every frame; when a message is complete it
 * is decoded and dispatched, and feed returns the handler's TR_CONTINUE or
 * TR_STOP. It returns TR_CONTINUE too while a message is incomplete, and
 * for a refused message (counted, logged and kept as by tr_codec_get), so
 * that bad input never stops the actor. The registry remembers one
 * incomplete message: feed it one mailbox's frames only. */
int tr_registry_feed(tr_registry *r, void *state, tr_msg *frame);

#ifdef __cplusplus
}
#endif
#endif /* TROUPE_CODEC_H */
