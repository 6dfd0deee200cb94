/* bdcache.c — the Redis blob-descriptor cache, see bdcache.h.
 *
 * Keys: "wharf::blobs::<digest>" a hash {size, gen}; "wharf::blobs::gen" the
 * generation a bulk deletion bumps. A lookup pipelines HMGET and GET in one
 * round trip; an entry counts only when its gen equals the current one. */
#include "bdcache.h"

#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/metrics.h"

#include <hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define BD_POOL_MAX 16
#define BD_KEY "wharf::blobs::"
#define BD_GEN "wharf::blobs::gen"
#define BD_BACKOFF_MS 1000
#define BD_DIGEST_MAX 160

struct bd_conn {
    redisContext *ctx;
    time_t idle_since;
};

struct bdcache {
    char *host, *unix_path, *password;
    int port, db;
    long dial_ms, read_ms, idle_s;
    int maxidle;
    pthread_mutex_t mu; /* guards pool, down_until */
    struct bd_conn pool[BD_POOL_MAX];
    int npool;
    struct timeval down_until;
};

static long now_ms_since(const struct timeval *t)
{
    struct timeval n;
    gettimeofday(&n, NULL);
    return (n.tv_sec - t->tv_sec) * 1000L + (n.tv_usec - t->tv_usec) / 1000L;
}

int bdcache_redis_new(const struct config *cfg, struct bdcache **out, char *err, size_t errlen)
{
    if (!cfg->redis_addr || !*cfg->redis_addr) {
        snprintf(err, errlen, "redis.addr: required by storage.cache.blobdescriptor: redis");
        return WERR_INVALID;
    }
    struct bdcache *c = calloc(1, sizeof *c);
    if (!c) return WERR_NOMEM;
    const char *a = cfg->redis_addr;
    if (a[0] == '/' || !strncmp(a, "unix:", 5)) {
        c->unix_path = strdup(a[0] == '/' ? a : a + 5);
    } else {
        const char *colon = strrchr(a, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : 6379;
        if ((colon && (!end || *end || port <= 0 || port > 65535)) || colon == a) {
            snprintf(err, errlen, "redis.addr: expected host:port or a unix socket path");
            free(c);
            return WERR_INVALID;
        }
        c->host = colon ? strndup(a, (size_t)(colon - a)) : strdup(a);
        c->port = (int)port;
    }
    c->password = cfg->redis_password && *cfg->redis_password ? strdup(cfg->redis_password) : NULL;
    c->db = cfg->redis_db;
    /* short defaults: a cache that is slow to answer is worse than none */
    c->dial_ms = cfg->redis_dialtimeout > 0 ? cfg->redis_dialtimeout : 500;
    c->read_ms = cfg->redis_readtimeout > 0 ? cfg->redis_readtimeout : 500;
    if (cfg->redis_writetimeout > c->read_ms) c->read_ms = cfg->redis_writetimeout;
    c->idle_s = cfg->redis_idletimeout > 0 ? cfg->redis_idletimeout : 300;
    c->maxidle = cfg->redis_maxidle > 0 ? cfg->redis_maxidle : 1;
    if (c->maxidle > BD_POOL_MAX) c->maxidle = BD_POOL_MAX;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

void bdcache_free(struct bdcache *c)
{
    if (!c) return;
    for (int i = 0; i < c->npool; i++)
        redisFree(c->pool[i].ctx);
    pthread_mutex_destroy(&c->mu);
    free(c->host);
    free(c->unix_path);
    if (c->password) {
        memset(c->password, 0, strlen(c->password));
        free(c->password);
    }
    free(c);
}

static void mark_down(struct bdcache *c, const char *why)
{
    pthread_mutex_lock(&c->mu);
    struct timeval n;
    gettimeofday(&n, NULL);
    int was_up = now_ms_since(&c->down_until) >= 0;
    n.tv_sec += BD_BACKOFF_MS / 1000;
    c->down_until = n;
    pthread_mutex_unlock(&c->mu);
    if (was_up) log_warn("redis: %s: blob descriptors read from storage for now", why);
}

static int ok_reply(redisReply *r)
{
    return r && r->type != REDIS_REPLY_ERROR;
}

/* a connection: from the pool, or a new one (NULL while Redis is down) */
static redisContext *conn_get(struct bdcache *c)
{
    redisContext *ctx = NULL;
    pthread_mutex_lock(&c->mu);
    if (now_ms_since(&c->down_until) < 0) {
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    time_t now = time(NULL);
    while (c->npool) {
        struct bd_conn bc = c->pool[--c->npool];
        if (now - bc.idle_since <= c->idle_s) {
            ctx = bc.ctx;
            break;
        }
        redisFree(bc.ctx);
    }
    pthread_mutex_unlock(&c->mu);
    if (ctx) return ctx;
    struct timeval tv = {c->dial_ms / 1000, (c->dial_ms % 1000) * 1000};
    ctx = c->unix_path ? redisConnectUnixWithTimeout(c->unix_path, tv)
                       : redisConnectWithTimeout(c->host, c->port, tv);
    if (!ctx || ctx->err) {
        mark_down(c, ctx ? ctx->errstr : "cannot connect");
        if (ctx) redisFree(ctx);
        return NULL;
    }
    struct timeval rt = {c->read_ms / 1000, (c->read_ms % 1000) * 1000};
    redisSetTimeout(ctx, rt);
    redisReply *r;
    if (c->password) {
        r = redisCommand(ctx, "AUTH %s", c->password);
        int good = ok_reply(r);
        if (r) freeReplyObject(r);
        if (!good) {
            mark_down(c, "AUTH refused");
            redisFree(ctx);
            return NULL;
        }
    }
    if (c->db) {
        r = redisCommand(ctx, "SELECT %d", c->db);
        int good = ok_reply(r);
        if (r) freeReplyObject(r);
        if (!good) {
            mark_down(c, "SELECT refused");
            redisFree(ctx);
            return NULL;
        }
    }
    return ctx;
}

/* conn_put: back to the pool when it is healthy, else dropped */
static void conn_put(struct bdcache *c, redisContext *ctx, int healthy)
{
    if (!ctx) return;
    if (!healthy || ctx->err) {
        mark_down(c, ctx->err ? ctx->errstr : "bad reply");
        redisFree(ctx);
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (c->npool < c->maxidle) {
        c->pool[c->npool++] = (struct bd_conn){ctx, time(NULL)};
        ctx = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (ctx) redisFree(ctx);
}

static int digest_ok(const char *d)
{
    size_t l = strlen(d);
    if (!l || l >= BD_DIGEST_MAX) return 0;
    for (size_t i = 0; i < l; i++)
        if (d[i] <= ' ' || d[i] > '~') return 0;
    return 1;
}

int bdcache_get(struct bdcache *c, const char *digest, int64_t *size)
{
    if (!c || !digest_ok(digest)) return WERR_NOTFOUND;
    redisContext *ctx = conn_get(c);
    if (!ctx) {
        metrics_cache(METRICS_CACHE_MISS); /* the reference counts an error as a miss */
        return WERR_IO;
    }
    redisReply *h = NULL, *g = NULL;
    int healthy = redisAppendCommand(ctx, "HMGET " BD_KEY "%s size gen", digest) == REDIS_OK &&
                  redisAppendCommand(ctx, "GET " BD_GEN) == REDIS_OK &&
                  redisGetReply(ctx, (void **)&h) == REDIS_OK &&
                  redisGetReply(ctx, (void **)&g) == REDIS_OK && ok_reply(h) && ok_reply(g);
    int rc = WERR_NOTFOUND;
    if (healthy && h->type == REDIS_REPLY_ARRAY && h->elements == 2 &&
        h->element[0]->type == REDIS_REPLY_STRING && h->element[1]->type == REDIS_REPLY_STRING) {
        const char *cur = g->type == REDIS_REPLY_STRING ? g->str : "0";
        char *end = NULL;
        long long v = strtoll(h->element[0]->str, &end, 10);
        if (end && !*end && v >= 0 && !strcmp(h->element[1]->str, cur)) {
            *size = v;
            rc = 0;
        }
    }
    if (h) freeReplyObject(h);
    if (g) freeReplyObject(g);
    conn_put(c, ctx, healthy);
    metrics_cache(healthy && rc == 0 ? METRICS_CACHE_HIT : METRICS_CACHE_MISS);
    return healthy ? rc : WERR_IO;
}

void bdcache_put(struct bdcache *c, const char *digest, int64_t size)
{
    if (!c || !digest_ok(digest)) return;
    redisContext *ctx = conn_get(c);
    if (!ctx) return;
    /* the generation read and the entry written in one script: a bulk
     * deletion in between cannot leave a stale entry under the new gen */
    char sz[32];
    snprintf(sz, sizeof sz, "%lld", (long long)size);
    redisReply *r = redisCommand(ctx, "EVAL %s 2 " BD_KEY "%s " BD_GEN " %s",
                                 "local g = redis.call('GET', KEYS[2]) or '0' "
                                 "redis.call('HSET', KEYS[1], 'size', ARGV[1], 'gen', g) return 1",
                                 digest, sz);
    int healthy = ok_reply(r);
    if (r) freeReplyObject(r);
    conn_put(c, ctx, healthy);
}

void bdcache_forget(struct bdcache *c, const char *digest)
{
    if (!c || !digest_ok(digest)) return;
    redisContext *ctx = conn_get(c);
    if (!ctx) {
        log_warn("redis: cannot forget %s (down): it will be rechecked", digest);
        return;
    }
    redisReply *r = redisCommand(ctx, "DEL " BD_KEY "%s", digest);
    int healthy = ok_reply(r);
    if (r) freeReplyObject(r);
    conn_put(c, ctx, healthy);
}

static void bump_generation(struct bdcache *c)
{
    redisContext *ctx = conn_get(c);
    if (!ctx) return;
    redisReply *r = redisCommand(ctx, "INCR " BD_GEN);
    int healthy = ok_reply(r);
    if (r) freeReplyObject(r);
    conn_put(c, ctx, healthy);
}

/* ---------------------------------------------------------------- the wrapping driver */

#define BLOBS_DIR "/docker/registry/v2/blobs"

/* A wrapper (driver.h's delegate rule): its table has only the ops whose
 * effect on blob data the cache must follow; every other op, and every
 * reader, writer and lock, is the inner driver's own. */
struct bd_driver {
    struct storage_driver base; /* base.inner: the wrapped driver */
    struct bdcache *c;
};

/* what deleting or replacing path means for the cache: forget one digest
 * (returned in dg), or every entry (1), or nothing (0) */
static int affected(const char *path, char dg[BD_DIGEST_MAX])
{
    size_t bl = strlen(BLOBS_DIR);
    /* above the blob store: everything below goes */
    if (strncmp(path, BLOBS_DIR, bl) != 0) {
        size_t pl = strlen(path);
        return pl < bl && !strncmp(BLOBS_DIR, path, pl) && (BLOBS_DIR[pl] == '/' || pl == 1);
    }
    const char *p = path + bl;
    if (!*p) return 1;
    if (*p++ != '/') return 0;
    /* <alg>/<xx>/<hex>[/data] */
    const char *alg = p, *s1 = strchr(alg, '/');
    if (!s1) return 1;
    const char *s2 = strchr(s1 + 1, '/');
    if (!s2) return 1;
    const char *hex = s2 + 1, *e = strchr(hex, '/');
    size_t hl = e ? (size_t)(e - hex) : strlen(hex);
    if (e && strcmp(e, "/data") != 0) return 0; /* another file beside the data */
    if ((size_t)(s1 - alg) + hl + 2 > BD_DIGEST_MAX) return 1;
    snprintf(dg, BD_DIGEST_MAX, "%.*s:%.*s", (int)(s1 - alg), alg, (int)hl, hex);
    return 2;
}

static void invalidate(struct bd_driver *d, const char *path)
{
    char dg[BD_DIGEST_MAX];
    int k = affected(path, dg);
    if (k == 2)
        bdcache_forget(d->c, dg);
    else if (k == 1)
        bump_generation(d->c);
}

/* the wrapper's own state only: the core frees the inner driver after it */
static void bd_free(struct storage_driver *base)
{
    free(base);
}

static int bd_put_content(struct storage_driver *b, const char *path, const void *data, size_t len)
{
    struct bd_driver *d = (struct bd_driver *)b;
    int rc = storage_put(b->inner, path, data, len);
    invalidate(d, path);
    return rc;
}

static int bd_writer(struct storage_driver *b, struct arena *a, const char *path, int append,
                     struct storage_writer **w)
{
    invalidate((struct bd_driver *)b, path);
    return storage_writer_open(b->inner, a, path, append, w);
}

static int bd_move(struct storage_driver *b, const char *src, const char *dst)
{
    struct bd_driver *d = (struct bd_driver *)b;
    invalidate(d, src);
    int rc = storage_move(b->inner, src, dst);
    invalidate(d, dst);
    return rc;
}

static int bd_delete(struct storage_driver *b, const char *path)
{
    struct bd_driver *d = (struct bd_driver *)b;
    /* forgotten after (a lookup in between re-caches the data still there)
     * and before (in case the delete fails half-way) */
    invalidate(d, path);
    int rc = storage_delete(b->inner, path);
    invalidate(d, path);
    return rc;
}

/* append_file is upload data only (never a blob's): nothing cached to
 * invalidate, so it is delegated with the rest */
static const struct storage_driver_ops bd_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "bdcache",
    .free = bd_free,
    .put_content = bd_put_content,
    .writer = bd_writer,
    .move = bd_move,
    .delete = bd_delete,
};

int bdcache_wrap(struct storage_driver *inner, struct bdcache *c, struct storage_driver **out)
{
    struct bd_driver *d = calloc(1, sizeof *d);
    if (!d) return WERR_NOMEM;
    storage_driver_init(&d->base, &bd_ops, inner);
    d->c = c;
    *out = &d->base;
    return 0;
}
