/* evqueue_read.c — the reader side of the notifications' journal
 * (evqueue.h): the sender service's view of the queue directory.
 *
 * Invariants:
 * - Only sealed segments are read. A sealed segment never changes (every
 *   writer that could still append to it was waited for by flock(LOCK_EX)
 *   when it was sealed), so its size and line count are cached.
 * - A cursor (seq, off) means: every record before byte off of segment seq,
 *   and every record of older segments, was delivered (or skipped). It only
 *   moves forward, and is on disk before the segments it passed are deleted.
 * - Segment numbers only grow: the next one is above every segment and
 *   every cursor ever seen in the directory (so a cursor left on a deleted
 *   segment never mistakes a new segment for an old one).
 * - Memory is bounded: one read buffer per endpoint of at most
 *   EVQUEUE_RECORD_MAX + 1 bytes, and a table of the sealed segments. */
#include "evqueue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

#define SEQ_DIGITS 20
#define READ_CHUNK (64 * 1024)
#define READER_LOCK "reader.lock"
#define CURSOR_EXT ".cursor"
/* with this many segments kept (an endpoint lagging behind the others),
 * current.log is sealed at most once per ROTATE_SLOW_S: a dead endpoint
 * then costs one file per second, not one per poll of the live ones */
#define ROTATE_SLOW_SEGS 64
#define ROTATE_SLOW_S 1

struct segment {
    unsigned long long seq;
    unsigned long long size;
    long long lines; /* -1: not counted yet */
};

struct endpoint {
    char *name;
    unsigned long long seq, off;   /* the cursor (acked) */
    unsigned long long rseq, roff; /* where the next read starts */
    unsigned long long rline;      /* lines of segment rseq before roff, or ~0 unknown */
    unsigned long long line;       /* the same for the cursor */
    int fd;                        /* segment rseq, or -1 */
    unsigned long long fdseq;
    char *buf; /* bytes of segment fdseq from bufoff */
    size_t buflen, bufcap;
    unsigned long long bufoff;
    int dirty; /* cursor changed since last saved */
};

struct evqueue_reader {
    char *dir;
    int dirfd, lockfd, fsync;
    pthread_mutex_t mu; /* segments, last_seq, rotation, deletion, cursors */
    struct segment *segs;
    size_t nsegs, capsegs;
    unsigned long long last_seq;
    struct endpoint *eps;
    size_t neps;
    /* current.log's line count, counted incrementally */
    ino_t cur_ino;
    unsigned long long cur_counted, cur_lines;
    time_t last_rotate; /* CLOCK_MONOTONIC seconds */
};

static int io_err(void)
{
    return errno == ENOMEM                      ? WERR_NOMEM
           : errno == ENOSPC || errno == EDQUOT ? WERR_NOSPACE
                                                : WERR_IO;
}

static int is_segment_name(const char *n, unsigned long long *seq)
{
    size_t l = strlen(n);
    if (l != SEQ_DIGITS + 4 || strcmp(n + SEQ_DIGITS, ".log")) return 0;
    unsigned long long v = 0;
    for (int i = 0; i < SEQ_DIGITS; i++) {
        if (n[i] < '0' || n[i] > '9') return 0;
        v = v * 10 + (unsigned)(n[i] - '0');
    }
    *seq = v;
    return 1;
}

static void seg_name(char *out, size_t n, unsigned long long seq)
{
    snprintf(out, n, "%0*llu.log", SEQ_DIGITS, seq);
}

static int seg_cmp(const void *a, const void *b)
{
    const struct segment *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int seg_add(struct evqueue_reader *r, unsigned long long seq, unsigned long long size)
{
    if (r->nsegs == r->capsegs) {
        size_t nc = r->capsegs ? r->capsegs * 2 : 16;
        struct segment *ns = realloc(r->segs, nc * sizeof *ns);
        if (!ns) return WERR_NOMEM;
        r->segs = ns;
        r->capsegs = nc;
    }
    r->segs[r->nsegs++] = (struct segment){.seq = seq, .size = size, .lines = -1};
    if (seq > r->last_seq) r->last_seq = seq;
    return 0;
}

/* the first segment with a number >= seq, or NULL */
static struct segment *seg_from(struct evqueue_reader *r, unsigned long long seq)
{
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].seq >= seq) return &r->segs[i];
    return NULL;
}

static int parse_cursor(const char *s, unsigned long long *seq, unsigned long long *off)
{
    char *e;
    errno = 0;
    *seq = strtoull(s, &e, 10);
    if (errno || e == s || *e != ' ') return -1;
    const char *p = e + 1;
    *off = strtoull(p, &e, 10);
    if (errno || e == p || (*e != '\n' && *e)) return -1;
    return 0;
}

static int read_cursor(struct evqueue_reader *r, const char *file, unsigned long long *seq,
                       unsigned long long *off)
{
    int fd = openat(r->dirfd, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? WERR_NOTFOUND : io_err();
    char b[64];
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n < 0) return WERR_IO;
    b[n] = 0;
    if (parse_cursor(b, seq, off) < 0) {
        log_warn("notifications queue %s: cursor %s is unreadable (\"%.40s\"); starting at the "
                 "oldest event kept",
                 r->dir, file, b);
        return WERR_NOTFOUND;
    }
    return 0;
}

static int save_cursor(struct evqueue_reader *r, struct endpoint *e)
{
    char tmp[256], fin[256], b[64];
    snprintf(fin, sizeof fin, "%s" CURSOR_EXT, e->name);
    snprintf(tmp, sizeof tmp, ".%s" CURSOR_EXT ".tmp", e->name);
    int len = snprintf(b, sizeof b, "%llu %llu\n", e->seq, e->off);
    int fd = openat(r->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return io_err();
    int rc = 0;
    if (write(fd, b, (size_t)len) != len || (r->fsync && fdatasync(fd) != 0)) rc = io_err();
    if (close(fd) != 0 && !rc) rc = io_err();
    if (!rc && renameat(r->dirfd, tmp, r->dirfd, fin) != 0) rc = io_err();
    if (!rc && r->fsync && fsync(r->dirfd) != 0) rc = io_err();
    if (rc) {
        unlinkat(r->dirfd, tmp, 0);
        log_warn("notifications queue %s: cannot save cursor %s: %s", r->dir, fin, strerror(errno));
    } else {
        e->dirty = 0;
    }
    return rc;
}

/* scan: the directory's sealed segments, and the highest number any segment
 * or cursor file mentions */
static int scan_dir(struct evqueue_reader *r)
{
    int fd = openat(r->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return io_err();
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return io_err();
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        unsigned long long seq, off;
        size_t l = strlen(de->d_name);
        if (is_segment_name(de->d_name, &seq)) {
            struct stat st;
            if (fstatat(r->dirfd, de->d_name, &st, 0) != 0) continue;
            rc = seg_add(r, seq, (unsigned long long)st.st_size);
        } else if (l > strlen(CURSOR_EXT) && de->d_name[0] != '.' &&
                   !strcmp(de->d_name + l - strlen(CURSOR_EXT), CURSOR_EXT)) {
            if (read_cursor(r, de->d_name, &seq, &off) == 0 && seq > r->last_seq) r->last_seq = seq;
        }
    }
    closedir(d);
    if (!rc && r->nsegs) qsort(r->segs, r->nsegs, sizeof *r->segs, seg_cmp);
    return rc;
}

int evqueue_reader_open(const char *dir, const char *const *names, size_t n, int fsync,
                        struct evqueue_reader **out)
{
    struct evqueue_reader *r = calloc(1, sizeof *r);
    if (!r) return WERR_NOMEM;
    r->dirfd = r->lockfd = -1;
    r->fsync = fsync;
    pthread_mutex_init(&r->mu, NULL);
    int rc = 0;
    if (!(r->dir = strdup(dir)) || !(r->eps = calloc(n ? n : 1, sizeof *r->eps))) {
        rc = WERR_NOMEM;
        goto out;
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        log_error("notifications queue %s: %s", dir, strerror(errno));
        rc = io_err();
        goto out;
    }
    r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->dirfd < 0) {
        log_error("notifications queue %s: %s", dir, strerror(errno));
        rc = io_err();
        goto out;
    }
    r->lockfd = openat(r->dirfd, READER_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (r->lockfd < 0) {
        rc = io_err();
        goto out;
    }
    if (flock(r->lockfd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? WERR_BUSY : io_err();
        goto out;
    }
    if ((rc = scan_dir(r)) < 0) goto out;
    for (size_t i = 0; i < n; i++) {
        struct endpoint *e = &r->eps[i];
        r->neps = i + 1;
        e->fd = -1;
        if (!(e->name = strdup(names[i]))) {
            rc = WERR_NOMEM;
            goto out;
        }
        char file[256];
        snprintf(file, sizeof file, "%s" CURSOR_EXT, names[i]);
        int c = read_cursor(r, file, &e->seq, &e->off);
        if (c == WERR_NOTFOUND) {
            e->seq = e->off = 0;
        } else if (c < 0) {
            rc = c;
            goto out;
        }
        e->rseq = e->seq;
        e->roff = e->off;
        e->rline = e->line = e->off ? ~0ULL : 0;
    }
out:
    if (rc < 0) {
        evqueue_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void evqueue_reader_close(struct evqueue_reader *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->neps; i++) {
        struct endpoint *e = &r->eps[i];
        if (e->dirty) save_cursor(r, e);
        if (e->fd >= 0) close(e->fd);
        free(e->buf);
        free(e->name);
    }
    free(r->eps);
    free(r->segs);
    if (r->lockfd >= 0) close(r->lockfd);
    if (r->dirfd >= 0) close(r->dirfd);
    pthread_mutex_destroy(&r->mu);
    free(r->dir);
    free(r);
}

/* rotate (r->mu held): seal current.log when it holds anything. Returns 1
 * when a segment was added, 0 when there was nothing, < 0 on error. */
static int rotate(struct evqueue_reader *r)
{
    struct stat st;
    if (fstatat(r->dirfd, EVQUEUE_CURRENT, &st, 0) != 0) return errno == ENOENT ? 0 : io_err();
    if (st.st_size == 0) return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (r->nsegs >= ROTATE_SLOW_SEGS && now.tv_sec - r->last_rotate < ROTATE_SLOW_S) return 0;
    r->last_rotate = now.tv_sec;
    unsigned long long seq = r->last_seq + 1;
    char name[SEQ_DIGITS + 8];
    seg_name(name, sizeof name, seq);
    if (renameat(r->dirfd, EVQUEUE_CURRENT, r->dirfd, name) != 0) return io_err();
    int fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_err();
    /* waits for the writers that locked the old current.log before the rename */
    int rc = 0;
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) {
            rc = io_err();
            break;
        }
    if (!rc && fstat(fd, &st) != 0) rc = io_err();
    close(fd);
    if (rc) return rc;
    if (r->fsync) fsync(r->dirfd);
    if ((rc = seg_add(r, seq, (unsigned long long)st.st_size)) < 0) return rc;
    r->last_seq = seq;
    r->cur_counted = r->cur_lines = 0;
    r->cur_ino = 0;
    return 1;
}

/* passed: every endpoint's cursor is past segment s */
static int all_passed(struct evqueue_reader *r, const struct segment *s)
{
    for (size_t i = 0; i < r->neps; i++) {
        const struct endpoint *e = &r->eps[i];
        if (e->seq < s->seq || (e->seq == s->seq && e->off < s->size)) return 0;
    }
    return 1;
}

/* delete_passed (r->mu held): unlink the segments every endpoint passed */
static void delete_passed(struct evqueue_reader *r)
{
    size_t k = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        char name[SEQ_DIGITS + 8];
        seg_name(name, sizeof name, r->segs[i].seq);
        if (all_passed(r, &r->segs[i]) && (unlinkat(r->dirfd, name, 0) == 0 || errno == ENOENT))
            continue;
        r->segs[k++] = r->segs[i];
    }
    r->nsegs = k;
}

static void drop_fd(struct endpoint *e)
{
    if (e->fd >= 0) close(e->fd);
    e->fd = -1;
    e->buflen = 0;
}

/* valid: the line is one JSON object and nothing else */
static int valid_json(const char *s, size_t len)
{
    struct json_tokener *t = json_tokener_new_ex(64);
    if (!t) return 0;
    struct json_object *o = json_tokener_parse_ex(t, s, (int)len);
    int ok = o && json_tokener_get_error(t) == json_tokener_success &&
             json_tokener_get_parse_end(t) == len && json_object_is_type(o, json_type_object);
    json_object_put(o);
    json_tokener_free(t);
    return ok;
}

/* fill: make sure the buffer holds bytes from roff on (at most
 * EVQUEUE_RECORD_MAX + 1 of them). Returns bytes available from roff, or
 * < 0. */
static long long fill(struct endpoint *e)
{
    if (e->roff < e->bufoff || e->roff > e->bufoff + e->buflen) {
        e->buflen = 0;
        e->bufoff = e->roff;
    } else if (e->roff > e->bufoff) {
        size_t skip = (size_t)(e->roff - e->bufoff);
        memmove(e->buf, e->buf + skip, e->buflen - skip);
        e->buflen -= skip;
        e->bufoff = e->roff;
    }
    /* read when no newline is buffered */
    if (e->buflen && memchr(e->buf, '\n', e->buflen)) return (long long)e->buflen;
    for (;;) {
        if (e->buflen == e->bufcap) {
            if (e->bufcap >= EVQUEUE_RECORD_MAX + 1) return (long long)e->buflen;
            size_t nc = e->bufcap ? e->bufcap * 2 : READ_CHUNK;
            if (nc > EVQUEUE_RECORD_MAX + 1) nc = EVQUEUE_RECORD_MAX + 1;
            char *nb = realloc(e->buf, nc);
            if (!nb) return WERR_NOMEM;
            e->buf = nb;
            e->bufcap = nc;
        }
        ssize_t n =
            pread(e->fd, e->buf + e->buflen, e->bufcap - e->buflen, (off_t)(e->bufoff + e->buflen));
        if (n < 0) {
            if (errno == EINTR) continue;
            return WERR_IO;
        }
        if (n == 0) return (long long)e->buflen;
        size_t old = e->buflen;
        e->buflen += (size_t)n;
        if (memchr(e->buf + old, '\n', (size_t)n)) return (long long)e->buflen;
    }
}

/* salvage: a line that is not JSON may be a torn record (a writer killed
 * mid-write) followed by a whole one: the first '{' from which the rest of
 * the line parses. Returns its index, or -1. */
static long salvage(const char *s, size_t len)
{
    for (size_t i = 1; i < len; i++)
        if (s[i] == '{' && valid_json(s + i, len - i)) return (long)i;
    return -1;
}

int evqueue_next(struct evqueue_reader *r, size_t i, const char **rec, size_t *len)
{
    struct endpoint *e = &r->eps[i];
    int rotated = 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        struct segment *s = seg_from(r, e->rseq);
        if (s && s->seq == e->rseq && e->roff >= s->size) s = seg_from(r, e->rseq + 1);
        if (!s && !rotated) {
            int rc = rotate(r);
            rotated = 1;
            if (rc < 0) {
                pthread_mutex_unlock(&r->mu);
                log_warn("notifications queue %s: cannot seal %s: %s", r->dir, EVQUEUE_CURRENT,
                         werr_str(rc));
                return rc;
            }
            pthread_mutex_unlock(&r->mu);
            if (rc == 0) return 0;
            continue;
        }
        if (!s) {
            pthread_mutex_unlock(&r->mu);
            return 0;
        }
        struct segment seg = *s;
        pthread_mutex_unlock(&r->mu);
        if (seg.seq != e->rseq) {
            e->rseq = seg.seq;
            e->roff = 0;
            e->rline = 0;
        }
        if (e->fd < 0 || e->fdseq != seg.seq) {
            drop_fd(e);
            char name[SEQ_DIGITS + 8];
            seg_name(name, sizeof name, seg.seq);
            e->fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
            if (e->fd < 0) {
                log_warn("notifications queue %s: %s: %s", r->dir, name, strerror(errno));
                return WERR_IO;
            }
            e->fdseq = seg.seq;
            e->bufoff = e->roff;
        }
        long long have = fill(e);
        if (have < 0) return (int)have;
        char *nl = have ? memchr(e->buf, '\n', (size_t)have) : NULL;
        if (!nl) {
            /* a record too long, or a torn tail (a writer killed before its
             * newline): skip to the next newline, or to the segment's end */
            if (have > EVQUEUE_RECORD_MAX) {
                log_warn("notifications queue %s: segment %llu offset %llu: a line over %d "
                         "bytes, skipped",
                         r->dir, seg.seq, e->roff, EVQUEUE_RECORD_MAX);
                unsigned long long p = e->roff + (unsigned long long)have;
                char c[4096];
                for (;;) {
                    ssize_t n = pread(e->fd, c, sizeof c, (off_t)p);
                    if (n <= 0) {
                        p = seg.size;
                        break;
                    }
                    char *q = memchr(c, '\n', (size_t)n);
                    if (q) {
                        p += (unsigned long long)(q - c) + 1;
                        break;
                    }
                    p += (unsigned long long)n;
                }
                e->roff = p;
            } else {
                if (have)
                    log_warn("notifications queue %s: segment %llu ends with %lld bytes of a "
                             "torn record, skipped",
                             r->dir, seg.seq, have);
                e->roff = seg.size;
            }
            if (e->rline != ~0ULL) e->rline++;
            continue;
        }
        size_t l = (size_t)(nl - e->buf);
        unsigned long long at = e->roff;
        e->roff += l + 1;
        if (e->rline != ~0ULL) e->rline++;
        if (valid_json(e->buf, l)) {
            *rec = e->buf;
            *len = l;
            return 1;
        }
        long k = salvage(e->buf, l);
        log_warn("notifications queue %s: segment %llu offset %llu: %zu bytes that are not a JSON "
                 "object (a torn record)%s",
                 r->dir, seg.seq, at, k < 0 ? l : (size_t)k,
                 k < 0 ? ", skipped" : ", skipped; the record after them kept");
        if (k >= 0) {
            *rec = e->buf + k;
            *len = l - (size_t)k;
            return 1;
        }
    }
}

int evqueue_ack(struct evqueue_reader *r, size_t i)
{
    struct endpoint *e = &r->eps[i];
    pthread_mutex_lock(&r->mu);
    if (e->seq != e->rseq || e->off != e->roff) {
        e->seq = e->rseq;
        e->off = e->roff;
        e->line = e->rline;
        e->dirty = 1;
    }
    int rc = e->dirty ? save_cursor(r, e) : 0;
    if (!rc) delete_passed(r);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void evqueue_rewind(struct evqueue_reader *r, size_t i)
{
    struct endpoint *e = &r->eps[i];
    e->rseq = e->seq;
    e->roff = e->off;
    e->rline = e->line;
}

/* count_lines: newlines in fd's bytes [from, to) */
static unsigned long long count_lines(int fd, unsigned long long from, unsigned long long to)
{
    char b[READ_CHUNK];
    unsigned long long n = 0;
    while (from < to) {
        size_t want = to - from < sizeof b ? (size_t)(to - from) : sizeof b;
        ssize_t got = pread(fd, b, want, (off_t)from);
        if (got <= 0) break;
        for (ssize_t k = 0; k < got; k++)
            n += b[k] == '\n';
        from += (unsigned long long)got;
    }
    return n;
}

static unsigned long long seg_lines(struct evqueue_reader *r, struct segment *s)
{
    if (s->lines < 0) {
        char name[SEQ_DIGITS + 8];
        seg_name(name, sizeof name, s->seq);
        int fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return 0;
        unsigned long long n = count_lines(fd, 0, s->size);
        /* a torn tail is one more line to skip */
        char last;
        if (s->size && pread(fd, &last, 1, (off_t)(s->size - 1)) == 1 && last != '\n') n++;
        close(fd);
        s->lines = (long long)n;
    }
    return (unsigned long long)s->lines;
}

unsigned long long evqueue_pending(struct evqueue_reader *r, size_t i)
{
    struct endpoint *e = &r->eps[i];
    unsigned long long n = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t k = 0; k < r->nsegs; k++) {
        struct segment *s = &r->segs[k];
        if (s->seq < e->seq) continue;
        unsigned long long l = seg_lines(r, s);
        if (s->seq == e->seq) {
            if (e->line == ~0ULL) {
                char name[SEQ_DIGITS + 8];
                seg_name(name, sizeof name, s->seq);
                int fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                    e->line = count_lines(fd, 0, e->off < s->size ? e->off : s->size);
                    close(fd);
                    if (e->rseq == e->seq && e->roff == e->off) e->rline = e->line;
                }
            }
            l = e->line == ~0ULL || e->line > l ? 0 : l - e->line;
        }
        n += l;
    }
    int fd = openat(r->dirfd, EVQUEUE_CURRENT, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0) {
            if (st.st_ino != r->cur_ino || (unsigned long long)st.st_size < r->cur_counted) {
                r->cur_ino = st.st_ino;
                r->cur_counted = r->cur_lines = 0;
            }
            r->cur_lines += count_lines(fd, r->cur_counted, (unsigned long long)st.st_size);
            r->cur_counted = (unsigned long long)st.st_size;
            n += r->cur_lines;
        }
        close(fd);
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}
