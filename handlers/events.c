/* events.c — the notifications' events (events.h), built as the reference
 * registry 2.8.2 builds them (notifications/bridge.go, event.go) and
 * appended to the journal (lib/evqueue.h) before the response goes out.
 *
 * Field by field, what the reference does and what is kept here:
 * - id: a random UUID per event; timestamp: time.Time's JSON, RFC 3339 with
 *   nanoseconds (trailing zeros dropped), in UTC.
 * - target: the descriptor (mediaType, size, digest), length (= size),
 *   repository, fromRepository (mounts), url (http.host / relativeurls as
 *   for Location), tag (the request's tag, if any), references (when
 *   notifications.events.includereferences). Blobs' mediaType is
 *   application/octet-stream, as the reference's blob statter says; a
 *   manifest's is its own (manifest_media_type). Deletes carry only digest
 *   (or tag) and repository; zero values are omitted (Go's omitempty).
 * - request: id (one UUID per request), addr (X-Forwarded-For's first
 *   address, X-Real-Ip, else the peer's address:port, as the reference's
 *   RemoteAddr), host, method, useragent. id, method and useragent are
 *   always present (no omitempty in the reference).
 * - actor: {name} of the authenticated caller, {} when anonymous (always present).
 * - source: addr (this host's name and the port of http.addr, else of the
 *   front that took the request), instanceID (one UUID per pool: see
 *   instance_id()).
 *
 * Durability: pushes, mounts and deletes are fdatasync'ed when
 * notifications.queue.fsync is on (the default), so an event whose request
 * answered survives a crash; pulls are appended without fdatasync (they
 * change nothing, and a sync per GET would cost every pull a disk flush): a
 * power loss may lose the last pulls' events, never a process crash. */
#include "events.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../lib/err.h"
#include "../lib/evqueue.h"
#include "../lib/log.h"
#include "../storage/manifest.h"
#include "auth.h"
#include "handlers.h"

#define BLOB_MEDIA_TYPE "application/octet-stream"

static void uuid_text(const unsigned char b[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static void uuid_random(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* never blocks after boot; a failure still gives unique-enough ids */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long x =
            (unsigned long long)ts.tv_nsec ^ ((unsigned long long)getpid() << 32);
        memcpy(b, &x, 8);
        memcpy(b + 8, &ts.tv_sec, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    uuid_text(b, out);
}

char *event_timestamp(struct arena *a)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32], frac[16] = "";
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ts.tv_nsec) {
        snprintf(frac, sizeof frac, ".%09ld", ts.tv_nsec);
        size_t n = strlen(frac);
        while (frac[n - 1] == '0')
            frac[--n] = 0;
    }
    return arena_printf(a, "%s%sZ", base, frac);
}

/* ---- the JSON ------------------------------------------------------------- */

static void put_str(struct buf *b, struct arena *a, int *first, const char *key, const char *v)
{
    buf_printf(b, "%s\"%s\":%s", *first ? "" : ",", key, json_string(a, v ? v : ""));
    *first = 0;
}

static void opt_str(struct buf *b, struct arena *a, int *first, const char *key, const char *v)
{
    if (v && *v) put_str(b, a, first, key, v);
}

char *event_json(struct arena *a, const struct event *ev, size_t *len)
{
    struct buf *b = buf_arena_new(a, 0);
    int f = 1;
    buf_puts(b, "{");
    opt_str(b, a, &f, "id", ev->id);
    opt_str(b, a, &f, "timestamp", ev->timestamp);
    opt_str(b, a, &f, "action", ev->action);
    buf_puts(b, ",\"target\":{");
    f = 1;
    opt_str(b, a, &f, "mediaType", ev->media_type);
    if (ev->size > 0) {
        buf_printf(b, "%s\"size\":%lld", f ? "" : ",", (long long)ev->size);
        f = 0;
    }
    opt_str(b, a, &f, "digest", ev->digest);
    if (ev->size > 0) {
        buf_printf(b, "%s\"length\":%lld", f ? "" : ",", (long long)ev->size);
        f = 0;
    }
    opt_str(b, a, &f, "repository", ev->repository);
    opt_str(b, a, &f, "fromRepository", ev->from_repository);
    opt_str(b, a, &f, "url", ev->url);
    opt_str(b, a, &f, "tag", ev->tag);
    if (ev->references) {
        buf_printf(b, "%s\"references\":%s", f ? "" : ",", ev->references);
        f = 0;
    }
    buf_puts(b, "},\"request\":{");
    f = 1;
    put_str(b, a, &f, "id", ev->req_id);
    opt_str(b, a, &f, "addr", ev->req_addr);
    opt_str(b, a, &f, "host", ev->req_host);
    put_str(b, a, &f, "method", ev->req_method);
    put_str(b, a, &f, "useragent", ev->req_useragent);
    buf_puts(b, "},\"actor\":{");
    f = 1;
    opt_str(b, a, &f, "name", ev->actor);
    buf_puts(b, "},\"source\":{");
    f = 1;
    opt_str(b, a, &f, "addr", ev->src_addr);
    opt_str(b, a, &f, "instanceID", ev->src_instance);
    buf_puts(b, "}}");
    *len = b->len;
    return b->data;
}

static int key_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* one descriptor as distribution.Descriptor marshals it */
static void put_descriptor(struct buf *b, struct arena *a, struct json_object *d)
{
    struct json_object *v;
    int f = 1;
    buf_puts(b, "{");
    if (json_object_object_get_ex(d, "mediaType", &v) && json_object_is_type(v, json_type_string))
        opt_str(b, a, &f, "mediaType", json_object_get_string(v));
    if (json_object_object_get_ex(d, "size", &v) && json_object_is_type(v, json_type_int) &&
        json_object_get_int64(v) != 0) {
        buf_printf(b, "%s\"size\":%lld", f ? "" : ",", (long long)json_object_get_int64(v));
        f = 0;
    }
    if (json_object_object_get_ex(d, "digest", &v) && json_object_is_type(v, json_type_string))
        opt_str(b, a, &f, "digest", json_object_get_string(v));
    if (json_object_object_get_ex(d, "urls", &v) && json_object_is_type(v, json_type_array) &&
        json_object_array_length(v) > 0) {
        buf_printf(b, "%s\"urls\":[", f ? "" : ",");
        f = 0;
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            const char *u = json_object_get_string(json_object_array_get_idx(v, i));
            buf_printf(b, "%s%s", i ? "," : "", json_string(a, u ? u : ""));
        }
        buf_puts(b, "]");
    }
    if (json_object_object_get_ex(d, "annotations", &v) &&
        json_object_is_type(v, json_type_object) && json_object_object_length(v) > 0) {
        /* Go marshals a map with its keys sorted */
        size_t n = (size_t)json_object_object_length(v), k = 0;
        const char **keys = arena_alloc(a, n * sizeof(*keys));
        json_object_object_foreach(v, key, val)
        {
            (void)val;
            keys[k++] = key;
        }
        qsort(keys, k, sizeof(*keys), key_cmp);
        buf_printf(b, "%s\"annotations\":{", f ? "" : ",");
        f = 0;
        for (size_t i = 0; i < k; i++) {
            struct json_object *s = json_object_object_get(v, keys[i]);
            const char *sv = json_object_get_string(s);
            buf_printf(b, "%s%s:%s", i ? "," : "", json_string(a, keys[i]),
                       json_string(a, sv ? sv : ""));
        }
        buf_puts(b, "}");
    }
    buf_puts(b, "}");
}

char *event_references(struct arena *a, const char *body, size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    if (!tok) return NULL;
    struct json_object *m = json_tokener_parse_ex(tok, body, (int)len);
    json_tokener_free(tok);
    if (!m || !json_object_is_type(m, json_type_object)) {
        json_object_put(m);
        return NULL;
    }
    struct buf *b = buf_arena_new(a, 0);
    size_t n = 0;
    struct json_object *v;
    buf_puts(b, "[");
    /* an index's manifests; an image's config, then its layers */
    if (json_object_object_get_ex(m, "manifests", &v) && json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            struct json_object *d = json_object_array_get_idx(v, i);
            if (!json_object_is_type(d, json_type_object)) continue;
            if (n++) buf_puts(b, ",");
            put_descriptor(b, a, d);
        }
    } else {
        if (json_object_object_get_ex(m, "config", &v) &&
            json_object_is_type(v, json_type_object)) {
            n++;
            put_descriptor(b, a, v);
        }
        if (json_object_object_get_ex(m, "layers", &v) && json_object_is_type(v, json_type_array))
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                struct json_object *d = json_object_array_get_idx(v, i);
                if (!json_object_is_type(d, json_type_object)) continue;
                if (n++) buf_puts(b, ",");
                put_descriptor(b, a, d);
            }
    }
    buf_puts(b, "]");
    json_object_put(m);
    return n ? b->data : NULL;
}

/* ---- what every event of a request shares ------------------------------- */

/* the request's id: one per request (the index pull that falls back to a
 * platform's manifest raises two events with the same id) */
static struct {
    const struct request *req;
    char id[37];
} reqid;

static void reqid_forget(void *unused)
{
    (void)unused;
    reqid.req = NULL;
}

static const char *request_id(struct request *req)
{
    if (reqid.req != req) {
        uuid_random(reqid.id);
        reqid.req = req;
        arena_cleanup(req->arena, reqid_forget, NULL);
    }
    return reqid.id;
}

/* the request's remote address as the reference's context.RemoteAddr: the
 * first X-Forwarded-For entry, X-Real-Ip (when an IP address), else the
 * peer as host:port */
static int looks_ip(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!strchr("0123456789abcdefABCDEF.:", *s)) return 0;
    return 1;
}

static const char *remote_addr(struct request *req)
{
    struct arena *a = req->arena;
    const char *xff = request_header(req, "X-Forwarded-For");
    if (xff && *xff) {
        const char *e = strchr(xff, ',');
        char *first = arena_strndup(a, xff, e ? (size_t)(e - xff) : strlen(xff));
        while (*first == ' ')
            first++;
        size_t n = strlen(first);
        while (n && first[n - 1] == ' ')
            first[--n] = 0;
        if (looks_ip(first)) return first;
    }
    const char *real = request_header(req, "X-Real-Ip");
    if (real && looks_ip(real)) return real;
    const char *port = request_param(req, "REMOTE_PORT");
    const char *ra = req->remote_addr && strcmp(req->remote_addr, "-") ? req->remote_addr : NULL;
    if (!ra) return NULL;
    if (!port || !*port) return ra;
    return arena_printf(a, strchr(ra, ':') ? "[%s]:%s" : "%s:%s", ra, port);
}

/* source.addr: host name and port, as the reference's (os.Hostname() joined
 * with the port of http.addr); Wharf's http.addr is informative, so without
 * it the port of the front that took the request */
static const char *source_addr(struct app *app, struct request *req)
{
    static char host[256];
    if (!host[0] && (gethostname(host, sizeof host) != 0 || !host[0]))
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    const char *port = NULL;
    const char *ha = app->cfg ? app->cfg->http_addr : NULL;
    if (ha && *ha) {
        const char *c = strrchr(ha, ':');
        if (c && c[1] && !strchr(c, ']')) port = c + 1;
    }
    if (!port) port = request_param(req, "SERVER_PORT");
    if (!port || !*port) return host;
    return arena_printf(req->arena, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
}

/* instanceID: the reference makes one UUID when the registry starts. Here
 * every worker of a pool must say the same: a UUID made from the pool
 * master's pid and start time (both in /proc) and the host name, the same
 * in all its workers, another after a restart. Without /proc: this
 * process's own random one. */
static const char *instance_id(void)
{
    static char id[37];
    static pid_t for_pid;
    if (id[0] && for_pid == getpid()) return id;
    for_pid = getpid();
    char seed[512], stat[512] = "", host[256] = "";
    pid_t master = getppid();
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)master);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, stat, sizeof stat - 1) : -1;
    if (fd >= 0) close(fd);
    const char *p = n > 0 ? strrchr(stat, ')') : NULL;
    if (!p) {
        uuid_random(id);
        return id;
    }
    stat[n] = 0;
    /* after ")": state, then fields 4..22; field 22 is starttime */
    const char *start = p + 1;
    for (int field = 2; field < 22 && start; field++)
        start = strchr(start + 1, ' ');
    gethostname(host, sizeof host - 1);
    snprintf(seed, sizeof seed, "wharf-instance %s %d %.24s", host, (int)master,
             start ? start + 1 : "");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(seed, strlen(seed), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16) {
        uuid_random(id);
        return id;
    }
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x40);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    uuid_text(md, id);
    return id;
}

static void event_fill(struct app *app, struct request *req, struct event *ev, const char *action)
{
    char id[37];
    uuid_random(id);
    ev->id = arena_strdup(req->arena, id);
    ev->timestamp = event_timestamp(req->arena);
    ev->action = action;
    ev->repository = req->name;
    ev->size = -1;
    ev->req_id = request_id(req);
    ev->req_addr = remote_addr(req);
    ev->req_host = req->host;
    ev->req_method = req->method;
    const char *ua = request_header(req, "User-Agent");
    ev->req_useragent = ua ? ua : "";
    ev->actor = auth_user(req);
    ev->src_addr = source_addr(app, req);
    ev->src_instance = instance_id();
}

static void event_append(struct app *app, struct request *req, const struct event *ev, int sync)
{
    size_t len;
    char *json = event_json(req->arena, ev, &len);
    const struct config *cfg = app->cfg;
    int rc = evqueue_append(cfg->notify_queuedir, json, len, sync && cfg->notify_fsync);
    if (rc) {
        /* logged each time: an event is lost for every line */
        log_error("notifications: %s event of %s %s not queued in %s: %s", ev->action,
                  ev->repository ? ev->repository : "", ev->digest ? ev->digest : ev->tag,
                  cfg->notify_queuedir, werr_str(rc));
    }
}

static int active(struct app *app)
{
    return app->cfg && config_notify_active(app->cfg) && app->cfg->notify_queuedir;
}

void events_manifest(struct app *app, struct request *req, const char *action, const char *tag,
                     const char *digest, const char *media_type, const char *body, size_t len)
{
    if (!active(app)) return;
    struct event ev = {0};
    event_fill(app, req, &ev, action);
    struct arena *a = req->arena;
    ev.media_type = media_type && *media_type ? media_type : manifest_media_type(a, body, len);
    ev.size = (int64_t)len;
    ev.digest = digest;
    ev.tag = tag;
    ev.url = url_for_path(app, req, arena_printf(a, "/v2/%s/manifests/%s", req->name, digest));
    if (app->cfg->events_includereferences) ev.references = event_references(a, body, len);
    event_append(app, req, &ev, strcmp(action, EVENT_PULL) != 0);
}

void events_blob(struct app *app, struct request *req, const char *action, const char *digest,
                 int64_t size, const char *from)
{
    if (!active(app)) return;
    struct event ev = {0};
    event_fill(app, req, &ev, action);
    ev.media_type = BLOB_MEDIA_TYPE;
    ev.size = size;
    ev.digest = digest;
    ev.from_repository = from;
    ev.url = url_for_path(app, req, arena_printf(req->arena, "/v2/%s/blobs/%s", req->name, digest));
    event_append(app, req, &ev, strcmp(action, EVENT_PULL) != 0);
}

void events_delete(struct app *app, struct request *req, const char *digest, const char *tag)
{
    if (!active(app)) return;
    struct event ev = {0};
    event_fill(app, req, &ev, EVENT_DELETE);
    ev.digest = digest;
    ev.tag = digest ? NULL : tag;
    event_append(app, req, &ev, 1);
}
