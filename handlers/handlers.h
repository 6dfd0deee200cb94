/* handlers.h — the API handlers the router calls, and the helpers they share.
 * A handler fills res completely; it never calls libfcgi and never frees
 * (everything is on req->arena). */
#ifndef WHARF_HANDLERS_H
#define WHARF_HANDLERS_H

#include "../fcgi/http.h"
#include "app.h"

typedef void (*handler_fn)(struct app *app, struct request *req, struct response *res);

void h_base(struct app *app, struct request *req, struct response *res);
void h_catalog(struct app *app, struct request *req, struct response *res);
void h_tags_list(struct app *app, struct request *req, struct response *res);
void h_manifest_get(struct app *app, struct request *req, struct response *res);
void h_manifest_put(struct app *app, struct request *req, struct response *res);
void h_manifest_delete(struct app *app, struct request *req, struct response *res);
void h_blob_get(struct app *app, struct request *req, struct response *res);
void h_blob_delete(struct app *app, struct request *req, struct response *res);
void h_upload_start(struct app *app, struct request *req, struct response *res);
void h_upload_patch(struct app *app, struct request *req, struct response *res);
void h_upload_put(struct app *app, struct request *req, struct response *res);
void h_upload_status(struct app *app, struct request *req, struct response *res);
void h_upload_cancel(struct app *app, struct request *req, struct response *res);
void h_referrers(struct app *app, struct request *req, struct response *res);
/* the repository index for the web UI (handlers/catalog_api.c, issue 17) */
void h_api_repositories(struct app *app, struct request *req, struct response *res);
void h_api_search(struct app *app, struct request *req, struct response *res);

/* handler_may_pull: may the caller of req read (pull from) repository repo?
 * The hook for ?mount= without from= (handlers/access.c): 1 yes, 0 no. Until
 * authentication exists every caller may read every repository. */
int handler_may_pull(struct app *app, struct request *req, const char *repo);

/* error_reply: status + the spec's {"errors":[{code,message,detail}]} (detail may be NULL). */
void error_reply(struct request *req, struct response *res, int status, const char *code,
                 const char *message, const char *detail);
/* json_object_reply: status + o serialised (plain, a trailing newline) as
 * application/json, Cache-Control: no-store; takes o's reference. */
struct json_object;
void json_object_reply(struct request *req, struct response *res, int status,
                       struct json_object *o);
/* error_storage: map a storage failure that no handler-specific code covers. */
void error_storage(struct request *req, struct response *res, int werr);
/* error_body_failed: the web server's request body file could not be
 * written: 507 (nospace) or 503, UNAVAILABLE with Retry-After; not logged. */
void error_body_failed(struct request *req, struct response *res, int nospace);
/* url_for_path: absolute (or relative, per http.relativeurls) URL of a registry path. */
const char *url_for_path(struct app *app, struct request *req, const char *path);
/* list_param_n: the ?n= of a listing (tags, _catalog): -1 when absent, -2
 * when not a non-negative integer (PAGINATION_NUMBER_INVALID), else at most
 * LIST_MAX_N (larger asks, even past LONG_MAX, are cut to it). */
#define LIST_MAX_N 10000
long list_param_n(struct request *req);
/* query_escape: s %-encoded for a query component, as in a Link (arena). */
char *query_escape(struct arena *a, const char *s);
/* json_string: s quoted and escaped for JSON (arena). */
char *json_string(struct arena *a, const char *s);

#endif
