/* sys.c: troupe's only global state, in one place.
 *
 * What lives here and why:
 *  - settings (log level, message limit, high-water mark, linger, run dir
 *    base), each read once from the environment;
 *  - the run directory of this system, where ipc:// sockets live, guarded by
 *    an flock()ed file so that a directory whose processes all died can be
 *    recognised and removed by the next root;
 *  - the ZeroMQ context of this process and the sockets troupe made on it, so
 *    that an actor's orderly exit closes them (sending what lingers) before
 *    the context is terminated, and so that a forked child can abandon the
 *    parent's context without touching it.
 */
#include "troupe/sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "core/internal.h"
#include "troupe/error.h"

/* sun_path holds 108 bytes including the terminating NUL. */
#define TR_IPC_PATH_MAX 107
#define TR_NAME_MAX 64
#define TR_BASE_MAX 256
/* "<base>/<pid>-XXXXXX/<name>/<slot>" must fit sun_path: a base of up to
 * TR_BASE_ROOMY bytes leaves room for names of TR_NAME_MAX; a base of up to
 * TR_BASE_LONGEST leaves room for names of 24. */
#define TR_BASE_ROOMY 24
#define TR_BASE_LONGEST 64
#define TR_EXIT_HOOKS 8

static struct {
    /* settings */
    int log_level;
    size_t max_msg;
    int hwm;
    int linger_ms;
    int exit_wait_ms;
    char base[TR_BASE_MAX];
    bool base_from_env; /* TROUPE_RUN_DIR: no fallback */

    /* the run directory; set once by the root, inherited by actors */
    pid_t root_pid;
    char run_dir[TR_BASE_MAX + 32];
    int lock_fd;

    /* this process's context and the sockets troupe made on it */
    void *ctx;
    pid_t ctx_pid;
    void **sockets;
    size_t nsockets, capsockets;

    char self_name[TR_NAME_MAX + 1];
    void (*exit_hooks[2][TR_EXIT_HOOKS])(void);
    int nexit_hooks[2];
} s_sys = {.lock_fd = -1};

static pthread_once_t s_settings_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static long s_env_long(const char *name, long dflt, long lo, long hi)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return dflt;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < lo || n > hi) {
        fprintf(stderr, "troupe: ignoring %s=%s (expected %ld..%ld)\n", name, v, lo, hi);
        return dflt;
    }
    return n;
}

static void s_settings_load(void)
{
    s_sys.log_level = TR_LOG_WARN;
    const char *lv = getenv("TROUPE_LOG_LEVEL");
    if (lv != NULL) {
        static const char *names[] = {"error", "warn", "info", "debug"};
        for (int i = 0; i < 4; i++)
            if (strcmp(lv, names[i]) == 0)
                s_sys.log_level = i;
    }
    s_sys.max_msg = (size_t)s_env_long("TROUPE_MAX_MSG", 16L << 20, 1, INT_MAX);
    s_sys.hwm = (int)s_env_long("TROUPE_HWM", 1000, 1, INT_MAX);
    s_sys.linger_ms = (int)s_env_long("TROUPE_LINGER_MS", 1000, -1, INT_MAX);
    s_sys.exit_wait_ms = (int)s_env_long("TROUPE_EXIT_WAIT_MS", 10000, -1, INT_MAX);

    const char *base = getenv("TROUPE_RUN_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    s_sys.base_from_env = base != NULL && *base != '\0';
    if (s_sys.base_from_env)
        snprintf(s_sys.base, sizeof s_sys.base, "%s", base);
    else if (xdg != NULL && *xdg == '/' && strlen(xdg) + 7 <= TR_BASE_ROOMY)
        snprintf(s_sys.base, sizeof s_sys.base, "%s/troupe", xdg);
    else
        snprintf(s_sys.base, sizeof s_sys.base, "/tmp/troupe-%u", (unsigned)geteuid());
    if (s_sys.self_name[0] == '\0')
        snprintf(s_sys.self_name, sizeof s_sys.self_name, "main");
}

static void s_settings(void)
{
    pthread_once(&s_settings_once, s_settings_load);
}

/* ---- pid ----------------------------------------------------------------- */

static pid_t s_pid;
static pthread_once_t s_pid_once = PTHREAD_ONCE_INIT;

static void s_pid_forked(void)
{
    s_pid = 0;
}

static void s_pid_init(void)
{
    pthread_atfork(NULL, NULL, s_pid_forked);
}

pid_t tr__pid(void)
{
    if (s_pid == 0) {
        pthread_once(&s_pid_once, s_pid_init);
        s_pid = getpid();
    }
    return s_pid;
}

/* ---- time ---------------------------------------------------------------- */

long long tr__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

long long tr__now_ms(void)
{
    return tr__now_us() / 1000;
}

long long tr__deadline_ms(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : tr__now_ms() + timeout_ms;
}

int tr__remaining_ms(long long deadline_ms)
{
    if (deadline_ms < 0)
        return -1;
    long long left = deadline_ms - tr__now_ms();
    return left < 0 ? 0 : (left > INT_MAX ? INT_MAX : (int)left);
}

/* ---- logging ------------------------------------------------------------- */

void tr_log(int level, const char *id, const char *fmt, ...)
{
    s_settings();
    if (level > s_sys.log_level)
        return;
    static const char letters[] = "EWID";
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %c %s %s[%d] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, letters[level & 3], id,
                     s_sys.self_name, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* One write(2) per line so lines from many processes do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

/* ---- settings ------------------------------------------------------------ */

int tr_sys_log_level(void) { s_settings(); return s_sys.log_level; }
size_t tr_sys_max_msg_size(void) { s_settings(); return s_sys.max_msg; }
int tr_sys_hwm(void) { s_settings(); return s_sys.hwm; }
int tr_sys_linger_ms(void) { s_settings(); return s_sys.linger_ms; }
int tr_sys_exit_wait_ms(void) { s_settings(); return s_sys.exit_wait_ms; }

int tr_sys_set_exit_wait_ms(int ms)
{
    if (ms < -1)
        return TR_EINVAL;
    s_settings();
    s_sys.exit_wait_ms = ms;
    return TR_OK;
}

int tr_sys_set_log_level(int level)
{
    if (level < TR_LOG_ERROR || level > TR_LOG_DEBUG)
        return TR_EINVAL;
    s_settings();
    s_sys.log_level = level;
    return TR_OK;
}

int tr_sys_set_max_msg_size(size_t bytes)
{
    if (bytes == 0 || bytes > INT_MAX)
        return TR_EINVAL;
    s_settings();
    s_sys.max_msg = bytes;
    return TR_OK;
}

int tr_sys_set_hwm(int messages)
{
    if (messages < 1)
        return TR_EINVAL;
    s_settings();
    s_sys.hwm = messages;
    return TR_OK;
}

int tr_sys_set_linger_ms(int ms)
{
    if (ms < -1)
        return TR_EINVAL;
    s_settings();
    s_sys.linger_ms = ms;
    return TR_OK;
}

/* ---- names and the run directory ------------------------------------------ */

int tr_name_valid(const char *name)
{
    if (name == NULL || name[0] == '\0' || name[0] == '.')
        return 0;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok || n >= TR_NAME_MAX)
            return 0;
    }
    return 1;
}

static int s_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void s_rm_tree(const char *path)
{
    nftw(path, s_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Whether the lock file at path exists and nobody holds it. */
static int s_lock_free(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1; /* no such file */
    int free_ = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd);
    return free_;
}

/* A run directory is stale when nobody holds its lock: every process of that
 * system has exited (the lock descriptor is inherited by all of them). A
 * root that died while making its directory left only ".lock.new", or no
 * lock at all; the latter counts as stale once it is a minute old. */
static void s_clean_stale(void)
{
    DIR *d = opendir(s_sys.base);
    if (d == NULL)
        return;
    struct dirent *e;
    char dir[PATH_MAX], path[PATH_MAX + 16];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(dir, sizeof dir, "%s/%s", s_sys.base, e->d_name);
        snprintf(path, sizeof path, "%s/.lock", dir);
        int state = s_lock_free(path);
        if (state < 0) {
            snprintf(path, sizeof path, "%s/.lock.new", dir);
            state = s_lock_free(path);
        }
        struct stat st;
        if (state < 0 && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
            time(NULL) - st.st_mtime > 60)
            state = 1;
        if (state == 1) {
            s_rm_tree(dir);
            tr_log(TR_LOG_INFO, "TR-RUNDIR-STALE", "removed stale run directory %s", dir);
        }
    }
    closedir(d);
}

static void s_run_exit_hooks(void)
{
    for (int phase = 0; phase < 2; phase++)
        for (int i = 0; i < s_sys.nexit_hooks[phase]; i++)
            s_sys.exit_hooks[phase][i]();
    s_sys.nexit_hooks[0] = s_sys.nexit_hooks[1] = 0;
}

static void s_close_all(void);
static void s_register_atexit(void);

static void s_atexit(void)
{
    s_run_exit_hooks();
    s_close_all();
    /* Only the root removes the run directory, at its orderly exit, and only
     * when no other process of the system still holds the lock: orphaned
     * actors (children of a killed actor) may still live in it. Our own
     * descriptor is closed first; a fresh one then gets the lock only if no
     * other process shares the old one. An actor that calls exit() itself
     * must not take the directory away either, hence the pid check. */
    if (s_sys.root_pid == getpid() && s_sys.run_dir[0] != '\0') {
        char lock[sizeof s_sys.run_dir + 8];
        snprintf(lock, sizeof lock, "%s/.lock", s_sys.run_dir);
        close(s_sys.lock_fd);
        s_sys.lock_fd = -1;
        int fd = open(lock, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
            s_rm_tree(s_sys.run_dir);
        else
            tr_log(TR_LOG_INFO, "TR-RUNDIR-KEPT", "%s is still in use; the next root removes it",
                   s_sys.run_dir);
        if (fd >= 0)
            close(fd);
        s_sys.run_dir[0] = '\0';
    }
}

static int s_make_base(void)
{
    if (mkdir(s_sys.base, 0700) != 0 && errno != EEXIST) {
        /* $XDG_RUNTIME_DIR is only a preference: fall back to /tmp. */
        if (s_sys.base_from_env)
            return TR_ESYSTEM;
        snprintf(s_sys.base, sizeof s_sys.base, "/tmp/troupe-%u", (unsigned)geteuid());
        if (mkdir(s_sys.base, 0700) != 0 && errno != EEXIST)
            return TR_ESYSTEM;
    }
    struct stat st;
    if (lstat(s_sys.base, &st) != 0)
        return TR_ESYSTEM;
    /* Refuse a base somebody else owns: they could read our sockets. */
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        errno = EACCES;
        return TR_ESYSTEM;
    }
    if ((st.st_mode & 077) != 0 && chmod(s_sys.base, 0700) != 0)
        return TR_ESYSTEM;
    return TR_OK;
}

int tr_sys_init(void)
{
    s_settings();
    pthread_mutex_lock(&s_lock);
    int rc = TR_OK;
    if (s_sys.run_dir[0] != '\0')
        goto out;
    if (strlen(s_sys.base) > TR_BASE_LONGEST) {
        tr_log(TR_LOG_ERROR, "TR-RUNDIR-LONG", "run directory base %s is too long for ipc://",
               s_sys.base);
        rc = TR_EINVAL;
        goto out;
    }
    if ((rc = s_make_base()) != TR_OK)
        goto out;
    s_clean_stale();

    char dir[sizeof s_sys.base + 32];
    snprintf(dir, sizeof dir, "%s/%d-XXXXXX", s_sys.base, (int)getpid());
    if (mkdtemp(dir) == NULL) {
        rc = TR_ESYSTEM;
        goto out;
    }
    char lock[sizeof dir + 16];
    snprintf(lock, sizeof lock, "%s/.names", dir);
    if (mkdir(lock, 0700) != 0) {
        int e = errno;
        rmdir(dir);
        errno = e;
        rc = TR_ESYSTEM;
        goto out;
    }
    /* Lock the file before it has the name cleaners look for, so no other
     * root can ever see it unlocked. */
    char tmp[sizeof lock + 8];
    snprintf(tmp, sizeof tmp, "%s/.lock.new", dir);
    snprintf(lock, sizeof lock, "%s/.lock", dir);
    int fd = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0 || rename(tmp, lock) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        s_rm_tree(dir);
        errno = e;
        rc = TR_ESYSTEM;
        goto out;
    }
    s_sys.lock_fd = fd;
    s_sys.root_pid = getpid();
    snprintf(s_sys.run_dir, sizeof s_sys.run_dir, "%s", dir);
    s_register_atexit();
out:
    pthread_mutex_unlock(&s_lock);
    return rc;
}

const char *tr_sys_run_base(void)
{
    s_settings();
    return s_sys.base;
}

const char *tr_sys_run_dir(void)
{
    return tr_sys_init() == TR_OK ? s_sys.run_dir : NULL;
}

int tr_sys_address(const char *name, char *buf, size_t len)
{
    if (!tr_name_valid(name) || buf == NULL)
        return TR_EINVAL;
    int rc = tr_sys_init();
    if (rc != TR_OK)
        return rc;
    int n = snprintf(buf, len, "ipc://%s/%s", s_sys.run_dir, name);
    if (n < 0 || (size_t)n >= len)
        return TR_EINVAL;
    /* Room for a queue's "/<slot>" under the name, within sun_path. */
    if ((size_t)n - strlen("ipc://") + 3 > TR_IPC_PATH_MAX) {
        tr_log(TR_LOG_ERROR, "TR-NAME-LONG", "%s: too long for ipc:// under %s", name,
               s_sys.run_dir);
        return TR_EINVAL;
    }
    return TR_OK;
}

int tr__sys_lock_fd(void)
{
    return s_sys.lock_fd;
}

const char *tr__sys_self_name(void)
{
    s_settings();
    return s_sys.self_name;
}

static void s_atexit(void);

/* atexit runs s_atexit at an orderly exit of any process that uses troupe,
 * not only of a root: a program that only opens tcp queues or pipes never
 * makes a run directory, yet has producers and pipe ends to close. Forked
 * children inherit both the registration and the flag. */
static void s_register_atexit(void)
{
    static bool registered;
    if (!registered) {
        registered = true;
        atexit(s_atexit);
    }
}

void tr__sys_add_exit_hook(int phase, void (*hook)(void))
{
    s_register_atexit();
    int *n = &s_sys.nexit_hooks[phase != 0];
    void (**hooks)(void) = s_sys.exit_hooks[phase != 0];
    for (int i = 0; i < *n; i++)
        if (hooks[i] == hook)
            return;
    if (*n < TR_EXIT_HOOKS)
        hooks[(*n)++] = hook;
}

/* ---- context and sockets ------------------------------------------------- */

void *tr__sys_ctx(void)
{
    s_settings();
    pid_t me = getpid();
    if (s_sys.ctx != NULL && s_sys.ctx_pid == me)
        return s_sys.ctx;
    if (s_sys.ctx != NULL) {
        /* Forked behind our back (a plain fork()): the parent's context and
         * sockets are unusable here and must not be closed or terminated. */
        s_sys.nsockets = 0;
    }
    void *ctx = zmq_ctx_new();
    if (ctx == NULL)
        return NULL;
    /* Sockets troupe makes are closed with an explicit linger, so a blocky
     * context adds nothing but the risk of a hang at exit. */
    zmq_ctx_set(ctx, ZMQ_BLOCKY, 0);
    s_sys.ctx = ctx;
    s_sys.ctx_pid = me;
    return ctx;
}

void *tr__sys_socket(int type)
{
    void *ctx = tr__sys_ctx();
    if (ctx == NULL)
        return NULL;
    void *s = zmq_socket(ctx, type);
    if (s == NULL)
        return NULL;
    int linger = s_sys.linger_ms, hwm = s_sys.hwm;
    int64_t maxmsg = (int64_t)s_sys.max_msg;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    pthread_mutex_lock(&s_lock);
    if (s_sys.nsockets == s_sys.capsockets) {
        size_t cap = s_sys.capsockets ? s_sys.capsockets * 2 : 16;
        void **grown = realloc(s_sys.sockets, cap * sizeof *grown);
        if (grown == NULL) {
            pthread_mutex_unlock(&s_lock);
            zmq_close(s);
            errno = ENOMEM;
            return NULL;
        }
        s_sys.sockets = grown;
        s_sys.capsockets = cap;
    }
    s_sys.sockets[s_sys.nsockets++] = s;
    pthread_mutex_unlock(&s_lock);
    return s;
}

void *tr__sys_monitor(void *sock, int events)
{
    static unsigned long counter;
    char name[64];
    pthread_mutex_lock(&s_lock);
    unsigned long n = counter++;
    pthread_mutex_unlock(&s_lock);
    snprintf(name, sizeof name, "inproc://tr-monitor-%d-%lu", (int)getpid(), n);
    if (zmq_socket_monitor(sock, name, events) != 0)
        return NULL;
    void *pair = tr__sys_socket(ZMQ_PAIR);
    if (pair != NULL && zmq_connect(pair, name) != 0) {
        int e = errno;
        tr__sys_close(&pair);
        errno = e;
    }
    return pair;
}

int tr__sys_monitor_events(void *pair)
{
    int n = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    /* An event is two frames: the event and value, then the endpoint. */
    while (zmq_msg_recv(&m, pair, ZMQ_DONTWAIT) >= 0)
        if (!zmq_msg_more(&m))
            n++;
    zmq_msg_close(&m);
    return n;
}

void tr__sys_monitor_stop(void *sock, void **pair)
{
    if (sock != NULL && pair != NULL && *pair != NULL)
        zmq_socket_monitor(sock, NULL, 0);
    tr__sys_close(pair);
}

void tr__sys_close(void **sock)
{
    if (sock == NULL || *sock == NULL)
        return;
    pthread_mutex_lock(&s_lock);
    /* O(sockets): a process holds a handful, and close is not a hot path. */
    for (size_t i = 0; i < s_sys.nsockets; i++) {
        if (s_sys.sockets[i] == *sock) {
            s_sys.sockets[i] = s_sys.sockets[--s_sys.nsockets];
            break;
        }
    }
    pthread_mutex_unlock(&s_lock);
    zmq_close(*sock);
    *sock = NULL;
}

void tr__sys_forked(const char *self_name)
{
    s_settings();
    /* The parent's context has no I/O thread here: leave it and its sockets
     * alone. The memory stays reachable through nothing; it dies with us. */
    s_sys.ctx = NULL;
    s_sys.ctx_pid = 0;
    s_sys.nsockets = 0;
    s_sys.nexit_hooks[0] = s_sys.nexit_hooks[1] = 0;
    if (self_name != NULL)
        snprintf(s_sys.self_name, sizeof s_sys.self_name, "%s", self_name);
    /* The mutex may have been held by another thread of the parent. */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&s_lock, &fresh, sizeof fresh);
}

/* Closes what this process opened on its own context, sending what
 * lingers, and terminates the context. */
static void s_close_all(void)
{
    if (s_sys.ctx != NULL && s_sys.ctx_pid == getpid()) {
        while (s_sys.nsockets > 0) {
            void *s = s_sys.sockets[s_sys.nsockets - 1];
            tr__sys_close(&s);
        }
        zmq_ctx_term(s_sys.ctx);
        s_sys.ctx = NULL;
    }
    free(s_sys.sockets);
    s_sys.sockets = NULL;
    s_sys.capsockets = 0;
}

static void s_exit_orderly(void)
{
    s_run_exit_hooks();
    s_close_all();
    fflush(NULL);
}

_Noreturn void tr__sys_exit(int code)
{
    s_exit_orderly();
    _exit(code & 0xff);
}

_Noreturn void tr__sys_exit_signal(int sig)
{
    s_exit_orderly();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    signal(sig, SIG_DFL);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig);
}
