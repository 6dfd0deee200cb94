/* mirror.h — the pull-through cache (issue 8) as a blob and manifest source
 * of the registry model: repositories under a configured prefix (proxy:
 * every repository; proxy.upstreams: by prefix) mirror an upstream registry,
 * fetched with lib/upstream.h and kept in storage through the normal upload
 * machinery (storage/proxy_state.h places them and keeps the ttl records).
 * The registry (storage/registry.h) calls it; nothing above storage does. */
#ifndef WHARF_MIRROR_H
#define WHARF_MIRROR_H

#include <stddef.h>

#include "../lib/arena.h"
#include "../lib/config.h"
#include "registry.h"

struct mirror;

/* mirror_new: the process's mirror: its upstream client (token cache and
 * the schemes upstreams answered with). Loads libcurl: WERR_INVALID with
 * err filled when it is missing. */
int mirror_new(struct mirror **out, char *err, size_t errlen);
void mirror_free(struct mirror *m);

/* mirror_manifest_sync: before a manifest of repo is read from storage: in a
 * mirrored repository, make storage current (ref a tag: ask the upstream for
 * its digest and fetch the manifest when it changed; a digest: fetch it when
 * absent). Upstream failures leave storage as it is, so what is cached is
 * served. Records the pull for the ttl. */
void mirror_manifest_sync(struct mirror *m, struct registry *r, struct arena *a, const char *repo,
                          const char *ref);

/* mirror_blob: before a blob of repo is delivered from storage: in a
 * mirrored repository, a blob missing from storage is fetched from the
 * upstream (once across workers and nodes: storage_lock) and streamed while
 * it is stored; its digest is verified before it is kept. Returns 1 when out
 * is filled (a stream, or a HEAD answered from the upstream), 0 to deliver
 * from storage (present, stored now, or unknown upstream too), or an error
 * (out->detail set when the upstream failed). */
int mirror_blob(struct mirror *m, struct registry *r, struct arena *a, const char *repo,
                const char *digest, const struct blob_ask *q, struct blob_delivery *out);

#endif
