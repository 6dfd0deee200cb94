/* app.h — the process-lifetime application: configuration, registry model
 * (storage/registry.h: driver, caches, mirror) and auth a worker serves with. Built once per worker
 * (after fork) and rebuilt on reload. */
#ifndef WHARF_APP_H
#define WHARF_APP_H

#include "../lib/config.h"

struct registry;
struct auth;

struct app {
    const struct config *cfg; /* not owned */
    struct registry *reg;     /* registry_open: driver, blob-descriptor cache, mirror */
    struct auth *auth;        /* handlers/auth.h: access controller and token service */
};

/* app_new: open the configured storage (registry_open) and auth. Returns 0 or
 * a WERR_* (err filled). */
int app_new(const struct config *cfg, struct app **out, char *err, size_t errlen);
void app_free(struct app *app);

/* app_repo_is_mirror: 1 when repository name (may be NULL: 0) is a mirror of
 * an upstream registry, where pushes and deletes are refused (405
 * UNSUPPORTED, as the reference does). */
int app_repo_is_mirror(struct app *app, const char *name);

/* app_warm: the storage driver's first session made ahead of the first
 * request (storage_warm); may block. A pool worker runs it on a thread. */
void app_warm(struct app *app);

#endif
