/* gc.c — `wharf garbage-collect`: the reference's command line (config file
 * as the argument, -d/--dry-run, -m/--delete-untagged) plus --online (safe
 * while the registry serves: grace period, re-checks; storage/gc.c). */
#include "cli.h"
#include "gc.h"

#include "../lib/config.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../storage/gc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void gc_usage(FILE *f)
{
    fprintf(f, "usage: wharf garbage-collect [--dry-run|-d] [--delete-untagged|-m] [--quiet|-q]\n"
               "                             [--online [--grace SECONDS]] [-c] config.yml\n");
}

int cmd_garbage_collect(int argc, char **argv)
{
    const char *path = NULL;
    struct gc_opts o = {.out = stdout, .settle_ms = 2000};
    long grace = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int c;
        if (!strcmp(a, "-d") || !strcmp(a, "--dry-run") || !strcmp(a, "--dry-run=true")) {
            o.dry_run = 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--delete-untagged") ||
                   !strcmp(a, "--delete-untagged=true")) {
            o.delete_untagged = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(a, "--online")) {
            o.online = 1;
        } else if (!strcmp(a, "--grace") || !strcmp(a, "--settle-ms")) {
            char *end;
            if (i + 1 >= argc) goto usage;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0) goto usage;
            if (!strcmp(a, "--grace"))
                grace = v;
            else
                o.settle_ms = v;
        } else if ((c = cli_config_arg("garbage-collect", argc, argv, &i, &path)) != 0) {
            if (c == 2) goto usage;
        } else if (a[0] != '-' && !path) {
            path = a;
        } else {
            fprintf(stderr, "wharf garbage-collect: unexpected argument %s\n", a);
            goto usage;
        }
    }
    struct config *cfg = cli_config_load(path);
    if (!cfg) return 1;
    log_init(LOG_WARN, 0, NULL); /* report on stdout, problems on stderr */
    int status = 1;
    if (cfg->storage == STORAGE_INMEMORY) {
        fprintf(stderr, "wharf garbage-collect: the inmemory driver lives in the server\n");
        goto out;
    }
    if (!o.online && !cfg->readonly)
        fprintf(stderr, "wharf garbage-collect: offline mode: stop the registry or set "
                        "storage.maintenance.readonly (or use --online)\n");
    o.grace = grace >= 0 ? grace : cfg->gc_graceperiod;
    /* the configured backend (filesystem or s3); deletions keep the Redis cache right */
    char gerr[256];
    struct gc_stats st;
    if (gc_collect(cfg, &o, &st, gerr, sizeof gerr) != 0) {
        fprintf(stderr, "wharf garbage-collect: %s\n", gerr);
        goto out;
    }
    printf("\n%s: %zu repositories, %zu manifests, %zu blobs marked; %zu manifests and %zu blobs "
           "%s, %lld bytes %s",
           o.dry_run ? "dry run" : "done", st.repos, st.manifests, st.marked, st.manifests_deleted,
           st.blobs_deleted, o.dry_run ? "eligible" : "deleted", (long long)st.bytes_freed,
           o.dry_run ? "would be freed" : "freed");
    if (o.online)
        printf("; %zu young blobs kept (grace %lds), %zu restored", st.blobs_young, o.grace,
               st.restored);
    printf("\n");
    status = fflush(stdout) == 0 ? 0 : 1;
out:
    config_free(cfg);
    return status;
usage:
    gc_usage(stderr);
    return 2;
}
