/* supervisor_control.c: the server side of a supervisor's control protocol
 * (docs/wire-format.md, "Supervisor control"): one request frame in, one
 * reply frame out, on the REP socket the state machine polls. Status
 * answers are built from the state; start_child spawns at once; stop_child
 * marks the child and is answered by tr__sup_answer_pending once the state
 * machine has stopped it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/supervisor.pb-c.h"
#include "actors/supervisor_state.h"
#include "core/internal.h"

typedef tr__sup_child s_child;

static tr__sup_state *const S = &tr__sup;

static void s_reply(int rc, Troupe__SupStatus *status)
{
    Troupe__SupReply r;
    troupe__sup_reply__init(&r);
    r.rc = rc;
    r.status = status;
    size_t size = troupe__sup_reply__get_packed_size(&r);
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL) {
        troupe__sup_reply__init(&r);
        r.rc = TR_ENOMEM;
        static uint8_t small[16];
        size = troupe__sup_reply__pack(&r, small);
        zmq_send(S->ctl, small, size, 0);
        return;
    }
    troupe__sup_reply__pack(&r, buf);
    if (zmq_send(S->ctl, buf, size, 0) < 0)
        tr_log(TR_LOG_WARN, "TR-SUP-CONTROL", "reply not sent: %s", zmq_strerror(errno));
    free(buf);
}

static int s_state_of(const s_child *c)
{
    if (c->state == C_UP)
        return TR_CHILD_RUNNING;
    if (c->state == C_STOPPING)
        return TR_CHILD_STOPPING;
    return c->want && c->not_before > tr__now_ms() ? TR_CHILD_BACKOFF : TR_CHILD_STOPPED;
}

static void s_status(void)
{
    long long now = tr__now_ms();
    Troupe__SupStatus st;
    troupe__sup_status__init(&st);
    st.name = S->name;
    st.pid = (int32_t)getpid();
    st.strategy = S->spec->strategy;
    st.restarts = S->restarts;
    st.uptime_ms = now - S->started_ms;
    st.bad_requests = S->bad_requests;
    Troupe__ChildStatus *cs = calloc(S->n ? S->n : 1, sizeof *cs);
    Troupe__ChildStatus **ptrs = calloc(S->n ? S->n : 1, sizeof *ptrs);
    if (cs == NULL || ptrs == NULL) {
        free(cs);
        free(ptrs);
        s_reply(TR_ENOMEM, NULL);
        return;
    }
    for (size_t i = 0; i < S->n; i++) {
        const s_child *c = S->kids[i];
        troupe__child_status__init(&cs[i]);
        cs[i].name = (char *)(uintptr_t)c->name;
        cs[i].pid = c->pid;
        cs[i].state = s_state_of(c);
        cs[i].is_supervisor = c->spec.supervisor != NULL;
        cs[i].restart = c->spec.restart;
        cs[i].restarts = c->restarts;
        cs[i].uptime_ms = c->state == C_DOWN ? 0 : now - c->started_ms;
        cs[i].has_exited = c->has_exited;
        cs[i].last_exit = c->last_exit;
        cs[i].start_failed = c->start_failed;
        ptrs[i] = &cs[i];
    }
    st.n_children = S->n;
    st.children = ptrs;
    s_reply(TR_OK, &st);
    free(cs);
    free(ptrs);
}

s_child *tr__sup_find(const char *name)
{
    for (size_t i = 0; i < S->n; i++)
        if (strcmp(S->kids[i]->name, name) == 0)
            return S->kids[i];
    return NULL;
}

int tr__sup_add(s_child *c)
{
    if (S->n == S->cap) {
        size_t cap = S->cap ? S->cap * 2 : 16;
        s_child **k = realloc(S->kids, cap * sizeof *k);
        if (k == NULL)
            return TR_ENOMEM;
        S->kids = k;
        S->cap = cap;
    }
    S->kids[S->n++] = c;
    return TR_OK;
}

static int s_start_child(const Troupe__StartChild *req)
{
    if (S->spec->strategy != TR_SIMPLE_ONE_FOR_ONE)
        return TR_ESTATE;
    if (S->shutting_down)
        return TR_ECLOSED;
    if (req == NULL || req->name == NULL || !tr_name_valid(req->name) ||
        req->arg.len > TR__SUP_MAX_ARG)
        return TR_EINVAL;
    if (tr__sup_find(req->name) != NULL)
        return TR_EEXIST;
    if (S->n >= TR__SUP_MAX_CHILDREN)
        return TR_ENOMEM;
    s_child *c = calloc(1, sizeof *c);
    if (c == NULL)
        return TR_ENOMEM;
    c->spec = S->spec->children[0];
    snprintf(c->name, sizeof c->name, "%s", req->name);
    c->dynamic = true;
    if (req->arg.len > 0) {
        c->arg_copy = malloc(req->arg.len);
        if (c->arg_copy == NULL) {
            free(c);
            return TR_ENOMEM;
        }
        memcpy(c->arg_copy, req->arg.data, req->arg.len);
    }
    c->want = true;
    int rc = tr__sup_spawn_child(c);
    if (rc != TR_OK || tr__sup_add(c) != TR_OK) {
        if (rc == TR_OK) {
            tr_actor_kill(c->actor);
            tr_actor_join(c->actor, TR_FOREVER);
            rc = TR_ENOMEM;
        }
        tr_actor_destroy(&c->actor);
        free(c->arg_copy);
        free(c);
        return rc;
    }
    c->pid = tr_actor_pid(c->actor);
    c->state = C_UP;
    c->started_once = true;
    c->started_ms = tr__now_ms();
    tr__sup_report_start(c);
    return TR_OK;
}

void tr__sup_request(void)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, S->ctl, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return;
    }
    /* One frame per request; the frames of a longer message are read and
     * dropped, so that the next request starts clean. */
    bool extra = false;
    while (zmq_msg_more(&m)) {
        extra = true;
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, S->ctl, 0) < 0)
            break;
    }
    Troupe__SupRequest *req =
        extra ? NULL : troupe__sup_request__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    /* A REP socket must answer before it reads again: every path replies,
     * except a stop_child, which replies once the child is down. */
    if (req == NULL) {
        /* Counted always, logged for the first 20 and then every 1000th: a
         * peer that floods garbage cannot flood the log. */
        if (++S->bad_requests <= 20 || S->bad_requests % 1000 == 0)
            tr_log(TR_LOG_WARN, "TR-SUP-CONTROL",
                   "refused an undecodable control request (%llu so far)",
                   (unsigned long long)S->bad_requests);
        s_reply(TR_EPROTO, NULL);
        return;
    }
    switch (req->op_case) {
    case TROUPE__SUP_REQUEST__OP_STATUS:
        s_status();
        break;
    case TROUPE__SUP_REQUEST__OP_START_CHILD:
        s_reply(s_start_child(req->start_child), NULL);
        break;
    case TROUPE__SUP_REQUEST__OP_STOP_CHILD: {
        s_child *c = req->stop_child ? tr__sup_find(req->stop_child) : NULL;
        if (c == NULL)
            s_reply(TR_EINVAL, NULL);
        else if (!c->dynamic)
            s_reply(TR_ESTATE, NULL);
        else if (S->shutting_down)
            s_reply(TR_ECLOSED, NULL);
        else if (c->state == C_DOWN) {
            tr__sup_remove(c);
            s_reply(TR_OK, NULL);
        } else {
            c->want = false;
            c->forget = true;
            S->pending_stop = c;
        }
        break;
    }
    default:
        s_reply(TR_EPROTO, NULL);
    }
    troupe__sup_request__free_unpacked(req, NULL);
}

/* Answers a stop_child once its child is gone (s_remove), or at shutdown. */
void tr__sup_answer_pending(void)
{
    if (S->pending_done) {
        S->pending_done = false;
        s_reply(TR_OK, NULL);
    } else if (S->pending_stop != NULL && S->shutting_down) {
        S->pending_stop->forget = true;
        S->pending_stop = NULL;
        s_reply(TR_ECLOSED, NULL);
    }
}

