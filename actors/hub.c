/* hub.c: the event hub, one process per system, and the calls that start
 * it. docs/events.md explains the design; the protocol is actors/event.proto.
 *
 * One poll loop over these inputs:
 *
 *   input                           action
 *   -----                           ------
 *   req (SOCK_SEQPACKET), and a     handled as on ctl (below): the local
 *   connection per local client     clients' way in, one wake-up shorter
 *   ctl (ROUTER): a HubRequest      set / clear: apply, write the record,
 *                                   publish, answer; get, stats: answer;
 *                                   publish: publish (answer unless id 0);
 *                                   undecodable: refuse with TR_EPROTO
 *   in (XSUB): [topic][body]        forward to out, unless it is not two
 *                                   frames or uses "$event/" (refused)
 *   out (XPUB, verbose): a          re-publish the state of every event the
 *   subscription to prefix P        prefix covers; for an exact event topic
 *                                   never set, "clear, version 0" (the
 *                                   zguide's last-value cache)
 *   SIGTERM (signalfd)              close the sockets (their files go) and
 *                                   exit by SIGTERM
 *
 * Event state is kept in <run dir>/.hub/events, one fixed-size record per
 * event, rewritten in place (pwrite) before a change is published or
 * answered, and loaded at start: a restarted hub knows every change it
 * ever answered. Versions come from one clock, the highest version on
 * file, so they keep growing across restarts; a hub with no state on file
 * starts its clock at the wall-clock time in microseconds, so that even a
 * lost file cannot make versions go back below what subscribers have seen.
 * Why records and not a whole file renamed into place: rename(2) over the
 * old file costs ~300 us on ext4 here (it starts writeback), longer than
 * the whole wake-up it would sit in; a 128-byte pwrite costs ~1 us and is
 * complete or absent when the process is killed (no power-loss durability
 * is claimed: there is no fsync, as for the rest of the run directory).
 *
 * Each record slot also has a word in <run dir>/.hub/wake (event_internal.h
 * says how it reads), which counts a change once it is written and
 * answered, before it is published, and is then woken as a futex: a
 * waiter in this system sleeps on its event's word and wakes straight from
 * the hub, without a ZeroMQ message on the way. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/event.pb-c.h"
#include "actors/event_internal.h"
#include "core/internal.h"
#include "troupe/event.h"
#include "troupe/supervisor.h"

#define REC_SIZE 128
#define REC_MAGIC "TREV"

typedef struct {
    char name[65];
    bool is_set;
    uint64_t version;
    size_t slot; /* its record's index in the state file */
} s_event;

/* The hub this process runs: one per process. */
static struct {
    void *in, *out, *ctl;
    int sigfd, lockfd, statefd;
    int reqfd;              /* listening SOCK_SEQPACKET for local clients */
    int *clients;           /* their connections */
    size_t nclients, capclients;
    long long accept_after; /* out of descriptors: accept again at this time */
    zmq_pollitem_t *items;  /* the poll set: 5 fixed items, then clients */
    size_t capitems;
    s_event *events; /* O(n) lookups: see TR__HUB_MAX_EVENTS */
    size_t n, nslots;
    uint32_t *wake;  /* the wake file, mapped; NULL: waiters use the SUB */
    s_event *changed; /* written, answered next, then woken and published */
    bool changed_made; /* ... and given its slot by that change */
    uint64_t clock;
    Troupe__HubStats st;
    bool ready;
} H = {.sigfd = -1, .lockfd = -1, .statefd = -1, .reqfd = -1};

/* Counts a refused input and logs it: the first 20, then every 1000th, so
 * that a peer sending garbage cannot flood the log. */
static void s_refuse(const char *what)
{
    if (++H.st.refused <= 20 || H.st.refused % 1000 == 0)
        tr_log(TR_LOG_WARN, "TR-HUB-REFUSED", "%s (%llu refused so far)", what,
               (unsigned long long)H.st.refused);
}

/* ---- the state file ------------------------------------------------------- */

static uint32_t s_fnv1a(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* A record: "TREV", is_set, 3 zero bytes, version (u64 LE), the name
 * NUL-padded to 65 bytes, zeros, and at 124 the FNV-1a hash of bytes
 * 0..123 (u32 LE). */
static void s_record(const s_event *e, unsigned char *r)
{
    memset(r, 0, REC_SIZE);
    memcpy(r, REC_MAGIC, 4);
    r[4] = e->is_set;
    for (int i = 0; i < 8; i++)
        r[8 + i] = (unsigned char)(e->version >> (8 * i));
    memcpy(r + 16, e->name, strlen(e->name));
    uint32_t h = s_fnv1a(r, REC_SIZE - 4);
    for (int i = 0; i < 4; i++)
        r[REC_SIZE - 4 + i] = (unsigned char)(h >> (8 * i));
}

static bool s_unrecord(const unsigned char *r, s_event *e)
{
    uint32_t h = 0;
    for (int i = 0; i < 4; i++)
        h |= (uint32_t)r[REC_SIZE - 4 + i] << (8 * i);
    if (memcmp(r, REC_MAGIC, 4) != 0 || r[4] > 1 || h != s_fnv1a(r, REC_SIZE - 4) ||
        memchr(r + 16, '\0', 65) == NULL)
        return false;
    memset(e, 0, sizeof *e);
    e->is_set = r[4];
    for (int i = 0; i < 8; i++)
        e->version |= (uint64_t)r[8 + i] << (8 * i);
    memcpy(e->name, r + 16, 65);
    return tr_name_valid(e->name);
}

static s_event *s_find(const char *name)
{
    for (size_t i = 0; i < H.n; i++)
        if (strcmp(H.events[i].name, name) == 0)
            return &H.events[i];
    return NULL;
}

static int s_load(const char *path)
{
    H.statefd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    H.events = calloc(TR__HUB_MAX_EVENTS, sizeof *H.events);
    if (H.statefd < 0 || H.events == NULL)
        return TR_ESYSTEM;
    unsigned char r[REC_SIZE];
    size_t damaged = 0;
    for (size_t slot = 0;; slot++) {
        ssize_t k = pread(H.statefd, r, REC_SIZE, (off_t)(slot * REC_SIZE));
        if (k <= 0)
            break;
        H.nslots = slot + 1;
        s_event e;
        if (k != REC_SIZE || !s_unrecord(r, &e)) {
            damaged++;
            continue;
        }
        e.slot = slot;
        s_event *dup = s_find(e.name);
        if (dup != NULL && dup->version >= e.version)
            continue;
        if (dup == NULL && H.n == TR__HUB_MAX_EVENTS) {
            damaged++;
            continue;
        }
        *(dup != NULL ? dup : &H.events[H.n++]) = e;
        if (e.version > H.clock)
            H.clock = e.version;
    }
    if (damaged > 0)
        tr_log(TR_LOG_ERROR, "TR-HUB-STATE", "%s: %zu damaged records skipped", path, damaged);
    if (H.clock == 0 || damaged > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
        if (now_us > H.clock)
            H.clock = now_us;
    }
    return TR_OK;
}

/* Writes e's record; false after logging why (unless quiet). */
static bool s_persist(const s_event *e, bool quiet)
{
    unsigned char r[REC_SIZE];
    s_record(e, r);
    if (pwrite(H.statefd, r, REC_SIZE, (off_t)(e->slot * REC_SIZE)) == REC_SIZE)
        return true;
    if (!quiet)
        tr_log(TR_LOG_ERROR, "TR-HUB-STATE", "cannot write the state of %s: %s", e->name,
           strerror(errno));
    return false;
}

/* Stores v in wake word w and wakes the waiters sleeping on it. */
static void s_word_set(uint32_t *w, uint32_t v)
{
    __atomic_store_n(w, v, __ATOMIC_RELEASE);
    syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static uint32_t *s_word(const s_event *e)
{
    return H.wake != NULL && e->slot + 1 < TR__HUB_WAKE_WORDS ? &H.wake[e->slot + 1] : NULL;
}

/* A change of e: its word counts one more change and says its state. */
static void s_wake(const s_event *e)
{
    uint32_t *w = s_word(e);
    if (w == NULL)
        return;
    uint32_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
    s_word_set(w, TR__WAKE_WORD(TR__WAKE_OWNER(v), TR__WAKE_COUNT(v) + 1, e->is_set));
}

/* e was just given its slot: the word gets the next owner number, so that
 * a waiter still asleep on it for another event (the slot's earlier
 * owner, or an event of a state file that was lost) wakes and asks again
 * rather than take this event's changes for its own. */
static void s_own(const s_event *e)
{
    uint32_t *w = s_word(e);
    if (w != NULL)
        s_word_set(w, TR__WAKE_WORD(TR__WAKE_OWNER(*w) + 1, 0, e->is_set));
}

/* Maps the wake file at path, made (with a new generation) when there is
 * none of the right size. Its blocks are allocated now, so that no store
 * into the mapping can fault on a full file system; without them, or the
 * file, waiters use their subscriptions. */
static void s_wake_open(const char *path)
{
    size_t size = TR__HUB_WAKE_WORDS * sizeof(uint32_t);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || (size_t)st.st_size != size)) {
        close(fd);
        fd = -1;
    }
    const char *why = NULL;
    if (fd >= 0) {
        if ((errno = posix_fallocate(fd, 0, (off_t)size)) != 0)
            why = "cannot allocate";
    } else {
        unlink(tmp);
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        uint32_t gen = 0;
        if (getrandom(&gen, sizeof gen, GRND_NONBLOCK) != sizeof gen)
            gen = (uint32_t)tr__now_us() ^ ((uint32_t)getpid() << 16);
        gen += gen == 0;
        if (fd < 0)
            why = "cannot make";
        else if ((errno = posix_fallocate(fd, 0, (off_t)size)) != 0)
            why = "cannot allocate";
        else if (gen == 0 || pwrite(fd, &gen, sizeof gen, 0) != sizeof gen ||
                 rename(tmp, path) != 0)
            why = "cannot make";
        if (why != NULL)
            unlink(tmp);
    }
    void *p = MAP_FAILED;
    if (why == NULL &&
        (p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
        why = "cannot map";
    if (fd >= 0)
        close(fd);
    if (why != NULL) {
        tr_log(TR_LOG_WARN, "TR-HUB-WAKE", "%s %s (%s): waiters use their subscriptions", why,
               path, strerror(errno));
        return;
    }
    H.wake = p;
}

/* Once the hub can be asked (its sockets bound): every word of the file
 * gets a new owner number and the state of its slot's event, and is woken.
 * What the previous hub left there cannot be trusted: it may have died
 * between writing a change and counting it, or between giving a slot and
 * its new owner number, and its state file may be lost, so that slots now
 * go to other events. Every waiter asleep wakes and asks again, once per
 * start; one whose event was set and cleared meanwhile sees a newer
 * version in the answer. */
static void s_wake_all(void)
{
    if (H.wake == NULL)
        return;
    static uint8_t set[TR__HUB_WAKE_WORDS];
    for (size_t i = 0; i < H.n; i++)
        if (H.events[i].slot + 1 < TR__HUB_WAKE_WORDS)
            set[H.events[i].slot + 1] = H.events[i].is_set;
    for (size_t k = 1; k < TR__HUB_WAKE_WORDS; k++) {
        uint32_t v = __atomic_load_n(&H.wake[k], __ATOMIC_RELAXED);
        s_word_set(&H.wake[k], TR__WAKE_WORD(TR__WAKE_OWNER(v) + 1, 0, set[k]));
    }
}

/* ---- publishing ------------------------------------------------------------ */

static void s_publish_state(const char *topic, size_t tlen, bool is_set, uint64_t version)
{
    Troupe__EventState st;
    troupe__event_state__init(&st);
    st.is_set = is_set;
    st.version = version;
    uint8_t body[32]; /* two varints and their tags */
    size_t n = troupe__event_state__pack(&st, body);
    /* XPUB drops for a subscriber at its high-water mark: never blocks. */
    zmq_send(H.out, topic, tlen, ZMQ_SNDMORE);
    zmq_send(H.out, body, n, 0);
}

static void s_publish_event(const s_event *e)
{
    char topic[TR__EVENT_TOPIC_MAX];
    size_t tlen = tr__event_topic(e->name, topic);
    s_publish_state(topic, tlen, e->is_set, e->version);
}

/* A subscription to prefix arrived: the last-value cache answers it. */
static void s_replay(const unsigned char *prefix, size_t len)
{
    char topic[TR__EVENT_TOPIC_MAX];
    bool exact_known = false;
    for (size_t i = 0; i < H.n; i++) {
        size_t tlen = tr__event_topic(H.events[i].name, topic);
        /* An event never set (a record a watch made) is news only to a
         * subscriber of exactly its topic. */
        if (H.events[i].version == 0 && len != tlen)
            continue;
        if (len <= tlen && memcmp(topic, prefix, len) == 0) {
            s_publish_event(&H.events[i]);
            H.st.replays++;
            exact_known = exact_known || len == tlen;
        }
    }
    char name[65];
    if (!exact_known && tr__event_topic_name(prefix, len, name)) {
        s_publish_state((const char *)prefix, len, false, 0);
        H.st.replays++;
    }
}

/* ---- inputs ------------------------------------------------------------------ */

/* Receives the rest of a message whose first frames were read, and drops
 * it. */
static void s_drain(void *sock, zmq_msg_t *m)
{
    while (zmq_msg_more(m)) {
        zmq_msg_close(m);
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, 0) < 0)
            break;
    }
}

/* One message from a publisher; false when none is waiting. */
static bool s_forward(void)
{
    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&topic, H.in, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&topic);
        return false;
    }
    const char *why = NULL;
    if (!zmq_msg_more(&topic))
        why = "a publisher sent a message of one frame, not [topic][body]";
    else if (zmq_msg_recv(&body, H.in, 0) < 0 || zmq_msg_more(&body))
        why = "a publisher sent a message of more than two frames";
    else if (zmq_msg_size(&topic) >= TR__EVENT_PREFIX_LEN &&
             memcmp(zmq_msg_data(&topic), TR__EVENT_PREFIX, TR__EVENT_PREFIX_LEN) == 0)
        why = "a publisher used the hub's own topic \"" TR__EVENT_PREFIX "\"";
    if (why != NULL) {
        s_drain(H.in, &body);
        s_refuse(why);
    } else if (zmq_msg_send(&topic, H.out, ZMQ_SNDMORE) >= 0 &&
               zmq_msg_send(&body, H.out, 0) >= 0) {
        H.st.forwarded++;
    }
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
    return true;
}

/* One subscription notice; false when none is waiting. */
static bool s_notice(void)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, H.out, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return false;
    }
    const unsigned char *p = zmq_msg_data(&m);
    size_t n = zmq_msg_size(&m);
    if (zmq_msg_more(&m) || n == 0 || p[0] > 1) {
        s_drain(H.out, &m);
        s_refuse("a subscriber sent something that is not a subscription");
    } else if (p[0] == 1) {
        s_replay(p + 1, n - 1);
    } /* an unsubscription: nothing to do */
    zmq_msg_close(&m);
    return true;
}

/* What s_make changed, for s_unmake: a new entry, or an entry taken from
 * an event never set (then its old contents). */
static struct {
    bool evicted;
    s_event old;
} s_undo;

/* An event for name, with a slot: at the end of the table, or when the
 * table is full and evict is set, in the place of an event never set (a
 * record made by a watch, which a set must not be refused for). NULL when
 * there is no room (logged unless quiet). Its record is the caller's to
 * write; s_unmake takes it back if that fails. */
static s_event *s_make(const char *name, bool quiet, bool evict)
{
    s_event *e = NULL;
    s_undo.evicted = false;
    if (H.n < TR__HUB_MAX_EVENTS) {
        e = &H.events[H.n++];
        memset(e, 0, sizeof *e);
        e->slot = H.nslots++;
    } else {
        for (size_t i = 0; evict && e == NULL && i < H.n; i++)
            if (H.events[i].version == 0)
                e = &H.events[i];
        if (e == NULL) {
            if (!quiet)
                tr_log(TR_LOG_WARN, "TR-HUB-FULL", "%s: the hub holds %d events already",
                       name, TR__HUB_MAX_EVENTS);
            return NULL;
        }
        s_undo.evicted = true;
        s_undo.old = *e;
        size_t slot = e->slot;
        memset(e, 0, sizeof *e);
        e->slot = slot;
    }
    snprintf(e->name, sizeof e->name, "%s", name);
    return e;
}

/* Takes back what s_make made (its record could not be written). */
static void s_unmake(s_event *e)
{
    if (s_undo.evicted) {
        *e = s_undo.old;
    } else {
        H.n--;
        H.nslots--;
    }
}

/* set or clear: only a change is written, published and counted, so that
 * a repeated request (a client retrying across a restart) does nothing. */
static void s_change(const char *name, bool set, Troupe__HubReply *r)
{
    s_event *e = s_find(name);
    if (e == NULL && !set)
        return; /* clear, version 0: as never set */
    bool made = e == NULL;
    if (made && (e = s_make(name, false, true)) == NULL) {
        r->rc = TR_ENOMEM;
        return;
    }
    if (e->is_set != set) {
        s_event old = *e;
        e->is_set = set;
        e->version = ++H.clock;
        if (!s_persist(e, false)) {
            *e = old;
            r->rc = TR_ESYSTEM;
            if (made) {
                s_unmake(e);
                return;
            }
        } else {
            H.changed = e;
            H.changed_made = made;
            H.st.changes++;
        }
    }
    r->is_set = e->is_set;
    r->version = e->version;
}

/* get: the state, and for a watch the event's wake word, making its
 * record (clear, version 0) if it has none, so that its slot is fixed. A
 * watch the hub cannot serve (no wake file, no room: a watch never takes
 * another event's place) is answered without: the waiter then uses its
 * subscription. */
static void s_get(const char *name, bool watch, Troupe__HubReply *r)
{
    s_event *e = s_find(name);
    if (e == NULL && watch && H.wake != NULL && H.nslots + 1 < TR__HUB_WAKE_WORDS &&
        (e = s_make(name, true, false)) != NULL) {
        if (s_persist(e, true)) {
            s_own(e);
        } else {
            s_unmake(e);
            e = NULL;
        }
    }
    r->is_set = e != NULL && e->is_set;
    r->version = e != NULL ? e->version : 0;
    uint32_t *w = watch && e != NULL ? s_word(e) : NULL;
    if (w != NULL) {
        r->watched = true;
        r->wake_index = (uint32_t)e->slot + 1;
        r->wake_value = __atomic_load_n(w, __ATOMIC_RELAXED);
        r->wake_gen = H.wake[0];
    }
}

/* After the answer to the request that made it: wakes the waiters of the
 * change and publishes it. The setter hears first, so that the waiters
 * it wakes do not keep it waiting; a question asked after its answer is
 * read after this, so it still sees the change. */
static void s_announce(void)
{
    if (H.changed == NULL)
        return;
    if (H.changed_made)
        s_own(H.changed);
    s_wake(H.changed);
    s_publish_event(H.changed);
    H.changed = NULL;
}

/* Handles one request of size bytes and packs the reply into out (room
 * for any reply); returns the reply's size, or 0 for no reply (id 0).
 * local: it came on the local socket, from a process that can map the
 * wake file; a watch from elsewhere is answered as a plain get. */
static size_t s_handle(const uint8_t *data, size_t size, uint8_t *out, bool local)
{
    Troupe__HubRequest *req = troupe__hub_request__unpack(NULL, size, data);
    Troupe__HubReply r;
    troupe__hub_reply__init(&r);
    Troupe__HubStats st;
    const char *name = NULL;
    if (req == NULL) {
        s_refuse("an undecodable control request");
        r.rc = TR_EPROTO;
        return troupe__hub_reply__pack(&r, out);
    }
    r.id = req->id;
    switch (req->op_case) {
    case TROUPE__HUB_REQUEST__OP_SET:
    case TROUPE__HUB_REQUEST__OP_CLEAR:
    case TROUPE__HUB_REQUEST__OP_GET:
        name = req->op_case == TROUPE__HUB_REQUEST__OP_SET     ? req->set
               : req->op_case == TROUPE__HUB_REQUEST__OP_CLEAR ? req->clear
                                                               : req->get;
        if (!tr_name_valid(name)) {
            s_refuse("a control request with an invalid event name");
            r.rc = TR_EINVAL;
        } else if (req->op_case == TROUPE__HUB_REQUEST__OP_GET) {
            s_get(name, req->watch && local, &r);
        } else {
            s_change(name, req->op_case == TROUPE__HUB_REQUEST__OP_SET, &r);
        }
        break;
    case TROUPE__HUB_REQUEST__OP_PUBLISH: {
        const ProtobufCBinaryData *t = &req->publish->topic;
        if (t->len >= TR__EVENT_PREFIX_LEN &&
            memcmp(t->data, TR__EVENT_PREFIX, TR__EVENT_PREFIX_LEN) == 0) {
            s_refuse("a publish request on the hub's own topic");
            r.rc = TR_EINVAL;
        } else {
            zmq_send(H.out, t->data, t->len, ZMQ_SNDMORE);
            zmq_send(H.out, req->publish->body.data, req->publish->body.len, 0);
            H.st.published++;
        }
        break;
    }
    case TROUPE__HUB_REQUEST__OP_STATS:
        H.st.events = (uint32_t)H.n;
        st = H.st;
        r.stats = &st;
        break;
    default:
        s_refuse("a control request without a known operation");
        r.rc = TR_EPROTO;
    }
    H.st.requests++;
    size_t n = req->id != 0 ? troupe__hub_reply__pack(&r, out) : 0;
    troupe__hub_request__free_unpacked(req, NULL);
    return n;
}

/* A reply is small: an id, a code, a state, a version, seven counters. */
#define REPLY_MAX 256

/* One request on the ROUTER; false when none is waiting. */
static bool s_request(void)
{
    zmq_msg_t peer, m;
    zmq_msg_init(&peer);
    zmq_msg_init(&m);
    if (zmq_msg_recv(&peer, H.ctl, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&peer);
        return false;
    }
    uint8_t out[REPLY_MAX];
    size_t n;
    if (zmq_msg_more(&peer) && zmq_msg_recv(&m, H.ctl, 0) >= 0 && !zmq_msg_more(&m)) {
        n = s_handle(zmq_msg_data(&m), zmq_msg_size(&m), out, false);
    } else {
        s_drain(H.ctl, &m);
        s_refuse("a control request of more than one frame");
        Troupe__HubReply r;
        troupe__hub_reply__init(&r);
        r.rc = TR_EPROTO;
        n = troupe__hub_reply__pack(&r, out);
    }
    zmq_msg_close(&m);
    /* Without ROUTER_MANDATORY a reply to a vanished client is dropped. */
    if (n > 0 && zmq_msg_send(&peer, H.ctl, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(H.ctl, out, n, ZMQ_DONTWAIT);
    zmq_msg_close(&peer);
    s_announce();
    return true;
}

/* ---- local clients --------------------------------------------------------- */

/* Local clients send their requests on a SOCK_SEQPACKET connection to
 * <run dir>/.hub/req: one packet per request, one per reply, the same
 * messages as on the ROUTER. Why a second way in: a request through
 * ZeroMQ wakes the client's I/O thread, then the hub's, then the hub's
 * own thread, three wake-ups on the path of every set (some 20 us each on
 * this project's 2-CPU machines); a packet wakes the hub's thread
 * directly. The ROUTER stays for other hosts, other languages and the
 * supervisors' reports, which need ZeroMQ's queueing. */
#define PACKET_MAX 1024

static void s_client_add(void)
{
    for (;;) {
        int fd = accept4(H.reqfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            /* Out of descriptors (or worse): the connection stays pending,
             * so pause accepting for a while rather than spin on it. Its
             * client waits, or uses its timeout. */
            static uint64_t failures;
            if (++failures <= 20 || failures % 1000 == 0)
                tr_log(TR_LOG_WARN, "TR-HUB-ACCEPT", "accept: %s (%llu so far)",
                       strerror(errno), (unsigned long long)failures);
            H.accept_after = tr__now_ms() + 100;
            return;
        }
        if (H.nclients == H.capclients) {
            size_t cap = H.capclients ? 2 * H.capclients : 16;
            int *c = realloc(H.clients, cap * sizeof *c);
            if (c == NULL) {
                close(fd);
                return;
            }
            H.clients = c;
            H.capclients = cap;
        }
        H.clients[H.nclients++] = fd;
    }
}

/* One request from client i; false when none is waiting. A client that
 * hung up (or broke) is closed and removed. */
static bool s_client_request(size_t i)
{
    uint8_t in[PACKET_MAX], out[REPLY_MAX];
    ssize_t k = recv(H.clients[i], in, sizeof in, MSG_DONTWAIT | MSG_TRUNC);
    if (k < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    if (k <= 0) {
        close(H.clients[i]);
        H.clients[i] = -1; /* removed after the turn */
        return false;
    }
    size_t n;
    if ((size_t)k > sizeof in) {
        s_refuse("a request larger than a local packet may be");
        Troupe__HubReply r;
        troupe__hub_reply__init(&r);
        r.rc = TR_EPROTO;
        n = troupe__hub_reply__pack(&r, out);
    } else {
        n = s_handle(in, (size_t)k, out, true);
    }
    /* A client whose socket is full is not reading: it will ask again. */
    if (n > 0)
        send(H.clients[i], out, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    s_announce();
    return true;
}

/* ---- the process ------------------------------------------------------------- */

static void *s_bind(int type, const char *leaf, const char *tcp)
{
    char path[256], address[300];
    if (tr__hub_path(NULL, leaf, path, sizeof path) != TR_OK)
        return NULL;
    snprintf(address, sizeof address, "ipc://%s", path);
    void *s = tr__sys_socket(type);
    int zero = 0, one = 1;
    if (s == NULL)
        return NULL;
    /* Nothing the hub holds is worth waiting for at exit: clients retry. */
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (type == ZMQ_XPUB)
        zmq_setsockopt(s, ZMQ_XPUB_VERBOSE, &one, sizeof one);
    if (zmq_bind(s, address) != 0 || (tcp != NULL && zmq_bind(s, tcp) != 0)) {
        tr_log(TR_LOG_ERROR, "TR-HUB-BIND", "cannot bind %s: %s", tcp ? tcp : address,
               zmq_strerror(errno));
        tr__sys_close(&s);
    }
    return s;
}

/* Binds the local clients' socket at path; 0 or -1 (errno). */
static int s_listen(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    unlink(path); /* left by a hub that was killed */
    H.reqfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (H.reqfd < 0 || bind(H.reqfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(H.reqfd, 128) != 0)
        return -1;
    return 0;
}

/* Runs before the hub reports ready (tr_hub_start) or first thing in its
 * entry function (under a supervisor). Returns 0, or an exit code. */
static int s_setup(void *arg)
{
    const tr_hub_opts *o = arg;
    tr_hub_opts none = {0};
    if (o == NULL)
        o = &none;
    troupe__hub_stats__init(&H.st);
    /* SIGTERM through the loop: blocked before the context's threads exist,
     * which inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    H.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    char dir[256], path[256];
    if (H.sigfd < 0 || tr__hub_path(NULL, NULL, dir, sizeof dir) != TR_OK ||
        (mkdir(dir, 0700) != 0 && errno != EEXIST) ||
        tr__hub_path(NULL, "lock", path, sizeof path) != TR_OK ||
        (H.lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        tr_log(TR_LOG_ERROR, "TR-HUB-START", "cannot set up %s: %s", dir, strerror(errno));
        return 1;
    }
    /* The lock makes the hub unique whatever its actor's name; the kernel
     * drops it when the process dies, for the next hub to take. */
    if (flock(H.lockfd, LOCK_EX | LOCK_NB) != 0) {
        tr_log(TR_LOG_ERROR, "TR-HUB-EXISTS", "another hub runs in this system");
        return 1;
    }
    if (tr__hub_path(NULL, "events", path, sizeof path) != TR_OK || s_load(path) != TR_OK) {
        tr_log(TR_LOG_ERROR, "TR-HUB-STATE", "cannot open %s: %s", path, strerror(errno));
        return 1;
    }
    if (tr__hub_path(NULL, "wake", path, sizeof path) == TR_OK)
        s_wake_open(path);
    if (tr__hub_path(NULL, "req", path, sizeof path) != TR_OK || s_listen(path) != 0) {
        tr_log(TR_LOG_ERROR, "TR-HUB-BIND", "cannot bind %s: %s", path, strerror(errno));
        return 1;
    }
    H.in = s_bind(ZMQ_XSUB, "in", o->tcp_in);
    H.out = s_bind(ZMQ_XPUB, "out", o->tcp_out);
    H.ctl = s_bind(ZMQ_ROUTER, "ctl", o->tcp_ctl);
    if (H.in == NULL || H.out == NULL || H.ctl == NULL)
        return 1;
    /* Subscribe to everything upstream: XSUB sends it to every publisher,
     * including those that connect later. */
    if (zmq_send(H.in, "\x01", 1, 0) != 1)
        return 1;
    s_wake_all();
    H.ready = true;
    tr_log(TR_LOG_INFO, "TR-HUB-START", "bound in %s; %zu events kept", dir, H.n);
    return 0;
}

static _Noreturn void s_stop(void)
{
    tr_log(TR_LOG_INFO, "TR-HUB-STOP", "SIGTERM: stopping");
    /* Closing unbinds, and libzmq removes the ipc socket files; ours goes
     * too, so that clients can tell that no hub runs. */
    char path[256];
    if (tr__hub_path(NULL, "req", path, sizeof path) == TR_OK)
        unlink(path);
    tr__sys_close(&H.in);
    tr__sys_close(&H.out);
    tr__sys_close(&H.ctl);
    tr__sys_exit_signal(SIGTERM);
}

/* At most this many messages of one input per turn, so that a flood on
 * one socket cannot starve the others. */
#define BURST 256

static int s_main(void *arg)
{
    if (!H.ready) {
        int rc = s_setup(arg);
        if (rc != 0)
            return rc;
    }
    for (;;) {
        /* The fixed inputs, then one item per local client. */
        size_t n = 5 + H.nclients;
        if (n > H.capitems) {
            zmq_pollitem_t *it = realloc(H.items, 2 * n * sizeof *it);
            if (it == NULL) {
                tr_log(TR_LOG_ERROR, "TR-HUB-NOMEM", "out of memory");
                return 1;
            }
            H.items = it;
            H.capitems = 2 * n;
        }
        zmq_pollitem_t *items = H.items;
        items[0] = (zmq_pollitem_t){.fd = H.sigfd, .events = ZMQ_POLLIN};
        long long now = tr__now_ms();
        bool accepting = now >= H.accept_after;
        items[1] = (zmq_pollitem_t){.fd = H.reqfd, .events = accepting ? ZMQ_POLLIN : 0};
        items[2] = (zmq_pollitem_t){.socket = H.ctl, .events = ZMQ_POLLIN};
        items[3] = (zmq_pollitem_t){.socket = H.in, .events = ZMQ_POLLIN};
        items[4] = (zmq_pollitem_t){.socket = H.out, .events = ZMQ_POLLIN};
        for (size_t i = 0; i < H.nclients; i++)
            items[5 + i] = (zmq_pollitem_t){.fd = H.clients[i], .events = ZMQ_POLLIN};
        if (zmq_poll(items, (int)n, accepting ? -1 : (long)(H.accept_after - now)) < 0) {
            if (errno == EINTR)
                continue;
            tr_log(TR_LOG_ERROR, "TR-HUB-POLL", "poll failed: %s", zmq_strerror(errno));
            return 1;
        }
        struct signalfd_siginfo si;
        if ((items[0].revents & ZMQ_POLLIN) &&
            read(H.sigfd, &si, sizeof si) == (ssize_t)sizeof si)
            s_stop();
        /* Requests first: a set is on the path of every waiter's wake-up.
         * An error on a client's connection is read too, and closes it. */
        for (size_t i = 0; i < H.nclients; i++)
            for (int k = 0; k < BURST && (items[5 + i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) &&
                            s_client_request(i);
                 k++)
                ;
        for (int k = 0; k < BURST && (items[2].revents & ZMQ_POLLIN) && s_request(); k++)
            ;
        for (int k = 0; k < BURST && (items[3].revents & ZMQ_POLLIN) && s_forward(); k++)
            ;
        for (int k = 0; k < BURST && (items[4].revents & ZMQ_POLLIN) && s_notice(); k++)
            ;
        size_t kept = 0; /* drop the clients that hung up */
        for (size_t i = 0; i < H.nclients; i++)
            if (H.clients[i] >= 0)
                H.clients[kept++] = H.clients[i];
        H.nclients = kept;
        if (items[1].revents & ZMQ_POLLIN)
            s_client_add();
    }
}

/* ---- starting a hub -------------------------------------------------------- */

static int s_hub_name(const tr_hub_opts *opts, const char **name)
{
    *name = opts != NULL && opts->name != NULL ? opts->name : "hub";
    return tr_name_valid(*name) ? TR_OK : TR_EINVAL;
}

int tr_hub_start(tr_actor **out, const tr_hub_opts *opts)
{
    const char *name;
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    if (s_hub_name(opts, &name) != TR_OK)
        return TR_EINVAL;
    tr_spawn_opts so = {.flags = TR_SPAWN_DAEMON | TR_SPAWN_NO_MAILBOX};
    return tr__actor_spawn_ex(out, name, s_setup, s_main, (void *)(uintptr_t)opts, &so,
                              so.flags);
}

void tr_hub_child_spec(tr_child_spec *out, const tr_hub_opts *opts)
{
    const char *name;
    if (out == NULL)
        return;
    s_hub_name(opts, &name); /* an invalid name fails the spec's check */
    *out = (tr_child_spec){
        .name = name,
        .fn = s_main,
        .arg = (void *)(uintptr_t)opts,
        .restart = TR_PERMANENT,
        .shutdown_ms = 2000,
        .flags = TR_SPAWN_DAEMON | TR_SPAWN_NO_MAILBOX,
    };
    char dir[256];
    if (tr__hub_path(NULL, NULL, dir, sizeof dir) == TR_OK)
        mkdir(dir, 0700);
}
