/* supervisor.c: the supervisor API in the caller's process: spec checks,
 * start and stop, and the client side of the control protocol (one request
 * frame, one reply frame, on a REQ socket made per call so that a timed-out
 * call leaves nothing behind). The supervisor's own process is
 * supervisor_loop.c. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "actors/supervisor.pb-c.h"
#include "actors/supervisor_internal.h"
#include "core/internal.h"

struct tr_supervisor {
    tr_actor *actor;
    char name[65];
};

/* ---- specs ----------------------------------------------------------------- */

static int s_invalid(const char *what, const char *name)
{
    tr_log(TR_LOG_ERROR, "TR-SPEC-INVALID", "%s%s%s", what, name ? ": " : "", name ? name : "");
    return TR_EINVAL;
}

static int s_validate(const tr_sup_spec *spec, int depth)
{
    if (spec == NULL)
        return s_invalid("NULL supervisor spec", NULL);
    if (depth > 32)
        return s_invalid("supervisor specs nested more than 32 deep (a cycle?)", NULL);
    if (spec->strategy < TR_ONE_FOR_ONE || spec->strategy > TR_SIMPLE_ONE_FOR_ONE)
        return s_invalid("unknown strategy", NULL);
    if (spec->period_ms < 0 || spec->backoff_ms < 0 || spec->backoff_max_ms < 0 ||
        spec->backoff_ms > TR__SUP_MAX_DELAY_MS || spec->backoff_max_ms > TR__SUP_MAX_DELAY_MS)
        return s_invalid("period or backoff out of range (0 to one hour)", NULL);
    if (spec->intensity > TR__SUP_MAX_INTENSITY)
        return s_invalid("intensity over 100000", NULL);
    if (spec->nchildren > TR__SUP_MAX_CHILDREN || (spec->nchildren > 0 && spec->children == NULL))
        return s_invalid("too many children, or NULL children", NULL);
    if (spec->strategy == TR_SIMPLE_ONE_FOR_ONE && spec->nchildren != 1)
        return s_invalid("simple_one_for_one needs exactly one child spec, the template",
                         NULL);
    for (size_t i = 0; i < spec->nchildren; i++) {
        const tr_child_spec *c = &spec->children[i];
        const char *name = c->name ? c->name : "(no name)";
        int kinds = (c->fn != NULL) + (c->behaviour != NULL) + (c->supervisor != NULL);
        if (kinds != 1)
            return s_invalid("a child needs exactly one of fn, behaviour, supervisor", name);
        if (c->behaviour != NULL && c->behaviour->handle == NULL)
            return s_invalid("a behaviour without handle", name);
        if (c->restart < TR_PERMANENT || c->restart > TR_TEMPORARY)
            return s_invalid("unknown restart type", name);
        if (c->shutdown_ms < TR_SHUTDOWN_BRUTAL)
            return s_invalid("invalid shutdown_ms", name);
        if ((c->flags & ~(TR_SPAWN_DAEMON | TR_SPAWN_NO_MAILBOX)) != 0 ||
            ((c->flags & TR_SPAWN_NO_MAILBOX) && c->fn == NULL))
            return s_invalid("invalid flags", name);
        if (c->nkeep_fds > 0 && c->keep_fds == NULL)
            return s_invalid("NULL keep_fds", name);
        if (spec->strategy != TR_SIMPLE_ONE_FOR_ONE) {
            if (c->name == NULL || !tr_name_valid(c->name))
                return s_invalid("invalid child name", name);
            for (size_t k = 0; k < i; k++)
                if (strcmp(spec->children[k].name, c->name) == 0)
                    return s_invalid("a child name appears twice", name);
        }
        if (c->supervisor != NULL) {
            int rc = s_validate(c->supervisor, depth + 1);
            if (rc != TR_OK)
                return rc;
        }
    }
    return TR_OK;
}

int tr__sup_validate(const tr_sup_spec *spec)
{
    return s_validate(spec, 0);
}

int tr__sup_control_address(const char *run_dir, const char *name, char *buf, size_t len)
{
    /* "/.c/" costs 3 bytes more than "/" in tr_sys_address, which keeps 3
     * spare for a queue's "/<slot>": the same sun_path budget. */
    int n = snprintf(buf, len, "ipc://%s/.c/%s", run_dir, name);
    return n > 0 && (size_t)n < len && (size_t)n - 6 <= 107 ? TR_OK : TR_EINVAL;
}

/* ---- start and stop -------------------------------------------------------- */

int tr_supervisor_start(tr_supervisor **out, const char *name, const tr_sup_spec *spec,
                        int flags)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    if (name == NULL || !tr_name_valid(name) || (flags & ~TR_SPAWN_DAEMON) != 0)
        return TR_EINVAL;
    int rc = tr__sup_validate(spec);
    if (rc != TR_OK)
        return rc;
    tr_supervisor *s = calloc(1, sizeof *s);
    if (s == NULL)
        return TR_ENOMEM;
    snprintf(s->name, sizeof s->name, "%s", name);
    rc = tr__sup_spawn(&s->actor, name, spec, flags);
    if (rc != TR_OK) {
        free(s);
        return rc;
    }
    *out = s;
    return TR_OK;
}

int tr_supervisor_stop(tr_supervisor *s, int timeout_ms)
{
    if (s == NULL)
        return TR_EINVAL;
    int rc = tr_actor_terminate(s->actor);
    if (rc != TR_OK)
        return rc;
    rc = tr_actor_join(s->actor, timeout_ms);
    if (rc == TR_ETIMEDOUT) {
        tr_log(TR_LOG_WARN, "TR-SUP-KILL", "%s[%d] did not stop in %d ms; killing", s->name,
               (int)tr_actor_pid(s->actor), timeout_ms);
        tr_actor_kill(s->actor);
        tr_actor_join(s->actor, TR_FOREVER);
    }
    return rc;
}

void tr_supervisor_destroy(tr_supervisor **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    tr_supervisor *s = *sp;
    *sp = NULL;
    if (tr_actor_is_alive(s->actor))
        tr_supervisor_stop(s, TR_FOREVER);
    tr_actor_destroy(&s->actor);
    free(s);
}

tr_actor *tr_supervisor_actor(tr_supervisor *s)
{
    return s ? s->actor : NULL;
}

/* ---- the control protocol, client side ------------------------------------- */

/* Sends req to the supervisor named name in run_dir and waits for its
 * reply. TR_OK with *out set (free with troupe__sup_reply__free_unpacked),
 * TR_ECLOSED (no control socket: not running), TR_ETIMEDOUT, TR_EPROTO,
 * TR_ENOMEM, TR_ESYSTEM. */
static int s_call(const char *run_dir, const char *name, const Troupe__SupRequest *req,
                  Troupe__SupReply **out, int timeout_ms)
{
    *out = NULL;
    if (run_dir == NULL && (run_dir = tr_sys_run_dir()) == NULL)
        return TR_ESYSTEM;
    char address[300];
    if (name == NULL || !tr_name_valid(name) ||
        tr__sup_control_address(run_dir, name, address, sizeof address) != TR_OK)
        return TR_EINVAL;
    struct stat st;
    if (stat(address + 6, &st) != 0)
        return TR_ECLOSED;
    size_t size = troupe__sup_request__get_packed_size(req);
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return TR_ENOMEM;
    troupe__sup_request__pack(req, buf);
    void *sock = tr__sys_socket(ZMQ_REQ);
    if (sock == NULL) {
        free(buf);
        return TR_ESYSTEM;
    }
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    int rc = TR_OK;
    if (zmq_connect(sock, address) != 0)
        rc = TR_ESYSTEM;
    else
        rc = tr__sock_send(sock, buf, size, 0, timeout_ms);
    free(buf);
    if (rc == TR_EFULL)
        rc = TR_ETIMEDOUT;
    tr_msg reply;
    tr_msg_init(&reply);
    if (rc == TR_OK) {
        rc = tr__sock_recv(sock, &reply, timeout_ms);
        if (rc == TR_EEMPTY)
            rc = TR_ETIMEDOUT;
    }
    if (rc == TR_OK) {
        *out = troupe__sup_reply__unpack(NULL, tr_msg_size(&reply), tr_msg_data(&reply));
        if (*out == NULL)
            rc = TR_EPROTO;
    }
    tr_msg_close(&reply);
    tr__sys_close(&sock);
    return rc;
}

/* s_call for a request whose answer is only a result code. */
static int s_call_rc(const char *name, const Troupe__SupRequest *req, int timeout_ms)
{
    Troupe__SupReply *r;
    int rc = s_call(NULL, name, req, &r, timeout_ms);
    if (rc == TR_OK) {
        rc = r->rc;
        troupe__sup_reply__free_unpacked(r, NULL);
    }
    return rc;
}

int tr_supervisor_start_child(tr_supervisor *s, const char *name, const void *arg,
                              size_t size, int timeout_ms)
{
    if (s == NULL || name == NULL || !tr_name_valid(name) || (arg == NULL && size > 0) ||
        size > TR__SUP_MAX_ARG)
        return TR_EINVAL;
    Troupe__StartChild sc;
    troupe__start_child__init(&sc);
    sc.name = (char *)(uintptr_t)name;
    sc.arg.data = (uint8_t *)(uintptr_t)arg;
    sc.arg.len = size;
    Troupe__SupRequest req;
    troupe__sup_request__init(&req);
    req.op_case = TROUPE__SUP_REQUEST__OP_START_CHILD;
    req.start_child = &sc;
    return s_call_rc(s->name, &req, timeout_ms);
}

int tr_supervisor_stop_child(tr_supervisor *s, const char *name, int timeout_ms)
{
    if (s == NULL || name == NULL || !tr_name_valid(name))
        return TR_EINVAL;
    Troupe__SupRequest req;
    troupe__sup_request__init(&req);
    req.op_case = TROUPE__SUP_REQUEST__OP_STOP_CHILD;
    req.stop_child = (char *)(uintptr_t)name;
    return s_call_rc(s->name, &req, timeout_ms);
}

/* ---- status ---------------------------------------------------------------- */

/* Copies the string src to *p, advances *p past it, returns the copy. */
static const char *s_put_str(char **p, const char *src)
{
    size_t len = strlen(src) + 1;
    char *dst = memcpy(*p, src, len);
    *p += len;
    return dst;
}

/* A tr_sup_status and its strings live in one allocation. */
static tr_sup_status *s_status_copy(const Troupe__SupStatus *in)
{
    size_t strings = strlen(in->name) + 1;
    for (size_t i = 0; i < in->n_children; i++)
        strings += strlen(in->children[i]->name) + 1;
    size_t size = sizeof(tr_sup_status) + in->n_children * sizeof(tr_child_status) + strings;
    tr_sup_status *st = calloc(1, size);
    if (st == NULL)
        return NULL;
    st->children = (tr_child_status *)(st + 1);
    char *p = (char *)(st->children + in->n_children);
    st->name = s_put_str(&p, in->name);
    st->pid = in->pid;
    st->strategy = in->strategy;
    st->restarts = in->restarts;
    st->uptime_ms = in->uptime_ms;
    st->bad_requests = in->bad_requests;
    st->nchildren = in->n_children;
    for (size_t i = 0; i < in->n_children; i++) {
        const Troupe__ChildStatus *c = in->children[i];
        tr_child_status *o = &st->children[i];
        o->name = s_put_str(&p, c->name);
        o->pid = c->pid;
        o->state = c->state;
        o->is_supervisor = c->is_supervisor;
        o->restart = c->restart;
        o->restarts = c->restarts;
        o->uptime_ms = c->uptime_ms;
        o->has_exited = c->has_exited;
        o->last_exit = c->last_exit;
        o->start_failed = c->start_failed;
    }
    return st;
}

int tr_supervisor_status(const char *run_dir, const char *name, tr_sup_status **out,
                         int timeout_ms)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    Troupe__SupRequest req;
    troupe__sup_request__init(&req);
    req.op_case = TROUPE__SUP_REQUEST__OP_STATUS;
    req.status = 1;
    Troupe__SupReply *r;
    int rc = s_call(run_dir, name, &req, &r, timeout_ms);
    if (rc != TR_OK)
        return rc;
    if (r->rc != TR_OK || r->status == NULL)
        rc = r->rc != TR_OK ? r->rc : TR_EPROTO;
    else if ((*out = s_status_copy(r->status)) == NULL)
        rc = TR_ENOMEM;
    troupe__sup_reply__free_unpacked(r, NULL);
    return rc;
}

void tr_sup_status_destroy(tr_sup_status **st)
{
    if (st == NULL)
        return;
    free(*st);
    *st = NULL;
}

const char *tr_child_state_name(int state)
{
    static const char *names[] = {"running", "stopping", "backoff", "stopped"};
    return state >= 0 && state < 4 ? names[state] : "unknown";
}

const char *tr_strategy_name(int strategy)
{
    static const char *names[] = {"one_for_one", "one_for_all", "rest_for_one",
                                  "simple_one_for_one"};
    return strategy >= 0 && strategy < 4 ? names[strategy] : "unknown";
}

const char *tr_restart_name(int restart)
{
    static const char *names[] = {"permanent", "transient", "temporary"};
    return restart >= 0 && restart < 3 ? names[restart] : "unknown";
}
