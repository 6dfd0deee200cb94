/* services.c — the table of tasks and services `wharf serve` hands the pool
 * (services.h). To add a service: write its enabled() and run() (in its own
 * file of admin/, declared in a header there) and add a row to
 * service_rows; to add shared state, call its init in services_init. */
#include "services.h"

#include <stdlib.h>
#include <string.h>

#include "../lib/health.h"
#include "../lib/loghook.h"
#include "../lib/metrics.h"
#include "builder.h"
#include "debug.h"
#include "health.h"
#include "mailhook.h"
#include "maintenance.h"
#include "notify.h"

/* persistent rows: one long-lived child each (fcgi/tasks.h) */
static const struct pool_task service_rows[] = {
    {.name = "health", .enabled = health_service_enabled, .run = health_service_run},
    {.name = "debug server", .enabled = debug_enabled, .run = debug_run},
    {.name = "notification sender", .enabled = notify_enabled, .run = notify_run},
    {.name = "log mail hook", .enabled = mailhook_enabled, .run = mailhook_run},
    {.name = "builder", .enabled = builder_enabled, .run = builder_run}, /* issue 18 */
    {.name = NULL}, /* keeps the array non-empty; rows go above this line */
};

int services_init(void)
{
    int rc = health_init(); /* lib/health.h: the checks' results */
    if (rc) return rc;
    rc = metrics_init(); /* lib/metrics.h: summed over every process */
    if (rc) return rc;
    rc = loghook_shared_init(); /* log.hooks' queue */
    if (rc) return rc;
    return 0;
}

size_t services_tasks(const struct pool_task **tasks)
{
    static struct pool_task *rows; /* made once, for the process's life */
    static size_t n;
    if (!rows) {
        const struct pool_task *maint;
        size_t nm = maintenance_tasks(&maint);
        size_t ns = 0;
        while (service_rows[ns].name)
            ns++;
        rows = calloc(nm + ns + 1, sizeof *rows);
        if (!rows) return 0;
        memcpy(rows, maint, nm * sizeof *rows);
        for (size_t i = 0; i < ns; i++) {
            rows[nm + i] = service_rows[i];
            rows[nm + i].persistent = 1;
        }
        n = nm + ns;
    }
    *tasks = rows;
    return n;
}
