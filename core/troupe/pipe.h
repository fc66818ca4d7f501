/* troupe/pipe.h: a 1:1 channel between two processes (the role of Python's
 * multiprocessing.Pipe), over a ZeroMQ PAIR socket.
 *
 * tr_pipe_new makes both ends at once, usually in the parent; each end is
 * then used by one process (the parent and an actor it spawns, or two
 * actors). An end makes its socket on first use in the process that uses it,
 * so the handles survive a fork. Two programs use tr_pipe_open with an
 * address, one end binding and one connecting.
 *
 * Messages arrive whole and in order. Closing an end (or its process dying)
 * is seen by the other: once it has received everything sent before, its
 * receive returns TR_ECLOSED.
 *
 * Handles are not thread-safe: use an end from one thread at a time. */
#ifndef TROUPE_PIPE_H
#define TROUPE_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "troupe/msg.h"
#include "troupe/sys.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_pipe tr_pipe;

/* Roles for tr_pipe_open. */
enum { TR_PIPE_BIND = 0, TR_PIPE_CONNECT = 1 };

/* Counters of one end in one process (a forked copy starts from zero). */
typedef struct tr_pipe_stats {
    uint64_t sent;     /* messages sent from this end */
    uint64_t received; /* messages received at this end */
    uint64_t rejected; /* frames refused on receipt: malformed or foreign */
} tr_pipe_stats;

/* tr_pipe_new makes a pipe in this system's run directory and returns its
 * two ends, each the caller's to free with tr_pipe_destroy. With duplex,
 * both ends send and receive; without, *a only receives and *b only sends
 * (as Python's Pipe(duplex=False) returns (reader, writer)). Errors:
 * TR_EINVAL (NULL pointers), TR_ESYSTEM (the run directory, errno),
 * TR_ENOMEM. */
int tr_pipe_new(tr_pipe **a, tr_pipe **b, bool duplex);

/* tr_pipe_open makes one duplex end at address ("ipc:///path" or
 * "tcp://host:port"), binding or connecting (TR_PIPE_BIND or
 * TR_PIPE_CONNECT), for pipes between programs. Errors: TR_EINVAL (bad
 * address or role), TR_ENOMEM. Binding happens at first use, and its errors
 * (TR_ESYSTEM, e.g. address in use) are reported there. */
int tr_pipe_open(tr_pipe **end, const char *address, int role);

/* tr_pipe_destroy closes the end if it is open (tr_pipe_close, waiting at
 * most the exit wait, tr_sys_exit_wait_ms), frees the handle and sets *end to
 * NULL; NULL is fine. An end still open at an orderly exit is closed the
 * same way. */
void tr_pipe_destroy(tr_pipe **end);

/* tr_pipe_address returns the pipe's address, owned by the handle. */
const char *tr_pipe_address(const tr_pipe *end);

/* tr_pipe_send sends one message of size bytes (copied), waiting up to
 * timeout_ms for room, or, on the binding end, for the other end to be
 * there. Errors: TR_EFULL (not sent in time), TR_ECLOSED (this end was
 * closed, or the other end is known to have closed or died: a send-only end
 * checks at every send, a duplex end when a send has to wait and when it
 * receives), TR_ETOOBIG (over tr_sys_max_msg_size), TR_ESTATE (a
 * receive-only end, or an ipc binding end already in use in another
 * process), TR_EINVAL, TR_ESYSTEM. */
int tr_pipe_send(tr_pipe *end, const void *data, size_t size, int timeout_ms);

/* tr_pipe_sendv sends one message of n frames (n >= 1); the receiver gets
 * them as consecutive receives whose tr_msg_more is true but for the last.
 * Errors: as tr_pipe_send; TR_ETOOBIG applies to the sum. */
int tr_pipe_sendv(tr_pipe *end, const struct iovec *frames, int n, int timeout_ms);

/* tr_pipe_recv receives the next frame into msg (initialised here; close it
 * with tr_msg_close), waiting up to timeout_ms. Errors: TR_EEMPTY (nothing
 * in time), TR_ECLOSED (the other end closed or died and everything it sent
 * has been received; it stays so, as it does after this end closed),
 * TR_ESTATE (a send-only end, or an ipc binding end in use in another
 * process), TR_EINVAL, TR_ESYSTEM. */
int tr_pipe_recv(tr_pipe *end, tr_msg *msg, int timeout_ms);

/* tr_pipe_close tells the other end that nothing more comes from this one
 * and waits up to timeout_ms until the other end confirms that it received
 * everything sent before (it confirms when its receive reaches the close),
 * then closes this end's socket. A receive-only end has sent nothing to
 * confirm and does not wait. Messages that arrive meanwhile are dropped: this
 * end is closed. In this process, later sends and receives on the end return
 * TR_ECLOSED, even if it was never used here. Closing twice is fine. Returns
 * TR_OK (confirmed, or the other end had already closed or died: nothing
 * more can be delivered), TR_ETIMEDOUT (not confirmed in time; the end is
 * closed all the same and what was not delivered is lost), TR_EINVAL,
 * TR_ESYSTEM (the socket failed while waiting). */
int tr_pipe_close(tr_pipe *end, int timeout_ms);

/* tr_pipe_stats_get copies this end's counters. */
void tr_pipe_stats_get(const tr_pipe *end, tr_pipe_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* TROUPE_PIPE_H */
