/* maintenance.c — the pool master's periodic tasks (maintenance.h): each
 * storage task (storage/maintenance.h) becomes a row of the table fcgi/
 * schedules, its index as the row's context. To add a task, add it to
 * storage/maintenance.c. */
#include "maintenance.h"

#include "../storage/maintenance.h"

#include <stdint.h>
#include <stdlib.h>

/* the row's context is the task's index */
static size_t index_of(const void *ctx)
{
    return (size_t)(uintptr_t)ctx;
}

static int task_enabled(const struct config *c, const void *ctx)
{
    return storage_maint_enabled(c, index_of(ctx));
}

static long task_interval(const struct config *c, const void *ctx)
{
    return storage_maint_interval(c, index_of(ctx));
}

static int task_run(const struct config *c, const void *ctx)
{
    return storage_maint_run(c, index_of(ctx));
}

size_t maintenance_tasks(const struct pool_task **tasks)
{
    static struct pool_task *rows; /* made once, for the process's life */
    size_t n = storage_maint_count();
    if (!rows && !(rows = calloc(n, sizeof(*rows)))) return 0;
    for (size_t i = 0; i < n; i++)
        rows[i] = (struct pool_task){.name = storage_maint_name(i),
                                     .enabled = task_enabled,
                                     .interval = task_interval,
                                     .run = task_run,
                                     .ctx = (const void *)(uintptr_t)i};
    *tasks = rows;
    return n;
}
