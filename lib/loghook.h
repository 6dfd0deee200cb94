/* loghook.h — log.hooks of type mail: a log line at one of a hook's levels
 * becomes a mail, sent through SMTP with libcurl (lib/curl_lazy.h), as the
 * reference's mail hook builds it (subject "[level] smtp-host: message", the
 * message and the entry's fields in the body).
 *
 * Never in the request path: the reference sends from inside the log call,
 * so a slow SMTP server stalls the request that logged. Here the line is put
 * in a small queue in shared memory (loghook_shared_init, mapped by the pool
 * master before it forks) and the hook's sender service (a persistent row of
 * the pool, loghook_sender_run) mails it; when the queue is full the line is
 * dropped and counted, and the next mail says how many were. Outside
 * `wharf serve` (CGI mode, the command line) there is no queue: a detached
 * grandchild process sends each mail. Either way at most LOGHOOK_BURST mails
 * go out at once per hook and process, then one every LOGHOOK_REFILL_S
 * seconds; the others are counted as dropped. docs/logging.md. */
#ifndef WHARF_LOGHOOK_H
#define WHARF_LOGHOOK_H

#include <signal.h>
#include <stddef.h>
#include <time.h>

struct config;
struct config_loghook;

#define LOGHOOK_BURST 10
#define LOGHOOK_REFILL_S 6
#define LOGHOOK_TIMEOUT_MS 30000 /* one SMTP transaction */

/* the levels a hook may name: Wharf's four (bit = enum log_level) and the
 * reference's panic, fatal and trace, which no Wharf line has */
#define LOGHOOK_PANIC (1u << 4)
#define LOGHOOK_FATAL (1u << 5)
#define LOGHOOK_TRACE (1u << 6)

/* loghook_level_bit: the bit of a level name of a hook's levels (panic,
 * fatal, error, warn or warning, info, debug, trace; any case); 0 unknown.
 * loghook_level_name: the name of one bit (logrus's spelling). */
unsigned loghook_level_bit(const char *name);
const char *loghook_level_name(unsigned bit);

/* loghook_shared_init: map the queue the master, the workers and the sender
 * share (idempotent). Returns 0 or WERR_IO / WERR_NOMEM. */
int loghook_shared_init(void);

/* loghook_fire: a mail about an entry at level (its name) with message msg
 * and body body, for hook h (index i of the configuration's log.hooks):
 * queued, or sent by a detached process when there is no queue. Never waits
 * for the network; never logs. */
void loghook_fire(const struct config_loghook *h, size_t i, const char *level, const char *msg,
                  const char *body);

/* loghook_suppress: on: this process fires no hook (the sender itself). */
void loghook_suppress(int on);

/* loghook_message: the whole mail (headers, blank line, body, CRLF line
 * ends) for h; dropped > 0 adds a line saying how many lines were not
 * mailed before this one. Returns a malloc'd string (NULL: no memory). */
char *loghook_message(const struct config_loghook *h, const char *level, const char *msg,
                      const char *body, time_t when, unsigned long dropped);

/* loghook_send: deliver message through h's SMTP server (smtp://addr;
 * STARTTLS when the server offers it, required when credentials are sent to
 * a host other than loopback, certificates unchecked with insecure).
 * 0, or -1 with the reason in err. */
int loghook_send(const struct config_loghook *h, const char *message, long timeout_ms, char *err,
                 size_t errlen);

/* loghook_sender_run: the sender service: mails what the queue holds for
 * cfg's hooks until *stop is set (SIGTERM). Returns 0, or 1 when libcurl or
 * the queue is missing. */
int loghook_sender_run(const struct config *cfg, volatile sig_atomic_t *stop);

/* loghook_config_active: 1 when cfg has an enabled hook. */
int loghook_config_active(const struct config *cfg);

#endif
