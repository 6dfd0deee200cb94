/* test_bodyfile.c — request bodies received by the web server (issue 12):
 * lib/bodyfile.c's checks on the path it names (absolute, inside the body
 * directory, no "." / ".." / empty component, no symbolic link, a regular
 * file with one link), and registry_upload_append_file over the filesystem
 * driver (the file adopted for a first chunk, copied at an offset, the
 * upload committing to the right digest) and over inmemory (the generic
 * copy through a writer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/arena.h"
#include "../../lib/bodyfile.h"
#include "../../lib/digest.h"
#include "../../lib/err.h"
#include "../../storage/driver.h"
#include "../../storage/paths.h"
#include "../../storage/registry.h"

struct fx {
    char tmp[64];
    char body[128];
};

static void put(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static char *join(struct fx *f, const char *rest)
{
    static char buf[8][512];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 512, "%s/%s", f->tmp, rest);
    return b;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->tmp, sizeof f->tmp, "/tmp/wharf-bodyfile.XXXXXX");
    assert_non_null(mkdtemp(f->tmp));
    snprintf(f->body, sizeof f->body, "%s/body", f->tmp);
    assert_int_equal(mkdir(f->body, 0700), 0);
    assert_int_equal(mkdir(join(f, "body/sub"), 0700), 0);
    assert_int_equal(mkdir(join(f, "bodyX"), 0700), 0);
    put(join(f, "body/ok"), "hello");
    put(join(f, "body/sub/ok2"), "hi");
    put(join(f, "bodyX/file"), "x");
    put(join(f, "secret"), "TOP SECRET");
    assert_int_equal(symlink(join(f, "secret"), join(f, "body/link")), 0);
    assert_int_equal(link(join(f, "secret"), join(f, "body/hard")), 0);
    assert_int_equal(symlink(f->tmp, join(f, "body/dirlink")), 0);
    assert_int_equal(symlink(f->body, join(f, "bodylink")), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->tmp);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* open_rc: bodyfile_open's code for path under dir (the fd closed) */
static int open_rc(const char *dir, const char *path, int64_t *size)
{
    int fd;
    int64_t sz = -1;
    char *real = NULL;
    const char *why = NULL;
    int rc = bodyfile_open(dir, path, &fd, &sz, &real, &why);
    if (rc == 0) {
        assert_true(fd >= 0);
        assert_non_null(real);
        close(fd);
    } else {
        assert_int_equal(fd, -1);
        assert_null(real);
        assert_non_null(why);
    }
    free(real);
    if (size) *size = sz;
    return rc;
}

static void test_accepted(void **state)
{
    struct fx *f = *state;
    int64_t size;
    assert_int_equal(open_rc(f->body, join(f, "body/ok"), &size), 0);
    assert_int_equal(size, 5);
    assert_int_equal(open_rc(f->body, join(f, "body/sub/ok2"), &size), 0);
    assert_int_equal(size, 2);
    /* the configured directory may itself be a link (the admin's): nginx
     * names files under it as configured, or under its real path */
    assert_int_equal(open_rc(join(f, "bodylink"), join(f, "bodylink/ok"), NULL), 0);
    assert_int_equal(open_rc(join(f, "bodylink"), join(f, "body/ok"), NULL), 0);
    /* a trailing slash on the directory changes nothing */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/", f->body);
    assert_int_equal(open_rc(dir, join(f, "body/ok"), NULL), 0);
}

static void test_refused(void **state)
{
    struct fx *f = *state;
    const char *bad[] = {
        "body/../secret",      /* ".." */
        "body/./ok",           /* "." */
        "body//ok",            /* empty component */
        "body/ok/",            /* trailing slash */
        "secret",              /* outside */
        "bodyX/file",          /* a sibling whose name starts like the directory */
        "body",                /* the directory itself */
        "body/link",           /* a symbolic link to a file outside */
        "body/hard",           /* a hard link to a file outside */
        "body/dirlink/secret", /* through a directory link */
        "body/sub",            /* a directory */
        "body/sub/../ok",      /* ".." even when it would land inside */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = open_rc(f->body, join(f, bad[i]), NULL);
        if (rc != WERR_DENIED) fail_msg("%s: %d, not refused", bad[i], rc);
    }
    assert_int_equal(open_rc(f->body, "ok", NULL), WERR_DENIED);            /* relative */
    assert_int_equal(open_rc(f->body, "", NULL), WERR_DENIED);              /* empty */
    assert_int_equal(open_rc(f->body, NULL, NULL), WERR_DENIED);            /* absent */
    assert_int_equal(open_rc(NULL, join(f, "body/ok"), NULL), WERR_DENIED); /* no directory */
    assert_int_equal(open_rc("/", join(f, "body/ok"), NULL), WERR_DENIED);  /* never "/" */
    assert_int_equal(open_rc(join(f, "nodir"), join(f, "nodir/x"), NULL), WERR_DENIED);
    assert_int_equal(open_rc(f->body, join(f, "body/missing"), NULL), WERR_NOTFOUND);
    /* nothing was moved or changed */
    struct stat sb;
    assert_int_equal(lstat(join(f, "body/link"), &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_int_equal(stat(join(f, "secret"), &sb), 0);
    assert_int_equal(sb.st_size, 10);
}

/* append a body file of n bytes (seeded) to u, through registry_upload_append_file */
static int append_file(struct registry *r, struct arena *a, struct upload *u, const char *path,
                       const unsigned char *p, size_t n, int keep_src)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    int rc = registry_upload_append_file(r, a, u, fd, keep_src ? path : NULL, (int64_t)n);
    close(fd);
    unlink(path); /* as nginx does at the end of the request */
    return rc;
}

static void upload_two_chunks(struct storage_driver *d, struct fx *f, int check_inode)
{
    struct registry r = {.d = d};
    struct arena *a = arena_new();
    unsigned char buf[300000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)((i * 2654435761u) >> 13);
    struct upload *u;
    assert_int_equal(registry_upload_start(&r, a, "x/y", &u), 0);
    assert_int_equal(registry_upload_open(&r, a, "x/y", u->uuid, &u), 0);
    assert_int_equal(append_file(&r, a, u, join(f, "body/c1"), buf, 100000, 1), 0);
    assert_int_equal(u->offset, 100000);
    if (check_inode) {
        /* adopted: Wharf's mode, one link once nginx removed its name */
        char full[600];
        snprintf(full, sizeof full, "%s/root%s", f->tmp, path_upload_data(a, "x/y", u->uuid));
        struct stat sb;
        assert_int_equal(stat(full, &sb), 0);
        assert_int_equal(sb.st_nlink, 1);
        assert_int_equal(sb.st_size, 100000);
        assert_int_equal(sb.st_mode & 0777, 0644);
    }
    storage_unlock(u->lock);
    /* another "worker": the state saved, the second chunk copied at 100000 */
    struct upload *u2;
    assert_int_equal(registry_upload_open(&r, a, "x/y", u->uuid, &u2), 0);
    assert_int_equal(u2->offset, 100000);
    assert_int_equal(append_file(&r, a, u2, join(f, "body/c2"), buf + 100000, 200000, 1), 0);
    char want[DIGEST_MAX_STR];
    digest_of(DIGEST_SHA256, buf, sizeof buf, want);
    struct blob_desc bd;
    assert_int_equal(registry_upload_commit(&r, a, u2, want, &bd), 0);
    assert_int_equal(bd.size, (int64_t)sizeof buf);
    char *data;
    size_t len;
    assert_int_equal(storage_get(d, a, path_blob_data(a, want), 1 << 20, &data, &len), 0);
    assert_int_equal(len, sizeof buf);
    assert_memory_equal(data, buf, sizeof buf);
    /* a body file shorter than claimed: WERR_IO, nothing saved */
    assert_int_equal(registry_upload_start(&r, a, "x/y", &u), 0);
    assert_int_equal(registry_upload_open(&r, a, "x/y", u->uuid, &u), 0);
    int fd = open(join(f, "body/c3"), O_CREAT | O_TRUNC | O_RDWR, 0600);
    assert_int_equal(write(fd, buf, 10), 10);
    assert_int_equal(registry_upload_append_file(&r, a, u, fd, NULL, 20), WERR_IO);
    assert_int_equal(u->offset, 0);
    close(fd);
    arena_free(a);
}

static void test_append_filesystem(void **state)
{
    struct fx *f = *state;
    struct storage_driver *d;
    mode_t um = umask(022);
    assert_int_equal(driver_filesystem_new(join(f, "root"), &d), 0);
    upload_two_chunks(d, f, 1);
    storage_driver_free(d);
    umask(um);
}

static void test_append_inmemory(void **state)
{
    struct fx *f = *state;
    struct storage_driver *d;
    assert_int_equal(driver_inmemory_new(&d), 0);
    assert_null(d->ops->append_file); /* the generic copy through a writer */
    upload_two_chunks(d, f, 0);
    storage_driver_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_filesystem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_inmemory, setup, teardown),
    };
    return cmocka_run_group_tests_name("bodyfile", tests, NULL, NULL);
}
