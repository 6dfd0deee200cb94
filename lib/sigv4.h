/* sigv4.h — AWS Signature Version 4 (HMAC-SHA256 with OpenSSL) for S3
 * requests: the Authorization header of a request, and presigned URLs.
 * Pure functions over their inputs (the date is passed in), so they are
 * tested against AWS's published vectors. Output goes to a caller's struct buf. */
#ifndef WHARF_SIGV4_H
#define WHARF_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "arena.h"

/* hex SHA-256 of the empty payload */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED "UNSIGNED-PAYLOAD"

struct sigv4_creds {
    const char *access_key, *secret_key;
    const char *region;  /* e.g. "us-east-1" */
    const char *service; /* "s3" */
};

/* a query parameter or header, not encoded (the signer encodes) */
struct sigv4_param {
    const char *name, *value;
};

struct sigv4_request {
    const char *method;
    const char *path; /* absolute, not encoded: "/bucket/a b/c" */
    const struct sigv4_param *query;
    size_t nquery;
    const struct sigv4_param *headers; /* every header to sign; must include host, x-amz-date */
    size_t nheaders;
    const char *payload_hash; /* hex SHA-256 of the body, or SIGV4_UNSIGNED */
};

/* sigv4_encode: append s[0..n) URI-encoded as AWS wants (unreserved
 * A-Za-z0-9-._~ kept, '/' kept when keep_slash, the rest %XX uppercase).
 * Returns 0 or WERR_TOOBIG (the buf's cap). */
int sigv4_encode(struct buf *out, const char *s, size_t n, int keep_slash);

/* sigv4_amzdate: t as "YYYYMMDDTHHMMSSZ" (UTC) into out[17]. */
void sigv4_amzdate(time_t t, char out[17]);

/* sigv4_canonical_request: the canonical request text (step 1 of AWS's
 * recipe) into out. Query sorted by encoded name then value, headers
 * lowercased, trimmed (inner runs of spaces collapsed) and sorted. Returns 0,
 * WERR_INVALID (a header name too long or empty) or WERR_TOOBIG. */
int sigv4_canonical_request(const struct sigv4_request *r, struct buf *out);

/* sigv4_authorization: the Authorization header value for r signed at
 * amzdate ("YYYYMMDDTHHMMSSZ", which must equal r's x-amz-date header).
 * Returns 0, WERR_INVALID or WERR_TOOBIG. */
int sigv4_authorization(const struct sigv4_creds *c, const struct sigv4_request *r,
                        const char *amzdate, struct buf *out);

/* sigv4_presign_query: the query string of a presigned URL for method on
 * path at host ("host[:port]"), valid expires seconds from amzdate: the
 * X-Amz-* parameters (plus extra, unencoded, may be NULL/0) and
 * X-Amz-Signature last, into out (no leading '?'). Only host is signed.
 * Returns 0, WERR_INVALID (expires outside 1..604800) or WERR_TOOBIG. */
int sigv4_presign_query(const struct sigv4_creds *c, const char *method, const char *path,
                        const char *host, const char *amzdate, long expires,
                        const struct sigv4_param *extra, size_t nextra, struct buf *out);

/* sigv4_sha256_hex: hex SHA-256 of data into out[65]. */
void sigv4_sha256_hex(const void *data, size_t n, char out[65]);

#endif
