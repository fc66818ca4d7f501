/* codec.c: typed messages over queues, pipes and actor mailboxes.
 *
 * Sending encodes the envelope and the payload into one buffer (on the
 * stack up to TR_STACK_BYTES, so a small message costs no allocation here)
 * and hands the transport two frames. Receiving takes one whole message off
 * the transport, frame by frame, whatever it holds: a message that is not
 * two frames, or does not decode, is refused after it has been taken off
 * whole, so that the next receive starts at the next message.
 */
#include <stdlib.h>
#include <string.h>

#include "codecs/codec_internal.h"
#include "core/internal.h"
#include "troupe/codec.h"

#define TR_STACK_BYTES 2048

/* ---- sending ---------------------------------------------------------------- */

typedef int (*s_sendv_fn)(void *to, const struct iovec *frames, int n, int timeout_ms);

static int s_send(void *to, s_sendv_fn sendv, const ProtobufCMessage *msg, int timeout_ms)
{
    if (to == NULL || msg == NULL || msg->descriptor == NULL)
        return TR_EINVAL;
    unsigned char stack[TR_STACK_BYTES];
    size_t hlen, plen;
    int rc = tr_codec_encode(msg, 0, stack, sizeof stack, &hlen, &plen);
    unsigned char *buf = stack;
    if (rc == TR_ETOOBIG && hlen > 0) {
        /* Bigger than the stack buffer (the sizes are set): allocate. */
        if ((buf = malloc(hlen + plen)) == NULL)
            return TR_ENOMEM;
        rc = tr_codec_encode(msg, 0, buf, hlen + plen, &hlen, &plen);
    }
    if (rc == TR_OK) {
        struct iovec v[2] = {{buf, hlen}, {buf + hlen, plen}};
        rc = sendv(to, v, 2, timeout_ms);
    }
    if (buf != stack)
        free(buf);
    return rc;
}

static int s_queue_sendv(void *to, const struct iovec *frames, int n, int timeout_ms)
{
    return tr_queue_putv(to, frames, n, timeout_ms);
}

static int s_pipe_sendv(void *to, const struct iovec *frames, int n, int timeout_ms)
{
    return tr_pipe_sendv(to, frames, n, timeout_ms);
}

static int s_actor_sendv(void *to, const struct iovec *frames, int n, int timeout_ms)
{
    return tr_actor_sendv(to, frames, n, timeout_ms);
}

int tr_codec_put(tr_queue *q, const ProtobufCMessage *msg, int timeout_ms)
{
    return s_send(q, s_queue_sendv, msg, timeout_ms);
}

int tr_codec_pipe_send(tr_pipe *end, const ProtobufCMessage *msg, int timeout_ms)
{
    return s_send(end, s_pipe_sendv, msg, timeout_ms);
}

int tr_codec_actor_send(tr_actor *a, const ProtobufCMessage *msg, int timeout_ms)
{
    return s_send(a, s_actor_sendv, msg, timeout_ms);
}

/* ---- receiving --------------------------------------------------------------- */

typedef int (*s_recv_fn)(void *from, tr_msg *frame, int timeout_ms);

static int s_queue_recv(void *from, tr_msg *frame, int timeout_ms)
{
    return tr_queue_get(from, frame, timeout_ms);
}

static int s_pipe_recv(void *from, tr_msg *frame, int timeout_ms)
{
    return tr_pipe_recv(from, frame, timeout_ms);
}

static int s_self_recv(void *from, tr_msg *frame, int timeout_ms)
{
    (void)from;
    return tr_self_recv(frame, timeout_ms);
}

/* Receives one whole message and decodes it. The frames after the first
 * are already there (ZeroMQ delivers messages whole), so only the first
 * receive waits. `count` counts a refusal in the mailbox's own counter. */
static int s_recv(void *from, s_recv_fn recv, const char *where, void (*count)(void *),
                  tr_registry *r, tr_typed *out, int timeout_ms)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (r == NULL || out == NULL)
        return TR_EINVAL;
    tr_msg f[2];
    int rc = recv(from, &f[0], timeout_ms);
    if (rc != TR_OK)
        return rc;
    int n = 1;
    bool more = tr_msg_more(&f[0]);
    if (more) {
        rc = recv(from, &f[1], 0);
        if (rc != TR_OK) {
            tr_msg_close(&f[0]);
            return rc;
        }
        n = 2;
        more = tr_msg_more(&f[1]);
    }
    /* Frames beyond the second are counted and dropped. */
    int extra = 0;
    while (more) {
        tr_msg x;
        if (recv(from, &x, 0) != TR_OK)
            break;
        more = tr_msg_more(&x);
        tr_msg_close(&x);
        extra++;
    }
    const void *frames[2] = {tr_msg_data(&f[0]), n == 2 ? tr_msg_data(&f[1]) : NULL};
    size_t sizes[2] = {tr_msg_size(&f[0]), n == 2 ? tr_msg_size(&f[1]) : 0};
    if (n != 2 || extra > 0)
        rc = TR_EFRAMES;
    else
        rc = tr_codec_decode(r, frames[0], sizes[0], frames[1], sizes[1], out);
    if (rc == TR_OK) {
        tr__registry_decoded(r);
    } else {
        tr__registry_refused(r, rc, where, n + extra, n, frames, sizes);
        if (count != NULL)
            count(from);
    }
    for (int k = 0; k < n; k++)
        tr_msg_close(&f[k]);
    return rc;
}

static void s_queue_count(void *q)
{
    tr__queue_count_rejected(q);
}

static void s_pipe_count(void *end)
{
    tr__pipe_count_rejected(end);
}

int tr_codec_get(tr_queue *q, tr_registry *r, tr_typed *out, int timeout_ms)
{
    if (q == NULL) {
        if (out != NULL)
            memset(out, 0, sizeof *out);
        return TR_EINVAL;
    }
    return s_recv(q, s_queue_recv, tr_queue_address(q), s_queue_count, r, out, timeout_ms);
}

int tr_codec_pipe_recv(tr_pipe *end, tr_registry *r, tr_typed *out, int timeout_ms)
{
    if (end == NULL) {
        if (out != NULL)
            memset(out, 0, sizeof *out);
        return TR_EINVAL;
    }
    return s_recv(end, s_pipe_recv, tr_pipe_address(end), s_pipe_count, r, out, timeout_ms);
}

int tr_codec_self_recv(tr_registry *r, tr_typed *out, int timeout_ms)
{
    return s_recv(NULL, s_self_recv, tr_self_name(), NULL, r, out, timeout_ms);
}
