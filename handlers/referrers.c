/* /v2/<name>/referrers/<digest>: GET (OCI Distribution Spec 1.1, content discovery)
 *
 * Paginated as the spec asks: when the list does not fit one answer, the
 * answer holds a part of it and a `Link: <…>; rel="next"` header naming the
 * rest. Pages follow the referrers' digest order; `last` (the last digest of
 * the previous page) resumes it, and `n` (Wharf's, like the tags list's)
 * sets the page size, at most REFERRERS_PAGE_MAX. */
#include "handlers.h"

#include "../lib/err.h"
#include "../storage/manifest.h"
#include "../storage/registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* entries in one page (each costs a manifest read) */
#define REFERRERS_PAGE_MAX 1000
/* a page ends once its body passes this, even for huge annotations */
#define REFERRERS_BODY_MAX (4u << 20)

void h_referrers(struct app *app, struct request *req, struct response *res)
{
    struct arena *a = req->arena;
    const char *at = request_query(req, "artifactType");
    if (at && !*at) at = NULL;
    const char *ns = request_query(req, "n"), *last = request_query(req, "last");
    long max = REFERRERS_PAGE_MAX;
    if (ns) {
        char *end;
        errno = 0;
        max = strtol(ns, &end, 10);
        if (!*ns || *end || errno || max < 1) {
            error_reply(req, res, 400, "PAGINATION_NUMBER_INVALID",
                        "invalid number of results requested", ns);
            return;
        }
        if (max > REFERRERS_PAGE_MAX) max = REFERRERS_PAGE_MAX;
    }
    if (last && digest_parse(last, NULL, NULL) != 0) {
        error_reply(req, res, 400, "DIGEST_INVALID",
                    "provided digest did not match uploaded content", "last is not a digest");
        return;
    }
    struct referrer *list;
    size_t n;
    const char *next;
    int rc = registry_referrers(app->reg, a, req->name, req->ref, at, last, (size_t)max, &list, &n,
                                &next);
    if (rc == WERR_INVALID) {
        error_reply(req, res, 400, "DIGEST_INVALID",
                    "provided digest did not match uploaded content", req->ref);
        return;
    }
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    struct buf *b = buf_arena_new(a, 0);
    buf_printf(b, "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[", MT_OCI_INDEX);
    for (size_t i = 0; i < n; i++) {
        const struct referrer *f = &list[i];
        if (i > 0 && b->len > REFERRERS_BODY_MAX) { /* the rest on the next page */
            next = list[i - 1].digest;
            break;
        }
        buf_printf(b, "%s{\"mediaType\":%s,\"digest\":%s,\"size\":%lld", i ? "," : "",
                   json_string(a, f->media_type), json_string(a, f->digest), (long long)f->size);
        if (f->artifact_type)
            buf_printf(b, ",\"artifactType\":%s", json_string(a, f->artifact_type));
        if (f->annotations) buf_printf(b, ",\"annotations\":%s", f->annotations);
        buf_puts(b, "}");
    }
    buf_puts(b, "]}\n");
    if (next) {
        const char *filter = at ? arena_printf(a, "&artifactType=%s", query_escape(a, at)) : "";
        response_headerf(res, a, "Link", "</v2/%s/referrers/%s?last=%s&n=%ld%s>; rel=\"next\"",
                         req->name, req->ref, next, max, filter);
    }
    if (at) response_header(res, a, "OCI-Filters-Applied", "artifactType");
    response_body(res, b->data, b->len, MT_OCI_INDEX, a);
}
