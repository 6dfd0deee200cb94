/* /v2/<name>/blobs/uploads/[<uuid>]: POST, PATCH, PUT, GET, DELETE */
#include "handlers.h"

#include "events.h"

#include "../lib/bodyfile.h"
#include "../lib/err.h"
#include "../lib/httprange.h"
#include "../lib/log.h"
#include "../lib/names.h"
#include "../storage/registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* The request body as registry_upload_append reads it. A failed read is
 * remembered: append then fails with WERR_IO whether the client's body broke
 * off or the storage could not take it, and only the first is the client's. */
struct body_ctx {
    struct request *req;
    int failed; /* a read of the request body failed */
};

static ssize_t body_reader(void *ctx, void *buf, size_t n)
{
    struct body_ctx *b = ctx;
    ssize_t got = request_read(b->req, buf, n);
    if (got < 0) b->failed = 1;
    return got;
}

static void upload_headers(struct app *app, struct request *req, struct response *res,
                           const struct upload *u)
{
    struct arena *a = req->arena;
    response_header(
        res, a, "Location",
        url_for_path(app, req, arena_printf(a, "/v2/%s/blobs/uploads/%s", req->name, u->uuid)));
    response_header(res, a, "Docker-Upload-UUID", u->uuid);
    response_headerf(res, a, "Range", "0-%lld", (long long)(u->offset > 0 ? u->offset - 1 : 0));
    res->content_length = 0;
}

static void blob_created(struct app *app, struct request *req, struct response *res,
                         const char *digest)
{
    res->status = 201;
    response_header(
        res, req->arena, "Location",
        url_for_path(app, req, arena_printf(req->arena, "/v2/%s/blobs/%s", req->name, digest)));
    response_header(res, req->arena, "Docker-Content-Digest", digest);
    res->content_length = 0;
}

struct pull_ctx {
    struct app *app;
    struct request *req;
};

static int may_pull_cb(void *ctx, const char *repo)
{
    struct pull_ctx *p = ctx;
    return handler_may_pull(p->app, p->req, repo);
}

static int has_body(struct request *req)
{
    return req->content_length != 0;
}

/* Free space under which a body the web server could not store is taken for
 * a full disk (when the body's own size is not known, or smaller): nginx
 * fails at a write of at most a buffer (client_body_buffer_size, 16 KiB), and
 * its partial file is still there while Wharf answers (removed when the
 * request ends), so a disk it filled shows next to nothing free. */
#define BODY_FAILED_FULL_BELOW (1024 * 1024)

/* Set while this process answers body failures for a full disk: the first is
 * logged with the free space, the next ones are not (a push of many layers
 * would repeat it for every chunk) until a body file is adopted again. As the
 * filesystem driver does for streamed bodies (fs_nospace). */
static int body_full_logged;

/* body_failed: the web server could not write the request body into its
 * file (nginx's own 500, which the snippet's error_page turns into this
 * request, body-less, with WHARF_BODY_FAILED set). Why is in the web server's
 * log, not here: statvfs of the body directory tells a full disk (507, logged
 * once with the free space) from anything else (503, logged: permissions, an
 * I/O error, a quota statvfs does not show). Nothing reached the upload. */
static void body_failed(struct app *app, struct request *req, struct response *res,
                        struct upload *u)
{
    const char *dir = app->cfg->bodydir ? app->cfg->bodydir : "(unset)";
    struct statvfs sv;
    if (app->cfg->bodydir && statvfs(dir, &sv) == 0) {
        unsigned long long avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
        unsigned long long need = req->content_length > BODY_FAILED_FULL_BELOW
                                      ? (unsigned long long)req->content_length
                                      : BODY_FAILED_FULL_BELOW;
        if (avail < need || (sv.f_files > 0 && sv.f_favail == 0)) {
            if (!__atomic_exchange_n(&body_full_logged, 1, __ATOMIC_RELAXED))
                log_error("upload %s: the web server could not store a request body of %lld "
                          "bytes: no space left in %s: %llu bytes free (%llu for unprivileged "
                          "writers) of %llu, %llu inodes free; uploads fail until space is freed",
                          u->uuid, (long long)req->content_length, dir,
                          (unsigned long long)sv.f_bfree * sv.f_frsize, avail,
                          (unsigned long long)sv.f_blocks * sv.f_frsize,
                          (unsigned long long)sv.f_favail);
            error_body_failed(req, res, 1);
            return;
        }
        log_error("upload %s: the web server could not store a request body of %lld bytes in %s "
                  "(%llu bytes free: not a full disk; see the web server's error log)",
                  u->uuid, (long long)req->content_length, dir, avail);
    } else {
        log_error("upload %s: the web server could not store a request body of %lld bytes in %s "
                  "(statvfs: %s; see the web server's error log)",
                  u->uuid, (long long)req->content_length, dir,
                  app->cfg->bodydir ? strerror(errno) : "fastcgi.uploads.bodydir unset");
    }
    error_body_failed(req, res, 0);
}

/* a body file opened before the upload's lock was taken (its hash is then
 * computed while the lock settles: registry_upload_open_for) */
struct body_file {
    int fd;
    int64_t size;
    char *real;
};

static void body_file_close(void *p)
{
    struct body_file *b = p;
    if (b->fd >= 0) close(b->fd);
    free(b->real);
}

/* append_body_file: the body as a file the web server received (issue 12),
 * max the bytes expected (-1: any). Returns 0 or it has written the error
 * reply. A path the checks refuse, or a file whose size is not the declared
 * Content-Length (nginx wrote the file only once it had exactly that many
 * bytes), is the front's or an intruder's doing, never the client's: 500 and
 * a log line saying why. A size other than Content-Range's with a chunked
 * body is the client's: 400, as when the streamed body is too short or long. */
static int append_body_file(struct app *app, struct request *req, struct response *res,
                            struct upload *u, const char *path, int64_t max,
                            const struct body_file *pre)
{
    int fd;
    int64_t size;
    char *real;
    const char *why;
    int rc = 0;
    if (pre) { /* closed by the arena */
        fd = pre->fd;
        size = pre->size;
        real = pre->real;
    } else {
        rc = bodyfile_open(app->cfg->bodydir, path, &fd, &size, &real, &why);
    }
    if (rc) {
        log_error("upload %s: body file %s refused: %s (fastcgi.uploads.bodydir %s)", u->uuid, path,
                  why ? why : werr_str(rc), app->cfg->bodydir ? app->cfg->bodydir : "unset");
        error_reply(req, res, 500, "UNKNOWN", "unknown error",
                    "the web server's request body file could not be used");
        return -1;
    }
    if (req->content_length >= 0 && size != req->content_length) {
        log_error("upload %s: body file %s holds %lld bytes, Content-Length says %lld", u->uuid,
                  real, (long long)size, (long long)req->content_length);
        error_reply(req, res, 500, "UNKNOWN", "unknown error",
                    "the web server's request body file does not match Content-Length");
        rc = -1;
    } else if (max >= 0 && size != max) {
        error_reply(req, res, 400, "SIZE_INVALID", "provided length did not match content length",
                    NULL);
        rc = -1;
    } else {
        rc = registry_upload_append_file(app->reg, req->arena, u, fd, real, size);
        if (rc) {
            error_storage(req, res, rc);
            rc = -1;
        } else {
            __atomic_store_n(&body_full_logged, 0, __ATOMIC_RELAXED);
            req->body_read = size; /* consumed, as if streamed (request size metrics) */
            log_debug("upload %s: %lld bytes from body file %s", u->uuid, (long long)size, real);
        }
    }
    if (!pre) {
        close(fd);
        free(real);
    }
    return rc;
}

/* append the request body to u, checking Content-Range against the upload's
 * offset first. Returns 0 or it has written the error reply. */
static int append_body(struct app *app, struct request *req, struct response *res, struct upload *u,
                       const struct body_file *pre)
{
    int64_t max = req->content_length >= 0 ? req->content_length : -1;
    const char *cr = request_header(req, "Content-Range");
    if (cr) {
        int64_t start, end;
        if (content_range_parse(cr, &start, &end) != 0) {
            error_reply(req, res, 400, "BLOB_UPLOAD_INVALID", "blob upload invalid",
                        "malformed Content-Range");
            return -1;
        }
        if (start != u->offset) {
            res->status = 416;
            upload_headers(app, req, res, u);
            error_reply(req, res, 416, "BLOB_UPLOAD_INVALID", "blob upload invalid",
                        "Content-Range does not start at the upload's current offset");
            return -1;
        }
        if (max >= 0 && max != end - start + 1) {
            error_reply(req, res, 400, "BLOB_UPLOAD_INVALID", "blob upload invalid",
                        "Content-Range and Content-Length disagree");
            return -1;
        }
        max = end - start + 1;
    }
    if (req->content_length == -2) {
        error_reply(req, res, 400, "SIZE_INVALID", "provided length did not match content length",
                    NULL);
        return -1;
    }
    /* the body received by the web server into a file: only when the
     * configuration says the front does that (else the parameter is ignored:
     * any other front, or a stray one, cannot make Wharf read a file) */
    if (app->cfg->bodyfiles && request_param(req, "WHARF_BODY_FAILED")) {
        /* the web server failed to receive the body (WHARF_BODY_FAILED, set
         * only by the snippet's @wharf_body_failed: no client header can) */
        body_failed(app, req, res, u);
        return -1;
    }
    const char *bf = app->cfg->bodyfiles ? request_param(req, "WHARF_BODY_FILE") : NULL;
    if (bf && *bf) return append_body_file(app, req, res, u, bf, max, pre);
    struct body_ctx body = {req, 0};
    int rc = registry_upload_append(app->reg, req->arena, u, body_reader, &body, max);
    if (rc == WERR_TOOBIG) {
        error_reply(req, res, 400, "SIZE_INVALID", "provided length did not match content length",
                    NULL);
        return -1;
    }
    if (rc && body.failed && !app->cfg->bodyfiles && request_param(req, "WHARF_BODY_FILE")) {
        /* the front keeps bodies in files (the snippet's body-file lines)
         * and sends none: a configuration mismatch, not a client's fault */
        log_error("upload %s: the web server passes request bodies as files (WHARF_BODY_FILE) "
                  "but fastcgi.uploads.bodyfiles is off: set fastcgi.uploads.bodydir to its "
                  "client_body_temp_path, or use the snippet's streaming lines",
                  u->uuid);
        error_reply(req, res, 500, "UNKNOWN", "unknown error",
                    "the web server and Wharf disagree on fastcgi.uploads.bodyfiles");
        return -1;
    }
    if (rc && body.failed && max >= 0) {
        log_warn("upload %s: body broke off at %lld bytes", u->uuid, (long long)u->offset);
        error_reply(req, res, 400, "BLOB_UPLOAD_INVALID", "blob upload invalid",
                    "the request body ended early");
        return -1;
    }
    if (rc && body.failed) {
        error_reply(req, res, 400, "BLOB_UPLOAD_INVALID", "blob upload invalid",
                    "the request body could not be read");
        return -1;
    }
    if (rc) {
        /* the storage failed to take the bytes (full, unavailable): the
         * server's error, one the client retries */
        error_storage(req, res, rc);
        return -1;
    }
    return 0;
}

static int commit(struct app *app, struct request *req, struct response *res, struct upload *u,
                  const char *digest)
{
    struct blob_desc bd;
    int rc = registry_upload_commit(app->reg, req->arena, u, digest, &bd);
    if (rc == WERR_DIGEST || rc == WERR_INVALID) {
        error_reply(req, res, 400, "DIGEST_INVALID",
                    "provided digest did not match uploaded content", digest);
        return -1;
    }
    if (rc == WERR_UNSUPPORTED) {
        error_reply(req, res, 400, "DIGEST_INVALID", "unsupported digest algorithm", digest);
        return -1;
    }
    if (rc == WERR_NOTFOUND) { /* its data went away meanwhile (purged, cancelled) */
        error_reply(req, res, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry",
                    u->uuid);
        return -1;
    }
    if (rc) {
        error_storage(req, res, rc);
        return -1;
    }
    events_blob(app, req, EVENT_PUSH, bd.digest, bd.size, NULL);
    blob_created(app, req, res, bd.digest);
    return 0;
}

static int check_digest(struct request *req, struct response *res, const char *digest)
{
    if (!digest || digest_parse(digest, NULL, NULL) != 0) {
        error_reply(req, res, 400, "DIGEST_INVALID",
                    "provided digest did not match uploaded content",
                    digest ? digest : "digest parameter missing");
        return -1;
    }
    return 0;
}

/* repositories looked at for a ?mount= without from= (each costs a link stat;
 * a blob stored nowhere costs none): anonymous mounts are a shortcut, and a
 * push that misses one just uploads */
#define MOUNT_FIND_REPOS_MAX 100

/* query_given: key is in the query string at all, even with a value that
 * request_query refuses to decode (%00, a broken escape) */
static int query_given(const struct request *req, const char *key)
{
    size_t kl = strlen(key);
    for (const char *q = req->query; q && *q;) {
        if (!strncmp(q, key, kl) && (q[kl] == '=' || q[kl] == '&' || !q[kl])) return 1;
        q = strchr(q, '&');
        if (q) q++;
    }
    return 0;
}

/* from_name_ok: `from` passes exactly the checks the router makes on a target
 * name (grammar, length, components) on its whole decoded value: a byte
 * outside the grammar (%2e%2e, %20, …) refuses it, never shortens it */
static int from_name_ok(const struct config *cfg, const char *from)
{
    return from && name_valid(from, cfg->name_max) == 0 &&
           name_components(from) <= cfg->name_components_max;
}

void h_upload_start(struct app *app, struct request *req, struct response *res)
{
    struct arena *a = req->arena;
    const char *mount = request_query(req, "mount");
    if (mount && digest_parse(mount, NULL, NULL) == 0) {
        struct blob_desc bd;
        if (query_given(req, "from")) {
            /* a mount reads `from`: its name must be valid and the caller
             * must be allowed to pull there; otherwise a plain upload session */
            const char *from = request_query(req, "from");
            if (from_name_ok(app->cfg, from) && handler_may_pull(app, req, from) &&
                registry_blob_mount(app->reg, a, req->name, from, mount, &bd) == 0) {
                events_blob(app, req, EVENT_MOUNT, bd.digest, bd.size, from);
                blob_created(app, req, res, bd.digest);
                return;
            }
        } else {
            /* ?mount= alone (spec 1.1): a repository holding the blob that the
             * caller may read, among the first MOUNT_FIND_REPOS_MAX; already
             * in req->name: nothing to do */
            const char *src = NULL;
            if (registry_blob_stat(app->reg, a, req->name, mount, &bd) == 0) {
                blob_created(app, req, res, bd.digest); /* nothing changed: no event */
                return;
            }
            if (registry_blob_find(app->reg, a, mount, req->name, may_pull_cb,
                                   &(struct pull_ctx){app, req}, MOUNT_FIND_REPOS_MAX, &src,
                                   &bd) == 0 &&
                registry_blob_mount(app->reg, a, req->name, src, mount, &bd) == 0) {
                events_blob(app, req, EVENT_MOUNT, bd.digest, bd.size, src);
                blob_created(app, req, res, bd.digest);
                return;
            }
        }
    }
    const char *digest = request_query(req, "digest");
    if (digest && check_digest(req, res, digest)) return;
    struct upload *u;
    int rc = registry_upload_start(app->reg, a, req->name, &u);
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    if (digest) {
        /* monolithic upload: POST ?digest= with the whole blob as the body */
        if (append_body(app, req, res, u, NULL) != 0) {
            registry_upload_cancel(app->reg, a, u);
            return;
        }
        commit(app, req, res, u, digest);
        return;
    }
    res->status = 202;
    upload_headers(app, req, res, u);
}

/* the request's body file opened ahead (NULL when it has none, or it is
 * refused: append_body then opens it again and says why) */
static const struct body_file *body_file_ahead(struct app *app, struct request *req)
{
    if (!app->cfg->bodyfiles || request_param(req, "WHARF_BODY_FAILED")) return NULL;
    const char *bf = request_param(req, "WHARF_BODY_FILE");
    if (!bf || !*bf) return NULL;
    struct body_file *b = arena_zalloc(req->arena, sizeof *b);
    const char *why;
    if (bodyfile_open(app->cfg->bodydir, bf, &b->fd, &b->size, &b->real, &why) != 0) return NULL;
    arena_cleanup(req->arena, body_file_close, b);
    return b;
}

static int open_upload(struct app *app, struct request *req, struct response *res, int append,
                       const struct body_file *body, const char *commit, struct upload **u)
{
    struct upload_intent in = {append, body ? body->fd : -1, body ? body->size : 0, commit};
    int rc = uuid_valid(req->ref) == 0
                 ? registry_upload_open_for(app->reg, req->arena, req->name, req->ref, &in, u)
                 : WERR_NOTFOUND;
    if (rc == WERR_NOTFOUND) {
        error_reply(req, res, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry",
                    req->ref);
        return -1;
    }
    if (rc) {
        error_storage(req, res, rc);
        return -1;
    }
    return 0;
}

void h_upload_patch(struct app *app, struct request *req, struct response *res)
{
    struct upload *u;
    const struct body_file *body = body_file_ahead(app, req);
    if (open_upload(app, req, res, 1, body, NULL, &u)) return;
    if (append_body(app, req, res, u, body) != 0) return;
    res->status = 202;
    upload_headers(app, req, res, u);
    /* free before the answer: the client's next request (the PUT) must not
     * find it still held */
    registry_upload_release(u);
}

void h_upload_put(struct app *app, struct request *req, struct response *res)
{
    const char *digest = request_query(req, "digest");
    if (check_digest(req, res, digest)) return;
    struct upload *u;
    const struct body_file *body = has_body(req) ? body_file_ahead(app, req) : NULL;
    if (open_upload(app, req, res, has_body(req), body, digest, &u)) return;
    if (has_body(req) && append_body(app, req, res, u, body) != 0) return;
    commit(app, req, res, u, digest);
}

void h_upload_status(struct app *app, struct request *req, struct response *res)
{
    struct upload *u;
    if (open_upload(app, req, res, 0, NULL, NULL, &u)) return;
    res->status = 204;
    upload_headers(app, req, res, u);
    registry_upload_release(u);
}

void h_upload_cancel(struct app *app, struct request *req, struct response *res)
{
    struct upload *u;
    if (open_upload(app, req, res, 0, NULL, NULL, &u)) return;
    int rc = registry_upload_cancel(app->reg, req->arena, u);
    if (rc) {
        error_storage(req, res, rc);
        return;
    }
    res->status = 204;
    res->content_length = 0;
}
