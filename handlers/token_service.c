/* token_service.c — Wharf's own Docker token service (fastcgi.tokenservice):
 * GET <path>?service=&scope=... with optional Basic credentials, and the
 * OAuth2 POST form (grant_type=password | refresh_token) that `docker login`
 * uses. Users come from an htpasswd file, rights from an access-rules YAML
 * file; tokens are ES256/RS256/... JWTs whose kid is the libtrust key id of
 * the signing key, so the reference registry (rootcertbundle holding the
 * key's certificate from `wharf token keygen`) and Wharf both accept them. */
#include "auth.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <yaml.h>

#include "../lib/err.h"
#include "../lib/jwt.h"
#include "../lib/log.h"
#include "app.h"
#include "handlers.h"

#define FORM_MAX (64 * 1024)
#define SCOPES_MAX 32
#define RULES_MAX_BYTES (1024 * 1024)

/* ------------------------------------------------------------ access rules */

struct rule {
    char **repos;
    size_t nrepos;
    char **users; /* "*" = any authenticated user */
    size_t nusers;
    char **groups;
    size_t ngroups;
    int anonymous;
    unsigned rights;
};

struct group {
    char *name;
    char **members;
    size_t n;
};

struct access_rules {
    struct rule *rules;
    size_t nrules;
    struct group *groups;
    size_t ngroups;
};

int auth_glob(const char *pattern, const char *name)
{
    return fnmatch(pattern, name, 0) == 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void access_rules_free(struct access_rules *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nrules; i++) {
        strv_free(r->rules[i].repos, r->rules[i].nrepos);
        strv_free(r->rules[i].users, r->rules[i].nusers);
        strv_free(r->rules[i].groups, r->rules[i].ngroups);
    }
    free(r->rules);
    for (size_t i = 0; i < r->ngroups; i++) {
        free(r->groups[i].name);
        strv_free(r->groups[i].members, r->groups[i].n);
    }
    free(r->groups);
    free(r);
}

struct rl {
    yaml_document_t *doc;
    const char *path;
    char *err;
    size_t errlen;
};

static int rl_fail(struct rl *L, yaml_node_t *n, const char *what)
{
    snprintf(L->err, L->errlen, "access rules %s:%lu: %s", L->path,
             n ? (unsigned long)n->start_mark.line + 1 : 0UL, what);
    return WERR_INVALID;
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* strlist: a scalar or a sequence of scalars into a malloc'd vector */
static int strlist(struct rl *L, yaml_node_t *n, char ***out, size_t *nout)
{
    if (scalar(n)) {
        if (!(*out = calloc(1, sizeof(char *))) || !((*out)[0] = strdup(scalar(n))))
            return WERR_NOMEM;
        *nout = 1;
        return 0;
    }
    if (!n || n->type != YAML_SEQUENCE_NODE) return rl_fail(L, n, "expected a list of strings");
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!(*out = calloc(cnt ? cnt : 1, sizeof(char *)))) return WERR_NOMEM;
    for (size_t i = 0; i < cnt; i++) {
        const char *s = scalar(yaml_document_get_node(L->doc, n->data.sequence.items.start[i]));
        if (!s) return rl_fail(L, n, "expected a list of strings");
        if (!((*out)[i] = strdup(s))) return WERR_NOMEM;
        *nout = i + 1;
    }
    return 0;
}

static int parse_rule(struct rl *L, yaml_node_t *m, struct rule *r)
{
    int rc;
    if (m->type != YAML_MAPPING_NODE) return rl_fail(L, m, "a rule must be a mapping");
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(L->doc, p->value);
        const char *key = scalar(k);
        if (!key) return rl_fail(L, k, "expected a key");
        if (!strcmp(key, "repositories") || !strcmp(key, "repository")) {
            if ((rc = strlist(L, v, &r->repos, &r->nrepos))) return rc;
        } else if (!strcmp(key, "users")) {
            if ((rc = strlist(L, v, &r->users, &r->nusers))) return rc;
        } else if (!strcmp(key, "groups")) {
            if ((rc = strlist(L, v, &r->groups, &r->ngroups))) return rc;
        } else if (!strcmp(key, "anonymous")) {
            const char *s = scalar(v);
            if (!s || (strcmp(s, "true") && strcmp(s, "false")))
                return rl_fail(L, v, "anonymous: expected true or false");
            r->anonymous = !strcmp(s, "true");
        } else if (!strcmp(key, "actions")) {
            char **acts = NULL;
            size_t na = 0;
            rc = strlist(L, v, &acts, &na);
            for (size_t i = 0; !rc && i < na; i++) {
                if (!strcmp(acts[i], "pull"))
                    r->rights |= RIGHT_PULL;
                else if (!strcmp(acts[i], "push"))
                    r->rights |= RIGHT_PUSH;
                else if (!strcmp(acts[i], "delete"))
                    r->rights |= RIGHT_DELETE;
                else if (!strcmp(acts[i], "*"))
                    r->rights |= RIGHT_ALL;
                else
                    rc = rl_fail(L, v, "actions: pull, push, delete or *");
            }
            strv_free(acts, na);
            if (rc) return rc;
        } else {
            return rl_fail(L, k, "unknown key (repositories, users, groups, anonymous, actions)");
        }
    }
    if (!r->nrepos) return rl_fail(L, m, "rule without repositories");
    if (!r->rights) return rl_fail(L, m, "rule without actions");
    return 0;
}

int access_rules_load(const char *path, struct access_rules **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0, rc = 0;
    struct access_rules *r = NULL;
    struct rl L = {.doc = &doc, .path = path, .err = err, .errlen = errlen};
    *out = NULL;
    if (!f) {
        snprintf(err, errlen, "access rules %s: cannot open: %m", path);
        return WERR_IO;
    }
    char *buf = malloc(RULES_MAX_BYTES + 1);
    size_t len = buf ? fread(buf, 1, RULES_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf) return WERR_NOMEM;
    if (len > RULES_MAX_BYTES) {
        free(buf);
        snprintf(err, errlen, "access rules %s: larger than 1 MiB", path);
        return WERR_TOOBIG;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "access rules %s:%lu: %s", path,
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "YAML error");
        rc = WERR_INVALID;
        goto out;
    }
    have_doc = 1;
    if (!(r = calloc(1, sizeof(*r)))) {
        rc = WERR_NOMEM;
        goto out;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = rl_fail(&L, root, "expected a mapping with groups: and rules:");
        goto out;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        const char *key = scalar(k);
        if (key && !strcmp(key, "groups")) {
            if (scalar(v) && !*scalar(v)) continue;
            if (v->type != YAML_MAPPING_NODE) {
                rc = rl_fail(&L, v, "groups: expected a mapping name: [users]");
                goto out;
            }
            size_t cnt = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
            if (!(r->groups = calloc(cnt ? cnt : 1, sizeof(*r->groups)))) {
                rc = WERR_NOMEM;
                goto out;
            }
            for (size_t i = 0; i < cnt; i++) {
                yaml_node_pair_t *gp = &v->data.mapping.pairs.start[i];
                struct group *g = &r->groups[r->ngroups++];
                const char *gn = scalar(yaml_document_get_node(&doc, gp->key));
                if (!gn || !(g->name = strdup(gn))) {
                    rc = gn ? WERR_NOMEM : rl_fail(&L, v, "group name expected");
                    goto out;
                }
                if ((rc = strlist(&L, yaml_document_get_node(&doc, gp->value), &g->members, &g->n)))
                    goto out;
            }
        } else if (key && !strcmp(key, "rules")) {
            if (v->type != YAML_SEQUENCE_NODE) {
                rc = rl_fail(&L, v, "rules: expected a list");
                goto out;
            }
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            if (!(r->rules = calloc(cnt ? cnt : 1, sizeof(*r->rules)))) {
                rc = WERR_NOMEM;
                goto out;
            }
            for (size_t i = 0; i < cnt; i++) {
                r->nrules++;
                if ((rc = parse_rule(&L,
                                     yaml_document_get_node(&doc, v->data.sequence.items.start[i]),
                                     &r->rules[i])))
                    goto out;
            }
        } else {
            rc = rl_fail(&L, k, "unknown key (groups, rules)");
            goto out;
        }
    }
    for (size_t i = 0; i < r->nrules; i++)
        for (size_t j = 0; j < r->rules[i].ngroups; j++) {
            size_t g = 0;
            while (g < r->ngroups && strcmp(r->groups[g].name, r->rules[i].groups[j]))
                g++;
            if (g == r->ngroups) {
                snprintf(err, errlen, "access rules %s: rule %zu: unknown group %s", path, i + 1,
                         r->rules[i].groups[j]);
                rc = WERR_INVALID;
                goto out;
            }
        }
out:
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(buf);
    if (rc)
        access_rules_free(r);
    else
        *out = r;
    return rc;
}

static int in_list(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return 1;
    return 0;
}

/* rule_applies: does rule u grant anything to user (NULL: anonymous)? */
static int rule_applies(const struct access_rules *r, const struct rule *u, const char *user)
{
    if (u->anonymous) return 1;
    if (!user) return 0;
    if (in_list(u->users, u->nusers, "*") || in_list(u->users, u->nusers, user)) return 1;
    for (size_t j = 0; j < u->ngroups; j++)
        for (size_t g = 0; g < r->ngroups; g++)
            if (!strcmp(r->groups[g].name, u->groups[j]) &&
                in_list(r->groups[g].members, r->groups[g].n, user))
                return 1;
    return 0;
}

unsigned access_rights(const struct access_rules *r, const char *user, const char *repo)
{
    if (!r) return user ? RIGHT_ALL : 0;
    unsigned got = 0;
    for (size_t i = 0; i < r->nrules; i++) {
        const struct rule *u = &r->rules[i];
        if (!rule_applies(r, u, user)) continue;
        for (size_t k = 0; k < u->nrepos; k++)
            if (auth_glob(u->repos[k], repo)) got |= u->rights;
    }
    return got;
}

int access_pull_patterns(const struct access_rules *r, const char *user, struct arena *a,
                         const char ***pats, size_t *n)
{
    *pats = NULL;
    *n = 0;
    if (!r) {
        if (!user) return 1; /* anonymous: nothing */
        return 0;
    }
    size_t cap = 0;
    for (size_t i = 0; i < r->nrules; i++)
        cap += r->rules[i].nrepos;
    *pats = arena_alloc(a, (cap + 1) * sizeof(char *));
    for (size_t i = 0; i < r->nrules; i++) {
        const struct rule *u = &r->rules[i];
        if (!(u->rights & RIGHT_PULL) || !rule_applies(r, u, user)) continue;
        for (size_t k = 0; k < u->nrepos; k++) {
            if (!strcmp(u->repos[k], "*")) return 0;
            (*pats)[(*n)++] = u->repos[k];
        }
    }
    return 1;
}

/* ------------------------------------------------------------ the service */

struct token_service {
    const struct config *cfg;
    struct htpasswd *users;
    struct access_rules *rules;
    EVP_PKEY *key;
    char kid[64];
    struct jwt_keyset *self; /* our own key: refresh tokens */
};

void token_service_free(struct token_service *ts);
int token_service_new(const struct config *cfg, struct token_service **out, char *err,
                      size_t errlen);
struct token_service *auth_token_service(struct app *app);

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

int token_service_match(struct app *app, struct request *req)
{
    struct token_service *ts = auth_token_service(app);
    return ts && !strcmp(req->path, app->cfg->ts_path);
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

static void issue(struct app *app, struct token_service *ts, struct request *req,
                  struct response *res, const char *user, const char **scopes, size_t nscopes,
                  int offline, const char *refresh_in)
{
    const struct config *c = app->cfg;
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

void token_service_handle(struct app *app, struct request *req, struct response *res)
{
    struct token_service *ts = auth_token_service(app);
    const struct config *c = app->cfg;
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
        issue(app, ts, req, res, user, scopes, nscopes, off && !strcmp(off, "true"), NULL);
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
        issue(app, ts, req, res, user, scopes, nscopes, offline, NULL);
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
        issue(app, ts, req, res, user, scopes, nscopes, 0, rt);
        return;
    }
    ts_error(req, res, 400, "UNSUPPORTED", "grant_type must be password or refresh_token");
}
