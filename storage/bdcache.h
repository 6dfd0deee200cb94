/* bdcache.h — the blob-descriptor cache (storage.cache.blobdescriptor) in
 * Redis (hiredis), shared by every node: the size of a blob's data by digest,
 * so a blob HEAD/GET skips the object store's stat. A Redis outage degrades to
 * storage reads (a miss), never a failed request; after an error Redis is
 * left alone for a second. Entries never outlive a deleted blob: the driver
 * returned by bdcache_wrap forgets a digest whenever its data is deleted or
 * replaced through it (garbage collection included), and a deletion above
 * the blob directories bumps a generation that voids every entry. */
#ifndef WHARF_BDCACHE_H
#define WHARF_BDCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/config.h"
#include "driver.h"

struct bdcache;

/* bdcache_redis_new: a cache on cfg's redis section (addr required). No
 * connection is made yet. Returns 0 and *out (bdcache_free), or WERR_INVALID
 * with err filled. */
int bdcache_redis_new(const struct config *cfg, struct bdcache **out, char *err, size_t errlen);
void bdcache_free(struct bdcache *c);

/* bdcache_get: 0 and *size on a hit; WERR_NOTFOUND on a miss, WERR_IO when
 * Redis is unreachable (callers treat both as a miss). */
int bdcache_get(struct bdcache *c, const char *digest, int64_t *size);
/* bdcache_put / bdcache_forget: best effort (errors are logged, not returned). */
void bdcache_put(struct bdcache *c, const char *digest, int64_t size);
void bdcache_forget(struct bdcache *c, const char *digest);

/* bdcache_wrap: a wrapper of inner (which it owns from now on: freed with
 * it) that keeps c right about deleted, moved and replaced blob data: it
 * has put_content, writer, move and delete, and delegates every other op
 * to inner (driver.h). Returns 0 or WERR_NOMEM. */
int bdcache_wrap(struct storage_driver *inner, struct bdcache *c, struct storage_driver **out);

#endif
