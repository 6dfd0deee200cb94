/* repository.c — `wharf repository delete`: whole-repository removal from the
 * command line (the HTTP API has no such operation). */
#include "cli.h"
#include "repository.h"

#include "../handlers/app.h"
#include "../lib/arena.h"
#include "../lib/config.h"
#include "../lib/err.h"
#include "../lib/names.h"
#include "../storage/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_repository_delete(int argc, char **argv)
{
    const char *path = NULL, *name = NULL;
    int dry = 0;
    for (int i = 1; i < argc; i++) {
        int c = cli_config_arg("repository delete", argc, argv, &i, &path);
        if (c == 2) return 2;
        if (c) continue;
        if (!strcmp(argv[i], "--dry-run") || !strcmp(argv[i], "-d")) {
            dry = 1;
        } else if (argv[i][0] != '-' && !name) {
            name = argv[i];
        } else {
            fprintf(stderr, "wharf repository delete: unexpected argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!name) {
        fprintf(stderr, "usage: wharf repository delete [-c FILE] [--dry-run] NAME\n");
        return 2;
    }
    struct config *cfg = cli_config_load(path);
    if (!cfg) return 1;
    char err[1024] = "";
    int status = 1;
    struct app *app = NULL;
    struct arena *a = NULL;
    if (name_valid(name, cfg->name_max) != 0) {
        fprintf(stderr, "wharf repository delete: invalid repository name: %s\n", name);
        goto out;
    }
    if (cfg->storage == STORAGE_INMEMORY) {
        fprintf(stderr, "wharf repository delete: the inmemory driver lives in the server\n");
        goto out;
    }
    if (app_new(cfg, &app, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    a = arena_new();
    int rc = registry_repo_exists(app->reg, a, name);
    if (rc == 0 && !dry) rc = registry_repo_delete(app->reg, a, name);
    if (rc == WERR_NOTFOUND) {
        fprintf(stderr, "wharf repository delete: no repository %s\n", name);
        goto out;
    }
    if (rc) {
        fprintf(stderr, "wharf repository delete: %s: %s\n", name, werr_str(rc));
        goto out;
    }
    printf("%s %s\n", dry ? "would delete" : "deleted", name);
    status = 0;
out:
    if (a) arena_free(a);
    app_free(app);
    config_free(cfg);
    return status;
}
