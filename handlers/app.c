#include "app.h"

#include "../lib/err.h"
#include "../storage/registry.h"
#include "auth.h"

#include <stdlib.h>

int app_new(const struct config *cfg, struct app **out, char *err, size_t errlen)
{
    struct app *app = calloc(1, sizeof(*app));
    if (!app) return WERR_NOMEM;
    app->cfg = cfg;
    int rc;
    /* the driver, the blob-descriptor cache and the pull-through cache */
    if ((rc = registry_open(cfg, &app->reg, err, errlen)) != 0) {
        free(app);
        return rc;
    }
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
    registry_close(app->reg);
    free(app);
}

void app_warm(struct app *app)
{
    registry_warm(app->reg);
}

int app_repo_is_mirror(struct app *app, const char *name)
{
    return registry_repo_is_mirror(app->reg, name);
}
