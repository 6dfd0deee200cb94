/* filesystem.c — the filesystem storage driver.
 *
 * The driver path /a/b is the file <rootdir>/a/b, exactly as the reference
 * registry's filesystem driver lays it out, so a root is shared with it.
 * Files are created 0666 and directories 0777, less the umask (the reference
 * does the same: 0644/0755 under the usual umask 022).
 *
 * Several worker processes (and threads) use one root at once: the driver
 * keeps no state besides the root, whole content is placed by writing a
 * hidden temp file (".tmp-<pid>-<seq>-<rand>") in the target's directory and
 * renaming it over the target, and move is rename(2). Names starting with
 * ".tmp-" are never listed or walked, and are refused as path components. */
#include "filesystem.h"

#include "../../lib/err.h"
#include "../../lib/log.h"
#include "../../lib/mstime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define FS_TMP_PREFIX STORAGE_TMP_PREFIX
#define FS_PATH_MAX 4096

struct fs_driver {
    struct storage_driver base;
    char *root;      /* absolute, no trailing '/'; "" when the root is "/" */
    int direct;      /* writers use O_DIRECT for aligned blocks (driver_filesystem_directio) */
    mode_t filemode; /* what open(0666) gives under the umask: an adopted file gets it */
};

struct fs_reader {
    struct storage_reader base;
    int fd; /* -1 once closed */
};

/* Upload data is written with O_DIRECT where the filesystem allows it: the
 * bytes go from a staging buffer straight to the device instead of being
 * copied into newly allocated page-cache pages, which is what bounds a
 * buffered write of a multi-GB layer (on VMs first-touch of new memory is
 * slow). Only whole aligned blocks go direct; a position that is not
 * aligned (an earlier chunk ended mid-block) and the tail at close are
 * written through the page cache, on the same file, never overlapping. */
#define FS_DIRECT_ALIGN 4096
#define FS_DIRECT_STAGE (512 * 1024)

struct fs_writer {
    struct storage_writer base;
    int fd;        /* -1 once closed */
    int dfd;       /* O_DIRECT descriptor of the same file, or -1 */
    int64_t size;  /* logical size: bytes in the file plus staged bytes */
    char *stage;   /* FS_DIRECT_ALIGN-aligned, malloc'd on the first write */
    size_t staged; /* bytes in stage, which belong at offset stage_off */
    int64_t stage_off;
    char *full;          /* arena: filesystem path, for cancel */
    struct arena *arena; /* the writer's: for work after the response */
};

static const struct storage_driver_ops fs_ops;
static const struct storage_reader_ops fs_reader_ops;
static const struct storage_writer_ops fs_writer_ops;
static const struct storage_lock_ops fs_lock_ops;

/* fs_err: the one mapping from errno to a WERR_* code. */
static int fs_err(int e)
{
    switch (e) {
    case 0: return WERR_IO;
    case ENOENT:
    case ENOTDIR: return WERR_NOTFOUND;
    case EEXIST:
    case ENOTEMPTY:
    case EISDIR: return WERR_EXISTS;
    case EACCES:
    case EPERM:
    case EROFS: return WERR_DENIED;
    case ENAMETOOLONG:
    case EINVAL:
    case ELOOP: return WERR_INVALID;
    case EFBIG: return WERR_TOOBIG;
    case ENOMEM: return WERR_NOMEM;
    case ENOSPC:
    case EDQUOT: return WERR_NOSPACE;
    case EIO:
    default: return WERR_IO;
    }
}

/* fs_fail: map errno, logging what an operator must see (I/O, permissions).
 * A full filesystem is logged by fs_nospace, once, not by every failing op. */
static int fs_fail(const char *op, const char *path)
{
    int e = errno;
    int rc = fs_err(e);
    if (rc == WERR_IO || rc == WERR_DENIED)
        log_warn("storage filesystem: %s %s: %s", op, path ? path : "", strerror(e));
    return rc;
}

/* Set while writes of this process fail for lack of space: the first failure
 * is logged with the free space, the next ones are not (a push of many
 * layers would repeat it for every chunk) until a write succeeds again. */
static int fs_full_logged;

/* fs_nospace: rc passed through; when it is WERR_NOSPACE, log it once with
 * the space left on the filesystem holding path (a full path; the root when
 * path is not there). */
static int fs_nospace(int rc, const struct fs_driver *d, const char *path)
{
    if (rc != WERR_NOSPACE) {
        if (rc == 0 && __atomic_load_n(&fs_full_logged, __ATOMIC_RELAXED))
            __atomic_store_n(&fs_full_logged, 0, __ATOMIC_RELAXED);
        return rc;
    }
    if (__atomic_exchange_n(&fs_full_logged, 1, __ATOMIC_RELAXED)) return rc;
    struct statvfs sv;
    if (statvfs(path, &sv) != 0 && (!d || statvfs(d->root, &sv) != 0)) {
        log_error("storage filesystem: no space left writing %s (free space unknown: %s)", path,
                  strerror(errno));
        return rc;
    }
    log_error("storage filesystem: no space left writing %s: %llu bytes free (%llu for "
              "unprivileged writers) of %llu, %llu inodes free; writes fail until space is freed",
              path, (unsigned long long)sv.f_bfree * sv.f_frsize,
              (unsigned long long)sv.f_bavail * sv.f_frsize,
              (unsigned long long)sv.f_blocks * sv.f_frsize, (unsigned long long)sv.f_favail);
    return rc;
}

/* fs_full: validate path and build <root><path> (malloc, caller frees). */
static int fs_full(struct fs_driver *d, const char *path, int allow_root, char **out)
{
    *out = NULL;
    int rc = storage_path_check(path, FS_PATH_MAX, allow_root);
    if (rc) return rc;
    size_t rl = strlen(d->root), pl = strlen(path);
    char *f = malloc(rl + pl + 1);
    if (!f) return WERR_NOMEM;
    memcpy(f, d->root, rl);
    memcpy(f + rl, path, pl + 1);
    *out = f;
    return 0;
}

/* fsync_dir: make the entries of directory dir (a file's name placed by
 * rename or mkdir) durable: without it a power loss can forget a name whose
 * file was fsynced, and a committed blob, link or tag is gone. */
static int fsync_dir(const char *dir)
{
    int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return fs_fail("open", dir);
    int rc = 0;
    if (fsync(dfd) && errno != EINVAL) rc = fs_fail("fsync", dir);
    close(dfd);
    return rc;
}

/* fsync_parent: fsync the directory holding path (a file or directory). */
static int fsync_parent(const char *path)
{
    char *dir = strdup(path);
    if (!dir) return WERR_NOMEM;
    char *s = strrchr(dir, '/');
    int rc = 0;
    if (s) {
        s[s == dir ? 1 : 0] = 0;
        rc = fsync_dir(dir);
    }
    free(dir);
    return rc;
}

/* mkdir_made: dir was just created by mkdir(2): its entry in the parent is
 * made durable, or a file committed into it could vanish with it. */
static int mkdir_made(const char *dir)
{
    return fsync_parent(dir);
}

/* mkdir_p: create dir and its missing parents. dir is modified temporarily. */
static int mkdir_p(char *dir)
{
    if (!*dir) return 0;
    if (mkdir(dir, 0777) == 0) return mkdir_made(dir);
    if (errno == EEXIST) return 0;
    if (errno != ENOENT) return fs_fail("mkdir", dir);
    char *s = strrchr(dir, '/');
    if (!s || s == dir) return fs_fail("mkdir", dir);
    *s = 0;
    int rc = mkdir_p(dir);
    *s = '/';
    if (rc) return rc;
    if (mkdir(dir, 0777) == 0) return mkdir_made(dir);
    if (errno == EEXIST) return 0;
    return fs_fail("mkdir", dir);
}

/* mkdir_parent: create the directory that will hold the file full. */
static int mkdir_parent(const char *full)
{
    char *dir = strdup(full);
    if (!dir) return WERR_NOMEM;
    char *s = strrchr(dir, '/');
    int rc = 0;
    if (s && s != dir) {
        *s = 0;
        rc = mkdir_p(dir);
    }
    free(dir);
    return rc;
}

static int write_all(int fd, const void *buf, size_t n, size_t *done)
{
    const char *p = buf;
    size_t off = 0;
    int rc = 0;
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            rc = fs_fail("write", NULL);
            break;
        }
        if (w == 0) {
            rc = WERR_IO;
            break;
        }
        off += (size_t)w;
    }
    if (done) *done = off;
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* read_names: sorted (bytewise) names in directory full, without ".", ".."
 * and temp files. *names and each name are malloc'd (names_free). */
static int read_names(const char *full, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *dp = opendir(full);
    if (!dp) return fs_fail("opendir", full);
    char **v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    for (;;) {
        errno = 0;
        de = readdir(dp);
        if (!de) {
            if (errno) rc = fs_fail("readdir", full);
            break;
        }
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0) continue;
        if (strncmp(nm, FS_TMP_PREFIX, sizeof(FS_TMP_PREFIX) - 1) == 0) continue;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                rc = WERR_NOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        if (!(v[len] = strdup(nm))) {
            rc = WERR_NOMEM;
            break;
        }
        len++;
    }
    closedir(dp);
    if (rc) {
        names_free(v, len);
        return rc;
    }
    if (len > 1) qsort(v, len, sizeof(*v), name_cmp);
    *names = v;
    *n = len;
    return 0;
}

static void stat_fill(const struct stat *sb, struct storage_stat *st)
{
    st->is_dir = S_ISDIR(sb->st_mode) ? 1 : 0;
    st->size = st->is_dir ? 0 : (int64_t)sb->st_size;
    st->mtime = sb->st_mtim.tv_sec;
}

static void fs_free(struct storage_driver *base)
{
    struct fs_driver *d = (struct fs_driver *)base;
    if (!d) return;
    free(d->root);
    free(d);
}

/* open_file: open a regular file of the driver read-only and stat it;
 * WERR_NOTFOUND for a directory. On success *fd is the caller's to close. */
static int open_file(struct storage_driver *base, const char *path, int *fd, struct stat *sb)
{
    char *full = NULL;
    int rc = fs_full((struct fs_driver *)base, path, 0, &full);
    if (rc) return rc;
    int f = open(full, O_RDONLY | O_CLOEXEC);
    int err = errno;
    free(full);
    if (f < 0) {
        errno = err;
        return fs_fail("open", path);
    }
    if (fstat(f, sb))
        rc = fs_fail("fstat", path);
    else if (S_ISDIR(sb->st_mode))
        rc = WERR_NOTFOUND;
    if (rc) {
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

static int fs_get_content(struct storage_driver *base, struct arena *a, const char *path,
                          size_t max, char **data, size_t *len)
{
    int fd = -1;
    *data = NULL;
    *len = 0;
    struct stat sb;
    int rc = open_file(base, path, &fd, &sb);
    if (rc) goto out;
    if (sb.st_size < 0 || (uint64_t)sb.st_size > max) {
        rc = WERR_TOOBIG;
        goto out;
    }
    /* the size at open bounds the read: a file that grows meanwhile (upload
     * data) is read as it was; content placed by put never changes in place */
    size_t want = (size_t)sb.st_size, got = 0;
    char *buf = arena_alloc(a, want + 1);
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = fs_fail("read", path);
            goto out;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    buf[got] = 0;
    *data = buf;
    *len = got;
out:
    if (fd >= 0) close(fd);
    return rc;
}

static int fs_put_content(struct storage_driver *base, const char *path, const void *data,
                          size_t len)
{
    static unsigned long seq;
    struct fs_driver *d = (struct fs_driver *)base;
    char *full = NULL, *dir = NULL, *tmp = NULL;
    int fd = -1, created = 0, placed = 0;
    int rc = fs_full(d, path, 0, &full);
    if (rc) goto out;
    if (!(dir = strdup(full))) {
        rc = WERR_NOMEM;
        goto out;
    }
    *strrchr(dir, '/') = 0;
    for (int tries = 0;; tries++) {
        unsigned int rnd = 0;
        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) rnd = 0;
        free(tmp);
        if (asprintf(&tmp, "%s/" FS_TMP_PREFIX "%ld-%lu-%08x", dir, (long)getpid(),
                     __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED), rnd) < 0) {
            tmp = NULL;
            rc = WERR_NOMEM;
            goto out;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            created = 1;
            break;
        }
        if (errno == ENOENT && tries < 4) {
            /* the directory is missing (or was removed by a concurrent delete) */
            if ((rc = mkdir_p(dir))) goto out;
            continue;
        }
        if (errno == EEXIST && tries < 4) continue;
        rc = fs_fail("create", path);
        goto out;
    }
    rc = write_all(fd, data, len, NULL);
    if (!rc && fsync(fd)) rc = fs_fail("fsync", path);
    if (close(fd) && !rc) rc = fs_fail("close", path);
    fd = -1;
    if (rc) goto out;
    if (rename(tmp, full)) {
        rc = fs_fail("rename", path);
        goto out;
    }
    placed = 1;
    /* the new name must be durable before the caller acknowledges it */
    rc = fsync_dir(dir);
out:
    if (fd >= 0) close(fd);
    if (created && !placed) unlink(tmp);
    rc = fs_nospace(rc, d, full ? full : d->root);
    free(tmp);
    free(dir);
    free(full);
    return rc;
}

static void fs_reader_release(void *p)
{
    struct fs_reader *r = p;
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
}

static int fs_reader(struct storage_driver *base, struct arena *a, const char *path, int64_t offset,
                     struct storage_reader **out)
{
    int fd = -1;
    *out = NULL;
    struct stat sb;
    int rc = open_file(base, path, &fd, &sb);
    if (rc) goto out;
    if (offset < 0 || offset > (int64_t)sb.st_size) {
        rc = WERR_RANGE;
        goto out;
    }
    if (offset && lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        rc = fs_fail("lseek", path);
        goto out;
    }
    struct fs_reader *r = arena_alloc(a, sizeof(*r));
    r->base.ops = &fs_reader_ops;
    r->fd = fd;
    fd = -1;
    arena_cleanup(a, fs_reader_release, r);
    *out = &r->base;
out:
    if (fd >= 0) close(fd);
    return rc;
}

static ssize_t fs_read(struct storage_reader *base, void *buf, size_t n)
{
    struct fs_reader *r = (struct fs_reader *)base;
    if (r->fd < 0) return WERR_INVALID;
    for (;;) {
        ssize_t got = read(r->fd, buf, n);
        if (got >= 0) return got;
        if (errno != EINTR) return fs_fail("read", NULL);
    }
}

static void fs_reader_close(struct storage_reader *base)
{
    /* the struct lives on the arena: its cleanup sees fd == -1 and does nothing */
    fs_reader_release(base);
}

int fs_reader_fd(struct storage_reader *base)
{
    if (!base || base->ops != &fs_reader_ops) return -1;
    return ((struct fs_reader *)base)->fd;
}

static int pwrite_all(int fd, const char *p, size_t n, int64_t off)
{
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return fs_fail("write", NULL);
        }
        if (k == 0) return WERR_IO;
        p += k;
        n -= (size_t)k;
        off += k;
    }
    return 0;
}

/* flush_stage: write what is staged: the aligned head direct, the rest buffered */
static int flush_stage(struct fs_writer *w)
{
    if (!w->staged) return 0;
    size_t aligned = w->staged & ~(size_t)(FS_DIRECT_ALIGN - 1);
    int rc = 0;
    if (aligned) rc = pwrite_all(w->dfd, w->stage, aligned, w->stage_off);
    if (!rc && w->staged > aligned)
        rc = pwrite_all(w->fd, w->stage + aligned, w->staged - aligned, w->stage_off + aligned);
    if (rc) w->size = w->stage_off; /* what was staged is not in the file */
    w->staged = 0;
    return rc;
}

static void close_fds(struct fs_writer *w)
{
    if (w->dfd >= 0) close(w->dfd);
    if (w->fd >= 0) close(w->fd);
    w->fd = w->dfd = -1;
    free(w->stage);
    w->stage = NULL;
    w->staged = 0;
}

static void fs_writer_release(void *p)
{
    struct fs_writer *w = p;
    if (w->fd >= 0) {
        (void)flush_stage(w);
        close_fds(w);
    }
}

void driver_filesystem_directio(struct storage_driver *base, int on)
{
    if (base && base->ops == &fs_ops) ((struct fs_driver *)base)->direct = on;
}

static int fs_writer(struct storage_driver *base, struct arena *a, const char *path, int append,
                     struct storage_writer **out)
{
    struct fs_driver *d = (struct fs_driver *)base;
    char *full = NULL;
    int fd = -1;
    off_t size = 0;
    *out = NULL;
    int rc = fs_full(d, path, 0, &full);
    if (rc) goto out;
    for (int tries = 0;; tries++) {
        fd = open(full, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd >= 0) break;
        if (errno == ENOENT && tries < 4) {
            if ((rc = mkdir_parent(full))) goto out;
            continue;
        }
        rc = fs_fail("open", path);
        goto out;
    }
    if (!append) {
        if (ftruncate(fd, 0)) {
            rc = fs_fail("ftruncate", path);
            goto out;
        }
    } else if ((size = lseek(fd, 0, SEEK_END)) < 0) {
        rc = fs_fail("lseek", path);
        goto out;
    }
    struct fs_writer *w = arena_zalloc(a, sizeof(*w));
    w->base.ops = &fs_writer_ops;
    w->fd = fd;
    /* no O_DIRECT (tmpfs, some FUSE): EINVAL, then plain buffered writes */
    w->dfd = d->direct ? open(full, O_WRONLY | O_DIRECT | O_CLOEXEC) : -1;
    if (d->direct && w->dfd < 0) {
        log_info("filesystem: no O_DIRECT on %s (%s): buffered writes", d->root, strerror(errno));
        d->direct = 0; /* the same for every file of this root */
    }
    w->size = (int64_t)size;
    w->full = arena_strdup(a, full);
    w->arena = a;
    fd = -1;
    arena_cleanup(a, fs_writer_release, w);
    *out = &w->base;
out:
    if (fd >= 0) close(fd);
    if (rc == WERR_NOSPACE) fs_nospace(rc, d, full);
    free(full);
    return rc;
}

static int write_chunk(struct fs_writer *w, const void *buf, size_t n);

static int fs_write(struct storage_writer *base, const void *buf, size_t n)
{
    struct fs_writer *w = (struct fs_writer *)base;
    return fs_nospace(write_chunk(w, buf, n), NULL, w->full);
}

static int write_chunk(struct fs_writer *w, const void *buf, size_t n)
{
    if (w->fd < 0) return WERR_INVALID;
    if (w->dfd < 0) {
        size_t done = 0;
        int rc = write_all(w->fd, buf, n, &done);
        w->size += (int64_t)done;
        return rc;
    }
    if (!w->stage && posix_memalign((void **)&w->stage, FS_DIRECT_ALIGN, FS_DIRECT_STAGE)) {
        w->stage = NULL;
        return WERR_NOMEM;
    }
    const char *p = buf;
    while (n > 0) {
        if (w->staged == 0 && (w->size % FS_DIRECT_ALIGN) != 0) {
            /* not on a block boundary: buffered up to the next one */
            size_t k = FS_DIRECT_ALIGN - (size_t)(w->size % FS_DIRECT_ALIGN);
            if (k > n) k = n;
            int rc = pwrite_all(w->fd, p, k, w->size);
            if (rc) return rc;
            w->size += (int64_t)k;
            p += k;
            n -= k;
            continue;
        }
        if (w->staged == 0) w->stage_off = w->size;
        size_t k = FS_DIRECT_STAGE - w->staged;
        if (k > n) k = n;
        memcpy(w->stage + w->staged, p, k);
        w->staged += k;
        w->size += (int64_t)k;
        p += k;
        n -= k;
        if (w->staged == FS_DIRECT_STAGE) {
            int rc = flush_stage(w);
            if (rc) return rc;
        }
    }
    return 0;
}

static int64_t fs_writer_size(struct storage_writer *base)
{
    return ((struct fs_writer *)base)->size;
}

static int fs_writer_truncate(struct storage_writer *base, int64_t size)
{
    struct fs_writer *w = (struct fs_writer *)base;
    if (w->fd < 0) return WERR_INVALID;
    if (size < 0 || size > w->size) return WERR_RANGE;
    int frc = flush_stage(w);
    if (frc) return frc;
    if (ftruncate(w->fd, (off_t)size)) return fs_fail("ftruncate", NULL);
    if (lseek(w->fd, (off_t)size, SEEK_SET) < 0) return fs_fail("lseek", NULL);
    w->size = size;
    return 0;
}

static void prefetch_cleanup(void *p)
{
    int fd = (int)(intptr_t)p;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    close(fd);
}

static int fs_commit(struct storage_writer *base)
{
    struct fs_writer *w = (struct fs_writer *)base;
    if (w->fd < 0) return WERR_INVALID;
    int rc = flush_stage(w);
    if (!rc && fsync(w->fd)) rc = fs_fail("fsync", NULL);
    if (!rc && w->dfd >= 0 && w->size > 0) {
        /* Data written with O_DIRECT is not in the page cache, and a pushed
         * layer is often pulled soon after: once the response has gone out
         * (arena cleanups run after it), ask the kernel to read it back in
         * the background instead of making the first pull read the disk. */
        int pfd = dup(w->fd);
        if (pfd >= 0) arena_cleanup(w->arena, prefetch_cleanup, (void *)(intptr_t)pfd);
    }
    if (w->dfd >= 0) close(w->dfd);
    w->dfd = -1;
    if (close(w->fd) && !rc) rc = fs_fail("close", NULL);
    w->fd = -1;
    free(w->stage);
    w->stage = NULL;
    /* the file's name too: the writer may have created it (and its directory) */
    if (!rc) rc = fsync_parent(w->full);
    return fs_nospace(rc, NULL, w->full);
}

static void fs_cancel(struct storage_writer *base)
{
    struct fs_writer *w = (struct fs_writer *)base;
    if (w->fd < 0) return;
    w->staged = 0;
    close_fds(w);
    if (unlink(w->full) && errno != ENOENT) (void)fs_fail("unlink", NULL);
}

static void fs_writer_close(struct storage_writer *base)
{
    fs_writer_release(base);
}

static int fs_stat(struct storage_driver *base, const char *path, struct storage_stat *st)
{
    struct fs_driver *d = (struct fs_driver *)base;
    char *full = NULL;
    int rc = fs_full(d, path, 1, &full);
    if (rc) goto out;
    struct stat sb;
    if (stat(full, &sb)) {
        /* the root itself not a directory (a file in its place, or under
         * one): nothing in it can be reached, which is not an absent path */
        if (errno == ENOTDIR && !strcmp(path, "/")) {
            log_warn("storage filesystem: stat %s: %s", full, strerror(errno));
            rc = WERR_IO;
            goto out;
        }
        rc = fs_fail("stat", path);
        goto out;
    }
    stat_fill(&sb, st);
out:
    free(full);
    return rc;
}

static int fs_list(struct storage_driver *base, struct arena *a, const char *path, char ***names,
                   size_t *n)
{
    struct fs_driver *d = (struct fs_driver *)base;
    char *full = NULL, **v = NULL;
    size_t len = 0;
    *names = NULL;
    *n = 0;
    int rc = fs_full(d, path, 1, &full);
    if (rc) goto out;
    if ((rc = read_names(full, &v, &len))) goto out;
    char **res = arena_alloc(a, (len + 1) * sizeof(*res));
    for (size_t i = 0; i < len; i++)
        res[i] = arena_strdup(a, v[i]);
    res[len] = NULL;
    *names = res;
    *n = len;
out:
    names_free(v, len);
    free(full);
    return rc;
}

static int fs_move(struct storage_driver *base, const char *src, const char *dst)
{
    struct fs_driver *d = (struct fs_driver *)base;
    char *fsrc = NULL, *fdst = NULL;
    int rc = fs_full(d, src, 0, &fsrc);
    if (!rc) rc = fs_full(d, dst, 0, &fdst);
    if (rc) goto out;
    size_t sl = strlen(src);
    if (strncmp(dst, src, sl) == 0 && dst[sl] == '/') {
        rc = WERR_INVALID; /* into its own subtree */
        goto out;
    }
    struct stat sb;
    if (lstat(fsrc, &sb)) {
        rc = fs_fail("stat", src);
        goto out;
    }
    for (int tries = 0;; tries++) {
        if ((rc = mkdir_parent(fdst))) goto out;
        if (rename(fsrc, fdst) == 0) break;
        /* dst's parent may have been removed between mkdir and rename */
        if (errno == ENOENT && tries < 4 && lstat(fsrc, &sb) == 0) continue;
        rc = fs_fail("rename", src);
        goto out;
    }
    /* the new name durable before the caller acknowledges it (a blob moved
     * into place is then linked and announced); the old name's removal is
     * made durable too, so a crash does not bring back what was moved */
    rc = fsync_parent(fdst);
    if (!rc) rc = fsync_parent(fsrc);
out:
    if (rc == WERR_NOSPACE) fs_nospace(rc, d, fdst ? fdst : d->root);
    free(fsrc);
    free(fdst);
    return rc;
}

/* rm_tree: remove name (relative to atfd) and everything below it; a name
 * that disappears meanwhile is not an error. Symlinks are removed, not followed. */
static int rm_tree(int atfd, const char *name)
{
    if (unlinkat(atfd, name, 0) == 0 || errno == ENOENT) return 0;
    if (errno != EISDIR && errno != EPERM) return fs_fail("unlink", NULL);
    int fd = openat(atfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : fs_fail("open", NULL);
    DIR *dp = fdopendir(fd);
    if (!dp) {
        int rc = fs_fail("fdopendir", NULL);
        close(fd);
        return rc;
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(dp))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        rc = rm_tree(dirfd(dp), de->d_name);
    }
    closedir(dp);
    if (!rc && unlinkat(atfd, name, AT_REMOVEDIR) && errno != ENOENT) rc = fs_fail("rmdir", NULL);
    return rc;
}

static int fs_delete(struct storage_driver *base, const char *path)
{
    struct fs_driver *d = (struct fs_driver *)base;
    char *full = NULL;
    int rc = fs_full(d, path, 0, &full);
    if (rc) goto out;
    struct stat sb;
    if (lstat(full, &sb)) {
        rc = fs_fail("stat", path);
        goto out;
    }
    rc = rm_tree(AT_FDCWD, full);
out:
    free(full);
    return rc;
}

/* walk_dir: visit the children of driver directory dpath. top: a missing
 * directory is WERR_NOTFOUND; below, it was removed meanwhile and is skipped. */
static int walk_dir(struct fs_driver *d, const char *dpath, int top, storage_walk_fn fn, void *ctx)
{
    char *full = NULL, **names = NULL;
    size_t n = 0;
    int rc = fs_full(d, dpath, 1, &full);
    if (rc) goto out;
    /* names are read first and the directory closed, so the callback may
     * change the tree (delete what it visits) and no fd is held per level */
    rc = read_names(full, &names, &n);
    if (rc) {
        if (!top && rc == WERR_NOTFOUND) rc = 0;
        goto out;
    }
    int root = dpath[1] == 0;
    for (size_t i = 0; i < n; i++) {
        char *child = NULL, *cfull = NULL;
        if (asprintf(&child, "%s/%s", root ? "" : dpath, names[i]) < 0) {
            rc = WERR_NOMEM;
            break;
        }
        if (asprintf(&cfull, "%s%s", d->root, child) < 0) {
            free(child);
            rc = WERR_NOMEM;
            break;
        }
        struct stat sb;
        int r = stat(cfull, &sb);
        free(cfull);
        if (r) {
            r = errno == ENOENT ? 0 : fs_fail("stat", child);
            free(child);
            if (r) {
                rc = r;
                break;
            }
            continue;
        }
        struct storage_stat st;
        stat_fill(&sb, &st);
        r = fn(ctx, child, &st);
        if (st.is_dir) {
            if (r == 0)
                r = walk_dir(d, child, 0, fn, ctx);
            else if (r == WALK_SKIP_DIR)
                r = 0;
        } else if (r == WALK_SKIP_DIR) {
            /* as the reference: skip-dir from a file skips the rest of its directory */
            free(child);
            break;
        }
        free(child);
        if (r) {
            rc = r;
            break;
        }
    }
out:
    names_free(names, n);
    free(full);
    return rc;
}

static int fs_walk(struct storage_driver *base, const char *path, storage_walk_fn fn, void *ctx)
{
    return walk_dir((struct fs_driver *)base, path, 1, fn, ctx);
}

static int fs_local_path(struct storage_driver *base, struct arena *a, const char *path, char **out)
{
    struct fs_driver *d = (struct fs_driver *)base;
    char *full = NULL;
    *out = NULL;
    int rc = fs_full(d, path, 0, &full);
    if (rc) goto out;
    struct stat sb;
    if (stat(full, &sb)) {
        rc = fs_fail("stat", path);
        goto out;
    }
    if (S_ISDIR(sb.st_mode)) {
        rc = WERR_INVALID;
        goto out;
    }
    *out = arena_strdup(a, full);
out:
    free(full);
    return rc;
}

/* ---- locks: flock(2) on a file at the lock's path ----
 * The kernel drops a flock when its holder dies, so ttl_s is not needed.
 * The holder unlinks the file before releasing it (so lock files do not pile
 * up); a waiter that then gets the lock holds it on an unlinked file, which
 * it notices by comparing inodes and takes the new file instead. */
struct fs_lock {
    struct storage_lock base;
    int fd;     /* -1 once released */
    char *full; /* arena */
};

static void fs_lock_release(void *p)
{
    struct fs_lock *l = p;
    if (l->fd < 0) return;
    unlink(l->full); /* while still held: see above */
    close(l->fd);
    l->fd = -1;
}

static int fs_lock(struct storage_driver *base, struct arena *a, const char *path, int ttl_s,
                   long wait_ms, struct storage_lock **out)
{
    struct fs_driver *d = (struct fs_driver *)base;
    (void)ttl_s;
    *out = NULL;
    char *full = NULL;
    int fd = -1;
    int rc = fs_full(d, path, 0, &full);
    if (rc) return rc;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long pause = 2;
    for (int tries = 0;;) {
        fd = open(full, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == ENOENT && tries++ < 4) {
                if ((rc = mkdir_parent(full))) goto out;
                continue;
            }
            rc = fs_fail("open", path);
            goto out;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            struct stat held, now;
            if (fstat(fd, &held) == 0 && stat(full, &now) == 0 && held.st_ino == now.st_ino &&
                held.st_dev == now.st_dev)
                break;
            close(fd); /* the file was released and removed meanwhile: the next one */
            fd = -1;
            continue;
        }
        if (errno != EWOULDBLOCK && errno != EINTR) {
            rc = fs_fail("flock", path);
            goto out;
        }
        close(fd);
        fd = -1;
        long waited = ms_since(&t0);
        if (waited >= wait_ms) {
            rc = WERR_BUSY;
            goto out;
        }
        /* polled (not a blocking flock) so the wait is bounded */
        ms_sleep(pause < wait_ms - waited ? pause : wait_ms - waited);
        if (pause < 50) pause *= 2;
    }
    struct fs_lock *l = arena_zalloc(a, sizeof(*l));
    l->base.ops = &fs_lock_ops;
    l->fd = fd;
    l->full = arena_strdup(a, full);
    fd = -1;
    arena_cleanup(a, fs_lock_release, l);
    *out = &l->base;
out:
    if (fd >= 0) close(fd);
    free(full);
    return rc;
}

static int fs_lock_renew(struct storage_lock *base)
{
    return ((struct fs_lock *)base)->fd >= 0 ? 0 : WERR_BUSY;
}

static void fs_unlock(struct storage_lock *base)
{
    fs_lock_release(base);
}

/* ---- append_file (issue 12): request bodies the web server received ---- */

/* adopt_link: make fd's inode the file full, replacing it: the inode itself,
 * linked through /proc/self/fd (never through a name another process could
 * swap), under a temp name in full's directory, then renamed over full.
 * The inode must become Wharf's file: owned by us (as root: chowned), with
 * our file mode (nginx creates 0600), durable before its name is.
 * WERR_UNSUPPORTED when it cannot be adopted (another filesystem, no /proc,
 * a file of another user while not root): then the caller copies. */
static int adopt_link(struct fs_driver *d, const char *full, int fd, const struct stat *sb)
{
    static unsigned long seq;
    if (sb->st_uid != geteuid() && (geteuid() != 0 || fchown(fd, geteuid(), getegid()) != 0))
        return WERR_UNSUPPORTED;
    if ((sb->st_mode & 07777) != d->filemode && fchmod(fd, d->filemode) != 0)
        return WERR_UNSUPPORTED;
    char proc[64], *dir = strdup(full), *tmp = NULL;
    if (!dir) return WERR_NOMEM;
    *strrchr(dir, '/') = 0;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    int rc = 0, linked = 0, tfd = -1;
    for (int tries = 0;; tries++) {
        unsigned int rnd = 0;
        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) rnd = 0;
        free(tmp);
        if (asprintf(&tmp, "%s/" FS_TMP_PREFIX "adopt-%ld-%lu-%08x", dir, (long)getpid(),
                     __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED), rnd) < 0) {
            tmp = NULL;
            rc = WERR_NOMEM;
            goto out;
        }
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) break;
        if (errno == EEXIST && tries < 4) continue;
        if (errno == ENOENT && tries < 4 && access(proc, F_OK) == 0) {
            if ((rc = mkdir_p(dir))) goto out;
            continue;
        }
        /* EXDEV (the body directory is on another filesystem), no /proc,
         * EPERM (protected_hardlinks): copy instead */
        log_info("storage filesystem: cannot link the body file into %s (%s): copying it", dir,
                 strerror(errno));
        rc = WERR_UNSUPPORTED;
        goto out;
    }
    linked = 1;
    /* the name just made, opened: it must be the inode hashed (nothing
     * else could have been linked, but a swap would show here), and the
     * data is made durable through it, before the name is placed */
    struct stat ts;
    tfd = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (tfd < 0 || fstat(tfd, &ts) || ts.st_ino != sb->st_ino || ts.st_dev != sb->st_dev) {
        log_error("storage filesystem: %s is not the body file just linked: not adopted", tmp);
        rc = WERR_UNSUPPORTED;
        goto out;
    }
    if (fsync(tfd)) {
        rc = fs_fail("fsync", tmp);
        goto out;
    }
    if (rename(tmp, full)) {
        rc = fs_fail("rename", full);
        goto out;
    }
    linked = 0;
    rc = fsync_dir(dir);
out:
    if (tfd >= 0) close(tfd);
    if (linked) unlink(tmp);
    free(tmp);
    free(dir);
    return rc;
}

/* copy_range: len bytes of in (from 0) into out at off, in the kernel where
 * it can (copy_file_range: reflinks or server-side copies on some
 * filesystems), else through a buffer. */
static int copy_range(int in, int out, int64_t off, int64_t len)
{
    loff_t ioff = 0, ooff = (loff_t)off;
    int use_cfr = 1;
    char *buf = NULL;
    int rc = 0;
    while (ioff < len) {
        size_t want = (size_t)(len - ioff) > (1u << 30) ? (1u << 30) : (size_t)(len - ioff);
        ssize_t n;
        if (use_cfr) {
            n = copy_file_range(in, &ioff, out, &ooff, want, 0);
            if (n < 0 &&
                (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
                use_cfr = 0;
                continue;
            }
        } else {
            if (!buf && !(buf = malloc(256 * 1024))) return WERR_NOMEM;
            if (want > 256 * 1024) want = 256 * 1024;
            n = pread(in, buf, want, (off_t)ioff);
            if (n > 0) {
                if ((rc = pwrite_all(out, buf, (size_t)n, (int64_t)ooff)) != 0) break;
                ioff += n;
                ooff += n;
            }
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = fs_fail("copy", NULL);
            break;
        }
        if (n == 0) { /* the body file is shorter than it was */
            rc = WERR_IO;
            break;
        }
    }
    free(buf);
    return rc;
}

static int fs_append_file(struct storage_driver *base, struct arena *a, const char *path,
                          int64_t offset, int fd, const char *src, int64_t len)
{
    struct fs_driver *d = (struct fs_driver *)base;
    char *full = NULL;
    int out = -1;
    int rc = fs_full(d, path, 0, &full);
    if (rc) goto done;
    struct stat sb;
    if (fstat(fd, &sb)) {
        rc = fs_fail("fstat", path);
        goto done;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size < len) {
        rc = WERR_INVALID;
        goto done;
    }
    /* a whole body (or a first chunk) of exactly len bytes: the file itself */
    if (offset == 0 && src && sb.st_size == len) {
        rc = adopt_link(d, full, fd, &sb);
        if (rc != WERR_UNSUPPORTED) goto done;
    }
    for (int tries = 0;; tries++) {
        out = open(full, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (out >= 0) break;
        if (errno == ENOENT && tries < 4) {
            if ((rc = mkdir_parent(full))) goto done;
            continue;
        }
        rc = fs_fail("open", path);
        goto done;
    }
    /* what a crash left past the saved state is cut, as a writer does */
    if (ftruncate(out, (off_t)offset)) {
        rc = fs_fail("ftruncate", path);
        goto done;
    }
    rc = copy_range(fd, out, offset, len);
done:
    if (out >= 0 && close(out) && !rc) rc = fs_fail("close", path);
    rc = fs_nospace(rc, d, full ? full : d->root);
    free(full);
    return rc;
}

static const struct storage_reader_ops fs_reader_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .read = fs_read,
    .close = fs_reader_close,
};

static const struct storage_writer_ops fs_writer_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .write = fs_write,
    .size = fs_writer_size,
    .truncate = fs_writer_truncate,
    .commit = fs_commit,
    .cancel = fs_cancel,
    .close = fs_writer_close,
};

static const struct storage_lock_ops fs_lock_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .renew = fs_lock_renew,
    .unlock = fs_unlock,
};

static const struct storage_driver_ops fs_ops = {
    .version = STORAGE_DRIVER_VERSION,
    .name = "filesystem",
    .free = fs_free,
    .get_content = fs_get_content,
    .put_content = fs_put_content,
    .reader = fs_reader,
    .writer = fs_writer,
    .stat = fs_stat,
    .list = fs_list,
    .move = fs_move,
    .delete = fs_delete,
    .walk = fs_walk,
    .local_path = fs_local_path,
    .lock = fs_lock,
    .append_file = fs_append_file,
};

int driver_filesystem_new(const char *rootdir, struct storage_driver **out)
{
    *out = NULL;
    if (!rootdir || !*rootdir || strlen(rootdir) > FS_PATH_MAX) return WERR_INVALID;
    char *root = NULL;
    if (rootdir[0] == '/') {
        root = strdup(rootdir);
    } else {
        /* workers may change directory; keep an absolute root for local_path */
        char *cwd = getcwd(NULL, 0);
        if (!cwd) return fs_fail("getcwd", rootdir);
        if (asprintf(&root, "%s/%s", cwd, rootdir) < 0) root = NULL;
        free(cwd);
    }
    if (!root) return WERR_NOMEM;
    size_t rl = strlen(root);
    while (rl > 0 && root[rl - 1] == '/')
        root[--rl] = 0;
    struct fs_driver *d = calloc(1, sizeof(*d));
    if (!d) {
        free(root);
        return WERR_NOMEM;
    }
    storage_driver_init(&d->base, &fs_ops, NULL);
    d->root = root;
    d->direct = 1;
    /* the umask, read once while single-threaded (umask(2) cannot only read) */
    mode_t um = umask(022);
    umask(um);
    d->filemode = 0666 & ~um;
    /* best effort: a read-only or not yet mounted root is reported by the ops */
    if (mkdir_p(d->root)) log_warn("storage filesystem: cannot create root %s", d->root);
    *out = &d->base;
    return 0;
}
