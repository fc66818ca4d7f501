/* troupe events: the live stream of a running system's event hub.
 *
 *   troupe events [--topic PREFIX] [--json] [--dir RUN_DIR] [--count N]
 *
 * Subscribes to the topics that start with PREFIX (all by default) on the
 * hub of the system whose run directory is RUN_DIR, or of the only system
 * under the run-directory base that has one, and prints each message as it
 * comes: the time, the topic, and the body; an event's body decoded as
 * "set version=N" or "clear version=N", a text body as it is, any other
 * body in hex. The hub sends the current state of every event the prefix
 * covers at once, so the stream starts with them. Supervisors' lifecycle
 * reports are under "$sys/" (docs/events.md). --json prints one object per
 * line: {"time":..., "topic":..., "body":...} and, for an event, "event",
 * "set" and "version". --count N stops after N messages.
 *
 * If the hub restarts, the subscription reconnects by itself. Like troupe
 * status, the command never calls tr_sys_init: it must not make a run
 * directory of its own. */
#include "tools/troupe_events.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "troupe/event.h"
#include "troupe/troupe.h"

/* Whether dir is a live system with a hub: its ".lock" is held (by its
 * root or an actor that outlived it, as troupe status checks) and its
 * hub's socket is there (a hub that stopped removes it; one that was
 * killed leaves it for its restart). */
static bool s_has_hub(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/.hub/out", dir);
    if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    snprintf(path, sizeof path, "%s/.lock", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

/* Finds the one system under base with a hub. 0 found, 1 none, 2 several
 * (listed on stderr). */
static int s_find_hub(const char *base, char *out, size_t len)
{
    DIR *d = opendir(base);
    int found = 0;
    if (d == NULL)
        return 1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char dir[PATH_MAX];
        if (e->d_name[0] == '.')
            continue;
        snprintf(dir, sizeof dir, "%s/%s", base, e->d_name);
        if (!s_has_hub(dir))
            continue;
        if (++found == 2)
            fprintf(stderr, "troupe events: several systems have a hub; choose one with --dir:\n"
                            "  %s\n", out);
        if (found >= 2)
            fprintf(stderr, "  %s\n", dir);
        else
            snprintf(out, len, "%s", dir);
    }
    closedir(d);
    return found == 0 ? 1 : found == 1 ? 0 : 2;
}

static void s_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static bool s_printable(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] == 0x7f)
            return false;
    return true;
}

/* Prints n bytes: as text when printable (JSON-escaped for json), else as
 * hex ("0x..."). */
static void s_bytes(const unsigned char *p, size_t n, bool json)
{
    if (!s_printable(p, n)) {
        fputs(json ? "\"0x" : "0x", stdout);
        for (size_t i = 0; i < n; i++)
            printf("%02x", p[i]);
        if (json)
            putchar('"');
        return;
    }
    if (!json) {
        fwrite(p, 1, n, stdout);
        return;
    }
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"' || p[i] == '\\')
            putchar('\\');
        putchar(p[i]);
    }
    putchar('"');
}

static void s_print(tr_msg *topic, tr_msg *body, bool json)
{
    char when[96], name[65]; /* 96: room for any int fields, says gcc */
    bool set = false;
    uint64_t version = 0;
    s_time(when, sizeof when);
    bool event = tr_event_decode(topic, body, name, sizeof name, &set, &version) == TR_OK;
    const unsigned char *t = tr_msg_data(topic), *b = tr_msg_data(body);
    size_t tn = tr_msg_size(topic), bn = tr_msg_size(body);
    if (event)
        tn--; /* the NUL that ends an event's topic */
    if (json) {
        printf("{\"time\":\"%s\",\"topic\":", when);
        s_bytes(t, tn, true);
        if (event)
            printf(",\"event\":\"%s\",\"set\":%s,\"version\":%llu}\n", name,
                   set ? "true" : "false", (unsigned long long)version);
        else {
            fputs(",\"body\":", stdout);
            s_bytes(b, bn, true);
            fputs("}\n", stdout);
        }
    } else {
        printf("%s ", when);
        s_bytes(t, tn, false);
        if (event)
            printf(" %s version=%llu\n", set ? "set" : "clear", (unsigned long long)version);
        else {
            putchar(' ');
            s_bytes(b, bn, false);
            putchar('\n');
        }
    }
    fflush(stdout);
}

static void s_usage(FILE *f)
{
    fprintf(f, "usage: troupe events [--topic PREFIX] [--json] [--dir RUN_DIR] [--count N]\n"
               "Prints what the event hub of a running system publishes ($sys/... are the\n"
               "supervisors' lifecycle reports, $event/... the events' states).\n");
}

int troupe_events_main(int argc, char **argv)
{
    const char *prefix = "", *dir = NULL;
    bool json = false;
    long count = -1;
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"dir", required_argument, NULL, 'd'},
        {"count", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "t:jd:n:h", opts, NULL)) != -1) {
        switch (o) {
        case 't': prefix = optarg; break;
        case 'j': json = true; break;
        case 'd': dir = optarg; break;
        case 'n': count = strtol(optarg, NULL, 10); break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind < argc || count == 0 || count < -1) {
        s_usage(stderr);
        return 2;
    }
    char found[PATH_MAX];
    if (dir == NULL) {
        int rc = s_find_hub(tr_sys_run_base(), found, sizeof found);
        if (rc == 1)
            fprintf(stderr, "troupe events: no system under %s has a hub running\n",
                    tr_sys_run_base());
        if (rc != 0)
            return rc;
        dir = found;
    } else if (!s_has_hub(dir)) {
        fprintf(stderr, "troupe events: no hub is running in %s\n", dir);
        return 1;
    }
    char in[PATH_MAX + 16], out[PATH_MAX + 16], ctl[PATH_MAX + 16];
    snprintf(in, sizeof in, "ipc://%s/.hub/in", dir);
    snprintf(out, sizeof out, "ipc://%s/.hub/out", dir);
    snprintf(ctl, sizeof ctl, "ipc://%s/.hub/ctl", dir);
    tr_hub_addr addr = {.in = in, .out = out, .ctl = ctl};
    tr_sub *sub = NULL;
    int rc = tr_sub_open(&sub, prefix, &addr);
    if (rc != TR_OK) {
        fprintf(stderr, "troupe events: %s: %s\n", out, tr_strerror(rc));
        return 1;
    }
    for (long n = 0; count < 0 || n < count;) {
        tr_msg topic, body;
        rc = tr_sub_recv(sub, &topic, &body, TR_FOREVER);
        if (rc == TR_EPROTO)
            continue;
        if (rc != TR_OK) {
            fprintf(stderr, "troupe events: %s\n", tr_strerror(rc));
            break;
        }
        s_print(&topic, &body, json);
        tr_msg_close(&topic);
        tr_msg_close(&body);
        n++;
    }
    tr_sub_destroy(&sub);
    return rc == TR_OK ? 0 : 1;
}
