/* proxy.h — the pull-through cache (issue 8): repositories under a configured
 * prefix (proxy.remoteurl: every repository; proxy.upstreams: by prefix) are
 * mirrors of an upstream registry, fetched with libcurl (anonymous, Basic, or
 * the Docker token flow, tokens cached per process until they expire) and
 * kept in storage through the normal upload machinery. */
#ifndef WHARF_PROXY_H
#define WHARF_PROXY_H

#include "../fcgi/http.h"
#include "app.h"

/* proxy_manifest_sync: before a manifest GET/HEAD is served from storage:
 * in a mirrored repository, make storage current (a tag: ask the upstream
 * for its digest and fetch the manifest when it changed; a digest: fetch it
 * when absent). Upstream failures leave storage as it is, so what is cached
 * is served. Records the pull for ttl. Never fills res. */
void proxy_manifest_sync(struct app *app, struct request *req);

/* proxy_blob_get: before a blob GET/HEAD is served from storage: in a
 * mirrored repository, a blob missing from storage is fetched from the
 * upstream (once across workers: a lock file) and streamed to the client
 * while it is stored; its digest is verified before it is kept. Returns 1
 * when res is filled (streaming, a HEAD answered from the upstream, or an
 * upstream error), 0 to go on serving from storage. */
int proxy_blob_get(struct app *app, struct request *req, struct response *res);

/* proxy_refuses_write: 1 when repository name is a mirror, where pushes and
 * deletes are refused (405 UNSUPPORTED, as the reference does). */
int proxy_refuses_write(struct app *app, const char *name);

#endif
