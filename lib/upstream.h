/* upstream.h — the HTTP client of the pull-through cache (issue 8): requests
 * to an upstream registry (struct config_upstream) over libcurl, with its
 * authentication: anonymous, Basic with the configured credentials, or the
 * Docker token flow (GET realm with service and scope, Basic credentials when
 * configured), the token kept until expires_in runs out.
 *
 * What worked last for an upstream and scope (a cached Bearer token, or
 * Basic) lives in a struct upstream_client, owned by its caller (the mirror,
 * one per process: workers serve one request at a time) and passed to every
 * call. Every function returns 0 or a negative WERR_*; results live on the
 * arena given. */
#ifndef WHARF_UPSTREAM_H
#define WHARF_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arena.h"
#include "config.h"

struct upstream_client;

/* upstream_client_new: an empty token and credential cache; loads libcurl
 * (a missing library is WERR_INVALID with err filled). */
int upstream_client_new(struct upstream_client **out, char *err, size_t errlen);
void upstream_client_free(struct upstream_client *c);

/* One answer of upstream_call; strings on the arena. */
struct upstream_resp {
    long status;
    const char *digest; /* Docker-Content-Digest or NULL */
    const char *ctype;  /* Content-Type or NULL */
    const char *www;    /* WWW-Authenticate or NULL */
    int64_t length;     /* Content-Length, -1 unknown */
    struct buf *body;   /* the body kept (bodymax > 0), else NULL */
};

/* upstream_call: method ("GET", "HEAD") on u->remoteurl + path ("/v2/..."),
 * with Accept (may be NULL) and what the cache holds for scope; a 401 is
 * answered once (Basic, or a token fetched and cached) and the request
 * retried. The body is kept up to bodymax bytes (0: discarded). 0 with
 * r->status set whatever the status; WERR_IO when no answer came. */
int upstream_call(struct upstream_client *c, struct arena *a, const struct config_upstream *u,
                  const char *method, const char *path, const char *scope, const char *accept,
                  size_t bodymax, struct upstream_resp *r);

/* upstream_challenge_param: the value of key in a WWW-Authenticate challenge
 * (quoted or not), on the arena, or NULL. */
const char *upstream_challenge_param(struct arena *a, const char *www, const char *key);

/* A streamed GET (a blob): the body is handed over as it arrives, held in a
 * buffer of at most 64 MiB received and not yet consumed. It cannot be
 * replayed after a 401, so it carries what the cache holds for scope: make an
 * upstream_call (a HEAD) first. */
struct upstream_get;
/* upstream_get_start: start GET u->remoteurl + path and run it until the
 * first bytes or its end (the status is known then). *out is freed with
 * upstream_get_free, also after a failure (WERR_NOMEM). */
int upstream_get_start(struct upstream_client *c, const struct config_upstream *u, const char *path,
                       const char *scope, struct upstream_get **out);
/* upstream_get_pump: run the transfer until bytes are pending or it ended;
 * WERR_IO when it ended with an error (pending bytes may remain). */
int upstream_get_pump(struct upstream_get *g);
/* upstream_get_pending: the bytes received and not consumed (*p valid until
 * the next pump), their count. */
size_t upstream_get_pending(struct upstream_get *g, const char **p);
/* upstream_get_consume: n of the pending bytes are taken. */
void upstream_get_consume(struct upstream_get *g, size_t n);
/* upstream_get_ended: 1 once the transfer is over (see upstream_get_error). */
int upstream_get_ended(const struct upstream_get *g);
/* upstream_get_error: why the transfer failed (static or g's), NULL while it
 * has not failed. */
const char *upstream_get_error(const struct upstream_get *g);
/* upstream_get_status: the HTTP status (0 none yet). */
long upstream_get_status(const struct upstream_get *g);
/* upstream_get_length: the Content-Length of the answer, -1 unknown. */
int64_t upstream_get_length(const struct upstream_get *g);
void upstream_get_free(struct upstream_get *g);

#endif
