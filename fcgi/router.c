#include "router.h"

#include "../handlers/auth.h"
#include "../handlers/builds_api.h"
#include "../handlers/csrf.h"
#include "../handlers/handlers.h"
#include "../handlers/hooks.h"
#include "../handlers/token_service.h"
#include "../handlers/ui_api.h"
#include "../lib/digest.h"
#include "../lib/err.h"
#include "../lib/health.h"
#include "../lib/log.h"
#include "../lib/metrics.h"
#include "../lib/names.h"

#include <string.h>

enum route_kind {
    R_BASE,
    R_CATALOG,
    R_TAGS,
    R_MANIFEST,
    R_BLOB,
    R_UPLOADS,
    R_UPLOAD,
    R_REFERRERS,
    R_API_REPOS,  /* /_wharf/api/repositories (issue 17) */
    R_API_SEARCH, /* /_wharf/api/search */
    R_COUNT
};
enum route_ref { REF_NONE, REF_MANIFEST, REF_DIGEST, REF_UUID };
enum route_action { ACT_NONE, ACT_PULL, ACT_PUSH, ACT_DELETE, ACT_CATALOG };
#define F_WRITE 1  /* refused in read-only mode */
#define F_DELETE 2 /* needs storage.delete.enabled */

struct route {
    enum route_kind kind;
    const char *method;
    handler_fn fn;
    enum route_action action;
    int flags;
};

/* The one route table: method + path shape → handler and required action. */
static const struct route routes[] = {
    {R_BASE, "GET", h_base, ACT_NONE, 0},
    {R_BASE, "HEAD", h_base, ACT_NONE, 0},
    {R_CATALOG, "GET", h_catalog, ACT_CATALOG, 0},
    {R_TAGS, "GET", h_tags_list, ACT_PULL, 0},
    {R_MANIFEST, "GET", h_manifest_get, ACT_PULL, 0},
    {R_MANIFEST, "HEAD", h_manifest_get, ACT_PULL, 0},
    {R_MANIFEST, "PUT", h_manifest_put, ACT_PUSH, F_WRITE},
    {R_MANIFEST, "DELETE", h_manifest_delete, ACT_DELETE, F_WRITE | F_DELETE},
    {R_BLOB, "GET", h_blob_get, ACT_PULL, 0},
    {R_BLOB, "HEAD", h_blob_get, ACT_PULL, 0},
    {R_BLOB, "DELETE", h_blob_delete, ACT_DELETE, F_WRITE | F_DELETE},
    {R_UPLOADS, "POST", h_upload_start, ACT_PUSH, F_WRITE},
    {R_UPLOAD, "GET", h_upload_status, ACT_PUSH, 0},
    {R_UPLOAD, "PATCH", h_upload_patch, ACT_PUSH, F_WRITE},
    {R_UPLOAD, "PUT", h_upload_put, ACT_PUSH, F_WRITE},
    {R_UPLOAD, "DELETE", h_upload_cancel, ACT_PUSH, F_WRITE},
    {R_REFERRERS, "GET", h_referrers, ACT_PULL, 0},
    /* the web UI's JSON (issue 17): authorized and filtered as _catalog */
    {R_API_REPOS, "GET", h_api_repositories, ACT_CATALOG, 0},
    {R_API_SEARCH, "GET", h_api_search, ACT_CATALOG, 0},
};

static const enum route_ref kind_ref[R_COUNT] = {[R_MANIFEST] = REF_MANIFEST,
                                                 [R_BLOB] = REF_DIGEST,
                                                 [R_UPLOAD] = REF_UUID,
                                                 [R_REFERRERS] = REF_DIGEST};

/* ends_with_component: does s[0..n) end with "/<suffix>" ? */
static int split_last(const char *rest, const char *marker, const char **name_end,
                      const char **tail)
{
    /* find the last occurrence of marker whose tail has no '/' */
    const char *best = NULL, *p = rest;
    size_t ml = strlen(marker);
    while ((p = strstr(p, marker)) != NULL) {
        best = p;
        p++;
    }
    if (!best || best == rest) return 0;
    if (strchr(best + ml, '/')) return 0;
    *name_end = best;
    *tail = best + ml;
    return 1;
}

/* match: classify path; sets name and ref (arena) */
static int match(struct request *req, enum route_kind *kind, const char **name, const char **ref)
{
    const char *p = req->path;
    if (strcmp(p, "/v2/") == 0 || strcmp(p, "/v2") == 0) {
        *kind = R_BASE;
        return 0;
    }
    if (strcmp(p, "/_wharf/api/repositories") == 0) {
        *kind = R_API_REPOS;
        return 0;
    }
    if (strcmp(p, "/_wharf/api/search") == 0) {
        *kind = R_API_SEARCH;
        return 0;
    }
    if (strncmp(p, "/v2/", 4) != 0) return WERR_NOTFOUND;
    const char *rest = p + 4;
    if (strcmp(rest, "_catalog") == 0) {
        *kind = R_CATALOG;
        return 0;
    }
    const char *ne, *tail;
    size_t rl = strlen(rest);
    if (rl > 10 && strcmp(rest + rl - 10, "/tags/list") == 0) {
        *kind = R_TAGS;
        *name = arena_strndup(req->arena, rest, rl - 10);
        return 0;
    }
    if (split_last(rest, "/blobs/uploads/", &ne, &tail)) {
        *kind = *tail ? R_UPLOAD : R_UPLOADS;
        *name = arena_strndup(req->arena, rest, (size_t)(ne - rest));
        *ref = tail;
        return 0;
    }
    if (split_last(rest, "/blobs/", &ne, &tail) && *tail) {
        *kind = R_BLOB;
        *name = arena_strndup(req->arena, rest, (size_t)(ne - rest));
        *ref = tail;
        return 0;
    }
    if (split_last(rest, "/referrers/", &ne, &tail) && *tail) {
        *kind = R_REFERRERS;
        *name = arena_strndup(req->arena, rest, (size_t)(ne - rest));
        *ref = tail;
        return 0;
    }
    if (split_last(rest, "/manifests/", &ne, &tail) && *tail) {
        *kind = R_MANIFEST;
        *name = arena_strndup(req->arena, rest, (size_t)(ne - rest));
        *ref = tail;
        return 0;
    }
    return WERR_NOTFOUND;
}

/* allowed_methods: "GET, HEAD": the methods a route kind is served with now —
 * without the writes in read-only mode or on a mirror, without the deletes
 * when they are disabled. Every 405 carries them in Allow (RFC 9110 15.5.6). */
static const char *allowed_methods(struct app *app, enum route_kind kind, const char *name,
                                   struct arena *a)
{
    const struct config *cfg = app->cfg;
    int no_write = cfg->readonly || (name && app_repo_is_mirror(app, name));
    const char *out = "";
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (routes[i].kind != kind) continue;
        if ((routes[i].flags & F_WRITE) && no_write) continue;
        if ((routes[i].flags & F_DELETE) && !cfg->delete_enabled) continue;
        out = arena_printf(a, "%s%s%s", out, *out ? ", " : "", routes[i].method);
    }
    return out;
}

/* not_allowed: 405 UNSUPPORTED with Allow */
static void not_allowed(struct app *app, struct request *req, struct response *res,
                        enum route_kind kind, const char *name, const char *detail)
{
    response_header(res, req->arena, "Allow", allowed_methods(app, kind, name, req->arena));
    error_reply(req, res, 405, "UNSUPPORTED", "the operation is unsupported", detail);
}

static void common_headers(struct app *app, struct request *req, struct response *res)
{
    response_header(res, req->arena, "Docker-Distribution-API-Version", "registry/2.0");
    const struct config *cfg = app->cfg;
    for (size_t i = 0; cfg && i < cfg->nheaders; i++)
        for (size_t j = 0; j < cfg->headers[i].nvalues; j++)
            response_header(res, req->arena, cfg->headers[i].name, cfg->headers[i].values[j]);
}

/* the reference's route names of registry_http_* (lib/metrics.h) */
static const int kind_metrics[R_COUNT] = {
    [R_BASE] = MH_BASE,
    [R_CATALOG] = MH_CATALOG,
    [R_TAGS] = MH_TAGS,
    [R_MANIFEST] = MH_MANIFEST,
    [R_BLOB] = MH_BLOB,
    [R_UPLOADS] = MH_BLOB_UPLOAD,
    [R_UPLOAD] = MH_BLOB_UPLOAD_CHUNK,
    [R_REFERRERS] = MH_REFERRERS,
    [R_API_REPOS] = MH_OTHER,
    [R_API_SEARCH] = MH_OTHER,
};

/* counted: the request is in flight under handler h until transport_handle
 * has written its response (metrics_http_leave) */
static void counted(struct request *req, int h)
{
    req->metrics_handler = h;
    metrics_http_enter(h, req->method);
}

static void dispatch(struct app *app, struct request *req, struct response *res)
{
    enum route_kind kind;
    const char *name = NULL, *ref = NULL;
    struct token_service *ts = auth_token_service(app);
    if (token_service_match(ts, req)) { /* fastcgi.tokenservice.path */
        counted(req, MH_TOKEN);
        token_service_handle(ts, req, res);
        return;
    }
    if (hooks_match(req)) { /* build webhooks (issue 18): the signature is the auth */
        counted(req, MH_OTHER);
        hooks_handle(app, req, res);
        return;
    }
    if (builds_api_match(req)) { /* the builds' JSON API (issue 18) */
        counted(req, MH_OTHER);
        builds_api_handle(app, req, res);
        return;
    }
    if (match(req, &kind, &name, &ref) != 0) {
        counted(req, MH_OTHER);
        if (ui_api_match(req)) { /* the rest of the web UI's JSON API (issue 17) */
            ui_api_handle(app, req, res);
            return;
        }
        /* no endpoint of the spec's table: 404, with a code of the spec's list
         * (the distribution spec allows no other in an error body) */
        error_reply(req, res, 404, "UNSUPPORTED", "the operation is unsupported", "no such route");
        return;
    }
    counted(req, kind_metrics[kind]);
    const struct route *rt = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (routes[i].kind == kind && strcmp(routes[i].method, req->method) == 0) {
            rt = &routes[i];
            break;
        }
    }
    if (!rt) {
        not_allowed(app, req, res, kind, name,
                    arena_printf(req->arena, "method %s not allowed here", req->method));
        return;
    }
    const struct config *cfg = app->cfg;
    if (name) {
        int nrc = name_valid(name, cfg->name_max);
        if (nrc) {
            error_reply(req, res, 400, "NAME_INVALID", "invalid repository name", name);
            return;
        }
        if (name_components(name) > cfg->name_components_max) {
            error_reply(req, res, 400, "NAME_INVALID", "invalid repository name",
                        arena_printf(req->arena, "more than %zu path components",
                                     cfg->name_components_max));
            return;
        }
    }
    if (ref) {
        switch (kind_ref[kind]) {
        case REF_DIGEST:
            if (digest_parse(ref, NULL, NULL) != 0) {
                error_reply(req, res, 400, "DIGEST_INVALID",
                            "provided digest did not match uploaded content", ref);
                return;
            }
            break;
        case REF_MANIFEST:
            if (strchr(ref, ':')) {
                if (digest_parse(ref, NULL, NULL) != 0) {
                    error_reply(req, res, 400, "DIGEST_INVALID", "invalid digest", ref);
                    return;
                }
            } else if (tag_valid(ref, cfg->tag_max) != 0) {
                if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "DELETE") == 0)
                    error_reply(req, res, 400, "TAG_INVALID", "manifest tag did not match URI",
                                ref);
                else
                    error_reply(req, res, 404, "MANIFEST_UNKNOWN", "manifest unknown", ref);
                return;
            }
            break;
        default: break;
        }
    }
    /* auth once, from the route's action (enum route_action == enum auth_action) */
    req->name = name;
    req->ref = ref;
    if (auth_request(app, req, res, (int)rt->action) != 0) return;
    if (kind == R_CATALOG && auth_catalog_filtered(app, req)) {
        auth_catalog_reply(app, req, res); /* only the repositories the caller may pull */
        return;
    }
    if ((rt->flags & F_WRITE) && cfg->readonly) {
        /* the reference answers 405 with the methods still allowed here */
        not_allowed(app, req, res, kind, name, "the registry is in read-only mode");
        return;
    }
    if ((rt->flags & F_WRITE) && app_repo_is_mirror(app, name)) { /* issue 8: a mirror */
        not_allowed(app, req, res, kind, name,
                    "this repository is a mirror of an upstream registry (proxy)");
        return;
    }
    if ((rt->flags & F_DELETE) && !cfg->delete_enabled) {
        not_allowed(app, req, res, kind, name, "deletes are disabled (storage.delete.enabled)");
        return;
    }
    /* a write from a browser (the web UI) must come from this site with the
     * caller's CSRF token; command-line clients send no Origin */
    if ((rt->flags & F_WRITE) && csrf_refused(app, req, res, 0)) return;
    req->name = name;
    req->ref = ref;
    req->route = (void *)rt;
    rt->fn(app, req, res);
}

/* health_refused: while a health check fails (lib/health.h), /v2/ answers
 * what the reference's health middleware answers (registry.go wraps its
 * whole app in health.Handler): 503 with this body and none of the app's
 * headers (no Docker-Distribution-API-Version, no http.headers). 1 when it
 * answered. */
static int health_refused(struct app *app, struct request *req, struct response *res)
{
    const char *p = req->path;
    if (strncmp(p, "/v2", 3) || (p[3] && p[3] != '/')) return 0;
    if (!config_health_active(app->cfg) || !health_failing()) return 0;
    error_reply(req, res, 503, "UNAVAILABLE", "service unavailable",
                "health check failed: please see /debug/health");
    if (log_enabled(LOG_INFO))
        log_info("%s %s \"%s %s%s%s\" %d (health check failing)", req->remote_addr, req->host,
                 req->method, req->path, *req->query ? "?" : "", req->query, res->status);
    return 1;
}

void router_handle(struct app *app, struct request *req, struct response *res)
{
    if (health_refused(app, req, res)) return;
    common_headers(app, req, res);
    if (req->content_length == -2) {
        error_reply(req, res, 400, "SIZE_INVALID", "invalid Content-Length", NULL);
        return;
    }
    dispatch(app, req, res);
    if (log_enabled(LOG_INFO))
        log_info("%s %s \"%s %s%s%s\" %d", req->remote_addr, req->host, req->method, req->path,
                 *req->query ? "?" : "", req->query, res->status);
}
