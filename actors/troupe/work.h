/* troupe/work.h: reliable work distribution. A broker holds tasks,
 * producers submit them, workers pull and run them; a pool puts the three
 * behind apply / get / map (the roles of multiprocessing.Manager().Queue()
 * and multiprocessing.Pool, without their silent losses).
 *
 * Guarantees (docs/distribution.md explains them, docs/work-protocol.md
 * is the wire protocol):
 *  - a submitted task is acknowledged once the broker holds it, written to
 *    its journal; a producer resends what was not acknowledged, on its own,
 *    when the broker restarts or the link is lost;
 *  - a task leaves the broker only when its result has reached the
 *    producer (the producer acknowledges results): a worker that dies with
 *    tasks (crash, SIGKILL, host gone, link cut) has them delivered again,
 *    and so does a restarted broker with whatever its journal holds;
 *  - at least once, never exactly once: a task may run twice (its worker
 *    was declared dead while it ran), and every result carries its task's
 *    id so that duplicates can be dropped (tr_pool drops them for you);
 *  - workers pull with a credit window (prefetch): a worker never holds
 *    more tasks than it asked for, so fast workers get more;
 *  - dead peers are found by heartbeats both ways within timeout_ms
 *    (2000 ms by default);
 *  - a task whose worker died while running it alone max_attempts times
 *    (3) goes to a dead-letter list instead of killing workers forever; its
 *    producer gets a result with status TR_WORK_DEAD_LETTER;
 *  - on tcp, CURVE with a ZAP handler: only keys in the broker's allowed
 *    directory get in; a refused peer is logged and counted, and the broker
 *    carries on.
 *
 *   #include <troupe/work.h>      (Bazel: //actors:work)
 */
#ifndef TROUPE_WORK_H
#define TROUPE_WORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "troupe/troupe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A result's status besides 0 (the task ran and its function returned 0)
 * and 1..255 (its function's non-zero return). */
#define TR_WORK_DEAD_LETTER (-1) /* the task killed its worker too often */
#define TR_WORK_MISSING (-2)     /* tr_pool_map: no result came in time */

/* CURVE settings of one side. A NULL key_file means no CURVE (plain tcp or
 * ipc). Key files are written by `troupe keygen NAME` (tr_keygen): NAME.key
 * holds the pair (keep it secret), NAME.pub the public key alone.
 *  - key_file: this side's key pair file (NAME.key);
 *  - broker_key: producers and workers: the broker's public key, a .pub or
 *    .key file;
 *  - allowed_dir: the broker: a directory whose NAME.pub (or NAME.key) files
 *    hold the keys let in. It is read at each connection, so a key added or
 *    removed there takes effect for the next connection without a restart
 *    (connections already in are kept). */
typedef struct tr_work_security {
    const char *key_file;
    const char *broker_key;
    const char *allowed_dir;
} tr_work_security;

/* ---- the broker ------------------------------------------------------------ */

/* A broker's options; a NULL pointer or a zero field means the default.
 *  - bind: endpoints, comma-separated ("tcp://0.0.0.0:5670,ipc:///x"). The
 *    broker always also binds its name's address in the run directory
 *    (tr_sys_address), where local peers find it by name.
 *  - journal: the journal's path; default <run dir>/.work/<name>.journal;
 *    "-" for none (a restart then loses what the broker held).
 *  - heartbeat_ms (500), timeout_ms (2000): the broker sends a heartbeat to
 *    a peer it sent nothing else to for heartbeat_ms, and declares a worker
 *    dead after timeout_ms without hearing from it. Peers are told both.
 *  - max_attempts (3): deaths of a worker running a task alone before the
 *    task is dead-lettered.
 *  - keep_results_ms (600000, ten minutes): results of a producer that has
 *    been away this long are dropped (logged as TR-WORK-EXPIRED), so that
 *    producers that died for good do not fill the broker;
 *  - security: key_file and allowed_dir turn CURVE on for tcp endpoints;
 *    ipc endpoints in the run directory are guarded by its permissions
 *    (0700); an ipc path of your own is guarded by its directory's. */
typedef struct tr_broker_opts {
    const char *bind;
    const char *journal;
    int heartbeat_ms;
    int timeout_ms;
    int max_attempts;
    int keep_results_ms;
    tr_work_security security;
} tr_broker_opts;

/* A broker's counters since it (last) started. */
typedef struct tr_broker_stats {
    uint64_t submitted;    /* tasks accepted (new ids) */
    uint64_t resubmitted;  /* submissions of ids already held: acknowledged again */
    uint64_t dispatched;   /* task deliveries to workers, redeliveries included */
    uint64_t redelivered;  /* tasks put back in the queue after their worker was lost */
    uint64_t completed;    /* results received for tasks still held */
    uint64_t duplicates;   /* results received for tasks no longer held, or twice */
    uint64_t delivered;    /* results acknowledged by their producers */
    uint64_t dead_letters; /* tasks moved to the dead-letter list */
    uint64_t expired;      /* results dropped: their producer stayed away */
    uint64_t workers_lost; /* workers declared dead (silent, gone, or said nothing) */
    uint64_t refused;      /* malformed frames refused */
    uint64_t denied;       /* connections refused by authentication */
    uint32_t queued;       /* tasks waiting for a worker now */
    uint32_t running;      /* tasks held by workers now */
    uint32_t workers;      /* workers known now */
    uint32_t producers;    /* producers known now */
} tr_broker_stats;

/* tr_broker_start spawns a broker actor named name (a daemon of this
 * process: tr_actor_destroy kills it) and returns once it has replayed its
 * journal and bound its endpoints. opts may be NULL and is read in the
 * child. Errors: TR_EINVAL (NULL out, invalid name, an option out of range),
 * TR_EEXIST (an actor of that name runs), TR_ESPAWN (the broker could not
 * start: an endpoint cannot be bound, a key file cannot be read, the
 * journal cannot be opened; the log says which), TR_ESYSTEM, TR_ENOMEM. */
int tr_broker_start(tr_actor **out, const char *name, const tr_broker_opts *opts);

/* tr_broker_child_spec fills *out with a child spec that runs a broker
 * named name under a supervisor: permanent, daemon, stopped by SIGTERM
 * within 2 s. name and opts (may be NULL) are read in the supervisor's
 * process: they must stay valid until tr_supervisor_start is called. The
 * supervisor reports the broker started before it has bound: peers connect
 * when it is ready, within their timeouts. */
struct tr_child_spec;
void tr_broker_child_spec(struct tr_child_spec *out, const char *name,
                          const tr_broker_opts *opts);

/* ---- producers --------------------------------------------------------------- */

typedef struct tr_work_client tr_work_client;

/* A producer's (or pool's) options; a NULL pointer or zero field means the
 * default.
 *  - id: the producer's identity at the broker, which results are routed
 *    by (at most 64 characters of [A-Za-z0-9._-]). A producer that restarts
 *    with the same id gets the results of its earlier life; by default a
 *    fresh random id.
 *  - window: tasks submitted and not acknowledged, at most (10000):
 *    beyond it, submit waits for acknowledgements.
 *  - heartbeat_ms, timeout_ms: as for the broker (500, 2000); when the
 *    broker is silent that long while the producer waits on it, the
 *    producer reconnects and resends what was not acknowledged. */
typedef struct tr_work_opts {
    const char *id;
    int window;
    int heartbeat_ms;
    int timeout_ms;
    tr_work_security security;
} tr_work_opts;

/* A producer's counters. */
typedef struct tr_work_client_stats {
    uint64_t submitted;  /* tasks submitted */
    uint64_t acked;      /* of those, acknowledged by the broker */
    uint64_t resent;     /* tasks sent again (broker restarted or link lost) */
    uint64_t results;    /* results received, duplicates included */
    uint64_t reconnects; /* times the producer started over with the broker */
    uint64_t refused;    /* malformed frames refused */
    uint32_t unacked;    /* tasks submitted and not yet acknowledged */
} tr_work_client_stats;

/* tr_work_client_new makes a producer of the broker at broker: an address
 * ("tcp://host:port", "ipc://path") or a broker's actor name in this
 * system. Nothing is connected until the first call that needs it, so a
 * handle may be made before a fork and used in the child (one process
 * only). Errors: TR_EINVAL (NULL out or broker, a bad id or option),
 * TR_ESYSTEM (a key file cannot be read), TR_ENOMEM. */
int tr_work_client_new(tr_work_client **out, const char *broker, const tr_work_opts *opts);

/* tr_work_client_destroy closes the producer and sets *c to NULL; NULL is
 * fine. Tasks not acknowledged are abandoned: tr_work_flush first. Its
 * last result acknowledgements still go out afterwards: the process's exit
 * waits up to 500 ms for them. */
void tr_work_client_destroy(tr_work_client **c);

/* tr_work_submit submits size bytes of data (copied) as one task and sets
 * *id (may be NULL) to its id. A producer's ids count up by one from the
 * wall-clock time in microseconds at tr_work_client_new, so that a
 * producer that comes back with the same opts.id never reuses one. It
 * returns once the task is sent; the broker's acknowledgement comes later
 * (tr_work_flush waits for it). Waits while `window` tasks are
 * unacknowledged. Errors: TR_EINVAL (NULL c, NULL data with a size),
 * TR_ETOOBIG (over the system's maximum message size), TR_EFULL (the window
 * stayed full until timeout_ms: the broker is not answering; nothing was
 * submitted), TR_ESYSTEM. */
int tr_work_submit(tr_work_client *c, const void *data, size_t size, uint64_t *id,
                   int timeout_ms);

/* tr_work_submitv submits n tasks, tasks[i] being task i (copied), with
 * consecutive ids from *first_id (may be NULL). They travel in frames of
 * many tasks, which is how a producer reaches full speed. Errors: as
 * tr_work_submit; on TR_EFULL the tasks before the window filled were
 * submitted: *n_done (may be NULL) says how many. */
int tr_work_submitv(tr_work_client *c, const struct iovec *tasks, size_t n,
                    uint64_t *first_id, size_t *n_done, int timeout_ms);

/* tr_work_flush waits until the broker has acknowledged every task
 * submitted so far. Errors: TR_EINVAL, TR_ETIMEDOUT (some are still
 * unacknowledged: they stay pending and are resent as needed), TR_ESYSTEM. */
int tr_work_flush(tr_work_client *c, int timeout_ms);

/* A result as a producer receives it. */
typedef struct tr_work_result {
    uint64_t id;   /* the task's id, as tr_work_submit gave it */
    int status;    /* 0, the function's non-zero return, or TR_WORK_DEAD_LETTER */
    tr_msg data;   /* the result's bytes (tr_msg_data / tr_msg_size) */
} tr_work_result;

/* tr_work_result_init readies r for tr_work_next; tr_work_result_close
 * frees what it holds (it may be reused after). */
void tr_work_result_init(tr_work_result *r);
void tr_work_result_close(tr_work_result *r);

/* tr_work_next waits up to timeout_ms for the next result of this
 * producer's tasks, in the order they complete, and fills *r (closing what
 * it held). A task may complete twice (at least once): compare ids. While
 * it waits it also takes acknowledgements, heartbeats, and resends after a
 * broker restart. Errors: TR_EINVAL, TR_EEMPTY (no result in time),
 * TR_ENOMEM, TR_ESYSTEM. */
int tr_work_next(tr_work_client *c, tr_work_result *r, int timeout_ms);

/* tr_work_client_stats_get copies the producer's counters. */
void tr_work_client_stats_get(const tr_work_client *c, tr_work_client_stats *out);

/* tr_work_broker_stats asks the broker behind c for its counters. Errors:
 * TR_EINVAL, TR_ETIMEDOUT, TR_ESYSTEM. */
int tr_work_broker_stats(tr_work_client *c, tr_broker_stats *out, int timeout_ms);

/* One dead-lettered task, as tr_work_dead_letters lists it. */
typedef struct tr_dead_letter {
    char producer[65]; /* its producer's id */
    uint64_t id;       /* its id */
    uint32_t deaths;   /* worker deaths it was held at */
    tr_msg data;       /* its bytes */
} tr_dead_letter;

/* tr_work_dead_letters asks the broker for up to max dead-lettered tasks
 * (oldest first) and fills out[0..*n). Each out[i].data is initialised and
 * must be closed with tr_msg_close. Errors: TR_EINVAL, TR_ETIMEDOUT,
 * TR_EPROTO, TR_ENOMEM, TR_ESYSTEM. */
int tr_work_dead_letters(tr_work_client *c, tr_dead_letter *out, size_t max, size_t *n,
                         int timeout_ms);

/* ---- workers ---------------------------------------------------------------- */

/* A task function: runs one task of size bytes at data and reports its
 * result by setting *result to a malloc'd buffer of *result_size bytes
 * (troupe frees it; NULL and 0 for no bytes). It returns 0, or 1..255 for a
 * task that failed (the producer sees it as the result's status; any other
 * value is reported as 255). It runs
 * in the worker's main thread while another thread keeps the heartbeats
 * going, so a long task does not make its worker look dead. */
typedef int (*tr_work_fn)(void *arg, const void *data, size_t size, void **result,
                          size_t *result_size);

/* A worker's options; a NULL pointer or zero field means the default.
 *  - prefetch: tasks it holds at most, running or waiting (256). It asks
 *    for fewer when its tasks are slow, about 20 ms of work in hand (at
 *    least one), so that a long task queue does not sit behind one worker
 *    while others are idle;
 *  - heartbeat_ms, timeout_ms: as for producers (500, 2000): a silent
 *    broker makes the worker reconnect;
 *  - max_tasks: the worker returns after this many results (0: no limit);
 *  - idle_exit_ms: the worker returns after this long with no task, or
 *    without the broker's welcome (0: never). */
typedef struct tr_worker_opts {
    int prefetch;
    int heartbeat_ms;
    int timeout_ms;
    uint64_t max_tasks;
    int idle_exit_ms;
    tr_work_security security;
} tr_worker_opts;

/* What a worker did, for tr_worker_run's caller. */
typedef struct tr_worker_stats {
    uint64_t tasks;      /* tasks run */
    uint64_t failed;     /* of those, the function returned non-zero */
    uint64_t reconnects; /* times it started over with the broker */
    uint64_t refused;    /* malformed frames refused */
    bool welcomed;       /* the broker accepted it at least once */
} tr_worker_stats;

/* tr_worker_run makes this process a worker of the broker at broker (an
 * address or a broker's actor name) running fn(arg, ...) on its tasks, and
 * returns when max_tasks or idle_exit_ms says so, or fails. SIGTERM makes
 * it hand back the tasks it holds (the broker requeues them at once, no
 * death charged) and end the process by SIGTERM. stats may be NULL.
 * Errors: TR_EINVAL (NULL broker or fn, an option out of range),
 * TR_ESYSTEM (a key file cannot be read, a thread cannot start), TR_ENOMEM. */
int tr_worker_run(const char *broker, tr_work_fn fn, void *arg, const tr_worker_opts *opts,
                  tr_worker_stats *stats);

/* ---- pools ------------------------------------------------------------------- */

typedef struct tr_pool tr_pool;
typedef struct tr_async tr_async;

/* A pool's options; NULL or zero means the default.
 *  - workers: worker processes (4), supervised one_for_one, restarted when
 *    they die;
 *  - prefetch: as tr_worker_opts (256);
 *  - broker: the broker's address or name; NULL: the pool runs its own
 *    broker, supervised with its workers (named "<pool name>-broker");
 *  - broker_opts: the options of the pool's own broker (NULL: defaults). */
typedef struct tr_pool_opts {
    int workers;
    int prefetch;
    const char *broker;
    const tr_broker_opts *broker_opts;
} tr_pool_opts;

/* tr_pool_start starts a pool named name whose workers run fn(arg, ...):
 * a supervisor (the pool's name) with its broker and workers, and a
 * producer in this process. Returns once all have started. Errors: as
 * tr_supervisor_start, and TR_EINVAL for NULL fn or an option out of range. */
int tr_pool_start(tr_pool **out, const char *name, tr_work_fn fn, void *arg,
                  const tr_pool_opts *opts);

/* tr_pool_destroy stops the pool's supervisor (and so its broker and
 * workers), frees the pool and its results not taken, and sets *p to NULL;
 * NULL is fine. */
void tr_pool_destroy(tr_pool **p);

/* tr_pool_supervisor gives the pool's supervisor (owned by the pool). */
struct tr_supervisor;
struct tr_supervisor *tr_pool_supervisor(tr_pool *p);

/* tr_pool_apply submits one task (data copied) and sets *out to its
 * result's handle, which the caller frees with tr_async_destroy (the
 * result is then dropped if it comes later). Errors: as tr_work_submit. */
int tr_pool_apply(tr_pool *p, const void *data, size_t size, tr_async **out,
                  int timeout_ms);

/* tr_async_get waits up to timeout_ms for the result and fills *result
 * (closed first; the bytes are the caller's until tr_msg_close) and *status
 * (may be NULL; 0, the function's non-zero return, or TR_WORK_DEAD_LETTER).
 * It may be called again: each call gives a copy. Errors: TR_EINVAL,
 * TR_ETIMEDOUT, TR_ENOMEM, TR_ESYSTEM. */
int tr_async_get(tr_async *a, tr_msg *result, int *status, int timeout_ms);

/* tr_async_ready says whether the result has arrived (it reads what has
 * come, without waiting). */
bool tr_async_ready(tr_async *a);

/* tr_async_destroy frees a and sets *a to NULL; NULL is fine. */
void tr_async_destroy(tr_async **a);

/* tr_pool_map runs one task per input (n of them) and fills results[i]
 * (initialised here; the caller closes each with tr_msg_close) and, when
 * statuses is not NULL, statuses[i], each result matched to its input by
 * task id whatever the order of completion; duplicates are dropped. Waits
 * up to timeout_ms in all. Errors: TR_EINVAL, TR_ETIMEDOUT (not all came
 * in time: those that came are filled, the others are empty with status
 * TR_WORK_MISSING), and the errors of tr_work_submit. */
int tr_pool_map(tr_pool *p, const struct iovec *inputs, size_t n, tr_msg *results,
                int *statuses, int timeout_ms);

/* tr_pool_client gives the pool's producer (owned by the pool), for its
 * counters and the broker's. */
tr_work_client *tr_pool_client(tr_pool *p);

/* ---- keys ------------------------------------------------------------------- */

/* tr_keygen writes a new CURVE key pair as dir/name.key (mode 0600) and
 * dir/name.pub (0644), refusing to overwrite. Errors: TR_EINVAL (NULL
 * argument, a name that is not a valid actor name), TR_EEXIST (a file is
 * there), TR_ESYSTEM (CURVE unavailable in libzmq, a write failed). */
int tr_keygen(const char *dir, const char *name);

/* tr_key_load reads a key file: public (41 bytes, Z85 and NUL) always,
 * secret (41 bytes; may be NULL) from a .key file. Errors: TR_EINVAL (NULL
 * path or public, a secret asked of a .pub file, a malformed file),
 * TR_ESYSTEM (cannot be read). */
int tr_key_load(const char *path, char *public_key, char *secret_key);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_WORK_H */
