/* error.c: code -> sentence. */
#include "troupe/error.h"

#include <stddef.h>

static const struct {
    const char *name;
    const char *text;
} s_errors[TR_ECOUNT_] = {
    [TR_OK] = {"TR_OK", "success"},
    [TR_EINVAL] = {"TR_EINVAL", "invalid argument"},
    [TR_ENOMEM] = {"TR_ENOMEM", "out of memory"},
    [TR_ETIMEDOUT] = {"TR_ETIMEDOUT", "timed out"},
    [TR_EFULL] = {"TR_EFULL", "full: nothing could be put in time"},
    [TR_EEMPTY] = {"TR_EEMPTY", "empty: nothing arrived in time"},
    [TR_ECLOSED] = {"TR_ECLOSED", "closed: end of stream"},
    [TR_EPROTO] = {"TR_EPROTO", "protocol error: not a valid message"},
    [TR_ETOOBIG] = {"TR_ETOOBIG", "message larger than the configured maximum"},
    [TR_EDENIED] = {"TR_EDENIED", "access denied"},
    [TR_EEXIST] = {"TR_EEXIST", "name already in use by a live actor"},
    [TR_ESTATE] = {"TR_ESTATE", "operation not valid in this state"},
    [TR_ESPAWN] = {"TR_ESPAWN", "the actor failed to start"},
    [TR_ESYSTEM] = {"TR_ESYSTEM", "system call failed (see errno)"},
    [TR_EFRAMES] = {"TR_EFRAMES", "typed message with the wrong number of frames"},
    [TR_EVERSION] = {"TR_EVERSION", "typed message with an invalid envelope or unknown version"},
    [TR_ETYPE] = {"TR_ETYPE", "typed message of an unknown type"},
    [TR_EDECODE] = {"TR_EDECODE", "typed message with a truncated or corrupt payload"},
};

const char *tr_strerror(int code)
{
    if (code < 0 || code >= TR_ECOUNT_ || s_errors[code].text == NULL)
        return "unknown troupe error code";
    return s_errors[code].text;
}

const char *tr_errname(int code)
{
    if (code < 0 || code >= TR_ECOUNT_ || s_errors[code].name == NULL)
        return "TR_E?";
    return s_errors[code].name;
}
