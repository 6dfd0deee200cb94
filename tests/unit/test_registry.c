/* test_registry.c — storage/registry.c over the inmemory driver: uploads in
 * chunks across "workers" (re-opened between chunks), commit and the exact
 * layout it leaves, digest mismatch, sha512, mount, manifests by tag and
 * digest, missing references, tags, deletes and the catalog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "../../lib/arena.h"
#include "../../lib/config.h"
#include "../../lib/digest.h"
#include "../../lib/err.h"
#include "../../lib/names.h"
#include "../../storage/driver.h"
#include "../../storage/manifest.h"
#include "../../storage/paths.h"
#include "../../storage/registry.h"

struct fx {
    struct storage_driver *d;
    struct registry r;
    struct arena *a;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_int_equal(driver_inmemory_new(&f->d), 0);
    f->r.d = f->d;
    f->r.cfg = NULL;
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

/* a request body served in pieces of at most `piece` bytes; fail_at >= 0
 * makes the read after that many bytes fail (a broken connection) */
struct body {
    const unsigned char *p;
    size_t len, pos, piece;
    long long fail_at;
};

static ssize_t body_read(void *ctx, void *buf, size_t n)
{
    struct body *b = ctx;
    if (b->fail_at >= 0 && b->pos >= (size_t)b->fail_at) return -1;
    size_t left = b->len - b->pos;
    if (n > left) n = left;
    if (b->piece && n > b->piece) n = b->piece;
    if (b->fail_at >= 0 && b->pos + n > (size_t)b->fail_at) n = (size_t)b->fail_at - b->pos;
    memcpy(buf, b->p + b->pos, n);
    b->pos += n;
    return (ssize_t)n;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
}

static int append(struct fx *f, struct arena *a, struct upload *u, const void *p, size_t n,
                  size_t piece, int64_t max)
{
    struct body b = {p, n, 0, piece, -1};
    return registry_upload_append(&f->r, a, u, body_read, &b, max);
}

/* read a driver file as a string (arena) or NULL when absent */
static char *get(struct fx *f, const char *path)
{
    char *data;
    size_t len;
    if (storage_get(f->d, f->a, path, 1 << 24, &data, &len) != 0) return NULL;
    return data;
}

static int exists(struct fx *f, const char *path)
{
    struct storage_stat st;
    return storage_stat(f->d, path, &st) == 0;
}

/* push_blob: upload data as one blob into repo; digest into out */
static void push_blob(struct fx *f, const char *repo, const void *p, size_t n,
                      char out[DIGEST_MAX_STR])
{
    struct upload *u;
    assert_int_equal(registry_upload_start(&f->r, f->a, repo, &u), 0);
    assert_int_equal(append(f, f->a, u, p, n, 0, -1), 0);
    digest_of(DIGEST_SHA256, p, n, out);
    struct blob_desc bd;
    assert_int_equal(registry_upload_commit(&f->r, f->a, u, out, &bd), 0);
    assert_string_equal(bd.digest, out);
}

/* ---- uploads ---- */

/* on an object store a committed upload's files and lock go once the
 * request's arena ends (after the answer), not before; elsewhere at once */
/* as_storage: the registry's config says storage kind t (the driver stays
 * the fixture's): an object store's code paths on local files */
static void as_storage(struct fx *f, struct config *cfg, enum storage_type t)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->storage = t;
    f->r.cfg = cfg;
}

static void test_upload_purged_after_answer(void **state)
{
    struct fx *f = *state;
    static const enum storage_type kinds[] = {STORAGE_INMEMORY, STORAGE_SWIFT};
    for (size_t k = 0; k < 2; k++) {
        struct config cfg;
        as_storage(f, &cfg, kinds[k]);
        struct arena *post = arena_new(), *req = arena_new();
        struct upload *u;
        assert_int_equal(registry_upload_start(&f->r, post, "a/b", &u), 0);
        char *dir = arena_strdup(f->a, path_upload(f->a, "a/b", u->uuid));
        char *uuid = arena_strdup(f->a, u->uuid);
        arena_free(post);
        assert_int_equal(registry_upload_open(&f->r, req, "a/b", uuid, &u), 0);
        char blob[32], dg[DIGEST_MAX_STR];
        snprintf(blob, sizeof blob, "purge %zu", k);
        assert_int_equal(append(f, req, u, blob, strlen(blob), 0, -1), 0);
        digest_of(DIGEST_SHA256, blob, strlen(blob), dg);
        assert_int_equal(registry_upload_commit(&f->r, req, u, dg, NULL), 0);
        assert_true(exists(f, path_blob_data(f->a, dg)));
        struct storage_lock *lk = NULL;
        int held = storage_lock(f->d, f->a, path_upload_lock(f->a, uuid), 10, 0, &lk);
        if (kinds[k] == STORAGE_SWIFT) {
            assert_true(exists(f, dir));
            assert_int_equal(held, WERR_BUSY);
        } else {
            assert_false(exists(f, dir));
            assert_int_equal(held, 0);
            storage_unlock(lk);
        }
        arena_free(req); /* the request answered */
        assert_false(exists(f, dir));
        assert_int_equal(storage_lock(f->d, f->a, path_upload_lock(f->a, uuid), 10, 0, &lk), 0);
        storage_unlock(lk);
        f->r.cfg = NULL;
    }
}

/* upload_begun: an upload of repo holding "0123456789", appended by a
 * request of its own that has answered; its id (on f->a) */
static char *upload_begun(struct fx *f, const char *repo)
{
    struct upload *u;
    struct arena *a = arena_new();
    assert_int_equal(registry_upload_start(&f->r, a, repo, &u), 0);
    char *uuid = arena_strdup(f->a, u->uuid);
    assert_int_equal(registry_upload_open(&f->r, a, repo, uuid, &u), 0);
    assert_int_equal(append(f, a, u, "0123456789", 10, 0, -1), 0);
    registry_upload_release(u);
    arena_free(a);
    return uuid;
}

/* on an object store the hash state an append replaced goes after the
 * answer (save_hashstate); the next request reads the newest one even while
 * the old one is still there */
static void test_hashstate_replaced_after_answer(void **state)
{
    struct fx *f = *state;
    struct config cfg;
    as_storage(f, &cfg, STORAGE_SWIFT);
    struct upload *u;
    struct arena *a2 = arena_new();
    char *uuid = upload_begun(f, "h/s");
    assert_int_equal(registry_upload_open(&f->r, a2, "h/s", uuid, &u), 0);
    assert_int_equal(u->offset, 10);
    assert_int_equal(append(f, a2, u, "abcdef", 6, 0, -1), 0);
    registry_upload_release(u);
    char *s10 = arena_strdup(f->a, path_upload_hashstate(f->a, "h/s", uuid, "sha256", 10));
    char *s16 = arena_strdup(f->a, path_upload_hashstate(f->a, "h/s", uuid, "sha256", 16));
    assert_true(exists(f, s10)); /* the request has not answered yet */
    assert_true(exists(f, s16));
    struct arena *a3 = arena_new();
    assert_int_equal(registry_upload_open(&f->r, a3, "h/s", uuid, &u), 0);
    assert_int_equal(u->offset, 16);
    registry_upload_release(u);
    arena_free(a3);
    arena_free(a2); /* answered: the replaced state goes */
    assert_false(exists(f, s10));
    assert_true(exists(f, s16));
    f->r.cfg = NULL;
}

/* registry_upload_open_for: the body file hashed on the saved state and
 * the committed blob looked up while the lock settles; the append uses that
 * hash only for the same file, length and offset */
static void test_upload_open_for(void **state)
{
    struct fx *f = *state;
    char tmpl[] = "/tmp/wharf-openfor-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    unlink(tmpl);
    assert_int_equal(write(fd, "abcdef", 6), 6);
    struct upload *u;
    struct arena *a2 = arena_new(), *a3 = arena_new();
    char *uuid = upload_begun(f, "o/f");
    char dg[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, "0123456789abcdef", 16, dg);
    struct upload_intent in = {1, fd, 6, dg};
    assert_int_equal(registry_upload_open_for(&f->r, a2, "o/f", uuid, &in, &u), 0);
    assert_int_equal(u->offset, 10);
    assert_int_equal(u->pre.hashed, 1); /* on the state at 10 */
    assert_int_equal(u->pre.from, 10);
    assert_non_null(u->pre.absent); /* not stored yet */
    /* a state that no longer matches is not used: hashed again */
    u->pre.from = 0;
    struct hasher wrong;
    hasher_init(&wrong, DIGEST_SHA256);
    u->pre.h = wrong;
    assert_int_equal(registry_upload_append_file(&f->r, a2, u, fd, tmpl, 6), 0);
    struct blob_desc bd;
    assert_int_equal(registry_upload_commit(&f->r, a2, u, dg, &bd), 0);
    assert_int_equal(bd.size, 16);
    arena_free(a2);
    /* stored now: an upload committing the same digest finds it again */
    assert_int_equal(registry_upload_start(&f->r, a3, "o/f", &u), 0);
    uuid = arena_strdup(f->a, u->uuid);
    struct upload_intent in2 = {1, fd, 6, dg};
    assert_int_equal(registry_upload_open_for(&f->r, a3, "o/f", uuid, &in2, &u), 0);
    assert_null(u->pre.absent);
    assert_int_equal(u->pre.hashed, 1);
    assert_int_equal(registry_upload_append_file(&f->r, a3, u, fd, tmpl, 6), 0);
    char dg2[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, "abcdef", 6, dg2);
    assert_int_equal(registry_upload_commit(&f->r, a3, u, dg2, &bd), 0); /* the hash used */
    assert_int_equal(bd.size, 6);
    arena_free(a3);
    close(fd);
}

/* on an object store read_upload_state's reads run side by side: the same
 * offset, hash and blob lookup; a hash state past the data (a crash may
 * leave one) sends it back to the reads one after another, which pass it
 * over (side by side, the newest state, unreadable here, restarted it) */
static void test_upload_open_side_by_side(void **state)
{
    struct fx *f = *state;
    struct config cfg;
    as_storage(f, &cfg, STORAGE_SWIFT);
    char tmpl[] = "/tmp/wharf-sideby-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    unlink(tmpl);
    assert_int_equal(write(fd, "ghijkl", 6), 6);
    char *uuid = upload_begun(f, "s/b");
    char dg[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, "0123456789ghijkl", 16, dg);
    struct upload_intent in = {1, fd, 6, dg};
    struct upload *u;
    struct arena *a2 = arena_new();
    assert_int_equal(registry_upload_open_for(&f->r, a2, "s/b", uuid, &in, &u), 0);
    assert_int_equal(u->offset, 10);
    assert_int_equal(u->pre.hashed, 1);
    assert_int_equal(u->pre.from, 10);
    assert_non_null(u->pre.absent);
    registry_upload_release(u);
    arena_free(a2);
    assert_int_equal(
        storage_put(f->d, path_upload_hashstate(f->a, "s/b", uuid, "sha256", 99), "junk", 4), 0);
    a2 = arena_new();
    assert_int_equal(registry_upload_open_for(&f->r, a2, "s/b", uuid, &in, &u), 0);
    assert_int_equal(u->offset, 10);
    assert_int_equal(u->pre.hashed, 1);
    assert_int_equal(registry_upload_append_file(&f->r, a2, u, fd, tmpl, 6), 0);
    struct blob_desc bd;
    assert_int_equal(registry_upload_commit(&f->r, a2, u, dg, &bd), 0);
    assert_int_equal(bd.size, 16);
    arena_free(a2);
    close(fd);
    f->r.cfg = NULL;
}

static void test_upload_chunks_reopened(void **state)
{
    struct fx *f = *state;
    const char *repo = "library/busybox";
    /* chunk sizes that cross 64-byte blocks and the 1 MiB read buffer */
    static const size_t chunks[] = {1, 63, 64, 129, 1000, (1u << 20) + 17, 5, 300000};
    size_t total = 0;
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++)
        total += chunks[i];
    unsigned char *data = malloc(total);
    assert_non_null(data);
    fill(data, total, 7);

    struct upload *u;
    assert_int_equal(registry_upload_start(&f->r, f->a, repo, &u), 0);
    assert_int_equal(uuid_valid(u->uuid), 0);
    assert_int_equal(u->offset, 0);
    const char *uuid = arena_strdup(f->a, u->uuid);
    assert_true(exists(f, path_upload_startedat(f->a, repo, uuid)));
    assert_true(exists(f, path_upload_data(f->a, repo, uuid)));

    size_t off = 0;
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        /* another worker: a fresh arena and the upload re-opened from storage */
        struct arena *wa = arena_new();
        struct upload *w;
        assert_int_equal(registry_upload_open(&f->r, wa, repo, uuid, &w), 0);
        if (w->offset != (int64_t)off)
            fail_msg("chunk %zu: reopened offset %lld, want %zu", i, (long long)w->offset, off);
        assert_int_equal(append(f, wa, w, data + off, chunks[i], 1000 + i * 37, -1), 0);
        off += chunks[i];
        assert_int_equal(w->offset, (int64_t)off);
        /* the hash state for this offset is saved, in Go's sha256 layout */
        char *hs;
        size_t hl;
        assert_int_equal(storage_get(f->d, wa,
                                     path_upload_hashstate(wa, repo, uuid, "sha256", (int64_t)off),
                                     4096, &hs, &hl),
                         0);
        assert_int_equal(hl, 108);
        assert_memory_equal(hs, "sha\x03", 4);
        arena_free(wa);
    }
    /* only the newest state is kept */
    char **names;
    size_t n;
    assert_int_equal(
        storage_list(f->d, f->a, path_upload_hashstates(f->a, repo, uuid, "sha256"), &names, &n),
        0);
    assert_int_equal(n, 1);
    char offs[32];
    snprintf(offs, sizeof offs, "%zu", total);
    assert_string_equal(names[0], offs);

    struct arena *wa = arena_new();
    struct upload *w;
    assert_int_equal(registry_upload_open(&f->r, wa, repo, uuid, &w), 0);
    assert_int_equal(w->offset, (int64_t)total);
    char dg[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, data, total, dg);
    struct blob_desc bd;
    assert_int_equal(registry_upload_commit(&f->r, wa, w, dg, &bd), 0);
    assert_string_equal(bd.digest, dg);
    assert_int_equal(bd.size, (int64_t)total);
    arena_free(wa);

    /* visible in the repository */
    memset(&bd, 0, sizeof bd);
    assert_int_equal(registry_blob_stat(&f->r, f->a, repo, dg, &bd), 0);
    assert_int_equal(bd.size, (int64_t)total);
    assert_string_equal(bd.digest, dg);
    /* the layout: blob data and the exact link content */
    const char *hex = dg + 7;
    char *p = arena_printf(f->a, "/docker/registry/v2/blobs/sha256/%.2s/%s/data", hex, hex);
    char *content;
    size_t clen;
    assert_int_equal(storage_get(f->d, f->a, p, total + 1, &content, &clen), 0);
    assert_int_equal(clen, total);
    assert_memory_equal(content, data, total);
    char *link = get(f, arena_printf(f->a,
                                     "/docker/registry/v2/repositories/library/busybox/_layers/"
                                     "sha256/%s/link",
                                     hex));
    assert_non_null(link);
    assert_string_equal(link, dg);
    /* the upload is gone */
    assert_false(exists(f, path_upload(f->a, repo, uuid)));
    assert_int_equal(registry_upload_open(&f->r, f->a, repo, uuid, &w), WERR_NOTFOUND);
    /* not linked in another repository */
    assert_int_equal(registry_blob_stat(&f->r, f->a, "other", dg, NULL), WERR_NOTFOUND);
    /* readable through blob_open at an offset */
    struct storage_reader *rd;
    assert_int_equal(registry_blob_open(&f->r, f->a, dg, 100, &rd), 0);
    unsigned char b4[4];
    assert_int_equal(storage_read(rd, b4, 4), 4);
    assert_memory_equal(b4, data + 100, 4);
    storage_reader_close(rd);
    assert_string_equal(registry_blob_path(f->a, dg), p);
    free(data);
}

static void test_upload_empty_blob(void **state)
{
    struct fx *f = *state;
    struct upload *u;
    assert_int_equal(registry_upload_start(&f->r, f->a, "r", &u), 0);
    char dg[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, "", 0, dg);
    struct blob_desc bd;
    assert_int_equal(registry_upload_commit(&f->r, f->a, u, dg, &bd), 0);
    assert_int_equal(bd.size, 0);
    assert_int_equal(registry_blob_stat(&f->r, f->a, "r", dg, &bd), 0);
    assert_int_equal(bd.size, 0);
}

/* every request for an upload holds its lock from open (released with the
 * arena, or by commit/cancel); commit refuses a hash state that does not
 * cover exactly the stored bytes, even when its digest is the one asked for */
static void test_upload_lock_and_cover(void **state)
{
    struct fx *f = *state;
    const char *repo = "lock/cover";
    struct upload *u;
    assert_int_equal(registry_upload_start(&f->r, f->a, repo, &u), 0);
    assert_int_equal(append(f, f->a, u, "hello", 5, 0, -1), 0);
    struct arena *a1 = arena_new();
    struct upload *u1;
    assert_int_equal(registry_upload_open(&f->r, a1, repo, u->uuid, &u1), 0);
    assert_int_equal(u1->offset, 5);
    struct storage_lock *lk;
    assert_int_equal(storage_lock(f->d, f->a, path_upload_lock(f->a, u->uuid), 60, 0, &lk),
                     WERR_BUSY);
    arena_free(a1); /* the request ended: released */
    assert_int_equal(storage_lock(f->d, f->a, path_upload_lock(f->a, u->uuid), 60, 0, &lk), 0);
    storage_unlock(lk);
    /* an unknown upload: 404, and its lock is not kept */
    struct arena *a2 = arena_new();
    struct upload *ux;
    const char *nouuid = "0b2a4a38-5d3c-4a55-9d5e-6c0d7c4e0009";
    assert_int_equal(registry_upload_open(&f->r, a2, repo, nouuid, &ux), WERR_NOTFOUND);
    assert_int_equal(storage_lock(f->d, f->a, path_upload_lock(f->a, nouuid), 60, 0, &lk), 0);
    storage_unlock(lk);
    /* a hash state of 3 bytes over 5 stored ones: sha256("hel") must not
     * name the bytes "hello" */
    struct upload *u2;
    assert_int_equal(registry_upload_open(&f->r, a2, repo, u->uuid, &u2), 0);
    hasher_init(&u2->h, DIGEST_SHA256);
    hasher_update(&u2->h, "hel", 3);
    char dg[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, "hel", 3, dg);
    assert_int_equal(registry_upload_commit(&f->r, a2, u2, dg, NULL), WERR_DIGEST);
    assert_false(exists(f, path_blob_data(f->a, dg)));
    assert_false(exists(f, path_layer_link(f->a, repo, dg)));
    /* commit released the lock */
    assert_int_equal(storage_lock(f->d, f->a, path_upload_lock(f->a, u->uuid), 60, 0, &lk), 0);
    storage_unlock(lk);
    arena_free(a2);
}

static void test_upload_digest_mismatch(void **state)
{
    struct fx *f = *state;
    const char *repo = "a/b";
    unsigned char data[5000];
    fill(data, sizeof data, 3);
    struct upload *u;
    assert_int_equal(registry_upload_start(&f->r, f->a, repo, &u), 0);
    assert_int_equal(append(f, f->a, u, data, sizeof data, 0, -1), 0);
    char right[DIGEST_MAX_STR], wrong[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, data, sizeof data, right);
    digest_of(DIGEST_SHA256, data, sizeof data - 1, wrong);
    assert_int_equal(registry_upload_commit(&f->r, f->a, u, wrong, NULL), WERR_DIGEST);
    /* nothing stored under either digest, no link, the upload removed */
    assert_false(exists(f, path_blob_data(f->a, wrong)));
    assert_false(exists(f, path_blob_data(f->a, right)));
    assert_false(exists(f, path_layer_link(f->a, repo, wrong)));
    assert_false(exists(f, path_layer_link(f->a, repo, right)));
    assert_int_equal(registry_blob_stat(&f->r, f->a, repo, wrong, NULL), WERR_NOTFOUND);
    assert_false(exists(f, path_upload(f->a, repo, u->uuid)));
    struct upload *w;
    assert_int_equal(registry_upload_open(&f->r, f->a, repo, u->uuid, &w), WERR_NOTFOUND);
    /* a malformed digest is refused as such */
    struct upload *u2;
    assert_int_equal(registry_upload_start(&f->r, f->a, repo, &u2), 0);
    assert_int_equal(registry_upload_commit(&f->r, f->a, u2, "sha256:nothex", NULL), WERR_INVALID);
}

static void test_upload_sha512(void **state)
{
    struct fx *f = *state;
    const char *repo = "s/five/twelve";
    size_t n = 3 * 1024 * 1024 + 5; /* more than one read buffer of the rehash */
    unsigned char *data = malloc(n);
    assert_non_null(data);
    fill(data, n, 11);
    struct upload *u;
    assert_int_equal(registry_upload_start(&f->r, f->a, repo, &u), 0);
    const char *uuid = u->uuid;
    assert_int_equal(append(f, f->a, u, data, 1000, 0, -1), 0);
    struct arena *wa = arena_new();
    struct upload *w;
    assert_int_equal(registry_upload_open(&f->r, wa, repo, uuid, &w), 0);
    assert_int_equal(append(f, wa, w, data + 1000, n - 1000, 65536, -1), 0);
    char dg[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA512, data, n, dg);
    struct blob_desc bd;
    assert_int_equal(registry_upload_commit(&f->r, wa, w, dg, &bd), 0);
    assert_int_equal(bd.size, (int64_t)n);
    arena_free(wa);
    assert_int_equal(registry_blob_stat(&f->r, f->a, repo, dg, &bd), 0);
    assert_int_equal(bd.size, (int64_t)n);
    const char *hex = dg + 7;
    assert_true(
        exists(f, arena_printf(f->a, "/docker/registry/v2/blobs/sha512/%.2s/%s/data", hex, hex)));
    char *link = get(f, arena_printf(f->a,
                                     "/docker/registry/v2/repositories/s/five/twelve/_layers/"
                                     "sha512/%s/link",
                                     hex));
    assert_non_null(link);
    assert_string_equal(link, dg);
    assert_false(exists(f, path_upload(f->a, repo, uuid)));

    /* a wrong sha512 digest is a mismatch */
    assert_int_equal(registry_upload_start(&f->r, f->a, repo, &u), 0);
    assert_int_equal(append(f, f->a, u, data, 100, 0, -1), 0);
    assert_int_equal(registry_upload_commit(&f->r, f->a, u, dg, NULL), WERR_DIGEST);
    free(data);
}

static void test_upload_too_big(void **state)
{
    struct fx *f = *state;
    const char *repo = "big";
    unsigned char data[400];
    fill(data, sizeof data, 5);
    struct upload *u;
    assert_int_equal(registry_upload_start(&f->r, f->a, repo, &u), 0);
    const char *uuid = u->uuid;

    /* the first chunk over its max */
    assert_int_equal(append(f, f->a, u, data, 100, 7, 99), WERR_TOOBIG);
    assert_int_equal(u->offset, 0);
    /* a good chunk, then one over its max */
    assert_int_equal(append(f, f->a, u, data, 100, 0, 100), 0);
    assert_int_equal(u->offset, 100);
    assert_int_equal(append(f, f->a, u, data + 100, 150, 0, 40), WERR_TOOBIG);
    assert_int_equal(u->offset, 100);
    assert_int_equal(append(f, f->a, u, data + 100, 150, 16, 149), WERR_TOOBIG);
    assert_int_equal(u->offset, 100);

    /* another worker sees the offset before the refused chunk */
    struct arena *wa = arena_new();
    struct upload *w;
    assert_int_equal(registry_upload_open(&f->r, wa, repo, uuid, &w), 0);
    assert_int_equal(w->offset, 100);
    /* and the upload continues correctly */
    assert_int_equal(append(f, wa, w, data + 100, 300, 0, 300), 0);
    assert_int_equal(w->offset, 400);
    char dg[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, data, sizeof data, dg);
    struct blob_desc bd;
    assert_int_equal(registry_upload_commit(&f->r, wa, w, dg, &bd), 0);
    assert_int_equal(bd.size, 400);
    arena_free(wa);
    char *content;
    size_t clen;
    assert_int_equal(storage_get(f->d, f->a, path_blob_data(f->a, dg), 1000, &content, &clen), 0);
    assert_int_equal(clen, 400);
    assert_memory_equal(content, data, 400);
}

/* a body that breaks off: what arrived is kept and the upload resumes */
static void test_upload_broken_body(void **state)
{
    struct fx *f = *state;
    unsigned char data[3000];
    fill(data, sizeof data, 9);
    struct upload *u;
    assert_int_equal(registry_upload_start(&f->r, f->a, "brk", &u), 0);
    struct body b = {data, sizeof data, 0, 100, 1234};
    assert_int_equal(registry_upload_append(&f->r, f->a, u, body_read, &b, -1), WERR_IO);
    assert_int_equal(u->offset, 1234);
    struct upload *w;
    assert_int_equal(registry_upload_open(&f->r, f->a, "brk", u->uuid, &w), 0);
    assert_int_equal(w->offset, 1234);
    assert_int_equal(append(f, f->a, w, data + 1234, sizeof data - 1234, 0, -1), 0);
    char dg[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, data, sizeof data, dg);
    assert_int_equal(registry_upload_commit(&f->r, f->a, w, dg, NULL), 0);
}

static void test_upload_cancel(void **state)
{
    struct fx *f = *state;
    struct upload *u;
    assert_int_equal(registry_upload_start(&f->r, f->a, "c", &u), 0);
    assert_int_equal(append(f, f->a, u, "hello", 5, 0, -1), 0);
    assert_int_equal(registry_upload_cancel(&f->r, f->a, u), 0);
    struct upload *w;
    assert_int_equal(registry_upload_open(&f->r, f->a, "c", u->uuid, &w), WERR_NOTFOUND);
    assert_int_equal(
        registry_upload_open(&f->r, f->a, "c", "00000000-0000-4000-8000-000000000000", &w),
        WERR_NOTFOUND);
}

static void test_mount(void **state)
{
    struct fx *f = *state;
    char dg[DIGEST_MAX_STR];
    push_blob(f, "src/repo", "mount me", 8, dg);
    struct blob_desc bd;
    assert_int_equal(registry_blob_stat(&f->r, f->a, "dst", dg, NULL), WERR_NOTFOUND);
    assert_int_equal(registry_blob_mount(&f->r, f->a, "dst", "src/repo", dg, &bd), 0);
    assert_int_equal(bd.size, 8);
    assert_int_equal(registry_blob_stat(&f->r, f->a, "dst", dg, &bd), 0);
    assert_int_equal(bd.size, 8);
    char *link = get(f, path_layer_link(f->a, "dst", dg));
    assert_non_null(link);
    assert_string_equal(link, dg);
    /* from a repository that does not have it */
    char other[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, "absent", 6, other);
    assert_int_equal(registry_blob_mount(&f->r, f->a, "dst2", "src/repo", other, &bd),
                     WERR_NOTFOUND);
    assert_int_equal(registry_blob_mount(&f->r, f->a, "dst2", "nowhere", dg, &bd), WERR_NOTFOUND);
    assert_int_equal(registry_blob_stat(&f->r, f->a, "dst2", dg, NULL), WERR_NOTFOUND);
    /* unlink: gone from dst, still in src, data kept */
    assert_int_equal(registry_blob_unlink(&f->r, f->a, "dst", dg), 0);
    assert_int_equal(registry_blob_stat(&f->r, f->a, "dst", dg, NULL), WERR_NOTFOUND);
    assert_int_equal(registry_blob_stat(&f->r, f->a, "src/repo", dg, NULL), 0);
    assert_true(exists(f, path_blob_data(f->a, dg)));
    assert_int_equal(registry_blob_unlink(&f->r, f->a, "dst", dg), WERR_NOTFOUND);
}

/* ---- manifests ---- */

/* make_image: push a config and a layer into repo, return an OCI manifest
 * naming them (arena string); seed varies the content */
static char *make_image(struct fx *f, const char *repo, int seed, int with_mt)
{
    char cfg[64], layer[64];
    int cl = snprintf(cfg, sizeof cfg, "{\"architecture\":\"amd64\",\"seed\":%d}", seed);
    int ll = snprintf(layer, sizeof layer, "layer-bytes-%d", seed);
    char dc[DIGEST_MAX_STR], dl[DIGEST_MAX_STR];
    push_blob(f, repo, cfg, (size_t)cl, dc);
    push_blob(f, repo, layer, (size_t)ll, dl);
    return arena_printf(f->a,
                        "{\"schemaVersion\":2,%s\"config\":{\"mediaType\":\"application/"
                        "vnd.oci.image.config.v1+json\",\"size\":%d,\"digest\":\"%s\"},"
                        "\"layers\":[{\"mediaType\":\"application/"
                        "vnd.oci.image.layer.v1.tar+gzip\",\"size\":%d,\"digest\":\"%s\"}]}",
                        with_mt ? "\"mediaType\":\"" MT_OCI_MANIFEST "\"," : "", cl, dc, ll, dl);
}

static void put_ok(struct fx *f, const char *repo, const char *ref, const char *body,
                   const char *ct, char dg[DIGEST_MAX_STR])
{
    const char *detail = NULL;
    int rc = registry_manifest_put(&f->r, f->a, repo, ref, body, strlen(body), ct, dg, &detail);
    if (rc != 0) fail_msg("put %s:%s: rc %d (%s)", repo, ref, rc, detail ? detail : "");
}

static void test_manifest_put_get(void **state)
{
    struct fx *f = *state;
    const char *repo = "app/web";
    char *body = make_image(f, repo, 1, 1);
    char dg[DIGEST_MAX_STR], want[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, body, strlen(body), want);
    put_ok(f, repo, "latest", body, MT_OCI_MANIFEST, dg);
    assert_string_equal(dg, want);

    /* by tag */
    char *got;
    size_t len;
    char gd[DIGEST_MAX_STR];
    const char *mt = NULL;
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "latest", &got, &len, gd, &mt), 0);
    assert_int_equal(len, strlen(body));
    assert_memory_equal(got, body, len);
    assert_string_equal(gd, want);
    assert_string_equal(mt, MT_OCI_MANIFEST);
    /* by digest */
    mt = NULL;
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, want, &got, &len, gd, &mt), 0);
    assert_memory_equal(got, body, len);
    assert_string_equal(gd, want);
    assert_string_equal(mt, MT_OCI_MANIFEST);

    /* layout: revision link, tag current link and tag index link */
    const char *hex = want + 7;
    char *p;
    p = arena_printf(
        f->a, "/docker/registry/v2/repositories/app/web/_manifests/revisions/sha256/%s/link", hex);
    assert_string_equal(get(f, p), want);
    p = "/docker/registry/v2/repositories/app/web/_manifests/tags/latest/current/link";
    assert_string_equal(get(f, p), want);
    p = arena_printf(f->a,
                     "/docker/registry/v2/repositories/app/web/_manifests/tags/latest/index/sha256/"
                     "%s/link",
                     hex);
    assert_string_equal(get(f, p), want);
    p = arena_printf(f->a, "/docker/registry/v2/blobs/sha256/%.2s/%s/data", hex, hex);
    assert_string_equal(get(f, p), body);

    /* unknown tag / digest; another repository */
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "nope", &got, &len, gd, &mt),
                     WERR_NOTFOUND);
    char other[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, "x", 1, other);
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, other, &got, &len, gd, &mt),
                     WERR_NOTFOUND);
    assert_int_equal(registry_manifest_get(&f->r, f->a, "app/other", want, &got, &len, gd, &mt),
                     WERR_NOTFOUND);

    /* put by digest: no tag made */
    char *body2 = make_image(f, repo, 2, 0); /* no mediaType: Content-Type decides */
    char want2[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, body2, strlen(body2), want2);
    put_ok(f, repo, want2, body2, MT_OCI_MANIFEST, dg);
    assert_string_equal(dg, want2);
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, want2, &got, &len, gd, &mt), 0);
    assert_memory_equal(got, body2, len);
    assert_string_equal(mt, MT_OCI_MANIFEST); /* inferred from the shape */
    char **tags;
    size_t nt;
    assert_int_equal(registry_tags(&f->r, f->a, repo, &tags, &nt), 0);
    assert_int_equal(nt, 1);
    assert_string_equal(tags[0], "latest");

    /* a digest reference that does not match the body */
    const char *detail = NULL;
    assert_int_equal(registry_manifest_put(&f->r, f->a, repo, want, body2, strlen(body2),
                                           MT_OCI_MANIFEST, dg, &detail),
                     WERR_DIGEST);
    /* an invalid manifest */
    assert_int_equal(
        registry_manifest_put(&f->r, f->a, repo, "bad", "{}", 2, MT_OCI_MANIFEST, dg, &detail),
        WERR_INVALID);
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "bad", &got, &len, gd, &mt),
                     WERR_NOTFOUND);

    /* re-tagging moves the tag */
    put_ok(f, repo, "latest", body2, MT_OCI_MANIFEST, dg);
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "latest", &got, &len, gd, &mt), 0);
    assert_string_equal(gd, want2);
}

static void test_manifest_docker_media_type(void **state)
{
    struct fx *f = *state;
    const char *repo = "dock";
    char dc[DIGEST_MAX_STR], dl[DIGEST_MAX_STR];
    push_blob(f, repo, "{}", 2, dc);
    push_blob(f, repo, "L", 1, dl);
    char *body = arena_printf(
        f->a,
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_V2 "\",\"config\":{\"mediaType\":"
        "\"application/vnd.docker.container.image.v1+json\",\"size\":2,\"digest\":\"%s\"},"
        "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
        "\"size\":1,\"digest\":\"%s\"},{\"mediaType\":\"application/"
        "vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"size\":99,\"digest\":\"sha256:"
        "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\",\"urls\":["
        "\"https://example.com/x\"]}]}",
        dc, dl);
    char dg[DIGEST_MAX_STR];
    /* the foreign layer (with urls) need not exist */
    put_ok(f, repo, "v1", body, MT_DOCKER_V2, dg);
    char *got;
    size_t len;
    const char *mt;
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "v1", &got, &len, dg, &mt), 0);
    assert_string_equal(mt, MT_DOCKER_V2);
}

/* on an object store the references are checked side by side: every one
 * present passes; of several missing or lying, the first in the manifest's
 * order is reported, as when they are checked one by one */
static void test_manifest_refs_side_by_side(void **state)
{
    struct fx *f = *state;
    struct config cfg;
    as_storage(f, &cfg, STORAGE_SWIFT);
    const char *repo = "side";
    char dc[DIGEST_MAX_STR], dl[6][DIGEST_MAX_STR], dm1[DIGEST_MAX_STR], dm2[DIGEST_MAX_STR];
    push_blob(f, repo, "{\"c\":1}", 7, dc);
    for (int i = 0; i < 6; i++) {
        char blob[16];
        snprintf(blob, sizeof blob, "layer-%d", i); /* 7 bytes */
        push_blob(f, repo, blob, 7, dl[i]);
    }
    digest_of(DIGEST_SHA256, "missing one", 11, dm1);
    digest_of(DIGEST_SHA256, "missing two", 11, dm2);
#define SIDE_L(d, n)                                                                               \
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":" n                   \
    ",\"digest\":\"" d "\"}"
#define SIDE_FMT                                                                                   \
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST                                        \
    "\",\"config\":{\"mediaType\":\"application/"                                                  \
    "vnd.oci.image.config.v1+json\",\"size\":7,\"digest\":\"%s\"},"                                \
    "\"layers\":[" SIDE_L("%s", "7") "," SIDE_L("%s", "7") "," SIDE_L("%s", "%d") "," SIDE_L(      \
        "%s", "7") "," SIDE_L("%s", "7") "," SIDE_L("%s", "7") "]}"
    char dg[DIGEST_MAX_STR];
    const char *detail = NULL;
    char *ok = arena_printf(f->a, SIDE_FMT, dc, dl[0], dl[1], 7, dl[2], dl[3], dl[4], dl[5]);
    assert_int_equal(
        registry_manifest_put(&f->r, f->a, repo, "t", ok, strlen(ok), NULL, dg, &detail), 0);
    char *two = arena_printf(f->a, SIDE_FMT, dc, dl[0], dl[1], 11, dm1, dl[3], dm2, dl[5]);
    detail = NULL;
    assert_int_equal(
        registry_manifest_put(&f->r, f->a, repo, "u", two, strlen(two), NULL, dg, &detail),
        WERR_NOTFOUND);
    assert_non_null(detail);
    assert_string_equal(detail, dm1);
    char *lie = arena_printf(f->a, SIDE_FMT, dc, dl[0], dl[1], 9, dl[2], dl[3], dm2, dl[5]);
    detail = NULL;
    assert_int_equal(
        registry_manifest_put(&f->r, f->a, repo, "v", lie, strlen(lie), NULL, dg, &detail),
        WERR_INVALID);
    assert_non_null(detail);
    assert_non_null(strstr(detail, dl[2]));
#undef SIDE_FMT
#undef SIDE_L
    f->r.cfg = NULL;
}

static void test_manifest_missing_blob(void **state)
{
    struct fx *f = *state;
    const char *repo = "miss";
    char dc[DIGEST_MAX_STR], dl[DIGEST_MAX_STR];
    push_blob(f, repo, "{\"a\":1}", 7, dc);
    digest_of(DIGEST_SHA256, "never uploaded", 14, dl);
    char *body = arena_printf(f->a,
                              "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
                              "\",\"config\":{\"mediaType\":\"application/"
                              "vnd.oci.image.config.v1+json\",\"size\":7,\"digest\":\"%s\"},"
                              "\"layers\":[{\"mediaType\":\"application/"
                              "vnd.oci.image.layer.v1.tar+gzip\",\"size\":14,\"digest\":\"%s\"}]}",
                              dc, dl);
    char dg[DIGEST_MAX_STR];
    const char *detail = NULL;
    assert_int_equal(
        registry_manifest_put(&f->r, f->a, repo, "t", body, strlen(body), NULL, dg, &detail),
        WERR_NOTFOUND);
    assert_non_null(detail);
    assert_string_equal(detail, dl);
    /* nothing tagged or linked */
    char *got;
    size_t len;
    const char *mt;
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "t", &got, &len, dg, &mt),
                     WERR_NOTFOUND);

    /* a missing config is reported too */
    char *body2 = arena_printf(f->a,
                               "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
                               "\",\"config\":{\"mediaType\":\"application/"
                               "vnd.oci.image.config.v1+json\",\"size\":14,\"digest\":\"%s\"},"
                               "\"layers\":[]}",
                               dl);
    detail = NULL;
    assert_int_equal(
        registry_manifest_put(&f->r, f->a, repo, "t", body2, strlen(body2), NULL, dg, &detail),
        WERR_NOTFOUND);
    assert_string_equal(detail, dl);

    /* a blob that exists, but only in another repository */
    char dx[DIGEST_MAX_STR];
    push_blob(f, "elsewhere", "only there", 10, dx);
    char *body3 = arena_printf(f->a,
                               "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
                               "\",\"config\":{\"mediaType\":\"application/"
                               "vnd.oci.image.config.v1+json\",\"size\":7,\"digest\":\"%s\"},"
                               "\"layers\":[{\"mediaType\":\"application/"
                               "vnd.oci.image.layer.v1.tar+gzip\",\"size\":10,\"digest\":\"%s\"}]}",
                               dc, dx);
    detail = NULL;
    assert_int_equal(
        registry_manifest_put(&f->r, f->a, repo, "t", body3, strlen(body3), NULL, dg, &detail),
        WERR_NOTFOUND);
    assert_string_equal(detail, dx);
}

static void test_index_missing_child(void **state)
{
    struct fx *f = *state;
    const char *repo = "multi";
    char *child = make_image(f, repo, 5, 1);
    char cd[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, child, strlen(child), cd);
    char *index = arena_printf(f->a,
                               "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
                               "\",\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST
                               "\",\"size\":%zu,\"digest\":\"%s\",\"platform\":{\"architecture\":"
                               "\"amd64\",\"os\":\"linux\"}}]}",
                               strlen(child), cd);
    char dg[DIGEST_MAX_STR];
    const char *detail = NULL;
    assert_int_equal(registry_manifest_put(&f->r, f->a, repo, "idx", index, strlen(index),
                                           MT_OCI_INDEX, dg, &detail),
                     WERR_NOTFOUND);
    assert_string_equal(detail, cd);
    /* a blob with the child's digest is not a manifest of the repository */
    push_blob(f, repo, child, strlen(child), dg);
    detail = NULL;
    assert_int_equal(registry_manifest_put(&f->r, f->a, repo, "idx", index, strlen(index),
                                           MT_OCI_INDEX, dg, &detail),
                     WERR_NOTFOUND);
    assert_string_equal(detail, cd);
    /* once the child is pushed, the index goes in */
    put_ok(f, repo, cd, child, MT_OCI_MANIFEST, dg);
    put_ok(f, repo, "idx", index, MT_OCI_INDEX, dg);
    char *got;
    size_t len;
    const char *mt;
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "idx", &got, &len, dg, &mt), 0);
    assert_string_equal(mt, MT_OCI_INDEX);
    assert_memory_equal(got, index, len);
}

static void test_tags_sorted_and_delete(void **state)
{
    struct fx *f = *state;
    const char *repo = "tagged";
    char *body = make_image(f, repo, 7, 1);
    static const char *const put_order[] = {"v2", "latest", "v10", "A", "_x", "1.0", "v1"};
    char dg[DIGEST_MAX_STR];
    for (size_t i = 0; i < sizeof put_order / sizeof *put_order; i++)
        put_ok(f, repo, put_order[i], body, NULL, dg);
    char **tags;
    size_t n;
    assert_int_equal(registry_tags(&f->r, f->a, repo, &tags, &n), 0);
    assert_int_equal(n, 7);
    for (size_t i = 1; i < n; i++)
        if (strcmp(tags[i - 1], tags[i]) >= 0)
            fail_msg("tags not sorted: \"%s\" before \"%s\"", tags[i - 1], tags[i]);
    assert_string_equal(tags[0], "1.0");
    assert_string_equal(tags[1], "A");
    assert_string_equal(tags[2], "_x");
    assert_string_equal(tags[3], "latest");
    assert_string_equal(tags[4], "v1");
    assert_string_equal(tags[5], "v10");
    assert_string_equal(tags[6], "v2");

    assert_int_equal(registry_tag_delete(&f->r, f->a, repo, "v10"), 0);
    assert_int_equal(registry_tag_delete(&f->r, f->a, repo, "v10"), WERR_NOTFOUND);
    assert_int_equal(registry_tag_delete(&f->r, f->a, repo, "never"), WERR_NOTFOUND);
    assert_false(exists(f, path_tag(f->a, repo, "v10")));
    char *got;
    size_t len;
    const char *mt;
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "v10", &got, &len, dg, &mt),
                     WERR_NOTFOUND);
    /* the manifest itself stays */
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "v1", &got, &len, dg, &mt), 0);
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, dg, &got, &len, dg, &mt), 0);
    assert_int_equal(registry_tags(&f->r, f->a, repo, &tags, &n), 0);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(tags[i], "v10");

    /* an unknown repository has no tag list; a repository with blobs only has an empty one */
    assert_int_equal(registry_tags(&f->r, f->a, "unknown/repo", &tags, &n), WERR_NOTFOUND);
    push_blob(f, "blobsonly", "b", 1, dg);
    assert_int_equal(registry_tags(&f->r, f->a, "blobsonly", &tags, &n), 0);
    assert_int_equal(n, 0);
}

static void test_manifest_delete(void **state)
{
    struct fx *f = *state;
    const char *repo = "del";
    char *m1 = make_image(f, repo, 21, 1);
    char *m2 = make_image(f, repo, 22, 1);
    char d1[DIGEST_MAX_STR], d2[DIGEST_MAX_STR];
    put_ok(f, repo, "one", m1, NULL, d1);
    put_ok(f, repo, "uno", m1, NULL, d1);
    put_ok(f, repo, "two", m2, NULL, d2);
    /* "was-one" pointed at m1 once, now at m2 */
    put_ok(f, repo, "was-one", m1, NULL, d1);
    put_ok(f, repo, "was-one", m2, NULL, d2);
    assert_int_equal(registry_manifest_delete(&f->r, f->a, repo, d1), 0);
    char *got;
    size_t len;
    const char *mt;
    char gd[DIGEST_MAX_STR];
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, d1, &got, &len, gd, &mt),
                     WERR_NOTFOUND);
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "one", &got, &len, gd, &mt),
                     WERR_NOTFOUND);
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "uno", &got, &len, gd, &mt),
                     WERR_NOTFOUND);
    assert_false(exists(f, path_revision_link(f->a, repo, d1)));
    assert_false(exists(f, path_tag(f->a, repo, "one")));
    /* the other manifest and its tags stay */
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "two", &got, &len, gd, &mt), 0);
    assert_string_equal(gd, d2);
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "was-one", &got, &len, gd, &mt), 0);
    assert_string_equal(gd, d2);
    char **tags;
    size_t n;
    assert_int_equal(registry_tags(&f->r, f->a, repo, &tags, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(tags[0], "two");
    assert_string_equal(tags[1], "was-one");
    /* deleting again, or an unknown digest */
    assert_int_equal(registry_manifest_delete(&f->r, f->a, repo, d1), WERR_NOTFOUND);
    assert_int_equal(registry_manifest_delete(&f->r, f->a, "nope", d2), WERR_NOTFOUND);
}

static void test_catalog(void **state)
{
    struct fx *f = *state;
    /* "a/0" sorts before "a/_manifests" inside "a": the walk must still find both */
    static const char *const repos[] = {"b", "a/b", "c/d/e", "a-b", "a", "a/b/c", "z0", "a/0"};
    char dg[DIGEST_MAX_STR];
    for (size_t i = 0; i < sizeof repos / sizeof *repos; i++) {
        char *body = make_image(f, repos[i], (int)i + 100, 1);
        put_ok(f, repos[i], "latest", body, NULL, dg);
    }
    /* only blobs / only an upload: not listed (the reference lists _manifests) */
    push_blob(f, "blobs/only", "x", 1, dg);
    struct upload *u;
    assert_int_equal(registry_upload_start(&f->r, f->a, "upload/only", &u), 0);

    static const char *const want[] = {"a", "a-b", "a/0", "a/b", "a/b/c", "b", "c/d/e", "z0"};
    const size_t nw = sizeof want / sizeof *want;
    char **names;
    size_t n;
    int more = -1;
    assert_int_equal(registry_catalog(&f->r, f->a, NULL, 100, &names, &n, &more), 0);
    assert_int_equal(n, nw);
    assert_false(more);
    for (size_t i = 0; i < nw; i++)
        if (strcmp(names[i], want[i]) != 0)
            fail_msg("catalog[%zu] = \"%s\", want \"%s\"", i, names[i], want[i]);

    /* paging with last/max: every page size walks the same list */
    for (size_t max = 1; max <= nw + 1; max++) {
        const char *last = NULL;
        size_t seen = 0;
        for (int pages = 0; pages < 20; pages++) {
            assert_int_equal(registry_catalog(&f->r, f->a, last, max, &names, &n, &more), 0);
            assert_true(n <= max);
            for (size_t i = 0; i < n; i++) {
                assert_true(seen < nw);
                if (strcmp(names[i], want[seen]) != 0)
                    fail_msg("max %zu: \"%s\", want \"%s\"", max, names[i], want[seen]);
                seen++;
            }
            if (!more) break;
            assert_int_equal(n, max);
            last = names[n - 1];
        }
        assert_int_equal(seen, nw);
    }
    /* exact fit: no more */
    assert_int_equal(registry_catalog(&f->r, f->a, NULL, nw, &names, &n, &more), 0);
    assert_int_equal(n, nw);
    assert_false(more);
    /* after "a-b" comes "a/0", then "a/b" ("-" < "/" bytewise) */
    assert_int_equal(registry_catalog(&f->r, f->a, "a-b", 2, &names, &n, &more), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a/0");
    assert_string_equal(names[1], "a/b");
    assert_true(more);
    /* a `last` that is not itself a repository */
    assert_int_equal(registry_catalog(&f->r, f->a, "a/a", 2, &names, &n, &more), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a/b");
    assert_string_equal(names[1], "a/b/c");
    assert_true(more);
    /* past the end */
    assert_int_equal(registry_catalog(&f->r, f->a, "z0", 10, &names, &n, &more), 0);
    assert_int_equal(n, 0);
    assert_false(more);
    /* max 0: nothing returned, but more */
    assert_int_equal(registry_catalog(&f->r, f->a, NULL, 0, &names, &n, &more), 0);
    assert_int_equal(n, 0);
    assert_true(more);
}

static void test_catalog_empty(void **state)
{
    struct fx *f = *state;
    char **names = (char **)1;
    size_t n = 99;
    int more = -1;
    assert_int_equal(registry_catalog(&f->r, f->a, NULL, 10, &names, &n, &more), 0);
    assert_int_equal(n, 0);
    assert_false(more);
    assert_int_equal(registry_repo_exists(&f->r, f->a, "x"), WERR_NOTFOUND);
}

/* an artifact naming subject sdg (empty config pushed into repo) */
static char *make_artifact(struct fx *f, const char *repo, const char *sdg, size_t ssize,
                           const char *atype)
{
    char dc[DIGEST_MAX_STR];
    push_blob(f, repo, "{}", 2, dc);
    return arena_printf(
        f->a,
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",%s%s%s"
        "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"size\":2,"
        "\"digest\":\"%s\"},\"layers\":[],\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST
        "\",\"size\":%zu,\"digest\":\"%s\"},\"annotations\":{\"a\":\"%s\"}}",
        atype ? "\"artifactType\":\"" : "", atype ? atype : "", atype ? "\"," : "", dc, ssize, sdg,
        atype ? atype : "none");
}

static void test_referrers(void **state)
{
    struct fx *f = *state;
    const char *repo = "art";
    char *img = make_image(f, repo, 11, 1);
    char sdg[DIGEST_MAX_STR], a1[DIGEST_MAX_STR], a2[DIGEST_MAX_STR];
    put_ok(f, repo, "v1", img, MT_OCI_MANIFEST, sdg);
    char *m1 = make_artifact(f, repo, sdg, strlen(img), "application/x-sig");
    char *m2 = make_artifact(f, repo, sdg, strlen(img), NULL);
    put_ok(f, repo, "sig", m1, MT_OCI_MANIFEST, a1);
    digest_of(DIGEST_SHA256, m2, strlen(m2), a2);
    put_ok(f, repo, a2, m2, MT_OCI_MANIFEST, a2);
    /* the index entries, in the documented layout */
    char *link = arena_printf(f->a, "%s/_manifests/referrers/sha256/%s/sha256/%s/link",
                              path_repo(f->a, repo), sdg + 7, a1 + 7);
    assert_string_equal(get(f, link), a1);

    struct referrer *list;
    size_t n;
    const char *next;
    assert_int_equal(registry_referrers(&f->r, f->a, repo, sdg, NULL, NULL, 1000, &list, &n, &next),
                     0);
    assert_int_equal(n, 2);
    assert_null(next);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list[i].media_type, MT_OCI_MANIFEST);
        if (!strcmp(list[i].digest, a1)) {
            assert_string_equal(list[i].artifact_type, "application/x-sig");
            assert_int_equal(list[i].size, (int64_t)strlen(m1));
            assert_string_equal(list[i].annotations, "{\"a\":\"application/x-sig\"}");
        } else {
            assert_string_equal(list[i].digest, a2);
            assert_string_equal(list[i].artifact_type, "application/vnd.oci.empty.v1+json");
        }
    }
    assert_true(strcmp(list[0].digest, list[1].digest) < 0);
    /* pages of one: the first, then the rest after its cursor */
    const char *first = list[0].digest, *second = list[1].digest;
    assert_int_equal(registry_referrers(&f->r, f->a, repo, sdg, NULL, NULL, 1, &list, &n, &next),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].digest, first);
    assert_non_null(next);
    assert_string_equal(next, first);
    assert_int_equal(registry_referrers(&f->r, f->a, repo, sdg, NULL, next, 1, &list, &n, &next),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].digest, second);
    assert_null(next);
    assert_int_equal(registry_referrers(&f->r, f->a, repo, sdg, "application/x-sig", NULL, 1000,
                                        &list, &n, &next),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].digest, a1);
    assert_int_equal(
        registry_referrers(&f->r, f->a, repo, sdg, "nope/x", NULL, 1000, &list, &n, &next), 0);
    assert_int_equal(n, 0);
    /* unknown subject, unknown repository: empty */
    assert_int_equal(registry_referrers(&f->r, f->a, repo, a1, NULL, NULL, 1000, &list, &n, &next),
                     0);
    assert_int_equal(n, 0);
    assert_int_equal(
        registry_referrers(&f->r, f->a, "none", sdg, NULL, NULL, 1000, &list, &n, &next), 0);
    assert_int_equal(n, 0);
    assert_int_equal(
        registry_referrers(&f->r, f->a, repo, "sha256:zz", NULL, NULL, 1000, &list, &n, &next),
        WERR_INVALID);
    /* deleting a referrer removes its entry */
    assert_int_equal(registry_manifest_delete(&f->r, f->a, repo, a1), 0);
    assert_false(exists(f, link));
    assert_int_equal(registry_referrers(&f->r, f->a, repo, sdg, NULL, NULL, 1000, &list, &n, &next),
                     0);
    assert_int_equal(n, 1);
    /* an entry whose revision another registry removed is skipped */
    assert_int_equal(storage_delete(f->d, path_revision_dir(f->a, repo, a2)), 0);
    assert_int_equal(registry_referrers(&f->r, f->a, repo, sdg, NULL, NULL, 1000, &list, &n, &next),
                     0);
    assert_int_equal(n, 0);
}

static void test_repo_delete_and_find(void **state)
{
    struct fx *f = *state;
    char dg[DIGEST_MAX_STR], b[DIGEST_MAX_STR];
    char *img = make_image(f, "one/a", 21, 1);
    put_ok(f, "one/a", "v1", img, MT_OCI_MANIFEST, dg);
    push_blob(f, "one/a", "shared-blob", 11, b);
    const char *from = NULL;
    struct blob_desc bd;
    assert_int_equal(registry_blob_find(&f->r, f->a, b, "x", NULL, NULL, 0, &from, &bd), 0);
    assert_string_equal(from, "one/a");
    assert_int_equal(bd.size, 11);
    assert_int_equal(registry_blob_find(&f->r, f->a, b, "one/a", NULL, NULL, 0, &from, &bd),
                     WERR_NOTFOUND);
    assert_int_equal(registry_repo_delete(&f->r, f->a, "one/a"), 0);
    assert_int_equal(registry_repo_exists(&f->r, f->a, "one/a"), WERR_NOTFOUND);
    assert_int_equal(registry_repo_delete(&f->r, f->a, "one/a"), WERR_NOTFOUND);
    char **repos;
    size_t n;
    int more;
    assert_int_equal(registry_catalog(&f->r, f->a, NULL, 100, &repos, &n, &more), 0);
    assert_int_equal(n, 0);
    /* the blob data stays for garbage collection */
    assert_true(exists(f, path_blob_data(f->a, b)));
    assert_int_equal(registry_blob_find(&f->r, f->a, b, NULL, NULL, NULL, 0, &from, &bd),
                     WERR_NOTFOUND);
}

/* registry_blob_find looks at no more than max_repos repositories */
static void test_blob_find_bounded(void **state)
{
    struct fx *f = *state;
    char dg[DIGEST_MAX_STR], b[DIGEST_MAX_STR];
    static const char *const repos[] = {"m/a", "m/b", "m/c"};
    for (size_t i = 0; i < 3; i++)
        put_ok(f, repos[i], "v1", make_image(f, repos[i], 30 + (int)i, 1), MT_OCI_MANIFEST, dg);
    push_blob(f, "m/c", "only-in-c", 9, b);
    const char *from = NULL;
    struct blob_desc bd;
    assert_int_equal(registry_blob_find(&f->r, f->a, b, NULL, NULL, NULL, 2, &from, &bd),
                     WERR_NOTFOUND);
    assert_int_equal(registry_blob_find(&f->r, f->a, b, NULL, NULL, NULL, 3, &from, &bd), 0);
    assert_string_equal(from, "m/c");
    assert_int_equal(registry_blob_find(&f->r, f->a, b, NULL, NULL, NULL, 0, &from, &bd), 0);
    assert_string_equal(from, "m/c");
}

static struct config_regex one_regex(const char *pat)
{
    int ec;
    PCRE2_SIZE off;
    struct config_regex r = {
        (char *)pat, pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL)};
    assert_non_null(r.code);
    return r;
}

static void test_validation(void **state)
{
    struct fx *f = *state;
    struct config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.manifest_max = 4 << 20;
    f->r.cfg = &cfg;
    const char *repo = "v";
    char dc[DIGEST_MAX_STR], dg[DIGEST_MAX_STR];
    push_blob(f, repo, "{}", 2, dc);
    /* a literal, so -Wformat checks the arguments */
#define URL_MANIFEST_FMT                                                                           \
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","                                  \
    "\"config\":{\"mediaType\":\"a/b\",\"size\":2,\"digest\":\"%s\"},"                             \
    "\"layers\":[{\"mediaType\":\"application/"                                                    \
    "vnd.oci.image.layer.nondistributable.v1.tar+gzip\",\"size\":5,"                               \
    "\"digest\":\"sha256:%064d\",\"urls\":[\"%s\"]}]}"
    char *m = arena_printf(f->a, URL_MANIFEST_FMT, dc, 1, "https://ok.example/x");
    const char *detail = NULL;
    /* no allow list: every URL is refused */
    assert_int_equal(registry_manifest_put(&f->r, f->a, repo, "t", m, strlen(m), NULL, dg, &detail),
                     WERR_INVALID);
    assert_non_null(strstr(detail, "invalid URL"));
    struct config_regex allow = one_regex("^https://ok\\.example/");
    struct config_regex deny = one_regex("/secret");
    cfg.urls_allow = &allow;
    cfg.nurls_allow = 1;
    put_ok(f, repo, "t", m, NULL, dg);
    cfg.urls_deny = &deny;
    cfg.nurls_deny = 1;
    m = arena_printf(f->a, URL_MANIFEST_FMT, dc, 2, "https://ok.example/secret");
    assert_int_equal(registry_manifest_put(&f->r, f->a, repo, "t", m, strlen(m), NULL, dg, &detail),
                     WERR_INVALID);
    m = arena_printf(f->a, URL_MANIFEST_FMT, dc, 3, "ftp://ok.example/x");
    assert_int_equal(registry_manifest_put(&f->r, f->a, repo, "t", m, strlen(m), NULL, dg, &detail),
                     WERR_INVALID);
    cfg.validation_disabled = 1;
    put_ok(f, repo, "t", m, NULL, dg);
    cfg.validation_disabled = 0;

    /* indexes: platforms all / none / list */
    char *idx = arena_printf(f->a,
                             "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX
                             "\",\"manifests\":[{\"mediaType\":\"" MT_OCI_MANIFEST
                             "\",\"size\":9,\"digest\":\"sha256:%064d\",\"platform\":{"
                             "\"architecture\":\"arm64\",\"os\":\"linux\"}}]}",
                             9);
    assert_int_equal(
        registry_manifest_put(&f->r, f->a, repo, "i", idx, strlen(idx), NULL, dg, &detail),
        WERR_NOTFOUND);
    struct config_platform amd = {"linux", "amd64"}, arm = {"linux", "arm64"};
    cfg.index_platforms = PLATFORMS_LIST;
    cfg.platformlist = &arm;
    cfg.nplatformlist = 1;
    assert_int_equal(
        registry_manifest_put(&f->r, f->a, repo, "i", idx, strlen(idx), NULL, dg, &detail),
        WERR_NOTFOUND);
    cfg.platformlist = &amd;
    put_ok(f, repo, "i", idx, NULL, dg);
    cfg.index_platforms = PLATFORMS_NONE;
    put_ok(f, repo, "i2", idx, NULL, dg);

    /* schema 1: refused unless compatibility.schema1.enabled */
    char db[DIGEST_MAX_STR];
    push_blob(f, repo, "s1-layer", 8, db);
    char *s1 = arena_printf(f->a,
                            "{\"schemaVersion\":1,\"name\":\"v\",\"tag\":\"s\",\"fsLayers\":[{"
                            "\"blobSum\":\"%s\"}],\"history\":[{\"v1Compatibility\":\"{}\"}],"
                            "\"signatures\":[{\"header\":{},\"signature\":\"x\"}]}",
                            db);
    assert_int_equal(registry_manifest_put(&f->r, f->a, repo, "s", s1, strlen(s1),
                                           MT_DOCKER_V1_SIGNED, dg, &detail),
                     WERR_UNSUPPORTED);
    cfg.schema1_enabled = 1;
    put_ok(f, repo, "s", s1, MT_DOCKER_V1_SIGNED, dg);
    char *got;
    size_t len;
    const char *mt;
    cfg.schema1_enabled = 0;
    assert_int_equal(registry_manifest_get(&f->r, f->a, repo, "s", &got, &len, dg, &mt), 0);
    assert_string_equal(mt, MT_DOCKER_V1_SIGNED);
    pcre2_code_free(allow.code);
    pcre2_code_free(deny.code);
    f->r.cfg = NULL;
}
#undef URL_MANIFEST_FMT

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_upload_chunks_reopened),
        T(test_upload_purged_after_answer),
        T(test_hashstate_replaced_after_answer),
        T(test_upload_open_for),
        T(test_upload_open_side_by_side),
        T(test_upload_empty_blob),
        T(test_upload_digest_mismatch),
        T(test_upload_lock_and_cover),
        T(test_upload_sha512),
        T(test_upload_too_big),
        T(test_upload_broken_body),
        T(test_upload_cancel),
        T(test_mount),
        T(test_manifest_put_get),
        T(test_manifest_docker_media_type),
        T(test_manifest_missing_blob),
        T(test_manifest_refs_side_by_side),
        T(test_index_missing_child),
        T(test_tags_sorted_and_delete),
        T(test_manifest_delete),
        T(test_catalog),
        T(test_catalog_empty),
        T(test_referrers),
        T(test_repo_delete_and_find),
        T(test_blob_find_bounded),
        T(test_validation),
    };
#undef T
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
