/* gc.c — mark & sweep garbage collection, and upload purging.
 *
 * Offline (registry stopped or read-only) it does what `registry
 * garbage-collect` 2.8.2 does, in the same order, so a SIGKILL at any point
 * leaves a servable root: first the manifests to delete (tag index entries,
 * then the revision link), then the unmarked blobs (each blob directory
 * removed whole, data file first). Every deletion only removes something no
 * kept manifest needs, so any prefix of the deletions is a consistent root.
 *
 * Online (the registry keeps serving pushes and pulls) a plain mark & sweep
 * can lose data: a client HEADs an old unreferenced blob (200), skips its
 * upload and PUTs a manifest naming it while the sweep deletes it. The
 * online run closes that window in four steps:
 *
 *  1. Mark as offline, with t0 = start and cutoff = t0 - grace. Nothing whose
 *     data or revision link is younger than cutoff is a candidate.
 *  2. Re-check 1 (after the mark, before any deletion): walk every link file
 *     of every repository (_layers, _manifests revisions, tags, referrers);
 *     each link written since cutoff marks its digest, and a manifest's link
 *     marks the manifest's config, layers and children (recursively). So an
 *     upload committed (its _layers link written), a blob mounted, a manifest
 *     or tag pushed after the mark began is kept.
 *  3. Candidates are not deleted but quarantined: their data is renamed to
 *     data.wharf-gc in the same directory (a manifest PUT that checks the blob
 *     from now on fails with BLOB_UNKNOWN instead of committing a dangling
 *     reference). Untagged manifests are unlinked (revision link).
 *  4. After settle_ms (longer than a manifest PUT's check-to-commit window),
 *     re-check 2: every link written since re-check 1 began marks as in 2; a
 *     quarantined blob now marked is renamed back, an unlinked manifest now
 *     reached gets its revision link back. Only then are the quarantined
 *     files deleted. A PUT that saw the blob before step 3 wrote its links
 *     before step 4 read them; a PUT after step 3 failed its check.
 *
 * A run killed in 3 or 4 leaves data.wharf-gc files (the reference ignores
 * them: it only enumerates files named data) listed in a journal
 * (_wharf_gc/quarantine, written before the first rename); the next Wharf run
 * restores those that are marked and deletes the others. Uploads in progress live in
 * _uploads (never swept here; upload purging removes old ones by age), and
 * an upload that commits onto an existing blob writes a fresh _layers link,
 * which the re-checks see.
 *
 * One run at a time per storage (two online runs would each restore or delete
 * the other's quarantine): the run holds the driver's lock _wharf_gc/lease
 * (storage_lock): on the filesystem a flocked file there (released by the
 * kernel if the run dies, removed at the end); on object storage a lease
 * object naming host, pid and expiry, refreshed as the run progresses and
 * deleted at the end. A second run fails with WERR_BUSY and says who holds
 * it. Dry runs take no lock. */
#include "gc.h"

#include "../lib/arena.h"
#include "../lib/digest.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/mstime.h"
#include "manifest.h"
#include "open.h"
#include "paths.h"

#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINK_MAX_BYTES 256
#define MANIFEST_READ_MAX (64u << 20)
#define TREE_DEPTH_MAX 8

/* ---- keys and the mark set -------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int hex32(const char *hex, struct gc_key *k)
{
    for (size_t i = 0; i < 32; i++) {
        int h = hexval(hex[2 * i]), l = hexval(hex[2 * i + 1]);
        if (h < 0 || l < 0) return WERR_INVALID;
        k->b[i] = (unsigned char)(h << 4 | l);
    }
    return 0;
}

int gc_key_of(const char *digest, struct gc_key *k)
{
    enum digest_alg alg;
    const char *hex;
    if (!digest || digest_parse(digest, &alg, &hex) != 0) return WERR_INVALID;
    if (alg == DIGEST_SHA256) return hex32(hex, k);
    char d[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, digest, strlen(digest), d);
    return hex32(d + strlen("sha256:"), k);
}

static int key_cmp(const void *x, const void *y)
{
    return memcmp(x, y, sizeof(struct gc_key));
}

void gc_markset_compact(struct gc_markset *m)
{
    if (m->sorted == m->n) return;
    qsort(m->v, m->n, sizeof *m->v, key_cmp);
    size_t w = 0;
    for (size_t i = 0; i < m->n; i++)
        if (w == 0 || memcmp(&m->v[w - 1], &m->v[i], sizeof *m->v) != 0) m->v[w++] = m->v[i];
    m->n = m->sorted = w;
}

int gc_markset_add(struct gc_markset *m, const struct gc_key *k)
{
    if (m->n == m->cap) {
        gc_markset_compact(m);
        if (m->n >= m->cap / 2) { /* still over half full after dedupe: grow */
            size_t nc = m->cap ? m->cap * 2 : 1024;
            struct gc_key *nv = realloc(m->v, nc * sizeof *nv);
            if (!nv) return WERR_NOMEM;
            m->v = nv;
            m->cap = nc;
        }
    }
    m->v[m->n++] = *k;
    return 0;
}

int gc_markset_has(struct gc_markset *m, const struct gc_key *k)
{
    gc_markset_compact(m);
    return m->n && bsearch(k, m->v, m->n, sizeof *m->v, key_cmp) != NULL;
}

void gc_markset_free(struct gc_markset *m)
{
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* ---- the run ------------------------------------------------------------ */

struct mdel {                      /* a manifest to unlink */
    char *repo, *digest, *subject; /* subject may be NULL */
    int unlinked;
};

struct cand { /* a blob to delete */
    char *digest;
    int64_t size;
    int quar;  /* the file is data.wharf-gc (quarantined), not data */
    int moved; /* online: we renamed data to the quarantine name */
};

struct gc {
    struct storage_driver *d;
    const struct config *cfg;
    const struct gc_opts *o;
    struct gc_stats st;
    struct gc_markset mark, recent;
    time_t t0, cutoff;
    struct mdel *del;
    size_t ndel, capdel;
    struct cand *cand;
    size_t ncand, capcand;
    struct arena *ta;          /* scratch, reset often */
    const char *kill_at;       /* WHARF_GC_TEST_KILL */
    struct storage_lock *lock; /* one run at a time (gc_lock) */
    struct arena *lock_arena;
};

/* ---- one run at a time ---------------------------------------------------------- */

#define LEASE PATH_ROOT "/_wharf_gc/lease"
#define LEASE_TTL 600 /* seconds a lease lasts without renewal (object storage) */

/* the driver's lock (storage_lock): flock on the filesystem, released by the
 * kernel when a run dies; a lease object on S3, renewed at every step */
static int gc_lock(struct gc *g)
{
    g->lock_arena = arena_new();
    int rc = storage_lock(g->d, g->lock_arena, LEASE, LEASE_TTL, 0, &g->lock);
    if (rc == WERR_BUSY) {
        /* name the holder when the lock's object says who it is (a lease) */
        char *data, host[256];
        size_t len;
        long pid;
        if (storage_get(g->d, g->lock_arena, LEASE, 1024, &data, &len) == 0 &&
            sscanf(data, "wharf-lease 1\nholder %255s %ld", host, &pid) == 2)
            log_warn("garbage-collect: another garbage collection is running (host %s, pid %ld; "
                     "its lease %s lasts %d s unless renewed); run one at a time, or delete "
                     "the lease if that run is gone",
                     host, pid, LEASE, LEASE_TTL);
        else
            log_warn("garbage-collect: another garbage collection is running (it holds %s); "
                     "run one at a time",
                     LEASE);
    }
    return rc;
}

static void gc_unlock(struct gc *g)
{
    storage_unlock(g->lock);
    g->lock = NULL;
    arena_free(g->lock_arena);
    g->lock_arena = NULL;
}

/* Fault injection for the tests: WHARF_GC_TEST_KILL=<phase>:<n> raises SIGKILL
 * just before the n-th (from 0) step of that phase: "manifest" (unlink),
 * "blob" (delete), "quarantine" (rename), "settle" (n ignored). */
static void kill_point(struct gc *g, const char *phase, size_t n)
{
    if (g->lock && storage_lock_renew(g->lock) != 0) /* every step of a run passes here */
        log_warn("garbage-collect: the lease %s was lost", LEASE);
    if (!g->kill_at) return;
    size_t pl = strlen(phase);
    if (strncmp(g->kill_at, phase, pl) != 0 || g->kill_at[pl] != ':') return;
    if (strcmp(phase, "settle") == 0 || strtoul(g->kill_at + pl + 1, NULL, 10) == n) {
        fflush(NULL);
        raise(SIGKILL);
    }
}

static void emit(struct gc *g, int detail, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void emit(struct gc *g, int detail, const char *fmt, ...)
{
    if (!g->o->out || (detail && g->o->quiet)) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(g->o->out, fmt, ap);
    va_end(ap);
    fputc('\n', g->o->out);
}

static int mark_digest(struct gc *g, const char *digest, int recent)
{
    struct gc_key k;
    if (gc_key_of(digest, &k) != 0) return 0; /* a malformed reference marks nothing */
    int rc = gc_markset_add(&g->mark, &k);
    if (rc == 0 && recent) rc = gc_markset_add(&g->recent, &k);
    return rc;
}

static int read_link(struct storage_driver *d, struct arena *a, const char *path, char **digest)
{
    char *data;
    size_t len;
    int rc = storage_get(d, a, path, LINK_MAX_BYTES, &data, &len);
    if (rc == WERR_TOOBIG) return WERR_INVALID;
    if (rc) return rc;
    while (len && (data[len - 1] == '\n' || data[len - 1] == ' ' || data[len - 1] == '\r'))
        data[--len] = 0;
    if (digest_parse(data, NULL, NULL) != 0) return WERR_INVALID;
    *digest = data;
    return 0;
}

/* read a manifest body from its blob (also from a quarantined one when q) */
static int read_manifest(struct gc *g, struct arena *a, const char *digest, int q, char **body,
                         size_t *len)
{
    int rc = storage_get(g->d, a, path_blob_data(a, digest), MANIFEST_READ_MAX, body, len);
    if (rc == WERR_NOTFOUND && q)
        rc = storage_get(g->d, a, path_blob_quarantine(a, digest), MANIFEST_READ_MAX, body, len);
    return rc;
}

/* parse: 0 with mi filled; schema 1 counts (its fsLayers are its references) */
static int parse_manifest(struct arena *a, const char *body, size_t len, struct manifest_info *mi)
{
    const char *detail = NULL;
    int rc = manifest_parse(a, body, len, NULL, mi, &detail);
    if (rc == WERR_UNSUPPORTED && mi->kind == MF_SCHEMA1) rc = 0;
    return rc;
}

/* online re-checks: mark a manifest and everything it references */
static int mark_tree(struct gc *g, struct arena *a, const char *digest, int depth)
{
    int rc = mark_digest(g, digest, 1);
    if (rc) return rc;
    char *body;
    size_t len;
    struct manifest_info mi;
    if (read_manifest(g, a, digest, 1, &body, &len) != 0) return 0;
    if (parse_manifest(a, body, len, &mi) != 0) return 0; /* a plain blob's link */
    if (mi.has_config && (rc = mark_digest(g, mi.config.digest, 1)) != 0) return rc;
    for (size_t i = 0; i < mi.nrefs; i++) {
        if (manifest_is_index(mi.kind) && depth < TREE_DEPTH_MAX)
            rc = mark_tree(g, a, mi.refs[i].digest, depth + 1);
        else
            rc = mark_digest(g, mi.refs[i].digest, 1);
        if (rc) return rc;
    }
    return 0;
}

struct rescan {
    struct gc *g;
    time_t since;
    struct arena *a;
    int rc;
};

static int rescan_cb(void *ctx, const char *path, const struct storage_stat *st)
{
    struct rescan *rs = ctx;
    const char *base = strrchr(path, '/') + 1;
    if (st->is_dir) return strcmp(base, "_uploads") == 0 ? WALK_SKIP_DIR : 0;
    if (strcmp(base, "link") != 0 || st->mtime < rs->since) return 0;
    char *dg;
    arena_reset(rs->a);
    if (read_link(rs->g->d, rs->a, path, &dg) != 0) return 0;
    int rc = strstr(path, "/_layers/") ? mark_digest(rs->g, dg, 1) : mark_tree(rs->g, rs->a, dg, 0);
    if (rc) {
        rs->rc = rc;
        return 1;
    }
    return 0;
}

/* mark everything reached from link files written at or after since */
static int rescan(struct gc *g, time_t since)
{
    struct rescan rs = {.g = g, .since = since, .a = arena_new()};
    int rc = storage_walk(g->d, path_repos(g->ta), rescan_cb, &rs);
    arena_free(rs.a);
    if (rc == WERR_NOTFOUND) rc = 0;
    if (rs.rc) rc = rs.rc;
    gc_markset_compact(&g->mark);
    gc_markset_compact(&g->recent);
    return rc;
}

/* ---- mark: one repository --------------------------------------------- */

struct mf {
    struct gc_key k;
    char *digest;
    int kept, is_index, has_subject;
    struct gc_key subject;
    char *subject_dg;
    char **refs; /* config first, then layers or children */
    struct gc_key *refk;
    size_t nrefs;
};

static int mf_cmp(const void *x, const void *y)
{
    return memcmp(&((const struct mf *)x)->k, &((const struct mf *)y)->k, sizeof(struct gc_key));
}

static struct mf *mf_find(struct mf *v, size_t n, const struct gc_key *k)
{
    struct mf key;
    key.k = *k;
    return n ? bsearch(&key, v, n, sizeof *v, mf_cmp) : NULL;
}

static int add_del(struct gc *g, const char *repo, const struct mf *m)
{
    if (g->ndel == g->capdel) {
        size_t nc = g->capdel ? g->capdel * 2 : 64;
        struct mdel *nd = realloc(g->del, nc * sizeof *nd);
        if (!nd) return WERR_NOMEM;
        g->del = nd;
        g->capdel = nc;
    }
    struct mdel *e = &g->del[g->ndel];
    memset(e, 0, sizeof *e);
    e->repo = strdup(repo);
    e->digest = strdup(m->digest);
    e->subject = m->subject_dg ? strdup(m->subject_dg) : NULL;
    if (!e->repo || !e->digest || (m->subject_dg && !e->subject)) {
        free(e->repo);
        free(e->digest);
        free(e->subject);
        return WERR_NOMEM;
    }
    g->ndel++;
    return 0;
}

/* load one revision into m (on ra); 1 when it should be skipped */
static int load_revision(struct gc *g, struct arena *ra, const char *repo, const char *linkpath,
                         struct mf *m, int *skip)
{
    *skip = 1;
    arena_reset(g->ta);
    char *dg;
    int rc = read_link(g->d, g->ta, linkpath, &dg);
    if (rc == WERR_NOTFOUND) return 0;
    if (rc == WERR_INVALID) {
        log_warn("gc: %s: unreadable link %s: skipped", repo, linkpath);
        return 0;
    }
    if (rc) return rc;
    char *body;
    size_t len;
    rc = read_manifest(g, g->ta, dg, 0, &body, &len);
    if (rc == WERR_NOTFOUND) return 0; /* the reference skips it too (ErrBlobUnknown) */
    if (rc) {
        log_error("gc: %s: cannot read manifest %s: %s", repo, dg, werr_str(rc));
        return rc;
    }
    struct manifest_info mi;
    if ((rc = parse_manifest(g->ta, body, len, &mi)) != 0) {
        log_error("gc: failed to mark: %s: manifest %s cannot be parsed", repo, dg);
        return WERR_INVALID;
    }
    memset(m, 0, sizeof *m);
    m->digest = arena_strdup(ra, dg);
    if (gc_key_of(dg, &m->k) != 0) return 0;
    m->is_index = manifest_is_index(mi.kind);
    size_t n = mi.nrefs + (mi.has_config ? 1 : 0);
    m->refs = arena_alloc(ra, (n ? n : 1) * sizeof(char *));
    m->refk = arena_alloc(ra, (n ? n : 1) * sizeof(struct gc_key));
    size_t j = 0;
    if (mi.has_config) m->refs[j++] = arena_strdup(ra, mi.config.digest);
    for (size_t i = 0; i < mi.nrefs; i++)
        m->refs[j++] = arena_strdup(ra, mi.refs[i].digest);
    m->nrefs = j;
    for (size_t i = 0; i < j; i++)
        if (gc_key_of(m->refs[i], &m->refk[i]) != 0) memset(&m->refk[i], 0, sizeof m->refk[i]);
    if (mi.has_subject && gc_key_of(mi.subject.digest, &m->subject) == 0) {
        m->has_subject = 1;
        m->subject_dg = arena_strdup(ra, mi.subject.digest);
    }
    *skip = 0;
    return 0;
}

static int gc_repo(struct gc *g, struct arena *ra, const char *repo)
{
    emit(g, 1, "%s", repo);
    char *revdir = arena_printf(ra, "%s/_manifests/revisions", path_repo(ra, repo));
    char **algs;
    size_t nalgs;
    int rc = storage_list(g->d, ra, revdir, &algs, &nalgs);
    if (rc == WERR_NOTFOUND) return 0; /* uploads only, or _manifests removed */
    if (rc) return rc;
    struct mf *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < nalgs; i++) {
        char **hexes;
        size_t nh;
        char *adir = arena_printf(ra, "%s/%s", revdir, algs[i]);
        rc = storage_list(g->d, ra, adir, &hexes, &nh);
        if (rc == WERR_NOTFOUND) continue;
        if (rc) goto out;
        for (size_t j = 0; j < nh; j++) {
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 64;
                struct mf *nv = arena_alloc(ra, nc * sizeof *nv);
                if (n) memcpy(nv, v, n * sizeof *nv);
                v = nv;
                cap = nc;
            }
            int skip;
            char *lp = arena_printf(ra, "%s/%s/link", adir, hexes[j]);
            if ((rc = load_revision(g, ra, repo, lp, &v[n], &skip)) != 0) goto out;
            if (!skip) n++;
        }
    }
    g->st.manifests += n;
    if (n) qsort(v, n, sizeof *v, mf_cmp);
    if (!g->o->delete_untagged) {
        for (size_t i = 0; i < n; i++)
            v[i].kept = 1;
    } else {
        /* tagged: some tag's current link names it (the reference's Lookup) */
        char **tags;
        size_t nt;
        rc = storage_list(g->d, ra, path_tags(ra, repo), &tags, &nt);
        if (rc == WERR_NOTFOUND) {
            nt = 0;
            rc = 0;
        }
        if (rc) goto out;
        for (size_t i = 0; i < nt; i++) {
            char *dg;
            struct gc_key k;
            if (read_link(g->d, ra, path_tag_current(ra, repo, tags[i]), &dg) != 0) continue;
            if (gc_key_of(dg, &k) != 0) continue;
            struct mf *m = mf_find(v, n, &k);
            if (m) m->kept = 1;
        }
        /* children of kept indexes and referrers of kept subjects, to a fixpoint */
        for (int changed = 1; changed;) {
            changed = 0;
            for (size_t i = 0; i < n; i++) {
                struct mf *m = &v[i];
                if (m->kept && m->is_index) {
                    for (size_t r = 0; r < m->nrefs; r++) {
                        struct mf *c = mf_find(v, n, &m->refk[r]);
                        if (c && !c->kept) c->kept = changed = 1;
                    }
                } else if (!m->kept && m->has_subject) {
                    struct mf *s = mf_find(v, n, &m->subject);
                    if (s && s->kept) m->kept = changed = 1;
                }
            }
        }
        if (g->o->online) { /* never unlink a revision linked within the grace period */
            for (size_t i = 0; i < n; i++) {
                struct storage_stat st;
                if (v[i].kept) continue;
                if (storage_stat(g->d, path_revision_link(ra, repo, v[i].digest), &st) != 0 ||
                    st.mtime >= g->cutoff)
                    v[i].kept = 1;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct mf *m = &v[i];
        if (!m->kept) {
            emit(g, 1, "manifest eligible for deletion: %s", m->digest);
            if ((rc = add_del(g, repo, m)) != 0) goto out;
            continue;
        }
        emit(g, 1, "%s: marking manifest %s ", repo, m->digest);
        if ((rc = gc_markset_add(&g->mark, &m->k)) != 0) goto out;
        for (size_t r = 0; r < m->nrefs; r++) {
            emit(g, 1, "%s: marking blob %s", repo, m->refs[r]);
            if ((rc = mark_digest(g, m->refs[r], 0)) != 0) goto out;
        }
    }
out:
    return rc;
}

/* ---- sweep ---------------------------------------------------------------- */

static int unlink_manifest(struct gc *g, struct mdel *e)
{
    struct arena *a = g->ta;
    arena_reset(a);
    char **tags;
    size_t nt;
    int rc = storage_list(g->d, a, path_tags(a, e->repo), &tags, &nt);
    if (rc == WERR_NOTFOUND) {
        nt = 0;
        rc = 0;
    }
    if (rc) return rc;
    for (size_t i = 0; i < nt; i++) {
        rc = storage_delete(g->d, path_tag_index_dir(a, e->repo, tags[i], e->digest));
        if (rc && rc != WERR_NOTFOUND) return rc;
    }
    if (e->subject) { /* Wharf's referrers index entry: a hint, removed first */
        const char *sh = strchr(e->subject, ':'), *dh = strchr(e->digest, ':');
        char *p = arena_printf(a, "%s/_manifests/referrers/%.*s/%s/%.*s/%s", path_repo(a, e->repo),
                               (int)(sh - e->subject), e->subject, sh + 1, (int)(dh - e->digest),
                               e->digest, dh + 1);
        rc = storage_delete(g->d, p);
        if (rc && rc != WERR_NOTFOUND) return rc;
    }
    rc = storage_delete(g->d, path_revision_dir(a, e->repo, e->digest));
    if (rc && rc != WERR_NOTFOUND) return rc;
    e->unlinked = 1;
    return 0;
}

static int relink_manifest(struct gc *g, struct mdel *e)
{
    struct arena *a = g->ta;
    arena_reset(a);
    int rc =
        storage_put(g->d, path_revision_link(a, e->repo, e->digest), e->digest, strlen(e->digest));
    if (rc == 0 && e->subject) {
        const char *sh = strchr(e->subject, ':'), *dh = strchr(e->digest, ':');
        char *p = arena_printf(a, "%s/_manifests/referrers/%.*s/%s/%.*s/%s/link",
                               path_repo(a, e->repo), (int)(sh - e->subject), e->subject, sh + 1,
                               (int)(dh - e->digest), e->digest, dh + 1);
        rc = storage_put(g->d, p, e->digest, strlen(e->digest));
    }
    return rc;
}

static int add_cand(struct gc *g, const char *digest, int64_t size, int quar)
{
    if (g->ncand == g->capcand) {
        size_t nc = g->capcand ? g->capcand * 2 : 256;
        struct cand *nv = realloc(g->cand, nc * sizeof *nv);
        if (!nv) return WERR_NOMEM;
        g->cand = nv;
        g->capcand = nc;
    }
    char *d = strdup(digest);
    if (!d) return WERR_NOMEM;
    g->cand[g->ncand++] = (struct cand){.digest = d, .size = size, .quar = quar};
    return 0;
}

/* The blob store is listed, not walked: blobs/<alg>/<2 hex>/<hex>; a marked
 * blob costs no system call, an unmarked one a stat of its data. */
static int sweep_blobs_scan(struct gc *g)
{
    gc_markset_compact(&g->mark);
    struct arena *a = arena_new(), *pa = arena_new();
    const char *root = PATH_ROOT "/blobs";
    char **algs;
    size_t nalgs;
    int rc = storage_list(g->d, a, root, &algs, &nalgs);
    if (rc == WERR_NOTFOUND) {
        rc = 0;
        nalgs = 0;
    }
    for (size_t i = 0; rc == 0 && i < nalgs; i++) {
        char **pre;
        size_t npre;
        char *adir = arena_printf(a, "%s/%s", root, algs[i]);
        if ((rc = storage_list(g->d, a, adir, &pre, &npre)) != 0) {
            if (rc == WERR_NOTFOUND || rc == WERR_INVALID) rc = 0;
            continue;
        }
        for (size_t j = 0; rc == 0 && j < npre; j++) {
            arena_reset(pa);
            char **hexes;
            size_t nh;
            char *pdir = arena_printf(pa, "%s/%s", adir, pre[j]);
            if ((rc = storage_list(g->d, pa, pdir, &hexes, &nh)) != 0) {
                if (rc == WERR_NOTFOUND || rc == WERR_INVALID) rc = 0;
                continue;
            }
            for (size_t h = 0; rc == 0 && h < nh; h++) {
                char digest[DIGEST_MAX_STR];
                int l = snprintf(digest, sizeof digest, "%s:%s", algs[i], hexes[h]);
                struct gc_key k;
                if (l < 0 || (size_t)l >= sizeof digest || digest_parse(digest, NULL, NULL) != 0 ||
                    gc_key_of(digest, &k) != 0)
                    continue;
                if (gc_markset_has(&g->mark, &k)) continue;
                struct storage_stat st;
                int src = storage_stat(g->d, arena_printf(pa, "%s/%s/data", pdir, hexes[h]), &st);
                if (src == WERR_NOTFOUND || (src == 0 && st.is_dir)) continue;
                if (src) {
                    rc = src;
                    break;
                }
                if (g->o->online && st.mtime >= g->cutoff)
                    g->st.blobs_young++;
                else
                    rc = add_cand(g, digest, st.size, 0);
            }
        }
    }
    arena_free(pa);
    arena_free(a);
    return rc;
}

/* The quarantine journal: the digests an online run renamed to data.wharf-gc,
 * written before the first rename and removed when the run ends, so a run
 * killed in between is finished by the next one without scanning. It lives
 * outside blobs/ and repositories/, where the reference never looks. */
#define JOURNAL PATH_ROOT "/_wharf_gc/quarantine"
#define JOURNAL_MAX (256u << 20)

static int journal_write(struct gc *g)
{
    struct buf b;
    buf_init(&b, JOURNAL_MAX);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < g->ncand; i++)
        rc = buf_printf(&b, "%s\n", g->cand[i].digest);
    if (rc == 0) rc = storage_put(g->d, JOURNAL, b.data ? b.data : "", b.len);
    buf_free(&b);
    return rc;
}

/* finish a killed online run: restore what is marked now, delete the rest */
static int journal_recover(struct gc *g)
{
    struct arena *a = arena_new();
    char *data;
    size_t len;
    int rc = storage_get(g->d, a, JOURNAL, JOURNAL_MAX, &data, &len);
    if (rc == WERR_NOTFOUND) {
        rc = 0;
        goto out;
    }
    if (rc) goto out;
    gc_markset_compact(&g->mark);
    for (char *line = data, *nl; rc == 0 && line < data + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(data + len - line));
        if (!nl) break;
        *nl = 0;
        struct gc_key k;
        if (gc_key_of(line, &k) != 0) continue;
        arena_reset(g->ta);
        char *qp = path_blob_quarantine(g->ta, line), *dp = path_blob_data(g->ta, line);
        struct storage_stat qs, ds;
        if (storage_stat(g->d, qp, &qs) != 0) continue;
        if (g->o->dry_run) continue;
        if (gc_markset_has(&g->mark, &k)) {
            rc = storage_stat(g->d, dp, &ds) == 0 ? storage_delete(g->d, qp)
                                                  : storage_move(g->d, qp, dp);
            g->st.restored++;
        } else {
            rc = storage_delete(g->d, qp);
            g->st.blobs_deleted++;
            g->st.bytes_freed += qs.size;
        }
        if (rc == WERR_NOTFOUND) rc = 0;
    }
    if (rc == 0 && !g->o->dry_run) {
        rc = storage_delete(g->d, JOURNAL);
        if (rc == WERR_NOTFOUND) rc = 0;
    }
out:
    arena_free(a);
    return rc;
}

/* online steps 3 and 4 (see the top of the file) for blobs and manifests */
static int sweep_online(struct gc *g, time_t recheck1)
{
    if (g->o->test_step) g->o->test_step(g->o->test_ctx, "quarantine");
    int rc = g->ncand ? journal_write(g) : 0;
    if (rc) return rc;
    for (size_t i = 0; i < g->ncand; i++) {
        struct cand *c = &g->cand[i];
        kill_point(g, "quarantine", i);
        arena_reset(g->ta);
        rc = storage_move(g->d, path_blob_data(g->ta, c->digest),
                          path_blob_quarantine(g->ta, c->digest));
        if (rc == WERR_NOTFOUND) {
            c->size = -1; /* gone meanwhile */
            rc = 0;
            continue;
        }
        if (rc) return rc;
        c->moved = 1;
    }
    kill_point(g, "settle", 0);
    if (g->o->test_step) g->o->test_step(g->o->test_ctx, "settle");
    ms_sleep(g->o->settle_ms);
    if ((rc = rescan(g, recheck1 - 1)) != 0) return rc;
    for (size_t i = 0; i < g->ndel; i++) {
        struct mdel *e = &g->del[i];
        struct gc_key k;
        if (!e->unlinked || gc_key_of(e->digest, &k) != 0 || !gc_markset_has(&g->recent, &k))
            continue;
        if ((rc = relink_manifest(g, e)) != 0) return rc;
        e->unlinked = 0;
        g->st.manifests_deleted--;
        g->st.restored++;
    }
    for (size_t i = 0; i < g->ncand; i++) {
        struct cand *c = &g->cand[i];
        if (c->size < 0) continue;
        struct gc_key k;
        arena_reset(g->ta);
        char *qp = path_blob_quarantine(g->ta, c->digest);
        if (gc_key_of(c->digest, &k) == 0 && gc_markset_has(&g->mark, &k)) {
            struct storage_stat ds;
            char *dp = path_blob_data(g->ta, c->digest);
            rc = storage_stat(g->d, dp, &ds) == 0 ? storage_delete(g->d, qp)
                                                  : storage_move(g->d, qp, dp);
            if (rc && rc != WERR_NOTFOUND) return rc;
            g->st.restored++;
            g->st.blobs_deleted--;
            g->st.bytes_freed -= c->size;
            continue;
        }
        /* only the quarantined file: a fresh upload of the same digest may
         * have created data in the directory meanwhile */
        rc = storage_delete(g->d, qp);
        if (rc && rc != WERR_NOTFOUND) return rc;
    }
    rc = g->ncand ? storage_delete(g->d, JOURNAL) : 0;
    return rc == WERR_NOTFOUND ? 0 : rc;
}

/* ---- entry points ----------------------------------------------------------- */

struct repo_walk {
    struct arena *a;
    size_t rootlen;
    char **names;
    size_t n, cap;
};

static int repo_cb(void *ctx, const char *path, const struct storage_stat *st)
{
    struct repo_walk *rw = ctx;
    if (!st->is_dir) return 0;
    const char *base = strrchr(path, '/') + 1;
    if (base[0] != '_') return 0;
    if (strcmp(base, "_manifests") == 0) {
        if (rw->n == rw->cap) {
            size_t nc = rw->cap ? rw->cap * 2 : 64;
            char **nn = arena_alloc(rw->a, nc * sizeof(char *));
            if (rw->n) memcpy(nn, rw->names, rw->n * sizeof(char *));
            rw->names = nn;
            rw->cap = nc;
        }
        const char *rel = path + rw->rootlen + 1;
        rw->names[rw->n++] = arena_strndup(rw->a, rel, strlen(rel) - strlen("/_manifests"));
    }
    return WALK_SKIP_DIR;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int gc_run(struct storage_driver *d, const struct config *cfg, const struct gc_opts *o,
           struct gc_stats *stats)
{
    struct gc g;
    memset(&g, 0, sizeof g);
    g.d = d;
    g.cfg = cfg;
    g.o = o;
    g.t0 = time(NULL);
    g.cutoff = g.t0 - (o->online ? (o->grace > 0 ? o->grace : 0) : 0);
    g.ta = arena_new();
    g.kill_at = getenv("WHARF_GC_TEST_KILL");
    struct arena *ra = arena_new(), *la = arena_new();
    int rc;
    if (!o->dry_run && (rc = gc_lock(&g)) != 0) goto out;

    /* mark */
    struct repo_walk rw = {.a = la};
    const char *root = path_repos(la);
    rw.rootlen = strlen(root);
    rc = storage_walk(d, root, repo_cb, &rw);
    if (rc == WERR_NOTFOUND) rc = 0;
    if (rc) goto out;
    if (rw.n) qsort(rw.names, rw.n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < rw.n; i++) {
        arena_reset(ra);
        g.st.repos++;
        if ((rc = gc_repo(&g, ra, rw.names[i])) != 0) goto out;
    }
    gc_markset_compact(&g.mark);
    g.st.marked = g.mark.n;

    time_t recheck1 = time(NULL);
    if (o->online && (rc = rescan(&g, g.cutoff)) != 0) goto out;

    /* sweep manifests */
    for (size_t i = 0; i < g.ndel; i++) {
        struct gc_key k;
        if (o->online && gc_key_of(g.del[i].digest, &k) == 0 && gc_markset_has(&g.recent, &k))
            continue;
        if (!o->dry_run) kill_point(&g, "manifest", g.st.manifests_deleted);
        g.st.manifests_deleted++;
        if (!o->dry_run && (rc = unlink_manifest(&g, &g.del[i])) != 0) goto out;
    }

    /* sweep blobs */
    if ((rc = journal_recover(&g)) != 0) goto out;
    if ((rc = sweep_blobs_scan(&g)) != 0) goto out;
    for (size_t i = 0; i < g.ncand; i++) {
        g.st.blobs_deleted++;
        g.st.bytes_freed += g.cand[i].size;
    }
    emit(&g, 0, "\n%zu blobs marked, %zu blobs and %zu manifests eligible for deletion",
         g.st.marked, g.st.blobs_deleted, g.st.manifests_deleted);
    for (size_t i = 0; i < g.ncand; i++)
        emit(&g, 1, "blob eligible for deletion: %s", g.cand[i].digest);
    if (o->dry_run) goto out;
    if (o->online) {
        rc = sweep_online(&g, recheck1);
        goto out;
    }
    for (size_t i = 0; i < g.ncand; i++) {
        kill_point(&g, "blob", i);
        arena_reset(g.ta);
        rc = storage_delete(d, path_blob_dir(g.ta, g.cand[i].digest));
        if (rc && rc != WERR_NOTFOUND) goto out;
        rc = 0;
    }
out:
    gc_unlock(&g);
    if (stats) *stats = g.st;
    for (size_t i = 0; i < g.ndel; i++) {
        free(g.del[i].repo);
        free(g.del[i].digest);
        free(g.del[i].subject);
    }
    free(g.del);
    for (size_t i = 0; i < g.ncand; i++)
        free(g.cand[i].digest);
    free(g.cand);
    gc_markset_free(&g.mark);
    gc_markset_free(&g.recent);
    arena_free(g.ta);
    arena_free(ra);
    arena_free(la);
    return rc;
}

/* ---- upload purging ----------------------------------------------------------- */

struct purge {
    struct storage_driver *d;
    struct arena *a;
    time_t older;
    int dry_run;
    size_t n;
    int rc;
};

static int purge_cb(void *ctx, const char *path, const struct storage_stat *st)
{
    struct purge *p = ctx;
    if (!st->is_dir) return 0;
    const char *base = strrchr(path, '/') + 1;
    if (base[0] != '_') return 0;
    if (strcmp(base, "_uploads") != 0) return WALK_SKIP_DIR;
    arena_reset(p->a);
    char **ids;
    size_t n;
    if (storage_list(p->d, p->a, path, &ids, &n) != 0) return WALK_SKIP_DIR;
    for (size_t i = 0; i < n; i++) {
        char *dir = arena_printf(p->a, "%s/%s", path, ids[i]);
        char *ts;
        size_t tl;
        time_t started = (time_t)-1;
        if (storage_get(p->d, p->a, arena_printf(p->a, "%s/startedat", dir), 128, &ts, &tl) == 0) {
            struct tm tm;
            memset(&tm, 0, sizeof tm);
            if (strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm)) started = timegm(&tm);
        }
        if (started == (time_t)-1) {
            struct storage_stat ds;
            if (storage_stat(p->d, dir, &ds) != 0) continue;
            started = ds.mtime;
        }
        if (started >= p->older) continue;
        log_info("upload purging: %s%s (started %lds ago)", p->dry_run ? "would remove " : "", dir,
                 (long)(time(NULL) - started));
        if (!p->dry_run) {
            int rc = storage_delete(p->d, dir);
            if (rc && rc != WERR_NOTFOUND) {
                p->rc = rc;
                return 1;
            }
        }
        p->n++;
    }
    return WALK_SKIP_DIR;
}

int gc_purge_uploads(struct storage_driver *d, long age, int dry_run, size_t *purged)
{
    struct purge p = {.d = d, .a = arena_new(), .older = time(NULL) - age, .dry_run = dry_run};
    struct arena *a = arena_new();
    int rc = storage_walk(d, path_repos(a), purge_cb, &p);
    arena_free(a);
    arena_free(p.a);
    if (rc == WERR_NOTFOUND) rc = 0;
    if (p.rc) rc = p.rc;
    if (purged) *purged = p.n;
    return rc;
}

int gc_collect(const struct config *cfg, const struct gc_opts *o, struct gc_stats *st, char *err,
               size_t errlen)
{
    struct storage_driver *d = NULL;
    struct bdcache *cache = NULL;
    int rc = storage_open(cfg, &d, &cache, err, errlen);
    if (rc) return rc;
    rc = gc_run(d, cfg, o, st);
    if (rc) snprintf(err, errlen, "%s", werr_str(rc));
    storage_driver_free(d);
    bdcache_free(cache);
    return rc;
}
