/* troupe/queue.h: a many-producer, many-consumer queue between processes
 * (the role of Python's multiprocessing.Queue).
 *
 * A queue is made once, usually in the parent, and its handle is inherited
 * by the actors spawned afterwards, as in Python. A process becomes a
 * producer with its first put and a consumer with its first get; sockets are
 * made then, in that process, so the handle survives a fork. Another program
 * opens the same queue by address with tr_queue_open.
 *
 * Guarantees (docs/mailboxes.md explains how):
 *  - every message put reaches exactly one consumer, unless that consumer
 *    dies holding it (at-most-once, as in Python: see "What a consumer's
 *    death costs");
 *  - consumers pull: a producer sends a consumer only what that consumer
 *    asked for (a credit window), so consumers share the work by the pace at
 *    which they take it, including consumers that joined late;
 *  - at most `capacity` messages are put and not yet taken by a get, counted
 *    exactly by the producer; put blocks (TR_EFULL at its timeout) beyond;
 *  - end of stream: each producer closes; once all `producers` have closed,
 *    every consumer gets TR_ECLOSED after the last message meant for it, and
 *    a producer's close returns only once its consumers have confirmed that
 *    they received everything it sent: nothing is lost at the tail.
 *
 * Handles are not thread-safe: use a queue handle from one thread at a time
 * in each process. */
#ifndef TROUPE_QUEUE_H
#define TROUPE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "troupe/msg.h"
#include "troupe/sys.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_queue tr_queue;

/* Options; a NULL pointer or a zero field means the default. */
typedef struct tr_queue_opts {
    int capacity;  /* messages put and not yet got, at most (4000) */
    int producers; /* producers whose close ends the stream (1) */
    int window;    /* messages a consumer asks for ahead (min(capacity, 1000)) */
} tr_queue_opts;

/* Counters of one handle in one process (they are not shared). */
typedef struct tr_queue_stats {
    uint64_t put;      /* messages this process put */
    uint64_t got;      /* messages this process got */
    uint64_t rejected; /* frames refused on receipt: malformed or foreign */
    uint64_t lost_consumers; /* consumers this producer saw vanish */
    uint64_t batched;  /* of those put or got, how many travelled in a BATCH
                          frame (several messages in one ZeroMQ message) */
} tr_queue_stats;

/* tr_queue_new makes a queue named name in this system's run directory
 * (ipc://<run dir>/<name>, a directory holding one socket per producer) or,
 * when name is a "tcp://host:port" address, a queue whose producer number i
 * binds port+i on host and whose consumers connect to those ports. *out is
 * the caller's, freed with tr_queue_destroy. Errors: TR_EINVAL (NULL out, a
 * bad name or address, options out of range), TR_EEXIST (the name is taken
 * in this system), TR_ESYSTEM (errno), TR_ENOMEM. */
int tr_queue_new(tr_queue **out, const char *name, const tr_queue_opts *opts);

/* tr_queue_open attaches to a queue made by another program, by the address
 * tr_queue_address gave there; the options must agree with the maker's
 * (producers in particular). Errors: as tr_queue_new, TR_EEXIST aside. */
int tr_queue_open(tr_queue **out, const char *address, const tr_queue_opts *opts);

/* tr_queue_destroy frees the handle and sets *q to NULL; NULL is fine. A
 * producer that has not closed is closed first, waiting at most the exit
 * wait (tr_sys_exit_wait_ms) for its consumers. In the process that made an
 * ipc queue, destroy also removes the queue's directory: do it once the
 * queue's users are done. */
void tr_queue_destroy(tr_queue **q);

/* tr_queue_address returns the queue's address, owned by the handle. */
const char *tr_queue_address(const tr_queue *q);

/* tr_queue_put puts one message of size bytes (copied), waiting up to
 * timeout_ms while capacity messages are outstanding or no consumer has
 * asked for any. Errors: TR_EFULL (nothing could be put in time), TR_ETOOBIG
 * (over tr_sys_max_msg_size), TR_ECLOSED (this producer closed),
 * TR_ESTATE (every producer slot is taken), TR_EINVAL, TR_ESYSTEM. */
int tr_queue_put(tr_queue *q, const void *data, size_t size, int timeout_ms);

/* tr_queue_putv puts one message of n frames (n >= 1), delivered together;
 * the consumer sees them as consecutive gets whose tr_msg_more is true but
 * for the last. Errors: as tr_queue_put; TR_ETOOBIG applies to the sum. */
int tr_queue_putv(tr_queue *q, const struct iovec *frames, int n, int timeout_ms);

/* tr_queue_get receives the next frame for this consumer into msg
 * (initialised here; close it with tr_msg_close), waiting up to timeout_ms.
 * Errors: TR_EEMPTY (nothing arrived in time), TR_ECLOSED (end of stream:
 * every producer closed and every message meant for this consumer has been
 * got; it stays so), TR_EINVAL, TR_ESYSTEM. */
int tr_queue_get(tr_queue *q, tr_msg *msg, int timeout_ms);

/* tr_queue_close ends this process's stream as a producer: it delivers what
 * is still buffered, tells every consumer, and waits up to timeout_ms until
 * each live consumer has confirmed it received everything. After it, put
 * returns TR_ECLOSED. In a process that only consumed, it leaves the queue
 * (messages already sent to this consumer and not yet got are lost).
 * Closing twice is fine. Errors: TR_ETIMEDOUT (not confirmed in time; the
 * stream is still ended, and later calls may finish the job), TR_ESYSTEM. */
int tr_queue_close(tr_queue *q, int timeout_ms);

/* tr_queue_size stores in *n the messages put by this producer process and
 * not yet got by a consumer: exact but for consumers' confirmations still on
 * their way (at most window/2 per consumer). TR_ESTATE in a process that has
 * not put. */
int tr_queue_size(tr_queue *q, size_t *n);

/* tr_queue_full and tr_queue_empty say whether size is at capacity or zero,
 * in a producer process; false elsewhere. */
bool tr_queue_full(tr_queue *q);
bool tr_queue_empty(tr_queue *q);

/* tr_queue_stats_get copies this handle's counters. */
void tr_queue_stats_get(const tr_queue *q, tr_queue_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* TROUPE_QUEUE_H */
