/* codecs/codec_internal.h: what the codec's files share. Not API. */
#ifndef TROUPE_CODECS_CODEC_INTERNAL_H
#define TROUPE_CODECS_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/codec.h"

/* An envelope as parsed: the strings point into the frame. */
typedef struct tr__envelope_view {
    uint32_t version;
    const char *type;
    size_t type_len;
    uint64_t id;
    const char *sender;
    size_t sender_len;
    uint32_t flags;
} tr__envelope_view;

/* envelope.c */
/* The envelope's exact size for these fields. */
size_t tr__envelope_size(size_t type_len, size_t sender_len, uint64_t id, uint32_t flags);
size_t tr__envelope_write(unsigned char *out, const char *type, size_t type_len, uint64_t id,
                          const char *sender, size_t sender_len, uint32_t flags);
/* TR_OK, or TR_EVERSION for anything that is not a version-1 envelope. */
int tr__envelope_parse(const void *frame, size_t size, tr__envelope_view *out);

/* registry.c */
uint64_t tr__codec_next_id(void);
const ProtobufCAllocator *tr__registry_allocator(const tr_registry *r);
/* Counts, logs and (if r keeps them) stores a refused message of nframes
 * frames, of which the first nkept are in frames/sizes; `where` names the
 * mailbox for the log line. */
void tr__registry_refused(tr_registry *r, int reason, const char *where, int nframes, int nkept,
                          const void *const *frames, const size_t *sizes);
void tr__registry_decoded(tr_registry *r);

#endif
