/* troupe work: a broker's counters and dead letters.
 *
 *   troupe work BROKER [--dir RUN_DIR] [--dead N] [--json] [--timeout MS]
 *                      [--key FILE --broker-key FILE]
 *
 * BROKER is an address (tcp://host:port, ipc://path), or a broker's actor
 * name with --dir, the run directory of its system (`troupe status` lists
 * them). Prints the broker's counters (tr_broker_stats) and, with --dead,
 * up to N dead-lettered tasks: producer, id, worker deaths, size, and the
 * first bytes (text as it is, else hex). --key and --broker-key are for a
 * broker behind CURVE. Like the other subcommands it never calls
 * tr_sys_init, so that it makes no run directory of its own. */
#include "tools/troupe_work.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/troupe.h"
#include "troupe/work.h"

static void s_usage(FILE *f)
{
    fprintf(f, "usage: troupe work BROKER [--dir RUN_DIR] [--dead N] [--json] [--timeout MS]\n"
               "                   [--key FILE --broker-key FILE]\n"
               "Prints a broker's counters and, with --dead, its dead-lettered tasks.\n"
               "BROKER: tcp://host:port, ipc://path, or an actor name with --dir.\n");
}

/* Prints the first bytes of a task: as text when they are printable. */
static void s_print_bytes(const unsigned char *p, size_t n, bool json)
{
    size_t shown = n < 32 ? n : 32;
    bool text = true;
    for (size_t i = 0; i < shown && text; i++)
        text = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\';
    if (text)
        printf(json ? "\"%.*s\"" : "%.*s", (int)shown, (const char *)p);
    else
        for (size_t i = 0; i < shown; i++)
            printf(i == 0 && json ? "\"%02x" : "%02x", p[i]);
    if (!text && json)
        printf("\"");
}

int troupe_work_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},   {"dead", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},        {"timeout", required_argument, NULL, 't'},
        {"key", required_argument, NULL, 'k'},   {"broker-key", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    long dead = 0, timeout = 2000;
    bool json = false;
    tr_work_opts wo = {0};
    int o;
    while ((o = getopt_long(argc, argv, "d:D:jt:k:b:h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': dir = optarg; break;
        case 'D': dead = strtol(optarg, NULL, 10); break;
        case 'j': json = true; break;
        case 't': timeout = strtol(optarg, NULL, 10); break;
        case 'k': wo.security.key_file = optarg; break;
        case 'b': wo.security.broker_key = optarg; break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc || dead < 0 || dead > 100000 || timeout <= 0 ||
        (wo.security.key_file == NULL) != (wo.security.broker_key == NULL)) {
        s_usage(stderr);
        return 2;
    }
    char addr[4200];
    const char *broker = argv[optind];
    if (strstr(broker, "://") == NULL) {
        if (dir == NULL) {
            fprintf(stderr, "troupe work: a broker name needs --dir RUN_DIR (or give an address)\n");
            return 2;
        }
        snprintf(addr, sizeof addr, "ipc://%s/%s", dir, broker);
        broker = addr;
    }
    tr_work_client *c;
    int rc = tr_work_client_new(&c, broker, &wo);
    if (rc != TR_OK) {
        fprintf(stderr, "troupe work: %s: %s\n", broker, tr_strerror(rc));
        return rc == TR_EINVAL ? 2 : 1;
    }
    tr_broker_stats st;
    rc = tr_work_broker_stats(c, &st, (int)timeout);
    if (rc != TR_OK) {
        fprintf(stderr, "troupe work: no answer from %s: %s\n", broker, tr_strerror(rc));
        tr_work_client_destroy(&c);
        return 1;
    }
    const struct {
        const char *name;
        unsigned long long v;
    } f[] = {
        {"submitted", st.submitted},       {"resubmitted", st.resubmitted},
        {"dispatched", st.dispatched},     {"redelivered", st.redelivered},
        {"completed", st.completed},       {"duplicates", st.duplicates},
        {"delivered", st.delivered},       {"dead_letters", st.dead_letters},
        {"workers_lost", st.workers_lost}, {"refused", st.refused},
        {"denied", st.denied},             {"expired", st.expired},
        {"queued", st.queued},             {"running", st.running},
        {"workers", st.workers},           {"producers", st.producers},
    };
    size_t nf = sizeof f / sizeof *f;
    if (json) {
        printf("{\"broker\":\"%s\"", broker);
        for (size_t i = 0; i < nf; i++)
            printf(",\"%s\":%llu", f[i].name, f[i].v);
    } else {
        printf("broker %s\n", broker);
        for (size_t i = 0; i < nf; i++)
            printf("  %-13s %llu\n", f[i].name, f[i].v);
    }
    if (dead > 0) {
        tr_dead_letter *d = calloc((size_t)dead, sizeof *d);
        size_t n = 0;
        rc = d == NULL ? TR_ENOMEM : tr_work_dead_letters(c, d, (size_t)dead, &n, (int)timeout);
        if (rc != TR_OK)
            fprintf(stderr, "troupe work: dead letters: %s\n", tr_strerror(rc));
        printf(json ? ",\"dead\":[" : "dead letters: %zu\n", n);
        for (size_t i = 0; i < n; i++) {
            size_t size = tr_msg_size(&d[i].data);
            if (json)
                printf("%s{\"producer\":\"%s\",\"id\":%llu,\"deaths\":%u,\"size\":%zu,\"head\":",
                       i ? "," : "", d[i].producer, (unsigned long long)d[i].id, d[i].deaths,
                       size);
            else
                printf("  %s/%llu  deaths %u  %zu bytes  ", d[i].producer,
                       (unsigned long long)d[i].id, d[i].deaths, size);
            s_print_bytes(tr_msg_data(&d[i].data), size, json);
            printf(json ? "}" : "\n");
            tr_msg_close(&d[i].data);
        }
        if (json)
            printf("]");
        free(d);
    }
    if (json)
        printf("}\n");
    tr_work_client_destroy(&c);
    return rc == TR_OK && fflush(stdout) == 0 ? 0 : 1;
}
