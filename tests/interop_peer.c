/* interop_peer.c: troupe's side of the interoperability test with Python's
 * protobuf (tests/interop_test.py drives it). One typed message crosses a
 * real ZeroMQ socket between two processes in each direction:
 *
 *   interop_peer recv
 *       spawns an actor that takes one typed message from its mailbox with
 *       tr_codec_self_recv and compares every field with the agreed values
 *       below. Prints the mailbox address (one line) once the mailbox is
 *       bound, waits for the actor, then prints "result ok" or
 *       "result mismatch" / "result error" and exits with the actor's code.
 *   interop_peer send ADDR
 *       encodes the agreed Ping with tr_codec_encode and sends its two
 *       frames from a plain libzmq PUSH connected to ADDR.
 *
 * Exit codes: 0 everything matched (or was sent), 1 a field did not match,
 * 2 a transport, decode or timeout error, 64 usage. Every wait is bounded.
 *
 * The agreed values are written twice, here and in interop_test.py, on
 * purpose: each side states independently what it expects of the other.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "codecs/codec_test.pb-c.h"
#include "troupe/codec.h"
#include "troupe/troupe.h"

enum { EXIT_MATCH = 0, EXIT_MISMATCH = 1, EXIT_ERROR = 2, EXIT_USAGE = 64 };

/* Every wait of either mode: long enough for a loaded CI machine under
 * AddressSanitizer, short enough that a hang fails well inside the test's
 * own timeout. The parent gives the actor JOIN_MS, more than the actor's
 * own WAIT_MS for the message, so that an actor that saw nothing says so
 * itself (TR_EEMPTY) rather than being killed as hung. */
#define WAIT_MS 20000
#define JOIN_MS (WAIT_MS + 5000)

/* ---- the agreed values (mirrored in interop_test.py) ------------------------ */

/* Python -> C. */
#define PY_SEQ UINT64_C(1099511627853) /* 2^40 + 77: a varint past 32 bits */
#define PY_TEXT "héllo, troupe ✓ 日本" /* UTF-8: 2, 3 and 3 bytes per character */
#define PY_SENDER "python-peer"
#define PY_ID UINT64_C(0x8000000000000005) /* past INT64_MAX */
#define PY_FLAGS UINT32_C(0x80000001)
static const unsigned char s_py_blob[] = {0x00, 0x01, 0x00, 0xff, 0x00, 0x7f};
static const int32_t s_py_numbers[] = {-1, 0, 7, -2147483647 - 1, 2147483647, 1 << 30, -300};

/* C -> Python. */
#define C_SEQ UINT64_C(18446744073709551615) /* UINT64_MAX */
#define C_TEXT "ça marche — αβγ 🎭" /* UTF-8 up to 4 bytes per character */
#define C_FLAGS UINT32_C(0x00c0ffee)
/* Not const: protobuf-c's message fields are not. */
static unsigned char s_c_blob[] = {0x00, 0x00, 0xfe, 0x00, 0x01};
static int32_t s_c_numbers[] = {-5, 0, 2147483647, -2147483647 - 1, 128, -129};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- recv: an actor reads one message from its mailbox ----------------------- */

/* Counts a mismatch and says which field, on stderr (the test log). */
static int s_expect(bool ok, const char *field)
{
    if (ok)
        return 0;
    fprintf(stderr, "interop_peer: mismatch: %s\n", field);
    return 1;
}

/* Compares every field of the envelope and the Ping with the agreed values.
 * Returns how many differ. */
static int s_check(const tr_typed *t)
{
    int bad = 0;
    bad += s_expect(t->env.version == TR_CODEC_VERSION, "env.version");
    bad += s_expect(t->env.type == &trtest__ping__descriptor, "env.type");
    bad += s_expect(t->env.id == PY_ID, "env.id");
    bad += s_expect(strcmp(t->env.sender, PY_SENDER) == 0, "env.sender");
    bad += s_expect(t->env.flags == PY_FLAGS, "env.flags");
    if (t->env.type != &trtest__ping__descriptor)
        return bad; /* the payload is some other type: nothing more to read */
    const Trtest__Ping *p = (const Trtest__Ping *)t->msg;
    bad += s_expect(p->seq == PY_SEQ, "seq");
    bad += s_expect(p->text != NULL && strcmp(p->text, PY_TEXT) == 0, "text");
    bad += s_expect(p->blob.len == sizeof s_py_blob &&
                        memcmp(p->blob.data, s_py_blob, sizeof s_py_blob) == 0,
                    "blob");
    bad += s_expect(p->n_numbers == NELEMS(s_py_numbers) &&
                        memcmp(p->numbers, s_py_numbers, sizeof s_py_numbers) == 0,
                    "numbers");
    return bad;
}

/* The actor: binds its mailbox, says so through the ready pipe, then takes
 * one typed message. Trtest.Pong is registered too, so that a Pong sent in
 * place of a Ping is decoded and refused by the type check here rather
 * than by the registry. */
static int s_reader(void *arg)
{
    int ready = *(const int *)arg;
    /* A function actor binds its mailbox on first use: do it now, so that
     * the address the parent prints is already bound when Python connects. */
    if (tr_self_mailbox_fd() < 0) {
        fprintf(stderr, "interop_peer: cannot bind the mailbox: %s\n", strerror(errno));
        return EXIT_ERROR;
    }
    if (write(ready, "r", 1) != 1)
        return EXIT_ERROR;
    close(ready);

    tr_registry *r = NULL;
    if (tr_registry_new(&r) != TR_OK ||
        tr_registry_add(r, &trtest__ping__descriptor, NULL) != TR_OK ||
        tr_registry_add(r, &trtest__pong__descriptor, NULL) != TR_OK) {
        tr_registry_destroy(&r);
        return EXIT_ERROR;
    }
    tr_typed t;
    int rc = tr_codec_self_recv(r, &t, WAIT_MS);
    int code;
    if (rc != TR_OK) {
        fprintf(stderr, "interop_peer: receive: %s (%s)\n", tr_errname(rc), tr_strerror(rc));
        code = EXIT_ERROR;
    } else {
        code = s_check(&t) == 0 ? EXIT_MATCH : EXIT_MISMATCH;
    }
    tr_typed_release(&t);
    tr_registry_destroy(&r);
    return code;
}

/* Waits up to WAIT_MS for the actor's ready byte: 1 when it came, 0 when
 * the actor died first (EOF: its end of the pipe closed), -1 when the time
 * ran out. */
static int s_wait_ready(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n;
    do
        n = poll(&pfd, 1, WAIT_MS);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1;
    char c;
    return read(fd, &c, 1) == 1 ? 1 : 0;
}

static int s_recv_mode(void)
{
    int ready[2];
    if (pipe(ready) != 0) {
        perror("interop_peer: pipe");
        return EXIT_ERROR;
    }
    /* A daemon: if the test kills this process, the actor goes with it. */
    tr_spawn_opts opts = {.flags = TR_SPAWN_DAEMON, .keep_fds = &ready[1], .nkeep_fds = 1};
    tr_actor *a = NULL;
    int rc = tr_actor_spawn(&a, "interop-reader", s_reader, &ready[1], &opts);
    close(ready[1]);
    if (rc != TR_OK) {
        close(ready[0]);
        fprintf(stderr, "interop_peer: spawn: %s\n", tr_errname(rc));
        printf("result error spawn\n");
        return EXIT_ERROR;
    }
    int up = s_wait_ready(ready[0]);
    close(ready[0]);
    if (up == 1) {
        printf("%s\n", tr_actor_address(a));
        fflush(stdout);
    }
    /* Not up: the actor died (its end of the pipe closes just before it can
     * be reaped, so the join waits for that) or hangs (no point waiting). */
    rc = up == -1 ? TR_ETIMEDOUT : tr_actor_join(a, JOIN_MS);
    if (rc == TR_ETIMEDOUT) {
        tr_actor_kill(a);
        tr_actor_join(a, WAIT_MS);
        tr_actor_destroy(&a);
        printf("result error timeout\n");
        return EXIT_ERROR;
    }
    int code = EXIT_ERROR;
    if (rc != TR_OK || tr_actor_exitcode(a, &code) != TR_OK)
        code = EXIT_ERROR;
    else if (code != EXIT_MATCH && code != EXIT_MISMATCH)
        code = EXIT_ERROR; /* a crash (signal) or a failure before the check */
    tr_actor_destroy(&a);
    printf("result %s\n", code == EXIT_MATCH ? "ok" : code == EXIT_MISMATCH ? "mismatch" : "error");
    return code;
}

/* ---- send: the agreed Ping through a plain libzmq PUSH ------------------------ */

static int s_zmq_fail(const char *what)
{
    fprintf(stderr, "interop_peer: %s: %s\n", what, zmq_strerror(zmq_errno()));
    return EXIT_ERROR;
}

static int s_send_mode(const char *addr)
{
    Trtest__Ping p;
    trtest__ping__init(&p);
    p.seq = C_SEQ;
    p.text = (char *)C_TEXT;
    p.blob.data = s_c_blob;
    p.blob.len = sizeof s_c_blob;
    p.numbers = s_c_numbers;
    p.n_numbers = NELEMS(s_c_numbers);

    /* Sizes first (nothing is written with cap 0), then the real encoding:
     * the two-step use the header documents. */
    size_t hlen = 0, plen = 0;
    int rc = tr_codec_encode(&p.base, C_FLAGS, NULL, 0, &hlen, &plen);
    if (rc != TR_ETOOBIG || hlen == 0) {
        fprintf(stderr, "interop_peer: sizing: %s\n", tr_errname(rc));
        return EXIT_ERROR;
    }
    unsigned char buf[512];
    if (hlen + plen > sizeof buf) {
        fprintf(stderr, "interop_peer: %zu + %zu bytes do not fit\n", hlen, plen);
        return EXIT_ERROR;
    }
    rc = tr_codec_encode(&p.base, C_FLAGS, buf, sizeof buf, &hlen, &plen);
    if (rc != TR_OK) {
        fprintf(stderr, "interop_peer: encode: %s\n", tr_errname(rc));
        return EXIT_ERROR;
    }

    int code = EXIT_ERROR;
    void *ctx = zmq_ctx_new();
    if (ctx == NULL)
        return s_zmq_fail("zmq_ctx_new");
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    /* IMMEDIATE: a send waits for a completed connection (at most WAIT_MS)
     * rather than queueing for a peer that may never be there, so a missing
     * peer fails the run here instead of passing as "sent". The close then
     * waits at most WAIT_MS too for what is still queued. */
    int ms = WAIT_MS, one = 1;
    if (push == NULL)
        s_zmq_fail("zmq_socket");
    else if (zmq_setsockopt(push, ZMQ_IMMEDIATE, &one, sizeof one) != 0 ||
             zmq_setsockopt(push, ZMQ_SNDTIMEO, &ms, sizeof ms) != 0 ||
             zmq_setsockopt(push, ZMQ_LINGER, &ms, sizeof ms) != 0)
        s_zmq_fail("zmq_setsockopt");
    else if (zmq_connect(push, addr) != 0)
        s_zmq_fail("zmq_connect");
    else if (zmq_send(push, buf, hlen, ZMQ_SNDMORE) != (int)hlen)
        s_zmq_fail("zmq_send envelope");
    else if (zmq_send(push, buf + hlen, plen, 0) != (int)plen)
        s_zmq_fail("zmq_send payload");
    else
        code = EXIT_MATCH;
    if (push != NULL)
        zmq_close(push);
    /* Returns once the message is delivered to the peer's socket, or after
     * the linger. */
    zmq_ctx_term(ctx);
    if (code == EXIT_MATCH)
        printf("sent %zu+%zu bytes\n", hlen, plen);
    return code;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "recv") == 0)
        return s_recv_mode();
    if (argc == 3 && strcmp(argv[1], "send") == 0)
        return s_send_mode(argv[2]);
    fprintf(stderr, "usage: interop_peer recv\n"
                    "       interop_peer send ADDR\n");
    return EXIT_USAGE;
}
