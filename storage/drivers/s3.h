/* s3.h — the S3 storage driver (AWS S3 and compatible stores: MinIO, Ceph
 * RGW, OpenStack Swift's s3api), configured by storage.s3 of the reference's
 * config.yml. Requests go through libcurl (a pool of easy handles per driver,
 * so connections are reused and threads may share the driver), signed with
 * AWS Signature V4 (lib/sigv4.c), retried with backoff on 5xx, throttling
 * and broken connections.
 *
 * Layout: a path /a/b is the object "<rootdirectory>/a/b"; directories are
 * key prefixes (an emptied directory vanishes, as in the reference). Upload
 * data written through a writer is kept, between requests and across nodes,
 * as segment objects under "<key>/.tmp-w/" (each at least 5 MiB except the
 * last, and at most chunksize) plus an index object listing them; such a
 * file reads, stats and lists like any other, and move() composes it into
 * one object at the destination with a multipart upload of server-side part
 * copies (UploadPartCopy, in parallel). Names starting with ".tmp-" are
 * reserved, as in the other drivers. */
#ifndef WHARF_DRIVER_S3_H
#define WHARF_DRIVER_S3_H

#include <stddef.h>

#include "../../lib/config.h"
#include "../driver.h"

/* driver_s3_new: a driver for cfg's storage.s3 section. Credentials come from
 * cfg, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN);
 * AWS_CA_BUNDLE, when it names a file, is the CA bundle. Does no network I/O.
 * Returns 0 and *out (freed with storage_driver_free), WERR_INVALID (err
 * says why: no credentials, bad endpoint) or WERR_NOMEM. */
int driver_s3_new(const struct config *cfg, struct storage_driver **out, char *err, size_t errlen);

/* driver_s3_presign_expiry: seconds a url_for URL stays valid (default 1200,
 * as the reference's 20 minutes). */
void driver_s3_presign_expiry(struct storage_driver *d, long seconds);

#endif
