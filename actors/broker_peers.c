/* broker_peers.c: the broker's peers (broker_internal.h): finding and
 * forgetting them, sending to them, losing a worker, sending results,
 * dispatching tasks to workers with room, and the tick that sends
 * heartbeats and finds the silent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "actors/broker_internal.h"
#include "core/internal.h"

int tr__bk_peer_find(const uint8_t *rid, size_t len)
{
    /* A linear scan: peers are tens, and a frame's work is far larger. */
    for (size_t i = 0; i < B.npeers; i++)
        if (B.peers[i].used && B.peers[i].ridlen == len && memcmp(B.peers[i].rid, rid, len) == 0)
            return (int)i;
    return -1;
}

int tr__bk_peer_add(const uint8_t *rid, size_t len)
{
    size_t i = 0;
    while (i < B.npeers && B.peers[i].used)
        i++;
    if (i == B.npeers) {
        tr__bpeer *p = realloc(B.peers, (B.npeers + 1) * sizeof *p);
        if (p == NULL)
            return -1;
        B.peers = p;
        B.peers[B.npeers++] = (tr__bpeer){0};
    }
    tr__bpeer *p = &B.peers[i];
    uint32_t *held = p->held;
    size_t capheld = p->capheld;
    *p = (tr__bpeer){.used = true, .ridlen = len, .held = held, .capheld = capheld};
    memcpy(p->rid, rid, len);
    return (int)i;
}

/* Sends the frame in B.out to peer i. Returns false when there is no route
 * (the peer is gone) or it would block. */
bool tr__bk_send(int i, const tr__wbuf *w)
{
    tr__bpeer *p = &B.peers[i];
    if (w->oom)
        return false;
    if (zmq_send(B.router, p->rid, p->ridlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return false;
    if (zmq_send(B.router, w->p, w->len, ZMQ_DONTWAIT) < 0)
        return false;
    p->sent = tr__now_ms();
    return true;
}

void tr__bk_send_raw(const uint8_t *rid, size_t len, int command)
{
    tr__wbuf_reset(&B.out, command);
    if (zmq_send(B.router, rid, len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(B.router, B.out.p, B.out.len, ZMQ_DONTWAIT);
}

void tr__bk_peer_forget(int i)
{
    tr__bpeer *p = &B.peers[i];
    if (p->role == TR__ROLE_PRODUCER && p->pno < B.nproducers &&
        B.producers[p->pno].peer == i) {
        B.producers[p->pno].peer = -1;
        B.producers[p->pno].away_since = tr__now_ms();
    }
    p->used = false;
    p->nheld = 0;
}

/* Puts the worker's tasks back at the head of the queue, in the order it
 * got them, charging a death to a task it held alone when charge is set. */
void tr__bk_worker_lost(int i, bool charge, const char *why)
{
    tr__bpeer *w = &B.peers[i];
    size_t n = w->nheld;
    if (charge)
        B.st.workers_lost++;
    tr_log(charge ? TR_LOG_WARN : TR_LOG_INFO, charge ? "TR-WORK-LOST" : "TR-WORK-BYE",
           "%s: worker %s %s; %zu task(s) back in the queue", B.name, w->name, why, n);
    for (size_t k = n; k-- > 0;) {
        uint32_t t = w->held[k];
        tr__btask *task = &B.tasks[t];
        B.nrunning--;
        if (charge && n == 1) {
            task->deaths++;
            if (task->deaths >= (uint32_t)B.o.max_attempts) {
                tr__bk_dead_letter(t);
                continue;
            }
        }
        if (charge)
            task->suspect = true;
        B.st.redelivered++;
        tr__bk_queue_push(t, true);
    }
    w->nheld = 0;
    tr__bk_peer_forget(i);
    tr__bk_flush_journal();
}

void tr__bk_held_remove(tr__bpeer *w, uint32_t t)
{
    for (size_t k = 0; k < w->nheld; k++)
        if (w->held[k] == t) {
            memmove(w->held + k, w->held + k + 1, (w->nheld - k - 1) * sizeof *w->held);
            w->nheld--;
            B.nrunning--;
            if (w->nheld == 0)
                w->isolating = false;
            return;
        }
}

/* ---- sending acknowledgements ------------------------------------------------- */
/* Enough for any honest producer (one range per SUBMIT frame, at most its
 * window unacknowledged); beyond, a peer that sends and never reads loses
 * acknowledgements, which only costs it a resend. */
#define MAX_ACK_RANGES 65536

void tr__bk_ack_push(uint32_t pno, uint64_t first, uint64_t count)
{
    tr__bproducer *p = &B.producers[pno];
    if (p->nacks == MAX_ACK_RANGES)
        return;
    if (p->nacks == p->capacks) {
        size_t cap = p->capacks ? p->capacks * 2 : 16;
        uint64_t *a = realloc(p->acks, cap * 2 * sizeof *a);
        if (a == NULL)
            return;
        p->acks = a;
        p->capacks = cap;
    }
    p->acks[2 * p->nacks] = first;
    p->acks[2 * p->nacks + 1] = count;
    p->nacks++;
}

void tr__bk_ack_commit(uint32_t pno, size_t mark)
{
    tr__bproducer *p = &B.producers[pno];
    if (p->nacks == 0)
        return;
    size_t to = mark > 0 ? mark - 1 : 0;
    for (size_t k = to + 1; k < p->nacks; k++) {
        uint64_t *last = &p->acks[2 * to];
        if (p->acks[2 * k] == last[0] + last[1]) {
            last[1] += p->acks[2 * k + 1];
        } else {
            to++;
            p->acks[2 * to] = p->acks[2 * k];
            p->acks[2 * to + 1] = p->acks[2 * k + 1];
        }
    }
    p->nacks = to + 1;
}

/* An acknowledgement the pipe did not take is kept, not dropped: the
 * producer would otherwise wait a whole timeout (the broker's, which may be
 * long) before sending again what the broker holds already. A refused send
 * is not tried again within the millisecond, however many frames come. */
void tr__bk_send_acks(uint32_t pno, bool force)
{
    tr__bproducer *p = &B.producers[pno];
    if (!force && p->acks_retry > 0 && tr__now_ms() < p->acks_retry)
        return;
    p->acks_retry = 0;
    size_t k = 0;
    while (p->peer >= 0 && k < p->nacks) {
        tr__wbuf_reset(&B.out, TR__W_ACK);
        size_t count_at = B.out.len;
        tr__wbuf_u32(&B.out, 0);
        size_t first = k;
        for (; k < p->nacks && B.out.len < TR__WORK_BATCH_BYTES; k++) {
            /* A count is 32 bits on the wire: a longer range goes in parts. */
            uint64_t count = p->acks[2 * k + 1];
            for (uint64_t at = 0; at < count; at += UINT32_MAX) {
                uint64_t part = count - at < UINT32_MAX ? count - at : UINT32_MAX;
                tr__wbuf_u64(&B.out, p->acks[2 * k] + at);
                tr__wbuf_u32(&B.out, (uint32_t)part);
            }
        }
        tr__wbuf_put_u32_at(&B.out, count_at, (uint32_t)((B.out.len - count_at - 4) / 12));
        if (!tr__bk_send(p->peer, &B.out)) {
            p->acks_retry = tr__now_ms() + 1;
            k = first;
            break;
        }
    }
    if (k > 0) {
        memmove(p->acks, p->acks + 2 * k, (p->nacks - k) * 2 * sizeof *p->acks);
        p->nacks -= k;
    }
}

/* ---- sending results ---------------------------------------------------------- */
void tr__bk_send_results(uint32_t pno)
{
    tr__bproducer *p = &B.producers[pno];
    if (p->peer < 0 || p->nout == 0)
        return;
    size_t k = 0;
    while (k < p->nout) {
        tr__wbuf_reset(&B.out, TR__W_RESULTS);
        size_t count_at = B.out.len;
        tr__wbuf_u32(&B.out, 0);
        uint32_t n = 0;
        size_t first = k;
        for (; k < p->nout && n < TR__WORK_BATCH && B.out.len < TR__WORK_BATCH_BYTES; k++) {
            tr__btask *t = &B.tasks[p->outbox[k]];
            if ((t->state != T_RESULT && t->state != T_DEAD) || t->pno != pno ||
                (t->state == T_DEAD && t->delivered))
                continue; /* acknowledged meanwhile (the slot may even be reused) */
            tr__wbuf_u64(&B.out, t->id);
            tr__wbuf_u32(&B.out, (uint32_t)t->status);
            tr__wbuf_u32(&B.out, t->rlen);
            tr__wbuf_bytes(&B.out, t->res, t->rlen);
            n++;
        }
        if (n == 0)
            continue;
        tr__wbuf_put_u32_at(&B.out, count_at, n);
        if (!tr__bk_send(p->peer, &B.out)) {
            /* Not taking (gone, or more than the high-water mark behind):
             * what is left waits for the next tick or frame from it. */
            memmove(p->outbox, p->outbox + first, (p->nout - first) * sizeof *p->outbox);
            p->nout -= first;
            return;
        }
        p->heard_ack = tr__now_ms();
        for (size_t j = first; j < k; j++)
            B.tasks[p->outbox[j]].sent = true;
    }
    p->nout = 0;
}

void tr__bk_outbox_refill(uint32_t pno)
{
    tr__bproducer *p = &B.producers[pno];
    p->nout = 0;
    for (uint32_t t = 0; t < B.captasks && p->unacked > 0; t++) {
        tr__btask *k = &B.tasks[t];
        if (k->pno == pno && (k->state == T_RESULT || (k->state == T_DEAD && !k->delivered)))
            tr__bk_push_u32(&p->outbox, &p->nout, &p->capout, t);
    }
}

void tr__bk_result_ready(uint32_t t)
{
    tr__bproducer *p = &B.producers[B.tasks[t].pno];
    p->unacked++;
    tr__bk_push_u32(&p->outbox, &p->nout, &p->capout, t);
    /* An away producer's time starts again with each result, so that
     * keep_results_ms counts from the last one. */
    if (p->peer < 0)
        p->away_since = tr__now_ms();
}

/* ---- dispatching ---------------------------------------------------------------- */
static bool s_dispatch_to(int i, uint32_t max)
{
    tr__bpeer *w = &B.peers[i];
    tr__wbuf_reset(&B.out, TR__W_TASKS);
    tr__wbuf_u64(&B.out, B.epoch);
    size_t count_at = B.out.len;
    tr__wbuf_u32(&B.out, 0);
    uint32_t n = 0;
    uint32_t first = B.qhead;
    uint32_t t = first;
    while (t != NIL && n < max && B.out.len < TR__WORK_BATCH_BYTES) {
        tr__btask *k = &B.tasks[t];
        if (k->suspect && n > 0)
            break; /* a suspect goes alone */
        tr__wbuf_u32(&B.out, k->pno);
        tr__wbuf_u64(&B.out, k->id);
        tr__wbuf_u32(&B.out, k->len);
        tr__wbuf_bytes(&B.out, k->data, k->len);
        n++;
        bool alone = k->suspect;
        t = k->next;
        if (alone)
            break;
    }
    if (n == 0)
        return false;
    tr__wbuf_put_u32_at(&B.out, count_at, n);
    if (!tr__bk_send(i, &B.out)) {
        if (errno == EHOSTUNREACH)
            tr__bk_worker_lost(i, true, "disconnected");
        else
            w->stalled = true; /* more than its high-water mark behind */
        return false;
    }
    for (uint32_t k = 0, x = first; k < n; k++) {
        uint32_t next = B.tasks[x].next;
        tr__bk_queue_unlink(x);
        B.tasks[x].state = T_RUNNING;
        B.tasks[x].worker = i;
        if (B.tasks[x].suspect)
            w->isolating = true;
        if (!tr__bk_push_u32(&w->held, &w->nheld, &w->capheld, x)) {
            tr__bk_queue_push(x, true); /* out of memory: it runs again later */
            x = next;
            continue;
        }
        B.nrunning++;
        B.st.dispatched++;
        x = next;
    }
    return true;
}

/* How many more tasks worker i may be given now. */
static uint32_t s_room(const tr__bpeer *w)
{
    if (!w->used || w->role != TR__ROLE_WORKER || w->stalled || w->nheld >= w->window)
        return 0;
    return w->window - (uint32_t)w->nheld;
}

void tr__bk_dispatch(void)
{
    while (B.nqueued > 0) {
        tr__btask *head = &B.tasks[B.qhead];
        if (head->suspect) {
            /* Only an idle worker may take it. */
            int idle = -1;
            for (size_t i = 0; i < B.npeers && idle < 0; i++)
                if (B.peers[i].nheld == 0 && s_room(&B.peers[i]) > 0)
                    idle = (int)i;
            if (idle < 0)
                return;
            s_dispatch_to(idle, 1);
            continue;
        }
        size_t ready = 0;
        for (size_t i = 0; i < B.npeers; i++)
            if (s_room(&B.peers[i]) > 0 && !B.peers[i].isolating)
                ready++;
        if (ready == 0)
            return;
        /* A fair share each, so that one worker's large window does not
         * take a short queue from idle ones. */
        uint32_t share = (uint32_t)((B.nqueued + ready - 1) / ready);
        bool sent = false;
        for (size_t k = 0; k < B.npeers && B.nqueued > 0; k++) {
            size_t i = (B.rr + k) % B.npeers;
            tr__bpeer *w = &B.peers[i];
            uint32_t room = s_room(w);
            if (room == 0 || w->isolating)
                continue;
            if (B.tasks[B.qhead].suspect)
                break;
            uint32_t max = share < room ? share : room;
            sent |= s_dispatch_to((int)i, max);
        }
        B.rr = B.npeers ? (B.rr + 1) % B.npeers : 0;
        if (!sent)
            return;
    }
}

static void s_expire(long long now)
{
    for (uint32_t pno = 0; pno < B.nproducers; pno++) {
        tr__bproducer *p = &B.producers[pno];
        if (p->peer >= 0 || p->id[0] == '\0' || now - p->away_since < B.o.keep_results_ms)
            continue;
        p->away_since = now;
        if (p->ntasks == 0) {
            p->id[0] = '\0'; /* nothing here for it: its slot is free */
            continue;
        }
        uint64_t n = 0;
        for (uint32_t t = 0; t < B.captasks && p->unacked > 0; t++)
            if (B.tasks[t].pno == pno && B.tasks[t].state == T_RESULT) {
                tr__bk_journal(TR__J_DONE, t);
                tr__bk_task_free(t);
                n++;
            }
        p->nout = 0;
        if (n > 0) {
            B.st.expired += n;
            tr_log(TR_LOG_WARN, "TR-WORK-EXPIRED", "%s: producer %s away for %d ms: %llu "
                   "result(s) dropped", B.name, p->id, B.o.keep_results_ms,
                   (unsigned long long)n);
        }
    }
    tr__bk_flush_journal();
}

/* Heartbeats, and the peers that went silent or away. */
void tr__bk_tick(long long now)
{
    s_expire(now);
    for (uint32_t pno = 0; pno < B.nproducers; pno++) {
        tr__bproducer *p = &B.producers[pno];
        if (p->peer >= 0 && p->nacks > 0)
            tr__bk_send_acks(pno, true);
        if (p->peer < 0 || p->unacked == 0)
            continue;
        /* Results sent and not acknowledged for a timeout were lost on the
         * way (a connection that broke and was made again): again. */
        if (p->nout == 0 && now - p->heard_ack > B.o.timeout_ms)
            tr__bk_outbox_refill(pno);
        tr__bk_send_results(pno);
    }
    /* Probes after a disconnect come at 1, 2, 4 ... ms: the closed pipe
     * reaches the ROUTER a little after the monitor's event, and an early
     * probe that still finds a route says nothing. */
    bool probing = now < B.probe_until && now >= B.next_probe;
    if (probing) {
        B.next_probe = now + B.probe_step;
        B.probe_step = B.probe_step < 16 ? B.probe_step * 2 : 16;
    }
    for (size_t i = 0; i < B.npeers; i++) {
        tr__bpeer *p = &B.peers[i];
        if (!p->used)
            continue;
        if (now - p->heard > B.o.timeout_ms) {
            if (p->role == TR__ROLE_WORKER) {
                tr__bk_worker_lost((int)i, true, "went silent");
            } else {
                tr_log(TR_LOG_INFO, "TR-WORK-AWAY", "%s: producer %s went silent", B.name,
                       p->name);
                tr__bk_peer_forget((int)i);
            }
            continue;
        }
        bool probe = probing && p->role == TR__ROLE_WORKER && p->nheld > 0;
        if (probe || now - p->sent >= B.o.heartbeat_ms) {
            tr__wbuf_reset(&B.out, TR__W_HEARTBEAT);
            if (!tr__bk_send((int)i, &B.out) && errno == EHOSTUNREACH) {
                if (p->role == TR__ROLE_WORKER)
                    tr__bk_worker_lost((int)i, true, "disconnected");
                else
                    tr__bk_peer_forget((int)i);
            }
        }
    }
}

