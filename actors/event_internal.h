/* event_internal.h: what the hub (hub.c), its clients (event.c,
 * pubsub.c) and the supervisors' lifecycle reports (supervisor_loop.c)
 * share. Not API. */
#ifndef TROUPE_ACTORS_EVENT_INTERNAL_H
#define TROUPE_ACTORS_EVENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/event.h"

/* Events' topics are TR__EVENT_PREFIX, the name, then a NUL byte; no
 * publisher but the hub may use the prefix. */
#define TR__EVENT_PREFIX "$event/"
#define TR__EVENT_PREFIX_LEN 7
/* The longest event topic: the prefix, a 64-byte name and the NUL. */
#define TR__EVENT_TOPIC_MAX (TR__EVENT_PREFIX_LEN + 64 + 1)

/* The most events a hub holds. Each change rewrites one record of the state
 * file and each new subscription scans the table: O(events), fine for the
 * tens of events a system uses, and bounded. */
#define TR__HUB_MAX_EVENTS 4096

/* The wake file, <run dir>/.hub/wake: word 0 is the file's generation
 * (a random number, given when the file is made), then one 32-bit word per
 * record slot of the state file: bits 31..24 the slot's owner number,
 * bumped each time the slot is given to an event; bits 23..1 a count of
 * the event's changes; bit 0 its state (1: set). The hub counts a change
 * after writing and answering it, then wakes the futex on the word:
 * waiters in this system sleep on their event's word (docs/events.md,
 * "Waiting"). The file has a fixed size, allocated when made, and is never
 * shrunk, so mappings stay valid. */
#define TR__HUB_WAKE_WORDS (1 + 2 * TR__HUB_MAX_EVENTS)
#define TR__WAKE_OWNER(w) ((uint32_t)(w) >> 24)
#define TR__WAKE_COUNT(w) (((uint32_t)(w) >> 1) & 0x7fffffu)
#define TR__WAKE_SET(w) ((uint32_t)(w)&1u)
#define TR__WAKE_WORD(owner, count, set)                                                      \
    ((((uint32_t)(owner)&0xffu) << 24) | (((uint32_t)(count)&0x7fffffu) << 1) |              \
     ((uint32_t)(set)&1u))

/* tr__hub_path writes "<run dir>/.hub" (leaf NULL) or "<run dir>/.hub/<leaf>"
 * into buf, for run_dir (NULL: this system's, made if needed). TR_OK,
 * TR_EINVAL (too long for ipc://), or the errors of tr_sys_init. */
int tr__hub_path(const char *run_dir, const char *leaf, char *buf, size_t len);

/* tr__event_topic writes the topic of event name into buf (at least
 * TR__EVENT_TOPIC_MAX bytes) and returns its length, the NUL included; 0
 * for an invalid name. */
size_t tr__event_topic(const char *name, char *buf);

/* tr__event_topic_name checks that topic (size bytes) is an event's topic
 * and copies the name into name (65 bytes). */
bool tr__event_topic_name(const void *topic, size_t size, char *name);

/* Where a client's hub is: its endpoints, and for this system's hub the
 * path of its socket for local requests (docs/events.md), whose absence
 * at a deadline means that no hub runs. */
typedef struct tr__hub_addr {
    char in[256], out[256], ctl[256];
    char req_path[136]; /* "" for a hub given by address; <= 107 bytes */
} tr__hub_addr;

/* tr__hub_addr_init fills a from hub (NULL: this system's hub), which
 * must name `in` when need_in, `out` and `ctl` when need_events, `ctl`
 * when neither. TR_OK, TR_EINVAL, TR_ECLOSED (no hub was ever started in
 * this system: no .hub directory), or the errors of tr_sys_init. */
int tr__hub_addr_init(tr__hub_addr *a, const tr_hub_addr *hub, bool need_in, bool need_events);

/* tr__hub_socket makes a socket of type connected to address, with the
 * clients' reconnection intervals and, when linger >= -1, that linger
 * (an XPUB also gets ZMQ_XPUB_NODROP). NULL on failure (errno). */
void *tr__hub_socket(int type, const char *address, int linger);

/* tr__hub_recv2 receives one [topic][body] message from a SUB into topic
 * and body: TR_OK, TR_EEMPTY, TR_EPROTO (not two frames: dropped, the
 * msgs left empty), TR_ECLOSED, TR_ESYSTEM. */
int tr__hub_recv2(void *sock, tr_msg *topic, tr_msg *body, int timeout_ms);

/* tr__hub_sock_fd returns a socket's ZMQ_FD, or -1. */
int tr__hub_sock_fd(void *sock);

/* tr__hub_report publishes line on topic through this system's hub, for
 * the supervisors' lifecycle reports. It never waits: when no hub was
 * started in this system it does nothing; when the hub is not taking
 * (gone, or more than the high-water mark queued for it) the report is
 * dropped and counted (TR-HUB-REPORT-DROP, rate-limited). What is queued
 * leaves when the hub binds, so reports made while it starts or restarts
 * are not lost. */
void tr__hub_report(const char *topic, const char *line);

#endif /* TROUPE_ACTORS_EVENT_INTERNAL_H */
