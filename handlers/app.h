/* app.h — the process-lifetime application: configuration, storage driver and
 * registry model a worker serves with. Built once per worker (after fork) and
 * rebuilt on reload. */
#ifndef WHARF_APP_H
#define WHARF_APP_H

#include "../lib/config.h"

struct storage_driver;
struct registry;
struct auth;
struct bdcache;

struct app {
    const struct config *cfg; /* not owned */
    struct storage_driver *driver;
    struct registry *reg;
    struct auth *auth; /* handlers/auth.h: access controller and token service */
    struct bdcache *cache; /* storage/bdcache.h: Redis blob descriptors, or NULL (issue 7) */
};

/* app_new: open the configured storage driver. Returns 0 or a WERR_* (err filled). */
int app_new(const struct config *cfg, struct app **out, char *err, size_t errlen);
void app_free(struct app *app);

#endif
