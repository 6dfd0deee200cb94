/* azure.c — the Azure Blob Storage driver, see azure.h for the layout, the
 * writer's blocks and the locks. REST API version AZ_VERSION; every request
 * signed with SharedKey; every response body bounded. */
#include "azure.h"

#include "objstore.h"
#include "xml.h"
#include "../../lib/azsign.h"
#include "../../lib/b64url.h"
#include "../../lib/curl_lazy.h"
#include "../../lib/err.h"
#include "../../lib/log.h"
#include "../../lib/mstime.h"
#include "../../lib/parallel.h"
#include "../../lib/sigv4.h"

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

#define AZ_VERSION "2021-08-06"
#define AZ_PATH_MAX 900          /* a blob name is at most 1024 bytes: root + path */
#define AZ_BLOCK (8L << 20)      /* a writer's block (Azure allows 4000 MiB) */
#define AZ_MAX_BLOCKS 50000      /* Azure's most committed blocks of one blob */
#define AZ_PUT_MAX (256L << 20)  /* put_content above this stages blocks */
#define AZ_READ_BLOCK (4L << 20) /* a reader fetches this much per ranged GET */
#define AZ_XML_MAX (16L << 20)   /* a listing or block list document */
#define AZ_ERR_MAX (64L << 10)   /* an error document */
#define AZ_TRIES 6               /* attempts of one request */
#define AZ_POOL_MAX 64           /* idle curl handles kept */
#define AZ_COPY_WAIT_S 1800      /* a pending server-side copy is polled this long */
#define AZ_ID_RAW 24             /* a block id before base64: 32 characters after */
#define TMP_PREFIX STORAGE_TMP_PREFIX

struct az_driver {
    struct storage_driver base;
    char *account;
    unsigned char *key; /* the decoded account key */
    size_t keylen;
    char *container;
    char *prefix;   /* "" or "root/" */
    char *origin;   /* scheme://host[:port] */
    char *basepath; /* "" or the service URL's path ("/devstoreaccount1") */
    long presign_expiry;
    pthread_mutex_t mu; /* guards pool */
    CURL *pool[AZ_POOL_MAX];
    size_t npool;
};

static const struct storage_driver_ops az_ops;
static const struct storage_reader_ops az_reader_ops;
static const struct storage_writer_ops az_writer_ops;
static const struct storage_lock_ops az_lock_ops;

/* ---------------------------------------------------------------- paths */

static int path_check(const char *p, int allow_root)
{
    int rc = storage_path_check(p, AZ_PATH_MAX, allow_root);
    if (rc) return rc;
    for (const char *c = p; *c; c++) /* a name with control characters breaks XML listings */
        if ((unsigned char)*c < 0x20 || *c == 0x7f) return WERR_INVALID;
    return 0;
}

static char *key_of(struct az_driver *d, struct arena *a, const char *path)
{
    return arena_printf(a, "%s%s", d->prefix, path[1] ? path + 1 : "");
}

static char *dir_of(struct az_driver *d, struct arena *a, const char *path)
{
    return path[1] ? arena_printf(a, "%s%s/", d->prefix, path + 1) : arena_strdup(a, d->prefix);
}

/* ---------------------------------------------------------------- xml */

/* ---------------------------------------------------------------- http */

struct az_req {
    const char *method;
    const char *key; /* blob name, unencoded; NULL: the container */
    const struct azsign_param *query;
    size_t nquery;
    const struct azsign_param *hdrs; /* extra headers, signed */
    size_t nhdrs;
    const void *body;
    size_t body_len;
    size_t resp_max; /* bytes of body kept (0: none) */
    int no_create;   /* a missing container is not created for this request */
    /* results */
    long status;
    struct buf *resp; /* body (2xx), NULL: discarded */
    char etag[160];
    int64_t length;  /* Content-Length, -1 unknown */
    int64_t total;   /* from Content-Range "/N", -1 unknown */
    int64_t bloblen; /* x-ms-blob-content-length, -1 unknown */
    time_t mtime;
    char code[64];        /* x-ms-error-code of a failed request */
    char copy_status[32]; /* x-ms-copy-status */
};

struct xfer {
    struct az_req *r;
    struct buf *body;
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
#define IS(h) (nl == sizeof(h) - 1 && !strncasecmp(p, h, nl))
    if (IS("etag"))
        snprintf(x->r->etag, sizeof x->r->etag, "%s", val);
    else if (IS("content-length"))
        x->r->length = strtoll(val, NULL, 10);
    else if (IS("x-ms-blob-content-length"))
        x->r->bloblen = strtoll(val, NULL, 10);
    else if (IS("content-range")) {
        char *slash = strrchr(val, '/');
        if (slash && slash[1] != '*') x->r->total = strtoll(slash + 1, NULL, 10);
    } else if (IS("last-modified")) {
        time_t t = curl_getdate(val, NULL);
        if (t > 0) x->r->mtime = t;
    } else if (IS("x-ms-error-code"))
        snprintf(x->r->code, sizeof x->r->code, "%.63s", val);
    else if (IS("x-ms-copy-status"))
        snprintf(x->r->copy_status, sizeof x->r->copy_status, "%.31s", val);
#undef IS
    return len;
}

static CURL *handle_get(struct az_driver *d)
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

static void handle_put(struct az_driver *d, CURL *h)
{
    pthread_mutex_lock(&d->mu);
    if (d->npool < AZ_POOL_MAX) {
        d->pool[d->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&d->mu);
    if (h) curl_easy_cleanup(h);
}

static int status_err(long st, const char *code)
{
    if (st == 404) return WERR_NOTFOUND;
    if (st == 403 || st == 401) return WERR_DENIED;
    if (st == 416) return WERR_RANGE;
    if (st == 412 || st == 409) return WERR_EXISTS; /* a condition failed; BlobAlreadyExists */
    if (st == 413 || !strcmp(code, "RequestBodyTooLarge") ||
        !strcmp(code, "BlockCountExceedsLimit"))
        return WERR_TOOBIG;
    if (st == 400) return WERR_INVALID;
    return WERR_IO;
}

static int retryable(long st, const char *code)
{
    (void)code;
    return st >= 500 || st == 429 || st == 408;
}

/* the encoded URI path of the container or of a blob in it */
static int req_path(struct az_driver *d, struct buf *b, const char *key)
{
    int rc = buf_printf(b, "%s/%s", d->basepath, d->container);
    if (rc == 0 && key) {
        rc = buf_append(b, "/", 1);
        if (rc == 0) rc = sigv4_encode(b, key, strlen(key), 1);
    }
    return rc;
}

/* one attempt; rc: 0 (2xx), a WERR_* (HTTP error), or 1 (transport error or retryable status) */
static int attempt(struct az_driver *d, CURL *h, struct az_req *r)
{
    struct arena *a = arena_new();
    struct buf *url = buf_arena_new(a, 0), *path = buf_arena_new(a, 0), *sts = buf_arena_new(a, 0);
    struct buf errbody;
    buf_init(&errbody, AZ_ERR_MAX);
    struct curl_slist *hl = NULL;
    int rc = 0;
    char date[30], clen[24];
    azsign_rfc1123(time(NULL), date);
    struct azsign_param hs[40];
    size_t nh = 0;
    hs[nh++] = (struct azsign_param){"x-ms-date", date};
    hs[nh++] = (struct azsign_param){"x-ms-version", AZ_VERSION};
    for (size_t i = 0; i < r->nhdrs && nh < 36; i++)
        hs[nh++] = r->hdrs[i];
    size_t nsent = nh; /* content-length is signed; curl sends it */
    int put = !strcmp(r->method, "PUT");
    if (put) {
        snprintf(clen, sizeof clen, "%zu", r->body_len);
        hs[nh++] = (struct azsign_param){"content-length", clen};
    }
    if ((rc = req_path(d, path, r->key)) != 0 ||
        (rc = azsign_string_to_sign(r->method, d->account, path->data, r->query, r->nquery, hs, nh,
                                    sts)) != 0)
        goto out;
    char sig[45];
    if ((rc = azsign_hmac_b64(d->key, d->keylen, sts->data, sts->len, sig)) != 0) goto out;
    if ((rc = buf_printf(url, "%s%s", d->origin, path->data)) != 0) goto out;
    for (size_t i = 0; i < r->nquery; i++) {
        const char *v = r->query[i].value ? r->query[i].value : "";
        if ((rc = buf_printf(url, "%s%s=", i ? "&" : "?", r->query[i].name)) != 0 ||
            (rc = sigv4_encode(url, v, strlen(v), 0)) != 0)
            goto out;
    }
    for (size_t i = 0; i < nsent; i++)
        hl = curl_slist_append(hl, arena_printf(a, "%s: %s", hs[i].name, hs[i].value));
    hl = curl_slist_append(hl, arena_printf(a, "Authorization: SharedKey %s:%s", d->account, sig));
    hl = curl_slist_append(hl, "Expect:");
    hl = curl_slist_append(hl, "Accept:");
    struct xfer x = {.r = r, .up = r->body, .uplen = r->body_len};
    r->etag[0] = '\0';
    r->length = r->total = r->bloblen = -1;
    r->mtime = 0;
    r->code[0] = r->copy_status[0] = '\0';
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
    if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (put) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &x);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    /* the body goes to r->resp only on success: collect into errbody first */
    x.body = &errbody;
    x.max = r->resp ? (r->resp_max > AZ_ERR_MAX ? r->resp_max : AZ_ERR_MAX) : AZ_ERR_MAX;
    errbody.cap = x.max;
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (cc == CURLE_WRITE_ERROR && x.overflow && r->status / 100 == 2) {
        rc = WERR_TOOBIG;
        goto out;
    }
    if (cc != CURLE_OK) {
        log_debug("azure: %s %s: %s", r->method, r->key ? r->key : "", curl_easy_strerror(cc));
        rc = 1;
        goto out;
    }
    if (r->status / 100 == 2) {
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
    if (!r->code[0] && errbody.len) {
        const char *cs, *ce;
        if (xml_find(errbody.data, errbody.data + errbody.len, "Code", &cs, &ce, NULL))
            snprintf(r->code, sizeof r->code, "%.*s", (int)(ce - cs), cs);
    }
    rc = retryable(r->status, r->code) ? 1 : status_err(r->status, r->code);
    if (r->status != 404 && r->status != 409 && r->status != 412)
        log_debug("azure: %s %s: HTTP %ld %s", r->method, r->key ? r->key : "", r->status, r->code);
out:
    curl_slist_free_all(hl);
    buf_free(&errbody);
    arena_free(a);
    return rc;
}

static int az_do(struct az_driver *d, struct az_req *r);

/* container_create: as the reference does at start-up; here when a request
 * finds the container missing. An existing one is fine. */
static int container_create(struct az_driver *d)
{
    struct azsign_param q[1] = {{"restype", "container"}};
    struct az_req r = {.method = "PUT", .query = q, .nquery = 1, .no_create = 1};
    int rc = az_do(d, &r);
    if (rc == WERR_EXISTS) rc = 0;
    if (rc == 0) log_info("azure: created the container %s", d->container);
    return rc;
}

/* az_do: the request with retries (backoff 50 ms doubling, jittered, to 3.2 s) */
static int az_do(struct az_driver *d, struct az_req *r)
{
    CURL *h = handle_get(d);
    int rc = WERR_IO, created = 0;
    long delay = 50;
    for (int i = 0; i < AZ_TRIES; i++) {
        rc = attempt(d, h, r);
        if (rc == WERR_NOTFOUND && !strcmp(r->code, "ContainerNotFound") && !r->no_create &&
            !created) {
            created = 1;
            handle_put(d, h);
            rc = container_create(d);
            h = handle_get(d);
            if (rc) break;
            i--;
            continue;
        }
        if (rc != 1) break;
        if (i + 1 < AZ_TRIES) {
            unsigned char j;
            RAND_bytes(&j, 1);
            struct timespec ts = {delay / 1000, (delay % 1000 + j % 50) * 1000000L};
            nanosleep(&ts, NULL);
            if (delay < 3200) delay *= 2;
        }
    }
    handle_put(d, h);
    if (rc == 1) {
        log_warn("azure: %s %s failed after %d attempts (HTTP %ld %s)", r->method,
                 r->key ? r->key : "", AZ_TRIES, r->status, r->code);
        rc = WERR_IO;
    }
    return rc;
}

/* ---------------------------------------------------------------- blobs */

static int blob_head(struct az_driver *d, const char *key, int64_t *size, time_t *mtime, char *etag,
                     size_t etaglen)
{
    struct az_req r = {.method = "HEAD", .key = key};
    int rc = az_do(d, &r);
    if (rc) return rc;
    if (size) *size = r.length < 0 ? 0 : r.length;
    if (mtime) *mtime = r.mtime ? r.mtime : time(NULL);
    if (etag) snprintf(etag, etaglen, "%s", r.etag);
    return 0;
}

/* blob_put: Put Blob (a block blob) with one optional condition header */
static int blob_put_if(struct az_driver *d, const char *key, const void *data, size_t len,
                       const char *cond, const char *condval, char *etag, size_t etaglen)
{
    struct azsign_param h[2] = {{"x-ms-blob-type", "BlockBlob"}, {cond, condval}};
    struct az_req r = {.method = "PUT",
                       .key = key,
                       .hdrs = h,
                       .nhdrs = cond ? 2 : 1,
                       .body = data,
                       .body_len = len};
    int rc = az_do(d, &r);
    if (rc == 0 && etag) snprintf(etag, etaglen, "%s", r.etag);
    return rc;
}

static int blob_put(struct az_driver *d, const char *key, const void *data, size_t len)
{
    return blob_put_if(d, key, data, len, NULL, NULL, NULL, 0);
}

/* blob_delete: WERR_NOTFOUND when absent */
static int blob_delete(struct az_driver *d, const char *key, const char *if_match)
{
    struct azsign_param h[1] = {{"if-match", if_match}};
    struct az_req r = {.method = "DELETE", .key = key, .hdrs = h, .nhdrs = if_match ? 1 : 0};
    return az_do(d, &r);
}

/* blob_get: bytes [off, off+len) of key (len < 0: all, bounded by max) into b */
static int blob_get(struct az_driver *d, const char *key, int64_t off, int64_t len, size_t max,
                    const char *if_match, struct buf *b, int64_t *total, char *etag)
{
    struct azsign_param h[2];
    size_t nh = 0;
    char range[64];
    if (off > 0 || len >= 0) {
        if (len >= 0)
            snprintf(range, sizeof range, "bytes=%" PRId64 "-%" PRId64, off, off + len - 1);
        else
            snprintf(range, sizeof range, "bytes=%" PRId64 "-", off);
        h[nh++] = (struct azsign_param){"x-ms-range", range};
    }
    if (if_match && *if_match) h[nh++] = (struct azsign_param){"if-match", if_match};
    struct az_req r = {
        .method = "GET", .key = key, .hdrs = h, .nhdrs = nh, .resp = b, .resp_max = max};
    int rc = az_do(d, &r);
    if (total) *total = r.total >= 0 ? r.total : r.length;
    if (etag) snprintf(etag, sizeof r.etag, "%s", r.etag);
    return rc;
}

/* blob_url: the full URL of a blob (a copy source), arena */
static char *blob_url(struct az_driver *d, struct arena *a, const char *key)
{
    struct buf *b = buf_arena_new(a, 0);
    buf_puts(b, d->origin);
    req_path(d, b, key);
    return b->data;
}

/* blob_copy: dst = src, server-side (Copy Blob), waiting until the copy completes */
static int blob_copy(struct az_driver *d, const char *src, const char *dst)
{
    struct arena *a = arena_new();
    struct azsign_param h[1] = {{"x-ms-copy-source", blob_url(d, a, src)}};
    struct az_req r = {.method = "PUT", .key = dst, .hdrs = h, .nhdrs = 1};
    int rc = az_do(d, &r);
    arena_free(a);
    if (rc) return rc;
    time_t t0 = time(NULL);
    long pause = 20;
    while (strcmp(r.copy_status, "success")) {
        if (r.copy_status[0] && strcmp(r.copy_status, "pending")) {
            log_warn("azure: copy of %s to %s: %s", src, dst, r.copy_status);
            return WERR_IO;
        }
        if (time(NULL) - t0 > AZ_COPY_WAIT_S) {
            log_warn("azure: copy of %s to %s still pending after %d s", src, dst, AZ_COPY_WAIT_S);
            return WERR_IO;
        }
        struct timespec ts = {pause / 1000, (pause % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (pause < 1000) pause *= 2;
        struct az_req p = {.method = "HEAD", .key = dst};
        if ((rc = az_do(d, &p)) != 0) return rc;
        memcpy(r.copy_status, p.copy_status, sizeof r.copy_status);
        if (!r.copy_status[0]) break; /* replaced meanwhile by a plain put: no copy to wait for */
    }
    return 0;
}

/* ---------------------------------------------------------------- listing */

struct az_entry {
    char *key; /* full name */
    int64_t size;
    time_t mtime;
    int is_prefix; /* a BlobPrefix */
};

struct az_list {
    struct az_entry *e;
    size_t n, cap;
};

static void list_add(struct arena *a, struct az_list *l, char *key, int64_t size, time_t mtime,
                     int is_prefix)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct az_entry *ne = arena_alloc(a, nc * sizeof *ne);
        if (l->n) memcpy(ne, l->e, l->n * sizeof *ne);
        l->e = ne;
        l->cap = nc;
    }
    l->e[l->n++] = (struct az_entry){key, size, mtime, is_prefix};
}

/* list_blobs: List Blobs of prefix (delim "/" or NULL), every page (marker),
 * at most limit entries (0: no limit) */
static int list_blobs(struct az_driver *d, struct arena *a, const char *prefix, const char *delim,
                      size_t limit, struct az_list *out)
{
    char *marker = NULL;
    char maxr[16];
    snprintf(maxr, sizeof maxr, "%zu", limit && limit < 5000 ? limit : (size_t)5000);
    memset(out, 0, sizeof *out);
    for (;;) {
        struct azsign_param q[6];
        size_t nq = 0;
        q[nq++] = (struct azsign_param){"restype", "container"};
        q[nq++] = (struct azsign_param){"comp", "list"};
        q[nq++] = (struct azsign_param){"maxresults", maxr};
        if (*prefix) q[nq++] = (struct azsign_param){"prefix", prefix};
        if (delim) q[nq++] = (struct azsign_param){"delimiter", delim};
        if (marker) q[nq++] = (struct azsign_param){"marker", marker};
        struct buf *b = buf_arena_new(a, AZ_XML_MAX);
        struct az_req r = {
            .method = "GET", .query = q, .nquery = nq, .resp = b, .resp_max = AZ_XML_MAX};
        int rc = az_do(d, &r);
        if (rc) return rc;
        const char *s = b->data ? b->data : "", *e = s + b->len, *p, *vs, *ve, *next;
        for (p = s; xml_find(p, e, "Blob", &vs, &ve, &next); p = next) {
            char *k = xml_get(a, vs, ve, "Name"), *sz = xml_get(a, vs, ve, "Content-Length");
            char *lm = xml_get(a, vs, ve, "Last-Modified");
            time_t t = lm ? curl_getdate(lm, NULL) : 0;
            if (k) list_add(a, out, k, sz ? strtoll(sz, NULL, 10) : 0, t > 0 ? t : 0, 0);
        }
        for (p = s; xml_find(p, e, "BlobPrefix", &vs, &ve, &next); p = next) {
            char *k = xml_get(a, vs, ve, "Name");
            if (k) list_add(a, out, k, 0, 0, 1);
        }
        marker = xml_get(a, s, e, "NextMarker");
        if (!marker || !*marker) break;
        if (limit && out->n >= limit) break;
    }
    return 0;
}

/* ---------------------------------------------------------------- stat */

enum kind { K_NONE, K_FILE, K_DIR };

static int classify(struct az_driver *d, struct arena *a, const char *path, int64_t *size,
                    time_t *mtime, enum kind *kind)
{
    *kind = K_NONE;
    *size = 0;
    *mtime = 0;
    if (!path[1]) {
        *kind = K_DIR;
        return 0;
    }
    int rc = blob_head(d, key_of(d, a, path), size, mtime, NULL, 0);
    if (rc == 0) {
        *kind = K_FILE;
        return 0;
    }
    if (rc != WERR_NOTFOUND) return rc;
    struct az_list l;
    if ((rc = list_blobs(d, a, dir_of(d, a, path), NULL, 1, &l)) != 0) return rc;
    if (l.n) {
        *kind = K_DIR;
        *mtime = l.e[0].mtime;
    }
    return 0;
}

static int az_stat(struct storage_driver *base, const char *path, struct storage_stat *st)
{
    struct az_driver *d = (struct az_driver *)base;
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

struct az_reader {
    struct storage_reader base;
    struct az_driver *d;
    int open;
    char *key;      /* malloc */
    char etag[160]; /* the version read (If-Match) */
    int64_t size, pos;
    struct buf blk; /* fetched bytes [blk_off, blk_off + blk.len) */
    int64_t blk_off;
};

static void reader_release(struct az_reader *r)
{
    if (!r->open) return;
    r->open = 0;
    free(r->key);
    r->key = NULL;
    buf_free(&r->blk);
}

static void reader_cleanup(void *p)
{
    reader_release(p);
}

static int az_reader(struct storage_driver *base, struct arena *a, const char *path, int64_t offset,
                     struct storage_reader **out)
{
    struct az_driver *d = (struct az_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    if (offset < 0) return WERR_RANGE;
    struct arena *t = arena_new();
    char *key = key_of(d, t, path);
    struct az_reader *r = arena_zalloc(a, sizeof *r);
    r->base.ops = &az_reader_ops;
    r->d = d;
    /* the first block, the size and the version in one response: later
     * blocks are read If-Match, so a put in between cannot mix two versions */
    buf_init(&r->blk, 0);
    rc = blob_get(d, key, offset, AZ_READ_BLOCK, AZ_READ_BLOCK, NULL, &r->blk, &r->size, r->etag);
    if (rc == WERR_RANGE) { /* at or past the end (an empty blob has no byte 0) */
        buf_free(&r->blk);
        rc = blob_head(d, key, &r->size, NULL, r->etag, sizeof r->etag);
    }
    if (rc == 0 && offset > r->size) rc = WERR_RANGE;
    if (rc) {
        buf_free(&r->blk);
        arena_free(t);
        return rc;
    }
    r->key = xstrdup(key);
    arena_free(t);
    r->blk_off = offset;
    r->pos = offset;
    r->open = 1;
    arena_cleanup(a, reader_cleanup, r);
    *out = &r->base;
    return 0;
}

static ssize_t az_read(struct storage_reader *base, void *buf, size_t n)
{
    struct az_reader *r = (struct az_reader *)base;
    if (!r->open) return WERR_INVALID;
    if (r->pos >= r->size || n == 0) return 0;
    if (!(r->pos >= r->blk_off && r->pos < r->blk_off + (int64_t)r->blk.len)) {
        int64_t want = r->size - r->pos;
        if (want > AZ_READ_BLOCK) want = AZ_READ_BLOCK;
        r->blk.len = 0;
        r->blk.cap = 0;
        int rc = blob_get(r->d, r->key, r->pos, want, (size_t)want, r->etag, &r->blk, NULL, NULL);
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

static void az_reader_close(struct storage_reader *base)
{
    reader_release((struct az_reader *)base);
}

/* ---------------------------------------------------------------- whole content */

static int az_get_content(struct storage_driver *base, struct arena *a, const char *path,
                          size_t max, char **data, size_t *len)
{
    struct az_driver *d = (struct az_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct buf b;
    buf_init(&b, 0);
    struct arena *t = arena_new();
    rc = blob_get(d, key_of(d, t, path), 0, -1, max, NULL, &b, NULL, NULL);
    if (rc == 0) {
        char *o = arena_alloc(a, b.len + 1);
        if (b.len) memcpy(o, b.data, b.len);
        o[b.len] = '\0';
        *data = o;
        *len = b.len;
    }
    buf_free(&b);
    arena_free(t);
    return rc;
}

/* ---------------------------------------------------------------- blocks */

struct az_blk {
    char id[48]; /* base64 */
    int64_t size;
    int staged; /* put by this writer, not yet in the committed list */
};

struct az_blocks {
    struct az_blk *v;
    size_t n, cap;
    int64_t size; /* sum of the sizes */
};

static void blocks_add(struct az_blocks *b, const char *id, int64_t size, int staged)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->v = xrealloc(b->v, b->cap * sizeof *b->v);
    }
    struct az_blk *k = &b->v[b->n++];
    snprintf(k->id, sizeof k->id, "%s", id);
    k->size = size;
    k->staged = staged;
    b->size += size;
}

/* blocklist_get: the committed blocks of key and the blob's length */
static int blocklist_get(struct az_driver *d, const char *key, struct az_blocks *out,
                         int64_t *bloblen)
{
    struct arena *a = arena_new();
    struct azsign_param q[2] = {{"comp", "blocklist"}, {"blocklisttype", "committed"}};
    struct buf *b = buf_arena_new(a, AZ_XML_MAX);
    struct az_req r = {
        .method = "GET", .key = key, .query = q, .nquery = 2, .resp = b, .resp_max = AZ_XML_MAX};
    int rc = az_do(d, &r);
    memset(out, 0, sizeof *out);
    if (rc == 0) {
        *bloblen = r.bloblen;
        const char *s = b->data ? b->data : "", *e = s + b->len, *vs, *ve, *next;
        const char *cs, *ce;
        if (xml_find(s, e, "CommittedBlocks", &cs, &ce, NULL)) {
            for (const char *p = cs; xml_find(p, ce, "Block", &vs, &ve, &next); p = next) {
                char *id = xml_get(a, vs, ve, "Name"), *sz = xml_get(a, vs, ve, "Size");
                /* an id longer than ours is foreign: the length check converts the blob */
                blocks_add(out, id && strlen(id) < 48 ? id : "", sz ? strtoll(sz, NULL, 10) : 0, 0);
            }
        }
    }
    arena_free(a);
    return rc;
}

/* block_put: Put Block of data as a new block id (base64 of AZ_ID_RAW chars) */
static int block_put(struct az_driver *d, const char *key, int64_t at, const void *data, size_t len,
                     char id[48])
{
    unsigned char rnd[4];
    RAND_bytes(rnd, sizeof rnd);
    char raw[AZ_ID_RAW + 1];
    snprintf(raw, sizeof raw, "%02x%02x%02x%02x%016" PRIx64, rnd[0], rnd[1], rnd[2], rnd[3],
             (uint64_t)at);
    EVP_EncodeBlock((unsigned char *)id, (const unsigned char *)raw, AZ_ID_RAW);
    struct azsign_param q[2] = {{"comp", "block"}, {"blockid", id}};
    struct az_req r = {
        .method = "PUT", .key = key, .query = q, .nquery = 2, .body = data, .body_len = len};
    return az_do(d, &r);
}

/* blocklist_put: Put Block List: the blob becomes these blocks, in order */
static int blocklist_put(struct az_driver *d, const char *key, const struct az_blocks *b)
{
    struct buf x;
    buf_init(&x, 0);
    int rc = buf_puts(&x, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        const char *t = b->v[i].staged ? "Uncommitted" : "Committed";
        rc = buf_printf(&x, "<%s>%s</%s>", t, b->v[i].id, t);
    }
    if (rc == 0) rc = buf_puts(&x, "</BlockList>");
    struct azsign_param q[1] = {{"comp", "blocklist"}};
    struct azsign_param h[1] = {{"content-type", "application/xml"}};
    struct az_req r = {.method = "PUT",
                       .key = key,
                       .query = q,
                       .nquery = 1,
                       .hdrs = h,
                       .nhdrs = 1,
                       .body = x.data,
                       .body_len = x.len};
    if (rc == 0) rc = az_do(d, &r);
    buf_free(&x);
    return rc;
}

static int az_put_content(struct storage_driver *base, const char *path, const void *data,
                          size_t len)
{
    struct az_driver *d = (struct az_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct arena *a = arena_new();
    char *key = key_of(d, a, path);
    if (len <= (size_t)AZ_PUT_MAX) {
        rc = blob_put(d, key, data, len);
    } else { /* staged blocks, committed at once: still atomic for readers */
        struct az_blocks b = {0};
        for (size_t off = 0; off < len && rc == 0; off += (size_t)AZ_BLOCK) {
            size_t n = len - off < (size_t)AZ_BLOCK ? len - off : (size_t)AZ_BLOCK;
            char id[48];
            if ((rc = block_put(d, key, (int64_t)off, (const char *)data + off, n, id)) == 0)
                blocks_add(&b, id, (int64_t)n, 1);
        }
        if (rc == 0) rc = b.n > AZ_MAX_BLOCKS ? WERR_TOOBIG : blocklist_put(d, key, &b);
        free(b.v);
    }
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- list, delete, walk */

static int az_list(struct storage_driver *base, struct arena *a, const char *path, char ***names,
                   size_t *n)
{
    struct az_driver *d = (struct az_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    struct arena *t = arena_new();
    char *dk = dir_of(d, t, path);
    struct az_list l;
    if ((rc = list_blobs(d, t, dk, "/", 0, &l)) != 0) goto out;
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

static int delete_all(struct az_driver *d, struct az_list *l)
{
    int rc = 0;
    for (size_t i = 0; i < l->n && rc == 0; i++) {
        if (l->e[i].is_prefix) continue;
        rc = blob_delete(d, l->e[i].key, NULL);
        if (rc == WERR_NOTFOUND) rc = 0; /* gone meanwhile */
    }
    return rc;
}

static int az_delete(struct storage_driver *base, const char *path)
{
    struct az_driver *d = (struct az_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct arena *a = arena_new();
    int found = 0;
    rc = blob_delete(d, key_of(d, a, path), NULL);
    if (rc == 0)
        found = 1;
    else if (rc == WERR_NOTFOUND)
        rc = 0;
    if (rc) goto out;
    struct az_list l;
    if ((rc = list_blobs(d, a, dir_of(d, a, path), NULL, 0, &l)) != 0) goto out;
    if (l.n) {
        found = 1;
        rc = delete_all(d, &l);
    }
    if (rc == 0 && !found) rc = WERR_NOTFOUND;
out:
    arena_free(a);
    return rc;
}

/* walk: one flat listing, ordered as a depth-first walk of sorted directories */
static int walk_cmp(const void *x, const void *y)
{
    const char *a = ((const struct az_entry *)x)->key, *b = ((const struct az_entry *)y)->key;
    /* component by component: '/' ends a component, sorting before any byte */
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

static int az_walk(struct storage_driver *base, const char *path, storage_walk_fn fn, void *ctx)
{
    struct az_driver *d = (struct az_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    struct arena *a = arena_new();
    char *dk = dir_of(d, a, path);
    size_t dl = strlen(dk);
    struct az_list l;
    if ((rc = list_blobs(d, a, dk, NULL, 0, &l)) != 0) goto out;
    if (!l.n && path[1]) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    size_t k = 0; /* reserved names are not content */
    for (size_t i = 0; i < l.n; i++) {
        const char *rel = l.e[i].key + dl;
        if (!strncmp(rel, TMP_PREFIX, 5) || strstr(rel, "/" TMP_PREFIX)) continue;
        l.e[k++] = l.e[i];
    }
    l.n = k;
    if (l.n > 1) qsort(l.e, l.n, sizeof *l.e, walk_cmp);
    char *prev = arena_strdup(a, ""); /* the relative directory of the last entry */
    const char *skip = NULL;          /* a relative prefix being skipped */
    size_t skiplen = 0;
    const char *root = path[1] ? path : "";
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        const char *rel = l.e[i].key + dl;
        if (skip && !strncmp(rel, skip, skiplen)) continue;
        skip = NULL;
        /* directories of rel not yet announced */
        size_t common = 0;
        while (prev[common] && prev[common] == rel[common])
            common++;
        while (common && rel[common - 1] != '/')
            common--; /* back to a component boundary */
        const char *slash = rel + common;
        int skipped = 0;
        while ((slash = strchr(slash, '/')) != NULL) {
            size_t dlen = (size_t)(slash - rel);
            char *dpath = arena_printf(a, "%s/%.*s", root, (int)dlen, rel);
            struct storage_stat st = {0, l.e[i].mtime ? l.e[i].mtime : time(NULL), 1};
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

/* ---------------------------------------------------------------- move */

static int az_move(struct storage_driver *base, const char *src, const char *dst)
{
    struct az_driver *d = (struct az_driver *)base;
    int rc = path_check(src, 0);
    if (rc || (rc = path_check(dst, 0)) != 0) return rc;
    size_t sl = strlen(src);
    if (!strncmp(dst, src, sl) && (dst[sl] == '/' || !dst[sl])) return dst[sl] ? WERR_INVALID : 0;
    struct arena *a = arena_new();
    char *sk = key_of(d, a, src), *dk = key_of(d, a, dst);
    rc = blob_copy(d, sk, dk);
    if (rc == 0) {
        rc = blob_delete(d, sk, NULL);
        if (rc == WERR_NOTFOUND) rc = 0;
        goto out;
    }
    if (rc != WERR_NOTFOUND) goto out;
    /* a directory: every blob below, one by one */
    struct az_list l;
    char *sd = dir_of(d, a, src), *dd = dir_of(d, a, dst);
    if ((rc = list_blobs(d, a, sd, NULL, 0, &l)) != 0) goto out;
    if (!l.n) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    size_t sdl = strlen(sd);
    for (size_t i = 0; i < l.n && rc == 0; i++)
        rc = blob_copy(d, l.e[i].key, arena_printf(a, "%s%s", dd, l.e[i].key + sdl));
    if (rc == 0) rc = delete_all(d, &l);
out:
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- writer */

struct az_writer {
    struct storage_writer base;
    struct az_driver *d;
    int open;
    char *key;            /* malloc */
    struct az_blocks blk; /* the blob's blocks as they will be committed */
    unsigned char *buf;   /* the tail not yet staged (at most AZ_BLOCK) */
    size_t blen;
    int dirty;     /* the block list must be committed at close */
    int fresh;     /* no file before this writer */
    int committed; /* this writer committed a list */
};

static void writer_free(struct az_writer *w)
{
    free(w->key);
    free(w->blk.v);
    free(w->buf);
    w->key = NULL;
    w->buf = NULL;
    memset(&w->blk, 0, sizeof w->blk);
}

/* stage the buffer as the next block */
static int stage(struct az_writer *w)
{
    if (!w->blen) return 0;
    if (w->blk.n >= AZ_MAX_BLOCKS) return WERR_TOOBIG;
    char id[48];
    int rc = block_put(w->d, w->key, w->blk.size, w->buf, w->blen, id);
    if (rc) return rc;
    blocks_add(&w->blk, id, (int64_t)w->blen, 1);
    w->blen = 0;
    w->dirty = 1;
    return 0;
}

/* append: bytes into the buffer, staging each full block */
static int append(struct az_writer *w, const unsigned char *p, size_t n)
{
    while (n) {
        size_t room = (size_t)AZ_BLOCK - w->blen;
        size_t k = n < room ? n : room;
        memcpy(w->buf + w->blen, p, k);
        w->blen += k;
        p += k;
        n -= k;
        w->dirty = 1;
        if (w->blen == (size_t)AZ_BLOCK) {
            int rc = stage(w);
            if (rc) return rc;
        }
    }
    return 0;
}

/* refetch: the committed blob's bytes [from, from + len) back through the
 * buffer (a small last block merged with what follows; a cut block's head) */
static int refetch(struct az_writer *w, int64_t from, int64_t len)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = 0;
    int dirty = w->dirty;
    size_t n0 = w->blk.n;
    while (len > 0 && rc == 0) {
        int64_t k = len < AZ_READ_BLOCK ? len : AZ_READ_BLOCK;
        b.len = 0;
        rc = blob_get(w->d, w->key, from, k, (size_t)k, NULL, &b, NULL, NULL);
        if (rc == 0 && (int64_t)b.len != k) rc = WERR_IO;
        if (rc == 0) rc = append(w, (const unsigned char *)b.data, b.len);
        from += k;
        len -= k;
    }
    w->dirty = dirty || w->blk.n != n0; /* bytes only buffered change nothing yet */
    buf_free(&b);
    return rc;
}

/* drop the last block from the list */
static void pop_block(struct az_writer *w)
{
    w->blk.n--;
    w->blk.size -= w->blk.v[w->blk.n].size;
    w->dirty = 1;
}

static int writer_persist(struct az_writer *w)
{
    int rc = stage(w);
    if (rc || !w->dirty) return rc;
    if (w->blk.n == 0)
        rc = blob_put(w->d, w->key, "", 0);
    else
        rc = blocklist_put(w->d, w->key, &w->blk);
    if (rc) return rc;
    for (size_t i = 0; i < w->blk.n; i++)
        w->blk.v[i].staged = 0;
    w->dirty = 0;
    w->committed = 1;
    return 0;
}

static void writer_cleanup(void *p)
{
    struct az_writer *w = p;
    if (!w->open) return;
    w->open = 0;
    if (writer_persist(w)) log_warn("azure: writer of %s: blocks not committed", w->key);
    writer_free(w);
}

static int az_writer(struct storage_driver *base, struct arena *a, const char *path, int append_,
                     struct storage_writer **out)
{
    struct az_driver *d = (struct az_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct az_writer *w = arena_zalloc(a, sizeof *w);
    w->base.ops = &az_writer_ops;
    w->d = d;
    struct arena *t = arena_new();
    w->key = xstrdup(key_of(d, t, path));
    arena_free(t);
    w->buf = xmalloc((size_t)AZ_BLOCK);
    int64_t bloblen = -1;
    if (!append_) {
        rc = blob_delete(d, w->key, NULL);
        if (rc == WERR_NOTFOUND) rc = 0;
        w->fresh = w->dirty = 1;
    } else if ((rc = blocklist_get(d, w->key, &w->blk, &bloblen)) == WERR_NOTFOUND) {
        rc = 0;
        w->fresh = w->dirty = 1;
    } else if (rc == 0) {
        if (bloblen < 0) rc = blob_head(d, w->key, &bloblen, NULL, NULL, 0);
        int ours = rc == 0 && bloblen == w->blk.size;
        for (size_t i = 0; i < w->blk.n && ours; i++)
            ours = strlen(w->blk.v[i].id) == 32;
        if (rc) {
            /* the blob's size unknown: nothing is changed */
        } else if (!ours) {
            /* a blob put whole (no blocks) or with other ids: re-staged as ours */
            int64_t len = bloblen >= 0 ? bloblen : 0;
            w->blk.n = 0;
            w->blk.size = 0;
            rc = refetch(w, 0, len);
            w->dirty = 1;
        } else if (w->blk.n && w->blk.v[w->blk.n - 1].size < AZ_BLOCK) {
            struct az_blk last = w->blk.v[w->blk.n - 1];
            pop_block(w);
            w->dirty = 0; /* nothing changes until something is written */
            rc = refetch(w, w->blk.size, last.size);
        }
    }
    if (rc) {
        writer_free(w);
        return rc;
    }
    w->open = 1;
    arena_cleanup(a, writer_cleanup, w);
    *out = &w->base;
    return 0;
}

static int az_write(struct storage_writer *base, const void *buf, size_t n)
{
    struct az_writer *w = (struct az_writer *)base;
    if (!w->open) return WERR_INVALID;
    return append(w, buf, n);
}

static int64_t az_writer_size(struct storage_writer *base)
{
    struct az_writer *w = (struct az_writer *)base;
    return w->blk.size + (int64_t)w->blen;
}

static int az_writer_truncate(struct storage_writer *base, int64_t size)
{
    struct az_writer *w = (struct az_writer *)base;
    if (!w->open) return WERR_INVALID;
    if (size < 0 || size > az_writer_size(base)) return WERR_RANGE;
    w->dirty = 1;
    if (size >= w->blk.size) {
        w->blen = (size_t)(size - w->blk.size);
        return 0;
    }
    w->blen = 0;
    /* staged blocks cannot be read back: commit them first */
    for (size_t i = 0; i < w->blk.n; i++) {
        if (w->blk.v[i].staged) {
            int rc = writer_persist(w);
            if (rc) return rc;
            break;
        }
    }
    while (w->blk.n && w->blk.size - w->blk.v[w->blk.n - 1].size >= size)
        pop_block(w);
    if (w->blk.size > size) {
        int64_t start = w->blk.size - w->blk.v[w->blk.n - 1].size;
        pop_block(w);
        int rc = refetch(w, start, size - start);
        w->dirty = 1;
        return rc;
    }
    w->dirty = 1;
    return 0;
}

static int az_commit(struct storage_writer *base)
{
    struct az_writer *w = (struct az_writer *)base;
    if (!w->open) return WERR_INVALID;
    w->open = 0;
    int rc = writer_persist(w);
    writer_free(w);
    return rc;
}

static void az_writer_close(struct storage_writer *base)
{
    struct az_writer *w = (struct az_writer *)base;
    if (!w->open) return;
    writer_cleanup(w);
}

static void az_cancel(struct storage_writer *base)
{
    struct az_writer *w = (struct az_writer *)base;
    if (!w->open) return;
    w->open = 0;
    /* staged blocks never committed are dropped by Azure; a fresh file that
     * a truncate committed goes */
    if (w->fresh && w->committed) blob_delete(w->d, w->key, NULL);
    writer_free(w);
}

/* ---------------------------------------------------------------- append_file */

/* append_file: a request body (a file nginx wrote) appended with Put Blocks
 * sent AZ_APPEND_THREADS at a time, then one Put Block List; the committed
 * file is unchanged until that list. A small last block is fetched and
 * becomes the head of the first new block, as a writer does. Bodies smaller
 * than a block, larger than AZ_APPEND_MAX (the caller's lock is renewed only
 * between an op's calls: the writer path renews it between chunks), or an
 * offset that is not the blob's end (a cut is needed) go through the core's
 * writer fallback (WERR_UNSUPPORTED before anything changed). */
#define AZ_APPEND_THREADS 4
#define AZ_APPEND_MAX (512L << 20)

struct append_job {
    struct az_driver *d;
    const char *key;
    int fd;
    const struct buf *pre; /* the head: the last small block's bytes */
    int64_t base;          /* blob offset of the stream's first byte */
    int64_t total;         /* pre->len + the body's length */
    size_t pieces;
    char (*ids)[48];
    pthread_mutex_t mu;
    size_t next;
    int rc;
};

static void *append_worker(void *p)
{
    struct append_job *j = p;
    unsigned char *buf = xmalloc((size_t)AZ_BLOCK);
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        int stop = j->rc != 0;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->pieces || stop) break;
        int64_t start = (int64_t)i * AZ_BLOCK, end = start + AZ_BLOCK;
        if (end > j->total) end = j->total;
        size_t n = 0;
        int rc = 0;
        if (start < (int64_t)j->pre->len) { /* the head's bytes */
            n = j->pre->len - (size_t)start < (size_t)(end - start) ? j->pre->len - (size_t)start
                                                                    : (size_t)(end - start);
            memcpy(buf, j->pre->data + start, n);
        }
        while (rc == 0 && (int64_t)n < end - start) {
            off_t at = (off_t)(start + (int64_t)n - (int64_t)j->pre->len);
            ssize_t r = pread(j->fd, buf + n, (size_t)(end - start) - n, at);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0)
                rc = WERR_IO; /* the file holds fewer bytes than said */
            else
                n += (size_t)r;
        }
        if (rc == 0) rc = block_put(j->d, j->key, j->base + start, buf, n, j->ids[i]);
        if (rc) {
            pthread_mutex_lock(&j->mu);
            if (!j->rc) j->rc = rc;
            pthread_mutex_unlock(&j->mu);
            break;
        }
    }
    free(buf);
    return NULL;
}

static int az_append_file(struct storage_driver *base, struct arena *a, const char *path,
                          int64_t offset, int fd, const char *src, int64_t len)
{
    struct az_driver *d = (struct az_driver *)base;
    (void)a;
    (void)src;
    int rc = path_check(path, 0);
    if (rc) return rc;
    if (len < AZ_BLOCK || len > AZ_APPEND_MAX || offset < 0) return WERR_UNSUPPORTED;
    struct arena *t = arena_new();
    char *key = key_of(d, t, path);
    struct az_blocks b = {0};
    struct buf pre;
    buf_init(&pre, 0);
    int64_t bloblen = -1;
    rc = blocklist_get(d, key, &b, &bloblen);
    if (rc == WERR_NOTFOUND) {
        rc = 0;
        bloblen = 0;
    }
    if (rc == 0 && bloblen < 0) rc = blob_head(d, key, &bloblen, NULL, NULL, 0);
    if (rc) goto out;
    int ours = bloblen == b.size && bloblen == offset;
    for (size_t i = 0; i < b.n && ours; i++)
        ours = strlen(b.v[i].id) == 32;
    if (!ours) {
        rc = WERR_UNSUPPORTED;
        goto out;
    }
    int64_t start = b.size;
    if (b.n && b.v[b.n - 1].size < AZ_BLOCK) {
        int64_t sz = b.v[b.n - 1].size;
        start -= sz;
        if (sz && (rc = blob_get(d, key, start, sz, (size_t)sz, NULL, &pre, NULL, NULL)) != 0)
            goto out;
        if ((int64_t)pre.len != sz) {
            rc = WERR_IO;
            goto out;
        }
        b.n--;
        b.size -= sz;
    }
    struct append_job j = {.d = d,
                           .key = key,
                           .fd = fd,
                           .pre = &pre,
                           .base = start,
                           .total = (int64_t)pre.len + len,
                           .mu = PTHREAD_MUTEX_INITIALIZER};
    j.pieces = (size_t)((j.total + AZ_BLOCK - 1) / AZ_BLOCK);
    if (b.n + j.pieces > AZ_MAX_BLOCKS) {
        rc = WERR_TOOBIG;
        goto out;
    }
    j.ids = calloc(j.pieces, sizeof *j.ids);
    if (!j.ids) abort();
    size_t nt = j.pieces < AZ_APPEND_THREADS ? j.pieces : AZ_APPEND_THREADS;
    par_run(nt, append_worker, &j);
    rc = j.rc;
    for (size_t i = 0; i < j.pieces && rc == 0; i++) {
        int64_t sz = j.total - (int64_t)i * AZ_BLOCK;
        blocks_add(&b, j.ids[i], sz < AZ_BLOCK ? sz : AZ_BLOCK, 1);
    }
    if (rc == 0) rc = blocklist_put(d, key, &b);
    free(j.ids);
    pthread_mutex_destroy(&j.mu);
out:
    free(b.v);
    buf_free(&pre);
    arena_free(t);
    return rc;
}

/* ---------------------------------------------------------------- url_for */

static int az_url_for(struct storage_driver *base, struct arena *a, const char *path,
                      const char *method, char **url)
{
    struct az_driver *d = (struct az_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    if (method && strcmp(method, "GET") && strcmp(method, "HEAD")) return WERR_UNSUPPORTED;
    char *key = key_of(d, a, path);
    struct buf *u = buf_arena_new(a, 0);
    if ((rc = buf_puts(u, d->origin)) != 0 || (rc = req_path(d, u, key)) != 0 ||
        (rc = buf_append(u, "?", 1)) != 0 ||
        (rc = azsign_sas_blob(d->key, d->keylen, d->account, d->container, key, "r",
                              time(NULL) + d->presign_expiry, AZ_VERSION, u)) != 0)
        return rc;
    *url = u->data;
    return 0;
}

/* ---------------------------------------------------------------- locks */

/* A lease blob at the lock's key, in the S3 driver's format:
 *   "wharf-lease 1\nholder <host> <pid> <token>\nexpires <unix time>\n"
 * Azure has a compare-and-swap: a taker creates the blob with If-None-Match: *
 * (one creator wins, the others get 409), a lease that ended (expired, or
 * its holder is a process on this host that no longer exists) is replaced
 * with If-Match: the ETag read (one replacer wins, the others get 412), and
 * the holder renews and deletes with If-Match: the ETag of its own last
 * write, so a lease that was taken over is never touched. */
#define AZ_LEASE_MAX 1024
#define AZ_LEASE_POLL_MAX_MS 500

struct az_lock {
    struct storage_lock base;
    struct az_driver *d;
    char *key; /* arena */
    char token[33];
    char etag[160]; /* of our last write */
    int ttl_s;
    time_t renewed;
    int held;
};

/* lease_read: 0 when a live lease is at key, WERR_NOTFOUND when there is
 * none, 1 when the blob there is a lease that ended or no lease at all (to be
 * replaced with If-Match: *etag, its version), or a WERR_*. */
static int lease_read(struct az_driver *d, const char *key, char etag[160])
{
    struct buf b;
    buf_init(&b, AZ_LEASE_MAX);
    int rc = blob_get(d, key, 0, -1, AZ_LEASE_MAX, NULL, &b, NULL, etag);
    if (rc == WERR_TOOBIG) rc = 1; /* not a lease Wharf wrote: taken over */
    if (rc) goto out;
    char host[256], myhost[256] = "?", token[33];
    long pid;
    long long expires;
    if (!b.data || (sscanf(b.data, "wharf-lease 1\nholder %255s %ld %32s\nexpires %lld", host, &pid,
                           token, &expires) != 4 &&
                    sscanf(b.data, "wharf-gc-lease 1\nholder %255s %ld %32s\nexpires %lld", host,
                           &pid, token, &expires) != 4)) {
        log_warn("azure: lock %s: the blob there is no lease; taken over", key);
        rc = 1;
        goto out;
    }
    gethostname(myhost, sizeof myhost - 1);
    if (expires <= (long long)time(NULL) ||
        (!strcmp(host, myhost) && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        rc = 1;
out:
    buf_free(&b);
    return rc;
}

/* lease_write: our lease, created (cond If-None-Match *) or replacing the
 * version etag (If-Match); WERR_EXISTS when the condition failed */
static int lease_write(struct az_lock *l, const char *cond, const char *val)
{
    char host[256] = "?", body[512];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    int n = snprintf(body, sizeof body, "wharf-lease 1\nholder %s %ld %s\nexpires %lld\n", host,
                     (long)getpid(), l->token, (long long)(now + l->ttl_s));
    int rc = blob_put_if(l->d, l->key, body, (size_t)n, cond, val, l->etag, sizeof l->etag);
    if (rc == WERR_NOTFOUND && !strcmp(cond, "if-match")) rc = WERR_EXISTS; /* deleted */
    if (rc == 0) l->renewed = now;
    return rc;
}

static void az_lock_release(void *p)
{
    struct az_lock *l = p;
    if (!l->held) return;
    l->held = 0;
    blob_delete(l->d, l->key, l->etag); /* only our own version (412 otherwise) */
}

static int az_lock(struct storage_driver *base, struct arena *a, const char *path, int ttl_s,
                   long wait_ms, struct storage_lock **out)
{
    struct az_driver *d = (struct az_driver *)base;
    *out = NULL;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct az_lock *l = arena_zalloc(a, sizeof *l);
    l->base.ops = &az_lock_ops;
    l->d = d;
    l->key = key_of(d, a, path);
    l->ttl_s = ttl_s > 0 ? ttl_s : 60;
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1) return WERR_IO;
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(l->token + 2 * i, 3, "%02x", rnd[i]);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long pause = 50;
    for (int spins = 0;; spins++) {
        /* a lease that vanishes or changes between our requests sends us
         * round again at once; a blob we can never write (an Azure lease
         * on it: 409) must not spin forever */
        if (spins > 100) return WERR_BUSY;
        rc = lease_write(l, "if-none-match", "*");
        if (rc == 0) break;
        if (rc != WERR_EXISTS) return rc;
        char etag[160] = "";
        rc = lease_read(d, l->key, etag);
        if (rc == WERR_NOTFOUND) continue; /* released meanwhile: create again */
        if (rc == 1 && etag[0]) {
            rc = lease_write(l, "if-match", etag);
            if (rc == 0) break;
            if (rc != WERR_EXISTS) return rc;
            continue; /* another taker replaced it first: read what is there now */
        }
        if (rc && rc != 1) return rc;
        long waited = ms_since(&t0);
        if (waited >= wait_ms) return WERR_BUSY;
        ms_sleep(pause < wait_ms - waited ? pause : wait_ms - waited);
        if (pause < AZ_LEASE_POLL_MAX_MS) pause *= 2;
    }
    l->held = 1;
    arena_cleanup(a, az_lock_release, l);
    *out = &l->base;
    return 0;
}

static int az_lock_renew(struct storage_lock *base)
{
    struct az_lock *l = (struct az_lock *)base;
    if (!l->held) return WERR_BUSY;
    if (time(NULL) - l->renewed < l->ttl_s / 3) return 0;
    char etag[160];
    snprintf(etag, sizeof etag, "%s", l->etag);
    int rc = lease_write(l, "if-match", etag);
    if (rc == WERR_EXISTS) {
        log_warn("azure: lock %s: the lease was lost (it expired and was taken)", l->key);
        l->held = 0;
        return WERR_BUSY;
    }
    return rc;
}

static void az_unlock(struct storage_lock *base)
{
    az_lock_release(base);
}

/* ---------------------------------------------------------------- driver */

static void az_free(struct storage_driver *base)
{
    struct az_driver *d = (struct az_driver *)base;
    if (!d) return;
    for (size_t i = 0; i < d->npool; i++)
        curl_easy_cleanup(d->pool[i]);
    pthread_mutex_destroy(&d->mu);
    free(d->account);
    if (d->key) {
        memset(d->key, 0, d->keylen);
        free(d->key);
    }
    free(d->container);
    free(d->prefix);
    free(d->origin);
    free(d->basepath);
    free(d);
}

static const struct storage_reader_ops az_reader_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .read = az_read,
    .close = az_reader_close,
};

static const struct storage_writer_ops az_writer_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .write = az_write,
    .size = az_writer_size,
    .truncate = az_writer_truncate,
    .commit = az_commit,
    .cancel = az_cancel,
    .close = az_writer_close,
};

static const struct storage_lock_ops az_lock_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .renew = az_lock_renew,
    .unlock = az_unlock,
};

static const struct storage_driver_ops az_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "azure",
    .free = az_free,
    .get_content = az_get_content,
    .put_content = az_put_content,
    .reader = az_reader,
    .writer = az_writer,
    .stat = az_stat,
    .list = az_list,
    .move = az_move,
    .delete = az_delete,
    .walk = az_walk,
    .url_for = az_url_for,
    .lock = az_lock,
    .append_file = az_append_file,
};

int driver_azure_new(const struct config *cfg, struct storage_driver **out, char *err,
                     size_t errlen)
{
    if (!cfg->azure_accountname || !cfg->azure_accountkey || !cfg->azure_container) {
        snprintf(err, errlen, "storage.azure: accountname, accountkey and container are required");
        return WERR_INVALID;
    }
    unsigned char *key = NULL;
    size_t keylen = 0;
    if (b64_decode(cfg->azure_accountkey, strlen(cfg->azure_accountkey), &key, &keylen) != 0 ||
        !keylen) {
        free(key);
        snprintf(err, errlen, "storage.azure.accountkey: not base64");
        return WERR_INVALID;
    }
    if (curl_lazy_load(err, errlen) != 0) {
        free(key);
        return WERR_INVALID;
    }
    struct az_driver *d = calloc(1, sizeof *d);
    if (!d) {
        free(key);
        return WERR_NOMEM;
    }
    storage_driver_init(&d->base, &az_ops, NULL);
    pthread_mutex_init(&d->mu, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    d->key = key;
    d->keylen = keylen;
    d->account = xstrdup(cfg->azure_accountname);
    d->container = xstrdup(cfg->azure_container);
    /* rootdirectory "/a/b/" -> prefix "a/b/" */
    const char *r = cfg->azure_rootdirectory ? cfg->azure_rootdirectory : "";
    while (*r == '/')
        r++;
    size_t rl = strlen(r);
    while (rl && r[rl - 1] == '/')
        rl--;
    d->prefix = xmalloc(rl + 2);
    memcpy(d->prefix, r, rl);
    strcpy(d->prefix + rl, rl ? "/" : "");
    const char *su = cfg->azure_serviceurl;
    if (su && *su) {
        /* scheme://host[:port][/path]: the path (an emulator's account) prefixes every request */
        const char *h = strstr(su, "://");
        if (!h || !h[3] || h[3] == '/') {
            snprintf(err, errlen, "storage.azure.serviceurl: expected scheme://host[:port][/path]");
            az_free(&d->base);
            return WERR_INVALID;
        }
        h += 3;
        size_t hl = strcspn(h, "/?#");
        if (h[hl] == '?' || h[hl] == '#') {
            snprintf(err, errlen, "storage.azure.serviceurl: no query or fragment");
            az_free(&d->base);
            return WERR_INVALID;
        }
        d->origin = xmalloc((size_t)(h - su) + hl + 1);
        memcpy(d->origin, su, (size_t)(h - su) + hl);
        d->origin[(size_t)(h - su) + hl] = '\0';
        const char *p = h + hl;
        size_t pl = strlen(p);
        while (pl && p[pl - 1] == '/')
            pl--;
        d->basepath = xmalloc(pl + 1);
        memcpy(d->basepath, p, pl);
        d->basepath[pl] = '\0';
    } else {
        const char *realm =
            cfg->azure_realm && *cfg->azure_realm ? cfg->azure_realm : "core.windows.net";
        size_t n = strlen(d->account) + strlen(realm) + 16;
        d->origin = xmalloc(n);
        snprintf(d->origin, n, "https://%s.blob.%s", d->account, realm);
        d->basepath = xstrdup("");
    }
    d->presign_expiry = 1200; /* the reference's 20 minutes */
    *out = &d->base;
    return 0;
}
