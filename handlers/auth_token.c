/* auth_token.c — auth.token: bearer JWTs checked against rootcertbundle
 * and/or jwks, issuer, service (audience), signing algorithms and leeway;
 * the "access" claim turned into rights. */
#include "auth.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../lib/err.h"
#include "../lib/jwt.h"

struct token_verifier {
    struct jwt_keyset *ks;
    struct jwt_verify_opts o;
};

int token_verifier_new(const struct config *cfg, struct token_verifier **out, char *err,
                       size_t errlen)
{
    struct token_verifier *tv = calloc(1, sizeof(*tv));
    int rc = 0;
    char why[512] = "";
    *out = NULL;
    if (!tv || !(tv->ks = jwt_keyset_new())) {
        free(tv);
        return WERR_NOMEM;
    }
    if (cfg->auth_rootcertbundle &&
        (rc = jwt_keyset_add_certs(tv->ks, cfg->auth_rootcertbundle, why, sizeof why))) {
        snprintf(err, errlen, "auth.token.rootcertbundle: %s", why);
        goto out;
    }
    if (cfg->auth_jwks && (rc = jwt_keyset_add_jwks(tv->ks, cfg->auth_jwks, why, sizeof why))) {
        snprintf(err, errlen, "auth.token.jwks: %s", why);
        goto out;
    }
    tv->o.issuer = cfg->auth_issuer;
    tv->o.audience = cfg->auth_service;
    tv->o.leeway = cfg->auth_leeway;
    tv->o.algs = (const char *const *)cfg->auth_sigalgs;
    tv->o.nalgs = cfg->auth_nsigalgs;
out:
    if (rc)
        token_verifier_free(tv);
    else
        *out = tv;
    return rc;
}

void token_verifier_free(struct token_verifier *tv)
{
    if (!tv) return;
    jwt_keyset_free(tv->ks);
    free(tv);
}

int token_verify(const struct token_verifier *tv, const char *token, struct json_object **claims,
                 char *err, size_t errlen)
{
    return jwt_verify(tv->ks, token, &tv->o, claims, err, errlen);
}

unsigned token_rights(struct json_object *claims, const char *type, const char *name)
{
    struct json_object *acc;
    unsigned r = 0;
    if (!claims || !json_object_object_get_ex(claims, "access", &acc) ||
        !json_object_is_type(acc, json_type_array))
        return 0;
    for (size_t i = 0; i < json_object_array_length(acc); i++) {
        struct json_object *e = json_object_array_get_idx(acc, i), *t, *n, *acts;
        if (!json_object_is_type(e, json_type_object) ||
            !json_object_object_get_ex(e, "type", &t) ||
            !json_object_object_get_ex(e, "name", &n) ||
            !json_object_object_get_ex(e, "actions", &acts) ||
            !json_object_is_type(t, json_type_string) ||
            !json_object_is_type(n, json_type_string) ||
            !json_object_is_type(acts, json_type_array))
            continue;
        if (strcmp(json_object_get_string(t), type) || strcmp(json_object_get_string(n), name))
            continue;
        for (size_t j = 0; j < json_object_array_length(acts); j++) {
            struct json_object *a = json_object_array_get_idx(acts, j);
            if (!json_object_is_type(a, json_type_string)) continue;
            const char *s = json_object_get_string(a);
            if (!strcmp(s, "pull"))
                r |= RIGHT_PULL;
            else if (!strcmp(s, "push"))
                r |= RIGHT_PUSH;
            else if (!strcmp(s, "delete"))
                r |= RIGHT_DELETE;
            else if (!strcmp(s, "*"))
                r |= RIGHT_ALL;
        }
    }
    return r;
}

struct json_object *token_catalog_patterns(struct json_object *claims)
{
    struct json_object *v;
    if (claims && json_object_object_get_ex(claims, "wharf_catalog", &v) &&
        json_object_is_type(v, json_type_array))
        return v;
    return NULL;
}
