/* debug.c — the debug server (debug.h).
 *
 * One process (a persistent row of admin/services.c) with its own TCP
 * listener on http.debug.addr, like the reference's debug server: it is
 * not behind nginx or Apache, so the public site never reaches it unless
 * an operator proxies it on purpose (the shipped configurations do not).
 *
 * A deliberately small HTTP/1.1 server: GET and HEAD, one request per
 * connection (Connection: close), up to DEBUG_CONNS connections at once
 * multiplexed with poll(). A request head is at most DEBUG_HEAD_MAX bytes
 * (else 431) and must arrive within DEBUG_READ_MS (else the connection is
 * closed), and a response must be taken within DEBUG_WRITE_MS: a stalled
 * or slow client holds one slot for a few seconds, never the server. A
 * body sent with the request is not read (none of the pages takes one).
 *
 * The pages read lib/metrics.h's shared tables and the pool's scoreboard
 * (fcgi/pool.h): both are mapped before the master forks this child. To add
 * a page, add a row to pages[]. */
#include "debug.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../fcgi/pool.h"
#include "../fcgi/scoreboard.h"
#include "../lib/arena.h"
#include "../lib/config.h"
#include "../lib/health.h"
#include "../lib/log.h"
#include "../lib/metrics.h"

#ifndef WHARF_VERSION
#define WHARF_VERSION "0.1.0" /* as admin/main.c */
#endif

#define DEBUG_CONNS 16
#define DEBUG_HEAD_MAX 8192
#define DEBUG_READ_MS 5000
#define DEBUG_WRITE_MS 10000

/* ---------------------------------------------------------------- pages */

struct page_out {
    int status;
    const char *ctype;
    FILE *body; /* a memstream */
};

static void pool_view(struct metrics_pool *p, struct sb_counts *c)
{
    memset(p, 0, sizeof *p);
    memset(c, 0, sizeof *c);
    const struct scoreboard *sb = pool_scoreboard();
    if (!sb) return;
    struct sb_pool_view v;
    scoreboard_count(sb, 0, 1, scoreboard_now_ms(), c);
    scoreboard_pool_read(sb, &v);
    p->known = 1;
    p->busy = c->busy;
    p->idle = c->idle;
    p->starting = c->starting;
    p->queued = v.queued;
    p->min = v.min;
    p->max = v.max;
}

static time_t started;

static void page_vars(const struct config *cfg, struct page_out *o)
{
    struct metrics_pool p;
    struct sb_counts c;
    pool_view(&p, &c);
    o->ctype = "application/json; charset=utf-8";
    fprintf(o->body,
            "{\"wharf\":{\"version\":\"%s\",\"pid\":%ld,\"uptime_seconds\":%lld},"
            "\"pool\":",
            WHARF_VERSION, (long)getppid(), (long long)(time(NULL) - started));
    if (p.known)
        fprintf(o->body,
                "{\"busy\":%u,\"idle\":%u,\"starting\":%u,\"queued\":%u,\"min\":%u,\"max\":%u,"
                "\"longest_busy_ms\":%lld}",
                p.busy, p.idle, p.starting, p.queued, p.min, p.max, (long long)c.longest_busy_ms);
    else
        fputs("null", o->body);
    fputs(",\"registry\":{", o->body);
    metrics_write_vars_json(o->body);
    fprintf(o->body, "},\"prometheus\":%s}\n", cfg->debug_prom_enabled ? "true" : "false");
}

static void page_metrics(const struct config *cfg, struct page_out *o)
{
    struct metrics_pool p;
    struct sb_counts c;
    pool_view(&p, &c);
    o->ctype = "text/plain; version=0.0.4; charset=utf-8";
    metrics_write_prometheus(o->body, &p);
}

/* the reference's /debug/health: {} and 200 while every check passes, else
 * {"check":"error",...} and 503 (lib/health.h) */
static void page_health(const struct config *cfg, struct page_out *o)
{
    struct arena *a = arena_new();
    if (!a) {
        o->status = 500;
        return;
    }
    o->ctype = "application/json; charset=utf-8";
    fputs(health_report(a, &o->status), o->body);
    arena_free(a);
}

struct page {
    const char *path; /* NULL: http.debug.prometheus.path */
    void (*fn)(const struct config *cfg, struct page_out *o);
};

static const struct page pages[] = {
    {"/debug/vars", page_vars},
    {"/debug/health", page_health},
    {NULL, page_metrics},
};

/* ---------------------------------------------------------------- HTTP */

int debug_parse_request(const char *buf, size_t len, char *method, size_t mcap, char *path,
                        size_t pcap)
{
    const char *end = memchr(buf, '\n', len);
    if (!end) return -1;
    size_t ll = (size_t)(end - buf);
    if (ll && buf[ll - 1] == '\r') ll--;
    const char *sp1 = memchr(buf, ' ', ll);
    if (!sp1 || sp1 == buf || (size_t)(sp1 - buf) >= mcap) return -1;
    const char *t = sp1 + 1;
    const char *sp2 = memchr(t, ' ', ll - (size_t)(t - buf));
    if (!sp2 || sp2 == t || *t != '/') return -1;
    if (ll - (size_t)(sp2 + 1 - buf) < 8 || memcmp(sp2 + 1, "HTTP/1.", 7)) return -1;
    size_t tl = (size_t)(sp2 - t);
    const char *q = memchr(t, '?', tl);
    if (q) tl = (size_t)(q - t);
    if (tl >= pcap) return -1;
    memcpy(method, buf, (size_t)(sp1 - buf));
    method[sp1 - buf] = 0;
    memcpy(path, t, tl);
    path[tl] = 0;
    return 0;
}

static const char *reason(int st)
{
    switch (st) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    case 431: return "Request Header Fields Too Large";
    default: return "Internal Server Error";
    }
}

struct conn {
    int fd;
    char in[DEBUG_HEAD_MAX];
    size_t inlen;
    char *out; /* the whole response */
    size_t outlen, outoff;
    int64_t deadline_ms;
};

/* respond: build the whole response for the request in c->in into c->out */
static void respond(const struct config *cfg, struct conn *c, int status_hint)
{
    char method[16], path[512];
    struct page_out o = {.status = 200, .ctype = "text/plain; charset=utf-8"};
    char *body = NULL;
    size_t blen = 0;
    int head = 0;
    o.body = open_memstream(&body, &blen);
    if (!o.body) goto fail;
    if (status_hint) {
        o.status = status_hint;
    } else if (debug_parse_request(c->in, c->inlen, method, sizeof method, path, sizeof path)) {
        o.status = 400;
    } else if (strcmp(method, "GET") && !(head = !strcmp(method, "HEAD"))) {
        o.status = 405;
    } else {
        const struct page *pg = NULL;
        for (size_t i = 0; i < sizeof pages / sizeof pages[0] && !pg; i++) {
            const char *p = pages[i].path;
            if (!p) p = cfg->debug_prom_enabled ? cfg->debug_prom_path : NULL;
            if (p && !strcmp(p, path)) pg = &pages[i];
        }
        if (pg)
            pg->fn(cfg, &o);
        else
            o.status = 404;
    }
    if (o.status != 200 && o.status != 503) fprintf(o.body, "%d %s\n", o.status, reason(o.status));
    if (fclose(o.body) != 0) goto fail;
    FILE *r = open_memstream(&c->out, &c->outlen);
    if (!r) goto fail;
    fprintf(r,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
            o.status, reason(o.status), o.ctype, blen,
            o.status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (!head) fwrite(body, 1, blen, r);
    if (fclose(r) != 0) {
        free(c->out);
        c->out = NULL;
        goto fail;
    }
    free(body);
    return;
fail:
    free(body);
    c->out = NULL; /* closed without an answer */
}

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ms(void)
{
    return scoreboard_now_ms();
}

static int listen_on(const char *addr)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host) return -1;
    memcpy(host, addr, hl);
    host[hl] = 0;
    char *h = host;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h[hl - 1] = 0;
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int e = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res);
    if (e) {
        log_error("debug server: %s: %s", addr, gai_strerror(e));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
            log_error("debug server: cannot listen on %s: %s", addr, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) close(c->fd);
    free(c->out);
    c->fd = -1;
    c->out = NULL;
    c->inlen = c->outlen = c->outoff = 0;
}

/* on_readable: take what arrived; a complete head (or a refusal) becomes the
 * response to write */
static void on_readable(const struct config *cfg, struct conn *c)
{
    ssize_t n = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    size_t from = c->inlen > 3 ? c->inlen - 3 : 0;
    c->inlen += (size_t)n;
    int done = 0;
    for (size_t i = from; i + 1 < c->inlen && !done; i++) /* "\n\n" or "\n\r\n" */
        done = c->in[i] == '\n' &&
               (c->in[i + 1] == '\n' ||
                (i + 2 < c->inlen && c->in[i + 1] == '\r' && c->in[i + 2] == '\n'));
    if (!done && c->inlen < sizeof c->in) return;
    respond(cfg, c, done ? 0 : 431);
    if (!c->out) {
        conn_close(c);
        return;
    }
    c->deadline_ms = now_ms() + DEBUG_WRITE_MS;
}

static void on_writable(struct conn *c)
{
    ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->outoff += (size_t)n;
    if (c->outoff == c->outlen) {
        shutdown(c->fd, SHUT_WR);
        conn_close(c);
    }
}

int debug_enabled(const struct config *cfg, const void *ctx)
{
    (void)ctx;
    return cfg->debug_addr != NULL;
}

int debug_run(const struct config *cfg, const void *ctx)
{
    (void)ctx;
    started = time(NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int lfd = listen_on(cfg->debug_addr);
    if (lfd < 0) return 1;
    log_info("debug server: listening on %s%s%s", cfg->debug_addr,
             cfg->debug_prom_enabled ? ", metrics at " : "",
             cfg->debug_prom_enabled ? cfg->debug_prom_path : "");
    static struct conn conns[DEBUG_CONNS];
    for (int i = 0; i < DEBUG_CONNS; i++)
        conns[i].fd = -1;
    while (!stop) {
        struct pollfd pf[DEBUG_CONNS + 1];
        int map[DEBUG_CONNS + 1];
        nfds_t n = 0;
        int64_t now = now_ms(), next = now + 60000;
        int free_slot = 0;
        for (int i = 0; i < DEBUG_CONNS; i++) {
            struct conn *c = &conns[i];
            if (c->fd < 0) {
                free_slot = 1;
                continue;
            }
            if (now >= c->deadline_ms) { /* a stalled client: its slot back */
                conn_close(c);
                free_slot = 1;
                continue;
            }
            if (c->deadline_ms < next) next = c->deadline_ms;
            pf[n].fd = c->fd;
            pf[n].events = c->out ? POLLOUT : POLLIN;
            pf[n].revents = 0;
            map[n++] = i;
        }
        if (free_slot) { /* full: new connections wait in the backlog */
            pf[n].fd = lfd;
            pf[n].events = POLLIN;
            pf[n].revents = 0;
            map[n++] = -1;
        }
        int r = poll(pf, n, (int)(next - now));
        if (r < 0) {
            if (errno == EINTR) continue;
            log_error("debug server: poll: %s", strerror(errno));
            break;
        }
        for (nfds_t k = 0; k < n; k++) {
            if (!pf[k].revents) continue;
            if (map[k] < 0) {
                for (int i = 0; i < DEBUG_CONNS; i++) {
                    if (conns[i].fd >= 0) continue;
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    conns[i].fd = fd;
                    conns[i].inlen = 0;
                    conns[i].deadline_ms = now_ms() + DEBUG_READ_MS;
                }
                continue;
            }
            struct conn *c = &conns[map[k]];
            if (c->fd != pf[k].fd) continue;
            if (c->out)
                on_writable(c);
            else if (pf[k].revents & (POLLIN | POLLHUP | POLLERR))
                on_readable(cfg, c);
        }
    }
    for (int i = 0; i < DEBUG_CONNS; i++)
        conn_close(&conns[i]);
    close(lfd);
    return 0;
}
