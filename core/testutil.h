/* core/testutil.h: helpers for troupe's cmocka tests (testonly). */
#ifndef TROUPE_CORE_TESTUTIL_H
#define TROUPE_CORE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

/* Counts the processes whose parent is `parent`, from /proc; *zombies (if
 * not NULL) receives how many of them are zombies. */
int trt_children(pid_t parent, int *zombies);

/* Whether /proc/PID exists (a zombie counts as existing). */
bool trt_proc_exists(pid_t pid);

/* Reads one '\n'-terminated line from fd into buf (without the newline),
 * waiting at most timeout_ms for it. Returns its length, or -1 on timeout,
 * EOF or error. Reads byte by byte: test lines are short. */
int trt_read_line(int fd, char *buf, size_t len, int timeout_ms);

/* CLOCK_MONOTONIC in milliseconds. */
long long trt_now_ms(void);

/* A report pipe: children of a test write lines to *wr (keep it in their
 * keep_fds), the test reads them from *rd. Both ends are O_CLOEXEC; close
 * them with trt_report_close, which sets them to -1. */
void trt_report_open(int *rd, int *wr);
void trt_report_close(int *rd, int *wr);

/* Writes a formatted line to fd, in one write(2). */
void trt_write_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes this process a child subreaper, so that orphans of the actors it
 * spawns are re-parented here (and can be reaped and checked) rather than
 * to whatever PID 1 the test runs under. */
void trt_subreaper(void);

/* Reaps every re-parented orphan that has exited; returns how many. */
int trt_reap_orphans(void);

/* Asserts that this process has no child left, live or zombie. Every test
 * that forks ends with it. */
void trt_assert_no_children(void);

/* Kills (SIGKILL) and reaps every child of this process, of any of its
 * threads. For a teardown after a test that failed half-way: its handles
 * went with its stack, and what it left running would otherwise fail the
 * tests after it. Usable as a cmocka teardown (always returns 0). */
int trt_kill_children(void **state);

/* Joins actor *a (waiting at most timeout_ms), fails the test unless it
 * exited with 0, and destroys the handle. */
struct tr_actor;
void trt_join_ok(struct tr_actor **a, int timeout_ms);

/* A free tcp port on 127.0.0.1: the kernel's pick, released at once for
 * the caller to bind (fails the test if there is none). */
int trt_free_port(void);

/* Gives the suite its own run-directory base (/tmp/trt-XXXXXX) so parallel
 * test binaries never see each other, and removes it at exit. Call first in
 * main. */
void trt_private_run_dir(void);

#endif
