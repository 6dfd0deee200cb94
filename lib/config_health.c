/* config_health.c — health (issue 14): the reference's periodic checks.
 *
 * health.storagedriver is three plain keys in the schema (its interval kept
 * in milliseconds by apply_health_ms); health.file, health.http and
 * health.tcp are lists parsed here into one array, c->health_checks, each
 * entry tagged with its kind. The defaults are the reference's (2.8,
 * registry/handlers/app.go RegisterHealthChecks): an interval of 0 or none is
 * 10s, a status code of 0 or none is 200, a threshold of 0 means one failure
 * is enough, a timeout of 0 is "none given" (the reference then waits as long
 * as Go's client does; Wharf's checker bounds it by the interval,
 * admin/health.c). A check is named by its target (the file, the URI, the
 * address) as in the reference, which panics at start-up when two checks
 * share a name: here that is a configuration error. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config_impl.h"
#include "err.h"

#define HEALTH_INTERVAL_MS 10000L    /* the reference's defaultCheckInterval */
#define HEALTH_MAX_MS 86400000L      /* a day: intervals and timeouts */
#define HEALTH_TARGET_MAX 400        /* bytes of a file, URI or address (a name in lib/health.c) */
#define HEALTH_MAX_CHECKS_CONFIG 100 /* entries of file + http + tcp (lib/health.h's table) */

int config_health_active(const struct config *c)
{
    return c && (c->health_sd_enabled || c->nhealth_checks > 0);
}

static void check_clear(struct config_health_check *h)
{
    free(h->target);
    config_headers_free(h->headers, h->nheaders);
    memset(h, 0, sizeof *h);
}

/* drop the entries of one kind (a key applied again replaces its list) */
static void drop_kind(struct config *c, int kind)
{
    size_t w = 0;
    for (size_t i = 0; i < c->nhealth_checks; i++) {
        if (c->health_checks[i].kind == kind)
            check_clear(&c->health_checks[i]);
        else
            c->health_checks[w++] = c->health_checks[i];
    }
    c->nhealth_checks = w;
}

static int want_ms(struct loader *L, const struct ynode *n, const char *path, long *out)
{
    long ms;
    if (is_null(n)) return 0;
    if (scalar_duration_ms(n, &ms) < 0 || ms < 0 || ms > HEALTH_MAX_MS)
        return config_fail(L, n, 0, path, "expected a duration such as \"500ms\" or \"10s\"");
    *out = ms;
    return 0;
}

/* health.storagedriver.interval: milliseconds at f->off, 0 or none: 10s */
APPLIER(apply_health_ms)
{
    long ms = 0;
    int rc = want_ms(L, n, path, &ms);
    if (rc < 0) return rc;
    *(long *)((char *)L->c + f->off) = ms ? ms : HEALTH_INTERVAL_MS;
    return 0;
}

/* tcp addr: host:port or [v6]:port, a port of 1..65535 */
static int addr_valid(const char *a)
{
    const char *colon;
    if (*a == '[') {
        const char *end = strchr(a, ']');
        if (!end || end[1] != ':') return 0;
        colon = end + 1;
    } else {
        colon = strrchr(a, ':');
        if (!colon || strchr(a, ':') != colon) return 0;
    }
    const char *p = colon + 1;
    if (!*p || strlen(p) > 5) return 0;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q)) return 0;
    long port = strtol(p, NULL, 10);
    return port >= 1 && port <= 65535;
}

static int check_target(struct loader *L, const struct ynode *n, const char *path,
                        const struct config_health_check *h)
{
    size_t len = strlen(h->target);
    if (len > HEALTH_TARGET_MAX)
        return config_fail(L, n, 0, path, "at most %d bytes", HEALTH_TARGET_MAX);
    for (const char *p = h->target; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            return config_fail(L, n, 0, path, "invalid character");
    if (h->kind == HEALTH_HTTP) {
        if (strncmp(h->target, "http://", 7) && strncmp(h->target, "https://", 8))
            return config_fail(L, n, 0, path, "expected an http:// or https:// URL");
        const char *host = h->target + (h->target[4] == 's' ? 8 : 7);
        if (!*host || *host == '/') return config_fail(L, n, 0, path, "the URL has no host");
        if (strchr(h->target, ' ')) return config_fail(L, n, 0, path, "invalid character");
    } else if (h->kind == HEALTH_TCP && !addr_valid(h->target)) {
        return config_fail(L, n, 0, path, "expected host:port (a port from 1 to 65535)");
    }
    return 0;
}

static const char *kind_target_key(int kind)
{
    return kind == HEALTH_FILE ? "file" : kind == HEALTH_HTTP ? "uri" : "addr";
}

/* one key of an entry */
static int apply_check_key(struct loader *L, struct config_health_check *h, const struct ynode *v,
                           const char *kp)
{
    int rc = 0;
    const char *k = v->key;
    if (!strcmp(k, kind_target_key(h->kind))) {
        const char *s = want_string(L, v, kp, &rc);
        if (!s) return rc;
        if ((rc = set_str(&h->target, *s ? s : NULL)) < 0) return rc;
        return h->target ? check_target(L, v, kp, h) : 0;
    }
    if (!strcmp(k, "interval")) return want_ms(L, v, kp, &h->interval_ms);
    if (h->kind != HEALTH_FILE) {
        if (!strcmp(k, "timeout")) return want_ms(L, v, kp, &h->timeout_ms);
        if (!strcmp(k, "threshold")) {
            long long t;
            if (is_null(v)) return 0;
            if (scalar_int(v, &t) < 0 || t < 0 || t > 1000000)
                return config_fail(L, v, 0, kp, "expected an integer from 0 to 1000000");
            h->threshold = (int)t;
            return 0;
        }
    }
    if (h->kind == HEALTH_HTTP) {
        if (!strcmp(k, "headers")) return config_headers_parse(L, v, kp, &h->headers, &h->nheaders);
        if (!strcmp(k, "statuscode")) {
            long long sc;
            if (is_null(v)) return 0;
            if (scalar_int(v, &sc) < 0 || (sc != 0 && (sc < 100 || sc > 599)))
                return config_fail(L, v, 0, kp, "expected an HTTP status code (100 to 599)");
            h->statuscode = (int)sc;
            return 0;
        }
    }
    return config_fail(L, v, 1, kp, "unknown key (expected %s)",
                       h->kind == HEALTH_FILE   ? "file or interval"
                       : h->kind == HEALTH_HTTP ? "uri, headers, statuscode, timeout, interval or "
                                                  "threshold"
                                                : "addr, timeout, interval or threshold");
}

/* health.file, health.http, health.tcp: [{...}, ...] */
APPLIER(apply_health_checks)
{
    struct config *c = L->c;
    int kind = !strcmp(f->name, "file")   ? HEALTH_FILE
               : !strcmp(f->name, "http") ? HEALTH_HTTP
                                          : HEALTH_TCP;
    drop_kind(c, kind);
    if (is_null(n)) return 0;
    if (n->type != Y_SEQ)
        return config_fail(L, n, 0, path, "expected a list of {%s, ...} mappings",
                           kind_target_key(kind));
    if (c->nhealth_checks + n->nkids > HEALTH_MAX_CHECKS_CONFIG)
        return config_fail(L, n, 0, path, "at most %d checks in health.file, http and tcp",
                           HEALTH_MAX_CHECKS_CONFIG);
    struct config_health_check *v =
        realloc(c->health_checks, (c->nhealth_checks + n->nkids + 1) * sizeof *v);
    if (!v) return WERR_NOMEM;
    c->health_checks = v;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        struct config_health_check *h = &c->health_checks[c->nhealth_checks++];
        memset(h, 0, sizeof *h);
        h->kind = kind;
        char ep[CONFIG_MAX_PATH / 2];
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        if (k->type != Y_MAP) return config_fail(L, k, 0, ep, "expected a mapping");
        for (size_t j = 0; j < k->nkids; j++) {
            char kp[CONFIG_MAX_PATH];
            path_join(kp, sizeof kp, ep, k->kids[j]->key);
            int rc = apply_check_key(L, h, k->kids[j], kp);
            if (rc < 0) return rc;
        }
        if (!h->target) return config_fail(L, k, 0, ep, "%s: required", kind_target_key(kind));
        if (!h->interval_ms) h->interval_ms = HEALTH_INTERVAL_MS;
        if (kind == HEALTH_HTTP && !h->statuscode) h->statuscode = 200;
        /* the reference names a check by its target and refuses a second of
         * the same name (a panic at start-up) */
        for (size_t m = 0; m + 1 < c->nhealth_checks; m++)
            if (!strcmp(c->health_checks[m].target, h->target))
                return config_fail(L, k, 0, ep, "\"%s\" is checked twice", h->target);
    }
    return 0;
}

RELEASER(release_health_checks)
{
    (void)f;
    for (size_t i = 0; i < c->nhealth_checks; i++)
        check_clear(&c->health_checks[i]);
    free(c->health_checks);
    c->health_checks = NULL;
    c->nhealth_checks = 0;
}

PRINTER(dump_health_checks)
{
    int kind = !strcmp(f->name, "file")   ? HEALTH_FILE
               : !strcmp(f->name, "http") ? HEALTH_HTTP
                                          : HEALTH_TCP;
    size_t n = 0;
    for (size_t i = 0; i < c->nhealth_checks; i++)
        n += c->health_checks[i].kind == kind;
    dump_key(out, depth, f->name);
    fputs(n ? "\n" : " []\n", out);
    int d = depth + 2; /* the keys of an entry, under its "- " */
    for (size_t i = 0; i < c->nhealth_checks; i++) {
        const struct config_health_check *h = &c->health_checks[i];
        if (h->kind != kind) continue;
        fprintf(out, "%*s- %s: ", 2 * depth + 2, "", kind_target_key(kind));
        yaml_str(out, h->target);
        fputc('\n', out);
        if (kind == HEALTH_HTTP) {
            config_headers_print(out, d, "headers", h->headers, h->nheaders);
            fprintf(out, "%*sstatuscode: %d\n", 2 * d, "", h->statuscode);
        }
        if (kind != HEALTH_FILE) fprintf(out, "%*stimeout: %ldms\n", 2 * d, "", h->timeout_ms);
        fprintf(out, "%*sinterval: %ldms\n", 2 * d, "", h->interval_ms);
        if (kind != HEALTH_FILE) fprintf(out, "%*sthreshold: %d\n", 2 * d, "", h->threshold);
    }
}
