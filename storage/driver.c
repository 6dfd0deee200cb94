/* driver.c — the storage API over the driver tables, see driver.h: the
 * version check, the delegate rule (a wrapper's NULL op asks its inner
 * driver) and the fallbacks of the optional ops. */
#include "driver.h"

#include "../lib/err.h"
#include "../lib/metrics.h"
#include "../lib/log.h"
#include "../lib/mstime.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int storage_path_check(const char *p, size_t max, int allow_root)
{
    if (!p || p[0] != '/') return WERR_INVALID;
    if (p[1] == 0) return allow_root ? 0 : WERR_INVALID;
    if (strlen(p) > max) return WERR_INVALID;
    const size_t tl = sizeof(STORAGE_TMP_PREFIX) - 1;
    const char *c = p + 1;
    for (;;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0) return WERR_INVALID;
        if (n == 1 && c[0] == '.') return WERR_INVALID;
        if (n == 2 && c[0] == '.' && c[1] == '.') return WERR_INVALID;
        if (n >= tl && memcmp(c, STORAGE_TMP_PREFIX, tl) == 0) return WERR_INVALID;
        if (!e) break;
        c = e + 1;
    }
    return 0;
}

/* ---- tables: initialisation and the version check ---------------------- */

void storage_driver_init(struct storage_driver *d, const struct storage_driver_ops *ops,
                         struct storage_driver *inner)
{
    d->ops = ops;
    d->inner = inner;
}

/* the first required op missing from a driver's table, or NULL */
static const char *missing_driver_op(const struct storage_driver_ops *o)
{
    if (!o->get_content) return "get_content";
    if (!o->put_content) return "put_content";
    if (!o->reader) return "reader";
    if (!o->writer) return "writer";
    if (!o->stat) return "stat";
    if (!o->list) return "list";
    if (!o->move) return "move";
    if (!o->delete) return "delete";
    if (!o->walk) return "walk";
    return NULL;
}

int storage_driver_check(const struct storage_driver *d, char *err, size_t errlen)
{
    for (; d; d = d->inner) {
        const struct storage_driver_ops *o = d->ops;
        const char *name = o && o->name ? o->name : "(unnamed)";
        if (!o || o->version != STORAGE_DRIVER_VERSION) {
            snprintf(err, errlen,
                     "storage: the %s driver is built for driver interface version %d; this "
                     "Wharf has version %d",
                     name, o ? o->version : 0, STORAGE_DRIVER_VERSION);
            return WERR_INVALID;
        }
        const char *miss = !o->name ? "name" : !o->free ? "free" : NULL;
        /* a wrapper delegates what it leaves NULL: only the innermost driver
         * must have every required op */
        if (!miss && !d->inner) miss = missing_driver_op(o);
        if (miss) {
            snprintf(err, errlen, "storage: the %s driver lacks the required op %s", name, miss);
            return WERR_INVALID;
        }
    }
    return 0;
}

/* Reader, writer and lock tables are checked the first time each is seen
 * (a driver makes them as it runs, so storage_driver_check cannot): the
 * last table accepted of each kind is remembered, so the usual case is one
 * pointer compare. */
static const struct storage_reader_ops *_Atomic reader_seen;
static const struct storage_writer_ops *_Atomic writer_seen;
static const struct storage_lock_ops *_Atomic lock_seen;

static int refuse(const struct storage_driver *d, const char *what, int version)
{
    log_error("storage: the %s driver's %s table (version %d; this Wharf has version %d, "
              "with every required op) is refused",
              d->ops->name, what, version, STORAGE_DRIVER_VERSION);
    return WERR_IO;
}

static int reader_table_check(const struct storage_driver *d, const struct storage_reader_ops *o)
{
    if (o == atomic_load(&reader_seen)) return 0;
    if (!o || o->version != STORAGE_DRIVER_VERSION || !o->read || !o->close)
        return refuse(d, "reader", o ? o->version : 0);
    atomic_store(&reader_seen, o);
    return 0;
}

static int writer_table_check(const struct storage_driver *d, const struct storage_writer_ops *o)
{
    if (o == atomic_load(&writer_seen)) return 0;
    if (!o || o->version != STORAGE_DRIVER_VERSION || !o->write || !o->size || !o->commit ||
        !o->cancel || !o->close)
        return refuse(d, "writer", o ? o->version : 0);
    atomic_store(&writer_seen, o);
    return 0;
}

static int lock_table_check(const struct storage_driver *d, const struct storage_lock_ops *o)
{
    if (o == atomic_load(&lock_seen)) return 0;
    if (!o || o->version != STORAGE_DRIVER_VERSION || !o->renew || !o->unlock)
        return refuse(d, "lock", o ? o->version : 0);
    atomic_store(&lock_seen, o);
    return 0;
}

/* ---- dispatch: the delegate rule ------------------------------------------ */

/* DELEGATE: move d down the chain to the first driver whose table has op,
 * stopping at the innermost (which has every required op:
 * storage_driver_check); an optional op may still be NULL there, and the
 * caller then takes the fallback. */
#define DELEGATE(d, op)                                                                            \
    while ((d)->inner && !(d)->ops->op)                                                            \
    (d) = (d)->inner

/* TIMED: return call's result, its duration counted under the innermost
 * driver's name and the reference's action (registry_storage_action_seconds) */
static const char *base_name(const struct storage_driver *d)
{
    while (d->inner)
        d = d->inner;
    return d->ops->name;
}
#define TIMED(d, action, call)                                                                     \
    do {                                                                                           \
        int64_t t0_ = metrics_now_ns();                                                            \
        int rc_ = (call);                                                                          \
        if (t0_) metrics_storage_action(base_name(d), (action), t0_);                              \
        return rc_;                                                                                \
    } while (0)

int storage_get(struct storage_driver *d, struct arena *a, const char *path, size_t max,
                char **data, size_t *len)
{
    DELEGATE(d, get_content);
    TIMED(d, MA_GETCONTENT, d->ops->get_content(d, a, path, max, data, len));
}

int storage_put(struct storage_driver *d, const char *path, const void *data, size_t len)
{
    DELEGATE(d, put_content);
    TIMED(d, MA_PUTCONTENT, d->ops->put_content(d, path, data, len));
}

int storage_stat(struct storage_driver *d, const char *path, struct storage_stat *st)
{
    DELEGATE(d, stat);
    TIMED(d, MA_STAT, d->ops->stat(d, path, st));
}

int storage_list(struct storage_driver *d, struct arena *a, const char *path, char ***names,
                 size_t *n)
{
    DELEGATE(d, list);
    TIMED(d, MA_LIST, d->ops->list(d, a, path, names, n));
}

int storage_move(struct storage_driver *d, const char *src, const char *dst)
{
    DELEGATE(d, move);
    TIMED(d, MA_MOVE, d->ops->move(d, src, dst));
}

int storage_delete(struct storage_driver *d, const char *path)
{
    DELEGATE(d, delete);
    TIMED(d, MA_DELETE, d->ops->delete (d, path));
}

int storage_walk(struct storage_driver *d, const char *path, storage_walk_fn fn, void *ctx)
{
    DELEGATE(d, walk);
    TIMED(d, MA_WALK, d->ops->walk(d, path, fn, ctx));
}

int storage_list_page(struct storage_driver *d, struct arena *a, const char *path,
                      const char *after, size_t max, char ***names, size_t *n, int *more)
{
    struct storage_driver *impl = d;
    DELEGATE(impl, list_page);
    if (impl->ops->list_page)
        return impl->ops->list_page(impl, a, path, after, max, names, n, more);
    /* the fallback: a page cut from the whole list (through d: a wrapper may change list) */
    char **all;
    size_t cnt;
    int rc = storage_list(d, a, path, &all, &cnt);
    if (rc == WERR_NOTFOUND) {
        cnt = 0;
        all = NULL;
    } else if (rc) {
        return rc;
    }
    size_t from = 0;
    if (after && *after)
        while (from < cnt && strcmp(all[from], after) <= 0)
            from++;
    size_t k = cnt - from;
    *more = k > max;
    *n = k > max ? max : k;
    *names = all ? all + from : NULL;
    return 0;
}

static int lock_op(struct storage_driver *d, struct arena *a, const char *path, int ttl_s,
                   long wait_ms, struct storage_lock **lk)
{
    *lk = NULL;
    DELEGATE(d, lock);
    if (!d->ops->lock) return WERR_UNSUPPORTED;
    int rc = d->ops->lock(d, a, path, ttl_s, wait_ms, lk);
    if (!rc && (rc = lock_table_check(d, (*lk)->ops)) != 0)
        *lk = NULL; /* released with a: its unlock cannot be trusted */
    return rc;
}

/* the work of the storage_lock_during call in progress on this thread */
static _Thread_local struct lock_work {
    storage_lock_work_fn fn;
    void *ctx;
    int ran, rc;
} lock_work;

int storage_lock(struct storage_driver *d, struct arena *a, const char *path, int ttl_s,
                 long wait_ms, struct storage_lock **lk)
{
    /* a lock taken inside a storage_lock_during's work has no work of its own */
    struct lock_work saved = lock_work;
    lock_work.fn = NULL;
    int rc = lock_op(d, a, path, ttl_s, wait_ms, lk);
    lock_work = saved;
    return rc;
}

void storage_lock_settling(long settle_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (lock_work.fn) {
        struct lock_work w = lock_work;
        lock_work.fn = NULL; /* not again from a lock the work takes */
        w.rc = w.fn(w.ctx);
        w.ran = 1;
        lock_work = w;
    }
    long spent = ms_since(&t0);
    if (spent < settle_ms) ms_sleep(settle_ms - spent);
}

int storage_lock_during(struct storage_driver *d, struct arena *a, const char *path, int ttl_s,
                        long wait_ms, storage_lock_work_fn work, void *ctx,
                        struct storage_lock **lk)
{
    struct lock_work saved = lock_work;
    lock_work = (struct lock_work){work, ctx, 0, 0};
    int rc = lock_op(d, a, path, ttl_s, wait_ms, lk);
    int ran = lock_work.ran, wrc = lock_work.rc;
    lock_work = saved;
    if (rc) return rc;
    if (!ran && work) wrc = work(ctx);
    if (wrc) {
        storage_unlock(*lk);
        *lk = NULL;
    }
    return wrc;
}

int storage_lock_renew(struct storage_lock *lk)
{
    return lk ? lk->ops->renew(lk) : 0;
}

void storage_unlock(struct storage_lock *lk)
{
    if (lk) lk->ops->unlock(lk);
}

int storage_writer_at(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                      struct storage_writer **out)
{
    struct storage_writer *w;
    int rc = storage_writer_open(d, a, path, 1, &w);
    if (rc) return rc;
    if (storage_writer_size(w) != offset) {
        if ((rc = storage_writer_truncate(w, offset)) != 0) {
            storage_cancel(w);
            return rc == WERR_UNSUPPORTED ? WERR_IO : rc;
        }
    }
    *out = w;
    return 0;
}

#define APPEND_FILE_CHUNK (256 * 1024)

void storage_prepare_append(struct storage_driver *d, const char *path)
{
    DELEGATE(d, prepare_append);
    if (d->ops->prepare_append) d->ops->prepare_append(d, path);
}

void storage_warm(struct storage_driver *d)
{
    DELEGATE(d, warm);
    if (d->ops->warm) d->ops->warm(d);
}

int storage_append_file(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                        int fd, const char *src, int64_t len, struct storage_lock *lk)
{
    if (offset < 0 || len < 0) return WERR_INVALID;
    struct storage_driver *impl = d;
    DELEGATE(impl, append_file);
    if (impl->ops->append_file) {
        int rc = impl->ops->append_file(impl, a, path, offset, fd, src, len);
        if (rc != WERR_UNSUPPORTED) return rc;
    }
    /* any driver (object stores, inmemory): the file's bytes through a
     * writer, as a streamed body would come, from the same fd */
    struct storage_writer *w;
    int rc = storage_writer_at(d, a, path, offset, &w);
    if (rc) return rc;
    char *buf = malloc(APPEND_FILE_CHUNK);
    if (!buf) {
        storage_writer_close(w);
        return WERR_NOMEM;
    }
    int64_t done = 0;
    while (!rc && done < len) {
        size_t want = APPEND_FILE_CHUNK;
        if ((int64_t)want > len - done) want = (size_t)(len - done);
        ssize_t n = pread(fd, buf, want, (off_t)done);
        if (n <= 0) {
            rc = n == 0 || errno != EINTR ? WERR_IO : 0;
            continue;
        }
        if ((rc = storage_lock_renew(lk)) != 0) break;
        if ((rc = storage_write(w, buf, (size_t)n)) != 0) break;
        done += n;
    }
    free(buf);
    /* a partial append is cut by the next one (the saved hash state is older) */
    storage_writer_close(w);
    return rc;
}

int storage_reader_open(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                        struct storage_reader **r)
{
    DELEGATE(d, reader);
    int64_t t0 = metrics_now_ns();
    int rc = d->ops->reader(d, a, path, offset, r);
    if (t0) metrics_storage_action(base_name(d), MA_READER, t0);
    if (!rc && (rc = reader_table_check(d, (*r)->ops)) != 0)
        *r = NULL; /* released with a: its close cannot be trusted */
    return rc;
}

ssize_t storage_read(struct storage_reader *r, void *buf, size_t n)
{
    return r->ops->read(r, buf, n);
}

void storage_reader_close(struct storage_reader *r)
{
    if (r) r->ops->close(r);
}

int storage_writer_open(struct storage_driver *d, struct arena *a, const char *path, int append,
                        struct storage_writer **w)
{
    DELEGATE(d, writer);
    int64_t t0 = metrics_now_ns();
    int rc = d->ops->writer(d, a, path, append, w);
    if (t0) metrics_storage_action(base_name(d), MA_WRITER, t0);
    if (!rc && (rc = writer_table_check(d, (*w)->ops)) != 0)
        *w = NULL; /* released with a: its cancel cannot be trusted */
    return rc;
}

int storage_write(struct storage_writer *w, const void *buf, size_t n)
{
    return w->ops->write(w, buf, n);
}

int64_t storage_writer_size(struct storage_writer *w)
{
    return w->ops->size(w);
}

int storage_writer_truncate(struct storage_writer *w, int64_t size)
{
    return w->ops->truncate ? w->ops->truncate(w, size) : WERR_UNSUPPORTED;
}

int storage_commit(struct storage_writer *w)
{
    return w->ops->commit(w);
}

void storage_cancel(struct storage_writer *w)
{
    w->ops->cancel(w);
}

void storage_writer_close(struct storage_writer *w)
{
    w->ops->close(w);
}

int storage_url_for(struct storage_driver *d, struct arena *a, const char *path, const char *method,
                    char **url)
{
    DELEGATE(d, url_for);
    if (!d->ops->url_for) return WERR_UNSUPPORTED;
    TIMED(d, MA_URLFOR, d->ops->url_for(d, a, path, method, url));
}

int storage_local_path(struct storage_driver *d, struct arena *a, const char *path, char **out)
{
    DELEGATE(d, local_path);
    return d->ops->local_path ? d->ops->local_path(d, a, path, out) : WERR_UNSUPPORTED;
}

int storage_has_local_path(struct storage_driver *d)
{
    DELEGATE(d, local_path);
    return d->ops->local_path != NULL;
}

/* outermost first: a wrapper's free releases its own state only */
void storage_driver_free(struct storage_driver *d)
{
    while (d) {
        struct storage_driver *inner = d->inner;
        d->ops->free(d);
        d = inner;
    }
}
