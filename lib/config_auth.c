/* config_auth.c — auth (issue 4): one access controller among silly,
 * htpasswd and token, with its required keys; and fastcgi.tokenservice,
 * Wharf's own token service. Only file paths are kept and printed, never
 * file contents (keys, hashes). */
#include <stdlib.h>
#include <string.h>

#include "config_impl.h"
#include "err.h"

/* auth.<method> (run after its keys): one method only, and its required keys. */
int apply_auth_method(struct loader *L, const struct field *f, const struct ynode *n,
                      const char *path)
{
    struct config *c = L->c;
    int t = !strcmp(f->name, "silly")      ? AUTH_SILLY
            : !strcmp(f->name, "htpasswd") ? AUTH_HTPASSWD
                                           : AUTH_TOKEN;
    if (c->auth_type && c->auth_type != t)
        return config_fail(L, n, 1, path, "only one auth method may be configured");
    c->auth_type = t;
    if (!c->auth_realm || !*c->auth_realm) return config_fail(L, n, 1, path, "realm: required");
    if (t == AUTH_HTPASSWD && !c->auth_htpasswd_path)
        return config_fail(L, n, 1, path, "path: required");
    if (t != AUTH_HTPASSWD && !c->auth_service)
        return config_fail(L, n, 1, path, "service: required");
    if (t == AUTH_TOKEN) {
        if (!c->auth_issuer) return config_fail(L, n, 1, path, "issuer: required");
        if (!c->auth_rootcertbundle && !c->auth_jwks)
            return config_fail(L, n, 1, path, "rootcertbundle or jwks: required");
        if (c->auth_leeway < 0 || c->auth_leeway > 3600)
            return config_fail(L, n, 1, path, "leeway: must be between 0s and 1h");
    }
    return 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* auth.token.signingalgorithms: a list of JWS algorithm names (checked by
 * handlers/auth_token.c against what Wharf verifies). */
int apply_sigalgs(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    static const char *const known[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                        "PS512", "ES256", "ES384", "ES512", "EdDSA"};
    struct config *c = L->c;
    strv_free(c->auth_sigalgs, c->auth_nsigalgs);
    c->auth_sigalgs = NULL;
    c->auth_nsigalgs = 0;
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ || !n->nkids)
        return config_fail(L, n, 0, path, "expected a list of algorithms such as [ES256, RS256]");
    if (!(c->auth_sigalgs = calloc(n->nkids, sizeof(char *)))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        int rc = 0;
        const char *s = want_string(L, n->kids[i], path, &rc);
        if (!s) return rc;
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(known[k], s))
            k++;
        if (k == sizeof known / sizeof known[0])
            return config_fail(
                L, n->kids[i], 0, path,
                "unsupported algorithm \"%.16s\" (RS*, PS*, ES*, EdDSA; never none or HS*)", s);
        if (!(c->auth_sigalgs[i] = strdup(s))) return WERR_NOMEM;
        c->auth_nsigalgs = i + 1;
    }
    return 0;
}

/* fastcgi.tokenservice: Wharf's own token service; its required keys. */
int apply_tokenservice(struct loader *L, const struct field *f, const struct ynode *n,
                       const char *path)
{
    struct config *c = L->c;
    if (is_null(n)) return 0;
    c->ts_enabled = 1;
    if (!c->ts_issuer) return config_fail(L, n, 1, path, "issuer: required");
    if (!c->ts_service) return config_fail(L, n, 1, path, "service: required");
    if (!c->ts_signingkey) return config_fail(L, n, 1, path, "signingkey: required");
    if (!c->ts_htpasswd) return config_fail(L, n, 1, path, "htpasswd: required");
    if (!c->ts_path && !(c->ts_path = strdup("/auth/token"))) return WERR_NOMEM;
    if (c->ts_path[0] != '/' || !strncmp(c->ts_path, "/v2/", 4) || !strcmp(c->ts_path, "/v2"))
        return config_fail(L, n, 1, path, "path: must start with / and lie outside /v2/");
    if (c->ts_expiration < 1 || c->ts_expiration > 24 * 3600)
        return config_fail(L, n, 1, path, "expiration: must be between 1s and 24h");
    if (c->ts_refreshexpiration < 60)
        return config_fail(L, n, 1, path, "refreshexpiration: must be at least 1m");
    return 0;
}

RELEASER(release_sigalgs)
{
    strv_free(c->auth_sigalgs, c->auth_nsigalgs);
    c->auth_sigalgs = NULL;
    c->auth_nsigalgs = 0;
}

PRINTER(dump_sigalgs)
{
    dump_key(out, depth, f->name);
    fputs(" [", out);
    for (size_t i = 0; i < c->auth_nsigalgs; i++)
        fprintf(out, "%s%s", i ? ", " : "", c->auth_sigalgs[i]);
    fputs("]\n", out);
}

SHOWN(shown_auth)
{
    return c->auth_type > AUTH_NONE && c->auth_type <= AUTH_TOKEN;
}

/* the method configured, by its section's name */
SHOWN(shown_auth_method)
{
    static const char *const names[] = {"", "silly", "htpasswd", "token"};
    return c->auth_type > AUTH_NONE && c->auth_type <= AUTH_TOKEN &&
           !strcmp(f->name, names[c->auth_type]);
}

SHOWN(shown_tokenservice)
{
    return c->ts_enabled;
}
