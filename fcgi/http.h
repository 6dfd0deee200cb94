/* http.h — the request and response types handlers see. fcgi/ fills a request
 * from FastCGI or CGI parameters and emits the response; handlers never touch
 * libfcgi, and tests build both in memory. Everything is on req->arena. */
#ifndef WHARF_HTTP_H
#define WHARF_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../lib/arena.h"

/* The transport under a request: FastCGI stream, CGI stdio, or a test buffer. */
struct http_io {
    /* param: a CGI/FastCGI parameter ("REQUEST_METHOD", "HTTP_ACCEPT", ...) or NULL. */
    const char *(*param)(void *ctx, const char *name);
    /* param_all: optional; every value of a repeated parameter (nginx before 1.23
     * sends a header that came several times as several params), at most max;
     * returns the count. */
    size_t (*param_all)(void *ctx, const char *name, const char **vals, size_t max);
    /* read: up to n body bytes; 0 at end of body; <0 on error. */
    ssize_t (*read)(void *ctx, void *buf, size_t n);
    /* write: all n bytes of response output or <0. */
    int (*write)(void *ctx, const void *buf, size_t n);
    void *ctx;
};

struct http_header {
    const char *name, *value;
};

struct request {
    struct arena *arena;
    struct http_io *io;
    const char *method;     /* "GET", ... */
    const char *path;       /* raw path of REQUEST_URI (still %-encoded), without query */
    const char *query;      /* raw query string without '?', "" when none */
    int64_t content_length; /* -1 when absent (chunked body: read to EOF) */
    int64_t body_read;      /* bytes read so far */
    const char *scheme;     /* "http" / "https" */
    const char *host;       /* Host header (with port) */
    const char *remote_addr;
    /* filled by the router */
    const char *name;    /* repository name, decoded */
    const char *ref;     /* tag, digest or upload uuid, per route */
    void *route;         /* const struct route * */
    int metrics_handler; /* enum metrics_handler the router counted it under, -1 = none */
};

enum body_kind { BODY_NONE = 0, BODY_MEM, BODY_STREAM };

/* A streamed response body: read(ctx) gives up to n bytes, 0 at the end, <0
 * on an error (the response then ends short). Whoever supplies it releases
 * what ctx holds with a cleanup on the request's arena. */
struct body_source {
    ssize_t (*read)(void *ctx, void *buf, size_t n);
    void *ctx;
};

struct response {
    int status;
    struct http_header *headers;
    size_t nheaders, cap_headers;
    enum body_kind body_kind;
    const char *body; /* BODY_MEM */
    size_t body_len;
    struct body_source stream; /* BODY_STREAM: read until its end or content_length bytes */
    int64_t content_length;    /* -1 = unknown; set with bodies, also for HEAD */
    int head_only;             /* HEAD: headers only, Content-Length kept */
    int64_t body_sent; /* body bytes written by response_send (metrics, the access log's size) */
    int64_t body_by_server; /* bytes the web server sends from a file for us
                               (X-Accel-Redirect, X-Sendfile; metrics) */
};

/* request_header: value of HTTP header name (any case, '-' allowed) or NULL. */
const char *request_header(struct request *r, const char *name);
/* request_param: raw parameter from the transport or NULL. */
const char *request_param(struct request *r, const char *name);
/* request_query: decoded value of query parameter key (first occurrence) or NULL. */
const char *request_query(struct request *r, const char *key);
/* request_read: read body bytes honouring Content-Length; 0 at end; <0 WERR_IO. */
ssize_t request_read(struct request *r, void *buf, size_t n);

void response_init(struct response *res);
/* response_header: add a header (value copied onto arena). */
void response_header(struct response *res, struct arena *a, const char *name, const char *value);
void response_headerf(struct response *res, struct arena *a, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *response_get_header(const struct response *res, const char *name);
void response_body(struct response *res, const char *body, size_t len, const char *content_type,
                   struct arena *a);

/* http_reason: reason phrase for a status ("Accepted"). */
const char *http_reason(int status);
/* response_send: write status line ("Status: 202 Accepted"), headers and body to io. */
int response_send(struct response *res, struct request *req);

#endif
