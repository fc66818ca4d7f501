/* troupe/troupe.h: the whole user API of troupe. What is not reachable from
 * this header is not supported.
 *
 *   #include <troupe/troupe.h>
 *
 * troupe is an actor framework in which every actor is an OS process with a
 * ZeroMQ mailbox. See README.md and docs/ for the concepts. */
#ifndef TROUPE_TROUPE_H
#define TROUPE_TROUPE_H

#include "troupe/error.h"
#include "troupe/sys.h"
#include "troupe/msg.h"
#include "troupe/actor.h"
#include "troupe/queue.h"
#include "troupe/pipe.h"

#define TROUPE_VERSION_MAJOR 0
#define TROUPE_VERSION_MINOR 1
#define TROUPE_VERSION_PATCH 0

#endif /* TROUPE_TROUPE_H */
