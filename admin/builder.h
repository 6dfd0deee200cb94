/* builder.h — the builder service of issue 18: a service of the pool master
 * (a row of admin/services.c) that runs the build queue (lib/buildq.h). It
 * starts each queued build as a child process group of its own (git fetch,
 * buildah bud, buildah push into this registry), at most
 * builds.concurrency at once, ends those past builds.timeout or cancelled,
 * records each build's outcome, turns tagged pushes into chained builds of
 * the sources whose Dockerfile FROMs the pushed image, sends build events
 * through the notifications, and prunes old builds. The master and the
 * workers never wait on a build. */
#ifndef WHARF_ADMIN_BUILDER_H
#define WHARF_ADMIN_BUILDER_H

struct config;

/* the service row: enabled when builds.sources is not empty; run() works
 * until SIGTERM, then puts its running builds back in the queue (they
 * start again with the next service) and returns 0 */
int builder_enabled(const struct config *cfg, const void *ctx);
int builder_run(const struct config *cfg, const void *ctx);

/* builder_from_matches: 1 when a Dockerfile's FROM image ref names
 * registry/repo:tag (no tag: "latest"; a digest never matches), else 0. */
int builder_from_matches(const char *ref, const char *registry, const char *repo, const char *tag);

#endif
