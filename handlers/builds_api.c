/* builds_api.c — the builds' JSON API (builds_api.h). The workers only read
 * states and logs, queue builds and leave cancel requests: the builder
 * service (admin/builder.c) alone starts, stops and finishes builds. */
#include "builds_api.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/buildq.h"
#include "../lib/config.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "auth.h"
#include "csrf.h"
#include "handlers.h"

#define LIST_DEFAULT 50
#define LIST_MAX 500
#define POST_BODY_MAX 4096

int builds_api_match(const struct request *req)
{
    size_t n = sizeof BUILDS_API_PREFIX - 1;
    return !strncmp(req->path, BUILDS_API_PREFIX, n) && (!req->path[n] || req->path[n] == '/');
}

static void list(struct app *app, struct request *req, struct response *res)
{
    const char *ns = request_query(req, "n"), *src = request_query(req, "source");
    long n = LIST_DEFAULT;
    if (ns) {
        char *end;
        errno = 0;
        n = strtol(ns, &end, 10);
        if (!*ns || *end || errno || n < 1 || n > LIST_MAX) {
            error_reply(req, res, 400, "PAGINATION_NUMBER_INVALID",
                        "invalid number of results requested",
                        arena_printf(req->arena, "n: 1 to %d", LIST_MAX));
            return;
        }
    }
    char **ids = malloc(sizeof *ids * (src ? 100000 : (size_t)n));
    int k = ids ? buildq_list(app->cfg, ids, src ? 100000 : (size_t)n) : WERR_NOMEM;
    struct json_object *arr = json_object_new_array();
    for (int i = 0; i < k; i++) {
        struct json_object *st =
            (long)json_object_array_length(arr) < n ? buildq_read(app->cfg, ids[i]) : NULL;
        struct json_object *sv;
        if (st && src &&
            (!json_object_object_get_ex(st, "source", &sv) ||
             strcmp(json_object_get_string(sv), src) != 0)) {
            json_object_put(st);
            st = NULL;
        }
        if (st) json_object_array_add(arr, st);
        free(ids[i]);
    }
    free(ids);
    if (k < 0) {
        json_object_put(arr);
        error_reply(req, res, 500, "UNKNOWN", "cannot list the builds", werr_str(k));
        return;
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "builds", arr);
    json_object_reply(req, res, 200, o);
}

static void show_log(struct app *app, struct request *req, struct response *res, const char *id)
{
    char p[4096];
    if (buildq_path(app->cfg, p, sizeof p, "builds", id, "log")) {
        error_reply(req, res, 404, "UNSUPPORTED", "no such build", id);
        return;
    }
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        struct json_object *b = buildq_read(app->cfg, id);
        if (!b) {
            error_reply(req, res, 404, "UNSUPPORTED", "no such build", id);
            return;
        }
        json_object_put(b);
        response_body(res, "", 0, "text/plain; charset=utf-8", req->arena); /* queued: no log yet */
        return;
    }
    off_t from = st.st_size > BUILDS_LOG_MAX ? st.st_size - BUILDS_LOG_MAX : 0;
    size_t want = (size_t)(st.st_size - from), got = 0;
    char *buf = arena_alloc(req->arena, want + 1);
    while (got < want) {
        ssize_t r = pread(fd, buf + got, want - got, from + (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (from) response_header(res, req->arena, "X-Wharf-Log-Truncated", "true");
    response_header(res, req->arena, "Cache-Control", "no-store");
    response_body(res, buf, got, "text/plain; charset=utf-8", req->arena);
}

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static void build_now(struct app *app, struct request *req, struct response *res)
{
    char body[POST_BODY_MAX + 1];
    size_t len = 0;
    for (;;) {
        ssize_t r = request_read(req, body + len, POST_BODY_MAX - len);
        if (r < 0) {
            error_reply(req, res, 400, "UNKNOWN", "could not read the body", NULL);
            return;
        }
        if (r == 0) break;
        len += (size_t)r;
        if (len == POST_BODY_MAX) {
            error_reply(req, res, 413, "SIZE_INVALID", "body too large", NULL);
            return;
        }
    }
    body[len] = 0;
    struct json_object *in = json_tokener_parse(body);
    const char *src = jstr(in, "source"), *branch = jstr(in, "branch"), *tag = jstr(in, "tag");
    const char *ref = jstr(in, "ref"), *commit = jstr(in, "commit");
    const struct config_build_source *s = config_build_source(app->cfg, src);
    const char *why = NULL;
    if (!in || !json_object_is_type(in, json_type_object))
        why = "expected {\"source\": name, \"branch\" | \"tag\" | \"ref\": name}";
    else if (!s)
        why = "source: not in builds.sources";
    else if (!!branch + !!tag + !!ref > 1)
        why = "one of branch, tag or ref";
    if (!why && !branch && !tag && !ref) {
        /* the first branch rule's branch */
        for (size_t i = 0; i < s->nrules && !branch; i++)
            branch = s->rules[i].branch;
        if (!branch) why = "branch or tag: required (the source has no branch rule)";
    }
    if (!why) {
        ref = ref ? arena_strdup(req->arena, ref)
                  : arena_printf(req->arena, "refs/%s/%s", branch ? "heads" : "tags",
                                 branch ? branch : tag);
        for (const char *c = ref; *c; c++)
            if ((unsigned char)*c <= ' ' || strchr("~^:?*[\\", *c)) why = "invalid ref";
        if (strstr(ref, "..")) why = "invalid ref";
        if (commit && (strlen(commit) < 7 || strlen(commit) > 64 ||
                       strspn(commit, "0123456789abcdef") != strlen(commit)))
            why = "commit: a hex commit id";
    }
    if (why) {
        json_object_put(in);
        error_reply(req, res, 400, "UNKNOWN", "invalid build request", why);
        return;
    }
    const char *user = auth_user(req);
    char id[BUILDQ_ID_MAX];
    int rc = buildq_enqueue(
        app->cfg, s, ref, commit,
        arena_printf(req->arena, "manual%s%s", user ? " by " : "", user ? user : ""), NULL, id);
    json_object_put(in);
    if (rc == WERR_INVALID) {
        error_reply(req, res, 400, "UNKNOWN", "invalid build request",
                    arena_printf(req->arena, "no rule of source %s builds %s", s->name, ref));
        return;
    }
    if (rc) {
        error_reply(req, res, 500, "UNKNOWN", "the build queue is not writable", werr_str(rc));
        return;
    }
    log_info("builds: source %s: %s queued as build %s by hand%s%s", s->name, ref, id,
             user ? " by " : "", user ? user : "");
    struct json_object *st = buildq_read(app->cfg, id);
    json_object_reply(req, res, 202, st ? st : json_object_new_object());
}

static void cancel(struct app *app, struct request *req, struct response *res, const char *id)
{
    struct json_object *st = buildq_read(app->cfg, id);
    if (!st) {
        error_reply(req, res, 404, "UNSUPPORTED", "no such build", id);
        return;
    }
    const char *status = jstr(st, "status");
    if (!status || (strcmp(status, BUILDQ_QUEUED) && strcmp(status, BUILDQ_RUNNING))) {
        json_object_put(st);
        error_reply(req, res, 409, "UNSUPPORTED", "the build is finished", status);
        return;
    }
    char p[4096];
    int fd = -1;
    if (!buildq_path(app->cfg, p, sizeof p, "builds", id, "cancel"))
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        json_object_put(st);
        error_reply(req, res, 500, "UNKNOWN", "cannot cancel the build", NULL);
        return;
    }
    close(fd);
    log_info("builds: build %s: cancel asked", id);
    json_object_reply(req, res, 202, st);
}

void builds_api_handle(struct app *app, struct request *req, struct response *res)
{
    const struct config *cfg = app->cfg;
    const char *rest = req->path + sizeof BUILDS_API_PREFIX - 1;
    if (*rest == '/') rest++;
    const char *id = NULL, *sub = NULL;
    char idbuf[BUILDQ_ID_MAX];
    if (*rest) {
        const char *slash = strchr(rest, '/');
        size_t il = slash ? (size_t)(slash - rest) : strlen(rest);
        if (il >= sizeof idbuf) il = sizeof idbuf - 1;
        memcpy(idbuf, rest, il);
        idbuf[il] = 0;
        id = idbuf;
        sub = slash ? slash + 1 : "";
        if (!buildq_id_valid(id) ||
            (strcmp(sub, "") && strcmp(sub, "log") && strcmp(sub, "cancel"))) {
            error_reply(req, res, 404, "UNSUPPORTED", "the operation is unsupported",
                        "no such endpoint");
            return;
        }
    }
    int post = !strcmp(req->method, "POST");
    const char *allow = !id ? "GET, POST" : !strcmp(sub, "cancel") ? "POST" : "GET";
    int get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    if (!((post && strstr(allow, "POST")) || (get && strstr(allow, "GET")))) {
        response_header(res, req->arena, "Allow", allow);
        error_reply(req, res, 405, "UNSUPPORTED", "the operation is unsupported",
                    arena_printf(req->arena, "method %s not allowed here", req->method));
        return;
    }
    if (!config_builds_active(cfg)) {
        error_reply(req, res, 404, "UNSUPPORTED", "the operation is unsupported",
                    "builds are not configured (builds.sources)");
        return;
    }
    if (auth_request(app, req, res, AUTH_ACT_ADMIN) != 0) return;
    if (post && csrf_refused(app, req, res, 1)) return;
    if (!id) {
        if (post)
            build_now(app, req, res);
        else
            list(app, req, res);
        return;
    }
    if (!strcmp(sub, "cancel")) {
        cancel(app, req, res, id);
        return;
    }
    if (!strcmp(sub, "log")) {
        show_log(app, req, res, id);
        return;
    }
    struct json_object *st = buildq_read(cfg, id);
    if (!st) {
        error_reply(req, res, 404, "UNSUPPORTED", "no such build", id);
        return;
    }
    json_object_reply(req, res, 200, st);
}
