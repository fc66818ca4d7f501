/* supervisor_loop.c: the supervisor's process: one state machine, one poll
 * loop (the control socket, a signalfd for SIGTERM, a pidfd per child, and
 * timers as the poll's timeout). The control requests it reads are served
 * by supervisor_control.c; the state both share is in supervisor_state.h.
 *
 * Each child is DOWN, UP or STOPPING, and carries two wishes: `want` (it
 * should run) and `cycle` (it must stop and start again: a group restart).
 * Events only change states and wishes; s_act then takes the actions, so
 * that the ordering rules live in one place:
 *
 *   event                           effect
 *   -----                           ------
 *   child exited, was STOPPING      DOWN
 *   child exited, was UP            DOWN; by restart type: want = false, or
 *                                   count a restart (too many: give up) and,
 *                                   by strategy, cycle = true on the others
 *                                   (all) or on those after it (rest);
 *                                   backoff sets its not_before
 *   stop deadline passed            next stop stage: wait -> SIGTERM -> SIGKILL
 *   SIGTERM                         shut down: want = false for all
 *   give up                         as SIGTERM, exit code TR_SUP_EXIT_GAVE_UP
 *   request start_child             spawn it now (UP), or answer the error
 *   request stop_child              want = false; answer once it is DOWN
 *
 *   s_act, repeated until nothing changes
 *   -----
 *   1. no child STOPPING: the last UP child with !want or cycle starts
 *      stopping (stops go one at a time, in reverse order);
 *   2. the first DOWN children with want start, in order, once their delay
 *      has passed; in one_for_all and rest_for_one only when no stop is
 *      pending, and a child still in its delay holds back those after it;
 *   3. shutting down and every child DOWN: exit.
 *
 * Spawning is synchronous (the child's init has run when it returns), as
 * OTP's start_link is. The loop allocates only when children are added. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/event_internal.h"
#include "actors/supervisor_internal.h"
#include "actors/supervisor_state.h"
#include "core/internal.h"

typedef tr__sup_child s_child;

/* The one supervisor of this process (supervisor_state.h). */
tr__sup_state tr__sup;
static tr__sup_state *const S = &tr__sup;

/* ---- lifecycle reports ----------------------------------------------------- */

/* Publishes a report on "$sys/<supervisor>/<child>" through the event hub,
 * when this system has one: one line of key=value after a word (started,
 * restarted, exited, gave_up). It never waits; see docs/events.md. */
static void s_publish(const s_child *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void s_publish(const s_child *c, const char *fmt, ...)
{
    char topic[160], line[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    snprintf(topic, sizeof topic, "$sys/%s/%s", S->name, c->name);
    tr__hub_report(topic, line);
}

void tr__sup_report_start(const s_child *c)
{
    tr_log(TR_LOG_INFO, "TR-CHILD-START", "%s[%d] started", c->name, (int)c->pid);
    s_publish(c, "started pid=%d", (int)c->pid);
}

static void s_report_exit(const s_child *c, int code)
{
    char why[48];
    if (code >= 0)
        snprintf(why, sizeof why, "exited with %d", code);
    else
        snprintf(why, sizeof why, "killed by signal %d (%s)", -code, strsignal(-code));
    bool expected = c->state == C_STOPPING;
    tr_log(expected || code == 0 ? TR_LOG_INFO : TR_LOG_WARN, "TR-CHILD-EXIT", "%s[%d] %s%s",
           c->name, (int)c->pid, why, expected ? " (stopped)" : "");
    s_publish(c, "exited pid=%d code=%d stopped=%d", (int)c->pid, code, expected);
}

/* ---- children -------------------------------------------------------------- */

static int s_shutdown_ms(const s_child *c)
{
    if (c->spec.shutdown_ms != TR_SHUTDOWN_DEFAULT)
        return c->spec.shutdown_ms;
    return c->spec.supervisor != NULL ? TR_FOREVER : 5000;
}

int tr__sup_spawn_child(s_child *c)
{
    tr_spawn_opts o = {.flags = c->spec.flags | TR__SPAWN_LINKED,
                       .keep_fds = c->spec.keep_fds,
                       .nkeep_fds = c->spec.nkeep_fds};
    void *arg = c->dynamic ? c->arg_copy : c->spec.arg;
    if (c->spec.supervisor != NULL)
        return tr__sup_spawn(&c->actor, c->name, c->spec.supervisor,
                             (c->spec.flags & TR_SPAWN_DAEMON) | TR__SPAWN_LINKED);
    if (c->spec.behaviour != NULL)
        return tr_actor_spawn_behaviour(&c->actor, c->name, c->spec.behaviour, arg, &o);
    return tr_actor_spawn(&c->actor, c->name, c->spec.fn, arg, &o);
}

static void s_on_exit(s_child *c, int code, bool start_failed);

/* Starts c now. A child that fails to start is handled as one that exited
 * abnormally at once (its own log line says why). */
static int s_start(s_child *c)
{
    int rc = tr__sup_spawn_child(c);
    if (rc != TR_OK) {
        tr_log(TR_LOG_WARN, "TR-CHILD-FAIL", "%s failed to start: %s", c->name, tr_strerror(rc));
        c->state = C_UP; /* so that s_on_exit treats it as a crash */
        c->started_ms = tr__now_ms();
        s_on_exit(c, 0, true);
        return rc;
    }
    c->pid = tr_actor_pid(c->actor);
    c->state = C_UP;
    c->cycle = false;
    c->started_ms = tr__now_ms();
    if (c->started_once) {
        c->restarts++;
        tr_log(TR_LOG_INFO, "TR-CHILD-RESTART", "%s[%d] restarted (%u)", c->name, (int)c->pid,
               c->restarts);
        s_publish(c, "restarted pid=%d restarts=%u", (int)c->pid, c->restarts);
    } else {
        tr__sup_report_start(c);
    }
    c->started_once = true;
    return TR_OK;
}

static void s_signal(s_child *c, int sig)
{
    if (tr_actor_signal(c->actor, sig) != TR_OK)
        tr_log(TR_LOG_WARN, "TR-CHILD-SIGNAL", "%s[%d]: signal %d failed", c->name, (int)c->pid,
               sig);
}

/* Moves a STOPPING child to the given stage and arms its deadline. */
static void s_stage(s_child *c, int stage)
{
    int ms = s_shutdown_ms(c);
    c->stage = stage;
    if (stage == 1)
        s_signal(c, SIGTERM);
    else if (stage == 2)
        s_signal(c, SIGKILL);
    c->deadline = stage < 2 && ms >= 0 ? tr__now_ms() + ms : -1;
}

static void s_stop_begin(s_child *c)
{
    c->state = C_STOPPING;
    int ms = s_shutdown_ms(c);
    bool joins = S->shutting_down && !S->start_failed &&
                 !(c->spec.flags & TR_SPAWN_DAEMON) && c->spec.supervisor == NULL;
    if (ms == TR_SHUTDOWN_BRUTAL)
        s_stage(c, 2);
    else
        s_stage(c, joins ? 0 : 1);
}

static void s_deadline_passed(s_child *c)
{
    if (c->stage == 1)
        tr_log(TR_LOG_WARN, "TR-CHILD-KILL", "%s[%d] did not stop in %d ms after SIGTERM; killing",
               c->name, (int)c->pid, s_shutdown_ms(c));
    s_stage(c, c->stage + 1);
}

void tr__sup_remove(s_child *c)
{
    size_t i = 0;
    while (i < S->n && S->kids[i] != c)
        i++;
    if (i == S->n)
        return;
    memmove(&S->kids[i], &S->kids[i + 1], (S->n - i - 1) * sizeof *S->kids);
    S->n--;
    if (S->pending_stop == c) {
        S->pending_stop = NULL;
        S->pending_done = true;
    }
    tr_actor_destroy(&c->actor);
    free(c->arg_copy);
    free(c);
}

/* ---- the rules ------------------------------------------------------------- */

static void s_shut_down(int exit_code)
{
    if (!S->shutting_down)
        S->exit_code = exit_code;
    S->shutting_down = true;
    for (size_t i = 0; i < S->n; i++)
        S->kids[i]->want = false;
}

/* Records a restart; false when it is one too many for the intensity. */
static bool s_restart_allowed(void)
{
    if (S->intensity < 0)
        return false;
    long long now = tr__now_ms();
    S->history[S->hpos] = now;
    S->hpos = (S->hpos + 1) % S->nhistory;
    /* The ring holds intensity + 1 entries; the oldest is at hpos. */
    long long oldest = S->history[S->hpos];
    return !(oldest != 0 && now - oldest <= S->period_ms);
}

static long long s_backoff_delay(s_child *c)
{
    const tr_sup_spec *sp = S->spec;
    if (sp->backoff_ms <= 0 || c->quick_exits == 0)
        return 0;
    long long d = sp->backoff_ms;
    for (unsigned k = 1; k < c->quick_exits && d < S->backoff_max_ms; k++)
        d *= 2;
    if (d > S->backoff_max_ms)
        d = S->backoff_max_ms;
    return d / 2 + (d - d / 2 > 0 ? random() % (d - d / 2 + 1) : 0);
}

static void s_on_exit(s_child *c, int code, bool start_failed)
{
    bool was_stopping = c->state == C_STOPPING;
    if (c->actor != NULL)
        s_report_exit(c, code);
    tr_actor_destroy(&c->actor);
    c->state = C_DOWN;
    c->cycle = false;
    c->has_exited = !start_failed;
    c->start_failed = start_failed;
    if (!start_failed)
        c->last_exit = code;
    if (was_stopping) {
        if (c->forget)
            tr__sup_remove(c);
        return;
    }
    if (!c->want) { /* exited on its own just as it was to be stopped */
        if (c->forget)
            tr__sup_remove(c);
        return;
    }
    /* A start that failed is a crash, whatever the restart type. */
    bool normal = !start_failed && (code == 0 || code == -SIGTERM);
    bool restart = c->spec.restart == TR_PERMANENT ||
                   (c->spec.restart == TR_TRANSIENT && !normal);
    if (!restart) {
        c->want = false;
        if (c->dynamic)
            tr__sup_remove(c);
        return;
    }
    if (!s_restart_allowed()) {
        tr_log(TR_LOG_ERROR, "TR-SUP-GIVEUP",
               "%s exited: more than %d restarts in %d ms; stopping all children and exiting",
               c->name, S->intensity < 0 ? 0 : S->intensity, S->period_ms);
        s_publish(c, "gave_up restarts=%u intensity=%d period_ms=%d", S->restarts,
                  S->intensity < 0 ? 0 : S->intensity, S->period_ms);
        s_shut_down(TR_SUP_EXIT_GAVE_UP);
        return;
    }
    S->restarts++;
    long long now = tr__now_ms();
    c->quick_exits = now - c->started_ms < S->period_ms ? c->quick_exits + 1 : 0;
    c->not_before = now + s_backoff_delay(c);
    int strategy = S->spec->strategy;
    bool after = false;
    for (size_t i = 0; i < S->n; i++) {
        s_child *o = S->kids[i];
        if (o == c) {
            after = true;
            continue;
        }
        if (o->state != C_UP ||
            !(strategy == TR_ONE_FOR_ALL || (strategy == TR_REST_FOR_ONE && after)))
            continue;
        if (o->spec.restart == TR_TEMPORARY) {
            /* Stopped with the group, never started again (OTP's rule). */
            o->want = false;
            o->forget = o->dynamic;
        } else {
            o->cycle = true;
        }
    }
}

static bool s_grouped(void)
{
    return S->spec->strategy == TR_ONE_FOR_ALL || S->spec->strategy == TR_REST_FOR_ONE;
}

/* Takes every action the states call for; returns the time of the next
 * timer (-1: none). */
static long long s_act(void)
{
    for (;;) {
        bool stopping = false, changed = false;
        long long now = tr__now_ms(), next = -1;
        for (size_t i = 0; i < S->n; i++) {
            s_child *c = S->kids[i];
            if (c->state == C_STOPPING) {
                stopping = true;
                if (c->deadline >= 0 && c->deadline <= now)
                    s_deadline_passed(c);
                if (c->deadline >= 0 && (next < 0 || c->deadline < next))
                    next = c->deadline;
            }
        }
        bool stop_pending = stopping;
        for (size_t i = S->n; !stopping && i-- > 0;) {
            s_child *c = S->kids[i];
            if (c->state == C_UP && (!c->want || c->cycle)) {
                s_stop_begin(c);
                stop_pending = stopping = changed = true;
                if (c->deadline >= 0 && (next < 0 || c->deadline < next))
                    next = c->deadline;
            }
        }
        for (size_t i = S->n; !stop_pending && i-- > 0;)
            if (S->kids[i]->state == C_UP && S->kids[i]->cycle)
                stop_pending = true;
        if (!(stop_pending && s_grouped())) {
            for (size_t i = 0; i < S->n; i++) {
                s_child *c = S->kids[i];
                if (c->state != C_DOWN || !c->want)
                    continue;
                if (c->not_before > now) {
                    if (next < 0 || c->not_before < next)
                        next = c->not_before;
                    if (s_grouped())
                        break;
                    continue;
                }
                /* A start takes time: look at the clock again. After a
                 * failed one, go back to the poll first, so that retrying a
                 * child whose start keeps failing slowly cannot keep the
                 * supervisor from its signals, requests and other children. */
                if (s_start(c) != TR_OK)
                    return 0;
                changed = true;
                break;
            }
        }
        if (!changed)
            return next;
    }
}

/* ---- the process ----------------------------------------------------------- */

static _Noreturn void s_exit(void)
{
    tr__sys_close(&S->ctl);
    if (S->exit_code != 0)
        tr__sys_exit(S->exit_code);
    tr__sys_exit_signal(SIGTERM);
}

static bool s_all_down(void)
{
    for (size_t i = 0; i < S->n; i++)
        if (S->kids[i]->state != C_DOWN)
            return false;
    return true;
}

static int s_poll_items(void)
{
    size_t need = S->n + 2;
    if (need > S->items_cap) {
        zmq_pollitem_t *it = realloc(S->items, need * sizeof *it);
        if (it == NULL)
            return -1;
        S->items = it;
        s_child **ik = realloc(S->item_kid, need * sizeof *ik);
        if (ik == NULL)
            return -1;
        S->item_kid = ik;
        S->items_cap = need;
    }
    int n = 0;
    S->items[n++] = (zmq_pollitem_t){.fd = S->sigfd, .events = ZMQ_POLLIN};
    S->items[n++] = (zmq_pollitem_t){.socket = S->pending_stop ? NULL : S->ctl,
                                    .fd = -1,
                                    .events = S->pending_stop ? 0 : ZMQ_POLLIN};
    for (size_t i = 0; i < S->n; i++) {
        if (S->kids[i]->state == C_DOWN)
            continue;
        S->item_kid[n] = S->kids[i];
        S->items[n++] = (zmq_pollitem_t){.fd = tr_actor_fd(S->kids[i]->actor), .events = ZMQ_POLLIN};
    }
    return n;
}

/* Waits for the next event (or the timer at next, -1: none) and handles
 * it. serve: also SIGTERM and control requests (not before ready). */
static void s_wait(long long next, bool serve)
{
    int n = s_poll_items();
    if (n < 0) {
        tr_log(TR_LOG_ERROR, "TR-SUP-NOMEM", "out of memory; stopping");
        s_shut_down(TR_SUP_EXIT_GAVE_UP);
        return;
    }
    long timeout = next < 0 ? -1 : next - tr__now_ms();
    if (next >= 0 && timeout < 0)
        timeout = 0;
    int skip = serve ? 0 : 2;
    if (zmq_poll(S->items + skip, n - skip, timeout) < 0) {
        if (errno != EINTR) {
            tr_log(TR_LOG_ERROR, "TR-SUP-POLL", "poll failed: %s", zmq_strerror(errno));
            s_shut_down(TR_SUP_EXIT_GAVE_UP);
        }
        return;
    }
    if (serve && (S->items[0].revents & ZMQ_POLLIN)) {
        struct signalfd_siginfo si;
        if (read(S->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
            tr_log(TR_LOG_INFO, "TR-SUP-STOP", "SIGTERM: stopping children");
            s_shut_down(0);
        }
    }
    for (int i = 2; i < n; i++) {
        if (!(S->items[i].revents & ZMQ_POLLIN))
            continue;
        s_child *c = S->item_kid[i];
        int code = 0;
        if (tr_actor_join(c->actor, TR_NOWAIT) == TR_OK &&
            tr_actor_exitcode(c->actor, &code) == TR_OK)
            s_on_exit(c, code, false);
    }
    if (serve && (S->items[1].revents & ZMQ_POLLIN))
        tr__sup_request();
}

static int s_main(void *arg)
{
    (void)arg;
    for (;;) {
        long long next = s_act();
        tr__sup_answer_pending();
        if (S->shutting_down && s_all_down())
            s_exit();
        s_wait(next, true);
    }
}

/* A start that failed half-way: the children started so far stop, in
 * reverse order, and the supervisor fails its start. */
static int s_abort_start(void)
{
    S->intensity = -1;      /* no restarts while stopping */
    S->start_failed = true; /* stop the others now: nothing to join */
    s_shut_down(TR_SUP_EXIT_GAVE_UP);
    while (!s_all_down())
        s_wait(s_act(), false);
    return 1;
}

/* Runs in the supervisor's process before it reports ready: the signalfd,
 * every child started in order, then the control socket. */
static int s_init(void *arg)
{
    const tr_sup_spec *spec = arg;
    memset(S, 0, sizeof *S);
    S->spec = spec;
    S->sigfd = -1;
    snprintf(S->name, sizeof S->name, "%s", tr_self_name());
    S->intensity = spec->intensity == 0 && spec->period_ms == 0 ? 1 : spec->intensity;
    S->period_ms = spec->period_ms > 0 ? spec->period_ms : 5000;
    S->backoff_max_ms = spec->backoff_max_ms > 0 ? spec->backoff_max_ms : 32 * spec->backoff_ms;
    S->nhistory = S->intensity >= 0 ? (size_t)S->intensity + 1 : 1;
    S->history = calloc(S->nhistory, sizeof *S->history);
    S->started_ms = tr__now_ms();
    srandom((unsigned)getpid());
    if (S->history == NULL)
        return 1;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    S->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (S->sigfd < 0) {
        tr_log(TR_LOG_ERROR, "TR-SUP-CONTROL", "cannot make a signalfd: %s", strerror(errno));
        return 1;
    }
    size_t n = spec->strategy == TR_SIMPLE_ONE_FOR_ONE ? 0 : spec->nchildren;
    for (size_t i = 0; i < n; i++) {
        s_child *c = calloc(1, sizeof *c);
        if (c == NULL || tr__sup_add(c) != TR_OK) {
            free(c);
            return 1;
        }
        c->spec = spec->children[i];
        snprintf(c->name, sizeof c->name, "%s", c->spec.name);
        c->want = true;
    }
    /* Start in order; the first failure stops those started, in reverse. */
    for (size_t i = 0; i < S->n; i++) {
        if (tr__sup_spawn_child(S->kids[i]) == TR_OK) {
            s_child *c = S->kids[i];
            c->pid = tr_actor_pid(c->actor);
            c->state = C_UP;
            c->started_once = true;
            c->started_ms = tr__now_ms();
            tr__sup_report_start(c);
            continue;
        }
        tr_log(TR_LOG_ERROR, "TR-SUP-START", "%s failed to start; stopping the others",
               S->kids[i]->name);
        return s_abort_start();
    }
    /* The control socket comes last, once every child is started: making
     * it starts ZeroMQ's threads in this process, and a fork with no other
     * thread running cannot inherit a lock another thread held (which
     * glibc's malloc guards against, and some sanitizer allocators do not).
     * Nobody can ask before ready anyway. */
    char dir[4200], address[256];
    snprintf(dir, sizeof dir, "%s/.c", tr_sys_run_dir());
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) ||
        tr__sup_control_address(tr_sys_run_dir(), S->name, address, sizeof address) != TR_OK ||
        (S->ctl = tr__sys_socket(ZMQ_REP)) == NULL || zmq_bind(S->ctl, address) != 0) {
        tr_log(TR_LOG_ERROR, "TR-SUP-CONTROL", "cannot set up the control socket: %s",
               strerror(errno));
        tr__sys_close(&S->ctl);
        return s_abort_start();
    }
    return 0;
}

static void s_keep_fds(const tr_sup_spec *spec, int *fds, size_t *n, size_t cap)
{
    for (size_t i = 0; i < spec->nchildren; i++) {
        const tr_child_spec *c = &spec->children[i];
        for (size_t k = 0; k < c->nkeep_fds && *n < cap; k++)
            fds[(*n)++] = c->keep_fds[k];
        if (c->supervisor != NULL)
            s_keep_fds(c->supervisor, fds, n, cap);
    }
}

int tr__sup_spawn(tr_actor **out, const char *name, const tr_sup_spec *spec, int flags)
{
    int fds[256];
    size_t n = 0;
    s_keep_fds(spec, fds, &n, sizeof fds / sizeof *fds);
    tr_spawn_opts o = {.flags = flags | TR_SPAWN_NO_MAILBOX, .keep_fds = fds, .nkeep_fds = n};
    return tr__actor_spawn_ex(out, name, s_init, s_main, (void *)(uintptr_t)spec, &o,
                              o.flags);
}
