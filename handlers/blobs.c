/* /v2/<name>/blobs/<digest>: GET, HEAD, DELETE */
#include "handlers.h"

#include "events.h"

#include "../lib/err.h"
#include "../lib/log.h"
#include "../storage/registry.h"

#include <string.h>

void h_blob_get(struct app *app, struct request *req, struct response *res)
{
    struct arena *a = req->arena;
    const struct config *cfg = app->cfg;
    /* nginx found no file under its blob alias for a blob that exists here
     * (wharf-locations.conf: error_page 404 in the internal location sends
     * the request back with this parameter, which no client header can
     * set): the alias is not the storage root. Stream the blob rather than
     * answer 404 for it, and say why. */
    struct blob_ask q = {
        .method = req->method,
        .range = request_header(req, "Range"),
        .if_none_match = request_header(req, "If-None-Match"),
        .accel_failed = request_param(req, "WHARF_ACCEL_FAILED") != NULL,
    };
    struct blob_delivery d;
    int rc = registry_blob_deliver(app->reg, a, req->name, req->ref, &q, &d);
    if (rc == WERR_NOTFOUND && !d.detail) {
        error_reply(req, res, 404, "BLOB_UNKNOWN", "blob unknown to registry", req->ref);
        return;
    }
    if (rc && d.detail) { /* a mirror's upstream failed */
        error_reply(req, res, 502, "UNKNOWN", "upstream registry error", d.detail);
        return;
    }
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    /* GET and HEAD, whatever the answer (redirect, 304, 206, 416): as the
     * reference, whose ServeBlob succeeded */
    events_blob(app, req, EVENT_PULL, d.bd.digest, d.bd.size, NULL);
    response_header(res, a, "Docker-Content-Digest", d.bd.digest);
    if (d.via == BLOB_VIA_REDIRECT) {
        res->status = 307;
        response_header(res, a, "Location", d.target);
        res->content_length = 0;
        return;
    }
    if (q.accel_failed && !d.upstream) {
        static int warned;
        if (!warned++)
            log_warn("nginx could not send %s from its /_wharf_blobs/ alias: the alias is not "
                     "the storage root %s; blobs stream through the workers until the alias "
                     "is fixed",
                     d.bd.digest, cfg->fs_root ? cfg->fs_root : "(unset)");
    }
    response_headerf(res, a, "Etag", "\"%s\"", d.bd.digest);
    if (!d.upstream) {
        /* (nginx keeps the first answer's Cache-Control across the fallback) */
        if (!q.accel_failed) response_header(res, a, "Cache-Control", "max-age=31536000");
        /* nginx keeps this header across X-Accel-Redirect and adds its own */
        if (cfg->accel != ACCEL_NGINX) response_header(res, a, "Accept-Ranges", "bytes");
    }
    if (d.status == 304) {
        res->status = 304;
        return;
    }
    /* the web server sends the file itself (sendfile, Range, HEAD); nginx
     * re-adds the digest header from $upstream_http_docker_content_digest */
    if (d.via == BLOB_VIA_ACCEL) response_header(res, a, "X-Accel-Redirect", d.target);
    if (d.via == BLOB_VIA_SENDFILE) response_header(res, a, "X-Sendfile", d.target);
    if ((d.via == BLOB_VIA_ACCEL || d.via == BLOB_VIA_SENDFILE) && !strcmp(req->method, "GET"))
        res->body_by_server = d.bd.size; /* the whole blob (a Range is the web server's) */
    response_header(res, a, "Content-Type", "application/octet-stream");
    res->status = d.status;
    if (d.status == 416)
        response_headerf(res, a, "Content-Range", "bytes */%lld", (long long)d.bd.size);
    if (d.status == 206)
        response_headerf(res, a, "Content-Range", "bytes %lld-%lld/%lld", (long long)d.start,
                         (long long)(d.start + d.length - 1), (long long)d.bd.size);
    res->content_length = d.length;
    if (d.via == BLOB_VIA_STREAM) {
        res->body_kind = BODY_STREAM;
        res->stream.read = d.read;
        res->stream.ctx = d.ctx;
    }
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
    events_delete(app, req, req->ref, NULL);
    res->status = 202;
    res->content_length = 0;
}
