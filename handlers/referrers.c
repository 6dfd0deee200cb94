/* /v2/<name>/referrers/<digest>: GET (OCI Distribution Spec 1.1, content discovery) */
#include "handlers.h"

#include "../lib/err.h"
#include "../storage/manifest.h"
#include "../storage/registry.h"

#include <string.h>

#define REFERRERS_BODY_MAX (4u << 20)

void h_referrers(struct app *app, struct request *req, struct response *res)
{
    struct arena *a = req->arena;
    const char *at = request_query(req, "artifactType");
    if (at && !*at) at = NULL;
    struct referrer *list;
    size_t n;
    int rc = registry_referrers(app->reg, a, req->name, req->ref, at, &list, &n);
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
        if (b->len > REFERRERS_BODY_MAX) break; /* a bounded answer, even for huge annotations */
        buf_printf(b, "%s{\"mediaType\":%s,\"digest\":%s,\"size\":%lld", i ? "," : "",
                   json_string(a, f->media_type), json_string(a, f->digest), (long long)f->size);
        if (f->artifact_type)
            buf_printf(b, ",\"artifactType\":%s", json_string(a, f->artifact_type));
        if (f->annotations) buf_printf(b, ",\"annotations\":%s", f->annotations);
        buf_puts(b, "}");
    }
    buf_puts(b, "]}\n");
    if (at) response_header(res, a, "OCI-Filters-Applied", "artifactType");
    response_body(res, b->data, b->len, MT_OCI_INDEX, a);
}
