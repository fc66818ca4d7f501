/* distributed_work: tasks spread over workers on other hosts through a
 * broker, with nothing lost when a worker or its whole host dies.
 *
 *   distributed_work [--workers N] [--tasks N] [--work-us US] [--json]
 *   distributed_work --role broker --bind tcp://0.0.0.0:5670 \
 *       --key keys/broker.key --allowed keys/allowed [--json]
 *   distributed_work --role worker --connect tcp://HOST:5670 \
 *       --key keys/w1.key --broker-key keys/broker.pub [--work-us US]
 *   distributed_work --role producer --connect tcp://HOST:5670 \
 *       --key keys/p.key --broker-key keys/broker.pub --tasks N --json
 *
 * Without --role it all runs on this host: a broker and N workers as
 * actors, the producer in this process. With --role each part is its own
 * program, for a broker on one host and workers on others; --key turns
 * CURVE on (keys from `troupe keygen NAME`, docs/security.md).
 *
 * Task i is i and a fixed payload; its worker answers i and a digest of
 * both, which the producer checks against the task of the result's id (ids
 * count up from the first): a bad result counts as lost. A bitmap of the
 * indexes answered counts duplicates, since delivery is at least once: a
 * task whose worker died may run, and be answered, twice. */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <troupe/troupe.h>
#include <troupe/work.h>

#define MAX_WORKERS 64
#define CHUNK 256 /* tasks per tr_work_submitv call */

typedef struct {
    uint64_t index;
    char payload[24];
} task;

typedef struct {
    uint64_t index;
    uint64_t digest;
} answer;

static const char s_payload[24] = "troupe distributed work";

/* What the options say, for every role. */
typedef struct {
    const char *role, *name, *connect;
    tr_broker_opts bo;
    tr_worker_opts wo;
    tr_work_opts po;
    long tasks, deadline_s, work_us, workers;
    bool json, progress;
} config;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* FNV-1a over the payload, seeded with the index, then a final mix: cheap,
 * and a result from another task or with a damaged byte does not pass. */
static uint64_t s_digest(uint64_t index, const char *payload)
{
    uint64_t h = 0xcbf29ce484222325ull ^ index;
    for (size_t i = 0; i < sizeof s_payload; i++)
        h = (h ^ (unsigned char)payload[i]) * 0x100000001b3ull;
    h ^= h >> 31;
    return h * 0x94d049bb133111ebull;
}

/* ---- the worker ----------------------------------------------------------- */

/* The task function (arg: the config). The busy wait stands for real
 * work: it spins rather than sleeps, so that it costs CPU as work would. */
static int s_work(void *arg, const void *data, size_t size, void **result, size_t *result_size)
{
    const config *c = arg;
    task t;
    if (size != sizeof t)
        return 1; /* not one of ours: the producer sees status 1 */
    memcpy(&t, data, sizeof t);
    for (double end = s_now() + (double)c->work_us / 1e6; s_now() < end;)
        ;
    answer a = {t.index, s_digest(t.index, t.payload)};
    if ((*result = malloc(sizeof a)) == NULL)
        return 2;
    memcpy(*result, &a, sizeof a);
    *result_size = sizeof a;
    return 0;
}

/* --role worker: returns when --idle-exit says so; SIGTERM hands the tasks
 * held back to the broker and ends the process (no summary then). */
static int s_run_worker(config *c)
{
    tr_worker_stats st;
    int rc = tr_worker_run(c->connect, s_work, c, &c->wo, &st);
    if (rc != TR_OK)
        fprintf(stderr, "worker: %s\n", tr_strerror(rc));
    else if (!st.welcomed)
        fprintf(stderr, "worker: never welcomed by %s (no broker, or a key it refuses)\n",
                c->connect);
    printf(c->json ? "{\"tasks\":%llu,\"failed\":%llu,\"reconnects\":%llu,\"refused\":%llu,"
                     "\"welcomed\":%s}\n"
                   : "worker: %llu tasks run, %llu failed, %llu reconnects, %llu frames "
                     "refused, welcomed: %s\n",
           (unsigned long long)st.tasks, (unsigned long long)st.failed,
           (unsigned long long)st.reconnects, (unsigned long long)st.refused,
           st.welcomed ? "true" : "false");
    return rc == TR_OK && st.welcomed ? 0 : 1;
}

/* A worker actor of the local run: the broker is found by its name. */
static int s_worker_actor(void *arg)
{
    config *c = arg;
    return tr_worker_run(c->name, s_work, c, &c->wo, NULL) == TR_OK ? 0 : 1;
}

/* ---- the producer ---------------------------------------------------------- */

typedef struct {
    uint64_t submitted, results, duplicates, bad;
    double seconds;
} report;

/* Counts one result of the tasks whose ids start at first. */
static void s_account(tr_work_result *r, uint64_t first, uint64_t submitted, uint8_t *seen,
                      report *rep)
{
    uint64_t index = r->id - first;
    answer a;
    if (r->id < first || index >= submitted || r->status != 0 ||
        tr_msg_size(&r->data) != sizeof a) {
        rep->bad++;
        return;
    }
    memcpy(&a, tr_msg_data(&r->data), sizeof a);
    if (a.index != index || a.digest != s_digest(index, s_payload)) {
        rep->bad++;
    } else if (seen[index / 8] & (1u << (index % 8))) {
        rep->duplicates++;
    } else {
        seen[index / 8] |= (uint8_t)(1u << (index % 8));
        rep->results++;
    }
}

/* Submits c->tasks tasks to broker and takes their results until each
 * has one or the deadline passes. TR_OK (rep says how it went) or the
 * error that stopped it. */
static int s_produce(const config *c, const char *broker, report *rep)
{
    *rep = (report){0};
    tr_work_client *cl;
    int rc = tr_work_client_new(&cl, broker, &c->po);
    if (rc != TR_OK)
        return rc;
    uint8_t *seen = calloc((size_t)c->tasks / 8 + 1, 1); /* the indexes answered */
    if (seen == NULL) {
        tr_work_client_destroy(&cl);
        return TR_ENOMEM;
    }
    tr_work_result r;
    tr_work_result_init(&r);
    double t0 = s_now(), deadline = t0 + (double)c->deadline_s, shown = t0;
    uint64_t first = 0;
    while (rep->results < (uint64_t)c->tasks && s_now() < deadline) {
        int left = (int)((deadline - s_now()) * 1000) + 1;
        if (rep->submitted < (uint64_t)c->tasks) {
            /* Submit the next chunk, then take what results came meanwhile
             * without waiting: they are not left to pile up. */
            task chunk[CHUNK];
            struct iovec v[CHUNK];
            size_t n = 0, done = 0;
            for (; n < CHUNK && rep->submitted + n < (uint64_t)c->tasks; n++) {
                chunk[n].index = rep->submitted + n;
                memcpy(chunk[n].payload, s_payload, sizeof s_payload);
                v[n] = (struct iovec){.iov_base = &chunk[n], .iov_len = sizeof *chunk};
            }
            uint64_t id = 0;
            rc = tr_work_submitv(cl, v, n, &id, &done, left);
            if (rep->submitted == 0)
                first = id;
            rep->submitted += done;
            if (rc != TR_OK && rc != TR_EFULL) /* EFULL: try the rest again */
                break;
            left = 0;
        }
        while ((rc = tr_work_next(cl, &r, left < 250 ? left : 250)) == TR_OK) {
            s_account(&r, first, rep->submitted, seen, rep);
            left = 0;
        }
        if (rc != TR_EEMPTY)
            break;
        rc = TR_OK;
        if (c->progress && s_now() - shown >= 1.0) {
            shown = s_now();
            fprintf(stderr, "progress: %llu of %ld results, %.1f s\n",
                    (unsigned long long)rep->results, c->tasks, shown - t0);
        }
    }
    rep->seconds = s_now() - t0;
    tr_work_result_close(&r);
    free(seen);
    tr_work_client_destroy(&cl);
    return rc;
}

/* Prints the producer's summary; returns its exit status. */
static int s_report(const config *c, const report *rep, int rc)
{
    if (rc != TR_OK)
        fprintf(stderr, "producer: %s\n", tr_strerror(rc));
    uint64_t lost = (uint64_t)c->tasks - rep->results;
    double rate = rep->seconds > 0 ? (double)rep->results / rep->seconds : 0;
    if (c->json)
        printf("{\"submitted\":%llu,\"results\":%llu,\"lost\":%llu,\"duplicates\":%llu,"
               "\"seconds\":%.3f,\"tasks_per_s\":%.0f}\n",
               (unsigned long long)rep->submitted, (unsigned long long)rep->results,
               (unsigned long long)lost, (unsigned long long)rep->duplicates, rep->seconds,
               rate);
    else
        printf("%llu tasks submitted: %llu results, %llu lost, %llu duplicates, %llu bad, "
               "in %.2f s (%.0f tasks/s)\n",
               (unsigned long long)rep->submitted, (unsigned long long)rep->results,
               (unsigned long long)lost, (unsigned long long)rep->duplicates,
               (unsigned long long)rep->bad, rep->seconds, rate);
    return lost == 0 ? 0 : 1;
}

/* ---- the broker -------------------------------------------------------------- */

/* Asks the broker for its counters (through its name: no key needed on
 * this host) and prints them. */
static void s_print_broker_stats(const char *name, bool json)
{
    tr_work_client *cl;
    tr_broker_stats s;
    int rc = tr_work_client_new(&cl, name, NULL);
    if (rc == TR_OK) {
        rc = tr_work_broker_stats(cl, &s, 2000);
        tr_work_client_destroy(&cl);
    }
    if (rc != TR_OK) {
        fprintf(stderr, "broker stats: %s\n", tr_strerror(rc));
        return;
    }
    const struct {
        const char *name;
        uint64_t value;
    } f[] = {{"submitted", s.submitted},       {"dispatched", s.dispatched},
             {"redelivered", s.redelivered},   {"completed", s.completed},
             {"duplicates", s.duplicates},     {"delivered", s.delivered},
             {"dead_letters", s.dead_letters}, {"expired", s.expired},
             {"workers_lost", s.workers_lost}, {"denied", s.denied}};
    printf(json ? "{" : "broker:");
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        printf(json ? "%s\"%s\":%llu" : "%s %s %llu", i ? "," : "", f[i].name,
               (unsigned long long)f[i].value);
    printf(json ? "}\n" : "\n");
}

/* Stops an actor by SIGTERM (a worker hands back what it holds, a broker
 * flushes its journal) and frees it; NULL is fine. */
static void s_stop(tr_actor **a)
{
    if (*a != NULL) {
        tr_actor_terminate(*a);
        tr_actor_join(*a, 5000);
    }
    tr_actor_destroy(a);
}

/* --role broker: the broker is an actor of this process, which waits for
 * SIGTERM or SIGINT (or the broker's death) in one poll, reads the
 * broker's counters, then stops it. The broker ignores SIGINT, which a
 * Ctrl-C sends the whole process group, so that it is still there to ask. */
static int s_run_broker(const config *c)
{
    tr_actor *b;
    signal(SIGINT, SIG_IGN);
    int rc = tr_broker_start(&b, c->name, &c->bo);
    if (rc != TR_OK) {
        fprintf(stderr, "broker: %s\n", tr_strerror(rc));
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGINT, SIG_DFL); /* blocked: it waits in the signalfd */
    struct pollfd p[2] = {{.fd = signalfd(-1, &set, SFD_CLOEXEC), .events = POLLIN},
                          {.fd = tr_actor_fd(b), .events = POLLIN}};
    fprintf(stderr, "broker %s[%d] at %s%s\n", c->name, (int)tr_actor_pid(b),
            c->bo.bind ? c->bo.bind : "its name only",
            c->bo.security.key_file ? " (CURVE)" : "");
    while (poll(p, 2, -1) < 0)
        ;
    bool died = p[1].revents != 0;
    if (!died)
        s_print_broker_stats(c->name, c->json);
    else
        fprintf(stderr, "broker: the broker actor died\n");
    s_stop(&b);
    return died ? 1 : 0;
}

/* ---- everything on this host --------------------------------------------------- */

static int s_run_local(config *c)
{
    tr_actor *b, *w[MAX_WORKERS] = {NULL};
    int rc = tr_broker_start(&b, c->name, &c->bo);
    if (rc != TR_OK) {
        fprintf(stderr, "broker: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_spawn_opts so = {.flags = TR_SPAWN_DAEMON | TR_SPAWN_NO_MAILBOX};
    for (long i = 0; i < c->workers && rc == TR_OK; i++) {
        char name[32];
        snprintf(name, sizeof name, "dw-worker-%ld", i + 1);
        if ((rc = tr_actor_spawn(&w[i], name, s_worker_actor, c, &so)) != TR_OK)
            fprintf(stderr, "%s: %s\n", name, tr_strerror(rc));
    }
    report rep = {0};
    if (rc == TR_OK)
        rc = s_produce(c, c->name, &rep);
    int status = s_report(c, &rep, rc);
    if (!c->json)
        s_print_broker_stats(c->name, false);
    for (long i = 0; i < c->workers; i++)
        s_stop(&w[i]);
    s_stop(&b);
    return status;
}

/* ---- options ----------------------------------------------------------------------- */

static void s_usage(const char *argv0, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s [--role broker|worker|producer] [options]\n"
            "Without --role: a broker, --workers workers and a producer on this host.\n"
            "  --name NAME        the broker's actor name (default dw-broker)\n"
            "  --bind EPS         broker: endpoints, comma-separated (tcp://0.0.0.0:5670)\n"
            "  --connect ADDR     worker, producer: the broker's address\n"
            "  --key FILE         this side's key pair (NAME.key): CURVE on tcp\n"
            "  --broker-key FILE  worker, producer: the broker's public key (.pub)\n"
            "  --allowed DIR      broker: the *.pub files of the keys let in\n"
            "  --journal PATH     broker: its journal (\"-\": none)\n"
            "  --heartbeat MS, --timeout MS  heartbeats; a silent peer is dead after\n"
            "                     the timeout (defaults 500, 2000)\n"
            "  --tasks N          producer: tasks to run (default 10000)\n"
            "  --deadline S       producer: give up on results after S s (default 120)\n"
            "  --progress         producer: a progress line on stderr every second\n"
            "  --workers N        local run: worker actors (1..%d, default 3)\n"
            "  --work-us US       worker: busy work per task in us (default 0)\n"
            "  --prefetch N       worker: tasks held at most (default 256)\n"
            "  --idle-exit MS     worker: return after MS ms without a task\n"
            "  --json             end with one line of JSON\n"
            "Exit status: 0 ok (producer: no task lost), 1 failure, 2 usage error.\n",
            argv0, MAX_WORKERS);
    exit(code);
}

static long s_num(const char *s, long lo, long hi, const char *argv0)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        s_usage(argv0, 2);
    return v;
}

int main(int argc, char **argv)
{
    config c = {.name = "dw-broker", .tasks = 10000, .deadline_s = 120, .workers = 3};
    tr_work_security sec = {NULL, NULL, NULL};
    long heartbeat = 0, timeout = 0;
    static const struct option opts[] = {
        {"role", required_argument, NULL, 'r'},      {"name", required_argument, NULL, 'n'},
        {"bind", required_argument, NULL, 'b'},      {"connect", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},       {"broker-key", required_argument, NULL, 'K'},
        {"allowed", required_argument, NULL, 'a'},   {"journal", required_argument, NULL, 'J'},
        {"heartbeat", required_argument, NULL, 'H'}, {"timeout", required_argument, NULL, 'T'},
        {"tasks", required_argument, NULL, 't'},     {"deadline", required_argument, NULL, 'd'},
        {"workers", required_argument, NULL, 'w'},   {"work-us", required_argument, NULL, 'u'},
        {"prefetch", required_argument, NULL, 'p'},  {"idle-exit", required_argument, NULL, 'i'},
        {"progress", no_argument, NULL, 'P'},        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'r': c.role = optarg; break;
        case 'n': c.name = optarg; break;
        case 'b': c.bo.bind = optarg; break;
        case 'c': c.connect = optarg; break;
        case 'k': sec.key_file = optarg; break;
        case 'K': sec.broker_key = optarg; break;
        case 'a': sec.allowed_dir = optarg; break;
        case 'J': c.bo.journal = optarg; break;
        case 'H': heartbeat = s_num(optarg, 1, 60000, argv[0]); break;
        case 'T': timeout = s_num(optarg, 1, 600000, argv[0]); break;
        case 't': c.tasks = s_num(optarg, 1, 100000000, argv[0]); break;
        case 'd': c.deadline_s = s_num(optarg, 1, 86400, argv[0]); break;
        case 'w': c.workers = s_num(optarg, 1, MAX_WORKERS, argv[0]); break;
        case 'u': c.work_us = s_num(optarg, 0, 10000000, argv[0]); break;
        case 'p': c.wo.prefetch = (int)s_num(optarg, 1, 100000, argv[0]); break;
        case 'i': c.wo.idle_exit_ms = (int)s_num(optarg, 1, 86400000, argv[0]); break;
        case 'P': c.progress = true; break;
        case 'j': c.json = true; break;
        case 'h': s_usage(argv[0], 0); break;
        default: s_usage(argv[0], 2);
        }
    }
    /* Workers and producers connect, with their key and the broker's; the
     * broker binds, with its key and the keys it allows; the local run's
     * peers find the broker by name, with no keys. */
    const char *role = c.role ? c.role : "local";
    bool local = c.role == NULL, broker = strcmp(role, "broker") == 0;
    bool client = strcmp(role, "worker") == 0 || strcmp(role, "producer") == 0;
    bool keys = sec.key_file != NULL;
    if (optind < argc || !(local || broker || client) ||
        (client ? c.connect == NULL || c.bo.bind != NULL || sec.allowed_dir != NULL ||
                      keys != (sec.broker_key != NULL)
                : c.connect != NULL || sec.broker_key != NULL ||
                      keys != (sec.allowed_dir != NULL) || (local && keys)) ||
        (heartbeat > 0 && timeout > 0 && timeout < heartbeat))
        s_usage(argv[0], 2);
    c.bo.heartbeat_ms = c.wo.heartbeat_ms = c.po.heartbeat_ms = (int)heartbeat;
    c.bo.timeout_ms = c.wo.timeout_ms = c.po.timeout_ms = (int)timeout;
    c.bo.security = c.wo.security = c.po.security = sec;

    if (local)
        return s_run_local(&c);
    if (broker)
        return s_run_broker(&c);
    if (strcmp(role, "worker") == 0)
        return s_run_worker(&c);
    report rep;
    return s_report(&c, &rep, s_produce(&c, c.connect, &rep));
}
