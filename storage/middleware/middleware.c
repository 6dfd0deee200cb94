/* middleware.c — redirect and cloudfront storage middleware, see middleware.h. */
#include "middleware.h"

#include "../../lib/err.h"
#include "../../lib/log.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A wrapper (driver.h's delegate rule): its table has url_for only, every
 * other op is the inner driver's. */
struct mw_driver {
    struct storage_driver base; /* base.inner: the wrapped driver */
    int type;                   /* enum config_mw */
    char
        *base_url; /* redirect: scheme://host[/path] without a trailing '/'; cloudfront: ends '/' */
    char *key_prefix; /* cloudfront: the S3 key of "/" ("root/" or ""), NULL: not on s3 */
    char *keypairid;
    long duration;
    EVP_PKEY *pkey;
};

#define MW(b) ((struct mw_driver *)(b))

/* the wrapper's own state only: the core frees the inner driver after it */
static void mw_free(struct storage_driver *b)
{
    struct mw_driver *d = MW(b);
    free(d->base_url);
    free(d->key_prefix);
    free(d->keypairid);
    EVP_PKEY_free(d->pkey);
    free(d);
}

/* ---- cloudfront ---- */

char *cloudfront_canned_policy(struct arena *a, const char *url, time_t expires)
{
    struct buf *b = buf_arena_new(a, 0);
    buf_puts(b, "{\"Statement\":[{\"Resource\":\"");
    for (const char *p = url; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        char esc[8];
        if (ch == '"' || ch == '\\') {
            snprintf(esc, sizeof esc, "\\%c", ch);
            buf_puts(b, esc);
        } else if (ch < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            buf_puts(b, esc);
        } else {
            buf_append(b, p, 1);
        }
    }
    char tail[96];
    snprintf(tail, sizeof tail, "\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":%lld}}}]}",
             (long long)expires);
    buf_puts(b, tail);
    buf_append(b, "", 0);
    return b->data;
}

/* RSA-SHA1 over the policy, base64 made URL-safe as CloudFront wants
 * ('+' -> '-', '=' -> '_', '/' -> '~') */
static int cloudfront_signature(EVP_PKEY *k, struct arena *a, const char *policy, char **out)
{
    int rc = WERR_IO;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t sl = 0;
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha1(), NULL, k) != 1 ||
        EVP_DigestSignUpdate(md, policy, strlen(policy)) != 1 ||
        EVP_DigestSignFinal(md, NULL, &sl) != 1 || !(sig = malloc(sl)) ||
        EVP_DigestSignFinal(md, sig, &sl) != 1)
        goto out;
    char *s = arena_alloc(a, 4 * ((sl + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)s, sig, (int)sl);
    for (char *p = s; *p; p++)
        *p = *p == '+' ? '-' : *p == '=' ? '_' : *p == '/' ? '~' : *p;
    *out = s;
    rc = 0;
out:
    free(sig);
    EVP_MD_CTX_free(md);
    return rc;
}

static int mw_url_for(struct storage_driver *b, struct arena *a, const char *path,
                      const char *method, char **url)
{
    struct mw_driver *d = MW(b);
    if (d->type == MW_REDIRECT) {
        *url = arena_printf(a, "%s%s", d->base_url, path);
        return 0;
    }
    if (!d->key_prefix) /* cloudfront signs S3 keys only: the driver's own URL */
        return storage_url_for(b->inner, a, path, method, url);
    char *resource = arena_printf(a, "%s%s%s", d->base_url, d->key_prefix, path + 1);
    time_t expires = time(NULL) + d->duration;
    char *sig;
    int rc = cloudfront_signature(d->pkey, a, cloudfront_canned_policy(a, resource, expires), &sig);
    if (rc) return rc;
    *url = arena_printf(a, "%s%cExpires=%lld&Signature=%s&Key-Pair-Id=%s", resource,
                        strchr(resource, '?') ? '&' : '?', (long long)expires, sig, d->keypairid);
    return 0;
}

/* ---- construction ---- */

static const struct storage_driver_ops mw_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "middleware",
    .free = mw_free,
    .url_for = mw_url_for,
};

/* dup_or_null: a copy of s, or NULL for NULL (and on allocation failure) */
static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int mw_new(const struct config *cfg, const struct config_storage_mw *m,
                  struct storage_driver *inner, struct storage_driver **out, char *err,
                  size_t errlen)
{
    struct mw_driver *d = calloc(1, sizeof *d);
    int rc = WERR_INVALID;
    if (!d) return WERR_NOMEM;
    d->type = m->type;
    d->duration = m->duration > 0 ? m->duration : 1200;
    if (m->type == MW_REDIRECT) {
        size_t l = strlen(m->baseurl);
        while (l && m->baseurl[l - 1] == '/')
            l--;
        d->base_url = strndup(m->baseurl, l);
    } else {
        d->base_url = dup_or_null(m->baseurl);
        d->keypairid = dup_or_null(m->keypairid);
        FILE *f = fopen(m->privatekey, "r");
        if (!f) {
            snprintf(err, errlen, "middleware.storage cloudfront: cannot read privatekey %s",
                     m->privatekey);
            goto bad;
        }
        d->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (!d->pkey || EVP_PKEY_base_id(d->pkey) != EVP_PKEY_RSA) {
            snprintf(err, errlen,
                     "middleware.storage cloudfront: privatekey %s is not a PEM RSA private key",
                     m->privatekey);
            goto bad;
        }
        if (cfg->storage == STORAGE_S3) {
            /* the S3 key of a path: rootdirectory without its '/'s, then the path */
            const char *r = cfg->s3_rootdirectory ? cfg->s3_rootdirectory : "";
            while (*r == '/')
                r++;
            size_t rl = strlen(r);
            while (rl && r[rl - 1] == '/')
                rl--;
            if (!(d->key_prefix = malloc(rl + 2))) goto nomem;
            memcpy(d->key_prefix, r, rl);
            strcpy(d->key_prefix + rl, rl ? "/" : "");
        } else {
            log_warn("middleware: cloudfront signs S3 keys only; with this storage driver blob "
                     "GETs use the driver's own URLs");
            d->key_prefix = NULL;
        }
    }
    if (!d->base_url || (m->type == MW_CLOUDFRONT && !d->keypairid)) goto nomem;
    storage_driver_init(&d->base, &mw_ops, inner);
    *out = &d->base;
    return 0;
nomem:
    snprintf(err, errlen, "middleware: out of memory");
    rc = WERR_NOMEM;
bad:
    mw_free(&d->base);
    return rc;
}

int storage_middleware_wrap(const struct config *cfg, struct storage_driver *inner,
                            struct storage_driver **out, char *err, size_t errlen)
{
    struct storage_driver *d = inner;
    for (size_t i = 0; i < cfg->nstorage_mw; i++) {
        struct storage_driver *w;
        int rc = mw_new(cfg, &cfg->storage_mw[i], d, &w, err, errlen);
        if (rc) {
            /* unwrap what was built, leaving inner to the caller */
            while (d != inner) {
                struct storage_driver *next = d->inner;
                mw_free(d);
                d = next;
            }
            return rc;
        }
        d = w;
    }
    *out = d;
    return 0;
}
