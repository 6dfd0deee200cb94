#include "driver.h"

#include "../lib/err.h"

#include <string.h>

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

#include "../lib/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int storage_get(struct storage_driver *d, struct arena *a, const char *path, size_t max,
                char **data, size_t *len)
{
    return d->ops->get_content(d, a, path, max, data, len);
}

int storage_put(struct storage_driver *d, const char *path, const void *data, size_t len)
{
    return d->ops->put_content(d, path, data, len);
}

int storage_stat(struct storage_driver *d, const char *path, struct storage_stat *st)
{
    return d->ops->stat(d, path, st);
}

int storage_list(struct storage_driver *d, struct arena *a, const char *path, char ***names,
                 size_t *n)
{
    return d->ops->list(d, a, path, names, n);
}

int storage_move(struct storage_driver *d, const char *src, const char *dst)
{
    return d->ops->move(d, src, dst);
}

int storage_delete(struct storage_driver *d, const char *path)
{
    return d->ops->delete(d, path);
}

int storage_walk(struct storage_driver *d, const char *path, storage_walk_fn fn, void *ctx)
{
    return d->ops->walk(d, path, fn, ctx);
}

int storage_list_page(struct storage_driver *d, struct arena *a, const char *path,
                      const char *after, size_t max, char ***names, size_t *n, int *more)
{
    if (d->ops->list_page) return d->ops->list_page(d, a, path, after, max, names, n, more);
    char **all;
    size_t cnt;
    int rc = d->ops->list(d, a, path, &all, &cnt);
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

int storage_lock(struct storage_driver *d, struct arena *a, const char *path, int ttl_s,
                 long wait_ms, struct storage_lock **lk)
{
    *lk = NULL;
    if (!d->ops->lock) return WERR_UNSUPPORTED;
    return d->ops->lock(d, a, path, ttl_s, wait_ms, lk);
}

int storage_lock_renew(struct storage_lock *lk)
{
    return lk ? lk->ops->lock_renew(lk) : 0;
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

int storage_append_file(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                        int fd, const char *src, int64_t len, struct storage_lock *lk)
{
    if (offset < 0 || len < 0) return WERR_INVALID;
    if (d->ops->append_file) {
        int rc = d->ops->append_file(d, a, path, offset, fd, src, len);
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

int storage_reader_open(struct storage_driver *d, struct arena *a, const char *path,
                        int64_t offset, struct storage_reader **r)
{
    return d->ops->reader(d, a, path, offset, r);
}

ssize_t storage_read(struct storage_reader *r, void *buf, size_t n)
{
    return r->ops->read(r, buf, n);
}

void storage_reader_close(struct storage_reader *r)
{
    if (r) r->ops->reader_close(r);
}

int storage_writer_open(struct storage_driver *d, struct arena *a, const char *path, int append,
                        struct storage_writer **w)
{
    return d->ops->writer(d, a, path, append, w);
}

int storage_write(struct storage_writer *w, const void *buf, size_t n)
{
    return w->ops->write(w, buf, n);
}

int64_t storage_writer_size(struct storage_writer *w)
{
    return w->ops->writer_size(w);
}

int storage_writer_truncate(struct storage_writer *w, int64_t size)
{
    return w->ops->writer_truncate ? w->ops->writer_truncate(w, size) : WERR_UNSUPPORTED;
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
    w->ops->writer_close(w);
}

int storage_url_for(struct storage_driver *d, struct arena *a, const char *path,
                    const char *method, char **url)
{
    return d->ops->url_for ? d->ops->url_for(d, a, path, method, url) : WERR_UNSUPPORTED;
}

int storage_local_path(struct storage_driver *d, struct arena *a, const char *path, char **out)
{
    return d->ops->local_path ? d->ops->local_path(d, a, path, out) : WERR_UNSUPPORTED;
}

void storage_driver_free(struct storage_driver *d)
{
    if (d) d->ops->free(d);
}
