/* dispatch: a behaviour that dispatches on two message types.
 *
 *   dispatch [--adds N]
 *
 * An "accumulator" actor runs a behaviour whose handle passes each frame of
 * its mailbox to tr_registry_feed; the registry decodes every complete
 * message and calls the handler registered for its type: on_add for
 * samples.Add, on_stop for samples.Stop. The parent sends N Add messages,
 * one message that is not valid (it is refused, counted and logged, and the
 * actor carries on), then a Stop. The actor prints its total and what its
 * registry counted, and exits with 0 when the total is right. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <troupe/codec.h>
#include <troupe/troupe.h>

#include "samples/work.pb-c.h"

typedef struct {
    tr_registry *types;
    int64_t total, want;
} accumulator;

static int on_add(void *state, const tr_envelope *env, const ProtobufCMessage *msg)
{
    (void)env;
    accumulator *acc = state;
    acc->total += ((const Samples__Add *)msg)->amount;
    return TR_CONTINUE;
}

static int on_stop(void *state, const tr_envelope *env, const ProtobufCMessage *msg)
{
    (void)state;
    printf("accumulator: stop from %s: %s\n", env->sender, ((const Samples__Stop *)msg)->why);
    return TR_STOP;
}

static int acc_init(void *arg, void **state)
{
    accumulator *acc = calloc(1, sizeof *acc);
    if (acc == NULL || tr_registry_new(&acc->types) != TR_OK)
        return 1;
    acc->want = *(const int64_t *)arg;
    tr_registry_add(acc->types, &samples__add__descriptor, on_add);
    tr_registry_add(acc->types, &samples__stop__descriptor, on_stop);
    *state = acc;
    return 0;
}

static int acc_handle(void *state, tr_msg *frame)
{
    accumulator *acc = state;
    return tr_registry_feed(acc->types, acc, frame);
}

static int acc_terminate(void *state, int reason)
{
    accumulator *acc = state;
    tr_registry_stats st;
    tr_registry_stats_get(acc->types, &st);
    printf("accumulator: total %" PRId64 " (expected %" PRId64 "), %" PRIu64
           " messages decoded, %" PRIu64 " refused\n",
           acc->total, acc->want, st.decoded, st.frames + st.version + st.type + st.decode);
    fflush(stdout);
    int ok = reason == TR_REASON_NORMAL && acc->total == acc->want;
    tr_registry_destroy(&acc->types);
    free(acc);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    long adds = 1000;
    int o;
    static const struct option opts[] = {{"adds", required_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    while ((o = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
        if (o != 'n') {
            fprintf(stderr, "usage: %s [--adds N]\n", argv[0]);
            return 2;
        }
        adds = strtol(optarg, NULL, 10);
    }
    if (adds < 0 || adds > 100000000) {
        fprintf(stderr, "usage: %s [--adds N]\n", argv[0]);
        return 2;
    }
    int64_t want = (int64_t)adds * (adds + 1) / 2;
    static const tr_behaviour behaviour = {
        .init = acc_init, .handle = acc_handle, .terminate = acc_terminate};
    tr_actor *acc = NULL;
    int rc = tr_actor_spawn_behaviour(&acc, "accumulator", &behaviour, &want, NULL);
    if (rc != TR_OK) {
        fprintf(stderr, "spawn: %s\n", tr_strerror(rc));
        return 1;
    }
    Samples__Add add;
    samples__add__init(&add);
    for (long i = 1; i <= adds && rc == TR_OK; i++) {
        add.amount = i;
        rc = tr_codec_actor_send(acc, &add.base, TR_FOREVER);
    }
    /* Not a typed message: one frame of plain bytes. */
    if (rc == TR_OK)
        rc = tr_actor_send(acc, "not protobuf", 12, TR_FOREVER);
    Samples__Stop stop;
    samples__stop__init(&stop);
    stop.why = (char *)"all sent";
    if (rc == TR_OK)
        rc = tr_codec_actor_send(acc, &stop.base, TR_FOREVER);
    if (rc != TR_OK) {
        fprintf(stderr, "send: %s\n", tr_strerror(rc));
        return 1;
    }
    int code = -1;
    tr_actor_join(acc, TR_FOREVER);
    tr_actor_exitcode(acc, &code);
    tr_actor_destroy(&acc);
    printf("accumulator exited with %d\n", code);
    return code == 0 ? 0 : 1;
}
