/* sock.c: every troupe send and receive goes through here, so timeouts and
 * result codes mean the same thing everywhere.
 *
 * The fast path is one non-blocking call; only when it would block do we
 * zmq_poll for the rest of the timeout. That avoids a setsockopt of
 * ZMQ_SNDTIMEO / ZMQ_RCVTIMEO per call and keeps a busy queue at the cost of
 * a plain zmq_send / zmq_msg_recv. */
#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "core/internal.h"
#include "troupe/error.h"
#include "troupe/msg.h"
#include "troupe/sys.h"

int tr__sock_wait(void *sock, short events, long long deadline_ms)
{
    zmq_pollitem_t item = {.socket = sock, .events = events};
    for (;;) {
        int left = tr__remaining_ms(deadline_ms);
        int n = zmq_poll(&item, 1, left);
        if (n > 0)
            return 1;
        if (n == 0) {
            if (deadline_ms >= 0 && tr__remaining_ms(deadline_ms) == 0)
                return 0;
            continue; /* woke early: ZMQ_FD edge without a message */
        }
        if (errno != EINTR)
            return -1;
    }
}

static int s_map_errno(int err, int would_block_code)
{
    switch (err) {
    case EAGAIN:
        return would_block_code;
    case ETERM:
    case ENOTSOCK:
        return TR_ECLOSED;
    case EMSGSIZE:
        return TR_ETOOBIG;
    default:
        errno = err;
        return TR_ESYSTEM;
    }
}

int tr__sock_send_msg(void *sock, struct tr_msg *msg, int flags, int timeout_ms)
{
    /* The size limit is the caller's to check, on the user's bytes: a frame
     * may carry troupe's header byte on top. */
    zmq_msg_t *m = &((tr__msg *)msg)->zmsg;
    long long deadline = -2;
    for (;;) {
        if (zmq_msg_send(m, sock, flags | ZMQ_DONTWAIT) >= 0)
            return TR_OK;
        int err = errno;
        if (err == EINTR)
            continue;
        if (err != EAGAIN || timeout_ms == 0)
            return s_map_errno(err, TR_EFULL);
        if (deadline == -2)
            deadline = tr__deadline_ms(timeout_ms);
        int r = tr__sock_wait(sock, ZMQ_POLLOUT, deadline);
        if (r == 0)
            return TR_EFULL;
        if (r < 0)
            return s_map_errno(errno, TR_EFULL);
    }
}

int tr__sock_send(void *sock, const void *data, size_t size, int flags, int timeout_ms)
{
    if (size > tr_sys_max_msg_size())
        return TR_ETOOBIG;
    /* zmq_send does exactly this copy inside; doing it here lets the timeout
     * loop live in one place. */
    tr__msg tm = {.skip = 0};
    if (zmq_msg_init_size(&tm.zmsg, size) != 0)
        return TR_ENOMEM;
    if (size > 0)
        memcpy(zmq_msg_data(&tm.zmsg), data, size);
    int rc = tr__sock_send_msg(sock, (struct tr_msg *)&tm, flags, timeout_ms);
    zmq_msg_close(&tm.zmsg);
    return rc;
}

int tr__sock_recv(void *sock, struct tr_msg *msg, int timeout_ms)
{
    tr__msg *tm = (tr__msg *)msg;
    zmq_msg_t *m = &tm->zmsg;
    zmq_msg_init(m);
    tm->skip = 0;
    tm->cut = 0;
    tm->more = 0;
    long long deadline = -2;
    for (;;) {
        if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) >= 0)
            return TR_OK;
        int err = errno;
        if (err == EINTR)
            continue;
        if (err != EAGAIN || timeout_ms == 0)
            return s_map_errno(err, TR_EEMPTY);
        if (deadline == -2)
            deadline = tr__deadline_ms(timeout_ms);
        int r = tr__sock_wait(sock, ZMQ_POLLIN, deadline);
        if (r == 0)
            return TR_EEMPTY;
        if (r < 0)
            return s_map_errno(errno, TR_EEMPTY);
    }
}

int tr__frames_check(const struct iovec *frames, int n)
{
    if (frames == NULL || n < 1)
        return TR_EINVAL;
    size_t total = 0;
    for (int k = 0; k < n; k++) {
        if (frames[k].iov_base == NULL && frames[k].iov_len > 0)
            return TR_EINVAL;
        total += frames[k].iov_len;
    }
    return total > tr_sys_max_msg_size() ? TR_ETOOBIG : TR_OK;
}

int tr__frame_init(zmq_msg_t *m, int kind, const void *data, size_t size)
{
    if (zmq_msg_init_size(m, size + 1) != 0)
        return TR_ENOMEM;
    unsigned char *p = zmq_msg_data(m);
    p[0] = (unsigned char)kind;
    if (size > 0)
        memcpy(p + 1, data, size);
    return TR_OK;
}
