/* catalog.h — the repository index behind _catalog on object stores (issue 7).
 *
 * Listing repositories by walking the store costs a request per directory of
 * the whole bucket on every page. On an object store Wharf keeps instead one
 * small marker object per repository (its content: the name), at
 *   /wharf/catalog/<hex of the name>
 * (hex keeps bytewise order, so "a-b" < "a/b" holds for the keys too), put
 * when a manifest is stored in the repository and deleted with the
 * repository. A page of _catalog is one listing of that prefix after `last`
 * (S3 ListObjectsV2 start-after, max-keys). Each marker is its own object —
 * no read-modify-write — so nodes pushing and deleting at once cannot lose
 * one another's updates: a manifest put writes its links, then the marker; a
 * repository delete removes the marker, then the tree; whatever the
 * interleaving, a repository holding a manifest keeps its marker (a push
 * racing a delete of the same repository may leave a marker naming a
 * repository that is gone: listed, its tags 404, dropped by a rebuild).
 *
 * /wharf/catalog.ready says the index is complete. Until it exists (a bucket
 * written by the reference registry or an older Wharf) the first _catalog
 * request builds the index from a walk (catalog_rebuild), or, read-only,
 * answers from the walk. `wharf catalog rebuild` rebuilds it on demand, also
 * while nodes serve (it re-checks a repository before dropping its marker).
 * The reference registry ignores /wharf/. */
#ifndef WHARF_CATALOG_H
#define WHARF_CATALOG_H

#include <stddef.h>

#include "../lib/arena.h"
#include "registry.h"

#define CATALOG_DIR "/wharf/catalog"
#define CATALOG_READY "/wharf/catalog.ready"

/* catalog_index_enabled: the index is kept for this registry (storage.s3). */
int catalog_index_enabled(const struct registry *r);

/* catalog_mark: put repo's marker (idempotent). catalog_unmark: delete it
 * (absent is fine). 0 or the driver's WERR_*. */
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
    size_t added;   /* markers written */
    size_t removed; /* markers of repositories that are gone, deleted */
};
/* catalog_rebuild: make the index match the store: walk the repositories,
 * add missing markers, drop markers of repositories without manifests, then
 * write /wharf/catalog.ready. Safe while other nodes push and delete. With
 * dry_run nothing is written (st says what would be). 0 or a WERR_*. */
int catalog_rebuild(struct registry *r, struct arena *a, int dry_run,
                    struct catalog_rebuild_stats *st);

#endif
