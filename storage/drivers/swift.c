/* swift.c — the OpenStack Swift storage driver, see swift.h for the layout.
 *
 * Why Dynamic Large Objects for writers (and not SLO or a plain copy at
 * move): the reference 2.8.2 writes every upload as a DLO and its move()
 * copies the manifest; its delete of a tree reads each manifest and removes
 * its segments. A DLO written by Wharf is therefore served, moved and
 * garbage-collected by the reference without leaving segments behind, and a
 * reference upload can even be continued by Wharf (and the other way round).
 * An SLO would be copied whole by the reference's move (fails over 5 GiB)
 * and its segments orphaned by the reference's delete.
 *
 * One owner per segment set: move() writes the manifest at the destination
 * and deletes it at the source, so deleting a manifest may delete its
 * segments (only segments under this driver's "<prefix>/segments/"). */
#include "swift.h"

#include "objstore.h"
#include "../../lib/curl_lazy.h"
#include "../../lib/err.h"
#include "../../lib/log.h"
#include "../../lib/mstime.h"
#include "../../lib/parallel.h"
#include "../../lib/sigv4.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SW_PATH_MAX 700          /* an object name is at most 1024 bytes */
#define SW_READ_BLOCK (8L << 20) /* a reader fetches this much per ranged GET */
#define SW_JSON_MAX (16L << 20)  /* a listing page or a token response */
#define SW_ERR_MAX (64L << 10)   /* an error body */
#define SW_HDR_MAX 2048          /* a header value kept */
#define SW_TRIES 6               /* attempts of one request */
#define SW_POOL_MAX 64           /* idle curl handles kept */
#define SW_PAGE 10000            /* names per listing page (Swift's largest) */
#define SW_PAGES_MAX 10000       /* pages of one listing */
#define SW_MAX_OBJECT (5LL << 30)
/* a DLO moved into the blob store at most this big is copied flat */
#define SW_FLAT_MAX (1LL << 20)
#define SW_TEMPURL_EXPIRY 1200 /* seconds, the reference's 20 minutes */
#define SW_CT "Content-Type: application/octet-stream"

struct sw_driver {
    struct storage_driver base;
    char *container;
    char *files;   /* "<prefix>/files" trimmed of '/': the object of "/" */
    char *segroot; /* "<prefix>/segments/" trimmed at the left */
    char *authurl, *user, *pass, *tenant, *tenantid, *domain, *domainid, *tdomain, *tdomainid;
    char *trustid, *region, *endpointtype, *secretkey, *accesskey;
    int authversion, skipverify, tempurl_container;
    long chunksize;
    pthread_mutex_t amu;          /* guards token, storage_url, project_id, ready */
    pthread_mutex_t smu;          /* held by the thread running setup */
    struct timespec setup_failed; /* when setup last failed (ready 0); zero: never */
    char *token, *storage_url, *project_id;
    unsigned long gen;  /* bumped at every authentication */
    int ready;          /* container checked, TempURL key set */
    pthread_mutex_t mu; /* guards pool */
    CURL *pool[SW_POOL_MAX];
    size_t npool;
    pthread_mutex_t memo_mu; /* guards memo */
    struct sw_memo {
        char *key; /* malloc; NULL: none */
        int64_t length;
        time_t mtime;
        int has_manifest;
        char manifest[SW_HDR_MAX];
        struct timespec t;
        int64_t *seg; /* malloc: a DLO's segment sizes (prepare_append); NULL: not read */
        size_t nseg;
    } memo;
};

static const struct storage_driver_ops sw_ops;
static const struct storage_reader_ops sw_reader_ops;
static const struct storage_writer_ops sw_writer_ops;
static const struct storage_lock_ops sw_lock_ops;

/* ---------------------------------------------------------------- names */

static int path_check(const char *p, int allow_root)
{
    int rc = storage_path_check(p, SW_PATH_MAX, allow_root);
    if (rc) return rc;
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20) return WERR_INVALID;
    return 0;
}

/* the object of a path: "<files>/a/b" ("<files>" for "/") */
static char *key_of(struct sw_driver *d, struct arena *a, const char *path)
{
    return path[1] ? arena_printf(a, "%s%s", d->files, path) : arena_strdup(a, d->files);
}

/* the name prefix of a directory: "key/" */
static char *dir_of(struct sw_driver *d, struct arena *a, const char *path)
{
    return arena_printf(a, "%s/", key_of(d, a, path));
}

/* ---------------------------------------------------------------- http */

struct sw_resp {
    long status;
    int64_t length, total;
    time_t mtime;
    int has_manifest;
    char manifest[SW_HDR_MAX];
    char storage_url[SW_HDR_MAX], auth_token[SW_HDR_MAX], subject_token[SW_HDR_MAX];
    char tempkey[SW_HDR_MAX];
};

struct sw_req {
    const char *method;
    const char *url;         /* absolute URL (built by sw_do from obj) */
    const char *const *hdrs; /* "Name: value" */
    size_t nhdrs;
    const void *body;
    size_t body_len;
    int use_fd; /* the body is body_len bytes of fd from fd_off (pread) */
    int fd;
    int64_t fd_off;
    struct buf *resp; /* body (2xx); NULL: discarded */
    size_t resp_max;
    struct sw_resp r;
};

struct xfer {
    struct sw_req *q;
    struct buf *body;
    size_t max;
    int overflow;
    const char *up;
    size_t uplen, upoff;
    int fd; /* >= 0: read the body from fd at fd_off + upoff */
    int64_t fd_off;
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
    if (len && x->fd >= 0) {
        ssize_t got;
        do
            got = pread(x->fd, p, len, (off_t)(x->fd_off + (int64_t)x->upoff));
        while (got < 0 && errno == EINTR);
        if (got <= 0) return CURL_READFUNC_ABORT;
        len = (size_t)got;
    } else if (len) {
        memcpy(p, x->up + x->upoff, len);
    }
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

static void hdr_copy(char *dst, const char *v, size_t vl)
{
    if (vl >= SW_HDR_MAX) return; /* longer than any value kept: ignored */
    memcpy(dst, v, vl);
    dst[vl] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    struct sw_resp *r = &x->q->r;
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
#define IS(name) (nl == sizeof(name) - 1 && !strncasecmp(p, name, nl))
    char val[64];
    if (IS("content-length") && vl < sizeof val) {
        memcpy(val, v, vl);
        val[vl] = '\0';
        r->length = strtoll(val, NULL, 10);
    } else if (IS("content-range") && vl < sizeof val) {
        memcpy(val, v, vl);
        val[vl] = '\0';
        char *slash = strrchr(val, '/');
        if (slash && slash[1] != '*') r->total = strtoll(slash + 1, NULL, 10);
    } else if (IS("last-modified") && vl < sizeof val) {
        memcpy(val, v, vl);
        val[vl] = '\0';
        time_t t = curl_getdate(val, NULL);
        if (t > 0) r->mtime = t;
    } else if (IS("x-object-manifest")) {
        r->has_manifest = 1;
        hdr_copy(r->manifest, v, vl);
    } else if (IS("x-storage-url")) {
        hdr_copy(r->storage_url, v, vl);
    } else if (IS("x-auth-token")) {
        hdr_copy(r->auth_token, v, vl);
    } else if (IS("x-subject-token")) {
        hdr_copy(r->subject_token, v, vl);
    } else if (IS("x-account-meta-temp-url-key") || IS("x-container-meta-temp-url-key")) {
        hdr_copy(r->tempkey, v, vl);
    }
#undef IS
    return len;
}

static CURL *handle_get(struct sw_driver *d)
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

static void handle_put(struct sw_driver *d, CURL *h)
{
    pthread_mutex_lock(&d->mu);
    if (d->npool < SW_POOL_MAX) {
        d->pool[d->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&d->mu);
    if (h) curl_easy_cleanup(h);
}

static int status_err(long st)
{
    if (st == 404) return WERR_NOTFOUND;
    if (st == 401 || st == 403) return WERR_DENIED;
    if (st == 416) return WERR_RANGE;
    if (st == 412) return WERR_EXISTS;
    if (st == 413) return WERR_TOOBIG;
    if (st == 507) return WERR_NOSPACE;
    if (st == 400 || st == 411) return WERR_INVALID;
    return WERR_IO;
}

static int retryable(long st)
{
    return (st >= 500 && st != 507 && st != 501) || st == 429 || st == 498;
}

/* one attempt; 0 (2xx), a WERR_* (HTTP error), or 1 (transport error or
 * worth retrying) */
static int attempt(struct sw_driver *d, CURL *h, struct sw_req *q, const char *token)
{
    struct curl_slist *hl = NULL;
    struct buf errbody;
    buf_init(&errbody, SW_ERR_MAX);
    char tok[SW_HDR_MAX + 32];
    if (token) {
        snprintf(tok, sizeof tok, "X-Auth-Token: %s", token);
        hl = curl_slist_append(hl, tok);
    }
    for (size_t i = 0; i < q->nhdrs; i++)
        hl = curl_slist_append(hl, q->hdrs[i]);
    hl = curl_slist_append(hl, "Expect:");
    struct xfer x = {.q = q,
                     .up = q->body,
                     .uplen = q->body_len,
                     .fd = q->use_fd ? q->fd : -1,
                     .fd_off = q->fd_off};
    memset(&q->r, 0, sizeof q->r);
    q->r.length = q->r.total = -1;
    if (q->resp) q->resp->len = 0;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, q->url);
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
    if (d->skipverify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!strcmp(q->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(q->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &x);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
    } else if (!strcmp(q->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? (const char *)q->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
    } else if (strcmp(q->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
    }
    x.body = &errbody;
    x.max = q->resp && q->resp_max > SW_ERR_MAX ? q->resp_max : SW_ERR_MAX;
    errbody.cap = x.max;
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hl);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &q->r.status);
    if (log_enabled(LOG_DEBUG)) {
        double secs = 0;
        curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &secs);
        log_debug("swift: %s %s: HTTP %ld in %.1f ms", q->method, q->url, q->r.status, secs * 1e3);
    }
    int rc;
    if (cc == CURLE_WRITE_ERROR && x.overflow && q->r.status / 100 == 2) {
        rc = WERR_TOOBIG;
    } else if (cc != CURLE_OK) {
        log_debug("swift: %s %s: %s", q->method, q->url, curl_easy_strerror(cc));
        rc = 1;
    } else if (q->r.status / 100 == 2) {
        rc = 0;
        if (q->resp) {
            if (errbody.len > q->resp_max) {
                rc = WERR_TOOBIG;
            } else {
                buf_free(q->resp);
                *q->resp = errbody;
                q->resp->cap = q->resp_max;
                buf_init(&errbody, 0);
            }
        }
    } else {
        rc = retryable(q->r.status) ? 1 : status_err(q->r.status);
        if (rc == WERR_NOSPACE) log_warn("swift: %s: HTTP 507: the store is full", q->url);
    }
    buf_free(&errbody);
    return rc;
}

static void backoff(long *delay)
{
    unsigned char j;
    RAND_bytes(&j, 1);
    struct timespec ts = {*delay / 1000, (*delay % 1000 + j % 50) * 1000000L};
    nanosleep(&ts, NULL);
    if (*delay < 3200) *delay *= 2;
}

/* http_do: q with retries, token (may be NULL) sent as X-Auth-Token */
static int http_do(struct sw_driver *d, struct sw_req *q, const char *token)
{
    CURL *h = handle_get(d);
    int rc = WERR_IO;
    long delay = 50;
    for (int i = 0; i < SW_TRIES; i++) {
        rc = attempt(d, h, q, token);
        if (rc != 1) break;
        if (i + 1 < SW_TRIES) backoff(&delay);
    }
    handle_put(d, h);
    if (rc == 1) {
        log_warn("swift: %s %s failed after %d attempts (HTTP %ld)", q->method, q->url, SW_TRIES,
                 q->r.status);
        rc = WERR_IO;
    }
    return rc;
}

/* ---------------------------------------------------------------- auth */

static json_object *jget(json_object *o, const char *k)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v = jget(o, k);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static char *auth_url(struct sw_driver *d, struct arena *a, const char *tail)
{
    size_t l = strlen(d->authurl);
    if (l >= strlen(tail) && !strcmp(d->authurl + l - strlen(tail), tail))
        return arena_strdup(a, d->authurl);
    return arena_printf(a, "%s%s%s", d->authurl, l && d->authurl[l - 1] == '/' ? "" : "/", tail);
}

/* pick the object-store endpoint of a v2/v3 catalog */
static const char *catalog_pick(struct sw_driver *d, json_object *catalog, int v3)
{
    const char *want = d->endpointtype ? d->endpointtype : "public";
    size_t n = catalog && json_object_is_type(catalog, json_type_array)
                   ? json_object_array_length(catalog)
                   : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *svc = json_object_array_get_idx(catalog, i);
        const char *type = jstr(svc, "type");
        if (!type || strcmp(type, "object-store")) continue;
        json_object *eps = jget(svc, "endpoints");
        size_t m =
            eps && json_object_is_type(eps, json_type_array) ? json_object_array_length(eps) : 0;
        for (size_t j = 0; j < m; j++) {
            json_object *ep = json_object_array_get_idx(eps, j);
            const char *region = jstr(ep, "region"), *rid = jstr(ep, "region_id");
            if (d->region && *d->region && !(region && !strcmp(region, d->region)) &&
                !(rid && !strcmp(rid, d->region)))
                continue;
            if (v3) {
                const char *ifc = jstr(ep, "interface");
                if (!ifc || strcmp(ifc, want)) continue;
                return jstr(ep, "url");
            }
            char key[32];
            snprintf(key, sizeof key, "%sURL", want);
            const char *u = jstr(ep, key);
            if (u) return u;
        }
    }
    return NULL;
}

static void json_add_str(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v));
}

static json_object *named(const char *id, const char *name)
{
    json_object *o = json_object_new_object();
    if (id && *id)
        json_add_str(o, "id", id);
    else
        json_add_str(o, "name", name ? name : "Default");
    return o;
}

/* authenticate: a new token and storage URL (called with amu held) */
static int authenticate(struct sw_driver *d)
{
    struct arena *a = arena_new();
    struct buf *b = buf_arena_new(a, SW_JSON_MAX);
    int ver = d->authversion;
    if (!ver) ver = strstr(d->authurl, "v3") ? 3 : strstr(d->authurl, "v2") ? 2 : 1;
    int rc;
    const char *token = NULL, *url = NULL, *project = NULL;
    json_object *root = NULL;
    if (ver == 1) {
        const char *h[2] = {arena_printf(a, "X-Auth-User: %s", d->user),
                            arena_printf(a, "X-Auth-Key: %s", d->pass)};
        struct sw_req q = {.method = "GET", .url = d->authurl, .hdrs = h, .nhdrs = 2};
        rc = http_do(d, &q, NULL);
        if (rc == 0) {
            token = arena_strdup(a, q.r.auth_token);
            url = arena_strdup(a, q.r.storage_url);
        }
    } else {
        json_object *body = json_object_new_object(), *auth = json_object_new_object();
        json_object_object_add(body, "auth", auth);
        const char *path;
        if (ver == 2) {
            path = "tokens";
            json_object *pc = json_object_new_object();
            json_add_str(pc, "username", d->user);
            json_add_str(pc, "password", d->pass);
            json_object_object_add(auth, "passwordCredentials", pc);
            if (d->tenantid && *d->tenantid)
                json_add_str(auth, "tenantId", d->tenantid);
            else if (d->tenant && *d->tenant)
                json_add_str(auth, "tenantName", d->tenant);
            if (d->trustid && *d->trustid) json_add_str(auth, "trust_id", d->trustid);
        } else {
            path = "auth/tokens";
            json_object *id = json_object_new_object(), *m = json_object_new_array();
            json_object_array_add(m, json_object_new_string("password"));
            json_object_object_add(id, "methods", m);
            json_object *pw = json_object_new_object(), *user = json_object_new_object();
            json_add_str(user, "name", d->user);
            json_add_str(user, "password", d->pass);
            json_object_object_add(user, "domain", named(d->domainid, d->domain));
            json_object_object_add(pw, "user", user);
            json_object_object_add(id, "password", pw);
            json_object_object_add(auth, "identity", id);
            json_object *scope = NULL;
            if (d->trustid && *d->trustid) {
                scope = json_object_new_object();
                json_object_object_add(scope, "OS-TRUST:trust", named(d->trustid, NULL));
            } else if ((d->tenantid && *d->tenantid) || (d->tenant && *d->tenant)) {
                scope = json_object_new_object();
                json_object *p = json_object_new_object();
                if (d->tenantid && *d->tenantid) {
                    json_add_str(p, "id", d->tenantid);
                } else {
                    json_add_str(p, "name", d->tenant);
                    const char *tdid = d->tdomainid ? d->tdomainid : d->domainid;
                    const char *tdn = d->tdomain ? d->tdomain : d->domain;
                    json_object_object_add(p, "domain", named(tdid, tdn));
                }
                json_object_object_add(scope, "project", p);
            }
            if (scope) json_object_object_add(auth, "scope", scope);
        }
        const char *js =
            arena_strdup(a, json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
        json_object_put(body);
        const char *h[2] = {"Content-Type: application/json", "Accept: application/json"};
        struct sw_req q = {.method = "POST",
                           .url = auth_url(d, a, path),
                           .hdrs = h,
                           .nhdrs = 2,
                           .body = js,
                           .body_len = strlen(js),
                           .resp = b,
                           .resp_max = SW_JSON_MAX};
        rc = http_do(d, &q, NULL);
        if (rc == 0) {
            root = b->len ? json_tokener_parse(arena_strndup(a, b->data, b->len)) : NULL;
            if (ver == 2) {
                json_object *acc = jget(root, "access");
                json_object *tk = jget(acc, "token");
                token = jstr(tk, "id");
                project = jstr(jget(tk, "tenant"), "id");
                url = catalog_pick(d, jget(acc, "serviceCatalog"), 0);
            } else {
                json_object *tk = jget(root, "token");
                token = q.r.subject_token[0] ? arena_strdup(a, q.r.subject_token) : NULL;
                project = jstr(jget(tk, "project"), "id");
                url = catalog_pick(d, jget(tk, "catalog"), 1);
            }
        }
    }
    if (rc == 0 && (!token || !*token || !url || !*url)) {
        log_warn("swift: authentication at %s gave no token or no object-store endpoint%s%s",
                 d->authurl, d->region ? " in region " : "", d->region ? d->region : "");
        rc = WERR_IO;
    } else if (rc) {
        log_warn("swift: authentication at %s failed: %s", d->authurl, werr_str(rc));
    }
    if (rc == 0) {
        free(d->token);
        free(d->storage_url);
        d->token = xstrdup(token);
        size_t ul = strlen(url);
        while (ul && url[ul - 1] == '/')
            ul--;
        d->storage_url = xmalloc(ul + 1);
        memcpy(d->storage_url, url, ul);
        d->storage_url[ul] = '\0';
        if (project) {
            free(d->project_id);
            d->project_id = xstrdup(project);
        }
        d->gen++;
    }
    if (root) json_object_put(root);
    arena_free(a);
    return rc;
}

static int setup(struct sw_driver *d);
static _Thread_local int sw_in_setup;

#define SW_SETUP_RETRY_MS 5000

/* setup_resting: a set-up failed less than SW_SETUP_RETRY_MS ago (amu held) */
static int setup_resting(const struct sw_driver *d)
{
    if (!d->setup_failed.tv_sec && !d->setup_failed.tv_nsec) return 0;
    long ms = ms_since(&d->setup_failed);
    return ms >= 0 && ms < SW_SETUP_RETRY_MS;
}

/* session: the current token and storage URL (on a), authenticating first
 * when there is none or when the one of generation stale was refused */
static int session(struct sw_driver *d, struct arena *a, unsigned long stale, char **token,
                   char **url, unsigned long *gen)
{
    int rc = 0;
    pthread_mutex_lock(&d->amu);
    if (!d->token || (stale && d->gen == stale)) rc = authenticate(d);
    if (rc == 0) {
        *token = arena_strdup(a, d->token);
        *url = arena_strdup(a, d->storage_url);
        *gen = d->gen;
    }
    int ready = d->ready || setup_resting(d);
    pthread_mutex_unlock(&d->amu);
    /* the first session sets up the container; threads of this process
     * starting together wait for it (a PUT beside it would meet a 404). A
     * set-up that failed (a 403 on the TempURL key, Swift away) is tried
     * again after SW_SETUP_RETRY_MS, not by every request meanwhile. */
    if (rc == 0 && !ready && !sw_in_setup) {
        pthread_mutex_lock(&d->smu);
        pthread_mutex_lock(&d->amu);
        ready = d->ready || setup_resting(d);
        pthread_mutex_unlock(&d->amu);
        if (!ready) {
            sw_in_setup = 1; /* setup's own requests come back here */
            int src = setup(d);
            sw_in_setup = 0;
            pthread_mutex_lock(&d->amu);
            d->ready = src == 0;
            if (src) clock_gettime(CLOCK_MONOTONIC, &d->setup_failed);
            pthread_mutex_unlock(&d->amu);
        }
        pthread_mutex_unlock(&d->smu);
    }
    return rc;
}

/* sw_warm: the first session (a token, the container checked, the TempURL
 * key set) before the first request needs it */
static void sw_warm(struct storage_driver *base)
{
    struct sw_driver *d = (struct sw_driver *)base;
    struct arena *a = arena_new();
    char *token, *url;
    unsigned long gen;
    if (session(d, a, 0, &token, &url, &gen) != 0)
        log_warn("swift: no session at start (the first request tries again)");
    arena_free(a);
}

/* ---------------------------------------------------------------- requests */

struct sw_op {
    const char *method;
    const char *obj;   /* object name (unencoded); NULL: the container */
    int account;       /* the account itself (obj and container ignored) */
    const char *query; /* encoded, without '?' */
    const char *const *hdrs;
    size_t nhdrs;
    const void *body;
    size_t body_len;
    int use_fd; /* the body from fd, as in sw_req */
    int fd;
    int64_t fd_off;
    struct buf *resp;
    size_t resp_max;
    struct sw_resp r;
};

static int enc(struct buf *b, const char *s)
{
    return sigv4_encode(b, s, strlen(s), 1);
}

/* sw_do: an authenticated request on the account, the container or an
 * object; a 401 authenticates again once and retries */
/* The last HEAD that sw_stat made, kept for a writer or a move of the same
 * object soon after (a PATCH or PUT of an upload stats its data while its
 * lock settles, then opens or moves it): that HEAD would answer the same,
 * as nothing of this process wrote the object since (any write to it drops
 * the memo) and another process writing it meanwhile is what the caller's
 * lock keeps out. Used once, within SW_MEMO_MS. */
#define SW_MEMO_MS 250

/* memo_clear: with memo_mu held */
static void memo_clear(struct sw_driver *d)
{
    free(d->memo.key);
    free(d->memo.seg);
    d->memo.key = NULL;
    d->memo.seg = NULL;
    d->memo.nseg = 0;
}

static void memo_drop(struct sw_driver *d, const char *key)
{
    pthread_mutex_lock(&d->memo_mu);
    if (d->memo.key && (!key || !strcmp(d->memo.key, key))) memo_clear(d);
    pthread_mutex_unlock(&d->memo_mu);
}

static void memo_put(struct sw_driver *d, const char *key, const struct sw_resp *r)
{
    pthread_mutex_lock(&d->memo_mu);
    memo_clear(d);
    d->memo.key = xstrdup(key);
    d->memo.length = r->length;
    d->memo.mtime = r->mtime;
    d->memo.has_manifest = r->has_manifest;
    snprintf(d->memo.manifest, sizeof d->memo.manifest, "%s", r->manifest);
    clock_gettime(CLOCK_MONOTONIC, &d->memo.t);
    pthread_mutex_unlock(&d->memo_mu);
}

/* memo_take: 1 and r's length, mtime and manifest when the memo is key's
 * and fresh (it is then used up); *seg and *nseg (when seg is not NULL) the
 * DLO's segment sizes when prepare_append read them (malloc; else NULL) */
static int memo_take(struct sw_driver *d, const char *key, struct sw_resp *r, int64_t **seg,
                     size_t *nseg)
{
    if (seg) {
        *seg = NULL;
        *nseg = 0;
    }
    int hit = 0;
    pthread_mutex_lock(&d->memo_mu);
    if (d->memo.key && !strcmp(d->memo.key, key)) {
        long ms = ms_since(&d->memo.t);
        if (ms >= 0 && ms < SW_MEMO_MS) {
            memset(r, 0, sizeof *r);
            r->status = 200;
            r->length = d->memo.length;
            r->mtime = d->memo.mtime;
            r->has_manifest = d->memo.has_manifest;
            snprintf(r->manifest, sizeof r->manifest, "%s", d->memo.manifest);
            hit = 1;
            if (seg && d->memo.seg) {
                *seg = d->memo.seg;
                *nseg = d->memo.nseg;
                d->memo.seg = NULL;
            }
        }
        memo_clear(d);
    }
    pthread_mutex_unlock(&d->memo_mu);
    return hit;
}

static int sw_do(struct sw_driver *d, struct sw_op *o)
{
    if (strcmp(o->method, "GET") && strcmp(o->method, "HEAD")) memo_drop(d, o->obj);

    struct arena *a = arena_new();
    int rc = 0;
    unsigned long stale = 0;
    for (int round = 0; round < 2; round++) {
        char *token, *base;
        unsigned long gen;
        if ((rc = session(d, a, stale, &token, &base, &gen)) != 0) break;
        struct buf *u = buf_arena_new(a, 0);
        buf_puts(u, base);
        if (!o->account) {
            buf_puts(u, "/");
            enc(u, d->container);
            if (o->obj) {
                buf_puts(u, "/");
                enc(u, o->obj);
            }
        }
        if (o->query) buf_printf(u, "?%s", o->query);
        struct sw_req q = {.method = o->method,
                           .url = u->data,
                           .hdrs = o->hdrs,
                           .nhdrs = o->nhdrs,
                           .body = o->body,
                           .body_len = o->body_len,
                           .use_fd = o->use_fd,
                           .fd = o->fd,
                           .fd_off = o->fd_off,
                           .resp = o->resp,
                           .resp_max = o->resp_max};
        rc = http_do(d, &q, token);
        o->r = q.r;
        if (!(rc == WERR_DENIED && q.r.status == 401)) break;
        stale = gen; /* expired or revoked: once more with a new token */
    }
    arena_free(a);
    return rc;
}

static int obj_head(struct sw_driver *d, const char *key, struct sw_resp *r)
{
    struct sw_op o = {.method = "HEAD", .obj = key};
    int rc = sw_do(d, &o);
    *r = o.r;
    return rc;
}

/* obj_head_memo: obj_head, answered by the memo when it holds key */
static int obj_head_memo(struct sw_driver *d, const char *key, struct sw_resp *r)
{
    return memo_take(d, key, r, NULL, NULL) ? 0 : obj_head(d, key, r);
}

static int obj_put(struct sw_driver *d, const char *key, const void *data, size_t len)
{
    const char *h[1] = {SW_CT};
    struct sw_op o = {
        .method = "PUT", .obj = key, .hdrs = h, .nhdrs = 1, .body = data, .body_len = len};
    return sw_do(d, &o);
}

static int obj_delete(struct sw_driver *d, const char *key)
{
    struct sw_op o = {.method = "DELETE", .obj = key};
    int rc = sw_do(d, &o);
    return rc == WERR_NOTFOUND ? 0 : rc;
}

/* obj_get: bytes [off, off+len) (len < 0: to the end) of key into b, at most max */
static int obj_get(struct sw_driver *d, const char *key, int64_t off, int64_t len, size_t max,
                   struct buf *b, struct sw_resp *r)
{
    char range[80];
    const char *h[1] = {range};
    size_t nh = 0;
    if (off > 0 || len >= 0) {
        if (len >= 0)
            snprintf(range, sizeof range, "Range: bytes=%" PRId64 "-%" PRId64, off, off + len - 1);
        else
            snprintf(range, sizeof range, "Range: bytes=%" PRId64 "-", off);
        nh = 1;
    }
    struct sw_op o = {
        .method = "GET", .obj = key, .hdrs = h, .nhdrs = nh, .resp = b, .resp_max = max};
    int rc = sw_do(d, &o);
    if (r) *r = o.r;
    return rc;
}

/* obj_copy: dst = src, server-side (PUT with X-Copy-From) */
static int obj_copy(struct sw_driver *d, const char *src, const char *dst)
{
    struct arena *a = arena_new();
    struct buf *b = buf_arena_new(a, 0);
    buf_puts(b, "X-Copy-From: /");
    enc(b, d->container);
    buf_puts(b, "/");
    enc(b, src);
    const char *h[2] = {b->data, SW_CT};
    struct sw_op o = {.method = "PUT", .obj = dst, .hdrs = h, .nhdrs = 2};
    int rc = sw_do(d, &o);
    arena_free(a);
    return rc;
}

/* manifest_put: key becomes a DLO over "<container>/<segpath>" */
static int manifest_put(struct sw_driver *d, const char *key, const char *manifest)
{
    struct arena *a = arena_new();
    const char *h[2] = {arena_printf(a, "X-Object-Manifest: %s", manifest), SW_CT};
    struct sw_op o = {.method = "PUT", .obj = key, .hdrs = h, .nhdrs = 2};
    int rc = sw_do(d, &o);
    arena_free(a);
    return rc;
}

/* segments_of: the segment path of a DLO manifest value when its segments
 * are ours (this container, under <prefix>/segments/), else NULL */
static char *segments_of(struct sw_driver *d, struct arena *a, const char *manifest)
{
    size_t cl = strlen(d->container);
    if (strncmp(manifest, d->container, cl) || manifest[cl] != '/') return NULL;
    const char *p = manifest + cl + 1;
    if (strncmp(p, d->segroot, strlen(d->segroot)) || strlen(p) <= strlen(d->segroot)) return NULL;
    return arena_strdup(a, p);
}

/* ---------------------------------------------------------------- listing */

struct sw_entry {
    char *name; /* full object name, or a subdir "x/" */
    int64_t size;
    time_t mtime;
    int is_dir;
};

struct sw_list {
    struct sw_entry *e;
    size_t n, cap;
};

static void list_add(struct arena *a, struct sw_list *l, char *name, int64_t size, time_t mtime,
                     int is_dir)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct sw_entry *ne = arena_alloc(a, nc * sizeof *ne);
        if (l->n) memcpy(ne, l->e, l->n * sizeof *ne);
        l->e = ne;
        l->cap = nc;
    }
    l->e[l->n++] = (struct sw_entry){name, size, mtime, is_dir};
}

static time_t iso_time(const char *s)
{
    struct tm tm = {0};
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
    return timegm(&tm);
}

/* list_names: the container listing of prefix (delim: '/' or 0) after marker,
 * at most limit entries (0: all, up to SW_PAGES_MAX pages) into out */
static int list_names(struct sw_driver *d, struct arena *a, const char *prefix, int delim,
                      const char *marker, size_t limit, struct sw_list *out)
{
    memset(out, 0, sizeof *out);
    char *mk = marker ? arena_strdup(a, marker) : NULL;
    for (int page = 0; page < SW_PAGES_MAX; page++) {
        size_t want = limit && limit - out->n < SW_PAGE ? limit - out->n : SW_PAGE;
        struct buf *qs = buf_arena_new(a, 0);
        buf_printf(qs, "format=json&limit=%zu&prefix=", want);
        sigv4_encode(qs, prefix, strlen(prefix), 0);
        if (delim) buf_puts(qs, "&delimiter=%2F");
        if (mk) {
            buf_puts(qs, "&marker=");
            sigv4_encode(qs, mk, strlen(mk), 0);
        }
        struct buf *b = buf_arena_new(a, SW_JSON_MAX);
        struct sw_op o = {.method = "GET", .query = qs->data, .resp = b, .resp_max = SW_JSON_MAX};
        int rc = sw_do(d, &o);
        if (rc) return rc;
        if (o.r.status == 204 || !b->len) break;
        json_object *arr = json_tokener_parse(arena_strndup(a, b->data, b->len));
        if (!arr || !json_object_is_type(arr, json_type_array)) {
            if (arr) json_object_put(arr);
            return WERR_IO;
        }
        size_t n = json_object_array_length(arr);
        const char *last = NULL;
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(arr, i);
            const char *sub = jstr(e, "subdir"), *name = jstr(e, "name");
            if (sub) {
                list_add(a, out, arena_strdup(a, sub), 0, 0, 1);
                last = sub;
            } else if (name) {
                json_object *by = jget(e, "bytes");
                list_add(a, out, arena_strdup(a, name), by ? json_object_get_int64(by) : 0,
                         iso_time(jstr(e, "last_modified")), 0);
                last = name;
            }
        }
        mk = last ? arena_strdup(a, last) : NULL;
        json_object_put(arr);
        if (n < want || !mk || (limit && out->n >= limit)) break;
    }
    return 0;
}

/* delete_all: every listed object, and every segment set of the manifests
 * among them (zero-byte objects are looked at: a DLO manifest lists as 0) */
static int delete_objects(struct sw_driver *d, struct sw_list *l)
{
    int rc = 0;
    for (size_t i = 0; i < l->n && rc == 0; i++) {
        if (l->e[i].is_dir) continue;
        rc = obj_delete(d, l->e[i].name);
    }
    return rc;
}

static int delete_segments(struct sw_driver *d, const char *segpath)
{
    struct arena *a = arena_new();
    struct sw_list l;
    int rc = list_names(d, a, arena_printf(a, "%s/", segpath), 0, NULL, 0, &l);
    if (rc == 0) rc = delete_objects(d, &l);
    arena_free(a);
    return rc;
}

/* manifest_of: the segment path of key when it is a DLO manifest with our
 * segments (arena), else NULL; *found when key exists */
static int manifest_of(struct sw_driver *d, struct arena *a, const char *key, char **segpath,
                       struct sw_resp *r)
{
    *segpath = NULL;
    int rc = obj_head(d, key, r);
    if (rc == 0 && r->has_manifest) *segpath = segments_of(d, a, r->manifest);
    return rc;
}

/* ---------------------------------------------------------------- setup */

/* setup: at the first authentication, as the reference at start: create the
 * container when missing; set the TempURL key on the account (or the
 * container) when it differs from secretkey */
static int setup(struct sw_driver *d)
{
    struct sw_op o = {.method = "HEAD"};
    int rc = sw_do(d, &o);
    if (rc == WERR_NOTFOUND) {
        struct sw_op c = {.method = "PUT"};
        rc = sw_do(d, &c);
        if (rc) log_warn("swift: cannot create the container %s: %s", d->container, werr_str(rc));
    }
    if (rc == 0 && d->secretkey) {
        struct sw_op k = {.method = "HEAD", .account = !d->tempurl_container};
        rc = sw_do(d, &k);
        if (rc == 0 && strcmp(k.r.tempkey, d->secretkey)) {
            struct arena *a = arena_new();
            const char *h[1] = {arena_printf(a, "X-%s-Meta-Temp-URL-Key: %s",
                                             d->tempurl_container ? "Container" : "Account",
                                             d->secretkey)};
            struct sw_op p = {
                .method = "POST", .account = !d->tempurl_container, .hdrs = h, .nhdrs = 1};
            rc = sw_do(d, &p);
            arena_free(a);
            if (rc) log_warn("swift: cannot set the TempURL key: %s", werr_str(rc));
        }
    }
    return rc;
}

/* ---------------------------------------------------------------- stat */

static int sw_stat(struct storage_driver *base, const char *path, struct storage_stat *st)
{
    struct sw_driver *d = (struct sw_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    if (!path[1]) {
        *st = (struct storage_stat){0, time(NULL), 1};
        return 0;
    }
    struct arena *a = arena_new();
    struct sw_resp r;
    char *key = key_of(d, a, path);
    rc = obj_head(d, key, &r);
    if (rc == 0) {
        *st = (struct storage_stat){r.length < 0 ? 0 : r.length, r.mtime ? r.mtime : time(NULL), 0};
        memo_put(d, key, &r);
    } else if (rc == WERR_NOTFOUND) {
        struct sw_list l;
        if ((rc = list_names(d, a, dir_of(d, a, path), 0, NULL, 1, &l)) == 0) {
            if (l.n)
                *st = (struct storage_stat){0, l.e[0].mtime ? l.e[0].mtime : time(NULL), 1};
            else
                rc = WERR_NOTFOUND;
        }
    }
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- reader */

struct sw_reader {
    struct storage_reader base;
    struct sw_driver *d;
    int open;
    char *key; /* malloc */
    int64_t size, pos;
    struct buf blk; /* fetched bytes [blk_off, blk_off + blk.len) */
    int64_t blk_off;
};

static void reader_release(struct sw_reader *r)
{
    if (!r->open) return;
    r->open = 0;
    free(r->key);
    buf_free(&r->blk);
}

static void reader_cleanup(void *p)
{
    reader_release(p);
}

static int sw_reader(struct storage_driver *base, struct arena *a, const char *path, int64_t offset,
                     struct storage_reader **out)
{
    struct sw_driver *d = (struct sw_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    if (offset < 0) return WERR_RANGE;
    struct arena *t = arena_new();
    char *key = key_of(d, t, path);
    struct sw_reader *r = arena_zalloc(a, sizeof *r);
    r->base.ops = &sw_reader_ops;
    r->d = d;
    struct sw_resp rs;
    for (int look = 0;; look++) {
        buf_init(&r->blk, 0);
        rc = obj_get(d, key, offset, SW_READ_BLOCK, SW_READ_BLOCK, &r->blk, &rs);
        if (rc == 0) {
            r->size = rs.total >= 0 ? rs.total : offset + (int64_t)r->blk.len;
            if (rs.status == 200) { /* the range was ignored (an empty object) */
                r->size = (int64_t)r->blk.len;
                if (offset > 0 && offset <= r->size) {
                    memmove(r->blk.data, r->blk.data + offset, r->blk.len - (size_t)offset);
                    r->blk.len -= (size_t)offset;
                }
            }
        } else if (rc == WERR_RANGE) {
            buf_free(&r->blk);
            if ((rc = obj_head(d, key, &rs)) == 0) r->size = rs.length < 0 ? 0 : rs.length;
        }
        /* Swift may answer 404 while an object is being replaced: one more look */
        if (rc != WERR_NOTFOUND || look == 1) break;
        buf_free(&r->blk);
    }
    arena_free(t);
    if (rc == 0 && offset > r->size) rc = WERR_RANGE;
    if (rc) {
        buf_free(&r->blk);
        return rc;
    }
    r->key = xstrdup(key_of(d, a, path));
    r->blk_off = offset;
    r->pos = offset;
    r->open = 1;
    arena_cleanup(a, reader_cleanup, r);
    *out = &r->base;
    return 0;
}

static ssize_t sw_read(struct storage_reader *base, void *buf, size_t n)
{
    struct sw_reader *r = (struct sw_reader *)base;
    if (!r->open) return WERR_INVALID;
    if (r->pos >= r->size || n == 0) return 0;
    if (!(r->pos >= r->blk_off && r->pos < r->blk_off + (int64_t)r->blk.len)) {
        int64_t want = r->size - r->pos;
        if (want > SW_READ_BLOCK) want = SW_READ_BLOCK;
        r->blk.len = 0;
        r->blk.cap = 0;
        int rc = obj_get(r->d, r->key, r->pos, want, (size_t)want, &r->blk, NULL);
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

static void sw_reader_close(struct storage_reader *base)
{
    reader_release((struct sw_reader *)base);
}

/* ---------------------------------------------------------------- whole content */

static int sw_get_content(struct storage_driver *base, struct arena *a, const char *path,
                          size_t max, char **data, size_t *len)
{
    struct sw_driver *d = (struct sw_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct buf b;
    struct arena *t = arena_new();
    char *key = key_of(d, t, path);
    for (int look = 0;; look++) {
        buf_init(&b, 0);
        rc = obj_get(d, key, 0, -1, max, &b, NULL);
        /* Swift may answer 404 while an object is being replaced: one more look */
        if (rc != WERR_NOTFOUND || look == 1) break;
        buf_free(&b);
    }
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

static int sw_put_content(struct storage_driver *base, const char *path, const void *data,
                          size_t len)
{
    struct sw_driver *d = (struct sw_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct arena *a = arena_new();
    rc = obj_put(d, key_of(d, a, path), data, len);
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- list */

static int sw_list(struct storage_driver *base, struct arena *a, const char *path, char ***names,
                   size_t *n)
{
    struct sw_driver *d = (struct sw_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    struct arena *t = arena_new();
    char *dk = dir_of(d, t, path);
    struct sw_list l;
    if ((rc = list_names(d, t, dk, '/', NULL, 0, &l)) != 0) goto out;
    char **v = arena_alloc(a, (l.n + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        char *nm = objstore_child_name(a, dk, l.e[i].name);
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

static int sw_list_page(struct storage_driver *base, struct arena *a, const char *path,
                        const char *after, size_t max, char ***names, size_t *n, int *more)
{
    struct sw_driver *d = (struct sw_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    if (after && strlen(after) > SW_PATH_MAX) return WERR_INVALID;
    struct arena *t = arena_new();
    char *dk = dir_of(d, t, path);
    size_t cap = max < SW_PAGE - 1 ? max + 1 : SW_PAGE;
    struct sw_list l;
    char *marker = after && *after ? arena_printf(t, "%s%s", dk, after) : NULL;
    if ((rc = list_names(d, t, dk, '/', marker, cap, &l)) != 0) goto out;
    char **v = arena_alloc(a, (l.n + 1) * sizeof *v);
    size_t u = 0;
    for (size_t i = 0; i < l.n; i++) {
        char *nm = objstore_child_name(a, dk, l.e[i].name);
        /* "x/" (x's own subdir) sorts after the marker "x": dropped here */
        if (!nm || (after && !strcmp(nm, after))) continue;
        if (u && !strcmp(v[u - 1], nm)) continue;
        v[u++] = nm;
    }
    if (u > 1) qsort(v, u, sizeof *v, objstore_name_cmp);
    *more = u > max || l.n >= cap;
    if (u > max) u = max;
    v[u] = NULL;
    *names = v;
    *n = u;
out:
    arena_free(t);
    return rc;
}

/* ---------------------------------------------------------------- delete */

static int sw_delete(struct storage_driver *base, const char *path)
{
    struct sw_driver *d = (struct sw_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct arena *a = arena_new();
    char *key = key_of(d, a, path), *seg;
    int found = 0;
    struct sw_resp r;
    rc = manifest_of(d, a, key, &seg, &r);
    if (rc == 0) {
        found = 1;
        if ((rc = obj_delete(d, key)) == 0 && seg) rc = delete_segments(d, seg);
    } else if (rc == WERR_NOTFOUND) {
        rc = 0;
    }
    /* a file is not also a directory in the registry's layout: one listing
     * less for every file deleted (locks, hash states, tags) */
    if (rc || found) goto out;
    struct sw_list l;
    if ((rc = list_names(d, a, dir_of(d, a, path), 0, NULL, 0, &l)) != 0) goto out;
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        found = 1;
        if (l.e[i].size == 0) { /* perhaps a manifest */
            if ((rc = manifest_of(d, a, l.e[i].name, &seg, &r)) == WERR_NOTFOUND) rc = 0;
            if (rc == 0 && (rc = obj_delete(d, l.e[i].name)) == 0 && seg)
                rc = delete_segments(d, seg);
        } else {
            rc = obj_delete(d, l.e[i].name);
        }
    }
    if (rc == 0 && !found) rc = WERR_NOTFOUND;
out:
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- walk */

static int walk_cmp(const void *x, const void *y)
{
    const char *a = ((const struct sw_entry *)x)->name, *b = ((const struct sw_entry *)y)->name;
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

static int sw_walk(struct storage_driver *base, const char *path, storage_walk_fn fn, void *ctx)
{
    struct sw_driver *d = (struct sw_driver *)base;
    int rc = path_check(path, 1);
    if (rc) return rc;
    struct arena *a = arena_new();
    char *dk = dir_of(d, a, path);
    size_t dl = strlen(dk);
    struct sw_list l;
    if ((rc = list_names(d, a, dk, 0, NULL, 0, &l)) != 0) goto out;
    if (!l.n && path[1]) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        const char *rel = l.e[i].name + dl;
        if (!*rel || rel[strlen(rel) - 1] == '/') continue; /* "dir/" marker objects */
        if (!strncmp(rel, STORAGE_TMP_PREFIX, 5) || strstr(rel, "/" STORAGE_TMP_PREFIX)) continue;
        l.e[k++] = l.e[i];
    }
    l.n = k;
    if (l.n > 1) qsort(l.e, l.n, sizeof *l.e, walk_cmp);
    char *prev = arena_strdup(a, "");
    const char *skip = NULL;
    size_t skiplen = 0;
    const char *root = path[1] ? path : "";
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        const char *rel = l.e[i].name + dl;
        if (skip && !strncmp(rel, skip, skiplen)) continue;
        skip = NULL;
        size_t common = 0;
        while (prev[common] && prev[common] == rel[common])
            common++;
        while (common && rel[common - 1] != '/')
            common--;
        const char *slash = rel + common;
        int skipped = 0;
        while ((slash = strchr(slash, '/')) != NULL) {
            size_t dlen = (size_t)(slash - rel);
            char *dpath = arena_printf(a, "%s/%.*s", root, (int)dlen, rel);
            struct storage_stat st = {0, l.e[i].mtime, 1};
            int w = fn(ctx, dpath, &st);
            if (w == WALK_SKIP_DIR) {
                skip = arena_printf(a, "%.*s/", (int)dlen, rel);
                skiplen = dlen + 1;
                skipped = 1;
                break;
            }
            if (w) {
                rc = w;
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
        if (st.size == 0) { /* a DLO manifest lists as 0 bytes: its size is its segments' */
            struct sw_resp r;
            if (obj_head(d, l.e[i].name, &r) == 0 && r.length > 0) st.size = r.length;
        }
        char *fpath = arena_printf(a, "%s/%s", root, rel);
        int w = fn(ctx, fpath, &st);
        if (w == WALK_SKIP_DIR) {
            skip = arena_strdup(a, rd);
            skiplen = strlen(rd);
            if (!skiplen) break;
        } else if (w) {
            rc = w;
        }
    }
out:
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- move */

/* move_object: one object (plain or DLO manifest) from src to dst; the
 * segments of a DLO that dst was before are deleted after */
static int move_object(struct sw_driver *d, struct arena *a, const char *sk, const char *dk,
                       const struct sw_resp *sr)
{
    int rc;
    char *oldseg = NULL, *srcseg = sr->has_manifest ? segments_of(d, a, sr->manifest) : NULL;
    struct sw_resp dr;
    rc = manifest_of(d, a, dk, &oldseg, &dr);
    if (rc && rc != WERR_NOTFOUND) return rc;
    if (oldseg && srcseg && !strcmp(oldseg, srcseg)) oldseg = NULL;
    /* a small DLO becomes a plain object: one request to read it (configs,
     * small layers), and the reference serves it (its Stat waits, then
     * fails, on a DLO of 0 bytes: an empty blob). A larger one stays a DLO,
     * as the reference moves it: a new manifest, no copy of the bytes */
    int flat = srcseg && sr->length >= 0 && sr->length <= SW_FLAT_MAX && sr->length <= d->chunksize;
    if (flat) {
        rc = sr->length ? obj_copy(d, sk, dk) : obj_put(d, dk, "", 0);
        struct sw_resp cr;
        if (rc == 0 && (obj_head(d, dk, &cr) != 0 || cr.has_manifest || cr.length != sr->length))
            flat = 0; /* not the content: keep the segments, as a DLO */
        if (rc && rc != WERR_TOOBIG && rc != WERR_INVALID) return rc;
        if (rc) flat = 0;
        if (!flat) rc = manifest_put(d, dk, sr->manifest);
    } else if (sr->has_manifest) {
        rc = manifest_put(d, dk, sr->manifest);
    } else if (sr->length > SW_MAX_OBJECT) {
        rc = WERR_TOOBIG;
    } else {
        rc = obj_copy(d, sk, dk);
    }
    if (rc == 0) rc = obj_delete(d, sk);
    if (rc == 0 && flat) rc = delete_segments(d, srcseg);
    if (rc == 0 && oldseg) rc = delete_segments(d, oldseg);
    return rc;
}

static int sw_move(struct storage_driver *base, const char *src, const char *dst)
{
    struct sw_driver *d = (struct sw_driver *)base;
    int rc = path_check(src, 0);
    if (rc || (rc = path_check(dst, 0)) != 0) return rc;
    size_t sl = strlen(src);
    if (!strncmp(dst, src, sl) && (dst[sl] == '/' || !dst[sl])) return dst[sl] ? WERR_INVALID : 0;
    struct arena *a = arena_new();
    char *sk = key_of(d, a, src), *dk = key_of(d, a, dst);
    struct sw_resp sr;
    rc = obj_head_memo(d, sk, &sr);
    if (rc == 0) {
        rc = move_object(d, a, sk, dk, &sr);
        goto out;
    }
    if (rc != WERR_NOTFOUND) goto out;
    /* a directory: every object below, one by one */
    struct sw_list l;
    char *sd = dir_of(d, a, src), *dd = dir_of(d, a, dst);
    if ((rc = list_names(d, a, sd, 0, NULL, 0, &l)) != 0) goto out;
    if (!l.n) {
        rc = WERR_NOTFOUND;
        goto out;
    }
    size_t sdl = strlen(sd);
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        if ((rc = obj_head(d, l.e[i].name, &sr)) == WERR_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc == 0)
            rc =
                move_object(d, a, l.e[i].name, arena_printf(a, "%s%s", dd, l.e[i].name + sdl), &sr);
    }
out:
    arena_free(a);
    return rc;
}

/* ---------------------------------------------------------------- writer */

struct sw_writer {
    struct storage_writer base;
    struct sw_driver *d;
    int open;
    char *key;                      /* malloc: the manifest */
    char *segpath;                  /* malloc: segments are "<segpath>/<%016d>" from 1 */
    int64_t *seg;                   /* sizes of segments 1..nseg (seg[i] of segment i+1) */
    size_t nseg, capseg, first_new; /* segments numbered > first_new are this writer's */
    unsigned char *buf;             /* the tail not yet in a segment */
    size_t blen, bcap;
    int manifest; /* the manifest must be written at close */
    int fresh;    /* no file before this writer */
    int loaded;   /* seg[] holds the segments (else only base_size is known) */
    int changed;  /* segments were added or removed */
    int64_t base_size;
};

static void writer_free(struct sw_writer *w)
{
    free(w->key);
    free(w->segpath);
    free(w->seg);
    free(w->buf);
    w->key = w->segpath = NULL;
    w->seg = NULL;
    w->buf = NULL;
}

static int64_t persisted(const struct sw_writer *w)
{
    if (!w->loaded) return w->base_size;
    int64_t s = 0;
    for (size_t i = 0; i < w->nseg; i++)
        s += w->seg[i];
    return s;
}

static char *seg_name(struct arena *a, const struct sw_writer *w, size_t num)
{
    return arena_printf(a, "%s/%016zu", w->segpath, num);
}

static void seg_push(struct sw_writer *w, int64_t size)
{
    if (w->nseg == w->capseg) {
        w->capseg = w->capseg ? w->capseg * 2 : 16;
        w->seg = xrealloc(w->seg, w->capseg * sizeof *w->seg);
    }
    w->seg[w->nseg++] = size;
}

static int seg_load(struct sw_writer *w);

static int flush_segment(struct sw_writer *w)
{
    if (!w->blen) return 0;
    int lrc = seg_load(w);
    if (lrc) return lrc;
    w->changed = 1;
    struct arena *a = arena_new();
    int rc = obj_put(w->d, seg_name(a, w, w->nseg + 1), w->buf, w->blen);
    arena_free(a);
    if (rc) return rc;
    seg_push(w, (int64_t)w->blen);
    w->blen = 0;
    return 0;
}

/* new_segpath: "<prefix>/segments/<3 hex>/<37 hex>", random as the reference's */
static char *new_segpath(struct sw_driver *d)
{
    unsigned char rnd[20];
    char hex[41];
    RAND_bytes(rnd, sizeof rnd);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    size_t l = strlen(d->segroot) + 48;
    char *p = xmalloc(l);
    snprintf(p, l, "%s%.3s/%s", d->segroot, hex, hex + 3);
    return p;
}

/* writer_manifest: the writer's object as the DLO of its segment path */
static int writer_manifest(const struct sw_writer *w)
{
    struct arena *a = arena_new();
    int rc = manifest_put(w->d, w->key, arena_printf(a, "%s/%s", w->d->container, w->segpath));
    arena_free(a);
    return rc;
}

static int writer_persist(struct sw_writer *w)
{
    int rc = flush_segment(w);
    if (rc == 0 && w->manifest && (rc = writer_manifest(w)) == 0) w->manifest = 0;
    if (rc == 0 && w->changed) {
        /* the container listing behind a DLO may lag its segments (eventual
         * consistency): wait, bounded, until it shows every segment. That
         * listing (the segment prefix) is what a HEAD or GET of the manifest
         * reads, without the manifest's own request on top */
        int64_t want = persisted(w);
        long delay = 50;
        for (int i = 0; i < 8; i++) {
            struct arena *t = arena_new();
            struct sw_list l;
            int64_t sum = 0;
            int seen = list_names(w->d, t, arena_printf(t, "%s/", w->segpath), 0, NULL, 0, &l) == 0;
            for (size_t k = 0; seen && k < l.n; k++)
                sum += l.e[k].size;
            seen = seen && l.n == w->nseg && sum == want;
            arena_free(t);
            if (seen) break;
            backoff(&delay);
        }
    }
    return rc;
}

static void writer_cleanup(void *p)
{
    struct sw_writer *w = p;
    if (!w->open) return;
    w->open = 0;
    if (writer_persist(w)) log_warn("swift: writer of %s: data not saved", w->key);
    writer_free(w);
}

static int seg_cmp(const void *x, const void *y)
{
    return strcmp(((const struct sw_entry *)x)->name, ((const struct sw_entry *)y)->name);
}

/* seg_load: the segments of an existing DLO, in the reference's numbering
 * (1, 2, ... with no gap) */
static int seg_load(struct sw_writer *w)
{
    if (w->loaded) return 0;
    struct arena *t = arena_new();
    struct sw_list l;
    struct sw_resp r;
    int rc = list_names(w->d, t, arena_printf(t, "%s/", w->segpath), 0, NULL, 0, &l);
    if (rc == 0 && l.n > 1) qsort(l.e, l.n, sizeof *l.e, seg_cmp);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        if (strcmp(l.e[i].name, seg_name(t, w, i + 1))) {
            rc = WERR_IO;
            log_warn("swift: %s: unexpected segment %s", w->key, l.e[i].name);
            break;
        }
        seg_push(w, l.e[i].size);
    }
    /* a segment the listing does not show yet (eventual consistency) */
    while (rc == 0 && obj_head(w->d, seg_name(t, w, w->nseg + 1), &r) == 0)
        seg_push(w, r.length < 0 ? 0 : r.length);
    arena_free(t);
    if (rc == 0) {
        w->loaded = 1;
        w->first_new = w->nseg;
    }
    return rc;
}

static int sw_writer(struct storage_driver *base, struct arena *a, const char *path, int append,
                     struct storage_writer **out)
{
    struct sw_driver *d = (struct sw_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct sw_writer *w = arena_zalloc(a, sizeof *w);
    w->base.ops = &sw_writer_ops;
    w->d = d;
    struct arena *t = arena_new();
    w->key = xstrdup(key_of(d, t, path));
    w->bcap = (size_t)d->chunksize;
    w->buf = xmalloc(w->bcap);
    struct sw_resp r;
    int64_t *pre = NULL;
    size_t npre = 0;
    if (!append) {
        rc = sw_delete(base, path);
        if (rc == WERR_NOTFOUND) rc = 0;
        w->fresh = w->manifest = 1;
        w->segpath = new_segpath(d);
    } else if ((rc = memo_take(d, w->key, &r, &pre, &npre) ? 0 : obj_head(d, w->key, &r)) ==
               WERR_NOTFOUND) {
        rc = 0;
        w->fresh = w->manifest = 1;
        w->segpath = new_segpath(d);
    } else if (rc == 0 && r.has_manifest) {
        char *sp = segments_of(d, t, r.manifest);
        if (!sp) {
            log_warn("swift: %s: its segments (%s) are not under %s", w->key, r.manifest,
                     d->segroot);
            rc = WERR_IO;
        } else {
            /* its segments are listed when first needed (a commit of an
             * upload opens a writer that writes nothing), or were listed
             * while the caller's lock settled (prepare_append) */
            w->segpath = xstrdup(sp);
            w->base_size = r.length < 0 ? 0 : r.length;
            if (pre) {
                w->seg = pre;
                w->nseg = w->capseg = npre;
                w->loaded = 1;
                pre = NULL;
            }
        }
    } else if (rc == 0 && r.length == 0) {
        /* an empty plain object (an upload's data as it began): nothing to
         * carry over, the manifest replaces it */
        w->segpath = new_segpath(d);
        w->manifest = 1;
    } else if (rc == 0) {
        /* a plain object becomes the first segment, as the reference does */
        w->segpath = new_segpath(d);
        if (r.length > SW_MAX_OBJECT)
            rc = WERR_TOOBIG;
        else if ((rc = obj_copy(d, w->key, seg_name(t, w, 1))) == 0)
            seg_push(w, r.length < 0 ? 0 : r.length);
        w->manifest = 1;
    }
    arena_free(t);
    free(pre);
    if (rc) {
        writer_free(w);
        return rc;
    }
    if (w->fresh || w->manifest) w->loaded = 1; /* a new segment path */
    w->first_new = w->nseg;
    w->open = 1;
    arena_cleanup(a, writer_cleanup, w);
    *out = &w->base;
    return 0;
}

/* sw_prepare_append: the segments of the DLO whose HEAD is in the memo,
 * listed now for the writer that will take the memo (the registry calls it
 * while an upload's lock settles) */
static void sw_prepare_append(struct storage_driver *base, const char *path)
{
    struct sw_driver *d = (struct sw_driver *)base;
    if (path_check(path, 0)) return;
    struct arena *a = arena_new();
    char *key = key_of(d, a, path), *manifest = NULL;
    pthread_mutex_lock(&d->memo_mu);
    if (d->memo.key && !strcmp(d->memo.key, key) && d->memo.has_manifest && !d->memo.seg)
        manifest = arena_strdup(a, d->memo.manifest);
    pthread_mutex_unlock(&d->memo_mu);
    char *sp = manifest ? segments_of(d, a, manifest) : NULL;
    if (sp) {
        struct sw_writer w;
        memset(&w, 0, sizeof w);
        w.d = d;
        w.key = key;
        w.segpath = sp;
        if (seg_load(&w) == 0) {
            pthread_mutex_lock(&d->memo_mu);
            if (d->memo.key && !strcmp(d->memo.key, key) && !d->memo.seg) {
                d->memo.seg = w.seg;
                d->memo.nseg = w.nseg;
                w.seg = NULL;
            }
            pthread_mutex_unlock(&d->memo_mu);
        }
        free(w.seg);
    }
    arena_free(a);
}

static int sw_write(struct storage_writer *base, const void *buf, size_t n)
{
    struct sw_writer *w = (struct sw_writer *)base;
    if (!w->open) return WERR_INVALID;
    const unsigned char *p = buf;
    while (n) {
        size_t room = (size_t)w->d->chunksize > w->blen ? (size_t)w->d->chunksize - w->blen : 0;
        size_t k = n < room ? n : room;
        memcpy(w->buf + w->blen, p, k);
        w->blen += k;
        p += k;
        n -= k;
        if (w->blen >= (size_t)w->d->chunksize) {
            int rc = flush_segment(w);
            if (rc) return rc;
        }
    }
    return 0;
}

static int64_t sw_writer_size(struct storage_writer *base)
{
    struct sw_writer *w = (struct sw_writer *)base;
    return persisted(w) + (int64_t)w->blen;
}

static int sw_writer_truncate(struct storage_writer *base, int64_t size)
{
    struct sw_writer *w = (struct sw_writer *)base;
    if (!w->open) return WERR_INVALID;
    int lrc = seg_load(w);
    if (lrc) return lrc;
    int64_t done = persisted(w);
    if (size < 0 || size > done + (int64_t)w->blen) return WERR_RANGE;
    if (size >= done) {
        w->blen = (size_t)(size - done);
        return 0;
    }
    /* the segment holding the cut back into the buffer; it and later ones deleted */
    size_t i = 0;
    int64_t start = 0;
    while (start + w->seg[i] <= size) {
        start += w->seg[i];
        i++;
    }
    struct arena *a = arena_new();
    int64_t keep = size - start;
    int rc = 0;
    if (keep > 0) {
        if ((size_t)keep > w->bcap) {
            w->bcap = (size_t)keep;
            w->buf = xrealloc(w->buf, w->bcap);
        }
        struct buf b;
        buf_init(&b, 0);
        rc = obj_get(w->d, seg_name(a, w, i + 1), 0, keep, (size_t)keep, &b, NULL);
        if (rc == 0 && (int64_t)b.len != keep) rc = WERR_IO;
        if (rc == 0) memcpy(w->buf, b.data, (size_t)keep);
        buf_free(&b);
    }
    for (size_t j = w->nseg; rc == 0 && j > i; j--)
        rc = obj_delete(w->d, seg_name(a, w, j));
    if (rc == 0) {
        w->changed = 1;
        w->nseg = i;
        w->blen = (size_t)keep;
        if (w->first_new > i) w->first_new = i;
    }
    arena_free(a);
    return rc;
}

static int sw_commit(struct storage_writer *base)
{
    struct sw_writer *w = (struct sw_writer *)base;
    if (!w->open) return WERR_INVALID;
    w->open = 0;
    int rc = writer_persist(w);
    writer_free(w);
    return rc;
}

static void sw_writer_close(struct storage_writer *base)
{
    struct sw_writer *w = (struct sw_writer *)base;
    if (!w->open) return;
    writer_cleanup(w);
}

static void sw_cancel(struct storage_writer *base)
{
    struct sw_writer *w = (struct sw_writer *)base;
    if (!w->open) return;
    w->open = 0;
    struct arena *a = arena_new();
    if (w->fresh) {
        delete_segments(w->d, w->segpath);
        if (!w->manifest) obj_delete(w->d, w->key);
    } else {
        for (size_t j = w->nseg; j > w->first_new; j--)
            obj_delete(w->d, seg_name(a, w, j));
    }
    arena_free(a);
    writer_free(w);
}

/* ---------------------------------------------------------------- append_file */

#define SW_APPEND_THREADS 4
#define SW_APPEND_MAX (1LL << 30) /* larger bodies go through a writer (lock renewals) */

struct piece_job {
    struct sw_writer *w;
    int fd;
    int64_t len;
    size_t first, n; /* segment numbers first+1 .. first+n */
    int manifest;    /* one more job: the writer's DLO manifest */
    int manifest_rc;
    pthread_mutex_t mu;
    size_t next;
    int rc;
};

static void *piece_worker(void *p)
{
    struct piece_job *j = p;
    int64_t chunk = j->w->d->chunksize;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        int stop = j->rc != 0;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n + (size_t)j->manifest || stop) break;
        if (i == j->n) {
            j->manifest_rc = writer_manifest(j->w);
            continue;
        }
        int64_t off = (int64_t)i * chunk, plen = j->len - off < chunk ? j->len - off : chunk;
        struct arena *a = arena_new();
        const char *h[1] = {SW_CT};
        struct sw_op o = {.method = "PUT",
                          .obj = seg_name(a, j->w, j->first + i + 1),
                          .hdrs = h,
                          .nhdrs = 1,
                          .body_len = (size_t)plen,
                          .use_fd = 1,
                          .fd = j->fd,
                          .fd_off = off};
        int rc = sw_do(j->w->d, &o);
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

/* sw_append_file: a request body the web server wrote to a file becomes
 * segments put in parallel straight from the file (no copy through the
 * writer's buffer) */
static int sw_append_file(struct storage_driver *base, struct arena *a, const char *path,
                          int64_t offset, int fd, const char *src, int64_t len)
{
    if (len > SW_APPEND_MAX) return WERR_UNSUPPORTED;
    struct storage_writer *wb;
    int rc = storage_writer_at(base, a, path, offset, &wb);
    if (rc) return rc;
    struct sw_writer *w = (struct sw_writer *)wb;
    if ((rc = seg_load(w)) != 0 || (rc = flush_segment(w)) != 0 || len == 0) goto out;
    /* segments of chunksize, as the reference cuts them: Swift's DLO reads
     * segments past the tenth at one per second (rate_limit_after_segment),
     * so smaller pieces would cost every pull */
    int64_t chunk = w->d->chunksize;
    struct piece_job j = {.w = w,
                          .fd = fd,
                          .len = len,
                          .first = w->nseg,
                          .n = (size_t)((len + chunk - 1) / chunk),
                          .manifest_rc = WERR_IO, /* until put */
                          .mu = PTHREAD_MUTEX_INITIALIZER};
    /* an object that was there (an upload's empty data, or a plain object
     * now its first segment) becomes a DLO: its manifest is put beside a
     * single piece — until it lands, and if it fails (or the process dies),
     * the DLO reads as the object did or holds the whole piece, past the
     * saved state, which the next append cuts. Several pieces could land
     * with a gap (a crash): their manifest is put after them. */
    j.manifest = w->manifest && !w->fresh && j.n == 1;
    size_t jobs = j.n + (size_t)j.manifest;
    size_t nt = jobs < SW_APPEND_THREADS ? jobs : SW_APPEND_THREADS;
    par_run(nt, piece_worker, &j);
    pthread_mutex_destroy(&j.mu);
    if (j.manifest && j.manifest_rc == 0) w->manifest = 0;
    rc = j.rc;
    if (rc) {
        /* no gap may stay in the numbering: every piece goes */
        struct arena *t = arena_new();
        for (size_t i = j.n; i > 0; i--)
            obj_delete(w->d, seg_name(t, w, j.first + i));
        arena_free(t);
        goto out;
    }
    for (size_t i = 0; i < j.n; i++) {
        int64_t off = (int64_t)i * chunk;
        seg_push(w, len - off < chunk ? len - off : chunk);
    }
    w->changed = 1;
out:
    /* on failure what was there stays (the next append cuts to its offset) */
    if (rc)
        storage_writer_close(wb);
    else
        rc = storage_commit(wb);
    return rc;
}

/* ---------------------------------------------------------------- url_for */

char *driver_swift_tempurl(struct arena *a, const char *storage_url, const char *container,
                           const char *object, const char *key, long long expires,
                           const char *sig_prefix)
{
    /* the URL path of the storage URL: after scheme://host */
    const char *p = strstr(storage_url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    const char *upath = p ? p : "";
    char *msg = arena_printf(a, "GET\n%lld\n%s/%s/%s", expires, upath, container, object);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    if (!HMAC(EVP_sha1(), key, (int)strlen(key), (const unsigned char *)msg, strlen(msg), mac, &ml))
        return NULL;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned int i = 0; i < ml; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    struct buf *u = buf_arena_new(a, 0);
    buf_puts(u, storage_url);
    buf_puts(u, "/");
    enc(u, container);
    buf_puts(u, "/");
    enc(u, object);
    buf_puts(u, "?temp_url_sig=");
    if (sig_prefix) sigv4_encode(u, sig_prefix, strlen(sig_prefix), 0);
    buf_printf(u, "%s&temp_url_expires=%lld", hex, expires);
    return u->data;
}

static int sw_url_for(struct storage_driver *base, struct arena *a, const char *path,
                      const char *method, char **url)
{
    struct sw_driver *d = (struct sw_driver *)base;
    int rc = path_check(path, 0);
    if (rc) return rc;
    if (!d->secretkey) return WERR_UNSUPPORTED;
    if (method && strcmp(method, "GET") && strcmp(method, "HEAD")) return WERR_UNSUPPORTED;
    char *token, *su;
    unsigned long gen;
    if ((rc = session(d, a, 0, &token, &su, &gen)) != 0) return rc;
    const char *pfx = NULL;
    if (d->accesskey) { /* HP Cloud: tenant_id:access_key:signature */
        pthread_mutex_lock(&d->amu);
        pfx = arena_printf(a, "%s:%s:", d->project_id ? d->project_id : "", d->accesskey);
        pthread_mutex_unlock(&d->amu);
    }
    char *u = driver_swift_tempurl(a, su, d->container, key_of(d, a, path), d->secretkey,
                                   (long long)time(NULL) + SW_TEMPURL_EXPIRY, pfx);
    if (!u) return WERR_IO;
    *url = u;
    return 0;
}

/* ---------------------------------------------------------------- locks */

/* A lease object at the lock's path, in storage/lease.c's format
 *   "wharf-lease 1\nholder <host> <pid> <token>\nexpires <unix time>\n"
 * taken with Swift's conditional create: PUT with If-None-Match: * answers
 * 412 when the object exists. That alone is not a lock: the object server
 * checks at the start of a PUT, so two PUTs in flight together both get 201
 * (the newer X-Timestamp wins; an older one landing after a newer is 409).
 * A taker therefore still reads its lease back after a wait, but the race
 * it waits out is only PUTs already in flight when its own landed — three
 * times its own PUT, at least SW_LEASE_SETTLE_MS — where storage/lease.c
 * must wait out a read-then-write gap (at least 250 ms). A lease that ended
 * (expired, its holder a dead process on this host, or no lease) is deleted
 * and created again; two takers may both delete it, so that path waits the
 * lease module's 250 ms. */
#define SW_LEASE_MAX 1024
#define SW_LEASE_SETTLE_MS 20
#define SW_LEASE_TAKEOVER_MS 250
#define SW_LEASE_POLL_MAX_MS 500

struct sw_lock {
    struct storage_lock base;
    struct sw_driver *d;
    char *key; /* arena */
    char token[33];
    int ttl_s;
    time_t renewed;
    int held;
};

/* lease_read: 0 and the holder's token when a live lease is at key,
 * WERR_NOTFOUND when there is none or it ended (*absent, when given, set
 * when no object is there at all), or a WERR_* */
static int lease_read(struct sw_driver *d, const char *key, char token[33], int *absent)
{
    struct buf b;
    buf_init(&b, SW_LEASE_MAX);
    /* the newest copy any replica holds: on a cluster with replicas, one
     * that missed the last write must not answer for it (X-Newest) */
    const char *h[1] = {"X-Newest: true"};
    struct sw_op o = {
        .method = "GET", .obj = key, .hdrs = h, .nhdrs = 1, .resp = &b, .resp_max = SW_LEASE_MAX};
    int rc = sw_do(d, &o);
    token[0] = '\0';
    if (absent) *absent = rc == WERR_NOTFOUND;
    if (rc == WERR_TOOBIG) rc = WERR_INVALID;
    if (rc && rc != WERR_INVALID) goto out;
    char host[256], myhost[256] = "?", *txt = NULL;
    long pid;
    long long expires;
    if (rc == 0) {
        txt = xmalloc(b.len + 1);
        if (b.len) memcpy(txt, b.data, b.len);
        txt[b.len] = '\0';
    }
    if (rc || (sscanf(txt, "wharf-lease 1\nholder %255s %ld %32s\nexpires %lld", host, &pid, token,
                      &expires) != 4 &&
               sscanf(txt, "wharf-gc-lease 1\nholder %255s %ld %32s\nexpires %lld", host, &pid,
                      token, &expires) != 4)) {
        token[0] = '\0';
        log_warn("swift: lock %s: the object there is no lease; taken over", key);
        rc = WERR_NOTFOUND;
        free(txt);
        goto out;
    }
    free(txt);
    gethostname(myhost, sizeof myhost - 1);
    if (expires <= (long long)time(NULL) ||
        (!strcmp(host, myhost) && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        rc = WERR_NOTFOUND;
out:
    buf_free(&b);
    return rc;
}

/* lease_write: our lease at key; create: only when no object is there
 * (WERR_EXISTS when one is, or a newer write won) */
static int lease_write(struct sw_lock *l, int create)
{
    char host[256] = "?", body[512];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    int n = snprintf(body, sizeof body, "wharf-lease 1\nholder %s %ld %s\nexpires %lld\n", host,
                     (long)getpid(), l->token, (long long)(now + l->ttl_s));
    const char *h[2] = {SW_CT, "If-None-Match: *"};
    struct sw_op o = {.method = "PUT",
                      .obj = l->key,
                      .hdrs = h,
                      .nhdrs = create ? 2 : 1,
                      .body = body,
                      .body_len = (size_t)n};
    int rc = sw_do(l->d, &o);
    if (rc == WERR_IO && o.r.status == 409) rc = WERR_EXISTS;
    if (rc == 0) l->renewed = now;
    return rc;
}

static void sw_lock_release(void *p)
{
    struct sw_lock *l = p;
    if (!l->held) return;
    l->held = 0;
    /* only our own lease (one that expired and was taken over stays); one
     * written less than half its ttl ago cannot have expired nor been taken
     * (its holder, this process, lives): deleted without reading it first */
    char token[33];
    if (time(NULL) - l->renewed < l->ttl_s / 2 ||
        (lease_read(l->d, l->key, token, NULL) == 0 && !strcmp(token, l->token)))
        obj_delete(l->d, l->key);
}

static int sw_lock(struct storage_driver *base, struct arena *a, const char *path, int ttl_s,
                   long wait_ms, struct storage_lock **out)
{
    struct sw_driver *d = (struct sw_driver *)base;
    *out = NULL;
    int rc = path_check(path, 0);
    if (rc) return rc;
    struct sw_lock *l = arena_zalloc(a, sizeof *l);
    l->base.ops = &sw_lock_ops;
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
    int took_over = 0, freed_retry = 0;
    char token[33];
    for (;;) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        rc = lease_write(l, 1);
        if (rc == 0) {
            long took = ms_since(&t1);
            long settle = took_over ? SW_LEASE_TAKEOVER_MS : SW_LEASE_SETTLE_MS;
            /* the caller's reads run in this wait (storage_lock_during) */
            storage_lock_settling(took * 3 > settle ? took * 3 : settle);
            rc = lease_read(d, l->key, token, NULL);
            if (rc == 0 && !strcmp(token, l->token)) break;
            if (rc && rc != WERR_NOTFOUND) return rc;
            /* a create in flight with ours landed later, or ours was deleted */
        } else if (rc == WERR_EXISTS) {
            int absent = 0;
            rc = lease_read(d, l->key, token, &absent);
            if (rc == WERR_NOTFOUND && absent) {
                /* released between our create and this read (its holder
                 * just finished): no lease to take over, create again —
                 * at once the first time, after the usual pause later */
                if (!freed_retry) {
                    freed_retry = 1;
                    continue;
                }
                rc = 0;
            } else if (rc == WERR_NOTFOUND) { /* ended: delete it and create again at once */
                if ((rc = obj_delete(d, l->key)) != 0) return rc;
                took_over = 1;
                continue;
            }
            if (rc) return rc;
        } else {
            return rc;
        }
        long waited = ms_since(&t0);
        if (waited >= wait_ms) return WERR_BUSY;
        ms_sleep(pause < wait_ms - waited ? pause : wait_ms - waited);
        if (pause < SW_LEASE_POLL_MAX_MS) pause *= 2;
    }
    l->held = 1;
    arena_cleanup(a, sw_lock_release, l);
    *out = &l->base;
    return 0;
}

static int sw_lock_renew(struct storage_lock *base)
{
    struct sw_lock *l = (struct sw_lock *)base;
    if (!l->held) return WERR_BUSY;
    if (time(NULL) - l->renewed < l->ttl_s / 3) return 0;
    char token[33];
    int rc = lease_read(l->d, l->key, token, NULL);
    if (rc == WERR_NOTFOUND || (rc == 0 && strcmp(token, l->token) != 0)) {
        log_warn("swift: lock %s: the lease was lost (it expired and was taken)", l->key);
        l->held = 0;
        return WERR_BUSY;
    }
    if (rc) return rc;
    return lease_write(l, 0);
}

static void sw_unlock(struct storage_lock *base)
{
    sw_lock_release(base);
}

/* ---------------------------------------------------------------- driver */

static void zfree(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

static void sw_free(struct storage_driver *base)
{
    struct sw_driver *d = (struct sw_driver *)base;
    if (!d) return;
    for (size_t i = 0; i < d->npool; i++)
        curl_easy_cleanup(d->pool[i]);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->amu);
    pthread_mutex_destroy(&d->smu);
    memo_clear(d);
    pthread_mutex_destroy(&d->memo_mu);
    char **s[] = {&d->container,   &d->files,     &d->segroot, &d->authurl,      &d->user,
                  &d->tenant,      &d->tenantid,  &d->domain,  &d->domainid,     &d->tdomain,
                  &d->tdomainid,   &d->trustid,   &d->region,  &d->endpointtype, &d->accesskey,
                  &d->storage_url, &d->project_id};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        free(*s[i]);
    zfree(d->pass);
    zfree(d->secretkey);
    zfree(d->token);
    free(d);
}

static const struct storage_reader_ops sw_reader_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .read = sw_read,
    .close = sw_reader_close,
};

static const struct storage_writer_ops sw_writer_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .write = sw_write,
    .size = sw_writer_size,
    .truncate = sw_writer_truncate,
    .commit = sw_commit,
    .cancel = sw_cancel,
    .close = sw_writer_close,
};

static const struct storage_lock_ops sw_lock_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .renew = sw_lock_renew,
    .unlock = sw_unlock,
};

static const struct storage_driver_ops sw_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "swift",
    .free = sw_free,
    .get_content = sw_get_content,
    .put_content = sw_put_content,
    .reader = sw_reader,
    .writer = sw_writer,
    .stat = sw_stat,
    .list = sw_list,
    .move = sw_move,
    .delete = sw_delete,
    .walk = sw_walk,
    .url_for = sw_url_for,
    .list_page = sw_list_page,
    .lock = sw_lock,
    .append_file = sw_append_file,
    .prepare_append = sw_prepare_append,
    .warm = sw_warm,
};

static char *dup_or_null(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

/* trimmed: s with leading and trailing '/' removed (the reference's
 * strings.TrimLeft(strings.TrimRight(...))) */
static char *trimmed(const char *s)
{
    while (*s == '/')
        s++;
    size_t l = strlen(s);
    while (l && s[l - 1] == '/')
        l--;
    char *o = xmalloc(l + 1);
    memcpy(o, s, l);
    o[l] = '\0';
    return o;
}

int driver_swift_new(const struct config *cfg, struct storage_driver **out, char *err,
                     size_t errlen)
{
    if (!cfg->swift_authurl || !cfg->swift_username || !cfg->swift_password ||
        !cfg->swift_container) {
        snprintf(err, errlen,
                 "storage.swift: authurl, username, password and container are required");
        return WERR_INVALID;
    }
    if (curl_lazy_load(err, errlen) != 0) return WERR_INVALID;
    struct sw_driver *d = calloc(1, sizeof *d);
    if (!d) return WERR_NOMEM;
    storage_driver_init(&d->base, &sw_ops, NULL);
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->amu, NULL);
    pthread_mutex_init(&d->smu, NULL);
    pthread_mutex_init(&d->memo_mu, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    d->container = xstrdup(cfg->swift_container);
    const char *pfx = cfg->swift_prefix ? cfg->swift_prefix : "";
    size_t pl = strlen(pfx) + 16;
    char *tmp = xmalloc(pl);
    snprintf(tmp, pl, "%s/files", pfx);
    d->files = trimmed(tmp);
    snprintf(tmp, pl, "%s/segments/", pfx);
    char *s = tmp;
    while (*s == '/')
        s++;
    d->segroot = xstrdup(s);
    free(tmp);
    d->authurl = xstrdup(cfg->swift_authurl);
    d->user = xstrdup(cfg->swift_username);
    d->pass = xstrdup(cfg->swift_password);
    d->tenant = dup_or_null(cfg->swift_tenant);
    d->tenantid = dup_or_null(cfg->swift_tenantid);
    d->domain = dup_or_null(cfg->swift_domain);
    d->domainid = dup_or_null(cfg->swift_domainid);
    d->tdomain = dup_or_null(cfg->swift_tenantdomain);
    d->tdomainid = dup_or_null(cfg->swift_tenantdomainid);
    d->trustid = dup_or_null(cfg->swift_trustid);
    d->region = dup_or_null(cfg->swift_region);
    d->endpointtype = dup_or_null(cfg->swift_endpointtype);
    d->secretkey = dup_or_null(cfg->swift_secretkey);
    d->accesskey = dup_or_null(cfg->swift_accesskey);
    d->authversion = cfg->swift_authversion;
    d->skipverify = cfg->swift_insecureskipverify;
    d->tempurl_container = cfg->swift_tempurlcontainerkey;
    d->chunksize = cfg->swift_chunksize >= (1L << 20) ? cfg->swift_chunksize : 20L << 20;
    *out = &d->base;
    return 0;
}
