/* troupe/actor.h: actors are forked processes.
 *
 * An actor is a child process that runs an entry function (the role of
 * Python's Process(target=...)) or a behaviour (init / handle / terminate,
 * the role of a Process subclass with run(), or of an OTP gen_server). Each
 * has a name, unique among the live actors of its system, from which the
 * address of its mailbox is derived.
 *
 * Guarantees, documented in docs/actors.md:
 *  - tr_actor_spawn returns only once the child is ready (its name claimed;
 *    for a behaviour, its mailbox bound and init returned), or with the
 *    reason it failed; a function actor binds its mailbox on its first
 *    receive, and what is sent to it before waits in the sender;
 *  - the child has a fresh ZeroMQ context and, of the parent's descriptors,
 *    only stdin (reopened on /dev/null), stdout, stderr and the ones named in
 *    tr_spawn_opts.keep_fds;
 *  - the parent learns of a child's death through a pidfd (tr_actor_fd) that
 *    fits in any poll loop; every child is reaped by join, is_alive, destroy
 *    or at exit;
 *  - a daemon actor dies with its parent, even when the parent is SIGKILLed
 *    (PR_SET_PDEATHSIG: strictly, when the thread that spawned it ends, so
 *    spawn daemons from a thread that lives as long as the process);
 *  - at the parent's orderly exit (return from main, exit()), daemon actors
 *    are terminated and non-daemon actors are waited for, as in Python.
 *
 * Threads: spawn, destroy and the orderly exit share this process's list of
 * children; call them from one thread (or under your own lock). A handle is
 * used from one thread at a time. Do not set SIGCHLD to SIG_IGN or reap
 * children with waitpid(-1): troupe reaps its own children.
 */
#ifndef TROUPE_ACTOR_H
#define TROUPE_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "troupe/msg.h"
#include "troupe/sys.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_actor tr_actor;

/* An actor's entry function. Its return value becomes the exit code, modulo
 * 256 as with exit(3): return 0..255. */
typedef int (*tr_actor_fn)(void *arg);

/* What a behaviour's handle callback returns. */
enum { TR_CONTINUE = 0, TR_STOP = 1 };

/* Why terminate is called. */
enum {
    TR_REASON_NORMAL = 0, /* handle returned TR_STOP */
    TR_REASON_SHUTDOWN,   /* the actor was asked to stop (SIGTERM) */
    TR_REASON_ERROR,      /* the mailbox failed; see the log */
};

/* A behaviour: callbacks run by troupe's loop inside the child.
 *  - init(arg, &state) runs before the spawn returns; a non-zero return makes
 *    the spawn fail with TR_ESPAWN and the child exit with that code (0..255).
 *    May be NULL (state is then arg).
 *  - handle(state, msg) runs once per message received in the mailbox; msg is
 *    owned by the loop and valid only during the call. Returns TR_CONTINUE or
 *    TR_STOP. Required.
 *  - terminate(state, reason) runs once when the loop ends and returns the
 *    exit code (0..255). For TR_REASON_SHUTDOWN the process then ends by
 *    SIGTERM, so its exit code is -15 like any terminated actor's. May be NULL
 *    (exit code 0). */
typedef struct tr_behaviour {
    int (*init)(void *arg, void **state);
    int (*handle)(void *state, tr_msg *msg);
    int (*terminate)(void *state, int reason);
} tr_behaviour;

/* Spawn flags. */
enum {
    TR_SPAWN_DAEMON = 1 << 0,     /* dies with its parent, terminated at exit */
    TR_SPAWN_NO_MAILBOX = 1 << 1, /* function actors only: no mailbox bound */
};

/* Options for a spawn; a NULL pointer means all defaults (non-daemon, with a
 * mailbox, no extra descriptors). */
typedef struct tr_spawn_opts {
    int flags;            /* TR_SPAWN_* */
    const int *keep_fds;  /* descriptors the child keeps, besides 0, 1, 2 */
    size_t nkeep_fds;
} tr_spawn_opts;

/* tr_actor_spawn forks a child named name that runs fn(arg) and exits with
 * its return value. arg is not copied: the child sees the parent's memory as
 * it was at the fork. On success *out is a new handle the caller frees with
 * tr_actor_destroy. Errors: TR_EINVAL (NULL out or fn, invalid name, see
 * tr_name_valid), TR_EEXIST (a live actor of this system has the name),
 * TR_ESPAWN (the child died or its init failed before it was ready; it has
 * been reaped), TR_ESYSTEM (a system call failed in the parent: fork, pipe,
 * pidfd_open; or in the child before fn ran: claiming its name, for a
 * behaviour binding its mailbox; errno is the child's), TR_ENOMEM. */
int tr_actor_spawn(tr_actor **out, const char *name, tr_actor_fn fn, void *arg,
                   const tr_spawn_opts *opts);

/* tr_actor_spawn_behaviour forks a child that runs behaviour b with arg. The
 * spawn returns once b->init has returned 0 in the child. The behaviour
 * struct is read in the child; it must stay valid until the call returns.
 * Errors: as tr_actor_spawn, and TR_EINVAL when b or b->handle is NULL or
 * TR_SPAWN_NO_MAILBOX is set; TR_ESPAWN when init fails. */
int tr_actor_spawn_behaviour(tr_actor **out, const char *name, const tr_behaviour *b,
                             void *arg, const tr_spawn_opts *opts);

/* tr_actor_lookup makes a handle to the actor named name in this system,
 * for sending only: the role of a registered name in Erlang. It is how a
 * process that did not spawn an actor (a sibling under a supervisor, a
 * client) reaches it, and it keeps working across restarts, since a
 * restarted actor keeps its address. Nothing is checked about the actor:
 * what is sent waits in this process until an actor of that name binds its
 * mailbox. tr_actor_pid gives 0; join, signal and exitcode give TR_ESTATE;
 * tr_actor_destroy frees it. Errors: TR_EINVAL (NULL out, invalid name),
 * TR_ENOMEM, the errors of tr_sys_init. */
int tr_actor_lookup(tr_actor **out, const char *name);

/* tr_actor_destroy frees the handle and sets *a to NULL; NULL is fine. If the
 * child is still running, a daemon child is killed and reaped at once; a
 * non-daemon child is left running, reaped whenever troupe next looks
 * (a later spawn) and waited for at the parent's orderly exit. */
void tr_actor_destroy(tr_actor **a);

/* tr_actor_pid returns the child's pid (it stays valid after the child was
 * reaped, for logs). */
pid_t tr_actor_pid(const tr_actor *a);

/* tr_actor_name returns the actor's name, owned by the handle. */
const char *tr_actor_name(const tr_actor *a);

/* tr_actor_address returns the actor's mailbox address (an ipc:// URL,
 * derived from its name), owned by the handle. It is the same for every
 * actor of this system that ever has this name: a restarted actor keeps it. */
const char *tr_actor_address(const tr_actor *a);

/* tr_actor_is_daemon says whether the actor was spawned with TR_SPAWN_DAEMON. */
bool tr_actor_is_daemon(const tr_actor *a);

/* tr_actor_is_alive says whether the child is still running. A child found
 * dead is reaped and its exit code recorded. Never blocks. */
bool tr_actor_is_alive(tr_actor *a);

/* tr_actor_join waits up to timeout_ms for the child to exit and reaps it.
 * Returns TR_OK once it has exited (at once if it already had), TR_ETIMEDOUT
 * when it is still running at the deadline (the child is left untouched),
 * TR_ESTATE when called from a process that is not the child's parent,
 * TR_ESYSTEM on a failed system call (errno). */
int tr_actor_join(tr_actor *a, int timeout_ms);

/* tr_actor_exitcode stores the exit code in *code: the entry's return value,
 * or minus the signal number when a signal ended the child (-9 for SIGKILL,
 * -11 for a segfault), as Python's Process.exitcode. Returns TR_ESTATE while
 * the child is running (it reaps a child that has exited) or when called
 * outside the parent before the child was reaped, TR_EINVAL for NULL
 * arguments. */
int tr_actor_exitcode(tr_actor *a, int *code);

/* tr_actor_terminate sends SIGTERM, tr_actor_kill SIGKILL, tr_actor_signal
 * any signal. They do not wait: join afterwards. Signalling an actor that has
 * already exited succeeds and does nothing (the pidfd cannot reach a recycled
 * pid). Errors: TR_EINVAL, TR_ESTATE (not called from the actor's parent,
 * e.g. through a forked copy of the handle), TR_ESYSTEM (errno). */
int tr_actor_terminate(tr_actor *a);
int tr_actor_kill(tr_actor *a);
int tr_actor_signal(tr_actor *a, int sig);

/* tr_actor_fd returns a descriptor that becomes readable when the child
 * exits (a pidfd), for poll(2), epoll or zmq_poll; then call tr_actor_join
 * with TR_NOWAIT to reap it. Owned by the handle; -1 once reaped, and -1 in
 * any process but the parent. */
int tr_actor_fd(const tr_actor *a);

/* tr_actor_send sends one message of size bytes to the actor's mailbox,
 * waiting up to timeout_ms while its queue is full. Safe right after spawn.
 * Errors: TR_EINVAL, TR_ETOOBIG (over tr_sys_max_msg_size), TR_EFULL
 * (timeout), TR_ESTATE (the actor has no mailbox), TR_ESYSTEM. */
int tr_actor_send(tr_actor *a, const void *data, size_t size, int timeout_ms);

/* tr_actor_sendv sends one message of n frames (a ZeroMQ multi-part
 * message, delivered whole or not at all) to the actor's mailbox; the
 * actor receives the frames one by one, tr_msg_more set on all but the
 * last. Errors: as tr_actor_send, and TR_EINVAL for n < 1 or a NULL frame
 * with a size, TR_ETOOBIG for a frame over the limit. */
int tr_actor_sendv(tr_actor *a, const struct iovec *frames, int n, int timeout_ms);

/* ---- inside an actor (the role of multiprocessing.current_process()) ---- */

/* tr_self_name returns this actor's name, or "main" outside any actor. */
const char *tr_self_name(void);

/* tr_self_pid and tr_self_ppid return getpid() and the pid of the process
 * that spawned this actor (getppid(), which is 1 or a subreaper once the
 * parent is gone). */
pid_t tr_self_pid(void);
pid_t tr_self_ppid(void);

/* tr_self_is_actor says whether this process was spawned by troupe. */
bool tr_self_is_actor(void);

/* tr_self_recv receives the next message of this actor's mailbox into msg
 * (initialised by the call; close it with tr_msg_close), waiting up to
 * timeout_ms. The first call binds the mailbox. Errors: TR_EEMPTY (timeout),
 * TR_ESTATE (no mailbox here: not an actor, or TR_SPAWN_NO_MAILBOX),
 * TR_ESYSTEM (binding failed). A peer that sends more than tr_sys_max_msg_size is
 * disconnected by ZeroMQ before its frame is read; nothing reaches here. */
int tr_self_recv(tr_msg *msg, int timeout_ms);

/* tr_self_mailbox_fd returns a descriptor for poll loops that signals
 * readiness of this actor's mailbox (ZMQ_FD semantics: edge-triggered; call
 * tr_self_recv with TR_NOWAIT until TR_EEMPTY). -1 without a mailbox. */
int tr_self_mailbox_fd(void);

/* tr_self_exit ends this actor now, in order: its own children are handled
 * as at exit, its sockets close and deliver what they hold, and the process
 * exits with code. Outside an actor it calls exit(code). */
_Noreturn void tr_self_exit(int code);

#ifdef __cplusplus
}
#endif
#endif /* TROUPE_ACTOR_H */
