/* config_http.c — the http section's own rules: net, prefix, host and the
 * extra response headers. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config_impl.h"
#include "err.h"

int apply_net(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (*s && strcmp(s, "tcp") && strcmp(s, "unix"))
        return config_fail(L, n, 0, path, "expected tcp or unix");
    return set_str(&L->c->http_net, *s ? s : NULL);
}

/* http.prefix: kept with a leading and a trailing '/', as the reference's
 * router mounts it ("/my/registry" and "/my/registry/" mean the same). */
int apply_prefix(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s) s = "/";
    if (s[0] != '/') return config_fail(L, n, 0, path, "must begin with '/'");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == 0x7f)
            return config_fail(L, n, 0, path, "invalid character in a URL path");
    size_t len = strlen(s);
    char *v = malloc(len + 2);
    if (!v) return WERR_NOMEM;
    memcpy(v, s, len + 1);
    if (v[len - 1] != '/') {
        v[len] = '/';
        v[len + 1] = '\0';
    }
    free(L->c->http_prefix);
    L->c->http_prefix = v;
    return 0;
}

int apply_host(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (*s) {
        const char *rest = !strncmp(s, "http://", 7)    ? s + 7
                           : !strncmp(s, "https://", 8) ? s + 8
                                                        : NULL;
        if (!rest || !*rest || *rest == '/')
            return config_fail(L, n, 0, path, "expected an absolute URL (http:// or https://)");
        for (const char *p = s; *p; p++)
            if ((unsigned char)*p <= ' ' || *p == 0x7f)
                return config_fail(L, n, 0, path, "invalid character in a URL");
    }
    return set_str(&L->c->http_host, *s ? s : NULL);
}

static void headers_free(struct config_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        for (size_t j = 0; j < h[i].nvalues; j++)
            free(h[i].values[j]);
        free(h[i].values);
    }
    free(h);
}

static int is_tchar(int ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* http.headers: name -> list of strings, in file order. Names are
 * canonicalised ("x-frame-options" -> "X-Frame-Options") as the reference's
 * http.Header.Add does when it writes them; values may not hold control
 * characters (no header injection through the config). */
int config_headers_parse(struct loader *L, const struct ynode *n, const char *path,
                         struct config_header **out, size_t *nout)
{
    char kp[CONFIG_MAX_PATH];
    struct config_header *h = NULL;
    size_t nh = 0;
    int rc = 0;

    if (is_null(n)) goto done;
    if (n->type != Y_MAP) return config_fail(L, n, 0, path, "expected a mapping of header names");
    if (!(h = calloc(n->nkids ? n->nkids : 1, sizeof(*h)))) return WERR_NOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
        const struct ynode *k = n->kids[i];
        path_join(kp, sizeof(kp), path, k->key);
        size_t klen = strlen(k->key);
        if (!klen || klen > 256) {
            rc = config_fail(L, k, 1, kp, "invalid header name");
            goto out;
        }
        for (size_t j = 0; j < klen; j++)
            if (!is_tchar((unsigned char)k->key[j])) {
                rc = config_fail(L, k, 1, kp, "invalid header name");
                goto out;
            }
        if (!(h[nh].name = strdup(k->key))) {
            rc = WERR_NOMEM;
            goto out;
        }
        for (size_t j = 0, up = 1; j < klen; j++) {
            char ch = h[nh].name[j];
            h[nh].name[j] = (char)(up ? toupper((unsigned char)ch) : tolower((unsigned char)ch));
            up = ch == '-';
        }
        nh++;
        for (size_t j = 0; j + 1 < nh; j++)
            if (!strcmp(h[j].name, h[nh - 1].name)) {
                rc = config_fail(L, k, 1, kp, "duplicate header");
                goto out;
            }
        if (k->type != Y_SEQ) {
            rc = config_fail(L, k, 0, kp, "expected a list of strings");
            goto out;
        }
        if (k->nkids && !(h[nh - 1].values = calloc(k->nkids, sizeof(char *)))) {
            rc = WERR_NOMEM;
            goto out;
        }
        for (size_t j = 0; j < k->nkids; j++) {
            const struct ynode *v = k->kids[j];
            if (v->type != Y_SCALAR || is_null(v)) {
                rc = config_fail(L, v, 0, kp, "expected a list of strings");
                goto out;
            }
            for (const char *p = v->val; *p; p++)
                if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f) {
                    rc = config_fail(L, v, 0, kp, "control character in a header value");
                    goto out;
                }
            if (!(h[nh - 1].values[j] = strdup(v->val))) {
                rc = WERR_NOMEM;
                goto out;
            }
            h[nh - 1].nvalues++;
        }
    }
done:
    headers_free(*out, *nout);
    *out = h;
    *nout = nh;
    h = NULL;
    nh = 0;
out:
    headers_free(h, nh);
    return rc;
}

int apply_headers(struct loader *L, const struct field *f, const struct ynode *n, const char *path)
{
    (void)f;
    return config_headers_parse(L, n, path, &L->c->headers, &L->c->nheaders);
}

void config_headers_free(struct config_header *h, size_t n)
{
    headers_free(h, n);
}

RELEASER(release_headers)
{
    headers_free(c->headers, c->nheaders);
    c->headers = NULL;
    c->nheaders = 0;
}

void config_headers_print(FILE *out, int depth, const char *key, const struct config_header *h,
                          size_t nh)
{
    dump_key(out, depth, key);
    fputs(nh ? "\n" : " {}\n", out);
    for (size_t i = 0; i < nh; i++) {
        fprintf(out, "%*s", 2 * depth + 2, "");
        yaml_str(out, h[i].name);
        if (!h[i].nvalues) {
            fprintf(out, ": []\n");
            continue;
        }
        fprintf(out, ":\n");
        for (size_t j = 0; j < h[i].nvalues; j++) {
            fprintf(out, "%*s- ", 2 * depth + 4, "");
            yaml_str(out, h[i].values[j]);
            fputc('\n', out);
        }
    }
}

PRINTER(dump_headers)
{
    config_headers_print(out, depth, f->name, c->headers, c->nheaders);
}

/* http.debug.addr: where the debug server listens, as the reference's
 * net.Listen("tcp", addr) takes it: "host:port", ":port" (every address) or
 * "[v6]:port". Empty: no debug server. */
int apply_debug_addr(struct loader *L, const struct field *f, const struct ynode *n,
                     const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (*s) {
        const char *colon = strrchr(s, ':');
        if (!colon) return config_fail(L, n, 0, path, "expected host:port or :port");
        if (s[0] == '[' && (colon == s || colon[-1] != ']'))
            return config_fail(L, n, 0, path, "expected [ipv6]:port");
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        if (!colon[1] || !end || *end || port < 1 || port > 65535)
            return config_fail(L, n, 0, path, "the port must be between 1 and 65535");
        for (const char *p = s; p < colon; p++)
            if ((unsigned char)*p <= ' ' || *p == '/' || *p == 0x7f)
                return config_fail(L, n, 0, path, "invalid character in the host");
    }
    return set_str(&L->c->debug_addr, *s ? s : NULL);
}

/* http.debug.prometheus.path: an absolute URL path ("/metrics" when empty,
 * as the reference); the debug server's own pages keep their paths. */
int apply_debug_path(struct loader *L, const struct field *f, const struct ynode *n,
                     const char *path)
{
    int rc = 0;
    const char *s = want_string(L, n, path, &rc);
    if (!s) return rc;
    if (!*s) s = "/metrics";
    if (s[0] != '/') return config_fail(L, n, 0, path, "must begin with '/'");
    if (strlen(s) > 256) return config_fail(L, n, 0, path, "longer than 256 characters");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == 0x7f)
            return config_fail(L, n, 0, path, "invalid character in a URL path");
    if (!strcmp(s, "/debug/vars") || !strcmp(s, "/debug/health"))
        return config_fail(L, n, 0, path, "%s is a page of the debug server already", s);
    return set_str(&L->c->debug_prom_path, s);
}
