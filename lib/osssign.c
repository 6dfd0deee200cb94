/* osssign.c — OSS signature version 1, see osssign.h. */
#include "osssign.h"

#include "err.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OSSSIGN_MAX 64       /* headers or subresources of one request */
#define OSSSIGN_NAME_MAX 128 /* a header name */

/* The query parameters OSS counts as subresources: the list the OSS SDKs
 * sign (aliyun-oss-go-sdk oss/conn.go signKeyList, the same in the Java and
 * Python SDKs), which is what the service expects. Sorted for bsearch. */
static const char *const SUBRESOURCES[] = {
    "acl",
    "append",
    "asyncFetch",
    "bucketInfo",
    "callback",
    "callback-var",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "img",
    "inventory",
    "inventoryId",
    "lifecycle",
    "live",
    "location",
    "logging",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "qos",
    "qosInfo",
    "referer",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "style",
    "styleName",
    "symlink",
    "tagging",
    "udf",
    "udfApplication",
    "udfApplicationLog",
    "udfId",
    "udfImage",
    "udfImageDesc",
    "udfName",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
    "worm",
    "wormExtend",
    "wormId",
    "x-oss-process",
    "x-oss-request-payer",
    "x-oss-traffic-limit",
};

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int osssign_subresource(const char *name)
{
    return name && bsearch(&name, SUBRESOURCES, sizeof SUBRESOURCES / sizeof *SUBRESOURCES,
                           sizeof *SUBRESOURCES, str_cmp) != NULL;
}

void osssign_date(time_t t, char out[32])
{
    static const char *const DAY[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const MON[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    /* by hand: strftime's %a/%b follow the locale */
    snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", DAY[tm.tm_wday % 7], tm.tm_mday,
             MON[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

struct hdr {
    char name[OSSSIGN_NAME_MAX]; /* lowercased */
    const char *value;
    size_t vlen; /* trimmed */
    size_t order;
};

static int hdr_cmp(const void *a, const void *b)
{
    const struct hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* value of header name (case-insensitive), or "" */
static const char *header(const struct osssign_request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (r->headers[i].name && !strcasecmp(r->headers[i].name, name))
            return r->headers[i].value ? r->headers[i].value : "";
    return "";
}

/* CanonicalizedOSSHeaders: x-oss-* lowercased, sorted, trimmed; a header
 * given twice is joined with ',' (RFC 2616 4.2, as the OSS docs say) */
static int canonical_headers(const struct osssign_request *r, struct buf *out)
{
    struct hdr h[OSSSIGN_MAX];
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *nm = r->headers[i].name;
        if (!nm || strncasecmp(nm, "x-oss-", 6)) continue;
        size_t l = strlen(nm);
        if (n == OSSSIGN_MAX || l >= OSSSIGN_NAME_MAX) return WERR_INVALID;
        for (size_t j = 0; j <= l; j++)
            h[n].name[j] = (char)tolower((unsigned char)nm[j]);
        const char *v = r->headers[i].value ? r->headers[i].value : "";
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        h[n].value = v;
        h[n].vlen = vl;
        h[n].order = n;
        n++;
    }
    qsort(h, n, sizeof *h, hdr_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int same = i && !strcmp(h[i].name, h[i - 1].name);
        if (same) {
            out->len--; /* the previous "\n" */
            rc = buf_printf(out, ",%.*s\n", (int)h[i].vlen, h[i].value);
        } else {
            rc = buf_printf(out, "%s:%.*s\n", h[i].name, (int)h[i].vlen, h[i].value);
        }
    }
    return rc;
}

static int param_cmp(const void *a, const void *b)
{
    const struct sigv4_param *x = *(const struct sigv4_param *const *)a,
                             *y = *(const struct sigv4_param *const *)b;
    return strcmp(x->name, y->name);
}

/* CanonicalizedResource */
static int canonical_resource(const struct osssign_request *r, struct buf *out)
{
    int rc;
    if (r->bucket && *r->bucket)
        rc = buf_printf(out, "/%s/%s", r->bucket, r->key ? r->key : "");
    else
        rc = buf_puts(out, "/");
    const struct sigv4_param *sub[OSSSIGN_MAX];
    size_t n = 0;
    for (size_t i = 0; i < r->nquery && rc == 0; i++) {
        if (!osssign_subresource(r->query[i].name)) continue;
        if (n == OSSSIGN_MAX) return WERR_INVALID;
        sub[n++] = &r->query[i];
    }
    qsort(sub, n, sizeof *sub, param_cmp);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *v = sub[i]->value;
        rc = buf_printf(out, "%s%s%s%s", i ? "&" : "?", sub[i]->name, v && *v ? "=" : "",
                        v ? v : "");
    }
    return rc;
}

int osssign_string_to_sign(const struct osssign_request *r, struct buf *out)
{
    if (!r->method || !*r->method || !r->date || !*r->date) return WERR_INVALID;
    int rc = buf_printf(out, "%s\n%s\n%s\n%s\n", r->method, header(r, "content-md5"),
                        header(r, "content-type"), r->date);
    if (rc == 0) rc = canonical_headers(r, out);
    if (rc == 0) rc = canonical_resource(r, out);
    return rc;
}

/* base64(HMAC-SHA1(secret, string to sign)) into sig[32] */
static int signature(const char *secret, const struct osssign_request *r, char sig[32])
{
    struct buf s;
    buf_init(&s, 0);
    int rc = osssign_string_to_sign(r, &s);
    if (rc == 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)s.data, s.len, md,
                  &mdlen) ||
            mdlen != 20)
            rc = WERR_INVALID;
        else
            EVP_EncodeBlock((unsigned char *)sig, md, (int)mdlen); /* 28 chars + NUL */
    }
    buf_free(&s);
    return rc;
}

int osssign_authorization(const char *akid, const char *secret, const struct osssign_request *r,
                          struct buf *out)
{
    char sig[32];
    int rc = signature(secret, r, sig);
    return rc ? rc : buf_printf(out, "OSS %s:%s", akid, sig);
}

int osssign_url_query(const char *akid, const char *secret, const struct osssign_request *r,
                      long long expires, struct buf *out)
{
    char exp[24], sig[32];
    snprintf(exp, sizeof exp, "%lld", expires);
    struct osssign_request u = *r;
    u.date = exp;
    int rc = signature(secret, &u, sig);
    for (size_t i = 0; i < r->nquery && rc == 0; i++) {
        const char *v = r->query[i].value;
        if ((rc = sigv4_encode(out, r->query[i].name, strlen(r->query[i].name), 0)) == 0 &&
            (rc = buf_append(out, "=", 1)) == 0 && v)
            rc = sigv4_encode(out, v, strlen(v), 0);
        if (rc == 0) rc = buf_append(out, "&", 1);
    }
    if (rc == 0) rc = buf_puts(out, "OSSAccessKeyId=");
    if (rc == 0) rc = sigv4_encode(out, akid, strlen(akid), 0);
    if (rc == 0) rc = buf_printf(out, "&Expires=%s&Signature=", exp);
    if (rc == 0) rc = sigv4_encode(out, sig, strlen(sig), 0);
    return rc;
}
