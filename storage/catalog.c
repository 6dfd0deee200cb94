/* catalog.c — the repository index behind _catalog, the repository list and
 * search, see catalog.h (the layout, the invariants and why they hold) and
 * docs/catalog.md.
 *
 * Two per-process caches make a request cheap without ever being the truth:
 * - names (local drivers): the sorted names of the markers, taken from one
 *   listing and used while the directory's mtime is unchanged and the copy was
 *   taken in a later second than that mtime (a change within the same second
 *   would not move it); a page is then a binary search, O(page size);
 * - summaries (search, every driver): what search matches on, per marker,
 *   re-read when the marker's mtime or size moved, and while it was read
 *   within its mtime's second (a rewrite within the same second keeps the
 *   mtime) — on object stores, less than CLOCK_SKEW_S after it (the store's
 *   clock may differ from this host's).
 * Both are rebuilt from the markers alone; a lost cache costs time only. */
#include "catalog.h"

#include "../lib/err.h"
#include "../lib/log.h"
#include "manifest.h"
#include "paths.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CATALOG_NAME_MAX 256   /* bytes of a name (or of `last`) that are encoded */
#define MARKER_MAX (16u << 20) /* bytes of a marker read back */
#define CONFIG_MAX (1u << 20)  /* bytes of an image config read for its labels */
#define MANIFESTS_MAX 100000   /* manifests described in one marker */
#define LOCK_TTL_S 15          /* a dead holder's lease keeps others out this long */
#define LOCK_WAIT_MS 3000      /* then the update goes on without the lock */
#define SCAN_CHUNK 1000        /* names read per listing by list and search */
#define READY_VERSION "v2"     /* the marker format catalog.ready vouches for */
#define CLOCK_SKEW_S 30        /* a marker's mtime (the store's clock) vs this host's */
#define DIGEST_PREFIX_MIN 12   /* hex digits of a digest prefix search accepts */

/* the driver whose index was seen complete by this process (one request
 * fewer per page afterwards); a process serves one driver */
static _Atomic(const struct storage_driver *) ready_for;

int catalog_index_enabled(const struct registry *r)
{
    return r->cfg != NULL;
}

/* ---- marker names ---- */

static char *hex_of(struct arena *a, const char *s)
{
    static const char hx[] = "0123456789abcdef";
    size_t l = strnlen(s, CATALOG_NAME_MAX);
    char *o = arena_alloc(a, 2 * l + 1);
    for (size_t i = 0; i < l; i++) {
        o[2 * i] = hx[(unsigned char)s[i] >> 4];
        o[2 * i + 1] = hx[(unsigned char)s[i] & 15];
    }
    o[2 * l] = 0;
    return o;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* the name a marker's file name encodes, or NULL for anything else */
static char *name_of(struct arena *a, const char *h)
{
    size_t l = strlen(h);
    if (l == 0 || l % 2 || l > 2 * CATALOG_NAME_MAX) return NULL;
    char *o = arena_alloc(a, l / 2 + 1);
    for (size_t i = 0; i < l / 2; i++) {
        int x = hexval(h[2 * i]), y = hexval(h[2 * i + 1]);
        if (x < 0 || y < 0 || (x | y) == 0) return NULL;
        o[i] = (char)(x << 4 | y);
    }
    o[l / 2] = 0;
    return o;
}

static char *marker_path(struct arena *a, const char *repo)
{
    return arena_printf(a, "%s/%s", CATALOG_DIR, hex_of(a, repo));
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* ---- a repository's summary: what a marker holds ---- */

struct man { /* one manifest its tags reach */
    const char *digest;
    int64_t size; /* of its body */
    size_t nblob; /* config and layers of an image */
    const char **blob;
    int64_t *bsize;
    size_t nlabel; /* its config's Labels */
    const char **lk, **lv;
    size_t nchild; /* an index's manifests */
    const char **child;
};

struct summary {
    const char *name;
    time_t last_push;
    size_t ntag; /* sorted by tag */
    const char **tag, **tagdg;
    size_t nman; /* sorted by digest */
    struct man *man;
    size_t ndangling; /* tag directories without a readable current link, sorted */
    const char **dangling;
};

static int cmp_man(const void *x, const void *y)
{
    return strcmp(((const struct man *)x)->digest, ((const struct man *)y)->digest);
}

static const struct man *man_find(const struct summary *s, const char *digest)
{
    if (!s || !s->nman) return NULL;
    struct man key = {.digest = digest};
    return bsearch(&key, s->man, s->nman, sizeof key, cmp_man);
}

static const char *jstr(struct arena *a, struct json_object *o)
{
    return json_object_is_type(o, json_type_string) ? arena_strdup(a, json_object_get_string(o))
                                                    : NULL;
}

/* parse_summary: a marker's content. WERR_INVALID for anything but this
 * format (issue 7's name-only markers included). */
static int parse_summary(struct arena *a, const char *data, size_t len, struct summary *s)
{
    memset(s, 0, sizeof *s);
    if (!len || data[0] != '{') return WERR_INVALID;
    struct json_tokener *tk = json_tokener_new_ex(32);
    if (!tk) return WERR_NOMEM;
    struct json_object *root = json_tokener_parse_ex(tk, data, (int)len);
    json_tokener_free(tk);
    int rc = WERR_INVALID;
    struct json_object *v, *tags, *mans;
    if (!root || !json_object_is_type(root, json_type_object)) goto out;
    if (!json_object_object_get_ex(root, "v", &v) || json_object_get_int(v) != 2) goto out;
    if (!json_object_object_get_ex(root, "name", &v) || !(s->name = jstr(a, v))) goto out;
    if (json_object_object_get_ex(root, "last_push", &v))
        s->last_push = (time_t)json_object_get_int64(v);
    if (json_object_object_get_ex(root, "tags", &tags) &&
        json_object_is_type(tags, json_type_object)) {
        size_t n = (size_t)json_object_object_length(tags), i = 0;
        s->tag = arena_alloc(a, (n + 1) * sizeof *s->tag);
        s->tagdg = arena_alloc(a, (n + 1) * sizeof *s->tagdg);
        json_object_object_foreach(tags, k, dv)
        {
            const char *d = jstr(a, dv);
            if (!d) continue;
            s->tag[i] = arena_strdup(a, k);
            s->tagdg[i++] = d;
        }
        s->ntag = i;
    }
    if (json_object_object_get_ex(root, "dangling", &v) &&
        json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        s->dangling = arena_alloc(a, (n + 1) * sizeof *s->dangling);
        for (size_t i = 0; i < n; i++) {
            const char *d = jstr(a, json_object_array_get_idx(v, i));
            if (d) s->dangling[s->ndangling++] = d;
        }
    }
    if (json_object_object_get_ex(root, "manifests", &mans) &&
        json_object_is_type(mans, json_type_object)) {
        size_t n = (size_t)json_object_object_length(mans), i = 0;
        s->man = arena_zalloc(a, (n + 1) * sizeof *s->man);
        json_object_object_foreach(mans, dg, mo)
        {
            if (!json_object_is_type(mo, json_type_object)) continue;
            struct man *m = &s->man[i++];
            m->digest = arena_strdup(a, dg);
            struct json_object *x;
            if (json_object_object_get_ex(mo, "size", &x)) m->size = json_object_get_int64(x);
            if (json_object_object_get_ex(mo, "blobs", &x) &&
                json_object_is_type(x, json_type_object)) {
                size_t bn = (size_t)json_object_object_length(x);
                m->blob = arena_alloc(a, (bn + 1) * sizeof *m->blob);
                m->bsize = arena_alloc(a, (bn + 1) * sizeof *m->bsize);
                json_object_object_foreach(x, bd, bs)
                {
                    m->blob[m->nblob] = arena_strdup(a, bd);
                    m->bsize[m->nblob++] = json_object_get_int64(bs);
                }
            }
            if (json_object_object_get_ex(mo, "labels", &x) &&
                json_object_is_type(x, json_type_object)) {
                size_t ln = (size_t)json_object_object_length(x);
                m->lk = arena_alloc(a, (ln + 1) * sizeof *m->lk);
                m->lv = arena_alloc(a, (ln + 1) * sizeof *m->lv);
                json_object_object_foreach(x, lk, lvo)
                {
                    const char *lv = jstr(a, lvo);
                    if (!lv) continue;
                    m->lk[m->nlabel] = arena_strdup(a, lk);
                    m->lv[m->nlabel++] = lv;
                }
            }
            if (json_object_object_get_ex(mo, "children", &x) &&
                json_object_is_type(x, json_type_array)) {
                size_t cn = json_object_array_length(x);
                m->child = arena_alloc(a, (cn + 1) * sizeof *m->child);
                for (size_t j = 0; j < cn; j++) {
                    const char *c = jstr(a, json_object_array_get_idx(x, j));
                    if (c) m->child[m->nchild++] = c;
                }
            }
        }
        s->nman = i;
        if (i) qsort(s->man, i, sizeof *s->man, cmp_man);
    }
    rc = 0;
out:
    if (root) json_object_put(root);
    return rc;
}

/* serialize: the marker's content; deterministic (tags and manifests
 * sorted), so equal summaries give equal bytes */
static char *serialize(struct arena *a, const struct summary *s)
{
    struct json_object *root = json_object_new_object(), *tags = json_object_new_object(),
                       *mans = json_object_new_object();
    json_object_object_add(root, "v", json_object_new_int(2));
    json_object_object_add(root, "name", json_object_new_string(s->name));
    json_object_object_add(root, "last_push", json_object_new_int64((int64_t)s->last_push));
    for (size_t i = 0; i < s->ntag; i++)
        json_object_object_add(tags, s->tag[i], json_object_new_string(s->tagdg[i]));
    json_object_object_add(root, "tags", tags);
    for (size_t i = 0; i < s->nman; i++) {
        const struct man *m = &s->man[i];
        struct json_object *mo = json_object_new_object();
        json_object_object_add(mo, "size", json_object_new_int64(m->size));
        if (m->nblob) {
            struct json_object *b = json_object_new_object();
            for (size_t j = 0; j < m->nblob; j++)
                json_object_object_add(b, m->blob[j], json_object_new_int64(m->bsize[j]));
            json_object_object_add(mo, "blobs", b);
        }
        if (m->nlabel) {
            struct json_object *l = json_object_new_object();
            for (size_t j = 0; j < m->nlabel; j++)
                json_object_object_add(l, m->lk[j], json_object_new_string(m->lv[j]));
            json_object_object_add(mo, "labels", l);
        }
        if (m->nchild) {
            struct json_object *c = json_object_new_array();
            for (size_t j = 0; j < m->nchild; j++)
                json_object_array_add(c, json_object_new_string(m->child[j]));
            json_object_object_add(mo, "children", c);
        }
        json_object_object_add(mans, m->digest, mo);
    }
    json_object_object_add(root, "manifests", mans);
    if (s->ndangling) {
        struct json_object *d = json_object_new_array();
        for (size_t i = 0; i < s->ndangling; i++)
            json_object_array_add(d, json_object_new_string(s->dangling[i]));
        json_object_object_add(root, "dangling", d);
    }
    char *out = arena_strdup(a, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    return out;
}

/* summary_size: the distinct manifests' bodies and distinct blobs */
static int64_t summary_size(struct arena *a, const struct summary *s)
{
    size_t nb = 0;
    int64_t total = 0;
    for (size_t i = 0; i < s->nman; i++)
        nb += s->man[i].nblob;
    struct bs {
        const char *d;
        int64_t size;
    } *v = arena_alloc(a, (nb + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < s->nman; i++) {
        total += s->man[i].size;
        for (size_t j = 0; j < s->man[i].nblob; j++)
            v[k++] = (struct bs){s->man[i].blob[j], s->man[i].bsize[j]};
    }
    if (k) qsort(v, k, sizeof *v, cmp_str); /* d is the first member */
    for (size_t i = 0; i < k; i++)
        if (i == 0 || strcmp(v[i].d, v[i - 1].d)) total += v[i].size;
    return total;
}

/* ---- a summary from storage ---- */

/* labels: an image config's config.Labels (Docker and OCI alike) */
static void config_labels(struct registry *r, struct arena *a, const char *digest, struct man *m)
{
    char *body;
    size_t len;
    if (storage_get(r->d, a, path_blob_data(a, digest), CONFIG_MAX, &body, &len) != 0) return;
    struct json_tokener *tk = json_tokener_new_ex(64);
    if (!tk) return;
    struct json_object *root = json_tokener_parse_ex(tk, body, (int)len), *c, *l;
    json_tokener_free(tk);
    if (root && json_object_is_type(root, json_type_object) &&
        json_object_object_get_ex(root, "config", &c) && json_object_is_type(c, json_type_object) &&
        json_object_object_get_ex(c, "Labels", &l) && json_object_is_type(l, json_type_object)) {
        size_t n = (size_t)json_object_object_length(l);
        m->lk = arena_alloc(a, (n + 1) * sizeof *m->lk);
        m->lv = arena_alloc(a, (n + 1) * sizeof *m->lv);
        json_object_object_foreach(l, k, v)
        {
            if (!json_object_is_type(v, json_type_string)) continue;
            m->lk[m->nlabel] = arena_strdup(a, k);
            m->lv[m->nlabel++] = arena_strdup(a, json_object_get_string(v));
        }
    }
    if (root) json_object_put(root);
}

/* describe: a manifest's entry from its stored body; WERR_NOTFOUND when the
 * body is not stored (a child an index names but this registry skipped) */
static int describe(struct registry *r, struct arena *a, const char *digest, struct man *m)
{
    memset(m, 0, sizeof *m);
    m->digest = arena_strdup(a, digest);
    char *body;
    size_t len;
    size_t max = r->cfg && r->cfg->manifest_max ? r->cfg->manifest_max : 4u << 20;
    int rc = storage_get(r->d, a, path_blob_data(a, digest), max, &body, &len);
    if (rc == WERR_NOTFOUND)
        rc = storage_get(r->d, a, path_blob_quarantine(a, digest), max, &body, &len);
    if (rc) return rc == WERR_TOOBIG ? WERR_INVALID : rc;
    m->size = (int64_t)len;
    struct manifest_info mi;
    const char *detail;
    rc = manifest_parse(a, body, len, NULL, &mi, &detail);
    if (rc && !(rc == WERR_UNSUPPORTED && mi.kind == MF_SCHEMA1)) return 0; /* listed, opaque */
    if (manifest_is_index(mi.kind)) {
        m->child = arena_alloc(a, (mi.nrefs + 1) * sizeof *m->child);
        for (size_t i = 0; i < mi.nrefs; i++)
            m->child[m->nchild++] = mi.refs[i].digest;
        return 0;
    }
    m->blob = arena_alloc(a, (mi.nrefs + 2) * sizeof *m->blob);
    m->bsize = arena_alloc(a, (mi.nrefs + 2) * sizeof *m->bsize);
    if (mi.has_config) {
        m->blob[m->nblob] = mi.config.digest;
        m->bsize[m->nblob++] = mi.config.size;
        config_labels(r, a, mi.config.digest, m);
    }
    for (size_t i = 0; i < mi.nrefs; i++) {
        if (mi.kind == MF_SCHEMA1 && m->nblob && !strcmp(m->blob[m->nblob - 1], mi.refs[i].digest))
            continue; /* schema 1 repeats empty layers */
        m->blob[m->nblob] = mi.refs[i].digest;
        m->bsize[m->nblob++] = mi.refs[i].size;
    }
    return 0;
}

static int has_manifests(struct registry *r, struct arena *a, const char *repo)
{
    struct storage_stat st;
    return storage_stat(r->d, arena_printf(a, "%s/_manifests", path_repo(a, repo)), &st) == 0 &&
           st.is_dir;
}

/* manifests_of: s->man from s's tag digests: the tagged manifests, then the
 * children of indexes, rounds until no new digest appears (bounded); those
 * `old` describes are taken from it (content-addressed: they cannot differ) */
static int manifests_of(struct registry *r, struct arena *a, const struct summary *old,
                        struct summary *s)
{
    s->man = NULL;
    s->nman = 0;
    size_t want = s->ntag, cap = 0;
    const char **todo = arena_alloc(a, (want + 1) * sizeof *todo);
    for (size_t i = 0; i < s->ntag; i++)
        todo[i] = s->tagdg[i];
    for (int round = 0; want && round < 4; round++) {
        qsort(todo, want, sizeof *todo, cmp_str);
        size_t cap_need = s->nman + want;
        if (cap_need > MANIFESTS_MAX) break;
        if (cap_need > cap) {
            struct man *nm = arena_alloc(a, (cap_need + 1) * sizeof *nm);
            if (s->nman) memcpy(nm, s->man, s->nman * sizeof *nm);
            s->man = nm;
            cap = cap_need;
        }
        size_t sorted = s->nman;
        for (size_t i = 0; i < want; i++) {
            if (i && !strcmp(todo[i], todo[i - 1])) continue;
            struct summary done = {.nman = sorted, .man = s->man};
            if (man_find(&done, todo[i])) continue;
            const struct man *o = man_find(old, todo[i]);
            if (o) {
                s->man[s->nman++] = *o;
                continue;
            }
            int rc = describe(r, a, todo[i], &s->man[s->nman]);
            if (rc == WERR_NOTFOUND || rc == WERR_INVALID) continue;
            if (rc) return rc;
            s->nman++;
        }
        size_t nchild = 0;
        for (size_t i = 0; i < s->nman; i++)
            nchild += s->man[i].nchild;
        qsort(s->man, s->nman, sizeof *s->man, cmp_man);
        todo = arena_alloc(a, (nchild + 1) * sizeof *todo);
        want = 0;
        for (size_t i = 0; i < s->nman; i++) /* qsort moved the new ones: all of them */
            for (size_t j = 0; j < s->man[i].nchild; j++)
                if (!man_find(s, s->man[i].child[j])) todo[want++] = s->man[i].child[j];
    }
    return 0;
}

/* compute: repo's summary as storage holds it now; *present 0 when repo has
 * no _manifests (no marker then). With mtimes, last_push is the newest tag
 * link's mtime (for a marker that never saw a push). lk (may be NULL) is
 * renewed as tags are read. */
static int compute(struct registry *r, struct arena *a, const char *repo, const struct summary *old,
                   int mtimes, struct storage_lock *lk, struct summary *s, int *present)
{
    memset(s, 0, sizeof *s);
    s->name = arena_strdup(a, repo);
    *present = has_manifests(r, a, repo);
    if (!*present) return 0;
    char **tags;
    size_t nt;
    int rc = storage_list(r->d, a, path_tags(a, repo), &tags, &nt);
    if (rc == WERR_NOTFOUND) tags = NULL, nt = 0, rc = 0;
    if (rc) return rc;
    s->tag = arena_alloc(a, (nt + 1) * sizeof *s->tag);
    s->tagdg = arena_alloc(a, (nt + 1) * sizeof *s->tagdg);
    s->dangling = arena_alloc(a, (nt + 1) * sizeof *s->dangling);
    for (size_t i = 0; i < nt; i++) {
        char *dg;
        const char *cur = path_tag_current(a, repo, tags[i]);
        if (i % 64 == 63 && lk) storage_lock_renew(lk);
        rc = registry_read_link(r, a, cur, &dg);
        if (rc == WERR_NOTFOUND || rc == WERR_INVALID) { /* being deleted, or a crash's */
            s->dangling[s->ndangling++] = tags[i];
            continue;
        }
        if (rc) return rc;
        s->tag[s->ntag] = tags[i];
        s->tagdg[s->ntag++] = dg;
        struct storage_stat st;
        if (mtimes && storage_stat(r->d, cur, &st) == 0 && st.mtime > s->last_push)
            s->last_push = st.mtime;
    }
    return manifests_of(r, a, old, s);
}

/* ---- reading markers ---- */

/* read_marker: repo's marker: *raw its bytes, s parsed (s->name NULL: an
 * issue 7 marker holding only the name). WERR_NOTFOUND when absent. */
static int read_marker(struct registry *r, struct arena *a, const char *repo, char **raw,
                       struct summary *s)
{
    size_t len;
    int rc = storage_get(r->d, a, marker_path(a, repo), MARKER_MAX, raw, &len);
    if (rc) return rc;
    if (parse_summary(a, *raw, len, s) != 0) memset(s, 0, sizeof *s);
    return 0;
}

enum refresh_outcome { RF_SAME, RF_ADDED, RF_UPDATED, RF_REMOVED, RF_ABSENT };

/* repo_lock: the repository's lock where locks are cheap (a flock on local
 * drivers); NULL elsewhere: an object store's lease costs a quarter second
 * per manifest put, so there each writer verifies what it wrote instead
 * (written_ok) */
static struct storage_lock *repo_lock(struct registry *r, struct arena *a, const char *repo)
{
    if (!r->cfg || CONFIG_OBJSTORE(r->cfg)) return NULL;
    struct storage_lock *lk = NULL;
    int rc = storage_lock(r->d, a, path_lock(a, arena_printf(a, "catalog/%s", hex_of(a, repo))),
                          LOCK_TTL_S, LOCK_WAIT_MS, &lk);
    if (rc == WERR_BUSY)
        log_warn("catalog: %s: its lock was held for %d ms; updating without it", repo,
                 LOCK_WAIT_MS);
    else if (rc && rc != WERR_UNSUPPORTED)
        log_warn("catalog: %s: no lock (%s); updating without it", repo, werr_str(rc));
    return rc ? NULL : lk;
}

/* written_ok: the tags s names are those storage lists now. A writer that
 * raced another (no lock), or followed a crash that lost a marker update,
 * finds a difference here and recomputes. */
static int written_ok(struct registry *r, struct arena *a, const struct summary *s)
{
    char **tags;
    size_t nt;
    int rc = storage_list(r->d, a, path_tags(a, s->name), &tags, &nt);
    if (rc == WERR_NOTFOUND) nt = 0, rc = 0;
    if (rc) return 1; /* unknown: the next change or a rebuild will tell */
    if (nt != s->ntag + s->ndangling) return 0;
    size_t i = 0, d = 0; /* storage's list is the merge of tags and dangling */
    for (size_t k = 0; k < nt; k++) {
        if (i < s->ntag && !strcmp(tags[k], s->tag[i]))
            i++;
        else if (d < s->ndangling && !strcmp(tags[k], s->dangling[d]))
            d++;
        else
            return 0;
    }
    return 1;
}

/* refresh_once: make repo's marker agree with storage (dry_run: only say
 * what would change); *now what was written (name NULL: nothing) */
static int refresh_once(struct registry *r, struct arena *a, const char *repo, int pushed,
                        int dry_run, struct storage_lock *lk, enum refresh_outcome *out,
                        struct summary *now)
{
    char *raw = NULL;
    struct summary old;
    memset(now, 0, sizeof *now);
    int had = read_marker(r, a, repo, &raw, &old);
    if (had && had != WERR_NOTFOUND) return had;
    int old_ok = had == 0 && old.name && !strcmp(old.name, repo);
    int present;
    int rc =
        compute(r, a, repo, old_ok ? &old : NULL, !old_ok || !old.last_push, lk, now, &present);
    if (rc) return rc;
    if (!present) {
        now->name = NULL;
        *out = had == 0 ? RF_REMOVED : RF_ABSENT;
        return had == 0 && !dry_run ? catalog_unmark(r, a, repo) : 0;
    }
    if (old_ok && old.last_push > now->last_push) now->last_push = old.last_push;
    if (pushed) now->last_push = time(NULL);
    char *text = serialize(a, now);
    if (had == 0 && !strcmp(raw, text)) {
        *out = RF_SAME;
        return 0;
    }
    *out = had == 0 ? RF_UPDATED : RF_ADDED;
    return dry_run ? 0 : storage_put(r->d, marker_path(a, repo), text, strlen(text));
}

#define VERIFY_ROUNDS 3

/* refresh: refresh_once, then (unless dry_run) verified: recomputed while
 * storage lists other tags than were written, a few rounds at most */
static int refresh(struct registry *r, struct arena *a, const char *repo, int pushed, int dry_run,
                   enum refresh_outcome *out)
{
    struct storage_lock *lk = dry_run ? NULL : repo_lock(r, a, repo);
    struct summary now;
    int rc = 0;
    for (int round = 0; round < VERIFY_ROUNDS; round++) {
        enum refresh_outcome o;
        if ((rc = refresh_once(r, a, repo, pushed, dry_run, lk, &o, &now)) != 0) break;
        if (round == 0) *out = o;
        if (dry_run || !now.name || written_ok(r, a, &now)) break;
    }
    storage_unlock(lk);
    return rc;
}

int catalog_update(struct registry *r, struct arena *a, const char *repo, int pushed)
{
    enum refresh_outcome o;
    return refresh(r, a, repo, pushed, 0, &o);
}

/* merge_listed: now's tags from the tags storage lists (read under the
 * repository's lock, after this put's links): `tag` at `digest`, a tag old
 * has at old's digest (a writer that moved it fixes it under the lock
 * itself), any other read from its link (a put that landed meanwhile: one
 * marker write for all of them). */
static int merge_listed(struct registry *r, struct arena *a, const char *repo,
                        const struct summary *old, const char *tag, const char *digest,
                        struct summary *now)
{
    char **tags;
    size_t nt;
    int rc = storage_list(r->d, a, path_tags(a, repo), &tags, &nt);
    if (rc == WERR_NOTFOUND) tags = NULL, nt = 0, rc = 0;
    if (rc) return rc;
    now->tag = arena_alloc(a, (nt + 2) * sizeof *now->tag);
    now->tagdg = arena_alloc(a, (nt + 2) * sizeof *now->tagdg);
    now->dangling = arena_alloc(a, (nt + 1) * sizeof *now->dangling);
    now->ntag = now->ndangling = 0;
    int seen = 0;
    size_t j = 0;
    for (size_t i = 0; i <= nt; i++) {
        /* ours, in order, even if the listing lags behind its links */
        if (!seen && (i == nt || strcmp(tag, tags[i]) <= 0)) {
            now->tag[now->ntag] = arena_strdup(a, tag);
            now->tagdg[now->ntag++] = arena_strdup(a, digest);
            seen = 1;
            if (i < nt && !strcmp(tag, tags[i])) continue;
        }
        if (i == nt) break;
        while (j < old->ntag && strcmp(old->tag[j], tags[i]) < 0)
            j++;
        if (j < old->ntag && !strcmp(old->tag[j], tags[i])) {
            now->tag[now->ntag] = old->tag[j];
            now->tagdg[now->ntag++] = old->tagdg[j];
            continue;
        }
        char *dg;
        rc = registry_read_link(r, a, path_tag_current(a, repo, tags[i]), &dg);
        if (rc == WERR_NOTFOUND || rc == WERR_INVALID) {
            now->dangling[now->ndangling++] = tags[i];
            continue;
        }
        if (rc) return rc;
        now->tag[now->ntag] = tags[i];
        now->tagdg[now->ntag++] = dg;
    }
    return 0;
}

int catalog_pushed(struct registry *r, struct arena *a, const char *repo, const char *tag,
                   const char *digest)
{
    struct storage_lock *lk = repo_lock(r, a, repo);
    char *raw = NULL;
    struct summary old, now;
    int rc = read_marker(r, a, repo, &raw, &old);
    if (rc && rc != WERR_NOTFOUND) goto out;
    time_t t = time(NULL);
    if (rc || !old.name || strcmp(old.name, repo)) { /* none yet, or unreadable: all of it */
        storage_unlock(lk);
        return catalog_update(r, a, repo, 1);
    }
    if (!tag && old.last_push >= t - 60) { /* by digest: its tag push will follow */
        rc = 0;
        goto out;
    }
    now = old;
    now.last_push = t;
    if (lk && tag) { /* under the lock: coalesced with the puts that landed meanwhile */
        for (size_t i = 0; i < old.ntag; i++) {
            if (strcmp(old.tag[i], tag)) continue;
            if (!strcmp(old.tagdg[i], digest)) goto out; /* a writer before us listed it */
            break;
        }
        if ((rc = merge_listed(r, a, repo, &old, tag, digest, &now)) != 0) goto out;
        if ((rc = manifests_of(r, a, &old, &now)) != 0) goto out;
        char *text = serialize(a, &now);
        rc = storage_put(r->d, marker_path(a, repo), text, strlen(text));
        goto out;
    }
    /* the old summary with this tag set (tags stay sorted) */
    if (tag) {
        now.tag = arena_alloc(a, (old.ntag + 1) * sizeof *now.tag);
        now.tagdg = arena_alloc(a, (old.ntag + 1) * sizeof *now.tagdg);
        size_t k = 0, i = 0;
        for (; i < old.ntag && strcmp(old.tag[i], tag) < 0; i++, k++)
            now.tag[k] = old.tag[i], now.tagdg[k] = old.tagdg[i];
        now.tag[k] = arena_strdup(a, tag), now.tagdg[k++] = arena_strdup(a, digest);
        if (i < old.ntag && !strcmp(old.tag[i], tag)) i++;
        for (; i < old.ntag; i++, k++)
            now.tag[k] = old.tag[i], now.tagdg[k] = old.tagdg[i];
        now.ntag = k;
        now.dangling = arena_alloc(a, (old.ndangling + 1) * sizeof *now.dangling);
        now.ndangling = 0;
        for (i = 0; i < old.ndangling; i++)
            if (strcmp(old.dangling[i], tag)) now.dangling[now.ndangling++] = old.dangling[i];
        if ((rc = manifests_of(r, a, &old, &now)) != 0) goto out;
    }
    char *text = serialize(a, &now);
    if ((rc = storage_put(r->d, marker_path(a, repo), text, strlen(text))) != 0) goto out;
    if (!written_ok(r, a, &now)) { /* a racing writer or a lost update: all of it */
        enum refresh_outcome o;
        struct summary w;
        for (int round = 0; round < VERIFY_ROUNDS; round++) {
            if ((rc = refresh_once(r, a, repo, 1, 0, lk, &o, &w)) != 0) break;
            if (!w.name || written_ok(r, a, &w)) break;
        }
    }
out:
    storage_unlock(lk);
    return rc;
}

int catalog_mark(struct registry *r, struct arena *a, const char *repo)
{
    return catalog_update(r, a, repo, 0);
}

int catalog_unmark(struct registry *r, struct arena *a, const char *repo)
{
    int rc = storage_delete(r->d, marker_path(a, repo));
    return rc == WERR_NOTFOUND ? 0 : rc;
}

/* ---- names from the index and from the store ---- */

struct names {
    struct arena *a;
    char **v;
    size_t n, cap;
};

static void names_add(struct names *l, char *s)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        char **nv = arena_alloc(l->a, nc * sizeof *nv);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = s;
}

/* index_read: up to max names after last from the markers (several listing
 * calls only when the driver returns short pages) */
static int index_read(struct registry *r, struct arena *a, const char *last, size_t max,
                      struct names *out, int *more)
{
    const char *after = last && *last ? hex_of(a, last) : NULL;
    *more = 0;
    for (;;) {
        char **v;
        size_t k;
        size_t want = max - out->n;
        int rc = storage_list_page(r->d, a, CATALOG_DIR, after, want, &v, &k, more);
        if (rc) return rc;
        for (size_t i = 0; i < k; i++) {
            char *nm = name_of(a, v[i]);
            if (nm) names_add(out, nm);
        }
        if (k) after = v[k - 1];
        if (!*more || out->n >= max || k == 0) break;
    }
    return 0;
}

/* The names cache of local drivers (see the top). */
static pthread_mutex_t nc_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const struct storage_driver *d;
    time_t mtime, taken;
    char **v; /* malloc'd, sorted by name */
    size_t n;
} ncache;

static void nc_drop(void)
{
    for (size_t i = 0; i < ncache.n; i++)
        free(ncache.v[i]);
    free(ncache.v);
    ncache.v = NULL;
    ncache.n = 0;
    ncache.d = NULL;
}

/* nc_page: the names-cache answer; the caller holds nc_mu */
static int nc_page(struct registry *r, struct arena *a, const char *last, size_t max,
                   struct names *out, int *more)
{
    struct storage_stat st;
    int rc = storage_stat(r->d, CATALOG_DIR, &st);
    if (rc == WERR_NOTFOUND) {
        *more = 0;
        return 0;
    }
    if (rc) return rc;
    if (ncache.d != r->d || ncache.mtime != st.mtime || ncache.taken <= st.mtime) {
        time_t taken = time(NULL);
        struct arena *t = arena_new();
        char **v;
        size_t k;
        rc = storage_list(r->d, t, CATALOG_DIR, &v, &k);
        if (rc == WERR_NOTFOUND) k = 0, rc = 0;
        if (rc) {
            arena_free(t);
            return rc;
        }
        nc_drop();
        ncache.v = xmalloc((k + 1) * sizeof *ncache.v);
        for (size_t i = 0; i < k; i++) {
            char *nm = name_of(t, v[i]);
            if (nm) ncache.v[ncache.n++] = xstrdup(nm);
        }
        arena_free(t);
        ncache.d = r->d;
        ncache.mtime = st.mtime;
        ncache.taken = taken;
    }
    /* hex order is name order: the listing's order */
    size_t lo = 0, hi = ncache.n;
    if (last && *last) {
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(ncache.v[mid], last) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    size_t k = ncache.n - lo > max ? max : ncache.n - lo;
    for (size_t i = 0; i < k; i++)
        names_add(out, arena_strdup(a, ncache.v[lo + i]));
    *more = ncache.n - lo > max;
    return 0;
}

/* names_after: a page of the index's names (local drivers: the cache) */
static int names_after(struct registry *r, struct arena *a, const char *last, size_t max,
                       struct names *out, int *more)
{
    if (r->cfg && r->cfg->storage == STORAGE_FILESYSTEM) {
        pthread_mutex_lock(&nc_mu);
        int rc = nc_page(r, a, last, max, out, more);
        pthread_mutex_unlock(&nc_mu);
        return rc;
    }
    return index_read(r, a, last, max, out, more);
}

struct walk_ctx {
    struct names *l;
    size_t rootlen;
};

/* as the reference: a repository is a directory holding _manifests */
static int walk_cb(void *ctx, const char *path, const struct storage_stat *st)
{
    struct walk_ctx *w = ctx;
    if (!st->is_dir) return 0;
    const char *base = strrchr(path, '/') + 1;
    if (base[0] != '_') return 0;
    if (strcmp(base, "_manifests") == 0) {
        const char *rel = path + w->rootlen + 1;
        names_add(w->l, arena_strndup(w->l->a, rel, strlen(rel) - strlen("/_manifests")));
    }
    return WALK_SKIP_DIR;
}

int catalog_rebuild(struct registry *r, struct arena *a, int dry_run,
                    struct catalog_rebuild_stats *st)
{
    struct names marked = {.a = a}, found = {.a = a};
    memset(st, 0, sizeof *st);
    int more, rc;
    /* the markers first: a repository pushed after this listing gets its
     * marker from its own push */
    if ((rc = index_read(r, a, NULL, (size_t)-1, &marked, &more)) != 0) return rc;
    const char *root = path_repos(a);
    struct walk_ctx w = {&found, strlen(root)};
    rc = storage_walk(r->d, root, walk_cb, &w);
    if (rc && rc != WERR_NOTFOUND) return rc;
    if (found.n) qsort(found.v, found.n, sizeof *found.v, cmp_str);
    if (marked.n) qsort(marked.v, marked.n, sizeof *marked.v, cmp_str);
    st->repos = found.n;
    size_t i = 0, j = 0;
    rc = 0;
    while (!rc && (i < found.n || j < marked.n)) {
        int c = i == found.n ? 1 : j == marked.n ? -1 : strcmp(found.v[i], marked.v[j]);
        const char *repo = c <= 0 ? found.v[i] : marked.v[j];
        if (c <= 0) i++;
        if (c >= 0) j++;
        /* each repository on its own arena: a rebuild of many stays small */
        struct arena *t = arena_new();
        enum refresh_outcome o = RF_SAME;
        rc = refresh(r, t, repo, 0, dry_run, &o);
        arena_free(t);
        switch (o) {
        case RF_ADDED: st->added++; break;
        case RF_UPDATED: st->updated++; break;
        case RF_REMOVED: st->removed++; break;
        default: break;
        }
    }
    if (rc || dry_run) return rc;
    char ts[48];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, READY_VERSION " %Y-%m-%dT%H:%M:%SZ", &tm);
    if ((rc = storage_put(r->d, CATALOG_READY, ts, strlen(ts))) != 0) return rc;
    atomic_store(&ready_for, r->d);
    return 0;
}

/* the index was completed once in this format (by a rebuild on any node) */
static int index_ready(struct registry *r, struct arena *a)
{
    if (atomic_load(&ready_for) == r->d) return 1;
    char *data;
    size_t len;
    if (storage_get(r->d, a, CATALOG_READY, 64, &data, &len) != 0) return 0;
    if (strncmp(data, READY_VERSION " ", strlen(READY_VERSION) + 1) != 0) return 0;
    atomic_store(&ready_for, r->d);
    return 1;
}

/* index_usable: the index answers (built now if it never was); 0 when
 * read-only without one: callers walk and compute */
static int index_usable(struct registry *r, struct arena *a, int *usable)
{
    *usable = 0;
    if (!catalog_index_enabled(r)) return 0;
    if (!index_ready(r, a)) {
        if (r->cfg->readonly) return 0;
        struct catalog_rebuild_stats st;
        int rc = catalog_rebuild(r, a, 0, &st);
        if (rc) return rc;
        log_info("catalog: index built: %zu repositories, %zu markers added, %zu updated, %zu "
                 "removed",
                 st.repos, st.added, st.updated, st.removed);
    }
    *usable = 1;
    return 0;
}

int catalog_index_page(struct registry *r, struct arena *a, const char *last, size_t max,
                       char ***repos, size_t *n, int *more)
{
    int usable;
    int rc = index_usable(r, a, &usable);
    if (rc) return rc;
    if (!usable) return WERR_NOTFOUND;
    struct names l = {.a = a};
    if ((rc = names_after(r, a, last, max, &l, more)) != 0) return rc;
    *repos = l.v;
    *n = l.n;
    return 0;
}

/* ---- list ---- */

struct entries {
    struct arena *a;
    struct catalog_entry *v;
    size_t n, cap;
};

static struct catalog_entry *entries_add(struct entries *e)
{
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 32;
        struct catalog_entry *nv = arena_alloc(e->a, nc * sizeof *nv);
        if (e->n) memcpy(nv, e->v, e->n * sizeof *nv);
        e->v = nv;
        e->cap = nc;
    }
    struct catalog_entry *x = &e->v[e->n++];
    memset(x, 0, sizeof *x);
    return x;
}

/* entry_fill: x's figures from the marker (or, without an index, from
 * storage); a repository whose marker went meanwhile keeps zeros */
static int entry_fill(struct registry *r, struct arena *a, int indexed, struct catalog_entry *x)
{
    struct summary s;
    if (indexed) {
        char *raw;
        int rc = read_marker(r, a, x->name, &raw, &s);
        if (rc == WERR_NOTFOUND) return 0;
        if (rc) return rc;
        if (!s.name) { /* an issue 7 marker: refresh lost its race; compute */
            int present;
            if ((rc = compute(r, a, x->name, NULL, 1, NULL, &s, &present)) != 0) return rc;
        }
    } else {
        int present;
        int rc = compute(r, a, x->name, NULL, 1, NULL, &s, &present);
        if (rc) return rc;
    }
    x->tags = s.ntag;
    x->size = summary_size(a, &s);
    x->last_push = s.last_push;
    return 0;
}

/* ci_contains: needle (lowercase or not) in hay, ignoring ASCII case */
static int ci_contains(const char *hay, const char *needle)
{
    return !needle || !*needle || strcasestr(hay, needle) != NULL;
}

/* names_chunk: up to want names after `after` in order, chunk by chunk, from the index
 * or (read-only without one) from registry_catalog's walk */
static int names_chunk(struct registry *r, struct arena *a, int indexed, const char *after,
                       size_t want, char ***v, size_t *k, int *more)
{
    if (!indexed) return registry_catalog(r, a, after, want, v, k, more);
    struct names l = {.a = a};
    int rc = names_after(r, a, after, want, &l, more);
    *v = l.v;
    *k = l.n;
    return rc;
}

int catalog_list(struct registry *r, struct arena *a, const char *filter, const char *last,
                 size_t max, int (*allow)(void *ctx, const char *repo), void *ctx,
                 struct catalog_entry **out, size_t *n, int *more)
{
    int indexed;
    int rc = index_usable(r, a, &indexed);
    if (rc) return rc;
    struct entries e = {.a = a};
    const char *after = last && *last ? last : NULL;
    *more = 0;
    for (int done = 0; !done;) {
        char **v;
        size_t k;
        int m;
        /* unfiltered, a page and one name more (O(page size)); else chunks */
        size_t want = filter && *filter ? SCAN_CHUNK : max < SCAN_CHUNK ? max + 1 : SCAN_CHUNK;
        if ((rc = names_chunk(r, a, indexed, after, want, &v, &k, &m)) != 0) return rc;
        for (size_t i = 0; i < k && !done; i++) {
            if (!ci_contains(v[i], filter)) continue;
            if (allow && !allow(ctx, v[i])) continue;
            if (e.n == max) {
                *more = 1;
                done = 1;
                break;
            }
            entries_add(&e)->name = v[i];
        }
        if (!m || !k) break;
        after = v[k - 1];
    }
    for (size_t i = 0; i < e.n; i++)
        if ((rc = entry_fill(r, a, indexed, &e.v[i])) != 0) return rc;
    *out = e.v;
    *n = e.n;
    return 0;
}

/* ---- search ---- */

/* What search matches on, per repository: one malloc'd block. */
struct srec {
    char *name;
    size_t ntag, nlabel, ndig;
    int64_t size;
    time_t last_push;
    char **tag;
    char **lk, **lv;
    char **dig; /* manifests' and blobs' digests */
};

/* srec_new: the block for s (its name is name); NULL when out of memory */
static struct srec *srec_new(struct arena *a, const char *name, const struct summary *s)
{
    size_t ntag = s ? s->ntag : 0, nlabel = 0, ndig = 0, bytes = strlen(name) + 1;
    for (size_t i = 0; i < ntag; i++)
        bytes += strlen(s->tag[i]) + 1;
    for (size_t i = 0; s && i < s->nman; i++) {
        const struct man *m = &s->man[i];
        nlabel += m->nlabel;
        ndig += 1 + m->nblob;
        bytes += strlen(m->digest) + 1;
        for (size_t j = 0; j < m->nblob; j++)
            bytes += strlen(m->blob[j]) + 1;
        for (size_t j = 0; j < m->nlabel; j++)
            bytes += strlen(m->lk[j]) + strlen(m->lv[j]) + 2;
    }
    size_t ptrs = ntag + 2 * nlabel + ndig;
    struct srec *x = malloc(sizeof *x + ptrs * sizeof(char *) + bytes);
    if (!x) return NULL;
    char **p = (char **)(x + 1);
    char *str = (char *)(p + ptrs);
#define PUT(dst, src)                                                                              \
    do {                                                                                           \
        size_t l_ = strlen(src) + 1;                                                               \
        memcpy(str, src, l_);                                                                      \
        (dst) = str;                                                                               \
        str += l_;                                                                                 \
    } while (0)
    PUT(x->name, name);
    x->ntag = ntag, x->nlabel = nlabel, x->ndig = ndig;
    x->tag = p, p += ntag;
    x->lk = p, p += nlabel;
    x->lv = p, p += nlabel;
    x->dig = p;
    for (size_t i = 0; i < ntag; i++)
        PUT(x->tag[i], s->tag[i]);
    size_t li = 0, di = 0;
    for (size_t i = 0; s && i < s->nman; i++) {
        const struct man *m = &s->man[i];
        PUT(x->dig[di++], m->digest);
        for (size_t j = 0; j < m->nblob; j++)
            PUT(x->dig[di++], m->blob[j]);
        for (size_t j = 0; j < m->nlabel; j++, li++) {
            PUT(x->lk[li], m->lk[j]);
            PUT(x->lv[li], m->lv[j]);
        }
    }
#undef PUT
    x->size = s ? summary_size(a, s) : 0;
    x->last_push = s ? s->last_push : 0;
    return x;
}

/* The summaries cache (see the top): sorted by marker name. */
struct sent {
    char *hex;
    time_t mtime, taken;
    int64_t fsize;
    struct srec *rec;
    char *raw; /* the marker's bytes, kept on object stores for the snapshot */
};

static void sent_free(struct sent *e)
{
    free(e->hex);
    free(e->rec);
    free(e->raw);
}
static pthread_mutex_t sc_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const struct storage_driver *d;
    struct sent *v;
    size_t n;
} scache;

struct seen {
    struct arena *a;
    struct sent *v;
    size_t n, cap;
};

static int seen_cb(void *ctx, const char *path, const struct storage_stat *st)
{
    struct seen *s = ctx;
    if (st->is_dir) return WALK_SKIP_DIR;
    const char *base = strrchr(path, '/') + 1;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        struct sent *nv = arena_alloc(s->a, nc * sizeof *nv);
        if (s->n) memcpy(nv, s->v, s->n * sizeof *nv);
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] =
        (struct sent){.hex = arena_strdup(s->a, base), .mtime = st->mtime, .fsize = st->size};
    return 0;
}

static int cmp_sent(const void *x, const void *y)
{
    return strcmp(((const struct sent *)x)->hex, ((const struct sent *)y)->hex);
}

/* The snapshot (object stores): a cold worker would read every marker, one
 * request each. /wharf/catalog.summaries holds what some worker read: per
 * marker a line "<hex> <mtime> <size> <read at> <marker JSON>". A worker
 * starting cold loads it, then the usual listing decides which markers moved
 * since and are read again. Written whole (put) by a worker that read many
 * markers; any node may overwrite it; it is never the truth, only a head
 * start, so a lost or stale snapshot costs reads, never a wrong answer. */
#define SNAPSHOT "/wharf/catalog.summaries"
#define SNAPSHOT_MAX (256u << 20)
#define SNAPSHOT_MIN_READS 64

static void snapshot_put(struct registry *r, struct arena *a)
{
    struct buf *b = buf_arena_new(a, 0);
    for (size_t i = 0; i < scache.n; i++) {
        const struct sent *e = &scache.v[i];
        if (!e->raw || strchr(e->raw, '\n')) continue;
        buf_printf(b, "%s %lld %lld %lld %s\n", e->hex, (long long)e->mtime, (long long)e->fsize,
                   (long long)e->taken, e->raw);
    }
    if (b->len > SNAPSHOT_MAX) return;
    int rc = storage_put(r->d, SNAPSHOT, b->data ? b->data : "", b->len);
    if (rc) log_warn("catalog: the summaries snapshot was not written: %s", werr_str(rc));
}

/* snapshot_load: scache (empty) from the snapshot, sorted by hex */
static void snapshot_load(struct registry *r, struct arena *a)
{
    char *data;
    size_t len;
    if (storage_get(r->d, a, SNAPSHOT, SNAPSHOT_MAX, &data, &len) != 0) return;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    struct sent *v = xmalloc((lines + 1) * sizeof *v);
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char hex[2 * CATALOG_NAME_MAX + 1];
        long long mt, sz, tk;
        int off = 0;
        if (sscanf(line, "%512s %lld %lld %lld %n", hex, &mt, &sz, &tk, &off) != 4 || !off)
            continue;
        if (n && strcmp(v[n - 1].hex, hex) >= 0) continue; /* not sorted: not ours */
        struct arena *u = arena_new();
        char *nm = name_of(u, hex);
        const char *raw = line + off;
        struct summary s;
        int ok = nm && parse_summary(u, raw, strlen(raw), &s) == 0;
        struct srec *rec = nm ? srec_new(u, nm, ok ? &s : NULL) : NULL;
        arena_free(u);
        if (!rec) continue;
        v[n++] = (struct sent){.hex = xstrdup(hex),
                               .mtime = (time_t)mt,
                               .taken = (time_t)tk,
                               .fsize = sz,
                               .rec = rec,
                               .raw = xstrdup(raw)};
    }
    scache.v = v;
    scache.n = n;
}

/* sc_refresh: the cache made current: one walk of the markers, a read of
 * each one that is new or moved; the caller holds sc_mu */
static int sc_refresh(struct registry *r)
{
    struct arena *t = arena_new();
    struct seen now = {.a = t};
    int rc = storage_walk(r->d, CATALOG_DIR, seen_cb, &now);
    if (rc == WERR_NOTFOUND) rc = 0;
    if (rc) goto out;
    if (now.n) qsort(now.v, now.n, sizeof *now.v, cmp_sent);
    int snap = r->cfg && CONFIG_OBJSTORE(r->cfg);
    time_t skew = snap ? CLOCK_SKEW_S : 0; /* a local file's mtime is this host's clock */
    size_t reads = 0;
    if (snap && (scache.d != r->d || scache.n == 0) && now.n >= SNAPSHOT_MIN_READS) {
        if (scache.d != r->d) {
            for (size_t i = 0; i < scache.n; i++)
                sent_free(&scache.v[i]);
            free(scache.v);
            scache.v = NULL, scache.n = 0;
        }
        scache.d = r->d;
        snapshot_load(r, t); /* a cold worker: what another one read, checked below */
    }
    if (scache.d != r->d) { /* another driver (tests): start over */
        for (size_t i = 0; i < scache.n; i++)
            sent_free(&scache.v[i]);
        free(scache.v);
        scache.v = NULL, scache.n = 0, scache.d = r->d;
    }
    struct sent *nv = xmalloc((now.n + 1) * sizeof *nv);
    size_t nn = 0, j = 0;
    for (size_t i = 0; i < now.n; i++) {
        struct sent *x = &now.v[i];
        char *nm = name_of(t, x->hex);
        if (!nm) continue;
        while (j < scache.n && strcmp(scache.v[j].hex, x->hex) < 0)
            sent_free(&scache.v[j++]);
        struct sent *o = j < scache.n && !strcmp(scache.v[j].hex, x->hex) ? &scache.v[j] : NULL;
        if (o && o->mtime == x->mtime && o->fsize == x->fsize && o->taken > x->mtime + skew) {
            nv[nn++] = *o; /* unchanged */
            j++;
            continue;
        }
        time_t taken = time(NULL);
        struct arena *u = arena_new();
        char *raw;
        struct summary s;
        int mrc = read_marker(r, u, nm, &raw, &s);
        if (mrc == WERR_NOTFOUND) { /* gone since the walk */
            arena_free(u);
            continue;
        }
        if (mrc) {
            arena_free(u);
            rc = mrc; /* what was built so far stays: the cache is consistent */
            break;
        }
        struct srec *rec = srec_new(u, nm, s.name ? &s : NULL);
        char *keep = snap ? xstrdup(raw) : NULL;
        arena_free(u);
        if (!rec) {
            free(keep);
            rc = WERR_NOMEM;
            break;
        }
        if (o) sent_free(&scache.v[j++]);
        nv[nn++] = (struct sent){.hex = xstrdup(x->hex),
                                 .mtime = x->mtime,
                                 .taken = taken,
                                 .fsize = x->fsize,
                                 .rec = rec,
                                 .raw = keep};
        reads++;
    }
    for (; j < scache.n; j++)
        sent_free(&scache.v[j]);
    free(scache.v);
    scache.v = nv;
    scache.n = nn;
    if (snap && reads >= SNAPSHOT_MIN_READS) snapshot_put(r, t);
out:
    arena_free(t);
    return rc;
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hexval(s[i]) < 0) return 0;
    return 1;
}

/* match: why rec matches q (on a), or NULL */
static const char *match(struct arena *a, const struct srec *x, const char *q)
{
    if (strcasestr(x->name, q)) return "name";
    for (size_t i = 0; i < x->ntag; i++)
        if (!strcmp(x->tag[i], q)) return arena_printf(a, "tag:%s", q);
    const char *eq = strchr(q, '=');
    size_t kl = eq ? (size_t)(eq - q) : strlen(q);
    for (size_t i = 0; i < x->nlabel; i++)
        if (strlen(x->lk[i]) == kl && !strncmp(x->lk[i], q, kl) &&
            (!eq || !strcmp(x->lv[i], eq + 1)))
            return arena_printf(a, "label:%s=%s", x->lk[i], x->lv[i]);
    /* a digest: "alg:hex" (prefix of >= 12 hex) or a bare hex prefix */
    const char *colon = strchr(q, ':');
    const char *hx = colon ? colon + 1 : q;
    size_t hl = strlen(hx);
    if (hl < DIGEST_PREFIX_MIN || !is_hex(hx, hl)) return NULL;
    for (size_t i = 0; i < x->ndig; i++) {
        const char *d = x->dig[i];
        const char *dc = strchr(d, ':');
        if (!dc) continue;
        int ok = colon ? !strncmp(d, q, strlen(q)) : !strncmp(dc + 1, hx, hl);
        if (ok) return arena_printf(a, "digest:%s", d);
    }
    return NULL;
}

int catalog_search(struct registry *r, struct arena *a, const char *q, const char *last, size_t max,
                   int (*allow)(void *ctx, const char *repo), void *ctx, struct catalog_entry **out,
                   size_t *n, int *more)
{
    *more = 0;
    *n = 0;
    *out = NULL;
    if (!q || !*q) return catalog_list(r, a, NULL, last, max, allow, ctx, out, n, more);
    int indexed;
    int rc = index_usable(r, a, &indexed);
    if (rc) return rc;
    struct entries e = {.a = a};
    if (!indexed) { /* read-only without an index: summaries computed from the walk */
        const char *after = last && *last ? last : NULL;
        for (int done = 0; !done;) {
            char **v;
            size_t k;
            int m;
            if ((rc = registry_catalog(r, a, after, SCAN_CHUNK, &v, &k, &m)) != 0) return rc;
            for (size_t i = 0; i < k && !done; i++) {
                if (allow && !allow(ctx, v[i])) continue;
                struct summary s;
                int present;
                if ((rc = compute(r, a, v[i], NULL, 1, NULL, &s, &present)) != 0) return rc;
                struct srec *x = srec_new(a, v[i], &s);
                if (!x) return WERR_NOMEM;
                const char *why = match(a, x, q);
                struct catalog_entry ce = {.name = v[i],
                                           .tags = x->ntag,
                                           .size = x->size,
                                           .last_push = x->last_push,
                                           .matched = why};
                free(x);
                if (!why) continue;
                if (e.n == max) {
                    *more = 1;
                    done = 1;
                    break;
                }
                *entries_add(&e) = ce;
            }
            if (!m || !k) break;
            after = v[k - 1];
        }
        *out = e.v;
        *n = e.n;
        return 0;
    }
    pthread_mutex_lock(&sc_mu);
    rc = sc_refresh(r);
    size_t from = 0;
    if (!rc && last && *last) {
        const char *lh = hex_of(a, last);
        size_t lo = 0, hi = scache.n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(scache.v[mid].hex, lh) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        from = lo;
    }
    for (size_t i = from; !rc && i < scache.n; i++) {
        const struct srec *x = scache.v[i].rec;
        const char *why = match(a, x, q);
        if (!why) continue;
        if (allow && !allow(ctx, x->name)) continue;
        if (e.n == max) {
            *more = 1;
            break;
        }
        struct catalog_entry *ce = entries_add(&e);
        ce->name = arena_strdup(a, x->name);
        ce->tags = x->ntag;
        ce->size = x->size;
        ce->last_push = x->last_push;
        ce->matched = why;
    }
    pthread_mutex_unlock(&sc_mu);
    if (rc) return rc;
    *out = e.v;
    *n = e.n;
    return 0;
}
