/* work_keys.c: CURVE key files (tr_keygen, tr_key_load), the broker's ZAP
 * handler (tr__zap_bind, tr__zap_handle) and the CURVE set-up of sockets
 * (tr__curve_server, tr__curve_client). docs/security.md is the user's
 * view.
 *
 * Key files are text, one "field = value" per line, '#' comments and blank
 * lines ignored, spaces around '=' tolerated:
 *
 *   # troupe CURVE key pair of alice: keep it secret
 *   public = <40 Z85 characters>
 *   secret = <40 Z85 characters>
 *
 * NAME.key holds both lines (mode 0600), NAME.pub the public line alone
 * (0644). A value is split at the first '=' only: '=' is itself a Z85
 * character, and so is '#', which is why a comment is a line that starts
 * with '#' and never a '#' later on a line.
 *
 * The ZAP handler (RFC 27, ZAP 1.0) lets a CURVE client in when some *.pub
 * or *.key file of the allowed directory holds its public key. The
 * directory is read again at each request, so that adding or removing a
 * file takes effect for the next connection without a restart. That costs
 * a directory scan and a few small reads per connection attempt: fine for
 * the tens of peers a broker has, and it saves watching the directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/work_internal.h"
#include "core/internal.h"
#include "troupe/work.h"

#define KEY_Z85 40            /* a key in Z85, without its NUL */
#define KEY_BYTES 32          /* a key in binary */
#define KEY_FILE_MAX 4096     /* larger is not a key file: refused unread */
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "troupe"
#define ZAP_MAX_FRAMES 16     /* ZAP 1.0 requests have 6 to 8; more is malformed */

static const char s_z85_alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                                     "VWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/* ---- key text ------------------------------------------------------------- */

/* Decodes a 40-character Z85 key into out. Checks the alphabet itself and
 * that the text is the canonical encoding of what it decodes to: older
 * libzmq decoders read a character outside the alphabet as '0', and a
 * group of five can overflow 32 bits, so two texts could otherwise name
 * the same key. */
static bool s_key_decode(const char *z85, uint8_t out[KEY_BYTES])
{
    if (strlen(z85) != KEY_Z85 || strspn(z85, s_z85_alphabet) != KEY_Z85)
        return false;
    if (zmq_z85_decode(out, z85) == NULL)
        return false;
    char again[KEY_Z85 + 1];
    return zmq_z85_encode(again, out, KEY_BYTES) != NULL && memcmp(again, z85, KEY_Z85) == 0;
}

static char *s_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Reads the key file at path into pub (41 bytes) and, when sec is not
 * NULL, sec (41 bytes). why (may be NULL) receives the reason of a
 * failure, for the caller's log. TR_OK, TR_EINVAL (malformed, or no secret
 * where one is asked for), TR_ESYSTEM (cannot be read; errno kept). */
static int s_key_read(const char *path, char *pub, char *sec, char *why, size_t whylen)
{
    char unwanted[1]; /* where a reason nobody asked for goes */
    if (why == NULL) {
        why = unwanted;
        whylen = sizeof unwanted;
    }
    why[0] = '\0';
    /* O_NONBLOCK: a FIFO dropped in the allowed directory must not stall
     * the broker's loop; anything but a regular file is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        snprintf(why, whylen, "cannot open: %s", strerror(e));
        errno = e;
        return TR_ESYSTEM;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        snprintf(why, whylen, "cannot stat: %s", strerror(e));
        close(fd);
        errno = e;
        return TR_ESYSTEM;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
        snprintf(why, whylen, "%s", S_ISREG(st.st_mode) ? "too large" : "not a regular file");
        close(fd);
        return TR_EINVAL;
    }
    char buf[KEY_FILE_MAX + 2];
    size_t len = 0;
    for (;;) {
        ssize_t k = read(fd, buf + len, sizeof buf - 1 - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int e = errno;
            snprintf(why, whylen, "cannot read: %s", strerror(e));
            close(fd);
            explicit_bzero(buf, sizeof buf);
            errno = e;
            return TR_ESYSTEM;
        }
        if (k == 0 || (len += (size_t)k) == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';

    int rc = TR_OK;
    char pub_text[KEY_Z85 + 1] = "", sec_text[KEY_Z85 + 1] = "";
    uint8_t bin[KEY_BYTES];
    if (len > KEY_FILE_MAX) {
        snprintf(why, whylen, "too large");
        rc = TR_EINVAL;
    } else if (memchr(buf, '\0', len) != NULL) {
        snprintf(why, whylen, "not a text file");
        rc = TR_EINVAL;
    }
    int lineno = 0;
    /* Split by hand, not with strtok_r (which skips empty lines), so that
     * the line numbers in messages are right. */
    for (char *line = buf, *next; rc == TR_OK && line != NULL; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *s = s_trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(why, whylen, "line %d: no '='", lineno);
            rc = TR_EINVAL;
            break;
        }
        *eq = '\0';
        const char *field = s_trim(s), *value = s_trim(eq + 1);
        char *slot = strcmp(field, "public") == 0   ? pub_text
                     : strcmp(field, "secret") == 0 ? sec_text
                                                    : NULL;
        if (slot == NULL) {
            snprintf(why, whylen, "line %d: unknown field '%.16s'", lineno, field);
            rc = TR_EINVAL;
        } else if (slot[0] != '\0') {
            snprintf(why, whylen, "line %d: %s given twice", lineno, field);
            rc = TR_EINVAL;
        } else if (!s_key_decode(value, bin)) {
            snprintf(why, whylen, "line %d: %s is not a 40-character Z85 key", lineno, field);
            rc = TR_EINVAL;
        } else {
            memcpy(slot, value, KEY_Z85 + 1);
        }
    }
    explicit_bzero(buf, sizeof buf);
    explicit_bzero(bin, sizeof bin);

    if (rc == TR_OK && pub_text[0] == '\0') {
        snprintf(why, whylen, "no public key");
        rc = TR_EINVAL;
    } else if (rc == TR_OK && sec != NULL && sec_text[0] == '\0') {
        snprintf(why, whylen, "no secret key (a .pub file where a .key is needed?)");
        rc = TR_EINVAL;
    }
    /* Checked whether or not the caller wants the secret: a file whose two
     * halves do not match is damaged, and must not be half-trusted. */
    if (rc == TR_OK && sec_text[0] != '\0') {
        char derived[KEY_Z85 + 1];
        if (zmq_curve_public(derived, sec_text) != 0) {
            snprintf(why, whylen, "cannot derive the public key: %s", zmq_strerror(errno));
            rc = TR_ESYSTEM;
        } else if (strcmp(derived, pub_text) != 0) {
            snprintf(why, whylen, "the public key does not match the secret key");
            rc = TR_EINVAL;
        }
    }
    if (rc == TR_OK) {
        memcpy(pub, pub_text, KEY_Z85 + 1);
        if (sec != NULL)
            memcpy(sec, sec_text, KEY_Z85 + 1);
    }
    explicit_bzero(sec_text, sizeof sec_text);
    return rc;
}

/* s_key_read, logging why it failed at the given level (errno kept). */
static int s_key_logged(const char *path, char *pub, char *sec, int level)
{
    char why[128];
    int rc = s_key_read(path, pub, sec, why, sizeof why);
    if (rc != TR_OK) {
        int e = errno;
        tr_log(level, "TR-WORK-KEY", "%s: %s", path, why);
        errno = e;
    }
    return rc;
}

int tr_key_load(const char *path, char *public_key, char *secret_key)
{
    if (path == NULL || public_key == NULL)
        return TR_EINVAL;
    return s_key_logged(path, public_key, secret_key, TR_LOG_DEBUG);
}

/* ---- tr_keygen ---------------------------------------------------------------- */

/* Writes text to a new file at path with exactly mode (fchmod, since the
 * umask could take bits off 0644), synced, so that a crash right after
 * keygen cannot leave an empty key file. TR_OK, TR_EEXIST, TR_ESYSTEM;
 * on failure nothing is left at path. */
static int s_write_new(const char *path, mode_t mode, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0)
        return errno == EEXIST ? TR_EEXIST : TR_ESYSTEM;
    size_t len = strlen(text), off = 0;
    bool ok = fchmod(fd, mode) == 0;
    while (ok && off < len) {
        ssize_t k = write(fd, text + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        ok = k > 0;
        off += ok ? (size_t)k : 0;
    }
    ok = ok && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        int e = errno;
        unlink(path);
        errno = e;
        return TR_ESYSTEM;
    }
    return TR_OK;
}

int tr_keygen(const char *dir, const char *name)
{
    if (dir == NULL || name == NULL || !tr_name_valid(name))
        return TR_EINVAL;
    if (!zmq_has("curve")) {
        tr_log(TR_LOG_ERROR, "TR-WORK-CURVE", "this libzmq has no CURVE support");
        errno = ENOTSUP;
        return TR_ESYSTEM;
    }
    char key_path[PATH_MAX], pub_path[PATH_MAX];
    int k1 = snprintf(key_path, sizeof key_path, "%s/%s.key", dir, name);
    int k2 = snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir, name);
    if (k1 < 0 || k2 < 0 || (size_t)k1 >= sizeof key_path || (size_t)k2 >= sizeof pub_path) {
        errno = ENAMETOOLONG;
        return TR_ESYSTEM;
    }
    char pub[KEY_Z85 + 1], sec[KEY_Z85 + 1];
    if (zmq_curve_keypair(pub, sec) != 0)
        return TR_ESYSTEM;
    char text[256];
    snprintf(text, sizeof text,
             "# troupe CURVE key pair of %s: keep it secret\npublic = %s\nsecret = %s\n", name,
             pub, sec);
    explicit_bzero(sec, sizeof sec);
    int rc = s_write_new(key_path, 0600, text);
    explicit_bzero(text, sizeof text);
    if (rc != TR_OK)
        return rc;
    snprintf(text, sizeof text,
             "# troupe CURVE public key of %s: give it to whoever must trust %s\n"
             "public = %s\n",
             name, name, pub);
    rc = s_write_new(pub_path, 0644, text);
    if (rc != TR_OK) { /* no half pair: a .key without its .pub */
        int e = errno;
        unlink(key_path);
        errno = e;
    }
    return rc;
}

/* ---- the ZAP handler -------------------------------------------------------- */

void *tr__zap_bind(void)
{
    void *zap = tr__sys_socket(ZMQ_REP);
    if (zap == NULL) {
        int e = errno;
        tr_log(TR_LOG_ERROR, "TR-WORK-ZAP", "cannot make the ZAP socket: %s", zmq_strerror(e));
        errno = e;
        return NULL;
    }
    if (zmq_bind(zap, ZAP_ENDPOINT) != 0) {
        int e = errno;
        /* EADDRINUSE: a ZAP handler already runs in this process's context. */
        tr_log(TR_LOG_ERROR, "TR-WORK-ZAP", "cannot bind %s: %s", ZAP_ENDPOINT, zmq_strerror(e));
        tr__sys_close(&zap);
        errno = e;
        return NULL;
    }
    return zap;
}

/* Copies a frame into buf as printable text, for logs: the frames of a
 * request are not to be trusted with a terminal. */
static const char *s_printable(zmq_msg_t *m, char *buf, size_t len)
{
    const unsigned char *p = zmq_msg_data(m);
    size_t n = zmq_msg_size(m), i;
    for (i = 0; i < n && i + 1 < len; i++)
        buf[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    buf[i] = '\0';
    return buf;
}

static bool s_frame_is(zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}

/* The directory entries that may hold allowed keys: NAME.pub or NAME.key
 * where NAME is a valid actor name (so the user id it becomes is safe to
 * log and hidden or editor files are left out). */
static int s_key_entry(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    if (n < 5 || n > 64 + 4 ||
        (strcmp(e->d_name + n - 4, ".pub") != 0 && strcmp(e->d_name + n - 4, ".key") != 0))
        return 0;
    char base[65];
    memcpy(base, e->d_name, n - 4);
    base[n - 4] = '\0';
    return tr_name_valid(base);
}

/* Looks for key in dir's key files, in name order (so that a key held by
 * two files always gets the same user id). 1 found (user set to the file's
 * base name), 0 not found, -1 the directory cannot be read (errno). */
static int s_allowed_find(const char *dir, const uint8_t key[KEY_BYTES], char *user,
                          size_t userlen)
{
    if (dir == NULL) {
        errno = EINVAL;
        return -1;
    }
    struct dirent **list;
    int n = scandir(dir, &list, s_key_entry, alphasort);
    if (n < 0)
        return -1;
    int found = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], pub[KEY_Z85 + 1], why[128];
        uint8_t bin[KEY_BYTES];
        int k = snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        if (!found && k > 0 && (size_t)k < sizeof path) {
            if (s_key_read(path, pub, NULL, why, sizeof why) != TR_OK)
                tr_log(TR_LOG_DEBUG, "TR-WORK-KEY", "%s skipped: %s", path, why);
            else if (s_key_decode(pub, bin) && memcmp(bin, key, KEY_BYTES) == 0) {
                found = 1;
                snprintf(user, userlen, "%.*s", (int)strlen(list[i]->d_name) - 4,
                         list[i]->d_name);
            }
        }
        free(list[i]);
    }
    free(list);
    return found;
}

/* Sends a ZAP 1.0 reply: version, request id, status, text, user id, and
 * empty metadata. A REP must answer before it can read again, so every
 * request gets one, even a malformed one. */
static int s_zap_reply(void *zap, zmq_msg_t *request_id, const char *status, const char *text,
                       const char *user)
{
    const void *id = request_id ? zmq_msg_data(request_id) : "";
    size_t idlen = request_id ? zmq_msg_size(request_id) : 0;
    /* Sends cannot block: a REP routes like a ROUTER, which drops a reply
     * for a peer whose pipe is full or gone rather than wait. */
    if (zmq_send(zap, "1.0", 3, ZMQ_SNDMORE) < 0 || zmq_send(zap, id, idlen, ZMQ_SNDMORE) < 0 ||
        zmq_send(zap, status, strlen(status), ZMQ_SNDMORE) < 0 ||
        zmq_send(zap, text, strlen(text), ZMQ_SNDMORE) < 0 ||
        zmq_send(zap, user, strlen(user), ZMQ_SNDMORE) < 0 || zmq_send(zap, "", 0, 0) < 0) {
        int e = errno;
        tr_log(TR_LOG_ERROR, "TR-WORK-ZAP", "cannot answer a ZAP request: %s", zmq_strerror(e));
        errno = e;
        return TR_ESYSTEM;
    }
    return TR_OK;
}

/* Decides on one well-formed request f[0..n) (version, request id, domain,
 * address, identity, mechanism, credentials...) and answers it. */
static int s_zap_decide(void *zap, zmq_msg_t *f, int n, const char *allowed_dir,
                        uint64_t *denied)
{
    char address[64], mech[16], keytext[KEY_Z85 + 1] = "", user[65] = "";
    s_printable(&f[3], address, sizeof address);
    s_printable(&f[5], mech, sizeof mech);
    const char *reason;
    if (!s_frame_is(&f[5], "CURVE")) {
        reason = "mechanism not allowed";
    } else if (n != 7 || zmq_msg_size(&f[6]) != KEY_BYTES) {
        tr_log(TR_LOG_WARN, "TR-WORK-ZAP", "malformed CURVE request from %s: answered 500",
               address);
        return s_zap_reply(zap, &f[1], "500", "malformed request", "");
    } else {
        const uint8_t *key = zmq_msg_data(&f[6]);
        zmq_z85_encode(keytext, key, KEY_BYTES);
        int found = 0;
        if (!s_frame_is(&f[2], ZAP_DOMAIN)) {
            /* Only troupe's own CURVE sockets (tr__curve_server) may be
             * judged by this handler; any other CURVE server in this
             * context is refused rather than let in by a rule not meant
             * for it. */
            reason = "not troupe's ZAP domain";
        } else if ((found = s_allowed_find(allowed_dir, key, user, sizeof user)) < 0) {
            tr_log(TR_LOG_ERROR, "TR-WORK-ZAP", "cannot read the allowed directory %s: %s",
                   allowed_dir ? allowed_dir : "(none)", strerror(errno));
            reason = "allowed keys unavailable";
        } else if (found == 0) {
            reason = "key not allowed";
        } else {
            tr_log(TR_LOG_INFO, "TR-WORK-ALLOWED", "%s let in as %s, key %s", address, user,
                   keytext);
            return s_zap_reply(zap, &f[1], "200", "OK", user);
        }
    }
    if (denied != NULL)
        ++*denied;
    /* The key goes last: Z85 has ':', '(' and ')' among its characters. */
    tr_log(TR_LOG_WARN, "TR-WORK-DENIED", "refused %s: %s; mechanism %s%s%s", address, reason,
           mech, keytext[0] ? ", key " : "", keytext);
    return s_zap_reply(zap, &f[1], "400", reason, "");
}

int tr__zap_handle(void *zap, const char *allowed_dir, uint64_t *denied)
{
    if (zap == NULL)
        return TR_EINVAL;
    zmq_msg_t f[ZAP_MAX_FRAMES];
    int n = 0, rc = TR_OK;
    bool more = true, extra = false;
    zmq_msg_init(&f[0]);
    if (zmq_msg_recv(&f[0], zap, ZMQ_DONTWAIT) < 0) {
        int e = errno;
        zmq_msg_close(&f[0]);
        errno = e;
        return e == EAGAIN || e == EINTR ? TR_EEMPTY : e == ETERM ? TR_ECLOSED : TR_ESYSTEM;
    }
    n = 1;
    more = zmq_msg_more(&f[0]);
    /* The rest of a multi-part message is there already (ZeroMQ delivers
     * all parts or none); frames beyond ZAP_MAX_FRAMES are read and
     * dropped, so that the REP is left ready to answer. */
    while (more) {
        zmq_msg_t spare, *m = n < ZAP_MAX_FRAMES ? &f[n] : &spare;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, zap, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(m);
            if (e == EINTR)
                continue;
            tr_log(TR_LOG_ERROR, "TR-WORK-ZAP", "cannot read a ZAP request: %s",
                   zmq_strerror(e));
            rc = e == ETERM ? TR_ECLOSED : TR_ESYSTEM;
            break;
        }
        more = zmq_msg_more(m);
        if (m == &spare) {
            extra = true;
            zmq_msg_close(m);
        } else {
            n++;
        }
    }
    if (rc == TR_OK) {
        if (n < 6 || extra || !s_frame_is(&f[0], "1.0")) {
            char version[8];
            tr_log(TR_LOG_WARN, "TR-WORK-ZAP",
                   "malformed ZAP request (frames: %d%s, version '%s'): answered 500", n,
                   extra ? "+" : "", s_printable(&f[0], version, sizeof version));
            rc = s_zap_reply(zap, n >= 2 ? &f[1] : NULL, "500", "malformed request", "");
        } else {
            rc = s_zap_decide(zap, f, n, allowed_dir, denied);
        }
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    return rc;
}

/* ---- CURVE socket set-up ---------------------------------------------------- */

static int s_setopt(void *sock, int option, const void *value, size_t len, const char *what)
{
    if (zmq_setsockopt(sock, option, value, len) == 0)
        return TR_OK;
    int e = errno;
    tr_log(TR_LOG_ERROR, "TR-WORK-CURVE", "cannot set %s: %s%s", what, zmq_strerror(e),
           zmq_has("curve") ? "" : " (this libzmq has no CURVE support)");
    errno = e;
    return TR_ESYSTEM;
}

/* Loads a key file for a socket's set-up: a failure there is an error. */
static int s_key_for_socket(const char *path, char *pub, char *sec)
{
    return s_key_logged(path, pub, sec, TR_LOG_ERROR);
}

int tr__curve_server(void *sock, const char *key_file)
{
    if (sock == NULL || key_file == NULL)
        return TR_EINVAL;
    char pub[KEY_Z85 + 1], sec[KEY_Z85 + 1];
    int one = 1;
    int rc = s_key_for_socket(key_file, pub, sec);
    if (rc == TR_OK)
        rc = s_setopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one, "ZMQ_CURVE_SERVER");
    if (rc == TR_OK)
        rc = s_setopt(sock, ZMQ_CURVE_SECRETKEY, sec, sizeof sec, "ZMQ_CURVE_SECRETKEY");
    /* With a domain set, libzmq would also ask the handler about NULL
     * peers on endpoints bound from now on; the broker binds its ipc
     * endpoints before calling this, so they stay out of ZAP. */
    if (rc == TR_OK)
        rc = s_setopt(sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN), "ZMQ_ZAP_DOMAIN");
    explicit_bzero(sec, sizeof sec);
    return rc;
}

int tr__curve_client(void *sock, const char *key_file, const char *broker_key)
{
    if (sock == NULL || key_file == NULL || broker_key == NULL)
        return TR_EINVAL;
    char pub[KEY_Z85 + 1], sec[KEY_Z85 + 1], server[KEY_Z85 + 1];
    int rc = s_key_for_socket(key_file, pub, sec);
    if (rc == TR_OK)
        rc = s_key_for_socket(broker_key, server, NULL);
    if (rc == TR_OK)
        rc = s_setopt(sock, ZMQ_CURVE_SERVERKEY, server, sizeof server, "ZMQ_CURVE_SERVERKEY");
    if (rc == TR_OK)
        rc = s_setopt(sock, ZMQ_CURVE_PUBLICKEY, pub, sizeof pub, "ZMQ_CURVE_PUBLICKEY");
    if (rc == TR_OK)
        rc = s_setopt(sock, ZMQ_CURVE_SECRETKEY, sec, sizeof sec, "ZMQ_CURVE_SECRETKEY");
    explicit_bzero(sec, sizeof sec);
    return rc;
}
