/* sigv4.c — AWS Signature Version 4, see sigv4.h. */
#include "sigv4.h"

#include "err.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGV4_MAX_PARAMS 64
#define SIGV4_NAME_MAX 128

static const char HEX[] = "0123456789abcdef";

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[d[i] >> 4];
        out[2 * i + 1] = HEX[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, n, md);
    to_hex(md, sizeof md, out);
}

static void hmac(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
{
    unsigned int olen = 32;
    HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen);
}

int sigv4_encode(struct buf *out, const char *s, size_t n, int keep_slash)
{
    static const char UP[] = "0123456789ABCDEF";
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
            (keep_slash && c == '/')) {
            rc = buf_append(out, &s[i], 1);
        } else {
            char e[3] = {'%', UP[c >> 4], UP[c & 15]};
            rc = buf_append(out, e, 3);
        }
    }
    return rc;
}

void sigv4_amzdate(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* an encoded query pair, for sorting */
struct qpair {
    char *name, *value; /* malloc'd, encoded */
};

static int qpair_cmp(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *encoded(const char *s, int *rc)
{
    struct buf b;
    buf_init(&b, 0);
    if ((*rc = sigv4_encode(&b, s, strlen(s), 0)) != 0 || (*rc = buf_append(&b, "", 0)) != 0) {
        buf_free(&b);
        return NULL;
    }
    if (!b.data) {
        buf_free(&b);
        char *e = strdup("");
        if (!e) *rc = WERR_NOMEM;
        return e;
    }
    return b.data;
}

/* append the canonical query string of n params to out */
static int canonical_query(const struct sigv4_param *q, size_t n, struct buf *out)
{
    if (n > SIGV4_MAX_PARAMS) return WERR_TOOBIG;
    struct qpair p[SIGV4_MAX_PARAMS];
    size_t k = 0;
    int rc = 0;
    for (; k < n; k++) {
        p[k].name = encoded(q[k].name, &rc);
        p[k].value = p[k].name ? encoded(q[k].value ? q[k].value : "", &rc) : NULL;
        if (!p[k].value) {
            free(p[k].name);
            goto out;
        }
    }
    qsort(p, n, sizeof *p, qpair_cmp);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = buf_printf(out, "%s%s=%s", i ? "&" : "", p[i].name, p[i].value);
out:
    for (size_t i = 0; i < k; i++) {
        free(p[i].name);
        free(p[i].value);
    }
    return rc;
}

struct hpair {
    char name[SIGV4_NAME_MAX];
    const char *value;
};

static int hpair_cmp(const void *a, const void *b)
{
    return strcmp(((const struct hpair *)a)->name, ((const struct hpair *)b)->name);
}

/* sorted lowercase headers, or WERR_INVALID */
static int sorted_headers(const struct sigv4_request *r, struct hpair *h)
{
    if (r->nheaders > SIGV4_MAX_PARAMS) return WERR_TOOBIG;
    for (size_t i = 0; i < r->nheaders; i++) {
        size_t l = strlen(r->headers[i].name);
        if (l == 0 || l >= SIGV4_NAME_MAX) return WERR_INVALID;
        for (size_t j = 0; j <= l; j++)
            h[i].name[j] = (char)tolower((unsigned char)r->headers[i].name[j]);
        h[i].value = r->headers[i].value ? r->headers[i].value : "";
    }
    qsort(h, r->nheaders, sizeof *h, hpair_cmp);
    return 0;
}

/* value trimmed, inner runs of spaces collapsed to one */
static int trimmed(struct buf *out, const char *v)
{
    int rc = 0, space = 0;
    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v && rc == 0; v++) {
        if (*v == ' ' || *v == '\t') {
            space = 1;
            continue;
        }
        if (space) rc = buf_append(out, " ", 1);
        space = 0;
        if (rc == 0) rc = buf_append(out, v, 1);
    }
    return rc;
}

static int signed_headers(const struct hpair *h, size_t n, struct buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = buf_printf(out, "%s%s", i ? ";" : "", h[i].name);
    return rc;
}

int sigv4_canonical_request(const struct sigv4_request *r, struct buf *out)
{
    struct hpair h[SIGV4_MAX_PARAMS];
    int rc = sorted_headers(r, h);
    if (rc) return rc;
    if ((rc = buf_printf(out, "%s\n", r->method)) != 0) return rc;
    const char *path = r->path && *r->path ? r->path : "/";
    if ((rc = sigv4_encode(out, path, strlen(path), 1)) != 0) return rc;
    if ((rc = buf_append(out, "\n", 1)) != 0) return rc;
    if ((rc = canonical_query(r->query, r->nquery, out)) != 0) return rc;
    if ((rc = buf_append(out, "\n", 1)) != 0) return rc;
    for (size_t i = 0; i < r->nheaders; i++) {
        if ((rc = buf_printf(out, "%s:", h[i].name)) != 0) return rc;
        if ((rc = trimmed(out, h[i].value)) != 0) return rc;
        if ((rc = buf_append(out, "\n", 1)) != 0) return rc;
    }
    if ((rc = buf_append(out, "\n", 1)) != 0) return rc;
    if ((rc = signed_headers(h, r->nheaders, out)) != 0) return rc;
    return buf_printf(out, "\n%s", r->payload_hash ? r->payload_hash : SIGV4_UNSIGNED);
}

/* the hex signature of a canonical request */
static void signature(const struct sigv4_creds *c, const char *amzdate, const struct buf *creq,
                      char sig[65])
{
    char crhash[65], day[9];
    sigv4_sha256_hex(creq->data ? creq->data : "", creq->len, crhash);
    snprintf(day, sizeof day, "%.8s", amzdate);
    /* string to sign; every part is bounded (date, region, service) */
    struct buf sts;
    buf_init(&sts, 0);
    buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amzdate, day, c->region,
               c->service, crhash);
    unsigned char k[32];
    size_t sl = strlen(c->secret_key);
    char *ks = malloc(sl + 5);
    if (!ks) abort();
    memcpy(ks, "AWS4", 4);
    memcpy(ks + 4, c->secret_key, sl + 1);
    hmac(ks, sl + 4, day, strlen(day), k);
    memset(ks, 0, sl + 4);
    free(ks);
    hmac(k, 32, c->region, strlen(c->region), k);
    hmac(k, 32, c->service, strlen(c->service), k);
    hmac(k, 32, "aws4_request", 12, k);
    unsigned char s[32];
    hmac(k, 32, sts.data ? sts.data : "", sts.len, s);
    to_hex(s, 32, sig);
    buf_free(&sts);
}

int sigv4_authorization(const struct sigv4_creds *c, const struct sigv4_request *r,
                        const char *amzdate, struct buf *out)
{
    struct buf creq;
    buf_init(&creq, 0);
    struct hpair h[SIGV4_MAX_PARAMS];
    char sig[65];
    int rc = sorted_headers(r, h);
    if (rc == 0) rc = sigv4_canonical_request(r, &creq);
    if (rc) goto out;
    signature(c, amzdate, &creq, sig);
    if ((rc = buf_printf(out,
                         "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=",
                         c->access_key, amzdate, c->region, c->service)) != 0)
        goto out;
    if ((rc = signed_headers(h, r->nheaders, out)) != 0) goto out;
    rc = buf_printf(out, ", Signature=%s", sig);
out:
    buf_free(&creq);
    return rc;
}

int sigv4_presign_query(const struct sigv4_creds *c, const char *method, const char *path,
                        const char *host, const char *amzdate, long expires,
                        const struct sigv4_param *extra, size_t nextra, struct buf *out)
{
    if (expires < 1 || expires > 604800) return WERR_INVALID;
    if (nextra + 5 > SIGV4_MAX_PARAMS) return WERR_TOOBIG;
    struct sigv4_param q[SIGV4_MAX_PARAMS];
    char cred[512], exp[24];
    if ((size_t)snprintf(cred, sizeof cred, "%s/%.8s/%s/%s/aws4_request", c->access_key, amzdate,
                         c->region, c->service) >= sizeof cred)
        return WERR_TOOBIG;
    snprintf(exp, sizeof exp, "%ld", expires);
    size_t n = 0;
    q[n++] = (struct sigv4_param){"X-Amz-Algorithm", "AWS4-HMAC-SHA256"};
    q[n++] = (struct sigv4_param){"X-Amz-Credential", cred};
    q[n++] = (struct sigv4_param){"X-Amz-Date", amzdate};
    q[n++] = (struct sigv4_param){"X-Amz-Expires", exp};
    q[n++] = (struct sigv4_param){"X-Amz-SignedHeaders", "host"};
    for (size_t i = 0; i < nextra; i++)
        q[n++] = extra[i];
    struct sigv4_param hh[1] = {{"host", host}};
    struct sigv4_request r = {.method = method,
                              .path = path,
                              .query = q,
                              .nquery = n,
                              .headers = hh,
                              .nheaders = 1,
                              .payload_hash = SIGV4_UNSIGNED};
    struct buf creq;
    buf_init(&creq, 0);
    char sig[65];
    int rc = sigv4_canonical_request(&r, &creq);
    if (rc) goto out;
    signature(c, amzdate, &creq, sig);
    if ((rc = canonical_query(q, n, out)) != 0) goto out;
    rc = buf_printf(out, "&X-Amz-Signature=%s", sig);
out:
    buf_free(&creq);
    return rc;
}
