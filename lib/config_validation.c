/* config_validation.c — the validation section's own rules: the manifest URL
 * patterns (compiled with PCRE2 at load) and the index platform checks. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "config_impl.h"
#include "err.h"

static void regexes_free(struct config_regex *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].pattern);
        pcre2_code_free(r[i].code);
    }
    free(r);
}

static void platforms_free(struct config_platform *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].os);
        free(p[i].arch);
    }
    free(p);
}

/* validation.manifests.urls.allow / deny: a list of regular expressions, each
 * compiled with PCRE2 here so a bad pattern stops start-up with its key path. */
int apply_urlpatterns(struct loader *L, const struct field *f, const struct ynode *n,
                      const char *path)
{
    int deny = !strcmp(f->name, "deny");
    struct config_regex **dst = deny ? &L->c->urls_deny : &L->c->urls_allow;
    size_t *ndst = deny ? &L->c->nurls_deny : &L->c->nurls_allow;
    regexes_free(*dst, *ndst);
    *dst = NULL;
    *ndst = 0;
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ)
        return config_fail(L, n, 0, path, "expected a list of regular expressions");
    struct config_regex *r = calloc(n->nkids ? n->nkids : 1, sizeof(*r));
    if (!r) return WERR_NOMEM;
    size_t i;
    int rc = 0;
    for (i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        const char *s = want_string(L, k, path, &rc);
        if (!s) goto out;
        int ecode;
        PCRE2_SIZE eoff;
        r[i].code =
            pcre2_compile((PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ecode, &eoff, NULL);
        if (!r[i].code) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(ecode, msg, sizeof msg);
            rc =
                config_fail(L, k, 0, path, "invalid regular expression \"%.64s\" at offset %zu: %s",
                            s, (size_t)eoff, (char *)msg);
            goto out;
        }
        if (!(r[i].pattern = strdup(s))) {
            pcre2_code_free(r[i].code);
            rc = WERR_NOMEM;
            goto out;
        }
    }
out:
    if (rc) {
        regexes_free(r, i);
        return rc;
    }
    *dst = r;
    *ndst = n->nkids;
    return 0;
}

/* validation.manifests.indexes.platforms: all | none | list (Distribution 3) */
int apply_platforms(struct loader *L, const struct field *f, const struct ynode *n,
                    const char *path)
{
    int rc = 0;
    if (is_null(n)) return 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!strcasecmp(s, "all"))
        L->c->index_platforms = PLATFORMS_ALL;
    else if (!strcasecmp(s, "none"))
        L->c->index_platforms = PLATFORMS_NONE;
    else if (!strcasecmp(s, "list"))
        L->c->index_platforms = PLATFORMS_LIST;
    else
        return config_fail(L, n, 0, path, "expected all, none or list");
    return 0;
}

/* validation.manifests.indexes.platformlist: [{architecture: A, os: O}, ...] */
int apply_platformlist(struct loader *L, const struct field *f, const struct ynode *n,
                       const char *path)
{
    platforms_free(L->c->platformlist, L->c->nplatformlist);
    L->c->platformlist = NULL;
    L->c->nplatformlist = 0;
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ)
        return config_fail(L, n, 0, path, "expected a list of {architecture, os} mappings");
    struct config_platform *p = calloc(n->nkids ? n->nkids : 1, sizeof(*p));
    if (!p) return WERR_NOMEM;
    int rc = 0;
    for (size_t i = 0; i < n->nkids && !rc; i++) {
        const struct ynode *k = n->kids[i];
        if (k->type != Y_MAP) {
            rc = config_fail(L, k, 0, path, "expected a mapping with architecture and os");
            break;
        }
        for (size_t j = 0; j < k->nkids && !rc; j++) {
            const struct ynode *v = k->kids[j];
            char kp[CONFIG_MAX_PATH];
            path_join(kp, sizeof(kp), path, v->key);
            char **dst = !strcmp(v->key, "os")             ? &p[i].os
                         : !strcmp(v->key, "architecture") ? &p[i].arch
                                                           : NULL;
            if (!dst) {
                rc = config_fail(L, v, 1, kp, "unknown key (expected architecture or os)");
                break;
            }
            const char *s = want_string(L, v, kp, &rc);
            if (!s) break;
            rc = set_str(dst, s);
        }
        if (!rc && (!p[i].os || !p[i].arch))
            rc = config_fail(L, k, 0, path, "each entry needs both architecture and os");
    }
    if (rc) {
        platforms_free(p, n->nkids);
        return rc;
    }
    L->c->platformlist = p;
    L->c->nplatformlist = n->nkids;
    return 0;
}

RELEASER(release_urlpatterns)
{
    int deny = !strcmp(f->name, "deny");
    struct config_regex **r = deny ? &c->urls_deny : &c->urls_allow;
    size_t *n = deny ? &c->nurls_deny : &c->nurls_allow;
    regexes_free(*r, *n);
    *r = NULL;
    *n = 0;
}

RELEASER(release_platformlist)
{
    platforms_free(c->platformlist, c->nplatformlist);
    c->platformlist = NULL;
    c->nplatformlist = 0;
}

/* validation.enabled is deprecated and ignored: shown as the opposite of disabled */
PRINTER(dump_validation_enabled)
{
    dump_key(out, depth, f->name);
    fprintf(out, " %s\n", yn(!c->validation_disabled));
}

PRINTER(dump_urlpatterns)
{
    int deny = !strcmp(f->name, "deny");
    const struct config_regex *r = deny ? c->urls_deny : c->urls_allow;
    size_t n = deny ? c->nurls_deny : c->nurls_allow;
    dump_key(out, depth, f->name);
    fputs(n ? "\n" : " []\n", out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%*s- ", 2 * depth + 2, "");
        yaml_str(out, r[i].pattern);
        fputc('\n', out);
    }
}

PRINTER(dump_platforms)
{
    static const char *const plats[] = {"all", "none", "list"};
    dump_key(out, depth, f->name);
    fprintf(out, " %s\n", plats[c->index_platforms]);
}

PRINTER(dump_platformlist)
{
    dump_key(out, depth, f->name);
    fputs(c->nplatformlist ? "\n" : " []\n", out);
    for (size_t i = 0; i < c->nplatformlist; i++) {
        fprintf(out, "%*s- architecture: ", 2 * depth + 2, "");
        yaml_str(out, c->platformlist[i].arch);
        fprintf(out, "\n%*sos: ", 2 * depth + 4, "");
        yaml_str(out, c->platformlist[i].os);
        fputc('\n', out);
    }
}
