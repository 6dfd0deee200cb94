/* debug.h — the debug server (http.debug.addr): a service of the pool
 * (admin/services.c) that answers, on its own listener and never through
 * the public web server, /debug/vars (JSON: version, pool, totals) and,
 * with http.debug.prometheus.enabled, the Prometheus metrics of
 * lib/metrics.h at http.debug.prometheus.path. docs/metrics.md. */
#ifndef WHARF_ADMIN_DEBUG_H
#define WHARF_ADMIN_DEBUG_H

#include <stddef.h>

struct config;

/* debug_enabled: 1 when http.debug.addr is set. */
int debug_enabled(const struct config *cfg, const void *ctx);

/* debug_run: listen on http.debug.addr and serve until SIGTERM (returns 0),
 * or 1 when the address cannot be bound (logged; the pool restarts it). */
int debug_run(const struct config *cfg, const void *ctx);

/* debug_parse_request: the method and path of an HTTP/1.x request head
 * (buf, len bytes, ending with the blank line) into method (cap mcap) and
 * path (cap pcap, the query cut off). Returns 0, or -1 when malformed or a
 * field does not fit. Exposed for the unit tests. */
int debug_parse_request(const char *buf, size_t len, char *method, size_t mcap, char *path,
                        size_t pcap);

#endif
