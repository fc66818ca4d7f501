/* msg.c: tr_msg is a zmq_msg_t plus the number of header bytes troupe put in
 * front of the user's bytes, in a public-sized box, so a receive is zero-copy
 * and allocation-free on the caller's side. */
#include "troupe/msg.h"

#include <assert.h>
#include <stdint.h>
#include <zmq.h>

#include "core/internal.h"

static_assert(sizeof(tr__msg) <= sizeof(tr_msg), "tr_msg must hold a tr__msg");
static_assert(_Alignof(tr__msg) <= _Alignof(tr_msg), "tr_msg must align a tr__msg");

void tr_msg_init(tr_msg *msg)
{
    tr__msg *m = (tr__msg *)msg;
    zmq_msg_init(&m->zmsg);
    m->skip = 0;
    m->cut = 0;
    m->more = 0;
}

void *tr_msg_data(tr_msg *msg)
{
    tr__msg *m = (tr__msg *)msg;
    return (char *)zmq_msg_data(&m->zmsg) + m->skip;
}

size_t tr_msg_size(const tr_msg *msg)
{
    /* zmq_msg_size takes a non-const pointer but does not write. */
    tr__msg *m = (tr__msg *)(uintptr_t)msg;
    return zmq_msg_size(&m->zmsg) - m->skip - m->cut;
}

bool tr_msg_more(const tr_msg *msg)
{
    tr__msg *m = (tr__msg *)(uintptr_t)msg;
    return m->more || zmq_msg_more(&m->zmsg) != 0;
}

void tr_msg_close(tr_msg *msg)
{
    /* Re-initialise so that a second close, or a close of a msg that a
     * failed receive left empty, is harmless. */
    tr__msg *m = (tr__msg *)msg;
    zmq_msg_close(&m->zmsg);
    zmq_msg_init(&m->zmsg);
    m->skip = 0;
    m->cut = 0;
    m->more = 0;
}
