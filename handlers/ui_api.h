/* ui_api.h — the web UI's JSON API under /_wharf/api/ (issue 17): what the
 * registry API lacks (who the caller is, tag details with push times, the
 * mirror's upstreams, a GC report and run, repository delete). Each endpoint
 * has a required action checked by the same access controller as /v2/
 * (auth_request), and every state-changing one the CSRF check (csrf.h) and
 * the API's own rules (read-only mode, storage.delete.enabled, mirrors).
 * Answers are JSON; errors the spec's error JSON. */
#ifndef WHARF_UI_API_H
#define WHARF_UI_API_H

#include "../fcgi/http.h"
#include "app.h"

#define UI_API_PREFIX "/_wharf/api/"

/* ui_api_match: 1 when req's path is under UI_API_PREFIX. */
int ui_api_match(const struct request *req);
/* ui_api_handle: answer a request ui_api_match accepted; fills res. */
void ui_api_handle(struct app *app, struct request *req, struct response *res);

#endif
