/* troupe/error.h: error codes shared by every troupe call. */
#ifndef TROUPE_ERROR_H
#define TROUPE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Every troupe function that can fail returns an int: TR_OK (0) on success or
 * one of these codes. The set is small on purpose: each code is something a
 * caller can act on. */
enum {
    TR_OK = 0,
    TR_EINVAL,    /* an argument is invalid (NULL, bad name, bad option) */
    TR_ENOMEM,    /* out of memory */
    TR_ETIMEDOUT, /* the wait ended before the thing happened (join, wait) */
    TR_EFULL,     /* nothing could be put in time: the peer is not taking */
    TR_EEMPTY,    /* nothing arrived in time */
    TR_ECLOSED,   /* the other side closed: end of stream */
    TR_EPROTO,    /* a peer sent something that is not a valid message */
    TR_ETOOBIG,   /* a message is larger than the configured maximum */
    TR_EDENIED,   /* a peer was refused (authentication) */
    TR_EEXIST,    /* the name is already taken by a live actor */
    TR_ESTATE,    /* the call does not fit the object's state */
    TR_ESPAWN,    /* the child failed before its entry function ran */
    TR_ESYSTEM,   /* a system call failed: errno holds the cause */
    TR_EFRAMES,   /* a typed message with the wrong number of frames */
    TR_EVERSION,  /* a typed message whose envelope is invalid or of an
                     unknown format version */
    TR_ETYPE,     /* a typed message of a type the receiver does not know */
    TR_EDECODE,   /* a typed message whose payload is truncated or corrupt */
    TR_ECOUNT_    /* number of codes; not an error */
};

/* tr_strerror returns a sentence describing code. Unknown codes get a
 * generic sentence; the result is a static string that is never freed. For
 * TR_ESYSTEM the sentence is generic: the cause is in errno. */
const char *tr_strerror(int code);

/* tr_errname returns the code's symbolic name ("TR_EFULL"), for logs. */
const char *tr_errname(int code);

#ifdef __cplusplus
}
#endif
#endif /* TROUPE_ERROR_H */
