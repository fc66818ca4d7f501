/* work_journal.h: the broker's append-only journal (work_journal.c).
 * Internal to //actors:work.
 *
 * A record says one thing about one task, named by its producer's id and
 * its id: submitted (with its bytes), its result (with status and bytes),
 * dead-lettered, or done (its producer has its result). Replaying the
 * records in order rebuilds what the broker held. Records are buffered and
 * written with one write(2) per flush, which the broker calls before it
 * acknowledges anything the records cover. */
#ifndef TROUPE_ACTORS_WORK_JOURNAL_H
#define TROUPE_ACTORS_WORK_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

enum {
    TR__J_SUBMIT = 'S', /* a task: data is its bytes */
    TR__J_RESULT = 'R', /* its result: status and data */
    TR__J_DEAD = 'X',   /* dead-lettered after deaths worker deaths */
    TR__J_DONE = 'D',   /* its producer acknowledged the result */
};

typedef struct tr__jrec {
    int type;
    const char *producer; /* not NUL-terminated */
    size_t plen;          /* 1..64 */
    uint64_t id;
    int32_t status;
    uint32_t deaths;
    const void *data;
    size_t len;
} tr__jrec;

typedef struct tr__journal tr__journal;

/* tr__journal_open replays the journal at path, calling replay(ctx, rec)
 * for each whole record in order (a torn record at the end, from a process
 * killed in a write, is cut off; a whole record that is not valid is
 * skipped), and opens it for appending. A missing
 * file is an empty journal. Errors: TR_ESYSTEM (errno), TR_EPROTO (not a
 * journal), TR_ENOMEM, or what replay returned. */
int tr__journal_open(tr__journal **out, const char *path,
                     int (*replay)(void *ctx, const tr__jrec *rec), void *ctx);

/* tr__journal_add buffers a record; a NULL journal ignores it. */
void tr__journal_add(tr__journal *j, const tr__jrec *rec);

/* tr__journal_flush writes what is buffered. On TR_ESYSTEM (errno: a full
 * disk, say) the file is cut back to its last whole record and the records
 * stay buffered for the next flush. TR_ENOMEM: a record could not be
 * buffered (the journal is then unreliable). */
int tr__journal_flush(tr__journal *j);

/* tr__journal_size is the file's length, buffered records included. */
uint64_t tr__journal_size(const tr__journal *j);

/* tr__journal_rewrite replaces the journal by the records that
 * fill(ctx, j) adds (what is still live), written to "<path>.new" and
 * renamed over it. Errors: TR_ESYSTEM; the old journal is then kept. */
int tr__journal_rewrite(tr__journal *j, int (*fill)(void *ctx, tr__journal *j), void *ctx);

/* tr__journal_close flushes, closes and sets *j to NULL; NULL is fine. */
void tr__journal_close(tr__journal **j);

#endif /* TROUPE_ACTORS_WORK_JOURNAL_H */
