/* catalog.c — the repository index behind _catalog, see catalog.h. */
#include "catalog.h"

#include "../lib/err.h"
#include "../lib/log.h"
#include "paths.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CATALOG_NAME_MAX 256 /* bytes of a name (or of `last`) that are encoded */

/* the driver whose index was seen complete by this process (one request
 * fewer per page afterwards); a process serves one driver */
static _Atomic(const struct storage_driver *) ready_for;

int catalog_index_enabled(const struct registry *r)
{
    return r->cfg && CONFIG_OBJSTORE(r->cfg);
}

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

int catalog_mark(struct registry *r, struct arena *a, const char *repo)
{
    return storage_put(r->d, marker_path(a, repo), repo, strlen(repo));
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

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int has_manifests(struct registry *r, struct arena *a, const char *repo)
{
    struct storage_stat st;
    return storage_stat(r->d, arena_printf(a, "%s/_manifests", path_repo(a, repo)), &st) == 0 &&
           st.is_dir;
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
    while (i < found.n || j < marked.n) {
        int c = i == found.n ? 1 : j == marked.n ? -1 : strcmp(found.v[i], marked.v[j]);
        if (c == 0) {
            i++, j++;
        } else if (c < 0) {
            st->added++;
            if (!dry_run && (rc = catalog_mark(r, a, found.v[i])) != 0) return rc;
            i++;
        } else {
            const char *gone = marked.v[j++];
            st->removed++;
            if (dry_run) continue;
            if ((rc = catalog_unmark(r, a, gone)) != 0) return rc;
            /* a push may have landed since the walk: its marker could be the
             * one just deleted, so look again and put it back */
            if (has_manifests(r, a, gone)) {
                st->removed--;
                if ((rc = catalog_mark(r, a, gone)) != 0) return rc;
            }
        }
    }
    if (dry_run) return 0;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if ((rc = storage_put(r->d, CATALOG_READY, ts, strlen(ts))) != 0) return rc;
    atomic_store(&ready_for, r->d);
    return 0;
}

/* the index was completed once (by a rebuild on any node) */
static int index_ready(struct registry *r)
{
    if (atomic_load(&ready_for) == r->d) return 1;
    struct storage_stat st;
    if (storage_stat(r->d, CATALOG_READY, &st) != 0 || st.is_dir) return 0;
    atomic_store(&ready_for, r->d);
    return 1;
}

int catalog_index_page(struct registry *r, struct arena *a, const char *last, size_t max,
                       char ***repos, size_t *n, int *more)
{
    if (!index_ready(r)) {
        if (r->cfg->readonly) return WERR_NOTFOUND;
        struct catalog_rebuild_stats st;
        int rc = catalog_rebuild(r, a, 0, &st);
        if (rc) return rc;
        log_info("catalog: index built: %zu repositories, %zu markers added, %zu removed", st.repos,
                 st.added, st.removed);
    }
    struct names l = {.a = a};
    int rc = index_read(r, a, last, max, &l, more);
    if (rc) return rc;
    *repos = l.v;
    *n = l.n;
    return 0;
}
