/* gcs.h — the Google Cloud Storage driver, configured by storage.gcs of the
 * reference's config.yml (bucket, keyfile, credentials, rootdirectory,
 * chunksize). Requests go to the JSON API (https://storage.googleapis.com,
 * or http://$STORAGE_EMULATOR_HOST as Google's client libraries honour it)
 * through libcurl, with a pool of easy handles per driver, retried with
 * backoff on 5xx, 429 and broken connections. Authorization is an OAuth2
 * access token obtained with the service account's key (an RS256 JWT posted
 * to its token_uri), cached until a minute before it expires and fetched
 * again on a 401.
 *
 * Layout (the reference's): a path /a/b is the object "<rootdirectory>/a/b";
 * directories are name prefixes. Upload data written through a writer lives,
 * between requests and across nodes, as finished segment objects under
 * "<key>/.tmp-w/" plus an index object listing them: each writer streams
 * its bytes into one resumable upload session (chunks of chunksize, a
 * multiple of 256 KiB) whose object becomes the next segment when the writer
 * closes; more than 32 segments are composed into one. Such a file reads,
 * stats and lists like any other; move() composes its segments at the
 * destination (compose, 32 sources a call, cascading) and a plain object is
 * moved by rewrite (looping on rewriteToken) and delete. url_for gives V4
 * signed URLs (GOOG4-RSA-SHA256) made with the service account's key. */
#ifndef WHARF_DRIVER_GCS_H
#define WHARF_DRIVER_GCS_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "../../lib/config.h"
#include "../../lib/sigv4.h"
#include "../driver.h"

/* driver_gcs_new: a driver for cfg's storage.gcs section. The service
 * account comes from credentials (its JSON text), else the file keyfile,
 * else the file $GOOGLE_APPLICATION_CREDENTIALS. Does no network I/O.
 * Returns 0 and *out (freed with storage_driver_free), WERR_INVALID (err says
 * why: no or unreadable credentials, a key that is not an RSA private key)
 * or WERR_NOMEM. */
int driver_gcs_new(const struct config *cfg, struct storage_driver **out, char *err, size_t errlen);

/* driver_gcs_presign_expiry: seconds a url_for URL stays valid (default 1200,
 * as the reference's 20 minutes; at most 604800). */
void driver_gcs_presign_expiry(struct storage_driver *d, long seconds);

/* gcs_account_parse: the service account's key (an RSA private key, PEM in
 * "private_key"), client_email and token_uri (default Google's) from its
 * JSON text. *key, *email and *token_uri are the caller's (EVP_PKEY_free,
 * free). 0, or WERR_INVALID with err saying what is missing. */
int gcs_account_parse(const char *json, EVP_PKEY **key, char **email, char **token_uri, char *err,
                      size_t errlen);

/* gcs_sign_url: a V4 signed URL (GOOG4-RSA-SHA256, path style) for method
 * on object (NULL: the bucket itself) at scheme://host, signed by key for
 * email at now, valid expires seconds; hdrs are extra signed headers (host
 * is always signed), query extra parameters (both unencoded, may be NULL/0).
 * Written to out. Pure over its inputs: tested against Google's published
 * conformance vectors. 0, WERR_INVALID (expires outside 1..604800, a bad
 * header) or WERR_TOOBIG. */
int gcs_sign_url(EVP_PKEY *key, const char *email, const char *scheme, const char *host,
                 const char *bucket, const char *object, const char *method, time_t now,
                 long expires, const struct sigv4_param *hdrs, size_t nhdrs,
                 const struct sigv4_param *query, size_t nquery, struct buf *out);

/* gcs_jwt: the signed JWT assertion of the service-account flow (RS256;
 * iss email, scope devstorage.read_write, aud token_uri, iat now, exp now +
 * 3600) as a malloc'd string; NULL on failure. */
char *gcs_jwt(EVP_PKEY *key, const char *email, const char *token_uri, time_t now);

#endif
