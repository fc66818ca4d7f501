/* work_keys_test.c: key files, the ZAP handler and CURVE sockets over
 * tcp://127.0.0.1. Everything runs in this thread: one poll loop serves
 * the ZAP handler, the server, the server's monitor and a client, so the
 * tests wait on what the handler counted, what the monitor reported or
 * what the client received, never on sleeps. "Gets nothing" is checked
 * by a poll that must run out (QUIET_MS) after the refusal was seen. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/work_internal.h"
#include "core/internal.h"
#include "core/testutil.h"
#include "troupe/work.h"

#define LONG_MS 10000
#define QUIET_MS 300
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

static char g_tmp[32] = "/tmp/trk-XXXXXX"; /* this suite's files, removed at the end */
/* The ZAP handler, bound once for the suite: its name is one per context. */
static void *g_zap;

/* ---- files ------------------------------------------------------------------ */

/* g_tmp/rel, in buf. */
static const char *s_at(char *buf, size_t len, const char *rel)
{
    int k = snprintf(buf, len, "%s/%s", g_tmp, rel);
    assert_true(k > 0 && (size_t)k < len);
    return buf;
}

static void s_mkdir(const char *rel)
{
    char path[128];
    assert_int_equal(mkdir(s_at(path, sizeof path, rel), 0700), 0);
}

static void s_write(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static void s_read(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, len - 1);
    assert_true(n >= 0);
    buf[n] = '\0';
    close(fd);
}

static int s_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    return (int)(st.st_mode & 07777);
}

/* ---- key files ---------------------------------------------------------------- */

static void test_keygen_writes_a_pair(void **state)
{
    (void)state;
    char dir[64], key[96], pub[96], text[512], again[512];
    s_mkdir("gen");
    s_at(dir, sizeof dir, "gen");
    assert_int_equal(tr_keygen(dir, "alice"), TR_OK);
    snprintf(key, sizeof key, "%s/alice.key", dir);
    snprintf(pub, sizeof pub, "%s/alice.pub", dir);
    assert_int_equal(s_mode(key), 0600);
    assert_int_equal(s_mode(pub), 0644);
    s_read(key, text, sizeof text);
    assert_non_null(strstr(text, "# troupe CURVE key pair of alice: keep it secret\npublic = "));
    assert_non_null(strstr(text, "\nsecret = "));
    s_read(pub, text, sizeof text);
    assert_true(text[0] == '#');
    assert_non_null(strstr(text, "\npublic = "));
    assert_null(strstr(text, "secret ="));

    char p1[41], s1[41], p2[41], derived[41];
    assert_int_equal(tr_key_load(key, p1, s1), TR_OK);
    assert_int_equal(strlen(p1), 40);
    assert_int_equal(strlen(s1), 40);
    assert_int_equal(tr_key_load(pub, p2, NULL), TR_OK);
    assert_string_equal(p1, p2);
    assert_int_equal(zmq_curve_public(derived, s1), 0);
    assert_string_equal(derived, p1);
    assert_int_equal(tr_key_load(key, p2, NULL), TR_OK); /* a .key gives its public half */
    assert_int_equal(tr_key_load(pub, p2, s1), TR_EINVAL); /* no secret in a .pub */

    /* Never overwritten. */
    s_read(key, text, sizeof text);
    assert_int_equal(tr_keygen(dir, "alice"), TR_EEXIST);
    s_read(key, again, sizeof again);
    assert_string_equal(text, again);

    /* No half pair: with NAME.pub there already, no NAME.key is left. */
    char bob[96];
    snprintf(bob, sizeof bob, "%s/bob.pub", dir);
    s_write(bob, "x\n", 2);
    assert_int_equal(tr_keygen(dir, "bob"), TR_EEXIST);
    snprintf(bob, sizeof bob, "%s/bob.key", dir);
    assert_int_equal(access(bob, F_OK), -1);
    assert_int_equal(errno, ENOENT);

    /* The modes do not depend on the umask. */
    mode_t old = umask(077);
    assert_int_equal(tr_keygen(dir, "carol"), TR_OK);
    umask(old);
    snprintf(pub, sizeof pub, "%s/carol.pub", dir);
    assert_int_equal(s_mode(pub), 0644);

    assert_int_equal(tr_keygen(dir, ".hidden"), TR_EINVAL);
    assert_int_equal(tr_keygen(dir, "a/b"), TR_EINVAL);
    assert_int_equal(tr_keygen(dir, ""), TR_EINVAL);
    assert_int_equal(tr_keygen(NULL, "x"), TR_EINVAL);
    assert_int_equal(tr_keygen(dir, NULL), TR_EINVAL);
    s_at(dir, sizeof dir, "no-such-dir");
    assert_int_equal(tr_keygen(dir, "x"), TR_ESYSTEM);
    assert_int_equal(errno, ENOENT);
}

/* Writes text as g_tmp/load/NAME and loads it; returns tr_key_load's code. */
static int s_load_text(const char *name, const char *text, size_t len, char *pub, char *sec)
{
    char path[128], rel[64];
    snprintf(rel, sizeof rel, "load/%s", name);
    s_write(s_at(path, sizeof path, rel), text, len);
    return tr_key_load(path, pub, sec);
}

static int s_load(const char *name, const char *text, bool secret)
{
    char pub[41], sec[41];
    return s_load_text(name, text, strlen(text), pub, secret ? sec : NULL);
}

static void test_key_load_parses_and_rejects(void **state)
{
    (void)state;
    s_mkdir("load");
    char pa[41], sa[41], pb[41], sb[41], text[8192], pub[41], sec[41];
    assert_int_equal(zmq_curve_keypair(pa, sa), 0);
    assert_int_equal(zmq_curve_keypair(pb, sb), 0);

    /* Comments, blank lines, spaces and tabs around '=', CRLF, no final
     * newline: all fine. */
    snprintf(text, sizeof text, "\n# a comment\n\n  public\t=  %s  \r\n   # another\nsecret=%s",
             pa, sa);
    assert_int_equal(s_load_text("loose", text, strlen(text), pub, sec), TR_OK);
    assert_string_equal(pub, pa);
    assert_string_equal(sec, sa);

    /* Malformed. */
    assert_int_equal(s_load("empty", "", false), TR_EINVAL);
    assert_int_equal(s_load("comments", "# nothing else\n\n", false), TR_EINVAL);
    snprintf(text, sizeof text, "public %s\n", pa);
    assert_int_equal(s_load("noeq", text, false), TR_EINVAL);
    snprintf(text, sizeof text, "public = %.39s\n", pa);
    assert_int_equal(s_load("short", text, false), TR_EINVAL);
    snprintf(text, sizeof text, "public = %sx\n", pa);
    assert_int_equal(s_load("long", text, false), TR_EINVAL);
    snprintf(text, sizeof text, "public = \"%.39s\n", pa + 1);
    assert_int_equal(s_load("quote", text, false), TR_EINVAL); /* '"' is not Z85 */
    snprintf(text, sizeof text, "public = ~%.39s\n", pa + 1);
    assert_int_equal(s_load("tilde", text, false), TR_EINVAL);
    /* Z85 characters, but "#####" is above 2^32: no key encodes to it. */
    assert_int_equal(s_load("overflow", "public = ########################################\n",
                            false),
                     TR_EINVAL);
    snprintf(text, sizeof text, "public = %s\npublic = %s\n", pa, pa);
    assert_int_equal(s_load("twice", text, false), TR_EINVAL);
    snprintf(text, sizeof text, "publik = %s\n", pa);
    assert_int_equal(s_load("field", text, false), TR_EINVAL);
    snprintf(text, sizeof text, "secret = %s\n", sa);
    assert_int_equal(s_load("secretonly", text, true), TR_EINVAL);
    snprintf(text, sizeof text, "public = %s\nsecret = %s\n", pa, sb);
    assert_int_equal(s_load("mismatch", text, true), TR_EINVAL);
    assert_int_equal(s_load("mismatch2", text, false), TR_EINVAL); /* damaged either way */
    snprintf(text, sizeof text, "public = %s\n", pa);
    assert_int_equal(s_load_text("nul", text, strlen(text) + 1, pub, NULL), TR_EINVAL);
    memset(text, '#', sizeof text);
    text[sizeof text - 1] = '\n';
    assert_int_equal(s_load_text("big", text, sizeof text, pub, NULL), TR_EINVAL);

    /* Not readable, or not a file. */
    char path[128];
    assert_int_equal(tr_key_load(s_at(path, sizeof path, "load/none"), pub, NULL), TR_ESYSTEM);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(tr_key_load(s_at(path, sizeof path, "load"), pub, NULL), TR_EINVAL);
    assert_int_equal(tr_key_load(NULL, pub, NULL), TR_EINVAL);
    assert_int_equal(tr_key_load(path, NULL, sec), TR_EINVAL);
}

/* ---- the ZAP handler, asked directly ---------------------------------------- */

typedef struct {
    char status[8], text[64], user[72];
    int frames;
} s_zap_answer;

/* Sends a request of n frames from req, lets the handler answer it, and
 * reads the answer. */
static s_zap_answer s_zap_ask(void *req, const char *const *frames, const size_t *sizes, int n,
                              const char *allowed, uint64_t *denied)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(zmq_send(req, frames[i], sizes[i], i + 1 < n ? ZMQ_SNDMORE : 0),
                         (int)sizes[i]);
    zmq_pollitem_t it = {g_zap, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&it, 1, LONG_MS), 1);
    assert_int_equal(tr__zap_handle(g_zap, allowed, denied), TR_OK);
    assert_int_equal(tr__zap_handle(g_zap, allowed, denied), TR_EEMPTY);
    s_zap_answer a = {.frames = 0};
    char *fields[] = {NULL, NULL, a.status, a.text, a.user, NULL};
    size_t lens[] = {0, 0, sizeof a.status, sizeof a.text, sizeof a.user, 0};
    int more = 1;
    while (more) {
        char buf[128];
        int k = zmq_recv(req, buf, sizeof buf - 1, 0);
        assert_true(k >= 0);
        buf[k < (int)sizeof buf - 1 ? k : (int)sizeof buf - 1] = '\0';
        if (a.frames == 0)
            assert_string_equal(buf, "1.0");
        if (a.frames < 6 && fields[a.frames] != NULL)
            snprintf(fields[a.frames], lens[a.frames], "%s", buf);
        a.frames++;
        size_t len = sizeof more;
        assert_int_equal(zmq_getsockopt(req, ZMQ_RCVMORE, &more, &len), 0);
    }
    return a;
}

static s_zap_answer s_zap_curve(void *req, const char *domain, const uint8_t *key, size_t keylen,
                                const char *allowed, uint64_t *denied)
{
    const char *f[] = {"1.0", "7", domain, "127.0.0.1", "", "CURVE", (const char *)key};
    size_t z[] = {3, 1, strlen(domain), 9, 0, 5, keylen};
    return s_zap_ask(req, f, z, 7, allowed, denied);
}

static void test_zap_answers_requests(void **state)
{
    (void)state;
    char keys[64], allowed[64], from[128], to[128];
    s_mkdir("zk");
    s_mkdir("za");
    s_at(keys, sizeof keys, "zk");
    s_at(allowed, sizeof allowed, "za");
    assert_int_equal(tr_keygen(allowed, "alice"), TR_OK); /* its .key and .pub */
    assert_int_equal(tr_keygen(keys, "carol"), TR_OK);
    assert_int_equal(tr_keygen(keys, "mallory"), TR_OK);
    /* carol is allowed through her .key alone. */
    snprintf(from, sizeof from, "%s/carol.key", keys);
    snprintf(to, sizeof to, "%s/carol.key", allowed);
    assert_int_equal(link(from, to), 0);
    /* Files that are not keys are skipped. */
    snprintf(to, sizeof to, "%s/junk.pub", allowed);
    s_write(to, "not a key\n", 10);
    snprintf(to, sizeof to, "%s/.hidden.pub", allowed);
    s_write(to, "public = nothing\n", 17);

    char pub[41];
    uint8_t alice[32], carol[32], mallory[32];
    snprintf(from, sizeof from, "%s/alice.pub", allowed);
    assert_int_equal(tr_key_load(from, pub, NULL), TR_OK);
    assert_non_null(zmq_z85_decode(alice, pub));
    snprintf(from, sizeof from, "%s/carol.pub", keys);
    assert_int_equal(tr_key_load(from, pub, NULL), TR_OK);
    assert_non_null(zmq_z85_decode(carol, pub));
    snprintf(from, sizeof from, "%s/mallory.pub", keys);
    assert_int_equal(tr_key_load(from, pub, NULL), TR_OK);
    assert_non_null(zmq_z85_decode(mallory, pub));
    char mallory_z85[41];
    snprintf(mallory_z85, sizeof mallory_z85, "%s", pub);

    void *req = tr__sys_socket(ZMQ_REQ);
    assert_non_null(req);
    assert_int_equal(zmq_connect(req, ZAP_ENDPOINT), 0);
    uint64_t denied = 0;
    assert_int_equal(tr__zap_handle(g_zap, allowed, &denied), TR_EEMPTY);
    assert_int_equal(tr__zap_handle(NULL, allowed, &denied), TR_EINVAL);
    /* One handler per context. */
    assert_null(tr__zap_bind());

    s_zap_answer a = s_zap_curve(req, "troupe", alice, 32, allowed, &denied);
    assert_int_equal(a.frames, 6);
    assert_string_equal(a.status, "200");
    assert_string_equal(a.user, "alice");
    a = s_zap_curve(req, "troupe", carol, 32, allowed, &denied);
    assert_string_equal(a.status, "200");
    assert_string_equal(a.user, "carol");
    assert_int_equal(denied, 0);

    /* Refusals are counted and logged (stderr caught in a file). */
    char log[128], text[4096];
    s_at(log, sizeof log, "stderr.log");
    int fd = open(log, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int saved = dup(STDERR_FILENO);
    assert_true(fd >= 0 && saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    a = s_zap_curve(req, "troupe", mallory, 32, allowed, &denied);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    close(fd);
    assert_string_equal(a.status, "400");
    assert_string_equal(a.user, "");
    assert_int_equal(denied, 1);
    s_read(log, text, sizeof text);
    assert_non_null(strstr(text, " W TR-WORK-DENIED "));
    assert_non_null(strstr(text, "127.0.0.1"));
    assert_non_null(strstr(text, mallory_z85));

    a = s_zap_curve(req, "other", alice, 32, allowed, &denied); /* not troupe's domain */
    assert_string_equal(a.status, "400");
    assert_int_equal(denied, 2);
    s_at(to, sizeof to, "no-such-dir");
    a = s_zap_curve(req, "troupe", alice, 32, to, &denied);
    assert_string_equal(a.status, "400");
    assert_int_equal(denied, 3);
    a = s_zap_curve(req, "troupe", alice, 32, NULL, &denied);
    assert_string_equal(a.status, "400");
    assert_int_equal(denied, 4);

    /* Other mechanisms: refused and counted. */
    const char *plain[] = {"1.0", "8", "troupe", "127.0.0.1", "", "PLAIN", "admin", "secret"};
    size_t plain_z[] = {3, 1, 6, 9, 0, 5, 5, 6};
    a = s_zap_ask(req, plain, plain_z, 8, allowed, &denied);
    assert_string_equal(a.status, "400");
    assert_int_equal(denied, 5);
    a = s_zap_ask(req, plain, plain_z, 6, allowed, &denied); /* NULL-like: no credentials */
    assert_string_equal(a.status, "400");
    assert_int_equal(denied, 6);

    /* Malformed: answered, not counted. */
    a = s_zap_curve(req, "troupe", alice, 31, allowed, &denied);
    assert_string_equal(a.status, "500");
    const char *bad_version[] = {"2.0", "9", "troupe", "127.0.0.1", "", "CURVE", "x"};
    size_t bad_version_z[] = {3, 1, 6, 9, 0, 5, 1};
    a = s_zap_ask(req, bad_version, bad_version_z, 7, allowed, &denied);
    assert_string_equal(a.status, "500");
    a = s_zap_ask(req, bad_version, bad_version_z, 1, allowed, &denied);
    assert_int_equal(a.frames, 6);
    assert_string_equal(a.status, "500");
    const char *many[20];
    size_t many_z[20];
    for (int i = 0; i < 20; i++) {
        many[i] = i == 0 ? "1.0" : "x";
        many_z[i] = i == 0 ? 3 : 1;
    }
    a = s_zap_ask(req, many, many_z, 20, allowed, &denied);
    assert_string_equal(a.status, "500");
    assert_int_equal(denied, 6);
    /* ... and the handler is still in step with its REP. */
    a = s_zap_curve(req, "troupe", alice, 32, allowed, &denied);
    assert_string_equal(a.status, "200");

    tr__sys_close(&req);
}

/* ---- CURVE over tcp ----------------------------------------------------------- */

enum { UNTIL_REPLY, UNTIL_DENIED, UNTIL_MISMATCH };

typedef struct {
    void *server, *mon;
    const char *allowed;
    uint64_t denied;      /* the handler's count */
    unsigned mismatches;  /* handshakes the server failed for a mechanism mismatch */
    unsigned replies;     /* replies the current client received */
} s_rig;

static void s_rig_read_monitor(s_rig *r)
{
    for (;;) {
        uint8_t ev[6];
        char endpoint[256];
        if (zmq_recv(r->mon, ev, sizeof ev, ZMQ_DONTWAIT) < 0)
            return;
        assert_true(zmq_recv(r->mon, endpoint, sizeof endpoint, 0) >= 0);
        uint16_t event;
        uint32_t value;
        memcpy(&event, ev, 2);
        memcpy(&value, ev + 2, 4);
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
            value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            r->mismatches++;
    }
}

/* Serves the ZAP handler and the server (which answers "pong" to
 * anything) and reads client's replies, until what is reached (a reply;
 * denied or mismatches above base) or timeout_ms passes. */
static bool s_serve(s_rig *r, void *client, int what, uint64_t base, int timeout_ms)
{
    long long deadline = trt_now_ms() + timeout_ms;
    for (;;) {
        bool done = what == UNTIL_REPLY    ? r->replies > 0
                    : what == UNTIL_DENIED ? r->denied > base
                                           : r->mismatches > base;
        long long left = deadline - trt_now_ms();
        if (done || left <= 0)
            return done;
        zmq_pollitem_t it[] = {
            {g_zap, 0, ZMQ_POLLIN, 0},
            {r->server, 0, ZMQ_POLLIN, 0},
            {r->mon, 0, ZMQ_POLLIN, 0},
            {client, 0, ZMQ_POLLIN, 0},
        };
        int k = zmq_poll(it, client ? 4 : 3, (long)left);
        assert_true(k >= 0 || errno == EINTR);
        int rc;
        while ((rc = tr__zap_handle(g_zap, r->allowed, &r->denied)) == TR_OK)
            ;
        assert_int_equal(rc, TR_EEMPTY);
        for (;;) {
            char id[256], body[64];
            int n = zmq_recv(r->server, id, sizeof id, ZMQ_DONTWAIT);
            if (n < 0)
                break;
            assert_true(zmq_recv(r->server, body, sizeof body, 0) >= 0);
            assert_true(zmq_send(r->server, id, (size_t)n, ZMQ_SNDMORE) == n);
            assert_int_equal(zmq_send(r->server, "pong", 4, 0), 4);
        }
        s_rig_read_monitor(r);
        for (char buf[16]; client != NULL && zmq_recv(client, buf, sizeof buf, ZMQ_DONTWAIT) >= 0;)
            r->replies++;
    }
}

/* A DEALER that connects to endpoint (a CURVE client when key is not
 * NULL) and sends "ping". */
static void *s_client(const char *endpoint, const char *keys, const char *name)
{
    void *c = tr__sys_socket(ZMQ_DEALER);
    assert_non_null(c);
    int zero = 0;
    assert_int_equal(zmq_setsockopt(c, ZMQ_LINGER, &zero, sizeof zero), 0);
    if (name != NULL) {
        char key[128], broker[128];
        snprintf(key, sizeof key, "%s/%s.key", keys, name);
        snprintf(broker, sizeof broker, "%s/broker.pub", keys);
        assert_int_equal(tr__curve_client(c, key, broker), TR_OK);
    }
    assert_int_equal(zmq_connect(c, endpoint), 0);
    assert_int_equal(zmq_send(c, "ping", 4, 0), 4);
    return c;
}

static void s_allow(const char *keys, const char *allowed, const char *name)
{
    char from[128], to[128];
    snprintf(from, sizeof from, "%s/%s.pub", keys, name);
    snprintf(to, sizeof to, "%s/%s.pub", allowed, name);
    assert_int_equal(link(from, to), 0);
}

static void test_curve_over_tcp(void **state)
{
    (void)state;
    char keys[64], allowed[64], path[128];
    s_mkdir("tk");
    s_mkdir("ta");
    s_at(keys, sizeof keys, "tk");
    s_at(allowed, sizeof allowed, "ta");
    assert_int_equal(tr_keygen(keys, "broker"), TR_OK);
    assert_int_equal(tr_keygen(keys, "alice"), TR_OK);
    assert_int_equal(tr_keygen(keys, "bob"), TR_OK);
    s_allow(keys, allowed, "alice");

    s_rig r = {.allowed = allowed};
    r.server = tr__sys_socket(ZMQ_ROUTER);
    assert_non_null(r.server);
    snprintf(path, sizeof path, "%s/broker.key", keys);
    assert_int_equal(tr__curve_server(r.server, path), TR_OK);
    assert_int_equal(zmq_bind(r.server, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    size_t len = sizeof endpoint;
    assert_int_equal(zmq_getsockopt(r.server, ZMQ_LAST_ENDPOINT, endpoint, &len), 0);
    r.mon = tr__sys_monitor(r.server, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL);
    assert_non_null(r.mon);

    /* A client whose key is allowed gets its reply. */
    void *alice = s_client(endpoint, keys, "alice");
    assert_true(s_serve(&r, alice, UNTIL_REPLY, 0, LONG_MS));
    assert_int_equal(r.denied, 0);

    /* A plain client fails the handshake before ZAP is asked: nothing
     * counted, nothing received. */
    r.replies = 0;
    void *plain = s_client(endpoint, NULL, NULL);
    assert_true(s_serve(&r, plain, UNTIL_MISMATCH, 0, LONG_MS));
    assert_false(s_serve(&r, plain, UNTIL_REPLY, 0, QUIET_MS));
    assert_int_equal(r.denied, 0);
    tr__sys_close(&plain);

    /* A valid key that is not allowed: refused and counted, nothing
     * received. */
    void *bob = s_client(endpoint, keys, "bob");
    assert_true(s_serve(&r, bob, UNTIL_DENIED, 0, LONG_MS));
    assert_false(s_serve(&r, bob, UNTIL_REPLY, 0, QUIET_MS));
    tr__sys_close(&bob);

    /* Allowed now: the next connection gets in, no restart. */
    s_allow(keys, allowed, "bob");
    bob = s_client(endpoint, keys, "bob");
    assert_true(s_serve(&r, bob, UNTIL_REPLY, 0, LONG_MS));
    tr__sys_close(&bob);

    /* Removing a key refuses new connections; one already in stays in. */
    snprintf(path, sizeof path, "%s/alice.pub", allowed);
    assert_int_equal(unlink(path), 0);
    uint64_t before = r.denied;
    void *alice2 = s_client(endpoint, keys, "alice");
    r.replies = 0;
    assert_true(s_serve(&r, alice2, UNTIL_DENIED, before, LONG_MS));
    assert_false(s_serve(&r, alice2, UNTIL_REPLY, 0, QUIET_MS));
    assert_int_equal(zmq_send(alice, "again", 5, 0), 5);
    assert_true(s_serve(&r, alice, UNTIL_REPLY, 0, LONG_MS));

    tr__sys_close(&alice2);
    tr__sys_close(&alice);
    tr__sys_monitor_stop(r.server, &r.mon);
    tr__sys_close(&r.server);
}

static void test_curve_setup_errors(void **state)
{
    (void)state;
    char keys[64], key[128], pub[128], broker[128], none[128];
    s_mkdir("sk");
    s_at(keys, sizeof keys, "sk");
    assert_int_equal(tr_keygen(keys, "broker"), TR_OK);
    assert_int_equal(tr_keygen(keys, "alice"), TR_OK);
    snprintf(key, sizeof key, "%s/alice.key", keys);
    snprintf(pub, sizeof pub, "%s/alice.pub", keys);
    snprintf(broker, sizeof broker, "%s/broker.key", keys);
    snprintf(none, sizeof none, "%s/none.key", keys);
    void *s = tr__sys_socket(ZMQ_DEALER);
    assert_non_null(s);
    assert_int_equal(tr__curve_server(NULL, broker), TR_EINVAL);
    assert_int_equal(tr__curve_server(s, NULL), TR_EINVAL);
    assert_int_equal(tr__curve_server(s, none), TR_ESYSTEM);
    assert_int_equal(tr__curve_server(s, pub), TR_EINVAL); /* no secret */
    assert_int_equal(tr__curve_client(s, key, NULL), TR_EINVAL);
    assert_int_equal(tr__curve_client(s, key, none), TR_ESYSTEM);
    assert_int_equal(tr__curve_client(s, pub, broker), TR_EINVAL);
    assert_int_equal(tr__curve_client(s, key, broker), TR_OK); /* a .key names the broker too */
    tr__sys_close(&s);
}

/* ---- the suite ---------------------------------------------------------------- */

static int s_setup(void **state)
{
    (void)state;
    if (mkdtemp(g_tmp) == NULL)
        return -1;
    g_zap = tr__zap_bind();
    return g_zap != NULL ? 0 : -1;
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int s_teardown(void **state)
{
    (void)state;
    tr__sys_close(&g_zap);
    return nftw(g_tmp, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    trt_private_run_dir();
    if (getenv("TRT_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TRT_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_writes_a_pair),
        cmocka_unit_test(test_key_load_parses_and_rejects),
        cmocka_unit_test(test_zap_answers_requests),
        cmocka_unit_test(test_curve_over_tcp),
        cmocka_unit_test(test_curve_setup_errors),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
