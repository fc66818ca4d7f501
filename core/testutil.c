/* testutil.c: see testutil.h. */
#include "core/testutil.h"

#include "troupe/troupe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int s_stat_of(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    int pp;
    if (sscanf(p + 1, " %c %d", state, &pp) != 2)
        return -1;
    *ppid = (pid_t)pp;
    return 0;
}

int trt_children(pid_t parent, int *zombies)
{
    DIR *d = opendir("/proc");
    int count = 0, z = 0;
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char *end;
            long pid = strtol(e->d_name, &end, 10);
            if (*end != '\0' || pid <= 0)
                continue;
            char st;
            pid_t pp;
            if (s_stat_of((pid_t)pid, &st, &pp) == 0 && pp == parent) {
                count++;
                if (st == 'Z')
                    z++;
            }
        }
        closedir(d);
    }
    if (zombies != NULL)
        *zombies = z;
    return count;
}

bool trt_proc_exists(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    struct stat st;
    return stat(path, &st) == 0;
}

int trt_read_line(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t n = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (n + 1 < len) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, timeout_ms - (int)el > 0 ? timeout_ms - (int)el : 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        char c;
        ssize_t k = read(fd, &c, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        if (c == '\n') {
            buf[n] = '\0';
            return (int)n;
        }
        buf[n++] = c;
    }
    buf[n] = '\0';
    return (int)n;
}

void trt_write_line(int fd, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(fd, buf, (size_t)n);
    (void)w;
}

void trt_subreaper(void)
{
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

int trt_reap_orphans(void)
{
    int n = 0;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        n++;
    return n;
}

void trt_assert_no_children(void)
{
    int zombies = 0;
    int n = trt_children(getpid(), &zombies);
    assert_int_equal(zombies, 0);
    assert_int_equal(n, 0);
}

int trt_kill_children(void **state)
{
    (void)state;
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        char path[300], buf[4096];
        snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
        FILE *f = fopen(path, "re");
        size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f != NULL)
            fclose(f);
        buf[n] = '\0';
        char *save = NULL;
        for (char *p = strtok_r(buf, " \n", &save); p != NULL; p = strtok_r(NULL, " \n", &save)) {
            kill((pid_t)atoi(p), SIGKILL);
            waitpid((pid_t)atoi(p), NULL, 0);
        }
    }
    if (d != NULL)
        closedir(d);
    return 0;
}

void trt_join_ok(tr_actor **a, int timeout_ms)
{
    if (tr_actor_join(*a, timeout_ms) != TR_OK)
        fail_msg("%s did not exit", tr_actor_name(*a));
    int code = -1;
    assert_int_equal(tr_actor_exitcode(*a, &code), TR_OK);
    if (code != 0)
        fail_msg("%s exited with %d", tr_actor_name(*a), code);
    tr_actor_destroy(a);
}

static char s_base[64];

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static pid_t s_base_owner;

static void s_atexit(void)
{
    /* Only the process that made it: forked children inherit the handler. */
    if (getpid() == s_base_owner && s_base[0] != '\0')
        nftw(s_base, s_rm, 8, FTW_DEPTH | FTW_PHYS);
}

void trt_private_run_dir(void)
{
    snprintf(s_base, sizeof s_base, "/tmp/trt-XXXXXX");
    if (mkdtemp(s_base) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    setenv("TROUPE_RUN_DIR", s_base, 1);
    s_base_owner = getpid();
    atexit(s_atexit);
}

long long trt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void trt_report_open(int *rd, int *wr)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    *rd = fds[0];
    *wr = fds[1];
}

void trt_report_close(int *rd, int *wr)
{
    close(*rd);
    close(*wr);
    *rd = *wr = -1;
}

int trt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}
