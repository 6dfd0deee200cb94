/* open.h — the configured storage driver, built from struct config: the
 * filesystem, inmemory or s3 driver, wrapped by the storage middleware
 * (middleware.storage) and by the Redis blob-descriptor cache when
 * storage.cache.blobdescriptor is redis. Every command that
 * touches storage (serve, garbage-collect, upload purging) opens it here, so
 * they all see the same backend and keep the same cache right. */
#ifndef WHARF_STORAGE_OPEN_H
#define WHARF_STORAGE_OPEN_H

#include <stddef.h>

#include "../lib/config.h"
#include "bdcache.h"
#include "driver.h"

/* storage_open: *out the driver (storage_driver_free), *cache the cache or
 * NULL (bdcache_free after the driver; cache may be passed NULL when the
 * caller does not want it: the wrapper still needs it alive, so then it is
 * not created and no invalidation happens — only for read-only tools).
 * The whole chain passes storage_driver_check first (a driver of another
 * interface version or lacking a required op is refused here, at start-up).
 * Returns 0 or a WERR_* with err filled. */
int storage_open(const struct config *cfg, struct storage_driver **out, struct bdcache **cache,
                 char *err, size_t errlen);

#endif
