/* supervisor_internal.h: what supervisor.c (the API, in the caller's
 * process) and supervisor_loop.c (the supervisor's process) share. */
#ifndef TROUPE_ACTORS_SUPERVISOR_INTERNAL_H
#define TROUPE_ACTORS_SUPERVISOR_INTERNAL_H

#include "troupe/supervisor.h"

/* Largest number of children of one supervisor, and the largest argument of
 * a dynamic child. */
#define TR__SUP_MAX_CHILDREN 4096
#define TR__SUP_MAX_ARG (64 * 1024)

/* Bounds of a spec's numbers: the intensity sizes a ring of restart times,
 * and 32 x the longest backoff must fit an int. */
#define TR__SUP_MAX_INTENSITY 100000
#define TR__SUP_MAX_DELAY_MS 3600000

/* tr__sup_validate checks spec and the specs nested in it, logging the first
 * problem (TR-SPEC-INVALID). TR_OK or TR_EINVAL. */
int tr__sup_validate(const tr_sup_spec *spec);

/* tr__sup_spawn forks a supervisor process named name for spec with spawn
 * flags: it returns once the supervisor has started all its children (see
 * tr__actor_spawn_ex). The supervisor keeps the descriptors that its tree's
 * specs ask for. Errors as tr_supervisor_start. */
int tr__sup_spawn(tr_actor **out, const char *name, const tr_sup_spec *spec, int flags);

/* tr__sup_control_path writes the control socket's ipc:// address of the
 * supervisor named name in run_dir. TR_OK or TR_EINVAL (too long). */
int tr__sup_control_address(const char *run_dir, const char *name, char *buf, size_t len);

#endif /* TROUPE_ACTORS_SUPERVISOR_INTERNAL_H */
