/* config_proxy.c — proxy (issue 8): the pull-through cache's upstreams. The
 * reference's proxy keys make one upstream for every repository (prefix "");
 * proxy.upstreams adds more, chosen by the longest matching name prefix. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config_impl.h"
#include "err.h"
#include "log.h"

static void upstream_clear(struct config_upstream *u)
{
    free(u->prefix);
    free(u->remoteprefix);
    free(u->remoteurl);
    free(u->username);
    free_secret(u->password);
    memset(u, 0, sizeof(*u));
}

/* check_remoteurl: http(s)://host[:port][/path], kept without a trailing '/' */
static int check_remoteurl(struct loader *L, const struct ynode *n, const char *path, char *url)
{
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return config_fail(L, n, 0, path, "expected an http:// or https:// URL");
    const char *host = url + (url[4] == 's' ? 8 : 7);
    if (!*host || *host == '/') return config_fail(L, n, 0, path, "the URL has no host");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
            return config_fail(L, n, 0, path, "invalid character in the URL");
    size_t l = strlen(url);
    while (l && url[l - 1] == '/')
        url[--l] = '\0';
    return 0;
}

/* check_prefix: a repository-name prefix: lowercase components, no '/' at the ends */
static int check_prefix(struct loader *L, const struct ynode *n, const char *path, const char *s)
{
    if (!*s) return 0;
    if (s[0] == '/' || s[strlen(s) - 1] == '/' || strstr(s, "//"))
        return config_fail(L, n, 0, path, "must not begin or end with '/'");
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || strchr("._-/", *p)))
            return config_fail(L, n, 0, path,
                               "expected lowercase letters, digits, '.', '_', '-', '/'");
    return 0;
}

/* proxy.upstreams: [{prefix, remoteurl, remoteprefix, username, password, ttl}, ...] */
int apply_upstreams(struct loader *L, const struct field *f, const struct ynode *n,
                    const char *path)
{
    struct config *c = L->c;
    for (size_t i = 0; i < c->nupstreams; i++)
        upstream_clear(&c->upstreams[i]);
    free(c->upstreams);
    c->upstreams = NULL;
    c->nupstreams = 0;
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ)
        return config_fail(L, n, 0, path, "expected a list of {prefix, remoteurl, ...} mappings");
    /* one spare slot: apply_proxy may append the catch-all upstream of proxy.remoteurl */
    if (!(c->upstreams = calloc(n->nkids + 1, sizeof(*c->upstreams)))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        struct config_upstream *u = &c->upstreams[i];
        c->nupstreams = i + 1;
        u->ttl = -1;
        char ep[CONFIG_MAX_PATH / 2];
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        if (k->type != Y_MAP) return config_fail(L, k, 0, ep, "expected a mapping");
        for (size_t j = 0; j < k->nkids; j++) {
            const struct ynode *v = k->kids[j];
            char kp[CONFIG_MAX_PATH];
            path_join(kp, sizeof(kp), ep, v->key);
            int rc = 0;
            if (!strcmp(v->key, "ttl")) {
                long secs;
                if (is_null(v)) continue;
                if (scalar_duration(v, &secs) < 0)
                    return config_fail(L, v, 0, kp,
                                       "expected a duration such as \"60s\" or \"168h\"");
                u->ttl = secs;
                continue;
            }
            char **dst = !strcmp(v->key, "prefix")         ? &u->prefix
                         : !strcmp(v->key, "remoteprefix") ? &u->remoteprefix
                         : !strcmp(v->key, "remoteurl")    ? &u->remoteurl
                         : !strcmp(v->key, "username")     ? &u->username
                         : !strcmp(v->key, "password")     ? &u->password
                                                           : NULL;
            if (!dst)
                return config_fail(
                    L, v, 1, kp,
                    "unknown key (expected prefix, remoteurl, remoteprefix, username, "
                    "password or ttl)");
            const char *s = want_string(L, v, kp, &rc);
            if (!s) return rc;
            if ((rc = set_str(dst, *s ? s : NULL)) < 0) return rc;
            if (dst == &u->remoteurl && u->remoteurl &&
                (rc = check_remoteurl(L, v, kp, u->remoteurl)) < 0)
                return rc;
            if ((dst == &u->prefix || dst == &u->remoteprefix) && *dst &&
                (rc = check_prefix(L, v, kp, *dst)) < 0)
                return rc;
        }
        if (!u->prefix || !*u->prefix)
            return config_fail(L, k, 0, ep, "prefix: required (the catch-all is proxy.remoteurl)");
        if (!u->remoteurl) return config_fail(L, k, 0, ep, "remoteurl: required");
        if (!u->password != !u->username)
            return config_fail(L, k, 0, ep, "username and password go together");
        for (size_t m = 0; m < i; m++)
            if (!strcmp(c->upstreams[m].prefix, u->prefix))
                return config_fail(L, k, 0, ep, "prefix \"%.64s\" is listed twice", u->prefix);
    }
    return 0;
}

/* proxy: (after its keys) the reference's remoteurl becomes the catch-all upstream */
int apply_proxy(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    struct config *c = L->c;
    char kp[CONFIG_MAX_PATH];
    int rc;
    if (c->proxy_ttl < 0) return config_fail(L, n, 1, path, "ttl: must not be negative");
    for (size_t i = 0; i < c->nupstreams; i++)
        if (c->upstreams[i].ttl < 0) c->upstreams[i].ttl = c->proxy_ttl;
    if (!c->proxy_remoteurl) {
        if (c->proxy_username || c->proxy_password)
            return config_fail(L, n, 1, path, "username/password without remoteurl");
        return 0;
    }
    path_join(kp, sizeof kp, path, "remoteurl");
    if ((rc = check_remoteurl(L, map_get(n, "remoteurl", 0) ? map_get(n, "remoteurl", 0) : n, kp,
                              c->proxy_remoteurl)) < 0)
        return rc;
    if (!c->proxy_password != !c->proxy_username)
        return config_fail(L, n, 1, path, "username and password go together");
    if (!c->upstreams && !(c->upstreams = calloc(1, sizeof(*c->upstreams)))) return WERR_NOMEM;
    struct config_upstream *u = &c->upstreams[c->nupstreams];
    memset(u, 0, sizeof(*u));
    u->ttl = c->proxy_ttl;
    if (!(u->prefix = strdup("")) || !(u->remoteurl = strdup(c->proxy_remoteurl)) ||
        (c->proxy_username && !(u->username = strdup(c->proxy_username))) ||
        (c->proxy_password && !(u->password = strdup(c->proxy_password)))) {
        c->nupstreams++;
        return WERR_NOMEM;
    }
    c->nupstreams++;
    return 0;
}

/* proxy_finish: after the whole file: the warning of the reference's docs. */
int proxy_finish(struct loader *L)
{
    struct config *c = L->c;
    if (c->auth_type != AUTH_NONE) return 0;
    for (size_t i = 0; i < c->nupstreams; i++)
        if (c->upstreams[i].username)
            log_warn("proxy: upstream %s is used with credentials (user \"%s\") but this "
                     "registry has no auth: configured: anyone who can reach it can pull what "
                     "those credentials can read",
                     c->upstreams[i].remoteurl, c->upstreams[i].username);
    return 0;
}

RELEASER(release_upstreams)
{
    for (size_t i = 0; i < c->nupstreams; i++)
        upstream_clear(&c->upstreams[i]);
    free(c->upstreams);
    c->upstreams = NULL;
    c->nupstreams = 0;
}

/* the entries of proxy.upstreams; the catch-all of proxy.remoteurl (prefix "")
 * is printed as proxy.remoteurl itself */
PRINTER(dump_upstreams)
{
    const char *ind = "";
    dump_key(out, depth, f->name);
    fputs(c->nupstreams > (c->proxy_remoteurl ? 1u : 0u) ? "\n" : " []\n", out);
    for (size_t i = 0; i < c->nupstreams; i++) {
        const struct config_upstream *u = &c->upstreams[i];
        if (!*u->prefix) continue;
        fprintf(out, "%*s- prefix: ", 2 * depth + 2, ind);
        yaml_str(out, u->prefix);
        fprintf(out, "\n%*sremoteprefix: ", 2 * depth + 4, ind);
        yaml_str(out, u->remoteprefix);
        fprintf(out, "\n%*sremoteurl: ", 2 * depth + 4, ind);
        yaml_str(out, u->remoteurl);
        fprintf(out, "\n%*susername: ", 2 * depth + 4, ind);
        yaml_str(out, u->username);
        fprintf(out, "\n%*spassword: %s\n", 2 * depth + 4, ind, u->password ? "\"*****\"" : "\"\"");
        fprintf(out, "%*sttl: %lds\n", 2 * depth + 4, ind, u->ttl);
    }
}

SHOWN(shown_proxy)
{
    return c->nupstreams > 0;
}
