/* test_catalog.c — storage/catalog.c: the repository index behind _catalog
 * on object stores, over the inmemory driver seen through a wrapper that
 * counts the driver calls and can inject another node's operation at any
 * step: the same order and paging as the walk, one listing per page once the
 * index is built, the lazy build on a root written without markers,
 * `rebuild` adding and dropping markers, read-only mode writing nothing, and
 * every interleaving of a manifest push with a repository delete leaving no
 * repository without its marker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/arena.h"
#include "../../lib/config.h"
#include "../../lib/digest.h"
#include "../../lib/err.h"
#include "../../storage/catalog.h"
#include "../../storage/driver.h"
#include "../../storage/manifest.h"
#include "../../storage/paths.h"
#include "../../storage/registry.h"

/* ---- a counting wrapper with an injection hook ---- */

/* A wrapper by driver.h's delegate rule: its table has the ops it counts;
 * get_content, reader, writer, move, lock and the rest are the inner
 * driver's. */
struct cw {
    struct storage_driver base; /* base.inner: the counted driver */
    int walks, lists, pages, stats, puts, deletes, gets;
    /* hook: before the fire_at-th put (or delete, when on_delete) run inject once */
    int on_delete, seen, fire_at, fired;
    void (*inject)(void *ctx);
    void *ctx;
};
#define CW(b) ((struct cw *)(b))

static void maybe_fire(struct cw *c, int is_delete)
{
    if (!c->inject || c->fired || is_delete != c->on_delete) return;
    if (c->seen++ != c->fire_at) return;
    c->fired = 1;
    c->inject(c->ctx);
}

static void cw_free(struct storage_driver *b)
{
    free(b);
}
static int cw_put(struct storage_driver *b, const char *p, const void *d, size_t l)
{
    CW(b)->puts++;
    maybe_fire(CW(b), 0);
    return storage_put(b->inner, p, d, l);
}
static int cw_get(struct storage_driver *b, struct arena *a, const char *p, size_t max, char **d,
                  size_t *l)
{
    CW(b)->gets++;
    return storage_get(b->inner, a, p, max, d, l);
}
static int cw_stat(struct storage_driver *b, const char *p, struct storage_stat *st)
{
    CW(b)->stats++;
    return storage_stat(b->inner, p, st);
}
static int cw_list(struct storage_driver *b, struct arena *a, const char *p, char ***n, size_t *k)
{
    CW(b)->lists++;
    return storage_list(b->inner, a, p, n, k);
}
static int cw_delete(struct storage_driver *b, const char *p)
{
    CW(b)->deletes++;
    maybe_fire(CW(b), 1);
    return storage_delete(b->inner, p);
}
static int cw_walk(struct storage_driver *b, const char *p, storage_walk_fn fn, void *ctx)
{
    CW(b)->walks++;
    return storage_walk(b->inner, p, fn, ctx);
}
/* list_page as an object store answers it: one call; paged here from list */
static int cw_list_page(struct storage_driver *b, struct arena *a, const char *p, const char *after,
                        size_t max, char ***names, size_t *n, int *more)
{
    CW(b)->pages++;
    char **all;
    size_t cnt;
    int rc = storage_list(b->inner, a, p, &all, &cnt);
    if (rc == WERR_NOTFOUND) cnt = 0, rc = 0, all = NULL;
    if (rc) return rc;
    size_t from = 0;
    while (after && *after && from < cnt && strcmp(all[from], after) <= 0)
        from++;
    *more = cnt - from > max;
    *n = cnt - from > max ? max : cnt - from;
    *names = all ? all + from : NULL;
    return 0;
}

static const struct storage_driver_ops cw_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "counting",
    .free = cw_free,
    .get_content = cw_get,
    .put_content = cw_put,
    .stat = cw_stat,
    .list = cw_list,
    .delete = cw_delete,
    .walk = cw_walk,
    .list_page = cw_list_page,
};

static struct storage_driver *cw_new(struct storage_driver *in)
{
    struct cw *c = calloc(1, sizeof *c);
    storage_driver_init(&c->base, &cw_ops, in);
    char err[128];
    assert_int_equal(storage_driver_check(&c->base, err, sizeof err), 0);
    return &c->base;
}

/* ---- fixture: two registries on one store: `r` keeps the index (as on
 * storage.s3), `plain` does not (the reference registry, an older Wharf) ---- */

struct fx {
    struct storage_driver *d;
    struct cw *c;
    struct config cfg;
    struct registry r, plain;
    struct arena *a;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct storage_driver *in;
    assert_int_equal(driver_inmemory_new(&in), 0);
    f->d = cw_new(in);
    f->c = CW(f->d);
    f->cfg.storage = STORAGE_S3;
    f->cfg.manifest_max = 4u << 20;
    f->cfg.validation_disabled = 1;
    f->r = (struct registry){.d = f->d, .cfg = &f->cfg};
    f->plain = (struct registry){.d = f->d, .cfg = NULL};
    f->a = arena_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    arena_free(f->a);
    storage_driver_free(f->d);
    free(f);
    return 0;
}

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
    const char **p = ctx;
    size_t l = strlen(*p);
    if (n > l) n = l;
    memcpy(buf, *p, n);
    *p += n;
    return (ssize_t)n;
}

static int push_blob(struct registry *r, struct arena *a, const char *repo, const char *data,
                     char out[DIGEST_MAX_STR])
{
    struct upload *u;
    int rc = registry_upload_start(r, a, repo, &u);
    const char *p = data;
    if (!rc) rc = registry_upload_append(r, a, u, mem_read, &p, -1);
    digest_of(DIGEST_SHA256, data, strlen(data), out);
    if (!rc) rc = registry_upload_commit(r, a, u, out, NULL);
    return rc;
}

/* try_push: a one-layer image tagged "latest" into repo through registry r;
 * the first error (another node may delete the repository meanwhile) */
static int try_push(struct registry *r, struct arena *a, const char *repo)
{
    char dc[DIGEST_MAX_STR], dl[DIGEST_MAX_STR], dg[DIGEST_MAX_STR];
    char *cfgb = arena_printf(a, "{\"architecture\":\"amd64\",\"repo\":\"%s\"}", repo);
    int rc = push_blob(r, a, repo, cfgb, dc);
    if (!rc) rc = push_blob(r, a, repo, "layer", dl);
    if (rc) return rc;
    char *m =
        arena_printf(a,
                     "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                     "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                     "\"size\":%zu,\"digest\":\"%s\"},\"layers\":[{\"mediaType\":"
                     "\"application/vnd.oci.image.layer.v1.tar\",\"size\":5,\"digest\":\"%s\"}]}",
                     strlen(cfgb), dc, dl);
    const char *detail = NULL;
    return registry_manifest_put(r, a, repo, "latest", m, strlen(m), NULL, dg, &detail);
}

static void push(struct registry *r, struct arena *a, const char *repo)
{
    int rc = try_push(r, a, repo);
    if (rc) fail_msg("push %s: %d", repo, rc);
}

/* the marker's path, encoded here on its own: lowercase hex of the bytes */
static char *marker(struct arena *a, const char *repo)
{
    struct buf *b = buf_arena_new(a, 0);
    buf_puts(b, "/wharf/catalog/");
    for (const unsigned char *p = (const unsigned char *)repo; *p; p++) {
        char h[3];
        snprintf(h, sizeof h, "%02x", *p);
        buf_puts(b, h);
    }
    buf_append(b, "", 0);
    return b->data;
}

static int exists(struct fx *f, const char *path)
{
    struct storage_stat st;
    return storage_stat(f->c->base.inner, path, &st) == 0;
}

static int has_manifests(struct fx *f, const char *repo)
{
    struct storage_stat st;
    return storage_stat(f->c->base.inner,
                        arena_printf(f->a, "%s/_manifests", path_repo(f->a, repo)), &st) == 0 &&
           st.is_dir;
}

static const char *const names[] = {"a/b", "z0", "a", "a-b", "c/d/e", "a/0", "b", "a/b/c"};
static const char *const sorted[] = {"a", "a-b", "a/0", "a/b", "a/b/c", "b", "c/d/e", "z0"};
#define NN (sizeof names / sizeof *names)

static void expect_all(struct fx *f, struct registry *r)
{
    for (size_t max = 1; max <= NN + 1; max++) {
        const char *last = NULL;
        size_t seen = 0;
        for (int pages = 0; pages < 20; pages++) {
            char **v;
            size_t n;
            int more;
            assert_int_equal(registry_catalog(r, f->a, last, max, &v, &n, &more), 0);
            assert_true(n <= max);
            for (size_t i = 0; i < n; i++, seen++) {
                assert_true(seen < NN);
                if (strcmp(v[i], sorted[seen]))
                    fail_msg("max %zu: %s, want %s", max, v[i], sorted[seen]);
            }
            if (!more) break;
            assert_int_equal(n, max);
            last = v[n - 1];
        }
        assert_int_equal(seen, NN);
    }
}

static void test_index_order_and_paging(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < NN; i++)
        push(&f->r, f->a, names[i]);
    char dg[DIGEST_MAX_STR];
    assert_int_equal(push_blob(&f->r, f->a, "blobs/only", "x", dg), 0); /* not listed */
    for (size_t i = 0; i < NN; i++)
        if (!exists(f, marker(f->a, names[i]))) fail_msg("no marker for %s", names[i]);
    assert_false(exists(f, marker(f->a, "blobs/only")));
    expect_all(f, &f->r);
    /* the index answers as the walk does */
    expect_all(f, &f->plain);
    char **v;
    size_t n;
    int more;
    assert_int_equal(registry_catalog(&f->r, f->a, "a/a", 2, &v, &n, &more), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0], "a/b");
    assert_string_equal(v[1], "a/b/c");
    assert_true(more);
    assert_int_equal(registry_catalog(&f->r, f->a, "z0", 10, &v, &n, &more), 0);
    assert_int_equal(n, 0);
    assert_false(more);
    assert_int_equal(registry_catalog(&f->r, f->a, NULL, 0, &v, &n, &more), 0);
    assert_int_equal(n, 0);
    assert_true(more);
    /* a `last` longer than any name */
    char longlast[600];
    memset(longlast, 'a', sizeof longlast - 1);
    longlast[sizeof longlast - 1] = 0;
    assert_int_equal(registry_catalog(&f->r, f->a, longlast, 10, &v, &n, &more), 0);
    assert_int_equal(n, 3); /* "a-b" < "aaa…": '-' < 'a' */
    assert_string_equal(v[0], "b");
}

static void test_one_listing_per_page(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < NN; i++)
        push(&f->r, f->a, names[i]);
    char **v;
    size_t n;
    int more;
    /* the first request finds no index: it is built (one walk) */
    assert_int_equal(registry_catalog(&f->r, f->a, NULL, 3, &v, &n, &more), 0);
    assert_int_equal(f->c->walks, 1);
    assert_true(exists(f, "/wharf/catalog.ready"));
    f->c->walks = f->c->pages = f->c->stats = f->c->lists = 0;
    const char *last = NULL;
    int pages = 0;
    do {
        assert_int_equal(registry_catalog(&f->r, f->a, last, 3, &v, &n, &more), 0);
        pages++;
        if (n) last = v[n - 1];
    } while (more);
    assert_int_equal(pages, 3);
    assert_int_equal(f->c->pages, 3); /* one listing per page */
    assert_int_equal(f->c->walks, 0); /* never a walk */
    assert_int_equal(f->c->stats, 0); /* nor a stat per name */
    assert_int_equal(f->c->lists, 0);
    /* the walk, for comparison, visits the repositories */
    assert_int_equal(registry_catalog(&f->plain, f->a, NULL, 3, &v, &n, &more), 0);
    assert_int_equal(f->c->walks, 1);
}

static void test_lazy_build_on_foreign_root(void **state)
{
    struct fx *f = *state;
    /* written without markers (the reference registry, an older Wharf) */
    for (size_t i = 0; i < NN; i++)
        push(&f->plain, f->a, names[i]);
    assert_false(exists(f, marker(f->a, "a")));
    /* a stale marker of a repository that is gone */
    assert_int_equal(storage_put(f->d, marker(f->a, "gone/repo"), "gone/repo", 9), 0);
    expect_all(f, &f->r);
    for (size_t i = 0; i < NN; i++)
        assert_true(exists(f, marker(f->a, names[i])));
    assert_false(exists(f, marker(f->a, "gone/repo")));
}

static void test_readonly_walks_and_writes_nothing(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < NN; i++)
        push(&f->plain, f->a, names[i]);
    f->cfg.readonly = 1;
    int puts = f->c->puts;
    expect_all(f, &f->r);
    assert_int_equal(f->c->puts, puts);
    assert_false(exists(f, "/wharf/catalog.ready"));
}

static void test_delete_and_rebuild(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < NN; i++)
        push(&f->r, f->a, names[i]);
    struct catalog_rebuild_stats st;
    assert_int_equal(catalog_rebuild(&f->r, f->a, 0, &st), 0);
    assert_int_equal(st.repos, NN);
    assert_int_equal(st.added, 0);
    assert_int_equal(st.removed, 0);
    /* a repository delete takes its marker */
    assert_int_equal(registry_repo_delete(&f->r, f->a, "a/b"), 0);
    assert_false(exists(f, marker(f->a, "a/b")));
    char **v;
    size_t n;
    int more;
    assert_int_equal(registry_catalog(&f->r, f->a, "a/0", 1, &v, &n, &more), 0);
    assert_string_equal(v[0], "a/b/c"); /* a nested repository stays */
    assert_true(has_manifests(f, "a/b/c"));
    /* damage: a lost marker, a stale one, a foreign repository */
    assert_int_equal(storage_delete(f->d, marker(f->a, "b")), 0);
    assert_int_equal(storage_put(f->d, marker(f->a, "stale"), "stale", 5), 0);
    push(&f->plain, f->a, "foreign/one");
    assert_int_equal(catalog_rebuild(&f->r, f->a, 1, &st), 0); /* dry run */
    assert_int_equal(st.added, 2);
    assert_int_equal(st.removed, 1);
    assert_false(exists(f, marker(f->a, "b")));
    assert_int_equal(catalog_rebuild(&f->r, f->a, 0, &st), 0);
    assert_int_equal(st.repos, NN); /* NN - "a/b" + "foreign/one" */
    assert_int_equal(st.added, 2);
    assert_int_equal(st.removed, 1);
    assert_true(exists(f, marker(f->a, "b")));
    assert_true(exists(f, marker(f->a, "foreign/one")));
    assert_false(exists(f, marker(f->a, "stale")));
}

/* ---- interleavings of node A's push and node B's delete of one repository ---- */

struct race {
    struct fx *f;
    const char *repo;
    int push; /* the injected operation: 1 push, 0 delete */
};

static void race_inject(void *ctx)
{
    struct race *r = ctx;
    if (r->push)
        try_push(&r->f->r, r->f->a, r->repo);
    else
        registry_repo_delete(&r->f->r, r->f->a, r->repo);
}

/* whatever happened, a repository holding manifests has its marker */
static void invariant(struct fx *f, const char *repo, const char *what, int k)
{
    if (has_manifests(f, repo) && !exists(f, marker(f->a, repo)))
        fail_msg("%s at step %d: %s has manifests but no marker", what, k, repo);
}

static void test_push_delete_interleavings(void **state)
{
    struct fx *f = *state;
    char *repo;
    /* B's delete lands before each write of A's push (blobs, links, marker) */
    int steps = 0;
    for (int k = 0; k < 64; k++) {
        repo = arena_printf(f->a, "race/p%d", k);
        push(&f->r, f->a, repo); /* the repository exists already */
        struct race rc = {f, repo, 0};
        f->c->inject = race_inject, f->c->ctx = &rc;
        f->c->on_delete = 0, f->c->seen = 0, f->c->fire_at = k, f->c->fired = 0;
        try_push(&f->r, f->a, repo); /* may fail: its repository went away */
        f->c->inject = NULL;
        invariant(f, repo, "delete during push", k);
        if (!f->c->fired) break; /* past the push's last write */
        steps++;
    }
    assert_true(steps >= 5); /* at least: revision link, tag links, marker */
    /* A's push lands before each delete of B's repository delete */
    for (int k = 0; k < 2; k++) { /* the marker, then the tree */
        repo = arena_printf(f->a, "race/d%d", k);
        push(&f->r, f->a, repo);
        struct race rc = {f, repo, 1};
        f->c->inject = race_inject, f->c->ctx = &rc;
        f->c->on_delete = 1, f->c->seen = 0, f->c->fire_at = k, f->c->fired = 0;
        registry_repo_delete(&f->r, f->a, repo);
        assert_true(f->c->fired);
        f->c->inject = NULL;
        invariant(f, repo, "push during delete", k);
    }
    /* and the index then lists exactly the repositories that hold manifests,
     * after a rebuild has dropped markers of deleted ones */
    struct catalog_rebuild_stats st;
    assert_int_equal(catalog_rebuild(&f->r, f->a, 0, &st), 0);
    char **v;
    size_t n;
    int more;
    assert_int_equal(registry_catalog(&f->r, f->a, NULL, 1000, &v, &n, &more), 0);
    char **w;
    size_t wn;
    assert_int_equal(registry_catalog(&f->plain, f->a, NULL, 1000, &w, &wn, &more), 0);
    assert_int_equal(n, wn);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(v[i], w[i]);
}

/* ---- the list and search (issue 17) ---- */

/* push_image: an image whose config carries the label "team=<team>" and one
 * layer of bytes `layer`, put under tag (or by digest when tag is NULL);
 * its manifest's digest in mdg, its layer's in ldg */
static void push_image(struct fx *f, const char *repo, const char *tag, const char *team,
                       const char *layer, char mdg[DIGEST_MAX_STR], char ldg[DIGEST_MAX_STR])
{
    char dc[DIGEST_MAX_STR];
    char *cfgb = arena_printf(f->a,
                              "{\"architecture\":\"amd64\",\"config\":{\"Labels\":{"
                              "\"team\":\"%s\",\"repo\":\"%s\"}}}",
                              team, repo);
    assert_int_equal(push_blob(&f->r, f->a, repo, cfgb, dc), 0);
    assert_int_equal(push_blob(&f->r, f->a, repo, layer, ldg), 0);
    char *m =
        arena_printf(f->a,
                     "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
                     "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                     "\"size\":%zu,\"digest\":\"%s\"},\"layers\":[{\"mediaType\":"
                     "\"application/vnd.oci.image.layer.v1.tar\",\"size\":%zu,\"digest\":\"%s\"}]}",
                     strlen(cfgb), dc, strlen(layer), ldg);
    const char *detail = NULL;
    char dg[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, m, strlen(m), dg);
    assert_int_equal(
        registry_manifest_put(&f->r, f->a, repo, tag ? tag : dg, m, strlen(m), NULL, mdg, &detail),
        0);
    (void)cfgb;
}

static int64_t image_size(const char *repo, const char *team, const char *layer)
{
    /* manifest + config + layer, as push_image builds them */
    char cfgb[512], dc[DIGEST_MAX_STR], dl[DIGEST_MAX_STR], m[1024];
    snprintf(
        cfgb, sizeof cfgb,
        "{\"architecture\":\"amd64\",\"config\":{\"Labels\":{\"team\":\"%s\",\"repo\":\"%s\"}}}",
        team, repo);
    digest_of(DIGEST_SHA256, cfgb, strlen(cfgb), dc);
    digest_of(DIGEST_SHA256, layer, strlen(layer), dl);
    snprintf(m, sizeof m,
             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
             "\"size\":%zu,\"digest\":\"%s\"},\"layers\":[{\"mediaType\":"
             "\"application/vnd.oci.image.layer.v1.tar\",\"size\":%zu,\"digest\":\"%s\"}]}",
             strlen(cfgb), dc, strlen(layer), dl);
    return (int64_t)(strlen(m) + strlen(cfgb) + strlen(layer));
}

static const char *joined(struct arena *a, const struct catalog_entry *v, size_t n, int why)
{
    const char *out = "";
    for (size_t i = 0; i < n; i++)
        out = arena_printf(a, "%s%s%s%s%s", out, i ? "," : "", v[i].name, why ? " " : "",
                           why ? (v[i].matched ? v[i].matched : "(null)") : "");
    return out;
}

static int not_secret(void *ctx, const char *repo)
{
    (void)ctx;
    return strncmp(repo, "secret/", 7) != 0;
}

static void test_list_figures_filter_paging(void **state)
{
    struct fx *f = *state;
    char m1[DIGEST_MAX_STR], l1[DIGEST_MAX_STR], m2[DIGEST_MAX_STR], l2[DIGEST_MAX_STR];
    push_image(f, "web/front", "v1", "blue", "layer-one", m1, l1);
    push_image(f, "web/front", "v2", "blue", "layer-two!", m2, l2);
    push_image(f, "db/Store", "latest", "red", "layer-db", m1, l1);
    push_image(f, "secret/keys", "v1", "red", "layer-s", m1, l1);
    struct catalog_entry *v;
    size_t n;
    int more;
    time_t t0 = time(NULL);
    assert_int_equal(catalog_list(&f->r, f->a, NULL, NULL, 10, NULL, NULL, &v, &n, &more), 0);
    assert_string_equal(joined(f->a, v, n, 0), "db/Store,secret/keys,web/front");
    assert_false(more);
    assert_int_equal(v[2].tags, 2);
    /* two manifests and configs (distinct: the same labels, the same bytes:
     * one config), two layers */
    int64_t want = image_size("web/front", "blue", "layer-one") +
                   image_size("web/front", "blue", "layer-two!") -
                   (int64_t)strlen("{\"architecture\":\"amd64\",\"config\":{\"Labels\":{\"team\":"
                                   "\"blue\",\"repo\":\"web/front\"}}}");
    assert_int_equal(v[2].size, want);
    assert_true(v[2].last_push >= t0 - 1 && v[2].last_push <= time(NULL));
    assert_null(v[2].matched);
    /* filter: case-insensitive substring; allow hides; paging */
    assert_int_equal(catalog_list(&f->r, f->a, "STORE", NULL, 10, NULL, NULL, &v, &n, &more), 0);
    assert_string_equal(joined(f->a, v, n, 0), "db/Store");
    assert_int_equal(catalog_list(&f->r, f->a, "e", NULL, 10, not_secret, NULL, &v, &n, &more), 0);
    assert_string_equal(joined(f->a, v, n, 0), "db/Store,web/front");
    assert_int_equal(catalog_list(&f->r, f->a, NULL, NULL, 1, not_secret, NULL, &v, &n, &more), 0);
    assert_string_equal(joined(f->a, v, n, 0), "db/Store");
    assert_true(more);
    assert_int_equal(
        catalog_list(&f->r, f->a, NULL, "db/Store", 1, not_secret, NULL, &v, &n, &more), 0);
    assert_string_equal(joined(f->a, v, n, 0), "web/front");
    assert_false(more); /* secret/keys was skipped, nothing visible follows */
    /* the index follows a tag delete, a manifest delete, a repository delete */
    assert_int_equal(registry_tag_delete(&f->r, f->a, "web/front", "v2"), 0);
    assert_int_equal(catalog_list(&f->r, f->a, "front", NULL, 10, NULL, NULL, &v, &n, &more), 0);
    assert_int_equal(v[0].tags, 1);
    assert_int_equal(v[0].size, image_size("web/front", "blue", "layer-one"));
    assert_int_equal(registry_repo_delete(&f->r, f->a, "db/Store"), 0);
    assert_int_equal(catalog_list(&f->r, f->a, NULL, NULL, 10, NULL, NULL, &v, &n, &more), 0);
    assert_string_equal(joined(f->a, v, n, 0), "secret/keys,web/front");
}

static void test_search(void **state)
{
    struct fx *f = *state;
    char m1[DIGEST_MAX_STR], l1[DIGEST_MAX_STR], m2[DIGEST_MAX_STR], l2[DIGEST_MAX_STR];
    char m3[DIGEST_MAX_STR], l3[DIGEST_MAX_STR];
    push_image(f, "web/front", "v1", "blue", "layer-one", m1, l1);
    push_image(f, "db/store", "stable", "red", "layer-db", m2, l2);
    push_image(f, "secret/keys", "stable", "red", "layer-s", m3, l3);
    struct catalog_entry *v;
    size_t n;
    int more;
#define S(q, allow, want)                                                                          \
    do {                                                                                           \
        assert_int_equal(catalog_search(&f->r, f->a, q, NULL, 10, allow, NULL, &v, &n, &more), 0); \
        assert_string_equal(joined(f->a, v, n, 1), want);                                          \
    } while (0)
    S("FRO", NULL, "web/front name");
    S("stable", NULL, "db/store tag:stable,secret/keys tag:stable");
    S("stable", not_secret, "db/store tag:stable");
    S("team=red", NULL, "db/store label:team=red,secret/keys label:team=red");
    S("team=green", NULL, "");
    S("team", not_secret, "db/store label:team=red,web/front label:team=blue");
    S(m1, NULL, arena_printf(f->a, "web/front digest:%s", m1));
    S(arena_strndup(f->a, m2 + 7, 12), NULL, arena_printf(f->a, "db/store digest:%s", m2));
    S(arena_strndup(f->a, m2, 7 + 12), NULL, arena_printf(f->a, "db/store digest:%s", m2));
    S(arena_strndup(f->a, m2 + 7, 11), NULL, ""); /* too short for a digest */
    S(l1, NULL, arena_printf(f->a, "web/front digest:%s", l1));
    /* paging */
    assert_int_equal(catalog_search(&f->r, f->a, "stable", NULL, 1, NULL, NULL, &v, &n, &more), 0);
    assert_string_equal(joined(f->a, v, n, 0), "db/store");
    assert_true(more);
    assert_int_equal(
        catalog_search(&f->r, f->a, "stable", "db/store", 1, NULL, NULL, &v, &n, &more), 0);
    assert_string_equal(joined(f->a, v, n, 0), "secret/keys");
    assert_false(more);
    /* the cache follows changes: a tag moved, a tag deleted */
    push_image(f, "db/store", "v9", "green", "layer-db2", m2, l2);
    S("team=green", NULL, "db/store label:team=green");
    assert_int_equal(registry_tag_delete(&f->r, f->a, "db/store", "v9"), 0);
    S("team=green", NULL, "");
    S("v9", NULL, "");
    /* a query that is nothing but empty lists everything */
    assert_int_equal(catalog_search(&f->r, f->a, "", NULL, 10, NULL, NULL, &v, &n, &more), 0);
    assert_int_equal(n, 3);
#undef S
}

static void test_page_reads_only_its_markers(void **state)
{
    struct fx *f = *state;
    char m[DIGEST_MAX_STR], l[DIGEST_MAX_STR];
    for (int i = 0; i < 40; i++)
        push_image(f, arena_printf(f->a, "many/r%02d", i), "v1", "x", "layer", m, l);
    struct catalog_entry *v;
    size_t n;
    int more;
    assert_int_equal(catalog_list(&f->r, f->a, NULL, NULL, 5, NULL, NULL, &v, &n, &more), 0);
    f->c->gets = f->c->pages = f->c->walks = f->c->lists = 0;
    assert_int_equal(catalog_list(&f->r, f->a, NULL, "many/r20", 5, NULL, NULL, &v, &n, &more), 0);
    assert_string_equal(joined(f->a, v, n, 0), "many/r21,many/r22,many/r23,many/r24,many/r25");
    assert_int_equal(f->c->gets, 5);  /* the page's markers */
    assert_int_equal(f->c->pages, 1); /* one listing */
    assert_int_equal(f->c->walks + f->c->lists, 0);
}

static void test_lost_update_healed_by_next_push(void **state)
{
    struct fx *f = *state;
    char m[DIGEST_MAX_STR], l[DIGEST_MAX_STR];
    push_image(f, "r", "v1", "x", "layer", m, l);
    struct catalog_rebuild_stats st;
    assert_int_equal(catalog_rebuild(&f->r, f->a, 0, &st), 0); /* the index is ready */
    char *old;
    size_t ol;
    assert_int_equal(storage_get(f->d, f->a, marker(f->a, "r"), 1 << 20, &old, &ol), 0);
    /* a crash after v2's links, before its marker: the old marker stays */
    push_image(f, "r", "v2", "x", "layer", m, l);
    assert_int_equal(storage_put(f->d, marker(f->a, "r"), old, ol), 0);
    struct catalog_entry *v;
    size_t n;
    int more;
    assert_int_equal(catalog_list(&f->r, f->a, NULL, NULL, 10, NULL, NULL, &v, &n, &more), 0);
    assert_int_equal(v[0].tags, 1); /* stale until… */
    push_image(f, "r", "v3", "x", "layer", m, l);
    assert_int_equal(catalog_list(&f->r, f->a, NULL, NULL, 10, NULL, NULL, &v, &n, &more), 0);
    assert_int_equal(v[0].tags, 3); /* …the next push: storage listed another tag set */
    /* and a rebuild rewrites a marker that disagrees */
    assert_int_equal(storage_put(f->d, marker(f->a, "r"), old, ol), 0);
    assert_int_equal(catalog_rebuild(&f->r, f->a, 0, &st), 0);
    assert_int_equal(st.updated, 1);
    assert_int_equal(catalog_list(&f->r, f->a, NULL, NULL, 10, NULL, NULL, &v, &n, &more), 0);
    assert_int_equal(v[0].tags, 3);
}

/* the filesystem driver: a page comes from the per-process names cache (a
 * stat of the markers' directory), and the cache sees a new repository */
static void test_filesystem_names_cache(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_catalog.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct storage_driver *in;
    assert_int_equal(driver_filesystem_new(dir, &in), 0);
    struct fx f = {0};
    f.d = cw_new(in);
    f.c = CW(f.d);
    f.cfg.storage = STORAGE_FILESYSTEM;
    f.cfg.manifest_max = 4u << 20;
    f.cfg.validation_disabled = 1;
    f.r = (struct registry){.d = f.d, .cfg = &f.cfg};
    f.a = arena_new();
    char m[DIGEST_MAX_STR], l[DIGEST_MAX_STR];
    for (int i = 0; i < 30; i++)
        push_image(&f, arena_printf(f.a, "fs/r%02d", i), "v1", "x", "layer", m, l);
    char **v;
    size_t n;
    int more;
    assert_int_equal(registry_catalog(&f.r, f.a, NULL, 10, &v, &n, &more), 0);
    sleep(1); /* the cache trusts a listing taken in a later second than the mtime */
    assert_int_equal(registry_catalog(&f.r, f.a, NULL, 10, &v, &n, &more), 0);
    f.c->lists = f.c->stats = f.c->walks = f.c->pages = 0;
    assert_int_equal(registry_catalog(&f.r, f.a, "fs/r14", 3, &v, &n, &more), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "fs/r15");
    assert_true(more);
    assert_int_equal(f.c->stats, 1); /* the directory's mtime */
    assert_int_equal(f.c->lists + f.c->walks + f.c->pages, 0);
    push_image(&f, "fs/new", "v1", "x", "layer", m, l);
    assert_int_equal(registry_catalog(&f.r, f.a, "fs/m", 1, &v, &n, &more), 0);
    assert_string_equal(v[0], "fs/new");
    arena_free(f.a);
    storage_driver_free(f.d);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* object stores: a cold worker (another driver instance here) loads the
 * summaries snapshot instead of reading every marker, and reads again only
 * the markers that moved since */
static void test_search_snapshot(void **state)
{
    struct fx *f = *state;
    char m[DIGEST_MAX_STR], l[DIGEST_MAX_STR];
    for (int i = 0; i < 70; i++)
        push_image(f, arena_printf(f->a, "snap/r%02d", i), "v1", "x", "layer", m, l);
    struct catalog_entry *v;
    size_t n;
    int more;
    assert_int_equal(catalog_search(&f->r, f->a, "team=x", NULL, 100, NULL, NULL, &v, &n, &more),
                     0);
    assert_int_equal(n, 70);
    char *snap;
    size_t sl;
    assert_int_equal(storage_get(f->d, f->a, "/wharf/catalog.summaries", 1 << 24, &snap, &sl), 0);
    /* as if it had been read long after the markers were written (the cache
     * trusts a read made CLOCK_SKEW_S past a marker's mtime) */
    struct buf *b = buf_arena_new(f->a, 0);
    char *save = NULL;
    for (char *line = strtok_r(snap, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char hex[600];
        long long mt, sz, tk;
        int off = 0;
        assert_int_equal(sscanf(line, "%599s %lld %lld %lld %n", hex, &mt, &sz, &tk, &off), 4);
        buf_printf(b, "%s %lld %lld %lld %s\n", hex, mt, sz, tk + 100, line + off);
    }
    assert_int_equal(storage_put(f->d, "/wharf/catalog.summaries", b->data, b->len), 0);
    /* another worker: a driver of its own over the same store */
    struct storage_driver *d2 = cw_new(f->d);
    struct registry r2 = {.d = d2, .cfg = &f->cfg};
    assert_int_equal(catalog_search(&r2, f->a, "team=x", NULL, 100, NULL, NULL, &v, &n, &more), 0);
    assert_int_equal(n, 70);
    assert_int_equal(CW(d2)->gets, 2); /* catalog.ready and the snapshot: no marker */
    assert_int_equal(catalog_search(&r2, f->a, "snap/r42", NULL, 100, NULL, NULL, &v, &n, &more),
                     0);
    assert_int_equal(n, 1);
    /* a marker that moved is read again */
    push_image(f, "snap/r07", "v2", "y", "layer", m, l);
    CW(d2)->gets = 0;
    assert_int_equal(catalog_search(&r2, f->a, "team=y", NULL, 100, NULL, NULL, &v, &n, &more), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "snap/r07");
    assert_int_equal(CW(d2)->gets, 1);
    free(d2); /* the wrapper only: its inner driver is the fixture's */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_index_order_and_paging),      T(test_one_listing_per_page),
        T(test_lazy_build_on_foreign_root),  T(test_readonly_walks_and_writes_nothing),
        T(test_delete_and_rebuild),          T(test_push_delete_interleavings),
        T(test_list_figures_filter_paging),  T(test_search),
        T(test_page_reads_only_its_markers), T(test_lost_update_healed_by_next_push),
        T(test_filesystem_names_cache),      T(test_search_snapshot),
    };
#undef T
    return cmocka_run_group_tests_name("catalog", tests, NULL, NULL);
}
