/* notify.c — the notification sender (notify.h).
 *
 * One thread per enabled endpoint, each with its own curl easy handle and
 * its own cursor in the queue (lib/evqueue.h), so a slow or dead endpoint
 * never delays another. Each thread takes the endpoint's next event, drops
 * it when the endpoint's ignore rules say so, else POSTs it until the
 * endpoint accepts it (2xx or 3xx, as the reference's httpSink), and only
 * then moves the endpoint's cursor past it: at least once, in order.
 *
 * Retries follow the reference's retryingSink: after a failure the event is
 * sent again at once, until `threshold` failures in a row; from then on one
 * attempt per `backoff`. Unlike the reference an event is never dropped:
 * its queue is on disk and an endpoint down for an hour gets every event
 * when it comes back.
 *
 * As the reference, one event per request: the envelope {"events":[...]}
 * with a single event (receivers written against the reference read
 * events[0]). Format cloudevents: one structured-mode CloudEvents 1.0 JSON
 * per request (application/cloudevents+json).
 *
 * SIGTERM/SIGINT: the threads finish the request in flight (bounded by the
 * endpoint's timeout), save their cursors, and the process exits 0. */
#define CURL_DISABLE_TYPECHECK 1
#include "notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/config.h"
#include "../lib/curl_lazy.h"
#include "../lib/err.h"
#include "../lib/evqueue.h"
#include "../lib/log.h"
#include "../lib/metrics.h"
#include "cli.h"

#define POLL_MS 200        /* how often an idle endpoint looks for new events */
#define IOERR_WAIT_MS 1000 /* after a queue read error */
#define RESPONSE_MAX 4096  /* bytes of an endpoint's answer kept for the log */

static atomic_int stopping;
static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cv = PTHREAD_COND_INITIALIZER;

struct sender {
    const struct config_endpoint *e;
    struct evqueue_reader *q;
    size_t idx;
    int once;
    int status; /* thread's result: 0, or 1 when it gave up (--once) */
    atomic_int done;
    CURL *h;
    struct curl_slist *hdrs[2]; /* per content type: docker, cloudevents */
    char resp[RESPONSE_MAX];
    size_t resplen;
};

/* wait_ms: sleep, woken early by a stop */
static void wait_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&stop_mu);
    while (!atomic_load(&stopping))
        if (pthread_cond_timedwait(&stop_cv, &stop_mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&stop_mu);
}

static void stop_all(void)
{
    pthread_mutex_lock(&stop_mu);
    atomic_store(&stopping, 1);
    pthread_cond_broadcast(&stop_cv);
    pthread_mutex_unlock(&stop_mu);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int in_list(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(v[i], s)) return 1;
    return 0;
}

static const char *str_at(struct json_object *o, const char *k1, const char *k2)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, k1, &v)) return NULL;
    if (k2 && !json_object_object_get_ex(v, k2, &v)) return NULL;
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int notify_ignored(const struct config_endpoint *e, struct json_object *ev)
{
    const char *mt = str_at(ev, "target", "mediaType");
    const char *action = str_at(ev, "action", NULL);
    return in_list(e->ignoredmediatypes, e->nignoredmediatypes, mt) ||
           in_list(e->ignore_mediatypes, e->nignore_mediatypes, mt) ||
           in_list(e->ignore_actions, e->nignore_actions, action);
}

/* the CloudEvents type: io.wharf.registry.<manifest|blob>.<action> */
static void ce_type(struct json_object *ev, char *out, size_t n)
{
    const char *mt = str_at(ev, "target", "mediaType");
    const char *tag = str_at(ev, "target", "tag");
    const char *action = str_at(ev, "action", NULL);
    int manifest = (tag && *tag) || (mt && (strstr(mt, "manifest") || strstr(mt, "index")));
    snprintf(out, n, "io.wharf.registry.%s.%s", manifest ? "manifest" : "blob",
             action && *action ? action : "unknown");
}

char *notify_body(const struct config_endpoint *e, const char *rec, size_t reclen,
                  struct json_object *ev, size_t *len, const char **ctype)
{
    if (e->format != NOTIFY_FORMAT_CLOUDEVENTS) {
        *ctype = NOTIFY_DOCKER_TYPE;
        static const char pre[] = "{\"events\":[", post[] = "]}";
        size_t n = sizeof pre - 1 + reclen + sizeof post - 1;
        char *b = malloc(n + 1);
        if (!b) return NULL;
        memcpy(b, pre, sizeof pre - 1);
        memcpy(b + sizeof pre - 1, rec, reclen);
        memcpy(b + sizeof pre - 1 + reclen, post, sizeof post);
        *len = n;
        return b;
    }
    *ctype = NOTIFY_CLOUDEVENTS_TYPE;
    struct json_object *ce = json_object_new_object();
    if (!ce) return NULL;
    char type[128], source[300], subject[600];
    ce_type(ev, type, sizeof type);
    const char *addr = str_at(ev, "source", "addr");
    char host[256] = "localhost";
    if (!addr || !*addr) {
        if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = 0;
        addr = host;
    }
    snprintf(source, sizeof source, "wharf://%s", addr);
    const char *repo = str_at(ev, "target", "repository");
    const char *tag = str_at(ev, "target", "tag");
    const char *dg = str_at(ev, "target", "digest");
    if (tag && *tag)
        snprintf(subject, sizeof subject, "%s:%s", repo ? repo : "", tag);
    else
        snprintf(subject, sizeof subject, "%s%s%s", repo ? repo : "", dg ? "@" : "", dg ? dg : "");
    const char *id = str_at(ev, "id", NULL);
    const char *ts = str_at(ev, "timestamp", NULL);
    json_object_object_add(ce, "specversion", json_object_new_string("1.0"));
    json_object_object_add(ce, "id", json_object_new_string(id ? id : ""));
    json_object_object_add(ce, "source", json_object_new_string(source));
    json_object_object_add(ce, "type", json_object_new_string(type));
    if (*subject) json_object_object_add(ce, "subject", json_object_new_string(subject));
    if (ts) json_object_object_add(ce, "time", json_object_new_string(ts));
    json_object_object_add(ce, "datacontenttype", json_object_new_string("application/json"));
    json_object_object_add(ce, "data", json_object_get(ev));
    const char *s =
        json_object_to_json_string_ext(ce, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *b = s ? strdup(s) : NULL;
    if (b) *len = strlen(b);
    json_object_put(ce);
    return b;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    struct sender *s = ud;
    size_t n = sz * nm;
    size_t room = sizeof s->resp - 1 - s->resplen;
    size_t k = n < room ? n : room;
    memcpy(s->resp + s->resplen, p, k);
    s->resplen += k;
    return n;
}

/* post: one attempt; returns 1 when the endpoint accepted the event */
static int post(struct sender *s, const char *body, size_t len, const char *ctype)
{
    CURL *h = s->h;
    s->resplen = 0;
    curl_easy_setopt(h, CURLOPT_URL, s->e->url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->hdrs[strcmp(ctype, NOTIFY_DOCKER_TYPE) ? 1 : 0]);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->e->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "wharf-notifications");
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && status >= 200 && status < 400) return 1;
    s->resp[s->resplen] = 0;
    if (rc != CURLE_OK)
        log_warn("notifications endpoint %s: %s: %s", s->e->name, s->e->url,
                 curl_easy_strerror(rc));
    else
        log_warn("notifications endpoint %s: %s answered %ld %.200s", s->e->name, s->e->url, status,
                 s->resp);
    return 0;
}

static struct curl_slist *make_headers(const struct config_endpoint *e, const char *ctype)
{
    char line[8192];
    snprintf(line, sizeof line, "Content-Type: %s", ctype);
    struct curl_slist *l = curl_slist_append(NULL, line), *n;
    if (!l) return NULL;
    /* no "Expect: 100-continue" round trip for big bodies */
    if (!(n = curl_slist_append(l, "Expect:"))) goto fail;
    l = n;
    for (size_t i = 0; i < e->nheaders; i++)
        for (size_t j = 0; j < e->headers[i].nvalues; j++) {
            snprintf(line, sizeof line, "%s: %s", e->headers[i].name, e->headers[i].values[j]);
            if (!(n = curl_slist_append(l, line))) goto fail;
            l = n;
        }
    return l;
fail:
    curl_slist_free_all(l);
    return NULL;
}

/* deliver: send one event until the endpoint takes it. Returns 1 when
 * delivered, 0 when stopping (or, --once, when the endpoint kept failing). */
static int deliver(struct sender *s, const char *body, size_t len, const char *ctype, int *failures,
                   double *last_fail)
{
    const struct config_endpoint *e = s->e;
    int attempt = 0;
    while (!atomic_load(&stopping)) {
        if (*failures >= e->threshold) {
            if (s->once) return 0;
            double wait = *last_fail + e->backoff_ms / 1000.0 - now_s();
            if (wait > 0) {
                wait_ms((long)(wait * 1000) + 1);
                continue;
            }
        }
        if (attempt++) metrics_notify_count(e->name, METRICS_NOTIFY_RETRY, 1);
        if (post(s, body, len, ctype)) {
            if (*failures >= e->threshold)
                log_info("notifications endpoint %s: delivering again", e->name);
            *failures = 0;
            metrics_notify_count(e->name, METRICS_NOTIFY_SENT, 1);
            return 1;
        }
        metrics_notify_count(e->name, METRICS_NOTIFY_FAILURE, 1);
        *last_fail = now_s();
        if (++*failures == e->threshold)
            log_warn("notifications endpoint %s: %d failures in a row; one attempt per %ldms "
                     "from now on (events wait in the queue)",
                     e->name, *failures, e->backoff_ms);
    }
    return 0;
}

/* parse_record: rec is not NUL-terminated (it points into the reader's buffer) */
static struct json_object *parse_record(const char *rec, size_t len)
{
    struct json_tokener *t = json_tokener_new();
    if (!t) return NULL;
    struct json_object *o = json_tokener_parse_ex(t, rec, (int)len);
    json_tokener_free(t);
    return o;
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    const struct config_endpoint *e = s->e;
    int failures = 0;
    double last_fail = 0;
    while (!atomic_load(&stopping)) {
        const char *rec;
        size_t len;
        int rc = evqueue_next(s->q, s->idx, &rec, &len);
        if (rc < 0) {
            if (s->once) {
                s->status = 1;
                break;
            }
            wait_ms(IOERR_WAIT_MS);
            continue;
        }
        if (rc == 0) {
            evqueue_ack(s->q, s->idx); /* saves a cursor moved over skipped lines */
            metrics_notify_pending(e->name, evqueue_pending(s->q, s->idx));
            if (s->once) break;
            wait_ms(POLL_MS);
            continue;
        }
        struct json_object *ev = parse_record(rec, len); /* the reader checked it parses */
        if (ev && notify_ignored(e, ev)) {
            json_object_put(ev);
            evqueue_ack(s->q, s->idx);
            continue;
        }
        const char *ctype;
        size_t blen = 0;
        char *body = ev ? notify_body(e, rec, len, ev, &blen, &ctype) : NULL;
        json_object_put(ev);
        if (!body) {
            log_error("notifications endpoint %s: out of memory", e->name);
            evqueue_rewind(s->q, s->idx);
            wait_ms(IOERR_WAIT_MS);
            continue;
        }
        int ok = deliver(s, body, blen, ctype, &failures, &last_fail);
        free(body);
        if (!ok) {
            evqueue_rewind(s->q, s->idx);
            if (s->once && !atomic_load(&stopping)) s->status = 1;
            break;
        }
        evqueue_ack(s->q, s->idx);
        metrics_notify_pending(e->name, evqueue_pending(s->q, s->idx));
    }
    atomic_store(&s->done, 1);
    return NULL;
}

/* sender_loop: deliver for every enabled endpoint of cfg until SIGTERM
 * (once: until the queue is empty). Returns an exit status. */
static int sender_loop(const struct config *cfg, int once)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->nendpoints; i++)
        n += !cfg->endpoints[i].disabled && cfg->endpoints[i].url;
    if (!n) {
        log_info("notifications: no endpoint enabled");
        return 0;
    }
    char err[512];
    if (curl_lazy_load(err, sizeof err) != 0) {
        log_error("notifications: %s", err);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char **names = calloc(n, sizeof *names);
    struct sender *s = calloc(n, sizeof *s);
    pthread_t *th = calloc(n, sizeof *th);
    struct evqueue_reader *q = NULL;
    int status = 1;
    size_t started = 0;
    if (!names || !s || !th) goto out;
    for (size_t i = 0, k = 0; i < cfg->nendpoints; i++)
        if (!cfg->endpoints[i].disabled && cfg->endpoints[i].url) {
            s[k].e = &cfg->endpoints[i];
            names[k++] = cfg->endpoints[i].name;
        }
    int rc = evqueue_reader_open(cfg->notify_queuedir, names, n, cfg->notify_fsync, &q);
    if (rc == WERR_BUSY) {
        log_warn("notifications queue %s: another sender is delivering it", cfg->notify_queuedir);
        status = once ? 0 : 1;
        goto out;
    }
    if (rc < 0) {
        log_error("notifications queue %s: %s", cfg->notify_queuedir, werr_str(rc));
        goto out;
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    atomic_store(&stopping, 0);
    log_info("notifications: delivering to %zu endpoint(s) from %s", n, cfg->notify_queuedir);
    for (size_t i = 0; i < n; i++) {
        s[i].q = q;
        s[i].idx = i;
        s[i].once = once;
        s[i].h = curl_easy_init();
        s[i].hdrs[0] = make_headers(s[i].e, NOTIFY_DOCKER_TYPE);
        s[i].hdrs[1] = make_headers(s[i].e, NOTIFY_CLOUDEVENTS_TYPE);
        if (!s[i].h || !s[i].hdrs[0] || !s[i].hdrs[1] ||
            pthread_create(&th[i], NULL, sender_main, &s[i]) != 0) {
            log_error("notifications endpoint %s: cannot start its sender", s[i].e->name);
            stop_all();
            break;
        }
        started++;
    }
    /* this thread waits for a signal, or (once) for every sender to finish */
    for (;;) {
        struct timespec ts = {0, 100 * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0) {
            log_info("notifications: signal %d, stopping", sig);
            stop_all();
            break;
        }
        size_t alive = 0;
        for (size_t i = 0; i < started; i++)
            alive += !atomic_load(&s[i].done);
        if (!alive) break;
    }
    status = started == n ? 0 : 1;
    for (size_t i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        if (s[i].status) status = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
    for (size_t i = 0; s && i < n; i++) {
        if (s[i].h) curl_easy_cleanup(s[i].h);
        curl_slist_free_all(s[i].hdrs[0]);
        curl_slist_free_all(s[i].hdrs[1]);
    }
    evqueue_reader_close(q);
    free(th);
    free(s);
    free(names);
    return status;
}

int notify_enabled(const struct config *cfg, const void *ctx)
{
    (void)ctx;
    return config_notify_active(cfg);
}

int notify_run(const struct config *cfg, const void *ctx)
{
    (void)ctx;
    return sender_loop(cfg, 0);
}

int cmd_notify(int argc, char **argv)
{
    const char *path = NULL;
    int once = 0;
    for (int i = 1; i < argc; i++) {
        int c = cli_config_arg("notify", argc, argv, &i, &path);
        if (c == 2) return 2;
        if (c) continue;
        if (!strcmp(argv[i], "--once")) {
            once = 1;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "usage: wharf notify [-c FILE] [--once]\n");
            return 2;
        }
    }
    struct config *cfg = cli_config_load(path);
    if (!cfg) return 1;
    int status = sender_loop(cfg, once);
    config_free(cfg);
    return status;
}
