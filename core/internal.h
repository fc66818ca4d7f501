/* core/internal.h: what core's files share with each other and not with
 * users. Nothing here is supported API. */
#ifndef TROUPE_CORE_INTERNAL_H
#define TROUPE_CORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <zmq.h>

/* What a tr_msg holds: the frame, how many bytes of troupe's own header
 * precede the user's bytes in it (tr_msg_data skips them), and how many
 * follow them (a frame taken out of a BATCH frame shares that frame, by
 * reference, with its neighbours), and whether more frames of the same
 * message follow (for such a frame; otherwise ZeroMQ's flag says). */
typedef struct tr__msg {
    zmq_msg_t zmsg;
    unsigned skip;
    unsigned cut : 31;
    unsigned more : 1;
} tr__msg;

/* The ZeroMQ context of this process, created on first use. After a fork the
 * inherited context is abandoned untouched (it is not fork-safe) and a new
 * one is made. NULL on failure, with errno set. */
void *tr__sys_ctx(void);

/* tr__sys_socket makes a socket of ZeroMQ type `type` with troupe's defaults
 * (linger, high-water marks, maximum message size) and registers it so that
 * an orderly process exit closes it. NULL on failure, errno set. */
void *tr__sys_socket(int type);

/* tr__sys_monitor starts a monitor of the given ZMQ_EVENT_* on sock and
 * returns the PAIR socket that receives its events (made with
 * tr__sys_socket), or NULL (errno). Each monitor gets an inproc name of its
 * own: ZeroMQ unbinds a closed monitor's name asynchronously, so reusing one
 * (say, from a recycled pointer) could fail with EADDRINUSE. */
void *tr__sys_monitor(void *sock, int events);

/* tr__sys_monitor_events reads, without waiting, every event waiting on a
 * monitor PAIR made by tr__sys_monitor, and returns how many there were. */
int tr__sys_monitor_events(void *pair);

/* tr__sys_monitor_stop stops the monitor of sock and closes its PAIR (sets
 * *pair to NULL). Always do this before closing either socket: libzmq sends
 * monitor events from its I/O thread with a blocking send, so an event for
 * a monitor whose PAIR is gone would stall every socket of the context. */
void tr__sys_monitor_stop(void *sock, void **pair);

/* tr__sys_close closes a socket made by tr__sys_socket; sets *sock to NULL. */
void tr__sys_close(void **sock);

/* Called in a freshly forked child before anything else: forget the parent's
 * context and sockets (never touching them), record the actor's name. */
void tr__sys_forked(const char *self_name);

/* The descriptor that holds this system's run-directory lock; children keep
 * it open so that the directory counts as alive while any of them lives.
 * -1 before tr_sys_init. */
int tr__sys_lock_fd(void);

/* Name used in log lines: the actor's name, or "main". */
const char *tr__sys_self_name(void);

/* Orderly exit of an actor process: runs the exit hooks, closes every
 * registered socket so lingering messages go out, terminates the context,
 * flushes stdio, and _exit()s with code & 0xff (as exit(3) would). */
_Noreturn void tr__sys_exit(int code);

/* The same, ending by signal sig (with its default action) instead, so that
 * the parent sees -sig as the exit code. */
_Noreturn void tr__sys_exit_signal(int sig);

/* Hooks run at an orderly exit, before sockets close: first every hook of
 * phase TR__EXIT_DELIVER (queues and pipes deliver what they still hold, which
 * may need this process's children alive to take it), then those of phase
 * TR__EXIT_CHILDREN (actor.c stops or joins the children). Adding a hook
 * twice adds it once. Hooks are per process: a forked child starts with none. */
enum { TR__EXIT_DELIVER = 0, TR__EXIT_CHILDREN = 1 };
void tr__sys_add_exit_hook(int phase, void (*hook)(void));

/* This process's pid, cached: every put and get checks it (a handle may
 * have been inherited through fork), and getpid(2) is a system call. A
 * pthread_atfork child handler resets the cache, so it is right after any
 * fork made through the C library. */
pid_t tr__pid(void);

/* Monotonic clock in milliseconds and microseconds. */
long long tr__now_ms(void);
long long tr__now_us(void);

/* Remaining time of a deadline: -1 for forever (deadline < 0), else >= 0. */
int tr__remaining_ms(long long deadline_ms);
/* Deadline for a timeout: -1 for forever (timeout < 0). */
long long tr__deadline_ms(int timeout_ms);

#endif /* TROUPE_CORE_INTERNAL_H */

/* ---- sock.c: socket I/O with deadlines and troupe's result codes ---------- */
struct tr_msg;

/* Sends one frame (ZMQ_SNDMORE in flags for a multi-part message), waiting
 * up to timeout_ms for room. TR_OK, TR_EFULL (no room in time), TR_ETOOBIG,
 * TR_ECLOSED (context terminated), TR_ESYSTEM. */
int tr__sock_send(void *sock, const void *data, size_t size, int flags, int timeout_ms);

/* Same, sending a zmq_msg_t (as a tr_msg) without copying; on success the
 * msg is consumed and left empty. It does not check the size limit: the
 * caller checks the user's bytes. */
int tr__sock_send_msg(void *sock, struct tr_msg *msg, int flags, int timeout_ms);

/* Receives one frame into msg (initialised here), waiting up to timeout_ms.
 * TR_OK, TR_EEMPTY (nothing in time), TR_ECLOSED, TR_ESYSTEM. */
int tr__sock_recv(void *sock, struct tr_msg *msg, int timeout_ms);

/* Waits for events (ZMQ_POLLIN / ZMQ_POLLOUT) on one socket, retrying on
 * EINTR. Returns 1 when ready, 0 at the deadline, -1 on error (errno). */
int tr__sock_wait(void *sock, short events, long long deadline_ms);

/* ---- proctitle.c ---------------------------------------------------------- */

/* Sets /proc/self/comm (15 bytes) to title and, where the process may
 * (CAP_SYS_RESOURCE), points /proc/self/cmdline at a copy of it, so ps and
 * top show it. argv's memory is never written. */
void tr__proctitle_set(const char *title);

/* ---- actor.c ---------------------------------------------------------------- */

/* A spawn flag for troupe's own layers: the child gets PR_SET_PDEATHSIG as a
 * daemon does, without a daemon's exit semantics. Supervised children carry
 * it, so that a tree dies with its root even when the root is SIGKILLed. */
#define TR__SPAWN_LINKED (1 << 15)

/* tr__actor_spawn_ex spawns fn(arg) as tr_actor_spawn does, with flags in
 * place of opts->flags, and runs init(arg) in the child before it reports
 * ready: a non-zero return fails the spawn (TR_ESPAWN) and ends the child
 * with that code. With init, SIGTERM stays blocked in the child (it is
 * expected to read it from a signalfd in its own loop). */
struct tr_actor;
struct tr_spawn_opts;
int tr__actor_spawn_ex(struct tr_actor **out, const char *name, int (*init)(void *arg),
                       int (*fn)(void *arg), void *arg, const struct tr_spawn_opts *opts,
                       int flags);

/* ---- behaviour.c ---------------------------------------------------------- */

/* Runs behaviour b's loop on the bound mailbox socket until handle asks to
 * stop, SIGTERM arrives on sigfd (a signalfd), or the mailbox fails; then
 * runs terminate and ends the process: with terminate's return value, or by
 * SIGTERM for a shutdown. */
struct tr_behaviour;
_Noreturn void tr__behaviour_loop(const struct tr_behaviour *b, void *state, void *mailbox,
                                  int sigfd);

/* Counts, in a queue's or pipe end's `rejected` counter, a message that the
 * transport delivered but a layer above it (the codecs) refused. */
struct tr_queue;
struct tr_pipe;
void tr__queue_count_rejected(struct tr_queue *q);
void tr__pipe_count_rejected(struct tr_pipe *end);

/* ---- frames of queues and pipes (docs/wire-format.md) ---------------------- */

/* The first byte of the first frame of every message a queue or a pipe
 * carries: the high nibble is the format version (1), the low one the kind.
 * Data frames carry the user's bytes after it. */
enum {
    TR__F_DATA = 0x11,   /* producer -> consumer, pipe end -> end: user data */
    TR__F_EOS = 0x12,    /* producer -> consumer: end of this producer's
                          * stream; pipe end -> end: this end closed */
    TR__F_HELLO = 0x13,  /* consumer -> producer: u32 window (little-endian) */
    TR__F_CREDIT = 0x14, /* consumer -> producer: u32 messages taken */
    TR__F_ACK = 0x15,    /* consumer -> producer: EOS received, all got */
    TR__F_PING = 0x16,   /* producer -> consumer: liveness probe, ignored */
    TR__F_BATCH = 0x17,  /* producer -> consumer: several DATA messages, their
                            frames as (u32 size | more << 31, bytes) items */
};

/* Checks the frames of a message about to be sent: n >= 1, no NULL base
 * with a length, and the sum within tr_sys_max_msg_size. TR_OK, TR_EINVAL
 * or TR_ETOOBIG: the one rule queues and pipes share. */
int tr__frames_check(const struct iovec *frames, int n);

/* Builds a frame of 1 + size bytes: kind, then data. */
int tr__frame_init(zmq_msg_t *m, int kind, const void *data, size_t size);
