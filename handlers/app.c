#include "app.h"

#include "../lib/err.h"
#include "../storage/driver.h"
#include "../storage/drivers/filesystem.h"
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
    if (cfg->storage == STORAGE_INMEMORY) rc = driver_inmemory_new(&app->driver);
    else if ((rc = driver_filesystem_new(cfg->fs_root, &app->driver)) == 0)
        driver_filesystem_directio(app->driver, cfg->directio);
    if (rc) {
        snprintf(err, errlen, "storage: cannot open the %s driver: %s",
                 cfg->storage == STORAGE_INMEMORY ? "inmemory" : "filesystem", werr_str(rc));
        free(app);
        return rc;
    }
    app->reg = calloc(1, sizeof(*app->reg));
    if (!app->reg) {
        storage_driver_free(app->driver);
        free(app);
        return WERR_NOMEM;
    }
    app->reg->d = app->driver;
    app->reg->cfg = cfg;
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
    free(app);
}
