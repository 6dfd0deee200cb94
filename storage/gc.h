/* gc.h — garbage collection (mark & sweep) over a storage driver in the
 * reference registry's layout, and upload purging.
 *
 * Mark: every manifest revision of every repository (with delete_untagged:
 * only the manifests a tag reaches, the children of a kept index and the
 * referrers whose subject is kept), its config, layers and index children.
 * Sweep: with delete_untagged the manifests not kept (revision link, tag index
 * entries, Wharf's referrers index entry), then every blob not marked. Output
 * and decisions match `registry garbage-collect` 2.8.2, except that Wharf keeps
 * the children of a tagged index and referrers of kept subjects (the reference
 * deletes them with --delete-untagged: distribution issue #3178).
 *
 * Memory is bounded by the number of distinct blobs (a sorted array of 32-byte
 * keys) plus, per repository, its manifests' reference lists.
 *
 * Online mode (registry serving): see the comment above gc_run in gc.c. */
#ifndef WHARF_GC_H
#define WHARF_GC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "../lib/config.h"
#include "driver.h"

struct gc_opts {
    int dry_run;         /* report, delete nothing */
    int delete_untagged; /* also delete manifests no tag reaches */
    int online;          /* safe while the registry serves (grace period, re-check) */
    long grace;          /* online: seconds; nothing younger is deleted */
    long settle_ms;      /* online: wait between quarantine and the final re-check */
    FILE *out;           /* the reference's report lines (NULL: none) */
    int quiet;           /* with out: only the summary lines, not every mark */
    /* tests: called as online steps 3 ("quarantine", nothing renamed yet) and
     * 4 ("settle", candidates quarantined, before the final re-check) begin */
    void (*test_step)(void *ctx, const char *step);
    void *test_ctx;
};

struct gc_stats {
    size_t repos;
    size_t manifests;         /* manifest revisions seen */
    size_t marked;            /* distinct digests marked */
    size_t manifests_deleted; /* (or eligible, in a dry run) */
    size_t blobs_deleted;     /* (or eligible, in a dry run) */
    int64_t bytes_freed;      /* (or that would be) */
    size_t blobs_young;       /* online: unmarked but inside the grace period */
    size_t restored;          /* online: quarantined or unlinked, then put back */
};

/* gc_run: one collection over d. cfg may be NULL (defaults). Returns 0, or a
 * WERR_* (a manifest that cannot be read or parsed stops the run before any
 * deletion, as the reference's "failed to mark" does). st may be NULL. */
int gc_run(struct storage_driver *d, const struct config *cfg, const struct gc_opts *o,
           struct gc_stats *st);

/* gc_collect: gc_run on the configured storage (storage/open.h, its
 * blob-descriptor cache included, so deletions keep the cache right), opened
 * and closed here: what `wharf garbage-collect` runs. WERR_* with err filled
 * when the storage cannot be opened; gc_run's result otherwise. */
int gc_collect(const struct config *cfg, const struct gc_opts *o, struct gc_stats *st, char *err,
               size_t errlen);

/* gc_purge_uploads: remove every <repo>/_uploads/<uuid> whose startedat (or,
 * when unreadable, whose directory's mtime) is older than now - age seconds.
 * dry_run: count only. *purged (may be NULL) gets the number. Returns 0 or WERR_*. */
int gc_purge_uploads(struct storage_driver *d, long age, int dry_run, size_t *purged);

/* internal key helpers, exposed for the unit tests */
struct gc_key {
    unsigned char b[32];
};
/* gc_key_of: the 32-byte key of a digest (its sha256 bytes; other algorithms:
 * sha256 of the digest string). WERR_INVALID for a malformed digest. */
int gc_key_of(const char *digest, struct gc_key *k);

/* gc_markset: a set of keys in a sorted array, compacted as it grows (memory
 * bounded by the number of distinct keys, about 2x). */
struct gc_markset {
    struct gc_key *v;
    size_t n, cap, sorted; /* v[0..sorted) sorted and unique */
};
int gc_markset_add(struct gc_markset *m, const struct gc_key *k); /* 0 or WERR_NOMEM */
void gc_markset_compact(struct gc_markset *m);
int gc_markset_has(struct gc_markset *m, const struct gc_key *k); /* compacts first */
void gc_markset_free(struct gc_markset *m);

#endif
