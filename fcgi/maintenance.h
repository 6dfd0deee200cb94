/* maintenance.h — periodic storage tasks run by the pool master: upload
 * purging (storage.maintenance.uploadpurging), online garbage collection
 * (storage.maintenance.gc), and whatever is added to the task table in
 * maintenance.c (one line per task). Each run is a short-lived forked child,
 * so a slow or crashing task never blocks the master or a worker; at most one
 * child per task at a time. */
#ifndef WHARF_MAINTENANCE_H
#define WHARF_MAINTENANCE_H

#include "../lib/config.h"

/* maintenance_tick: called from the master's loop on every wakeup with the
 * current configuration (a reload takes effect at once: tasks are
 * rescheduled). Reaps finished task children, starts the tasks that are due,
 * and lowers *wait_ms (-1 = forever) to the next due time. stopping: start
 * nothing, SIGTERM running tasks (a killed task leaves a consistent root). */
void maintenance_tick(const struct config *cfg, int stopping, int *wait_ms);

#endif
