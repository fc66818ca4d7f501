/* queue.c: the handle, addresses, and the consumer side of a queue.
 *
 * Topology. A queue has `producers` slots known in advance: producer i binds
 * a ROUTER at <dir>/<i> (ipc) or host:port+i (tcp), and every consumer
 * connects one DEALER to each slot. Knowing the addresses in advance means
 * nobody has to discover anybody: a consumer that starts before a producer
 * simply connects early (ZeroMQ retries), a producer that starts before its
 * consumers buffers up to its capacity.
 *
 * Flow. Data goes straight from producer to consumer, one hop, but only as
 * far as the consumer asked: a consumer says HELLO(window) to each slot and
 * CREDIT(k) after it has taken k messages from that slot. The producer sends
 * to the consumers that have credit, round-robin. That is what makes late
 * joiners get their share (plain PUSH would have dealt the early ones all it
 * could buffer) and what makes `capacity` exact rather than a guess based on
 * high-water marks.
 *
 * End of stream. A closing producer sends EOS to every consumer it knows and
 * waits for each one's ACK, which a consumer sends when its get reaches the
 * EOS, i.e. after it has got every message that producer sent it. Only then
 * does close return. On ipc the producer also leaves a marker file
 * (<dir>/<i>.closed), so that consumers it never knew, including ones that
 * start later, learn that slot i has ended; they watch the directory with
 * inotify while they wait. A consumer reports TR_ECLOSED once every slot has
 * ended.
 *
 * The producer side is in queue_producer.c.
 */
#include "core/queue_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "troupe/error.h"
#include "troupe/sys.h"

/* How many messages a consumer that never finds its sockets empty hands
 * out between two looks at new connections and ended slots. */
#define TR_LOOK_EVERY 256

/* sun_path holds 107 bytes and a NUL. */
#define TR_IPC_PATH_MAX 107

static tr_queue *s_queues; /* this process's handles, for the exit hook */

static void s_consumer_free(tr__consumer *c);

void tr__queue_exit_hook(void)
{
    pid_t me = tr__pid();
    for (tr_queue *q = s_queues; q != NULL; q = q->next) {
        if (q->prod == NULL || q->prod->pid != me)
            continue;
        if (!q->prod->finished)
            tr__queue_producer_close(q, tr_sys_exit_wait_ms());
        /* The sockets are about to close under it. */
        tr__queue_producer_stop(q->prod);
    }
    for (tr_queue *q = s_queues; q != NULL; q = q->next) {
        if (q->cons != NULL && q->cons->pid == me) {
            s_consumer_free(q->cons); /* stops its monitors first */
            q->cons = NULL;
        }
    }
}

/* ---- addresses ------------------------------------------------------------ */

int tr__queue_endpoint(const tr_queue *q, int slot, char *buf, size_t len)
{
    int n = q->ipc ? snprintf(buf, len, "ipc://%s/%d", q->dir, slot)
                   : snprintf(buf, len, "tcp://%s:%d", q->host, q->port + slot);
    return n > 0 && (size_t)n < len ? TR_OK : TR_EINVAL;
}

int tr__queue_marker(const tr_queue *q, int slot, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%d.closed", q->dir, slot);
    return n > 0 && (size_t)n < len ? TR_OK : TR_EINVAL;
}

static int s_parse(tr_queue *q, const char *address)
{
    if (strncmp(address, "tcp://", 6) == 0) {
        const char *hp = address + 6;
        const char *colon = strrchr(hp, ':');
        if (colon == NULL || colon == hp || (size_t)(colon - hp) >= sizeof q->host)
            return TR_EINVAL;
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end != '\0' || port < 1 || port + q->producers - 1 > 65535)
            return TR_EINVAL;
        memcpy(q->host, hp, (size_t)(colon - hp));
        q->host[colon - hp] = '\0';
        q->port = (int)port;
        q->ipc = false;
    } else if (strncmp(address, "ipc://", 6) == 0) {
        const char *dir = address + 6;
        /* "<dir>/<slot>" must fit sun_path. */
        if (dir[0] != '/' || strlen(dir) + 4 > TR_IPC_PATH_MAX)
            return TR_EINVAL;
        snprintf(q->dir, sizeof q->dir, "%s", dir);
        q->ipc = true;
    } else {
        return TR_EINVAL;
    }
    snprintf(q->address, sizeof q->address, "%s", address);
    return TR_OK;
}

static int s_opts(tr_queue *q, const tr_queue_opts *o)
{
    tr_queue_opts d = {0};
    if (o == NULL)
        o = &d;
    if (o->capacity < 0 || o->producers < 0 || o->window < 0 || o->producers > TR__QUEUE_MAX_SLOTS)
        return TR_EINVAL;
    q->capacity = o->capacity ? o->capacity : 4000;
    q->producers = o->producers ? o->producers : 1;
    /* A window of 1000 is what ZeroMQ's own default high-water mark lets a
     * PULL socket hold; with batches, it lets a queue keep up with plain
     * PUSH/PULL (docs/BENCHMARKS.md). Four consumers fill the default
     * capacity. */
    q->window = o->window ? o->window : (q->capacity < 1000 ? q->capacity : 1000);
    if (q->window > q->capacity)
        return TR_EINVAL;
    return TR_OK;
}

static int s_make(tr_queue **out, const char *name, const tr_queue_opts *opts, bool create)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    if (name == NULL)
        return TR_EINVAL;
    tr_queue *q = calloc(1, sizeof *q);
    if (q == NULL)
        return TR_ENOMEM;
    int rc = s_opts(q, opts);
    if (rc == TR_OK) {
        if (strstr(name, "://") != NULL) {
            rc = s_parse(q, name);
        } else if (!create) {
            rc = TR_EINVAL;
        } else {
            char address[sizeof q->address];
            rc = tr_sys_address(name, address, sizeof address);
            if (rc == TR_OK)
                rc = s_parse(q, address);
        }
    }
    if (rc == TR_OK && q->ipc) {
        if (create) {
            if (mkdir(q->dir, 0700) == 0)
                q->creator = tr__pid();
            else
                rc = errno == EEXIST ? TR_EEXIST : TR_ESYSTEM;
        } else {
            struct stat st;
            if (stat(q->dir, &st) != 0)
                rc = TR_ESYSTEM;
            else if (!S_ISDIR(st.st_mode))
                rc = TR_EINVAL;
        }
    }
    if (rc != TR_OK) {
        int e = errno;
        free(q);
        errno = e;
        return rc;
    }
    q->next = s_queues;
    if (s_queues != NULL)
        s_queues->prev = q;
    s_queues = q;
    *out = q;
    return TR_OK;
}

int tr_queue_new(tr_queue **out, const char *name, const tr_queue_opts *opts)
{
    return s_make(out, name, opts, true);
}

int tr_queue_open(tr_queue **out, const char *address, const tr_queue_opts *opts)
{
    return s_make(out, address, opts, false);
}

const char *tr_queue_address(const tr_queue *q)
{
    return q ? q->address : NULL;
}

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void s_consumer_free(tr__consumer *c);

void tr_queue_destroy(tr_queue **qp)
{
    if (qp == NULL || *qp == NULL)
        return;
    tr_queue *q = *qp;
    *qp = NULL;
    pid_t me = tr__pid();
    if (q->prod != NULL && q->prod->pid == me) {
        if (!q->prod->finished)
            tr__queue_producer_close(q, tr_sys_exit_wait_ms());
        tr__queue_producer_free(q->prod);
    }
    if (q->cons != NULL && q->cons->pid == me)
        s_consumer_free(q->cons);
    /* Roles inherited through fork belong to the parent: not ours to free. */
    if (q->ipc && q->creator == me)
        nftw(q->dir, s_rm, 8, FTW_DEPTH | FTW_PHYS);
    if (q->prev != NULL)
        q->prev->next = q->next;
    else if (s_queues == q)
        s_queues = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    free(q);
}

void tr_queue_stats_get(const tr_queue *q, tr_queue_stats *out)
{
    if (out == NULL)
        return;
    if (q == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    if (q->stats_pid == tr__pid())
        *out = q->stats;
    else
        memset(out, 0, sizeof *out); /* a forked copy's counts are the parent's */
    if (q->prod != NULL && q->prod->pid == tr__pid())
        tr__queue_producer_stats(q->prod, out);
}

void tr__queue_count_rejected(tr_queue *q)
{
    tr__queue_stats_here(q);
    q->stats.rejected++;
}

/* ---- the consumer ---------------------------------------------------------- */

static void s_consumer_free(tr__consumer *c)
{
    if (c->bslot >= 0)
        zmq_msg_close(&c->batch);
    for (int i = 0; i < c->n; i++) {
        if (c->monitors != NULL)
            tr__sys_monitor_stop(c->dealers ? c->dealers[i] : NULL, &c->monitors[i]);
        if (c->dealers != NULL)
            tr__sys_close(&c->dealers[i]);
    }
    free(c->monitors);
    if (c->ino >= 0)
        close(c->ino);
    free(c->dealers);
    free(c->eos);
    free(c->taken);
    free(c->items);
    free(c);
}

static void s_slot_ended(tr__consumer *c, int slot)
{
    if (!c->eos[slot]) {
        c->eos[slot] = 1;
        c->open--;
    }
}

static void s_send_ctl(void *dealer, int kind, uint32_t value)
{
    unsigned char buf[5] = {(unsigned char)kind, (unsigned char)value,
                            (unsigned char)(value >> 8), (unsigned char)(value >> 16),
                            (unsigned char)(value >> 24)};
    /* Control frames are tiny and rare; if the pipe is full the producer is
     * gone or wedged, and a lost CREDIT is resent with the next one. */
    zmq_send(dealer, buf, kind == TR__F_ACK ? 1 : 5, ZMQ_DONTWAIT);
}

/* Reads the markers of slots that ended without telling us (we were not
 * among their consumers). */
static void s_scan_markers(tr_queue *q, tr__consumer *c)
{
    char path[PATH_MAX];
    struct stat st;
    for (int i = 0; i < c->n; i++)
        if (!c->eos[i] && tr__queue_marker(q, i, path, sizeof path) == TR_OK &&
            stat(path, &st) == 0)
            s_slot_ended(c, i);
}

void tr__queue_stats_here(tr_queue *q)
{
    if (q->stats_pid != tr__pid()) {
        memset(&q->stats, 0, sizeof q->stats);
        q->stats_pid = tr__pid();
    }
}

static int s_consumer_start(tr_queue *q)
{
    tr__queue_stats_here(q);
    tr__consumer *c = calloc(1, sizeof *c);
    if (c == NULL)
        return TR_ENOMEM;
    c->pid = tr__pid();
    c->n = c->open = q->producers;
    c->multipart = -1;
    c->bslot = -1;
    c->ino = -1;
    c->dealers = calloc((size_t)c->n, sizeof *c->dealers);
    c->monitors = calloc((size_t)c->n, sizeof *c->monitors);
    c->eos = calloc((size_t)c->n, 1);
    c->taken = calloc((size_t)c->n, sizeof *c->taken);
    c->items = calloc((size_t)c->n * 2 + 1, sizeof *c->items);
    if (c->dealers == NULL || c->monitors == NULL || c->eos == NULL || c->taken == NULL ||
        c->items == NULL) {
        s_consumer_free(c);
        return TR_ENOMEM;
    }
    q->cons = c;
    if (q->ipc) {
        /* Watch before scanning, so a marker made in between is not missed. */
        c->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (c->ino < 0 || inotify_add_watch(c->ino, q->dir, IN_CREATE | IN_MOVED_TO) < 0)
            goto fail;
    }
    int hwm = q->window + 16, linger = 0, ivl = 20;
    c->maxframe = tr_sys_max_msg_size() + 1;
    int64_t maxmsg = (int64_t)c->maxframe;
    for (int i = 0; i < c->n; i++) {
        char ep[256];
        void *d = tr__sys_socket(ZMQ_DEALER);
        if (d == NULL)
            goto fail;
        c->dealers[i] = d;
        zmq_setsockopt(d, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(d, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
        /* A foreign peer that sends more than the limit is disconnected by
         * ZeroMQ before the frame is ever allocated. */
        zmq_setsockopt(d, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        /* HELLO goes out on every (re)connection, which the socket's monitor
         * reports: a producer that restarted in a slot, or a tcp link that
         * came back, learns of us again. */
        if ((c->monitors[i] = tr__sys_monitor(d, ZMQ_EVENT_CONNECTED)) == NULL)
            goto fail;
        if (tr__queue_endpoint(q, i, ep, sizeof ep) != TR_OK || zmq_connect(d, ep) != 0)
            goto fail;
    }
    if (q->ipc)
        s_scan_markers(q, c);
    return TR_OK;
fail:;
    int e = errno;
    s_consumer_free(c);
    q->cons = NULL;
    errno = e;
    return TR_ESYSTEM;
}

/* Drops the remaining frames of a multi-part message. */
static void s_drain_frames(void *sock)
{
    int more = 1;
    size_t len = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &len) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, sock, ZMQ_DONTWAIT);
        zmq_msg_close(&m);
    }
}

static uint32_t s_u32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Whether a BATCH frame is well formed: one or more items, each a u32
 * (size, and bit 31 when more frames of the same message follow) and that
 * many bytes, filling the frame exactly, the last one ending its message. */
static bool s_batch_valid(const unsigned char *b, size_t size)
{
    size_t off = 1, items = 0;
    bool more = false;
    while (off < size) {
        if (size - off < 4)
            return false;
        uint32_t v = s_u32(b + off);
        size_t len = v & 0x7fffffffu;
        if (len > size - off - 4)
            return false;
        more = (v >> 31) != 0;
        off += 4 + len;
        items++;
    }
    return items > 0 && !more;
}

/* A message has been taken from slot s: count it, and give credit back
 * every half window. */
static void s_taken(tr_queue *q, tr__consumer *c, int s)
{
    c->cur = s + 1;
    q->stats.got++;
    if (++c->taken[s] >= (q->window + 1) / 2) {
        s_send_ctl(c->dealers[s], TR__F_CREDIT, (uint32_t)c->taken[s]);
        c->taken[s] = 0;
    }
}

/* Hands out the next item of the BATCH frame being read: m shares the
 * frame (by reference) and shows only the item's bytes. */
static void s_batch_next(tr_queue *q, tr__consumer *c, tr__msg *m)
{
    size_t size = zmq_msg_size(&c->batch);
    const unsigned char *b = zmq_msg_data(&c->batch);
    uint32_t v = s_u32(b + c->boff);
    size_t len = v & 0x7fffffffu;
    zmq_msg_copy(&m->zmsg, &c->batch);
    m->skip = (unsigned)(c->boff + 4);
    m->cut = (unsigned)(size - c->boff - 4 - len) & 0x7fffffffu;
    m->more = (v >> 31) != 0;
    c->boff += 4 + len;
    int s = c->bslot;
    bool first = !c->bcont;
    c->bcont = m->more;
    if (c->boff >= size) {
        zmq_msg_close(&c->batch);
        c->bslot = -1;
    }
    if (first) {
        q->stats.batched++;
        s_taken(q, c, s);
    }
}

/* Tries each open slot once, round-robin. Returns TR_OK with a data frame in
 * msg, TR_ECLOSED, TR_EEMPTY when nothing is waiting, or TR_ESYSTEM. */
static int s_try_get(tr_queue *q, tr__consumer *c, tr__msg *m)
{
    if (c->bslot >= 0) {
        s_batch_next(q, c, m);
        return TR_OK;
    }
    if (c->multipart >= 0) {
        /* The rest of a multi-part message is already here: ZeroMQ delivers
         * messages whole. */
        if (zmq_msg_recv(&m->zmsg, c->dealers[c->multipart], ZMQ_DONTWAIT) < 0)
            return errno == EAGAIN ? TR_EEMPTY : TR_ESYSTEM;
        m->skip = 0;
        if (!zmq_msg_more(&m->zmsg))
            c->multipart = -1;
        return TR_OK;
    }
    for (int k = 0; k < c->n; k++) {
        int s = (c->cur + k) % c->n;
        if (c->eos[s])
            continue;
        for (;;) {
            if (zmq_msg_recv(&m->zmsg, c->dealers[s], ZMQ_DONTWAIT) < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                    break;
                return TR_ESYSTEM;
            }
            size_t size = zmq_msg_size(&m->zmsg);
            int kind = size > 0 ? *(unsigned char *)zmq_msg_data(&m->zmsg) : -1;
            if (kind == TR__F_DATA) {
                m->skip = 1;
                m->cut = 0;
                if (zmq_msg_more(&m->zmsg))
                    c->multipart = s;
                s_taken(q, c, s);
                return TR_OK;
            }
            bool more = zmq_msg_more(&m->zmsg);
            if (kind == TR__F_BATCH && !more && s_batch_valid(zmq_msg_data(&m->zmsg), size)) {
                zmq_msg_init(&c->batch);
                zmq_msg_move(&c->batch, &m->zmsg);
                c->bslot = s;
                c->boff = 1;
                c->bcont = false;
                s_batch_next(q, c, m);
                return TR_OK;
            }
            zmq_msg_close(&m->zmsg);
            zmq_msg_init(&m->zmsg);
            if (kind == TR__F_EOS && !more) {
                s_slot_ended(c, s);
                /* Everything this producer sent us has been got: confirm. */
                s_send_ctl(c->dealers[s], TR__F_ACK, 0);
                if (c->open == 0)
                    return TR_ECLOSED;
                break;
            }
            if (kind == TR__F_PING && !more)
                continue;
            q->stats.rejected++;
            tr_log(TR_LOG_WARN, "TR-QUEUE-REJECT",
                   "%s: dropped a frame of %zu bytes with kind %d from producer %d", q->address,
                   size, kind, s);
            if (more)
                s_drain_frames(c->dealers[s]);
        }
    }
    return TR_EEMPTY;
}

/* Reads the connection events of slot i's dealer: each one means a producer
 * (new, or the same one again) has to hear our HELLO. */
static void s_monitor(tr_queue *q, tr__consumer *c, int i)
{
    if (tr__sys_monitor_events(c->monitors[i]) == 0)
        return;
    /* Credit given to a previous connection died with it; one HELLO reaches
     * the connection there is now, however many came and went. */
    c->taken[i] = 0;
    /* HELLO(window, largest frame we accept): the producer makes no batch
     * bigger than our limit, which may be lower than its own. */
    uint32_t w = (uint32_t)q->window;
    uint32_t l = c->maxframe > UINT32_MAX ? UINT32_MAX : (uint32_t)c->maxframe;
    unsigned char hello[9] = {TR__F_HELLO, (unsigned char)w, (unsigned char)(w >> 8),
                              (unsigned char)(w >> 16), (unsigned char)(w >> 24),
                              (unsigned char)l, (unsigned char)(l >> 8),
                              (unsigned char)(l >> 16), (unsigned char)(l >> 24)};
    zmq_send(c->dealers[i], hello, sizeof hello, ZMQ_DONTWAIT);
}

/* Greets new connections (HELLO) and reads the markers of ended slots when
 * the directory changed. */
static void s_look(tr_queue *q, tr__consumer *c)
{
    c->busy = 0;
    for (int i = 0; i < c->n; i++)
        if (!c->eos[i])
            s_monitor(q, c, i);
    if (c->ino >= 0) {
        char buf[4096];
        bool changed = false;
        while (read(c->ino, buf, sizeof buf) > 0)
            changed = true;
        if (changed)
            s_scan_markers(q, c);
    }
}

/* What a consumer does whenever it has nothing to hand out: look around
 * (above), and confirm what it has taken but not confirmed yet. The last
 * matters: a producer at capacity waits for confirmations, and a consumer
 * that confirms only every window/2 messages could otherwise leave it (and
 * itself) waiting forever. */
static void s_idle(tr_queue *q, tr__consumer *c)
{
    /* HELLO first: a new connection must not hear of credit before it. */
    s_look(q, c);
    for (int i = 0; i < c->n; i++) {
        if (!c->eos[i] && c->taken[i] > 0) {
            s_send_ctl(c->dealers[i], TR__F_CREDIT, (uint32_t)c->taken[i]);
            c->taken[i] = 0;
        }
    }
}

/* Sleeps until a dealer, a monitor or the directory has news, or the
 * deadline. */
static int s_wait(tr__consumer *c, long long deadline)
{
    int n = 0;
    for (int i = 0; i < c->n; i++) {
        if (c->eos[i])
            continue;
        c->items[n++] = (zmq_pollitem_t){.socket = c->dealers[i], .events = ZMQ_POLLIN};
        c->items[n++] = (zmq_pollitem_t){.socket = c->monitors[i], .events = ZMQ_POLLIN};
    }
    if (c->ino >= 0)
        c->items[n++] = (zmq_pollitem_t){.fd = c->ino, .events = ZMQ_POLLIN};
    if (zmq_poll(c->items, n, tr__remaining_ms(deadline)) < 0 && errno != EINTR)
        return TR_ESYSTEM;
    return TR_OK;
}

int tr_queue_get(tr_queue *q, tr_msg *msg, int timeout_ms)
{
    if (msg != NULL)
        tr_msg_init(msg);
    if (q == NULL || msg == NULL)
        return TR_EINVAL;
    tr__msg *m = (tr__msg *)msg;
    if (q->cons == NULL || q->cons->pid != tr__pid()) {
        int rc = s_consumer_start(q);
        if (rc != TR_OK)
            return rc;
    }
    tr__consumer *c = q->cons;
    long long deadline = -2;
    /* A consumer that always finds a message waiting never pauses in
     * s_idle, where it greets new producers: one that connected later
     * would never hear HELLO, never get credit, and its messages would
     * wait forever. So a busy consumer looks around every TR_LOOK_EVERY
     * messages too (a monitor read is a failed non-blocking receive). */
    if (++c->busy >= TR_LOOK_EVERY && c->multipart < 0)
        s_look(q, c);
    for (;;) {
        if (c->open == 0 && c->multipart < 0 && c->bslot < 0)
            return TR_ECLOSED;
        int rc = s_try_get(q, c, m);
        if (rc != TR_EEMPTY)
            return rc;
        s_idle(q, c);
        if ((rc = s_try_get(q, c, m)) != TR_EEMPTY)
            return rc;
        if (c->open == 0)
            return TR_ECLOSED;
        if (timeout_ms == 0)
            return TR_EEMPTY;
        if (deadline == -2)
            deadline = tr__deadline_ms(timeout_ms);
        else if (deadline >= 0 && tr__remaining_ms(deadline) == 0)
            return TR_EEMPTY;
        if ((rc = s_wait(c, deadline)) != TR_OK)
            return rc;
    }
}

int tr_queue_close(tr_queue *q, int timeout_ms)
{
    if (q == NULL)
        return TR_EINVAL;
    pid_t me = tr__pid();
    bool producer = q->prod != NULL && q->prod->pid == me;
    bool consumer = q->cons != NULL && q->cons->pid == me;
    if (consumer && !producer) {
        /* Leaving: what was sent to us and not got is lost, as documented. */
        s_consumer_free(q->cons);
        q->cons = NULL;
        return TR_OK;
    }
    if (!producer) {
        /* A producer with nothing to say still has to end its stream. */
        int rc = tr__queue_producer_start(q);
        if (rc != TR_OK)
            return rc;
    }
    return tr__queue_producer_close(q, timeout_ms);
}
