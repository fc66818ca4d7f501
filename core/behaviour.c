/* behaviour.c: the loop that drives a behaviour inside its actor.
 *
 * One poll set: the mailbox and a signalfd for SIGTERM. While messages are
 * waiting the loop receives without polling, and looks at the signalfd only
 * every TR_SIGNAL_CHECK messages, so a busy actor pays one cheap read(2) per
 * batch rather than a poll per message, and a terminate still gets through
 * a flood. */
#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#include "core/internal.h"
#include "troupe/actor.h"
#include "troupe/error.h"
#include "troupe/sys.h"

#define TR_SIGNAL_CHECK 256

static bool s_sigterm_pending(int sigfd)
{
    struct signalfd_siginfo si;
    ssize_t n = read(sigfd, &si, sizeof si);
    return n == (ssize_t)sizeof si;
}

static _Noreturn void s_finish(const tr_behaviour *b, void *state, int reason)
{
    int code = b->terminate != NULL ? b->terminate(state, reason) : 0;
    if (reason == TR_REASON_SHUTDOWN)
        tr__sys_exit_signal(SIGTERM);
    tr__sys_exit(code);
}

_Noreturn void tr__behaviour_loop(const tr_behaviour *b, void *state, void *mailbox, int sigfd)
{
    zmq_pollitem_t items[2] = {
        {.socket = mailbox, .events = ZMQ_POLLIN},
        {.fd = sigfd, .events = ZMQ_POLLIN},
    };
    unsigned handled = 0;
    tr_msg msg;
    for (;;) {
        int rc = tr__sock_recv(mailbox, &msg, TR_NOWAIT);
        if (rc == TR_OK) {
            int action = b->handle(state, &msg);
            tr_msg_close(&msg);
            if (action != TR_CONTINUE)
                s_finish(b, state, TR_REASON_NORMAL);
            if (++handled % TR_SIGNAL_CHECK == 0 && s_sigterm_pending(sigfd))
                s_finish(b, state, TR_REASON_SHUTDOWN);
            continue;
        }
        tr_msg_close(&msg);
        if (rc != TR_EEMPTY) {
            tr_log(TR_LOG_ERROR, "TR-MAILBOX-FAIL", "mailbox receive failed: %s",
                   tr_strerror(rc));
            s_finish(b, state, TR_REASON_ERROR);
        }
        if (zmq_poll(items, 2, -1) < 0 && errno != EINTR) {
            tr_log(TR_LOG_ERROR, "TR-MAILBOX-FAIL", "poll failed: errno %d", errno);
            s_finish(b, state, TR_REASON_ERROR);
        }
        if ((items[1].revents & ZMQ_POLLIN) && s_sigterm_pending(sigfd))
            s_finish(b, state, TR_REASON_SHUTDOWN);
    }
}
