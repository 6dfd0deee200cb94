/* auth.h — authentication and authorization (issue 4): the access controller
 * configured in auth: (silly, htpasswd, token), run once per request by the
 * router with the route's required action. It builds and owns Wharf's own
 * Docker token service (token_service.h, fastcgi.tokenservice), which
 * depends on nothing here. Process-lifetime state lives in struct auth,
 * built with the app (app_new) and rebuilt on reload. */
#ifndef WHARF_AUTH_H
#define WHARF_AUTH_H

#include <stddef.h>

#include "../fcgi/http.h"
#include "../lib/config.h"
#include "access_rules.h"

struct app;
struct auth;
struct token_service;
struct json_object;

/* Required actions; the values equal fcgi/router.c's enum route_action. */
enum auth_action {
    AUTH_ACT_NONE = 0, /* authenticated, nothing more (GET /v2/) */
    AUTH_ACT_PULL = 1,
    AUTH_ACT_PUSH = 2,
    AUTH_ACT_DELETE = 3,
    AUTH_ACT_CATALOG = 4,
    AUTH_ACT_ADMIN = 5, /* registry-wide administration (the web UI's GC): token scope
                           registry:admin:*, granted to who holds every right on "*" */
};

/* auth_new: load what cfg's auth section and token service need (htpasswd
 * files, certificates, JWKS, signing key, access rules). *out is NULL-free
 * even when no auth is configured. Errors (WERR_IO, WERR_INVALID) name the
 * file and line in err and must stop start-up. Caller: auth_free. */
int auth_new(const struct config *cfg, struct auth **out, char *err, size_t errlen);
void auth_free(struct auth *a);
/* auth_probe: auth_new + auth_free, so the master refuses to start (or to
 * reload) with a missing or invalid file before forking workers. */
int auth_probe(const struct config *cfg, char *err, size_t errlen);

/* auth_request: authenticate req and check it may do action on req->name
 * (ACT_* of the route). 0: go on. Otherwise res holds the 401 (with the
 * WWW-Authenticate challenge) or 403 and the spec's error JSON, and the
 * return is WERR_DENIED. The caller's identity is kept for auth_may until the
 * next auth_request. */
int auth_request(struct app *app, struct request *req, struct response *res, int action);
/* auth_may: 1 when the caller authenticated by auth_request(req) holds all
 * of rights (RIGHT_*) on repo, else 0 (e.g. mount: pull on `from`). */
int auth_may(struct app *app, struct request *req, const char *repo, unsigned rights);
/* auth_user: the name of the caller auth_request(req) authenticated (the
 * htpasswd user, the token's subject, "silly" as the reference's silly
 * controller says), or NULL (anonymous); on req's arena. For events' actor. */
const char *auth_user(const struct request *req);
/* auth_is_admin: 1 when the caller authenticated by auth_request(req) may
 * administer the registry (AUTH_ACT_ADMIN would pass): no auth, silly or
 * htpasswd (every user holds every right there), or a token granting
 * registry:admin:*. */
int auth_is_admin(struct app *app, struct request *req);
/* auth_catalog_filtered: 1 when the caller may see only some repositories:
 * the router then answers _catalog with auth_catalog_reply instead. */
int auth_catalog_filtered(struct app *app, struct request *req);
void auth_catalog_reply(struct app *app, struct request *req, struct response *res);
/* auth_catalog_visible: 1 when the caller authorized for the catalog by
 * auth_request(req) may see repo in a listing (the same rule as _catalog's). */
int auth_catalog_visible(struct app *app, struct request *req, const char *repo);

/* auth_token_service: the token service (token_service.h) when
 * fastcgi.tokenservice is on, else NULL; owned by app's auth. */
struct token_service *auth_token_service(struct app *app);

/* ---- shared inside handlers/auth*.c ---- */

/* token verification (auth_token.c) */
struct token_verifier;
int token_verifier_new(const struct config *cfg, struct token_verifier **out, char *err,
                       size_t errlen);
void token_verifier_free(struct token_verifier *tv);
/* token_verify: claims of a valid bearer token (caller: json_object_put) or
 * WERR_INVALID with a reason (never the token) in err. */
int token_verify(const struct token_verifier *tv, const char *token, struct json_object **claims,
                 char *err, size_t errlen);
/* token_rights: the rights the "access" claim grants on repository repo. */
unsigned token_rights(struct json_object *claims, const char *type, const char *name);
/* token_catalog_patterns: Wharf's private claim listing the repository
 * patterns the subject may pull (NULL when absent: no filtering). */
struct json_object *token_catalog_patterns(struct json_object *claims);

#endif
