/* notify.h — the notification sender (issue 14): delivers the events the
 * workers queued (lib/evqueue.h) to each enabled notifications endpoint, in
 * order, at least once, with the reference's threshold/backoff. Runs as a
 * service of the pool master (a row of admin/services.c) or as `wharf
 * notify` from cron/systemd where no pool runs. */
#ifndef WHARF_ADMIN_NOTIFY_H
#define WHARF_ADMIN_NOTIFY_H

#include <stddef.h>

struct config;
struct config_endpoint;
struct json_object;

/* the service row: enabled when an endpoint is (config_notify_active);
 * run() delivers until SIGTERM, returns the exit status */
int notify_enabled(const struct config *cfg, const void *ctx);
int notify_run(const struct config *cfg, const void *ctx);

/* `wharf notify [-c FILE] [--once]`: the sender in the foreground; --once
 * delivers what is queued and exits (1 when an endpoint kept failing).
 * Returns a process exit status. */
int cmd_notify(int argc, char **argv);

/* notify_ignored: 1 when the endpoint's ignore rules (ignoredmediatypes,
 * ignore.mediatypes, ignore.actions) drop event ev, else 0 */
int notify_ignored(const struct config_endpoint *e, struct json_object *ev);

/* notify_body: the POST body for one event (rec: its journal record, ev:
 * the same parsed) in the endpoint's format, and its Content-Type (static).
 * Returns a malloc'd NUL-terminated string (*len its length) or NULL. */
char *notify_body(const struct config_endpoint *e, const char *rec, size_t reclen,
                  struct json_object *ev, size_t *len, const char **ctype);

/* what docker-registry 2.8.2 sends (notifications/event.go EventsMediaType) */
#define NOTIFY_DOCKER_TYPE "application/vnd.docker.distribution.events.v1+json"
#define NOTIFY_CLOUDEVENTS_TYPE "application/cloudevents+json"

#endif
