/* test_gc.c — storage/gc.c over the inmemory driver: the mark set (dedupe,
 * bounded growth), digest keys, mark & sweep with and without
 * delete_untagged (index children and referrers kept, untagged and orphan
 * content removed, tag index entries removed), dry run, the online grace
 * period, recovery of a killed online run from its journal, a manifest pushed
 * as the online run quarantines its blobs (pullable throughout), upload
 * purging. */
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
#include "../../lib/digest.h"
#include "../../lib/err.h"
#include "../../storage/driver.h"
#include "../../storage/gc.h"
#include "../../storage/paths.h"
#include "../../storage/registry.h"

struct fx {
    struct storage_driver *d;
    struct arena *a;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_int_equal(driver_inmemory_new(&f->d), 0);
    f->a = arena_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    storage_driver_free(f->d);
    arena_free(f->a);
    free(f);
    return 0;
}

/* ---- layout helpers ---- */

static char *blob(struct fx *f, const char *content)
{
    char dg[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, content, strlen(content), dg);
    assert_int_equal(storage_put(f->d, path_blob_data(f->a, dg), content, strlen(content)), 0);
    return arena_strdup(f->a, dg);
}

static void put_link(struct fx *f, const char *path, const char *dg)
{
    assert_int_equal(storage_put(f->d, path, dg, strlen(dg)), 0);
}

static int blob_exists(struct fx *f, const char *dg)
{
    struct storage_stat st;
    return storage_stat(f->d, path_blob_data(f->a, dg), &st) == 0;
}

static int path_exists(struct fx *f, const char *p)
{
    struct storage_stat st;
    return storage_stat(f->d, p, &st) == 0;
}

/* an OCI image in repo: config + one layer per content; returns the manifest digest */
static char *image(struct fx *f, const char *repo, const char *cfg, const char *l1, const char *l2,
                   const char *subject)
{
    char *c = blob(f, cfg), *a = blob(f, l1), *b = l2 ? blob(f, l2) : NULL;
    put_link(f, path_layer_link(f->a, repo, c), c);
    put_link(f, path_layer_link(f->a, repo, a), a);
    if (b) put_link(f, path_layer_link(f->a, repo, b), b);
    const char *lt = "application/vnd.oci.image.layer.v1.tar";
    char *layers = arena_printf(f->a, "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}", lt,
                                a, strlen(l1));
    if (b)
        layers = arena_printf(f->a, "%s,{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}",
                              layers, lt, b, strlen(l2));
    char *subj = subject ? arena_printf(f->a,
                                        ",\"subject\":{\"mediaType\":\"application/"
                                        "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
                                        "\"size\":10}",
                                        subject)
                         : "";
    char *m = arena_printf(
        f->a,
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
        "\"size\":%zu},\"layers\":[%s]%s}",
        c, strlen(cfg), layers, subj);
    char *dg = blob(f, m);
    put_link(f, path_revision_link(f->a, repo, dg), dg);
    return dg;
}

static char *index_of(struct fx *f, const char *repo, const char *c1, const char *c2)
{
    char *m = arena_printf(
        f->a,
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
        "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"digest\":\"%s\",\"size\":10,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
        "\"size\":10,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
        c1, c2);
    char *dg = blob(f, m);
    put_link(f, path_revision_link(f->a, repo, dg), dg);
    return dg;
}

static void tag(struct fx *f, const char *repo, const char *t, const char *dg)
{
    put_link(f, path_tag_current(f->a, repo, t), dg);
    put_link(f, path_tag_index_link(f->a, repo, t, dg), dg);
}

struct world {
    char *tagged, *untagged, *idx, *ch1, *ch2, *ref, *orphan, *old;
    char *tagged_layer, *untagged_layer, *ch1_layer, *ref_layer, *shared;
};

static void build(struct fx *f, struct world *w)
{
    w->shared = "shared layer";
    w->tagged = image(f, "app", "{\"c\":1}", "shared layer", "tagged layer", NULL);
    tag(f, "app", "latest", w->tagged);
    w->tagged_layer = blob(f, "tagged layer");
    /* a manifest the tag used to name: untagged now, still in the tag's index */
    w->old = image(f, "app", "{\"c\":0}", "old layer", NULL, NULL);
    put_link(f, path_tag_index_link(f->a, "app", "latest", w->old), w->old);
    w->untagged = image(f, "app", "{\"c\":2}", "shared layer", "untagged layer", NULL);
    w->untagged_layer = blob(f, "untagged layer");
    w->ref = image(f, "app", "{}", "signature", NULL, w->tagged);
    w->ref_layer = blob(f, "signature");
    w->ch1 = image(f, "multi", "{\"c\":3}", "amd64 layer", "shared layer", NULL);
    w->ch2 = image(f, "multi", "{\"c\":4}", "arm64 layer", NULL, NULL);
    w->ch1_layer = blob(f, "amd64 layer");
    w->idx = index_of(f, "multi", w->ch1, w->ch2);
    tag(f, "multi", "v1", w->idx);
    w->orphan = blob(f, "uploaded, never referenced");
    put_link(f, path_layer_link(f->a, "app", w->orphan), w->orphan);
}

/* ---- tests ---- */

static void test_key_of(void **state)
{
    struct gc_key k1, k2;
    assert_int_equal(gc_key_of("sha256:"
                               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                               &k1),
                     0);
    assert_int_equal(k1.b[0], 0x01);
    assert_int_equal(k1.b[31], 0xef);
    char d512[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA512, "x", 1, d512);
    assert_int_equal(gc_key_of(d512, &k2), 0);
    assert_memory_not_equal(&k1, &k2, sizeof k1);
    assert_int_equal(gc_key_of("sha256:xyz", &k1), WERR_INVALID);
    assert_int_equal(gc_key_of("nonsense", &k1), WERR_INVALID);
}

static void test_markset(void **state)
{
    struct gc_markset m = {0};
    struct gc_key k;
    /* 1000 distinct keys, each added 20 times */
    for (int rep = 0; rep < 20; rep++) {
        for (int i = 0; i < 1000; i++) {
            memset(&k, 0, sizeof k);
            k.b[0] = (unsigned char)(i >> 8);
            k.b[1] = (unsigned char)i;
            k.b[31] = 7;
            assert_int_equal(gc_markset_add(&m, &k), 0);
        }
    }
    gc_markset_compact(&m);
    assert_int_equal(m.n, 1000);
    assert_true(m.cap <= 4096); /* bounded by distinct keys, not by additions */
    k.b[0] = 0;
    k.b[1] = 5;
    assert_true(gc_markset_has(&m, &k));
    k.b[31] = 8;
    assert_false(gc_markset_has(&m, &k));
    gc_markset_free(&m);
}

static void test_gc_plain(void **state)
{
    struct fx *f = *state;
    struct world w;
    build(f, &w);
    struct gc_opts o = {0};
    struct gc_stats st;
    assert_int_equal(gc_run(f->d, NULL, &o, &st), 0);
    assert_int_equal(st.repos, 2);
    assert_int_equal(st.manifests, 7);
    assert_int_equal(st.manifests_deleted, 0);
    assert_int_equal(st.blobs_deleted, 1); /* only the orphan */
    assert_false(blob_exists(f, w.orphan));
    assert_true(blob_exists(f, w.untagged_layer));
    assert_true(blob_exists(f, w.ch1_layer));
    /* the reference keeps the orphan's _layers link */
    assert_true(path_exists(f, path_layer_link(f->a, "app", w.orphan)));
    assert_true(st.bytes_freed == (int64_t)strlen("uploaded, never referenced"));
}

static void test_gc_dry_run(void **state)
{
    struct fx *f = *state;
    struct world w;
    build(f, &w);
    struct gc_opts o = {.dry_run = 1, .delete_untagged = 1};
    struct gc_stats st;
    assert_int_equal(gc_run(f->d, NULL, &o, &st), 0);
    assert_true(st.blobs_deleted > 0);
    assert_true(st.manifests_deleted > 0);
    assert_true(blob_exists(f, w.orphan));
    assert_true(blob_exists(f, w.untagged));
    assert_true(path_exists(f, path_revision_link(f->a, "app", w.untagged)));
}

static void test_gc_delete_untagged(void **state)
{
    struct fx *f = *state;
    struct world w;
    build(f, &w);
    struct gc_opts o = {.delete_untagged = 1};
    struct gc_stats st;
    assert_int_equal(gc_run(f->d, NULL, &o, &st), 0);
    assert_int_equal(st.manifests_deleted, 2); /* untagged and old */
    /* untagged content gone: revision link, manifest blob, its own layer */
    assert_false(path_exists(f, path_revision_link(f->a, "app", w.untagged)));
    assert_false(blob_exists(f, w.untagged));
    assert_false(blob_exists(f, w.untagged_layer));
    assert_false(blob_exists(f, w.old));
    /* the old manifest's entry in the tag's index is removed, the tag stays */
    assert_false(path_exists(f, path_tag_index_dir(f->a, "app", "latest", w.old)));
    assert_true(path_exists(f, path_tag_current(f->a, "app", "latest")));
    /* shared layer kept (the tagged image uses it) */
    assert_true(blob_exists(f, blob(f, w.shared)));
    /* children of a tagged index kept, with their layers (#3178) */
    assert_true(path_exists(f, path_revision_link(f->a, "multi", w.ch1)));
    assert_true(path_exists(f, path_revision_link(f->a, "multi", w.ch2)));
    assert_true(blob_exists(f, w.ch1_layer));
    /* a referrer of a kept subject kept */
    assert_true(path_exists(f, path_revision_link(f->a, "app", w.ref)));
    assert_true(blob_exists(f, w.ref_layer));
    assert_false(blob_exists(f, w.orphan));
}

static void test_gc_referrer_of_deleted_subject(void **state)
{
    struct fx *f = *state;
    char *subj = image(f, "r", "{\"s\":1}", "subject layer", NULL, NULL);
    char *ref = image(f, "r", "{}", "sig of untagged", NULL, subj);
    char *ip = arena_printf(f->a, "%s/_manifests/referrers/sha256/%s/sha256/%s/link",
                            path_repo(f->a, "r"), subj + 7, ref + 7);
    put_link(f, ip, ref);
    struct gc_opts o = {.delete_untagged = 1};
    assert_int_equal(gc_run(f->d, NULL, &o, NULL), 0);
    assert_false(path_exists(f, path_revision_link(f->a, "r", subj)));
    assert_false(path_exists(f, path_revision_link(f->a, "r", ref)));
    assert_false(path_exists(f, ip)); /* Wharf's referrers index entry goes too */
    assert_false(blob_exists(f, ref));
}

static void test_gc_online_grace(void **state)
{
    struct fx *f = *state;
    struct world w;
    build(f, &w);
    /* the orphan has no link left: only its age protects it */
    assert_int_equal(storage_delete(f->d, path_layer_link(f->a, "app", w.orphan)), 0);
    struct gc_opts o = {.online = 1, .grace = 3600, .delete_untagged = 1, .settle_ms = 1};
    struct gc_stats st;
    assert_int_equal(gc_run(f->d, NULL, &o, &st), 0);
    assert_int_equal(st.blobs_deleted, 0);
    assert_int_equal(st.manifests_deleted, 0); /* revisions younger than the grace period */
    assert_true(st.blobs_young >= 1);
    assert_true(blob_exists(f, w.orphan));
    assert_true(path_exists(f, path_revision_link(f->a, "app", w.untagged)));
    /* two seconds later, no grace period: a link written since the mark began
     * (the re-check) protects the blob */
    sleep(2);
    put_link(f, path_layer_link(f->a, "app", w.orphan), w.orphan);
    struct gc_opts o2 = {.online = 1, .grace = 0, .settle_ms = 1};
    assert_int_equal(gc_run(f->d, NULL, &o2, &st), 0);
    assert_true(blob_exists(f, w.orphan));
    assert_int_equal(st.blobs_deleted, 0);
    /* without its link it goes */
    assert_int_equal(storage_delete(f->d, path_layer_link(f->a, "app", w.orphan)), 0);
    assert_int_equal(gc_run(f->d, NULL, &o2, &st), 0);
    assert_false(blob_exists(f, w.orphan));
    assert_int_equal(st.blobs_deleted, 1);
    assert_false(
        path_exists(f, arena_printf(f->a, "%s/data.wharf-gc", path_blob_dir(f->a, w.orphan))));
    struct storage_stat ss;
    assert_int_equal(storage_stat(f->d, PATH_ROOT "/_wharf_gc/quarantine", &ss), WERR_NOTFOUND);
}

static void test_gc_journal_recovery(void **state)
{
    struct fx *f = *state;
    struct world w;
    build(f, &w);
    /* a killed online run left two quarantined blobs: one is referenced */
    char *garbage = blob(f, "garbage quarantined");
    char *q1 = arena_printf(f->a, "%s/data.wharf-gc", path_blob_dir(f->a, w.tagged_layer));
    char *q2 = arena_printf(f->a, "%s/data.wharf-gc", path_blob_dir(f->a, garbage));
    assert_int_equal(storage_move(f->d, path_blob_data(f->a, w.tagged_layer), q1), 0);
    assert_int_equal(storage_move(f->d, path_blob_data(f->a, garbage), q2), 0);
    char *j = arena_printf(f->a, "%s\n%s\n", w.tagged_layer, garbage);
    assert_int_equal(storage_put(f->d, PATH_ROOT "/_wharf_gc/quarantine", j, strlen(j)), 0);
    struct gc_opts o = {0};
    struct gc_stats st;
    assert_int_equal(gc_run(f->d, NULL, &o, &st), 0);
    assert_true(blob_exists(f, w.tagged_layer)); /* restored */
    assert_false(path_exists(f, q1));
    assert_false(path_exists(f, q2)); /* deleted */
    assert_false(blob_exists(f, garbage));
    assert_int_equal(st.restored, 1);
    assert_false(path_exists(f, PATH_ROOT "/_wharf_gc/quarantine"));
}

/* what a pull of app:v1 got while the run held its blobs in quarantine */
struct race {
    struct fx *f;
    struct registry r;
    char *body, *cfg, *layer;
    size_t len;
    int put, get, get_cfg, get_layer, head_layer, quarantined;
    char layer_bytes[64];
};

static int deliver(struct race *x, const char *dg, const char *method, char *out, size_t max)
{
    struct arena *a = arena_new();
    struct blob_ask q = {.method = method};
    struct blob_delivery d;
    int rc = registry_blob_deliver(&x->r, a, "app", dg, &q, &d);
    if (rc == 0 && out && d.via == BLOB_VIA_STREAM) {
        ssize_t n = d.read(d.ctx, out, max - 1);
        out[n > 0 ? n : 0] = 0;
    }
    if (rc == 0 && d.status != 200) rc = -d.status;
    arena_free(a);
    return rc;
}

static void race_step(void *ctx, const char *step)
{
    struct race *x = ctx;
    struct arena *a = arena_new();
    char dg[DIGEST_MAX_STR];
    if (!strcmp(step, "quarantine")) {
        /* the client HEADed the garbage blobs (found) and now PUTs the
         * manifest: the re-check is over, the quarantine not yet begun */
        const char *detail;
        x->put = registry_manifest_put(&x->r, a, "app", "v1", x->body, x->len,
                                       "application/vnd.oci.image.manifest.v1+json", dg, &detail);
    } else if (!strcmp(step, "settle")) {
        struct storage_stat st;
        x->quarantined = storage_stat(x->f->d, path_blob_quarantine(a, x->layer), &st) == 0;
        /* the push has succeeded: the client (or another) pulls it */
        char *body;
        size_t len;
        const char *mt;
        x->get = registry_manifest_get(&x->r, a, "app", "v1", &body, &len, dg, &mt);
        x->get_cfg = deliver(x, x->cfg, "GET", NULL, 0);
        x->get_layer = deliver(x, x->layer, "GET", x->layer_bytes, sizeof x->layer_bytes);
        x->head_layer = deliver(x, x->layer, "HEAD", NULL, 0);
    }
    arena_free(a);
}

static void test_gc_online_pull_during_quarantine(void **state)
{
    struct fx *f = *state;
    struct race x = {.f = f, .r = {.d = f->d}};
    /* an image pushed, then its manifest deleted: its blobs are garbage */
    char *m = image(f, "app", "{\"c\":7}", "racing layer", NULL, NULL);
    assert_int_equal(storage_get(f->d, f->a, path_blob_data(f->a, m), 1 << 20, &x.body, &x.len), 0);
    char dg[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, "{\"c\":7}", strlen("{\"c\":7}"), dg);
    x.cfg = arena_strdup(f->a, dg);
    digest_of(DIGEST_SHA256, "racing layer", strlen("racing layer"), dg);
    x.layer = arena_strdup(f->a, dg);
    assert_int_equal(storage_delete(f->d, path_revision_dir(f->a, "app", m)), 0);
    sleep(1); /* older than the run's start: candidates with no grace period */
    struct gc_opts o = {
        .online = 1, .grace = 0, .settle_ms = 1, .test_step = race_step, .test_ctx = &x};
    struct gc_stats st;
    assert_int_equal(gc_run(f->d, NULL, &o, &st), 0);
    assert_int_equal(x.put, 0);
    assert_true(x.quarantined); /* the race happened */
    /* pullable while quarantined: manifest and blobs by GET */
    assert_int_equal(x.get, 0);
    assert_int_equal(x.get_cfg, 0);
    assert_int_equal(x.get_layer, 0);
    assert_string_equal(x.layer_bytes, "racing layer");
    /* a HEAD (a pusher deciding to skip its upload) does not see it */
    assert_int_equal(x.head_layer, WERR_NOTFOUND);
    /* the final re-check put all three back */
    assert_int_equal(st.restored, 3);
    assert_int_equal(st.blobs_deleted, 0);
    assert_true(blob_exists(f, m));
    assert_true(blob_exists(f, x.cfg));
    assert_true(blob_exists(f, x.layer));
    assert_false(path_exists(f, path_blob_quarantine(f->a, x.layer)));
}

static void test_purge_uploads(void **state)
{
    struct fx *f = *state;
    const char *oldts = "2020-01-01T00:00:00Z";
    assert_int_equal(
        storage_put(f->d, path_upload_startedat(f->a, "p/q", "u-old"), oldts, strlen(oldts)), 0);
    assert_int_equal(storage_put(f->d, path_upload_data(f->a, "p/q", "u-old"), "x", 1), 0);
    char now[64];
    time_t t = time(NULL);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    assert_int_equal(
        storage_put(f->d, path_upload_startedat(f->a, "p/q", "u-new"), now, strlen(now)), 0);
    size_t n = 0;
    assert_int_equal(gc_purge_uploads(f->d, 3600, 1, &n), 0); /* dry run */
    assert_int_equal(n, 1);
    assert_true(path_exists(f, path_upload(f->a, "p/q", "u-old")));
    assert_int_equal(gc_purge_uploads(f->d, 3600, 0, &n), 0);
    assert_int_equal(n, 1);
    assert_false(path_exists(f, path_upload(f->a, "p/q", "u-old")));
    assert_true(path_exists(f, path_upload(f->a, "p/q", "u-new")));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_of),
        cmocka_unit_test(test_markset),
        T(test_gc_plain),
        T(test_gc_dry_run),
        T(test_gc_delete_untagged),
        T(test_gc_referrer_of_deleted_subject),
        T(test_gc_online_grace),
        T(test_gc_journal_recovery),
        T(test_gc_online_pull_during_quarantine),
        T(test_purge_uploads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
