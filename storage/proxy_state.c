/* proxy_state.c — see proxy_state.h */
#include "proxy_state.h"

#include "../lib/err.h"
#include "../lib/log.h"
#include "catalog.h"
#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCESS_ROOT "/wharf/proxy/access"
#define LOCK_ROOT "/wharf/proxy/locks"

const struct config_upstream *proxy_upstream_for(const struct config *cfg, struct arena *a,
                                                 const char *name, const char **remote)
{
    const struct config_upstream *best = NULL;
    size_t bestlen = 0;
    for (size_t i = 0; cfg && i < cfg->nupstreams; i++) {
        const struct config_upstream *u = &cfg->upstreams[i];
        size_t pl = strlen(u->prefix);
        if (pl && (strncmp(name, u->prefix, pl) != 0 || (name[pl] && name[pl] != '/'))) continue;
        if (!best || pl > bestlen) {
            best = u;
            bestlen = pl;
        }
    }
    if (best && remote) {
        const char *rest = name + bestlen;
        if (*rest == '/') rest++;
        const char *rp = best->remoteprefix ? best->remoteprefix : "";
        *remote = arena_printf(a, "%s%s%s", rp, *rp && *rest ? "/" : "", rest);
        if (!**remote) best = NULL; /* nothing to ask for */
    }
    return best;
}

static char *link_text(struct registry *r, struct arena *a, const char *path)
{
    char *data;
    size_t len;
    if (storage_get(r->d, a, path, 256, &data, &len) != 0) return NULL;
    while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
        data[--len] = 0;
    return digest_parse(data, NULL, NULL) == 0 ? data : NULL;
}

int proxy_manifest_has(struct registry *r, struct arena *a, const char *repo, const char *digest)
{
    char *l = link_text(r, a, path_revision_link(a, repo, digest));
    if (!l || strcmp(l, digest)) return WERR_NOTFOUND;
    struct storage_stat st;
    return storage_stat(r->d, path_blob_data(a, digest), &st) == 0 ? 0 : WERR_NOTFOUND;
}

int proxy_tag_current(struct registry *r, struct arena *a, const char *repo, const char *tag,
                      char **digest)
{
    char *l = link_text(r, a, path_tag_current(a, repo, tag));
    if (!l) return WERR_NOTFOUND;
    *digest = l;
    return 0;
}

int proxy_manifest_store(struct registry *r, struct arena *a, const char *repo, const char *tag,
                         const char *body, size_t len, const char *digest)
{
    char *data = path_blob_data(a, digest);
    struct storage_stat st;
    int rc;
    if (body && (storage_stat(r->d, data, &st) != 0 || st.size != (int64_t)len))
        if ((rc = storage_put(r->d, data, body, len)) != 0) return rc;
    if ((rc = storage_put(r->d, path_revision_link(a, repo, digest), digest, strlen(digest))) != 0)
        return rc;
    if (tag) {
        if ((rc = storage_put(r->d, path_tag_index_link(a, repo, tag, digest), digest,
                              strlen(digest))) != 0)
            return rc;
        if ((rc = storage_put(r->d, path_tag_current(a, repo, tag), digest, strlen(digest))) != 0)
            return rc;
    }
    /* the repository index (storage/catalog.h), after the links */
    if (catalog_index_enabled(r)) return catalog_pushed(r, a, repo, tag, digest);
    return 0;
}

int proxy_blob_link(struct registry *r, struct arena *a, const char *repo, const char *digest,
                    struct blob_desc *out)
{
    struct storage_stat st;
    int rc = storage_stat(r->d, path_blob_data(a, digest), &st);
    if (rc) return rc;
    if (st.is_dir) return WERR_NOTFOUND;
    if ((rc = storage_put(r->d, path_layer_link(a, repo, digest), digest, strlen(digest))) != 0)
        return rc;
    if (out) {
        snprintf(out->digest, sizeof out->digest, "%s", digest);
        out->size = st.size;
    }
    return 0;
}

/* "sha256:<hex>" -> "sha256-<hex>" (digests hold only [a-z0-9:+._-]) */
static char *flat_digest(struct arena *a, const char *digest)
{
    char *s = arena_strdup(a, digest);
    char *c = strchr(s, ':');
    if (c) *c = '-';
    return s;
}

int proxy_lock(struct registry *r, struct arena *a, const char *digest, int wait_s,
               struct proxy_lock *lk)
{
    char *path = arena_printf(a, LOCK_ROOT "/%s.lock", flat_digest(a, digest));
    int rc = storage_lock(r->d, a, path, PROXY_LOCK_TTL_S, (long)wait_s * 1000, &lk->lk);
    if (rc && rc != WERR_BUSY)
        log_warn("proxy: cannot take the fetch lock %s: %s", path, werr_str(rc));
    return rc;
}

void proxy_lock_renew(struct proxy_lock *lk)
{
    if (lk->lk && storage_lock_renew(lk->lk) != 0)
        log_warn("proxy: the fetch lock's lease was lost: another worker may fetch too");
}

void proxy_unlock(struct proxy_lock *lk)
{
    storage_unlock(lk->lk);
    lk->lk = NULL;
}

static char *access_path(struct arena *a, const char *repo, char kind, const char *digest)
{
    return arena_printf(a, ACCESS_ROOT "/%s/@%c-%s", repo, kind, flat_digest(a, digest));
}

int proxy_touch(struct registry *r, struct arena *a, const char *repo, char kind,
                const char *digest, long min_age)
{
    char *p = access_path(a, repo, kind, digest);
    struct storage_stat st;
    if (storage_stat(r->d, p, &st) == 0 && time(NULL) - st.mtime < min_age) return 0;
    return storage_put(r->d, p, digest, strlen(digest));
}

struct expire_entry {
    char *repo, *digest, *path;
    char kind;
    int gone;   /* blob: unlinked from its repository by this run */
    int linked; /* blob: still linked in some repository */
    time_t mtime;
};
struct expire_walk {
    struct arena *a;
    struct expire_entry *v;
    size_t n, cap;
};

static int expire_cb(void *ctx, const char *path, const struct storage_stat *st)
{
    struct expire_walk *w = ctx;
    if (st->is_dir) return 0;
    const char *base = strrchr(path, '/');
    size_t rootlen = strlen(ACCESS_ROOT);
    if (!base || base[1] != '@' || (size_t)(base - path) <= rootlen + 1) return 0;
    char kind = base[2];
    if ((kind != 'm' && kind != 'b') || base[3] != '-') return 0;
    char *dg = arena_strdup(w->a, base + 4);
    char *dash = strchr(dg, '-');
    if (!dash) return 0;
    *dash = ':';
    if (digest_parse(dg, NULL, NULL) != 0) return 0;
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 64;
        struct expire_entry *nv = arena_alloc(w->a, nc * sizeof(*nv));
        if (w->n) memcpy(nv, w->v, w->n * sizeof(*nv));
        w->v = nv;
        w->cap = nc;
    }
    struct expire_entry *e = &w->v[w->n++];
    memset(e, 0, sizeof(*e));
    e->repo = arena_strndup(w->a, path + rootlen + 1, (size_t)(base - path) - rootlen - 1);
    e->digest = dg;
    e->path = arena_strdup(w->a, path);
    e->kind = kind;
    e->mtime = st->mtime;
    return 0;
}

/* linked_cb: mark the unlinked blobs some repository still links
 * (<repo>/_layers/<alg>/<hex> directories, pushed or mirrored repositories) */
static int linked_cb(void *ctx, const char *path, const struct storage_stat *st)
{
    struct expire_walk *w = ctx;
    if (!st->is_dir) return 0;
    const char *base = strrchr(path, '/') + 1;
    if (!strcmp(base, "_manifests") || !strcmp(base, "_uploads")) return WALK_SKIP_DIR;
    const char *l = strstr(path, "/_layers/");
    if (!l) return 0;
    const char *alg = l + 9, *slash = strchr(alg, '/');
    if (!slash || strchr(slash + 1, '/')) return 0;
    size_t al = (size_t)(slash - alg);
    for (size_t i = 0; i < w->n; i++) {
        struct expire_entry *e = &w->v[i];
        if (e->gone && !e->linked && !strncmp(e->digest, alg, al) && e->digest[al] == ':' &&
            !strcmp(e->digest + al + 1, slash + 1))
            e->linked = 1;
    }
    return WALK_SKIP_DIR;
}

int proxy_expire(struct registry *r, time_t now, size_t *removed)
{
    struct arena *a = arena_new();
    struct expire_walk w = {.a = a};
    size_t ngone = 0;
    *removed = 0;
    int rc = storage_walk(r->d, ACCESS_ROOT, expire_cb, &w);
    if (rc == WERR_NOTFOUND) rc = 0;
    for (size_t i = 0; rc == 0 && i < w.n; i++) {
        struct expire_entry *e = &w.v[i];
        const struct config_upstream *u = proxy_upstream_for(r->cfg, a, e->repo, NULL);
        if (u && (u->ttl == 0 || now - e->mtime < u->ttl)) continue;
        int drc = 0;
        if (u && e->kind == 'm') {
            drc = registry_manifest_delete(r, a, e->repo, e->digest);
        } else if (u) {
            drc = registry_blob_unlink(r, a, e->repo, e->digest);
            if (drc == 0 || drc == WERR_NOTFOUND) {
                e->gone = 1;
                ngone++;
            }
        }
        if (drc && drc != WERR_NOTFOUND) {
            log_warn("proxy: expiring %s@%s: %s", e->repo, e->digest, werr_str(drc));
            continue;
        }
        if (u) {
            (*removed)++;
            log_info("proxy: expired %s %s@%s (not pulled for %lds)",
                     e->kind == 'm' ? "manifest" : "blob", e->repo, e->digest,
                     (long)(now - e->mtime));
        }
        int x = storage_delete(r->d, e->path);
        if (x && x != WERR_NOTFOUND) rc = x;
    }
    /* a blob's data goes only when no repository links it any more */
    if (rc == 0 && ngone) {
        int wrc = storage_walk(r->d, path_repos(a), linked_cb, &w);
        if (wrc && wrc != WERR_NOTFOUND) rc = wrc;
    }
    for (size_t i = 0; rc == 0 && i < w.n; i++) {
        struct expire_entry *e = &w.v[i];
        if (!e->gone || e->linked) continue;
        e->linked = 1; /* the same digest may be listed under several repositories */
        for (size_t j = i + 1; j < w.n; j++)
            if (w.v[j].gone && !strcmp(w.v[j].digest, e->digest)) w.v[j].linked = 1;
        int x = storage_delete(r->d, path_blob_dir(a, e->digest));
        if (x && x != WERR_NOTFOUND) rc = x;
    }
    arena_free(a);
    return rc;
}

int proxy_expire_enabled(const struct config *cfg)
{
    return proxy_expire_interval(cfg) > 0;
}

long proxy_expire_interval(const struct config *cfg)
{
    long min = 0;
    for (size_t i = 0; i < cfg->nupstreams; i++)
        if (cfg->upstreams[i].ttl > 0 && (!min || cfg->upstreams[i].ttl < min))
            min = cfg->upstreams[i].ttl;
    if (!min) return 0;
    min /= 4;
    return min < 1 ? 1 : min > 3600 ? 3600 : min;
}

int proxy_expire_run(const struct config *cfg, struct storage_driver *d)
{
    struct registry reg = {.d = d, .cfg = cfg};
    size_t n = 0;
    int rc = proxy_expire(&reg, time(NULL), &n);
    if (rc) {
        log_error("proxy ttl expiry: %s", werr_str(rc));
        return 1;
    }
    if (n) log_info("proxy ttl expiry: %zu item%s removed", n, n == 1 ? "" : "s");
    return 0;
}
