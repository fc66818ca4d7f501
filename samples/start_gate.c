/* start_gate: N workers wait at a gate, one event named "go"; the parent
 * opens it after a delay and every worker reports the moment it woke; a
 * worker started after the gate opened goes through at once.
 *
 *   start_gate [--workers N] [--delay-ms D] [--json]
 *
 * This is Python's
 *     go = Event(); [Process(target=w, args=(go,)).start() for _ in range(N)]
 *     time.sleep(D); go.set()
 * with processes that report through the event hub's publish/subscribe:
 * each worker publishes "ready" on topic "start_gate/<name>" before it
 * waits, then "woke <wait ns> <time ns>". The parent opens the gate D ms
 * after every worker said ready. --json prints one line: the wake-up
 * latencies (from just before the set to each wake), their maximum, and
 * how long the late worker's wait took. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe/event.h>
#include <troupe/troupe.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* What the workers inherit. */
static struct {
    tr_event *go;
    int wait_ms; /* the delay, and 10 s more */
} G;

/* Says ready, waits at the gate, then reports how long it waited and when
 * it woke. The publisher is connected before the gate (its first send
 * makes the process's ZeroMQ threads and waits for the hub), so that a
 * woken worker only sends: 8 workers setting up sockets at once on 2 CPUs
 * would delay each other's wake-ups, which is not what is measured. */
static int worker(void *arg)
{
    (void)arg;
    tr_pub *pub = NULL;
    char topic[96], body[64];
    snprintf(topic, sizeof topic, "start_gate/%s", tr_self_name());
    int rc = tr_pub_open(&pub, NULL);
    if (rc == TR_OK)
        rc = tr_pub_send(pub, topic, "ready", 5, 10000);
    if (rc != TR_OK) {
        fprintf(stderr, "%s: ready: %s\n", tr_self_name(), tr_strerror(rc));
        tr_pub_destroy(&pub);
        return 2;
    }
    long long t0 = now_ns();
    rc = tr_event_wait(G.go, G.wait_ms);
    long long woke = now_ns();
    if (rc != TR_OK) {
        fprintf(stderr, "%s: wait: %s\n", tr_self_name(), tr_strerror(rc));
        tr_pub_destroy(&pub);
        return 1;
    }
    int n = snprintf(body, sizeof body, "%lld %lld", woke - t0, woke);
    rc = tr_pub_send(pub, topic, body, (size_t)n, 10000);
    tr_pub_destroy(&pub);
    return rc == TR_OK ? 0 : 2;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* Receives one worker's next message: its name, and the text. go's state
 * may come again meanwhile (the hub sends it to go's subscribers whenever
 * one more subscribes): skipped. */
static int take(tr_sub *sub, char *name, size_t len, char *text, size_t tlen)
{
    tr_msg topic, body;
    int rc;
    while ((rc = tr_sub_recv(sub, &topic, &body, G.wait_ms)) == TR_OK &&
           ((const char *)tr_msg_data(&topic))[0] == '$') {
        tr_msg_close(&topic);
        tr_msg_close(&body);
    }
    if (rc != TR_OK)
        return rc;
    snprintf(name, len, "%.*s", (int)tr_msg_size(&topic) - 11,
             (const char *)tr_msg_data(&topic) + 11); /* after "start_gate/" */
    snprintf(text, tlen, "%.*s", (int)tr_msg_size(&body), (const char *)tr_msg_data(&body));
    tr_msg_close(&topic);
    tr_msg_close(&body);
    return TR_OK;
}

/* Receives one worker's "ready". */
static int take_ready(tr_sub *sub)
{
    char name[64], text[64];
    int rc = take(sub, name, sizeof name, text, sizeof text);
    return rc != TR_OK ? rc : strcmp(text, "ready") == 0 ? TR_OK : TR_EPROTO;
}

/* Receives one worker's report: its name, wait and wake time. */
static int take_report(tr_sub *sub, char *name, size_t len, long long *wait_ns, long long *woke)
{
    char text[64];
    int rc = take(sub, name, len, text, sizeof text);
    if (rc != TR_OK)
        return rc;
    return sscanf(text, "%lld %lld", wait_ns, woke) == 2 ? TR_OK : TR_EPROTO;
}

int main(int argc, char **argv)
{
    long workers = 4, delay_ms = 200;
    int json = 0;
    static const struct option opts[] = {
        {"workers", required_argument, NULL, 'w'},
        {"delay-ms", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "w:d:j", opts, NULL)) != -1) {
        switch (o) {
        case 'w': workers = strtol(optarg, NULL, 10); break;
        case 'd': delay_ms = strtol(optarg, NULL, 10); break;
        case 'j': json = 1; break;
        default:
            fprintf(stderr, "usage: %s [--workers N] [--delay-ms D] [--json]\n", argv[0]);
            return 2;
        }
    }
    if (workers < 1 || workers > 256 || delay_ms < 0 || delay_ms > 60000) {
        fprintf(stderr, "workers must be 1..256 and delay-ms 0..60000\n");
        return 2;
    }

    /* The system's hub, and a subscriber to the workers' reports. Its
     * subscription to go's state makes sure that the subscriptions have
     * reached the hub: the state comes back at once (the hub's last-value
     * cache), and it comes after them. */
    G.wait_ms = (int)delay_ms + 10000;
    tr_actor *hub = NULL;
    tr_sub *sub = NULL;
    int rc = tr_hub_start(&hub, NULL);
    if (rc == TR_OK)
        rc = tr_event_open(&G.go, "go", NULL);
    if (rc == TR_OK) /* close the gate: the state outlives hubs; and connect */
        rc = tr_event_clear(G.go, 10000);
    if (rc == TR_OK)
        rc = tr_sub_open(&sub, "start_gate/", NULL);
    if (rc == TR_OK)
        rc = tr_sub_subscribe_event(sub, "go");
    tr_msg topic, body;
    if (rc == TR_OK)
        rc = tr_sub_recv(sub, &topic, &body, 10000);
    if (rc != TR_OK) {
        fprintf(stderr, "start: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_msg_close(&topic);
    tr_msg_close(&body);

    tr_actor **w = calloc((size_t)workers + 1, sizeof *w);
    for (long i = 0; i < workers && rc == TR_OK; i++) {
        char name[32];
        snprintf(name, sizeof name, "worker-%ld", i);
        rc = tr_actor_spawn(&w[i], name, worker, NULL, NULL);
    }
    if (rc != TR_OK) {
        fprintf(stderr, "spawn: %s\n", tr_strerror(rc));
        return 1;
    }
    /* Every worker is at the gate, or just about to ask the hub at its
     * first wait: none can pass it. */
    for (long i = 0; i < workers && rc == TR_OK; i++)
        rc = take_ready(sub);
    if (rc != TR_OK) {
        fprintf(stderr, "ready: %s\n", tr_strerror(rc));
        return 1;
    }
    struct timespec d = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
    long long t_set = now_ns();
    if ((rc = tr_event_set(G.go, 10000)) != TR_OK) {
        fprintf(stderr, "set: %s\n", tr_strerror(rc));
        return 1;
    }
    long long set_returned = now_ns();
    long long *lat = calloc((size_t)workers, sizeof *lat);
    int bad = 0;
    for (long i = 0; i < workers; i++) {
        char name[64];
        long long wait_ns, woke;
        if ((rc = take_report(sub, name, sizeof name, &wait_ns, &woke)) != TR_OK) {
            fprintf(stderr, "report: %s\n", tr_strerror(rc));
            return 1;
        }
        lat[i] = woke - t_set;
        if (!json)
            printf("%-10s woke %7.1f us after the set, having waited %.1f ms\n", name,
                   (double)lat[i] / 1000.0, (double)wait_ns / 1e6);
    }
    /* A worker that comes after the gate opened does not wait. */
    rc = tr_actor_spawn(&w[workers], "late", worker, NULL, NULL);
    char name[64];
    long long late_wait = 0, late_woke;
    if (rc == TR_OK)
        rc = take_ready(sub);
    if (rc == TR_OK)
        rc = take_report(sub, name, sizeof name, &late_wait, &late_woke);
    if (rc != TR_OK) {
        fprintf(stderr, "late worker: %s\n", tr_strerror(rc));
        return 1;
    }
    for (long i = 0; i <= workers; i++) {
        int code = -1;
        tr_actor_join(w[i], 10000);
        if (tr_actor_exitcode(w[i], &code) != TR_OK || code != 0)
            bad++;
        tr_actor_destroy(&w[i]);
    }
    qsort(lat, (size_t)workers, sizeof *lat, cmp_ll);
    if (json) {
        printf("{\"workers\":%ld,\"delay_ms\":%ld,\"latencies_us\":[", workers, delay_ms);
        for (long i = 0; i < workers; i++)
            printf("%s%.1f", i ? "," : "", (double)lat[i] / 1000.0);
        printf("],\"max_us\":%.1f,\"set_us\":%.1f,\"late_wait_us\":%.1f,\"failed\":%d}\n",
               (double)lat[workers - 1] / 1000.0, (double)(set_returned - t_set) / 1000.0,
               (double)late_wait / 1000.0, bad);
    } else {
        printf("all %ld woke within %.1f us of the set (set returned after %.1f us); the late "
               "worker waited %.1f us: the gate was open\n",
               workers, (double)lat[workers - 1] / 1000.0,
               (double)(set_returned - t_set) / 1000.0, (double)late_wait / 1000.0);
    }
    free(lat);
    free(w);
    tr_sub_destroy(&sub);
    tr_event_destroy(&G.go);
    tr_actor_terminate(hub);
    tr_actor_join(hub, 10000);
    tr_actor_destroy(&hub);
    return bad == 0 ? 0 : 1;
}
