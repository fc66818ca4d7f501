/* troupe/msg.h: one message frame, received without a copy.
 *
 * tr_msg is a small value type (like zmq_msg_t, which it wraps) that lives on
 * the caller's stack: receiving into it allocates nothing that troupe does
 * not free in tr_msg_close. Its insides are private. */
#ifndef TROUPE_MSG_H
#define TROUPE_MSG_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_msg {
    union {
        unsigned char opaque[72];
        void *align;
    } u;
} tr_msg;

/* tr_msg_init makes msg an empty frame. Every receive call initialises its
 * msg itself; call this only to have a valid msg before any receive. */
void tr_msg_init(tr_msg *msg);

/* tr_msg_data returns the frame's bytes, valid until tr_msg_close. */
void *tr_msg_data(tr_msg *msg);

/* tr_msg_size returns the frame's size in bytes. */
size_t tr_msg_size(const tr_msg *msg);

/* tr_msg_more says whether more frames of the same message follow. */
bool tr_msg_more(const tr_msg *msg);

/* tr_msg_close releases the frame; msg may then be received into again.
 * Closing a closed or initialised msg is fine. */
void tr_msg_close(tr_msg *msg);

#ifdef __cplusplus
}
#endif
#endif /* TROUPE_MSG_H */
