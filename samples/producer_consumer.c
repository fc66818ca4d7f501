/* producer_consumer: one producer, N consumers sharing one queue.
 *
 *   producer_consumer [--consumers N] [--messages M] [--size B] [--json]
 *
 * The parent puts M numbered jobs (samples.Job, samples/work.proto) with a
 * payload of B bytes into a queue; N consumer actors share them and stop at
 * end of stream. Each consumer sends back what it saw (samples.Report: a
 * count and a bitmap of sequence numbers) through a second queue that all
 * consumers produce into, so lost and duplicated messages are counted from
 * the sequence numbers themselves, not assumed. Messages are typed: each is
 * checked and decoded on receipt (docs/codecs.md).
 *
 * This is the Python program
 *     q = Queue(); [Process(target=consume, args=(q,)).start() ...]
 *     for i in range(M): q.put(i)
 *     for _ in consumers: q.put(None)          # one sentinel each
 * without the sentinels: the queue's close is the end of stream. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe/codec.h>
#include <troupe/troupe.h>

#include "samples/work.pb-c.h"

typedef struct {
    tr_queue *work;
    tr_queue *results;
    int id;
    long messages;
    long size;
} consumer_args;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int consume(void *arg)
{
    consumer_args *a = arg;
    size_t nbytes = (size_t)(a->messages + 7) / 8;
    unsigned char *seen = calloc(nbytes, 1);
    tr_registry *types = NULL;
    if (seen == NULL || tr_registry_new(&types) != TR_OK ||
        tr_registry_add(types, &samples__job__descriptor, NULL) != TR_OK)
        return 1;
    Samples__Report report;
    samples__report__init(&report);
    report.consumer = a->id;
    for (;;) {
        tr_typed t;
        int rc = tr_codec_get(a->work, types, &t, TR_FOREVER);
        if (rc == TR_ECLOSED)
            break;
        if (rc != TR_OK) {
            /* A refused message is logged and counted; carry on. */
            report.bad++;
            if (rc == TR_EFRAMES || rc == TR_EVERSION || rc == TR_ETYPE || rc == TR_EDECODE)
                continue;
            fprintf(stderr, "consumer %d: %s\n", a->id, tr_strerror(rc));
            return 2;
        }
        const Samples__Job *job = (const Samples__Job *)t.msg;
        if (job->payload.len != (size_t)a->size || job->seq >= (uint64_t)a->messages) {
            report.bad++;
        } else {
            /* A second delivery shows in got but not in the bitmap: the
             * parent counts duplicates from the difference. */
            seen[job->seq / 8] |= (unsigned char)(1u << (job->seq % 8));
            report.got++;
        }
        tr_typed_release(&t);
    }
    report.seen.data = seen;
    report.seen.len = nbytes;
    int rc = tr_codec_put(a->results, &report.base, TR_FOREVER);
    if (rc == TR_OK)
        rc = tr_queue_close(a->results, TR_FOREVER);
    free(seen);
    tr_registry_destroy(&types);
    return rc == TR_OK ? 0 : 3;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--consumers N] [--messages M] [--size B] [--json]\n", argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    long consumers = 4, messages = 100000, size = 64;
    int json = 0;
    static const struct option opts[] = {
        {"consumers", required_argument, NULL, 'c'},
        {"messages", required_argument, NULL, 'm'},
        {"size", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "c:m:s:jh", opts, NULL)) != -1) {
        switch (o) {
        case 'c': consumers = strtol(optarg, NULL, 10); break;
        case 'm': messages = strtol(optarg, NULL, 10); break;
        case 's': size = strtol(optarg, NULL, 10); break;
        case 'j': json = 1; break;
        default: usage(argv[0]);
        }
    }
    if (consumers < 1 || consumers > 64 || messages < 1 || size < 8 || size > 1 << 20)
        usage(argv[0]);

    tr_queue *work = NULL, *results = NULL;
    int rc = tr_queue_new(&work, "work", NULL);
    if (rc == TR_OK)
        rc = tr_queue_new(&results, "results", &(tr_queue_opts){.producers = (int)consumers});
    if (rc != TR_OK) {
        fprintf(stderr, "queue: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_actor **actors = calloc((size_t)consumers, sizeof *actors);
    consumer_args *args = calloc((size_t)consumers, sizeof *args);
    for (long i = 0; i < consumers; i++) {
        char name[32];
        snprintf(name, sizeof name, "consumer-%ld", i);
        args[i] = (consumer_args){work, results, (int)i, messages, size};
        if ((rc = tr_actor_spawn(&actors[i], name, consume, &args[i], NULL)) != TR_OK) {
            fprintf(stderr, "spawn %s: %s\n", name, tr_strerror(rc));
            return 1;
        }
    }

    int tty = isatty(STDOUT_FILENO);
    unsigned char *payload = calloc(1, (size_t)size);
    Samples__Job job;
    samples__job__init(&job);
    job.payload.data = payload;
    job.payload.len = (size_t)size;
    double t0 = now_s(), last = t0;
    for (long i = 0; i < messages; i++) {
        job.seq = (uint64_t)i;
        if ((rc = tr_codec_put(work, &job.base, TR_FOREVER)) != TR_OK) {
            fprintf(stderr, "put: %s\n", tr_strerror(rc));
            return 1;
        }
        if (tty && (i & 1023) == 0 && now_s() - last >= 1.0) {
            last = now_s();
            size_t queued = 0;
            tr_queue_size(work, &queued);
            printf("\rsent %ld/%ld  queued %zu  %.0f msgs/s   ", i, messages, queued,
                   (double)i / (last - t0));
            fflush(stdout);
        }
    }
    /* End of stream: returns once every consumer has confirmed it got all
     * that was meant for it. */
    if ((rc = tr_queue_close(work, TR_FOREVER)) != TR_OK) {
        fprintf(stderr, "close: %s\n", tr_strerror(rc));
        return 1;
    }
    double seconds = now_s() - t0;
    if (tty)
        printf("\rsent %ld/%ld, end of stream confirmed in %.3f s            \n", messages,
               messages, seconds);

    /* Merge the consumers' reports, reading the results queue to its end:
     * each consumer's close returns once we have got all it sent. */
    size_t nbytes = (size_t)(messages + 7) / 8;
    unsigned char *count = calloc((size_t)messages, 1);
    long *per = calloc((size_t)consumers, sizeof *per);
    long received = 0, bad = 0;
    tr_registry *types = NULL;
    if (tr_registry_new(&types) != TR_OK ||
        tr_registry_add(types, &samples__report__descriptor, NULL) != TR_OK)
        return 1;
    for (long k = 0; k < consumers; k++) {
        tr_typed t;
        if ((rc = tr_codec_get(results, types, &t, TR_FOREVER)) != TR_OK) {
            fprintf(stderr, "report: %s\n", tr_strerror(rc));
            return 1;
        }
        const Samples__Report *r = (const Samples__Report *)t.msg;
        if (r->seen.len != nbytes) {
            fprintf(stderr, "report of consumer %d: bitmap of %zu bytes\n", (int)r->consumer,
                    r->seen.len);
            return 1;
        }
        for (long s = 0; s < messages; s++)
            if (r->seen.data[s / 8] & (1u << (s % 8)))
                count[s]++;
        if (r->consumer >= 0 && r->consumer < consumers)
            per[r->consumer] = (long)r->got;
        received += (long)r->got;
        bad += (long)r->bad;
        tr_typed_release(&t);
    }
    tr_registry_destroy(&types);
    tr_msg end;
    if ((rc = tr_queue_get(results, &end, TR_FOREVER)) != TR_ECLOSED) {
        fprintf(stderr, "results: expected the end of stream, got %s\n", tr_strerror(rc));
        return 1;
    }
    long lost = 0, distinct = 0;
    for (long s = 0; s < messages; s++) {
        if (count[s] == 0)
            lost++;
        else
            distinct++;
    }
    /* received counts every delivery; distinct counts sequence numbers. */
    long duplicates = received - distinct;
    int failed = 0;
    for (long i = 0; i < consumers; i++) {
        tr_actor_join(actors[i], TR_FOREVER);
        int code = -1;
        tr_actor_exitcode(actors[i], &code);
        if (code != 0) {
            fprintf(stderr, "%s exited with %d\n", tr_actor_name(actors[i]), code);
            failed = 1;
        }
        tr_actor_destroy(&actors[i]);
    }

    if (json) {
        printf("{\"sent\":%ld,\"received\":%ld,\"lost\":%ld,\"duplicates\":%ld,\"per_consumer\":[",
               messages, received, lost, duplicates);
        for (long i = 0; i < consumers; i++)
            printf("%s%ld", i ? "," : "", per[i]);
        printf("],\"seconds\":%.6f,\"msgs_per_s\":%.0f}\n", seconds, (double)messages / seconds);
    } else {
        printf("sent %ld, received %ld, lost %ld, duplicates %ld, malformed %ld\n", messages,
               received, lost, duplicates, bad);
        for (long i = 0; i < consumers; i++)
            printf("  consumer-%ld got %ld (%.1f%%)\n", i, per[i], 100.0 * (double)per[i] /
                   (double)messages);
        printf("%.3f s, %.0f msgs/s\n", seconds, (double)messages / seconds);
    }
    tr_queue_destroy(&work);
    tr_queue_destroy(&results);
    free(count);
    free(per);
    free(payload);
    free(actors);
    free(args);
    return failed || lost || duplicates || bad ? 1 : 0;
}
