/* actor.c: actors are forked processes.
 *
 * Spawning follows libuv's pattern: a pipe carries one status record from the
 * child to the parent, so the parent learns whether the child got ready (name
 * claimed, mailbox bound, behaviour initialised) or why it failed. EOF
 * without a record means the child died before it could say.
 *
 * The parent watches each child through a pidfd: it fits in any poll loop,
 * waitid(P_PIDFD) reaps exactly that child, and pidfd_send_signal cannot hit
 * a recycled pid. Every handle this process creates sits in a registry so
 * that the orderly exit can terminate daemons, wait for the rest, and reap
 * children whose handles were dropped while they ran.
 */
#include "troupe/actor.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "core/internal.h"
#include "troupe/error.h"
#include "troupe/sys.h"

/* How soon a sender's socket retries an actor's address that is not bound
 * (an actor binds on its first receive, or is being restarted): first after
 * TR_RECONNECT_MIN_MS (ZeroMQ's smallest interval), then doubling up to
 * TR_RECONNECT_MS, so that a restarted actor is reached within a
 * millisecond or two, and an address nobody binds costs at most one connect
 * attempt per TR_RECONNECT_MS. */
#define TR_RECONNECT_MIN_MS 1
#define TR_RECONNECT_MS 10

/* How long the orderly exit gives a daemon child after SIGTERM before it
 * sends SIGKILL: a daemon that ignores SIGTERM must not hang its parent. */
#define TR_DAEMON_GRACE_MS 2000

struct tr_actor {
    char name[65];
    char address[128];
    pid_t pid;
    pid_t owner;    /* the process that spawned it: only it may reap */
    int pidfd;      /* -1 once reaped */
    int flags;      /* TR_SPAWN_* */
    int exitcode;   /* valid once pidfd == -1 */
    bool detached;  /* its handle was destroyed while it ran */
    bool is_ref;    /* made by tr_actor_lookup: for sending only */
    void *outbox;   /* PUSH connected to address, made on first send */
    pid_t outbox_pid;
    struct tr_actor *next, *prev; /* registry of this process's children */
};

/* What the child reports through the spawn pipe. */
typedef struct {
    int rc;    /* TR_OK or a TR_E code */
    int err;   /* errno for TR_ESYSTEM */
} s_status;

/* This process as an actor: set in the child right after the fork. */
static struct {
    bool is_actor;
    char name[65];
    pid_t parent;
    bool has_mailbox;
    char address[128];
    void *mailbox; /* bound PULL, made on first use by a function actor */
} s_self;

/* Binds this actor's mailbox. A function actor does it on its first receive
 * rather than at start: a ZeroMQ context costs a few hundred microseconds to
 * make and to end, which most short-lived actors would pay for nothing.
 * Senders lose nothing meanwhile: their connecting sockets hold what they
 * send until the address is bound (and retry every TR_RECONNECT_MS). */
static int s_self_mailbox(void)
{
    if (s_self.mailbox != NULL)
        return TR_OK;
    if (!s_self.has_mailbox)
        return TR_ESTATE;
    s_self.mailbox = tr__sys_socket(ZMQ_PULL);
    if (s_self.mailbox == NULL)
        return TR_ESYSTEM;
    if (zmq_bind(s_self.mailbox, s_self.address) != 0) {
        int e = errno;
        tr__sys_close(&s_self.mailbox);
        errno = e;
        return TR_ESYSTEM;
    }
    return TR_OK;
}

static tr_actor *s_children;

static void s_registry_add(tr_actor *a)
{
    a->prev = NULL;
    a->next = s_children;
    if (s_children != NULL)
        s_children->prev = a;
    s_children = a;
}

static void s_registry_remove(tr_actor *a)
{
    if (a->prev != NULL)
        a->prev->next = a->next;
    else if (s_children == a)
        s_children = a->next;
    if (a->next != NULL)
        a->next->prev = a->prev;
    a->next = a->prev = NULL;
}

static void s_free(tr_actor *a)
{
    s_registry_remove(a);
    if (a->outbox != NULL && a->outbox_pid == getpid())
        tr__sys_close(&a->outbox);
    if (a->pidfd >= 0)
        close(a->pidfd);
    free(a);
}

/* Reaps the child if it has exited. Returns 1 when reaped (now or before), 0
 * when it still runs, -1 on error. */
static int s_reap(tr_actor *a, bool block)
{
    if (a->pidfd < 0)
        return 1;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int rc;
    do {
        rc = waitid(P_PIDFD, (id_t)a->pidfd, &si, WEXITED | (block ? 0 : WNOHANG));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        if (errno != ECHILD)
            return -1;
        /* Somebody else reaped it (SIGCHLD set to SIG_IGN, or a stray
         * waitpid(-1)): the code is lost. Say so rather than invent one. */
        tr_log(TR_LOG_WARN, "TR-CHILD-LOST", "%s[%d] was reaped elsewhere; exit code unknown",
               a->name, (int)a->pid);
        a->exitcode = -SIGCHLD;
    } else if (si.si_pid == 0) {
        return 0;
    } else if (si.si_code == CLD_EXITED) {
        a->exitcode = si.si_status;
    } else {
        a->exitcode = -si.si_status;
    }
    close(a->pidfd);
    a->pidfd = -1;
    tr_log(TR_LOG_DEBUG, "TR-CHILD-EXIT", "%s[%d] exited with %d", a->name, (int)a->pid,
           a->exitcode);
    return 1;
}

static int s_wait_fd(int fd, long long deadline)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int n = poll(&p, 1, tr__remaining_ms(deadline));
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static int s_pidfd_signal(int pidfd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Reaps children whose handles were dropped while they ran, so that none
 * lingers as a zombie longer than until the next spawn. */
static void s_reap_detached(void)
{
    pid_t me = getpid();
    for (tr_actor *a = s_children, *next; a != NULL; a = next) {
        next = a->next;
        if (a->detached && a->owner == me && s_reap(a, false) == 1)
            s_free(a);
    }
}

/* The orderly exit, as Python's: daemons get SIGTERM (then SIGKILL after a
 * grace period), the others are waited for. */
static void s_exit_hook(void)
{
    pid_t me = getpid();
    for (tr_actor *a = s_children; a != NULL; a = a->next)
        if (a->owner == me && a->pidfd >= 0 && (a->flags & TR_SPAWN_DAEMON))
            s_pidfd_signal(a->pidfd, SIGTERM);
    long long grace = tr__deadline_ms(TR_DAEMON_GRACE_MS);
    while (s_children != NULL) {
        tr_actor *a = s_children;
        if (a->owner == me && a->pidfd >= 0) {
            if (a->flags & TR_SPAWN_DAEMON) {
                if (s_wait_fd(a->pidfd, grace) == 0) {
                    tr_log(TR_LOG_WARN, "TR-CHILD-KILL", "daemon %s[%d] ignored SIGTERM; killing",
                           a->name, (int)a->pid);
                    s_pidfd_signal(a->pidfd, SIGKILL);
                }
            } else {
                tr_log(TR_LOG_INFO, "TR-CHILD-JOIN", "waiting for non-daemon %s[%d]", a->name,
                       (int)a->pid);
            }
            s_reap(a, true);
        }
        s_free(a);
    }
}

/* ---- the child side -------------------------------------------------------- */

static _Noreturn void s_child_fail(int fd, int rc, int err, int code)
{
    s_status st = {rc, err};
    ssize_t w = write(fd, &st, sizeof st);
    (void)w;
    _exit(code);
}

static int s_cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* close_range(2) needs Linux 5.9; before that, one close per number. */
static void s_close_range(unsigned lo, unsigned hi)
{
    if (close_range(lo, hi, 0) == 0)
        return;
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 1 << 20)
        max = 1 << 20;
    for (unsigned fd = lo; fd <= hi && fd < (unsigned)max; fd++)
        close((int)fd);
}

/* Closes every descriptor above 2 except the ones in keep (sorted here). */
static void s_close_fds(int *keep, size_t n)
{
    qsort(keep, n, sizeof *keep, s_cmp_int);
    unsigned lo = 3;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < (int)lo)
            continue;
        if ((unsigned)keep[i] > lo)
            s_close_range(lo, (unsigned)keep[i] - 1);
        lo = (unsigned)keep[i] + 1;
    }
    s_close_range(lo, ~0U);
}

/* Claims name for this process: an flock on <run_dir>/.names/<name>, released
 * by the kernel when the process dies, so a restarted actor can claim it
 * again and a duplicate cannot. */
static int s_claim_name(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.names/%s", tr_sys_run_dir(), name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return TR_ESYSTEM;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return e == EWOULDBLOCK ? TR_EEXIST : TR_ESYSTEM;
    }
    return TR_OK; /* fd stays open for the life of the process */
}

typedef struct {
    const char *name;
    const char *address;
    tr_actor_fn fn;
    const tr_behaviour *b;
    void *arg;
    const tr_spawn_opts *opts;
    int flags;
    int (*init)(void *arg); /* tr__actor_spawn_ex: runs before ready */
    pid_t parent;
    int fd; /* write end of the status pipe */
} s_spawn;

static _Noreturn void s_child_main(const s_spawn *sp)
{
    int fd = sp->fd;
    tr__sys_forked(sp->name);
    s_children = NULL; /* the parent's children are not ours */
    s_self.is_actor = true;
    s_self.parent = sp->parent;
    s_self.mailbox = NULL;
    s_self.has_mailbox = !(sp->flags & TR_SPAWN_NO_MAILBOX);
    snprintf(s_self.name, sizeof s_self.name, "%s", sp->name);
    snprintf(s_self.address, sizeof s_self.address, "%s", sp->address);

    if (sp->flags & (TR_SPAWN_DAEMON | TR__SPAWN_LINKED)) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        /* The parent may have died before prctl: then nobody would send it. */
        if (getppid() != sp->parent)
            _exit(128 + SIGKILL);
    }
    tr__proctitle_set(sp->name);

    /* Keep stdout/stderr, the status pipe, the run-directory lock (so the
     * directory stays alive while we do) and what the caller asked for. */
    size_t nkeep = sp->opts ? sp->opts->nkeep_fds : 0;
    int *keep = malloc((nkeep + 2) * sizeof *keep);
    if (keep == NULL)
        s_child_fail(fd, TR_ENOMEM, 0, 127);
    keep[0] = fd;
    keep[1] = tr__sys_lock_fd();
    for (size_t i = 0; i < nkeep; i++)
        keep[2 + i] = sp->opts->keep_fds[i];
    s_close_fds(keep, nkeep + 2);
    free(keep);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0 && devnull != STDIN_FILENO) {
        dup2(devnull, STDIN_FILENO);
        close(devnull);
    }

    int rc = s_claim_name(sp->name);
    if (rc != TR_OK)
        s_child_fail(fd, rc, errno, 127);

    /* A behaviour takes SIGTERM through a signalfd in its loop: block it
     * before the context starts its threads, which inherit the mask. Any
     * other actor gets SIGTERM's default, even when spawned by a behaviour
     * (whose mask it inherited). */
    int sigfd = -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    bool own_loop = sp->b != NULL || sp->init != NULL;
    sigprocmask(own_loop ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
    if (sp->b != NULL) {
        sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (sigfd < 0)
            s_child_fail(fd, TR_ESYSTEM, errno, 127);
    }
    /* A behaviour lives on its mailbox: bind it before reporting ready. */
    if (sp->b != NULL && s_self_mailbox() != TR_OK)
        s_child_fail(fd, TR_ESYSTEM, errno, 127);
    void *state = sp->arg;
    if (sp->b != NULL && sp->b->init != NULL) {
        int irc = sp->b->init(sp->arg, &state);
        if (irc != 0) {
            tr_log(TR_LOG_WARN, "TR-INIT-FAIL", "init returned %d", irc);
            s_child_fail(fd, TR_ESPAWN, 0, (irc & 0xff) ? irc : 1);
        }
    }
    if (sp->init != NULL) {
        int irc = sp->init(sp->arg);
        if (irc != 0)
            s_child_fail(fd, TR_ESPAWN, 0, (irc & 0xff) ? irc : 1);
    }
    s_status ok = {TR_OK, 0};
    if (write(fd, &ok, sizeof ok) != (ssize_t)sizeof ok)
        _exit(127);
    close(fd);

    if (sp->b != NULL)
        tr__behaviour_loop(sp->b, state, s_self.mailbox, sigfd);
    tr__sys_exit(sp->fn(sp->arg));
}

/* ---- the parent side ------------------------------------------------------- */

static int s_spawn_common(tr_actor **out, s_spawn *sp)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    if (!tr_name_valid(sp->name))
        return TR_EINVAL;
    int rc = tr_sys_init();
    if (rc != TR_OK)
        return rc;
    s_reap_detached();
    tr__sys_add_exit_hook(TR__EXIT_CHILDREN, s_exit_hook);
    /* A child's first ZeroMQ socket makes glibc look up the "tcp" protocol
     * through NSS: it parses nsswitch.conf and probes ~80 paths for
     * libnss_db before reading /etc/protocols, 100 to 200 us per child.
     * Done once here, before the first fork, every child inherits the
     * result (a process that has a ZeroMQ context has done it already). */
    static bool nss_warm;
    if (!nss_warm) {
        getprotobyname("tcp");
        nss_warm = true;
    }

    tr_actor *a = calloc(1, sizeof *a);
    if (a == NULL)
        return TR_ENOMEM;
    snprintf(a->name, sizeof a->name, "%s", sp->name);
    if ((rc = tr_sys_address(sp->name, a->address, sizeof a->address)) != TR_OK) {
        free(a);
        return rc;
    }
    a->flags = sp->flags;
    a->pidfd = -1;
    sp->address = a->address;
    sp->parent = getpid();

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        free(a);
        return TR_ESYSTEM;
    }
    sp->fd = fds[1];
    /* Unflushed stdio buffers would otherwise be written twice. */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        free(a);
        errno = e;
        return TR_ESYSTEM;
    }
    if (pid == 0) {
        close(fds[0]);
        s_child_main(sp);
    }
    close(fds[1]);
    a->pid = pid;
    a->owner = sp->parent;
    a->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (a->pidfd < 0) {
        int e = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(fds[0]);
        free(a);
        errno = e;
        return TR_ESYSTEM;
    }

    s_status st;
    ssize_t n;
    do {
        n = read(fds[0], &st, sizeof st);
    } while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n != (ssize_t)sizeof st) {
        /* EOF: the child died before it could report (a crash in init, a
         * signal). */
        st.rc = TR_ESPAWN;
        st.err = 0;
    }
    if (st.rc != TR_OK) {
        s_reap(a, true);
        tr_log(TR_LOG_WARN, "TR-SPAWN-FAIL", "%s[%d] failed to start: %s (exit %d)", a->name,
               (int)pid, tr_strerror(st.rc), a->exitcode);
        free(a);
        errno = st.err;
        return st.rc;
    }
    s_registry_add(a);
    tr_log(TR_LOG_DEBUG, "TR-CHILD-START", "%s[%d] started", a->name, (int)pid);
    *out = a;
    return TR_OK;
}

int tr_actor_spawn(tr_actor **out, const char *name, tr_actor_fn fn, void *arg,
                   const tr_spawn_opts *opts)
{
    if (fn == NULL) {
        if (out != NULL)
            *out = NULL;
        return TR_EINVAL;
    }
    s_spawn sp = {.name = name, .fn = fn, .arg = arg, .opts = opts,
                  .flags = opts ? opts->flags : 0};
    return s_spawn_common(out, &sp);
}

int tr_actor_spawn_behaviour(tr_actor **out, const char *name, const tr_behaviour *b,
                             void *arg, const tr_spawn_opts *opts)
{
    int flags = opts ? opts->flags : 0;
    if (b == NULL || b->handle == NULL || (flags & TR_SPAWN_NO_MAILBOX)) {
        if (out != NULL)
            *out = NULL;
        return TR_EINVAL;
    }
    s_spawn sp = {.name = name, .b = b, .arg = arg, .opts = opts, .flags = flags};
    return s_spawn_common(out, &sp);
}

int tr__actor_spawn_ex(tr_actor **out, const char *name, int (*init)(void *arg),
                       tr_actor_fn fn, void *arg, const tr_spawn_opts *opts, int flags)
{
    if (fn == NULL) {
        if (out != NULL)
            *out = NULL;
        return TR_EINVAL;
    }
    s_spawn sp = {.name = name, .fn = fn, .init = init, .arg = arg, .opts = opts,
                  .flags = flags};
    return s_spawn_common(out, &sp);
}

void tr_actor_destroy(tr_actor **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    tr_actor *a = *ap;
    *ap = NULL;
    if (a->outbox != NULL && a->outbox_pid == getpid())
        tr__sys_close(&a->outbox);
    a->outbox = NULL;
    if (a->owner != getpid()) {
        /* A copy inherited through fork: the child is not ours, and the
         * descriptor number was closed at our start (it may name another
         * file now), so only the memory is freed. */
        free(a);
        return;
    }
    if (a->pidfd >= 0 && s_reap(a, false) == 0) {
        if (a->flags & TR_SPAWN_DAEMON) {
            s_pidfd_signal(a->pidfd, SIGKILL);
            s_reap(a, true);
        } else {
            a->detached = true; /* the registry reaps it later */
            return;
        }
    }
    s_free(a);
}

int tr_actor_lookup(tr_actor **out, const char *name)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    if (!tr_name_valid(name))
        return TR_EINVAL;
    tr_actor *a = calloc(1, sizeof *a);
    if (a == NULL)
        return TR_ENOMEM;
    snprintf(a->name, sizeof a->name, "%s", name);
    int rc = tr_sys_address(name, a->address, sizeof a->address);
    if (rc != TR_OK) {
        free(a);
        return rc;
    }
    /* Not a child of anybody here: owner 0 keeps the exit hook away and
     * makes destroy only free it; is_ref refuses join, signal, exitcode. */
    a->pidfd = -1;
    a->is_ref = true;
    *out = a;
    return TR_OK;
}

pid_t tr_actor_pid(const tr_actor *a) { return a ? a->pid : -1; }
const char *tr_actor_name(const tr_actor *a) { return a ? a->name : NULL; }
const char *tr_actor_address(const tr_actor *a) { return a ? a->address : NULL; }
bool tr_actor_is_daemon(const tr_actor *a) { return a && (a->flags & TR_SPAWN_DAEMON); }
int tr_actor_fd(const tr_actor *a)
{
    return a != NULL && a->owner == getpid() ? a->pidfd : -1;
}

bool tr_actor_is_alive(tr_actor *a)
{
    if (a == NULL || a->owner != getpid())
        return false;
    return s_reap(a, false) == 0;
}

int tr_actor_join(tr_actor *a, int timeout_ms)
{
    if (a == NULL)
        return TR_EINVAL;
    if (a->is_ref)
        return TR_ESTATE;
    if (a->pidfd < 0)
        return TR_OK;
    if (a->owner != getpid())
        return TR_ESTATE;
    int r = s_wait_fd(a->pidfd, tr__deadline_ms(timeout_ms));
    if (r == 0)
        return TR_ETIMEDOUT;
    if (r < 0 || s_reap(a, true) < 0)
        return TR_ESYSTEM;
    return TR_OK;
}

int tr_actor_exitcode(tr_actor *a, int *code)
{
    if (a == NULL || code == NULL)
        return TR_EINVAL;
    if (a->is_ref)
        return TR_ESTATE;
    if (a->pidfd >= 0) {
        if (a->owner != getpid())
            return TR_ESTATE;
        int r = s_reap(a, false);
        if (r < 0)
            return TR_ESYSTEM;
        if (r == 0)
            return TR_ESTATE;
    }
    *code = a->exitcode;
    return TR_OK;
}

int tr_actor_signal(tr_actor *a, int sig)
{
    if (a == NULL || sig <= 0 || sig >= NSIG)
        return TR_EINVAL;
    /* In a forked copy of the handle the descriptor number is stale. */
    if (a->owner != getpid())
        return TR_ESTATE;
    if (a->pidfd < 0)
        return TR_OK;
    if (s_pidfd_signal(a->pidfd, sig) != 0 && errno != ESRCH)
        return TR_ESYSTEM;
    return TR_OK;
}

int tr_actor_terminate(tr_actor *a) { return tr_actor_signal(a, SIGTERM); }
int tr_actor_kill(tr_actor *a) { return tr_actor_signal(a, SIGKILL); }

/* Connects this process's outbox to a's mailbox if it has none yet. */
static int s_outbox(tr_actor *a)
{
    if (a->flags & TR_SPAWN_NO_MAILBOX)
        return TR_ESTATE;
    pid_t me = tr__pid();
    if (a->outbox == NULL || a->outbox_pid != me) {
        /* Connecting is asynchronous and the pipe exists at once, so what we
         * send now waits in it until the connection is up: nothing is lost
         * while the actor has not bound its mailbox yet. */
        a->outbox = tr__sys_socket(ZMQ_PUSH);
        if (a->outbox == NULL)
            return TR_ESYSTEM;
        int ivl = TR_RECONNECT_MIN_MS, ivl_max = TR_RECONNECT_MS;
        zmq_setsockopt(a->outbox, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
        zmq_setsockopt(a->outbox, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
        if (zmq_connect(a->outbox, a->address) != 0) {
            int e = errno;
            tr__sys_close(&a->outbox);
            errno = e;
            return TR_ESYSTEM;
        }
        a->outbox_pid = me;
    }
    return TR_OK;
}

int tr_actor_send(tr_actor *a, const void *data, size_t size, int timeout_ms)
{
    if (a == NULL || (data == NULL && size > 0))
        return TR_EINVAL;
    int rc = s_outbox(a);
    if (rc != TR_OK)
        return rc;
    return tr__sock_send(a->outbox, data, size, 0, timeout_ms);
}

int tr_actor_sendv(tr_actor *a, const struct iovec *frames, int n, int timeout_ms)
{
    if (a == NULL)
        return TR_EINVAL;
    int rc = tr__frames_check(frames, n);
    if (rc == TR_OK)
        rc = s_outbox(a);
    if (rc != TR_OK)
        return rc;
    /* ZeroMQ takes the rest of a multi-part message once it took the first
     * frame: only that one can wait. */
    rc = tr__sock_send(a->outbox, frames[0].iov_base, frames[0].iov_len,
                       n > 1 ? ZMQ_SNDMORE : 0, timeout_ms);
    for (int k = 1; k < n && rc == TR_OK; k++)
        rc = tr__sock_send(a->outbox, frames[k].iov_base, frames[k].iov_len,
                           k + 1 < n ? ZMQ_SNDMORE : 0, TR_FOREVER);
    return rc;
}

/* ---- inside an actor ------------------------------------------------------- */

const char *tr_self_name(void) { return s_self.is_actor ? s_self.name : "main"; }
pid_t tr_self_pid(void) { return getpid(); }
pid_t tr_self_ppid(void) { return getppid(); }
bool tr_self_is_actor(void) { return s_self.is_actor; }

int tr_self_recv(tr_msg *msg, int timeout_ms)
{
    if (msg == NULL)
        return TR_EINVAL;
    int rc = s_self_mailbox();
    if (rc != TR_OK) {
        tr_msg_init(msg);
        return rc;
    }
    return tr__sock_recv(s_self.mailbox, msg, timeout_ms);
}

int tr_self_mailbox_fd(void)
{
    if (s_self_mailbox() != TR_OK)
        return -1;
    int fd = -1;
    size_t len = sizeof fd;
    if (zmq_getsockopt(s_self.mailbox, ZMQ_FD, &fd, &len) != 0)
        return -1;
    return fd;
}

_Noreturn void tr_self_exit(int code)
{
    if (!s_self.is_actor)
        exit(code);
    tr__sys_exit(code);
}
