/* event.c: the hub's clients, in the caller's process: what they share,
 * events, the hub's counters, and the supervisors' lifecycle reports.
 * Publishers and subscribers are pubsub.c, the hub itself hub.c;
 * docs/events.md explains the whole.
 *
 * Every handle makes its sockets in the process that uses it (a handle may
 * be inherited through fork, as queues are). Requests to the hub carry an
 * id, and are sent again while unanswered (the hub may be restarting: set
 * and clear are idempotent there), with a doubling interval, until the
 * caller's deadline. They go on a SOCK_SEQPACKET connection to this
 * system's hub (hub.c says why), or on a DEALER to a hub given by address. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/event.pb-c.h"
#include "actors/event_internal.h"
#include "core/internal.h"
#include "troupe/event.h"

/* First resend of an unanswered request, and the cap of its doubling. */
#define RESEND_MS 20
#define RESEND_MAX_MS 1000
/* A waiter asks the hub again this often: a set whose message was lost on
 * its way (a subscriber that fell behind by the high-water mark, a hub that
 * died between publishing and answering) delays a wake by at most this. */
#define RECHECK_MS 1000
/* Sockets retry a vanished hub after 1 ms, then up to every 10 ms, as
 * senders to actors do: a restarted hub is reached within milliseconds. */
#define RECONNECT_MIN_MS 1
#define RECONNECT_MAX_MS 10

/* ---- shared helpers ---------------------------------------------------------- */

int tr__hub_path(const char *run_dir, const char *leaf, char *buf, size_t len)
{
    if (run_dir == NULL && (run_dir = tr_sys_run_dir()) == NULL)
        return TR_ESYSTEM;
    int n = snprintf(buf, len, "%s/.hub%s%s", run_dir, leaf ? "/" : "", leaf ? leaf : "");
    /* Every leaf must fit sun_path as an ipc:// address ("events" is the
     * longest leaf: a socket name fits when it does). */
    size_t longest = (size_t)n + (leaf ? 6 - strlen(leaf) : 7);
    return n > 0 && (size_t)n < len && longest <= 107 ? TR_OK : TR_EINVAL;
}

size_t tr__event_topic(const char *name, char *buf)
{
    if (!tr_name_valid(name))
        return 0;
    size_t n = strlen(name);
    memcpy(buf, TR__EVENT_PREFIX, TR__EVENT_PREFIX_LEN);
    memcpy(buf + TR__EVENT_PREFIX_LEN, name, n);
    buf[TR__EVENT_PREFIX_LEN + n] = '\0';
    return TR__EVENT_PREFIX_LEN + n + 1;
}

bool tr__event_topic_name(const void *topic, size_t size, char *name)
{
    const char *t = topic;
    if (size < TR__EVENT_PREFIX_LEN + 2 || size > TR__EVENT_TOPIC_MAX ||
        memcmp(t, TR__EVENT_PREFIX, TR__EVENT_PREFIX_LEN) != 0 || t[size - 1] != '\0')
        return false;
    memcpy(name, t + TR__EVENT_PREFIX_LEN, size - TR__EVENT_PREFIX_LEN);
    return tr_name_valid(name) && strlen(name) == size - TR__EVENT_PREFIX_LEN - 1;
}

static int s_copy(char *dst, const char *src, size_t len)
{
    if (src == NULL || snprintf(dst, len, "%s", src) >= (int)len)
        return TR_EINVAL;
    return TR_OK;
}

int tr__hub_addr_init(tr__hub_addr *a, const tr_hub_addr *hub, bool need_in, bool need_events)
{
    memset(a, 0, sizeof *a);
    if (hub != NULL) {
        if ((need_in && s_copy(a->in, hub->in, sizeof a->in) != TR_OK) ||
            (need_events && (s_copy(a->out, hub->out, sizeof a->out) != TR_OK ||
                             s_copy(a->ctl, hub->ctl, sizeof a->ctl) != TR_OK)) ||
            (!need_in && !need_events && s_copy(a->ctl, hub->ctl, sizeof a->ctl) != TR_OK))
            return TR_EINVAL;
        return TR_OK;
    }
    char dir[128]; /* <= 107 bytes: checked by tr__hub_path */
    int rc = tr__hub_path(NULL, NULL, dir, sizeof dir);
    if (rc != TR_OK)
        return rc;
    struct stat st;
    if (stat(dir, &st) != 0)
        return TR_ECLOSED; /* no hub was ever started in this system */
    snprintf(a->in, sizeof a->in, "ipc://%s/in", dir);
    snprintf(a->out, sizeof a->out, "ipc://%s/out", dir);
    snprintf(a->ctl, sizeof a->ctl, "ipc://%s/ctl", dir);
    snprintf(a->req_path, sizeof a->req_path, "%s/req", dir);
    return TR_OK;
}

/* What a request that got no answer by its deadline returns. */
static int s_no_answer(const tr__hub_addr *a)
{
    struct stat st;
    return a->req_path[0] != '\0' && stat(a->req_path, &st) != 0 ? TR_ECLOSED : TR_ETIMEDOUT;
}

void *tr__hub_socket(int type, const char *address, int linger)
{
    void *s = tr__sys_socket(type);
    if (s == NULL)
        return NULL;
    int ivl = RECONNECT_MIN_MS, ivl_max = RECONNECT_MAX_MS, one = 1;
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    if (linger >= -1)
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    /* troupe's publisher waits instead of dropping when the hub is not
     * taking (see tr_pub_send). */
    if (type == ZMQ_XPUB)
        zmq_setsockopt(s, ZMQ_XPUB_NODROP, &one, sizeof one);
    if (zmq_connect(s, address) != 0) {
        int e = errno;
        tr__sys_close(&s);
        errno = e;
    }
    return s;
}

/* A way to send requests to the hub: a SOCK_SEQPACKET connection to this
 * system's hub (fd, -1 until connected, again after the hub went away), or
 * a DEALER to a hub given by address. */
typedef struct {
    int fd;
    void *dealer;
    uint64_t next_id;
} s_chan;

#define S_CHAN_NONE {.fd = -1}

static int s_chan_open(s_chan *ch, const tr__hub_addr *a)
{
    ch->fd = -1;
    ch->dealer = NULL;
    if (a->req_path[0] != '\0')
        return TR_OK; /* connected at the first send */
    /* Linger 0: an unanswered request is worth nothing once the handle is
     * gone, and must not hold up the process's exit. */
    ch->dealer = tr__hub_socket(ZMQ_DEALER, a->ctl, 0);
    return ch->dealer != NULL ? TR_OK : TR_ESYSTEM;
}

static void s_chan_close(s_chan *ch)
{
    if (ch->fd >= 0)
        close(ch->fd);
    ch->fd = -1;
    tr__sys_close(&ch->dealer);
}

/* Forgets sockets inherited from a parent, never touching them: a ZeroMQ
 * socket is not fork-safe, and an actor's inherited descriptors were
 * closed at its start, so the number may name another file by now. */
static void s_chan_forked(s_chan *ch)
{
    ch->fd = -1;
    ch->dealer = NULL;
}

/* Sends one request without waiting; a failure is left to the next
 * resend (the hub may be restarting). */
static void s_chan_send(s_chan *ch, const tr__hub_addr *a, const void *buf, size_t size)
{
    if (ch->dealer != NULL) {
        /* A DEALER whose hub is gone holds up to the high-water mark;
         * beyond, this copy is simply not sent. */
        zmq_send(ch->dealer, buf, size, ZMQ_DONTWAIT);
        return;
    }
    if (ch->fd < 0) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        memcpy(sa.sun_path, a->req_path, strlen(a->req_path) + 1);
        /* Non-blocking, so that a hub whose backlog is full (it pauses
         * accepting when out of descriptors) makes this copy fail now, to be
         * sent again at the next resend, rather than block past the
         * caller's timeout. */
        ch->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (ch->fd >= 0 && connect(ch->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(ch->fd);
            ch->fd = -1;
        }
        if (ch->fd < 0)
            return;
    }
    if (send(ch->fd, buf, size, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
        close(ch->fd); /* the hub went away: connect again next time */
        ch->fd = -1;
    }
}

/* Receives one reply into buf without waiting: its size, or 0 for none. */
static size_t s_chan_recv(s_chan *ch, uint8_t *buf, size_t len)
{
    if (ch->dealer != NULL) {
        int n = zmq_recv(ch->dealer, buf, len, ZMQ_DONTWAIT);
        return n > 0 && (size_t)n <= len ? (size_t)n : 0; /* a longer one is no reply */
    }
    if (ch->fd < 0)
        return 0;
    ssize_t n = recv(ch->fd, buf, len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close(ch->fd); /* the hub went away */
        ch->fd = -1;
    }
    return n > 0 ? (size_t)n : 0;
}

/* Sends req and waits until deadline for the reply with its id, sending
 * it again while none comes. On TR_OK *out is the reply (free with
 * troupe__hub_reply__free_unpacked). */
static int s_call(s_chan *ch, const tr__hub_addr *a, Troupe__HubRequest *req,
                  Troupe__HubReply **out, long long deadline)
{
    *out = NULL;
    req->id = ++ch->next_id;
    uint8_t buf[256], reply[256];
    size_t size = troupe__hub_request__get_packed_size(req);
    if (size > sizeof buf)
        return TR_EINVAL;
    troupe__hub_request__pack(req, buf);
    long long next_send = tr__now_ms(), interval = RESEND_MS;
    for (;;) {
        long long now = tr__now_ms();
        if (now >= next_send) {
            s_chan_send(ch, a, buf, size);
            next_send = now + interval;
            interval = interval * 2 > RESEND_MAX_MS ? RESEND_MAX_MS : interval * 2;
        }
        size_t n;
        while ((n = s_chan_recv(ch, reply, sizeof reply)) > 0) {
            Troupe__HubReply *rep = troupe__hub_reply__unpack(NULL, n, reply);
            if (rep == NULL)
                return TR_EPROTO;
            if (rep->id == req->id) {
                *out = rep;
                return TR_OK;
            }
            troupe__hub_reply__free_unpacked(rep, NULL); /* an earlier call's */
        }
        now = tr__now_ms();
        if (deadline >= 0 && now >= deadline)
            return s_no_answer(a);
        long long until = deadline >= 0 && deadline < next_send ? deadline : next_send;
        zmq_pollitem_t item = {.socket = ch->dealer, .fd = ch->fd, .events = ZMQ_POLLIN};
        int r = zmq_poll(&item, ch->dealer != NULL || ch->fd >= 0 ? 1 : 0,
                         until > now ? (long)(until - now) : 0);
        if (r < 0 && errno != EINTR)
            return TR_ESYSTEM;
    }
}

/* Receives the body of a message whose topic frame was received: TR_OK,
 * or TR_EPROTO when it is not [topic][body] (what there is gets dropped,
 * topic and body are left empty). */
static int s_recv_body(void *sock, tr_msg *topic, tr_msg *body)
{
    tr_msg_init(body);
    bool two = tr_msg_more(topic) && tr__sock_recv(sock, body, TR_FOREVER) == TR_OK &&
               !tr_msg_more(body);
    if (two)
        return TR_OK;
    bool more = tr_msg_more(body);
    tr_msg extra;
    while (more && tr__sock_recv(sock, &extra, TR_FOREVER) == TR_OK) {
        more = tr_msg_more(&extra);
        tr_msg_close(&extra);
    }
    tr_msg_close(topic);
    tr_msg_close(body);
    return TR_EPROTO;
}

int tr__hub_recv2(void *sock, tr_msg *topic, tr_msg *body, int timeout_ms)
{
    tr_msg_init(body);
    int rc = tr__sock_recv(sock, topic, timeout_ms);
    return rc == TR_OK ? s_recv_body(sock, topic, body) : rc;
}

int tr__hub_sock_fd(void *sock)
{
    int fd = -1;
    size_t len = sizeof fd;
    return sock != NULL && zmq_getsockopt(sock, ZMQ_FD, &fd, &len) == 0 ? fd : -1;
}

/* ---- events ---------------------------------------------------------------- */

struct tr_event {
    char name[65];
    char topic[TR__EVENT_TOPIC_MAX];
    size_t topic_len;
    tr__hub_addr addr;
    pid_t pid;      /* the process whose sockets these are */
    void *sub;      /* SUB to the hub's XPUB, subscribed to topic */
    s_chan req;     /* requests */
    bool no_futex;  /* the kernel refused to sleep on a wake word: use the SUB */
    bool is_set;    /* the latest state heard from the hub, here */
    uint64_t version;
};

int tr_event_decode(tr_msg *topic, tr_msg *body, char *name, size_t len, bool *is_set,
                    uint64_t *version)
{
    char n[65];
    if (topic == NULL || body == NULL || name == NULL ||
        !tr__event_topic_name(tr_msg_data(topic), tr_msg_size(topic), n) || strlen(n) >= len)
        return TR_EINVAL;
    Troupe__EventState *st =
        troupe__event_state__unpack(NULL, tr_msg_size(body), tr_msg_data(body));
    if (st == NULL)
        return TR_EPROTO;
    memcpy(name, n, strlen(n) + 1);
    if (is_set != NULL)
        *is_set = st->is_set;
    if (version != NULL)
        *version = st->version;
    troupe__event_state__free_unpacked(st, NULL);
    return TR_OK;
}

int tr_event_open(tr_event **out, const char *name, const tr_hub_addr *hub)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    if (!tr_name_valid(name))
        return TR_EINVAL;
    tr_event *ev = calloc(1, sizeof *ev);
    if (ev == NULL)
        return TR_ENOMEM;
    int rc = tr__hub_addr_init(&ev->addr, hub, false, true);
    if (rc != TR_OK) {
        free(ev);
        return rc;
    }
    snprintf(ev->name, sizeof ev->name, "%s", name);
    ev->topic_len = tr__event_topic(name, ev->topic);
    ev->req = (s_chan)S_CHAN_NONE;
    *out = ev;
    return TR_OK;
}

/* Makes this process's channel for requests and, when sub, its SUB for the
 * event's states: only waiting needs it, and a setter that subscribed
 * would make the hub send the state again to every subscriber. Linger 0:
 * an unanswered request or an unread state is worth nothing once the
 * handle is gone, and must not hold up the process's exit. */
static int s_event_sockets(tr_event *ev, bool sub)
{
    if (ev->pid != tr__pid()) {
        ev->sub = NULL; /* a parent's: abandoned, never closed */
        s_chan_forked(&ev->req);
        ev->is_set = false;
        ev->version = 0;
        int rc = s_chan_open(&ev->req, &ev->addr);
        if (rc != TR_OK)
            return rc;
        ev->pid = tr__pid();
    }
    if (sub && ev->sub == NULL) {
        ev->sub = tr__hub_socket(ZMQ_SUB, ev->addr.out, 0);
        if (ev->sub == NULL ||
            zmq_setsockopt(ev->sub, ZMQ_SUBSCRIBE, ev->topic, ev->topic_len) != 0) {
            tr__sys_close(&ev->sub);
            return TR_ESYSTEM;
        }
    }
    return TR_OK;
}

/* Takes one state received on the SUB: kept when newer than what was
 * known. Returns whether it was newer. Undecodable states are dropped. */
static bool s_event_take(tr_event *ev, tr_msg *body)
{
    bool newer = false;
    Troupe__EventState *st =
        troupe__event_state__unpack(NULL, tr_msg_size(body), tr_msg_data(body));
    if (st != NULL && st->version > ev->version) {
        ev->version = st->version;
        ev->is_set = st->is_set;
        newer = true;
    }
    if (st != NULL)
        troupe__event_state__free_unpacked(st, NULL);
    return newer;
}

/* Reads every state waiting on the SUB; returns whether one woke. */
static bool s_event_drain(tr_event *ev)
{
    bool woke = false;
    tr_msg topic, body;
    for (;;) {
        int rc = tr__hub_recv2(ev->sub, &topic, &body, TR_NOWAIT);
        if (rc == TR_EEMPTY || rc == TR_ESYSTEM || rc == TR_ECLOSED)
            return woke;
        if (rc == TR_OK)
            woke = (s_event_take(ev, &body) && ev->is_set) || woke;
        tr_msg_close(&topic);
        tr_msg_close(&body);
    }
}

/* Receives states until one wakes this waiter (1), or until the time
 * `until` (0); -1 when the socket fails. The waiter was told "clear" at
 * the version it knows: any newer state wakes it, a set, or a clear whose
 * set this subscription missed (changes alternate). The SUB's own
 * blocking receive (ZMQ_RCVTIMEO), rather than a poll then a receive, is
 * what a plain ZeroMQ subscriber does: it is on the path of every
 * wake-up. */
static int s_event_await(tr_event *ev, long long until)
{
    for (;;) {
        int left = tr__remaining_ms(until);
        tr_msg topic, body;
        tr_msg_init(&topic);
        zmq_setsockopt(ev->sub, ZMQ_RCVTIMEO, &left, sizeof left);
        if (zmq_msg_recv(&((tr__msg *)&topic)->zmsg, ev->sub, 0) < 0) {
            tr_msg_close(&topic);
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        bool woke = s_recv_body(ev->sub, &topic, &body) == TR_OK && s_event_take(ev, &body);
        tr_msg_close(&topic);
        tr_msg_close(&body);
        if (woke)
            return 1;
    }
}

/* ---- waiting on the wake file ------------------------------------------------ */

/* This process's read-only mapping of its system's wake file, with the
 * generation it had when mapped (event_internal.h says what the file
 * holds). A new generation is mapped anew; an older mapping is kept, and
 * linked from the new one, as another thread may still sleep on it: one
 * per time a hub lost its state, 32 KiB each. */
typedef struct s_wakemap {
    const uint32_t *words;
    uint32_t gen;
    struct s_wakemap *older;
} s_wakemap;

static s_wakemap *s_wake_cur;

/* The words of the wake file next to a's request socket, when its
 * generation is gen; NULL when it cannot be had (then the waiter uses its
 * subscription). */
static const uint32_t *s_wake_words(const tr__hub_addr *a, uint32_t gen)
{
    s_wakemap *m = __atomic_load_n(&s_wake_cur, __ATOMIC_ACQUIRE);
    if (m != NULL && m->gen == gen)
        return m->words;
    char path[sizeof a->req_path];
    size_t dir = strlen(a->req_path) - strlen("req");
    if (snprintf(path, sizeof path, "%.*swake", (int)dir, a->req_path) >= (int)sizeof path)
        return NULL;
    size_t size = TR__HUB_WAKE_WORDS * sizeof(uint32_t);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || (size_t)st.st_size != size) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return NULL;
    s_wakemap *n = malloc(sizeof *n);
    if (n == NULL || ((const uint32_t *)p)[0] != gen) {
        free(n);
        munmap(p, size);
        return NULL;
    }
    n->words = p;
    n->gen = gen;
    n->older = m;
    if (!__atomic_compare_exchange_n(&s_wake_cur, &m, n, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        /* Another thread mapped it meanwhile: its mapping serves. */
        free(n);
        munmap(p, size);
        return m != NULL && m->gen == gen ? m->words : NULL;
    }
    return n->words;
}

/* Sleeps while *w is still value, until the time `until` (ms). False
 * when the kernel refuses to (not a timeout, a signal or a changed word):
 * then the waiter uses its subscription instead. */
static bool s_futex_wait(const uint32_t *w, uint32_t value, long long until)
{
    int left = tr__remaining_ms(until);
    if (left == 0)
        return true;
    struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
    if (syscall(SYS_futex, w, FUTEX_WAIT, value, left < 0 ? NULL : &ts, NULL, 0) == 0)
        return true;
    return errno == EAGAIN || errno == EINTR || errno == ETIMEDOUT;
}

/* What a watch answered: where the event's wake word is, and its value
 * with the answer. */
typedef struct {
    bool watched;
    uint32_t index, value, gen;
} s_watch;

/* Sends one request about this event (op: set, clear or get) and takes the
 * hub's answer as the truth about its state here. A get with w asks for a
 * watch too. */
static int s_event_call(tr_event *ev, int op, long long deadline, s_watch *w)
{
    Troupe__HubRequest req;
    troupe__hub_request__init(&req);
    req.op_case = op;
    char *name = ev->name;
    if (op == TROUPE__HUB_REQUEST__OP_SET)
        req.set = name;
    else if (op == TROUPE__HUB_REQUEST__OP_CLEAR)
        req.clear = name;
    else
        req.get = name;
    req.watch = w != NULL;
    Troupe__HubReply *r;
    int rc = s_call(&ev->req, &ev->addr, &req, &r, deadline);
    if (rc != TR_OK)
        return rc;
    rc = r->rc;
    if (rc == TR_OK) {
        ev->is_set = r->is_set;
        ev->version = r->version;
        if (w != NULL)
            *w = (s_watch){r->watched && r->wake_index < TR__HUB_WAKE_WORDS, r->wake_index,
                           r->wake_value, r->wake_gen};
    }
    troupe__hub_reply__free_unpacked(r, NULL);
    return rc;
}

static int s_event_op(tr_event *ev, int op, int timeout_ms)
{
    if (ev == NULL)
        return TR_EINVAL;
    int rc = s_event_sockets(ev, false);
    return rc != TR_OK ? rc : s_event_call(ev, op, tr__deadline_ms(timeout_ms), NULL);
}

int tr_event_set(tr_event *ev, int timeout_ms)
{
    return s_event_op(ev, TROUPE__HUB_REQUEST__OP_SET, timeout_ms);
}

int tr_event_clear(tr_event *ev, int timeout_ms)
{
    return s_event_op(ev, TROUPE__HUB_REQUEST__OP_CLEAR, timeout_ms);
}

int tr_event_is_set(tr_event *ev, bool *out, int timeout_ms)
{
    if (out == NULL)
        return TR_EINVAL;
    int rc = s_event_op(ev, TROUPE__HUB_REQUEST__OP_GET, timeout_ms);
    if (rc == TR_OK)
        *out = ev->is_set;
    return rc;
}

/* What sleeping on a wake word ended with. */
enum { S_SLEPT, S_WOKE, S_ASK_AGAIN, S_NO_FUTEX, S_NO_WORD };

/* Waits on the event's wake word, from the watch's answer w, until it
 * changes or until the time `until`. From a clear answer, any change of
 * the event is a set, or a set then more: the waiter wakes. A new owner
 * number says the slot was given to another event (its record was
 * replaced while the table was full, or the hub lost its state file and
 * handed slots out again): the waiter asks again. */
static int s_event_sleep(tr_event *ev, const uint32_t *words, const s_watch *w,
                         long long until)
{
    const uint32_t *word = &words[w->index];
    for (;;) {
        uint32_t now = __atomic_load_n(word, __ATOMIC_ACQUIRE);
        if (now != w->value) {
            if (TR__WAKE_OWNER(now) != TR__WAKE_OWNER(w->value))
                return S_ASK_AGAIN;
            ev->is_set = true; /* its version is not known here: the SUB's is newer */
            return S_WOKE;
        }
        if (tr__remaining_ms(until) == 0)
            return S_SLEPT;
        if (!s_futex_wait(word, w->value, until))
            return S_NO_FUTEX;
    }
}

int tr_event_wait(tr_event *ev, int timeout_ms)
{
    if (ev == NULL)
        return TR_EINVAL;
    /* A waiter in the hub's own system sleeps on the event's wake word
     * (a futex the hub wakes); others, and any event the hub cannot give
     * a word, wait for a state on the SUB. */
    bool words_ok = ev->addr.req_path[0] != '\0' && timeout_ms != TR_NOWAIT && !ev->no_futex;
    int rc = s_event_sockets(ev, !words_ok);
    if (rc != TR_OK)
        return rc;
    if (timeout_ms == TR_NOWAIT)
        return s_event_drain(ev) || ev->is_set ? TR_OK : TR_ETIMEDOUT;
    /* Ask first: what the SUB holds may be older than a clear made
     * elsewhere, while the hub's answer covers every change made before
     * this call. Then only states newer than the answer count. The hub is
     * asked again every RECHECK_MS: it may have restarted, even with a new
     * wake file. */
    long long deadline = tr__deadline_ms(timeout_ms);
    uint64_t first = 0; /* the version of the first answer, clear */
    for (bool asked = false;; asked = true) {
        s_watch w = {0};
        rc = s_event_call(ev, TROUPE__HUB_REQUEST__OP_GET, deadline, words_ok ? &w : NULL);
        if (rc != TR_OK || ev->is_set)
            return rc;
        /* Clear again, but changed since the first answer: changes
         * alternate, so a set came in between (a pulse whose news this
         * waiter missed: its word given to another event meanwhile, its
         * subscription's states dropped). Versions only grow. */
        if (asked && ev->version > first)
            return TR_OK;
        first = ev->version;
        long long recheck = tr__now_ms() + RECHECK_MS;
        long long until = deadline >= 0 && deadline < recheck ? deadline : recheck;
        const uint32_t *words = w.watched ? s_wake_words(&ev->addr, w.gen) : NULL;
        int r = words != NULL ? s_event_sleep(ev, words, &w, until) : S_NO_WORD;
        if (r == S_WOKE)
            return TR_OK;
        if (r == S_NO_FUTEX) {
            ev->no_futex = true;
            words_ok = false;
            r = S_NO_WORD;
        }
        if (r == S_NO_WORD) {
            /* No word to sleep on: the subscription instead, made before
             * asking again, so that no state is lost in between. */
            if (ev->sub == NULL) {
                if ((rc = s_event_sockets(ev, true)) != TR_OK)
                    return rc;
                continue;
            }
            r = s_event_await(ev, until);
            if (r != 0)
                return r > 0 ? TR_OK : TR_ESYSTEM;
        }
        if (deadline >= 0 && tr__now_ms() >= deadline)
            return TR_ETIMEDOUT;
    }
}

int tr_event_fd(tr_event *ev)
{
    return ev != NULL && s_event_sockets(ev, true) == TR_OK ? tr__hub_sock_fd(ev->sub) : -1;
}

int tr_event_seen(tr_event *ev, bool *is_set, uint64_t *version)
{
    if (ev == NULL)
        return TR_EINVAL;
    int rc = s_event_sockets(ev, true);
    if (rc != TR_OK)
        return rc;
    s_event_drain(ev);
    if (is_set != NULL)
        *is_set = ev->is_set;
    if (version != NULL)
        *version = ev->version;
    return TR_OK;
}

const char *tr_event_name(const tr_event *ev)
{
    return ev != NULL ? ev->name : NULL;
}

void tr_event_destroy(tr_event **evp)
{
    if (evp == NULL || *evp == NULL)
        return;
    tr_event *ev = *evp;
    if (ev->pid == tr__pid()) {
        tr__sys_close(&ev->sub);
        s_chan_close(&ev->req);
    }
    free(ev);
    *evp = NULL;
}

/* ---- the hub's counters ---------------------------------------------------- */

int tr_hub_stats_get(const tr_hub_addr *hub, tr_hub_stats *out, int timeout_ms)
{
    if (out == NULL)
        return TR_EINVAL;
    tr__hub_addr a;
    int rc = tr__hub_addr_init(&a, hub, false, false);
    if (rc != TR_OK)
        return rc;
    s_chan ch = S_CHAN_NONE;
    if ((rc = s_chan_open(&ch, &a)) != TR_OK)
        return rc;
    Troupe__HubRequest req;
    troupe__hub_request__init(&req);
    req.op_case = TROUPE__HUB_REQUEST__OP_STATS;
    req.stats = 1;
    Troupe__HubReply *r;
    rc = s_call(&ch, &a, &req, &r, tr__deadline_ms(timeout_ms));
    if (rc == TR_OK) {
        const Troupe__HubStats *st = r->stats;
        rc = r->rc != TR_OK ? r->rc : st == NULL ? TR_EPROTO : TR_OK;
        if (rc == TR_OK)
            *out = (tr_hub_stats){st->requests, st->refused,  st->forwarded, st->published,
                                  st->changes,  st->replays,  st->events};
        troupe__hub_reply__free_unpacked(r, NULL);
    }
    s_chan_close(&ch);
    return rc;
}

/* ---- supervisors' reports ------------------------------------------------------ */

/* This process's reporting socket: a DEALER to the hub's ctl, made at the
 * first report once a hub exists. A DEALER queues from the moment it
 * connects, so, unlike a publisher, it loses nothing to a hub that is
 * still binding or is restarting. */
static struct {
    pid_t pid;
    void *sock;
    uint64_t dropped;
} R;

void tr__hub_report(const char *topic, const char *line)
{
    if (R.pid != tr__pid()) {
        R.sock = NULL; /* a parent's: abandoned, never closed */
        R.pid = tr__pid();
        R.dropped = 0;
    }
    if (R.sock == NULL) {
        tr__hub_addr a;
        if (tr__hub_addr_init(&a, NULL, false, false) != TR_OK)
            return; /* no hub in this system: nobody to tell */
        /* At exit, 100 ms for the last reports to leave, and no more: the
         * hub may be gone (stopped before this supervisor, its parent). */
        if ((R.sock = tr__hub_socket(ZMQ_DEALER, a.ctl, 100)) == NULL)
            return;
    }
    Troupe__HubPublish pub;
    troupe__hub_publish__init(&pub);
    pub.topic.data = (uint8_t *)(uintptr_t)topic;
    pub.topic.len = strlen(topic);
    pub.body.data = (uint8_t *)(uintptr_t)line;
    pub.body.len = strlen(line);
    Troupe__HubRequest req;
    troupe__hub_request__init(&req); /* id 0: no reply */
    req.op_case = TROUPE__HUB_REQUEST__OP_PUBLISH;
    req.publish = &pub;
    uint8_t buf[512];
    size_t size = troupe__hub_request__get_packed_size(&req);
    if (size <= sizeof buf) {
        troupe__hub_request__pack(&req, buf);
        if (zmq_send(R.sock, buf, size, ZMQ_DONTWAIT) >= 0)
            return;
    }
    if (++R.dropped <= 20 || R.dropped % 1000 == 0)
        tr_log(TR_LOG_WARN, "TR-HUB-REPORT-DROP", "the hub is not taking reports: dropped %s "
               "(%llu so far)", topic, (unsigned long long)R.dropped);
}
