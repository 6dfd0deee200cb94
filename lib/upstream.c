/* upstream.c — see upstream.h.
 *
 * A request goes out with what worked last for that upstream and scope (a
 * cached Bearer token, or Basic); a 401 is answered once: Basic with the
 * configured credentials, or the Docker token flow, the token cached until
 * expires_in runs out. The cache is a small table in the client: workers
 * serve one request at a time. */
#include "upstream.h"

#include "err.h"
#include "log.h"
#include "curl_lazy.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HEADER_MAX 8192             /* one upstream header value kept */
#define TOKEN_BODY_MAX (256 * 1024) /* a token endpoint's answer */
#define PENDING_MAX (64u << 20)     /* bytes received and not yet consumed */
#define CONNECT_TIMEOUT_S 10
#define LOW_SPEED_TIME_S 30 /* a transfer below 1 KiB/s for this long fails */
#define TOKEN_SLOTS 32
#define BASIC_SLOTS 16

/* ---------------------------------------------------------------- the cache */

struct token_slot {
    const struct config_upstream *u;
    char *scope, *token;
    time_t expires;
};

struct upstream_client {
    struct token_slot tokens[TOKEN_SLOTS];
    /* the upstreams that answered with a Basic challenge */
    const struct config_upstream *basic_ups[BASIC_SLOTS];
};

int upstream_client_new(struct upstream_client **out, char *err, size_t errlen)
{
    if (curl_lazy_load(err, errlen) != 0) return WERR_INVALID;
    struct upstream_client *c = calloc(1, sizeof(*c));
    if (!c) return WERR_NOMEM;
    *out = c;
    return 0;
}

static void token_slot_clear(struct token_slot *t)
{
    free(t->scope);
    free(t->token);
    memset(t, 0, sizeof(*t));
}

void upstream_client_free(struct upstream_client *c)
{
    if (!c) return;
    for (size_t i = 0; i < TOKEN_SLOTS; i++)
        token_slot_clear(&c->tokens[i]);
    free(c);
}

static const char *token_get(struct upstream_client *c, const struct config_upstream *u,
                             const char *scope)
{
    time_t now = time(NULL);
    for (size_t i = 0; i < TOKEN_SLOTS; i++) {
        struct token_slot *t = &c->tokens[i];
        if (!t->token || t->u != u || strcmp(t->scope, scope)) continue;
        if (now >= t->expires) {
            token_slot_clear(t);
            return NULL;
        }
        return t->token;
    }
    return NULL;
}

static void token_put(struct upstream_client *c, const struct config_upstream *u, const char *scope,
                      const char *tok, long ttl)
{
    struct token_slot *tokens = c->tokens;
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

static int uses_basic(struct upstream_client *c, const struct config_upstream *u)
{
    for (size_t i = 0; i < BASIC_SLOTS; i++)
        if (c->basic_ups[i] == u) return 1;
    return 0;
}

static void set_basic(struct upstream_client *c, const struct config_upstream *u)
{
    for (size_t i = 0; i < BASIC_SLOTS; i++)
        if (!c->basic_ups[i] || c->basic_ups[i] == u) {
            c->basic_ups[i] = u;
            return;
        }
}

/* ---------------------------------------------------------------- requests */

struct resp_ctx {
    struct upstream_resp *r;
    struct arena *a;
};

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    struct resp_ctx *x = ctx;
    struct upstream_resp *r = x->r;
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
    char *val = arena_strndup(x->a, v, vl);
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
    struct resp_ctx *x = ctx;
    if (!x->r->body) return size * n;
    return buf_append(x->r->body, p, size * n) == 0 ? size * n : 0;
}

static void easy_common(CURL *c)
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
static struct curl_slist *headers_for(struct upstream_client *uc, struct arena *a,
                                      const struct config_upstream *u, const char *scope,
                                      const char *accept)
{
    struct curl_slist *h = NULL;
    if (accept) h = curl_slist_append(h, arena_printf(a, "Accept: %s", accept));
    const char *tok = token_get(uc, u, scope);
    if (tok) h = curl_slist_append(h, arena_printf(a, "Authorization: Bearer %s", tok));
    return h;
}

/* easy_capture: the common options, and the response's headers and body
 * into x (on_header / on_body), for url within timeout_s seconds */
static void easy_capture(CURL *c, const char *url, struct resp_ctx *x, char *errbuf, long timeout_s)
{
    easy_common(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
}

/* one request; body kept up to bodymax (0: discarded) */
static int up_once(struct upstream_client *uc, struct arena *a, const struct config_upstream *u,
                   const char *method, const char *url, const char *scope, const char *accept,
                   size_t bodymax, struct upstream_resp *r)
{
    CURL *c = curl_easy_init();
    if (!c) return WERR_NOMEM;
    arena_cleanup(a, easy_free, c);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct resp_ctx x = {r, a};
    memset(r, 0, sizeof(*r));
    r->length = -1;
    if (bodymax) r->body = buf_arena_new(a, bodymax);
    easy_capture(c, url, &x, errbuf, 300L);
    struct curl_slist *h = headers_for(uc, a, u, scope, accept);
    if (h) arena_cleanup(a, slist_free, h);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (u->username && uses_basic(uc, u) && !token_get(uc, u, scope)) {
        curl_easy_setopt(c, CURLOPT_USERNAME, u->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, u->password);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        log_warn("proxy: %s %s: %s", method, url, *errbuf ? errbuf : curl_easy_strerror(cc));
        return WERR_IO;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    return 0;
}

const char *upstream_challenge_param(struct arena *a, const char *www, const char *key)
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
static int fetch_token(struct upstream_client *uc, struct arena *a, const struct config_upstream *u,
                       const char *www, const char *scope)
{
    const char *realm = upstream_challenge_param(a, www, "realm");
    const char *service = upstream_challenge_param(a, www, "service");
    const char *cscope = upstream_challenge_param(a, www, "scope");
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
    char errbuf[CURL_ERROR_SIZE] = "";
    struct upstream_resp r;
    memset(&r, 0, sizeof r);
    r.length = -1;
    r.body = buf_arena_new(a, TOKEN_BODY_MAX);
    struct resp_ctx x = {&r, a};
    easy_capture(c, url, &x, errbuf, 60L);
    if (u->username) {
        curl_easy_setopt(c, CURLOPT_USERNAME, u->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, u->password);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        log_warn("proxy: token endpoint %s: %s", realm, *errbuf ? errbuf : curl_easy_strerror(cc));
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
        token_put(uc, u, scope, json_object_get_string(t), ttl);
        rc = 0;
    }
    json_object_put(j);
    return rc;
}

/* answer_challenge: after a 401: 0 when a retry may succeed */
static int answer_challenge(struct upstream_client *uc, struct arena *a,
                            const struct config_upstream *u, const char *www, const char *scope)
{
    if (!www) return WERR_DENIED;
    if (!strncasecmp(www, "Bearer", 6)) return fetch_token(uc, a, u, www, scope);
    if (!strncasecmp(www, "Basic", 5) && u->username && !uses_basic(uc, u)) {
        set_basic(uc, u);
        return 0;
    }
    return WERR_DENIED;
}

int upstream_call(struct upstream_client *c, struct arena *a, const struct config_upstream *u,
                  const char *method, const char *path, const char *scope, const char *accept,
                  size_t bodymax, struct upstream_resp *r)
{
    const char *url = arena_printf(a, "%s%s", u->remoteurl, path);
    int rc = up_once(c, a, u, method, url, scope, accept, bodymax, r);
    if (rc || r->status != 401) return rc;
    if (answer_challenge(c, a, u, r->www, scope) != 0) return 0; /* the 401 stands */
    return up_once(c, a, u, method, url, scope, accept, bodymax, r);
}

/* ---------------------------------------------------------------- streamed GET */

struct upstream_get {
    CURLM *m;
    CURL *c;
    struct curl_slist *h;
    char errbuf[CURL_ERROR_SIZE];
    char *pend; /* received, not yet consumed */
    size_t pend_len, pend_off, pend_cap;
    int done; /* the transfer ended (see result) */
    CURLcode result;
};

static size_t get_body(char *p, size_t size, size_t n, void *ctx)
{
    struct upstream_get *g = ctx;
    size_t len = size * n;
    if (g->pend_off == g->pend_len) g->pend_off = g->pend_len = 0;
    if (g->pend_len + len > g->pend_cap) {
        size_t nc = g->pend_cap ? g->pend_cap : 256 * 1024;
        while (nc < g->pend_len + len)
            nc *= 2;
        if (nc > PENDING_MAX) return 0;
        char *np = realloc(g->pend, nc);
        if (!np) return 0;
        g->pend = np;
        g->pend_cap = nc;
    }
    memcpy(g->pend + g->pend_len, p, len);
    g->pend_len += len;
    return len;
}

int upstream_get_start(struct upstream_client *uc, const struct config_upstream *u,
                       const char *path, const char *scope, struct upstream_get **out)
{
    struct upstream_get *g = calloc(1, sizeof(*g));
    if (!g) return WERR_NOMEM;
    *out = g;
    g->m = curl_multi_init();
    g->c = curl_easy_init();
    if (!g->m || !g->c) return WERR_NOMEM;
    easy_common(g->c);
    /* the header strings are copied by curl_slist_append */
    struct arena *a = arena_new();
    const char *tok = token_get(uc, u, scope);
    if (tok) {
        g->h = curl_slist_append(g->h, arena_printf(a, "Authorization: Bearer %s", tok));
    } else if (u->username && uses_basic(uc, u)) {
        curl_easy_setopt(g->c, CURLOPT_USERNAME, u->username);
        curl_easy_setopt(g->c, CURLOPT_PASSWORD, u->password);
    }
    curl_easy_setopt(g->c, CURLOPT_URL, arena_printf(a, "%s%s", u->remoteurl, path));
    arena_free(a);
    curl_easy_setopt(g->c, CURLOPT_HTTPHEADER, g->h);
    curl_easy_setopt(g->c, CURLOPT_WRITEFUNCTION, get_body);
    curl_easy_setopt(g->c, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(g->c, CURLOPT_ERRORBUFFER, g->errbuf);
    curl_easy_setopt(g->c, CURLOPT_FAILONERROR, 1L);
    curl_multi_add_handle(g->m, g->c);
    upstream_get_pump(g);
    return 0;
}

int upstream_get_pump(struct upstream_get *g)
{
    while (!g->done && g->pend_off == g->pend_len) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(g->m, &running);
        if (mc != CURLM_OK) {
            g->done = 1;
            g->result = CURLE_RECV_ERROR;
            break;
        }
        if (!running) {
            int q;
            CURLMsg *msg;
            g->result = CURLE_RECV_ERROR;
            while ((msg = curl_multi_info_read(g->m, &q)) != NULL)
                if (msg->msg == CURLMSG_DONE) g->result = msg->data.result;
            g->done = 1;
            break;
        }
        if (g->pend_off != g->pend_len) break;
        curl_multi_poll(g->m, NULL, 0, 1000, NULL);
    }
    return g->done && g->result != CURLE_OK ? WERR_IO : 0;
}

size_t upstream_get_pending(struct upstream_get *g, const char **p)
{
    *p = g->pend + g->pend_off;
    return g->pend_len - g->pend_off;
}

void upstream_get_consume(struct upstream_get *g, size_t n)
{
    g->pend_off += n;
}

int upstream_get_ended(const struct upstream_get *g)
{
    return g->done;
}

const char *upstream_get_error(const struct upstream_get *g)
{
    if (g->result == CURLE_OK) return NULL;
    return *g->errbuf ? g->errbuf : curl_easy_strerror(g->result);
}

long upstream_get_status(const struct upstream_get *g)
{
    long status = 0;
    if (g->c) curl_easy_getinfo(g->c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

int64_t upstream_get_length(const struct upstream_get *g)
{
    curl_off_t cl = -1;
    if (g->c) curl_easy_getinfo(g->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    return cl >= 0 ? (int64_t)cl : -1;
}

void upstream_get_free(struct upstream_get *g)
{
    if (!g) return;
    if (g->m && g->c) curl_multi_remove_handle(g->m, g->c);
    if (g->c) curl_easy_cleanup(g->c);
    if (g->m) curl_multi_cleanup(g->m);
    curl_slist_free_all(g->h);
    free(g->pend);
    free(g);
}
