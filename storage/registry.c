#include "registry.h"
#include "bdcache.h"
#include "catalog.h"

#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/parallel.h"
#include "manifest.h"
#include "mirror.h"
#include "open.h"
#include "paths.h"
#include "proxy_state.h"

#include <openssl/rand.h>
#include <sys/random.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINK_MAX 256
#define UPLOAD_CHUNK (256 * 1024)

int registry_read_link(struct registry *r, struct arena *a, const char *path, char **digest)
{
    char *data;
    size_t len;
    int rc = storage_get(r->d, a, path, LINK_MAX, &data, &len);
    if (rc == WERR_TOOBIG) return WERR_INVALID;
    if (rc) return rc;
    while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
        data[--len] = 0;
    if (digest_parse(data, NULL, NULL) != 0) return WERR_INVALID;
    *digest = data;
    return 0;
}

static int write_link(struct registry *r, const char *path, const char *digest)
{
    return storage_put(r->d, path, digest, strlen(digest));
}

int registry_open(const struct config *cfg, struct registry **out, char *err, size_t errlen)
{
    struct registry *r = calloc(1, sizeof(*r));
    if (!r) return WERR_NOMEM;
    r->cfg = cfg;
    int rc;
    /* the pull-through cache talks to its upstreams with libcurl: loaded
     * before the driver, so that a missing library is the error reported */
    if (cfg->nupstreams > 0 && (rc = mirror_new(&r->mirror, err, errlen)) != 0) {
        free(r);
        return rc;
    }
    /* the configured driver, and the Redis blob-descriptor cache (issue 7) */
    if ((rc = storage_open(cfg, &r->d, &r->cache, err, errlen)) != 0) {
        mirror_free(r->mirror);
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void registry_close(struct registry *r)
{
    if (!r) return;
    mirror_free(r->mirror);
    storage_driver_free(r->d);
    bdcache_free(r->cache);
    free(r);
}

void registry_warm(struct registry *r)
{
    storage_warm(r->d);
}

int registry_repo_is_mirror(struct registry *r, const char *repo)
{
    if (!repo || !r->cfg) return 0;
    struct arena *a = arena_new();
    const char *remote;
    int yes = proxy_upstream_for(r->cfg, a, repo, &remote) != NULL;
    arena_free(a);
    return yes;
}

char *registry_blob_path(struct arena *a, const char *digest)
{
    return path_blob_data(a, digest);
}

static int blob_data_stat(struct registry *r, struct arena *a, const char *digest, int64_t *size)
{
    /* the shared cache first (issue 7): a miss or an outage reads storage */
    if (r->cache && bdcache_get(r->cache, digest, size) == 0) return 0;
    struct storage_stat st;
    int rc = storage_stat(r->d, path_blob_data(a, digest), &st);
    if (rc) return rc;
    if (st.is_dir) return WERR_NOTFOUND;
    *size = st.size;
    if (r->cache) bdcache_put(r->cache, digest, st.size);
    return 0;
}

/* blob_stat_linked: *linked set when repo links digest (0 when the link is
 * missing or names another digest: WERR_NOTFOUND, nothing else looked at) */
static int blob_stat_linked(struct registry *r, struct arena *a, const char *repo,
                            const char *digest, struct blob_desc *out, int *linked)
{
    char *ln;
    *linked = 0;
    int rc = registry_read_link(r, a, path_layer_link(a, repo, digest), &ln);
    if (rc == WERR_INVALID) rc = WERR_NOTFOUND;
    if (rc) return rc;
    if (strcmp(ln, digest) != 0) return WERR_NOTFOUND;
    *linked = 1;
    int64_t size;
    if ((rc = blob_data_stat(r, a, digest, &size)) != 0) return rc;
    if (out) {
        snprintf(out->digest, sizeof out->digest, "%s", digest);
        out->size = size;
    }
    return 0;
}

int registry_blob_stat(struct registry *r, struct arena *a, const char *repo, const char *digest,
                       struct blob_desc *out)
{
    int linked;
    return blob_stat_linked(r, a, repo, digest, out, &linked);
}

int registry_blob_stat_for_read(struct registry *r, struct arena *a, const char *repo,
                                const char *digest, struct blob_desc *out, int *quarantined)
{
    *quarantined = 0;
    int linked;
    int rc = blob_stat_linked(r, a, repo, digest, out, &linked);
    /* not linked here: the answer (a push's existence check reads one link) */
    if (rc != WERR_NOTFOUND || !linked) return rc;
    /* linked here, data renamed aside by an online GC (storage/gc.c steps 3-4) */
    struct storage_stat st;
    rc = storage_stat(r->d, path_blob_quarantine(a, digest), &st);
    if (rc == WERR_NOTFOUND) /* or put back meanwhile */
        return registry_blob_stat(r, a, repo, digest, out);
    if (rc) return rc;
    if (st.is_dir) return WERR_NOTFOUND;
    *quarantined = 1;
    if (out) {
        snprintf(out->digest, sizeof out->digest, "%s", digest);
        out->size = st.size;
    }
    return 0;
}

int registry_blob_open(struct registry *r, struct arena *a, const char *digest, int64_t offset,
                       struct storage_reader **rd)
{
    /* data, else its quarantined name (an online GC's steps 3-4), else data
     * again (the GC put it back between the two opens) */
    int rc = storage_reader_open(r->d, a, path_blob_data(a, digest), offset, rd);
    if (rc != WERR_NOTFOUND) return rc;
    rc = storage_reader_open(r->d, a, path_blob_quarantine(a, digest), offset, rd);
    if (rc != WERR_NOTFOUND) return rc;
    return storage_reader_open(r->d, a, path_blob_data(a, digest), offset, rd);
}

/* a blob's bytes (a manifest's body), found as registry_blob_open finds them */
static int blob_get(struct registry *r, struct arena *a, const char *digest, size_t max,
                    char **body, size_t *len)
{
    int rc = storage_get(r->d, a, path_blob_data(a, digest), max, body, len);
    if (rc != WERR_NOTFOUND) return rc;
    rc = storage_get(r->d, a, path_blob_quarantine(a, digest), max, body, len);
    if (rc != WERR_NOTFOUND) return rc;
    return storage_get(r->d, a, path_blob_data(a, digest), max, body, len);
}

int registry_blob_unlink(struct registry *r, struct arena *a, const char *repo, const char *digest)
{
    int rc = registry_blob_stat(r, a, repo, digest, NULL);
    if (rc) return rc;
    char *link = path_layer_link(a, repo, digest);
    /* remove the link's directory (…/_layers/sha256/<hex>), as the reference does */
    char *dir = arena_strndup(a, link, strlen(link) - strlen("/link"));
    return storage_delete(r->d, dir);
}

int registry_blob_mount(struct registry *r, struct arena *a, const char *repo, const char *from,
                        const char *digest, struct blob_desc *out)
{
    int rc = registry_blob_stat(r, a, from, digest, out);
    if (rc) return rc;
    return write_link(r, path_layer_link(a, repo, digest), digest);
}

/* ---- uploads ---- */

static char *new_uuid(struct arena *a)
{
    unsigned char b[16];
    /* the kernel's CSPRNG: OpenSSL's DRBG would initialise its provider
     * machinery in every worker just for upload ids (megabytes of RSS) */
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b && RAND_bytes(b, sizeof b) != 1) abort();
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    return arena_printf(a, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                        b[12], b[13], b[14], b[15]);
}

static void rfc3339(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* the files an upload begins with, put side by side on an object store (two
 * requests of a few ms each a POST need not wait for one after the other) */
struct start_put {
    struct storage_driver *d;
    const char *path, *data;
    size_t len;
    int rc;
};

static void start_put_one(void *ctx, size_t i)
{
    struct start_put *p = (struct start_put *)ctx + i;
    p->rc = storage_put(p->d, p->path, p->data, p->len);
}

int registry_upload_start(struct registry *r, struct arena *a, const char *repo,
                          struct upload **out)
{
    struct upload *u = arena_zalloc(a, sizeof(*u));
    u->repo = repo;
    u->uuid = new_uuid(a);
    u->started = time(NULL);
    hasher_init(&u->h, DIGEST_SHA256);
    char ts[32];
    rfc3339(u->started, ts);
    char *startedat = path_upload_startedat(a, repo, u->uuid);
    /* an empty data file, so the upload's size is always known from storage
     * (on Swift an empty object: one request, where a writer probes for an
     * object first, and its writer takes an empty object over without a
     * copy; elsewhere opened to append: the id is new, nothing to truncate).
     * Until the POST answers nobody knows the id: the two files need no
     * order (a failure leaves them to the upload purge either way). */
    char *data = path_upload_data(a, repo, u->uuid);
    int rc;
    if (r->cfg && r->cfg->storage == STORAGE_SWIFT) {
        struct start_put p[2] = {{r->d, startedat, ts, strlen(ts), 0}, {r->d, data, "", 0, 0}};
        par_for(2, 2, start_put_one, p);
        if ((rc = p[0].rc) != 0 || (rc = p[1].rc) != 0) return rc;
    } else {
        if ((rc = storage_put(r->d, startedat, ts, strlen(ts))) != 0) return rc;
        struct storage_writer *w;
        if ((rc = storage_writer_open(r->d, a, data, 1, &w)) != 0) return rc;
        if ((rc = storage_commit(w)) != 0) return rc;
    }
    u->stored = 0;
    *out = u;
    return 0;
}

/* the newest saved hash state not beyond `limit` bytes; offset 0 when none.
 * A state listed but gone when read (its successor's holder deletes the one
 * before after answering: save_hashstate) is passed over for the next one.
 * *top (when not NULL): the newest state listed within limit (0: none),
 * whether or not it was read. */
static int load_hashstate(struct registry *r, struct arena *a, struct upload *u, int64_t limit,
                          int64_t *top)
{
    hasher_init(&u->h, DIGEST_SHA256);
    u->offset = 0;
    if (top) *top = 0;
    if (limit <= 0) return 0; /* no data: no state to look for (one listing fewer) */
    char **names;
    size_t n;
    char *dir = path_upload_hashstates(a, u->repo, u->uuid, "sha256");
    int rc = storage_list(r->d, a, dir, &names, &n);
    if (rc == WERR_NOTFOUND) return 0;
    if (rc) return rc;
    int64_t below = limit + 1;
    for (;;) {
        int64_t best = -1;
        for (size_t i = 0; i < n; i++) {
            char *end;
            long long v = strtoll(names[i], &end, 10);
            if (*end || v < 0 || v >= below) continue;
            if (v > best) best = v;
        }
        if (top && below == limit + 1 && best > 0) *top = best;
        if (best <= 0) return 0;
        char *data;
        size_t len;
        rc = storage_get(r->d, a, path_upload_hashstate(a, u->repo, u->uuid, "sha256", best),
                         DIGEST_STATE_MAX, &data, &len);
        if (rc == WERR_NOTFOUND) {
            below = best;
            continue;
        }
        if (rc) return rc;
        if (hasher_load(&u->h, DIGEST_SHA256, (unsigned char *)data, len) != 0 ||
            (int64_t)u->h.len != best) {
            log_warn("upload %s: unreadable hash state at %lld, restarting it", u->uuid,
                     (long long)best);
            hasher_init(&u->h, DIGEST_SHA256);
            return 0;
        }
        u->offset = best;
        return 0;
    }
}

struct open_ctx {
    struct registry *r;
    struct arena *a;
    struct upload *u;
    const struct upload_intent *in;
};

/* a body file hashed while the lock settles: at most this long (a longer
 * one is hashed once the lock is held, renewing it as it goes) */
#define PREHASH_MAX (256LL << 20)

static int hash_fd(int fd, int64_t len, struct hasher *h, struct storage_lock *renew)
{
    char *buf = malloc(UPLOAD_CHUNK);
    if (!buf) return WERR_NOMEM;
    int64_t done = 0;
    int rc = 0;
    while (!rc && done < len) {
        size_t want = UPLOAD_CHUNK;
        if ((int64_t)want > len - done) want = (size_t)(len - done);
        ssize_t n = pread(fd, buf, want, (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = WERR_IO;
            break;
        }
        hasher_update(h, buf, (size_t)n);
        done += n;
        if (renew) rc = storage_lock_renew(renew);
    }
    free(buf);
    return rc;
}

/* the three reads of read_upload_state side by side on an object store
 * (each a request or two of a few ms, the hash of a body file some more):
 * 0 the data's stat (then, for an append, the driver's prepare_append);
 * 1 the newest hash state whatever the data's size, and the body file
 *   hashed on it — kept only when the stat then allows that state (a state
 *   past the data, left by a crash, is rare: the reads are done again);
 * 2 for a commit, the blob's stat. Each job has its own arena. */
struct state_jobs {
    struct open_ctx *c;
    int st_rc;
    struct storage_stat st;
    int hs_rc, hashed;
    int64_t top;      /* the newest state job 1 found listed */
    struct upload hs; /* offset, h and pre.h of job 1 */
    int blob_rc;
};

static void state_job(void *ctx, size_t i)
{
    struct state_jobs *j = ctx;
    struct arena *t = arena_new();
    struct registry *r = j->c->r;
    struct upload *u = j->c->u;
    const struct upload_intent *in = j->c->in;
    char *data = path_upload_data(t, u->repo, u->uuid);
    if (i == 0) {
        j->st_rc = storage_stat(r->d, data, &j->st);
        if (j->st_rc == 0 && in && in->append) storage_prepare_append(r->d, data);
    } else if (i == 1) {
        j->hs.repo = u->repo;
        j->hs.uuid = u->uuid;
        j->hs_rc = load_hashstate(r, t, &j->hs, INT64_MAX - 1, &j->top);
        if (j->hs_rc == 0 && in && in->body_fd >= 0 && in->body_len > 0 &&
            in->body_len <= PREHASH_MAX) {
            j->hs.pre.h = j->hs.h;
            j->hashed = hash_fd(in->body_fd, in->body_len, &j->hs.pre.h, NULL) == 0;
        }
    } else {
        int64_t have;
        j->blob_rc = blob_data_stat(r, t, in->commit, &have);
    }
    arena_free(t);
}

/* read_upload_state: the upload's size, hash state and offset as its last
 * holder saved them, and the intent's work; only reads (run while the lock
 * settles, maybe twice) */
static int read_upload_state(void *p)
{
    struct open_ctx *c = p;
    struct registry *r = c->r;
    struct arena *a = c->a;
    struct upload *u = c->u;
    const struct upload_intent *in = c->in;
    u->pre.hashed = 0;
    u->pre.absent = NULL;
    struct state_jobs j = {.c = c, .st_rc = WERR_IO, .hs_rc = WERR_IO, .blob_rc = WERR_IO};
    int side = r->cfg && CONFIG_OBJSTORE(r->cfg);
    if (side) par_for(in && in->commit ? 3 : 2, 3, state_job, &j);
    /* the data file is created with the upload: when it is there the upload
     * exists (one request fewer than reading startedat first); without it
     * (an upload the reference began, or one being purged) startedat says */
    struct storage_stat st;
    int rc = side ? j.st_rc : storage_stat(r->d, path_upload_data(a, u->repo, u->uuid), &st);
    if (side) st = j.st;
    int64_t size = rc == 0 ? st.size : 0;
    if (rc && rc != WERR_NOTFOUND) return rc;
    /* data that is not there: unknown to commit, which looks again (404) */
    u->stored = rc == 0 ? size : -1;
    if (rc == WERR_NOTFOUND) {
        char *ts;
        size_t tl;
        rc = storage_get(r->d, a, path_upload_startedat(a, u->repo, u->uuid), 64, &ts, &tl);
        if (rc == WERR_TOOBIG) rc = WERR_NOTFOUND;
        if (rc) return rc;
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        if (strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm)) u->started = timegm(&tm);
    }
    /* job 1's answer is the one for this size when no state it looked at
     * lies past the data (load_hashstate(size) would look at the same ones) */
    int spec = side && j.hs_rc == 0 && j.top <= size;
    if (spec) {
        u->h = j.hs.h;
        u->offset = j.hs.offset;
    } else if ((rc = load_hashstate(r, a, u, size, NULL)) != 0) {
        return rc;
    }
    if (!in) return 0;
    if (spec) {
        u->pre.h = j.hs.pre.h;
        u->pre.hashed = j.hashed;
    } else if (in->body_fd >= 0 && in->body_len > 0 && in->body_len <= PREHASH_MAX) {
        u->pre.h = u->h;
        u->pre.hashed = hash_fd(in->body_fd, in->body_len, &u->pre.h, NULL) == 0;
    }
    if (u->pre.hashed) {
        u->pre.fd = in->body_fd;
        u->pre.len = in->body_len;
        u->pre.from = u->offset;
    }
    /* right after the data's stat, which a driver may build on */
    if (!side && in->append && u->stored >= 0)
        storage_prepare_append(r->d, path_upload_data(a, u->repo, u->uuid));
    int64_t have;
    if (in->commit && (side ? j.blob_rc : blob_data_stat(r, a, in->commit, &have)) == WERR_NOTFOUND)
        u->pre.absent = in->commit;
    return 0;
}

int registry_upload_open_for(struct registry *r, struct arena *a, const char *repo,
                             const char *uuid, const struct upload_intent *in, struct upload **out)
{
    struct upload *u = arena_zalloc(a, sizeof(*u));
    u->repo = repo;
    u->uuid = uuid;
    /* the lock, then the state: a request that waited sees the offset and
     * hash state its predecessor saved (its Content-Range check is right).
     * The state is read while a lease lock settles (storage_lock_during). */
    struct open_ctx c = {r, a, u, in};
    int rc = storage_lock_during(r->d, a, path_upload_lock(a, uuid), UPLOAD_LOCK_TTL_S,
                                 UPLOAD_LOCK_WAIT_MS, read_upload_state, &c, &u->lock);
    if (rc == WERR_BUSY)
        log_warn("upload %s: another request held it for %d ms", uuid, UPLOAD_LOCK_WAIT_MS);
    if (rc) return rc;
    *out = u;
    return 0;
}

int registry_upload_open(struct registry *r, struct arena *a, const char *repo, const char *uuid,
                         struct upload **out)
{
    return registry_upload_open_for(r, a, repo, uuid, NULL, out);
}

/* the state an append replaced, deleted once the request has answered on
 * an object store (a request or two the client need not wait for; a crash
 * before it leaves it to the upload's purge) */
struct stale_state {
    struct registry *r;
    char *path, *uuid;
};

static void stale_state_run(void *p)
{
    struct stale_state *ss = p;
    int rc = storage_delete(ss->r->d, ss->path);
    if (rc && rc != WERR_NOTFOUND) log_warn("upload %s: stale hash state kept", ss->uuid);
}

static int save_hashstate(struct registry *r, struct arena *a, struct upload *u, int64_t prev)
{
    unsigned char st[DIGEST_STATE_MAX];
    size_t n = hasher_save(&u->h, st);
    int rc =
        storage_put(r->d, path_upload_hashstate(a, u->repo, u->uuid, "sha256", u->offset), st, n);
    if (rc) return rc;
    if (prev > 0 && prev != u->offset) {
        char *old = path_upload_hashstate(a, u->repo, u->uuid, "sha256", prev);
        if (r->cfg && CONFIG_OBJSTORE(r->cfg)) {
            struct stale_state *ss = arena_zalloc(a, sizeof *ss);
            *ss = (struct stale_state){r, old, arena_strdup(a, u->uuid)};
            arena_cleanup(a, stale_state_run, ss);
            return 0;
        }
        int drc = storage_delete(r->d, old);
        if (drc && drc != WERR_NOTFOUND) log_warn("upload %s: stale hash state kept", u->uuid);
    }
    return 0;
}

int registry_upload_append(struct registry *r, struct arena *a, struct upload *u, body_read_fn rd,
                           void *ctx, int64_t max)
{
    /* a crash may have left bytes past the last saved state: cut them */
    struct storage_writer *w;
    int rc = storage_writer_at(r->d, a, path_upload_data(a, u->repo, u->uuid), u->offset, &w);
    if (rc) return rc;
    int64_t prev = u->offset;
    u->stored = -1; /* unknown from here: commit stats it */
    char *buf = malloc(UPLOAD_CHUNK);
    if (!buf) {
        storage_writer_close(w);
        return WERR_NOMEM;
    }
    int64_t got = 0;
    int body_rc = 0;
    for (;;) {
        size_t want = UPLOAD_CHUNK;
        if (max >= 0 && (int64_t)want > max - got + 1) want = (size_t)(max - got + 1);
        if (want == 0) want = 1;
        ssize_t n = rd(ctx, buf, want);
        if (n == 0) break;
        if (n < 0) {
            body_rc = WERR_IO;
            break;
        }
        if (max >= 0 && got + n > max) {
            body_rc = WERR_TOOBIG;
            break;
        }
        /* a lease lost while the body streamed: stop before writing more
         * (the next holder cuts what is past the saved state) */
        if ((rc = storage_lock_renew(u->lock)) != 0) {
            free(buf);
            storage_writer_close(w);
            return rc;
        }
        if ((rc = storage_write(w, buf, (size_t)n)) != 0) {
            free(buf);
            storage_writer_close(w);
            /* the file may now hold a partial chunk: the next append truncates it */
            return rc;
        }
        hasher_update(&u->h, buf, (size_t)n);
        got += n;
    }
    free(buf);
    storage_writer_close(w); /* u->stored stays unknown: a close reports nothing */
    if (body_rc == WERR_TOOBIG) {
        /* refuse the chunk entirely: restore the previous state */
        struct upload tmp = *u;
        if (load_hashstate(r, a, &tmp, prev, NULL) == 0) *u = tmp;
        return WERR_TOOBIG;
    }
    u->offset += got;
    if (got > 0 && (rc = save_hashstate(r, a, u, prev)) != 0) return rc;
    return body_rc;
}

int registry_upload_append_file(struct registry *r, struct arena *a, struct upload *u, int fd,
                                const char *src, int64_t len)
{
    if (len < 0) return WERR_INVALID;
    if (len == 0) return 0; /* an empty body appends nothing (the state stays) */
    /* hash first, from fd: the bytes hashed are those of the inode the
     * driver then adopts or copies (never re-opened by name); done already
     * when the lock settled on the state this append starts from */
    struct hasher h = u->h;
    int rc = 0;
    if (u->pre.hashed && u->pre.fd == fd && u->pre.len == len && u->pre.from == u->offset)
        h = u->pre.h;
    else
        rc = hash_fd(fd, len, &h, u->lock);
    u->pre.hashed = 0;
    if (rc) return rc;
    u->stored = -1;
    if ((rc = storage_append_file(r->d, a, path_upload_data(a, u->repo, u->uuid), u->offset, fd,
                                  src, len, u->lock)) != 0)
        return rc; /* the state saved before stays: the next append cuts what was added */
    u->stored = u->offset + len;
    if ((rc = storage_lock_renew(u->lock)) != 0) return rc;
    int64_t prev = u->offset;
    u->h = h;
    u->offset += len;
    if (len > 0 && (rc = save_hashstate(r, a, u, prev)) != 0) return rc;
    return 0;
}

int registry_upload_cancel(struct registry *r, struct arena *a, struct upload *u)
{
    int rc = storage_delete(r->d, path_upload(a, u->repo, u->uuid));
    registry_upload_release(u);
    return rc == WERR_NOTFOUND ? 0 : rc;
}

void registry_upload_release(struct upload *u)
{
    if (!u || !u->lock) return;
    storage_unlock(u->lock);
    u->lock = NULL;
}

/* what is left of a committed upload (its state files, its lock), removed
 * once the request has answered (an arena cleanup runs after the web server
 * got the whole response): on an object store that is a listing and a
 * request per file the client need not wait for. A crash before it leaves
 * the files to the upload purge and the lease to its ttl. */
struct upload_purge {
    struct registry *r;
    char *dir, *uuid;
    struct storage_lock *lock;
};

static void upload_purge_run(void *p)
{
    struct upload_purge *pg = p;
    int rc = storage_delete(pg->r->d, pg->dir);
    if (rc && rc != WERR_NOTFOUND)
        log_warn("upload %s: its files were not removed (%s); the upload purge will", pg->uuid,
                 werr_str(rc));
    if (pg->lock) storage_unlock(pg->lock);
}

static void upload_purge_later(struct registry *r, struct arena *a, struct upload *u)
{
    struct upload_purge *pg = arena_zalloc(a, sizeof *pg);
    pg->r = r;
    pg->dir = path_upload(a, u->repo, u->uuid);
    pg->uuid = arena_strdup(a, u->uuid);
    pg->lock = u->lock; /* released after the files (the arena runs cleanups last first) */
    u->lock = NULL;
    arena_cleanup(a, upload_purge_run, pg);
}

/* rehash the upload's data with another algorithm (sha512 digests) */
static int rehash(struct registry *r, struct arena *a, struct upload *u, enum digest_alg alg,
                  char out[DIGEST_MAX_STR])
{
    struct storage_reader *rd;
    int rc = storage_reader_open(r->d, a, path_upload_data(a, u->repo, u->uuid), 0, &rd);
    if (rc) return rc;
    struct hasher h;
    hasher_init(&h, alg);
    char *buf = malloc(UPLOAD_CHUNK);
    if (!buf) {
        storage_reader_close(rd);
        return WERR_NOMEM;
    }
    int64_t total = 0;
    for (;;) {
        ssize_t n = storage_read(rd, buf, UPLOAD_CHUNK);
        if (n < 0) {
            rc = WERR_IO;
            break;
        }
        if (n == 0) break;
        if (total + n > u->offset) n = (ssize_t)(u->offset - total);
        hasher_update(&h, buf, (size_t)n);
        total += n;
        if (total >= u->offset) break;
    }
    free(buf);
    storage_reader_close(rd);
    if (rc) return rc;
    hasher_final(&h, out);
    return 0;
}

int registry_upload_commit(struct registry *r, struct arena *a, struct upload *u,
                           const char *digest, struct blob_desc *out)
{
    enum digest_alg alg;
    int rc = digest_parse(digest, &alg, NULL);
    if (rc) return rc;
    char actual[DIGEST_MAX_STR];
    if (alg == DIGEST_SHA256) {
        struct hasher h = u->h;
        hasher_final(&h, actual);
    } else if ((rc = rehash(r, a, u, alg, actual)) != 0) {
        return rc;
    }
    char *data_path = path_upload_data(a, u->repo, u->uuid);
    /* the data's size as this request (holding the lock) saw or left it;
     * stat it only when that is unknown (a write that failed) */
    int64_t size = u->stored;
    if (size < 0) {
        struct storage_stat st;
        if ((rc = storage_stat(r->d, data_path, &st)) != 0) return rc;
        size = st.size;
    }
    /* the digest vouches for the stored bytes only when the hash state
     * covers exactly them: its length, the data's size and the offset agree */
    if ((int64_t)u->h.len != u->offset || size != u->offset) {
        log_warn("upload %s: hash state covers %lld bytes, offset %lld, data %lld: not committed",
                 u->uuid, (long long)u->h.len, (long long)u->offset, (long long)size);
        registry_upload_cancel(r, a, u);
        return WERR_DIGEST;
    }
    if (strcmp(actual, digest) != 0) {
        registry_upload_cancel(r, a, u);
        return WERR_DIGEST;
    }
    int64_t have;
    /* a blob not stored while the lock settled is moved in without looking
     * again (a blob found then is looked up again: it may have gone since) */
    int absent = u->pre.absent && !strcmp(u->pre.absent, digest);
    if (!absent && blob_data_stat(r, a, digest, &have) == 0 && have == u->offset) {
        /* content-addressed: the same bytes are already stored */
    } else {
        /* make the data durable before it becomes visible under its digest
         * (an object store's writes are durable once their writer closed:
         * reopening one would only cost requests) */
        struct storage_writer *w;
        if (!(r->cfg && CONFIG_OBJSTORE(r->cfg)) &&
            storage_writer_open(r->d, a, data_path, 1, &w) == 0) {
            if ((rc = storage_commit(w)) != 0) return rc;
        }
        if ((rc = storage_move(r->d, data_path, path_blob_data(a, digest))) != 0) return rc;
    }
    if ((rc = write_link(r, path_layer_link(a, u->repo, digest), digest)) != 0) return rc;
    if (r->cfg && CONFIG_OBJSTORE(r->cfg))
        upload_purge_later(r, a, u);
    else
        registry_upload_cancel(r, a, u);
    if (out) {
        snprintf(out->digest, sizeof out->digest, "%s", digest);
        out->size = u->offset;
    }
    return 0;
}

/* ---- the catalog walk (registry_catalog, registry_blob_find) ---- */
struct catalog_walk {
    struct arena *a;
    size_t rootlen;
    size_t max; /* stop after this many names (0: all) */
    size_t n, cap;
    char **names;
};
static int catalog_cb(void *ctx, const char *path, const struct storage_stat *st);
/* catalog_cb's answer once it has collected max names: stops the walk */
#define WALK_ENOUGH 1

/* ---- manifests ---- */

static int is_digest_ref(const char *ref)
{
    return strchr(ref, ':') != NULL;
}

static int manifest_linked(struct registry *r, struct arena *a, const char *repo,
                           const char *digest)
{
    char *linked;
    int rc = registry_read_link(r, a, path_revision_link(a, repo, digest), &linked);
    if (rc == WERR_INVALID) return WERR_NOTFOUND;
    if (rc) return rc;
    return strcmp(linked, digest) == 0 ? 0 : WERR_NOTFOUND;
}

int registry_manifest_get(struct registry *r, struct arena *a, const char *repo, const char *ref,
                          char **body, size_t *len, char digest[DIGEST_MAX_STR],
                          const char **media_type)
{
    const char *dg = ref;
    int rc;
    if (r->mirror) mirror_manifest_sync(r->mirror, r, a, repo, ref);
    if (!is_digest_ref(ref)) {
        char *linked;
        rc = registry_read_link(r, a, path_tag_current(a, repo, ref), &linked);
        if (rc == WERR_INVALID) rc = WERR_NOTFOUND;
        if (rc) return rc;
        dg = linked;
    }
    if ((rc = manifest_linked(r, a, repo, dg)) != 0) return rc;
    size_t max = r->cfg ? r->cfg->manifest_max : 4u << 20;
    /* a manifest whose revision is linked is served even while an online GC
     * holds its blob in quarantine: that happens only to a manifest pushed as
     * the GC's re-check passed, and the GC puts it back (storage/gc.c) */
    rc = blob_get(r, a, dg, max, body, len);
    if (rc == WERR_TOOBIG) rc = WERR_INVALID;
    if (rc) return rc;
    snprintf(digest, DIGEST_MAX_STR, "%s", dg);
    if (media_type) *media_type = manifest_media_type(a, *body, *len);
    return 0;
}

/* ref_check: the descriptor names a blob (or, is_manifest, a manifest) of
 * repo, and its size is that content's stored length. A descriptor whose size
 * lies is refused: clients trust it to bound and verify their reads, and the
 * reference registry reads it back as the blob's size. WERR_NOTFOUND (*detail
 * the digest) or WERR_INVALID (*detail says which sizes differ). */
static int ref_check(struct registry *r, struct arena *a, const char *repo,
                     const struct descriptor *d, int is_manifest, const char **detail)
{
    struct blob_desc bd;
    int rc;
    if (is_manifest) {
        if ((rc = manifest_linked(r, a, repo, d->digest)) == 0)
            rc = blob_data_stat(r, a, d->digest, &bd.size);
    } else {
        rc = registry_blob_stat(r, a, repo, d->digest, &bd);
    }
    if (rc) {
        *detail = d->digest;
        return rc;
    }
    if (bd.size != d->size) {
        *detail = arena_printf(a, "descriptor of %s says size %lld, stored content is %lld bytes",
                               d->digest, (long long)d->size, (long long)bd.size);
        return WERR_INVALID;
    }
    return 0;
}

/* The references of a manifest are checked side by side on an object store
 * (a check is a request or two of some milliseconds each; an image has a
 * config and a handful of layers), one by one elsewhere. Each check runs on
 * an arena of its own; the first failure in the manifest's order is the one
 * reported, as when they run one by one. */
#define REF_THREADS 4

struct ref_job {
    const struct descriptor *d;
    int is_manifest, schema1;
    int rc;
    const char *detail;
};

struct ref_jobs {
    struct registry *r;
    const char *repo;
    struct ref_job *j;
};

static void ref_job_run(struct registry *r, struct arena *a, const char *repo, struct ref_job *j)
{
    if (j->schema1) { /* fsLayers carry no size */
        j->rc = registry_blob_stat(r, a, repo, j->d->digest, NULL);
        if (j->rc) j->detail = j->d->digest;
        return;
    }
    j->rc = ref_check(r, a, repo, j->d, j->is_manifest, &j->detail);
}

static void ref_one(void *p, size_t i)
{
    struct ref_jobs *js = p;
    struct arena *a = arena_new();
    struct ref_job *j = &js->j[i];
    ref_job_run(js->r, a, js->repo, j);
    /* the detail outlives this arena */
    if (j->rc && j->detail) j->detail = strdup(j->detail);
    arena_free(a);
}

static int ref_checks(struct registry *r, struct arena *a, const char *repo, struct ref_job *j,
                      size_t n, const char **detail)
{
    size_t nt = r->cfg && CONFIG_OBJSTORE(r->cfg) ? (n < REF_THREADS ? n : REF_THREADS) : 0;
    if (nt < 2) {
        for (size_t i = 0; i < n; i++) {
            ref_job_run(r, a, repo, &j[i]);
            if (j[i].rc) {
                *detail = j[i].detail;
                return j[i].rc;
            }
        }
        return 0;
    }
    struct ref_jobs js = {r, repo, j};
    par_for(n, nt, ref_one, &js);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (j[i].rc && !rc) {
            rc = j[i].rc;
            *detail = j[i].detail ? arena_strdup(a, j[i].detail) : NULL;
        }
        if (j[i].rc) free((char *)j[i].detail);
    }
    return rc;
}

static int regex_any(const struct config_regex *re, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re[i].code, NULL);
        if (!md) return -1;
        int m = pcre2_match(re[i].code, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
        pcre2_match_data_free(md);
        if (m >= 0) return 1;
    }
    return 0;
}

/* url_allowed: the reference's rule for a layer URL: http or https, no
 * fragment, matching some validation.manifests.urls.allow pattern (none set:
 * every URL is refused) and no deny pattern. validation.disabled: all pass. */
static int url_allowed(const struct config *cfg, const char *u)
{
    if (!cfg || cfg->validation_disabled) return 1;
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) return 0;
    if (strchr(u, '#')) return 0;
    if (regex_any(cfg->urls_allow, cfg->nurls_allow, u) != 1) return 0;
    if (regex_any(cfg->urls_deny, cfg->nurls_deny, u) != 0) return 0;
    return 1;
}

/* platform_must_exist: Distribution 3's validation.manifests.indexes rule */
static int platform_must_exist(const struct config *cfg, const struct descriptor *d)
{
    if (!cfg || cfg->index_platforms == PLATFORMS_ALL) return 1;
    if (cfg->index_platforms == PLATFORMS_NONE) return 0;
    if (cfg->nplatformlist == 0 || !d->os || !d->arch) return 1;
    for (size_t i = 0; i < cfg->nplatformlist; i++)
        if (!strcmp(cfg->platformlist[i].os, d->os) && !strcmp(cfg->platformlist[i].arch, d->arch))
            return 1;
    return 0;
}

int registry_manifest_put(struct registry *r, struct arena *a, const char *repo, const char *ref,
                          const char *body, size_t len, const char *content_type,
                          char digest[DIGEST_MAX_STR], const char **detail)
{
    struct manifest_info mi;
    int rc = manifest_parse(a, body, len, content_type, &mi, detail);
    if (rc == WERR_UNSUPPORTED && mi.kind == MF_SCHEMA1 && r->cfg && r->cfg->schema1_enabled)
        rc = 0;
    if (rc) return rc;
    enum digest_alg alg = DIGEST_SHA256;
    if (is_digest_ref(ref) && (rc = digest_parse(ref, &alg, NULL)) != 0) return rc;
    digest_of(alg, body, len, digest);
    if (is_digest_ref(ref) && strcmp(ref, digest) != 0) {
        *detail = "the manifest's digest does not match the reference";
        return WERR_DIGEST;
    }
    /* every referenced blob / manifest must be in this repository */
    struct ref_job *jobs = arena_zalloc(a, (mi.nrefs + 1) * sizeof *jobs);
    size_t njobs = 0;
    if (mi.has_config) jobs[njobs++] = (struct ref_job){.d = &mi.config};
    int index = manifest_is_index(mi.kind);
    for (size_t i = 0; i < mi.nrefs; i++) {
        const struct descriptor *d = &mi.refs[i];
        for (size_t j = 0; j < d->nurls; j++) {
            if (!url_allowed(r->cfg, d->urls[j])) {
                *detail = arena_printf(a, "invalid URL on layer %s: %s", d->digest, d->urls[j]);
                return WERR_INVALID;
            }
        }
        if (!index && d->has_urls) continue; /* foreign / non-distributable layer */
        if (index && !platform_must_exist(r->cfg, d)) continue;
        jobs[njobs++] =
            (struct ref_job){.d = d, .is_manifest = index, .schema1 = mi.kind == MF_SCHEMA1};
    }
    if ((rc = ref_checks(r, a, repo, jobs, njobs, detail)) != 0) return rc;
    /* stored once: on an object store written again without looking first
     * (the same bytes under the same name; a look costs what a write does) */
    char *data = path_blob_data(a, digest);
    struct storage_stat st;
    if ((r->cfg && CONFIG_OBJSTORE(r->cfg)) || storage_stat(r->d, data, &st) != 0 ||
        st.size != (int64_t)len) {
        if ((rc = storage_put(r->d, data, body, len)) != 0) return rc;
    }
    if ((rc = write_link(r, path_revision_link(a, repo, digest), digest)) != 0) return rc;
    if (mi.has_subject && (rc = registry_referrer_link(r, a, repo, mi.subject.digest, digest)) != 0)
        return rc;
    if (!is_digest_ref(ref)) {
        if ((rc = write_link(r, path_tag_index_link(a, repo, ref, digest), digest)) != 0) return rc;
        if ((rc = write_link(r, path_tag_current(a, repo, ref), digest)) != 0) return rc;
    }
    /* after the links (catalog.h: a racing repository delete cannot lose it) */
    if (catalog_index_enabled(r) &&
        (rc = catalog_pushed(r, a, repo, is_digest_ref(ref) ? NULL : ref, digest)) != 0)
        return rc;
    return 0;
}

/* catalog_follow: the index follows a delete that is done: a failure to
 * rewrite the marker leaves it describing the state before (catalog.h: the
 * next change or a rebuild fixes it), not worth failing the delete for */
static void catalog_follow(struct registry *r, struct arena *a, const char *repo)
{
    if (!catalog_index_enabled(r)) return;
    int rc = catalog_update(r, a, repo, 0);
    if (rc) log_warn("catalog: %s: marker not updated after a delete: %s", repo, werr_str(rc));
}

int registry_manifest_delete(struct registry *r, struct arena *a, const char *repo,
                             const char *digest)
{
    int rc = manifest_linked(r, a, repo, digest);
    if (rc) return rc;
    /* tags pointing at it go first, so no tag is left naming a missing revision */
    char **tags;
    size_t n;
    rc = storage_list(r->d, a, path_tags(a, repo), &tags, &n);
    if (rc && rc != WERR_NOTFOUND) return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *cur;
        if (registry_read_link(r, a, path_tag_current(a, repo, tags[i]), &cur) == 0 &&
            strcmp(cur, digest) == 0) {
            int drc = storage_delete(r->d, path_tag(a, repo, tags[i]));
            if (drc && drc != WERR_NOTFOUND) return drc;
        }
    }
    /* its entry in the referrers index of its subject, if it has one */
    char *body;
    size_t len;
    char dg[DIGEST_MAX_STR];
    const char *mt, *detail;
    struct manifest_info mi;
    if (registry_manifest_get(r, a, repo, digest, &body, &len, dg, &mt) == 0 &&
        manifest_parse(a, body, len, mt, &mi, &detail) == 0 && mi.has_subject) {
        int urc = registry_referrer_unlink(r, a, repo, mi.subject.digest, digest);
        if (urc) return urc;
    }
    rc = storage_delete(r->d, path_revision_dir(a, repo, digest));
    if (rc == 0) catalog_follow(r, a, repo);
    return rc;
}

int registry_repo_delete(struct registry *r, struct arena *a, const char *repo)
{
    int rc = registry_repo_exists(r, a, repo);
    if (rc) return rc;
    /* the marker before the tree (catalog.h) */
    if (catalog_index_enabled(r) && (rc = catalog_unmark(r, a, repo)) != 0) return rc;
    /* only this repository's own directories: "a/b/c" lives inside "a/b" */
    static const char *const subs[] = {"_manifests", "_layers", "_uploads"};
    for (size_t i = 0; i < 3; i++) {
        rc = storage_delete(r->d, arena_printf(a, "%s/%s", path_repo(a, repo), subs[i]));
        if (rc && rc != WERR_NOTFOUND) return rc;
    }
    char **kids;
    size_t nk;
    if (storage_list(r->d, a, path_repo(a, repo), &kids, &nk) == 0 && nk == 0)
        storage_delete(r->d, path_repo(a, repo)); /* an emptied directory (filesystem) */
    return 0;
}

int registry_blob_find(struct registry *r, struct arena *a, const char *digest, const char *skip,
                       repo_filter_fn may_read, void *ctx, size_t max_repos, const char **from,
                       struct blob_desc *out)
{
    /* a blob stored nowhere is linked nowhere: no listing at all */
    int64_t size;
    int rc = blob_data_stat(r, a, digest, &size);
    if (rc) return rc;
    char **repos;
    size_t n;
    if (catalog_index_enabled(r)) { /* object stores: one listing of max_repos names */
        int more;
        rc = catalog_index_page(r, a, NULL, max_repos, &repos, &n, &more);
    } else {
        rc = WERR_NOTFOUND;
    }
    if (rc == WERR_NOTFOUND) { /* the walk, stopped after max_repos repositories */
        struct catalog_walk cw = {0};
        cw.a = a;
        cw.max = max_repos;
        const char *root = path_repos(a);
        cw.rootlen = strlen(root);
        rc = storage_walk(r->d, root, catalog_cb, &cw);
        if (rc == WALK_ENOUGH || rc == WERR_NOTFOUND) rc = 0;
        repos = cw.names;
        n = cw.n;
    }
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        if (skip && !strcmp(repos[i], skip)) continue;
        if (registry_blob_stat(r, a, repos[i], digest, out) != 0) continue;
        if (may_read && !may_read(ctx, repos[i])) continue;
        *from = repos[i];
        return 0;
    }
    return WERR_NOTFOUND;
}

int registry_tag_delete(struct registry *r, struct arena *a, const char *repo, const char *tag)
{
    int rc = storage_delete(r->d, path_tag(a, repo, tag));
    if (rc == 0) catalog_follow(r, a, repo);
    return rc;
}

int registry_repo_exists(struct registry *r, struct arena *a, const char *repo)
{
    static const char *const subs[] = {"_manifests", "_layers", "_uploads"};
    for (size_t i = 0; i < 3; i++) {
        struct storage_stat st;
        if (storage_stat(r->d, arena_printf(a, "%s/%s", path_repo(a, repo), subs[i]), &st) == 0)
            return 0;
    }
    return WERR_NOTFOUND;
}

int registry_tags(struct registry *r, struct arena *a, const char *repo, char ***tags, size_t *n)
{
    int rc = storage_list(r->d, a, path_tags(a, repo), tags, n);
    if (rc == WERR_NOTFOUND) {
        if (registry_repo_exists(r, a, repo) == 0) {
            *tags = NULL;
            *n = 0;
            return 0;
        }
    }
    return rc;
}

static int catalog_cb(void *ctx, const char *path, const struct storage_stat *st)
{
    struct catalog_walk *cw = ctx;
    if (cw->max && cw->n == cw->max) return WALK_ENOUGH;
    if (!st->is_dir) return 0;
    const char *base = strrchr(path, '/') + 1;
    if (base[0] != '_') return 0;
    if (strcmp(base, "_manifests") == 0) {
        /* path is <root>/<repo>/_manifests */
        const char *rel = path + cw->rootlen + 1;
        size_t rl = strlen(rel) - strlen("/_manifests");
        if (cw->n == cw->cap) {
            size_t nc = cw->cap ? cw->cap * 2 : 64;
            char **nn = arena_alloc(cw->a, nc * sizeof(char *));
            if (cw->n) memcpy(nn, cw->names, cw->n * sizeof(char *));
            cw->names = nn;
            cw->cap = nc;
        }
        cw->names[cw->n++] = arena_strndup(cw->a, rel, rl);
    }
    return WALK_SKIP_DIR; /* nothing below _layers/_manifests/_uploads is a repository */
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The walk visits each directory in order, which is not the order of whole
 * names ("a-b" < "a/b"), so names are collected and sorted before paging. */
int registry_catalog(struct registry *r, struct arena *a, const char *last, size_t max,
                     char ***repos, size_t *n, int *more)
{
    if (catalog_index_enabled(r)) { /* object stores: the index, one listing per page */
        int irc = catalog_index_page(r, a, last, max, repos, n, more);
        if (irc != WERR_NOTFOUND) return irc;
    }
    struct catalog_walk cw = {0};
    cw.a = a;
    const char *root = path_repos(a);
    cw.rootlen = strlen(root);
    int rc = storage_walk(r->d, root, catalog_cb, &cw);
    if (rc == WERR_NOTFOUND) rc = 0;
    if (rc) return rc;
    if (cw.n) qsort(cw.names, cw.n, sizeof(char *), cmp_str);
    size_t from = 0;
    if (last && *last)
        while (from < cw.n && strcmp(cw.names[from], last) <= 0)
            from++;
    size_t count = cw.n - from;
    *more = count > max;
    if (count > max) count = max;
    *repos = cw.names ? cw.names + from : NULL; /* no repository: NULL + 0 is UB */
    *n = count;
    return 0;
}
