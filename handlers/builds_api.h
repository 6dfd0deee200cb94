/* builds_api.h — the builds' JSON API of issue 18 under /_wharf/api/builds:
 *   GET  /_wharf/api/builds[?source=S&n=N]   the builds, newest first
 *   GET  /_wharf/api/builds/<id>             one build's state (lib/buildq.h)
 *   GET  /_wharf/api/builds/<id>/log         its log (text/plain, the last
 *                                            BUILDS_LOG_MAX bytes)
 *   POST /_wharf/api/builds                  "build now": {"source", "branch"
 *                                            | "tag" | "ref", "commit"?} → 202
 *   POST /_wharf/api/builds/<id>/cancel      stop a queued or running build
 * Every endpoint needs the registry:admin right (auth_request with
 * AUTH_ACT_ADMIN); the POSTs also the web UI's CSRF token (X-Wharf-CSRF, a
 * header no other site can make a browser send; csrf.h). 404 when builds
 * are not configured. */
#ifndef WHARF_BUILDS_API_H
#define WHARF_BUILDS_API_H

#include "../fcgi/http.h"
#include "app.h"

#define BUILDS_API_PREFIX "/_wharf/api/builds"
#define BUILDS_LOG_MAX (1024 * 1024)

/* builds_api_match: 1 when req's path is BUILDS_API_PREFIX or under it. */
int builds_api_match(const struct request *req);
/* builds_api_handle: answer a request builds_api_match accepted. */
void builds_api_handle(struct app *app, struct request *req, struct response *res);

#endif
