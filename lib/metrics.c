/* metrics.c — see metrics.h.
 *
 * One struct metrics_shm in a MAP_SHARED anonymous mapping. Every cell is
 * an _Atomic 64-bit integer added to with relaxed order: a counter only
 * needs its adds not to be lost, and a scrape reading cells one after the
 * other sees each at some moment during the scrape, which is what
 * Prometheus expects of a scrape anyway. Histograms keep one cell per
 * bucket (not cumulative) and their sum as an integer (nanoseconds or
 * bytes): the writer makes the buckets cumulative and the count from the
 * same reads, so count always equals the +Inf bucket. Durations are kept
 * in nanoseconds and printed as seconds.
 *
 * A label set is an index computed from fixed tables (handler, method,
 * status 100..599, driver, action), so nothing is allocated or locked
 * while recording. Notification endpoints are named at run time: a slot is
 * claimed once by a compare-and-swap of its state and named before it is
 * marked ready; the sender is one process, so two claims of the same name
 * do not race in practice (and the writer merges same-named slots). */
#include "metrics.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "err.h"

#define NMETHOD 8
#define NCODE 500 /* 100..599 */
#define NDRIVER 8
#define DUR_NB 13
#define SIZE_NB 22
#define ST_NB 11
#define NOTIFY_NAME_MAX 128

typedef _Atomic uint64_t cell;

static const char *const handler_names[MH_COUNT] = {
    "base",        "catalog",           "tags",      "manifest", "blob",
    "blob_upload", "blob_upload_chunk", "referrers", "token",    "other",
};
static const char *const method_names[NMETHOD] = {"GET",  "HEAD",   "PUT",     "PATCH",
                                                  "POST", "DELETE", "OPTIONS", "OTHER"};
/* the reference's driver names (its S3 driver is "s3aws") */
static const char *const driver_names[NDRIVER] = {"filesystem", "inmemory", "s3aws", "swift",
                                                  "azure",      "gcs",      "oss",   "other"};
static const char *const action_names[MA_COUNT] = {"GetContent", "PutContent", "Reader", "Writer",
                                                   "Stat",       "List",       "Move",   "Delete",
                                                   "URLFor",     "Walk"};
/* go-metrics' defaults for the reference's HTTP metrics */
static const double dur_bounds[DUR_NB] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25, 60};
/* prometheus.DefBuckets, the reference's storage timer */
static const double st_bounds[ST_NB] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
/* size buckets: 1 KiB, 2 KiB, ... 2 GiB (ExponentialBuckets(1024, 2, 22)) */

struct hist_dur {
    cell b[DUR_NB + 1];
    cell sum_ns;
};
struct hist_size {
    cell b[SIZE_NB + 1];
    cell sum;
};
struct hist_st {
    cell b[ST_NB + 1];
    cell sum_ns;
};

struct notify_slot {
    _Atomic int state; /* 0 free, 1 being named, 2 ready */
    char name[NOTIFY_NAME_MAX + 1];
    cell sent, retries, failures;
    cell pending;
};

struct metrics_shm {
    cell requests[MH_COUNT][NMETHOD][NCODE];
    struct hist_dur dur[MH_COUNT][NMETHOD];
    struct hist_size reqsz[MH_COUNT], respsz[MH_COUNT];
    _Atomic int64_t inflight[MH_COUNT];
    struct hist_st storage[NDRIVER][MA_COUNT];
    cell cache_req, cache_hit, cache_miss;
    cell proxy_req[2], proxy_hit[2], proxy_miss[2], proxy_pulled[2];
    cell rx_bytes, tx_bytes;
    _Atomic int64_t uploads_active;
    cell uploads_started, uploads_completed, uploads_purged;
    cell gc_runs, gc_failures, gc_bytes, gc_blobs, gc_manifests;
    _Atomic int64_t gc_last;
    struct notify_slot notify[METRICS_NOTIFY_SLOTS];
    struct notify_slot notify_other; /* past the last slot */
};

static struct metrics_shm *M; /* inherited across fork */

int metrics_init(void)
{
    if (M) return 0;
    void *m = mmap(NULL, sizeof *M, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return WERR_IO;
    M = m; /* zero-filled */
    strcpy(M->notify_other.name, "_other");
    return 0;
}

int metrics_active(void)
{
    return M != NULL;
}

int64_t metrics_now_ns(void)
{
    if (!M) return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void add(cell *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(cell *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static int method_index(const char *m)
{
    if (!m) return NMETHOD - 1;
    for (int i = 0; i < NMETHOD - 1; i++)
        if (!strcmp(m, method_names[i])) return i;
    return NMETHOD - 1;
}

/* an upload body arrives: POST (monolithic or start), PATCH, PUT of an upload */
static int is_upload(int h, int mi)
{
    return (h == MH_BLOB_UPLOAD && mi == 4) || (h == MH_BLOB_UPLOAD_CHUNK && (mi == 3 || mi == 2));
}

void metrics_http_enter(int h, const char *method)
{
    if (!M || h < 0 || h >= MH_COUNT) return;
    atomic_fetch_add_explicit(&M->inflight[h], 1, memory_order_relaxed);
    if (is_upload(h, method_index(method)))
        atomic_fetch_add_explicit(&M->uploads_active, 1, memory_order_relaxed);
}

static int size_bucket(int64_t v)
{
    int i = 0;
    for (int64_t bound = 1024; i < SIZE_NB && v > bound; i++)
        bound *= 2;
    return i;
}

static int dur_bucket(const double *bounds, int nb, int64_t ns)
{
    double s = (double)ns / 1e9;
    int i = 0;
    while (i < nb && s > bounds[i])
        i++;
    return i;
}

void metrics_http_leave(int h, const char *method, int status, int64_t t0, int64_t req_bytes,
                        int64_t resp_bytes)
{
    if (!M) return;
    int entered = h >= 0 && h < MH_COUNT;
    if (!entered) h = MH_OTHER;
    int mi = method_index(method);
    if (entered) {
        atomic_fetch_sub_explicit(&M->inflight[h], 1, memory_order_relaxed);
        if (is_upload(h, mi))
            atomic_fetch_sub_explicit(&M->uploads_active, 1, memory_order_relaxed);
    }
    if (status < 100 || status > 599) status = 500;
    add(&M->requests[h][mi][status - 100], 1);
    int64_t d = metrics_now_ns() - t0;
    if (d < 0) d = 0;
    add(&M->dur[h][mi].b[dur_bucket(dur_bounds, DUR_NB, d)], 1);
    add(&M->dur[h][mi].sum_ns, (uint64_t)d);
    if (req_bytes < 0) req_bytes = 0;
    if (resp_bytes < 0) resp_bytes = 0;
    add(&M->reqsz[h].b[size_bucket(req_bytes)], 1);
    add(&M->reqsz[h].sum, (uint64_t)req_bytes);
    add(&M->respsz[h].b[size_bucket(resp_bytes)], 1);
    add(&M->respsz[h].sum, (uint64_t)resp_bytes);
    add(&M->rx_bytes, (uint64_t)req_bytes);
    add(&M->tx_bytes, (uint64_t)resp_bytes);
    if (h == MH_BLOB_UPLOAD && mi == 4 && status == 202) add(&M->uploads_started, 1);
    if (status == 201 && ((h == MH_BLOB_UPLOAD && mi == 4 && req_bytes > 0) ||
                          (h == MH_BLOB_UPLOAD_CHUNK && mi == 2)))
        add(&M->uploads_completed, 1);
}

static int driver_index(const char *d)
{
    if (!d) return NDRIVER - 1;
    if (!strcmp(d, "filesystem")) return 0;
    if (!strcmp(d, "inmemory")) return 1;
    if (!strcmp(d, "s3")) return 2;
    if (!strcmp(d, "swift")) return 3;
    if (!strcmp(d, "azure")) return 4;
    if (!strcmp(d, "gcs")) return 5;
    if (!strcmp(d, "oss")) return 6;
    return NDRIVER - 1;
}

void metrics_storage_action(const char *driver, enum metrics_action a, int64_t t0)
{
    if (!M || (unsigned)a >= MA_COUNT) return;
    int64_t d = metrics_now_ns() - t0;
    if (d < 0) d = 0;
    struct hist_st *hs = &M->storage[driver_index(driver)][a];
    add(&hs->b[dur_bucket(st_bounds, ST_NB, d)], 1);
    add(&hs->sum_ns, (uint64_t)d);
}

void metrics_cache(enum metrics_cache k)
{
    if (!M) return;
    add(&M->cache_req, 1);
    add(k == METRICS_CACHE_HIT ? &M->cache_hit : &M->cache_miss, 1);
}

void metrics_proxy(enum metrics_proxy_type t, int hit, uint64_t pulled_bytes)
{
    if (!M || (unsigned)t > 1) return;
    add(&M->proxy_req[t], 1);
    add(hit ? &M->proxy_hit[t] : &M->proxy_miss[t], 1);
    add(&M->proxy_pulled[t], pulled_bytes);
}

void metrics_gc(int ok, uint64_t bytes, uint64_t blobs, uint64_t manifests)
{
    if (!M) return;
    add(&M->gc_runs, 1);
    if (!ok) {
        add(&M->gc_failures, 1);
        return;
    }
    add(&M->gc_bytes, bytes);
    add(&M->gc_blobs, blobs);
    add(&M->gc_manifests, manifests);
    atomic_store(&M->gc_last, (int64_t)time(NULL));
}

void metrics_uploads_purged(uint64_t n)
{
    if (M) add(&M->uploads_purged, n);
}

/* ---------------------------------------------------------------- notify */

static struct notify_slot *notify_slot(const char *endpoint)
{
    if (!endpoint) endpoint = "";
    for (int i = 0; i < METRICS_NOTIFY_SLOTS; i++) {
        struct notify_slot *s = &M->notify[i];
        int st = atomic_load(&s->state);
        if (st == 0) {
            int expect = 0;
            if (!atomic_compare_exchange_strong(&s->state, &expect, 1)) {
                i--; /* taken meanwhile: look at it again */
                continue;
            }
            snprintf(s->name, sizeof s->name, "%s", endpoint);
            atomic_store(&s->state, 2);
            return s;
        }
        if (st == 2 && !strncmp(s->name, endpoint, NOTIFY_NAME_MAX)) return s;
        /* st == 1: another process names it; if it is ours, a second slot
         * of the same name is merged by the writer */
    }
    return &M->notify_other;
}

void metrics_notify_count(const char *endpoint, enum metrics_notify_kind k, uint64_t n)
{
    if (!M) return;
    struct notify_slot *s = notify_slot(endpoint);
    switch (k) {
    case METRICS_NOTIFY_SENT: add(&s->sent, n); break;
    case METRICS_NOTIFY_RETRY: add(&s->retries, n); break;
    case METRICS_NOTIFY_FAILURE: add(&s->failures, n); break;
    }
}

void metrics_notify_pending(const char *endpoint, uint64_t depth)
{
    if (!M) return;
    struct notify_slot *s = notify_slot(endpoint);
    atomic_store_explicit(&s->pending, depth, memory_order_relaxed);
}

/* ---------------------------------------------------------------- writers */

uint64_t metrics_requests_total(void)
{
    uint64_t n = 0;
    if (!M) return 0;
    for (int h = 0; h < MH_COUNT; h++)
        for (int m = 0; m < NMETHOD; m++)
            for (int c = 0; c < NCODE; c++)
                n += get(&M->requests[h][m][c]);
    return n;
}

static void head(FILE *o, const char *name, const char *type, const char *help)
{
    fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* a label value, escaped as the exposition format wants */
static void label_value(FILE *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(o, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", o);
        else
            fputc(*v, o);
    }
}

/* one histogram series: labels is "" or `a="x",b="y"` */
static void hist(FILE *o, const char *name, const char *labels, cell *b, int nb,
                 const double *bounds, double scale_first, cell *sum, double sum_scale)
{
    uint64_t acc = 0;
    const char *sep = *labels ? "," : "";
    for (int i = 0; i <= nb; i++) {
        acc += get(&b[i]);
        if (i < nb)
            fprintf(o, "%s_bucket{%s%sle=\"%.15g\"} %llu\n", name, labels, sep,
                    bounds ? bounds[i] : scale_first * (double)(1ULL << i),
                    (unsigned long long)acc);
        else
            fprintf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                    (unsigned long long)acc);
    }
    fprintf(o, "%s_sum{%s} %.15g\n", name, labels, (double)get(sum) * sum_scale);
    fprintf(o, "%s_count{%s} %llu\n", name, labels, (unsigned long long)acc);
}

static uint64_t hist_count(cell *b, int nb)
{
    uint64_t n = 0;
    for (int i = 0; i <= nb; i++)
        n += get(&b[i]);
    return n;
}

/* notify slots merged by name: calls fn for each distinct name */
static void notify_each(FILE *o, const char *metric, int which)
{
    struct notify_slot *all[METRICS_NOTIFY_SLOTS + 1];
    int n = 0;
    for (int i = 0; i < METRICS_NOTIFY_SLOTS; i++)
        if (atomic_load(&M->notify[i].state) == 2) all[n++] = &M->notify[i];
    struct notify_slot *x = &M->notify_other;
    if (get(&x->sent) || get(&x->retries) || get(&x->failures) || get(&x->pending)) all[n++] = x;
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < i && !dup; j++)
            dup = !strcmp(all[j]->name, all[i]->name);
        if (dup) continue;
        uint64_t v = 0;
        for (int j = i; j < n; j++) {
            if (strcmp(all[j]->name, all[i]->name)) continue;
            cell *c = which == 0   ? &all[j]->sent
                      : which == 1 ? &all[j]->retries
                      : which == 2 ? &all[j]->failures
                                   : &all[j]->pending;
            v += get(c);
        }
        fprintf(o, "%s{endpoint=\"", metric);
        label_value(o, all[i]->name);
        fprintf(o, "\"} %llu\n", (unsigned long long)v);
    }
}

int metrics_write_prometheus(FILE *o, const struct metrics_pool *pool)
{
    char lb[256];
    if (!M) return ferror(o) ? WERR_IO : 0;

    head(o, "registry_http_requests_total", "counter", "Total number of HTTP requests made.");
    for (int h = 0; h < MH_COUNT; h++)
        for (int m = 0; m < NMETHOD; m++)
            for (int c = 0; c < NCODE; c++) {
                uint64_t v = get(&M->requests[h][m][c]);
                if (v)
                    fprintf(o,
                            "registry_http_requests_total{code=\"%d\",handler=\"%s\","
                            "method=\"%s\"} %llu\n",
                            c + 100, handler_names[h], method_names[m], (unsigned long long)v);
            }

    head(o, "registry_http_request_duration_seconds", "histogram",
         "The HTTP request latencies in seconds.");
    for (int h = 0; h < MH_COUNT; h++)
        for (int m = 0; m < NMETHOD; m++) {
            if (!hist_count(M->dur[h][m].b, DUR_NB)) continue;
            snprintf(lb, sizeof lb, "handler=\"%s\",method=\"%s\"", handler_names[h],
                     method_names[m]);
            hist(o, "registry_http_request_duration_seconds", lb, M->dur[h][m].b, DUR_NB,
                 dur_bounds, 0, &M->dur[h][m].sum_ns, 1e-9);
        }

    head(o, "registry_http_in_flight_requests", "gauge", "The in-flight HTTP requests");
    for (int h = 0; h < MH_COUNT; h++) {
        int64_t v = atomic_load(&M->inflight[h]);
        fprintf(o, "registry_http_in_flight_requests{handler=\"%s\"} %lld\n", handler_names[h],
                (long long)(v < 0 ? 0 : v));
    }

    static const char *const szname[2] = {"registry_http_request_size_bytes",
                                          "registry_http_response_size_bytes"};
    static const char *const szhelp[2] = {"The HTTP request sizes in bytes.",
                                          "The HTTP response sizes in bytes."};
    for (int k = 0; k < 2; k++) {
        head(o, szname[k], "histogram", szhelp[k]);
        for (int h = 0; h < MH_COUNT; h++) {
            struct hist_size *hs = k ? &M->respsz[h] : &M->reqsz[h];
            if (!hist_count(hs->b, SIZE_NB)) continue;
            snprintf(lb, sizeof lb, "handler=\"%s\"", handler_names[h]);
            hist(o, szname[k], lb, hs->b, SIZE_NB, NULL, 1024, &hs->sum, 1);
        }
    }

    head(o, "registry_storage_action_seconds", "histogram",
         "The number of seconds that the storage action takes");
    for (int d = 0; d < NDRIVER; d++)
        for (int a = 0; a < MA_COUNT; a++) {
            struct hist_st *hs = &M->storage[d][a];
            if (!hist_count(hs->b, ST_NB)) continue;
            snprintf(lb, sizeof lb, "action=\"%s\",driver=\"%s\"", action_names[a],
                     driver_names[d]);
            hist(o, "registry_storage_action_seconds", lb, hs->b, ST_NB, st_bounds, 0, &hs->sum_ns,
                 1e-9);
        }

    head(o, "registry_storage_cache_total", "counter", "The number of cache request received");
    fprintf(o, "registry_storage_cache_total{type=\"Request\"} %llu\n",
            (unsigned long long)get(&M->cache_req));
    fprintf(o, "registry_storage_cache_total{type=\"Hit\"} %llu\n",
            (unsigned long long)get(&M->cache_hit));
    fprintf(o, "registry_storage_cache_total{type=\"Miss\"} %llu\n",
            (unsigned long long)get(&M->cache_miss));

    static const char *const pxname[4] = {
        "registry_proxy_requests_total", "registry_proxy_hits_total", "registry_proxy_misses_total",
        "registry_proxy_pulled_bytes_total"};
    static const char *const pxhelp[4] = {"The number of total incoming proxy request received",
                                          "The number of total proxy request hits",
                                          "The number of total proxy request misses",
                                          "The size of total bytes pulled from the upstream"};
    for (int k = 0; k < 4; k++) {
        cell *c = k == 0   ? M->proxy_req
                  : k == 1 ? M->proxy_hit
                  : k == 2 ? M->proxy_miss
                           : M->proxy_pulled;
        head(o, pxname[k], "counter", pxhelp[k]);
        fprintf(o, "%s{type=\"blob\"} %llu\n", pxname[k], (unsigned long long)get(&c[0]));
        fprintf(o, "%s{type=\"manifest\"} %llu\n", pxname[k], (unsigned long long)get(&c[1]));
    }

    if (pool && pool->known) {
        head(o, "wharf_pool_workers", "gauge", "FastCGI worker processes by state.");
        fprintf(o, "wharf_pool_workers{state=\"busy\"} %u\n", pool->busy);
        fprintf(o, "wharf_pool_workers{state=\"idle\"} %u\n", pool->idle);
        fprintf(o, "wharf_pool_workers{state=\"starting\"} %u\n", pool->starting);
        head(o, "wharf_pool_queued_connections", "gauge",
             "Connections waiting in the FastCGI listen queue at the master's last tick.");
        fprintf(o, "wharf_pool_queued_connections %u\n", pool->queued);
        head(o, "wharf_pool_workers_min", "gauge", "The pool's lower bound (fastcgi.workers).");
        fprintf(o, "wharf_pool_workers_min %u\n", pool->min);
        head(o, "wharf_pool_workers_max", "gauge", "The pool's upper bound (fastcgi.workers).");
        fprintf(o, "wharf_pool_workers_max %u\n", pool->max);
    }

    struct {
        const char *name, *type, *help;
        uint64_t v;
    } simple[] = {
        {"wharf_http_received_bytes_total", "counter", "Request body bytes received.",
         get(&M->rx_bytes)},
        {"wharf_http_sent_bytes_total", "counter",
         "Response body bytes sent (by Wharf or, for X-Accel-Redirect/X-Sendfile, by the web "
         "server).",
         get(&M->tx_bytes)},
        {"wharf_uploads_in_progress", "gauge", "Upload requests receiving a body now.",
         (uint64_t)(atomic_load(&M->uploads_active) < 0 ? 0 : atomic_load(&M->uploads_active))},
        {"wharf_uploads_started_total", "counter", "Upload sessions started (POST answered 202).",
         get(&M->uploads_started)},
        {"wharf_uploads_completed_total", "counter", "Uploads committed as blobs (201).",
         get(&M->uploads_completed)},
        {"wharf_uploads_purged_total", "counter", "Stale uploads removed by upload purging.",
         get(&M->uploads_purged)},
        {"wharf_gc_runs_total", "counter", "Garbage collections run by the pool (online GC).",
         get(&M->gc_runs)},
        {"wharf_gc_failures_total", "counter", "Garbage collections that failed.",
         get(&M->gc_failures)},
        {"wharf_gc_reclaimed_bytes_total", "counter", "Blob bytes deleted by garbage collection.",
         get(&M->gc_bytes)},
        {"wharf_gc_deleted_blobs_total", "counter", "Blobs deleted by garbage collection.",
         get(&M->gc_blobs)},
        {"wharf_gc_deleted_manifests_total", "counter", "Manifests deleted by garbage collection.",
         get(&M->gc_manifests)},
        {"wharf_gc_last_success_timestamp_seconds", "gauge",
         "When the last garbage collection ended well (Unix time, 0 = never).",
         (uint64_t)atomic_load(&M->gc_last)},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        head(o, simple[i].name, simple[i].type, simple[i].help);
        fprintf(o, "%s %llu\n", simple[i].name, (unsigned long long)simple[i].v);
    }

    head(o, "wharf_notifications_sent_total", "counter",
         "Events delivered to a notification endpoint.");
    notify_each(o, "wharf_notifications_sent_total", 0);
    head(o, "wharf_notifications_retries_total", "counter",
         "Delivery attempts to an endpoint that failed and will be retried.");
    notify_each(o, "wharf_notifications_retries_total", 1);
    head(o, "wharf_notifications_failures_total", "counter",
         "Events an endpoint could not be given (failed attempts).");
    notify_each(o, "wharf_notifications_failures_total", 2);
    head(o, "wharf_notifications_pending", "gauge",
         "Events queued for an endpoint, not delivered yet.");
    notify_each(o, "wharf_notifications_pending", 3);
    return ferror(o) ? WERR_IO : 0;
}

int metrics_write_vars_json(FILE *o)
{
    if (!M) {
        fputs("\"metrics\":null", o);
        return ferror(o) ? WERR_IO : 0;
    }
    fprintf(o,
            "\"requests\":%llu,\"bytes_received\":%llu,\"bytes_sent\":%llu,"
            "\"uploads\":{\"in_progress\":%lld,\"started\":%llu,\"completed\":%llu,"
            "\"purged\":%llu},"
            "\"cache\":{\"Requests\":%llu,\"Hits\":%llu,\"Misses\":%llu},"
            "\"proxy\":{\"blobs\":{\"Requests\":%llu,\"Hits\":%llu,\"Misses\":%llu,"
            "\"BytesPulled\":%llu},\"manifests\":{\"Requests\":%llu,\"Hits\":%llu,"
            "\"Misses\":%llu,\"BytesPulled\":%llu}},"
            "\"gc\":{\"runs\":%llu,\"failures\":%llu,\"reclaimed_bytes\":%llu}",
            (unsigned long long)metrics_requests_total(), (unsigned long long)get(&M->rx_bytes),
            (unsigned long long)get(&M->tx_bytes), (long long)atomic_load(&M->uploads_active),
            (unsigned long long)get(&M->uploads_started),
            (unsigned long long)get(&M->uploads_completed),
            (unsigned long long)get(&M->uploads_purged), (unsigned long long)get(&M->cache_req),
            (unsigned long long)get(&M->cache_hit), (unsigned long long)get(&M->cache_miss),
            (unsigned long long)get(&M->proxy_req[0]), (unsigned long long)get(&M->proxy_hit[0]),
            (unsigned long long)get(&M->proxy_miss[0]),
            (unsigned long long)get(&M->proxy_pulled[0]), (unsigned long long)get(&M->proxy_req[1]),
            (unsigned long long)get(&M->proxy_hit[1]), (unsigned long long)get(&M->proxy_miss[1]),
            (unsigned long long)get(&M->proxy_pulled[1]), (unsigned long long)get(&M->gc_runs),
            (unsigned long long)get(&M->gc_failures), (unsigned long long)get(&M->gc_bytes));
    return ferror(o) ? WERR_IO : 0;
}
