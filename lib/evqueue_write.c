/* evqueue_write.c — the writer's side of the notifications' journal
 * (lib/evqueue.h has the format both sides share).
 *
 * Why each step:
 * - O_APPEND and one write() of the whole record (newline included): on a
 *   local filesystem the kernel places each append atomically at the end, so
 *   records of concurrent writers (every pool worker) never interleave and
 *   no lock between writers is needed. A short write (a full disk, a
 *   signal) is continued; the reader skips the torn line a writer killed in
 *   the middle leaves.
 * - flock(LOCK_SH) before writing: the reader rotates by rename and then
 *   takes LOCK_EX on the renamed file, which waits for every writer still
 *   holding LOCK_SH on it; once it holds LOCK_EX the segment is sealed.
 * - fstat the fd and stat the name after taking the lock: a writer that
 *   opened current.log just before the rename holds the lock of the renamed
 *   (sealed) file; its inode differs from the new current.log's (or the name
 *   is gone): it closes and opens again, so it never appends to a segment
 *   the reader has sealed.
 * - fdatasync when the caller asks (notifications.queue.fsync): the record
 *   then survives a power loss once the request has answered. The directory
 *   is synced when this writer created current.log (its entry is new). */
#include "evqueue.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

/* rotations a writer tolerates in one append before giving up (each costs a
 * rotation by the reader while this writer was between open and flock) */
#define EVQUEUE_REOPEN_MAX 64

static int errno_werr(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT: return WERR_NOSPACE;
    case ENOMEM: return WERR_NOMEM;
    default: return WERR_IO;
    }
}

/* mkdir -p of dir, mode 0750 (only the missing components are created) */
static int mkdirs(const char *dir)
{
    char p[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) return WERR_INVALID;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0750) != 0 && errno != EEXIST) return errno_werr(errno);
        p[i] = c;
    }
    return 0;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_werr(errno);
    int rc = fsync(fd) == 0 ? 0 : errno_werr(errno);
    close(fd);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno_werr(errno);
        }
        if (w == 0) return WERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int evqueue_append(const char *dir, const char *json, size_t len, int want_sync)
{
    if (!dir || !*dir || !json || len == 0 || len + 1 > EVQUEUE_RECORD_MAX) return WERR_INVALID;
    if (memchr(json, '\n', len)) return WERR_INVALID;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, EVQUEUE_CURRENT) >= sizeof path)
        return WERR_INVALID;
    /* the record and its newline in one buffer: one write() */
    char stackbuf[8192];
    char *rec = len + 1 <= sizeof stackbuf ? stackbuf : malloc(len + 1);
    if (!rec) return WERR_NOMEM;
    memcpy(rec, json, len);
    rec[len] = '\n';

    int rc = WERR_IO, fd = -1, made_dir = 0;
    for (int tries = 0; tries < EVQUEUE_REOPEN_MAX; tries++) {
        int created = 0;
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0 && errno == ENOENT) {
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
            if (fd < 0 && errno == ENOENT && !made_dir) {
                made_dir = 1;
                if ((rc = mkdirs(dir)) != 0) goto out;
                tries--;
                continue;
            }
            created = fd >= 0;
        }
        if (fd < 0) {
            rc = errno_werr(errno);
            goto out;
        }
        while (flock(fd, LOCK_SH) != 0) {
            if (errno != EINTR) {
                rc = errno_werr(errno);
                goto out;
            }
        }
        struct stat fs, ns;
        if (fstat(fd, &fs) != 0) {
            rc = errno_werr(errno);
            goto out;
        }
        if (stat(path, &ns) != 0 || ns.st_ino != fs.st_ino || ns.st_dev != fs.st_dev) {
            /* rotated between our open and our lock: this file is sealed */
            close(fd);
            fd = -1;
            continue;
        }
        if ((rc = write_all(fd, rec, len + 1)) != 0) goto out;
        if (want_sync) {
            if (fdatasync(fd) != 0) {
                rc = errno_werr(errno);
                goto out;
            }
            if (created && (rc = sync_dir(dir)) != 0) goto out;
        }
        rc = 0;
        goto out;
    }
    rc = WERR_IO; /* rotated under us EVQUEUE_REOPEN_MAX times in a row */
out:
    if (fd >= 0) close(fd);
    if (rec != stackbuf) free(rec);
    return rc;
}
