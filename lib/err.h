/* err.h — the one small set of error codes every fallible function returns.
 * 0 is success; a negative WERR_* is a failure. Callers pass codes up unchanged;
 * handlers/errors.c turns a code into an HTTP status and the spec's error JSON. */
#ifndef WHARF_ERR_H
#define WHARF_ERR_H

enum werr {
    WERR_OK = 0,
    WERR_NOTFOUND = -1,    /* path, blob, manifest, upload, tag absent */
    WERR_EXISTS = -2,      /* target already exists */
    WERR_INVALID = -3,     /* malformed input */
    WERR_TOOBIG = -4,      /* a bound was exceeded */
    WERR_DIGEST = -5,      /* content does not match its digest */
    WERR_RANGE = -6,       /* offset / range not satisfiable */
    WERR_DENIED = -7,      /* not allowed (read-only, permissions) */
    WERR_UNSUPPORTED = -8, /* operation not supported / disabled */
    WERR_IO = -9,          /* storage or network I/O failure */
    WERR_NOMEM = -10,      /* allocation failed */
    WERR_BUSY = -11,       /* another process holds what this needs (a GC run) */
    WERR_NOSPACE = -12,    /* the storage is full (ENOSPC, EDQUOT; S3: 507) */
};

/* werr_str: a short constant English name of a code (never NULL). */
const char *werr_str(int code);

#endif
