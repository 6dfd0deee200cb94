#include "bodyfile.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* components_ok: absolute, no empty, "." or ".." component, no trailing '/' */
static int components_ok(const char *p)
{
    if (p[0] != '/') return 0;
    for (const char *c = p + 1;;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return 0;
        if (!e) return 1;
        c = e + 1;
    }
}

/* below: the part of p after "dir/", or NULL when p is not below dir */
static const char *below(const char *dir, const char *p)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/') return NULL; /* never the whole filesystem */
    if (strncmp(p, dir, n) != 0 || p[n] != '/' || !p[n + 1]) return NULL;
    return p + n + 1;
}

int bodyfile_open(const char *dir, const char *path, int *fd, int64_t *size, char **real,
                  const char **why)
{
    *fd = -1;
    *real = NULL;
    *why = NULL;
    char *rdir = NULL, *rpath = NULL, *want = NULL;
    int f = -1, rc = WERR_DENIED;
    if (!dir || dir[0] != '/') {
        *why = "no body directory configured";
        goto out;
    }
    if (!path || strlen(path) >= PATH_MAX || !components_ok(path)) {
        *why = "not an absolute path without '.', '..' or empty components";
        goto out;
    }
    if (!(rdir = realpath(dir, NULL))) {
        *why = "the body directory does not exist";
        goto out;
    }
    /* nginx names the file under the directory as it is configured, which
     * may itself hold a symbolic link (the admin's): either form, then
     * nothing below it may be a link */
    const char *rest = below(dir, path);
    if (!rest) rest = below(rdir, path);
    if (!rest) {
        *why = "outside the body directory";
        goto out;
    }
    if (asprintf(&want, "%s/%s", rdir, rest) < 0) {
        want = NULL;
        rc = WERR_NOMEM;
        goto out;
    }
    if (!(rpath = realpath(path, NULL))) {
        if (errno == ENOENT || errno == ENOTDIR) {
            rc = WERR_NOTFOUND;
            *why = "no such file";
        } else {
            *why = "cannot be resolved";
        }
        goto out;
    }
    if (strcmp(rpath, want) != 0) {
        *why = "a symbolic link below the body directory";
        goto out;
    }
    f = open(want, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        *why = errno == ELOOP ? "a symbolic link" : "cannot be opened";
        if (errno == ENOENT) rc = WERR_NOTFOUND;
        goto out;
    }
    /* what was opened is what was checked: a directory renamed or replaced
     * by a link between realpath and open shows here */
    char proc[64], got[PATH_MAX + 1];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", f);
    ssize_t gl = readlink(proc, got, sizeof got - 1);
    if (gl >= 0) {
        got[gl] = 0;
        if (strcmp(got, want) != 0) {
            *why = "changed while it was opened";
            goto out;
        }
    } else if (errno != ENOENT) {
        *why = "cannot be checked through /proc";
        goto out;
    }
    struct stat sb;
    if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        *why = "not a regular file";
        goto out;
    }
    if (sb.st_nlink != 1) {
        *why = "a file with several links";
        goto out;
    }
    *fd = f;
    *size = (int64_t)sb.st_size;
    *real = want;
    want = NULL;
    f = -1;
    rc = 0;
out:
    if (f >= 0) close(f);
    free(want);
    free(rpath);
    free(rdir);
    return rc;
}
