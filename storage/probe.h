/* probe.h — the health check of the configured storage (the reference's
 * health.storagedriver): is the backend answering? Run by the health
 * service (admin/health.c) every health.storagedriver.interval.
 *
 * The reference stats the driver's root ("/") and passes when it answers,
 * "not found" included (a new root or an empty bucket is healthy). Wharf does
 * the same and also fails when the root is there but unusable: not a
 * directory (a file put in its place, or a parent that is one) or not
 * listable (permissions). */
#ifndef WHARF_STORAGE_PROBE_H
#define WHARF_STORAGE_PROBE_H

#include <stddef.h>

#include "../lib/config.h"

struct storage_probe;

/* storage_probe_new: a probe of cfg's storage (cfg must outlive it). The
 * driver is opened by the first run, so that a backend that cannot be opened
 * is a failing check, not a failed start. Returns 0 or WERR_NOMEM. */
int storage_probe_new(const struct config *cfg, struct storage_probe **out);

/* storage_probe_name: the check's name, the reference's
 * "storagedriver_<driver>" (storagedriver_filesystem, _inmemory, _s3). */
const char *storage_probe_name(const struct storage_probe *p);

/* storage_probe_run: one check. 0 when the storage answers; else a WERR_*
 * with err filled ("filesystem: stat /srv/registry: i/o error", the
 * reference's "<driver>: <what failed>" form). */
int storage_probe_run(struct storage_probe *p, char *err, size_t errlen);

/* storage_probe_free: close the driver; NULL is a no-op. */
void storage_probe_free(struct storage_probe *p);

#endif
