/* work_client.c: a producer of a broker (troupe/work.h).
 *
 * The producer keeps every task the broker has not acknowledged, in a ring
 * indexed by id (ids count up from 1, so the ring is the window), and
 * sends them again after each WELCOME that follows a new connection or a
 * RESET: the broker restarted, or lost sight of us. Results are
 * acknowledged as soon as their frame is here, then handed out one by one
 * by tr_work_next. There is no thread: heartbeats, reconnections and
 * acknowledgements happen inside the calls, which is why every wait goes
 * through s_pump. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/work_internal.h"
#include "core/internal.h"
#include "troupe/work.h"

#define EXIT_LINGER_MS 500

typedef struct {
    uint8_t *data;
    uint32_t len;
    uint32_t gen; /* the connection it was last sent on */
    bool acked;
} s_pending;

struct tr_work_client {
    char endpoint[512];
    char id[TR__WORK_MAX_ID + 1];
    tr_work_opts o;
    pid_t pid;
    void *sock;
    uint32_t gen;          /* connection generation: new socket, reconnect, RESET */
    bool welcomed;
    void *mon;             /* CONNECTED events of sock: ZeroMQ's own reconnects */
    bool connected_once;   /* the first CONNECTED of this socket came */
    uint64_t unsent_from;  /* the first id whose send failed (0: none): retry */
    long long progress;    /* ms: last acknowledgement, or last resend */
    uint64_t epoch;
    long long heard, sent; /* ms */
    uint64_t next_id, base; /* ids [base, next_id) may be unacknowledged */
    s_pending *ring;
    size_t cap;            /* a power of two >= window */
    uint32_t unacked;
    zmq_msg_t *inbox;      /* RESULTS frames not yet handed out */
    size_t nin, capin, in_first;
    tr__rbuf cur;          /* reading inbox[in_first] */
    uint32_t cur_left;
    bool cur_open;
    uint64_t req;          /* last stats / dead-letter request id */
    tr__wbuf w;
    tr_work_client_stats st;
};

int tr_work_client_new(tr_work_client **out, const char *broker, const tr_work_opts *opts)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    tr_work_opts o = opts ? *opts : (tr_work_opts){0};
    if (broker == NULL || o.window < 0 || o.window > 1000000 ||
        tr__work_timing(&o.heartbeat_ms, &o.timeout_ms) != TR_OK ||
        (o.id != NULL && !tr__work_id_valid(o.id, strlen(o.id))))
        return TR_EINVAL;
    if (o.window == 0)
        o.window = 10000;
    tr_work_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return TR_ENOMEM;
    int rc = tr__work_endpoint(broker, c->endpoint, sizeof c->endpoint);
    if (rc != TR_OK) {
        free(c);
        return rc == TR_ETOOBIG ? TR_EINVAL : rc;
    }
    if (o.id != NULL) {
        snprintf(c->id, sizeof c->id, "%s", o.id);
    } else {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, 0) != sizeof r)
            r = (uint64_t)tr__now_us() * 2654435761u;
        snprintf(c->id, sizeof c->id, "p-%d-%016llx", (int)getpid(), (unsigned long long)r);
    }
    o.id = NULL; /* copied */
    c->o = o;
    c->cap = 1;
    while (c->cap < (size_t)o.window)
        c->cap *= 2;
    c->ring = calloc(c->cap, sizeof *c->ring);
    if (c->ring == NULL) {
        free(c);
        return TR_ENOMEM;
    }
    /* Ids start at the wall-clock time in microseconds: a producer that
     * comes back with the same id (for its earlier results) never reuses
     * one, while ids stay consecutive within a life. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    c->next_id = c->base = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u + 1;
    *out = c;
    return TR_OK;
}

/* linger_ms: how long what is queued may still go out after the close
 * (at most until the process's context ends): 0 when the socket is
 * replaced after the broker went silent, some when the producer is done,
 * so that its last result acknowledgements reach the broker. */
static void s_close_socket(tr_work_client *c, int linger_ms)
{
    if (c->sock != NULL && c->pid == tr__pid()) {
        if (c->mon != NULL)
            tr__sys_monitor_stop(c->sock, &c->mon);
        zmq_setsockopt(c->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        tr__sys_close(&c->sock);
    }
    c->sock = NULL;
    c->mon = NULL;
}

void tr_work_client_destroy(tr_work_client **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    tr_work_client *c = *cp;
    s_close_socket(c, EXIT_LINGER_MS);
    for (size_t i = 0; i < c->cap; i++)
        free(c->ring[i].data);
    free(c->ring);
    for (size_t i = c->in_first; i < c->nin; i++)
        zmq_msg_close(&c->inbox[i]);
    free(c->inbox);
    tr__wbuf_free(&c->w);
    free(c);
    *cp = NULL;
}

static int s_send(tr_work_client *c, const tr__wbuf *w)
{
    if (w->oom)
        return TR_ENOMEM;
    /* DEALER blocks only beyond its high-water mark: the broker is gone
     * and the kernel buffers are full. Not blocking here keeps heartbeats
     * and timeouts working; what is not sent is resent after reconnecting. */
    if (zmq_send(c->sock, w->p, w->len, ZMQ_DONTWAIT) < 0)
        return errno == EAGAIN ? TR_EFULL : TR_ESYSTEM;
    c->sent = tr__now_ms();
    return TR_OK;
}

static void s_hello(tr_work_client *c)
{
    tr__wbuf_reset(&c->w, TR__W_HELLO);
    tr__wbuf_u8(&c->w, TR__ROLE_PRODUCER);
    tr__wbuf_bytes(&c->w, "\0\0\0", 3);
    tr__wbuf_u32(&c->w, 0);
    tr__wbuf_u32(&c->w, (uint32_t)c->o.heartbeat_ms);
    tr__wbuf_u32(&c->w, (uint32_t)c->o.timeout_ms);
    tr__wbuf_bytes(&c->w, c->id, strlen(c->id));
    s_send(c, &c->w);
    c->welcomed = false;
}

/* Nothing to do: registering a hook is what makes troupe terminate this
 * process's context at exit (sending what sockets still hold, within
 * their linger), even in a program that never called tr_sys_init. */
static void s_at_exit(void)
{
}

/* A new socket (first use, a fork, or a broker gone silent). */
static int s_connect(tr_work_client *c)
{
    s_close_socket(c, 0);
    c->pid = tr__pid();
    c->sock = tr__sys_socket(ZMQ_DEALER);
    if (c->sock == NULL)
        return TR_ESYSTEM;
    char rid[TR__WORK_MAX_ID + 3];
    int n = snprintf(rid, sizeof rid, "p/%s", c->id);
    /* What is queued when the process exits (the last result
     * acknowledgements) still goes out for a while; the exit hook makes
     * sure the process's context is terminated, which is when it does. */
    int linger = EXIT_LINGER_MS;
    int64_t maxmsg = -1;
    tr__sys_add_exit_hook(TR__EXIT_DELIVER, s_at_exit);
    zmq_setsockopt(c->sock, ZMQ_ROUTING_ID, rid, (size_t)n);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (c->o.security.key_file != NULL &&
        tr__curve_client(c->sock, c->o.security.key_file, c->o.security.broker_key) != TR_OK) {
        tr__sys_close(&c->sock);
        return TR_ESYSTEM;
    }
    /* A link cut and mended is reconnected by ZeroMQ under the same
     * routing id, silently: frames in flight then are lost, and the broker
     * may not notice. The monitor tells us, and we start over as on a new
     * socket (HELLO; the broker sends its results again, we our tasks). */
    c->mon = tr__sys_monitor(c->sock, ZMQ_EVENT_CONNECTED);
    c->connected_once = false;
    if (c->mon == NULL || zmq_connect(c->sock, c->endpoint) != 0) {
        tr_log(TR_LOG_ERROR, "TR-WORK-CONNECT", "cannot connect to %s: %s", c->endpoint,
               zmq_strerror(errno));
        s_close_socket(c, 0);
        return TR_ESYSTEM;
    }
    c->gen++;
    c->heard = tr__now_ms();
    s_hello(c);
    return TR_OK;
}

static int s_ready(tr_work_client *c)
{
    if (c->sock != NULL && c->pid == tr__pid())
        return TR_OK;
    c->sock = NULL; /* a parent's socket: never touched in a child */
    return s_connect(c);
}

/* Sends the pending tasks in [from, next_id) that are unacknowledged and
 * not yet sent on this connection, in frames of many. */
static int s_send_pending(tr_work_client *c, uint64_t from)
{
    /* Below base all is acknowledged, and its ring slots are reused. */
    if (from < c->base)
        from = c->base;
    if (c->unsent_from != 0 && c->unsent_from < c->base)
        c->unsent_from = c->base;
    uint64_t id = from;
    while (id < c->next_id) {
        uint64_t again = 0; /* of this frame, sent on an earlier connection */
        tr__wbuf_reset(&c->w, TR__W_SUBMIT);
        tr__wbuf_u32(&c->w, 0);
        uint32_t n = 0;
        uint64_t start = id;
        for (; id < c->next_id && n < TR__WORK_BATCH && c->w.len < TR__WORK_BATCH_BYTES; id++) {
            s_pending *p = &c->ring[id & (c->cap - 1)];
            if (p->acked || p->gen == c->gen)
                continue;
            tr__wbuf_u64(&c->w, id);
            tr__wbuf_u32(&c->w, p->len);
            tr__wbuf_bytes(&c->w, p->data, p->len);
            again += p->gen != 0;
            n++;
        }
        if (n == 0)
            continue;
        tr__wbuf_put_u32_at(&c->w, TR__WORK_HDR, n);
        int rc = s_send(c, &c->w);
        if (rc != TR_OK) {
            /* Not sent (more than the high-water mark waits: the broker
             * is slow or gone): they stay pending, retried by s_pump. */
            if (c->unsent_from == 0 || start < c->unsent_from)
                c->unsent_from = start;
            return rc;
        }
        /* Marked once really sent: only then is this connection's copy
         * the one the broker will acknowledge. */
        for (uint64_t k = start; k < id; k++) {
            s_pending *p = &c->ring[k & (c->cap - 1)];
            if (!p->acked)
                p->gen = c->gen;
        }
        c->st.resent += again;
    }
    if (c->unsent_from != 0 && from <= c->unsent_from)
        c->unsent_from = 0; /* all that waited went */
    return TR_OK;
}

static void s_refuse(tr_work_client *c, const char *what)
{
    c->st.refused++;
    tr_log(TR_LOG_WARN, "TR-WORK-REFUSED", "producer %s: refused a frame from the broker: %s",
           c->id, what);
}

static void s_on_ack(tr_work_client *c, tr__rbuf *r)
{
    uint32_t n = tr__rbuf_count(r, 12);
    for (uint32_t k = 0; k < n && !r->bad; k++) {
        uint64_t first = tr__rbuf_u64(r);
        uint32_t count = tr__rbuf_u32(r);
        if (r->bad || first < 1 || count > c->next_id || first > c->next_id - count)
            break;
        for (uint64_t id = first < c->base ? c->base : first; id < first + count; id++) {
            s_pending *p = &c->ring[id & (c->cap - 1)];
            if (p->acked)
                continue;
            p->acked = true;
            free(p->data);
            p->data = NULL;
            c->unacked--;
            c->st.acked++;
            c->progress = tr__now_ms();
        }
    }
    if (!tr__rbuf_done(r))
        s_refuse(c, "malformed ACK");
    while (c->base < c->next_id && c->ring[c->base & (c->cap - 1)].acked)
        c->base++;
}

/* Checks a RESULTS frame whole, acknowledges its results, keeps it. */
static void s_on_results(tr_work_client *c, zmq_msg_t *m, tr__rbuf *r)
{
    uint32_t n = tr__rbuf_count(r, 16);
    tr__wbuf ack = {0};
    tr__wbuf_reset(&ack, TR__W_RESULT_ACK);
    tr__wbuf_u32(&ack, n);
    for (uint32_t k = 0; k < n && !r->bad; k++) {
        tr__wbuf_u64(&ack, tr__rbuf_u64(r));
        tr__rbuf_u32(r);
        tr__rbuf_bytes(r, tr__rbuf_u32(r));
    }
    if (!tr__rbuf_done(r) || n == 0) {
        if (n != 0)
            s_refuse(c, "malformed RESULTS");
        tr__wbuf_free(&ack);
        return;
    }
    if (c->nin == c->capin) {
        if (c->in_first > 0) {
            memmove(c->inbox, c->inbox + c->in_first, (c->nin - c->in_first) * sizeof *c->inbox);
            c->nin -= c->in_first;
            c->in_first = 0;
        } else {
            size_t cap = c->capin ? c->capin * 2 : 16;
            zmq_msg_t *in = realloc(c->inbox, cap * sizeof *in);
            if (in == NULL) {
                tr__wbuf_free(&ack); /* not acknowledged: sent again later */
                return;
            }
            c->inbox = in;
            c->capin = cap;
        }
    }
    zmq_msg_init(&c->inbox[c->nin]);
    zmq_msg_move(&c->inbox[c->nin], m);
    c->nin++;
    s_send(c, &ack);
    tr__wbuf_free(&ack);
}

/* Handles one frame from the broker. Stats and dead-letter replies to the
 * current request are left in *reply (moved) for their caller. */
static void s_on_frame(tr_work_client *c, zmq_msg_t *m, zmq_msg_t *reply)
{
    tr__rbuf r;
    int cmd = tr__rbuf_open(&r, zmq_msg_data(m), zmq_msg_size(m));
    c->heard = tr__now_ms();
    switch (cmd) {
    case TR__W_WELCOME: {
        uint64_t epoch = tr__rbuf_u64(&r);
        uint32_t hb = tr__rbuf_u32(&r), to = tr__rbuf_u32(&r);
        if (!tr__rbuf_done(&r) || hb == 0 || to < hb) {
            s_refuse(c, "malformed WELCOME");
            break;
        }
        if (c->epoch != 0 && epoch != c->epoch)
            tr_log(TR_LOG_INFO, "TR-WORK-RESTARTED", "producer %s: the broker restarted; "
                   "%u task(s) to send again", c->id, c->unacked);
        c->epoch = epoch;
        c->o.heartbeat_ms = (int)hb;
        c->o.timeout_ms = (int)to;
        c->welcomed = true;
        c->progress = tr__now_ms();
        s_send_pending(c, c->base);
        break;
    }
    case TR__W_RESET:
        c->gen++; /* what was sent before is unknown to the broker now */
        c->st.reconnects++;
        s_hello(c);
        break;
    case TR__W_HEARTBEAT:
        break;
    case TR__W_ACK:
        s_on_ack(c, &r);
        break;
    case TR__W_RESULTS:
        s_on_results(c, m, &r);
        break;
    case TR__W_STATS:
    case TR__W_DEAD_LIST: {
        uint64_t req = tr__rbuf_u64(&r);
        if (reply != NULL && req == c->req)
            zmq_msg_move(reply, m);
        break;
    }
    default:
        s_refuse(c, cmd == 0 ? "not a troupe work frame" : "a command for another role");
        break;
    }
}

/* Handles the frames waiting on the socket, without waiting, after a
 * look at the monitor. */
static void s_drain(tr_work_client *c, zmq_msg_t *reply)
{
    int connects = c->mon != NULL ? tr__sys_monitor_events(c->mon) : 0;
    if (connects > 0 && (c->connected_once || connects > 1)) {
        tr_log(TR_LOG_INFO, "TR-WORK-RECONNECTED", "producer %s: the connection to the "
               "broker was made again: starting over", c->id);
        c->gen++;
        c->st.reconnects++;
        s_hello(c);
    }
    c->connected_once |= connects > 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (int k = 0; k < 1024 && zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) >= 0; k++)
        s_on_frame(c, &m, reply);
    zmq_msg_close(&m);
}

/* Reads what the broker sent, waiting up to wait_ms for a first frame, and
 * keeps the connection alive (heartbeats out, reconnect when silent). */
static int s_pump(tr_work_client *c, int wait_ms, zmq_msg_t *reply)
{
    int rc = s_ready(c);
    if (rc != TR_OK)
        return rc;
    /* What came while we were away first: the broker's heartbeats there
     * say it is alive. */
    s_drain(c, reply);
    long long now = tr__now_ms();
    if (now - c->heard > c->o.timeout_ms) {
        tr_log(TR_LOG_WARN, "TR-WORK-SILENT", "producer %s: no word from the broker for "
               "%d ms: reconnecting", c->id, c->o.timeout_ms);
        c->st.reconnects++;
        if ((rc = s_connect(c)) != TR_OK)
            return rc;
    } else if (c->welcomed && c->unacked > 0 && now - c->progress > c->o.timeout_ms) {
        /* The broker answers, yet nothing was acknowledged for a timeout:
         * what it should have acknowledged was lost on the way (or not
         * written: its journal failed). Everything pending goes again; the
         * broker acknowledges again what it holds already. */
        c->gen++;
        c->progress = now;
        s_send_pending(c, c->base);
    } else if (c->unsent_from != 0 && c->welcomed) {
        s_send_pending(c, c->unsent_from);
    } else if (now - c->sent >= c->o.heartbeat_ms) {
        tr__wbuf_reset(&c->w, TR__W_HEARTBEAT);
        s_send(c, &c->w);
    }
    if (wait_ms > c->o.heartbeat_ms)
        wait_ms = c->o.heartbeat_ms;
    zmq_pollitem_t it[2] = {{.socket = c->sock, .events = ZMQ_POLLIN},
                            {.socket = c->mon, .events = ZMQ_POLLIN}};
    if (wait_ms > 0 && zmq_poll(it, 2, wait_ms) < 0 && errno != EINTR)
        return TR_ESYSTEM;
    s_drain(c, reply);
    return TR_OK;
}

static int s_take(tr_work_client *c, const void *data, size_t size, uint64_t *id)
{
    s_pending *p = &c->ring[c->next_id & (c->cap - 1)];
    p->data = malloc(size ? size : 1);
    if (p->data == NULL)
        return TR_ENOMEM;
    if (size > 0)
        memcpy(p->data, data, size);
    p->len = (uint32_t)size;
    p->acked = false;
    p->gen = 0;
    if (c->unacked == 0)
        c->progress = tr__now_ms(); /* the wait for an acknowledgement starts */
    if (id != NULL)
        *id = c->next_id;
    c->next_id++;
    c->unacked++;
    c->st.submitted++;
    return TR_OK;
}

int tr_work_submitv(tr_work_client *c, const struct iovec *tasks, size_t n, uint64_t *first_id,
                    size_t *n_done, int timeout_ms)
{
    if (n_done != NULL)
        *n_done = 0;
    if (c == NULL || (tasks == NULL && n > 0))
        return TR_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (tasks[i].iov_base == NULL && tasks[i].iov_len > 0)
            return TR_EINVAL;
        if (tasks[i].iov_len > UINT32_MAX - 64 ||
            tasks[i].iov_len > (size_t)TR__WORK_BATCH_BYTES * 64)
            return TR_ETOOBIG;
    }
    int rc = s_ready(c);
    if (rc != TR_OK)
        return rc;
    if (first_id != NULL)
        *first_id = c->next_id;
    long long deadline = tr__deadline_ms(timeout_ms);
    size_t done = 0;
    while (done < n) {
        /* Room in the window first, reading acknowledgements. */
        while (c->next_id - c->base >= (uint64_t)c->o.window) {
            int left = tr__remaining_ms(deadline);
            if (left == 0) {
                s_send_pending(c, c->base);
                if (n_done != NULL)
                    *n_done = done;
                return TR_EFULL;
            }
            if ((rc = s_pump(c, left < 0 ? c->o.heartbeat_ms : left, NULL)) != TR_OK)
                return rc;
        }
        uint64_t from = c->next_id;
        while (done < n && c->next_id - c->base < (uint64_t)c->o.window) {
            if ((rc = s_take(c, tasks[done].iov_base, tasks[done].iov_len, NULL)) != TR_OK)
                return rc;
            done++;
        }
        if (n_done != NULL)
            *n_done = done;
        /* Sent now, even before the WELCOME: they follow the HELLO on the
         * same connection, and are not sent again after it (their gen). */
        uint64_t first = c->unsent_from != 0 ? c->unsent_from : from;
        if ((rc = s_send_pending(c, first)) != TR_OK && rc != TR_EFULL)
            return rc;
        s_pump(c, 0, NULL);
    }
    return TR_OK;
}

int tr_work_submit(tr_work_client *c, const void *data, size_t size, uint64_t *id,
                   int timeout_ms)
{
    if (data == NULL && size > 0)
        return TR_EINVAL;
    struct iovec v = {.iov_base = (void *)(uintptr_t)data, .iov_len = size};
    return tr_work_submitv(c, &v, 1, id, NULL, timeout_ms);
}

int tr_work_flush(tr_work_client *c, int timeout_ms)
{
    if (c == NULL)
        return TR_EINVAL;
    long long deadline = tr__deadline_ms(timeout_ms);
    while (c->unacked > 0) {
        int left = tr__remaining_ms(deadline);
        if (left == 0)
            return TR_ETIMEDOUT;
        int rc = s_pump(c, left < 0 ? c->o.heartbeat_ms : left, NULL);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

void tr_work_result_init(tr_work_result *r)
{
    r->id = 0;
    r->status = 0;
    tr_msg_init(&r->data);
}

void tr_work_result_close(tr_work_result *r)
{
    tr_msg_close(&r->data);
}

/* The next result of the inbox, if any. */
static bool s_next_kept(tr_work_client *c, tr_work_result *r)
{
    while (c->in_first < c->nin) {
        zmq_msg_t *f = &c->inbox[c->in_first];
        if (!c->cur_open) {
            tr__rbuf_open(&c->cur, zmq_msg_data(f), zmq_msg_size(f));
            c->cur_left = tr__rbuf_u32(&c->cur);
            c->cur_open = true;
        }
        if (c->cur_left > 0) {
            c->cur_left--;
            r->id = tr__rbuf_u64(&c->cur);
            r->status = (int32_t)tr__rbuf_u32(&c->cur);
            uint32_t len = tr__rbuf_u32(&c->cur);
            const uint8_t *d = tr__rbuf_bytes(&c->cur, len);
            tr__work_msg_slice(&r->data, f, d, len);
            c->st.results++;
            return true;
        }
        zmq_msg_close(f);
        c->in_first++;
        c->cur_open = false;
    }
    c->in_first = c->nin = 0;
    return false;
}

int tr_work_next(tr_work_client *c, tr_work_result *r, int timeout_ms)
{
    if (c == NULL || r == NULL)
        return TR_EINVAL;
    long long deadline = tr__deadline_ms(timeout_ms);
    for (;;) {
        if (s_next_kept(c, r))
            return TR_OK;
        int left = tr__remaining_ms(deadline);
        int rc = s_pump(c, left < 0 ? c->o.heartbeat_ms : left, NULL);
        if (rc != TR_OK)
            return rc;
        if (s_next_kept(c, r))
            return TR_OK;
        if (left == 0)
            return TR_EEMPTY;
    }
}

void tr_work_client_stats_get(const tr_work_client *c, tr_work_client_stats *out)
{
    if (c == NULL || out == NULL)
        return;
    *out = c->st;
    out->unacked = c->unacked;
}

/* Sends a request (command, a new request id, then max when not NULL) and
 * waits for its reply, left in *reply (initialised here). Its own buffer,
 * not c->w: connecting writes a HELLO there. */
static int s_request(tr_work_client *c, int command, const uint32_t *max, zmq_msg_t *reply,
                     int timeout_ms)
{
    zmq_msg_init(reply);
    tr__wbuf req = {0};
    tr__wbuf_reset(&req, command);
    tr__wbuf_u64(&req, ++c->req);
    if (max != NULL)
        tr__wbuf_u32(&req, *max);
    /* A pump first: a producer idle for long reconnects now, not right
     * after the request went out on the socket it then closes. */
    int rc = s_pump(c, 0, NULL);
    if (rc == TR_OK)
        rc = s_send(c, &req);
    tr__wbuf_free(&req);
    if (rc != TR_OK)
        return rc;
    long long deadline = tr__deadline_ms(timeout_ms);
    while (zmq_msg_size(reply) == 0) {
        int left = tr__remaining_ms(deadline);
        if (left == 0)
            return TR_ETIMEDOUT;
        if ((rc = s_pump(c, left < 0 ? c->o.heartbeat_ms : left, reply)) != TR_OK)
            return rc;
    }
    return TR_OK;
}

int tr_work_broker_stats(tr_work_client *c, tr_broker_stats *out, int timeout_ms)
{
    if (c == NULL || out == NULL)
        return TR_EINVAL;
    zmq_msg_t reply;
    int rc = s_request(c, TR__W_STATS_REQ, NULL, &reply, timeout_ms);
    if (rc == TR_OK) {
        tr__rbuf r;
        tr__rbuf_open(&r, zmq_msg_data(&reply), zmq_msg_size(&reply));
        tr__rbuf_u64(&r);
        uint64_t *v[] = {&out->submitted,  &out->resubmitted,  &out->dispatched,
                         &out->redelivered, &out->completed,    &out->duplicates,
                         &out->delivered,  &out->dead_letters, &out->workers_lost,
                         &out->refused,    &out->denied,       &out->expired};
        for (size_t k = 0; k < sizeof v / sizeof *v; k++)
            *v[k] = tr__rbuf_u64(&r);
        out->queued = tr__rbuf_u32(&r);
        out->running = tr__rbuf_u32(&r);
        out->workers = tr__rbuf_u32(&r);
        out->producers = tr__rbuf_u32(&r);
        if (!tr__rbuf_done(&r))
            rc = TR_EPROTO;
    }
    zmq_msg_close(&reply);
    return rc;
}

int tr_work_dead_letters(tr_work_client *c, tr_dead_letter *out, size_t max, size_t *n,
                         int timeout_ms)
{
    if (c == NULL || n == NULL || (out == NULL && max > 0))
        return TR_EINVAL;
    *n = 0;
    uint32_t most = max > UINT32_MAX ? UINT32_MAX : (uint32_t)max;
    zmq_msg_t reply;
    int rc = s_request(c, TR__W_DEAD_REQ, &most, &reply, timeout_ms);
    if (rc == TR_OK) {
        tr__rbuf r;
        tr__rbuf_open(&r, zmq_msg_data(&reply), zmq_msg_size(&reply));
        tr__rbuf_u64(&r);
        uint32_t count = tr__rbuf_count(&r, 18);
        for (uint32_t k = 0; k < count && k < max && !r.bad; k++) {
            tr_dead_letter *d = &out[*n];
            uint8_t plen = tr__rbuf_u8(&r);
            const uint8_t *p = tr__rbuf_bytes(&r, plen);
            d->id = tr__rbuf_u64(&r);
            d->deaths = tr__rbuf_u32(&r);
            uint32_t len = tr__rbuf_u32(&r);
            const uint8_t *data = tr__rbuf_bytes(&r, len);
            if (r.bad || plen > TR__WORK_MAX_ID)
                break;
            memcpy(d->producer, p, plen);
            d->producer[plen] = '\0';
            tr_msg_init(&d->data);
            tr__work_msg_slice(&d->data, &reply, data, len);
            (*n)++;
        }
        if (!tr__rbuf_done(&r)) {
            for (size_t k = 0; k < *n; k++)
                tr_msg_close(&out[k].data);
            *n = 0;
            rc = TR_EPROTO;
        }
    }
    zmq_msg_close(&reply);
    return rc;
}
