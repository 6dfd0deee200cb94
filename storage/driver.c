#include "driver.h"

#include "../lib/err.h"

#include <string.h>

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

void storage_driver_free(struct storage_driver *d)
{
    if (d) d->ops->free(d);
}
