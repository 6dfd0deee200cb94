/* health.c — the health service (health.h).
 *
 * One process (a persistent row: the pool master starts it, restarts it if
 * it dies, and replaces it on a reload) runs every configured check on its
 * own schedule, one after the other, and writes each result into the shared
 * table (lib/health.h). Differences from the reference, each for a reason:
 *  - every check runs once at start, not one interval later: a node started
 *    with its drain file present must not take traffic for 10 s;
 *  - a check without a timeout (the reference then waits as long as Go's
 *    client or dialer does) gets its interval as one: the checks share one
 *    process, and a hung one must not stall the others forever;
 *  - a reload restarts the service: the new one takes over the table's
 *    counts for the checks it keeps (same name), so a failing check with a
 *    threshold stays failing instead of starting its count again.
 * A state change is logged (warn when a check starts failing, info when it
 * passes again); the results themselves are the table's. */
#include "health.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/curl_lazy.h"
#include "../lib/err.h"
#include "../lib/health.h"
#include "../lib/log.h"
#include "../storage/probe.h"

#define CHECK_ERR_MAX 1024

/* ---- the checks ------------------------------------------------------------ */

/* Go's texts for errno values are glibc's with a lower-case first letter */
static void err_errno(char *err, size_t errlen, const char *what, const char *path, int e)
{
    char reason[256];
    snprintf(reason, sizeof reason, "%s", strerror(e));
    reason[0] = (char)tolower((unsigned char)reason[0]);
    snprintf(err, errlen, "%s %s: %s", what, path, reason);
}

int health_check_file(const char *path, char *err, size_t errlen)
{
    char *abs = NULL;
    const char *p = path;
    int rc = 0;
    err[0] = '\0';
    if (path[0] != '/') {
        char *cwd = getcwd(NULL, 0);
        if (!cwd || asprintf(&abs, "%s/%s", cwd, path) < 0) {
            abs = NULL;
            snprintf(err, errlen, "failed to get absolute path for \"%s\"", path);
            free(cwd);
            return -1;
        }
        free(cwd);
        p = abs;
    }
    struct stat st;
    if (stat(p, &st) == 0) {
        snprintf(err, errlen, "file exists");
        rc = -1;
    } else if (errno != ENOENT) {
        err_errno(err, errlen, "stat", p, errno);
        rc = -1;
    }
    free(abs);
    return rc;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* connect_one: 0 when a connection to ai is made before deadline (ms) */
static int connect_one(const struct addrinfo *ai, double deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -1;
    int rc = -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        rc = 0;
        goto out;
    }
    if (errno != EINPROGRESS) goto out;
    for (;;) {
        double left = deadline - mono_ms();
        if (left <= 0) goto out;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int r = poll(&pf, 1, (int)(left + 1));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) goto out;
        if (r == 0) continue;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) rc = 0;
        goto out;
    }
out:
    close(fd);
    return rc;
}

int health_check_tcp(const char *addr, long timeout_ms, char *err, size_t errlen)
{
    char host[HEALTH_NAME_MAX];
    const char *port;
    err[0] = '\0';
    snprintf(err, errlen, "connection to %s failed", addr); /* until it succeeds */
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':' || (size_t)(end - addr) >= sizeof host) return -1;
        snprintf(host, sizeof host, "%.*s", (int)(end - addr - 1), addr + 1);
        port = end + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof host) return -1;
        snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *res = NULL;
    if (getaddrinfo(*host ? host : NULL, port, &hints, &res) != 0) return -1;
    double deadline = mono_ms() + (double)timeout_ms;
    int rc = -1;
    for (const struct addrinfo *ai = res; ai && rc; ai = ai->ai_next)
        rc = connect_one(ai, deadline);
    freeaddrinfo(res);
    if (!rc) err[0] = '\0';
    return rc;
}

/* a HEAD's body is nothing; anything a server sends anyway is dropped */
static size_t drop_body(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

int health_check_http(const struct config_health_check *h, long timeout_ms, char *err,
                      size_t errlen)
{
    char why[CURL_ERROR_SIZE];
    int rc = -1;
    struct curl_slist *hdrs = NULL;
    err[0] = '\0';
    if (curl_lazy_load(why, sizeof why) != 0) {
        log_warn("health: %s: %s", h->target, why);
        snprintf(err, errlen, "error while checking: %s", h->target);
        return -1;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "error creating request: %s", h->target);
        return -1;
    }
    for (size_t i = 0; i < h->nheaders; i++)
        for (size_t j = 0; j < h->headers[i].nvalues; j++) {
            char line[2048];
            snprintf(line, sizeof line, "%s: %s", h->headers[i].name, h->headers[i].values[j]);
            struct curl_slist *n = curl_slist_append(hdrs, line);
            if (!n) goto out;
            hdrs = n;
        }
    why[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, h->target);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L); /* Go's client: up to 10 */
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "wharf-health/1");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop_body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, why);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        log_debug("health: %s: %s", h->target, *why ? why : curl_easy_strerror(cc));
        snprintf(err, errlen, "error while checking: %s", h->target);
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != h->statuscode) {
        snprintf(err, errlen, "downstream service returned unexpected status: %ld", status);
        goto out;
    }
    rc = 0;
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

/* ---- the service ----------------------------------------------------------- */

struct check {
    const char *name;
    const struct config_health_check *h; /* NULL: the storage driver's */
    long interval_ms, timeout_ms;
    int threshold;
    double due; /* monotonic ms */
    int count, failing;
    char err[CHECK_ERR_MAX];
};

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

int health_service_enabled(const struct config *cfg, const void *ctx)
{
    (void)ctx;
    int on = config_health_active(cfg);
    /* called by the master on every tick: with no check configured (a
     * reload removed them) the table is emptied, so that no report shows a
     * check that no longer exists (the service, stopped, writes no more) */
    if (!on) health_reset();
    return on;
}

static void run_one(struct check *k, struct storage_probe *probe)
{
    char err[CHECK_ERR_MAX] = "";
    int rc;
    if (!k->h)
        rc = storage_probe_run(probe, err, sizeof err) ? -1 : 0;
    else if (k->h->kind == HEALTH_FILE)
        rc = health_check_file(k->h->target, err, sizeof err);
    else if (k->h->kind == HEALTH_TCP)
        rc = health_check_tcp(k->h->target, k->timeout_ms, err, sizeof err);
    else
        rc = health_check_http(k->h, k->timeout_ms, err, sizeof err);
    int was = k->failing;
    k->failing = health_update(&k->count, k->threshold, rc == 0);
    if (rc) snprintf(k->err, sizeof k->err, "%s", err);
    if (k->failing && !was)
        log_warn("health: %s: failing: %s", k->name, k->err);
    else if (!k->failing && was)
        log_info("health: %s: passing again", k->name);
    else if (rc && !k->failing)
        log_debug("health: %s: failed %d time%s (threshold %d): %s", k->name, k->count,
                  k->count == 1 ? "" : "s", k->threshold, err);
}

int health_service_run(const struct config *cfg, const void *ctx)
{
    (void)ctx;
    /* SIGTERM is blocked but while the service sleeps (ppoll), so that one
     * arriving between the test of `stopping` and the sleep ends the sleep */
    struct sigaction sa = {.sa_handler = on_term};
    sigset_t term, awake;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigprocmask(SIG_BLOCK, &term, &awake);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct storage_probe *probe = NULL;
    size_t n = 0, max = cfg->nhealth_checks + 1;
    struct check *k = calloc(max, sizeof *k);
    int status = 1;
    if (!k) goto out;
    if (cfg->health_sd_enabled) {
        if (storage_probe_new(cfg, &probe) != 0) goto out;
        k[n].name = storage_probe_name(probe);
        k[n].interval_ms = cfg->health_sd_interval;
        k[n].threshold = cfg->health_sd_threshold;
        n++;
    }
    for (size_t i = 0; i < cfg->nhealth_checks && n < HEALTH_MAX_SLOTS; i++) {
        const struct config_health_check *h = &cfg->health_checks[i];
        k[n].name = h->target;
        k[n].h = h;
        k[n].interval_ms = h->interval_ms;
        k[n].timeout_ms = h->timeout_ms > 0 ? h->timeout_ms : h->interval_ms;
        k[n].threshold = h->kind == HEALTH_FILE ? 0 : h->threshold;
        n++;
    }
    /* go on from the previous service's results (a reload), then publish
     * the new table whole before the first run */
    for (size_t i = 0; i < n; i++)
        health_previous(k[i].name, &k[i].count, &k[i].failing, k[i].err, sizeof k[i].err);
    health_reset();
    for (size_t i = 0; i < n; i++)
        health_set(i, k[i].name, k[i].failing, k[i].count, k[i].failing ? k[i].err : NULL);
    log_info("health: %zu check%s", n, n == 1 ? "" : "s");

    double t0 = mono_ms();
    for (size_t i = 0; i < n; i++)
        k[i].due = t0;
    while (!stopping) {
        double now = mono_ms(), next = now + 3600e3;
        for (size_t i = 0; i < n && !stopping; i++) {
            if (k[i].due <= now) {
                run_one(&k[i], probe);
                health_set(i, k[i].name, k[i].failing, k[i].count, k[i].failing ? k[i].err : NULL);
                k[i].due += (double)k[i].interval_ms;
                if (k[i].due <= now) k[i].due = now + (double)k[i].interval_ms; /* fell behind */
            }
            if (k[i].due < next) next = k[i].due;
        }
        double wait = next - mono_ms();
        if (wait > 0 && !stopping) {
            long us = (long)(wait * 1e3);
            struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
            ppoll(NULL, 0, &ts, &awake); /* SIGTERM ends it early */
        }
    }
    status = 0;
out:
    storage_probe_free(probe);
    free(k);
    return status;
}
