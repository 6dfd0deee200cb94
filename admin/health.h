/* health.h — the health service (issue 14): a persistent row of the pool's
 * task table (admin/services.c) that runs the configured health checks
 * (health.storagedriver, health.file, health.http, health.tcp) each on its
 * interval and publishes their results in the shared table of lib/health.h,
 * which the workers read to answer /v2/ with 503 while one fails. The checks
 * themselves are also here, one function each, for the unit tests. */
#ifndef WHARF_ADMIN_HEALTH_H
#define WHARF_ADMIN_HEALTH_H

#include <stddef.h>

#include "../lib/config.h"

/* the service's row functions (struct pool_task): on when a check is
 * configured; run() returns (0) only after SIGTERM */
int health_service_enabled(const struct config *cfg, const void *ctx);
int health_service_run(const struct config *cfg, const void *ctx);

/* The checks: 0 when it passes, else -1 with err filled with the
 * reference's text (2.8, health/checks/checks.go). */

/* health_check_file: fails while path exists ("file exists"), or when it
 * cannot be looked up ("stat <path>: <reason>"); a relative path is taken
 * from the current directory, as the reference's filepath.Abs does. */
int health_check_file(const char *path, char *err, size_t errlen);
/* health_check_tcp: a TCP connection to addr (host:port, [v6]:port) within
 * timeout_ms ("connection to <addr> failed"). */
int health_check_tcp(const char *addr, long timeout_ms, char *err, size_t errlen);
/* health_check_http: a HEAD of h->target with h's headers, redirects
 * followed, within timeout_ms; passes when the status is h->statuscode
 * ("error while checking: <uri>", "downstream service returned unexpected
 * status: <n>"). */
int health_check_http(const struct config_health_check *h, long timeout_ms, char *err,
                      size_t errlen);

#endif
