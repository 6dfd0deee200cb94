/* proxy_state.h — the storage side of the pull-through cache (issue 8):
 * which upstream mirrors a repository, placing fetched manifests and blobs
 * in the distribution layout, the per-blob fetch lock, and the ttl
 * bookkeeping the master's expiry task reads. Bookkeeping lives outside
 * docker/registry/v2 (the reference registry ignores it):
 *   <root>/wharf/proxy/access/<repo>/@<m|b>-<alg>-<hex>   (mtime = last pull)
 *   <root>/wharf/proxy/locks/<alg>-<hex>.lock             (the fetch lock: storage_lock)
 * Every function returns 0 or a negative WERR_*; results live on the arena. */
#ifndef WHARF_PROXY_STATE_H
#define WHARF_PROXY_STATE_H

#include <time.h>

#include "../lib/arena.h"
#include "../lib/config.h"
#include "registry.h"

/* proxy_upstream_for: the upstream mirroring repository name (longest prefix
 * at a '/' boundary; prefix "" matches every name), or NULL. *remote (arena)
 * is the name to ask the upstream for. */
const struct config_upstream *proxy_upstream_for(const struct config *cfg, struct arena *a,
                                                 const char *name, const char **remote);

/* proxy_manifest_store: put a fetched manifest (already checked against
 * digest) into repo without requiring its blobs, link its revision and, when
 * tag is not NULL, point tag at it. body NULL: the manifest is stored
 * already (only the links are written). */
int proxy_manifest_store(struct registry *r, struct arena *a, const char *repo, const char *tag,
                         const char *body, size_t len, const char *digest);
/* proxy_manifest_has: the revision is linked in repo (0) or WERR_NOTFOUND. */
int proxy_manifest_has(struct registry *r, struct arena *a, const char *repo, const char *digest);
/* proxy_tag_current: the digest tag points at in repo (arena) or WERR_NOTFOUND. */
int proxy_tag_current(struct registry *r, struct arena *a, const char *repo, const char *tag,
                      char **digest);
/* proxy_blob_link: the blob's data is stored already (fetched for another
 * repository): link it in repo. WERR_NOTFOUND when the data is absent. */
int proxy_blob_link(struct registry *r, struct arena *a, const char *repo, const char *digest,
                    struct blob_desc *out);

/* The fetch lock of one blob digest: the driver's lock (storage_lock: a
 * flocked file on the filesystem, a lease object on S3) at
 * /wharf/proxy/locks/<alg>-<hex>.lock, so one worker of one node fetches a
 * blob while the others wait for it. */
struct proxy_lock {
    struct storage_lock *lk; /* NULL: not held */
};
#define PROXY_LOCK_INIT                                                                            \
    {                                                                                              \
        NULL                                                                                       \
    }
#define PROXY_LOCK_TTL_S 120 /* a lease lasts this long unless renewed (proxy_lock_renew) */

/* proxy_lock: take the fetch lock of digest (on arena a), waiting up to
 * wait_s seconds (WERR_BUSY then). */
int proxy_lock(struct registry *r, struct arena *a, const char *digest, int wait_s,
               struct proxy_lock *lk);
/* proxy_lock_renew: keep a long fetch's lease (cheap: call it per chunk). */
void proxy_lock_renew(struct proxy_lock *lk);
/* proxy_unlock: release (the lock's file or lease goes). Idempotent. */
void proxy_unlock(struct proxy_lock *lk);

/* proxy_touch: record a pull of (repo, kind 'm' or 'b', digest) now; writes
 * only when the last record is older than min_age seconds. */
int proxy_touch(struct registry *r, struct arena *a, const char *repo, char kind,
                const char *digest, long min_age);

/* proxy_expire: remove what mirrored repositories have not pulled for their
 * upstream's ttl (ttl 0: never): manifests (with the tags on them) and blob
 * links; a blob's data too when no other repository links it. Entries of
 * repositories no longer mirrored are forgotten. *removed counts items. */
int proxy_expire(struct registry *r, time_t now, size_t *removed);
/* The ttl expiry task of the master's scheduler (storage/maintenance.c):
 * enabled when some upstream has a ttl; runs every quarter of the shortest
 * ttl (1 s to 1 h); run() is proxy_expire over driver d (in a forked child),
 * returning a process status (0 ok, 1 failed). */
int proxy_expire_enabled(const struct config *cfg);
long proxy_expire_interval(const struct config *cfg);
int proxy_expire_run(const struct config *cfg, struct storage_driver *d);

#endif
