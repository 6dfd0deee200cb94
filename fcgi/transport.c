/* transport.c — FastCGI and CGI http_io implementations and the one-request
 * driver shared by the pool and CGI mode. */
#include "transport.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/metrics.h"
#include "router.h"

/* libfcgi counts in int: never ask for more than this in one call. */
#define FCGI_CHUNK_MAX (1 << 30)

static const char *fcgi_param(void *ctx, const char *name)
{
    FCGX_Request *fr = ctx;
    return FCGX_GetParam(name, fr->envp);
}

static size_t fcgi_param_all(void *ctx, const char *name, const char **vals, size_t max)
{
    FCGX_Request *fr = ctx;
    size_t nl = strlen(name), n = 0;
    for (char **e = fr->envp; e && *e && n < max; e++)
        if (strncmp(*e, name, nl) == 0 && (*e)[nl] == '=') vals[n++] = *e + nl + 1;
    return n;
}

static ssize_t fcgi_read(void *ctx, void *buf, size_t n)
{
    FCGX_Request *fr = ctx;
    if (n > FCGI_CHUNK_MAX) n = FCGI_CHUNK_MAX;
    if (n == 0) return 0;
    int got = FCGX_GetStr(buf, (int)n, fr->in);
    if (got > 0) return got;
    /* 0 is both EOF and error: the stream's error flag tells them apart. */
    if (FCGX_GetError(fr->in) != 0) return WERR_IO;
    return 0;
}

static int fcgi_write(void *ctx, const void *buf, size_t n)
{
    FCGX_Request *fr = ctx;
    const char *p = buf;
    while (n > 0) {
        int chunk = n > FCGI_CHUNK_MAX ? FCGI_CHUNK_MAX : (int)n;
        if (FCGX_PutStr(p, chunk, fr->out) != chunk) return WERR_IO;
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

void transport_fcgi_io(struct http_io *io, FCGX_Request *fr)
{
    io->param = fcgi_param;
    io->param_all = fcgi_param_all;
    io->read = fcgi_read;
    io->write = fcgi_write;
    io->ctx = fr;
}

static const char *cgi_param(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

static ssize_t cgi_read(void *ctx, void *buf, size_t n)
{
    struct cgi_io *c = ctx;
    if (c->remaining == 0 || n == 0) return 0;
    if (c->remaining > 0 && (uint64_t)c->remaining < n) n = (size_t)c->remaining;
    if (n > SSIZE_MAX) n = SSIZE_MAX;
    for (;;) {
        ssize_t got = read(c->in_fd, buf, n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return WERR_IO;
        if (got == 0) {
            c->remaining = 0; /* EOF before CONTENT_LENGTH: the caller sees short body */
            return 0;
        }
        if (c->remaining > 0) c->remaining -= got;
        return got;
    }
}

static int cgi_write(void *ctx, const void *buf, size_t n)
{
    struct cgi_io *c = ctx;
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(c->out_fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return WERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void transport_cgi_io(struct http_io *io, struct cgi_io *ctx, int in_fd, int out_fd)
{
    ctx->in_fd = in_fd;
    ctx->out_fd = out_fd;
    ctx->remaining = -1;
    const char *cl = getenv("CONTENT_LENGTH");
    if (cl && *cl) {
        char *end;
        errno = 0;
        long long v = strtoll(cl, &end, 10);
        /* A malformed length reads nothing: request_init rejects it anyway. */
        ctx->remaining = (errno || *end || v < 0) ? 0 : (int64_t)v;
    }
    io->param = cgi_param;
    io->param_all = NULL;
    io->read = cgi_read;
    io->write = cgi_write;
    io->ctx = ctx;
}

/* go_escaped: s escaped as Go's strconv.Quote would, without the quotes */
static const char *go_escaped(char *buf, size_t len, const char *s)
{
    size_t n = log_go_quote(buf, len, s ? s : "");
    if (n >= 2) {
        buf[n - 1] = 0;
        return buf + 1;
    }
    return "";
}

/* access_log: the request's line in the Combined Log Format, as the
 * reference writes it (gorilla/handlers' CombinedLoggingHandler): host - user
 * [time] "METHOD URI PROTO" status size "referer" "user-agent". The user is
 * "-" as in the reference (it reads it from the URL, never from auth); size
 * is the body bytes Wharf wrote (0 when the web server sends the file). */
static void access_log(struct request *req, const struct response *res)
{
    char when[64], uri[2048], ref[1024], ua[1024], line[4608];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
    const char *raw = request_param(req, "REQUEST_URI");
    const char *proto = request_param(req, "SERVER_PROTOCOL");
    const char *host = req->remote_addr && *req->remote_addr ? req->remote_addr : "-";
    int n = snprintf(line, sizeof line, "%s - - [%s] \"%s %s %s\" %d %lld \"%s\" \"%s\"\n", host,
                     when, req->method ? req->method : "-",
                     go_escaped(uri, sizeof uri, raw && *raw ? raw : req->path),
                     proto && *proto ? proto : "HTTP/1.1", res->status, (long long)res->body_sent,
                     go_escaped(ref, sizeof ref, request_header(req, "Referer")),
                     go_escaped(ua, sizeof ua, request_header(req, "User-Agent")));
    if (n < 0) return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    log_access_write(line, (size_t)n);
}

int transport_handle(struct app *app, struct arena *a, struct http_io *io)
{
    struct request req;
    struct response res;
    memset(&req, 0, sizeof req);
    int64_t t0 = metrics_now_ns();
    request_init(&req, a, io);
    req.metrics_handler = -1;
    response_init(&res);
    router_handle(app, &req, &res);
    int rc = response_send(&res, &req);
    if (metrics_active()) {
        int64_t in = req.body_read > 0 ? req.body_read : 0;
        int64_t out = res.body_sent + res.body_by_server;
        metrics_http_leave(req.metrics_handler, req.method, res.status, t0, in, out);
    }
    if (log_access_enabled()) access_log(&req, &res);
    return rc;
}

/* A response written without the router: configuration or start-up failure. */
static void cgi_fail(int out_fd)
{
    static const char msg[] = "Status: 500 Internal Server Error\r\n"
                              "Content-Type: application/json; charset=utf-8\r\n"
                              "Docker-Distribution-API-Version: registry/2.0\r\n"
                              "\r\n"
                              "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"unknown error\","
                              "\"detail\":\"server configuration error\"}]}\n";
    struct cgi_io c = {.out_fd = out_fd};
    (void)cgi_write(&c, msg, sizeof msg - 1);
}

int transport_cgi_main(const char *config_path, char *const *envp)
{
    struct config *cfg = NULL;
    struct app *app = NULL;
    struct arena *a = NULL;
    char err[1024];
    int status = 1;

    if (config_load(config_path, envp, &cfg, err, sizeof err) != 0) {
        log_error("cgi: configuration: %s", err);
        cgi_fail(1);
        goto out;
    }
    if (log_configure(cfg, 1) != 0)
        log_warn("cgi: cannot open log file %s, logging to stderr", cfg->log_file);
    if (app_new(cfg, &app, err, sizeof err) != 0) {
        log_error("cgi: start-up: %s", err);
        cgi_fail(1);
        goto out;
    }
    a = arena_new();
    struct cgi_io ctx;
    struct http_io io;
    transport_cgi_io(&io, &ctx, 0, 1);
    if (transport_handle(app, a, &io) != 0) {
        log_warn("cgi: response not fully written");
        goto out;
    }
    status = 0;
out:
    if (a) arena_free(a);
    if (app) app_free(app);
    if (cfg) config_free(cfg);
    return status;
}
