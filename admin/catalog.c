/* catalog.c — `wharf catalog rebuild`, see catalog.h. */
#include "cli.h"
#include "catalog.h"

#include "../handlers/app.h"
#include "../lib/arena.h"
#include "../lib/config.h"
#include "../lib/err.h"
#include "../storage/catalog.h"
#include "../storage/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_catalog_rebuild(int argc, char **argv)
{
    const char *path = NULL;
    int dry = 0;
    for (int i = 1; i < argc; i++) {
        int c = cli_config_arg("catalog rebuild", argc, argv, &i, &path);
        if (c == 2) return 2;
        if (c) continue;
        if (!strcmp(argv[i], "--dry-run") || !strcmp(argv[i], "-d")) {
            dry = 1;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "usage: wharf catalog rebuild [-c FILE] [--dry-run]\n");
            return 2;
        }
    }
    struct config *cfg = cli_config_load(path);
    if (!cfg) return 1;
    char err[1024] = "";
    int status = 1;
    struct app *app = NULL;
    struct arena *a = NULL;
    if (app_new(cfg, &app, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    a = arena_new();
    struct catalog_rebuild_stats st;
    int rc = catalog_rebuild(app->reg, a, dry, &st);
    if (rc) {
        fprintf(stderr, "wharf catalog rebuild: %s\n", werr_str(rc));
        goto out;
    }
    printf("%zu repositories; %zu markers %s, %zu %s, %zu %s\n", st.repos, st.added,
           dry ? "would be added" : "added", st.updated, dry ? "would be rewritten" : "rewritten",
           st.removed, dry ? "would be removed" : "removed");
    status = 0;
out:
    if (a) arena_free(a);
    app_free(app);
    config_free(cfg);
    return status;
}
