/* middleware.c — redirect and cloudfront storage middleware, see middleware.h. */
#include "middleware.h"

#include "../../lib/err.h"
#include "../../lib/log.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mw_driver {
    struct storage_driver base;
    struct storage_driver_ops ops;
    struct storage_driver *inner;
    int type; /* enum config_mw */
    char
        *base_url; /* redirect: scheme://host[/path] without a trailing '/'; cloudfront: ends '/' */
    char *key_prefix; /* cloudfront: the S3 key of "/" ("root/" or ""), NULL: not on s3 */
    char *keypairid;
    long duration;
    EVP_PKEY *pkey;
};

#define MW(b) ((struct mw_driver *)(b))

/* ---- forwarding: every driver-level op goes to inner with inner's pointer ---- */

static void mw_free(struct storage_driver *b)
{
    struct mw_driver *d = MW(b);
    storage_driver_free(d->inner);
    free(d->base_url);
    free(d->key_prefix);
    free(d->keypairid);
    EVP_PKEY_free(d->pkey);
    free(d);
}

static int mw_get_content(struct storage_driver *b, struct arena *a, const char *path, size_t max,
                          char **data, size_t *len)
{
    return MW(b)->inner->ops->get_content(MW(b)->inner, a, path, max, data, len);
}

static int mw_put_content(struct storage_driver *b, const char *path, const void *data, size_t len)
{
    return MW(b)->inner->ops->put_content(MW(b)->inner, path, data, len);
}

static int mw_reader(struct storage_driver *b, struct arena *a, const char *path, int64_t off,
                     struct storage_reader **r)
{
    return MW(b)->inner->ops->reader(MW(b)->inner, a, path, off, r);
}

static int mw_writer(struct storage_driver *b, struct arena *a, const char *path, int append,
                     struct storage_writer **w)
{
    return MW(b)->inner->ops->writer(MW(b)->inner, a, path, append, w);
}

static int mw_stat(struct storage_driver *b, const char *path, struct storage_stat *st)
{
    return MW(b)->inner->ops->stat(MW(b)->inner, path, st);
}

static int mw_list(struct storage_driver *b, struct arena *a, const char *path, char ***names,
                   size_t *n)
{
    return MW(b)->inner->ops->list(MW(b)->inner, a, path, names, n);
}

static int mw_move(struct storage_driver *b, const char *src, const char *dst)
{
    return MW(b)->inner->ops->move(MW(b)->inner, src, dst);
}

static int mw_delete(struct storage_driver *b, const char *path)
{
    return MW(b)->inner->ops->delete (MW(b)->inner, path);
}

static int mw_walk(struct storage_driver *b, const char *path, storage_walk_fn fn, void *ctx)
{
    return MW(b)->inner->ops->walk(MW(b)->inner, path, fn, ctx);
}

static int mw_local_path(struct storage_driver *b, struct arena *a, const char *path, char **out)
{
    return MW(b)->inner->ops->local_path(MW(b)->inner, a, path, out);
}

static int mw_list_page(struct storage_driver *b, struct arena *a, const char *path,
                        const char *after, size_t max, char ***names, size_t *n, int *more)
{
    return MW(b)->inner->ops->list_page(MW(b)->inner, a, path, after, max, names, n, more);
}

static int mw_append_file(struct storage_driver *b, struct arena *a, const char *path,
                          int64_t offset, int fd, const char *src, int64_t len)
{
    return MW(b)->inner->ops->append_file(MW(b)->inner, a, path, offset, fd, src, len);
}

static int mw_lock(struct storage_driver *b, struct arena *a, const char *path, int ttl_s,
                   long wait_ms, struct storage_lock **lk)
{
    return MW(b)->inner->ops->lock(MW(b)->inner, a, path, ttl_s, wait_ms, lk);
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
        return d->inner->ops->url_for ? d->inner->ops->url_for(d->inner, a, path, method, url)
                                      : WERR_UNSUPPORTED;
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
    d->inner = inner;
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
    d->ops = *inner->ops;
    d->ops.free = mw_free;
    d->ops.get_content = mw_get_content;
    d->ops.put_content = mw_put_content;
    d->ops.reader = mw_reader;
    d->ops.writer = mw_writer;
    d->ops.stat = mw_stat;
    d->ops.list = mw_list;
    d->ops.move = mw_move;
    d->ops.delete = mw_delete;
    d->ops.walk = mw_walk;
    d->ops.url_for = mw_url_for;
    d->ops.local_path = inner->ops->local_path ? mw_local_path : NULL;
    d->ops.list_page = inner->ops->list_page ? mw_list_page : NULL;
    d->ops.lock = inner->ops->lock ? mw_lock : NULL; /* the lock's own ops stay the inner's */
    d->ops.append_file = inner->ops->append_file ? mw_append_file : NULL;
    d->base.ops = &d->ops;
    *out = &d->base;
    return 0;
nomem:
    snprintf(err, errlen, "middleware: out of memory");
    rc = WERR_NOMEM;
bad:
    d->inner = NULL;
    free(d->base_url);
    free(d->key_prefix);
    free(d->keypairid);
    EVP_PKEY_free(d->pkey);
    free(d);
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
                struct mw_driver *m = MW(d);
                d = m->inner;
                m->inner = NULL;
                free(m->base_url);
                free(m->key_prefix);
                free(m->keypairid);
                EVP_PKEY_free(m->pkey);
                free(m);
            }
            return rc;
        }
        d = w;
    }
    *out = d;
    return 0;
}
