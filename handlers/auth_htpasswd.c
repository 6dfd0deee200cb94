/* auth_htpasswd.c — bcrypt htpasswd files (libxcrypt crypt_rn) and HTTP Basic
 * credentials. */
#include "htpasswd.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../lib/arena.h"
#include "../lib/b64url.h"
#include "../lib/err.h"
#include "../lib/log.h"

#define HTPASSWD_MAX_BYTES (16 * 1024 * 1024)
#define HTPASSWD_MAX_LINE 4096
#define BASIC_MAX 4096

struct htuser {
    char *name;
    char *hash;
};

struct htpasswd {
    struct htuser *u;
    size_t n, cap;
};

static int is_bcrypt(const char *h)
{
    return strlen(h) == 60 && h[0] == '$' && h[1] == '2' &&
           (h[2] == 'a' || h[2] == 'b' || h[2] == 'y') && h[3] == '$';
}

void htpasswd_free(struct htpasswd *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->n; i++) {
        free(h->u[i].name);
        OPENSSL_cleanse(h->u[i].hash, strlen(h->u[i].hash));
        free(h->u[i].hash);
    }
    free(h->u);
    free(h);
}

size_t htpasswd_count(const struct htpasswd *h)
{
    return h ? h->n : 0;
}

int htpasswd_load(const char *path, struct htpasswd **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, lineno = 0, total = 0;
    ssize_t len;
    int rc = 0;
    struct htpasswd *h = NULL;
    *out = NULL;
    if (!f) {
        snprintf(err, errlen, "htpasswd %s: cannot open: %m", path);
        return WERR_IO;
    }
    if (!(h = calloc(1, sizeof(*h)))) {
        rc = WERR_NOMEM;
        goto out;
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        total += (size_t)len;
        if (total > HTPASSWD_MAX_BYTES || len > HTPASSWD_MAX_LINE) {
            snprintf(err, errlen, "htpasswd %s:%zu: line or file too long", path, lineno);
            rc = WERR_TOOBIG;
            goto out;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#') continue;
        char *colon = strchr(p, ':');
        if (!colon || colon == p) {
            snprintf(err, errlen, "htpasswd %s:%zu: expected user:hash", path, lineno);
            rc = WERR_INVALID;
            goto out;
        }
        *colon = 0;
        const char *hash = colon + 1;
        if (!is_bcrypt(hash)) {
            log_warn("htpasswd %s:%zu: user %s: not a bcrypt hash ($2y$/$2b$/$2a$), ignored", path,
                     lineno, p);
            continue;
        }
        if (htpasswd_hash(h, p)) {
            log_warn("htpasswd %s:%zu: user %s listed again, this entry ignored", path, lineno, p);
            continue;
        }
        if (h->n == h->cap) {
            size_t nc = h->cap ? h->cap * 2 : 16;
            struct htuser *nu = realloc(h->u, nc * sizeof(*nu));
            if (!nu) {
                rc = WERR_NOMEM;
                goto out;
            }
            h->u = nu;
            h->cap = nc;
        }
        h->u[h->n].name = strdup(p);
        h->u[h->n].hash = strdup(hash);
        if (!h->u[h->n].name || !h->u[h->n].hash) {
            free(h->u[h->n].name);
            free(h->u[h->n].hash);
            rc = WERR_NOMEM;
            goto out;
        }
        h->n++;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "htpasswd %s: read error", path);
        rc = WERR_IO;
        goto out;
    }
    if (!h->n) log_warn("htpasswd %s: no usable (bcrypt) entry: nobody can log in", path);
out:
    if (line) OPENSSL_cleanse(line, cap);
    free(line);
    fclose(f);
    if (rc)
        htpasswd_free(h);
    else
        *out = h;
    return rc;
}

const char *htpasswd_hash(const struct htpasswd *h, const char *user)
{
    for (size_t i = 0; h && user && i < h->n; i++)
        if (!strcmp(h->u[i].name, user)) return h->u[i].hash;
    return NULL;
}

/* A valid bcrypt hash of a random password: an unknown user costs the same. */
static const char dummy_hash[] = "$2y$05$abcdefghijklmnopqrstuur3zSsfxwMDIdNCcVkrCfAbNWQjaxrX.";

int htpasswd_check(const struct htpasswd *h, const char *user, const char *pass)
{
    const char *stored = htpasswd_hash(h, user);
    int known = stored != NULL;
    if (!known) stored = h && h->n ? h->u[0].hash : dummy_hash; /* same cost as a real one */
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd) return WERR_NOMEM;
    /* crypt_rn, not crypt_r: the same libxcrypt function, returning NULL on
     * failure — and not intercepted by ASan, whose crypt_r interceptor
     * calls a NULL pointer against libxcrypt */
    const char *got = crypt_rn(pass ? pass : "", stored, cd, (int)sizeof(*cd));
    int ok = got && got[0] != '*' && strlen(got) == strlen(stored) &&
             CRYPTO_memcmp(got, stored, strlen(stored)) == 0;
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    return ok && known ? 0 : WERR_DENIED;
}

int auth_basic_parse(struct arena *a, const char *hdr, char **user, char **pass)
{
    if (!hdr || strncasecmp(hdr, "Basic ", 6) != 0) return WERR_INVALID;
    const char *s = hdr + 6;
    while (*s == ' ')
        s++;
    size_t n = strnlen(s, BASIC_MAX + 1);
    while (n && s[n - 1] == ' ')
        n--;
    if (!n || n > BASIC_MAX) return WERR_INVALID;
    unsigned char *dec;
    size_t dl;
    if (b64_decode(s, n, &dec, &dl) != 0) return WERR_INVALID;
    char *colon = memchr(dec, ':', dl);
    int rc = WERR_INVALID;
    if (colon && colon != (char *)dec && !memchr(dec, 0, dl)) {
        *user = arena_strndup(a, (char *)dec, (size_t)(colon - (char *)dec));
        *pass = arena_strndup(a, colon + 1, dl - (size_t)(colon + 1 - (char *)dec));
        rc = 0;
    }
    OPENSSL_cleanse(dec, dl);
    free(dec);
    return rc;
}
