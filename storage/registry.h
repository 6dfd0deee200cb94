/* registry.h — the registry model over a storage driver, in the reference
 * registry's on-disk layout (see storage/paths.h). Handlers use only this.
 * Every function returns 0 or a negative WERR_*; results live on the arena. */
#ifndef WHARF_REGISTRY_H
#define WHARF_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "../lib/arena.h"
#include "../lib/config.h"
#include "../lib/digest.h"
#include "driver.h"

struct bdcache;
struct mirror;
struct registry {
    struct storage_driver *d;
    const struct config *cfg;
    struct bdcache *cache; /* blob descriptors (storage/bdcache.h), or NULL; not owned */
    /* the pull-through cache (storage/mirror.h), consulted by manifest gets and
     * blob deliveries in mirrored repositories; NULL: nothing is fetched */
    struct mirror *mirror;
};

/* registry_open: the registry a server runs on: the configured driver and
 * blob-descriptor cache (storage/open.h), and the mirror when upstreams are
 * configured (libcurl loaded then). Freed, all of it, by registry_close.
 * Returns 0 or a WERR_* with err filled. */
int registry_open(const struct config *cfg, struct registry **out, char *err, size_t errlen);
void registry_close(struct registry *r);
/* registry_warm: the driver's first session ahead of the first request
 * (storage_warm); may block */
void registry_warm(struct registry *r);

/* registry_repo_is_mirror: 1 when repository repo (may be NULL: 0) mirrors an
 * upstream (proxy:, proxy.upstreams): pushes and deletes are refused there. */
int registry_repo_is_mirror(struct registry *r, const char *repo);

struct blob_desc {
    char digest[DIGEST_MAX_STR];
    int64_t size;
};

/* ---- blobs ---- */
/* registry_blob_stat: the blob is linked in repo and its data exists.
 * WERR_NOTFOUND otherwise. */
int registry_blob_stat(struct registry *r, struct arena *a, const char *repo, const char *digest,
                       struct blob_desc *out);
/* registry_blob_stat_for_read: registry_blob_stat for a GET, which also finds
 * a blob that an online garbage collection holds in quarantine (storage/gc.c;
 * *quarantined = 1): a manifest committed while the GC's re-check ran names it,
 * and the GC puts it back after its settle time. HEAD, manifest PUT checks and
 * mounts keep using registry_blob_stat, which does not see it: a client then
 * uploads the blob again instead of naming data about to be deleted. */
int registry_blob_stat_for_read(struct registry *r, struct arena *a, const char *repo,
                                const char *digest, struct blob_desc *out, int *quarantined);
/* registry_blob_open: a reader on the blob's data at offset (released with the
 * arena); on its quarantined data while an online GC holds it. */
int registry_blob_open(struct registry *r, struct arena *a, const char *digest, int64_t offset,
                       struct storage_reader **rd);
/* registry_blob_path: the driver path of the blob's data ("/docker/registry/v2/blobs/..."). */
char *registry_blob_path(struct arena *a, const char *digest);
/* registry_blob_unlink: remove repo's link to the blob (the data stays for GC). */
int registry_blob_unlink(struct registry *r, struct arena *a, const char *repo, const char *digest);
/* registry_blob_mount: link an existing blob of repo `from` into repo. NOTFOUND when
 * from does not have it. */
int registry_blob_mount(struct registry *r, struct arena *a, const char *repo, const char *from,
                        const char *digest, struct blob_desc *out);

/* ---- uploads ---- */
struct upload {
    const char *repo, *uuid;
    int64_t offset; /* bytes received and hashed */
    struct hasher h;
    time_t started;            /* 0 when open() did not need to read it */
    int64_t stored;            /* the data's size in storage as this request left it, -1 unknown */
    struct storage_lock *lock; /* held from open until release, commit, cancel or the arena's end */
    /* work done while the lock settled (registry_upload_open_for) */
    struct {
        struct hasher h; /* the state after the body file fd's first len bytes */
        int fd;
        int64_t len, from; /* hashed on top of the state at offset `from` */
        int hashed;
        const char *absent; /* a digest whose blob was not stored then */
    } pre;
};
/* How long a request waits for another one holding the same upload (then
 * WERR_BUSY), and how long a lease of a dead holder keeps others out. */
#define UPLOAD_LOCK_WAIT_MS 15000
#define UPLOAD_LOCK_TTL_S 120
typedef ssize_t (*body_read_fn)(void *ctx, void *buf, size_t n); /* 0 = end, <0 error */

/* registry_read_link: a link file's "alg:hex" (whitespace after it cut),
 * validated (WERR_INVALID when it is not a digest or is too long); on a. */
int registry_read_link(struct registry *r, struct arena *a, const char *path, char **digest);

int registry_upload_start(struct registry *r, struct arena *a, const char *repo,
                          struct upload **out);
/* registry_upload_open: take the upload's lock (storage_lock: requests for one
 * upload never interleave, on any worker or node), then restore its state
 * (offset, hash) as the previous holder left it. NOTFOUND if unknown;
 * WERR_BUSY when another request held it for UPLOAD_LOCK_WAIT_MS. The lock is
 * held until commit or cancel, or until the arena is freed. */
int registry_upload_open(struct registry *r, struct arena *a, const char *repo, const char *uuid,
                         struct upload **out);
/* What the request that opens an upload will do with it, so that some of
 * that work overlaps the wait of a lease lock (storage_lock_during): the
 * body file's hash computed on the saved state, the committed digest's blob
 * looked up, the driver told an append comes (storage_prepare_append). Only reads; used later only
 * when still valid (same fd, length and offset; a blob found then is looked up again at the
 * commit). */
struct upload_intent {
    int append;  /* the request appends a body */
    int body_fd; /* a body file to append (-1: none), its first body_len bytes */
    int64_t body_len;
    const char *commit; /* the digest the request commits (NULL: none) */
};
int registry_upload_open_for(struct registry *r, struct arena *a, const char *repo,
                             const char *uuid, const struct upload_intent *in, struct upload **out);
/* registry_upload_append: stream a body into the upload, hashing as it arrives,
 * then save the hash state. max: bytes expected (-1 = until end). Returns
 * WERR_IO when the body broke off (what arrived is kept and saved); WERR_TOOBIG
 * when more than max arrived. */
int registry_upload_append(struct registry *r, struct arena *a, struct upload *u, body_read_fn rd,
                           void *ctx, int64_t max);
/* registry_upload_append_file (issue 12): append the first len bytes of the
 * open regular file fd (a request body the web server received, src its
 * path) to the upload: hashed from fd, then handed to the driver
 * (storage_append_file: the filesystem driver adopts the file itself for a
 * first chunk, copies in the kernel otherwise), then the hash state saved as
 * registry_upload_append does. WERR_IO when fd holds fewer than len bytes. */
int registry_upload_append_file(struct registry *r, struct arena *a, struct upload *u, int fd,
                                const char *src, int64_t len);
/* registry_upload_commit: verify that the hash state covers exactly the stored
 * bytes (its length == the data's size == offset) and the digest (WERR_DIGEST:
 * the upload is removed and nothing stored), move the data into the blob store atomically, link it
 * in the repository, remove the upload (on an object store once the request
 * answered: an arena cleanup of a, which also releases the lock). */
int registry_upload_commit(struct registry *r, struct arena *a, struct upload *u,
                           const char *digest, struct blob_desc *out);
int registry_upload_cancel(struct registry *r, struct arena *a, struct upload *u);
/* registry_upload_release: give the upload's lock back (a request that is
 * done with the upload, before it answers: the client's next request for it
 * then finds it free). u's state is not to be used afterwards. */
void registry_upload_release(struct upload *u);

/* ---- blob delivery (storage/deliver.c) ----
 * How a blob GET or HEAD is answered, decided here so that the caller never
 * knows the driver: a URL the driver signs (object stores; not for HEAD, as a
 * URL presigned for GET refuses HEAD, nor with redirect.disable), a file the
 * web server sends (blobs.accel: nginx X-Accel-Redirect, Apache X-Sendfile,
 * when the driver keeps local files), or a stream through the worker, with
 * If-None-Match and Range. In a mirrored repository a blob missing here is
 * fetched from the upstream first (storage/mirror.h). */
struct blob_ask {
    const char *method;        /* "GET" or "HEAD" */
    const char *range;         /* the Range header, or NULL */
    const char *if_none_match; /* the If-None-Match header, or NULL */
    int accel_failed;          /* the web server could not send the file named before: stream */
};
enum blob_via {
    BLOB_VIA_NONE,     /* status and length only: HEAD, 304, 416, an empty body */
    BLOB_VIA_REDIRECT, /* 307 to target, a URL */
    BLOB_VIA_ACCEL,    /* nginx sends the file: target is its internal URI */
    BLOB_VIA_SENDFILE, /* Apache sends the file: target is its local path */
    BLOB_VIA_STREAM,   /* read(ctx) gives the body (released with the arena) */
};
struct blob_delivery {
    int status; /* 200, 206 (a range), 304 (If-None-Match), 307 (redirect), 416 */
    enum blob_via via;
    struct blob_desc bd; /* size -1: unknown (an upstream's answer without a length) */
    const char *target;  /* REDIRECT, ACCEL, SENDFILE (arena) */
    int64_t start;       /* 206: the first byte sent (of bd.size) */
    int64_t length;      /* the body's length (Content-Length), -1: not known or not said */
    body_read_fn read;   /* STREAM */
    void *ctx;
    int upstream;       /* streamed from the upstream as it arrives: no ranges, no cache headers */
    const char *detail; /* a failure of the upstream (arena): the answer is 502 */
};
/* registry_blob_deliver: decide how to answer q for the blob digest of repo.
 * WERR_NOTFOUND when the blob is not linked in repo (nor at the upstream of
 * a mirror); an error with out->detail set when the upstream failed; another
 * WERR_* from storage. */
int registry_blob_deliver(struct registry *r, struct arena *a, const char *repo, const char *digest,
                          const struct blob_ask *q, struct blob_delivery *out);

/* ---- manifests and tags ---- */
struct manifest_info; /* storage/manifest.h */

/* registry_manifest_get: by tag or digest. Returns body, its digest and media
 * type. In a mirrored repository storage is first made current from the
 * upstream (storage/mirror.h: mirror_manifest_sync). */
int registry_manifest_get(struct registry *r, struct arena *a, const char *repo, const char *ref,
                          char **body, size_t *len, char digest[DIGEST_MAX_STR],
                          const char **media_type);
/* registry_manifest_put: validate (manifest.c), check every referenced blob and
 * manifest exists in repo (WERR_NOTFOUND, *detail = the missing digest) with the
 * size its descriptor gives (WERR_INVALID), store, link, tag when ref is a tag.
 * WERR_DIGEST when ref is a digest that does not match. */
int registry_manifest_put(struct registry *r, struct arena *a, const char *repo, const char *ref,
                          const char *body, size_t len, const char *content_type,
                          char digest[DIGEST_MAX_STR], const char **detail);
/* registry_manifest_delete: unlink the revision and every tag pointing at it. */
int registry_manifest_delete(struct registry *r, struct arena *a, const char *repo,
                             const char *digest);
/* registry_tag_delete: remove one tag (its current link and index); NOTFOUND if absent. */
int registry_tag_delete(struct registry *r, struct arena *a, const char *repo, const char *tag);
/* registry_tags: sorted tags of repo; NOTFOUND when the repository is unknown. */
int registry_tags(struct registry *r, struct arena *a, const char *repo, char ***tags, size_t *n);
/* registry_catalog: sorted repository names, at most max after `last` (NULL = start);
 * *more set when further names exist. */
int registry_catalog(struct registry *r, struct arena *a, const char *last, size_t max,
                     char ***repos, size_t *n, int *more);
/* registry_repo_exists: the repository has a _manifests, _layers or _uploads dir. */
int registry_repo_exists(struct registry *r, struct arena *a, const char *repo);
/* registry_repo_delete: remove the whole repository (its links, tags, uploads;
 * blob data stays for garbage collection). NOTFOUND when unknown. */
int registry_repo_delete(struct registry *r, struct arena *a, const char *repo);

/* registry_blob_find: a repository (other than skip, may be NULL) in which the
 * blob is linked and for which may_read(ctx, name) is true (may_read NULL: any),
 * among the first max_repos repositories of the catalog (its walk order; 0: all).
 * A blob whose data is stored nowhere costs one stat, no listing.
 * *from is that repository's name (arena), out its descriptor. NOTFOUND if none. */
typedef int (*repo_filter_fn)(void *ctx, const char *repo);
int registry_blob_find(struct registry *r, struct arena *a, const char *digest, const char *skip,
                       repo_filter_fn may_read, void *ctx, size_t max_repos, const char **from,
                       struct blob_desc *out);

/* ---- referrers (OCI Distribution 1.1), storage/referrers.c ----
 * Indexed at push time under the repository, a layout the reference registry
 * ignores (it walks only _manifests/revisions and _manifests/tags):
 *   <repo>/_manifests/referrers/<alg>/<subject hex>/<alg>/<referrer hex>/link */
struct referrer {
    const char *digest, *media_type, *artifact_type; /* artifact_type may be NULL */
    int64_t size;
    const char *annotations; /* JSON object text, or NULL */
};
/* registry_referrer_link / _unlink: add or remove referrer's entry under subject. */
int registry_referrer_link(struct registry *r, struct arena *a, const char *repo,
                           const char *subject, const char *referrer);
int registry_referrer_unlink(struct registry *r, struct arena *a, const char *repo,
                             const char *subject, const char *referrer);
/* registry_referrers: one page of the manifests of repo whose subject is
 * `subject`, filtered by artifact_type when not NULL, sorted by digest: at most
 * max (0 counts as 1) entries whose digest sorts after `last` (NULL: from the
 * first). *next is NULL when the list is complete, else the digest to pass as
 * `last` for the next page (a page may hold fewer than max entries when many
 * did not match the filter). Entries whose manifest is gone (e.g. removed by
 * another registry's garbage collection) are skipped. An unknown subject or
 * repository gives 0 entries. */
int registry_referrers(struct registry *r, struct arena *a, const char *repo, const char *subject,
                       const char *artifact_type, const char *last, size_t max,
                       struct referrer **out, size_t *n, const char **next);

#endif
