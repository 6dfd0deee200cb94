/* maintenance.h — the periodic storage tasks `wharf serve` hands the pool
 * master (fcgi/tasks.h): upload purging (storage.maintenance.uploadpurging),
 * online garbage collection (storage.maintenance.gc) and the pull-through
 * cache's ttl expiry (proxy.ttl). */
#ifndef WHARF_ADMIN_MAINTENANCE_H
#define WHARF_ADMIN_MAINTENANCE_H

#include <stddef.h>

#include "../fcgi/tasks.h"

/* maintenance_tasks: the task table (static, never freed); returns its
 * number of rows. */
size_t maintenance_tasks(const struct pool_task **tasks);

#endif
