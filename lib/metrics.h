/* metrics.h — Wharf's counters, gauges and histograms, summed over every
 * process of the pool.
 *
 * The numbers live in one anonymous MAP_SHARED mapping that metrics_init
 * creates in the pool's master before it forks (admin/services.c): every
 * worker, task and service child inherits it at the same address and adds
 * to the same cells with C11 atomics, so a scrape sees the sum of all
 * workers without asking them. The tables are fixed and bounded: one cell
 * per label set known in advance (handler x method x status code, driver x
 * action, ...) and a fixed number of notification endpoint slots, so a
 * client can never make them grow. Recording is a few relaxed atomic adds
 * (no lock, no system call: the clock is the vDSO's CLOCK_MONOTONIC).
 *
 * Before metrics_init (tests, CGI, `wharf garbage-collect`, single-process
 * mode without a master) every recording function is a no-op.
 *
 * The names and labels of the HTTP and storage metrics are the reference
 * registry's (registry_http_*, registry_storage_*, registry_proxy_*);
 * Wharf's own are wharf_*. The list: docs/metrics.md. */
#ifndef WHARF_METRICS_H
#define WHARF_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* the reference's route names ("blob-upload" → "blob_upload"), plus Wharf's */
enum metrics_handler {
    MH_BASE,
    MH_CATALOG,
    MH_TAGS,
    MH_MANIFEST,
    MH_BLOB,
    MH_BLOB_UPLOAD,       /* POST /v2/<name>/blobs/uploads/ */
    MH_BLOB_UPLOAD_CHUNK, /* /v2/<name>/blobs/uploads/<uuid> */
    MH_REFERRERS,
    MH_TOKEN, /* fastcgi.tokenservice */
    MH_OTHER, /* no route matched (404) or refused before routing */
    MH_COUNT
};

/* the reference's storage driver actions (registry_storage_action_seconds) */
enum metrics_action {
    MA_GETCONTENT,
    MA_PUTCONTENT,
    MA_READER,
    MA_WRITER,
    MA_STAT,
    MA_LIST,
    MA_MOVE,
    MA_DELETE,
    MA_URLFOR,
    MA_WALK,
    MA_COUNT
};

enum metrics_cache { METRICS_CACHE_HIT, METRICS_CACHE_MISS };
enum metrics_proxy_type { METRICS_PROXY_BLOB, METRICS_PROXY_MANIFEST };

/* used by the notification sender (admin/notify.c) */
enum metrics_notify_kind { METRICS_NOTIFY_SENT, METRICS_NOTIFY_RETRY, METRICS_NOTIFY_FAILURE };

/* most notification endpoints with their own series; later ones are summed
 * under endpoint="_other" */
#define METRICS_NOTIFY_SLOTS 32

/* metrics_init: map the shared tables (once; later calls do nothing).
 * Returns 0, or WERR_IO when mmap fails. */
int metrics_init(void);
/* metrics_active: 1 after metrics_init in this process or an ancestor. */
int metrics_active(void);
/* metrics_now_ns: CLOCK_MONOTONIC in nanoseconds (0 when not active, so
 * the request path pays nothing without metrics). */
int64_t metrics_now_ns(void);

/* metrics_http_enter: a request routed to handler h starts (in-flight +1;
 * an upload body being received counts as an upload in progress). */
void metrics_http_enter(int h, const char *method);
/* metrics_http_leave: the request entered with h and method ended with
 * status after the response was written; t0 from metrics_now_ns; request
 * and response body bytes. A negative h (never entered) counts as
 * MH_OTHER without touching the in-flight gauge. */
void metrics_http_leave(int h, const char *method, int status, int64_t t0, int64_t req_bytes,
                        int64_t resp_bytes);

/* metrics_storage_action: one driver operation (driver: the ops table's
 * name) that started at t0 (metrics_now_ns) ended now. */
void metrics_storage_action(const char *driver, enum metrics_action a, int64_t t0);

/* the blob-descriptor cache answered a lookup (registry_storage_cache_total) */
void metrics_cache(enum metrics_cache k);
/* the mirror served a request of type t: from storage (hit) or fetched
 * from the upstream (miss, pulled bytes) */
void metrics_proxy(enum metrics_proxy_type t, int hit, uint64_t pulled_bytes);
/* a garbage collection ended (ok = 1) or failed; what it deleted */
void metrics_gc(int ok, uint64_t bytes, uint64_t blobs, uint64_t manifests);
/* upload purging removed n uploads */
void metrics_uploads_purged(uint64_t n);

/* notification delivery, per endpoint name (no-ops when not active) */
void metrics_notify_count(const char *endpoint, enum metrics_notify_kind k, uint64_t n);
void metrics_notify_pending(const char *endpoint, uint64_t depth); /* queue depth gauge */

/* What the reader of the pool's scoreboard passes to the writers (lib/
 * cannot see fcgi/): workers by state, connections queued, the bounds. */
struct metrics_pool {
    int known; /* 0: no pool (the fields are not printed) */
    unsigned busy, idle, starting, queued, min, max;
};

/* metrics_write_prometheus: the text exposition format 0.0.4 of every
 * metric, pool gauges from pool. Returns 0, or WERR_IO on a write error. */
int metrics_write_prometheus(FILE *out, const struct metrics_pool *pool);

/* metrics_write_vars_json: the members of a JSON object (no braces) with
 * the totals (requests, bytes, uploads, cache, mirror, gc, notifications),
 * for /debug/vars. Returns 0 or WERR_IO. */
int metrics_write_vars_json(FILE *out);

/* metrics_requests_total: the sum of registry_http_requests_total. */
uint64_t metrics_requests_total(void);

#endif
