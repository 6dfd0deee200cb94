/* paths.h — driver paths of the reference registry's layout (byte-compatible):
 *   /docker/registry/v2/blobs/<alg>/<2 hex>/<hex>/data
 *   /docker/registry/v2/repositories/<name>/_layers/<alg>/<hex>/link
 *   /docker/registry/v2/repositories/<name>/_manifests/revisions/<alg>/<hex>/link
 *   /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
 *   /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link
 *   /docker/registry/v2/repositories/<name>/_uploads/<uuid>/{data,startedat,hashstates/<alg>/<offset>}
 * Wharf's own objects live outside that tree, where the reference never looks:
 *   /wharf/locks/<name>                 a driver lock (storage_lock): flock file or lease
 *   /wharf/locks/uploads/<uuid>         the lock of one upload
 * Inputs must already be validated (name grammar, digest grammar). Arena strings. */
#ifndef WHARF_PATHS_H
#define WHARF_PATHS_H

#include <stdint.h>

#include "../lib/arena.h"

#define PATH_ROOT "/docker/registry/v2"

char *path_blob_data(struct arena *a, const char *digest);
char *path_blob_dir(struct arena *a, const char *digest);
/* the blob's data while an online garbage collection has it quarantined
 * (storage/gc.c): data.wharf-gc beside data, never listed by the reference */
char *path_blob_quarantine(struct arena *a, const char *digest);
char *path_repos(struct arena *a);
char *path_repo(struct arena *a, const char *repo);
char *path_layer_link(struct arena *a, const char *repo, const char *digest);
char *path_revision_link(struct arena *a, const char *repo, const char *digest);
char *path_revision_dir(struct arena *a, const char *repo, const char *digest);
char *path_tags(struct arena *a, const char *repo);
char *path_tag(struct arena *a, const char *repo, const char *tag);
char *path_tag_current(struct arena *a, const char *repo, const char *tag);
char *path_tag_index_link(struct arena *a, const char *repo, const char *tag, const char *digest);
char *path_tag_index_dir(struct arena *a, const char *repo, const char *tag, const char *digest);
char *path_upload(struct arena *a, const char *repo, const char *uuid);
char *path_upload_data(struct arena *a, const char *repo, const char *uuid);
char *path_upload_startedat(struct arena *a, const char *repo, const char *uuid);
char *path_upload_hashstates(struct arena *a, const char *repo, const char *uuid, const char *alg);
char *path_upload_hashstate(struct arena *a, const char *repo, const char *uuid, const char *alg,
                            int64_t offset);
char *path_lock(struct arena *a, const char *name);
char *path_upload_lock(struct arena *a, const char *uuid);

#endif
