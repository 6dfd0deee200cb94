/* gcs.c — the Google Cloud Storage driver, see gcs.h for the layout, the
 * writer's segments and the credentials. */
#include "gcs.h"

#include "objstore.h"
#include "../../lib/b64url.h"
#include "../../lib/curl_lazy.h"
#include "../../lib/err.h"
#include "../../lib/log.h"
#include "../../lib/mstime.h"
#include "../../lib/parallel.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define GCS_PATH_MAX 900          /* an object name is at most 1024 bytes */
#define GCS_READ_BLOCK (4L << 20) /* a reader fetches this much per ranged GET */
#define GCS_JSON_MAX (16L << 20)  /* a listing page or an object resource */
#define GCS_ERR_MAX (64L << 10)   /* an error document, a token response */
#define GCS_INDEX_MAX (4L << 20)  /* a writer's index object */
#define GCS_KEYFILE_MAX (64L << 10)
#define GCS_TOKEN_MAX 4096 /* an access token */
#define GCS_HDR_MAX 4096   /* a response header value kept (Location) */
#define GCS_TRIES 6        /* attempts of one request */
#define GCS_POOL_MAX 64    /* idle curl handles kept */
#define GCS_COMPOSE_MAX 32 /* sources of one compose call */
#define GCS_QUANTUM (256L << 10)
#define GCS_STATE "/.tmp-w/" /* a writer's state under the file's key */
#define GCS_INDEX_MAGIC "wharf-gcs-writer 1\n"
#define GCS_SCOPE "https://www.googleapis.com/auth/devstorage.read_write"
#define GCS_TOKEN_URI "https://oauth2.googleapis.com/token"
#define TMP_PREFIX STORAGE_TMP_PREFIX

struct gcs_driver {
    struct storage_driver base;
    char *bucket, *prefix; /* prefix: "" or "root/" */
    char *endpoint;        /* "https://storage.googleapis.com" or the emulator's */
    char *sign_scheme, *sign_host;
    char *email, *token_uri;
    EVP_PKEY *key;
    long chunksize, presign_expiry;
    pthread_mutex_t mu; /* guards pool */
    CURL *pool[GCS_POOL_MAX];
    size_t npool;
    pthread_mutex_t tmu; /* guards the token; held while one is fetched */
    char token[GCS_TOKEN_MAX];
    time_t token_exp;
};

static const struct storage_driver_ops gcs_ops;
static const struct storage_reader_ops gcs_reader_ops;
static const struct storage_writer_ops gcs_writer_ops;
static const struct storage_lock_ops gcs_lock_ops;

/* ---------------------------------------------------------------- paths */

static int path_check(const char *p, int allow_root)
{
    int rc = storage_path_check(p, GCS_PATH_MAX, allow_root);
    if (rc) return rc;
    for (const char *c = p; *c; c++) /* GCS refuses names with CR/LF; keep all controls out */
        if ((unsigned char)*c < 0x20) return WERR_INVALID;
    return 0;
}

static char *key_of(struct gcs_driver *d, struct arena *a, const char *path)
{
    return arena_printf(a, "%s%s", d->prefix, path[1] ? path + 1 : "");
}

static char *dir_of(struct gcs_driver *d, struct arena *a, const char *path)
{
    return path[1] ? arena_printf(a, "%s%s/", d->prefix, path + 1) : arena_strdup(a, d->prefix);
}

static char *enc(struct arena *a, const char *s)
{
    struct buf *b = buf_arena_new(a, 0);
    sigv4_encode(b, s, strlen(s), 0);
    buf_append(b, "", 0);
    return b->data ? b->data : arena_strdup(a, "");
}

/* the JSON API URL of an object (suffix appended: "/compose", "?alt=media") */
static char *obj_url(struct gcs_driver *d, struct arena *a, const char *key, const char *suffix)
{
    return arena_printf(a, "%s/storage/v1/b/%s/o/%s%s", d->endpoint, enc(a, d->bucket), enc(a, key),
                        suffix ? suffix : "");
}

/* ---------------------------------------------------------------- json */

static json_object *json_parse(const char *s, size_t n)
{
    if (!s || !n) return NULL;
    json_tokener *t = json_tokener_new();
    if (!t) return NULL;
    json_object *o = json_tokener_parse_ex(t, s, (int)n);
    if (json_tokener_get_error(t) != json_tokener_success) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(t);
    return o;
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *k, int64_t dflt)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v)) return dflt;
    if (json_object_is_type(v, json_type_int)) return json_object_get_int64(v);
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *e;
        errno = 0;
        long long x = strtoll(s, &e, 10);
        if (e == s || *e || errno) return dflt;
        return x;
    }
    return dflt;
}

static time_t iso_time(const char *s)
{
    struct tm tm = {0};
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
    return timegm(&tm);
}

/* ---------------------------------------------------------------- credentials */

int gcs_account_parse(const char *json, EVP_PKEY **key, char **email, char **token_uri, char *err,
                      size_t errlen)
{
    *key = NULL;
    *email = *token_uri = NULL;
    json_object *o = json_parse(json, json ? strlen(json) : 0);
    int rc = WERR_INVALID;
    if (!o) {
        snprintf(err, errlen, "the service account is not JSON");
        return rc;
    }
    const char *type = jstr(o, "type"), *pem = jstr(o, "private_key"),
               *em = jstr(o, "client_email"), *tu = jstr(o, "token_uri");
    if (type && strcmp(type, "service_account")) {
        snprintf(err, errlen, "credentials of type \"%s\": only service_account keys are supported",
                 type);
        goto out;
    }
    if (!pem || !em) {
        snprintf(err, errlen, "the service account has no private_key or client_email");
        goto out;
    }
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!k || EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        snprintf(err, errlen, "the service account's private_key is not an RSA private key");
        goto out;
    }
    *key = k;
    *email = xstrdup(em);
    *token_uri = xstrdup(tu && *tu ? tu : GCS_TOKEN_URI);
    rc = 0;
out:
    json_object_put(o);
    return rc;
}

/* rsa_sha256: RSASSA-PKCS1-v1_5 with SHA-256 of data; *sig malloc'd */
static int rsa_sha256(EVP_PKEY *key, const void *data, size_t n, unsigned char **sig,
                      size_t *siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = WERR_IO;
    *sig = NULL;
    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, NULL, siglen, data, n) != 1)
        goto out;
    *sig = xmalloc(*siglen);
    if (EVP_DigestSign(ctx, *sig, siglen, data, n) != 1) {
        free(*sig);
        *sig = NULL;
        goto out;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

char *gcs_jwt(EVP_PKEY *key, const char *email, const char *token_uri, time_t now)
{
    static const char hdr[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    json_object *c = json_object_new_object();
    json_object_object_add(c, "iss", json_object_new_string(email));
    json_object_object_add(c, "scope", json_object_new_string(GCS_SCOPE));
    json_object_object_add(c, "aud", json_object_new_string(token_uri));
    json_object_object_add(c, "iat", json_object_new_int64((int64_t)now));
    json_object_object_add(c, "exp", json_object_new_int64((int64_t)now + 3600));
    const char *cs = json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN);
    char *h64 = b64url_encode(hdr, sizeof hdr - 1), *c64 = b64url_encode(cs, strlen(cs));
    json_object_put(c);
    char *out = NULL, *input = NULL, *s64 = NULL;
    unsigned char *sig = NULL;
    size_t siglen;
    if (!h64 || !c64) goto out;
    size_t il = strlen(h64) + strlen(c64) + 2;
    input = xmalloc(il);
    snprintf(input, il, "%s.%s", h64, c64);
    if (rsa_sha256(key, input, strlen(input), &sig, &siglen)) goto out;
    if (!(s64 = b64url_encode(sig, siglen))) goto out;
    size_t ol = il + strlen(s64) + 1;
    out = xmalloc(ol);
    snprintf(out, ol, "%s.%s", input, s64);
out:
    free(h64);
    free(c64);
    free(input);
    free(sig);
    free(s64);
    return out;
}

/* ---------------------------------------------------------------- signed URLs */

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char x[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = x[p[i] >> 4];
        out[2 * i + 1] = x[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int gcs_sign_url(EVP_PKEY *key, const char *email, const char *scheme, const char *host,
                 const char *bucket, const char *object, const char *method, time_t now,
                 long expires, const struct sigv4_param *hdrs, size_t nhdrs,
                 const struct sigv4_param *query, size_t nquery, struct buf *out)
{
    if (expires < 1 || expires > 604800 || nhdrs > 30 || nquery > 30) return WERR_INVALID;
    struct arena *a = arena_new();
    char date[17], day[9], exp[24];
    sigv4_amzdate(now, date);
    memcpy(day, date, 8);
    day[8] = '\0';
    snprintf(exp, sizeof exp, "%ld", expires);
    char *scope = arena_printf(a, "%s/auto/storage/goog4_request", day);
    /* signed header names: lowercased, sorted, ';'-joined */
    struct sigv4_param h[32];
    size_t nh = 0;
    h[nh++] = (struct sigv4_param){"host", host};
    for (size_t i = 0; i < nhdrs; i++)
        h[nh++] = hdrs[i];
    char **names = arena_alloc(a, nh * sizeof *names);
    for (size_t i = 0; i < nh; i++) {
        char *l = arena_strdup(a, h[i].name);
        for (char *p = l; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        names[i] = l;
    }
    for (size_t i = 1; i < nh; i++) /* insertion sort: a handful */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    struct buf *sh = buf_arena_new(a, 0);
    for (size_t i = 0; i < nh; i++)
        buf_printf(sh, "%s%s", i ? ";" : "", names[i]);
    struct sigv4_param q[40];
    size_t nq = 0;
    q[nq++] = (struct sigv4_param){"X-Goog-Algorithm", "GOOG4-RSA-SHA256"};
    q[nq++] = (struct sigv4_param){"X-Goog-Credential", arena_printf(a, "%s/%s", email, scope)};
    q[nq++] = (struct sigv4_param){"X-Goog-Date", date};
    q[nq++] = (struct sigv4_param){"X-Goog-Expires", exp};
    q[nq++] = (struct sigv4_param){"X-Goog-SignedHeaders", sh->data};
    for (size_t i = 0; i < nquery; i++)
        q[nq++] = query[i];
    char *path =
        object ? arena_printf(a, "/%s/%s", bucket, object) : arena_printf(a, "/%s", bucket);
    struct sigv4_request r = {method, path, q, nq, h, nh, SIGV4_UNSIGNED};
    struct buf *canon = buf_arena_new(a, 0);
    int rc = sigv4_canonical_request(&r, canon);
    if (rc) goto out;
    /* the canonical query is the request's third line: the URL's query */
    const char *l2 = strchr(canon->data, '\n'), *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
    const char *l4 = l3 ? strchr(l3 + 1, '\n') : NULL;
    if (!l4) {
        rc = WERR_INVALID;
        goto out;
    }
    char chash[65];
    sigv4_sha256_hex(canon->data, canon->len, chash);
    char *sts = arena_printf(a, "GOOG4-RSA-SHA256\n%s\n%s\n%s", date, scope, chash);
    unsigned char *sig;
    size_t siglen;
    if ((rc = rsa_sha256(key, sts, strlen(sts), &sig, &siglen)) != 0) goto out;
    char *sighex = arena_alloc(a, 2 * siglen + 1);
    hex(sig, siglen, sighex);
    free(sig);
    if ((rc = buf_printf(out, "%s://%s", scheme, host)) != 0 ||
        (rc = buf_append(out, l2 + 1, (size_t)(l3 - l2 - 1))) != 0 ||
        (rc = buf_puts(out, "?")) != 0 || (rc = buf_append(out, l3 + 1, (size_t)(l4 - l3 - 1))) ||
        (rc = buf_printf(out, "&X-Goog-Signature=%s", sighex)) != 0)
        goto out;
out:
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- http */

struct gcs_req {
    const char *method;
    const char *url;
    const char *hdrs[4]; /* extra "Name: value" lines */
    size_t nhdrs;
    const void *body;
    size_t body_len;
    const char *ctype;
    struct buf *resp; /* body of a 2xx (NULL: discarded) */
    size_t resp_max;
    int noauth;  /* the token request itself */
    int noretry; /* a resumable chunk: the caller asks the session's status instead */
    /* results */
    long status;
    int64_t length, total, gen; /* Content-Length, "/N" of Content-Range, x-goog-generation */
    int64_t range_end;          /* a 308's "Range: bytes=0-N": N; -1 none */
    char *location;             /* malloc'd Location header, or NULL */
    char reason[64];            /* errors[0].reason of a JSON error */
};

struct xfer {
    struct gcs_req *r;
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
    if (len) memcpy(p, x->up + x->upoff, len);
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
    if (!colon) {
        if (len > 5 && !strncmp(p, "HTTP/", 5)) { /* a new response: forget the last one's */
            free(x->r->location);
            x->r->location = NULL;
            x->r->range_end = -1;
        }
        return len;
    }
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    char val[GCS_HDR_MAX];
    if (vl >= sizeof val) return len;
    memcpy(val, v, vl);
    val[vl] = '\0';
    if (nl == 14 && !strncasecmp(p, "content-length", 14)) {
        x->r->length = strtoll(val, NULL, 10);
    } else if (nl == 13 && !strncasecmp(p, "content-range", 13)) {
        char *slash = strrchr(val, '/');
        if (slash && slash[1] != '*') x->r->total = strtoll(slash + 1, NULL, 10);
    } else if (nl == 17 && !strncasecmp(p, "x-goog-generation", 17)) {
        x->r->gen = strtoll(val, NULL, 10);
    } else if (nl == 5 && !strncasecmp(p, "range", 5)) {
        char *dash = strchr(val, '-');
        if (!strncmp(val, "bytes=0-", 8) && dash) x->r->range_end = strtoll(dash + 1, NULL, 10);
    } else if (nl == 8 && !strncasecmp(p, "location", 8)) {
        free(x->r->location);
        x->r->location = xstrdup(val);
    }
    return len;
}

static CURL *handle_get(struct gcs_driver *d)
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

static void handle_put(struct gcs_driver *d, CURL *h)
{
    pthread_mutex_lock(&d->mu);
    if (d->npool < GCS_POOL_MAX) {
        d->pool[d->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&d->mu);
    if (h) curl_easy_cleanup(h);
}

static int status_err(long st, const char *reason)
{
    if (st == 404) return WERR_NOTFOUND;
    if (st == 401 || st == 403) return WERR_DENIED;
    if (st == 412) return WERR_EXISTS;
    if (st == 416) return WERR_RANGE;
    if (st == 413) return WERR_TOOBIG;
    if (st == 400) return WERR_INVALID;
    if (st == 507 || !strcmp(reason, "quotaExceeded")) return WERR_NOSPACE;
    return WERR_IO;
}

static int retryable(long st)
{
    return st >= 500 || st == 429 || st == 408;
}

/* one attempt; 0 (2xx, or 308 for a resumable chunk), a WERR_* (HTTP error),
 * or 1 (transport error or a status worth retrying) */
static int attempt(struct gcs_driver *d, CURL *h, struct gcs_req *r, const char *token)
{
    struct arena *a = arena_new();
    struct buf errbody;
    buf_init(&errbody, GCS_ERR_MAX);
    int rc = 0;
    struct curl_slist *hl = NULL;
    if (token) hl = curl_slist_append(hl, arena_printf(a, "Authorization: Bearer %s", token));
    for (size_t i = 0; i < r->nhdrs; i++)
        hl = curl_slist_append(hl, r->hdrs[i]);
    hl = curl_slist_append(hl, "Expect:");
    hl = curl_slist_append(
        hl, arena_printf(a, "Content-Type:%s%s", r->ctype ? " " : "", r->ctype ? r->ctype : ""));
    struct xfer x = {.r = r, .up = r->body, .uplen = r->body_len};
    r->length = r->total = r->gen = r->range_end = -1;
    r->status = 0;
    r->reason[0] = '\0';
    free(r->location);
    r->location = NULL;
    if (r->resp) r->resp->len = 0;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, r->url);
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
    curl_easy_setopt(h, CURLOPT_USERAGENT, "wharf");
    if (!strcmp(r->method, "PUT")) {
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
    x.body = &errbody;
    x.max = r->resp && r->resp_max > GCS_ERR_MAX ? r->resp_max : GCS_ERR_MAX;
    errbody.cap = x.max;
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hl);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (cc == CURLE_WRITE_ERROR && x.overflow && r->status / 100 == 2) {
        rc = WERR_TOOBIG;
        goto out;
    }
    if (cc != CURLE_OK) {
        log_debug("gcs: %s %s: %s", r->method, r->url, curl_easy_strerror(cc));
        r->status = 0;
        rc = 1;
        goto out;
    }
    if (r->status / 100 == 2 || r->status == 308) {
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
    json_object *e = json_parse(errbody.data, errbody.len), *eo, *errs;
    if (e && json_object_object_get_ex(e, "error", &eo) &&
        json_object_object_get_ex(eo, "errors", &errs) &&
        json_object_is_type(errs, json_type_array) && json_object_array_length(errs) > 0) {
        const char *rs = jstr(json_object_array_get_idx(errs, 0), "reason");
        if (rs) snprintf(r->reason, sizeof r->reason, "%s", rs);
    }
    json_object_put(e);
    rc = retryable(r->status) ? 1 : status_err(r->status, r->reason);
    if (r->status != 404)
        log_debug("gcs: %s %s: HTTP %ld %s", r->method, r->url, r->status, r->reason);
out:
    buf_free(&errbody);
    arena_free(a);
    return rc;
}

/* token_get: a valid access token into out (fetched when none is cached or
 * it expires within a minute; forget, when not NULL, is a token the store
 * refused: dropped first unless another thread replaced it already) */
static int gcs_do(struct gcs_driver *d, struct gcs_req *r);

static int token_get(struct gcs_driver *d, char out[GCS_TOKEN_MAX], const char *forget)
{
    int rc = 0;
    pthread_mutex_lock(&d->tmu);
    if (forget && !strcmp(forget, d->token)) d->token[0] = '\0';
    time_t now = time(NULL);
    if (d->token[0] && d->token_exp - 60 > now) {
        memcpy(out, d->token, GCS_TOKEN_MAX);
        goto out;
    }
    char *jwt = gcs_jwt(d->key, d->email, d->token_uri, now);
    if (!jwt) {
        rc = WERR_IO;
        goto out;
    }
    struct arena *a = arena_new();
    char *body = arena_printf(
        a, "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s",
        jwt);
    free(jwt);
    struct buf *b = buf_arena_new(a, GCS_ERR_MAX);
    struct gcs_req r = {.method = "POST",
                        .url = d->token_uri,
                        .body = body,
                        .body_len = strlen(body),
                        .ctype = "application/x-www-form-urlencoded",
                        .resp = b,
                        .resp_max = GCS_ERR_MAX,
                        .noauth = 1};
    rc = gcs_do(d, &r);
    json_object *o = rc == 0 ? json_parse(b->data, b->len) : NULL;
    const char *tok = jstr(o, "access_token");
    int64_t ttl = jint(o, "expires_in", 3600);
    if (rc == 0 && (!tok || !*tok || strlen(tok) >= GCS_TOKEN_MAX || strpbrk(tok, "\r\n"))) {
        log_warn("gcs: %s: no usable access_token in the answer", d->token_uri);
        rc = WERR_DENIED;
    } else if (rc) {
        log_warn("gcs: %s: the token request failed (HTTP %ld): %s", d->token_uri, r.status,
                 werr_str(rc));
        if (rc == WERR_INVALID) rc = WERR_DENIED;
    } else {
        snprintf(d->token, sizeof d->token, "%s", tok);
        d->token_exp = now + (ttl > 0 ? ttl : 60);
        memcpy(out, d->token, GCS_TOKEN_MAX);
    }
    json_object_put(o);
    arena_free(a);
out:
    pthread_mutex_unlock(&d->tmu);
    return rc;
}

/* gcs_do: the request with a token, again with a fresh one after a 401, and
 * retries (backoff 50 ms doubling, jittered, to 3.2 s) */
static int gcs_do(struct gcs_driver *d, struct gcs_req *r)
{
    char *tok = r->noauth ? NULL : xmalloc(GCS_TOKEN_MAX);
    int rc = tok ? token_get(d, tok, NULL) : 0;
    if (rc) {
        free(tok);
        return rc;
    }
    CURL *h = handle_get(d);
    long delay = 50;
    int reauth = 0;
    for (int i = 0; i < GCS_TRIES; i++) {
        rc = attempt(d, h, r, tok);
        if (rc == WERR_DENIED && r->status == 401 && tok && !reauth) {
            reauth = 1; /* expired or revoked: once more with a new token */
            if ((rc = token_get(d, tok, tok)) != 0) break;
            i--;
            continue;
        }
        if (rc != 1 || r->noretry) break;
        if (i + 1 < GCS_TRIES) {
            unsigned char j;
            RAND_bytes(&j, 1);
            struct timespec ts = {delay / 1000, (delay % 1000 + j % 50) * 1000000L};
            nanosleep(&ts, NULL);
            if (delay < 3200) delay *= 2;
        }
    }
    handle_put(d, h);
    free(tok);
    if (rc == 1) {
        if (!r->noretry)
            log_warn("gcs: %s %s failed after %d attempts (HTTP %ld %s)", r->method, r->url,
                     GCS_TRIES, r->status, r->reason);
        rc = WERR_IO;
    }
    return rc;
}

static void req_done(struct gcs_req *r)
{
    free(r->location);
    r->location = NULL;
}

/* ---------------------------------------------------------------- objects */

/* obj_meta: an object's size, update time and generation */
static int obj_meta(struct gcs_driver *d, const char *key, int64_t *size, time_t *mtime,
                    int64_t *gen)
{
    struct arena *a = arena_new();
    struct buf *b = buf_arena_new(a, GCS_JSON_MAX);
    struct gcs_req r = {
        .method = "GET", .url = obj_url(d, a, key, NULL), .resp = b, .resp_max = GCS_JSON_MAX};
    int rc = gcs_do(d, &r);
    req_done(&r);
    json_object *o = rc == 0 ? json_parse(b->data, b->len) : NULL;
    if (rc == 0 && !o) rc = WERR_IO;
    if (rc == 0) {
        if (size) *size = jint(o, "size", 0);
        if (mtime) {
            time_t t = iso_time(jstr(o, "updated"));
            *mtime = t ? t : time(NULL);
        }
        if (gen) *gen = jint(o, "generation", 0);
    }
    json_object_put(o);
    arena_free(a);
    return rc;
}

/* obj_put: a simple media upload; ifgen >= 0: only when the object's
 * generation is ifgen (0: only when absent), else WERR_EXISTS. *gen (may be
 * NULL) the new generation. */
static int obj_put(struct gcs_driver *d, const char *key, const void *data, size_t len,
                   int64_t ifgen, int64_t *gen)
{
    struct arena *a = arena_new();
    char cond[48] = "";
    if (ifgen >= 0) snprintf(cond, sizeof cond, "&ifGenerationMatch=%" PRId64, ifgen);
    struct buf *b = buf_arena_new(a, GCS_JSON_MAX);
    struct gcs_req r = {
        .method = "POST",
        .url = arena_printf(a, "%s/upload/storage/v1/b/%s/o?uploadType=media&name=%s%s",
                            d->endpoint, enc(a, d->bucket), enc(a, key), cond),
        .body = data,
        .body_len = len,
        .ctype = "application/octet-stream",
        .resp = b,
        .resp_max = GCS_JSON_MAX};
    int rc = gcs_do(d, &r);
    req_done(&r);
    if (rc == 0 && gen) {
        json_object *o = json_parse(b->data, b->len);
        *gen = jint(o, "generation", 0);
        json_object_put(o);
    }
    arena_free(a);
    return rc;
}

/* obj_delete: absent is fine; ifgen >= 0: only that generation */
static int obj_delete(struct gcs_driver *d, const char *key, int64_t ifgen)
{
    struct arena *a = arena_new();
    char cond[48] = "";
    if (ifgen >= 0) snprintf(cond, sizeof cond, "?ifGenerationMatch=%" PRId64, ifgen);
    struct gcs_req r = {.method = "DELETE", .url = obj_url(d, a, key, cond)};
    int rc = gcs_do(d, &r);
    req_done(&r);
    arena_free(a);
    return rc == WERR_NOTFOUND ? 0 : rc;
}

/* obj_get: bytes [off, off+len) of key (len < 0: to the end, bounded by
 * max) into b; gen > 0 reads that generation only (WERR_NOTFOUND once it was
 * replaced); *total the object's size, *gen_out the generation read */
static int obj_get(struct gcs_driver *d, const char *key, int64_t off, int64_t len, size_t max,
                   int64_t gen, struct buf *b, int64_t *total, int64_t *gen_out)
{
    struct arena *a = arena_new();
    const char *hdrs[1] = {NULL};
    size_t nh = 0;
    if (off > 0 || len >= 0)
        hdrs[nh++] = len >= 0
                         ? arena_printf(a, "Range: bytes=%" PRId64 "-%" PRId64, off, off + len - 1)
                         : arena_printf(a, "Range: bytes=%" PRId64 "-", off);
    char q[64];
    if (gen > 0)
        snprintf(q, sizeof q, "?alt=media&generation=%" PRId64, gen);
    else
        snprintf(q, sizeof q, "?alt=media");
    struct gcs_req r = {.method = "GET",
                        .url = obj_url(d, a, key, q),
                        .hdrs = {hdrs[0]},
                        .nhdrs = nh,
                        .resp = b,
                        .resp_max = max};
    int rc = gcs_do(d, &r);
    req_done(&r);
    if (total) *total = r.total >= 0 ? r.total : r.length;
    if (gen_out) *gen_out = r.gen;
    arena_free(a);
    return rc;
}

/* obj_rewrite: dst = src, server-side (rewrite, repeated with its
 * rewriteToken until done: large or cross-location copies take several) */
static int obj_rewrite(struct gcs_driver *d, const char *src, const char *dst)
{
    struct arena *a = arena_new();
    char *base = arena_printf(a, "%s/storage/v1/b/%s/o/%s/rewriteTo/b/%s/o/%s", d->endpoint,
                              enc(a, d->bucket), enc(a, src), enc(a, d->bucket), enc(a, dst));
    char *token = NULL;
    int rc = 0;
    for (int round = 0; round < 10000; round++) {
        struct buf *b = buf_arena_new(a, GCS_JSON_MAX);
        struct gcs_req r = {
            .method = "POST",
            .url = token ? arena_printf(a, "%s?rewriteToken=%s", base, enc(a, token)) : base,
            .body = "{}",
            .body_len = 2,
            .ctype = "application/json",
            .resp = b,
            .resp_max = GCS_JSON_MAX};
        rc = gcs_do(d, &r);
        req_done(&r);
        if (rc) break;
        json_object *o = json_parse(b->data, b->len), *done;
        int fin = o && json_object_object_get_ex(o, "done", &done) && json_object_get_boolean(done);
        const char *t = jstr(o, "rewriteToken");
        token = t ? arena_strdup(a, t) : NULL;
        json_object_put(o);
        if (fin) break;
        if (!token) {
            rc = WERR_IO;
            break;
        }
    }
    arena_free(a);
    return rc;
}

/* compose_one: dst = the concatenation of n <= 32 source objects */
static int compose_one(struct gcs_driver *d, const char *dst, char *const *src, size_t n)
{
    json_object *o = json_object_new_object(), *arr = json_object_new_array(),
                *dest = json_object_new_object();
    for (size_t i = 0; i < n; i++) {
        json_object *s = json_object_new_object();
        json_object_object_add(s, "name", json_object_new_string(src[i]));
        json_object_array_add(arr, s);
    }
    json_object_object_add(dest, "contentType", json_object_new_string("application/octet-stream"));
    json_object_object_add(o, "sourceObjects", arr);
    json_object_object_add(o, "destination", dest);
    const char *body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    struct arena *a = arena_new();
    struct gcs_req r = {.method = "POST",
                        .url = obj_url(d, a, dst, "/compose"),
                        .body = body,
                        .body_len = strlen(body),
                        .ctype = "application/json"};
    int rc = gcs_do(d, &r);
    req_done(&r);
    arena_free(a);
    json_object_put(o);
    return rc;
}

/* compose_all: dst = the concatenation of n sources, by rounds of compose
 * of 32 into temporaries named tmpbase + "c<round>-<i>", deleted after */
static int compose_all(struct gcs_driver *d, struct arena *a, const char *dst, char **src, size_t n,
                       const char *tmpbase)
{
    if (n == 0) return obj_put(d, dst, "", 0, -1, NULL);
    if (n == 1) return obj_rewrite(d, src[0], dst);
    int rc = 0;
    char **cur = src, **made = NULL;
    size_t nmade = 0;
    unsigned char rnd[4];
    RAND_bytes(rnd, sizeof rnd);
    for (int round = 0; n > GCS_COMPOSE_MAX && rc == 0; round++) {
        size_t ng = (n + GCS_COMPOSE_MAX - 1) / GCS_COMPOSE_MAX;
        char **next = arena_alloc(a, ng * sizeof *next);
        for (size_t g = 0; g < ng && rc == 0; g++) {
            size_t k = n - g * GCS_COMPOSE_MAX < GCS_COMPOSE_MAX ? n - g * GCS_COMPOSE_MAX
                                                                 : GCS_COMPOSE_MAX;
            next[g] = arena_printf(a, "%sc%02x%02x%02x%02x-%d-%zu", tmpbase, rnd[0], rnd[1], rnd[2],
                                   rnd[3], round, g);
            rc = compose_one(d, next[g], cur + g * GCS_COMPOSE_MAX, k);
            if (rc == 0) {
                char **m = arena_alloc(a, (nmade + 1) * sizeof *m);
                if (nmade) memcpy(m, made, nmade * sizeof *m);
                m[nmade++] = next[g];
                made = m;
            }
        }
        cur = next;
        n = ng;
    }
    if (rc == 0) rc = compose_one(d, dst, cur, n);
    for (size_t i = 0; i < nmade; i++)
        obj_delete(d, made[i], -1);
    return rc;
}

/* ---------------------------------------------------------------- listing */

struct gcs_entry {
    char *key;
    int64_t size;
    time_t mtime;
    int is_prefix;
};

struct gcs_list {
    struct gcs_entry *e;
    size_t n, cap;
};

static void list_add(struct arena *a, struct gcs_list *l, char *key, int64_t size, time_t mtime,
                     int is_prefix)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct gcs_entry *ne = arena_alloc(a, nc * sizeof *ne);
        if (l->n) memcpy(ne, l->e, l->n * sizeof *ne);
        l->e = ne;
        l->cap = nc;
    }
    l->e[l->n++] = (struct gcs_entry){key, size, mtime, is_prefix};
}

/* list_keys: objects under prefix (delim "/": and the prefixes below it),
 * every page (pageToken), at most limit entries (0: no limit) */
static int list_keys(struct gcs_driver *d, struct arena *a, const char *prefix, const char *delim,
                     size_t limit, struct gcs_list *out)
{
    char *token = NULL;
    memset(out, 0, sizeof *out);
    size_t maxr = limit && limit < 1000 ? limit : 1000;
    for (int page = 0;; page++) {
        struct buf *b = buf_arena_new(a, GCS_JSON_MAX);
        char *url = arena_printf(a, "%s/storage/v1/b/%s/o?prefix=%s&maxResults=%zu%s%s%s%s",
                                 d->endpoint, enc(a, d->bucket), enc(a, prefix), maxr,
                                 delim ? "&delimiter=" : "", delim ? enc(a, delim) : "",
                                 token ? "&pageToken=" : "", token ? enc(a, token) : "");
        struct gcs_req r = {.method = "GET", .url = url, .resp = b, .resp_max = GCS_JSON_MAX};
        int rc = gcs_do(d, &r);
        req_done(&r);
        if (rc) return rc;
        json_object *o = json_parse(b->data, b->len), *items, *pfx;
        if (!o) return WERR_IO;
        if (json_object_object_get_ex(o, "items", &items) &&
            json_object_is_type(items, json_type_array)) {
            size_t ni = json_object_array_length(items);
            for (size_t i = 0; i < ni; i++) {
                json_object *it = json_object_array_get_idx(items, i);
                const char *nm = jstr(it, "name");
                if (nm)
                    list_add(a, out, arena_strdup(a, nm), jint(it, "size", 0),
                             iso_time(jstr(it, "updated")), 0);
            }
        }
        if (json_object_object_get_ex(o, "prefixes", &pfx) &&
            json_object_is_type(pfx, json_type_array)) {
            size_t np = json_object_array_length(pfx);
            for (size_t i = 0; i < np; i++) {
                json_object *p = json_object_array_get_idx(pfx, i);
                if (json_object_is_type(p, json_type_string))
                    list_add(a, out, arena_strdup(a, json_object_get_string(p)), 0, 0, 1);
            }
        }
        const char *t = jstr(o, "nextPageToken");
        token = t && *t ? arena_strdup(a, t) : NULL;
        json_object_put(o);
        if (!token || (limit && out->n >= limit)) break;
        if (page > 1000000) return WERR_TOOBIG;
    }
    return 0;
}

/* delete_keys: every listed object, by up to GCS_DELETE_THREADS requests at
 * a time (the JSON API deletes one object a request) */
#define GCS_DELETE_THREADS 8

struct del_job {
    struct gcs_driver *d;
    struct gcs_list *l;
    pthread_mutex_t mu;
    size_t next;
    int rc;
};

static void *del_worker(void *p)
{
    struct del_job *j = p;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->l->n) break;
        if (j->l->e[i].is_prefix) continue;
        int rc = obj_delete(j->d, j->l->e[i].key, -1);
        if (rc) {
            pthread_mutex_lock(&j->mu);
            if (!j->rc) j->rc = rc;
            pthread_mutex_unlock(&j->mu);
        }
    }
    return NULL;
}

static int delete_keys(struct gcs_driver *d, struct gcs_list *l)
{
    struct del_job j = {.d = d, .l = l, .mu = PTHREAD_MUTEX_INITIALIZER};
    size_t nt = l->n < GCS_DELETE_THREADS ? l->n : GCS_DELETE_THREADS;
    par_run(nt, del_worker, &j);
    pthread_mutex_destroy(&j.mu);
    return j.rc;
}

/* ---------------------------------------------------------------- writer state */

struct seg {
    char *name; /* object name under the state prefix */
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
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
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
    return arena_printf(a, "%s%s%s", key, GCS_STATE, name);
}

static int index_load(struct gcs_driver *d, const char *key, struct segs *out)
{
    struct arena *a = arena_new();
    struct buf *b = buf_arena_new(a, GCS_INDEX_MAX);
    memset(out, 0, sizeof *out);
    int rc = obj_get(d, state_key(a, key, "index"), 0, -1, GCS_INDEX_MAX, 0, b, NULL, NULL);
    if (rc) goto out;
    const char *p = b->data ? b->data : "";
    size_t ml = strlen(GCS_INDEX_MAGIC);
    if (b->len < ml || strncmp(p, GCS_INDEX_MAGIC, ml)) {
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

static int index_save(struct gcs_driver *d, const char *key, const struct segs *s)
{
    struct buf b;
    buf_init(&b, GCS_INDEX_MAX);
    struct arena *a = arena_new();
    int rc = buf_puts(&b, GCS_INDEX_MAGIC);
    for (size_t i = 0; i < s->n && rc == 0; i++)
        rc = buf_printf(&b, "%s %" PRId64 " %" PRId64 "\n", s->v[i].name, s->v[i].start,
                        s->v[i].size);
    if (rc == 0) rc = obj_put(d, state_key(a, key, "index"), b.data, b.len, -1, NULL);
    arena_free(a);
    buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- stat */

enum kind { K_NONE, K_FILE, K_SEGMENTED, K_DIR };

static int classify(struct gcs_driver *d, struct arena *a, const char *path, int64_t *size,
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
    int rc = obj_meta(d, key, size, mtime, NULL);
    if (rc == 0) {
        *kind = K_FILE;
        return 0;
    }
    if (rc != WERR_NOTFOUND) return rc;
    struct segs s;
    time_t imt;
    rc = obj_meta(d, state_key(a, key, "index"), NULL, &imt, NULL);
    if (rc == 0 && (rc = index_load(d, key, &s)) == 0) {
        *size = segs_size(&s);
        *mtime = imt; /* the index is rewritten at every close */
        segs_free(&s);
        *kind = K_SEGMENTED;
        return 0;
    }
    if (rc != WERR_NOTFOUND) return rc;
    struct gcs_list l;
    if ((rc = list_keys(d, a, dir_of(d, a, path), NULL, 1, &l)) != 0) return rc;
    if (l.n) {
        *kind = K_DIR;
        *mtime = l.e[0].mtime;
    }
    return 0;
}

static int gcs_stat(struct storage_driver *base, const char *path, struct storage_stat *st)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
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

struct gcs_reader {
    struct storage_reader base;
    struct gcs_driver *d;
    int open;
    char *key;        /* plain object (malloc), or NULL for segments */
    int64_t gen;      /* the generation read: later blocks read it only */
    struct segs segs; /* segmented file */
    char *statekey;   /* malloc: key + GCS_STATE */
    int64_t size, pos;
    struct buf blk; /* fetched bytes [blk_off, blk_off + blk.len) */
    int64_t blk_off;
};

static void reader_release(struct gcs_reader *r)
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

static int gcs_reader(struct storage_driver *base, struct arena *a, const char *path,
                      int64_t offset, struct storage_reader **out)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    if (offset < 0) return WERR_RANGE;
    struct arena *t = arena_new();
    char *key = key_of(d, t, path);
    struct gcs_reader *r = arena_zalloc(a, sizeof *r);
    r->base.ops = &gcs_reader_ops;
    r->d = d;
    buf_init(&r->blk, 0);
    /* the first block, the size and the generation in one response */
    rc = obj_get(d, key, offset, GCS_READ_BLOCK, GCS_READ_BLOCK, 0, &r->blk, &r->size, &r->gen);
    if (rc == 0) {
        r->key = xstrdup(key);
        r->blk_off = offset;
        if (r->size < 0) rc = WERR_IO;
    } else if (rc == WERR_RANGE) { /* at or past the end (an empty object has no byte 0) */
        buf_free(&r->blk);
        if ((rc = obj_meta(d, key, &r->size, NULL, &r->gen)) == 0) {
            r->key = xstrdup(key);
            r->blk_off = offset;
        }
    } else if (rc == WERR_NOTFOUND && (rc = index_load(d, key, &r->segs)) == 0) {
        r->size = segs_size(&r->segs);
        r->statekey = xstrdup(state_key(t, key, ""));
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

static ssize_t read_some(struct storage_reader *base, void *buf, size_t n)
{
    struct gcs_reader *r = (struct gcs_reader *)base;
    if (!r->open) return WERR_INVALID;
    if (r->pos >= r->size || n == 0) return 0;
    if (!(r->pos >= r->blk_off && r->pos < r->blk_off + (int64_t)r->blk.len)) {
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
        if (want > GCS_READ_BLOCK) want = GCS_READ_BLOCK;
        buf_free(&r->blk);
        buf_init(&r->blk, 0);
        int rc = obj_get(r->d, key, r->pos - base_off, want, (size_t)want, r->key ? r->gen : 0,
                         &r->blk, NULL, NULL);
        free(segkey);
        if (rc == WERR_NOTFOUND && r->key) rc = WERR_IO; /* replaced while read */
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

/* gcs_read: n bytes unless the end comes first (across segment boundaries
 * too: callers read whole buffers) */
static ssize_t gcs_read(struct storage_reader *base, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read_some(base, (char *)buf + got, n - got);
        if (k < 0 && got == 0) return k;
        if (k <= 0) break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

static void gcs_reader_close(struct storage_reader *base)
{
    reader_release((struct gcs_reader *)base);
}

/* ---------------------------------------------------------------- whole content */

static int gcs_get_content(struct storage_driver *base, struct arena *a, const char *path,
                           size_t max, char **data, size_t *len)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct buf b;
    buf_init(&b, 0);
    struct arena *t = arena_new();
    char *key = key_of(d, t, path);
    rc = obj_get(d, key, 0, -1, max, 0, &b, NULL, NULL);
    if (rc == WERR_NOTFOUND) {
        struct segs s;
        if ((rc = index_load(d, key, &s)) != 0) goto out;
        int64_t size = segs_size(&s);
        segs_free(&s);
        if ((uint64_t)size > max) {
            rc = WERR_TOOBIG;
            goto out;
        }
        struct storage_reader *r;
        if ((rc = gcs_reader(base, t, path, 0, &r)) != 0) goto out;
        char *o = arena_alloc(a, (size_t)size + 1);
        size_t got = 0;
        while (got < (size_t)size) {
            ssize_t n = gcs_read(r, o + got, (size_t)size - got);
            if (n <= 0) {
                rc = n < 0 ? (int)n : WERR_IO;
                goto out;
            }
            got += (size_t)n;
        }
        o[got] = '\0';
        *data = o;
        *len = got;
        goto out;
    }
    if (rc) goto out;
    char *o = arena_alloc(a, b.len + 1);
    if (b.len) memcpy(o, b.data, b.len);
    o[b.len] = '\0';
    *data = o;
    *len = b.len;
out:
    buf_free(&b);
    arena_free(t);
    return rc;
}

static int gcs_put_content(struct storage_driver *base, const char *path, const void *data,
                           size_t len)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct arena *a = arena_new();
    rc = obj_put(d, key_of(d, a, path), data, len, -1, NULL);
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- list, delete, walk */

static int gcs_list(struct storage_driver *base, struct arena *a, const char *path, char ***names,
                    size_t *n)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    struct arena *t = arena_new();
    char *dk = dir_of(d, t, path);
    struct gcs_list l;
    if ((rc = list_keys(d, t, dk, "/", 0, &l)) != 0) goto out;
    char **v = arena_alloc(a, (l.n + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        char *nm = objstore_child_name(a, dk, l.e[i].key);
        if (nm) v[k++] = nm;
    }
    size_t u = objstore_sort_unique(v, k); /* a file x and a directory x/ list once */
    if (u == 0 && path[1]) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    v[u] = NULL;
    *names = v;
    *n = u;
out:
    arena_free(t);
    return rc;
}

/* list_page: one list request per page (startOffset, maxResults,
 * delimiter "/"). Names come in object-name order: a name that is a prefix
 * here (a directory, or a file written through a writer, whose data lives
 * under "<key>/.tmp-w/") sorts as if it ended with '/', which differs from
 * plain name order only next to names holding bytes below '/' (as s3's). */
static int page_cmp(const void *x, const void *y)
{
    return strcmp(((const struct gcs_entry *)x)->key, ((const struct gcs_entry *)y)->key);
}

static int gcs_list_page(struct storage_driver *base, struct arena *a, const char *path,
                         const char *after, size_t max, char ***names, size_t *n, int *more)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    if (after && strlen(after) > GCS_PATH_MAX) return WERR_INVALID;
    struct arena *t = arena_new();
    char *dk = dir_of(d, t, path);
    size_t cap = max < 999 ? max + 1 : 1000; /* one more tells whether more exist */
    char *token = NULL, **out = NULL;
    size_t u = 0;
    int truncated = 0;
    for (int round = 0; round < 8 && u == 0; round++) { /* a page of only skipped names: on */
        struct buf *b = buf_arena_new(t, GCS_JSON_MAX);
        char *url = arena_printf(t, "%s/storage/v1/b/%s/o?prefix=%s&delimiter=%%2F&maxResults=%zu",
                                 d->endpoint, enc(t, d->bucket), enc(t, dk), cap);
        if (after && *after) /* inclusive: the equality test below drops after itself */
            url = arena_printf(t, "%s&startOffset=%s", url,
                               enc(t, arena_printf(t, "%s%s", dk, after)));
        if (token) url = arena_printf(t, "%s&pageToken=%s", url, enc(t, token));
        struct gcs_req r = {.method = "GET", .url = url, .resp = b, .resp_max = GCS_JSON_MAX};
        rc = gcs_do(d, &r);
        req_done(&r);
        if (rc) goto out;
        json_object *o = json_parse(b->data, b->len), *arr;
        if (!o) {
            rc = WERR_IO;
            goto out;
        }
        struct gcs_list l = {0};
        static const char *const kinds[2] = {"items", "prefixes"};
        for (int k = 0; k < 2; k++) {
            if (!json_object_object_get_ex(o, kinds[k], &arr) ||
                !json_object_is_type(arr, json_type_array))
                continue;
            size_t na = json_object_array_length(arr);
            for (size_t i = 0; i < na; i++) {
                json_object *e = json_object_array_get_idx(arr, i);
                const char *key =
                    k ? (json_object_is_type(e, json_type_string) ? json_object_get_string(e)
                                                                  : NULL)
                      : jstr(e, "name");
                if (key) list_add(t, &l, arena_strdup(t, key), 0, 0, k);
            }
        }
        const char *nt = jstr(o, "nextPageToken");
        token = nt && *nt ? arena_strdup(t, nt) : NULL;
        json_object_put(o);
        truncated = token != NULL;
        if (l.n) qsort(l.e, l.n, sizeof *l.e, page_cmp);
        out = arena_alloc(a, (l.n + 1) * sizeof *out);
        for (size_t i = 0; i < l.n; i++) {
            char *nm = objstore_child_name(a, dk, l.e[i].key);
            if (!nm || (after && !strcmp(nm, after))) continue;
            if (!u || strcmp(out[u - 1], nm)) out[u++] = nm;
        }
        if (!truncated) break;
    }
    *more = u > max || truncated;
    if (u > max) u = max;
    if (!out) out = arena_alloc(a, sizeof *out);
    out[u] = NULL;
    *names = out;
    *n = u;
out:
    arena_free(t);
    return rc;
}

static int gcs_delete(struct storage_driver *base, const char *path)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct arena *a = arena_new();
    char *key = key_of(d, a, path);
    int found = 0;
    rc = obj_meta(d, key, NULL, NULL, NULL);
    if (rc == 0) {
        found = 1;
        rc = obj_delete(d, key, -1);
    } else if (rc == WERR_NOTFOUND) {
        rc = 0;
    }
    if (rc) goto out;
    struct gcs_list l;
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
    const char *a = ((const struct gcs_entry *)x)->key, *b = ((const struct gcs_entry *)y)->key;
    for (;; a++, b++) { /* '/' ends a component, sorting before any byte */
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

static int gcs_walk(struct storage_driver *base, const char *path, storage_walk_fn fn, void *ctx)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    struct arena *a = arena_new();
    char *dk = dir_of(d, a, path);
    size_t dl = strlen(dk);
    struct gcs_list l;
    if ((rc = list_keys(d, a, dk, NULL, 0, &l)) != 0) goto out;
    if (!l.n && path[1]) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    /* a writer's state "x/.tmp-w/..." stands for the file x: keep its index only */
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        char *st = strstr(l.e[i].key + dl, GCS_STATE);
        char *tmp = strstr(l.e[i].key + dl, "/" TMP_PREFIX);
        if (!strncmp(l.e[i].key + dl, TMP_PREFIX, 5)) continue;
        if (tmp && tmp != st) continue;
        if (st) {
            if (strcmp(st + strlen(GCS_STATE), "index")) continue;
            *st = '\0';
            l.e[i].size = -1; /* looked up when reached */
        }
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
        if (i && !strcmp(rel, l.e[i - 1].key + dl)) continue; /* plain file and state both */
        size_t common = 0;
        while (prev[common] && prev[common] == rel[common])
            common++;
        while (common && rel[common - 1] != '/')
            common--;
        if (prev[common] == '\0' && common && rel[common - 1] != '/') common = 0;
        const char *slash = rel + common;
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
            st.size = index_load(d, l.e[i].key, &s) == 0 ? segs_size(&s) : 0;
            segs_free(&s);
        }
        char *fpath = arena_printf(a, "%s/%s", root, rel);
        int r = fn(ctx, fpath, &st);
        if (r == WALK_SKIP_DIR) {
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

/* compose_segments: dst = a writer's segments, server-side */
static int compose_segments(struct gcs_driver *d, struct arena *a, const char *srckey,
                            const struct segs *sg, const char *dst)
{
    char **src = arena_alloc(a, (sg->n + 1) * sizeof *src);
    for (size_t i = 0; i < sg->n; i++)
        src[i] = state_key(a, srckey, sg->v[i].name);
    return compose_all(d, a, dst, src, sg->n, state_key(a, srckey, ""));
}

static int gcs_move(struct storage_driver *base, const char *src, const char *dst)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    int rc = path_check(src, 0);
    if (rc || (rc = path_check(dst, 0)) != 0) return rc;
    size_t sl = strlen(src);
    if (!strncmp(dst, src, sl) && (dst[sl] == '/' || !dst[sl])) return dst[sl] ? WERR_INVALID : 0;
    struct arena *a = arena_new();
    char *sk = key_of(d, a, src), *dk = key_of(d, a, dst);
    rc = obj_meta(d, sk, NULL, NULL, NULL);
    if (rc == 0) {
        if ((rc = obj_rewrite(d, sk, dk)) == 0) rc = obj_delete(d, sk, -1);
        goto out;
    }
    if (rc != WERR_NOTFOUND) goto out;
    struct segs sg;
    rc = index_load(d, sk, &sg);
    if (rc == 0) {
        rc = compose_segments(d, a, sk, &sg, dk);
        segs_free(&sg);
        if (rc == 0) {
            struct gcs_list l;
            if ((rc = list_keys(d, a, state_key(a, sk, ""), NULL, 0, &l)) == 0)
                rc = delete_keys(d, &l);
        }
        goto out;
    }
    if (rc != WERR_NOTFOUND) goto out;
    /* a directory: every object below, one by one */
    struct gcs_list l;
    char *sd = dir_of(d, a, src), *dd = dir_of(d, a, dst);
    if ((rc = list_keys(d, a, sd, NULL, 0, &l)) != 0) goto out;
    if (!l.n) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    size_t sdl = strlen(sd);
    for (size_t i = 0; i < l.n && rc == 0; i++)
        rc = obj_rewrite(d, l.e[i].key, arena_printf(a, "%s%s", dd, l.e[i].key + sdl));
    if (rc == 0) rc = delete_keys(d, &l);
out:
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- writer */

/* A writer streams into one resumable upload session: chunks of chunksize
 * (a multiple of 256 KiB, as the API wants of every chunk but the last) are
 * PUT as they fill; close finishes the session with the tail, and the
 * finished object becomes the next segment in the index. A writer that
 * never fills a chunk uploads its bytes in one simple request instead. */
struct gcs_writer {
    struct storage_writer base;
    struct gcs_driver *d;
    int open;
    char *key;           /* malloc */
    struct segs segs;    /* persisted segments, in order */
    struct segs dropped; /* segments no longer in the file: deleted after the index */
    struct segs created; /* segments this writer made (cancel deletes them) */
    unsigned char *buf;  /* bytes not yet sent (at most chunksize) */
    size_t blen;
    char *session;    /* malloc: the open session's URI, or NULL */
    char sname[64];   /* the session's segment name */
    int64_t sent;     /* bytes the session holds */
    int plain_delete; /* a plain object was taken over: delete it after the index */
    int dirty;        /* the index must be written at close */
    int fresh;        /* no file before this writer */
};

static void writer_free(struct gcs_writer *w)
{
    free(w->key);
    segs_free(&w->segs);
    segs_free(&w->dropped);
    segs_free(&w->created);
    free(w->buf);
    free(w->session);
    w->key = NULL;
    w->buf = NULL;
    w->session = NULL;
}

static void seg_name(struct gcs_writer *w, char *out, size_t n)
{
    unsigned char rnd[4];
    RAND_bytes(rnd, sizeof rnd);
    snprintf(out, n, "s%016" PRIx64 "-%02x%02x%02x%02x", (uint64_t)segs_size(&w->segs), rnd[0],
             rnd[1], rnd[2], rnd[3]);
}

/* session_status: how many bytes the session holds (asked with
 * "Content-Range: bytes * / *"); *done when the object is already complete */
static int session_status(struct gcs_writer *w, int64_t *held, int *done)
{
    struct gcs_req r = {
        .method = "PUT", .url = w->session, .hdrs = {"Content-Range: bytes */*"}, .nhdrs = 1};
    int rc = gcs_do(w->d, &r);
    req_done(&r);
    *done = rc == 0 && r.status != 308;
    *held = r.range_end >= 0 ? r.range_end + 1 : 0;
    return rc;
}

/* session_put: the blen bytes of the buffer at the session's offset sent;
 * final: the object ends with them. A broken request is followed by a
 * status query and the bytes the session lacks are sent again. */
static int session_put(struct gcs_writer *w, int final)
{
    struct arena *a = arena_new();
    int rc = 0;
    if (!w->session) { /* start one */
        seg_name(w, w->sname, sizeof w->sname);
        char *name = state_key(a, w->key, w->sname);
        struct gcs_req r = {
            .method = "POST",
            .url = arena_printf(a, "%s/upload/storage/v1/b/%s/o?uploadType=resumable&name=%s",
                                w->d->endpoint, enc(a, w->d->bucket), enc(a, name)),
            .hdrs = {"X-Upload-Content-Type: application/octet-stream"},
            .nhdrs = 1,
            .body = "{}",
            .body_len = 2,
            .ctype = "application/json; charset=UTF-8"};
        rc = gcs_do(w->d, &r);
        if (rc == 0 && !r.location) rc = WERR_IO;
        if (rc == 0) {
            w->session = r.location;
            r.location = NULL;
            w->sent = 0;
        }
        req_done(&r);
        if (rc) goto out;
    }
    size_t off = 0; /* of the buffer, sent */
    for (int tries = 0; rc == 0; tries++) {
        int64_t from = w->sent, len = (int64_t)(w->blen - off);
        char *cr;
        if (final)
            cr = len ? arena_printf(a, "Content-Range: bytes %" PRId64 "-%" PRId64 "/%" PRId64,
                                    from, from + len - 1, from + len)
                     : arena_printf(a, "Content-Range: bytes */%" PRId64, from);
        else if (!len)
            break;
        else
            cr = arena_printf(a, "Content-Range: bytes %" PRId64 "-%" PRId64 "/*", from,
                              from + len - 1);
        struct gcs_req r = {.method = "PUT",
                            .url = w->session,
                            .hdrs = {cr},
                            .nhdrs = 1,
                            .body = w->buf + off,
                            .body_len = (size_t)len,
                            .noretry = 1};
        rc = gcs_do(w->d, &r);
        req_done(&r);
        int64_t held = w->sent;
        int done = 0;
        if (rc == 0 && r.status != 308) { /* the object is complete */
            if (!final) rc = WERR_IO;
            held = from + len;
            done = 1;
        } else if (rc == 0) {
            held = r.range_end >= 0 ? r.range_end + 1 : 0;
        } else if (rc == WERR_IO && tries < GCS_TRIES) { /* broken: ask what arrived */
            struct timespec ts = {0, 25000000L << (tries < 5 ? tries : 5)};
            nanosleep(&ts, NULL);
            rc = session_status(w, &held, &done);
            if (rc == 0 && done) /* the broken request did finish the object */
                held = final ? from + len : -1;
        }
        if (rc) break;
        if (held < w->sent || held > from + len) {
            rc = WERR_IO; /* the session lost bytes it had acknowledged */
            break;
        }
        off += (size_t)(held - w->sent);
        w->sent = held;
        if (done) {
            if (!final || off != w->blen) rc = WERR_IO;
            break;
        }
        if (!final && off == w->blen) break;
        if (tries >= GCS_TRIES + 4) rc = WERR_IO;
    }
    if (rc == 0) w->blen = 0;
out:
    arena_free(a);
    if (rc) log_warn("gcs: upload session of %s: %s", w->key, werr_str(rc));
    return rc;
}

/* finish_segment: what the writer holds becomes the next segment */
static int finish_segment(struct gcs_writer *w)
{
    int rc = 0;
    int64_t size;
    if (w->session) {
        size = w->sent + (int64_t)w->blen;
        if ((rc = session_put(w, 1)) != 0) return rc;
        free(w->session);
        w->session = NULL;
    } else {
        if (!w->blen) return 0;
        seg_name(w, w->sname, sizeof w->sname);
        struct arena *a = arena_new();
        rc = obj_put(w->d, state_key(a, w->key, w->sname), w->buf, w->blen, -1, NULL);
        arena_free(a);
        if (rc) return rc;
        size = (int64_t)w->blen;
        w->blen = 0;
    }
    int64_t start = segs_size(&w->segs);
    segs_add(&w->segs, w->sname, start, size);
    segs_add(&w->created, w->sname, start, size);
    w->dirty = 1;
    return 0;
}

/* compact: more than GCS_COMPOSE_MAX segments become one (the index and a
 * reader's per-segment requests stay small) */
static int compact(struct gcs_writer *w)
{
    if (w->segs.n <= GCS_COMPOSE_MAX) return 0;
    struct arena *a = arena_new();
    char name[64];
    unsigned char rnd[4];
    RAND_bytes(rnd, sizeof rnd);
    snprintf(name, sizeof name, "s%016x-%02x%02x%02x%02xc", 0, rnd[0], rnd[1], rnd[2], rnd[3]);
    int64_t size = segs_size(&w->segs);
    int rc = compose_segments(w->d, a, w->key, &w->segs, state_key(a, w->key, name));
    if (rc == 0) {
        for (size_t i = 0; i < w->segs.n; i++) {
            segs_add(&w->dropped, w->segs.v[i].name, w->segs.v[i].start, w->segs.v[i].size);
            free(w->segs.v[i].name);
        }
        w->segs.n = 0;
        segs_add(&w->segs, name, 0, size);
        segs_add(&w->created, name, 0, size);
        w->dirty = 1;
    }
    arena_free(a);
    return rc;
}

static int writer_persist(struct gcs_writer *w)
{
    int rc = finish_segment(w);
    if (rc == 0) rc = compact(w);
    struct arena *a = arena_new();
    if (rc == 0 && w->dirty) rc = index_save(w->d, w->key, &w->segs);
    if (rc == 0) {
        w->dirty = 0;
        for (size_t i = 0; i < w->dropped.n; i++)
            obj_delete(w->d, state_key(a, w->key, w->dropped.v[i].name), -1);
        segs_free(&w->dropped);
        if (w->plain_delete) obj_delete(w->d, w->key, -1);
        w->plain_delete = 0;
    }
    arena_free(a);
    return rc;
}

static void writer_cleanup(void *p)
{
    struct gcs_writer *w = p;
    if (!w->open) return;
    w->open = 0;
    if (writer_persist(w)) log_warn("gcs: writer of %s: state not saved", w->key);
    writer_free(w);
}

static int gcs_writer(struct storage_driver *base, struct arena *a, const char *path, int append,
                      struct storage_writer **out)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct gcs_writer *w = arena_zalloc(a, sizeof *w);
    w->base.ops = &gcs_writer_ops;
    w->d = d;
    struct arena *t = arena_new();
    w->key = xstrdup(key_of(d, t, path));
    w->buf = xmalloc((size_t)d->chunksize);
    if (!append) {
        rc = gcs_delete(base, path);
        if (rc == WERR_NOTFOUND) rc = 0;
        w->fresh = 1;
        w->dirty = 1;
    } else if ((rc = index_load(d, w->key, &w->segs)) == WERR_NOTFOUND) {
        int64_t size;
        rc = obj_meta(d, w->key, &size, NULL, NULL);
        if (rc == WERR_NOTFOUND) {
            rc = 0;
            w->fresh = 1;
            w->dirty = 1;
        } else if (rc == 0) {
            /* a plain object: copied server-side as the first segment */
            char name[64];
            unsigned char rnd[4];
            RAND_bytes(rnd, sizeof rnd);
            snprintf(name, sizeof name, "s%016x-%02x%02x%02x%02xp", 0, rnd[0], rnd[1], rnd[2],
                     rnd[3]);
            if ((rc = obj_rewrite(d, w->key, state_key(t, w->key, name))) == 0) {
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

static int gcs_write(struct storage_writer *base, const void *buf, size_t n)
{
    struct gcs_writer *w = (struct gcs_writer *)base;
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
            int rc = session_put(w, 0);
            if (rc) return rc;
        }
    }
    return 0;
}

static int64_t gcs_writer_size(struct storage_writer *base)
{
    struct gcs_writer *w = (struct gcs_writer *)base;
    return segs_size(&w->segs) + (w->session ? w->sent : 0) + (int64_t)w->blen;
}

/* reload: the last segment leaves the file; its first keep bytes are
 * written again (into the buffer, or a new session when large) */
static int reload(struct gcs_writer *w, int64_t keep)
{
    struct seg s = w->segs.v[w->segs.n - 1];
    w->segs.n--;
    segs_add(&w->dropped, s.name, s.start, s.size);
    w->dirty = 1;
    struct arena *a = arena_new();
    char *k = state_key(a, w->key, s.name);
    int rc = 0;
    for (int64_t off = 0; off < keep && rc == 0;) {
        int64_t n = keep - off < GCS_READ_BLOCK ? keep - off : GCS_READ_BLOCK;
        struct buf b;
        buf_init(&b, 0);
        rc = obj_get(w->d, k, off, n, (size_t)n, 0, &b, NULL, NULL);
        if (rc == 0 && (int64_t)b.len != n) rc = WERR_IO;
        if (rc == 0) rc = gcs_write(&w->base, b.data, b.len);
        buf_free(&b);
        off += n;
    }
    free(s.name);
    arena_free(a);
    return rc;
}

static int gcs_writer_truncate(struct storage_writer *base, int64_t size)
{
    struct gcs_writer *w = (struct gcs_writer *)base;
    if (!w->open) return WERR_INVALID;
    if (size < 0 || size > gcs_writer_size(base)) return WERR_RANGE;
    int64_t persisted = segs_size(&w->segs) + (w->session ? w->sent : 0);
    if (size >= persisted) {
        w->blen = (size_t)(size - persisted);
        return 0;
    }
    int rc = finish_segment(w); /* what a session holds cannot be cut: a segment first */
    if (rc) return rc;
    w->blen = 0;
    w->dirty = 1;
    for (;;) {
        struct seg *last = &w->segs.v[w->segs.n - 1];
        if (last->start >= size) {
            segs_add(&w->dropped, last->name, last->start, last->size);
            free(last->name);
            w->segs.n--;
            if (last->start == size) return 0;
            continue;
        }
        return reload(w, size - last->start);
    }
}

static int gcs_commit(struct storage_writer *base)
{
    struct gcs_writer *w = (struct gcs_writer *)base;
    if (!w->open) return WERR_INVALID;
    w->open = 0;
    int rc = writer_persist(w);
    writer_free(w);
    return rc;
}

static void gcs_writer_close(struct storage_writer *base)
{
    struct gcs_writer *w = (struct gcs_writer *)base;
    if (!w->open) return;
    writer_cleanup(w);
}

static void gcs_cancel(struct storage_writer *base)
{
    struct gcs_writer *w = (struct gcs_writer *)base;
    if (!w->open) return;
    w->open = 0;
    struct arena *a = arena_new();
    if (w->session) { /* an unfinished session: cancelled with DELETE (499 is its success) */
        struct gcs_req r = {.method = "DELETE", .url = w->session, .noretry = 1};
        gcs_do(w->d, &r);
        req_done(&r);
    }
    if (w->fresh) {
        struct gcs_list l;
        if (list_keys(w->d, a, state_key(a, w->key, ""), NULL, 0, &l) == 0) delete_keys(w->d, &l);
    } else {
        for (size_t i = 0; i < w->created.n; i++)
            obj_delete(w->d, state_key(a, w->key, w->created.v[i].name), -1);
    }
    arena_free(a);
    writer_free(w);
}

/* ---------------------------------------------------------------- url_for */

static int gcs_url_for(struct storage_driver *base, struct arena *a, const char *path,
                       const char *method, char **url)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    if (method && strcmp(method, "GET") && strcmp(method, "HEAD")) return WERR_UNSUPPORTED;
    struct buf *u = buf_arena_new(a, 0);
    if ((rc = gcs_sign_url(d->key, d->email, d->sign_scheme, d->sign_host, d->bucket,
                           key_of(d, a, path), method ? method : "GET", time(NULL),
                           d->presign_expiry, NULL, 0, NULL, 0, u)) != 0)
        return rc;
    *url = u->data;
    return 0;
}

/* ---------------------------------------------------------------- locks */

/* A lease object at the lock's key, in the format of the other object
 * stores' leases ("wharf-lease 1\nholder <host> <pid> <token>\nexpires
 * <unix time>\n"), but taken with GCS's compare-and-swap: created with
 * ifGenerationMatch=0 (only when absent), replaced (an expired or dead
 * holder's) and renewed with ifGenerationMatch=<the generation read>,
 * deleted with ifGenerationMatch=<ours>. A 412 means another taker won. */
#define GCS_LEASE_MAX 1024
#define GCS_LEASE_POLL_MAX_MS 500

struct gcs_lock {
    struct storage_lock base;
    struct gcs_driver *d;
    char *key; /* arena */
    char token[33];
    int ttl_s;
    time_t renewed;
    int64_t gen; /* the generation of our lease */
    int held;
};

/* lease_read: 0 (a live lease; its token and generation), WERR_NOTFOUND
 * (none; *gen 0) or ended (*gen its generation), or a WERR_*. Leases of the
 * gc before the driver lock ("wharf-gc-lease 1") are read too, as lease.c
 * reads them; anything else there is taken over with a warning. */
static int lease_read(struct gcs_driver *d, const char *key, char token[33], int64_t *gen)
{
    struct buf b;
    buf_init(&b, GCS_LEASE_MAX);
    *gen = 0;
    token[0] = '\0';
    int rc = obj_get(d, key, 0, -1, GCS_LEASE_MAX, 0, &b, NULL, gen);
    if (rc == WERR_NOTFOUND) *gen = 0;
    if (rc == WERR_TOOBIG) rc = WERR_INVALID;
    if (rc && rc != WERR_INVALID) goto out;
    if (rc == WERR_INVALID) {
        int64_t g = 0;
        if (obj_meta(d, key, NULL, NULL, &g) == 0) *gen = g;
    }
    char host[256], myhost[256] = "?";
    long pid;
    long long expires;
    if (rc || !b.data ||
        (sscanf(b.data, "wharf-lease 1\nholder %255s %ld %32s\nexpires %lld", host, &pid, token,
                &expires) != 4 &&
         sscanf(b.data, "wharf-gc-lease 1\nholder %255s %ld %32s\nexpires %lld", host, &pid, token,
                &expires) != 4)) {
        token[0] = '\0';
        log_warn("gcs: lock %s: the object there is no lease; taken over", key);
        rc = WERR_NOTFOUND;
        goto out;
    }
    gethostname(myhost, sizeof myhost - 1);
    if (expires <= (long long)time(NULL) ||
        (!strcmp(host, myhost) && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        rc = WERR_NOTFOUND;
out:
    buf_free(&b);
    return rc;
}

/* lease_write: our lease, if the object's generation is still ifgen */
static int lease_write(struct gcs_lock *l, int64_t ifgen)
{
    char host[256] = "?", body[512];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    int n = snprintf(body, sizeof body, "wharf-lease 1\nholder %s %ld %s\nexpires %lld\n", host,
                     (long)getpid(), l->token, (long long)(now + l->ttl_s));
    int64_t gen = 0;
    int rc = obj_put(l->d, l->key, body, (size_t)n, ifgen, &gen);
    if (rc == 0) {
        l->renewed = now;
        l->gen = gen;
    }
    return rc;
}

static void gcs_lock_release(void *p)
{
    struct gcs_lock *l = p;
    if (!l->held) return;
    l->held = 0;
    obj_delete(l->d, l->key, l->gen); /* a 412: it was taken over, not ours to delete */
}

static int gcs_lock(struct storage_driver *base, struct arena *a, const char *path, int ttl_s,
                    long wait_ms, struct storage_lock **out)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    *out = NULL;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct gcs_lock *l = arena_zalloc(a, sizeof(*l));
    l->base.ops = &gcs_lock_ops;
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
    char token[33];
    for (;;) {
        int64_t gen;
        rc = lease_read(d, l->key, token, &gen);
        if (rc == WERR_NOTFOUND) {
            rc = lease_write(l, gen);
            if (rc == 0) break;
            if (rc != WERR_EXISTS && rc != WERR_NOTFOUND) return rc; /* 412: another won */
        } else if (rc) {
            return rc;
        }
        long waited = ms_since(&t0);
        if (waited >= wait_ms) return WERR_BUSY;
        ms_sleep(pause < wait_ms - waited ? pause : wait_ms - waited);
        if (pause < GCS_LEASE_POLL_MAX_MS) pause *= 2;
    }
    l->held = 1;
    arena_cleanup(a, gcs_lock_release, l);
    *out = &l->base;
    return 0;
}

static int gcs_lock_renew(struct storage_lock *base)
{
    struct gcs_lock *l = (struct gcs_lock *)base;
    if (!l->held) return WERR_BUSY;
    if (time(NULL) - l->renewed < l->ttl_s / 3) return 0;
    int rc = lease_write(l, l->gen);
    if (rc == WERR_EXISTS || rc == WERR_NOTFOUND) {
        log_warn("gcs: lock %s: the lease was lost (it expired and was taken)", l->key);
        l->held = 0;
        return WERR_BUSY;
    }
    return rc;
}

static void gcs_unlock(struct storage_lock *base)
{
    gcs_lock_release(base);
}

/* ---------------------------------------------------------------- driver */

static void gcs_free(struct storage_driver *base)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    if (!d) return;
    for (size_t i = 0; i < d->npool; i++)
        curl_easy_cleanup(d->pool[i]);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->tmu);
    free(d->bucket);
    free(d->prefix);
    free(d->endpoint);
    free(d->sign_scheme);
    free(d->sign_host);
    free(d->email);
    free(d->token_uri);
    EVP_PKEY_free(d->key);
    memset(d->token, 0, sizeof d->token);
    free(d);
}

void driver_gcs_presign_expiry(struct storage_driver *base, long seconds)
{
    struct gcs_driver *d = (struct gcs_driver *)base;
    if (seconds > 0 && seconds <= 604800) d->presign_expiry = seconds;
}

static const struct storage_reader_ops gcs_reader_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .read = gcs_read,
    .close = gcs_reader_close,
};

static const struct storage_writer_ops gcs_writer_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .write = gcs_write,
    .size = gcs_writer_size,
    .truncate = gcs_writer_truncate,
    .commit = gcs_commit,
    .cancel = gcs_cancel,
    .close = gcs_writer_close,
};

static const struct storage_lock_ops gcs_lock_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .renew = gcs_lock_renew,
    .unlock = gcs_unlock,
};

static const struct storage_driver_ops gcs_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "gcs",
    .free = gcs_free,
    .get_content = gcs_get_content,
    .put_content = gcs_put_content,
    .reader = gcs_reader,
    .writer = gcs_writer,
    .stat = gcs_stat,
    .list = gcs_list,
    .move = gcs_move,
    .delete = gcs_delete,
    .walk = gcs_walk,
    .url_for = gcs_url_for,
    .list_page = gcs_list_page,
    .lock = gcs_lock,
};

/* read_small: a whole small file into a malloc'd string */
static char *read_small(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = xmalloc(GCS_KEYFILE_MAX + 1);
    size_t n = fread(s, 1, GCS_KEYFILE_MAX + 1, f);
    fclose(f);
    if (n > GCS_KEYFILE_MAX) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    return s;
}

int driver_gcs_new(const struct config *cfg, struct storage_driver **out, char *err, size_t errlen)
{
    if (!cfg->gcs_bucket || !*cfg->gcs_bucket) {
        snprintf(err, errlen, "storage.gcs: bucket is required");
        return WERR_INVALID;
    }
    const char *json = cfg->gcs_credentials, *from = "credentials";
    char *owned = NULL;
    if (!json || !*json) {
        const char *file = cfg->gcs_keyfile;
        from = "keyfile";
        if (!file || !*file) {
            file = getenv("GOOGLE_APPLICATION_CREDENTIALS");
            from = "GOOGLE_APPLICATION_CREDENTIALS";
        }
        if (!file || !*file) {
            snprintf(err, errlen,
                     "storage.gcs: no credentials (keyfile, credentials or "
                     "GOOGLE_APPLICATION_CREDENTIALS)");
            return WERR_INVALID;
        }
        if (!(json = owned = read_small(file))) {
            snprintf(err, errlen, "storage.gcs: %s %s: cannot read it (or over 64 KiB)", from,
                     file);
            return WERR_INVALID;
        }
    }
    if (curl_lazy_load(err, errlen) != 0) {
        free(owned);
        return WERR_INVALID;
    }
    struct gcs_driver *d = calloc(1, sizeof *d);
    if (!d) {
        free(owned);
        return WERR_NOMEM;
    }
    storage_driver_init(&d->base, &gcs_ops, NULL);
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->tmu, NULL);
    char why[256];
    int rc = gcs_account_parse(json, &d->key, &d->email, &d->token_uri, why, sizeof why);
    free(owned);
    if (rc) {
        snprintf(err, errlen, "storage.gcs: %s: %s", from, why);
        gcs_free(&d->base);
        return rc;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    d->bucket = xstrdup(cfg->gcs_bucket);
    const char *r = cfg->gcs_rootdirectory ? cfg->gcs_rootdirectory : "";
    while (*r == '/')
        r++;
    size_t rl = strlen(r);
    while (rl && r[rl - 1] == '/')
        rl--;
    d->prefix = xmalloc(rl + 2);
    memcpy(d->prefix, r, rl);
    strcpy(d->prefix + rl, rl ? "/" : "");
    /* STORAGE_EMULATOR_HOST: "host:port" or a URL, as Google's libraries take it */
    const char *emu = getenv("STORAGE_EMULATOR_HOST");
    if (emu && *emu) {
        const char *h = emu;
        const char *scheme = "http";
        if (!strncmp(h, "http://", 7))
            h += 7;
        else if (!strncmp(h, "https://", 8))
            h += 8, scheme = "https";
        size_t hl = strcspn(h, "/");
        d->sign_scheme = xstrdup(scheme);
        d->sign_host = xmalloc(hl + 1);
        memcpy(d->sign_host, h, hl);
        d->sign_host[hl] = '\0';
    } else {
        d->sign_scheme = xstrdup("https");
        d->sign_host = xstrdup("storage.googleapis.com");
    }
    size_t el = strlen(d->sign_scheme) + strlen(d->sign_host) + 4;
    d->endpoint = xmalloc(el);
    snprintf(d->endpoint, el, "%s://%s", d->sign_scheme, d->sign_host);
    d->chunksize = cfg->gcs_chunksize >= GCS_QUANTUM && cfg->gcs_chunksize % GCS_QUANTUM == 0
                       ? cfg->gcs_chunksize
                       : 16L << 20;
    d->presign_expiry = 1200;
    *out = &d->base;
    return 0;
}
