/* work_internal.h: what the broker, its producers and its workers share:
 * the wire format of docs/work-protocol.md, and CURVE / ZAP set-up.
 * Internal to //actors:work. */
#ifndef TROUPE_ACTORS_WORK_INTERNAL_H
#define TROUPE_ACTORS_WORK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "troupe/work.h"

/* ---- wire format (docs/work-protocol.md) -------------------------------------
 * Every message is one ZeroMQ frame (the broker's ROUTER sees the peer's
 * routing id before it): a 4-byte header "TW", version, command, then the
 * command's body, integers little-endian. */
#define TR__WORK_VERSION 1
#define TR__WORK_HDR 4

enum {
    TR__W_HELLO = 1,    /* peer -> broker: u8 role, u8[3] 0, u32 credit, u32 hb, u32 timeout, name */
    TR__W_WELCOME,      /* broker -> peer: u64 epoch, u32 hb, u32 timeout */
    TR__W_RESET,        /* broker -> peer: unknown to me, say HELLO */
    TR__W_HEARTBEAT,    /* both ways */
    TR__W_SUBMIT,       /* producer -> broker: u32 n, n x (u64 id, u32 len, bytes) */
    TR__W_ACK,          /* broker -> producer: u32 n, n x (u64 first, u32 count) */
    TR__W_TASKS,        /* broker -> worker: u64 epoch, u32 n, n x (u32 pno, u64 id, u32 len, bytes) */
    TR__W_DONE,         /* worker -> broker: u64 epoch, u32 n, n x (u32 pno, u64 id, i32 status, u32 len, bytes) */
    TR__W_RESULTS,      /* broker -> producer: u32 n, n x (u64 id, i32 status, u32 len, bytes) */
    TR__W_RESULT_ACK,   /* producer -> broker: u32 n, n x u64 id */
    TR__W_BYE,          /* worker -> broker: I leave; requeue what I hold */
    TR__W_STATS_REQ,    /* any -> broker: u64 request id */
    TR__W_STATS,        /* broker -> peer: u64 request id, 12 x u64, 4 x u32 */
    TR__W_DEAD_REQ,     /* any -> broker: u64 request id, u32 max */
    TR__W_DEAD_LIST,    /* broker -> peer: u64 request id, u32 n, n x (u8 plen, producer, u64 id, u32 deaths, u32 len, bytes) */
    TR__W_CREDIT,       /* worker -> broker: u32 window: the tasks it wants to hold from now on */
    TR__W_COMMANDS_     /* number of commands + 1; not a command */
};

enum { TR__ROLE_PRODUCER = 1, TR__ROLE_WORKER = 2, TR__ROLE_CLIENT = 3 };

/* Defaults shared by the three roles. */
#define TR__WORK_HEARTBEAT_MS 500
#define TR__WORK_TIMEOUT_MS 2000
#define TR__WORK_MAX_ID 64     /* producer ids and peer names, in bytes */
#define TR__WORK_BATCH 256     /* tasks or results per frame, at most, when troupe sends */
#define TR__WORK_BATCH_BYTES (256 * 1024)

/* A growing byte buffer that frames are written into. Writes never fail
 * halfway: an allocation failure sets oom and later writes do nothing. */
typedef struct tr__wbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} tr__wbuf;

void tr__wbuf_reset(tr__wbuf *b, int command);
void tr__wbuf_free(tr__wbuf *b);
void tr__wbuf_u8(tr__wbuf *b, uint8_t v);
void tr__wbuf_u32(tr__wbuf *b, uint32_t v);
void tr__wbuf_u64(tr__wbuf *b, uint64_t v);
void tr__wbuf_bytes(tr__wbuf *b, const void *p, size_t n);
/* Overwrites the u32 at offset off (a count written before its items). */
void tr__wbuf_put_u32_at(tr__wbuf *b, size_t off, uint32_t v);

/* A reader over one received frame. Reads past the end set bad and return
 * zeros, so a parser checks bad once, after reading a record. */
typedef struct tr__rbuf {
    const uint8_t *p;
    size_t len, off;
    bool bad;
} tr__rbuf;

/* tr__rbuf_open checks the header and returns the command (TR__W_*), or 0
 * for a frame that is not a troupe work frame of this version. */
int tr__rbuf_open(tr__rbuf *r, const void *data, size_t len);
uint8_t tr__rbuf_u8(tr__rbuf *r);
uint32_t tr__rbuf_u32(tr__rbuf *r);
uint64_t tr__rbuf_u64(tr__rbuf *r);
/* Returns a pointer to the next n bytes inside the frame (no copy). */
const uint8_t *tr__rbuf_bytes(tr__rbuf *r, size_t n);
/* A u32 count of records each at least min bytes long: bad when the frame
 * cannot hold that many. */
uint32_t tr__rbuf_count(tr__rbuf *r, size_t min);
static inline bool tr__rbuf_done(const tr__rbuf *r) { return !r->bad && r->off == r->len; }

/* tr__work_msg_slice makes out (closed first) hold the len bytes at data,
 * which lie inside frame, sharing the frame rather than copying it. */
struct tr_msg;
void tr__work_msg_slice(struct tr_msg *out, zmq_msg_t *frame, const uint8_t *data, size_t len);

/* The name a command has in logs ("SUBMIT"). */
const char *tr__work_command_name(int command);

/* tr__work_id_valid says whether the n bytes at id are a valid producer id
 * or peer name: 1 to TR__WORK_MAX_ID characters of [A-Za-z0-9._-]. */
bool tr__work_id_valid(const char *id, size_t n);

/* tr__work_timing applies the defaults to a heartbeat and timeout of the
 * options (0 means the default) and checks them: TR_EINVAL for a negative
 * value or a timeout shorter than the heartbeat. */
int tr__work_timing(int *heartbeat_ms, int *timeout_ms);

/* tr__work_endpoint turns a broker's address or actor name into an
 * endpoint in buf. Errors: TR_EINVAL (neither), TR_ETOOBIG. */
int tr__work_endpoint(const char *broker, char *buf, size_t len);

/* ---- CURVE and ZAP (work_keys.c) ---------------------------------------------
 * The broker binds its ZAP handler (a REP on inproc://zeromq.zap.01 in this
 * process's context) before it binds a CURVE endpoint, and answers each
 * request from the poll loop with tr__zap_handle: a client key listed in
 * allowed_dir (a *.pub file holding it) is let in, any other is refused,
 * logged (TR-WORK-DENIED) and counted. */
void *tr__zap_bind(void);
/* Answers one request waiting on zap. *denied is incremented for a refusal.
 * Returns TR_OK, TR_EEMPTY when nothing was waiting, TR_EINVAL (NULL zap),
 * TR_ECLOSED (the context is being terminated), TR_ESYSTEM. */
int tr__zap_handle(void *zap, const char *allowed_dir, uint64_t *denied);

/* Makes sock a CURVE server with the key pair in key_file, in ZAP domain
 * "troupe". Call before binding the endpoints it applies to. */
int tr__curve_server(void *sock, const char *key_file);
/* Makes sock a CURVE client with its pair in key_file and the server's
 * public key in broker_key (a .pub or .key file). */
int tr__curve_client(void *sock, const char *key_file, const char *broker_key);

#endif /* TROUPE_ACTORS_WORK_INTERNAL_H */
