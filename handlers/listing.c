/* /v2/, /v2/_catalog and /v2/<name>/tags/list */
#include "handlers.h"

#include "../lib/err.h"
#include "../storage/registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_DEFAULT_N 100

void h_base(struct app *app, struct request *req, struct response *res)
{
    response_body(res, "{}", 2, "application/json; charset=utf-8", req->arena);
}

long list_param_n(struct request *req)
{
    const char *n = request_query(req, "n");
    if (!n) return -1;
    if (!*n) return -2;
    char *end;
    errno = 0;
    long v = strtol(n, &end, 10);
    if (errno == ERANGE && v > 0) return LIST_MAX_N;
    if (errno || *end || v < 0) return -2;
    return v > LIST_MAX_N ? LIST_MAX_N : v;
}

char *query_escape(struct arena *a, const char *s)
{
    static const char hx[] = "0123456789ABCDEF";
    char *out = arena_alloc(a, strlen(s) * 3 + 1), *o = out;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hx[c >> 4];
            *o++ = hx[c & 15];
        }
    }
    *o = 0;
    return out;
}

static void list_reply(struct request *req, struct response *res, const char *head, const char *key,
                       char **items, size_t n)
{
    struct buf *b = buf_arena_new(req->arena, 0);
    buf_printf(b, "{%s\"%s\":[", head, key);
    for (size_t i = 0; i < n; i++)
        buf_printf(b, "%s%s", i ? "," : "", json_string(req->arena, items[i]));
    buf_puts(b, "]}\n");
    response_body(res, b->data, b->len, "application/json; charset=utf-8", req->arena);
}

void h_catalog(struct app *app, struct request *req, struct response *res)
{
    long n = list_param_n(req);
    if (n == -2) {
        error_reply(req, res, 400, "PAGINATION_NUMBER_INVALID",
                    "invalid number of results requested", NULL);
        return;
    }
    size_t max = n < 0 ? CATALOG_DEFAULT_N : (size_t)n;
    const char *last = request_query(req, "last");
    char **repos;
    size_t count;
    int more;
    int rc = registry_catalog(app->reg, req->arena, last, max, &repos, &count, &more);
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    if (more && count > 0)
        response_headerf(res, req->arena, "Link", "</v2/_catalog?last=%s&n=%zu>; rel=\"next\"",
                         query_escape(req->arena, repos[count - 1]), max);
    list_reply(req, res, "", "repositories", repos, count);
}

void h_tags_list(struct app *app, struct request *req, struct response *res)
{
    long n = list_param_n(req);
    if (n == -2) {
        error_reply(req, res, 400, "PAGINATION_NUMBER_INVALID",
                    "invalid number of results requested", NULL);
        return;
    }
    char **tags;
    size_t count;
    int rc = registry_tags(app->reg, req->arena, req->name, &tags, &count);
    if (rc == WERR_NOTFOUND) {
        error_reply(req, res, 404, "NAME_UNKNOWN", "repository name not known to registry",
                    req->name);
        return;
    }
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    const char *last = request_query(req, "last");
    size_t from = 0;
    if (last && *last)
        while (from < count && strcmp(tags[from], last) <= 0)
            from++;
    size_t left = count - from;
    if (n >= 0 && left > (size_t)n) {
        left = (size_t)n;
        if (left > 0)
            response_headerf(res, req->arena, "Link",
                             "</v2/%s/tags/list?last=%s&n=%ld>; rel=\"next\"", req->name,
                             query_escape(req->arena, tags[from + left - 1]), n);
    }
    char *head = arena_printf(req->arena, "\"name\":%s,", json_string(req->arena, req->name));
    list_reply(req, res, head, "tags", tags ? tags + from : NULL, left); /* NULL + 0 is UB */
}
