/* pool.c: a worker pool (tr_pool, troupe/work.h): a supervisor with a
 * broker and worker actors, and a producer in the calling process.
 *
 * Results are matched to their asks by task id. A tr_pool_map's tasks have
 * consecutive ids, so its results go straight to their index, sharing the
 * frame they came in (no copy); each tr_async owns an entry of a small
 * hash table while it waits. A result nobody waits for (its handle was
 * destroyed) or that came already (a duplicate, from a task that ran
 * twice) is dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/work_internal.h"
#include "core/internal.h"
#include "troupe/supervisor.h"
#include "troupe/work.h"

enum { E_FREE = 0, E_WAITING, E_DONE, E_GONE };

typedef struct {
    uint64_t id;
    int state;
    int status;
    uint8_t *data;
    size_t len;
} s_entry;

struct tr_pool {
    char name[TR__WORK_MAX_ID + 1];
    char broker_name[TR__WORK_MAX_ID + 16];
    const char *broker; /* broker_name, or the options' broker */
    tr_work_fn fn;
    void *arg;
    tr_worker_opts wopts;
    tr_supervisor *sup;
    tr_sup_spec spec;
    tr_child_spec *children;
    char (*names)[TR__WORK_MAX_ID + 16];
    tr_work_client *client;
    s_entry *table; /* open addressing, linear probing; E_GONE is a tombstone */
    size_t cap, used;
    tr_work_result r;
    /* the tr_pool_map in progress: ids [map_first, map_first + map_n) */
    uint64_t map_first;
    size_t map_n, map_got;
    tr_msg *map_results;
    int *map_statuses;
};

struct tr_async {
    tr_pool *p;
    uint64_t id;
};

/* ---- the result table ---------------------------------------------------------- */

static size_t s_slot(size_t cap, uint64_t id)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static s_entry *s_lookup(tr_pool *p, uint64_t id)
{
    if (p->cap == 0)
        return NULL;
    for (size_t i = s_slot(p->cap, id), k = 0; k < p->cap; i = (i + 1) & (p->cap - 1), k++) {
        if (p->table[i].state == E_FREE)
            return NULL;
        if (p->table[i].state != E_GONE && p->table[i].id == id)
            return &p->table[i];
    }
    return NULL;
}

static int s_insert(tr_pool *p, uint64_t id)
{
    if (2 * (p->used + 1) > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        s_entry *t = calloc(cap, sizeof *t), *old = p->table;
        if (t == NULL)
            return TR_ENOMEM;
        size_t oldcap = p->cap;
        p->table = t;
        p->cap = cap;
        p->used = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].state == E_WAITING || old[i].state == E_DONE) {
                size_t j = s_slot(cap, old[i].id);
                while (t[j].state != E_FREE)
                    j = (j + 1) & (cap - 1);
                t[j] = old[i];
                p->used++;
            }
        free(old);
    }
    size_t i = s_slot(p->cap, id);
    while (p->table[i].state == E_WAITING || p->table[i].state == E_DONE)
        i = (i + 1) & (p->cap - 1);
    if (p->table[i].state == E_FREE)
        p->used++;
    p->table[i] = (s_entry){.id = id, .state = E_WAITING};
    return TR_OK;
}

static void s_remove(s_entry *e)
{
    free(e->data);
    *e = (s_entry){.state = E_GONE};
}

/* Takes one result from the broker, waiting up to timeout_ms, and files
 * it. */
static int s_collect(tr_pool *p, int timeout_ms)
{
    int rc = tr_work_next(p->client, &p->r, timeout_ms);
    if (rc != TR_OK)
        return rc;
    uint64_t k = p->r.id - p->map_first;
    if (p->r.id >= p->map_first && k < p->map_n) {
        if (p->map_statuses[k] != TR_WORK_MISSING)
            return TR_OK; /* a duplicate */
        /* Moved, not copied: the result keeps a reference to its frame. */
        tr_msg_close(&p->map_results[k]);
        p->map_results[k] = p->r.data;
        tr_msg_init(&p->r.data);
        p->map_statuses[k] = p->r.status;
        p->map_got++;
        return TR_OK;
    }
    s_entry *e = s_lookup(p, p->r.id);
    if (e == NULL || e->state != E_WAITING)
        return TR_OK; /* not wanted any more, or a duplicate */
    size_t n = tr_msg_size(&p->r.data);
    e->data = malloc(n ? n : 1);
    if (e->data == NULL)
        return TR_ENOMEM;
    memcpy(e->data, tr_msg_data(&p->r.data), n);
    e->len = n;
    e->status = p->r.status;
    e->state = E_DONE;
    return TR_OK;
}

/* ---- the pool --------------------------------------------------------------------- */

static int s_worker_main(void *arg)
{
    tr_pool *p = arg;
    int rc = tr_worker_run(p->broker, p->fn, p->arg, &p->wopts, NULL);
    return rc == TR_OK ? 0 : 1;
}

static void s_free(tr_pool *p)
{
    tr_work_result_close(&p->r);
    tr_work_client_destroy(&p->client);
    for (size_t i = 0; i < p->cap; i++)
        free(p->table[i].data);
    free(p->table);
    free(p->children);
    free(p->names);
    free(p);
}

int tr_pool_start(tr_pool **out, const char *name, tr_work_fn fn, void *arg,
                  const tr_pool_opts *opts)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    tr_pool_opts o = opts ? *opts : (tr_pool_opts){0};
    if (name == NULL || fn == NULL || !tr_name_valid(name) || strlen(name) > TR__WORK_MAX_ID ||
        o.workers < 0 || o.workers > 4096 || o.prefetch < 0 || o.prefetch > 100000)
        return TR_EINVAL;
    if (o.workers == 0)
        o.workers = 4;
    tr_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return TR_ENOMEM;
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->broker_name, sizeof p->broker_name, "%s-broker", name);
    p->broker = o.broker != NULL ? o.broker : p->broker_name;
    p->fn = fn;
    p->arg = arg;
    p->wopts = (tr_worker_opts){.prefetch = o.prefetch};
    tr_work_result_init(&p->r);
    size_t nkids = (size_t)o.workers + (o.broker == NULL);
    p->children = calloc(nkids, sizeof *p->children);
    p->names = calloc(nkids, sizeof *p->names);
    if (p->children == NULL || p->names == NULL) {
        s_free(p);
        return TR_ENOMEM;
    }
    size_t k = 0;
    if (o.broker == NULL)
        tr_broker_child_spec(&p->children[k++], p->broker_name, o.broker_opts);
    for (int i = 0; i < o.workers; i++, k++) {
        snprintf(p->names[k], sizeof p->names[k], "%s-w%d", name, i);
        p->children[k] = (tr_child_spec){
            .name = p->names[k],
            .fn = s_worker_main,
            .arg = p,
            .restart = TR_PERMANENT,
            .shutdown_ms = 2000,
            .flags = TR_SPAWN_DAEMON | TR_SPAWN_NO_MAILBOX,
        };
    }
    /* Workers may die of their tasks: a poison task kills up to
     * max_attempts + 1 of them before it is dead-lettered, so the pool
     * tolerates many restarts before giving up. */
    p->spec = (tr_sup_spec){
        .strategy = TR_ONE_FOR_ONE,
        .intensity = 20 + 10 * o.workers,
        .period_ms = 10000,
        .children = p->children,
        .nchildren = nkids,
    };
    int rc = tr_work_client_new(&p->client, p->broker, NULL);
    if (rc == TR_OK)
        rc = tr_supervisor_start(&p->sup, name, &p->spec, TR_SPAWN_DAEMON);
    if (rc != TR_OK) {
        s_free(p);
        return rc;
    }
    *out = p;
    return TR_OK;
}

void tr_pool_destroy(tr_pool **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    tr_pool *p = *pp;
    if (p->sup != NULL) {
        tr_supervisor_stop(p->sup, 10000);
        tr_supervisor_destroy(&p->sup);
    }
    s_free(p);
    *pp = NULL;
}

tr_supervisor *tr_pool_supervisor(tr_pool *p)
{
    return p == NULL ? NULL : p->sup;
}

tr_work_client *tr_pool_client(tr_pool *p)
{
    return p == NULL ? NULL : p->client;
}

int tr_pool_apply(tr_pool *p, const void *data, size_t size, tr_async **out, int timeout_ms)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    if (p == NULL || (data == NULL && size > 0))
        return TR_EINVAL;
    tr_async *a = calloc(1, sizeof *a);
    if (a == NULL)
        return TR_ENOMEM;
    int rc = tr_work_submit(p->client, data, size, &a->id, timeout_ms);
    if (rc == TR_OK)
        rc = s_insert(p, a->id);
    if (rc != TR_OK) {
        free(a);
        return rc;
    }
    a->p = p;
    *out = a;
    return TR_OK;
}

static int s_copy_out(const s_entry *e, tr_msg *result, int *status)
{
    tr_msg_close(result);
    if (status != NULL)
        *status = e->status;
    /* A private frame: the caller's until tr_msg_close. */
    tr__msg *m = (tr__msg *)result;
    if (zmq_msg_init_size(&m->zmsg, e->len) != 0)
        return TR_ENOMEM;
    if (e->len > 0)
        memcpy(zmq_msg_data(&m->zmsg), e->data, e->len);
    return TR_OK;
}

int tr_async_get(tr_async *a, tr_msg *result, int *status, int timeout_ms)
{
    if (a == NULL || result == NULL)
        return TR_EINVAL;
    long long deadline = tr__deadline_ms(timeout_ms);
    for (;;) {
        s_entry *e = s_lookup(a->p, a->id);
        if (e == NULL)
            return TR_EINVAL;
        if (e->state == E_DONE)
            return s_copy_out(e, result, status);
        int left = tr__remaining_ms(deadline);
        int rc = s_collect(a->p, left);
        if (rc == TR_EEMPTY)
            return TR_ETIMEDOUT;
        if (rc != TR_OK)
            return rc;
    }
}

bool tr_async_ready(tr_async *a)
{
    if (a == NULL)
        return false;
    while (s_collect(a->p, 0) == TR_OK)
        ;
    s_entry *e = s_lookup(a->p, a->id);
    return e != NULL && e->state == E_DONE;
}

void tr_async_destroy(tr_async **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    s_entry *e = s_lookup((*ap)->p, (*ap)->id);
    if (e != NULL)
        s_remove(e);
    free(*ap);
    *ap = NULL;
}

int tr_pool_map(tr_pool *p, const struct iovec *inputs, size_t n, tr_msg *results,
                int *statuses, int timeout_ms)
{
    if (p == NULL || ((inputs == NULL || results == NULL) && n > 0))
        return TR_EINVAL;
    int *st = statuses != NULL ? statuses : malloc((n ? n : 1) * sizeof *st);
    if (st == NULL)
        return TR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        tr_msg_init(&results[i]);
        st[i] = TR_WORK_MISSING;
    }
    long long deadline = tr__deadline_ms(timeout_ms);
    uint64_t first = 0;
    size_t done = 0;
    int rc = n == 0 ? TR_OK : tr_work_submitv(p->client, inputs, n, &first, &done, timeout_ms);
    p->map_first = first;
    p->map_n = done;
    p->map_got = 0;
    p->map_results = results;
    p->map_statuses = st;
    while (rc == TR_OK && p->map_got < done) {
        rc = s_collect(p, tr__remaining_ms(deadline));
        if (rc == TR_EEMPTY)
            rc = TR_ETIMEDOUT;
    }
    p->map_n = 0; /* what comes later for these ids is dropped */
    if (st != statuses)
        free(st);
    return rc;
}
