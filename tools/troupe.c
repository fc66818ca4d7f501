/* troupe: the command-line tool for running troupe systems.
 *
 *   troupe status [--json] [--dir RUN_DIR] [--timeout MS]
 *   troupe events [--topic PREFIX] [--json] [--dir RUN_DIR] [--count N]
 *   troupe keygen NAME [--dir DIR]
 *   troupe work BROKER [--dir RUN_DIR] [--dead N] [--json]
 *
 * Each subcommand is a row of s_commands: a name, a one-line summary and a
 * function that takes the subcommand's own argc/argv and returns the exit
 * code (0 ok, 1 error, 2 usage), so adding one (events, keygen) is adding a
 * function and a row.
 *
 * status finds the systems the way core/sys.c does: every directory under
 * tr_sys_run_base() whose ".lock" is held is alive (its root, or an actor
 * that outlived it, holds it). In each, the supervisors are the entries of
 * ".c/" (their control sockets) on which somebody listens; a socket left
 * behind by a dead supervisor refuses the connection and is skipped
 * without waiting for a timeout. Each one is asked for its status; one that lists another as a
 * child is its parent, so the trees are rebuilt from the answers alone.
 *
 * The tool never calls tr_sys_init: it must not make a run directory of its
 * own, nor clean up other systems' stale ones. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools/troupe_events.h"
#include "tools/troupe_work.h"
#include "troupe/supervisor.h"
#include "troupe/troupe.h"
#include "troupe/work.h"

#define MAX_DEPTH 32 /* as supervisor.c's spec check: deeper means a cycle */

/* ---- systems and their supervisors ----------------------------------------- */

typedef struct {
    char name[65];
    int rc;            /* of the status request */
    tr_sup_status *st; /* NULL unless rc is TR_OK */
    bool nested;       /* listed as a child by a supervisor that answered */
    bool shown;        /* printed already: guards against a cycle */
} s_sup;

typedef struct {
    char dir[PATH_MAX];
    pid_t root_pid;
    bool root_alive;
    s_sup *sups;
    size_t n;
} s_system;

/* Whether a process listens on the unix socket at path: a connect that is
 * refused means the socket file was left by a process that died. The probe
 * touches nothing the supervisor owns (unlike an flock probe of its name,
 * which could make a supervisor restarting at that instant fail to claim
 * it); the supervisor's ZeroMQ listener accepts the connection and drops it
 * when it closes before the handshake. */
static bool s_socket_live(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return false;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EAGAIN;
    close(fd);
    return live;
}

/* Whether somebody holds the flock on a run directory's .lock: 1 held, 0
 * free or no such file. The root's exclusive lock is shared by every
 * process of the system through the inherited descriptor, so this probe
 * cannot take it while any lives; only a root exiting at that instant,
 * whose exclusive probe decides whether to remove the directory, would
 * leave it behind for the next start to clean up. */
static int s_lock_held(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

static s_sup *s_find(s_system *sys, const char *name)
{
    for (size_t i = 0; i < sys->n; i++)
        if (strcmp(sys->sups[i].name, name) == 0)
            return &sys->sups[i];
    return NULL;
}

/* The next supervisor to print as a root: one that no supervisor lists as
 * its child, then any the roots did not reach (only a cycle would leave
 * one, and unique names forbid cycles). NULL when all are shown. */
static s_sup *s_next_root(s_system *sys)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < sys->n; i++)
            if (!sys->sups[i].shown && (pass == 1 || !sys->sups[i].nested))
                return &sys->sups[i];
    return NULL;
}

/* Loads the system whose run directory is dir: lists its live supervisors
 * (in name order) and asks each for its status. TR_OK (each supervisor
 * carries its own result), TR_ENOMEM, TR_ESYSTEM. Free with
 * s_system_free, whatever the result. */
static int s_system_load(s_system *sys, const char *dir, int timeout_ms)
{
    memset(sys, 0, sizeof *sys);
    snprintf(sys->dir, sizeof sys->dir, "%s", dir);
    for (size_t len = strlen(sys->dir); len > 1 && sys->dir[len - 1] == '/';)
        sys->dir[--len] = '\0';
    const char *base = strrchr(sys->dir, '/');
    sys->root_pid = (pid_t)strtol(base ? base + 1 : sys->dir, NULL, 10);
    sys->root_alive = sys->root_pid > 0 && (kill(sys->root_pid, 0) == 0 || errno == EPERM);
    char path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/.c", sys->dir);
    struct dirent **list;
    int n = scandir(path, &list, NULL, alphasort);
    if (n < 0)
        return errno == ENOENT ? TR_OK : TR_ESYSTEM; /* no supervisor ever ran */
    sys->sups = calloc((size_t)n + 1, sizeof *sys->sups);
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        int k = snprintf(path, sizeof path, "%s/.c/%s", sys->dir, name);
        /* A socket nobody listens on was left by the dead. */
        if (sys->sups != NULL && tr_name_valid(name) && k > 0 && (size_t)k < sizeof path &&
            s_socket_live(path))
            snprintf(sys->sups[sys->n++].name, sizeof sys->sups->name, "%.64s", name);
        free(list[i]);
    }
    free(list);
    if (sys->sups == NULL)
        return TR_ENOMEM;
    for (size_t i = 0; i < sys->n; i++)
        sys->sups[i].rc = tr_supervisor_status(sys->dir, sys->sups[i].name, &sys->sups[i].st,
                                               timeout_ms);
    for (size_t i = 0; i < sys->n; i++) {
        const tr_sup_status *st = sys->sups[i].st;
        for (size_t k = 0; st != NULL && k < st->nchildren; k++) {
            s_sup *child = st->children[k].is_supervisor ? s_find(sys, st->children[k].name)
                                                         : NULL;
            if (child != NULL && child != &sys->sups[i])
                child->nested = true;
        }
    }
    return TR_OK;
}

static void s_system_free(s_system *sys)
{
    for (size_t i = 0; i < sys->n; i++)
        tr_sup_status_destroy(&sys->sups[i].st);
    free(sys->sups);
    sys->sups = NULL;
    sys->n = 0;
}

/* ---- the table ------------------------------------------------------------- */

/* One printed line: a supervisor or a child, or a note under one. */
typedef struct {
    char tree[MAX_DEPTH * 5 + 8 + 65]; /* "│  " per level, a branch, a name */
    const char *note;                  /* set: the line is tree and note only */
    int err;                           /* of the note */
    bool named;                        /* tree ends with a name, not branches */
    pid_t pid;
    const char *state;
    unsigned restarts;
    int64_t uptime_ms; /* < 0: not running */
    bool has_exited;
    int last_exit;
    bool start_failed;
} s_row;

typedef struct {
    s_row *v;
    size_t n, cap;
} s_rows;

static s_row *s_row_add(s_rows *rows, const char *prefix, const char *branch, const char *name)
{
    if (rows->n == rows->cap) {
        size_t cap = rows->cap ? 2 * rows->cap : 32;
        s_row *grown = realloc(rows->v, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        rows->v = grown;
        rows->cap = cap;
    }
    s_row *r = &rows->v[rows->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->tree, sizeof r->tree, "%s%s%s", prefix, branch, name);
    r->uptime_ms = -1;
    return r;
}

/* Columns on a terminal: UTF-8 continuation bytes take none. */
static int s_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void s_duration(int64_t ms, char *buf, size_t len)
{
    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000)
        snprintf(buf, len, "%dm%02ds", (int)(ms / 60000), (int)(ms / 1000 % 60));
    else if (ms < 86400000)
        snprintf(buf, len, "%dh%02dm", (int)(ms / 3600000), (int)(ms / 60000 % 60));
    else
        snprintf(buf, len, "%dd%02dh", (int)(ms / 86400000), (int)(ms / 3600000 % 24));
}

static void s_exit_text(bool has_exited, bool start_failed, int code, char *buf, size_t len)
{
    const char *abbrev = code < 0 && code > -128 ? sigabbrev_np(-code) : NULL;
    if (start_failed)
        snprintf(buf, len, "failed to start");
    else if (!has_exited)
        snprintf(buf, len, "-");
    else if (code >= 0)
        snprintf(buf, len, "exited with %d", code);
    else if (abbrev != NULL)
        snprintf(buf, len, "killed by SIG%s", abbrev);
    else
        snprintf(buf, len, "killed by signal %lld", -(long long)code);
}

/* Adds the rows of sup's children, and of the supervisors among them,
 * under prefix. TR_OK or TR_ENOMEM. */
static int s_rows_children(s_rows *rows, s_system *sys, const s_sup *sup, const char *prefix,
                           int depth)
{
    const tr_sup_status *st = sup->st;
    for (size_t i = 0; i < st->nchildren; i++) {
        const tr_child_status *c = &st->children[i];
        bool last = i + 1 == st->nchildren;
        /* r is valid until the next s_row_add, which may move the rows. */
        s_row *r = s_row_add(rows, prefix, last ? "└─ " : "├─ ", c->name);
        if (r == NULL)
            return TR_ENOMEM;
        r->pid = c->pid;
        r->state = tr_child_state_name(c->state);
        r->restarts = c->restarts;
        bool up = c->state == TR_CHILD_RUNNING || c->state == TR_CHILD_STOPPING;
        r->uptime_ms = up ? c->uptime_ms : -1;
        r->has_exited = c->has_exited;
        r->last_exit = c->last_exit;
        r->start_failed = c->start_failed;
        s_sup *sub = c->is_supervisor ? s_find(sys, c->name) : NULL;
        if (sub == NULL || sub->shown || depth >= MAX_DEPTH)
            continue;
        char inner[sizeof r->tree];
        snprintf(inner, sizeof inner, "%s%s", prefix, last ? "   " : "│  ");
        sub->shown = true;
        if (sub->st == NULL) {
            s_row *note = s_row_add(rows, inner, "", "");
            if (note == NULL)
                return TR_ENOMEM;
            note->note = "not answering";
            note->err = sub->rc;
            continue;
        }
        /* A supervisor's row shows its own pid, uptime and the restarts it
         * made; its state and last exit are its parent's view. */
        r->pid = sub->st->pid;
        r->restarts = sub->st->restarts;
        r->uptime_ms = sub->st->uptime_ms;
        int rc = s_rows_children(rows, sys, sub, inner, depth + 1);
        if (rc != TR_OK)
            return rc;
    }
    return TR_OK;
}

/* Adds a root supervisor and its tree. TR_OK or TR_ENOMEM. */
static int s_rows_root(s_rows *rows, s_system *sys, s_sup *s)
{
    s_row *r = s_row_add(rows, "", "", s->name);
    if (r == NULL)
        return TR_ENOMEM;
    s->shown = true;
    if (s->st == NULL) {
        r->note = "not answering";
        r->err = s->rc;
        r->named = true;
        return TR_OK;
    }
    r->pid = s->st->pid;
    r->state = "running";
    r->restarts = s->st->restarts;
    r->uptime_ms = s->st->uptime_ms;
    return s_rows_children(rows, sys, s, "", 1);
}

static int s_print_text(s_system *sys)
{
    printf("system %s (root pid %d%s)\n", sys->dir, (int)sys->root_pid,
           sys->root_alive ? "" : ", exited");
    if (sys->n == 0) {
        printf("  no supervisors\n");
        return TR_OK;
    }
    s_rows rows = {0};
    int rc = TR_OK;
    for (s_sup *s; rc == TR_OK && (s = s_next_root(sys)) != NULL;)
        rc = s_rows_root(&rows, sys, s);
    int w = 16;
    for (size_t i = 0; i < rows.n; i++)
        if (rows.v[i].note == NULL && s_width(rows.v[i].tree) + 2 > w)
            w = s_width(rows.v[i].tree) + 2;
    printf("%-*s%-8s%-10s%-10s%-9s%s\n", w, "NAME", "PID", "STATE", "RESTARTS", "UPTIME",
           "LAST EXIT");
    for (size_t i = 0; i < rows.n; i++) {
        const s_row *r = &rows.v[i];
        if (r->note != NULL) {
            int pad = r->named ? w - s_width(r->tree) : 0;
            printf("%s%*s(%s: %s)\n", r->tree, pad, "", r->note, tr_strerror(r->err));
            continue;
        }
        char pid[16], up[16], ex[48];
        if (r->pid > 0)
            snprintf(pid, sizeof pid, "%d", (int)r->pid);
        else
            snprintf(pid, sizeof pid, "-");
        s_duration(r->uptime_ms, up, sizeof up);
        s_exit_text(r->has_exited, r->start_failed, r->last_exit, ex, sizeof ex);
        /* printf pads by bytes, and the branches take three each. */
        printf("%s%*s%-8s%-10s%-10u%-9s%s\n", r->tree, w - s_width(r->tree), "", pid, r->state,
               r->restarts, up, ex);
    }
    free(rows.v);
    return rc;
}

/* ---- JSON ------------------------------------------------------------------ */

static void s_json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void s_json_sup(s_system *sys, s_sup *sup, int depth)
{
    printf("{\"name\":");
    s_json_str(sup->name);
    sup->shown = true;
    if (sup->st == NULL) {
        printf(",\"error\":");
        s_json_str(tr_strerror(sup->rc));
        putchar('}');
        return;
    }
    const tr_sup_status *st = sup->st;
    printf(",\"pid\":%d,\"strategy\":\"%s\",\"restarts\":%u,\"uptime_ms\":%lld,\"children\":[",
           (int)st->pid, tr_strategy_name(st->strategy), st->restarts, (long long)st->uptime_ms);
    for (size_t i = 0; i < st->nchildren; i++) {
        const tr_child_status *c = &st->children[i];
        printf("%s{\"name\":", i ? "," : "");
        s_json_str(c->name);
        printf(",\"pid\":%d,\"state\":\"%s\",\"restart\":\"%s\",\"restarts\":%u,"
               "\"uptime_ms\":%lld,\"last_exit\":",
               (int)c->pid, tr_child_state_name(c->state), tr_restart_name(c->restart),
               c->restarts, (long long)c->uptime_ms);
        if (c->has_exited)
            printf("%d", c->last_exit);
        else
            printf("null");
        printf(",\"start_failed\":%s", c->start_failed ? "true" : "false");
        s_sup *sub = c->is_supervisor ? s_find(sys, c->name) : NULL;
        if (sub != NULL && !sub->shown && depth < MAX_DEPTH) {
            printf(",\"supervisor\":");
            s_json_sup(sys, sub, depth + 1);
        }
        putchar('}');
    }
    printf("]}");
}

static void s_print_json(s_system *sys, bool first)
{
    printf("%s{\"dir\":", first ? "" : ",");
    s_json_str(sys->dir);
    printf(",\"root_pid\":%d,\"root_alive\":%s,\"supervisors\":[", (int)sys->root_pid,
           sys->root_alive ? "true" : "false");
    for (s_sup *s, *prev = NULL; (s = s_next_root(sys)) != NULL; prev = s) {
        if (prev != NULL)
            putchar(',');
        s_json_sup(sys, s, 1);
    }
    printf("]}");
}

/* ---- status ---------------------------------------------------------------- */

static void s_status_usage(FILE *f)
{
    fprintf(f,
            "usage: troupe status [--json] [--dir RUN_DIR] [--timeout MS]\n"
            "Shows the supervisor trees of the troupe systems running under %s\n"
            "(TROUPE_RUN_DIR), or of the one whose run directory is RUN_DIR.\n"
            "  --json         one JSON document instead of the table\n"
            "  --dir RUN_DIR  only this system\n"
            "  --timeout MS   how long to wait for each supervisor (default 1000)\n"
            "RESTARTS is, on a supervisor's line, the restarts it made; on any other\n"
            "line, how often that child was restarted. In JSON, last_exit is the exit\n"
            "code, or minus the signal, or null.\n"
            "Exit status: 0 ok (also when nothing runs), 1 error or a supervisor that\n"
            "did not answer, 2 usage error.\n",
            tr_sys_run_base());
}

/* Prints the system whose run directory is dir, counting it in *printed;
 * returns 0, or 1 when it could not be read or a supervisor did not answer. */
static int s_show(const char *dir, bool json, int *printed, int timeout_ms)
{
    bool first = *printed == 0;
    s_system sys;
    int status = 0, rc = s_system_load(&sys, dir, timeout_ms);
    if (rc != TR_OK) {
        fprintf(stderr, "troupe status: %s: %s\n", sys.dir,
                rc == TR_ESYSTEM ? strerror(errno) : tr_strerror(rc));
        status = 1;
    } else if (json) {
        s_print_json(&sys, first);
        ++*printed;
    } else {
        if (!first)
            putchar('\n');
        status = s_print_text(&sys) != TR_OK;
        ++*printed;
    }
    for (size_t k = 0; k < sys.n; k++)
        status |= sys.sups[k].rc != TR_OK;
    s_system_free(&sys);
    return status;
}

static int s_cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"dir", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    const char *dir = NULL;
    long timeout = 1000;
    char *end;
    int o;
    while ((o = getopt_long(argc, argv, "jd:t:h", opts, NULL)) != -1) {
        switch (o) {
        case 'j': json = true; break;
        case 'd': dir = optarg; break;
        case 't':
            timeout = strtol(optarg, &end, 10);
            if (*end != '\0' || end == optarg || timeout < 1 || timeout > 3600000) {
                fprintf(stderr, "troupe status: --timeout wants 1..3600000 ms\n");
                return 2;
            }
            break;
        case 'h': s_status_usage(stdout); return 0;
        default: s_status_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        s_status_usage(stderr);
        return 2;
    }

    char lock[PATH_MAX + 16];
    if (dir != NULL && (snprintf(lock, sizeof lock, "%s/.lock", dir) >= (int)sizeof lock ||
                        !s_lock_held(lock))) {
        fprintf(stderr, "troupe status: %s: not the run directory of a running system\n", dir);
        return 1;
    }
    int status = 0, found = 0, printed = 0;
    if (json)
        printf("{\"systems\":[");
    if (dir != NULL) {
        found++;
        status = s_show(dir, json, &printed, (int)timeout);
    } else {
        /* versionsort: in the order of the roots' pids, which lead the names. */
        const char *base = tr_sys_run_base();
        struct dirent **list;
        int n = scandir(base, &list, NULL, versionsort);
        if (n < 0 && errno != ENOENT) {
            fprintf(stderr, "troupe status: %s: %s\n", base, strerror(errno));
            status = 1;
        }
        for (int i = 0; i < n; i++) {
            char sysdir[PATH_MAX];
            int k = snprintf(sysdir, sizeof sysdir, "%s/%s", base, list[i]->d_name);
            /* A directory whose lock is free is dead, or still being made. */
            if (list[i]->d_name[0] != '.' && k > 0 && (size_t)k < sizeof sysdir &&
                snprintf(lock, sizeof lock, "%s/.lock", sysdir) > 0 && s_lock_held(lock)) {
                found++;
                status |= s_show(sysdir, json, &printed, (int)timeout);
            }
            free(list[i]);
        }
        if (n >= 0)
            free(list);
    }
    if (json)
        printf("]}\n");
    if (found == 0 && status == 0)
        fprintf(stderr, "no running troupe system\n");
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}

/* ---- keygen ---------------------------------------------------------------- */

static void s_keygen_usage(FILE *f)
{
    fprintf(f,
            "usage: troupe keygen NAME [--dir DIR]\n"
            "Writes a new CURVE key pair for troupe's work distribution (docs/security.md):\n"
            "DIR/NAME.key (mode 0600) holds the pair and stays secret with its owner;\n"
            "DIR/NAME.pub (0644) holds the public key alone, to give to the broker's\n"
            "allowed directory (a client's key) or to its clients (the broker's key).\n"
            "Existing files are never overwritten.\n"
            "  --dir DIR  where to write them (default: the current directory)\n"
            "NAME: 1 to 64 characters of [A-Za-z0-9._-], not starting with '.'.\n"
            "Exit status: 0 ok, 1 error (a file exists, a write failed), 2 usage error.\n");
}

static int s_cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = ".";
    int o;
    while ((o = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': dir = optarg; break;
        case 'h': s_keygen_usage(stdout); return 0;
        default: s_keygen_usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        s_keygen_usage(stderr);
        return 2;
    }
    const char *name = argv[optind];
    if (!tr_name_valid(name)) {
        fprintf(stderr, "troupe keygen: '%s' is not a valid name (1 to 64 characters of "
                        "[A-Za-z0-9._-], not starting with '.')\n", name);
        return 2;
    }
    int rc = tr_keygen(dir, name);
    if (rc == TR_EEXIST) {
        fprintf(stderr, "troupe keygen: %s/%s.key or %s/%s.pub exists already: not overwritten\n",
                dir, name, dir, name);
        return 1;
    }
    if (rc != TR_OK) {
        fprintf(stderr, "troupe keygen: cannot write %s/%s.key and .pub: %s\n", dir, name,
                rc == TR_ESYSTEM ? strerror(errno) : tr_strerror(rc));
        return 1;
    }
    printf("%s/%s.key  key pair: keep it secret\n%s/%s.pub  public key\n", dir, name, dir, name);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- the command table ----------------------------------------------------- */

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
} s_command;

static const s_command s_commands[] = {
    {"status", "show the supervisor trees of running systems", s_cmd_status},
    {"events", "print the live stream of a system's event hub", troupe_events_main},
    {"keygen", "write a CURVE key pair for work distribution", s_cmd_keygen},
    {"work", "show a work broker's counters and dead letters", troupe_work_main},
};

static void s_usage(FILE *f)
{
    fprintf(f, "usage: troupe <command> [options]\ncommands:\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof *s_commands; i++)
        fprintf(f, "  %-10s%s\n", s_commands[i].name, s_commands[i].summary);
    fprintf(f, "'troupe <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        s_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof *s_commands; i++)
        if (strcmp(argv[1], s_commands[i].name) == 0)
            return s_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "troupe: unknown command '%s'\n", argv[1]);
    s_usage(stderr);
    return 2;
}
