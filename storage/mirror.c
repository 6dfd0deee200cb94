/* mirror.c — see mirror.h.
 *
 * Blobs: the worker that takes the blob's fetch lock (proxy_lock: the
 * driver's storage_lock, so one worker of one node) fetches it; others wait
 * on the lock and then serve it from storage. The fetching worker streams the
 * upstream body to its client through a reader of its own that pulls from
 * the upstream transfer, and appends the same bytes to an upload. The last
 * bytes are handed to the client only after the upload committed under the
 * right digest: a bad digest or a broken transfer ends the response short of
 * its Content-Length (the client sees an error) and stores nothing. */
#include "mirror.h"

#include "../lib/digest.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/metrics.h"
#include "../lib/upstream.h"
#include "manifest.h"
#include "proxy_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_ACCEPT                                                                            \
    "application/vnd.oci.image.index.v1+json, "                                                    \
    "application/vnd.docker.distribution.manifest.list.v2+json, "                                  \
    "application/vnd.oci.image.manifest.v1+json, "                                                 \
    "application/vnd.docker.distribution.manifest.v2+json"
#define STORE_CHUNK (8u << 20) /* bytes appended to the upload at once */
#define LOCK_WAIT_S 600        /* a follower waits this long for the fetching worker */

struct mirror {
    struct upstream_client *uc;
};

int mirror_new(struct mirror **out, char *err, size_t errlen)
{
    struct mirror *m = calloc(1, sizeof(*m));
    if (!m) return WERR_NOMEM;
    int rc = upstream_client_new(&m->uc, err, errlen);
    if (rc) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void mirror_free(struct mirror *m)
{
    if (!m) return;
    upstream_client_free(m->uc);
    free(m);
}

static long touch_age(const struct config_upstream *u)
{
    if (u->ttl <= 0) return 3600;
    long a = u->ttl / 8;
    return a < 1 ? 1 : a > 3600 ? 3600 : a;
}

/* ---------------------------------------------------------------- manifests */

static int store_fetched(struct registry *r, struct arena *a, const char *repo, const char *tag,
                         struct upstream_resp *ur, const char *want)
{
    const char *body = ur->body && ur->body->data ? ur->body->data : "";
    size_t len = ur->body ? ur->body->len : 0;
    enum digest_alg alg = DIGEST_SHA256;
    if (want && digest_parse(want, &alg, NULL) != 0) return WERR_INVALID;
    char actual[DIGEST_MAX_STR];
    digest_of(alg, body, len, actual);
    if (want && strcmp(actual, want)) {
        log_warn("proxy: %s: upstream manifest does not match %s", repo, want);
        return WERR_DIGEST;
    }
    struct manifest_info mi;
    const char *detail = NULL;
    const char *ct = ur->ctype ? ur->ctype : manifest_media_type(a, body, len);
    int rc = manifest_parse(a, body, len, ct, &mi, &detail);
    if (rc && !(rc == WERR_UNSUPPORTED && mi.kind == MF_SCHEMA1)) {
        log_warn("proxy: %s: upstream manifest refused: %s", repo, detail ? detail : "");
        return rc;
    }
    rc = proxy_manifest_store(r, a, repo, tag, body, len, actual);
    if (!rc) metrics_proxy(METRICS_PROXY_MANIFEST, 0, len); /* a miss: fetched */
    return rc;
}

void mirror_manifest_sync(struct mirror *m, struct registry *r, struct arena *a, const char *repo,
                          const char *ref)
{
    const char *remote;
    const struct config_upstream *u = proxy_upstream_for(r->cfg, a, repo, &remote);
    if (!u) return;
    const char *scope = arena_printf(a, "repository:%s:pull", remote);
    size_t max = r->cfg->manifest_max;
    struct upstream_resp ur;
    memset(&ur, 0, sizeof ur);
    if (strchr(ref, ':')) {
        if (proxy_manifest_has(r, a, repo, ref) != 0) {
            /* by digest: the content never changes, so cached is final */
            if (upstream_call(m->uc, a, u, "GET",
                              arena_printf(a, "/v2/%s/manifests/%s", remote, ref), scope,
                              MANIFEST_ACCEPT, max, &ur) != 0 ||
                ur.status != 200)
                return;
            if (store_fetched(r, a, repo, NULL, &ur, ref) != 0) return;
        } else {
            metrics_proxy(METRICS_PROXY_MANIFEST, 1, 0);
        }
        proxy_touch(r, a, repo, 'm', ref, touch_age(u));
        return;
    }
    /* by tag: the upstream says which digest the tag names now */
    char *have = NULL;
    int fetched = 0;
    proxy_tag_current(r, a, repo, ref, &have);
    const char *path = arena_printf(a, "/v2/%s/manifests/%s", remote, ref);
    const char *now = NULL;
    if (upstream_call(m->uc, a, u, "HEAD", path, scope, MANIFEST_ACCEPT, 0, &ur) != 0)
        goto serve_cached;
    if (ur.status == 200 && ur.digest && digest_parse(ur.digest, NULL, NULL) == 0)
        now = ur.digest;
    else if (ur.status != 200 && ur.status != 405)
        goto serve_cached; /* 404, 401, 5xx...: serve what we have */
    if (now && have && !strcmp(now, have) && proxy_manifest_has(r, a, repo, have) == 0)
        goto serve_cached;
    if (now && proxy_manifest_has(r, a, repo, now) == 0) {
        /* fetched before by digest: only the tag moves */
        proxy_manifest_store(r, a, repo, ref, NULL, 0, now);
        have = (char *)now;
        goto serve_cached;
    }
    if (upstream_call(m->uc, a, u, "GET",
                      now ? arena_printf(a, "/v2/%s/manifests/%s", remote, now) : path, scope,
                      MANIFEST_ACCEPT, max, &ur) != 0 ||
        ur.status != 200)
        goto serve_cached;
    if (store_fetched(r, a, repo, ref, &ur, now) != 0) goto serve_cached;
    fetched = 1;
    proxy_tag_current(r, a, repo, ref, &have);
serve_cached:
    if (have && !fetched) metrics_proxy(METRICS_PROXY_MANIFEST, 1, 0); /* served from storage */
    if (have) proxy_touch(r, a, repo, 'm', have, touch_age(u));
}

/* ---------------------------------------------------------------- blobs */

struct blob_stream {
    struct registry *reg;
    const struct config_upstream *u;
    struct arena *a; /* own arena: the upload outlives none of the request's cleanups */
    const char *repo, *digest;
    struct upstream_get *g;
    struct upload *up;
    struct proxy_lock lock;
    int64_t length, got, delivered;
    char *store; /* handed to the client, not yet appended to the upload */
    size_t store_len;
    int finished; /* committed, or given up: nothing more to do */
    int failed;
};

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
    int rc = registry_upload_append(s->reg, s->a, s->up, memsrc_read, &m, -1);
    s->store_len = 0;
    return rc;
}

static int store_add(struct blob_stream *s, const char *p, size_t n)
{
    s->got += (int64_t)n;
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
    if (s->up) registry_upload_cancel(s->reg, s->a, s->up);
    s->finished = s->failed = 1;
    proxy_unlock(&s->lock);
}

static const char *transfer_error(struct blob_stream *s)
{
    const char *e = upstream_get_error(s->g);
    return e ? e : "transfer failed";
}

/* finish: everything received: check, commit under the digest, release the lock */
static int finish(struct blob_stream *s)
{
    const char *e = upstream_get_error(s->g);
    if (e || upstream_get_status(s->g) != 200 || (s->length >= 0 && s->got != s->length)) {
        give_up(s, e ? e : "short or failed transfer");
        return WERR_IO;
    }
    int rc = store_flush(s);
    struct blob_desc bd;
    if (!rc) rc = registry_upload_commit(s->reg, s->a, s->up, s->digest, &bd);
    if (rc) {
        if (rc != WERR_DIGEST) registry_upload_cancel(s->reg, s->a, s->up);
        s->up = NULL;
        give_up(s, rc == WERR_DIGEST ? "content does not match its digest" : werr_str(rc));
        return WERR_IO;
    }
    s->finished = 1;
    metrics_proxy(METRICS_PROXY_BLOB, 0, (uint64_t)s->got); /* a miss, now cached */
    proxy_unlock(&s->lock);
    proxy_touch(s->reg, s->a, s->repo, 'b', s->digest, touch_age(s->u));
    log_info("proxy: cached %s for %s (%lld bytes) from %s", s->digest, s->repo, (long long)s->got,
             s->u->remoteurl);
    return 0;
}

/* store_rest: take in the rest of the transfer without a client */
static void store_rest(struct blob_stream *s)
{
    for (;;) {
        const char *p;
        if (upstream_get_pump(s->g) != 0 && upstream_get_pending(s->g, &p) == 0) {
            give_up(s, transfer_error(s));
            return;
        }
        size_t avail = upstream_get_pending(s->g, &p);
        if (!avail) {
            finish(s);
            return;
        }
        if (store_add(s, p, avail) != 0) {
            give_up(s, "cannot write to storage");
            return;
        }
        upstream_get_consume(s->g, avail);
    }
}

static ssize_t stream_read(void *ctx, void *buf, size_t n)
{
    struct blob_stream *s = ctx;
    const char *p;
    if (s->failed) return WERR_IO;
    if (s->finished && upstream_get_pending(s->g, &p) == 0) return 0;
    if (upstream_get_pump(s->g) != 0 && upstream_get_pending(s->g, &p) == 0) {
        give_up(s, transfer_error(s));
        return WERR_IO;
    }
    size_t avail = upstream_get_pending(s->g, &p);
    if (avail == 0) { /* ended */
        if (!s->finished && finish(s) != 0) return WERR_IO;
        return 0;
    }
    size_t k = avail < n ? avail : n;
    if (store_add(s, p, k) != 0) {
        give_up(s, "cannot write to storage");
        return WERR_IO;
    }
    memcpy(buf, p, k); /* before a pump may reuse the buffer */
    upstream_get_consume(s->g, k);
    s->delivered += (int64_t)k;
    if (s->length >= 0 && s->delivered >= s->length) {
        /* the client's last bytes wait for the verdict on the whole blob */
        int extra = 0;
        while (!upstream_get_ended(s->g)) {
            size_t more = upstream_get_pending(s->g, &p);
            if (more) {
                extra = 1; /* more than announced: dropped, and the blob refused */
                upstream_get_consume(s->g, more);
            }
            upstream_get_pump(s->g);
        }
        if (extra || upstream_get_pending(s->g, &p)) s->got = -1;
        if (finish(s) != 0) return WERR_IO;
    }
    return (ssize_t)k;
}

/* stream_cleanup: the response is over. A client that went away leaves the
 * fetch to be finished here (others may be waiting for this blob). */
static void stream_cleanup(void *p)
{
    struct blob_stream *s = p;
    if (!s->finished) store_rest(s);
    proxy_unlock(&s->lock);
    upstream_get_free(s->g);
    free(s->store);
    arena_free(s->a);
    free(s);
}

static int upstream_failed(struct arena *a, struct blob_delivery *out,
                           const struct config_upstream *u, const char *what)
{
    out->detail = arena_printf(a, "%s: %s", u->remoteurl, what);
    return WERR_IO;
}

/* stored: the blob is in repo already, or its data is (fetched for another
 * repository) and is linked now */
static int stored(struct registry *r, struct arena *a, const char *repo, const char *digest)
{
    struct blob_desc bd;
    return registry_blob_stat(r, a, repo, digest, &bd) == 0 ||
           proxy_blob_link(r, a, repo, digest, &bd) == 0;
}

int mirror_blob(struct mirror *m, struct registry *r, struct arena *a, const char *repo,
                const char *digest, const struct blob_ask *q, struct blob_delivery *out)
{
    const char *remote;
    const struct config_upstream *u = proxy_upstream_for(r->cfg, a, repo, &remote);
    if (!u) return 0;
    if (stored(r, a, repo, digest)) {
        metrics_proxy(METRICS_PROXY_BLOB, 1, 0);
        proxy_touch(r, a, repo, 'b', digest, touch_age(u));
        return 0;
    }
    const char *scope = arena_printf(a, "repository:%s:pull", remote);
    const char *path = arena_printf(a, "/v2/%s/blobs/%s", remote, digest);
    struct upstream_resp ur;
    int is_head = !strcmp(q->method, "HEAD");
    struct proxy_lock lock = PROXY_LOCK_INIT;
    if (!is_head) {
        if (proxy_lock(r, a, digest, LOCK_WAIT_S, &lock) != 0)
            return upstream_failed(a, out, u, "timed out waiting for another fetch of this blob");
        /* another worker may have fetched it while this one waited */
        if (stored(r, a, repo, digest)) {
            metrics_proxy(METRICS_PROXY_BLOB, 1, 0);
            proxy_unlock(&lock);
            proxy_touch(r, a, repo, 'b', digest, touch_age(u));
            return 0;
        }
    }
    /* HEAD first: existence, size, and working credentials for the GET */
    if (upstream_call(m->uc, a, u, "HEAD", path, scope, NULL, 0, &ur) != 0) {
        proxy_unlock(&lock);
        return upstream_failed(a, out, u, "unreachable");
    }
    if (ur.status == 404) {
        proxy_unlock(&lock);
        return 0; /* unknown here too: BLOB_UNKNOWN from storage */
    }
    if (ur.status != 200) {
        proxy_unlock(&lock);
        return upstream_failed(a, out, u, arena_printf(a, "HEAD answered %ld", ur.status));
    }
    snprintf(out->bd.digest, sizeof out->bd.digest, "%s", digest);
    out->upstream = 1;
    out->status = 200;
    if (is_head) {
        metrics_proxy(METRICS_PROXY_BLOB, 0, 0); /* answered by the upstream */
        out->via = BLOB_VIA_NONE;
        out->bd.size = out->length = ur.length;
        return 1;
    }
    struct blob_stream *s = calloc(1, sizeof(*s));
    if (!s) abort();
    s->a = arena_new();
    s->reg = r;
    s->u = u;
    s->repo = arena_strdup(s->a, repo);
    s->digest = arena_strdup(s->a, digest);
    s->lock = lock; /* the stream owns it now */
    s->length = ur.length;
    arena_cleanup(a, stream_cleanup, s); /* frees s */
    s->store = malloc(STORE_CHUNK);
    if (!s->store) {
        give_up(s, "out of memory");
        return WERR_NOMEM;
    }
    int rc = registry_upload_start(r, s->a, s->repo, &s->up);
    if (rc) {
        s->up = NULL;
        give_up(s, werr_str(rc));
        return rc;
    }
    /* runs until the first bytes (or the end): the status is known */
    if ((rc = upstream_get_start(m->uc, u, path, scope, &s->g)) != 0) {
        give_up(s, werr_str(rc));
        return rc;
    }
    const char *p;
    long status = upstream_get_status(s->g);
    if ((upstream_get_ended(s->g) && upstream_get_error(s->g) &&
         upstream_get_pending(s->g, &p) == 0) ||
        status != 200) {
        give_up(s, upstream_get_error(s->g) ? upstream_get_error(s->g) : "GET failed");
        return upstream_failed(a, out, u, arena_printf(a, "GET answered %ld", status));
    }
    if (upstream_get_length(s->g) >= 0) s->length = upstream_get_length(s->g);
    if (upstream_get_ended(s->g) || s->length < 0 || q->range) {
        /* small enough to have arrived already, of unknown length (a short
         * stream could not be told from a whole one), or asked for a range
         * (a resumed download: the range is served from the stored, verified
         * blob, 206): store it all, then serve */
        for (;;) {
            if (upstream_get_pump(s->g) != 0 && upstream_get_pending(s->g, &p) == 0) break;
            size_t avail = upstream_get_pending(s->g, &p);
            if (!avail) break;
            if (store_add(s, p, avail) != 0) break;
            upstream_get_consume(s->g, avail);
        }
        if (finish(s) != 0)
            return upstream_failed(a, out, u, "the transfer failed or the content did not match");
        memset(out, 0, sizeof(*out));
        return 0; /* delivered from storage */
    }
    out->via = BLOB_VIA_STREAM;
    out->bd.size = out->length = s->length;
    out->read = stream_read;
    out->ctx = s;
    return 1;
}
