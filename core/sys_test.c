/* sys_test.c: names, settings, and the run directory's life cycle. Tests that
 * need a fresh process (a new root) re-execute this binary. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/testutil.h"
#include "troupe/troupe.h"

static void test_names(void **state)
{
    (void)state;
    assert_true(tr_name_valid("worker-1"));
    assert_true(tr_name_valid("a.b_c-D9"));
    assert_true(tr_name_valid("x"));
    char max[65];
    memset(max, 'n', 64);
    max[64] = '\0';
    assert_true(tr_name_valid(max));
    char over[66];
    memset(over, 'n', 65);
    over[65] = '\0';
    assert_false(tr_name_valid(over));
    assert_false(tr_name_valid(NULL));
    assert_false(tr_name_valid(""));
    assert_false(tr_name_valid(".lock"));
    assert_false(tr_name_valid("a/b"));
    assert_false(tr_name_valid("a b"));
    assert_false(tr_name_valid("caf\xc3\xa9"));
}

static void test_address_and_run_dir(void **state)
{
    (void)state;
    char addr[160];
    assert_int_equal(tr_sys_address("worker", addr, sizeof addr), TR_OK);
    const char *dir = tr_sys_run_dir();
    assert_non_null(dir);
    char want[160];
    snprintf(want, sizeof want, "ipc://%s/worker", dir);
    assert_string_equal(addr, want);
    assert_true(strlen(addr) - strlen("ipc://") <= 107);
    assert_int_equal(strncmp(dir, getenv("TROUPE_RUN_DIR"), strlen(getenv("TROUPE_RUN_DIR"))), 0);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(tr_sys_address("bad/name", addr, sizeof addr), TR_EINVAL);
    assert_int_equal(tr_sys_address("worker", addr, 10), TR_EINVAL);
}

static void test_settings(void **state)
{
    (void)state;
    assert_int_equal(tr_sys_set_hwm(0), TR_EINVAL);
    assert_int_equal(tr_sys_set_hwm(50), TR_OK);
    assert_int_equal(tr_sys_hwm(), 50);
    assert_int_equal(tr_sys_set_max_msg_size(0), TR_EINVAL);
    assert_int_equal(tr_sys_set_max_msg_size(4096), TR_OK);
    assert_int_equal((int)tr_sys_max_msg_size(), 4096);
    assert_int_equal(tr_sys_set_linger_ms(-2), TR_EINVAL);
    assert_int_equal(tr_sys_set_linger_ms(-1), TR_OK);
    assert_int_equal(tr_sys_set_exit_wait_ms(-2), TR_EINVAL);
    assert_int_equal(tr_sys_set_exit_wait_ms(2500), TR_OK);
    assert_int_equal(tr_sys_exit_wait_ms(), 2500);
    assert_int_equal(tr_sys_set_exit_wait_ms(10000), TR_OK);
    assert_int_equal(tr_sys_set_log_level(7), TR_EINVAL);
    assert_int_equal(tr_sys_set_log_level(TR_LOG_ERROR), TR_OK);
    assert_int_equal(tr_sys_log_level(), TR_LOG_ERROR);
    tr_sys_set_hwm(1000);
    tr_sys_set_max_msg_size(16 << 20);
    tr_sys_set_linger_ms(1000);
    tr_sys_set_log_level(TR_LOG_WARN);
}

static const char *s_self_exe;

/* Runs this binary as a fresh root with mode and env; returns its stdout's
 * first line in out and its exit status. */
static int s_run_root(const char *mode, const char *base, char *out, size_t len)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        setenv("TROUPE_RUN_DIR", base, 1);
        execl(s_self_exe, s_self_exe, mode, (char *)NULL);
        _exit(126);
    }
    close(p[1]);
    out[0] = '\0';
    trt_read_line(p[0], out, len, 10000);
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void s_touch(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
}

static void test_run_dir_removed_at_exit_and_stale_cleaned(void **state)
{
    (void)state;
    char base[64] = "/tmp/trt-base-XXXXXX";
    assert_non_null(mkdtemp(base));

    /* A stale directory (its lock free) and a live one (locked by us). */
    char stale[128], live[128], path[256];
    snprintf(stale, sizeof stale, "%s/1-stale0", base);
    snprintf(live, sizeof live, "%s/2-live00", base);
    assert_int_equal(mkdir(stale, 0700), 0);
    assert_int_equal(mkdir(live, 0700), 0);
    snprintf(path, sizeof path, "%s/.lock", stale);
    s_touch(path);
    snprintf(path, sizeof path, "%s/leftover-socket", stale);
    s_touch(path);
    snprintf(path, sizeof path, "%s/.lock", live);
    s_touch(path);
    int lockfd = open(path, O_RDWR);
    assert_true(lockfd >= 0);
    assert_int_equal(flock(lockfd, LOCK_EX), 0);

    /* A root that died making its directory: only .lock.new, or no lock at
     * all (stale once a minute old; a fresh one may be a root starting). */
    char half[128], bare_old[128], bare_new[128];
    snprintf(half, sizeof half, "%s/3-half000", base);
    snprintf(bare_old, sizeof bare_old, "%s/4-bareold", base);
    snprintf(bare_new, sizeof bare_new, "%s/5-barenew", base);
    assert_int_equal(mkdir(half, 0700), 0);
    assert_int_equal(mkdir(bare_old, 0700), 0);
    assert_int_equal(mkdir(bare_new, 0700), 0);
    snprintf(path, sizeof path, "%s/.lock.new", half);
    s_touch(path);
    struct timeval old[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
    assert_int_equal(utimes(bare_old, old), 0);

    char dir[256];
    assert_int_equal(s_run_root("root", base, dir, sizeof dir), 0);
    struct stat st;
    assert_true(strlen(dir) > strlen(base));
    assert_int_not_equal(stat(dir, &st), 0); /* removed at its orderly exit */
    assert_int_not_equal(stat(stale, &st), 0); /* cleaned at its start */
    assert_int_equal(stat(live, &st), 0);      /* left alone: someone holds it */
    assert_int_not_equal(stat(half, &st), 0);
    assert_int_not_equal(stat(bare_old, &st), 0);
    assert_int_equal(stat(bare_new, &st), 0);
    rmdir(bare_new);

    close(lockfd);
    snprintf(path, sizeof path, "%s/.lock", live);
    unlink(path);
    rmdir(live);
    rmdir(base);
}

static void test_base_too_long_is_refused(void **state)
{
    (void)state;
    char base[200];
    memset(base, 'x', sizeof base - 1);
    base[0] = '/';
    base[sizeof base - 1] = '\0';
    char out[64];
    assert_int_equal(s_run_root("init-rc", base, out, sizeof out), 0);
    assert_int_equal(atoi(out), TR_EINVAL);
}

int main(int argc, char **argv)
{
    s_self_exe = "/proc/self/exe";
    if (argc == 2 && strcmp(argv[1], "root") == 0) {
        const char *dir = tr_sys_run_dir();
        printf("%s\n", dir ? dir : "");
        return dir ? 0 : 1;
    }
    if (argc == 2 && strcmp(argv[1], "init-rc") == 0) {
        printf("%d\n", tr_sys_init());
        return 0;
    }
    trt_private_run_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_address_and_run_dir),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_run_dir_removed_at_exit_and_stale_cleaned),
        cmocka_unit_test(test_base_too_long_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
