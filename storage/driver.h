/* driver.h — the storage driver: one const table of operations per backend,
 * modelled on the reference registry's StorageDriver. Paths are absolute
 * within the driver ("/docker/registry/v2/..."), '/'-separated, never "..".
 * Drivers know nothing of registries. Every op returns 0 or a negative WERR_*
 * (WERR_NOTFOUND when a path is absent). Strings and lists returned are
 * allocated on the caller's arena. Readers and writers are released by
 * close/cancel/commit, and also when the arena they were opened on is freed. */
#ifndef WHARF_DRIVER_H
#define WHARF_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "../lib/arena.h"

struct storage_driver;
struct storage_reader;
struct storage_writer;
struct storage_lock;

struct storage_stat {
    int64_t size; /* bytes of a file; 0 for a directory */
    time_t mtime; /* modification time */
    int is_dir;
};

/* storage_walk_fn: called per entry under a walked path, in lexical order
 * within each directory; return non-zero to stop the walk (that value is
 * returned by walk); return WALK_SKIP_DIR for a directory to not descend into it
 * (for a file: skip the rest of its directory). */
#define WALK_SKIP_DIR 0x5d1
typedef int (*storage_walk_fn)(void *ctx, const char *path, const struct storage_stat *st);

struct storage_driver_ops {
    int version; /* 1 */
    const char *name;
    void (*free)(struct storage_driver *d);

    /* get_content: whole file into *data (NUL-terminated, arena); WERR_TOOBIG when over max. */
    int (*get_content)(struct storage_driver *d, struct arena *a, const char *path, size_t max,
                       char **data, size_t *len);
    /* put_content: atomic: readers see the old content or the new, never a part. */
    int (*put_content)(struct storage_driver *d, const char *path, const void *data, size_t len);
    /* reader: positioned at offset; WERR_RANGE when offset > size. */
    int (*reader)(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                  struct storage_reader **r);
    /* writer: append != 0 continues an existing file at its current size (created when
     * absent); append == 0 truncates. Writers are for upload data only (final
     * content is placed by move); what was written is visible to readers once
     * the writer is closed (commit / writer_close / truncate), not before. */
    int (*writer)(struct storage_driver *d, struct arena *a, const char *path, int append,
                  struct storage_writer **w);
    int (*stat)(struct storage_driver *d, const char *path, struct storage_stat *st);
    /* list: names (not paths) of the direct children of a directory, sorted bytewise. */
    int (*list)(struct storage_driver *d, struct arena *a, const char *path, char ***names,
                size_t *n);
    /* move: atomic rename; replaces dst; creates dst's parents. */
    int (*move)(struct storage_driver *d, const char *src, const char *dst);
    /* delete: a file or a whole tree; WERR_NOTFOUND when absent. */
    int (*delete)(struct storage_driver *d, const char *path);
    /* walk: depth-first over everything under path (not path itself). */
    int (*walk)(struct storage_driver *d, const char *path, storage_walk_fn fn, void *ctx);
    /* url_for: a URL a client may fetch directly (signed), or WERR_UNSUPPORTED. Optional. */
    int (*url_for)(struct storage_driver *d, struct arena *a, const char *path, const char *method,
                   char **url);
    /* local_path: filesystem path of the object for web-server sendfile, or
     * WERR_UNSUPPORTED. Optional. */
    int (*local_path)(struct storage_driver *d, struct arena *a, const char *path, char **out);

    /* reader ops */
    ssize_t (*read)(struct storage_reader *r, void *buf, size_t n); /* 0 = EOF, <0 WERR */
    void (*reader_close)(struct storage_reader *r);

    /* writer ops */
    int (*write)(struct storage_writer *w, const void *buf, size_t n); /* all or error */
    int64_t (*writer_size)(struct storage_writer *w); /* bytes in file incl. prior appends */
    /* truncate: cut the file to size bytes (resume after a crash); optional. */
    int (*writer_truncate)(struct storage_writer *w, int64_t size);
    int (*commit)(struct storage_writer *w);        /* flush/durable; the writer is closed */
    void (*cancel)(struct storage_writer *w);       /* drop what was written; closed */
    void (*writer_close)(struct storage_writer *w); /* keep what was written; closed */

    /* list_page (added with issue 7): one page of a flat directory (one that
     * holds files only): the names sorting bytewise after `after` (NULL or ""
     * = from the start), at most max (a driver may return fewer, at least
     * one, with *more set: callers loop), sorted; *more set when further
     * names exist; an absent directory gives 0 names. An object store answers it
     * with one request (ListObjectsV2 start-after, max-keys). Optional: NULL
     * makes storage_list_page page a whole list(). */
    int (*list_page)(struct storage_driver *d, struct arena *a, const char *path, const char *after,
                     size_t max, char ***names, size_t *n, int *more);

    /* lock (added with issue 11): hold the lock named by path, an object the
     * driver keeps for it alone (a flocked file, a lease object) and removes
     * on release; no other op may use that path. One holder at a time across
     * processes and hosts sharing the storage. Waits up to wait_ms for the
     * holder to release it (0: try once), then WERR_BUSY. ttl_s bounds how
     * long a holder that died without releasing keeps others out where the
     * driver cannot see it die (an object store's lease; a flock ends with
     * its process); a longer holder calls lock_renew within ttl_s. *lk lives
     * on a and is released by unlock, or when a is freed. */
    int (*lock)(struct storage_driver *d, struct arena *a, const char *path, int ttl_s,
                long wait_ms, struct storage_lock **lk);
    /* lock_renew: the lock is still ours; a lease is extended to ttl_s from
     * now (cheap to call often: drivers renew only when a third of ttl_s has
     * passed). WERR_BUSY when it was lost (expired and taken by another). */
    int (*lock_renew)(struct storage_lock *lk);
    /* unlock: release (removing the lock's object); lk is invalid after. */
    void (*unlock)(struct storage_lock *lk);

    /* append_file (added with issue 12): the file at path (upload data)
     * becomes its first `offset` bytes followed by the first len bytes of
     * the open regular file fd, read with pread from fd's offset 0. src, when
     * not NULL, is a local path of fd's file (a request body the web server
     * wrote): a driver on the same filesystem may adopt that very inode
     * (through fd, never by src, which another process may rename meanwhile)
     * instead of copying it, when offset is 0; the name src is left to its
     * owner. What was appended is visible to readers on return, durable
     * only once the upload is committed (as writer_close). Optional: NULL, or
     * WERR_UNSUPPORTED returned before anything changed, makes
     * storage_append_file copy fd through a writer. */
    int (*append_file)(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                       int fd, const char *src, int64_t len);
};

/* Every driver instance begins with this base. */
struct storage_driver {
    const struct storage_driver_ops *ops;
};
struct storage_reader {
    const struct storage_driver_ops *ops;
};
struct storage_writer {
    const struct storage_driver_ops *ops;
};
struct storage_lock {
    const struct storage_driver_ops *ops;
};

/* Constructors (storage/drivers/). Return 0 and *out, or a WERR_*. */
int driver_filesystem_new(const char *rootdir, struct storage_driver **out);
int driver_inmemory_new(struct storage_driver **out);

/* storage_path_check: the path rules every driver enforces: absolute,
 * '/'-separated, at most max bytes, no empty, "." or ".." component, no
 * component starting with STORAGE_TMP_PREFIX (names drivers reserve for
 * their own temporary objects); "/" itself only when allow_root.
 * 0 or WERR_INVALID. */
#define STORAGE_TMP_PREFIX ".tmp-"
int storage_path_check(const char *path, size_t max, int allow_root);

/* Convenience wrappers that dispatch through ops (storage/driver.c). */
int storage_get(struct storage_driver *d, struct arena *a, const char *path, size_t max,
                char **data, size_t *len);
int storage_put(struct storage_driver *d, const char *path, const void *data, size_t len);
int storage_stat(struct storage_driver *d, const char *path, struct storage_stat *st);
int storage_list(struct storage_driver *d, struct arena *a, const char *path, char ***names,
                 size_t *n);
int storage_move(struct storage_driver *d, const char *src, const char *dst);
int storage_delete(struct storage_driver *d, const char *path);
int storage_walk(struct storage_driver *d, const char *path, storage_walk_fn fn, void *ctx);
/* storage_list_page: ops->list_page, or the fallback over ops->list (names
 * after `after`, at most max; *more set when further names exist). */
int storage_list_page(struct storage_driver *d, struct arena *a, const char *path,
                      const char *after, size_t max, char ***names, size_t *n, int *more);
/* storage_lock / _renew / _unlock: ops->lock etc. (WERR_UNSUPPORTED when
 * the driver has none); storage_unlock(NULL) does nothing. */
int storage_lock(struct storage_driver *d, struct arena *a, const char *path, int ttl_s,
                 long wait_ms, struct storage_lock **lk);
int storage_lock_renew(struct storage_lock *lk);
void storage_unlock(struct storage_lock *lk);
/* storage_writer_at: a writer appending to path after its first offset
 * bytes: what lies past offset (a crash's remnant, a refused chunk) is cut
 * first; WERR_IO when the driver cannot cut. */
int storage_writer_at(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                      struct storage_writer **out);
/* storage_append_file: ops->append_file, or the fallback: a writer on path
 * (append), cut to offset, fed len bytes of fd (pread from 0), lk (may be
 * NULL) renewed between chunks. WERR_IO when fd holds fewer than len bytes. */
int storage_append_file(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                        int fd, const char *src, int64_t len, struct storage_lock *lk);
/* Readers, writers and the optional ops, through the storage API: nothing
 * outside storage/ calls a table's op itself. */
int storage_reader_open(struct storage_driver *d, struct arena *a, const char *path,
                        int64_t offset, struct storage_reader **r);
ssize_t storage_read(struct storage_reader *r, void *buf, size_t n); /* 0 = EOF, <0 WERR */
void storage_reader_close(struct storage_reader *r);                 /* NULL: nothing */
int storage_writer_open(struct storage_driver *d, struct arena *a, const char *path, int append,
                        struct storage_writer **w);
int storage_write(struct storage_writer *w, const void *buf, size_t n);
int64_t storage_writer_size(struct storage_writer *w);
int storage_writer_truncate(struct storage_writer *w, int64_t size); /* WERR_UNSUPPORTED */
int storage_commit(struct storage_writer *w);
void storage_cancel(struct storage_writer *w);
void storage_writer_close(struct storage_writer *w);
/* storage_url_for / storage_local_path: WERR_UNSUPPORTED when the driver has none */
int storage_url_for(struct storage_driver *d, struct arena *a, const char *path,
                    const char *method, char **url);
int storage_local_path(struct storage_driver *d, struct arena *a, const char *path, char **out);
void storage_driver_free(struct storage_driver *d);

#endif
