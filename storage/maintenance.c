/* maintenance.c — what the pool master's periodic storage tasks do
 * (maintenance.h; admin/maintenance.c makes them rows of the pool's task
 * table, fcgi/tasks.h).
 *
 * To add a periodic storage task, write its three functions and add one row
 * to storage_tasks[]. A task needs shared storage that its child can open
 * itself: with the inmemory driver (one process) every task is off; on every
 * other driver a run opens the configured storage (its cache included, so
 * the cache stays right), and at most one run of a task goes at a time across
 * the masters of every node sharing the storage: the run takes the task's
 * driver lock (storage_lock: a flock, a lease on S3) or skips its turn.
 * Garbage collection takes its own lock inside gc_run (shared with the
 * offline `wharf garbage-collect`). */
#include "maintenance.h"

#include "../lib/arena.h"
#include "../lib/config.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/metrics.h"
#include "driver.h"
#include "gc.h"
#include "open.h"
#include "paths.h"
#include "proxy_state.h"

struct storage_task {
    const char *name; /* in log lines */
    const char *lock; /* the task's lock under /wharf/locks, or NULL: run() locks */
    int (*enabled)(const struct config *c);
    long (*interval)(const struct config *c); /* seconds between runs (> 0) */
    int (*run)(const struct config *c, struct storage_driver *d);
};

/* a task's lease on object storage outlives a holder that died this long
 * (one on the same host ends with its process) */
#define TASK_LOCK_TTL_S 900

/* ---- upload purging --------------------------------------------------- */

static int purge_enabled(const struct config *c)
{
    return c->uploadpurging_enabled && c->uploadpurging_age > 0;
}
static long purge_interval(const struct config *c)
{
    return c->uploadpurging_interval;
}
static int purge_run(const struct config *c, struct storage_driver *d)
{
    size_t n = 0;
    int rc = gc_purge_uploads(d, c->uploadpurging_age, c->uploadpurging_dryrun, &n);
    if (rc) {
        log_error("upload purging: %s", werr_str(rc));
        return 1;
    }
    if (!c->uploadpurging_dryrun) metrics_uploads_purged(n);
    log_info("upload purging: %zu upload%s %s", n, n == 1 ? "" : "s",
             c->uploadpurging_dryrun ? "would be removed (dry run)" : "removed");
    return 0;
}

/* ---- online garbage collection ------------------------------------------ */

static int gc_enabled(const struct config *c)
{
    return c->gc_enabled;
}
static long gc_interval(const struct config *c)
{
    return c->gc_interval;
}
static int gc_task_run(const struct config *c, struct storage_driver *d)
{
    struct gc_opts o = {.online = 1,
                        .grace = c->gc_graceperiod,
                        .settle_ms = 2000,
                        .delete_untagged = c->gc_deleteuntagged,
                        .dry_run = c->gc_dryrun};
    struct gc_stats st;
    int rc = gc_run(d, c, &o, &st);
    if (rc == WERR_BUSY) {
        /* another run on this storage (a manual one, or another node's on a
         * shared bucket): this round is skipped, the next one tries again */
        log_info("garbage collection: skipped, another collection is running");
        return 0;
    }
    if (rc) {
        metrics_gc(0, 0, 0, 0);
        log_error("garbage collection: %s", werr_str(rc));
        return 1;
    }
    if (!o.dry_run) metrics_gc(1, (uint64_t)st.bytes_freed, st.blobs_deleted, st.manifests_deleted);
    log_info("garbage collection%s: %zu manifests, %zu blobs marked; %zu manifests and %zu "
             "blobs %s (%lld bytes); %zu young blobs kept, %zu restored",
             o.dry_run ? " (dry run)" : "", st.manifests, st.marked, st.manifests_deleted,
             st.blobs_deleted, o.dry_run ? "eligible" : "deleted", (long long)st.bytes_freed,
             st.blobs_young, st.restored);
    return 0;
}

/* One row per periodic task. */
static const struct storage_task storage_tasks[] = {
    {"upload purging", "maintenance/upload-purging", purge_enabled, purge_interval, purge_run},
    {"garbage collection", NULL, gc_enabled, gc_interval, gc_task_run},
    {"proxy ttl expiry", "maintenance/proxy-ttl-expiry", proxy_expire_enabled,
     proxy_expire_interval, proxy_expire_run},
};
#define NTASKS (sizeof storage_tasks / sizeof storage_tasks[0])

/* ---- the storage side of every task ---------------------------------------- */

size_t storage_maint_count(void)
{
    return NTASKS;
}

const char *storage_maint_name(size_t i)
{
    return i < NTASKS ? storage_tasks[i].name : NULL;
}

int storage_maint_enabled(const struct config *c, size_t i)
{
    if (i >= NTASKS) return 0;
    const struct storage_task *t = &storage_tasks[i];
    /* the inmemory driver lives in one worker: the child would see another,
     * empty store. Read-only mode is for an offline GC run: no task writes
     * meanwhile. */
    return c->storage != STORAGE_INMEMORY && !c->readonly && t->enabled(c);
}

long storage_maint_interval(const struct config *c, size_t i)
{
    return i < NTASKS ? storage_tasks[i].interval(c) : 0;
}

/* In the task's child: open the configured storage, take the task's lock,
 * run. */
int storage_maint_run(const struct config *c, size_t i)
{
    if (i >= NTASKS) return 1;
    const struct storage_task *t = &storage_tasks[i];
    const char *name = t->name;
    struct storage_driver *d = NULL;
    struct bdcache *bc = NULL;
    char err[256];
    int rc = storage_open(c, &d, &bc, err, sizeof err);
    if (rc) {
        log_error("%s: cannot open storage: %s", name, err);
        return 1;
    }
    struct arena *a = arena_new();
    struct storage_lock *lk = NULL;
    int status = 0;
    if (t->lock) {
        rc = storage_lock(d, a, path_lock(a, t->lock), TASK_LOCK_TTL_S, 0, &lk);
        if (rc == WERR_BUSY)
            log_info("%s: skipped, another run is going on this storage", name);
        else if (rc)
            log_error("%s: cannot take its lock: %s", name, werr_str(rc));
        if (rc) status = rc == WERR_BUSY ? 0 : 1;
    }
    if (!rc) status = t->run(c, d);
    storage_unlock(lk);
    arena_free(a);
    storage_driver_free(d);
    bdcache_free(bc);
    return status;
}
