#include "driver.h"

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

void storage_driver_free(struct storage_driver *d)
{
    if (d) d->ops->free(d);
}
