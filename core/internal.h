/* core/internal.h: what core's files share with each other and not with
 * users. Nothing here is supported API. */
#ifndef TROUPE_CORE_INTERNAL_H
#define TROUPE_CORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The ZeroMQ context of this process, created on first use. After a fork the
 * inherited context is abandoned untouched (it is not fork-safe) and a new
 * one is made. NULL on failure, with errno set. */
void *tr__sys_ctx(void);

/* tr__sys_socket makes a socket of ZeroMQ type `type` with troupe's defaults
 * (linger, high-water marks, maximum message size) and registers it so that
 * an orderly process exit closes it. NULL on failure, errno set. */
void *tr__sys_socket(int type);

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

/* Orderly exit of an actor process: runs the exit hook (children), closes
 * every registered socket so lingering messages go out, terminates the
 * context, flushes stdio, and _exit()s with code (0..255), or, for a
 * negative code, ends by signal -code. Never returns. */
_Noreturn void tr__sys_exit(int code);

/* The hook actor.c installs to join or stop this process's children at an
 * orderly exit, before sockets close. */
void tr__sys_set_exit_hook(void (*hook)(void));

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
 * msg is consumed and left empty. */
int tr__sock_send_msg(void *sock, struct tr_msg *msg, int flags, int timeout_ms);

/* Receives one frame into msg (initialised here), waiting up to timeout_ms.
 * TR_OK, TR_EEMPTY (nothing in time), TR_ECLOSED, TR_ESYSTEM. */
int tr__sock_recv(void *sock, struct tr_msg *msg, int timeout_ms);

/* Waits for events (ZMQ_POLLIN / ZMQ_POLLOUT) on one socket, retrying on
 * EINTR. Returns 1 when ready, 0 at the deadline, -1 on error (errno). */
int tr__sock_wait(void *sock, short events, long long deadline_ms);

/* ---- proctitle.c ---------------------------------------------------------- */

/* Sets /proc/self/comm (15 bytes) and, within the space the original command
 * line occupied, /proc/self/cmdline to title, so ps and top show it. */
void tr__proctitle_set(const char *title);

/* ---- behaviour.c ---------------------------------------------------------- */

/* Runs behaviour b's loop on the bound mailbox socket until handle asks to
 * stop, SIGTERM arrives on sigfd (a signalfd), or the mailbox fails. Returns
 * the exit code: terminate's return, or -SIGTERM for a shutdown. */
struct tr_behaviour;
int tr__behaviour_loop(const struct tr_behaviour *b, void *state, void *mailbox, int sigfd);
