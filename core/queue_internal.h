/* core/queue_internal.h: what queue.c (handle, consumer) and
 * queue_producer.c share. */
#ifndef TROUPE_CORE_QUEUE_INTERNAL_H
#define TROUPE_CORE_QUEUE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <zmq.h>

#include "core/internal.h"
#include "troupe/queue.h"

#define TR__QUEUE_MAX_SLOTS 64

/* A consumer as its producer sees it. */
typedef struct tr__peer {
    unsigned char id[256]; /* ZeroMQ routing id */
    size_t idlen;
    int credit;   /* messages it still asked for */
    int inflight; /* sent to it and not yet confirmed taken */
    size_t maxbatch; /* the largest frame it accepts (its HELLO says) */
    bool eos_sent, acked;
} tr__peer;

/* The largest first frame (its TR__F_DATA byte included) that a waiting
 * message keeps inside its ring entry instead of in a ZeroMQ message of its
 * own. Most waiting messages leave copied into a BATCH frame, so for them a
 * ZeroMQ message was only a malloc and a free, mostly past the allocator's
 * per-thread cache (dozens are made before the first is freed, often by
 * another thread, the feeder). Keeping the bytes here made a backlogged
 * queue with 4 consumers about a fifth faster (bench/queue_bench, pinned).
 * The price is ring memory: an entry is 144 bytes instead of 80, though a
 * small message no longer needs a block of its own besides. */
#define TR__ENTRY_INLINE 128

/* A message waiting in the producer for a consumer's credit. Its first
 * frame starts with TR__F_DATA and is held in place (ilen > 0) when it fits
 * in TR__ENTRY_INLINE bytes, otherwise as a ZeroMQ message (ilen == 0). */
typedef struct tr__entry {
    union {
        zmq_msg_t msg;
        unsigned char bytes[TR__ENTRY_INLINE];
    } first;
    uint32_t ilen;   /* bytes of first.bytes in use, or 0 for first.msg */
    int nrest;
    zmq_msg_t *rest; /* further frames of a multi-part message */
} tr__entry;

typedef struct tr__producer {
    pid_t pid; /* the process this role belongs to */
    /* The feeder thread moves waiting messages while the program is busy
     * elsewhere (Python's Queue has one for the same reason). Everything
     * below, and the socket, is used under mu only. */
    pthread_t feeder;
    bool feeder_running, stop, feeder_idle;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast after every step of the feeder */
    int wakefd;        /* eventfd: wakes the feeder */
    int zfd;           /* the router's ZMQ_FD */
    void *router;
    int slot;
    int lockfd;
    bool closed;   /* close was called: no more puts */
    bool finished; /* close completed: confirmed, marker written */
    unsigned puts_since_control;
    bool unread;   /* we sent since the router was last read dry (s_settle) */
    tr__peer *peers;
    int npeers, cappeers, rr;
    tr__entry *ring; /* messages waiting for credit */
    size_t head, count, cap;
    size_t inflight; /* sum of the peers' inflight */
    uint64_t rejected, lost, batched; /* this role's share of tr_queue_stats */
    void *monitor;     /* PAIR receiving the router's DISCONNECTED events */
    int monfd;         /* its ZMQ_FD */
    int probes_left;   /* probe rounds still to do (after a disconnect) */
} tr__producer;

typedef struct tr__consumer {
    pid_t pid;
    int n;           /* slots, one DEALER each */
    void **dealers;
    void **monitors;    /* per slot: PAIR receiving its dealer's CONNECTED events */
    unsigned char *eos; /* per slot: ended */
    int *taken;      /* per slot: got since the last CREDIT */
    int open;        /* slots not ended */
    int cur;         /* round-robin start */
    int multipart;   /* slot in the middle of a multi-part message, or -1 */
    size_t maxframe; /* the largest frame its dealers accept */
    zmq_msg_t batch; /* a BATCH frame being handed out, item by item */
    int bslot;       /* its slot, or -1 when there is none */
    size_t boff;     /* the offset of its next item */
    bool bcont;      /* that item continues a multi-part message */
    int ino;         /* inotify on the queue directory (ipc), or -1 */
    unsigned busy;   /* gets served without a pause since the last look around */
    zmq_pollitem_t *items;
} tr__consumer;

struct tr_queue {
    char address[160];
    bool ipc;
    char dir[128]; /* ipc: the directory of the producers' sockets */
    char host[128];
    int port;      /* tcp: producer i binds port + i */
    int capacity, producers, window;
    pid_t creator; /* the process that made the directory */
    tr_queue_stats stats; /* this process's: reset when a role starts here */
    pid_t stats_pid;
    tr__producer *prod;
    tr__consumer *cons;
    tr_queue *next, *prev; /* this process's handles */
};

/* Makes q->stats this process's (a forked copy starts at zero). */
void tr__queue_stats_here(tr_queue *q);

int tr__queue_endpoint(const tr_queue *q, int slot, char *buf, size_t len);
int tr__queue_marker(const tr_queue *q, int slot, char *buf, size_t len);

/* Closes, at an orderly exit, every producer of this process that did not
 * (waiting at most the linger time), as Python joins its queue feeders. */
void tr__queue_exit_hook(void);

/* queue_producer.c */
int tr__queue_producer_start(tr_queue *q);
int tr__queue_producer_close(tr_queue *q, int timeout_ms);
void tr__queue_producer_free(tr__producer *p);
/* Stops the feeder thread (before sockets close at exit). */
void tr__queue_producer_stop(tr__producer *p);
/* Adds the role's counters to out. */
void tr__queue_producer_stats(tr__producer *p, tr_queue_stats *out);

#endif
