/* token_service.c — Wharf's own Docker token service (fastcgi.tokenservice):
 * GET <path>?service=&scope=... with optional Basic credentials, and the
 * OAuth2 POST form (grant_type=password | refresh_token) that `docker login`
 * uses. Users come from an htpasswd file, rights from an access-rules YAML
 * file; tokens are ES256/RS256/... JWTs whose kid is the libtrust key id of
 * the signing key, so the reference registry (rootcertbundle holding the
 * key's certificate from `wharf token keygen`) and Wharf both accept them. */
#include "token_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "../lib/err.h"
#include "../lib/jwt.h"
#include "../lib/log.h"
#include "access_rules.h"
#include "handlers.h"
#include "htpasswd.h"

#define FORM_MAX (64 * 1024)
#define SCOPES_MAX 32

/* ------------------------------------------------------------ the service */

struct token_service {
    const struct config *cfg;
    struct htpasswd *users;
    struct access_rules *rules;
    EVP_PKEY *key;
    char kid[64];
    struct jwt_keyset *self; /* our own key: refresh tokens */
};

void token_service_free(struct token_service *ts)
{
    if (!ts) return;
    htpasswd_free(ts->users);
    access_rules_free(ts->rules);
    EVP_PKEY_free(ts->key);
    jwt_keyset_free(ts->self);
    free(ts);
}

int token_service_new(const struct config *cfg, struct token_service **out, char *err,
                      size_t errlen)
{
    struct token_service *ts = calloc(1, sizeof(*ts));
    int rc = 0;
    *out = NULL;
    if (!ts) return WERR_NOMEM;
    ts->cfg = cfg;
    if ((rc = htpasswd_load(cfg->ts_htpasswd, &ts->users, err, errlen))) goto out;
    if (cfg->ts_accessrules &&
        (rc = access_rules_load(cfg->ts_accessrules, &ts->rules, err, errlen)))
        goto out;
    FILE *f = fopen(cfg->ts_signingkey, "r");
    if (!f) {
        snprintf(err, errlen, "fastcgi.tokenservice.signingkey %s: cannot open: %m",
                 cfg->ts_signingkey);
        rc = WERR_IO;
        goto out;
    }
    ts->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ERR_clear_error();
    if (!ts->key || !jwt_key_alg(ts->key) ||
        jwt_libtrust_kid(ts->key, ts->kid, sizeof ts->kid) != 0) {
        snprintf(err, errlen,
                 "fastcgi.tokenservice.signingkey %s: not a PEM private key Wharf signs with "
                 "(EC P-256/384/521, RSA >= 2048, Ed25519; see wharf token keygen)",
                 cfg->ts_signingkey);
        rc = WERR_INVALID;
        goto out;
    }
    if (!(ts->self = jwt_keyset_new()) || jwt_keyset_add_key(ts->self, ts->key, NULL)) {
        rc = WERR_NOMEM;
        goto out;
    }
    log_info("token service at %s: %zu user(s), signing %s kid %s", cfg->ts_path,
             htpasswd_count(ts->users), jwt_key_alg(ts->key), ts->kid);
out:
    if (rc)
        token_service_free(ts);
    else
        *out = ts;
    return rc;
}

int token_service_match(const struct token_service *ts, const struct request *req)
{
    return ts && !strcmp(req->path, ts->cfg->ts_path);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* form_decode: application/x-www-form-urlencoded component (+ is space) */
static char *form_decode(struct arena *a, const char *s, size_t n)
{
    char *o = arena_alloc(a, n + 1), *p = o;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+')
            *p++ = ' ';
        else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *p++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else
            *p++ = s[i];
    }
    *p = 0;
    return o;
}

struct form {
    const char *keys[64], *vals[64];
    size_t n;
};

static void form_parse(struct arena *a, const char *s, struct form *f)
{
    f->n = 0;
    while (s && *s && f->n < 64) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        if (len) {
            f->keys[f->n] = form_decode(a, s, eq ? (size_t)(eq - s) : len);
            f->vals[f->n] = eq ? form_decode(a, eq + 1, len - (size_t)(eq + 1 - s)) : "";
            f->n++;
        }
        s = amp ? amp + 1 : NULL;
    }
}

static const char *form_get(const struct form *f, const char *k)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->keys[i], k)) return f->vals[i];
    return NULL;
}

static void ts_error(struct request *req, struct response *res, int status, const char *code,
                     const char *msg)
{
    error_reply(req, res, status, code, msg, NULL);
    response_header(res, req->arena, "Cache-Control", "no-store");
}

static void rfc3339(time_t t, char *out, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *random_hex(struct arena *a, size_t bytes)
{
    unsigned char b[32];
    char *o = arena_alloc(a, bytes * 2 + 1);
    if (bytes > sizeof b) bytes = sizeof b;
    if (RAND_bytes(b, (int)bytes) != 1) memset(b, 0, sizeof b);
    for (size_t i = 0; i < bytes; i++)
        sprintf(o + 2 * i, "%02x", b[i]);
    return o;
}

/* pw_binding: a short hash of the user's stored password hash, so a refresh
 * token dies when the password changes */
static char *pw_binding(struct arena *a, const char *hash)
{
    unsigned char md[32];
    unsigned ml;
    char *o = arena_alloc(a, 33);
    EVP_Digest(hash, strlen(hash), md, &ml, EVP_sha256(), NULL);
    for (int i = 0; i < 16; i++)
        sprintf(o + 2 * i, "%02x", md[i]);
    return o;
}

/* add_scope: one requested scope "type:name:actions" granted per the rules */
static void add_scope(struct token_service *ts, struct request *req, const char *user,
                      const char *scope, struct json_object *access, int *catalog)
{
    const char *c1 = strchr(scope, ':'), *c2 = strrchr(scope, ':');
    if (!c1 || c1 == c2) return;
    char *type = arena_strndup(req->arena, scope, (size_t)(c1 - scope));
    char *paren = strchr(type, '(');
    if (paren) *paren = 0; /* repository(plugin) */
    char *name = arena_strndup(req->arena, c1 + 1, (size_t)(c2 - c1 - 1));
    const char *acts = c2 + 1;
    struct json_object *granted = json_object_new_array();
    if (!strcmp(type, "repository")) {
        unsigned r = access_rights(ts->rules, user, name);
        char *dup = arena_strdup(req->arena, acts), *save = NULL;
        for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            unsigned want = !strcmp(t, "pull")     ? RIGHT_PULL
                            : !strcmp(t, "push")   ? RIGHT_PUSH
                            : !strcmp(t, "delete") ? RIGHT_DELETE
                            : !strcmp(t, "*")      ? RIGHT_ALL
                                                   : 0;
            if (want && (r & want) == want)
                json_object_array_add(granted, json_object_new_string(t));
        }
    } else if (!strcmp(type, "registry") && !strcmp(name, "catalog")) {
        const char **pats;
        size_t n;
        int some = access_pull_patterns(ts->rules, user, req->arena, &pats, &n);
        if (!some || n) {
            json_object_array_add(granted, json_object_new_string("*"));
            *catalog = 1;
        }
    } else if (!strcmp(type, "registry") && !strcmp(name, "admin")) {
        /* the web UI's registry-wide actions (GC): for who holds every right
         * on every repository (a rule on the pattern "*") */
        if (access_rights(ts->rules, user, "*") == RIGHT_ALL)
            json_object_array_add(granted, json_object_new_string("*"));
    }
    if (json_object_array_length(granted) == 0) {
        json_object_put(granted);
        return;
    }
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "type", json_object_new_string(type));
    json_object_object_add(e, "name", json_object_new_string(name));
    json_object_object_add(e, "actions", granted);
    json_object_array_add(access, e);
}

static void issue(struct token_service *ts, struct request *req, struct response *res,
                  const char *user, const char **scopes, size_t nscopes, int offline,
                  const char *refresh_in)
{
    const struct config *c = ts->cfg;
    time_t now = time(NULL);
    struct json_object *claims = json_object_new_object(), *access = json_object_new_array();
    int catalog = 0;
    for (size_t i = 0; i < nscopes; i++)
        add_scope(ts, req, user, scopes[i], access, &catalog);
    json_object_object_add(claims, "iss", json_object_new_string(c->ts_issuer));
    json_object_object_add(claims, "sub", json_object_new_string(user ? user : ""));
    json_object_object_add(claims, "aud", json_object_new_string(c->ts_service));
    json_object_object_add(claims, "exp", json_object_new_int64(now + c->ts_expiration));
    json_object_object_add(claims, "nbf", json_object_new_int64(now - 1));
    json_object_object_add(claims, "iat", json_object_new_int64(now));
    json_object_object_add(claims, "jti", json_object_new_string(random_hex(req->arena, 16)));
    json_object_object_add(claims, "access", access);
    if (catalog) {
        const char **pats;
        size_t n;
        struct json_object *arr = json_object_new_array();
        if (!access_pull_patterns(ts->rules, user, req->arena, &pats, &n))
            json_object_array_add(arr, json_object_new_string("*"));
        for (size_t i = 0; i < n; i++)
            json_object_array_add(arr, json_object_new_string(pats[i]));
        json_object_object_add(claims, "wharf_catalog", arr);
    }
    char *tok = NULL, *refresh = NULL;
    int rc = jwt_sign(ts->key, ts->kid, claims, &tok);
    json_object_put(claims);
    if (!rc && offline && user && !refresh_in) {
        struct json_object *rcl = json_object_new_object();
        json_object_object_add(rcl, "iss", json_object_new_string(c->ts_issuer));
        json_object_object_add(rcl, "sub", json_object_new_string(user));
        json_object_object_add(
            rcl, "aud",
            json_object_new_string(arena_printf(req->arena, "%s#refresh", c->ts_service)));
        json_object_object_add(rcl, "exp", json_object_new_int64(now + c->ts_refreshexpiration));
        json_object_object_add(rcl, "iat", json_object_new_int64(now));
        json_object_object_add(
            rcl, "wharf_pwh",
            json_object_new_string(pw_binding(req->arena, htpasswd_hash(ts->users, user))));
        rc = jwt_sign(ts->key, ts->kid, rcl, &refresh);
        json_object_put(rcl);
    }
    if (rc) {
        free(tok);
        free(refresh);
        log_error("token service: cannot sign a token: %s", werr_str(rc));
        ts_error(req, res, 500, "UNKNOWN", "cannot sign a token");
        return;
    }
    char issued[32];
    rfc3339(now, issued, sizeof issued);
    struct json_object *out = json_object_new_object();
    json_object_object_add(out, "token", json_object_new_string(tok));
    json_object_object_add(out, "access_token", json_object_new_string(tok));
    json_object_object_add(out, "expires_in", json_object_new_int64(c->ts_expiration));
    json_object_object_add(out, "issued_at", json_object_new_string(issued));
    if (refresh || refresh_in)
        json_object_object_add(out, "refresh_token",
                               json_object_new_string(refresh ? refresh : refresh_in));
    const char *body =
        arena_strdup(req->arena, json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
    json_object_put(out);
    OPENSSL_cleanse(tok, strlen(tok));
    free(tok);
    free(refresh);
    res->status = 200;
    response_header(res, req->arena, "Cache-Control", "no-store");
    response_body(res, body, strlen(body), "application/json", req->arena);
}

static const char *addr(struct request *req)
{
    return req->remote_addr ? req->remote_addr : "-";
}

static const char *safe_user(struct arena *a, const char *u)
{
    char *o = arena_strndup(a, u, 64);
    for (char *p = o; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) *p = '?';
    return o;
}

/* login: 0 when user/pass are right; logs a failure */
static int login(struct token_service *ts, struct request *req, const char *user, const char *pass)
{
    if (user && pass && htpasswd_check(ts->users, user, pass) == 0) return 0;
    log_warn("token service: failed login for user \"%s\" from %s",
             user ? safe_user(req->arena, user) : "", addr(req));
    return WERR_DENIED;
}

void token_service_handle(struct token_service *ts, struct request *req, struct response *res)
{
    const struct config *c = ts->cfg;
    struct form f;
    const char *scopes[SCOPES_MAX];
    size_t nscopes = 0;
    if (!strcmp(req->method, "GET")) {
        form_parse(req->arena, req->query, &f);
        const char *service = form_get(&f, "service");
        if (service && strcmp(service, c->ts_service)) {
            ts_error(req, res, 400, "UNSUPPORTED", "unknown service");
            return;
        }
        for (size_t i = 0; i < f.n && nscopes < SCOPES_MAX; i++)
            if (!strcmp(f.keys[i], "scope")) {
                char *dup = arena_strdup(req->arena, f.vals[i]), *save = NULL;
                for (char *t = strtok_r(dup, " ", &save); t && nscopes < SCOPES_MAX;
                     t = strtok_r(NULL, " ", &save))
                    scopes[nscopes++] = t;
            }
        const char *hdr = request_header(req, "Authorization");
        char *user = NULL, *pass = NULL;
        if (hdr) {
            if (auth_basic_parse(req->arena, hdr, &user, &pass) != 0 ||
                login(ts, req, user, pass) != 0) {
                response_headerf(res, req->arena, "WWW-Authenticate", "Basic realm=\"%s\"",
                                 c->ts_service);
                ts_error(req, res, 401, "UNAUTHORIZED", "authentication required");
                return;
            }
        }
        const char *off = form_get(&f, "offline_token");
        issue(ts, req, res, user, scopes, nscopes, off && !strcmp(off, "true"), NULL);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        response_header(res, req->arena, "Allow", "GET, POST");
        ts_error(req, res, 405, "UNSUPPORTED", "the operation is unsupported");
        return;
    }
    struct buf *b = buf_arena_new(req->arena, FORM_MAX);
    char chunk[4096];
    ssize_t r;
    while ((r = request_read(req, chunk, sizeof chunk)) > 0)
        if (buf_append(b, chunk, (size_t)r) != 0) {
            ts_error(req, res, 413, "SIZE_INVALID", "form too large");
            return;
        }
    if (r < 0) {
        ts_error(req, res, 400, "UNSUPPORTED", "cannot read the form");
        return;
    }
    form_parse(req->arena, b->len ? b->data : "", &f);
    const char *grant = form_get(&f, "grant_type"), *service = form_get(&f, "service");
    if (service && strcmp(service, c->ts_service)) {
        ts_error(req, res, 400, "UNSUPPORTED", "unknown service");
        return;
    }
    const char *sc = form_get(&f, "scope");
    if (sc) {
        char *dup = arena_strdup(req->arena, sc), *save = NULL;
        for (char *t = strtok_r(dup, " ", &save); t && nscopes < SCOPES_MAX;
             t = strtok_r(NULL, " ", &save))
            scopes[nscopes++] = t;
    }
    const char *at = form_get(&f, "access_type");
    int offline = at && !strcmp(at, "offline");
    if (grant && !strcmp(grant, "password")) {
        const char *user = form_get(&f, "username"), *pass = form_get(&f, "password");
        if (login(ts, req, user, pass) != 0) {
            ts_error(req, res, 401, "UNAUTHORIZED", "authentication required");
            return;
        }
        issue(ts, req, res, user, scopes, nscopes, offline, NULL);
        return;
    }
    if (grant && !strcmp(grant, "refresh_token")) {
        const char *rt = form_get(&f, "refresh_token");
        struct jwt_verify_opts o = {.issuer = c->ts_issuer,
                                    .audience =
                                        arena_printf(req->arena, "%s#refresh", c->ts_service)};
        struct json_object *cl = NULL, *v;
        char why[128];
        const char *user = NULL, *pwh = NULL, *hash;
        if (rt && jwt_verify(ts->self, rt, &o, &cl, why, sizeof why) == 0 &&
            json_object_object_get_ex(cl, "sub", &v))
            user = arena_strdup(req->arena, json_object_get_string(v));
        if (cl && json_object_object_get_ex(cl, "wharf_pwh", &v))
            pwh = arena_strdup(req->arena, json_object_get_string(v));
        json_object_put(cl);
        if (!user || !pwh || !(hash = htpasswd_hash(ts->users, user)) ||
            strcmp(pw_binding(req->arena, hash), pwh)) {
            log_warn("token service: refused refresh token from %s", addr(req));
            ts_error(req, res, 401, "UNAUTHORIZED", "invalid refresh token");
            return;
        }
        issue(ts, req, res, user, scopes, nscopes, 0, rt);
        return;
    }
    ts_error(req, res, 400, "UNSUPPORTED", "grant_type must be password or refresh_token");
}
