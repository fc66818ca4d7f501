/* broker_internal.h: what the three files of the broker share
 * (broker.c: its inputs and loop; broker_tasks.c: the tasks, the queue and
 * the journal; broker_peers.c: workers, producers, dispatching and
 * heartbeats). Internal to //actors:work. */
#ifndef TROUPE_ACTORS_BROKER_INTERNAL_H
#define TROUPE_ACTORS_BROKER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/work_internal.h"
#include "actors/work_journal.h"
#include "troupe/work.h"

#define NIL UINT32_MAX
#define MAX_DEAD 10000 /* dead letters kept, oldest dropped beyond */

enum { T_FREE = 0, T_QUEUED, T_RUNNING, T_RESULT, T_DEAD };

typedef struct {
    uint64_t id;
    uint32_t pno;       /* its producer */
    uint8_t state;
    bool suspect;       /* held with others when a worker died */
    bool sent;          /* its result (or dead letter) went to the producer */
    bool delivered;     /* a dead letter whose producer acknowledged it */
    uint32_t deaths;
    int32_t status;
    int32_t worker;     /* peer index, T_RUNNING */
    uint32_t prev, next; /* queue links (T_QUEUED); free list (T_FREE) */
    uint32_t hnext;     /* hash chain */
    uint8_t *data, *res;
    uint32_t len, rlen;
} tr__btask;

typedef struct {
    char id[TR__WORK_MAX_ID + 1]; /* "": a free slot, for the next new producer */
    int32_t peer;       /* -1: away */
    long long away_since; /* ms; 0 while it is here */
    long long heard_ack;  /* ms: its last RESULT_ACK, or our last sending */
    uint32_t ntasks;    /* tasks of it the broker holds, in any state */
    uint32_t unacked;   /* of those, results (and dead letters) not acknowledged */
    uint32_t *outbox;   /* tasks whose result is to be sent */
    size_t nout, capout;
    uint64_t *acks;     /* acknowledgements not sent yet: (first, count) pairs */
    size_t nacks, capacks; /* in pairs */
    long long acks_retry; /* ms: after a refused send, not tried again before */
} tr__bproducer;

typedef struct {
    bool used;
    uint8_t rid[256];
    size_t ridlen;
    int role;
    char name[TR__WORK_MAX_ID + 1];
    long long heard, sent; /* ms */
    /* workers */
    uint32_t window;    /* tasks it wants to hold (HELLO, CREDIT) */
    bool stalled;       /* not taking: nothing more until it speaks */
    uint32_t *held;     /* in dispatch order */
    size_t nheld, capheld;
    bool isolating;     /* holds one suspect task, alone */
    /* producers */
    uint32_t pno;
} tr__bpeer;

struct tr__broker {
    tr_broker_opts o;
    char name[TR__WORK_MAX_ID + 1];
    void *router, *zap, *mon;
    int sigfd;
    tr__journal *journal;
    uint64_t epoch, next_check;
    tr__btask *tasks;
    uint32_t ntasks, captasks, freelist;
    uint32_t *buckets;
    uint32_t nbuckets;
    uint32_t qhead, qtail, nqueued, nrunning;
    tr__bproducer *producers;
    uint32_t nproducers;
    tr__bpeer *peers;
    size_t npeers;
    size_t rr; /* where the next dispatch round starts */
    uint32_t *dead; /* dead letters, oldest first */
    size_t ndead;
    long long probe_until, next_probe, probe_step; /* ms */
    tr_broker_stats st;
    tr__wbuf out;
    bool ready;
};

/* The broker this process runs (one per process, as the hub): the one
 * global of the broker's files, named B in them for brevity. */
extern struct tr__broker tr__broker_state;
#define B tr__broker_state

/* ---- broker_tasks.c ---------------------------------------------------------- */

/* The task of producer pno with that id, or NIL. */
uint32_t tr__bk_find(uint32_t pno, uint64_t id);
/* A new task, queued nowhere yet (state T_QUEUED, unlinked); NIL when out
 * of memory. */
uint32_t tr__bk_task_new(uint32_t pno, uint64_t id);
void tr__bk_task_free(uint32_t t);
void tr__bk_queue_push(uint32_t t, bool at_head);
void tr__bk_queue_unlink(uint32_t t);
bool tr__bk_push_u32(uint32_t **v, size_t *n, size_t *cap, uint32_t x);
/* The number of the producer with that id, known from now on; NIL when out
 * of memory. */
uint32_t tr__bk_producer_of(const char *id, size_t len);
/* Dead-letters task t (its worker died with it alone max_attempts times). */
void tr__bk_dead_letter(uint32_t t);
/* Buffers a journal record of the given type about task t; the flush
 * writes them, before anything they cover is acknowledged. */
void tr__bk_journal(int type, uint32_t t);
/* Returns TR_OK, or the failure it logged: then nothing the records
 * cover may be acknowledged. */
int tr__bk_flush_journal(void);
/* Opens (and replays) the journal at path, then rewrites it with only what
 * is live. Returns 0, or 1 after logging why. */
int tr__bk_journal_open(const char *path);
/* Rewrites the journal when most of it is about tasks that are gone. */
void tr__bk_maybe_rewrite(void);

/* ---- broker_peers.c ---------------------------------------------------------- */

int tr__bk_peer_find(const uint8_t *rid, size_t len);
int tr__bk_peer_add(const uint8_t *rid, size_t len);
/* Sends the frame in w to peer i. False when there is no route (the peer is
 * gone: errno EHOSTUNREACH) or it would block (EAGAIN). */
bool tr__bk_send(int i, const tr__wbuf *w);
/* Sends a frame of one bodiless command to a routing id. */
void tr__bk_send_raw(const uint8_t *rid, size_t len, int command);
void tr__bk_peer_forget(int i);
/* Puts worker i's tasks back at the head of the queue, charging a death to
 * a task it held alone when charge is set, and forgets the worker. */
void tr__bk_worker_lost(int i, bool charge, const char *why);
void tr__bk_held_remove(tr__bpeer *w, uint32_t t);
/* Queues the acknowledgement of ids [first, first + count) of producer
 * pno. The caller notes nacks first (its mark): it takes back what it
 * queued from mark on if its journal write fails, and commits it
 * otherwise. Out of memory, it is dropped: the producer sends those tasks
 * again, and they are acknowledged then. */
void tr__bk_ack_push(uint32_t pno, uint64_t first, uint64_t count);
/* Commits what was queued from mark on: merged with the ranges before it
 * where they touch, so that a producer that sends faster than it reads
 * leaves a few long ranges waiting, not one per frame. */
void tr__bk_ack_commit(uint32_t pno, size_t mark);
/* Sends producer pno its queued acknowledgements, as far as its pipe takes
 * them; what it does not take waits for the next tick or frame from it.
 * force: try even within a millisecond of a refused send (the tick). */
void tr__bk_send_acks(uint32_t pno, bool force);
/* Sends producer pno the results in its outbox, as far as it takes them;
 * what it does not take waits for the next tick or frame from it. */
void tr__bk_send_results(uint32_t pno);
/* Puts every result producer pno has not acknowledged in its outbox. */
void tr__bk_outbox_refill(uint32_t pno);
/* A task of producer pno now has a result (or is dead-lettered): into its
 * outbox, counted as unacknowledged. */
void tr__bk_result_ready(uint32_t t);
/* Sends what is queued to workers with room. */
void tr__bk_dispatch(void);
/* Heartbeats, silent peers, expired results, probes after a disconnect. */
void tr__bk_tick(long long now);

#endif /* TROUPE_ACTORS_BROKER_INTERNAL_H */
