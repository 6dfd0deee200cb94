/* catalog_api.c — the repository index as JSON for the web UI (issue 17):
 *   GET /_wharf/api/repositories?filter=&last=&n=
 *   GET /_wharf/api/search?q=&last=&n=
 * Authorized as /v2/_catalog is (the router's ACT_CATALOG), and filtered as
 * it is: a caller whose token names only some repositories sees only those. */
#include "auth.h"
#include "handlers.h"

#include "../storage/catalog.h"

#include <string.h>
#include <time.h>

#define API_DEFAULT_N 100
#define API_MAX_N 1000
#define API_PARAM_MAX 256 /* bytes of filter, q and last */

struct api_ctx {
    struct app *app;
    struct request *req;
};

static int api_allow(void *ctx, const char *repo)
{
    struct api_ctx *c = ctx;
    return auth_catalog_visible(c->app, c->req, repo);
}

/* api_params: n and the string parameters, or a 400 answered (0 returned) */
static int api_params(struct request *req, struct response *res, const char *key, const char **s,
                      const char **last, size_t *max)
{
    long n = list_param_n(req);
    if (n == -2 || n == 0) {
        error_reply(req, res, 400, "PAGINATION_NUMBER_INVALID",
                    "invalid number of results requested", "n must be 1 to 1000");
        return 0;
    }
    *max = n < 0 ? API_DEFAULT_N : n > API_MAX_N ? API_MAX_N : (size_t)n;
    *s = key ? request_query(req, key) : NULL;
    *last = request_query(req, "last");
    if ((*s && strlen(*s) > API_PARAM_MAX) || (*last && strlen(*last) > API_PARAM_MAX)) {
        error_reply(req, res, 400, "NAME_INVALID", "invalid repository name",
                    "a parameter is longer than 256 bytes");
        return 0;
    }
    return 1;
}

static void api_reply(struct request *req, struct response *res, const struct catalog_entry *v,
                      size_t n, int more)
{
    struct arena *a = req->arena;
    struct buf *b = buf_arena_new(a, 0);
    buf_puts(b, "{\"repositories\":[");
    for (size_t i = 0; i < n; i++) {
        char ts[32] = "";
        if (v[i].last_push > 0) {
            struct tm tm;
            gmtime_r(&v[i].last_push, &tm);
            strftime(ts, sizeof ts, "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
        }
        buf_printf(b, "%s{\"name\":%s,\"tags\":%zu,\"size\":%lld,\"last_push\":%s", i ? "," : "",
                   json_string(a, v[i].name), v[i].tags, (long long)v[i].size, *ts ? ts : "null");
        if (v[i].matched) buf_printf(b, ",\"matched\":%s", json_string(a, v[i].matched));
        buf_puts(b, "}");
    }
    buf_printf(b, "],\"next\":%s}\n", more && n ? json_string(a, v[n - 1].name) : "null");
    response_header(res, a, "Cache-Control", "no-store");
    response_body(res, b->data, b->len, "application/json; charset=utf-8", a);
}

void h_api_repositories(struct app *app, struct request *req, struct response *res)
{
    const char *filter, *last;
    size_t max;
    if (!api_params(req, res, "filter", &filter, &last, &max)) return;
    struct api_ctx c = {app, req};
    struct catalog_entry *v;
    size_t n;
    int more;
    int rc = catalog_list(app->reg, req->arena, filter, last, max, api_allow, &c, &v, &n, &more);
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    api_reply(req, res, v, n, more);
}

void h_api_search(struct app *app, struct request *req, struct response *res)
{
    const char *q, *last;
    size_t max;
    if (!api_params(req, res, "q", &q, &last, &max)) return;
    struct api_ctx c = {app, req};
    struct catalog_entry *v;
    size_t n;
    int more;
    int rc = catalog_search(app->reg, req->arena, q, last, max, api_allow, &c, &v, &n, &more);
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    api_reply(req, res, v, n, more);
}
