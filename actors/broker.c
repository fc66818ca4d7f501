/* broker.c: the work-queue broker, one actor (docs/work-protocol.md is
 * its protocol, docs/distribution.md its design).
 *
 * One ROUTER, bound on the broker's name in the run directory and on the
 * endpoints of its options, and one poll loop:
 *
 *   input                         action
 *   -----                         ------
 *   HELLO (producer)              know it (by its id), WELCOME, send it
 *                                 every result it has not acknowledged
 *   HELLO (worker)                know it, window = what it says, WELCOME
 *   CREDIT                        window = what it says
 *   SUBMIT                        journal each new task, queue it, ACK all
 *   DONE                          journal each result, drop the task from
 *                                 its worker, RESULTS to its producer
 *   RESULT_ACK                    journal DONE, forget the task
 *   BYE                           requeue the worker's tasks, forget it
 *   STATS_REQ, DEAD_REQ           answer (no HELLO needed)
 *   anything else from a peer     RESET: it must say HELLO (the broker
 *   not known                     restarted, or declared it dead)
 *   a malformed frame             refuse: counted, logged, nothing else
 *   monitor: a peer disconnected  probe the workers holding tasks
 *   monitor: a handshake failed   deny (a peer without CURVE key): counted,
 *                                 logged
 *   tick (heartbeat_ms / 4)       heartbeat whom we sent nothing to for
 *                                 heartbeat_ms; a worker silent for
 *                                 timeout_ms is lost; a probe that finds no
 *                                 route (ROUTER_MANDATORY) loses it at once
 *   ZAP request                   allow or deny a CURVE key
 *   SIGTERM                       flush the journal, exit by SIGTERM
 *
 * After each input: dispatch what is queued to workers with room: a
 * worker may hold `window` tasks, counted here (dispatched, no result yet).
 *
 * A lost worker's tasks go back to the head of the queue. Deaths are
 * charged only to a task its worker held alone, since only then is the
 * culprit known: tasks held together at a death are marked suspect and
 * then dispatched one at a time to idle workers, where a crash names them.
 * A task charged max_attempts times is dead-lettered.
 *
 * This file: the inputs, setting up, the loop. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/broker_internal.h"
#include "core/internal.h"
#include "troupe/supervisor.h"
#include "troupe/work.h"

#define BURST 256 /* frames read per wake-up before dispatching */

/* ---- inputs ---------------------------------------------------------------------- */
static void s_refuse(const char *who, const char *what)
{
    B.st.refused++;
    tr_log(TR_LOG_WARN, "TR-WORK-REFUSED", "%s: refused a frame from %s: %s", B.name, who,
           what);
}

static void s_welcome(int i)
{
    tr__wbuf_reset(&B.out, TR__W_WELCOME);
    tr__wbuf_u64(&B.out, B.epoch);
    tr__wbuf_u32(&B.out, (uint32_t)B.o.heartbeat_ms);
    tr__wbuf_u32(&B.out, (uint32_t)B.o.timeout_ms);
    tr__bk_send(i, &B.out);
}

static void s_on_hello(const uint8_t *rid, size_t ridlen, tr__rbuf *r)
{
    int role = tr__rbuf_u8(r);
    tr__rbuf_bytes(r, 3);
    uint32_t credit = tr__rbuf_u32(r);
    tr__rbuf_u32(r); /* the peer's heartbeat and timeout: ours rule */
    tr__rbuf_u32(r);
    size_t nlen = r->bad ? 0 : r->len - r->off;
    const char *name = (const char *)tr__rbuf_bytes(r, nlen);
    if (r->bad || !tr__work_id_valid(name, nlen) ||
        (role != TR__ROLE_PRODUCER && role != TR__ROLE_WORKER) ||
        (role == TR__ROLE_WORKER && (credit == 0 || credit > 100000))) {
        s_refuse("a peer", "malformed HELLO");
        return;
    }
    int i = tr__bk_peer_find(rid, ridlen);
    if (i >= 0 && B.peers[i].role != role) {
        if (B.peers[i].role == TR__ROLE_WORKER)
            tr__bk_worker_lost(i, false, "came back in another role");
        else
            tr__bk_peer_forget(i);
        i = -1;
    }
    if (i >= 0 && role == TR__ROLE_WORKER) {
        /* A worker says HELLO again from a new connection: what was sent on
         * the old one may be lost with it. Its tasks go back to the queue
         * (no death charged); what it still finishes of them is taken if
         * it comes first. */
        tr__bk_worker_lost(i, false, "reconnected");
        i = -1;
    }
    bool known = i >= 0;
    if (!known && (i = tr__bk_peer_add(rid, ridlen)) < 0)
        return;
    tr__bpeer *p = &B.peers[i];
    p->role = role;
    memcpy(p->name, name, nlen);
    p->name[nlen] = '\0';
    p->heard = tr__now_ms();
    if (role == TR__ROLE_WORKER) {
        p->window = credit;
        p->stalled = false;
        if (!known)
            tr_log(TR_LOG_INFO, "TR-WORK-WORKER", "%s: worker %s joined, credit %u", B.name,
                   p->name, credit);
        s_welcome(i);
        return;
    }
    uint32_t pno = tr__bk_producer_of(name, nlen);
    if (pno == NIL) {
        tr__bk_peer_forget(i);
        return;
    }
    tr__bproducer *pr = &B.producers[pno];
    if (pr->peer >= 0 && pr->peer != i)
        tr__bk_peer_forget(pr->peer); /* an older connection of the same producer */
    if (known && p->pno != pno && p->pno < B.nproducers && B.producers[p->pno].peer == i) {
        /* The same connection, another producer id: the old one is away. */
        B.producers[p->pno].peer = -1;
        B.producers[p->pno].away_since = tr__now_ms();
    }
    pr->peer = i;
    pr->away_since = 0;
    p->pno = pno;
    s_welcome(i);
    /* Everything it has not acknowledged goes again: it may have missed it. */
    tr__bk_outbox_refill(pno);
    tr__bk_send_results(pno);
}

static void s_on_submit(int i, tr__rbuf *r)
{
    tr__bpeer *p = &B.peers[i];
    uint32_t n = tr__rbuf_count(r, 12);
    /* Acknowledged as ranges of consecutive ids: a batch is one range.
     * They are queued from mark on, and taken back if the journal fails. */
    size_t mark = B.producers[p->pno].nacks;
    uint64_t first = 0, count = 0;
    for (uint32_t k = 0; k < n && !r->bad; k++) {
        uint64_t id = tr__rbuf_u64(r);
        uint32_t len = tr__rbuf_u32(r);
        const uint8_t *data = tr__rbuf_bytes(r, len);
        if (r->bad)
            break;
        uint32_t t = tr__bk_find(p->pno, id);
        if (t != NIL) {
            B.st.resubmitted++;
        } else {
            t = tr__bk_task_new(p->pno, id);
            if (t == NIL)
                break; /* out of memory: not acknowledged, so resent later */
            tr__btask *task = &B.tasks[t];
            task->data = malloc(len ? len : 1);
            if (task->data == NULL) {
                tr__bk_task_free(t);
                break;
            }
            memcpy(task->data, data, len);
            task->len = len;
            tr__bk_journal(TR__J_SUBMIT, t);
            tr__bk_queue_push(t, false);
            B.st.submitted++;
        }
        if (count > 0 && id == first + count) {
            count++;
        } else {
            if (count > 0)
                tr__bk_ack_push(p->pno, first, count);
            first = id;
            count = 1;
        }
    }
    if (count > 0)
        tr__bk_ack_push(p->pno, first, count);
    if (r->bad || !tr__rbuf_done(r))
        s_refuse(p->name, "malformed SUBMIT (its whole tasks were taken)");
    /* Acknowledged once written: a producer resends what is not. */
    if (tr__bk_flush_journal() == TR_OK) {
        tr__bk_ack_commit(p->pno, mark);
        tr__bk_send_acks(p->pno, false);
    } else {
        B.producers[p->pno].nacks = mark;
    }
}

static void s_on_done(int i, tr__rbuf *r, bool known)
{
    uint64_t epoch = tr__rbuf_u64(r);
    uint32_t n = tr__rbuf_count(r, 20);
    if (r->bad) {
        s_refuse(known ? B.peers[i].name : "an unknown peer", "malformed DONE");
        return;
    }
    if (epoch != B.epoch)
        return; /* tasks of a broker before a restart: their keys mean nothing now */
    uint32_t *touched = NULL;
    size_t ntouched = 0, captouched = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t pno = tr__rbuf_u32(r);
        uint64_t id = tr__rbuf_u64(r);
        int32_t status = (int32_t)tr__rbuf_u32(r);
        uint32_t len = tr__rbuf_u32(r);
        const uint8_t *data = tr__rbuf_bytes(r, len);
        if (r->bad)
            break;
        uint32_t t = pno < B.nproducers ? tr__bk_find(pno, id) : NIL;
        tr__btask *task = t == NIL ? NULL : &B.tasks[t];
        if (task == NULL || task->state == T_RESULT || task->state == T_DEAD) {
            B.st.duplicates++;
            continue;
        }
        uint8_t *res = malloc(len ? len : 1);
        if (res == NULL)
            continue; /* it will run again */
        memcpy(res, data, len);
        if (task->state == T_RUNNING && task->worker >= 0)
            tr__bk_held_remove(&B.peers[task->worker], t);
        else if (task->state == T_QUEUED)
            tr__bk_queue_unlink(t);
        task->state = T_RESULT;
        task->worker = -1;
        task->status = status;
        task->res = res;
        task->rlen = len;
        task->sent = false;
        tr__bk_journal(TR__J_RESULT, t);
        B.st.completed++;
        tr__bk_result_ready(t);
        bool seen = false;
        for (size_t x = 0; x < ntouched && !seen; x++)
            seen = touched[x] == pno;
        if (!seen)
            tr__bk_push_u32(&touched, &ntouched, &captouched, pno);
    }
    if (r->bad || !tr__rbuf_done(r))
        s_refuse(known ? B.peers[i].name : "an unknown peer", "malformed DONE record");
    tr__bk_flush_journal();
    for (size_t x = 0; x < ntouched; x++)
        tr__bk_send_results(touched[x]);
    free(touched);
}

static void s_on_result_ack(int i, tr__rbuf *r)
{
    tr__bpeer *p = &B.peers[i];
    uint32_t n = tr__rbuf_count(r, 8);
    for (uint32_t k = 0; k < n && !r->bad; k++) {
        uint64_t id = tr__rbuf_u64(r);
        uint32_t t = r->bad ? NIL : tr__bk_find(p->pno, id);
        if (t == NIL)
            continue;
        tr__btask *task = &B.tasks[t];
        if (task->state == T_RESULT) {
            tr__bk_journal(TR__J_DONE, t);
            tr__bk_task_free(t);
            B.st.delivered++;
        } else if (task->state == T_DEAD && !task->delivered) {
            tr__bk_journal(TR__J_DONE, t);
            task->delivered = true;
            B.producers[p->pno].unacked--;
            B.st.delivered++;
        }
    }
    B.producers[p->pno].heard_ack = tr__now_ms();
    if (r->bad || !tr__rbuf_done(r))
        s_refuse(p->name, "malformed RESULT_ACK");
    tr__bk_flush_journal();
}

static void s_on_stats(const uint8_t *rid, size_t ridlen, tr__rbuf *r)
{
    uint64_t req = tr__rbuf_u64(r);
    if (!tr__rbuf_done(r)) {
        s_refuse("a client", "malformed STATS_REQ");
        return;
    }
    B.st.queued = B.nqueued;
    B.st.running = B.nrunning;
    B.st.workers = B.st.producers = 0;
    for (size_t i = 0; i < B.npeers; i++)
        if (B.peers[i].used) {
            B.st.workers += B.peers[i].role == TR__ROLE_WORKER;
            B.st.producers += B.peers[i].role == TR__ROLE_PRODUCER;
        }
    tr__wbuf_reset(&B.out, TR__W_STATS);
    tr__wbuf_u64(&B.out, req);
    const uint64_t v[] = {B.st.submitted, B.st.resubmitted, B.st.dispatched, B.st.redelivered,
                          B.st.completed, B.st.duplicates,  B.st.delivered,  B.st.dead_letters,
                          B.st.workers_lost, B.st.refused,   B.st.denied, B.st.expired};
    for (size_t k = 0; k < sizeof v / sizeof *v; k++)
        tr__wbuf_u64(&B.out, v[k]);
    tr__wbuf_u32(&B.out, B.st.queued);
    tr__wbuf_u32(&B.out, B.st.running);
    tr__wbuf_u32(&B.out, B.st.workers);
    tr__wbuf_u32(&B.out, B.st.producers);
    if (zmq_send(B.router, rid, ridlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(B.router, B.out.p, B.out.len, ZMQ_DONTWAIT);
}

static void s_on_dead_req(const uint8_t *rid, size_t ridlen, tr__rbuf *r)
{
    uint64_t req = tr__rbuf_u64(r);
    uint32_t max = tr__rbuf_u32(r);
    if (!tr__rbuf_done(r)) {
        s_refuse("a client", "malformed DEAD_REQ");
        return;
    }
    tr__wbuf_reset(&B.out, TR__W_DEAD_LIST);
    tr__wbuf_u64(&B.out, req);
    size_t count_at = B.out.len;
    tr__wbuf_u32(&B.out, 0);
    uint32_t n = 0;
    for (size_t k = 0; k < B.ndead && n < max && B.out.len < TR__WORK_BATCH_BYTES; k++, n++) {
        tr__btask *t = &B.tasks[B.dead[k]];
        const char *p = B.producers[t->pno].id;
        tr__wbuf_u8(&B.out, (uint8_t)strlen(p));
        tr__wbuf_bytes(&B.out, p, strlen(p));
        tr__wbuf_u64(&B.out, t->id);
        tr__wbuf_u32(&B.out, t->deaths);
        tr__wbuf_u32(&B.out, t->len);
        tr__wbuf_bytes(&B.out, t->data, t->len);
    }
    tr__wbuf_put_u32_at(&B.out, count_at, n);
    if (zmq_send(B.router, rid, ridlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(B.router, B.out.p, B.out.len, ZMQ_DONTWAIT);
}

/* Reads and handles one [routing id][frame] message; false when none. */
static bool s_input(void)
{
    zmq_msg_t id, m;
    zmq_msg_init(&id);
    if (zmq_msg_recv(&id, B.router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&id);
        return false;
    }
    zmq_msg_init(&m);
    bool two = zmq_msg_more(&id) && zmq_msg_recv(&m, B.router, ZMQ_DONTWAIT) >= 0;
    if (!two || zmq_msg_more(&m)) {
        while (zmq_msg_more(&m) && zmq_msg_recv(&m, B.router, ZMQ_DONTWAIT) >= 0)
            ;
        s_refuse("a peer", "not one frame");
        goto out;
    }
    const uint8_t *rid = zmq_msg_data(&id);
    size_t ridlen = zmq_msg_size(&id);
    tr__rbuf r;
    int cmd = tr__rbuf_open(&r, zmq_msg_data(&m), zmq_msg_size(&m));
    int i = tr__bk_peer_find(rid, ridlen);
    if (i >= 0) {
        B.peers[i].heard = tr__now_ms();
        B.peers[i].stalled = false;
    }
    switch (cmd) {
    case 0:
        s_refuse(i >= 0 ? B.peers[i].name : "a peer", "not a troupe work frame");
        break;
    case TR__W_HELLO:
        s_on_hello(rid, ridlen, &r);
        break;
    case TR__W_STATS_REQ:
        s_on_stats(rid, ridlen, &r);
        break;
    case TR__W_DEAD_REQ:
        s_on_dead_req(rid, ridlen, &r);
        break;
    case TR__W_DONE:
        /* Results are worth keeping even from a worker we gave up on. */
        if (i >= 0 && B.peers[i].role != TR__ROLE_WORKER) {
            s_refuse(B.peers[i].name, "a command of another role");
            break;
        }
        s_on_done(i, &r, i >= 0);
        if (i < 0)
            tr__bk_send_raw(rid, ridlen, TR__W_RESET);
        break;
    case TR__W_CREDIT:
        if (i >= 0 && B.peers[i].role == TR__ROLE_WORKER) {
            uint32_t window = tr__rbuf_u32(&r);
            if (!tr__rbuf_done(&r) || window == 0 || window > 100000)
                s_refuse(B.peers[i].name, "malformed CREDIT");
            else
                B.peers[i].window = window;
        } else if (i < 0) {
            tr__bk_send_raw(rid, ridlen, TR__W_RESET);
        } else {
            s_refuse(B.peers[i].name, "a command of another role");
        }
        break;
    case TR__W_SUBMIT:
    case TR__W_RESULT_ACK:
    case TR__W_HEARTBEAT:
    case TR__W_BYE:
        if (i < 0) {
            /* A BYE is answered too: the worker waits for it to leave. */
            tr__bk_send_raw(rid, ridlen, TR__W_RESET);
            break;
        }
        if (cmd == TR__W_SUBMIT && B.peers[i].role == TR__ROLE_PRODUCER)
            s_on_submit(i, &r);
        else if (cmd == TR__W_RESULT_ACK && B.peers[i].role == TR__ROLE_PRODUCER)
            s_on_result_ack(i, &r);
        else if (cmd == TR__W_BYE) {
            if (B.peers[i].role == TR__ROLE_WORKER)
                tr__bk_worker_lost(i, false, "left");
            else
                tr__bk_peer_forget(i);
            tr__bk_send_raw(rid, ridlen, TR__W_RESET);
        }
        else if (cmd != TR__W_HEARTBEAT)
            s_refuse(B.peers[i].name, "a command of another role");
        else if (!tr__rbuf_done(&r))
            s_refuse(B.peers[i].name, "malformed HEARTBEAT");
        break;
    default:
        s_refuse(i >= 0 ? B.peers[i].name : "a peer", "a command the broker does not take");
        break;
    }
    /* A producer that speaks reads too: acknowledgements and results its
     * pipe did not take before may go now, rather than at the next tick.
     * (HELLO and BYE may have made or forgotten the peer: looked up again.) */
    if (cmd == TR__W_HELLO || cmd == TR__W_BYE)
        i = tr__bk_peer_find(rid, ridlen);
    if (i >= 0 && B.peers[i].used && B.peers[i].role == TR__ROLE_PRODUCER) {
        uint32_t pno = B.peers[i].pno;
        if (B.producers[pno].nacks > 0)
            tr__bk_send_acks(pno, false);
        if (B.producers[pno].nout > 0)
            tr__bk_send_results(pno);
    }
out:
    zmq_msg_close(&id);
    zmq_msg_close(&m);
    return true;
}

/* Drops the results of producers away for longer than keep_results_ms. */

/* ---- setting up ------------------------------------------------------------------- */
static int s_bind(const char *ep)
{
    if (zmq_bind(B.router, ep) != 0) {
        tr_log(TR_LOG_ERROR, "TR-WORK-BIND", "%s: cannot bind %s: %s", B.name, ep,
               zmq_strerror(errno));
        return TR_ESYSTEM;
    }
    return TR_OK;
}

/* Binds the endpoints of the list whose transport is (or is not) tcp. */
static int s_bind_list(const char *list, bool tcp)
{
    if (list == NULL)
        return TR_OK;
    char *copy = strdup(list), *save = NULL;
    if (copy == NULL)
        return TR_ENOMEM;
    int rc = TR_OK;
    for (char *ep = strtok_r(copy, ",", &save); ep != NULL && rc == TR_OK;
         ep = strtok_r(NULL, ",", &save))
        if ((strncmp(ep, "tcp://", 6) == 0) == tcp)
            rc = s_bind(ep);
    free(copy);
    return rc;
}

static int s_setup(void *arg)
{
    const tr_broker_opts *o = arg;
    if (o != NULL)
        B.o = *o;
    snprintf(B.name, sizeof B.name, "%s", tr_self_name() ? tr_self_name() : "broker");
    if (tr__work_timing(&B.o.heartbeat_ms, &B.o.timeout_ms) != TR_OK) {
        tr_log(TR_LOG_ERROR, "TR-WORK-OPTIONS", "%s: heartbeat %d ms, timeout %d ms: the "
               "timeout must be at least the heartbeat", B.name, B.o.heartbeat_ms,
               B.o.timeout_ms);
        return 1;
    }
    if (B.o.max_attempts <= 0)
        B.o.max_attempts = 3;
    if (B.o.keep_results_ms <= 0)
        B.o.keep_results_ms = 600000;
    B.qhead = B.qtail = B.freelist = NIL;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    B.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (B.sigfd < 0)
        return 1;
    if (getrandom(&B.epoch, sizeof B.epoch, 0) != sizeof B.epoch)
        B.epoch = (uint64_t)tr__now_us() ^ ((uint64_t)getpid() << 32);
    B.epoch |= 1;

    /* The journal first: what it holds is queued before anyone connects. */
    char path[512];
    if (B.o.journal == NULL) {
        snprintf(path, sizeof path, "%s/.work", tr_sys_run_dir());
        mkdir(path, 0700);
        snprintf(path, sizeof path, "%s/.work/%s.journal", tr_sys_run_dir(), B.name);
    } else {
        snprintf(path, sizeof path, "%s", B.o.journal);
    }
    if (strcmp(path, "-") != 0 && tr__bk_journal_open(path) != 0)
        return 1;

    B.router = tr__sys_socket(ZMQ_ROUTER);
    int one = 1;
    if (B.router == NULL ||
        zmq_setsockopt(B.router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(B.router, ZMQ_ROUTER_HANDOVER, &one, sizeof one) != 0)
        return 1;
    /* Frames are batches: let a batch through whatever the system's
     * mailbox limit is. */
    int64_t maxmsg = -1;
    zmq_setsockopt(B.router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    char ep[512];
    if (tr_sys_address(B.name, ep, sizeof ep) != TR_OK || s_bind(ep) != TR_OK ||
        s_bind_list(B.o.bind, false) != TR_OK)
        return 1;
    /* Options are taken at bind time: CURVE covers the tcp endpoints only. */
    if (B.o.security.key_file != NULL) {
        if (B.o.security.allowed_dir == NULL) {
            tr_log(TR_LOG_ERROR, "TR-WORK-KEYS", "%s: a key file without an allowed-keys "
                   "directory would let no one in", B.name);
            return 1;
        }
        if ((B.zap = tr__zap_bind()) == NULL ||
            tr__curve_server(B.router, B.o.security.key_file) != TR_OK) {
            tr_log(TR_LOG_ERROR, "TR-WORK-KEYS", "%s: cannot set up CURVE with %s", B.name,
                   B.o.security.key_file);
            return 1;
        }
    } else if (B.o.bind != NULL && strstr(B.o.bind, "tcp://") != NULL) {
        tr_log(TR_LOG_WARN, "TR-WORK-PLAIN", "%s: tcp endpoints without CURVE: anyone "
               "who reaches them gets in", B.name);
    }
    if (s_bind_list(B.o.bind, true) != TR_OK)
        return 1;
    B.mon = tr__sys_monitor(B.router, ZMQ_EVENT_DISCONNECTED |
                                          (B.zap != NULL ? ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                                         : 0));
    B.ready = true;
    tr_log(TR_LOG_INFO, "TR-WORK-START", "%s: at %s%s%s; %u task(s) from the journal", B.name,
           ep, B.o.bind ? "," : "", B.o.bind ? B.o.bind : "", B.ntasks);
    return 0;
}

/* Reads the monitor's events: [u16 event, u32 value][endpoint]. */
static void s_monitor_events(void)
{
    zmq_msg_t m, ep;
    zmq_msg_init(&m);
    zmq_msg_init(&ep);
    while (zmq_msg_recv(&m, B.mon, ZMQ_DONTWAIT) >= 0) {
        if (!zmq_msg_more(&m) || zmq_msg_recv(&ep, B.mon, 0) < 0 || zmq_msg_size(&m) < 6)
            continue;
        uint16_t event;
        uint32_t value;
        memcpy(&event, zmq_msg_data(&m), sizeof event);
        memcpy(&value, (uint8_t *)zmq_msg_data(&m) + 2, sizeof value);
        if (event == ZMQ_EVENT_DISCONNECTED) {
            /* A connection closed: a worker process may have died. Probes
             * find out, over the next few milliseconds, as the closed pipe
             * reaches the socket. */
            B.probe_until = tr__now_ms() + 100;
            B.next_probe = 0;
            B.probe_step = 1;
        } else {
            /* A peer without CURVE (or with a broken handshake) on a CURVE
             * endpoint never reaches the ZAP handler: refused here. */
            B.st.denied++;
            /* Such a peer retries at its reconnect interval: one line a
             * second at most, saying how many were not logged. */
            static long long last_log;
            static unsigned quiet;
            long long now = tr__now_ms();
            if (now - last_log < 1000) {
                quiet++;
                continue;
            }
            last_log = now;
            char why[64];
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
                snprintf(why, sizeof why, "protocol error 0x%x", (unsigned)value);
            else
                snprintf(why, sizeof why, "%s", strerror((int)value));
            tr_log(TR_LOG_WARN, "TR-WORK-DENIED", "%s: a peer on %.*s failed the handshake "
                   "(%s): no CURVE key, or not a troupe peer (%u more since the last such line)",
                   B.name, (int)zmq_msg_size(&ep), (const char *)zmq_msg_data(&ep), why, quiet);
            quiet = 0;
        }
    }
    zmq_msg_close(&m);
    zmq_msg_close(&ep);
}

static _Noreturn void s_stop(void)
{
    tr_log(TR_LOG_INFO, "TR-WORK-STOP", "%s: SIGTERM: stopping", B.name);
    tr__journal_close(&B.journal);
    if (B.mon != NULL)
        tr__sys_monitor_stop(B.router, &B.mon);
    tr__sys_close(&B.router);
    tr__sys_close(&B.zap);
    tr__sys_exit_signal(SIGTERM);
}

static int s_main(void *arg)
{
    if (!B.ready && s_setup(arg) != 0)
        return 1;
    long long tick = B.o.heartbeat_ms / 4 > 0 ? B.o.heartbeat_ms / 4 : 1;
    long long next_tick = tr__now_ms() + tick;
    for (;;) {
        zmq_pollitem_t items[4] = {
            {.fd = B.sigfd, .events = ZMQ_POLLIN},
            {.socket = B.router, .events = ZMQ_POLLIN},
            {.socket = B.mon, .events = B.mon ? ZMQ_POLLIN : 0},
            {.socket = B.zap, .events = B.zap ? ZMQ_POLLIN : 0},
        };
        long long now = tr__now_ms();
        long long wait = next_tick - now;
        if (now < B.probe_until && B.next_probe - now < wait)
            wait = B.next_probe - now;
        if (zmq_poll(items, 4, wait > 0 ? wait : 0) < 0 && errno != EINTR) {
            tr_log(TR_LOG_ERROR, "TR-WORK-POLL", "%s: poll failed: %s", B.name,
                   zmq_strerror(errno));
            return 1;
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_stop();
        if (items[3].revents & ZMQ_POLLIN)
            while (tr__zap_handle(B.zap, B.o.security.allowed_dir, &B.st.denied) == TR_OK)
                ;
        if (items[2].revents & ZMQ_POLLIN)
            s_monitor_events();
        for (int k = 0; k < BURST && s_input(); k++)
            ;
        now = tr__now_ms();
        if (now >= next_tick || (now < B.probe_until && now >= B.next_probe)) {
            tr__bk_tick(now);
            if (now >= next_tick)
                next_tick = now + tick;
        }
        tr__bk_dispatch();
        tr__bk_maybe_rewrite();
    }
}

/* ---- starting a broker ------------------------------------------------------------ */
static int s_check(const char *name, const tr_broker_opts *o)
{
    if (name == NULL || !tr_name_valid(name) || strlen(name) > TR__WORK_MAX_ID)
        return TR_EINVAL;
    if (o == NULL)
        return TR_OK;
    /* The timeout must leave room for a heartbeat, defaults included. */
    int hb = o->heartbeat_ms, to = o->timeout_ms;
    if (tr__work_timing(&hb, &to) != TR_OK || o->max_attempts < 0 ||
        o->keep_results_ms < 0 || o->max_attempts > 1000)
        return TR_EINVAL;
    return TR_OK;
}

int tr_broker_start(tr_actor **out, const char *name, const tr_broker_opts *opts)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    if (s_check(name, opts) != TR_OK)
        return TR_EINVAL;
    tr_spawn_opts so = {.flags = TR_SPAWN_DAEMON | TR_SPAWN_NO_MAILBOX};
    return tr__actor_spawn_ex(out, name, s_setup, s_main, (void *)(uintptr_t)opts, &so,
                              so.flags);
}

void tr_broker_child_spec(tr_child_spec *out, const char *name, const tr_broker_opts *opts)
{
    if (out == NULL)
        return;
    *out = (tr_child_spec){
        .name = s_check(name, opts) == TR_OK ? name : "", /* "" fails the spec's check */
        .fn = s_main,
        .arg = (void *)(uintptr_t)opts,
        .restart = TR_PERMANENT,
        .shutdown_ms = 2000,
        .flags = TR_SPAWN_DAEMON | TR_SPAWN_NO_MAILBOX,
    };
}
