/* services.h — what `wharf serve` hands the pool master besides the
 * workers: the periodic storage tasks (maintenance.h) and the services
 * (fcgi/tasks.h, persistent rows: the notification sender, the health
 * checker, the debug server), and the shared memory they and the workers
 * use, mapped before the pool forks. */
#ifndef WHARF_ADMIN_SERVICES_H
#define WHARF_ADMIN_SERVICES_H

#include <stddef.h>

#include "../fcgi/tasks.h"

/* services_init: map the shared state (metrics, health) that the master,
 * the workers and the services inherit. Called once by `wharf serve`
 * before pool_serve. Returns 0, or a WERR_* (logged by the caller). */
int services_init(void);

/* services_tasks: the whole table for struct pool_opts: the storage tasks,
 * then the services (static, never freed); returns its number of rows. */
size_t services_tasks(const struct pool_task **tasks);

#endif
