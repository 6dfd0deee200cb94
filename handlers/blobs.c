/* /v2/<name>/blobs/<digest>: GET, HEAD, DELETE */
#include "handlers.h"

#include "../lib/err.h"
#include "../lib/httprange.h"
#include "../lib/log.h"
#include "../storage/registry.h"
#include "proxy.h"

#include <string.h>

void h_blob_get(struct app *app, struct request *req, struct response *res)
{
    struct blob_desc bd;
    if (proxy_blob_get(app, req, res)) return; /* a mirrored repository's missing blob */
    int rc = registry_blob_stat(app->reg, req->arena, req->name, req->ref, &bd);
    if (rc == WERR_NOTFOUND) {
        error_reply(req, res, 404, "BLOB_UNKNOWN", "blob unknown to registry", req->ref);
        return;
    }
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    struct arena *a = req->arena;
    response_header(res, a, "Docker-Content-Digest", bd.digest);
    /* an object store signs a URL: the client fetches from it (issue 7); HEAD
     * is answered here, as a URL presigned for GET refuses HEAD */
    if (!app->cfg->redirect_disable && app->driver->ops->url_for && !strcmp(req->method, "GET")) {
        char *url;
        if (app->driver->ops->url_for(app->driver, a, registry_blob_path(a, bd.digest), "GET",
                                      &url) == 0) {
            res->status = 307;
            response_header(res, a, "Location", url);
            res->content_length = 0;
            return;
        }
    }
    /* nginx found no file under its blob alias for a blob that exists here
     * (wharf-locations.conf: error_page 404 in the internal location sends
     * the request back with this parameter, which no client header can
     * set): the alias is not the storage root. Stream the blob rather than
     * answer 404 for it, and say why. */
    int accel_failed = request_param(req, "WHARF_ACCEL_FAILED") != NULL;
    if (accel_failed) {
        static int warned;
        if (!warned++)
            log_warn("nginx could not send %s from its /_wharf_blobs/ alias: the alias is not "
                     "the storage root %s; blobs stream through the workers until the alias "
                     "is fixed",
                     bd.digest, app->cfg->fs_root ? app->cfg->fs_root : "(unset)");
    }
    response_headerf(res, a, "Etag", "\"%s\"", bd.digest);
    /* (nginx keeps the first answer's Cache-Control across the fallback) */
    if (!accel_failed) response_header(res, a, "Cache-Control", "max-age=31536000");
    /* nginx keeps this header across X-Accel-Redirect and adds its own */
    if (app->cfg->accel != ACCEL_NGINX) response_header(res, a, "Accept-Ranges", "bytes");
    const char *inm = request_header(req, "If-None-Match");
    if (inm && strstr(inm, bd.digest)) {
        res->status = 304;
        return;
    }
    struct storage_driver *d = app->driver;
    const struct config *cfg = app->cfg;
    if (cfg->accel != ACCEL_NONE && d->ops->local_path && !accel_failed) {
        char *path = registry_blob_path(a, bd.digest);
        char *local;
        if (cfg->accel == ACCEL_NGINX) {
            /* nginx maps the internal prefix onto the storage root and sends the
             * file itself (sendfile, Range, HEAD); the digest header is re-added
             * there from $upstream_http_docker_content_digest */
            const char *pfx = cfg->accel_prefix;
            size_t pl = strlen(pfx);
            response_headerf(res, a, "X-Accel-Redirect", "%.*s%s",
                             (int)(pl && pfx[pl - 1] == '/' ? pl - 1 : pl), pfx, path);
            response_header(res, a, "Content-Type", "application/octet-stream");
            return;
        }
        if (d->ops->local_path(d, a, path, &local) == 0) {
            response_header(res, a, "X-Sendfile", local);
            response_header(res, a, "Content-Type", "application/octet-stream");
            return;
        }
    }
    response_header(res, a, "Content-Type", "application/octet-stream");
    int64_t start = 0, end = bd.size - 1;
    const char *range = request_header(req, "Range");
    if (range) {
        rc = range_parse(range, bd.size, &start, &end);
        if (rc == WERR_RANGE) {
            res->status = 416;
            response_headerf(res, a, "Content-Range", "bytes */%lld", (long long)bd.size);
            res->content_length = 0;
            return;
        }
        if (rc == 0) {
            res->status = 206;
            response_headerf(res, a, "Content-Range", "bytes %lld-%lld/%lld", (long long)start,
                             (long long)end, (long long)bd.size);
        } else {
            start = 0;
            end = bd.size - 1;
        }
    }
    res->content_length = end - start + 1;
    if (strcmp(req->method, "HEAD") == 0 || res->content_length == 0) return;
    struct storage_reader *rd;
    if ((rc = registry_blob_open(app->reg, a, bd.digest, start, &rd)) != 0) {
        error_storage(req, res, rc);
        return;
    }
    res->body_kind = BODY_READER;
    res->reader = rd;
}

void h_blob_delete(struct app *app, struct request *req, struct response *res)
{
    int rc = registry_blob_unlink(app->reg, req->arena, req->name, req->ref);
    if (rc == WERR_NOTFOUND) {
        error_reply(req, res, 404, "BLOB_UNKNOWN", "blob unknown to registry", req->ref);
        return;
    }
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    res->status = 202;
    res->content_length = 0;
}
