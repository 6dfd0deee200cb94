#include "app.h"

#include "../lib/curl_lazy.h"
#include "../lib/err.h"
#include "../storage/driver.h"
#include "../storage/drivers/filesystem.h"
#include "../storage/open.h"
#include "../storage/registry.h"
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>

int app_new(const struct config *cfg, struct app **out, char *err, size_t errlen)
{
    struct app *app = calloc(1, sizeof(*app));
    if (!app) return WERR_NOMEM;
    app->cfg = cfg;
    int rc;
    /* the pull-through cache talks to its upstreams with libcurl */
    if (cfg->nupstreams > 0 && curl_lazy_load(err, errlen) != 0) {
        free(app);
        return WERR_INVALID;
    }
    /* the configured driver, and the Redis blob-descriptor cache (issue 7) */
    if ((rc = storage_open(cfg, &app->driver, &app->cache, err, errlen)) != 0) {
        free(app);
        return rc;
    }
    app->reg = calloc(1, sizeof(*app->reg));
    if (!app->reg) {
        storage_driver_free(app->driver);
        bdcache_free(app->cache);
        free(app);
        return WERR_NOMEM;
    }
    app->reg->d = app->driver;
    app->reg->cfg = cfg;
    app->reg->cache = app->cache;
    /* htpasswd, certificates, keys, access rules: a bad file stops start-up */
    if ((rc = auth_new(cfg, &app->auth, err, errlen)) != 0) {
        app_free(app);
        return rc;
    }
    *out = app;
    return 0;
}

void app_free(struct app *app)
{
    if (!app) return;
    auth_free(app->auth);
    free(app->reg);
    storage_driver_free(app->driver);
    bdcache_free(app->cache);
    free(app);
}
