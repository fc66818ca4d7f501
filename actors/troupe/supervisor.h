/* troupe/supervisor.h: supervisor trees, with Erlang/OTP's restart rules for
 * OS processes.
 *
 * A supervisor is an actor (a process) that starts its children from a spec,
 * in order, watches them through pidfds, restarts them by its strategy and
 * their restart types, gives up when they crash too often, and stops them in
 * reverse order. Children are workers (an entry function or a behaviour) or
 * other supervisors, so specs nest into trees. docs/supervision.md explains
 * the rules; they follow OTP's `supervisor` module where it applies.
 *
 * Guarantees:
 *  - tr_supervisor_start returns once every child of the tree has started
 *    (for a behaviour, its init returned), or fails with nothing left alive;
 *  - a restarted child keeps its name and so its mailbox address: senders
 *    need not know it restarted (what was queued in the dead process is lost);
 *  - every supervised process dies with its supervisor, even when the
 *    supervisor is SIGKILLed (PR_SET_PDEATHSIG on each of them), so a tree
 *    dies with its root: no orphan; the dead are reaped by whoever inherits
 *    them, so no zombie;
 *  - each supervisor answers status requests on a control socket in the run
 *    directory (tr_supervisor_status, `troupe status`).
 *
 *   #include <troupe/supervisor.h>      (Bazel: //actors:supervisor)
 */
#ifndef TROUPE_SUPERVISOR_H
#define TROUPE_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "troupe/troupe.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_supervisor tr_supervisor;
typedef struct tr_sup_spec tr_sup_spec;

/* Strategies: which children are restarted when one must be. */
enum {
    TR_ONE_FOR_ONE = 0,    /* only the one that exited */
    TR_ONE_FOR_ALL,        /* all: the others are stopped (in reverse order),
                              then all started again in order */
    TR_REST_FOR_ONE,       /* the one and those after it in the spec */
    TR_SIMPLE_ONE_FOR_ONE, /* dynamic children of one template (children[0]),
                              started by tr_supervisor_start_child; else as
                              one_for_one */
};

/* Restart types: whether a child that exited is started again. */
enum {
    TR_PERMANENT = 0, /* always */
    TR_TRANSIENT,     /* only after an abnormal exit: an exit code other than 0,
                         or a signal other than SIGTERM */
    TR_TEMPORARY,     /* never; a dynamic child is then forgotten */
};

/* Shutdown values for tr_child_spec.shutdown_ms, besides a number of ms. */
#define TR_SHUTDOWN_DEFAULT 0 /* 5000 ms for a worker, TR_FOREVER for a supervisor */
#define TR_SHUTDOWN_BRUTAL (-2) /* SIGKILL at once */

/* The exit code of a supervisor that gave up (restart intensity exceeded):
 * its own supervisor sees an abnormal exit and applies its rules (OTP's
 * escalation). A supervisor that was stopped exits by SIGTERM (-15). */
#define TR_SUP_EXIT_GAVE_UP 99

/* One child. Exactly one of fn, behaviour, supervisor is set. The spec and
 * everything it points to are read in the supervisor's process, which is
 * forked: they must be valid when tr_supervisor_start is called and are
 * seen as they were then.
 *  - name: the child's actor name (tr_name_valid), unique in the system; for
 *    the template of a simple_one_for_one supervisor it is ignored.
 *  - fn(arg) / behaviour with arg: a worker, as tr_actor_spawn and
 *    tr_actor_spawn_behaviour run it. supervisor: a nested supervisor.
 *  - restart: TR_PERMANENT (default), TR_TRANSIENT, TR_TEMPORARY.
 *  - shutdown_ms: how the child is stopped. A daemon child (flags has
 *    TR_SPAWN_DAEMON) or any child being restarted gets SIGTERM, then SIGKILL
 *    after shutdown_ms. When its supervisor shuts down, a non-daemon child
 *    is first waited for shutdown_ms without a signal (it is expected to
 *    finish its work, as Python joins non-daemon processes), then handled as
 *    a daemon. TR_SHUTDOWN_BRUTAL: SIGKILL at once; TR_FOREVER: no SIGKILL.
 *  - flags: TR_SPAWN_DAEMON, TR_SPAWN_NO_MAILBOX (fn only).
 *  - keep_fds: descriptors the child keeps, as in tr_spawn_opts (the
 *    supervisors above it keep them too). */
typedef struct tr_child_spec {
    const char *name;
    tr_actor_fn fn;
    const tr_behaviour *behaviour;
    const tr_sup_spec *supervisor;
    void *arg;
    int restart;
    int shutdown_ms;
    int flags;
    const int *keep_fds;
    size_t nkeep_fds;
} tr_child_spec;

/* A supervisor's spec.
 *  - strategy: TR_ONE_FOR_ONE (default) ... TR_SIMPLE_ONE_FOR_ONE.
 *  - intensity, period_ms: more than intensity restarts within period_ms
 *    make the supervisor stop its children and exit with
 *    TR_SUP_EXIT_GAVE_UP. 0 and 0 mean OTP's defaults, 1 in 5000 ms; a
 *    negative intensity allows no restart at all; at most 100000.
 *  - backoff_ms, backoff_max_ms: when backoff_ms > 0, a child that exits
 *    again within period_ms of its start is restarted after a delay that
 *    doubles with each such exit, from backoff_ms up to backoff_max_ms
 *    (default 32 x backoff_ms; both at most one hour), with random jitter (half fixed, half random:
 *    delay/2 + rand(delay/2)). A child that ran for period_ms starts afresh.
 *    In one_for_all and rest_for_one, the children after it wait for it.
 *  - children, nchildren: the children in start order (at most 4096); for
 *    TR_SIMPLE_ONE_FOR_ONE exactly one, the template. */
struct tr_sup_spec {
    int strategy;
    int intensity;
    int period_ms;
    int backoff_ms;
    int backoff_max_ms;
    const tr_child_spec *children;
    size_t nchildren;
};

/* tr_supervisor_start forks a supervisor named name that starts the
 * children of spec in order, and returns once all have started. flags are
 * spawn flags for the supervisor itself (TR_SPAWN_DAEMON makes it die with
 * this process). On success *out is a handle the caller frees with
 * tr_supervisor_destroy. Errors: TR_EINVAL (NULL argument, invalid name, an
 * invalid spec at any depth: unknown strategy or restart type, a number out
 * of range, not exactly
 * one of fn / behaviour / supervisor, a name repeated within one spec, a
 * simple_one_for_one spec without exactly one child; the log says which),
 * TR_EEXIST (a live actor has the supervisor's name), TR_ESPAWN (a child
 * failed to start: those started were stopped, and the log names the
 * child), TR_ESYSTEM, TR_ENOMEM. */
int tr_supervisor_start(tr_supervisor **out, const char *name, const tr_sup_spec *spec,
                        int flags);

/* tr_supervisor_stop stops the supervisor (SIGTERM): it stops its children
 * in reverse order, each by its shutdown rule, then exits. Waits up to
 * timeout_ms for it to exit, then kills it (and so, through
 * PR_SET_PDEATHSIG, whatever of the tree remained). Returns TR_OK when it
 * stopped in time, TR_ETIMEDOUT when it had to be killed, TR_ESTATE when
 * called from a process other than the one that started it. */
int tr_supervisor_stop(tr_supervisor *s, int timeout_ms);

/* tr_supervisor_destroy frees the handle and sets *s to NULL; NULL is fine.
 * A supervisor still running is stopped first, as tr_supervisor_stop with
 * TR_FOREVER would. */
void tr_supervisor_destroy(tr_supervisor **s);

/* tr_supervisor_actor returns the supervisor's actor handle (owned by s), for
 * its pid, its pidfd in a poll loop, join and exit code. */
tr_actor *tr_supervisor_actor(tr_supervisor *s);

/* tr_supervisor_start_child starts a dynamic child of a simple_one_for_one
 * supervisor from its template, named name. The child runs the template's
 * fn or behaviour with a pointer to a copy of arg's size bytes (NULL when
 * size is 0), valid for the child's life: the role of OTP's extra start
 * arguments. Returns once the child has started. Errors: TR_EINVAL (bad
 * name, NULL arg with a size, size over 64 KiB), TR_ESTATE (not a
 * simple_one_for_one supervisor), TR_EEXIST (the name is in use),
 * TR_ESPAWN (the child failed to start), TR_ETIMEDOUT (no answer in
 * timeout_ms), TR_ECLOSED (the supervisor is gone or shutting down),
 * TR_ENOMEM (in this process or the supervisor's, or 4096 children). */
int tr_supervisor_start_child(tr_supervisor *s, const char *name, const void *arg,
                              size_t size, int timeout_ms);

/* tr_supervisor_stop_child stops a dynamic child by its shutdown rule and
 * forgets it; returns once it has exited. Errors: TR_EINVAL, TR_ESTATE (not
 * a dynamic child), TR_ETIMEDOUT, TR_ECLOSED, as tr_supervisor_start_child;
 * TR_EEXIST is never returned: an unknown name gives TR_EINVAL. */
int tr_supervisor_stop_child(tr_supervisor *s, const char *name, int timeout_ms);

/* ---- status ---------------------------------------------------------------- */

/* A child's state as its supervisor sees it. */
enum {
    TR_CHILD_RUNNING = 0,
    TR_CHILD_STOPPING, /* asked to stop, not exited yet */
    TR_CHILD_BACKOFF,  /* exited, waiting for its restart delay */
    TR_CHILD_STOPPED,  /* exited and not to be restarted (or not yet) */
};

/* tr_child_status: one child, in a tr_sup_status. Strings are owned by the
 * tr_sup_status. */
typedef struct tr_child_status {
    const char *name;
    pid_t pid;            /* the current (or last) process; 0 if never started */
    int state;            /* TR_CHILD_* */
    bool is_supervisor;
    int restart;          /* TR_PERMANENT ... */
    unsigned restarts;    /* times it was started again */
    int64_t uptime_ms;    /* since its last start, while running; else 0 */
    bool has_exited;      /* last_exit is valid */
    int last_exit;        /* exit code, or minus the signal, of its last exit */
    bool start_failed;    /* its last start failed (see the log for why); it
                             then counts as a crash, and has_exited is false */
} tr_child_status;

/* tr_sup_status: a supervisor and its children, as answered by it. */
typedef struct tr_sup_status {
    const char *name;
    pid_t pid;
    int strategy;
    unsigned restarts; /* restarts this supervisor has made */
    int64_t uptime_ms;
    uint64_t bad_requests; /* control requests it refused (undecodable) */
    size_t nchildren;
    tr_child_status *children;
} tr_sup_status;

/* tr_supervisor_status asks the supervisor named name, in the system whose
 * run directory is run_dir (NULL: this process's system), for its status,
 * waiting up to timeout_ms. On success *out is a new tr_sup_status that the
 * caller frees with tr_sup_status_destroy. Errors: TR_EINVAL, TR_ECLOSED
 * (no such supervisor runs there: no control socket), TR_ETIMEDOUT (no
 * answer in time: it is busy, e.g. waiting for a child to start, or it
 * died and left its socket behind), TR_EPROTO (the answer could not be
 * decoded), TR_ENOMEM, TR_ESYSTEM. */
int tr_supervisor_status(const char *run_dir, const char *name, tr_sup_status **out,
                         int timeout_ms);

/* tr_sup_status_destroy frees a status and sets *st to NULL; NULL is fine. */
void tr_sup_status_destroy(tr_sup_status **st);

/* tr_child_state_name returns "running", "stopping", "backoff" or
 * "stopped" (or "unknown"); tr_strategy_name and tr_restart_name likewise
 * ("one_for_one" ..., "permanent" ...). */
const char *tr_child_state_name(int state);
const char *tr_strategy_name(int strategy);
const char *tr_restart_name(int restart);

#ifdef __cplusplus
}
#endif
#endif /* TROUPE_SUPERVISOR_H */
