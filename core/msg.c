/* msg.c: tr_msg is a zmq_msg_t in a public-sized box, so a receive is
 * zero-copy and allocation-free on the caller's side. */
#include "troupe/msg.h"

#include <assert.h>
#include <stdint.h>
#include <zmq.h>

static_assert(sizeof(zmq_msg_t) <= sizeof(tr_msg), "tr_msg must hold a zmq_msg_t");
static_assert(_Alignof(zmq_msg_t) <= _Alignof(tr_msg), "tr_msg must align a zmq_msg_t");

void tr_msg_init(tr_msg *msg)
{
    zmq_msg_init((zmq_msg_t *)msg);
}

void *tr_msg_data(tr_msg *msg)
{
    return zmq_msg_data((zmq_msg_t *)msg);
}

size_t tr_msg_size(const tr_msg *msg)
{
    /* zmq_msg_size takes a non-const pointer but does not write. */
    return zmq_msg_size((zmq_msg_t *)(void *)(uintptr_t)msg);
}

bool tr_msg_more(const tr_msg *msg)
{
    return zmq_msg_more((zmq_msg_t *)(void *)(uintptr_t)msg) != 0;
}

void tr_msg_close(tr_msg *msg)
{
    /* zmq_msg_close leaves the msg valid and empty, so a double close is
     * harmless; re-initialise to make that explicit. */
    zmq_msg_close((zmq_msg_t *)msg);
    zmq_msg_init((zmq_msg_t *)msg);
}
