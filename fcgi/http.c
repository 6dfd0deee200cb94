#include "http.h"
#include "router.h"

#include "../lib/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS 64

const char *request_param(struct request *r, const char *name)
{
    return r->io->param(r->io->ctx, name);
}

const char *request_header(struct request *r, const char *name)
{
    char key[128];
    size_t n = strlen(name), o = 0;
    if (n + 6 > sizeof key) return NULL;
    if (strcasecmp(name, "Content-Type") != 0 && strcasecmp(name, "Content-Length") != 0) {
        memcpy(key, "HTTP_", 5);
        o = 5;
    }
    for (size_t i = 0; i < n; i++)
        key[o++] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
    key[o] = 0;
    if (o > 5 && r->io->param_all) {
        const char *vals[16];
        size_t nv = r->io->param_all(r->io->ctx, key, vals, 16);
        if (nv > 1) {
            /* a repeated header is one comma-separated list (RFC 9110 5.3) */
            struct buf *b = buf_arena_new(r->arena, 65536);
            for (size_t i = 0; i < nv; i++)
                if (buf_printf(b, "%s%s", i ? ", " : "", vals[i]) != 0) break;
            return b->data;
        }
    }
    return request_param(r, key);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* url_decode: %XX and '+' (query) decoding; NULL when an escape is malformed
 * or decodes to NUL. */
static char *url_decode(struct arena *a, const char *s, size_t n, int plus)
{
    char *out = arena_alloc(a, n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n) return NULL;
            int h = hexval((unsigned char)s[i + 1]);
            int l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) return NULL;
            *o++ = (char)(h * 16 + l);
            i += 2;
        } else if (plus && s[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = 0;
    return out;
}

const char *request_query(struct request *r, const char *key)
{
    const char *q = r->query;
    size_t kl = strlen(key);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t nl = eq ? (size_t)(eq - q) : len;
        char *name = url_decode(r->arena, q, nl, 1);
        if (name && strlen(name) == kl && memcmp(name, key, kl) == 0) {
            if (!eq) return "";
            return url_decode(r->arena, eq + 1, len - nl - 1, 1);
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

void request_init(struct request *req, struct arena *a, struct http_io *io)
{
    memset(req, 0, sizeof(*req));
    req->arena = a;
    req->io = io;
    const char *m = request_param(req, "REQUEST_METHOD");
    req->method = m ? m : "GET";
    const char *uri = request_param(req, "REQUEST_URI");
    if (!uri || !*uri) uri = "/";
    const char *qm = strchr(uri, '?');
    if (qm) {
        req->path = arena_strndup(a, uri, (size_t)(qm - uri));
        req->query = qm + 1;
    } else {
        req->path = uri;
        const char *qs = request_param(req, "QUERY_STRING");
        req->query = qs ? qs : "";
    }
    const char *cl = request_param(req, "CONTENT_LENGTH");
    if (cl && *cl) {
        char *end;
        errno = 0;
        long long v = strtoll(cl, &end, 10);
        req->content_length = (errno || *end || v < 0) ? -2 : v;
    } else {
        const char *te = request_param(req, "HTTP_TRANSFER_ENCODING");
        req->content_length = (te && strcasestr(te, "chunked")) ? -1 : 0;
    }
    const char *scheme = request_param(req, "REQUEST_SCHEME");
    const char *https = request_param(req, "HTTPS");
    const char *fwd = request_param(req, "HTTP_X_FORWARDED_PROTO");
    if (fwd && (!strcmp(fwd, "https") || !strcmp(fwd, "http")))
        req->scheme = fwd;
    else if (scheme && *scheme)
        req->scheme = scheme;
    else
        req->scheme =
            (https && (!strcasecmp(https, "on") || !strcmp(https, "1"))) ? "https" : "http";
    const char *host = request_param(req, "HTTP_HOST");
    if (!host || !*host) {
        const char *sn = request_param(req, "SERVER_NAME"), *sp = request_param(req, "SERVER_PORT");
        host = arena_printf(a, "%s%s%s", sn ? sn : "localhost", sp ? ":" : "", sp ? sp : "");
    }
    req->host = host;
    const char *ra = request_param(req, "REMOTE_ADDR");
    req->remote_addr = ra ? ra : "-";
}

ssize_t request_read(struct request *r, void *buf, size_t n)
{
    if (r->content_length >= 0) {
        int64_t left = r->content_length - r->body_read;
        if (left <= 0) return 0;
        if ((int64_t)n > left) n = (size_t)left;
    }
    ssize_t got = r->io->read(r->io->ctx, buf, n);
    if (got < 0) return WERR_IO;
    if (got == 0 && r->content_length >= 0 && r->body_read < r->content_length)
        return WERR_IO; /* body ended before its announced length */
    r->body_read += got;
    return got;
}

void response_init(struct response *res)
{
    memset(res, 0, sizeof(*res));
    res->status = 200;
    res->content_length = -1;
}

void response_header(struct response *res, struct arena *a, const char *name, const char *value)
{
    if (res->nheaders == res->cap_headers) {
        size_t nc = res->cap_headers ? res->cap_headers * 2 : 16;
        struct http_header *nh = arena_alloc(a, nc * sizeof(*nh));
        if (res->nheaders) memcpy(nh, res->headers, res->nheaders * sizeof(*nh));
        res->headers = nh;
        res->cap_headers = nc;
    }
    res->headers[res->nheaders].name = name;
    res->headers[res->nheaders].value = arena_strdup(a, value);
    res->nheaders++;
}

void response_headerf(struct response *res, struct arena *a, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *v = arena_vprintf(a, fmt, ap);
    va_end(ap);
    response_header(res, a, name, v);
}

const char *response_get_header(const struct response *res, const char *name)
{
    for (size_t i = 0; i < res->nheaders; i++)
        if (strcasecmp(res->headers[i].name, name) == 0) return res->headers[i].value;
    return NULL;
}

void response_body(struct response *res, const char *body, size_t len, const char *content_type,
                   struct arena *a)
{
    res->body_kind = BODY_MEM;
    res->body = body;
    res->body_len = len;
    res->content_length = (int64_t)len;
    if (content_type) response_header(res, a, "Content-Type", content_type);
}

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    }
    return "Unknown";
}

int response_send(struct response *res, struct request *req)
{
    struct buf h;
    buf_init(&h, 0);
    int rc = 0;
    buf_printf(&h, "Status: %d %s\r\n", res->status, http_reason(res->status));
    for (size_t i = 0; i < res->nheaders; i++) {
        /* header values never carry CR/LF: they are built by us, but be strict */
        const char *v = res->headers[i].value;
        if (strpbrk(v, "\r\n")) continue;
        buf_printf(&h, "%s: %s\r\n", res->headers[i].name, v);
    }
    if (res->content_length >= 0 && !response_get_header(res, "Content-Length"))
        buf_printf(&h, "Content-Length: %lld\r\n", (long long)res->content_length);
    buf_puts(&h, "\r\n");
    int head = res->head_only || strcmp(req->method, "HEAD") == 0;
    if (!head && res->body_kind == BODY_MEM && res->body_len && res->body_len < 65536) {
        buf_append(&h, res->body, res->body_len);
        rc = req->io->write(req->io->ctx, h.data, h.len);
        buf_free(&h);
        if (rc >= 0) res->body_sent = (int64_t)res->body_len;
        return rc < 0 ? WERR_IO : 0;
    }
    rc = req->io->write(req->io->ctx, h.data, h.len);
    buf_free(&h);
    if (rc < 0) return WERR_IO;
    if (head) return 0;
    if (res->body_kind == BODY_MEM && res->body_len) {
        if (req->io->write(req->io->ctx, res->body, res->body_len) < 0) return WERR_IO;
        res->body_sent = (int64_t)res->body_len;
    } else if (res->body_kind == BODY_STREAM && res->stream.read) {
        size_t bufsz = 256 * 1024;
        char *b = malloc(bufsz);
        if (!b) return WERR_NOMEM;
        int64_t left = res->content_length;
        for (;;) {
            size_t want = bufsz;
            if (left >= 0 && (int64_t)want > left) want = (size_t)left;
            if (want == 0) break;
            ssize_t n = res->stream.read(res->stream.ctx, b, want);
            if (n <= 0) {
                if (n < 0) rc = WERR_IO;
                break;
            }
            if (req->io->write(req->io->ctx, b, (size_t)n) < 0) {
                rc = WERR_IO;
                break;
            }
            res->body_sent += n;
            if (left >= 0) left -= n;
        }
        free(b);
    }
    return rc;
}
