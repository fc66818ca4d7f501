/* pubsub.c: troupe's publishers and subscribers, clients of the event hub
 * (hub.c); docs/events.md explains the whole. Each handle makes its socket
 * in the process that uses it, as queues do. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "actors/event_internal.h"
#include "core/internal.h"
#include "troupe/event.h"

/* ---- publishers ------------------------------------------------------------ */

struct tr_pub {
    tr__hub_addr addr;
    pid_t pid;    /* the process whose socket this is */
    void *sock;   /* XPUB connected to the hub's XSUB */
    bool heard;   /* the hub's subscription has arrived */
};

int tr_pub_open(tr_pub **out, const tr_hub_addr *hub)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    tr_pub *p = calloc(1, sizeof *p);
    if (p == NULL)
        return TR_ENOMEM;
    int rc = tr__hub_addr_init(&p->addr, hub, true, false);
    if (rc != TR_OK) {
        free(p);
        return rc;
    }
    *out = p;
    return TR_OK;
}

int tr_pub_send(tr_pub *p, const char *topic, const void *data, size_t size, int timeout_ms)
{
    if (p == NULL || topic == NULL || topic[0] == '$' || (data == NULL && size > 0))
        return TR_EINVAL;
    if (size > tr_sys_max_msg_size())
        return TR_ETOOBIG;
    if (p->pid != tr__pid()) {
        p->sock = NULL; /* a parent's: abandoned, never closed */
        p->heard = false;
        if ((p->sock = tr__hub_socket(ZMQ_XPUB, p->addr.in, -2)) == NULL)
            return TR_ESYSTEM;
        p->pid = tr__pid();
    }
    long long deadline = tr__deadline_ms(timeout_ms);
    /* The slow-joiner trap on this side: until the hub's XSUB has sent its
     * subscription, an XPUB drops what it is given. */
    while (!p->heard) {
        tr_msg m;
        int rc = tr__sock_recv(p->sock, &m, tr__remaining_ms(deadline));
        if (rc == TR_EEMPTY)
            return TR_EFULL;
        if (rc != TR_OK)
            return rc;
        p->heard = tr_msg_size(&m) > 0 && ((unsigned char *)tr_msg_data(&m))[0] == 1;
        tr_msg_close(&m);
    }
    /* With XPUB_NODROP a full pipe refuses the first frame; an XPUB always
     * polls writable, so wait by short sleeps rather than by zmq_poll. */
    for (;;) {
        if (zmq_send(p->sock, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
            break;
        if (errno != EAGAIN && errno != EINTR)
            return TR_ESYSTEM;
        if (deadline >= 0 && tr__now_ms() >= deadline)
            return TR_EFULL;
        zmq_poll(NULL, 0, 1);
    }
    return tr__sock_send(p->sock, data, size, 0, TR_FOREVER);
}

void tr_pub_destroy(tr_pub **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    if ((*pp)->pid == tr__pid())
        tr__sys_close(&(*pp)->sock);
    free(*pp);
    *pp = NULL;
}

/* ---- subscribers ----------------------------------------------------------- */

/* One subscription, kept so that a process that inherits the handle can
 * subscribe its own socket. */
#define PREFIX_MAX 255
typedef struct {
    size_t len;
    char data[PREFIX_MAX];
} s_prefix;

struct tr_sub {
    tr__hub_addr addr;
    pid_t pid;
    void *sock; /* SUB connected to the hub's XPUB */
    s_prefix *prefixes;
    size_t n;
    uint64_t rejected;
};

static int s_sub_socket(tr_sub *s)
{
    if (s->pid == tr__pid())
        return TR_OK;
    s->sock = NULL; /* a parent's: abandoned, never closed */
    if ((s->sock = tr__hub_socket(ZMQ_SUB, s->addr.out, 0)) == NULL)
        return TR_ESYSTEM;
    for (size_t i = 0; i < s->n; i++)
        zmq_setsockopt(s->sock, ZMQ_SUBSCRIBE, s->prefixes[i].data, s->prefixes[i].len);
    s->pid = tr__pid();
    return TR_OK;
}

static int s_sub_add(tr_sub *s, const char *data, size_t len)
{
    if (len > sizeof s->prefixes[0].data)
        return TR_EINVAL;
    s_prefix *p = realloc(s->prefixes, (s->n + 1) * sizeof *p);
    if (p == NULL)
        return TR_ENOMEM;
    s->prefixes = p;
    p[s->n].len = len;
    memcpy(p[s->n].data, data, len);
    s->n++;
    /* A socket made now subscribes to every prefix kept, this one too: a
     * second ZMQ_SUBSCRIBE would reach the hub as a second subscription. */
    if (s->pid != tr__pid())
        return s_sub_socket(s);
    return zmq_setsockopt(s->sock, ZMQ_SUBSCRIBE, data, len) == 0 ? TR_OK : TR_ESYSTEM;
}

int tr_sub_open(tr_sub **out, const char *prefix, const tr_hub_addr *hub)
{
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    tr_sub *s = calloc(1, sizeof *s);
    if (s == NULL)
        return TR_ENOMEM;
    int rc = tr__hub_addr_init(&s->addr, hub, false, true);
    if (rc == TR_OK)
        rc = prefix != NULL ? s_sub_add(s, prefix, strlen(prefix)) : s_sub_socket(s);
    if (rc != TR_OK) {
        tr_sub_destroy(&s);
        return rc;
    }
    *out = s;
    return TR_OK;
}

int tr_sub_subscribe(tr_sub *s, const char *prefix)
{
    if (s == NULL || prefix == NULL)
        return TR_EINVAL;
    return s_sub_add(s, prefix, strlen(prefix));
}

int tr_sub_subscribe_event(tr_sub *s, const char *name)
{
    char topic[TR__EVENT_TOPIC_MAX];
    size_t n = tr__event_topic(name, topic);
    if (s == NULL || n == 0)
        return TR_EINVAL;
    return s_sub_add(s, topic, n);
}

int tr_sub_recv(tr_sub *s, tr_msg *topic, tr_msg *body, int timeout_ms)
{
    if (topic != NULL)
        tr_msg_init(topic);
    if (body != NULL)
        tr_msg_init(body);
    if (s == NULL || topic == NULL || body == NULL)
        return TR_EINVAL;
    int rc = s_sub_socket(s);
    if (rc == TR_OK)
        rc = tr__hub_recv2(s->sock, topic, body, timeout_ms);
    if (rc == TR_EPROTO && (++s->rejected <= 20 || s->rejected % 1000 == 0))
        tr_log(TR_LOG_WARN, "TR-SUB-REJECT", "dropped a message that is not [topic][body] "
               "(%llu so far)", (unsigned long long)s->rejected);
    return rc;
}

int tr_sub_fd(tr_sub *s)
{
    return s != NULL && s_sub_socket(s) == TR_OK ? tr__hub_sock_fd(s->sock) : -1;
}

void tr_sub_destroy(tr_sub **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    if ((*sp)->pid == tr__pid())
        tr__sys_close(&(*sp)->sock);
    free((*sp)->prefixes);
    free(*sp);
    *sp = NULL;
}
