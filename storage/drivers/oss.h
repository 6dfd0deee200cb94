/* oss.h — the Alibaba Cloud OSS storage driver, configured by storage.oss
 * of the reference's config.yml (accesskeyid, accesskeysecret, region,
 * endpoint, internal, bucket, encrypt, secure, chunksize, rootdirectory).
 * OSS's REST API has S3's shape: the driver is s3.c's (the same layout,
 * writer segments, multipart part copies, listings, retries and lease
 * locks) with OSS's dialect: requests signed with OSS signature V1
 * (lib/osssign.h), x-oss- headers, ranged GETs asking for the standard 416,
 * CopyObject up to 1 GB, and url_for giving OSS signed URLs (OSSAccessKeyId,
 * Expires, Signature; 20 minutes).
 *
 * Host: "<bucket>.<region>[-internal].aliyuncs.com" (virtual-hosted); an
 * endpoint replaces "<region>[-internal].aliyuncs.com" (with or without the
 * bucket in front, as the reference writes it; a leading http:// or https://
 * overrides secure); an endpoint that is an IP address or localhost is
 * addressed path style ("/<bucket>/<key>"), for local stand-ins. */
#ifndef WHARF_DRIVER_OSS_H
#define WHARF_DRIVER_OSS_H

#include <stddef.h>

#include "../../lib/config.h"
#include "../driver.h"

/* driver_oss_new: a driver for cfg's storage.oss section. Does no network
 * I/O. Returns 0 and *out (freed with storage_driver_free), WERR_INVALID
 * (err says why: a key missing, a bad endpoint, no libcurl) or WERR_NOMEM. */
int driver_oss_new(const struct config *cfg, struct storage_driver **out, char *err, size_t errlen);

#endif
