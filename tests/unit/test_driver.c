/* test_driver.c — storage/driver.c on fake tables: the version check and
 * the required ops (storage_driver_check, and the reader, writer and lock
 * tables when first seen), the delegate rule of wrappers, the fallbacks of
 * the optional ops, and freeing a chain outermost first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/arena.h"
#include "../../lib/err.h"
#include "../../storage/driver.h"

/* ---- a fake driver: counts calls; its reader/writer/lock use whichever
 * table the test chose ---- */

struct fake {
    struct storage_driver base;
    int stats, lists, url_fors;
    const struct storage_reader_ops *rops;
    const struct storage_writer_ops *wops;
    const struct storage_lock_ops *lops;
    char *freed; /* appended to when freed: the order of a chain's frees */
};

#define FAKE(b) ((struct fake *)(b))

static void fake_free(struct storage_driver *b)
{
    strcat(FAKE(b)->freed, FAKE(b)->base.inner ? "w" : "d");
    free(b);
}
static int fake_get(struct storage_driver *b, struct arena *a, const char *p, size_t max,
                    char **data, size_t *len)
{
    return WERR_NOTFOUND;
}
static int fake_put(struct storage_driver *b, const char *p, const void *data, size_t len)
{
    return 0;
}
static int fake_reader(struct storage_driver *b, struct arena *a, const char *p, int64_t off,
                       struct storage_reader **r)
{
    struct storage_reader *x = arena_zalloc(a, sizeof *x);
    x->ops = FAKE(b)->rops;
    *r = x;
    return 0;
}
static int fake_writer(struct storage_driver *b, struct arena *a, const char *p, int append,
                       struct storage_writer **w)
{
    struct storage_writer *x = arena_zalloc(a, sizeof *x);
    x->ops = FAKE(b)->wops;
    *w = x;
    return 0;
}
static int fake_stat(struct storage_driver *b, const char *p, struct storage_stat *st)
{
    FAKE(b)->stats++;
    memset(st, 0, sizeof *st);
    return 0;
}
static int fake_list(struct storage_driver *b, struct arena *a, const char *p, char ***names,
                     size_t *n)
{
    static char *abc[] = {"a", "b", "c"};
    FAKE(b)->lists++;
    *names = abc;
    *n = 3;
    return 0;
}
static int fake_move(struct storage_driver *b, const char *s, const char *d)
{
    return 0;
}
static int fake_delete(struct storage_driver *b, const char *p)
{
    return 0;
}
static int fake_walk(struct storage_driver *b, const char *p, storage_walk_fn fn, void *ctx)
{
    return 0;
}
static int fake_lock(struct storage_driver *b, struct arena *a, const char *p, int ttl_s,
                     long wait_ms, struct storage_lock **lk)
{
    struct storage_lock *x = arena_zalloc(a, sizeof *x);
    x->ops = FAKE(b)->lops;
    *lk = x;
    return 0;
}
static int fake_url_for(struct storage_driver *b, struct arena *a, const char *p,
                        const char *method, char **url)
{
    FAKE(b)->url_fors++;
    *url = arena_strdup(a, "https://cdn.example/x");
    return 0;
}

static ssize_t fake_read(struct storage_reader *r, void *buf, size_t n)
{
    return 0;
}
static void fake_reader_close(struct storage_reader *r) {}
static int fake_write(struct storage_writer *w, const void *buf, size_t n)
{
    return 0;
}
static int64_t fake_size(struct storage_writer *w)
{
    return 0;
}
static int fake_commit(struct storage_writer *w)
{
    return 0;
}
static void fake_writer_void(struct storage_writer *w) {}
static int fake_renew(struct storage_lock *lk)
{
    return 0;
}
static void fake_unlock(struct storage_lock *lk) {}

static const struct storage_driver_ops fake_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "fake",
    .free = fake_free,
    .get_content = fake_get,
    .put_content = fake_put,
    .reader = fake_reader,
    .writer = fake_writer,
    .stat = fake_stat,
    .list = fake_list,
    .move = fake_move,
    .delete = fake_delete,
    .walk = fake_walk,
    .lock = fake_lock,
};

static const struct storage_reader_ops good_rops = {STORAGE_DRIVER_VERSION, fake_read,
                                                    fake_reader_close};
static const struct storage_writer_ops good_wops = {
    STORAGE_DRIVER_VERSION, fake_write,      fake_size, NULL, fake_commit,
    fake_writer_void,       fake_writer_void};
static const struct storage_lock_ops good_lops = {STORAGE_DRIVER_VERSION, fake_renew, fake_unlock};

static char freed[16];

static struct fake *fake_new(const struct storage_driver_ops *ops, struct storage_driver *inner)
{
    struct fake *f = calloc(1, sizeof *f);
    assert_non_null(f);
    storage_driver_init(&f->base, ops, inner);
    f->rops = &good_rops;
    f->wops = &good_wops;
    f->lops = &good_lops;
    f->freed = freed;
    return f;
}

static int setup(void **state)
{
    freed[0] = 0;
    *state = arena_new();
    return 0;
}

static int teardown(void **state)
{
    arena_free(*state);
    return 0;
}

/* ---- the start-up check ---- */

static void test_check_accepts(void **state)
{
    char err[256] = "";
    struct fake *d = fake_new(&fake_ops, NULL);
    assert_int_equal(storage_driver_check(&d->base, err, sizeof err), 0);
    storage_driver_free(&d->base);
}

static void test_check_refuses_version(void **state)
{
    struct storage_driver_ops v1 = fake_ops;
    v1.version = 1; /* the one table of before the split */
    char err[256] = "";
    struct fake *d = fake_new(&v1, NULL);
    assert_int_equal(storage_driver_check(&d->base, err, sizeof err), WERR_INVALID);
    assert_non_null(strstr(err, "fake"));
    assert_non_null(strstr(err, "version 1"));
    assert_non_null(strstr(err, "version 2"));
    storage_driver_free(&d->base);
}

static void test_check_refuses_missing_op(void **state)
{
    struct storage_driver_ops no_walk = fake_ops;
    no_walk.walk = NULL;
    char err[256] = "";
    struct fake *d = fake_new(&no_walk, NULL);
    assert_int_equal(storage_driver_check(&d->base, err, sizeof err), WERR_INVALID);
    assert_non_null(strstr(err, "fake"));
    assert_non_null(strstr(err, "walk"));
    storage_driver_free(&d->base);

    /* optional ops may be missing */
    struct storage_driver_ops bare = fake_ops;
    bare.lock = NULL;
    d = fake_new(&bare, NULL);
    assert_int_equal(storage_driver_check(&d->base, err, sizeof err), 0);
    storage_driver_free(&d->base);
}

/* a wrapper needs version, name and free only; a bad one anywhere in the
 * chain refuses the whole */
static const struct storage_driver_ops wrap_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "wrap",
    .free = fake_free,
    .url_for = fake_url_for,
};

static void test_check_wrappers(void **state)
{
    char err[256] = "";
    struct fake *in = fake_new(&fake_ops, NULL);
    struct fake *w = fake_new(&wrap_ops, &in->base);
    assert_int_equal(storage_driver_check(&w->base, err, sizeof err), 0);
    storage_driver_free(&w->base);
    assert_string_equal(freed, "wd"); /* outermost first, each frees itself only */

    struct storage_driver_ops no_free = wrap_ops;
    no_free.free = NULL;
    in = fake_new(&fake_ops, NULL);
    w = fake_new(&no_free, &in->base);
    assert_int_equal(storage_driver_check(&w->base, err, sizeof err), WERR_INVALID);
    assert_non_null(strstr(err, "free"));
    free(w);
    storage_driver_free(&in->base);

    /* a complete wrapper over an inner driver of another version */
    struct storage_driver_ops v3 = fake_ops;
    v3.version = 3;
    in = fake_new(&v3, NULL);
    w = fake_new(&wrap_ops, &in->base);
    assert_int_equal(storage_driver_check(&w->base, err, sizeof err), WERR_INVALID);
    assert_non_null(strstr(err, "version 3"));
    storage_driver_free(&w->base);
}

/* ---- the delegate rule and the fallbacks ---- */

static void test_delegate(void **state)
{
    struct arena *a = *state;
    struct fake *in = fake_new(&fake_ops, NULL);
    struct fake *w = fake_new(&wrap_ops, &in->base);
    struct storage_driver *d = &w->base;
    struct storage_stat st;
    assert_int_equal(storage_stat(d, "/x", &st), 0);
    assert_int_equal(in->stats, 1); /* the wrapper has no stat: the inner answered */
    char *url;
    assert_int_equal(storage_url_for(d, a, "/x", "GET", &url), 0);
    assert_string_equal(url, "https://cdn.example/x");
    assert_int_equal(w->url_fors, 1);
    /* no table of the chain has local_path or append_file: the fallbacks */
    char *lp;
    assert_int_equal(storage_local_path(d, a, "/x", &lp), WERR_UNSUPPORTED);
    assert_int_equal(storage_url_for(&in->base, a, "/x", "GET", &url), WERR_UNSUPPORTED);
    /* list_page over list */
    char **names;
    size_t n;
    int more;
    assert_int_equal(storage_list_page(d, a, "/dir", "a", 1, &names, &n, &more), 0);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "b");
    assert_true(more);
    assert_int_equal(in->lists, 1);
    /* readers, writers and locks are the inner driver's, never wrapped */
    struct storage_reader *r;
    assert_int_equal(storage_reader_open(d, a, "/x", 0, &r), 0);
    assert_ptr_equal(r->ops, &good_rops);
    storage_reader_close(r);
    struct storage_writer *wr;
    assert_int_equal(storage_writer_open(d, a, "/x", 0, &wr), 0);
    assert_ptr_equal(wr->ops, &good_wops);
    assert_int_equal(storage_writer_truncate(wr, 0), WERR_UNSUPPORTED); /* optional */
    storage_writer_close(wr);
    struct storage_lock *lk;
    assert_int_equal(storage_lock(d, a, "/l", 10, 0, &lk), 0);
    assert_ptr_equal(lk->ops, &good_lops);
    storage_unlock(lk);
    storage_driver_free(d);

    /* no lock op anywhere: WERR_UNSUPPORTED */
    struct storage_driver_ops nolock = fake_ops;
    nolock.lock = NULL;
    in = fake_new(&nolock, NULL);
    assert_int_equal(storage_lock(&in->base, a, "/l", 10, 0, &lk), WERR_UNSUPPORTED);
    assert_null(lk);
    storage_driver_free(&in->base);
}

/* ---- reader, writer and lock tables, checked when first seen ---- */

static void test_stream_tables_refused(void **state)
{
    struct arena *a = *state;
    struct fake *d = fake_new(&fake_ops, NULL);
    struct storage_reader_ops r1 = good_rops;
    r1.version = 1;
    d->rops = &r1;
    struct storage_reader *r = (struct storage_reader *)1;
    assert_int_equal(storage_reader_open(&d->base, a, "/x", 0, &r), WERR_IO);
    assert_null(r);
    struct storage_reader_ops noclose = good_rops;
    noclose.close = NULL;
    d->rops = &noclose;
    assert_int_equal(storage_reader_open(&d->base, a, "/x", 0, &r), WERR_IO);

    struct storage_writer_ops nocommit = good_wops;
    nocommit.commit = NULL;
    d->wops = &nocommit;
    struct storage_writer *w = (struct storage_writer *)1;
    assert_int_equal(storage_writer_open(&d->base, a, "/x", 0, &w), WERR_IO);
    assert_null(w);

    struct storage_lock_ops l9 = good_lops;
    l9.version = 9;
    d->lops = &l9;
    struct storage_lock *lk;
    assert_int_equal(storage_lock(&d->base, a, "/l", 10, 0, &lk), WERR_IO);
    assert_null(lk);

    /* a good table after a refused one is accepted */
    d->rops = &good_rops;
    assert_int_equal(storage_reader_open(&d->base, a, "/x", 0, &r), 0);
    storage_reader_close(r);
    storage_driver_free(&d->base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_check_accepts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_refuses_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_refuses_missing_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_wrappers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delegate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_tables_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
