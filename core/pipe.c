/* pipe.c: a PAIR socket per end, with troupe's one-byte frame header so that
 * a close can travel in order after the data (docs/wire-format.md).
 *
 * The binding end claims the address with an flock on "<path>.lock" (ipc),
 * so the same end used by two processes is refused instead of silently
 * stealing the socket file, as a second ZeroMQ ipc bind would.
 *
 * A close is confirmed, as a queue's end of stream is: the closing end sends
 * EOS and waits for ACK, which the other end sends when its receive reaches
 * the EOS. Without it, a writer that closes and exits could lose its tail:
 * ZeroMQ's linger only hands data to the kernel, and a reader more than a
 * high-water mark behind would never see the last messages or the close.
 *
 * Death of the other process is seen through a socket monitor: its
 * DISCONNECTED event marks the peer gone, and receive reports TR_ECLOSED once
 * what had already arrived has been read. A PAIR has one peer, so any
 * disconnection means that peer. */
#include "troupe/pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/internal.h"
#include "troupe/error.h"
#include "troupe/sys.h"

struct tr_pipe {
    char address[160];
    bool bind;
    bool can_send, can_recv;
    pid_t pid; /* the process whose socket this is */
    void *sock;
    void *monitor;
    int lockfd;
    pid_t closed_by;  /* the process that closed this end (0: open) */
    bool peer_closed; /* the other end said CLOSE, or vanished */
    bool multipart;   /* in the middle of a received multi-part message */
    bool acked;       /* the other end confirmed our close */
    tr_pipe_stats stats;
    tr_pipe *next, *prev; /* this process's ends, for the exit hook */
};

static tr_pipe *s_pipes;
static unsigned s_counter;

/* At an orderly exit every open end says CLOSE, so its peer is not left
 * waiting; the socket's linger then delivers it with the rest. */
static void s_exit_hook(void)
{
    for (tr_pipe *p = s_pipes; p != NULL; p = p->next)
        if (p->sock != NULL && p->pid == tr__pid() && p->closed_by != tr__pid())
            tr_pipe_close(p, tr_sys_exit_wait_ms());
}

static tr_pipe *s_end(const char *address, bool bind, bool can_send, bool can_recv)
{
    tr_pipe *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    snprintf(p->address, sizeof p->address, "%s", address);
    p->bind = bind;
    p->can_send = can_send;
    p->can_recv = can_recv;
    p->lockfd = -1;
    p->next = s_pipes;
    if (s_pipes != NULL)
        s_pipes->prev = p;
    s_pipes = p;
    return p;
}

int tr_pipe_new(tr_pipe **a, tr_pipe **b, bool duplex)
{
    if (a == NULL || b == NULL)
        return TR_EINVAL;
    *a = *b = NULL;
    const char *dir = tr_sys_run_dir();
    if (dir == NULL)
        return TR_ESYSTEM;
    /* A name that starts with '.' can never be an actor's or a queue's. */
    char address[160];
    snprintf(address, sizeof address, "ipc://%s/.pipe-%d-%u", dir, (int)tr__pid(), s_counter++);
    *a = s_end(address, true, duplex, true);
    *b = s_end(address, false, true, duplex);
    if (*a == NULL || *b == NULL) {
        tr_pipe_destroy(a);
        tr_pipe_destroy(b);
        return TR_ENOMEM;
    }
    return TR_OK;
}

int tr_pipe_open(tr_pipe **end, const char *address, int role)
{
    if (end == NULL)
        return TR_EINVAL;
    *end = NULL;
    if (address == NULL || (role != TR_PIPE_BIND && role != TR_PIPE_CONNECT) ||
        (strncmp(address, "ipc://", 6) != 0 && strncmp(address, "tcp://", 6) != 0) ||
        strlen(address) >= sizeof((tr_pipe *)0)->address)
        return TR_EINVAL;
    *end = s_end(address, role == TR_PIPE_BIND, true, true);
    return *end ? TR_OK : TR_ENOMEM;
}

const char *tr_pipe_address(const tr_pipe *end)
{
    return end ? end->address : NULL;
}

void tr__pipe_count_rejected(tr_pipe *end)
{
    end->stats.rejected++;
}

void tr_pipe_stats_get(const tr_pipe *end, tr_pipe_stats *out)
{
    if (out == NULL)
        return;
    if (end == NULL)
        memset(out, 0, sizeof *out);
    else
        *out = end->stats;
}

static void s_close_sockets(tr_pipe *p)
{
    tr__sys_monitor_stop(p->sock, &p->monitor);
    tr__sys_close(&p->sock);
    if (p->lockfd >= 0)
        close(p->lockfd);
    p->lockfd = -1;
}

/* Claims the ipc address for this process (see the file comment). */
static int s_claim(tr_pipe *p)
{
    if (strncmp(p->address, "ipc://", 6) != 0)
        return TR_OK;
    char lock[sizeof p->address + 8];
    snprintf(lock, sizeof lock, "%s.lock", p->address + 6);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return TR_ESYSTEM;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        tr_log(TR_LOG_WARN, "TR-PIPE-IN-USE", "%s: this end is in use by another process",
               p->address);
        return TR_ESTATE;
    }
    p->lockfd = fd;
    return TR_OK;
}

/* Makes this end's socket in this process on first use. */
static int s_open(tr_pipe *p)
{
    if (p->closed_by == tr__pid())
        return TR_ECLOSED;
    if (p->pid == tr__pid())
        return p->sock != NULL ? TR_OK : TR_ESYSTEM;
    /* A socket inherited through fork is the parent's: forget it. */
    p->sock = p->monitor = NULL;
    p->lockfd = -1;
    p->pid = tr__pid();
    p->peer_closed = p->multipart = p->acked = false;
    memset(&p->stats, 0, sizeof p->stats); /* a forked copy counts afresh */
    int rc = p->bind ? s_claim(p) : TR_OK;
    if (rc != TR_OK) {
        p->pid = 0; /* a later call may try again */
        return rc;
    }
    const char *step = "socket";
    p->sock = tr__sys_socket(ZMQ_PAIR);
    if (p->sock == NULL)
        goto fail;
    int ivl = 10;
    zmq_setsockopt(p->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    /* The limit is on the user's bytes; the wire adds the kind byte. */
    int64_t maxmsg = (int64_t)tr_sys_max_msg_size() + 1;
    zmq_setsockopt(p->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    step = "monitor";
    if ((p->monitor = tr__sys_monitor(p->sock, ZMQ_EVENT_DISCONNECTED)) == NULL)
        goto fail;
    step = p->bind ? "bind" : "connect";
    if ((p->bind ? zmq_bind(p->sock, p->address) : zmq_connect(p->sock, p->address)) != 0)
        goto fail;
    tr__sys_add_exit_hook(TR__EXIT_DELIVER, s_exit_hook);
    return TR_OK;
fail:;
    int e = errno;
    tr_log(TR_LOG_ERROR, "TR-PIPE-OPEN", "%s: %s: %s", p->address, step, zmq_strerror(e));
    s_close_sockets(p);
    p->pid = 0;
    errno = e;
    return TR_ESYSTEM;
}

/* Reads the monitor: a disconnection means the other end is gone. */
static void s_check_monitor(tr_pipe *p)
{
    if (tr__sys_monitor_events(p->monitor) > 0)
        p->peer_closed = true;
}

static int s_try_recv(tr_pipe *p, tr__msg *m);

/* What a sending end learns without receiving data: the other end's death
 * (the monitor) and, on a send-only end, where nothing else can arrive, its
 * close (read from the socket). */
static void s_watch_peer(tr_pipe *p)
{
    s_check_monitor(p);
    if (p->can_recv)
        return;
    tr__msg m = {.skip = 0};
    zmq_msg_init(&m.zmsg);
    while (!p->peer_closed && s_try_recv(p, &m) == TR_OK) {
        zmq_msg_close(&m.zmsg); /* data on a send-only end: counted, dropped */
        zmq_msg_init(&m.zmsg);
        p->stats.rejected++;
    }
    zmq_msg_close(&m.zmsg);
}

/* Sends the first frame, waiting up to timeout_ms for room while watching
 * the other end. */
static int s_send_first(tr_pipe *p, zmq_msg_t *first, int flags, int timeout_ms)
{
    long long deadline = -2;
    for (;;) {
        if (p->peer_closed)
            return TR_ECLOSED;
        if (zmq_msg_send(first, p->sock, flags | ZMQ_DONTWAIT) >= 0)
            return TR_OK;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return errno == ETERM ? TR_ECLOSED : TR_ESYSTEM;
        if (timeout_ms == 0)
            return TR_EFULL;
        if (deadline == -2)
            deadline = tr__deadline_ms(timeout_ms);
        int left = tr__remaining_ms(deadline);
        if (left == 0)
            return TR_EFULL;
        zmq_pollitem_t items[2] = {
            {.socket = p->sock, .events = (short)(ZMQ_POLLOUT | (p->can_recv ? 0 : ZMQ_POLLIN))},
            {.socket = p->monitor, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, 2, left) < 0 && errno != EINTR)
            return TR_ESYSTEM;
        s_watch_peer(p);
    }
}

int tr_pipe_sendv(tr_pipe *p, const struct iovec *frames, int n, int timeout_ms)
{
    if (p == NULL || frames == NULL || n < 1)
        return TR_EINVAL;
    if (!p->can_send)
        return TR_ESTATE;
    int rc = tr__frames_check(frames, n);
    if (rc != TR_OK)
        return rc;
    rc = s_open(p);
    if (rc != TR_OK)
        return rc;
    if (!p->can_recv)
        s_watch_peer(p); /* a send-only end learns of a close or death here */
    if (p->peer_closed)
        return TR_ECLOSED;
    zmq_msg_t first;
    if ((rc = tr__frame_init(&first, TR__F_DATA, frames[0].iov_base, frames[0].iov_len)) !=
        TR_OK)
        return rc;
    /* ZeroMQ takes a multi-part message whole or not at all once the first
     * frame is in, so only the first frame waits. */
    rc = s_send_first(p, &first, n > 1 ? ZMQ_SNDMORE : 0, timeout_ms);
    zmq_msg_close(&first);
    for (int k = 1; rc == TR_OK && k < n; k++)
        rc = tr__sock_send(p->sock, frames[k].iov_base, frames[k].iov_len,
                           k + 1 < n ? ZMQ_SNDMORE : 0, TR_FOREVER);
    if (rc == TR_OK)
        p->stats.sent++;
    return rc;
}

int tr_pipe_send(tr_pipe *p, const void *data, size_t size, int timeout_ms)
{
    if (data == NULL && size > 0)
        return TR_EINVAL;
    struct iovec one = {.iov_base = (void *)(uintptr_t)data, .iov_len = size};
    return tr_pipe_sendv(p, &one, 1, timeout_ms);
}

/* One non-blocking receive: TR_OK with a frame, TR_EEMPTY, TR_ECLOSED. */
static int s_try_recv(tr_pipe *p, tr__msg *m)
{
    for (;;) {
        if (zmq_msg_recv(&m->zmsg, p->sock, ZMQ_DONTWAIT) < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return TR_ESYSTEM;
            return p->peer_closed ? TR_ECLOSED : TR_EEMPTY;
        }
        if (p->multipart) {
            m->skip = 0;
            p->multipart = zmq_msg_more(&m->zmsg);
            return TR_OK;
        }
        size_t size = zmq_msg_size(&m->zmsg);
        int kind = size > 0 ? *(unsigned char *)zmq_msg_data(&m->zmsg) : -1;
        bool more = zmq_msg_more(&m->zmsg);
        if (kind == TR__F_DATA) {
            m->skip = 1;
            p->multipart = more;
            p->stats.received++;
            return TR_OK;
        }
        zmq_msg_close(&m->zmsg);
        zmq_msg_init(&m->zmsg);
        if (kind == TR__F_EOS && !more) {
            /* Everything sent before the close has been received: say so. */
            unsigned char ack = TR__F_ACK;
            zmq_send(p->sock, &ack, 1, ZMQ_DONTWAIT);
            p->peer_closed = true;
            return TR_ECLOSED;
        }
        if (kind == TR__F_ACK && !more) {
            p->acked = true;
            continue;
        }
        p->stats.rejected++;
        tr_log(TR_LOG_WARN, "TR-PIPE-REJECT", "%s: dropped a frame of %zu bytes with kind %d",
               p->address, size, kind);
        while (more) {
            more = zmq_msg_recv(&m->zmsg, p->sock, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&m->zmsg);
            zmq_msg_close(&m->zmsg);
            zmq_msg_init(&m->zmsg);
        }
    }
}

int tr_pipe_recv(tr_pipe *p, tr_msg *msg, int timeout_ms)
{
    if (msg != NULL)
        tr_msg_init(msg);
    if (p == NULL || msg == NULL)
        return TR_EINVAL;
    tr__msg *m = (tr__msg *)msg;
    if (!p->can_recv)
        return TR_ESTATE;
    int rc = s_open(p);
    if (rc != TR_OK)
        return rc;
    long long deadline = -2;
    for (;;) {
        rc = s_try_recv(p, m);
        if (rc != TR_EEMPTY)
            return rc;
        if (timeout_ms == 0)
            return TR_EEMPTY;
        if (deadline == -2)
            deadline = tr__deadline_ms(timeout_ms);
        else if (deadline >= 0 && tr__remaining_ms(deadline) == 0)
            return TR_EEMPTY;
        zmq_pollitem_t items[2] = {{.socket = p->sock, .events = ZMQ_POLLIN},
                                   {.socket = p->monitor, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, 2, tr__remaining_ms(deadline)) < 0 && errno != EINTR)
            return TR_ESYSTEM;
        if (items[1].revents & ZMQ_POLLIN)
            s_check_monitor(p);
    }
}

int tr_pipe_close(tr_pipe *p, int timeout_ms)
{
    if (p == NULL)
        return TR_EINVAL;
    pid_t me = tr__pid();
    bool open_here = p->sock != NULL && p->pid == me && p->closed_by != me;
    p->closed_by = me;
    if (!open_here)
        return TR_OK;
    int rc = TR_OK;
    long long deadline = tr__deadline_ms(timeout_ms);
    if (!p->peer_closed) {
        unsigned char eos = TR__F_EOS;
        rc = tr__sock_send(p->sock, &eos, 1, 0, p->can_send ? tr__remaining_ms(deadline) : 0);
        if (rc == TR_EFULL)
            rc = p->can_send ? TR_ETIMEDOUT : TR_OK; /* a peer that never came */
        else if (rc == TR_ECLOSED)
            rc = TR_OK;
    }
    /* A receive-only end sent nothing that needs confirming. Otherwise wait
     * for the ACK; what the other end still sends is dropped. */
    while (rc == TR_OK && p->can_send && !p->acked && !p->peer_closed) {
        tr__msg m = {.skip = 0};
        zmq_msg_init(&m.zmsg);
        int r = s_try_recv(p, &m);
        zmq_msg_close(&m.zmsg);
        if (r == TR_OK || p->acked || p->peer_closed)
            continue;
        if (r != TR_EEMPTY) {
            rc = TR_ESYSTEM;
            break;
        }
        int left = tr__remaining_ms(deadline);
        if (left == 0) {
            rc = TR_ETIMEDOUT;
            break;
        }
        zmq_pollitem_t items[2] = {{.socket = p->sock, .events = ZMQ_POLLIN},
                                   {.socket = p->monitor, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, 2, left) < 0 && errno != EINTR) {
            rc = TR_ESYSTEM;
            break;
        }
        s_check_monitor(p);
    }
    if (rc == TR_ETIMEDOUT)
        tr_log(TR_LOG_WARN, "TR-PIPE-CLOSE-TIMEOUT",
               "%s: the other end did not confirm the close in time", p->address);
    /* Confirmed or given up: nothing is left worth lingering for. */
    int zero = 0;
    zmq_setsockopt(p->sock, ZMQ_LINGER, &zero, sizeof zero);
    s_close_sockets(p);
    return rc;
}

void tr_pipe_destroy(tr_pipe **endp)
{
    if (endp == NULL || *endp == NULL)
        return;
    tr_pipe *p = *endp;
    *endp = NULL;
    if (p->pid == tr__pid())
        tr_pipe_close(p, tr_sys_exit_wait_ms());
    if (p->prev != NULL)
        p->prev->next = p->next;
    else if (s_pipes == p)
        s_pipes = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    free(p);
}
