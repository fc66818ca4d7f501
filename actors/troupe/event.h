/* troupe/event.h: publish/subscribe through a per-system event hub, and the
 * Event primitive (the role of Python's multiprocessing.Event) on top.
 *
 * A system has at most one hub: an actor with sockets in the run directory
 * (an XSUB publishers connect to, an XPUB subscribers connect to, a ROUTER
 * for requests, and for local clients' requests a Unix SOCK_SEQPACKET
 * socket), the first three optionally also bound on tcp:// for other
 * hosts. Any actor publishes on a topic; any actor subscribes by topic
 * prefix. ZeroMQ's PUB/SUB trap (a subscriber misses what was published
 * before its subscription reached the publisher) is closed where it matters:
 *  - events live in the hub (a last-value cache): a subscriber, or a waiter,
 *    that comes after a set sees it set at once;
 *  - troupe's publisher waits, on its first send, until the hub listens.
 *
 * Guarantees, explained in docs/events.md:
 *  - tr_event_set / tr_event_clear return once the hub has applied the
 *    change (and written it down): any is_set or wait that starts after
 *    they returned, in any process, sees it;
 *  - tr_event_wait never misses a set made before it started, and a waiter
 *    blocked through set, clear, set sees them in that order (it wakes on
 *    the first set, as Python's does, even if a clear follows at once);
 *  - when the hub is restarted (by its supervisor), event states are kept
 *    and clients reconnect by themselves: a call in progress is retried
 *    until its timeout, a waiter keeps waiting;
 *  - messages other than events are at most once: a subscriber gets what
 *    is published after its subscription reached the hub, while it is
 *    connected and keeps up (the hub drops for a subscriber that falls
 *    behind by more than the high-water mark, rather than slow the rest).
 *
 * Handles are made in one process and may be inherited by actors spawned
 * afterwards, as queues are: sockets are made in each process at first use.
 * A handle is used from one thread at a time.
 *
 *   #include <troupe/event.h>      (Bazel: //actors:event)
 */
#ifndef TROUPE_EVENT_H
#define TROUPE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/troupe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the hub --------------------------------------------------------------- */

/* Options of a hub; a NULL pointer or a NULL field means the default. The
 * tcp addresses are bind addresses ("tcp://0.0.0.0:5601") for clients on
 * other hosts; locally every client uses the sockets of the run
 * directory: ipc://<run dir>/.hub/in, .../out and .../ctl, and
 * <run dir>/.hub/req for requests. */
typedef struct tr_hub_opts {
    const char *name;    /* the hub's actor name ("hub") */
    const char *tcp_in;  /* also bind the publishers' side here */
    const char *tcp_out; /* also bind the subscribers' side here */
    const char *tcp_ctl; /* also bind the request side here */
} tr_hub_opts;

/* Where clients find a hub: its three endpoints ("tcp://host:port" or
 * "ipc://path"). Every open function takes a `const tr_hub_addr *`: NULL
 * means this system's hub, in its run directory. The strings are copied. */
typedef struct tr_hub_addr {
    const char *in;  /* for publishers */
    const char *out; /* for subscribers and events */
    const char *ctl; /* for events */
} tr_hub_addr;

/* A hub's counters since it (last) started. */
typedef struct tr_hub_stats {
    uint64_t requests;  /* requests answered */
    uint64_t refused;   /* malformed requests and messages refused */
    uint64_t forwarded; /* messages forwarded from publishers */
    uint64_t published; /* messages published by request (supervisor reports) */
    uint64_t changes;   /* event changes */
    uint64_t replays;   /* event states sent again for new subscriptions */
    uint32_t events;    /* events known */
} tr_hub_stats;

/* tr_hub_start spawns this system's hub as a daemon actor (it dies with
 * this process) and returns once it is bound and has loaded the event
 * states kept in the run directory. *out is the caller's, freed with
 * tr_actor_destroy (which kills the hub) or stopped with tr_actor_terminate
 * and tr_actor_join. Errors: TR_EINVAL (NULL out, a bad name or address),
 * TR_EEXIST (an actor of that name runs), TR_ESPAWN (the hub could not
 * start: another hub holds the run directory, a tcp address cannot be
 * bound; the log says which), TR_ESYSTEM, TR_ENOMEM. */
int tr_hub_start(tr_actor **out, const tr_hub_opts *opts);

/* tr_hub_child_spec fills *out with a child spec that runs a hub under a
 * supervisor: named opts->name ("hub"), permanent, daemon, stopped by
 * SIGTERM within 2 s. opts (may be NULL) is read in the supervisor's
 * process: it must stay valid until tr_supervisor_start is called, like
 * the rest of the spec. It also makes the hub's directory in the run
 * directory, so that clients started before the hub is bound know that a
 * hub is coming and wait for it. Unlike tr_hub_start, the supervisor
 * reports the child started before the hub has bound its sockets: clients
 * wait for it within their timeouts. */
struct tr_child_spec;
void tr_hub_child_spec(struct tr_child_spec *out, const tr_hub_opts *opts);

/* tr_hub_stats_get asks the hub for its counters. Errors: TR_EINVAL,
 * TR_ECLOSED (no hub was started in this system, or its socket is gone at
 * the deadline), TR_ETIMEDOUT, TR_EPROTO (an undecodable answer), TR_ENOMEM,
 * TR_ESYSTEM. */
int tr_hub_stats_get(const tr_hub_addr *hub, tr_hub_stats *out, int timeout_ms);

/* ---- publishing ------------------------------------------------------------ */

typedef struct tr_pub tr_pub;

/* tr_pub_open makes a publisher to the hub. Nothing is connected until the
 * first send. Errors: TR_EINVAL (NULL out, a hub address missing `in`),
 * TR_ECLOSED (no hub was started in this system), TR_ENOMEM, TR_ESYSTEM. */
int tr_pub_open(tr_pub **out, const tr_hub_addr *hub);

/* tr_pub_send publishes size bytes of data (copied) on topic, a string that
 * must not start with '$' (troupe's own topics: "$event/", "$sys/"). The
 * first send in a process waits, up to timeout_ms, until the hub has
 * subscribed to this publisher, so that it is not lost to the slow-joiner
 * trap; later sends wait only while the hub is not taking (more than the
 * high-water mark queued: the hub is gone or restarting), so messages sent
 * while the hub restarts are delivered once it is back, up to that mark.
 * Errors: TR_EINVAL (NULL or '$' topic, NULL data with a size), TR_ETOOBIG,
 * TR_EFULL (not sent in time), TR_ESYSTEM. */
int tr_pub_send(tr_pub *p, const char *topic, const void *data, size_t size, int timeout_ms);

/* tr_pub_destroy frees the publisher and sets *p to NULL; NULL is fine.
 * What is queued is given the linger time (tr_sys_linger_ms) to leave. */
void tr_pub_destroy(tr_pub **p);

/* ---- subscribing ----------------------------------------------------------- */

typedef struct tr_sub tr_sub;

/* tr_sub_open makes a subscriber to the hub, subscribed to the topics that
 * start with prefix ("" for every topic, NULL for none yet; at most 255
 * bytes). Errors: TR_EINVAL, TR_ECLOSED (no hub was started in this
 * system), TR_ENOMEM, TR_ESYSTEM. */
int tr_sub_open(tr_sub **out, const char *prefix, const tr_hub_addr *hub);

/* tr_sub_subscribe adds the topics that start with prefix (at most 255
 * bytes). Messages published after the subscription reached the hub
 * arrive; an event's current state arrives at once when prefix covers the
 * event's topic. Subscribing twice to a prefix makes two subscriptions:
 * such messages still arrive once, event states are sent again. Errors:
 * TR_EINVAL, TR_ENOMEM, TR_ESYSTEM. */
int tr_sub_subscribe(tr_sub *s, const char *prefix);

/* tr_sub_subscribe_event subscribes to exactly the event named name (its
 * topic is "$event/<name>" and a NUL byte, so that "go" does not match
 * "gone"); its state arrives at once, "clear, version 0" if it was never
 * set. Decode what arrives with tr_event_decode. Errors: TR_EINVAL (a name
 * that fails tr_name_valid), TR_ESYSTEM. */
int tr_sub_subscribe_event(tr_sub *s, const char *name);

/* tr_sub_recv receives the next message into topic and body (both
 * initialised here; close them with tr_msg_close), waiting up to
 * timeout_ms. The topic is received as published: an event's topic ends
 * with its NUL byte. An event's state may arrive more than once (it is sent
 * again for every new subscription that covers it): receivers drop versions
 * they have seen. Errors: TR_EEMPTY (nothing in time), TR_EPROTO (a message
 * that is not [topic][body] arrived, from a foreign publisher connected
 * directly; it was dropped and counted), TR_EINVAL, TR_ESYSTEM. */
int tr_sub_recv(tr_sub *s, tr_msg *topic, tr_msg *body, int timeout_ms);

/* tr_sub_fd returns a descriptor for poll loops that signals that messages
 * may be waiting (ZMQ_FD semantics: edge-triggered; call tr_sub_recv with
 * TR_NOWAIT until TR_EEMPTY). -1 on error. */
int tr_sub_fd(tr_sub *s);

/* tr_sub_destroy frees the subscriber and sets *s to NULL; NULL is fine. */
void tr_sub_destroy(tr_sub **s);

/* ---- events ---------------------------------------------------------------- */

typedef struct tr_event tr_event;

/* tr_event_open makes a handle to the event named name (tr_name_valid):
 * events need no creation, an event never set is clear. Nothing is
 * connected until first use. Errors: TR_EINVAL (NULL out, a bad name, a
 * hub address missing `out` or `ctl`), TR_ECLOSED (no hub was started in
 * this system), TR_ENOMEM. */
int tr_event_open(tr_event **out, const char *name, const tr_hub_addr *hub);

/* tr_event_set sets the event and returns once the hub has applied it:
 * waiters wake, and any wait or is_set that starts afterwards, anywhere,
 * sees it set. Setting a set event changes nothing. The request is sent
 * again while the hub does not answer (it may be restarting), until
 * timeout_ms. Errors: TR_ETIMEDOUT (no answer in time: the event may or
 * may not be set), TR_ECLOSED (no hub: none was started, or its socket is
 * gone at the deadline), TR_ENOMEM (the hub holds as many events as it
 * may, 4096), TR_EPROTO (an undecodable answer), TR_ESYSTEM (the hub could
 * not write the state down, or a socket failed here), TR_EINVAL. */
int tr_event_set(tr_event *ev, int timeout_ms);

/* tr_event_clear clears the event, as tr_event_set sets it; clearing a
 * clear event changes nothing. Errors: as tr_event_set. */
int tr_event_clear(tr_event *ev, int timeout_ms);

/* tr_event_is_set asks the hub whether the event is set and stores the
 * answer in *out: a fresh answer, one round trip. Errors: as tr_event_set,
 * and TR_EINVAL for a NULL out. */
int tr_event_is_set(tr_event *ev, bool *out, int timeout_ms);

/* tr_event_wait returns TR_OK once the event is set: at once when the hub
 * says it is set (one round trip), else when a set arrives. A set made
 * before the call started is never missed, and a set made while it waits
 * wakes it even if a clear follows at once. timeout_ms bounds the whole
 * call, the round trip included; TR_NOWAIT does not ask the hub: it
 * returns TR_OK when the latest state received here says set (as
 * tr_event_seen; tr_event_is_set asks). Errors: TR_ETIMEDOUT (not set in
 * time), TR_ECLOSED, TR_EPROTO, TR_ESYSTEM, TR_EINVAL, as tr_event_set. */
int tr_event_wait(tr_event *ev, int timeout_ms);

/* tr_event_fd returns a descriptor for poll loops that becomes readable
 * when news of the event may have arrived (ZMQ_FD semantics:
 * edge-triggered); then call tr_event_seen. -1 on error. */
int tr_event_fd(tr_event *ev);

/* tr_event_seen reads, without waiting, what the hub has sent this process
 * about the event, and stores the latest state and version seen here (NULL
 * pointers are skipped): false and 0 before any news. It lags a change
 * made elsewhere by the time a message takes to arrive; tr_event_is_set
 * asks the hub instead. A wait that woke on its wake word (a waiter in the
 * hub's system, docs/events.md) counts as news of a set whose version is
 * not known here: seen then says set, with the version known before,
 * until a newer state arrives. Errors: TR_EINVAL, TR_ESYSTEM. */
int tr_event_seen(tr_event *ev, bool *is_set, uint64_t *version);

/* tr_event_name returns the event's name, owned by the handle. */
const char *tr_event_name(const tr_event *ev);

/* tr_event_destroy frees the handle and sets *ev to NULL; NULL is fine.
 * The event itself lives on in the hub. */
void tr_event_destroy(tr_event **ev);

/* tr_event_decode reads an event message received with tr_sub_recv: the
 * event's name into name (len bytes, NUL-terminated), its state and
 * version (NULL pointers are skipped). Errors: TR_EINVAL (not an event's
 * topic, or name too small), TR_EPROTO (an undecodable state). */
int tr_event_decode(tr_msg *topic, tr_msg *body, char *name, size_t len, bool *is_set,
                    uint64_t *version);

#ifdef __cplusplus
}
#endif
#endif /* TROUPE_EVENT_H */
