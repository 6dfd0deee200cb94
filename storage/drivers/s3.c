/* s3.c — the S3 storage driver, see s3.h for the layout and the writer's
 * segments; also the Alibaba Cloud OSS driver (oss.h): OSS's REST API has
 * S3's shape, so the two differ only in a dialect (struct s3_dialect): how
 * a request is signed (SigV4 / OSS V1) and presigned, the prefix of the
 * service's own headers (x-amz- / x-oss-), and a few limits. */
#include "s3.h"
#include "oss.h"

#include "objstore.h"
#include "xml.h"
#include "../../lib/curl_lazy.h"
#include "../../lib/err.h"
#include "../../lib/log.h"
#include "../../lib/osssign.h"
#include "../../lib/parallel.h"
#include "../../lib/sigv4.h"
#include "../lease.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define S3_PATH_MAX 900          /* a key is at most 1024 bytes: root + path + state suffix */
#define S3_MIN_PART (5L << 20)   /* S3's smallest part but the last */
#define S3_MAX_PARTS 10000       /* S3's most parts of one multipart upload */
#define S3_MAX_COPY (5LL << 30)  /* largest part copy (and S3's single CopyObject) */
#define S3_READ_BLOCK (4L << 20) /* a reader fetches this much per ranged GET */
#define S3_XML_MAX (16L << 20)   /* a listing or result document */
#define S3_ERR_MAX (64L << 10)   /* an error document */
#define S3_INDEX_MAX (4L << 20)  /* a writer's index object */
#define S3_TRIES 6               /* attempts of one request */
#define S3_POOL_MAX 64           /* idle curl handles kept */
#define S3_STATE "/.tmp-w/"      /* a writer's state under the file's key */
#define S3_INDEX_MAGIC "wharf-s3-writer 1\n"
#define TMP_PREFIX STORAGE_TMP_PREFIX

struct s3_driver;
struct s3_req;

/* what S3 and OSS do differently */
struct s3_dialect {
    const char *name;                     /* in logs: "s3", "oss" */
    const char *copy_source, *copy_range; /* the copy headers */
    const char *sse;                      /* the server-side encryption header */
    long long max_copy;                   /* largest single CopyObject */
    const char *range_header;             /* sent with ranged GETs (or NULL) */
    /* sign: append the signer's own headers (date, ...) to hs (*nh of at
     * most cap used; hs[0] is host) and the Authorization value to auth.
     * path is the request's absolute path, unencoded. */
    int (*sign)(struct s3_driver *d, struct arena *a, const struct s3_req *r, const char *path,
                const char *body_hash, struct sigv4_param *hs, size_t *nh, size_t cap,
                struct buf *auth);
    /* presign: the query of a GET URL for key at host/path, into q */
    int (*presign)(struct s3_driver *d, struct arena *a, const char *key, const char *host,
                   const char *path, struct buf *q);
};

struct s3_driver {
    struct storage_driver base;
    const struct s3_dialect *dl;
    char *bucket, *prefix; /* prefix: "" or "root/" */
    char *scheme, *host;   /* host[:port] of requests */
    int pathstyle;         /* "/bucket/key" rather than bucket.host */
    char *access, *secret, *token, *region;
    char *storageclass, *acl, *keyid, *useragent, *cabundle;
    int encrypt, skipverify, sign_payload, debug;
    long chunksize, copychunk, copyconc, copythreshold;
    long presign_expiry;
    pthread_mutex_t mu; /* guards pool */
    CURL *pool[S3_POOL_MAX];
    size_t npool;
};

static const struct storage_driver_ops s3_ops;
static const struct storage_reader_ops s3_reader_ops;
static const struct storage_writer_ops s3_writer_ops;

/* ---------------------------------------------------------------- paths */

/* path_check: storage_path_check, and no control characters (they would
 * break the XML of listings). */
static int path_check(const char *p, int allow_root)
{
    int rc = storage_path_check(p, S3_PATH_MAX, allow_root);
    if (rc) return rc;
    for (const char *c = p; *c; c++) /* a key with control characters breaks XML listings */
        if ((unsigned char)*c < 0x20) return WERR_INVALID;
    return 0;
}

/* key of a path ("" + prefix for "/"), arena */
static char *key_of(struct s3_driver *d, struct arena *a, const char *path)
{
    return arena_printf(a, "%s%s", d->prefix, path[1] ? path + 1 : "");
}

/* the directory prefix of a path: "key/" (or the root prefix) */
static char *dir_of(struct s3_driver *d, struct arena *a, const char *path)
{
    return path[1] ? arena_printf(a, "%s%s/", d->prefix, path + 1) : arena_strdup(a, d->prefix);
}

/* ---------------------------------------------------------------- xml */

/* ---------------------------------------------------------------- http */

struct s3_req {
    const char *method;
    const char *key; /* object key, unencoded; NULL: the bucket */
    const struct sigv4_param *query;
    size_t nquery;
    const struct sigv4_param *hdrs; /* extra headers, signed */
    size_t nhdrs;
    const void *body;
    size_t body_len;
    int put_meta;    /* PUT/copy/create: add storage class, ACL, encryption */
    size_t resp_max; /* bytes of body kept (0: none) */
    /* results */
    long status;
    struct buf *resp; /* body (2xx), NULL: discarded */
    char etag[160];
    int64_t length; /* Content-Length, -1 unknown */
    int64_t total;  /* from Content-Range "/N", -1 unknown */
    time_t mtime;
    char code[64]; /* S3 error code of a failed request */
};

struct xfer {
    struct s3_req *r;
    struct buf *body; /* where the response body goes */
    size_t max;
    int overflow;
    const char *up;
    size_t uplen, upoff;
};

static size_t on_write(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = sz * n;
    if (!x->body) return len;
    if (x->body->len + len > x->max) {
        x->overflow = 1;
        return 0;
    }
    return buf_append(x->body, p, len) == 0 ? len : 0;
}

static size_t on_read(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = sz * n, left = x->uplen - x->upoff;
    if (len > left) len = left;
    memcpy(p, x->up + x->upoff, len);
    x->upoff += len;
    return len;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    struct xfer *x = ud;
    if (origin != SEEK_SET || off < 0 || (size_t)off > x->uplen) return CURL_SEEKFUNC_FAIL;
    x->upoff = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = sz * n;
    char *colon = memchr(p, ':', len);
    if (!colon) return len;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    char val[160];
    if (vl >= sizeof val) return len;
    memcpy(val, v, vl);
    val[vl] = '\0';
    if (nl == 4 && !strncasecmp(p, "etag", 4)) {
        snprintf(x->r->etag, sizeof x->r->etag, "%s", val);
    } else if (nl == 14 && !strncasecmp(p, "content-length", 14)) {
        x->r->length = strtoll(val, NULL, 10);
    } else if (nl == 13 && !strncasecmp(p, "content-range", 13)) {
        char *slash = strrchr(val, '/');
        if (slash && slash[1] != '*') x->r->total = strtoll(slash + 1, NULL, 10);
    } else if (nl == 13 && !strncasecmp(p, "last-modified", 13)) {
        time_t t = curl_getdate(val, NULL);
        if (t > 0) x->r->mtime = t;
    }
    return len;
}

static CURL *handle_get(struct s3_driver *d)
{
    CURL *h = NULL;
    pthread_mutex_lock(&d->mu);
    if (d->npool) h = d->pool[--d->npool];
    pthread_mutex_unlock(&d->mu);
    if (!h) h = curl_easy_init();
    if (!h) {
        fputs("wharf: out of memory\n", stderr);
        abort();
    }
    return h;
}

static void handle_put(struct s3_driver *d, CURL *h)
{
    pthread_mutex_lock(&d->mu);
    if (d->npool < S3_POOL_MAX) {
        d->pool[d->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&d->mu);
    if (h) curl_easy_cleanup(h);
}

/* full: the store is out of space (HTTP 507, MinIO's XMinioStorageFull): not
 * worth retrying within the request */
static int full(long st, const char *code)
{
    return st == 507 || !strcmp(code, "XMinioStorageFull");
}

static int status_err(long st, const char *code)
{
    if (st == 404) return WERR_NOTFOUND;
    if (st == 403 || st == 401) return WERR_DENIED;
    if (st == 416) return WERR_RANGE;
    if (st == 412) return WERR_EXISTS;
    if (st == 400 && (!strcmp(code, "EntityTooSmall") || !strcmp(code, "InvalidPart") ||
                      !strcmp(code, "InvalidArgument") || !strcmp(code, "InvalidRequest")))
        return WERR_INVALID;
    if (st == 400 && !strcmp(code, "EntityTooLarge")) return WERR_TOOBIG;
    if (full(st, code)) return WERR_NOSPACE;
    return WERR_IO;
}

static int retryable(long st, const char *code)
{
    return (st >= 500 && !full(st, code)) || st == 429 || !strcmp(code, "SlowDown") ||
           !strcmp(code, "RequestTimeout") || !strcmp(code, "Throttling") ||
           !strcmp(code, "RequestTimeTooSkewed");
}

/* ---------------------------------------------------------------- signers */

/* AWS Signature V4: x-amz-date, the payload hash, the session token */
static int sign_sigv4(struct s3_driver *d, struct arena *a, const struct s3_req *r,
                      const char *path, const char *body_hash, struct sigv4_param *hs, size_t *nh,
                      size_t cap, struct buf *auth)
{
    if (*nh + 3 > cap) return WERR_TOOBIG;
    char *date = arena_alloc(a, 17);
    sigv4_amzdate(time(NULL), date);
    hs[(*nh)++] = (struct sigv4_param){"x-amz-date", date};
    hs[(*nh)++] = (struct sigv4_param){"x-amz-content-sha256", body_hash};
    if (d->token) hs[(*nh)++] = (struct sigv4_param){"x-amz-security-token", d->token};
    struct sigv4_creds cr = {d->access, d->secret, d->region, "s3"};
    struct sigv4_request sr = {r->method, path, r->query, r->nquery, hs, *nh, body_hash};
    return sigv4_authorization(&cr, &sr, date, auth);
}

static int presign_sigv4(struct s3_driver *d, struct arena *a, const char *key, const char *host,
                         const char *path, struct buf *q)
{
    (void)a;
    (void)key;
    char date[17];
    sigv4_amzdate(time(NULL), date);
    struct sigv4_creds cr = {d->access, d->secret, d->region, "s3"};
    struct sigv4_param extra[1] = {{"X-Amz-Security-Token", d->token}};
    return sigv4_presign_query(&cr, "GET", path, host, date, d->presign_expiry, extra,
                               d->token ? 1 : 0, q);
}

/* OSS signature V1 (lib/osssign.h): Date, the STS token; the resource is
 * "/bucket/key" whatever the host style */
static int sign_oss(struct s3_driver *d, struct arena *a, const struct s3_req *r, const char *path,
                    const char *body_hash, struct sigv4_param *hs, size_t *nh, size_t cap,
                    struct buf *auth)
{
    (void)path;
    (void)body_hash;
    if (*nh + 2 > cap) return WERR_TOOBIG;
    char *date = arena_alloc(a, 32);
    osssign_date(time(NULL), date);
    hs[(*nh)++] = (struct sigv4_param){"Date", date};
    if (d->token) hs[(*nh)++] = (struct sigv4_param){"x-oss-security-token", d->token};
    struct osssign_request o = {r->method, d->bucket, r->key, r->query, r->nquery, hs, *nh, date};
    return osssign_authorization(d->access, d->secret, &o, auth);
}

static int presign_oss(struct s3_driver *d, struct arena *a, const char *key, const char *host,
                       const char *path, struct buf *q)
{
    (void)a;
    (void)host;
    (void)path;
    struct sigv4_param tq[1] = {{"security-token", d->token}};
    struct osssign_request o = {"GET", d->bucket, key, tq, d->token ? 1 : 0, NULL, 0, NULL};
    return osssign_url_query(d->access, d->secret, &o, (long long)time(NULL) + d->presign_expiry,
                             q);
}

static const struct s3_dialect DIALECT_S3 = {
    .name = "s3",
    .copy_source = "x-amz-copy-source",
    .copy_range = "x-amz-copy-source-range",
    .sse = "x-amz-server-side-encryption",
    .max_copy = S3_MAX_COPY,
    .range_header = NULL,
    .sign = sign_sigv4,
    .presign = presign_sigv4,
};

static const struct s3_dialect DIALECT_OSS = {
    .name = "oss",
    .copy_source = "x-oss-copy-source",
    .copy_range = "x-oss-copy-source-range",
    .sse = "x-oss-server-side-encryption",
    .max_copy = 1LL << 30, /* CopyObject copies up to 1 GB; larger ones by part copies */
    .range_header = "x-oss-range-behavior",
    .sign = sign_oss,
    .presign = presign_oss,
};

/* one attempt; rc: 0 (2xx), a WERR_* (HTTP error), or 1 (transport error) */
static int attempt(struct s3_driver *d, CURL *h, struct s3_req *r, const char *body_hash)
{
    struct arena *a = arena_new();
    struct buf *url = buf_arena_new(a, 0), *auth = buf_arena_new(a, 0);
    struct buf errbody;
    buf_init(&errbody, S3_ERR_MAX);
    int rc = 0;
    const char *host = d->pathstyle ? d->host : arena_printf(a, "%s.%s", d->bucket, d->host);
    const char *key = r->key ? r->key : "";
    char *path = d->pathstyle ? arena_printf(a, "/%s%s%s", d->bucket, r->key ? "/" : "", key)
                              : arena_printf(a, "/%s", key);
    /* headers to sign: host, the request's, the metadata, then the signer's own */
    struct sigv4_param hs[32];
    size_t nh = 0;
    hs[nh++] = (struct sigv4_param){"host", host};
    for (size_t i = 0; i < r->nhdrs && nh < 20; i++)
        hs[nh++] = r->hdrs[i];
    if (r->put_meta) {
        if (d->storageclass)
            hs[nh++] = (struct sigv4_param){"x-amz-storage-class", d->storageclass};
        if (d->acl) hs[nh++] = (struct sigv4_param){"x-amz-acl", d->acl};
        if (d->encrypt)
            hs[nh++] = (struct sigv4_param){d->dl->sse, d->keyid ? "aws:kms" : "AES256"};
        if (d->encrypt && d->keyid)
            hs[nh++] =
                (struct sigv4_param){"x-amz-server-side-encryption-aws-kms-key-id", d->keyid};
    }
    if ((rc = d->dl->sign(d, a, r, path, body_hash, hs, &nh, sizeof hs / sizeof *hs, auth)) != 0)
        goto out;
    /* the URL: the same encoding as the canonical request */
    if ((rc = buf_printf(url, "%s://%s", d->scheme, host)) != 0 ||
        (rc = sigv4_encode(url, path, strlen(path), 1)) != 0)
        goto out;
    for (size_t i = 0; i < r->nquery; i++) {
        const char *v = r->query[i].value;
        if ((rc = buf_append(url, i ? "&" : "?", 1)) != 0 ||
            (rc = sigv4_encode(url, r->query[i].name, strlen(r->query[i].name), 0)) != 0 ||
            (rc = buf_append(url, "=", 1)) != 0 ||
            (rc = sigv4_encode(url, v ? v : "", v ? strlen(v) : 0, 0)) != 0)
            goto out;
    }
    struct curl_slist *hl = NULL;
    for (size_t i = 1; i < nh; i++) /* host: curl sends it from the URL */
        hl = curl_slist_append(hl, arena_printf(a, "%s: %s", hs[i].name, hs[i].value));
    hl = curl_slist_append(hl, arena_printf(a, "Authorization: %s", auth->data));
    hl = curl_slist_append(hl, "Expect:");
    if (!r->body_len && (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")))
        hl = curl_slist_append(hl, "Content-Type:");
    struct xfer x = {.r = r, .up = r->body, .uplen = r->body_len};
    r->etag[0] = '\0';
    r->length = r->total = -1;
    r->mtime = 0;
    r->code[0] = '\0';
    if (r->resp) r->resp->len = 0;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url->data);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    if (d->useragent) curl_easy_setopt(h, CURLOPT_USERAGENT, d->useragent);
    if (d->skipverify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (d->cabundle) curl_easy_setopt(h, CURLOPT_CAINFO, d->cabundle);
    if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(r->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &x);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (!strcmp(r->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    /* the body goes to r->resp only on success: collect into errbody first
     * when the status is not known yet, then swap */
    x.body = &errbody;
    x.max = r->resp ? (r->resp_max > S3_ERR_MAX ? r->resp_max : S3_ERR_MAX) : S3_ERR_MAX;
    errbody.cap = x.max;
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hl);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (cc == CURLE_WRITE_ERROR && x.overflow && r->status / 100 == 2) {
        rc = WERR_TOOBIG;
        goto out;
    }
    if (cc != CURLE_OK) {
        log_debug("%s: %s %s: %s", d->dl->name, r->method, key, curl_easy_strerror(cc));
        rc = 1;
        goto out;
    }
    if (r->status / 100 == 2) {
        /* CompleteMultipartUpload and copies may fail inside a 200 */
        const char *b = errbody.data ? errbody.data : "";
        if (errbody.len && strcmp(r->method, "GET")) {
            const char *p = b, *e = b + errbody.len;
            if (!strncmp(p, "<?xml", 5) && (p = memchr(p, '>', (size_t)(e - p))) != NULL) p++;
            while (p && p < e && (*p == ' ' || *p == '\r' || *p == '\n' || *p == '\t'))
                p++;
            const char *vs, *ve;
            if (p && (size_t)(e - p) > 7 && !strncmp(p, "<Error>", 7) &&
                xml_find(p, e, "Error", &vs, &ve, NULL)) {
                const char *cs, *ce;
                if (xml_find(vs, ve, "Code", &cs, &ce, NULL))
                    snprintf(r->code, sizeof r->code, "%.*s", (int)(ce - cs), cs);
                r->status = 500;
                rc = 1;
                goto out;
            }
        }
        if (r->resp) {
            if (errbody.len > r->resp_max) {
                rc = WERR_TOOBIG;
                goto out;
            }
            buf_free(r->resp);
            *r->resp = errbody;
            r->resp->cap = r->resp_max;
            buf_init(&errbody, 0);
        }
        rc = 0;
        goto out;
    }
    if (errbody.len) {
        const char *cs, *ce;
        if (xml_find(errbody.data, errbody.data + errbody.len, "Code", &cs, &ce, NULL))
            snprintf(r->code, sizeof r->code, "%.*s", (int)(ce - cs), cs);
    }
    rc = retryable(r->status, r->code) ? 1 : status_err(r->status, r->code);
    if (rc == WERR_NOSPACE)
        log_warn("%s: %s %s: HTTP %ld %s: the store is full", d->dl->name, r->method, key,
                 r->status, r->code);
    else if (r->status != 404)
        log_debug("%s: %s %s: HTTP %ld %s", d->dl->name, r->method, key, r->status, r->code);
out:
    buf_free(&errbody);
    arena_free(a);
    return rc;
}

/* s3_do: the request with retries (backoff 50 ms doubling, jittered, to 3.2 s). */
static int s3_do(struct s3_driver *d, struct s3_req *r)
{
    char hash[65];
    const char *body_hash = SIGV4_UNSIGNED;
    if (!r->body_len)
        body_hash = SIGV4_EMPTY_SHA256;
    else if (d->sign_payload) {
        sigv4_sha256_hex(r->body, r->body_len, hash);
        body_hash = hash;
    }
    CURL *h = handle_get(d);
    int rc = WERR_IO;
    long delay = 50;
    for (int i = 0; i < S3_TRIES; i++) {
        rc = attempt(d, h, r, body_hash);
        if (rc != 1) break;
        if (i + 1 < S3_TRIES) {
            unsigned char j;
            RAND_bytes(&j, 1);
            struct timespec ts = {delay / 1000, (delay % 1000 + j % 50) * 1000000L};
            nanosleep(&ts, NULL);
            if (delay < 3200) delay *= 2;
        }
    }
    handle_put(d, h);
    if (rc == 1) {
        log_warn("%s: %s %s failed after %d attempts (HTTP %ld %s)", d->dl->name, r->method,
                 r->key ? r->key : "", S3_TRIES, r->status, r->code);
        rc = WERR_IO;
    }
    return rc;
}

/* ---------------------------------------------------------------- objects */

static int obj_head(struct s3_driver *d, const char *key, int64_t *size, time_t *mtime, char *etag,
                    size_t etaglen)
{
    struct s3_req r = {.method = "HEAD", .key = key};
    int rc = s3_do(d, &r);
    if (rc) return rc;
    if (size) *size = r.length < 0 ? 0 : r.length;
    if (mtime) *mtime = r.mtime ? r.mtime : time(NULL);
    if (etag) snprintf(etag, etaglen, "%s", r.etag);
    return 0;
}

static int obj_put(struct s3_driver *d, const char *key, const void *data, size_t len)
{
    struct s3_req r = {.method = "PUT", .key = key, .body = data, .body_len = len, .put_meta = 1};
    return s3_do(d, &r);
}

static int obj_delete(struct s3_driver *d, const char *key)
{
    struct s3_req r = {.method = "DELETE", .key = key};
    int rc = s3_do(d, &r);
    return rc == WERR_NOTFOUND ? 0 : rc;
}

/* obj_get: bytes [off, off+len) of key (len < 0: all, bounded by max) into b */
static int obj_get(struct s3_driver *d, const char *key, int64_t off, int64_t len, size_t max,
                   const char *if_match, struct buf *b, int64_t *total, char *etag)
{
    struct sigv4_param h[3];
    size_t nh = 0;
    char range[64];
    if (off > 0 || len >= 0) {
        if (len >= 0)
            snprintf(range, sizeof range, "bytes=%" PRId64 "-%" PRId64, off, off + len - 1);
        else
            snprintf(range, sizeof range, "bytes=%" PRId64 "-", off);
        h[nh++] = (struct sigv4_param){"range", range};
        /* OSS answers a range past the end with the whole object and 200,
         * unless asked for the standard 416 */
        if (d->dl->range_header) h[nh++] = (struct sigv4_param){d->dl->range_header, "standard"};
    }
    if (if_match && *if_match) h[nh++] = (struct sigv4_param){"if-match", if_match};
    struct s3_req r = {
        .method = "GET", .key = key, .hdrs = h, .nhdrs = nh, .resp = b, .resp_max = max};
    int rc = s3_do(d, &r);
    if (total) *total = r.total >= 0 ? r.total : r.length;
    if (etag) snprintf(etag, sizeof r.etag, "%s", r.etag);
    return rc;
}

static char *copy_source(struct s3_driver *d, struct arena *a, const char *key)
{
    struct buf *b = buf_arena_new(a, 0);
    char *raw = arena_printf(a, "/%s/%s", d->bucket, key);
    sigv4_encode(b, raw, strlen(raw), 1);
    buf_append(b, "", 0);
    return b->data;
}

static int obj_copy(struct s3_driver *d, const char *src, const char *dst)
{
    struct arena *a = arena_new();
    struct sigv4_param h[1] = {{d->dl->copy_source, copy_source(d, a, src)}};
    struct s3_req r = {.method = "PUT", .key = dst, .hdrs = h, .nhdrs = 1, .put_meta = 1};
    int rc = s3_do(d, &r);
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- listing */

struct s3_entry {
    char *key; /* full key */
    int64_t size;
    time_t mtime;
    int is_prefix; /* a CommonPrefix */
};

struct s3_list {
    struct s3_entry *e;
    size_t n, cap;
};

static void list_add(struct arena *a, struct s3_list *l, char *key, int64_t size, time_t mtime,
                     int is_prefix)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct s3_entry *ne = arena_alloc(a, nc * sizeof *ne);
        if (l->n) memcpy(ne, l->e, l->n * sizeof *ne);
        l->e = ne;
        l->cap = nc;
    }
    l->e[l->n++] = (struct s3_entry){key, size, mtime, is_prefix};
}

static time_t iso_time(const char *s)
{
    struct tm tm = {0};
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
    return timegm(&tm);
}

/* list_page: one ListObjectsV2 result page (len bytes at s) added to out:
 * Contents keys with size and mtime, CommonPrefixes as prefixes; *token the
 * continuation token (arena) when the listing is truncated, else NULL. */
static void list_page(struct arena *a, const char *s, size_t len, struct s3_list *out, char **token)
{
    const char *e = s + len, *vs, *ve, *next;
    const char *p = s;
    while (xml_find(p, e, "Contents", &vs, &ve, &next)) {
        char *k = xml_get(a, vs, ve, "Key"), *sz = xml_get(a, vs, ve, "Size");
        if (k)
            list_add(a, out, k, sz ? strtoll(sz, NULL, 10) : 0,
                     iso_time(xml_get(a, vs, ve, "LastModified")), 0);
        p = next;
    }
    p = s;
    while (xml_find(p, e, "CommonPrefixes", &vs, &ve, &next)) {
        char *k = xml_get(a, vs, ve, "Prefix");
        if (k) list_add(a, out, k, 0, 0, 1);
        p = next;
    }
    char *trunc = xml_get(a, s, e, "IsTruncated");
    *token = xml_get(a, s, e, "NextContinuationToken");
    if (!trunc || strcmp(trunc, "true") || !*token || !**token) *token = NULL;
}

/* list_keys: ListObjectsV2 of prefix (delim: "/" or NULL), every page, at most
 * limit entries (0: no limit). */
static int list_keys(struct s3_driver *d, struct arena *a, const char *prefix, const char *delim,
                     size_t limit, struct s3_list *out)
{
    char *token = NULL;
    char maxk[16];
    snprintf(maxk, sizeof maxk, "%zu", limit && limit < 1000 ? limit : (size_t)1000);
    memset(out, 0, sizeof *out);
    for (;;) {
        struct sigv4_param q[5];
        size_t nq = 0;
        q[nq++] = (struct sigv4_param){"list-type", "2"};
        q[nq++] = (struct sigv4_param){"prefix", prefix};
        q[nq++] = (struct sigv4_param){"max-keys", maxk};
        if (delim) q[nq++] = (struct sigv4_param){"delimiter", delim};
        if (token) q[nq++] = (struct sigv4_param){"continuation-token", token};
        struct buf *b = buf_arena_new(a, S3_XML_MAX);
        struct s3_req r = {
            .method = "GET", .query = q, .nquery = nq, .resp = b, .resp_max = S3_XML_MAX};
        int rc = s3_do(d, &r);
        if (rc) return rc;
        list_page(a, b->data ? b->data : "", b->len, out, &token);
        if (!token) break;
        if (limit && out->n >= limit) break;
    }
    return 0;
}

/* delete_result: a DeleteObjects result (len bytes at s): 0 when every
 * <Error> in it is NoSuchKey (a key that is already gone is fine), else WERR_IO */
static int delete_result(const char *s, size_t len)
{
    const char *p = s, *e = s + len, *vs, *ve, *next;
    while (xml_find(p, e, "Error", &vs, &ve, &next)) {
        const char *cs, *ce;
        /* the whole code: an empty one or "No" is not NoSuchKey */
        if (!xml_find(vs, ve, "Code", &cs, &ce, NULL) || (size_t)(ce - cs) != 9 ||
            strncmp(cs, "NoSuchKey", 9))
            return WERR_IO;
        p = next;
    }
    return 0;
}

/* delete_keys: DeleteObjects in batches of 1000 (Content-MD5 as S3 requires) */
static int delete_keys(struct s3_driver *d, struct s3_list *l)
{
    int rc = 0;
    for (size_t i = 0; i < l->n && rc == 0;) {
        struct buf b;
        buf_init(&b, 0);
        buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>");
        size_t k = 0;
        for (; i < l->n && k < 1000; i++) {
            if (l->e[i].is_prefix) continue;
            buf_puts(&b, "<Object><Key>");
            xml_escape(&b, l->e[i].key);
            buf_puts(&b, "</Key></Object>");
            k++;
        }
        rc = buf_puts(&b, "</Delete>");
        if (k && rc == 0) {
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned int mdlen = 0;
            EVP_Digest(b.data, b.len, md, &mdlen, EVP_md5(), NULL);
            char md5b64[32];
            EVP_EncodeBlock((unsigned char *)md5b64, md, (int)mdlen);
            struct sigv4_param q[1] = {{"delete", ""}};
            struct sigv4_param h[2] = {{"content-md5", md5b64},
                                       {"content-type", "application/xml"}};
            struct buf resp;
            buf_init(&resp, 0);
            struct s3_req r = {.method = "POST",
                               .query = q,
                               .nquery = 1,
                               .hdrs = h,
                               .nhdrs = 2,
                               .body = b.data,
                               .body_len = b.len,
                               .resp = &resp,
                               .resp_max = S3_XML_MAX};
            rc = s3_do(d, &r);
            if (rc == 0 && resp.len && strstr(resp.data, "<Error>"))
                rc = delete_result(resp.data, resp.len);
            buf_free(&resp);
        }
        buf_free(&b);
    }
    return rc;
}

/* ---------------------------------------------------------------- writer state */

struct seg {
    char *name; /* object name under the state prefix ("s/<start hex>-<rand>") */
    int64_t start, size;
};

struct segs {
    struct seg *v;
    size_t n, cap;
};

static void segs_add(struct segs *s, const char *name, int64_t start, int64_t size)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        struct seg *nv = realloc(s->v, s->cap * sizeof *nv);
        if (!nv) abort();
        s->v = nv;
    }
    s->v[s->n++] = (struct seg){xstrdup(name), start, size};
}

static void segs_free(struct segs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].name);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int64_t segs_size(const struct segs *s)
{
    return s->n ? s->v[s->n - 1].start + s->v[s->n - 1].size : 0;
}

static char *state_key(struct arena *a, const char *key, const char *name)
{
    return arena_printf(a, "%s%s%s", key, S3_STATE, name);
}

/* index_load: the segments of key's writer state; WERR_NOTFOUND without one */
static int index_load(struct s3_driver *d, const char *key, struct segs *out, time_t *mtime)
{
    struct arena *a = arena_new();
    struct buf *b = buf_arena_new(a, S3_INDEX_MAX);
    memset(out, 0, sizeof *out);
    int rc = obj_get(d, state_key(a, key, "index"), 0, -1, S3_INDEX_MAX, NULL, b, NULL, NULL);
    if (rc) goto out;
    if (mtime) {
        /* the index is rewritten at every close: its time is the file's */
        *mtime = time(NULL);
    }
    const char *p = b->data ? b->data : "";
    size_t ml = strlen(S3_INDEX_MAGIC);
    if (b->len < ml || strncmp(p, S3_INDEX_MAGIC, ml)) {
        rc = WERR_IO;
        goto out;
    }
    p += ml;
    int64_t expect = 0;
    while (*p) {
        char name[96];
        long long start, size;
        int used = 0;
        if (sscanf(p, "%95s %lld %lld\n%n", name, &start, &size, &used) != 3 || used <= 0 ||
            start != expect || size < 0) {
            rc = WERR_IO;
            goto out;
        }
        segs_add(out, name, start, size);
        expect = start + size;
        p += used;
    }
out:
    if (rc) segs_free(out);
    arena_free(a);
    return rc;
}

static int index_save(struct s3_driver *d, const char *key, const struct segs *s)
{
    struct buf b;
    buf_init(&b, S3_INDEX_MAX);
    struct arena *a = arena_new();
    int rc = buf_puts(&b, S3_INDEX_MAGIC);
    for (size_t i = 0; i < s->n && rc == 0; i++)
        rc = buf_printf(&b, "%s %" PRId64 " %" PRId64 "\n", s->v[i].name, s->v[i].start,
                        s->v[i].size);
    if (rc == 0) rc = obj_put(d, state_key(a, key, "index"), b.data, b.len);
    arena_free(a);
    buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- stat */

enum kind { K_NONE, K_FILE, K_SEGMENTED, K_DIR };

/* what a path is: a plain object, a writer's segmented file, a directory */
static int classify(struct s3_driver *d, struct arena *a, const char *path, int64_t *size,
                    time_t *mtime, enum kind *kind)
{
    *kind = K_NONE;
    *size = 0;
    *mtime = 0;
    if (!path[1]) {
        *kind = K_DIR;
        return 0;
    }
    char *key = key_of(d, a, path);
    int rc = obj_head(d, key, size, mtime, NULL, 0);
    if (rc == 0) {
        *kind = K_FILE;
        return 0;
    }
    if (rc != WERR_NOTFOUND) return rc;
    struct segs s;
    rc = index_load(d, key, &s, mtime);
    if (rc == 0) {
        *size = segs_size(&s);
        segs_free(&s);
        *kind = K_SEGMENTED;
        return 0;
    }
    if (rc != WERR_NOTFOUND) return rc;
    struct s3_list l;
    if ((rc = list_keys(d, a, dir_of(d, a, path), NULL, 1, &l)) != 0) return rc;
    if (l.n) {
        *kind = K_DIR;
        *mtime = l.e[0].mtime;
    }
    return 0;
}

static int s3_stat(struct storage_driver *base, const char *path, struct storage_stat *st)
{
    struct s3_driver *d = (struct s3_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    struct arena *a = arena_new();
    enum kind k;
    int64_t size;
    time_t mtime;
    rc = classify(d, a, path, &size, &mtime, &k);
    arena_free(a);
    if (rc) return rc;
    if (k == K_NONE) return WERR_NOTFOUND;
    st->is_dir = k == K_DIR;
    st->size = st->is_dir ? 0 : size;
    st->mtime = mtime ? mtime : time(NULL);
    return 0;
}

/* ---------------------------------------------------------------- reader */

struct s3_reader {
    struct storage_reader base;
    struct s3_driver *d;
    int open;
    char *key;        /* plain object (malloc), or NULL for segments */
    char etag[160];   /* the version read (If-Match) */
    struct segs segs; /* segmented file */
    char *statekey;   /* malloc: key + S3_STATE */
    int64_t size, pos;
    struct buf blk; /* fetched bytes [blk_off, blk_off + blk.len) */
    int64_t blk_off;
};

static void reader_release(struct s3_reader *r)
{
    if (!r->open) return;
    r->open = 0;
    free(r->key);
    free(r->statekey);
    segs_free(&r->segs);
    buf_free(&r->blk);
}

static void reader_cleanup(void *p)
{
    reader_release(p);
}

static int s3_reader(struct storage_driver *base, struct arena *a, const char *path, int64_t offset,
                     struct storage_reader **out)
{
    struct s3_driver *d = (struct s3_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    if (offset < 0) return WERR_RANGE;
    struct arena *t = arena_new();
    char *key = key_of(d, t, path);
    struct s3_reader *r = arena_zalloc(a, sizeof *r);
    r->base.ops = &s3_reader_ops;
    r->d = d;
    /* the first block, the size and the version in one response: a put in
     * between cannot mix two versions (later blocks are read If-Match) */
    for (int look = 0;; look++) {
        buf_init(&r->blk, 0);
        rc =
            obj_get(d, key, offset, S3_READ_BLOCK, S3_READ_BLOCK, NULL, &r->blk, &r->size, r->etag);
        if (rc == 0) {
            r->key = xstrdup(key);
            r->blk_off = offset;
        } else if (rc == WERR_RANGE) {
            /* at or past the end (an empty object has no byte 0) */
            buf_free(&r->blk);
            if ((rc = obj_head(d, key, &r->size, NULL, r->etag, sizeof r->etag)) == 0) {
                r->key = xstrdup(key);
                r->blk_off = offset;
                if (offset > r->size) rc = WERR_RANGE;
            }
        } else if (rc == WERR_NOTFOUND && (rc = index_load(d, key, &r->segs, NULL)) == 0) {
            r->size = segs_size(&r->segs);
            r->statekey = xstrdup(state_key(t, key, ""));
        }
        /* Swift (eventually consistent for overwrites) can answer 404 for an
         * object while it is being replaced; S3 proper never does. Readers
         * are opened after a stat, so a second look costs a request only
         * when the object is really gone. */
        if (rc != WERR_NOTFOUND || look == 1) break;
        buf_free(&r->blk);
    }
    arena_free(t);
    if (rc == 0 && offset > r->size) rc = WERR_RANGE;
    if (rc) {
        free(r->key);
        free(r->statekey);
        segs_free(&r->segs);
        buf_free(&r->blk);
        return rc;
    }
    r->pos = offset;
    r->open = 1;
    arena_cleanup(a, reader_cleanup, r);
    *out = &r->base;
    return 0;
}

static ssize_t s3_read(struct storage_reader *base, void *buf, size_t n)
{
    struct s3_reader *r = (struct s3_reader *)base;
    if (!r->open) return WERR_INVALID;
    if (r->pos >= r->size || n == 0) return 0;
    if (!(r->pos >= r->blk_off && r->pos < r->blk_off + (int64_t)r->blk.len)) {
        /* fetch the next block: from the plain object, or the segment holding pos */
        const char *key = r->key;
        int64_t base_off = 0, limit = r->size;
        char *segkey = NULL;
        if (!key) {
            size_t i = 0;
            while (i + 1 < r->segs.n && r->segs.v[i].start + r->segs.v[i].size <= r->pos)
                i++;
            if (i >= r->segs.n) return WERR_IO;
            size_t kl = strlen(r->statekey) + strlen(r->segs.v[i].name) + 1;
            segkey = xmalloc(kl);
            snprintf(segkey, kl, "%s%s", r->statekey, r->segs.v[i].name);
            key = segkey;
            base_off = r->segs.v[i].start;
            limit = r->segs.v[i].start + r->segs.v[i].size;
        }
        int64_t want = limit - r->pos;
        if (want > S3_READ_BLOCK) want = S3_READ_BLOCK;
        r->blk.len = 0;
        r->blk.cap = 0;
        int rc = obj_get(r->d, key, r->pos - base_off, want, (size_t)want, r->key ? r->etag : NULL,
                         &r->blk, NULL, NULL);
        free(segkey);
        if (rc == WERR_EXISTS) rc = WERR_IO; /* replaced while read (If-Match failed) */
        if (rc) return rc;
        if ((int64_t)r->blk.len != want) return WERR_IO;
        r->blk_off = r->pos;
    }
    size_t avail = (size_t)(r->blk_off + (int64_t)r->blk.len - r->pos);
    if (n > avail) n = avail;
    memcpy(buf, r->blk.data + (r->pos - r->blk_off), n);
    r->pos += (int64_t)n;
    return (ssize_t)n;
}

static void s3_reader_close(struct storage_reader *base)
{
    reader_release((struct s3_reader *)base);
}

/* ---------------------------------------------------------------- whole content */

static int s3_get_content(struct storage_driver *base, struct arena *a, const char *path,
                          size_t max, char **data, size_t *len)
{
    struct s3_driver *d = (struct s3_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct buf b;
    buf_init(&b, 0);
    struct arena *t = arena_new();
    char *key = key_of(d, t, path);
    rc = obj_get(d, key, 0, -1, max, NULL, &b, NULL, NULL);
    if (rc == WERR_NOTFOUND) {
        /* a writer's segmented file */
        struct segs s;
        if (index_load(d, key, &s, NULL) == 0) {
            int64_t size = segs_size(&s);
            segs_free(&s);
            if ((uint64_t)size > max) {
                rc = WERR_TOOBIG;
                goto out;
            }
            struct storage_reader *r;
            if ((rc = s3_reader(base, t, path, 0, &r)) != 0) goto out;
            char *out = arena_alloc(a, (size_t)size + 1);
            size_t got = 0;
            while (got < (size_t)size) {
                ssize_t n = s3_read(r, out + got, (size_t)size - got);
                if (n <= 0) {
                    rc = n < 0 ? (int)n : WERR_IO;
                    goto out;
                }
                got += (size_t)n;
            }
            out[got] = '\0';
            *data = out;
            *len = got;
            rc = 0;
            goto out;
        }
        /* Swift (eventually consistent for overwrites) can answer 404 for an
         * object while it is being replaced — a tag re-pushed while it is
         * pulled; S3 proper never does. One more look, as s3_reader takes:
         * a real miss costs three requests instead of two. */
        buf_free(&b);
        buf_init(&b, 0);
        rc = obj_get(d, key, 0, -1, max, NULL, &b, NULL, NULL);
    }
    if (rc) goto out;
    char *out = arena_alloc(a, b.len + 1);
    if (b.len) memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    *data = out;
    *len = b.len;
out:
    buf_free(&b);
    arena_free(t);
    return rc;
}

static int s3_put_content(struct storage_driver *base, const char *path, const void *data,
                          size_t len)
{
    struct s3_driver *d = (struct s3_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct arena *a = arena_new();
    rc = obj_put(d, key_of(d, a, path), data, len);
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- list, delete, walk */

static int s3_list(struct storage_driver *base, struct arena *a, const char *path, char ***names,
                   size_t *n)
{
    struct s3_driver *d = (struct s3_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    struct arena *t = arena_new();
    char *dk = dir_of(d, t, path);
    struct s3_list l;
    if ((rc = list_keys(d, t, dk, "/", 0, &l)) != 0) goto out;
    char **v = arena_alloc(a, (l.n + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        char *nm = objstore_child_name(a, dk, l.e[i].key);
        if (nm) v[k++] = nm;
    }
    size_t u = objstore_sort_unique(v, k); /* a file x and a directory x/ list once */
    if (u == 0 && path[1]) {
        rc = WERR_NOTFOUND; /* no children: no directory (object stores keep none empty) */
        goto out;
    }
    v[u] = NULL;
    *names = v;
    *n = u;
out:
    arena_free(t);
    return rc;
}

/* list_page: ListObjectsV2 with start-after and max-keys: one request per
 * page. Names come in key order: a name that is a key prefix here (a
 * directory, or a file written through a writer, whose data lives under
 * "<key>/.tmp-w/") sorts as if it ended with '/', which differs from plain
 * name order only next to names holding bytes below '/' */
struct page_ent {
    const char *key, *name;
};

static int page_cmp(const void *x, const void *y)
{
    return strcmp(((const struct page_ent *)x)->key, ((const struct page_ent *)y)->key);
}

/* dir_page: the children of directory key dk named on one ListObjectsV2
 * page (len bytes at s, delimiter "/") into v, at most max, except after;
 * keys on t, names on a. Returns how many. */
static size_t dir_page(struct arena *t, struct arena *a, const char *s, size_t len, const char *dk,
                       const char *after, struct page_ent *v, size_t max)
{
    const char *e = s + len, *vs, *ve, *next, *p;
    size_t k = 0;
    static const char *const tags[2][2] = {{"Contents", "Key"}, {"CommonPrefixes", "Prefix"}};
    for (int w = 0; w < 2; w++) {
        for (p = s; k < max && xml_find(p, e, tags[w][0], &vs, &ve, &next); p = next) {
            char *key = xml_get(t, vs, ve, tags[w][1]);
            char *nm = key ? objstore_child_name(a, dk, key) : NULL;
            if (!nm || (after && strcmp(nm, after) == 0)) continue;
            v[k++] = (struct page_ent){key, nm};
        }
    }
    return k;
}

static int s3_list_page(struct storage_driver *base, struct arena *a, const char *path,
                        const char *after, size_t max, char ***names, size_t *n, int *more)
{
    struct s3_driver *d = (struct s3_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    if (after && strlen(after) > S3_PATH_MAX) return WERR_INVALID;
    struct arena *t = arena_new();
    char *dk = dir_of(d, t, path);
    size_t cap = max < 999 ? max + 1 : 1000; /* one more tells whether more exist */
    char maxk[16];
    snprintf(maxk, sizeof maxk, "%zu", cap);
    struct sigv4_param q[5];
    size_t nq = 0;
    q[nq++] = (struct sigv4_param){"list-type", "2"};
    q[nq++] = (struct sigv4_param){"prefix", dk};
    q[nq++] = (struct sigv4_param){"max-keys", maxk};
    q[nq++] = (struct sigv4_param){"delimiter", "/"};
    /* "x/" (x's own prefix) sorts after "x": the equality test below drops it */
    if (after && *after)
        q[nq++] = (struct sigv4_param){"start-after", arena_printf(t, "%s%s", dk, after)};
    struct page_ent *v = arena_alloc(t, (2 * cap + 1) * sizeof *v);
    char **out_names = NULL;
    size_t u = 0;
    int truncated = 0;
    for (int round = 0; round < 8 && u == 0; round++) { /* a page of only skipped names: on */
        struct buf *b = buf_arena_new(t, S3_XML_MAX);
        struct s3_req r = {
            .method = "GET", .query = q, .nquery = nq, .resp = b, .resp_max = S3_XML_MAX};
        if ((rc = s3_do(d, &r)) != 0) goto out;
        const char *s = b->data ? b->data : "", *e = s + b->len;
        size_t k = dir_page(t, a, s, b->len, dk, after, v, 2 * cap);
        qsort(v, k, sizeof *v, page_cmp);
        out_names = arena_alloc(a, (k + 1) * sizeof *out_names);
        for (size_t i = 0; i < k; i++)
            if (!u || strcmp(out_names[u - 1], v[i].name)) out_names[u++] = (char *)v[i].name;
        char *trunc = xml_get(t, s, e, "IsTruncated");
        char *token = xml_get(t, s, e, "NextContinuationToken");
        truncated = trunc && !strcmp(trunc, "true") && token && *token;
        if (!truncated) break;
        q[4] = (struct sigv4_param){"continuation-token", token};
        nq = 5;
    }
    *more = u > max || truncated;
    if (u > max) u = max;
    out_names[u] = NULL;
    *names = out_names;
    *n = u;
out:
    arena_free(t);
    return rc;
}

static int s3_delete(struct storage_driver *base, const char *path)
{
    struct s3_driver *d = (struct s3_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct arena *a = arena_new();
    char *key = key_of(d, a, path);
    int found = 0;
    rc = obj_head(d, key, NULL, NULL, NULL, 0);
    if (rc == 0) {
        found = 1;
        rc = obj_delete(d, key);
    } else if (rc == WERR_NOTFOUND) {
        rc = 0;
    }
    if (rc) goto out;
    /* the tree below (and a writer's state) */
    struct s3_list l;
    if ((rc = list_keys(d, a, dir_of(d, a, path), NULL, 0, &l)) != 0) goto out;
    if (l.n) {
        found = 1;
        rc = delete_keys(d, &l);
    }
    if (rc == 0 && !found) rc = WERR_NOTFOUND;
out:
    arena_free(a);
    return rc;
}

/* walk: one flat listing, ordered as a depth-first walk of sorted directories */
static int walk_cmp(const void *x, const void *y)
{
    const char *a = ((const struct s3_entry *)x)->key, *b = ((const struct s3_entry *)y)->key;
    /* compare component by component: '/' ends a component, sorting before any byte */
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca == cb) {
            if (!ca) return 0;
            continue;
        }
        if (ca == '/' || !ca) return -1;
        if (cb == '/' || !cb) return 1;
        return ca < cb ? -1 : 1;
    }
}

static int s3_walk(struct storage_driver *base, const char *path, storage_walk_fn fn, void *ctx)
{
    struct s3_driver *d = (struct s3_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    struct arena *a = arena_new();
    char *dk = dir_of(d, a, path);
    size_t dl = strlen(dk);
    struct s3_list l;
    if ((rc = list_keys(d, a, dk, NULL, 0, &l)) != 0) goto out;
    if (!l.n && path[1]) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    /* a writer's state "x/.tmp-w/..." stands for the file x: keep its index only */
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        char *st = strstr(l.e[i].key + dl, S3_STATE);
        char *tmp = strstr(l.e[i].key + dl, "/" TMP_PREFIX);
        if (!strncmp(l.e[i].key + dl, TMP_PREFIX, 5)) continue;
        if (tmp && tmp != st) continue;
        if (st) {
            if (strcmp(st + strlen(S3_STATE), "index")) continue;
            *st = '\0';
            l.e[i].size = -1; /* looked up when reached */
        }
        l.e[k++] = l.e[i];
    }
    l.n = k;
    qsort(l.e, l.n, sizeof *l.e, walk_cmp);
    /* emit: directories when first entered, then files */
    char *prev = arena_strdup(a, ""); /* the relative directory of the last entry */
    const char *skip = NULL;          /* a relative prefix being skipped */
    size_t skiplen = 0;
    const char *root = path[1] ? path : "";
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        const char *rel = l.e[i].key + dl;
        if (skip && !strncmp(rel, skip, skiplen)) continue;
        skip = NULL;
        if (i && !strcmp(rel, l.e[i - 1].key + dl)) continue; /* plain file and state both */
        /* directories of rel not yet announced */
        const char *slash = rel;
        size_t common = 0;
        while (prev[common] && prev[common] == rel[common])
            common++;
        while (common && rel[common - 1] != '/')
            common--; /* back to a component boundary */
        if (prev[common] == '\0' && common && rel[common - 1] != '/') common = 0;
        slash = rel + common;
        int skipped = 0;
        while ((slash = strchr(slash, '/')) != NULL) {
            size_t dlen = (size_t)(slash - rel);
            char *dpath = arena_printf(a, "%s/%.*s", root, (int)dlen, rel);
            struct storage_stat st = {0, l.e[i].mtime, 1};
            int r = fn(ctx, dpath, &st);
            if (r == WALK_SKIP_DIR) {
                skip = arena_printf(a, "%.*s/", (int)dlen, rel);
                skiplen = dlen + 1;
                skipped = 1;
                break;
            }
            if (r) {
                rc = r;
                break;
            }
            slash++;
        }
        char *rd = arena_strdup(a, rel);
        char *ls = strrchr(rd, '/');
        if (ls)
            ls[1] = '\0';
        else
            rd[0] = '\0';
        prev = rd;
        if (rc || skipped) continue;
        struct storage_stat st = {l.e[i].size, l.e[i].mtime ? l.e[i].mtime : time(NULL), 0};
        if (st.size < 0) {
            struct segs s;
            st.size = index_load(d, l.e[i].key, &s, NULL) == 0 ? segs_size(&s) : 0;
            segs_free(&s);
        }
        char *fpath = arena_printf(a, "%s/%s", root, rel);
        int r = fn(ctx, fpath, &st);
        if (r == WALK_SKIP_DIR) {
            /* from a file: the rest of its directory */
            skip = arena_strdup(a, rd);
            skiplen = strlen(rd);
            if (!skiplen) break;
        } else if (r) {
            rc = r;
        }
    }
out:
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- multipart copy */

struct part_job {
    struct s3_driver *d;
    const char *dst, *upload_id;
    const char **src;   /* per part: source key */
    int64_t *off, *len; /* per part: source range (len < 0: the whole source) */
    char **etag;        /* per part: result (malloc) */
    size_t n;
    pthread_mutex_t mu;
    size_t next;
    int rc;
};

static void *part_worker(void *p)
{
    struct part_job *j = p;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        int stop = j->rc != 0;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n || stop) break;
        struct arena *a = arena_new();
        char pn[24], range[64];
        snprintf(pn, sizeof pn, "%zu", i + 1);
        struct sigv4_param q[2] = {{"partNumber", pn}, {"uploadId", j->upload_id}};
        struct sigv4_param h[2] = {{j->d->dl->copy_source, copy_source(j->d, a, j->src[i])}};
        size_t nh = 1;
        if (j->len[i] >= 0) {
            snprintf(range, sizeof range, "bytes=%" PRId64 "-%" PRId64, j->off[i],
                     j->off[i] + j->len[i] - 1);
            h[nh++] = (struct sigv4_param){j->d->dl->copy_range, range};
        }
        struct buf *b = buf_arena_new(a, S3_ERR_MAX);
        struct s3_req r = {.method = "PUT",
                           .key = j->dst,
                           .query = q,
                           .nquery = 2,
                           .hdrs = h,
                           .nhdrs = nh,
                           .resp = b,
                           .resp_max = S3_ERR_MAX};
        int rc = s3_do(j->d, &r);
        char *et = rc == 0 && b->data ? xml_get(a, b->data, b->data + b->len, "ETag") : NULL;
        if (rc == 0 && !et) rc = WERR_IO;
        if (rc == 0) j->etag[i] = xstrdup(et);
        arena_free(a);
        if (rc) {
            pthread_mutex_lock(&j->mu);
            if (!j->rc) j->rc = rc;
            pthread_mutex_unlock(&j->mu);
            break;
        }
    }
    return NULL;
}

/* mpu_copy: dst = the concatenation of n source ranges, by a multipart upload
 * of server-side part copies run by up to copyconc threads */
static int mpu_copy(struct s3_driver *d, const char *dst, const char **src, int64_t *off,
                    int64_t *len, size_t n)
{
    if (n > S3_MAX_PARTS) return WERR_TOOBIG;
    struct arena *a = arena_new();
    struct sigv4_param q[1] = {{"uploads", ""}};
    struct buf *b = buf_arena_new(a, S3_ERR_MAX);
    struct s3_req r = {.method = "POST",
                       .key = dst,
                       .query = q,
                       .nquery = 1,
                       .put_meta = 1,
                       .resp = b,
                       .resp_max = S3_ERR_MAX};
    int rc = s3_do(d, &r);
    char *uid = rc == 0 && b->data ? xml_get(a, b->data, b->data + b->len, "UploadId") : NULL;
    if (rc == 0 && !uid) rc = WERR_IO;
    if (rc) goto out;
    struct part_job j = {.d = d,
                         .dst = dst,
                         .upload_id = uid,
                         .src = src,
                         .off = off,
                         .len = len,
                         .n = n,
                         .mu = PTHREAD_MUTEX_INITIALIZER};
    j.etag = calloc(n, sizeof *j.etag);
    if (!j.etag) abort();
    size_t nt = (size_t)d->copyconc < n ? (size_t)d->copyconc : n;
    par_run(nt, part_worker, &j); /* at most PAR_MAX (32) */
    rc = j.rc;
    if (rc == 0) {
        struct buf x;
        buf_init(&x, 0);
        buf_puts(&x, "<CompleteMultipartUpload>");
        for (size_t i = 0; i < n; i++) {
            buf_printf(&x, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
            xml_escape(&x, j.etag[i]);
            buf_puts(&x, "</ETag></Part>");
        }
        rc = buf_puts(&x, "</CompleteMultipartUpload>");
        struct sigv4_param cq[1] = {{"uploadId", uid}};
        struct sigv4_param ch[1] = {{"content-type", "application/xml"}};
        struct s3_req c = {.method = "POST",
                           .key = dst,
                           .query = cq,
                           .nquery = 1,
                           .hdrs = ch,
                           .nhdrs = 1,
                           .body = x.data,
                           .body_len = x.len,
                           .resp = b,
                           .resp_max = S3_ERR_MAX};
        if (rc == 0) rc = s3_do(d, &c);
        buf_free(&x);
    }
    if (rc) {
        struct sigv4_param aq[1] = {{"uploadId", uid}};
        struct s3_req ab = {.method = "DELETE", .key = dst, .query = aq, .nquery = 1};
        s3_do(d, &ab);
    }
    for (size_t i = 0; i < n; i++)
        free(j.etag[i]);
    free(j.etag);
    pthread_mutex_destroy(&j.mu);
out:
    arena_free(a);
    return rc;
}

/* copy_object: dst = src (size bytes), server-side; multipart above the threshold */
static int copy_object(struct s3_driver *d, const char *src, const char *dst, int64_t size)
{
    if (size <= d->copythreshold && size <= d->dl->max_copy) return obj_copy(d, src, dst);
    int64_t chunk = d->copychunk;
    while ((size + chunk - 1) / chunk > S3_MAX_PARTS)
        chunk *= 2;
    size_t n = (size_t)((size + chunk - 1) / chunk);
    const char **s = xmalloc(n * sizeof *s);
    int64_t *off = xmalloc(n * sizeof *off), *len = xmalloc(n * sizeof *len);
    for (size_t i = 0; i < n; i++) {
        s[i] = src;
        off[i] = (int64_t)i * chunk;
        len[i] = size - off[i] < chunk ? size - off[i] : chunk;
    }
    int rc = mpu_copy(d, dst, s, off, len, n);
    free(s);
    free(off);
    free(len);
    return rc;
}

/* compose: dst = a writer's segments, server-side */
static int compose(struct s3_driver *d, struct arena *a, const char *srckey, const struct segs *sg,
                   const char *dst)
{
    if (sg->n == 0) return obj_put(d, dst, "", 0);
    if (sg->n == 1) return copy_object(d, state_key(a, srckey, sg->v[0].name), dst, sg->v[0].size);
    const char **s = xmalloc(sg->n * sizeof *s);
    int64_t *off = xmalloc(sg->n * sizeof *off), *len = xmalloc(sg->n * sizeof *len);
    int rc = 0;
    for (size_t i = 0; i < sg->n; i++) {
        s[i] = state_key(a, srckey, sg->v[i].name);
        off[i] = 0;
        len[i] = -1;
        if (sg->v[i].size > S3_MAX_COPY) rc = WERR_TOOBIG;
    }
    if (rc == 0) rc = mpu_copy(d, dst, s, off, len, sg->n);
    free(s);
    free(off);
    free(len);
    return rc;
}

static int s3_move(struct storage_driver *base, const char *src, const char *dst)
{
    struct s3_driver *d = (struct s3_driver *)base;
    int rc = path_check(src, 0);
    if (rc || (rc = path_check(dst, 0)) != 0) return rc;
    size_t sl = strlen(src);
    if (!strncmp(dst, src, sl) && (dst[sl] == '/' || !dst[sl])) return dst[sl] ? WERR_INVALID : 0;
    struct arena *a = arena_new();
    char *sk = key_of(d, a, src), *dk = key_of(d, a, dst);
    int64_t size;
    rc = obj_head(d, sk, &size, NULL, NULL, 0);
    if (rc == 0) {
        if ((rc = copy_object(d, sk, dk, size)) == 0) rc = obj_delete(d, sk);
        goto out;
    }
    if (rc != WERR_NOTFOUND) goto out;
    struct segs sg;
    rc = index_load(d, sk, &sg, NULL);
    if (rc == 0) {
        rc = compose(d, a, sk, &sg, dk);
        segs_free(&sg);
        if (rc == 0) {
            struct s3_list l;
            if ((rc = list_keys(d, a, state_key(a, sk, ""), NULL, 0, &l)) == 0)
                rc = delete_keys(d, &l);
        }
        goto out;
    }
    if (rc != WERR_NOTFOUND) goto out;
    /* a directory: every key below, one by one */
    struct s3_list l;
    char *sd = dir_of(d, a, src), *dd = dir_of(d, a, dst);
    if ((rc = list_keys(d, a, sd, NULL, 0, &l)) != 0) goto out;
    if (!l.n) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    size_t sdl = strlen(sd);
    for (size_t i = 0; i < l.n && rc == 0; i++)
        rc = copy_object(d, l.e[i].key, arena_printf(a, "%s%s", dd, l.e[i].key + sdl), l.e[i].size);
    if (rc == 0) rc = delete_keys(d, &l);
out:
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- writer */

struct s3_writer {
    struct storage_writer base;
    struct s3_driver *d;
    int open;
    char *key;           /* malloc */
    struct segs segs;    /* persisted segments, in order */
    struct segs dropped; /* segments no longer in the file: deleted after the index */
    struct segs created; /* segments this writer put (cancel deletes them) */
    unsigned char *buf;  /* the tail not yet persisted (at most chunksize) */
    size_t blen;
    int plain_delete; /* a plain object was taken over: delete it after the index */
    int dirty;        /* the index must be written at close */
    int fresh;        /* no file before this writer */
};

static void writer_free(struct s3_writer *w)
{
    free(w->key);
    segs_free(&w->segs);
    segs_free(&w->dropped);
    segs_free(&w->created);
    free(w->buf);
    w->key = NULL;
    w->buf = NULL;
}

/* put the buffer as the next segment */
static int flush_segment(struct s3_writer *w)
{
    if (!w->blen) return 0;
    unsigned char rnd[4];
    RAND_bytes(rnd, sizeof rnd);
    int64_t start = segs_size(&w->segs);
    char name[64];
    snprintf(name, sizeof name, "s%016" PRIx64 "-%02x%02x%02x%02x", (uint64_t)start, rnd[0], rnd[1],
             rnd[2], rnd[3]);
    struct arena *a = arena_new();
    int rc = obj_put(w->d, state_key(a, w->key, name), w->buf, w->blen);
    arena_free(a);
    if (rc) return rc;
    segs_add(&w->segs, name, start, (int64_t)w->blen);
    segs_add(&w->created, name, start, (int64_t)w->blen);
    w->blen = 0;
    w->dirty = 1;
    return 0;
}

/* the last segment back into the buffer (it is smaller than a part may be) */
static int reload_segment(struct s3_writer *w, int64_t keep)
{
    struct seg *s = &w->segs.v[w->segs.n - 1];
    struct arena *a = arena_new();
    struct buf b;
    buf_init(&b, 0);
    int rc = keep ? obj_get(w->d, state_key(a, w->key, s->name), 0, keep, (size_t)keep, NULL, &b,
                            NULL, NULL)
                  : 0;
    if (rc == 0 && (int64_t)b.len != keep) rc = WERR_IO;
    if (rc == 0) {
        if (keep) memcpy(w->buf, b.data, (size_t)keep);
        w->blen = (size_t)keep;
        segs_add(&w->dropped, s->name, s->start, s->size);
        free(s->name);
        w->segs.n--;
        w->dirty = 1;
    }
    buf_free(&b);
    arena_free(a);
    return rc;
}

static int writer_persist(struct s3_writer *w)
{
    int rc = flush_segment(w);
    struct arena *a = arena_new();
    if (rc == 0 && w->dirty) rc = index_save(w->d, w->key, &w->segs);
    if (rc == 0) {
        w->dirty = 0;
        for (size_t i = 0; i < w->dropped.n; i++)
            obj_delete(w->d, state_key(a, w->key, w->dropped.v[i].name));
        segs_free(&w->dropped);
        if (w->plain_delete) obj_delete(w->d, w->key);
        w->plain_delete = 0;
    }
    arena_free(a);
    return rc;
}

static void writer_cleanup(void *p)
{
    struct s3_writer *w = p;
    if (!w->open) return;
    w->open = 0;
    if (writer_persist(w)) log_warn("s3: writer of %s: state not saved", w->key);
    writer_free(w);
}

static int s3_writer(struct storage_driver *base, struct arena *a, const char *path, int append,
                     struct storage_writer **out)
{
    struct s3_driver *d = (struct s3_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct s3_writer *w = arena_zalloc(a, sizeof *w);
    w->base.ops = &s3_writer_ops;
    w->d = d;
    struct arena *t = arena_new();
    w->key = xstrdup(key_of(d, t, path));
    w->buf = xmalloc((size_t)d->chunksize);
    if (!append) {
        /* truncate: drop the object and any state */
        rc = s3_delete(base, path);
        if (rc == WERR_NOTFOUND) rc = 0;
        w->fresh = 1;
        w->dirty = 1;
    } else if ((rc = index_load(d, w->key, &w->segs, NULL)) == 0) {
        struct seg *last = w->segs.n ? &w->segs.v[w->segs.n - 1] : NULL;
        if (last && last->size < S3_MIN_PART) rc = reload_segment(w, last->size);
        w->dirty = 0;
    } else if (rc == WERR_NOTFOUND) {
        int64_t size;
        rc = obj_head(d, w->key, &size, NULL, NULL, 0);
        if (rc == WERR_NOTFOUND) {
            rc = 0;
            w->fresh = 1;
            w->dirty = 1;
        } else if (rc == 0 && size <= d->chunksize) {
            /* a small plain object: its bytes become the buffer */
            struct buf b;
            buf_init(&b, 0);
            rc = obj_get(d, w->key, 0, -1, (size_t)d->chunksize, NULL, &b, NULL, NULL);
            if (rc == 0 && b.len) memcpy(w->buf, b.data, b.len);
            w->blen = b.len;
            buf_free(&b);
            w->plain_delete = w->dirty = 1;
        } else if (rc == 0) {
            /* a large one: copied server-side as the first segment */
            char name[64];
            snprintf(name, sizeof name, "s%016x-plain", 0);
            if ((rc = copy_object(d, w->key, state_key(t, w->key, name), size)) == 0) {
                segs_add(&w->segs, name, 0, size);
                w->plain_delete = w->dirty = 1;
            }
        }
    }
    arena_free(t);
    if (rc) {
        writer_free(w);
        return rc;
    }
    w->open = 1;
    arena_cleanup(a, writer_cleanup, w);
    *out = &w->base;
    return 0;
}

static int s3_write(struct storage_writer *base, const void *buf, size_t n)
{
    struct s3_writer *w = (struct s3_writer *)base;
    if (!w->open) return WERR_INVALID;
    const unsigned char *p = buf;
    while (n) {
        size_t room = (size_t)w->d->chunksize - w->blen;
        size_t k = n < room ? n : room;
        memcpy(w->buf + w->blen, p, k);
        w->blen += k;
        p += k;
        n -= k;
        w->dirty = 1;
        if (w->blen == (size_t)w->d->chunksize) {
            int rc = flush_segment(w);
            if (rc) return rc;
        }
    }
    return 0;
}

static int64_t s3_writer_size(struct storage_writer *base)
{
    struct s3_writer *w = (struct s3_writer *)base;
    return segs_size(&w->segs) + (int64_t)w->blen;
}

static int s3_writer_truncate(struct storage_writer *base, int64_t size)
{
    struct s3_writer *w = (struct s3_writer *)base;
    if (!w->open) return WERR_INVALID;
    if (size < 0 || size > s3_writer_size(base)) return WERR_RANGE;
    w->dirty = 1;
    int64_t persisted = segs_size(&w->segs);
    if (size >= persisted) {
        w->blen = (size_t)(size - persisted);
        return 0;
    }
    w->blen = 0;
    for (;;) {
        struct seg *last = &w->segs.v[w->segs.n - 1];
        if (last->start >= size) {
            segs_add(&w->dropped, last->name, last->start, last->size);
            free(last->name);
            w->segs.n--;
            if (last->start == size) return 0;
            continue;
        }
        return reload_segment(w, size - last->start);
    }
}

static int s3_commit(struct storage_writer *base)
{
    struct s3_writer *w = (struct s3_writer *)base;
    if (!w->open) return WERR_INVALID;
    w->open = 0;
    int rc = writer_persist(w);
    writer_free(w);
    return rc;
}

static void s3_writer_close(struct storage_writer *base)
{
    struct s3_writer *w = (struct s3_writer *)base;
    if (!w->open) return;
    writer_cleanup(w);
}

static void s3_cancel(struct storage_writer *base)
{
    struct s3_writer *w = (struct s3_writer *)base;
    if (!w->open) return;
    w->open = 0;
    struct arena *a = arena_new();
    if (w->fresh) {
        /* nothing was there before: nothing stays */
        struct s3_list l;
        if (list_keys(w->d, a, state_key(a, w->key, ""), NULL, 0, &l) == 0) delete_keys(w->d, &l);
    } else {
        for (size_t i = 0; i < w->created.n; i++)
            obj_delete(w->d, state_key(a, w->key, w->created.v[i].name));
    }
    arena_free(a);
    writer_free(w);
}

/* ---------------------------------------------------------------- url_for */

static int s3_url_for(struct storage_driver *base, struct arena *a, const char *path,
                      const char *method, char **url)
{
    struct s3_driver *d = (struct s3_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    if (method && strcmp(method, "GET") && strcmp(method, "HEAD")) return WERR_UNSUPPORTED;
    char *key = key_of(d, a, path);
    const char *host = d->pathstyle ? d->host : arena_printf(a, "%s.%s", d->bucket, d->host);
    char *p =
        d->pathstyle ? arena_printf(a, "/%s/%s", d->bucket, key) : arena_printf(a, "/%s", key);
    struct buf *q = buf_arena_new(a, 0), *u = buf_arena_new(a, 0);
    if ((rc = d->dl->presign(d, a, key, host, p, q)) != 0) return rc;
    if ((rc = buf_printf(u, "%s://%s", d->scheme, host)) != 0 ||
        (rc = sigv4_encode(u, p, strlen(p), 1)) != 0 || (rc = buf_printf(u, "?%s", q->data)) != 0)
        return rc;
    *url = u->data;
    return 0;
}

/* ---------------------------------------------------------------- driver */

static void s3_free(struct storage_driver *base)
{
    struct s3_driver *d = (struct s3_driver *)base;
    if (!d) return;
    for (size_t i = 0; i < d->npool; i++)
        curl_easy_cleanup(d->pool[i]);
    pthread_mutex_destroy(&d->mu);
    free(d->bucket);
    free(d->prefix);
    free(d->scheme);
    free(d->host);
    free(d->access);
    if (d->secret) {
        memset(d->secret, 0, strlen(d->secret));
        free(d->secret);
    }
    free(d->token);
    free(d->region);
    free(d->storageclass);
    free(d->acl);
    free(d->keyid);
    free(d->useragent);
    free(d->cabundle);
    free(d);
}

void driver_s3_presign_expiry(struct storage_driver *base, long seconds)
{
    struct s3_driver *d = (struct s3_driver *)base;
    if (seconds > 0 && seconds <= 604800) d->presign_expiry = seconds;
}

static const struct storage_reader_ops s3_reader_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .read = s3_read,
    .close = s3_reader_close,
};

static const struct storage_writer_ops s3_writer_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .write = s3_write,
    .size = s3_writer_size,
    .truncate = s3_writer_truncate,
    .commit = s3_commit,
    .cancel = s3_cancel,
    .close = s3_writer_close,
};

static const struct storage_driver_ops s3_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "s3",
    .free = s3_free,
    .get_content = s3_get_content,
    .put_content = s3_put_content,
    .reader = s3_reader,
    .writer = s3_writer,
    .stat = s3_stat,
    .list = s3_list,
    .move = s3_move,
    .delete = s3_delete,
    .walk = s3_walk,
    .url_for = s3_url_for,
    .list_page = s3_list_page,
    .lock = storage_lease_lock, /* storage/lease.h */
};

/* the same operations under OSS's name (logs, metrics, the driver suite) */
static const struct storage_driver_ops oss_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "oss",
    .free = s3_free,
    .get_content = s3_get_content,
    .put_content = s3_put_content,
    .reader = s3_reader,
    .writer = s3_writer,
    .stat = s3_stat,
    .list = s3_list,
    .move = s3_move,
    .delete = s3_delete,
    .walk = s3_walk,
    .url_for = s3_url_for,
    .list_page = s3_list_page,
    .lock = storage_lease_lock, /* storage/lease.h */
};

static const char *env_or(const char *v, const char *name)
{
    if (v && *v) return v;
    const char *e = getenv(name);
    return e && *e ? e : NULL;
}

/* rootdirectory "/a/b/" -> key prefix "a/b/" (malloc) */
static char *root_prefix(const char *root)
{
    const char *r = root ? root : "";
    while (*r == '/')
        r++;
    size_t rl = strlen(r);
    while (rl && r[rl - 1] == '/')
        rl--;
    char *p = xmalloc(rl + 2);
    memcpy(p, r, rl);
    strcpy(p + rl, rl ? "/" : "");
    return p;
}

int driver_s3_new(const struct config *cfg, struct storage_driver **out, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    const char *akey = env_or(cfg->s3_accesskey, "AWS_ACCESS_KEY_ID");
    const char *secret = env_or(cfg->s3_secretkey, "AWS_SECRET_ACCESS_KEY");
    const char *token = env_or(cfg->s3_sessiontoken, "AWS_SESSION_TOKEN");
    if (!akey || !secret) {
        snprintf(err, errlen,
                 "storage.s3: no credentials (accesskey/secretkey or "
                 "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)");
        return WERR_INVALID;
    }
    if (!cfg->s3_bucket || !cfg->s3_region) {
        snprintf(err, errlen, "storage.s3: bucket and region are required");
        return WERR_INVALID;
    }
    if (curl_lazy_load(err, errlen) != 0) return WERR_INVALID;
    struct s3_driver *d = calloc(1, sizeof *d);
    if (!d) return WERR_NOMEM;
    storage_driver_init(&d->base, &s3_ops, NULL);
    d->dl = &DIALECT_S3;
    pthread_mutex_init(&d->mu, NULL);
    (void)once;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    d->bucket = xstrdup(cfg->s3_bucket);
    d->region = xstrdup(cfg->s3_region);
    d->access = xstrdup(akey);
    d->secret = xstrdup(secret);
    d->token = token ? xstrdup(token) : NULL;
    d->prefix = root_prefix(cfg->s3_rootdirectory);
    const char *ep = cfg->s3_regionendpoint;
    if (ep && *ep) {
        const char *h = ep;
        if (!strncmp(ep, "http://", 7)) {
            d->scheme = xstrdup("http");
            h = ep + 7;
        } else if (!strncmp(ep, "https://", 8)) {
            d->scheme = xstrdup("https");
            h = ep + 8;
        } else {
            d->scheme = xstrdup(cfg->s3_secure ? "https" : "http");
        }
        size_t hl = strcspn(h, "/");
        if (!hl || h[hl]) {
            if (!hl || strcmp(h + hl, "/")) {
                snprintf(err, errlen, "storage.s3.regionendpoint: expected scheme://host[:port]");
                s3_free(&d->base);
                return WERR_INVALID;
            }
        }
        d->host = xmalloc(hl + 1);
        memcpy(d->host, h, hl);
        d->host[hl] = '\0';
        d->pathstyle = 1; /* as the reference with a regionendpoint */
    } else {
        d->scheme = xstrdup(cfg->s3_secure ? "https" : "http");
        size_t hl = strlen(d->region) + 32;
        d->host = xmalloc(hl);
        snprintf(d->host, hl, "s3.%s.amazonaws.com", d->region);
        /* bucket names with dots break TLS wildcards: path style then */
        d->pathstyle = cfg->s3_forcepathstyle || strchr(d->bucket, '.') != NULL;
    }
    if (cfg->s3_forcepathstyle) d->pathstyle = 1;
    if (cfg->s3_storageclass && strcmp(cfg->s3_storageclass, "NONE"))
        d->storageclass = xstrdup(cfg->s3_storageclass);
    if (cfg->s3_objectacl && strcmp(cfg->s3_objectacl, "private"))
        d->acl = xstrdup(cfg->s3_objectacl);
    d->keyid = cfg->s3_keyid ? xstrdup(cfg->s3_keyid) : NULL;
    d->useragent = cfg->s3_useragent ? xstrdup(cfg->s3_useragent) : NULL;
    const char *ca = getenv("AWS_CA_BUNDLE");
    if (ca && *ca && access(ca, R_OK) == 0) d->cabundle = xstrdup(ca);
    d->encrypt = cfg->s3_encrypt;
    d->skipverify = cfg->s3_skipverify;
    d->sign_payload = strcmp(d->scheme, "https") != 0; /* TLS guards the payload otherwise */
    d->debug = cfg->s3_loglevel && strcmp(cfg->s3_loglevel, "off");
    d->chunksize = cfg->s3_chunksize >= S3_MIN_PART ? cfg->s3_chunksize : 10L << 20;
    d->copychunk = cfg->s3_copychunksize >= S3_MIN_PART ? cfg->s3_copychunksize : 32L << 20;
    d->copyconc = cfg->s3_copymaxconcurrency > 0 ? cfg->s3_copymaxconcurrency : 100;
    d->copythreshold = cfg->s3_copythreshold >= 0 ? cfg->s3_copythreshold : 32L << 20;
    d->presign_expiry = 1200;
    *out = &d->base;
    return 0;
}

/* ---------------------------------------------------------------- oss */

/* host_is_ip: "127.0.0.1", "[::1]", "localhost", with or without a port:
 * no bucket subdomain can exist there, so requests go path style */
static int host_is_ip(const char *h)
{
    if (h[0] == '[') return 1;
    if (!strncmp(h, "localhost", 9) && (!h[9] || h[9] == ':')) return 1;
    for (const char *c = h; *c && *c != ':'; c++)
        if (!(*c == '.' || (*c >= '0' && *c <= '9'))) return 0;
    return 1;
}

int driver_oss_new(const struct config *cfg, struct storage_driver **out, char *err, size_t errlen)
{
    if (!cfg->oss_accesskeyid || !cfg->oss_accesskeysecret || !cfg->oss_region ||
        !cfg->oss_bucket || !*cfg->oss_bucket) {
        snprintf(err, errlen,
                 "storage.oss: accesskeyid, accesskeysecret, region and bucket are required");
        return WERR_INVALID;
    }
    if (curl_lazy_load(err, errlen) != 0) return WERR_INVALID;
    struct s3_driver *d = calloc(1, sizeof *d);
    if (!d) return WERR_NOMEM;
    storage_driver_init(&d->base, &oss_ops, NULL);
    d->dl = &DIALECT_OSS;
    pthread_mutex_init(&d->mu, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    d->bucket = xstrdup(cfg->oss_bucket);
    /* "cn-beijing" is taken as "oss-cn-beijing", the reference's form */
    const char *rg = cfg->oss_region;
    size_t hl = strlen(rg) + 64;
    d->region = xmalloc(hl);
    snprintf(d->region, hl, "%s%s", strncmp(rg, "oss-", 4) ? "oss-" : "", rg);
    d->access = xstrdup(cfg->oss_accesskeyid);
    d->secret = xstrdup(cfg->oss_accesskeysecret);
    d->prefix = root_prefix(cfg->oss_rootdirectory);
    d->scheme = xstrdup(cfg->oss_secure ? "https" : "http");
    const char *ep = cfg->oss_endpoint;
    if (ep && *ep) {
        /* the reference's endpoint is the whole host ("bucket.oss-cn-beijing.aliyuncs.com");
         * a scheme in front sets http/https, a host without the bucket gets it */
        const char *h = ep;
        if (!strncmp(ep, "http://", 7) || !strncmp(ep, "https://", 8)) {
            free(d->scheme);
            d->scheme = xstrdup(ep[4] == 's' ? "https" : "http");
            h = strstr(ep, "://") + 3;
        }
        size_t n = strcspn(h, "/");
        if (!n || (h[n] && strcmp(h + n, "/"))) {
            snprintf(err, errlen, "storage.oss.endpoint: expected host[:port]");
            s3_free(&d->base);
            return WERR_INVALID;
        }
        d->host = xmalloc(n + 1);
        memcpy(d->host, h, n);
        d->host[n] = '\0';
        size_t bl = strlen(d->bucket);
        if (host_is_ip(d->host)) {
            d->pathstyle = 1; /* a local stand-in or a gateway: "/bucket/key" */
        } else if (!strncmp(d->host, d->bucket, bl) && d->host[bl] == '.') {
            memmove(d->host, d->host + bl + 1, strlen(d->host + bl + 1) + 1);
        }
    } else {
        d->host = xmalloc(hl);
        snprintf(d->host, hl, "%s%s.aliyuncs.com", d->region, cfg->oss_internal ? "-internal" : "");
    }
    const char *ca = getenv("AWS_CA_BUNDLE");
    if (ca && *ca && access(ca, R_OK) == 0) d->cabundle = xstrdup(ca);
    d->encrypt = cfg->oss_encrypt;
    d->sign_payload = 0; /* V1 signs no payload hash */
    d->chunksize = cfg->oss_chunksize >= S3_MIN_PART ? cfg->oss_chunksize : 10L << 20;
    d->copychunk = 32L << 20;
    d->copyconc = 100;
    d->copythreshold = 32L << 20;
    d->presign_expiry = 1200;
    *out = &d->base;
    return 0;
}
