/* worker.c: a worker of a broker (tr_worker_run, troupe/work.h).
 *
 * Two threads. The I/O thread owns the broker's socket: HELLO, heartbeats
 * both ways, reconnection when the broker goes silent, SIGTERM (through a
 * signalfd), and it checks every TASKS frame whole before passing it on.
 * The main thread runs the tasks, one TASKS frame at a time, and hands back
 * one DONE frame per TASKS frame (or per TR__WORK_BATCH results). They talk
 * over an inproc PAIR. Why a thread: a task may run longer than the
 * broker's timeout, and a worker that ran tasks on the socket's thread
 * would look dead for as long as it runs one (the Paranoid Pirate worker's
 * weakness).
 *
 * Credit: the worker tells the broker how many tasks it wants to hold (its
 * window; the broker counts what it holds). It starts with a few and then
 * asks for about WINDOW_MS of work, by the average time its tasks take,
 * between 1 and prefetch: fast tasks travel in large batches, slow ones
 * are not hoarded by one worker while others wait (a CREDIT frame when
 * the wish changes twofold). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/work_internal.h"
#include "core/internal.h"
#include "troupe/work.h"

#define WINDOW_MS 20
#define FIRST_WINDOW 4

typedef struct {
    char endpoint[512];
    char rid[TR__WORK_MAX_ID + 3];
    char inproc[64];
    tr_worker_opts o;
    int sigfd;
    atomic_bool welcomed;
    atomic_bool io_done; /* the I/O thread ended: nobody reads the PAIR */
    atomic_uint window; /* what the main thread wants to hold */
    atomic_uint_fast64_t reconnects, refused;
    int rc;
} s_io;

/* ---- the I/O thread ---------------------------------------------------------- */

typedef struct {
    s_io *io;
    void *sock, *pair;
    void *mon;           /* CONNECTED events of sock: ZeroMQ's own reconnects */
    bool connected_once;
    zmq_msg_t *waiting;  /* DONE frames the socket did not take yet */
    size_t nwaiting, capwaiting;
    long long heard, sent;
    int64_t held; /* tasks passed to the main thread and not answered */
    tr__wbuf w;
} s_conn;

static void s_send(s_conn *c, const void *p, size_t n)
{
    if (zmq_send(c->sock, p, n, ZMQ_DONTWAIT) >= 0)
        c->sent = tr__now_ms();
}

static void s_hello(s_conn *c)
{
    tr__wbuf_reset(&c->w, TR__W_HELLO);
    tr__wbuf_u8(&c->w, TR__ROLE_WORKER);
    tr__wbuf_bytes(&c->w, "\0\0\0", 3);
    tr__wbuf_u32(&c->w, atomic_load(&c->io->window));
    tr__wbuf_u32(&c->w, (uint32_t)c->io->o.heartbeat_ms);
    tr__wbuf_u32(&c->w, (uint32_t)c->io->o.timeout_ms);
    tr__wbuf_bytes(&c->w, c->io->rid + 2, strlen(c->io->rid + 2));
    s_send(c, c->w.p, c->w.len);
}

static int s_connect(s_conn *c)
{
    if (c->mon != NULL)
        tr__sys_monitor_stop(c->sock, &c->mon);
    tr__sys_close(&c->sock);
    c->sock = tr__sys_socket(ZMQ_DEALER);
    if (c->sock == NULL)
        return TR_ESYSTEM;
    int linger = 0;
    int64_t maxmsg = -1;
    zmq_setsockopt(c->sock, ZMQ_ROUTING_ID, c->io->rid, strlen(c->io->rid));
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    const tr_work_security *sec = &c->io->o.security;
    if (sec->key_file != NULL &&
        tr__curve_client(c->sock, sec->key_file, sec->broker_key) != TR_OK)
        return TR_ESYSTEM;
    /* A link cut and mended is reconnected by ZeroMQ, silently: TASKS in
     * flight then are lost while the broker counts them as ours. The
     * monitor tells us, and a new HELLO makes the broker requeue them. */
    c->mon = tr__sys_monitor(c->sock, ZMQ_EVENT_CONNECTED);
    c->connected_once = false;
    if (c->mon == NULL || zmq_connect(c->sock, c->io->endpoint) != 0)
        return TR_ESYSTEM;
    c->heard = tr__now_ms();
    s_hello(c);
    return TR_OK;
}

/* Checks a TASKS frame whole: the main thread trusts what it is given. */
static bool s_tasks_valid(zmq_msg_t *m)
{
    tr__rbuf r;
    tr__rbuf_open(&r, zmq_msg_data(m), zmq_msg_size(m));
    tr__rbuf_u64(&r);
    uint32_t n = tr__rbuf_count(&r, 16);
    for (uint32_t k = 0; k < n && !r.bad; k++) {
        tr__rbuf_u32(&r);
        tr__rbuf_u64(&r);
        tr__rbuf_bytes(&r, tr__rbuf_u32(&r));
    }
    return n > 0 && tr__rbuf_done(&r);
}

static uint32_t s_count_at(zmq_msg_t *m, size_t off)
{
    tr__rbuf r;
    tr__rbuf_open(&r, zmq_msg_data(m), zmq_msg_size(m));
    tr__rbuf_bytes(&r, off);
    return tr__rbuf_u32(&r);
}

static void s_refuse(s_conn *c, const char *what)
{
    atomic_fetch_add(&c->io->refused, 1);
    tr_log(TR_LOG_WARN, "TR-WORK-REFUSED", "worker %s: refused a frame from the broker: %s",
           c->io->rid + 2, what);
}

static void s_from_broker(s_conn *c, zmq_msg_t *m)
{
    tr__rbuf r;
    int cmd = tr__rbuf_open(&r, zmq_msg_data(m), zmq_msg_size(m));
    c->heard = tr__now_ms();
    switch (cmd) {
    case TR__W_WELCOME: {
        tr__rbuf_u64(&r);
        uint32_t hb = tr__rbuf_u32(&r), to = tr__rbuf_u32(&r);
        if (!tr__rbuf_done(&r) || hb == 0 || to < hb) {
            s_refuse(c, "malformed WELCOME");
            return;
        }
        c->io->o.heartbeat_ms = (int)hb;
        c->io->o.timeout_ms = (int)to;
        atomic_store(&c->io->welcomed, true);
        return;
    }
    case TR__W_RESET:
        atomic_fetch_add(&c->io->reconnects, 1);
        s_hello(c);
        return;
    case TR__W_HEARTBEAT:
        return;
    case TR__W_TASKS:
        if (!s_tasks_valid(m)) {
            s_refuse(c, "malformed TASKS");
            return;
        }
        c->held += s_count_at(m, 8);
        zmq_msg_send(m, c->pair, 0);
        return;
    default:
        s_refuse(c, cmd == 0 ? "not a troupe work frame" : "a command for another role");
    }
}

/* Says BYE and waits (briefly) for the broker to have read it: its RESET
 * answer. Then what we held is requeued at once, with no death charged. */
static bool s_flush_waiting(s_conn *c);

static void s_bye(s_conn *c)
{
    s_flush_waiting(c); /* results first: what is still waiting runs again */
    tr__wbuf_reset(&c->w, TR__W_BYE);
    s_send(c, c->w.p, c->w.len);
    long long deadline = tr__now_ms() + 500;
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (;;) {
        long long left = deadline - tr__now_ms();
        zmq_pollitem_t it = {.socket = c->sock, .events = ZMQ_POLLIN};
        if (left <= 0 || zmq_poll(&it, 1, left) <= 0)
            break;
        if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) >= 0 && zmq_msg_size(&m) >= TR__WORK_HDR &&
            ((uint8_t *)zmq_msg_data(&m))[3] == TR__W_RESET)
            break;
    }
    zmq_msg_close(&m);
}

/* Sends the DONE frames that waited, in order; false if some still wait. */
static bool s_flush_waiting(s_conn *c)
{
    size_t k = 0;
    while (k < c->nwaiting && zmq_msg_send(&c->waiting[k], c->sock, ZMQ_DONTWAIT) >= 0) {
        c->sent = tr__now_ms();
        k++;
    }
    if (k > 0) {
        memmove(c->waiting, c->waiting + k, (c->nwaiting - k) * sizeof *c->waiting);
        c->nwaiting -= k;
    }
    return c->nwaiting == 0;
}

/* Sends a DONE frame from the main thread to the broker, or keeps it (in
 * order) while the socket does not take it: a result dropped here would
 * leave its task counted as ours by the broker for as long as we live. */
static void s_forward(s_conn *c, zmq_msg_t *m)
{
    if (s_flush_waiting(c) && zmq_msg_send(m, c->sock, ZMQ_DONTWAIT) >= 0) {
        c->sent = tr__now_ms();
        return;
    }
    if (c->nwaiting == c->capwaiting) {
        size_t cap = c->capwaiting ? 2 * c->capwaiting : 16;
        zmq_msg_t *w = realloc(c->waiting, cap * sizeof *w);
        if (w == NULL)
            return; /* lost: the broker requeues it when we say HELLO again */
        c->waiting = w;
        c->capwaiting = cap;
    }
    zmq_msg_init(&c->waiting[c->nwaiting]);
    zmq_msg_move(&c->waiting[c->nwaiting++], m);
}

/* ZeroMQ made the connection again by itself: start over (HELLO). */
static void s_monitor(s_conn *c)
{
    int connects = tr__sys_monitor_events(c->mon);
    if (connects > 0 && (c->connected_once || connects > 1)) {
        tr_log(TR_LOG_INFO, "TR-WORK-RECONNECTED", "worker %s: the connection to the broker "
               "was made again: starting over", c->io->rid + 2);
        atomic_fetch_add(&c->io->reconnects, 1);
        s_hello(c);
    }
    c->connected_once |= connects > 0;
}

static void *s_io_main(void *arg)
{
    s_conn c = {.io = arg};
    c.pair = tr__sys_socket(ZMQ_PAIR);
    if (c.pair == NULL || zmq_connect(c.pair, c.io->inproc) != 0 || s_connect(&c) != TR_OK) {
        c.io->rc = TR_ESYSTEM;
        goto out;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (;;) {
        zmq_pollitem_t items[4] = {
            {.socket = c.sock, .events = ZMQ_POLLIN | (c.nwaiting ? ZMQ_POLLOUT : 0)},
            {.socket = c.pair, .events = ZMQ_POLLIN},
            {.fd = c.io->sigfd, .events = ZMQ_POLLIN},
            {.socket = c.mon, .events = ZMQ_POLLIN},
        };
        long long now = tr__now_ms();
        long long wait = c.io->o.heartbeat_ms - (now - c.sent);
        if (zmq_poll(items, 4, wait > 0 ? wait : 0) < 0 && errno != EINTR)
            break;
        if (items[3].revents & ZMQ_POLLIN)
            s_monitor(&c);
        if (c.nwaiting > 0)
            s_flush_waiting(&c);
        if (items[2].revents & ZMQ_POLLIN) {
            tr_log(TR_LOG_INFO, "TR-WORK-STOP", "worker %s: SIGTERM: handing back %lld task(s)",
                   c.io->rid + 2, (long long)c.held);
            s_bye(&c);
            tr__sys_close(&c.sock);
            /* The process ends as any actor stopped by SIGTERM does. */
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGTERM);
            signal(SIGTERM, SIG_DFL);
            pthread_sigmask(SIG_UNBLOCK, &set, NULL);
            raise(SIGTERM);
            _exit(128 + SIGTERM);
        }
        for (int k = 0; k < 256 && zmq_msg_recv(&m, c.sock, ZMQ_DONTWAIT) >= 0; k++)
            s_from_broker(&c, &m);
        bool quit = false;
        for (int k = 0; k < 256 && zmq_msg_recv(&m, c.pair, ZMQ_DONTWAIT) >= 0; k++) {
            if (zmq_msg_size(&m) == 1) { /* the main thread is done */
                quit = true;
                break;
            }
            if (((uint8_t *)zmq_msg_data(&m))[3] == TR__W_DONE)
                c.held -= s_count_at(&m, 8);
            s_forward(&c, &m);
        }
        if (quit) {
            s_bye(&c);
            break;
        }
        now = tr__now_ms();
        if (now - c.heard > c.io->o.timeout_ms) {
            tr_log(TR_LOG_WARN, "TR-WORK-SILENT", "worker %s: no word from the broker for "
                   "%d ms: reconnecting", c.io->rid + 2, c.io->o.timeout_ms);
            atomic_fetch_add(&c.io->reconnects, 1);
            if (s_connect(&c) != TR_OK) {
                c.io->rc = TR_ESYSTEM;
                break;
            }
        } else if (now - c.sent >= c.io->o.heartbeat_ms) {
            tr__wbuf_reset(&c.w, TR__W_HEARTBEAT);
            s_send(&c, c.w.p, c.w.len);
        }
    }
    zmq_msg_close(&m);
out:
    if (c.mon != NULL)
        tr__sys_monitor_stop(c.sock, &c.mon);
    tr__sys_close(&c.sock);
    for (size_t k = 0; k < c.nwaiting; k++)
        zmq_msg_close(&c.waiting[k]);
    free(c.waiting);
    /* Tells the main thread that we are gone: by the flag, which its sends
     * check, and by an empty frame, which wakes its wait. */
    atomic_store(&c.io->io_done, true);
    if (c.pair != NULL)
        zmq_send(c.pair, "", 0, ZMQ_DONTWAIT);
    tr__sys_close(&c.pair);
    tr__wbuf_free(&c.w);
    return NULL;
}

/* ---- the main thread --------------------------------------------------------- */

/* Sends a frame to the I/O thread, waiting while its PAIR is full, but not
 * for an I/O thread that is gone. */
static int s_to_io(void *pair, s_io *io, const void *p, size_t n)
{
    while (zmq_send(pair, p, n, ZMQ_DONTWAIT) < 0) {
        if (errno != EAGAIN || atomic_load(&io->io_done))
            return TR_ESYSTEM;
        zmq_pollitem_t it = {.socket = pair, .events = ZMQ_POLLOUT};
        zmq_poll(&it, 1, 100);
    }
    return TR_OK;
}

/* The average task time (an exponential moving average, in ns), and the
 * window it calls for. */
typedef struct {
    double avg_ns;
    unsigned window;
} s_pace;

static long long s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void s_pace_add(s_pace *pace, double ns)
{
    pace->avg_ns = pace->avg_ns == 0 ? ns : 0.9 * pace->avg_ns + 0.1 * ns;
}

static void s_pace_tell(s_pace *pace, void *pair, s_io *io)
{
    double want = (double)WINDOW_MS * 1e6 / (pace->avg_ns > 1 ? pace->avg_ns : 1);
    unsigned w = want < 1 ? 1 : want > io->o.prefetch ? (unsigned)io->o.prefetch : (unsigned)want;
    /* Told only when it changes twofold (or reaches a bound): a frame per
     * batch at most, not one per task. */
    if (w == pace->window ||
        (w < 2 * pace->window && 2 * w > pace->window && w != 1 &&
         w != (unsigned)io->o.prefetch))
        return;
    pace->window = w;
    atomic_store(&io->window, w);
    tr__wbuf b = {0};
    tr__wbuf_reset(&b, TR__W_CREDIT);
    tr__wbuf_u32(&b, w);
    if (!b.oom)
        s_to_io(pair, io, b.p, b.len);
    tr__wbuf_free(&b);
}

static int s_run_frame(zmq_msg_t *m, void *pair, tr_work_fn fn, void *arg, tr_worker_stats *st,
                       const tr_worker_opts *o, bool *stop, s_pace *pace, s_io *io)
{
    tr__rbuf r;
    tr__rbuf_open(&r, zmq_msg_data(m), zmq_msg_size(m));
    uint64_t epoch = tr__rbuf_u64(&r);
    uint32_t n = tr__rbuf_u32(&r);
    tr__wbuf w = {0};
    uint32_t done = 0;
    size_t count_at = 0;
    for (uint32_t k = 0; k < n; k++) {
        if (done == 0) {
            tr__wbuf_reset(&w, TR__W_DONE);
            tr__wbuf_u64(&w, epoch);
            count_at = w.len;
            tr__wbuf_u32(&w, 0);
        }
        uint32_t pno = tr__rbuf_u32(&r);
        uint64_t id = tr__rbuf_u64(&r);
        uint32_t len = tr__rbuf_u32(&r);
        const uint8_t *data = tr__rbuf_bytes(&r, len);
        void *res = NULL;
        size_t rlen = 0;
        long long t0 = s_now_ns();
        int status = fn(arg, data, len, &res, &rlen);
        if (status < 0 || status > 255)
            status = 255; /* else -1 would read as TR_WORK_DEAD_LETTER */
        s_pace_add(pace, (double)(s_now_ns() - t0));
        if (res == NULL || rlen > UINT32_MAX - 64)
            rlen = 0;
        st->tasks++;
        st->failed += status != 0;
        tr__wbuf_u32(&w, pno);
        tr__wbuf_u64(&w, id);
        tr__wbuf_u32(&w, (uint32_t)status);
        tr__wbuf_u32(&w, (uint32_t)rlen);
        tr__wbuf_bytes(&w, res, rlen);
        free(res);
        done++;
        /* The last task of the frame, a full batch, or the last task this
         * worker will run: the results go now. Tasks it got beyond
         * max_tasks are handed back by the BYE that follows. */
        bool last = o->max_tasks > 0 && st->tasks >= o->max_tasks;
        if (k + 1 == n || done == TR__WORK_BATCH || last) {
            tr__wbuf_put_u32_at(&w, count_at, done);
            if (w.oom || s_to_io(pair, io, w.p, w.len) != TR_OK) {
                tr__wbuf_free(&w);
                return TR_ESYSTEM;
            }
            done = 0;
            s_pace_tell(pace, pair, io);
        }
        if (last) {
            *stop = true;
            break;
        }
    }
    tr__wbuf_free(&w);
    return TR_OK;
}

int tr_worker_run(const char *broker, tr_work_fn fn, void *arg, const tr_worker_opts *opts,
                  tr_worker_stats *stats)
{
    tr_worker_stats st = {0};
    if (stats != NULL)
        *stats = st;
    tr_worker_opts o = opts ? *opts : (tr_worker_opts){0};
    if (broker == NULL || fn == NULL || o.prefetch < 0 || o.prefetch > 100000 ||
        o.idle_exit_ms < 0 || tr__work_timing(&o.heartbeat_ms, &o.timeout_ms) != TR_OK)
        return TR_EINVAL;
    if (o.prefetch == 0)
        o.prefetch = 256;
    s_io *io = calloc(1, sizeof *io);
    if (io == NULL)
        return TR_ENOMEM;
    io->o = o;
    atomic_init(&io->window, o.prefetch < FIRST_WINDOW ? (unsigned)o.prefetch : FIRST_WINDOW);
    int rc = tr__work_endpoint(broker, io->endpoint, sizeof io->endpoint);
    if (rc != TR_OK) {
        free(io);
        return TR_EINVAL;
    }
    char host[32] = "";
    gethostname(host, sizeof host - 1);
    for (char *h = host; *h; h++)
        if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9')))
            *h = '-';
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
        rnd = (uint32_t)tr__now_us();
    snprintf(io->rid, sizeof io->rid, "w/%.24s-%d-%08x", host, (int)getpid(), rnd);
    snprintf(io->inproc, sizeof io->inproc, "inproc://tr-worker-%p-%08x", (void *)io, rnd);

    /* SIGTERM goes to the I/O thread's signalfd: blocked here before the
     * thread (and the context's threads) exist, so that all inherit it. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    io->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    void *pair = tr__sys_socket(ZMQ_PAIR);
    pthread_t th;
    bool started = false;
    rc = TR_ESYSTEM;
    if (io->sigfd >= 0 && pair != NULL && zmq_bind(pair, io->inproc) == 0 &&
        pthread_create(&th, NULL, s_io_main, io) == 0)
        started = true;
    if (!started)
        goto out;

    rc = TR_OK;
    long long idle_since = tr__now_ms();
    bool stop = false;
    s_pace pace = {.window = atomic_load(&io->window)};
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (!stop) {
        long wait = -1;
        if (o.idle_exit_ms > 0) {
            wait = (long)(idle_since + o.idle_exit_ms - tr__now_ms());
            if (wait <= 0)
                break;
        }
        zmq_pollitem_t it = {.socket = pair, .events = ZMQ_POLLIN};
        int n = zmq_poll(&it, 1, wait);
        if (n < 0 && errno != EINTR) {
            rc = TR_ESYSTEM;
            break;
        }
        if (n <= 0)
            continue;
        if (zmq_msg_recv(&m, pair, 0) < 0)
            continue;
        if (zmq_msg_size(&m) == 0) { /* the I/O thread ended */
            rc = io->rc != TR_OK ? io->rc : TR_ESYSTEM;
            started = false;
            break;
        }
        if ((rc = s_run_frame(&m, pair, fn, arg, &st, &o, &stop, &pace, io)) != TR_OK)
            break;
        idle_since = tr__now_ms();
    }
    zmq_msg_close(&m);
    if (started)
        s_to_io(pair, io, "Q", 1);
    pthread_join(th, NULL);
out:
    tr__sys_close(&pair);
    if (io->sigfd >= 0)
        close(io->sigfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    st.reconnects = atomic_load(&io->reconnects);
    st.refused = atomic_load(&io->refused);
    st.welcomed = atomic_load(&io->welcomed);
    if (stats != NULL)
        *stats = st;
    if (rc == TR_ESYSTEM && io->rc == TR_ESYSTEM)
        tr_log(TR_LOG_ERROR, "TR-WORK-WORKER", "worker %s: cannot reach %s", io->rid + 2,
               io->endpoint);
    free(io);
    return rc;
}
