/* auth.c — the access controller run by the router once per request: silly,
 * htpasswd or token per auth:, with the challenges clients expect, and the
 * caller's identity for later questions (mount's pull on `from`, _catalog
 * filtering). Workers serve one request at a time, so the identity of the
 * request being served is kept in one static (reset by every auth_request). */
#include "auth.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../lib/err.h"
#include "../lib/log.h"
#include "../storage/registry.h"
#include "app.h"
#include "handlers.h"
#include "htpasswd.h"
#include "token_service.h"

struct auth {
    const struct config *cfg;
    struct htpasswd *ht;       /* auth.htpasswd */
    struct token_verifier *tv; /* auth.token */
    struct token_service *ts;  /* fastcgi.tokenservice */
};

/* the caller of the request being served */
static struct {
    const struct request *req;
    int all;                    /* silly, htpasswd: every right */
    struct json_object *claims; /* token */
    const char *user;           /* the name events carry (on req's arena), or NULL */
} cur;

static void cur_reset(const struct request *req)
{
    json_object_put(cur.claims);
    cur.claims = NULL;
    cur.all = 0;
    cur.user = NULL;
    cur.req = req;
}

int auth_new(const struct config *cfg, struct auth **out, char *err, size_t errlen)
{
    struct auth *a = calloc(1, sizeof(*a));
    int rc = 0;
    *out = NULL;
    if (!a) return WERR_NOMEM;
    a->cfg = cfg;
    if (cfg->auth_type == AUTH_HTPASSWD) {
        rc = htpasswd_load(cfg->auth_htpasswd_path, &a->ht, err, errlen);
        if (!rc)
            log_info("auth.htpasswd: %zu user(s) from %s", htpasswd_count(a->ht),
                     cfg->auth_htpasswd_path);
    } else if (cfg->auth_type == AUTH_TOKEN) {
        rc = token_verifier_new(cfg, &a->tv, err, errlen);
    }
    if (!rc && cfg->ts_enabled) rc = token_service_new(cfg, &a->ts, err, errlen);
    if (rc) {
        auth_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void auth_free(struct auth *a)
{
    if (!a) return;
    htpasswd_free(a->ht);
    token_verifier_free(a->tv);
    token_service_free(a->ts);
    if (cur.claims) cur_reset(NULL);
    free(a);
}

struct token_service *auth_token_service(struct app *app)
{
    return app->auth ? app->auth->ts : NULL;
}

/* printable: s with control and non-ASCII bytes as '?', for log lines */
static const char *printable(struct arena *ar, const char *s)
{
    if (!s) return "-";
    char *o = arena_strndup(ar, s, 128);
    for (char *p = o; *p; p++)
        if (!isprint((unsigned char)*p)) *p = '?';
    return o;
}

/* quoted: s escaped for a quoted-string of a header parameter */
static const char *quoted(struct arena *ar, const char *s)
{
    char *o = arena_alloc(ar, strlen(s) * 2 + 1), *p = o;
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') *p++ = '\\';
        *p++ = (char)((unsigned char)*s < 0x20 ? ' ' : *s);
    }
    *p = 0;
    return o;
}

static const char *scope_for(struct request *req, int action)
{
    struct arena *ar = req->arena;
    const char *s = NULL;
    switch (action) {
    case AUTH_ACT_PULL: s = arena_printf(ar, "repository:%s:pull", req->name); break;
    case AUTH_ACT_PUSH: s = arena_printf(ar, "repository:%s:pull,push", req->name); break;
    case AUTH_ACT_DELETE: s = arena_printf(ar, "repository:%s:delete", req->name); break;
    case AUTH_ACT_CATALOG: return "registry:catalog:*";
    case AUTH_ACT_ADMIN: return "registry:admin:*";
    default: return NULL;
    }
    /* a cross-repository mount also reads `from`: ask for both in one token */
    const char *from = request_query(req, "from");
    if (action == AUTH_ACT_PUSH && from && request_query(req, "mount") && *from &&
        !strpbrk(from, " \",:") && strcmp(from, req->name))
        s = arena_printf(ar, "%s repository:%s:pull", s, from);
    return s;
}

static const char *realm_of(struct app *app, struct request *req)
{
    const struct config *c = app->cfg;
    if (c->auth_type == AUTH_TOKEN && c->auth_autoredirect)
        return arena_printf(req->arena, "%s://%s%s", req->scheme, req->host,
                            c->auth_autoredirectpath ? c->auth_autoredirectpath : "/auth/token");
    return c->auth_realm;
}

/* challenge: 401 with WWW-Authenticate (error: NULL, "invalid_token" or
 * "insufficient_scope") and the spec's error body */
static int challenge(struct app *app, struct request *req, struct response *res, int action,
                     const char *error)
{
    const struct config *c = app->cfg;
    struct arena *ar = req->arena;
    const char *realm = quoted(ar, realm_of(app, req));
    if (c->auth_type == AUTH_HTPASSWD) {
        response_headerf(res, ar, "WWW-Authenticate", "Basic realm=\"%s\"", realm);
    } else {
        const char *scope = scope_for(req, action);
        response_headerf(res, ar, "WWW-Authenticate",
                         "Bearer realm=\"%s\",service=\"%s\"%s%s%s%s%s", realm,
                         quoted(ar, c->auth_service), scope ? ",scope=\"" : "",
                         scope ? quoted(ar, scope) : "", scope ? "\"" : "", error ? ",error=" : "",
                         error ? arena_printf(ar, "\"%s\"", error) : "");
    }
    if (error && !strcmp(error, "insufficient_scope"))
        error_reply(req, res, 401, "DENIED", "requested access to the resource is denied",
                    scope_for(req, action));
    else
        error_reply(req, res, 401, "UNAUTHORIZED", "authentication required",
                    scope_for(req, action));
    return WERR_DENIED;
}

static unsigned need_of(int action)
{
    switch (action) {
    case AUTH_ACT_PULL: return RIGHT_PULL;
    case AUTH_ACT_PUSH: return RIGHT_PUSH;
    case AUTH_ACT_DELETE: return RIGHT_DELETE;
    default: return 0;
    }
}

int auth_request(struct app *app, struct request *req, struct response *res, int action)
{
    struct auth *a = app->auth;
    const struct config *c = app->cfg;
    cur_reset(req);
    if (!a || c->auth_type == AUTH_NONE) {
        cur.all = 1;
        return 0;
    }
    const char *hdr = request_header(req, "Authorization");
    if (c->auth_type == AUTH_SILLY) {
        /* development only: any Authorization header is accepted */
        if (!hdr || !*hdr) return challenge(app, req, res, action, NULL);
        cur.all = 1;
        cur.user = "silly"; /* the reference's silly controller names every caller so */
        return 0;
    }
    if (c->auth_type == AUTH_HTPASSWD) {
        char *user = NULL, *pass = NULL;
        if (!hdr) return challenge(app, req, res, action, NULL);
        if (auth_basic_parse(req->arena, hdr, &user, &pass) != 0) {
            log_warn("auth: malformed credentials from %s",
                     printable(req->arena, req->remote_addr));
            return challenge(app, req, res, action, NULL);
        }
        if (htpasswd_check(a->ht, user, pass) != 0) {
            log_warn("auth: failed login for user \"%s\" from %s", printable(req->arena, user),
                     printable(req->arena, req->remote_addr));
            return challenge(app, req, res, action, NULL);
        }
        cur.all = 1;
        cur.user = user;
        return 0;
    }
    /* token */
    if (!hdr || strncasecmp(hdr, "Bearer ", 7) != 0) return challenge(app, req, res, action, NULL);
    const char *tok = hdr + 7;
    while (*tok == ' ')
        tok++;
    char why[160] = "";
    struct json_object *claims = NULL;
    if (token_verify(a->tv, tok, &claims, why, sizeof why) != 0) {
        log_warn("auth: invalid token from %s: %s", printable(req->arena, req->remote_addr), why);
        return challenge(app, req, res, action, "invalid_token");
    }
    cur.claims = claims;
    struct json_object *sub;
    if (json_object_object_get_ex(claims, "sub", &sub) &&
        json_object_is_type(sub, json_type_string))
        cur.user = arena_strdup(req->arena, json_object_get_string(sub));
    if (action == AUTH_ACT_NONE) return 0;
    unsigned got = action == AUTH_ACT_CATALOG ? token_rights(claims, "registry", "catalog")
                   : action == AUTH_ACT_ADMIN ? token_rights(claims, "registry", "admin")
                                              : token_rights(claims, "repository", req->name);
    unsigned need =
        action == AUTH_ACT_CATALOG || action == AUTH_ACT_ADMIN ? RIGHT_ALL : need_of(action);
    if ((got & need) != need) return challenge(app, req, res, action, "insufficient_scope");
    return 0;
}

int auth_may(struct app *app, struct request *req, const char *repo, unsigned rights)
{
    if (!app->cfg || app->cfg->auth_type == AUTH_NONE) return 1;
    if (cur.req != req) return 0;
    if (cur.all) return 1;
    return (token_rights(cur.claims, "repository", repo) & rights) == rights;
}

int auth_is_admin(struct app *app, struct request *req)
{
    if (!app->cfg || app->cfg->auth_type == AUTH_NONE) return 1;
    if (cur.req != req) return 0;
    if (cur.all) return 1;
    return token_rights(cur.claims, "registry", "admin") == RIGHT_ALL;
}

const char *auth_user(const struct request *req)
{
    return cur.req == req && cur.user && *cur.user ? cur.user : NULL;
}

int auth_catalog_filtered(struct app *app, struct request *req)
{
    if (cur.req != req || cur.all || !cur.claims) return 0;
    struct json_object *p = token_catalog_patterns(cur.claims);
    if (!p) return 0;
    for (size_t i = 0; i < json_object_array_length(p); i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(p, i));
        if (s && !strcmp(s, "*")) return 0;
    }
    return 1;
}

static int visible(struct json_object *pats, const char *repo)
{
    for (size_t i = 0; i < json_object_array_length(pats); i++) {
        struct json_object *v = json_object_array_get_idx(pats, i);
        if (json_object_is_type(v, json_type_string) &&
            access_glob(json_object_get_string(v), repo))
            return 1;
    }
    return 0;
}

int auth_catalog_visible(struct app *app, struct request *req, const char *repo)
{
    if (!auth_catalog_filtered(app, req)) return 1;
    return visible(token_catalog_patterns(cur.claims), repo);
}

#define CATALOG_DEFAULT_N 100
#define CATALOG_SCAN_MAX 100000 /* names looked at for one filtered page */

void auth_catalog_reply(struct app *app, struct request *req, struct response *res)
{
    struct arena *ar = req->arena;
    struct json_object *pats = token_catalog_patterns(cur.claims);
    const char *last = request_query(req, "last");
    long n = list_param_n(req); /* the same rules as the unfiltered catalog's */
    if (n == -2) {
        error_reply(req, res, 400, "PAGINATION_NUMBER_INVALID",
                    "invalid number of results requested", NULL);
        return;
    }
    if (n < 0) n = CATALOG_DEFAULT_N;
    struct buf *b = buf_arena_new(ar, 0);
    buf_puts(b, "{\"repositories\":[");
    size_t got = 0, scanned = 0;
    int more = 1;
    const char *after = last && *last ? last : NULL, *lastshown = NULL;
    while (got < (size_t)n && more && scanned < CATALOG_SCAN_MAX) {
        char **repos;
        size_t cnt;
        int rc = registry_catalog(app->reg, ar, after, 1000, &repos, &cnt, &more);
        if (rc) {
            error_storage(req, res, rc);
            return;
        }
        scanned += cnt;
        for (size_t i = 0; i < cnt; i++) {
            after = repos[i];
            if (!visible(pats, repos[i])) continue;
            if (got == (size_t)n) {
                more = 1;
                break;
            }
            buf_printf(b, "%s%s", got ? "," : "", json_string(ar, repos[i]));
            lastshown = repos[i];
            got++;
            if (got == (size_t)n) {
                more = i + 1 < cnt || more;
                break;
            }
        }
        if (!cnt) break;
    }
    buf_puts(b, "]}\n");
    if (more && got && lastshown)
        response_headerf(res, ar, "Link", "</v2/_catalog?last=%s&n=%ld>; rel=\"next\"",
                         query_escape(ar, lastshown), n);
    response_body(res, b->data, b->len, "application/json; charset=utf-8", ar);
}

int auth_probe(const struct config *cfg, char *err, size_t errlen)
{
    struct auth *a = NULL;
    int rc = auth_new(cfg, &a, err, errlen);
    auth_free(a);
    return rc;
}
