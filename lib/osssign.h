/* osssign.h — Alibaba Cloud OSS request signing, version 1 (HMAC-SHA1), as
 * the OSS SDKs and the reference registry's OSS driver sign: the
 * Authorization header "OSS <AccessKeyId>:<Signature>" and signed URLs
 * (OSSAccessKeyId, Expires, Signature). Pure functions over their inputs
 * (the date is passed in), tested against Alibaba's published examples.
 *
 *   Signature = base64(HMAC-SHA1(secret, VERB "\n" Content-MD5 "\n"
 *               Content-Type "\n" Date "\n" CanonicalizedOSSHeaders
 *               CanonicalizedResource))
 *
 * CanonicalizedOSSHeaders: every x-oss-* header, name lowercased, value
 * trimmed, sorted by name, "name:value\n" each. CanonicalizedResource:
 * "/bucket/key" unencoded ("/bucket/" for the bucket, "/" for none), then
 * the subresources among the query ("?a&b=v", sorted by name, values
 * unencoded); other query parameters (prefix, max-keys, ...) are not signed.
 * For a signed URL, Date is the Expires time (seconds since the epoch).
 * Output goes to a caller's struct buf. */
#ifndef WHARF_OSSSIGN_H
#define WHARF_OSSSIGN_H

#include <stddef.h>
#include <time.h>

#include "arena.h"
#include "sigv4.h" /* struct sigv4_param: a name and a value, unencoded */

struct osssign_request {
    const char *method;
    const char *bucket; /* NULL: a service-level request */
    const char *key;    /* unencoded; NULL or "": the bucket itself */
    const struct sigv4_param *query;
    size_t nquery;
    const struct sigv4_param *headers; /* the request's headers, any case; Content-MD5,
                                          Content-Type and x-oss-* are signed */
    size_t nheaders;
    const char *date; /* the Date header's value, or a signed URL's Expires */
};

/* osssign_subresource: 1 when a query parameter of this name is part of the
 * CanonicalizedResource (acl, uploads, uploadId, partNumber, delete,
 * continuation-token, ...), else 0. */
int osssign_subresource(const char *name);

/* osssign_date: t as an HTTP date ("Thu, 17 Nov 2005 18:49:58 GMT") into out[32]. */
void osssign_date(time_t t, char out[32]);

/* osssign_string_to_sign: the text that is signed, into out. Returns 0,
 * WERR_INVALID (no method/date, more than 64 headers or subresources) or
 * WERR_TOOBIG (out's cap). */
int osssign_string_to_sign(const struct osssign_request *r, struct buf *out);

/* osssign_authorization: "OSS <akid>:<signature>" for r, into out. Returns
 * as osssign_string_to_sign. */
int osssign_authorization(const char *akid, const char *secret, const struct osssign_request *r,
                          struct buf *out);

/* osssign_url_query: the query of a signed URL for r (r->date is ignored:
 * expires, seconds since the epoch, is signed instead) into out, without a
 * leading '?': r's own query first (encoded), then
 * "OSSAccessKeyId=..&Expires=..&Signature=.." (encoded). Returns as
 * osssign_string_to_sign. */
int osssign_url_query(const char *akid, const char *secret, const struct osssign_request *r,
                      long long expires, struct buf *out);

#endif
