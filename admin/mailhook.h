/* mailhook.h — the log.hooks sender as a service of `wharf serve` (a
 * persistent row of services.c): mails the lines lib/loghook.c queued. */
#ifndef WHARF_ADMIN_MAILHOOK_H
#define WHARF_ADMIN_MAILHOOK_H

struct config;

/* mailhook_enabled: 1 when cfg has an enabled log hook */
int mailhook_enabled(const struct config *cfg, const void *ctx);
/* mailhook_run: the service's life (until SIGTERM); its exit status */
int mailhook_run(const struct config *cfg, const void *ctx);

#endif
