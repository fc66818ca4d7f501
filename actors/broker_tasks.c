/* broker_tasks.c: the broker's tasks, queue, producers, dead letters and
 * journal (broker_internal.h). Tasks live in a slab with a free list,
 * found by (producer number, id) in a chained hash table, queued in a
 * doubly linked list so that a lost worker's tasks go back to its head. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/broker_internal.h"
#include "core/internal.h"

struct tr__broker tr__broker_state;

/* ---- tasks ------------------------------------------------------------------- */
static uint32_t s_hash(uint32_t pno, uint64_t id)
{
    uint64_t h = (id ^ ((uint64_t)pno << 40)) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 32) & (B.nbuckets - 1);
}

uint32_t tr__bk_find(uint32_t pno, uint64_t id)
{
    if (B.nbuckets == 0)
        return NIL;
    for (uint32_t t = B.buckets[s_hash(pno, id)]; t != NIL; t = B.tasks[t].hnext)
        if (B.tasks[t].id == id && B.tasks[t].pno == pno)
            return t;
    return NIL;
}

static int s_rehash(uint32_t nb)
{
    uint32_t *b = malloc(nb * sizeof *b);
    if (b == NULL)
        return TR_ENOMEM;
    free(B.buckets);
    B.buckets = b;
    B.nbuckets = nb;
    for (uint32_t i = 0; i < nb; i++)
        b[i] = NIL;
    for (uint32_t t = 0; t < B.captasks; t++)
        if (B.tasks[t].state != T_FREE) {
            uint32_t h = s_hash(B.tasks[t].pno, B.tasks[t].id);
            B.tasks[t].hnext = b[h];
            b[h] = t;
        }
    return TR_OK;
}

uint32_t tr__bk_task_new(uint32_t pno, uint64_t id)
{
    if (B.freelist == NIL) {
        uint32_t cap = B.captasks ? B.captasks * 2 : 1024;
        tr__btask *t = realloc(B.tasks, cap * sizeof *t);
        if (t == NULL)
            return NIL;
        B.tasks = t;
        for (uint32_t i = cap; i-- > B.captasks;) {
            t[i] = (tr__btask){.state = T_FREE, .next = B.freelist};
            B.freelist = i;
        }
        B.captasks = cap;
    }
    if (B.ntasks + 1 > B.nbuckets && s_rehash(B.nbuckets ? B.nbuckets * 2 : 1024) != TR_OK)
        return NIL;
    uint32_t t = B.freelist;
    B.freelist = B.tasks[t].next;
    B.producers[pno].ntasks++;
    B.tasks[t] = (tr__btask){.id = id, .pno = pno, .state = T_QUEUED, .worker = -1,
                          .prev = NIL, .next = NIL};
    uint32_t h = s_hash(pno, id);
    B.tasks[t].hnext = B.buckets[h];
    B.buckets[h] = t;
    B.ntasks++;
    return t;
}

void tr__bk_task_free(uint32_t t)
{
    tr__btask *k = &B.tasks[t];
    B.producers[k->pno].ntasks--;
    if (k->state == T_RESULT || (k->state == T_DEAD && !k->delivered))
        B.producers[k->pno].unacked--;
    for (uint32_t *p = &B.buckets[s_hash(k->pno, k->id)]; *p != NIL; p = &B.tasks[*p].hnext)
        if (*p == t) {
            *p = k->hnext;
            break;
        }
    free(k->data);
    free(k->res);
    *k = (tr__btask){.state = T_FREE, .next = B.freelist};
    B.freelist = t;
    B.ntasks--;
}

void tr__bk_queue_push(uint32_t t, bool at_head)
{
    tr__btask *k = &B.tasks[t];
    k->state = T_QUEUED;
    k->worker = -1;
    if (at_head) {
        k->prev = NIL;
        k->next = B.qhead;
        if (B.qhead != NIL)
            B.tasks[B.qhead].prev = t;
        else
            B.qtail = t;
        B.qhead = t;
    } else {
        k->next = NIL;
        k->prev = B.qtail;
        if (B.qtail != NIL)
            B.tasks[B.qtail].next = t;
        else
            B.qhead = t;
        B.qtail = t;
    }
    B.nqueued++;
}

void tr__bk_queue_unlink(uint32_t t)
{
    tr__btask *k = &B.tasks[t];
    if (k->prev != NIL)
        B.tasks[k->prev].next = k->next;
    else
        B.qhead = k->next;
    if (k->next != NIL)
        B.tasks[k->next].prev = k->prev;
    else
        B.qtail = k->prev;
    k->prev = k->next = NIL;
    B.nqueued--;
}

bool tr__bk_push_u32(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        uint32_t *p = realloc(*v, c * sizeof *p);
        if (p == NULL)
            return false;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return true;
}

void tr__bk_journal(int type, uint32_t t)
{
    tr__btask *k = &B.tasks[t];
    const char *p = B.producers[k->pno].id;
    tr__jrec r = {.type = type, .producer = p, .plen = strlen(p), .id = k->id,
                  .status = k->status, .deaths = k->deaths};
    if (type == TR__J_SUBMIT) {
        r.data = k->data;
        r.len = k->len;
    } else if (type == TR__J_RESULT) {
        r.data = k->res;
        r.len = k->rlen;
    }
    tr__journal_add(B.journal, &r);
}

int tr__bk_flush_journal(void)
{
    int rc = tr__journal_flush(B.journal);
    if (rc != TR_OK)
        tr_log(TR_LOG_ERROR, "TR-WORK-JOURNAL", "%s: cannot write the journal: %s; nothing "
               "more is acknowledged until it can", B.name,
               rc == TR_ESYSTEM ? strerror(errno) : tr_strerror(rc));
    return rc;
}

/* ---- producers and peers ---------------------------------------------------- */
uint32_t tr__bk_producer_of(const char *id, size_t len)
{
    /* A linear scan, at a producer's HELLO and at replay only: the table
     * holds the producers with tasks here or seen lately (s_expire frees
     * the others' slots). */
    uint32_t free_slot = NIL;
    for (uint32_t i = 0; i < B.nproducers; i++) {
        if (B.producers[i].id[0] == '\0' && free_slot == NIL)
            free_slot = i;
        if (strlen(B.producers[i].id) == len && memcmp(B.producers[i].id, id, len) == 0)
            return i;
    }
    if (free_slot == NIL) {
        tr__bproducer *p = realloc(B.producers, (B.nproducers + 1) * sizeof *p);
        if (p == NULL)
            return NIL;
        B.producers = p;
        p[B.nproducers] = (tr__bproducer){0};
        free_slot = B.nproducers++;
    }
    tr__bproducer *p = &B.producers[free_slot];
    uint32_t *outbox = p->outbox;
    size_t capout = p->capout;
    uint64_t *acks = p->acks;
    size_t capacks = p->capacks;
    *p = (tr__bproducer){.peer = -1, .away_since = tr__now_ms(), .outbox = outbox,
                         .capout = capout, .acks = acks, .capacks = capacks};
    memcpy(p->id, id, len);
    p->id[len] = '\0';
    return free_slot;
}

/* ---- journal replay and rewrite ------------------------------------------------- */
static int s_replay(void *ctx, const tr__jrec *rec)
{
    (void)ctx;
    uint32_t pno = tr__bk_producer_of(rec->producer, rec->plen);
    if (pno == NIL)
        return TR_ENOMEM;
    uint32_t t = tr__bk_find(pno, rec->id);
    if (rec->type == TR__J_SUBMIT) {
        if (t != NIL)
            return TR_OK;
        t = tr__bk_task_new(pno, rec->id);
        if (t == NIL || (B.tasks[t].data = malloc(rec->len ? rec->len : 1)) == NULL)
            return TR_ENOMEM;
        memcpy(B.tasks[t].data, rec->data, rec->len);
        B.tasks[t].len = (uint32_t)rec->len;
        tr__bk_queue_push(t, false);
        return TR_OK;
    }
    if (t == NIL)
        return TR_OK;
    tr__btask *k = &B.tasks[t];
    if (rec->type == TR__J_RESULT && k->state == T_QUEUED) {
        if ((k->res = malloc(rec->len ? rec->len : 1)) == NULL)
            return TR_ENOMEM;
        memcpy(k->res, rec->data, rec->len);
        k->rlen = (uint32_t)rec->len;
        k->status = rec->status;
        tr__bk_queue_unlink(t);
        k->state = T_RESULT;
        B.producers[pno].unacked++;
    } else if (rec->type == TR__J_DEAD && k->state == T_QUEUED) {
        tr__bk_queue_unlink(t);
        k->state = T_DEAD;
        B.producers[pno].unacked++;
        k->status = TR_WORK_DEAD_LETTER;
        k->deaths = rec->deaths;
        uint32_t *d = realloc(B.dead, (B.ndead + 1) * sizeof *d);
        if (d == NULL)
            return TR_ENOMEM;
        B.dead = d;
        B.dead[B.ndead++] = t;
    } else if (rec->type == TR__J_DONE) {
        if (k->state == T_DEAD && !k->delivered) {
            k->delivered = true;
            B.producers[pno].unacked--;
        } else if (k->state == T_RESULT)
            tr__bk_task_free(t);
    }
    return TR_OK;
}

/* Writes what is live, in the order a replay should queue it: the tasks
 * held by workers (they were first in line), then the queue in its order,
 * then those with a result or dead-lettered. */
static int s_fill(void *ctx, tr__journal *j)
{
    (void)ctx;
    (void)j;
    for (uint32_t t = 0; t < B.captasks; t++)
        if (B.tasks[t].state == T_RUNNING)
            tr__bk_journal(TR__J_SUBMIT, t);
    for (uint32_t t = B.qhead; t != NIL; t = B.tasks[t].next)
        tr__bk_journal(TR__J_SUBMIT, t);
    for (uint32_t t = 0; t < B.captasks; t++) {
        tr__btask *k = &B.tasks[t];
        if (k->state != T_RESULT && k->state != T_DEAD)
            continue;
        tr__bk_journal(TR__J_SUBMIT, t);
        if (k->state == T_RESULT)
            tr__bk_journal(TR__J_RESULT, t);
        if (k->state == T_DEAD) {
            tr__bk_journal(TR__J_DEAD, t);
            if (k->delivered)
                tr__bk_journal(TR__J_DONE, t);
        }
    }
    return TR_OK;
}

/* Rewrites the journal when most of it is about tasks that are gone. */
void tr__bk_maybe_rewrite(void)
{
    uint64_t size = tr__journal_size(B.journal);
    if (B.journal == NULL || size < B.next_check)
        return;
    uint64_t live = 0;
    for (uint32_t t = 0; t < B.captasks; t++)
        if (B.tasks[t].state != T_FREE)
            live += 40 + B.tasks[t].len + B.tasks[t].rlen;
    if (size > 4 * live && tr__journal_rewrite(B.journal, s_fill, NULL) == TR_OK)
        size = tr__journal_size(B.journal);
    B.next_check = size + (64u << 20);
}

void tr__bk_dead_letter(uint32_t t)
{
    tr__btask *task = &B.tasks[t];
    task->state = T_DEAD;
    task->status = TR_WORK_DEAD_LETTER;
    task->worker = -1;
    tr__bk_journal(TR__J_DEAD, t);
    B.st.dead_letters++;
    tr_log(TR_LOG_WARN, "TR-WORK-DEAD-LETTER", "%s: task %s/%llu killed %u workers: "
           "dead-lettered", B.name, B.producers[task->pno].id, (unsigned long long)task->id,
           task->deaths);
    if (B.ndead == MAX_DEAD && B.tasks[B.dead[0]].delivered) {
        /* The oldest goes, if its producer has it; else the list grows. */
        tr__bk_journal(TR__J_DONE, B.dead[0]);
        tr__bk_task_free(B.dead[0]);
        memmove(B.dead, B.dead + 1, (B.ndead - 1) * sizeof *B.dead);
        B.ndead--;
    }
    uint32_t *d = realloc(B.dead, (B.ndead + 1) * sizeof *d);
    if (d != NULL) {
        B.dead = d;
        B.dead[B.ndead++] = t;
    }
    /* Written before its producer hears of it, as for any result. */
    tr__bk_flush_journal();
    tr__bk_result_ready(t);
    tr__bk_send_results(task->pno);
}

int tr__bk_journal_open(const char *path)
{
    int rc = tr__journal_open(&B.journal, path, s_replay, NULL);
    if (rc != TR_OK) {
        tr_log(TR_LOG_ERROR, "TR-WORK-JOURNAL", "%s: cannot open %s: %s", B.name, path,
               rc == TR_ESYSTEM ? strerror(errno) : tr_strerror(rc));
        return 1;
    }
    /* Starts the new life with only what is live. */
    tr__journal_rewrite(B.journal, s_fill, NULL);
    B.next_check = tr__journal_size(B.journal) + (64u << 20);
    return 0;
}
