/* /v2/<name>/manifests/<reference>: GET, HEAD, PUT, DELETE */
#include "handlers.h"

#include "events.h"

#include "../lib/buildq.h"
#include "../lib/config.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/names.h"
#include "../storage/manifest.h"
#include "../storage/registry.h"

#include <json-c/json.h>
#include <string.h>
#include <strings.h>

/* accepts: does the Accept header list media type mt (or a wildcard)? */
static int accepts(const char *accept, const char *mt)
{
    if (!accept || !*accept) return 1;
    size_t ml = strlen(mt);
    const char *p = accept;
    int any_manifest_type = 0;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ';')
            e++;
        size_t l = (size_t)(e - p);
        while (l && p[l - 1] == ' ')
            l--;
        if ((l == ml && strncasecmp(p, mt, ml) == 0) || (l == 3 && !strncmp(p, "*/*", 3))) return 1;
        char one[128];
        if (l < sizeof one) {
            memcpy(one, p, l);
            one[l] = 0;
            if (manifest_kind_of(one) != MF_UNKNOWN) any_manifest_type = 1;
        }
        while (*e && *e != ',')
            e++;
        p = e;
    }
    /* an Accept header naming no manifest type at all is no preference */
    return !any_manifest_type;
}

/* accepts_exactly: does the Accept header name mt itself (no wildcard)? */
static int accepts_exactly(const char *accept, const char *mt)
{
    size_t ml = strlen(mt);
    for (const char *p = accept; (p = strcasestr(p, mt)) != NULL; p += ml) {
        int start = p == accept || p[-1] == ',' || p[-1] == ' ';
        char e = p[ml];
        if (start && (e == 0 || e == ',' || e == ';' || e == ' ')) return 1;
    }
    return 0;
}

/* For a client that cannot take an index (by tag), serve its linux/amd64 image as
 * the reference registry (2.8) does: the first linux/amd64 entry, whatever its
 * media type; none: MANIFEST_UNKNOWN. Returns 0 and replaces body/digest/mt. */
static int pick_platform(struct app *app, struct request *req, const char *accept, char **body,
                         size_t *len, char *digest, const char **mt)
{
    struct manifest_info mi;
    const char *detail;
    if (manifest_parse(req->arena, *body, *len, *mt, &mi, &detail) != 0) return WERR_NOTFOUND;
    for (size_t i = 0; i < mi.nrefs; i++) {
        const struct descriptor *d = &mi.refs[i];
        if (!d->os || !d->arch || strcmp(d->os, "linux") || strcmp(d->arch, "amd64")) continue;
        return registry_manifest_get(app->reg, req->arena, req->name, d->digest, body, len, digest,
                                     mt);
    }
    return WERR_NOTFOUND;
}

void h_manifest_get(struct app *app, struct request *req, struct response *res)
{
    char *body;
    size_t len;
    char digest[DIGEST_MAX_STR];
    const char *mt;
    int rc =
        registry_manifest_get(app->reg, req->arena, req->name, req->ref, &body, &len, digest, &mt);
    const char *tag = strchr(req->ref, ':') ? NULL : req->ref;
    /* the reference raises a pull for every manifest it reads: the one asked
     * for (also for HEAD and for a 304), then the platform's it may serve */
    if (rc == 0) events_manifest(app, req, EVENT_PULL, tag, digest, mt, body, len);
    if (rc == 0 && manifest_is_index(manifest_kind_of(mt)) && !strchr(req->ref, ':')) {
        const char *accept = request_header(req, "Accept");
        /* a Docker manifest list goes only to a client that names its type (the
         * reference: no Accept at all means "schema 2 only"); an OCI index also
         * to one that states no manifest preference */
        int ok = manifest_kind_of(mt) == MF_DOCKER_LIST ? accept && accepts_exactly(accept, mt)
                                                        : accepts(accept, mt);
        if (!ok) {
            rc = pick_platform(app, req, accept, &body, &len, digest, &mt);
            if (rc == 0) events_manifest(app, req, EVENT_PULL, NULL, digest, mt, body, len);
        }
    }
    if (rc == WERR_NOTFOUND || rc == WERR_INVALID) {
        error_reply(req, res, 404, "MANIFEST_UNKNOWN", "manifest unknown", req->ref);
        return;
    }
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    response_header(res, req->arena, "Docker-Content-Digest", digest);
    response_headerf(res, req->arena, "Etag", "\"%s\"", digest);
    const char *inm = request_header(req, "If-None-Match");
    if (inm && strstr(inm, digest)) {
        res->status = 304;
        return;
    }
    response_body(res, body, len, mt, req->arena);
}

/* read the whole body, bounded by max: WERR_TOOBIG past it */
static int read_body(struct request *req, size_t max, char **out, size_t *len)
{
    if (req->content_length > (int64_t)max) return WERR_TOOBIG;
    struct buf *b = buf_arena_new(req->arena, max);
    char chunk[16384];
    for (;;) {
        ssize_t n = request_read(req, chunk, sizeof chunk);
        if (n < 0) return WERR_IO;
        if (n == 0) break;
        int rc = buf_append(b, chunk, (size_t)n);
        if (rc) return rc;
    }
    *out = b->data ? b->data : "";
    *len = b->len;
    return 0;
}

void h_manifest_put(struct app *app, struct request *req, struct response *res)
{
    const struct config *cfg = app->cfg;
    if (!strchr(req->ref, ':')) {
        int trc = tag_valid(req->ref, cfg->tag_max);
        if (trc) {
            error_reply(req, res, 400, "TAG_INVALID", "manifest tag did not match URI", req->ref);
            return;
        }
    }
    char *body;
    size_t len;
    int rc = read_body(req, cfg->manifest_max, &body, &len);
    if (rc == WERR_TOOBIG) {
        error_reply(
            req, res, 413, "MANIFEST_INVALID", "manifest invalid",
            arena_printf(req->arena, "manifest exceeds the %zu-byte limit", cfg->manifest_max));
        return;
    }
    if (rc) {
        error_reply(req, res, 400, "MANIFEST_INVALID", "manifest invalid", "body not received");
        return;
    }
    char digest[DIGEST_MAX_STR];
    const char *detail = NULL;
    rc = registry_manifest_put(app->reg, req->arena, req->name, req->ref, body, len,
                               request_header(req, "Content-Type"), digest, &detail);
    switch (rc) {
    case 0: break;
    case WERR_INVALID:
    case WERR_UNSUPPORTED:
        error_reply(req, res, 400, "MANIFEST_INVALID", "manifest invalid", detail);
        return;
    case WERR_NOTFOUND:
        error_reply(req, res, 400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", detail);
        return;
    case WERR_DIGEST:
        error_reply(req, res, 400, "DIGEST_INVALID",
                    "provided digest did not match uploaded content", detail);
        return;
    default: error_storage(req, res, rc); return;
    }
    events_manifest(app, req, EVENT_PUSH, strchr(req->ref, ':') ? NULL : req->ref, digest, NULL,
                    body, len);
    /* builds (issue 18): a tagged push may be the FROM of sources: the
     * builder service decides, from a trigger file (chained builds) */
    if (config_builds_active(app->cfg) && !strchr(req->ref, ':') &&
        buildq_pushed(app->cfg, req->name, req->ref, digest) != 0)
        log_warn("builds: no chained-build trigger for %s:%s (workdir %s not writable)", req->name,
                 req->ref, app->cfg->builds_workdir);
    res->status = 201;
    response_header(
        res, req->arena, "Location",
        url_for_path(app, req, arena_printf(req->arena, "/v2/%s/manifests/%s", req->name, digest)));
    response_header(res, req->arena, "Docker-Content-Digest", digest);
    struct manifest_info mi;
    if (manifest_parse(req->arena, body, len, request_header(req, "Content-Type"), &mi, &detail) ==
            0 &&
        mi.has_subject)
        response_header(res, req->arena, "OCI-Subject", mi.subject.digest);
    res->content_length = 0;
}

void h_manifest_delete(struct app *app, struct request *req, struct response *res)
{
    int rc;
    if (strchr(req->ref, ':')) {
        rc = registry_manifest_delete(app->reg, req->arena, req->name, req->ref);
    } else {
        /* deleting a tag removes only the tag */
        char *body;
        size_t len;
        char digest[DIGEST_MAX_STR];
        rc = registry_manifest_get(app->reg, req->arena, req->name, req->ref, &body, &len, digest,
                                   NULL);
        if (rc == 0) rc = registry_tag_delete(app->reg, req->arena, req->name, req->ref);
    }
    if (rc == WERR_NOTFOUND || rc == WERR_INVALID) {
        error_reply(req, res, 404, "MANIFEST_UNKNOWN", "manifest unknown", req->ref);
        return;
    }
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    if (strchr(req->ref, ':'))
        events_delete(app, req, req->ref, NULL);
    else
        events_delete(app, req, NULL, req->ref); /* a tag (the reference 3's TagDeleted) */
    res->status = 202;
    res->content_length = 0;
}
