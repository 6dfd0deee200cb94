/* proxy.c — the pull-through cache: upstream client (libcurl) and the hooks
 * the manifest and blob handlers call (see proxy.h).
 *
 * Upstream auth: a request goes out with what worked last for that upstream
 * and scope (a cached Bearer token, or Basic); a 401 is answered once: Basic
 * with the configured credentials, or the Docker token flow (GET realm with
 * service and scope, Basic credentials when configured), the token cached
 * until expires_in runs out. Workers serve one request at a time, so the
 * cache is a small per-process table.
 *
 * Blobs: the worker that takes the blob's lock file fetches it; others wait
 * on the lock and then serve it from storage. The fetching worker streams
 * the upstream body to its client through a storage reader of its own that
 * pulls from a curl multi handle, and appends the same bytes to an upload.
 * The last bytes are handed to the client only after the upload committed
 * under the right digest: a bad digest or a broken transfer ends the response
 * short of its Content-Length (the client sees an error) and stores nothing. */
#include "proxy.h"

#include "../lib/digest.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../storage/driver.h"
#include "../storage/manifest.h"
#include "../storage/proxy_state.h"
#include "../storage/registry.h"
#include "handlers.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MANIFEST_ACCEPT                                                                            \
    "application/vnd.oci.image.index.v1+json, "                                                    \
    "application/vnd.docker.distribution.manifest.list.v2+json, "                                  \
    "application/vnd.oci.image.manifest.v1+json, "                                                 \
    "application/vnd.docker.distribution.manifest.v2+json"
#define HEADER_MAX 8192             /* one upstream header value kept */
#define TOKEN_BODY_MAX (256 * 1024) /* a token endpoint's answer */
#define PENDING_MAX (64u << 20)     /* bytes received and not yet read by the client */
#define STORE_CHUNK (8u << 20)      /* bytes appended to the upload at once */
#define LOCK_WAIT_S 600             /* a follower waits this long for the fetching worker */
#define CONNECT_TIMEOUT_S 10
#define LOW_SPEED_TIME_S 30 /* a transfer below 1 KiB/s for this long fails */

/* ---------------------------------------------------------------- tokens */

struct token_slot {
    const struct config_upstream *u;
    char *scope, *token;
    time_t expires;
};
#define TOKEN_SLOTS 32
static struct token_slot tokens[TOKEN_SLOTS];
/* the scheme an upstream answered with: 1 Basic, 2 Bearer (index = upstream) */
static const struct config_upstream *basic_ups[16];

static void token_slot_clear(struct token_slot *t)
{
    free(t->scope);
    free(t->token);
    memset(t, 0, sizeof(*t));
}

static const char *token_get(const struct config_upstream *u, const char *scope)
{
    time_t now = time(NULL);
    for (size_t i = 0; i < TOKEN_SLOTS; i++) {
        struct token_slot *t = &tokens[i];
        if (!t->token || t->u != u || strcmp(t->scope, scope)) continue;
        if (now >= t->expires) {
            token_slot_clear(t);
            return NULL;
        }
        return t->token;
    }
    return NULL;
}

static void token_put(const struct config_upstream *u, const char *scope, const char *tok, long ttl)
{
    size_t pick = 0;
    for (size_t i = 0; i < TOKEN_SLOTS; i++) {
        if (!tokens[i].token || (tokens[i].u == u && !strcmp(tokens[i].scope, scope))) {
            pick = i;
            break;
        }
        if (tokens[i].expires < tokens[pick].expires) pick = i; /* the soonest to expire */
    }
    token_slot_clear(&tokens[pick]);
    char *s = strdup(scope), *k = strdup(tok);
    if (!s || !k) {
        free(s);
        free(k);
        return;
    }
    tokens[pick].u = u;
    tokens[pick].scope = s;
    tokens[pick].token = k;
    /* renew a little early: the token must still be valid when it arrives */
    tokens[pick].expires = time(NULL) + (ttl > 20 ? ttl - 10 : ttl);
}

static int uses_basic(const struct config_upstream *u)
{
    for (size_t i = 0; i < sizeof basic_ups / sizeof basic_ups[0]; i++)
        if (basic_ups[i] == u) return 1;
    return 0;
}

static void set_basic(const struct config_upstream *u)
{
    for (size_t i = 0; i < sizeof basic_ups / sizeof basic_ups[0]; i++)
        if (!basic_ups[i] || basic_ups[i] == u) {
            basic_ups[i] = u;
            return;
        }
}

/* ---------------------------------------------------------------- requests */

struct up_resp {
    long status;
    const char *digest; /* Docker-Content-Digest */
    const char *ctype;  /* Content-Type */
    const char *www;    /* WWW-Authenticate */
    int64_t length;     /* Content-Length, -1 unknown */
    struct buf *body;   /* GET: the body (bounded) */
    struct arena *a;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    struct up_resp *r = ctx;
    size_t len = size * n;
    if (len >= 5 && !strncmp(p, "HTTP/", 5)) { /* a new response (after a redirect) */
        r->digest = r->ctype = r->www = NULL;
        r->length = -1;
        return len;
    }
    const char *c = memchr(p, ':', len);
    if (!c) return len;
    size_t kl = (size_t)(c - p);
    const char *v = c + 1;
    size_t vl = len - kl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (vl > HEADER_MAX) return len;
    char *val = arena_strndup(r->a, v, vl);
    if (kl == 21 && !strncasecmp(p, "Docker-Content-Digest", kl))
        r->digest = val;
    else if (kl == 12 && !strncasecmp(p, "Content-Type", kl))
        r->ctype = val;
    else if (kl == 16 && !strncasecmp(p, "WWW-Authenticate", kl))
        r->www = val;
    else if (kl == 14 && !strncasecmp(p, "Content-Length", kl))
        r->length = strtoll(val, NULL, 10);
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct up_resp *r = ctx;
    if (!r->body) return size * n;
    return buf_append(r->body, p, size * n) == 0 ? size * n : 0;
}

static void easy_common(CURL *c, const struct config_upstream *u)
{
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_TIME_S);
    /* blob GETs are redirected to object stores / CDNs; curl does not resend
     * Authorization to another host */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "wharf-proxy/1");
    (void)u;
}

static void easy_free(void *p)
{
    curl_easy_cleanup(p);
}
static void slist_free(void *p)
{
    curl_slist_free_all(p);
}

/* headers_for: Accept and the Authorization the cache holds for (u, scope) */
static struct curl_slist *headers_for(struct arena *a, const struct config_upstream *u,
                                      const char *scope, const char *accept)
{
    struct curl_slist *h = NULL;
    if (accept) h = curl_slist_append(h, arena_printf(a, "Accept: %s", accept));
    const char *tok = token_get(u, scope);
    if (tok) h = curl_slist_append(h, arena_printf(a, "Authorization: Bearer %s", tok));
    return h;
}

/* one request; body kept up to bodymax (0: discarded) */
static int up_once(struct arena *a, const struct config_upstream *u, const char *method,
                   const char *url, const char *scope, const char *accept, size_t bodymax,
                   struct up_resp *r)
{
    CURL *c = curl_easy_init();
    if (!c) return WERR_NOMEM;
    arena_cleanup(a, easy_free, c);
    memset(r, 0, sizeof(*r));
    r->a = a;
    r->length = -1;
    if (bodymax) r->body = buf_arena_new(a, bodymax);
    easy_common(c, u);
    struct curl_slist *h = headers_for(a, u, scope, accept);
    if (h) arena_cleanup(a, slist_free, h);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    if (u->username && uses_basic(u) && !token_get(u, scope)) {
        curl_easy_setopt(c, CURLOPT_USERNAME, u->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, u->password);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        log_warn("proxy: %s %s: %s", method, url, *r->errbuf ? r->errbuf : curl_easy_strerror(cc));
        return WERR_IO;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    return 0;
}

/* challenge_param: the value of key in a WWW-Authenticate challenge (arena) */
static const char *challenge_param(struct arena *a, const char *www, const char *key)
{
    size_t kl = strlen(key);
    const char *p = strchr(www, ' ');
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *eq = strchr(p, '=');
        if (!eq) return NULL;
        int match = (size_t)(eq - p) == kl && !strncasecmp(p, key, kl);
        const char *v = eq + 1;
        struct buf *b = buf_arena_new(a, HEADER_MAX);
        if (*v == '"') {
            for (v++; *v && *v != '"'; v++) {
                if (*v == '\\' && v[1]) v++;
                buf_append(b, v, 1);
            }
            if (*v == '"') v++;
        } else {
            while (*v && *v != ',' && *v != ' ')
                buf_append(b, v++, 1);
        }
        if (match) return b->data ? b->data : "";
        p = v;
    }
    return NULL;
}

static char *url_escape(struct arena *a, const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    if (!e) return arena_strdup(a, "");
    char *o = arena_strdup(a, e);
    curl_free(e);
    return o;
}

/* fetch_token: the Docker token flow for a Bearer challenge; caches the token */
static int fetch_token(struct arena *a, const struct config_upstream *u, const char *www,
                       const char *scope)
{
    const char *realm = challenge_param(a, www, "realm");
    const char *service = challenge_param(a, www, "service");
    const char *cscope = challenge_param(a, www, "scope");
    if (!realm || (strncmp(realm, "https://", 8) && strncmp(realm, "http://", 7))) {
        log_warn("proxy: %s: Bearer challenge without a usable realm", u->remoteurl);
        return WERR_DENIED;
    }
    const char *url = arena_printf(a, "%s%s", realm, strchr(realm, '?') ? "&" : "?");
    if (service) url = arena_printf(a, "%sservice=%s&", url, url_escape(a, service));
    url = arena_printf(a, "%sscope=%s", url, url_escape(a, cscope ? cscope : scope));
    CURL *c = curl_easy_init();
    if (!c) return WERR_NOMEM;
    arena_cleanup(a, easy_free, c);
    struct up_resp r;
    memset(&r, 0, sizeof r);
    r.a = a;
    r.length = -1;
    r.body = buf_arena_new(a, TOKEN_BODY_MAX);
    easy_common(c, u);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r.errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (u->username) {
        curl_easy_setopt(c, CURLOPT_USERNAME, u->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, u->password);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        log_warn("proxy: token endpoint %s: %s", realm,
                 *r.errbuf ? r.errbuf : curl_easy_strerror(cc));
        return WERR_IO;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (r.status != 200) {
        log_warn("proxy: token endpoint %s answered %ld", realm, r.status);
        return WERR_DENIED;
    }
    struct json_object *j = json_tokener_parse(r.body->data ? r.body->data : "");
    if (!j) return WERR_INVALID;
    struct json_object *t = NULL, *e = NULL;
    if (!json_object_object_get_ex(j, "token", &t) || !json_object_is_type(t, json_type_string))
        json_object_object_get_ex(j, "access_token", &t);
    long ttl = 60; /* the spec's default */
    if (json_object_object_get_ex(j, "expires_in", &e) && json_object_is_type(e, json_type_int) &&
        json_object_get_int64(e) > 0)
        ttl = (long)json_object_get_int64(e);
    int rc = WERR_INVALID;
    if (t && json_object_is_type(t, json_type_string) && json_object_get_string_len(t) > 0) {
        token_put(u, scope, json_object_get_string(t), ttl);
        rc = 0;
    }
    json_object_put(j);
    return rc;
}

/* answer_challenge: after a 401: 0 when a retry may succeed */
static int answer_challenge(struct arena *a, const struct config_upstream *u, const char *www,
                            const char *scope)
{
    if (!www) return WERR_DENIED;
    if (!strncasecmp(www, "Bearer", 6)) return fetch_token(a, u, www, scope);
    if (!strncasecmp(www, "Basic", 5) && u->username && !uses_basic(u)) {
        set_basic(u);
        return 0;
    }
    return WERR_DENIED;
}

/* up_call: a request to upstream u for path ("/v2/..."), answering one 401 */
static int up_call(struct arena *a, const struct config_upstream *u, const char *method,
                   const char *path, const char *scope, const char *accept, size_t bodymax,
                   struct up_resp *r)
{
    const char *url = arena_printf(a, "%s%s", u->remoteurl, path);
    int rc = up_once(a, u, method, url, scope, accept, bodymax, r);
    if (rc || r->status != 401) return rc;
    if (answer_challenge(a, u, r->www, scope) != 0) return 0; /* the 401 stands */
    return up_once(a, u, method, url, scope, accept, bodymax, r);
}

/* auth_prepare: make sure the next request for scope carries working credentials:
 * used before a streamed GET, which cannot be replayed after a 401 */
static void auth_for_stream(CURL *c, struct arena *a, const struct config_upstream *u,
                            const char *scope, struct curl_slist **h)
{
    const char *tok = token_get(u, scope);
    if (tok) {
        *h = curl_slist_append(*h, arena_printf(a, "Authorization: Bearer %s", tok));
    } else if (u->username && uses_basic(u)) {
        curl_easy_setopt(c, CURLOPT_USERNAME, u->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, u->password);
    }
}

static long touch_age(const struct config_upstream *u)
{
    if (u->ttl <= 0) return 3600;
    long a = u->ttl / 8;
    return a < 1 ? 1 : a > 3600 ? 3600 : a;
}

/* ---------------------------------------------------------------- manifests */

static int store_fetched(struct app *app, struct request *req, const char *tag, struct up_resp *r,
                         const char *want)
{
    struct arena *a = req->arena;
    const char *body = r->body && r->body->data ? r->body->data : "";
    size_t len = r->body ? r->body->len : 0;
    enum digest_alg alg = DIGEST_SHA256;
    if (want && digest_parse(want, &alg, NULL) != 0) return WERR_INVALID;
    char actual[DIGEST_MAX_STR];
    digest_of(alg, body, len, actual);
    if (want && strcmp(actual, want)) {
        log_warn("proxy: %s: upstream manifest does not match %s", req->name, want);
        return WERR_DIGEST;
    }
    struct manifest_info mi;
    const char *detail = NULL;
    const char *ct = r->ctype ? r->ctype : manifest_media_type(a, body, len);
    int rc = manifest_parse(a, body, len, ct, &mi, &detail);
    if (rc && !(rc == WERR_UNSUPPORTED && mi.kind == MF_SCHEMA1)) {
        log_warn("proxy: %s: upstream manifest refused: %s", req->name, detail ? detail : "");
        return rc;
    }
    return proxy_manifest_store(app->reg, a, req->name, tag, body, len, actual);
}

void proxy_manifest_sync(struct app *app, struct request *req)
{
    struct arena *a = req->arena;
    const char *remote;
    const struct config_upstream *u = proxy_upstream_for(app->cfg, a, req->name, &remote);
    if (!u) return;
    const char *scope = arena_printf(a, "repository:%s:pull", remote);
    const char *ref = req->ref;
    struct up_resp r;
    memset(&r, 0, sizeof r);
    if (strchr(ref, ':')) {
        if (proxy_manifest_has(app->reg, a, req->name, ref) != 0) {
            /* by digest: the content never changes, so cached is final */
            if (up_call(a, u, "GET", arena_printf(a, "/v2/%s/manifests/%s", remote, ref), scope,
                        MANIFEST_ACCEPT, app->cfg->manifest_max, &r) != 0 ||
                r.status != 200)
                return;
            if (store_fetched(app, req, NULL, &r, ref) != 0) return;
        }
        proxy_touch(app->reg, a, req->name, 'm', ref, touch_age(u));
        return;
    }
    /* by tag: the upstream says which digest the tag names now */
    char *have = NULL;
    proxy_tag_current(app->reg, a, req->name, ref, &have);
    const char *path = arena_printf(a, "/v2/%s/manifests/%s", remote, ref);
    const char *now = NULL;
    if (up_call(a, u, "HEAD", path, scope, MANIFEST_ACCEPT, 0, &r) != 0) goto serve_cached;
    if (r.status == 200 && r.digest && digest_parse(r.digest, NULL, NULL) == 0)
        now = r.digest;
    else if (r.status != 200 && r.status != 405)
        goto serve_cached; /* 404, 401, 5xx...: serve what we have */
    if (now && have && !strcmp(now, have) && proxy_manifest_has(app->reg, a, req->name, have) == 0)
        goto serve_cached;
    if (now && proxy_manifest_has(app->reg, a, req->name, now) == 0) {
        /* fetched before by digest: only the tag moves */
        proxy_manifest_store(app->reg, a, req->name, ref, NULL, 0, now);
        have = (char *)now;
        goto serve_cached;
    }
    if (up_call(a, u, "GET", now ? arena_printf(a, "/v2/%s/manifests/%s", remote, now) : path,
                scope, MANIFEST_ACCEPT, app->cfg->manifest_max, &r) != 0 ||
        r.status != 200)
        goto serve_cached;
    if (store_fetched(app, req, ref, &r, now) != 0) goto serve_cached;
    proxy_tag_current(app->reg, a, req->name, ref, &have);
serve_cached:
    if (have) proxy_touch(app->reg, a, req->name, 'm', have, touch_age(u));
}

/* ---------------------------------------------------------------- blobs */

struct blob_stream {
    struct storage_reader base; /* first: the response layer reads through it */
    struct storage_driver_ops ops;
    struct app *app;
    const struct config_upstream *u;
    struct arena *a; /* own arena: the upload outlives none of the request's cleanups */
    const char *repo, *digest;
    CURLM *m;
    CURL *c;
    struct curl_slist *h;
    char errbuf[CURL_ERROR_SIZE];
    struct upload *up;
    struct proxy_lock lock;
    int64_t length, got, delivered;
    char *pend; /* received, not yet handed to the client */
    size_t pend_len, pend_off, pend_cap;
    char *store; /* handed to the client, not yet appended to the upload */
    size_t store_len;
    int done; /* the transfer ended (see result) */
    CURLcode result;
    int finished; /* committed, or given up: nothing more to do */
    int failed;
};

static size_t stream_body(char *p, size_t size, size_t n, void *ctx)
{
    struct blob_stream *s = ctx;
    size_t len = size * n;
    if (s->pend_off == s->pend_len) s->pend_off = s->pend_len = 0;
    if (s->pend_len + len > s->pend_cap) {
        size_t nc = s->pend_cap ? s->pend_cap : 256 * 1024;
        while (nc < s->pend_len + len)
            nc *= 2;
        if (nc > PENDING_MAX) return 0;
        char *np = realloc(s->pend, nc);
        if (!np) return 0;
        s->pend = np;
        s->pend_cap = nc;
    }
    memcpy(s->pend + s->pend_len, p, len);
    s->pend_len += len;
    s->got += (int64_t)len;
    return len;
}

/* pump: run the transfer until bytes are pending or it ended */
static int pump(struct blob_stream *s)
{
    while (!s->done && s->pend_off == s->pend_len) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(s->m, &running);
        if (mc != CURLM_OK) {
            s->done = 1;
            s->result = CURLE_RECV_ERROR;
            break;
        }
        if (!running) {
            int q;
            CURLMsg *msg;
            s->result = CURLE_RECV_ERROR;
            while ((msg = curl_multi_info_read(s->m, &q)) != NULL)
                if (msg->msg == CURLMSG_DONE) s->result = msg->data.result;
            s->done = 1;
            break;
        }
        if (s->pend_off != s->pend_len) break;
        curl_multi_poll(s->m, NULL, 0, 1000, NULL);
    }
    return s->done && s->result != CURLE_OK ? WERR_IO : 0;
}

struct memsrc {
    const char *p;
    size_t len, off;
};
static ssize_t memsrc_read(void *ctx, void *buf, size_t n)
{
    struct memsrc *m = ctx;
    size_t k = m->len - m->off < n ? m->len - m->off : n;
    memcpy(buf, m->p + m->off, k);
    m->off += k;
    return (ssize_t)k;
}

static int store_flush(struct blob_stream *s)
{
    if (!s->store_len) return 0;
    proxy_lock_renew(&s->lock);
    struct memsrc m = {s->store, s->store_len, 0};
    int rc = registry_upload_append(s->app->reg, s->a, s->up, memsrc_read, &m, -1);
    s->store_len = 0;
    return rc;
}

static int store_add(struct blob_stream *s, const char *p, size_t n)
{
    while (n) {
        size_t k = STORE_CHUNK - s->store_len < n ? STORE_CHUNK - s->store_len : n;
        memcpy(s->store + s->store_len, p, k);
        s->store_len += k;
        p += k;
        n -= k;
        if (s->store_len == STORE_CHUNK) {
            int rc = store_flush(s);
            if (rc) return rc;
        }
    }
    return 0;
}

/* give_up: nothing is kept: the upload goes, the lock is released */
static void give_up(struct blob_stream *s, const char *why)
{
    if (s->finished) return;
    log_warn("proxy: fetching %s for %s from %s failed: %s", s->digest, s->repo, s->u->remoteurl,
             why);
    if (s->up) registry_upload_cancel(s->app->reg, s->a, s->up);
    s->finished = s->failed = 1;
    proxy_unlock(&s->lock);
}

/* finish: everything received: check, commit under the digest, release the lock */
static int finish(struct blob_stream *s)
{
    long status = 0;
    curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &status);
    if (s->result != CURLE_OK || status != 200 || (s->length >= 0 && s->got != s->length)) {
        give_up(s, s->result != CURLE_OK ? (*s->errbuf ? s->errbuf : curl_easy_strerror(s->result))
                                         : "short or failed transfer");
        return WERR_IO;
    }
    int rc = store_flush(s);
    struct blob_desc bd;
    if (!rc) rc = registry_upload_commit(s->app->reg, s->a, s->up, s->digest, &bd);
    if (rc) {
        if (rc != WERR_DIGEST) registry_upload_cancel(s->app->reg, s->a, s->up);
        s->up = NULL;
        give_up(s, rc == WERR_DIGEST ? "content does not match its digest" : werr_str(rc));
        return WERR_IO;
    }
    s->finished = 1;
    proxy_unlock(&s->lock);
    proxy_touch(s->app->reg, s->a, s->repo, 'b', s->digest, touch_age(s->u));
    log_info("proxy: cached %s for %s (%lld bytes) from %s", s->digest, s->repo, (long long)s->got,
             s->u->remoteurl);
    return 0;
}

static ssize_t stream_read(struct storage_reader *rd, void *buf, size_t n)
{
    struct blob_stream *s = (struct blob_stream *)rd;
    if (s->failed) return WERR_IO;
    if (s->finished && s->pend_off == s->pend_len) return 0;
    if (pump(s) != 0 && s->pend_off == s->pend_len) {
        give_up(s, *s->errbuf ? s->errbuf : curl_easy_strerror(s->result));
        return WERR_IO;
    }
    size_t avail = s->pend_len - s->pend_off;
    if (avail == 0) { /* ended */
        if (!s->finished && finish(s) != 0) return WERR_IO;
        return 0;
    }
    size_t k = avail < n ? avail : n;
    if (store_add(s, s->pend + s->pend_off, k) != 0) {
        give_up(s, "cannot write to storage");
        return WERR_IO;
    }
    memcpy(buf, s->pend + s->pend_off, k); /* before pump() may reuse the buffer */
    s->pend_off += k;
    s->delivered += (int64_t)k;
    if (s->length >= 0 && s->delivered >= s->length) {
        /* the client's last bytes wait for the verdict on the whole blob */
        int extra = 0;
        while (!s->done) {
            if (s->pend_off != s->pend_len) {
                extra = 1; /* more than announced: dropped, and the blob refused */
                s->pend_off = s->pend_len;
            }
            pump(s);
        }
        if (extra || s->pend_off != s->pend_len) s->got = -1;
        if (finish(s) != 0) return WERR_IO;
    }
    return (ssize_t)k;
}

static void stream_close(struct storage_reader *rd)
{
    (void)rd; /* the arena cleanup does the work */
}

/* stream_cleanup: the response is over. A client that went away leaves the
 * fetch to be finished here (others may be waiting for this blob). */
static void stream_cleanup(void *p)
{
    struct blob_stream *s = p;
    if (!s->finished) {
        for (;;) {
            if (pump(s) != 0 && s->pend_off == s->pend_len) {
                give_up(s, *s->errbuf ? s->errbuf : curl_easy_strerror(s->result));
                break;
            }
            size_t avail = s->pend_len - s->pend_off;
            if (!avail) {
                finish(s);
                break;
            }
            if (store_add(s, s->pend + s->pend_off, avail) != 0) {
                give_up(s, "cannot write to storage");
                break;
            }
            s->pend_off += avail;
        }
    }
    proxy_unlock(&s->lock);
    if (s->m && s->c) curl_multi_remove_handle(s->m, s->c);
    if (s->c) curl_easy_cleanup(s->c);
    if (s->m) curl_multi_cleanup(s->m);
    curl_slist_free_all(s->h);
    free(s->pend);
    free(s->store);
    arena_free(s->a);
    free(s);
}

static void upstream_failed(struct request *req, struct response *res,
                            const struct config_upstream *u, const char *what)
{
    error_reply(req, res, 502, "UNKNOWN", "upstream registry error",
                arena_printf(req->arena, "%s: %s", u->remoteurl, what));
}

int proxy_blob_get(struct app *app, struct request *req, struct response *res)
{
    struct arena *a = req->arena;
    const char *remote;
    const struct config_upstream *u = proxy_upstream_for(app->cfg, a, req->name, &remote);
    if (!u) return 0;
    struct blob_desc bd;
    if (registry_blob_stat(app->reg, a, req->name, req->ref, &bd) == 0 ||
        proxy_blob_link(app->reg, a, req->name, req->ref, &bd) == 0) {
        proxy_touch(app->reg, a, req->name, 'b', req->ref, touch_age(u));
        return 0;
    }
    const char *scope = arena_printf(a, "repository:%s:pull", remote);
    const char *path = arena_printf(a, "/v2/%s/blobs/%s", remote, req->ref);
    struct up_resp r;
    int is_head = !strcmp(req->method, "HEAD");
    struct proxy_lock lock = PROXY_LOCK_INIT;
    if (!is_head) {
        if (proxy_lock(app->reg, a, req->ref, LOCK_WAIT_S, &lock) != 0) {
            upstream_failed(req, res, u, "timed out waiting for another fetch of this blob");
            return 1;
        }
        /* another worker may have fetched it while this one waited */
        if (registry_blob_stat(app->reg, a, req->name, req->ref, &bd) == 0 ||
            proxy_blob_link(app->reg, a, req->name, req->ref, &bd) == 0) {
            proxy_unlock(&lock);
            proxy_touch(app->reg, a, req->name, 'b', req->ref, touch_age(u));
            return 0;
        }
    }
    /* HEAD first: existence, size, and working credentials for the GET */
    if (up_call(a, u, "HEAD", path, scope, NULL, 0, &r) != 0) {
        proxy_unlock(&lock);
        upstream_failed(req, res, u, "unreachable");
        return 1;
    }
    if (r.status == 404) {
        proxy_unlock(&lock);
        return 0; /* BLOB_UNKNOWN from the normal path */
    }
    if (r.status != 200) {
        proxy_unlock(&lock);
        upstream_failed(req, res, u, arena_printf(a, "HEAD answered %ld", r.status));
        return 1;
    }
    if (is_head) {
        response_header(res, a, "Docker-Content-Digest", req->ref);
        response_headerf(res, a, "Etag", "\"%s\"", req->ref);
        response_header(res, a, "Content-Type", "application/octet-stream");
        res->status = 200;
        res->content_length = r.length;
        return 1;
    }
    struct blob_stream *s = calloc(1, sizeof(*s));
    if (!s) abort();
    s->a = arena_new();
    s->app = app;
    s->u = u;
    s->repo = arena_strdup(s->a, req->name);
    s->digest = arena_strdup(s->a, req->ref);
    s->lock = lock; /* the stream owns it now */
    s->length = r.length;
    s->ops.version = 1;
    s->ops.name = "proxy-stream";
    s->ops.read = stream_read;
    s->ops.reader_close = stream_close;
    s->base.ops = &s->ops;
    arena_cleanup(a, stream_cleanup, s); /* frees s */
    s->store = malloc(STORE_CHUNK);
    s->m = curl_multi_init();
    s->c = curl_easy_init();
    if (!s->store || !s->m || !s->c) {
        give_up(s, "out of memory");
        error_storage(req, res, WERR_NOMEM);
        return 1;
    }
    int rc = registry_upload_start(app->reg, s->a, s->repo, &s->up);
    if (rc) {
        s->up = NULL;
        give_up(s, werr_str(rc));
        error_storage(req, res, rc);
        return 1;
    }
    easy_common(s->c, u);
    auth_for_stream(s->c, s->a, u, scope, &s->h);
    curl_easy_setopt(s->c, CURLOPT_URL, arena_printf(s->a, "%s%s", u->remoteurl, path));
    curl_easy_setopt(s->c, CURLOPT_HTTPHEADER, s->h);
    curl_easy_setopt(s->c, CURLOPT_WRITEFUNCTION, stream_body);
    curl_easy_setopt(s->c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->c, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(s->c, CURLOPT_FAILONERROR, 1L);
    curl_multi_add_handle(s->m, s->c);
    /* the first bytes (or the end): the status is known */
    pump(s);
    long status = 0;
    curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &status);
    if ((s->done && s->result != CURLE_OK && s->pend_len == 0) || status != 200) {
        give_up(s, s->result != CURLE_OK && *s->errbuf ? s->errbuf : "GET failed");
        upstream_failed(req, res, u, arena_printf(a, "GET answered %ld", status));
        return 1;
    }
    curl_off_t cl = -1;
    curl_easy_getinfo(s->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (cl >= 0) s->length = (int64_t)cl;
    if (s->done || s->length < 0 || request_header(req, "Range")) {
        /* small enough to have arrived already, of unknown length (a short
         * stream could not be told from a whole one), or asked for a range
         * (a resumed download: the range is served from the stored, verified
         * blob, 206): store it all, then serve */
        for (;;) {
            if (pump(s) != 0 && s->pend_off == s->pend_len) break;
            size_t avail = s->pend_len - s->pend_off;
            if (!avail) break;
            if (store_add(s, s->pend + s->pend_off, avail) != 0) break;
            s->pend_off += avail;
        }
        if (finish(s) != 0) {
            upstream_failed(req, res, u, "the transfer failed or the content did not match");
            return 1;
        }
        return 0; /* served from storage by the normal path */
    }
    response_header(res, a, "Docker-Content-Digest", s->digest);
    response_headerf(res, a, "Etag", "\"%s\"", s->digest);
    response_header(res, a, "Content-Type", "application/octet-stream");
    res->status = 200;
    res->content_length = s->length;
    res->body_kind = BODY_READER;
    res->reader = &s->base;
    return 1;
}

int proxy_refuses_write(struct app *app, const char *name)
{
    struct arena *a = arena_new();
    const char *remote;
    int r = name && proxy_upstream_for(app->cfg, a, name, &remote) != NULL;
    arena_free(a);
    return r;
}
