/* catalog.h — the repository index behind _catalog, the repository list and
 * search (issues 7 and 17), kept on every driver.
 *
 * Listing repositories by walking the store costs a directory read (or, on
 * an object store, a request) per directory of the whole tree on every page.
 * Wharf keeps instead one small marker object per repository, at
 *   /wharf/catalog/<hex of the name>
 * (hex keeps bytewise order, so "a-b" < "a/b" holds for the keys too). Its
 * content is a JSON summary of the repository derived from storage: its tags
 * (name → digest), the manifests they reach (body size, the blobs each
 * references with their sizes, the labels of an image's config, an index's
 * children) and the time of the newest manifest put. A page of _catalog is
 * one listing of that prefix after `last` (S3 ListObjectsV2 start-after,
 * max-keys); on local drivers a per-process sorted copy of the names,
 * re-listed when the directory changes, gives a page by binary search.
 *
 * Each marker is its own object — no global read-modify-write. A manifest
 * put, tag delete or manifest delete first changes the links, then rewrites
 * the repository's marker from what storage holds then (tags listed and
 * read; a manifest's summary is recomputed only for a digest the old marker
 * does not describe: content-addressed, it cannot have changed), under the
 * repository's storage lock so that two nodes pushing into one repository
 * cannot write their summaries out of order. A repository delete removes the
 * marker, then the tree. So a crash at any point leaves at worst a marker
 * describing the state before the last change, which the next change of the
 * same repository or a rebuild replaces; a repository holding a manifest
 * keeps its marker whatever the interleaving (a push racing a delete of the
 * same repository may leave a marker naming a repository that is gone:
 * listed, its tags 404, dropped by a rebuild).
 *
 * /wharf/catalog.ready (content "v2 <time>") says the index is complete in
 * this format. Until it exists (a root written by the reference registry, an
 * older Wharf, or one with issue 7's name-only markers) the first request
 * builds the index (catalog_rebuild), or, read-only, answers from a walk.
 * `wharf catalog rebuild` rebuilds it on demand, also while nodes serve (it
 * re-checks a repository before dropping its marker). The reference registry
 * ignores /wharf/. docs/catalog.md has the layout and the crash analysis. */
#ifndef WHARF_CATALOG_H
#define WHARF_CATALOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../lib/arena.h"
#include "registry.h"

#define CATALOG_DIR "/wharf/catalog"
#define CATALOG_READY "/wharf/catalog.ready"

/* One repository as the list and search show it. */
struct catalog_entry {
    char *name;       /* repository */
    size_t tags;      /* tag count */
    int64_t size;     /* bytes of the distinct blobs its tagged manifests reference (best effort) */
    time_t last_push; /* newest manifest put, 0 unknown */
    const char *
        matched; /* for search: "name", "tag:<t>", "label:<k>=<v>", "digest:<d>"; NULL in listing */
};

/* catalog_list: repositories in name order after `last` (NULL: from the start), whose name
 * contains `filter` (NULL/"": all; case-insensitive substring), at most max; *more set when
 * more follow. allow(ctx, name) filters what the caller may see (NULL: all). Strings on a.
 * 0 or a WERR_* from storage. */
int catalog_list(struct registry *r, struct arena *a, const char *filter, const char *last,
                 size_t max, int (*allow)(void *ctx, const char *repo), void *ctx,
                 struct catalog_entry **out, size_t *n, int *more);
/* catalog_search: repositories matching q by name (substring), tag (exact), label
 * ("k=v" exact, or "k" present) or digest (a manifest or a blob digest, full or a
 * >= 12-hex prefix), same paging/allow contract; `matched` says why. */
int catalog_search(struct registry *r, struct arena *a, const char *q, const char *last, size_t max,
                   int (*allow)(void *ctx, const char *repo), void *ctx, struct catalog_entry **out,
                   size_t *n, int *more);

/* catalog_index_enabled: the index is kept for this registry (every driver;
 * not for a registry without configuration, as tools open the reference's
 * layout). */
int catalog_index_enabled(const struct registry *r);

/* catalog_update: rewrite repo's marker from storage after a change of its
 * manifests or tags (pushed: a manifest was just put, last_push becomes now);
 * removes the marker when repo holds no _manifests any more. 0 or a WERR_*. */
int catalog_update(struct registry *r, struct arena *a, const char *repo, int pushed);
/* catalog_pushed: the marker after a manifest put (tag: the tag it was put
 * under, NULL by digest): the old marker with that tag set, written, then
 * checked against the tags storage lists (a difference — a racing writer, an
 * update lost to a crash — recomputes it all); recomputed all along when
 * there was no marker. 0 or a WERR_*. */
int catalog_pushed(struct registry *r, struct arena *a, const char *repo, const char *tag,
                   const char *digest);
/* catalog_mark: catalog_update without a push. catalog_unmark: delete the
 * marker (absent is fine). 0 or the driver's WERR_*. */
int catalog_mark(struct registry *r, struct arena *a, const char *repo);
int catalog_unmark(struct registry *r, struct arena *a, const char *repo);

/* catalog_index_page: the registry_catalog contract (sorted names after
 * `last`, at most max, *more) answered from the index; builds the index
 * first when it was never built. WERR_NOTFOUND when there is no index to
 * use (never built and the registry is read-only): the caller walks.
 * Names live on a. */
int catalog_index_page(struct registry *r, struct arena *a, const char *last, size_t max,
                       char ***repos, size_t *n, int *more);

struct catalog_rebuild_stats {
    size_t repos;   /* repositories found (with a _manifests directory) */
    size_t added;   /* markers written for repositories that had none */
    size_t removed; /* markers of repositories that are gone, deleted */
    size_t updated; /* markers rewritten: they disagreed with storage */
};
/* catalog_rebuild: make the index match the store: walk the repositories,
 * write each one's marker where missing or disagreeing with storage, drop
 * markers of repositories without manifests, then write /wharf/catalog.ready.
 * Safe while other nodes push and delete. With dry_run nothing is written
 * (st says what would be). 0 or a WERR_*. */
int catalog_rebuild(struct registry *r, struct arena *a, int dry_run,
                    struct catalog_rebuild_stats *st);

#endif
