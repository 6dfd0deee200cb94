/* config_notify.c — notifications (issue 14): the reference's endpoints
 * (notifications.endpoints[], with the defaults of its
 * EndpointConfig.defaults: timeout 1s, threshold 10, backoff 1s) and
 * Wharf's durable queue (notifications.queue: where events wait, on this
 * node's disk, until every endpoint has them). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_impl.h"
#include "err.h"
#include "log.h"

#define ENDPOINT_TIMEOUT_MS 1000
#define ENDPOINT_THRESHOLD 10
#define ENDPOINT_BACKOFF_MS 1000
#define ENDPOINT_NAME_MAX 128

static void strlist_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void endpoint_clear(struct config_endpoint *e)
{
    free(e->name);
    free(e->url);
    config_headers_free(e->headers, e->nheaders);
    strlist_free(e->ignoredmediatypes, e->nignoredmediatypes);
    strlist_free(e->ignore_mediatypes, e->nignore_mediatypes);
    strlist_free(e->ignore_actions, e->nignore_actions);
    memset(e, 0, sizeof(*e));
}

static void endpoints_free(struct config *c)
{
    for (size_t i = 0; i < c->nendpoints; i++)
        endpoint_clear(&c->endpoints[i]);
    free(c->endpoints);
    c->endpoints = NULL;
    c->nendpoints = 0;
}

/* a list of strings (ignoredmediatypes, ignore.mediatypes, ignore.actions) */
static int want_strlist(struct loader *L, const struct ynode *n, const char *path, char ***out,
                        size_t *nout)
{
    strlist_free(*out, *nout);
    *out = NULL;
    *nout = 0;
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ) return config_fail(L, n, 0, path, "expected a list of strings");
    if (!(*out = calloc(n->nkids ? n->nkids : 1, sizeof(char *)))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *v = n->kids[i];
        if (v->type != Y_SCALAR || is_null(v))
            return config_fail(L, v, 0, path, "expected a list of strings");
        if (!((*out)[i] = strdup(v->val))) return WERR_NOMEM;
        (*nout)++;
    }
    return 0;
}

static int check_url(struct loader *L, const struct ynode *n, const char *path, const char *url)
{
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return config_fail(L, n, 0, path, "expected an http:// or https:// URL");
    const char *host = url + (url[4] == 's' ? 8 : 7);
    if (!*host || *host == '/') return config_fail(L, n, 0, path, "the URL has no host");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return config_fail(L, n, 0, path, "invalid character in the URL");
    return 0;
}

static int apply_ignore(struct loader *L, struct config_endpoint *e, const struct ynode *n,
                        const char *path)
{
    if (is_null(n)) return 0;
    if (n->type != Y_MAP) return config_fail(L, n, 0, path, "expected {mediatypes, actions}");
    for (size_t j = 0; j < n->nkids; j++) {
        const struct ynode *v = n->kids[j];
        char kp[CONFIG_MAX_PATH];
        path_join(kp, sizeof kp, path, v->key);
        int rc;
        if (!strcmp(v->key, "mediatypes"))
            rc = want_strlist(L, v, kp, &e->ignore_mediatypes, &e->nignore_mediatypes);
        else if (!strcmp(v->key, "actions"))
            rc = want_strlist(L, v, kp, &e->ignore_actions, &e->nignore_actions);
        else
            rc = config_fail(L, v, 1, kp, "unknown key (expected mediatypes or actions)");
        if (rc < 0) return rc;
    }
    for (size_t i = 0; i < e->nignore_actions; i++) {
        const char *a = e->ignore_actions[i];
        if (strcmp(a, "push") && strcmp(a, "pull") && strcmp(a, "mount") && strcmp(a, "delete") &&
            strcmp(a, "build"))
            log_warn(
                "%s.actions: \"%s\" is no action events have (push, pull, mount, delete, build)",
                path, a);
    }
    return 0;
}

/* one key of an endpoint */
static int apply_endpoint_key(struct loader *L, struct config_endpoint *e, const struct ynode *v,
                              const char *kp)
{
    int rc = 0;
    if (!strcmp(v->key, "disabled")) {
        if (is_null(v)) return 0;
        if (scalar_bool(v, &e->disabled) < 0) return config_fail(L, v, 0, kp, "expected a boolean");
        return 0;
    }
    if (!strcmp(v->key, "timeout") || !strcmp(v->key, "backoff")) {
        long ms;
        if (is_null(v)) return 0;
        if (scalar_duration_ms(v, &ms) < 0 || ms > 86400000L)
            return config_fail(L, v, 0, kp, "expected a duration such as \"500ms\" or \"1s\"");
        /* 0 (or absent) means the default, as in the reference */
        *(v->key[0] == 't' ? &e->timeout_ms : &e->backoff_ms) = ms;
        return 0;
    }
    if (!strcmp(v->key, "threshold")) {
        long long t;
        if (is_null(v)) return 0;
        if (scalar_int(v, &t) < 0 || t < 0 || t > 1000000)
            return config_fail(L, v, 0, kp, "expected an integer from 0 to 1000000");
        e->threshold = (int)t;
        return 0;
    }
    if (!strcmp(v->key, "headers"))
        return config_headers_parse(L, v, kp, &e->headers, &e->nheaders);
    if (!strcmp(v->key, "ignoredmediatypes"))
        return want_strlist(L, v, kp, &e->ignoredmediatypes, &e->nignoredmediatypes);
    if (!strcmp(v->key, "ignore")) return apply_ignore(L, e, v, kp);
    if (!strcmp(v->key, "format")) {
        const char *s = want_string(L, v, kp, &rc);
        if (!s) return rc;
        if (!*s || !strcmp(s, "docker"))
            e->format = NOTIFY_FORMAT_DOCKER;
        else if (!strcmp(s, "cloudevents"))
            e->format = NOTIFY_FORMAT_CLOUDEVENTS;
        else
            return config_fail(L, v, 0, kp, "expected docker or cloudevents");
        return 0;
    }
    char **dst = !strcmp(v->key, "name") ? &e->name : !strcmp(v->key, "url") ? &e->url : NULL;
    if (!dst)
        return config_fail(L, v, 1, kp,
                           "unknown key (expected name, disabled, url, headers, timeout, "
                           "threshold, backoff, ignoredmediatypes, ignore or format)");
    const char *s = want_string(L, v, kp, &rc);
    if (!s) return rc;
    return set_str(dst, *s ? s : NULL);
}

/* notifications.endpoints: [{name, url, ...}, ...] */
APPLIER(apply_endpoints)
{
    (void)f;
    struct config *c = L->c;
    endpoints_free(c);
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ)
        return config_fail(L, n, 0, path, "expected a list of {name, url, ...} mappings");
    if (!(c->endpoints = calloc(n->nkids ? n->nkids : 1, sizeof(*c->endpoints)))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        struct config_endpoint *e = &c->endpoints[i];
        c->nendpoints = i + 1;
        char ep[CONFIG_MAX_PATH / 2];
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        if (k->type != Y_MAP) return config_fail(L, k, 0, ep, "expected a mapping");
        for (size_t j = 0; j < k->nkids; j++) {
            char kp[CONFIG_MAX_PATH];
            path_join(kp, sizeof(kp), ep, k->kids[j]->key);
            int rc = apply_endpoint_key(L, e, k->kids[j], kp);
            if (rc < 0) return rc;
        }
        if (!e->timeout_ms) e->timeout_ms = ENDPOINT_TIMEOUT_MS;
        if (!e->threshold) e->threshold = ENDPOINT_THRESHOLD;
        if (!e->backoff_ms) e->backoff_ms = ENDPOINT_BACKOFF_MS;
        if (!e->name) return config_fail(L, k, 0, ep, "name: required");
        size_t nl = strlen(e->name);
        if (nl > ENDPOINT_NAME_MAX || !strcmp(e->name, ".") || !strcmp(e->name, ".."))
            return config_fail(L, k, 0, ep, "name: at most %d characters, not . or ..",
                               ENDPOINT_NAME_MAX);
        for (size_t j = 0; j < nl; j++)
            if (!isalnum((unsigned char)e->name[j]) && !strchr("._-", e->name[j]))
                return config_fail(L, k, 0, ep,
                                   "name: letters, digits, '.', '_' and '-' only (it names the "
                                   "endpoint's cursor file in the queue directory)");
        for (size_t m = 0; m < i; m++)
            if (!strcmp(c->endpoints[m].name, e->name))
                return config_fail(L, k, 0, ep, "name \"%s\" is listed twice", e->name);
        if (!e->url) {
            if (!e->disabled) return config_fail(L, k, 0, ep, "url: required");
        } else {
            char kp[CONFIG_MAX_PATH];
            path_join(kp, sizeof kp, ep, "url");
            int rc = check_url(L, map_get(k, "url", 0), kp, e->url);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

RELEASER(release_endpoints)
{
    (void)f;
    endpoints_free(c);
}

static void print_strlist(FILE *out, int depth, const char *key, char *const *v, size_t n)
{
    dump_key(out, depth, key);
    fputs(n ? "\n" : " []\n", out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%*s- ", 2 * depth + 2, "");
        yaml_str(out, v[i]);
        fputc('\n', out);
    }
}

PRINTER(dump_endpoints)
{
    dump_key(out, depth, f->name);
    fputs(c->nendpoints ? "\n" : " []\n", out);
    int d = depth + 2; /* the keys of an entry, under its "- " */
    for (size_t i = 0; i < c->nendpoints; i++) {
        const struct config_endpoint *e = &c->endpoints[i];
        fprintf(out, "%*s- name: ", 2 * depth + 2, "");
        yaml_str(out, e->name);
        fprintf(out, "\n%*sdisabled: %s\n", 2 * d, "", yn(e->disabled));
        fprintf(out, "%*surl: ", 2 * d, "");
        yaml_str(out, e->url);
        fputc('\n', out);
        config_headers_print(out, d, "headers", e->headers, e->nheaders);
        fprintf(out, "%*stimeout: %ldms\n", 2 * d, "", e->timeout_ms);
        fprintf(out, "%*sthreshold: %d\n", 2 * d, "", e->threshold);
        fprintf(out, "%*sbackoff: %ldms\n", 2 * d, "", e->backoff_ms);
        print_strlist(out, d, "ignoredmediatypes", e->ignoredmediatypes, e->nignoredmediatypes);
        fprintf(out, "%*signore:\n", 2 * d, "");
        print_strlist(out, d + 1, "mediatypes", e->ignore_mediatypes, e->nignore_mediatypes);
        print_strlist(out, d + 1, "actions", e->ignore_actions, e->nignore_actions);
        fprintf(out, "%*sformat: %s\n", 2 * d, "",
                e->format == NOTIFY_FORMAT_CLOUDEVENTS ? "cloudevents" : "docker");
    }
}

int config_notify_active(const struct config *c)
{
    for (size_t i = 0; i < c->nendpoints; i++)
        if (!c->endpoints[i].disabled) return 1;
    return 0;
}

/* notify_finish: after the whole file, the queue directory's default: under
 * the filesystem driver's root, one directory per node (named by its host
 * name), so nodes sharing an NFS root never append to one journal; for
 * other drivers a local directory. */
int notify_finish(struct loader *L)
{
    struct config *c = L->c;
    if (c->notify_queuedir) {
        size_t n = strlen(c->notify_queuedir);
        while (n > 1 && c->notify_queuedir[n - 1] == '/')
            c->notify_queuedir[--n] = 0;
        if (!strcmp(c->notify_queuedir, "/"))
            return config_fail(L, NULL, 0, "notifications.queue.directory", "must not be /");
        return 0;
    }
    if (c->storage != STORAGE_FILESYSTEM || !c->fs_root)
        return set_str(&c->notify_queuedir, "/var/lib/wharf/events");
    char host[256];
    if (gethostname(host, sizeof host) != 0 || !*host) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *p = host; *p; p++)
        if (*p == '/') *p = '_';
    size_t n = strlen(c->fs_root);
    while (n > 1 && c->fs_root[n - 1] == '/')
        n--;
    size_t len = n + sizeof "/wharf/events/" + strlen(host);
    if (!(c->notify_queuedir = malloc(len))) return WERR_NOMEM;
    snprintf(c->notify_queuedir, len, "%.*s/wharf/events/%s", (int)(n == 1 ? 0 : n), c->fs_root,
             host);
    return 0;
}
