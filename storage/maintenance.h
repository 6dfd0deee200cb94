/* maintenance.h — the periodic storage tasks: upload purging
 * (storage.maintenance.uploadpurging), online garbage collection
 * (storage.maintenance.gc) and the pull-through cache's ttl expiry
 * (proxy.ttl). Task i of storage_maint_count(): its name, whether it is on
 * and how often it runs under a configuration, and one run — which opens the
 * configured storage itself and takes the task's driver lock, so it is meant
 * for a child process of the pool's master (admin/maintenance.c hands these
 * to fcgi/tasks.h as rows of the pool's task table). */
#ifndef WHARF_STORAGE_MAINTENANCE_H
#define WHARF_STORAGE_MAINTENANCE_H

#include <stddef.h>

#include "../lib/config.h"

size_t storage_maint_count(void);
const char *storage_maint_name(size_t i); /* for log lines; NULL past the end */
/* storage_maint_enabled: never with the inmemory driver (one process: a
 * child would see another, empty store) nor in read-only mode */
int storage_maint_enabled(const struct config *c, size_t i);
long storage_maint_interval(const struct config *c, size_t i); /* seconds (> 0) */
/* storage_maint_run: one run; its exit status (0: done or skipped because
 * another run holds the task's lock on this storage; 1: failed, logged) */
int storage_maint_run(const struct config *c, size_t i);

#endif
