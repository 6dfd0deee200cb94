/* config.c — config_load and config_free: config.yml (the reference
 * registry's schema, version 0.1) plus REGISTRY_<PATH> environment overrides
 * into a struct config, in three steps, like h2o's configurator:
 *   1. libyaml events -> a small tree that keeps line numbers (config_tree.c);
 *   2. the environment merged into that tree (config_env.c);
 *   3. one table-driven walk applies the schema (config_schema.c, with each
 *      section's own rules in config_<section>.c); then the defaults that
 *      depend on several sections (the upload body files, inmemory's pool).
 * config_dump and the freeing of the values are walks of the same tables. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_impl.h"
#include "err.h"
#include "log.h"

static int read_file(struct loader *L, const char *path, char **out, size_t *outlen)
{
    int fd = -1, rc = 0;
    char *buf = NULL;
    size_t len = 0;
    struct stat st;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
        snprintf(L->err, L->errlen, "[%s] cannot open: %s", path, strerror(errno));
        rc = WERR_IO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(L->err, L->errlen, "[%s] not a regular file", path);
        rc = WERR_IO;
        goto out;
    }
    /* read up to one byte past the cap: the size from fstat may be stale */
    if (!(buf = malloc(CONFIG_MAX_BYTES + 2))) {
        rc = WERR_NOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, CONFIG_MAX_BYTES + 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(L->err, L->errlen, "[%s] read: %s", path, strerror(errno));
            rc = WERR_IO;
            goto out;
        }
        if (r == 0) break;
        len += (size_t)r;
        if (len > CONFIG_MAX_BYTES) {
            snprintf(L->err, L->errlen, "[%s] file larger than %d bytes", path, CONFIG_MAX_BYTES);
            rc = WERR_TOOBIG;
            goto out;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    buf = NULL;
out:
    free(buf);
    if (fd >= 0) close(fd);
    return rc;
}

/* fastcgi.uploads: body files (nginx's $request_body_file adopted by Wharf)
 * by default where measured faster and where the web server's temp directory
 * can be on the storage's filesystem: on for filesystem, with the directory
 * <rootdirectory>/wharf/body (beside the locks, outside the reference's
 * docker/registry/v2 tree); for s3 on too when a bodydir is given (the worker
 * then sends a finished local file to the store instead of waiting on the
 * client); off for inmemory. */
static int uploads_finish(struct loader *L)
{
    struct config *c = L->c;
    if (c->bodydir) {
        size_t n = strlen(c->bodydir);
        while (n > 1 && c->bodydir[n - 1] == '/')
            c->bodydir[--n] = 0;
    }
    if (!c->bodydir && c->storage == STORAGE_FILESYSTEM && c->fs_root) {
        size_t n = strlen(c->fs_root);
        while (n > 1 && c->fs_root[n - 1] == '/')
            n--;
        if (!(c->bodydir = malloc(n + sizeof "/wharf/body"))) return WERR_NOMEM;
        memcpy(c->bodydir, c->fs_root, n);
        memcpy(c->bodydir + (n == 1 ? 0 : n), "/wharf/body", sizeof "/wharf/body");
    }
    if (c->bodyfiles < 0) c->bodyfiles = c->storage != STORAGE_INMEMORY && c->bodydir;
    if (c->bodyfiles && !c->bodydir)
        return config_fail(L, NULL, 0, "fastcgi.uploads.bodydir",
                           "required with bodyfiles: true when the storage is not filesystem");
    if (c->bodydir && !strcmp(c->bodydir, "/"))
        return config_fail(L, NULL, 0, "fastcgi.uploads.bodydir", "must not be /");
    return 0;
}

static int config_defaults(struct config *c)
{
    c->log_level = LOG_INFO;
    c->storage = STORAGE_FILESYSTEM;
    c->fs_maxthreads = 100;
    c->uploadpurging_enabled = 1;
    c->uploadpurging_age = 168 * 3600;
    c->uploadpurging_interval = 24 * 3600;
    c->gc_interval = 24 * 3600;
    c->gc_graceperiod = 3600;
    c->socket_mode = 0666;
    c->workers = CONFIG_WORKERS_MIN; /* a dynamic pool (apply_workers) */
    c->workers_max = CONFIG_WORKERS_MAX;
    c->workers_minspare = CONFIG_WORKERS_MINSPARE;
    c->workers_maxspare = CONFIG_WORKERS_MAXSPARE;
    c->workers_idletimeout = CONFIG_WORKERS_IDLETIMEOUT;
    c->backlog = 1024;
    c->draintimeout = 60;
    c->manifest_max = 4 * 1024 * 1024;
    c->name_max = 255;
    c->tag_max = 128;
    c->directio = 0;
    c->bodyfiles = -1;      /* fastcgi.uploads.bodyfiles: per driver, uploads_finish */
    c->auth_leeway = 60;    /* auth.token.leeway */
    c->ts_expiration = 300; /* fastcgi.tokenservice.expiration */
    c->ts_refreshexpiration = 30 * 24 * 3600; /* ....refreshexpiration */
    c->name_components_max = 32;
    c->proxy_ttl = 168 * 3600; /* proxy.ttl, as the reference (Distribution 3) */
    c->notify_fsync = 1;       /* notifications.queue.fsync (Wharf) */
    c->builds_concurrency = 1; /* builds (issue 18) */
    c->builds_timeout = 1800;
    c->builds_tlsverify = 1;
    c->builds_keep = 100;
    s3_config_defaults(c);       /* storage.s3, redis (issue 7) */
    objstore_config_defaults(c); /* storage.swift, azure, gcs, oss (issue 15) */
    /* health.storagedriver.interval: the reference's 10s */
    c->health_sd_interval = 10000;
    if (!(c->fs_root = strdup("/var/lib/registry")) || !(c->http_prefix = strdup("/")) ||
        !(c->listen = strdup("unix:/run/wharf.sock")) ||
        !(c->accel_prefix = strdup("/_wharf_blobs/")) ||
        !(c->debug_prom_path = strdup("/metrics"))) /* http.debug.prometheus.path */
        return WERR_NOMEM;
    return 0;
}

int config_load(const char *path, char *const *envp, struct config **out, char *err, size_t errlen)
{
    struct loader L = {.file = path, .err = err, .errlen = errlen};
    struct ynode *root = NULL;
    char *buf = NULL, dummy[1];
    size_t len = 0;
    int rc = 0;

    *out = NULL;
    if (!err || !errlen) {
        L.err = dummy;
        L.errlen = sizeof(dummy);
    }
    L.err[0] = '\0';
    if (!(L.c = calloc(1, sizeof(*L.c)))) return WERR_NOMEM;
    if ((rc = config_defaults(L.c)) < 0) goto out;
    if (path) {
        if (!(L.c->path = strdup(path))) {
            rc = WERR_NOMEM;
            goto out;
        }
        if ((rc = read_file(&L, path, &buf, &len)) < 0) goto out;
        if ((rc = parse_yaml(&L, buf, len, NULL, &root)) < 0) goto out;
        if (root && !is_null(root) && root->type != Y_MAP) {
            rc = config_fail(&L, root, 0, "", "expected a mapping at the top level");
            goto out;
        }
        if ((rc = normalize_storage(map_get(root, "storage", 0))) < 0) goto out;
        if ((rc = normalize_storage(map_get(root, "auth", 0))) < 0) goto out;
    }
    if ((rc = env_merge(&L, &root, envp)) < 0) goto out;
    if (root && root->type == Y_MAP &&
        (rc = config_apply_section(&L, &config_schema_top, root, "")) < 0)
        goto out;
    if (path && !L.version_set) {
        rc = config_fail(&L, NULL, 0, "version", "required");
        goto out;
    }
    if ((rc = proxy_finish(&L)) < 0) goto out;
    if (!L.have_driver) {
        const struct ynode *st = map_get(root, "storage", 0);
        rc = config_fail(&L, st, 1, "storage",
                         "required: configure exactly one driver, filesystem, inmemory, s3, swift, "
                         "azure, gcs or oss");
        goto out;
    }
    /* inmemory keeps everything inside one process: without an explicit
     * fastcgi.workers, a pool of one (several would each hold a registry of
     * their own, and a push would land in one, its pull in another) */
    if (L.c->storage == STORAGE_INMEMORY && !map_get(map_get(root, "fastcgi", 0), "workers", 0)) {
        L.c->workers = L.c->workers_max = 1;
        L.c->workers_minspare = L.c->workers_maxspare = 0;
    }
    if ((rc = uploads_finish(&L)) < 0) goto out;
    if ((rc = notify_finish(&L)) < 0) goto out;
    if ((rc = builds_finish(&L)) < 0) goto out;
    *out = L.c;
    L.c = NULL;
out:
    if (rc == WERR_NOMEM && L.err != dummy) snprintf(L.err, L.errlen, "out of memory");
    config_free(L.c);
    ynode_free(root);
    for (size_t i = 0; i < L.nenv; i++)
        free(L.envnames[i]);
    free(L.envnames);
    free(buf);
    return rc;
}

void config_free(struct config *c)
{
    if (!c) return;
    free(c->path);
    config_release_section(c, &config_schema_top);
    free(c);
}
