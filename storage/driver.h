/* driver.h — the storage driver interface, split as SQLite splits
 * sqlite3_vfs from sqlite3_io_methods (and libgit2 its odb backends from
 * their streams): four const tables of operations.
 *
 *   struct storage_driver_ops  one per backend: whole-file ops, opening
 *                              readers, writers and locks, listing, walking
 *   struct storage_reader_ops  what an open reader does (read, close)
 *   struct storage_writer_ops  what an open writer does (write, size,
 *                              truncate, commit, cancel, close)
 *   struct storage_lock_ops    what a held lock does (renew, unlock)
 *
 * Each object (driver, reader, writer, lock) begins with its base struct,
 * whose first member points at its table. Every table carries `version`,
 * STORAGE_DRIVER_VERSION: storage_open refuses at start-up a driver whose
 * table has another version or lacks a required op (storage_driver_check),
 * and a reader, writer or lock table is checked the first time one is seen.
 *
 * Optional ops may be NULL; the core (storage/driver.c) then supplies the
 * fallback named beside each op below.
 *
 * Wrappers (the blob-descriptor cache, storage middleware) are drivers whose
 * base has `inner` set. The delegate rule: a NULL op in a wrapper's table
 * means "ask the inner driver" — the storage_* dispatchers walk down the
 * chain to the first table that has the op, calling it with that driver's
 * own pointer, and use the core fallback only when no table has it. So a
 * wrapper's table holds version, name, free and just the ops it changes; its
 * op reaches the inner driver through the storage_* API (storage_put(inner,
 * ...)). Readers, writers and locks are never wrapped: they keep the table of
 * the driver that made them.
 *
 * Paths are absolute within the driver ("/docker/registry/v2/..."),
 * '/'-separated, never "..". Drivers know nothing of registries. Every op
 * returns 0 or a negative WERR_* (WERR_NOTFOUND when a path is absent).
 * Strings and lists returned are allocated on the caller's arena. Readers,
 * writers and locks are released by close/cancel/commit/unlock, and also when
 * the arena they were opened on is freed. Nothing outside storage/driver.c,
 * storage/drivers/, storage/middleware/ and storage/bdcache.c touches a table:
 * everyone else calls the storage_* functions below. docs/storage-drivers.md
 * has the whole contract and a skeleton for a new driver. */
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

/* The layout of the four tables below (and of the base structs). A driver
 * built for another layout is refused (storage_driver_check); bump it
 * whenever a table or a base struct changes shape. 1 was the one table
 * mixing driver, reader, writer and lock ops. */
#define STORAGE_DRIVER_VERSION 2

struct storage_driver_ops {
    int version;      /* STORAGE_DRIVER_VERSION */
    const char *name; /* "filesystem", "s3", a wrapper's own name */
    /* free: release the driver's own state (not its inner driver's: the
     * core frees the chain, outermost first). */
    void (*free)(struct storage_driver *d);

    /* Required of a driver (inner == NULL); a wrapper leaves those it does
     * not change NULL (delegate rule). */

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
     * the writer is closed (commit / close / truncate), not before. */
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

    /* Optional: NULL (in every table of the chain) gives the core fallback. */

    /* url_for: a URL a client may fetch directly (signed). Fallback:
     * WERR_UNSUPPORTED (the blob is served through Wharf). */
    int (*url_for)(struct storage_driver *d, struct arena *a, const char *path, const char *method,
                   char **url);
    /* local_path: filesystem path of the object for web-server sendfile.
     * Fallback: WERR_UNSUPPORTED (the blob is streamed from a reader). */
    int (*local_path)(struct storage_driver *d, struct arena *a, const char *path, char **out);
    /* list_page (added with issue 7): one page of a flat directory (one that
     * holds files only): the names sorting bytewise after `after` (NULL or ""
     * = from the start), at most max (a driver may return fewer, at least
     * one, with *more set: callers loop), sorted; *more set when further
     * names exist; an absent directory gives 0 names. An object store answers it
     * with one request (ListObjectsV2 start-after, max-keys). Fallback: the
     * page is cut from a whole list(). */
    int (*list_page)(struct storage_driver *d, struct arena *a, const char *path, const char *after,
                     size_t max, char ***names, size_t *n, int *more);
    /* lock (added with issue 11): hold the lock named by path, an object the
     * driver keeps for it alone (a flocked file, a lease object) and removes
     * on release; no other op may use that path. One holder at a time across
     * processes and hosts sharing the storage. Waits up to wait_ms for the
     * holder to release it (0: try once), then WERR_BUSY. ttl_s bounds how
     * long a holder that died without releasing keeps others out where the
     * driver cannot see it die (an object store's lease; a flock ends with
     * its process); a longer holder calls storage_lock_renew within ttl_s.
     * *lk lives on a and is released by unlock, or when a is freed.
     * Fallback: WERR_UNSUPPORTED (callers that need mutual exclusion fail). */
    int (*lock)(struct storage_driver *d, struct arena *a, const char *path, int ttl_s,
                long wait_ms, struct storage_lock **lk);
    /* append_file (added with issue 12): the file at path (upload data)
     * becomes its first `offset` bytes followed by the first len bytes of
     * the open regular file fd, read with pread from fd's offset 0. src, when
     * not NULL, is a local path of fd's file (a request body the web server
     * wrote): a driver on the same filesystem may adopt that very inode
     * (through fd, never by src, which another process may rename meanwhile)
     * instead of copying it, when offset is 0; the name src is left to its
     * owner. What was appended is visible to readers on return, durable
     * only once the upload is committed (as a writer's close). Fallback (also
     * when it returns WERR_UNSUPPORTED before anything changed): fd copied
     * through a writer (storage_append_file). */
    int (*append_file)(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                       int fd, const char *src, int64_t len);
    /* prepare_append (added with issue 15): a writer appending to path (or
     * an append_file), whose size the caller has just read with stat, comes
     * shortly: the driver may read now, while the caller waits anyway (a
     * lock settling), what opening it would read. Only reads; may do
     * nothing. Fallback: nothing. */
    void (*prepare_append)(struct storage_driver *d, const char *path);
    /* warm (added with issue 15): what the driver's first request would do
     * first (authenticate, check its container), done ahead of it; a pool
     * worker calls it once at start, on a thread of its own, while it may
     * already serve. May block; failures are the first request's to meet
     * again. Fallback: nothing. */
    void (*warm)(struct storage_driver *d);
};

/* What an open reader does. Both required. */
struct storage_reader_ops {
    int version;                                                    /* STORAGE_DRIVER_VERSION */
    ssize_t (*read)(struct storage_reader *r, void *buf, size_t n); /* 0 = EOF, <0 WERR */
    void (*close)(struct storage_reader *r);
};

/* What an open writer does. All required but truncate. */
struct storage_writer_ops {
    int version;                                                       /* STORAGE_DRIVER_VERSION */
    int (*write)(struct storage_writer *w, const void *buf, size_t n); /* all or error */
    int64_t (*size)(struct storage_writer *w); /* bytes in file incl. prior appends */
    /* truncate: cut the file to size bytes (resume after a crash). Optional:
     * NULL makes storage_writer_truncate WERR_UNSUPPORTED (and
     * storage_writer_at WERR_IO when it must cut). */
    int (*truncate)(struct storage_writer *w, int64_t size);
    int (*commit)(struct storage_writer *w);  /* flush/durable; the writer is closed */
    void (*cancel)(struct storage_writer *w); /* drop what was written; closed */
    void (*close)(struct storage_writer *w);  /* keep what was written; closed */
};

/* What a held lock does (see the lock op). Both required. */
struct storage_lock_ops {
    int version; /* STORAGE_DRIVER_VERSION */
    /* renew: the lock is still ours; a lease is extended to ttl_s from now
     * (cheap to call often: drivers renew only when a third of ttl_s has
     * passed). WERR_BUSY when it was lost (expired and taken by another). */
    int (*renew)(struct storage_lock *lk);
    /* unlock: release (removing the lock's object); lk is invalid after. */
    void (*unlock)(struct storage_lock *lk);
};

/* Every driver instance begins with this base (storage_driver_init). inner
 * is NULL for a driver, the wrapped driver for a wrapper (owned: freed after
 * the wrapper by storage_driver_free). */
struct storage_driver {
    const struct storage_driver_ops *ops;
    struct storage_driver *inner;
};
/* Every reader, writer and lock begins with its base. */
struct storage_reader {
    const struct storage_reader_ops *ops;
};
struct storage_writer {
    const struct storage_writer_ops *ops;
};
struct storage_lock {
    const struct storage_lock_ops *ops;
};

/* storage_driver_init: fill a driver's base: its table, and inner (NULL for
 * a driver; the wrapped driver for a wrapper, which owns it from now on). */
void storage_driver_init(struct storage_driver *d, const struct storage_driver_ops *ops,
                         struct storage_driver *inner);
/* storage_driver_check: d may be used: every table of the chain has version
 * STORAGE_DRIVER_VERSION, a name and free, and the innermost driver has
 * every required op. 0, or WERR_INVALID with err naming the driver and what
 * is wrong. storage_open calls it before handing a driver out. */
int storage_driver_check(const struct storage_driver *d, char *err, size_t errlen);

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

/* The storage API (storage/driver.c): each call dispatches through the
 * chain by the delegate rule, with the core fallback for optional ops. */
int storage_get(struct storage_driver *d, struct arena *a, const char *path, size_t max,
                char **data, size_t *len);
int storage_put(struct storage_driver *d, const char *path, const void *data, size_t len);
int storage_stat(struct storage_driver *d, const char *path, struct storage_stat *st);
int storage_list(struct storage_driver *d, struct arena *a, const char *path, char ***names,
                 size_t *n);
int storage_move(struct storage_driver *d, const char *src, const char *dst);
int storage_delete(struct storage_driver *d, const char *path);
int storage_walk(struct storage_driver *d, const char *path, storage_walk_fn fn, void *ctx);
/* storage_list_page: the list_page op, or the fallback over list (names
 * after `after`, at most max; *more set when further names exist). */
int storage_list_page(struct storage_driver *d, struct arena *a, const char *path,
                      const char *after, size_t max, char ***names, size_t *n, int *more);
/* storage_lock / _renew / _unlock: the lock op and the lock's table
 * (WERR_UNSUPPORTED when no driver of the chain has a lock op; WERR_IO when
 * the lock's table is refused by the version check);
 * storage_lock_renew(NULL) is 0 and storage_unlock(NULL) does nothing. */
int storage_lock(struct storage_driver *d, struct arena *a, const char *path, int ttl_s,
                 long wait_ms, struct storage_lock **lk);
int storage_lock_renew(struct storage_lock *lk);
void storage_unlock(struct storage_lock *lk);
/* storage_lock_during: storage_lock, and work(ctx) done once the lock is
 * ours. A lease lock (swift, lease.c) waits a settle time after its create
 * before it reads its lease back; it runs work in that wait instead of
 * sleeping (storage_lock_settling), and again after each lost attempt, so
 * work must only read and must be safe to repeat (the caller's state, read
 * by the last run, is what holds). Other drivers run it after taking the
 * lock. Work's error is returned (the lock then released). */
typedef int (*storage_lock_work_fn)(void *ctx);
int storage_lock_during(struct storage_driver *d, struct arena *a, const char *path, int ttl_s,
                        long wait_ms, storage_lock_work_fn work, void *ctx,
                        struct storage_lock **lk);
/* storage_lock_settling: for a lock op in its settle wait of settle_ms after
 * its create: runs the pending work of storage_lock_during (if any), then
 * sleeps what remains of settle_ms. */
void storage_lock_settling(long settle_ms);
/* storage_writer_at: a writer appending to path after its first offset
 * bytes: what lies past offset (a crash's remnant, a refused chunk) is cut
 * first; WERR_IO when the driver cannot cut. */
int storage_writer_at(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                      struct storage_writer **out);
/* storage_prepare_append: the prepare_append op (see there), or nothing */
void storage_prepare_append(struct storage_driver *d, const char *path);
/* storage_warm: the warm op (see there), or nothing */
void storage_warm(struct storage_driver *d);
/* storage_append_file: the append_file op, or the fallback: a writer on path
 * (append), cut to offset, fed len bytes of fd (pread from 0), lk (may be
 * NULL) renewed between chunks. WERR_IO when fd holds fewer than len bytes. */
int storage_append_file(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                        int fd, const char *src, int64_t len, struct storage_lock *lk);
/* Readers and writers. storage_reader_open / storage_writer_open give
 * WERR_IO (logged) when the driver's reader or writer table fails the
 * version check, the first time it is seen. */
int storage_reader_open(struct storage_driver *d, struct arena *a, const char *path, int64_t offset,
                        struct storage_reader **r);
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
/* storage_url_for / storage_local_path: WERR_UNSUPPORTED when no driver of the chain has the op */
int storage_url_for(struct storage_driver *d, struct arena *a, const char *path, const char *method,
                    char **url);
int storage_local_path(struct storage_driver *d, struct arena *a, const char *path, char **out);
/* storage_has_local_path: 1 when a driver of the chain keeps objects as local
 * files (has local_path), without asking for one: nginx maps the storage
 * root itself and needs no path, nor the stat local_path makes */
int storage_has_local_path(struct storage_driver *d);
void storage_driver_free(struct storage_driver *d);

#endif
