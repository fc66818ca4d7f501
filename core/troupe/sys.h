/* troupe/sys.h: process-wide settings and the run directory.
 *
 * All of troupe's global state lives in core/sys.c. Each setting has a default,
 * an environment override read once at first use, and a setter for programs
 * that prefer code to environment. Settings are inherited by actors, since
 * actors are forked. */
#ifndef TROUPE_SYS_H
#define TROUPE_SYS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every timeout in troupe is in milliseconds: TR_FOREVER waits as long as it
 * takes, TR_NOWAIT does not wait at all. */
#define TR_FOREVER (-1)
#define TR_NOWAIT 0

/* Log levels, most severe first. A message is printed when its level is at or
 * above (numerically at or below) the configured level. */
enum { TR_LOG_ERROR = 0, TR_LOG_WARN, TR_LOG_INFO, TR_LOG_DEBUG };

/* tr_sys_init prepares the process for troupe: reads the environment and
 * creates this system's private run directory (mode 0700). It is called
 * implicitly by the first call that needs it; calling it first only moves that
 * cost to a time of your choosing. The process that first calls it is the
 * system's root: its run directory is removed when it exits normally (unless
 * orphaned actors of the system still run in it), and a run directory whose
 * processes have all died is removed by the next root that starts with the
 * same base directory. Idempotent.
 * Errors: TR_EINVAL when the base directory is longer than 64 bytes (ipc://
 * paths are limited to 107), TR_ESYSTEM when the directory cannot be made
 * (errno). */
int tr_sys_init(void);

/* tr_sys_run_dir returns this system's run directory, creating it if needed,
 * or NULL when it cannot be made. The string is owned by troupe. */
const char *tr_sys_run_dir(void);

/* tr_sys_run_base returns the directory under which systems make their run
 * directories ("<base>/<pid>-XXXXXX"), without making anything: what a tool
 * such as `troupe status` scans to find the running systems. The string is
 * owned by troupe. Never fails. */
const char *tr_sys_run_base(void);

/* tr_sys_address writes the ipc:// address that troupe derives from name
 * (an actor's mailbox, a queue) into buf. Errors: TR_EINVAL for an invalid
 * name (see tr_name_valid) or a buffer that is too small; the errors of
 * tr_sys_init. */
int tr_sys_address(const char *name, char *buf, size_t len);

/* tr_name_valid says whether name can name an actor, queue or pipe: 1 to 64
 * characters from [A-Za-z0-9._-], not starting with '.'. Names become file
 * names in the run directory, hence the rule. */
int tr_name_valid(const char *name);

/* Settings. Each getter returns the value in force; each setter affects this
 * process and the actors it spawns afterwards.
 *  - log level           TROUPE_LOG_LEVEL  error|warn|info|debug  (warn)
 *  - max message size    TROUPE_MAX_MSG    bytes                  (16 MiB)
 *  - high-water mark     TROUPE_HWM        messages per pipe      (1000)
 *  - linger on close     TROUPE_LINGER_MS  ms, -1 = forever       (1000)
 *        how long a closing socket keeps trying to send what it holds
 *  - exit wait           TROUPE_EXIT_WAIT_MS  ms, -1 = forever    (10000)
 *        how long destroying an open queue producer or pipe end, or exiting
 *        with one, waits for the other side to confirm it got everything
 *        (a dead peer is noticed at once, not waited for)
 *  - run directory base  TROUPE_RUN_DIR    path, at most 64 bytes
 *        (default $XDG_RUNTIME_DIR/troupe when that is at most 24 bytes and
 *        can be made, else /tmp/troupe-UID; environment only, as it must be
 *        fixed before the first actor exists)
 * Setters return TR_EINVAL for an out-of-range value. */
int tr_sys_log_level(void);
int tr_sys_set_log_level(int level);
size_t tr_sys_max_msg_size(void);
int tr_sys_set_max_msg_size(size_t bytes);
int tr_sys_hwm(void);
int tr_sys_set_hwm(int messages);
int tr_sys_linger_ms(void);
int tr_sys_set_linger_ms(int ms);
int tr_sys_exit_wait_ms(void);
int tr_sys_set_exit_wait_ms(int ms);

/* tr_log prints one line to stderr when level is enabled:
 *   2026-11-21T10:00:00.123Z W TR-CHILD-EXIT worker-1[4242] exited with 3
 * id is a stable identifier for the kind of event (grep for it); the name
 * and pid are the calling process's (the actor's name, or "main"). */
void tr_log(int level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif /* TROUPE_SYS_H */
