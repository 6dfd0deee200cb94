/* health.h — the results of the health checks (issue 14: the reference's
 * health.storagedriver, health.file, health.http, health.tcp), shared by the
 * health service that runs them (admin/health.c), the workers that answer
 * /v2/ with 503 while one fails (fcgi/router.c) and whatever serves the
 * reference's /debug/health (health_report).
 *
 * The table is an anonymous MAP_SHARED mapping made by health_init in the
 * pool's master before it forks (admin/services.c), so every worker and
 * service inherits it. One process writes it (the health service: there is
 * at most one at a time), any number read it without a lock: a slot's
 * `failing` flag is one atomic, its name and error text are copied under a
 * sequence counter (a reader retries while the writer is inside the slot).
 * Without health_init (CGI mode, `wharf` commands, unit tests) nothing is
 * failing and the report is "{}". */
#ifndef WHARF_HEALTH_H
#define WHARF_HEALTH_H

#include <stddef.h>

#include "arena.h"

#define HEALTH_MAX_SLOTS 128  /* checks: the storage driver, then file, http, tcp */
#define HEALTH_NAME_MAX 512   /* bytes of a check's name (its file, URI or address) */
#define HEALTH_ERROR_MAX 1024 /* bytes of its last error text */

/* health_init: map the table (zeroed: no check, nothing failing). Called
 * once, before the pool forks; a second call is a no-op. 0, or WERR_IO. */
int health_init(void);

/* ---- the health service (the one writer) ---- */

/* health_reset: forget every slot (a new configuration's checks follow). */
void health_reset(void);
/* health_set: slot i (< HEALTH_MAX_SLOTS) is the check name; failing: it
 * counts against the node now (past its threshold); count: its failures in a
 * row (kept so that a restarted service resumes them); error: its last
 * failure's text, or NULL. Names and texts longer than the bounds are cut.
 * Slots 0..i become the table's used part. Returns 0, or WERR_INVALID. */
int health_set(size_t i, const char *name, int failing, int count, const char *error);
/* health_previous: what the table holds for the check named name (read
 * before a health_reset, so that a restarted service — a reload — goes on
 * from it): *count, *failing and its error text into error (errlen bytes).
 * Returns 1 when the table has that check, else 0 (outputs untouched). */
int health_previous(const char *name, int *count, int *failing, char *error, size_t errlen);

/* health_update: one result of a check into its failures in a row (*count)
 * under its threshold, the reference's rule (health.go thresholdUpdater): a
 * success clears the count, a failure adds one up to the threshold, and the
 * check fails while the count has reached it (threshold 0: every failure
 * fails it at once, the reference's PeriodicChecker). Returns 1 when the
 * check counts as failing after this result, else 0. */
int health_update(int *count, int threshold, int ok);

/* ---- readers: workers, the debug server ---- */

/* health_failing: 1 when any check counts as failing now, else 0. */
int health_failing(void);

/* health_report: the reference's /debug/health body, on a (never NULL):
 * "{}" when every check passes, else {"<name>":"<error>",...} with the
 * failing checks in byte order of their names, as Go's encoding/json writes
 * a map[string]string (HTML-safe escapes included); *status is 200 or 503.
 * No trailing newline (the reference sends none). */
const char *health_report(struct arena *a, int *status);

#endif
