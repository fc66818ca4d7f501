/* work_journal.c: the broker's journal (work_journal.h).
 *
 * File: the 8 bytes "TRWORKJ1", then records:
 *   u32 size (of what follows), u8 type, u8 plen, producer, u64 id,
 *   i32 status, u32 deaths, u32 len, data
 * little-endian. There is no fsync: the journal survives the broker's
 * death (the kernel holds what write(2) was given), not the machine's, like
 * the rest of the run directory. Why one file appended and rewritten now
 * and then, and not a file per task: a task costs one buffered append, and
 * the broker's throughput is a few writes per batch of tasks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/work_internal.h"
#include "actors/work_journal.h"
#include "troupe/error.h"

#define MAGIC "TRWORKJ1"
#define MAGIC_LEN 8
#define FIXED (1 + 1 + 8 + 4 + 4 + 4) /* after size, before producer and data */

struct tr__journal {
    int fd;
    char *path;
    tr__wbuf buf;    /* records not written yet (its 4-byte header unused) */
    uint64_t size;   /* bytes on file */
};

static void s_encode(tr__wbuf *b, const tr__jrec *r)
{
    tr__wbuf_u32(b, (uint32_t)(FIXED + r->plen + r->len));
    tr__wbuf_u8(b, (uint8_t)r->type);
    tr__wbuf_u8(b, (uint8_t)r->plen);
    tr__wbuf_bytes(b, r->producer, r->plen);
    tr__wbuf_u64(b, r->id);
    tr__wbuf_u32(b, (uint32_t)r->status);
    tr__wbuf_u32(b, r->deaths);
    tr__wbuf_u32(b, (uint32_t)r->len);
    tr__wbuf_bytes(b, r->data, r->len);
}

static int s_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return TR_ESYSTEM;
        p += w;
        n -= (size_t)w;
    }
    return TR_OK;
}

/* Reads the whole file: journals stay small (they are rewritten when most
 * of them is dead), and replay happens once per broker start. */
static int s_replay(int fd, int (*replay)(void *, const tr__jrec *), void *ctx, uint64_t *good)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return TR_ESYSTEM;
    size_t n = (size_t)st.st_size;
    *good = 0;
    if (n == 0)
        return TR_OK;
    uint8_t *p = malloc(n);
    if (p == NULL)
        return TR_ENOMEM;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    int rc = TR_OK;
    if (got < MAGIC_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0) {
        rc = got == 0 ? TR_OK : TR_EPROTO;
        goto out;
    }
    size_t off = MAGIC_LEN;
    *good = off;
    tr__rbuf r = {.p = p, .len = got, .off = off};
    while (rc == TR_OK && r.off < r.len) {
        uint32_t size = tr__rbuf_u32(&r);
        if (r.bad || size < FIXED || size > r.len - r.off)
            break; /* torn at the end: the rest is cut off */
        size_t end = r.off + size;
        tr__jrec rec = {.type = tr__rbuf_u8(&r)};
        rec.plen = tr__rbuf_u8(&r);
        rec.producer = (const char *)tr__rbuf_bytes(&r, rec.plen);
        rec.id = tr__rbuf_u64(&r);
        rec.status = (int32_t)tr__rbuf_u32(&r);
        rec.deaths = tr__rbuf_u32(&r);
        rec.len = tr__rbuf_u32(&r);
        rec.data = tr__rbuf_bytes(&r, rec.len);
        /* A whole record that makes no sense is skipped, not the journal:
         * its size still says where the next one starts. */
        if (!r.bad && r.off == end && tr__work_id_valid(rec.producer, rec.plen))
            rc = replay(ctx, &rec);
        r.bad = false;
        r.off = end;
        *good = end;
    }
out:
    free(p);
    return rc;
}

int tr__journal_open(tr__journal **out, const char *path,
                     int (*replay)(void *, const tr__jrec *), void *ctx)
{
    *out = NULL;
    tr__journal *j = calloc(1, sizeof *j);
    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        return TR_ENOMEM;
    }
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->fd < 0) {
        free(j->path);
        free(j);
        return TR_ESYSTEM;
    }
    uint64_t good = 0;
    int rc = s_replay(j->fd, replay, ctx, &good);
    if (rc == TR_OK && good == 0) {
        rc = s_write_all(j->fd, (const uint8_t *)MAGIC, MAGIC_LEN);
        good = MAGIC_LEN;
    }
    if (rc == TR_OK && (ftruncate(j->fd, (off_t)good) != 0 ||
                        lseek(j->fd, (off_t)good, SEEK_SET) < 0))
        rc = TR_ESYSTEM;
    if (rc != TR_OK) {
        int e = errno;
        close(j->fd);
        free(j->path);
        free(j);
        errno = e;
        return rc;
    }
    j->size = good;
    *out = j;
    return TR_OK;
}

void tr__journal_add(tr__journal *j, const tr__jrec *rec)
{
    if (j != NULL)
        s_encode(&j->buf, rec);
}

int tr__journal_flush(tr__journal *j)
{
    if (j == NULL || j->buf.len == 0)
        return j != NULL && j->buf.oom ? TR_ENOMEM : TR_OK;
    if (j->buf.oom)
        return TR_ENOMEM;
    int rc = s_write_all(j->fd, j->buf.p, j->buf.len);
    if (rc != TR_OK) {
        /* A short write (a full disk) leaves part of a record: cut back to
         * the last whole one, and keep the records for the next flush. */
        int e = errno;
        if (ftruncate(j->fd, (off_t)j->size) != 0 || lseek(j->fd, (off_t)j->size, SEEK_SET) < 0)
            e = errno;
        errno = e;
        return rc;
    }
    j->size += j->buf.len;
    j->buf.len = 0;
    return TR_OK;
}

uint64_t tr__journal_size(const tr__journal *j)
{
    return j == NULL ? 0 : j->size + j->buf.len;
}

int tr__journal_rewrite(tr__journal *j, int (*fill)(void *, tr__journal *), void *ctx)
{
    if (j == NULL)
        return TR_OK;
    int rc = tr__journal_flush(j);
    if (rc != TR_OK)
        return rc;
    size_t plen = strlen(j->path);
    char *tmp = malloc(plen + 5);
    if (tmp == NULL)
        return TR_ENOMEM;
    memcpy(tmp, j->path, plen);
    memcpy(tmp + plen, ".new", 5);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(tmp);
        return TR_ESYSTEM;
    }
    /* fill adds to the buffer, which is then written to the new file. */
    tr__wbuf_bytes(&j->buf, MAGIC, MAGIC_LEN);
    rc = fill(ctx, j);
    if (rc == TR_OK)
        rc = j->buf.oom ? TR_ENOMEM : s_write_all(fd, j->buf.p, j->buf.len);
    uint64_t size = j->buf.len;
    j->buf.len = 0;
    j->buf.oom = false;
    if (rc == TR_OK && rename(tmp, j->path) != 0)
        rc = TR_ESYSTEM;
    if (rc != TR_OK) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        errno = e;
        return rc;
    }
    free(tmp);
    close(j->fd);
    j->fd = fd;
    j->size = size;
    return TR_OK;
}

void tr__journal_close(tr__journal **jp)
{
    if (jp == NULL || *jp == NULL)
        return;
    tr__journal *j = *jp;
    tr__journal_flush(j);
    close(j->fd);
    tr__wbuf_free(&j->buf);
    free(j->path);
    free(j);
    *jp = NULL;
}
