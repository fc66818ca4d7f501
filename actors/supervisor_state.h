/* supervisor_state.h: the state of the supervisor a process runs, shared by
 * the state machine (supervisor_loop.c) and the control protocol's server
 * (supervisor_control.c). Internal to the supervisor's process. */
#ifndef TROUPE_ACTORS_SUPERVISOR_STATE_H
#define TROUPE_ACTORS_SUPERVISOR_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "actors/supervisor_internal.h"

enum { C_DOWN, C_UP, C_STOPPING };

typedef struct tr__sup_child {
    tr_child_spec spec;
    char name[65];
    bool dynamic;
    void *arg_copy; /* a dynamic child's argument bytes */
    tr_actor *actor;
    int state;
    bool want, cycle, forget;
    int stage;                /* while STOPPING: 0 waited, 1 SIGTERM, 2 SIGKILL */
    long long deadline;       /* of the stop stage; -1: none */
    long long not_before;     /* earliest restart (backoff) */
    unsigned quick_exits;     /* exits within period of their start, in a row */
    unsigned restarts;
    bool started_once, has_exited;
    bool start_failed; /* its last start failed: no exit code to show */
    long long started_ms;
    int last_exit;
    pid_t pid;
} tr__sup_child;

/* The supervisor this process runs: one per process, set by its init. */
typedef struct {
    const tr_sup_spec *spec;
    char name[65];
    int intensity, period_ms, backoff_max_ms;
    tr__sup_child **kids;
    size_t n, cap;
    long long *history; /* times of the last intensity + 1 restarts, a ring */
    size_t nhistory, hpos;
    unsigned restarts;
    uint64_t bad_requests;
    long long started_ms;
    bool shutting_down;
    bool start_failed; /* a child of the initial start failed: stop, not join */
    int exit_code; /* 0: by SIGTERM; else TR_SUP_EXIT_GAVE_UP */
    void *ctl;
    int sigfd;
    tr__sup_child *pending_stop; /* a stop_child waiting for its answer */
    bool pending_done;     /* ... whose child is gone: answer TR_OK */
    zmq_pollitem_t *items;
    tr__sup_child **item_kid;
    size_t items_cap;
} tr__sup_state;

extern tr__sup_state tr__sup;

/* From supervisor_loop.c: start a child's process (TR_OK or the spawn's
 * error), forget a child (frees it), report a first start. */
int tr__sup_spawn_child(tr__sup_child *c);
void tr__sup_remove(tr__sup_child *c);
void tr__sup_report_start(const tr__sup_child *c);

/* From supervisor_control.c: find a child by name, append one (TR_OK or
 * TR_ENOMEM), serve one request from the control socket, and answer a
 * stop_child whose child is gone (or TR_ECLOSED at shutdown). */
tr__sup_child *tr__sup_find(const char *name);
int tr__sup_add(tr__sup_child *c);
void tr__sup_request(void);
void tr__sup_answer_pending(void);

#endif /* TROUPE_ACTORS_SUPERVISOR_STATE_H */
