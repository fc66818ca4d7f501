/* queue_producer.c: the producer side of a queue (see queue.c for the
 * design).
 *
 * The producer owns one ROUTER bound at its slot's address. Consumers are
 * known by their routing ids once their HELLO arrives. Messages go from put
 * straight to a consumer with credit when there is one; otherwise they wait
 * in a ring that grows up to `capacity`. A feeder thread per producer moves
 * them as credit arrives, so a program may put and then go and do something
 * else (wait for results, join) without stalling its consumers: that is what
 * Python's Queue has its feeder thread for. The thread sleeps in poll(2) on
 * the socket's ZMQ_FD and an eventfd; every use of the socket, by it or by
 * the program's thread, happens under one mutex. At an orderly exit, every
 * producer that did not close is closed (Python joins its feeders too).
 *
 * Dead consumers are found by ROUTER_MANDATORY: a send to a peer whose
 * connection is gone fails with EHOSTUNREACH. Messages it held are lost
 * (at-most-once) and counted; its credit is forgotten. Sending is also how
 * we look: when the router's monitor reports a disconnection, and when a
 * close begins, the feeder probes the consumers that hold messages or owe an
 * acknowledgement, TR_PROBES times TR_PROBE_MS apart (ZeroMQ may report the
 * disconnection before the router has dropped the peer). Nothing is probed
 * otherwise: a consumer that is merely slow receives no stream of probes to
 * fill its pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/queue_internal.h"
#include "troupe/error.h"
#include "troupe/sys.h"

/* Probe rounds after a disconnection or at the start of a close, and the
 * time between them. */
#define TR_PROBES 3
#define TR_PROBE_MS 50
/* How many puts may pass without reading consumers' control messages, so a
 * new consumer's HELLO is seen soon even while credit never runs out. */
#define TR_CONTROL_EVERY 64
/* The largest BATCH frame a producer makes of waiting messages. Batching
 * is what lets a backlogged producer keep up with plain PUSH/PULL: one
 * ZeroMQ message, one routing frame and one wake-up of each I/O thread
 * carry many of the user's messages. */
#define TR_BATCH_BYTES 65536
/* When to send at once and when to gather a batch. A consumer is hungry
 * when it holds fewer than TR_HUNGRY messages (of those we sent it, the
 * ones it has not given credit back for): a put goes straight to a hungry
 * one, for the lowest latency. When every consumer with credit has enough
 * to do, puts wait in the ring and leave together once TR_BATCH_AT of them
 * wait or a consumer hungers: its CREDIT wakes the feeder, which sends all
 * that waits. So no timer is involved, and a message waits only while
 * every consumer it could go to is busy anyway. */
#define TR_HUNGRY 32
#define TR_BATCH_AT 64

/* ---- the slot ---------------------------------------------------------------- */

/* Claims slot i: on ipc an flock on <dir>/<i>.lock (released by the kernel
 * when we die) and no marker; on tcp a successful bind is the claim. */
static int s_claim(tr_queue *q, tr__producer *p)
{
    for (int i = 0; i < q->producers; i++) {
        char ep[256];
        tr__queue_endpoint(q, i, ep, sizeof ep);
        if (q->ipc) {
            char path[PATH_MAX];
            struct stat st;
            tr__queue_marker(q, i, path, sizeof path);
            if (stat(path, &st) == 0)
                continue; /* that producer has been and gone */
            snprintf(path, sizeof path, "%s/%d.lock", q->dir, i);
            int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
            if (fd < 0)
                return TR_ESYSTEM;
            if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
                close(fd);
                continue;
            }
            if (zmq_bind(p->router, ep) != 0) {
                int e = errno;
                close(fd);
                errno = e;
                return TR_ESYSTEM;
            }
            p->lockfd = fd;
        } else if (zmq_bind(p->router, ep) != 0) {
            if (errno == EADDRINUSE)
                continue;
            return TR_ESYSTEM;
        }
        p->slot = i;
        return TR_OK;
    }
    tr_log(TR_LOG_WARN, "TR-QUEUE-SLOTS", "%s: all %d producer slots are taken or closed",
           q->address, q->producers);
    return TR_ESTATE;
}

static void s_feeder_stop(tr__producer *p);
static void s_entry_close(tr__entry *e);

void tr__queue_producer_free(tr__producer *p)
{
    if (p == NULL)
        return;
    s_feeder_stop(p);
    for (size_t i = 0; i < p->count; i++)
        s_entry_close(&p->ring[(p->head + i) % p->cap]);
    tr__sys_monitor_stop(p->router, &p->monitor);
    tr__sys_close(&p->router);
    if (p->lockfd >= 0)
        close(p->lockfd);
    if (p->wakefd >= 0)
        close(p->wakefd);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->ring);
    free(p->peers);
    free(p);
}

static int s_feeder_start(tr_queue *q, tr__producer *p);

int tr__queue_producer_start(tr_queue *q)
{
    tr__producer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return TR_ENOMEM;
    p->pid = tr__pid();
    p->lockfd = -1;
    p->wakefd = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->router = tr__sys_socket(ZMQ_ROUTER);
    if (p->router == NULL) {
        tr__queue_producer_free(p);
        return TR_ESYSTEM;
    }
    int one = 1, hwm = q->window + 16;
    zmq_setsockopt(p->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(p->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    int rc = s_claim(q, p);
    size_t zlen = sizeof p->zfd, mlen = sizeof p->monfd;
    if (rc == TR_OK) {
        p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        p->monitor = tr__sys_monitor(p->router, ZMQ_EVENT_DISCONNECTED);
        if (p->wakefd < 0 || p->monitor == NULL ||
            zmq_getsockopt(p->router, ZMQ_FD, &p->zfd, &zlen) != 0 ||
            zmq_getsockopt(p->monitor, ZMQ_FD, &p->monfd, &mlen) != 0)
            rc = TR_ESYSTEM;
    }
    q->prod = p;
    if (rc == TR_OK)
        rc = s_feeder_start(q, p);
    if (rc != TR_OK) {
        int e = errno;
        q->prod = NULL;
        tr__queue_producer_free(p);
        errno = e;
        return rc;
    }
    /* Hooks are per process, and this may be a fresh child. */
    tr__sys_add_exit_hook(TR__EXIT_DELIVER, tr__queue_exit_hook);
    tr__queue_stats_here(q);
    tr_log(TR_LOG_DEBUG, "TR-QUEUE-PRODUCER", "%s: producing as slot %d", q->address, p->slot);
    return TR_OK;
}

/* ---- consumers as peers -------------------------------------------------------- */

static tr__peer *s_peer(tr__producer *p, const void *id, size_t len, bool add)
{
    for (int i = 0; i < p->npeers; i++)
        if (p->peers[i].idlen == len && memcmp(p->peers[i].id, id, len) == 0)
            return &p->peers[i];
    if (!add || len > sizeof p->peers[0].id)
        return NULL;
    if (p->npeers == p->cappeers) {
        int cap = p->cappeers ? p->cappeers * 2 : 8;
        tr__peer *grown = realloc(p->peers, (size_t)cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        p->peers = grown;
        p->cappeers = cap;
    }
    tr__peer *peer = &p->peers[p->npeers++];
    memset(peer, 0, sizeof *peer);
    memcpy(peer->id, id, len);
    peer->idlen = len;
    return peer;
}

static void s_peer_gone(tr_queue *q, tr__producer *p, tr__peer *peer)
{
    if (peer->inflight > 0 || !peer->acked)
        tr_log(TR_LOG_WARN, "TR-QUEUE-CONSUMER-LOST",
               "%s: a consumer vanished holding up to %d messages", q->address, peer->inflight);
    p->lost++;
    p->inflight -= (size_t)peer->inflight;
    *peer = p->peers[--p->npeers];
    p->rr = 0;
}

static uint32_t s_u32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Reads every control message waiting: HELLO, CREDIT, ACK. Returns
 * whether there was any. */
static bool s_control(tr_queue *q, tr__producer *p)
{
    p->puts_since_control = 0;
    bool any = false;
    for (;;) {
        zmq_msg_t id, ctl;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, p->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            if (errno == EINTR)
                continue;
            /* Read dry: the next message to come in raises ZMQ_FD again. */
            p->unread = false;
            return any;
        }
        any = true;
        zmq_msg_init(&ctl);
        int ok = zmq_msg_more(&id) && zmq_msg_recv(&ctl, p->router, ZMQ_DONTWAIT) >= 0;
        const unsigned char *b = zmq_msg_data(&ctl);
        size_t n = ok ? zmq_msg_size(&ctl) : 0;
        int kind = n > 0 ? b[0] : -1;
        tr__peer *peer = NULL;
        if (ok && !zmq_msg_more(&ctl))
            peer = s_peer(p, zmq_msg_data(&id), zmq_msg_size(&id), kind == TR__F_HELLO && (n == 5 || n == 9));
        if (peer != NULL && kind == TR__F_HELLO && (n == 5 || n == 9)) {
            /* A consumer asks for at most its window, less what it holds. */
            uint32_t w = s_u32(b + 1);
            int window = w > (uint32_t)q->capacity ? q->capacity : (int)w;
            peer->credit = window > peer->inflight ? window - peer->inflight : 0;
            /* Its size limit bounds the batches it gets; without one, it
             * gets no batches (only messages it has agreed to by size). */
            peer->maxbatch = n == 9 ? s_u32(b + 5) : 0;
        } else if (peer != NULL && kind == TR__F_CREDIT && n == 5) {
            uint32_t k = s_u32(b + 1);
            int back = k > (uint32_t)peer->inflight ? peer->inflight : (int)k;
            peer->inflight -= back;
            p->inflight -= (size_t)back;
            peer->credit += back;
        } else if (peer != NULL && kind == TR__F_ACK && n == 1) {
            peer->acked = true;
        } else {
            p->rejected++;
            tr_log(TR_LOG_WARN, "TR-QUEUE-REJECT",
                   "%s: dropped a control message (kind %d, %zu bytes) from a consumer",
                   q->address, kind, n);
            int more = ok && zmq_msg_more(&ctl);
            while (more) {
                zmq_msg_t rest;
                zmq_msg_init(&rest);
                more = zmq_msg_recv(&rest, p->router, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&rest);
                zmq_msg_close(&rest);
            }
        }
        zmq_msg_close(&id);
        zmq_msg_close(&ctl);
    }
}

/* The first frame of e, its TR__F_DATA byte included, and its size. */
static unsigned char *s_first_data(tr__entry *e)
{
    return e->ilen > 0 ? e->first.bytes : zmq_msg_data(&e->first.msg);
}

static size_t s_first_size(tr__entry *e)
{
    return e->ilen > 0 ? e->ilen : zmq_msg_size(&e->first.msg);
}

/* Sends the frames of e to peer. 0: sent (e's frames are consumed, e is
 * left an empty ZeroMQ message); 1: the peer is gone; 2: its pipe is full;
 * -1: error. */
static int s_send(tr__producer *p, tr__peer *peer, tr__entry *e)
{
    /* A first frame held in place travels in a ZeroMQ message of its own,
     * made before the routing frame so that nothing can fail in between. */
    zmq_msg_t own, *first = &e->first.msg;
    p->unread = true; /* see s_settle */
    if (e->ilen > 0) {
        if (zmq_msg_init_size(&own, e->ilen) != 0)
            return -1;
        memcpy(zmq_msg_data(&own), e->first.bytes, e->ilen);
        first = &own;
    }
    if (zmq_send(p->router, peer->id, peer->idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        int r = errno == EHOSTUNREACH ? 1 : errno == EAGAIN ? 2 : -1;
        if (first == &own)
            zmq_msg_close(&own);
        return r;
    }
    /* Once the routing frame is taken the pipe has room: credit never
     * exceeds the high-water mark. */
    if (zmq_msg_send(first, p->router, (e->nrest ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0) {
        if (first == &own)
            zmq_msg_close(&own);
        return -1;
    }
    if (e->ilen > 0) {
        e->ilen = 0;
        zmq_msg_init(&e->first.msg);
    }
    for (int k = 0; k < e->nrest; k++)
        if (zmq_msg_send(&e->rest[k], p->router,
                         (k + 1 < e->nrest ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
            return -1;
    free(e->rest);
    e->rest = NULL;
    e->nrest = 0;
    return 0;
}


/* How many waiting messages, from the head of the ring, go into one BATCH
 * frame for peer: no more than its credit, the frame at most TR_BATCH_BYTES
 * and never over the peer's size limit. Sets *bytes to the frame's size. */
static size_t s_batch_count(const tr__producer *p, const tr__peer *peer, size_t *bytes)
{
    size_t limit = TR_BATCH_BYTES;
    if (limit > peer->maxbatch)
        limit = peer->maxbatch;
    size_t n = 0, total = 1;
    while (n < p->count && n < (size_t)peer->credit) {
        tr__entry *e = &p->ring[(p->head + n) % p->cap];
        size_t add = 4 + s_first_size(e) - 1;
        for (int k = 0; k < e->nrest; k++)
            add += 4 + zmq_msg_size(&e->rest[k]);
        if (total + add > limit)
            break;
        total += add;
        n++;
    }
    *bytes = total;
    return n;
}

/* Writes one BATCH item: the size (bit 31: more frames of this message
 * follow) and the bytes. Returns the end of what it wrote. */
static unsigned char *s_item(unsigned char *out, const void *data, size_t len, bool more)
{
    uint32_t v = (uint32_t)len | (more ? UINT32_C(1) << 31 : 0);
    out[0] = (unsigned char)v;
    out[1] = (unsigned char)(v >> 8);
    out[2] = (unsigned char)(v >> 16);
    out[3] = (unsigned char)(v >> 24);
    if (len > 0)
        memcpy(out + 4, data, len);
    return out + 4 + len;
}

/* Sends the first n waiting messages to peer in one BATCH frame of `bytes`
 * bytes and takes them off the ring. Results as s_send's. */
static int s_send_batch(tr__producer *p, tr__peer *peer, size_t n, size_t bytes)
{
    zmq_msg_t batch;
    if (zmq_msg_init_size(&batch, bytes) != 0)
        return -1;
    unsigned char *out = zmq_msg_data(&batch);
    *out++ = TR__F_BATCH;
    for (size_t k = 0; k < n; k++) {
        tr__entry *e = &p->ring[(p->head + k) % p->cap];
        out = s_item(out, s_first_data(e) + 1, s_first_size(e) - 1, e->nrest > 0);
        for (int f = 0; f < e->nrest; f++)
            out = s_item(out, zmq_msg_data(&e->rest[f]), zmq_msg_size(&e->rest[f]),
                         f + 1 < e->nrest);
    }
    p->unread = true; /* see s_settle */
    if (zmq_send(p->router, peer->id, peer->idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&batch);
        return errno == EHOSTUNREACH ? 1 : errno == EAGAIN ? 2 : -1;
    }
    /* The routing frame was taken, so the pipe has room (see s_send). */
    if (zmq_msg_send(&batch, p->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&batch);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        s_entry_close(&p->ring[p->head]);
        p->head = (p->head + 1) % p->cap;
    }
    p->count -= n;
    p->batched += n;
    return 0;
}

/* Sends to the next consumer with credit that holds fewer than `below`
 * messages: e alone, or (e NULL) what waits in the ring, as many as its
 * credit allows in one BATCH frame, or the head message alone. 0: sent;
 * 1: nobody can take it now; -1: error. A consumer whose pipe is full keeps
 * its credit and is passed over this time (its pipe drains as it reads). */
static int s_deliver(tr_queue *q, tr__producer *p, tr__entry *e, int below)
{
    int tried = 0;
    while (tried < p->npeers) {
        int i = (p->rr + tried) % p->npeers;
        tr__peer *peer = &p->peers[i];
        if (peer->credit <= 0 || peer->eos_sent || peer->inflight >= below) {
            tried++;
            continue;
        }
        size_t bytes, n = 1;
        int r;
        if (e != NULL) {
            r = s_send(p, peer, e);
        } else if ((n = s_batch_count(p, peer, &bytes)) >= 2) {
            r = s_send_batch(p, peer, n, bytes);
        } else {
            n = 1;
            r = s_send(p, peer, &p->ring[p->head]);
            if (r == 0) {
                p->head = (p->head + 1) % p->cap;
                p->count--;
            }
        }
        if (r == 0) {
            peer->credit -= (int)n;
            peer->inflight += (int)n;
            p->inflight += n;
            p->rr = i + 1;
            return 0;
        }
        if (r < 0)
            return -1;
        if (r == 1)
            s_peer_gone(q, p, peer); /* the last peer moved into slot i */
        else
            tried++;
    }
    return 1;
}

/* The `below` of s_deliver for a put: a consumer is hungry when it holds
 * fewer than TR_HUNGRY messages, or less than half its window when that is
 * smaller (it asks for more at half its window). */
static int s_hungry(const tr_queue *q)
{
    return q->window / 2 < TR_HUNGRY ? (q->window + 1) / 2 : TR_HUNGRY;
}

/* The `below` of s_pump: waiting messages go to hungry consumers, or to any
 * with credit once a batch is full or the producer is closing. */
static int s_below(const tr_queue *q, const tr__producer *p)
{
    return p->closed || p->count >= TR_BATCH_AT ? INT_MAX : s_hungry(q);
}

/* Moves waiting messages to consumers with credit that hold fewer than
 * `below` messages (INT_MAX: to any), having read their control messages
 * first if `control`. */
static int s_pump(tr_queue *q, tr__producer *p, bool control, int below)
{
    if (control)
        s_control(q, p);
    while (p->count > 0) {
        int r = s_deliver(q, p, NULL, below);
        if (r != 0)
            return r < 0 ? TR_ESYSTEM : TR_OK;
    }
    return TR_OK;
}

/* The feeder sleeps on the router's ZMQ_FD, and ZeroMQ clears that when it
 * handles the socket's pending commands, which a send from the program's
 * thread does in passing (about once a millisecond). If a consumer's CREDIT
 * had just come in, its notice is gone with it and the feeder sleeps
 * through it: messages left waiting for that consumer would wait until the
 * next put or close. So before the program's thread, having sent, leaves
 * messages waiting, it reads the router dry itself, which re-arms ZMQ_FD,
 * and delivers what that makes possible. */
static int s_settle(tr_queue *q, tr__producer *p)
{
    while (p->count > 0 && p->unread) {
        if (!s_control(q, p))
            return TR_OK;
        int rc = s_pump(q, p, false, s_below(q, p));
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

/* Moves the message of `from` into `to` (not initialised); `from` is left
 * an empty ZeroMQ message, which closing does nothing to. */
static void s_entry_move(tr__entry *to, tr__entry *from)
{
    to->ilen = from->ilen;
    if (from->ilen > 0) {
        memcpy(to->first.bytes, from->first.bytes, from->ilen);
        from->ilen = 0;
        zmq_msg_init(&from->first.msg);
    } else {
        zmq_msg_init(&to->first.msg);
        zmq_msg_move(&to->first.msg, &from->first.msg);
    }
    to->rest = from->rest;
    to->nrest = from->nrest;
    from->rest = NULL;
    from->nrest = 0;
}

static int s_ring_push(tr_queue *q, tr__producer *p, tr__entry *e)
{
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        if (cap > (size_t)q->capacity)
            cap = (size_t)q->capacity;
        tr__entry *ring = malloc(cap * sizeof *ring);
        if (ring == NULL)
            return TR_ENOMEM;
        for (size_t i = 0; i < p->count; i++)
            s_entry_move(&ring[i], &p->ring[(p->head + i) % p->cap]);
        free(p->ring);
        p->ring = ring;
        p->head = 0;
        p->cap = cap;
    }
    s_entry_move(&p->ring[(p->head + p->count) % p->cap], e);
    p->count++;
    return TR_OK;
}

static void s_entry_close(tr__entry *e)
{
    if (e->ilen == 0)
        zmq_msg_close(&e->first.msg);
    for (int k = 0; k < e->nrest; k++)
        zmq_msg_close(&e->rest[k]);
    free(e->rest);
    e->rest = NULL;
    e->nrest = 0;
}

static int s_entry_init(tr__entry *e, const struct iovec *frames, int n)
{
    e->rest = NULL;
    e->nrest = 0;
    e->ilen = 0;
    if (frames[0].iov_len < TR__ENTRY_INLINE) {
        e->first.bytes[0] = TR__F_DATA;
        if (frames[0].iov_len > 0)
            memcpy(e->first.bytes + 1, frames[0].iov_base, frames[0].iov_len);
        e->ilen = (uint32_t)frames[0].iov_len + 1;
    } else if (tr__frame_init(&e->first.msg, TR__F_DATA, frames[0].iov_base,
                              frames[0].iov_len) != TR_OK) {
        return TR_ENOMEM;
    }
    if (n > 1) {
        e->rest = calloc((size_t)n - 1, sizeof *e->rest);
        if (e->rest == NULL) {
            s_entry_close(e);
            return TR_ENOMEM;
        }
        for (int k = 1; k < n; k++) {
            if (zmq_msg_init_size(&e->rest[k - 1], frames[k].iov_len) != 0) {
                s_entry_close(e);
                return TR_ENOMEM;
            }
            e->nrest = k;
            if (frames[k].iov_len > 0)
                memcpy(zmq_msg_data(&e->rest[k - 1]), frames[k].iov_base, frames[k].iov_len);
        }
    }
    return TR_OK;
}

/* Sends a one-byte control frame to peer. 0: sent; 1: the peer is gone;
 * 2: not now (its pipe is full). */
static int s_send_ctl(tr__producer *p, tr__peer *peer, int kind)
{
    unsigned char b = (unsigned char)kind;
    p->unread = true; /* see s_settle */
    if (zmq_send(p->router, peer->id, peer->idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return errno == EHOSTUNREACH ? 1 : 2;
    zmq_send(p->router, &b, 1, ZMQ_DONTWAIT);
    return 0;
}

/* Probes the consumers we depend on: those holding messages (a dead one
 * must give back its capacity) and, once closed, those that owe an ACK. */
static void s_probe(tr_queue *q, tr__producer *p)
{
    for (int i = 0; i < p->npeers;) {
        tr__peer *peer = &p->peers[i];
        bool owed = peer->inflight > 0 || (p->closed && !peer->acked);
        int kind = p->closed && p->count == 0 ? TR__F_EOS : TR__F_PING;
        if (owed && s_send_ctl(p, peer, kind) == 1) {
            s_peer_gone(q, p, peer);
            continue;
        }
        if (owed && kind == TR__F_EOS)
            peer->eos_sent = true;
        i++;
    }
}

/* Reads the router's monitor: a disconnection starts probe rounds. */
static void s_disconnections(tr__producer *p)
{
    if (tr__sys_monitor_events(p->monitor) > 0)
        p->probes_left = TR_PROBES;
}

/* ---- the feeder -------------------------------------------------------------- */

static bool s_all_acked(tr__producer *p)
{
    for (int i = 0; i < p->npeers; i++)
        if (!p->peers[i].acked)
            return false;
    return true;
}

/* Sends EOS to every consumer that has not acknowledged it; with resend,
 * also to those already told (a probe: a dead one fails). */
static void s_send_eos(tr_queue *q, tr__producer *p, bool resend)
{
    for (int i = 0; i < p->npeers;) {
        tr__peer *peer = &p->peers[i];
        if (peer->acked || (peer->eos_sent && !resend)) {
            i++;
            continue;
        }
        int r = s_send_ctl(p, peer, TR__F_EOS);
        if (r == 1) {
            s_peer_gone(q, p, peer);
            continue;
        }
        if (r == 0)
            peer->eos_sent = true;
        i++;
    }
}

/* One step of work, under mu: control messages, waiting messages, and once
 * closed and drained the end of stream; with probe, liveness probes too. */
static int s_step(tr_queue *q, tr__producer *p, bool probe)
{
    s_disconnections(p);
    int rc = s_pump(q, p, true, s_below(q, p));
    if (rc != TR_OK)
        return rc;
    if (p->closed && p->count == 0)
        s_send_eos(q, p, false);
    if (probe && p->probes_left > 0) {
        p->probes_left--;
        s_probe(q, p);
    }
    return TR_OK;
}

/* Whether probe rounds are due: then the feeder wakes up every TR_PROBE_MS
 * even without traffic. Otherwise it sleeps until a socket has news. */
static bool s_busy(const tr__producer *p)
{
    return p->probes_left > 0;
}

static void s_wake(tr__producer *p)
{
    if (p->feeder_idle) {
        uint64_t one = 1;
        ssize_t w = write(p->wakefd, &one, sizeof one);
        (void)w;
        p->feeder_idle = false;
    }
}

static void *s_feeder(void *arg)
{
    tr_queue *q = arg;
    tr__producer *p = q->prod;
    long long next_probe = tr__now_ms() + TR_PROBE_MS;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        long long now = tr__now_ms();
        bool probe = now >= next_probe;
        if (probe)
            next_probe = now + TR_PROBE_MS;
        s_step(q, p, probe);
        pthread_cond_broadcast(&p->cv);
        /* ZMQ_FD only signals new activity: look at what is pending before
         * sleeping on it, or a message that came in meanwhile would wait. */
        uint32_t ev = 0, mev = 0;
        size_t len = sizeof ev, mlen = sizeof mev;
        if ((zmq_getsockopt(p->router, ZMQ_EVENTS, &ev, &len) == 0 && (ev & ZMQ_POLLIN)) ||
            (zmq_getsockopt(p->monitor, ZMQ_EVENTS, &mev, &mlen) == 0 && (mev & ZMQ_POLLIN)))
            continue;
        p->unread = false; /* that look re-armed ZMQ_FD */
        int timeout = -1;
        if (s_busy(p))
            timeout = next_probe > now ? (int)(next_probe - now) : 0;
        p->feeder_idle = true;
        pthread_mutex_unlock(&p->mu);
        struct pollfd fds[3] = {{.fd = p->zfd, .events = POLLIN},
                                {.fd = p->wakefd, .events = POLLIN},
                                {.fd = p->monfd, .events = POLLIN}};
        poll(fds, 3, timeout);
        uint64_t n;
        ssize_t r = read(p->wakefd, &n, sizeof n);
        (void)r;
        pthread_mutex_lock(&p->mu);
        p->feeder_idle = false;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int s_feeder_start(tr_queue *q, tr__producer *p)
{
    /* The thread takes no signals: they stay with the program's threads
     * (a behaviour's signalfd relies on it). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&p->feeder, NULL, s_feeder, q);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        return TR_ESYSTEM;
    }
    p->feeder_running = true;
    return TR_OK;
}

/* Stops the feeder; called without mu held. */
static void s_feeder_stop(tr__producer *p)
{
    if (!p->feeder_running || p->pid != tr__pid())
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    p->feeder_idle = true; /* make s_wake write */
    s_wake(p);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->feeder, NULL);
    p->feeder_running = false;
}

void tr__queue_producer_stop(tr__producer *p)
{
    s_feeder_stop(p);
}

void tr__queue_producer_stats(tr__producer *p, tr_queue_stats *out)
{
    pthread_mutex_lock(&p->mu);
    out->rejected += p->rejected;
    out->lost_consumers += p->lost;
    out->batched += p->batched;
    pthread_mutex_unlock(&p->mu);
}

/* Waits, under mu, until the feeder has done a step or the deadline passed.
 * Returns false at the deadline. */
static bool s_wait(tr__producer *p, long long deadline)
{
    if (deadline < 0) {
        pthread_cond_wait(&p->cv, &p->mu);
        return true;
    }
    long long left = deadline - tr__now_ms();
    if (left <= 0)
        return false;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    return true;
}

/* ---- the API ------------------------------------------------------------------- */

static int s_put_locked(tr_queue *q, tr__producer *p, tr__entry *e, int timeout_ms)
{
    if (p->closed)
        return TR_ECLOSED;
    if (++p->puts_since_control >= TR_CONTROL_EVERY)
        s_control(q, p);
    /* Nothing waiting and a hungry consumer with credit: at once. */
    if (p->count == 0 && p->inflight < (size_t)q->capacity) {
        int r = s_deliver(q, p, e, s_hungry(q));
        if (r < 0)
            return TR_ESYSTEM;
        if (r == 0)
            return TR_OK;
    }
    long long deadline = tr__deadline_ms(timeout_ms);
    /* Control messages are read only when they are needed (room, or the
     * feeder's notice, see s_settle), or every TR_CONTROL_EVERY puts: a
     * receive that finds nothing costs a system call in ZeroMQ. */
    bool control = false;
    for (;;) {
        if (p->count + p->inflight < (size_t)q->capacity) {
            int rc = s_ring_push(q, p, e);
            if (rc == TR_OK)
                rc = s_pump(q, p, false, s_below(q, p));
            if (rc == TR_OK)
                rc = s_settle(q, p);
            /* What still waits leaves when a consumer's CREDIT, which wakes
             * the feeder, shows it hungry. */
            return rc;
        }
        if (!control) {
            control = true;
            int rc = s_pump(q, p, true, s_below(q, p));
            if (rc != TR_OK)
                return rc;
            continue;
        }
        s_wake(p); /* we wait on its steps: it must be watching */
        if (timeout_ms == 0 || !s_wait(p, deadline))
            return TR_EFULL;
        if (p->closed)
            return TR_ECLOSED;
    }
}

int tr_queue_putv(tr_queue *q, const struct iovec *frames, int n, int timeout_ms)
{
    if (q == NULL)
        return TR_EINVAL;
    int rc = tr__frames_check(frames, n);
    if (rc != TR_OK)
        return rc;
    if ((q->prod == NULL || q->prod->pid != tr__pid()) &&
        (rc = tr__queue_producer_start(q)) != TR_OK)
        return rc;
    tr__producer *p = q->prod;
    tr__entry e;
    rc = s_entry_init(&e, frames, n);
    if (rc != TR_OK)
        return rc;
    pthread_mutex_lock(&p->mu);
    rc = s_put_locked(q, p, &e, timeout_ms);
    if (rc == TR_OK)
        q->stats.put++;
    pthread_mutex_unlock(&p->mu);
    s_entry_close(&e); /* empty when sent or queued */
    return rc;
}

int tr_queue_put(tr_queue *q, const void *data, size_t size, int timeout_ms)
{
    if (data == NULL && size > 0)
        return TR_EINVAL;
    struct iovec one = {.iov_base = (void *)(uintptr_t)data, .iov_len = size};
    return tr_queue_putv(q, &one, 1, timeout_ms);
}

int tr__queue_producer_close(tr_queue *q, int timeout_ms)
{
    tr__producer *p = q->prod;
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    if (p->finished) {
        pthread_mutex_unlock(&p->mu);
        return TR_OK;
    }
    /* Consumers that died before the close owe an ACK they will never send:
     * probe everyone we wait for, a few times. */
    p->probes_left = TR_PROBES;
    s_wake(p);
    long long deadline = tr__deadline_ms(timeout_ms);
    for (;;) {
        /* Every message goes to a consumer first, then the end of stream,
         * which each consumer reaches only after getting all we sent it. */
        int rc = s_step(q, p, false);
        if (rc != TR_OK) {
            pthread_mutex_unlock(&p->mu);
            return rc;
        }
        if (p->count == 0 && s_all_acked(p))
            break;
        /* Our sends may have taken the feeder's notice of an ACK or a
         * CREDIT (see s_settle): read the router dry before waiting on the
         * feeder, and step again if that brought anything. */
        if (p->unread && s_control(q, p))
            continue;
        if (!s_wait(p, deadline)) {
            tr_log(TR_LOG_WARN, "TR-QUEUE-CLOSE-TIMEOUT",
                   "%s: close timed out with %zu messages undelivered, %zu unconfirmed",
                   q->address, p->count, p->inflight);
            pthread_mutex_unlock(&p->mu);
            return TR_ETIMEDOUT;
        }
    }
    pthread_mutex_unlock(&p->mu);
    s_feeder_stop(p);
    if (q->ipc) {
        char path[PATH_MAX];
        tr__queue_marker(q, p->slot, path, sizeof path);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    p->finished = true;
    /* Everything is confirmed: nothing needs to linger. */
    int zero = 0;
    zmq_setsockopt(p->router, ZMQ_LINGER, &zero, sizeof zero);
    tr__sys_monitor_stop(p->router, &p->monitor);
    tr__sys_close(&p->router);
    if (p->lockfd >= 0)
        close(p->lockfd);
    p->lockfd = -1;
    tr_log(TR_LOG_DEBUG, "TR-QUEUE-CLOSED", "%s: slot %d closed, %d consumers confirmed",
           q->address, p->slot, p->npeers);
    return TR_OK;
}

int tr_queue_size(tr_queue *q, size_t *n)
{
    if (q == NULL || n == NULL)
        return TR_EINVAL;
    tr__producer *p = q->prod;
    if (p == NULL || p->pid != tr__pid())
        return TR_ESTATE;
    pthread_mutex_lock(&p->mu);
    int rc = p->finished ? TR_OK : s_pump(q, p, true, s_below(q, p));
    if (rc == TR_OK && !p->finished)
        rc = s_settle(q, p);
    *n = p->count + p->inflight;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

bool tr_queue_full(tr_queue *q)
{
    size_t n;
    return tr_queue_size(q, &n) == TR_OK && n >= (size_t)q->capacity;
}

bool tr_queue_empty(tr_queue *q)
{
    size_t n;
    return tr_queue_size(q, &n) == TR_OK && n == 0;
}
