/* deliver.c — how a blob GET or HEAD is answered (registry_blob_deliver in
 * registry.h): the one place that asks the driver for a signed URL or a
 * local file, so the handler knows no driver. */
#include "registry.h"

#include "../lib/err.h"
#include "../lib/httprange.h"
#include "mirror.h"

#include <string.h>

static ssize_t reader_read(void *ctx, void *buf, size_t n)
{
    return storage_read(ctx, buf, n);
}

int registry_blob_deliver(struct registry *r, struct arena *a, const char *repo, const char *digest,
                          const struct blob_ask *q, struct blob_delivery *out)
{
    memset(out, 0, sizeof(*out));
    if (r->mirror) {
        /* a mirrored repository's missing blob */
        int mrc = mirror_blob(r->mirror, r, a, repo, digest, q, out);
        if (mrc) return mrc < 0 ? mrc : 0;
        memset(out, 0, sizeof(*out));
    }
    out->status = 200;
    out->length = -1;
    struct blob_desc *bd = &out->bd;
    /* a GET also finds a blob an online GC holds in quarantine: it streams
     * from the worker, which opens it now (no redirect, no web server path) */
    int quarantined = 0;
    int rc = strcmp(q->method, "GET") == 0
                 ? registry_blob_stat_for_read(r, a, repo, digest, bd, &quarantined)
                 : registry_blob_stat(r, a, repo, digest, bd);
    if (rc) return rc;
    /* a registry without a configuration (tools, tests) redirects and accelerates nothing */
    static const struct config none = {.redirect_disable = 1};
    const struct config *cfg = r->cfg ? r->cfg : &none;
    char *path = registry_blob_path(a, bd->digest);
    /* an object store signs a URL: the client fetches from it (issue 7); HEAD
     * is answered here, as a URL presigned for GET refuses HEAD */
    if (!cfg->redirect_disable && !quarantined && !strcmp(q->method, "GET")) {
        char *url;
        if (storage_url_for(r->d, a, path, "GET", &url) == 0) {
            out->status = 307;
            out->via = BLOB_VIA_REDIRECT;
            out->target = url;
            out->length = 0;
            return 0;
        }
    }
    if (q->if_none_match && strstr(q->if_none_match, bd->digest)) {
        out->status = 304;
        return 0;
    }
    char *local;
    if (cfg->accel != ACCEL_NONE && !quarantined && !q->accel_failed &&
        storage_has_local_path(r->d)) {
        if (cfg->accel == ACCEL_NGINX) {
            /* nginx maps the internal prefix onto the storage root and sends the
             * file itself (sendfile, Range, HEAD): no local path is needed, and
             * registry_blob_stat has just seen the blob */
            const char *pfx = cfg->accel_prefix;
            size_t pl = strlen(pfx);
            out->via = BLOB_VIA_ACCEL;
            out->target =
                arena_printf(a, "%.*s%s", (int)(pl && pfx[pl - 1] == '/' ? pl - 1 : pl), pfx, path);
            return 0;
        }
        if (storage_local_path(r->d, a, path, &local) == 0) {
            out->via = BLOB_VIA_SENDFILE;
            out->target = local;
            return 0;
        }
    }
    int64_t start = 0, end = bd->size - 1;
    if (q->range) {
        rc = range_parse(q->range, bd->size, &start, &end);
        if (rc == WERR_RANGE) {
            out->status = 416;
            out->length = 0;
            return 0;
        }
        if (rc == 0) {
            out->status = 206;
        } else {
            start = 0;
            end = bd->size - 1;
        }
    }
    out->start = start;
    out->length = end - start + 1;
    if (!strcmp(q->method, "HEAD") || out->length == 0) return 0;
    struct storage_reader *rd;
    if ((rc = registry_blob_open(r, a, bd->digest, start, &rd)) != 0) return rc;
    out->via = BLOB_VIA_STREAM;
    out->read = reader_read;
    out->ctx = rd;
    return 0;
}
