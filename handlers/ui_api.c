/* ui_api.c — the web UI's JSON API, see ui_api.h and docs/ui.md.
 *
 * One table {method, endpoint, handler, action, flags} as the router's: the
 * endpoint's repository (a ?repo= parameter or the path's rest) is checked
 * against the name grammar, then auth_request runs with the action, then
 * read-only mode, mirrors, storage.delete.enabled and CSRF as the flags say,
 * before the handler. */
#include "ui_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../lib/digest.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/names.h"
#include "../storage/gc.h"
#include "../storage/registry.h"
#include "../storage/tag_info.h"
#include "auth.h"
#include "csrf.h"
#include "handlers.h"

#define UI_TAGS_DEFAULT_N 50
#define UI_TAGS_MAX_N 100
#define UI_MANIFEST_MAX (4u << 20) /* bytes of a manifest parsed for sizes */
#define UI_CONFIG_MAX (1u << 20)   /* bytes of an image config read for its platform */
#define UI_CHILDREN_MAX 64         /* children of an index summed per tag */
#define UI_GC_ITEMS_MAX 1000       /* report lines returned by the GC endpoints */
#define UI_GC_OUT_MAX (8u << 20)   /* bytes of GC report kept in memory */

#define F_WRITE 1  /* refused in read-only mode and on mirrors */
#define F_DELETE 2 /* needs storage.delete.enabled */
#define F_CSRF 4   /* state-changing: X-Wharf-CSRF and same origin required */
#define F_REPO 8   /* the endpoint's rest of path is a repository name */

typedef void (*ui_fn)(struct app *app, struct request *req, struct response *res);

struct ui_route {
    const char *method, *endpoint; /* endpoint: after UI_API_PREFIX */
    ui_fn fn;
    int action; /* enum auth_action */
    int flags;
};

static void json_reply(struct request *req, struct response *res, struct buf *b)
{
    response_header(res, req->arena, "Cache-Control", "no-store");
    response_body(res, b->data, b->len, "application/json; charset=utf-8", req->arena);
}

/* ---- whoami ---- */

static const char *auth_kind(const struct config *c)
{
    switch (c->auth_type) {
    case AUTH_SILLY: return "silly";
    case AUTH_HTPASSWD: return "htpasswd";
    case AUTH_TOKEN: return "token";
    default: return "none";
    }
}

static void ui_whoami(struct app *app, struct request *req, struct response *res)
{
    const struct config *c = app->cfg;
    struct arena *a = req->arena;
    const char *user = auth_user(req);
    struct buf *b = buf_arena_new(a, 256);
    buf_printf(b, "{\"user\":%s,\"auth\":\"%s\",\"admin\":%s,\"readonly\":%s,\"delete\":%s,",
               user ? json_string(a, user) : "null", auth_kind(c),
               auth_is_admin(app, req) ? "true" : "false", c->readonly ? "true" : "false",
               c->delete_enabled ? "true" : "false");
    /* the prefixes of mirrored repositories (proxy.upstreams; "" = all): no
     * deletes there */
    buf_puts(b, "\"mirrors\":[");
    for (size_t i = 0; i < c->nupstreams; i++)
        buf_printf(b, "%s%s", i ? "," : "",
                   json_string(a, c->upstreams[i].prefix ? c->upstreams[i].prefix : ""));
    buf_printf(b, "],\"csrf\":\"%s\"}\n", csrf_token(c, a, user));
    json_reply(req, res, b);
}

/* ---- tags ---- */

/* jint: an integer member of o, or 0 */
static int64_t jint(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static struct json_object *parse(const char *body, size_t len)
{
    if (len > UI_MANIFEST_MAX) return NULL;
    struct json_tokener *tk = json_tokener_new();
    if (!tk) return NULL;
    struct json_object *o = json_tokener_parse_ex(tk, body, (int)len);
    json_tokener_free(tk);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

/* platform_of: "os/arch[/variant]" of a platform object (arena) or NULL */
static const char *platform_of(struct arena *a, struct json_object *p)
{
    const char *os = jstr(p, "os"), *arch = jstr(p, "architecture"), *var = jstr(p, "variant");
    if (!os || !arch || !strcmp(os, "unknown")) return NULL;
    return arena_printf(a, "%s/%s%s%s", os, arch, var ? "/" : "", var ? var : "");
}

/* config_platform: the platform an image's config blob names, or NULL */
static const char *config_platform(struct app *app, struct arena *a, const char *repo,
                                   const char *digest, int64_t size)
{
    struct blob_desc bd;
    struct storage_reader *rd;
    if (size <= 0 || size > (int64_t)UI_CONFIG_MAX || digest_parse(digest, NULL, NULL) != 0 ||
        registry_blob_stat(app->reg, a, repo, digest, &bd) != 0 ||
        registry_blob_open(app->reg, a, digest, 0, &rd) != 0)
        return NULL;
    char *data = arena_alloc(a, (size_t)size + 1);
    size_t got = 0;
    ssize_t n;
    while (got < (size_t)size && (n = storage_read(rd, data + got, (size_t)size - got)) > 0)
        got += (size_t)n;
    storage_reader_close(rd);
    struct json_object *cfg = parse(data, got);
    const char *p = cfg ? platform_of(a, cfg) : NULL;
    json_object_put(cfg);
    return p;
}

struct tag_sum {
    int64_t size;           /* manifest + config + layers (an index: + its children's) */
    const char **platforms; /* arena */
    size_t nplat;
};

/* image_size: a manifest's own size plus its config and layers */
static int64_t image_size(struct json_object *m, size_t len)
{
    int64_t s = (int64_t)len;
    struct json_object *cfg, *layers;
    if (json_object_object_get_ex(m, "config", &cfg) && json_object_is_type(cfg, json_type_object))
        s += jint(cfg, "size");
    if (json_object_object_get_ex(m, "layers", &layers) &&
        json_object_is_type(layers, json_type_array))
        for (size_t i = 0; i < json_object_array_length(layers); i++)
            s += jint(json_object_array_get_idx(layers, i), "size");
    return s;
}

static void summarize(struct app *app, struct arena *a, const char *repo, const char *body,
                      size_t len, struct tag_sum *ts)
{
    memset(ts, 0, sizeof *ts);
    ts->size = (int64_t)len;
    struct json_object *m = parse(body, len), *mans, *cfg;
    if (!m) return;
    if (json_object_object_get_ex(m, "manifests", &mans) &&
        json_object_is_type(mans, json_type_array)) {
        size_t n = json_object_array_length(mans);
        ts->platforms = arena_alloc(a, (n + 1) * sizeof *ts->platforms);
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(mans, i), *p;
            const char *dg = jstr(e, "digest");
            if (json_object_object_get_ex(e, "platform", &p) &&
                (ts->platforms[ts->nplat] = platform_of(a, p)) != NULL)
                ts->nplat++;
            char *cb;
            size_t cl;
            char cd[DIGEST_MAX_STR];
            const char *cmt;
            if (i < UI_CHILDREN_MAX && dg && digest_parse(dg, NULL, NULL) == 0 &&
                registry_manifest_get(app->reg, a, repo, dg, &cb, &cl, cd, &cmt) == 0) {
                struct json_object *c = parse(cb, cl);
                ts->size += c ? image_size(c, cl) : (int64_t)cl;
                json_object_put(c);
            } else {
                ts->size += jint(e, "size");
            }
        }
    } else {
        ts->size = image_size(m, len);
        if (json_object_object_get_ex(m, "config", &cfg) &&
            json_object_is_type(cfg, json_type_object)) {
            const char *mt = jstr(cfg, "mediaType"), *dg = jstr(cfg, "digest");
            if (mt && dg &&
                (!strcmp(mt, "application/vnd.oci.image.config.v1+json") ||
                 !strcmp(mt, "application/vnd.docker.container.image.v1+json"))) {
                const char *p = config_platform(app, a, repo, dg, jint(cfg, "size"));
                if (p) {
                    ts->platforms = arena_alloc(a, sizeof *ts->platforms);
                    ts->platforms[ts->nplat++] = p;
                }
            }
        }
    }
    json_object_put(m);
}

/* GET tags?repo=NAME&last=&n=: one page of repo's tags with digest, media
 * type, size, platforms and push time */
static void ui_tags(struct app *app, struct request *req, struct response *res)
{
    struct arena *a = req->arena;
    long n = list_param_n(req);
    if (n == -2) {
        error_reply(req, res, 400, "PAGINATION_NUMBER_INVALID",
                    "invalid number of results requested", NULL);
        return;
    }
    size_t max = n <= 0 ? UI_TAGS_DEFAULT_N : n > UI_TAGS_MAX_N ? UI_TAGS_MAX_N : (size_t)n;
    const char *last = request_query(req, "last");
    char **tags;
    size_t count;
    int rc = registry_tags(app->reg, a, req->name, &tags, &count);
    if (rc == WERR_NOTFOUND) {
        error_reply(req, res, 404, "NAME_UNKNOWN", "repository name not known to registry",
                    req->name);
        return;
    }
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    size_t i = 0;
    if (last && *last)
        while (i < count && strcmp(tags[i], last) <= 0)
            i++;
    struct buf *b = buf_arena_new(a, 4096);
    buf_printf(b, "{\"name\":%s,\"count\":%zu,\"tags\":[", json_string(a, req->name), count);
    size_t shown = 0;
    for (; i < count && shown < max; i++) {
        char *digest, *body;
        time_t pushed;
        size_t len;
        char dg[DIGEST_MAX_STR];
        const char *mt;
        if (registry_tag_info(app->reg, a, req->name, tags[i], &digest, &pushed) != 0 ||
            registry_manifest_get(app->reg, a, req->name, digest, &body, &len, dg, &mt) != 0)
            continue; /* deleted meanwhile */
        struct tag_sum ts;
        summarize(app, a, req->name, body, len, &ts);
        buf_printf(b, "%s{\"name\":%s,\"digest\":%s,\"media_type\":%s,\"size\":%lld,",
                   shown ? "," : "", json_string(a, tags[i]), json_string(a, dg),
                   json_string(a, mt ? mt : ""), (long long)ts.size);
        buf_printf(b, "\"pushed\":%lld,\"platforms\":[", (long long)pushed);
        for (size_t p = 0; p < ts.nplat; p++)
            buf_printf(b, "%s%s", p ? "," : "", json_string(a, ts.platforms[p]));
        buf_puts(b, "]}");
        shown++;
    }
    buf_printf(b, "],\"next\":%s}\n", i < count && shown ? json_string(a, tags[i - 1]) : "null");
    json_reply(req, res, b);
}

/* ---- upstreams ---- */

static void ui_upstreams(struct app *app, struct request *req, struct response *res)
{
    const struct config *c = app->cfg;
    struct arena *a = req->arena;
    struct buf *b = buf_arena_new(a, 1024);
    buf_puts(b, "{\"upstreams\":[");
    for (size_t i = 0; i < c->nupstreams; i++) {
        const struct config_upstream *u = &c->upstreams[i];
        buf_printf(b, "%s{\"prefix\":%s,\"remoteprefix\":%s,\"url\":%s,\"ttl\":%ld,\"auth\":%s}",
                   i ? "," : "", json_string(a, u->prefix ? u->prefix : ""),
                   json_string(a, u->remoteprefix ? u->remoteprefix : ""),
                   json_string(a, u->remoteurl ? u->remoteurl : ""), u->ttl,
                   u->username ? "true" : "false");
    }
    buf_puts(b, "]}\n");
    json_reply(req, res, b);
}

/* ---- garbage collection ---- */

/* gc: one collection (dry or online), its stats and the report's deletion
 * lines as JSON. The run uses the configured storage as `wharf
 * garbage-collect` does (its blob-descriptor cache included); the inmemory
 * driver lives in this process, so its own driver is used there. */
static void gc(struct app *app, struct request *req, struct response *res, int dry)
{
    const struct config *c = app->cfg;
    struct arena *a = req->arena;
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    if (!f) {
        error_storage(req, res, WERR_NOMEM);
        return;
    }
    struct gc_opts o = {
        .dry_run = dry, .online = !dry, .grace = c->gc_graceperiod, .settle_ms = 2000, .out = f};
    struct gc_stats st = {0};
    char err[256] = "";
    int rc;
    if (c->storage == STORAGE_INMEMORY) {
        rc = gc_run(app->reg->d, c, &o, &st);
    } else {
        rc = gc_collect(c, &o, &st, err, sizeof err);
    }
    fclose(f);
    if (rc) {
        log_error("web UI garbage collection%s: %s", dry ? " (dry run)" : "",
                  *err ? err : werr_str(rc));
        free(out);
        if (rc == WERR_BUSY) {
            error_storage(req, res, rc);
            return;
        }
        error_reply(req, res, 500, "UNKNOWN", "garbage collection failed",
                    *err ? err : werr_str(rc));
        return;
    }
    if (!dry)
        log_info("web UI garbage collection by %s: %zu blobs, %zu manifests deleted, %lld bytes",
                 auth_user(req) ? auth_user(req) : "-", st.blobs_deleted, st.manifests_deleted,
                 (long long)st.bytes_freed);
    struct buf *b = buf_arena_new(a, 4096);
    buf_printf(b,
               "{\"dry_run\":%s,\"repositories\":%zu,\"manifests\":%zu,\"marked\":%zu,"
               "\"manifests_deleted\":%zu,\"blobs_deleted\":%zu,\"bytes_freed\":%lld,"
               "\"blobs_young\":%zu,\"items\":[",
               dry ? "true" : "false", st.repos, st.manifests, st.marked, st.manifests_deleted,
               st.blobs_deleted, (long long)st.bytes_freed, st.blobs_young);
    size_t items = 0;
    int more = 0;
    for (char *line = out, *next; line && *line && outlen <= UI_GC_OUT_MAX; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        const char *kind = NULL, *dg = NULL;
        if (!strncmp(line, "blob eligible for deletion: ", 28)) {
            kind = "blob";
            dg = line + 28;
        } else if (!strncmp(line, "manifest eligible for deletion: ", 32)) {
            kind = "manifest";
            dg = line + 32;
        } else {
            continue;
        }
        if (items == UI_GC_ITEMS_MAX) {
            more = 1;
            break;
        }
        buf_printf(b, "%s{\"kind\":\"%s\",\"digest\":%s}", items ? "," : "", kind,
                   json_string(a, dg));
        items++;
    }
    buf_printf(b, "],\"truncated\":%s}\n", more ? "true" : "false");
    free(out);
    json_reply(req, res, b);
}

static void ui_gc_report(struct app *app, struct request *req, struct response *res)
{
    gc(app, req, res, 1);
}

static void ui_gc_run(struct app *app, struct request *req, struct response *res)
{
    gc(app, req, res, 0);
}

/* ---- repository delete ---- */

static void ui_repo_delete(struct app *app, struct request *req, struct response *res)
{
    int rc = registry_repo_exists(app->reg, req->arena, req->name);
    if (rc == 0) rc = registry_repo_delete(app->reg, req->arena, req->name);
    if (rc == WERR_NOTFOUND) {
        error_reply(req, res, 404, "NAME_UNKNOWN", "repository name not known to registry",
                    req->name);
        return;
    }
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    log_info("web UI: repository %s deleted by %s", req->name,
             auth_user(req) ? auth_user(req) : "-");
    res->status = 202;
    res->content_length = 0;
}

static const struct ui_route ui_routes[] = {
    {"GET", "whoami", ui_whoami, AUTH_ACT_NONE, 0},
    {"GET", "tags", ui_tags, AUTH_ACT_PULL, 0},
    {"GET", "upstreams", ui_upstreams, AUTH_ACT_CATALOG, 0},
    {"GET", "gc", ui_gc_report, AUTH_ACT_ADMIN, 0},
    {"POST", "gc", ui_gc_run, AUTH_ACT_ADMIN, F_WRITE | F_CSRF},
    {"DELETE", "repositories/", ui_repo_delete, AUTH_ACT_DELETE,
     F_WRITE | F_DELETE | F_CSRF | F_REPO},
};

int ui_api_match(const struct request *req)
{
    return strncmp(req->path, UI_API_PREFIX, sizeof UI_API_PREFIX - 1) == 0;
}

/* endpoint_is: does rest name route rt (F_REPO: rt's endpoint is a prefix) */
static int endpoint_is(const struct ui_route *rt, const char *rest)
{
    if (rt->flags & F_REPO)
        return !strncmp(rest, rt->endpoint, strlen(rt->endpoint)) && rest[strlen(rt->endpoint)];
    return !strcmp(rest, rt->endpoint);
}

static void refuse_405(struct request *req, struct response *res, const char *allow,
                       const char *why)
{
    response_header(res, req->arena, "Allow", allow);
    error_reply(req, res, 405, "UNSUPPORTED", "the operation is unsupported", why);
}

void ui_api_handle(struct app *app, struct request *req, struct response *res)
{
    const struct config *c = app->cfg;
    const char *rest = req->path + sizeof UI_API_PREFIX - 1;
    const struct ui_route *rt = NULL;
    const char *allow = "";
    for (size_t i = 0; i < sizeof ui_routes / sizeof ui_routes[0]; i++) {
        if (!endpoint_is(&ui_routes[i], rest)) continue;
        if (!strcmp(ui_routes[i].method, req->method)) rt = &ui_routes[i];
        allow = arena_printf(req->arena, "%s%s%s", allow, *allow ? ", " : "", ui_routes[i].method);
    }
    if (!rt) {
        if (*allow)
            refuse_405(req, res, allow,
                       arena_printf(req->arena, "method %s not allowed here", req->method));
        else
            error_reply(req, res, 404, "UNSUPPORTED", "the operation is unsupported",
                        "no such endpoint");
        return;
    }
    const char *name = NULL;
    if (rt->flags & F_REPO)
        name = arena_strdup(req->arena, rest + strlen(rt->endpoint));
    else if (rt->action == AUTH_ACT_PULL || rt->action == AUTH_ACT_DELETE)
        name = request_query(req, "repo");
    if (rt->action == AUTH_ACT_PULL || rt->action == AUTH_ACT_DELETE) {
        if (!name || name_valid(name, c->name_max) != 0 ||
            name_components(name) > c->name_components_max) {
            error_reply(req, res, 400, "NAME_INVALID", "invalid repository name", name);
            return;
        }
    }
    req->name = name;
    if (auth_request(app, req, res, rt->action) != 0) return;
    if ((rt->flags & F_WRITE) && c->readonly) {
        refuse_405(req, res, "GET", "the registry is in read-only mode");
        return;
    }
    if ((rt->flags & F_WRITE) && name && app_repo_is_mirror(app, name)) {
        refuse_405(req, res, "GET", "this repository is a mirror of an upstream registry (proxy)");
        return;
    }
    if ((rt->flags & F_DELETE) && !c->delete_enabled) {
        refuse_405(req, res, "GET", "deletes are disabled (storage.delete.enabled)");
        return;
    }
    if ((rt->flags & F_CSRF) && csrf_refused(app, req, res, 1)) return;
    rt->fn(app, req, res);
}
