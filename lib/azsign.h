/* azsign.h — Azure Storage request signing (HMAC-SHA256 with OpenSSL): the
 * SharedKey Authorization header of a Blob service request and the query of
 * a service SAS for one blob. Pure functions over their inputs (the dates
 * are passed in), so they are tested against strings built by hand from
 * Microsoft's documented algorithm (tests/unit/test_azsign.c). Output goes
 * to a caller's struct buf. */
#ifndef WHARF_AZSIGN_H
#define WHARF_AZSIGN_H

#include <stddef.h>
#include <time.h>

#include "arena.h"

/* a query parameter or header, not encoded */
struct azsign_param {
    const char *name, *value;
};

/* azsign_string_to_sign: the SharedKey string-to-sign (version 2015-02-21
 * and later) of a request: method; the standard headers found in hdrs
 * (names compared case-insensitively; Content-Length "0" signs as empty);
 * every x-ms-* header lowercased, trimmed and sorted; the canonicalized
 * resource "/" account path, path being the request's URI path exactly as
 * sent (encoded; with a path-style service URL it starts with the account
 * name again), then each query parameter (lowercased name, unencoded value)
 * in name order. Returns 0, WERR_INVALID (a duplicate query name) or
 * WERR_TOOBIG (the buf's cap). */
int azsign_string_to_sign(const char *method, const char *account, const char *path,
                          const struct azsign_param *query, size_t nquery,
                          const struct azsign_param *hdrs, size_t nhdrs, struct buf *out);

/* azsign_hmac_b64: base64(HMAC-SHA256(key, msg)) into out[45]. 0 or WERR_IO. */
int azsign_hmac_b64(const unsigned char *key, size_t keylen, const char *msg, size_t len,
                    char out[45]);

/* azsign_rfc1123: t as "Sun, 06 Nov 1994 08:49:37 GMT" (x-ms-date) into out[30]. */
void azsign_rfc1123(time_t t, char out[30]);

/* azsign_sas_blob: the query (no leading '?') of a service SAS for reading
 * one blob: sv=version, sr=b, sp=perms, se=expiry (ISO 8601 UTC), sig, the
 * signature over the version 2020-12-06 string-to-sign whose canonicalized
 * resource is "/blob/<account>/<container>/<blob>" (blob unencoded).
 * Returns 0, WERR_IO or WERR_TOOBIG. */
int azsign_sas_blob(const unsigned char *key, size_t keylen, const char *account,
                    const char *container, const char *blob, const char *perms, time_t expiry,
                    const char *version, struct buf *out);

#endif
