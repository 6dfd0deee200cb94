#include "handlers.h"

#include "../lib/err.h"
#include "../lib/log.h"

#include <json-c/json.h>
#include <string.h>

char *json_string(struct arena *a, const char *s)
{
    size_t n = strlen(s);
    char *out = arena_alloc(a, n * 6 + 3), *o = out;
    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            static const char hx[] = "0123456789abcdef";
            memcpy(o, "\\u00", 4);
            o[4] = hx[c >> 4];
            o[5] = hx[c & 15];
            o += 6;
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = 0;
    return out;
}

void error_reply(struct request *req, struct response *res, int status, const char *code,
                 const char *message, const char *detail)
{
    struct arena *a = req->arena;
    res->status = status;
    res->body_kind = BODY_NONE;
    res->stream.read = NULL;
    char *body = arena_printf(a, "{\"errors\":[{\"code\":%s,\"message\":%s,\"detail\":%s}]}\n",
                              json_string(a, code), json_string(a, message),
                              detail ? json_string(a, detail) : "null");
    response_body(res, body, strlen(body), "application/json; charset=utf-8", a);
}

void json_object_reply(struct request *req, struct response *res, int status, struct json_object *o)
{
    size_t len;
    const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    char *body = arena_printf(req->arena, "%s\n", s);
    res->status = status;
    response_header(res, req->arena, "Cache-Control", "no-store");
    response_body(res, body, len + 1, "application/json; charset=utf-8", req->arena);
    json_object_put(o);
}

/* Seconds a client is asked to wait before retrying (Retry-After): an outage
 * of the backend is often brief; a full disk needs an operator. */
#define RETRY_AFTER_UNAVAILABLE 5
#define RETRY_AFTER_NOSPACE 60

/* The one mapping from a storage code to HTTP. A failure of the backend is
 * the server's, never the client's and never a bare 500: 503 (or 507 for a
 * full store) with the reference's UNAVAILABLE error and a Retry-After, so
 * clients retry instead of blaming themselves. */
void error_storage(struct request *req, struct response *res, int werr)
{
    switch (werr) {
    case WERR_DENIED:
        error_reply(req, res, 403, "DENIED", "requested access to the resource is denied", NULL);
        return;
    case WERR_TOOBIG: error_reply(req, res, 413, "SIZE_INVALID", "content too large", NULL); return;
    case WERR_UNSUPPORTED:
        error_reply(req, res, 405, "UNSUPPORTED", "the operation is unsupported", NULL);
        return;
    case WERR_BUSY:
        /* another request holds the resource's lock (storage_lock) past the
         * wait (an upload's other request): not an outage, retry soon */
        error_reply(req, res, 503, "UNAVAILABLE", "service unavailable",
                    "another request holds this resource; retry");
        response_header(res, req->arena, "Retry-After", "1");
        return;
    case WERR_NOSPACE:
        /* the driver has logged it once, with the space left */
        error_reply(req, res, 507, "UNAVAILABLE", "insufficient storage",
                    "the registry's storage is full; retry later");
        response_headerf(res, req->arena, "Retry-After", "%d", RETRY_AFTER_NOSPACE);
        return;
    case WERR_IO:
    case WERR_NOMEM:
        log_error("%s %s: storage error: %s", req->method, req->path, werr_str(werr));
        error_reply(req, res, 503, "UNAVAILABLE", "service unavailable",
                    "the registry's storage is unavailable; retry later");
        response_headerf(res, req->arena, "Retry-After", "%d", RETRY_AFTER_UNAVAILABLE);
        return;
    default:
        /* a code no caller expected here: a bug, not an outage */
        log_error("%s %s: storage error: %s", req->method, req->path, werr_str(werr));
        error_reply(req, res, 500, "UNKNOWN", "unknown error", NULL);
    }
}

/* error_body_failed: the web server could not store a request body in its
 * file (WHARF_BODY_FAILED, issue 12); the caller has logged why. The same
 * answers as a storage failure with a streamed body: 507 when the disk is
 * full, else 503; UNAVAILABLE and a Retry-After either way, so the client
 * retries instead of taking the web server's bare 500 for its own fault. */
void error_body_failed(struct request *req, struct response *res, int nospace)
{
    if (nospace) {
        error_storage(req, res, WERR_NOSPACE);
        return;
    }
    error_reply(req, res, 503, "UNAVAILABLE", "service unavailable",
                "the web server could not store the request body; retry later");
    response_headerf(res, req->arena, "Retry-After", "%d", RETRY_AFTER_UNAVAILABLE);
}

const char *url_for_path(struct app *app, struct request *req, const char *path)
{
    if (app->cfg && app->cfg->relativeurls) return path;
    if (app->cfg && app->cfg->http_host && *app->cfg->http_host) {
        const char *h = app->cfg->http_host;
        size_t n = strlen(h);
        return arena_printf(req->arena, "%.*s%s", (int)(n && h[n - 1] == '/' ? n - 1 : n), h, path);
    }
    return arena_printf(req->arena, "%s://%s%s", req->scheme, req->host, path);
}
