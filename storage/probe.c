/* probe.c — see probe.h. The driver is kept open between runs (opening an
 * S3 driver sets up its HTTP client); a run that finds it cannot be opened
 * tries again next time. */
#include "probe.h"

#include <stdio.h>
#include <stdlib.h>

#include "../lib/arena.h"
#include "../lib/err.h"
#include "driver.h"
#include "open.h"

struct storage_probe {
    const struct config *cfg;
    struct storage_driver *d;
    char name[64];
};

static const char *driver_name(const struct config *cfg)
{
    switch (cfg->storage) {
    case STORAGE_INMEMORY: return "inmemory";
    case STORAGE_S3: return "s3";
    case STORAGE_SWIFT: return "swift";
    case STORAGE_AZURE: return "azure";
    case STORAGE_GCS: return "gcs";
    case STORAGE_OSS: return "oss";
    default: return "filesystem";
    }
}

int storage_probe_new(const struct config *cfg, struct storage_probe **out)
{
    struct storage_probe *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p) return WERR_NOMEM;
    p->cfg = cfg;
    snprintf(p->name, sizeof p->name, "storagedriver_%s", driver_name(cfg));
    *out = p;
    return 0;
}

const char *storage_probe_name(const struct storage_probe *p)
{
    return p->name;
}

int storage_probe_run(struct storage_probe *p, char *err, size_t errlen)
{
    const char *drv = driver_name(p->cfg);
    /* the root as an operator knows it, in messages */
    const char *where = p->cfg->storage == STORAGE_FILESYSTEM ? p->cfg->fs_root : "/";
    struct arena *a = NULL;
    int rc = 0;
    err[0] = '\0';
    if (!p->d) {
        char why[256] = "";
        if ((rc = storage_open(p->cfg, &p->d, NULL, why, sizeof why)) != 0) {
            p->d = NULL;
            snprintf(err, errlen, "%s: %s", drv, *why ? why : werr_str(rc));
            return rc;
        }
    }
    struct storage_stat st = {0};
    rc = storage_stat(p->d, "/", &st);
    if (rc == WERR_NOTFOUND) return 0; /* answering: a new root, an empty bucket */
    if (rc) {
        snprintf(err, errlen, "%s: stat %s: %s", drv, where, werr_str(rc));
        return rc;
    }
    if (!st.is_dir) {
        snprintf(err, errlen, "%s: stat %s: not a directory", drv, where);
        return WERR_IO;
    }
    if (!(a = arena_new())) return WERR_NOMEM;
    char **names = NULL;
    size_t n = 0;
    rc = storage_list(p->d, a, "/", &names, &n);
    if (rc == WERR_NOTFOUND) rc = 0;
    if (rc) snprintf(err, errlen, "%s: list %s: %s", drv, where, werr_str(rc));
    arena_free(a);
    return rc;
}

void storage_probe_free(struct storage_probe *p)
{
    if (!p) return;
    storage_driver_free(p->d);
    free(p);
}
