/* work_wire.c: reading and writing the frames of docs/work-protocol.md.
 * Integers are little-endian whatever the host; a reader never reads past
 * its frame (a short frame marks it bad instead), which is all the
 * validation the parsers above need to refuse a frame without crashing. */
#include <stdlib.h>
#include <string.h>

#include "actors/work_internal.h"
#include "core/internal.h"
#include "troupe/troupe.h"

static void s_grow(tr__wbuf *b, size_t more)
{
    if (b->oom || b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

void tr__wbuf_reset(tr__wbuf *b, int command)
{
    b->len = 0;
    b->oom = false;
    tr__wbuf_bytes(b, "TW", 2);
    tr__wbuf_u8(b, TR__WORK_VERSION);
    tr__wbuf_u8(b, (uint8_t)command);
}

void tr__wbuf_free(tr__wbuf *b)
{
    free(b->p);
    *b = (tr__wbuf){0};
}

void tr__wbuf_bytes(tr__wbuf *b, const void *p, size_t n)
{
    s_grow(b, n);
    if (b->oom)
        return;
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

void tr__wbuf_u8(tr__wbuf *b, uint8_t v)
{
    tr__wbuf_bytes(b, &v, 1);
}

void tr__wbuf_u32(tr__wbuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    tr__wbuf_bytes(b, x, 4);
}

void tr__wbuf_u64(tr__wbuf *b, uint64_t v)
{
    tr__wbuf_u32(b, (uint32_t)v);
    tr__wbuf_u32(b, (uint32_t)(v >> 32));
}

void tr__wbuf_put_u32_at(tr__wbuf *b, size_t off, uint32_t v)
{
    if (b->oom || off + 4 > b->len)
        return;
    b->p[off] = (uint8_t)v;
    b->p[off + 1] = (uint8_t)(v >> 8);
    b->p[off + 2] = (uint8_t)(v >> 16);
    b->p[off + 3] = (uint8_t)(v >> 24);
}

int tr__rbuf_open(tr__rbuf *r, const void *data, size_t len)
{
    *r = (tr__rbuf){.p = data, .len = len};
    if (len < TR__WORK_HDR || r->p[0] != 'T' || r->p[1] != 'W' ||
        r->p[2] != TR__WORK_VERSION || r->p[3] == 0 || r->p[3] >= TR__W_COMMANDS_) {
        r->bad = true;
        return 0;
    }
    r->off = TR__WORK_HDR;
    return r->p[3];
}

const uint8_t *tr__rbuf_bytes(tr__rbuf *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t tr__rbuf_u8(tr__rbuf *r)
{
    const uint8_t *p = tr__rbuf_bytes(r, 1);
    return p ? p[0] : 0;
}

uint32_t tr__rbuf_u32(tr__rbuf *r)
{
    const uint8_t *p = tr__rbuf_bytes(r, 4);
    if (p == NULL)
        return 0;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t tr__rbuf_u64(tr__rbuf *r)
{
    uint64_t lo = tr__rbuf_u32(r);
    return lo | (uint64_t)tr__rbuf_u32(r) << 32;
}

uint32_t tr__rbuf_count(tr__rbuf *r, size_t min)
{
    uint32_t n = tr__rbuf_u32(r);
    /* Refuses a count the frame cannot hold before anyone allocates for it. */
    if (!r->bad && min > 0 && n > (r->len - r->off) / min)
        r->bad = true;
    return r->bad ? 0 : n;
}

const char *tr__work_command_name(int command)
{
    static const char *const names[TR__W_COMMANDS_] = {
        [TR__W_HELLO] = "HELLO",         [TR__W_WELCOME] = "WELCOME",
        [TR__W_RESET] = "RESET",         [TR__W_HEARTBEAT] = "HEARTBEAT",
        [TR__W_SUBMIT] = "SUBMIT",       [TR__W_ACK] = "ACK",
        [TR__W_TASKS] = "TASKS",         [TR__W_DONE] = "DONE",
        [TR__W_RESULTS] = "RESULTS",     [TR__W_RESULT_ACK] = "RESULT_ACK",
        [TR__W_BYE] = "BYE",             [TR__W_STATS_REQ] = "STATS_REQ",
        [TR__W_STATS] = "STATS",         [TR__W_DEAD_REQ] = "DEAD_REQ",
        [TR__W_DEAD_LIST] = "DEAD_LIST", [TR__W_CREDIT] = "CREDIT",
    };
    if (command <= 0 || command >= TR__W_COMMANDS_)
        return "?";
    return names[command];
}

int tr__work_endpoint(const char *broker, char *buf, size_t len)
{
    if (broker == NULL || buf == NULL)
        return TR_EINVAL;
    if (strstr(broker, "://") != NULL) {
        if (strlen(broker) >= len)
            return TR_ETOOBIG;
        strcpy(buf, broker);
        return TR_OK;
    }
    if (!tr_name_valid(broker))
        return TR_EINVAL;
    return tr_sys_address(broker, buf, len);
}

void tr__work_msg_slice(tr_msg *out, zmq_msg_t *frame, const uint8_t *data, size_t len)
{
    tr_msg_close(out);
    tr__msg *m = (tr__msg *)out;
    size_t size = zmq_msg_size(frame);
    const uint8_t *base = zmq_msg_data(frame);
    /* A copy shares the frame's buffer (or, for a small frame, copies its
     * bytes): the offsets hold either way. */
    zmq_msg_copy(&m->zmsg, frame);
    m->skip = (unsigned)(data - base);
    m->cut = (unsigned)(size - m->skip - len) & 0x7fffffffu;
    m->more = 0;
}

int tr__work_timing(int *heartbeat_ms, int *timeout_ms)
{
    if (*heartbeat_ms < 0 || *timeout_ms < 0)
        return TR_EINVAL;
    if (*heartbeat_ms == 0)
        *heartbeat_ms = TR__WORK_HEARTBEAT_MS;
    if (*timeout_ms == 0)
        *timeout_ms = TR__WORK_TIMEOUT_MS;
    return *timeout_ms < *heartbeat_ms ? TR_EINVAL : TR_OK;
}

bool tr__work_id_valid(const char *id, size_t n)
{
    if (id == NULL || n == 0 || n > TR__WORK_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}
