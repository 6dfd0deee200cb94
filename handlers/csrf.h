/* csrf.h — cross-site request forgery checks for the web UI (issue 17).
 * The UI authenticates every request with an Authorization header it sets
 * itself (fetch with credentials "omit"), which another site cannot make a
 * browser send; a browser that holds Basic credentials from a login prompt
 * would send them, though, so a state-changing request that comes from a
 * browser (it carries Origin or Sec-Fetch-Site) must come from this site and
 * carry the caller's token in X-Wharf-CSRF — a header that needs a CORS
 * preflight cross-site, which Wharf never grants. Command-line clients send
 * neither header and are not affected. */
#ifndef WHARF_CSRF_H
#define WHARF_CSRF_H

#include "../fcgi/http.h"
#include "app.h"

/* csrf_token: the token of user (NULL: anonymous) for X-Wharf-CSRF: hex
 * HMAC-SHA256 of the user under http.secret (a fixed key without one: the
 * header and origin checks still hold), on arena a. */
const char *csrf_token(const struct config *cfg, struct arena *a, const char *user);

/* csrf_refused: check a state-changing request after authentication. always:
 * require the token even without browser headers (the UI's own API). 1 when
 * refused (res holds 403 DENIED), else 0. */
int csrf_refused(struct app *app, struct request *req, struct response *res, int always);

#endif
