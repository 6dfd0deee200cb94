/* open.c — the configured storage driver, see open.h. A new driver is a
 * file in storage/drivers/ and one branch here (docs/storage-drivers.md). */
#include "open.h"

#include "../lib/err.h"
#include "drivers/azure.h"
#include "drivers/filesystem.h"
#include "drivers/oss.h"
#include "drivers/gcs.h"
#include "drivers/s3.h"
#include "drivers/swift.h"
#include "middleware/middleware.h"

#include <stdio.h>

int storage_open(const struct config *cfg, struct storage_driver **out, struct bdcache **cache,
                 char *err, size_t errlen)
{
    struct storage_driver *d = NULL;
    struct bdcache *c = NULL;
    int rc;
    if (cache) *cache = NULL;
    if (cfg->storage == STORAGE_S3) {
        if ((rc = driver_s3_new(cfg, &d, err, errlen)) != 0) return rc;
    } else if (cfg->storage == STORAGE_OSS) {
        if ((rc = driver_oss_new(cfg, &d, err, errlen)) != 0) return rc;
    } else if (cfg->storage == STORAGE_GCS) {
        if ((rc = driver_gcs_new(cfg, &d, err, errlen)) != 0) return rc;
    } else if (cfg->storage == STORAGE_AZURE) {
        if ((rc = driver_azure_new(cfg, &d, err, errlen)) != 0) return rc;
    } else if (cfg->storage == STORAGE_SWIFT) {
        if ((rc = driver_swift_new(cfg, &d, err, errlen)) != 0) return rc;
    } else if (cfg->storage > STORAGE_S3) { /* issue 15: each driver's branch replaces this */
        snprintf(err, errlen,
                 "storage: this build of Wharf has no driver for the configured storage");
        return WERR_UNSUPPORTED;
    } else if (cfg->storage == STORAGE_INMEMORY) {
        rc = driver_inmemory_new(&d);
    } else if ((rc = driver_filesystem_new(cfg->fs_root, &d)) == 0) {
        driver_filesystem_directio(d, cfg->directio);
    }
    if (rc) {
        snprintf(err, errlen, "storage: cannot open the %s driver: %s",
                 cfg->storage == STORAGE_INMEMORY ? "inmemory" : "filesystem", werr_str(rc));
        return rc;
    }
    if (cfg->nstorage_mw) { /* middleware.storage: redirect, cloudfront (url_for) */
        struct storage_driver *m;
        if ((rc = storage_middleware_wrap(cfg, d, &m, err, errlen)) != 0) {
            storage_driver_free(d);
            return rc;
        }
        d = m;
    }
    if (cfg->blobdescriptor_redis && cache) {
        if ((rc = bdcache_redis_new(cfg, &c, err, errlen)) != 0) {
            storage_driver_free(d);
            return rc;
        }
        struct storage_driver *w;
        if ((rc = bdcache_wrap(d, c, &w)) != 0) {
            storage_driver_free(d);
            bdcache_free(c);
            return rc;
        }
        d = w;
        *cache = c;
    }
    /* a driver built for another interface version, or lacking an op, is
     * refused here, at start-up, rather than crashing on its first request */
    if ((rc = storage_driver_check(d, err, errlen)) != 0) {
        storage_driver_free(d);
        if (cache && *cache) {
            bdcache_free(*cache);
            *cache = NULL;
        }
        return rc;
    }
    *out = d;
    return 0;
}
