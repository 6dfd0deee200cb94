/* loghook.c — see loghook.h.
 *
 * The queue: LQ_SLOTS fixed entries in one MAP_SHARED mapping, a robust
 * process-shared mutex (a worker killed while holding it does not wedge the
 * others: the next locker sees EOWNERDEAD and takes over) and a
 * process-shared semaphore the sender sleeps on. Filling an entry is a
 * bounded copy under the lock; nothing in loghook_fire waits on the network,
 * the disk or another process beyond that lock. */
#define CURL_DISABLE_TYPECHECK 1
#include "loghook.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "curl_lazy.h"
#include "err.h"
#include "log.h"

#define LQ_SLOTS 32
#define LQ_LEVEL 16
#define LQ_MSG 1024
#define LQ_BODY 6144
#define LQ_HOOKS 64 /* hooks with a rate limit of their own; the rest share the last */

struct lq_entry {
    uint32_t hook;
    int64_t when;
    char level[LQ_LEVEL];
    char msg[LQ_MSG];
    char body[LQ_BODY];
};

struct lq {
    pthread_mutex_t mu;
    sem_t ready;
    uint32_t head, count;
    uint64_t dropped; /* queue full */
    struct lq_entry e[LQ_SLOTS];
};

static struct lq *Q;
static int suppressed;

/* ---------------------------------------------------------------- levels */

static const struct {
    const char *name;
    unsigned bit;
} level_bits[] = {
    {"panic", LOGHOOK_PANIC},    {"fatal", LOGHOOK_FATAL}, {"error", 1u << LOG_ERROR},
    {"warning", 1u << LOG_WARN}, {"warn", 1u << LOG_WARN}, {"info", 1u << LOG_INFO},
    {"debug", 1u << LOG_DEBUG},  {"trace", LOGHOOK_TRACE},
};

unsigned loghook_level_bit(const char *name)
{
    for (size_t i = 0; i < sizeof level_bits / sizeof level_bits[0]; i++)
        if (name && !strcasecmp(name, level_bits[i].name)) return level_bits[i].bit;
    return 0;
}

const char *loghook_level_name(unsigned bit)
{
    for (size_t i = 0; i < sizeof level_bits / sizeof level_bits[0]; i++)
        if (level_bits[i].bit == bit) return level_bits[i].name;
    return "?";
}

int loghook_config_active(const struct config *cfg)
{
    for (size_t i = 0; cfg && i < cfg->nlog_hooks; i++)
        if (!cfg->log_hooks[i].disabled && cfg->log_hooks[i].levels) return 1;
    return 0;
}

void loghook_suppress(int on)
{
    suppressed = on;
}

/* ---------------------------------------------------------------- rate limit */

struct bucket {
    double tokens;
    struct timespec last;
    int init;
};

static int bucket_take(struct bucket *b)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!b->init) {
        b->tokens = LOGHOOK_BURST;
        b->init = 1;
    } else {
        double dt =
            (double)(now.tv_sec - b->last.tv_sec) + (double)(now.tv_nsec - b->last.tv_nsec) / 1e9;
        b->tokens += dt / LOGHOOK_REFILL_S;
        if (b->tokens > LOGHOOK_BURST) b->tokens = LOGHOOK_BURST;
    }
    b->last = now;
    if (b->tokens < 1.0) return 0;
    b->tokens -= 1.0;
    return 1;
}

/* ---------------------------------------------------------------- the queue */

int loghook_shared_init(void)
{
    if (Q) return 0;
    void *m = mmap(NULL, sizeof *Q, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return WERR_IO;
    struct lq *q = m;
    pthread_mutexattr_t at;
    if (pthread_mutexattr_init(&at) != 0) goto fail;
    pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&q->mu, &at);
    pthread_mutexattr_destroy(&at);
    if (rc != 0) goto fail;
    if (sem_init(&q->ready, 1, 0) != 0) goto fail;
    Q = q;
    return 0;
fail:
    munmap(m, sizeof *Q);
    return WERR_NOMEM;
}

static int lq_lock(struct lq *q)
{
    int rc = pthread_mutex_lock(&q->mu);
    if (rc == EOWNERDEAD) {
        /* the holder died mid-copy: at worst one entry is garbled */
        pthread_mutex_consistent(&q->mu);
        rc = 0;
    }
    return rc;
}

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static int lq_push(struct lq *q, size_t hook, const char *level, const char *msg, const char *body)
{
    if (lq_lock(q) != 0) return -1;
    int rc = 0;
    if (q->count == LQ_SLOTS) {
        q->dropped++;
        rc = -1;
    } else {
        struct lq_entry *e = &q->e[(q->head + q->count) % LQ_SLOTS];
        e->hook = (uint32_t)hook;
        e->when = (int64_t)time(NULL);
        copy_str(e->level, sizeof e->level, level);
        copy_str(e->msg, sizeof e->msg, msg);
        copy_str(e->body, sizeof e->body, body);
        q->count++;
    }
    pthread_mutex_unlock(&q->mu);
    if (rc == 0) sem_post(&q->ready);
    return rc;
}

/* lq_pop: the oldest entry into *out (and the count of lines the queue
 * dropped since the last pop, added to *dropped); 0 when there was none */
static int lq_pop(struct lq *q, struct lq_entry *out, unsigned long *dropped)
{
    if (lq_lock(q) != 0) return 0;
    int got = 0;
    *dropped += (unsigned long)q->dropped;
    q->dropped = 0;
    if (q->count) {
        *out = q->e[q->head];
        q->head = (q->head + 1) % LQ_SLOTS;
        q->count--;
        got = 1;
    }
    pthread_mutex_unlock(&q->mu);
    return got;
}

/* ---------------------------------------------------------------- the mail */

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = (b->cap ? b->cap * 2 : 1024) + n;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* a header value: CR and LF folded to spaces (no header injection) */
static void sb_header_value(struct sbuf *b, const char *s)
{
    for (; *s; s++)
        sb_put(b, *s == '\r' || *s == '\n' ? " " : s, 1);
}

/* the host part of host:port ([v6]:port too) */
static void addr_host(const char *addr, char *out, size_t len)
{
    const char *colon = strrchr(addr, ':');
    size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
        addr++;
        n -= 2;
    }
    snprintf(out, len, "%.*s", (int)n, addr);
}

char *loghook_message(const struct config_loghook *h, const char *level, const char *msg,
                      const char *body, time_t when, unsigned long dropped)
{
    struct sbuf b = {0};
    char host[256], date[64], tmp[128];
    addr_host(h->addr ? h->addr : "", host, sizeof host);
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    sb_puts(&b, "To: ");
    for (size_t i = 0; i < h->nto; i++) {
        if (i) sb_puts(&b, ", ");
        sb_header_value(&b, h->to[i]);
    }
    sb_puts(&b, "\r\nFrom: ");
    sb_header_value(&b, h->from ? h->from : "");
    sb_puts(&b, "\r\nSubject: [");
    sb_header_value(&b, level);
    sb_puts(&b, "] ");
    sb_header_value(&b, host);
    sb_puts(&b, ": ");
    sb_header_value(&b, msg);
    sb_puts(&b, "\r\nDate: ");
    sb_puts(&b, date);
    sb_puts(&b, "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    for (const char *s = body; s && *s; s++) {
        if (*s == '\n')
            sb_puts(&b, "\r\n");
        else if (*s != '\r')
            sb_put(&b, s, 1);
    }
    if (dropped) {
        snprintf(tmp, sizeof tmp,
                 "\r\n(%lu earlier log lines were not mailed: queue full or rate "
                 "limit)\r\n",
                 dropped);
        sb_puts(&b, tmp);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

struct reader {
    const char *p;
    size_t left;
};

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct reader *r = ud;
    size_t n = size * nmemb;
    if (n > r->left) n = r->left;
    memcpy(buf, r->p, n);
    r->p += n;
    r->left -= n;
    return n;
}

static int is_loopback(const char *host)
{
    return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

int loghook_send(const struct config_loghook *h, const char *message, long timeout_ms, char *err,
                 size_t errlen)
{
    char url[600], host[256];
    int rc = -1;
    struct curl_slist *rcpt = NULL;
    if (curl_lazy_load(err, errlen) != 0) return -1;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    for (size_t i = 0; i < h->nto; i++) {
        struct curl_slist *n = curl_slist_append(rcpt, h->to[i]);
        if (!n) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        rcpt = n;
    }
    addr_host(h->addr, host, sizeof host);
    snprintf(url, sizeof url, "smtp://%s", h->addr);
    struct reader r = {message, strlen(message)};
    int auth = h->username && *h->username;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, h->from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &r);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    if (auth) {
        curl_easy_setopt(c, CURLOPT_USERNAME, h->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, h->password ? h->password : "");
    }
    /* Go's smtp.SendMail (the reference): STARTTLS when offered, and PLAIN
     * credentials never in clear except to loopback */
    long ssl =
        (auth && !h->insecure && !is_loopback(host)) ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY;
    curl_easy_setopt(c, CURLOPT_USE_SSL, ssl);
    if (h->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK)
        snprintf(err, errlen, "%s", curl_easy_strerror(cc));
    else
        rc = 0;
out:
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    return rc;
}

/* ---------------------------------------------------------------- firing */

static struct bucket own_buckets[LQ_HOOKS];
static unsigned long own_dropped;

/* no queue (CGI, the command line): a grandchild sends, this process only
 * waits for the child that forks it, which exits at once */
static void send_detached(const struct config_loghook *h, const char *level, const char *msg,
                          const char *body)
{
    pid_t pid = fork();
    if (pid < 0) {
        own_dropped++;
        return;
    }
    if (pid == 0) {
        if (fork() != 0) _exit(0);
        setsid();
        char *m = loghook_message(h, level, msg, body, time(NULL), own_dropped);
        char err[256];
        if (m && loghook_send(h, m, LOGHOOK_TIMEOUT_MS, err, sizeof err) != 0)
            log_warn("log hook: mail to %s failed: %s", h->addr, err);
        _exit(0);
    }
    own_dropped = 0;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

void loghook_fire(const struct config_loghook *h, size_t i, const char *level, const char *msg,
                  const char *body)
{
    if (suppressed || !h || !h->addr) return;
    if (Q) {
        lq_push(Q, i, level, msg, body);
        return;
    }
    if (!bucket_take(&own_buckets[i < LQ_HOOKS ? i : LQ_HOOKS - 1])) {
        own_dropped++;
        return;
    }
    send_detached(h, level, msg, body);
}

/* ---------------------------------------------------------------- the sender */

int loghook_sender_run(const struct config *cfg, volatile sig_atomic_t *stop)
{
    char err[256];
    loghook_suppress(1);
    if (!Q) {
        log_error("log hook: no queue (internal error)");
        return 1;
    }
    if (curl_lazy_load(err, sizeof err) != 0) {
        log_error("log hook: %s", err);
        return 1;
    }
    struct bucket buckets[LQ_HOOKS];
    memset(buckets, 0, sizeof buckets);
    unsigned long dropped = 0;
    struct lq_entry *e = malloc(sizeof *e);
    if (!e) return 1;
    while (!*stop) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 1;
        if (sem_timedwait(&Q->ready, &dl) != 0 && errno != ETIMEDOUT && errno != EINTR) break;
        while (!*stop && lq_pop(Q, e, &dropped)) {
            if (e->hook >= cfg->nlog_hooks || cfg->log_hooks[e->hook].disabled) continue;
            const struct config_loghook *h = &cfg->log_hooks[e->hook];
            if (!bucket_take(&buckets[e->hook < LQ_HOOKS ? e->hook : LQ_HOOKS - 1])) {
                dropped++;
                continue;
            }
            char *m = loghook_message(h, e->level, e->msg, e->body, (time_t)e->when, dropped);
            if (!m) {
                dropped++;
                continue;
            }
            if (loghook_send(h, m, LOGHOOK_TIMEOUT_MS, err, sizeof err) != 0) {
                log_warn("log hook: mail to %s failed: %s", h->addr, err);
                dropped++;
            } else {
                dropped = 0;
                log_debug("log hook: mailed \"[%s] %.80s\" through %s", e->level, e->msg, h->addr);
            }
            free(m);
        }
    }
    free(e);
    return 0;
}
