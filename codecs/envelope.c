/* envelope.c: the envelope frame of a typed message, and tr_codec_encode /
 * tr_codec_decode.
 *
 * The envelope is a troupe.Envelope protobuf message (codecs/envelope.proto),
 * so that any protobuf implementation reads and writes it. troupe encodes
 * and parses it by hand rather than through protobuf-c: it is five scalar
 * fields, and the hand-written parser allocates nothing and points into the
 * frame, where protobuf-c's would allocate the two strings for every
 * message. codec_test.c checks both directions against protobuf-c's
 * generated code.
 */
#include <string.h>

#include "codecs/codec_internal.h"
#include "troupe/codec.h"

enum { /* field numbers of troupe.Envelope */
    F_VERSION = 1,
    F_TYPE = 2,
    F_ID = 3,
    F_SENDER = 4,
    F_FLAGS = 5,
};

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static size_t s_put_varint(unsigned char *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (unsigned char)v;
    return n;
}

static size_t s_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t tr__envelope_size(size_t type_len, size_t sender_len, uint64_t id, uint32_t flags)
{
    return 2 + 1 + s_varint_len(type_len) + type_len + 1 + s_varint_len(id) +
           (sender_len > 0 ? 1 + s_varint_len(sender_len) + sender_len : 0) +
           (flags != 0 ? 1 + s_varint_len(flags) : 0);
}

size_t tr__envelope_write(unsigned char *out, const char *type, size_t type_len, uint64_t id,
                          const char *sender, size_t sender_len, uint32_t flags)
{
    size_t n = 0;
    out[n++] = F_VERSION << 3 | WT_VARINT;
    out[n++] = TR_CODEC_VERSION;
    out[n++] = F_TYPE << 3 | WT_LEN;
    n += s_put_varint(out + n, type_len);
    memcpy(out + n, type, type_len);
    n += type_len;
    out[n++] = F_ID << 3 | WT_VARINT;
    n += s_put_varint(out + n, id);
    if (sender_len > 0) {
        out[n++] = F_SENDER << 3 | WT_LEN;
        n += s_put_varint(out + n, sender_len);
        memcpy(out + n, sender, sender_len);
        n += sender_len;
    }
    if (flags != 0) {
        out[n++] = F_FLAGS << 3 | WT_VARINT;
        n += s_put_varint(out + n, flags);
    }
    return n;
}

/* Reads a varint at *pos; false when it runs past end or over 10 bytes. */
static bool s_get_varint(const unsigned char *b, size_t end, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 70 && *pos < end; shift += 7) {
        unsigned char c = b[(*pos)++];
        r |= (uint64_t)(c & 0x7f) << shift;
        if ((c & 0x80) == 0) {
            *v = r;
            return true;
        }
    }
    return false;
}

int tr__envelope_parse(const void *frame, size_t size, tr__envelope_view *out)
{
    const unsigned char *b = frame;
    size_t pos = 0;
    memset(out, 0, sizeof *out);
    while (pos < size) {
        uint64_t key, v;
        if (!s_get_varint(b, size, &pos, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
            return TR_EVERSION;
        unsigned field = (unsigned)(key >> 3), wt = (unsigned)(key & 7);
        switch (wt) {
        case WT_VARINT:
            if (!s_get_varint(b, size, &pos, &v))
                return TR_EVERSION;
            if (field == F_VERSION)
                out->version = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
            else if (field == F_ID)
                out->id = v;
            else if (field == F_FLAGS)
                out->flags = (uint32_t)v; /* uint32 fields truncate, as protobuf does */
            else if (field == F_TYPE || field == F_SENDER)
                return TR_EVERSION; /* a known field with the wrong wire type */
            break;
        case WT_LEN:
            if (!s_get_varint(b, size, &pos, &v) || v > size - pos)
                return TR_EVERSION;
            if (field == F_TYPE) {
                out->type = (const char *)b + pos;
                out->type_len = (size_t)v;
            } else if (field == F_SENDER) {
                out->sender = (const char *)b + pos;
                out->sender_len = (size_t)v;
            } else if (field == F_VERSION || field == F_ID || field == F_FLAGS) {
                return TR_EVERSION;
            }
            pos += (size_t)v;
            break;
        case WT_I64:
        case WT_I32: {
            /* Unknown fields are skipped, as protobuf does, so that a later
             * version may add some. */
            size_t len = wt == WT_I64 ? 8 : 4;
            if (field <= F_FLAGS || len > size - pos)
                return TR_EVERSION;
            pos += len;
            break;
        }
        default: /* groups, and wire types that do not exist */
            return TR_EVERSION;
        }
    }
    if (out->version != TR_CODEC_VERSION || out->type_len == 0 ||
        out->sender_len > TR_CODEC_SENDER_MAX)
        return TR_EVERSION;
    return TR_OK;
}

int tr_codec_encode(const ProtobufCMessage *msg, uint32_t flags, void *buf, size_t cap,
                    size_t *hlen, size_t *plen)
{
    if (msg == NULL || msg->descriptor == NULL || hlen == NULL || plen == NULL ||
        (buf == NULL && cap > 0))
        return TR_EINVAL;
    const char *type = msg->descriptor->name;
    const char *sender = tr_self_name();
    size_t tl = strlen(type), sl = strlen(sender);
    if (sl > TR_CODEC_SENDER_MAX)
        sl = 0; /* names are at most 64 bytes; an envelope carries 63 */
    *plen = protobuf_c_message_get_packed_size(msg);
    /* Sized with the longest id: the id is drawn only when the message is
     * written, and a later id can take a byte more, so a buffer sized from
     * a failed call must fit whatever id comes next. */
    *hlen = tr__envelope_size(tl, sl, UINT64_MAX, flags);
    if (*plen > tr_sys_max_msg_size() || *hlen + *plen > cap)
        return TR_ETOOBIG;
    *hlen = tr__envelope_write(buf, type, tl, tr__codec_next_id(), sender, sl, flags);
    protobuf_c_message_pack(msg, (uint8_t *)buf + *hlen);
    return TR_OK;
}

int tr_codec_decode(tr_registry *r, const void *hdr, size_t hlen, const void *payload,
                    size_t plen, tr_typed *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (r == NULL || out == NULL || (hdr == NULL && hlen > 0) || (payload == NULL && plen > 0))
        return TR_EINVAL;
    if (hlen > tr_sys_max_msg_size() || plen > tr_sys_max_msg_size())
        return TR_ETOOBIG;
    tr__envelope_view v;
    int rc = tr__envelope_parse(hdr, hlen, &v);
    if (rc != TR_OK)
        return rc;
    const ProtobufCMessageDescriptor *d = tr_registry_find(r, v.type, v.type_len);
    if (d == NULL)
        return TR_ETYPE;
    const ProtobufCAllocator *alloc = tr__registry_allocator(r);
    /* protobuf-c takes the allocator by non-const pointer but does not
     * write to it. */
    ProtobufCMessage *m =
        protobuf_c_message_unpack(d, (ProtobufCAllocator *)(uintptr_t)alloc, plen, payload);
    if (m == NULL)
        return TR_EDECODE;
    out->env.version = v.version;
    out->env.type = d;
    out->env.id = v.id;
    if (v.sender_len > 0) /* an absent sender has no pointer to copy from */
        memcpy(out->env.sender, v.sender, v.sender_len);
    out->env.sender[v.sender_len] = '\0';
    out->env.flags = v.flags;
    out->msg = m;
    out->alloc = alloc;
    return TR_OK;
}

void tr_typed_release(tr_typed *t)
{
    if (t == NULL)
        return;
    if (t->msg != NULL)
        protobuf_c_message_free_unpacked(t->msg, (ProtobufCAllocator *)(uintptr_t)t->alloc);
    memset(t, 0, sizeof *t);
}
